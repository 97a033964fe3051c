/* AVX2 FMA throughput loop for fc_peak_gflops: 12 independent accumulators hide FMA latency. */
#include <immintrin.h>

#include "extract/kernels/peak.h"

float fc_peak_loop_avx2(long n) {
    __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
    __m256 c[12];
    for (int i = 0; i < 12; i++) c[i] = _mm256_set1_ps((float)i);
    for (long it = 0; it < n; it++)
        for (int i = 0; i < 12; i++) c[i] = _mm256_fmadd_ps(c[i], a, b);
    __m256 s = c[0];
    for (int i = 1; i < 12; i++) s = _mm256_add_ps(s, c[i]);
    return _mm256_cvtss_f32(s);
}
