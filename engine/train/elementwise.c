/* Add (same shape: the residual, and the sum of two gradients) and Mul with a per-plane scale (N,C,HW)
 * x (N,C) (squeeze-and-excitation), forward and backward. Loops vectorize (omp simd: GCC's -O2 cost
 * model leaves loops of unknown length scalar); OpenMP over fixed blocks or rows.
 * Reproducibility: elementwise results are exact per element; dscale sums each plane in one thread in
 * a fixed order. Bitwise independent of the thread count. Not here: activations (act.c). */
#include <string.h>

#include "engine/train/internal.h"

/* out = a op b elementwise, over blocks of the same shape */
typedef struct pair_job {
    float *out;
    const float *a, *b;
} pair_job;

static void add_block(void *ctx, size_t i0, size_t len) {
    pair_job *j = ctx;
    float *out = j->out + i0;
    const float *a = j->a + i0, *b = j->b + i0;
#pragma omp simd
    for (size_t i = 0; i < len; i++) out[i] = a[i] + b[i];
}

static void mul_block(void *ctx, size_t i0, size_t len) {
    pair_job *j = ctx;
    float *out = j->out + i0;
    const float *a = j->a + i0, *b = j->b + i0;
#pragma omp simd
    for (size_t i = 0; i < len; i++) out[i] = a[i] * b[i];
}

void fc_train_mul_same(fc_train_ws *ws, float *out, const float *a, const float *b, size_t n) {
    pair_job job = {out, a, b};
    fc_train_for_blocks(ws, n, mul_block, &job);
}

int fc_add_forward(fc_train_ws *ws, float *out, const float *a, const float *b, size_t n,
                   fc_error *err) {
    // a, b are (n); out will be (n)
    int rc;
    if ((rc = fc_train_check_count("add", n, err)) || (rc = fc_train_need(out, "add", "out", err)) ||
        (rc = fc_train_need(a, "add", "a", err)) || (rc = fc_train_need(b, "add", "b", err)))
        return rc;
    pair_job job = {out, a, b};
    fc_train_for_blocks(ws, n, add_block, &job);
    return 0;
}

int fc_add_backward(fc_train_ws *ws, float *da, float *db, const float *dout, size_t n,
                    fc_error *err) {
    // dout is (n); da, db will be (n)
    int rc;
    if ((rc = fc_train_check_count("add", n, err)) || (rc = fc_train_need(dout, "add", "dout", err)))
        return rc;
    if (da && da != dout) memcpy(da, dout, sizeof(float) * n);
    if (db && db != dout) memcpy(db, dout, sizeof(float) * n);
    return 0;
}

static int mulc_check(int N, int C, int HW, fc_error *err) {
    int sizes[] = {N, C, HW};
    return fc_train_check_sizes("mulc", 3, sizes, err);
}

int fc_mulc_forward(fc_train_ws *ws, float *out, const float *inp, const float *scale, int N, int C,
                    int HW, fc_error *err) {
    // inp is (N,C,HW), scale is (N,C); out will be (N,C,HW)
    int rc;
    if ((rc = mulc_check(N, C, HW, err)) || (rc = fc_train_need(out, "mulc", "out", err)) ||
        (rc = fc_train_need(inp, "mulc", "inp", err)) ||
        (rc = fc_train_need(scale, "mulc", "scale", err)))
        return rc;
    int planes = N * C;
#pragma omp parallel for num_threads(fc_train_threads(ws, (size_t)planes * HW)) schedule(static)
    for (int p = 0; p < planes; p++) {
        const float *x = inp + (size_t)p * HW;
        float *y = out + (size_t)p * HW, s = scale[p];
#pragma omp simd
        for (int i = 0; i < HW; i++) y[i] = x[i] * s;
    }
    return 0;
}

int fc_mulc_backward(fc_train_ws *ws, float *dinp, float *dscale, const float *dout,
                     const float *inp, const float *scale, int N, int C, int HW, fc_error *err) {
    // dout is (N,C,HW); dinp will be (N,C,HW), dscale (N,C)
    int rc;
    if ((rc = mulc_check(N, C, HW, err)) || (rc = fc_train_need(dout, "mulc", "dout", err)) ||
        (dinp && (rc = fc_train_need(scale, "mulc", "scale", err))) ||
        (dscale && (rc = fc_train_need(inp, "mulc", "inp", err))))
        return rc;
    int planes = N * C;
#pragma omp parallel for num_threads(fc_train_threads(ws, (size_t)planes * HW)) schedule(static)
    for (int p = 0; p < planes; p++) {
        const float *dy = dout + (size_t)p * HW;
        if (dscale) dscale[p] = (float)fc_train_dot(dy, inp + (size_t)p * HW, HW);
        if (dinp) {
            float *dx = dinp + (size_t)p * HW, s = scale[p];
#pragma omp simd
            for (int i = 0; i < HW; i++) dx[i] = dy[i] * s;
        }
    }
    return 0;
}
