/* Optimizer steps on one parameter tensor: SGD with momentum and (coupled) weight decay, AdamW with
 * decoupled weight decay, both as PyTorch defines them, with a per-tensor learning-rate scale.
 * Elementwise, OpenMP over fixed blocks; AdamW's block has an AVX2 twin (optim-avx2.c: a square
 * root per element keeps the C loop scalar, errno) with the same operations, bitwise.
 * Reproducibility: exact per element, independent of the thread count. Not here: learning-rate
 * schedules, gradient clipping (the trainer's). */
#include <math.h>

#include "engine/train/internal.h"
#include "engine/train/optim.h"

static int finite_nonneg(float x) { return isfinite(x) && x >= 0.0f; }

typedef struct sgd_job {
    float *param, *mom;
    const float *grad, *anchor;
    float lr, mu, wd, pull;
} sgd_job;

static void sgd_block(void *ctx, size_t i0, size_t len) {
    sgd_job *j = ctx;
    float *param = j->param + i0, *mom = j->mom + i0, lr = j->lr, mu = j->mu, wd = j->wd, pull = j->pull;
    const float *grad = j->grad + i0;
    if (j->anchor) {
        const float *anchor = j->anchor + i0;
#pragma omp simd
        for (size_t i = 0; i < len; i++) {
            float g = grad[i] + wd * param[i] + pull * (param[i] - anchor[i]);
            mom[i] = mu * mom[i] + g;
            param[i] -= lr * mom[i];
        }
        return;
    }
#pragma omp simd
    for (size_t i = 0; i < len; i++) {
        float g = grad[i] + wd * param[i];
        mom[i] = mu * mom[i] + g;
        param[i] -= lr * mom[i];
    }
}

int fc_sgd_step(fc_train_ws *ws, float *param, float *mom, const float *grad, size_t n,
                const fc_sgd *opt, float lr_scale, fc_error *err) {
    // param, mom, grad are (n)
    int rc;
    if ((rc = fc_train_check_count("sgd", n, err)) || (rc = fc_train_need(param, "sgd", "param", err)) ||
        (rc = fc_train_need(mom, "sgd", "mom", err)) || (rc = fc_train_need(grad, "sgd", "grad", err)) ||
        (rc = fc_train_need(opt, "sgd", "opt", err)))
        return rc;
    if (!finite_nonneg(opt->lr) || !finite_nonneg(lr_scale) || !finite_nonneg(opt->weight_decay) ||
        !(opt->momentum >= 0.0f && opt->momentum < 1.0f) || !finite_nonneg(opt->anchor_decay))
        return fc_fail(err, FC_EINVAL, "sgd: lr %g, lr_scale %g, momentum %g, weight decay %g, anchor decay %g",
                       opt->lr, lr_scale, opt->momentum, opt->weight_decay, opt->anchor_decay);
    sgd_job job = {param, mom, grad, opt->anchor, opt->lr * lr_scale, opt->momentum, opt->weight_decay,
                   opt->anchor_decay};
    fc_train_for_blocks(ws, n, sgd_block, &job);
    return 0;
}

void fc_adamw_block_generic(float *param, float *m, float *v, const float *grad, const float *anchor, size_t n,
                            const fc_adamw_consts *k) {
    float b1 = k->b1, b2 = k->b2, eps = k->eps, decay = k->decay, step = k->step, bc2 = k->bc2;
    for (size_t i = 0; i < n; i++) {
        float g = anchor ? grad[i] + k->pull * (param[i] - anchor[i]) : grad[i];
        float p = param[i] * decay, mi = m[i] + (1.0f - b1) * (g - m[i]);
        float vi = b2 * v[i] + (1.0f - b2) * g * g;
        param[i] = p - step * (mi / (sqrtf(vi) / bc2 + eps));
        m[i] = mi, v[i] = vi;
    }
}

typedef struct adamw_job {
    float *param, *m, *v;
    const float *grad, *anchor;
    const fc_adamw_consts *k;
    void (*fn)(float *, float *, float *, const float *, const float *, size_t, const fc_adamw_consts *);
} adamw_job;

static void adamw_block(void *ctx, size_t i0, size_t len) {
    adamw_job *j = ctx;
    j->fn(j->param + i0, j->m + i0, j->v + i0, j->grad + i0, j->anchor ? j->anchor + i0 : NULL, len, j->k);
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
        !(opt->eps > 0.0f) || t < 1 || !finite_nonneg(opt->anchor_decay))
        return fc_fail(err, FC_EINVAL, "adamw: lr %g, lr_scale %g, betas %g %g, eps %g, decay %g, anchor decay %g, step %ld",
                       opt->lr, lr_scale, opt->beta1, opt->beta2, opt->eps, opt->weight_decay, opt->anchor_decay, t);
    float lr = opt->lr * lr_scale;
    fc_adamw_consts k = {opt->beta1, opt->beta2, opt->eps, 1.0f - lr * opt->weight_decay,
                         (float)(lr / (1.0 - pow(opt->beta1, (double)t))),
                         (float)sqrt(1.0 - pow(opt->beta2, (double)t)), opt->anchor_decay};
    adamw_job job = {param, m, v, grad, opt->anchor, &k,
                     fc_train_use_avx2(ws) ? fc_adamw_block_avx2 : fc_adamw_block_generic};
    fc_train_for_blocks(ws, n, adamw_block, &job);
    return 0;
}
