/* AVX-512 FMA throughput loop for fc_peak_gflops. */
#include <immintrin.h>

#include "extract/kernels/peak.h"

float fc_peak_loop_avx512(long n) {
    __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
    __m512 c[12];
    for (int i = 0; i < 12; i++) c[i] = _mm512_set1_ps((float)i);
    for (long it = 0; it < n; it++)
        for (int i = 0; i < 12; i++) c[i] = _mm512_fmadd_ps(c[i], a, b);
    __m512 s = c[0];
    for (int i = 1; i < 12; i++) s = _mm512_add_ps(s, c[i]);
    return _mm512_reduce_add_ps(s);
}
