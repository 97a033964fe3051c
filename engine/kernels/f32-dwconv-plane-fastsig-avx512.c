/* AVX-512 depthwise convolution of one plane (f32-dwconv-plane-avx512.c) with the bf16 path's fast
 * sigmoid and SiLU (FC_FAST_SIGMOID, f32-act-vec.h), for the avx512bf16 table and its .f32.
 * Compiled with the AVX-512 flags. Not here: the algorithm (f32-dwconv-plane-impl.h). */
#define FC_FAST_SIGMOID 1
#include <math.h>

#include "engine/kernels/internal.h"
#include "engine/kernels/simd-avx512.h"
#include "engine/kernels/f32-act-vec.h"
#include "engine/kernels/f32-act-impl.h"
#include "engine/kernels/f32-dwconv-plane-impl.h"

void fc_f32_dwconv_plane_4x16_fastsig__avx512(const fc_conv2d_geom *g, const float *in, const float *w,
                                              float bias, const fc_act *act, float *out) {
    dwconv_any(g, in, w, bias, act, out);
}
