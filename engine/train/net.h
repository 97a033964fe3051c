/* A trainable network made from the top of an ONNX backbone: the nodes between a cut tensor (whose
 * activations the caller has cached) and the feature tensor, with the model's weights as the starting
 * point (BatchNormalization after a Conv folded into it: its statistics stay frozen; or, with
 * bn_train, BatchNormalization in training mode: new layers), mapped onto the training ops
 * (train_ops.h). Forward (N, C, H, W) at the cut -> (N, D) features, backward -> the gradient of
 * every parameter, parameter and running-statistics access for an optimizer and checkpoints, and
 * the export of the trained values back into the ONNX model (from a file or from memory). Not here:
 * the head, the loss, the optimizer loop (the caller runs fc_linear_*, fc_crossentropy_*,
 * fc_sgd_step / fc_adamw_step on what this gives). */
#ifndef FC_TRAIN_NET_H
#define FC_TRAIN_NET_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"
#include "engine/train/train_ops.h"

typedef struct fc_train_net fc_train_net;

typedef struct fc_train_net_options {
    int threads;        /* OpenMP threads of every op; <= 0: all cores */
    /* Per-image shape of the cut tensor, as cached: cut_dims[0..cut_rank) (e.g. C, H, W). When
     * cut_rank is 0 it is derived by running shape inference of the whole model on an image of
     * height x width (0: the model's declared input size). */
    int cut_rank;
    int64_t cut_dims[4];
    int height, width;
    /* 1: BatchNormalization is not folded into the Conv before it; it trains in training mode
     * (fc_train_net_set_training): batch statistics in the forward, running averages updated with
     * PyTorch's momentum 1 - the node's ONNX momentum (default 0.9), scale and shift trained. The
     * network of new conv blocks that the caller initialized itself. 0: folded or frozen (a
     * pretrained top, whose statistics come from far more data than a fine-tuning batch). */
    int bn_train;
    /* FC_TRAIN_F32 (0, the default): every product in f32. FC_TRAIN_BF16: the products of the
     * convolutions (1x1 and im2col; not depthwise) and linear layers, forward, dX and dW, take bf16
     * operands with f32 sums (parameters, activations, gradients and everything else stay f32);
     * refused with FC_EUNSUPPORTED on a CPU without AVX512_BF16. FC_TRAIN_AUTO: bf16 where the CPU
     * has it, else f32. The net's workspace carries it: a caller's ops run in it (a head) use it too. */
    fc_train_precision precision;
} fc_train_net_options;

/* Builds the net of the model at model_path between tensors `cut` and `feature` for batches of up
 * to `batch` images. opt may be NULL (all cores, cut shape from the declared input size).
 *
 * The model is imported and finalized with {cut, feature} as outputs, constants are folded, and
 * every BatchNormalization that is the sole reader of a Conv's output is folded into that Conv (the
 * engine's own pass, fc_opt_fold_batchnorm: the same float32 weights inference uses). The nodes
 * that depend on `cut` and that `feature` depends on form the net; each maps to a training op:
 *   Conv (2-D, any groups incl. depthwise, strides, pads or auto_pad, dilations, bias),
 *   Gemm (transA 0, alpha = beta = 1) and MatMul on (N, IC) inputs with constant weights,
 *   Add of two computed tensors of the same shape (a residual),
 *   Mul: per channel (N,C,H,W) x (N,C,1,1) either way round (squeeze-and-excitation), two computed
 *     tensors of the same shape, and x * Sigmoid(x) / x * HardSigmoid(x) (alpha 1/6, beta 1/2)
 *     computed as one SiLU / HardSwish when the gate has no other reader,
 *   Relu, Clip (constant bounds), Sigmoid, HardSigmoid, HardSwish,
 *   GlobalAveragePool (and ReduceMean over axes 2, 3), AveragePool and MaxPool (2-D, no
 *     dilation; ceil_mode as extra padding, refused for AveragePool with count_include_pad when
 *     that padding would be counted),
 *   Concat of computed tensors along the channels (axis 1),
 *   BatchNormalization not folded (it does not follow a Conv): frozen statistics, trainable scale
 *     and shift,
 *   Softmax over axis 1 of an (N, K) tensor (a classifier's output: the net may end there),
 *   Flatten, Reshape, Squeeze, Unsqueeze, Identity, Dropout: views (Dropout is the inference
 *     no-op: fine-tuning a backbone does not drop), and shape computations (Shape, Gather, ...)
 *     evaluated once at build.
 * Every tensor of the net keeps the batch as its first dimension.
 *
 * Memory is allocated here, once, for `batch` images: the activations the backward reads, the
 * gradients (placed by liveness), the parameters and their gradients, and the ops' scratch (the
 * matrix-product packing buffers grow during the first step only).
 *
 * Errors (the message names the model and the tensor or node): FC_EIO, FC_EFORMAT, FC_ELIMIT as
 * fc_model_load; FC_EINVAL for batch < 1, a bad opt, a tensor name the model does not have ("no
 * tensor named"), a cut the feature does not depend on or equal to it ("... is not before the
 * feature tensor ..."), a cut that is not a separator ("'t' is not a cut: node 'X' reads 'Y' from
 * below the cut": some path from the model's input reaches the feature without passing through the
 * cut, e.g. the cut is inside a residual branch), and a constant as cut; FC_EUNSUPPORTED for an op
 * or an op's form without a training op ("node 'X' (LeakyRelu): no backward for LeakyRelu ...";
 * operators the engine does not know at all, e.g. LRN or another domain's, are refused by the
 * import, also naming the node), a tensor that does not keep the batch first, or a weight used by
 * two trained nodes, or FC_TRAIN_BF16 on a CPU without AVX512_BF16 (fc_train_ws_set_precision);
 * FC_ESHAPE for shapes that do not fit (naming the node); FC_ENOMEM.
 * When cut_rank is 0 the model is also loaded once by fc_model_load to plan its shapes. */
int fc_train_net_build(const char *model_path, const char *cut, const char *feature, int batch,
                       const fc_train_net_options *opt, fc_train_net **out, fc_error *err);
/* The same for a model held in memory (data[0..size), only read during the call; name starts the
 * messages). The cut must be the model's input or have its shape in opt (cut_rank > 0): there is
 * no file to plan shapes from (FC_EINVAL otherwise). Tensors in external data are refused. */
int fc_train_net_build_mem(const char *name, const void *data, size_t size, const char *cut,
                           const char *feature, int batch, const fc_train_net_options *opt,
                           fc_train_net **out, fc_error *err);
/* NULL-safe. */
void fc_train_net_free(fc_train_net *net);

/* Sizes: the largest batch; the per-image shape of the cut (rank returned, dims[0..rank) filled,
 * rank <= 4); the per-image element counts of the input and of the feature (D). */
int fc_train_net_batch(const fc_train_net *net);
int fc_train_net_input_dims(const fc_train_net *net, int64_t dims[4]);
size_t fc_train_net_input_size(const fc_train_net *net);
size_t fc_train_net_feature_size(const fc_train_net *net);
/* The workspace the net's ops run in (its thread count, scratch and matrix products); a caller may
 * run its head and loss in it too, between the net's calls, on the same thread. */
fc_train_ws *fc_train_net_ws(fc_train_net *net);
/* The precision the products run in: FC_TRAIN_F32 or FC_TRAIN_BF16 (FC_TRAIN_AUTO resolved). */
fc_train_precision fc_train_net_precision(const fc_train_net *net);

/* Training (on, the state after the build) or evaluation mode (0). It matters only for a net built
 * with bn_train: in training mode its BatchNormalizations normalize with the batch's statistics
 * and update their running averages; in evaluation mode they use the running averages (as the
 * exported model does) and change nothing. Every other op computes the same in both. */
void fc_train_net_set_training(fc_train_net *net, int on);

/* input is (n, input_size) at the cut (copied: the caller may reuse it), 1 <= n <= batch; out will
 * be (n, D): the feature tensor flattened per image. Keeps every activation the backward needs (in
 * the mode of this forward, which the backward follows).
 * Errors: FC_EINVAL (n out of range, NULL buffers), errors of the ops naming the node. */
int fc_train_net_forward(fc_train_net *net, const float *input, int n, float *out, fc_error *err);
/* dout is (n, D), the gradient of the loss with respect to the last forward's output (same n).
 * Overwrites the gradient of every parameter (sums over the n images, not means: a mean loss puts
 * its 1/n into dout). dinput (n, input_size) receives the gradient at the cut when not NULL (NULL
 * skips that work). Errors: FC_EINVAL (no forward before, NULL dout), op errors naming the node. */
int fc_train_net_backward(fc_train_net *net, const float *dout, float *dinput, fc_error *err);

/* ---- parameters ---- */

enum {
    FC_TRAIN_GROUP_BACKBONE = 0, /* every parameter of a net: pretrained, usually a smaller lr */
    FC_TRAIN_GROUP_HEAD = 1      /* for the caller's own parameters in the same optimizer loop */
};

typedef struct fc_train_param {
    const char *name;   /* the ONNX initializer the value is exported to (a folded Conv's weight and
                           bias carry the Conv's weight and bias names, or the BatchNormalization's
                           bias name when the Conv had none) */
    int rank;           /* dims[0..rank) in the ONNX initializer's layout, except that Gemm
                           weights are always (OC, IC) (a transB = 0 Gemm's or a MatMul's (IC, OC)
                           initializer is transposed in and out) */
    int64_t dims[4];
    size_t count;       /* elements */
    float *value;       /* the net's own copy (an optimizer updates it in place) */
    float *grad;        /* written by fc_train_net_backward */
    int group;          /* FC_TRAIN_GROUP_BACKBONE */
    int decay;          /* 1 for Conv/Gemm weights, 0 for biases and BatchNorm scale/shift (the
                           usual set without weight decay) */
} fc_train_param;

/* Number of parameter tensors, in the net's op order. */
int fc_train_net_n_params(const fc_train_net *net);
/* Fills *p for parameter i; FC_EINVAL when i is out of range. */
int fc_train_net_param(const fc_train_net *net, int i, fc_train_param *p, fc_error *err);
/* Total elements of all parameters: the size of a checkpoint. */
size_t fc_train_net_params_size(const fc_train_net *net);
/* Copies every parameter value, in order, into dst (n floats) / from src. FC_EINVAL when n is not
 * fc_train_net_params_size or a buffer is NULL. */
int fc_train_net_params_get(const fc_train_net *net, float *dst, size_t n, fc_error *err);
int fc_train_net_params_set(fc_train_net *net, const float *src, size_t n, fc_error *err);
/* The running statistics of the training-mode BatchNormalizations (bn_train; no parameters: an
 * optimizer never touches them, but a checkpoint must keep them): their count (0 without), and a
 * copy of them in op order (each: mean (C), then var (C)) into dst / from src. FC_EINVAL when n is
 * not fc_train_net_stats_size or a buffer is NULL (a size of 0 takes any buffer). */
size_t fc_train_net_stats_size(const fc_train_net *net);
int fc_train_net_stats_get(const fc_train_net *net, float *dst, size_t n, fc_error *err);
int fc_train_net_stats_set(fc_train_net *net, const float *src, size_t n, fc_error *err);

/* ---- export ---- */

/* Writes the model at in_model_path (the one the net was built from) to out_path with the net's
 * current values in the initializers of the trained top: each parameter's initializer gets its
 * values (float32 raw data); a Conv with a folded BatchNormalization gets the folded weights and
 * bias and writes the BatchNormalization's output tensor itself (the BatchNormalization node, and
 * the initializers only it read, are dropped), so the written model computes what the net computes.
 * Every other node, initializer and field is written as read (a written initializer that held
 * external data now holds its values inline). Errors: FC_EIO, FC_EFORMAT, FC_ELIMIT
 * as fc_onnx_read / fc_onnx_write; FC_EUNSUPPORTED when a parameter is not a float32 initializer
 * of that model (a Constant node or a computed weight) or an initializer to write is also read by
 * another node; FC_EINVAL when the model does not match the net (an
 * initializer or node is missing or has another shape); FC_ENOMEM. */
int fc_train_net_write_onnx(const fc_train_net *net, const char *in_model_path, const char *out_path,
                            fc_error *err);
/* The same from the model held in memory that fc_train_net_build_mem built the net from. */
int fc_train_net_write_onnx_mem(const fc_train_net *net, const char *name, const void *data, size_t size,
                                const char *out_path, fc_error *err);

#endif
