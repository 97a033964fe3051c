/* f32 -> bf16 k pairs with VCVTNE2PS2BF16 (round to nearest even, denormals to signed zero, NaN
 * kept quiet): the one conversion both bf16 GEMMs use, the training products' in-place panel
 * conversion (bf16-gemm-avx512bf16.c) and the inference GEMM's B blocks converted on the fly
 * (bf16-gemm-cvtb-avx512bf16.c). Include only from *-avx512bf16.c files. Not here: the products. */
#ifndef FC_BF16_PAIRS_AVX512BF16_H
#define FC_BF16_PAIRS_AVX512BF16_H

#include <immintrin.h>
#include <stdint.h>

/* 16 words (lo[i] | hi[i] << 16) of bf16 pairs from two f32 vectors. */
static inline __attribute__((always_inline)) __m512i fc_bf16_pairs16(__m512 lo, __m512 hi) {
    const __m512i interleave = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8,
                                                23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    return _mm512_permutexvar_epi16(interleave, (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
}

/* rows k0 .. k0 + kb - 1 of a 32-lane f32 panel (src at row k0, rows 32 floats apart) -> (kb+1)/2
 * words of 32 pairs in dst (a row past kb reads as +0): the layout of kernels.h's bf16 panels. */
static inline void fc_bf16_pairs_rows32(const float *src, int kb, uint32_t *dst) {
    for (int j = 0; j < kb / 2; j++) {
        const float *r0 = src + (size_t)64 * j;
        _mm512_store_si512(dst + 32 * j, fc_bf16_pairs16(_mm512_loadu_ps(r0), _mm512_loadu_ps(r0 + 32)));
        _mm512_store_si512(dst + 32 * j + 16, fc_bf16_pairs16(_mm512_loadu_ps(r0 + 16), _mm512_loadu_ps(r0 + 48)));
    }
    if (kb & 1) {
        const float *r0 = src + (size_t)32 * (kb - 1);
        uint32_t *d = dst + 32 * (kb / 2);
        _mm512_store_si512(d, fc_bf16_pairs16(_mm512_loadu_ps(r0), _mm512_setzero_ps()));
        _mm512_store_si512(d + 16, fc_bf16_pairs16(_mm512_loadu_ps(r0 + 16), _mm512_setzero_ps()));
    }
}

#endif
