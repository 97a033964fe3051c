/* Head files: an fc_head (head.h) stored as a standalone ONNX model that any ONNX runtime can run.
 * Graph (opset 13, IR 8): input `features` (N, D) float -> the transform as ONNX ops (standardize:
 * Sub(head/mean), Mul(head/scale); L2: Div(x, Max(ReduceL2(x, axes [1], keepdims 1), head/l2_eps));
 * none: nothing) -> per layer Gemm(transB = 1) [+ Relu] -> Softmax(axis 1) -> output
 * `probabilities` (N, K). Every node, initializer and intermediate tensor is named "head/...", so the
 * same nodes can be appended to a backbone graph (merge_onnx.h). Class names, the caller's metadata
 * JSON and the exact transform parameters travel in ModelProto.metadata_props ("featcache.classes",
 * "featcache.head", "featcache.format").
 * Not here: the backbone merge (merge_onnx.h), training, arbitrary ONNX graphs (the loader reads
 * exactly what the writer writes and refuses anything else). Assumes a little-endian host. */
#ifndef FC_HEAD_ONNX_H
#define FC_HEAD_ONNX_H

#include <stddef.h>

#include "classify/head.h"
#include "core/core.h"
#include "engine/engine.h"

/* Writes h (checked with fc_head_check first) to path as ONNX, through a temporary file in the same
 * folder renamed over path, so path is either the old file or the complete new one.
 * metadata_json (may be NULL) is stored verbatim under "featcache.head".
 * Errors: FC_EFORMAT (inconsistent head), FC_EINVAL (NULL arguments), FC_EIO (cannot write, naming
 * the file), FC_ENOMEM. Thread-safe (h is only read); concurrent writers of one path: last wins. */
int fc_head_save_onnx(const fc_head *h, const char *path, const char *metadata_json, fc_error *err);

/* Reads a head file written by fc_head_save_onnx into *out (overwritten, not freed first: pass an
 * empty or freed head). The result is fully validated (node structure, initializer shapes and data
 * sizes, dims chain, fc_head_check). On success *out owns its arrays (free with fc_head_free) and,
 * when metadata_json is non-NULL, *metadata_json is the stored "featcache.head" string (malloc'd;
 * free() it) or NULL if none was stored. On error *out is empty and *metadata_json NULL.
 * Errors: FC_EIO (cannot read), FC_EFORMAT ("not a featcache head file", truncated/corrupt
 * protobuf, wrong dims, missing initializers — the message names the file and the reason),
 * FC_EUNSUPPORTED (a newer head format version), FC_ELIMIT (file too large), FC_ENOMEM.
 * Thread-safe. */
int fc_head_load_onnx(const char *path, fc_head *out, char **metadata_json, fc_error *err);
/* The same for a head file held in memory (read only during the call); `name` (NULL gives
 * "<memory>") stands for the path in messages. */
int fc_head_load_onnx_mem(const char *name, const void *data, size_t size, fc_head *out,
                          char **metadata_json, fc_error *err);

/* The class names any featcache ONNX model carries (a head file, or a classifier from export-onnx
 * or finetune: its featcache.classes metadata), and its featcache.head metadata when
 * metadata_json is not NULL (malloc'd or NULL). Returns 1 with *names (*n malloc'd strings in a
 * malloc'd array), 0 when the model has no class names, or FC_EIO / FC_EFORMAT / FC_ENOMEM. */
int fc_onnx_read_classes(const char *path, char ***names, int *n, char **metadata_json, fc_error *err);

/* ---- The head's graph pieces, shared with merge_onnx.c ---- */

/* The head's nodes and initializers, all named "head/..." except the final output `probabilities`. */
typedef struct fc_head_onnx_parts {
    Onnx__NodeProto **nodes;
    size_t n_nodes;
    Onnx__TensorProto **inits;
    size_t n_inits;
    Onnx__StringStringEntryProto **meta; /* featcache.format, .classes, .head */
    size_t n_meta;
    Onnx__ValueInfoProto *output; /* `probabilities` (N, K), float, symbolic N */
} fc_head_onnx_parts;

/* Builds the head's graph pieces reading from tensor `input` (N, D), for opset `opset` (>= 18
 * passes ReduceL2's axes as an input). Initializer data points into h (h must outlive the parts);
 * everything else is allocated from pool. h must pass fc_head_check. Errors: FC_EFORMAT (head),
 * FC_EUNSUPPORTED (opset < 8), FC_ENOMEM. Thread-safe for distinct pools. */
int fc_head_onnx_build(const fc_head *h, const char *input, int opset, const char *metadata_json,
                       fc_onnx_pool *pool, fc_head_onnx_parts *out, fc_error *err);

#endif
