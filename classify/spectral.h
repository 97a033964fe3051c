/* A spectral model of the feature second moment C = X^T X (X (n, d) float rows), for preconditioning
 * the softmax solver: the top r eigenpairs of C found by randomized subspace iteration (two
 * products with C on the engine's float32 SGEMM, then Rayleigh-Ritz with a Jacobi eigensolver on
 * the r x r projection), and one tail value for the rest of the spectrum. The loss Hessian of a
 * softmax head on standardized features is close to a C + l2 I for a scalar curvature a, so
 * fc_spectral_apply approximates its inverse for every l2 of a path from one fit.
 * Only an approximation: it changes the solver's steps, never the problem or its optimum.
 * Not here: exact eigendecompositions, the solver (softmax.c, lbfgs.c). */
#ifndef FC_SPECTRAL_H
#define FC_SPECTRAL_H

#include "classify/dense.h"
#include "core/core.h"

typedef struct fc_spectral {
    int d, r;      /* feature dims, eigenpairs kept (r < d) */
    double *Q;     /* (r, d) orthonormal rows: the eigenvectors */
    double *lam;   /* (r) eigenvalues, descending */
    double tail;   /* mean eigenvalue of the rest: (trace C - sum lam) / (d - r), >= 0 */
} fc_spectral;

/* Fits *s (overwritten) from x (n, d) with r eigenpairs (1 <= r < d, r <= n), threads <= 0: all
 * cores. The random start is fixed, and the products' bits do not depend on the thread count, so
 * the result depends only on x and the engine's kernel table. Errors: FC_EINVAL (bad sizes),
 * FC_ENOMEM (s left zeroed). Memory: O((n + d) r) floats. Thread-safe. */
int fc_spectral_fit(fc_spectral *s, const float *x /* (n, d) */, int n, int d, int r, int threads,
                    fc_error *err);

/* out (m, d) = (a C' + l2 I)^{-1} applied to each row of V (m, d), where C' has C's top eigenpairs
 * and the tail value on their complement: base v + sum_i (1/(a lam_i + l2) - base) (q_i . v) q_i
 * with base = 1/(a tail + l2), the sum over i in order, on kernel table k (every table gives the
 * same bits). a > 0, l2 >= 0 and a * tail + l2 > 0; V and out are distinct arrays; work: 2 m r
 * doubles. Thread-safe (reads s only). */
void fc_spectral_apply(const fc_spectral *s, const fc_dense_kernels *k, double a, double l2, const double *V,
                       int m, double *out, double *work);

/* Frees the arrays and zeroes s. NULL-safe. */
void fc_spectral_free(fc_spectral *s);

#endif
