/* verify and gc (see maint.h). Hash sets are sorted arrays searched with bsearch: a cache holds at
 * most millions of items, and both walks are in key order anyway. */
#include "store/maint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/hash.h"
#include "store/runs.h"

typedef struct hashset {
    uint8_t (*h)[32];
    size_t n, cap;
    int failed;
} hashset;

static int hs_add(hashset *s, const uint8_t *h) {
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 1024;
        uint8_t(*nh)[32] = realloc(s->h, cap * 32);
        if (!nh) { s->failed = 1; return FC_ENOMEM; }
        s->h = nh;
        s->cap = cap;
    }
    memcpy(s->h[s->n++], h, 32);
    return 0;
}

static int cmp32(const void *a, const void *b) { return memcmp(a, b, 32); }

static void hs_sort(hashset *s) {
    if (s->n > 1) qsort(s->h, s->n, 32, cmp32);
    size_t k = 0; /* dedupe */
    for (size_t i = 0; i < s->n; i++)
        if (k == 0 || memcmp(s->h[k - 1], s->h[i], 32)) memmove(s->h[k++], s->h[i], 32);
    s->n = k;
}

static int hs_has(const hashset *s, const uint8_t *h) { return s->n && bsearch(h, s->h, s->n, 32, cmp32) != NULL; }

static int add_hash(void *user, const uint8_t sha[32]) { return hs_add(user, sha); }

/* Known extractors (all in the catalog) and used ones (named by some data set's extract runs). */
typedef struct extractor_sets {
    hashset known, used;
    fc_catalog *cat;
} extractor_sets;

/* The catalog takes only 64-hex-digit ids, so a malformed one was edited in by hand; it names no
 * stored key (keys hold the decoded bytes), so skipping it changes no verdict. */
static int add_known(void *user, const fc_catalog_extractor *x) {
    uint8_t h[32];
    return fc_hex_decode(x->id, h, 32, NULL) ? 0 : hs_add(&((extractor_sets *)user)->known, h);
}

static int add_used(void *user, const char *id) { /* as add_known */
    uint8_t h[32];
    return fc_hex_decode(id, h, 32, NULL) ? 0 : hs_add(user, h);
}

typedef struct ds_ids { int64_t *id; size_t n, cap; } ds_ids;

static int add_ds(void *user, const fc_catalog_dataset *d) {
    ds_ids *s = user;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        int64_t *ni = realloc(s->id, cap * sizeof *ni);
        if (!ni) return FC_ENOMEM;
        s->id = ni;
        s->cap = cap;
    }
    s->id[s->n++] = d->id;
    return 0;
}

static int load_sets(fc_catalog *cat, extractor_sets *ex, hashset *items, ds_ids *ds, fc_error *err) {
    int rc;
    if ((rc = fc_catalog_extractor_list(cat, add_known, ex, err)) ||
        (rc = fc_catalog_item_hashes(cat, add_hash, items, err)) ||
        (rc = fc_catalog_dataset_list(cat, add_ds, ds, err)))
        return rc;
    for (size_t i = 0; i < ds->n; i++)
        if ((rc = fc_catalog_dataset_extractors(cat, ds->id[i], add_used, &ex->used, err))) return rc;
    if (ex->known.failed || ex->used.failed || items->failed) return fc_fail(err, FC_ENOMEM, "out of memory");
    hs_sort(&ex->known);
    hs_sort(&ex->used);
    hs_sort(items);
    return 0;
}

typedef struct verify_state {
    fc_verify_report *rep;
    const hashset *known, *items;
    void (*problem)(void *, const char *);
    void *user;
    size_t reported;
} verify_state;

static void say(verify_state *v, const char *msg) {
    if (v->problem && v->reported++ < 1000) v->problem(v->user, msg);
}

static int visit_value(void *user, const fc_feature_key *key, const fc_feature_view *view,
                       const fc_error *problem) {
    verify_state *v = user;
    v->rep->values++;
    if (problem) {
        char msg[700];
        snprintf(msg, sizeof msg, "corrupt feature: %s", problem->msg);
        say(v, msg);
        v->rep->corrupt++;
    } else if (!hs_has(v->known, key->extractor) || !hs_has(v->items, key->item)) {
        v->rep->orphans++;
    }
    return 0;
}

typedef struct missing_state {
    verify_state *v;
    fc_cache *cache;
    uint8_t extractor[32];
    const char *ex_hex, *dataset;
    int rc;
    fc_error *err;
} missing_state;

static int check_item(void *user, const fc_catalog_item *it) {
    missing_state *m = user;
    if (it->status != FC_ITEM_OK) return 0;
    fc_feature_key k = {.view = 0};
    memcpy(k.extractor, m->extractor, 32);
    memcpy(k.item, it->sha256, 32);
    uint8_t present = 0;
    int rc = fc_cache_exists(m->cache, &k, 1, &present, NULL, m->err);
    if (rc) return m->rc = rc;
    if (!present) {
        char msg[700];
        snprintf(msg, sizeof msg, "missing feature: data set '%s' item %s, extractor %.12s (rerun featcache extract)",
                 m->dataset, it->path, m->ex_hex);
        say(m->v, msg);
        m->v->rep->missing++;
    }
    return 0;
}

typedef struct ds_info { int64_t id; char name[256]; } ds_info;

static int collect_info(void *user, const fc_catalog_dataset *d) {
    ds_info **pp = user;
    ds_info *p = *pp;
    p->id = d->id;
    snprintf(p->name, sizeof p->name, "%s", d->name);
    *pp = p + 1;
    return 0;
}

typedef struct id_list { char (*id)[65]; size_t n, cap; } id_list;

static int add_id(void *user, const char *id) {
    id_list *l = user;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        char(*ni)[65] = realloc(l->id, cap * 65);
        if (!ni) return FC_ENOMEM;
        l->id = ni;
        l->cap = cap;
    }
    snprintf(l->id[l->n++], 65, "%s", id);
    return 0;
}

/* A data set whose last extract with extractor ex_hex did not finish: said, counted (no damage:
 * the next extract completes it). */
static int check_finished(verify_state *v, fc_catalog *cat, const ds_info *d, const char *ex_hex, fc_error *err) {
    fc_extract_state st;
    int rc = fc_extract_last(cat, d->id, ex_hex, &st, err);
    if (rc || fc_extract_finished(&st)) return rc;
    char msg[700];
    snprintf(msg, sizeof msg, "note: data set '%s' is incomplete for extractor %.12s: its last extract (run #%lld) %s "
             "(featcache extract completes it)", d->name, ex_hex, (long long)st.run_id,
             st.status == FC_RUN_FAILED ? (st.error[0] ? st.error : "failed")
             : st.alive > 0 ? "is running" : "did not finish (killed)");
    say(v, msg);
    v->rep->incomplete++;
    return 0;
}

static int catalog_problem(void *user, const char *what, int64_t count, const char *example) {
    char msg[700];
    snprintf(msg, sizeof msg, "catalog: %lld %s (first: %s)", (long long)count, what, example ? example : "-");
    say(user, msg);
    return 0;
}

static int count_unfinished(void *user, const fc_catalog_run *r) {
    if (r->status == FC_RUN_RUNNING) (*(size_t *)user)++;
    return 0;
}

int fc_verify(fc_catalog *cat, fc_cache *cache, void (*problem)(void *user, const char *msg), void *user,
              fc_verify_report *rep, fc_error *err) {
    memset(rep, 0, sizeof *rep);
    extractor_sets ex = {.cat = cat};
    hashset items = {0};
    ds_ids ds = {0};
    ds_info *info = NULL;
    int rc = load_sets(cat, &ex, &items, &ds, err);
    if (rc) goto out;
    rep->extractors = ex.known.n;
    rep->items = items.n;
    rep->datasets = ds.n;
    verify_state v = {.rep = rep, .known = &ex.known, .items = &items, .problem = problem, .user = user};
    if ((rc = fc_cache_foreach(cache, NULL, FC_CACHE_VISIT_VERIFY, visit_value, &v, err))) goto out;
    info = calloc(ds.n + 1, sizeof *info);
    if (!info) { rc = fc_fail(err, FC_ENOMEM, "out of memory"); goto out; }
    ds_info *fill = info;
    if ((rc = fc_catalog_dataset_list(cat, collect_info, &fill, err))) goto out;
    for (size_t d = 0; d < ds.n && rc == 0; d++) {
        id_list ids = {0};
        rc = fc_catalog_dataset_extractors(cat, info[d].id, add_id, &ids, err);
        for (size_t e = 0; e < ids.n && rc == 0; e++) {
            missing_state m = {.v = &v, .cache = cache, .ex_hex = ids.id[e], .dataset = info[d].name, .err = err};
            if (fc_hex_decode(ids.id[e], m.extractor, 32, NULL)) continue; /* as add_known */
            rc = fc_catalog_item_list(cat, info[d].id, FC_ITEMS_OK, check_item, &m, err);
            if (!rc) rc = m.rc;
            if (!rc) rc = check_finished(&v, cat, &info[d], ids.id[e], err);
        }
        free(ids.id);
    }
    if (rc == 0) rc = fc_catalog_run_list(cat, count_unfinished, &rep->unfinished_runs, err);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (rc == 0) rc = fc_catalog_check(cat, catalog_problem, &v, &rep->catalog_problems, err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    rep->catalog_seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
out:
    free(info);
    free(ex.known.h);
    free(ex.used.h);
    free(items.h);
    free(ds.id);
    return rc;
}

typedef struct gc_state {
    const hashset *used, *items, *drop;
    hashset dead_items, dead_extractors;
    size_t doomed; /* stored values gc deletes: those of dead extractors, then the dead items' */
} gc_state;

static int visit_gc(void *user, const fc_feature_key *key, const fc_feature_view *view,
                    const fc_error *problem) {
    gc_state *g = user;
    if (!hs_has(g->used, key->extractor) || hs_has(g->drop, key->extractor)) {
        g->doomed++;
        if (!g->dead_extractors.n || memcmp(g->dead_extractors.h[g->dead_extractors.n - 1], key->extractor, 32))
            return hs_add(&g->dead_extractors, key->extractor);
    } else if (!hs_has(g->items, key->item)) {
        g->doomed++; /* every view of the item: each its own value */
        return hs_add(&g->dead_items, key->item);
    }
    return 0;
}

int fc_gc(fc_catalog *cat, fc_cache *cache, int dry_run, const char *const *drop, size_t n_drop, fc_gc_report *rep,
          fc_error *err) {
    memset(rep, 0, sizeof *rep);
    extractor_sets ex = {.cat = cat};
    hashset items = {0}, dropped = {0};
    ds_ids ds = {0};
    gc_state g = {0};
    /* what to delete is decided by the catalog's rows: a damaged one must not decide */
    int rc = fc_catalog_check_clean(cat, err);
    if (rc == FC_EFORMAT) fc_error_prefix(err, "gc deletes nothing: ");
    if (rc == 0) rc = load_sets(cat, &ex, &items, &ds, err);
    if (rc) goto out;
    for (size_t i = 0; i < n_drop; i++) add_used(&dropped, drop[i]);
    if (dropped.failed) { rc = fc_fail(err, FC_ENOMEM, "out of memory"); goto out; }
    hs_sort(&dropped);
    g.used = &ex.used;
    g.items = &items;
    g.drop = &dropped;
    if ((rc = fc_cache_foreach(cache, NULL, 0, visit_gc, &g, err))) goto out;
    if (g.dead_items.failed || g.dead_extractors.failed) { rc = fc_fail(err, FC_ENOMEM, "out of memory"); goto out; }
    hs_sort(&g.dead_items);
    hs_sort(&g.dead_extractors);
    rep->items_unreferenced = g.dead_items.n;
    rep->extractors_removed = g.dead_extractors.n;
    if (dry_run) { /* exactly what the deletions below delete: the walk counted every value */
        rep->features_deleted = g.doomed;
        goto out;
    }
    for (size_t i = 0; i < g.dead_extractors.n && rc == 0; i++) {
        size_t n = 0;
        rc = fc_cache_delete_extractor(cache, g.dead_extractors.h[i], &n, err);
        char hex[65];
        fc_hex_encode(g.dead_extractors.h[i], 32, hex);
        fc_error ignored; /* its features are gone; a row left behind is removed by the next gc */
        if (rc == 0 && hs_has(&ex.known, g.dead_extractors.h[i])) fc_catalog_extractor_delete(cat, hex, &ignored);
        rep->features_deleted += n;
    }
    if (rc == 0 && g.dead_items.n) {
        size_t n = 0;
        if ((rc = fc_cache_delete_items(cache, (const uint8_t(*)[32])g.dead_items.h, g.dead_items.n, &n, err)) == 0)
            rep->features_deleted += n;
    }
out:
    free(ex.known.h);
    free(ex.used.h);
    free(items.h);
    free(ds.id);
    free(g.dead_items.h);
    free(g.dead_extractors.h);
    free(dropped.h);
    return rc;
}
