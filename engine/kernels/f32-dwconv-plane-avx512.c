/* AVX-512 depthwise convolution of one plane, 4 vectors of 16 output pixels per step, instantiated
 * from f32-dwconv-plane-impl.h. Compiled with the AVX-512 flags; reached only through the avx512
 * kernel table. Not here: the method (see f32-dwconv-plane-impl.h). */
#include <math.h>

#include "engine/kernels/internal.h"
#include "engine/kernels/simd-avx512.h"
#include "engine/kernels/f32-act-vec.h"
#include "engine/kernels/f32-act-impl.h"
#include "engine/kernels/f32-dwconv-plane-impl.h"

void fc_f32_dwconv_plane_4x16__avx512(const fc_conv2d_geom *g, const float *in, const float *w,
                                      float bias, const fc_act *act, float *out) {
    dwconv_any(g, in, w, bias, act, out);
}
