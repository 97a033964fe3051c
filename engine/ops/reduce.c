/* ReduceL2, ReduceSum and ReduceMean: sqrt(sum x^2), sum, sum / count over the given axes
 * (attribute, or input since opset 18), keepdims. Used by L2-normalizing heads and by exporters
 * that write global pooling as a mean; plain loops (sums in double for up to 256 outputs), not a
 * hot path. Not here: GlobalAveragePool (pool.c, parallel over planes). */
#include <math.h>
#include <string.h>

#include "engine/ops/ops.h"

static int axes_mask(const fc_node *n, const fc_tensor *in, char *red, fc_error *err) {
    int64_t axes[FC_MAX_RANK];
    int na, r = in[0].rank;
    if (n->n_in >= 2 && n->in[1] >= 0) {
        if (!in[1].data) return fc_op_fail(n, FC_EUNSUPPORTED, err, "axes must be constant");
        na = fc_op_const_ints(&in[1], axes, FC_MAX_RANK);
    } else {
        na = fc_attr_ints(n, "axes", axes, FC_MAX_RANK);
    }
    memset(red, 0, FC_MAX_RANK);
    if (na == 0 && !fc_attr_int(n, "noop_with_empty_axes", 0)) memset(red, 1, (size_t)r);
    for (int i = 0; i < na && i < FC_MAX_RANK; i++) {
        int a;
        if (fc_op_axis(n, axes[i], r, &a, err)) return FC_EFORMAT;
        red[a] = 1;
    }
    return 0;
}

static int reduce_infer(const fc_node *n, const fc_tensor *in, fc_tensor *out, size_t *work, int threads,
                        fc_error *err) {
    char red[FC_MAX_RANK];
    if (in[0].dtype != FC_F32) return fc_op_fail(n, FC_EUNSUPPORTED, err, "float input only");
    int rc = axes_mask(n, in, red, err);
    if (rc) return rc;
    int keep = (int)fc_attr_int(n, "keepdims", 1), k = 0;
    out->dtype = FC_F32;
    for (int d = 0; d < in[0].rank; d++) {
        if (!red[d]) out->dims[k++] = in[0].dims[d];
        else if (keep) out->dims[k++] = 1;
    }
    out->rank = k;
    out->data = NULL;
    return 0;
}

static int reduce_run(const fc_node *n, const fc_tensor *in, fc_tensor *out, const fc_run_ctx *ctx, fc_error *err) {
    char red[FC_MAX_RANK];
    axes_mask(n, in, red, err);
    int l2 = !strcmp(n->op_type, "ReduceL2"), mean = !strcmp(n->op_type, "ReduceMean"), r = in[0].rank;
    int64_t ocount = fc_tensor_count(out), icount = fc_tensor_count(&in[0]);
    int64_t ost[FC_MAX_RANK], s = 1, idx[FC_MAX_RANK] = {0}, o = 0;
    for (int d = r - 1; d >= 0; d--) {
        ost[d] = red[d] ? 0 : s;
        if (!red[d]) s *= in[0].dims[d];
    }
    double acc_stack[256], *acc = ocount <= 256 ? acc_stack : NULL;
    float *y = out->data;
    const float *x = in[0].data;
    if (!acc) { /* large outputs: accumulate in float in place */
        memset(y, 0, (size_t)ocount * sizeof(float));
    } else {
        memset(acc, 0, (size_t)ocount * sizeof(double));
    }
    for (int64_t i = 0; i < icount; i++) {
        double v = l2 ? (double)x[i] * x[i] : x[i];
        if (acc) acc[o] += v; else y[o] += (float)v;
        for (int d = r - 1; d >= 0; d--) {
            idx[d]++;
            o += ost[d];
            if (idx[d] < in[0].dims[d]) break;
            o -= ost[d] * idx[d];
            idx[d] = 0;
        }
    }
    double per_output = ocount ? (double)icount / (double)ocount : 1; /* inputs summed into each output */
    for (int64_t i = 0; i < ocount; i++) {
        double v = acc ? acc[i] : y[i];
        y[i] = (float)(l2 ? sqrt(v) : mean ? v / per_output : v);
    }
    return 0;
}

const fc_op_def fc_op_reducel2 = {.name = "ReduceL2", .infer = reduce_infer, .run = reduce_run, .fold = FC_FOLD_CONST};
const fc_op_def fc_op_reducesum = {.name = "ReduceSum", .infer = reduce_infer, .run = reduce_run, .fold = FC_FOLD_CONST};
const fc_op_def fc_op_reducemean = {.name = "ReduceMean", .infer = reduce_infer, .run = reduce_run, .fold = FC_FOLD_CONST};
