/* f32 depthwise-convolution template of the SIMD "channels" kernels: VW channel planes per step
 * with channels in vector lanes (NCHW<VW>c inside the kernel; VW channels x 4 output pixels per FMA
 * chain group). VW planes are transposed into an on-stack, zero-padded strip of pixels x VW
 * channels, every output pixel is then a plain vector FMA chain over the taps (no per-plane edge
 * handling, no partially filled vectors however small the plane), and output rows are transposed
 * back into the planes. Every output is zero + w*x over the taps in tap order, + bias, then the
 * activation, whatever VW, the plane's path or the channel's place in the call, so the widths agree
 * bit for bit. Small planes (MobileNet's 28x28 .. 7x7 layers) are where the per-plane kernel loses
 * most; rows too wide for the strip buffer go to the per-plane kernel. The including file defines
 * the simd-<isa>.h vocabulary, includes f32-act-vec.h, and names DWCONV_CHANNELS (the function it
 * exports, an fc_f32_dwconv_channels_fn) and DWCONV_PLANE (its per-plane fallback). Not here:
 * threading over images and channel blocks (ops/conv.c). */
#ifndef FC_F32_DWCONV_CHANNELS_IMPL_H
#define FC_F32_DWCONV_CHANNELS_IMPL_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#define DWB 20480     /* on-stack strip buffer (input and output strips): 80 KiB */
#define GROUP 4       /* output pixels per FMA chain group */

/* One input row of nb (<= VW) planes into strip row dst: (Wp, VW), pixel u = input column u - PL,
 * zero outside [0, W) and in lanes >= nb (missing planes re-read plane nb-1 and are masked off, so
 * the loops are branch-free and the vectors stay in registers). */
static void fill_strip_row(const float *in, ptrdiff_t ics, int nb, int W, int PL, int Wp, float *dst) {
    int lo = PL < Wp ? PL : Wp, hi = PL + W < Wp ? PL + W : Wp;
    for (int u = 0; u < lo; u++) v_store(dst + VW * u, v_zero());
    for (int u = hi; u < Wp; u++) v_store(dst + VW * u, v_zero());
    vmask keep = v_mask_first(nb);
    vf r[VW];
    for (int x0 = 0; x0 < W && PL + x0 < Wp; x0 += VW) {
        int n = W - x0 < VW ? W - x0 : VW;
        if (n < VW && W >= VW) x0 = W - VW, n = VW; /* last group overlaps the previous one */
        /* one pointer stepping through the planes (16 pointers would not fit the registers) */
        const float *p = in + x0;
        if (n == VW) {
#pragma GCC unroll 16
            for (int c = 0; c < VW; c++) r[c] = v_load(p), p += c + 1 < nb ? ics : 0;
        } else {
            vmask m = v_mask_first(n);
#pragma GCC unroll 16
            for (int c = 0; c < VW; c++) r[c] = v_loadm(p, m), p += c + 1 < nb ? ics : 0;
        }
        v_transpose(r);
        float *d = dst + (size_t)VW * (PL + x0);
        int m = hi - PL - x0 < n ? hi - PL - x0 : n;
        /* unrolled with constant indices throughout, so that r stays in registers */
#pragma GCC unroll 16
        for (int t = 0; t < VW; t++)
            if (t < m) v_store(d + VW * t, v_keep(keep, r[t]));
    }
}

/* Output row: acc[ox] = sum_{i,j} w[i][j] * rows[i][(ox*sw + j*dil)], for ox < n rounded up to
 * GROUP; then + bias and the clamp [lo, hi]. rows[i]: strip rows (Wp, VW); o: (roundup(n, GROUP),
 * VW). kh, kw, sw (stride) and dil (dilation along the row) are compile-time constants at the
 * specialized call sites. */
FC_INLINE void strip_row(const int kh, const int kw, const int sw, const int dil,
                         const float *const *rows, const vf *wv, vf bias, vf lo, vf hi, float *o, int n) {
    for (int ox = 0; ox < n; ox += GROUP) {
        vf a[GROUP];
#pragma GCC unroll 4
        for (int u = 0; u < GROUP; u++) a[u] = v_zero();
#pragma GCC unroll 8
        for (int i = 0; i < kh; i++) {
            const float *p = rows[i] + (size_t)VW * ox * sw;
#pragma GCC unroll 8
            for (int j = 0; j < kw; j++)
#pragma GCC unroll 4
                for (int u = 0; u < GROUP; u++)
                    a[u] = v_fma(wv[i * kw + j], v_load(p + VW * (u * sw + j * dil)), a[u]);
        }
#pragma GCC unroll 4
        for (int u = 0; u < GROUP; u++) v_store(o + VW * (ox + u), v_clamp(v_add(a[u], bias), lo, hi));
    }
}

/* Transposes n consecutive output pixels o: (n, VW) into the nb planes of out (pixel i of plane c at
 * out[c*ocs + i]); groups of VW pixels, the last one overlapping its predecessor. stream: whole
 * groups at vector-aligned addresses are stored non-temporally. */
static void store_pixels(const float *o, int n, int nb, float *out, ptrdiff_t ocs, int stream) {
    vf r[VW];
    for (int x0 = 0; x0 < n; x0 += VW) {
        int cnt = n - x0 < VW ? n - x0 : VW;
        if (cnt < VW && n >= VW) x0 = n - VW, cnt = VW; /* overlap: rewrites equal values */
        if (cnt == VW) {
#pragma GCC unroll 16
            for (int t = 0; t < VW; t++) r[t] = v_load(o + (size_t)VW * (x0 + t));
        } else {
            for (int t = 0; t < VW; t++) r[t] = v_load(o + (size_t)VW * (x0 + (t < cnt ? t : 0)));
        }
        v_transpose(r);
        /* one pointer stepping through the planes, constant indices into r (registers) */
        float *p = out + x0;
        if (cnt == VW && nb == VW && stream &&
            ((uintptr_t)(out + x0) | (uintptr_t)(ocs * sizeof(float))) % (VW * sizeof(float)) == 0) {
#pragma GCC unroll 16
            for (int c = 0; c < VW; c++) v_stream(p, r[c]), p += ocs;
        } else if (cnt == VW) {
#pragma GCC unroll 16
            for (int c = 0; c < VW; c++)
                if (c < nb) v_store(p, r[c]), p += ocs;
        } else {
            _Alignas(64) float tmp[VW];
            for (int c = 0; c < nb; c++) {
                v_store(tmp, r[c]);
                for (int t = 0; t < cnt; t++) out[c * ocs + x0 + t] = tmp[t];
            }
        }
    }
}

/* The strip rows [oy0, oy1) of nb planes at ib into ost: (rows, OW) x VW, rows at stride OW (a
 * row's extra group pixels land on the next row's start, which is computed afterwards, and the last
 * row's in GROUP pixels of slack). buf: the input strip, rows of Wp pixels. */
static void strip_rows(const fc_conv2d_geom *g, int nb, const float *ib, ptrdiff_t ics, int Wp,
                       int oy0, int oy1, const vf *wv, vf bv, vf lo, vf hi, float *buf, float *ost) {
    const int H = g->in_h, W = g->in_w, KH = g->kh, KW = g->kw, SH = g->stride_h, SW = g->stride_w;
    const int PT = g->pad_top, PL = g->pad_left, dil_h = g->dil_h, dil_w = g->dil_w, OW = g->out_w;
    int y0 = oy0 * SH - PT, nrows = (oy1 - oy0 - 1) * SH + (KH - 1) * dil_h + 1;
    for (int v = 0; v < nrows; v++) {
        int y = y0 + v;
        float *dst = buf + (size_t)v * Wp * VW;
        if (y < 0 || y >= H)
            for (int u = 0; u < Wp; u++) v_store(dst + VW * u, v_zero());
        else
            fill_strip_row(ib + (size_t)y * W, ics, nb, W, PL, Wp, dst);
    }
    for (int oy = oy0; oy < oy1; oy++) {
        const float *rows[64];
        float *o = ost + (size_t)(oy - oy0) * OW * VW;
        for (int i = 0; i < KH; i++) rows[i] = buf + ((size_t)(oy - oy0) * SH + (size_t)i * dil_h) * Wp * VW;
#define FC_STRIP_ROW(kh, kw, sw, dil) strip_row(kh, kw, sw, dil, rows, wv, bv, lo, hi, o, OW)
        if (KH == 3 && KW == 3 && SW == 1 && dil_w == 1) FC_STRIP_ROW(3, 3, 1, 1);
        else if (KH == 3 && KW == 3 && SW == 2 && dil_w == 1) FC_STRIP_ROW(3, 3, 2, 1);
        else if (KH == 5 && KW == 5 && SW == 1 && dil_w == 1) FC_STRIP_ROW(5, 5, 1, 1);
        else if (KH == 5 && KW == 5 && SW == 2 && dil_w == 1) FC_STRIP_ROW(5, 5, 2, 1);
        else FC_STRIP_ROW(KH, KW, SW, dil_w);
#undef FC_STRIP_ROW
    }
}

/* The activation of n output pixels o: (n, VW) in place, the kind switched once outside the loop (a
 * switch per vector kept the exp of sigmoid and SiLU from overlapping across pixels). */
static void post_pixels(int kind, float *o, int n, vf a, vf b) {
#define FC_POST_CASE(K)                                                                          \
    case K:                                                                                      \
        for (int x = 0; x < n; x++) v_store(o + VW * x, v_act_kind(K, v_load(o + VW * x), a, b)); \
        return;
    switch (kind) {
        FC_POST_CASE(FC_ACT_LEAKY)
        FC_POST_CASE(FC_ACT_SIGMOID)
        FC_POST_CASE(FC_ACT_HARDSIGMOID)
        FC_POST_CASE(FC_ACT_HARDSWISH)
        FC_POST_CASE(FC_ACT_SILU)
    }
#undef FC_POST_CASE
}

void DWCONV_CHANNELS(const fc_conv2d_geom *g, int nch, const float *in, ptrdiff_t ics, const float *w,
                     const float *bias, const fc_act *act, float *out, ptrdiff_t ocs, int stream) {
    // in: nch planes (H, W) at stride ics; w: (nch, KH, KW); bias: (nch); out: nch planes (OH, OW)
    const int KH = g->kh, KW = g->kw, SH = g->stride_h, SW = g->stride_w;
    const int dil_h = g->dil_h, dil_w = g->dil_w, OH = g->out_h, OW = g->out_w;
    if (OH <= 0 || OW <= 0 || nch <= 0) return;
    int OWg = (OW + GROUP - 1) / GROUP * GROUP;
    int span = (KH - 1) * dil_h + 1; /* strip rows one output row needs */
    long wp = (long)(OWg - 1) * SW + (long)(KW - 1) * dil_w + 1;
    /* output rows per strip: the most whose input rows ((ro - 1)*SH + span rows of wp pixels) and
     * output (ro*OW pixels and the slack) fit the buffer together */
    long ro = SH < 1 ? 0 : (DWB / VW - (long)(span - SH) * wp - GROUP) / (SH * wp + OW);
    if (ro > OH) ro = OH;
    if (KH * KW > 64 || SH < 1 || SW < 1 || dil_h < 1 || dil_w < 1 || ro < 1) {
        for (int c = 0; c < nch; c++)
            DWCONV_PLANE(g, in + c * ics, w + (size_t)c * KH * KW, bias[c], act, out + c * ocs);
        return;
    }
    int kind = act ? act->kind : FC_ACT_NONE;
    vf lo = v_set1(-INFINITY), hi = v_set1(INFINITY), aa = v_set1(act ? act->a : 0.f),
       ab = v_set1(act ? act->b : 0.f);
    if (kind == FC_ACT_RELU) lo = v_zero();
    if (kind == FC_ACT_CLIP) lo = aa, hi = ab;
    int post = kind != FC_ACT_NONE && kind != FC_ACT_RELU && kind != FC_ACT_CLIP;
    _Alignas(64) float buf[DWB];
    float *ost = buf + ((ro - 1) * SH + span) * wp * VW; /* strip output, (pixels, VW), rows at stride OW */
    vf wv[64];
    for (int c0 = 0; c0 < nch; c0 += VW) {
        int nb = nch - c0 < VW ? nch - c0 : VW;
        /* tap vectors (lanes = channels; built in registers: a vector load of just-stored scalars
         * would stall on store forwarding) */
        float wl[VW];
        for (int t = 0; t < KH * KW; t++) {
            for (int c = 0; c < VW; c++) wl[c] = c < nb ? w[(size_t)(c0 + c) * KH * KW + t] : 0.f;
            wv[t] = v_lanes(wl);
        }
        for (int c = 0; c < VW; c++) wl[c] = c < nb ? bias[c0 + c] : 0.f;
        vf bv = v_lanes(wl);
        for (int oy0 = 0; oy0 < OH; oy0 += (int)ro) {
            int oy1 = oy0 + (int)ro < OH ? oy0 + (int)ro : OH;
            strip_rows(g, nb, in + c0 * ics, ics, (int)wp, oy0, oy1, wv, bv, lo, hi, buf, ost);
            int npix = (oy1 - oy0) * OW;
            if (post) post_pixels(kind, ost, npix, aa, ab);
            store_pixels(ost, npix, nb, out + c0 * ocs + (size_t)oy0 * OW, ocs, stream);
        }
    }
    if (stream) v_sfence();
}

#endif
