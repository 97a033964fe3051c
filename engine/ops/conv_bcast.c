/* The pixel-broadcast path of Conv (conv_prim.h): convolutions with few input channels per group
 * (the stems: 3) and K in one GEMM block. Their im2col writes each input element kh*kw times (49
 * for the 7x7 stems of ResNet, GoogLeNet and DenseNet) into rows only 147 long; here each tile
 * broadcasts its input elements from a zero-padded copy of a band of input rows, with the weights
 * as vectors of 32 output channels (fc_f32_conv_bcast_fn), and computes what the GEMM path
 * computes, operation for operation (the same bits on a SIMD table). Tasks: (image, band of
 * BAND_ROWS output rows), each pads its band's input rows into the thread's scratch. Not here: the
 * tile (kernels/f32-conv-bcast-*.c). */
#include <omp.h>
#include <string.h>

#include "engine/fusion.h"
#include "engine/ops/conv_prim.h"

#define MAX_CIN 4     /* input channels per group that take this path */
#define MIN_K 64      /* shorter K (3x3 stems: 27) write more than they compute: the tile's transposes and
                         masked stores cost more than im2col (VGG-11's first conv: twice slower) */
#define MAX_K 192     /* the longest K (cin * kh * kw) in one GEMM block on every SIMD table */
#define BAND_ROWS 8   /* output rows per task */

int fc_conv_bcast_prepare(const fc_node *n, fc_conv *s, const float *weights, fc_error *err) {
    const fc_kernels *k = s->k;
    if (!k->conv_bcast || s->group != 1 || s->depthwise || s->wino || s->cin_g > MAX_CIN || s->K < MIN_K ||
        s->K > MAX_K || (k->gemm_kc && k->gemm_kc(s->K) < s->K) || s->pre_s || fc_fused_residual(n) >= 0)
        return 0;
    int blocks = (s->cout + FC_CONV_BCAST_MC - 1) / FC_CONV_BCAST_MC;
    if (!(s->bcast_w = fc_conv_alloc64((size_t)blocks * s->K * FC_CONV_BCAST_MC)))
        return fc_fail(err, FC_ENOMEM, "out of memory");
    // weights (cout, K) -> (blocks, K, 32), channels past cout zero
    for (int b = 0; b < blocks; b++)
        for (int kk = 0; kk < s->K; kk++)
            for (int c = 0; c < FC_CONV_BCAST_MC; c++) {
                int m = b * FC_CONV_BCAST_MC + c;
                s->bcast_w[((size_t)b * s->K + kk) * FC_CONV_BCAST_MC + c] =
                    m < s->cout ? weights[(size_t)m * s->K + kk] : 0.0f;
            }
    return 0;
}

/* A band's padded input: (cin, rows, cols) with rows and cols what BAND_ROWS output rows read. */
static int band_rows(const fc_conv *s, const fc_window *w) {
    return (BAND_ROWS - 1) * w->sh + (s->kh - 1) * w->dil_h + 1;
}
static int band_cols(const fc_conv *s, const fc_window *w) {
    return (w->ow - 1) * w->sw + (s->kw - 1) * w->dil_w + 1;
}

size_t fc_conv_bcast_work(const fc_conv *s, const fc_window *w, int threads) {
    size_t per = ((size_t)s->cin_g * band_rows(s, w) * band_cols(s, w) + 15) / 16 * 16;
    return per * (size_t)threads * sizeof(float);
}

/* Input rows [iy0, iy0 + rows) and columns [-pl, cols - pl) of image x (cin, H, W) into buf, zeros
 * outside the image. */
static void pad_band(const float *x, int cin, int64_t H, int64_t W, int64_t iy0, int rows, int cols, int pl,
                     float *buf) {
    int64_t in0 = pl < cols ? pl : cols, in1 = pl + W < cols ? pl + W : cols; /* columns inside */
    for (int c = 0; c < cin; c++)
        for (int r = 0; r < rows; r++) {
            float *dst = buf + ((size_t)c * rows + r) * cols;
            int64_t iy = iy0 + r;
            if (iy < 0 || iy >= H || in1 <= in0) {
                memset(dst, 0, (size_t)cols * sizeof(float));
                continue;
            }
            memset(dst, 0, (size_t)in0 * sizeof(float));
            memcpy(dst + in0, x + ((size_t)c * H + iy) * W + (in0 - pl), (size_t)(in1 - in0) * sizeof(float));
            memset(dst + in1, 0, (size_t)(cols - in1) * sizeof(float));
        }
}

void fc_conv_run_bcast(const fc_conv *s, const fc_window *w, const fc_tensor *x, fc_tensor *y,
                       const fc_run_ctx *ctx) {
    int64_t N = x->dims[0], H = x->dims[2], W = x->dims[3], P = (int64_t)w->oh * w->ow;
    int rows = band_rows(s, w), cols = band_cols(s, w), bands = (w->oh + BAND_ROWS - 1) / BAND_ROWS;
    size_t per = fc_conv_bcast_work(s, w, 1) / sizeof(float);
    int koff[MAX_K]; /* tap k = (ci*kh + ky)*kw + kx of an output pixel, from its window's corner */
    for (int kk = 0; kk < s->K; kk++) {
        int ci = kk / (s->kh * s->kw), ky = kk / s->kw % s->kh, kx = kk % s->kw;
        koff[kk] = (ci * rows + ky * w->dil_h) * cols + kx * w->dil_w;
    }
#pragma omp parallel for num_threads(ctx->threads) schedule(dynamic, 1)
    for (int64_t t = 0; t < N * bands; t++) {
        int64_t img = t / bands;
        int oy0 = (int)(t % bands) * BAND_ROWS, oy1 = oy0 + BAND_ROWS < w->oh ? oy0 + BAND_ROWS : w->oh;
        float *buf = ctx->work + per * (size_t)omp_get_thread_num();
        pad_band((const float *)x->data + img * s->cin_g * H * W, s->cin_g, H, W, (int64_t)oy0 * w->sh - w->pt,
                 rows, cols, w->pl, buf);
        float *yi = (float *)y->data + img * s->cout * P;
        for (int oy = oy0; oy < oy1; oy++)
            for (int ox = 0; ox < w->ow; ox += FC_CONV_BCAST_NP) {
                int np = w->ow - ox < FC_CONV_BCAST_NP ? w->ow - ox : FC_CONV_BCAST_NP;
                const float *xt = buf + (size_t)(oy - oy0) * w->sh * cols + (size_t)ox * w->sw;
                for (int m0 = 0; m0 < s->cout; m0 += FC_CONV_BCAST_MC) {
                    fc_epilogue ep = {.bias = s->bias + m0, .act = s->act};
                    int mm = s->cout - m0 < FC_CONV_BCAST_MC ? s->cout - m0 : FC_CONV_BCAST_MC;
                    s->k->conv_bcast(np, mm, s->K, xt, koff, w->sw, s->bcast_w + (size_t)m0 * s->K,
                                     yi + m0 * P + (int64_t)oy * w->ow + ox, P, &ep);
                }
            }
    }
}
