/* The training ops' matrix product and packing helpers (engine/train/gemm.c, transpose*.c): the
 * transposed copies, generic against AVX2 (bitwise: they only move data), on awkward row counts,
 * lane counts and lengths; fc_train_gemm against a double reference for every operand form (plain
 * and run matrices, A and B transposed, C plain and in runs, bias and clamp epilogue, gating by a
 * Relu or Clip derivative, row sums of A, operands large enough to be packed block by block)
 * on 1 and 2 threads (bitwise equal) and on every kernel table this CPU has; the same forms in
 * bf16 (ws->bf16): the scalar twin and the AVX512_BF16 kernels give the same bits, on 1 and 2
 * threads, within the error bound of bf16 operands, and the row sums stay those of f32.
 * Not here: the convolutions built on them (test_train_ops.c). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/train/gemm.h"
#include "engine/train/internal.h"
#include "engine/train/transpose.h"
#include "tests/support/check.h"
#include "tests/support/train_ref.h"

static void transposes(void) {
    if (!fc_kernels_by_name("avx2")) SKIP("this CPU has no AVX2");
    static const int Rs[] = {4, 6, 12, 16, 32};
    static const int lens[] = {1, 3, 7, 8, 9, 16, 37};
    float *src = ref_rnd(40 * 64), *a = ref_zeros(64 * 40 + 64), *b = ref_zeros(64 * 40 + 64);
    int bad = 0;
    for (int ri = 0; ri < 5; ri++)
        for (int li = 0; li < 7; li++)
            for (int rows = 0; rows <= Rs[ri]; rows += rows < 4 ? 1 : 3) {
                int R = Rs[ri], len = lens[li];
                ptrdiff_t ds = R + 3; /* lanes of other groups between: must stay untouched */
                for (int i = 0; i < 64 * 40 + 64; i++) a[i] = b[i] = -7.0f;
                fc_train_tr_generic(src, 41, rows, R, len, a, ds);
                fc_train_tr_avx2(src, 41, rows, R, len, b, ds);
                bad |= memcmp(a, b, sizeof(float) * (64 * 40 + 64)) != 0;
                for (int i = 0; i < 64 * 40 + 64; i++) a[i] = b[i] = -7.0f;
                fc_train_untr_generic(src, 33, rows, len, a, 43);
                fc_train_untr_avx2(src, 33, rows, len, b, 43);
                bad |= memcmp(a, b, sizeof(float) * (64 * 40 + 64)) != 0;
            }
    CHECK(!bad, "generic and AVX2 transposed copies differ");
    free(src), free(a), free(b);
}

/* An operand or result with rows x cols in a buffer: plain (run 0) or in runs of `run` columns
 * with `gap` floats between runs. */
typedef struct layout {
    int run, gap;
} layout;

static size_t lay_size(int rows, int cols, layout l) {
    if (!l.run) return (size_t)rows * (cols + 3);
    int runs = (cols + l.run - 1) / l.run;
    return (size_t)runs * ((size_t)rows * l.run + l.gap);
}

/* Element (r, c) offset and the run matrix (t as given) for the layout. */
static size_t lay_at(int rows, int cols, layout l, int r, int c) {
    if (!l.run) return (size_t)r * (cols + 3) + c;
    return (size_t)(c / l.run) * ((size_t)rows * l.run + l.gap) + (size_t)r * l.run + c % l.run;
}

static fc_train_mat lay_mat(const float *p, int rows, int cols, layout l, int t) {
    if (!l.run) {
        fc_train_mat m = fc_train_mat_rows(p, cols + 3);
        m.t = t;
        return m;
    }
    return (fc_train_mat){p, l.run, (ptrdiff_t)rows * l.run + l.gap, l.run, t};
}

typedef struct gemm_case {
    int M, N, K;
    layout a, b, c;
    int at, bt, bias, clamp, sums, gate; /* gate: 1 Relu, 2 Clip(-0.3, 0.4) at a tensor laid out as C */
} gemm_case;

static void gemm_case_run(const gemm_case *gc) {
    int M = gc->M, N = gc->N, K = gc->K;
    /* A (M, K): t = 0 rows m with run columns k; t = 1 element (m, k) at k*rs + m (plain only).
     * B (K, N): t = 0 rows k with run columns n; t = 1 rows n with run columns k. */
    int arows = gc->at ? K : M, acols = gc->at ? M : K, brows = gc->bt ? N : K, bcols = gc->bt ? K : N;
    size_t na = lay_size(arows, acols, gc->a), nb = lay_size(brows, bcols, gc->b), nc = lay_size(M, N, gc->c);
    float *A = ref_rnd(na), *B = ref_rnd(nb), *bias = ref_rnd(M), *ref = ref_zeros((size_t)M * N);
    float *rsum = ref_zeros(M), *gate = ref_rnd(nc), *mag = ref_zeros((size_t)M * N);
    fc_act gact = {gc->gate == 1 ? FC_ACT_RELU : FC_ACT_CLIP, -0.3f, 0.4f};
    for (int m = 0; m < M; m++) {
        double rs = 0;
        for (int n = 0; n < N; n++) {
            double s = gc->bias ? bias[m] : 0, mg = 0;
            for (int k = 0; k < K; k++) {
                float av = A[gc->at ? lay_at(arows, acols, gc->a, k, m) : lay_at(arows, acols, gc->a, m, k)];
                float bv = B[gc->bt ? lay_at(brows, bcols, gc->b, n, k) : lay_at(brows, bcols, gc->b, k, n)];
                s += (double)av * bv, mg += fabs((double)av * bv);
            }
            mag[(size_t)m * N + n] = (float)mg;
            if (gc->clamp) s = s < 0 ? 0 : s > 1 ? 1 : s;
            float gv = gate[lay_at(M, N, gc->c, m, n)];
            if (gc->gate && (gc->gate == 1 ? gv <= 0 : gv <= gact.a || gv >= gact.b)) s = 0;
            ref[(size_t)m * N + n] = (float)s;
        }
        for (int k = 0; k < K; k++) rs += A[lay_at(arows, acols, gc->a, m, k)];
        rsum[m] = (float)rs;
    }
    fc_train_mat ma = lay_mat(A, arows, acols, gc->a, gc->at), mb = lay_mat(B, brows, bcols, gc->b, gc->bt);
    fc_train_mat mc = lay_mat(NULL, M, N, gc->c, 0);
    fc_epilogue ep = {.bias = gc->bias ? bias : NULL};
    if (gc->clamp) ep.act = (fc_act){FC_ACT_CLIP, 0.0f, 1.0f};
    /* the f32 tables, then the bf16 ones (scalar twin, AVX512_BF16) on the best f32 table */
    const char *tables[] = {"scalar", "avx2", "avx512", "bf16 scalar", "bf16 avx512bf16"};
    float *bf16_first = NULL;
    for (int ti = 0; ti < 5; ti++) {
        const fc_bf16_kernels *bk = ti >= 3 ? fc_bf16_kernels_by_name(tables[ti] + 5) : NULL;
        const fc_kernels *k = ti < 3 ? fc_kernels_by_name(tables[ti]) : bk ? fc_kernels_best() : NULL;
        if (!k) continue;
        float *out[2];
        for (int th = 0; th < 2; th++) {
            fc_train_ws ws;
            fc_train_ws_init(&ws, th + 1);
            ws.k = ws.mm.k = k;
            ws.bf16 = bk;
            out[th] = ref_zeros(nc);
            float *sums = gc->sums ? ref_zeros(M) : NULL;
            fc_error err;
            fc_train_out o = {out[th], mc.rs, mc.img, mc.run, ep, gc->gate ? gate : NULL, gact, sums};
            int rc = fc_train_gemm(&ws, M, N, K, &ma, &mb, &o, &err);
            CHECK(rc == 0, "%dx%dx%d on %s: %s", M, N, K, tables[ti], err.msg);
            float *dense = ref_zeros((size_t)M * N);
            for (int m = 0; m < M; m++)
                for (int n = 0; n < N; n++) dense[(size_t)m * N + n] = out[th][lay_at(M, N, gc->c, m, n)];
            /* f32: close to the exact product; bf16: within the bound of bf16 operands (each
             * product off by at most 2^-7 of its magnitude) and f32 sums */
            double e = ref_rel_err(dense, ref, (size_t)M * N);
            for (size_t i = 0; bk && i < (size_t)M * N; i++)
                if (!(fabs((double)dense[i] - ref[i]) <= 0x1p-7 * 1.01 * mag[i] + 1e-6)) e = 1;
            CHECK(e <= 1e-5 || (bk && e < 1), "%dx%dx%d (A t%d run %d, B t%d run %d, C run %d) on %s: error %.3g",
                  M, N, K, gc->at, gc->a.run, gc->bt, gc->b.run, gc->c.run, tables[ti], e);
            if (sums) {
                CHECK(ref_rel_err(sums, rsum, M) <= 1e-6, "%dx%dx%d on %s: row sums differ", M, N, K, tables[ti]);
                free(sums);
            }
            free(dense);
            fc_train_ws_free(&ws);
        }
        CHECK(!memcmp(out[0], out[1], nc * sizeof(float)), "%dx%dx%d on %s: 1 and 2 threads differ", M, N, K,
              tables[ti]);
        if (bk && bf16_first)
            CHECK(!memcmp(out[0], bf16_first, nc * sizeof(float)), "%dx%dx%d: AVX512_BF16 and scalar twin differ",
                  M, N, K);
        free(out[1]);
        if (bk && !bf16_first) bf16_first = out[0];
        else free(out[0]);
    }
    free(bf16_first), free(A), free(B), free(bias), free(ref), free(rsum), free(gate), free(mag);
}

static void gemm_forms(void) {
    static const gemm_case cases[] = {
        /* plain operands, partial tiles everywhere; gated in place */
        {13, 37, 29, {0, 0}, {0, 0}, {0, 0}, 0, 0, 1, 0, 0, 2},
        /* a 1x1 convolution's forward: B and C are planes (runs of 9 with other channels between) */
        {17, 45, 11, {0, 0}, {9, 22}, {9, 5}, 0, 0, 1, 1, 0, 0},
        /* dinp: A transposed (m contiguous), B planes, C planes gated by a Relu */
        {11, 49, 17, {0, 0}, {7, 3}, {7, 0}, 1, 0, 0, 0, 0, 1},
        /* dW: A and B^T both planes along k (transposed packs), row sums of A */
        {19, 35, 50, {7, 14}, {7, 9}, {0, 0}, 0, 1, 0, 0, 1, 0},
        /* runs of 1 (1x1 planes) and runs longer than a tile */
        {5, 40, 33, {1, 2}, {1, 1}, {37, 4}, 0, 0, 1, 0, 1, 2},
        /* large enough for both threads and several output blocks */
        {150, 700, 70, {0, 0}, {49, 100}, {49, 17}, 0, 0, 1, 1, 0, 2},
        {130, 96, 300, {49, 30}, {49, 8}, {0, 0}, 0, 1, 0, 0, 1, 0},
        /* B (then A) over 2 MiB packed: packed block by block by the threads */
        {40, 1800, 300, {0, 0}, {49, 3}, {49, 0}, 0, 0, 1, 1, 0, 1},
        {1800, 40, 300, {49, 30}, {49, 8}, {0, 0}, 0, 1, 0, 0, 1, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) gemm_case_run(&cases[i]);
}

int main(void) {
    ref_rng = 777u;
    RUN(transposes);
    RUN(gemm_forms);
    return check_done();
}
