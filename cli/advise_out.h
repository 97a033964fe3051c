/* What `featcache advise` writes besides its progress: the command line of the advice (with the
 * options given to advise repeated), the run record, and the table, evidence and command as text
 * or as one JSON object. */
#ifndef FC_CLI_ADVISE_OUT_H
#define FC_CLI_ADVISE_OUT_H

#include <stdio.h>

#include "classify/classify.h"
#include "cli/extractor_opts.h"
#include "cli/head_opts.h"
#include "core/core.h"
#include "engine/engine.h"
#include "extract/extract.h"

/* The command line: extractor and data set options (model, size, crop, preprocess, cache, name). */
typedef struct cli_advise_args {
    cli_extractor x;
    const char *dataset, *layers; /* DATASET; --layers (NULL = auto) */
    int folds, threads, json, quiet;
} cli_advise_args;

/* The layers probed: earlier cuts (indices into cuts, pooled when maps), then the feature. */
typedef struct cli_advise_plan {
    fc_cut_list cuts;
    int cut[FC_ADVISE_MAX_LAYERS];
    const char *names[FC_ADVISE_MAX_LAYERS];
    fc_pool pools[FC_ADVISE_MAX_LAYERS];
    int n;                     /* layers, the feature included */
    const char *last3;         /* the input of the last three blocks, or NULL */
} cli_advise_plan;

/* The command that carries out the advice (fc_advise_command), repeating advise's own options. */
int cli_advise_command(const cli_advise_args *a, const cli_advise_plan *p, const fc_advice *adv,
                       const fc_advise_evidence *e, fc_strbuf *cmd, fc_error *err);
/* Records the run (a train run whose parameters say "advise":1; the result holds the
 * recommendation, the command and the evidence) unless the cache is read-only; *run_id 0 when not
 * recorded (a note on stderr says why). */
void cli_advise_record(const cli_advise_args *a, cli_problem *cp, const fc_extract_result *res,
                       const fc_advice *adv, const fc_advise_evidence *e, const char *cmd, int64_t *run_id);
/* The JSON object (last line): run, recommendation, cell, command, reason, evidence. */
void cli_advise_print_json(FILE *f, const fc_advice *adv, const fc_advise_evidence *e, const char *cmd,
                           int64_t run_id);
/* The evidence, the 2x2 table with the cell marked, the reason and the command. */
void cli_advise_print_text(FILE *f, const cli_advise_args *a, const fc_advice *adv, const fc_advise_evidence *e,
                           const char *cmd, int64_t run_id);

#endif
