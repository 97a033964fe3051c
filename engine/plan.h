/* One execution plan of a model for a fixed input shape: every shape inferred, shape computations
 * folded, activations placed by liveness in one arena and scratch allocated once; a run walks the
 * planned steps without allocating, each layer on all of the plan's threads in turn. Internal to
 * engine/: an fc_session (session.c) runs one plan, or the split-batch runner (batch_runner.c) one
 * per slice of the batch. Not here: choosing between those (session.c), the ops (ops/). */
#ifndef FC_PLAN_H
#define FC_PLAN_H

#include "core/core.h"
#include "engine/model.h"

typedef struct fc_plan fc_plan;

/* Plans m for opt (opt->split_batch is not looked at). Errors as fc_session_create, each prefixed
 * with the model's path. */
int fc_plan_create(const fc_model *m, const fc_session_options *opt, fc_plan **out, fc_error *err);
/* input: (N, ...) float32 of the planned shape. No allocation; errors from the ops name the node. */
int fc_plan_run(fc_plan *p, const float *input, fc_error *err);
/* As fc_session_output, fc_session_input_dims and fc_session_flops. */
const fc_tensor *fc_plan_output(const fc_plan *p, int i);
void fc_plan_input_dims(const fc_plan *p, int64_t dims[4]);
double fc_plan_flops(const fc_plan *p);
/* Run-time steps; fc_plan_step fills info as fc_session_step does (seconds of this plan's runs). */
int fc_plan_n_steps(const fc_plan *p);
int fc_plan_step(const fc_plan *p, int i, fc_session_step_info *info);
void fc_plan_free(fc_plan *p);

#endif
