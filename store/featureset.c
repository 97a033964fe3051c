/* fc_featureset_load (see featureset.h). */
#include "store/featureset.h"

#include <stdlib.h>
#include <string.h>

#include <stdio.h>

#include "store/hash.h"

typedef struct rows {
    fc_featureset *f;
    size_t cap;
    int failed;
} rows;

static int add_row(void *user, const fc_catalog_item *it) {
    rows *r = user;
    fc_featureset *f = r->f;
    if (it->status != FC_ITEM_OK) { f->n_bad++; return 0; }
    if (f->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 256;
        char **p = realloc(f->paths, cap * sizeof *p);
        if (p) f->paths = p;
        char **l = realloc(f->labels, cap * sizeof *l);
        if (l) f->labels = l;
        char **s = realloc(f->splits, cap * sizeof *s);
        if (s) f->splits = s;
        uint8_t(*h)[32] = realloc(f->hashes, cap * sizeof *h);
        if (h) f->hashes = h;
        if (!p || !l || !s || !h) { r->failed = 1; return FC_ENOMEM; }
        r->cap = cap;
    }
    f->paths[f->n] = strdup(it->path);
    f->labels[f->n] = strdup(it->label ? it->label : "");
    f->splits[f->n] = strdup(it->split ? it->split : "");
    memcpy(f->hashes[f->n], it->sha256, 32);
    f->n++;
    if (!f->paths[f->n - 1] || !f->labels[f->n - 1] || !f->splits[f->n - 1]) { r->failed = 1; return FC_ENOMEM; }
    return 0;
}

typedef struct names { char buf[512]; size_t len; } names;

static int add_name(void *user, const fc_catalog_dataset *d) {
    names *n = user;
    if (n->len < sizeof n->buf - 1)
        n->len += (size_t)snprintf(n->buf + n->len, sizeof n->buf - n->len, "%s'%s'", n->len ? ", " : "", d->name);
    if (n->len >= sizeof n->buf) n->len = sizeof n->buf - 1;
    return 0;
}

int fc_featureset_load(fc_catalog *cat, fc_cache *cache, const char *dataset, const char *extractor_hex,
                       int view, fc_featureset *out, fc_error *err) {
    memset(out, 0, sizeof *out);
    int64_t ds;
    int rc = fc_catalog_dataset_find(cat, dataset, &ds, err);
    if (rc < 0) return rc;
    if (rc == 0) {
        names n = {.len = 0};
        fc_catalog_dataset_list(cat, add_name, &n, NULL); /* only for the message: "none" if unreadable */
        return fc_fail(err, FC_EINVAL, "no data set named '%s' in the catalog (known: %s); run featcache extract first",
                       dataset, n.len ? n.buf : "none");
    }
    rows r = {.f = out};
    if ((rc = fc_catalog_item_list(cat, ds, FC_ITEMS_ALL, add_row, &r, err))) goto fail;
    if (out->n == 0) { rc = fc_fail(err, FC_EINVAL, "data set '%s' has no usable items", dataset); goto fail; }
    fc_feature_key key = {.view = (uint16_t)view};
    if (fc_hex_decode(extractor_hex, key.extractor, 32, err)) { rc = FC_EINVAL; goto fail; }
    fc_cache_txn *t = NULL;
    if ((rc = fc_cache_txn_begin(cache, &t, err))) goto fail;
    size_t missing = 0, first_missing = 0;
    for (size_t i = 0; i < out->n; i++) {
        memcpy(key.item, out->hashes[i], 32);
        fc_feature_view v;
        rc = fc_cache_txn_get(t, &key, &v, err);
        if (rc < 0) { fc_error_prefix(err, "%s: ", out->paths[i]); break; }
        if (rc == 0) {
            if (!missing++) first_missing = i;
            rc = 0;
            continue;
        }
        if (!out->x) {
            out->dim = v.count;
            out->rank = v.rank;
            memcpy(out->dims, v.dims, sizeof v.dims);
            out->x = malloc(out->n * out->dim * sizeof(float) + 1);
            if (!out->x) { rc = fc_fail(err, FC_ENOMEM, "out of memory for %zu x %zu features", out->n, out->dim); break; }
        }
        if (v.count != out->dim) {
            rc = fc_fail(err, FC_EFORMAT, "%s: feature has %zu values, others have %zu", out->paths[i], v.count, out->dim);
            break;
        }
        if ((rc = fc_feature_to_f32(&v, out->x + i * out->dim, out->dim, err))) break;
    }
    fc_cache_txn_end(t);
    if (rc) goto fail;
    if (missing) {
        rc = fc_fail(err, FC_EINVAL, "%zu of %zu items of '%s' have no features for this extractor (first: %s); run "
                     "featcache extract with the same model and options", missing, out->n, dataset, out->paths[first_missing]);
        goto fail;
    }
    return 0;
fail:
    fc_featureset_free(out);
    return rc;
}

void fc_featureset_free(fc_featureset *f) {
    for (size_t i = 0; i < f->n; i++) {
        if (f->paths) free(f->paths[i]);
        if (f->labels) free(f->labels[i]);
        if (f->splits) free(f->splits[i]);
    }
    free(f->paths);
    free(f->labels);
    free(f->splits);
    free(f->hashes);
    free(f->x);
    memset(f, 0, sizeof *f);
}
