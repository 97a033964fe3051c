/* Pooling and reductions on NCHW float32: MaxPool, AveragePool (count_include_pad), GlobalAveragePool,
 * GlobalMaxPool. Parallel over (n, c) planes. */
#include <float.h>
#include <omp.h>
#include <string.h>

#include "engine/ops/ops.h"
#include "engine/ops/plane_sum.h"
#include "engine/ops/window.h"

static int pool_geometry(const fc_node *n, const fc_tensor *x, fc_window *w, fc_error *err) {
    if (x->rank != 4) return fc_op_fail(n, FC_EUNSUPPORTED, err, "only 4-D (N,C,H,W) inputs are supported (rank %d)", x->rank);
    int64_t ks[4];
    if (fc_attr_ints(n, "kernel_shape", ks, 4) != 2) return fc_op_fail(n, FC_EFORMAT, err, "kernel_shape must have 2 entries");
    if (ks[0] < 1 || ks[1] < 1 || ks[0] > 4096 || ks[1] > 4096) return fc_op_fail(n, FC_EFORMAT, err, "invalid kernel_shape");
    return fc_window_infer(n, x->dims[2], x->dims[3], (int)ks[0], (int)ks[1], 1, w, err);
}

/* 3x3, stride 1, pads 1 (Inception's and GoogLeNet's pooling branches): the output has the input's
 * size, and pool3_plane runs the whole plane as two flat passes (per row, 17- or 35-wide planes
 * spent most of their time in loop set-up and tails). */
static int whole_plane(const fc_window *w, int64_t H, int64_t W) {
    return w->kh == 3 && w->kw == 3 && w->sh == 1 && w->sw == 1 && w->dil_h == 1 && w->dil_w == 1 &&
           w->pt == 1 && w->pl == 1 && w->pb == 1 && w->pr == 1 && w->oh == H && w->ow == W && H >= 2 &&
           W >= 2 && H * W <= (int64_t)1 << 24;
}

static int pool_infer(const fc_node *n, const fc_tensor *in, fc_tensor *out, size_t *work,
                      int threads, fc_error *err) {
    fc_window w;
    int rc = pool_geometry(n, &in[0], &w, err);
    if (rc) return rc;
    /* tap ranges of output rows and columns, a row buffer (a plane buffer for whole_plane) per thread */
    size_t buf = (size_t)in[0].dims[3] + 16;
    if (whole_plane(&w, in[0].dims[2], in[0].dims[3])) buf = (size_t)(in[0].dims[2] * in[0].dims[3]) + 16;
    *work = 3 * sizeof(int) * (size_t)(w.oh + w.ow) + 64 + buf * (size_t)threads * sizeof(float);
    if (n->n_out > 1 && n->out[1] >= 0) return fc_op_fail(n, FC_EUNSUPPORTED, err, "the Indices output is not supported");
    *out = in[0];
    out->data = NULL;
    out->dims[2] = w.oh;
    out->dims[3] = w.ow;
    return 0;
}

/* Window taps [*i0, *i1) of output position o that fall inside [0, n) (stride s, pad p, dilation d,
 * k taps); *inc = taps that count for count_include_pad (inside [0, n + pe), pe the end pad). */
static void tap_range(int64_t o, int s, int p, int d, int k, int64_t n, int pe, int *i0, int *i1, int *inc) {
    int64_t base = o * s - p;
    int a = 0, b = k, c = 0;
    while (a < k && base + (int64_t)a * d < 0) a++;
    while (b > a && base + (int64_t)(b - 1) * d >= n) b--;
    for (int i = 0; i < k; i++) c += base + (int64_t)i * d < n + pe;
    *i0 = a, *i1 = b, *inc = c;
}

/* t[i] = max(t[i], r[i]) or t[i] += r[i] for i < n; eight independent statements per step so that the
 * compiler's straight-line vectorizer turns them into vector operations. */
static void combine_row(int is_max, float *restrict t, const float *restrict r, int64_t n) {
    int64_t i = 0;
    if (is_max) {
        for (; i + 8 <= n; i += 8) {
            float *a = t + i;
            const float *b = r + i;
            a[0] = b[0] > a[0] ? b[0] : a[0]; a[1] = b[1] > a[1] ? b[1] : a[1];
            a[2] = b[2] > a[2] ? b[2] : a[2]; a[3] = b[3] > a[3] ? b[3] : a[3];
            a[4] = b[4] > a[4] ? b[4] : a[4]; a[5] = b[5] > a[5] ? b[5] : a[5];
            a[6] = b[6] > a[6] ? b[6] : a[6]; a[7] = b[7] > a[7] ? b[7] : a[7];
        }
        for (; i < n; i++) t[i] = r[i] > t[i] ? r[i] : t[i];
    } else {
        for (; i + 8 <= n; i += 8) {
            float *a = t + i;
            const float *b = r + i;
            a[0] += b[0]; a[1] += b[1]; a[2] += b[2]; a[3] += b[3];
            a[4] += b[4]; a[5] += b[5]; a[6] += b[6]; a[7] += b[7];
        }
        for (; i < n; i++) t[i] += r[i];
    }
}

/* Outputs [a, b) of a row whose kw taps all lie in the row buffer (tc: the buffer shifted by the
 * left pad; stride sw, a constant at the call sites): the expressions of pool_run's per-output loop,
 * over the outputs as vector lanes; averages divide by cnt (> 0). */
static inline __attribute__((always_inline)) void inner_row(int is_max, int kw, int sw, const float *restrict tc,
                                                            float *restrict yr, int a, int b, int cnt) {
    if (is_max && kw == 3) {
#pragma omp simd
        for (int ox = a; ox < b; ox++) {
            const float *q = tc + (ptrdiff_t)ox * sw;
            float x0 = q[0], x1 = q[1], x2 = q[2], m = x1 > x0 ? x1 : x0;
            yr[ox] = x2 > m ? x2 : m;
        }
    } else if (is_max) { /* yr accumulates, tap after tap: each output sees them in order */
        for (int ox = a; ox < b; ox++) yr[ox] = -FLT_MAX;
        for (int j = 0; j < kw; j++)
#pragma omp simd
            for (int ox = a; ox < b; ox++) yr[ox] = tc[ox * sw + j] > yr[ox] ? tc[ox * sw + j] : yr[ox];
    } else {
        for (int ox = a; ox < b; ox++) yr[ox] = 0.f;
        for (int j = 0; j < kw; j++)
#pragma omp simd
            for (int ox = a; ox < b; ox++) yr[ox] += tc[ox * sw + j];
        float c = (float)cnt; /* > 0: every tap of an inner output is in the row */
#pragma omp simd
        for (int ox = a; ox < b; ox++) yr[ox] = yr[ox] / c;
    }
}

static inline float max2(float a, float b) { return b > a ? b : a; } /* a, then b: combine_row's order */

/* The 3x3 stride-1 pads-1 pool of one plane, whole_plane's case, with the arithmetic of pool_run's
 * row-by-row path (the same bits): the valid rows combined in order into v (H, W), then each output
 * combines its valid columns of v in order (sums from 0, maxima from -FLT_MAX except where all
 * three columns are valid) and an average divides by its count. Flat passes over the plane; the
 * outputs whose window wraps past a row's end are computed again for their own columns. */
static void pool3_plane(int is_max, int include_pad, const float *restrict x, int64_t H, int64_t W,
                        const int *rows, const int *cols, float *restrict v, float *restrict y) {
    int64_t HW = H * W, i;
    // x, v, y: (H, W)
    if (is_max) {
#pragma omp simd
        for (i = 0; i < W; i++) v[i] = max2(x[i], x[i + W]);
#pragma omp simd
        for (i = W; i < HW - W; i++) v[i] = max2(max2(x[i - W], x[i]), x[i + W]);
#pragma omp simd
        for (i = HW - W; i < HW; i++) v[i] = max2(x[i - W], x[i]);
#pragma omp simd
        for (i = 1; i < HW - 1; i++) y[i] = max2(max2(v[i - 1], v[i]), v[i + 1]);
        for (int64_t r = 0; r < HW; r += W) { /* the first and last column: two taps */
            y[r] = max2(max2(-FLT_MAX, v[r]), v[r + 1]);
            y[r + W - 1] = max2(max2(-FLT_MAX, v[r + W - 2]), v[r + W - 1]);
        }
        return;
    }
#pragma omp simd
    for (i = 0; i < W; i++) v[i] = x[i] + x[i + W];
#pragma omp simd
    for (i = W; i < HW - W; i++) v[i] = (x[i - W] + x[i]) + x[i + W];
#pragma omp simd
    for (i = HW - W; i < HW; i++) v[i] = x[i - W] + x[i];
#pragma omp simd
    for (i = 1; i < HW - 1; i++) y[i] = ((0.f + v[i - 1]) + v[i]) + v[i + 1];
    for (int64_t r = 0; r < HW; r += W) {
        y[r] = (0.f + v[r]) + v[r + 1];
        y[r + W - 1] = (0.f + v[r + W - 2]) + v[r + W - 1];
    }
    for (int64_t oy = 0; oy < H; oy++) { /* the counts of pool_run (int products, as floats) */
        int i0 = rows[3 * oy], i1 = rows[3 * oy + 1], rc = include_pad ? rows[3 * oy + 2] : i1 - i0;
        float *yr = y + oy * W, c = (float)(rc * 3); /* inner columns: three taps either way */
#pragma omp simd
        for (int64_t ox = 1; ox < W - 1; ox++) yr[ox] = yr[ox] / c;
        for (int64_t ox = 0; ox < W; ox += W - 1) {
            int cc = include_pad ? cols[3 * ox + 2] : cols[3 * ox + 1] - cols[3 * ox];
            yr[ox] = yr[ox] / (float)(rc * cc);
        }
    }
}

/* Separable: per output row, the valid input rows are combined column by column into a row buffer
 * (max or sum), then each output takes the max or sum of its valid columns of that buffer. The tap
 * ranges of every output row and column are computed once per call. Max is exact in any order; the
 * average sums rows first. */
static int pool_run(const fc_node *n, const fc_tensor *in, fc_tensor *out, const fc_run_ctx *ctx,
                    fc_error *err) {
    fc_window w;
    pool_geometry(n, &in[0], &w, err);
    int is_max = !strcmp(n->op_type, "MaxPool");
    int include_pad = (int)fc_attr_int(n, "count_include_pad", 0);
    int64_t planes = in[0].dims[0] * in[0].dims[1], H = in[0].dims[2], W = in[0].dims[3];
    const float *x = in[0].data;
    float *y = out->data;
    /* scratch: tap ranges (lo, hi, count) of rows and columns, then a row buffer per thread */
    int *rows = (int *)ctx->work, *cols = rows + 3 * w.oh;
    float *rowbuf = (float *)(cols + 3 * w.ow);
    for (int o = 0; o < w.oh; o++)
        tap_range(o, w.sh, w.pt, w.dil_h, w.kh, H, w.pb, &rows[3 * o], &rows[3 * o + 1], &rows[3 * o + 2]);
    for (int o = 0; o < w.ow; o++)
        tap_range(o, w.sw, w.pl, w.dil_w, w.kw, W, w.pr, &cols[3 * o], &cols[3 * o + 1], &cols[3 * o + 2]);
    int in0 = w.ow, in1 = w.ow; /* stride 1 or 2, no dilation: outputs [in0, in1) have every tap in the row */
    for (int o = 0; (w.sw == 1 || w.sw == 2) && w.dil_w == 1 && o < w.ow; o++)
        if (cols[3 * o] == 0 && cols[3 * o + 1] == w.kw) {
            if (in0 == w.ow) in0 = o;
            in1 = o + 1;
        }
    int whole = whole_plane(&w, H, W);
    size_t buf = whole ? (size_t)(H * W) + 16 : (size_t)W + 16;
#pragma omp parallel for num_threads(ctx->threads) schedule(dynamic, 4)
    for (int64_t p = 0; p < planes; p++) {
        const float *xp = x + p * H * W;
        float *yp = y + p * (int64_t)w.oh * w.ow;
        float *t = rowbuf + (size_t)omp_get_thread_num() * buf;
        if (whole) {
            pool3_plane(is_max, include_pad, xp, H, W, rows, cols, t, yp);
            continue;
        }
        for (int oy = 0; oy < w.oh; oy++) {
            int i0 = rows[3 * oy], i1 = rows[3 * oy + 1], rin = rows[3 * oy + 2];
            float *yr = yp + (int64_t)oy * w.ow;
            if (i0 >= i1) { /* the window has no input row */
                for (int ox = 0; ox < w.ow; ox++) yr[ox] = is_max ? -FLT_MAX : 0.f;
                continue;
            }
            const float *r0 = xp + ((int64_t)oy * w.sh - w.pt + (int64_t)i0 * w.dil_h) * W;
            memcpy(t, r0, (size_t)W * sizeof(float));
            for (int i = i0 + 1; i < i1; i++)
                combine_row(is_max, t, xp + ((int64_t)oy * w.sh - w.pt + (int64_t)i * w.dil_h) * W, W);
            for (int ox = 0; ox < w.ow; ox++) {
                if (ox == in0 && in1 > in0) { /* the inner outputs, one vector loop */
                    int cnt = include_pad ? rin * w.kw : (i1 - i0) * w.kw;
                    if (w.sw == 1) inner_row(is_max, w.kw, 1, t - w.pl, yr, in0, in1, cnt);
                    else inner_row(is_max, w.kw, 2, t - w.pl, yr, in0, in1, cnt);
                    ox = in1 - 1;
                    continue;
                }
                int j0 = cols[3 * ox], j1 = cols[3 * ox + 1];
                const float *tc = t + (int64_t)ox * w.sw - w.pl;
                if (is_max && j0 == 0 && j1 == 3 && w.dil_w == 1) { /* the common 3-wide window */
                    float a = tc[0], b = tc[1], c = tc[2], m = b > a ? b : a;
                    yr[ox] = c > m ? c : m;
                } else if (is_max) {
                    float acc = -FLT_MAX;
                    for (int j = j0; j < j1; j++) acc = tc[(int64_t)j * w.dil_w] > acc ? tc[(int64_t)j * w.dil_w] : acc;
                    yr[ox] = acc;
                } else {
                    float acc = 0.f;
                    for (int j = j0; j < j1; j++) acc += tc[(int64_t)j * w.dil_w];
                    int cnt = include_pad ? rin * cols[3 * ox + 2] : (i1 - i0) * (j1 - j0);
                    yr[ox] = cnt ? acc / cnt : 0.f;
                }
            }
        }
    }
    return 0;
}

const fc_op_def fc_op_maxpool = {.name = "MaxPool", .infer = pool_infer, .run = pool_run};
const fc_op_def fc_op_averagepool = {.name = "AveragePool", .infer = pool_infer, .run = pool_run};

/* ---- global pools: (N, C, H, W) -> (N, C, 1, 1) ---- */
static int global_infer(const fc_node *n, const fc_tensor *in, fc_tensor *out, size_t *work,
                        int threads, fc_error *err) {
    if (in[0].rank < 3) return fc_op_fail(n, FC_ESHAPE, err, "needs a rank >= 3 input");
    *out = in[0];
    out->data = NULL;
    for (int d = 2; d < out->rank; d++) out->dims[d] = 1;
    return 0;
}

static int global_run(const fc_node *n, const fc_tensor *in, fc_tensor *out, const fc_run_ctx *ctx,
                      fc_error *err) {
    int is_max = !strcmp(n->op_type, "GlobalMaxPool");
    int64_t planes = in[0].dims[0] * in[0].dims[1], hw = fc_tensor_count(&in[0]) / (planes ? planes : 1);
    const float *x = in[0].data;
    float *y = out->data;
    if (!is_max) {
        fc_plane_means(x, planes, hw, y, ctx->threads);
        return 0;
    }
#pragma omp parallel for num_threads(ctx->threads) schedule(static) if (planes * hw > 65536)
    for (int64_t p = 0; p < planes; p++) {
        const float *xp = x + p * hw;
        float m = -FLT_MAX;
        for (int64_t i = 0; i < hw; i++) m = xp[i] > m ? xp[i] : m;
        y[p] = m;
    }
    return 0;
}

const fc_op_def fc_op_globalaveragepool = {.name = "GlobalAveragePool", .infer = global_infer, .run = global_run};
const fc_op_def fc_op_globalmaxpool = {.name = "GlobalMaxPool", .infer = global_infer, .run = global_run};
