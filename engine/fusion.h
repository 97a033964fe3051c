/* What the load-time rewrites (graph_opt.c) fused into a node: the epilogue it applies after its
 * own computation (an activation, a residual Add) and, for a depthwise block, the Conv nodes it
 * computes together with its own. graph_opt.c is the only writer (it allocates fc_node.fusion the
 * first time it fuses something into a node; fc_graph_free frees it). Readers: the ops that take an
 * epilogue (conv.c, conv_block.c, conv_scaled.c, gemm.c) or a pool (conv_block.c); plan.c for the residual's shape check and the block
 * size in profiles. Not here: the rewrites (graph_opt.c), how a block runs (ops/conv_block.c). */
#ifndef FC_FUSION_H
#define FC_FUSION_H

#include "engine/graph.h"
#include "engine/kernels/kernels.h"

typedef struct fc_fusion {
    /* epilogue: y = act(op(x) + in[residual]) */
    fc_act act;        /* FC_ACT_NONE when only a residual was fused */
    int residual;      /* index into fc_node.in of the value added before act, or -1. A Conv's
                          residual comes after X, W and B (B then -1 when the Conv has none) */
    /* depthwise block (the node's op is then fc_op_dw_block; graph_opt.h): the nodes, dead in the
     * graph, that the block computes before its own Conv, and whose input in[0] now is: */
    int expand;        /* the one-group Conv feeding the depthwise, or -1 */
    int depthwise;     /* the depthwise Conv feeding this 1x1 projection, or -1 when this node is the
                          depthwise itself (its output has other uses, so only the expansion joins) */
    int residual_expanded; /* 1: the projection adds the expansion's output (the block's own
                          intermediate, the depthwise's input: MobileNetV3's first block adds its
                          stem's output), which is then never written; residual is -1 */
    int pooled;        /* such a depthwise-only block: 1 when it also has out[1] = the
                          GlobalAveragePool of its out[0], summed as its bands are written (a
                          squeeze-and-excitation's pool); else 0 */
    /* channel-scaled 1x1 Conv (op fc_op_conv_scaled, ops/conv_scaled.c): index into fc_node.in of
     * the (N, C, 1, 1) scale of a squeeze-and-excitation whose Mul it absorbed, or -1 */
    int scale;
    /* pre-normalized 1x1 Conv (fc_opt_fuse_pre_norms): index into fc_node.in of the first of the
     * four constants scale, B, mean, var of an inference BatchNormalization whose output (through a
     * Relu when pre_relu) was the Conv's input, or -1; pre_eps its epsilon. The Conv reads the
     * BatchNormalization's input and applies y = x * s + t [then ReLU] as it packs its columns
     * (DenseNet's norm -> relu -> conv). */
    int pre_bn, pre_relu;
    float pre_eps;
} fc_fusion;

/* The activation fused into n (FC_ACT_NONE when none). */
static inline fc_act fc_fused_act(const fc_node *n) {
    return n->fusion ? n->fusion->act : (fc_act){.kind = FC_ACT_NONE};
}

/* Index into n->in of the fused residual, or -1. */
static inline int fc_fused_residual(const fc_node *n) {
    return n->fusion ? n->fusion->residual : -1;
}

/* Other Conv nodes n computes too: 1 or 2 for a depthwise block, else 0. */
static inline int fc_fused_convs(const fc_node *n) {
    return n->fusion ? (n->fusion->expand >= 0) + (n->fusion->depthwise >= 0) : 0;
}

#endif
