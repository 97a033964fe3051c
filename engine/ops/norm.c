/* Normalizing operators: Softmax (opset < 13: over the flattened dims from `axis` on; opset >= 13:
 * along one axis) and inference-mode BatchNormalization that was not folded into a Conv
 * (y = (x - mean) / sqrt(var + eps) * scale + bias, per channel of dim 1). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/ops/ops.h"

/* Softmax needs the opset to choose its semantics; stored in the node's state at prepare. */
typedef struct softmax_state { int opset; } softmax_state;

static int softmax_prepare(fc_graph *g, fc_node *n, const fc_kernels *k, fc_error *err) {
    softmax_state *s = malloc(sizeof *s);
    if (!s) return fc_fail(err, FC_ENOMEM, "out of memory");
    s->opset = g->opset;
    n->state = s;
    return 0;
}

static int softmax_infer(const fc_node *n, const fc_tensor *in, fc_tensor *out, size_t *work,
                         int threads, fc_error *err) {
    int axis;
    const softmax_state *s = n->state;
    int64_t dflt = s && s->opset < 13 ? 1 : -1;
    if (in[0].dtype != FC_F32) return fc_op_fail(n, FC_EFORMAT, err, "needs float input");
    if (fc_op_axis(n, fc_attr_int(n, "axis", dflt), in[0].rank, &axis, err)) return FC_EFORMAT;
    *out = in[0];
    out->data = NULL;
    return 0;
}

static int softmax_run(const fc_node *n, const fc_tensor *in, fc_tensor *out, const fc_run_ctx *ctx,
                       fc_error *err) {
    const softmax_state *s = n->state;
    int legacy = s && s->opset < 13, axis;
    fc_op_axis(n, fc_attr_int(n, "axis", legacy ? 1 : -1), in[0].rank, &axis, err);
    int64_t outer = 1, len = 1, inner = 1;
    for (int d = 0; d < axis; d++) outer *= in[0].dims[d];
    if (legacy) {
        for (int d = axis; d < in[0].rank; d++) len *= in[0].dims[d];
    } else {
        len = in[0].dims[axis];
        for (int d = axis + 1; d < in[0].rank; d++) inner *= in[0].dims[d];
    }
    const float *x = in[0].data;
    float *y = out->data;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            const float *xp = x + o * len * inner + i;
            float *yp = y + o * len * inner + i;
            float m = -INFINITY;
            for (int64_t k = 0; k < len; k++) m = fmaxf(m, xp[k * inner]);
            double sum = 0;
            for (int64_t k = 0; k < len; k++) {
                float e = expf(xp[k * inner] - m);
                yp[k * inner] = e;
                sum += e;
            }
            float inv = (float)(1.0 / sum);
            for (int64_t k = 0; k < len; k++) yp[k * inner] *= inv;
        }
    return 0;
}

const fc_op_def fc_op_softmax = {.name = "Softmax", .prepare = softmax_prepare, .infer = softmax_infer,
                                 .run = softmax_run, .free_state = free, .fold = FC_FOLD_CONST};

static int bn_infer(const fc_node *n, const fc_tensor *in, fc_tensor *out, size_t *work,
                    int threads, fc_error *err) {
    if (n->n_in != 5 || in[0].rank < 2) return fc_op_fail(n, FC_EFORMAT, err, "needs X, scale, B, mean, var");
    int64_t c = in[0].dims[1];
    for (int i = 1; i < 5; i++)
        if (n->in[i] < 0 || fc_tensor_count(&in[i]) != c)
            return fc_op_fail(n, FC_ESHAPE, err, "parameter %d has %lld values for %lld channels", i,
                              (long long)(n->in[i] < 0 ? 0 : fc_tensor_count(&in[i])), (long long)c);
    if (n->n_out > 1) return fc_op_fail(n, FC_EUNSUPPORTED, err, "training-mode outputs are not supported");
    *out = in[0];
    out->data = NULL;
    return 0;
}

static int bn_run(const fc_node *n, const fc_tensor *in, fc_tensor *out, const fc_run_ctx *ctx,
                  fc_error *err) {
    float eps = fc_attr_float(n, "epsilon", 1e-5f);
    int64_t N = in[0].dims[0], C = in[0].dims[1], inner = fc_tensor_count(&in[0]) / (N * C != 0 ? N * C : 1);
    const float *x = in[0].data, *sc = in[1].data, *b = in[2].data, *mean = in[3].data, *var = in[4].data;
    float *y = out->data;
#pragma omp parallel for num_threads(ctx->threads) schedule(static)
    for (int64_t p = 0; p < N * C; p++) {
        int64_t c = p % C;
        float s, t;
        fc_bn_channel(sc[c], b[c], mean[c], var[c], eps, &s, &t);
        for (int64_t i = 0; i < inner; i++) y[p * inner + i] = x[p * inner + i] * s + t;
    }
    return 0;
}

const fc_op_def fc_op_batchnorm = {.name = "BatchNormalization", .infer = bn_infer, .run = bn_run,
                                   .fold = FC_FOLD_CONST};
