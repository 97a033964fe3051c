/* Pooling forward and backward on NCHW planes: GlobalAveragePool, AveragePool, MaxPool. Direct loops
 * over each output's window taps, OpenMP over (n, c) planes. Reproducibility: each plane is computed
 * by one thread in a fixed order (window taps row-major; the backward adds each output's taps in
 * output order): bitwise independent of the thread count. Not here: ceil_mode (callers express it
 * as extra bottom/right padding), dilated pooling, MaxPool's Indices output. */
#include <math.h>
#include <string.h>

#include "engine/train/internal.h"

int fc_gap_forward(fc_train_ws *ws, float *out, const float *inp, int N, int C, int HW, fc_error *err) {
    // inp is (N,C,HW); out will be (N,C)
    int sizes[] = {N, C, HW}, rc;
    if ((rc = fc_train_check_sizes("gap", 3, sizes, err)) ||
        (rc = fc_train_need(out, "gap", "out", err)) || (rc = fc_train_need(inp, "gap", "inp", err)))
        return rc;
    int planes = N * C;
#pragma omp parallel for num_threads(fc_train_threads(ws, (size_t)planes * HW)) schedule(static)
    for (int p = 0; p < planes; p++) out[p] = (float)(fc_train_sum(inp + (size_t)p * HW, HW) / HW);
    return 0;
}

int fc_gap_backward(fc_train_ws *ws, float *dinp, const float *dout, int N, int C, int HW,
                    fc_error *err) {
    return fc_gap_backward_gated(ws, dinp, dout, NULL, NULL, N, C, HW, err);
}

int fc_gap_backward_gated(fc_train_ws *ws, float *dinp, const float *dout, const float *inp,
                          const fc_act *in_act, int N, int C, int HW, fc_error *err) {
    // dout is (N,C); inp is (N,C,HW); dinp will be (N,C,HW)
    int sizes[] = {N, C, HW}, rc;
    if ((rc = fc_train_check_sizes("gap", 3, sizes, err)) ||
        (rc = fc_train_need(dinp, "gap", "dinp", err)) || (rc = fc_train_need(dout, "gap", "dout", err)) ||
        (in_act && (rc = fc_train_need(inp, "gap", "inp", err))))
        return rc;
    if (in_act && in_act->kind != FC_ACT_RELU && (in_act->kind != FC_ACT_CLIP || !(in_act->a <= in_act->b)))
        return fc_fail(err, FC_EINVAL, "gap: gate %d is not Relu or an ordered Clip", in_act->kind);
    int planes = N * C, relu = in_act && in_act->kind == FC_ACT_RELU;
    float lo = relu ? 0.0f : in_act ? in_act->a : 0.0f, hi = in_act ? in_act->b : 0.0f;
#pragma omp parallel for num_threads(fc_train_threads(ws, (size_t)planes * HW)) schedule(static)
    for (int p = 0; p < planes; p++) {
        float g = dout[p] / (float)HW, *d = dinp + (size_t)p * HW;
        const float *x = inp ? inp + (size_t)p * HW : NULL;
        if (!in_act) {
#pragma omp simd
            for (int i = 0; i < HW; i++) d[i] = g;
        } else if (relu) { /* fc_act_backward's expressions */
#pragma omp simd
            for (int i = 0; i < HW; i++) d[i] = x[i] <= lo ? 0.0f : g;
        } else {
#pragma omp simd
            for (int i = 0; i < HW; i++) d[i] = (x[i] <= lo) | (x[i] >= hi) ? 0.0f : g;
        }
    }
    return 0;
}

typedef struct pool_geom {
    int N, C, H, W, OH, OW;
    fc_win2d w;
} pool_geom;

static int pool_init(pool_geom *g, const char *op, int N, int C, int H, int W, const fc_win2d *win,
                     fc_error *err) {
    int rc = fc_train_need(win, op, "win", err);
    if (rc || (rc = fc_train_window(op, win, H, W, &g->OH, &g->OW, err))) return rc;
    if (win->dil_h != 1 || win->dil_w != 1) return fc_fail(err, FC_EINVAL, "%s: dilation must be 1", op);
    int in[] = {N, C, H, W}, out[] = {N, C, g->OH, g->OW};
    if ((rc = fc_train_check_sizes(op, 4, in, err)) || (rc = fc_train_check_sizes(op, 4, out, err)))
        return rc;
    g->N = N, g->C = C, g->H = H, g->W = W, g->w = *win;
    return 0;
}

/* Taps of output (oy, ox) inside the input: rows [*y0, *y1), columns [*x0, *x1); *count is the
 * divisor of AveragePool (taps inside, or kh*kw with count_include_pad). */
static void window(const pool_geom *g, int oy, int ox, int include_pad, int *y0, int *y1, int *x0,
                   int *x1, int *count) {
    int ys = oy * g->w.sh - g->w.pt, xs = ox * g->w.sw - g->w.pl;
    *y0 = ys < 0 ? 0 : ys, *x0 = xs < 0 ? 0 : xs;
    *y1 = ys + g->w.kh < g->H ? ys + g->w.kh : g->H;
    *x1 = xs + g->w.kw < g->W ? xs + g->w.kw : g->W;
    *count = include_pad ? g->w.kh * g->w.kw : (*y1 - *y0) * (*x1 - *x0);
}

/* Average pooling of one plane: forward (out from in) or backward (in += out / count over taps). */
static void avg_plane(const pool_geom *g, int include_pad, int backward, float *in, float *out) {
    if (backward) memset(in, 0, sizeof(float) * g->H * g->W);
    for (int oy = 0; oy < g->OH; oy++)
        for (int ox = 0; ox < g->OW; ox++) {
            int y0, y1, x0, x1, count;
            window(g, oy, ox, include_pad, &y0, &y1, &x0, &x1, &count);
            float *o = out + (size_t)oy * g->OW + ox, s = 0, d = count ? *o / (float)count : 0;
            for (int y = y0; y < y1; y++)
                for (int x = x0; x < x1; x++) {
                    if (backward) in[(size_t)y * g->W + x] += d;
                    else s += in[(size_t)y * g->W + x];
                }
            if (!backward) *o = count ? s / (float)count : 0.0f;
        }
}

static int avgpool(fc_train_ws *ws, float *in, float *out, int N, int C, int H, int W,
                   const fc_win2d *win, int include_pad, int backward, fc_error *err) {
    pool_geom g;
    int rc = pool_init(&g, "avgpool", N, C, H, W, win, err);
    if (rc || (rc = fc_train_need(in, "avgpool", backward ? "dinp" : "inp", err)) ||
        (rc = fc_train_need(out, "avgpool", backward ? "dout" : "out", err)))
        return rc;
    int planes = N * C;
    size_t plane = (size_t)H * W, oplane = (size_t)g.OH * g.OW;
#pragma omp parallel for num_threads(fc_train_threads(ws, (size_t)planes * plane)) schedule(static)
    for (int p = 0; p < planes; p++) avg_plane(&g, include_pad, backward, in + p * plane, out + p * oplane);
    return 0;
}

int fc_avgpool_forward(fc_train_ws *ws, float *out, const float *inp, int N, int C, int H, int W,
                       const fc_win2d *win, int count_include_pad, fc_error *err) {
    // inp is (N,C,H,W); out will be (N,C,OH,OW)
    return avgpool(ws, (float *)inp, out, N, C, H, W, win, count_include_pad, 0, err);
}

int fc_avgpool_backward(fc_train_ws *ws, float *dinp, const float *dout, int N, int C, int H, int W,
                        const fc_win2d *win, int count_include_pad, fc_error *err) {
    // dout is (N,C,OH,OW); dinp will be (N,C,H,W)
    return avgpool(ws, dinp, (float *)dout, N, C, H, W, win, count_include_pad, 1, err);
}

/* Index in the plane of output (oy, ox)'s winning tap, or -1 for a window without input taps. */
static long argmax(const pool_geom *g, const float *in, int oy, int ox) {
    int y0, y1, x0, x1, count;
    window(g, oy, ox, 0, &y0, &y1, &x0, &x1, &count);
    long best = -1;
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++) {
            long at = (long)y * g->W + x;
            float v = in[at];
            if (best < 0 || v > in[best] || (isnan(v) && !isnan(in[best]))) best = at;
        }
    return best;
}

static int maxpool(fc_train_ws *ws, float *out, float *dinp, const float *dout, const float *inp,
                   int N, int C, int H, int W, const fc_win2d *win, fc_error *err) {
    pool_geom g;
    int rc = pool_init(&g, "maxpool", N, C, H, W, win, err);
    if (rc || (rc = fc_train_need(inp, "maxpool", "inp", err))) return rc;
    /* a window entirely in the padding has no value: with pads < kernel that cannot happen */
    if (win->pt >= win->kh || win->pb >= win->kh || win->pl >= win->kw || win->pr >= win->kw)
        return fc_fail(err, FC_ESHAPE, "maxpool: padding as large as the kernel leaves empty windows");
    int planes = N * C;
    size_t plane = (size_t)H * W, oplane = (size_t)g.OH * g.OW;
#pragma omp parallel for num_threads(fc_train_threads(ws, (size_t)planes * plane)) schedule(static)
    for (int p = 0; p < planes; p++) {
        const float *in = inp + p * plane;
        if (dinp) memset(dinp + p * plane, 0, sizeof(float) * plane);
        for (int oy = 0; oy < g.OH; oy++)
            for (int ox = 0; ox < g.OW; ox++) {
                long at = argmax(&g, in, oy, ox);
                size_t o = p * oplane + (size_t)oy * g.OW + ox;
                if (out) out[o] = in[at];
                else dinp[p * plane + at] += dout[o];
            }
    }
    return 0;
}

int fc_maxpool_forward(fc_train_ws *ws, float *out, const float *inp, int N, int C, int H, int W,
                       const fc_win2d *win, fc_error *err) {
    // inp is (N,C,H,W); out will be (N,C,OH,OW)
    int rc = fc_train_need(out, "maxpool", "out", err);
    return rc ? rc : maxpool(ws, out, NULL, NULL, inp, N, C, H, W, win, err);
}

int fc_maxpool_backward(fc_train_ws *ws, float *dinp, const float *dout, const float *inp, int N,
                        int C, int H, int W, const fc_win2d *win, fc_error *err) {
    // dout is (N,C,OH,OW); dinp will be (N,C,H,W)
    int rc;
    if ((rc = fc_train_need(dinp, "maxpool", "dinp", err)) ||
        (rc = fc_train_need(dout, "maxpool", "dout", err)))
        return rc;
    return maxpool(ws, NULL, dinp, dout, inp, N, C, H, W, win, err);
}
