/* fc_featureset_load and fc_featureset_add_view (see featureset.h). */
#include "store/featureset.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* A value that fails its checks counts as missing (the next extract recomputes it); the first one is
 * described in f->damage, naming the file, the item, the extractor and the view. */
static void note_damage(fc_featureset *f, size_t i, const char *extractor_hex, int view, const fc_error *why) {
    if (!f->n_damaged++) {
        char item[65];
        fc_hex_encode(f->hashes[i], 32, item);
        fc_fail(&f->damage, FC_EFORMAT, "the stored feature of %s (item %.16s.., extractor %.12s, view %d) is damaged "
                "and counts as missing: %s", f->paths[i], item, extractor_hex, view, why->msg);
    }
}

/* Reads `view` of f's items into a further block of f->x (allocated at the first value found; a
 * first load sets dim and shape from it). Every value's CRC is checked. Returns the number of items
 * without a usable feature (f->x may have grown, f->n_views is unchanged) with *first_missing the
 * first of them, else negative. */
static int read_view(fc_cache *cache, const char *extractor_hex, int view, fc_featureset *f,
                     size_t *first_missing, fc_error *err) {
    fc_feature_key key = {.view = (uint16_t)view};
    if (fc_hex_decode(extractor_hex, key.extractor, 32, err)) return FC_EINVAL;
    fc_cache_txn *t = NULL;
    int rc = fc_cache_txn_begin(cache, &t, err);
    if (rc) return rc;
    float *block = NULL;
    size_t missing = 0;
    for (size_t i = 0; i < f->n; i++) {
        memcpy(key.item, f->hashes[i], 32);
        fc_feature_view v;
        fc_error why = {0};
        rc = fc_cache_txn_get(t, &key, &v, &why);
        if (rc == 1 && fc_feature_verify(&v, &why) != 0) rc = FC_EFORMAT;
        if (rc == FC_EFORMAT) note_damage(f, i, extractor_hex, view, &why);
        if (rc < 0 && rc != FC_EFORMAT) { *err = why; fc_error_prefix(err, "%s: ", f->paths[i]); break; }
        if (rc <= 0) {
            if (!missing++) *first_missing = i;
            rc = 0;
            continue;
        }
        rc = 0;
        if (!f->x) {
            f->dim = v.count;
            f->rank = v.rank;
            memcpy(f->dims, v.dims, sizeof v.dims);
        }
        if (!block) {
            float *x = realloc(f->x, ((size_t)f->n_views + 1) * f->n * f->dim * sizeof(float) + 1);
            if (!x) { rc = fc_fail(err, FC_ENOMEM, "out of memory for %zu x %zu features", f->n, f->dim); break; }
            f->x = x;
            block = x + (size_t)f->n_views * f->n * f->dim;
        }
        if (v.count != f->dim) {
            rc = fc_fail(err, FC_EFORMAT, "%s: feature has %zu values, others have %zu", f->paths[i], v.count, f->dim);
            break;
        }
        if ((rc = fc_feature_to_f32(&v, block + i * f->dim, f->dim, err))) break;
    }
    fc_cache_txn_end(t);
    return rc ? rc : (int)(missing < INT32_MAX ? missing : INT32_MAX);
}

int fc_featureset_load_items(fc_catalog *cat, const char *dataset, fc_featureset *out, fc_error *err) {
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
    return 0;
fail:
    fc_featureset_free(out);
    return rc;
}

int fc_featureset_load(fc_catalog *cat, fc_cache *cache, const char *dataset, const char *extractor_hex,
                       int view, fc_featureset *out, fc_error *err) {
    int rc = fc_featureset_load_items(cat, dataset, out, err);
    if (rc) return rc;
    size_t first_missing = 0;
    if ((rc = read_view(cache, extractor_hex, view, out, &first_missing, err)) < 0) goto fail;
    if (rc > 0 && out->n_damaged) {
        rc = fc_fail(err, FC_EFORMAT, "%d of %zu items of '%s' have no usable features for this extractor (%zu "
                     "damaged; %s); run featcache extract with the same model and options to recompute them", rc,
                     out->n, dataset, out->n_damaged, out->damage.msg);
        goto fail;
    }
    if (rc > 0) {
        rc = fc_fail(err, FC_EINVAL, "%d of %zu items of '%s' have no features for this extractor (first: %s); run "
                     "featcache extract with the same model and options", rc, out->n, dataset, out->paths[first_missing]);
        goto fail;
    }
    out->n_views = 1;
    return 0;
fail:
    fc_featureset_free(out);
    return rc;
}

int fc_featureset_add_view(fc_cache *cache, const char *extractor_hex, int view, fc_featureset *f,
                           size_t *first_missing, fc_error *err) {
    if (!f->x || f->n_views < 1) return fc_fail(err, FC_EINVAL, "add view: no features loaded");
    int rc = read_view(cache, extractor_hex, view, f, first_missing, err);
    if (rc == 0) f->n_views++;
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
