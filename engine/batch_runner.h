/* The split-batch runner (fc_session_options.split_batch): the batch is cut into one slice per
 * thread and each slice runs through its own single-threaded plan, so the threads never wait for
 * each other between layers and each one's activations stay in its own cache; the slices' outputs
 * are gathered into whole-batch tensors, the slices' steps summed. Internal to engine/ (session.c).
 * Not here: planning and running one slice (plan.c), the runner contract (runner.h). */
#ifndef FC_BATCH_RUNNER_H
#define FC_BATCH_RUNNER_H

#include "core/core.h"
#include "engine/model.h"
#include "engine/runner.h"

/* Sets *out to a runner for opt->batch images on min(opt->threads, batch) slices (threads resolved,
 * threads and batch >= 2). Returns 0; 1 when the requested outputs cannot be gathered (an output
 * without a leading batch dim): nothing is kept and the caller plans the whole batch instead; or an
 * error as fc_plan_create. *out is untouched unless 0 is returned. */
int fc_batch_runner_create(const fc_model *m, const fc_session_options *opt, fc_runner *out,
                           fc_error *err);

#endif
