/* AdamW's elementwise block with AVX2 (8 floats per step; vsqrtps and vdivps are correctly rounded
 * like sqrtf and '/', and mul/add are kept apart, so every element equals fc_adamw_block_generic's,
 * bitwise). Reached only when the kernel table is avx2 or avx512. Not here: checks, threading. */
#include <immintrin.h>

#include "engine/train/optim.h"

void fc_adamw_block_avx2(float *param, float *m, float *v, const float *grad, const float *anchor, size_t n,
                         const fc_adamw_consts *k) {
    __m256 b1 = _mm256_set1_ps(1.0f - k->b1), b2 = _mm256_set1_ps(k->b2), c2 = _mm256_set1_ps(1.0f - k->b2);
    __m256 eps = _mm256_set1_ps(k->eps), decay = _mm256_set1_ps(k->decay);
    __m256 step = _mm256_set1_ps(k->step), bc2 = _mm256_set1_ps(k->bc2), pull = _mm256_set1_ps(k->pull);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 g = _mm256_loadu_ps(grad + i), p0 = _mm256_loadu_ps(param + i);
        if (anchor) g = _mm256_add_ps(g, _mm256_mul_ps(pull, _mm256_sub_ps(p0, _mm256_loadu_ps(anchor + i))));
        __m256 p = _mm256_mul_ps(p0, decay);
        __m256 mi = _mm256_loadu_ps(m + i), vi = _mm256_loadu_ps(v + i);
        mi = _mm256_add_ps(mi, _mm256_mul_ps(b1, _mm256_sub_ps(g, mi)));
        vi = _mm256_add_ps(_mm256_mul_ps(b2, vi), _mm256_mul_ps(_mm256_mul_ps(c2, g), g));
        __m256 den = _mm256_add_ps(_mm256_div_ps(_mm256_sqrt_ps(vi), bc2), eps);
        p = _mm256_sub_ps(p, _mm256_mul_ps(step, _mm256_div_ps(mi, den)));
        _mm256_storeu_ps(param + i, p);
        _mm256_storeu_ps(m + i, mi);
        _mm256_storeu_ps(v + i, vi);
    }
    if (i < n) fc_adamw_block_generic(param + i, m + i, v + i, grad + i, anchor ? anchor + i : NULL, n - i, k);
}
