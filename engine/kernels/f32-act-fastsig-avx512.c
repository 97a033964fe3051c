/* AVX-512 f32 elementwise activations (f32-act-avx512.c) with the bf16 path's fast sigmoid and SiLU
 * (FC_FAST_SIGMOID, f32-act-vec.h), for the avx512bf16 table and its .f32. Compiled with the
 * AVX-512 flags. Not here: affine_rows (no sigmoid: the avx512 one serves both). */
#define FC_FAST_SIGMOID 1
#include "engine/kernels/internal.h"
#include "engine/kernels/simd-avx512.h"
#include "engine/kernels/f32-act-vec.h"
#include "engine/kernels/f32-act-impl.h"

void fc_f32_act_u32_fastsig__avx512(const fc_act *act, const float *x, float *y, size_t n) {
    act_any(act, x, y, n);
}
