/* Nearest class mean: class means of L2-normalized rows accumulated in double, then normalized
 * and scaled into a (K, D) layer with zero bias. Not here: prediction (an fc_head with an L2
 * transform and this layer does it). */
#include "classify/ncm.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int fc_ncm_fit(const fc_data *train, int k, float scale, fc_layer *layer, fc_error *err) {
    if (!layer) return fc_fail(err, FC_EINVAL, "ncm: no layer");
    memset(layer, 0, sizeof *layer);
    int rc = fc_data_check(train, train ? train->d : 0, k, FC_DATA_ALL_CLASSES, err);
    if (rc) return rc;
    if (!(scale > 0) || !isfinite(scale)) scale = FC_NCM_DEFAULT_SCALE;
    int d = train->d;
    double *sum = calloc((size_t)k * d, sizeof *sum);
    if (!sum) return fc_fail(err, FC_ENOMEM, "ncm: out of memory for %d x %d means", k, d);
    for (int i = 0; i < train->n; i++) {
        const float *x = train->x + (size_t)i * d;
        double norm = 0;
        for (int j = 0; j < d; j++) norm += (double)x[j] * x[j];
        norm = sqrt(norm);
        if (norm == 0) continue; /* an all-zero row has no direction */
        double w = (train->weight ? train->weight[i] : 1.0) / norm;
        double *s = sum + (size_t)train->y[i] * d;
        for (int j = 0; j < d; j++) s[j] += w * x[j];
    }
    if ((rc = fc_layer_alloc(layer, d, k, FC_ACTIVATION_NONE, err))) goto fail;
    for (int c = 0; c < k; c++) {
        const double *s = sum + (size_t)c * d;
        double norm = 0;
        for (int j = 0; j < d; j++) norm += s[j] * s[j];
        norm = sqrt(norm);
        if (!(norm > 0)) {
            char cls[300];
            rc = fc_fail(err, FC_EINVAL, "ncm: class %s has a zero mean direction (all its rows are zero)",
                         fc_data_class(train, c, cls, sizeof cls));
            fc_layer_free(layer);
            goto fail;
        }
        for (int j = 0; j < d; j++) layer->W[(size_t)c * d + j] = (float)(scale * s[j] / norm);
    }
fail:
    free(sum);
    return rc;
}
