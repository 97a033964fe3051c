/* AVX2+FMA depthwise convolution of one plane (8 output pixels per vector), instantiated from
 * dwconv-impl.h. Compiled with -mavx2 -mfma -mf16c; reached only through the avx2 kernel table.
 * Not here: the method (see dwconv-impl.h). */
#include <math.h>

#include "engine/kernels/internal.h"
#include "engine/kernels/simd-avx2.h"
#include "engine/kernels/vact.h"
#include "engine/kernels/act-impl.h"
#include "engine/kernels/dwconv-impl.h"

void fc_dwconv_plane_avx2(const float *in, int H, int W, const float *w, int KH, int KW, int SH,
                          int SW, int PT, int PL, int DH, int DW, float bias, const fc_act *act,
                          float *out, int OH, int OW) {
    dwconv_any(in, H, W, w, KH, KW, SH, SW, PT, PL, DH, DW, bias, act, out, OH, OW);
}
