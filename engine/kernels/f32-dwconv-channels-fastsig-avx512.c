/* AVX-512 depthwise convolution of 16 channels per vector (f32-dwconv-channels-avx512.c) with the
 * bf16 path's fast sigmoid and SiLU (FC_FAST_SIGMOID, f32-act-vec.h), for the avx512bf16 table and
 * its .f32. Compiled with the AVX-512 flags. Not here: the algorithm (f32-dwconv-channels-impl.h). */
#define FC_FAST_SIGMOID 1
#include "engine/kernels/internal.h"
#include "engine/kernels/simd-avx512.h"
#include "engine/kernels/f32-act-vec.h"

#define DWCONV_CHANNELS fc_f32_dwconv_channels_16cx4_fastsig__avx512
#define DWCONV_PLANE fc_f32_dwconv_plane_4x16_fastsig__avx512
#include "engine/kernels/f32-dwconv-channels-impl.h"
