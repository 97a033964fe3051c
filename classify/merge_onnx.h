/* export-onnx: one image classifier from a backbone ONNX model and a head file (head_onnx.h).
 * The result keeps the backbone's data input, its opset and IR version, and only the nodes and
 * initializers that the feature tensor depends on; then Flatten(axis 1) -> the head's nodes (all
 * named "head/...") -> output `probabilities` (N, K). Backbone metadata is kept; the head's
 * featcache.* metadata and "featcache.feature_tensor" are added. The backbone's opset is kept
 * (>= 8): on the head's 2-D tensors Gemm, Relu, Sub, Mul, Max, Div, Flatten and Softmax(axis 1) mean
 * the same at every opset from 8 on, and ReduceL2 gets its axes as an input from opset 18 on.
 * Not here: shape inference (the feature width is checked with featcache's own engine when it can
 * load the backbone), external data (refused), models with several data inputs or subgraphs. */
#ifndef FC_MERGE_ONNX_H
#define FC_MERGE_ONNX_H

#include "core/core.h"

/* Writes out_path (atomically: temporary file + rename) = backbone up to feature_tensor + head.
 * feature_tensor must be produced by a backbone node (e.g. "pooled", (N, 1280, 1, 1)).
 * Errors (messages name the file and the reason): FC_EIO (read/write), FC_EFORMAT (corrupt
 * backbone or head file), FC_EINVAL (NULL arguments, unknown feature tensor), FC_ESHAPE (the
 * feature width differs from the head's input width), FC_EUNSUPPORTED (opset < 8, external data,
 * several data inputs, control-flow subgraphs, backbone names that clash with "head/..." or
 * "probabilities"), FC_ELIMIT, FC_ENOMEM. Thread-safe for distinct out_path; allocates about three
 * times the backbone's size. */
int fc_onnx_merge_classifier(const char *backbone_path, const char *feature_tensor,
                             const char *head_path, const char *out_path, fc_error *err);

/* Writes out_path (atomically) = the bottom model up to tensor (its nodes and initializers that
 * tensor depends on, as above), then every node and initializer of the top model, whose one data
 * input is named tensor (e.g. a conv head's head-only file): the bottom's input, opset, IR version
 * and metadata (its featcache.* entries replaced by the top's), the top's outputs. The top's ops are
 * written as they are, under the bottom's opset: they must mean the same there (Conv,
 * BatchNormalization, Relu, GlobalAveragePool, Flatten, Gemm, Softmax over axis 1 of (N, K) do for
 * opsets 9 and later). Errors: as fc_onnx_merge_classifier for either model; FC_EINVAL (the top's
 * input is not tensor), FC_EUNSUPPORTED (a tensor or initializer name of the top that the kept
 * bottom also has). height, width > 0: the bottom's data input (N, C, H, W) is declared with that
 * plane (the input size the top was trained at) and a symbolic batch. */
int fc_onnx_merge_top(const char *bottom_path, const char *tensor, const char *top_path, int height, int width,
                      const char *out_path, fc_error *err);

/* fc_onnx_merge_classifier and fc_onnx_merge_top where the backbone (bottom) file must be the model
 * a head was trained on: its bytes, read once, are checked against sha256 (64 hex digits: the
 * fingerprint a head records, the SHA-256 of a model file without external data, which these merges
 * refuse anyway) and then parsed and merged, so a file replaced after some earlier check is never
 * merged under the head's fingerprint. NULL sha256: no check. Errors: as those; FC_EINVAL "PATH is
 * not the model the head was trained on" when the bytes differ. */
int fc_onnx_merge_classifier_checked(const char *backbone_path, const char *backbone_sha256,
                                     const char *feature_tensor, const char *head_path, const char *out_path,
                                     fc_error *err);
int fc_onnx_merge_top_checked(const char *bottom_path, const char *bottom_sha256, const char *tensor,
                              const char *top_path, int height, int width, const char *out_path, fc_error *err);

#endif
