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

/* The SH*SW phases of the padded plane src (H, W), zero outside the input and in the slack. */
static void dwg_phases(const fc_dwgrad_geom *g, const float *restrict src, float *restrict ph) {
    for (int py = 0; py < g->SH; py++)
        for (int px = 0; px < g->SW; px++) {
            float *p = ph + (size_t)(py * g->SW + px) * g->QS;
            int x0 = px - g->PL, lo, hi;
            dwg_range(x0, g->SW, g->W, g->QW, &lo, &hi);
            int hp = px < g->PW ? (g->PW - 1 - px) / g->SW + 1 : 0; /* inside the padded extent */
            if (hi > hp) hi = hp;
            if (lo > hi) lo = hi;
            for (int u = 0; u < g->QH; u++) {
                float *d = p + (size_t)u * g->QW;
                int yy = u * g->SH + py, y = yy - g->PT;
                if (yy >= g->PH || y < 0 || y >= g->H) {
                    memset(d, 0, sizeof(float) * g->QW);
                    continue;
                }
                const float *s = src + (size_t)y * g->W;
                memset(d, 0, sizeof(float) * lo);
                if (g->SW == 1) memcpy(d + lo, s + lo + x0, sizeof(float) * (hi - lo));
                else
                    for (int v = lo; v < hi; v++) d[v] = s[v * g->SW + x0];
                memset(d + hi, 0, sizeof(float) * (g->QW - hi));
            }
            memset(p + (size_t)g->QH * g->QW, 0, sizeof(float) * (g->QS - (size_t)g->QH * g->QW));
        }
}

/* Dp (L) from the dout plane (OH, OW): rows of QW, zero past OW and after the last row. */
static void dwg_dp(const fc_dwgrad_geom *g, const float *restrict src, float *restrict dp) {
    for (int oy = 0; oy < g->OH; oy++) {
        memcpy(dp + (size_t)oy * g->QW, src + (size_t)oy * g->OW, sizeof(float) * g->OW);
        memset(dp + (size_t)oy * g->QW + g->OW, 0, sizeof(float) * (g->QW - g->OW));
    }
    memset(dp + (size_t)g->OH * g->QW, 0, sizeof(float) * (g->L - (size_t)g->OH * g->QW));
}

/* Offset of tap (i, j) into the phase block: phase index * QS + row/column shift. */
static inline size_t dwg_tap(const fc_dwgrad_geom *g, int i, int j) {
    int yy = i * g->DH, xx = j * g->DW;
    return (size_t)(yy % g->SH * g->SW + xx % g->SW) * g->QS + (size_t)(yy / g->SH) * g->QW +
           (size_t)(xx / g->SW);
}

/* acc (KH*KW, LANES) += the lane-wise products of Dp and each tap's phase window. */
static void dwg_dot(const fc_dwgrad_geom *g, const float *restrict dp, const float *restrict ph,
                    float *restrict acc) {
    for (int i = 0; i < g->KH; i++)
        for (int j = 0; j < g->KW; j++) {
            const float *b = ph + dwg_tap(g, i, j);
            float s[FC_DWG_LANES];
            float *a = acc + (size_t)(i * g->KW + j) * FC_DWG_LANES;
            memcpy(s, a, sizeof s);
            for (int t = 0; t < g->L; t += FC_DWG_LANES)
                for (int l = 0; l < FC_DWG_LANES; l++) s[l] += dp[t + l] * b[t + l];
            memcpy(a, s, sizeof s);
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
        if (g->SW == 1) memcpy(d, rows + g->PL, sizeof(float) * hi);
        else
            for (int x = 0; x < hi; x++) {
                int xx = x + g->PL;
                d[x] = rows[(size_t)(xx % g->SW) * g->QS + xx / g->SW];
            }
        memset(d + hi, 0, sizeof(float) * (g->W - hi));
    }
}

void DWG_NAME(const fc_dwgrad_geom *g, int c, const float *inp, const float *dout, const float *w,
              float *dinp, float *dweight, float *dbias, float *scratch) {
    // inp, dinp are (N,C,H,W), dout is (N,C,OH,OW); w, dweight are this channel's (KH*KW)
    int kk = g->KH * g->KW, phases = g->SH * g->SW;
    float *ph = scratch, *dph = ph + g->QS * phases, *dp = dph + g->QS * phases;
    float *acc = dp + g->L, bacc[FC_DWG_LANES] = {0}; /* acc: (kk, LANES) */
    size_t plane = (size_t)g->H * g->W, oplane = (size_t)g->OH * g->OW;
    memset(acc, 0, sizeof(float) * kk * FC_DWG_LANES);
    for (int n = 0; n < g->N; n++) {
        size_t at = (size_t)n * g->C + c;
        dwg_dp(g, dout + at * oplane, dp);
        if (dweight) {
            dwg_phases(g, inp + at * plane, ph);
            dwg_dot(g, dp, ph, acc);
        }
        if (dbias)
            for (int t = 0; t < g->L; t += FC_DWG_LANES)
                for (int l = 0; l < FC_DWG_LANES; l++) bacc[l] += dp[t + l];
        if (dinp) {
            dwg_axpy(g, dp, w, dph);
            dwg_crop(g, dph, dinp + at * plane);
        }
    }
    for (int t = 0; dweight && t < kk; t++) {
        float s = 0;
        for (int l = 0; l < FC_DWG_LANES; l++) s += acc[(size_t)t * FC_DWG_LANES + l];
        dweight[t] = s;
    }
    if (dbias) {
        float s = 0;
        for (int l = 0; l < FC_DWG_LANES; l++) s += bacc[l];
        *dbias = s;
    }
}

#endif
