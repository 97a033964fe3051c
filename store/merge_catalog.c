/* fc_merge_catalog_write (merge_int.h): the sources' catalog rows into the destination's, in one
 * transaction, by statements of its own on the destination's connection (catalog_db.h): rows keep
 * their creation times, ids are remapped (data sets by name, runs by a new id), row checksums are
 * computed for the rows as written, and what is already there is left (a data set by name, an
 * extractor by id, an item by data set and path, a run by kind, start, parameters and extractor).
 * An item that a source recorded bad becomes bad. Not here: deciding that the definitions agree
 * (merge_check.c, run before), the values (merge_values.c). */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "store/catalog.h"
#include "store/catalog_db.h"
#include "store/merge_int.h"

enum { Q_BEGIN, Q_COMMIT, Q_ROLLBACK, Q_DS_INSERT, Q_DS_ID, Q_EX_INSERT, Q_ITEM_UPSERT, Q_RUN_FIND, Q_RUN_INSERT,
       Q_ITEM_COUNT, Q_COUNT };

/* Constant text only, as every statement of the catalog (catalog.c): data travels through binds. */
static const char *const SQL[Q_COUNT] = {
    [Q_BEGIN] = "BEGIN IMMEDIATE",
    [Q_COMMIT] = "COMMIT",
    [Q_ROLLBACK] = "ROLLBACK",
    [Q_DS_INSERT] = "INSERT INTO datasets (name, root, format, created, crc) VALUES (?1, ?2, ?3, ?4, "
                    "fc_row_crc(?1, ?2, ?3, ?4)) ON CONFLICT (name) DO NOTHING",
    [Q_DS_ID] = "SELECT id FROM datasets WHERE name = ?1",
    [Q_EX_INSERT] = "INSERT INTO extractors (id, model_path, model_sha256, layer, size, crop, preprocess, views, dtype, "
                    "dims, created, crc) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, "
                    "fc_row_crc(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)) ON CONFLICT (id) DO NOTHING",
    /* seen 0: no extract of this cache has seen the file yet (the next one stamps it) */
    [Q_ITEM_UPSERT] = "INSERT INTO items (dataset_id, path, sha256, label, split, status, error, size, mtime, seen, crc) "
                      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 0, fc_item_crc(?1, ?2, ?3, ?4, ?5, ?6)) "
                      "ON CONFLICT (dataset_id, path) DO UPDATE SET status = 'bad', error = excluded.error, "
                      "crc = fc_item_crc(dataset_id, path, sha256, label, split, 'bad') "
                      "WHERE excluded.status = 'bad' AND items.status = 'ok'",
    [Q_RUN_FIND] = "SELECT 1 FROM runs WHERE kind = ?1 AND started = ?2 AND params IS ?3 AND extractor_id IS ?4 LIMIT 1",
    [Q_RUN_INSERT] = "INSERT INTO runs (kind, dataset_id, extractor_id, started, finished, params, result, status, crc) "
                     "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, fc_row_crc(?1, ?4, ?5, ?6, ?7, ?8))",
    [Q_ITEM_COUNT] = "SELECT count(*) FROM items",
};

typedef struct writer {
    fc_catalog *dst;
    sqlite3 *db;
    sqlite3_stmt *q[Q_COUNT];
    fc_merge_report *rep;
    const fc_merge_source *src; /* the current source's data sets and bad items (from the check) */
    int64_t *dst_id;            /* (src->ds.n) its data sets' ids in the destination */
    int64_t ds_id;            /* the destination id of the data set whose items are being copied */
    int64_t item_changes;     /* rows inserted or turned bad */
    fc_error *err;
} writer;

static int bind_text(sqlite3_stmt *s, int i, const char *t) {
    return t ? sqlite3_bind_text(s, i, t, -1, SQLITE_STATIC) : sqlite3_bind_null(s, i);
}

/* Steps q to its end (a row, when asked for, into *row0: column 0 as an integer); resets it. */
static int run(writer *w, int q, int64_t *row0, const char *what) {
    sqlite3_stmt *s = w->q[q];
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        if (row0) *row0 = sqlite3_column_int64(s, 0);
    rc = rc == SQLITE_DONE ? 0 : fc_catalog_db_fail(w->dst, rc, what, w->err);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return rc;
}

static int insert_extractor(void *user, const fc_catalog_extractor *x) {
    writer *w = user;
    char dims[64];
    fc_catalog_bind_extractor(w->q[Q_EX_INSERT], x, dims, x->created);
    int rc = run(w, Q_EX_INSERT, NULL, "merge: extractor");
    if (rc == 0) w->rep->extractors_added += (size_t)sqlite3_changes(w->db);
    return rc;
}

static int upsert_item(void *user, const fc_catalog_item *it) {
    writer *w = user;
    fc_catalog_bind_item(w->q[Q_ITEM_UPSERT], w->ds_id, it);
    int rc = run(w, Q_ITEM_UPSERT, NULL, "merge: item");
    if (rc) return fc_error_prefix(w->err, "%s: ", it->path);
    w->item_changes += sqlite3_changes(w->db);
    return 0;
}

/* The data sets of the current source, each with its items. A data set already in the destination
 * has the same items there (fc_merge_catalog_check made sure): only its bad ones can change a row. */
static int copy_datasets(writer *w, fc_catalog *src) {
    int rc = 0;
    const fc_merge_datasets *l = &w->src->ds;
    if (!(w->dst_id = calloc(l->n + 1, sizeof *w->dst_id))) return fc_fail(w->err, FC_ENOMEM, "out of memory");
    for (size_t i = 0; i < l->n && rc == 0; i++) {
        const fc_merge_dataset *d = &l->d[i];
        sqlite3_stmt *s = w->q[Q_DS_INSERT];
        bind_text(s, 1, d->name);
        bind_text(s, 2, d->root);
        bind_text(s, 3, d->format);
        sqlite3_bind_int64(s, 4, d->created);
        if ((rc = run(w, Q_DS_INSERT, NULL, "merge: data set"))) break;
        int added = sqlite3_changes(w->db) > 0;
        w->rep->datasets_added += (size_t)added;
        bind_text(w->q[Q_DS_ID], 1, d->name);
        if ((rc = run(w, Q_DS_ID, &w->dst_id[i], "merge: data set"))) break;
        w->ds_id = w->dst_id[i];
        if (added) rc = fc_catalog_item_list(src, d->id, FC_ITEMS_ALL, upsert_item, w, w->err);
        for (size_t k = 0; !added && k < w->src->bad[i].n && rc == 0; k++) rc = upsert_item(w, &w->src->bad[i].it[k]);
    }
    return rc;
}

static int copy_run(void *user, const fc_catalog_run *r) {
    writer *w = user;
    int64_t found = 0, ds = 0;
    for (size_t i = 0; i < w->src->ds.n; i++)
        if (r->dataset_id && w->src->ds.d[i].id == r->dataset_id) ds = w->dst_id[i];
    sqlite3_stmt *f = w->q[Q_RUN_FIND], *s = w->q[Q_RUN_INSERT];
    bind_text(f, 1, fc_run_kind_name(r->kind));
    sqlite3_bind_int64(f, 2, r->started);
    bind_text(f, 3, r->params);
    bind_text(f, 4, r->extractor_id);
    int rc = run(w, Q_RUN_FIND, &found, "merge: run");
    if (rc || found) return rc;
    bind_text(s, 1, fc_run_kind_name(r->kind));
    if (ds) sqlite3_bind_int64(s, 2, ds);
    else sqlite3_bind_null(s, 2);
    bind_text(s, 3, r->extractor_id);
    sqlite3_bind_int64(s, 4, r->started);
    if (r->finished || r->status != FC_RUN_RUNNING) sqlite3_bind_int64(s, 5, r->finished);
    else sqlite3_bind_null(s, 5); /* still running: no end time */
    bind_text(s, 6, r->params);
    bind_text(s, 7, r->result);
    bind_text(s, 8, fc_run_status_name(r->status));
    if ((rc = run(w, Q_RUN_INSERT, NULL, "merge: run")) == 0) w->rep->runs_added++;
    return rc;
}

/* One source's rows: extractors first (runs name them), data sets with their items, runs. */
static int copy_source(writer *w, const char *dir, const fc_merge_source *plan) {
    fc_catalog *src = NULL;
    w->src = plan;
    int rc = fc_merge_open_src(dir, &src, w->err);
    if (rc == 0) rc = fc_catalog_extractor_list(src, insert_extractor, w, w->err);
    if (rc == 0) rc = copy_datasets(w, src);
    if (rc == 0) rc = fc_catalog_run_list(src, copy_run, w, w->err);
    if (rc == FC_ENOMEM) rc = fc_fail(w->err, FC_ENOMEM, "out of memory");
    free(w->dst_id);
    w->dst_id = NULL;
    fc_catalog_close(src);
    return rc;
}

int fc_merge_catalog_write(fc_catalog *dst, const fc_merge_options *o, const fc_merge_source *srcs,
                           fc_merge_report *rep, fc_error *err) {
    sqlite3 *db = fc_catalog_db(dst);
    writer w = {.dst = dst, .db = db, .rep = rep, .err = err};
    if (!db) return fc_fail(err, FC_EINVAL, "merge: the destination catalog is read-only");
    int rc = 0;
    for (int q = 0; q < Q_COUNT && rc == 0; q++)
        if ((rc = sqlite3_prepare_v2(db, SQL[q], -1, &w.q[q], NULL)) != 0)
            rc = fc_catalog_db_fail(dst, rc, "merge: preparing a statement", err);
    int64_t before = 0, after = 0;
    if (rc == 0 && (rc = run(&w, Q_BEGIN, NULL, "merge: begin")) == 0) {
        rc = run(&w, Q_ITEM_COUNT, &before, "merge: counting items");
        for (size_t s = 0; s < o->n_srcs && rc == 0; s++) rc = copy_source(&w, o->srcs[s], &srcs[s]);
        if (rc == 0) rc = run(&w, Q_ITEM_COUNT, &after, "merge: counting items");
        if (rc == 0) rc = run(&w, Q_COMMIT, NULL, "merge: commit");
        if (rc && !sqlite3_get_autocommit(db)) { /* the error above is the one to report */
            sqlite3_step(w.q[Q_ROLLBACK]);
            sqlite3_reset(w.q[Q_ROLLBACK]);
        }
    }
    if (rc == 0) {
        rep->items_added = (size_t)(after - before);
        rep->items_now_bad = (size_t)(w.item_changes - (after - before));
    }
    for (int q = 0; q < Q_COUNT; q++) sqlite3_finalize(w.q[q]);
    return rc;
}
