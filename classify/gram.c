/* X X^T in double: the rows are converted to double once, then 4 x 2 tiles of G are accumulated
 * over the full row length (12 streams in flight, enough to keep the FP units busy), tiles of one
 * 4-row block handled by one thread. The AVX2 variant is the same tiling with 4-wide FMAs; it is
 * compiled through a target attribute because the Makefile gives ISA flags to extract/kernels only.
 * Not here: blocking over d (rows of a few thousand doubles stay in L2), other precisions. */
#include "classify/gram.h"

#include <immintrin.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "extract/kernels/kernels.h"

/* Entries (i0 + a, j0 + b), a < ni, b < nj, one plain dot product each (edges of the matrix). */
static void tile_edge(const double *x, int n, int d, int i0, int ni, int j0, int nj, double *G) {
    for (int a = 0; a < ni; a++)
        for (int b = 0; b < nj; b++) {
            const double *u = x + (size_t)(i0 + a) * d, *v = x + (size_t)(j0 + b) * d;
            double s = 0;
            for (int q = 0; q < d; q++) s += u[q] * v[q];
            G[(size_t)(i0 + a) * n + j0 + b] = G[(size_t)(j0 + b) * n + i0 + a] = s;
        }
}

static void store_tile(double *G, int n, int i0, int j0, const double s[4][2]) {
    for (int a = 0; a < 4; a++)
        for (int b = 0; b < 2; b++) G[(size_t)(i0 + a) * n + j0 + b] = G[(size_t)(j0 + b) * n + i0 + a] = s[a][b];
}

static void tile_portable(const double *x, int n, int d, int i0, int j0, double *G) {
    const double *a0 = x + (size_t)i0 * d, *a1 = a0 + d, *a2 = a1 + d, *a3 = a2 + d;
    const double *b0 = x + (size_t)j0 * d, *b1 = b0 + d;
    double s00 = 0, s01 = 0, s10 = 0, s11 = 0, s20 = 0, s21 = 0, s30 = 0, s31 = 0;
#pragma omp simd reduction(+ : s00, s01, s10, s11, s20, s21, s30, s31)
    for (int q = 0; q < d; q++) {
        double v0 = b0[q], v1 = b1[q];
        s00 += a0[q] * v0, s01 += a0[q] * v1;
        s10 += a1[q] * v0, s11 += a1[q] * v1;
        s20 += a2[q] * v0, s21 += a2[q] * v1;
        s30 += a3[q] * v0, s31 += a3[q] * v1;
    }
    const double s[4][2] = {{s00, s01}, {s10, s11}, {s20, s21}, {s30, s31}};
    store_tile(G, n, i0, j0, s);
}

__attribute__((target("avx2,fma"))) static double hsum(__m256d v) {
    __m128d lo = _mm256_castpd256_pd128(v), hi = _mm256_extractf128_pd(v, 1);
    lo = _mm_add_pd(lo, hi);
    return _mm_cvtsd_f64(_mm_add_sd(lo, _mm_unpackhi_pd(lo, lo)));
}

__attribute__((target("avx2,fma"))) static void tile_avx2(const double *x, int n, int d, int i0, int j0, double *G) {
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
    double s[4][2] = {{hsum(s00), hsum(s01)}, {hsum(s10), hsum(s11)}, {hsum(s20), hsum(s21)}, {hsum(s30), hsum(s31)}};
    const double *rows[4] = {a0, a1, a2, a3};
    for (; q < d; q++)
        for (int a = 0; a < 4; a++) s[a][0] += rows[a][q] * b0[q], s[a][1] += rows[a][q] * b1[q];
    store_tile(G, n, i0, j0, s);
}

int fc_gram_compute(const float *x, int n, int d, double *G, int threads, fc_gram_impl impl, fc_error *err) {
    if (n < 1 || d < 0 || !x || !G) return fc_fail(err, FC_EINVAL, "gram: bad arguments (n %d, d %d)", n, d);
    const char *isa = fc_kernels_best()->name;
    int have_avx2 = !strcmp(isa, "avx2") || !strcmp(isa, "avx512");
    if (impl == FC_GRAM_AVX2 && !have_avx2) return fc_fail(err, FC_EUNSUPPORTED, "gram: this CPU has no AVX2+FMA");
    int avx2 = impl == FC_GRAM_AVX2 || (impl == FC_GRAM_AUTO && have_avx2);
    double *xd = malloc((size_t)n * d * sizeof *xd + 8);
    if (!xd) return fc_fail(err, FC_ENOMEM, "gram: out of memory for %d x %d doubles", n, d);
    for (size_t q = 0; q < (size_t)n * d; q++) xd[q] = x[q];
    if (threads <= 0) threads = omp_get_max_threads();
    int blocks = (n + 3) / 4;
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1) if ((double)n * n * d > 4e6)
    for (int blk = blocks - 1; blk >= 0; blk--) { /* largest blocks first */
        int i0 = 4 * blk, ni = n - i0 < 4 ? n - i0 : 4;
        for (int j0 = 0; j0 < i0 + ni; j0 += 2) {
            int nj = n - j0 < 2 ? n - j0 : 2;
            if (ni < 4 || nj < 2) tile_edge(xd, n, d, i0, ni, j0, nj, G);
            else if (avx2) tile_avx2(xd, n, d, i0, j0, G);
            else tile_portable(xd, n, d, i0, j0, G);
        }
    }
    free(xd);
    return 0;
}
