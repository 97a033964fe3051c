/* The channel-blocked kernels with the bf16 path's fast sigmoid and SiLU (FC_FAST_SIGMOID,
 * f32-act-vec.h), for the steps a bf16 model keeps in f32 (the avx512+fastsig table): the same
 * operations as that table's GEMM and depthwise kernels, so its blocks give the same bits either
 * way. The layout conversions and weight panels are the avx512 table's (f32-cb-avx512.c). */
#define FC_FAST_SIGMOID 1
#include "engine/kernels/internal.h"
#include "engine/kernels/simd-avx512.h"
#include "engine/kernels/f32-act-vec.h"

#define CB_CONV1X1 fc_f32_conv1x1_cb_fastsig__avx512
#define CB_CONV_TAPS fc_f32_conv_taps_cb_fastsig__avx512
#define CB_DWCONV fc_f32_dwconv_cb_fastsig__avx512
#include "engine/kernels/f32-cb-impl.h"

const fc_cb_kernels fc_cb_kernels_avx512_fastsig = {
    .conv1x1 = fc_f32_conv1x1_cb_fastsig__avx512,
    .conv_taps = fc_f32_conv_taps_cb_fastsig__avx512,
    .dwconv = fc_f32_dwconv_cb_fastsig__avx512,
    .to_cb = fc_f32_to_cb__avx512,
    .from_cb = fc_f32_from_cb__avx512,
    .pack_w = fc_f32_cb_pack_w__avx512,
};
