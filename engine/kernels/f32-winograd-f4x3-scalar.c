/* Scalar reference Winograd F(4x4, 3x3) input and output transforms (contracts in kernels.h) for
 * 4-tile panels, written as the obvious loops, with the 1-D transforms in the operation order the
 * SIMD versions use so that those can be compared closely. Not here: the weight transform and the
 * GEMMs between the transforms (engine/ops/conv.c). */
#include <stddef.h>

#include "engine/kernels/internal.h"

enum { NR = 4 }; /* tiles per packed-B panel, as the scalar GEMM's */

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

void fc_f32_winograd_f4x3_input_4__scalar(int C, ptrdiff_t cs, ptrdiff_t W, const fc_wino_in *t,
                                          int nt, float *V, ptrdiff_t vs) {
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

void fc_f32_winograd_f4x3_output__scalar(int M, const float *X, ptrdiff_t xs, ptrdiff_t ms,
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
