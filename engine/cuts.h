/* Where a model can be cut to fine-tune its top from cached activations: the tensors that every path
 * from the input to the feature tensor passes through (constants and shape computations are not
 * paths), each with its per-image shape and cached size, the FLOPs that compute it and those between
 * it and the feature, the trainable parameters between it and the feature, and which cuts are the
 * inputs of the last 1, 2 and 3 blocks. The graph is read as the engine runs it: BatchNormalization
 * folded into its Conv (so a Conv's parameters are its folded weights and bias).
 * Not here: caching activations at a cut (extract/), training the top (classify/). */
#ifndef FC_CUTS_H
#define FC_CUTS_H

#include "core/core.h"
#include "engine/tensor.h"

typedef struct fc_cut {
    char *name;
    int rank;                      /* per image: the tensor's dims without the batch dim */
    int64_t dims[FC_MAX_RANK];
    int64_t bytes_f16, bytes_f32;  /* one image's activation stored as float16 / float32 */
    double flops_below;            /* per image, 2 x multiply-adds of the nodes that compute it */
    double flops_above;            /* per image, of the nodes from it to the feature */
    int64_t params_above;          /* trainable parameters from it to the feature: Conv, Gemm and
                                      constant MatMul weights and biases, unfolded BatchNorm's scale
                                      and bias */
    int block_input;               /* 1, 2 or 3: the input of the last 1, 2 or 3 blocks; else 0 */
    int boundary;                  /* 1 when the cut is a block boundary (below), e.g. a stage's
                                      output is the last boundary at its resolution */
} fc_cut;

typedef struct fc_cut_list {
    char *feature;                 /* the feature tensor */
    int height, width;             /* input size the shapes and FLOPs are for */
    double flops;                  /* per image, input to feature */
    int64_t params;                /* trainable parameters, input to feature */
    int n;
    fc_cut *cuts;                  /* from the input towards the feature; neither is listed */
} fc_cut_list;

/* Fills *out with the cuts of the ONNX model at path below `feature` (NULL: the model's default
 * feature, fc_model_default_feature) for a size x size input (0: the declared size).
 *
 * Blocks: a cut is a block boundary when it is made by Add, Concat or a pool, when its branches
 * rejoin other than by a Mul (a skip connection; x*sigmoid(x) and squeeze-and-excitation rejoin by
 * a Mul), or when it is a Conv/Gemm output not followed by an activation (a linear bottleneck). A
 * block is the stretch between two consecutive boundaries (or the last one and the feature) that
 * holds at least two Conv nodes; block_input marks the boundary each of the last three starts at
 * (none when that is the model's input).
 *
 * Errors: those of fc_model_load and fc_session_create (FC_EIO, FC_EFORMAT, FC_EUNSUPPORTED,
 * FC_ESHAPE, FC_ELIMIT, FC_ENOMEM), FC_EINVAL when no computed tensor has the feature's name (the
 * message names it) or the input size is not fixed and size is 0. Free with fc_cut_list_free (also
 * after an error). */
int fc_model_cuts(const char *path, const char *feature, int size, fc_cut_list *out, fc_error *err);
void fc_cut_list_free(fc_cut_list *l);

#endif
