/* The ONNX Gemm and MatMul operators on float32 (graph nodes of those op types). With a constant
 * weight matrix (the usual classifier layer) the weights are packed once as the kernel's B operand
 * (columns = output features) and the activations become packed A, so Y = X * W^T runs on the same
 * packed GEMM as Conv with Y's rows contiguous (the other way round, Y^T, every tile of a small
 * batch was partial and stored element by element at a stride); the bias and a fused activation
 * follow on each row. MatMul with two run-time operands
 * falls back to a plain batched loop. Not here: the packed GEMM kernels themselves
 * (kernels/gemm-*.c), fc_matmul, the float matrix products used outside graphs (engine/matmul.c). */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "engine/fusion.h"
#include "engine/ops/ops.h"

typedef struct gemm_state {
    int M, K;         /* output features, reduction length */
    float *packed;    /* packed B (K, M) = alpha * op(B): column panels of output features */
    float *bias;      /* (M) = beta * C broadcast, zeros if none */
    const fc_kernels *k;
} gemm_state;

static void gemm_free(void *p) {
    gemm_state *s = p;
    if (!s) return;
    free(s->packed);
    free(s->bias);
    free(s);
}

static void *alloc64(size_t floats) {
    void *p = NULL;
    return posix_memalign(&p, 64, floats * sizeof(float) + 64) == 0 ? p : NULL;
}

/* Packs weight matrix w (element (m, k) at w[m*rsw + k*csw]) scaled by alpha, transposed: B (K, M). */
static int pack_weights(gemm_state *s, const fc_kernels *k, const float *w, ptrdiff_t rsw,
                        ptrdiff_t csw, float alpha, fc_error *err) {
    s->k = k;
    float *tmp = NULL;
    if (alpha != 1.f) {
        if (!(tmp = malloc((size_t)s->M * s->K * sizeof(float) + 4))) return fc_fail(err, FC_ENOMEM, "out of memory");
        for (int64_t m = 0; m < s->M; m++)
            for (int64_t kk = 0; kk < s->K; kk++) tmp[m * s->K + kk] = alpha * w[m * rsw + kk * csw];
        w = tmp;
        rsw = s->K;
        csw = 1;
    }
    s->packed = alloc64(fc_kernels_packed_b_floats(k, s->K, s->M));
    s->bias = alloc64((size_t)s->M);
    if (!s->packed || !s->bias) { free(tmp); return fc_fail(err, FC_ENOMEM, "out of memory"); }
    k->pack_b(s->K, s->M, w, csw, rsw, s->packed);
    memset(s->bias, 0, (size_t)s->M * sizeof(float));
    free(tmp);
    return 0;
}

static int gemm_prepare(fc_graph *g, fc_node *n, const fc_kernels *k, fc_error *err) {
    if (n->n_in < 2 || n->in[1] < 0) return fc_op_fail(n, FC_EFORMAT, err, "needs A and B");
    const fc_tensor *b = &g->values[n->in[1]].c;
    if (!b->data) return fc_op_fail(n, FC_EUNSUPPORTED, err, "B must be a constant weight matrix");
    if (b->rank != 2) return fc_op_fail(n, FC_ESHAPE, err, "B must be 2-D");
    if (b->dims[0] > (1 << 24) || b->dims[1] > (1 << 24)) return fc_op_fail(n, FC_ELIMIT, err, "B is too large");
    int transB = (int)fc_attr_int(n, "transB", 0);
    float alpha = fc_attr_float(n, "alpha", 1.f), beta = fc_attr_float(n, "beta", 1.f);
    gemm_state *s = calloc(1, sizeof *s);
    if (!s) return fc_fail(err, FC_ENOMEM, "out of memory");
    n->state = s;
    s->M = (int)(transB ? b->dims[0] : b->dims[1]);
    s->K = (int)(transB ? b->dims[1] : b->dims[0]);
    /* W(m, k) = B^T(m, k): B[k, m] (transB=0) or B[m, k] (transB=1) */
    int rc = pack_weights(s, k, b->data, transB ? s->K : 1, transB ? 1 : s->M, alpha, err);
    if (rc) return rc;
    if (n->n_in > 2 && n->in[2] >= 0) {
        const fc_tensor *c = &g->values[n->in[2]].c;
        if (!c->data) return fc_op_fail(n, FC_EUNSUPPORTED, err, "C must be constant");
        int64_t cnt = fc_tensor_count(c);
        if (cnt != 1 && cnt != s->M)
            return fc_op_fail(n, FC_EUNSUPPORTED, err, "C must have 1 or %d values (has %lld)", s->M, (long long)cnt);
        for (int m = 0; m < s->M; m++) s->bias[m] = beta * ((const float *)c->data)[cnt == 1 ? 0 : m];
    }
    return 0;
}

static int gemm_infer(const fc_node *n, const fc_tensor *in, fc_tensor *out, size_t *work,
                      int threads, fc_error *err) {
    const gemm_state *s = n->state;
    if (in[0].rank != 2) return fc_op_fail(n, FC_ESHAPE, err, "A must be 2-D (rank %d)", in[0].rank);
    int transA = (int)fc_attr_int(n, "transA", 0);
    int64_t rows = transA ? in[0].dims[1] : in[0].dims[0], kk = transA ? in[0].dims[0] : in[0].dims[1];
    if (kk != s->K) return fc_op_fail(n, FC_ESHAPE, err, "A has %lld columns, B expects %d", (long long)kk, s->K);
    out->dtype = FC_F32;
    out->rank = 2;
    out->dims[0] = rows;
    out->dims[1] = s->M;
    out->data = NULL;
    *work = fc_kernels_packed_a_floats(s->k, (int)rows, s->K) * sizeof(float);
    return 0;
}

/* Y (rows, M) = act(X * W^T + bias), X element (r, k) at x[r*rsx + k*csx]. */
static void gemm_apply(const gemm_state *s, const fc_act *act, const float *x, ptrdiff_t rsx,
                       ptrdiff_t csx, int64_t rows, float *y, const fc_run_ctx *ctx) {
    const fc_kernels *k = s->k; /* the table it was packed for (a bf16 model's f32 steps: f32) */
    k->pack_a((int)rows, s->K, x, rsx, csx, ctx->work);
    int nr = k->nr, blocks = (s->M + nr - 1) / nr;
    int parts = ctx->threads < blocks ? ctx->threads : blocks;
#pragma omp parallel for num_threads(ctx->threads) schedule(static)
    for (int p = 0; p < parts; p++) { /* column blocks: output features [m0, m1) of every row */
        int b0 = blocks * p / parts, b1 = blocks * (p + 1) / parts;
        int m0 = b0 * nr, m1 = b1 * nr < s->M ? b1 * nr : s->M;
        k->sgemm_packed((int)rows, m1 - m0, s->K, ctx->work, s->packed + (size_t)b0 * s->K * nr, y + m0, s->M, 1,
                        NULL);
        for (int64_t r = 0; r < rows; r++) {
            float *yr = y + r * s->M + m0;
            const float *b = s->bias + m0;
            for (int m = 0; m < m1 - m0; m++) yr[m] += b[m];
            if (act->kind != FC_ACT_NONE) k->act(act, yr, yr, (size_t)(m1 - m0));
        }
    }
}

static int gemm_run(const fc_node *n, const fc_tensor *in, fc_tensor *out, const fc_run_ctx *ctx,
                    fc_error *err) {
    const gemm_state *s = n->state;
    int transA = (int)fc_attr_int(n, "transA", 0);
    int64_t rows = out->dims[0];
    fc_act act = fc_fused_act(n);
    gemm_apply(s, &act, in[0].data, transA ? 1 : s->K, transA ? rows : 1, rows, out->data, ctx);
    return 0;
}

static double gemm_flops(const fc_node *n, const fc_tensor *in, const fc_tensor *out) {
    const gemm_state *s = n->state;
    return 2.0 * (double)fc_tensor_count(out) * s->K;
}

const fc_op_def fc_op_gemm = {.name = "Gemm", .prepare = gemm_prepare, .infer = gemm_infer,
                              .run = gemm_run, .free_state = gemm_free, .flops = gemm_flops};

/* ---- MatMul: (..., R, K) x (K, M) with constant 2-D B packed; anything else runs plain loops ---- */
static int matmul_prepare(fc_graph *g, fc_node *n, const fc_kernels *k, fc_error *err) {
    if (n->n_in != 2 || n->in[0] < 0 || n->in[1] < 0) return fc_op_fail(n, FC_EFORMAT, err, "needs A and B");
    const fc_tensor *b = &g->values[n->in[1]].c;
    if (!b->data || b->rank != 2) return 0; /* run-time operands */
    if (b->dims[0] > (1 << 24) || b->dims[1] > (1 << 24)) return fc_op_fail(n, FC_ELIMIT, err, "B is too large");
    gemm_state *s = calloc(1, sizeof *s);
    if (!s) return fc_fail(err, FC_ENOMEM, "out of memory");
    n->state = s;
    s->K = (int)b->dims[0];
    s->M = (int)b->dims[1];
    return pack_weights(s, k, b->data, 1, s->M, 1.f, err);
}

static int matmul_infer(const fc_node *n, const fc_tensor *in, fc_tensor *out, size_t *work,
                        int threads, fc_error *err) {
    const fc_tensor *a = &in[0], *b = &in[1];
    if (a->rank < 2 || b->rank < 2) return fc_op_fail(n, FC_EUNSUPPORTED, err, "1-D operands are not supported");
    if (a->dims[a->rank - 1] != b->dims[b->rank - 2])
        return fc_op_fail(n, FC_ESHAPE, err, "inner dimensions differ (%lld vs %lld)", (long long)a->dims[a->rank - 1], (long long)b->dims[b->rank - 2]);
    if (b->rank > 2) {
        if (b->rank != a->rank) return fc_op_fail(n, FC_EUNSUPPORTED, err, "batched B must have A's rank");
        for (int d = 0; d < a->rank - 2; d++)
            if (a->dims[d] != b->dims[d]) return fc_op_fail(n, FC_EUNSUPPORTED, err, "broadcast batch dims are not supported");
    }
    *out = *a;
    out->data = NULL;
    out->dims[out->rank - 1] = b->dims[b->rank - 1];
    const gemm_state *s = n->state;
    if (s) {
        int64_t rows = fc_tensor_count(a) / s->K;
        *work = fc_kernels_packed_a_floats(s->k, (int)rows, s->K) * sizeof(float);
    }
    return 0;
}

static int matmul_run(const fc_node *n, const fc_tensor *in, fc_tensor *out, const fc_run_ctx *ctx,
                      fc_error *err) {
    const gemm_state *s = n->state;
    const fc_tensor *a = &in[0], *b = &in[1];
    int64_t K = a->dims[a->rank - 1], M = b->dims[b->rank - 1], R = a->dims[a->rank - 2];
    int64_t batches = fc_tensor_count(a) / (R * K != 0 ? R * K : 1);
    if (s) {
        fc_act act = fc_fused_act(n);
        gemm_apply(s, &act, a->data, K, 1, batches * R, out->data, ctx);
        return 0;
    }
    const float *x = a->data, *w = b->data;
    float *y = out->data;
    int b_batched = b->rank > 2;
    for (int64_t bt = 0; bt < batches; bt++)
        for (int64_t r = 0; r < R; r++)
            for (int64_t m = 0; m < M; m++) {
                float acc = 0.f;
                const float *xr = x + (bt * R + r) * K, *wb = w + (b_batched ? bt * K * M : 0);
                for (int64_t kk = 0; kk < K; kk++) acc += xr[kk] * wb[kk * M + m];
                y[(bt * R + r) * M + m] = acc;
            }
    return 0;
}

/* Without packed weights (two run-time operands) there is no state: K is A's last dim. */
static double matmul_flops(const fc_node *n, const fc_tensor *in, const fc_tensor *out) {
    return 2.0 * (double)fc_tensor_count(out) * (double)in[0].dims[in[0].rank - 1];
}

const fc_op_def fc_op_matmul = {.name = "MatMul", .prepare = matmul_prepare, .infer = matmul_infer,
                                .run = matmul_run, .free_state = gemm_free, .flops = matmul_flops};
