/* The kernel tables: which kernel each instruction set uses for each fc_kernels entry, and the GEMM
 * tile (mr, nr) its packing and microkernel are built for (the numbers in the kernel names). Only
 * function addresses here, so this file needs no ISA flags. Not here: choosing a table (kernels.c),
 * the kernels themselves (f32-*.c). */
#include "engine/kernels/internal.h"

const fc_kernels fc_kernels_scalar_table = {
    .name = "scalar",
    .mr = 4,
    .nr = 4,
    .pack_a = fc_f32_gemm_pack_a_4__scalar,
    .pack_b = fc_f32_gemm_pack_b_4__scalar,
    .sgemm_packed = fc_f32_gemm_4x4__scalar,
    .dwconv_plane = fc_f32_dwconv_plane__scalar,
    .dwconv_channels = fc_f32_dwconv_channels__scalar,
    .wino_input = fc_f32_winograd_f4x3_input_4__scalar,
    .wino_output = fc_f32_winograd_f4x3_output__scalar,
    .act = fc_f32_act__scalar,
    .affine_rows = fc_f32_affine_rows__scalar,
};

const fc_kernels fc_kernels_avx2_table = {
    .name = "avx2",
    .mr = 6,
    .nr = 16,
    .pack_a = fc_f32_gemm_pack_a_6__avx2,
    .pack_b = fc_f32_gemm_pack_b_16__avx2,
    .sgemm_packed = fc_f32_gemm_6x16__avx2,
    .sgemm_kblock = fc_f32_gemm_kblock_6x16__avx2,
    .gemm_kc = fc_f32_gemm_kc_6x16__avx2,
    .dwconv_plane = fc_f32_dwconv_plane_4x8__avx2,
    .dwconv_channels = fc_f32_dwconv_channels_8cx4__avx2,
    .wino_input = fc_f32_winograd_f4x3_input_16__avx2,
    .wino_output = fc_f32_winograd_f4x3_output__avx2,
    .act = fc_f32_act_u16__avx2,
    .affine_rows = fc_f32_affine_rows__avx2,
};

/* The Winograd transforms are the AVX2 ones (the input transform writes this table's 32-tile
 * panels). */
const fc_kernels fc_kernels_avx512_table = {
    .name = "avx512",
    .mr = 12,
    .nr = 32,
    .pack_a = fc_f32_gemm_pack_a_12__avx512,
    .pack_b = fc_f32_gemm_pack_b_32__avx512,
    .sgemm_packed = fc_f32_gemm_12x32__avx512,
    .sgemm_kblock = fc_f32_gemm_kblock_12x32__avx512,
    .gemm_kc = fc_f32_gemm_kc_12x32__avx512,
    .dwconv_plane = fc_f32_dwconv_plane_4x16__avx512,
    .dwconv_channels = fc_f32_dwconv_channels_16cx4__avx512,
    .wino_input = fc_f32_winograd_f4x3_input_32__avx512,
    .wino_output = fc_f32_winograd_f4x3_output__avx512,
    .act = fc_f32_act_u32__avx512,
    .affine_rows = fc_f32_affine_rows__avx512,
    .conv_bcast = fc_f32_conv_bcast_14x32__avx512,
    .cb = &fc_cb_kernels_avx512,
};

/* The f32 steps of a bf16 model (the avx512bf16 table's .f32): the avx512 table with the bf16 path's
 * fast sigmoid and SiLU (FC_FAST_SIGMOID, f32-act-vec.h) wherever they are applied, except after
 * the Winograd output transform (exact: no bf16 model seen has a Winograd conv with one). */
const fc_kernels fc_kernels_avx512_fastsig_table = {
    .name = "avx512+fastsig",
    .mr = 12,
    .nr = 32,
    .pack_a = fc_f32_gemm_pack_a_12__avx512,
    .pack_b = fc_f32_gemm_pack_b_32__avx512,
    .sgemm_packed = fc_f32_gemm_12x32_fastsig__avx512,
    .sgemm_kblock = fc_f32_gemm_kblock_12x32_fastsig__avx512,
    .gemm_kc = fc_f32_gemm_kc_12x32__avx512,
    .dwconv_plane = fc_f32_dwconv_plane_4x16_fastsig__avx512,
    .dwconv_channels = fc_f32_dwconv_channels_16cx4_fastsig__avx512,
    .wino_input = fc_f32_winograd_f4x3_input_32__avx512,
    .wino_output = fc_f32_winograd_f4x3_output__avx512,
    .act = fc_f32_act_u32_fastsig__avx512,
    .affine_rows = fc_f32_affine_rows__avx512,
    .conv_bcast = fc_f32_conv_bcast_14x32_fastsig__avx512,
    .cb = &fc_cb_kernels_avx512_fastsig,
};

/* --compute bf16: the avx512 table with the GEMM on bf16 pairs (bf16-gemm-cvtb-avx512bf16.c); the
 * packed layouts (12x32, B as f32 panels) are the avx512 ones, so im2col writes the same panels. No
 * Winograd on bf16 products: its transforms amplify the bf16 rounding (ResNet-50's pooled features:
 * cosine 0.991 with f32 through Winograd, 0.997 through im2col); 3x3 stride-1 convolutions take
 * .f32's f32 Winograd instead (ops/conv.c). Depthwise convolutions and activations stay f32 (with
 * the fast sigmoid and SiLU); the steps a bf16 model keeps in f32 use .f32. */
const fc_kernels fc_kernels_avx512bf16_table = {
    .name = "avx512bf16",
    .mr = 12,
    .nr = 32,
    .pack_a = fc_bf16_gemm_pack_a_12__avx512bf16,
    .pack_b = fc_f32_gemm_pack_b_32__avx512,
    .sgemm_packed = fc_bf16_gemm_12x32_cvtb__avx512bf16,
    .sgemm_kblock = fc_bf16_gemm_kblock_12x32_cvtb__avx512bf16,
    .gemm_kc = fc_bf16_gemm_kc_12x32_cvtb__avx512bf16,
    .dwconv_plane = fc_f32_dwconv_plane_4x16_fastsig__avx512,
    .dwconv_channels = fc_f32_dwconv_channels_16cx4_fastsig__avx512,
    .wino_input = NULL,
    .wino_output = NULL,
    .act = fc_f32_act_u32_fastsig__avx512,
    .affine_rows = fc_f32_affine_rows__avx512,
    .cb = &fc_cb_kernels_avx512bf16,
    .f32 = &fc_kernels_avx512_fastsig_table,
};

/* bf16 products: the AVX512_BF16 kernels and their scalar twin, on the same 12x32 layouts. */
const fc_bf16_kernels fc_bf16_kernels_scalar_table = {
    .name = "scalar",
    .mr = 12,
    .nr = 32,
    .pack = fc_bf16_gemm_pack_pairs__scalar,
    .gemm = fc_bf16_gemm_12x32__scalar,
};

const fc_bf16_kernels fc_bf16_kernels_avx512bf16_table = {
    .name = "avx512bf16",
    .mr = 12,
    .nr = 32,
    .pack = fc_bf16_gemm_pack_pairs__avx512bf16,
    .gemm = fc_bf16_gemm_12x32__avx512bf16,
};
