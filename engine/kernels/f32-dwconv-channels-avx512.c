/* AVX-512 depthwise convolution of several channel planes per call with channels in vector lanes
 * (16 channels x 4 output pixels per FMA chain group, 16x16 transposes), instantiated from
 * f32-dwconv-channels-impl.h; rows too wide for its strip buffer go to the per-plane kernel
 * (f32-dwconv-plane-avx512.c). Compiled with the AVX-512 flags; reached only through the avx512
 * kernel tables after the CPU check. Not here: the method (f32-dwconv-channels-impl.h). */
#include "engine/kernels/internal.h"
#include "engine/kernels/simd-avx512.h"
#include "engine/kernels/f32-act-vec.h"

#define DWCONV_CHANNELS fc_f32_dwconv_channels_16cx4__avx512
#define DWCONV_PLANE fc_f32_dwconv_plane_4x16__avx512
#include "engine/kernels/f32-dwconv-channels-impl.h"
