/* fc_train_gemm (gemm.h): packs A and B from their run matrices (in parallel, a few panels per
 * task; an operand over 2 MiB packed is instead packed block by block by the thread about to use
 * it, while it stays in L2), then the threads take output blocks of about 96 x 256 floats and run
 * the kernel table's packed SGEMM on each, straight into C when C is one run per row, else into a
 * per-thread tile that is then copied into the runs. Tasks are taken dynamically: on a shared
 * machine a stalled thread does not hold the other up. In bf16 (ws->bf16) every panel is packed
 * in f32 as usual (row sums taken there) and then converted in place into bf16 pairs by the task
 * that packed it; the bf16 table's tile sets the panel widths and its GEMM runs the blocks.
 * Not here: the kernels (engine/kernels), what the operands are (conv2d.c, linear.c). */
#include <omp.h>
#include <string.h>

#include "engine/train/gemm.h"
#include "engine/train/internal.h"
#include "engine/train/transpose.h"

/* Selects between computed floats (the gates) vectorize only when comparisons may not trap (the
 * library never reads the floating-point exception flags). */
#pragma GCC optimize("no-trapping-math")

#define BLOCK_ROWS 96  /* output block: rows (a multiple of the tile's) ... */
#define BLOCK_COLS 256 /* ... by columns; with its A and B slices it stays in L2 */
#define THREADED_MACS 1048576.0 /* products from 2^20 multiply-adds run on all threads */
#define PACK_PANELS 4           /* panels a packing task takes */
#define STREAM_FLOATS 524288    /* packed operands over 2 MiB are packed block by block */

/* dst (K, R): R rows [r0, r0 + rows) of m, whose run columns are the product's k, transposed into a
 * packed panel (rows past rows are zero), one run at a time. */
static void pack_t(fc_train_tr_fn *tr, const fc_train_mat *m, int r0, int rows, int R, int K, float *dst) {
    const float *base = m->p + (ptrdiff_t)r0 * m->rs;
    for (int k0 = 0; k0 < K;) {
        int n = k0 / m->run, p = k0 % m->run, len = m->run - p < K - k0 ? m->run - p : K - k0;
        if (k0 + len < K && m->rs == m->run) { /* the next run's rows (adjacent planes: one short
                                                  stream the hardware does not fetch early) */
            const char *q = (const char *)(base + (ptrdiff_t)(n + 1) * m->img);
            for (size_t o = 0; o < (size_t)rows * m->run * sizeof(float); o += 64) __builtin_prefetch(q + o);
        }
        tr(base + (ptrdiff_t)n * m->img + p, m->rs, rows, R, len, dst + (size_t)k0 * R, R);
        k0 += len;
    }
}

/* Packed B panel (K, R) of columns [j0, j0 + cols) of m (rows k, run columns n): each k row's runs
 * copied into the panel's lanes, the lanes past cols zero. */
static void pack_runs(const fc_train_mat *m, int j0, int cols, int R, int K, float *dst) {
    ptrdiff_t src[64];
    int lane[65], nseg = 0;
    for (int j = j0; j < j0 + cols;) { /* the panel's segments, one per run it touches */
        int n = j / m->run, p = j % m->run, len = m->run - p < j0 + cols - j ? m->run - p : j0 + cols - j;
        src[nseg] = (ptrdiff_t)n * m->img + p;
        lane[nseg++] = j - j0;
        j += len;
    }
    lane[nseg] = cols;
    for (int k = 0; k < K; k++) {
        const float *row = m->p + (ptrdiff_t)k * m->rs;
        float *d = dst + (size_t)k * R;
        for (int s = 0; s < nseg; s++) {
            float *ds = d + lane[s];
            const float *ss = row + src[s];
#pragma omp simd
            for (int x = 0; x < lane[s + 1] - lane[s]; x++) ds[x] = ss[x];
        }
        for (int x = cols; x < R; x++) d[x] = 0.0f;
    }
}

/* asum[r] = the sum of row r of a packed panel (K, R) over k in order, in double, for r < rows;
 * R a constant at the call sites (the loop over the panel's lanes vectorizes). */
static inline __attribute__((always_inline)) void panel_sums_r(const int R, const float *panel, int rows,
                                                               int K, float *asum) {
    double s[FC_TRAIN_GEMM_MAX_MR] = {0};
    for (int k = 0; k < K; k++)
        for (int r = 0; r < R; r++) s[r] += panel[(size_t)k * R + r];
    for (int r = 0; r < rows; r++) asum[r] = (float)s[r];
}

static void panel_sums(const float *panel, int R, int rows, int K, float *asum) {
    if (R == 12) panel_sums_r(12, panel, rows, K, asum);
    else if (R == 6) panel_sums_r(6, panel, rows, K, asum);
    else panel_sums_r(R, panel, rows, K, asum);
}

/* Packed A panels [p0, p1) of A with t = 1 (element (m, k) at p + k*rs + m: a panel's k-th group
 * is R contiguous floats of row k): A read row by row, each row's groups copied to their panels.
 * R a constant at the call sites. */
static inline __attribute__((always_inline)) void pack_rows_r(const int R, const fc_train_mat *A,
                                                              int M, int K, int p0, int p1, float *pa) {
    for (int k = 0; k < K; k++) {
        const float *row = A->p + (ptrdiff_t)k * A->rs;
        for (int p = p0; p < p1; p++) {
            float *d = pa + ((size_t)p * K + k) * R;
            int m0 = p * R, rows = M - m0 < R ? M - m0 : R;
            if (rows == R) {
                memcpy(d, row + m0, sizeof(float) * R); /* a constant size: vector moves */
            } else {
                for (int r = 0; r < R; r++) d[r] = r < rows ? row[m0 + r] : 0.0f;
            }
        }
    }
}

static void pack_rows(int R, const fc_train_mat *A, int M, int K, int p0, int p1, float *pa) {
    if (R == 12) pack_rows_r(12, A, M, K, p0, p1, pa);
    else if (R == 6) pack_rows_r(6, A, M, K, p0, p1, pa);
    else pack_rows_r(R, A, M, K, p0, p1, pa);
}

typedef struct plan {
    int M, N, K, mr, nr, mp, np, bm, bn, mblocks, nblocks;
    int stream;           /* 0: both operands packed first; 1: A panels packed per block of rows by
                             the thread running them; 2: B panels per block of columns */
    const fc_kernels *k;
    const fc_bf16_kernels *bk; /* NULL: f32 products */
    fc_train_tr_fn *tr;
    const fc_train_mat *A, *B;
    float *pa, *pb, *tiles;
    size_t tile, aslice, bslice; /* floats of a tile, of a row block's packed A, a column block's B */
    const fc_train_out *out;
} plan;

/* A panels [p0, p1) into pa (panel p at pa + p*K*mr), with the row sums of A when asum; in bf16
 * each panel is converted once packed (and summed), while it is in L1 or L2. */
static void pack_a_range(const plan *g, int p0, int p1, float *pa, float *asum) {
    const fc_train_mat *A = g->A;
    int mr = g->mr, M = g->M, K = g->K, m0 = p0 * mr, m1 = p1 * mr < M ? p1 * mr : M;
    if (m1 <= m0) return;
    if (A->t) pack_rows(mr, A, M, K, p0, p1, pa);
    for (int p = p0; p < p1; p++) {
        int r0 = p * mr, rows = M - r0 < mr ? M - r0 : mr;
        float *panel = pa + (size_t)p * K * mr;
        if (!A->t) pack_t(g->tr, A, r0, rows, mr, K, panel);
        if (asum) panel_sums(panel, mr, rows, K, asum + r0);
        if (g->bk) g->bk->pack(panel, K, mr);
    }
}

/* B panels [q0, q1) into pb (panel q at pb + q*K*nr). */
static void pack_b_range(const plan *g, int q0, int q1, float *pb) {
    const fc_train_mat *B = g->B;
    int nr = g->nr, N = g->N, K = g->K, n0 = q0 * nr, n1 = q1 * nr < N ? q1 * nr : N;
    if (n1 <= n0) return;
    if (!B->t && B->run >= N && !g->bk) { /* the f32 table's own packing (its panel width) */
        g->k->pack_b(K, n1 - n0, B->p + n0, B->rs, 1, pb + (size_t)q0 * K * nr);
        return;
    }
    for (int q = q0; q < q1; q++) {
        int j0 = q * nr, cols = N - j0 < nr ? N - j0 : nr;
        float *dst = pb + (size_t)q * K * nr;
        if (B->t) pack_t(g->tr, B, j0, cols, nr, K, dst);
        else pack_runs(B, j0, cols, nr, K, dst);
        if (g->bk) g->bk->pack(dst, K, nr);
    }
}

/* d (len) = s, or s masked by the derivative of act (Relu or Clip) at gt when gt is not NULL: the
 * expressions of fc_act_backward. d may equal s. */
static void copy_row(float *d, const float *s, const float *gt, const fc_act *act, int len) {
    if (!gt) { /* short runs (a 3x3 plane is 9 floats): a loop, not a call */
        if (d != s)
#pragma omp simd
            for (int x = 0; x < len; x++) d[x] = s[x];
    } else if (act->kind == FC_ACT_RELU) {
#pragma omp simd
        for (int x = 0; x < len; x++) {
            float v = s[x];
            d[x] = gt[x] <= 0.0f ? 0.0f : v;
        }
    } else {
        float lo = act->a, hi = act->b;
#pragma omp simd
        for (int x = 0; x < len; x++) {
            float v = s[x];
            d[x] = (gt[x] <= lo) | (gt[x] >= hi) ? 0.0f : v;
        }
    }
}

/* tile (rows, cols) with row stride ld -> out's rows [m0, m0 + rows), columns [n0, n0 + cols),
 * gated on the way; tile may be out's own block (in place). */
static void store(const float *tile, ptrdiff_t ld, int rows, int cols, const fc_train_out *out,
                  int m0, int n0) {
    for (int j = n0; j < n0 + cols;) {
        int n = j / out->run, p = j % out->run;
        int len = out->run - p < n0 + cols - j ? out->run - p : n0 + cols - j;
        ptrdiff_t at = (ptrdiff_t)n * out->img + p + (ptrdiff_t)m0 * out->rs;
        const float *s = tile + (j - n0);
        for (int r = 0; r < rows; r++)
            copy_row(out->p + at + r * out->rs, s + r * ld, out->gate ? out->gate + at + r * out->rs : NULL,
                     &out->gate_act, len);
        j += len;
    }
}

/* The block's product (rows, cols) into c with row stride ld: the f32 or the bf16 kernels. */
static void block_product(const plan *g, int rows, int cols, const float *a, const float *bp, float *c,
                          ptrdiff_t ld, const fc_epilogue *ep) {
    if (g->bk) g->bk->gemm(rows, cols, g->K, (const uint32_t *)a, (const uint32_t *)bp, c, ld, ep);
    else g->k->sgemm_packed(rows, cols, g->K, a, bp, c, ld, 1, ep);
}

/* Output block (row block i, column block j): a and bp are its packed A and B panels. */
static void run_block(const plan *g, int i, int j, const float *a, const float *bp, float *tile) {
    const fc_train_out *out = g->out;
    int m0 = i * g->bm * g->mr, n0 = j * g->bn * g->nr;
    int rows = g->M - m0 < g->bm * g->mr ? g->M - m0 : g->bm * g->mr;
    int cols = g->N - n0 < g->bn * g->nr ? g->N - n0 : g->bn * g->nr;
    fc_epilogue ep = out->ep;
    ep.bias = ep.bias ? ep.bias + m0 : NULL;
    if (out->run >= g->N) { /* straight into C, gated in place while the block is in L2 */
        float *c = out->p + (ptrdiff_t)m0 * out->rs + n0;
        block_product(g, rows, cols, a, bp, c, out->rs, &ep);
        if (out->gate) store(c, out->rs, rows, cols, out, m0, n0);
        return;
    }
    ptrdiff_t ld = (ptrdiff_t)g->bn * g->nr;
    block_product(g, rows, cols, a, bp, tile, ld, &ep);
    store(tile, ld, rows, cols, out, m0, n0);
}

static int min_int(int a, int b) { return a < b ? a : b; }

/* Packs A panels [p0, p1) into pa (their own first panel at pa), B panels [q0, q1) into pb. */
static void pack_a_block(const plan *g, int p0, int p1, float *pa) {
    pack_a_range(g, p0, p1, pa - (size_t)p0 * g->K * g->mr, g->A->t ? NULL : g->out->asum);
}

static void pack_b_block(const plan *g, int q0, int q1, float *pb) {
    pack_b_range(g, q0, q1, pb - (size_t)q0 * g->K * g->nr);
}

/* The parallel part: packing, then the blocks (tasks taken dynamically: on a shared machine a
 * stalled thread does not hold the other up). */
static void run(const plan *g) {
    int t = omp_get_thread_num(), mr = g->mr, nr = g->nr, ta = 0, tb = 0;
    float *tile = g->tiles + (size_t)t * g->tile;
    if (g->stream != 1) ta = (g->mp + PACK_PANELS - 1) / PACK_PANELS;
    if (g->stream != 2) tb = (g->np + PACK_PANELS - 1) / PACK_PANELS;
#pragma omp for schedule(dynamic, 1)
    for (int i = 0; i < ta + tb; i++) {
        int p0 = (i < ta ? i : i - ta) * PACK_PANELS;
        if (i < ta) pack_a_block(g, p0, min_int(p0 + PACK_PANELS, g->mp), g->pa + (size_t)p0 * g->K * mr);
        else pack_b_block(g, p0, min_int(p0 + PACK_PANELS, g->np), g->pb + (size_t)p0 * g->K * nr);
    }
    if (g->stream == 1) { /* a row block's A packed into this thread's slice, then every column */
        float *a = g->pa + (size_t)t * g->aslice;
#pragma omp for schedule(dynamic, 1)
        for (int i = 0; i < g->mblocks; i++) {
            pack_a_block(g, i * g->bm, min_int((i + 1) * g->bm, g->mp), a);
            for (int j = 0; j < g->nblocks; j++)
                run_block(g, i, j, a, g->pb + (size_t)j * g->bn * g->K * nr, tile);
        }
    } else if (g->stream == 2) {
        float *bp = g->pb + (size_t)t * g->bslice;
#pragma omp for schedule(dynamic, 1)
        for (int j = 0; j < g->nblocks; j++) {
            pack_b_block(g, j * g->bn, min_int((j + 1) * g->bn, g->np), bp);
            for (int i = 0; i < g->mblocks; i++)
                run_block(g, i, j, g->pa + (size_t)i * g->bm * g->K * mr, bp, tile);
        }
    } else {
#pragma omp for schedule(dynamic, 1)
        for (int b = 0; b < g->mblocks * g->nblocks; b++) {
            int i = b % g->mblocks, j = b / g->mblocks;
            run_block(g, i, j, g->pa + (size_t)i * g->bm * g->K * mr,
                      g->pb + (size_t)j * g->bn * g->K * nr, tile);
        }
    }
}

int fc_train_gemm(fc_train_ws *ws, int M, int N, int K, const fc_train_mat *A,
                  const fc_train_mat *B, const fc_train_out *out, fc_error *err) {
    return fc_train_gemm_on(ws, &ws->mm, ws->threads, M, N, K, A, B, out, err);
}

int fc_train_gemm_on(const fc_train_ws *ws, fc_matmul *mm, int team, int M, int N, int K,
                     const fc_train_mat *A, const fc_train_mat *B, const fc_train_out *out,
                     fc_error *err) {
    plan g = {.M = M, .N = N, .K = K, .k = ws->mm.k, .bk = ws->bf16, .A = A, .B = B, .out = out};
    g.mr = g.bk ? g.bk->mr : g.k->mr, g.nr = g.bk ? g.bk->nr : g.k->nr;
    g.tr = fc_train_use_avx2(ws) ? fc_train_tr_avx2 : fc_train_tr_generic;
    g.mp = (M + g.mr - 1) / g.mr, g.np = (N + g.nr - 1) / g.nr;
    g.bm = BLOCK_ROWS / g.mr > 0 ? BLOCK_ROWS / g.mr : 1;
    g.bn = BLOCK_COLS / g.nr > 0 ? BLOCK_COLS / g.nr : 1;
    g.mblocks = (g.mp + g.bm - 1) / g.bm, g.nblocks = (g.np + g.bn - 1) / g.bn;
    g.bn = (g.np + g.nblocks - 1) / g.nblocks; /* blocks of even width */
    int threads = (double)M * N * K >= THREADED_MACS ? team : 1;
    size_t na = (size_t)g.mp * K * g.mr, nb = (size_t)g.np * K * g.nr;
    g.aslice = (size_t)g.bm * K * g.mr, g.bslice = (size_t)g.bn * K * g.nr;
    g.tile = (size_t)g.bm * g.mr * g.bn * g.nr;
    /* an operand too large for the caches is packed block by block by the thread that uses it
     * (written and read while in L2), the other one first */
    if (nb > STREAM_FLOATS && nb >= na && g.nblocks >= 2 * threads) g.stream = 2, nb = g.bslice * threads;
    else if (na > STREAM_FLOATS && g.mblocks >= 2 * threads) g.stream = 1, na = g.aslice * threads;
    if (fc_matmul_reserve(mm, na, nb + (size_t)threads * g.tile))
        return fc_fail(err, FC_ENOMEM, "train gemm: out of memory for a %d x %d x %d product", M, N, K);
    g.pa = mm->pa, g.pb = mm->pb, g.tiles = mm->pb + nb;
#pragma omp parallel num_threads(threads) if (threads > 1)
    run(&g);
    return 0;
}
