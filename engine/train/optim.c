/* Optimizer steps on one parameter tensor: SGD with momentum and (coupled) weight decay, AdamW with
 * decoupled weight decay, both as PyTorch defines them, with a per-tensor learning-rate scale.
 * Elementwise, OpenMP over fixed blocks. Reproducibility: exact per element, independent of the
 * thread count. Not here: learning-rate schedules, gradient clipping (the trainer's). */
#include <math.h>

#include "engine/train/internal.h"

static int finite_nonneg(float x) { return isfinite(x) && x >= 0.0f; }

int fc_sgd_step(fc_train_ws *ws, float *param, float *mom, const float *grad, size_t n,
                const fc_sgd *opt, float lr_scale, fc_error *err) {
    // param, mom, grad are (n)
    int rc;
    if ((rc = fc_train_check_count("sgd", n, err)) || (rc = fc_train_need(param, "sgd", "param", err)) ||
        (rc = fc_train_need(mom, "sgd", "mom", err)) || (rc = fc_train_need(grad, "sgd", "grad", err)) ||
        (rc = fc_train_need(opt, "sgd", "opt", err)))
        return rc;
    if (!finite_nonneg(opt->lr) || !finite_nonneg(lr_scale) || !finite_nonneg(opt->weight_decay) ||
        !(opt->momentum >= 0.0f && opt->momentum < 1.0f))
        return fc_fail(err, FC_EINVAL, "sgd: lr %g, lr_scale %g, momentum %g, weight decay %g",
                       opt->lr, lr_scale, opt->momentum, opt->weight_decay);
    float lr = opt->lr * lr_scale, mu = opt->momentum, wd = opt->weight_decay;
    long blocks = (long)((n + FC_TRAIN_BLOCK - 1) / FC_TRAIN_BLOCK);
#pragma omp parallel for num_threads(fc_train_threads(ws, n)) schedule(static)
    for (long t = 0; t < blocks; t++) {
        size_t i0 = (size_t)t * FC_TRAIN_BLOCK, i1 = i0 + FC_TRAIN_BLOCK < n ? i0 + FC_TRAIN_BLOCK : n;
        for (size_t i = i0; i < i1; i++) {
            float g = grad[i] + wd * param[i];
            mom[i] = mu * mom[i] + g;
            param[i] -= lr * mom[i];
        }
    }
    return 0;
}

int fc_adamw_step(fc_train_ws *ws, float *param, float *m, float *v, const float *grad, size_t n,
                  const fc_adamw *opt, long t, float lr_scale, fc_error *err) {
    // param, m, v, grad are (n)
    int rc;
    if ((rc = fc_train_check_count("adamw", n, err)) ||
        (rc = fc_train_need(param, "adamw", "param", err)) || (rc = fc_train_need(m, "adamw", "m", err)) ||
        (rc = fc_train_need(v, "adamw", "v", err)) || (rc = fc_train_need(grad, "adamw", "grad", err)) ||
        (rc = fc_train_need(opt, "adamw", "opt", err)))
        return rc;
    if (!finite_nonneg(opt->lr) || !finite_nonneg(lr_scale) || !finite_nonneg(opt->weight_decay) ||
        !(opt->beta1 >= 0.0f && opt->beta1 < 1.0f) || !(opt->beta2 >= 0.0f && opt->beta2 < 1.0f) ||
        !(opt->eps > 0.0f) || t < 1)
        return fc_fail(err, FC_EINVAL, "adamw: lr %g, lr_scale %g, betas %g %g, eps %g, decay %g, step %ld",
                       opt->lr, lr_scale, opt->beta1, opt->beta2, opt->eps, opt->weight_decay, t);
    float lr = opt->lr * lr_scale, b1 = opt->beta1, b2 = opt->beta2, eps = opt->eps;
    float decay = 1.0f - lr * opt->weight_decay;
    float step = (float)(lr / (1.0 - pow(b1, (double)t)));
    float bc2 = (float)sqrt(1.0 - pow(b2, (double)t));
    long blocks = (long)((n + FC_TRAIN_BLOCK - 1) / FC_TRAIN_BLOCK);
#pragma omp parallel for num_threads(fc_train_threads(ws, n)) schedule(static)
    for (long b = 0; b < blocks; b++) {
        size_t i0 = (size_t)b * FC_TRAIN_BLOCK, i1 = i0 + FC_TRAIN_BLOCK < n ? i0 + FC_TRAIN_BLOCK : n;
        for (size_t i = i0; i < i1; i++) {
            float g = grad[i];
            param[i] *= decay;
            m[i] += (1.0f - b1) * (g - m[i]);
            v[i] = b2 * v[i] + (1.0f - b2) * g * g;
            param[i] -= step * (m[i] / (sqrtf(v[i]) / bc2 + eps));
        }
    }
    return 0;
}
