/* AVX-512 f32 elementwise activations (two 16-float vectors per step), instantiated from
 * f32-act-impl.h. Compiled with the AVX-512 flags; reached only through the avx512 kernel table.
 * Not here: the formulas (f32-act-vec.h). */
#include "engine/kernels/internal.h"
#include "engine/kernels/simd-avx512.h"
#include "engine/kernels/f32-act-vec.h"
#include "engine/kernels/f32-act-impl.h"

void fc_f32_act_u32__avx512(const fc_act *act, const float *x, float *y, size_t n) {
    act_any(act, x, y, n);
}

void fc_f32_affine_rows__avx512(int rows, int n, const float *s, const float *t, int relu, float *x, ptrdiff_t rs) {
    affine_rows_any(rows, n, s, t, relu, x, rs);
}
