/* fc_model_cuts (cuts.h). The cuts are the feature's dominators in the data-flow graph of the
 * imported graph after constant and BatchNorm folding (the rewrites the engine runs before fusing);
 * parameters and block boundaries are read from that graph. Shapes and FLOPs come from a session of
 * the model loaded with the cuts as outputs, so that no fusion hides one and each cut is the output
 * of a step: the FLOPs below a cut are those of the steps up to its own (every run-time step is
 * either above or below a cut). Not here: the rewrites (graph_opt.c), the ops' FLOP counts (ops/). */
#include "engine/cuts.h"

#include <stdlib.h>
#include <string.h>

#include "engine/graph.h"
#include "engine/graph_opt.h"
#include "engine/model.h"
#include "engine/model_internal.h"
#include "engine/onnx/onnx_import.h"

typedef struct analysis {
    fc_graph *g;        /* BatchNorm folded, only what the feature needs */
    int feature;        /* value index */
    int *idom;          /* (n_values) immediate dominator of a value computed from the input, else -1 */
    int *pos;           /* (n_values) index in g->order of the value's producer */
    int *sep;           /* (n_sep) the cuts (value indices), input side first */
    int n_sep;
} analysis;

static void analysis_free(analysis *a) {
    fc_graph_free(a->g);
    free(a->idom);
    free(a->pos);
    free(a->sep);
}

/* Imports path, picks the feature (NULL: the default) as the only output and folds constants and
 * BatchNorm as fc_model_load does. */
static int read_graph(const char *path, const char *feature, analysis *a, fc_error *err) {
    int rc = fc_onnx_import(path, &a->g, err);
    if (rc) return rc;
    fc_graph *g = a->g;
    if ((rc = fc_graph_finalize(g, err)) || (rc = fc_opt_fold_constants(g, fc_kernels_best(), err)) ||
        (rc = fc_graph_finalize(g, err)))
        goto prefix;
    if (!feature) feature = fc_graph_default_feature(g);
    int f = fc_graph_find(g, feature);
    if (f >= 0 && g->values[f].is_input)
        return fc_fail(err, FC_EINVAL, "%s: '%s' is the model's input: there is nothing below it to cut", path,
                       feature);
    if (f < 0 || g->values[f].producer < 0)
        return fc_fail(err, FC_EINVAL, "%s: no computed tensor named '%s' in the model", path, feature);
    g->outputs[0] = a->feature = f;
    g->n_outputs = 1;
    if ((rc = fc_graph_finalize(g, err)) || (rc = fc_opt_fold_batchnorm(g, err)) ||
        (rc = fc_graph_finalize(g, err)))
        goto prefix;
    return 0;
prefix:
    fc_error_prefix(err, "%s: ", path);
    return rc;
}

/* Nearest common dominator of values x and y (both computed from the input). */
static int common_dominator(const int *idom, const int *depth, int x, int y) {
    while (x != y) {
        if (depth[x] >= depth[y]) x = idom[x];
        else y = idom[y];
    }
    return x;
}

/* Dominators over values, in topological order: a value's immediate dominator is the common
 * dominator of the data inputs of its producer. Shape's output depends on no data, and constants
 * on no input: neither is on a path. Then the cuts: the feature's dominators between the input and
 * it, each the first output of its node (the one a session step reports). */
static int find_cuts(analysis *a, fc_error *err) {
    const fc_graph *g = a->g;
    int nv = g->n_values, *depth = malloc((size_t)nv * sizeof(int));
    a->idom = malloc((size_t)nv * sizeof(int));
    a->pos = malloc((size_t)nv * sizeof(int));
    a->sep = malloc((size_t)nv * sizeof(int));
    if (!depth || !a->idom || !a->pos || !a->sep) {
        free(depth);
        return fc_fail(err, FC_ENOMEM, "out of memory");
    }
    for (int v = 0; v < nv; v++) a->idom[v] = a->pos[v] = -1;
    a->idom[g->input] = g->input;
    depth[g->input] = 0;
    for (int oi = 0; oi < g->n_order; oi++) {
        const fc_node *n = &g->nodes[g->order[oi]];
        int d = -1;
        for (int i = 0; i < n->n_in && strcmp(n->op_type, "Shape"); i++) {
            int v = n->in[i];
            if (v >= 0 && a->idom[v] >= 0) d = d < 0 ? v : common_dominator(a->idom, depth, d, v);
        }
        for (int i = 0; i < n->n_out; i++) {
            if (n->out[i] < 0) continue;
            a->pos[n->out[i]] = oi;
            if (d < 0) continue;
            a->idom[n->out[i]] = d;
            depth[n->out[i]] = depth[d] + 1;
        }
    }
    free(depth);
    a->n_sep = 0;
    if (a->idom[a->feature] < 0) return 0; /* not computed from the input: nothing to cut */
    for (int v = a->idom[a->feature]; v != g->input; v = a->idom[v])
        if (g->nodes[g->values[v].producer].out[0] == v) a->sep[a->n_sep++] = v;
    for (int i = 0, j = a->n_sep - 1; i < j; i++, j--) {
        int t = a->sep[i];
        a->sep[i] = a->sep[j];
        a->sep[j] = t;
    }
    return 0;
}

/* Elements of constant input i of n, 0 when it is absent or not constant. */
static int64_t const_count(const fc_graph *g, const fc_node *n, int i) {
    const fc_tensor *c = i < n->n_in && n->in[i] >= 0 ? &g->values[n->in[i]].c : NULL;
    return c && c->data ? fc_tensor_count(c) : 0;
}

/* Trainable parameters of node n: weights and biases of Conv, Gemm and MatMul (constant operands),
 * scale and bias of a BatchNormalization that was not folded. */
static int64_t node_params(const fc_graph *g, const fc_node *n) {
    const char *op = n->op_type;
    if (!strcmp(op, "Conv") || !strcmp(op, "Gemm") || !strcmp(op, "BatchNormalization"))
        return const_count(g, n, 1) + const_count(g, n, 2);
    if (!strcmp(op, "MatMul")) return const_count(g, n, 0) + const_count(g, n, 1);
    return 0;
}

static int is_op(const fc_graph *g, int node, const char *const *ops) {
    for (; *ops; ops++)
        if (!strcmp(g->nodes[node].op_type, *ops)) return 1;
    return 0;
}

static const char *const MERGES[] = {"Add", "Concat", "MaxPool", "AveragePool", "GlobalAveragePool",
                                     "GlobalMaxPool", "ReduceMean", NULL};
static const char *const ACTIVATIONS[] = {"Relu", "Clip", "LeakyRelu", "Sigmoid", "HardSigmoid", "HardSwish",
                                          "Tanh", NULL};
static const char *const GATES[] = {"Sigmoid", "HardSigmoid", NULL};

/* Up to two live nodes reading v as data (Shape reads no data); returns how many there are. */
static int consumers(const fc_graph *g, int v, int first[2]) {
    int count = 0;
    for (int oi = 0; oi < g->n_order; oi++) {
        const fc_node *n = &g->nodes[g->order[oi]];
        int uses = 0;
        for (int i = 0; i < n->n_in; i++) uses |= n->in[i] == v;
        if (!uses || !strcmp(n->op_type, "Shape")) continue;
        if (count < 2) first[count] = g->order[oi];
        count++;
    }
    return count;
}

/* v feeds an activation: one activation node reading it, or x * gate(x) (SiLU, HardSwish). */
static int activated(const fc_graph *g, int v) {
    int c[2], n = consumers(g, v, c);
    if (n == 1) return is_op(g, c[0], ACTIVATIONS) && g->nodes[c[0]].in[0] == v;
    if (n != 2) return 0;
    if (!is_op(g, c[0], GATES)) { int t = c[0]; c[0] = c[1]; c[1] = t; }
    const fc_node *gate = &g->nodes[c[0]], *mul = &g->nodes[c[1]];
    return is_op(g, c[0], GATES) && gate->in[0] == v && !strcmp(mul->op_type, "Mul") && mul->n_in == 2 &&
           ((mul->in[0] == v && mul->in[1] == gate->out[0]) || (mul->in[1] == v && mul->in[0] == gate->out[0]));
}

/* Cut v, whose next cut (or the feature) is next, is a block boundary (cuts.h). */
static int is_boundary(const fc_graph *g, int v, int next) {
    int p = g->values[v].producer, c[2];
    if (is_op(g, p, MERGES)) return 1;
    if (consumers(g, v, c) > 1 && strcmp(g->nodes[g->values[next].producer].op_type, "Mul")) return 1;
    const char *op = g->nodes[p].op_type;
    return (!strcmp(op, "Conv") || !strcmp(op, "Gemm")) && !activated(g, v);
}

/* Parameters and block marks from the graph: prefix sums over g->order of parameters and Conv
 * nodes, then the stretches between boundaries, walked from the feature back to the input. */
static int mark_blocks(const analysis *a, fc_cut_list *out, fc_error *err) {
    const fc_graph *g = a->g;
    int64_t *params = malloc(((size_t)g->n_order + 1) * sizeof *params);
    int *convs = malloc(((size_t)g->n_order + 1) * sizeof *convs);
    if (!params || !convs) { free(params); free(convs); return fc_fail(err, FC_ENOMEM, "out of memory"); }
    params[0] = convs[0] = 0; /* [i]: nodes order[0..i) */
    for (int oi = 0; oi < g->n_order; oi++) {
        const fc_node *n = &g->nodes[g->order[oi]];
        params[oi + 1] = params[oi] + node_params(g, n);
        convs[oi + 1] = convs[oi] + !strcmp(n->op_type, "Conv");
    }
    int end = a->pos[a->feature] + 1; /* the nodes up to the feature's producer */
    out->params = params[end];
    for (int i = 0; i < a->n_sep; i++)
        out->cuts[i].params_above = params[end] - params[a->pos[a->sep[i]] + 1];
    for (int i = 0; i < a->n_sep; i++)
        out->cuts[i].boundary = is_boundary(g, a->sep[i], i + 1 < a->n_sep ? a->sep[i + 1] : a->feature);
    int blocks = 0;
    for (int i = a->n_sep - 1; i >= -1 && blocks < 3; i--) { /* i = -1: the input */
        int start = i >= 0 ? a->pos[a->sep[i]] + 1 : 0;
        if (i >= 0 && !out->cuts[i].boundary) continue;
        if (convs[end] - convs[start] >= 2) {
            blocks++;
            if (i >= 0) out->cuts[i].block_input = blocks;
        }
        end = start;
    }
    free(params);
    free(convs);
    return 0;
}

/* Shapes and FLOPs from a session that outputs every cut and the feature (out's names), per image:
 * for one image, or for the declared batch when the model has one (a model exported with a fixed
 * batch may have it in its Reshape targets too). */
static int measure(const char *path, int size, fc_cut_list *out, fc_error *err) {
    const char **names = malloc(((size_t)out->n + 1) * sizeof *names);
    if (!names) return fc_fail(err, FC_ENOMEM, "out of memory");
    for (int i = 0; i < out->n; i++) names[i] = out->cuts[i].name;
    names[out->n] = out->feature;
    fc_model_options mo = {.outputs = names, .n_outputs = out->n + 1};
    fc_session_options so = {.batch = 1, .height = size, .width = size, .threads = 1};
    fc_model *m = NULL;
    fc_session *s = NULL;
    int64_t d[4];
    int rc = fc_model_load(path, &mo, &m, err);
    if (!rc) {
        fc_model_input_dims(m, d);
        if (d[0] > 1 && d[0] <= 64) so.batch = (int)d[0];
        rc = fc_session_create(m, &so, &s, err);
    }
    for (int i = 0; !rc && i < out->n; i++) {
        const fc_tensor *t = fc_session_output(s, i);
        fc_cut *c = &out->cuts[i];
        c->rank = t->rank - 1;
        memcpy(c->dims, t->dims + 1, (size_t)c->rank * sizeof *c->dims);
        c->bytes_f16 = fc_tensor_count(t) / so.batch * 2;
        c->bytes_f32 = fc_tensor_count(t) / so.batch * 4;
    }
    if (!rc) {
        fc_session_input_dims(s, d);
        out->height = (int)d[2];
        out->width = (int)d[3];
        out->flops = fc_session_flops(s) / so.batch;
    }
    /* the steps run in topological order, so a cut's ancestors are the steps up to its own and the
     * cuts come in their order */
    double below = 0;
    fc_session_step_info st;
    int found = 0;
    for (int k = 0; !rc && k < fc_session_n_steps(s) && fc_session_step(s, k, &st) == 0; k++) {
        below += st.flops / so.batch;
        if (found < out->n && !strcmp(st.output, names[found])) {
            out->cuts[found].flops_below = below;
            out->cuts[found++].flops_above = out->flops - below;
        }
    }
    if (!rc && found < out->n)
        rc = fc_fail(err, FC_EINTERNAL, "%s: no step of the session computes '%s'", path, names[found]);
    fc_session_free(s);
    fc_model_free(m);
    free(names);
    return rc;
}

/* The graph analysis is freed before the session's model is loaded: only one copy of the weights
 * is in memory at a time. */
int fc_model_cuts(const char *path, const char *feature, int size, fc_cut_list *out, fc_error *err) {
    memset(out, 0, sizeof *out);
    analysis a = {0};
    int rc = read_graph(path, feature, &a, err);
    if (!rc) rc = find_cuts(&a, err);
    if (rc) goto done;
    out->feature = strdup(a.g->values[a.feature].name);
    out->cuts = calloc((size_t)a.n_sep + 1, sizeof *out->cuts);
    if (!out->feature || !out->cuts) { rc = fc_fail(err, FC_ENOMEM, "out of memory"); goto done; }
    for (int i = 0; i < a.n_sep; i++, out->n++)
        if (!(out->cuts[i].name = strdup(a.g->values[a.sep[i]].name))) break;
    rc = out->n < a.n_sep ? fc_fail(err, FC_ENOMEM, "out of memory") : mark_blocks(&a, out, err);
done:
    analysis_free(&a);
    return rc ? rc : measure(path, size, out, err);
}

void fc_cut_list_free(fc_cut_list *l) {
    if (!l) return;
    for (int i = 0; i < l->n; i++) free(l->cuts[i].name);
    free(l->cuts);
    free(l->feature);
    memset(l, 0, sizeof *l);
}
