/* The lecture's 2x2 table as a decision from measurements: how much data (items per class, and
 * whether the learning curve still rises) and how similar the domain is to the backbone's (whether
 * the last layers probe better than earlier ones) say which recipe to run next: a new head on the
 * final features, fine-tuning the top blocks, partial reuse of the first layers, training (nearly)
 * from scratch, or collecting more data. Also the exact command line of that recipe, and the
 * evidence as JSON and back (run records, reports). Not here: measuring (probe.h, whose fold
 * limit this shares), extracting, printing. */
#ifndef FC_ADVISE_H
#define FC_ADVISE_H

#include "classify/probe.h"
#include "core/core.h"

#define FC_ADVISE_MAX_LAYERS 8
#define FC_ADVISE_CURVE 3 /* learning curve points: 25, 50 and 100% of the training items */

typedef enum {
    FC_ADVICE_HEAD = 0,      /* small data, similar domain: a head on the final features */
    FC_ADVICE_FINETUNE = 1,  /* big data, similar domain: fine-tune the top blocks */
    FC_ADVICE_PARTIAL = 2,   /* big data, different domain: keep the first layers, train the rest */
    FC_ADVICE_MORE_DATA = 3, /* small data, different domain: collect more data */
    FC_ADVICE_SCRATCH = 4,   /* big data, nothing above the first layers transfers: train (nearly) all */
} fc_advice_kind;

/* One probed layer: a tensor of the backbone, pooled when it is a (C,H,W) map. */
typedef struct fc_advise_layer {
    char name[256];
    int pooled;        /* probed on the global average of each channel */
    int dim;           /* features the probe saw */
    double accuracy;   /* k-fold linear-probe accuracy (out of fold) */
    double std;        /* standard deviation over the folds */
    double fold_accuracy[FC_PROBE_MAX_FOLDS]; /* (folds) the same folds for every layer */
    double l2;         /* the probe's L2 */
} fc_advise_layer;

/* What advise measured on one data set. */
typedef struct fc_advise_evidence {
    int n_items, n_classes;
    int folds;                           /* folds scored, 2 .. FC_PROBE_MAX_FOLDS */
    int min_per_class, median_per_class; /* labeled items per class */
    int n_layers;                        /* >= 1 */
    fc_advise_layer layers[FC_ADVISE_MAX_LAYERS]; /* input side first; the last is the feature tensor */
    int curve_layer;                     /* the layer the learning curve was measured at */
    double curve_fraction[FC_ADVISE_CURVE]; /* 0.25, 0.5, 1 */
    double curve_train[FC_ADVISE_CURVE];    /* training items per fold */
    double curve_accuracy[FC_ADVISE_CURVE];
} fc_advise_evidence;

/* The decision and the measured reasons for it. */
typedef struct fc_advice {
    fc_advice_kind kind;
    int big;           /* enough items per class to train more than a head */
    int different;     /* the domain differs: an earlier layer probes better than the feature */
    int best;          /* the layer that probes best (ties: the later one) */
    double lead;       /* feature accuracy - best earlier layer's (NaN without earlier layers) */
    double margin;     /* how far an earlier layer must lead to count (the probes' noise) */
    double rise;       /* learning curve: accuracy at 100% - at 50% of the training items */
    char reason[1024]; /* sentences with the numbers, for people */
} fc_advice;

/* Thresholds of the decision. */
#define FC_ADVISE_BIG_PER_CLASS 300  /* median labeled items per class from which data is "big" */
#define FC_ADVISE_MIN_PER_CLASS 5    /* fewer in some class: too few items to measure anything */
#define FC_ADVISE_MIN_GAP 0.005      /* the smallest margin an earlier layer must lead by */
#define FC_ADVISE_STEEP_RISE 0.05    /* a rise per doubling of the data that says "more data pays" */

/* Places e in the table. Data is big when the median class has FC_ADVISE_BIG_PER_CLASS items or
 * more. The domain differs when the best earlier layer's accuracy exceeds the feature's by more
 * than the margin: max(FC_ADVISE_MIN_GAP, twice the standard error of their difference, from the
 * fold-by-fold differences). Similar: head (small) or finetune (big); different: more-data
 * (small), scratch (big, and the earliest of two or more earlier layers probes best: nothing
 * above it transfers) or partial (big). Errors: FC_EINVAL for evidence that cannot be judged (no layer, a count or
 * accuracy out of range, curve_layer outside the layers, fewer than FC_ADVISE_MIN_PER_CLASS items
 * in some class: "too few items"). Thread-safe. */
int fc_advise_decide(const fc_advise_evidence *e, fc_advice *a, fc_error *err);

/* "head", "finetune", "partial", "more-data", "scratch". */
const char *fc_advice_name(fc_advice_kind k);

/* What the command line of the advice is built from: the data set and model arguments, the
 * extractor and data set options to repeat (argv style, each word quoted as needed), the cut that
 * is the input of the last three blocks (engine/cuts.h; NULL when the model has none), and whether
 * `train --head conv` exists (partial reuse then names it; without it, fine-tuning from the best
 * earlier layer is the partial reuse featcache can run). */
typedef struct fc_advise_target {
    const char *dataset, *model;
    const char *const *options;
    int n_options;
    const char *last3_cut;
    int conv_heads;
} fc_advise_target;

/* Appends the command line that carries out a for e to cmd: train (head), finetune --cut
 * (finetune: the earlier of the last-three-blocks cut and the best layer; partial: the best
 * earlier layer; scratch: the earliest probed layer), train --head conv --layer (partial, with
 * conv_heads), advise again (more-data: after adding images). Errors: FC_EINVAL (a finetune advice
 * without a cut to name), FC_ENOMEM. */
int fc_advise_command(const fc_advice *a, const fc_advise_evidence *e, const fc_advise_target *t,
                      fc_strbuf *cmd, fc_error *err);

/* e as one JSON object (members: items, classes, folds, per_class_min, per_class_median, layers
 * [{name, pooled, dim, accuracy, std, l2, fold_accuracy [..]}], curve_layer (a name), curve
 * [{fraction, train, accuracy}]), and back: FC_EFORMAT when json lacks a member or has too many
 * layers or folds. */
void fc_advise_evidence_json(fc_strbuf *b, const fc_advise_evidence *e);
int fc_advise_evidence_parse(const char *json, fc_advise_evidence *e, fc_error *err);

#endif
