/* BatchNorm forward and backward, training mode (batch statistics, running-statistics update) and
 * inference mode (running statistics as constants), NCHW with the statistics per channel over
 * N*HW. Sums run in double over fixed-order float partial sums (fc_train_sum, fc_train_dot);
 * normalization is y = x * scale + shift with scale = gamma * rstd, shift = beta - mean * scale.
 * OpenMP over channels. Reproducibility: each channel in one thread in (image, pixel) order:
 * bitwise independent of the thread count. Not here: other normalizations, fused activations. */
#include <math.h>

#include "engine/train/internal.h"

static int bn_check(int N, int C, int HW, fc_error *err) {
    int sizes[] = {N, C, HW};
    return fc_train_check_sizes("batchnorm", 3, sizes, err);
}

/* Sum over the channel's N planes of x - m and of (x - m)^2 (m subtracted in float). */
static void centered_sums(const float *x, int N, int C, int HW, int c, float m, double *s1,
                          double *s2) {
    float d[256];
    double a = 0, b = 0;
    for (int n = 0; n < N; n++) {
        const float *p = x + ((size_t)n * C + c) * HW;
        for (int i0 = 0; i0 < HW; i0 += 256) {
            int len = HW - i0 < 256 ? HW - i0 : 256;
#pragma omp simd
            for (int i = 0; i < len; i++) d[i] = p[i0 + i] - m;
            a += fc_train_sum(d, len);
            b += fc_train_dot(d, d, len);
        }
    }
    *s1 = a, *s2 = b;
}

/* y = x * scale + shift over the channel's planes. */
static void affine(float *y, const float *x, int N, int C, int HW, int c, float scale, float shift) {
    for (int n = 0; n < N; n++) {
        size_t at = ((size_t)n * C + c) * HW;
#pragma omp simd
        for (int i = 0; i < HW; i++) y[at + i] = x[at + i] * scale + shift;
    }
}

int fc_batchnorm_forward(fc_train_ws *ws, float *out, float *mean, float *rstd, float *running_mean,
                         float *running_var, const float *inp, const float *gamma,
                         const float *beta, int N, int C, int HW, float eps, float momentum,
                         fc_error *err) {
    // inp is (N,C,HW), gamma, beta, running_* are (C); out will be (N,C,HW), mean, rstd (C)
    int rc;
    if ((rc = bn_check(N, C, HW, err)) || (rc = fc_train_need(out, "batchnorm", "out", err)) ||
        (rc = fc_train_need(mean, "batchnorm", "mean", err)) ||
        (rc = fc_train_need(rstd, "batchnorm", "rstd", err)) ||
        (rc = fc_train_need(inp, "batchnorm", "inp", err)) ||
        (rc = fc_train_need(gamma, "batchnorm", "gamma", err)) ||
        (rc = fc_train_need(beta, "batchnorm", "beta", err)))
        return rc;
    if (!(eps > 0) || !(momentum >= 0 && momentum <= 1) || !running_mean != !running_var)
        return fc_fail(err, FC_EINVAL, "batchnorm: eps %g, momentum %g or running statistics", eps,
                       momentum);
    double M = (double)N * HW;
#pragma omp parallel for num_threads(fc_train_threads(ws, (size_t)N * C * HW)) schedule(static)
    for (int c = 0; c < C; c++) {
        double s1, s2, s0 = 0;
        for (int n = 0; n < N; n++) s0 += fc_train_sum(inp + ((size_t)n * C + c) * HW, HW);
        float m0 = (float)(s0 / M);
        centered_sums(inp, N, C, HW, c, m0, &s1, &s2); /* second pass: exact variance */
        double mu = m0 + s1 / M, var = s2 / M - (s1 / M) * (s1 / M);
        if (var < 0) var = 0;
        float r = (float)(1.0 / sqrt(var + eps)), scale = gamma[c] * r;
        mean[c] = (float)mu, rstd[c] = r;
        affine(out, inp, N, C, HW, c, scale, beta[c] - (float)mu * scale);
        if (running_mean) {
            double unbiased = M > 1 ? var * M / (M - 1) : var;
            running_mean[c] = (float)((1.0 - momentum) * running_mean[c] + momentum * mu);
            running_var[c] = (float)((1.0 - momentum) * running_var[c] + momentum * unbiased);
        }
    }
    return 0;
}

/* Per channel: dbeta = sum dy, dgamma = sum dy * (x - m) * r; then, when dinp is wanted,
 * dinp = a * dy + b * (x - m) + e with the training or eval coefficients. */
static void bn_backward_channel(float *dinp, float *dgamma, float *dbeta, const float *dout,
                                const float *inp, int N, int C, int HW, int c, float m, float r,
                                float g, int train) {
    double sdy = 0, sdyx = 0, M = (double)N * HW;
    for (int n = 0; n < N; n++) {
        size_t at = ((size_t)n * C + c) * HW;
        sdy += fc_train_sum(dout + at, HW);
        sdyx += fc_train_dot(dout + at, inp + at, HW);
    }
    sdyx -= m * sdy; /* sum dy * (x - m) */
    if (dbeta) dbeta[c] = (float)sdy;
    if (dgamma) dgamma[c] = (float)(sdyx * r);
    if (!dinp) return;
    /* training: dx = g r (dy - sdy/M - (x - m) r^2 sdyx/M); eval: dx = g r dy */
    float a = g * r;
    float b = train ? (float)(-(double)g * r * r * r * sdyx / M) : 0.0f;
    float e = train ? (float)(-(double)g * r * sdy / M) : 0.0f;
    for (int n = 0; n < N; n++) {
        size_t at = ((size_t)n * C + c) * HW;
#pragma omp simd
        for (int i = 0; i < HW; i++) dinp[at + i] = a * dout[at + i] + b * (inp[at + i] - m) + e;
    }
}

static int bn_backward(fc_train_ws *ws, float *dinp, float *dgamma, float *dbeta, const float *dout,
                       const float *inp, const float *mean, const float *rstd, const float *gamma,
                       int N, int C, int HW, int train, fc_error *err) {
    int rc;
    if ((rc = bn_check(N, C, HW, err)) || (rc = fc_train_need(dout, "batchnorm", "dout", err)) ||
        (rc = fc_train_need(inp, "batchnorm", "inp", err)) ||
        (dinp && (rc = fc_train_need(gamma, "batchnorm", "gamma", err))))
        return rc;
#pragma omp parallel for num_threads(fc_train_threads(ws, (size_t)N * C * HW)) schedule(static)
    for (int c = 0; c < C; c++)
        bn_backward_channel(dinp, dgamma, dbeta, dout, inp, N, C, HW, c, mean[c], rstd[c],
                            gamma ? gamma[c] : 0.0f, train);
    return 0;
}

int fc_batchnorm_backward(fc_train_ws *ws, float *dinp, float *dgamma, float *dbeta,
                          const float *dout, const float *inp, const float *mean, const float *rstd,
                          const float *gamma, int N, int C, int HW, fc_error *err) {
    // dout, inp are (N,C,HW), mean, rstd, gamma are (C); dinp will be (N,C,HW), dgamma, dbeta (C)
    int rc;
    if ((rc = fc_train_need(mean, "batchnorm", "mean", err)) ||
        (rc = fc_train_need(rstd, "batchnorm", "rstd", err)))
        return rc;
    return bn_backward(ws, dinp, dgamma, dbeta, dout, inp, mean, rstd, gamma, N, C, HW, 1, err);
}

/* *r = the scratch (C floats) holding 1/sqrt(running_var[c] + eps). */
static int eval_rstd(fc_train_ws *ws, const float *running_var, int C, float eps, float **r,
                     fc_error *err) {
    if (!(eps > 0)) return fc_fail(err, FC_EINVAL, "batchnorm: eps %g", eps);
    if (!(*r = fc_train_scratch(ws, (size_t)C, err))) return FC_ENOMEM;
    for (int c = 0; c < C; c++) (*r)[c] = (float)(1.0 / sqrt((double)running_var[c] + eps));
    return 0;
}

int fc_batchnorm_eval_forward(fc_train_ws *ws, float *out, const float *inp, const float *gamma,
                              const float *beta, const float *running_mean,
                              const float *running_var, int N, int C, int HW, float eps,
                              fc_error *err) {
    // inp is (N,C,HW), gamma, beta, running_* are (C); out will be (N,C,HW)
    int rc;
    if ((rc = bn_check(N, C, HW, err)) || (rc = fc_train_need(out, "batchnorm", "out", err)) ||
        (rc = fc_train_need(inp, "batchnorm", "inp", err)) ||
        (rc = fc_train_need(gamma, "batchnorm", "gamma", err)) ||
        (rc = fc_train_need(beta, "batchnorm", "beta", err)) ||
        (rc = fc_train_need(running_mean, "batchnorm", "running_mean", err)) ||
        (rc = fc_train_need(running_var, "batchnorm", "running_var", err)))
        return rc;
    float *r;
    if ((rc = eval_rstd(ws, running_var, C, eps, &r, err))) return rc;
#pragma omp parallel for num_threads(fc_train_threads(ws, (size_t)N * C * HW)) schedule(static)
    for (int c = 0; c < C; c++) {
        float scale = gamma[c] * r[c];
        affine(out, inp, N, C, HW, c, scale, beta[c] - running_mean[c] * scale);
    }
    return 0;
}

int fc_batchnorm_eval_backward(fc_train_ws *ws, float *dinp, float *dgamma, float *dbeta,
                               const float *dout, const float *inp, const float *gamma,
                               const float *running_mean, const float *running_var, int N, int C,
                               int HW, float eps, fc_error *err) {
    // dout, inp are (N,C,HW), gamma, running_* are (C); dinp will be (N,C,HW), dgamma, dbeta (C)
    int rc;
    if ((rc = bn_check(N, C, HW, err)) ||
        (rc = fc_train_need(running_mean, "batchnorm", "running_mean", err)) ||
        (rc = fc_train_need(running_var, "batchnorm", "running_var", err)))
        return rc;
    float *r;
    if ((rc = eval_rstd(ws, running_var, C, eps, &r, err))) return rc;
    return bn_backward(ws, dinp, dgamma, dbeta, dout, inp, running_mean, r, gamma, N, C, HW, 0, err);
}
