/* Operator registry and helpers shared by the op family files. */
#include "engine/ops/ops.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const fc_op_def *const registry[] = {
    &fc_op_conv, &fc_op_gemm, &fc_op_matmul, &fc_op_maxpool, &fc_op_averagepool,
    &fc_op_globalaveragepool, &fc_op_globalmaxpool, &fc_op_reducemean, &fc_op_add, &fc_op_sub,
    &fc_op_mul, &fc_op_div, &fc_op_relu, &fc_op_clip, &fc_op_leakyrelu, &fc_op_sigmoid,
    &fc_op_hardsigmoid, &fc_op_hardswish, &fc_op_tanh, &fc_op_identity, &fc_op_dropout,
    &fc_op_flatten, &fc_op_reshape, &fc_op_squeeze, &fc_op_unsqueeze, &fc_op_transpose,
    &fc_op_concat, &fc_op_slice, &fc_op_gather, &fc_op_shape, &fc_op_cast, &fc_op_pad,
    &fc_op_softmax, &fc_op_batchnorm, &fc_op_max, &fc_op_min, &fc_op_reducel2, &fc_op_reducesum,
};

const fc_op_def *fc_op_find(const char *op_type) {
    for (size_t i = 0; i < sizeof registry / sizeof *registry; i++)
        if (strcmp(registry[i]->name, op_type) == 0) return registry[i];
    return NULL;
}

const char *fc_op_list(void) {
    return "Conv, BatchNormalization, Relu, Clip, LeakyRelu, Sigmoid, HardSigmoid, HardSwish, Tanh, "
           "Mul, Add, Sub, Div, Concat, MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool, "
           "ReduceMean, Flatten, Reshape, Squeeze, Unsqueeze, Transpose, Gemm, MatMul, Softmax, "
           "Dropout, Identity, Pad, Constant, Slice, Shape, Gather, Cast, Max, Min, ReduceL2, ReduceSum";
}

int fc_op_axis(const fc_node *n, int64_t axis, int rank, int *out, fc_error *err) {
    if (axis < -rank || axis >= rank)
        return fc_op_fail(n, FC_EFORMAT, err, "axis %lld out of range for rank %d", (long long)axis,
                          rank);
    *out = (int)(axis < 0 ? axis + rank : axis);
    return 0;
}

int fc_op_fail(const fc_node *n, int code, fc_error *err, const char *fmt, ...) {
    if (!err) return code;
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return fc_fail(err, code, "node '%s' (%s): %s", n->name, n->op_type, msg);
}

int fc_op_const_ints(const fc_tensor *t, int64_t *out, int max) {
    if (!t->data) return -1;
    int64_t count = fc_tensor_count(t);
    for (int64_t i = 0; i < count && i < max; i++)
        out[i] = t->dtype == FC_I64 ? ((const int64_t *)t->data)[i]
                                    : fc_f32_to_i64(((const float *)t->data)[i]);
    return (int)count;
}
