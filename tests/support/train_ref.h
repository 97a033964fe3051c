/* Plain scalar reference twins of the training ops (engine/train): the simplest loops, double
 * accumulation, no threads, for tests/engine/test_train_ops.c to compare the optimized ops with.
 * Same argument order as the ops (outputs first); backward functions overwrite their gradients,
 * NULL gradients are skipped. Geometry from engine/train/train_ops.h (fc_win2d, fc_act).
 * Not here: argument checking (the callers pass valid shapes). */
#ifndef FC_TRAIN_REF_H
#define FC_TRAIN_REF_H

#include <stddef.h>

#include "engine/train/train_ops.h"

/* Test data: a fixed linear congruential sequence; ref_rng is its state (tests seed it). */
extern unsigned ref_rng;
float ref_frand(void);    /* uniform in [-1, 1) */
float *ref_rnd(size_t n); /* n values of ref_frand, malloc'd; aborts when out of memory */
float *ref_zeros(size_t n);
/* max |a - r| / max |r| (absolute when every |r| is below 1e-6); NaN counts as the largest error */
double ref_rel_err(const float *a, const float *r, size_t n);

void ref_conv2d_forward(float *out, const float *inp, const float *weight, const float *bias, int N,
                        int C, int H, int W, int OC, int groups, const fc_win2d *w);
void ref_conv2d_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                         const float *inp, const float *weight, int N, int C, int H, int W, int OC,
                         int groups, const fc_win2d *w);

void ref_linear_forward(float *out, const float *inp, const float *weight, const float *bias, int B,
                        int IC, int OC);
void ref_linear_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                         const float *inp, const float *weight, int B, int IC, int OC);

/* act(x) and act'(x) of one value, in double. */
double ref_act(const fc_act *act, double x);
double ref_act_grad(const fc_act *act, double x);

void ref_mulc_forward(float *out, const float *inp, const float *scale, int N, int C, int HW);
void ref_mulc_backward(float *dinp, float *dscale, const float *dout, const float *inp,
                       const float *scale, int N, int C, int HW);

void ref_avgpool_forward(float *out, const float *inp, int N, int C, int H, int W, const fc_win2d *w,
                         int include_pad);
void ref_avgpool_backward(float *dinp, const float *dout, int N, int C, int H, int W,
                          const fc_win2d *w, int include_pad);
void ref_maxpool_forward(float *out, const float *inp, int N, int C, int H, int W, const fc_win2d *w);
void ref_maxpool_backward(float *dinp, const float *dout, const float *inp, int N, int C, int H,
                          int W, const fc_win2d *w);

void ref_batchnorm_forward(float *out, float *mean, float *rstd, float *running_mean,
                           float *running_var, const float *inp, const float *gamma,
                           const float *beta, int N, int C, int HW, float eps, float momentum);
void ref_batchnorm_backward(float *dinp, float *dgamma, float *dbeta, const float *dout,
                            const float *inp, const float *gamma, int N, int C, int HW, float eps);

float ref_crossentropy_forward(float *probs, const float *logits, const int *targets, int B, int K);
void ref_crossentropy_backward(float *dlogits, const float *logits, const int *targets, int B, int K);

void ref_sgd_step(float *param, float *mom, const float *grad, size_t n, const fc_sgd *o, float scale);
void ref_adamw_step(float *param, float *m, float *v, const float *grad, size_t n, const fc_adamw *o,
                    long t, float scale);

#endif
