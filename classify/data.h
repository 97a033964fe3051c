/* A labeled split as plain borrowed arrays (features, labels, optional sample weights) and the
 * input checks every head runs before training or evaluating on it: empty split, dimension
 * mismatch, missing/out-of-range labels, NaN/Inf features (named by row and dim), bad weights,
 * a single class. Messages name the split ("train", "val") and the row.
 * Not here: where the arrays come from (cache, catalog) or how items are split (split.h). */
#ifndef FC_DATA_H
#define FC_DATA_H

#include <stddef.h>

#include "core/core.h"

/* A view; nothing is copied or owned. The arrays must stay valid and unchanged while a function
 * that received the view runs. */
typedef struct fc_data {
    const char *name;     /* split name used in messages ("train", "val"); NULL = "data" */
    const float *x;       /* (n, d) row-major features */
    const int *y;         /* (n) class index in [0, k); < 0 means "no label". NULL = unlabeled */
    const float *weight;  /* (n) sample weights >= 0, or NULL (all 1) */
    int n, d;
    const char *const *classes; /* (k) class names for messages, or NULL (classes by number) */
} fc_data;

/* What fc_data_check requires beyond "non-empty, dimension d, finite features". */
enum {
    FC_DATA_LABELED = 1,     /* y present and every label in [0, k) */
    FC_DATA_ALL_CLASSES = 2, /* (implies LABELED) every class 0..k-1 has at least one item of
                                positive weight; so at least 2 classes are present */
};

/* Checks s against the expected feature dimension d and class count k (k >= 2 when labels are
 * required). Errors (first problem found, in this order, with the split name and row in the message):
 *   FC_EINVAL  NULL s or x, n <= 0 ("split is empty"), k < 2 with labels required;
 *   FC_ESHAPE  s->d != d;
 *   FC_EINVAL  y NULL but labels required, y[i] < 0 ("missing label"), y[i] >= k,
 *              a non-finite feature ("row i, dim j is NaN"), a negative/non-finite weight,
 *              all weights zero, a single class, a class without items (classes named by
 *              s->classes when given).
 * Reads every element once; O(n*d). Thread-safe (reads only). */
int fc_data_check(const fc_data *s, int d, int k, int flags, fc_error *err);

/* Class weights w (k) = n / (k * count_c), scikit-learn's class_weight='balanced' (which, like
 * this, counts items and ignores sample weights), for the class_weight options of the trainers.
 * Errors: as fc_data_check with FC_DATA_ALL_CLASSES (a class without items would get an infinite
 * weight). Thread-safe. */
int fc_data_balanced_weights(const fc_data *s, int k, float *w /* (k) */, fc_error *err);

/* Name used in messages for s ("data" when s->name is NULL). Never NULL. */
const char *fc_data_name(const fc_data *s);
/* Class c as messages name it: 'NAME' when s has class names, else its number; written to buf
 * (cap bytes), which is returned. */
const char *fc_data_class(const fc_data *s, int c, char *buf, size_t cap);

#endif
