/* AVX2+FMA elementwise activations (8 floats per vector), instantiated from act-impl.h. Compiled with
 * -mavx2 -mfma -mf16c; reached only through the avx2 kernel table. Not here: the formulas (vact.h). */
#include "engine/kernels/internal.h"
#include "engine/kernels/simd-avx2.h"
#include "engine/kernels/vact.h"
#include "engine/kernels/act-impl.h"

void fc_act_avx2(const fc_act *act, const float *x, float *y, size_t n) { act_any(act, x, y, n); }
