/* fc_merge_catalog_check (merge_int.h): before a merge writes anything, every catalog involved
 * passes verify's catalog checks, and each data set name and extractor id means one thing. A data
 * set is compared by a SHA-256 over its items' (path, label, split, hash) in path order, so a check
 * keeps one digest per data set, whatever the number of items (and the bad items, all that a source
 * can change where the data set is merged already); only when two digests differ are the two item
 * lists read again, to name the first item that differs. Not here: writing rows (merge_catalog.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "store/catalog.h"
#include "store/hash.h"
#include "store/merge_int.h"

/* One data set or extractor definition and the catalog it was first seen in. */
typedef struct ds_def {
    char *name;
    uint8_t digest[32];
    const char *where; /* a source folder or the destination's */
} ds_def;

typedef struct ex_def {
    char id[65];
    char *text; /* the parameters, one string: model, layer, size, crop, preprocess, views, dtype, dims */
    const char *where;
} ex_def;

typedef struct defs {
    ds_def *ds;
    size_t n_ds, cap_ds;
    ex_def *ex;
    size_t n_ex, cap_ex;
    fc_merge_report *rep;
    const fc_merge_options *o;
} defs;

/* The array p (capacity *cap elements of `size` bytes) with room for element n: p itself, or p
 * moved to twice the room (*cap updated); NULL without memory (p is kept). */
static void *grow(void *p, size_t *cap, size_t n, size_t size) {
    if (n < *cap) return p;
    size_t c = *cap ? 2 * *cap : 16;
    void *q = realloc(p, c * size);
    if (q) *cap = c;
    return q;
}

int fc_merge_open_src(const char *dir, fc_catalog **cat, fc_error *err) {
    int rc = fc_catalog_open(dir, FC_CATALOG_RDONLY, 0, cat, err);
    if (rc) fc_error_prefix(err, "merge source %s: ", dir);
    return rc;
}

static int collect_dataset(void *user, const fc_catalog_dataset *d) {
    fc_merge_datasets *l = user;
    fc_merge_dataset *nd = grow(l->d, &l->cap, l->n, sizeof *l->d);
    if (!nd) return FC_ENOMEM;
    l->d = nd;
    fc_merge_dataset *m = &l->d[l->n];
    memset(m, 0, sizeof *m);
    m->id = d->id, m->created = d->created;
    m->name = strdup(d->name), m->root = strdup(d->root), m->format = strdup(d->format);
    l->n++;
    return m->name && m->root && m->format ? 0 : FC_ENOMEM;
}

int fc_merge_list_datasets(fc_catalog *cat, fc_merge_datasets *out, fc_error *err) {
    memset(out, 0, sizeof *out);
    int rc = fc_catalog_dataset_list(cat, collect_dataset, out, err);
    if (rc == FC_ENOMEM) rc = fc_fail(err, FC_ENOMEM, "out of memory listing data sets");
    return rc;
}

void fc_merge_datasets_free(fc_merge_datasets *l) {
    for (size_t i = 0; i < l->n; i++) free(l->d[i].name), free(l->d[i].root), free(l->d[i].format);
    free(l->d);
    memset(l, 0, sizeof *l);
}

/* What an item is, for comparing data sets: path, label, split and hash, each field ended. */
static void item_digest(fc_sha256 *s, const fc_catalog_item *it) {
    static const uint8_t none = 0, one = 1;
    fc_sha256_update(s, it->path, strlen(it->path) + 1);
    fc_sha256_update(s, it->label ? it->label : "", strlen(it->label ? it->label : "") + 1);
    fc_sha256_update(s, it->split ? it->split : "", strlen(it->split ? it->split : "") + 1);
    fc_sha256_update(s, it->has_hash ? &one : &none, 1);
    if (it->has_hash) fc_sha256_update(s, it->sha256, 32);
}

/* A data set's digest and, for a source, its bad items. */
typedef struct digest_walk {
    fc_sha256 s;
    fc_merge_items *bad; /* NULL: not kept */
} digest_walk;

static int digest_item(void *user, const fc_catalog_item *it) {
    digest_walk *d = user;
    item_digest(&d->s, it);
    return d->bad && it->status == FC_ITEM_BAD ? fc_merge_items_add(d->bad, it) : 0;
}

int fc_merge_items_add(void *user, const fc_catalog_item *it) {
    fc_merge_items *l = user;
    fc_catalog_item *ni = grow(l->it, &l->cap, l->n, sizeof *l->it);
    if (!ni) return FC_ENOMEM;
    l->it = ni;
    fc_catalog_item *c = &l->it[l->n++];
    *c = *it;
    c->path = strdup(it->path);
    c->label = strdup(it->label ? it->label : "");
    c->split = strdup(it->split ? it->split : "");
    c->error = it->error ? strdup(it->error) : NULL;
    return c->path && c->label && c->split && (c->error || !it->error) ? 0 : FC_ENOMEM;
}

void fc_merge_items_free(fc_merge_items *l) {
    for (size_t i = 0; i < l->n; i++)
        free((char *)l->it[i].path), free((char *)l->it[i].label), free((char *)l->it[i].split), free((char *)l->it[i].error);
    free(l->it);
    memset(l, 0, sizeof *l);
}

void fc_merge_sources_free(fc_merge_source *s, size_t n) {
    for (size_t i = 0; s && i < n; i++) {
        for (size_t k = 0; s[i].bad && k < s[i].ds.n; k++) fc_merge_items_free(&s[i].bad[k]);
        free(s[i].bad);
        fc_merge_datasets_free(&s[i].ds);
    }
}

/* ---- naming the first difference between two definitions of a data set -------------------- */

/* Walks b's items against a's (both in path order) and writes the first difference into msg. */
typedef struct diff_walk {
    const fc_merge_items *a;
    size_t k;
    const char *wa, *wb;
    char *msg;
    size_t cap;
} diff_walk;

static int diff_item(void *user, const fc_catalog_item *it) {
    diff_walk *w = user;
    const fc_catalog_item *c = w->k < w->a->n ? &w->a->it[w->k] : NULL;
    int order = c ? strcmp(c->path, it->path) : 1;
    if (order < 0) return snprintf(w->msg, w->cap, "item '%s' is in %s, not in %s", c->path, w->wa, w->wb), 1;
    if (order > 0) return snprintf(w->msg, w->cap, "item '%s' is in %s, not in %s", it->path, w->wb, w->wa), 1;
    const char *label = it->label ? it->label : "", *split = it->split ? it->split : "";
    if (strcmp(c->label, label))
        return snprintf(w->msg, w->cap, "item '%s' has label '%s' in %s, '%s' in %s", it->path, c->label, w->wa, label, w->wb), 1;
    if (strcmp(c->split, split))
        return snprintf(w->msg, w->cap, "item '%s' is in split '%s' in %s, '%s' in %s", it->path, c->split, w->wa, split, w->wb), 1;
    if (c->has_hash != it->has_hash || (c->has_hash && memcmp(c->sha256, it->sha256, 32)))
        return snprintf(w->msg, w->cap, "item '%s' has other bytes in %s than in %s (%s)", it->path, w->wa, w->wb,
                        c->has_hash && it->has_hash ? "another SHA-256" : "unreadable in one of them"), 1;
    w->k++;
    return 0;
}

/* The catalog of `where` (the destination's handle when it is dst_dir), read-only otherwise. */
static int open_where(fc_catalog *dst, const char *dst_dir, const char *where, fc_catalog **cat, fc_error *err) {
    if (where == dst_dir) { *cat = dst; return 0; }
    return fc_merge_open_src(where, cat, err);
}

/* Calls fn for the items of data set `name` in cat (none when cat has no such data set). */
static int items_of(fc_catalog *cat, const char *name, fc_catalog_item_fn fn, void *user, fc_error *err) {
    int64_t id = 0;
    int rc = fc_catalog_dataset_find(cat, name, &id, err);
    if (rc < 0) return rc;
    return rc ? fc_catalog_item_list(cat, id, FC_ITEMS_ALL, fn, user, err) : 0;
}

/* The refusal of data set `name`, defined differently in wa and wb: names the first item that
 * differs. */
static int refuse_dataset(fc_catalog *dst, const fc_merge_options *o, const char *name, const char *wa, const char *wb,
                          fc_error *err) {
    fc_catalog *ca = NULL, *cb = NULL;
    fc_merge_items a = {0};
    char what[700] = "";
    diff_walk w = {.a = &a, .wa = wa, .wb = wb, .msg = what, .cap = sizeof what};
    int rc = open_where(dst, o->dst, wa, &ca, err);
    if (rc == 0) rc = open_where(dst, o->dst, wb, &cb, err);
    if (rc == 0 && (rc = items_of(ca, name, fc_merge_items_add, &a, err)) == FC_ENOMEM) rc = fc_fail(err, FC_ENOMEM, "out of memory");
    if (rc == 0) rc = items_of(cb, name, diff_item, &w, err);
    if (rc == 0 && !what[0] && w.k < a.n)
        snprintf(what, sizeof what, "item '%s' is in %s, not in %s", a.it[w.k].path, wa, wb);
    if (rc >= 0)
        rc = fc_fail(err, FC_EINVAL, "data set '%s' is not the same in %s and %s: %s. Nothing was merged: give one "
                     "of them another name (extract --name), or merge into another cache (an unfinished extract "
                     "lists only part of a data set: run it again first)", name, wa, wb, what[0] ? what : "their items differ");
    if (ca != dst) fc_catalog_close(ca);
    if (cb != dst) fc_catalog_close(cb);
    fc_merge_items_free(&a);
    return rc;
}

/* ---- definitions -------------------------------------------------------------------------- */

/* Adds data set `name` of `where` with its digest, or compares it with the definition seen first. */
static int add_dataset(defs *d, fc_catalog *dst, const char *name, fc_sha256 *s, const char *where, fc_error *err) {
    uint8_t digest[32];
    fc_sha256_final(s, digest);
    for (size_t i = 0; i < d->n_ds; i++) {
        if (strcmp(d->ds[i].name, name) != 0) continue;
        if (memcmp(d->ds[i].digest, digest, 32) == 0) return 0;
        return refuse_dataset(dst, d->o, name, d->ds[i].where, where, err);
    }
    ds_def *nd = grow(d->ds, &d->cap_ds, d->n_ds, sizeof *d->ds);
    if (!nd) return fc_fail(err, FC_ENOMEM, "out of memory");
    d->ds = nd;
    ds_def *x = &d->ds[d->n_ds];
    if (!(x->name = strdup(name))) return fc_fail(err, FC_ENOMEM, "out of memory");
    memcpy(x->digest, digest, 32);
    x->where = where;
    d->n_ds++;
    return 0;
}

/* Every data set of cat (the catalog of `where`) against the definitions; a source's data sets and
 * bad items into src (NULL for the destination). */
static int check_datasets(defs *d, fc_catalog *dst, fc_catalog *cat, const char *where, fc_merge_source *src,
                          fc_error *err) {
    fc_merge_datasets l;
    int rc = fc_merge_list_datasets(cat, &l, err);
    if (rc == 0 && src && !(src->bad = calloc(l.n + 1, sizeof *src->bad))) rc = fc_fail(err, FC_ENOMEM, "out of memory");
    for (size_t i = 0; i < l.n && rc == 0; i++) {
        digest_walk w = {.bad = src ? &src->bad[i] : NULL};
        fc_sha256_init(&w.s);
        rc = fc_catalog_item_list(cat, l.d[i].id, FC_ITEMS_ALL, digest_item, &w, err);
        if (rc == FC_ENOMEM) rc = fc_fail(err, FC_ENOMEM, "out of memory");
        if (rc == 0) rc = add_dataset(d, dst, l.d[i].name, &w.s, where, err);
    }
    if (src) src->ds = l; /* freed with the source */
    else fc_merge_datasets_free(&l);
    return rc;
}

typedef struct ex_walk {
    defs *d;
    const char *where;
    fc_error *err;
} ex_walk;

static int check_extractor(void *user, const fc_catalog_extractor *x) {
    ex_walk *w = user;
    defs *d = w->d;
    fc_strbuf t = {0};
    fc_strbuf_printf(&t, "model %s, layer %s, size %d, crop %.9g, preprocess %s, views %s, dtype %s, dims", x->model_sha256,
                     x->layer, x->size, x->crop, x->preprocess, x->views, fc_dtype_name(x->dtype));
    for (int r = 0; r < x->rank; r++) fc_strbuf_printf(&t, "%s%u", r ? "," : " ", x->dims[r]);
    if (t.failed) { fc_strbuf_free(&t); return fc_fail(w->err, FC_ENOMEM, "out of memory"); }
    for (size_t i = 0; i < d->n_ex; i++) {
        if (strcmp(d->ex[i].id, x->id) != 0) continue;
        int same = strcmp(d->ex[i].text, t.s) == 0;
        int rc = same ? 0 : fc_fail(w->err, FC_EINVAL, "extractor %.16s.. is not the same in %s (%s) and %s (%s): "
                                    "nothing was merged", x->id, d->ex[i].where, d->ex[i].text, w->where, t.s);
        fc_strbuf_free(&t);
        return rc;
    }
    ex_def *ne = grow(d->ex, &d->cap_ex, d->n_ex, sizeof *d->ex);
    if (!ne) {
        fc_strbuf_free(&t);
        return fc_fail(w->err, FC_ENOMEM, "out of memory");
    }
    d->ex = ne;
    ex_def *e = &d->ex[d->n_ex++];
    memcpy(e->id, x->id, sizeof e->id);
    e->text = t.s;
    e->where = w->where;
    return 0;
}

typedef struct run_walk {
    fc_merge_report *rep;
    const fc_merge_options *o;
    const char *where;
} run_walk;

static int count_unfinished(void *user, const fc_catalog_run *r) {
    run_walk *w = user;
    if (r->status != FC_RUN_RUNNING) return 0;
    w->rep->runs_unfinished++;
    if (w->o->note) {
        char msg[600];
        snprintf(msg, sizeof msg, "%s: run %lld (%s) is still marked running: if its process was killed, "
                 "its data set may be listed only in part", w->where, (long long)r->id, fc_run_kind_name(r->kind));
        w->o->note(w->o->user, msg);
    }
    return 0;
}

/* One catalog: verify's checks, then its definitions against those seen so far (src: see
 * check_datasets). */
static int check_catalog(defs *d, fc_catalog *dst, fc_catalog *cat, const char *where, fc_merge_source *src,
                         fc_error *err) {
    int rc = fc_catalog_check_clean(cat, err);
    if (rc) return rc;
    ex_walk ew = {d, where, err};
    if ((rc = check_datasets(d, dst, cat, where, src, err)) ||
        (rc = fc_catalog_extractor_list(cat, check_extractor, &ew, err)))
        return rc;
    run_walk rw = {d->rep, d->o, where};
    return src ? fc_catalog_run_list(cat, count_unfinished, &rw, err) : 0;
}

int fc_merge_catalog_check(fc_catalog *dst, const fc_merge_options *o, fc_merge_source *srcs, fc_merge_report *rep,
                           fc_error *err) {
    defs d = {.rep = rep, .o = o};
    int rc = dst ? check_catalog(&d, dst, dst, o->dst, NULL, err) : 0;
    for (size_t s = 0; s < o->n_srcs && rc == 0; s++) {
        fc_catalog *cat = NULL;
        rc = fc_merge_open_src(o->srcs[s], &cat, err);
        if (rc == 0) rc = check_catalog(&d, dst, cat, o->srcs[s], &srcs[s], err);
        fc_catalog_close(cat);
    }
    for (size_t i = 0; i < d.n_ds; i++) free(d.ds[i].name);
    for (size_t i = 0; i < d.n_ex; i++) free(d.ex[i].text);
    free(d.ds);
    free(d.ex);
    return rc;
}
