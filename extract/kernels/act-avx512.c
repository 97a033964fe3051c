/* AVX-512 elementwise activations (16 floats per vector), instantiated from act-impl.h. Compiled with
 * the AVX-512 flags; reached only through the avx512 kernel table. Not here: the formulas (vact.h). */
#include "extract/kernels/internal.h"
#include "extract/kernels/simd-avx512.h"
#include "extract/kernels/vact.h"
#include "extract/kernels/act-impl.h"

void fc_act_avx512(const fc_act *act, const float *x, float *y, size_t n) { act_any(act, x, y, n); }
