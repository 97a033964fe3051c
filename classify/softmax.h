/* Multinomial logistic regression with an L2 penalty, fitted to its optimum by full-batch L-BFGS
 * (lbfgs.h), with scikit-learn's LogisticRegression(C, multi_class='multinomial', solver='lbfgs',
 * fit_intercept=True) objective (version 1.2):
 *     f(W, b) = sum_i s_i * (logsumexp(W x_i + b) - (W x_i + b)[y_i]) + 0.5 * l2 * ||W||_F^2
 * with l2 = 1/C, s_i = sample weight * class weight of y_i, intercepts b not penalized. It is solved
 * in an equivalent smaller parametrization (K-1 sum-zero class directions; when D is large compared
 * with N, the row space of X via a pivoted Cholesky factor of X X^T, so an evaluation costs O(N^2 K)
 * instead of O(N D K)), in double, deterministically and independently of the thread count. Large
 * problems in full coordinates start each fit in f32 arithmetic (twice the SIMD lanes; L-BFGS runs
 * on it until it stops) and finish it in double from there (f32_phase), and are preconditioned
 * with a spectral model of X^T X (spectral.h; its float32 products make the iterates, not the
 * optimum, depend on the engine's kernel table).
 * Not here: feature transforms (transform.h), sweeps/CLI, L1 or elastic-net penalties. */
#ifndef FC_SOFTMAX_H
#define FC_SOFTMAX_H

#include "classify/data.h"
#include "classify/dense.h"
#include "classify/head.h"
#include "classify/lbfgs.h"
#include "core/core.h"

/* The relative gradient tolerance of train and sweep (fc_softmax_options.rtol). On 5000 x 1280
 * Fashion-MNIST MobileNetV2 features (16-value path l2 = 1e3 ... 1e-2), every fit ends at or below
 * the objective of scikit-learn's 100-iteration fits, 564 iterations in all instead of 1452. */
#define FC_SOFTMAX_RTOL 1e-4

typedef struct fc_softmax_options {
    double l2;                 /* penalty strength = 1/C (>= 0; 0 = unpenalized) (default 1) */
    const float *class_weight; /* (K) multipliers of the sample weights per class, or NULL */
    double gtol;               /* stop when ||grad f||_2 <= gtol (default 1e-4; stricter than
                                  scikit-learn's max-abs test with the same tol) */
    double rtol;               /* relative gradient test: also stop when ||grad f||_2 <= rtol *
                                  ||grad f(0)||_2, the gradient at W = 0, b = 0 (the same for every
                                  l2; LIBLINEAR's test, whose default there is 1e-2), once a
                                  warm-started fit has also brought its gradient to 1/30 of where
                                  it started (a start near the optimum must still make progress);
                                  0 disables (default; train and sweep use FC_SOFTMAX_RTOL) */
    double ftol;               /* stop when the relative decrease of f <= ftol; 0 disables
                                  (default 2.22e-9, as SciPy's L-BFGS-B under scikit-learn) */
    int max_iter;              /* L-BFGS iterations per fit (default 100, scikit-learn's) */
    int memory;                /* L-BFGS correction pairs; 0 (default) = 20, fewer (down to 5)
                                  when 20 would take more than 64 MiB */
    int warm_start;            /* start from the layer's current W, b instead of zero */
    int reduce;                /* row-space reduction: -1 auto (default), 0 never, 1 when possible */
    int precondition;          /* spectral preconditioner of L-BFGS (spectral.h) in full
                                  coordinates: -1 auto (default: large problems), 0 never, 1 when
                                  the coordinates are full and D >= 8 */
    int f32_phase;             /* start each fit in f32 arithmetic (dense.h's dots_f32/ger_f32, about
                                  twice as fast), then finish it in double: -1 auto (default: full
                                  coordinates and evaluations over 2e7 multiply-adds), 0 never, 1
                                  whenever the coordinates are full */
    int threads;               /* OpenMP threads (<= 0: all cores), used only where a parallel
                                  region has several ms of work (evaluations over 2e7
                                  multiply-adds, Gram matrices over 2e8): results are the same for
                                  any count */
    const fc_dense_kernels *kernels; /* NULL = fc_dense_kernels_best(); all tables give the same bits */
} fc_softmax_options;

typedef struct fc_softmax_info {
    double objective;   /* f at the solution (summed loss + penalty) */
    double grad_norm;   /* ||grad f||_2 at the solution (the coordinate changes are isometries,
                           so this is also the norm in (W, b)) */
    int iterations, evaluations;
    fc_lbfgs_status status;
    int rank;           /* feature dims actually optimized (rank of X when reduced, else D) */
} fc_softmax_info;

/* Defaults listed above. Never fails. */
void fc_softmax_options_init(fc_softmax_options *o);

/* Fits on train (labels required; every class 0..k-1 must occur) into layer, which must be either
 * zeroed (it is then allocated as (K, D), act NONE) or already allocated with in = D, out = K (its
 * arrays are reused; with opt->warm_start its W and b are the starting point). opt NULL = defaults.
 * info may be NULL. Not converging within max_iter is not an error (see info->status).
 * Errors: as fc_data_check (empty split, single class, missing labels, NaN rows, D mismatch),
 * FC_EINVAL (bad options or class weights, warm start without an allocated layer),
 * FC_ENOMEM. On error the layer is left freed if it was allocated here, unchanged otherwise.
 * Memory: O(N K + D K) doubles, plus N^2 doubles when the row-space reduction is used.
 * Reentrant: distinct layers may be fitted concurrently on the same data (each call uses
 * opt->threads OpenMP threads). */
int fc_softmax_fit(const fc_softmax_options *opt, const fc_data *train, int k, fc_layer *layer,
                   fc_softmax_info *info, fc_error *err);

/* Regularization path: fits l2[0..m) in that order (use decreasing l2 = increasing C), each fit
 * warm-started from the previous solution and all sharing one factorization of X; opt->l2 is
 * ignored. From 4 fits on problems whose evaluation is over 2e7 multiply-adds the path runs as two
 * chains, l2[0], l2[2], ... and l2[1], l2[3], ..., each warm-started from its own previous fit
 * (the first from the start), on up to two threads with one thread per evaluation (the same
 * results for any opt->threads). layers[0..m) follow fc_softmax_fit's rule (layers[0] is the warm start when
 * opt->warm_start). infos (m) may be NULL. On error every layer allocated here is freed.
 * Errors as fc_softmax_fit, plus FC_EINVAL for m < 1 or a negative/non-finite l2. */
int fc_softmax_fit_path(const fc_softmax_options *opt, const fc_data *train, int k, const double *l2,
                        int m, fc_layer *layers, fc_softmax_info *infos, fc_error *err);

/* The objective above for a given layer (K, D), evaluated directly in double (for tests and
 * diagnostics; O(N D K), single-threaded). grad_W (K, D) and grad_b (K) may be NULL.
 * class_weight (K) may be NULL. Errors: as fc_data_check (labels required), FC_ESHAPE when the
 * layer does not match (D, K), FC_EINVAL for a negative l2. Thread-safe (reads only). */
int fc_softmax_objective(const fc_data *data, int k, const float *class_weight, double l2,
                         const fc_layer *layer, double *f, double *grad_W /* (K, D) */,
                         double *grad_b /* (K) */, fc_error *err);

/* P (n, K) = softmax(x (n, D) W^T + b). Errors: FC_ESHAPE (d != layer->in), FC_EINVAL (NULL
 * arrays, NaN/Inf rows named), FC_ENOMEM. threads <= 0: all cores. Thread-safe. */
int fc_softmax_predict_proba(const fc_layer *layer, const float *x /* (n, d) */, int n, int d,
                             float *P /* (n, K) */, int threads, fc_error *err);

#endif
