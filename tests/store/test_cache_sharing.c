/* The LMDB feature store (store/cache.c) when it grows or is shared: map growth from 32 KiB, the
 * map-size limit as a clean "cache full" error that loses no committed batch, a put that must grow
 * waiting for this process's readers, reader threads during growth, a map grown by another process,
 * a read-only folder (feature store and catalog) opened by an unprivileged user, and two writer
 * processes on one cache and catalog. Single-process behaviour: test_cache.c. Not a benchmark. */
#include "store/cache.h"
#include "store/catalog.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/support/check.h"
#include "tests/support/store_fixture.h"
#include "tests/support/tmpdir.h"

/* Runs fn in a child process; returns its exit status (0 = all checks passed). */
static int in_child(void (*fn)(void *), void *arg) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        check_failed_ = 0;
        fn(arg);
        fflush(stdout);
        _exit(check_failed_ ? 1 : 0);
    }
    int st;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* ---- cache: map growth and its limit ------------------------------------------------------- */

static void test_map_growth(void) {
    fc_cache *c = fx_cache_open(fc_test_path("growth"), 0, 1, 0); /* clamped up to the 8-page minimum */
    REQUIRE(c, "open");
    fc_cache_stats st;
    fc_error err = {0};
    REQUIRE(fc_cache_stat(c, &st, &err) == 0, "%s", err.msg);
    size_t initial = st.map_size;
    CHECK(initial <= 64 * 1024, "initial map %zu", initial);
    enum { W = 1024, PER = 100, BATCHES = 24 };
    static float data[PER][W];
    for (int b = 0; b < BATCHES; b++) {
        fc_feature fs[PER];
        for (int i = 0; i < PER; i++) {
            fx_fill(data[i], W, (uint32_t)(b * PER + i));
            fs[i] = fx_feature(fx_key(8, b * PER + i, 0), FC_DTYPE_F32, data[i], 1, W, 0, 0);
        }
        int rc = fc_cache_put(c, fs, PER, &err);
        REQUIRE(rc == 0, "batch %d: %s", b, err.msg);
    }
    REQUIRE(fc_cache_stat(c, &st, &err) == 0, "%s", err.msg);
    CHECK(st.map_size >= 16u << 20 && st.used_bytes > 16u << 20, "map %zu used %zu", st.map_size, st.used_bytes);
    CHECK(st.entries == PER * BATCHES, "entries %zu", st.entries);
    int bad = 0;
    static float want[W], got[W];
    for (int i = 0; i < PER * BATCHES; i += 37) {
        fx_fill(want, W, (uint32_t)i);
        fc_feature_key k = fx_key(8, i, 0);
        bad += fc_cache_get(c, &k, got, W, NULL, &err) != 1 || memcmp(want, got, sizeof got) != 0;
    }
    CHECK(bad == 0, "%d values wrong after growth", bad);
    fc_cache_close(c);
}

static void test_map_limit_is_clean_full_error(void) {
    const char *dir = fc_test_path("full");
    fc_cache *c = fx_cache_open(dir, 0, 64 * 1024, 1 << 20);
    REQUIRE(c, "open");
    enum { W = 1024, PER = 8 };
    static float data[PER][W];
    fc_feature fs[PER];
    fc_error err = {0};
    /* one transaction per batch: a small record followed by one that cannot fit leaves nothing */
    static float huge[512 * 1024];
    fx_fill(data[0], W, 0);
    fc_feature pair[2] = {fx_feature(fx_key(9, 0, 0), FC_DTYPE_F32, data[0], 1, W, 0, 0),
                          fx_feature(fx_key(9, -1, 0), FC_DTYPE_F32, huge, 1, 512 * 1024, 0, 0)};
    CHECK(fc_cache_put(c, pair, 2, &err) == FC_EFULL, "2 MiB value under a 1 MiB limit: %s", err.msg);
    CHECK(fc_cache_get(c, &pair[0].key, NULL, 0, NULL, &err) == 0, "the small record of the batch is absent");
    int committed = 0, rc = 0;
    for (int b = 0; b < 100 && rc == 0; b++) {
        for (int i = 0; i < PER; i++) {
            fx_fill(data[i], W, (uint32_t)(b * PER + i));
            fs[i] = fx_feature(fx_key(9, b * PER + i, 0), FC_DTYPE_F32, data[i], 1, W, 0, 0);
        }
        rc = fc_cache_put(c, fs, PER, &err);
        if (rc == 0) committed++;
    }
    CHECK(rc == FC_EFULL, "rc %d: %s", rc, err.msg);
    CHECK(strstr(err.msg, "cache full") && strstr(err.msg, "features.mdb"), "message: %s", err.msg);
    CHECK(committed >= 3 && committed < 100, "%d batches committed before the limit", committed);
    size_t n;
    CHECK(fc_cache_count(c, NULL, &n, &err) == 0 && n == (size_t)committed * PER, "count %zu", n);
    uint8_t present[PER];
    fc_feature_key keys[PER];
    for (int i = 0; i < PER; i++) keys[i] = fs[i].key;
    size_t np = 99;
    CHECK(fc_cache_exists(c, keys, PER, present, &np, &err) == 0 && np == 0, "failed batch absent (%zu)", np);
    static float want[W], got[W];
    int bad = 0;
    for (int i = 0; i < committed * PER; i++) {
        fx_fill(want, W, (uint32_t)i);
        fc_feature_key k = fx_key(9, i, 0);
        bad += fc_cache_get(c, &k, got, W, NULL, &err) != 1 || memcmp(want, got, sizeof got) != 0;
    }
    CHECK(bad == 0, "%d committed values damaged", bad);
    fc_cache_close(c);
    /* a larger limit lets the same batch in; everything earlier is still there */
    c = fx_cache_open(dir, 0, 0, 4 << 20);
    REQUIRE(c, "reopen with a larger limit");
    CHECK(fc_cache_put(c, fs, PER, &err) == 0, "%s", err.msg);
    CHECK(fc_cache_count(c, NULL, &n, &err) == 0 && n == (size_t)(committed + 1) * PER, "count %zu", n);
    fc_cache_close(c);
}

/* A put that must grow waits for this process's read transactions, then gives up cleanly. */
static void test_growth_waits_for_readers(void) {
    fc_cache_options o = {.initial_map_size = 64 * 1024, .resize_wait_ms = 200};
    fc_cache *c = NULL;
    fc_error err = {0};
    REQUIRE(fc_cache_open(fc_test_path("wait"), 0, &o, &c, &err) == 0, "%s", err.msg);
    fx_put_items(c, 1, 0, 1, 1, 1, FC_DTYPE_F32);
    fc_cache_txn *t;
    REQUIRE(fc_cache_txn_begin(c, &t, &err) == 0, "%s", err.msg);
    static float big[64 * 1024];
    fc_feature f = fx_feature(fx_key(1, 99, 0), FC_DTYPE_F32, big, 1, 64 * 1024, 0, 0);
    int rc = fc_cache_put(c, &f, 1, &err);
    CHECK(rc == FC_ETIMEOUT && strstr(err.msg, "stayed open"), "rc %d: %s", rc, err.msg);
    fc_feature_view v;
    fc_feature_key k0 = fx_key(1, 0, 0);
    CHECK(fc_cache_txn_get(t, &k0, &v, &err) == 1, "the read transaction still works");
    fc_cache_txn_end(t);
    CHECK(fc_cache_put(c, &f, 1, &err) == 0, "after the reader ended: %s", err.msg);
    fc_cache_close(c);
}

struct reader_arg {
    fc_cache *c;
    atomic_int *stop;
    int reads, errors;
};

static void *reader_thread(void *p) {
    struct reader_arg *a = p;
    while (!atomic_load(a->stop)) {
        fc_cache_txn *t;
        if (fc_cache_txn_begin(a->c, &t, NULL) != 0) {
            a->errors++;
            continue;
        }
        fc_feature_view v;
        float got[FX_D], want[FX_D];
        fc_feature_key k = fx_key(1, 0, 0);
        fx_fill(want, FX_D, 100000);
        if (fc_cache_txn_get(t, &k, &v, NULL) != 1 || fc_feature_to_f32(&v, got, FX_D, NULL) != 0 ||
            memcmp(got, want, sizeof got) != 0)
            a->errors++;
        fc_cache_txn_end(t);
        a->reads++;
    }
    return NULL;
}

static void test_readers_during_growth(void) {
    fc_cache *c = fx_cache_open(fc_test_path("threads"), 0, 64 * 1024, 0);
    REQUIRE(c, "open");
    fx_put_items(c, 1, 0, 1, 1, 1, FC_DTYPE_F32);
    atomic_int stop = 0;
    struct reader_arg args[3];
    pthread_t th[3];
    for (int i = 0; i < 3; i++) {
        args[i] = (struct reader_arg){c, &stop, 0, 0};
        pthread_create(&th[i], NULL, reader_thread, &args[i]);
    }
    fx_put_items(c, 2, 0, 1500, 1, 50, FC_DTYPE_F32); /* ~3 MB: several resizes under readers */
    atomic_store(&stop, 1);
    int reads = 0, errors = 0;
    for (int i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        reads += args[i].reads, errors += args[i].errors;
    }
    CHECK(errors == 0, "%d reader errors in %d reads", errors, reads);
    CHECK(reads > 0, "readers ran");
    CHECK(fx_value_ok(c, 2, 1499, 0), "last write");
    fc_cache_stats st;
    CHECK(fc_cache_stat(c, &st, NULL) == 0 && st.map_size > 64 * 1024, "map grew to %zu", st.map_size);
    fc_cache_close(c);
}

static void grow_child(void *dir) {
    fc_cache *c = fx_cache_open(dir, 0, 0, 0);
    REQUIRE(c, "child open");
    fx_put_items(c, 3, 0, 2000, 1, 50, FC_DTYPE_F32); /* ~2.5 MB */
    fc_cache_close(c);
}

/* Another process grows the map and writes past this handle's map: the next transaction adopts
 * the new size (MDB_MAP_RESIZED) instead of failing. */
static void test_map_grown_by_other_process(void) {
    const char *dir = fc_test_path("adopt");
    fc_cache *c = fx_cache_open(dir, 0, 64 * 1024, 0);
    REQUIRE(c, "open");
    fx_put_items(c, 1, 0, 1, 1, 1, FC_DTYPE_F32);
    fc_cache_stats st;
    REQUIRE(fc_cache_stat(c, &st, NULL) == 0 && st.map_size == 64 * 1024, "map %zu", st.map_size);
    CHECK(in_child(grow_child, (void *)dir) == 0, "child writer");
    CHECK(fx_value_ok(c, 3, 1999, 0) && fx_value_ok(c, 1, 0, 0), "reads after the other process grew the map");
    CHECK(fc_cache_stat(c, &st, NULL) == 0 && st.map_size > 2u << 20, "adopted map %zu", st.map_size);
    fx_put_items(c, 1, 1, 10, 1, 10, FC_DTYPE_F32);
    CHECK(fx_value_ok(c, 1, 10, 0), "writes after adopting");
    fc_cache_close(c);
}

/* ---- cache: read-only directory, two processes --------------------------------------------- */

static void readonly_child(void *arg) {
    const char *dir = arg;
    if (getuid() == 0 && setuid(65534) != 0) {
        printf("  cannot drop to uid 65534: %s\n", strerror(errno));
        _exit(77);
    }
    fc_error err = {0};
    fc_cache *c = NULL;
    int rc = fc_cache_open(dir, FC_CACHE_RDONLY, NULL, &c, &err);
    REQUIRE(rc == 0, "read-only open of a read-only directory: %s", err.msg);
    CHECK(fx_value_ok(c, 4, 3, 0) && fx_value_ok(c, 4, 9, 0), "reads work");
    float x[FX_D] = {0};
    fc_feature f = fx_feature(fx_key(4, 100, 0), FC_DTYPE_F32, x, 1, FX_D, 0, 0);
    CHECK(fc_cache_put(c, &f, 1, &err) == FC_EINVAL && strstr(err.msg, "read-only"), "put: %s", err.msg);
    fc_cache_close(c);
    c = NULL;
    rc = fc_cache_open(dir, 0, NULL, &c, &err);
    CHECK(rc == FC_EIO && strstr(err.msg, "features.mdb") && strstr(err.msg, "ermission"),
          "read-write open refused: %d %s", rc, err.msg);
    fc_cache_close(c);

    fc_catalog *cat = NULL;
    rc = fc_catalog_open(dir, FC_CATALOG_RDONLY, 0, &cat, &err);
    REQUIRE(rc == 0, "catalog read-only: %s", err.msg);
    int64_t id = 0;
    CHECK(fc_catalog_dataset_find(cat, "ro", &id, &err) == 1 && id > 0, "catalog read: %s", err.msg);
    CHECK(fc_catalog_dataset_upsert(cat, "ro2", "/x", "csv", &id, &err) == FC_EINVAL, "catalog write refused");
    fc_catalog_close(cat);
    cat = NULL;
    rc = fc_catalog_open(dir, 0, 0, &cat, &err);
    CHECK(rc == FC_EIO && strstr(err.msg, "catalog.sqlite"), "catalog read-write open refused: %d %s", rc, err.msg);
    fc_catalog_close(cat);
}

static void test_readonly_directory(void) {
    const char *dir = fc_test_path("rodir");
    REQUIRE(fx_cache_seed(dir, 4, 10, 10, FC_DTYPE_F32) == 0, "open");
    fc_catalog *cat = NULL;
    fc_error err = {0};
    int64_t id;
    REQUIRE(fc_catalog_open(dir, 0, 0, &cat, &err) == 0, "%s", err.msg);
    CHECK(fc_catalog_dataset_upsert(cat, "ro", "/data/ro", "imagefolder", &id, &err) == 0, "%s", err.msg);
    fc_catalog_close(cat);
    chmod(fc_test_tmpdir(), 0755);
    char f1[600], f2[600];
    snprintf(f1, sizeof f1, "%s/features.mdb", dir);
    snprintf(f2, sizeof f2, "%s/catalog.sqlite", dir);
    chmod(f1, 0444);
    chmod(f2, 0444);
    REQUIRE(chmod(dir, 0555) == 0, "chmod");
    int st = in_child(readonly_child, (void *)dir);
    chmod(dir, 0755);
    chmod(fc_test_tmpdir(), 0700);
    if (st == 77) SKIP("cannot drop root privileges to test permissions");
    CHECK(st == 0, "child status %d", st);
}

struct writer_arg {
    const char *dir;
    int id;
    int gate; /* read end of a pipe: the parent closes the write end to start both writers */
};

static void writer_child(void *p) {
    struct writer_arg *a = p;
    char ch;
    while (read(a->gate, &ch, 1) < 0 && errno == EINTR) {
    }
    fc_error err = {0};
    fc_cache *c = NULL;
    fc_cache_options o = {.initial_map_size = 64 * 1024};
    REQUIRE(fc_cache_open(a->dir, 0, &o, &c, &err) == 0, "writer %d: %s", a->id, err.msg);
    fc_catalog *cat = NULL;
    REQUIRE(fc_catalog_open(a->dir, 0, 0, &cat, &err) == 0, "writer %d catalog: %s", a->id, err.msg);
    int64_t ds;
    REQUIRE(fc_catalog_dataset_upsert(cat, "shared", "/data", "unlabeled", &ds, &err) == 0, "%s", err.msg);
    for (int b = 0; b < 30; b++) {
        fx_put_items(c, 10 + a->id, b * 10, 10, 1, 10, FC_DTYPE_F32);
        fc_catalog_item items[10];
        char paths[10][32];
        for (int i = 0; i < 10; i++) {
            snprintf(paths[i], sizeof paths[i], "w%d/%03d.png", a->id, b * 10 + i);
            fc_feature_key k = fx_key(10 + a->id, b * 10 + i, 0);
            items[i] = (fc_catalog_item){.path = paths[i], .has_hash = 1, .status = FC_ITEM_OK, .size = 1};
            memcpy(items[i].sha256, k.item, 32);
        }
        CHECK(fc_catalog_item_upsert(cat, ds, items, 10, 1, &err) == 0, "writer %d: %s", a->id, err.msg);
    }
    fc_catalog_close(cat);
    fc_cache_close(c);
}

static void test_two_processes_write(void) {
    const char *dir = fc_test_path("two");
    int gate[2];
    REQUIRE(pipe(gate) == 0, "pipe");
    struct writer_arg args[2] = {{dir, 0, gate[0]}, {dir, 1, gate[0]}};
    pid_t pids[2];
    fflush(stdout);
    for (int i = 0; i < 2; i++) {
        pids[i] = fork();
        REQUIRE(pids[i] >= 0, "fork");
        if (pids[i] == 0) {
            close(gate[1]);
            check_failed_ = 0;
            writer_child(&args[i]);
            fflush(stdout);
            _exit(check_failed_ ? 1 : 0);
        }
    }
    close(gate[0]);
    close(gate[1]); /* both writers start now */
    for (int i = 0; i < 2; i++) {
        int st;
        waitpid(pids[i], &st, 0);
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "writer %d status %d", i, st);
    }
    fc_cache *c = fx_cache_open(dir, FC_CACHE_RDONLY, 0, 0);
    REQUIRE(c, "open");
    size_t n;
    fc_error err = {0};
    CHECK(fc_cache_count(c, NULL, &n, &err) == 0 && n == 600, "count %zu", n);
    int bad = 0;
    for (int w = 0; w < 2; w++)
        for (int i = 0; i < 300; i++) bad += !fx_value_ok(c, 10 + w, i, 0);
    CHECK(bad == 0, "%d values wrong", bad);
    fc_cache_close(c);
    fc_catalog *cat = NULL;
    REQUIRE(fc_catalog_open(dir, FC_CATALOG_RDONLY, 0, &cat, &err) == 0, "%s", err.msg);
    int64_t ds;
    REQUIRE(fc_catalog_dataset_find(cat, "shared", &ds, &err) == 1, "dataset");
    int64_t counts[2] = {0, 0};
    CHECK(fc_catalog_dataset_list(cat, fx_count_datasets, counts, &err) == 0, "%s", err.msg);
    CHECK(counts[0] == 1 && counts[1] == 600, "%lld data sets, %lld items", (long long)counts[0],
          (long long)counts[1]);
    fc_catalog_close(cat);
}

int main(void) {
    RUN(test_map_growth);
    RUN(test_map_limit_is_clean_full_error);
    RUN(test_growth_waits_for_readers);
    RUN(test_readers_during_growth);
    RUN(test_map_grown_by_other_process);
    RUN(test_readonly_directory);
    RUN(test_two_processes_write);
    return check_done();
}
