/* Data-movement operators: Flatten, Reshape, Squeeze, Unsqueeze (copies), Transpose, Concat, Slice,
 * Gather, Shape, Cast, Pad. Work on float32 and int64 alike, so that shape-computing chains
 * (Shape -> Gather -> Unsqueeze -> Concat -> Reshape) fold at session creation. Not here: arithmetic. */
#include <string.h>

#include "engine/ops/ops.h"

static int copy_run(const fc_node *n, const fc_tensor *in, fc_tensor *out, const fc_run_ctx *ctx,
                    fc_error *err) {
    if (out->data != in[0].data) memcpy(out->data, in[0].data, fc_tensor_bytes(out));
    return 0;
}

static void set_out(fc_tensor *out, const fc_tensor *like, int rank, const int64_t *dims) {
    out->dtype = like->dtype;
    out->rank = rank;
    for (int i = 0; i < rank; i++) out->dims[i] = dims[i];
    out->data = NULL;
}

/* out (its dims, row-major) from src: out element idx comes from src[sum idx[d] * st[d]] (elements of
 * es bytes). The innermost dimensions along which the source is contiguous are copied as one run
 * (a Transpose that keeps the planes, a Slice of whole channels), the runs in parallel when large. */
static void copy_strided(const fc_tensor *out, const char *src, const int64_t *st, size_t es, int threads) {
    int r = out->rank, d = r;
    int64_t run = 1;
    while (d > 0 && st[d - 1] == run) run *= out->dims[--d]; /* dims [d, r) form one run */
    if (!run) return; /* an empty tensor */
    int64_t n_runs = fc_tensor_count(out) / run;
#pragma omp parallel for num_threads(threads) if (n_runs * run * (int64_t)es > 1 << 20)
    for (int64_t k = 0; k < n_runs; k++) {
        int64_t rest = k, off = 0;
        for (int i = d - 1; i >= 0; i--) { /* run k's index in the outer dims [0, d) */
            off += rest % out->dims[i] * st[i];
            rest /= out->dims[i];
        }
        memcpy((char *)out->data + k * run * (int64_t)es, src + off * (int64_t)es, (size_t)(run * (int64_t)es));
    }
}

/* ---- Flatten ---- */
static int flatten_infer(const fc_node *n, const fc_tensor *in, fc_tensor *out, size_t *work,
                         int threads, fc_error *err) {
    int r = in[0].rank, axis;
    int64_t ax = fc_attr_int(n, "axis", 1);
    if (ax == r) axis = r;
    else if (fc_op_axis(n, ax, r, &axis, err)) return FC_EFORMAT;
    int64_t d[2] = {1, 1};
    for (int i = 0; i < r; i++) d[i < axis ? 0 : 1] *= in[0].dims[i];
    set_out(out, &in[0], 2, d);
    return 0;
}
const fc_op_def fc_op_flatten = {.name = "Flatten", .infer = flatten_infer, .run = copy_run, .fold = FC_FOLD_CONST};

/* ---- Reshape (shape from input 1 or, before opset 5, attribute) ---- */
static int reshape_infer(const fc_node *n, const fc_tensor *in, fc_tensor *out, size_t *work,
                         int threads, fc_error *err) {
    int64_t shape[FC_MAX_RANK];
    int r;
    if (n->n_in >= 2 && n->in[1] >= 0) {
        if (!in[1].data) return fc_op_fail(n, FC_EUNSUPPORTED, err, "the target shape must be known at load time");
        r = (int)fc_tensor_count(&in[1]);
        if (r > FC_MAX_RANK) return fc_op_fail(n, FC_EUNSUPPORTED, err, "rank %d too large", r);
        fc_op_const_ints(&in[1], shape, FC_MAX_RANK);
    } else {
        r = fc_attr_ints(n, "shape", shape, FC_MAX_RANK);
        if (r > FC_MAX_RANK) return fc_op_fail(n, FC_EUNSUPPORTED, err, "rank %d too large", r);
    }
    int allowzero = (int)fc_attr_int(n, "allowzero", 0);
    int64_t total = fc_tensor_count(&in[0]), known = 1;
    int infer_at = -1;
    for (int i = 0; i < r; i++) {
        if (shape[i] == 0 && !allowzero) {
            if (i >= in[0].rank) return fc_op_fail(n, FC_ESHAPE, err, "0 at position %d copies a missing dim", i);
            shape[i] = in[0].dims[i];
        }
        if (shape[i] == -1) {
            if (infer_at >= 0) return fc_op_fail(n, FC_ESHAPE, err, "more than one -1 in the shape");
            infer_at = i;
        } else if (shape[i] < 0) {
            return fc_op_fail(n, FC_ESHAPE, err, "negative dimension %lld", (long long)shape[i]);
        } else {
            if (shape[i] && known > FC_MAX_ELEMENTS / shape[i]) return fc_op_fail(n, FC_ELIMIT, err, "shape overflows");
            known *= shape[i];
        }
    }
    if (infer_at >= 0) {
        if (known == 0 || total % known) return fc_op_fail(n, FC_ESHAPE, err, "cannot infer -1: %lld elements into %lld", (long long)total, (long long)known);
        shape[infer_at] = total / known;
    } else if (known != total) {
        return fc_op_fail(n, FC_ESHAPE, err, "cannot reshape %lld elements into %lld", (long long)total, (long long)known);
    }
    set_out(out, &in[0], r, shape);
    return 0;
}
const fc_op_def fc_op_reshape = {.name = "Reshape", .infer = reshape_infer, .run = copy_run, .fold = FC_FOLD_CONST};

/* Axes from input 1 (opset >= 13) or the "axes" attribute; returns count or -1 when not constant. */
static int axes_of(const fc_node *n, const fc_tensor *in, int64_t *axes) {
    if (n->n_in >= 2 && n->in[1] >= 0) return in[1].data ? fc_op_const_ints(&in[1], axes, FC_MAX_RANK) : -1;
    return fc_attr_ints(n, "axes", axes, FC_MAX_RANK);
}

/* ---- Squeeze ---- */
static int squeeze_infer(const fc_node *n, const fc_tensor *in, fc_tensor *out, size_t *work,
                         int threads, fc_error *err) {
    int64_t axes[FC_MAX_RANK];
    int na = axes_of(n, in, axes), r = in[0].rank;
    if (na < 0) return fc_op_fail(n, FC_EUNSUPPORTED, err, "axes must be constant");
    char drop[FC_MAX_RANK] = {0};
    for (int i = 0; i < na && i < FC_MAX_RANK; i++) {
        int a;
        if (fc_op_axis(n, axes[i], r, &a, err)) return FC_EFORMAT;
        if (in[0].dims[a] != 1) return fc_op_fail(n, FC_ESHAPE, err, "cannot squeeze axis %d of size %lld", a, (long long)in[0].dims[a]);
        drop[a] = 1;
    }
    int64_t d[FC_MAX_RANK];
    int k = 0;
    for (int i = 0; i < r; i++)
        if (!(na ? drop[i] : in[0].dims[i] == 1)) d[k++] = in[0].dims[i];
    set_out(out, &in[0], k, d);
    return 0;
}
const fc_op_def fc_op_squeeze = {.name = "Squeeze", .infer = squeeze_infer, .run = copy_run, .fold = FC_FOLD_CONST};

/* ---- Unsqueeze ---- */
static int unsqueeze_infer(const fc_node *n, const fc_tensor *in, fc_tensor *out, size_t *work,
                           int threads, fc_error *err) {
    int64_t axes[FC_MAX_RANK];
    int na = axes_of(n, in, axes);
    if (na < 0) return fc_op_fail(n, FC_EUNSUPPORTED, err, "axes must be constant");
    int r = in[0].rank + na;
    if (r > FC_MAX_RANK) return fc_op_fail(n, FC_EUNSUPPORTED, err, "rank %d too large", r);
    char ins[FC_MAX_RANK] = {0};
    for (int i = 0; i < na; i++) {
        int a;
        if (fc_op_axis(n, axes[i], r, &a, err)) return FC_EFORMAT;
        if (ins[a]) return fc_op_fail(n, FC_EFORMAT, err, "axis %d repeated", a);
        ins[a] = 1;
    }
    int64_t d[FC_MAX_RANK];
    for (int i = 0, k = 0; i < r; i++) d[i] = ins[i] ? 1 : in[0].dims[k++];
    set_out(out, &in[0], r, d);
    return 0;
}
const fc_op_def fc_op_unsqueeze = {.name = "Unsqueeze", .infer = unsqueeze_infer, .run = copy_run, .fold = FC_FOLD_CONST};

/* ---- Transpose ---- */
static int perm_of(const fc_node *n, int r, int *perm, fc_error *err) {
    int64_t p[FC_MAX_RANK];
    int np = fc_attr_ints(n, "perm", p, FC_MAX_RANK);
    if (np == 0) { for (int i = 0; i < r; i++) perm[i] = r - 1 - i; return 0; }
    if (np != r) return fc_op_fail(n, FC_ESHAPE, err, "perm has %d entries for rank %d", np, r);
    char seen[FC_MAX_RANK] = {0};
    for (int i = 0; i < r; i++) {
        if (p[i] < 0 || p[i] >= r || seen[p[i]]) return fc_op_fail(n, FC_EFORMAT, err, "perm is not a permutation");
        seen[p[i]] = 1;
        perm[i] = (int)p[i];
    }
    return 0;
}
static int transpose_infer(const fc_node *n, const fc_tensor *in, fc_tensor *out, size_t *work,
                           int threads, fc_error *err) {
    int perm[FC_MAX_RANK], r = in[0].rank;
    if (perm_of(n, r, perm, err)) return err ? err->code : FC_EFORMAT;
    int64_t d[FC_MAX_RANK];
    for (int i = 0; i < r; i++) d[i] = in[0].dims[perm[i]];
    set_out(out, &in[0], r, d);
    return 0;
}
static int transpose_run(const fc_node *n, const fc_tensor *in, fc_tensor *out,
                         const fc_run_ctx *ctx, fc_error *err) {
    int perm[FC_MAX_RANK], r = in[0].rank;
    if (perm_of(n, r, perm, err)) return FC_EFORMAT;
    int64_t istride[FC_MAX_RANK], st[FC_MAX_RANK], s = 1;
    for (int i = r - 1; i >= 0; i--) { istride[i] = s; s *= in[0].dims[i]; }
    for (int i = 0; i < r; i++) st[i] = istride[perm[i]];
    copy_strided(out, in[0].data, st, fc_dtype_size(out->dtype), ctx->threads);
    return 0;
}
const fc_op_def fc_op_transpose = {.name = "Transpose", .infer = transpose_infer, .run = transpose_run, .fold = FC_FOLD_CONST};

/* ---- Concat ---- */
static int concat_infer(const fc_node *n, const fc_tensor *in, fc_tensor *out, size_t *work,
                        int threads, fc_error *err) {
    if (n->n_in < 1) return fc_op_fail(n, FC_EFORMAT, err, "needs inputs");
    int r = in[0].rank, axis;
    if (r < 1) return fc_op_fail(n, FC_ESHAPE, err, "input 0 is a scalar (Concat needs rank >= 1)");
    if (fc_op_axis(n, fc_attr_int(n, "axis", 0), r, &axis, err)) return FC_EFORMAT;
    *out = in[0];
    out->data = NULL;
    out->dims[axis] = 0;
    for (int i = 0; i < n->n_in; i++) {
        if (n->in[i] < 0) continue;
        if (in[i].rank != r || in[i].dtype != in[0].dtype)
            return fc_op_fail(n, FC_ESHAPE, err, "input %d has rank %d / type %d, input 0 has %d / %d", i, in[i].rank, in[i].dtype, r, in[0].dtype);
        for (int d = 0; d < r; d++)
            if (d != axis && in[i].dims[d] != in[0].dims[d])
                return fc_op_fail(n, FC_ESHAPE, err, "input %d differs in dimension %d (%lld vs %lld)", i, d, (long long)in[i].dims[d], (long long)in[0].dims[d]);
        out->dims[axis] += in[i].dims[axis];
    }
    return 0;
}
static int concat_run(const fc_node *n, const fc_tensor *in, fc_tensor *out, const fc_run_ctx *ctx,
                      fc_error *err) {
    int axis;
    if (fc_op_axis(n, fc_attr_int(n, "axis", 0), out->rank, &axis, err)) return FC_EFORMAT;
    int64_t outer = 1, inner = fc_dtype_size(out->dtype);
    for (int d = 0; d < axis; d++) outer *= out->dims[d];
    for (int d = axis + 1; d < out->rank; d++) inner *= out->dims[d];
    int64_t out_row = out->dims[axis] * inner, off = 0;
    for (int i = 0; i < n->n_in; i++) {
        if (n->in[i] < 0) continue;
        int64_t row = in[i].dims[axis] * inner;
#pragma omp parallel for num_threads(ctx->threads) if (outer * row > 1 << 20)
        for (int64_t o = 0; o < outer; o++)
            memcpy((char *)out->data + o * out_row + off, (const char *)in[i].data + o * row, (size_t)row);
        off += row;
    }
    return 0;
}
const fc_op_def fc_op_concat = {.name = "Concat", .infer = concat_infer, .run = concat_run, .fold = FC_FOLD_CONST};

/* ---- Slice (opset >= 10: starts/ends/axes/steps inputs; earlier: attributes) ---- */
typedef struct slice_plan { int64_t start[FC_MAX_RANK], step[FC_MAX_RANK]; } slice_plan;

static int slice_plan_of(const fc_node *n, const fc_tensor *in, fc_tensor *out, slice_plan *p,
                         fc_error *err) {
    int r = in[0].rank;
    int64_t starts[FC_MAX_RANK], ends[FC_MAX_RANK], axes[FC_MAX_RANK], steps[FC_MAX_RANK];
    int ns, ne, na = -2, nst = -2;
    if (n->n_in >= 3) {
        if (!in[1].data || !in[2].data) return fc_op_fail(n, FC_EUNSUPPORTED, err, "starts/ends must be constant");
        ns = fc_op_const_ints(&in[1], starts, FC_MAX_RANK);
        ne = fc_op_const_ints(&in[2], ends, FC_MAX_RANK);
        if (n->n_in > 3 && n->in[3] >= 0) na = fc_op_const_ints(&in[3], axes, FC_MAX_RANK);
        if (n->n_in > 4 && n->in[4] >= 0) nst = fc_op_const_ints(&in[4], steps, FC_MAX_RANK);
        if (na == -1 || nst == -1) return fc_op_fail(n, FC_EUNSUPPORTED, err, "axes/steps must be constant");
    } else {
        ns = fc_attr_ints(n, "starts", starts, FC_MAX_RANK);
        ne = fc_attr_ints(n, "ends", ends, FC_MAX_RANK);
        int k = fc_attr_ints(n, "axes", axes, FC_MAX_RANK);
        if (k) na = k;
    }
    if (ns != ne || ns > r || (na >= 0 && na != ns) || (nst >= 0 && nst != ns))
        return fc_op_fail(n, FC_ESHAPE, err, "starts/ends/axes/steps lengths do not match");
    *out = in[0];
    out->data = NULL;
    for (int d = 0; d < r; d++) { p->start[d] = 0; p->step[d] = 1; }
    for (int i = 0; i < ns; i++) {
        int a;
        if (fc_op_axis(n, na >= 0 ? axes[i] : i, r, &a, err)) return FC_EFORMAT;
        int64_t dim = in[0].dims[a], st = nst >= 0 ? steps[i] : 1, s = starts[i], e = ends[i];
        if (st == 0) return fc_op_fail(n, FC_EFORMAT, err, "step 0");
        if (s < 0) s += dim;
        if (e < 0) e += dim;
        if (st > 0) {
            s = s < 0 ? 0 : s > dim ? dim : s;
            e = e < 0 ? 0 : e > dim ? dim : e;
            out->dims[a] = e > s ? (e - s + st - 1) / st : 0;
        } else {
            s = s < 0 ? -1 : s > dim - 1 ? dim - 1 : s;
            e = e < -1 ? -1 : e > dim - 1 ? dim - 1 : e;
            out->dims[a] = s > e ? (s - e - st - 1) / -st : 0;
        }
        p->start[a] = s;
        p->step[a] = st;
    }
    return 0;
}
static int slice_infer(const fc_node *n, const fc_tensor *in, fc_tensor *out, size_t *work,
                       int threads, fc_error *err) {
    slice_plan p;
    return slice_plan_of(n, in, out, &p, err);
}
static int slice_run(const fc_node *n, const fc_tensor *in, fc_tensor *out, const fc_run_ctx *ctx,
                     fc_error *err) {
    slice_plan p;
    fc_tensor o;
    if (slice_plan_of(n, in, &o, &p, err)) return FC_EFORMAT;
    int r = in[0].rank;
    int64_t istride[FC_MAX_RANK], st[FC_MAX_RANK], s = 1, src = 0;
    for (int i = r - 1; i >= 0; i--) { istride[i] = s; s *= in[0].dims[i]; }
    for (int i = 0; i < r; i++) {
        src += p.start[i] * istride[i];
        st[i] = p.step[i] * istride[i];
    }
    size_t es = fc_dtype_size(out->dtype);
    copy_strided(out, (const char *)in[0].data + src * (int64_t)es, st, es, ctx->threads);
    return 0;
}
const fc_op_def fc_op_slice = {.name = "Slice", .infer = slice_infer, .run = slice_run, .fold = FC_FOLD_CONST};

/* ---- Gather ---- */
static int gather_infer(const fc_node *n, const fc_tensor *in, fc_tensor *out, size_t *work,
                        int threads, fc_error *err) {
    int axis, r = in[0].rank;
    if (n->n_in != 2) return fc_op_fail(n, FC_EFORMAT, err, "needs data and indices");
    if (fc_op_axis(n, fc_attr_int(n, "axis", 0), r, &axis, err)) return FC_EFORMAT;
    if (in[1].dtype != FC_I64) return fc_op_fail(n, FC_EFORMAT, err, "indices must be integers");
    int orank = r - 1 + in[1].rank;
    if (orank > FC_MAX_RANK) return fc_op_fail(n, FC_EUNSUPPORTED, err, "rank too large");
    out->dtype = in[0].dtype;
    out->rank = orank;
    int k = 0;
    for (int d = 0; d < axis; d++) out->dims[k++] = in[0].dims[d];
    for (int d = 0; d < in[1].rank; d++) out->dims[k++] = in[1].dims[d];
    for (int d = axis + 1; d < r; d++) out->dims[k++] = in[0].dims[d];
    out->data = NULL;
    return 0;
}
static int gather_run(const fc_node *n, const fc_tensor *in, fc_tensor *out, const fc_run_ctx *ctx,
                      fc_error *err) {
    int axis;
    fc_op_axis(n, fc_attr_int(n, "axis", 0), in[0].rank, &axis, err);
    int64_t outer = 1, inner = fc_dtype_size(out->dtype), dim = in[0].dims[axis];
    for (int d = 0; d < axis; d++) outer *= in[0].dims[d];
    for (int d = axis + 1; d < in[0].rank; d++) inner *= in[0].dims[d];
    int64_t ni = fc_tensor_count(&in[1]);
    const int64_t *idx = in[1].data;
    for (int64_t i = 0; i < ni; i++)
        if (idx[i] < -dim || idx[i] >= dim)
            return fc_op_fail(n, FC_EFORMAT, err, "index %lld out of range [0, %lld)", (long long)idx[i], (long long)dim);
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < ni; i++) {
            int64_t j = idx[i] < 0 ? idx[i] + dim : idx[i];
            memcpy((char *)out->data + (o * ni + i) * inner, (const char *)in[0].data + (o * dim + j) * inner, (size_t)inner);
        }
    return 0;
}
const fc_op_def fc_op_gather = {.name = "Gather", .infer = gather_infer, .run = gather_run, .fold = FC_FOLD_CONST};

/* ---- Shape (start/end since opset 15) ---- */
static void shape_range(const fc_node *n, int r, int *s, int *e) {
    int64_t a = fc_attr_int(n, "start", 0), b = fc_attr_int(n, "end", r);
    if (a < 0) a += r;
    if (b < 0) b += r;
    *s = (int)(a < 0 ? 0 : a > r ? r : a);
    *e = (int)(b < 0 ? 0 : b > r ? r : b);
    if (*e < *s) *e = *s;
}
static int shape_infer(const fc_node *n, const fc_tensor *in, fc_tensor *out, size_t *work,
                       int threads, fc_error *err) {
    int s, e;
    shape_range(n, in[0].rank, &s, &e);
    out->dtype = FC_I64;
    out->rank = 1;
    out->dims[0] = e - s;
    out->data = NULL;
    return 0;
}
static int shape_run(const fc_node *n, const fc_tensor *in, fc_tensor *out, const fc_run_ctx *ctx,
                     fc_error *err) {
    int s, e;
    shape_range(n, in[0].rank, &s, &e);
    for (int i = s; i < e; i++) ((int64_t *)out->data)[i - s] = in[0].dims[i];
    return 0;
}
const fc_op_def fc_op_shape = {.name = "Shape", .infer = shape_infer, .run = shape_run, .fold = FC_FOLD_SHAPE};

/* ---- Cast (to float or an integer type; integers are held as int64) ---- */
static int cast_infer(const fc_node *n, const fc_tensor *in, fc_tensor *out, size_t *work,
                      int threads, fc_error *err) {
    int64_t to = fc_attr_int(n, "to", 0);
    *out = in[0];
    out->data = NULL;
    if (to == 1 || to == 10 || to == 11) out->dtype = FC_F32;
    else if ((to >= 2 && to <= 7) || to == 9 || to == 12 || to == 13) out->dtype = FC_I64;
    else return fc_op_fail(n, FC_EUNSUPPORTED, err, "cast to type %lld", (long long)to);
    return 0;
}
static int cast_run(const fc_node *n, const fc_tensor *in, fc_tensor *out, const fc_run_ctx *ctx,
                    fc_error *err) {
    int64_t count = fc_tensor_count(out);
    if (in[0].dtype == out->dtype) return copy_run(n, in, out, ctx, err);
    for (int64_t i = 0; i < count; i++) {
        if (out->dtype == FC_F32) ((float *)out->data)[i] = (float)((const int64_t *)in[0].data)[i];
        else ((int64_t *)out->data)[i] = fc_f32_to_i64(((const float *)in[0].data)[i]);
    }
    return 0;
}
const fc_op_def fc_op_cast = {.name = "Cast", .infer = cast_infer, .run = cast_run, .fold = FC_FOLD_CONST};

/* ---- Pad (constant/reflect/edge; pads from input 1 since opset 11) ---- */
static int pads_of(const fc_node *n, const fc_tensor *in, int64_t *pads, float *value, fc_error *err) {
    int r = in[0].rank, np;
    *value = fc_attr_float(n, "value", 0.f);
    if (n->n_in >= 2 && n->in[1] >= 0) {
        if (!in[1].data) return fc_op_fail(n, FC_EUNSUPPORTED, err, "pads must be constant");
        np = fc_op_const_ints(&in[1], pads, 2 * FC_MAX_RANK);
        if (n->n_in >= 3 && n->in[2] >= 0 && in[2].data) *value = *(const float *)in[2].data;
        if (n->n_in >= 4 && n->in[3] >= 0) return fc_op_fail(n, FC_EUNSUPPORTED, err, "the axes input is not supported");
    } else {
        np = fc_attr_ints(n, "pads", pads, 2 * FC_MAX_RANK);
    }
    if (np != 2 * r) return fc_op_fail(n, FC_ESHAPE, err, "%d pads for rank %d", np, r);
    for (int i = 0; i < np; i++) /* bounded, so that a dimension plus two pads cannot overflow */
        if (pads[i] > FC_MAX_ELEMENTS || pads[i] < -FC_MAX_ELEMENTS)
            return fc_op_fail(n, FC_ELIMIT, err, "pad %lld out of range", (long long)pads[i]);
    return 0;
}
static int pad_infer(const fc_node *n, const fc_tensor *in, fc_tensor *out, size_t *work,
                     int threads, fc_error *err) {
    int64_t pads[2 * FC_MAX_RANK];
    float v;
    if (pads_of(n, in, pads, &v, err)) return err ? err->code : FC_EFORMAT;
    const char *mode = fc_attr_string(n, "mode", "constant");
    if (strcmp(mode, "constant") && strcmp(mode, "reflect") && strcmp(mode, "edge"))
        return fc_op_fail(n, FC_EUNSUPPORTED, err, "mode '%s'", mode);
    *out = in[0];
    out->data = NULL;
    int r = in[0].rank;
    for (int d = 0; d < r; d++) {
        out->dims[d] = in[0].dims[d] + pads[d] + pads[d + r];
        if (out->dims[d] < 0) return fc_op_fail(n, FC_ESHAPE, err, "negative size after padding");
        if (!strcmp(mode, "reflect") && (pads[d] >= in[0].dims[d] || pads[d + r] >= in[0].dims[d]))
            return fc_op_fail(n, FC_ESHAPE, err, "reflect padding larger than the input");
        if (!strcmp(mode, "edge") && in[0].dims[d] == 0 && out->dims[d] > 0)
            return fc_op_fail(n, FC_ESHAPE, err, "edge padding of an empty dimension");
    }
    return 0;
}
static int pad_run(const fc_node *n, const fc_tensor *in, fc_tensor *out, const fc_run_ctx *ctx,
                   fc_error *err) {
    int64_t pads[2 * FC_MAX_RANK];
    float value;
    pads_of(n, in, pads, &value, err);
    const char *mode = fc_attr_string(n, "mode", "constant");
    int reflect = !strcmp(mode, "reflect"), edge = !strcmp(mode, "edge");
    int r = in[0].rank;
    int64_t istride[FC_MAX_RANK], idx[FC_MAX_RANK] = {0}, s = 1;
    for (int i = r - 1; i >= 0; i--) { istride[i] = s; s *= in[0].dims[i]; }
    int64_t count = fc_tensor_count(out);
    size_t es = fc_dtype_size(out->dtype);
    for (int64_t i = 0; i < count; i++) {
        int64_t src = 0;
        int inside = 1;
        for (int d = 0; d < r && inside; d++) {
            int64_t j = idx[d] - pads[d], dim = in[0].dims[d];
            if (j < 0 || j >= dim) {
                if (reflect) j = j < 0 ? -j : 2 * (dim - 1) - j;
                else if (edge) j = j < 0 ? 0 : dim - 1;
                else inside = 0;
            }
            src += j * istride[d];
        }
        if (inside) memcpy((char *)out->data + i * es, (const char *)in[0].data + src * es, es);
        else if (out->dtype == FC_F32) ((float *)out->data)[i] = value;
        else ((int64_t *)out->data)[i] = fc_f32_to_i64(value);
        for (int d = r - 1; d >= 0; d--) {
            if (++idx[d] < out->dims[d]) break;
            idx[d] = 0;
        }
    }
    return 0;
}
const fc_op_def fc_op_pad = {.name = "Pad", .infer = pad_infer, .run = pad_run, .fold = FC_FOLD_CONST};
