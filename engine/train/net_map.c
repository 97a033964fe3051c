/* Graph node -> net op (see net.h for the forms each op type may take): reads the node's attributes
 * and constant operands, checks the shapes of one image against them, adds the op, its parameters
 * and its output slot. Views (Flatten, Reshape, ...) get no op: their output shares the input's slot.
 * Shape computations (Shape, Gather, ... on shapes) are evaluated once with the engine's own ops.
 * Not here: choosing the nodes (net.c), running the ops (net_run.c). */
#include <stdlib.h>
#include <string.h>

#include "engine/ops/ops.h"
#include "engine/ops/window.h"
#include "engine/train/net_internal.h"

#define TRAINABLE "Conv, Gemm, MatMul, Add, Mul, Relu, Clip, Sigmoid, HardSigmoid, HardSwish, " \
    "GlobalAveragePool, ReduceMean, AveragePool, MaxPool, Concat, BatchNormalization, Flatten, " \
    "Reshape, Squeeze, Unsqueeze, Identity, Dropout, Softmax"

/* ---- growing the net ---- */

static int grow(void **arr, int *cap, int n, size_t size) {
    if (n < *cap) return 0;
    int c = *cap ? 2 * *cap : 16;
    void *p = realloc(*arr, (size_t)c * size);
    if (!p) return -1;
    memset((char *)p + (size_t)*cap * size, 0, (size_t)(c - *cap) * size);
    *arr = p;
    *cap = c;
    return 0;
}

static int computed(const net_build *b, int v) { return v >= 0 && b->slot[v] >= 0; }

static const fc_tensor *shape_of(const net_build *b, int v) { return &b->vt[v]; }

/* A constant float operand (a graph constant), or NULL. */
static const fc_tensor *constant(const net_build *b, int v) {
    if (v < 0 || computed(b, v)) return NULL;
    const fc_tensor *t = &b->vt[v];
    return t->data && t->dtype == FC_F32 ? t : NULL;
}

/* in[0..n->n_in) = the shapes (and data of constants) of n's inputs; -1 when n has more than max. */
static int load_inputs(const net_build *b, const fc_node *n, fc_tensor *in, int max) {
    if (n->n_in > max) return -1;
    for (int k = 0; k < n->n_in; k++) {
        if (n->in[k] >= 0) in[k] = b->vt[n->in[k]];
        else memset(&in[k], 0, sizeof in[k]);
    }
    return 0;
}

/* Output value v gets shape (rank, dims) at the full batch; FC_EUNSUPPORTED when the batch is not
 * its first dimension (every tensor of the net is a batch of per-image tensors). */
static int set_shape(net_build *b, const fc_node *n, int v, int rank, const int64_t *dims,
                     fc_error *err) {
    fc_tensor *t = &b->vt[v];
    t->dtype = FC_F32;
    t->rank = rank;
    memcpy(t->dims, dims, (size_t)rank * sizeof *dims);
    t->data = NULL;
    int64_t count;
    if (rank < 1 || dims[0] != b->net->batch || fc_dims_count(rank, dims, &count) || count >= INT32_MAX)
        return fc_op_fail(n, FC_EUNSUPPORTED, err, "output '%s' does not keep the batch as its "
                          "first dimension (or is too large)", b->g->values[v].name);
    return 0;
}

/* Output value v gets shape (rank, dims) and a new slot. */
static int new_slot(net_build *b, const fc_node *n, int v, int rank, const int64_t *dims,
                    fc_error *err) {
    fc_train_net *net = b->net;
    int rc = set_shape(b, n, v, rank, dims, err);
    if (rc) return rc;
    if (grow((void **)&net->slots, &net->cap_slots, net->n_slots, sizeof *net->slots))
        return fc_fail(err, FC_ENOMEM, "out of memory");
    net->slots[net->n_slots].per = (size_t)(fc_tensor_count(&b->vt[v]) / net->batch);
    b->slot[v] = net->n_slots++;
    return 0;
}

/* Appends an op of node n reading n_in slots; NULL on ENOMEM. */
static net_op *new_op(net_build *b, const fc_node *n, int kind, int n_in, fc_error *err) {
    fc_train_net *net = b->net;
    if (grow((void **)&net->ops, &net->cap_ops, net->n_ops, sizeof *net->ops)) goto nomem;
    net_op *op = &net->ops[net->n_ops];
    memset(op, 0, sizeof *op);
    op->kind = kind;
    op->w = op->b = -1;
    op->n_in = n_in;
    op->name = strdup(n->name);
    op->type = strdup(n->op_type);
    op->in = calloc((size_t)n_in, sizeof *op->in);
    net->n_ops++; /* owned by the net from here on, freed with it */
    if (!op->name || !op->type || !op->in) goto nomem;
    return op;
nomem:
    fc_fail(err, FC_ENOMEM, "out of memory");
    return NULL;
}

/* Parameter copied from constant value v (stored transposed when transposed), exported as name. */
static int add_param(net_build *b, const fc_node *n, int v, const char *name, int decay,
                     int transposed, int *idx, fc_error *err) {
    fc_train_net *net = b->net;
    const fc_tensor *t = &b->vt[v];
    if (b->param_of[v] >= 0)
        return fc_op_fail(n, FC_EUNSUPPORTED, err, "weight '%s' is also used by another trained node",
                          name);
    if (t->rank > 4) return fc_op_fail(n, FC_EUNSUPPORTED, err, "weight '%s' has rank %d", name, t->rank);
    if (grow((void **)&net->params, &net->cap_params, net->n_params, sizeof *net->params))
        return fc_fail(err, FC_ENOMEM, "out of memory");
    net_param *p = &net->params[net->n_params];
    memset(p, 0, sizeof *p);
    if (!(p->name = strdup(name))) return fc_fail(err, FC_ENOMEM, "out of memory");
    p->rank = t->rank;
    for (int i = 0; i < t->rank; i++) p->dims[i] = transposed ? t->dims[t->rank - 1 - i] : t->dims[i];
    p->count = (size_t)fc_tensor_count(t);
    p->offset = net->n_values;
    p->decay = decay;
    p->transposed = transposed;
    p->src = t->data;
    net->n_values += p->count;
    b->param_of[v] = *idx = net->n_params++;
    return 0;
}

/* ---- Conv, Gemm, MatMul ---- */

/* The initializer names a Conv's weight and bias are exported to; a folded BatchNormalization's
 * bias stands in for a bias the Conv did not have. Records the fold on op. */
static int conv_names(net_build *b, int i, net_op *op, const char **wname, const char **bname,
                      fc_error *err) {
    const fc_graph *g = b->g;
    const fc_node *n = &g->nodes[i];
    *wname = g->values[n->in[1]].name;
    *bname = n->n_in > 2 && n->in[2] >= 0 ? g->values[n->in[2]].name : NULL;
    if (b->orig_out[i] == n->out[0]) return 0;
    int bn = -1; /* the dead BatchNormalization that now shares the Conv's output */
    for (int j = 0; j < g->n_nodes && bn < 0; j++)
        if (g->nodes[j].dead && g->nodes[j].n_out > 0 && g->nodes[j].out[0] == n->out[0] &&
            !strcmp(g->nodes[j].op_type, "BatchNormalization"))
            bn = j;
    if (bn < 0) return fc_op_fail(n, FC_EINTERNAL, err, "folded BatchNormalization not found");
    *wname = g->values[b->orig_w[i]].name;
    *bname = b->orig_b[i] >= 0 ? g->values[b->orig_b[i]].name : g->values[g->nodes[bn].in[2]].name;
    op->fold_from = strdup(g->values[b->orig_out[i]].name);
    op->fold_to = strdup(g->values[n->out[0]].name);
    return op->fold_from && op->fold_to ? 0 : fc_fail(err, FC_ENOMEM, "out of memory");
}

static int map_conv(net_build *b, int i, fc_error *err) {
    const fc_node *n = &b->g->nodes[i];
    const fc_tensor *x = shape_of(b, n->in[0]), *w = n->n_in > 1 ? constant(b, n->in[1]) : NULL;
    const fc_tensor *bias = n->n_in > 2 && n->in[2] >= 0 ? constant(b, n->in[2]) : NULL;
    if (x->rank != 4 || !w || w->rank != 4 || (n->n_in > 2 && n->in[2] >= 0 && !bias))
        return fc_op_fail(n, FC_EUNSUPPORTED, err, "only 2-D convolutions of an (N,C,H,W) tensor "
                          "with constant weights and bias are trainable");
    int64_t group = fc_attr_int(n, "group", 1), OC = w->dims[0];
    if (group < 1 || x->dims[1] != w->dims[1] * group || OC % group ||
        (bias && fc_tensor_count(bias) != OC))
        return fc_op_fail(n, FC_ESHAPE, err, "weights (%lld,%lld,..) in %lld groups do not fit %lld "
                          "input channels", (long long)OC, (long long)w->dims[1], (long long)group,
                          (long long)x->dims[1]);
    fc_window win;
    int rc = fc_window_infer(n, x->dims[2], x->dims[3], (int)w->dims[2], (int)w->dims[3], 0, &win, err);
    if (rc) return rc;
    net_op *op = new_op(b, n, NET_CONV, 1, err);
    if (!op) return FC_ENOMEM;
    op->in[0] = b->slot[n->in[0]];
    op->C = (int)x->dims[1], op->H = (int)x->dims[2], op->W = (int)x->dims[3], op->OC = (int)OC;
    op->cv = (fc_conv2d){.C = op->C, .OC = op->OC, .groups = (int)group,
                         .win = {win.kh, win.kw, win.sh, win.sw, win.dil_h, win.dil_w,
                                 win.pt, win.pl, win.pb, win.pr}};
    const char *wname, *bname;
    if ((rc = conv_names(b, i, op, &wname, &bname, err)) ||
        (rc = add_param(b, n, n->in[1], wname, 1, 0, &op->w, err)) ||
        (bias && (rc = add_param(b, n, n->in[2], bname, 0, 0, &op->b, err))))
        return rc;
    int64_t dims[4] = {x->dims[0], OC, win.oh, win.ow};
    if ((rc = new_slot(b, n, n->out[0], 4, dims, err))) return rc;
    op->out = b->slot[n->out[0]];
    return 0;
}

/* Linear y = x W^T + b on (N, IC) with weight value wv ((OC, IC), or (IC, OC) when transposed). */
static int add_linear(net_build *b, const fc_node *n, int wv, int transposed, int bv, fc_error *err) {
    const fc_tensor *x = shape_of(b, n->in[0]), *w = constant(b, wv);
    const fc_tensor *bias = bv >= 0 ? constant(b, bv) : NULL;
    if (x->rank != 2 || !w || w->rank != 2 || (bv >= 0 && !bias))
        return fc_op_fail(n, FC_EUNSUPPORTED, err, "only a product of an (N, IC) tensor with "
                          "constant weights and bias is trainable");
    int64_t IC = w->dims[transposed ? 0 : 1], OC = w->dims[transposed ? 1 : 0];
    if (x->dims[1] != IC || (bias && (fc_tensor_count(bias) != OC || bias->rank > 2 ||
                                      (bias->rank == 2 && bias->dims[0] != 1))))
        return fc_op_fail(n, FC_ESHAPE, err, "weights (%lld, %lld) do not fit %lld inputs",
                          (long long)OC, (long long)IC, (long long)x->dims[1]);
    net_op *op = new_op(b, n, NET_LINEAR, 1, err);
    if (!op) return FC_ENOMEM;
    op->in[0] = b->slot[n->in[0]];
    op->C = (int)IC, op->OC = (int)OC;
    int rc;
    if ((rc = add_param(b, n, wv, b->g->values[wv].name, 1, transposed, &op->w, err)) ||
        (bias && (rc = add_param(b, n, bv, b->g->values[bv].name, 0, 0, &op->b, err))))
        return rc;
    int64_t dims[2] = {x->dims[0], OC};
    if ((rc = new_slot(b, n, n->out[0], 2, dims, err))) return rc;
    op->out = b->slot[n->out[0]];
    return 0;
}

static int map_gemm(net_build *b, int i, fc_error *err) {
    const fc_node *n = &b->g->nodes[i];
    if (n->n_in < 2 || fc_attr_int(n, "transA", 0) || fc_attr_float(n, "alpha", 1.f) != 1.f ||
        fc_attr_float(n, "beta", 1.f) != 1.f)
        return fc_op_fail(n, FC_EUNSUPPORTED, err, "only transA = 0, alpha = beta = 1 is trainable");
    int transposed = !fc_attr_int(n, "transB", 0);
    return add_linear(b, n, n->in[1], transposed, n->n_in > 2 ? n->in[2] : -1, err);
}

static int map_matmul(net_build *b, int i, fc_error *err) {
    const fc_node *n = &b->g->nodes[i];
    return add_linear(b, n, n->in[1], 1, -1, err);
}

/* ---- elementwise ---- */

static int same_shape(const fc_tensor *a, const fc_tensor *b) {
    if (a->rank != b->rank) return 0;
    for (int i = 0; i < a->rank; i++)
        if (a->dims[i] != b->dims[i]) return 0;
    return 1;
}

/* An op of kind reading computed values ins[0..k) whose output has out_shape's shape. */
static int add_simple(net_build *b, const fc_node *n, int kind, const int *ins, int k,
                      const fc_tensor *out_shape, net_op **opp, fc_error *err) {
    net_op *op = new_op(b, n, kind, k, err);
    if (!op) return FC_ENOMEM;
    for (int j = 0; j < k; j++) op->in[j] = b->slot[ins[j]];
    int rc = new_slot(b, n, n->out[0], out_shape->rank, out_shape->dims, err);
    if (rc) return rc;
    op->out = b->slot[n->out[0]];
    *opp = op;
    return 0;
}

static int map_add(net_build *b, int i, fc_error *err) {
    const fc_node *n = &b->g->nodes[i];
    net_op *op;
    if (n->n_in != 2 || !computed(b, n->in[0]) || !computed(b, n->in[1]) ||
        !same_shape(shape_of(b, n->in[0]), shape_of(b, n->in[1])))
        return fc_op_fail(n, FC_EUNSUPPORTED, err, "only the sum of two computed tensors of the same "
                          "shape (a residual) is trainable");
    return add_simple(b, n, NET_ADD, n->in, 2, shape_of(b, n->in[0]), &op, err);
}

/* Clip bounds come from constant inputs (a computed bound is refused by the dispatch), ordered. */
static int map_act(net_build *b, int i, fc_error *err) {
    const fc_node *n = &b->g->nodes[i];
    fc_tensor in[3];
    fc_act act;
    net_op *op;
    if (load_inputs(b, n, in, 3) || fc_op_act_of(n, in, &act) ||
        (act.kind == FC_ACT_CLIP && !(act.a <= act.b)))
        return fc_op_fail(n, FC_EUNSUPPORTED, err, "only constant, ordered Clip bounds are trainable");
    int rc = add_simple(b, n, NET_ACT, n->in, 1, shape_of(b, n->in[0]), &op, err);
    if (!rc) op->act = act;
    return rc;
}

/* The gate of x * gate(x) (fc_train_net_find_gates) among Mul node n's inputs: 0 or 1, or -1. */
static int gate_input(const net_build *b, const fc_node *n) {
    for (int k = 0; k < 2 && n->n_in == 2; k++) {
        int p = n->in[k] >= 0 ? b->g->values[n->in[k]].producer : -1;
        if (p >= 0 && b->gate[p] && b->g->nodes[p].in[0] == n->in[1 - k]) return k;
    }
    return -1;
}

void fc_train_net_find_gates(net_build *b) {
    const fc_graph *g = b->g;
    for (int oi = 0; oi < g->n_order; oi++) {
        const fc_node *n = &g->nodes[g->order[oi]];
        if (!b->in_net[g->order[oi]] || strcmp(n->op_type, "Mul") || n->n_in != 2) continue;
        for (int k = 0; k < 2; k++) {
            int s = n->in[k], p = s >= 0 ? g->values[s].producer : -1;
            if (p < 0 || !b->in_net[p] || g->nodes[p].in[0] != n->in[1 - k] ||
                g->values[s].n_uses != 1 || s == b->feat || s == b->cut)
                continue;
            const fc_node *q = &g->nodes[p];
            if (!strcmp(q->op_type, "Sigmoid") ||
                (!strcmp(q->op_type, "HardSigmoid") && fc_attr_float(q, "alpha", 0.2f) == 1.0f / 6.0f &&
                 fc_attr_float(q, "beta", 0.5f) == 0.5f)) {
                b->gate[p] = 1;
                break;
            }
        }
    }
}

static int map_mul(net_build *b, int i, fc_error *err) {
    const fc_node *n = &b->g->nodes[i];
    net_op *op;
    int k = gate_input(b, n), rc;
    if (k >= 0) { /* x * sigmoid(x) or x * hardsigmoid(x): one activation of x */
        int x = n->in[1 - k], sig = !strcmp(b->g->nodes[b->g->values[n->in[k]].producer].op_type, "Sigmoid");
        if ((rc = add_simple(b, n, NET_ACT, &x, 1, shape_of(b, x), &op, err))) return rc;
        op->act.kind = sig ? FC_ACT_SILU : FC_ACT_HARDSWISH;
        return 0;
    }
    if (n->n_in != 2 || !computed(b, n->in[0]) || !computed(b, n->in[1]))
        return fc_op_fail(n, FC_EUNSUPPORTED, err, "only products of two computed tensors are trainable");
    const fc_tensor *a = shape_of(b, n->in[0]), *c = shape_of(b, n->in[1]);
    if (same_shape(a, c)) return add_simple(b, n, NET_MUL, n->in, 2, a, &op, err);
    /* squeeze-and-excitation: (N,C,H,W) x (N,C,1,1), either way round */
    int map = a->rank == 4 && c->rank == 4 && c->dims[2] == 1 && c->dims[3] == 1 ? 0
              : a->rank == 4 && c->rank == 4 && a->dims[2] == 1 && a->dims[3] == 1 ? 1 : -1;
    const fc_tensor *m = map == 0 ? a : c, *s = map == 0 ? c : a;
    if (map < 0 || m->dims[1] != s->dims[1] || m->dims[0] != s->dims[0])
        return fc_op_fail(n, FC_EUNSUPPORTED, err, "only same-shape and per-channel (N,C,H,W) x "
                          "(N,C,1,1) products are trainable");
    if ((rc = add_simple(b, n, NET_MULC, n->in, 2, m, &op, err))) return rc;
    op->map = map;
    op->C = (int)m->dims[1], op->H = (int)m->dims[2], op->W = (int)m->dims[3];
    return 0;
}

/* ---- pools, Concat, BatchNormalization ---- */

static int map_gap(net_build *b, int i, fc_error *err) {
    const fc_node *n = &b->g->nodes[i];
    fc_tensor s = *shape_of(b, n->in[0]);
    net_op *op;
    if (s.rank != 4) return fc_op_fail(n, FC_EUNSUPPORTED, err, "only (N,C,H,W) inputs are trainable");
    int H = (int)s.dims[2], W = (int)s.dims[3];
    s.dims[2] = s.dims[3] = 1;
    int rc = add_simple(b, n, NET_GAP, n->in, 1, &s, &op, err);
    if (!rc) op->C = (int)s.dims[1], op->H = H, op->W = W;
    return rc;
}

/* Softmax over the classes of an (N, K) tensor (axis 1 or -1: the same there at every opset). */
static int map_softmax(net_build *b, int i, fc_error *err) {
    const fc_node *n = &b->g->nodes[i];
    const fc_tensor *s = shape_of(b, n->in[0]);
    int64_t axis = fc_attr_int(n, "axis", s->rank - 1);
    net_op *op;
    if (s->rank != 2 || (axis != 1 && axis != -1))
        return fc_op_fail(n, FC_EUNSUPPORTED, err, "only a softmax over axis 1 of an (N, K) tensor is trainable");
    int rc = add_simple(b, n, NET_SOFTMAX, n->in, 1, s, &op, err);
    if (!rc) op->C = (int)s->dims[1];
    return rc;
}

/* ReduceMean over the plane (axes 2 and 3 of (N,C,H,W), keepdims either way): the same as
 * GlobalAveragePool. */
static int map_reducemean(net_build *b, int i, fc_error *err) {
    const fc_node *n = &b->g->nodes[i];
    fc_tensor in[2], out;
    int rc = 0;
    memset(&out, 0, sizeof out);
    size_t work = 0;
    if (load_inputs(b, n, in, 2) || in[0].rank != 4 || (rc = n->op->infer(n, in, &out, &work, 1, err)) ||
        fc_tensor_count(&out) != in[0].dims[0] * in[0].dims[1] || out.dims[1] != in[0].dims[1])
        return rc ? rc : fc_op_fail(n, FC_EUNSUPPORTED, err, "only the mean over the plane (axes 2, 3) "
                                    "of an (N,C,H,W) tensor is trainable");
    net_op *op;
    if ((rc = add_simple(b, n, NET_GAP, n->in, 1, &out, &op, err))) return rc;
    op->C = (int)in[0].dims[1], op->H = (int)in[0].dims[2], op->W = (int)in[0].dims[3];
    return 0;
}

static int map_pool(net_build *b, int i, fc_error *err) {
    const fc_node *n = &b->g->nodes[i];
    fc_tensor s = *shape_of(b, n->in[0]);
    int64_t ks[4];
    int is_max = !strcmp(n->op_type, "MaxPool"), cip = (int)fc_attr_int(n, "count_include_pad", 0);
    if (s.rank != 4 || fc_attr_ints(n, "kernel_shape", ks, 4) != 2 ||
        (n->n_out > 1 && n->out[1] >= 0 && b->g->values[n->out[1]].n_uses))
        return fc_op_fail(n, FC_EUNSUPPORTED, err, "only 2-D pools of (N,C,H,W) inputs without the "
                          "Indices output are trainable");
    fc_window w;
    int rc = fc_window_infer(n, s.dims[2], s.dims[3], (int)ks[0], (int)ks[1], 1, &w, err);
    if (rc) return rc;
    /* ceil_mode: the last window overhangs the bottom/right padding; express it as extra padding */
    int pb = (w.oh - 1) * w.sh + (w.kh - 1) * w.dil_h + 1 - (int)s.dims[2] - w.pt;
    int pr = (w.ow - 1) * w.sw + (w.kw - 1) * w.dil_w + 1 - (int)s.dims[3] - w.pl;
    int extra = pb > w.pb || pr > w.pr;
    if (w.dil_h != 1 || w.dil_w != 1 || (extra && !is_max && cip) ||
        (is_max && (w.pt >= w.kh || w.pb >= w.kh || w.pl >= w.kw || w.pr >= w.kw)))
        return fc_op_fail(n, FC_EUNSUPPORTED, err, "dilated pools, ceil_mode with count_include_pad "
                          "and MaxPool pads as large as the kernel are not trainable");
    fc_win2d win = {w.kh, w.kw, w.sh, w.sw, 1, 1, w.pt, w.pl, pb > w.pb ? pb : w.pb, pr > w.pr ? pr : w.pr};
    int oh, ow;
    if ((rc = fc_win2d_out(&win, (int)s.dims[2], (int)s.dims[3], &oh, &ow, err))) {
        fc_error_prefix(err, "node '%s' (%s): ", n->name, n->op_type);
        return rc;
    }
    if (oh != w.oh || ow != w.ow) return fc_op_fail(n, FC_EINTERNAL, err, "pool geometry");
    net_op *op;
    int H = (int)s.dims[2], W = (int)s.dims[3];
    s.dims[2] = oh, s.dims[3] = ow;
    if ((rc = add_simple(b, n, is_max ? NET_MAXPOOL : NET_AVGPOOL, n->in, 1, &s, &op, err))) return rc;
    op->C = (int)s.dims[1], op->H = H, op->W = W, op->win = win, op->count_include_pad = cip;
    return 0;
}

static int map_concat(net_build *b, int i, fc_error *err) {
    const fc_node *n = &b->g->nodes[i];
    fc_tensor s = *shape_of(b, n->in[0]);
    int axis, rc;
    if ((rc = fc_op_axis(n, fc_attr_int(n, "axis", 1), s.rank, &axis, err))) return rc;
    int ok = axis == 1 && (s.rank == 2 || s.rank == 4);
    s.dims[1] = 0;
    for (int k = 0; k < n->n_in && ok; k++) {
        const fc_tensor *t = computed(b, n->in[k]) ? shape_of(b, n->in[k]) : NULL;
        ok = t && t->rank == s.rank && t->dims[0] == s.dims[0] &&
             (s.rank == 2 || (t->dims[2] == s.dims[2] && t->dims[3] == s.dims[3]));
        if (ok) s.dims[1] += t->dims[1];
    }
    if (!ok)
        return fc_op_fail(n, FC_EUNSUPPORTED, err, "only channel concatenation (axis 1) of computed "
                          "(N,C) or (N,C,H,W) tensors is trainable");
    net_op *op;
    if ((rc = add_simple(b, n, NET_CONCAT, n->in, n->n_in, &s, &op, err))) return rc;
    op->cs = calloc((size_t)n->n_in, sizeof *op->cs);
    op->srcs = calloc((size_t)n->n_in, sizeof *op->srcs);
    op->dsts = calloc((size_t)n->n_in, sizeof *op->dsts);
    if (!op->cs || !op->srcs || !op->dsts) return fc_fail(err, FC_ENOMEM, "out of memory");
    for (int k = 0; k < n->n_in; k++) op->cs[k] = (int)shape_of(b, n->in[k])->dims[1];
    op->H = s.rank == 4 ? (int)s.dims[2] : 1;
    op->W = s.rank == 4 ? (int)s.dims[3] : 1;
    return 0;
}

/* A BatchNormalization the folding left (it does not follow a Conv), or every one with bn_train:
 * trainable scale and shift, frozen statistics or (bn_train) training-mode ones. */
static int map_bn(net_build *b, int i, fc_error *err) {
    const fc_node *n = &b->g->nodes[i];
    const fc_tensor *x = shape_of(b, n->in[0]), *p[4];
    int ok = n->n_in == 5 && (x->rank == 2 || x->rank == 4) && !fc_attr_int(n, "training_mode", 0);
    for (int k = 0; k < 4 && ok; k++) ok = (p[k] = constant(b, n->in[k + 1])) && fc_tensor_count(p[k]) == x->dims[1];
    if (!ok)
        return fc_op_fail(n, FC_EUNSUPPORTED, err, "only inference-mode BatchNormalization of (N,C) or "
                          "(N,C,H,W) with constant parameters is trainable");
    float momentum = fc_attr_float(n, "momentum", 0.9f); /* ONNX: running = running * m + batch * (1 - m) */
    if (b->bn_train && !(momentum >= 0 && momentum <= 1))
        return fc_op_fail(n, FC_EUNSUPPORTED, err, "momentum %g is outside [0, 1]", momentum);
    net_op *op;
    int rc = add_simple(b, n, NET_BN, n->in, 1, x, &op, err);
    if (rc) return rc;
    op->C = (int)x->dims[1];
    op->H = x->rank == 4 ? (int)x->dims[2] : 1;
    op->W = x->rank == 4 ? (int)x->dims[3] : 1;
    op->eps = fc_attr_float(n, "epsilon", 1e-5f);
    if (!(op->stats = malloc(2 * (size_t)op->C * sizeof(float)))) return fc_fail(err, FC_ENOMEM, "out of memory");
    memcpy(op->stats, p[2]->data, (size_t)op->C * sizeof(float));
    memcpy(op->stats + op->C, p[3]->data, (size_t)op->C * sizeof(float));
    const fc_graph *g = b->g;
    if (b->bn_train) {
        op->bn_train = 1;
        op->momentum = 1.0f - momentum;
        op->saved = malloc(2 * (size_t)op->C * sizeof(float));
        op->stat_names[0] = strdup(g->values[n->in[3]].name);
        op->stat_names[1] = strdup(g->values[n->in[4]].name);
        if (!op->saved || !op->stat_names[0] || !op->stat_names[1]) return fc_fail(err, FC_ENOMEM, "out of memory");
    }
    if ((rc = add_param(b, n, n->in[1], g->values[n->in[1]].name, 0, 0, &op->w, err)) ||
        (rc = add_param(b, n, n->in[2], g->values[n->in[2]].name, 0, 0, &op->b, err)))
        return rc;
    return 0;
}

/* ---- views and shape computations ---- */

/* Flatten, Reshape, Squeeze, Unsqueeze, Identity, Dropout: the engine's shape inference gives the
 * output shape; the data and gradient are the input's. */
static int map_view(net_build *b, int i, fc_error *err) {
    const fc_node *n = &b->g->nodes[i];
    if (n->n_out > 1 && n->out[1] >= 0 && b->g->values[n->out[1]].n_uses)
        return fc_op_fail(n, FC_EUNSUPPORTED, err, "the mask output is not trainable");
    fc_tensor in[8], out[2];
    if (load_inputs(b, n, in, 8)) return fc_op_fail(n, FC_EUNSUPPORTED, err, "too many inputs");
    memset(out, 0, sizeof out);
    size_t work = 0;
    int rc = n->op->infer(n, in, out, &work, 1, err);
    if (rc) return rc;
    if (fc_tensor_count(&in[0]) != fc_tensor_count(&out[0]))
        return fc_op_fail(n, FC_EINTERNAL, err, "view changes the element count");
    if ((rc = set_shape(b, n, n->out[0], out[0].rank, out[0].dims, err))) return rc;
    b->slot[n->out[0]] = b->slot[n->in[0]]; /* the view shares its input's storage */
    return 0;
}

/* A node that only computes shapes (its inputs are constants or shapes of the net's tensors):
 * evaluated now with the engine's op, its outputs become constants. */
static int evaluate(net_build *b, int i, fc_error *err) {
    const fc_node *n = &b->g->nodes[i];
    fc_tensor in[16], out[4];
    if (load_inputs(b, n, in, 16) || n->n_out > 4)
        return fc_op_fail(n, FC_EUNSUPPORTED, err, "too many operands");
    memset(out, 0, sizeof out);
    size_t work = 0;
    int rc = n->op->infer(n, in, out, &work, 1, err);
    if (rc) return rc;
    if (work) return fc_op_fail(n, FC_EUNSUPPORTED, err, "shape computation needs scratch");
    for (int k = 0; k < n->n_out; k++) {
        if (n->out[k] < 0) continue;
        int64_t count;
        if (fc_dims_count(out[k].rank, out[k].dims, &count) || count > (1 << 20))
            return fc_op_fail(n, FC_ELIMIT, err, "shape computation output too large");
        void *p = calloc((size_t)count + 1, fc_dtype_size(out[k].dtype));
        if (!p) return fc_fail(err, FC_ENOMEM, "out of memory");
        b->owned[n->out[k]] = p;
        out[k].data = p;
    }
    fc_run_ctx ctx = {.k = b->k, .threads = 1, .work = NULL};
    if ((rc = n->op->run(n, in, out, &ctx, err))) return rc;
    for (int k = 0; k < n->n_out; k++)
        if (n->out[k] >= 0) b->vt[n->out[k]] = out[k];
    return 0;
}

static int is_shape_computation(const net_build *b, const fc_node *n) {
    if (n->op->fold == FC_FOLD_SHAPE) return 1;
    if (n->op->fold != FC_FOLD_CONST) return 0;
    for (int k = 0; k < n->n_in; k++)
        if (n->in[k] >= 0 && !b->vt[n->in[k]].data) return 0;
    return 1;
}

/* ---- dispatch ---- */

typedef int (*map_fn)(net_build *b, int i, fc_error *err);
static const struct {
    const char *type;
    map_fn fn;
    int data0; /* the data is input 0 alone (the map checks its other inputs itself otherwise) */
} MAPS[] = {
    {"Conv", map_conv, 1}, {"Gemm", map_gemm, 1}, {"MatMul", map_matmul, 1}, {"Add", map_add, 0},
    {"Mul", map_mul, 0}, {"Relu", map_act, 1}, {"Clip", map_act, 1}, {"Sigmoid", map_act, 1},
    {"HardSigmoid", map_act, 1}, {"HardSwish", map_act, 1}, {"GlobalAveragePool", map_gap, 1},
    {"ReduceMean", map_reducemean, 1}, {"AveragePool", map_pool, 1}, {"MaxPool", map_pool, 1}, {"Concat", map_concat, 0},
    {"BatchNormalization", map_bn, 1}, {"Flatten", map_view, 1}, {"Reshape", map_view, 1},
    {"Squeeze", map_view, 1}, {"Unsqueeze", map_view, 1}, {"Identity", map_view, 1},
    {"Dropout", map_view, 1}, {"Softmax", map_softmax, 1},
};

int fc_train_net_map_node(net_build *b, int i, fc_error *err) {
    const fc_node *n = &b->g->nodes[i];
    if (is_shape_computation(b, n)) return evaluate(b, i, err);
    for (size_t k = 0; k < sizeof MAPS / sizeof MAPS[0]; k++) {
        if (strcmp(MAPS[k].type, n->op_type)) continue;
        for (int j = 1; MAPS[k].data0 && j < n->n_in; j++)
            if (computed(b, n->in[j]))
                return fc_op_fail(n, FC_EUNSUPPORTED, err, "input %d ('%s') is computed: only input "
                                  "0 of a %s may be", j, b->g->values[n->in[j]].name, n->op_type);
        if (MAPS[k].data0 && !computed(b, n->in[0]))
            return fc_op_fail(n, FC_EINTERNAL, err, "input 0 is not computed");
        return MAPS[k].fn(b, i, err);
    }
    return fc_op_fail(n, FC_EUNSUPPORTED, err, "no backward for %s in the training ops (trainable: "
                      TRAINABLE ")", n->op_type);
}

void fc_train_net_op_free(net_op *op) {
    free(op->name);
    free(op->type);
    free(op->in);
    free(op->cs);
    free(op->srcs);
    free(op->dsts);
    free(op->stats);
    free(op->saved);
    free(op->stat_names[0]);
    free(op->stat_names[1]);
    free(op->fold_from);
    free(op->fold_to);
}
