/* f32 channel-blocked kernel template (kernels.h, fc_cb_kernels) shared by the avx512 table and its
 * fast-sigmoid variant (the bf16 path's f32 steps): the including file includes simd-avx512.h and
 * f32-act-vec.h (with or without FC_FAST_SIGMOID) and names CB_CONV1X1, CB_CONV_TAPS and CB_DWCONV,
 * the functions it exports. How they work: f32-cb-avx512.c. */
#ifndef FC_F32_CB_IMPL_H
#define FC_F32_CB_IMPL_H

#include <math.h>

#if VW != FC_CB
#error "one vector per channel group"
#endif

#define PMR 12       /* pixels per 1x1 tile */
#define PNR (2 * VW) /* output channels per 1x1 tile: pack_b's panel width */
#define DW_GROUP 4   /* depthwise output pixels per FMA chain group */

/* ---- 1x1 convolution ------------------------------------------------------------------------ */

/* How a tile reads its inputs x(k, p), p the tile's pixels from x (its pixel 0): */
enum {
    XM_NCHW,  /* x[k * xs + p] */
    XM_CB,    /* x[(k / VW) * xs + p * VW + k % VW] */
    XM_TAPS1, /* x[koff[k] + p] */
    XM_TAPS2, /* x[koff[k] + 2 p] */
};

/* Floats between a tile's pixels in input mode xm. */
FC_INLINE int xm_step(const int xm) { return xm == XM_CB ? VW : xm == XM_TAPS2 ? 2 : 1; }

/* rows (<= PMR) pixels at x (pixel 0 of the tile) x nv vectors of channels: the whole epilogue;
 * kind is the activation applied in registers (FC_ACT_NONE: none, or the clamp). half (with nv =
 * 2): the second vector holds at most 8 channels (a panel of 17-24): its products run on 256-bit
 * halves, which cost half a 512-bit FMA where 512-bit operations take two 256-bit pipes (Zen 4;
 * a 1x1 to 24 channels 1.17x); the same operations on its 8 lanes, zeros in the other 8. A panel
 * of at most 8 alone stays 512-bit (measured slower on halves). */
FC_INLINE void cb_tile(const int rows, const int nv, const int half, const int xm, const int kind, int K, int kc,
                       const float *x, ptrdiff_t xs, const int *koff, const float *b, const float *bias, vmask m0, vmask m1,
                       const float *res, float *y, ptrdiff_t ygs, int clamp, vf lo, vf hi, vf pa, vf pb) {
    vf t[PMR][2];
    const int ps = xm_step(xm), nf = nv - half; /* 512-bit vectors per pixel */
    int k0 = 0;
    do {
        int k1 = K - k0 < kc ? K : k0 + kc;
        vf acc[PMR][2];
        __m256 acch[PMR]; /* the half vector's */
FC_UNROLL(12)
        for (int r = 0; r < rows; r++) {
            acc[r][0] = v_zero(), acc[r][1] = v_zero();
            if (half) acch[r] = _mm256_setzero_ps();
        }
FC_UNROLL(2)
        for (int k = k0; k < k1; k++) {
            vf b0 = v_load(b + (size_t)k * PNR);
            vf b1 = nf > 1 ? v_load(b + (size_t)k * PNR + VW) : b0;
            __m256 bh = half ? _mm256_loadu_ps(b + (size_t)k * PNR + VW) : _mm256_setzero_ps();
            const float *xk = xm == XM_CB     ? x + (ptrdiff_t)(k / VW) * xs + k % VW
                              : xm == XM_NCHW ? x + (ptrdiff_t)k * xs
                                              : x + koff[k];
FC_UNROLL(12)
            for (int r = 0; r < rows; r++) {
                vf a = v_bcast(xk + r * ps);
                if (nf > 0) acc[r][0] = v_fma(a, b0, acc[r][0]);
                if (nf > 1) acc[r][1] = v_fma(a, b1, acc[r][1]);
                if (half) acch[r] = _mm256_fmadd_ps(_mm512_castps512_ps256(a), bh, acch[r]);
            }
        }
FC_UNROLL(12)
        for (int r = 0; r < rows; r++) {
            if (half) acc[r][1] = _mm512_zextps256_ps512(acch[r]);
            if (k0 > 0) { /* the GEMM adds a later block's sum to C: C + acc */
                t[r][0] = v_add(t[r][0], acc[r][0]);
                if (nv > 1) t[r][1] = v_add(t[r][1], acc[r][1]);
                continue;
            }
            t[r][0] = acc[r][0], t[r][1] = acc[r][1];
            if (bias) {
                t[r][0] = v_add(t[r][0], v_loadm(bias, m0));
                if (nv > 1) t[r][1] = v_add(t[r][1], v_loadm(bias + VW, m1));
            }
            if (res) {
                t[r][0] = v_add(t[r][0], v_load(res + r * VW));
                if (nv > 1) t[r][1] = v_add(t[r][1], v_load(res + ygs + r * VW));
            }
        }
        k0 = k1;
    } while (k0 < K);
FC_UNROLL(12)
    for (int r = 0; r < rows; r++) {
        for (int v = 0; v < nv; v++) {
            vf u = t[r][v];
            if (clamp) u = v_clamp(u, lo, hi);
            if (kind != FC_ACT_NONE) u = v_act_kind(kind, u, pa, pb);
            v_store(y + v * ygs + r * VW, u);
        }
    }
}

/* Full tiles of one panel of output channels, the activation kind a constant. */
FC_INLINE void cb_full_tiles(const int nv, const int half, const int xm, const int kind, int P, int K, int kc,
                             const float *x, ptrdiff_t xs, const int *koff, const float *b, const float *bias, vmask m0,
                             vmask m1, const float *res, float *y, ptrdiff_t ygs, int clamp, vf lo, vf hi,
                             vf pa, vf pb) {
    const int ps = xm_step(xm);
    for (int p0 = 0; p0 + PMR <= P; p0 += PMR)
        cb_tile(PMR, nv, half, xm, kind, K, kc, x + p0 * ps, xs, koff, b, bias, m0, m1, res ? res + p0 * VW : NULL,
                y + p0 * VW, ygs, clamp, lo, hi, pa, pb);
}

/* The activations other than the clamp, in place on n pixels of one or two groups. */
static void cb_post(int kind, float *y, ptrdiff_t ygs, int nv, int n, vf pa, vf pb) {
    for (int v = 0; v < nv; v++)
        for (int p = 0; p < n; p++) {
            float *q = y + v * ygs + p * VW;
            v_store(q, v_act_kind(kind, v_load(q), pa, pb));
        }
}

/* The short last tile (rows < PMR) as tiles of 8, 4, 2 and 1 pixels: a pixel's sum does not depend
 * on its tile's other pixels, and four tile sizes instead of eleven keep the instances (and the
 * compile time under sanitizers) small. No activation but the clamp in registers (cb_post then). */
FC_INLINE void cb_tail(const int nv, const int half, const int xm, int rows, int K, int kc, const float *x, ptrdiff_t xs,
                       const int *koff, const float *b, const float *bias, vmask m0, vmask m1, const float *res, float *y,
                       ptrdiff_t ygs, int clamp, vf lo, vf hi) {
    const int ps = xm_step(xm);
    int p = 0;
#define FC_CB_TAIL(R)                                                                                     \
    if (rows - p >= R) {                                                                                  \
        cb_tile(R, nv, half, xm, FC_ACT_NONE, K, kc, x + p * ps, xs, koff, b, bias, m0, m1, res ? res + p * VW : NULL, \
                y + p * VW, ygs, clamp, lo, hi, lo, hi);                                                  \
        p += R;                                                                                           \
    }
    FC_CB_TAIL(8) FC_CB_TAIL(4) FC_CB_TAIL(2) FC_CB_TAIL(1)
#undef FC_CB_TAIL
}

/* One panel of output channels (nv vectors) over all pixels. */
FC_INLINE void cb_panel(const int nv, const int half, const int xm, int P, int K, int kc, const float *x, ptrdiff_t xs,
                        const int *koff, const float *b, const float *bias, vmask m0, vmask m1, const float *res, float *y,
                        ptrdiff_t ygs, const fc_act *act) {
    vf lo, hi;
    int kind = act->kind, clamp = v_act_bounds(act, &lo, &hi);
    vf pa = v_set1(act->a), pb = v_set1(act->b);
    int post = clamp ? FC_ACT_NONE : kind;
#define FC_CB_FULL(KIND) \
    cb_full_tiles(nv, half, xm, KIND, P, K, kc, x, xs, koff, b, bias, m0, m1, res, y, ygs, clamp, lo, hi, pa, pb)
    int handled = 1; /* the full tiles' activation applied in registers */
    switch (post) {
    case FC_ACT_NONE: FC_CB_FULL(FC_ACT_NONE); break;
    case FC_ACT_HARDSWISH: FC_CB_FULL(FC_ACT_HARDSWISH); break;
    case FC_ACT_SILU: FC_CB_FULL(FC_ACT_SILU); break;
    default: FC_CB_FULL(FC_ACT_NONE); handled = 0; break;
    }
#undef FC_CB_FULL
    int full = P / PMR * PMR, rows = P - full;
    const int ps = xm_step(xm);
    if (rows)
        cb_tail(nv, half, xm, rows, K, kc, x + full * ps, xs, koff, b, bias, m0, m1, res ? res + full * VW : NULL,
                y + full * VW, ygs, clamp, lo, hi);
    if (post != FC_ACT_NONE) {
        if (!handled) cb_post(post, y, ygs, nv, full, pa, pb);
        if (rows) cb_post(post, y + full * VW, ygs, nv, rows, pa, pb);
    }
}

/* The panels of output channels, xm (XM_*) a constant. */
FC_INLINE void cb_conv(const int xm, int P, int N, int K, const float *x, ptrdiff_t xs, const int *koff,
                       const float *pb, float *y, ptrdiff_t ygs, const fc_epilogue *ep) {
    if (P <= 0 || N <= 0) return;
    if (K < 0) K = 0;
    int kc = K ? fc_f32_gemm_kc_12x32__avx512(K) : 0;
    fc_act none = {FC_ACT_NONE, 0, 0};
    const fc_act *act = ep ? &ep->act : &none;
    const float *bias = ep ? ep->bias : NULL, *res = ep ? ep->residual : NULL;
    for (int n0 = 0; n0 < N; n0 += PNR) {
        int left = N - n0;
        vmask m0 = v_mask_first(left < VW ? left : VW), m1 = v_mask_first(left > PNR ? VW : left > VW ? left - VW : 0);
        const float *b = pb + (size_t)n0 * K, *bi = bias ? bias + n0 : NULL;
        const float *re = res ? res + (ptrdiff_t)(n0 / VW) * ygs : NULL;
        float *yq = y + (ptrdiff_t)(n0 / VW) * ygs;
        if (left > VW + 8) cb_panel(2, 0, xm, P, K, kc, x, xs, koff, b, bi, m0, m1, re, yq, ygs, act);
        else if (left > VW) cb_panel(2, 1, xm, P, K, kc, x, xs, koff, b, bi, m0, m1, re, yq, ygs, act);
        else cb_panel(1, 0, xm, P, K, kc, x, xs, koff, b, bi, m0, m1, re, yq, ygs, act);
    }
}

/* One function per input mode: four moderate functions, not one huge one, for the compiler. */
#define FC_CB_MODE(NAME, XM)                                                                                   \
    static void NAME(int P, int N, int K, const float *x, ptrdiff_t xs, const int *koff, const float *pb, float *y, \
                     ptrdiff_t ygs, const fc_epilogue *ep) {                                                   \
        cb_conv(XM, P, N, K, x, xs, koff, pb, y, ygs, ep);                                                     \
    }
FC_CB_MODE(cb_conv_nchw, XM_NCHW)
FC_CB_MODE(cb_conv_cb, XM_CB)
FC_CB_MODE(cb_conv_taps1, XM_TAPS1)
FC_CB_MODE(cb_conv_taps2, XM_TAPS2)
#undef FC_CB_MODE

void CB_CONV1X1(int P, int N, int K, const float *x, ptrdiff_t xs, int x_cb,
                               const float *pb, float *y, ptrdiff_t ygs, const fc_epilogue *ep) {
    // x: (K, P) channel-blocked or NCHW; pb: packed W^T (K, N); y: (N, P) channel-blocked
    (x_cb ? cb_conv_cb : cb_conv_nchw)(P, N, K, x, xs, NULL, pb, y, ygs, ep);
}

void CB_CONV_TAPS(int P, int N, int K, const float *x, const int *koff, int ps,
                                 const float *pb, float *y, ptrdiff_t ygs, const fc_epilogue *ep) {
    // x(k, p) = x[koff[k] + p * ps], ps 1 or 2; pb: packed W^T (K, N); y: (N, P) channel-blocked
    (ps == 2 ? cb_conv_taps2 : cb_conv_taps1)(P, N, K, x, 0, koff, pb, y, ygs, ep);
}

/* ---- depthwise convolution ------------------------------------------------------------------ */

/* Output pixels [ox0, ox1) of one row whose taps in columns all lie inside the input; tap rows
 * [i0, i1) inside. kh, kw, sw, dil_w are compile-time constants at the specialized call sites. */
FC_INLINE void dw_row_inner(const int kh, const int kw, const int sw, const int dil_w, int i0, int i1,
                            const float *row0, ptrdiff_t rstep, int ox0, int ox1, int pl, const vf *wv,
                            vf bias, vf lo, vf hi, float *o) {
    // row0: input row of tap row 0 (may lie outside the input when i0 > 0: never read then)
    int ox = ox0;
    for (; ox + DW_GROUP <= ox1; ox += DW_GROUP) {
        vf a[DW_GROUP];
FC_UNROLL(4)
        for (int u = 0; u < DW_GROUP; u++) a[u] = v_zero();
FC_UNROLL(8)
        for (int i = 0; i < kh; i++) {
            if (i < i0 || i >= i1) continue;
            const float *p = row0 + i * rstep + (ptrdiff_t)(ox * sw - pl) * VW;
FC_UNROLL(8)
            for (int j = 0; j < kw; j++)
FC_UNROLL(4)
                for (int u = 0; u < DW_GROUP; u++)
                    a[u] = v_fma(wv[i * kw + j], v_load(p + (u * sw + j * dil_w) * VW), a[u]);
        }
FC_UNROLL(4)
        for (int u = 0; u < DW_GROUP; u++) v_store(o + (ox + u) * VW, v_clamp(v_add(a[u], bias), lo, hi));
    }
    for (; ox < ox1; ox++) {
        vf a = v_zero();
FC_UNROLL(8)
        for (int i = 0; i < kh; i++) {
            if (i < i0 || i >= i1) continue;
            const float *p = row0 + i * rstep + (ptrdiff_t)(ox * sw - pl) * VW;
FC_UNROLL(8)
            for (int j = 0; j < kw; j++) a = v_fma(wv[i * kw + j], v_load(p + j * dil_w * VW), a);
        }
        v_store(o + ox * VW, v_clamp(v_add(a, bias), lo, hi));
    }
}

/* One output pixel with any taps outside the input (edges), taps from memory. */
static void dw_pixel_edge(const fc_conv2d_geom *g, int i0, int i1, const float *row0, ptrdiff_t rstep, int ox,
                          const float *w, vf bias, vf lo, vf hi, float *o) {
    vf a = v_zero();
    for (int i = i0; i < i1; i++)
        for (int j = 0; j < g->kw; j++) {
            int ix = ox * g->stride_w - g->pad_left + j * g->dil_w;
            if (ix < 0 || ix >= g->in_w) continue;
            a = v_fma(v_load(w + (size_t)(i * g->kw + j) * VW), v_load(row0 + i * rstep + (ptrdiff_t)ix * VW), a);
        }
    v_store(o + ox * VW, v_clamp(v_add(a, bias), lo, hi));
}

/* One output pixel of the specialized shapes with taps outside the input (an edge column): taps in
 * registers, the rows [i0, i1) and columns [j0, j1) inside. */
FC_INLINE void dw_pixel_spec(const int kh, const int kw, const int sw, const int dil_w, int i0, int i1,
                             const float *row0, ptrdiff_t rstep, int ox, int pl, int in_w, const vf *wv, vf bias,
                             vf lo, vf hi, float *o) {
    int x0 = ox * sw - pl, j0 = 0, j1 = kw;
    while (j0 < kw && x0 + j0 * dil_w < 0) j0++;
    while (j1 > j0 && x0 + (j1 - 1) * dil_w >= in_w) j1--;
    vf a = v_zero();
FC_UNROLL(8)
    for (int i = 0; i < kh; i++) {
        if (i < i0 || i >= i1) continue;
        const float *p = row0 + i * rstep + (ptrdiff_t)x0 * VW;
FC_UNROLL(8)
        for (int j = 0; j < kw; j++)
            if (j >= j0 && j < j1) a = v_fma(wv[i * kw + j], v_load(p + j * dil_w * VW), a);
    }
    v_store(o + ox * VW, v_clamp(v_add(a, bias), lo, hi));
}

/* One group: every output row. */
FC_INLINE void dw_group(const int kh, const int kw, const int sw, const int dil_w, const fc_conv2d_geom *g,
                        const float *in, const float *w, vf bias, vf lo, vf hi, int post, vf pa, vf pb,
                        float *out) {
    const int KH = kh ? kh : g->kh, KW = kw ? kw : g->kw;
    vf wv[25];
    if (kh) /* the specialized shapes keep their taps in registers */
        for (int t = 0; t < KH * KW; t++) wv[t] = v_load(w + (size_t)t * VW);
    const int SW = sw ? sw : g->stride_w, DW = dil_w ? dil_w : g->dil_w, pl = g->pad_left;
    /* output columns [lo_x, hi_x) read only columns inside the input */
    int lo_x = (pl + SW - 1) / SW, hi_x = g->out_w;
    while (hi_x > 0 && (hi_x - 1) * SW - pl + (KW - 1) * DW >= g->in_w) hi_x--;
    if (lo_x > hi_x) lo_x = hi_x;
    ptrdiff_t rstep = (ptrdiff_t)g->dil_h * g->in_w * VW;
    for (int oy = 0; oy < g->out_h; oy++) {
        int y0 = oy * g->stride_h - g->pad_top, i0 = 0, i1 = KH;
        while (i0 < KH && y0 + i0 * g->dil_h < 0) i0++;
        while (i1 > i0 && y0 + (i1 - 1) * g->dil_h >= g->in_h) i1--;
        const float *row0 = in + (ptrdiff_t)y0 * g->in_w * VW;
        float *o = out + (ptrdiff_t)oy * g->out_w * VW;
        int rx = hi_x > lo_x ? hi_x : lo_x; /* the right edge's first column */
        if (kh) {
            for (int ox = 0; ox < lo_x; ox++)
                dw_pixel_spec(kh, kw, sw, dil_w, i0, i1, row0, rstep, ox, pl, g->in_w, wv, bias, lo, hi, o);
            dw_row_inner(kh, kw, sw, dil_w, i0, i1, row0, rstep, lo_x, hi_x, pl, wv, bias, lo, hi, o);
            for (int ox = rx; ox < g->out_w; ox++)
                dw_pixel_spec(kh, kw, sw, dil_w, i0, i1, row0, rstep, ox, pl, g->in_w, wv, bias, lo, hi, o);
        } else {
            for (int ox = 0; ox < g->out_w; ox++) dw_pixel_edge(g, i0, i1, row0, rstep, ox, w, bias, lo, hi, o);
        }
        if (post != FC_ACT_NONE)
            for (int ox = 0; ox < g->out_w; ox++) v_store(o + ox * VW, v_act_kind(post, v_load(o + ox * VW), pa, pb));
    }
}

void CB_DWCONV(const fc_conv2d_geom *g, int ngroups, const float *in, ptrdiff_t igs,
                              const float *w, const float *bias, const fc_act *act, float *out, ptrdiff_t ogs) {
    // in: ngroups x (in_h, in_w, 16); w: (ngroups, kh*kw, 16); out: ngroups x (out_h, out_w, 16)
    fc_act none = {FC_ACT_NONE, 0, 0};
    if (!act) act = &none;
    vf lo, hi;
    int kind = act->kind, clamp = v_act_bounds(act, &lo, &hi);
    vf pa = v_set1(act->a), pb = v_set1(act->b);
    int post = clamp ? FC_ACT_NONE : kind, taps = g->kh * g->kw;
    for (int j = 0; j < ngroups; j++) {
        const float *ij = in + (ptrdiff_t)j * igs, *wj = w + (size_t)j * taps * VW;
        float *oj = out + (ptrdiff_t)j * ogs;
        vf bv = v_load(bias + (size_t)j * VW);
#define FC_DW(KH, KW, SW) dw_group(KH, KW, SW, 1, g, ij, wj, bv, lo, hi, post, pa, pb, oj)
        if (g->dil_w != 1) dw_group(0, 0, 0, 0, g, ij, wj, bv, lo, hi, post, pa, pb, oj);
        else if (g->kh == 3 && g->kw == 3 && g->stride_w == 1) FC_DW(3, 3, 1);
        else if (g->kh == 3 && g->kw == 3 && g->stride_w == 2) FC_DW(3, 3, 2);
        else if (g->kh == 5 && g->kw == 5 && g->stride_w == 1) FC_DW(5, 5, 1);
        else if (g->kh == 5 && g->kw == 5 && g->stride_w == 2) FC_DW(5, 5, 2);
        else dw_group(0, 0, 0, 0, g, ij, wj, bv, lo, hi, post, pa, pb, oj);
#undef FC_DW
    }
}

#endif
