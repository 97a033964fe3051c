/* AVX-512 direct convolution tile with the pixels broadcast (the fc_f32_conv_bcast_fn contract,
 * kernels.h): 14 output pixels x 32 output channels in 28 zmm accumulators; per k, the two weight
 * vectors are loaded and each pixel's input element broadcast from where it lies in the image (no
 * im2col: for a stem's 3 input channels, im2col writes every input element kh*kw times). The sums
 * end as a (pixel, channel) tile; after the epilogue, two 16x16 transposes turn it into rows of
 * channels (NCHW). Compiled with the AVX-512 flags; reached only through the avx512 tables.
 * f32-conv-bcast-fastsig-avx512.c compiles it again with the bf16 path's sigmoid. Not here: the
 * choice of the convolutions that take it, the padding of the input (ops/conv_bcast.c). */
#include <math.h>

#include "engine/kernels/internal.h"
#include "engine/kernels/simd-avx512.h"
#include "engine/kernels/f32-act-vec.h"

#ifndef CONV_BCAST
#define CONV_BCAST fc_f32_conv_bcast_14x32__avx512
#endif

#define TP FC_CONV_BCAST_NP /* pixels per tile */
#define TC FC_CONV_BCAST_MC /* channels per tile: 2 vectors */

/* sums[p] (2 vectors) = sum over k of w[k] * x[koff[k] + p*ps], one FMA per k from +0, for p < np
 * (a compile-time constant at every call site, and so is ps for strides 1 and 2: a variable one
 * costs the loop an address computation per pixel). */
FC_INLINE void tile_sums(const int np, int K, const float *x, const int *koff, const ptrdiff_t ps,
                         const float *w, float *sums) {
    vf acc[TP][2];
FC_UNROLL(16)
    for (int p = 0; p < np; p++) acc[p][0] = acc[p][1] = v_zero();
FC_UNROLL(2)
    for (int k = 0; k < K; k++) {
        vf w0 = v_load(w + (size_t)k * TC), w1 = v_load(w + (size_t)k * TC + VW);
        const float *xk = x + koff[k];
FC_UNROLL(16)
        for (int p = 0; p < np; p++) {
            vf xb = v_bcast(xk + p * ps);
            acc[p][0] = v_fma(w0, xb, acc[p][0]);
            acc[p][1] = v_fma(w1, xb, acc[p][1]);
        }
    }
FC_UNROLL(16)
    for (int p = 0; p < np; p++) {
        v_store(sums + p * TC, acc[p][0]);
        v_store(sums + p * TC + VW, acc[p][1]);
    }
}

static void tile_sums_any(int np, int K, const float *x, const int *koff, ptrdiff_t ps, const float *w,
                          float *sums) {
#define FC_NP_CASE(P)                                                                            \
    case P:                                                                                      \
        if (ps == 1) tile_sums(P, K, x, koff, 1, w, sums);                                       \
        else if (ps == 2) tile_sums(P, K, x, koff, 2, w, sums);                                  \
        else tile_sums(P, K, x, koff, ps, w, sums);                                              \
        return;
    switch (np) {
        FC_NP_CASE(1) FC_NP_CASE(2) FC_NP_CASE(3) FC_NP_CASE(4) FC_NP_CASE(5) FC_NP_CASE(6)
        FC_NP_CASE(7) FC_NP_CASE(8) FC_NP_CASE(9) FC_NP_CASE(10) FC_NP_CASE(11) FC_NP_CASE(12)
        FC_NP_CASE(13) FC_NP_CASE(14)
    }
#undef FC_NP_CASE
}

/* The GEMM's epilogue (f32-gemm-impl.h, K in one block) on rows p < np of the tile: + bias, the
 * clamp of a Relu or Clip, any other activation; the same operations in the same order. */
FC_INLINE void tile_epilogue(const int kind, int np, float *sums, vf b0, vf b1, int clamp, vf lo, vf hi,
                             const fc_act *act) {
    vf pa = v_set1(act->a), pb = v_set1(act->b);
    for (int p = 0; p < np; p++) {
        vf t0 = v_add(v_load(sums + p * TC), b0), t1 = v_add(v_load(sums + p * TC + VW), b1);
        if (clamp) {
            t0 = v_clamp(t0, lo, hi);
            t1 = v_clamp(t1, lo, hi);
        }
        if (kind != FC_ACT_NONE) {
            t0 = v_act_kind(kind, t0, pa, pb);
            t1 = v_act_kind(kind, t1, pa, pb);
        }
        v_store(sums + p * TC, t0);
        v_store(sums + p * TC + VW, t1);
    }
}

void CONV_BCAST(int np, int M, int K, const float *x, const int *koff, ptrdiff_t ps, const float *w,
                float *y, ptrdiff_t ldy, const fc_epilogue *ep) {
    // w: (K, 32) packed weights; tile (np pixels, 32 channels) -> y rows m < M of np floats
    if (np <= 0 || M <= 0) return;
    _Alignas(64) float sums[16 * TC]; /* (pixel, channel); rows np..15 zero for the transposes */
    /* the output lines are fetched while the sums are made: the masked stores at the end merge into
     * them, and masked stores to lines not in cache stall (ResNet-18's stem step took 18% longer) */
    for (int c = 0; c < M; c++) {
        v_prefetchw(y + (ptrdiff_t)c * ldy);
        v_prefetchw(y + (ptrdiff_t)c * ldy + np - 1);
    }
    tile_sums_any(np, K, x, koff, ps, w, sums);
    for (int p = np; p < 16; p++) {
        v_store(sums + p * TC, v_zero());
        v_store(sums + p * TC + VW, v_zero());
    }
    vf lo, hi;
    int kind = ep->act.kind, clamp = v_act_bounds(&ep->act, &lo, &hi);
    vf b0 = v_loadm(ep->bias, v_mask_first(M < VW ? M : VW));
    vf b1 = v_loadm(ep->bias + VW, v_mask_first(M > VW ? M - VW : 0));
    switch (clamp ? FC_ACT_NONE : kind) {
    case FC_ACT_LEAKY: tile_epilogue(FC_ACT_LEAKY, np, sums, b0, b1, 0, lo, hi, &ep->act); break;
    case FC_ACT_SIGMOID: tile_epilogue(FC_ACT_SIGMOID, np, sums, b0, b1, 0, lo, hi, &ep->act); break;
    case FC_ACT_HARDSIGMOID: tile_epilogue(FC_ACT_HARDSIGMOID, np, sums, b0, b1, 0, lo, hi, &ep->act); break;
    case FC_ACT_HARDSWISH: tile_epilogue(FC_ACT_HARDSWISH, np, sums, b0, b1, 0, lo, hi, &ep->act); break;
    case FC_ACT_SILU: tile_epilogue(FC_ACT_SILU, np, sums, b0, b1, 0, lo, hi, &ep->act); break;
    default: tile_epilogue(FC_ACT_NONE, np, sums, b0, b1, clamp, lo, hi, &ep->act); break;
    }
    vmask m = v_mask_first(np);
    for (int h = 0; h * VW < M; h++) {
        vf r[16];
        for (int p = 0; p < 16; p++) r[p] = v_load(sums + p * TC + h * VW);
        v_transpose(r); /* r[c] = channel h*16 + c of pixels 0..15 */
        int rows = M - h * VW < VW ? M - h * VW : VW;
        for (int c = 0; c < rows; c++) v_storem(y + (ptrdiff_t)(h * VW + c) * ldy, m, r[c]);
    }
}
