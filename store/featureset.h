/* A data set's features as one matrix: every ok item of a catalog data set (in path order) with
 * its stored feature for one extractor and view, plus labels, splits, paths and hashes; further
 * views of the same items can be appended as blocks of rows (training on flips and crops). Reads the
 * catalog rows first, then all features inside one LMDB read transaction; extract commits features
 * before the rows that name them, so a concurrent extract never shows a row without its feature.
 * Not here: choosing the extractor (job.h computes ids), training (classify/). */
#ifndef FC_FEATURESET_H
#define FC_FEATURESET_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"
#include "store/cache.h"
#include "store/catalog.h"

typedef struct fc_featureset {
    size_t n;              /* items (rows of one view) */
    size_t dim;            /* floats per item: product of the feature dims */
    int rank;
    uint32_t dims[FC_FEATURE_MAX_RANK];
    int n_views;           /* blocks of x: 1 after fc_featureset_load, +1 per fc_featureset_add_view */
    float *x;              /* (n_views, n, dim): block 0 the loaded view, then the added ones in order */
    char **paths, **labels, **splits; /* n each; labels/splits "" when none */
    uint8_t (*hashes)[32];
    size_t n_bad;          /* bad items of the data set (not in the matrix) */
    size_t n_damaged;      /* stored values that failed their checks (header or CRC): counted as missing */
    fc_error damage;       /* the first of them: file, item, extractor, view and reason (code 0: none) */
} fc_featureset;

/* Loads the data set named `dataset` for extractor_hex (64 hex digits) and view. Every value's header
 * and CRC are checked; a value that fails counts as missing (the next extract recomputes it).
 * Errors: FC_EINVAL (no such data set, with the known names; no features for some ok items: says how
 * many and names the first, "run featcache extract"), FC_EFORMAT (some values are damaged: says how
 * many and names the first's file, item, extractor and view; or a value with another number of
 * values than the rest), FC_EIO, FC_ENOMEM. Uses the given handles (read-only handles are enough). */
int fc_featureset_load(fc_catalog *cat, fc_cache *cache, const char *dataset, const char *extractor_hex,
                       int view, fc_featureset *out, fc_error *err);
/* The same without features: n, paths, labels, splits, hashes, n_bad (x NULL, n_views 0), for a
 * caller that reads features itself batch by batch. Errors as fc_featureset_load. */
int fc_featureset_load_items(fc_catalog *cat, const char *dataset, fc_featureset *out, fc_error *err);
/* Appends the items' features for another view of the same extractor as block f->n_views of f->x
 * (same item order) and counts it in f->n_views. Returns 0; or the number (> 0) of items that have
 * no usable feature for that view (damaged values count, and are added to f->n_damaged and
 * f->damage), with *first_missing the index of the first of them and f->n_views unchanged (the
 * caller names the view and how to extract it); or FC_EINVAL (f not loaded, a bad extractor_hex),
 * FC_EFORMAT (a value with another number of values: names the item), FC_EIO, FC_ENOMEM. */
int fc_featureset_add_view(fc_cache *cache, const char *extractor_hex, int view, fc_featureset *f,
                           size_t *first_missing, fc_error *err);
void fc_featureset_free(fc_featureset *f);

#endif
