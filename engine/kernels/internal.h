/* Private glue between the kernel files: the per-ISA tables that kernels.c dispatches over, and the
 * few per-ISA functions that live in their own translation unit (each ISA file is compiled with its
 * own -m flags, so code for one ISA can only be reached through these pointers after a cpuid check).
 * Not a public interface: operators use kernels.h only. */
#ifndef FC_KERNELS_INTERNAL_H
#define FC_KERNELS_INTERNAL_H

#include "engine/kernels/kernels.h"

extern const fc_kernels fc_kernels_scalar_table;
extern const fc_kernels fc_kernels_avx2_table;
extern const fc_kernels fc_kernels_avx512_table;

/* Scalar reference depthwise convolution (the SIMD versions fall back to it for kernels too large for
 * their on-stack row buffer). Same contract as fc_kernels.dwconv_plane. */
void fc_dwconv_plane_scalar(const float *in, int H, int W, const float *w, int KH, int KW, int SH,
                            int SW, int PT, int PL, int DH, int DW, float bias, const fc_act *act,
                            float *out, int OH, int OW);

void fc_dwconv_plane_avx2(const float *in, int H, int W, const float *w, int KH, int KW, int SH,
                          int SW, int PT, int PL, int DH, int DW, float bias, const fc_act *act,
                          float *out, int OH, int OW);
void fc_act_avx2(const fc_act *act, const float *x, float *y, size_t n);
/* Winograd F(4x4, 3x3) transforms (wino-avx2.c) for 16- and 32-lane panels; the AVX-512 table uses
 * them too. */
void fc_wino_input16_avx2(int C, ptrdiff_t cs, ptrdiff_t W, const fc_wino_in *t, int nt, float *V,
                          ptrdiff_t vs);
void fc_wino_input32_avx2(int C, ptrdiff_t cs, ptrdiff_t W, const fc_wino_in *t, int nt, float *V,
                          ptrdiff_t vs);
void fc_wino_output_avx2(int M, const float *X, ptrdiff_t xs, ptrdiff_t ms, const fc_wino_out *t,
                         int nt, ptrdiff_t cs, ptrdiff_t W, const float *bias, const fc_act *act);
/* Channel-blocked depthwise convolution (dwblock-avx2.c); also the AVX-512 table's. */
void fc_dwconv_planes_avx2(const float *in, ptrdiff_t ics, int nch, int H, int W, const float *w,
                           int KH, int KW, int SH, int SW, int PT, int PL, int DH, int DW,
                           const float *bias, const fc_act *act, float *out, ptrdiff_t ocs, int OH,
                           int OW, int stream);

void fc_dwconv_plane_avx512(const float *in, int H, int W, const float *w, int KH, int KW, int SH,
                            int SW, int PT, int PL, int DH, int DW, float bias, const fc_act *act,
                            float *out, int OH, int OW);
void fc_act_avx512(const fc_act *act, const float *x, float *y, size_t n);

#endif
