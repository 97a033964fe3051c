/* Scalar reference elementwise activation (the twin of the SIMD f32-act-*.c kernels): y = act(x)
 * through fc_act_apply, one float at a time. Not here: the formulas (fc_act_apply in kernels.c). */
#include <stddef.h>

#include "engine/kernels/internal.h"

void fc_f32_act__scalar(const fc_act *act, const float *x, float *y, size_t n) {
    // x, y: (n)
    for (size_t i = 0; i < n; i++) y[i] = fc_act_apply(act, x[i]);
}

void fc_f32_affine_rows__scalar(int rows, int n, const float *s, const float *t, int relu, float *x, ptrdiff_t rs) {
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < n; j++) {
            float v = x[r * rs + j] * s[r] + t[r];
            x[r * rs + j] = relu && 0.0f > v ? 0.0f : v;
        }
}
