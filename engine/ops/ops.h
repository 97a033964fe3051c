/* Operator interface: one fc_op_def per ONNX op type, registered in ops.c. Each op family lives in
 * its own file (conv.c, gemm.c, pool.c, elementwise.c, reduce.c, shape.c, norm.c); internal ops
 * that only rewrites create (the depthwise block, conv_block.c; the channel-scaled Conv,
 * conv_scaled.c) are not registered.
 * Lifecycle: prepare (model load: check attributes, pack constant weights into node->state), infer
 * (session creation: output shapes from input shapes, scratch size), run (inference).
 * Not here: graph rewriting (graph_opt.c), memory planning (plan.c). */
#ifndef FC_OPS_H
#define FC_OPS_H

#include <math.h>
#include <stdint.h>

#include "core/core.h"
#include "engine/graph.h"
#include "engine/kernels/kernels.h"
#include "engine/tensor.h"

typedef struct fc_run_ctx {
    const fc_kernels *k;
    int threads;       /* OpenMP threads for this op */
    float *work;       /* scratch of the size infer asked for, 64-byte aligned */
} fc_run_ctx;

typedef struct fc_op_def {
    const char *name; /* ONNX op_type (internal ops: a name no ONNX op has) */
    /* Optional. Load time, on the optimized graph: validate attributes and constant inputs, pack
     * weights into n->state. Errors name the node. */
    int (*prepare)(fc_graph *g, fc_node *n, const fc_kernels *k, fc_error *err);
    /* Session creation: set out[i] dtype/rank/dims from in[] (in[i].data != NULL for constants; a
     * fused residual is one of them, see fusion.h). *work = scratch bytes needed by run with
     * `threads` threads (left 0 if none). Errors (FC_ESHAPE, FC_ELIMIT, FC_EUNSUPPORTED) name the
     * node. */
    int (*infer)(const fc_node *n, const fc_tensor *in, fc_tensor *out, size_t *work, int threads,
                 fc_error *err);
    /* Execute with shapes as inferred. Returns 0, or an error for data-dependent failures. */
    int (*run)(const fc_node *n, const fc_tensor *in, fc_tensor *out, const fc_run_ctx *ctx,
               fc_error *err);
    void (*free_state)(void *state);
    /* Multiply-adds x2 for one run (0 for cheap ops); used by `bench` for GFLOP/s. */
    double (*flops)(const fc_node *n, const fc_tensor *in, const fc_tensor *out);
    int fold; /* FC_FOLD_*: when the session may evaluate it once at creation */
    /* Optional (NULL: never). Session creation, after prepare: 1 when out[0] may take the storage of
     * n's fused residual (fusion.h), if the residual dies at n and is none of its other inputs:
     * run then reads each residual element before it writes the output element at the same place,
     * and no other element's after. plan.c places them together: the residual's lines are read
     * where the output's are written, one stream through memory instead of two. */
    int (*residual_in_place)(const fc_node *n);
    /* Optional (NULL: never). 1 when out[0] is stored channel-blocked (kernels.h: groups of FC_CB
     * channels, (N, ceil(C / FC_CB), H, W, FC_CB), the padding lanes included) for the steps that
     * read it, every one of which takes it so (depthwise blocks, fc_dw_blocks_chain). Its shape
     * stays the NCHW one; plan.c sizes its storage by this layout. */
    int (*blocked_output)(const fc_node *n);
} fc_op_def;

enum {
    FC_FOLD_NEVER = 0,
    FC_FOLD_CONST = 1,  /* when every input is constant */
    FC_FOLD_SHAPE = 2,  /* always: depends on input shapes only (Shape) */
};

/* The op definition for an ONNX op type (default domain), or NULL if unsupported (internal ops
 * included: they are never found by name). */
const fc_op_def *fc_op_find(const char *op_type);
/* Comma-separated list of supported op types (static string). */
const char *fc_op_list(void);

/* Shared helpers for op implementations. */
/* Normalizes a possibly negative axis for a rank; FC_EFORMAT naming the node if out of range. */
int fc_op_axis(const fc_node *n, int64_t axis, int rank, int *out, fc_error *err);
/* Error helper: "node 'name' (Op): <message>". */
int fc_op_fail(const fc_node *n, int code, fc_error *err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* float -> int64 truncating toward zero, saturated at the int64 range and NaN -> 0 (a plain C cast
 * of an out-of-range float is undefined behaviour). */
static inline int64_t fc_f32_to_i64(float x) {
    if (x != x) return 0;
    if (x >= 9223372036854775807.0f) return INT64_MAX;
    if (x <= -9223372036854775808.0f) return INT64_MIN;
    return (int64_t)x;
}
/* An inference BatchNormalization's channel as y = x * s + t: s = gamma / sqrt(var + eps), t = beta
 * - mean * s. The one computation of the BatchNormalization op (norm.c) and of the Conv that takes
 * one over (conv.c pre_norm_prepare), so that the two give the same bits. */
static inline void fc_bn_channel(float gamma, float beta, float mean, float var, float eps, float *s, float *t) {
    *s = gamma / sqrtf(var + eps);
    *t = beta - mean * *s;
}
/* The activation that node n (Relu, Sigmoid, HardSwish, LeakyRelu, HardSigmoid, Clip) applies, its
 * parameters from the attributes and, for Clip, from the constant inputs in[1], in[2] where they
 * have data; -1 for other op types. */
int fc_op_act_of(const fc_node *n, const fc_tensor *in, fc_act *act);
/* Reads a constant int64 (or float) tensor input into out (max elements); -1 if not constant. */
int fc_op_const_ints(const fc_tensor *t, int64_t *out, int max);

/* The op definitions (one per family file). */
extern const fc_op_def fc_op_conv, fc_op_gemm, fc_op_matmul;
extern const fc_op_def fc_op_maxpool, fc_op_averagepool, fc_op_globalaveragepool,
    fc_op_globalmaxpool, fc_op_reducemean;
extern const fc_op_def fc_op_add, fc_op_sub, fc_op_mul, fc_op_div, fc_op_max, fc_op_min;
extern const fc_op_def fc_op_reducel2, fc_op_reducesum;
extern const fc_op_def fc_op_relu, fc_op_clip, fc_op_leakyrelu, fc_op_sigmoid, fc_op_hardsigmoid,
    fc_op_hardswish, fc_op_tanh, fc_op_identity, fc_op_dropout;
extern const fc_op_def fc_op_flatten, fc_op_reshape, fc_op_squeeze, fc_op_unsqueeze,
    fc_op_transpose, fc_op_concat, fc_op_slice, fc_op_gather, fc_op_shape, fc_op_cast, fc_op_pad;
extern const fc_op_def fc_op_softmax, fc_op_batchnorm;
/* Internal: a Conv node that fc_opt_fuse_dw_blocks turned into a depthwise block (conv_block.c). */
extern const fc_op_def fc_op_dw_block;
/* After prepare: the outputs of depthwise blocks that only blocks read, as input or residual, stay
 * channel-blocked between them (fc_op_def.blocked_output; no requested output ever is): the same
 * bits as NCHW, without the conversions. */
void fc_dw_blocks_chain(fc_graph *g);
/* Internal: a 1x1 Conv that fc_opt_fuse_se_scale made scale its input channels (conv_scaled.c). */
extern const fc_op_def fc_op_conv_scaled;

#endif
