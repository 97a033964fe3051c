/* f32 depthwise-convolution template of the SIMD plane kernels (one channel plane per call, 4
 * vectors of output pixels per step). The including file defines the simd-<isa>.h vocabulary and
 * includes f32-act-vec.h and f32-act-impl.h. Method: input rows are copied into an on-stack buffer
 * as zero-padded rows split into SW phases (phase p of a row holds padded columns p, p+SW, p+2SW,
 * ...), so every tap of every output pixel is a contiguous unaligned vector load whatever the
 * stride, padding or dilation. If the whole padded plane fits and rows are narrow, it is copied
 * once and output rows are computed four rows at a time (small planes: no per-row bookkeeping);
 * otherwise a ring of the rows one output row needs is refilled as the output advances, rows are
 * computed four vectors at a time, and very wide rows are cut into column strips. Borders and
 * interior go through identical operations (taps on padding add w*0, the last vector of a row is
 * partial), so results do not depend on the path taken. Kernels too large for the buffer fall back
 * to the scalar reference. Not here: channel loops and threading (the operator calls this per
 * plane). */
#ifndef FC_F32_DWCONV_PLANE_IMPL_H
#define FC_F32_DWCONV_PLANE_IMPL_H

#include <math.h>
#include <stddef.h>
#include <string.h>

#define PLANE_BUF 16384 /* floats of on-stack row buffer (64 KiB) */
#define PLANE_MAXK 64    /* largest KH, KW and ring height handled here */

/* Masked stores are slow on AMD (vmaskmovps), so every phase row gets VW floats of slack (phase
 * stride L + VW) and the fill below stores whole vectors into it; the slack is never read. */

/* Input floats in[x + u] for u < 2*VW (0 outside [0, W)) as two vectors; x may be negative. */
FC_INLINE void load_pair(const float *in, int W, int x, vf *lo, vf *hi) {
    int avail = W - x;
    *lo = *hi = v_zero();
    if (x < 0 && -x < VW) { /* left padding: shifted load from the row start */
        *lo = v_load_shifted(in, -x, W);
        if (avail > VW) *hi = v_loadm(in + x + VW, v_mask_first(avail - VW < VW ? avail - VW : VW));
    } else if (x < 0) { /* a vector or more of padding: lane by lane */
        _Alignas(64) float tmp[2 * VW];
        for (int u = 0; u < 2 * VW; u++) tmp[u] = x + u >= 0 && x + u < W ? in[x + u] : 0.0f;
        *lo = v_load(tmp);
        *hi = v_load(tmp + VW);
    } else if (avail > 0) { /* right edge: masked loads give the zero padding */
        *lo = v_loadm(in + x, v_mask_first(avail < VW ? avail : VW));
        if (avail > VW) *hi = v_loadm(in + x + VW, v_mask_first(avail - VW < VW ? avail - VW : VW));
    }
}

/* Fills the SW phases of one padded row: phase p, element t = in[xb + t*SW + p] (0 outside [0, W)),
 * for t < L; phase p starts at dst + p*(L + VW). */
FC_INLINE void fill_row(const float *in, int W, int SW, int xb, int L, float *dst) {
    // in: (W) or NULL for a padding row; dst: (SW, L + VW)
    const int Ls = L + VW;
    if (!in) {
        memset(dst, 0, sizeof(float) * SW * Ls);
        return;
    }
    int t = 0;
    vf lo, hi, ve, vo;
    if (SW == 1) {
        for (; t < L && xb + t < 0; t += VW) { /* left padding */
            load_pair(in, W, xb + t, &lo, &hi);
            v_store(dst + t, lo);
        }
        for (; t < L && xb + t + VW <= W; t += VW) v_store(dst + t, v_load(in + xb + t));
        for (; t < L; t += VW) { /* right edge and padding */
            load_pair(in, W, xb + t, &lo, &hi);
            v_store(dst + t, lo);
        }
        return;
    }
    if (SW == 2) {
        float *e = dst, *o = dst + Ls;
        for (; t < L && xb + 2 * t < 0; t += VW) {
            load_pair(in, W, xb + 2 * t, &lo, &hi);
            v_deinterleave2(lo, hi, &ve, &vo);
            v_store(e + t, ve);
            v_store(o + t, vo);
        }
        for (; t < L && xb + 2 * t + 2 * VW <= W; t += VW) {
            v_deinterleave2(v_load(in + xb + 2 * t), v_load(in + xb + 2 * t + VW), &ve, &vo);
            v_store(e + t, ve);
            v_store(o + t, vo);
        }
        for (; t < L; t += VW) {
            load_pair(in, W, xb + 2 * t, &lo, &hi);
            v_deinterleave2(lo, hi, &ve, &vo);
            v_store(e + t, ve);
            v_store(o + t, vo);
        }
        return;
    }
    for (int p = 0; p < SW; p++)
        for (int u = 0; u < L; u++) {
            int x = xb + u * SW + p;
            dst[(size_t)p * Ls + u] = x >= 0 && x < W ? in[x] : 0.0f;
        }
}

/* Stores the first n (<= VW) lanes of v at o; whole vector if overrun (the memory after is rewritten
 * later by the caller). */
FC_INLINE void store_out(float *o, vf v, int n, int overrun) {
    if (n >= VW || overrun) {
        v_store(o, v);
    } else {
        _Alignas(64) float tail[VW];
        v_store(tail, v);
        for (int u = 0; u < n; u++) o[u] = tail[u];
    }
}

/* Row path: one output row, o[t] = clamp(bias + sum_{i,j} w[i*kw+j] * rows[i][off[j] + t]), t < n,
 * four vectors at a time (rows must be readable up to roundup(n, 4*VW) + the largest offset).
 * kh, kw are compile-time constants at the specialized call site. */
FC_INLINE void dw_row(const int kh, const int kw, const float *const *rows, const int *off,
                      const float *w, vf bias, vf lo, vf hi, float *o, int n, int overrun) {
    for (int t = 0; t < n; t += 4 * VW) {
        vf a[4] = {v_zero(), v_zero(), v_zero(), v_zero()};
FC_UNROLL(8)
        for (int i = 0; i < kh; i++)
FC_UNROLL(8)
            for (int j = 0; j < kw; j++) {
                vf wv = v_bcast(w + i * kw + j);
                const float *p = rows[i] + off[j] + t;
FC_UNROLL(4)
                for (int v = 0; v < 4; v++) a[v] = v_fma(wv, v_load(p + v * VW), a[v]);
            }
        /* All four results are stored unconditionally (to o, or to a copy for the row's tail):
         * conditional stores let the compiler sink the FMAs into branches and spill. */
        if (t + 4 * VW <= n) {
FC_UNROLL(4)
            for (int v = 0; v < 4; v++) v_store(o + t + v * VW, v_clamp(v_add(a[v], bias), lo, hi));
        } else {
            _Alignas(64) float tail[4 * VW];
FC_UNROLL(4)
            for (int v = 0; v < 4; v++) v_store(tail + v * VW, v_clamp(v_add(a[v], bias), lo, hi));
            for (int v = 0; v * VW < n - t; v++)
                store_out(o + t + v * VW, v_load(tail + v * VW), n - t - v * VW, overrun);
        }
    }
}

/* Plane path: output rows y0 .. y0+nr-1 (nr <= 4, compile-time), one vector column at a time.
 * base: first tap row of row y0; rstep: floats between the tap rows of consecutive output rows;
 * istep: between tap rows i and i+1. Rows y <= ymax may be overrun (see store_out). */
FC_INLINE void dw_rows(const int kh, const int kw, const int nr, const float *base, ptrdiff_t rstep,
                       ptrdiff_t istep, const int *off, const float *w, vf bias, vf lo, vf hi,
                       float *o, int OW, int y0, int ymax) {
    /* right to left: a whole-vector store past row y's end lands in row y+1's first vector, which
     * is stored later (t = 0 comes last) */
    for (int t = (OW - 1) / VW * VW; t >= 0; t -= VW) {
        vf a[4] = {v_zero(), v_zero(), v_zero(), v_zero()};
FC_UNROLL(8)
        for (int i = 0; i < kh; i++)
FC_UNROLL(8)
            for (int j = 0; j < kw; j++) {
                vf wv = v_bcast(w + i * kw + j);
                const float *p = base + i * istep + off[j] + t;
FC_UNROLL(4)
                for (int r = 0; r < nr; r++) a[r] = v_fma(wv, v_load(p + r * rstep), a[r]);
            }
FC_UNROLL(4)
        for (int r = 0; r < nr; r++)
            store_out(o + (size_t)r * OW + t, v_clamp(v_add(a[r], bias), lo, hi), OW - t, y0 + r <= ymax);
    }
}

static void dwconv_any(const fc_conv2d_geom *g, const float *in, const float *w, float bias,
                       const fc_act *act, float *out) {
    // in: (H, W); w: (KH, KW); out: (OH, OW)
    const int H = g->in_h, W = g->in_w, KH = g->kh, KW = g->kw, SH = g->stride_h, SW = g->stride_w;
    const int PT = g->pad_top, PL = g->pad_left, dil_h = g->dil_h, dil_w = g->dil_w;
    const int OH = g->out_h, OW = g->out_w;
    if (OH <= 0 || OW <= 0) return;
    if (KH < 1 || KW < 1 || SH < 1 || SW < 1 || dil_h < 1 || dil_w < 1 || KH > PLANE_MAXK ||
        KW > PLANE_MAXK || (KH - 1) * dil_h + 1 > PLANE_MAXK) {
        fc_f32_dwconv_plane__scalar(g, in, w, bias, act, out);
        return;
    }
    int R = (KH - 1) * dil_h + 1;            /* padded rows one output row spans */
    int Hn = (OH - 1) * SH + R;              /* padded rows all output rows span */
    int extra = (KW - 1) * dil_w / SW + 1;   /* phase-row floats beyond the outputs */
    int OWr = (OW + VW - 1) / VW * VW;
    int kind = act ? act->kind : FC_ACT_NONE;
    vf vb = v_set1(bias), lo = v_set1(-INFINITY), hi = v_set1(INFINITY);
    if (kind == FC_ACT_RELU) lo = v_zero();
    if (kind == FC_ACT_CLIP) lo = v_set1(act->a), hi = v_set1(act->b);
    int post = kind != FC_ACT_NONE && kind != FC_ACT_RELU && kind != FC_ACT_CLIP;
    int is3x3 = KH == 3 && KW == 3;
    _Alignas(64) float buf[PLANE_BUF];
    int off[PLANE_MAXK];

    if (OW < 4 * VW && (size_t)Hn * SW * (OWr + extra + VW) <= PLANE_BUF) {
        /* whole padded plane: padded row r is input row r - PT */
        int L = OWr + extra, rs = SW * (L + VW);
        for (int j = 0; j < KW; j++) off[j] = (j * dil_w) % SW * (L + VW) + (j * dil_w) / SW;
        for (int r = 0; r < Hn; r++) {
            int iy = r - PT;
            fill_row(iy >= 0 && iy < H ? in + (size_t)iy * W : NULL, W, SW, -PL, L, buf + (size_t)r * rs);
        }
        /* a whole-vector store from row y stays inside the plane and lands in later rows */
        int ymax = OH * OW >= OWr ? (OH * OW - OWr) / OW : -1;
        ptrdiff_t rstep = (ptrdiff_t)SH * rs, istep = (ptrdiff_t)dil_h * rs;
        for (int oy = 0; oy < OH; oy += 4) {
            const float *base = buf + (size_t)oy * rstep;
            float *o = out + (size_t)oy * OW;
#define FC_DW_ROWS(kh, kw, nr) dw_rows(kh, kw, nr, base, rstep, istep, off, w, vb, lo, hi, o, OW, oy, ymax)
            switch ((OH - oy < 4 ? OH - oy : 4) + 4 * is3x3) {
            case 1: FC_DW_ROWS(KH, KW, 1); break;
            case 2: FC_DW_ROWS(KH, KW, 2); break;
            case 3: FC_DW_ROWS(KH, KW, 3); break;
            case 4: FC_DW_ROWS(KH, KW, 4); break;
            case 5: FC_DW_ROWS(3, 3, 1); break;
            case 6: FC_DW_ROWS(3, 3, 2); break;
            case 7: FC_DW_ROWS(3, 3, 3); break;
            case 8: FC_DW_ROWS(3, 3, 4); break;
            }
#undef FC_DW_ROWS
        }
    } else {
        /* ring of R padded rows (slot = row mod R) plus one zero row, per column strip */
        int per_phase = PLANE_BUF / ((R + 1) * SW) - VW; /* floats of one phase row, slack aside */
        if (per_phase < 4 * VW + extra) {
            fc_f32_dwconv_plane__scalar(g, in, w, bias, act, out);
            return;
        }
        int S = (per_phase - extra) / (4 * VW) * (4 * VW); /* strip width in outputs */
        int OW4 = (OW + 4 * VW - 1) / (4 * VW) * (4 * VW);
        if (S > OW4) S = OW4;
        int L = S + extra, rs = SW * (L + VW);
        for (int j = 0; j < KW; j++) off[j] = (j * dil_w) % SW * (L + VW) + (j * dil_w) / SW;
        float *zero = buf + (size_t)R * rs;
        fill_row(NULL, W, SW, 0, L, zero);
        const float *rows[PLANE_MAXK];
        int slot_iy[PLANE_MAXK];
        for (int sx0 = 0; sx0 < OW; sx0 += S) {
            int n = OW - sx0 < S ? OW - sx0 : S;
            for (int s = 0; s < R; s++) slot_iy[s] = -1;
            for (int oy = 0; oy < OH; oy++) {
                for (int i = 0; i < KH; i++) {
                    int iy = oy * SH - PT + i * dil_h;
                    if (iy < 0 || iy >= H) {
                        rows[i] = zero;
                        continue;
                    }
                    int s = iy % R;
                    float *dst = buf + (size_t)s * rs;
                    if (slot_iy[s] != iy) {
                        fill_row(in + (size_t)iy * W, W, SW, sx0 * SW - PL, L, dst);
                        slot_iy[s] = iy;
                    }
                    rows[i] = dst;
                }
                /* whole vectors past a strip land in the next strip (rewritten later); the last
                 * strip of the last row must not spill past the plane */
                float *o = out + (size_t)oy * OW + sx0;
                int overrun = sx0 + S < OW;
                if (is3x3) dw_row(3, 3, rows, off, w, vb, lo, hi, o, n, overrun);
                else dw_row(KH, KW, rows, off, w, vb, lo, hi, o, n, overrun);
            }
        }
    }
    if (post) act_any(act, out, out, (size_t)OH * OW);
}

#endif
