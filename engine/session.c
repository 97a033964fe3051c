/* fc_session, the public handle of model.h: one plan of the whole batch whose layers each run on
 * all threads (plan.c), or with split_batch the batch runner, one single-threaded plan per slice
 * (batch_runner.c). This file only chooses between them and forwards. */
#include <omp.h>
#include <stdlib.h>

#include "engine/batch_runner.h"
#include "engine/model.h"
#include "engine/model_internal.h"
#include "engine/plan.h"

struct fc_session {
    fc_plan *plan;          /* exactly one of the two is set */
    fc_batch_runner *split;
};

int fc_session_create(const fc_model *m, const fc_session_options *opt, fc_session **out, fc_error *err) {
    *out = NULL;
    if (!opt) return fc_fail(err, FC_EINVAL, "%s: no session options", m->path);
    fc_session *s = calloc(1, sizeof *s);
    if (!s) return fc_fail(err, FC_ENOMEM, "out of memory");
    int threads = opt->threads > 0 ? opt->threads : omp_get_max_threads(), rc = 1;
    if (opt->split_batch && threads > 1 && opt->batch > 1)
        rc = fc_batch_runner_create(m, opt, threads, &s->split, err);
    if (rc > 0) { /* not split, or the outputs do not allow it */
        fc_session_options o = *opt;
        o.split_batch = 0;
        rc = fc_plan_create(m, &o, &s->plan, err);
    }
    if (rc) {
        free(s);
        return rc;
    }
    *out = s;
    return 0;
}

void fc_session_free(fc_session *s) {
    if (!s) return;
    fc_plan_free(s->plan);
    fc_batch_runner_free(s->split);
    free(s);
}

int fc_session_run(fc_session *s, const float *input, fc_error *err) {
    return s->split ? fc_batch_runner_run(s->split, input, err) : fc_plan_run(s->plan, input, err);
}

const fc_tensor *fc_session_output(const fc_session *s, int i) {
    return s->split ? fc_batch_runner_output(s->split, i) : fc_plan_output(s->plan, i);
}

void fc_session_input_dims(const fc_session *s, int64_t dims[4]) {
    if (s->split) fc_batch_runner_input_dims(s->split, dims);
    else fc_plan_input_dims(s->plan, dims);
}

double fc_session_flops(const fc_session *s) {
    return s->split ? fc_batch_runner_flops(s->split) : fc_plan_flops(s->plan);
}

int fc_session_n_steps(const fc_session *s) {
    return s->split ? fc_batch_runner_n_steps(s->split) : fc_plan_n_steps(s->plan);
}

int fc_session_step(const fc_session *s, int i, fc_session_step_info *info) {
    return s->split ? fc_batch_runner_step(s->split, i, info) : fc_plan_step(s->plan, i, info);
}
