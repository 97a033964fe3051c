/* Depthwise backward kernel template (layout and method in dwgrad.h), included once by dwconv.c (no
 * ISA flags: SSE2) and once by dwgrad-avx2.c (-mavx2): plain C loops over FC_DWG_LANES channels that
 * the compiler vectorizes (omp simd: one lane per channel, no reduction across lanes). The including
 * file defines DWG_NAME (the block function) and DWG_TR, DWG_UNTR (the transposed copies between
 * planes and lanes of transpose.h: data moves only, any version gives the same bits). Not here: dispatch, threading. */
#ifndef FC_TRAIN_DWGRAD_IMPL_H
#define FC_TRAIN_DWGRAD_IMPL_H

#include <string.h>

#include "engine/train/dwgrad.h"
#include "engine/train/transpose.h"

#define DWL FC_DWG_LANES

static inline size_t dwg_round(size_t n) { return (n + 15) / 16 * 16; }

/* Xp's inner part from nc planes (H, W) at src (plane stride H*W): pixel (y, x) at padded pixel
 * (y + PT, x + PL) with lanes past nc zero, the pixels no tap reads skipped. The rest of Xp stays as
 * zeroed once. */
static void dwg_fill_x(const fc_dwgrad_geom *g, const float *restrict src, int nc, float *restrict xp) {
    int ylim = g->PH - g->PT < g->H ? g->PH - g->PT : g->H;
    int xlim = g->PW - g->PL < g->W ? g->PW - g->PL : g->W;
    for (int y = 0; y < ylim && xlim > 0; y++)
        DWG_TR(src + (size_t)y * g->W, (ptrdiff_t)g->H * g->W, nc, DWL, xlim,
               xp + ((size_t)(y + g->PT) * g->PW + g->PL) * DWL, DWL);
}

/* Prefetches n floats from p into the caches. */
static void dwg_prefetch(const float *p, size_t n) {
    for (size_t i = 0; i < n; i += 16) __builtin_prefetch(p + i);
}

/* Dt (OH*OW, LANES) from nc dout planes at src, lanes past nc zero. */
static void dwg_fill_d(const fc_dwgrad_geom *g, const float *restrict src, int nc, float *restrict dt) {
    int P = g->OH * g->OW;
    DWG_TR(src, P, nc, DWL, P, dt, DWL);
}

/* acc (KH*KW, LANES) += per tap, the sum over output pixels (in order) of Xp * Dt: the taps of
 * one output pixel at a time (independent sums; the pixel's Dt loaded once); a (KH*KW, LANES) holds
 * the image's sums. */
static void dwg_dw(const fc_dwgrad_geom *g, const float *restrict xp, const float *restrict dt,
                   float *restrict a, float *restrict acc) {
    int kk = g->KH * g->KW;
    ptrdiff_t rstep = (ptrdiff_t)g->DH * g->PW * DWL, cstep = (ptrdiff_t)g->DW * DWL;
    memset(a, 0, sizeof(float) * kk * DWL);
    for (int oy = 0; oy < g->OH; oy++)
        for (int ox = 0; ox < g->OW; ox++) {
            const float *x = xp + ((size_t)oy * g->SH * g->PW + (size_t)ox * g->SW) * DWL;
            const float *d = dt + ((size_t)oy * g->OW + ox) * DWL;
            float *at = a;
            for (int i = 0; i < g->KH; i++, x += rstep)
                for (int j = 0; j < g->KW; j++, at += DWL) {
                    const float *xt = x + j * cstep;
#pragma omp simd
                    for (int l = 0; l < DWL; l++) at[l] += xt[l] * d[l];
                }
        }
#pragma omp simd
    for (int i = 0; i < kk * DWL; i++) acc[i] += a[i];
}

/* acc (LANES) += the sum over output pixels (in order) of Dt. */
static void dwg_db(const fc_dwgrad_geom *g, const float *restrict dt, float *restrict acc) {
    size_t P = (size_t)g->OH * g->OW;
    float a[DWL] = {0};
    for (size_t o = 0; o < P; o++)
#pragma omp simd
        for (int l = 0; l < DWL; l++) a[l] += dt[o * DWL + l];
#pragma omp simd
    for (int l = 0; l < DWL; l++) acc[l] += a[l];
}

/* dXp (zeroed here) = sum over taps (in order) of wl[tap] * Dt at the tap's offsets; wl is
 * (KH*KW, LANES). */
static void dwg_dx(const fc_dwgrad_geom *g, const float *restrict dt, const float *restrict wl,
                   float *restrict dxp) {
    memset(dxp, 0, sizeof(float) * (size_t)g->PH * g->PW * DWL);
    for (int i = 0; i < g->KH; i++)
        for (int j = 0; j < g->KW; j++) {
            float *x0 = dxp + ((size_t)i * g->DH * g->PW + (size_t)j * g->DW) * DWL;
            const float *w = wl + (size_t)(i * g->KW + j) * DWL;
            for (int oy = 0; oy < g->OH; oy++)
                for (int ox = 0; ox < g->OW; ox++) {
                    float *x = x0 + ((size_t)oy * g->SH * g->PW + (size_t)ox * g->SW) * DWL;
                    const float *d = dt + ((size_t)oy * g->OW + ox) * DWL;
#pragma omp simd
                    for (int l = 0; l < DWL; l++) x[l] += w[l] * d[l];
                }
        }
}

/* dXp = 0 where the derivative of gate (Relu or Clip) at Xp is 0 (the expressions of
 * fc_act_backward; selects, exact). */
static void dwg_gate(const fc_dwgrad_geom *g, const fc_act *gate, const float *restrict xp,
                     float *restrict dxp) {
    size_t n = (size_t)g->PH * g->PW * DWL;
    float lo = gate->kind == FC_ACT_RELU ? 0.0f : gate->a, hi = gate->b;
    if (gate->kind == FC_ACT_RELU) {
#pragma omp simd
        for (size_t i = 0; i < n; i++) {
            float v = dxp[i];
            dxp[i] = xp[i] <= lo ? 0.0f : v;
        }
    } else {
#pragma omp simd
        for (size_t i = 0; i < n; i++) {
            float v = dxp[i];
            dxp[i] = (xp[i] <= lo) | (xp[i] >= hi) ? 0.0f : v;
        }
    }
}

/* nc planes (H, W) at dst = dXp's inner part (0 for the pixels no tap reads). */
static void dwg_crop(const fc_dwgrad_geom *g, const float *restrict dxp, int nc, float *restrict dst) {
    int ylim = g->PH - g->PT < g->H ? g->PH - g->PT : g->H;
    int xlim = g->PW - g->PL < g->W ? g->PW - g->PL : g->W;
    if (xlim < 0) xlim = 0;
    size_t HW = (size_t)g->H * g->W;
    for (int y = 0; y < g->H; y++) {
        float *d = dst + (size_t)y * g->W;
        if (y < ylim) DWG_UNTR(dxp + ((size_t)(y + g->PT) * g->PW + g->PL) * DWL, DWL, nc, xlim, d, HW);
        int x0 = y < ylim ? xlim : 0;
        for (int c = 0; c < nc && x0 < g->W; c++) memset(d + c * HW + x0, 0, sizeof(float) * (g->W - x0));
    }
}

void DWG_NAME(const fc_dwgrad_geom *g, int c0, int c1, const float *inp, const float *dout,
              const float *weight, const fc_act *gate, float *dinp, float *dweight, float *dbias,
              float *scratch) {
    // inp, dinp are (N,C,H,W), dout is (N,C,OH,OW); weight, dweight are (C,KH*KW), dbias (C)
    int kk = g->KH * g->KW, nc = c1 - c0;
    size_t HW = (size_t)g->H * g->W, P = (size_t)g->OH * g->OW;
    size_t xs = dwg_round((size_t)g->PH * g->PW * DWL), ds = dwg_round(P * DWL);
    float *xp = scratch, *dxp = xp + xs, *dt = dxp + xs, *wl = dt + ds, *acc = wl + (size_t)kk * DWL;
    float *a = acc + (size_t)(kk + 1) * DWL;
    memset(xp, 0, sizeof(float) * xs);
    memset(acc, 0, sizeof(float) * (size_t)(kk + 1) * DWL);
    for (int t = 0; dinp && t < kk; t++) /* lane weights (the lanes past nc are zero) */
        for (int l = 0; l < DWL; l++) wl[t * DWL + l] = l < nc ? weight[(size_t)(c0 + l) * kk + t] : 0.0f;
    for (int n = 0; n < g->N; n++) {
        size_t at = (size_t)n * g->C + c0;
        if (n + 1 < g->N) { /* the next image's planes: short streams the hardware does not fetch early */
            dwg_prefetch(dout + (at + g->C) * P, nc * P);
            if (dweight || (dinp && gate)) dwg_prefetch(inp + (at + g->C) * HW, nc * HW);
        }
        dwg_fill_d(g, dout + at * P, nc, dt);
        if (dweight || (dinp && gate)) dwg_fill_x(g, inp + at * HW, nc, xp);
        if (dweight) dwg_dw(g, xp, dt, a, acc);
        if (dbias) dwg_db(g, dt, acc + (size_t)kk * DWL);
        if (dinp) {
            dwg_dx(g, dt, wl, dxp);
            if (gate) dwg_gate(g, gate, xp, dxp);
            dwg_crop(g, dxp, nc, dinp + at * HW);
        }
    }
    for (int c = 0; c < nc; c++) {
        for (int t = 0; dweight && t < kk; t++) dweight[(size_t)(c0 + c) * kk + t] = acc[t * DWL + c];
        if (dbias) dbias[c0 + c] = acc[(size_t)kk * DWL + c];
    }
}

#endif
