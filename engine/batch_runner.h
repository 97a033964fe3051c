/* The split-batch runner (fc_session_options.split_batch): the batch is cut into one slice per
 * thread and each slice runs through its own single-threaded plan, so the threads never wait for
 * each other between layers and each one's activations stay in its own cache; the slices' outputs
 * are gathered into whole-batch tensors. Internal to engine/ (session.c). Not here: planning and
 * running one slice (plan.c). */
#ifndef FC_BATCH_RUNNER_H
#define FC_BATCH_RUNNER_H

#include "core/core.h"
#include "engine/model.h"

typedef struct fc_batch_runner fc_batch_runner;

/* A runner for opt->batch images on min(threads, batch) slices (threads, batch >= 2). Returns 0;
 * 1 when the requested outputs cannot be gathered (an output without a leading batch dim): nothing
 * is kept and the caller plans the whole batch instead; or an error as fc_plan_create. */
int fc_batch_runner_create(const fc_model *m, const fc_session_options *opt, int threads,
                           fc_batch_runner **out, fc_error *err);
/* input: (batch, ...) float32; the slices run in parallel. The first slice error is returned. */
int fc_batch_runner_run(fc_batch_runner *r, const float *input, fc_error *err);
/* Whole-batch outputs, input dims and FLOPs, as the fc_session_* functions of the same names. */
const fc_tensor *fc_batch_runner_output(const fc_batch_runner *r, int i);
void fc_batch_runner_input_dims(const fc_batch_runner *r, int64_t dims[4]);
double fc_batch_runner_flops(const fc_batch_runner *r);
/* Steps as fc_session_step: the slices' steps summed (seconds are thread-seconds), out with the
 * whole batch. */
int fc_batch_runner_n_steps(const fc_batch_runner *r);
int fc_batch_runner_step(const fc_batch_runner *r, int i, fc_session_step_info *info);
void fc_batch_runner_free(fc_batch_runner *r);

#endif
