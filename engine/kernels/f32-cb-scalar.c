/* Scalar twins of the channel-blocked kernels (kernels.h, fc_cb_kernels), element by element with
 * the operations in the SIMD kernels' order (fmaf chains from +0, K cut by the avx512 GEMM's rule
 * given as kc), so the tests compare them bit for bit (activations other than the clamp through
 * fc_act_apply: exact for HardSwish, ~1e-6 for sigmoid and SiLU, whose vector exp differs). Not in
 * any table: no scalar table uses FMA chains in its GEMM, so a block on these would not give that
 * table's bits; tests/engine/test_cb_kernels.c reaches them. */
#include <math.h>

#include "engine/kernels/internal.h"

static float clamp_of(const fc_act *act, float v) {
    if (act->kind == FC_ACT_RELU) return v < 0.0f ? 0.0f : v; /* max(0, v): -0 kept */
    if (act->kind == FC_ACT_CLIP) return v < act->a ? act->a : v > act->b ? act->b : v;
    return v;
}

static float post_of(const fc_act *act, float v) {
    if (act->kind == FC_ACT_NONE || act->kind == FC_ACT_RELU || act->kind == FC_ACT_CLIP) return v;
    return fc_act_apply(act, v);
}

/* x(k, p): koff given: x[koff[k] + p * ps]; else channel-blocked (x_cb) or NCHW with xs. */
static float input_at(const float *x, ptrdiff_t xs, int x_cb, const int *koff, int ps, int k, int p) {
    if (koff) return x[koff[k] + (ptrdiff_t)p * ps];
    return x_cb ? x[(ptrdiff_t)(k / FC_CB) * xs + (ptrdiff_t)p * FC_CB + k % FC_CB] : x[(ptrdiff_t)k * xs + p];
}

static void conv_cb(int P, int N, int K, int kc, const float *x, ptrdiff_t xs, int x_cb, const int *koff,
                    int ps, const float *pb, int nr, float *y, ptrdiff_t ygs, const fc_epilogue *ep) {
    fc_act none = {FC_ACT_NONE, 0, 0};
    const fc_act *act = ep ? &ep->act : &none;
    for (int n = 0; n < N; n++)
        for (int p = 0; p < P; p++) {
            ptrdiff_t at = (ptrdiff_t)(n / FC_CB) * ygs + (ptrdiff_t)p * FC_CB + n % FC_CB;
            const float *b = pb + (size_t)(n / nr) * K * nr + n % nr;
            float t = 0.0f;
            int k0 = 0;
            do {
                int k1 = K - k0 < kc ? K : k0 + kc;
                float acc = 0.0f;
                for (int k = k0; k < k1; k++) acc = fmaf(input_at(x, xs, x_cb, koff, ps, k, p), b[(size_t)k * nr], acc);
                if (k0 > 0) t = t + acc;
                else {
                    t = acc;
                    if (ep && ep->bias) t = t + ep->bias[n];
                    if (ep && ep->residual) t = t + ep->residual[at];
                }
                k0 = k1;
            } while (k0 < K);
            y[at] = post_of(act, clamp_of(act, t));
        }
}

void fc_f32_conv1x1_cb__scalar(int P, int N, int K, int kc, const float *x, ptrdiff_t xs, int x_cb,
                               const float *pb, int nr, float *y, ptrdiff_t ygs, const fc_epilogue *ep) {
    conv_cb(P, N, K, kc, x, xs, x_cb, NULL, 1, pb, nr, y, ygs, ep);
}

void fc_f32_conv_taps_cb__scalar(int P, int N, int K, int kc, const float *x, const int *koff, int ps,
                                 const float *pb, int nr, float *y, ptrdiff_t ygs, const fc_epilogue *ep) {
    conv_cb(P, N, K, kc, x, 0, 0, koff, ps, pb, nr, y, ygs, ep);
}

void fc_f32_dwconv_cb__scalar(const fc_conv2d_geom *g, int ngroups, const float *in, ptrdiff_t igs,
                              const float *w, const float *bias, const fc_act *act, float *out, ptrdiff_t ogs) {
    fc_act none = {FC_ACT_NONE, 0, 0};
    if (!act) act = &none;
    int taps = g->kh * g->kw;
    for (int j = 0; j < ngroups; j++)
        for (int oy = 0; oy < g->out_h; oy++)
            for (int ox = 0; ox < g->out_w; ox++)
                for (int l = 0; l < FC_CB; l++) {
                    float a = 0.0f;
                    for (int i = 0; i < g->kh; i++)
                        for (int t = 0; t < g->kw; t++) {
                            int iy = oy * g->stride_h - g->pad_top + i * g->dil_h;
                            int ix = ox * g->stride_w - g->pad_left + t * g->dil_w;
                            if (iy < 0 || iy >= g->in_h || ix < 0 || ix >= g->in_w) continue;
                            a = fmaf(w[((size_t)j * taps + i * g->kw + t) * FC_CB + l],
                                     in[j * igs + ((ptrdiff_t)iy * g->in_w + ix) * FC_CB + l], a);
                        }
                    out[j * ogs + ((ptrdiff_t)oy * g->out_w + ox) * FC_CB + l] =
                        post_of(act, clamp_of(act, a + bias[j * FC_CB + l]));
                }
}

void fc_f32_to_cb__scalar(int C, int P, const float *x, ptrdiff_t xs, float *y, ptrdiff_t ygs) {
    for (int c = 0; c < (C + FC_CB - 1) / FC_CB * FC_CB; c++)
        for (int p = 0; p < P; p++)
            y[(c / FC_CB) * ygs + (ptrdiff_t)p * FC_CB + c % FC_CB] = c < C ? x[c * xs + p] : 0.0f;
}

void fc_f32_from_cb__scalar(int C, int P, const float *y, ptrdiff_t ygs, float *x, ptrdiff_t xs) {
    for (int c = 0; c < C; c++)
        for (int p = 0; p < P; p++) x[c * xs + p] = y[(c / FC_CB) * ygs + (ptrdiff_t)p * FC_CB + c % FC_CB];
}
