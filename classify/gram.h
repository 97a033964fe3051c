/* Gram matrix G = X X^T of float32 rows, accumulated in double (each float product is exact in
 * double, so G carries double-precision sums), for the row-space reduction of softmax.c. Two
 * implementations with the same blocking: portable C (OpenMP SIMD loops, compiler-vectorized) and
 * AVX2+FMA intrinsics (function-level target attribute, used only when the engine's kernel dispatch
 * reports an AVX2-capable CPU, so FEATCACHE_ISA=scalar also selects the portable one). They agree
 * to rounding (~1e-15 relative), not bitwise. Not here: general double GEMM, factorizations. */
#ifndef FC_GRAM_H
#define FC_GRAM_H

#include "core/error.h"

typedef enum {
    FC_GRAM_AUTO = 0,     /* AVX2+FMA when the CPU has it (see above), else portable */
    FC_GRAM_PORTABLE = 1, /* portable C */
    FC_GRAM_AVX2 = 2,     /* AVX2+FMA; FC_EUNSUPPORTED when the CPU lacks it */
} fc_gram_impl;

/* G (n, n), full symmetric, = x (n, d) x^T. Each entry is computed by one thread in a fixed order,
 * so G does not depend on threads (<= 0: all cores). Errors: FC_EINVAL (n < 1, d < 0, NULL),
 * FC_EUNSUPPORTED (FC_GRAM_AVX2 on a CPU without it), FC_ENOMEM (a double copy of x is made).
 * Thread-safe. */
int fc_gram_compute(const float *x /* (n, d) */, int n, int d, double *G /* (n, n) */, int threads,
                    fc_gram_impl impl, fc_error *err);

#endif
