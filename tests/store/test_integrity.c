/* Integrity of the cache under concurrent writers and after damage. fc_verify over a catalog and
 * feature store built with the store API: a consistent cache is clean; a stored feature no item
 * names is an orphan, not a problem; catalog rows that point at nothing (written with raw SQLite
 * with foreign keys and CHECKs off, since featcache's own writes cannot make them) are each
 * reported and counted as problems. The end of an extract (every row stamped, rows of vanished
 * files pruned) loses no row that a concurrent extract of the same data set writes meanwhile. Runs
 * of killed extracts are marked failed by the next extract. */
#include "store/runs.h"
#include "store/cache.h"
#include "store/catalog.h"
#include "store/maint.h"

#include <sqlite3.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/support/check.h"
#include "tests/support/store_fixture.h"
#include "tests/support/tmpdir.h"

static const char *EX = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
static const char *MODEL_SHA = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";

typedef struct messages { char text[4096]; size_t len; int n; } messages;

static void on_problem(void *user, const char *msg) {
    messages *m = user;
    m->n++;
    m->len += (size_t)snprintf(m->text + m->len, sizeof m->text - m->len, "%s\n", msg);
    if (m->len >= sizeof m->text) m->len = sizeof m->text - 1;
}

static void put_feature(fc_cache *cache, const uint8_t ex[32], uint8_t item_byte) {
    float data[4] = {1, 2, 3, item_byte};
    fc_feature f = {.dtype = FC_DTYPE_F32, .rank = 1, .dims = {4}, .data = data};
    memcpy(f.key.extractor, ex, 32);
    memset(f.key.item, item_byte, 32);
    fc_error err = {0};
    CHECK(fc_cache_put(cache, &f, 1, &err) == 0, "%s", err.msg);
}

static void test_verify_catalog_orphans(void) {
    fc_error err = {0};
    fc_catalog *cat = NULL;
    fc_cache *cache = NULL;
    REQUIRE(fc_catalog_open(fc_test_tmpdir(), 0, 0, &cat, &err) == 0 &&
                fc_cache_open(fc_test_tmpdir(), 0, NULL, &cache, &err) == 0,
            "%s", err.msg);
    int64_t ds, run;
    REQUIRE(fc_catalog_dataset_upsert(cat, "d", "/d", "imagefolder", &ds, &err) == 0, "%s", err.msg);
    fc_catalog_extractor x = {.model_path = "/m.onnx", .model_sha256 = MODEL_SHA, .layer = "pool", .size = 224,
                              .crop = 1.0, .preprocess = "tf", .views = "orig", .dtype = FC_DTYPE_F32, .rank = 1,
                              .dims = {4}};
    memcpy(x.id, EX, 65);
    REQUIRE(fc_catalog_extractor_register(cat, &x, &err) == 0, "%s", err.msg);
    fc_catalog_item its[3] = {{.path = "a.jpg", .has_hash = 1, .label = "a", .status = FC_ITEM_OK},
                              {.path = "b.jpg", .has_hash = 1, .label = "b", .status = FC_ITEM_OK},
                              {.path = "c.gif", .status = FC_ITEM_BAD, .error = "GIF"}};
    memset(its[0].sha256, 1, 32);
    memset(its[1].sha256, 2, 32);
    uint8_t ex[32];
    for (int i = 0; i < 32; i++) sscanf(EX + 2 * i, "%2hhx", &ex[i]);
    put_feature(cache, ex, 1);
    put_feature(cache, ex, 2);
    REQUIRE(fc_catalog_item_upsert(cat, ds, its, 3, 1, &err) == 0, "%s", err.msg);
    REQUIRE(fc_catalog_run_begin(cat, FC_RUN_EXTRACT, ds, EX, NULL, &run, &err) == 0 &&
                fc_catalog_run_finish(cat, run, FC_RUN_PARTIAL, NULL, &err) == 0,
            "%s", err.msg);

    fc_verify_report rep;
    messages m = {.len = 0};
    REQUIRE(fc_verify(cat, cache, on_problem, &m, &rep, &err) == 0, "%s", err.msg);
    CHECK(rep.values == 2 && rep.corrupt == 0 && rep.missing == 0 && rep.orphans == 0 && rep.catalog_problems == 0 &&
              m.n == 0,
          "consistent cache: %zu values, %zu missing, %zu orphans, %zu catalog problems\n%s", rep.values,
          rep.missing, rep.orphans, rep.catalog_problems, m.text);

    put_feature(cache, ex, 3); /* what a kill between the feature and the catalog commit leaves */
    REQUIRE(fc_verify(cat, cache, on_problem, &m, &rep, &err) == 0, "%s", err.msg);
    CHECK(rep.orphans == 1 && rep.catalog_problems == 0 && m.n == 0, "a feature without item row: %zu orphans",
          rep.orphans);

    const char *db = fc_test_path("catalog.sqlite");
    REQUIRE(fx_sql(db, "PRAGMA ignore_check_constraints = ON;"
                    "INSERT INTO items (dataset_id, path, sha256, status) VALUES (999, 'ghost.jpg', zeroblob(32), 'ok');"
                    "INSERT INTO items (dataset_id, path, sha256, status) VALUES (1, 'nohash.jpg', NULL, 'ok');"
                    "INSERT INTO runs (kind, dataset_id, extractor_id, started, status) VALUES ('train', 998, NULL, 0, 'ok');"
                    "INSERT INTO runs (kind, dataset_id, extractor_id, started, status) "
                    "VALUES ('extract', 1, 'abababababababababababababababababababababababababababababababab', 0, 'ok');") == 0,
            "raw inserts");
    memset(&m, 0, sizeof m);
    REQUIRE(fc_verify(cat, cache, on_problem, &m, &rep, &err) == 0, "%s", err.msg);
    CHECK(rep.catalog_problems == 5, "4 dangling rows + integrity_check's CHECK failure, %zu reported:\n%s",
          rep.catalog_problems, m.text);
    CHECK(strstr(m.text, "catalog: 1 items of a data set that does not exist (first: ghost.jpg)") &&
              strstr(m.text, "catalog: 1 ok items without a SHA-256 (first: nohash.jpg)") &&
              strstr(m.text, "catalog: 1 runs of a data set that does not exist") &&
              strstr(m.text, "catalog: 1 runs of an extractor that does not exist") &&
              strstr(m.text, "catalog: 1 SQLite integrity_check (first: CHECK constraint failed in items)"),
          "messages name each kind:\n%s", m.text);
    size_t problems = 0;
    CHECK(fc_catalog_check(cat, NULL, NULL, &problems, &err) == FC_EINVAL, "NULL callback refused");

    /* a deleted data set leaves its runs with NULL: history, not a problem */
    REQUIRE(fx_sql(db, "DELETE FROM items WHERE dataset_id = 999 OR path = 'nohash.jpg'; DELETE FROM runs WHERE id > 1;") == 0,
            "cleanup");
    REQUIRE(fc_catalog_dataset_delete(cat, ds, &err) == 0, "%s", err.msg);
    memset(&m, 0, sizeof m);
    REQUIRE(fc_verify(cat, cache, on_problem, &m, &rep, &err) == 0, "%s", err.msg);
    CHECK(rep.catalog_problems == 0, "after a data set delete: %zu problems\n%s", rep.catalog_problems, m.text);
    fc_cache_close(cache);
    fc_catalog_close(cat);
}

static int spin(void *user, int tries) {
    (void)user, (void)tries;
    return 1; /* retry at once */
}

static int count_item(void *user, const fc_catalog_item *it) {
    (void)it;
    (*(int *)user)++;
    return 0;
}

/* Two extracts of one data set: the one finishing stamps all its rows and prunes the others while
 * the other keeps writing rows of the same files with its own stamp (its batches). A row that
 * the second one writes between the first one's stamping and pruning must not be deleted. */
static void test_final_sync_keeps_concurrent_rows(void) {
    enum { N = 40, ROUNDS = 1000 };
    const char *sub = fc_test_path("sync");
    fc_error err = {0};
    fc_catalog *cat = NULL;
    REQUIRE(fc_catalog_open(sub, 0, 0, &cat, &err) == 0, "%s", err.msg);
    int64_t ds;
    REQUIRE(fc_catalog_dataset_upsert(cat, "d", "/d", "imagefolder", &ds, &err) == 0, "%s", err.msg);
    fc_catalog_item rows[N];
    char paths[N][16];
    for (int i = 0; i < N; i++) {
        snprintf(paths[i], sizeof paths[i], "%02d.jpg", i);
        rows[i] = (fc_catalog_item){.path = paths[i], .has_hash = 1, .label = i % 2 ? "a" : "b", .status = FC_ITEM_OK};
        memset(rows[i].sha256, i + 1, 32);
    }
    REQUIRE(fc_catalog_item_sync(cat, ds, rows, N, 1, NULL, &err) == 0, "%s", err.msg);
    fc_catalog_close(cat);
    fflush(stdout);
    pid_t child = fork();
    REQUIRE(child >= 0, "fork");
    if (child == 0) { /* the other extract: one row per batch, stamps 2, 4, 6 ... Its own connection
                         * retries a busy lock at once (SQLite's handler sleeps >= 1 ms, which would
                         * almost never land between two quick transactions of the parent). */
        char db[400];
        snprintf(db, sizeof db, "%s/catalog.sqlite", sub);
        sqlite3 *h = NULL;
        sqlite3_stmt *st = NULL;
        if (sqlite3_open(db, &h) || sqlite3_busy_handler(h, spin, NULL) ||
            sqlite3_prepare_v2(h, "UPDATE items SET seen = ?1 WHERE dataset_id = ?2 AND path = ?3", -1, &st, NULL))
            _exit(1);
        for (int64_t stamp = 2;; stamp += 2) {
            sqlite3_bind_int64(st, 1, stamp);
            sqlite3_bind_int64(st, 2, ds);
            sqlite3_bind_text(st, 3, paths[stamp % N], -1, SQLITE_STATIC);
            if (sqlite3_step(st) != SQLITE_DONE) _exit(1);
            sqlite3_reset(st);
            usleep(300); /* like a batch's inference, and lets the parent in */
        }
    }
    REQUIRE(fc_catalog_open(sub, 0, 0, &cat, &err) == 0, "%s", err.msg);
    int lost = 0, round;
    for (round = 0; round < ROUNDS && !lost; round++) {
        int64_t removed = 0, stamp = 3 + 2 * round;
        int n = 0;
        if (fc_catalog_item_sync(cat, ds, rows, N, stamp, &removed, &err) ||
            fc_catalog_item_list(cat, ds, FC_ITEMS_ALL, count_item, &n, &err)) {
            CHECK(0, "round %d: %s", round, err.msg);
            break;
        }
        if (n != N || removed) lost = N - n;
    }
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    CHECK(!lost, "round %d: %d of %d rows lost to the prune", round, lost, N);
    fc_catalog_close(cat);
}

typedef struct run_states { fc_run_status status[8]; char result[8][160]; int n; } run_states;

static int run_state(void *user, const fc_catalog_run *r) {
    run_states *s = user;
    if (s->n < 8) {
        s->status[s->n] = r->status;
        snprintf(s->result[s->n], sizeof s->result[0], "%s", r->result ? r->result : "");
        s->n++;
    }
    return 0;
}

/* Extract runs of dead processes of this host are marked failed; live ones, other hosts' and
 * runs without a pid stay running. */
static void test_interrupted_runs_marked(void) {
    const char *sub = fc_test_path("runs");
    char host[160], params[400];
    fc_process_host(host, sizeof host);
    if (!host[0]) SKIP("no /proc boot id or pid namespace");
    fc_error err = {0};
    fc_catalog *cat = NULL;
    REQUIRE(fc_catalog_open(sub, 0, 0, &cat, &err) == 0, "%s", err.msg);
    int64_t ds, id;
    REQUIRE(fc_catalog_dataset_upsert(cat, "d", "/d", "imagefolder", &ds, &err) == 0, "%s", err.msg);
    fflush(stdout);
    pid_t dead = fork();
    REQUIRE(dead >= 0, "fork");
    if (dead == 0) _exit(0);
    waitpid(dead, NULL, 0);
    long pids[4] = {(long)dead, (long)getpid(), (long)dead, 0};
    const char *hosts[4] = {host, host, "other-boot/pid:[1]", host};
    for (int i = 0; i < 4; i++) {
        if (pids[i]) snprintf(params, sizeof params, "{\"dataset\":\"d\",\"pid\":%ld,\"host\":\"%s\"}", pids[i], hosts[i]);
        else snprintf(params, sizeof params, "{\"dataset\":\"d\"}");
        REQUIRE(fc_catalog_run_begin(cat, FC_RUN_EXTRACT, ds, NULL, params, &id, &err) == 0, "%s", err.msg);
    }
    size_t marked = 0;
    CHECK(fc_extract_mark_interrupted(cat, &marked, &err) == 0 && marked == 1, "marked %zu: %s", marked, err.msg);
    run_states s = {.n = 0};
    REQUIRE(fc_catalog_run_list(cat, run_state, &s, &err) == 0 && s.n == 4, "%s", err.msg);
    CHECK(s.status[0] == FC_RUN_FAILED && strstr(s.result[0], "interrupted: process"), "dead: %d %s", s.status[0],
          s.result[0]);
    CHECK(s.status[1] == FC_RUN_RUNNING && s.status[2] == FC_RUN_RUNNING && s.status[3] == FC_RUN_RUNNING,
          "alive, other host, no pid: %d %d %d", s.status[1], s.status[2], s.status[3]);
    CHECK(fc_extract_mark_interrupted(cat, &marked, &err) == 0 && marked == 0, "second pass marks %zu", marked);
    fc_catalog_close(cat);
}

int main(void) {
    RUN(test_verify_catalog_orphans);
    RUN(test_final_sync_keeps_concurrent_rows);
    RUN(test_interrupted_runs_marked);
    return check_done();
}
