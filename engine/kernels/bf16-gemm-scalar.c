/* Scalar twin of the AVX512_BF16 GEMM (bf16-gemm-avx512bf16.c): the in-place pair conversion and the
 * 12x32-panel product as plain loops that do, bit for bit, what the instructions do (VCVTNE2PS2BF16's
 * rounding; VDPBF16PS's odd-then-even fused adds with denormals flushed; the same K blocks and
 * epilogue order), so that the tests can compare the two exactly. It is also the twin of the inference
 * GEMM (bf16-gemm-cvtb-avx512bf16.c, the f32 driver's epilogue): there the residual is added after
 * the bias in the first block, and an activation other than Relu/Clip follows the clamp step as
 * fc_act_apply (bitwise the SIMD one except Sigmoid and SiLU, whose exp is a polynomial there). Slow on purpose (fmaf per
 * product); never chosen by fc_bf16_kernels_best: a CPU without AVX512_BF16 trains in f32.
 * Not here: the f32 scalar GEMM (f32-gemm-scalar.c). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/kernels/internal.h"

enum { MR = 12, NR = 32 };

/* f32 bits -> bf16 bits as VCVTNE2PS2BF16 (Intel SDM convert_fp32_to_bfloat16). */
static uint32_t to_bf16(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    uint32_t e = (u >> 23) & 0xff;
    if (e == 0) return (u >> 16) & 0x8000;              /* zero or denormal: signed zero */
    if (e == 0xff) return (u >> 16) | (u & 0x7fffff ? 0x40 : 0); /* inf; NaN made quiet */
    return (u + 0x7fff + ((u >> 16) & 1)) >> 16;        /* round to nearest even */
}

/* bf16 bits -> f32, denormals as zero (VDPBF16PS's inputs). */
static float from_bf16(uint32_t h) {
    uint32_t u = (h & 0xffff) << 16;
    if (!(u & 0x7f800000)) u &= 0x80000000;
    float x;
    memcpy(&x, &u, 4);
    return x;
}

/* The epilogue's clamp (the SIMD kernels' v_act_bounds): 1 for Relu and Clip, with [lo, hi]. */
static int act_bounds(const fc_epilogue *ep, float *lo, float *hi) {
    int kind = ep ? ep->act.kind : FC_ACT_NONE;
    *lo = kind == FC_ACT_CLIP ? ep->act.a : kind == FC_ACT_RELU ? 0.0f : -INFINITY;
    *hi = kind == FC_ACT_CLIP ? ep->act.b : INFINITY;
    return kind == FC_ACT_RELU || kind == FC_ACT_CLIP;
}

static float flush(float x) { return fabsf(x) < 1.17549435e-38f ? copysignf(0.0f, x) : x; }

void fc_bf16_gemm_pack_pairs__scalar(float *panel, int K, int R) {
    // panel: (K, R) f32 -> (ceil(K/2), R) words; word j*R + r is written after floats 2j*R + r and
    // (2j+1)*R + r were read, and no later read is at or before it (in place)
    for (int j = 0; j < (K + 1) / 2; j++)
        for (int r = 0; r < R; r++) {
            uint32_t lo = to_bf16(panel[(size_t)2 * j * R + r]);
            uint32_t hi = 2 * j + 1 < K ? to_bf16(panel[(size_t)(2 * j + 1) * R + r]) : 0;
            uint32_t w = lo | hi << 16;
            memcpy(panel + (size_t)j * R + r, &w, 4);
        }
}

/* The block sum of element (m, n) over pairs [j0, j0 + kb): a and b are its row's and column's
 * first words, strides MR and NR. */
static float block_sum(const uint32_t *a, const uint32_t *b, int j0, int kb) {
    float acc = 0.0f;
    for (int j = j0; j < j0 + kb; j++) {
        uint32_t x = a[(size_t)j * MR], y = b[(size_t)j * NR];
        acc = flush(fmaf(from_bf16(x >> 16), from_bf16(y >> 16), acc));
        acc = flush(fmaf(from_bf16(x), from_bf16(y), acc));
    }
    return acc;
}

void fc_bf16_gemm_12x32__scalar(int M, int N, int K, const uint32_t *pa, const uint32_t *pb, float *C,
                                ptrdiff_t rsc, const fc_epilogue *ep) {
    // pa: pairs (M, ceil(K/2)) in panels K*MR words apart; pb: (ceil(K/2), N) in panels K*NR apart
    if (K < 0) K = 0;
    int pairs = (K + 1) / 2, kc = fc_bf16_gemm_block_pairs(pairs);
    int kind = ep ? ep->act.kind : FC_ACT_NONE;
    float lo, hi;
    int clamp = act_bounds(ep, &lo, &hi);
    const float *res = ep ? ep->residual : NULL;
    for (int m = 0; m < M; m++) {
        const uint32_t *a = pa + (size_t)(m / MR) * K * MR + m % MR;
        for (int n = 0; n < N; n++) {
            const uint32_t *b = pb + (size_t)(n / NR) * K * NR + n % NR;
            float c = block_sum(a, b, 0, kc < pairs ? kc : pairs);
            if (ep && ep->bias) c += ep->bias[m];
            if (res) c += res[m * rsc + n];
            for (int j0 = kc; j0 < pairs; j0 += kc) c = c + block_sum(a, b, j0, pairs - j0 < kc ? pairs - j0 : kc);
            if (clamp) { /* the vector clamp: max(lo, c) then min(hi, .), NaN kept */
                c = lo > c ? lo : c;
                c = hi < c ? hi : c;
            } else if (kind != FC_ACT_NONE) {
                c = fc_act_apply(&ep->act, c);
            }
            C[m * rsc + n] = c;
        }
    }
}

/* Twin of the bf16 channel-blocked 1x1 convolution (bf16-cb-avx512bf16.c): element (n, p) as the
 * GEMM above computes element (m = n, column p) of W times x, its inputs rounded into pairs the
 * same way; x and y laid out as fc_f32_conv1x1_cb_fn says, pbf as that kernel's pack_w writes it
 * (W^T in 32-column pair panels, K * 32 words apart). */
void fc_bf16_conv1x1_cb__scalar(int P, int N, int K, const float *x, ptrdiff_t xs, int x_cb, const float *pbf,
                                float *y, ptrdiff_t ygs, const fc_epilogue *ep) {
    if (K < 0) K = 0;
    const uint32_t *pb = (const uint32_t *)(const void *)pbf;
    int pairs = (K + 1) / 2, kc = pairs ? fc_bf16_gemm_block_pairs(pairs) : 1;
    int kind = ep ? ep->act.kind : FC_ACT_NONE;
    float lo, hi;
    int clamp = act_bounds(ep, &lo, &hi);
    uint32_t *a = malloc(((size_t)pairs + 1) * MR * sizeof *a); /* one pixel's pairs, at stride MR */
    if (!a) abort(); /* a test's twin: no error path */
    for (int p = 0; p < P; p++) {
        for (int j = 0; j < pairs; j++) {
            float v[2];
            for (int h = 0; h < 2; h++) {
                int k = 2 * j + h;
                v[h] = k >= K ? 0.0f
                       : x_cb ? x[(ptrdiff_t)(k / 16) * xs + (ptrdiff_t)p * 16 + k % 16]
                              : x[(ptrdiff_t)k * xs + p];
            }
            a[(size_t)j * MR] = to_bf16(v[0]) | (2 * j + 1 < K ? to_bf16(v[1]) << 16 : 0);
        }
        for (int n = 0; n < N; n++) {
            const uint32_t *b = pb + (size_t)(n / NR) * K * NR + n % NR;
            ptrdiff_t at = (ptrdiff_t)(n / 16) * ygs + (ptrdiff_t)p * 16 + n % 16;
            float c = block_sum(a, b, 0, kc < pairs ? kc : pairs);
            if (ep && ep->bias) c += ep->bias[n];
            if (ep && ep->residual) c += ep->residual[at];
            for (int j0 = kc; j0 < pairs; j0 += kc) c = c + block_sum(a, b, j0, pairs - j0 < kc ? pairs - j0 : kc);
            if (clamp) {
                c = lo > c ? lo : c;
                c = hi < c ? hi : c;
            } else if (kind != FC_ACT_NONE) {
                c = fc_act_apply(&ep->act, c);
            }
            y[at] = c;
        }
    }
    free(a);
}
