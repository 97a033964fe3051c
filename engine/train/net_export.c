/* fc_train_net_write_onnx: the model as read (from a file or memory), with the trained values in
 * the initializers of the net's parameters and of the running statistics of training-mode
 * BatchNormalizations, and each folded BatchNormalization removed (its Conv takes the folded
 * weights and bias and writes the BatchNormalization's output). A new ModelProto and GraphProto point at
 * the read messages, replacing only the changed nodes and tensors (copies owned by a pool), so
 * everything else is packed as it was read. Not here: reading and packing (onnx_io.h). */
#include <string.h>

#include "engine/onnx/onnx_io.h"
#include "engine/train/net_internal.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "ONNX raw_data is little-endian: the export writes float32 values as they are in memory"
#endif

typedef struct export_state {
    const fc_train_net *net;
    const char *path;
    Onnx__GraphProto *g;         /* the model as read */
    fc_onnx_pool pool;
    Onnx__NodeProto **nodes;     /* (n_node) the node to write at each position, NULL: dropped */
    Onnx__TensorProto **inits;   /* (n_initializer) likewise */
} export_state;

static int find_node(const Onnx__GraphProto *g, const char *op_type, const char *output) {
    for (size_t i = 0; i < g->n_node; i++) {
        const Onnx__NodeProto *n = g->node[i];
        if (n->n_output && n->output[0] && !strcmp(n->output[0], output) && n->op_type &&
            !strcmp(n->op_type, op_type))
            return (int)i;
    }
    return -1;
}

static int find_init(const Onnx__GraphProto *g, const char *name) {
    for (size_t i = 0; i < g->n_initializer; i++)
        if (g->initializer[i]->name && !strcmp(g->initializer[i]->name, name)) return (int)i;
    return -1;
}

/* Conv op's node writes its BatchNormalization's output, with the folded weight and bias. */
static int refold(export_state *x, const net_op *op, fc_error *err) {
    int c = find_node(x->g, "Conv", op->fold_from), bn = find_node(x->g, "BatchNormalization", op->fold_to);
    if (c < 0 || bn < 0)
        return fc_fail(err, FC_EINVAL, "%s: no Conv writing '%s' followed by a BatchNormalization "
                       "writing '%s' (not the model the net was built from?)", x->path, op->fold_from,
                       op->fold_to);
    const Onnx__NodeProto *src = x->g->node[c];
    Onnx__NodeProto *n = fc_onnx_pool_alloc(&x->pool, sizeof *n);
    size_t n_in = src->n_input > 3 ? src->n_input : 3;
    char **in = fc_onnx_pool_alloc(&x->pool, n_in * sizeof *in), **out = fc_onnx_pool_alloc(&x->pool, sizeof *out);
    if (!n || !in || !out) return fc_fail(err, FC_ENOMEM, "out of memory");
    *n = *src;
    memcpy(in, src->input, src->n_input * sizeof *in);
    in[1] = x->net->params[op->w].name;
    in[2] = x->net->params[op->b].name;
    n->input = in;
    n->n_input = n_in;
    out[0] = op->fold_to;
    n->output = out;
    n->n_output = 1;
    x->nodes[c] = n;
    x->nodes[bn] = NULL;
    return 0;
}

/* Initializer `name` replaced by a copy holding data (count float32 values) as raw data; dims
 * (rank of them, reversed when transposed) must be its shape. */
static int write_init(export_state *x, const char *name, int rank, const int64_t *dims, int transposed,
                      const float *data, size_t count, fc_error *err) {
    int i = find_init(x->g, name);
    const Onnx__TensorProto *src = i >= 0 ? x->g->initializer[i] : NULL;
    if (!src || src->data_type != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT)
        return fc_fail(err, FC_EUNSUPPORTED, "%s: parameter '%s' is not a float32 initializer of the "
                       "model (a Constant node or a computed weight?)", x->path, name);
    int same = (int)src->n_dims == rank;
    for (int k = 0; k < rank && same; k++) same = src->dims[k] == dims[transposed ? rank - 1 - k : k];
    if (!same)
        return fc_fail(err, FC_EINVAL, "%s: initializer '%s' has another shape than the net's "
                       "parameter (not the model the net was built from?)", x->path, name);
    Onnx__TensorProto *t = fc_onnx_pool_alloc(&x->pool, sizeof *t);
    if (!t) return fc_fail(err, FC_ENOMEM, "out of memory");
    *t = *src;
    t->n_float_data = 0;
    t->float_data = NULL;
    t->has_raw_data = 1;
    t->raw_data.len = count * sizeof(float);
    t->raw_data.data = (uint8_t *)data;
    t->n_external_data = 0;
    t->external_data = NULL;
    t->has_data_location = 0;
    t->data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__DEFAULT;
    x->inits[i] = t;
    return 0;
}

/* Parameter p's initializer gets the net's values. */
static int write_param(export_state *x, const net_param *p, fc_error *err) {
    float *data = x->net->values + p->offset;
    if (p->transposed) { /* (OC, IC) -> the file's (IC, OC) */
        float *tr = fc_onnx_pool_alloc(&x->pool, p->count * sizeof *tr);
        if (!tr) return fc_fail(err, FC_ENOMEM, "out of memory");
        for (int64_t r = 0; r < p->dims[0]; r++)
            for (int64_t c = 0; c < p->dims[1]; c++) tr[c * p->dims[0] + r] = data[r * p->dims[1] + c];
        data = tr;
    }
    return write_init(x, p->name, p->rank, p->dims, p->transposed, data, p->count, err);
}

/* A training-mode BatchNormalization's running mean and var go to its mean and var initializers. */
static int write_stats(export_state *x, const net_op *op, fc_error *err) {
    int64_t C = op->C;
    int rc = write_init(x, op->stat_names[0], 1, &C, 0, op->stats, (size_t)C, err);
    return rc ? rc : write_init(x, op->stat_names[1], 1, &C, 0, op->stats + C, (size_t)C, err);
}

/* Nodes (among those written) that read tensor name. */
static int readers(const export_state *x, const char *name) {
    int r = 0;
    for (size_t i = 0; i < x->g->n_node; i++) {
        const Onnx__NodeProto *n = x->nodes[i];
        for (size_t k = 0; n && k < n->n_input; k++) r += n->input[k] && !strcmp(n->input[k], name);
    }
    return r;
}

/* Each written initializer must be read by its own node alone; the initializers that only the
 * dropped BatchNormalizations read are dropped too. */
static int check_readers(export_state *x, fc_error *err) {
    for (int p = 0; p < x->net->n_params; p++)
        if (readers(x, x->net->params[p].name) != 1)
            return fc_fail(err, FC_EUNSUPPORTED, "%s: initializer '%s' is read by %d nodes; the net "
                           "trains it for one", x->path, x->net->params[p].name,
                           readers(x, x->net->params[p].name));
    for (size_t i = 0; i < x->g->n_node; i++) {
        const Onnx__NodeProto *n = x->g->node[i];
        if (x->nodes[i]) continue;
        for (size_t k = 1; k < n->n_input; k++) {
            int t = n->input[k] ? find_init(x->g, n->input[k]) : -1;
            if (t >= 0 && !readers(x, n->input[k])) x->inits[t] = NULL;
        }
    }
    return 0;
}

/* The kept entries of arr (n of them), compacted into a pool array; NULL on ENOMEM. */
static void **compact(fc_onnx_pool *pool, void *const *arr, size_t n, size_t *kept) {
    void **out = fc_onnx_pool_alloc(pool, (n ? n : 1) * sizeof *out);
    *kept = 0;
    for (size_t i = 0; out && i < n; i++)
        if (arr[i]) out[(*kept)++] = arr[i];
    return out;
}

/* The graph's inputs without the dropped initializers (old models list initializers as inputs). */
static Onnx__ValueInfoProto **kept_inputs(export_state *x, size_t *kept) {
    const Onnx__GraphProto *g = x->g;
    Onnx__ValueInfoProto **in = fc_onnx_pool_alloc(&x->pool, (g->n_input + 1) * sizeof *in);
    *kept = 0;
    for (size_t i = 0; in && i < g->n_input; i++) {
        int t = g->input[i]->name ? find_init(g, g->input[i]->name) : -1;
        if (t < 0 || x->inits[t]) in[(*kept)++] = g->input[i];
    }
    return in;
}

static int write_model(export_state *x, const Onnx__ModelProto *m, const char *out_path, fc_error *err) {
    Onnx__GraphProto *g = fc_onnx_pool_alloc(&x->pool, sizeof *g);
    Onnx__ModelProto *mc = fc_onnx_pool_alloc(&x->pool, sizeof *mc);
    if (!g || !mc) return fc_fail(err, FC_ENOMEM, "out of memory");
    *g = *x->g;
    *mc = *m;
    g->node = (Onnx__NodeProto **)compact(&x->pool, (void *const *)x->nodes, x->g->n_node, &g->n_node);
    g->initializer = (Onnx__TensorProto **)compact(&x->pool, (void *const *)x->inits,
                                                   x->g->n_initializer, &g->n_initializer);
    g->input = kept_inputs(x, &g->n_input);
    if (!g->node || !g->initializer || !g->input) return fc_fail(err, FC_ENOMEM, "out of memory");
    mc->graph = g;
    return fc_onnx_write(mc, out_path, err);
}

/* Writes m (read from name) with the net's values to out_path; frees m. */
static int export_model(const fc_train_net *net, Onnx__ModelProto *m, const char *name, const char *out_path,
                        fc_error *err) {
    export_state x = {.net = net, .path = name};
    int rc = 0;
    if (!m->graph) {
        rc = fc_fail(err, FC_EFORMAT, "%s: the model has no graph", name);
        goto out;
    }
    x.g = m->graph;
    x.nodes = fc_onnx_pool_alloc(&x.pool, (x.g->n_node + 1) * sizeof *x.nodes);
    x.inits = fc_onnx_pool_alloc(&x.pool, (x.g->n_initializer + 1) * sizeof *x.inits);
    if (!x.nodes || !x.inits) {
        rc = fc_fail(err, FC_ENOMEM, "out of memory");
        goto out;
    }
    memcpy(x.nodes, x.g->node, x.g->n_node * sizeof *x.nodes);
    memcpy(x.inits, x.g->initializer, x.g->n_initializer * sizeof *x.inits);
    for (int i = 0; i < net->n_ops && !rc; i++) {
        if (net->ops[i].fold_from) rc = refold(&x, &net->ops[i], err);
        if (!rc && net->ops[i].bn_train) rc = write_stats(&x, &net->ops[i], err);
    }
    for (int p = 0; p < net->n_params && !rc; p++) rc = write_param(&x, &net->params[p], err);
    if (!rc) rc = check_readers(&x, err);
    if (!rc) rc = write_model(&x, m, out_path, err);
out:
    fc_onnx_pool_free(&x.pool);
    fc_onnx_model_free(m);
    return rc;
}

int fc_train_net_write_onnx(const fc_train_net *net, const char *in_model_path, const char *out_path,
                            fc_error *err) {
    if (!net || !in_model_path || !out_path)
        return fc_fail(err, FC_EINVAL, "train net export: NULL net or path");
    Onnx__ModelProto *m = NULL;
    int rc = fc_onnx_read(in_model_path, &m, err);
    return rc ? rc : export_model(net, m, in_model_path, out_path, err);
}

int fc_train_net_write_onnx_mem(const fc_train_net *net, const char *name, const void *data, size_t size,
                                const char *out_path, fc_error *err) {
    if (!net || !data || !out_path)
        return fc_fail(err, FC_EINVAL, "train net export: NULL net, model or path");
    Onnx__ModelProto *m = NULL;
    if (!name) name = "<memory>";
    int rc = fc_onnx_read_mem(name, data, size, &m, err);
    return rc ? rc : export_model(net, m, name, out_path, err);
}
