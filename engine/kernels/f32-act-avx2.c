/* AVX2+FMA f32 elementwise activations (two 8-float vectors per step), instantiated from
 * f32-act-impl.h. Compiled with -mavx2 -mfma -mf16c; reached only through the avx2 kernel table.
 * Not here: the formulas (f32-act-vec.h). */
#include "engine/kernels/internal.h"
#include "engine/kernels/simd-avx2.h"
#include "engine/kernels/f32-act-vec.h"
#include "engine/kernels/f32-act-impl.h"

void fc_f32_act_u16__avx2(const fc_act *act, const float *x, float *y, size_t n) {
    act_any(act, x, y, n);
}

void fc_f32_affine_rows__avx2(int rows, int n, const float *s, const float *t, int relu, float *x, ptrdiff_t rs) {
    affine_rows_any(rows, n, s, t, relu, x, rs);
}
