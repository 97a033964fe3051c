/* Batched extraction pipeline: decode workers (pthreads) read, decode and preprocess image files
 * ahead of the network, which runs batches on the calling thread (OpenMP inside). Each file is read
 * once: the caller sees its bytes first (to hash them and skip items already cached), then gets
 * the requested output tensors per item, or the reason the item is bad.
 * Not here: hashing, the cache, the catalog (store/), progress display (CLI). */
#ifndef FC_PIPELINE_H
#define FC_PIPELINE_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"
#include "engine/engine.h"
#include "extract/preprocess.h"

#define FC_MAX_VIEWS FC_N_VIEWS

typedef struct fc_pipeline_callbacks {
    void *user;
    /* Called from a decode worker (any thread, concurrently) with the file's bytes before decoding.
     * Return 1 to process the item, 0 to skip it (e.g. already cached), negative to abort the run. */
    int (*on_bytes)(void *user, size_t item, const uint8_t *data, size_t size);
    /* Called on the calling thread for an item that cannot be used (unreadable, corrupt,
     * unsupported); err names the file and the reason. Return non-zero to abort. */
    int (*on_bad)(void *user, size_t item, const fc_error *err);
    /* Called on the calling thread after each forward pass with the items of that pass. outputs[o]
     * is the o-th model output of the pass (dim 0 = n_items * n_views: a short last batch runs on a
     * session of its own size; rows in the order item0-view0, item0-view1, item1-view0, ...).
     * Return non-zero to abort. */
    int (*on_batch)(void *user, const size_t *items, int n_items, int n_views,
                    const fc_tensor *const *outputs, int n_outputs);
} fc_pipeline_callbacks;

typedef struct fc_pipeline_options {
    const fc_model *model;  /* or NULL and load_model: */
    /* Called once on the calling thread after the decode workers started (so that loading the model
     * overlaps the first decodes): 0 and *model (kept by the caller, valid until the run returns),
     * or an error code with err set, which ends the run with it. */
    int (*load_model)(void *user, const fc_model **model, fc_error *err);
    void *load_user;
    fc_preprocess pre;      /* size, crop, preset; flip/corner are set per view */
    const int *views;       /* view numbers (FC_VIEW_*) computed for every item, in this order */
    int n_views;
    int batch;              /* items per forward pass (x n_views network rows) */
    int threads;            /* inference threads (0 = all cores) */
    int decode_threads;     /* decode workers (0 = 2) */
    int layer_parallel;     /* 0: split each batch across the inference threads (see
                               fc_session_options.split_batch); 1: every layer on all threads */
    volatile int *cancel;   /* optional: set non-zero (e.g. from a signal handler) to stop early */
} fc_pipeline_options;

/* Checks that model m takes what this pipeline makes of images: a
 * rank-4 (N, C, H, W) input (or one with no declared shape, which the engine takes as such) with C
 * = 3 (RGB; an undeclared C counts as 3), or C = 1 when gray. Errors: FC_EINVAL naming the file, the
 * input, its shape and what to do (a 1-channel model without gray: --grayscale). */
int fc_pipeline_check_model(const fc_model *m, int gray, fc_error *err);

/* Checks that every requested output of m is computed per image: it depends on the image (no
 * constant of the model: a weight, or values computed from constants only) and its first
 * dimension is the batch (planned for a batch of 2, so that a tensor without it cannot pass for
 * one of batch 1). That session of batch 2 at height x width goes to *shapes (free it) when shapes
 * is not NULL. Errors: FC_EINVAL naming the file and the tensor; the engine's (planning). */
int fc_pipeline_check_outputs(const fc_model *m, int height, int width, fc_session **shapes, fc_error *err);

/* Processes paths[0..n) and returns 0 when every item was processed, skipped or reported bad;
 * FC_EINVAL (fc_pipeline_check_model's) when the model does not take what the pipeline makes;
 * load_model's code when it failed (files may have been read and passed to on_bytes by then, none
 * to on_batch or on_bad);
 * FC_ECANCELLED when a callback asked to stop ("aborted") or opt->cancel was set ("cancelled");
 * the engine's code when the network failed. Items already delivered through on_batch stay
 * delivered. Not reentrant on the same model from two threads
 * unless each call has its own session (it does: the session is created inside). */
int fc_pipeline_run(const fc_pipeline_options *opt, const char *const *paths, size_t n,
                    const fc_pipeline_callbacks *cb, fc_error *err);

#endif
