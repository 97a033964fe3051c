/* Limited-memory BFGS for smooth unconstrained minimization in double precision, with a line
 * search that enforces the strong Wolfe conditions (bracketing, then zoom with safeguarded cubic
 * interpolation; Nocedal & Wright, Numerical Optimization, algorithms 3.5/3.6 and 7.4).
 * Deterministic: the same start and objective give the same iterates.
 * Not here: bounds (L-BFGS-B), the objective itself (softmax.c), stochastic variants. */
#ifndef FC_LBFGS_H
#define FC_LBFGS_H

#include "core/core.h"

/* Returns f(x) and writes its gradient to grad (n). x (n) must not be modified. Returning NaN or
 * Inf marks x as outside the domain (the line search then shortens the step). */
typedef double (*fc_lbfgs_eval)(void *ctx, const double *x /* (n) */, double *grad /* (n) */);

typedef struct fc_lbfgs_options {
    int memory;         /* correction pairs kept (default 10) */
    int max_iter;       /* iterations (line searches) (default 100) */
    int max_linesearch; /* function evaluations per line search (default 20) */
    double gtol;        /* converged when ||grad||_2 <= gtol (default 1e-5) */
    double gtol2;       /* a second gradient test, for sequences of warm-started problems: converged
                           also when ||grad||_2 <= gtol2 and ||grad||_2 <= gtol2_start * ||grad||_2
                           at the starting point (a start already near the optimum must still
                           make progress); 0 disables (default) */
    double gtol2_start; /* (default 1/30) */
    double ftol;        /* converged when (f_prev - f) / max(|f_prev|, |f|, 1) <= ftol; 0 disables
                           (default 2.220446049250313e-09, SciPy's L-BFGS-B factr 1e7) */
    double c1, c2;      /* sufficient decrease and curvature constants (default 1e-4, 0.9) */
    /* Preconditioner: out (n) = H0 v (n), a symmetric positive definite approximation of the
     * inverse Hessian at the current point, called with the eval's ctx (which may change H0
     * between iterations). It replaces the identity as the initial matrix of the two-loop
     * recursion (scaled by s.y / y.H0 y of the newest pair) and gives the first step -H0 g with
     * step length 1. NULL (default): plain L-BFGS. */
    void (*precond)(void *ctx, const double *v, double *out);
} fc_lbfgs_options;

typedef enum {
    FC_LBFGS_GTOL = 1,        /* gradient norm <= gtol, or the gtol2 test */
    FC_LBFGS_FTOL = 2,        /* relative decrease <= ftol */
    FC_LBFGS_MAX_ITER = 3,    /* max_iter reached */
    FC_LBFGS_LINE_SEARCH = 4, /* no decrease found even along -grad (precision limit reached) */
} fc_lbfgs_status;

typedef struct fc_lbfgs_result {
    double f;          /* objective at the returned x */
    double grad_norm;  /* ||grad||_2 there */
    int iterations;    /* completed line searches */
    int evaluations;   /* calls of eval, including the first */
    fc_lbfgs_status status;
} fc_lbfgs_result;

/* The curvature memory: the last correction pairs s = x_{t+1} - x_t, y = g_{t+1} - g_t, kept
 * across calls so that a sequence of related problems (an L2 path) starts with a good inverse
 * Hessian model. Owned by the caller; one problem at a time. */
typedef struct fc_lbfgs_memory {
    int n, m;          /* parameters, capacity in pairs */
    int count, newest; /* pairs stored, ring index of the newest */
    double *S, *Y;     /* (m, n) */
    double *rho;       /* (m) 1 / (s . y) */
} fc_lbfgs_memory;

/* Fills the defaults above. Never fails. */
void fc_lbfgs_options_init(fc_lbfgs_options *o);

/* Empty memory for n parameters and m pairs. FC_EINVAL (n, m < 1), FC_ENOMEM (mem zeroed). */
int fc_lbfgs_memory_init(fc_lbfgs_memory *mem, int n, int m, fc_error *err);
/* Frees the arrays and zeroes mem. NULL-safe. */
void fc_lbfgs_memory_free(fc_lbfgs_memory *mem);
/* Updates the stored pairs for an objective that gains 0.5 * delta * sum_{j in [first, first+len)}
 * x_j^2 (y += delta * s on those coordinates: exact for a quadratic term), then drops pairs whose
 * curvature s . y is no longer safely positive. Never fails. */
void fc_lbfgs_memory_shift(fc_lbfgs_memory *mem, double delta, int first, int len);

/* Minimizes eval from x (n), which receives the final iterate (the lowest objective seen).
 * opt NULL = defaults (opt->memory is ignored when mem is given). mem (may be NULL: a private one
 * is used) must have mem->n == n; its pairs seed the first step and it holds the latest pairs on
 * return. Errors: FC_EINVAL (n < 1, NULL x/eval, memory < 1, max_iter < 0, negative tolerances,
 * mem of another size, a non-finite objective or gradient at the start), FC_ENOMEM. Running out
 * of iterations or hitting the precision limit is not an error: see res->status.
 * Memory: 6 n doubles (8 with a preconditioner) plus the pairs. Thread-safe for distinct x and mem (eval decides the rest). */
int fc_lbfgs_minimize(const fc_lbfgs_options *opt, int n, double *x /* (n) */, fc_lbfgs_eval eval,
                      void *ctx, fc_lbfgs_memory *mem, fc_lbfgs_result *res, fc_error *err);

#endif
