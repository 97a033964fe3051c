/* Which steps of a model loaded for `--compute bf16` keep f32 products: the rule is part of what the
 * bf16 compute path means (its features depend on it, so the extractor's definition names it,
 * extract/extractor.c). The steps whose output lies at most FC_BF16_F32_STRIDE input pixels apart
 * (the stem and the first stage of a CNN: ResNet's conv1 and layer1, MobileNetV2's blocks down to
 * 56x56 at 224) run on the bf16 table's f32 table, Winograd included; every later step multiplies
 * bf16 pairs, except the 3x3 stride-1 convolutions that take the Winograd path (ops/conv.c: f32
 * Winograd is faster there than the bf16 GEMM, and exact to f32 rounding). Why: a rounding error
 * made early is amplified by every later layer (ResNet-50 with seeded random weights on the shared
 * images: pooled features at cosine 0.9974 with f32 when every layer rounds, 0.9997 with the stem
 * and layer1 in f32, 0.9974 again with layer3 or layer4 in f32), while the first stage holds a
 * fifth of the FLOPs or less. Known limit: EfficientNet-B0 with
 * seeded random weights amplifies late errors too (its random squeeze-and-excitation gates: on 2 of
 * 122 ants/bees bee images its pooled features stay below 0.999, the worst at 0.989; f32 up to
 * stride 16 would give 0.9989 there but leave little in bf16). Not here: the kernels. */
#ifndef FC_PRECISION_H
#define FC_PRECISION_H

#include "engine/graph.h"

#define FC_BF16_F32_STRIDE 4

/* keep[i] = 1 for each live node i of g (g->order) that keeps f32 products under the rule above,
 * else 0; keep has g->n_nodes entries. The stride of a value is the product of the strides of the
 * convolutions and pools between the data input and it (the smallest over its inputs computed from
 * the data input; global pools make it unbounded). Errors: FC_ENOMEM. */
int fc_precision_keep_f32(const fc_graph *g, unsigned char *keep, fc_error *err);

#endif
