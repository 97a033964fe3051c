/* AVX2+FMA depthwise convolution of several channel planes per call with channels in vector lanes
 * (NCHW8c inside the kernel; tile 8 channels x 4 output pixels per FMA chain group): eight planes
 * are transposed into an on-stack, zero-padded strip of pixels x 8 channels, every output pixel is
 * then a plain vector FMA chain over the taps (no per-plane edge handling, no partially filled
 * vectors however small the plane), and output rows are transposed back into the eight planes.
 * Small planes (MobileNet's 28x28 .. 7x7 layers) are where the per-plane kernel loses most; rows
 * too wide for the strip buffer go to the per-plane kernel (f32-dwconv-plane-avx2.c). Compiled with
 * -mavx2 -mfma; reached only through a kernel table after the CPU check (the AVX-512 table uses it
 * too). Not here: threading over images and channel blocks (ops/conv.c). */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "engine/kernels/internal.h"
#include "engine/kernels/simd-avx2.h"
#include "engine/kernels/f32-act-vec.h"

#define DWB_IN 12288  /* on-stack input strip: 48 KiB */
#define DWB_OUT 8192  /* on-stack output strip: 32 KiB */
#define GROUP 4       /* output pixels per FMA chain group */

/* One input row of nb (<= 8) planes into strip row dst: (Wp, 8), pixel u = input column u - PL,
 * zero outside [0, W) and in lanes >= nb (missing planes re-read plane nb-1 and are masked off, so
 * the loops are branch-free and the vectors stay in registers). */
static void fill_row8(const float *in, ptrdiff_t ics, int nb, int W, int PL, int Wp, float *dst) {
    int lo = PL < Wp ? PL : Wp, hi = PL + W < Wp ? PL + W : Wp;
    for (int u = 0; u < lo; u++) v_store(dst + 8 * u, v_zero());
    for (int u = hi; u < Wp; u++) v_store(dst + 8 * u, v_zero());
    const float *src[8];
    for (int c = 0; c < 8; c++) src[c] = in + (c < nb ? c : nb - 1) * ics;
    vf keep = _mm256_castsi256_ps(v_mask_first(nb));
    vf r[8];
    for (int x0 = 0; x0 < W && PL + x0 < Wp; x0 += 8) {
        int n = W - x0 < 8 ? W - x0 : 8;
        if (n < 8 && W >= 8) x0 = W - 8, n = 8; /* last group overlaps the previous one */
        if (n == 8) {
#pragma GCC unroll 8
            for (int c = 0; c < 8; c++) r[c] = v_load(src[c] + x0);
        } else {
            vmask m = v_mask_first(n);
#pragma GCC unroll 8
            for (int c = 0; c < 8; c++) r[c] = v_loadm(src[c] + x0, m);
        }
        v_transpose8(r);
        float *d = dst + (size_t)8 * (PL + x0);
        int m = hi - PL - x0 < n ? hi - PL - x0 : n;
        if (m == 8) {
#pragma GCC unroll 8
            for (int t = 0; t < 8; t++) v_store(d + 8 * t, _mm256_and_ps(r[t], keep));
        } else {
            for (int t = 0; t < m; t++) v_store(d + 8 * t, _mm256_and_ps(r[t], keep));
        }
    }
}

/* Output row: acc[ox] = sum_{i,j} w[i][j] * rows[i][(ox*sw + j*dil)], for ox < n rounded up to
 * GROUP; then + bias and the clamp [lo, hi]. rows[i]: strip rows (Wp, 8); o: (roundup(n, GROUP),
 * 8). kh, kw, sw (stride) and dil (dilation along the row) are compile-time constants at the
 * specialized call sites. */
FC_INLINE void row8(const int kh, const int kw, const int sw, const int dil,
                    const float *const *rows, const vf *wv, vf bias, vf lo, vf hi, float *o, int n) {
    for (int ox = 0; ox < n; ox += GROUP) {
        vf a[GROUP];
#pragma GCC unroll 4
        for (int u = 0; u < GROUP; u++) a[u] = v_zero();
#pragma GCC unroll 8
        for (int i = 0; i < kh; i++) {
            const float *p = rows[i] + (size_t)8 * ox * sw;
#pragma GCC unroll 8
            for (int j = 0; j < kw; j++)
#pragma GCC unroll 4
                for (int u = 0; u < GROUP; u++)
                    a[u] = v_fma(wv[i * kw + j], v_load(p + 8 * (u * sw + j * dil)), a[u]);
        }
#pragma GCC unroll 4
        for (int u = 0; u < GROUP; u++) v_store(o + 8 * (ox + u), v_clamp(v_add(a[u], bias), lo, hi));
    }
}

/* Transposes n consecutive output pixels o: (n, 8) into the nb planes of out (pixel i of plane c at
 * out[c*ocs + i]); groups of eight pixels, the last one overlapping its predecessor. stream: whole
 * groups at 32-byte aligned addresses are stored non-temporally. */
static void store_pixels8(const float *o, int n, int nb, float *out, ptrdiff_t ocs, int stream) {
    vf r[8];
    for (int x0 = 0; x0 < n; x0 += 8) {
        int cnt = n - x0 < 8 ? n - x0 : 8;
        if (cnt < 8 && n >= 8) x0 = n - 8, cnt = 8; /* overlap: rewrites equal values */
        if (cnt == 8) {
#pragma GCC unroll 8
            for (int t = 0; t < 8; t++) r[t] = v_load(o + (size_t)8 * (x0 + t));
        } else {
            for (int t = 0; t < 8; t++) r[t] = v_load(o + (size_t)8 * (x0 + (t < cnt ? t : 0)));
        }
        v_transpose8(r);
        if (cnt == 8 && nb == 8 && stream && ((uintptr_t)(out + x0) | (uintptr_t)(ocs * sizeof(float))) % 32 == 0) {
#pragma GCC unroll 8
            for (int c = 0; c < 8; c++) v_stream(out + c * ocs + x0, r[c]);
        } else if (cnt == 8 && nb == 8) {
#pragma GCC unroll 8
            for (int c = 0; c < 8; c++) v_store(out + c * ocs + x0, r[c]);
        } else if (cnt == 8) {
            for (int c = 0; c < nb; c++) v_store(out + c * ocs + x0, r[c]);
        } else {
            _Alignas(32) float tmp[8];
            for (int c = 0; c < nb; c++) {
                v_store(tmp, r[c]);
                for (int t = 0; t < cnt; t++) out[c * ocs + x0 + t] = tmp[t];
            }
        }
    }
}

void fc_f32_dwconv_channels_8cx4__avx2(const fc_conv2d_geom *g, int nch, const float *in,
                                       ptrdiff_t ics, const float *w, const float *bias,
                                       const fc_act *act, float *out, ptrdiff_t ocs, int stream) {
    // in: nch planes (H, W) at stride ics; w: (nch, KH, KW); bias: (nch); out: nch planes (OH, OW)
    const int H = g->in_h, W = g->in_w, KH = g->kh, KW = g->kw, SH = g->stride_h, SW = g->stride_w;
    const int PT = g->pad_top, PL = g->pad_left, dil_h = g->dil_h, dil_w = g->dil_w;
    const int OH = g->out_h, OW = g->out_w;
    if (OH <= 0 || OW <= 0 || nch <= 0) return;
    int OWg = (OW + GROUP - 1) / GROUP * GROUP;
    int span = (KH - 1) * dil_h + 1; /* strip rows one output row needs */
    long wp = (long)(OWg - 1) * SW + (long)(KW - 1) * dil_w + 1;
    long cap = wp * 8 > DWB_IN ? 0 : DWB_IN / (wp * 8); /* input strip rows that fit */
    long ro = cap < span ? 0 : (cap - span) / SH + 1;   /* output rows per strip */
    if (ro * OW * 8 + OWg * 8 > DWB_OUT) ro = (DWB_OUT - OWg * 8) / (OW * 8);
    if (KH * KW > 64 || SH < 1 || SW < 1 || dil_h < 1 || dil_w < 1 || ro < 1) {
        for (int c = 0; c < nch; c++)
            fc_f32_dwconv_plane_4x8__avx2(g, in + c * ics, w + (size_t)c * KH * KW, bias[c], act,
                                          out + c * ocs);
        return;
    }
    int Wp = (int)wp;
    int kind = act ? act->kind : FC_ACT_NONE;
    vf lo = v_set1(-INFINITY), hi = v_set1(INFINITY), aa = v_set1(act ? act->a : 0.f),
       ab = v_set1(act ? act->b : 0.f);
    if (kind == FC_ACT_RELU) lo = v_zero();
    if (kind == FC_ACT_CLIP) lo = aa, hi = ab;
    int post = kind != FC_ACT_NONE && kind != FC_ACT_RELU && kind != FC_ACT_CLIP;
    _Alignas(64) float buf[DWB_IN];
    _Alignas(64) float ost[DWB_OUT]; /* strip output, (pixels, 8), rows at stride OW */
    vf wv[64];
    for (int c0 = 0; c0 < nch; c0 += 8) {
        int nb = nch - c0 < 8 ? nch - c0 : 8;
        const float *ib = in + c0 * ics;
        float *ob = out + c0 * ocs;
        /* tap vectors (lanes = channels; built in registers: a vector load of just-stored scalars
         * would stall on store forwarding) */
        float wl[8];
        for (int t = 0; t < KH * KW; t++) {
            for (int c = 0; c < 8; c++) wl[c] = c < nb ? w[(size_t)(c0 + c) * KH * KW + t] : 0.f;
            wv[t] = _mm256_setr_ps(wl[0], wl[1], wl[2], wl[3], wl[4], wl[5], wl[6], wl[7]);
        }
        for (int c = 0; c < 8; c++) wl[c] = c < nb ? bias[c0 + c] : 0.f;
        vf bv = _mm256_setr_ps(wl[0], wl[1], wl[2], wl[3], wl[4], wl[5], wl[6], wl[7]);
        for (int oy0 = 0; oy0 < OH; oy0 += (int)ro) {
            int oy1 = oy0 + (int)ro < OH ? oy0 + (int)ro : OH;
            int y0 = oy0 * SH - PT, nrows = (oy1 - oy0 - 1) * SH + span;
            for (int v = 0; v < nrows; v++) {
                int y = y0 + v;
                float *dst = buf + (size_t)v * Wp * 8;
                if (y < 0 || y >= H)
                    for (int u = 0; u < Wp; u++) v_store(dst + 8 * u, v_zero());
                else
                    fill_row8(ib + (size_t)y * W, ics, nb, W, PL, Wp, dst);
            }
            /* rows go to ost at stride OW: a row's extra group pixels land on the next row's start,
             * which is computed afterwards (and the last row's in the slack) */
            for (int oy = oy0; oy < oy1; oy++) {
                const float *rows[64];
                float *o = ost + (size_t)(oy - oy0) * OW * 8;
                for (int i = 0; i < KH; i++)
                    rows[i] = buf + ((size_t)(oy - oy0) * SH + (size_t)i * dil_h) * Wp * 8;
#define FC_ROW8(kh, kw, sw, dil) row8(kh, kw, sw, dil, rows, wv, bv, lo, hi, o, OW)
                if (KH == 3 && KW == 3 && SW == 1 && dil_w == 1) FC_ROW8(3, 3, 1, 1);
                else if (KH == 3 && KW == 3 && SW == 2 && dil_w == 1) FC_ROW8(3, 3, 2, 1);
                else if (KH == 5 && KW == 5 && SW == 1 && dil_w == 1) FC_ROW8(5, 5, 1, 1);
                else if (KH == 5 && KW == 5 && SW == 2 && dil_w == 1) FC_ROW8(5, 5, 2, 1);
                else FC_ROW8(KH, KW, SW, dil_w);
#undef FC_ROW8
            }
            int npix = (oy1 - oy0) * OW;
            if (post)
                for (int x = 0; x < npix; x++)
                    v_store(ost + 8 * x, v_act_kind(kind, v_load(ost + 8 * x), aa, ab));
            store_pixels8(ost, npix, nb, ob + (size_t)oy0 * OW, ocs, stream);
        }
    }
    if (stream) v_sfence();
}
