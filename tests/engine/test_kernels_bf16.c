/* bf16 GEMM kernel tests: the AVX512_BF16 kernels (when this CPU has them) against their scalar twin,
 * bitwise: the in-place pair conversion on every kind of float (halfway cases, denormals, NaN,
 * infinities) and panel widths, and the product on random shapes (edges of the 12x32 tile, K = 0, 1,
 * odd, across several K blocks), with every epilogue it takes (bias, Relu, Clip) and a C row stride
 * wider than N. The scalar twin itself is checked against double-precision sums of the bf16-rounded
 * operands, and the packed layout against its formula. Not here: the training product built on them
 * (test_train_gemm.c), bf16 training (test_train_net.c). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/kernels/kernels.h"
#include "tests/support/check.h"

typedef struct rng {
    uint64_t s;
} rng;

static uint64_t next(rng *r) {
    r->s ^= r->s << 13, r->s ^= r->s >> 7, r->s ^= r->s << 17;
    return r->s;
}

static float rnd(rng *r) { return (float)((next(r) >> 40) & 0xFFFFFF) / 8388608.0f - 1.0f; } /* [-1, 1) */

static float *falloc(size_t n) {
    size_t bytes = (n * sizeof(float) + 63) / 64 * 64;
    float *p = aligned_alloc(64, bytes ? bytes : 64);
    if (!p) abort();
    return p;
}

static float bits_float(uint32_t u) {
    float x;
    memcpy(&x, &u, 4);
    return x;
}

/* The bf16 value (low 16 bits of w) as a float. */
static float bf16_value(uint32_t w) { return bits_float((w & 0xffff) << 16); }

/* A float of every kind: mostly ordinary values over a wide range, then halfway cases of the bf16
 * rounding, denormals, zeros, infinities and NaN. */
static float any_float(rng *r) {
    uint32_t u = (uint32_t)next(r);
    switch (next(r) % 8) {
    case 0: return bits_float((u & 0xffff0000u) | 0x8000u);           /* halfway: ties to even */
    case 1: return bits_float(u & 0x807fffffu);                       /* denormal or zero */
    case 2: return bits_float((u & 0x807fffffu) | 0x7f800000u);       /* inf or NaN */
    case 3: return bits_float((u & 0x80ffffffu) | 0x7f000000u);       /* large: may round to inf */
    default: return rnd(r) * ldexpf(1.0f, (int)(next(r) % 40) - 20);
    }
}

static void pack_pairs(void) {
    const fc_bf16_kernels *s = fc_bf16_kernels_by_name("scalar"), *v = fc_bf16_kernels_by_name("avx512bf16");
    rng r = {0x1234567u};
    static const int Ks[] = {1, 2, 3, 7, 8, 33, 200};
    static const int Rs[] = {1, 12, 15, 16, 17, 32, 40};
    int bad_layout = 0, bad_twin = 0;
    for (int ki = 0; ki < 7; ki++)
        for (int ri = 0; ri < 7; ri++) {
            int K = Ks[ki], R = Rs[ri];
            size_t n = (size_t)K * R;
            float *src = falloc(n), *a = falloc(n), *b = falloc(n);
            for (size_t i = 0; i < n; i++) src[i] = ri % 2 ? any_float(&r) : rnd(&r);
            memcpy(a, src, n * sizeof(float));
            memcpy(b, src, n * sizeof(float));
            s->pack(a, K, R);
            for (int j = 0; j < (K + 1) / 2; j++)
                for (int c = 0; c < R; c++) {
                    uint32_t w;
                    memcpy(&w, a + (size_t)j * R + c, 4);
                    float lo = src[(size_t)2 * j * R + c], hi = 2 * j + 1 < K ? src[(size_t)(2 * j + 1) * R + c] : 0.0f;
                    float vl = bf16_value(w), vh = bf16_value(w >> 16);
                    /* ordinary values: the nearest bf16 (half an ulp: at most 2^-8 relative) */
                    if (isfinite(lo) && fabsf(lo) > 1e-30f && fabsf(lo) < 1e30f)
                        bad_layout |= !(fabsf(vl - lo) <= fabsf(lo) * 0x1p-8f);
                    if (isfinite(hi) && fabsf(hi) > 1e-30f && fabsf(hi) < 1e30f)
                        bad_layout |= !(fabsf(vh - hi) <= fabsf(hi) * 0x1p-8f);
                    if (2 * j + 1 >= K) bad_layout |= (w >> 16) != 0;
                }
            if (v) {
                v->pack(b, K, R);
                bad_twin |= memcmp(a, b, (size_t)(K + 1) / 2 * R * sizeof(float)) != 0;
            }
            free(src), free(a), free(b);
        }
    CHECK(!bad_layout, "the scalar conversion does not give the nearest bf16 pairs of the layout");
    CHECK(!bad_twin, "AVX512_BF16 and scalar conversions differ");
    if (!v) SKIP("this CPU has no AVX512_BF16 (the scalar conversion was checked)");
}

/* Packed bf16 operands of a random problem: A (M, K) and B (K, N) packed in f32 panels and
 * converted (the layouts of kernels.h), plus the values the pairs hold, unpacked (M, K), (K, N). */
typedef struct prob {
    int M, N, K;
    float *pa, *pb, *av, *bv, *bias;
} prob;

/* Random panels of R lanes for n rows (A) or columns (B) over K, converted; vals gets the value of
 * lane i at k, as the pairs hold it, at vals[i*si + k*sk]. */
static void random_panels(const fc_bf16_kernels *k, float *packed, int R, int n, int K, float *vals,
                          size_t si, size_t sk, rng *r) {
    for (int q = 0; q * R < n; q++) {
        float *panel = packed + (size_t)q * K * R;
        for (int kk = 0; kk < K; kk++)
            for (int c = 0; c < R; c++) panel[(size_t)kk * R + c] = q * R + c < n ? rnd(r) : 0.0f;
        k->pack(panel, K, R);
        for (int kk = 0; kk < K; kk++)
            for (int c = 0; c < R && q * R + c < n; c++) {
                uint32_t w;
                memcpy(&w, panel + (size_t)kk / 2 * R + c, 4);
                vals[(size_t)(q * R + c) * si + (size_t)kk * sk] = bf16_value(kk % 2 ? w >> 16 : w);
            }
    }
}

static void prob_init(prob *p, const fc_bf16_kernels *k, int M, int N, int K, rng *r) {
    int mp = (M + k->mr - 1) / k->mr, np = (N + k->nr - 1) / k->nr, K1 = K ? K : 1;
    *p = (prob){M, N, K, falloc((size_t)mp * K1 * k->mr), falloc((size_t)np * K1 * k->nr),
                falloc((size_t)M * K1), falloc((size_t)K1 * N), falloc(M)};
    for (int i = 0; i < M; i++) p->bias[i] = rnd(r);
    random_panels(k, p->pa, k->mr, M, K, p->av, (size_t)K, 1, r); /* av (M, K) */
    random_panels(k, p->pb, k->nr, N, K, p->bv, 1, (size_t)N, r); /* bv (K, N) */
}

static void prob_free(prob *p) { free(p->pa), free(p->pb), free(p->av), free(p->bv), free(p->bias); }

static const fc_act ACTS[] = {{FC_ACT_NONE, 0, 0}, {FC_ACT_RELU, 0, 0}, {FC_ACT_CLIP, -0.5f, 0.25f}};

/* C (M, N) with row stride N + 5 (the 5 extra columns must stay untouched). */
static float *run(const fc_bf16_kernels *k, const prob *p, int bias, int act) {
    ptrdiff_t ld = p->N + 5;
    float *C = falloc((size_t)p->M * ld);
    for (size_t i = 0; i < (size_t)p->M * ld; i++) C[i] = -7.0f;
    fc_epilogue ep = {.bias = bias ? p->bias : NULL, .act = ACTS[act]};
    k->gemm(p->M, p->N, p->K, (const uint32_t *)p->pa, (const uint32_t *)p->pb, C, ld, &ep);
    return C;
}

/* The scalar twin against double sums of the pairs' values: within the worst-case error of f32
 * accumulation (K + 2 roundings of at most 2^-24 of the sum of magnitudes). */
static int twin_close(const prob *p, const float *C, int bias, int act) {
    ptrdiff_t ld = p->N + 5;
    for (int m = 0; m < p->M; m++)
        for (int n = 0; n < p->N; n++) {
            double s = bias ? p->bias[m] : 0, mag = fabs(s);
            for (int kk = 0; kk < p->K; kk++) {
                double t = (double)p->av[(size_t)m * p->K + kk] * p->bv[(size_t)kk * p->N + n];
                s += t, mag += fabs(t);
            }
            if (act) s = fc_act_apply(&ACTS[act], (float)s);
            if (!(fabs(C[m * ld + n] - s) <= (p->K + 2) * 0x1p-24 * mag + 1e-30)) return 0;
        }
    for (int m = 0; m < p->M; m++)
        for (int x = p->N; x < ld; x++)
            if (C[m * ld + x] != -7.0f) return 0;
    return 1;
}

static void gemm_shapes(void) {
    const fc_bf16_kernels *s = fc_bf16_kernels_by_name("scalar"), *v = fc_bf16_kernels_by_name("avx512bf16");
    rng r = {0x9e3779b9u};
    static const int Ms[] = {1, 5, 11, 12, 13, 24, 37};
    static const int Ns[] = {1, 16, 31, 32, 33, 65, 100};
    static const int Ks[] = {0, 1, 2, 3, 17, 64, 385, 1001};
    int bad_twin = 0, bad_ref = 0, cases = 0;
    for (int mi = 0; mi < 7; mi++)
        for (int ni = 0; ni < 7; ni++)
            for (int ki = 0; ki < 8; ki++) {
                if ((mi + ni + ki) % 3 && ki >= 6) continue; /* the long K on a third of the shapes */
                prob p;
                prob_init(&p, s, Ms[mi], Ns[ni], Ks[ki], &r);
                int bias = (mi + ki) % 2, act = (ni + ki) % 3;
                float *cs = run(s, &p, bias, act);
                if (!twin_close(&p, cs, bias, act) && bad_ref++ < 3)
                    printf("  scalar twin off the reference: %dx%dx%d\n", p.M, p.N, p.K);
                if (v) {
                    float *cv = run(v, &p, bias, act);
                    if (memcmp(cs, cv, (size_t)p.M * (p.N + 5) * sizeof(float)) && bad_twin++ < 3)
                        printf("  AVX512_BF16 != scalar: %dx%dx%d bias %d act %d\n", p.M, p.N, p.K, bias, act);
                    free(cv);
                }
                free(cs);
                prob_free(&p);
                cases++;
            }
    CHECK(!bad_ref, "%d of %d shapes: the scalar twin is not the f32 sum of the bf16 products", bad_ref, cases);
    CHECK(!bad_twin, "%d of %d shapes: the AVX512_BF16 GEMM differs from its scalar twin", bad_twin, cases);
    if (!v) SKIP("this CPU has no AVX512_BF16 (the scalar twin was checked)");
}

/* An element's bits do not depend on which rows and columns share the call (callers split M and N
 * at panel boundaries over threads and blocks). */
static void gemm_splits(void) {
    const fc_bf16_kernels *v = fc_bf16_kernels_by_name("avx512bf16");
    if (!v) SKIP("this CPU has no AVX512_BF16");
    rng r = {77u};
    prob p;
    prob_init(&p, v, 50, 130, 777, &r);
    float *whole = run(v, &p, 1, 2);
    ptrdiff_t ld = p.N + 5;
    float *part = falloc((size_t)p.M * ld);
    memcpy(part, whole, (size_t)p.M * ld * sizeof(float));
    fc_epilogue ep = {.bias = p.bias, .act = ACTS[2]};
    for (int m0 = 0; m0 < p.M; m0 += 24)
        for (int n0 = 0; n0 < p.N; n0 += 64) {
            int rows = p.M - m0 < 24 ? p.M - m0 : 24, cols = p.N - n0 < 64 ? p.N - n0 : 64;
            fc_epilogue e = ep;
            e.bias = p.bias + m0;
            v->gemm(rows, cols, p.K, (const uint32_t *)(p.pa + (size_t)m0 / 12 * p.K * 12),
                    (const uint32_t *)(p.pb + (size_t)n0 / 32 * p.K * 32), part + m0 * ld + n0, ld, &e);
        }
    CHECK(!memcmp(whole, part, (size_t)p.M * ld * sizeof(float)), "splitting M and N changes the bits");
    free(whole), free(part);
    prob_free(&p);
}

int main(void) {
    RUN(pack_pairs);
    RUN(gemm_shapes);
    RUN(gemm_splits);
    return check_done();
}
