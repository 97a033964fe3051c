/* The transposed copies of transpose.h with AVX2: groups of 8 rows (then 4) are loaded 8 (4) floats
 * at a time, masked at the ends of runs, transposed in registers and stored as whole lane groups;
 * rows past the groups go the generic way. Compiled with -mavx2; reached only when the kernel table
 * is avx2 or avx512 (the CPU has been checked). Not here: who calls them. */
#include <immintrin.h>

#include "engine/kernels/simd-avx2.h"
#include "engine/train/transpose.h"

static inline __m128i mask4(int n) {
    return _mm_cmpgt_epi32(_mm_set1_epi32(n), _mm_setr_epi32(0, 1, 2, 3));
}

/* 8 lanes [0, 8) of dst per k from rows [0, rows) (rows <= 8; the others zero). */
static void tr8(const float *src, ptrdiff_t rs, int rows, int len, float *dst, ptrdiff_t ds) {
    vf r[8];
    for (int k0 = 0; k0 < len; k0 += 8) {
        int n = len - k0 < 8 ? len - k0 : 8;
        if (n == 8 && rows == 8) {
#pragma GCC unroll 8
            for (int i = 0; i < 8; i++) r[i] = v_load(src + i * rs + k0);
        } else {
            vmask m = v_mask_first(n);
#pragma GCC unroll 8
            for (int i = 0; i < 8; i++) r[i] = i < rows ? v_loadm(src + i * rs + k0, m) : v_zero();
        }
        v_transpose8(r);
        if (n == 8) {
#pragma GCC unroll 8
            for (int t = 0; t < 8; t++) v_store(dst + (k0 + t) * ds, r[t]);
        } else {
            for (int t = 0; t < n; t++) v_store(dst + (k0 + t) * ds, r[t]);
        }
    }
}

static void tr4(const float *src, ptrdiff_t rs, int rows, int len, float *dst, ptrdiff_t ds) {
    __m128 r[4];
    for (int k0 = 0; k0 < len; k0 += 4) {
        int n = len - k0 < 4 ? len - k0 : 4;
        __m128i m = mask4(n);
        for (int i = 0; i < 4; i++)
            r[i] = i >= rows ? _mm_setzero_ps() : n == 4 ? _mm_loadu_ps(src + i * rs + k0)
                                                         : _mm_maskload_ps(src + i * rs + k0, m);
        _MM_TRANSPOSE4_PS(r[0], r[1], r[2], r[3]);
        for (int t = 0; t < n; t++) _mm_storeu_ps(dst + (k0 + t) * ds, r[t]);
    }
}

void fc_train_tr_avx2(const float *src, ptrdiff_t rs, int rows, int R, int len, float *dst,
                      ptrdiff_t ds) {
    int r0 = 0;
    for (; r0 + 8 <= R; r0 += 8)
        tr8(src + r0 * rs, rs, rows - r0 < 0 ? 0 : rows - r0, len, dst + r0, ds);
    for (; r0 + 4 <= R; r0 += 4)
        tr4(src + r0 * rs, rs, rows - r0 < 0 ? 0 : rows - r0, len, dst + r0, ds);
    if (r0 < R)
        fc_train_tr_generic(src + r0 * rs, rs, rows - r0 < 0 ? 0 : rows - r0, R - r0, len, dst + r0, ds);
}

static void untr8(const float *src, ptrdiff_t ds, int rows, int len, float *dst, ptrdiff_t rs) {
    vf r[8];
    for (int k0 = 0; k0 < len; k0 += 8) {
        int n = len - k0 < 8 ? len - k0 : 8;
        if (n == 8) {
#pragma GCC unroll 8
            for (int t = 0; t < 8; t++) r[t] = v_load(src + (k0 + t) * ds);
        } else {
#pragma GCC unroll 8
            for (int t = 0; t < 8; t++) r[t] = t < n ? v_load(src + (k0 + t) * ds) : v_zero();
        }
        v_transpose8(r);
        if (n == 8 && rows == 8) {
#pragma GCC unroll 8
            for (int i = 0; i < 8; i++) v_store(dst + i * rs + k0, r[i]);
            continue;
        }
        for (int i = 0; i < rows; i++) {
            if (n == 8) {
                v_store(dst + i * rs + k0, r[i]);
            } else { /* masked stores are slow on AMD */
                _Alignas(32) float t[8];
                v_store(t, r[i]);
                for (int j = 0; j < n; j++) dst[i * rs + k0 + j] = t[j];
            }
        }
    }
}

static void untr4(const float *src, ptrdiff_t ds, int rows, int len, float *dst, ptrdiff_t rs) {
    __m128 r[4];
    for (int k0 = 0; k0 < len; k0 += 4) {
        int n = len - k0 < 4 ? len - k0 : 4;
        for (int t = 0; t < 4; t++) r[t] = t < n ? _mm_loadu_ps(src + (k0 + t) * ds) : _mm_setzero_ps();
        _MM_TRANSPOSE4_PS(r[0], r[1], r[2], r[3]);
        for (int i = 0; i < rows; i++) {
            if (n == 4) {
                _mm_storeu_ps(dst + i * rs + k0, r[i]);
            } else {
                _Alignas(16) float t[4];
                _mm_store_ps(t, r[i]);
                for (int j = 0; j < n; j++) dst[i * rs + k0 + j] = t[j];
            }
        }
    }
}

void fc_train_untr_avx2(const float *src, ptrdiff_t ds, int rows, int len, float *dst,
                        ptrdiff_t rs) {
    int r0 = 0;
    for (; r0 + 8 <= rows; r0 += 8) untr8(src + r0, ds, 8, len, dst + r0 * rs, rs);
    for (; r0 < rows; r0 += 4) untr4(src + r0, ds, rows - r0 < 4 ? rows - r0 : 4, len, dst + r0 * rs, rs);
}
