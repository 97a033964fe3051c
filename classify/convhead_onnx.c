/* The conv head's blocks as an ONNX graph (convhead.h): their spec text, and the graph with its
 * starting values. Graph (opset 13, IR 8): input TENSOR (N, C, H, W) -> per block i (1-based)
 * Conv "conv/b<i>/conv" (3x3, pads 1, strides s, weight "conv/b<i>/w", no bias) ->
 * BatchNormalization "conv/b<i>/bn" (scale, bias, mean, var "conv/b<i>/bn.*"; ONNX's defaults
 * epsilon 1e-5, momentum 0.9) -> Relu "conv/b<i>/relu" -> GlobalAveragePool -> output
 * FC_CONVHEAD_FEATURE (N, C', 1, 1). Not here: training it (convhead.c), the head after the pool. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "classify/convhead.h"

#define TOP_OPSET 13
#define TOP_IR_VERSION 8

/* ---- the spec ---- */

int fc_conv_spec_parse(const char *s, fc_conv_spec *out, fc_error *err) {
    memset(out, 0, sizeof *out);
    const char *p = s ? s : "";
    while (*p) {
        char *end;
        long ch = strtol(p, &end, 10), stride = 1;
        if (end == p || ch < 1 || ch > 4096 || out->n == FC_CONV_MAX_BLOCKS) break;
        if (*end == 's') {
            const char *q = end + 1;
            stride = strtol(q, &end, 10);
            if (end == q || (stride != 1 && stride != 2)) break;
        }
        out->channels[out->n] = (int)ch;
        out->stride[out->n++] = (int)stride;
        if (!*end) return 0;
        if (*end != ',' && *end != '+') break;
        p = end + 1;
    }
    memset(out, 0, sizeof *out);
    return fc_fail(err, FC_EINVAL, "conv blocks '%s': want 1 to %d blocks of channels (1 to 4096), each "
                   "optionally with s2 for stride 2, e.g. 128,128s2", s ? s : "", FC_CONV_MAX_BLOCKS);
}

void fc_conv_spec_format(const fc_conv_spec *s, char sep, char *out, size_t cap) {
    size_t at = 0;
    if (!cap) return;
    out[0] = 0;
    for (int i = 0; i < s->n && at + 1 < cap; i++) {
        if (i) out[at++] = sep, out[at] = 0;
        int w = snprintf(out + at, cap - at, "%d%s", s->channels[i], s->stride[i] == 2 ? "s2" : "");
        if (w < 0) break;
        at += (size_t)w;
    }
}

/* ---- the graph ---- */

static uint64_t splitmix64(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* n values normal(0, std) (Box-Muller, one value per pair of draws). */
static void he_normal(float *w, size_t n, float std, uint64_t *s) {
    for (size_t i = 0; i < n; i++) {
        double u1 = ((double)(splitmix64(s) >> 11) + 1.0) * 0x1p-53; /* (0, 1]: log is finite */
        double u2 = (double)(splitmix64(s) >> 11) * 0x1p-53;
        w[i] = (float)(std * sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2));
    }
}

typedef struct top_build {
    fc_onnx_pool pool;
    Onnx__NodeProto **nodes;
    Onnx__TensorProto **inits;
    size_t n_nodes, n_inits;
    int oom;
} top_build;

static float *init_tensor(top_build *t, const char *name, int rank, const int64_t *dims, size_t count) {
    float *v = fc_onnx_pool_alloc(&t->pool, count * sizeof(float));
    Onnx__TensorProto *tp = v ? fc_onnx_tensor_raw(&t->pool, name, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, rank, dims,
                                                   v, count * sizeof(float))
                              : NULL;
    if (!tp) t->oom = 1;
    else t->inits[t->n_inits++] = tp;
    return tp ? v : NULL;
}

static Onnx__NodeProto *node(top_build *t, const char *op, const char *name, int n_in, const char *const *ins,
                             const char *out) {
    Onnx__NodeProto *n = fc_onnx_node(&t->pool, op, name, n_in, ins, out);
    if (!n) t->oom = 1;
    else t->nodes[t->n_nodes++] = n;
    return n;
}

/* Block i (0-based) from in (ic channels) to its Relu output, whose name it returns. */
static const char *block(top_build *t, int i, const char *in, int ic, int oc, int stride, uint64_t *seed) {
    fc_onnx_pool *p = &t->pool;
    char *w = fc_onnx_pool_printf(p, "conv/b%d/w", i + 1), *cv = fc_onnx_pool_printf(p, "conv/b%d/conv", i + 1);
    char *bn = fc_onnx_pool_printf(p, "conv/b%d/bn", i + 1), *relu = fc_onnx_pool_printf(p, "conv/b%d/relu", i + 1);
    const char *par[4] = {fc_onnx_pool_printf(p, "conv/b%d/bn.scale", i + 1), fc_onnx_pool_printf(p, "conv/b%d/bn.bias", i + 1),
                          fc_onnx_pool_printf(p, "conv/b%d/bn.mean", i + 1), fc_onnx_pool_printf(p, "conv/b%d/bn.var", i + 1)};
    if (!w || !cv || !bn || !relu || !par[0] || !par[1] || !par[2] || !par[3]) { t->oom = 1; return NULL; }
    int64_t wd[4] = {oc, ic, 3, 3}, cd[1] = {oc}, k[2] = {3, 3}, s[2] = {stride, stride}, pads[4] = {1, 1, 1, 1};
    float *wv = init_tensor(t, w, 4, wd, (size_t)oc * ic * 9);
    if (wv) he_normal(wv, (size_t)oc * ic * 9, sqrtf(2.0f / (9.0f * (float)ic)), seed);
    for (int j = 0; j < 4; j++) {
        float *v = init_tensor(t, par[j], 1, cd, (size_t)oc);
        for (int c = 0; v && c < oc; c++) v[c] = j == 0 || j == 3 ? 1.0f : 0.0f; /* scale, var 1; bias, mean 0 */
    }
    const char *conv_in[2] = {in, w}, *bn_in[5] = {cv, par[0], par[1], par[2], par[3]};
    Onnx__NodeProto *c = node(t, "Conv", cv, 2, conv_in, cv);
    if (!fc_onnx_attr_ints(p, c, "kernel_shape", k, 2) || !fc_onnx_attr_ints(p, c, "strides", s, 2) ||
        !fc_onnx_attr_ints(p, c, "pads", pads, 4))
        t->oom = 1;
    node(t, "BatchNormalization", bn, 5, bn_in, bn);
    node(t, "Relu", relu, 1, (const char *const *)&bn, relu);
    return relu;
}

/* The model around the nodes and initializers, packed. */
static int pack(top_build *t, const char *tensor, const int64_t dims[3], int oc, void **data, size_t *size,
                fc_error *err) {
    Onnx__ModelProto model;
    Onnx__GraphProto graph;
    int64_t in_dims[4] = {0, dims[0], dims[1], dims[2]}, out_dims[4] = {0, oc, 1, 1};
    Onnx__ValueInfoProto *in = fc_onnx_value_info(&t->pool, tensor, 4, in_dims);
    Onnx__ValueInfoProto *out = fc_onnx_value_info(&t->pool, FC_CONVHEAD_FEATURE, 4, out_dims);
    if (!in || !out || t->oom || fc_onnx_model_init(&t->pool, &model, &graph, TOP_OPSET, TOP_IR_VERSION))
        return fc_fail(err, FC_ENOMEM, "conv head: out of memory building its graph");
    graph.name = "featcache_conv_head";
    graph.n_node = t->n_nodes;
    graph.node = t->nodes;
    graph.n_initializer = t->n_inits;
    graph.initializer = t->inits;
    graph.n_input = 1;
    graph.input = &in;
    graph.n_output = 1;
    graph.output = &out;
    return fc_onnx_pack(&model, "conv head", data, size, err);
}

int fc_convhead_top(const fc_conv_spec *spec, const char *tensor, const int64_t dims[3], uint64_t seed,
                    void **data, size_t *size, fc_error *err) {
    *data = NULL;
    *size = 0;
    if (!spec || spec->n < 1 || spec->n > FC_CONV_MAX_BLOCKS || !tensor || !*tensor)
        return fc_fail(err, FC_EINVAL, "conv head: no blocks or no input tensor");
    if (dims[0] < 1 || dims[1] < 1 || dims[2] < 1 || dims[0] > 65536 || dims[1] > 65536 || dims[2] > 65536)
        return fc_fail(err, FC_EINVAL, "conv head: the map '%s' has shape %lldx%lldx%lld", tensor,
                       (long long)dims[0], (long long)dims[1], (long long)dims[2]);
    top_build t = {0};
    t.nodes = fc_onnx_pool_alloc(&t.pool, (3 * (size_t)spec->n + 1) * sizeof *t.nodes);
    t.inits = fc_onnx_pool_alloc(&t.pool, (5 * (size_t)spec->n + 1) * sizeof *t.inits);
    uint64_t s = seed ^ 0x636f6e7668656164ull; /* "convhead": another stream than the head's */
    const char *x = tensor;
    int ic = (int)dims[0];
    t.oom = !t.nodes || !t.inits;
    for (int i = 0; i < spec->n && !t.oom; i++) {
        x = block(&t, i, x, ic, spec->channels[i], spec->stride[i], &s);
        ic = spec->channels[i];
    }
    if (!t.oom) node(&t, "GlobalAveragePool", "conv/pool", 1, &x, FC_CONVHEAD_FEATURE);
    int rc = pack(&t, tensor, dims, ic, data, size, err);
    fc_onnx_pool_free(&t.pool);
    return rc;
}
