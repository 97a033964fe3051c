/* One execution plan of a model for a fixed input shape: every shape inferred, shape computations
 * folded, activations placed by liveness in one arena and scratch allocated once; a run walks the
 * planned steps without allocating, each layer on all of the plan's threads in turn. A plan is a
 * runner (runner.h): an fc_session (session.c) runs one, the split-batch runner (batch_runner.c)
 * one per slice of the batch. Internal to engine/. Not here: choosing between those (session.c),
 * the ops (ops/). */
#ifndef FC_PLAN_H
#define FC_PLAN_H

#include "core/core.h"
#include "engine/model.h"
#include "engine/runner.h"

/* Plans m for opt, whose threads must be resolved (>= 1; opt->split_batch is not looked at), and
 * sets *out to the plan's runner. Errors as fc_session_create, each prefixed with the model's path;
 * *out is then untouched. */
int fc_plan_create(const fc_model *m, const fc_session_options *opt, fc_runner *out, fc_error *err);

#endif
