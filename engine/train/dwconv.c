/* Depthwise Conv2d (groups == C == OC, weight (C,1,kh,kw)), the half of fc_conv2d_forward/backward
 * that conv2d.c hands over. Forward: the engine's dwconv_channels kernel over tasks of (image, block
 * of channels), as the inference path runs it. Backward: each thread takes a range of whole blocks
 * of FC_DWG_LANES channels and streams every image in order through the kernel of dwgrad.h
 * (channels in vector lanes), generic or AVX2 by the workspace's kernel table.
 * Reproducibility: each output, and each channel's gradients, come from one task in a fixed order:
 * bitwise independent of the thread count; the generic and AVX2 kernels agree bitwise.
 * Not here: im2col convolutions (conv2d.c). */
#include <omp.h>
#include <string.h>

#include "engine/train/dwgrad.h"
#include "engine/train/internal.h"

#define DWG_NAME fc_dwgrad_block_generic
#define DWG_TR fc_train_tr_generic
#define DWG_UNTR fc_train_untr_generic
#include "engine/train/dwgrad-impl.h"

static void geom_of(fc_dwgrad_geom *g, int N, int C, int H, int W, int OH, int OW, const fc_win2d *w) {
    *g = (fc_dwgrad_geom){.N = N, .C = C, .H = H, .W = W, .OH = OH, .OW = OW, .KH = w->kh,
                          .KW = w->kw, .SH = w->sh, .SW = w->sw, .DH = w->dil_h, .DW = w->dil_w,
                          .PT = w->pt, .PL = w->pl};
    g->PH = (OH - 1) * w->sh + (w->kh - 1) * w->dil_h + 1;
    g->PW = (OW - 1) * w->sw + (w->kw - 1) * w->dil_w + 1;
}

size_t fc_dwgrad_scratch(const fc_dwgrad_geom *g, int nch) {
    /* Xp, dXp, Dt, an image's sums, each block's lane weights and sums, each in whole cache lines:
     * one thread's sums next to another's planes in a shared line made two threads slower */
    int kk = g->KH * g->KW, blocks = (nch + FC_DWG_LANES - 1) / FC_DWG_LANES;
    size_t xs = dwg_round((size_t)g->PH * g->PW * FC_DWG_LANES);
    size_t ds = dwg_round((size_t)g->OH * g->OW * FC_DWG_LANES);
    return 2 * xs + ds + dwg_dp_floats(g) + dwg_round((size_t)g->H * g->W * FC_DWG_LANES) +
           dwg_round((size_t)kk * FC_DWG_LANES) +
           (size_t)blocks * dwg_round((size_t)(2 * kk + 1) * FC_DWG_LANES);
}

/* Channels of thread t of nt: whole blocks of FC_DWG_LANES, the blocks split evenly. */
static void thread_range(int C, int t, int nt, int *c0, int *c1) {
    int blocks = (C + FC_DWG_LANES - 1) / FC_DWG_LANES;
    *c0 = blocks * t / nt * FC_DWG_LANES;
    *c1 = blocks * (t + 1) / nt * FC_DWG_LANES;
    if (*c1 > C) *c1 = C;
}

/* Scratch of a backward on threads: per thread, its range's (the largest range: one block more). */
static size_t backward_floats(const fc_dwgrad_geom *g, int C, int threads) {
    int c0, c1;
    thread_range(C, 0, threads, &c0, &c1);
    return fc_dwgrad_scratch(g, c1 - c0 + FC_DWG_LANES) * (size_t)threads;
}

/* Forward scratch: a zero bias when there is none. Backward: a kernel scratch per thread. */
size_t fc_train_dw_ws_floats(int C, int H, int W, int OH, int OW, const fc_win2d *w, int threads) {
    fc_dwgrad_geom g;
    geom_of(&g, 1, C, H, W, OH, OW, w);
    size_t back = backward_floats(&g, C, threads), one = backward_floats(&g, C, 1);
    if (back < one) back = one; /* small batches run on one thread */
    return back > (size_t)C ? back : (size_t)C;
}

int fc_train_dw_forward(fc_train_ws *ws, float *out, const float *inp, const float *weight,
                        const float *bias, int N, int C, int H, int W, int OH, int OW,
                        const fc_win2d *w, const fc_act *act, fc_error *err) {
    // inp is (N,C,H,W), weight is (C,1,kh,kw), bias is (C) or NULL; out will be (N,C,OH,OW)
    if (!bias) {
        float *zero = fc_train_scratch(ws, (size_t)C, err);
        if (!zero) return FC_ENOMEM;
        memset(zero, 0, sizeof(float) * C);
        bias = zero;
    }
    /* tasks of (image, block of channels): blocks of 8 channels or more with some 16K outputs, which
     * amortizes the kernel's set-up on small planes (the inference path's choice) */
    size_t P = (size_t)OH * OW, plane = (size_t)H * W;
    int cb = (int)((16384 / P + 7) / 8 * 8);
    if (cb > C) cb = C;
    int blocks = (C + cb - 1) / cb, kk = w->kh * w->kw;
    const fc_kernels *k = ws->k;
#pragma omp parallel for num_threads(fc_train_threads(ws, (size_t)N * C * P)) schedule(dynamic, 1)
    for (int t = 0; t < N * blocks; t++) {
        int n = t / blocks, c0 = t % blocks * cb, nc = C - c0 < cb ? C - c0 : cb;
        size_t at = (size_t)n * C + c0;
        k->dwconv_channels(&(fc_conv2d_geom){H, W, w->kh, w->kw, w->sh, w->sw, w->pt, w->pl, w->dil_h,
                                             w->dil_w, OH, OW},
                           nc, inp + at * plane, (ptrdiff_t)plane, weight + (size_t)c0 * kk, bias + c0,
                           act, out + at * P, (ptrdiff_t)P, 0);
    }
    return 0;
}

int fc_train_dw_backward(fc_train_ws *ws, float *dinp, float *dweight, float *dbias,
                         const float *dout, const float *inp, const float *weight, int N, int C,
                         int H, int W, int OH, int OW, const fc_win2d *w, const fc_act *in_act,
                         fc_error *err) {
    // dout is (N,C,OH,OW); dinp will be (N,C,H,W), dweight (C,1,kh,kw), dbias (C)
    if (!dinp && !dweight && !dbias) return 0;
    fc_dwgrad_geom g;
    geom_of(&g, N, C, H, W, OH, OW, w);
    int threads = fc_train_threads(ws, (size_t)N * C * H * W * w->kh * w->kw);
    size_t per = backward_floats(&g, C, threads) / (size_t)threads;
    float *scratch = fc_train_scratch(ws, per * (size_t)threads, err);
    if (!scratch) return FC_ENOMEM;
    fc_dwgrad_fn fn = fc_train_use_avx2(ws) ? fc_dwgrad_block_avx2 : fc_dwgrad_block_generic;
#pragma omp parallel num_threads(threads)
    {
        int t = omp_get_thread_num(), nt = omp_get_num_threads(), lo, hi;
        thread_range(C, t, nt, &lo, &hi);
        if (hi > lo) fn(&g, lo, hi, inp, dout, weight, in_act, dinp, dweight, dbias, scratch + per * (size_t)t);
    }
    return 0;
}
