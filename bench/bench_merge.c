/* Benchmark (not a test): `featcache merge` throughput on synthetic shards. Builds N shard caches
 * as `extract --shard K/N` leaves them (each catalog lists every item of the data set, each store
 * holds the values of its own items: item hashes in shard K of N), then merges them into a fresh
 * cache (shards in order: appended), merges again (everything already there), and merges them in
 * reverse order into another fresh cache (looked up, not appended). Prints features/s and MB/s of
 * the values and the time of the catalog step.
 *   build/bench/bench_merge [--features 100000] [--dim 1280] [--dtype f32|f16] [--shards 4] [--dir DIR]
 * Build: make bench. DIR (default a new folder under /tmp) is removed at the end; it needs about
 * 2 x features x the value's pages (1280-D f32: 8 KiB each, 1.6 GB for 100k). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "extract/job.h"
#include "store/store.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef struct args {
    int features, dim, shards;
    fc_dtype dtype;
    char dir[512];
} args;

static int die(const char *what, const fc_error *err) {
    fprintf(stderr, "bench_merge: %s: %s\n", what, err ? err->msg : "");
    return 1;
}

/* Item i's hash: SHA-256 of its number (uniform, like image bytes). */
static void item_hash(int i, uint8_t h[32]) {
    char b[32];
    int n = snprintf(b, sizeof b, "image-%d", i);
    fc_sha256_digest(b, (size_t)n, h);
}

/* The catalog of one shard: extractor, data set "bench" with every item, one finished run. */
static int shard_catalog(const args *a, const char *dir, const char *ext_hex, int k, fc_error *err) {
    fc_catalog *cat = NULL;
    int rc = fc_catalog_open(dir, 0, 0, &cat, err);
    fc_catalog_extractor x = {.model_path = "/bench.onnx", .layer = "pool", .size = 224, .crop = 1, .preprocess = "tf",
                              .views = "orig", .dtype = a->dtype, .rank = 1, .dims = {(uint32_t)a->dim},
                              .model_sha256 = "0000000000000000000000000000000000000000000000000000000000000001"};
    memcpy(x.id, ext_hex, 65);
    int64_t ds = 0, run = 0;
    fc_catalog_item *rows = calloc((size_t)a->features, sizeof *rows);
    char (*paths)[24] = calloc((size_t)a->features, 24);
    char params[64];
    snprintf(params, sizeof params, "{\"shard\":\"%d/%d\"}", k, a->shards);
    if (!rc && (!rows || !paths)) rc = fc_fail(err, FC_ENOMEM, "out of memory");
    if (!rc) rc = fc_catalog_extractor_register(cat, &x, err);
    if (!rc) rc = fc_catalog_dataset_upsert(cat, "bench", "/data/bench", "imagefolder", &ds, err);
    if (!rc) rc = fc_catalog_run_begin(cat, FC_RUN_EXTRACT, ds, x.id, params, &run, err);
    for (int i = 0; !rc && i < a->features; i++) {
        snprintf(paths[i], 24, "c%d/%07d.jpg", i % 10, i);
        rows[i] = (fc_catalog_item){.path = paths[i], .has_hash = 1, .label = i % 10 < 5 ? "a" : "b", .size = 1000,
                                    .mtime = 1};
        item_hash(i, rows[i].sha256);
    }
    if (!rc) rc = fc_catalog_item_sync(cat, ds, rows, (size_t)a->features, run, NULL, err);
    if (!rc) rc = fc_catalog_run_finish(cat, run, FC_RUN_OK, NULL, err);
    free(rows);
    free(paths);
    fc_catalog_close(cat);
    return rc;
}

/* The values of shard k's items, 256 per transaction. */
static int shard_values(const args *a, const char *dir, const uint8_t ext[32], int k, fc_error *err) {
    enum { B = 256 };
    fc_cache *c = NULL;
    int rc = fc_cache_open(dir, 0, NULL, &c, err), n = 0;
    float *data = malloc((size_t)B * a->dim * sizeof *data);
    fc_feature *f = calloc(B, sizeof *f);
    if (!rc && (!data || !f)) rc = fc_fail(err, FC_ENOMEM, "out of memory");
    for (int i = 0; !rc && i < a->features; i++) {
        fc_feature *x = &f[n];
        item_hash(i, x->key.item);
        if (fc_item_shard(x->key.item, (unsigned)a->shards) != (unsigned)k) continue;
        memcpy(x->key.extractor, ext, 32);
        float *d = data + (size_t)n * a->dim;
        for (int j = 0; j < a->dim; j++) d[j] = (float)((i * 31 + j * 7) % 1000) * 0.01f;
        x->dtype = a->dtype, x->rank = 1, x->dims[0] = (uint32_t)a->dim, x->data = d;
        if (++n == B) rc = fc_cache_put(c, f, (size_t)n, err), n = 0;
    }
    if (!rc && n) rc = fc_cache_put(c, f, (size_t)n, err);
    free(data);
    free(f);
    fc_cache_close(c);
    return rc;
}

static void report(const char *what, const fc_merge_report *r) {
    double fps = r->value_seconds > 0 ? r->values_seen / r->value_seconds : 0;
    printf("%-26s %7zu values in %6.2f s: %8.0f features/s, %7.1f MB/s (%zu copied, %zu appended, %zu already "
           "there); catalog %.2f s; whole merge %.2f s\n",
           what, r->values_seen, r->value_seconds, fps, r->bytes_copied / 1e6 / (r->value_seconds > 0 ? r->value_seconds : 1),
           r->values_copied, r->values_appended, r->values_present, r->seconds - r->value_seconds, r->seconds);
}

static int parse(int argc, char **argv, args *a) {
    *a = (args){.features = 100000, .dim = 1280, .shards = 4, .dtype = FC_DTYPE_F32};
    snprintf(a->dir, sizeof a->dir, "/tmp/fc_bench_merge.%d", (int)getpid());
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--features")) a->features = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--dim")) a->dim = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--shards")) a->shards = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--dtype")) a->dtype = strcmp(argv[i + 1], "f16") ? FC_DTYPE_F32 : FC_DTYPE_F16;
        else if (!strcmp(argv[i], "--dir")) snprintf(a->dir, sizeof a->dir, "%s", argv[i + 1]);
        else return -1;
    }
    return a->features > 0 && a->dim > 0 && a->shards > 0 && a->shards <= 64 && argc % 2 == 1 ? 0 : -1;
}

int main(int argc, char **argv) {
    args a;
    if (parse(argc, argv, &a)) {
        fprintf(stderr, "usage: bench_merge [--features N] [--dim D] [--dtype f32|f16] [--shards S] [--dir DIR]\n");
        return 64;
    }
    fc_error err = {0};
    char srcs[64][600], dst[600], rev_dst[600], ext_hex[65], cmd[700];
    const char *sp[64], *rp[64];
    uint8_t ext[32];
    fc_sha256_digest("bench-extractor", 15, ext);
    fc_hex_encode(ext, 32, ext_hex);
    double t0 = now();
    if (mkdir(a.dir, 0777) != 0 && errno != EEXIST) return die(a.dir, NULL);
    for (int k = 0; k < a.shards; k++) {
        snprintf(srcs[k], sizeof srcs[k], "%s/shard%d", a.dir, k);
        sp[k] = srcs[k], rp[a.shards - 1 - k] = srcs[k];
        if (shard_catalog(&a, srcs[k], ext_hex, k, &err) || shard_values(&a, srcs[k], ext, k, &err))
            return die(srcs[k], &err);
    }
    printf("%d shards of %d %u-D %s features (every catalog lists all %d items) made in %.1f s in %s\n", a.shards,
           a.features, a.dim, fc_dtype_name(a.dtype), a.features, now() - t0, a.dir);
    snprintf(dst, sizeof dst, "%s/merged", a.dir);
    snprintf(rev_dst, sizeof rev_dst, "%s/reversed", a.dir);
    fc_merge_options o = {.srcs = sp, .n_srcs = (size_t)a.shards, .dst = dst};
    fc_merge_report r;
    if (fc_merge(&o, &r, &err)) return die("merge", &err);
    report("merge, shards in order", &r);
    if (fc_merge(&o, &r, &err)) return die("merge again", &err);
    report("merge again (all there)", &r);
    o.srcs = rp, o.dst = rev_dst;
    if (fc_merge(&o, &r, &err)) return die("merge reversed", &err);
    report("merge, shards reversed", &r);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", a.dir);
    return system(cmd) == 0 ? 0 : 1;
}
