/* Private glue between the kernel files: the per-ISA tables that kernels.c dispatches over and
 * every kernel function they point to, named fc_<dtype>_<op>[_<tile>]__<isa> (each ISA file is
 * compiled with its own -m flags, so code for one ISA can only be reached through the tables after
 * a cpuid check). Contracts are those of the fc_kernels fields in kernels.h. Not a public interface:
 * operators use kernels.h only. */
#ifndef FC_KERNELS_INTERNAL_H
#define FC_KERNELS_INTERNAL_H

#include "engine/kernels/kernels.h"

/* tables.c */
extern const fc_kernels fc_kernels_scalar_table;
extern const fc_kernels fc_kernels_avx2_table;
extern const fc_kernels fc_kernels_avx512_table;

/* ---- scalar references (f32-*-scalar.c): the twins every SIMD kernel is tested against ---- */

/* f32-gemm-scalar.c: 4-row A panels, 4-column B panels, 4x4 tile */
void fc_f32_gemm_pack_a_4__scalar(int M, int K, const float *A, ptrdiff_t rsa, ptrdiff_t csa,
                                  float *packed);
void fc_f32_gemm_pack_b_4__scalar(int K, int N, const float *B, ptrdiff_t rsb, ptrdiff_t csb,
                                  float *packed);
void fc_f32_gemm_4x4__scalar(int M, int N, int K, const float *pa, const float *pb, float *C,
                             ptrdiff_t rsc, ptrdiff_t csc, const fc_epilogue *ep);
/* f32-dwconv-scalar.c (the SIMD plane kernels also fall back to the plane one for kernels too
 * large for their on-stack row buffer) */
void fc_f32_dwconv_plane__scalar(const fc_conv2d_geom *g, const float *in, const float *w,
                                 float bias, const fc_act *act, float *out);
void fc_f32_dwconv_channels__scalar(const fc_conv2d_geom *g, int nch, const float *in,
                                    ptrdiff_t ics, const float *w, const float *bias,
                                    const fc_act *act, float *out, ptrdiff_t ocs, int stream);
/* f32-winograd-f4x3-scalar.c: F(4x4, 3x3) transforms, 4-tile panels */
void fc_f32_winograd_f4x3_input_4__scalar(int C, ptrdiff_t cs, ptrdiff_t W, const fc_wino_in *t,
                                          int nt, float *V, ptrdiff_t vs);
void fc_f32_winograd_f4x3_output__scalar(int M, const float *X, ptrdiff_t xs, ptrdiff_t ms,
                                         const fc_wino_out *t, int nt, ptrdiff_t cs, ptrdiff_t W,
                                         const float *bias, const fc_act *act);
/* f32-act-scalar.c */
void fc_f32_act__scalar(const fc_act *act, const float *x, float *y, size_t n);

/* ---- AVX2+FMA (*-avx2.c); the AVX-512 table uses the channel-blocked depthwise and Winograd ones */

/* f32-gemm-avx2.c: 6-row A panels, 16-column B panels, 6x16 tile (12 ymm accumulators) */
void fc_f32_gemm_pack_a_6__avx2(int M, int K, const float *A, ptrdiff_t rsa, ptrdiff_t csa,
                                float *packed);
void fc_f32_gemm_pack_b_16__avx2(int K, int N, const float *B, ptrdiff_t rsb, ptrdiff_t csb,
                                 float *packed);
void fc_f32_gemm_6x16__avx2(int M, int N, int K, const float *pa, const float *pb, float *C,
                            ptrdiff_t rsc, ptrdiff_t csc, const fc_epilogue *ep);
/* f32-dwconv-plane-avx2.c: one plane, 4 vectors of 8 output pixels per step */
void fc_f32_dwconv_plane_4x8__avx2(const fc_conv2d_geom *g, const float *in, const float *w,
                                   float bias, const fc_act *act, float *out);
/* f32-dwconv-channels-avx2.c: 8 channels in the lanes x 4 output pixels per FMA chain group */
void fc_f32_dwconv_channels_8cx4__avx2(const fc_conv2d_geom *g, int nch, const float *in,
                                       ptrdiff_t ics, const float *w, const float *bias,
                                       const fc_act *act, float *out, ptrdiff_t ocs, int stream);
/* f32-winograd-f4x3-avx2.c: 8 tiles per vector; input panels of 16 (avx2 table) or 32 (avx512
 * table) tiles */
void fc_f32_winograd_f4x3_input_16__avx2(int C, ptrdiff_t cs, ptrdiff_t W, const fc_wino_in *t,
                                         int nt, float *V, ptrdiff_t vs);
void fc_f32_winograd_f4x3_input_32__avx2(int C, ptrdiff_t cs, ptrdiff_t W, const fc_wino_in *t,
                                         int nt, float *V, ptrdiff_t vs);
void fc_f32_winograd_f4x3_output__avx2(int M, const float *X, ptrdiff_t xs, ptrdiff_t ms,
                                       const fc_wino_out *t, int nt, ptrdiff_t cs, ptrdiff_t W,
                                       const float *bias, const fc_act *act);
/* f32-act-avx2.c: 16 floats (2 vectors) per step */
void fc_f32_act_u16__avx2(const fc_act *act, const float *x, float *y, size_t n);
/* f32-peak-avx2.c: n iterations of 12 independent 8-lane FMAs (fc_peak_gflops) */
float fc_f32_peak_12x8__avx2(long n);

/* ---- AVX-512 (*-avx512.c) ----------------------------------------------------------------- */

/* f32-gemm-avx512.c: 12-row A panels, 32-column B panels, 12x32 tile (24 zmm accumulators) */
void fc_f32_gemm_pack_a_12__avx512(int M, int K, const float *A, ptrdiff_t rsa, ptrdiff_t csa,
                                   float *packed);
void fc_f32_gemm_pack_b_32__avx512(int K, int N, const float *B, ptrdiff_t rsb, ptrdiff_t csb,
                                   float *packed);
void fc_f32_gemm_12x32__avx512(int M, int N, int K, const float *pa, const float *pb, float *C,
                               ptrdiff_t rsc, ptrdiff_t csc, const fc_epilogue *ep);
/* f32-dwconv-plane-avx512.c: one plane, 4 vectors of 16 output pixels per step */
void fc_f32_dwconv_plane_4x16__avx512(const fc_conv2d_geom *g, const float *in, const float *w,
                                      float bias, const fc_act *act, float *out);
/* f32-act-avx512.c: 32 floats (2 vectors) per step */
void fc_f32_act_u32__avx512(const fc_act *act, const float *x, float *y, size_t n);
/* f32-peak-avx512.c: n iterations of 12 independent 16-lane FMAs */
float fc_f32_peak_12x16__avx512(long n);

#endif
