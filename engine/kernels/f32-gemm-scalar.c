/* Scalar reference f32 GEMM: packing (4-row A panels, 4-column B panels) and the packed GEMM with a
 * 4x4 tile, written as the obvious loops so that they are easy to trust. The SIMD GEMMs are tested
 * against it, and it is the fallback on CPUs without AVX2. Deliberately not fast: no cache blocking,
 * no unrolling. Not here: the other scalar twins (f32-dwconv-scalar.c, f32-winograd-f4x3-scalar.c,
 * f32-act-scalar.c). */
#include <stddef.h>

#include "engine/kernels/internal.h"

enum { MR = 4, NR = 4 };

void fc_f32_gemm_pack_a_4__scalar(int M, int K, const float *A, ptrdiff_t rsa, ptrdiff_t csa,
                                  float *packed) {
    // A: (M, K) strided -> packed: (ceil(M/MR), K, MR)
    for (int p = 0; p * MR < M; p++) {
        float *panel = packed + (size_t)p * K * MR;
        for (int k = 0; k < K; k++)
            for (int r = 0; r < MR; r++) {
                int m = p * MR + r;
                panel[(size_t)k * MR + r] = m < M ? A[m * rsa + k * csa] : 0.0f;
            }
    }
}

void fc_f32_gemm_pack_b_4__scalar(int K, int N, const float *B, ptrdiff_t rsb, ptrdiff_t csb,
                                  float *packed) {
    // B: (K, N) strided -> packed: (ceil(N/NR), K, NR)
    for (int q = 0; q * NR < N; q++) {
        float *panel = packed + (size_t)q * K * NR;
        for (int k = 0; k < K; k++)
            for (int c = 0; c < NR; c++) {
                int n = q * NR + c;
                panel[(size_t)k * NR + c] = n < N ? B[k * rsb + n * csb] : 0.0f;
            }
    }
}

void fc_f32_gemm_4x4__scalar(int M, int N, int K, const float *pa, const float *pb, float *C,
                             ptrdiff_t rsc, ptrdiff_t csc, const fc_epilogue *ep) {
    // pa: packed (M, K); pb: packed (K, N); C: (M, N) strided
    for (int m = 0; m < M; m++) {
        const float *arow = pa + (size_t)(m / MR) * K * MR + m % MR;
        for (int n = 0; n < N; n++) {
            const float *bcol = pb + (size_t)(n / NR) * K * NR + n % NR;
            float acc = 0.0f;
            for (int k = 0; k < K; k++) acc += arow[(size_t)k * MR] * bcol[(size_t)k * NR];
            if (ep && ep->bias) acc += ep->bias[m];
            if (ep && ep->residual) acc += ep->residual[m * rsc + n * csc];
            if (ep) acc = fc_act_apply(&ep->act, acc);
            C[m * rsc + n * csc] = acc;
        }
    }
}
