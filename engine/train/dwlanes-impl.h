/* Depthwise kernel template (layout and method in dwlanes.h), included once by dwconv.c (no ISA
 * flags: SSE2) and once by dwlanes-avx2.c (-mavx2): plain C loops over FC_DWL_LANES channels that
 * the compiler vectorizes (omp simd: one lane per channel, no reduction across lanes). The including
 * file defines DWL_FWD, DWL_BACK (the two functions) and DWL_TR, DWL_UNTR (the transposed copies
 * between planes and lanes of transpose.h: data moves only, any version gives the same bits).
 * Not here: dispatch, threading. */
#ifndef FC_TRAIN_DWLANES_IMPL_H
#define FC_TRAIN_DWLANES_IMPL_H

#include <math.h>
#include <string.h>

#include "engine/train/dwlanes.h"
#include "engine/train/transpose.h"

/* Selects between computed floats (the gates, the clamp) vectorize only when comparisons may not
 * trap (the library never reads the floating-point exception flags). */
#pragma GCC optimize("no-trapping-math")

#define DWL FC_DWL_LANES

static inline size_t dwl_round(size_t n) { return (n + 15) / 16 * 16; }

/* Floats of Dp (dwl_dx3): Dt with 2*DH zero rows above and below, 2*DW zero columns each side,
 * and 4 pixels of slack (the last group of 4 gathers reads past the last row). */
static inline size_t dwl_dp_floats(const fc_dwlanes_geom *g) {
    return dwl_round(((size_t)(g->OH + 4 * g->DH) * (g->OW + 4 * g->DW) + 4) * DWL);
}

/* Xp's inner part from nc planes (H, W) at src (plane stride H*W): pixel (y, x) at padded pixel
 * (y + PT, x + PL) with lanes past nc zero, the pixels no tap reads skipped. The planes go to the
 * compact xc (H*W, LANES) in one transposed copy (whole vectors along the plane, not a row of 7),
 * then row by row into Xp; the rest of Xp stays as zeroed once. */
static void dwl_fill_x(const fc_dwlanes_geom *g, const float *restrict src, int nc, float *restrict xc,
                       float *restrict xp) {
    int ylim = g->PH - g->PT < g->H ? g->PH - g->PT : g->H;
    int xlim = g->PW - g->PL < g->W ? g->PW - g->PL : g->W;
    int HW = g->H * g->W;
    DWL_TR(src, HW, nc, DWL, HW, xc, DWL);
    for (int y = 0; y < ylim && xlim > 0; y++)
        memcpy(xp + ((size_t)(y + g->PT) * g->PW + g->PL) * DWL, xc + (size_t)y * g->W * DWL,
               sizeof(float) * xlim * DWL);
}

/* Floats of Xp: the padded extent and slack for the last group of 4 output pixels of a row (the
 * forward's 3x3 loop reads past the row). */
static inline size_t dwl_xp_floats(const fc_dwlanes_geom *g) {
    return dwl_round(((size_t)g->PH * g->PW + 4 * (size_t)g->SW) * DWL);
}

/* Prefetches n floats from p into the caches. */
static void dwl_prefetch(const float *p, size_t n, int write) {
    if (write)
        for (size_t i = 0; i < n; i += 16) __builtin_prefetch(p + i, 1);
    else
        for (size_t i = 0; i < n; i += 16) __builtin_prefetch(p + i);
}

/* Dt (OH*OW, LANES) from nc dout planes at src, lanes past nc zero. */
static void dwl_fill_d(const fc_dwlanes_geom *g, const float *restrict src, int nc, float *restrict dt) {
    int P = g->OH * g->OW;
    DWL_TR(src, P, nc, DWL, P, dt, DWL);
}

/* acc (KH*KW, LANES) += per tap, the sum over output pixels (in order) of Xp * Dt: the taps of
 * one output pixel at a time (independent sums; the pixel's Dt loaded once); a (KH*KW, LANES) holds
 * the image's sums. */
static void dwl_dw(const fc_dwlanes_geom *g, const float *restrict xp, const float *restrict dt,
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

/* dwl_dw for 3x3 kernels: the same sums with the nine taps' partial sums of half the lanes in
 * registers (fixed trip counts everywhere), one output pixel after another. */
static void dwl_dw3(const fc_dwlanes_geom *g, const float *restrict xp, const float *restrict dt,
                    float *restrict acc) {
    ptrdiff_t off[9];
    for (int t = 0; t < 9; t++)
        off[t] = ((ptrdiff_t)(t / 3) * g->DH * g->PW + (ptrdiff_t)(t % 3) * g->DW) * DWL;
    for (int h = 0; h < DWL; h += 8) {
        float a[9][8] = {{0}};
        for (int oy = 0; oy < g->OH; oy++)
            for (int ox = 0; ox < g->OW; ox++) {
                const float *x = xp + ((size_t)oy * g->SH * g->PW + (size_t)ox * g->SW) * DWL + h;
                const float *d = dt + ((size_t)oy * g->OW + ox) * DWL + h;
#pragma GCC unroll 9
                for (int t = 0; t < 9; t++)
#pragma omp simd
                    for (int l = 0; l < 8; l++) a[t][l] += x[off[t] + l] * d[l];
            }
        for (int t = 0; t < 9; t++)
#pragma omp simd
            for (int l = 0; l < 8; l++) acc[t * DWL + h + l] += a[t][l];
    }
}

/* acc (LANES) += the sum over output pixels (in order) of Dt. */
static void dwl_db(const fc_dwlanes_geom *g, const float *restrict dt, float *restrict acc) {
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
static void dwl_dx(const fc_dwlanes_geom *g, const float *restrict dt, const float *restrict wl,
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

/* a[u] (half the lanes, 8) = the sum over the nine taps (in order) of w[t] * src[off[t] + u*step]
 * for four pixels u: independent sums in flight, in registers. */
static inline __attribute__((always_inline)) void dwl_taps4(const float (*w)[8], const float *restrict src,
                                                            const ptrdiff_t *off, ptrdiff_t step,
                                                            float (*a)[8]) {
    for (int u = 0; u < 4; u++)
        for (int l = 0; l < 8; l++) a[u][l] = 0.0f;
#pragma GCC unroll 9
    for (int t = 0; t < 9; t++)
#pragma GCC unroll 4
        for (int u = 0; u < 4; u++)
#pragma omp simd
            for (int l = 0; l < 8; l++) a[u][l] += w[t][l] * src[off[t] + u * step + l];
}

/* w (9, 8) = half h of the lane weights wl (9, LANES). */
static inline void dwl_half(const float *wl, int h, float (*w)[8]) {
    for (int t = 0; t < 9; t++)
        for (int l = 0; l < 8; l++) w[t][l] = wl[t * DWL + h + l];
}

/* dwl_dx for 3x3 kernels of stride 1: each inner pixel of dXp gathers its nine taps (in order, so
 * the sums are those of the scatter up to the sign of a zero sum) from Dp, Dt with 2*DH zero rows
 * above and below and 2*DW zero columns left and right (QW = OW + 4*DW pixels a row; its
 * margins zeroed once per call), the partial sums of half the lanes in registers. */
static void dwl_dx3(const fc_dwlanes_geom *g, const float *restrict dt, float *restrict dp,
                    const float *restrict wl, float *restrict dxp) {
    int QW = g->OW + 4 * g->DW;
    for (int oy = 0; oy < g->OH; oy++)
        memcpy(dp + ((size_t)(oy + 2 * g->DH) * QW + 2 * g->DW) * DWL, dt + (size_t)oy * g->OW * DWL,
               sizeof(float) * g->OW * DWL);
    ptrdiff_t off[9];
    for (int t = 0; t < 9; t++)
        off[t] = ((ptrdiff_t)(2 - t / 3) * g->DH * QW + (ptrdiff_t)(2 - t % 3) * g->DW) * DWL;
    int y1 = g->PT + g->H < g->PH ? g->PT + g->H : g->PH, x1 = g->PL + g->W < g->PW ? g->PL + g->W : g->PW;
    for (int h = 0; h < DWL; h += 8) {
        float w[9][8];
        dwl_half(wl, h, w);
        for (int yp = g->PT; yp < y1; yp++)
            for (int x0 = g->PL; x0 < x1; x0 += 4) {
                int m = x1 - x0 < 4 ? x1 - x0 : 4;
                float a[4][8];
                dwl_taps4((const float(*)[8])w, dp + ((size_t)yp * QW + x0) * DWL + h, off, DWL, a);
                float *o = dxp + ((size_t)yp * g->PW + x0) * DWL + h;
                for (int u = 0; u < m; u++)
#pragma omp simd
                    for (int l = 0; l < 8; l++) o[u * DWL + l] = a[u][l];
            }
    }
}

/* nc planes (H, W) at dst = dXp's inner part (0 for the pixels no tap reads), times the
 * derivative of gate (Relu or Clip, or NULL) at Xp (fc_act_backward's expressions: selects, exact):
 * row by row into the compact xc (H*W, LANES), then one transposed copy into the planes. */
static void dwl_crop(const fc_dwlanes_geom *g, const float *restrict dxp, const float *restrict xp,
                     const fc_act *gate, int nc, float *restrict xc, float *restrict dst) {
    int ylim = g->PH - g->PT < g->H ? g->PH - g->PT : g->H;
    int xlim = g->PW - g->PL < g->W ? g->PW - g->PL : g->W;
    if (xlim < 0) xlim = 0;
    float lo = gate && gate->kind == FC_ACT_RELU ? 0.0f : gate ? gate->a : 0.0f, hi = gate ? gate->b : 0.0f;
    for (int y = 0; y < g->H; y++) {
        float *c = xc + (size_t)y * g->W * DWL;
        int n = y < ylim ? xlim * DWL : 0;
        size_t at = ((size_t)(y + g->PT) * g->PW + g->PL) * DWL;
        const float *d = dxp + at, *x = xp + at;
        if (!gate) {
            memcpy(c, d, sizeof(float) * n);
        } else if (gate->kind == FC_ACT_RELU) {
#pragma omp simd
            for (int i = 0; i < n; i++) {
                float v = d[i];
                c[i] = x[i] <= lo ? 0.0f : v;
            }
        } else {
#pragma omp simd
            for (int i = 0; i < n; i++) {
                float v = d[i];
                c[i] = (x[i] <= lo) | (x[i] >= hi) ? 0.0f : v;
            }
        }
        memset(c + n, 0, sizeof(float) * ((size_t)g->W * DWL - n));
    }
    DWL_UNTR(xc, DWL, nc, g->H * g->W, dst, (ptrdiff_t)g->H * g->W);
}

/* One image's block of nc <= LANES channels from plane `at`: its sums into acc, its dinp. */
static void dwl_block(const fc_dwlanes_geom *g, size_t at, int nc, const float *inp, const float *dout,
                      const float *wl, const fc_act *gate, float *dinp, int want_dw, int want_db,
                      float *xp, float *dxp, float *dt, float *dp, float *xc, float *a, float *acc) {
    int kk = g->KH * g->KW;
    size_t HW = (size_t)g->H * g->W, P = (size_t)g->OH * g->OW;
    dwl_fill_d(g, dout + at * P, nc, dt);
    if (want_dw || (dinp && gate)) dwl_fill_x(g, inp + at * HW, nc, xc, xp);
    if (want_dw && kk == 9) dwl_dw3(g, xp, dt, acc);
    else if (want_dw) dwl_dw(g, xp, dt, a, acc);
    if (want_db) dwl_db(g, dt, acc + (size_t)kk * DWL);
    if (!dinp) return;
    if (kk == 9 && g->SH == 1 && g->SW == 1) dwl_dx3(g, dt, dp, wl, dxp);
    else dwl_dx(g, dt, wl, dxp);
    dwl_crop(g, dxp, xp, gate, nc, xc, dinp + at * HW);
}

void DWL_BACK(const fc_dwlanes_geom *g, int c0, int c1, const float *inp, const float *dout,
              const float *weight, const fc_act *gate, float *dinp, float *dweight, float *dbias,
              float *scratch) {
    // inp, dinp are (N,C,H,W), dout is (N,C,OH,OW); weight, dweight are (C,KH*KW), dbias (C)
    int kk = g->KH * g->KW, blocks = (c1 - c0 + DWL - 1) / DWL;
    size_t HW = (size_t)g->H * g->W, P = (size_t)g->OH * g->OW;
    size_t xs = dwl_xp_floats(g), ds = dwl_round(P * DWL);
    size_t per = dwl_round((size_t)(2 * kk + 1) * DWL); /* a block's lane weights and sums */
    float *xp = scratch, *dxp = xp + xs, *dt = dxp + xs, *dp = dt + ds, *xc = dp + dwl_dp_floats(g);
    float *a = xc + dwl_round(HW * DWL);
    float *blk = a + dwl_round((size_t)kk * DWL);
    memset(xp, 0, sizeof(float) * xs);
    memset(dxp, 0, sizeof(float) * xs); /* the gathers write the inner pixels only */
    memset(dp, 0, sizeof(float) * dwl_dp_floats(g));
    for (int b = 0; b < blocks; b++) {
        float *wl = blk + b * per, *acc = wl + (size_t)kk * DWL;
        int cb = c0 + b * DWL, nc = c1 - cb < DWL ? c1 - cb : DWL;
        memset(acc, 0, sizeof(float) * (size_t)(kk + 1) * DWL);
        for (int t = 0; dinp && t < kk; t++) /* lane weights (the lanes past nc are zero) */
            for (int l = 0; l < DWL; l++) wl[t * DWL + l] = l < nc ? weight[(size_t)(cb + l) * kk + t] : 0.0f;
    }
    /* images outer, blocks inner: the range's planes of an image are adjacent, so memory is read
     * in order; every channel still adds its images in order */
    for (int n = 0; n < g->N; n++)
        for (int b = 0; b < blocks; b++) {
            int cb = c0 + b * DWL, nc = c1 - cb < DWL ? c1 - cb : DWL;
            size_t at = (size_t)n * g->C + cb;
            if (b == 0 && n + 1 < g->N) { /* the next image's range ahead of the hardware */
                size_t nx = at + g->C, len = (size_t)(c1 - c0);
                dwl_prefetch(dout + nx * P, len * P, 0);
                if (dweight || (dinp && gate)) dwl_prefetch(inp + nx * HW, len * HW, 0);
                if (dinp) dwl_prefetch(dinp + nx * HW, len * HW, 1);
            }
            float *wl = blk + b * per;
            dwl_block(g, at, nc, inp, dout, wl, gate, dinp, dweight != NULL, dbias != NULL, xp, dxp, dt,
                      dp, xc, a, wl + (size_t)kk * DWL);
        }
    for (int b = 0; b < blocks; b++) {
        const float *acc = blk + b * per + (size_t)kk * DWL;
        int cb = c0 + b * DWL, nc = c1 - cb < DWL ? c1 - cb : DWL;
        for (int c = 0; c < nc; c++) {
            for (int t = 0; dweight && t < kk; t++) dweight[(size_t)(cb + c) * kk + t] = acc[t * DWL + c];
            if (dbias) dbias[cb + c] = acc[(size_t)kk * DWL + c];
        }
    }
}

/* ---- forward ---- */

/* Yc (OH*OW, LANES) = act(the taps (in order) of wl times Xp, plus bl) for 3x3 kernels: four output
 * pixels at a time, half the lanes' sums in registers. lo, hi: the clamp (-inf, inf: none). */
static void dwl_fwd3(const fc_dwlanes_geom *g, const float *restrict xp, const float *restrict wl,
                     const float *restrict bl, float lo, float hi, float *restrict yc) {
    ptrdiff_t off[9];
    for (int t = 0; t < 9; t++)
        off[t] = ((ptrdiff_t)(t / 3) * g->DH * g->PW + (ptrdiff_t)(t % 3) * g->DW) * DWL;
    ptrdiff_t step = (ptrdiff_t)g->SW * DWL;
    for (int h = 0; h < DWL; h += 8) {
        float w[9][8];
        dwl_half(wl, h, w);
        for (int oy = 0; oy < g->OH; oy++)
            for (int ox0 = 0; ox0 < g->OW; ox0 += 4) {
                int m = g->OW - ox0 < 4 ? g->OW - ox0 : 4;
                float a[4][8];
                const float *x = xp + ((size_t)oy * g->SH * g->PW + (size_t)ox0 * g->SW) * DWL + h;
                dwl_taps4((const float(*)[8])w, x, off, step, a);
                float *y = yc + ((size_t)oy * g->OW + ox0) * DWL + h;
                for (int u = 0; u < m; u++)
#pragma omp simd
                    for (int l = 0; l < 8; l++) {
                        float v = a[u][l] + bl[h + l];
                        v = v < lo ? lo : v;
                        y[u * DWL + l] = v > hi ? hi : v;
                    }
            }
    }
}

/* The same for any kernel, one output pixel at a time. */
static void dwl_fwd_any(const fc_dwlanes_geom *g, const float *restrict xp, const float *restrict wl,
                        const float *restrict bl, float lo, float hi, float *restrict yc) {
    ptrdiff_t rstep = (ptrdiff_t)g->DH * g->PW * DWL, cstep = (ptrdiff_t)g->DW * DWL;
    for (int oy = 0; oy < g->OH; oy++)
        for (int ox = 0; ox < g->OW; ox++) {
            const float *x = xp + ((size_t)oy * g->SH * g->PW + (size_t)ox * g->SW) * DWL;
            const float *w = wl;
            float a[DWL] = {0};
            for (int i = 0; i < g->KH; i++, x += rstep)
                for (int j = 0; j < g->KW; j++, w += DWL)
#pragma omp simd
                    for (int l = 0; l < DWL; l++) a[l] += w[l] * x[j * cstep + l];
            float *y = yc + ((size_t)oy * g->OW + ox) * DWL;
#pragma omp simd
            for (int l = 0; l < DWL; l++) {
                float v = a[l] + bl[l];
                v = v < lo ? lo : v;
                y[l] = v > hi ? hi : v;
            }
        }
}

void DWL_FWD(const fc_dwlanes_geom *g, int c0, int c1, const float *inp, const float *weight,
             const float *bias, const fc_act *act, float *out, float *scratch) {
    // inp is (N,C,H,W), weight is (C,KH*KW), bias is (C) or NULL; out will be (N,C,OH,OW)
    int kk = g->KH * g->KW, blocks = (c1 - c0 + DWL - 1) / DWL, HW = g->H * g->W, P = g->OH * g->OW;
    size_t xs = dwl_xp_floats(g), per = dwl_round((size_t)(kk + 1) * DWL);
    float *xp = scratch, *xc = xp + xs, *yc = xc + dwl_round((size_t)HW * DWL);
    float *blk = yc + dwl_round((size_t)P * DWL);
    float lo = -INFINITY, hi = INFINITY;
    if (act && act->kind == FC_ACT_RELU) lo = 0.0f;
    if (act && act->kind == FC_ACT_CLIP) lo = act->a, hi = act->b;
    memset(xp, 0, sizeof(float) * xs);
    for (int b = 0; b < blocks; b++) { /* lane weights and bias (the lanes past nc are zero) */
        float *wl = blk + b * per;
        int cb = c0 + b * DWL, nc = c1 - cb < DWL ? c1 - cb : DWL;
        for (int t = 0; t <= kk; t++)
            for (int l = 0; l < DWL; l++)
                wl[t * DWL + l] = l >= nc ? 0.0f : t < kk ? weight[(size_t)(cb + l) * kk + t]
                                                          : bias ? bias[cb + l] : 0.0f;
    }
    for (int n = 0; n < g->N; n++)
        for (int b = 0; b < blocks; b++) {
            int cb = c0 + b * DWL, nc = c1 - cb < DWL ? c1 - cb : DWL;
            size_t at = (size_t)n * g->C + cb;
            const float *wl = blk + b * per;
            if (b == 0 && n + 1 < g->N) dwl_prefetch(inp + (at + g->C) * HW, (size_t)(c1 - c0) * HW, 0);
            dwl_fill_x(g, inp + at * HW, nc, xc, xp);
            if (kk == 9) dwl_fwd3(g, xp, wl, wl + 9 * DWL, lo, hi, yc);
            else dwl_fwd_any(g, xp, wl, wl + (size_t)kk * DWL, lo, hi, yc);
            DWL_UNTR(yc, DWL, nc, P, out + at * P, P);
        }
}

#endif
