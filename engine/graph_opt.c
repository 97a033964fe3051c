/* Graph rewrites done once at model load (see graph_opt.h). Each pass keeps the graph valid: a fused
 * node takes over the output value of the node it absorbs, which is marked dead, and what it took
 * over is recorded in its fc_fusion (fusion.h). */
#include "engine/graph_opt.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/fusion.h"
#include "engine/ops/ops.h"

static int is_requested(const fc_graph *g, int v) {
    for (int i = 0; i < g->n_outputs; i++)
        if (g->outputs[i] == v) return 1;
    return 0;
}

/* The only live node reading v, if v has exactly one use and is not a requested output; else -1. */
static int sole_consumer(const fc_graph *g, int v) {
    if (g->values[v].n_uses != 1 || is_requested(g, v)) return -1;
    for (int i = 0; i < g->n_nodes; i++) {
        const fc_node *n = &g->nodes[i];
        if (n->dead) continue;
        for (int k = 0; k < n->n_in; k++)
            if (n->in[k] == v) return i;
    }
    return -1;
}

/* Node n is taken over by its sole consumer c, which reads source in n's output's place: n dies and
 * its output has neither producer nor use. */
static void bypass(fc_graph *g, fc_node *n, fc_node *c, int source) {
    g->values[n->out[0]].n_uses = 0;
    g->values[n->out[0]].producer = -1;
    c->in[0] = source;
    n->dead = 1;
}

/* Node c absorbs consumer d: c's output becomes d's output. */
static void absorb(fc_graph *g, int c, int d) {
    fc_node *cn = &g->nodes[c], *dn = &g->nodes[d];
    int old = cn->out[0], nv = dn->out[0];
    g->values[old].producer = -1;
    g->values[old].n_uses = 0;
    cn->out[0] = nv;
    g->values[nv].producer = c;
    dn->dead = 1;
}

/* n's fusion record, created (nothing fused yet) on first use; NULL on ENOMEM. */
static fc_fusion *fusion_of(fc_node *n) {
    if (!n->fusion && (n->fusion = calloc(1, sizeof *n->fusion)))
        n->fusion->residual = n->fusion->expand = n->fusion->depthwise = n->fusion->scale = n->fusion->pre_bn = -1;
    return n->fusion;
}

static int set_act(fc_node *n, fc_act act, fc_error *err) {
    fc_fusion *f = fusion_of(n);
    if (!f) return fc_fail(err, FC_ENOMEM, "out of memory");
    f->act = act;
    return 0;
}

/* Appends value v to Conv node n's inputs, after X, W and B (B then -1 when the Conv has none);
 * returns its index, or -1 on ENOMEM. */
static int append_input(fc_node *n, int v, fc_error *err) {
    int slot = n->n_in > 3 ? n->n_in : 3;
    int *in = fusion_of(n) ? realloc(n->in, (size_t)(slot + 2) * sizeof(int)) : NULL;
    if (!in) return fc_fail(err, FC_ENOMEM, "out of memory"), -1;
    for (int i = n->n_in; i < slot; i++) in[i] = -1;
    in[slot] = v;
    n->in = in;
    n->n_in = slot + 1;
    return slot;
}

/* Appends value v to Conv node n's inputs as its fused residual. */
static int add_residual(fc_node *n, int v, fc_error *err) {
    int slot = append_input(n, v, err);
    if (slot < 0) return FC_ENOMEM;
    n->fusion->residual = slot;
    return 0;
}

static int all_inputs_const(const fc_graph *g, const fc_node *n) {
    for (int k = 0; k < n->n_in; k++)
        if (n->in[k] >= 0 && !g->values[n->in[k]].c.data) return 0;
    return 1;
}

#define FOLD_MAX_BYTES (64u << 20)

int fc_opt_fold_constants(fc_graph *g, const fc_kernels *k, fc_error *err) {
    for (int oi = 0; oi < g->n_order; oi++) {
        fc_node *n = &g->nodes[g->order[oi]];
        if (n->dead || n->op->fold != FC_FOLD_CONST || !all_inputs_const(g, n) || n->n_out != 1)
            continue;
        fc_tensor in[16], out[1];
        if (n->n_in > 16) continue;
        for (int i = 0; i < n->n_in; i++) {
            if (n->in[i] >= 0) in[i] = g->values[n->in[i]].c;
            else memset(&in[i], 0, sizeof in[i]);
        }
        memset(out, 0, sizeof out);
        size_t work = 0;
        int rc = n->op->infer(n, in, out, &work, 1, err);
        if (rc) return rc;
        if (work) continue; /* ops needing scratch are not worth folding here */
        /* nor huge results (a Pad of a constant can ask for gigabytes): the session folds them
         * within its memory limit */
        if (fc_tensor_bytes(&out[0]) > FOLD_MAX_BYTES) continue;
        out[0].data = malloc(fc_tensor_bytes(&out[0]) + 64);
        if (!out[0].data) return fc_fail(err, FC_ENOMEM, "out of memory folding node '%s'", n->name);
        fc_run_ctx ctx = {.k = k, .threads = 1, .work = NULL};
        rc = n->op->run(n, in, out, &ctx, err);
        if (rc) { free(out[0].data); return rc; }
        fc_value *v = &g->values[n->out[0]];
        v->c = out[0];
        v->dtype = out[0].dtype;
        v->producer = -1;
        n->dead = 1;
    }
    return 0;
}

/* 1 when BatchNormalization node bn's scale, B, mean and var (in[1..4]) are constant f32 tensors of
 * c values each (the arithmetic that folds or fuses them reads them as f32); p (may be NULL) gets
 * them. */
static int bn_params(const fc_graph *g, const fc_node *bn, int64_t c, const fc_tensor *p[4]) {
    if (bn->n_in != 5) return 0;
    for (int i = 0; i < 4; i++) {
        const fc_tensor *t = bn->in[i + 1] >= 0 ? &g->values[bn->in[i + 1]].c : NULL;
        if (!t || !t->data || t->dtype != FC_F32 || fc_tensor_count(t) != c) return 0;
        if (p) p[i] = t;
    }
    return 1;
}

/* W'[co] = W[co] * s[co], b'[co] = (b[co] - mean[co]) * s[co] + beta[co], s = gamma/sqrt(var+eps). */
int fc_opt_fold_batchnorm(fc_graph *g, fc_error *err) {
    for (int ci = 0; ci < g->n_nodes; ci++) {
        fc_node *conv = &g->nodes[ci];
        /* weights may be an omitted optional input (-1) in a malformed model */
        if (conv->dead || strcmp(conv->op_type, "Conv") || conv->n_in < 2 || conv->in[1] < 0) continue;
        int d = sole_consumer(g, conv->out[0]);
        if (d < 0 || strcmp(g->nodes[d].op_type, "BatchNormalization") || g->nodes[d].n_in != 5 ||
            g->nodes[d].in[0] != conv->out[0])
            continue;
        const fc_node *bn = &g->nodes[d];
        const fc_tensor *w = &g->values[conv->in[1]].c;
        const fc_tensor *b = conv->n_in > 2 && conv->in[2] >= 0 ? &g->values[conv->in[2]].c : NULL;
        const fc_tensor *p[4];
        /* the arithmetic below reads every tensor as f32 */
        int ok = w->data && w->dtype == FC_F32 && w->rank >= 3 && (!b || (b->data && b->dtype == FC_F32));
        if (!ok || !bn_params(g, bn, w->dims[0], NULL) || (b && fc_tensor_count(b) != w->dims[0])) continue;
        int64_t cout = w->dims[0], per = fc_tensor_count(w) / (cout ? cout : 1);
        float eps = fc_attr_float(bn, "epsilon", 1e-5f);
        int wv = fc_graph_new_value(g, g->values[conv->in[1]].name);
        int bv = wv >= 0 ? fc_graph_new_value(g, "bn_folded_bias") : -1;
        if (bv < 0) return fc_fail(err, FC_ENOMEM, "out of memory folding BatchNormalization");
        conv = &g->nodes[ci]; /* values may have moved, nodes did not; refresh pointers */
        bn = &g->nodes[d];
        w = &g->values[conv->in[1]].c;
        b = conv->n_in > 2 && conv->in[2] >= 0 ? &g->values[conv->in[2]].c : NULL;
        for (int i = 0; i < 4; i++) p[i] = &g->values[bn->in[i + 1]].c;
        float *nw = malloc((size_t)fc_tensor_count(w) * sizeof(float) + 64);
        float *nb = malloc((size_t)cout * sizeof(float) + 64);
        if (!nw || !nb) { free(nw); free(nb); return fc_fail(err, FC_ENOMEM, "out of memory"); }
        const float *gamma = p[0]->data, *beta = p[1]->data, *mean = p[2]->data, *var = p[3]->data;
        for (int64_t co = 0; co < cout; co++) {
            float s = gamma[co] / sqrtf(var[co] + eps);
            for (int64_t j = 0; j < per; j++) nw[co * per + j] = ((const float *)w->data)[co * per + j] * s;
            float b0 = b ? ((const float *)b->data)[co] : 0.f;
            nb[co] = (b0 - mean[co]) * s + beta[co];
        }
        fc_value *wval = &g->values[wv], *bval = &g->values[bv];
        wval->c = *w;
        wval->c.data = nw;
        bval->dtype = FC_F32;
        bval->c.dtype = FC_F32;
        bval->c.rank = 1;
        bval->c.dims[0] = cout;
        bval->c.data = nb;
        if (conv->n_in < 3) {
            int *in = realloc(conv->in, 4 * sizeof(int));
            if (!in) return fc_fail(err, FC_ENOMEM, "out of memory");
            conv->in = in;
            conv->n_in = 3;
        }
        conv->in[1] = wv;
        conv->in[2] = bv;
        absorb(g, ci, d);
    }
    return 0;
}

/* Reads an activation node into act; 0 if it is one we fuse with constant parameters. */
static int as_activation(const fc_graph *g, const fc_node *n, fc_act *act) {
    memset(act, 0, sizeof *act);
    const char *t = n->op_type;
    if (!strcmp(t, "Relu")) act->kind = FC_ACT_RELU;
    else if (!strcmp(t, "LeakyRelu")) { act->kind = FC_ACT_LEAKY; act->a = fc_attr_float(n, "alpha", 0.01f); }
    else if (!strcmp(t, "Sigmoid")) act->kind = FC_ACT_SIGMOID;
    else if (!strcmp(t, "HardSigmoid")) {
        act->kind = FC_ACT_HARDSIGMOID;
        act->a = fc_attr_float(n, "alpha", 0.2f);
        act->b = fc_attr_float(n, "beta", 0.5f);
    } else if (!strcmp(t, "HardSwish")) act->kind = FC_ACT_HARDSWISH;
    else if (!strcmp(t, "Clip")) {
        act->kind = FC_ACT_CLIP;
        act->a = fc_attr_float(n, "min", -INFINITY);
        act->b = fc_attr_float(n, "max", INFINITY);
        for (int k = 1; k < n->n_in && k < 3; k++) {
            if (n->in[k] < 0) continue;
            const fc_tensor *c = &g->values[n->in[k]].c;
            if (!c->data || c->dtype != FC_F32 || fc_tensor_count(c) != 1) return -1;
            if (k == 1) act->a = *(const float *)c->data; else act->b = *(const float *)c->data;
        }
    } else return -1;
    return 0;
}

static int takes_epilogue(const fc_node *n) {
    return !strcmp(n->op_type, "Conv") || !strcmp(n->op_type, "Gemm");
}

int fc_opt_fuse_epilogues(fc_graph *g, fc_error *err) {
    for (int oi = 0; oi < g->n_order; oi++) {
        int ci = g->order[oi];
        fc_node *c = &g->nodes[ci];
        if (c->dead || !takes_epilogue(c) || fc_fused_act(c).kind != FC_ACT_NONE) continue;
        int v = c->out[0];
        /* x * sigmoid(x) (SiLU) or x * hardsigmoid(x) with alpha 1/6, beta 1/2 (HardSwish, as
         * PyTorch exports it): the conv output feeds the gate and the Mul that uses it. */
        if (g->values[v].n_uses == 2 && !is_requested(g, v)) {
            int sig = -1, mul = -1, kind = FC_ACT_SILU;
            for (int i = 0; i < g->n_nodes; i++) {
                const fc_node *n = &g->nodes[i];
                if (n->dead || n->in[0] != v) continue;
                if (!strcmp(n->op_type, "Sigmoid")) sig = i, kind = FC_ACT_SILU;
                if (!strcmp(n->op_type, "HardSigmoid") && fc_attr_float(n, "alpha", 0.2f) == 1.0f / 6.0f &&
                    fc_attr_float(n, "beta", 0.5f) == 0.5f)
                    sig = i, kind = FC_ACT_HARDSWISH;
            }
            if (sig >= 0) {
                int s_out = g->nodes[sig].out[0];
                int m = sole_consumer(g, s_out);
                if (m >= 0 && !strcmp(g->nodes[m].op_type, "Mul") && g->nodes[m].n_in == 2 &&
                    ((g->nodes[m].in[0] == v && g->nodes[m].in[1] == s_out) ||
                     (g->nodes[m].in[1] == v && g->nodes[m].in[0] == s_out)))
                    mul = m;
            }
            if (mul >= 0) {
                if (set_act(c, (fc_act){.kind = kind}, err)) return FC_ENOMEM;
                g->nodes[sig].dead = 1;
                g->values[g->nodes[sig].out[0]].n_uses = 0;
                g->values[v].n_uses = 1;
                absorb(g, ci, mul);
                continue;
            }
        }
        int d = sole_consumer(g, v);
        if (d < 0) continue;
        fc_node *dn = &g->nodes[d];
        fc_act act;
        if (as_activation(g, dn, &act) == 0 && dn->in[0] == v) {
            if (set_act(c, act, err)) return FC_ENOMEM;
            absorb(g, ci, d);
            continue;
        }
        /* Residual: Conv -> Add(other) [-> activation]. The other operand must have the conv output's
         * shape; plan.c checks that and refuses a mismatch. */
        if (!strcmp(c->op_type, "Conv") && !strcmp(dn->op_type, "Add") && dn->n_in == 2) {
            int other = dn->in[0] == v ? dn->in[1] : dn->in[0];
            if (other < 0 || other == v || g->values[other].c.data) continue;
            if (add_residual(c, other, err)) return FC_ENOMEM;
            absorb(g, ci, d);
            c = &g->nodes[ci];
            int a = sole_consumer(g, c->out[0]);
            if (a >= 0 && as_activation(g, &g->nodes[a], &act) == 0 &&
                g->nodes[a].in[0] == c->out[0]) {
                if (set_act(c, act, err)) return FC_ENOMEM;
                absorb(g, ci, a);
            }
        }
    }
    return 0;
}

/* Conv node i (not already a block) with constant 4-D weights and (unless allowed) no fused
 * residual. */
static const fc_tensor *plain_conv_weights(const fc_graph *g, int i, int residual_ok) {
    const fc_node *n = &g->nodes[i];
    if (n->dead || n->op != &fc_op_conv || n->n_in < 2 || n->in[1] < 0 ||
        (fc_fused_residual(n) >= 0 && !residual_ok))
        return NULL;
    const fc_tensor *w = &g->values[n->in[1]].c;
    return w->data && w->rank == 4 ? w : NULL;
}

/* 1x1, stride 1, no padding, one group: the output pixel (y, x) reads only input pixel (y, x). */
static int is_pointwise(const fc_graph *g, int i, int residual_ok) {
    const fc_tensor *w = plain_conv_weights(g, i, residual_ok);
    if (!w || w->dims[2] != 1 || w->dims[3] != 1 || fc_attr_int(&g->nodes[i], "group", 1) != 1) return 0;
    const fc_node *n = &g->nodes[i];
    int64_t v[8];
    int k = fc_attr_ints(n, "strides", v, 8);
    for (int j = 0; j < k; j++)
        if (v[j] != 1) return 0;
    k = fc_attr_ints(n, "pads", v, 8);
    for (int j = 0; j < k; j++)
        if (v[j] != 0) return 0;
    const char *ap = fc_attr_string(n, "auto_pad", "NOTSET");
    return !strcmp(ap, "NOTSET") || !strcmp(ap, "VALID");
}

/* One group, any kernel, stride and padding (a 1x1 expansion, or a stem convolution). */
static int is_dense(const fc_graph *g, int i) {
    return plain_conv_weights(g, i, 0) && fc_attr_int(&g->nodes[i], "group", 1) == 1;
}

static int is_depthwise(const fc_graph *g, int i) {
    const fc_tensor *w = plain_conv_weights(g, i, 0);
    int64_t group = w ? fc_attr_int(&g->nodes[i], "group", 1) : 0;
    return w && group > 1 && w->dims[1] == 1 && w->dims[0] == group;
}

/* The one-group Conv whose output only depthwise node d reads (d's expansion), or -1. */
static int expansion_of(const fc_graph *g, int d) {
    int v_in = g->nodes[d].in[0], e = g->values[v_in].producer;
    return e >= 0 && is_dense(g, e) && sole_consumer(g, v_in) == d ? e : -1;
}

/* The one-group Conv whose output depthwise node d and, as its fused residual, d's projection p read
 * and nothing else (a stem before a block with a shortcut around it), or -1. */
static int expansion_as_residual(const fc_graph *g, int d, int p) {
    int v_in = g->nodes[d].in[0], e = g->values[v_in].producer, r = fc_fused_residual(&g->nodes[p]);
    if (e < 0 || !is_dense(g, e) || r < 0 || g->nodes[p].in[r] != v_in || g->values[v_in].n_uses != 2 ||
        is_requested(g, v_in))
        return -1;
    return e;
}

/* Node b becomes a depthwise block that also computes Conv nodes expand and depthwise (-1: none,
 * or b itself). */
static int make_block(fc_node *b, int expand, int depthwise, fc_error *err) {
    fc_fusion *f = fusion_of(b);
    if (!f) return fc_fail(err, FC_ENOMEM, "out of memory");
    f->expand = expand;
    f->depthwise = depthwise;
    b->op = &fc_op_dw_block;
    return 0;
}

int fc_opt_fuse_dw_blocks(fc_graph *g, fc_error *err) {
    for (int oi = 0; oi < g->n_order; oi++) {
        int d = g->order[oi];
        if (!is_depthwise(g, d)) continue;
        int p = sole_consumer(g, g->nodes[d].out[0]);
        if (p < 0 || !is_pointwise(g, p, 1) || g->nodes[p].in[0] != g->nodes[d].out[0]) continue;
        int v_in = g->nodes[d].in[0], e = expansion_of(g, d), res_e = e < 0 ? expansion_as_residual(g, d, p) : -1;
        if (res_e >= 0) e = res_e;
        fc_node *pn = &g->nodes[p];
        if (make_block(pn, e, d, err)) return FC_ENOMEM;
        if (res_e >= 0) { /* the residual is the expansion's output: computed inside, never written */
            pn->in[pn->fusion->residual] = -1;
            pn->fusion->residual = -1;
            pn->fusion->residual_expanded = 1;
        }
        pn->in[0] = e >= 0 ? g->nodes[e].in[0] : v_in; /* the block's input keeps its use count */
        g->nodes[d].dead = 1;
        g->values[g->nodes[d].out[0]].n_uses = 0;
        if (e >= 0) {
            g->nodes[e].dead = 1;
            g->values[v_in].n_uses = 0;
        }
    }
    /* depthwise Convs whose output has other uses too (squeeze-and-excitation) still take over
     * their expansion */
    for (int oi = 0; oi < g->n_order; oi++) {
        int d = g->order[oi];
        if (!is_depthwise(g, d)) continue;
        int v_in = g->nodes[d].in[0], e = expansion_of(g, d);
        if (e < 0) continue;
        if (make_block(&g->nodes[d], e, -1, err)) return FC_ENOMEM;
        g->nodes[d].in[0] = g->nodes[e].in[0];
        g->nodes[e].dead = 1;
        g->values[v_in].n_uses = 0;
    }
    return 0;
}

/* Node n's attribute name emptied (its old value freed) or appended empty; NULL on ENOMEM. */
static fc_attr *attr_slot(fc_node *n, const char *name, fc_error *err) {
    fc_attr *a = (fc_attr *)fc_node_attr(n, name);
    if (a) {
        free(a->ints);
        free(a->floats);
        free(a->s);
        char *keep = a->name;
        memset(a, 0, sizeof *a);
        a->name = keep;
        return a;
    }
    fc_attr *at = realloc(n->attr, (size_t)(n->n_attr + 1) * sizeof *at);
    if (at) n->attr = at;
    char *nm = at ? strdup(name) : NULL;
    if (!nm) { fc_fail(err, FC_ENOMEM, "out of memory"); return NULL; }
    a = memset(&at[n->n_attr++], 0, sizeof *a);
    a->name = nm;
    return a;
}

static int set_attr_ints(fc_node *n, const char *name, const int64_t *v, int k, fc_error *err) {
    int64_t *ints = malloc((size_t)k * sizeof *ints);
    fc_attr *a = ints ? attr_slot(n, name, err) : NULL;
    if (!a) { free(ints); return fc_fail(err, FC_ENOMEM, "out of memory"); }
    memcpy(ints, v, (size_t)k * sizeof *ints);
    a->type = FC_ATTR_INTS;
    a->ints = ints;
    a->n = k;
    return 0;
}

static int set_attr_int(fc_node *n, const char *name, int64_t v, fc_error *err) {
    fc_attr *a = attr_slot(n, name, err);
    if (!a) return FC_ENOMEM;
    a->type = FC_ATTR_INT;
    a->i = v;
    return 0;
}

/* The spatial pads [top, left, bottom, right] of Pad node p if it zero-pads only H and W of a 4-D
 * tensor by constant, non-negative amounts; else -1. */
static int zero_spatial_pads(const fc_graph *g, const fc_node *p, int64_t *hw) {
    if (strcmp(p->op_type, "Pad") || strcmp(fc_attr_string(p, "mode", "constant"), "constant")) return -1;
    int64_t pads[8];
    float value = fc_attr_float(p, "value", 0.f);
    int np;
    if (p->n_in >= 2 && p->in[1] >= 0) {
        const fc_tensor *t = &g->values[p->in[1]].c;
        if (!t->data || t->dtype != FC_I64 || fc_tensor_count(t) != 8 || (p->n_in >= 4 && p->in[3] >= 0)) return -1;
        np = fc_op_const_ints(t, pads, 8);
        if (p->n_in >= 3 && p->in[2] >= 0) {
            const fc_tensor *c = &g->values[p->in[2]].c;
            if (!c->data || c->dtype != FC_F32 || fc_tensor_count(c) != 1) return -1;
            value = *(const float *)c->data;
        }
    } else {
        np = fc_attr_ints(p, "pads", pads, 8);
    }
    /* ONNX order: begins of N, C, H, W, then ends */
    if (np != 8 || value != 0.f || pads[0] || pads[1] || pads[4] || pads[5]) return -1;
    hw[0] = pads[2], hw[1] = pads[3], hw[2] = pads[6], hw[3] = pads[7];
    for (int i = 0; i < 4; i++)
        if (hw[i] < 0 || hw[i] > 65536) return -1;
    return 0;
}

/* An AveragePool without padding of its own, floor mode: taking over a zero Pad before it is then
 * exactly its pads with count_include_pad (the padded zeros count in every window). */
static int takes_zero_pads(const fc_node *n) {
    int64_t v[8];
    int k = fc_attr_ints(n, "pads", v, 8);
    for (int i = 0; i < k; i++)
        if (v[i]) return 0;
    return !strcmp(n->op_type, "AveragePool") && fc_attr_int(n, "ceil_mode", 0) == 0 &&
           !strcmp(fc_attr_string(n, "auto_pad", "NOTSET"), "NOTSET");
}

int fc_opt_fuse_pads(fc_graph *g, fc_error *err) {
    for (int oi = 0; oi < g->n_order; oi++) {
        int pi = g->order[oi];
        fc_node *p = &g->nodes[pi];
        int64_t hw[4];
        if (p->dead || zero_spatial_pads(g, p, hw)) continue;
        int a = sole_consumer(g, p->out[0]);
        if (a < 0 || g->nodes[a].in[0] != p->out[0] || !takes_zero_pads(&g->nodes[a])) continue;
        fc_node *an = &g->nodes[a];
        if (set_attr_ints(an, "pads", hw, 4, err) || set_attr_int(an, "count_include_pad", 1, err))
            return FC_ENOMEM;
        bypass(g, p, an, p->in[0]);
    }
    return 0;
}

/* v is the gate of a squeeze-and-excitation, so (N, C, 1, 1): a 1x1 Conv with a Sigmoid or
 * HardSigmoid epilogue on a 1x1 Conv on a GlobalAveragePool. */
static int is_se_gate(const fc_graph *g, int v) {
    int c2 = g->values[v].producer;
    if (c2 < 0 || !is_pointwise(g, c2, 0)) return 0;
    int kind = fc_fused_act(&g->nodes[c2]).kind;
    if (kind != FC_ACT_SIGMOID && kind != FC_ACT_HARDSIGMOID) return 0;
    int c1 = g->values[g->nodes[c2].in[0]].producer;
    if (c1 < 0 || !is_pointwise(g, c1, 0)) return 0;
    int pool = g->values[g->nodes[c1].in[0]].producer;
    return pool >= 0 && !g->nodes[pool].dead && !strcmp(g->nodes[pool].op_type, "GlobalAveragePool");
}

int fc_opt_fuse_se_scale(fc_graph *g, fc_error *err) {
    for (int oi = 0; oi < g->n_order; oi++) {
        int mi = g->order[oi];
        fc_node *m = &g->nodes[mi];
        if (m->dead || strcmp(m->op_type, "Mul") || m->n_in != 2 || m->in[0] < 0 || m->in[1] < 0) continue;
        int gate = is_se_gate(g, m->in[1]) ? 1 : is_se_gate(g, m->in[0]) ? 0 : -1;
        if (gate < 0) continue;
        int x = m->in[1 - gate], s = m->in[gate];
        int c = sole_consumer(g, m->out[0]);
        if (x == s || g->values[x].c.data || c < 0 || !is_pointwise(g, c, 1) || g->nodes[c].in[0] != m->out[0] ||
            g->values[g->nodes[c].in[1]].c.dtype != FC_F32)
            continue;
        fc_node *cn = &g->nodes[c];
        int slot = append_input(cn, s, err);
        if (slot < 0) return FC_ENOMEM;
        cn->fusion->scale = slot;
        cn->op = &fc_op_conv_scaled;
        bypass(g, m, cn, x);
    }
    return 0;
}

/* The live GlobalAveragePool reading value v, or -1. */
static int global_pool_of(const fc_graph *g, int v) {
    for (int i = 0; i < g->n_nodes; i++) {
        const fc_node *n = &g->nodes[i];
        if (!n->dead && n->op == &fc_op_globalaveragepool && n->n_in == 1 && n->in[0] == v && n->n_out == 1)
            return i;
    }
    return -1;
}

int fc_opt_fuse_block_pools(fc_graph *g, fc_error *err) {
    for (int oi = 0; oi < g->n_order; oi++) {
        int bi = g->order[oi];
        fc_node *b = &g->nodes[bi];
        if (b->dead || b->op != &fc_op_dw_block || b->fusion->depthwise >= 0 || b->n_out != 1) continue;
        int v = b->out[0], p = global_pool_of(g, v);
        /* a requested pool output stays a step's own (first) output, as fc_session_step_info says */
        if (p < 0 || is_requested(g, g->nodes[p].out[0])) continue;
        int *out = realloc(b->out, 2 * sizeof *out);
        if (!out) return fc_fail(err, FC_ENOMEM, "out of memory");
        b->out = out;
        b->out[1] = g->nodes[p].out[0];
        b->n_out = 2;
        b->fusion->pooled = 1;
        g->values[b->out[1]].producer = bi;
        g->values[v].n_uses--;
        g->nodes[p].dead = 1;
    }
    return 0;
}

/* Live inference BatchNormalization node i with constant f32 parameters of c values each. */
static int is_constant_bn(const fc_graph *g, int i, int64_t c) {
    const fc_node *n = &g->nodes[i];
    return !n->dead && n->op == &fc_op_batchnorm && n->n_out == 1 && n->in[0] >= 0 && bn_params(g, n, c, NULL);
}

int fc_opt_fuse_pre_norms(fc_graph *g, fc_error *err) {
    for (int oi = 0; oi < g->n_order; oi++) {
        int ci = g->order[oi];
        if (!is_pointwise(g, ci, 1) || g->nodes[ci].in[0] < 0) continue;
        int64_t cin = g->values[g->nodes[ci].in[1]].c.dims[1];
        int v = g->nodes[ci].in[0], relu = g->values[v].producer, bn = relu;
        if (relu >= 0 && !g->nodes[relu].dead && g->nodes[relu].op == &fc_op_relu && g->nodes[relu].n_in == 1 &&
            sole_consumer(g, v) == ci)
            bn = g->values[g->nodes[relu].in[0]].producer;
        else
            relu = -1;
        int bn_out = relu >= 0 ? g->nodes[relu].in[0] : v;
        if (bn < 0 || !is_constant_bn(g, bn, cin) || sole_consumer(g, bn_out) != (relu >= 0 ? relu : ci)) continue;
        fc_node *c = &g->nodes[ci], *b = &g->nodes[bn];
        int first = -1;
        for (int k = 1; k < 5; k++) {
            int slot = append_input(c, b->in[k], err);
            if (slot < 0) return FC_ENOMEM;
            if (k == 1) first = slot;
        }
        c->fusion->pre_bn = first;
        c->fusion->pre_relu = relu >= 0;
        c->fusion->pre_eps = fc_attr_float(b, "epsilon", 1e-5f); /* as bn_run reads it */
        if (relu >= 0) {
            g->values[v].n_uses = 0;
            g->values[v].producer = -1;
            g->nodes[relu].dead = 1;
        }
        bypass(g, b, c, b->in[0]);
    }
    return 0;
}
