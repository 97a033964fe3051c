/* fc_session, the public handle of model.h: one plan of the whole batch whose layers each run on
 * all threads (plan.c), or with split_batch the batch runner, one single-threaded plan per slice
 * (batch_runner.c). This file only resolves the options, chooses between the two and forwards
 * through the chosen runner's fc_runner_ops (runner.h). */
#include <omp.h>
#include <stdlib.h>

#include "engine/batch_runner.h"
#include "engine/model.h"
#include "engine/model_internal.h"
#include "engine/plan.h"
#include "engine/runner.h"

struct fc_session {
    fc_runner r;
};

int fc_session_create(const fc_model *m, const fc_session_options *opt, fc_session **out, fc_error *err) {
    *out = NULL;
    if (!opt) return fc_fail(err, FC_EINVAL, "%s: no session options", m->path);
    if (m->described) return fc_fail(err, FC_EINVAL, "%s: loaded to be described only, not to run", m->path);
    fc_session *s = calloc(1, sizeof *s);
    if (!s) return fc_fail(err, FC_ENOMEM, "out of memory");
    fc_session_options o = *opt;
    o.threads = opt->threads > 0 ? opt->threads : omp_get_max_threads();
    int rc = 1;
    if (o.split_batch && o.threads > 1 && o.batch > 1) rc = fc_batch_runner_create(m, &o, &s->r, err);
    if (rc > 0) rc = fc_plan_create(m, &o, &s->r, err); /* not split, or the outputs do not allow it */
    if (rc) {
        free(s);
        return rc;
    }
    *out = s;
    return 0;
}

void fc_session_free(fc_session *s) {
    if (!s) return;
    s->r.ops->free(s->r.impl);
    free(s);
}

int fc_session_run(fc_session *s, const float *input, fc_error *err) {
    return s->r.ops->run(s->r.impl, input, err);
}

const fc_tensor *fc_session_output(const fc_session *s, int i) {
    return s->r.ops->output(s->r.impl, i);
}

void fc_session_input_dims(const fc_session *s, int64_t dims[4]) {
    s->r.ops->input_dims(s->r.impl, dims);
}

double fc_session_flops(const fc_session *s) { return s->r.ops->flops(s->r.impl); }

int fc_session_n_steps(const fc_session *s) { return s->r.ops->n_steps(s->r.impl); }

int fc_session_step(const fc_session *s, int i, fc_session_step_info *info) {
    return s->r.ops->step(s->r.impl, i, info);
}
