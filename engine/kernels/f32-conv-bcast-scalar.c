/* Scalar twin of the pixel-broadcast convolution tile (fc_f32_conv_bcast_fn, kernels.h), written as
 * the obvious loops: the same fused multiply-adds in the same order as the SIMD tile, so the two
 * agree bit for bit where the activation is exact (none, Relu, Clip). For the tests only: the
 * scalar table has no tile (its GEMM sums as a*b + acc, so stems keep its im2col and its bits,
 * which its fused depthwise blocks share). */
#include <math.h>
#include <stddef.h>

#include "engine/kernels/internal.h"

void fc_f32_conv_bcast__scalar(int np, int M, int K, const float *x, const int *koff, ptrdiff_t ps,
                               const float *w, float *y, ptrdiff_t ldy, const fc_epilogue *ep) {
    // w: (K, FC_CONV_BCAST_MC); output pixel p < np of channel m < M at y[m*ldy + p]
    for (int m = 0; m < M; m++)
        for (int p = 0; p < np; p++) {
            float acc = 0.0f;
            for (int k = 0; k < K; k++)
                acc = fmaf(w[(size_t)k * FC_CONV_BCAST_MC + m], x[koff[k] + p * ps], acc);
            acc += ep->bias[m];
            y[m * ldy + p] = fc_act_apply(&ep->act, acc);
        }
}
