/* The f32 steps of a bf16 model (precision.h): input strides propagated along the optimized graph
 * (after BatchNorm folding and fusion, so a depthwise block is one step whose stride is that of its
 * Convs together) in topological order, from the data input; constants carry none. model.c asks
 * for it once at load and prepares each kept step for the f32 table. Not here: running either
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

/* The factor by which node n spreads its output pixels over its input's: its own stride, times
 * those of the Convs a depthwise block computes before its own; global pools end the map. */
static int64_t step_factor(const fc_graph *g, const fc_node *n) {
    if (!strcmp(n->op_type, "GlobalAveragePool") || !strcmp(n->op_type, "GlobalMaxPool"))
        return UNBOUNDED;
    if (strcmp(n->op_type, "Conv") && strcmp(n->op_type, "MaxPool") && strcmp(n->op_type, "AveragePool"))
        return 1;
    int64_t f = node_stride(n);
    if (n->fusion && n->fusion->depthwise >= 0) f *= node_stride(&g->nodes[n->fusion->depthwise]);
    if (n->fusion && n->fusion->expand >= 0) f *= node_stride(&g->nodes[n->fusion->expand]);
    return f;
}

int fc_precision_keep_f32(const fc_graph *g, unsigned char *keep, fc_error *err) {
    int64_t *stride = calloc((size_t)g->n_values, sizeof *stride); /* 0: not from the input */
    if (!stride) return fc_fail(err, FC_ENOMEM, "out of memory");
    memset(keep, 0, (size_t)g->n_nodes);
    stride[g->input] = 1;
    for (int i = 0; i < g->n_order; i++) {
        const fc_node *n = &g->nodes[g->order[i]];
        int64_t s = 0; /* the finest input map: a squeeze-and-excitation Mul scales a map by a vector */
        for (int j = 0; j < n->n_in; j++)
            if (n->in[j] >= 0 && stride[n->in[j]] > 0 && (s == 0 || stride[n->in[j]] < s)) s = stride[n->in[j]];
        if (s > 0) s *= step_factor(g, n);
        if (s > UNBOUNDED) s = UNBOUNDED;
        for (int j = 0; j < n->n_out; j++)
            if (n->out[j] >= 0) stride[n->out[j]] = s;
        keep[g->order[i]] = s > 0 && s <= FC_BF16_F32_STRIDE;
    }
    free(stride);
    return 0;
}
