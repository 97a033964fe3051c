/* The f32 steps of a bf16 model (precision.h): input strides propagated along the optimized graph
 * (after BatchNorm folding and fusion, so a depthwise block is one step whose stride is that of its
 * Convs together) in topological order, from the data input; constants carry none. Each step's
 * convolution products are counted per output pixel of the input's resolution (weights / stride^2:
 * the share of the stages does not depend on the image size) to choose the stride limit. model.c
 * asks for it once at load and prepares each kept step for the f32 table. Not here: running either
 * precision (the kernel tables, ops/conv.c). */
#include "engine/precision.h"

#include <stdlib.h>
#include <string.h>

#include "engine/fusion.h"

#define UNBOUNDED (1 << 30)

/* The larger of a node's two strides (1 when absent). */
static int64_t node_stride(const fc_node *n) {
    int64_t v[8];
    if (fc_attr_ints(n, "strides", v, 8) != 2 || v[0] < 1 || v[1] < 1) return 1;
    return v[0] > v[1] ? v[0] : v[1];
}

/* The ops that move a map's pixels apart (their strides count). */
static int spatial(const fc_node *n) {
    return !strcmp(n->op_type, "Conv") || !strcmp(n->op_type, "MaxPool") || !strcmp(n->op_type, "AveragePool");
}

/* Products of Conv c per pixel of the data input when its output lies s input pixels apart: its
 * weights (cout x cin/group x kh x kw, one product each per output pixel) over s^2; 0 for anything
 * else and for maps after a global pool. */
static double conv_products(const fc_graph *g, const fc_node *c, int64_t s) {
    if (strcmp(c->op_type, "Conv") || c->n_in < 2 || c->in[1] < 0 || s >= UNBOUNDED) return 0;
    const fc_tensor *w = &g->values[c->in[1]].c;
    if (!w->data) return 0;
    double e = 1;
    for (int d = 0; d < w->rank; d++) e *= (double)w->dims[d];
    return e / ((double)s * (double)s);
}

/* The output stride of step n from its input stride s_in (0: not from the data input), with its
 * products added to *products: a depthwise block runs its expansion, then its depthwise, then
 * itself, each at its own stride; global pools end the map. */
static int64_t step_stride(const fc_graph *g, const fc_node *n, int64_t s_in, double *products) {
    if (s_in == 0) return 0;
    if (!strcmp(n->op_type, "GlobalAveragePool") || !strcmp(n->op_type, "GlobalMaxPool")) return UNBOUNDED;
    if (!spatial(n)) return s_in;
    int64_t s = s_in;
    int parts[2] = {n->fusion ? n->fusion->expand : -1, n->fusion ? n->fusion->depthwise : -1};
    for (int i = 0; i < 2; i++) {
        if (parts[i] < 0) continue;
        s *= node_stride(&g->nodes[parts[i]]);
        if (s > UNBOUNDED) s = UNBOUNDED;
        *products += conv_products(g, &g->nodes[parts[i]], s);
    }
    s *= node_stride(n);
    if (s > UNBOUNDED) s = UNBOUNDED;
    *products += conv_products(g, n, s);
    return s;
}

int fc_precision_keep_f32(const fc_graph *g, unsigned char *keep, fc_error *err) {
    int64_t *stride = calloc((size_t)g->n_values, sizeof *stride);  /* 0: not from the input */
    int64_t *out_stride = calloc((size_t)g->n_nodes, sizeof *out_stride);
    if (!stride || !out_stride) {
        free(stride), free(out_stride);
        return fc_fail(err, FC_ENOMEM, "out of memory");
    }
    stride[g->input] = 1;
    double total = 0, early = 0; /* products in all, of the steps at strides <= FC_BF16_F32_STRIDE_MAX */
    for (int i = 0; i < g->n_order; i++) {
        int id = g->order[i];
        const fc_node *n = &g->nodes[id];
        int64_t s = 0; /* the finest input map: a squeeze-and-excitation Mul scales a map by a vector */
        for (int j = 0; j < n->n_in; j++)
            if (n->in[j] >= 0 && stride[n->in[j]] > 0 && (s == 0 || stride[n->in[j]] < s)) s = stride[n->in[j]];
        double p = 0;
        s = step_stride(g, n, s, &p);
        for (int j = 0; j < n->n_out; j++)
            if (n->out[j] >= 0) stride[n->out[j]] = s;
        out_stride[id] = s;
        total += p;
        if (s > 0 && s <= FC_BF16_F32_STRIDE_MAX) early += p;
    }
    int64_t limit = early <= FC_BF16_F32_SHARE * total ? FC_BF16_F32_STRIDE_MAX : FC_BF16_F32_STRIDE;
    memset(keep, 0, (size_t)g->n_nodes);
    for (int i = 0; i < g->n_order; i++) {
        int id = g->order[i];
        keep[id] = out_stride[id] > 0 && out_stride[id] <= limit;
    }
    free(stride), free(out_stride);
    return 0;
}
