/* Private glue between the kernel files: the per-ISA tables that kernels.c dispatches over and
 * every kernel function they point to, named fc_<dtype>_<op>[_<tile>]__<isa> (each ISA file is
 * compiled with its own -m flags, so code for one ISA can only be reached through the tables after
 * a cpuid check). Contracts are those of the fc_kernels fields in kernels.h. Declarations are grouped
 * by kernel family, the scalar reference (the twin every SIMD kernel is tested against) first.
 * Not a public interface: operators use kernels.h only. */
#ifndef FC_KERNELS_INTERNAL_H
#define FC_KERNELS_INTERNAL_H

#include "engine/kernels/kernels.h"

/* tables.c */
extern const fc_kernels fc_kernels_scalar_table;
extern const fc_kernels fc_kernels_avx2_table;
extern const fc_kernels fc_kernels_avx512_table;

/* The kernels, by type (kernels.h documents each type's contract); the scalar one of each type is the
 * reference its SIMD versions are tested against. */
/* f32-gemm-*.c: mr-row A panels, nr-column B panels, mr x nr tile: scalar 4x4, AVX2+FMA 6x16
 * (12 ymm accumulators), AVX-512 12x32 (24 zmm accumulators) */
fc_f32_gemm_pack_a_fn fc_f32_gemm_pack_a_4__scalar, fc_f32_gemm_pack_a_6__avx2,
    fc_f32_gemm_pack_a_12__avx512;
fc_f32_gemm_pack_b_fn fc_f32_gemm_pack_b_4__scalar, fc_f32_gemm_pack_b_16__avx2,
    fc_f32_gemm_pack_b_32__avx512;
fc_f32_gemm_fn fc_f32_gemm_4x4__scalar, fc_f32_gemm_6x16__avx2, fc_f32_gemm_12x32__avx512;
fc_f32_gemm_kblock_fn fc_f32_gemm_kblock_6x16__avx2, fc_f32_gemm_kblock_12x32__avx512;
fc_f32_gemm_kc_fn fc_f32_gemm_kc_6x16__avx2, fc_f32_gemm_kc_12x32__avx512;
/* f32-dwconv-scalar.c, f32-dwconv-plane-*.c: 4 vectors of 8 / 16 output pixels per step (the SIMD
 * ones fall back to the scalar one for kernels too large for their on-stack row buffer) */
fc_f32_dwconv_plane_fn fc_f32_dwconv_plane__scalar, fc_f32_dwconv_plane_4x8__avx2,
    fc_f32_dwconv_plane_4x16__avx512;
/* f32-dwconv-scalar.c, f32-dwconv-channels-*.c: 8 / 16 channels in the lanes x 4 output pixels per
 * FMA chain group (the SIMD ones agree bit for bit) */
fc_f32_dwconv_channels_fn fc_f32_dwconv_channels__scalar, fc_f32_dwconv_channels_8cx4__avx2,
    fc_f32_dwconv_channels_16cx4__avx512;
/* f32-winograd-f4x3-*.c: F(4x4, 3x3) input panels of 4 (scalar), 16 (avx2 table) or 32 (avx512
 * tables) tiles, 8 tiles per AVX2 vector, 16 per AVX-512 one */
fc_f32_winograd_input_fn fc_f32_winograd_f4x3_input_4__scalar, fc_f32_winograd_f4x3_input_16__avx2,
    fc_f32_winograd_f4x3_input_32__avx512;
fc_f32_winograd_output_fn fc_f32_winograd_f4x3_output__scalar, fc_f32_winograd_f4x3_output__avx2,
    fc_f32_winograd_f4x3_output__avx512;
/* f32-act-*.c: 16 floats (2 ymm) / 32 floats (2 zmm) per step */
fc_f32_act_fn fc_f32_act__scalar, fc_f32_act_u16__avx2, fc_f32_act_u32__avx512;
fc_f32_affine_rows_fn fc_f32_affine_rows__scalar, fc_f32_affine_rows__avx2, fc_f32_affine_rows__avx512;
/* f32-conv-bcast-*.c: 14 pixels broadcast x 32 channels in two vectors (and the scalar twin) */
fc_f32_conv_bcast_fn fc_f32_conv_bcast__scalar, fc_f32_conv_bcast_14x32__avx512,
    fc_f32_conv_bcast_14x32_fastsig__avx512;

/* f32-cb-*.c: the channel-blocked kernels (12 pixels x 32 channels per 1x1 tile, 4 depthwise output
 * pixels per FMA chain group) and their scalar twins, which take the K cut (kc) and the packed
 * panels' width (nr) that the avx512 one gets from its table */
extern const fc_cb_kernels fc_cb_kernels_avx512, fc_cb_kernels_avx512_fastsig;
fc_f32_conv1x1_cb_fn fc_f32_conv1x1_cb__avx512, fc_f32_conv1x1_cb_fastsig__avx512;
fc_cb_pack_w_fn fc_f32_cb_pack_w__avx512;
void fc_f32_conv1x1_cb__scalar(int P, int N, int K, int kc, const float *x, ptrdiff_t xs, int x_cb,
                               const float *pb, int nr, float *y, ptrdiff_t ygs, const fc_epilogue *ep);
/* bf16-cb-avx512bf16.c and its twin in bf16-gemm-scalar.c: the bf16 path's 1x1 convolution */
extern const fc_cb_kernels fc_cb_kernels_avx512bf16;
fc_f32_conv1x1_cb_fn fc_bf16_conv1x1_cb__avx512bf16, fc_bf16_conv1x1_cb__scalar;
fc_cb_pack_w_fn fc_bf16_cb_pack_w__avx512bf16;
fc_f32_conv_taps_cb_fn fc_f32_conv_taps_cb__avx512, fc_f32_conv_taps_cb_fastsig__avx512;
void fc_f32_conv_taps_cb__scalar(int P, int N, int K, int kc, const float *x, const int *koff, int ps,
                                 const float *pb, int nr, float *y, ptrdiff_t ygs, const fc_epilogue *ep);
fc_f32_dwconv_cb_fn fc_f32_dwconv_cb__scalar, fc_f32_dwconv_cb__avx512, fc_f32_dwconv_cb_fastsig__avx512;
fc_f32_to_cb_fn fc_f32_to_cb__scalar, fc_f32_to_cb__avx512;
fc_f32_from_cb_fn fc_f32_from_cb__scalar, fc_f32_from_cb__avx512;

/* *-fastsig-avx512.c: the avx512 GEMM, depthwise and activation kernels with the bf16 path's fast
 * sigmoid and SiLU (FC_FAST_SIGMOID, f32-act-vec.h), for the avx512bf16 table and its .f32 */
fc_f32_gemm_fn fc_f32_gemm_12x32_fastsig__avx512;
fc_f32_gemm_kblock_fn fc_f32_gemm_kblock_12x32_fastsig__avx512;
fc_f32_dwconv_plane_fn fc_f32_dwconv_plane_4x16_fastsig__avx512;
fc_f32_dwconv_channels_fn fc_f32_dwconv_channels_16cx4_fastsig__avx512;
fc_f32_act_fn fc_f32_act_u32_fastsig__avx512;
extern const fc_kernels fc_kernels_avx512_fastsig_table;

/* bf16-gemm-*.c: in-place f32 -> bf16 pair conversion of a panel; the 12x32 tile (24 zmm
 * accumulators, A pairs broadcast, B as two vectors of 16 pairs), and its scalar twin */
fc_bf16_gemm_pack_fn fc_bf16_gemm_pack_pairs__scalar, fc_bf16_gemm_pack_pairs__avx512bf16;
fc_bf16_gemm_fn fc_bf16_gemm_12x32__scalar, fc_bf16_gemm_12x32__avx512bf16;
/* bf16-gemm-cvtb-avx512bf16.c: the inference GEMM of the avx512bf16 table (fc_kernels_bf16): f32
 * panels packed as the avx512 ones, A converted in place into pairs, B converted per slice */
fc_f32_gemm_pack_a_fn fc_bf16_gemm_pack_a_12__avx512bf16;
fc_f32_gemm_fn fc_bf16_gemm_12x32_cvtb__avx512bf16;
fc_f32_gemm_kblock_fn fc_bf16_gemm_kblock_12x32_cvtb__avx512bf16;
fc_f32_gemm_kc_fn fc_bf16_gemm_kc_12x32_cvtb__avx512bf16;
extern const fc_kernels fc_kernels_avx512bf16_table;
extern const fc_bf16_kernels fc_bf16_kernels_scalar_table;
extern const fc_bf16_kernels fc_bf16_kernels_avx512bf16_table;

/* The K blocks of the bf16 GEMMs: pairs per block for a product of `pairs` k pairs (at most 192:
 * a B block of 192 pairs x 32 words is 24 KiB, it stays in L1), blocks of even size. Both tables
 * cut K this way, so they add the same partial sums in the same order. */
static inline int fc_bf16_gemm_block_pairs(int pairs) {
    int blocks = pairs > 192 ? (pairs + 191) / 192 : 1;
    return (pairs + blocks - 1) / blocks;
}

/* f32-peak-*.c (fc_peak_gflops): n iterations of 12 independent 8- / 16-lane FMAs */
float fc_f32_peak_12x8__avx2(long n);
float fc_f32_peak_12x16__avx512(long n);
/* bf16-peak-avx512bf16.c: n iterations of 12 independent VDPBF16PS (32 products each) */
float fc_bf16_peak_12x32__avx512bf16(long n);

#endif
