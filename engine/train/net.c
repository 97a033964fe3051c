/* fc_train_net (net.h): building the net from the model (import, BatchNorm folding, the nodes
 * between the cut and the feature, the separator check, memory planned once), running forward and
 * backward over its ops in order, and parameter access. Not here: what each node becomes
 * (net_map.c), the ops' runs (net_run.c), the export (net_export.c). */
#include <stdlib.h>
#include <string.h>

#include "engine/graph_opt.h"
#include "engine/model.h"
#include "engine/onnx/onnx_import.h"
#include "engine/train/net_internal.h"

#define ALIGN_FLOATS 16 /* 64 bytes */

static size_t round_up(size_t n) { return (n + ALIGN_FLOATS - 1) / ALIGN_FLOATS * ALIGN_FLOATS; }

static float *alloc_floats(size_t n) {
    void *p = NULL;
    return posix_memalign(&p, 64, round_up(n ? n : 1) * sizeof(float)) ? NULL : p;
}

/* ---- the graph ---- */

static void build_free(net_build *b) {
    if (b->owned)
        for (int v = 0; v < b->g->n_values; v++) free(b->owned[v]);
    free(b->owned);
    free(b->vt);
    free(b->slot);
    free(b->param_of);
    free(b->in_net);
    free(b->gate);
    free(b->orig_w);
    free(b->orig_b);
    free(b->orig_out);
    fc_graph_free(b->g);
}

/* Finds the cut and the feature, makes them the graph's outputs (so that no rewrite removes them),
 * folds constants and BatchNorm, recording each Conv's weight, bias and output before the folding
 * (the export writes the folded values under the original names). */
static int load_graph(net_build *b, const char *cut, const char *feature, fc_error *err) {
    int rc = b->data ? fc_onnx_import_mem(b->path, b->data, b->size, &b->g, err) : fc_onnx_import(b->path, &b->g, err);
    if (rc) return rc;
    fc_graph *g = b->g;
    const char *names[2] = {cut, feature};
    int v[2];
    for (int i = 0; i < 2; i++) {
        v[i] = fc_graph_find(g, names[i]);
        if (v[i] < 0 || (g->values[v[i]].producer < 0 && !g->values[v[i]].is_input))
            return fc_fail(err, FC_EINVAL, "%s: no tensor named '%s' in the model%s", b->path, names[i],
                           v[i] >= 0 && g->values[v[i]].c.data ? " (it is a constant)" : "");
    }
    if (v[0] == v[1])
        return fc_fail(err, FC_EINVAL, "%s: the cut '%s' is the feature tensor itself", b->path, cut);
    int *outs = malloc(2 * sizeof *outs);
    if (!outs) return fc_fail(err, FC_ENOMEM, "out of memory");
    memcpy(outs, v, sizeof v);
    free(g->outputs);
    g->outputs = outs;
    g->n_outputs = 2;
    if ((rc = fc_graph_finalize(g, err)) || (rc = fc_opt_fold_constants(g, b->k, err)) ||
        (rc = fc_graph_finalize(g, err)))
        goto prefix;
    b->orig_w = malloc((size_t)g->n_nodes * sizeof(int));
    b->orig_b = malloc((size_t)g->n_nodes * sizeof(int));
    b->orig_out = malloc((size_t)g->n_nodes * sizeof(int));
    if (!b->orig_w || !b->orig_b || !b->orig_out) return fc_fail(err, FC_ENOMEM, "out of memory");
    for (int i = 0; i < g->n_nodes; i++) {
        const fc_node *n = &g->nodes[i];
        b->orig_w[i] = n->n_in > 1 ? n->in[1] : -1;
        b->orig_b[i] = n->n_in > 2 ? n->in[2] : -1;
        b->orig_out[i] = n->n_out > 0 ? n->out[0] : -1;
    }
    if (!b->bn_train && ((rc = fc_opt_fold_batchnorm(g, err)) || (rc = fc_graph_finalize(g, err)))) goto prefix;
    b->cut = v[0];
    b->feat = v[1];
    if (g->values[b->cut].c.data)
        return fc_fail(err, FC_EINVAL, "%s: the cut '%s' is a constant", b->path, cut);
    return 0;
prefix:
    fc_error_prefix(err, "%s: ", b->path);
    return rc;
}

/* The cut's per-image shape: from the options, the input's declaration, or shape inference of the
 * model for one image (the engine's own plan). */
static int cut_shape(net_build *b, const fc_train_net_options *opt, fc_error *err) {
    fc_train_net *net = b->net;
    const fc_value *cv = &b->g->values[b->cut];
    if (opt && opt->cut_rank > 0) {
        net->in_rank = opt->cut_rank;
        memcpy(net->in_dims, opt->cut_dims, sizeof net->in_dims);
    } else if (cv->is_input) {
        net->in_rank = cv->decl_rank - 1;
        for (int i = 1; i < cv->decl_rank && i <= 4; i++) net->in_dims[i - 1] = cv->decl_dims[i];
        if (cv->decl_rank == 4 && opt && opt->height > 0) net->in_dims[1] = opt->height;
        if (cv->decl_rank == 4 && opt && opt->width > 0) net->in_dims[2] = opt->width;
    } else if (b->data) {
        return fc_fail(err, FC_EINVAL, "%s: the cut '%s' is not the model's input: give its shape in the options",
                       b->path, cv->name);
    } else {
        const char *name = cv->name;
        fc_model_options mo = {.outputs = &name, .n_outputs = 1};
        /* one image, unless the model fixes its batch (then its reshapes may need that batch) */
        fc_session_options so = {.batch = b->g->values[b->g->input].decl_dims[0] > 0
                                              ? (int)b->g->values[b->g->input].decl_dims[0] : 1,
                                 .height = opt ? opt->height : 0, .width = opt ? opt->width : 0,
                                 .threads = 1};
        fc_model *m = NULL;
        fc_session *s = NULL;
        int rc = fc_model_load(b->path, &mo, &m, err);
        if (!rc) rc = fc_session_create(m, &so, &s, err);
        if (!rc) {
            const fc_tensor *t = fc_session_output(s, 0);
            net->in_rank = t->rank - 1;
            for (int i = 1; i < t->rank && i <= 4; i++) net->in_dims[i - 1] = t->dims[i];
        }
        fc_session_free(s);
        fc_model_free(m);
        if (rc) return rc;
    }
    if (net->in_rank < 1 || net->in_rank > 4)
        return fc_fail(err, FC_EUNSUPPORTED, "%s: the cut '%s' has rank %d (1 to 4 per image)", b->path,
                       cv->name, net->in_rank);
    int64_t count = net->batch;
    for (int i = 0; i < net->in_rank; i++) {
        if (net->in_dims[i] < 1)
            return fc_fail(err, FC_EINVAL, "%s: the cut '%s' has no fixed shape; give its shape in the options",
                           b->path, cv->name);
        count = count < INT32_MAX && net->in_dims[i] < INT32_MAX ? count * net->in_dims[i] : INT32_MAX;
    }
    if (count >= INT32_MAX)
        return fc_fail(err, FC_ELIMIT, "%s: a batch of the cut '%s' is over 2^31 elements", b->path, cv->name);
    return 0;
}

/* The net: nodes that depend on the cut (d) and that the feature depends on (a). Every tensor they
 * read must be a constant, the cut, or computed by another node of the net: else some path from
 * the input goes around the cut. */
static int select_nodes(net_build *b, fc_error *err) {
    const fc_graph *g = b->g;
    char *d = calloc((size_t)g->n_values, 1), *a = calloc((size_t)g->n_values, 1);
    b->in_net = calloc((size_t)g->n_nodes, 1);
    b->gate = calloc((size_t)g->n_nodes, 1);
    int rc = 0;
    if (!d || !a || !b->in_net || !b->gate) { rc = fc_fail(err, FC_ENOMEM, "out of memory"); goto out; }
    d[b->cut] = 1;
    for (int oi = 0; oi < g->n_order; oi++) {
        const fc_node *n = &g->nodes[g->order[oi]];
        int dep = 0;
        for (int k = 0; k < n->n_in; k++) dep |= n->in[k] >= 0 && d[n->in[k]];
        for (int k = 0; k < n->n_out && dep; k++)
            if (n->out[k] >= 0) d[n->out[k]] = 1;
        b->in_net[g->order[oi]] = (char)dep;
    }
    if (!d[b->feat]) {
        rc = fc_fail(err, FC_EINVAL, "%s: '%s' is not before the feature tensor '%s' (the feature "
                     "does not depend on it)", b->path, g->values[b->cut].name, g->values[b->feat].name);
        goto out;
    }
    a[b->feat] = 1;
    for (int oi = g->n_order - 1; oi >= 0; oi--) {
        const fc_node *n = &g->nodes[g->order[oi]];
        int need = 0;
        for (int k = 0; k < n->n_out; k++) need |= n->out[k] >= 0 && a[n->out[k]];
        for (int k = 0; k < n->n_in && need; k++)
            if (n->in[k] >= 0) a[n->in[k]] = 1;
        b->in_net[g->order[oi]] &= (char)need;
    }
    for (int oi = 0; oi < g->n_order && !rc; oi++) {
        const fc_node *n = &g->nodes[g->order[oi]];
        for (int k = 0; k < n->n_in && b->in_net[g->order[oi]] && !rc; k++) {
            int v = n->in[k], p = v >= 0 ? g->values[v].producer : -1;
            if (v < 0 || v == b->cut || g->values[v].c.data || (p >= 0 && b->in_net[p])) continue;
            rc = fc_fail(err, FC_EINVAL, "%s: '%s' is not a cut: node '%s' reads '%s' from below the cut",
                         b->path, g->values[b->cut].name, n->name, g->values[v].name);
        }
    }
out:
    free(d);
    free(a);
    return rc;
}

/* Slot 0 is the cut; then every node of the net in topological order. */
static int map_all(net_build *b, fc_error *err) {
    fc_graph *g = b->g;
    fc_train_net *net = b->net;
    int nv = g->n_values;
    b->vt = calloc((size_t)nv, sizeof *b->vt);
    b->owned = calloc((size_t)nv, sizeof *b->owned);
    b->slot = malloc((size_t)nv * sizeof *b->slot);
    b->param_of = malloc((size_t)nv * sizeof *b->param_of);
    net->slots = calloc(16, sizeof *net->slots);
    if (!b->vt || !b->owned || !b->slot || !b->param_of || !net->slots)
        return fc_fail(err, FC_ENOMEM, "out of memory");
    net->cap_slots = 16;
    for (int v = 0; v < nv; v++) {
        b->slot[v] = b->param_of[v] = -1;
        if (g->values[v].c.data) b->vt[v] = g->values[v].c;
    }
    fc_tensor *c = &b->vt[b->cut];
    c->dtype = FC_F32;
    c->rank = net->in_rank + 1;
    c->dims[0] = net->batch;
    memcpy(c->dims + 1, net->in_dims, (size_t)net->in_rank * sizeof *c->dims);
    net->slots[0].per = (size_t)(fc_tensor_count(c) / net->batch);
    net->n_slots = 1;
    b->slot[b->cut] = 0;
    fc_train_net_find_gates(b);
    for (int oi = 0; oi < g->n_order; oi++) {
        int i = g->order[oi], rc;
        if (!b->in_net[i] || b->gate[i]) continue;
        if ((rc = fc_train_net_map_node(b, i, err))) {
            fc_error_prefix(err, "%s: ", b->path);
            return rc;
        }
    }
    net->feature = b->slot[b->feat];
    if (net->feature < 0)
        return fc_fail(err, FC_EUNSUPPORTED, "%s: the feature '%s' is a shape computation, not a "
                       "computed tensor", b->path, g->values[b->feat].name);
    return 0;
}

/* ---- memory ---- */

/* Gradient buffers placed by liveness: slot s's gradient lives over ops [last, first], from the
 * backward of its last reader (first write) down to that of its producer (last read). Slots are
 * placed in the order the backward first writes them (first-fit offsets in one arena); the cut and
 * the feature get none (the caller's dinput and dout stand in). */
static int needs_grad(const fc_train_net *net, int s) {
    return s > 0 && s != net->feature && net->slots[s].first >= 0;
}

/* Whether slot t is placed before slot s (first writes by op i) and lives at the same time. */
static int conflicts(const fc_train_net *net, int t, int s) {
    const net_slot *o = &net->slots[t], *a = &net->slots[s];
    int before = o->first > a->first || (o->first == a->first && t < s);
    return t != s && needs_grad(net, t) && before && o->first >= a->last && o->last <= a->first;
}

static int plan_grads(fc_train_net *net, fc_error *err) {
    size_t *off = calloc((size_t)net->n_slots, sizeof *off), total = 0;
    if (!off) return fc_fail(err, FC_ENOMEM, "out of memory");
    for (int s = 0; s < net->n_slots; s++) net->slots[s].first = net->slots[s].last = -1;
    for (int i = 0; i < net->n_ops; i++) {
        for (int k = 0; k < net->ops[i].n_in; k++) net->slots[net->ops[i].in[k]].first = i;
        net->slots[net->ops[i].out].last = i;
    }
    for (int i = net->n_ops - 1; i >= 0; i--) {
        for (int s = 1; s < net->n_slots; s++) {
            if (!needs_grad(net, s) || net->slots[s].first != i) continue;
            size_t size = round_up((size_t)net->batch * net->slots[s].per), cand = 0;
            for (int again = 1; again;) {
                again = 0;
                for (int t = 1; t < net->n_slots; t++) {
                    size_t tsize = round_up((size_t)net->batch * net->slots[t].per);
                    if (conflicts(net, t, s) && cand < off[t] + tsize && off[t] < cand + size)
                        cand = off[t] + tsize, again = 1;
                }
            }
            off[s] = cand;
            if (cand + size > total) total = cand + size;
        }
    }
    if (!(net->grad_arena = alloc_floats(total))) { free(off); return fc_fail(err, FC_ENOMEM, "out of memory"); }
    for (int s = 1; s < net->n_slots; s++)
        if (needs_grad(net, s)) net->slots[s].grad = net->grad_arena + off[s];
    free(off);
    return 0;
}

/* Parameters (copied, Gemm weights transposed to (OC, IC) where the file has (IC, OC)),
 * activations, gradients, the accumulation buffer and the ops' scratch. */
static int plan_memory(fc_train_net *net, fc_error *err) {
    net->values = alloc_floats(net->n_values);
    net->grads = alloc_floats(net->n_values);
    if (!net->values || !net->grads) return fc_fail(err, FC_ENOMEM, "out of memory");
    memset(net->grads, 0, net->n_values * sizeof(float));
    for (int i = 0; i < net->n_params; i++) {
        net_param *p = &net->params[i];
        float *dst = net->values + p->offset;
        if (!p->transposed) memcpy(dst, p->src, p->count * sizeof(float));
        for (int64_t r = 0; p->transposed && r < p->dims[0]; r++) /* src (IC, OC) -> dst (OC, IC) */
            for (int64_t c = 0; c < p->dims[1]; c++) dst[r * p->dims[1] + c] = p->src[c * p->dims[0] + r];
        p->src = NULL;
    }
    size_t total = 0, most = 0, scratch = 0;
    for (int s = 0; s < net->n_slots; s++) {
        size_t size = round_up((size_t)net->batch * net->slots[s].per);
        total += size;
        if (size > most) most = size;
    }
    net->arena = alloc_floats(total);
    net->tmp = alloc_floats(most);
    if (!net->arena || !net->tmp) return fc_fail(err, FC_ENOMEM, "out of memory for activations");
    total = 0;
    for (int s = 0; s < net->n_slots; s++) {
        net->slots[s].data = net->arena + total;
        total += round_up((size_t)net->batch * net->slots[s].per);
    }
    for (int i = 0; i < net->n_ops; i++) {
        const net_op *op = &net->ops[i];
        size_t f = op->kind == NET_CONV ? fc_conv2d_ws_floats(&net->ws, &op->cv, net->batch, op->H, op->W)
                   : op->kind == NET_BN ? (size_t)op->C : 0;
        if (f > scratch) scratch = f;
    }
    int rc = plan_grads(net, err);
    return rc ? rc : fc_train_ws_reserve(&net->ws, scratch, err);
}

static int build(net_build *b, const char *cut, const char *feature, int batch, const fc_train_net_options *opt,
                 fc_train_net **out, fc_error *err) {
    if (out) *out = NULL;
    if (!b->path || !cut || !feature || !out)
        return fc_fail(err, FC_EINVAL, "train net: NULL model, tensor name or result");
    if (batch < 1 || batch > 65536)
        return fc_fail(err, FC_EINVAL, "%s: batch %d (1 to 65536)", b->path, batch);
    if (opt && (opt->cut_rank < 0 || opt->cut_rank > 4 || opt->height < 0 || opt->width < 0))
        return fc_fail(err, FC_EINVAL, "%s: bad options (cut_rank %d, size %d x %d)", b->path,
                       opt->cut_rank, opt->height, opt->width);
    b->k = fc_kernels_best();
    b->bn_train = opt && opt->bn_train;
    fc_train_net *net = b->net = calloc(1, sizeof *net);
    if (!net) return fc_fail(err, FC_ENOMEM, "out of memory");
    net->batch = batch;
    net->training = 1;
    fc_train_ws_init(&net->ws, opt ? opt->threads : 0);
    int rc = fc_train_ws_set_precision(&net->ws, opt ? opt->precision : FC_TRAIN_F32, err);
    if (rc) {
        fc_error_prefix(err, "%s: ", b->path);
        goto fail;
    }
    if ((rc = load_graph(b, cut, feature, err)) || (rc = cut_shape(b, opt, err)) ||
        (rc = select_nodes(b, err)) || (rc = map_all(b, err)))
        goto fail;
    fc_train_net_fuse(net);
    if ((rc = plan_memory(net, err))) {
        fc_error_prefix(err, "%s: ", b->path);
        goto fail;
    }
    build_free(b);
    *out = net;
    return 0;
fail:
    build_free(b);
    fc_train_net_free(net);
    return rc;
}

int fc_train_net_build(const char *model_path, const char *cut, const char *feature, int batch,
                       const fc_train_net_options *opt, fc_train_net **out, fc_error *err) {
    net_build b = {.path = model_path};
    return build(&b, cut, feature, batch, opt, out, err);
}

int fc_train_net_build_mem(const char *name, const void *data, size_t size, const char *cut,
                           const char *feature, int batch, const fc_train_net_options *opt,
                           fc_train_net **out, fc_error *err) {
    net_build b = {.path = name ? name : "<memory>", .data = data, .size = size};
    if (!data) {
        if (out) *out = NULL;
        return fc_fail(err, FC_EINVAL, "train net: NULL model data");
    }
    return build(&b, cut, feature, batch, opt, out, err);
}

void fc_train_net_free(fc_train_net *net) {
    if (!net) return;
    for (int i = 0; i < net->n_ops; i++) fc_train_net_op_free(&net->ops[i]);
    for (int i = 0; i < net->n_params; i++) free(net->params[i].name);
    free(net->ops);
    free(net->slots);
    free(net->params);
    free(net->values);
    free(net->grads);
    free(net->arena);
    free(net->grad_arena);
    free(net->tmp);
    fc_train_ws_free(&net->ws);
    free(net);
}

/* ---- running ---- */

int fc_train_net_forward(fc_train_net *net, const float *input, int n, float *out, fc_error *err) {
    if (!input || !out) return fc_fail(err, FC_EINVAL, "train net forward: NULL buffer");
    if (n < 1 || n > net->batch)
        return fc_fail(err, FC_EINVAL, "train net forward: %d images (the net holds 1 to %d)", n, net->batch);
    net->fwd_n = 0;
    net->fwd_training = net->training;
    memcpy(net->slots[0].data, input, (size_t)n * net->slots[0].per * sizeof(float));
    for (int i = 0; i < net->n_ops; i++) {
        int rc = fc_train_net_op_forward(net, &net->ops[i], n, err);
        if (rc) return rc;
    }
    memcpy(out, net->slots[net->feature].data, (size_t)n * net->slots[net->feature].per * sizeof(float));
    net->fwd_n = n;
    return 0;
}

void fc_train_net_set_training(fc_train_net *net, int on) { net->training = on != 0; }

int fc_train_net_backward(fc_train_net *net, const float *dout, float *dinput, fc_error *err) {
    int n = net->fwd_n, rc = 0;
    if (!dout) return fc_fail(err, FC_EINVAL, "train net backward: NULL dout");
    if (!n) return fc_fail(err, FC_EINVAL, "train net backward: no forward to go back through");
    if (net->feature == 0) { /* the feature is a view of the cut */
        if (dinput) memcpy(dinput, dout, (size_t)n * net->slots[0].per * sizeof(float));
        return 0;
    }
    for (int s = 0; s < net->n_slots; s++) net->slots[s].written = 0;
    net->slots[0].grad = dinput;
    for (int i = net->n_ops - 1; i >= 0 && !rc; i--) {
        const net_op *op = &net->ops[i];
        const float *d = op->out == net->feature ? dout : net->slots[op->out].grad;
        rc = fc_train_net_op_backward(net, &net->ops[i], n, d, err);
    }
    net->slots[0].grad = NULL;
    return rc;
}

/* ---- sizes and parameters ---- */

int fc_train_net_batch(const fc_train_net *net) { return net->batch; }

int fc_train_net_input_dims(const fc_train_net *net, int64_t dims[4]) {
    memcpy(dims, net->in_dims, sizeof net->in_dims);
    return net->in_rank;
}

size_t fc_train_net_input_size(const fc_train_net *net) { return net->slots[0].per; }
size_t fc_train_net_feature_size(const fc_train_net *net) { return net->slots[net->feature].per; }
fc_train_ws *fc_train_net_ws(fc_train_net *net) { return &net->ws; }

fc_train_precision fc_train_net_precision(const fc_train_net *net) {
    return net->ws.bf16 ? FC_TRAIN_BF16 : FC_TRAIN_F32;
}
int fc_train_net_n_params(const fc_train_net *net) { return net->n_params; }
size_t fc_train_net_params_size(const fc_train_net *net) { return net->n_values; }

int fc_train_net_param(const fc_train_net *net, int i, fc_train_param *p, fc_error *err) {
    if (i < 0 || i >= net->n_params || !p)
        return fc_fail(err, FC_EINVAL, "train net: no parameter %d (%d)", i, net->n_params);
    const net_param *q = &net->params[i];
    *p = (fc_train_param){.name = q->name, .rank = q->rank, .count = q->count,
                          .value = net->values + q->offset, .grad = net->grads + q->offset,
                          .group = FC_TRAIN_GROUP_BACKBONE, .decay = q->decay};
    memcpy(p->dims, q->dims, sizeof p->dims);
    return 0;
}

int fc_train_net_params_get(const fc_train_net *net, float *dst, size_t n, fc_error *err) {
    if (!dst || n != net->n_values)
        return fc_fail(err, FC_EINVAL, "train net: checkpoint of %zu floats (the net has %zu)", n,
                       net->n_values);
    memcpy(dst, net->values, n * sizeof(float));
    return 0;
}

int fc_train_net_params_set(fc_train_net *net, const float *src, size_t n, fc_error *err) {
    if (!src || n != net->n_values)
        return fc_fail(err, FC_EINVAL, "train net: checkpoint of %zu floats (the net has %zu)", n,
                       net->n_values);
    memcpy(net->values, src, n * sizeof(float));
    return 0;
}

/* Copies the running statistics of the training-mode BatchNormalizations into dst, or from src. */
static int stats_copy(const fc_train_net *net, float *dst, const float *src, size_t n, fc_error *err) {
    size_t want = fc_train_net_stats_size(net), at = 0;
    if ((!dst && !src && want) || n != want)
        return fc_fail(err, FC_EINVAL, "train net: %zu running statistics (the net has %zu)", n, want);
    for (int i = 0; i < net->n_ops; i++) {
        const net_op *op = &net->ops[i];
        size_t c = 2 * (size_t)op->C;
        if (!op->bn_train) continue;
        if (dst) memcpy(dst + at, op->stats, c * sizeof(float));
        else memcpy(op->stats, src + at, c * sizeof(float));
        at += c;
    }
    return 0;
}

size_t fc_train_net_stats_size(const fc_train_net *net) {
    size_t n = 0;
    for (int i = 0; i < net->n_ops; i++)
        if (net->ops[i].bn_train) n += 2 * (size_t)net->ops[i].C;
    return n;
}

int fc_train_net_stats_get(const fc_train_net *net, float *dst, size_t n, fc_error *err) {
    return stats_copy(net, dst, NULL, n, err);
}

int fc_train_net_stats_set(fc_train_net *net, const float *src, size_t n, fc_error *err) {
    return stats_copy(net, NULL, src, n, err);
}
