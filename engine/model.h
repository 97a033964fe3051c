/* Public engine API: load an ONNX CNN once (parse, optimize, pack weights), then run it through
 * sessions planned for a batch size and input size.
 *
 * Ownership/lifetime: fc_model is immutable after fc_model_load and may be shared by any number of
 * sessions on any threads; it must outlive them. An fc_session owns its activation arena and is used
 * by one thread at a time (it runs OpenMP internally with opt.threads). Output tensors returned by
 * fc_session_output point into the session and stay valid until the next run or free.
 * Errors: negative FC_E* with a message naming the file/node and the reason; nothing is printed.
 * Not here: images (image.h, preprocess.h), the feature cache (store/). */
#ifndef FC_MODEL_H
#define FC_MODEL_H

#include "core/core.h"
#include "engine/kernels/kernels.h"
#include "engine/tensor.h"

typedef struct fc_model fc_model;
typedef struct fc_session fc_session;

typedef struct fc_model_options {
    const char *const *outputs; /* tensor names to produce (any named tensor); NULL = graph outputs */
    int n_outputs;
    const fc_kernels *kernels;  /* NULL = fc_kernels_best() */
    int unfused_blocks;         /* 1: depthwise blocks run as separate Convs (same bits; for tests) */
    int describe_only;          /* 1: the optimized graph without its weights prepared for a kernel
                                   table (names, shapes, fc_model_default_feature): no session can
                                   run it (fc_session_create refuses it), and loading it costs no
                                   packing or Winograd transforms (ResNet-50: most of its load) */
} fc_model_options;

/* Reads and prepares the model. opt may be NULL. Errors: FC_EIO, FC_EFORMAT, FC_EUNSUPPORTED
 * (unknown op with its node name), FC_ELIMIT, FC_ENOMEM, FC_EINVAL (unknown output name). */
int fc_model_load(const char *path, const fc_model_options *opt, fc_model **out, fc_error *err);
/* The same for the file at path whose bytes the caller has read (data, size; only read during the
 * call), so that what it does with them (extract hashes them for the model's fingerprint) is about
 * the very bytes loaded; external data files are read beside path as by fc_model_load. */
int fc_model_load_file_bytes(const char *path, const void *data, size_t size, const fc_model_options *opt,
                             fc_model **out, fc_error *err);
/* The same for an ONNX model held in memory (read only during the call; `name`, NULL gives
 * "<memory>", stands for the path in messages). External tensor data is refused (FC_EUNSUPPORTED). */
int fc_model_load_mem(const char *name, const void *data, size_t size, const fc_model_options *opt,
                      fc_model **out, fc_error *err);
void fc_model_free(fc_model *m);
/* The files besides path that loading the model reads: its tensors' external data files, each
 * once, in the order the model first names them, as real paths (a location outside the model's
 * folder is refused as fc_model_load refuses it). *files is NULL when there are none; free it with
 * fc_model_data_files_free. Reads only the protobuf (no import). Errors: FC_EIO, FC_EFORMAT,
 * FC_ENOMEM. */
int fc_model_data_files(const char *path, char ***files, int *n, fc_error *err);
void fc_model_data_files_free(char **files, int n);
/* The same list for a loaded model, from the load's own read of the file (no second parse): *n
 * files, NULL when there are none or the model was loaded from memory. Owned by m. */
const char *const *fc_model_loaded_data_files(const fc_model *m, int *n);

/* Declared input shape (N, C, H, W); -1 for symbolic dims (all four when the rank is not 4). */
void fc_model_input_dims(const fc_model *m, int64_t dims[4]);
/* Declared rank of the data input; 0 when the model declares no shape for it. */
int fc_model_input_rank(const fc_model *m);
/* The path it was loaded from (fc_model_load_mem: its name), for messages. */
const char *fc_model_path(const fc_model *m);
const char *fc_model_input_name(const fc_model *m);
int fc_model_n_outputs(const fc_model *m);
const char *fc_model_output_name(const fc_model *m, int i);
const fc_kernels *fc_model_kernels(const fc_model *m);
/* 1 when requested output i is computed from the data input, 0 when it is a constant of the model
 * (a weight, or values computed from constants only: the same for every image). Errors: FC_EINVAL
 * for i out of range, FC_ENOMEM. */
int fc_model_output_uses_input(const fc_model *m, int i, fc_error *err);
/* The default feature tensor: the input of the network's final classifier (the last Gemm/MatMul,
 * or 1x1 Conv on globally pooled features, on the way back from the first graph output), stepping back over Flatten/Reshape/Squeeze/Dropout/
 * Identity so that e.g. a GlobalAveragePool output is preferred to its flattened copy. A model with
 * no such classifier (an embedding model; SqueezeNet's 1x1-conv classifier is not guessed) gives its
 * first output. Use on a model loaded with default outputs. Never NULL. */
const char *fc_model_default_feature(const fc_model *m);

typedef struct fc_session_options {
    int batch;          /* N >= 1 */
    int height, width;  /* 4-D image inputs: 0 = the model's declared size. Other ranks (e.g. a
                           head's (N, D)) take every non-batch dim from the declaration. */
    int threads;        /* 0 = all cores (omp_get_max_threads) */
    int split_batch;    /* 1: the batch is split into one slice per thread and each thread runs its
                           images through the whole network alone (no synchronisation per layer,
                           each thread's activations stay in its own cache; falls back to 0 when a
                           requested output has no leading batch dim or batch < 2); 0: every layer
                           runs on all threads in turn */
    int profile;        /* 1: time every step of every run (fc_session_step); costs two clock reads
                           per step */
    long long max_bytes; /* most memory the plan may take (activations, plan-time folded values,
                            scratch; per thread slice with split_batch): FC_ELIMIT beyond it;
                            0 = 64 GiB */
    long long prefix_bytes; /* one thread, batch > 1 (a split_batch slice): the layers up to the last
                            point where a single tensor of at least this many bytes per image carries
                            everything onwards run image by image, so their large activations stay
                            in cache, and the rest on the batch (same bits either way); 0 = 1 MiB,
                            < 0 = never */
} fc_session_options;

/* Infers every shape for this input size, folds shape computations, plans activation memory by
 * liveness and allocates it once. Errors: FC_ESHAPE/FC_EFORMAT (inconsistent shapes, naming the
 * node), FC_ELIMIT (sizes), FC_ENOMEM, FC_EINVAL. */
int fc_session_create(const fc_model *m, const fc_session_options *opt, fc_session **out,
                      fc_error *err);
/* input: (batch, C, H, W) float32. No allocation. */
int fc_session_run(fc_session *s, const float *input, fc_error *err);
/* i-th requested output (dims valid after create, data after run). */
const fc_tensor *fc_session_output(const fc_session *s, int i);
/* Input dims of this session: (N, C, H, W), or (N, D, 1, 1) for a 2-D (N, D) input. */
void fc_session_input_dims(const fc_session *s, int64_t dims[4]);
/* FLOPs (2 x multiply-adds) of one run. */
double fc_session_flops(const fc_session *s);

/* Run-time steps (nodes left after folding), in execution order; with split_batch the slices' steps
 * are summed (seconds are then thread-seconds). info->out has the first output's shape, no data;
 * node, op and output point into the model. seconds is the total over all runs so far, 0 without
 * opt.profile. Returns 0, or FC_EINVAL for an index out of range. */
typedef struct fc_session_step_info {
    const char *node, *op;
    const char *output; /* name of the tensor in out (every requested output computed at run
                           time is some step's output: rewrites never fuse one away) */
    int fused;          /* other Conv nodes this step computes too (a depthwise block: 1 or 2) */
    int pooled;         /* 1: it also computes the GlobalAveragePool of its output (a depthwise
                           block's second output, never a requested one) */
    int per_image;      /* 1: it runs image by image (the prefix of fc_session_options.prefix_bytes;
                           with split_batch, in the first slice) */
    int in_place;       /* 1: its output took the storage of its fused residual Add's operand,
                           which dies there (fc_op_def.residual_in_place) */
    int blocked;        /* 1: its output is stored channel-blocked for the next steps, which all
                           read it so (depthwise blocks; fc_op_def.blocked_output); out still has
                           its NCHW shape */
    fc_tensor out;
    double flops, seconds;
} fc_session_step_info;
int fc_session_n_steps(const fc_session *s);
int fc_session_step(const fc_session *s, int i, fc_session_step_info *info);
void fc_session_free(fc_session *s);

#endif
