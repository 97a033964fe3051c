/* Channel-blocked kernel tests (kernels.h, fc_cb_kernels): the AVX-512 kernels against their scalar
 * twins bit for bit (sigmoid-based activations within 1e-6, their vector exp differs), and against
 * the table's NCHW kernels whose bits they promise: the 1x1 convolution against pack_b + sgemm_packed
 * (pixel tails of every length, channel counts off the 16 and 32 grid, K across several K blocks, K
 * = 0, NCHW and channel-blocked inputs, bias, residual, every activation) and through tap offsets
 * against the GEMM on the im2col matrix (1x1, 3x3, 5x5 taps, row strides 1 and 2), the depthwise kernel
 * against dwconv_channels (3x3 and 5x5 at strides 1 and 2, dilation, asymmetric padding, a 7x7
 * kernel, planes down to 1x1, missing tap rows at the edges), and the layout conversions as a
 * round trip with zero padding lanes; the kernels on the avx512 table and on the bf16 path's f32
 * table (fast sigmoid); the bf16 path's 1x1 convolution against its twin and the bf16 GEMM. Not here: the block that combines them (test_conv_block.c). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/kernels/internal.h" /* the scalar twins, in no table */
#include "tests/support/check.h"

static uint64_t state = 0x9e3779b97f4a7c15ull;

static float rnd(void) {
    state ^= state << 13, state ^= state >> 7, state ^= state << 17;
    return (float)((state >> 40) & 0xFFFFFF) / 8388608.0f - 1.0f; /* [-1, 1) */
}

static float *falloc(size_t n) {
    float *p = aligned_alloc(64, (n * sizeof(float) + 63) / 64 * 64 + 64);
    if (!p) abort();
    return p;
}

static float *random_floats(size_t n) {
    float *p = falloc(n);
    for (size_t i = 0; i < n; i++) p[i] = rnd();
    return p;
}

static size_t groups(int c) { return (size_t)(c + FC_CB - 1) / FC_CB; }

static const fc_act ACTS[] = {{FC_ACT_NONE, 0, 0},       {FC_ACT_RELU, 0, 0},    {FC_ACT_CLIP, 0, 0.25f},
                              {FC_ACT_HARDSWISH, 0, 0}, {FC_ACT_SILU, 0, 0},    {FC_ACT_LEAKY, 0.1f, 0},
                              {FC_ACT_SIGMOID, 0, 0}};
#define N_ACTS (int)(sizeof ACTS / sizeof ACTS[0])

static int exact_act(int kind) { return kind != FC_ACT_SILU && kind != FC_ACT_SIGMOID; }

/* a and b: n floats equal bit for bit, or within 1e-6 relative when !exact. */
static int same(const float *a, const float *b, size_t n, int exact) {
    for (size_t i = 0; i < n; i++) {
        if (exact ? memcmp(a + i, b + i, 4) != 0 : !(fabsf(a[i] - b[i]) <= 1e-6f * (1.0f + fabsf(b[i])))) return 0;
    }
    return 1;
}

/* Channel-blocked y (N, P) at ygs -> its N real channels as an NCHW (N, P) array. */
static void unblock(int N, int P, const float *y, size_t ygs, float *out) {
    for (int n = 0; n < N; n++)
        for (int p = 0; p < P; p++) out[(size_t)n * P + p] = y[n / FC_CB * ygs + (size_t)p * FC_CB + n % FC_CB];
}

/* The table's GEMM on the operands of a 1x1 test case in NCHW (N, P): packed A pa of W (N, K), B =
 * x as (K, P) (channel-blocked with group stride xgs when xcb, else NCHW rows of P + 3 floats), the
 * residual (channel-blocked, ygs; or NULL) as NCHW rows. */
static float *gemm_of(const fc_kernels *k, int N, int P, int K, const float *pa, const float *x, int xcb,
                      size_t xgs, const float *res, size_t ygs, const fc_epilogue *ep) {
    float *xb = falloc((size_t)(K ? K : 1) * P), *rb = falloc((size_t)N * P), *C = falloc((size_t)N * P);
    for (int kk = 0; kk < K; kk++)
        for (int p = 0; p < P; p++)
            xb[(size_t)kk * P + p] = xcb ? x[kk / FC_CB * xgs + (size_t)p * FC_CB + kk % FC_CB] : x[(size_t)kk * (P + 3) + p];
    if (res) unblock(N, P, res, ygs, rb);
    float *pbx = falloc(fc_kernels_packed_b_floats(k, K, P) + 1);
    k->pack_b(K, P, xb, P, 1, pbx);
    fc_epilogue eg = *ep;
    eg.residual = res ? rb : NULL;
    k->sgemm_packed(N, P, K, pa, pbx, C, P, 1, &eg);
    free(xb), free(rb), free(pbx);
    return C;
}

/* A 1x1 kernel's scalar twin, called as the table's kernel is (the f32 twin also takes the table's K
 * block and panel width). */
typedef void (*conv1x1_twin)(const fc_kernels *k, int P, int N, int K, const float *x, ptrdiff_t xs, int xcb,
                             const float *pb, float *y, ptrdiff_t ygs, const fc_epilogue *ep);

static void twin_f32(const fc_kernels *k, int P, int N, int K, const float *x, ptrdiff_t xs, int xcb,
                     const float *pb, float *y, ptrdiff_t ygs, const fc_epilogue *ep) {
    fc_f32_conv1x1_cb__scalar(P, N, K, K ? k->gemm_kc(K) : 0, x, xs, xcb, pb, k->nr, y, ygs, ep);
}

static void twin_bf16(const fc_kernels *k, int P, int N, int K, const float *x, ptrdiff_t xs, int xcb,
                      const float *pb, float *y, ptrdiff_t ygs, const fc_epilogue *ep) {
    fc_bf16_conv1x1_cb__scalar(P, N, K, x, xs, xcb, pb, y, ygs, ep);
}

typedef struct shapes {
    const int *P, *N, *K;
    int nP, nN, nK;
} shapes;

/* Table k's 1x1 convolution on every shape, the weights as pack_w lays out the table's packed A (as
 * the engine does): against its twin, and against the table's GEMM bit for bit (bf16: the same
 * pairs, the same K blocks). Pixel counts cover tails of every tile size (8, 4, 2, 1 pixels). */
static void conv1x1_cases(const fc_kernels *k, conv1x1_twin twin, const shapes *s, const char *what) {
    int cases = 0, bad_twin = 0, bad_gemm = 0;
    for (int pi = 0; pi < s->nP; pi++)
        for (int ni = 0; ni < s->nN; ni++)
            for (int ki = 0; ki < s->nK; ki++) {
                int P = s->P[pi], N = s->N[ni], K = s->K[ki], xcb = (pi + ni + ki) % 2;
                int with_bias = (pi + ki) % 3 != 0, with_res = (ni + ki) % 2, a = (pi * 5 + ni * 3 + ki) % N_ACTS;
                size_t xgs = (size_t)P * FC_CB + 16, ygs = (size_t)P * FC_CB + 32;
                float *W = random_floats((size_t)N * (K ? K : 1)), *bias = random_floats(N);
                float *x = random_floats(xcb ? groups(K ? K : 1) * xgs : (size_t)(K ? K : 1) * (P + 3));
                float *res = random_floats(groups(N) * ygs);
                float *pa = falloc(fc_kernels_packed_a_floats(k, N, K) + 1);
                float *pb = falloc(fc_kernels_packed_b_floats(k, K, N) + 1);
                k->pack_a(N, K, W, K, 1, pa);
                k->cb->pack_w(N, K, pa, pb);
                fc_epilogue ep = {.bias = with_bias ? bias : NULL, .residual = with_res ? res : NULL, .act = ACTS[a]};
                float *yv = falloc(groups(N) * ygs), *ys = falloc(groups(N) * ygs);
                ptrdiff_t xs = xcb ? (ptrdiff_t)xgs : P + 3;
                k->cb->conv1x1(P, N, K, x, xs, xcb, pb, yv, ygs, &ep);
                twin(k, P, N, K, x, xs, xcb, pb, ys, ygs, &ep);
                float *uv = falloc((size_t)N * P), *us = falloc((size_t)N * P);
                unblock(N, P, yv, ygs, uv);
                unblock(N, P, ys, ygs, us);
                bad_twin += !same(uv, us, (size_t)N * P, exact_act(ACTS[a].kind));
                float *C = gemm_of(k, N, P, K, pa, x, xcb, xgs, with_res ? res : NULL, ygs, &ep);
                bad_gemm += !same(uv, C, (size_t)N * P, 1);
                cases++;
                free(W), free(bias), free(x), free(res), free(pa), free(pb), free(yv), free(ys);
                free(uv), free(us), free(C);
            }
    CHECK(!bad_twin, "%d of %d shapes: the %s 1x1 convolution differs from its scalar twin", bad_twin, cases, what);
    CHECK(!bad_gemm, "%d of %d shapes: the %s 1x1 convolution is not its table's GEMM bit for bit", bad_gemm, cases,
          what);
}

static void conv1x1_on(const fc_kernels *k) {
    static const int Ps[] = {1, 5, 7, 12, 13, 23, 49, 196}, Ns[] = {8, 16, 24, 40, 96}, Ks[] = {0, 1, 17, 96, 200, 576};
    shapes s = {Ps, Ns, Ks, 8, 5, 6};
    conv1x1_cases(k, twin_f32, &s, "AVX-512 channel-blocked");
}

/* One output row of a kh x kw convolution at stride ps along the row of a zero-padded band of cin
 * channels x kh rows x Wp floats: the tap offsets against the im2col matrix of the same values. */
static void conv_taps_on(const fc_kernels *k) {
    static const int Ps[] = {1, 13, 112}, Ns[] = {16, 24, 32}, kss[] = {1, 3, 5};
    int cases = 0, bad_twin = 0, bad_gemm = 0;
    for (int pi = 0; pi < 3; pi++)
        for (int ni = 0; ni < 3; ni++)
            for (int ki = 0; ki < 3; ki++)
                for (int ps = 1; ps <= 2; ps++) {
                    int P = Ps[pi], N = Ns[ni], ks = kss[ki], cin = 3 + ki, K = cin * ks * ks;
                    int a = (pi + ni * 2 + ki + ps) % N_ACTS, Wp = (P - 1) * ps + ks + 3;
                    float *band = random_floats((size_t)cin * ks * Wp), *W = random_floats((size_t)N * K);
                    float *bias = random_floats(N);
                    int *koff = malloc(sizeof(int) * K);
                    float *cols = falloc((size_t)K * P);
                    for (int ci = 0; ci < cin; ci++)
                        for (int i = 0; i < ks; i++)
                            for (int j = 0; j < ks; j++) {
                                int kk = (ci * ks + i) * ks + j;
                                koff[kk] = (ci * ks + i) * Wp + j + 1;
                                for (int p = 0; p < P; p++) cols[(size_t)kk * P + p] = band[koff[kk] + p * ps];
                            }
                    float *pb = falloc(fc_kernels_packed_b_floats(k, K, N) + 1);
                    float *pa = falloc(fc_kernels_packed_a_floats(k, N, K) + 1);
                    k->pack_b(K, N, W, 1, K, pb);
                    k->pack_a(N, K, W, K, 1, pa);
                    fc_epilogue ep = {.bias = (pi + ki) % 2 ? bias : NULL, .act = ACTS[a]};
                    size_t ygs = (size_t)P * FC_CB;
                    float *yv = falloc(groups(N) * ygs), *ys = falloc(groups(N) * ygs);
                    k->cb->conv_taps(P, N, K, band, koff, ps, pb, yv, (ptrdiff_t)ygs, &ep);
                    fc_f32_conv_taps_cb__scalar(P, N, K, k->gemm_kc(K), band, koff, ps, pb, k->nr, ys, (ptrdiff_t)ygs, &ep);
                    float *uv = falloc((size_t)N * P), *us = falloc((size_t)N * P), *C = falloc((size_t)N * P);
                    unblock(N, P, yv, ygs, uv);
                    unblock(N, P, ys, ygs, us);
                    bad_twin += !same(uv, us, (size_t)N * P, exact_act(ACTS[a].kind));
                    float *pbx = falloc(fc_kernels_packed_b_floats(k, K, P) + 1);
                    k->pack_b(K, P, cols, P, 1, pbx);
                    k->sgemm_packed(N, P, K, pa, pbx, C, P, 1, &ep);
                    bad_gemm += !same(uv, C, (size_t)N * P, 1);
                    cases++;
                    free(band), free(W), free(bias), free(koff), free(cols), free(pb), free(pa), free(yv), free(ys);
                    free(uv), free(us), free(C), free(pbx);
                }
    CHECK(!bad_twin, "%d of %d shapes: the AVX-512 tap-offset convolution differs from its scalar twin", bad_twin, cases);
    CHECK(!bad_gemm, "%d of %d shapes: the tap-offset convolution is not the GEMM on im2col bit for bit", bad_gemm, cases);
}

/* The bf16 path's 1x1 convolution (K up to 960: several K blocks of pairs). */
static void conv1x1_bf16(void) {
    const fc_kernels *k = fc_kernels_bf16();
    if (!k || !k->cb) SKIP("no AVX512_BF16 on this CPU");
    static const int Ps[] = {1, 7, 12, 13, 23, 49}, Ns[] = {16, 24, 40, 96}, Ks[] = {0, 17, 96, 576, 960};
    shapes s = {Ps, Ns, Ks, 6, 4, 5};
    conv1x1_cases(k, twin_bf16, &s, "AVX512_BF16 channel-blocked");
}

typedef struct dw_case {
    int H, W, kh, kw, sh, sw, pt, pl, dh, dw, OH, OW;
} dw_case;

static void dwconv_on(const fc_kernels *k) {
    static const dw_case cs[] = {
        {14, 14, 3, 3, 1, 1, 1, 1, 1, 1, 14, 14}, {14, 14, 3, 3, 2, 2, 1, 1, 1, 1, 7, 7},
        {13, 13, 3, 3, 2, 2, 1, 1, 1, 1, 7, 7},   {7, 7, 3, 3, 1, 1, 1, 1, 1, 1, 7, 7},
        {28, 28, 5, 5, 1, 1, 2, 2, 1, 1, 28, 28}, {14, 14, 5, 5, 2, 2, 2, 2, 1, 1, 7, 7},
        {7, 7, 5, 5, 1, 1, 2, 2, 1, 1, 7, 7},     {1, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},
        {2, 9, 3, 3, 1, 1, 1, 1, 1, 1, 2, 9},     {12, 12, 3, 3, 1, 1, 2, 2, 2, 2, 12, 12},
        {10, 11, 3, 3, 2, 2, 0, 0, 1, 1, 5, 5},   {9, 9, 7, 7, 1, 1, 3, 3, 1, 1, 9, 9},
        {8, 8, 3, 3, 1, 2, 1, 0, 1, 1, 8, 4},     {3, 20, 1, 1, 1, 1, 0, 0, 1, 1, 3, 20},
    };
    int n = (int)(sizeof cs / sizeof cs[0]), bad_twin = 0, bad_chan = 0, cases = 0;
    for (int i = 0; i < n; i++)
        for (int a = 0; a < N_ACTS; a += 1 + i % 2) {
            const dw_case *c = &cs[i];
            fc_conv2d_geom g = {c->H, c->W, c->kh, c->kw, c->sh, c->sw, c->pt, c->pl, c->dh, c->dw, c->OH, c->OW};
            int C = 40, taps = c->kh * c->kw; /* 3 groups, the last half full */
            size_t P = (size_t)c->H * c->W, OP = (size_t)c->OH * c->OW, igs = P * FC_CB + 16, ogs = OP * FC_CB;
            float *x = random_floats((size_t)C * P), *w = random_floats((size_t)C * taps), *bias = random_floats(C);
            float *xc = falloc(groups(C) * igs), *wc = falloc(groups(C) * taps * FC_CB), *bc = falloc(groups(C) * FC_CB);
            k->cb->to_cb(C, (int)P, x, (ptrdiff_t)P, xc, (ptrdiff_t)igs);
            for (size_t ch = 0; ch < groups(C) * FC_CB; ch++) {
                bc[ch] = ch < (size_t)C ? bias[ch] : 0.0f;
                for (int t = 0; t < taps; t++) wc[(ch / FC_CB * taps + t) * FC_CB + ch % FC_CB] = ch < (size_t)C ? w[ch * taps + t] : 0.0f;
            }
            float *yv = falloc(groups(C) * ogs), *ys = falloc(groups(C) * ogs), *yr = falloc((size_t)C * OP);
            k->cb->dwconv(&g, (int)groups(C), xc, (ptrdiff_t)igs, wc, bc, &ACTS[a], yv, (ptrdiff_t)ogs);
            fc_f32_dwconv_cb__scalar(&g, (int)groups(C), xc, (ptrdiff_t)igs, wc, bc, &ACTS[a], ys, (ptrdiff_t)ogs);
            k->dwconv_channels(&g, C, x, (ptrdiff_t)P, w, bias, &ACTS[a], yr, (ptrdiff_t)OP, 0);
            float *uv = falloc((size_t)C * OP), *us = falloc((size_t)C * OP);
            unblock(C, (int)OP, yv, ogs, uv);
            unblock(C, (int)OP, ys, ogs, us);
            bad_twin += !same(uv, us, (size_t)C * OP, exact_act(ACTS[a].kind));
            bad_chan += !same(uv, yr, (size_t)C * OP, 1);
            cases++;
            free(x), free(w), free(bias), free(xc), free(wc), free(bc), free(yv), free(ys), free(yr), free(uv), free(us);
        }
    CHECK(!bad_twin, "%d of %d cases: the AVX-512 depthwise kernel differs from its scalar twin", bad_twin, cases);
    CHECK(!bad_chan, "%d of %d cases: the channel-blocked depthwise kernel is not dwconv_channels bit for bit",
          bad_chan, cases);
}

/* Each check on the avx512 table and on the bf16 path's f32 table (the fast sigmoid). */
#define ON_BOTH_TABLES(fn)                                                                          \
    static void fn(void) {                                                                       \
        const fc_kernels *k = fc_kernels_by_name("avx512");                                      \
        if (!k || !k->cb) SKIP("no AVX-512 on this CPU");                                        \
        fn##_on(k);                                                                              \
        const fc_kernels *b = fc_kernels_bf16();                                                 \
        if (b && b->f32 && b->f32->cb) fn##_on(b->f32);                                          \
    }
ON_BOTH_TABLES(conv1x1)
ON_BOTH_TABLES(conv_taps)
ON_BOTH_TABLES(dwconv)

static void layout(void) {
    const fc_kernels *k = fc_kernels_by_name("avx512");
    if (!k || !k->cb) SKIP("no AVX-512 on this CPU");
    static const int Cs[] = {1, 16, 24, 40}, Ps[] = {1, 15, 16, 49};
    int bad = 0, bad_twin = 0, bad_pad = 0;
    for (int ci = 0; ci < 4; ci++)
        for (int pi = 0; pi < 4; pi++) {
            int C = Cs[ci], P = Ps[pi];
            size_t xs = (size_t)P + 5, ygs = (size_t)P * FC_CB + 48;
            float *x = random_floats((size_t)C * xs), *yv = random_floats(groups(C) * ygs);
            float *ys = random_floats(groups(C) * ygs), *back = random_floats((size_t)C * xs);
            float *back_s = falloc((size_t)C * xs);
            memcpy(back_s, back, (size_t)C * xs * sizeof(float));
            k->cb->to_cb(C, P, x, (ptrdiff_t)xs, yv, (ptrdiff_t)ygs);
            fc_f32_to_cb__scalar(C, P, x, (ptrdiff_t)xs, ys, (ptrdiff_t)ygs);
            for (size_t g = 0; g < groups(C); g++)
                bad_twin += memcmp(yv + g * ygs, ys + g * ygs, (size_t)P * FC_CB * sizeof(float)) != 0;
            for (int ch = C; ch < (int)groups(C) * FC_CB; ch++)
                for (int p = 0; p < P; p++) bad_pad += yv[ch / FC_CB * ygs + (size_t)p * FC_CB + ch % FC_CB] != 0.0f;
            k->cb->from_cb(C, P, yv, (ptrdiff_t)ygs, back, (ptrdiff_t)xs);
            fc_f32_from_cb__scalar(C, P, yv, (ptrdiff_t)ygs, back_s, (ptrdiff_t)xs);
            for (int ch = 0; ch < C; ch++) bad += memcmp(back + ch * xs, x + ch * xs, (size_t)P * sizeof(float)) != 0;
            bad_twin += memcmp(back, back_s, (size_t)C * xs * sizeof(float)) != 0; /* gaps untouched by both */
            free(x), free(yv), free(ys), free(back), free(back_s);
        }
    CHECK(!bad, "%d channels: NCHW -> channel-blocked -> NCHW does not give the input back", bad);
    CHECK(!bad_pad, "%d padding lanes are not zero", bad_pad);
    CHECK(!bad_twin, "%d differences between the AVX-512 conversions and their scalar twins", bad_twin);
}

int main(void) {
    RUN(conv1x1);
    RUN(conv_taps);
    RUN(conv1x1_bf16);
    RUN(dwconv);
    RUN(layout);
    return check_done();
}
