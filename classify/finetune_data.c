/* Batches of cut activations for fine-tuning, copied from rows in memory or read from the cache: one short read transaction per
 * batch (a long one would pin old pages while extract writes), each value's CRC checked before its
 * (f16 or f32) elements are widened into the batch, the map's pages released after each batch (an
 * epoch reads the whole data set: resident memory would grow with it). */
#include <string.h>

#include "classify/finetune_internal.h"

/* Rows held in memory: view slot s of item i is row s * p->n + i of d->x. */
static void copy_rows(const fc_finetune_data *d, const int *rows, int n, float *input, size_t input_size) {
    for (int b = 0; b < n; b++) {
        size_t item = (size_t)(rows[b] / d->n_views), slot = (size_t)(rows[b] % d->n_views);
        memcpy(input + (size_t)b * input_size, d->x + (slot * (size_t)d->p->n + item) * input_size,
               input_size * sizeof(float));
    }
}

int ft_load_rows(const fc_finetune_data *d, const int *rows, int n, float *input, size_t input_size,
                 fc_error *err) {
    if (d->x) {
        copy_rows(d, rows, n, input, input_size);
        return 0;
    }
    fc_cache_txn *t = NULL;
    int rc = fc_cache_txn_begin(d->cache, &t, err);
    if (rc) return rc;
    for (int b = 0; b < n; b++) {
        int item = rows[b] / d->n_views, slot = rows[b] % d->n_views;
        fc_feature_key key;
        memcpy(key.extractor, d->extractor, 32);
        memcpy(key.item, d->hashes[item], 32);
        key.view = (uint16_t)d->views[slot];
        fc_feature_view v;
        char hex[65];
        rc = fc_cache_txn_get(t, &key, &v, err);
        fc_hex_encode(d->hashes[item], 32, hex);
        if (rc == 0)
            rc = fc_fail(err, FC_EINVAL, "item %.16s has no cached cut activation for view #%d", hex,
                         d->views[slot]);
        else if (rc == 1 && v.count != input_size)
            rc = fc_fail(err, FC_ESHAPE, "item %.16s: the cached cut activation has %zu values, the net takes %zu",
                         hex, v.count, input_size);
        else if (rc == 1 && !(rc = fc_feature_verify(&v, err)))
            rc = fc_feature_to_f32(&v, input + (size_t)b * input_size, input_size, err);
        if (rc == FC_EFORMAT)
            fc_error_prefix(err, "cached cut activation of item %.16s view #%d: ", hex, d->views[slot]);
        if (rc < 0) break;
        rc = 0;
    }
    fc_cache_txn_end(t);
    fc_cache_release_pages(d->cache); /* memory stays flat however large the data set */
    return rc;
}
