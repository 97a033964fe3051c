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
FC_UNROLL(16)
            for (int c = 0; c < VW; c++) r[c] = v_load(p), p += c + 1 < nb ? ics : 0;
        } else {
            vmask m = v_mask_first(n);
FC_UNROLL(16)
            for (int c = 0; c < VW; c++) r[c] = v_loadm(p, m), p += c + 1 < nb ? ics : 0;
        }
        v_transpose(r);
        float *d = dst + (size_t)VW * (PL + x0);
        int m = hi - PL - x0 < n ? hi - PL - x0 : n;
        /* unrolled with constant indices throughout, so that r stays in registers */
FC_UNROLL(16)
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
FC_UNROLL(4)
        for (int u = 0; u < GROUP; u++) a[u] = v_zero();
FC_UNROLL(8)
        for (int i = 0; i < kh; i++) {
            const float *p = rows[i] + (size_t)VW * ox * sw;
FC_UNROLL(8)
            for (int j = 0; j < kw; j++)
FC_UNROLL(4)
                for (int u = 0; u < GROUP; u++)
                    a[u] = v_fma(wv[i * kw + j], v_load(p + VW * (u * sw + j * dil)), a[u]);
        }
FC_UNROLL(4)
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
FC_UNROLL(16)
            for (int t = 0; t < VW; t++) r[t] = v_load(o + (size_t)VW * (x0 + t));
        } else {
            for (int t = 0; t < VW; t++) r[t] = v_load(o + (size_t)VW * (x0 + (t < cnt ? t : 0)));
        }
        v_transpose(r);
        /* one pointer stepping through the planes, constant indices into r (registers) */
        float *p = out + x0;
        if (cnt == VW && nb == VW && stream &&
            ((uintptr_t)(out + x0) | (uintptr_t)(ocs * sizeof(float))) % (VW * sizeof(float)) == 0) {
FC_UNROLL(16)
            for (int c = 0; c < VW; c++) v_stream(p, r[c]), p += ocs;
        } else if (cnt == VW) {
FC_UNROLL(16)
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

/* Tap vectors wv[t] (lanes = the nb <= VW channels at w: (nb, taps), zero past nb): the channels'
 * tap rows transposed, VW taps at a time (a vector built lane by lane costs more than a transpose:
 * on 7x7 planes, as much as the taps' FMAs). */
static void tap_vectors(const float *w, int nb, int taps, vf *wv) {
    for (int t0 = 0; t0 < taps; t0 += VW) {
        int n = taps - t0 < VW ? taps - t0 : VW;
        vmask m = v_mask_first(n);
        vf r[VW];
FC_UNROLL(16)
        for (int c = 0; c < VW; c++) r[c] = c < nb ? v_loadm(w + (size_t)c * taps + t0, m) : v_zero();
        v_transpose(r);
FC_UNROLL(16)
        for (int t = 0; t < VW; t++)
            if (t < n) wv[t0 + t] = r[t];
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

#if VW == 16
/* Small planes at stride 1 whose output rows are as wide as the input rows (OW == W, "same"
 * padding): in the flat plane, output pixel q reads tap (i, j) at q + (i*dil_h - PT)*W + (j*dil_w -
 * PL), one offset per tap. So a vector of 16 consecutive output pixels (across rows) is one masked
 * load and one FMA per tap, straight from the NCHW plane: no transposes, which on 28x28 .. 7x7
 * planes cost more than the taps' FMAs. The mask drops the lanes whose tap falls outside the
 * input plane (the padding; lanes past the last output pixel, which are not stored, may read
 * inside it); a masked lane is read from nowhere, so the address may lie before or past the plane,
 * and gives the 0 the strip's padding gives: every output is the same zero + w*x over all taps in
 * tap order as on the strip path, bit for bit. 3x3 only: 5x5 planes (25 unaligned loads per
 * vector) ran 10-35% slower than with the transposes. */
#define FLAT_MAX_P 1024 /* output pixels: 64 vectors (28x28 and smaller planes) */

static int flat_fits(const fc_conv2d_geom *g) {
    return g->kh == 3 && g->kw == 3 && g->stride_h == 1 && g->stride_w == 1 &&
           g->out_w == g->in_w && (long)g->out_h * g->out_w <= FLAT_MAX_P;
}

/* offs[t]: tap t's offset in the flat plane; masks[c * 9 + t]: the lanes of output vector c
 * (pixels 16c .. 16c + 15) whose tap t lies inside the plane. */
static void flat_masks(const fc_conv2d_geom *g, int vecs, ptrdiff_t *offs, __mmask16 *masks) {
    const int H = g->in_h, W = g->in_w;
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            offs[i * 3 + j] =
                (ptrdiff_t)(i * g->dil_h - g->pad_top) * W + (j * g->dil_w - g->pad_left);
    const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i vH = _mm512_set1_epi32(H), vW = _mm512_set1_epi32(W);
    const __m512i zero = _mm512_setzero_si512();
    for (int c = 0; c < vecs; c++) {
        __m512i q = _mm512_add_epi32(_mm512_set1_epi32(16 * c), iota);
        /* oy = floor(q / W) in floats: exact, q < 2^24 and (q + 0.5) / W is 0.5/W from an integer */
        __m512 qh = _mm512_add_ps(_mm512_cvtepi32_ps(q), _mm512_set1_ps(0.5f));
        __m512i oy = _mm512_cvttps_epi32(_mm512_div_ps(qh, _mm512_set1_ps((float)W)));
        __m512i ox = _mm512_sub_epi32(q, _mm512_mullo_epi32(oy, vW));
        __mmask16 rows[3], cols[3];
        for (int i = 0; i < 3; i++) {
            __m512i y = _mm512_add_epi32(oy, _mm512_set1_epi32(i * g->dil_h - g->pad_top));
            rows[i] = _mm512_cmpge_epi32_mask(y, zero) & _mm512_cmplt_epi32_mask(y, vH);
        }
        for (int j = 0; j < 3; j++) {
            __m512i x = _mm512_add_epi32(ox, _mm512_set1_epi32(j * g->dil_w - g->pad_left));
            cols[j] = _mm512_cmpge_epi32_mask(x, zero) & _mm512_cmplt_epi32_mask(x, vW);
        }
        for (int t = 0; t < 9; t++) masks[c * 9 + t] = rows[t / 3] & cols[t % 3];
    }
}

/* The FMA chains of output vectors [c0, c0 + n) of nc planes (n <= 4 and nc <= 2 compile-time
 * constants at the call sites: up to 8 independent chains, sharing the tap masks), + bias and the
 * clamp, stored; lanes past the plane are not stored. */
FC_INLINE void flat_vectors(const int n, const int nc, const float *in, ptrdiff_t ics,
                            const float *w, const ptrdiff_t *offs, const __mmask16 *masks, int c0, int P,
                            const vf *bias, vf lo, vf hi, float *out, ptrdiff_t ocs) {
    vf a[2][4];
FC_UNROLL(2)
    for (int c = 0; c < nc; c++)
FC_UNROLL(4)
        for (int u = 0; u < n; u++) a[c][u] = v_zero();
FC_UNROLL(9)
    for (int t = 0; t < 9; t++) {
FC_UNROLL(4)
        for (int u = 0; u < n; u++) {
            __mmask16 m = masks[(c0 + u) * 9 + t];
            const float *p = in + 16 * (ptrdiff_t)(c0 + u) + offs[t];
FC_UNROLL(2)
            for (int c = 0; c < nc; c++)
                a[c][u] = v_fma(v_set1(w[c * 9 + t]), v_loadm(p + c * ics, m), a[c][u]);
        }
    }
FC_UNROLL(2)
    for (int c = 0; c < nc; c++)
FC_UNROLL(4)
        for (int u = 0; u < n; u++) {
            int q = 16 * (c0 + u);
            vf r = v_clamp(v_add(a[c][u], bias[c]), lo, hi);
            if (P - q >= 16) v_store(out + c * ocs + q, r);
            else v_storem(out + c * ocs + q, v_mask_first(P - q), r);
        }
}

/* nc (<= 2) planes' output vectors, 4 at a time. */
FC_INLINE void flat_plane(const int nc, int vecs, int P, const float *in, ptrdiff_t ics,
                          const float *w, const ptrdiff_t *offs, const __mmask16 *masks, const vf *bias,
                          vf lo, vf hi, float *out, ptrdiff_t ocs) {
    int c0 = 0;
    for (; c0 + 4 <= vecs; c0 += 4)
        flat_vectors(4, nc, in, ics, w, offs, masks, c0, P, bias, lo, hi, out, ocs);
    switch (vecs - c0) {
    case 3: flat_vectors(3, nc, in, ics, w, offs, masks, c0, P, bias, lo, hi, out, ocs); break;
    case 2: flat_vectors(2, nc, in, ics, w, offs, masks, c0, P, bias, lo, hi, out, ocs); break;
    case 1: flat_vectors(1, nc, in, ics, w, offs, masks, c0, P, bias, lo, hi, out, ocs); break;
    }
}

/* Every plane of the call on the flat path, two at a time; then the activations that are not a
 * clamp, in place. */
static void flat_planes(const fc_conv2d_geom *g, int nch, const float *in, ptrdiff_t ics, const float *w,
                        const float *bias, vf lo, vf hi, int post, int kind, vf aa, vf ab, float *out,
                        ptrdiff_t ocs) {
    const int P = g->out_h * g->out_w, vecs = (P + 15) / 16;
    ptrdiff_t offs[9];
    __mmask16 masks[FLAT_MAX_P / 16 * 9];
    flat_masks(g, vecs, offs, masks);
    for (int c = 0; c < nch; c += 2) {
        int nc = nch - c < 2 ? nch - c : 2;
        vf bv[2] = {v_set1(bias[c]), v_set1(bias[c + nc - 1])};
        const float *ic = in + c * ics, *wc = w + (size_t)c * 9;
        float *oc = out + c * ocs;
        if (nc == 2) flat_plane(2, vecs, P, ic, ics, wc, offs, masks, bv, lo, hi, oc, ocs);
        else flat_plane(1, vecs, P, ic, ics, wc, offs, masks, bv, lo, hi, oc, ocs);
    }
    for (int c = 0; post && c < nch; c++) {
        float *oc = out + c * ocs;
        post_pixels(kind, oc, P / 16, aa, ab);
        if (P % 16) {
            vmask m = v_mask_first(P % 16);
            float *t = oc + P / 16 * 16;
            v_storem(t, m, v_act_kind(kind, v_loadm(t, m), aa, ab));
        }
    }
}
#endif

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
    int kind = act ? act->kind : FC_ACT_NONE;
    vf lo = v_set1(-INFINITY), hi = v_set1(INFINITY), aa = v_set1(act ? act->a : 0.f),
       ab = v_set1(act ? act->b : 0.f);
    if (kind == FC_ACT_RELU) lo = v_zero();
    if (kind == FC_ACT_CLIP) lo = aa, hi = ab;
    int post = kind != FC_ACT_NONE && kind != FC_ACT_RELU && kind != FC_ACT_CLIP;
#if VW == 16
    if (flat_fits(g)) {
        flat_planes(g, nch, in, ics, w, bias, lo, hi, post, kind, aa, ab, out, ocs);
        return;
    }
#endif
    if (KH * KW > 64 || SH < 1 || SW < 1 || dil_h < 1 || dil_w < 1 || ro < 1) {
        for (int c = 0; c < nch; c++)
            DWCONV_PLANE(g, in + c * ics, w + (size_t)c * KH * KW, bias[c], act, out + c * ocs);
        return;
    }
    _Alignas(64) float buf[DWB];
    float *ost = buf + ((ro - 1) * SH + span) * wp * VW; /* strip output, (pixels, VW), rows at stride OW */
    vf wv[64];
    for (int c0 = 0; c0 < nch; c0 += VW) {
        int nb = nch - c0 < VW ? nch - c0 : VW;
        tap_vectors(w + (size_t)c0 * KH * KW, nb, KH * KW, wv);
        vf bv = v_loadm(bias + c0, v_mask_first(nb));
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
