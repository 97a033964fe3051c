/* Tests for the SQLite catalog (store/catalog.c): schema, WAL mode and the version check, a file
 * that is not a database; idempotent upserts (names quoted literally, rows updated in place, pruning
 * after a rescan); bad items with their reasons and the counts per data set; runs and their states;
 * extractors registered once; foreign keys, cascades, and a batch failing half-way rolled back whole;
 * a writer holding the catalog past the busy timeout (FC_ETIMEOUT).
 * Everything lives in a private temporary folder. */
#include "store/catalog.h"
#include "store/hash.h"

#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tests/support/check.h"
#include "tests/support/store_fixture.h"
#include "tests/support/tmpdir.h"

static int sql_int(const char *db, const char *sql) {
    sqlite3 *h;
    sqlite3_stmt *s;
    int v = -1;
    if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) == 0 &&
        sqlite3_prepare_v2(h, sql, -1, &s, NULL) == 0) {
        if (sqlite3_step(s) == SQLITE_ROW) v = sqlite3_column_int(s, 0);
        sqlite3_finalize(s);
    }
    sqlite3_close(h);
    return v;
}

static void sql_exec(const char *db, const char *sql) {
    sqlite3 *h;
    if (sqlite3_open(db, &h) || sqlite3_exec(h, sql, NULL, NULL, NULL)) abort();
    sqlite3_close(h);
}

static void test_catalog_schema(void) {
    const char *dir = fc_test_path("cat-schema");
    char db[600];
    snprintf(db, sizeof db, "%s/catalog.sqlite", dir);
    fc_catalog *cat = NULL;
    fc_error err = {0};
    CHECK(fc_catalog_open(dir, FC_CATALOG_RDONLY, 0, &cat, &err) == FC_EIO && !cat, "read-only open of nothing");
    REQUIRE(fc_catalog_open(dir, 0, 0, &cat, &err) == 0, "%s", err.msg);
    int64_t id;
    CHECK(fc_catalog_dataset_upsert(cat, "a", "/a", "csv", &id, &err) == 0, "%s", err.msg);
    fc_catalog_close(cat);
    CHECK(sql_int(db, "PRAGMA user_version") == FC_CATALOG_SCHEMA_VERSION, "user_version");
    CHECK(sql_int(db, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name IN "
                      "('datasets', 'items', 'extractors', 'runs')") == 4,
          "tables");
    CHECK(sql_int(db, "SELECT count(*) FROM pragma_foreign_key_list('items') WHERE \"table\" = 'datasets'") == 1,
          "items -> datasets foreign key");
    sqlite3 *h;
    sqlite3_stmt *s;
    REQUIRE(sqlite3_open(db, &h) == 0 && sqlite3_prepare_v2(h, "PRAGMA journal_mode", -1, &s, NULL) == 0, "sqlite");
    CHECK(sqlite3_step(s) == SQLITE_ROW && strcmp((const char *)sqlite3_column_text(s, 0), "wal") == 0, "WAL");
    sqlite3_finalize(s);
    sqlite3_close(h);
    REQUIRE(fc_catalog_open(dir, 0, 0, &cat, &err) == 0, "reopen: %s", err.msg);
    int64_t id2;
    CHECK(fc_catalog_dataset_find(cat, "a", &id2, &err) == 1 && id2 == id, "data kept on reopen");
    fc_catalog_close(cat);
    sql_exec(db, "PRAGMA user_version = 99");
    CHECK(fc_catalog_open(dir, 0, 0, &cat, &err) == FC_EUNSUPPORTED && strstr(err.msg, "99"), "newer: %s", err.msg);
    const char *dir2 = fc_test_path("cat-garbage");
    mkdir(dir2, 0755);
    char junk[600];
    snprintf(junk, sizeof junk, "%s/catalog.sqlite", dir2);
    FILE *f = fopen(junk, "wb");
    REQUIRE(f, "junk");
    for (int i = 0; i < 4096; i++) fputc(i * 7, f);
    fclose(f);
    int rc = fc_catalog_open(dir2, 0, 0, &cat, &err);
    CHECK(rc == FC_EFORMAT && strstr(err.msg, "catalog.sqlite"), "not a database: %d %s", rc, err.msg);
}

struct item_list {
    int n;
    int64_t ids[16];
    char paths[16][64], labels[16][16], errors[16][80];
    int status[16], has_hash[16];
};

static int item_cb(void *u, const fc_catalog_item *it) {
    struct item_list *l = u;
    if (l->n == 16) return 1;
    l->ids[l->n] = it->id;
    snprintf(l->paths[l->n], 64, "%s", it->path);
    snprintf(l->labels[l->n], 16, "%s", it->label);
    snprintf(l->errors[l->n], 80, "%s", it->error ? it->error : "");
    l->status[l->n] = it->status;
    l->has_hash[l->n] = it->has_hash;
    l->n++;
    return 0;
}

static fc_catalog_item item(const char *path, const char *label, int h) {
    fc_catalog_item it = {.path = path, .label = label, .split = "train", .status = FC_ITEM_OK,
                          .has_hash = 1, .size = 100 + h, .mtime = 1700000000000000000LL};
    fc_sha256_digest(&h, sizeof h, it.sha256);
    return it;
}

static void test_catalog_upserts_idempotent(void) {
    fc_catalog *cat = NULL;
    fc_error err = {0};
    REQUIRE(fc_catalog_open(fc_test_path("cat-upsert"), 0, 0, &cat, &err) == 0, "%s", err.msg);
    int64_t id1, id2;
    CHECK(fc_catalog_dataset_upsert(cat, "ants", "/data/a", "split", &id1, &err) == 0, "%s", err.msg);
    CHECK(fc_catalog_dataset_upsert(cat, "ants", "/moved/a", "split", &id2, &err) == 0 && id1 == id2,
          "same id %lld %lld", (long long)id1, (long long)id2);
    const char *evil = "x'); DROP TABLE items; --";
    int64_t id3;
    CHECK(fc_catalog_dataset_upsert(cat, evil, "/e", "csv", &id3, &err) == 0 && id3 != id1, "quoted name");
    fc_catalog_item its[3] = {item("train/bees/b.jpg", "bees", 2), item("train/ants/a.jpg", "ants", 1),
                              item("val/ants/c.jpg", "ants", 3)};
    its[2].split = "val";
    struct item_list l1 = {0}, l2 = {0};
    CHECK(fc_catalog_item_upsert(cat, id1, its, 3, 1, &err) == 0, "%s", err.msg);
    CHECK(fc_catalog_item_list(cat, id1, FC_ITEMS_ALL, item_cb, &l1, &err) == 0, "%s", err.msg);
    CHECK(fc_catalog_item_upsert(cat, id1, its, 3, 1, &err) == 0, "%s", err.msg);
    CHECK(fc_catalog_item_list(cat, id1, FC_ITEMS_ALL, item_cb, &l2, &err) == 0, "%s", err.msg);
    CHECK(l1.n == 3 && l2.n == 3 && memcmp(l1.ids, l2.ids, sizeof l1.ids) == 0, "same rows after a repeat");
    CHECK(strcmp(l1.paths[0], "train/ants/a.jpg") == 0 && strcmp(l1.paths[2], "val/ants/c.jpg") == 0,
          "ordered by path: %s", l1.paths[0]);
    its[1].label = "wasps";
    CHECK(fc_catalog_item_upsert(cat, id1, its, 3, 1, &err) == 0, "%s", err.msg);
    struct item_list l3 = {0};
    fc_catalog_item_list(cat, id1, FC_ITEMS_ALL, item_cb, &l3, &err);
    CHECK(l3.ids[0] == l1.ids[0] && strcmp(l3.labels[0], "wasps") == 0, "updated in place: %s", l3.labels[0]);
    /* check the stored hash and fields through a second list */
    int64_t dsn[2] = {0, 0};
    CHECK(fc_catalog_dataset_list(cat, fx_count_datasets, dsn, &err) == 0 && dsn[0] == 2 && dsn[1] == 3,
          "%lld data sets %lld items", (long long)dsn[0], (long long)dsn[1]);
    int64_t found;
    CHECK(fc_catalog_dataset_find(cat, evil, &found, &err) == 1 && found == id3, "evil name found literally");
    CHECK(fc_catalog_dataset_find(cat, "nope", &found, &err) == 0, "absent");
    /* prune: a rescan (stamp 2) that no longer sees c.jpg */
    CHECK(fc_catalog_item_upsert(cat, id1, its, 2, 2, &err) == 0, "%s", err.msg);
    int64_t removed = 0;
    CHECK(fc_catalog_item_prune(cat, id1, 2, &removed, &err) == 0 && removed == 1, "pruned %lld", (long long)removed);
    fc_catalog_close(cat);
}

static int hash_cb(void *u, const uint8_t h[32]) {
    (void)h;
    ++*(int *)u;
    return 0;
}

static int ds_cb(void *u, const fc_catalog_dataset *d) {
    *(fc_catalog_dataset *)u = *d;
    ((fc_catalog_dataset *)u)->name = NULL;
    ((fc_catalog_dataset *)u)->root = NULL;
    ((fc_catalog_dataset *)u)->format = NULL;
    return 0;
}

static void test_catalog_bad_items(void) {
    fc_catalog *cat = NULL;
    fc_error err = {0};
    REQUIRE(fc_catalog_open(fc_test_path("cat-bad"), 0, 0, &cat, &err) == 0, "%s", err.msg);
    int64_t ds;
    REQUIRE(fc_catalog_dataset_upsert(cat, "hym", "/h", "split", &ds, &err) == 0, "%s", err.msg);
    fc_catalog_item its[3] = {item("a.jpg", "ants", 1), item("b.jpg", "bees", 2), item("c.gif", "bees", 3)};
    its[2].status = FC_ITEM_BAD;
    its[2].has_hash = 0;
    its[2].error = "c.gif: unsupported format (looks like GIF)";
    REQUIRE(fc_catalog_item_upsert(cat, ds, its, 3, 1, &err) == 0, "%s", err.msg);
    CHECK(fc_catalog_item_mark_bad(cat, ds, "b.jpg", "b.jpg: Premature end of JPEG file", &err) == 0, "%s", err.msg);
    CHECK(fc_catalog_item_mark_bad(cat, ds, "zzz.jpg", "x", &err) == FC_EINVAL && strstr(err.msg, "zzz.jpg"),
          "unknown item: %s", err.msg);
    struct item_list bad = {0}, ok = {0};
    CHECK(fc_catalog_item_list(cat, ds, FC_ITEMS_BAD, item_cb, &bad, &err) == 0, "%s", err.msg);
    CHECK(bad.n == 2 && strstr(bad.errors[0], "Premature end") && strstr(bad.errors[1], "GIF") &&
              bad.status[0] == FC_ITEM_BAD && bad.has_hash[0] && !bad.has_hash[1],
          "bad list: %d '%s' '%s'", bad.n, bad.errors[0], bad.errors[1]);
    CHECK(fc_catalog_item_list(cat, 0, FC_ITEMS_OK, item_cb, &ok, &err) == 0 && ok.n == 1 &&
              strcmp(ok.paths[0], "a.jpg") == 0,
          "ok list over all data sets");
    fc_catalog_dataset d = {0};
    CHECK(fc_catalog_dataset_list(cat, ds_cb, &d, &err) == 0 && d.items == 3 && d.ok == 1 && d.bad == 2 &&
              d.classes == 2,
          "counts %lld/%lld/%lld classes %lld", (long long)d.items, (long long)d.ok, (long long)d.bad,
          (long long)d.classes);
    int nh = 0;
    CHECK(fc_catalog_item_hashes(cat, hash_cb, &nh, &err) == 0 && nh == 1, "hashes of ok items: %d", nh);
    /* validation happens before any write */
    fc_catalog_item more[2] = {item("d.jpg", "ants", 4), item("e.jpg", "ants", 5)};
    more[1].has_hash = 0;
    CHECK(fc_catalog_item_upsert(cat, ds, more, 2, 1, &err) == FC_EINVAL && strstr(err.msg, "e.jpg"),
          "ok without hash: %s", err.msg);
    CHECK(fc_catalog_dataset_list(cat, ds_cb, &d, &err) == 0 && d.items == 3, "nothing inserted");
    fc_catalog_close(cat);
}

struct run_seen {
    int n;
    int64_t dataset_id;
    int kind, status, has_ext, finished;
    char params[64], result[64];
};

static int run_cb(void *u, const fc_catalog_run *r) {
    struct run_seen *s = u;
    s->n++;
    s->dataset_id = r->dataset_id;
    s->kind = r->kind;
    s->status = r->status;
    s->has_ext = r->extractor_id != NULL;
    s->finished = r->finished != 0;
    snprintf(s->params, sizeof s->params, "%s", r->params ? r->params : "");
    snprintf(s->result, sizeof s->result, "%s", r->result ? r->result : "");
    return 0;
}

static int id_cb(void *u, const char *id) {
    snprintf(u, 65, "%s", id);
    return 0;
}

static fc_catalog_extractor extractor(const char *layer) {
    fc_catalog_extractor x = {.model_path = "/m/mobilenet.onnx", .layer = layer, .size = 224, .crop = 0.875,
                              .preprocess = "tf", .views = "orig", .dtype = FC_DTYPE_F16, .rank = 1,
                              .dims = {1280}};
    static char model_hex[65];
    uint8_t h[32];
    fc_sha256_digest("model", 5, h);
    fc_hex_encode(h, 32, model_hex);
    x.model_sha256 = model_hex;
    fc_sha256_digest(layer, strlen(layer), h);
    fc_hex_encode(h, 32, x.id);
    return x;
}

static void test_catalog_runs(void) {
    fc_catalog *cat = NULL;
    fc_error err = {0};
    REQUIRE(fc_catalog_open(fc_test_path("cat-runs"), 0, 0, &cat, &err) == 0, "%s", err.msg);
    int64_t ds, run;
    REQUIRE(fc_catalog_dataset_upsert(cat, "d", "/d", "csv", &ds, &err) == 0, "%s", err.msg);
    fc_catalog_extractor x = extractor("pool");
    REQUIRE(fc_catalog_extractor_register(cat, &x, &err) == 0, "%s", err.msg);
    CHECK(fc_catalog_run_begin(cat, FC_RUN_EXTRACT, ds, x.id, "{\"batch\": 16}", &run, &err) == 0, "%s", err.msg);
    struct run_seen s = {0};
    fc_catalog_run_list(cat, run_cb, &s, &err);
    CHECK(s.n == 1 && s.status == FC_RUN_RUNNING && !s.finished && s.kind == FC_RUN_EXTRACT && s.dataset_id == ds,
          "running run");
    CHECK(fc_catalog_run_finish(cat, run, FC_RUN_PARTIAL, "{\"computed\": 397, \"bad\": 1}", &err) == 0, "%s", err.msg);
    CHECK(fc_catalog_run_finish(cat, run, FC_RUN_OK, NULL, &err) == FC_EINVAL && strstr(err.msg, "already finished"),
          "second finish: %s", err.msg);
    CHECK(fc_catalog_run_finish(cat, run, FC_RUN_RUNNING, NULL, &err) == FC_EINVAL, "finish as running");
    memset(&s, 0, sizeof s);
    fc_catalog_run_list(cat, run_cb, &s, &err);
    CHECK(s.n == 1 && s.status == FC_RUN_PARTIAL && s.finished && strstr(s.result, "397") &&
              strstr(s.params, "batch") && s.has_ext,
          "finished run: status %d result '%s'", s.status, s.result);
    int64_t r2;
    CHECK(fc_catalog_run_begin(cat, FC_RUN_TRAIN, ds, NULL, "{not json", &r2, &err) == FC_EINVAL, "bad JSON: %s",
          err.msg);
    CHECK(fc_catalog_run_begin(cat, FC_RUN_TRAIN, 999, NULL, NULL, &r2, &err) == FC_EINVAL &&
              strstr(err.msg, "FOREIGN KEY"),
          "unknown data set: %s", err.msg);
    fc_catalog_extractor y = extractor("unregistered");
    CHECK(fc_catalog_run_begin(cat, FC_RUN_EXTRACT, ds, y.id, NULL, &r2, &err) == FC_EINVAL, "unknown extractor");
    char id[65] = "";
    CHECK(fc_catalog_dataset_extractors(cat, ds, id_cb, id, &err) == 0 && strcmp(id, x.id) == 0,
          "extractors of the data set: '%s'", id);
    CHECK(strcmp(fc_run_kind_name(FC_RUN_SWEEP), "sweep") == 0 && strcmp(fc_run_status_name(FC_RUN_PARTIAL), "partial") == 0,
          "names");
    fc_catalog_close(cat);
}

struct ex_seen {
    int n, rank;
    uint32_t d0, d2;
    char path[64];
};

static int ex_cb(void *u, const fc_catalog_extractor *x) {
    struct ex_seen *s = u;
    s->n++;
    if (x->rank == 3) s->rank = 3, s->d0 = x->dims[0], s->d2 = x->dims[2];
    if (strcmp(x->layer, "pool") == 0) snprintf(s->path, sizeof s->path, "%s", x->model_path);
    return 0;
}

static void test_catalog_foreign_keys(void) {
    fc_catalog *cat = NULL;
    fc_error err = {0};
    REQUIRE(fc_catalog_open(fc_test_path("cat-fk"), 0, 0, &cat, &err) == 0, "%s", err.msg);
    int64_t ds, run;
    REQUIRE(fc_catalog_dataset_upsert(cat, "d", "/d", "csv", &ds, &err) == 0, "%s", err.msg);
    fc_catalog_item its[2] = {item("a.png", "x", 1), item("b.png", "y", 2)};
    CHECK(fc_catalog_item_upsert(cat, ds + 100, its, 2, 1, &err) == FC_EINVAL && strstr(err.msg, "FOREIGN KEY"),
          "items of an unknown data set: %s", err.msg);
    struct item_list l = {0};
    CHECK(fc_catalog_item_list(cat, 0, FC_ITEMS_ALL, item_cb, &l, &err) == 0 && l.n == 0, "rolled back");
    /* a batch failing in SQL half-way (a test trigger) is rolled back whole */
    char db[600];
    snprintf(db, sizeof db, "%s/catalog.sqlite", fc_test_path("cat-fk"));
    sql_exec(db, "CREATE TRIGGER boom BEFORE INSERT ON items WHEN NEW.path = 'b.png' "
                 "BEGIN SELECT RAISE(ABORT, 'boom'); END");
    CHECK(fc_catalog_item_upsert(cat, ds, its, 2, 1, &err) == FC_EINVAL && strstr(err.msg, "boom"),
          "trigger: %s", err.msg);
    memset(&l, 0, sizeof l);
    CHECK(fc_catalog_item_list(cat, 0, FC_ITEMS_ALL, item_cb, &l, &err) == 0 && l.n == 0,
          "a.png rolled back with b.png (%d items)", l.n);
    sql_exec(db, "DROP TRIGGER boom");
    REQUIRE(fc_catalog_item_upsert(cat, ds, its, 2, 1, &err) == 0, "%s", err.msg);
    fc_catalog_extractor x = extractor("pool"), sp = extractor("spatial");
    sp.rank = 3, sp.dims[0] = 1280, sp.dims[1] = 7, sp.dims[2] = 7;
    REQUIRE(fc_catalog_extractor_register(cat, &x, &err) == 0 && fc_catalog_extractor_register(cat, &sp, &err) == 0,
            "%s", err.msg);
    x.model_path = "/elsewhere/mobilenet.onnx";
    CHECK(fc_catalog_extractor_register(cat, &x, &err) == 0, "same extractor again: %s", err.msg);
    x.layer = "other";
    CHECK(fc_catalog_extractor_register(cat, &x, &err) == FC_EINVAL && strstr(err.msg, "layer"),
          "same id, other parameters: %s", err.msg);
    x.layer = "pool";
    x.id[3] = 'z';
    CHECK(fc_catalog_extractor_register(cat, &x, &err) == FC_EINVAL, "malformed id");
    struct ex_seen es = {0};
    CHECK(fc_catalog_extractor_list(cat, ex_cb, &es, &err) == 0 && es.n == 2 && es.rank == 3 && es.d0 == 1280 &&
              es.d2 == 7 && strcmp(es.path, "/elsewhere/mobilenet.onnx") == 0,
          "extractors: n %d rank %d path %s", es.n, es.rank, es.path);
    REQUIRE(fc_catalog_run_begin(cat, FC_RUN_EXTRACT, ds, sp.id, NULL, &run, &err) == 0, "%s", err.msg);
    CHECK(fc_catalog_extractor_delete(cat, sp.id, &err) == 0, "%s", err.msg);
    CHECK(fc_catalog_extractor_delete(cat, sp.id, &err) == FC_EINVAL, "gone");
    struct run_seen s = {0};
    fc_catalog_run_list(cat, run_cb, &s, &err);
    CHECK(s.n == 1 && !s.has_ext, "run's extractor set to NULL");
    CHECK(fc_catalog_dataset_delete(cat, ds, &err) == 0, "%s", err.msg);
    memset(&l, 0, sizeof l);
    CHECK(fc_catalog_item_list(cat, 0, FC_ITEMS_ALL, item_cb, &l, &err) == 0 && l.n == 0, "items cascaded");
    memset(&s, 0, sizeof s);
    fc_catalog_run_list(cat, run_cb, &s, &err);
    CHECK(s.n == 1 && s.dataset_id == 0, "run kept, data set NULL");
    CHECK(fc_catalog_dataset_delete(cat, ds, &err) == FC_EINVAL, "delete twice");
    fc_catalog_close(cat);
}

/* A writer that holds the catalog longer than the busy timeout: FC_ETIMEOUT naming the file. */
static void test_catalog_locked_times_out(void) {
    fc_catalog *cat = NULL;
    fc_error err = {0};
    const char *dir = fc_test_path("cat-lock");
    REQUIRE(fc_catalog_open(dir, 0, 50, &cat, &err) == 0, "%s", err.msg);
    char db[600];
    snprintf(db, sizeof db, "%s/catalog.sqlite", dir);
    sqlite3 *h = NULL;
    REQUIRE(sqlite3_open(db, &h) == SQLITE_OK && sqlite3_exec(h, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK,
            "cannot lock %s", db);
    int64_t ds;
    int rc = fc_catalog_dataset_upsert(cat, "d", "/d", "csv", &ds, &err);
    CHECK(rc == FC_ETIMEOUT && strstr(err.msg, "catalog.sqlite") && strstr(err.msg, "locked"), "rc %d: %s", rc,
          err.msg);
    sqlite3_exec(h, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(h);
    CHECK(fc_catalog_dataset_upsert(cat, "d", "/d", "csv", &ds, &err) == 0, "after the lock: %s", err.msg);
    fc_catalog_close(cat);
}

int main(void) {
    RUN(test_catalog_schema);
    RUN(test_catalog_upserts_idempotent);
    RUN(test_catalog_bad_items);
    RUN(test_catalog_runs);
    RUN(test_catalog_foreign_keys);
    RUN(test_catalog_locked_times_out);
    return check_done();
}
