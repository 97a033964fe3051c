/* Small dense vector helpers in double for the solvers (softmax.c, lbfgs.c): dot products with
 * eight independent partial sums held in four 2-lane vectors (GCC vector extensions, so SSE2 code
 * on any x86-64 without -ffast-math: the adds are not one long latency chain) and axpy. The
 * summation order is fixed by the code, so results are reproducible. Not here: matrices,
 * threading, float accumulation. */
#ifndef FC_CLASSIFY_VEC_H
#define FC_CLASSIFY_VEC_H

#include <string.h>

typedef double fc_v2d __attribute__((vector_size(16)));

static inline fc_v2d fc_v2d_load(const double *p) {
    fc_v2d v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline fc_v2d fc_v2d_load_f(const float *p) { return (fc_v2d){p[0], p[1]}; }

static inline double fc_v2d_total(fc_v2d a, fc_v2d b, fc_v2d c, fc_v2d d) {
    fc_v2d s = (a + c) + (b + d);
    return s[0] + s[1];
}

/* sum_i a[i] * b[i] (a, b (n)). */
static inline double fc_vec_dot(const double *a, const double *b, int n) {
    fc_v2d s0 = {0, 0}, s1 = s0, s2 = s0, s3 = s0;
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        s0 += fc_v2d_load(a + i) * fc_v2d_load(b + i);
        s1 += fc_v2d_load(a + i + 2) * fc_v2d_load(b + i + 2);
        s2 += fc_v2d_load(a + i + 4) * fc_v2d_load(b + i + 4);
        s3 += fc_v2d_load(a + i + 6) * fc_v2d_load(b + i + 6);
    }
    double t = fc_v2d_total(s0, s1, s2, s3);
    for (; i < n; i++) t += a[i] * b[i];
    return t;
}

/* sum_i a[i] * b[i] with float a (n), double b (n). */
static inline double fc_vec_dot_fd(const float *a, const double *b, int n) {
    fc_v2d s0 = {0, 0}, s1 = s0, s2 = s0, s3 = s0;
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        s0 += fc_v2d_load_f(a + i) * fc_v2d_load(b + i);
        s1 += fc_v2d_load_f(a + i + 2) * fc_v2d_load(b + i + 2);
        s2 += fc_v2d_load_f(a + i + 4) * fc_v2d_load(b + i + 4);
        s3 += fc_v2d_load_f(a + i + 6) * fc_v2d_load(b + i + 6);
    }
    double t = fc_v2d_total(s0, s1, s2, s3);
    for (; i < n; i++) t += (double)a[i] * b[i];
    return t;
}

/* sum_i a[i] * b[i] of two float vectors, products and sums in double (same lane order). */
static inline double fc_vec_dot_ff(const float *a, const float *b, int n) {
    fc_v2d s0 = {0, 0}, s1 = s0, s2 = s0, s3 = s0;
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        s0 += fc_v2d_load_f(a + i) * fc_v2d_load_f(b + i);
        s1 += fc_v2d_load_f(a + i + 2) * fc_v2d_load_f(b + i + 2);
        s2 += fc_v2d_load_f(a + i + 4) * fc_v2d_load_f(b + i + 4);
        s3 += fc_v2d_load_f(a + i + 6) * fc_v2d_load_f(b + i + 6);
    }
    double t = fc_v2d_total(s0, s1, s2, s3);
    for (; i < n; i++) t += (double)a[i] * b[i];
    return t;
}

static inline void fc_v2d_store(double *p, fc_v2d v) { memcpy(p, &v, sizeof v); }

/* y (n) += a * x (n). */
static inline void fc_vec_axpy(double *y, double a, const double *x, int n) {
    fc_v2d va = {a, a};
    int i = 0;
    for (; i + 4 <= n; i += 4) {
        fc_v2d y0 = fc_v2d_load(y + i) + va * fc_v2d_load(x + i);
        fc_v2d y1 = fc_v2d_load(y + i + 2) + va * fc_v2d_load(x + i + 2);
        fc_v2d_store(y + i, y0);
        fc_v2d_store(y + i + 2, y1);
    }
    for (; i < n; i++) y[i] += a * x[i];
}

/* y (n) += a * x (n), float x. */
static inline void fc_vec_axpy_fd(double *y, double a, const float *x, int n) {
    fc_v2d va = {a, a};
    int i = 0;
    for (; i + 4 <= n; i += 4) {
        fc_v2d y0 = fc_v2d_load(y + i) + va * fc_v2d_load_f(x + i);
        fc_v2d y1 = fc_v2d_load(y + i + 2) + va * fc_v2d_load_f(x + i + 2);
        fc_v2d_store(y + i, y0);
        fc_v2d_store(y + i + 2, y1);
    }
    for (; i < n; i++) y[i] += a * (double)x[i];
}

#endif
