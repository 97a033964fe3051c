/* Depthwise backward kernel template (layout and method in dwgrad.h), included once by dwconv.c (no
 * ISA flags: SSE2) and once by dwgrad-avx2.c (-mavx2): plain C loops whose fixed-width inner loops
 * of FC_DWG_LANES the compiler vectorizes. The including file defines DWG_NAME(channel function).
 * Not here: dispatch, threading. */
#ifndef FC_TRAIN_DWGRAD_IMPL_H
#define FC_TRAIN_DWGRAD_IMPL_H

#include <string.h>

#include "engine/train/dwgrad.h"

/* Valid range [*lo, *hi) of v < n with 0 <= v*s + x0 < lim. */
static inline void dwg_range(int x0, int s, int lim, int n, int *lo, int *hi) {
    int a = x0 >= 0 ? 0 : (-x0 + s - 1) / s;
    int b = lim - 1 - x0 < 0 ? 0 : (lim - 1 - x0) / s + 1;
    if (b > n) b = n;
    if (a > b) a = b;
    *lo = a, *hi = b;
}

/* The SH*SW phases of the padded plane src (H, W): writes the positions inside the input only; the
 * rest (padding, slack) is zero from dwg_zero_once and never written. */
static void dwg_phases(const fc_dwgrad_geom *g, const float *restrict src, float *restrict ph) {
    for (int py = 0; py < g->SH; py++)
        for (int px = 0; px < g->SW; px++) {
            float *p = ph + (size_t)(py * g->SW + px) * g->QS;
            int x0 = px - g->PL, lo, hi;
            dwg_range(x0, g->SW, g->W, g->QW, &lo, &hi);
            int hp = px < g->PW ? (g->PW - 1 - px) / g->SW + 1 : 0; /* inside the padded extent */
            if (hi > hp) hi = hp;
            for (int u = 0; u < g->QH && lo < hi; u++) {
                int yy = u * g->SH + py, y = yy - g->PT;
                if (yy >= g->PH || y < 0 || y >= g->H) continue;
                float *d = p + (size_t)u * g->QW;
                const float *s = src + (size_t)y * g->W;
                if (g->SW == 1) memcpy(d + lo, s + lo + x0, sizeof(float) * (hi - lo));
                else
                    for (int v = lo; v < hi; v++) d[v] = s[v * g->SW + x0];
            }
        }
}

/* Dp (L) from the dout plane (OH, OW): rows of QW; the columns past OW and the tail stay zero. */
static void dwg_dp(const fc_dwgrad_geom *g, const float *restrict src, float *restrict dp) {
    for (int oy = 0; oy < g->OH; oy++)
        memcpy(dp + (size_t)oy * g->QW, src + (size_t)oy * g->OW, sizeof(float) * g->OW);
}

/* Zeroes the phases and Dp once per call: every plane then writes the same positions only. */
static void dwg_zero_once(const fc_dwgrad_geom *g, float *scratch) {
    memset(scratch, 0, sizeof(float) * (2 * g->QS * g->SH * g->SW + g->L));
}

/* Offset of tap (i, j) into the phase block: phase index * QS + row/column shift. */
static inline size_t dwg_tap(const fc_dwgrad_geom *g, int i, int j) {
    int yy = i * g->DH, xx = j * g->DW;
    return (size_t)(yy % g->SH * g->SW + xx % g->SW) * g->QS + (size_t)(yy / g->SH) * g->QW +
           (size_t)(xx / g->SW);
}

/* acc (LANES) += s with tail added to lane 0. Each plane's partial sums start in registers and are added
 * to the running sums once (a copy through memory each time stalled the loads). */
static inline void dwg_add(float *restrict acc, float *restrict s, float tail) {
    s[0] += tail; /* in the register, not in acc: a scalar store would stall the next vector load */
    for (int l = 0; l < FC_DWG_LANES; l++) acc[l] += s[l];
}

/* acc (KH*KW, LANES) += the lane-wise products of Dp and each tap's phase window. */
static void dwg_dot(const fc_dwgrad_geom *g, const float *restrict dp, const float *restrict ph,
                    float *restrict acc) {
    for (int i = 0; i < g->KH; i++)
        for (int j = 0; j < g->KW; j++) {
            const float *b = ph + dwg_tap(g, i, j);
            float s[FC_DWG_LANES] = {0};
            for (int t = 0; t < g->L; t += FC_DWG_LANES)
                for (int l = 0; l < FC_DWG_LANES; l++) s[l] += dp[t + l] * b[t + l];
            dwg_add(acc + (size_t)(i * g->KW + j) * FC_DWG_LANES, s, 0);
        }
}

/* dph (phases, zeroed here) = sum over taps of w[tap] * Dp at the tap's offset. */
static void dwg_axpy(const fc_dwgrad_geom *g, const float *restrict dp, const float *w,
                     float *restrict dph) {
    memset(dph, 0, sizeof(float) * g->QS * g->SH * g->SW);
    for (int i = 0; i < g->KH; i++)
        for (int j = 0; j < g->KW; j++) {
            float *d = dph + dwg_tap(g, i, j), wv = w[i * g->KW + j];
            for (int t = 0; t < g->L; t += FC_DWG_LANES)
                for (int l = 0; l < FC_DWG_LANES; l++) d[t + l] += wv * dp[t + l];
        }
}

/* dst (H, W) = the input positions of the phase gradients (0 where no tap reads). */
static void dwg_crop(const fc_dwgrad_geom *g, const float *restrict dph, float *restrict dst) {
    for (int y = 0; y < g->H; y++) {
        float *d = dst + (size_t)y * g->W;
        int yy = y + g->PT;
        if (yy >= g->PH) {
            memset(d, 0, sizeof(float) * g->W);
            continue;
        }
        const float *rows = dph + (size_t)(yy % g->SH * g->SW) * g->QS + (size_t)(yy / g->SH) * g->QW;
        int hi = g->PW - g->PL < g->W ? g->PW - g->PL : g->W; /* columns a tap reads: x < hi */
        if (hi < 0) hi = 0;
        if (g->SW == 1) {
            memcpy(d, rows + g->PL, sizeof(float) * hi);
        } else { /* phase px holds the columns x with (x + PL) % SW == px: no division per element */
            for (int px = 0; px < g->SW; px++) {
                const float *r = rows + (size_t)px * g->QS;
                int x = ((px - g->PL) % g->SW + g->SW) % g->SW, v = (x + g->PL) / g->SW;
                for (; x < hi; x += g->SW, v++) d[x] = r[v];
            }
        }
        memset(d + hi, 0, sizeof(float) * (g->W - hi));
    }
}

/* acc (LANES) += the lanes of Dp. */
static void dwg_sum(const fc_dwgrad_geom *g, const float *restrict dp, float *restrict acc) {
    float s[FC_DWG_LANES] = {0};
    for (int t = 0; t < g->L; t += FC_DWG_LANES)
        for (int l = 0; l < FC_DWG_LANES; l++) s[l] += dp[t + l];
    dwg_add(acc, s, 0);
}

/* The sum of the LANES partial sums of acc, in lane order. */
static float dwg_lanes(const float *acc) {
    float s = 0;
    for (int l = 0; l < FC_DWG_LANES; l++) s += acc[l];
    return s;
}

/* ---- flat path (stride 1, output as large as the input) ---- */

/* Horizontal shift of kernel column j: the tap reads input column x = ox + sx. */
static inline int dwg_sx(const fc_dwgrad_geom *g, int j) { return j * g->DW - g->PL; }

/* Offset of tap (i, j) into Z_j for input position t: Z_j[t + off] = dout[y + PT - i*DH][x - sx]. */
static inline ptrdiff_t dwg_zoff(const fc_dwgrad_geom *g, int i, int j) {
    return g->ZF + (ptrdiff_t)(g->RT + g->PT - i * g->DH) * g->W - dwg_sx(g, j);
}

/* Zeroes the constant parts of the Z_j: the margins and the zero rows around dout. */
static void dwg_zinit(const fc_dwgrad_geom *g, float *Z) {
    size_t body = (size_t)g->ZF + (size_t)g->RT * g->W, hw = (size_t)g->H * g->W;
    for (int j = 0; j < g->KW; j++) {
        float *z = Z + (size_t)j * g->ZS;
        memset(z, 0, sizeof(float) * body);
        memset(z + body + hw, 0, sizeof(float) * (g->ZS - body - hw));
    }
}

/* Z_j = the dout plane (H, W) with the columns tap column j wraps into zeroed. */
static void dwg_zfill(const fc_dwgrad_geom *g, const float *restrict dout, float *restrict Z) {
    size_t body = (size_t)g->ZF + (size_t)g->RT * g->W, hw = (size_t)g->H * g->W;
    for (int j = 0; j < g->KW; j++) {
        float *z = Z + (size_t)j * g->ZS + body;
        int sx = dwg_sx(g, j), c0 = sx > 0 ? g->W - sx : 0, c1 = sx > 0 ? g->W : -sx;
        memcpy(z, dout, sizeof(float) * hw);
        for (int y = 0; y < g->H && c1 > c0; y++)
            for (int c = c0; c < c1 && c < g->W; c++) z[(size_t)y * g->W + c] = 0.0f;
    }
}

/* acc (KH*KW, LANES) += the lane-wise products of the input plane and each tap's Z_j window. */
static void dwg_flat_dot(const fc_dwgrad_geom *g, const float *restrict inp, const float *restrict Z,
                         float *restrict acc) {
    int hw = g->H * g->W, full = hw / FC_DWG_LANES * FC_DWG_LANES;
    for (int i = 0; i < g->KH; i++)
        for (int j = 0; j < g->KW; j++) {
            const float *b = Z + (size_t)j * g->ZS + dwg_zoff(g, i, j);
            float s[FC_DWG_LANES] = {0}, tail = 0;
            for (int t = 0; t < full; t += FC_DWG_LANES)
                for (int l = 0; l < FC_DWG_LANES; l++) s[l] += inp[t + l] * b[t + l];
            for (int t = full; t < hw; t++) tail += inp[t] * b[t];
            dwg_add(acc + (size_t)(i * g->KW + j) * FC_DWG_LANES, s, tail);
        }
}

/* dinp[t] = sum over taps (row-major) of w[tap] * Z_j[t + off], LANES outputs at a time. */
static void dwg_flat_dinp(const fc_dwgrad_geom *g, const float *restrict Z, const float *w,
                          float *restrict dinp) {
    int hw = g->H * g->W, kk = g->KH * g->KW, full = hw / FC_DWG_LANES * FC_DWG_LANES;
    const float *tap[FC_DWG_MAXTAPS]; /* each tap's Z_j window at t = 0 */
    for (int i = 0; i < g->KH; i++)
        for (int j = 0; j < g->KW; j++) tap[i * g->KW + j] = Z + (size_t)j * g->ZS + dwg_zoff(g, i, j);
    for (int t0 = 0; t0 < full; t0 += FC_DWG_LANES) {
        float a[FC_DWG_LANES] = {0};
        for (int k = 0; k < kk; k++) {
            const float *b = tap[k] + t0;
            float wv = w[k];
            for (int l = 0; l < FC_DWG_LANES; l++) a[l] += wv * b[l];
        }
        memcpy(dinp + t0, a, sizeof a);
    }
    for (int t = full; t < hw; t++) { /* the tail, in the same order */
        float v = 0;
        for (int k = 0; k < kk; k++) v += w[k] * tap[k][t];
        dinp[t] = v;
    }
}

/* acc (LANES) += dout's lanes (dbias), for the flat path's plane. */
static void dwg_flat_sum(int n, const float *restrict x, float *restrict acc) {
    int full = n / FC_DWG_LANES * FC_DWG_LANES;
    float s[FC_DWG_LANES] = {0}, tail = 0;
    for (int t = 0; t < full; t += FC_DWG_LANES)
        for (int l = 0; l < FC_DWG_LANES; l++) s[l] += x[t + l];
    for (int t = full; t < n; t++) tail += x[t];
    dwg_add(acc, s, tail);
}

/* One plane (n, c): the phase path or the flat path; a = the channel's accumulators. */
static void dwg_plane(const fc_dwgrad_geom *g, const float *inp, const float *dout, const float *w,
                      float *dinp, int want_dw, int want_db, float *scratch, float *a) {
    int kk = g->KH * g->KW;
    if (g->same) {
        dwg_zfill(g, dout, scratch);
        if (want_dw) dwg_flat_dot(g, inp, scratch, a);
        if (want_db) dwg_flat_sum(g->H * g->W, dout, a + (size_t)kk * FC_DWG_LANES);
        if (dinp) dwg_flat_dinp(g, scratch, w, dinp);
        return;
    }
    size_t phs = g->QS * g->SH * g->SW;
    float *ph = scratch, *dph = ph + phs, *dp = dph + phs;
    dwg_dp(g, dout, dp);
    if (want_dw) {
        dwg_phases(g, inp, ph);
        dwg_dot(g, dp, ph, a);
    }
    if (want_db) dwg_sum(g, dp, a + (size_t)kk * FC_DWG_LANES);
    if (dinp) {
        dwg_axpy(g, dp, w, dph);
        dwg_crop(g, dph, dinp);
    }
}

void DWG_NAME(const fc_dwgrad_geom *g, int c0, int c1, const float *inp, const float *dout,
              const float *weight, float *dinp, float *dweight, float *dbias, float *scratch) {
    // inp, dinp are (N,C,H,W), dout is (N,C,OH,OW); weight, dweight are (C,KH*KW), dbias (C)
    int kk = g->KH * g->KW, nc = c1 - c0;
    size_t plane = (size_t)g->H * g->W, oplane = (size_t)g->OH * g->OW;
    size_t planes = g->same ? g->ZS * g->KW : 2 * g->QS * g->SH * g->SW + g->L;
    float *acc = scratch + planes; /* (nc, kk + 1, LANES): per channel, the taps then the bias */
    size_t per = (size_t)(kk + 1) * FC_DWG_LANES;
    memset(acc, 0, sizeof(float) * per * nc);
    if (g->same) dwg_zinit(g, scratch);
    else dwg_zero_once(g, scratch);
    /* images outer, channels inner: the planes of a block are adjacent in memory, so each image's
     * block streams through once; every channel still adds its images in order */
    for (int n = 0; n < g->N; n++)
        for (int c = c0; c < c1; c++) {
            size_t at = (size_t)n * g->C + c;
            dwg_plane(g, inp ? inp + at * plane : NULL, dout + at * oplane, weight + (size_t)c * kk,
                      dinp ? dinp + at * plane : NULL, dweight != NULL, dbias != NULL, scratch,
                      acc + per * (c - c0));
        }
    for (int c = c0; c < c1; c++) {
        const float *a = acc + per * (c - c0);
        for (int t = 0; dweight && t < kk; t++) dweight[(size_t)c * kk + t] = dwg_lanes(a + t * FC_DWG_LANES);
        if (dbias) dbias[c] = dwg_lanes(a + (size_t)kk * FC_DWG_LANES);
    }
}

#endif
