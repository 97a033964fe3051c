/* The channel-blocked 1x1 convolution of `--compute bf16` (kernels.h, fc_cb_kernels of the
 * avx512bf16 table): pixel-major like the f32 one (f32-cb-impl.h), with bf16 pairs. Per tile of 12
 * pixels and per K block (the inference GEMM's cut), the pixels' inputs are converted once into bf16
 * k pairs (VCVTNE2PS2BF16, as that GEMM converts its B slices) and broadcast against W^T's pair
 * panels (pack_w: the table's bf16 weights, re-laid as 32-column panels) by VDPBF16PS, for every
 * panel of output channels; partial sums between K blocks wait in y as the GEMM's wait in C. Each
 * element thus gets fc_bf16_gemm_12x32_cvtb__avx512bf16's operations: the same pairs, the same
 * instruction on them (its two products commute), the same blocks and epilogue (the fast
 * sigmoid's). The depthwise kernel and the layout conversions are the fast-sigmoid f32 ones: the
 * bf16 path keeps depthwise convolutions in f32. Compiled with the AVX-512 flags and -mavx512bf16;
 * reached only through fc_kernels_bf16. Twin: fc_bf16_conv1x1_cb__scalar in bf16-gemm-scalar.c. */
#define FC_FAST_SIGMOID 1
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "engine/kernels/internal.h"
#include "engine/kernels/simd-avx512.h"
#include "engine/kernels/f32-act-vec.h"
#include "engine/kernels/bf16-pairs-avx512bf16.h"

#define PMR 12       /* pixels per tile */
#define PNR 32       /* output channels per tile: the panels' width */
#define KP_MAX 192   /* pairs per K block at most (fc_bf16_gemm_block_pairs) */

/* How the tile's pairs are laid out: by pair (NCHW input: a pair's 12 pixels in one row of 16
 * words) or by pixel (channel-blocked input: a pixel's pairs in one row of KP_MAX words). */
enum { AL_PAIR, AL_PIXEL };

/* The K block's pairs [j0, j0 + np) of rows pixels (at most PMR) of x into ap; pairs past K and
 * pixels past rows read as 0. NCHW: x at the tile's pixel 0, xs between channels. */
static void pairs_nchw(const float *x, ptrdiff_t xs, int K, int rows, int j0, int np, uint32_t *ap) {
    vmask m = v_mask_first(rows);
    for (int j = 0; j < np; j++) {
        int k = 2 * (j0 + j);
        vf lo = v_loadm(x + (ptrdiff_t)k * xs, m);
        vf hi = k + 1 < K ? v_loadm(x + (ptrdiff_t)(k + 1) * xs, m) : v_zero();
        _mm512_store_si512(ap + 16 * j, fc_bf16_pairs16(lo, hi));
    }
}

/* Channel-blocked: x at the tile's pixel 0, xs between groups; pixel r's pairs at ap[r * KP_MAX]. */
static void pairs_cb(const float *x, ptrdiff_t xs, int K, int rows, int j0, int np, uint32_t *ap) {
    int k0 = 2 * j0, k1 = 2 * (j0 + np) < K ? 2 * (j0 + np) : K;
    for (int r = 0; r < rows; r++) {
        uint32_t *row = ap + r * KP_MAX;
        int k = k0;
        while (k < k1) {
            if (k % FC_CB == 0 && k + FC_CB <= k1) { /* a whole group: 16 channels into 8 pairs */
                vf v = v_load(x + (ptrdiff_t)(k / FC_CB) * xs + r * FC_CB);
                __m512i w = (__m512i)_mm512_cvtne2ps_pbh(v_zero(), v); /* words 0..7: (v[2i], v[2i+1]) */
                _mm256_storeu_si256((__m256i *)(row + (k - k0) / 2), _mm512_castsi512_si256(w));
                k += FC_CB;
                continue;
            }
            /* a block edge inside a group, or K's end: one pair */
            const float *g = x + (ptrdiff_t)(k / FC_CB) * xs + r * FC_CB + k % FC_CB;
            vf lo = v_set1(g[0]), hi = k + 1 < K ? v_set1(g[1]) : v_zero();
            row[(k - k0) / 2] = (uint32_t)_mm_cvtsi128_si32(_mm512_castsi512_si128(fc_bf16_pairs16(lo, hi)));
            k += 2;
        }
        for (int j = (k1 - k0 + 1) / 2; j < np; j++) row[j] = 0;
    }
    for (int r = rows; r < PMR; r++)
        for (int j = 0; j < np; j++) ap[r * KP_MAX + j] = 0;
}

/* rows pixels x nv vectors of channels over one K block's np pairs; first/last block: the epilogue
 * as the GEMM's (bias and residual on the first, y + sum on later ones, clamp and kind on the last). */
FC_INLINE void tile(const int rows, const int nv, const int al, const int kind, int np, const uint32_t *ap,
                    const uint32_t *b, int first, int last, const float *bias, vmask m0, vmask m1,
                    const float *res, float *y, ptrdiff_t ygs, int clamp, vf lo, vf hi, vf pa, vf pb) {
    vf acc[PMR][2];
FC_UNROLL(12)
    for (int r = 0; r < rows; r++) acc[r][0] = v_zero(), acc[r][1] = v_zero();
FC_UNROLL(2)
    for (int j = 0; j < np; j++) {
        __m512bh b0 = (__m512bh)_mm512_loadu_si512(b + (size_t)j * PNR);
        __m512bh b1 = nv > 1 ? (__m512bh)_mm512_loadu_si512(b + (size_t)j * PNR + VW) : b0;
FC_UNROLL(12)
        for (int r = 0; r < rows; r++) {
            __m512bh a = (__m512bh)_mm512_set1_epi32((int)ap[al == AL_PAIR ? j * 16 + r : r * KP_MAX + j]);
            acc[r][0] = _mm512_dpbf16_ps(acc[r][0], a, b0);
            if (nv > 1) acc[r][1] = _mm512_dpbf16_ps(acc[r][1], a, b1);
        }
    }
FC_UNROLL(12)
    for (int r = 0; r < rows; r++) {
        for (int v = 0; v < nv; v++) {
            float *yr = y + v * ygs + r * VW;
            vf t = acc[r][v];
            if (!first) {
                t = v_add(v_load(yr), t);
            } else {
                if (bias) t = v_add(t, v_loadm(bias + v * VW, v ? m1 : m0));
                if (res) t = v_add(t, v_load(res + v * ygs + r * VW));
            }
            if (last && clamp) t = v_clamp(t, lo, hi);
            if (last && kind != FC_ACT_NONE) t = v_act_kind(kind, t, pa, pb);
            v_store(yr, t);
        }
    }
}

/* A tile's pass over every panel of output channels for one K block. */
FC_INLINE void panels(const int rows, const int al, const int kind, int N, int np, int pairs_k, const uint32_t *ap,
                      const uint32_t *pb, int j0, int first, int last, const float *bias, const float *res, float *y,
                      ptrdiff_t ygs, int clamp, vf lo, vf hi, vf pa, vf pb_) {
    for (int n0 = 0; n0 < N; n0 += PNR) {
        int left = N - n0;
        vmask m0 = v_mask_first(left < VW ? left : VW), m1 = v_mask_first(left > PNR ? VW : left > VW ? left - VW : 0);
        const uint32_t *b = pb + (size_t)n0 * pairs_k + (size_t)j0 * PNR; /* panel n0/32, pair j0 */
        const float *bi = bias ? bias + n0 : NULL, *re = res ? res + (ptrdiff_t)(n0 / VW) * ygs : NULL;
        float *yq = y + (ptrdiff_t)(n0 / VW) * ygs;
        if (left > VW) tile(rows, 2, al, kind, np, ap, b, first, last, bi, m0, m1, re, yq, ygs, clamp, lo, hi, pa, pb_);
        else tile(rows, 1, al, kind, np, ap, b, first, last, bi, m0, m1, re, yq, ygs, clamp, lo, hi, pa, pb_);
    }
}

/* The activation other than the clamp after the last block (tail tiles: kind not in registers). */
static void post(int kind, float *y, ptrdiff_t ygs, int N, int rows, vf pa, vf pb) {
    for (int g = 0; g < (N + VW - 1) / VW; g++)
        for (int r = 0; r < rows; r++) {
            float *q = y + g * ygs + r * VW;
            v_store(q, v_act_kind(kind, v_load(q), pa, pb));
        }
}

void fc_bf16_conv1x1_cb__avx512bf16(int P, int N, int K, const float *x, ptrdiff_t xs, int x_cb,
                                    const float *pbf, float *y, ptrdiff_t ygs, const fc_epilogue *ep) {
    // x: (K, P) NCHW or channel-blocked; pbf: W^T as pair panels (pack_w); y: (N, P) channel-blocked
    if (P <= 0 || N <= 0) return;
    if (K < 0) K = 0;
    const uint32_t *pb = (const uint32_t *)(const void *)pbf;
    int pairs = (K + 1) / 2, kcp = pairs ? fc_bf16_gemm_block_pairs(pairs) : 0;
    int pairs_k = K; /* a pair panel keeps the f32 panel's stride: K * 32 words between panels */
    fc_act none = {FC_ACT_NONE, 0, 0};
    const fc_act *act = ep ? &ep->act : &none;
    const float *bias = ep ? ep->bias : NULL, *res = ep ? ep->residual : NULL;
    vf lo, hi;
    int kind = act->kind, clamp = v_act_bounds(act, &lo, &hi);
    vf pa = v_set1(act->a), pbv = v_set1(act->b);
    int postk = clamp ? FC_ACT_NONE : kind;
    _Alignas(64) uint32_t ap[16 * KP_MAX]; /* by pair: KP_MAX rows of 16 words; by pixel: PMR rows of KP_MAX */
    for (int p0 = 0; p0 < P; p0 += PMR) {
        int rows = P - p0 < PMR ? P - p0 : PMR;
        const float *xt = x + (ptrdiff_t)p0 * (x_cb ? FC_CB : 1);
        const float *rt = res ? res + (ptrdiff_t)p0 * VW : NULL;
        float *yt = y + (ptrdiff_t)p0 * VW;
        int j0 = 0;
        do {
            int np = pairs - j0 < kcp ? pairs - j0 : kcp;
            int first = j0 == 0, last = j0 + np >= pairs;
            if (x_cb) pairs_cb(xt, xs, K, rows, j0, np, ap);
            else pairs_nchw(xt, xs, K, rows, j0, np, ap);
            int al = x_cb ? AL_PIXEL : AL_PAIR;
            /* the kind in registers on full tiles; tails get it afterwards */
            int kr = rows == PMR && last ? postk : FC_ACT_NONE;
#define FC_PANELS_AT(R, AL, KIND, A, RES, Y) \
    panels(R, AL, KIND, N, np, pairs_k, A, pb, j0, first, last, bias, RES, Y, ygs, clamp, lo, hi, pa, pbv)
#define FC_PANELS(R, AL, KIND) FC_PANELS_AT(R, AL, KIND, ap, rt, yt)
            if (rows == PMR && al == AL_PAIR && kr == FC_ACT_SILU) FC_PANELS(PMR, AL_PAIR, FC_ACT_SILU);
            else if (rows == PMR && al == AL_PIXEL && kr == FC_ACT_SILU) FC_PANELS(PMR, AL_PIXEL, FC_ACT_SILU);
            else if (rows == PMR && al == AL_PAIR && kr == FC_ACT_HARDSWISH) FC_PANELS(PMR, AL_PAIR, FC_ACT_HARDSWISH);
            else if (rows == PMR && al == AL_PIXEL && kr == FC_ACT_HARDSWISH) FC_PANELS(PMR, AL_PIXEL, FC_ACT_HARDSWISH);
            else if (rows == PMR && al == AL_PAIR) {
                FC_PANELS(PMR, AL_PAIR, FC_ACT_NONE);
                kr = -1;
            } else if (rows == PMR) {
                FC_PANELS(PMR, AL_PIXEL, FC_ACT_NONE);
                kr = -1;
            } else { /* tiles of 8, 4, 2 and 1 pixels: few instances (f32-cb-impl.h's cb_tail) */
                for (int p = 0, r = 8; r > 0; r /= 2) {
                    if (rows - p < r) continue;
                    const uint32_t *aq = ap + (al == AL_PAIR ? p : p * KP_MAX);
                    const float *rq = rt ? rt + p * VW : NULL;
#define FC_TAIL(R)                                                                     \
    case R:                                                                            \
        if (al == AL_PAIR) FC_PANELS_AT(R, AL_PAIR, FC_ACT_NONE, aq, rq, yt + p * VW);  \
        else FC_PANELS_AT(R, AL_PIXEL, FC_ACT_NONE, aq, rq, yt + p * VW);               \
        break;
                    switch (r) { FC_TAIL(8) FC_TAIL(4) FC_TAIL(2) FC_TAIL(1) }
#undef FC_TAIL
                    p += r;
                }
                kr = -1;
            }
#undef FC_PANELS
#undef FC_PANELS_AT
            if (last && kr == -1 && postk != FC_ACT_NONE) post(postk, yt, ygs, N, rows, pa, pbv);
            j0 += np;
        } while (j0 < pairs);
    }
}

void fc_bf16_cb_pack_w__avx512bf16(int N, int K, const float *packed_a, float *pb) {
    // packed_a: the table's 12-row panels of bf16 pairs (K * 12 words apart, word (k/2) * 12 + n % 12
    // holding k even in its low half); pb: 32-column panels of W^T (K * 32 words apart) as pairs
    enum { MR = 12, NR = 32 };
    const uint32_t *a = (const uint32_t *)(const void *)packed_a;
    int np = (N + NR - 1) / NR;
    for (int q = 0; q < np; q++) {
        float *panel = pb + (size_t)q * K * NR;
        for (int k = 0; k < K; k++)
            for (int c = 0; c < NR; c++) {
                int n = q * NR + c;
                uint32_t w = n < N ? a[(size_t)(n / MR) * K * MR + (size_t)(k / 2) * MR + n % MR] : 0;
                uint32_t bits = (k % 2 ? w >> 16 : w & 0xffff) << 16; /* the bf16 value, exact in f32 */
                memcpy(panel + (size_t)k * NR + c, &bits, 4);
            }
        fc_bf16_gemm_pack_pairs__avx512bf16(panel, K, NR); /* exact values: the same bf16 again */
    }
}

const fc_cb_kernels fc_cb_kernels_avx512bf16 = {
    .conv1x1 = fc_bf16_conv1x1_cb__avx512bf16,
    .conv_taps = NULL, /* stems stay f32 in a bf16 model (engine/precision.h) */
    .dwconv = fc_f32_dwconv_cb_fastsig__avx512,
    .to_cb = fc_f32_to_cb__avx512,
    .from_cb = fc_f32_from_cb__avx512,
    .pack_w = fc_bf16_cb_pack_w__avx512bf16,
};
