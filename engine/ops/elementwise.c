/* Elementwise operators: binary Add/Sub/Mul/Div/Max/Min with NumPy broadcasting (float32, and int64 for shape
 * arithmetic), unary activations (Relu, Clip, LeakyRelu, Sigmoid, HardSigmoid, HardSwish, Tanh) and
 * pass-through Identity/Dropout. Fast paths: same shape, and a per-(n,c) scalar operand such as
 * [N,C,1,1] or [C,1,1] (squeeze-excite, normalization constants). */
#include <math.h>
#include <string.h>

#include "engine/ops/ops.h"

enum { OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_MAX, OP_MIN };

static int broadcast_infer(const fc_node *n, const fc_tensor *in, fc_tensor *out, size_t *work,
                           int threads, fc_error *err) {
    const fc_tensor *a = &in[0], *b = &in[1];
    if (n->n_in != 2 || n->in[0] < 0 || n->in[1] < 0)
        return fc_op_fail(n, n->n_in > 2 ? FC_EUNSUPPORTED : FC_EFORMAT, err, "needs exactly two inputs");
    if (a->dtype != b->dtype)
        return fc_op_fail(n, FC_EFORMAT, err, "inputs have different element types");
    int rank = a->rank > b->rank ? a->rank : b->rank;
    out->dtype = a->dtype;
    out->rank = rank;
    for (int i = 0; i < rank; i++) {
        int ia = i - (rank - a->rank), ib = i - (rank - b->rank);
        int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
        if (da != db && da != 1 && db != 1)
            return fc_op_fail(n, FC_ESHAPE, err, "cannot broadcast dimension %d: %lld vs %lld", i,
                              (long long)da, (long long)db);
        out->dims[i] = da == 1 ? db : da;
    }
    return 0;
}

static inline float apply_f(int op, float x, float y) {
    switch (op) {
    case OP_ADD: return x + y;
    case OP_SUB: return x - y;
    case OP_MUL: return x * y;
    case OP_MAX: return x > y || isnan(x) ? x : y; /* NaN propagates, as in ONNX Runtime */
    case OP_MIN: return x < y || isnan(x) ? x : y;
    default: return x / y;
    }
}

static inline int64_t apply_i(int op, int64_t x, int64_t y) {
    switch (op) {
    case OP_ADD: return x + y;
    case OP_SUB: return x - y;
    case OP_MUL: return x * y;
    case OP_MAX: return x > y ? x : y;
    case OP_MIN: return x < y ? x : y;
    default: return y ? x / y : 0;
    }
}

/* Element strides of t broadcast to out's rank (0 where broadcast). */
static void bstrides(const fc_tensor *t, const fc_tensor *out, int64_t *st) {
    int64_t s = 1;
    for (int i = out->rank - 1; i >= 0; i--) {
        int it = i - (out->rank - t->rank);
        int64_t d = it >= 0 ? t->dims[it] : 1;
        st[i] = d == 1 ? 0 : s;
        s *= d;
    }
}

static int is_same(const fc_tensor *t, const fc_tensor *out) {
    return fc_tensor_count(t) == fc_tensor_count(out) && t->rank == out->rank;
}

/* b is constant along the last `inner` elements and varies only in the outer part: returns inner
 * (>1) when out = [outer..., inner...] and b's broadcast strides are 0 for the inner dims and
 * contiguous for the outer ones. */
static int64_t scalar_per_plane(const fc_tensor *b, const fc_tensor *out, int64_t *outer) {
    int64_t st[FC_MAX_RANK];
    bstrides(b, out, st);
    int k = out->rank;
    int64_t inner = 1;
    while (k > 0 && st[k - 1] == 0) inner *= out->dims[--k];
    int64_t expect = 1;
    for (int i = k - 1; i >= 0; i--) {
        if (out->dims[i] != 1 && st[i] != expect) return 0;
        expect *= out->dims[i];
    }
    *outer = expect;
    return inner > 1 ? inner : 0;
}

static inline float f_add(float x, float y) { return apply_f(OP_ADD, x, y); }
static inline float f_sub(float x, float y) { return apply_f(OP_SUB, x, y); }
static inline float f_mul(float x, float y) { return apply_f(OP_MUL, x, y); }
static inline float f_div(float x, float y) { return apply_f(OP_DIV, x, y); }
static inline float f_max(float x, float y) { return apply_f(OP_MAX, x, y); }
static inline float f_min(float x, float y) { return apply_f(OP_MIN, x, y); }

/* The float fast paths of one operation F, as functions of their own so that F is fixed inside the
 * outlined OpenMP loops and they vectorize (an op switch in the loop body kept them scalar); each
 * element is F of the same operands as in the general path. same: z = F(x, y) elementwise; left:
 * z = F(x, s[o]) over plane o of inner elements; right: z = F(s[o], y). */
typedef struct fast_paths {
    void (*same)(const float *x, const float *y, float *z, int64_t count, int threads);
    void (*left)(const float *x, const float *s, float *z, int64_t outer, int64_t inner, int threads);
    void (*right)(const float *s, const float *y, float *z, int64_t outer, int64_t inner, int threads);
} fast_paths;

#define FAST_PATHS(F)                                                                              \
    static void same_##F(const float *x, const float *y, float *z, int64_t count, int threads) {    \
        _Pragma("omp parallel for simd num_threads(threads) if (count > 65536) schedule(static)")   \
        for (int64_t i = 0; i < count; i++) z[i] = F(x[i], y[i]);                                   \
    }                                                                                               \
    static void left_##F(const float *x, const float *s, float *z, int64_t outer, int64_t inner,   \
                         int threads) {                                                             \
        _Pragma("omp parallel for num_threads(threads) if (outer * inner > 65536) schedule(static)") \
        for (int64_t o = 0; o < outer; o++) {                                                       \
            float v = s[o];                                                                         \
            _Pragma("omp simd")                                                                     \
            for (int64_t i = 0; i < inner; i++) z[o * inner + i] = F(x[o * inner + i], v);          \
        }                                                                                           \
    }                                                                                               \
    static void right_##F(const float *s, const float *y, float *z, int64_t outer, int64_t inner,  \
                          int threads) {                                                            \
        _Pragma("omp parallel for num_threads(threads) if (outer * inner > 65536) schedule(static)") \
        for (int64_t o = 0; o < outer; o++) {                                                       \
            float v = s[o];                                                                         \
            _Pragma("omp simd")                                                                     \
            for (int64_t i = 0; i < inner; i++) z[o * inner + i] = F(v, y[o * inner + i]);          \
        }                                                                                           \
    }
FAST_PATHS(f_add)
FAST_PATHS(f_sub)
FAST_PATHS(f_mul)
FAST_PATHS(f_div)
FAST_PATHS(f_max)
FAST_PATHS(f_min)
#undef FAST_PATHS

static const fast_paths FAST[] = {
    [OP_ADD] = {same_f_add, left_f_add, right_f_add}, [OP_SUB] = {same_f_sub, left_f_sub, right_f_sub},
    [OP_MUL] = {same_f_mul, left_f_mul, right_f_mul}, [OP_DIV] = {same_f_div, left_f_div, right_f_div},
    [OP_MAX] = {same_f_max, left_f_max, right_f_max}, [OP_MIN] = {same_f_min, left_f_min, right_f_min},
};

static int binary_run(int op, const fc_node *n, const fc_tensor *in, fc_tensor *out,
                      const fc_run_ctx *ctx) {
    const fc_tensor *a = &in[0], *b = &in[1];
    int64_t count = fc_tensor_count(out);
    if (out->dtype == FC_F32) {
        const float *x = a->data, *y = b->data;
        float *z = out->data;
        int64_t outer = 0, inner;
        if (is_same(a, out) && is_same(b, out)) {
            FAST[op].same(x, y, z, count, ctx->threads);
            return 0;
        }
        if (is_same(a, out) && (inner = scalar_per_plane(b, out, &outer)) > 0) {
            FAST[op].left(x, y, z, outer, inner, ctx->threads);
            return 0;
        }
        if (is_same(b, out) && (inner = scalar_per_plane(a, out, &outer)) > 0) {
            FAST[op].right(x, y, z, outer, inner, ctx->threads);
            return 0;
        }
    }
    int64_t sa[FC_MAX_RANK], sb[FC_MAX_RANK], idx[FC_MAX_RANK] = {0};
    bstrides(a, out, sa);
    bstrides(b, out, sb);
    int64_t ia = 0, ib = 0;
    for (int64_t i = 0; i < count; i++) {
        if (out->dtype == FC_F32)
            ((float *)out->data)[i] = apply_f(op, ((const float *)a->data)[ia], ((const float *)b->data)[ib]);
        else
            ((int64_t *)out->data)[i] = apply_i(op, ((const int64_t *)a->data)[ia], ((const int64_t *)b->data)[ib]);
        for (int d = out->rank - 1; d >= 0; d--) { /* odometer increment */
            idx[d]++;
            ia += sa[d];
            ib += sb[d];
            if (idx[d] < out->dims[d]) break;
            ia -= sa[d] * idx[d];
            ib -= sb[d] * idx[d];
            idx[d] = 0;
        }
    }
    return 0;
}

#define BINARY(NAME, OPNAME, OP)                                                                \
    static int run_##NAME(const fc_node *n, const fc_tensor *in, fc_tensor *out,                 \
                          const fc_run_ctx *ctx, fc_error *err) {                                \
        return binary_run(OP, n, in, out, ctx);                                                  \
    }                                                                                            \
    const fc_op_def fc_op_##NAME = {.name = OPNAME, .infer = broadcast_infer, .run = run_##NAME, \
                                    .fold = FC_FOLD_CONST};
BINARY(add, "Add", OP_ADD)
BINARY(sub, "Sub", OP_SUB)
BINARY(mul, "Mul", OP_MUL)
BINARY(div, "Div", OP_DIV)
BINARY(max, "Max", OP_MAX) /* two-input form; Max/Min with more inputs are refused at infer */
BINARY(min, "Min", OP_MIN)

/* ---- unary ---- */

static int unary_infer(const fc_node *n, const fc_tensor *in, fc_tensor *out, size_t *work,
                       int threads, fc_error *err) {
    if (n->n_in < 1 || n->in[0] < 0) return fc_op_fail(n, FC_EFORMAT, err, "needs an input");
    *out = in[0];
    out->data = NULL;
    if (strcmp(n->op_type, "Identity") && strcmp(n->op_type, "Dropout") && out->dtype != FC_F32)
        return fc_op_fail(n, FC_EUNSUPPORTED, err, "only float32 inputs are supported");
    return 0;
}

int fc_op_act_of(const fc_node *n, const fc_tensor *in, fc_act *act) {
    memset(act, 0, sizeof *act);
    const char *t = n->op_type;
    if (!strcmp(t, "Relu")) act->kind = FC_ACT_RELU;
    else if (!strcmp(t, "Sigmoid")) act->kind = FC_ACT_SIGMOID;
    else if (!strcmp(t, "HardSwish")) act->kind = FC_ACT_HARDSWISH;
    else if (!strcmp(t, "LeakyRelu")) { act->kind = FC_ACT_LEAKY; act->a = fc_attr_float(n, "alpha", 0.01f); }
    else if (!strcmp(t, "HardSigmoid")) {
        act->kind = FC_ACT_HARDSIGMOID;
        act->a = fc_attr_float(n, "alpha", 0.2f);
        act->b = fc_attr_float(n, "beta", 0.5f);
    } else if (!strcmp(t, "Clip")) {
        act->kind = FC_ACT_CLIP;
        act->a = fc_attr_float(n, "min", -INFINITY);
        act->b = fc_attr_float(n, "max", INFINITY);
        if (n->n_in > 1 && n->in[1] >= 0 && in[1].data) act->a = *(const float *)in[1].data;
        if (n->n_in > 2 && n->in[2] >= 0 && in[2].data) act->b = *(const float *)in[2].data;
    } else return -1;
    return 0;
}

static int unary_run(const fc_node *n, const fc_tensor *in, fc_tensor *out, const fc_run_ctx *ctx,
                     fc_error *err) {
    int64_t count = fc_tensor_count(out);
    if (!strcmp(n->op_type, "Identity") || !strcmp(n->op_type, "Dropout")) {
        if (out->data != in[0].data) memcpy(out->data, in[0].data, fc_tensor_bytes(out));
        return 0;
    }
    const float *x = in[0].data;
    float *y = out->data;
    if (!strcmp(n->op_type, "Tanh")) {
        for (int64_t i = 0; i < count; i++) y[i] = tanhf(x[i]);
        return 0;
    }
    fc_act act;
    if (fc_op_act_of(n, in, &act) != 0) return fc_op_fail(n, FC_EINTERNAL, err, "not an activation");
    const int64_t chunk = 16384;
    int64_t nchunks = (count + chunk - 1) / chunk;
#pragma omp parallel for num_threads(ctx->threads) if (nchunks > 4) schedule(static)
    for (int64_t c = 0; c < nchunks; c++) {
        int64_t lo = c * chunk, len = count - lo < chunk ? count - lo : chunk;
        ctx->k->act(&act, x + lo, y + lo, (size_t)len);
    }
    return 0;
}

static int clip_prepare(fc_graph *g, fc_node *n, const fc_kernels *k, fc_error *err) {
    for (int i = 1; i < n->n_in && i < 3; i++)
        if (n->in[i] >= 0 && !g->values[n->in[i]].c.data)
            return fc_op_fail(n, FC_EUNSUPPORTED, err, "min/max must be constants");
    return 0;
}

#define UNARY(NAME, OPNAME, PREP)                                                                \
    const fc_op_def fc_op_##NAME = {.name = OPNAME, .prepare = PREP, .infer = unary_infer,       \
                                    .run = unary_run, .fold = FC_FOLD_CONST};
UNARY(relu, "Relu", NULL)
UNARY(clip, "Clip", clip_prepare)
UNARY(leakyrelu, "LeakyRelu", NULL)
UNARY(sigmoid, "Sigmoid", NULL)
UNARY(hardsigmoid, "HardSigmoid", NULL)
UNARY(hardswish, "HardSwish", NULL)
UNARY(tanh, "Tanh", NULL)
UNARY(identity, "Identity", NULL)
UNARY(dropout, "Dropout", NULL)
