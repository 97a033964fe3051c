/* Float32 matrix products for the heads (MLP layers, head inference) on the engine's packed SGEMM
 * kernels (engine/kernels: scalar/AVX2/AVX-512 chosen from cpuid), with strided operands so that
 * transposes cost nothing, OpenMP over column (or row) panels and a reusable packing workspace.
 * Results are bitwise independent of the thread count (each output element is computed whole by
 * one kernel call); products under 2^26 multiply-adds run on one thread. Not here: double precision (softmax.c has its own loops), epilogues (callers add
 * bias/activation themselves), batching of many small products. */
#ifndef FC_MATMUL_H
#define FC_MATMUL_H

#include <stddef.h>

#include "core/core.h"
#include "engine/kernels/kernels.h"

/* Workspace + kernel table. Owned by one thread at a time (it runs OpenMP inside); distinct
 * contexts are independent. Zero-initialize, then fc_matmul_init. */
typedef struct fc_matmul {
    const fc_kernels *k;
    int threads;      /* OpenMP threads for each product (>= 1) */
    float *pa, *pb;   /* 64-byte aligned packing buffers, grown on demand */
    size_t cap_a, cap_b; /* their sizes in floats */
} fc_matmul;

/* Picks the best kernel table (fc_kernels_best) and the thread count (threads <= 0: all cores).
 * Never fails. */
void fc_matmul_init(fc_matmul *g, int threads);
/* Frees the workspace; g may be reused after fc_matmul_init. NULL-safe. */
void fc_matmul_free(fc_matmul *g);

/* Grows the packing buffers to at least a_floats and b_floats (64-byte aligned; never shrinks).
 * FC_ENOMEM when one cannot grow (it then stays as it was). For callers that pack themselves
 * (the training ops' products). */
int fc_matmul_reserve(fc_matmul *g, size_t a_floats, size_t b_floats);

/* C (M, N) = A (M, K) x B (K, N), where element (m, k) of A is A[m*rsa + k*csa], (k, n) of B is
 * B[k*rsb + n*csb] and (m, n) of C is C[m*rsc + n*csc] (csc == 1 is the fast case). C must not
 * overlap A or B. K == 0 gives C = 0. Errors: FC_ENOMEM when the workspace cannot grow, FC_EINVAL
 * for negative sizes. */
int fc_matmul_run(fc_matmul *g, int M, int N, int K, const float *A, ptrdiff_t rsa, ptrdiff_t csa,
                const float *B, ptrdiff_t rsb, ptrdiff_t csb, float *C, ptrdiff_t rsc, ptrdiff_t csc,
                fc_error *err);

#endif
