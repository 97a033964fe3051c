/* Head options shared by train and sweep (--head, --l2, --lr, --epochs, --hidden, --dropout,
 * --batch, --seed, --normalize, --balanced; --views), loading the problem they train on, and the
 * JSON/text summaries of a trained head. */
#ifndef FC_CLI_HEAD_OPTS_H
#define FC_CLI_HEAD_OPTS_H

#include <stdio.h>

#include "classify/classify.h"
#include "cli/extractor_opts.h"
#include "core/core.h"
#include "store/store.h"

#define CLI_HEAD_LONGOPTS                                                                          \
    {"head", required_argument, 0, 1101}, {"l2", required_argument, 0, 1102},                   \
    {"lr", required_argument, 0, 1103}, {"epochs", required_argument, 0, 1104},                 \
    {"hidden", required_argument, 0, 1105}, {"dropout", required_argument, 0, 1106},            \
    {"batch", required_argument, 0, 1107}, {"seed", required_argument, 0, 1108},                \
    {"normalize", required_argument, 0, 1109}, {"balanced", no_argument, 0, 1110}

/* The conv head's own options (train): --conv SPEC, --schedule S, --precision P. */
#define CLI_CONV_LONGOPTS                                                                          \
    {"conv", required_argument, 0, 1112}, {"schedule", required_argument, 0, 1113},             \
    {"precision", required_argument, 0, 1114}

#define CLI_HEAD_HELP                                                                              \
    "  --head H            softmax (default), mlp, ncm or conv\n"                                  \
    "  --l2 X              softmax: L2 penalty = 1/C (default 1); mlp: weight decay\n"             \
    "  --lr X, --epochs N, --hidden 512[,256], --dropout X, --batch N, --seed N   (mlp)\n"        \
    "  --normalize T       std (default), l2 or none, fitted on the training split\n"              \
    "  --balanced          class weights inversely proportional to class frequency\n"

#define CLI_VIEWS_LONGOPT {"views", required_argument, 0, 1111}
#define CLI_VIEWS_HELP                                                                             \
    "  --views LIST        train on these views of each training item (orig, flip, crops5, as\n"    \
    "                      extract --views stored them; orig is always added); validation: orig\n"

/* The stores and the labeled problem a head command works on. Zero-initialize; close frees all. */
typedef struct cli_problem {
    fc_catalog *cat;
    fc_cache *cache;
    fc_featureset fs;
    fc_problem p;
    int no_record; /* writable was asked but the cache folder is read-only: runs are not recorded */
} cli_problem;

/* Opens the catalog (read-write when writable, to record runs) and the feature store read-only.
 * A read-only cache folder opens read-only with no_record set (and a note on stderr). */
int cli_problem_open(cli_problem *cp, const char *cache_dir, int writable, fc_error *err);
/* Loads the features of x->dataset for extractor x->id, view x->view or (x->n_views > 0) every
 * view of x->views as blocks of rows, and builds the problem with the split. A view that some
 * item lacks is FC_EINVAL naming the item, the view and the extract command that adds it. */
int cli_problem_load(cli_problem *cp, const cli_extractor *x, const fc_split_spec *split, fc_error *err);
void cli_problem_close(cli_problem *cp);

/* 1 handled, -1 bad value (printed), 0 not a head option (CLI_HEAD_LONGOPTS, CLI_CONV_LONGOPTS). */
int cli_head_option(const char *cmd, int c, const char *arg, fc_head_config *cfg);
/* The FC_HEAD_GIVEN_* bit of option code c (0 for options without one). */
unsigned cli_head_given(int c);
/* --views LIST (words as extract's --views) into x->views, orig added first: 1, or -1 (printed). */
int cli_views_option(const char *cmd, const char *arg, cli_extractor *x);
/* After parsing: 0, or -1 (printed) when --views comes with a --view other than orig. */
int cli_views_check(const char *cmd, const cli_extractor *x);
/* Appends ,"views":["orig","flip",...] when x has --views; nothing otherwise. */
void cli_views_json(fc_strbuf *b, const cli_extractor *x);
/* Reads the "views" list that cli_views_json wrote in a run's parameters into x (none: n_views 0). */
void cli_views_from_json(const char *params, cli_extractor *x);
/* The members of a head run's parameters that describe its features, no braces:
 * "featcache_head":1,"dataset":..,"model":..,"model_sha256":..,"layer":..,"size":..,"crop":..,
 * "preprocess":..[,"grayscale":1][,"exif_orientation":"ignore"],"dtype":..,"view":..[,"views":[..]],"extractor":.. */
void cli_features_json(fc_strbuf *b, const cli_extractor *x);
/* A train run's parameters: {cli_features_json, fc_head_config_json} (classify/record.h). */
void cli_head_params_json(fc_strbuf *b, const cli_extractor *x, const fc_head_config *cfg,
                          const fc_split_spec *split);
/* A head run's record: first the running records of processes that died are marked interrupted
 * (store/runs.h), then the run begins with params (a JSON object) plus this process's "pid" and
 * "host", so that a killed run is marked in turn. Errors: fc_catalog_run_begin's. */
int cli_run_begin(fc_catalog *cat, fc_run_kind kind, int64_t dataset_id, const char *extractor,
                  const fc_strbuf *params, int64_t *run_id, fc_error *err);
/* Ends the run: ok with result (a JSON object), or failed with {"error": why->msg}. A catalog that
 * refuses is ignored (the command's own outcome stands). */
void cli_run_finish(fc_catalog *cat, int64_t run_id, int ok, const char *result, const fc_error *why);
void cli_print_train_summary(FILE *f, const cli_extractor *x, const fc_head_config *cfg, const fc_problem *p,
                             const fc_train_result *r);
/* Short config text, e.g. "softmax l2=0.01 std" or "mlp hidden=512 lr=0.001 ...". */
void cli_head_describe(const fc_head_config *cfg, char *out, size_t cap);

#endif
