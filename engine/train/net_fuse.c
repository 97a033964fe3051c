/* Relu and Clip fused into the convolution before them: the convolution's forward applies the
 * clamp in its output epilogue (fc_conv2d.act: the same bits as the activation op), so the pair
 * writes and reads one tensor instead of two, and its backward first masks the output gradient in
 * place with the activation's derivative taken at the output (for Relu and Clip the output decides
 * it as the input does, NaNs aside), unless the convolution reading its output alone has done so
 * already. A pair fuses when the convolution (without a fused activation yet) has its output read by
 * the activation alone and neither tensor is the cut or the feature (the feature's gradient is the
 * caller's, not to be written).
 * Not here: the ops (conv2d.c, act.c), running them (net_run.c). */
#include <stdlib.h>
#include <string.h>

#include "engine/train/net_internal.h"

/* The op writing slot s, or -1. */
static int producer(const fc_train_net *net, int s) {
    for (int i = 0; i < net->n_ops; i++)
        if (net->ops[i].out == s) return i;
    return -1;
}

static int readers(const fc_train_net *net, int s) {
    int r = 0;
    for (int i = 0; i < net->n_ops; i++)
        for (int k = 0; k < net->ops[i].n_in; k++) r += net->ops[i].in[k] == s;
    return r;
}

/* The convolution or GlobalAveragePool reading a fused convolution's output alone takes the
 * activation's derivative into its own dinp (fc_conv2d.in_act, fc_gap_backward_gated: the gradient
 * leaves it already masked, on its way out of the product, the depthwise kernel or the broadcast),
 * and the fused one skips its mask. */
static void gate_readers(fc_train_net *net) {
    for (int p = 0; p < net->n_ops; p++) {
        net_op *c = &net->ops[p];
        if (c->kind != NET_CONV || c->act.kind == FC_ACT_NONE || readers(net, c->out) != 1) continue;
        for (int j = 0; j < net->n_ops; j++) {
            net_op *r = &net->ops[j];
            if (r->in[0] != c->out || (r->kind != NET_CONV && r->kind != NET_GAP)) continue;
            if (r->kind == NET_CONV) r->cv.in_act = c->act;
            else r->act = c->act;
            c->act_gated = 1;
        }
    }
}

void fc_train_net_fuse(fc_train_net *net) {
    for (int j = 0; j < net->n_ops; j++) {
        net_op *a = &net->ops[j];
        int s = a->in[0], p = a->kind == NET_ACT ? producer(net, s) : -1;
        if (p < 0 || net->ops[p].kind != NET_CONV || net->ops[p].act.kind != FC_ACT_NONE ||
            (a->act.kind != FC_ACT_RELU && a->act.kind != FC_ACT_CLIP) ||
            readers(net, s) != 1 || s == 0 || s == net->feature || a->out == net->feature)
            continue;
        net_op *c = &net->ops[p];
        c->act = c->cv.act = a->act;
        c->out = a->out;
        net->slots[s].per = 0; /* written by nothing now: no storage */
        fc_train_net_op_free(a);
        memmove(a, a + 1, (size_t)(net->n_ops - j - 1) * sizeof *a);
        net->n_ops--;
        j--;
    }
    gate_readers(net);
}
