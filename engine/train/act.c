/* Activations forward and backward: Relu, Clip (ReLU6), Sigmoid, HardSigmoid, HardSwish, SiLU. The
 * forward is the engine's activation kernel (fc_kernels act, vectorized, the inference bits); the
 * backward is one vectorizable loop per kind, with sigmoid values taken from the same kernel.
 * OpenMP over fixed blocks of FC_TRAIN_BLOCK floats. Reproducibility: elementwise, exact per element
 * for a given kernel table; independent of the thread count. Not here: LeakyRelu (not trained). */
#include "engine/train/internal.h"

/* Selects between computed floats vectorize only when comparisons may not trap (the library never
 * reads the floating-point exception flags). */
#pragma GCC optimize("no-trapping-math")

#define SUB 512 /* floats of sigmoid values computed at a time (stack) */

static int act_check(const fc_act *act, size_t n, fc_error *err) {
    int rc = fc_train_check_count("act", n, err);
    if (rc || (rc = fc_train_need(act, "act", "act", err))) return rc;
    switch (act->kind) {
    case FC_ACT_CLIP:
        if (!(act->a <= act->b)) return fc_fail(err, FC_EINVAL, "act: Clip min %g > max %g", act->a, act->b);
        return 0;
    case FC_ACT_RELU: case FC_ACT_SIGMOID: case FC_ACT_HARDSIGMOID: case FC_ACT_HARDSWISH:
    case FC_ACT_SILU:
        return 0;
    }
    return fc_fail(err, FC_EINVAL, "act: kind %d is not a trainable activation", act->kind);
}

/* One call's buffers: x = inp, dy = dout (backward), y = out or dinp. */
typedef struct act_job {
    const fc_kernels *k;
    const fc_act *act;
    const float *x, *dy;
    float *y;
} act_job;

static void forward_block(void *ctx, size_t i0, size_t len) {
    act_job *j = ctx;
    j->k->act(j->act, j->x + i0, j->y + i0, len);
}

int fc_act_forward(fc_train_ws *ws, float *out, const float *inp, size_t n, const fc_act *act,
                   fc_error *err) {
    // inp is (n); out will be (n)
    int rc;
    if ((rc = act_check(act, n, err)) || (rc = fc_train_need(out, "act", "out", err)) ||
        (rc = fc_train_need(inp, "act", "inp", err)))
        return rc;
    act_job job = {ws->k, act, inp, NULL, out};
    fc_train_for_blocks(ws, n, forward_block, &job);
    return 0;
}

/* dx = dy * sigmoid'(x) (silu == 0) or dy * silu'(x) for n <= SUB elements; s from the kernel. */
static void sigmoid_grad(const fc_kernels *k, int silu, const float *x, const float *dy, float *dx,
                         size_t n) {
    float s[SUB];
    fc_act sig = {FC_ACT_SIGMOID, 0, 0};
    k->act(&sig, x, s, n);
    if (silu) {
#pragma omp simd
        for (size_t i = 0; i < n; i++) dx[i] = dy[i] * (s[i] * (1.0f + x[i] * (1.0f - s[i])));
    } else {
#pragma omp simd
        for (size_t i = 0; i < n; i++) dx[i] = dy[i] * (s[i] * (1.0f - s[i]));
    }
}

/* One block of the backward: a loop per kind, so that each one vectorizes (omp simd: GCC's -O2 cost
 * model leaves loops of unknown length scalar); selects, not branches. */
static void grad_block(const fc_kernels *k, const fc_act *act, const float *x, const float *dy,
                       float *dx, size_t n) {
    float a = act->a, b = act->b;
    switch (act->kind) {
    case FC_ACT_RELU:
#pragma omp simd
        for (size_t i = 0; i < n; i++) {
            float d = dy[i]; /* loaded unconditionally: a select, not a branch */
            dx[i] = x[i] <= 0.0f ? 0.0f : d;
        }
        break;
    case FC_ACT_CLIP:
#pragma omp simd
        for (size_t i = 0; i < n; i++) {
            float d = dy[i];
            dx[i] = (x[i] <= a) | (x[i] >= b) ? 0.0f : d;
        }
        break;
    case FC_ACT_HARDSIGMOID:
#pragma omp simd
        for (size_t i = 0; i < n; i++) {
            float v = a * x[i] + b, d = a * dy[i];
            d = v > 0.0f ? d : 0.0f;
            dx[i] = v < 1.0f ? d : 0.0f;
        }
        break;
    case FC_ACT_HARDSWISH:
#pragma omp simd
        for (size_t i = 0; i < n; i++) {
            float g = x[i] / 3.0f + 0.5f;
            g = x[i] <= 3.0f ? g : 1.0f;
            g = x[i] < -3.0f ? 0.0f : g;
            dx[i] = dy[i] * g;
        }
        break;
    default: /* sigmoid, SiLU */
        for (size_t i = 0; i < n; i += SUB)
            sigmoid_grad(k, act->kind == FC_ACT_SILU, x + i, dy + i, dx + i, n - i < SUB ? n - i : SUB);
    }
}

static void backward_block(void *ctx, size_t i0, size_t len) {
    act_job *j = ctx;
    grad_block(j->k, j->act, j->x + i0, j->dy + i0, j->y + i0, len);
}

int fc_act_backward(fc_train_ws *ws, float *dinp, const float *dout, const float *inp, size_t n,
                    const fc_act *act, fc_error *err) {
    // dout, inp are (n); dinp will be (n)
    int rc;
    if ((rc = act_check(act, n, err)) || (rc = fc_train_need(dinp, "act", "dinp", err)) ||
        (rc = fc_train_need(dout, "act", "dout", err)) || (rc = fc_train_need(inp, "act", "inp", err)))
        return rc;
    act_job job = {ws->k, act, inp, dout, dinp};
    fc_train_for_blocks(ws, n, backward_block, &job);
    return 0;
}
