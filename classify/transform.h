/* Feature transforms applied before every head: standardize (per-dim mean/std), L2-normalize
 * (per row), or none. Parameters are fitted on the training split only and then applied unchanged
 * to any split, so validation statistics never leak into training. The parameter layout is part of
 * the head file format (see head.h) and maps onto ONNX ops: standardize = Sub(mean) then
 * Mul(scale); L2 = Div(x, Max(ReduceL2(x, axis 1), eps)).
 * Not here: PCA/whitening, per-split statistics, chaining several transforms. */
#ifndef FC_TRANSFORM_H
#define FC_TRANSFORM_H

#include "core/core.h"

typedef enum {
    FC_TRANSFORM_NONE = 0,        /* y = x */
    FC_TRANSFORM_STANDARDIZE = 1, /* y[j] = (x[j] - mean[j]) * scale[j] */
    FC_TRANSFORM_L2 = 2,          /* y = x / max(||x||_2, eps) */
} fc_transform_kind;

#define FC_TRANSFORM_STD_FLOOR 1e-6f /* default std floor (see fc_transform_fit) */
#define FC_TRANSFORM_L2_EPS 1e-12f   /* norm floor of the L2 transform */

/* Fitted parameters. mean and scale are owned (malloc'd) and non-NULL only for STANDARDIZE.
 * A zero-initialized struct is a valid NONE transform of unknown dim (dim 0 = accepts any D). */
typedef struct fc_transform {
    fc_transform_kind kind;
    int dim;      /* D the transform was fitted for (0 for NONE/L2 fitted without data) */
    float *mean;  /* (D) training mean per dim */
    float *scale; /* (D) 1/std per dim, or 1 where the training std <= the floor */
    float eps;    /* L2 only: norm floor */
} fc_transform;

/* Fits kind on the training features x (n, d). STANDARDIZE computes the mean and the population
 * std (ddof 0, in double) of every dim; dims whose std <= std_floor (<= 0 means
 * FC_TRANSFORM_STD_FLOOR) are centered only (scale 1), as scikit-learn's StandardScaler does for
 * constant features, so a dead feature never gets amplified on other splits. NONE and L2 need no
 * statistics; they only record d. Any previous contents of *t are NOT freed (call
 * fc_transform_free first). Errors: FC_EINVAL (unknown kind, n <= 0, d <= 0, NULL pointers,
 * a non-finite feature: row and dim named), FC_ENOMEM. *t is left zeroed on error.
 * Thread-safe for distinct t. */
int fc_transform_fit(fc_transform *t, fc_transform_kind kind, const float *x /* (n, d) */, int n,
                     int d, float std_floor, fc_error *err);

/* out (n, d) = transform(x (n, d)); out may equal x (in place). Errors: FC_ESHAPE when t->dim is
 * set and differs from d, FC_EINVAL for NULL arrays or a malformed t. Thread-safe (t is read-only). */
int fc_transform_apply(const fc_transform *t, const float *x /* (n, d) */, int n, int d,
                       float *out /* (n, d) */, fc_error *err);

/* Deep copy into dst (dst's old contents are not freed). FC_ENOMEM on failure (dst zeroed). */
int fc_transform_copy(fc_transform *dst, const fc_transform *src, fc_error *err);

/* Frees mean/scale and zeroes *t. NULL-safe. */
void fc_transform_free(fc_transform *t);

/* "none" / "std" (or "standardize") / "l2" -> kind; FC_EINVAL listing the names otherwise. */
int fc_transform_parse(const char *name, fc_transform_kind *out, fc_error *err);
/* Static short name ("none", "std", "l2", "unknown"); never NULL. */
const char *fc_transform_name(fc_transform_kind kind);

#endif
