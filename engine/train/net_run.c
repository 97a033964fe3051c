/* Forward and backward of one net op: the training op of its kind on the slots' buffers. In the
 * backward, the first op that writes an input's gradient (in backward order) writes it in place; a
 * later one writes the accumulation buffer and adds it (a tensor read by several ops: a residual's
 * input, a squeeze-and-excitation map), always in the same order, so results stay bitwise
 * reproducible. Not here: the op list and memory (net.c), mapping nodes (net_map.c). */
#include <string.h>

#include "engine/train/internal.h"
#include "engine/train/net_internal.h"

static float *data(const fc_train_net *net, int s) { return net->slots[s].data; }
static float *value(const fc_train_net *net, int p) { return p >= 0 ? net->values + net->params[p].offset : NULL; }
static float *grad(const fc_train_net *net, int p) { return p >= 0 ? net->grads + net->params[p].offset : NULL; }

/* ---- forward ---- */

static int forward(fc_train_net *net, net_op *op, int n, fc_error *err) {
    fc_train_ws *ws = &net->ws;
    const float *x = data(net, op->in[0]);
    float *y = data(net, op->out);
    size_t count = (size_t)n * net->slots[op->out].per;
    int HW = op->H * op->W;
    switch (op->kind) {
    case NET_CONV:
        return fc_conv2d_forward(ws, y, x, value(net, op->w), value(net, op->b), n, op->H, op->W,
                                 &op->cv, err);
    case NET_LINEAR:
        return fc_linear_forward(ws, y, x, value(net, op->w), value(net, op->b), n, op->C, op->OC, err);
    case NET_ADD: return fc_add_forward(ws, y, x, data(net, op->in[1]), count, err);
    case NET_MUL: fc_train_mul_same(ws, y, x, data(net, op->in[1]), count); return 0;
    case NET_MULC:
        return fc_mulc_forward(ws, y, data(net, op->in[op->map]), data(net, op->in[1 - op->map]), n,
                               op->C, HW, err);
    case NET_ACT: return fc_act_forward(ws, y, x, count, &op->act, err);
    case NET_SOFTMAX: return fc_softmax_forward(ws, y, x, n, op->C, err);
    case NET_GAP: return fc_gap_forward(ws, y, x, n, op->C, HW, err);
    case NET_AVGPOOL:
        return fc_avgpool_forward(ws, y, x, n, op->C, op->H, op->W, &op->win, op->count_include_pad, err);
    case NET_MAXPOOL: return fc_maxpool_forward(ws, y, x, n, op->C, op->H, op->W, &op->win, err);
    case NET_CONCAT:
        for (int k = 0; k < op->n_in; k++) op->srcs[k] = data(net, op->in[k]);
        return fc_concat_forward(ws, y, op->srcs, op->cs, op->n_in, n, HW, err);
    case NET_BN:
        if (op->bn_train && net->training) /* batch statistics saved for the backward */
            return fc_batchnorm_forward(ws, y, op->saved, op->saved + op->C, op->stats, op->stats + op->C, x,
                                        value(net, op->w), value(net, op->b), n, op->C, HW, op->eps,
                                        op->momentum, err);
        return fc_batchnorm_eval_forward(ws, y, x, value(net, op->w), value(net, op->b), op->stats,
                                         op->stats + op->C, n, op->C, HW, op->eps, err);
    }
    return fc_fail(err, FC_EINTERNAL, "unknown net op %d", op->kind);
}

int fc_train_net_op_forward(fc_train_net *net, net_op *op, int n, fc_error *err) {
    int rc = forward(net, op, n, err);
    if (rc) fc_error_prefix(err, "node '%s' (%s): ", op->name, op->type);
    return rc;
}

/* ---- backward ---- */

/* Where the gradient of slot s goes: its buffer on the first write of this backward, else the
 * accumulation buffer (grad_end adds it); NULL when s needs no gradient (the cut without dinput). */
static float *grad_begin(fc_train_net *net, int s) {
    float *g = net->slots[s].grad;
    return !g ? NULL : net->slots[s].written ? net->tmp : g;
}

static int grad_end(fc_train_net *net, int s, float *t, int n, fc_error *err) {
    net_slot *sl = &net->slots[s];
    if (!t) return 0;
    sl->written = 1;
    return t == sl->grad ? 0 : fc_add_forward(&net->ws, sl->grad, sl->grad, t, (size_t)n * sl->per, err);
}

/* d(slot s) += src (copied on the first write). */
static int grad_add(fc_train_net *net, int s, const float *src, int n, fc_error *err) {
    net_slot *sl = &net->slots[s];
    if (!sl->grad) return 0;
    size_t count = (size_t)n * sl->per;
    if (sl->written) return fc_add_forward(&net->ws, sl->grad, sl->grad, src, count, err);
    memcpy(sl->grad, src, count * sizeof(float));
    sl->written = 1;
    return 0;
}

/* Ops of several computed inputs: one gradient at a time, so that one accumulation buffer does. */
static int backward_multi(fc_train_net *net, net_op *op, int n, const float *dout, fc_error *err) {
    fc_train_ws *ws = &net->ws;
    size_t count = (size_t)n * net->slots[op->out].per;
    int HW = op->H * op->W, rc = 0;
    for (int k = 0; k < op->n_in && !rc; k++) {
        if (op->kind == NET_ADD) {
            rc = grad_add(net, op->in[k], dout, n, err);
            continue;
        }
        float *t = grad_begin(net, op->in[k]);
        if (!t) continue;
        if (op->kind == NET_MUL) {
            fc_train_mul_same(ws, t, dout, data(net, op->in[1 - k]), count);
        } else if (op->kind == NET_MULC) {
            const float *m = data(net, op->in[op->map]), *s = data(net, op->in[1 - op->map]);
            rc = k == op->map ? fc_mulc_backward(ws, t, NULL, dout, m, s, n, op->C, HW, err)
                              : fc_mulc_backward(ws, NULL, t, dout, m, s, n, op->C, HW, err);
        } else { /* NET_CONCAT */
            for (int j = 0; j < op->n_in; j++) op->dsts[j] = j == k ? t : NULL;
            rc = fc_concat_backward(ws, op->dsts, dout, op->cs, op->n_in, n, HW, err);
        }
        if (!rc) rc = grad_end(net, op->in[k], t, n, err);
    }
    return rc;
}

static int backward(fc_train_net *net, net_op *op, int n, const float *dout, fc_error *err) {
    fc_train_ws *ws = &net->ws;
    if (op->kind == NET_ADD || op->kind == NET_MUL || op->kind == NET_MULC || op->kind == NET_CONCAT)
        return backward_multi(net, op, n, dout, err);
    const float *x = data(net, op->in[0]);
    float *dx = grad_begin(net, op->in[0]);
    size_t count = (size_t)n * net->slots[op->out].per;
    int HW = op->H * op->W, rc;
    switch (op->kind) {
    case NET_CONV:
        if (op->act.kind != FC_ACT_NONE && !op->act_gated) { /* a fused activation: dout (a slot's,
                                                                net_fuse.c) masked in place */
            float *d = (float *)dout;
            if ((rc = fc_act_backward(ws, d, d, data(net, op->out), count, &op->act, err))) break;
        }
        rc = fc_conv2d_backward(ws, dx, grad(net, op->w), grad(net, op->b), dout, x, value(net, op->w),
                                n, op->H, op->W, &op->cv, err);
        break;
    case NET_LINEAR:
        rc = fc_linear_backward(ws, dx, grad(net, op->w), grad(net, op->b), dout, x, value(net, op->w),
                                n, op->C, op->OC, err);
        break;
    case NET_BN:
        if (op->bn_train && net->fwd_training)
            rc = fc_batchnorm_backward(ws, dx, grad(net, op->w), grad(net, op->b), dout, x, op->saved,
                                       op->saved + op->C, value(net, op->w), n, op->C, HW, err);
        else
            rc = fc_batchnorm_eval_backward(ws, dx, grad(net, op->w), grad(net, op->b), dout, x,
                                            value(net, op->w), op->stats, op->stats + op->C, n, op->C, HW,
                                            op->eps, err);
        break;
    default: /* ops without parameters: nothing to do without an input gradient */
        if (!dx) return 0;
        if (op->kind == NET_ACT) rc = fc_act_backward(ws, dx, dout, x, count, &op->act, err);
        else if (op->kind == NET_SOFTMAX) rc = fc_softmax_backward(ws, dx, dout, data(net, op->out), n, op->C, err);
        else if (op->kind == NET_GAP) /* op->act: the Relu/Clip fused before it (net_fuse.c) */
            rc = fc_gap_backward_gated(ws, dx, dout, x, op->act.kind ? &op->act : NULL, n, op->C, HW, err);
        else if (op->kind == NET_AVGPOOL)
            rc = fc_avgpool_backward(ws, dx, dout, n, op->C, op->H, op->W, &op->win,
                                     op->count_include_pad, err);
        else if (op->kind == NET_MAXPOOL)
            rc = fc_maxpool_backward(ws, dx, dout, x, n, op->C, op->H, op->W, &op->win, err);
        else rc = fc_fail(err, FC_EINTERNAL, "unknown net op %d", op->kind);
    }
    return rc ? rc : grad_end(net, op->in[0], dx, n, err);
}

int fc_train_net_op_backward(fc_train_net *net, net_op *op, int n, const float *dout,
                             fc_error *err) {
    int rc = backward(net, op, n, dout, err);
    if (rc) fc_error_prefix(err, "node '%s' (%s): ", op->name, op->type);
    return rc;
}
