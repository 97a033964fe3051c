/* The AVX-512 entries of the dense kernel table (dense.h): the two products of a softmax
 * evaluation and of its preconditioner, register-blocked so that each loaded vector serves many
 * multiply-adds (X float rows in dots_fd/ger_fd, double rows in dots_dd/ger_dd):
 *   dots: 3 rows of X x 9 rows of V per block (27 accumulators), V read once per 3 rows; the
 *         next block's 3 rows are prefetched a line at a time as these are read (an
 *         evaluation's dots stream X from memory; its ger then finds the rows in cache): dots over
 *         5000 x 1280 floats 16.6 -> 19.5 GMAC/s, the Fashion-MNIST softmax sweep's fits -6%;
 *   ger:  9 rows of G x 24 columns per block (27 accumulators) across the rows of X.
 * Each accumulator holds lanes q mod 8 of one dot product or 8 consecutive columns of G, summed
 * mul-then-add in the order dense.h documents, so the results are the portable table's bits.
 * dots_f32/ger_f32 are the same blocks in f32 arithmetic (16 lanes: 48 columns of G), walked by the
 * same loops (dots_all, ger_all).
 * Functions carry a target attribute (the Makefile gives ISA flags to engine/kernels only) and are
 * reached only through the table dense.c selects after the CPU check. Not here: the other entries
 * (the AVX2 ones serve), threading. */
#include "classify/dense_avx512.h"

#include <immintrin.h>

#define AVX512 __attribute__((target("avx512f,avx2,fma")))
#define BLOCK_INLINE static inline __attribute__((always_inline))

enum { ROWS = 3, COLS = 9, VECS = 3 }; /* dots: rows of X x rows of V; ger: rows of G x 8-column vectors */

/* What X and V hold in a product: floats times doubles in double (dots_fd, ger_fd), doubles
 * (dots_dd, ger_dd), or floats in f32 arithmetic (dots_f32, ger_f32). */
enum { MODE_FD, MODE_DD, MODE_F32 };

/* 8 elements of X from element at on, as doubles (floats convert exactly); xd: X holds doubles. */
AVX512 BLOCK_INLINE __m512d load_x(const int xd, const void *X, size_t at) {
    return xd ? _mm512_loadu_pd((const double *)X + at) : _mm512_cvtps_pd(_mm256_loadu_ps((const float *)X + at));
}

BLOCK_INLINE double x_at(const int xd, const void *X, size_t at) {
    return xd ? ((const double *)X)[at] : (double)((const float *)X)[at];
}

/* The 8 lanes (q mod 8) of a dot product folded as the AVX2 kernels do: lanes l and l + 4 first,
 * then (s0 + s2) + (s1 + s3). */
AVX512 BLOCK_INLINE double fold8(__m512d z) {
    __m256d s4 = _mm256_add_pd(_mm512_castpd512_pd256(z), _mm512_extractf64x4_pd(z, 1));
    __m128d s = _mm_add_pd(_mm256_castpd256_pd128(s4), _mm256_extractf128_pd(s4, 1));
    return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}

/* out[r m + j] = dot(X + r n, V + j n, n) for r < R, j < J; xd, R, J compile-time constants. */
AVX512 BLOCK_INLINE void dots_block(const int xd, const int R, const int J, const void *X, const double *V, int m,
                                    int n, double *out) {
    __m512d acc[ROWS][COLS];
#pragma GCC unroll 3
    for (int r = 0; r < R; r++)
#pragma GCC unroll 9
        for (int j = 0; j < J; j++) acc[r][j] = _mm512_setzero_pd();
    int q = 0;
    for (; q + 8 <= n; q += 8) {
        __m512d x[ROWS];
#pragma GCC unroll 3
        for (int r = 0; r < R; r++) x[r] = load_x(xd, X, (size_t)r * n + q);
        if (xd || (q & 15) == 0) /* a line per row: 8 doubles or 16 floats (prefetches past the
                                    last row do not fault) */
#pragma GCC unroll 3
            for (int r = 0; r < R; r++)
                _mm_prefetch((const char *)X + ((size_t)(R + r) * n + q) * (xd ? 8 : 4), _MM_HINT_T0);
#pragma GCC unroll 9
        for (int j = 0; j < J; j++) {
            __m512d v = _mm512_loadu_pd(V + (size_t)j * n + q);
            __asm__("" : "+v"(v)); /* one load, not one per row folded into the multiplies */
#pragma GCC unroll 3
            for (int r = 0; r < R; r++) acc[r][j] = _mm512_add_pd(acc[r][j], _mm512_mul_pd(x[r], v));
        }
    }
    for (int r = 0; r < R; r++)
        for (int j = 0; j < J; j++) {
            double t = fold8(acc[r][j]);
            for (int k = q; k < n; k++) t += x_at(xd, X, (size_t)r * n + k) * V[(size_t)j * n + k];
            out[(size_t)r * m + j] = t;
        }
}

/* The 16 float lanes of a dot product in double: lanes l and l + 8 first, then fold8. */
AVX512 BLOCK_INLINE double fold16(__m512 s) {
    __m512d lo = _mm512_cvtps_pd(_mm512_castps512_ps256(s));
    __m512d hi = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(s), 1)));
    return fold8(_mm512_add_pd(lo, hi));
}

/* out[r m + j] = dots_f32 of X row r and V row j, r < R, j < J (compile-time constants). */
AVX512 BLOCK_INLINE void dots_f32_block(const int R, const int J, const float *X, const float *V, int m, int n,
                                        double *out) {
    __m512 acc[ROWS][COLS];
#pragma GCC unroll 3
    for (int r = 0; r < R; r++)
#pragma GCC unroll 9
        for (int j = 0; j < J; j++) acc[r][j] = _mm512_setzero_ps();
    int q = 0;
    for (; q + 16 <= n; q += 16) {
        __m512 x[ROWS];
#pragma GCC unroll 3
        for (int r = 0; r < R; r++) {
            x[r] = _mm512_loadu_ps(X + (size_t)r * n + q);
            _mm_prefetch((const char *)(X + (size_t)(R + r) * n + q), _MM_HINT_T0); /* the next block's line */
        }
#pragma GCC unroll 9
        for (int j = 0; j < J; j++) {
            __m512 v = _mm512_loadu_ps(V + (size_t)j * n + q);
            __asm__("" : "+v"(v)); /* one load, not one per row folded into the multiplies */
#pragma GCC unroll 3
            for (int r = 0; r < R; r++) acc[r][j] = _mm512_add_ps(acc[r][j], _mm512_mul_ps(x[r], v));
        }
    }
    for (int r = 0; r < R; r++)
        for (int j = 0; j < J; j++) {
            double t = fold16(acc[r][j]);
            for (int k = q; k < n; k++) t += (double)X[(size_t)r * n + k] * V[(size_t)j * n + k];
            out[(size_t)r * m + j] = t;
        }
}

/* All blocks of dots in mode (a compile-time constant), each dispatched to its constant-size copy. */
AVX512 BLOCK_INLINE void dots_all(const int mode, const void *X, int rows, const void *V, int m, int n, double *out) {
#define FC_J(RR, JJ)                                                                                     \
    case JJ:                                                                                             \
        if (mode == MODE_F32) dots_f32_block(RR, JJ, x, v, m, n, o);                                     \
        else dots_block(mode == MODE_DD, RR, JJ, x, v, m, n, o);                                         \
        break;
#define FC_R(RR)                                                                                         \
    case RR:                                                                                             \
        switch (J) { FC_J(RR, 1) FC_J(RR, 2) FC_J(RR, 3) FC_J(RR, 4) FC_J(RR, 5) FC_J(RR, 6) FC_J(RR, 7) \
                     FC_J(RR, 8) FC_J(RR, 9) }                                                           \
        break;
    const size_t xb = mode == MODE_DD ? sizeof(double) : sizeof(float); /* bytes per element of X, V */
    const size_t vb = mode == MODE_F32 ? sizeof(float) : sizeof(double);
    for (int r0 = 0; r0 < rows; r0 += ROWS) {
        int R = rows - r0 < ROWS ? rows - r0 : ROWS;
        for (int j0 = 0; j0 < m; j0 += COLS) {
            int J = m - j0 < COLS ? m - j0 : COLS;
            const void *x = (const char *)X + (size_t)r0 * n * xb, *v = (const char *)V + (size_t)j0 * n * vb;
            double *o = out + (size_t)r0 * m + j0;
            switch (R) { FC_R(1) FC_R(2) FC_R(3) }
        }
    }
#undef FC_R
#undef FC_J
}

AVX512 void fc_dense_dots_fd_avx512(const float *X, int rows, const double *V, int m, int n, double *out) {
    dots_all(MODE_FD, X, rows, V, m, n, out);
}

AVX512 void fc_dense_dots_dd_avx512(const double *X, int rows, const double *V, int m, int n, double *out) {
    dots_all(MODE_DD, X, rows, V, m, n, out);
}
AVX512 void fc_dense_dots_f32_avx512(const float *X, int rows, const float *V, int m, int n, double *out) {
    dots_all(MODE_F32, X, rows, V, m, n, out);
}

/* G[j][8c + l] += E[i][j] * X[i][8c + l] over the rows i in order, for j < J, c < C; G, E and X
 * already offset to the block; xd, J, C compile-time constants. */
AVX512 BLOCK_INLINE void ger_block(const int xd, const int J, const int C, double *G, const double *E, const void *X,
                                   int rows, int m, int n) {
    __m512d acc[COLS][VECS];
#pragma GCC unroll 9
    for (int j = 0; j < J; j++)
#pragma GCC unroll 3
        for (int c = 0; c < C; c++) acc[j][c] = _mm512_loadu_pd(G + (size_t)j * n + 8 * c);
    for (int i = 0; i < rows; i++) {
        const double *ei = E + (size_t)i * m;
        __m512d x[VECS];
#pragma GCC unroll 3
        for (int c = 0; c < C; c++) x[c] = load_x(xd, X, (size_t)i * n + 8 * c);
#pragma GCC unroll 9
        for (int j = 0; j < J; j++) {
            __m512d w = _mm512_set1_pd(ei[j]);
#pragma GCC unroll 3
            for (int c = 0; c < C; c++) acc[j][c] = _mm512_add_pd(acc[j][c], _mm512_mul_pd(w, x[c]));
        }
    }
#pragma GCC unroll 9
    for (int j = 0; j < J; j++)
#pragma GCC unroll 3
        for (int c = 0; c < C; c++) _mm512_storeu_pd(G + (size_t)j * n + 8 * c, acc[j][c]);
}

/* G[j][16c + l] += the float sum over the rows of E[i][j] X[i][16c + l], j < J, c < C
 * (compile-time constants); G, E and X already offset to the block. */
AVX512 BLOCK_INLINE void ger_f32_block(const int J, const int C, double *G, const double *E, const float *X, int rows,
                                       int m, int n) {
    __m512 acc[COLS][VECS];
#pragma GCC unroll 9
    for (int j = 0; j < J; j++)
#pragma GCC unroll 3
        for (int c = 0; c < C; c++) acc[j][c] = _mm512_setzero_ps();
    for (int i = 0; i < rows; i++) {
        const double *ei = E + (size_t)i * m;
        __m512 x[VECS];
#pragma GCC unroll 3
        for (int c = 0; c < C; c++) x[c] = _mm512_loadu_ps(X + (size_t)i * n + 16 * c);
#pragma GCC unroll 9
        for (int j = 0; j < J; j++) {
            __m512 w = _mm512_set1_ps((float)ei[j]);
#pragma GCC unroll 3
            for (int c = 0; c < C; c++) acc[j][c] = _mm512_add_ps(acc[j][c], _mm512_mul_ps(w, x[c]));
        }
    }
#pragma GCC unroll 9
    for (int j = 0; j < J; j++)
#pragma GCC unroll 3
        for (int c = 0; c < C; c++) {
            double *g = G + (size_t)j * n + 16 * c;
            __m512 a = acc[j][c];
            __m512d lo = _mm512_cvtps_pd(_mm512_castps512_ps256(a));
            __m512d hi = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(a), 1)));
            _mm512_storeu_pd(g, _mm512_add_pd(_mm512_loadu_pd(g), lo));
            _mm512_storeu_pd(g + 8, _mm512_add_pd(_mm512_loadu_pd(g + 8), hi));
        }
}

/* All blocks of ger in mode (a compile-time constant), each dispatched to its constant-size copy
 * (blocks of VECS vectors of 8 columns, or of 16 in f32); the column tail in the per-element order
 * of ger_fd. No rows: G as it is. */
AVX512 BLOCK_INLINE void ger_all(const int mode, double *G, const double *E, const void *X, int rows, int m, int n) {
#define FC_J(CC, JJ)                                                                                     \
    case JJ:                                                                                             \
        if (mode == MODE_F32) ger_f32_block(JJ, CC, g, E + j0, x, rows, m, n);                           \
        else ger_block(mode == MODE_DD, JJ, CC, g, E + j0, x, rows, m, n);                               \
        break;
#define FC_C(CC)                                                                                         \
    case CC:                                                                                             \
        switch (J) { FC_J(CC, 1) FC_J(CC, 2) FC_J(CC, 3) FC_J(CC, 4) FC_J(CC, 5) FC_J(CC, 6) FC_J(CC, 7) \
                     FC_J(CC, 8) FC_J(CC, 9) }                                                           \
        break;
    if (rows <= 0) return;
    const int xd = mode == MODE_DD, lanes = mode == MODE_F32 ? 16 : 8, nl = n / lanes * lanes;
    for (int q0 = 0; q0 < nl; q0 += lanes * VECS) {
        int C = (nl - q0) / lanes < VECS ? (nl - q0) / lanes : VECS;
        const void *x = (const char *)X + (size_t)q0 * (xd ? sizeof(double) : sizeof(float));
        for (int j0 = 0; j0 < m; j0 += COLS) {
            int J = m - j0 < COLS ? m - j0 : COLS;
            double *g = G + (size_t)j0 * n + q0;
            switch (C) { FC_C(1) FC_C(2) FC_C(3) }
        }
    }
#undef FC_C
#undef FC_J
    for (int q = nl; q < n; q++)
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < m; j++) G[(size_t)j * n + q] += E[(size_t)i * m + j] * x_at(xd, X, (size_t)i * n + q);
}

AVX512 void fc_dense_ger_fd_avx512(double *G, const double *E, const float *X, int rows, int m, int n) {
    ger_all(MODE_FD, G, E, X, rows, m, n);
}

AVX512 void fc_dense_ger_dd_avx512(double *G, const double *E, const double *X, int rows, int m, int n) {
    ger_all(MODE_DD, G, E, X, rows, m, n);
}
AVX512 void fc_dense_ger_f32_avx512(double *G, const double *E, const float *X, int rows, int m, int n) {
    ger_all(MODE_F32, G, E, X, rows, m, n);
}
