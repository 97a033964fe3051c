/* Dense double-precision kernels for the softmax solver: dot products and axpy on double (or
 * float-times-double) vectors, and the Gram matrix G = X X^T of float32 rows accumulated in double
 * (float products are exact in double, so G carries double-precision sums); and one pair in f32
 * arithmetic (dots_f32, ger_f32) for the first phase of large fits. Three tables with
 * the same results bit for bit: portable C (GCC vector extensions, SSE2 on x86-64), AVX2 (4-wide,
 * function-level target attribute, chosen only when core/cpu.h allows the AVX2 level or above,
 * so FEATCACHE_ISA=scalar also selects the portable one) and AVX-512 (the AVX2 table with
 * register-blocked dots and ger products, dense_avx512.c). Identical bits come
 * from a fixed summation order: element q of a dot/Gram entry goes to partial sum q mod 8
 * (dot) or q mod 4 (Gram), partials are combined in one fixed tree, tails added last in order,
 * and no fused multiply-add where it would round differently. Not here: general GEMM
 * (engine/matmul.h), factorizations. */
#ifndef FC_DENSE_H
#define FC_DENSE_H

#include "core/core.h"

/* Immutable, statically allocated tables: thread-safe, never freed. */
typedef struct fc_dense_kernels {
    const char *name; /* "portable", "avx2" or "avx512" */
    /* sum_i a[i] * b[i] over n elements (n >= 0). */
    double (*dot)(const double *a, const double *b, int n);
    double (*dot_fd)(const float *a, const double *b, int n);
    double (*dot_ff)(const float *a, const float *b, int n);
    /* y[i] += alpha * x[i] over n elements. */
    void (*axpy)(double *y, double alpha, const double *x, int n);
    void (*axpy_fd)(double *y, double alpha, const float *x, int n);
    /* out[r m + j] = dot_fd(X + r n, V + j n, n) for r < rows, j < m (the same bits): the dot
     * products of the float rows X (rows, n) with the rows of V (m, n), out (rows, m). */
    void (*dots_fd)(const float *X, int rows, const double *V, int m, int n, double *out);
    /* G[j][q] += E[i][j] * X[i][q] for i = 0..rows-1 in order, G (m, n), E (rows, m), X (rows, n):
     * the same bits as axpy_fd(G + j n, E[i][j], X + i n, n) over i, then j, with accumulators
     * kept in registers across the rows. */
    void (*ger_fd)(double *G, const double *E, const float *X, int rows, int m, int n);
    /* dots_fd and ger_fd with double rows X: out[r m + j] = dot(X + r n, V + j n, n);
     * G[j][q] += E[i][j] * X[i][q] over i in order (axpy's bits). */
    void (*dots_dd)(const double *X, int rows, const double *V, int m, int n, double *out);
    void (*ger_dd)(double *G, const double *E, const double *X, int rows, int m, int n);
    /* dots_fd and ger_fd in f32 arithmetic, for the first iterations of large fits (softmax.h):
     * about twice the lanes, and sums good to ~1e-6 relative instead of ~1e-15.
     * dots_f32: out[r m + j] = lane l < 16 summing x[q] * v[q] (float multiply, then float add)
     * over q = l mod 16 below 16 floor(n / 16) in order; the lanes s in double: d_l = s_l + s_l+8
     * (l < 8), e_l = d_l + d_l+4 (l < 4), t = (e_0 + e_2) + (e_1 + e_3); then t += x[q] v[q] in
     * double for the tail q in order. V (m, n) floats.
     * ger_f32: G[j][q] += (double) of the float sum over i in order of (float)E[i][j] * X[i][q]
     * (float multiply, then add) for q < 16 floor(n / 16); the column tail as ger_fd; rows = 0
     * leaves G as it is. */
    void (*dots_f32)(const float *X, int rows, const float *V, int m, int n, double *out);
    void (*ger_f32)(double *G, const double *E, const float *X, int rows, int m, int n);
    /* The (4, 2) block G[i0 + a][j0 + b] = sum_q x[i0 + a][q] * x[j0 + b][q] of x (rows of d
     * doubles holding float values, row stride d), stored at G[(i0 + a) * ldg + j0 + b]. */
    void (*gram_tile)(const double *x, int d, int i0, int j0, double *G, int ldg);
} fc_dense_kernels;

/* The AVX-512 table when the CPU has the AVX-512 level, else the AVX2 one when it has AVX2 (the
 * levels of core/cpu.h, so FEATCACHE_ISA can force a lower one), else the portable one. Never NULL. */
const fc_dense_kernels *fc_dense_kernels_best(void);
/* "portable", "avx2" or "avx512" if supported by this CPU, else NULL. */
const fc_dense_kernels *fc_dense_kernels_by_name(const char *name);

/* G (n, n), full symmetric, = x (n, d) x^T with kernel table k (NULL = best). Each entry is
 * computed by one thread in a fixed order, so G depends neither on threads (<= 0: all cores) nor
 * on the table. Makes an (n, d) double copy of x. Errors: FC_EINVAL (n < 1, d < 0, NULL arrays),
 * FC_ENOMEM. Thread-safe. */
int fc_gram_compute(const fc_dense_kernels *k, const float *x /* (n, d) */, int n, int d,
                    double *G /* (n, n) */, int threads, fc_error *err);

#endif
