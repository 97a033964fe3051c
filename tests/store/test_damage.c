/* Damaged feature stores and catalogs: no crash, no silently wrong feature. A features.mdb cut short
 * or with damaged meta, branch or leaf pages is refused at open (FC_EFORMAT naming the file and the
 * page); a value whose bytes changed fails its CRC wherever it is read (get, exists_verified,
 * featureset: counted as missing and named) and is dropped by fc_repair; a value whose overflow
 * header changed is never deleted through LMDB (that would free pages still in use) and a rebuild
 * copies it; a store that does not open is rebuilt from every value that still passes its checks.
 * 300 random damages (cuts, flipped bytes, zeroed pages) of a store with inline values, overflow
 * values, branch pages and free pages: each opens or is refused, and every value it serves is
 * bitwise the one written. The catalog: a damaged index is found by integrity_check and rebuilt by
 * fc_catalog_repair; a damaged table is reported as beyond repair; an item row changed behind
 * featcache's back fails its checksum. */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/featureset.h"
#include "store/hash.h"
#include "store/maint.h"
#include "tests/support/check.h"
#include "tests/support/store_fixture.h"
#include "tests/support/tmpdir.h"

enum { N_SMALL = 60, N_BIG = 6, BIG = 1500, EXT = 4 };

typedef struct image {
    unsigned char *b;
    size_t n;
} image;

static const char *store_path(const char *dir) {
    static char p[4][1200];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/features.mdb", dir);
    return p[k];
}

static void big_values(int item, float *x) { fx_fill(x, BIG, 7000u + (uint32_t)item); }

/* A store in dir: N_SMALL inline values (FX_D floats) put in batches of 7, N_BIG overflow values
 * of BIG floats, then the first 10 small ones deleted and put again (free pages). */
static int make_store(const char *dir) {
    fc_cache *c = fx_cache_open(dir, 0, 0, 0);
    if (!c) return -1;
    fx_put_items(c, EXT, 0, N_SMALL, 1, 7, FC_DTYPE_F32);
    float x[BIG];
    fc_error err = {0};
    int rc = 0;
    for (int i = 0; i < N_BIG && rc == 0; i++) {
        big_values(i, x);
        fc_feature f = fx_feature(fx_key(EXT, 1000 + i, 0), FC_DTYPE_F32, x, 1, BIG, 0, 0);
        rc = fc_cache_put(c, &f, 1, &err);
    }
    uint8_t items[10][32];
    for (int i = 0; i < 10; i++) memcpy(items[i], fx_key(EXT, i, 0).item, 32);
    if (rc == 0) rc = fc_cache_delete_items(c, (const uint8_t(*)[32])items, 10, NULL, &err);
    if (rc) printf("  (make_store: %s)\n", err.msg);
    else fx_put_items(c, EXT, 0, 10, 1, 10, FC_DTYPE_F32);
    fc_cache_close(c);
    return rc;
}

static image load(const char *path) {
    image im = {0};
    fc_error err = {0};
    if (fc_file_read(path, 1 << 26, &im.b, &im.n, &err)) printf("  (load: %s)\n", err.msg);
    return im;
}

static void save(const char *path, const unsigned char *b, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f || (n && fwrite(b, 1, n, f) != n)) printf("  (save %s failed)\n", path);
    if (f) fclose(f);
}

static uint64_t rd64(const unsigned char *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static uint16_t rd16(const unsigned char *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static unsigned psize_of(const image *im) { unsigned v; memcpy(&v, im->b + 16 + 24, 4); return v; }

/* fc_cache_open's verdict on bytes b[0..n) written as dir/features.mdb (read-only, then read-write). */
static int open_verdict(const char *dir, const unsigned char *b, size_t n, fc_error *err) {
    save(store_path(dir), b, n);
    fc_cache *c = NULL;
    int rc = fc_cache_open(dir, FC_CACHE_RDONLY, NULL, &c, err);
    fc_cache_close(c);
    c = NULL;
    fc_error e2 = {0};
    int rc2 = fc_cache_open(dir, 0, NULL, &c, &e2);
    fc_cache_close(c);
    if (rc2 != rc) printf("  read-only open %d, read-write open %d (%s)\n", rc, rc2, e2.msg);
    return rc2 == rc ? rc : -999;
}

static void test_truncated_store(void) {
    const char *dir = fc_test_path("trunc");
    REQUIRE(make_store(dir) == 0, "store");
    image im = load(store_path(dir));
    unsigned ps = psize_of(&im);
    REQUIRE(im.n > 8 * ps, "store of %zu bytes", im.n);
    size_t cuts[] = {ps + 100, 2 * ps, im.n / 2, im.n - ps, im.n - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
        fc_error err = {0};
        int rc = open_verdict(dir, im.b, cuts[i], &err);
        CHECK(rc == FC_EFORMAT && strstr(err.msg, "features.mdb is damaged") && strstr(err.msg, "truncated?"),
              "cut to %zu of %zu bytes: %d %s", cuts[i], im.n, rc, err.msg);
    }
    fc_error err = {0};
    CHECK(open_verdict(dir, im.b, im.n, &err) == 0, "whole file again: %s", err.msg);
    free(im.b);
}

static void test_damaged_meta(void) {
    const char *dir = fc_test_path("meta");
    REQUIRE(make_store(dir) == 0, "store");
    image im = load(store_path(dir));
    unsigned ps = psize_of(&im);
    struct { size_t at; unsigned char x; const char *says; } cases[] = {
        {16, 0x01, "or not an LMDB file: meta page 0: bad magic"},
        {ps + 16 + 128, 0x01, "meta page 1: it carries transaction"}, /* its txnid made even */
        {16 + 24 + 1, 0x20, "page size"},
        {ps + 16 + 24 + 48 + 40, 0x40, "main tree: root page"},     /* page 1's main root out of range */
        {16 + 24 + 4, 0x04, "tree flags"},                          /* free tree marked DUPSORT */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        im.b[cases[i].at] ^= cases[i].x;
        fc_error err = {0};
        int rc = open_verdict(dir, im.b, im.n, &err);
        CHECK(rc == FC_EFORMAT && strstr(err.msg, cases[i].says), "byte %zu: %d %s", cases[i].at, rc, err.msg);
        im.b[cases[i].at] ^= cases[i].x;
    }
    free(im.b);
}

/* Every branch and leaf page of the newest snapshot, with each of its header fields and its first
 * node offset changed in turn: refused at open, naming the page. */
static void test_damaged_pages(void) {
    const char *dir = fc_test_path("pages");
    REQUIRE(make_store(dir) == 0, "store");
    image im = load(store_path(dir));
    unsigned ps = psize_of(&im);
    int tried = 0, refused = 0;
    for (size_t p = 2; p < im.n / ps; p++) {
        unsigned char *pg = im.b + p * ps;
        unsigned flags = rd16(pg + 10);
        if (rd64(pg) != p || (flags != 1 && flags != 2)) continue;
        size_t fields[] = {0, 10, 12, 14, 16}; /* page number, flags, lower, upper, first node offset */
        for (size_t f = 0; f < 5; f++) {
            pg[fields[f] + 1] ^= 0x5a;
            fc_error err = {0};
            int rc = open_verdict(dir, im.b, im.n, &err);
            pg[fields[f] + 1] ^= 0x5a;
            if (rc == 0) continue; /* a page of an older snapshot: nobody reads it */
            tried++;
            char page[32];
            snprintf(page, sizeof page, "page %zu ", p);
            refused += rc == FC_EFORMAT && strstr(err.msg, "is damaged") != NULL;
            CHECK(rc == FC_EFORMAT && strstr(err.msg, page), "page %zu field %zu: %d %s", p, fields[f], rc, err.msg);
        }
    }
    CHECK(tried >= 20 && refused == tried, "%d of %d damaged live pages refused", refused, tried);
    printf("  %d damaged header fields of live pages, each refused\n", tried);
    free(im.b);
}

/* The data set "d" of the store's N_SMALL small items in the catalog of dir; hex gets EXT's id. */
static int make_catalog(const char *dir, char hex[65]) {
    fc_catalog *cat = NULL;
    fc_error err = {0};
    int64_t ds;
    fc_catalog_item items[N_SMALL];
    char paths[N_SMALL][16];
    int rc = fc_catalog_open(dir, 0, 0, &cat, &err);
    if (rc == 0) rc = fc_catalog_dataset_upsert(cat, "d", "/d", "imagefolder", &ds, &err);
    for (int i = 0; i < N_SMALL; i++) {
        snprintf(paths[i], sizeof paths[i], "c%d/%02d.jpg", i % 2, i);
        items[i] = (fc_catalog_item){.path = paths[i], .has_hash = 1, .label = i % 2 ? "b" : "a",
                                     .status = FC_ITEM_OK, .size = -1, .mtime = -1};
        memcpy(items[i].sha256, fx_key(EXT, i, 0).item, 32);
    }
    fc_hex_encode(fx_key(EXT, 0, 0).extractor, 32, hex);
    fc_catalog_extractor x = {.model_path = "/m.onnx",
                              .model_sha256 = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100", .layer = "pool", .size = 224, .crop = 1,
                              .preprocess = "tf", .views = "orig", .dtype = FC_DTYPE_F32, .rank = 1, .dims = {FX_D}};
    memcpy(x.id, hex, 65);
    int64_t run;
    if (rc == 0) rc = fc_catalog_item_upsert(cat, ds, items, N_SMALL, 1, &err);
    if (rc == 0) rc = fc_catalog_extractor_register(cat, &x, &err);
    if (rc == 0) rc = fc_catalog_run_begin(cat, FC_RUN_EXTRACT, ds, hex, NULL, &run, &err);
    if (rc == 0) rc = fc_catalog_run_finish(cat, run, FC_RUN_OK, NULL, &err);
    if (rc) printf("  (catalog: %s)\n", err.msg);
    fc_catalog_close(cat);
    return rc;
}

/* Flips a bit 16 floats into every copy of small item i's value in the image (pages of older
 * snapshots keep copies; the live one is among them). Returns the number of copies. */
static int flip_value(image *im, int item) {
    fc_feature_key k = fx_key(EXT, item, 0);
    int n = 0;
    for (size_t at = 0; at + 66 + 32 + 64 < im->n; at++)
        if (!memcmp(im->b + at, k.extractor, 32) && !memcmp(im->b + at + 32, k.item, 32) &&
            !memcmp(im->b + at + 66, "FCFT", 4))
            im->b[at + 66 + 32 + 64] ^= 0x10, n++;
    return n;
}

static void test_flipped_value(void) {
    const char *dir = fc_test_path("value");
    char hex[65];
    REQUIRE(make_store(dir) == 0 && make_catalog(dir, hex) == 0, "store and catalog");
    image im = load(store_path(dir));
    REQUIRE(flip_value(&im, 13) > 0, "value of item 13 not found in the file");
    save(store_path(dir), im.b, im.n);
    fc_error err = {0};
    fc_cache *c = fx_cache_open(dir, 0, 0, 0);
    REQUIRE(c, "a store with a damaged value still opens");
    float out[FX_D];
    fc_feature_key k = fx_key(EXT, 13, 0);
    CHECK(fc_cache_get(c, &k, out, FX_D, NULL, &err) == FC_EFORMAT && strstr(err.msg, "checksum"), "get: %s", err.msg);
    fc_feature_key keys[3] = {fx_key(EXT, 12, 0), k, fx_key(EXT, 999, 0)};
    uint8_t present[3];
    size_t n_present = 0, n_damaged = 0;
    CHECK(fc_cache_exists_verified(c, keys, 3, present, &n_present, &n_damaged, &err) == 0 && present[0] == 1 &&
              present[1] == 2 && present[2] == 0 && n_present == 1 && n_damaged == 1,
          "exists_verified: %d %d %d", present[0], present[1], present[2]);
    fc_cache_close(c);

    fc_catalog *cat = NULL;
    fc_featureset f;
    REQUIRE(fc_catalog_open(dir, FC_CATALOG_RDONLY, 0, &cat, &err) == 0, "%s", err.msg);
    c = fx_cache_open(dir, FC_CACHE_RDONLY, 0, 0);
    int rc = fc_featureset_load(cat, c, "d", hex, 0, &f, &err);
    char ex12[13] = {0};
    memcpy(ex12, hex, 12);
    CHECK(rc == FC_EFORMAT && strstr(err.msg, "1 of 60 items") && strstr(err.msg, "c1/13.jpg") &&
              strstr(err.msg, "damaged") && strstr(err.msg, ex12),
          "featureset names the item, the extractor and the damage: %d %s", rc, err.msg);
    fc_cache_close(c);
    fc_catalog_close(cat);

    fc_repair_report rep;
    REQUIRE(fc_repair(dir, NULL, NULL, &rep, &err) == 0, "%s", err.msg);
    CHECK(!rep.store_rebuilt && rep.values_dropped == 1 && rep.unrepaired == 0, "repair: rebuilt %d, dropped %zu",
          rep.store_rebuilt, rep.values_dropped);
    c = fx_cache_open(dir, 0, 0, 0);
    REQUIRE(c, "open after repair");
    CHECK(fc_cache_get(c, &k, out, FX_D, NULL, &err) == 0, "the damaged value is gone (the next extract computes it)");
    int same = 0;
    for (int i = 0; i < N_SMALL; i++) same += i != 13 && fx_value_ok(c, EXT, i, 0);
    CHECK(same == N_SMALL - 1, "%d of %d other values kept bitwise", same, N_SMALL - 1);
    fc_cache_close(c);
    free(im.b);
}

/* The page count in the header of every overflow run changed: reading the values is fine (their
 * CRC still matches), deleting one is refused, repair rebuilds the store with every value. */
static void test_overflow_header(void) {
    const char *dir = fc_test_path("overflow");
    REQUIRE(make_store(dir) == 0, "store");
    image im = load(store_path(dir));
    unsigned ps = psize_of(&im);
    int runs = 0;
    for (size_t p = 2; p < im.n / ps; p++)
        if (rd64(im.b + p * ps) == p && rd16(im.b + p * ps + 10) == 4 && !memcmp(im.b + p * ps + 16, "FCFT", 4))
            im.b[p * ps + 12] += 3, runs++;
    REQUIRE(runs >= N_BIG, "%d overflow runs found", runs);
    save(store_path(dir), im.b, im.n);
    fc_cache *c = fx_cache_open(dir, 0, 0, 0);
    REQUIRE(c, "the store opens (overflow pages are not read at open)");
    fc_error err = {0};
    float x[BIG], y[BIG];
    fc_feature_key k = fx_key(EXT, 1000, 0);
    size_t n = 0;
    CHECK(fc_cache_get(c, &k, y, BIG, NULL, &err) == 1, "the value still reads: %s", err.msg);
    CHECK(fc_cache_delete_keys(c, &k, 1, &n, &err) == FC_EFORMAT && n == 0 && strstr(err.msg, "overflow page header"),
          "delete refused: %s", err.msg);
    fc_cache_close(c);
    fc_repair_report rep;
    REQUIRE(fc_repair(dir, NULL, NULL, &rep, &err) == 0, "%s", err.msg);
    CHECK(rep.store_rebuilt && rep.values_saved == N_SMALL + N_BIG, "repair rebuilt %d, saved %zu", rep.store_rebuilt,
          rep.values_saved);
    struct stat st;
    CHECK(stat(fc_test_path("overflow/features.mdb.damaged"), &st) == 0, "the damaged file is kept aside");
    c = fx_cache_open(dir, 0, 0, 0);
    REQUIRE(c, "open after the rebuild");
    int same = 0;
    for (int i = 0; i < N_SMALL; i++) same += fx_value_ok(c, EXT, i, 0);
    for (int i = 0; i < N_BIG; i++) {
        k = fx_key(EXT, 1000 + i, 0);
        big_values(i, x);
        same += fc_cache_get(c, &k, y, BIG, NULL, &err) == 1 && !memcmp(x, y, sizeof x);
    }
    CHECK(same == N_SMALL + N_BIG, "%d of %d values bitwise after the rebuild", same, N_SMALL + N_BIG);
    CHECK(fc_cache_delete_keys(c, &k, 1, &n, &err) == 0 && n == 1, "and deletes work again: %s", err.msg);
    fc_cache_close(c);
    free(im.b);
}

static void test_repair_truncated(void) {
    const char *dir = fc_test_path("rebuild");
    REQUIRE(make_store(dir) == 0, "store");
    image im = load(store_path(dir));
    save(store_path(dir), im.b, im.n * 2 / 3);
    fc_error err = {0};
    fc_repair_report rep;
    REQUIRE(fc_repair(dir, NULL, NULL, &rep, &err) == 0, "%s", err.msg);
    fc_cache *c = fx_cache_open(dir, 0, 0, 0);
    REQUIRE(c, "open after the rebuild");
    int same = 0;
    for (int i = 0; i < N_SMALL; i++) same += fx_value_ok(c, EXT, i, 0);
    fc_cache_stats st;
    CHECK(fc_cache_stat(c, &st, &err) == 0 && rep.store_rebuilt && rep.values_saved == st.entries && same > 0 &&
              (size_t)same <= st.entries,
          "rebuilt %d: %zu values saved, %d small ones bitwise, %zu pages lost", rep.store_rebuilt, rep.values_saved,
          same, rep.pages_lost);
    printf("  cut to 2/3: %zu of %d values saved, %zu pages unreadable\n", rep.values_saved, N_SMALL + N_BIG,
           rep.pages_lost);
    fc_cache_close(c);
    free(im.b);
}

static uint32_t next(uint32_t *s) {
    *s ^= *s << 13, *s ^= *s >> 17, *s ^= *s << 5;
    return *s;
}

/* Reads back every value of the store in dir; any value served must be the one written. Returns
 * the number served wrongly (0). */
static int wrong_values(fc_cache *c) {
    int wrong = 0;
    float x[BIG], y[BIG];
    fc_error err;
    for (int i = 0; i < N_SMALL; i++) {
        fc_feature_key k = fx_key(EXT, i, 0);
        if (fc_cache_get(c, &k, y, FX_D, NULL, &err) == 1 && !fx_value_ok(c, EXT, i, 0)) wrong++;
    }
    for (int i = 0; i < N_BIG; i++) {
        fc_feature_key k = fx_key(EXT, 1000 + i, 0);
        big_values(i, x);
        if (fc_cache_get(c, &k, y, BIG, NULL, &err) == 1 && memcmp(x, y, sizeof x)) wrong++;
    }
    return wrong;
}

static void test_random_damage(void) {
    const char *dir = fc_test_path("random");
    REQUIRE(make_store(dir) == 0, "store");
    image clean = load(store_path(dir));
    unsigned ps = psize_of(&clean);
    unsigned char *b = malloc(clean.n);
    REQUIRE(b, "memory");
    uint32_t seed = 12345;
    int opened = 0, refused = 0, wrong = 0, writes = 0;
    for (int it = 0; it < 300; it++) {
        memcpy(b, clean.b, clean.n);
        size_t n = clean.n;
        switch (next(&seed) % 3) {
        case 0: n = next(&seed) % clean.n; break;
        case 1:
            for (unsigned k = 1 + next(&seed) % 8; k > 0; k--) b[next(&seed) % n] ^= (unsigned char)(1u << next(&seed) % 8);
            break;
        default: memset(b + (next(&seed) % (n / ps)) * ps, 0, ps);
        }
        save(store_path(dir), b, n);
        fc_cache *c = NULL;
        fc_error err = {0};
        if (fc_cache_open(dir, FC_CACHE_RDONLY, NULL, &c, &err) != 0) {
            refused++;
            continue;
        }
        opened++;
        wrong += wrong_values(c);
        fc_cache_close(c);
        c = fx_cache_open(dir, 0, 0, 0); /* writes over the damage: grow, delete (frees pages) */
        if (!c) continue;
        float x[BIG];
        big_values(99, x);
        fc_feature f = fx_feature(fx_key(EXT, 2000, 0), FC_DTYPE_F32, x, 1, BIG, 0, 0);
        fc_feature_key k = fx_key(EXT, 5, 0);
        writes += fc_cache_put(c, &f, 1, &err) == 0 && fc_cache_delete_keys(c, &k, 1, NULL, &err) == 0;
        wrong += wrong_values(c);
        fc_cache_close(c);
    }
    CHECK(wrong == 0, "%d values served that differ from the ones written", wrong);
    CHECK(opened > 0 && refused > 0, "opened %d, refused %d", opened, refused);
    printf("  300 random damages: %d refused at open, %d opened (%d took a put and a delete), 0 wrong values\n",
           refused, opened, writes);
    free(b);
    free(clean.b);
}

static int sql_exec(const char *db, const char *text, char *out, size_t cap) {
    sqlite3 *h = NULL;
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_open(db, &h);
    if (rc == 0) rc = sqlite3_prepare_v2(h, text, -1, &s, NULL);
    if (rc == 0 && sqlite3_step(s) == SQLITE_ROW && out) snprintf(out, cap, "%s", (const char *)sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
    sqlite3_close(h);
    return rc;
}

static int note_count(void *user, const char *what, int64_t count, const char *example) {
    (void)what, (void)count, (void)example;
    (*(int *)user)++;
    return 0;
}

/* A byte of an index entry changed (SQLite keeps no checksums: only integrity_check sees it). */
static void test_catalog_index(void) {
    const char *dir = fc_test_path("catidx");
    char hex[65], root[32] = "", psz[32] = "";
    REQUIRE(make_catalog(dir, hex) == 0, "catalog");
    const char *db = fc_test_path("catidx/catalog.sqlite");
    REQUIRE(sql_exec(db, "SELECT rootpage FROM sqlite_master WHERE name = 'items_sha256'", root, sizeof root) == 0 &&
                sql_exec(db, "PRAGMA page_size", psz, sizeof psz) == 0,
            "schema");
    image im = load(db);
    size_t page = (size_t)(atol(root) - 1) * (size_t)atol(psz);
    REQUIRE(page + 64 < im.n && (im.b[page] == 0x0a || im.b[page] == 0x02), "index page at %zu", page);
    size_t cell = (size_t)im.b[page + 12] << 8 | im.b[page + 13]; /* first cell of the page */
    if (im.b[page] == 0x0a) cell = (size_t)im.b[page + 8] << 8 | im.b[page + 9];
    im.b[page + cell + 12] ^= 0x01; /* inside its 32-byte SHA-256 */
    save(db, im.b, im.n);
    fc_catalog *cat = NULL;
    fc_error err = {0};
    size_t problems = 0, fixed = 0, left = 0;
    int seen = 0;
    REQUIRE(fc_catalog_open(dir, 0, 0, &cat, &err) == 0, "%s", err.msg);
    CHECK(fc_catalog_check(cat, note_count, &seen, &problems, &err) == 0 && problems > 0,
          "integrity_check finds the damaged index: %zu problems", problems);
    CHECK(fc_catalog_repair(cat, NULL, NULL, &fixed, &left, &err) == 0 && left == 0, "repair: %zu left: %s", left,
          err.msg);
    CHECK(fc_catalog_check(cat, note_count, &seen, &problems, &err) == 0 && problems == 0, "after REINDEX: %zu",
          problems);
    fc_catalog_close(cat);
    free(im.b);
}

/* The items table's root page zeroed: not repairable in place; fc_repair says so and what to do. */
static void test_catalog_table(void) {
    const char *dir = fc_test_path("cattab");
    char hex[65], root[32] = "", psz[32] = "";
    REQUIRE(make_store(dir) == 0 && make_catalog(dir, hex) == 0, "store and catalog");
    const char *db = fc_test_path("cattab/catalog.sqlite");
    REQUIRE(sql_exec(db, "SELECT rootpage FROM sqlite_master WHERE name = 'items'", root, sizeof root) == 0 &&
                sql_exec(db, "PRAGMA page_size", psz, sizeof psz) == 0,
            "schema");
    image im = load(db);
    size_t page = (size_t)(atol(root) - 1) * (size_t)atol(psz);
    REQUIRE(page + (size_t)atol(psz) <= im.n, "items page");
    memset(im.b + page, 0, (size_t)atol(psz));
    save(db, im.b, im.n);
    fc_error err = {0};
    fc_repair_report rep;
    REQUIRE(fc_repair(dir, NULL, NULL, &rep, &err) == 0, "%s", err.msg);
    CHECK(rep.unrepaired > 0, "a damaged table is left for the user: %zu", rep.unrepaired);
    fc_catalog *cat = NULL;
    fc_featureset f;
    fc_cache *c = fx_cache_open(dir, FC_CACHE_RDONLY, 0, 0);
    int rc = fc_catalog_open(dir, FC_CATALOG_RDONLY, 0, &cat, &err);
    if (rc == 0) rc = fc_featureset_load(cat, c, "d", hex, 0, &f, &err);
    CHECK(rc == FC_EFORMAT && strstr(err.msg, "catalog.sqlite"), "reading the data set: %d %s", rc, err.msg);
    if (rc == 0) fc_featureset_free(&f);
    fc_catalog_close(cat);
    fc_cache_close(c);
    free(im.b);
}

static int count_rows(void *user, const fc_catalog_item *it) {
    (void)it;
    (*(int *)user)++;
    return 0;
}

static int count_extractors(void *user, const fc_catalog_extractor *x) {
    (void)x;
    (*(int *)user)++;
    return 0;
}

static int count_runs(void *user, const fc_catalog_run *r) {
    (void)r;
    (*(int *)user)++;
    return 0;
}

/* Rows carry a checksum: a label, a layer name, a run's result changed behind featcache's back is
 * refused where the row is read, counted by the check and dropped by the repair. A version-1 catalog (no checksums) is read
 * as it is, and gets them at its first read-write open. */
static void test_catalog_item_crc(void) {
    const char *dir = fc_test_path("catcrc");
    char hex[65];
    REQUIRE(make_catalog(dir, hex) == 0, "catalog");
    const char *db = fc_test_path("catcrc/catalog.sqlite");
    REQUIRE(fx_sql(db, "ALTER TABLE items DROP COLUMN crc; ALTER TABLE model_files DROP COLUMN crc; "
                        "ALTER TABLE datasets DROP COLUMN crc; ALTER TABLE extractors DROP COLUMN crc; "
                        "ALTER TABLE runs DROP COLUMN crc; PRAGMA user_version = 1;") == 0, "made version 1");
    fc_catalog *cat = NULL;
    fc_error err = {0};
    int n = 0;
    REQUIRE(fc_catalog_open(dir, FC_CATALOG_RDONLY, 0, &cat, &err) == 0, "%s", err.msg);
    CHECK(fc_catalog_item_list(cat, 0, FC_ITEMS_ALL, count_rows, &n, &err) == 0 && n == N_SMALL,
          "a version-1 catalog reads read-only: %d rows %s", n, err.msg);
    fc_catalog_close(cat);
    REQUIRE(fc_catalog_open(dir, 0, 0, &cat, &err) == 0, "%s", err.msg);
    fc_catalog_close(cat);
    REQUIRE(fx_sql(db, "UPDATE items SET label = 'c' WHERE path = 'c1/07.jpg';") == 0, "label changed");
    /* and the other rows' descriptive fields, which only ls and report show */
    REQUIRE(fx_sql(db, "UPDATE extractors SET layer = 'pOol'; UPDATE runs SET result = '{\"x\":1}';") == 0, "rows changed");
    REQUIRE(fc_catalog_open(dir, 0, 0, &cat, &err) == 0, "%s", err.msg);
    n = 0;
    int rc = fc_catalog_item_list(cat, 0, FC_ITEMS_ALL, count_rows, &n, &err);
    CHECK(rc == FC_EFORMAT && strstr(err.msg, "catalog.sqlite is damaged") && strstr(err.msg, "c1/07.jpg"),
          "the changed row is refused: %d %s", rc, err.msg);
    size_t problems = 0, fixed = 0, left = 0;
    int seen = 0;
    CHECK(fc_catalog_extractor_list(cat, count_extractors, &n, &err) == FC_EFORMAT && strstr(err.msg, "extractor"),
          "the changed extractor row is refused: %s", err.msg);
    CHECK(fc_catalog_run_list(cat, count_runs, &n, &err) == FC_EFORMAT && strstr(err.msg, "run #"),
          "the changed run row is refused: %s", err.msg);
    CHECK(fc_catalog_check(cat, note_count, &seen, &problems, &err) == 0 && problems == 3, "check: %zu problems",
          problems);
    CHECK(fc_catalog_repair(cat, NULL, NULL, &fixed, &left, &err) == 0 && fixed == 3 && left == 0,
          "repair: %zu fixed, %zu left", fixed, left);
    n = 0;
    CHECK(fc_catalog_item_list(cat, 0, FC_ITEMS_ALL, count_rows, &n, &err) == 0 && n == N_SMALL - 1,
          "after the repair: %d rows", n);
    fc_catalog_close(cat);
}

int main(void) {
    RUN(test_truncated_store);
    RUN(test_damaged_meta);
    RUN(test_damaged_pages);
    RUN(test_flipped_value);
    RUN(test_overflow_header);
    RUN(test_repair_truncated);
    RUN(test_random_damage);
    RUN(test_catalog_index);
    RUN(test_catalog_table);
    RUN(test_catalog_item_crc);
    return check_done();
}
