/* Plans (plan.h): shape inference for a concrete (N, C, H, W), plan-time folding of shape
 * computations, activation memory planned by liveness (first-fit offsets in one arena), then runs
 * that walk the planned node list without allocating; the plan's fc_runner_ops (runner.h). Not
 * here: the split-batch runner (batch_runner.c), the public session API (session.c). */
#include "engine/plan.h"

#include <assert.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "engine/fusion.h"
#include "engine/model_internal.h"
#include "engine/ops/ops.h"

#define ALIGN 64
#define MAX_ARENA_BYTES (1LL << 36)

typedef struct fc_plan {
    const fc_model *m;
    fc_tensor *t;        /* per value: shape and data pointer */
    void **owned;        /* per value: session-owned storage of plan-time folded values */
    char *arena;
    float *work;
    int *run;            /* nodes executed at run time, in order */
    int n_run;
    fc_tensor *io;       /* scratch for a node's in/out views */
    int max_io;
    fc_run_ctx ctx;
    double flops;
    double *step_flops;  /* (n_run) FLOPs of each run-time step */
    double *step_s;      /* (n_run) seconds spent in each step over all runs, when profiling; else NULL */
    long long limit;     /* opt->max_bytes or MAX_ARENA_BYTES */
    long long folded;    /* bytes of plan-time folded values so far */
    /* image by image prefix (fc_session_options.prefix_bytes): steps [0, n_prefix) run through
     * `prefix`, this model's plan for one image, once per image, each writing its slice of value
     * `cut` (cut_bytes per image) in this plan's arena; NULL when the whole batch runs step by step */
    struct fc_plan *prefix;
    int n_prefix, cut;
    size_t cut_bytes, in_floats;
} fc_plan;

static const fc_runner_ops plan_ops; /* at the end of the file */

/* n rounded up to whole ALIGN-byte lines, at least one: the size of every block and arena slot */
static size_t padded(size_t n) { return n ? (n + ALIGN - 1) / ALIGN * ALIGN : ALIGN; }

/* 1 when value v is stored channel-blocked (fc_op_def.blocked_output of its producer). */
static int blocked(const fc_graph *g, int v) {
    int p = g->values[v].producer;
    const fc_node *n = p >= 0 ? &g->nodes[p] : NULL;
    return n && n->n_out > 0 && n->out[0] == v && n->op->blocked_output && n->op->blocked_output(n);
}

/* Bytes of value v's storage: its shape's, or with the channels rounded up to whole groups of
 * FC_CB when it is stored channel-blocked. */
static size_t value_bytes(const fc_plan *s, int v) {
    fc_tensor t = s->t[v];
    if (t.rank >= 2 && blocked(s->m->g, v)) t.dims[1] = (t.dims[1] + FC_CB - 1) / FC_CB * FC_CB;
    return fc_tensor_bytes(&t);
}

static void *aligned_alloc_bytes(size_t n) {
    void *p = NULL;
    return posix_memalign(&p, ALIGN, padded(n)) == 0 ? p : NULL;
}

static void free_plan(void *impl) {
    fc_plan *s = impl;
    if (!s) return;
    if (s->owned)
        for (int v = 0; v < s->m->g->n_values; v++) free(s->owned[v]);
    free(s->owned);
    free(s->t);
    free(s->arena);
    free(s->work);
    free(s->run);
    free(s->step_flops);
    free(s->step_s);
    free(s->io);
    free_plan(s->prefix);
    free(s);
}

/* Fills io[0..n_in) (inputs) and io[n_in..] (outputs) from s->t. */
static void node_views(const fc_plan *s, const fc_node *n, fc_tensor **in, fc_tensor **out) {
    fc_tensor *io = s->io;
    for (int i = 0; i < n->n_in; i++) {
        if (n->in[i] >= 0) io[i] = s->t[n->in[i]];
        else memset(&io[i], 0, sizeof io[i]);
    }
    for (int i = 0; i < n->n_out; i++) {
        if (n->out[i] >= 0) io[n->n_in + i] = s->t[n->out[i]];
        else memset(&io[n->n_in + i], 0, sizeof io[0]);
    }
    *in = io;
    *out = io + n->n_in;
}

static int same_shape(const fc_tensor *a, const fc_tensor *b) {
    if (a->rank != b->rank) return 0;
    for (int i = 0; i < a->rank; i++)
        if (a->dims[i] != b->dims[i]) return 0;
    return 1;
}

/* Shape inference and plan-time folding over the whole graph. */
static int infer_all(fc_plan *s, size_t *work_max, fc_error *err) {
    const fc_graph *g = s->m->g;
    int threads = s->ctx.threads;
    for (int oi = 0; oi < g->n_order; oi++) {
        const fc_node *n = &g->nodes[g->order[oi]];
        fc_tensor *in, *out;
        node_views(s, n, &in, &out);
        int all_const = 1;
        for (int i = 0; i < n->n_in; i++)
            if (n->in[i] >= 0 && !in[i].data) all_const = 0;
        for (int i = 0; i < n->n_in; i++)
            if (n->in[i] >= 0 && in[i].rank == 0 && in[i].dtype == 0)
                return fc_op_fail(n, FC_EINTERNAL, err, "input %d has no inferred shape", i);
        size_t work = 0;
        int rc = n->op->infer(n, in, out, &work, threads, err);
        if (rc) return rc;
        int r = fc_fused_residual(n);
        if (r >= 0 && !same_shape(&in[r], &out[0]))
            return fc_op_fail(n, FC_ESHAPE, err, "fused residual Add: operand '%s' has a different "
                              "shape from the convolution output", g->values[n->in[r]].name);
        int fold = n->op->fold == FC_FOLD_SHAPE || (n->op->fold == FC_FOLD_CONST && all_const);
        for (int i = 0; i < n->n_out; i++) {
            int64_t count;
            if (n->out[i] < 0) continue;
            if (out[i].rank > FC_MAX_RANK || fc_dims_count(out[i].rank, out[i].dims, &count) != 0)
                return fc_op_fail(n, FC_ELIMIT, err, "output '%s' would have an absurd size",
                                  g->values[n->out[i]].name);
            out[i].data = NULL;
            if (fold) {
                /* checked before allocating: constant inputs can ask for absurd outputs (a Pad) */
                long long bytes = (long long)fc_tensor_bytes(&out[i]);
                if (bytes > s->limit - s->folded)
                    return fc_op_fail(n, FC_ELIMIT, err, "folded output '%s' would take the session "
                                      "over its limit of %lld bytes", g->values[n->out[i]].name,
                                      s->limit);
                s->folded += bytes;
                void *p = aligned_alloc_bytes((size_t)bytes);
                if (!p) return fc_fail(err, FC_ENOMEM, "out of memory");
                s->owned[n->out[i]] = p;
                out[i].data = p;
            }
            s->t[n->out[i]] = out[i];
        }
        if (fold) {
            fc_run_ctx ctx = s->ctx;
            ctx.work = NULL;
            if (work) return fc_op_fail(n, FC_EINTERNAL, err, "foldable op needs scratch");
            if ((rc = n->op->run(n, in, out, &ctx, err))) return rc;
        } else {
            s->step_flops[s->n_run] = n->op->flops ? n->op->flops(n, in, out) : 0;
            s->flops += s->step_flops[s->n_run];
            s->run[s->n_run++] = g->order[oi];
            if (work > *work_max) *work_max = work;
        }
    }
    return 0;
}

/* Lifetimes in steps: value v is written by step first[v] (-1: not by a step, e.g. the input or a
 * constant) and last read by step last[v] (n_run for requested outputs, kept to the end; -1: never). */
static void lifetimes(const fc_plan *s, int *first, int *last) {
    const fc_graph *g = s->m->g;
    for (int v = 0; v < g->n_values; v++) first[v] = last[v] = -1;
    for (int r = 0; r < s->n_run; r++) {
        const fc_node *n = &g->nodes[s->run[r]];
        for (int i = 0; i < n->n_out; i++)
            if (n->out[i] >= 0 && first[n->out[i]] < 0) first[n->out[i]] = last[n->out[i]] = r;
        for (int i = 0; i < n->n_in; i++) {
            int v = n->in[i];
            if (v >= 0 && last[v] < r) last[v] = r;
        }
    }
    for (int i = 0; i < g->n_outputs; i++) last[g->outputs[i]] = s->n_run;
}

/* The value whose storage the output v of node n (run at step r) takes (fc_op_def.residual_in_place),
 * or -1: n's fused residual when n allows it, the residual dies at r, has a place in this arena
 * (written by a step, and read after the prefix: plan_memory placed it), is none of n's other
 * inputs and has v's size. That place is free for v: every value placed so far that is alive at or
 * after r was alive at r with the residual, so it was placed apart from it. */
static int in_place_source(const fc_plan *s, const fc_node *n, int v, int r, const int *first,
                           const int *last) {
    int ri = fc_fused_residual(n);
    if (ri < 0 || n->out[0] != v || !n->op->residual_in_place || !n->op->residual_in_place(n)) return -1;
    int u = n->in[ri];
    if (u < 0 || first[u] < 0 || last[u] != r || r < s->n_prefix ||
        padded(value_bytes(s, u)) != padded(value_bytes(s, v)))
        return -1;
    for (int i = 0; i < n->n_in; i++)
        if (i != ri && n->in[i] == u) return -1;
    return u;
}

/* Liveness-based first-fit placement of every run-time value in one arena; values that live only
 * inside the image-by-image prefix (steps before n_prefix) are the prefix plan's and get no room.
 * An op's output takes its dying residual's place where the op allows it (in_place_source). */
static int plan_memory(fc_plan *s, fc_error *err) {
    const fc_graph *g = s->m->g;
    int nv = g->n_values;
    int *first = malloc((size_t)nv * sizeof(int)), *last = malloc((size_t)nv * sizeof(int));
    size_t *off = calloc((size_t)nv, sizeof(size_t));
    int *placed = malloc((size_t)nv * sizeof(int));
    int n_placed = 0, rc = 0;
    if (!first || !last || !off || !placed) { rc = fc_fail(err, FC_ENOMEM, "out of memory"); goto out; }
    lifetimes(s, first, last);
    size_t total = 0;
    for (int r = 0; r < s->n_run; r++) {
        const fc_node *n = &g->nodes[s->run[r]];
        for (int i = 0; i < n->n_out; i++) {
            int v = n->out[i];
            if (v < 0 || first[v] != r || last[v] < s->n_prefix) continue;
            size_t size = padded(value_bytes(s, v));
            int res = in_place_source(s, n, v, r, first, last);
            if (res >= 0) {
                off[v] = off[res];
                placed[n_placed++] = v;
                continue;
            }
            /* lowest offset not overlapping a placed value whose lifetime intersects [r, last[v]] */
            size_t cand = 0;
            for (int again = 1; again;) {
                again = 0;
                for (int p = 0; p < n_placed; p++) {
                    int u = placed[p];
                    if (last[u] < first[v] || first[u] > last[v]) continue;
                    size_t usize = padded(value_bytes(s, u));
                    if (cand < off[u] + usize && off[u] < cand + size) { cand = off[u] + usize; again = 1; }
                }
            }
            off[v] = cand;
            placed[n_placed++] = v;
            if (cand + size > total) total = cand + size;
        }
    }
    if ((long long)total > s->limit - s->folded) {
        rc = fc_fail(err, FC_ELIMIT, "activations would need %.1f GiB (limit %.1f GiB)",
                     total / 1073741824.0, s->limit / 1073741824.0);
        goto out;
    }
    s->arena = aligned_alloc_bytes(total);
    if (!s->arena) { rc = fc_fail(err, FC_ENOMEM, "out of memory for %zu bytes of activations", total); goto out; }
    for (int p = 0; p < n_placed; p++) s->t[placed[p]].data = s->arena + off[placed[p]];
out:
    free(first);
    free(last);
    free(off);
    free(placed);
    return rc;
}

#define PREFIX_BYTES (1 << 20) /* fc_session_options.prefix_bytes = 0 */
/* A prefix ends before the first step with more constant bytes (weights) than this: image by image,
 * each image re-reads them, where the batch spreads one read over more columns (VGG-11's 512-channel
 * 3x3 convolutions, 9.4 MB each, ran 6% slower per image; ResNet-50's prefix holds 0.6 MB at most). */
#define PREFIX_MAX_WEIGHTS (4 << 20)

static size_t constant_bytes(const fc_graph *g, const fc_node *n) {
    size_t b = 0;
    for (int i = 0; i < n->n_in; i++)
        if (n->in[i] >= 0 && g->values[n->in[i]].c.data) b += fc_tensor_bytes(&g->values[n->in[i]].c);
    return b;
}

/* The last step r after which one value alone, of at least min_bytes per image, carries the run on
 * (no other value written before it, nor the input, is read later or requested) and before which no
 * step holds over PREFIX_MAX_WEIGHTS of constants: *cut gets it and the return is r + 1, the
 * prefix's step count; 0 when there is none, -1 on ENOMEM. */
static int find_cut(const fc_plan *s, int batch, long long min_bytes, int *cut, fc_error *err) {
    const fc_graph *g = s->m->g;
    int *first = malloc((size_t)g->n_values * sizeof(int)), *last = malloc((size_t)g->n_values * sizeof(int));
    int best = 0;
    if (!first || !last) {
        free(first), free(last);
        return fc_fail(err, FC_ENOMEM, "out of memory"), -1;
    }
    lifetimes(s, first, last);
    /* live after r: values written at or before r (or the input) and read after r */
    for (int r = 0; r + 1 < s->n_run && constant_bytes(g, &g->nodes[s->run[r]]) <= PREFIX_MAX_WEIGHTS; r++) {
        int n_live = 0, v_live = -1;
        for (int v = 0; v < g->n_values && n_live < 2; v++)
            if (first[v] <= r && last[v] > r && (first[v] >= 0 || v == g->input)) n_live++, v_live = v;
        if (n_live != 1 || first[v_live] < 0 || blocked(g, v_live)) continue; /* the copies are NCHW-sized */
        const fc_tensor *t = &s->t[v_live];
        if (t->rank < 1 || t->dims[0] != batch || (long long)(fc_tensor_bytes(t) / batch) < min_bytes) continue;
        best = r + 1;
        *cut = v_live;
    }
    free(first), free(last);
    return best;
}

/* Sets up s's image-by-image prefix (see fc_plan) when opt asks for it and the graph has a cut;
 * errors: FC_ENOMEM only (no prefix is no error). */
static int plan_prefix(fc_plan *s, const fc_session_options *opt, fc_error *err) {
    if (opt->batch < 2 || opt->threads != 1 || opt->prefix_bytes < 0) return 0;
    int cut = -1, n = find_cut(s, opt->batch, opt->prefix_bytes ? opt->prefix_bytes : PREFIX_BYTES, &cut, err);
    if (n <= 0) return n < 0 ? FC_ENOMEM : 0;
    fc_session_options one = *opt;
    one.batch = 1;
    one.prefix_bytes = -1;
    fc_runner r;
    fc_error ignored = {0};
    /* a graph that cannot run one image (a batch size written into a Reshape) runs without a prefix */
    if (fc_plan_create(s->m, &one, &r, &ignored)) return 0;
    fc_plan *p = r.impl;
    /* the same steps on one image (plan-time folding could differ with the batch: then no prefix) */
    int same = p->n_run >= n && fc_tensor_bytes(&p->t[cut]) * opt->batch == fc_tensor_bytes(&s->t[cut]);
    for (int i = 0; same && i < n; i++) same = p->run[i] == s->run[i];
    if (!same) {
        free_plan(p);
        return 0;
    }
    s->prefix = p;
    s->n_prefix = n;
    s->cut = cut;
    s->cut_bytes = fc_tensor_bytes(&p->t[cut]);
    s->in_floats = (size_t)fc_tensor_count(&p->t[s->m->g->input]);
    return 0;
}

int fc_plan_create(const fc_model *m, const fc_session_options *opt, fc_runner *out, fc_error *err) {
    const fc_graph *g = m->g;
    if (!opt || opt->batch < 1 || opt->height < 0 || opt->width < 0)
        return fc_fail(err, FC_EINVAL, "%s: batch must be >= 1 and sizes >= 0", m->path);
    const fc_value *in = &g->values[g->input];
    int rank = in->decl_rank ? in->decl_rank : 4;
    int64_t shape[FC_MAX_RANK];
    shape[0] = opt->batch;
    if (rank == 4) { /* images: (N, C, H, W), H and W from the options or the declaration */
        shape[1] = in->decl_dims[1] > 0 ? in->decl_dims[1] : 3;
        shape[2] = opt->height ? opt->height : in->decl_dims[2];
        shape[3] = opt->width ? opt->width : in->decl_dims[3];
        if (shape[2] <= 0 || shape[3] <= 0)
            return fc_fail(err, FC_EINVAL, "%s: the model's input size is not fixed; give a size", m->path);
        if (shape[2] > 16384 || shape[3] > 16384 || opt->batch > 65536)
            return fc_fail(err, FC_ELIMIT, "%s: input %d x %lld x %lld is too large", m->path, opt->batch,
                           (long long)shape[2], (long long)shape[3]);
    } else { /* e.g. a head's (N, D) features: every dim but the batch must be declared */
        for (int i = 1; i < rank; i++) {
            shape[i] = in->decl_dims[i];
            if (shape[i] <= 0)
                return fc_fail(err, FC_EINVAL, "%s: input '%s' dimension %d is not fixed", m->path, in->name, i);
        }
    }
    fc_plan *s = calloc(1, sizeof *s);
    if (!s) return fc_fail(err, FC_ENOMEM, "out of memory");
    s->m = m;
    s->ctx.k = m->k;
    assert(opt->threads >= 1);
    s->ctx.threads = opt->threads;
    s->limit = opt->max_bytes > 0 && opt->max_bytes < MAX_ARENA_BYTES ? opt->max_bytes : MAX_ARENA_BYTES;
    int rc = FC_ENOMEM;
    int max_io = 2;
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[i].n_in + g->nodes[i].n_out > max_io) max_io = g->nodes[i].n_in + g->nodes[i].n_out;
    s->t = calloc((size_t)g->n_values, sizeof *s->t);
    s->owned = calloc((size_t)g->n_values, sizeof *s->owned);
    s->run = malloc(((size_t)g->n_order + 1) * sizeof(int));
    s->step_flops = calloc((size_t)g->n_order + 1, sizeof *s->step_flops);
    if (opt->profile) s->step_s = calloc((size_t)g->n_order + 1, sizeof *s->step_s);
    s->io = calloc((size_t)max_io, sizeof *s->io);
    if (!s->t || !s->owned || !s->run || !s->step_flops || (opt->profile && !s->step_s) || !s->io) { fc_fail(err, FC_ENOMEM, "out of memory"); goto fail; }
    for (int v = 0; v < g->n_values; v++)
        if (g->values[v].c.data) s->t[v] = g->values[v].c;
    fc_tensor *x = &s->t[g->input];
    x->dtype = FC_F32;
    x->rank = rank;
    for (int i = 0; i < rank; i++) x->dims[i] = shape[i];
    x->data = NULL;
    size_t work = 0;
    if ((rc = infer_all(s, &work, err)) || (rc = plan_prefix(s, opt, err)) || (rc = plan_memory(s, err))) goto fail;
    if (work > (size_t)s->limit) { rc = fc_fail(err, FC_ELIMIT, "scratch of %zu bytes is over the limit", work); goto fail; }
    if (work && !(s->work = aligned_alloc_bytes(work))) { rc = fc_fail(err, FC_ENOMEM, "out of memory"); goto fail; }
    s->ctx.work = s->work;
    *out = (fc_runner){&plan_ops, s};
    return 0;
fail:
    fc_error_prefix(err, "%s: ", m->path);
    free_plan(s);
    return rc;
}

/* Steps [r0, r1) of s on the tensors s->t points at. */
static int run_steps(fc_plan *s, int r0, int r1, fc_error *err) {
    const fc_graph *g = s->m->g;
    for (int r = r0; r < r1; r++) {
        const fc_node *n = &g->nodes[s->run[r]];
        fc_tensor *in, *out;
        node_views(s, n, &in, &out);
        double t0 = s->step_s ? omp_get_wtime() : 0;
        int rc = n->op->run(n, in, out, &s->ctx, err);
        if (rc) return rc;
        if (s->step_s) s->step_s[r] += omp_get_wtime() - t0;
    }
    return 0;
}

static int run(void *impl, const float *input, fc_error *err) {
    fc_plan *s = impl;
    const fc_graph *g = s->m->g;
    int64_t batch = s->t[g->input].dims[0];
    for (int64_t i = 0; s->prefix && i < batch; i++) { /* image i's prefix, into its slice of the cut */
        fc_plan *p = s->prefix;
        p->t[g->input].data = (void *)(input + (size_t)i * s->in_floats);
        p->t[s->cut].data = (char *)s->t[s->cut].data + (size_t)i * s->cut_bytes;
        int rc = run_steps(p, 0, s->n_prefix, err);
        p->t[g->input].data = NULL;
        if (rc) return rc;
    }
    s->t[g->input].data = (void *)input;
    int rc = run_steps(s, s->prefix ? s->n_prefix : 0, s->n_run, err);
    s->t[g->input].data = NULL;
    return rc;
}

static const fc_tensor *output(const void *impl, int i) {
    const fc_plan *s = impl;
    return i >= 0 && i < s->m->g->n_outputs ? &s->t[s->m->g->outputs[i]] : NULL;
}

static void input_dims(const void *impl, int64_t dims[4]) {
    const fc_plan *s = impl;
    const fc_tensor *x = &s->t[s->m->g->input];
    for (int i = 0; i < 4; i++) dims[i] = i < x->rank ? x->dims[i] : 1;
}

static double flops(const void *impl) { return ((const fc_plan *)impl)->flops; }

static int n_steps(const void *impl) { return ((const fc_plan *)impl)->n_run; }

static int step(const void *impl, int i, fc_session_step_info *info) {
    const fc_plan *s = impl;
    if (i < 0 || i >= s->n_run) return FC_EINVAL;
    const fc_node *n = &s->m->g->nodes[s->run[i]];
    info->node = n->name ? n->name : "";
    info->op = n->op_type;
    info->fused = fc_fused_convs(n);
    info->pooled = n->fusion && n->fusion->pooled;
    info->per_image = i < s->n_prefix;
    info->blocked = n->n_out > 0 && n->out[0] >= 0 && blocked(s->m->g, n->out[0]);
    /* a prefix step's storage is its one-image plan's (the same steps) */
    const fc_plan *placed = i < s->n_prefix ? s->prefix : s;
    int r = fc_fused_residual(n);
    info->in_place = r >= 0 && n->n_out > 0 && n->out[0] >= 0 && n->in[r] >= 0 &&
                     placed->t[n->out[0]].data == placed->t[n->in[r]].data;
    info->output = n->n_out > 0 && n->out[0] >= 0 ? s->m->g->values[n->out[0]].name : "";
    info->out = n->n_out > 0 && n->out[0] >= 0 ? s->t[n->out[0]] : (fc_tensor){0};
    info->out.data = NULL;
    info->flops = s->step_flops[i];
    /* a prefix step's time is its one-image plan's, summed over the images */
    const fc_plan *timed = i < s->n_prefix ? s->prefix : s;
    info->seconds = timed->step_s ? timed->step_s[i] : 0;
    return 0;
}

static const fc_runner_ops plan_ops = {run, output, input_dims, flops, n_steps, step, free_plan};
