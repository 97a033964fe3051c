/* Conv (2-D, NCHW float32): weights packed once at load; at run time each task (image, group,
 * column chunk, row block) builds packed B (direct for 1x1 stride-1 convs, im2col written straight
 * into the packed layout otherwise) and calls the packed GEMM with the fused epilogue
 * y = act(W*x + bias + residual). Depthwise convs (group == Cin == Cout) use the per-plane kernel.
 * Tasks are independent, so an image's result does not depend on the batch it is in. */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "extract/ops/ops.h"
#include "extract/ops/window.h"

#define CHUNK_COLS 384 /* target columns (output pixels) per GEMM call */

typedef struct conv_state {
    int cout, cin_g, group, kh, kw, K; /* K = cin_g * kh * kw */
    int depthwise;
    float *packed;       /* group g's packed A at packed + g * group_stride */
    size_t group_stride;
    float *bias;         /* (cout), zeros when the node has none */
    float *dw;           /* depthwise weights (cout, kh*kw) */
    const fc_kernels *k;
} conv_state;

static void conv_free(void *p) {
    conv_state *s = p;
    if (!s) return;
    free(s->packed);
    free(s->bias);
    free(s->dw);
    free(s);
}

static void *alloc64(size_t floats) {
    void *p = NULL;
    return posix_memalign(&p, 64, floats * sizeof(float) + 64) == 0 ? p : NULL;
}

static int conv_prepare(fc_graph *g, fc_node *n, const fc_kernels *k, fc_error *err) {
    if (n->n_in < 2 || n->in[1] < 0) return fc_op_fail(n, FC_EFORMAT, err, "needs X and W");
    const fc_tensor *w = &g->values[n->in[1]].c;
    if (!w->data) return fc_op_fail(n, FC_EUNSUPPORTED, err, "weights must be constant");
    if (w->rank != 4) return fc_op_fail(n, FC_EUNSUPPORTED, err, "only 2-D convolutions are supported (weight rank %d)", w->rank);
    int64_t group = fc_attr_int(n, "group", 1);
    for (int i = 0; i < 4; i++)
        if (w->dims[i] < 1 || w->dims[i] > (1 << 20)) return fc_op_fail(n, FC_EFORMAT, err, "invalid weight shape");
    if (group < 1 || w->dims[0] % group)
        return fc_op_fail(n, FC_EFORMAT, err, "group %lld does not divide %lld output channels", (long long)group, (long long)w->dims[0]);
    int64_t ks[4];
    if (fc_attr_ints(n, "kernel_shape", ks, 4) == 2 && (ks[0] != w->dims[2] || ks[1] != w->dims[3]))
        return fc_op_fail(n, FC_ESHAPE, err, "kernel_shape disagrees with the weight shape");
    conv_state *s = calloc(1, sizeof *s);
    if (!s) return fc_fail(err, FC_ENOMEM, "out of memory");
    n->state = s;
    s->k = k;
    s->cout = (int)w->dims[0];
    s->cin_g = (int)w->dims[1];
    s->group = (int)group;
    s->kh = (int)w->dims[2];
    s->kw = (int)w->dims[3];
    s->K = s->cin_g * s->kh * s->kw;
    s->depthwise = s->group > 1 && s->cin_g == 1 && s->cout == s->group;
    s->bias = alloc64((size_t)s->cout);
    if (!s->bias) return fc_fail(err, FC_ENOMEM, "out of memory");
    memset(s->bias, 0, (size_t)s->cout * sizeof(float));
    if (n->n_in > 2 && n->in[2] >= 0) {
        const fc_tensor *b = &g->values[n->in[2]].c;
        if (!b->data) return fc_op_fail(n, FC_EUNSUPPORTED, err, "bias must be constant");
        if (fc_tensor_count(b) != s->cout) return fc_op_fail(n, FC_ESHAPE, err, "bias has %lld values for %d channels", (long long)fc_tensor_count(b), s->cout);
        memcpy(s->bias, b->data, (size_t)s->cout * sizeof(float));
    }
    const float *wd = w->data;
    if (s->depthwise) {
        size_t count = (size_t)s->cout * s->kh * s->kw;
        if (!(s->dw = alloc64(count))) return fc_fail(err, FC_ENOMEM, "out of memory");
        memcpy(s->dw, wd, count * sizeof(float));
        return 0;
    }
    int mg = s->cout / s->group;
    s->group_stride = (fc_kernels_packed_a_floats(k, mg, s->K) + 15) / 16 * 16;
    if (!(s->packed = alloc64(s->group_stride * s->group))) return fc_fail(err, FC_ENOMEM, "out of memory");
    for (int gi = 0; gi < s->group; gi++)
        k->pack_a(mg, s->K, wd + (size_t)gi * mg * s->K, s->K, 1, s->packed + gi * s->group_stride);
    return 0;
}

/* Columns per task: a multiple of nr near CHUNK_COLS, or all of P when that is smaller. */
static int chunk_cols(const conv_state *s, int64_t P) {
    int nr = s->k->nr, c = (CHUNK_COLS + nr - 1) / nr * nr;
    int64_t p_pad = (P + nr - 1) / nr * nr;
    return (int)(p_pad < c ? p_pad : c);
}

static int conv_geometry(const fc_node *n, const conv_state *s, const fc_tensor *x, fc_window *w,
                         fc_error *err) {
    if (x->rank != 4) return fc_op_fail(n, FC_EUNSUPPORTED, err, "only 4-D (N,C,H,W) inputs are supported (rank %d)", x->rank);
    if (x->dims[1] != (int64_t)s->cin_g * s->group)
        return fc_op_fail(n, FC_ESHAPE, err, "input has %lld channels, weights expect %d", (long long)x->dims[1], s->cin_g * s->group);
    return fc_window_infer(n, x->dims[2], x->dims[3], s->kh, s->kw, 0, w, err);
}

static int conv_infer(const fc_node *n, const fc_tensor *in, fc_tensor *out, size_t *work,
                      int threads, fc_error *err) {
    const conv_state *s = n->state;
    fc_window w;
    int rc = conv_geometry(n, s, &in[0], &w, err);
    if (rc) return rc;
    out->dtype = FC_F32;
    out->rank = 4;
    out->dims[0] = in[0].dims[0];
    out->dims[1] = s->cout;
    out->dims[2] = w.oh;
    out->dims[3] = w.ow;
    out->data = NULL;
    if (!s->depthwise) {
        size_t per = fc_kernels_packed_b_floats(s->k, s->K, chunk_cols(s, (int64_t)w.oh * w.ow));
        per = (per + 15) / 16 * 16;
        *work = per * (size_t)threads * sizeof(float);
    }
    return 0;
}

/* im2col of output columns [p0, p0 + np) of one image/group straight into packed-B panels.
 * A panel's lanes are split into runs that share an output row; for each (ci, ky, kx) a run is one
 * strided copy from an input row with its out-of-bounds lanes zeroed, so the inner loop has no
 * per-element bounds checks (for stride 1 it is a plain contiguous copy). */
static void im2col_packed(const conv_state *s, const fc_window *w, const float *x, int64_t H,
                          int64_t W, int64_t p0, int np, float *pb) {
    int nr = s->k->nr;
    int run_start[65], run_oy[65], run_ox[65], n_runs;
    for (int q = 0; q * nr < np; q++) {
        float *panel = pb + (size_t)q * s->K * nr;
        int lanes = np - q * nr < nr ? np - q * nr : nr;
        n_runs = 0;
        for (int j = 0; j < lanes;) {
            int64_t p = p0 + (int64_t)q * nr + j;
            int oy = (int)(p / w->ow), ox = (int)(p % w->ow);
            int len = w->ow - ox < lanes - j ? w->ow - ox : lanes - j;
            run_start[n_runs] = j;
            run_oy[n_runs] = oy;
            run_ox[n_runs++] = ox;
            j += len;
        }
        run_start[n_runs] = lanes;
        int kidx = 0;
        for (int ci = 0; ci < s->cin_g; ci++) {
            const float *xc = x + (int64_t)ci * H * W;
            for (int ky = 0; ky < s->kh; ky++)
                for (int kx = 0; kx < s->kw; kx++, kidx++) {
                    float *row = panel + (size_t)kidx * nr;
                    for (int r = 0; r < n_runs; r++) {
                        int j0 = run_start[r], len = run_start[r + 1] - j0;
                        int64_t iy = (int64_t)run_oy[r] * w->sh - w->pt + (int64_t)ky * w->dh;
                        if (iy < 0 || iy >= H) {
                            memset(row + j0, 0, (size_t)len * sizeof(float));
                            continue;
                        }
                        /* lane t reads column ix0 + t*sw; keep t in [lo, hi) inside [0, W) */
                        int64_t ix0 = (int64_t)run_ox[r] * w->sw - w->pl + (int64_t)kx * w->dw;
                        int64_t lo = ix0 >= 0 ? 0 : (-ix0 + w->sw - 1) / w->sw;
                        int64_t hi = ix0 > W - 1 ? 0 : (W - 1 - ix0) / w->sw + 1;
                        if (hi > len) hi = len;
                        if (lo > hi) lo = hi;
                        float *dst = row + j0;
                        const float *src = xc + iy * W + ix0;
                        for (int64_t t = 0; t < lo; t++) dst[t] = 0.f;
                        if (w->sw == 1) memcpy(dst + lo, src + lo, (size_t)(hi - lo) * sizeof(float));
                        else for (int64_t t = lo; t < hi; t++) dst[t] = src[t * w->sw];
                        for (int64_t t = hi; t < len; t++) dst[t] = 0.f;
                    }
                    for (int j = lanes; j < nr; j++) row[j] = 0.f;
                }
        }
    }
}

static int conv_run_depthwise(const fc_node *n, const conv_state *s, const fc_window *w,
                              const fc_tensor *in, fc_tensor *out, const fc_run_ctx *ctx) {
    int64_t N = in[0].dims[0], C = s->cout, H = in[0].dims[2], W = in[0].dims[3];
    int64_t P = (int64_t)w->oh * w->ow;
    const float *x = in[0].data, *res = n->residual >= 0 ? in[n->n_in].data : NULL;
    float *y = out->data;
    fc_act none = {0}, act = n->act;
#pragma omp parallel for num_threads(ctx->threads) schedule(static)
    for (int64_t t = 0; t < N * C; t++) {
        int64_t c = t % C;
        float *yp = y + t * P;
        ctx->k->dwconv_plane(x + t * H * W, (int)H, (int)W, s->dw + c * s->kh * s->kw, s->kh, s->kw,
                             w->sh, w->sw, w->pt, w->pl, w->dh, w->dw, s->bias[c],
                             res ? &none : &act, yp, w->oh, w->ow);
        if (res) {
            const float *rp = res + t * P;
            for (int64_t i = 0; i < P; i++) yp[i] += rp[i];
            ctx->k->act(&act, yp, yp, (size_t)P);
        }
    }
    return 0;
}

static int conv_run(const fc_node *n, const fc_tensor *in, fc_tensor *out, const fc_run_ctx *ctx,
                    fc_error *err) {
    const conv_state *s = n->state;
    fc_window w;
    conv_geometry(n, s, &in[0], &w, err);
    if (s->depthwise) return conv_run_depthwise(n, s, &w, in, out, ctx);
    const fc_kernels *k = ctx->k;
    int64_t N = in[0].dims[0], H = in[0].dims[2], W = in[0].dims[3], P = (int64_t)w.oh * w.ow;
    int mg = s->cout / s->group, cc = chunk_cols(s, P);
    int64_t chunks = (P + cc - 1) / cc, tasks = N * s->group * chunks;
    /* Few tasks (batch 1, small late layers): also split output channels so both cores work. */
    int msplit = 1;
    while (tasks * msplit < 2 * ctx->threads && mg / (msplit * 2) >= 2 * k->mr) msplit *= 2;
    int mblock = (mg / msplit + k->mr - 1) / k->mr * k->mr;
    int direct = s->kh == 1 && s->kw == 1 && w.sh == 1 && w.sw == 1 && w.pt == 0 && w.pl == 0 &&
                 w.pb == 0 && w.pr == 0;
    size_t per = (fc_kernels_packed_b_floats(k, s->K, cc) + 15) / 16 * 16;
    const float *x = in[0].data, *res = n->residual >= 0 ? in[n->n_in].data : NULL;
    float *y = out->data;
#pragma omp parallel for num_threads(ctx->threads) schedule(dynamic, 1)
    for (int64_t t = 0; t < tasks * msplit; t++) {
        int64_t ms = t % msplit, rest = t / msplit;
        int64_t ch = rest % chunks, gi = (rest / chunks) % s->group, img = rest / chunks / s->group;
        int64_t p0 = ch * cc;
        int np = (int)(P - p0 < cc ? P - p0 : cc);
        float *pb = ctx->work + per * (size_t)omp_get_thread_num();
        const float *xg = x + (img * s->group * s->cin_g + gi * s->cin_g) * H * W;
        if (direct) k->pack_b(s->K, np, xg + p0, P, 1, pb);
        else im2col_packed(s, &w, xg, H, W, p0, np, pb);
        int m0 = (int)ms * mblock, mm = mg - m0 < mblock ? mg - m0 : mblock;
        if (mm <= 0) continue;
        int64_t cbase = (img * s->cout + gi * mg + m0) * P + p0;
        fc_epilogue ep = {.bias = s->bias + gi * mg + m0, .residual = res ? res + cbase : NULL,
                          .act = n->act};
        k->sgemm_packed(mm, np, s->K, s->packed + gi * s->group_stride + (size_t)(m0 / k->mr) * s->K * k->mr,
                        pb, y + cbase, P, 1, &ep);
    }
    return 0;
}

static double conv_flops(const fc_node *n, const fc_tensor *in, const fc_tensor *out) {
    const conv_state *s = n->state;
    return 2.0 * (double)fc_tensor_count(out) * s->K;
}

const fc_op_def fc_op_conv = {.name = "Conv", .prepare = conv_prepare, .infer = conv_infer,
                              .run = conv_run, .free_state = conv_free, .flops = conv_flops};
