/* Kernel tests: every SIMD kernel table the CPU supports (avx2, avx512) is compared with the scalar
 * reference on awkward shapes (edges of every tile size, K = 0, K across cache blocks, strided C, every
 * epilogue), packed layouts are checked element by element against the documented formula, bitwise
 * determinism is checked across different N/M splits and C strides, and the scalar reference itself is
 * checked against naive double-precision loops. Tables the CPU cannot run are SKIPped with the reason.
 * Not here: operator-level tests (conv shapes, im2col), performance (bench/bench_kernels.c). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "engine/kernels/internal.h" /* the pixel-broadcast tile's scalar twin, in no table */
#include "engine/kernels/kernels.h"
#include "tests/support/check.h"

/* ---- helpers ---------------------------------------------------------------------------------- */

typedef struct rng {
    uint64_t s;
} rng;

static float rnd(rng *r) { /* uniform in [-1, 1) */
    r->s ^= r->s << 13, r->s ^= r->s >> 7, r->s ^= r->s << 17;
    return (float)((r->s >> 40) & 0xFFFFFF) / 8388608.0f - 1.0f;
}

static float *falloc(size_t n) {
    size_t bytes = (n * sizeof(float) + 63) / 64 * 64;
    float *p = aligned_alloc(64, bytes ? bytes : 64);
    if (!p) abort();
    return p;
}

static float *frand(size_t n, rng *r) {
    float *p = falloc(n);
    for (size_t i = 0; i < n; i++) p[i] = rnd(r);
    return p;
}

static void ffill(float *p, size_t n, float v) {
    for (size_t i = 0; i < n; i++) p[i] = v;
}

static const float SENTINEL = -12345.0f;

static const fc_act ACTS[] = {
    {FC_ACT_NONE, 0, 0},          {FC_ACT_RELU, 0, 0},    {FC_ACT_CLIP, 0.0f, 6.0f},
    {FC_ACT_CLIP, -0.5f, 0.25f},  {FC_ACT_LEAKY, 0.1f, 0}, {FC_ACT_SIGMOID, 0, 0},
    {FC_ACT_HARDSIGMOID, 0.2f, 0.5f}, {FC_ACT_HARDSWISH, 0, 0}, {FC_ACT_SILU, 0, 0},
};
enum { NACTS = sizeof ACTS / sizeof *ACTS };

/* ---- GEMM ------------------------------------------------------------------------------------- */

/* One GEMM problem with its unpacked operands; C layouts chosen by the case. */
typedef struct gemm_prob {
    int M, N, K;
    float *A, *B;     /* A (M, K) row-major; B (K, N) row-major */
    float *bias;      /* (M) */
    float *res;       /* (M, N) row-major */
    double *mag;      /* (M, N): sum_k |a b| + |bias| + |res|, the scale of rounding error */
} gemm_prob;

static void prob_init(gemm_prob *p, int M, int N, int K, uint64_t seed) {
    rng r = {seed * 2654435761u + 12345};
    p->M = M, p->N = N, p->K = K;
    p->A = frand((size_t)M * K, &r);
    p->B = frand((size_t)K * N, &r);
    p->bias = frand(M, &r);
    p->res = frand((size_t)M * N, &r);
    p->mag = malloc(sizeof(double) * (M * N > 0 ? M * N : 1));
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
            double s = fabs(p->bias[m]) + fabs(p->res[m * N + n]);
            for (int k = 0; k < K; k++) s += fabs((double)p->A[m * K + k] * p->B[k * N + n]);
            p->mag[m * N + n] = s;
        }
}

static void prob_free(gemm_prob *p) {
    free(p->A), free(p->B), free(p->bias), free(p->res), free(p->mag);
}

/* C (M, N) row-major = epilogue(A B) with table k; C layout: csc == 1 with row padding, or transposed
 * (csc = M + 2). use_bias/use_res select the epilogue terms. */
static void gemm_run(const fc_kernels *k, const gemm_prob *p, int transposed_c, int use_bias,
                     int use_res, const fc_act *act, float *out) {
    int M = p->M, N = p->N, K = p->K;
    size_t na = fc_kernels_packed_a_floats(k, M, K), nb = fc_kernels_packed_b_floats(k, K, N);
    float *pa = falloc(na), *pb = falloc(nb);
    ffill(pa, na, NAN), ffill(pb, nb, NAN); /* packing must overwrite everything */
    /* pack A from a column-major copy half the time, to exercise csa != 1 */
    if ((M + K) % 2) {
        float *At = falloc((size_t)M * K);
        for (int m = 0; m < M; m++)
            for (int kk = 0; kk < K; kk++) At[kk * M + m] = p->A[m * K + kk];
        k->pack_a(M, K, At, 1, M, pa);
        free(At);
    } else {
        k->pack_a(M, K, p->A, K, 1, pa);
    }
    k->pack_b(K, N, p->B, N, 1, pb);
    ptrdiff_t rsc = transposed_c ? 1 : N + 3, csc = transposed_c ? M + 2 : 1;
    size_t nc = transposed_c ? (size_t)(M + 2) * N : (size_t)M * (N + 3);
    float *C = falloc(nc), *R = falloc(nc);
    ffill(C, nc, SENTINEL), ffill(R, nc, NAN);
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) R[m * rsc + n * csc] = p->res[m * N + n];
    fc_epilogue ep = {use_bias ? p->bias : NULL, use_res ? R : NULL, *act, 0};
    k->sgemm_packed(M, N, K, pa, pb, C, rsc, csc, &ep);
    int guard_ok = 1;
    for (size_t i = 0; i < nc; i++) {
        int m = transposed_c ? (int)(i % (M + 2)) : (int)(i / (N + 3));
        int n = transposed_c ? (int)(i / (M + 2)) : (int)(i % (N + 3));
        if (m < M && n < N) out[m * N + n] = C[i];
        else if (C[i] != SENTINEL) guard_ok = 0;
    }
    CHECK(guard_ok, "%s wrote outside C (M=%d N=%d K=%d transposed=%d)", k->name, M, N, K, transposed_c);
    free(pa), free(pb), free(C), free(R);
}

/* Number of elements where got differs from ref by more than the rounding budget. */
static int gemm_mismatches(const gemm_prob *p, const float *got, const float *ref, int *first) {
    int bad = 0;
    for (int i = 0; i < p->M * p->N; i++) {
        double tol = 1e-5 * p->mag[i] + 2e-6 * fabs(ref[i]) + 1e-7;
        if (!(fabs((double)got[i] - ref[i]) <= tol)) {
            if (!bad) *first = i;
            bad++;
        }
    }
    return bad;
}

/* Compares table k with scalar on one problem and epilogue; returns 1 if equal within tolerance. */
static int gemm_compare(const fc_kernels *k, const gemm_prob *p, int transposed_c, int use_bias,
                        int use_res, const fc_act *act) {
    const fc_kernels *s = fc_kernels_by_name("scalar");
    size_t n = (size_t)p->M * p->N;
    float *ref = falloc(n ? n : 1), *got = falloc(n ? n : 1);
    gemm_run(s, p, 0, use_bias, use_res, act, ref);
    gemm_run(k, p, transposed_c, use_bias, use_res, act, got);
    int first = 0, bad = gemm_mismatches(p, got, ref, &first);
    CHECK(bad == 0,
          "%s M=%d N=%d K=%d transposed_c=%d bias=%d res=%d act=%d: %d mismatches, first (%d,%d) got "
          "%.9g want %.9g",
          k->name, p->M, p->N, p->K, transposed_c, use_bias, use_res, act->kind, bad,
          bad ? first / p->N : 0, bad ? first % p->N : 0, bad ? got[first] : 0.0, bad ? ref[first] : 0.0);
    free(ref), free(got);
    return bad == 0;
}

static const int SIZES[] = {1, 2, 3, 5, 7, 13, 17, 31, 33, 64, 100};
enum { NSIZES = sizeof SIZES / sizeof *SIZES };

/* Every (M, N) pair of SIZES with K from SIZES plus 0, cycling through epilogues and C layouts. */
static void gemm_shapes(const fc_kernels *k) {
    int combo = 0, fails = 0;
    for (int im = 0; im < NSIZES; im++)
        for (int in = 0; in < NSIZES; in++)
            for (int ik = -1; ik < NSIZES; ik += 2) { /* K = 0, 2, 5, 13, 31, 64 and below */
                int M = SIZES[im], N = SIZES[in], K = ik < 0 ? 0 : SIZES[ik];
                if (M * N * K > 200000) continue;
                gemm_prob p;
                prob_init(&p, M, N, K, (uint64_t)combo + 1);
                int e = combo % (4 * NACTS);
                if (!gemm_compare(k, &p, combo % 3 == 2, e & 1, (e >> 1) & 1, &ACTS[(e >> 2) % NACTS]))
                    fails++;
                prob_free(&p);
                combo++;
                if (fails > 5) return;
            }
    for (int ik = 0; ik < NSIZES; ik += 2) { /* the odd K sizes on a few shapes */
        int K = SIZES[ik] , dims[][2] = {{7, 33}, {13, 17}, {100, 31}};
        for (int d = 0; d < 3; d++) {
            gemm_prob p;
            prob_init(&p, dims[d][0], dims[d][1], K, 777u + ik * 3 + d);
            gemm_compare(k, &p, d == 1, 1, d != 0, &ACTS[(ik + d) % NACTS]);
            prob_free(&p);
        }
    }
}

/* K across the cache-block boundaries and large K (first/last block handling of the epilogue). */
static void gemm_large_k(const fc_kernels *k) {
    const int Ks[] = {255, 256, 257, 383, 384, 385, 511, 512, 513, 767, 1025, 2304};
    const int MN[][2] = {{7, 33}, {33, 7}, {100, 100}, {1, 64}, {64, 1}};
    int i = 0;
    for (size_t a = 0; a < sizeof Ks / sizeof *Ks; a++)
        for (size_t b = 0; b < sizeof MN / sizeof *MN; b++, i++) {
            gemm_prob p;
            prob_init(&p, MN[b][0], MN[b][1], Ks[a], 1000u + i);
            gemm_compare(k, &p, i % 4 == 3, i % 2, (i / 2) % 2, &ACTS[i % NACTS]);
            prob_free(&p);
        }
}

/* M over one L2 block of A's rows (sgemm_packed takes each block of rows through every K block):
 * against the scalar GEMM with bias, residual and activations, both C layouts; and bitwise the
 * same as one call per MR-row panel (where every call is a single block of rows). */
static void gemm_row_blocks(const fc_kernels *k) {
    const int Ks[] = {256, 700};
    for (int i = 0; i < 2; i++) {
        int M = 1100, N = 45, K = Ks[i], mr = k->mr;
        gemm_prob p;
        prob_init(&p, M, N, K, 77u + i);
        for (int t = 0; t < 2; t++) gemm_compare(k, &p, t, 1, 1, &ACTS[t ? 8 : 1]);
        float *pa = falloc(fc_kernels_packed_a_floats(k, M, K)), *pb = falloc(fc_kernels_packed_b_floats(k, K, N));
        float *whole = falloc((size_t)M * N), *rows = falloc((size_t)M * N);
        k->pack_a(M, K, p.A, K, 1, pa);
        k->pack_b(K, N, p.B, N, 1, pb);
        fc_epilogue ep = {p.bias, p.res, ACTS[2], 0};
        k->sgemm_packed(M, N, K, pa, pb, whole, N, 1, &ep);
        for (int m0 = 0; m0 < M; m0 += mr) {
            fc_epilogue e = {p.bias + m0, p.res + (size_t)m0 * N, ACTS[2], 0};
            k->sgemm_packed(M - m0 < mr ? M - m0 : mr, N, K, pa + (size_t)m0 * K, pb, rows + (size_t)m0 * N, N, 1, &e);
        }
        CHECK(!memcmp(whole, rows, (size_t)M * N * sizeof(float)),
              "%s M=%d K=%d: one call differs bitwise from one call per panel of rows", k->name, M, K);
        free(pa), free(pb), free(whole), free(rows);
        prob_free(&p);
    }
}

/* Every epilogue combination, both C layouts, on a shape with edges in M and N and 3 K blocks. */
static void gemm_epilogues(const fc_kernels *k) {
    gemm_prob p;
    prob_init(&p, 13, 37, 700, 4242);
    for (int t = 0; t < 2; t++)
        for (int e = 0; e < 4; e++)
            for (int a = 0; a < NACTS; a++) gemm_compare(k, &p, t, e & 1, e >> 1, &ACTS[a]);
    prob_free(&p);
    prob_init(&p, 5, 3, 0, 4343); /* K = 0: C = act(bias + residual) */
    for (int e = 0; e < 4; e++)
        for (int a = 0; a < NACTS; a++) gemm_compare(k, &p, e & 1, e & 1, e >> 1, &ACTS[a]);
    prob_free(&p);
}

/* Residual aliasing C (in-place residual add) with K spanning several blocks. */
static void gemm_residual_in_place(const fc_kernels *k) {
    const fc_kernels *s = fc_kernels_by_name("scalar");
    int M = 19, N = 45, K = 900;
    gemm_prob p;
    prob_init(&p, M, N, K, 99);
    float *ref = falloc((size_t)M * N);
    gemm_run(s, &p, 0, 1, 1, &ACTS[1], ref);
    float *pa = falloc(fc_kernels_packed_a_floats(k, M, K)), *pb = falloc(fc_kernels_packed_b_floats(k, K, N));
    k->pack_a(M, K, p.A, K, 1, pa);
    k->pack_b(K, N, p.B, N, 1, pb);
    float *C = falloc((size_t)M * N);
    memcpy(C, p.res, sizeof(float) * M * N);
    fc_epilogue ep = {p.bias, C, ACTS[1], 0};
    k->sgemm_packed(M, N, K, pa, pb, C, N, 1, &ep);
    int first = 0, bad = gemm_mismatches(&p, C, ref, &first);
    CHECK(bad == 0, "%s residual == C: %d mismatches, first %d got %g want %g", k->name, bad, first,
          bad ? C[first] : 0.0, bad ? ref[first] : 0.0);
    free(ref), free(pa), free(pb), free(C);
    prob_free(&p);
}

/* Rows [k0, k0 + kb) of B (K, N) packed on their own into panels pbs floats apart (more than the
 * kb * nr pack_b leaves between them: the stride is the caller's). */
static float *pack_slice(const fc_kernels *k, const gemm_prob *p, int k0, int kb, size_t pbs) {
    int panels = (p->N + k->nr - 1) / k->nr;
    float *tight = falloc(fc_kernels_packed_b_floats(k, kb, p->N)), *slice = falloc((size_t)panels * pbs);
    k->pack_b(kb, p->N, p->B + (size_t)k0 * p->N, p->N, 1, tight);
    ffill(slice, (size_t)panels * pbs, NAN);
    for (int q = 0; q < panels; q++)
        memcpy(slice + q * pbs, tight + (size_t)q * kb * k->nr, sizeof(float) * kb * k->nr);
    free(tight);
    return slice;
}

/* sgemm_kblock called for every block of gemm_kc's cut, each block's slice of B packed on its own,
 * gives sgemm_packed's bits: one block, two, several, a short last one; edge rows and columns;
 * bias, residual (also in place: residual == C) and every activation. */
static void gemm_kblocks(const fc_kernels *k) {
    CHECK(k->sgemm_kblock && k->gemm_kc, "%s: no K-block GEMM", k->name);
    if (!k->sgemm_kblock || !k->gemm_kc) return;
    static const int shapes[][3] = {{13, 37, 1}, {25, 70, 191}, {13, 64, 193}, {30, 45, 700}, {12, 33, 1201}};
    int bad = 0, cases = 0;
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        gemm_prob p;
        int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2], kc = k->gemm_kc(K);
        prob_init(&p, M, N, K, 777 + s);
        CHECK(kc >= 1, "%s: gemm_kc(%d) = %d", k->name, K, kc); /* >= K: one block */
        if (kc < 1) {
            prob_free(&p);
            continue;
        }
        float *pa = falloc(fc_kernels_packed_a_floats(k, M, K)), *pb = falloc(fc_kernels_packed_b_floats(k, K, N));
        k->pack_a(M, K, p.A, K, 1, pa);
        k->pack_b(K, N, p.B, N, 1, pb);
        float *whole = falloc((size_t)M * N), *blocks = falloc((size_t)M * N), *res = falloc((size_t)M * N);
        for (int a = 0; a < NACTS; a++)
            for (int in_place = 0; in_place < 2; in_place++) {
                memcpy(whole, p.res, sizeof(float) * M * N);
                memcpy(blocks, p.res, sizeof(float) * M * N);
                memcpy(res, p.res, sizeof(float) * M * N);
                fc_epilogue e0 = {p.bias, in_place ? whole : res, ACTS[a], 0}, e1 = e0;
                e1.residual = in_place ? blocks : res;
                k->sgemm_packed(M, N, K, pa, pb, whole, N, 1, &e0);
                for (int k0 = 0; k0 < K; k0 += kc) {
                    int kb = K - k0 < kc ? K - k0 : kc;
                    size_t pbs = (size_t)kb * k->nr + 16;
                    float *slice = pack_slice(k, &p, k0, kb, pbs);
                    k->sgemm_kblock(M, N, K, k0, pa, slice, pbs, blocks, N, 1, &e1);
                    free(slice);
                }
                cases++;
                if (memcmp(whole, blocks, sizeof(float) * M * N)) {
                    bad++;
                    printf("  %s: K blocks != whole: %dx%dx%d (kc %d) act %d in place %d\n", k->name, M, N, K, kc,
                           ACTS[a].kind, in_place);
                }
            }
        free(pa), free(pb), free(whole), free(blocks), free(res);
        prob_free(&p);
    }
    CHECK(!bad, "%s: %d of %d cases: sgemm_kblock block by block differs from sgemm_packed", k->name, bad, cases);
}

/* Packed layouts match the documented formula exactly, zero padding included, for strided sources. */
static void pack_layout(const fc_kernels *k) {
    rng r = {7};
    for (int M = 1; M <= 2 * k->mr + 1; M += k->mr - 1 > 1 ? k->mr - 1 : 1)
        for (int K = 1; K <= 9; K += 4) {
            float *A = frand((size_t)M * K * 3, &r); /* strided: rsa = 3, csa = 3*M */
            size_t n = fc_kernels_packed_a_floats(k, M, K);
            float *pa = falloc(n);
            ffill(pa, n, NAN);
            k->pack_a(M, K, A, 3, 3 * M, pa);
            int bad = 0;
            CHECK(n == (size_t)((M + k->mr - 1) / k->mr) * k->mr * K, "%s packed A size %zu", k->name, n);
            for (int p = 0; p * k->mr < M; p++)
                for (int kk = 0; kk < K; kk++)
                    for (int i = 0; i < k->mr; i++) {
                        int m = p * k->mr + i;
                        float want = m < M ? A[m * 3 + kk * 3 * M] : 0.0f;
                        if (memcmp(&pa[(size_t)p * K * k->mr + kk * k->mr + i], &want, 4)) bad++;
                    }
            CHECK(bad == 0, "%s pack_a M=%d K=%d: %d wrong elements", k->name, M, K, bad);
            free(A), free(pa);
        }
    for (int N = 1; N <= 2 * k->nr + 3; N += 3)
        for (int K = 1; K <= 9; K += 4)
            for (int strided = 0; strided < 2; strided++) {
                ptrdiff_t rsb = strided ? 1 : N + 5, csb = strided ? 2 * K : 1;
                float *B = frand((size_t)(N + 5) * K * 2, &r);
                size_t n = fc_kernels_packed_b_floats(k, K, N);
                float *pb = falloc(n);
                ffill(pb, n, NAN);
                k->pack_b(K, N, B, rsb, csb, pb);
                int bad = 0;
                for (int q = 0; q * k->nr < N; q++)
                    for (int kk = 0; kk < K; kk++)
                        for (int j = 0; j < k->nr; j++) {
                            int c = q * k->nr + j;
                            float want = c < N ? B[kk * rsb + c * csb] : 0.0f;
                            if (memcmp(&pb[(size_t)q * K * k->nr + kk * k->nr + j], &want, 4)) bad++;
                        }
                CHECK(bad == 0, "%s pack_b N=%d K=%d strided=%d: %d wrong elements", k->name, N, K,
                      strided, bad);
                free(B), free(pb);
            }
}

/* Bitwise: a column (row) of C does not depend on N (M), on where the call starts, or on csc. */
static void gemm_determinism(const fc_kernels *k) {
    int M = 50, N = 100, K = 600, mr = k->mr, nr = k->nr;
    gemm_prob p;
    prob_init(&p, M, N, K, 5);
    float *pa = falloc(fc_kernels_packed_a_floats(k, M, K)), *pb = falloc(fc_kernels_packed_b_floats(k, K, N));
    k->pack_a(M, K, p.A, K, 1, pa);
    k->pack_b(K, N, p.B, N, 1, pb);
    fc_epilogue ep = {p.bias, p.res, ACTS[8], 0};
    float *full = falloc((size_t)M * N), *part = falloc((size_t)M * N), *tr = falloc((size_t)M * N);
    k->sgemm_packed(M, N, K, pa, pb, full, N, 1, &ep);
    const int subs[] = {1, 2, 17, 31, 33, 64, 99};
    for (size_t s = 0; s < sizeof subs / sizeof *subs; s++) {
        int n1 = subs[s];
        float *pb1 = falloc(fc_kernels_packed_b_floats(k, K, n1));
        k->pack_b(K, n1, p.B, N, 1, pb1); /* the first n1 columns of B only */
        ffill(part, (size_t)M * N, SENTINEL);
        k->sgemm_packed(M, n1, K, pa, pb1, part, N, 1, &ep);
        int bad = 0;
        for (int m = 0; m < M; m++) bad += memcmp(&part[m * N], &full[m * N], 4 * n1) != 0;
        CHECK(bad == 0, "%s N=%d vs N=%d: %d rows differ bitwise", k->name, n1, N, bad);
        free(pb1);
    }
    /* calls starting at panel 2 (columns) and panel 1 (rows) */
    int c0 = 2 * nr < N ? 2 * nr : 0, r0 = mr < M ? mr : 0;
    ffill(part, (size_t)M * N, SENTINEL);
    fc_epilogue ep2 = {p.bias + r0, p.res + r0 * N + c0, ACTS[8], 0};
    k->sgemm_packed(M - r0, N - c0, K, pa + (size_t)r0 * K, pb + (size_t)c0 * K, part + r0 * N + c0, N,
                    1, &ep2);
    int bad = 0;
    for (int m = r0; m < M; m++) bad += memcmp(&part[m * N + c0], &full[m * N + c0], 4 * (N - c0)) != 0;
    CHECK(bad == 0, "%s offset call (rows from %d, cols from %d): %d rows differ bitwise", k->name, r0,
          c0, bad);
    /* strided C (transposed) gives the same bits */
    float *rt = falloc((size_t)M * N);
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) rt[n * M + m] = p.res[m * N + n];
    fc_epilogue ep3 = {p.bias, rt, ACTS[8], 0};
    k->sgemm_packed(M, N, K, pa, pb, tr, 1, M, &ep3);
    bad = 0;
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) bad += memcmp(&tr[n * M + m], &full[m * N + n], 4) != 0;
    CHECK(bad == 0, "%s csc != 1: %d elements differ bitwise from csc == 1", k->name, bad);
    free(rt), free(pa), free(pb), free(full), free(part), free(tr);
    prob_free(&p);
}

/* The streaming-store hint never changes a bit: K in one block and over several, C rows aligned and
 * not, partial panels, clamp and non-clamp activations, residual in place. */
static void gemm_stream(const fc_kernels *k) {
    const int Ks[] = {16, 200, 600}, Ns[] = {96, 100, 37};
    for (int ki = 0; ki < 3; ki++)
        for (int ni = 0; ni < 3; ni++)
            for (int a = 0; a < 3; a++) {
                int M = 50, N = Ns[ni], K = Ks[ki];
                const fc_act *act = &ACTS[a == 0 ? 1 : a == 1 ? 2 : 5];
                gemm_prob p;
                prob_init(&p, M, N, K, 40u + ki * 9 + ni * 3 + a);
                float *pa = falloc(fc_kernels_packed_a_floats(k, M, K));
                float *pb = falloc(fc_kernels_packed_b_floats(k, K, N));
                k->pack_a(M, K, p.A, K, 1, pa);
                k->pack_b(K, N, p.B, N, 1, pb);
                float *c0 = falloc((size_t)M * N), *c1 = falloc((size_t)M * N);
                memcpy(c0, p.res, sizeof(float) * M * N);
                memcpy(c1, p.res, sizeof(float) * M * N);
                fc_epilogue e0 = {p.bias, c0, *act, 0}, e1 = {p.bias, c1, *act, 1};
                k->sgemm_packed(M, N, K, pa, pb, c0, N, 1, &e0);
                k->sgemm_packed(M, N, K, pa, pb, c1, N, 1, &e1);
                CHECK(memcmp(c0, c1, sizeof(float) * M * N) == 0,
                      "%s stream hint changed the result (M=%d N=%d K=%d act=%d)", k->name, M, N, K,
                      act->kind);
                free(pa), free(pb), free(c0), free(c1);
                prob_free(&p);
            }
}

/* ---- depthwise convolution --------------------------------------------------------------------- */

typedef struct dw_case {
    int H, W, KH, KW, SH, SW, PT, PB, PL, PR, DH, DW;
} dw_case;

static int dw_out(int n, int p0, int p1, int k, int d, int s) { return (n + p0 + p1 - d * (k - 1) - 1) / s + 1; }

static fc_conv2d_geom dw_geom(const dw_case *c, int OH, int OW) {
    return (fc_conv2d_geom){c->H, c->W, c->KH, c->KW, c->SH, c->SW, c->PT, c->PL, c->DH, c->DW,
                            OH, OW};
}

/* Compares table k with scalar on one case; ref tolerance from sum |w x|. */
static int dw_compare(const fc_kernels *k, const dw_case *c, const fc_act *act, uint64_t seed) {
    const fc_kernels *s = fc_kernels_by_name("scalar");
    int OH = dw_out(c->H, c->PT, c->PB, c->KH, c->DH, c->SH), OW = dw_out(c->W, c->PL, c->PR, c->KW, c->DW, c->SW);
    if (OH <= 0 || OW <= 0) return 1;
    rng r = {seed + 3};
    /* the plane sits between NaN guards: reading outside it poisons the result */
    size_t plane = (size_t)c->H * c->W;
    float *buf = falloc(plane + 128), *in = buf + 64, *w = frand((size_t)c->KH * c->KW, &r);
    ffill(buf, plane + 128, NAN);
    for (size_t i = 0; i < plane; i++) in[i] = rnd(&r);
    float bias = rnd(&r);
    size_t no = (size_t)OH * OW;
    float *ref = falloc(no), *got = falloc(no + 16);
    ffill(got, no + 16, SENTINEL);
    fc_conv2d_geom g = dw_geom(c, OH, OW);
    s->dwconv_plane(&g, in, w, bias, act, ref);
    k->dwconv_plane(&g, in, w, bias, act, got);
    int bad = 0, first = -1;
    for (int oy = 0; oy < OH; oy++)
        for (int ox = 0; ox < OW; ox++) {
            double mag = fabs(bias);
            for (int i = 0; i < c->KH; i++)
                for (int j = 0; j < c->KW; j++) {
                    int iy = oy * c->SH - c->PT + i * c->DH, ix = ox * c->SW - c->PL + j * c->DW;
                    if (iy >= 0 && iy < c->H && ix >= 0 && ix < c->W)
                        mag += fabs((double)w[i * c->KW + j] * in[iy * c->W + ix]);
                }
            size_t o = (size_t)oy * OW + ox;
            if (!(fabs((double)got[o] - ref[o]) <= 1e-5 * mag + 2e-6 * fabs(ref[o]) + 1e-7)) {
                if (first < 0) first = (int)o;
                bad++;
            }
        }
    for (int i = 0; i < 16; i++) bad += got[no + i] != SENTINEL;
    CHECK(bad == 0,
          "%s dwconv H=%d W=%d K=%dx%d S=%d,%d P=%d,%d,%d,%d D=%d,%d act=%d: %d bad, first %d got %g "
          "want %g",
          k->name, c->H, c->W, c->KH, c->KW, c->SH, c->SW, c->PT, c->PB, c->PL, c->PR, c->DH, c->DW,
          act ? act->kind : -1, bad, first, first >= 0 ? got[first] : 0.0, first >= 0 ? ref[first] : 0.0);
    free(buf), free(w), free(ref), free(got);
    return bad == 0;
}

static void dwconv_cases(const fc_kernels *k) {
    const int sizes[] = {1, 2, 5, 7, 13, 17, 31, 56};
    int n = 0, fails = 0;
    for (size_t ih = 0; ih < sizeof sizes / sizeof *sizes; ih++)
        for (size_t iw = 0; iw < sizeof sizes / sizeof *sizes; iw++)
            for (int kk = 0; kk < 4; kk++) {       /* 3x3, 5x5, 1x1, 3x5 */
                for (int st = 1; st <= 3; st++)
                    for (int pad = 0; pad < 6; pad++) {
                        const int pads[6][4] = {{0, 0, 0, 0}, {1, 1, 1, 1}, {0, 1, 0, 2},
                                                {2, 0, 2, 0}, {1, 2, 1, 0}, {2, 2, 0, 1}}; /* T B L R */
                        dw_case c = {sizes[ih], sizes[iw], 3, 3, st, st, pads[pad][0], pads[pad][1],
                                     pads[pad][2], pads[pad][3], 1, 1};
                        if (kk == 1) c.KH = c.KW = 5;
                        if (kk == 2) c.KH = c.KW = 1;
                        if (kk == 3) c.KW = 5, c.SW = st == 3 ? 1 : st;
                        if ((n % 5) == 4) c.DH = c.DW = 2;
                        const fc_act *act = n % 10 == 9 ? NULL : &ACTS[n % NACTS];
                        if (!dw_compare(k, &c, act, (uint64_t)n)) fails++;
                        n++;
                        if (fails > 5) return;
                    }
            }
    /* wide rows (column strips), tall dilation (ring fallback), 1-row images */
    dw_case wide = {3, 3001, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1};
    dw_compare(k, &wide, &ACTS[2], 1);
    dw_case wide2 = {4, 2999, 5, 5, 2, 2, 2, 2, 2, 1, 1, 2};
    dw_compare(k, &wide2, &ACTS[5], 2);
    dw_case tall = {40, 9, 9, 3, 1, 1, 36, 36, 1, 1, 9, 1};
    dw_compare(k, &tall, &ACTS[1], 3);
    dw_case big = {20, 20, 7, 7, 1, 1, 3, 3, 3, 3, 1, 1};
    dw_compare(k, &big, &ACTS[7], 4);
    /* padding wider than a vector, both strides, both paths (narrow and wide rows) */
    for (int st = 1; st <= 2; st++) {
        dw_case padded = {5, 40, 3, 3, st, st, 9, 9, 19, 21, 1, 1};
        dw_compare(k, &padded, &ACTS[1], 5u + st);
        dw_case padded2 = {6, 9, 3, 3, st, st, 2, 1, 17, 18, 1, 1};
        dw_compare(k, &padded2, &ACTS[3], 7u + st);
        for (int pl = 8; pl <= 15; pl++) {
            dw_case padded3 = {3, 30, 3, 3, st, st, 1, 1, pl, pl, 1, 1};
            dw_compare(k, &padded3, NULL, 9u + pl);
        }
    }
}

/* dwconv_channels on nch planes (NaN gaps between input planes, sentinel gaps between output planes)
 * vs the scalar table's; each channel is also recomputed alone (nch = 1) and must match bitwise, and
 * the avx512 table's result must equal the avx2 table's bit for bit (same tap order, FMA). */
static int dw_channels_compare(const fc_kernels *k, const dw_case *c, int nch, const fc_act *act,
                             uint64_t seed) {
    const fc_kernels *s = fc_kernels_by_name("scalar");
    int OH = dw_out(c->H, c->PT, c->PB, c->KH, c->DH, c->SH), OW = dw_out(c->W, c->PL, c->PR, c->KW, c->DW, c->SW);
    if (OH <= 0 || OW <= 0) return 1;
    rng r = {seed * 7 + 5};
    ptrdiff_t ics = (ptrdiff_t)c->H * c->W + 13, ocs = (ptrdiff_t)OH * OW + 11;
    int taps = c->KH * c->KW;
    float *in = falloc((size_t)ics * nch + 64), *w = frand((size_t)taps * nch, &r), *bias = frand(nch, &r);
    ffill(in, (size_t)ics * nch + 64, NAN);
    for (int ch = 0; ch < nch; ch++)
        for (int i = 0; i < c->H * c->W; i++) in[32 + ch * ics + i] = rnd(&r);
    size_t no = (size_t)ocs * nch + 16;
    float *ref = falloc(no), *got = falloc(no), *one = falloc((size_t)ocs + 16);
    ffill(ref, no, SENTINEL), ffill(got, no, SENTINEL);
    fc_conv2d_geom g = dw_geom(c, OH, OW);
    s->dwconv_channels(&g, nch, in + 32, ics, w, bias, act, ref, ocs, 0);
    k->dwconv_channels(&g, nch, in + 32, ics, w, bias, act, got, ocs,
                       (int)(seed % 2)); /* stream hint too */
    int bad = 0, alone = 0, first = -1, twin_differ = 0;
    const fc_kernels *twin = strcmp(k->name, "avx512") == 0 ? fc_kernels_by_name("avx2") : NULL;
    if (twin) {
        float *t = falloc(no);
        ffill(t, no, SENTINEL);
        twin->dwconv_channels(&g, nch, in + 32, ics, w, bias, act, t, ocs, 0);
        twin_differ = memcmp(t, got, no * sizeof(float)) != 0;
        free(t);
    }
    for (int ch = 0; ch < nch; ch++) {
        ffill(one, (size_t)ocs + 16, SENTINEL);
        k->dwconv_channels(&g, 1, in + 32 + ch * ics, ics, w + (size_t)ch * taps, bias + ch, act,
                           one, ocs, (int)(seed % 2 == 0));
        for (int i = 0; i < OH * OW; i++) {
            size_t o = (size_t)ch * ocs + i;
            int y = i / OW, x = i % OW;
            double mag = fabs(bias[ch]);
            for (int a = 0; a < c->KH; a++)
                for (int b = 0; b < c->KW; b++) {
                    int iy = y * c->SH - c->PT + a * c->DH, ix = x * c->SW - c->PL + b * c->DW;
                    if (iy >= 0 && iy < c->H && ix >= 0 && ix < c->W)
                        mag += fabs((double)w[ch * taps + a * c->KW + b] * in[32 + ch * ics + iy * c->W + ix]);
                }
            if (!(fabs((double)got[o] - ref[o]) <= 1e-5 * mag + 2e-6 * fabs(ref[o]) + 1e-7)) {
                if (first < 0) first = (int)o;
                bad++;
            }
            alone += memcmp(&one[i], &got[o], sizeof(float)) != 0;
        }
        for (int i = OH * OW; i < ocs; i++) bad += got[(size_t)ch * ocs + i] != SENTINEL;
    }
    CHECK(bad == 0 && alone == 0 && !twin_differ,
          "%s dwconv_channels nch=%d H=%d W=%d K=%dx%d S=%d,%d P=%d,%d,%d,%d D=%d,%d act=%d: %d bad "
          "(first %d got %g want %g), %d differ from a one-channel call, avx2 bits differ: %d",
          k->name, nch, c->H, c->W, c->KH, c->KW, c->SH, c->SW, c->PT, c->PB, c->PL, c->PR, c->DH,
          c->DW, act ? act->kind : -1, bad, first, first >= 0 ? got[first] : 0.0,
          first >= 0 ? ref[first] : 0.0, alone, twin_differ);
    free(in), free(w), free(bias), free(ref), free(got), free(one);
    return bad == 0 && alone == 0 && !twin_differ;
}

/* 3x3 stride 1 with output rows as wide as the input rows (OW == W: the flat-plane path of the
 * AVX-512 kernel up to 1024 output pixels): planes from 1x1 to 33x33 around the 16-lane vectors
 * and the 1024-pixel limit, symmetric and lopsided column pads, dilation 2, top/bottom pads that
 * make OH differ from H (a depthwise block's bands), every activation. */
static void dw_flat_cases(const fc_kernels *k) {
    const int sizes[] = {1, 2, 3, 7, 8, 14, 15, 16, 17, 28, 31, 32, 33};
    const int cols[3][2] = {{1, 1}, {0, 2}, {2, 0}}, rows[4][2] = {{1, 1}, {0, 0}, {2, 1}, {0, 2}};
    int n = 0, fails = 0;
    for (int ih = 0; ih < 13; ih++)
        for (int iw = 0; iw < 13; iw++) {
            int d = 1 + (ih + iw) % 4 / 3, c = (ih + 2 * iw) % 3, r = (2 * ih + iw) % 4;
            dw_case dc = {sizes[ih], sizes[iw], 3, 3, 1, 1, rows[r][0] * d, rows[r][1] * d,
                          cols[c][0] * d, cols[c][1] * d, d, d};
            const fc_act *act = n % 9 == 8 ? NULL : &ACTS[n % NACTS];
            if (!dw_channels_compare(k, &dc, 1 + n % 5, act, 900u + (uint64_t)n)) fails++;
            n++;
            if (fails > 3) return;
        }
}

static void dwconv_channels_cases(const fc_kernels *k) {
    const int sizes[] = {1, 3, 7, 8, 9, 14, 17, 28, 57};
    /* channel counts around the 8 and 16 lanes of the SIMD tables */
    const int nchs[] = {1, 3, 5, 8, 9, 16, 17, 21, 40};
    const int pads[5][4] = {{1, 1, 1, 1}, {0, 0, 0, 0}, {0, 1, 0, 2}, {2, 0, 3, 0}, {2, 2, 9, 10}};
    int n = 0, fails = 0;
    for (int ih = 0; ih < 9; ih++)
        for (int iw = 0; iw < 9; iw++)
            for (int kk = 0; kk < 5; kk++) { /* 3x3, 5x5, 1x1, 3x5, 3x3 dilated */
                /* stride, pads, channels and activation vary independently of the kernel */
                int st = 1 + n % 3, p = (ih + 2 * iw + kk) % 5;
                dw_case c = {sizes[ih], sizes[iw], 3, 3, st, st, pads[p][0], pads[p][1], pads[p][2],
                             pads[p][3], 1, 1};
                if (kk == 1) c.KH = c.KW = 5;
                if (kk == 2) c.KH = c.KW = 1;
                if (kk == 3) c.KW = 5, c.SW = 1;
                if (kk == 4) c.DH = c.DW = 2;
                const fc_act *act = n % 10 == 9 ? NULL : &ACTS[n % NACTS];
                if (!dw_channels_compare(k, &c, nchs[(ih + iw + kk) % 9], act, (uint64_t)n)) fails++;
                n++;
                if (fails > 5) return;
            }
    /* rows too wide for the strip (per-plane fallback; 400 only for 16 lanes), tall strips, and
     * MobileNet / EfficientNet planes: 112x112 3x3 s1 and s2 (TF "same" pads), 5x5 s2 */
    static const struct {
        dw_case c;
        int nch, act;
    } planes[] = {
        {{3, 3001, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1}, 9, 2},      {{4, 400, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1}, 17, 8},
        {{300, 40, 3, 3, 2, 1, 1, 1, 1, 1, 1, 1}, 10, 7},     {{112, 112, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1}, 21, 2},
        {{112, 112, 3, 3, 2, 2, 0, 1, 0, 1, 1, 1}, 16, 7},    {{112, 112, 5, 5, 2, 2, 2, 2, 2, 2, 1, 1}, 5, 8},
    };
    for (int i = 0; i < (int)(sizeof planes / sizeof *planes); i++)
        dw_channels_compare(k, &planes[i].c, planes[i].nch, &ACTS[planes[i].act], 1u + i);
    /* every activation on 5x5 s1 over 14x14 */
    dw_case five = {14, 14, 5, 5, 1, 1, 2, 2, 2, 2, 1, 1};
    for (int a = 0; a < NACTS; a++) dw_channels_compare(k, &five, 40, &ACTS[a], 7u + a);
    dw_flat_cases(k);
}

/* ---- Winograd F(4x4, 3x3) transforms ------------------------------------------------------------- */

static const double WINO_BT[6][6] = {{4, 0, -5, 0, 1, 0},  {0, -4, -4, 1, 1, 0}, {0, 4, -4, -1, 1, 0},
                                     {0, -2, -1, 2, 1, 0}, {0, 2, -1, -2, 1, 0}, {0, 4, 0, -5, 0, 1}};
static const double WINO_AT[4][6] = {{1, 1, 1, 1, 1, 0}, {0, 1, -1, 2, -2, 0}, {0, 1, 1, 4, 4, 0},
                                     {0, 1, -1, 8, -8, 1}};

/* The tiles of a 3x3 convolution with pads (pt, pl) over C planes (H, W) at x (plane stride cs). */
static int wino_tiles(const float *x, int H, int W, int pt, int pl, int pb, int pr, fc_wino_in *t) {
    int OH = H + pt + pb - 2, OW = W + pl + pr - 2, n = 0;
    for (int ty = 0; ty * 4 < OH; ty++)
        for (int tx = 0; tx * 4 < OW; tx++) {
            int iy = ty * 4 - pt, ix = tx * 4 - pl;
            t[n++] = (fc_wino_in){x + (ptrdiff_t)iy * W + ix, iy < 0 ? -iy : 0, H - iy < 6 ? H - iy : 6,
                                  ix < 0 ? -ix : 0, W - ix < 6 ? W - ix : 6};
        }
    return n;
}

/* wino_input of table k vs the definition (double) and vs the scalar table, on every tile of a few
 * padded planes, panels partly filled; lanes past the tiles must be zero; NaN around the planes. */
static void wino_input_cases(const fc_kernels *k) {
    const fc_kernels *sc = fc_kernels_by_name("scalar");
    const int shapes[][6] = {/* H W pt pl pb pr */ {1, 1, 1, 1, 1, 1}, {5, 7, 1, 1, 1, 1},
                             {9, 9, 0, 0, 0, 0},  {13, 6, 2, 1, 0, 2}, {8, 17, 1, 0, 1, 1},
                             {3, 30, 1, 1, 1, 1}, {17, 21, 1, 1, 1, 1} /* 30 tiles: AVX-512 groups 16 + 14 */};
    const int chans[] = {1, 3, 8, 17};
    int nr = k->nr, fails = 0;
    for (size_t si = 0; si < sizeof shapes / sizeof *shapes; si++)
        for (size_t ci = 0; ci < sizeof chans / sizeof *chans; ci++) {
            int H = shapes[si][0], W = shapes[si][1], C = chans[ci];
            ptrdiff_t cs = (ptrdiff_t)H * W;
            rng r = {si * 31 + ci + 7};
            float *buf = falloc((size_t)C * cs + 256), *x = buf + 128;
            ffill(buf, (size_t)C * cs + 256, NAN);
            for (ptrdiff_t i = 0; i < C * cs; i++) x[i] = rnd(&r);
            fc_wino_in t[128];
            int nt = wino_tiles(x, H, W, shapes[si][2], shapes[si][3], shapes[si][4], shapes[si][5], t);
            float *V = falloc((size_t)36 * C * nr), *Vs = falloc((size_t)36 * C * 4);
            for (int p0 = 0; p0 < nt; p0 += nr) {
                int n = nt - p0 < nr ? nt - p0 : nr;
                if (p0 == 0 && n > 1) n--; /* a partly filled panel even when the tiles fill it */
                ffill(V, (size_t)36 * C * nr, SENTINEL);
                k->wino_input(C, cs, W, t + p0, n, V, (ptrdiff_t)C * nr);
                int bad = 0, badref = 0;
                for (int l = 0; l < nr; l++) {
                    const fc_wino_in *ti = &t[p0 + l];
                    if (l < n) sc->wino_input(C, cs, W, ti, 1, Vs, (ptrdiff_t)C * 4);
                    for (int c = 0; c < C; c++)
                        for (int xi = 0; xi < 36; xi++) {
                            float got = V[xi * C * nr + c * nr + l];
                            if (l >= n) {
                                bad += got != 0.0f;
                                continue;
                            }
                            double want = 0, mag = 0;
                            for (int a = 0; a < 6; a++)
                                for (int b = 0; b < 6; b++) {
                                    int in = a >= ti->r0 && a < ti->r1 && b >= ti->c0 && b < ti->c1;
                                    double d = in ? ti->src[c * cs + a * W + b] : 0.0;
                                    double cf = WINO_BT[xi / 6][a] * WINO_BT[xi % 6][b];
                                    want += cf * d, mag += fabs(cf * d);
                                }
                            bad += !(fabs(got - want) <= 1e-6 * mag + 1e-30);
                            badref += !(fabs(got - Vs[xi * C * 4 + c * 4]) <= 1e-6 * mag + 1e-30);
                        }
                }
                CHECK(bad == 0 && badref == 0,
                      "%s wino_input H=%d W=%d C=%d tiles %d..%d: %d wrong, %d differ from scalar",
                      k->name, H, W, C, p0, p0 + n, bad, badref);
                if (bad || badref) fails++;
            }
            free(buf), free(V), free(Vs);
            if (fails > 3) return;
        }
}

/* wino_output of table k vs the definition (double) on whole output planes tiled 4x4 with partial
 * edge tiles, with and without residual, every activation; nothing outside the planes written. */
static void wino_output_cases(const fc_kernels *k) {
    const int shapes[][2] = {{1, 1}, {4, 4}, {5, 7}, {9, 13}, {14, 14}, {7, 30}, {17, 21}, {16, 16}, {8, 36}};
    const int chans[] = {1, 3, 8, 17};
    int n = 0, fails = 0;
    for (size_t si = 0; si < sizeof shapes / sizeof *shapes; si++)
        for (size_t ci = 0; ci < sizeof chans / sizeof *chans; ci++, n++) {
            int OH = shapes[si][0], OW = shapes[si][1], M = chans[ci], TW = (OW + 3) / 4;
            int nt = (OH + 3) / 4 * TW, ms = (nt + 15) / 16 * 16 + 8;
            ptrdiff_t cs = (ptrdiff_t)OH * OW + 5, xs = (ptrdiff_t)M * ms;
            rng r = {n * 17 + 3};
            float *X = frand((size_t)36 * xs, &r), *bias = frand(M, &r);
            float *res = frand((size_t)M * cs, &r), *out = falloc((size_t)M * cs + 32);
            const fc_act *act = &ACTS[n % NACTS];
            int use_res = n % 3 != 1;
            ffill(out, (size_t)M * cs + 32, SENTINEL);
            fc_wino_out t[64];
            for (int l = 0; l < nt; l++) {
                int ty = l / TW, tx = l % TW;
                ptrdiff_t o = (ptrdiff_t)ty * 4 * OW + tx * 4;
                t[l] = (fc_wino_out){out + 16 + o, use_res ? res + o : NULL, OH - ty * 4 < 4 ? OH - ty * 4 : 4,
                                     OW - tx * 4 < 4 ? OW - tx * 4 : 4};
            }
            k->wino_output(M, X, xs, ms, t, nt, cs, OW, bias, n % 7 == 6 ? NULL : act);
            int bad = 0;
            for (int m = 0; m < M; m++)
                for (int l = 0; l < nt; l++)
                    for (int i = 0; i < t[l].rows; i++)
                        for (int j = 0; j < t[l].cols; j++) {
                            double want = bias[m], mag = fabs(bias[m]);
                            for (int a = 0; a < 6; a++)
                                for (int b = 0; b < 6; b++) {
                                    double v = WINO_AT[i][a] * WINO_AT[j][b] * X[(a * 6 + b) * xs + m * ms + l];
                                    want += v, mag += fabs(v);
                                }
                            ptrdiff_t o = (t[l].dst - out - 16) + m * cs + (ptrdiff_t)i * OW + j;
                            if (use_res) want += res[o], mag += fabs(res[o]);
                            float w = n % 7 == 6 ? (float)want : fc_act_apply(act, (float)want);
                            float got = out[16 + o];
                            bad += !(fabs((double)got - w) <= 1e-6 * mag + 2e-6 * fabs(w) + 1e-30);
                        }
            int guard = 0;
            for (ptrdiff_t i = 0; i < (ptrdiff_t)M * cs + 32; i++) {
                ptrdiff_t o = i - 16, m = o / cs, p = o - m * cs;
                int inside = o >= 0 && m < M && p < (ptrdiff_t)OH * OW;
                if (!inside) guard += out[i] != SENTINEL;
                else bad += out[i] == SENTINEL;
            }
            CHECK(bad == 0 && guard == 0, "%s wino_output OH=%d OW=%d M=%d act=%d res=%d: %d wrong, %d guard writes",
                  k->name, OH, OW, M, act->kind, use_res, bad, guard);
            if (bad || guard) fails++;
            free(X), free(bias), free(res), free(out);
            if (fails > 3) return;
        }
}

/* ---- activations ------------------------------------------------------------------------------- */

/* Bitwise equal, or both NaN. */
static int same_value(float got, float want) {
    return isnan(want) ? isnan(got) : memcmp(&got, &want, sizeof got) == 0;
}

/* Within ~1e-6 relative (exp-based activations), infinities and NaN matching exactly. The absolute
 * term: the vector sigmoid is 0 below x = -88.76 (true value under 3e-39), so SiLU = x sigmoid(x)
 * is 0 where its true value is at most 104 * 3e-39 = 3.1e-37 in magnitude (below x = -104 the
 * true value is under 1e-43). */
static int close_value(float got, float want) {
    if (isnan(want) || isinf(want)) return same_value(got, want);
    return fabsf(got - want) <= 1e-6f * fabsf(want) + 3.2e-37f;
}

static void act_cases(const fc_kernels *k) {
    rng r = {11};
    size_t n = 1000;
    float *x = falloc(n + 16), *y = falloc(n + 16);
    for (size_t i = 0; i < n; i++) x[i] = rnd(&r) * (i % 3 == 0 ? 120.0f : i % 3 == 1 ? 8.0f : 1e-3f);
    x[0] = 0.0f, x[1] = -0.0f, x[2] = 88.5f, x[3] = -88.5f, x[4] = 103.0f, x[5] = -103.0f;
    x[6] = 1e-30f, x[7] = -1e-30f, x[8] = 3.0f, x[9] = -3.0f, x[10] = 6.0f, x[11] = 200.0f;
    x[12] = NAN, x[13] = -1e-40f, x[14] = INFINITY, x[15] = -INFINITY;
    for (int a = 0; a < NACTS; a++) {
        int exact = ACTS[a].kind != FC_ACT_SIGMOID && ACTS[a].kind != FC_ACT_SILU;
        const size_t lens[] = {0, 1, 7, 8, 9, 15, 16, 17, 31, 33, 1000};
        for (size_t l = 0; l < sizeof lens / sizeof *lens; l++) {
            size_t len = lens[l];
            ffill(y, n + 16, SENTINEL);
            k->act(&ACTS[a], x, y, len);
            int bad = 0;
            size_t first = 0;
            for (size_t i = 0; i < len; i++) {
                float want = fc_act_apply(&ACTS[a], x[i]);
                int ok = exact ? same_value(y[i], want) : close_value(y[i], want);
                if (!ok && !bad++) first = i;
            }
            for (size_t i = len; i < len + 16; i++) bad += y[i] != SENTINEL;
            CHECK(bad == 0, "%s act %d n=%zu: %d bad, first x=%.9g got %.9g want %.9g", k->name,
                  ACTS[a].kind, len, bad, x[first], y[first], fc_act_apply(&ACTS[a], x[first]));
        }
        /* in place */
        memcpy(y, x, n * sizeof *x);
        k->act(&ACTS[a], y, y, n);
        int bad = 0;
        for (size_t i = 0; i < n; i++) {
            float want = fc_act_apply(&ACTS[a], x[i]);
            bad += !close_value(y[i], want);
        }
        CHECK(bad == 0, "%s act %d in place: %d bad", k->name, ACTS[a].kind, bad);
    }
    free(x), free(y);
}

/* affine_rows (a fused BatchNormalization [+ ReLU] on packed rows) matches the scalar twin bit for bit,
 * and the twin matches x * s + t then max(0, .) in float: row lengths around the vector width (masked
 * tails), -0, NaN, infinities and negative scales; the floats between rows are never touched. */
static void affine_rows_cases(const fc_kernels *k) {
    const fc_kernels *s = fc_kernels_by_name("scalar");
    enum { ROWS = 5, GAP = 7, MAXN = 70 };
    rng r = {23};
    float sc[ROWS], sh[ROWS], x[ROWS * (MAXN + GAP)], ref[ROWS * (MAXN + GAP)], got[ROWS * (MAXN + GAP)];
    for (int i = 0; i < ROWS; i++) sc[i] = rnd(&r) * 3.0f, sh[i] = rnd(&r) * 2.0f;
    sc[1] = -sc[1] - 0.5f; /* a negative scale */
    sh[2] = 0.0f;
    const int lens[] = {1, 15, 16, 17, 31, 32, 33, 40, 70};
    for (size_t l = 0; l < sizeof lens / sizeof *lens; l++)
        for (int relu = 0; relu < 2; relu++) {
            int n = lens[l], rs = n + GAP, bad = 0;
            for (int i = 0; i < ROWS * rs; i++) x[i] = i % rs < n ? rnd(&r) * 8.0f : SENTINEL;
            x[0] = -0.0f, x[rs + 1 < ROWS * rs ? rs : 0] = NAN;
            if (n > 3) x[1] = INFINITY, x[2] = -INFINITY, x[3] = 0.0f;
            memcpy(ref, x, sizeof x), memcpy(got, x, sizeof x);
            s->affine_rows(ROWS, n, sc, sh, relu, ref, rs);
            k->affine_rows(ROWS, n, sc, sh, relu, got, rs);
            for (int i = 0; i < ROWS * rs; i++) {
                int row = i / rs;
                float v = x[i] * sc[row] + sh[row], want = i % rs >= n ? SENTINEL : relu && 0.0f > v ? 0.0f : v;
                bad += !same_value(got[i], ref[i]) || !same_value(ref[i], want);
            }
            CHECK(bad == 0, "%s affine_rows n=%d relu=%d: %d floats differ from the scalar twin or the formula",
                  k->name, n, relu, bad);
        }
}

/* ---- pixel-broadcast convolution tile ------------------------------------------------------------ */

/* conv_bcast (a tile of np pixels x M channels straight from an image, kernels.h) against (1) the
 * scalar twin, bitwise for the exact activations and within close_value for the exp-based ones,
 * (2) the table's own GEMM on the tile's im2col, bitwise (the contract: K in one block gives the
 * GEMM's bits), (3) a double-precision sum (the twin, at the GEMM tests' bound). Kernel sizes and
 * strides of the stems and some odd ones; weight lanes past M hold NaN and y's margins a sentinel,
 * both of which must stay out of the results. */
/* gy (M, np) = table k's GEMM of the tile's weights as A (M, K) and its im2col (K, np) in col. */
static void gemm_on_im2col(const fc_kernels *k, int M, int K, int np, const float *x, const int *koff,
                           int ps, const float *w, const fc_epilogue *ep, float *col, float *gy) {
    float *A = falloc((size_t)M * K);
    for (int m = 0; m < M; m++)
        for (int kk = 0; kk < K; kk++) A[m * K + kk] = w[kk * FC_CONV_BCAST_MC + m];
    for (int kk = 0; kk < K; kk++)
        for (int p = 0; p < np; p++) col[kk * np + p] = x[koff[kk] + p * ps];
    float *pa = falloc(fc_kernels_packed_a_floats(k, M, K)), *pb = falloc(fc_kernels_packed_b_floats(k, K, np));
    k->pack_a(M, K, A, K, 1, pa);
    k->pack_b(K, np, col, np, 1, pb);
    k->sgemm_packed(M, np, K, pa, pb, gy, np, 1, ep);
    free(A), free(pa), free(pb);
}

static void conv_bcast_cases(const fc_kernels *k) {
    enum { ROWS = 24, COLS = 60, MC = FC_CONV_BCAST_MC, NP = FC_CONV_BCAST_NP, LD = NP + 5 };
    static const int shapes[][4] = {{1, 1, 1, 1}, {3, 3, 3, 1}, {3, 7, 7, 1}, {3, 8, 8, 1}, {2, 5, 5, 2}};
    static const int Ms[] = {1, 7, 16, 17, 32};
    rng r = {31};
    float *img = frand((size_t)4 * ROWS * COLS, &r);
    float *w = falloc((size_t)192 * MC), *y = falloc((size_t)MC * LD), *ref = falloc((size_t)MC * LD);
    float *col = falloc((size_t)192 * NP), *gy = falloc((size_t)MC * NP);
    float *bias = frand(MC, &r);
    int koff[192], cases = 0, bad_twin = 0, bad_gemm = 0, bad_sum = 0, bad_guard = 0;
    for (size_t sh = 0; sh < sizeof shapes / sizeof *shapes; sh++) {
        int cin = shapes[sh][0], kh = shapes[sh][1], kw = shapes[sh][2], dil = shapes[sh][3], K = cin * kh * kw;
        for (int kk = 0; kk < K; kk++)
            koff[kk] = (kk / (kh * kw) * ROWS + kk / kw % kh * dil) * COLS + kk % kw * dil;
        for (size_t mi = 0; mi < sizeof Ms / sizeof *Ms; mi++) {
            int M = Ms[mi];
            for (int kk = 0; kk < K; kk++)
                for (int c = 0; c < MC; c++) w[kk * MC + c] = c < M ? rnd(&r) : NAN;
            for (int np = 1; np <= NP; np++)
                for (int ps = 1; ps <= 3; ps++) {
                    const fc_act *act = &ACTS[cases++ % NACTS];
                    int exact = act->kind != FC_ACT_SIGMOID && act->kind != FC_ACT_SILU;
                    const float *x = img + 2 * COLS + 1; /* any window corner inside the image */
                    fc_epilogue ep = {.bias = bias, .act = *act};
                    ffill(y, (size_t)MC * LD, SENTINEL), ffill(ref, (size_t)MC * LD, SENTINEL);
                    k->conv_bcast(np, M, K, x, koff, ps, w, y, LD, &ep);
                    fc_f32_conv_bcast__scalar(np, M, K, x, koff, ps, w, ref, LD, &ep);
                    gemm_on_im2col(k, M, K, np, x, koff, ps, w, &ep, col, gy);
                    for (int m = 0; m < MC; m++)
                        for (int p = 0; p < LD; p++) {
                            float got = y[m * LD + p], want = ref[m * LD + p];
                            if (m >= M || p >= np) {
                                bad_guard += got != SENTINEL || want != SENTINEL;
                                continue;
                            }
                            bad_twin += !(exact ? same_value(got, want) : close_value(got, want));
                            bad_gemm += !same_value(got, gy[m * np + p]);
                            if (act->kind != FC_ACT_NONE) continue;
                            double sum = bias[m], mag = fabs(bias[m]);
                            for (int kk = 0; kk < K; kk++) {
                                double v = (double)w[kk * MC + m] * x[koff[kk] + p * ps];
                                sum += v, mag += fabs(v);
                            }
                            bad_sum += !(fabs(want - sum) <= 1e-5 * mag + 1e-7);
                        }
                }
        }
    }
    CHECK(bad_twin == 0, "%s conv_bcast: %d of the outputs differ from the scalar twin", k->name, bad_twin);
    CHECK(bad_gemm == 0, "%s conv_bcast: %d outputs differ bitwise from the table's GEMM on im2col", k->name, bad_gemm);
    CHECK(bad_sum == 0, "%s conv_bcast: the scalar twin is off the double sum in %d outputs", k->name, bad_sum);
    CHECK(bad_guard == 0, "%s conv_bcast: %d floats written outside the tile", k->name, bad_guard);
    free(img), free(w), free(y), free(ref), free(col), free(gy), free(bias);
}

/* ---- per-ISA cases ------------------------------------------------------------------------------ */

/* A table by ISA name, or "fastsig": the f32 table of --compute bf16 (the avx512 kernels with the bf16
 * path's fast sigmoid and SiLU, f32-act-vec.h), which must pass the same checks at the same bounds. */
static const fc_kernels *table_named(const char *name) {
    if (!strcmp(name, "bf16")) return fc_kernels_bf16();
    if (strcmp(name, "fastsig")) return fc_kernels_by_name(name);
    const fc_kernels *b = fc_kernels_bf16();
    return b ? b->f32 : NULL;
}

#define ISA_CASE(fn, isa, reason)                                                                   \
    static void fn##_##isa(void) {                                                                  \
        const fc_kernels *k = table_named(#isa);                                                    \
        if (!k) SKIP(reason);                                                                       \
        fn(k);                                                                                      \
    }
#define ISA_CASES(isa, reason)                                                                      \
    ISA_CASE(pack_layout, isa, reason)                                                              \
    ISA_CASE(gemm_shapes, isa, reason)                                                              \
    ISA_CASE(gemm_large_k, isa, reason)                                                             \
    ISA_CASE(gemm_row_blocks, isa, reason)                                                          \
    ISA_CASE(gemm_epilogues, isa, reason)                                                           \
    ISA_CASE(gemm_residual_in_place, isa, reason)                                                   \
    ISA_CASE(gemm_kblocks, isa, reason)                                                             \
    ISA_CASE(gemm_determinism, isa, reason)                                                         \
    ISA_CASE(gemm_stream, isa, reason)                                                              \
    ISA_CASE(dwconv_cases, isa, reason)                                                             \
    ISA_CASE(dwconv_channels_cases, isa, reason)                                                    \
    ISA_CASE(wino_input_cases, isa, reason)                                                         \
    ISA_CASE(wino_output_cases, isa, reason)                                                        \
    ISA_CASE(act_cases, isa, reason)                                                                \
    ISA_CASE(affine_rows_cases, isa, reason)
ISA_CASES(avx2, "CPU lacks AVX2")
ISA_CASES(avx512, "CPU lacks AVX-512")
ISA_CASES(fastsig, "CPU lacks AVX512_BF16")
ISA_CASE(gemm_kblocks, bf16, "CPU lacks AVX512_BF16") /* the --compute bf16 table: only its GEMM here */
/* the tables with a pixel-broadcast tile (the avx2 one has none: its convolutions use im2col) */
ISA_CASE(conv_bcast_cases, avx512, "CPU lacks AVX-512")
ISA_CASE(conv_bcast_cases, fastsig, "CPU lacks AVX512_BF16")

/* ---- the reference itself ----------------------------------------------------------------------- */

static void test_scalar_pack_layout(void) { pack_layout(fc_kernels_by_name("scalar")); }

/* Scalar sgemm on packed data vs naive double loops on the unpacked operands. */
static void test_scalar_gemm_vs_naive(void) {
    const fc_kernels *s = fc_kernels_by_name("scalar");
    REQUIRE(s != NULL, "no scalar table");
    for (int t = 0; t < 6; t++) {
        int M = SIZES[t * 2 % NSIZES], N = SIZES[(t * 5 + 3) % NSIZES], K = t == 0 ? 0 : SIZES[(t * 3 + 4) % NSIZES];
        gemm_prob p;
        prob_init(&p, M, N, K, 50u + t);
        float *got = falloc((size_t)M * N), *want = falloc((size_t)M * N);
        const fc_act *act = &ACTS[t % NACTS];
        gemm_run(s, &p, t % 2, 1, t % 3 != 0, act, got);
        for (int m = 0; m < M; m++)
            for (int n = 0; n < N; n++) {
                double acc = p.bias[m] + (t % 3 != 0 ? p.res[m * N + n] : 0.0);
                for (int kk = 0; kk < K; kk++) acc += (double)p.A[m * K + kk] * p.B[kk * N + n];
                want[m * N + n] = fc_act_apply(act, (float)acc);
            }
        int first = 0, bad = gemm_mismatches(&p, got, want, &first);
        CHECK(bad == 0, "scalar M=%d N=%d K=%d: %d mismatches vs naive", M, N, K, bad);
        free(got), free(want);
        prob_free(&p);
    }
}

static void test_scalar_dwconv_vs_naive(void) {
    const fc_kernels *s = fc_kernels_by_name("scalar");
    float in[5 * 6], w[3 * 3], out[3 * 3];
    for (int i = 0; i < 30; i++) in[i] = (float)(i + 1);
    for (int i = 0; i < 9; i++) w[i] = (float)(i % 3) - 1.0f; /* -1 0 1 per row: horizontal gradient */
    /* stride 2, pad top 1 left 1, H=5 W=6 -> OH = 3, OW = 3 */
    s->dwconv_plane(&(fc_conv2d_geom){5, 6, 3, 3, 2, 2, 1, 1, 1, 1, 3, 3}, in, w, 0.5f, NULL, out);
    /* out(oy, ox) = 0.5 + sum_i [in(iy, 2ox) - in(iy, 2ox-2)] over valid taps */
    for (int oy = 0; oy < 3; oy++)
        for (int ox = 0; ox < 3; ox++) {
            double want = 0.5;
            for (int i = 0; i < 3; i++) {
                int iy = oy * 2 - 1 + i;
                if (iy < 0 || iy >= 5) continue;
                for (int j = 0; j < 3; j++) {
                    int ix = ox * 2 - 1 + j;
                    if (ix >= 0 && ix < 6) want += w[i * 3 + j] * in[iy * 6 + ix];
                }
            }
            CHECK(out[oy * 3 + ox] == (float)want, "(%d,%d) got %g want %g", oy, ox, out[oy * 3 + ox], want);
        }
    CHECK(out[0] == 0.5f + (2.0f) + (8.0f), "corner got %g", out[0]); /* rows 0,1: in(.,1) - 0 */
}

static void test_scalar_act_values(void) {
    fc_act relu6 = {FC_ACT_CLIP, 0, 6}, leaky = {FC_ACT_LEAKY, 0.1f, 0}, sig = {FC_ACT_SIGMOID, 0, 0};
    fc_act hsw = {FC_ACT_HARDSWISH, 0, 0}, hsig = {FC_ACT_HARDSIGMOID, 0.2f, 0.5f}, silu = {FC_ACT_SILU, 0, 0};
    CHECK(fc_act_apply(&relu6, 7.0f) == 6.0f && fc_act_apply(&relu6, -1.0f) == 0.0f, "relu6");
    CHECK(fc_act_apply(&leaky, -2.0f) == -0.2f, "leaky");
    CHECK(fabsf(fc_act_apply(&sig, 0.0f) - 0.5f) < 1e-7f, "sigmoid(0)");
    CHECK(fabsf(fc_act_apply(&sig, -100.0f) - 3.720076e-44f) < 1e-45f, "sigmoid(-100) = %g",
          fc_act_apply(&sig, -100.0f));
    CHECK(fc_act_apply(&hsw, 3.0f) == 3.0f && fc_act_apply(&hsw, -3.0f) == 0.0f, "hardswish");
    CHECK(fc_act_apply(&hsig, 10.0f) == 1.0f && fc_act_apply(&hsig, 0.0f) == 0.5f, "hardsigmoid");
    CHECK(fabsf(fc_act_apply(&silu, 2.0f) - 1.7615942f) < 1e-6f, "silu(2)");
}

/* ---- dispatch ------------------------------------------------------------------------------------ */

static void test_scalar_wino_input(void) { wino_input_cases(fc_kernels_by_name("scalar")); }
static void test_scalar_wino_output(void) { wino_output_cases(fc_kernels_by_name("scalar")); }

static void test_dispatch(void) {
    const fc_kernels *best = fc_kernels_best(), *s = fc_kernels_by_name("scalar");
    REQUIRE(best != NULL && s != NULL, "best/scalar table missing");
    CHECK(fc_kernels_by_name("bogus") == NULL, "unknown name gives a table");
    CHECK(fc_kernels_by_name(best->name) == best, "best is not available by its name");
    /* FEATCACHE_ISA is read once per process (core/cpu.h); tests/core/test_cpu.c runs children
     * with each value */
    CHECK(best == fc_kernels_by_name(fc_isa_name(fc_cpu_isa())), "best %s, allowed level %s", best->name,
          fc_isa_name(fc_cpu_isa()));
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        CHECK(fc_kernels_by_name("avx2") != NULL, "CPU has AVX2+FMA but no avx2 table");
    CHECK(fc_kernels_packed_a_floats(s, 5, 3) == 2 * 4 * 3, "packed A size");
    CHECK(fc_kernels_packed_b_floats(s, 3, 0) == 0, "packed B size of nothing");
}

/* The comparison used everywhere above does catch a wrong element. */
static void test_comparator_detects_errors(void) {
    gemm_prob p;
    prob_init(&p, 3, 4, 5, 1);
    float ref[12], got[12];
    for (int i = 0; i < 12; i++) ref[i] = got[i] = (float)i;
    got[7] += 1e-3f;
    int first = 0;
    CHECK(gemm_mismatches(&p, got, ref, &first) == 1 && first == 7, "perturbation not detected");
    got[7] = NAN;
    CHECK(gemm_mismatches(&p, got, ref, &first) == 1, "NaN not detected");
    prob_free(&p);
}

int main(void) {
    RUN(test_dispatch);
    RUN(test_comparator_detects_errors);
    RUN(test_scalar_act_values);
    RUN(test_scalar_pack_layout);
    RUN(test_scalar_gemm_vs_naive);
    RUN(test_scalar_dwconv_vs_naive);
    RUN(test_scalar_wino_input);
    RUN(test_scalar_wino_output);
#define RUN_ISA(isa)                                                                                \
    RUN(pack_layout_##isa);                                                                         \
    RUN(gemm_shapes_##isa);                                                                         \
    RUN(gemm_large_k_##isa);                                                                        \
    RUN(gemm_row_blocks_##isa);                                                                     \
    RUN(gemm_epilogues_##isa);                                                                      \
    RUN(gemm_residual_in_place_##isa);                                                              \
    RUN(gemm_kblocks_##isa);                                                                        \
    RUN(gemm_determinism_##isa);                                                                    \
    RUN(gemm_stream_##isa);                                                                         \
    RUN(dwconv_cases_##isa);                                                                        \
    RUN(dwconv_channels_cases_##isa);                                                               \
    RUN(wino_input_cases_##isa);                                                                    \
    RUN(wino_output_cases_##isa);                                                                   \
    RUN(act_cases_##isa);                                                                       \
    RUN(affine_rows_cases_##isa);
    RUN_ISA(avx2)
    RUN_ISA(avx512)
    RUN_ISA(fastsig)
    RUN(gemm_kblocks_bf16);
    RUN(conv_bcast_cases_avx512);
    RUN(conv_bcast_cases_fastsig);
    return check_done();
}
