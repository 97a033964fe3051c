/* Scalar reference kernels: the plain-C twin of every SIMD kernel, written as the obvious loops so that
 * they are easy to trust. The SIMD tables are tested against these, and they are the fallback on CPUs
 * without AVX2. Tile 4x4 (mr x nr). Deliberately not fast: no cache blocking, no unrolling. */
#include <stddef.h>

#include "extract/kernels/internal.h"

enum { MR = 4, NR = 4 };

static void pack_a(int M, int K, const float *A, ptrdiff_t rsa, ptrdiff_t csa, float *packed) {
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

static void pack_b(int K, int N, const float *B, ptrdiff_t rsb, ptrdiff_t csb, float *packed) {
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

static void sgemm_packed(int M, int N, int K, const float *pa, const float *pb, float *C,
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

void fc_dwconv_plane_scalar(const float *in, int H, int W, const float *w, int KH, int KW, int SH,
                            int SW, int PT, int PL, int DH, int DW, float bias, const fc_act *act,
                            float *out, int OH, int OW) {
    // in: (H, W); w: (KH, KW); out: (OH, OW)
    for (int oy = 0; oy < OH; oy++)
        for (int ox = 0; ox < OW; ox++) {
            float acc = 0.0f;
            for (int i = 0; i < KH; i++) {
                int iy = oy * SH - PT + i * DH;
                if (iy < 0 || iy >= H) continue;
                for (int j = 0; j < KW; j++) {
                    int ix = ox * SW - PL + j * DW;
                    if (ix < 0 || ix >= W) continue;
                    acc += w[i * KW + j] * in[(size_t)iy * W + ix];
                }
            }
            acc += bias;
            out[(size_t)oy * OW + ox] = act ? fc_act_apply(act, acc) : acc;
        }
}

static void act_scalar(const fc_act *act, const float *x, float *y, size_t n) {
    // x, y: (n)
    for (size_t i = 0; i < n; i++) y[i] = fc_act_apply(act, x[i]);
}

const fc_kernels fc_kernels_scalar_table = {
    .name = "scalar",
    .mr = MR,
    .nr = NR,
    .pack_a = pack_a,
    .pack_b = pack_b,
    .sgemm_packed = sgemm_packed,
    .dwconv_plane = fc_dwconv_plane_scalar,
    .act = act_scalar,
};
