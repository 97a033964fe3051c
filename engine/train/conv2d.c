/* Conv2d forward and backward (one group and grouped) as matrix products on fc_train_gemm, per group g
 * and chunk of images (J = images x OH*OW columns, image b owns columns [b*OHW, (b+1)*OHW),
 * Kg = C/groups*kh*kw):
 *   out_g (OCg, J) = W_g (OCg, Kg) x col + bias  dW_g (OCg, Kg) = dout_g (OCg, J) x col^T
 *   dcol (Kg, J)   = W_g^T (Kg, OCg) x dout_g
 * where out_g, dout_g are read and written in place in NCHW (run matrices: one run per image) and
 * col (Kg, J) is the im2col matrix of the chunk; a 1x1 convolution with stride 1 and no padding has
 * its input planes as col (no copy, one chunk: the whole batch is one product, also for dinp). Else
 * im2col writes col for a chunk and col2im adds dcol back into dinp. A tap of a stride-1 convolution
 * with OW == W is one shifted copy of the plane (the columns it wraps zeroed). Depthwise
 * convolutions (groups == C == OC) run in dwconv.c.
 * Reproducibility: the chunk size depends on the shapes only; every output and dW element of a chunk
 * is one kernel sequence over the whole K (thread-independent), chunks of dW are added in order;
 * dbias sums each channel in one thread in (image, pixel) order (in double: from dW's packed dout
 * with one chunk, else per image in fc_train_sum's order). Bitwise independent of the thread
 * count. */
#include <string.h>

#include "engine/train/gemm.h"
#include "engine/train/internal.h"

#define CHUNK_FLOATS ((size_t)1 << 23) /* largest col of one chunk: 32 MiB */
#define CHUNK_COLS 2048                /* columns of a chunk, about: col stays near the caches */

typedef struct geom {
    int N, C, H, W, OC, G, Cg, OCg, OH, OW, OHW, Kg;
    int nb, chunks; /* images per chunk (the last may have fewer), chunks */
    int plain;      /* 1x1 kernel, stride 1, no padding: a col row is an input plane */
    fc_win2d w;
    fc_act in_act;
} geom;

static int geom_init(geom *g, const fc_conv2d *cv, int N, int H, int W, size_t chunk,
                     fc_error *err) {
    if (cv->C < 1 || cv->OC < 1 || cv->groups < 1)
        return fc_fail(err, FC_EINVAL, "conv2d: C %d, OC %d and groups %d must be >= 1", cv->C,
                       cv->OC, cv->groups);
    for (int k = 0; k < 2; k++) {
        const fc_act *act = k ? &cv->in_act : &cv->act;
        if (act->kind != FC_ACT_NONE && act->kind != FC_ACT_RELU &&
            (act->kind != FC_ACT_CLIP || !(act->a <= act->b)))
            return fc_fail(err, FC_EINVAL, "conv2d: activation %d is not Relu or an ordered Clip", act->kind);
    }
    if (cv->C % cv->groups || cv->OC % cv->groups)
        return fc_fail(err, FC_ESHAPE, "conv2d: groups %d do not divide C %d and OC %d", cv->groups,
                       cv->C, cv->OC);
    const fc_win2d *w = &cv->win;
    int OH, OW, rc = fc_train_window("conv2d", w, H, W, &OH, &OW, err);
    if (rc) return rc;
    int in[] = {N, cv->C, H, W}, out[] = {N, cv->OC, OH, OW};
    int wt[] = {cv->OC, cv->C / cv->groups, w->kh, w->kw};
    if ((rc = fc_train_check_sizes("conv2d", 4, in, err)) ||
        (rc = fc_train_check_sizes("conv2d", 4, out, err)) ||
        (rc = fc_train_check_sizes("conv2d", 4, wt, err)))
        return rc;
    *g = (geom){.N = N, .C = cv->C, .H = H, .W = W, .OC = cv->OC, .G = cv->groups,
                .Cg = cv->C / cv->groups, .OCg = cv->OC / cv->groups, .OH = OH, .OW = OW,
                .OHW = OH * OW, .Kg = cv->C / cv->groups * w->kh * w->kw, .w = *w,
                .in_act = cv->in_act};
    g->plain = w->kh == 1 && w->kw == 1 && w->sh == 1 && w->sw == 1 && !w->pt && !w->pl &&
               !w->pb && !w->pr;
    /* Images per chunk: some 2048 columns (col near the caches, the weights packed once per chunk;
     * larger chunks ran slower), never over the chunk budget; the whole batch when the input
     * planes are col. Depends on the shapes only (dW's rounding follows it). */
    size_t per = (size_t)g->Kg * g->OHW; /* col floats of one image */
    size_t nb = (CHUNK_COLS + g->OHW - 1) / g->OHW, cap = (chunk ? chunk : CHUNK_FLOATS) / per;
    if (nb > cap) nb = cap;
    if (nb < 1) nb = 1;
    if (nb > (size_t)N || g->plain) nb = N;
    g->chunks = (int)((N + nb - 1) / nb);
    g->nb = (N + g->chunks - 1) / g->chunks; /* chunks of even size */
    if ((size_t)g->nb * g->OHW >= INT_MAX) return fc_fail(err, FC_ELIMIT, "conv2d: chunk too large");
    return 0;
}

static int depthwise(const geom *g) { return g->G == g->C && g->G == g->OC; }

/* Scratch: col (none when the input planes are col) and, with several chunks, a dW block to add;
 * at least 1 (0 means invalid sizes). */
static size_t ws_floats(const geom *g) {
    size_t col = g->plain ? 0 : (size_t)g->Kg * g->nb * g->OHW;
    return 1 + col + (g->chunks > 1 ? (size_t)g->OCg * g->Kg : 0);
}

size_t fc_conv2d_ws_floats(const fc_train_ws *ws, const fc_conv2d *cv, int N, int H, int W) {
    geom g;
    if (geom_init(&g, cv, N, H, W, ws->conv_chunk, NULL)) return 0;
    if (depthwise(&g)) return fc_train_dw_ws_floats(g.C, H, W, g.OH, g.OW, &g.w, ws->threads);
    return ws_floats(&g);
}

/* Output columns [*lo, *hi) whose tap column ox*sw + x0 lies inside [0, W). */
static void tap_cols(int x0, int sw, int W, int OW, int *lo, int *hi) {
    int a = x0 >= 0 ? 0 : (-x0 + sw - 1) / sw;
    int b = W - 1 - x0 < 0 ? 0 : (W - 1 - x0) / sw + 1;
    if (b > OW) b = OW;
    if (a > b) a = b;
    *lo = a, *hi = b;
}

/* Stride 1 and OW == W: a tap is the input plane shifted by off = (i*dil_h - pt)*W + sx (sx = j*dil_w - pl)
 * floats, except where the shift wraps a row's ends into its neighbour: columns [W - sx, W) for
 * sx > 0, [0, -sx) for sx < 0. *t0, *t1: the tap positions whose source lies inside the plane. */
static int flat_tap(const geom *g, int i, int j, ptrdiff_t *off, int *t0, int *t1, int *c0, int *c1) {
    const fc_win2d *w = &g->w;
    if (w->sh != 1 || w->sw != 1 || g->OW != g->W) return 0;
    int sx = j * w->dil_w - w->pl;
    *off = (ptrdiff_t)(i * w->dil_h - w->pt) * g->W + sx;
    ptrdiff_t a = -*off > 0 ? -*off : 0, b = (ptrdiff_t)g->H * g->W - *off;
    if (b > g->OHW) b = g->OHW;
    if (a > b) a = b;
    *t0 = (int)a, *t1 = (int)b;
    *c0 = sx > 0 ? g->W - sx : 0, *c1 = sx > 0 ? g->W : -sx;
    if (*c0 < 0) *c0 = 0;
    if (*c1 > g->W) *c1 = g->W;
    return 1;
}

/* dst (OH, OW) = tap (i, j) of plane src (H, W): src[oy*sh - pt + i*dil_h, ox*sw - pl + j*dil_w], 0 in
 * the padding: one shifted copy on the flat path, else row by row. */
static void gather_tap(const geom *g, int i, int j, const float *src, float *dst) {
    const fc_win2d *w = &g->w;
    ptrdiff_t off;
    int t0, t1, c0, c1;
    if (flat_tap(g, i, j, &off, &t0, &t1, &c0, &c1)) {
        memset(dst, 0, sizeof(float) * t0);
        memcpy(dst + t0, src + t0 + off, sizeof(float) * (t1 - t0));
        memset(dst + t1, 0, sizeof(float) * (g->OHW - t1));
        for (int oy = 0; oy < g->OH && c1 > c0; oy++)
            for (int c = c0; c < c1; c++) dst[(size_t)oy * g->W + c] = 0.0f;
    } else {
        int x0 = j * w->dil_w - w->pl, lo, hi;
        tap_cols(x0, w->sw, g->W, g->OW, &lo, &hi);
        for (int oy = 0; oy < g->OH; oy++) {
            float *d = dst + (size_t)oy * g->OW;
            int y = oy * w->sh - w->pt + i * w->dil_h;
            if (y < 0 || y >= g->H) {
                memset(d, 0, sizeof(float) * g->OW);
                continue;
            }
            const float *s = src + (size_t)y * g->W;
            memset(d, 0, sizeof(float) * lo);
            if (w->sw == 1) memcpy(d + lo, s + lo + x0, sizeof(float) * (hi - lo));
            else
                for (int ox = lo; ox < hi; ox++) d[ox] = s[ox * w->sw + x0];
            memset(d + hi, 0, sizeof(float) * (g->OW - hi));
        }
    }
}

/* The adjoint of gather_tap: plane dst (H, W) += src (OH, OW) at the tap's positions. On the flat
 * path the wrapped columns of src (scratch) are zeroed first, then one shifted add. */
static void scatter_tap(const geom *g, int i, int j, float *src, float *dst) {
    const fc_win2d *w = &g->w;
    ptrdiff_t off;
    int t0, t1, c0, c1;
    if (flat_tap(g, i, j, &off, &t0, &t1, &c0, &c1)) {
        for (int oy = 0; oy < g->OH && c1 > c0; oy++)
            for (int c = c0; c < c1; c++) src[(size_t)oy * g->W + c] = 0.0f;
#pragma omp simd
        for (int t = t0; t < t1; t++) dst[t + off] += src[t];
        return;
    }
    int x0 = j * w->dil_w - w->pl, lo, hi;
    tap_cols(x0, w->sw, g->W, g->OW, &lo, &hi);
    for (int oy = 0; oy < g->OH; oy++) {
        int y = oy * w->sh - w->pt + i * w->dil_h;
        if (y < 0 || y >= g->H) continue;
        float *d = dst + (size_t)y * g->W;
        const float *s = src + (size_t)oy * g->OW;
        for (int ox = lo; ox < hi; ox++) d[ox * w->sw + x0] += s[ox];
    }
}

/* Small planes off the flat path (strided, e.g. a 3x3 stride-2 conv on 12x12): each tap's source
 * offsets in one table, so a row of col is one loop over OHW instead of a few calls per output row. */
#define TAP_TABLE_MAX 4096

/* tab[(i*kw + j)*OHW + t] = the offset in the input plane of tap (i, j) at output position t, or -1
 * in the padding. 1 when built (the plane is small and not on the flat path), else 0. */
static int tap_table(const geom *g, int *tab) {
    ptrdiff_t off;
    int t0, t1, c0, c1, kk = g->w.kh * g->w.kw;
    if ((size_t)kk * g->OHW > TAP_TABLE_MAX || flat_tap(g, 0, 0, &off, &t0, &t1, &c0, &c1)) return 0;
    const fc_win2d *w = &g->w;
    for (int i = 0; i < w->kh; i++)
        for (int j = 0; j < w->kw; j++)
            for (int oy = 0; oy < g->OH; oy++)
                for (int ox = 0; ox < g->OW; ox++) {
                    int y = oy * w->sh - w->pt + i * w->dil_h, x = ox * w->sw - w->pl + j * w->dil_w;
                    tab[((i * w->kw + j) * g->OH + oy) * g->OW + ox] =
                        y < 0 || y >= g->H || x < 0 || x >= g->W ? -1 : y * g->W + x;
                }
    return 1;
}

/* col (Kg, nb*OHW) of images [n0, n0+nb), group grp: row (c, i, j), image b's columns hold tap (i, j)
 * of input channel grp*Cg + c. */
static void im2col(fc_train_ws *ws, const geom *g, const float *inp, int n0, int nb, int grp,
                   float *col) {
    int kk = g->w.kh * g->w.kw, planes = nb * g->Cg, tab[TAP_TABLE_MAX], tabled = tap_table(g, tab);
    size_t J = (size_t)nb * g->OHW, plane = (size_t)g->H * g->W;
#pragma omp parallel for num_threads(fc_train_threads(ws, J * g->Kg)) schedule(static)
    for (int p = 0; p < planes; p++) { /* one input plane: its kk rows of col */
        int b = p / g->Cg, c = p % g->Cg;
        const float *src = inp + ((size_t)(n0 + b) * g->C + (size_t)grp * g->Cg + c) * plane;
        for (int k = 0; k < kk; k++) {
            float *dst = col + ((size_t)c * kk + k) * J + (size_t)b * g->OHW;
            if (!tabled) {
                gather_tap(g, k / g->w.kw, k % g->w.kw, src, dst);
                continue;
            }
            const int *t = tab + (size_t)k * g->OHW;
            for (int q = 0; q < g->OHW; q++) dst[q] = t[q] < 0 ? 0.0f : src[t[q]];
        }
    }
}

/* dinp planes of images [n0, n0+nb), group grp = the sum of their taps in dcol (layout of im2col;
 * dcol is scratch: the flat path zeroes its wrapped entries). Taps are added in (i, j) order, each
 * tap's positions in row order (the same sums with or without the table). */
static void col2im(fc_train_ws *ws, const geom *g, float *dcol, int n0, int nb, int grp,
                   float *dinp) {
    int planes = nb * g->Cg, kk = g->w.kh * g->w.kw, tab[TAP_TABLE_MAX], tabled = tap_table(g, tab);
    size_t J = (size_t)nb * g->OHW, plane = (size_t)g->H * g->W;
#pragma omp parallel for num_threads(fc_train_threads(ws, J * g->Kg)) schedule(static)
    for (int p = 0; p < planes; p++) {
        int b = p / g->Cg, c = p % g->Cg;
        float *dst = dinp + ((size_t)(n0 + b) * g->C + (size_t)grp * g->Cg + c) * plane;
        float *src = dcol + (size_t)c * kk * J + (size_t)b * g->OHW;
        memset(dst, 0, sizeof(float) * plane);
        for (int k = 0; k < kk; k++) {
            const float *s = src + (size_t)k * J;
            if (!tabled) {
                scatter_tap(g, k / g->w.kw, k % g->w.kw, (float *)s, dst);
                continue;
            }
            const int *t = tab + (size_t)k * g->OHW;
            for (int q = 0; q < g->OHW; q++)
                if (t[q] >= 0) dst[t[q]] += s[q];
        }
    }
}

/* The planes of group grp of images [n0, ...) of an NCHW batch with `channels` channels of HW
 * floats, as a run matrix (rows: the group's channels, columns: the chunk's pixels), or as an
 * output. */
static fc_train_mat planes(const float *t, int channels, int per_group, int HW, int n0, int grp) {
    return fc_train_mat_planes(t + (size_t)n0 * channels * HW, channels, HW, grp * per_group);
}

static fc_train_out out_planes(float *t, int channels, int per_group, int HW, int n0, int grp) {
    return fc_train_out_planes(t + (size_t)n0 * channels * HW, channels, HW, grp * per_group);
}

int fc_conv2d_forward(fc_train_ws *ws, float *out, const float *inp, const float *weight,
                      const float *bias, int N, int H, int W, const fc_conv2d *cv, fc_error *err) {
    // inp is (N,C,H,W), weight is (OC,C/g,kh,kw), bias is (OC); out will be (N,OC,OH,OW)
    geom g;
    int rc = geom_init(&g, cv, N, H, W, ws->conv_chunk, err);
    if (rc || (rc = fc_train_need(out, "conv2d", "out", err)) ||
        (rc = fc_train_need(inp, "conv2d", "inp", err)) ||
        (rc = fc_train_need(weight, "conv2d", "weight", err)))
        return rc;
    if (depthwise(&g))
        return fc_train_dw_forward(ws, out, inp, weight, bias, N, g.C, H, W, g.OH, g.OW, &g.w,
                                   &cv->act, err);
    float *col = fc_train_scratch(ws, ws_floats(&g), err);
    if (!col) return FC_ENOMEM;
    for (int n0 = 0; n0 < N; n0 += g.nb) {
        int nb = N - n0 < g.nb ? N - n0 : g.nb, J = nb * g.OHW;
        for (int grp = 0; grp < g.G; grp++) {
            fc_train_mat A = fc_train_mat_rows(weight + (size_t)grp * g.OCg * g.Kg, g.Kg);
            fc_train_mat B = g.plain ? planes(inp, g.C, g.Cg, g.OHW, n0, grp) : fc_train_mat_rows(col, J);
            fc_train_out o = out_planes(out, g.OC, g.OCg, g.OHW, n0, grp);
            o.ep = (fc_epilogue){.bias = bias ? bias + (size_t)grp * g.OCg : NULL, .act = cv->act};
            if (!g.plain) im2col(ws, &g, inp, n0, nb, grp, col);
            if ((rc = fc_train_gemm(ws, g.OCg, J, g.Kg, &A, &B, &o, err))) return rc;
        }
    }
    return 0;
}

/* dbias[oc] = sum over images and pixels of dout[n, oc] (image order, fixed). */
static void bias_grad(fc_train_ws *ws, const float *dout, int N, int OC, int OHW, float *dbias) {
#pragma omp parallel for num_threads(fc_train_threads(ws, (size_t)N * OC * OHW)) schedule(static)
    for (int oc = 0; oc < OC; oc++) {
        double s = 0;
        for (int n = 0; n < N; n++) s += fc_train_sum(dout + ((size_t)n * OC + oc) * OHW, OHW);
        dbias[oc] = (float)s;
    }
}

/* One chunk and group of the backward: dW_g (written when first, else added), dbias_g when not
 * NULL (the row sums of dout_g, packed for dW_g: one chunk only) and dinp. */
static int backward_block(fc_train_ws *ws, const geom *g, float *dinp, float *dweight, float *dbias,
                          const float *dout, const float *inp, const float *weight, int n0, int grp,
                          fc_error *err) {
    int nb = g->N - n0 < g->nb ? g->N - n0 : g->nb, J = nb * g->OHW, rc;
    float *col = ws->buf, *tmp = col + (g->plain ? 0 : (size_t)g->Kg * J);
    size_t wsize = (size_t)g->OCg * g->Kg;
    fc_train_mat dy = planes(dout, g->OC, g->OCg, g->OHW, n0, grp);
    if (dweight) {
        float *dw = dweight + (size_t)grp * wsize;
        /* col^T: rows are col's rows (the product's columns), run columns are the pixels (its k) */
        fc_train_mat x = g->plain ? planes(inp, g->C, g->Cg, g->OHW, n0, grp) : fc_train_mat_rows(col, J);
        fc_train_out o = fc_train_out_rows(n0 ? tmp : dw, g->Kg);
        o.asum = dbias ? dbias + (size_t)grp * g->OCg : NULL;
        x.t = 1;
        if (!g->plain) im2col(ws, g, inp, n0, nb, grp, col);
        if ((rc = fc_train_gemm(ws, g->OCg, g->Kg, J, &dy, &x, &o, err))) return rc;
        if (n0) {
#pragma omp parallel for simd num_threads(fc_train_threads(ws, wsize)) schedule(static)
            for (size_t i = 0; i < wsize; i++) dw[i] += tmp[i];
        }
    }
    if (dinp) {
        /* W_g^T: element (kg, oc) at wg[oc*Kg + kg]; the planes of dinp gated by in_act at inp */
        fc_train_mat wt = {weight + (size_t)grp * wsize, g->Kg, 0, 1 << 30, 1};
        fc_train_out o = g->plain ? out_planes(dinp, g->C, g->Cg, g->OHW, n0, grp)
                                  : fc_train_out_rows(col, J);
        if (g->plain && g->in_act.kind != FC_ACT_NONE) {
            o.gate = inp + (o.p - dinp);
            o.gate_act = g->in_act;
        }
        if ((rc = fc_train_gemm(ws, g->Kg, J, g->OCg, &wt, &dy, &o, err))) return rc;
        if (!g->plain) col2im(ws, g, col, n0, nb, grp, dinp);
    }
    return 0;
}

int fc_conv2d_backward(fc_train_ws *ws, float *dinp, float *dweight, float *dbias, const float *dout,
                       const float *inp, const float *weight, int N, int H, int W,
                       const fc_conv2d *cv, fc_error *err) {
    // dout is (N,OC,OH,OW); dinp will be (N,C,H,W), dweight (OC,C/g,kh,kw), dbias (OC)
    geom g;
    int rc = geom_init(&g, cv, N, H, W, ws->conv_chunk, err);
    if (rc || (rc = fc_train_need(dout, "conv2d", "dout", err))) return rc;
    int gated = dinp && g.in_act.kind != FC_ACT_NONE;
    if (((dweight || gated) && (rc = fc_train_need(inp, "conv2d", "inp", err))) ||
        (dinp && (rc = fc_train_need(weight, "conv2d", "weight", err))))
        return rc;
    if (depthwise(&g))
        return fc_train_dw_backward(ws, dinp, dweight, dbias, dout, inp, weight, N, g.C, H, W, g.OH,
                                    g.OW, &g.w, gated ? &g.in_act : NULL, err);
    /* dbias from dW's packing when there is one product per group, else in its own pass */
    float *db = dweight && g.chunks == 1 ? dbias : NULL;
    if (dbias && !db) bias_grad(ws, dout, N, g.OC, g.OHW, dbias);
    if (!dinp && !dweight) return 0;
    if (!fc_train_scratch(ws, ws_floats(&g), err)) return FC_ENOMEM;
    for (int n0 = 0; n0 < N; n0 += g.nb)
        for (int grp = 0; grp < g.G; grp++)
            if ((rc = backward_block(ws, &g, dinp, dweight, db, dout, inp, weight, n0, grp, err)))
                return rc;
    /* the product gated dinp on its way out; col2im's sums are gated here */
    if (gated && !g.plain)
        return fc_act_backward(ws, dinp, dinp, inp, (size_t)N * g.C * H * W, &g.in_act, err);
    return 0;
}
