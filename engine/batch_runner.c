/* The split-batch runner (batch_runner.h): slices, their single-threaded plans, the gather of the
 * outputs; its fc_runner_ops (runner.h), which reach the slices' plans through theirs. */
#include "engine/batch_runner.h"

#include <stdlib.h>
#include <string.h>

#include "engine/plan.h"

#define ALIGN 64

typedef struct fc_batch_runner {
    int batch, n_slices, n_outputs;
    fc_runner *slice;  /* (n_slices) each slice's plan */
    int *first;        /* (n_slices + 1) first image of each slice; first[n_slices] = batch */
    size_t in_floats;  /* floats per input image */
    fc_tensor *outs;   /* (n_outputs) whole-batch outputs */
    char *out_data;
    double flops;
} fc_batch_runner;

static const fc_runner_ops batch_runner_ops; /* at the end of the file */

static void free_batch_runner(void *impl) {
    fc_batch_runner *r = impl;
    if (!r) return;
    for (int i = 0; i < r->n_slices; i++) r->slice[i].ops->free(r->slice[i].impl);
    free(r->slice);
    free(r->first);
    free(r->outs);
    free(r->out_data);
    free(r);
}

static size_t round_up(size_t n) { return (n + ALIGN - 1) / ALIGN * ALIGN; }

static const fc_tensor *slice_output(const fc_batch_runner *r, int i, int o) {
    return r->slice[i].ops->output(r->slice[i].impl, o);
}

/* The whole-batch outputs: every slice's output o must be (slice, ...) with the same trailing dims
 * in every slice; 1 if one is not. */
static int gather_outputs(fc_batch_runner *r, fc_error *err) {
    size_t total = 0;
    for (int o = 0; o < r->n_outputs; o++) {
        const fc_tensor *t0 = slice_output(r, 0, o);
        for (int i = 0; i < r->n_slices; i++) {
            const fc_tensor *t = slice_output(r, i, o);
            int same = t->rank >= 1 && t->rank == t0->rank && t->dtype == t0->dtype &&
                       t->dims[0] == r->first[i + 1] - r->first[i];
            for (int d = 1; same && d < t->rank; d++) same = t->dims[d] == t0->dims[d];
            if (!same) return 1;
        }
        r->outs[o] = *t0;
        r->outs[o].dims[0] = r->batch;
        r->outs[o].data = NULL;
        total += round_up(fc_tensor_bytes(t0) / (size_t)t0->dims[0] * (size_t)r->batch);
    }
    void *p = NULL;
    if (posix_memalign(&p, ALIGN, total ? total : ALIGN)) return fc_fail(err, FC_ENOMEM, "out of memory");
    r->out_data = p;
    size_t at = 0;
    for (int o = 0; o < r->n_outputs; o++) {
        r->outs[o].data = r->out_data + at;
        at += round_up(fc_tensor_bytes(&r->outs[o]));
    }
    return 0;
}

int fc_batch_runner_create(const fc_model *m, const fc_session_options *opt, fc_runner *out,
                           fc_error *err) {
    int n_slices = opt->threads < opt->batch ? opt->threads : opt->batch;
    fc_batch_runner *r = calloc(1, sizeof *r);
    if (!r) return fc_fail(err, FC_ENOMEM, "out of memory");
    r->batch = opt->batch;
    r->n_outputs = fc_model_n_outputs(m);
    r->slice = calloc((size_t)n_slices, sizeof *r->slice);
    r->first = malloc(((size_t)n_slices + 1) * sizeof *r->first);
    r->outs = calloc((size_t)r->n_outputs + 1, sizeof *r->outs);
    int rc = FC_ENOMEM;
    if (!r->slice || !r->first || !r->outs) { fc_fail(err, rc, "out of memory"); goto fail; }
    r->first[0] = 0;
    for (int i = 0; i < n_slices; i++) {
        fc_session_options o = *opt;
        o.batch = opt->batch / n_slices + (i < opt->batch % n_slices);
        o.threads = 1;
        r->first[i + 1] = r->first[i] + o.batch;
        if ((rc = fc_plan_create(m, &o, &r->slice[i], err))) goto fail;
        r->n_slices = i + 1;
        r->flops += r->slice[i].ops->flops(r->slice[i].impl);
    }
    int64_t dims[4];
    r->slice[0].ops->input_dims(r->slice[0].impl, dims);
    r->in_floats = (size_t)(dims[1] * dims[2] * dims[3]);
    if ((rc = gather_outputs(r, err))) goto fail;
    *out = (fc_runner){&batch_runner_ops, r};
    return 0;
fail:
    free_batch_runner(r);
    return rc;
}

static int run(void *impl, const float *input, fc_error *err) {
    fc_batch_runner *r = impl;
    int rc = 0;
#pragma omp parallel for num_threads(r->n_slices) schedule(static, 1)
    for (int i = 0; i < r->n_slices; i++) {
        fc_error e;
        int rc_i = r->slice[i].ops->run(r->slice[i].impl, input + (size_t)r->first[i] * r->in_floats, &e);
        if (rc_i) {
#pragma omp critical(fc_batch_runner_error)
            if (!rc) rc = rc_i, *err = e;
        }
    }
    if (rc) return rc;
    for (int o = 0; o < r->n_outputs; o++) {
        size_t row = fc_tensor_bytes(&r->outs[o]) / (size_t)r->batch;
        for (int i = 0; i < r->n_slices; i++)
            memcpy((char *)r->outs[o].data + (size_t)r->first[i] * row, slice_output(r, i, o)->data,
                   (size_t)(r->first[i + 1] - r->first[i]) * row);
    }
    return 0;
}

static const fc_tensor *output(const void *impl, int i) {
    const fc_batch_runner *r = impl;
    return i >= 0 && i < r->n_outputs ? &r->outs[i] : NULL;
}

static void input_dims(const void *impl, int64_t dims[4]) {
    const fc_batch_runner *r = impl;
    r->slice[0].ops->input_dims(r->slice[0].impl, dims);
    dims[0] = r->batch;
}

static double flops(const void *impl) { return ((const fc_batch_runner *)impl)->flops; }

static int n_steps(const void *impl) {
    const fc_batch_runner *r = impl;
    return r->slice[0].ops->n_steps(r->slice[0].impl);
}

static int step(const void *impl, int i, fc_session_step_info *info) {
    const fc_batch_runner *r = impl;
    int rc = r->slice[0].ops->step(r->slice[0].impl, i, info);
    if (rc) return rc;
    for (int k = 1; k < r->n_slices; k++) { /* same steps in every slice: summed */
        fc_session_step_info more;
        r->slice[k].ops->step(r->slice[k].impl, i, &more);
        info->flops += more.flops;
        info->seconds += more.seconds;
    }
    info->out.dims[0] = r->batch;
    return 0;
}

static const fc_runner_ops batch_runner_ops = {run, output, input_dims, flops, n_steps, step,
                                               free_batch_runner};
