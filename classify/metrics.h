/* Classification metrics from predicted probabilities P (N, K) and true labels: accuracy,
 * balanced accuracy, top-k accuracy, log-loss, per-class precision/recall/F1 with macro F1, and
 * the confusion matrix. Definitions follow scikit-learn (zero_division = 0): the prediction is the
 * first class of highest probability (numpy argmax), balanced accuracy and macro F1 average over
 * the classes that occur (in y, or for F1 in y or the predictions), top-k ranks equal
 * probabilities by the higher class index first (so top-1 can differ from accuracy on ties, as in
 * scikit-learn), log-loss clips p_y to [1e-15, 1]. Not here: thresholds, ROC/PR curves,
 * calibration, sample weights. */
#ifndef FC_METRICS_H
#define FC_METRICS_H

#include "core/core.h"

typedef struct fc_class_metrics {
    int support;      /* items whose true class is this one */
    int predicted;    /* items predicted as this class */
    double precision; /* tp / predicted (0 when nothing is predicted as the class) */
    double recall;    /* tp / support (0 without support) */
    double f1;        /* 2 p r / (p + r) (0 when p + r = 0) */
} fc_class_metrics;

/* Owns confusion and per_class; free with fc_metrics_free. */
typedef struct fc_metrics {
    int n, k, top_k;
    double accuracy;
    double balanced_accuracy;  /* mean recall over classes with support > 0 */
    double top_k_accuracy;     /* true class among the top_k most probable */
    double log_loss;           /* mean of -log(clip(p_y)) */
    double macro_f1;           /* mean F1 over classes in y or in the predictions */
    int *confusion;            /* (K, K): [true * K + predicted] counts */
    fc_class_metrics *per_class; /* (K) */
} fc_metrics;

/* Computes everything into m (its old contents are not freed). top_k is clamped to [1, K].
 * Errors: FC_EINVAL (n < 1: "no items to evaluate", k < 2, NULL arrays, a label < 0 ("row i has no
 * label") or >= k, a NaN/Inf or negative probability naming the row), FC_ENOMEM. m is zeroed on
 * error. Thread-safe (reads only P and y). */
int fc_metrics_compute(fc_metrics *m, const float *P /* (n, k) */, const int *y /* (n) */, int n, int k,
                       int top_k, fc_error *err);

/* Frees the arrays and zeroes m. NULL-safe. */
/* The metrics a recorded run's confusion matrix (k x k counts, [true * k + predicted]) gives, with
 * its recorded top-k accuracy and log-loss (which need the probabilities): for reports from the
 * catalog's records. Errors: FC_EINVAL (k < 2, no items, a negative count), FC_ENOMEM. */
int fc_metrics_from_confusion(fc_metrics *m, const int *confusion, int k, int top_k, double top_k_accuracy,
                              double log_loss, fc_error *err);
void fc_metrics_free(fc_metrics *m);

/* Index of the first maximum of p (k). Never fails (k >= 1). */
int fc_metrics_argmax(const float *p /* (k) */, int k);

/* Fraction of rows whose argmax equals y, for quick use in sweeps (no validation: labels must be
 * in [0, k), n >= 1). */
double fc_metrics_accuracy(const float *P /* (n, k) */, const int *y /* (n) */, int n, int k);

#endif
