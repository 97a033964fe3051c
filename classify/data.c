/* Input validation for labeled splits: one pass over the features (finite check) and labels
 * (range, class counts), producing the first problem as an fc_error that names the split and row;
 * and balanced class weights. Not here: any transformation or copying of the data. */
#include "classify/data.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

const char *fc_data_name(const fc_data *s) { return s && s->name ? s->name : "data"; }

const char *fc_data_class(const fc_data *s, int c, char *buf, size_t cap) {
    if (s && s->classes && s->classes[c]) snprintf(buf, cap, "'%s'", s->classes[c]);
    else snprintf(buf, cap, "%d", c);
    return buf;
}

/* First non-finite element of row (d) or -1. */
static int first_nonfinite(const float *row, int d) {
    for (int j = 0; j < d; j++)
        if (!isfinite(row[j])) return j;
    return -1;
}

int fc_data_check(const fc_data *s, int d, int k, int flags, fc_error *err) {
    if (!s) return fc_fail(err, FC_EINVAL, "no data given");
    const char *name = fc_data_name(s);
    if (flags & FC_DATA_ALL_CLASSES) flags |= FC_DATA_LABELED;
    if (s->n <= 0) return fc_fail(err, FC_EINVAL, "%s split is empty", name);
    if (!s->x) return fc_fail(err, FC_EINVAL, "%s: no features given", name);
    if ((flags & FC_DATA_LABELED) && k < 2)
        return fc_fail(err, FC_EINVAL, "%s: %d class%s; at least 2 are needed", name, k, k == 1 ? "" : "es");
    if (s->d != d)
        return fc_fail(err, FC_ESHAPE, "%s: features have %d dims, expected %d", name, s->d, d);
    for (int i = 0; i < s->n; i++) {
        int j = first_nonfinite(s->x + (size_t)i * d, d);
        if (j >= 0)
            return fc_fail(err, FC_EINVAL, "%s row %d, dim %d: feature is %s", name, i, j,
                           isnan(s->x[(size_t)i * d + j]) ? "NaN" : "infinite");
    }
    if (s->weight) {
        double total = 0;
        for (int i = 0; i < s->n; i++) {
            if (!isfinite(s->weight[i]) || s->weight[i] < 0)
                return fc_fail(err, FC_EINVAL, "%s row %d: sample weight %g is not a finite value >= 0",
                               name, i, s->weight[i]);
            total += s->weight[i];
        }
        if (total <= 0) return fc_fail(err, FC_EINVAL, "%s: all sample weights are zero", name);
    }
    if (!(flags & FC_DATA_LABELED)) return 0;
    if (!s->y) return fc_fail(err, FC_EINVAL, "%s: no labels given", name);
    for (int i = 0; i < s->n; i++) {
        if (s->y[i] < 0) return fc_fail(err, FC_EINVAL, "%s row %d: missing label", name, i);
        if (s->y[i] >= k)
            return fc_fail(err, FC_EINVAL, "%s row %d: label %d is out of range [0, %d)", name, i, s->y[i], k);
    }
    if (!(flags & FC_DATA_ALL_CLASSES)) return 0;
    int *count = calloc((size_t)k, sizeof *count);
    if (!count) return fc_fail(err, FC_ENOMEM, "out of memory");
    int present = 0, only = -1, missing = -1;
    for (int i = 0; i < s->n; i++)
        if (!s->weight || s->weight[i] > 0) count[s->y[i]]++;
    for (int c = 0; c < k; c++) {
        if (count[c]) present++, only = c;
        else if (missing < 0) missing = c;
    }
    free(count);
    char cls[300];
    if (present < 2)
        return fc_fail(err, FC_EINVAL, "%s split has a single class (%s); at least 2 are needed", name,
                       fc_data_class(s, only, cls, sizeof cls));
    if (missing >= 0)
        return fc_fail(err, FC_EINVAL, "%s split has no items of class %s (of %d)", name,
                       fc_data_class(s, missing, cls, sizeof cls), k);
    return 0;
}

int fc_data_balanced_weights(const fc_data *s, int k, float *w, fc_error *err) {
    int rc = fc_data_check(s, s ? s->d : 0, k, FC_DATA_ALL_CLASSES, err);
    if (rc) return rc;
    if (!w) return fc_fail(err, FC_EINVAL, "no output for the class weights");
    int *count = calloc((size_t)k, sizeof *count);
    if (!count) return fc_fail(err, FC_ENOMEM, "out of memory");
    for (int i = 0; i < s->n; i++) count[s->y[i]]++;
    for (int c = 0; c < k; c++) w[c] = (float)((double)s->n / ((double)k * count[c]));
    free(count);
    return 0;
}
