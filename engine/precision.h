/* Which steps of a model loaded for `--compute bf16` keep f32 products: the rule is part of what the
 * bf16 compute path means (its features depend on it, so the extractor's definition names it,
 * extract/extractor.c). The steps whose output lies at most FC_BF16_F32_STRIDE input pixels apart
 * (the stem and the first stage of a CNN: ResNet's conv1 and layer1, MobileNetV2's blocks down to
 * 56x56 at 224) run on the bf16 table's f32 table, Winograd included, and so do those up to
 * FC_BF16_F32_STRIDE_MAX when all of them together hold at most FC_BF16_F32_SHARE of the model's
 * convolution products (counted per input pixel, so the choice does not depend on the image size:
 * MobileNetV2 0.38, EfficientNet-B0 0.29, MobileNetV3-Large 0.25, ShuffleNetV2 0.24, Inception-v3
 * 0.396 take it; ResNet-50 0.47, ResNet-18 0.55, DenseNet-121 0.73, VGG-11 0.88 stop at 4); every
 * later step multiplies bf16 pairs, except the 3x3 stride-1 convolutions that take the Winograd
 * path (ops/conv.c: f32 Winograd is faster there than the bf16 GEMM, and exact to f32 rounding).
 * Why: a rounding error made early is amplified by every later layer (ResNet-50 with seeded random
 * weights on the shared images: pooled features at cosine 0.9974 with f32 when every layer rounds,
 * 0.9997 with the stem and layer1 in f32, 0.9974 again with layer3 or layer4 in f32), while the
 * first stages hold a fifth to two fifths of the products: where they are light, as in the
 * depthwise-separable nets, one more stage costs little (MobileNetV2 at stride 8: smallest cosine
 * on ants/bees and the shared images 0.99956 instead of 0.99935, bf16 about 7% slower; Inception-v3
 * and ShuffleNetV2's random-weight worst 0.9998 instead of 0.9983 and 0.9990). Known limit:
 * EfficientNet-B0 and MobileNetV3-Large with seeded random weights amplify late errors too (their
 * random squeeze-and-excitation gates: on 2 and 3 of 406 ants/bees and shared images their pooled
 * features stay below 0.999, the worst at 0.993 and 0.982; the error grows in the last stages,
 * where bf16 does most of its work). Not here: the kernels. */
#ifndef FC_PRECISION_H
#define FC_PRECISION_H

#include "engine/graph.h"

#define FC_BF16_F32_STRIDE 4
#define FC_BF16_F32_STRIDE_MAX 8
#define FC_BF16_F32_SHARE 0.4

/* keep[i] = 1 for each live node i of g (g->order) that keeps f32 products under the rule above,
 * else 0; keep has g->n_nodes entries. The stride of a value is the product of the strides of the
 * convolutions and pools between the data input and it (the smallest over its inputs computed from
 * the data input; global pools make it unbounded). Errors: FC_ENOMEM. */
int fc_precision_keep_f32(const fc_graph *g, unsigned char *keep, fc_error *err);

#endif
