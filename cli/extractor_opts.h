/* Command-line options that name an extractor and a data set (shared by export, train, sweep,
 * eval...): --model, --layer, --size, --crop, --preprocess, --dtype, --view, --cache, --name.
 * Resolving them gives the catalog's data set name and the extractor id that extract used.
 * extract parses its --model, --size, --crop, --preprocess, --dtype, --cache and --name here too
 * (its --layer repeats and it has --views instead of --view). */
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
    fc_dtype dtype;
    int view;
    int views[FC_N_VIEWS], n_views; /* train/sweep --views, orig first; 0 = the one view `view` */
    /* resolved */
    char dataset[256], layer_name[256], id[65], model_sha[65];
    int size_resolved;
} cli_extractor;

#define CLI_EXTRACTOR_LONGOPTS                                                                     \
    {"model", required_argument, 0, 1001}, {"layer", required_argument, 0, 1002},               \
    {"size", required_argument, 0, 1003}, {"crop", required_argument, 0, 1004},                 \
    {"preprocess", required_argument, 0, 1005}, {"dtype", required_argument, 0, 1006},          \
    {"view", required_argument, 0, 1007}, {"cache", required_argument, 0, 1008},                \
    {"name", required_argument, 0, 1009}, {"grayscale", no_argument, 0, 1010}

#define CLI_EXTRACTOR_HELP                                                                         \
    "  --model PATH        ONNX model the features were extracted with (required)\n"               \
    "  --layer NAME        feature tensor (default: the model's default feature)\n"                \
    "  --size N, --crop F, --preprocess NAME, --dtype f32|f16, --grayscale\n"                      \
    "                      must match the extract run (defaults as in extract)\n"                  \
    "  --view V            orig (default), flip, crop-center, crop-tl, crop-tr, crop-bl, crop-br\n"                                               \
    "  --cache DIR         cache folder (default $FEATCACHE_HOME, else ./.featcache)\n"            \
    "  --name NAME         catalog name of the data set (default: DATASET's folder name)\n"

void cli_extractor_init(cli_extractor *x);
/* Handles option code c (1001..1010); returns 1 when handled, -1 on a bad value (printed), 0 when
 * c is not an extractor option. */
int cli_extractor_option(const char *cmd, int c, const char *arg, cli_extractor *x);
/* Fills x->dataset (from --name or dataset_arg), x->layer_name and x->id using the catalog's model
 * facts (hashing/loading the model only when the catalog does not know the file). */
int cli_extractor_resolve(cli_extractor *x, const char *dataset_arg, fc_catalog *cat, fc_error *err);

#endif
