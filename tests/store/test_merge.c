/* fc_merge over caches built with the store API as `extract --shard K/N` leaves them: every shard's
 * catalog lists the whole data set, its store holds the features of its own items, the item that
 * only its own shard decoded is bad there alone. Merging the shards gives the values and item rows
 * of one cache filled by a single process, appending when the shards come in order; merging again
 * changes nothing; a merge killed (SIGKILL) after a committed batch or at random moments and then
 * run again ends with the same store and catalog, row for row, as an uninterrupted one. A source
 * value whose bytes changed is not merged (named); a damaged destination value is replaced; a data
 * set or extractor defined differently in two caches is refused before anything is written, naming
 * the first difference; a source given twice or being the destination is refused; a merge waits
 * while gc holds the destination's lock. */
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "extract/job.h"
#include "store/hash.h"
#include "store/lock.h"
#include "store/merge.h"
#include "tests/support/check.h"
#include "tests/support/store_fixture.h"
#include "tests/support/tmpdir.h"

enum { EXT = 5, BAD_ITEM = 7, N_SMALL = 60, N_BIG = 3000 };
static const char *MODEL_SHA = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";

/* Options of one cache built as a shard: items 0..n-1 of data set "d", extractor EXT. */
typedef struct shard_spec {
    int n, shard, n_shards; /* n_shards 0: one process, every item */
    const char *relabel;    /* item 3 gets this label instead of its own (a conflicting definition) */
    int dims;               /* the extractor's registered dims (FX_D unless testing a conflict) */
} shard_spec;

static void ext_hex(char hex[65]) {
    fc_feature_key k = fx_key(EXT, 0, 0);
    fc_hex_encode(k.extractor, 32, hex);
}

static int owns(const shard_spec *s, int i) {
    fc_feature_key k = fx_key(EXT, i, 0);
    return s->n_shards == 0 || fc_item_shard(k.item, (unsigned)s->n_shards) == (unsigned)s->shard;
}

/* A cache in dir as a shard extract leaves it (see the top of the file); 0 or -1. */
static int make_shard(const char *dir, const shard_spec *s) {
    fc_error err = {0};
    fc_cache *c = fx_cache_open(dir, 0, 0, 0);
    fc_catalog *cat = NULL;
    if (!c || fc_catalog_open(dir, 0, 0, &cat, &err)) { printf("  (%s: %s)\n", dir, err.msg); fc_cache_close(c); return -1; }
    static float data[64][FX_D]; /* the values fx_put_items writes, 64 per transaction */
    fc_feature fs[64];
    int k = 0, rc = 0;
    for (int i = 0; i < s->n && rc == 0; i++) {
        if (owns(s, i) && i != BAD_ITEM) {
            fx_fill(data[k], FX_D, (uint32_t)(EXT * 100000 + i * 10));
            fs[k] = fx_feature(fx_key(EXT, i, 0), FC_DTYPE_F32, data[k], 1, FX_D, 0, 0);
            k++;
        }
        if (k == 64 || (i == s->n - 1 && k)) rc = fc_cache_put(c, fs, (size_t)k, &err), k = 0;
    }
    fc_cache_close(c);
    fc_catalog_extractor x = {.model_path = "/m.onnx", .model_sha256 = MODEL_SHA, .layer = "pool", .size = 224,
                              .crop = 1.0, .preprocess = "tf", .views = "orig", .dtype = FC_DTYPE_F32, .rank = 1,
                              .dims = {s->dims ? (uint32_t)s->dims : FX_D}};
    ext_hex(x.id);
    int64_t ds = 0, run = 0;
    fc_catalog_item *items = calloc((size_t)s->n, sizeof *items);
    char (*paths)[32] = calloc((size_t)s->n, 32);
    if (rc == 0) rc = !items || !paths ? -1 : fc_catalog_extractor_register(cat, &x, &err);
    if (rc == 0) rc = fc_catalog_dataset_upsert(cat, "d", "/data/d", "split", &ds, &err);
    char params[96];
    snprintf(params, sizeof params, "{\"shard\":\"%d/%d\"}", s->shard, s->n_shards);
    if (rc == 0) rc = fc_catalog_run_begin(cat, FC_RUN_EXTRACT, ds, x.id, params, &run, &err);
    for (int i = 0; rc == 0 && i < s->n; i++) {
        fc_feature_key k = fx_key(EXT, i, 0);
        snprintf(paths[i], 32, "%s/c%d/%04d.jpg", i % 3 ? "train" : "val", i % 2, i);
        items[i] = (fc_catalog_item){.path = paths[i], .has_hash = 1, .label = i % 2 ? "c1" : "c0",
                                     .split = i % 3 ? "train" : "val", .size = 100 + i, .mtime = 1000 + i};
        if (i == 3 && s->relabel) items[i].label = s->relabel;
        memcpy(items[i].sha256, k.item, 32);
        if (i == BAD_ITEM && owns(s, i)) items[i].status = FC_ITEM_BAD, items[i].error = "c1/0007.jpg: not an image";
    }
    if (rc == 0) rc = fc_catalog_item_sync(cat, ds, items, (size_t)s->n, run, NULL, &err);
    if (rc == 0) rc = fc_catalog_run_finish(cat, run, FC_RUN_PARTIAL, "{\"bad\":1}", &err);
    if (rc) printf("  (%s: %s)\n", dir, err.msg);
    free(items);
    free(paths);
    fc_catalog_close(cat);
    return rc ? -1 : 0;
}

/* ---- what a cache holds, as digests -------------------------------------------------------- */

static int hash_value(void *user, const fc_feature_key *key, const fc_feature_view *v, const fc_error *problem) {
    fc_sha256 *s = user;
    fc_sha256_update(s, key, sizeof *key);
    if (v) fc_sha256_update(s, v->data, v->nbytes), fc_sha256_update(s, &v->crc, 4);
    if (problem) fc_sha256_update(s, "damaged", 7);
    return 0;
}

/* Digest of every stored key and value; count gets the number of values. */
static void values_digest(const char *dir, uint8_t out[32], size_t *count) {
    fc_sha256 s;
    fc_sha256_init(&s);
    fc_cache *c = fx_cache_open(dir, FC_CACHE_RDONLY, 0, 0);
    *count = 0;
    if (c) fc_cache_foreach(c, NULL, FC_CACHE_VISIT_VERIFY, hash_value, &s, NULL), fc_cache_count(c, NULL, count, NULL);
    fc_cache_close(c);
    fc_sha256_final(&s, out);
}

/* Digest of the rows a query returns, every column as text. */
static void rows_digest(const char *dir, const char *query, uint8_t out[32]) {
    char db[4096];
    snprintf(db, sizeof db, "%s/catalog.sqlite", dir);
    fc_sha256 s;
    fc_sha256_init(&s);
    sqlite3 *h = NULL;
    sqlite3_stmt *q = NULL;
    if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) == 0 && sqlite3_prepare_v2(h, query, -1, &q, NULL) == 0)
        while (sqlite3_step(q) == SQLITE_ROW)
            for (int i = 0; i < sqlite3_column_count(q); i++) {
                const unsigned char *t = sqlite3_column_text(q, i);
                fc_sha256_update(&s, t ? (const char *)t : "NULL", t ? strlen((const char *)t) + 1 : 4);
            }
    else
        fc_sha256_update(&s, "no catalog", 10);
    sqlite3_finalize(q);
    sqlite3_close(h);
    fc_sha256_final(&s, out);
}

static const char *ITEMS_Q = "SELECT d.name, i.path, hex(i.sha256), i.label, i.split, i.status, i.error "
                             "FROM items i JOIN datasets d ON d.id = i.dataset_id ORDER BY d.name, i.path";
/* everything of the catalog, ids and checksums included */
static const char *ALL_Q = "SELECT 'd', id, name, root, format, created, crc, NULL, NULL, NULL, NULL, NULL FROM datasets "
                           "UNION ALL SELECT 'i', id, dataset_id, path, hex(sha256), label, split, status, error, size, "
                           "mtime, seen || '/' || crc FROM items "
                           "UNION ALL SELECT 'x', NULL, id, model_path, layer, size, crop, preprocess, views, dtype, dims, "
                           "created || '/' || crc FROM extractors "
                           "UNION ALL SELECT 'r', id, kind, dataset_id, extractor_id, started, finished, params, result, "
                           "status, crc, NULL FROM runs ORDER BY 1, 2, 3";

/* Digest of the whole cache: values and every catalog row. */
static void cache_digest(const char *dir, uint8_t out[32]) {
    uint8_t v[32], c[32];
    size_t n;
    values_digest(dir, v, &n);
    rows_digest(dir, ALL_Q, c);
    fc_sha256 s;
    fc_sha256_init(&s);
    fc_sha256_update(&s, v, 32);
    fc_sha256_update(&s, c, 32);
    fc_sha256_final(&s, out);
}

/* ---- merging ------------------------------------------------------------------------------- */

typedef struct notes {
    int n;
    char first[512];
} notes;

static void on_note(void *user, const char *msg) {
    notes *n = user;
    if (!n->n++) snprintf(n->first, sizeof n->first, "%s", msg);
}

static int merge(const char *const *srcs, size_t n, const char *dst, fc_merge_report *rep, notes *nt, fc_error *err) {
    fc_merge_options o = {.srcs = srcs, .n_srcs = n, .dst = dst, .note = on_note, .user = nt};
    notes ignored = {0};
    if (!nt) o.user = &ignored;
    return fc_merge(&o, rep, err);
}

/* Shard caches tag_0..tag_{n-1} of n_items items; their paths in srcs (static buffers). */
static int make_shards(const char *tag, int n_items, int n, const char *srcs[]) {
    static char names[8][64];
    for (int k = 0; k < n; k++) {
        snprintf(names[k], sizeof names[k], "%s_%d", tag, k);
        srcs[k] = fc_test_path(names[k]);
        shard_spec s = {.n = n_items, .shard = k, .n_shards = n};
        if (make_shard(srcs[k], &s)) return -1;
        srcs[k] = strdup(srcs[k]); /* fc_test_path's ring is reused */
    }
    return 0;
}

static void free_srcs(const char *srcs[], int n) {
    for (int k = 0; k < n; k++) free((void *)srcs[k]);
}

static void test_shards_equal_one_process(void) {
    const char *srcs[3], *one = fc_test_path("one"), *dst = fc_test_path("merged");
    shard_spec all = {.n = N_SMALL};
    REQUIRE(make_shard(one, &all) == 0 && make_shards("s", N_SMALL, 3, srcs) == 0, "caches");
    fc_merge_report r;
    fc_error err = {0};
    REQUIRE(merge(srcs, 3, dst, &r, NULL, &err) == 0, "%s", err.msg);
    uint8_t a[32], b[32];
    size_t na, nb;
    values_digest(one, a, &na);
    values_digest(dst, b, &nb);
    CHECK(na == N_SMALL - 1 && nb == na && memcmp(a, b, 32) == 0, "values: %zu one process, %zu merged", na, nb);
    CHECK(r.values_copied == na && r.values_appended == na && r.values_present == 0 && r.values_damaged == 0,
          "copied %zu, appended %zu (shards in order append)", r.values_copied, r.values_appended);
    rows_digest(one, ITEMS_Q, a);
    rows_digest(dst, ITEMS_Q, b);
    CHECK(memcmp(a, b, 32) == 0, "item rows (path, hash, label, split, status, error) as one process wrote them");
    CHECK(r.datasets_added == 1 && r.items_added == N_SMALL && r.items_now_bad == 1 && r.extractors_added == 1 &&
              r.runs_added == 3,
          "data sets %zu, items %zu (%zu now bad), extractors %zu, runs %zu", r.datasets_added, r.items_added,
          r.items_now_bad, r.extractors_added, r.runs_added);

    uint8_t before[32], after[32];
    cache_digest(dst, before);
    REQUIRE(merge(srcs, 3, dst, &r, NULL, &err) == 0, "%s", err.msg);
    cache_digest(dst, after);
    CHECK(memcmp(before, after, 32) == 0 && r.values_copied == 0 && r.values_present == na && r.items_added == 0 &&
              r.items_now_bad == 0 && r.runs_added == 0 && r.datasets_added == 0,
          "merging again changes nothing: copied %zu, present %zu, runs %zu", r.values_copied, r.values_present,
          r.runs_added);

    const char *rev[3] = {srcs[2], srcs[1], srcs[0]}, *dst2 = fc_test_path("reversed");
    REQUIRE(merge(rev, 3, dst2, &r, NULL, &err) == 0, "%s", err.msg);
    values_digest(dst2, b, &nb);
    CHECK(nb == na && r.values_appended < r.values_copied, "out of order: %zu of %zu appended",
          r.values_appended, r.values_copied);
    values_digest(one, a, &na);
    CHECK(memcmp(a, b, 32) == 0, "shards in any order: the same values");

    /* the whole cache into one holding the middle shard: put before it, present in it, appended after */
    const char *dst3 = fc_test_path("middle");
    REQUIRE(merge(&srcs[1], 1, dst3, &r, NULL, &err) == 0 && merge(&one, 1, dst3, &r, NULL, &err) == 0, "%s", err.msg);
    values_digest(dst3, b, &nb);
    CHECK(memcmp(a, b, 32) == 0 && r.values_present > 0 && r.values_appended > 0 && r.values_copied > r.values_appended,
          "put, present and appended in one batch: %zu present, %zu copied, %zu appended", r.values_present,
          r.values_copied, r.values_appended);
    free_srcs(srcs, 3);
}

/* Flips a data bit of every copy of item i's value in the store file of dir; returns the copies. */
static int flip_value(const char *dir, int i) {
    char path[4096];
    snprintf(path, sizeof path, "%s/features.mdb", dir);
    FILE *f = fopen(path, "r+b");
    if (!f) return 0;
    fseek(f, 0, SEEK_END);
    size_t n = (size_t)ftell(f);
    unsigned char *b = malloc(n);
    int hits = 0;
    fc_feature_key k = fx_key(EXT, i, 0);
    if (b && fseek(f, 0, SEEK_SET) == 0 && fread(b, 1, n, f) == n) {
        for (size_t at = 0; at + 66 + 32 + 64 < n; at++)
            if (!memcmp(b + at, k.extractor, 32) && !memcmp(b + at + 32, k.item, 32) && !memcmp(b + at + 66, "FCFT", 4))
                b[at + 66 + 32 + 64] ^= 0x10, hits++;
        fseek(f, 0, SEEK_SET);
        if (fwrite(b, 1, n, f) != n) hits = 0;
    }
    fclose(f);
    free(b);
    return hits;
}

static void test_damaged_values(void) {
    const char *src = fc_test_path("dsrc"), *dst = fc_test_path("ddst");
    shard_spec all = {.n = 20};
    REQUIRE(make_shard(src, &all) == 0 && flip_value(src, 4) > 0, "source with item 4 damaged");
    fc_cache *c = fx_cache_open(dst, 0, 0, 0);
    REQUIRE(c, "destination");
    fx_put_items(c, EXT, 9, 1, 1, 1, FC_DTYPE_F32);
    fc_cache_close(c);
    REQUIRE(flip_value(dst, 9) > 0, "destination with item 9 damaged");
    fc_merge_report r;
    notes nt = {0};
    fc_error err = {0};
    REQUIRE(merge(&src, 1, dst, &r, &nt, &err) == 0, "%s", err.msg);
    CHECK(r.values_damaged == 1 && nt.n == 1 && strstr(nt.first, "checksum") && strstr(nt.first, "src"),
          "the damaged source value is named: %s", nt.first);
    CHECK(r.values_replaced == 1 && r.values_copied == 18, "the damaged destination value is replaced: %zu, copied %zu",
          r.values_replaced, r.values_copied);
    c = fx_cache_open(dst, FC_CACHE_RDONLY, 0, 0);
    REQUIRE(c, "open");
    float out[FX_D];
    fc_feature_key k4 = fx_key(EXT, 4, 0);
    CHECK(fx_value_ok(c, EXT, 9, 0) && fc_cache_get(c, &k4, out, FX_D, NULL, &err) == 0,
          "item 9 is sound again, item 4 is missing (the next extract computes it)");
    fc_cache_close(c);
}

static void test_conflicts_refused(void) {
    const char *a = fc_test_path("ca"), *b = fc_test_path("cb"), *x = fc_test_path("cx"), *dst = fc_test_path("cdst");
    shard_spec sa = {.n = 10}, sb = {.n = 10, .relabel = "c7"}, sx = {.n = 10, .dims = 128};
    REQUIRE(make_shard(a, &sa) == 0 && make_shard(b, &sb) == 0 && make_shard(x, &sx) == 0, "caches");
    fc_merge_report r;
    fc_error err = {0};
    const char *ab[2] = {a, b};
    CHECK(merge(ab, 2, dst, &r, NULL, &err) == FC_EINVAL && strstr(err.msg, "data set 'd'") &&
              strstr(err.msg, "0003.jpg") && strstr(err.msg, "label 'c1'") && strstr(err.msg, "'c7'"),
          "the first differing item is named: %s", err.msg);
    size_t n = 0;
    uint8_t d[32];
    values_digest(dst, d, &n);
    int64_t counts[2] = {0, 0};
    fc_catalog *cat = NULL;
    if (fc_catalog_open(dst, FC_CATALOG_RDONLY, 0, &cat, NULL) == 0) fc_catalog_dataset_list(cat, fx_count_datasets, counts, NULL);
    fc_catalog_close(cat);
    CHECK(n == 0 && counts[0] == 0, "nothing merged: %zu values, %lld data sets", n, (long long)counts[0]);
    REQUIRE(merge(&a, 1, dst, &r, NULL, &err) == 0, "%s", err.msg);
    CHECK(merge(&b, 1, dst, &r, NULL, &err) == FC_EINVAL && strstr(err.msg, dst), "against the destination: %s", err.msg);
    CHECK(merge(&x, 1, dst, &r, NULL, &err) == FC_EINVAL && strstr(err.msg, "extractor") && strstr(err.msg, "dims 128"),
          "extractor: %s", err.msg);
    const char *twice[2] = {a, a};
    CHECK(merge(twice, 2, fc_test_path("c2"), &r, NULL, &err) == FC_EINVAL && strstr(err.msg, "twice"), "%s", err.msg);
    CHECK(merge(&dst, 1, dst, &r, NULL, &err) == FC_EINVAL && strstr(err.msg, "destination"), "%s", err.msg);
}

/* ---- kill -9 ------------------------------------------------------------------------------- */

typedef struct kill_plan {
    int after_batches; /* raise SIGKILL after this many committed batches (0: never) */
    int batches;
} kill_plan;

static void kill_progress(void *user, const fc_merge_report *r) {
    kill_plan *k = user;
    (void)r;
    if (k->after_batches && ++k->batches == k->after_batches) raise(SIGKILL);
}

/* Runs the merge in a child; the parent kills it after delay_us (or the child itself after
 * after_batches batches). Returns 1 when the child was killed, 0 when it finished, -1 on error. */
static int killed_merge(const char *const *srcs, size_t n, const char *dst, int after_batches, long delay_us) {
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        kill_plan k = {after_batches, 0};
        fc_merge_options o = {.srcs = srcs, .n_srcs = n, .dst = dst, .progress = kill_progress, .user = &k};
        fc_merge_report r;
        _exit(fc_merge(&o, &r, NULL) == 0 ? 0 : 1);
    }
    if (delay_us >= 0) {
        struct timespec ts = {delay_us / 1000000, (delay_us % 1000000) * 1000};
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL ? 1 : WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

static void test_kill_then_rerun(void) {
    const char *srcs[3], *clean = fc_test_path("kclean");
    REQUIRE(make_shards("k", N_BIG, 3, srcs) == 0, "shards");
    fc_merge_report r;
    fc_error err = {0};
    double t0 = now_s();
    REQUIRE(merge(srcs, 3, clean, &r, NULL, &err) == 0, "%s", err.msg);
    double t = now_s() - t0;
    uint8_t want[32], got[32];
    cache_digest(clean, want);
    int same = 0, killed = 0, trials = 0;
    unsigned seed = (unsigned)time(NULL);
    for (int i = 0; i < 8; i++, trials++) {
        char name[32];
        snprintf(name, sizeof name, "kill%d", i);
        const char *dst = fc_test_path(name);
        /* the first two die right after their first and second committed batch, the rest at a
         * random moment of a clean merge's duration (values, catalog or after the end) */
        long delay = i < 2 ? -1 : (long)(rand_r(&seed) % (unsigned)(1.2 * t * 1e6 + 1));
        int k = killed_merge(srcs, 3, dst, i < 2 ? i + 1 : 0, delay);
        killed += k == 1;
        CHECK(k >= 0, "merge %d failed by itself", i);
        if (merge(srcs, 3, dst, &r, NULL, &err) != 0) { CHECK(0, "rerun %d: %s", i, err.msg); continue; }
        cache_digest(dst, got);
        same += memcmp(want, got, 32) == 0;
    }
    printf("  clean merge of %d values: %.3f s; %d of %d runs killed\n", 3 * N_BIG, t, killed, trials);
    CHECK(killed >= 2, "the kills after a committed batch hit");
    CHECK(same == trials, "%d of %d killed-then-rerun merges identical to an uninterrupted one (values and every row)",
          same, trials);
    free_srcs(srcs, 3);
}

/* While gc holds the destination's lock exclusive, a merge waits: it takes it shared, as extract. */
static void test_waits_for_gc(void) {
    const char *src = fc_test_path("lsrc"), *dst = fc_test_path("ldst");
    shard_spec all = {.n = 10};
    REQUIRE(make_shard(src, &all) == 0 && make_shard(dst, &all) == 0, "caches");
    int lock = -1;
    fc_error err = {0};
    REQUIRE(fc_cache_lock(dst, 1, 0, &lock, &err) == 0, "%s", err.msg);
    pid_t pid = fork();
    REQUIRE(pid >= 0, "fork");
    if (pid == 0) {
        close(lock); /* flock belongs to the open file: the parent's copy alone must hold it */
        fc_merge_options o = {.srcs = &src, .n_srcs = 1, .dst = dst};
        fc_merge_report r;
        _exit(fc_merge(&o, &r, NULL) == 0 ? 0 : 1);
    }
    struct timespec ts = {0, 300 * 1000000L};
    nanosleep(&ts, NULL);
    int st = 0;
    pid_t done = waitpid(pid, &st, WNOHANG);
    fc_cache_unlock(lock);
    if (done == 0) waitpid(pid, &st, 0);
    CHECK(done == 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "the merge waited for the lock, then finished");
}

int main(void) {
    RUN(test_shards_equal_one_process);
    RUN(test_damaged_values);
    RUN(test_conflicts_refused);
    RUN(test_kill_then_rerun);
    RUN(test_waits_for_gc);
    return check_done();
}
