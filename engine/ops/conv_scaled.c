/* The channel-scaled 1x1 Conv op (fc_op_conv_scaled; internal, no ONNX op has its name): a
 * pointwise Conv that fc_opt_fuse_se_scale made read Mul(x, s) as x and s, s (N, C, 1, 1) the gate
 * of a squeeze-and-excitation (EfficientNet, MobileNetV3). conv(s * x) = conv'(x) with the weights
 * W'[co][c] = W[co][c] * s[n][c], so on planes large enough (and weights small enough) each image
 * runs with its own packed W' and the scaled tensor, as big as x, is never written. Smaller planes,
 * whose GEMM columns span images, scale the columns as the GEMM gathers them (fc_conv_run_scaled:
 * the Mul's products, nothing written either); any other shape writes x * s to scratch as the Mul
 * computed it and runs the Conv on it. Every way an image's result does not depend on its batch.
 * Not here: finding the pattern (graph_opt.c), the Conv itself (conv.c). */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "engine/fusion.h"
#include "engine/ops/conv_prim.h"

/* Output planes of fewer pixels share GEMMs across images (FC_CONV_FLAT_P): keep the Mul there, whole
 * panels across images beat a per-image W' (MobileNetV3-Large and EfficientNet-B0 +2.4% and +2.8%
 * when this went from 128 to 320 pixels with FC_CONV_FLAT_P: their 14x14 projections). */
#define SCALE_MIN_P FC_CONV_FLAT_P

typedef struct scaled_conv {
    fc_conv *conv;   /* the node's Conv, prepared as usual (its packed W unused on the W' path) */
    const float *w;  /* W (cout, cin) in the graph's constant, which outlives the node state */
    size_t packed;   /* floats of one packed W' (64-byte multiple) */
} scaled_conv;

static size_t round16(size_t f) { return (f + 15) / 16 * 16; }

/* Per image W' beats the Mul when building W' (cout x cin) costs less than scaling x (cin x P). */
static int weights_path(const fc_conv *c, const fc_tensor *x, const fc_tensor *y) {
    int64_t P = y->dims[2] * y->dims[3];
    return P >= SCALE_MIN_P && (int64_t)c->cout * c->cin_g <= x->dims[1] * P;
}

/* How an image batch runs: the per-image W', the gate applied as the GEMM gathers the columns, or
 * x * s written to scratch first. scaled_infer sizes the scratch for the way scaled_run takes. */
typedef enum scaled_way { WAY_WEIGHTS, WAY_GATHER, WAY_COPY } scaled_way;

static scaled_way way_of(const fc_conv *c, const fc_tensor *x, const fc_tensor *y) {
    if (weights_path(c, x, y)) return WAY_WEIGHTS;
    fc_window w;
    fc_conv_window(c, x, &w, NULL); /* accepted by fc_conv_infer before */
    return fc_conv_gathers_columns(c, &w) ? WAY_GATHER : WAY_COPY;
}

/* Floats of one thread's scratch on the W' path: W', its packing, the Conv's scratch for one image
 * on one thread (conv_bytes). */
static size_t per_thread(const scaled_conv *s, size_t conv_bytes) {
    return round16((size_t)s->conv->cout * s->conv->K) + s->packed + round16((conv_bytes + 3) / 4);
}

static int scaled_prepare(fc_graph *g, fc_node *n, const fc_kernels *k, fc_error *err) {
    scaled_conv *s = calloc(1, sizeof *s);
    if (!s) return fc_fail(err, FC_ENOMEM, "out of memory");
    n->state = s;
    int rc = fc_conv_prepare(g, n, k, &s->conv, err);
    if (rc) return rc;
    s->w = g->values[n->in[1]].c.data;
    s->packed = round16(fc_kernels_packed_a_floats(k, s->conv->cout, s->conv->K));
    return 0;
}

static void scaled_free(void *state) {
    scaled_conv *s = state;
    if (!s) return;
    fc_conv_free(s->conv);
    free(s);
}

/* in[0] = x (N, C, H, W); in[fc_fusion.scale] = s (N, C, 1, 1). Scratch: on the W' path per thread
 * (per_thread); else the Conv's own, after x * s for the batch when that is written. */
static int scaled_infer(const fc_node *n, const fc_tensor *in, fc_tensor *out, size_t *work,
                        int threads, fc_error *err) {
    const scaled_conv *s = n->state;
    const fc_tensor *sc = &in[n->fusion->scale];
    if (sc->rank != 4 || sc->dims[0] != in[0].dims[0] || sc->dims[1] != in[0].dims[1] ||
        sc->dims[2] != 1 || sc->dims[3] != 1)
        return fc_op_fail(n, FC_ESHAPE, err, "the fused channel scale is not (N, C, 1, 1)");
    int rc = fc_conv_infer(s->conv, &in[0], out, work, threads, err);
    if (rc) return rc;
    scaled_way way = way_of(s->conv, &in[0], out);
    if (way == WAY_GATHER) return 0;
    if (way == WAY_COPY) {
        *work += fc_tensor_bytes(&in[0]) + 64;
        return 0;
    }
    fc_tensor one = in[0], y1;
    one.dims[0] = 1;
    size_t w1 = 0;
    if ((rc = fc_conv_infer(s->conv, &one, &y1, &w1, 1, err))) return rc;
    *work = (size_t)threads * per_thread(s, w1) * sizeof(float);
    return 0;
}

static int scaled_run(const fc_node *n, const fc_tensor *in, fc_tensor *out, const fc_run_ctx *ctx,
                      fc_error *err) {
    const scaled_conv *s = n->state;
    const fc_conv *c = s->conv;
    const float *sc = in[n->fusion->scale].data;
    int r = fc_fused_residual(n);
    const float *res = r >= 0 ? in[r].data : NULL;
    int64_t N = in[0].dims[0], C = in[0].dims[1], HW = in[0].dims[2] * in[0].dims[3];
    scaled_way way = way_of(c, &in[0], out);
    if (way == WAY_GATHER) {
        fc_conv_run_scaled(c, &in[0], sc, res, out, ctx); /* x * s as the columns are gathered */
        return 0;
    }
    if (way == WAY_COPY) {
        /* x * s as the Mul did (one product per element), then the Conv on the batch */
        float *xs = ctx->work;
        const float *x = in[0].data;
#pragma omp parallel for num_threads(ctx->threads) schedule(static)
        for (int64_t p = 0; p < N * C; p++)
            for (int64_t i = 0; i < HW; i++) xs[p * HW + i] = x[p * HW + i] * sc[p];
        fc_tensor t = in[0];
        t.data = xs;
        fc_run_ctx rest = *ctx;
        rest.work = xs + (fc_tensor_count(&in[0]) + 15) / 16 * 16;
        fc_conv_run(c, &t, res, out, &rest);
        return 0;
    }
    /* images over the threads, each with its own W' = W * s[img] (W: (cout, C)) and a one-image,
     * one-thread Conv (a 14x14 image is one GEMM chunk: splitting it would idle a thread) */
    fc_tensor one = in[0], y1;
    one.dims[0] = 1;
    size_t w1 = 0;
    fc_conv_infer(c, &one, &y1, &w1, 1, NULL); /* accepted in scaled_infer */
    size_t per = per_thread(s, w1);
    int64_t P = out->dims[2] * out->dims[3];
#pragma omp parallel for num_threads(ctx->threads) schedule(dynamic, 1)
    for (int64_t img = 0; img < N; img++) {
        float *wd = ctx->work + per * (size_t)omp_get_thread_num();
        float *packed = wd + round16((size_t)c->cout * c->K);
        fc_conv cs = *c;
        cs.packed = packed;
        cs.bcast_w = NULL; /* the weights are W' now, in packed only: the GEMM path */
        fc_run_ctx one_ctx = {.k = ctx->k, .threads = 1, .work = packed + s->packed};
        const float *si = sc + img * C;
        for (int co = 0; co < c->cout; co++)
            for (int64_t ci = 0; ci < C; ci++) wd[co * C + ci] = s->w[co * C + ci] * si[ci];
        c->k->pack_a(c->cout, c->K, wd, c->K, 1, packed);
        fc_tensor x1 = in[0], yi = *out;
        x1.dims[0] = yi.dims[0] = 1;
        x1.data = (float *)in[0].data + img * C * HW;
        yi.data = (float *)out->data + img * c->cout * P;
        fc_conv_run(&cs, &x1, res ? res + img * c->cout * P : NULL, &yi, &one_ctx);
    }
    return 0;
}

static double scaled_flops(const fc_node *n, const fc_tensor *in, const fc_tensor *out) {
    const scaled_conv *s = n->state;
    return 2.0 * (double)fc_tensor_count(out) * s->conv->K;
}

/* Every way ends in the Conv's GEMM path (fc_conv_run, fc_conv_run_scaled), whose epilogue reads
 * each residual element where it writes the output element (ops/conv.c) */
static int scaled_residual_in_place(const fc_node *n) {
    return !((const scaled_conv *)n->state)->conv->depthwise;
}

const fc_op_def fc_op_conv_scaled = {.name = "FcChannelScaledConv", .prepare = scaled_prepare,
                                     .infer = scaled_infer, .run = scaled_run, .free_state = scaled_free,
                                     .flops = scaled_flops, .residual_in_place = scaled_residual_in_place};
