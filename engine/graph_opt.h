/* Load-time graph rewrites: constant folding of weight-side computations, BatchNormalization folded
 * into the preceding Conv, activations (Relu, Clip, LeakyRelu, HardSigmoid, HardSwish, Sigmoid,
 * x*sigmoid(x), x*hardsigmoid(x)) and residual Add fused into Conv/Gemm epilogues, depthwise blocks
 * computed as one node, zero Pads taken over by the AveragePool they feed, squeeze-and-excitation
 * scales taken over by the 1x1 Conv after them. What a node took over is recorded in its fc_fusion
 * (fusion.h) or, for a Pad, in the pool's attributes. Requested outputs are never fused away. The
 * graph must be finalized (n_uses valid) before each pass; passes mark nodes dead and the caller
 * finalizes again. Not here: shape inference (plan.c), weight packing (ops' prepare). */
#ifndef FC_GRAPH_OPT_H
#define FC_GRAPH_OPT_H

#include "core/core.h"
#include "engine/graph.h"
#include "engine/kernels/kernels.h"

/* Evaluates nodes whose inputs are all constants (and that are foldable) once. */
int fc_opt_fold_constants(fc_graph *g, const fc_kernels *k, fc_error *err);
/* BatchNormalization -> Conv weights/bias. */
int fc_opt_fold_batchnorm(fc_graph *g, fc_error *err);
/* Activation and residual-Add fusion into Conv/Gemm epilogues (fc_fusion.act; a Conv's residual
 * operand becomes an input, fc_fusion.residual). */
int fc_opt_fuse_epilogues(fc_graph *g, fc_error *err);
/* Depthwise blocks (MobileNet's [1x1 expansion ->] depthwise -> 1x1 projection, after epilogue
 * fusion; the expansion may be any one-group Conv, such as the stem before the first depthwise):
 * the projection Conv takes over its producers (fc_fusion.depthwise / expand) and becomes an
 * fc_op_dw_block node (op_type stays "Conv") that computes the chain band by band, so the wide
 * intermediate tensors stay in cache (ops/conv_block.c); a depthwise Conv whose output has other
 * uses (squeeze-and-excitation) takes over its expansion alone. Only intermediates that have no
 * other use and are not requested outputs. */
int fc_opt_fuse_dw_blocks(fc_graph *g, fc_error *err);
/* A Pad by zeros of H and W only (constant pads) whose sole consumer is an unpadded floor-mode
 * AveragePool (Inception's pooling branches, as PyTorch exports count_include_pad) becomes that
 * pool's pads with count_include_pad = 1: one pass over the tensor instead of a copy and a pass. */
int fc_opt_fuse_pads(fc_graph *g, fc_error *err);
/* Squeeze-and-excitation's Mul(x, gate) (gate (N, C, 1, 1): GlobalAveragePool -> 1x1 Conv -> 1x1
 * Conv with a Sigmoid or HardSigmoid epilogue) read only by a 1x1 Conv: the Conv reads x and the
 * gate itself and becomes an fc_op_conv_scaled node (op_type stays "Conv", fc_fusion.scale), which
 * folds the gate into its weights per image instead of writing the scaled tensor (ops/conv_scaled.c).
 * Run after the other fusions (the Conv may have a fused residual). */
int fc_opt_fuse_se_scale(fc_graph *g, fc_error *err);
/* A GlobalAveragePool of a depthwise-only block's output (squeeze-and-excitation, after
 * fc_opt_fuse_dw_blocks and fc_opt_fuse_se_scale): the block takes it over as its second output
 * (fc_fusion.pooled) and sums each band while it is still in cache, instead of the pool reading the
 * whole tensor back from memory. Same bits (ops/plane_sum.h). Not when the pool's output is a
 * requested output. */
int fc_opt_fuse_block_pools(fc_graph *g, fc_error *err);
/* An inference BatchNormalization with constant parameters, optionally followed by a Relu, whose
 * only reader is a plain 1x1 Conv (stride 1, no padding, one group; DenseNet's norm -> relu ->
 * conv, where the norm cannot fold into a Conv before it): the Conv reads the BatchNormalization's
 * input and normalizes each column as it packs it (fc_fusion.pre_bn), so neither the normalized
 * tensor nor its ReLU is written. Same float operations as the two ops (ops/conv.c). Run last (the
 * Conv is then not part of a block). */
int fc_opt_fuse_pre_norms(fc_graph *g, fc_error *err);

#endif
