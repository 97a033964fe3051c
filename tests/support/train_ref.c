/* Reference twins of the training ops (train_ref.h): straight from the definitions, in double. */
#include "tests/support/train_ref.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int out_size(int n, int k, int s, int d, int p0, int p1) { return (n + p0 + p1 - d * (k - 1) - 1) / s + 1; }

void ref_conv2d_forward(float *out, const float *inp, const float *weight, const float *bias, int N,
                        int C, int H, int W, int OC, int groups, const fc_win2d *w) {
    int OH = out_size(H, w->kh, w->sh, w->dil_h, w->pt, w->pb), OW = out_size(W, w->kw, w->sw, w->dil_w, w->pl, w->pr);
    int Cg = C / groups, OCg = OC / groups;
    for (int n = 0; n < N; n++)
        for (int o = 0; o < OC; o++)
            for (int oy = 0; oy < OH; oy++)
                for (int ox = 0; ox < OW; ox++) {
                    double s = bias ? bias[o] : 0;
                    int g = o / OCg;
                    for (int c = 0; c < Cg; c++)
                        for (int i = 0; i < w->kh; i++)
                            for (int j = 0; j < w->kw; j++) {
                                int y = oy * w->sh - w->pt + i * w->dil_h, x = ox * w->sw - w->pl + j * w->dil_w;
                                if (y < 0 || y >= H || x < 0 || x >= W) continue;
                                s += (double)inp[(((size_t)n * C + g * Cg + c) * H + y) * W + x] *
                                     weight[(((size_t)o * Cg + c) * w->kh + i) * w->kw + j];
                            }
                    out[(((size_t)n * OC + o) * OH + oy) * OW + ox] = (float)s;
                }
}

void ref_conv2d_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                         const float *inp, const float *weight, int N, int C, int H, int W, int OC,
                         int groups, const fc_win2d *w) {
    int OH = out_size(H, w->kh, w->sh, w->dil_h, w->pt, w->pb), OW = out_size(W, w->kw, w->sw, w->dil_w, w->pl, w->pr);
    int Cg = C / groups, OCg = OC / groups;
    size_t ni = (size_t)N * C * H * W, nw = (size_t)OC * Cg * w->kh * w->kw;
    double *di = calloc(ni, sizeof(double)), *dw = calloc(nw, sizeof(double)), *db = calloc(OC, sizeof(double));
    for (int n = 0; n < N; n++)
        for (int o = 0; o < OC; o++)
            for (int oy = 0; oy < OH; oy++)
                for (int ox = 0; ox < OW; ox++) {
                    double d = dout[(((size_t)n * OC + o) * OH + oy) * OW + ox];
                    int g = o / OCg;
                    db[o] += d;
                    for (int c = 0; c < Cg; c++)
                        for (int i = 0; i < w->kh; i++)
                            for (int j = 0; j < w->kw; j++) {
                                int y = oy * w->sh - w->pt + i * w->dil_h, x = ox * w->sw - w->pl + j * w->dil_w;
                                if (y < 0 || y >= H || x < 0 || x >= W) continue;
                                size_t ii = (((size_t)n * C + g * Cg + c) * H + y) * W + x;
                                size_t wi = (((size_t)o * Cg + c) * w->kh + i) * w->kw + j;
                                di[ii] += d * weight[wi];
                                dw[wi] += d * inp[ii];
                            }
                }
    for (size_t i = 0; dinp && i < ni; i++) dinp[i] = (float)di[i];
    for (size_t i = 0; dweight && i < nw; i++) dweight[i] = (float)dw[i];
    for (int i = 0; dbias && i < OC; i++) dbias[i] = (float)db[i];
    free(di), free(dw), free(db);
}

void ref_linear_forward(float *out, const float *inp, const float *weight, const float *bias, int B,
                        int IC, int OC) {
    for (int b = 0; b < B; b++)
        for (int o = 0; o < OC; o++) {
            double s = bias ? bias[o] : 0;
            for (int i = 0; i < IC; i++) s += (double)inp[b * IC + i] * weight[o * IC + i];
            out[b * OC + o] = (float)s;
        }
}

void ref_linear_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                         const float *inp, const float *weight, int B, int IC, int OC) {
    for (int b = 0; dinp && b < B; b++)
        for (int i = 0; i < IC; i++) {
            double s = 0;
            for (int o = 0; o < OC; o++) s += (double)dout[b * OC + o] * weight[o * IC + i];
            dinp[b * IC + i] = (float)s;
        }
    for (int o = 0; o < OC; o++) {
        double sb = 0;
        for (int b = 0; b < B; b++) sb += dout[b * OC + o];
        if (dbias) dbias[o] = (float)sb;
        for (int i = 0; dweight && i < IC; i++) {
            double s = 0;
            for (int b = 0; b < B; b++) s += (double)dout[b * OC + o] * inp[b * IC + i];
            dweight[o * IC + i] = (float)s;
        }
    }
}

static double sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }

double ref_act(const fc_act *a, double x) {
    switch (a->kind) {
    case FC_ACT_RELU: return x > 0 ? x : 0;
    case FC_ACT_CLIP: return x < a->a ? a->a : x > a->b ? a->b : x;
    case FC_ACT_SIGMOID: return sigmoid(x);
    case FC_ACT_HARDSIGMOID: return fmax(0, fmin(1, a->a * x + a->b));
    case FC_ACT_HARDSWISH: return x * fmax(0, fmin(1, x / 6 + 0.5));
    case FC_ACT_SILU: return x * sigmoid(x);
    }
    return x;
}

double ref_act_grad(const fc_act *a, double x) {
    switch (a->kind) {
    case FC_ACT_RELU: return x > 0;
    case FC_ACT_CLIP: return x > a->a && x < a->b;
    case FC_ACT_SIGMOID: return sigmoid(x) * (1 - sigmoid(x));
    case FC_ACT_HARDSIGMOID: return a->a * x + a->b > 0 && a->a * x + a->b < 1 ? a->a : 0;
    case FC_ACT_HARDSWISH: return x < -3 ? 0 : x > 3 ? 1 : x / 3 + 0.5;
    case FC_ACT_SILU: return sigmoid(x) * (1 + x * (1 - sigmoid(x)));
    }
    return 1;
}

void ref_mulc_forward(float *out, const float *inp, const float *scale, int N, int C, int HW) {
    for (int p = 0; p < N * C; p++)
        for (int i = 0; i < HW; i++) out[p * HW + i] = inp[p * HW + i] * scale[p];
}

void ref_mulc_backward(float *dinp, float *dscale, const float *dout, const float *inp,
                       const float *scale, int N, int C, int HW) {
    for (int p = 0; p < N * C; p++) {
        double s = 0;
        for (int i = 0; i < HW; i++) {
            s += (double)dout[p * HW + i] * inp[p * HW + i];
            if (dinp) dinp[p * HW + i] = dout[p * HW + i] * scale[p];
        }
        if (dscale) dscale[p] = (float)s;
    }
}

/* Every tap (y, x) of output (oy, ox), including those in the padding (valid says which). */
#define FOR_TAPS(w, oy, ox)                                                                        \
    for (int i = 0; i < (w)->kh; i++)                                                              \
        for (int j = 0, y = (oy) * (w)->sh - (w)->pt + i, x; j < (w)->kw; j++)                     \
            if ((x = (ox) * (w)->sw - (w)->pl + j), 1)

void ref_avgpool_forward(float *out, const float *inp, int N, int C, int H, int W, const fc_win2d *w,
                         int include_pad) {
    int OH = out_size(H, w->kh, w->sh, 1, w->pt, w->pb), OW = out_size(W, w->kw, w->sw, 1, w->pl, w->pr);
    for (int p = 0; p < N * C; p++)
        for (int oy = 0; oy < OH; oy++)
            for (int ox = 0; ox < OW; ox++) {
                double s = 0;
                int cnt = 0;
                FOR_TAPS(w, oy, ox) {
                    int in = y >= 0 && y < H && x >= 0 && x < W;
                    int padded = y < H + w->pb && x < W + w->pr; /* inside the padded input */
                    if (in) s += inp[((size_t)p * H + y) * W + x];
                    cnt += include_pad ? padded : in;
                }
                out[((size_t)p * OH + oy) * OW + ox] = cnt ? (float)(s / cnt) : 0.0f;
            }
}

void ref_avgpool_backward(float *dinp, const float *dout, int N, int C, int H, int W,
                          const fc_win2d *w, int include_pad) {
    int OH = out_size(H, w->kh, w->sh, 1, w->pt, w->pb), OW = out_size(W, w->kw, w->sw, 1, w->pl, w->pr);
    memset(dinp, 0, sizeof(float) * N * C * H * W);
    for (int p = 0; p < N * C; p++)
        for (int oy = 0; oy < OH; oy++)
            for (int ox = 0; ox < OW; ox++) {
                int cnt = 0;
                FOR_TAPS(w, oy, ox) cnt += include_pad ? (y < H + w->pb && x < W + w->pr)
                                                       : (y >= 0 && y < H && x >= 0 && x < W);
                FOR_TAPS(w, oy, ox) if (y >= 0 && y < H && x >= 0 && x < W)
                    dinp[((size_t)p * H + y) * W + x] += dout[((size_t)p * OH + oy) * OW + ox] / cnt;
            }
}

/* Index of the first maximum of output (oy, ox)'s window (NaN beats numbers), -1 if none. */
static long ref_argmax(const float *plane, int H, int W, const fc_win2d *w, int oy, int ox) {
    long best = -1;
    FOR_TAPS(w, oy, ox) {
        if (y < 0 || y >= H || x < 0 || x >= W) continue;
        long at = (long)y * W + x;
        if (best < 0 || plane[at] > plane[best] || (isnan(plane[at]) && !isnan(plane[best]))) best = at;
    }
    return best;
}

void ref_maxpool_forward(float *out, const float *inp, int N, int C, int H, int W, const fc_win2d *w) {
    int OH = out_size(H, w->kh, w->sh, 1, w->pt, w->pb), OW = out_size(W, w->kw, w->sw, 1, w->pl, w->pr);
    for (int p = 0; p < N * C; p++)
        for (int oy = 0; oy < OH; oy++)
            for (int ox = 0; ox < OW; ox++)
                out[((size_t)p * OH + oy) * OW + ox] =
                    inp[(size_t)p * H * W + ref_argmax(inp + (size_t)p * H * W, H, W, w, oy, ox)];
}

void ref_maxpool_backward(float *dinp, const float *dout, const float *inp, int N, int C, int H,
                          int W, const fc_win2d *w) {
    int OH = out_size(H, w->kh, w->sh, 1, w->pt, w->pb), OW = out_size(W, w->kw, w->sw, 1, w->pl, w->pr);
    memset(dinp, 0, sizeof(float) * N * C * H * W);
    for (int p = 0; p < N * C; p++)
        for (int oy = 0; oy < OH; oy++)
            for (int ox = 0; ox < OW; ox++)
                dinp[(size_t)p * H * W + ref_argmax(inp + (size_t)p * H * W, H, W, w, oy, ox)] +=
                    dout[((size_t)p * OH + oy) * OW + ox];
}

/* mean and biased variance of channel c in double */
static void ref_moments(const float *x, int N, int C, int HW, int c, double *mean, double *var) {
    double s = 0, q = 0, M = (double)N * HW;
    for (int n = 0; n < N; n++)
        for (int i = 0; i < HW; i++) s += x[((size_t)n * C + c) * HW + i];
    *mean = s / M;
    for (int n = 0; n < N; n++)
        for (int i = 0; i < HW; i++) {
            double d = x[((size_t)n * C + c) * HW + i] - *mean;
            q += d * d;
        }
    *var = q / M;
}

void ref_batchnorm_forward(float *out, float *mean, float *rstd, float *running_mean,
                           float *running_var, const float *inp, const float *gamma,
                           const float *beta, int N, int C, int HW, float eps, float momentum) {
    double M = (double)N * HW;
    for (int c = 0; c < C; c++) {
        double mu, var;
        ref_moments(inp, N, C, HW, c, &mu, &var);
        double r = 1 / sqrt(var + eps);
        for (int n = 0; n < N; n++)
            for (int i = 0; i < HW; i++) {
                size_t at = ((size_t)n * C + c) * HW + i;
                out[at] = (float)((inp[at] - mu) * r * gamma[c] + beta[c]);
            }
        if (mean) mean[c] = (float)mu;
        if (rstd) rstd[c] = (float)r;
        if (running_mean) {
            running_mean[c] = (float)((1 - momentum) * running_mean[c] + momentum * mu);
            running_var[c] = (float)((1 - momentum) * running_var[c] + momentum * (M > 1 ? var * M / (M - 1) : var));
        }
    }
}

void ref_batchnorm_backward(float *dinp, float *dgamma, float *dbeta, const float *dout,
                            const float *inp, const float *gamma, int N, int C, int HW, float eps) {
    double M = (double)N * HW;
    for (int c = 0; c < C; c++) {
        double mu, var, sdy = 0, sdyx = 0;
        ref_moments(inp, N, C, HW, c, &mu, &var);
        double r = 1 / sqrt(var + eps);
        for (int n = 0; n < N; n++)
            for (int i = 0; i < HW; i++) {
                size_t at = ((size_t)n * C + c) * HW + i;
                sdy += dout[at];
                sdyx += dout[at] * (inp[at] - mu) * r;
            }
        if (dbeta) dbeta[c] = (float)sdy;
        if (dgamma) dgamma[c] = (float)sdyx;
        for (int n = 0; dinp && n < N; n++)
            for (int i = 0; i < HW; i++) {
                size_t at = ((size_t)n * C + c) * HW + i;
                double xh = (inp[at] - mu) * r;
                dinp[at] = (float)(gamma[c] * r / M * (M * dout[at] - sdy - xh * sdyx));
            }
    }
}

float ref_crossentropy_forward(float *probs, const float *logits, const int *targets, int B, int K) {
    double total = 0;
    for (int b = 0; b < B; b++) {
        double s = 0;
        for (int k = 0; k < K; k++) s += exp((double)logits[b * K + k]);
        for (int k = 0; k < K; k++) probs[b * K + k] = (float)(exp((double)logits[b * K + k]) / s);
        total += log(s) - logits[b * K + targets[b]];
    }
    return (float)(total / B);
}

void ref_crossentropy_backward(float *dlogits, const float *logits, const int *targets, int B, int K) {
    for (int b = 0; b < B; b++) {
        double s = 0;
        for (int k = 0; k < K; k++) s += exp((double)logits[b * K + k]);
        for (int k = 0; k < K; k++)
            dlogits[b * K + k] = (float)((exp((double)logits[b * K + k]) / s - (k == targets[b])) / B);
    }
}

void ref_sgd_step(float *param, float *mom, const float *grad, size_t n, const fc_sgd *o, float scale) {
    for (size_t i = 0; i < n; i++) {
        double g = grad[i] + (double)o->weight_decay * param[i];
        if (o->anchor) g += (double)o->anchor_decay * ((double)param[i] - o->anchor[i]);
        mom[i] = (float)(o->momentum * mom[i] + g);
        param[i] = (float)(param[i] - (double)o->lr * scale * mom[i]);
    }
}

void ref_adamw_step(float *param, float *m, float *v, const float *grad, size_t n, const fc_adamw *o,
                    long t, float scale) {
    double lr = (double)o->lr * scale;
    for (size_t i = 0; i < n; i++) {
        double g = grad[i];
        if (o->anchor) g += (double)o->anchor_decay * ((double)param[i] - o->anchor[i]);
        double p = param[i] * (1 - lr * o->weight_decay);
        double mm = o->beta1 * (double)m[i] + (1 - o->beta1) * g;
        double vv = o->beta2 * (double)v[i] + (1 - o->beta2) * g * g;
        double mh = mm / (1 - pow(o->beta1, t)), vh = vv / (1 - pow(o->beta2, t));
        param[i] = (float)(p - lr * mh / (sqrt(vh) + o->eps));
        m[i] = (float)mm, v[i] = (float)vv;
    }
}

unsigned ref_rng = 1u;

float ref_frand(void) {
    ref_rng = ref_rng * 1664525u + 1013904223u;
    return (float)(ref_rng >> 8) / 8388608.0f - 1.0f;
}

float *ref_rnd(size_t n) {
    float *p = malloc((n ? n : 1) * sizeof(float));
    if (!p) abort();
    for (size_t i = 0; i < n; i++) p[i] = ref_frand();
    return p;
}

float *ref_zeros(size_t n) {
    float *p = calloc(n ? n : 1, sizeof(float));
    if (!p) abort();
    return p;
}

double ref_rel_err(const float *a, const float *r, size_t n) {
    double d = 0, m = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - r[i]);
        if (!(e <= d)) d = e;
        if (fabs(r[i]) > m) m = fabs(r[i]);
    }
    return d / (m > 1e-6 ? m : 1.0);
}
