/* Standardize / L2 / none transforms: statistics in double over the training rows (two passes:
 * mean, then centered variance), application in float row by row. Not here: choosing which
 * transform a head uses (the caller decides) or any data-dependent behaviour at apply time. */
#include "classify/transform.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int fc_transform_fit(fc_transform *t, fc_transform_kind kind, const float *x, int n, int d,
                     float std_floor, fc_error *err) {
    if (!t) return fc_fail(err, FC_EINVAL, "transform: NULL output");
    memset(t, 0, sizeof *t);
    if (kind != FC_TRANSFORM_NONE && kind != FC_TRANSFORM_STANDARDIZE && kind != FC_TRANSFORM_L2)
        return fc_fail(err, FC_EINVAL, "transform: unknown kind %d", (int)kind);
    if (d <= 0) return fc_fail(err, FC_EINVAL, "transform: feature dimension %d", d);
    t->kind = kind;
    t->dim = d;
    t->eps = kind == FC_TRANSFORM_L2 ? FC_TRANSFORM_L2_EPS : 0;
    if (kind != FC_TRANSFORM_STANDARDIZE) return 0;

    if (n <= 0 || !x) {
        memset(t, 0, sizeof *t);
        return fc_fail(err, FC_EINVAL, "transform: no training rows to fit on");
    }
    int rc = 0;
    double *sum = calloc((size_t)d, sizeof *sum), *sq = calloc((size_t)d, sizeof *sq);
    t->mean = malloc((size_t)d * sizeof *t->mean);
    t->scale = malloc((size_t)d * sizeof *t->scale);
    if (!sum || !sq || !t->mean || !t->scale) {
        rc = fc_fail(err, FC_ENOMEM, "transform: out of memory");
        goto fail;
    }
    for (int i = 0; i < n; i++) {
        const float *row = x + (size_t)i * d;
        for (int j = 0; j < d; j++) {
            if (!isfinite(row[j])) {
                rc = fc_fail(err, FC_EINVAL, "transform: training row %d, dim %d is %s", i, j,
                        isnan(row[j]) ? "NaN" : "infinite");
                goto fail;
            }
            sum[j] += row[j];
        }
    }
    for (int j = 0; j < d; j++) sum[j] /= n;
    for (int i = 0; i < n; i++) {
        const float *row = x + (size_t)i * d;
        for (int j = 0; j < d; j++) {
            double c = row[j] - sum[j];
            sq[j] += c * c;
        }
    }
    double floor_ = std_floor > 0 ? std_floor : FC_TRANSFORM_STD_FLOOR;
    for (int j = 0; j < d; j++) {
        double sd = sqrt(sq[j] / n);
        t->mean[j] = (float)sum[j];
        t->scale[j] = sd > floor_ ? (float)(1.0 / sd) : 1.0f;
    }
    free(sum);
    free(sq);
    return 0;
fail:
    free(sum);
    free(sq);
    fc_transform_free(t);
    return rc;
}

int fc_transform_apply(const fc_transform *t, const float *x, int n, int d, float *out, fc_error *err) {
    if (!t || (n > 0 && (!x || !out))) return fc_fail(err, FC_EINVAL, "transform: NULL argument");
    if (t->dim && t->dim != d)
        return fc_fail(err, FC_ESHAPE, "transform: features have %d dims, the transform was fitted on %d",
                       d, t->dim);
    switch (t->kind) {
    case FC_TRANSFORM_NONE:
        if (out != x) memmove(out, x, (size_t)n * d * sizeof *out);
        return 0;
    case FC_TRANSFORM_STANDARDIZE:
        if (!t->mean || !t->scale) return fc_fail(err, FC_EINVAL, "transform: standardize without parameters");
        for (int i = 0; i < n; i++) {
            const float *row = x + (size_t)i * d;
            float *o = out + (size_t)i * d;
            for (int j = 0; j < d; j++) o[j] = (row[j] - t->mean[j]) * t->scale[j];
        }
        return 0;
    case FC_TRANSFORM_L2: {
        float eps = t->eps > 0 ? t->eps : FC_TRANSFORM_L2_EPS;
        for (int i = 0; i < n; i++) {
            const float *row = x + (size_t)i * d;
            float *o = out + (size_t)i * d;
            double s = 0;
            for (int j = 0; j < d; j++) s += (double)row[j] * row[j];
            float norm = (float)sqrt(s);
            float inv = 1.0f / (norm > eps ? norm : eps);
            for (int j = 0; j < d; j++) o[j] = row[j] * inv;
        }
        return 0;
    }
    }
    return fc_fail(err, FC_EINVAL, "transform: unknown kind %d", (int)t->kind);
}

int fc_transform_copy(fc_transform *dst, const fc_transform *src, fc_error *err) {
    *dst = *src;
    dst->mean = dst->scale = NULL;
    if (!src->mean && !src->scale) return 0;
    size_t bytes = (size_t)src->dim * sizeof(float);
    dst->mean = malloc(bytes);
    dst->scale = malloc(bytes);
    if (!dst->mean || !dst->scale) {
        fc_transform_free(dst);
        return fc_fail(err, FC_ENOMEM, "transform: out of memory");
    }
    memcpy(dst->mean, src->mean, bytes);
    memcpy(dst->scale, src->scale, bytes);
    return 0;
}

void fc_transform_free(fc_transform *t) {
    if (!t) return;
    free(t->mean);
    free(t->scale);
    memset(t, 0, sizeof *t);
}

int fc_transform_parse(const char *name, fc_transform_kind *out, fc_error *err) {
    if (name && !strcmp(name, "none")) *out = FC_TRANSFORM_NONE;
    else if (name && (!strcmp(name, "std") || !strcmp(name, "standardize"))) *out = FC_TRANSFORM_STANDARDIZE;
    else if (name && !strcmp(name, "l2")) *out = FC_TRANSFORM_L2;
    else return fc_fail(err, FC_EINVAL, "unknown normalization '%s' (use std, l2 or none)", name ? name : "");
    return 0;
}

const char *fc_transform_name(fc_transform_kind kind) {
    switch (kind) {
    case FC_TRANSFORM_NONE: return "none";
    case FC_TRANSFORM_STANDARDIZE: return "std";
    case FC_TRANSFORM_L2: return "l2";
    }
    return "unknown";
}
