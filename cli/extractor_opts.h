/* Command-line options that name an extractor and a data set (shared by export, train, sweep,
 * eval...): --model, --layer, --size, --crop, --preprocess, --dtype, --view, --cache, --name.
 * Resolving them gives the catalog's data set name and the extractor id that extract used.
 * extract parses its --model, --size, --crop, --preprocess, --dtype, --cache and --name here too
 * (its --layer repeats and it has --views instead of --view). --compute bf16 selects the features
 * computed with bf16 products (another extractor id; reading them needs no AVX512_BF16). */
#ifndef FC_CLI_EXTRACTOR_OPTS_H
#define FC_CLI_EXTRACTOR_OPTS_H

#include <getopt.h>

#include "core/core.h"
#include "extract/extract.h"
#include "store/store.h"

typedef struct cli_extractor {
    const char *model, *layer, *cache, *name;
    int size;
    double crop;
    fc_preset preset;
    int gray;       /* --grayscale */
    fc_compute compute; /* --compute f32|bf16 */
    fc_exif exif;   /* --exif-orientation apply (default) | ignore */
    fc_dtype dtype;
    int view;
    int views[FC_N_VIEWS], n_views; /* train/sweep --views, orig first; 0 = the one view `view` */
    int strict;                     /* --strict: an incomplete data set is an error, not a warning */
    /* resolved */
    char dataset[256], layer_name[256], id[65], model_sha[65];
    int size_resolved;
    int incomplete;                 /* the data set's last extract did not finish (warned): exit 3 */
} cli_extractor;

#define CLI_EXTRACTOR_LONGOPTS                                                                     \
    {"model", required_argument, 0, 1001}, {"layer", required_argument, 0, 1002},               \
    {"size", required_argument, 0, 1003}, {"crop", required_argument, 0, 1004},                 \
    {"preprocess", required_argument, 0, 1005}, {"dtype", required_argument, 0, 1006},          \
    {"view", required_argument, 0, 1007}, {"cache", required_argument, 0, 1008},                \
    {"name", required_argument, 0, 1009}, {"grayscale", no_argument, 0, 1010},                  \
    {"strict", no_argument, 0, 1011}, {"compute", required_argument, 0, 1012}, {"exif-orientation", required_argument, 0, 1013}

#define CLI_EXTRACTOR_HELP                                                                         \
    "  --model PATH        ONNX model the features were extracted with (required)\n"               \
    "  --layer NAME        feature tensor (default: the model's default feature)\n"                \
    "  --size N, --crop F, --preprocess NAME, --dtype f32|f16, --grayscale,\n"                     \
    "  --exif-orientation apply|ignore\n"                                                          \
    "                      must match the extract run (defaults as in extract)\n"                  \
    "  --compute f32|bf16  the products' precision the extract run used (default f32)\n"         \
    "  --view V            orig (default), flip, crop-center, crop-tl, crop-tr, crop-bl, crop-br\n"                                               \
    "  --cache DIR         cache folder (default $FEATCACHE_HOME, else ./.featcache)\n"            \
    "  --name NAME         catalog name of the data set (default: DATASET's folder name)\n"         \
    "  --strict            a data set whose last extract did not finish is an error (default: a\n" \
    "                      warning, the items it has are used, exit status 3)\n"

void cli_extractor_init(cli_extractor *x);
/* Handles option code c (1001..1012); returns 1 when handled, -1 on a bad value (printed), 0 when
 * c is not an extractor option. */
int cli_extractor_option(const char *cmd, int c, const char *arg, cli_extractor *x);
/* Fills x->dataset (from --name or dataset_arg), x->layer_name and x->id using the catalog's model
 * facts (hashing/loading the model only when the catalog does not know the file), then checks
 * that the data set's last extract with that extractor finished (cli_extract_check; sets
 * x->incomplete, an error with x->strict). */
int cli_extractor_resolve(cli_extractor *x, const char *dataset_arg, fc_catalog *cat, fc_error *err);
/* Whether the last extract of `dataset` with `extractor` (hex id; `what` names it, e.g. "layer
 * gap") finished: 0
 * yes (or the catalog has no such data set or run: loading its features says what is missing);
 * else a warning on stderr ("featcache CMD: warning: data set ... is incomplete: ..." with the run,
 * its process and why) and 1, or with strict FC_EINVAL with that message in err. < 0: errors of
 * the catalog. */
int cli_extract_check(fc_catalog *cat, const char *cmd, const char *dataset, const char *extractor, const char *what,
                      int strict, fc_error *err);

#endif
