/* fc_head: layer allocation, structural checks and inference (transform, Gemm + bias + ReLU per
 * layer on the packed SGEMM or, for few outputs, row dots; softmax). Inference on a head must give the same numbers whichever
 * trainer produced it, so this is the one place that defines what a head computes.
 * Not here: training, serialization. */
#include "classify/head.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "classify/dense.h"
#include "engine/engine.h"

#define FEW_OUTPUTS 16 /* up to this many outputs a layer dots rows directly (see below) */

int fc_layer_alloc(fc_layer *l, int in, int out, fc_activation act, fc_error *err) {
    memset(l, 0, sizeof *l);
    if (in < 1 || out < 1) return fc_fail(err, FC_EINVAL, "layer: sizes %d x %d", out, in);
    l->W = calloc((size_t)in * out, sizeof *l->W);
    l->b = calloc((size_t)out, sizeof *l->b);
    if (!l->W || !l->b) {
        fc_layer_free(l);
        return fc_fail(err, FC_ENOMEM, "layer: out of memory for %d x %d weights", out, in);
    }
    l->in = in;
    l->out = out;
    l->act = act;
    return 0;
}

int fc_layer_copy(fc_layer *dst, const fc_layer *src, fc_error *err) {
    int rc = fc_layer_alloc(dst, src->in, src->out, src->act, err);
    if (rc) return rc;
    memcpy(dst->W, src->W, (size_t)src->in * src->out * sizeof *dst->W);
    memcpy(dst->b, src->b, (size_t)src->out * sizeof *dst->b);
    return 0;
}

void fc_layer_free(fc_layer *l) {
    if (!l) return;
    free(l->W);
    free(l->b);
    memset(l, 0, sizeof *l);
}

int fc_layer_forward(const fc_layer *l, const float *x, int n, float *out, int threads, fc_error *err) {
    if (!l || !l->W || !l->b || (n > 0 && (!x || !out))) return fc_fail(err, FC_EINVAL, "layer: NULL argument");
    if (l->out <= FEW_OUTPUTS) {
        /* A classifier layer (K classes): packing x for the SGEMM would cost more than the K
         * multiply-adds per element, so each row is dotted with each W row, sums in double: the
         * blocked dots_fd on W widened to double, the bits of dot_ff(x row, W row) (the same
         * widening, the same order) at several rows per pass over W. */
        enum { ROWS = 48 };
        const fc_dense_kernels *k = fc_dense_kernels_best();
        int in = l->in, o = l->out;
        double work = (double)n * in * o, *Wd = malloc((size_t)o * in * sizeof *Wd + 1);
        if (!Wd) return fc_fail(err, FC_ENOMEM, "layer: out of memory for %d x %d weights", o, in);
        for (size_t q = 0; q < (size_t)o * in; q++) Wd[q] = l->W[q];
#pragma omp parallel for schedule(static) num_threads(threads > 0 ? threads : omp_get_max_threads()) if (work > 4e6)
        for (int r0 = 0; r0 < n; r0 += ROWS) {
            double d[ROWS * FEW_OUTPUTS];
            int nr = n - r0 < ROWS ? n - r0 : ROWS;
            k->dots_fd(x + (size_t)r0 * in, nr, Wd, o, in, d);
            for (int t = 0; t < nr * o; t++) out[(size_t)r0 * o + t] = (float)d[t];
        }
        free(Wd);
    } else {
        fc_matmul g;
        fc_matmul_init(&g, threads);
        /* out (n, o) = x (n, i) x W^T (i, o): W^T element (i, o) is W[o*in + i] */
        int rc = fc_matmul_run(&g, n, l->out, l->in, x, l->in, 1, l->W, 1, l->in, out, l->out, 1, err);
        fc_matmul_free(&g);
        if (rc) return rc;
    }
    for (int r = 0; r < n; r++) {
        float *o = out + (size_t)r * l->out;
        for (int j = 0; j < l->out; j++) o[j] += l->b[j];
        if (l->act == FC_ACTIVATION_RELU)
            for (int j = 0; j < l->out; j++) o[j] = o[j] > 0 ? o[j] : 0;
    }
    return 0;
}

int fc_head_set_class_names(fc_head *h, const char *const *names, int k, fc_error *err) {
    if (k != h->n_classes) return fc_fail(err, FC_EINVAL, "head: %d class names for %d classes", k, h->n_classes);
    char **copy = calloc((size_t)k, sizeof *copy);
    if (!copy) return fc_fail(err, FC_ENOMEM, "out of memory");
    for (int c = 0; c < k; c++) {
        if (!names || !names[c]) {
            for (int j = 0; j < c; j++) free(copy[j]);
            free(copy);
            return fc_fail(err, FC_EINVAL, "head: class %d has no name", c);
        }
        if (!(copy[c] = strdup(names[c]))) {
            for (int j = 0; j < c; j++) free(copy[j]);
            free(copy);
            return fc_fail(err, FC_ENOMEM, "out of memory");
        }
    }
    if (h->class_names)
        for (int c = 0; c < h->n_classes; c++) free(h->class_names[c]);
    free(h->class_names);
    h->class_names = copy;
    return 0;
}

static int all_finite(const float *a, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(a[i])) return 0;
    return 1;
}

int fc_head_check(const fc_head *h, fc_error *err) {
    if (!h) return fc_fail(err, FC_EINVAL, "head: NULL");
    if (h->n_layers < 1 || h->n_layers > FC_HEAD_MAX_LAYERS)
        return fc_fail(err, FC_EFORMAT, "head: %d layers (1..%d allowed)", h->n_layers, FC_HEAD_MAX_LAYERS);
    const fc_transform *t = &h->transform;
    if (t->kind != FC_TRANSFORM_NONE && t->kind != FC_TRANSFORM_STANDARDIZE && t->kind != FC_TRANSFORM_L2)
        return fc_fail(err, FC_EFORMAT, "head: unknown transform %d", (int)t->kind);
    if (t->dim && t->dim != h->layers[0].in)
        return fc_fail(err, FC_EFORMAT, "head: transform has %d dims, layer 0 takes %d", t->dim, h->layers[0].in);
    if (t->kind == FC_TRANSFORM_STANDARDIZE &&
        (!t->mean || !t->scale || t->dim < 1 || !all_finite(t->mean, (size_t)t->dim) ||
         !all_finite(t->scale, (size_t)t->dim)))
        return fc_fail(err, FC_EFORMAT, "head: standardize transform without finite mean/scale");
    for (int i = 0; i < h->n_layers; i++) {
        const fc_layer *l = &h->layers[i];
        if (!l->W || !l->b || l->in < 1 || l->out < 1)
            return fc_fail(err, FC_EFORMAT, "head: layer %d is empty", i);
        if (i > 0 && l->in != h->layers[i - 1].out)
            return fc_fail(err, FC_EFORMAT, "head: layer %d takes %d inputs, layer %d gives %d", i, l->in,
                           i - 1, h->layers[i - 1].out);
        if (l->act != FC_ACTIVATION_NONE && l->act != FC_ACTIVATION_RELU)
            return fc_fail(err, FC_EFORMAT, "head: layer %d has unknown activation %d", i, (int)l->act);
        if (!all_finite(l->W, (size_t)l->in * l->out) || !all_finite(l->b, (size_t)l->out))
            return fc_fail(err, FC_EFORMAT, "head: layer %d has non-finite parameters", i);
    }
    const fc_layer *last = &h->layers[h->n_layers - 1];
    if (last->act != FC_ACTIVATION_NONE) return fc_fail(err, FC_EFORMAT, "head: the last layer has an activation");
    if (last->out != h->n_classes)
        return fc_fail(err, FC_EFORMAT, "head: the last layer gives %d outputs for %d classes", last->out,
            h->n_classes);
    if (h->n_classes < 2) return fc_fail(err, FC_EFORMAT, "head: %d classes", h->n_classes);
    return 0;
}

void fc_logits_softmax(const float *logits, int n, int k, float *P) {
    for (int i = 0; i < n; i++) {
        const float *z = logits + (size_t)i * k;
        float *p = P + (size_t)i * k;
        double m = z[0], s = 0;
        for (int j = 1; j < k; j++) m = z[j] > m ? z[j] : m;
        for (int j = 0; j < k; j++) s += exp(z[j] - m);
        double inv = 1.0 / s;
        for (int j = 0; j < k; j++) p[j] = (float)(exp(z[j] - m) * inv);
    }
}

/* P (n, K) = softmax(layers(t)) for transformed rows t (n, layers[0].in), n >= 1. */
static int layers_softmax(const fc_head *h, const float *t, int n, float *P, int threads, fc_error *err) {
    int width = 1, rc = 0;
    for (int i = 0; i < h->n_layers; i++) width = h->layers[i].out > width ? h->layers[i].out : width;
    float *a = malloc((size_t)n * width * sizeof *a), *b = malloc((size_t)n * width * sizeof *b);
    if (!a || !b) {
        rc = fc_fail(err, FC_ENOMEM, "predict: out of memory for %d rows", n);
        goto out;
    }
    const float *in = t;
    for (int i = 0; i < h->n_layers; i++) {
        if ((rc = fc_layer_forward(&h->layers[i], in, n, a, threads, err))) goto out;
        float *s = a;
        a = b;
        b = s;
        in = b;
    }
    fc_logits_softmax(in, n, h->n_classes, P);
out:
    free(a);
    free(b);
    return rc;
}

int fc_head_predict_proba(const fc_head *h, const float *x, int n, int d, float *P, int threads, fc_error *err) {
    int rc = fc_head_check(h, err);
    if (rc) return rc;
    if (n < 0 || (n > 0 && (!x || !P))) return fc_fail(err, FC_EINVAL, "predict: NULL or negative arguments");
    if (d != h->layers[0].in)
        return fc_fail(err, FC_ESHAPE, "predict: features have %d dims, the head expects %d", d, h->layers[0].in);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < d; j++)
            if (!isfinite(x[(size_t)i * d + j]))
                return fc_fail(err, FC_EINVAL, "predict: row %d, dim %d is %s", i, j,
                               isnan(x[(size_t)i * d + j]) ? "NaN" : "infinite");
    if (n == 0) return 0;
    float *t = malloc((size_t)n * d * sizeof *t);
    if (!t) return fc_fail(err, FC_ENOMEM, "predict: out of memory for %d rows", n);
    if (!(rc = fc_transform_apply(&h->transform, x, n, d, t, err))) rc = layers_softmax(h, t, n, P, threads, err);
    free(t);
    return rc;
}

int fc_head_predict_proba_transformed(const fc_head *h, const float *t, int n, float *P, int threads, fc_error *err) {
    int rc = fc_head_check(h, err);
    if (rc) return rc;
    if (n < 0 || (n > 0 && (!t || !P))) return fc_fail(err, FC_EINVAL, "predict: NULL or negative arguments");
    return n ? layers_softmax(h, t, n, P, threads, err) : 0;
}

void fc_head_free(fc_head *h) {
    if (!h) return;
    fc_transform_free(&h->transform);
    for (int i = 0; i < FC_HEAD_MAX_LAYERS; i++) fc_layer_free(&h->layers[i]);
    if (h->class_names)
        for (int c = 0; c < h->n_classes; c++) free(h->class_names[c]);
    free(h->class_names);
    memset(h, 0, sizeof *h);
}
