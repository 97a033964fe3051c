/* The inference GEMM of `--compute bf16` (fc_kernels_bf16: weights packed as bf16 pairs, f32 B
 * panels converted on the fly) against its scalar twin (the f32 panels converted with the scalar
 * pair conversion, then the scalar bf16 product), bitwise: odd shapes (edges of the 12x32 tile, K
 * = 0, 1, odd, across several K blocks), every epilogue (bias, residual, each activation; Sigmoid
 * and SiLU within 2e-6 relative, their SIMD exp being a polynomial), a C row stride wider than N,
 * strided columns (the Gemm op's csc = M) and an in-place residual. Also: no fc_kernels_bf16 under
 * FEATCACHE_ISA below avx512 (tests/cli/test_compute_bf16.sh checks the refusal). Not here: the
 * training products (test_kernels_bf16.c), whole models (test_bf16_models.c). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/kernels/kernels.h"
#include "tests/support/check.h"

static uint64_t next(uint64_t *s) {
    *s ^= *s << 13, *s ^= *s >> 7, *s ^= *s << 17;
    return *s;
}

static float rnd(uint64_t *s) { return (float)((next(s) >> 40) & 0xFFFFFF) / 8388608.0f - 1.0f; }

static float *falloc(size_t n) {
    float *p = aligned_alloc(64, (n * sizeof(float) + 127) / 64 * 64);
    if (!p) abort();
    return p;
}

static const fc_act ACTS[] = {{FC_ACT_NONE, 0, 0},        {FC_ACT_RELU, 0, 0},
                              {FC_ACT_CLIP, -0.5f, 0.25f}, {FC_ACT_LEAKY, 0.1f, 0},
                              {FC_ACT_HARDSIGMOID, 0.2f, 0.5f}, {FC_ACT_HARDSWISH, 0, 0},
                              {FC_ACT_SIGMOID, 0, 0},     {FC_ACT_SILU, 0, 0}};
enum { N_ACTS = 8 };

/* One problem: A (M, K), B (K, N) f32 row-major, bias (M), residual like C. */
typedef struct prob {
    int M, N, K;
    ptrdiff_t rsc, csc;
    float *A, *B, *bias, *res;
} prob;

/* C through the table's own packing and GEMM; C pre-filled with -7 (the gaps must stay so). */
static float *run_simd(const fc_kernels *k, const prob *p, const fc_epilogue *ep, int inplace) {
    size_t cn = (size_t)p->M * p->rsc + (size_t)p->N * p->csc;
    float *pa = falloc(fc_kernels_packed_a_floats(k, p->M, p->K) + 16);
    float *pb = falloc(fc_kernels_packed_b_floats(k, p->K, p->N) + 16), *C = falloc(cn);
    for (size_t i = 0; i < cn; i++) C[i] = -7.0f;
    k->pack_a(p->M, p->K, p->A, p->K, 1, pa);
    k->pack_b(p->K, p->N, p->B, p->N, 1, pb);
    fc_epilogue e = *ep;
    if (inplace) { /* residual read from C itself */
        for (int m = 0; m < p->M; m++)
            for (int n = 0; n < p->N; n++) C[m * p->rsc + n * p->csc] = p->res[m * p->rsc + n * p->csc];
        e.residual = C;
    }
    k->sgemm_packed(p->M, p->N, p->K, pa, pb, C, p->rsc, p->csc, &e);
    free(pa), free(pb);
    return C;
}

/* The twin: f32 panels by formula (12 rows / 32 columns, zero past the edges), converted by the
 * scalar pair conversion, multiplied by the scalar bf16 GEMM into a dense C, then placed like C. */
static float *run_twin(const prob *p, const fc_epilogue *ep) {
    const fc_bf16_kernels *s = fc_bf16_kernels_by_name("scalar");
    int M = p->M, N = p->N, K = p->K, K1 = K ? K : 1, mp = (M + 11) / 12, np = (N + 31) / 32;
    float *pa = falloc((size_t)mp * 12 * K1), *pb = falloc((size_t)np * 32 * K1);
    float *Cd = falloc((size_t)M * N + 1), *Rd = falloc((size_t)M * N + 1);
    for (int q = 0; q < mp; q++) {
        for (int k = 0; k < K; k++)
            for (int r = 0; r < 12; r++)
                pa[(size_t)q * 12 * K + (size_t)k * 12 + r] = q * 12 + r < M ? p->A[(size_t)(q * 12 + r) * K + k] : 0.0f;
        s->pack(pa + (size_t)q * 12 * K, K, 12);
    }
    for (int q = 0; q < np; q++) {
        for (int k = 0; k < K; k++)
            for (int c = 0; c < 32; c++)
                pb[(size_t)q * 32 * K + (size_t)k * 32 + c] = q * 32 + c < N ? p->B[(size_t)k * N + q * 32 + c] : 0.0f;
        s->pack(pb + (size_t)q * 32 * K, K, 32);
    }
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) Rd[(size_t)m * N + n] = p->res[m * p->rsc + n * p->csc];
    fc_epilogue e = *ep;
    e.residual = ep->residual ? Rd : NULL;
    s->gemm(M, N, K, (const uint32_t *)pa, (const uint32_t *)pb, Cd, N, &e);
    size_t cn = (size_t)M * p->rsc + (size_t)N * p->csc;
    float *C = falloc(cn);
    for (size_t i = 0; i < cn; i++) C[i] = -7.0f;
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) C[m * p->rsc + n * p->csc] = Cd[(size_t)m * N + n];
    free(pa), free(pb), free(Cd), free(Rd);
    return C;
}

/* Bitwise, or (Sigmoid, SiLU) within 2e-6 relative plus 1e-30. */
static int same(const float *a, const float *b, size_t n, int kind) {
    if (kind != FC_ACT_SIGMOID && kind != FC_ACT_SILU) return !memcmp(a, b, n * sizeof(float));
    for (size_t i = 0; i < n; i++)
        if (!(fabsf(a[i] - b[i]) <= 2e-6f * fabsf(b[i]) + 1e-30f)) return 0;
    return 1;
}

static void gemm_vs_twin(void) {
    const fc_kernels *k = fc_kernels_bf16();
    if (!k) SKIP("this CPU has no AVX512_BF16 (or FEATCACHE_ISA lowers the level)");
    uint64_t seed = 0x51ed2701u;
    static const int Ms[] = {1, 5, 12, 13, 37, 64};
    static const int Ns[] = {1, 7, 31, 32, 33, 100};
    static const int Ks[] = {0, 1, 2, 3, 17, 27, 384, 385, 1001};
    int bad = 0, cases = 0;
    for (int mi = 0; mi < 6; mi++)
        for (int ni = 0; ni < 6; ni++)
            for (int ki = 0; ki < 9; ki++) {
                if ((mi + ni + ki) % 3 && ki >= 6) continue; /* the long K on a third of the shapes */
                int M = Ms[mi], N = Ns[ni], K = Ks[ki], strided = (mi + ni) % 4 == 3;
                prob p = {.M = M, .N = N, .K = K, .rsc = strided ? 1 : N + 5, .csc = strided ? M + 3 : 1};
                size_t cn = (size_t)M * p.rsc + (size_t)N * p.csc;
                p.A = falloc((size_t)M * K + 1), p.B = falloc((size_t)K * N + 1);
                p.bias = falloc(M), p.res = falloc(cn);
                for (size_t i = 0; i < (size_t)M * K; i++) p.A[i] = rnd(&seed);
                for (size_t i = 0; i < (size_t)K * N; i++) p.B[i] = rnd(&seed);
                for (int i = 0; i < M; i++) p.bias[i] = rnd(&seed);
                for (size_t i = 0; i < cn; i++) p.res[i] = 4.0f * rnd(&seed);
                int act = (mi + 2 * ni + ki) % N_ACTS, withres = (ni + ki) % 2, inplace = withres && ki % 3 == 0;
                fc_epilogue ep = {.bias = (mi + ki) % 2 ? p.bias : NULL, .residual = withres ? p.res : NULL,
                                  .act = ACTS[act], .stream = ki % 2};
                float *cv = run_simd(k, &p, &ep, inplace), *cs = run_twin(&p, &ep);
                if (!same(cv, cs, cn, ACTS[act].kind) && bad++ < 3)
                    printf("  bf16 GEMM != scalar twin: %dx%dx%d act %d residual %d%s csc %td\n", M, N, K,
                           ACTS[act].kind, withres, inplace ? " (in place)" : "", p.csc);
                free(cv), free(cs), free(p.A), free(p.B), free(p.bias), free(p.res);
                cases++;
            }
    CHECK(!bad, "%d of %d shapes: the bf16 inference GEMM differs from its scalar twin", bad, cases);
}

int main(void) {
    RUN(gemm_vs_twin);
    return check_done();
}
