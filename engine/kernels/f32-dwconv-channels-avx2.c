/* AVX2+FMA depthwise convolution of several channel planes per call with channels in vector lanes
 * (8 channels x 4 output pixels per FMA chain group), instantiated from
 * f32-dwconv-channels-impl.h; rows too wide for its strip buffer go to the per-plane kernel
 * (f32-dwconv-plane-avx2.c). Compiled with -mavx2 -mfma; reached only through the avx2 kernel
 * table after the CPU check. Not here: the method (f32-dwconv-channels-impl.h). */
#include "engine/kernels/internal.h"
#include "engine/kernels/simd-avx2.h"
#include "engine/kernels/f32-act-vec.h"

#define DWCONV_CHANNELS fc_f32_dwconv_channels_8cx4__avx2
#define DWCONV_PLANE fc_f32_dwconv_plane_4x8__avx2
#include "engine/kernels/f32-dwconv-channels-impl.h"
