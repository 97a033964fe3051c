/* Hyperparameter sweeps of head configurations on one labeled problem. A grid text such as
 * "head=softmax,mlp l2=1e-6..1e2:9 hidden=256,1024" expands into every combination, parameters a
 * head kind does not use are reset so duplicates collapse, and the distinct configurations are
 * grouped into jobs: softmax heads that share normalize (and so differ only in l2) run as one
 * warm-started regularization path, every other configuration is a job of its own. Jobs run in
 * parallel; each configuration can be recorded in the catalog as a sweep run. Not here: loading
 * features (store/featureset.h), argument parsing and printing (the CLI). */
#ifndef FC_SWEEP_H
#define FC_SWEEP_H

#include <stdint.h>

#include "classify/split.h"
#include "classify/train.h"
#include "core/core.h"
#include "store/store.h"

#define FC_SWEEP_MAX_CONFIGS 4096 /* distinct configurations of one grid */
#define FC_SWEEP_MAX_KEYS 16      /* KEY=VALUES terms of one grid */
#define FC_SWEEP_MAX_VALUES 256   /* values of one key */

/* configs [first, first + count) of a sweep, fitted together (a softmax path) or one alone */
typedef struct fc_sweep_job {
    int first, count;
} fc_sweep_job;

typedef struct fc_sweep {
    fc_head_config *configs;   /* (n) distinct, in job order: each job's configurations are adjacent */
    int n;
    fc_sweep_job *jobs;        /* (n_jobs) */
    int n_jobs;
    fc_train_result *results;  /* (n) set by fc_sweep_run where ok[i] */
    int *ok;                   /* (n) 1 when configs[i] was fitted */
    fc_error *errors;          /* (n) why configs[i] failed where !ok[i] */
} fc_sweep;

/* Expands grid over base into *s (overwritten; free with fc_sweep_free, also after an error).
 * Grid: KEY=VALUES terms separated by blanks; keys head (softmax, mlp, ncm, conv), l2, lr, hidden (512 or
 * 512+256), dropout, epochs, batch, seed, normalize (std, l2, none), conv (the blocks of a conv head,
 * joined by '+': 128+128s2), schedule (onecycle, cosine; conv heads), each at most once; a conv
 * configuration takes fc_head_config_conv_defaults for the keys the grid does not have; VALUES a
 * comma list or A..B:N (N values from A to B, each printed with %.6g: log-spaced for l2 and lr when
 * both bounds are > 0, else evenly spaced). epochs, batch and seed take whole numbers (epochs and
 * batch >= 1). The first key varies fastest; the first occurrence of a configuration keeps its
 * place. Errors: FC_EINVAL with the offending term ("grid l2: ..."; a key given twice; more than
 * FC_SWEEP_MAX_CONFIGS distinct configurations), FC_ENOMEM. Thread-safe. */
int fc_sweep_plan(const char *grid, const fc_head_config *base, fc_sweep *s, fc_error *err);

/* Fits every configuration of s on p, `jobs` jobs at once (<= 0: omp_get_max_threads()); with
 * fewer jobs than that, each job fits with jobs / n_jobs threads. A failure belongs to its
 * configuration (ok, errors; a failed path fails all of its configurations). Returns the number of
 * configurations that failed. */
int fc_sweep_run(fc_sweep *s, const fc_problem *p, int jobs);

/* Records every configuration of s as a FC_RUN_SWEEP run of data set dataset_id and extractor:
 * parameters {features_json, fc_head_config_json(config, split), "sweep":FIRST} where FIRST is the
 * first recorded run's id (0 in that first run itself) and features_json holds the members that
 * describe the features; result fc_train_result_json for fitted configurations (status ok), none
 * for failed ones (status failed). A run the catalog refuses (e.g. opened read-only) is not
 * recorded and does not stop the others. Returns FIRST, 0 when no run was recorded. */
int64_t fc_sweep_record(const fc_sweep *s, fc_catalog *cat, int64_t dataset_id, const char *extractor,
                        const char *features_json, const fc_split_spec *split, const fc_problem *p);

/* order[0..n) = configuration indices by validation accuracy, best first; failed configurations
 * last; ties keep the lower index first. */
void fc_sweep_rank(const fc_sweep *s, int *order);

/* Frees everything of s (results included) and zeroes it. NULL-safe. */
void fc_sweep_free(fc_sweep *s);

#endif
