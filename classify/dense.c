/* The dense kernel tables and the Gram driver. Portable kernels use GCC vector extensions (2
 * lanes); the AVX2 ones use intrinsics in functions compiled through a target attribute (the
 * Makefile gives ISA flags to engine/kernels and extract/resize-avx2.c only) and are reached only
 * after the CPU check; the AVX-512 table is the AVX2 one with the two products of dense_avx512.c.
 * All follow the summation orders documented in dense.h, so they agree bit for bit.
 * Not here: threading inside kernels (fc_gram_compute splits rows over threads). */
#include "classify/dense.h"
#include "classify/dense_avx512.h"

#include <immintrin.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "classify/vec.h"

/* ---- portable ---- */

static double dot_portable(const double *a, const double *b, int n) { return fc_vec_dot(a, b, n); }
static double dot_fd_portable(const float *a, const double *b, int n) { return fc_vec_dot_fd(a, b, n); }
static double dot_ff_portable(const float *a, const float *b, int n) { return fc_vec_dot_ff(a, b, n); }
static void axpy_portable(double *y, double alpha, const double *x, int n) { fc_vec_axpy(y, alpha, x, n); }
static void axpy_fd_portable(double *y, double alpha, const float *x, int n) { fc_vec_axpy_fd(y, alpha, x, n); }

static void dots_fd_portable(const float *X, int rows, const double *V, int m, int n, double *out) {
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < m; j++) out[(size_t)r * m + j] = fc_vec_dot_fd(X + (size_t)r * n, V + (size_t)j * n, n);
}

static void ger_fd_portable(double *G, const double *E, const float *X, int rows, int m, int n) {
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < m; j++) fc_vec_axpy_fd(G + (size_t)j * n, E[(size_t)i * m + j], X + (size_t)i * n, n);
}

static void dots_dd_portable(const double *X, int rows, const double *V, int m, int n, double *out) {
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < m; j++) out[(size_t)r * m + j] = fc_vec_dot(X + (size_t)r * n, V + (size_t)j * n, n);
}

static void ger_dd_portable(double *G, const double *E, const double *X, int rows, int m, int n) {
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < m; j++) fc_vec_axpy(G + (size_t)j * n, E[(size_t)i * m + j], X + (size_t)i * n, n);
}

/* Columns [q0, n) of ger_fd element by element: G[j][q] += E[i][j] * X[i][q], rows in order (the
 * SIMD kernels' column tails). */
static void ger_fd_columns(double *G, const double *E, const float *X, int rows, int m, int n, int q0) {
    for (int q = q0; q < n; q++)
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < m; j++) G[(size_t)j * n + q] += E[(size_t)i * m + j] * (double)X[(size_t)i * n + q];
}

/* The f32 pair (dense.h's summation order): the twins of the AVX2 and AVX-512 kernels. */
static double fold16_portable(const float s[16]) {
    double d[8], e[4];
    for (int l = 0; l < 8; l++) d[l] = (double)s[l] + (double)s[l + 8];
    for (int l = 0; l < 4; l++) e[l] = d[l] + d[l + 4];
    return (e[0] + e[2]) + (e[1] + e[3]);
}

static void dots_f32_portable(const float *X, int rows, const float *V, int m, int n, double *out) {
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < m; j++) {
            const float *x = X + (size_t)r * n, *v = V + (size_t)j * n;
            float s[16] = {0};
            int q = 0;
            for (; q + 16 <= n; q += 16)
                for (int l = 0; l < 16; l++) s[l] = s[l] + x[q + l] * v[q + l];
            double t = fold16_portable(s);
            for (; q < n; q++) t += (double)x[q] * v[q];
            out[(size_t)r * m + j] = t;
        }
}

static void ger_f32_portable(double *G, const double *E, const float *X, int rows, int m, int n) {
    if (rows <= 0) return;
    int n16 = n / 16 * 16;
    for (int j = 0; j < m; j++)
        for (int q = 0; q < n16; q++) {
            float a = 0;
            for (int i = 0; i < rows; i++) a = a + (float)E[(size_t)i * m + j] * X[(size_t)i * n + q];
            G[(size_t)j * n + q] += (double)a;
        }
    ger_fd_columns(G, E, X, rows, m, n, n16);
}

/* One Gram entry in the documented order: lanes q mod 4 over the 4-blocks, (l0 + l2) + (l1 + l3),
 * then the tail. */
static double gram_entry(const double *u, const double *v, int d) {
    double l0 = 0, l1 = 0, l2 = 0, l3 = 0;
    int q = 0;
    for (; q + 4 <= d; q += 4) l0 += u[q] * v[q], l1 += u[q + 1] * v[q + 1], l2 += u[q + 2] * v[q + 2], l3 += u[q + 3] * v[q + 3];
    double t = (l0 + l2) + (l1 + l3);
    for (; q < d; q++) t += u[q] * v[q];
    return t;
}

/* 2 x 2 entries of rows (i0, i0 + 1) x (j0, j0 + 1), lanes (l0, l1) and (l2, l3) in two vectors. */
static void gram_2x2(const double *x, int d, int i0, int j0, double *G, int ldg) {
    const double *a0 = x + (size_t)i0 * d, *a1 = a0 + d, *b0 = x + (size_t)j0 * d, *b1 = b0 + d;
    fc_v2d z = {0, 0}, s00a = z, s00b = z, s01a = z, s01b = z, s10a = z, s10b = z, s11a = z, s11b = z;
    int q = 0;
    for (; q + 4 <= d; q += 4) {
        fc_v2d u0a = fc_v2d_load(a0 + q), u0b = fc_v2d_load(a0 + q + 2);
        fc_v2d u1a = fc_v2d_load(a1 + q), u1b = fc_v2d_load(a1 + q + 2);
        fc_v2d v0a = fc_v2d_load(b0 + q), v0b = fc_v2d_load(b0 + q + 2);
        fc_v2d v1a = fc_v2d_load(b1 + q), v1b = fc_v2d_load(b1 + q + 2);
        s00a += u0a * v0a, s00b += u0b * v0b, s01a += u0a * v1a, s01b += u0b * v1b;
        s10a += u1a * v0a, s10b += u1b * v0b, s11a += u1a * v1a, s11b += u1b * v1b;
    }
    fc_v2d t00 = s00a + s00b, t01 = s01a + s01b, t10 = s10a + s10b, t11 = s11a + s11b;
    double r[2][2] = {{t00[0] + t00[1], t01[0] + t01[1]}, {t10[0] + t10[1], t11[0] + t11[1]}};
    const double *rows[2] = {a0, a1}, *cols[2] = {b0, b1};
    for (int a = 0; a < 2; a++)
        for (int b = 0; b < 2; b++) {
            for (int t = q; t < d; t++) r[a][b] += rows[a][t] * cols[b][t];
            G[(size_t)(i0 + a) * ldg + j0 + b] = r[a][b];
        }
}

static void gram_tile_portable(const double *x, int d, int i0, int j0, double *G, int ldg) {
    gram_2x2(x, d, i0, j0, G, ldg);
    gram_2x2(x, d, i0 + 2, j0, G, ldg);
}

static const fc_dense_kernels portable = {
    .name = "portable",
    .dot = dot_portable,
    .dot_fd = dot_fd_portable,
    .dot_ff = dot_ff_portable,
    .axpy = axpy_portable,
    .axpy_fd = axpy_fd_portable,
    .dots_fd = dots_fd_portable,
    .ger_fd = ger_fd_portable,
    .dots_dd = dots_dd_portable,
    .ger_dd = ger_dd_portable,
    .dots_f32 = dots_f32_portable,
    .ger_f32 = ger_f32_portable,
    .gram_tile = gram_tile_portable,
};

/* ---- AVX2 ---- */

#define AVX2 __attribute__((target("avx2,fma")))

/* (t0 + t2) + (t1 + t3) of a 4-lane vector. */
AVX2 static double fold4(__m256d t) {
    __m128d s = _mm_add_pd(_mm256_castpd256_pd128(t), _mm256_extractf128_pd(t, 1));
    return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}

AVX2 static double dot_avx2(const double *a, const double *b, int n) {
    __m256d y0 = _mm256_setzero_pd(), y1 = y0;
    int i = 0;
    for (; i + 8 <= n; i += 8) { /* mul then add, as the portable code */
        y0 = _mm256_add_pd(y0, _mm256_mul_pd(_mm256_loadu_pd(a + i), _mm256_loadu_pd(b + i)));
        y1 = _mm256_add_pd(y1, _mm256_mul_pd(_mm256_loadu_pd(a + i + 4), _mm256_loadu_pd(b + i + 4)));
    }
    double t = fold4(_mm256_add_pd(y0, y1));
    for (; i < n; i++) t += a[i] * b[i];
    return t;
}

AVX2 static double dot_fd_avx2(const float *a, const double *b, int n) {
    __m256d y0 = _mm256_setzero_pd(), y1 = y0;
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        y0 = _mm256_add_pd(y0, _mm256_mul_pd(_mm256_cvtps_pd(_mm_loadu_ps(a + i)), _mm256_loadu_pd(b + i)));
        y1 = _mm256_add_pd(y1, _mm256_mul_pd(_mm256_cvtps_pd(_mm_loadu_ps(a + i + 4)), _mm256_loadu_pd(b + i + 4)));
    }
    double t = fold4(_mm256_add_pd(y0, y1));
    for (; i < n; i++) t += (double)a[i] * b[i];
    return t;
}

AVX2 static double dot_ff_avx2(const float *a, const float *b, int n) {
    __m256d y0 = _mm256_setzero_pd(), y1 = y0;
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        y0 = _mm256_add_pd(y0, _mm256_mul_pd(_mm256_cvtps_pd(_mm_loadu_ps(a + i)), _mm256_cvtps_pd(_mm_loadu_ps(b + i))));
        y1 = _mm256_add_pd(y1, _mm256_mul_pd(_mm256_cvtps_pd(_mm_loadu_ps(a + i + 4)), _mm256_cvtps_pd(_mm_loadu_ps(b + i + 4))));
    }
    double t = fold4(_mm256_add_pd(y0, y1));
    for (; i < n; i++) t += (double)a[i] * b[i];
    return t;
}

AVX2 static void axpy_avx2(double *y, double alpha, const double *x, int n) {
    __m256d va = _mm256_set1_pd(alpha);
    int i = 0;
    for (; i + 4 <= n; i += 4)
        _mm256_storeu_pd(y + i, _mm256_add_pd(_mm256_loadu_pd(y + i), _mm256_mul_pd(va, _mm256_loadu_pd(x + i))));
    for (; i < n; i++) y[i] += alpha * x[i];
}

AVX2 static void axpy_fd_avx2(double *y, double alpha, const float *x, int n) {
    __m256d va = _mm256_set1_pd(alpha);
    int i = 0;
    for (; i + 4 <= n; i += 4)
        _mm256_storeu_pd(y + i, _mm256_add_pd(_mm256_loadu_pd(y + i),
                                              _mm256_mul_pd(va, _mm256_cvtps_pd(_mm_loadu_ps(x + i)))));
    for (; i < n; i++) y[i] += alpha * (double)x[i];
}

/* Up to 4 rows of V at once, each with dot_fd_avx2's two accumulators (lanes q mod 8); a last
 * single row is dot_fd_avx2 itself (the same bits, without three unused dot products: softmax's
 * 9 class directions are 4 + 4 + 1). */
AVX2 static void dots_fd_row_avx2(const float *x, const double *V, int m, int n, double *out) {
    for (int j0 = 0; j0 < m; j0 += 4) {
        int mj = m - j0 < 4 ? m - j0 : 4;
        if (mj == 1) {
            out[j0] = dot_fd_avx2(x, V + (size_t)j0 * n, n);
            break;
        }
        const double *v[4];
        for (int j = 0; j < 4; j++) v[j] = V + (size_t)(j0 + (j < mj ? j : 0)) * n;
        __m256d a0 = _mm256_setzero_pd(), a1 = a0, b0 = a0, b1 = a0, c0 = a0, c1 = a0, d0 = a0, d1 = a0;
        int i = 0;
        for (; i + 8 <= n; i += 8) {
            __m256d x0 = _mm256_cvtps_pd(_mm_loadu_ps(x + i)), x1 = _mm256_cvtps_pd(_mm_loadu_ps(x + i + 4));
            a0 = _mm256_add_pd(a0, _mm256_mul_pd(x0, _mm256_loadu_pd(v[0] + i)));
            a1 = _mm256_add_pd(a1, _mm256_mul_pd(x1, _mm256_loadu_pd(v[0] + i + 4)));
            b0 = _mm256_add_pd(b0, _mm256_mul_pd(x0, _mm256_loadu_pd(v[1] + i)));
            b1 = _mm256_add_pd(b1, _mm256_mul_pd(x1, _mm256_loadu_pd(v[1] + i + 4)));
            c0 = _mm256_add_pd(c0, _mm256_mul_pd(x0, _mm256_loadu_pd(v[2] + i)));
            c1 = _mm256_add_pd(c1, _mm256_mul_pd(x1, _mm256_loadu_pd(v[2] + i + 4)));
            d0 = _mm256_add_pd(d0, _mm256_mul_pd(x0, _mm256_loadu_pd(v[3] + i)));
            d1 = _mm256_add_pd(d1, _mm256_mul_pd(x1, _mm256_loadu_pd(v[3] + i + 4)));
        }
        double t[4] = {fold4(_mm256_add_pd(a0, a1)), fold4(_mm256_add_pd(b0, b1)), fold4(_mm256_add_pd(c0, c1)),
                       fold4(_mm256_add_pd(d0, d1))};
        for (int j = 0; j < mj; j++) {
            for (int q = i; q < n; q++) t[j] += (double)x[q] * v[j][q];
            out[j0 + j] = t[j];
        }
    }
}

AVX2 static void dots_fd_avx2(const float *X, int rows, const double *V, int m, int n, double *out) {
    for (int r = 0; r < rows; r++) dots_fd_row_avx2(X + (size_t)r * n, V, m, n, out + (size_t)r * m);
}

/* Columns in blocks of 8 and rows of G in groups of up to 4: 8 accumulators live across the rows
 * of X (mul then add, as axpy_fd_avx2); the column tail as its scalar loop. */
AVX2 static void ger_fd_avx2(double *G, const double *E, const float *X, int rows, int m, int n) {
    int q = 0;
    for (; q + 8 <= n; q += 8)
        for (int j0 = 0; j0 < m; j0 += 4) {
            int mj = m - j0 < 4 ? m - j0 : 4;
            double *g[4];
            for (int j = 0; j < 4; j++) g[j] = G + (size_t)(j0 + (j < mj ? j : 0)) * n + q;
            __m256d a0 = _mm256_loadu_pd(g[0]), a1 = _mm256_loadu_pd(g[0] + 4), b0 = _mm256_loadu_pd(g[1]);
            __m256d b1 = _mm256_loadu_pd(g[1] + 4), c0 = _mm256_loadu_pd(g[2]), c1 = _mm256_loadu_pd(g[2] + 4);
            __m256d d0 = _mm256_loadu_pd(g[3]), d1 = _mm256_loadu_pd(g[3] + 4);
            const double *e = E + j0;
            for (int i = 0; i < rows; i++, e += m) {
                const float *xi = X + (size_t)i * n + q;
                __m256d x0 = _mm256_cvtps_pd(_mm_loadu_ps(xi)), x1 = _mm256_cvtps_pd(_mm_loadu_ps(xi + 4)), w;
                w = _mm256_set1_pd(e[0]), a0 = _mm256_add_pd(a0, _mm256_mul_pd(w, x0)), a1 = _mm256_add_pd(a1, _mm256_mul_pd(w, x1));
                if (mj < 2) continue;
                w = _mm256_set1_pd(e[1]), b0 = _mm256_add_pd(b0, _mm256_mul_pd(w, x0)), b1 = _mm256_add_pd(b1, _mm256_mul_pd(w, x1));
                if (mj < 3) continue;
                w = _mm256_set1_pd(e[2]), c0 = _mm256_add_pd(c0, _mm256_mul_pd(w, x0)), c1 = _mm256_add_pd(c1, _mm256_mul_pd(w, x1));
                if (mj < 4) continue;
                w = _mm256_set1_pd(e[3]), d0 = _mm256_add_pd(d0, _mm256_mul_pd(w, x0)), d1 = _mm256_add_pd(d1, _mm256_mul_pd(w, x1));
            }
            /* stores in reverse so that the unused slots (aliases of row j0) never overwrite it */
            if (mj > 3) _mm256_storeu_pd(g[3], d0), _mm256_storeu_pd(g[3] + 4, d1);
            if (mj > 2) _mm256_storeu_pd(g[2], c0), _mm256_storeu_pd(g[2] + 4, c1);
            if (mj > 1) _mm256_storeu_pd(g[1], b0), _mm256_storeu_pd(g[1] + 4, b1);
            _mm256_storeu_pd(g[0], a0), _mm256_storeu_pd(g[0] + 4, a1);
        }
    ger_fd_columns(G, E, X, rows, m, n, q);
}

AVX2 static void dots_dd_avx2(const double *X, int rows, const double *V, int m, int n, double *out) {
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < m; j++) out[(size_t)r * m + j] = dot_avx2(X + (size_t)r * n, V + (size_t)j * n, n);
}

AVX2 static void ger_dd_avx2(double *G, const double *E, const double *X, int rows, int m, int n) {
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < m; j++) axpy_avx2(G + (size_t)j * n, E[(size_t)i * m + j], X + (size_t)i * n, n);
}

/* dots_f32's lanes 0-7 in a, 8-15 in b, folded in dense.h's order. */
AVX2 static double fold16_avx2(__m256 a, __m256 b) {
    __m256d d_lo = _mm256_add_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(a)), _mm256_cvtps_pd(_mm256_castps256_ps128(b)));
    __m256d d_hi = _mm256_add_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(a, 1)), _mm256_cvtps_pd(_mm256_extractf128_ps(b, 1)));
    return fold4(_mm256_add_pd(d_lo, d_hi));
}

AVX2 static void dots_f32_avx2(const float *X, int rows, const float *V, int m, int n, double *out) {
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < m; j++) {
            const float *x = X + (size_t)r * n, *v = V + (size_t)j * n;
            __m256 a = _mm256_setzero_ps(), b = a;
            int q = 0;
            for (; q + 16 <= n; q += 16) {
                a = _mm256_add_ps(a, _mm256_mul_ps(_mm256_loadu_ps(x + q), _mm256_loadu_ps(v + q)));
                b = _mm256_add_ps(b, _mm256_mul_ps(_mm256_loadu_ps(x + q + 8), _mm256_loadu_ps(v + q + 8)));
            }
            double t = fold16_avx2(a, b);
            for (; q < n; q++) t += (double)x[q] * v[q];
            out[(size_t)r * m + j] = t;
        }
}

/* 16 columns of one row of G at a time, summed in two float vectors over the rows. */
AVX2 static void ger_f32_avx2(double *G, const double *E, const float *X, int rows, int m, int n) {
    if (rows <= 0) return;
    int n16 = n / 16 * 16;
    for (int q = 0; q < n16; q += 16)
        for (int j = 0; j < m; j++) {
            __m256 a = _mm256_setzero_ps(), b = a;
            for (int i = 0; i < rows; i++) {
                __m256 w = _mm256_set1_ps((float)E[(size_t)i * m + j]);
                const float *xi = X + (size_t)i * n + q;
                a = _mm256_add_ps(a, _mm256_mul_ps(w, _mm256_loadu_ps(xi)));
                b = _mm256_add_ps(b, _mm256_mul_ps(w, _mm256_loadu_ps(xi + 8)));
            }
            double *g = G + (size_t)j * n + q;
            _mm256_storeu_pd(g, _mm256_add_pd(_mm256_loadu_pd(g), _mm256_cvtps_pd(_mm256_castps256_ps128(a))));
            _mm256_storeu_pd(g + 4, _mm256_add_pd(_mm256_loadu_pd(g + 4), _mm256_cvtps_pd(_mm256_extractf128_ps(a, 1))));
            _mm256_storeu_pd(g + 8, _mm256_add_pd(_mm256_loadu_pd(g + 8), _mm256_cvtps_pd(_mm256_castps256_ps128(b))));
            _mm256_storeu_pd(g + 12, _mm256_add_pd(_mm256_loadu_pd(g + 12), _mm256_cvtps_pd(_mm256_extractf128_ps(b, 1))));
        }
    ger_fd_columns(G, E, X, rows, m, n, n16);
}

/* The rows are floats converted to double: their products are exact in double, so FMA rounds
 * exactly like mul + add here. */
AVX2 static void gram_tile_avx2(const double *x, int d, int i0, int j0, double *G, int ldg) {
    const double *a0 = x + (size_t)i0 * d, *a1 = a0 + d, *a2 = a1 + d, *a3 = a2 + d;
    const double *b0 = x + (size_t)j0 * d, *b1 = b0 + d;
    __m256d s00 = _mm256_setzero_pd(), s01 = s00, s10 = s00, s11 = s00, s20 = s00, s21 = s00, s30 = s00, s31 = s00;
    int q = 0;
    for (; q + 4 <= d; q += 4) {
        __m256d v0 = _mm256_loadu_pd(b0 + q), v1 = _mm256_loadu_pd(b1 + q), u;
        u = _mm256_loadu_pd(a0 + q), s00 = _mm256_fmadd_pd(u, v0, s00), s01 = _mm256_fmadd_pd(u, v1, s01);
        u = _mm256_loadu_pd(a1 + q), s10 = _mm256_fmadd_pd(u, v0, s10), s11 = _mm256_fmadd_pd(u, v1, s11);
        u = _mm256_loadu_pd(a2 + q), s20 = _mm256_fmadd_pd(u, v0, s20), s21 = _mm256_fmadd_pd(u, v1, s21);
        u = _mm256_loadu_pd(a3 + q), s30 = _mm256_fmadd_pd(u, v0, s30), s31 = _mm256_fmadd_pd(u, v1, s31);
    }
    double r[4][2] = {{fold4(s00), fold4(s01)}, {fold4(s10), fold4(s11)}, {fold4(s20), fold4(s21)}, {fold4(s30), fold4(s31)}};
    const double *rows[4] = {a0, a1, a2, a3}, *cols[2] = {b0, b1};
    for (int a = 0; a < 4; a++)
        for (int b = 0; b < 2; b++) {
            for (int t = q; t < d; t++) r[a][b] += rows[a][t] * cols[b][t];
            G[(size_t)(i0 + a) * ldg + j0 + b] = r[a][b];
        }
}

static const fc_dense_kernels avx2 = {
    .name = "avx2",
    .dot = dot_avx2,
    .dot_fd = dot_fd_avx2,
    .dot_ff = dot_ff_avx2,
    .axpy = axpy_avx2,
    .axpy_fd = axpy_fd_avx2,
    .dots_fd = dots_fd_avx2,
    .ger_fd = ger_fd_avx2,
    .dots_dd = dots_dd_avx2,
    .ger_dd = ger_dd_avx2,
    .dots_f32 = dots_f32_avx2,
    .ger_f32 = ger_f32_avx2,
    .gram_tile = gram_tile_avx2,
};

/* ---- AVX-512: the AVX2 table with the blocked products of dense_avx512.c ---- */

static const fc_dense_kernels avx512 = {
    .name = "avx512",
    .dot = dot_avx2,
    .dot_fd = dot_fd_avx2,
    .dot_ff = dot_ff_avx2,
    .axpy = axpy_avx2,
    .axpy_fd = axpy_fd_avx2,
    .dots_fd = fc_dense_dots_fd_avx512,
    .ger_fd = fc_dense_ger_fd_avx512,
    .dots_dd = fc_dense_dots_dd_avx512,
    .ger_dd = fc_dense_ger_dd_avx512,
    .dots_f32 = fc_dense_dots_f32_avx512,
    .ger_f32 = fc_dense_ger_f32_avx512,
    .gram_tile = gram_tile_avx2,
};

/* ---- dispatch and driver ---- */

static int have_avx2(void) { return fc_cpu_isa() >= FC_ISA_AVX2; } /* every level above has AVX2 + FMA */
static int have_avx512(void) { return fc_cpu_isa() >= FC_ISA_AVX512; }

const fc_dense_kernels *fc_dense_kernels_best(void) {
    return have_avx512() ? &avx512 : have_avx2() ? &avx2 : &portable;
}

const fc_dense_kernels *fc_dense_kernels_by_name(const char *name) {
    if (name && !strcmp(name, "portable")) return &portable;
    if (name && !strcmp(name, "avx2") && have_avx2()) return &avx2;
    if (name && !strcmp(name, "avx512") && have_avx512()) return &avx512;
    return NULL;
}

int fc_gram_compute(const fc_dense_kernels *k, const float *x, int n, int d, double *G, int threads, fc_error *err) {
    if (n < 1 || d < 0 || !x || !G) return fc_fail(err, FC_EINVAL, "gram: bad arguments (n %d, d %d)", n, d);
    if (!k) k = fc_dense_kernels_best();
    if (threads <= 0) threads = omp_get_max_threads();
    double *xd = malloc((size_t)n * d * sizeof *xd + sizeof *xd); /* exact copy: loads are cheaper */
    if (!xd) return fc_fail(err, FC_ENOMEM, "gram: out of memory for %d x %d doubles", n, d);
    for (size_t q = 0; q < (size_t)n * d; q++) xd[q] = x[q];
    int blocks = (n + 3) / 4;
    /* Threads only for about 10 ms of work or more: on a busy machine a parallel region can stall
     * for a scheduler time slice, which a small Gram matrix does not repay. */
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1) if ((double)n * n * d > 2e8)
    for (int blk = blocks - 1; blk >= 0; blk--) { /* largest blocks first */
        int i0 = 4 * blk, ni = n - i0 < 4 ? n - i0 : 4;
        for (int j0 = 0; j0 < i0 + ni; j0 += 2) {
            int nj = n - j0 < 2 ? n - j0 : 2;
            if (ni == 4 && nj == 2) {
                k->gram_tile(xd, d, i0, j0, G, n);
            } else {
                for (int a = 0; a < ni; a++)
                    for (int b = 0; b < nj; b++)
                        G[(size_t)(i0 + a) * n + j0 + b] =
                            gram_entry(xd + (size_t)(i0 + a) * d, xd + (size_t)(j0 + b) * d, d);
            }
            /* mirror the entries above the diagonal (each written by this thread only) */
            for (int a = 0; a < ni; a++)
                for (int b = 0; b < nj; b++) G[(size_t)(j0 + b) * n + i0 + a] = G[(size_t)(i0 + a) * n + j0 + b];
        }
    }
    free(xd);
    return 0;
}
