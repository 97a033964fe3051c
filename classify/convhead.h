/* Conv heads (the lecture's third recipe, partial reuse): new conv blocks trained from scratch on a
 * cached map of rank 3 (C, H, W), e.g. an early stage of the backbone. Each block is a 3x3 Conv
 * (pad 1, no bias, stride 1 or 2) + BatchNormalization (training mode while training) + Relu; then
 * a global average pool, dropout, and a softmax (or an MLP with --hidden) head; He initialization;
 * AdamW with the one-cycle (or cosine) schedule; the cached views are the augmentation. The blocks
 * are an ONNX graph made here (opset 13) and trained as a net of the training engine
 * (engine/train/net.h, bn_train) by the fine-tuning loop (finetune.h, no linear-probe stage);
 * trained, they are written back into that graph: BatchNormalization in inference form.
 * Not here: caching the map (extract/), the classifier with the backbone's bottom (merge_onnx.h),
 * files other than the head (the CLI). */
#ifndef FC_CONVHEAD_H
#define FC_CONVHEAD_H

#include <stddef.h>
#include <stdint.h>

#include "classify/finetune.h"
#include "classify/train.h"
#include "core/core.h"
#include "engine/engine.h"

/* Tensor names of the blocks' graph: every node and initializer is "conv/..."; the pooled output. */
#define FC_CONVHEAD_FEATURE "conv/features"
/* The blocks' net's fc_train_ws.conv_chunk (floats of one im2col chunk): 1 MiB, an L2's worth. */
#define FC_CONVHEAD_CONV_CHUNK ((size_t)1 << 18)

/* "128,128s2" (or with '+' between blocks, as a sweep grid writes a list inside a value): 1 to
 * FC_CONV_MAX_BLOCKS blocks of 1 to 4096 output channels, "sN" the stride (1 or 2, default 1).
 * FC_EINVAL naming the spec otherwise. */
int fc_conv_spec_parse(const char *s, fc_conv_spec *out, fc_error *err);
/* The spec with sep between blocks ("128,128s2" with ','); empty for no blocks. */
void fc_conv_spec_format(const fc_conv_spec *s, char sep, char *out, size_t cap);

/* The config's conv-head defaults for what given (FC_HEAD_GIVEN_* bits) does not set: blocks
 * 128,128s2, 10 epochs, batch 64, lr 0.002 (the one-cycle peak), weight decay (l2) 5e-4, dropout
 * 0.2, one-cycle, no hidden layer, products in bf16 where the CPU has AVX512_BF16 (auto); always
 * no normalization (BatchNorm normalizes) and no class weights. */
void fc_head_config_conv_defaults(fc_head_config *c, unsigned given);
/* The fine-tuning config that trains a conv head of c: AdamW (betas 0.9, 0.999, eps 1e-8), lr,
 * schedule, epochs, batch, dropout, weight decay l2, seed from c; the head softmax or (n_hidden)
 * an MLP; no linear-probe stage; every layer at the full lr. */
void fc_convhead_finetune_config(const fc_head_config *c, int threads, fc_finetune_config *out);

/* The blocks of spec as a packed ONNX model (*data malloc'd, *size bytes): input tensor (N, C, H, W)
 * of dims (C, H, W) -> the blocks -> GlobalAveragePool -> FC_CONVHEAD_FEATURE (N, C', 1, 1); He-normal
 * conv weights (std sqrt(2 / (9 * input channels))) from seed, BatchNorm scale 1, shift 0, mean 0,
 * var 1. Errors: FC_EINVAL (no blocks, no tensor name, dims out of 1..65536), FC_ENOMEM. */
int fc_convhead_top(const fc_conv_spec *spec, const char *tensor, const int64_t dims[3], uint64_t seed,
                    void **data, size_t *size, fc_error *err);

typedef struct fc_convhead {
    char tensor[256];       /* the map the blocks read (the graph's input) */
    int64_t dims[3];        /* its per-image shape (C, H, W) */
    void *top;              /* the blocks as a packed ONNX model, starting values (owned) */
    size_t top_size;
    fc_train_net *net;      /* the blocks as a trainable net: tensor -> FC_CONVHEAD_FEATURE */
    fc_finetune_result r;   /* after fc_convhead_run: the head on the pooled feature, metrics,
                               history */
} fc_convhead;

/* Makes the blocks of c->conv for a map named tensor of shape dims (C, H, W) (fc_convhead_top from
 * c->seed) and their net for batches of c->batch, its products in c->precision (auto resolved:
 * fc_train_net_precision of h->net). Errors: fc_convhead_top's, the net's (FC_EUNSUPPORTED for
 * bf16 on a CPU without AVX512_BF16). */
int fc_convhead_init(fc_convhead *h, const fc_head_config *c, const char *tensor, const int64_t dims[3],
                     int threads, fc_error *err);
/* Trains the blocks and a new head on d (its rows are maps of h->dims) with the config of
 * fc_convhead_finetune_config (ctl may be NULL); h->r gets the result. Errors as fc_finetune_run. */
int fc_convhead_run(fc_convhead *h, const fc_head_config *c, const fc_finetune_data *d, int threads,
                    const fc_finetune_control *ctl, fc_error *err);
/* The head-only file: the trained blocks, then the head (merge_onnx.h's Flatten + head nodes):
 * input h->tensor (N, C, H, W) -> `probabilities`, meta_json in its featcache metadata with the
 * class names. Temporary files beside out_path are removed. Errors as fc_onnx_merge_classifier. */
int fc_convhead_write(const fc_convhead *h, const char *meta_json, const char *out_path, fc_error *err);
void fc_convhead_free(fc_convhead *h);

/* fc_train's conv branch: trains c on a holdout problem whose x rows are maps of shape
 * p->map_dims (rank 3), every view block a view to draw from, and fills r (head: the layers after
 * the pool; val metrics; info). FC_EINVAL for k-fold or a problem without a map shape. */
int fc_convhead_fit(const fc_head_config *c, const fc_problem *p, int threads, fc_train_result *r,
                    fc_error *err);

#endif
