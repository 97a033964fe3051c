/* Scalar reference kernels: the plain-C twin of every SIMD kernel, written as the obvious loops so that
 * they are easy to trust. The SIMD tables are tested against these, and they are the fallback on CPUs
 * without AVX2. Tile 4x4 (mr x nr). Deliberately not fast: no cache blocking, no unrolling. */
#include <stddef.h>

#include "engine/kernels/internal.h"

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

static void dwconv_planes_scalar(const float *in, ptrdiff_t ics, int nch, int H, int W,
                                 const float *w, int KH, int KW, int SH, int SW, int PT, int PL,
                                 int DH, int DW, const float *bias, const fc_act *act, float *out,
                                 ptrdiff_t ocs, int OH, int OW, int stream) {
    // in: nch planes (H, W) at stride ics; w: (nch, KH, KW); out: nch planes (OH, OW) at stride ocs
    for (int c = 0; c < nch; c++)
        fc_dwconv_plane_scalar(in + c * ics, H, W, w + (size_t)c * KH * KW, KH, KW, SH, SW, PT, PL,
                               DH, DW, bias[c], act, out + c * ocs, OH, OW);
}

/* Winograd F(4x4, 3x3) 1-D transforms: o = B^T d (6 -> 6) and y = A^T m (6 -> 4), written as the
 * SIMD versions evaluate them. */
static void wino_bt(const float d[6], float o[6]) {
    o[0] = 4.0f * d[0] - 5.0f * d[2] + d[4];
    o[1] = -4.0f * (d[1] + d[2]) + (d[3] + d[4]);
    o[2] = 4.0f * (d[1] - d[2]) + (d[4] - d[3]);
    o[3] = 2.0f * (d[3] - d[1]) + (d[4] - d[2]);
    o[4] = -2.0f * (d[3] - d[1]) + (d[4] - d[2]);
    o[5] = 4.0f * d[1] - 5.0f * d[3] + d[5];
}

static void wino_at(const float m[6], float y[4]) {
    float a = m[1] + m[2], b = m[1] - m[2], c = m[3] + m[4], d = m[3] - m[4];
    y[0] = m[0] + a + c;
    y[1] = b + 2.0f * d;
    y[2] = a + 4.0f * c;
    y[3] = b + 8.0f * d + m[5];
}

static void wino_input_scalar(int C, ptrdiff_t cs, ptrdiff_t W, const fc_wino_in *t, int nt,
                              float *V, ptrdiff_t vs) {
    // t: (nt) tiles; V: 36 matrices vs apart, each (C, NR) for this panel
    for (int l = 0; l < NR; l++)
        for (int c = 0; c < C; c++) {
            float d[6][6], u[6][6], col[6], v[6];
            for (int r = 0; r < 6; r++)
                for (int q = 0; q < 6; q++)
                    d[r][q] = l < nt && r >= t[l].r0 && r < t[l].r1 && q >= t[l].c0 && q < t[l].c1
                                  ? t[l].src[c * cs + r * W + q] : 0.0f;
            for (int r = 0; r < 6; r++) wino_bt(d[r], u[r]);
            for (int q = 0; q < 6; q++) {
                for (int r = 0; r < 6; r++) col[r] = u[r][q];
                wino_bt(col, v);
                for (int r = 0; r < 6; r++) V[(r * 6 + q) * vs + c * NR + l] = v[r];
            }
        }
}

static void wino_output_scalar(int M, const float *X, ptrdiff_t xs, ptrdiff_t ms,
                               const fc_wino_out *t, int nt, ptrdiff_t cs, ptrdiff_t W,
                               const float *bias, const fc_act *act) {
    // X: 36 matrices xs apart, (M, >= nt) at row stride ms; t: (nt) tiles
    for (int m = 0; m < M; m++)
        for (int l = 0; l < nt; l++) {
            float z[6][4], col[6], y[4];
            for (int r = 0; r < 6; r++) {
                float row[6];
                for (int q = 0; q < 6; q++) row[q] = X[(r * 6 + q) * xs + m * ms + l];
                wino_at(row, z[r]);
            }
            for (int j = 0; j < 4; j++) {
                for (int r = 0; r < 6; r++) col[r] = z[r][j];
                wino_at(col, y);
                for (int i = 0; i < t[l].rows; i++) {
                    if (j >= t[l].cols) continue;
                    ptrdiff_t o = m * cs + i * W + j;
                    float v = y[i] + bias[m];
                    if (t[l].res) v += t[l].res[o];
                    t[l].dst[o] = act ? fc_act_apply(act, v) : v;
                }
            }
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
    .dwconv_planes = dwconv_planes_scalar,
    .wino_input = wino_input_scalar,
    .wino_output = wino_output_scalar,
    .act = act_scalar,
};
