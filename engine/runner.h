/* The contract behind an fc_session: a runner runs the model for one batch shape, and there are two
 * kinds, the plan of the whole batch (plan.c, each layer on all threads in turn) and the split-batch
 * runner (batch_runner.c, one single-threaded plan per slice of the batch). Each fills one const
 * fc_runner_ops; session.c and the batch runner call through it, once per batch, never per op.
 * Internal to engine/. Not here: making a runner (the create function in each one's header). */
#ifndef FC_RUNNER_H
#define FC_RUNNER_H

#include "core/core.h"
#include "engine/model.h"

typedef struct fc_runner_ops {
    /* input: (N, ...) float32 of the runner's input dims. No allocation; errors from the ops name the
     * node (the split-batch runner returns the first slice's error). */
    int (*run)(void *impl, const float *input, fc_error *err);
    /* The i-th requested output of the whole batch, NULL out of range: dims valid after create,
     * data after a run, as fc_session_output. */
    const fc_tensor *(*output)(const void *impl, int i);
    /* As fc_session_input_dims: (N, C, H, W), or (N, D, 1, 1) for a 2-D input. */
    void (*input_dims)(const void *impl, int64_t dims[4]);
    /* FLOPs (2 x multiply-adds) of one run of the whole batch. */
    double (*flops)(const void *impl);
    /* Run-time steps, as fc_session_n_steps and fc_session_step (0 or FC_EINVAL); with the
     * split-batch runner the slices' steps are summed and info->out has the whole batch. */
    int (*n_steps)(const void *impl);
    int (*step)(const void *impl, int i, fc_session_step_info *info);
    void (*free)(void *impl);
} fc_runner_ops;

/* A runner: its operations and its state, passed back as the first argument of each. */
typedef struct fc_runner {
    const fc_runner_ops *ops;
    void *impl;
} fc_runner;

#endif
