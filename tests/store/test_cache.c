/* Tests for the LMDB feature store (store/cache.c) within one process: the value format and its
 * corruption handling, f32/f16 round trips byte-exact against an independently built reference (and
 * the documented key layout read back with raw LMDB), batch put/get/exists and validation, reopen and
 * read-only handles, deletes and ordered walks, malformed values written with raw LMDB, a data file
 * that is not LMDB. Growth, limits, read-only folders and other processes: test_cache_sharing.c.
 * Everything lives in a private temporary folder. Not a benchmark. */
#include "store/cache.h"
#include "store/f16.h"
#include "store/hash.h"

#include <float.h>
#include <lmdb.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tests/support/check.h"
#include "tests/support/store_fixture.h"
#include "tests/support/tmpdir.h"

/* The expected stored bytes, built independently of cache.c from the documented layout. */
static size_t expected_value(fc_dtype dt, int rank, const uint32_t *dims, const float *x, uint8_t *out) {
    size_t count = 1;
    for (int r = 0; r < rank; r++) count *= dims[r];
    memset(out, 0, 32);
    memcpy(out, "FCFT", 4);
    out[4] = 1, out[5] = (uint8_t)dt, out[6] = (uint8_t)rank;
    for (int r = 0; r < rank; r++)
        for (int b = 0; b < 4; b++) out[8 + 4 * r + b] = (uint8_t)(dims[r] >> (8 * b));
    uint8_t *d = out + 32;
    size_t nbytes = 0;
    for (size_t i = 0; i < count; i++) {
        if (dt == FC_DTYPE_F32) {
            uint32_t u = fx_bits(x[i]);
            for (int b = 0; b < 4; b++) d[nbytes++] = (uint8_t)(u >> (8 * b));
        } else {
            uint16_t h;
            fc_f16_from_f32(&x[i], &h, 1);
            d[nbytes++] = (uint8_t)h;
            d[nbytes++] = (uint8_t)(h >> 8);
        }
    }
    uint32_t crc = fc_crc32c(0, d, nbytes);
    for (int b = 0; b < 4; b++) out[24 + b] = (uint8_t)(crc >> (8 * b));
    return 32 + nbytes;
}

static void raw_key(fc_feature_key k, uint8_t out[66]) {
    memcpy(out, k.extractor, 32);
    memcpy(out + 32, k.item, 32);
    out[64] = (uint8_t)(k.view >> 8), out[65] = (uint8_t)k.view;
}

/* ---- value format -------------------------------------------------------------------------- */

static void test_value_parse(void) {
    float x[3] = {1.0f, -2.5f, 3.25f};
    uint32_t dims[1] = {3};
    uint8_t v[64], m[64];
    size_t len = expected_value(FC_DTYPE_F32, 1, dims, x, v);
    fc_feature_view view;
    fc_error err = {0};
    REQUIRE(fc_feature_parse(v, len, &view, &err) == 0, "%s", err.msg);
    CHECK(view.dtype == FC_DTYPE_F32 && view.rank == 1 && view.dims[0] == 3 && view.count == 3 &&
              view.nbytes == 12 && view.data == v + 32,
          "view fields");
    CHECK(fc_feature_verify(&view, &err) == 0, "%s", err.msg);
    float out[3];
    CHECK(fc_feature_to_f32(&view, out, 3, &err) == 0 && memcmp(out, x, sizeof x) == 0, "to_f32");
    CHECK(fc_feature_to_f32(&view, out, 2, &err) == FC_ESHAPE, "cap too small");
    for (size_t n = 0; n < len; n++)
        CHECK(fc_feature_parse(v, n, &view, &err) == FC_EFORMAT, "truncated to %zu", n);
    CHECK(fc_feature_parse(v, len + 1, &view, &err) == FC_EFORMAT && strstr(err.msg, "header describes"),
          "one byte too long: %s", err.msg);
    struct { int off; uint8_t val; const char *why; } bad[] = {
        {0, 'X', "magic"}, {4, 2, "version"}, {5, 0, "dtype"}, {5, 3, "dtype"}, {6, 0, "rank"},
        {6, 5, "rank"}, {7, 1, "reserved"}, {8, 0, "dims"}, {12, 1, "rank"}, {28, 1, "reserved"},
        {11, 0x40, "exceed"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        memcpy(m, v, len);
        m[bad[i].off] = bad[i].val;
        int rc = fc_feature_parse(m, len, &view, &err);
        CHECK(rc == FC_EFORMAT && strstr(err.msg, bad[i].why), "byte %d = %d: rc %d '%s'", bad[i].off,
              bad[i].val, rc, err.msg);
        CHECK(view.data == NULL, "view zeroed on error");
    }
    memcpy(m, v, len);
    m[33] ^= 0x10;
    CHECK(fc_feature_parse(m, len, &view, &err) == 0, "data damage passes parsing");
    CHECK(fc_feature_verify(&view, &err) == FC_EFORMAT && strstr(err.msg, "checksum"), "CRC catches it");
    /* random header damage never crashes and never yields an inconsistent view */
    uint32_t seed = 7;
    for (int t = 0; t < 20000; t++) {
        memcpy(m, v, len);
        for (int k = 0; k < 3; k++) {
            seed = seed * 1664525u + 1013904223u;
            m[(seed >> 8) % 32] ^= (uint8_t)(1u << ((seed >> 4) & 7));
        }
        int rc = fc_feature_parse(m, len, &view, NULL);
        REQUIRE(rc == 0 || rc == FC_EFORMAT, "rc %d", rc);
        if (rc == 0) REQUIRE(view.nbytes + 32 == len && view.count * 4 == view.nbytes, "consistent");
    }
}

/* ---- cache: round trips -------------------------------------------------------------------- */

static void test_roundtrip_f32(void) {
    const char *dir = fc_test_path("f32");
    fc_cache *c = fx_cache_open(dir, 0, 0, 0);
    REQUIRE(c, "open");
    static float a[1280], b[8 * 3 * 5];
    fx_fill(a, 1280, 1);
    fx_fill(b, 120, 2);
    a[0] = NAN, a[1] = -0.0f, a[2] = INFINITY, a[3] = fx_float(1), a[4] = -FLT_MAX;
    fc_feature fs[2] = {fx_feature(fx_key(1, 1, 0), FC_DTYPE_F32, a, 1, 1280, 0, 0),
                        fx_feature(fx_key(1, 2, 0), FC_DTYPE_F32, b, 3, 8, 3, 5)};
    fc_error err = {0};
    REQUIRE(fc_cache_put(c, fs, 2, &err) == 0, "%s", err.msg);
    static float out[1280];
    fc_feature_view info;
    int rc = fc_cache_get(c, &fs[0].key, out, 1280, &info, &err);
    CHECK(rc == 1, "get: %d %s", rc, err.msg);
    CHECK(memcmp(out, a, sizeof a) == 0, "f32 values bitwise equal (incl. NaN, -0, inf, denormal)");
    CHECK(info.rank == 1 && info.dims[0] == 1280 && info.count == 1280 && info.dtype == FC_DTYPE_F32 &&
              info.data == NULL,
          "info");
    rc = fc_cache_get(c, &fs[1].key, out, 1280, &info, &err);
    CHECK(rc == 1 && memcmp(out, b, sizeof b) == 0, "rank-3 values");
    CHECK(info.rank == 3 && info.dims[0] == 8 && info.dims[1] == 3 && info.dims[2] == 5 && info.dims[3] == 0,
          "rank-3 dims");
    /* zero-copy view: byte-identical to the independently built reference */
    static uint8_t ref[32 + 1280 * 4];
    fc_cache_txn *t;
    REQUIRE(fc_cache_txn_begin(c, &t, &err) == 0, "%s", err.msg);
    for (int i = 0; i < 2; i++) {
        fc_feature_view v;
        size_t len = expected_value(FC_DTYPE_F32, fs[i].rank, fs[i].dims, fs[i].data, ref);
        CHECK(fc_cache_txn_get(t, &fs[i].key, &v, &err) == 1, "txn_get %d", i);
        CHECK(v.nbytes + 32 == len && memcmp((const uint8_t *)v.data - 32, ref, len) == 0,
              "record %d: stored bytes differ from the reference layout", i);
        if (i == 0) CHECK(((uintptr_t)v.data & 15) == 0, "overflow-page data is 16-byte aligned");
    }
    fc_feature_view v;
    fc_feature_key missing = fx_key(1, 3, 0);
    CHECK(fc_cache_txn_get(t, &missing, &v, &err) == 0 && v.data == NULL, "missing in txn");
    fc_cache_txn_end(t);
    /* the documented key layout: extractor | item | view big-endian */
    fc_feature g = fx_feature(fx_key(1, 1, 258), FC_DTYPE_F32, b, 1, 120, 0, 0);
    REQUIRE(fc_cache_put(c, &g, 1, &err) == 0, "%s", err.msg);
    fc_cache_close(c);
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    char path[600];
    uint8_t kb[66];
    snprintf(path, sizeof path, "%s/features.mdb", dir);
    raw_key(g.key, kb);
    REQUIRE(kb[64] == 1 && kb[65] == 2, "raw_key");
    MDB_val k = {66, kb}, val;
    REQUIRE(mdb_env_create(&env) == 0 && mdb_env_open(env, path, MDB_NOSUBDIR | MDB_RDONLY, 0644) == 0 &&
                mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) == 0 && mdb_dbi_open(txn, NULL, 0, &dbi) == 0,
            "raw LMDB open");
    size_t len = expected_value(FC_DTYPE_F32, 1, g.dims, b, ref);
    CHECK(mdb_get(txn, dbi, &k, &val) == 0 && val.mv_size == len && memcmp(val.mv_data, ref, len) == 0,
          "value found under the documented key");
    mdb_txn_abort(txn);
    mdb_env_close(env);
}

static void test_roundtrip_f16(void) {
    const char *dir = fc_test_path("f16");
    fc_cache *c = fx_cache_open(dir, 0, 0, 0);
    REQUIRE(c, "open");
    enum { N = 2048 };
    static float x[N], out[N];
    fx_fill(x, N, 3);
    const float exact[] = {0.5f, -3.25f, 1024.0f, 0.0f, -0.0f, 65504.0f, 0x1p-24f, 0.099975586f};
    memcpy(x, exact, sizeof exact);
    fc_feature f = fx_feature(fx_key(2, 1, 1), FC_DTYPE_F16, x, 1, N, 0, 0);
    fc_error err = {0};
    REQUIRE(fc_cache_put(c, &f, 1, &err) == 0, "%s", err.msg);
    fc_feature_view info;
    REQUIRE(fc_cache_get(c, &f.key, out, N, &info, &err) == 1, "%s", err.msg);
    CHECK(info.dtype == FC_DTYPE_F16 && info.nbytes == 2 * N, "stored as f16 (%zu bytes)", info.nbytes);
    for (size_t i = 0; i < sizeof exact / sizeof *exact; i++)
        CHECK(fx_bits(out[i]) == fx_bits(exact[i]), "representable %g came back as %g", exact[i], out[i]);
    double worst = 0;
    for (int i = 0; i < N; i++) {
        uint16_t h = fx_half(x[i]);
        float want;
        fc_f16_to_f32(&h, &want, 1);
        REQUIRE(fx_bits(out[i]) == fx_bits(want), "element %d", i);
        if (fabsf(x[i]) >= 0x1p-14f) {
            double rel = fabs((double)out[i] - x[i]) / fabs(x[i]);
            if (rel > worst) worst = rel;
        }
    }
    CHECK(worst <= 1e-3, "relative error %g", worst);
    static uint8_t ref[32 + 2 * N];
    fc_cache_txn *t;
    REQUIRE(fc_cache_txn_begin(c, &t, &err) == 0, "%s", err.msg);
    fc_feature_view v;
    size_t len = expected_value(FC_DTYPE_F16, 1, f.dims, x, ref);
    CHECK(fc_cache_txn_get(t, &f.key, &v, &err) == 1 && memcmp((const uint8_t *)v.data - 32, ref, len) == 0,
          "f16 bytes match the reference");
    fc_cache_txn_end(t);
    fc_cache_close(c);
}

/* ---- cache: batches, reopen, validation ---------------------------------------------------- */

static void test_batch_put_get_exists(void) {
    fc_cache *c = fx_cache_open(fc_test_path("batch"), 0, 0, 0);
    REQUIRE(c, "open");
    fx_put_items(c, 1, 0, 200, 2, 40, FC_DTYPE_F32);
    static fc_feature_key keys[800];
    static uint8_t present[800];
    for (int i = 0; i < 400; i++)
        for (int v = 0; v < 2; v++) keys[2 * i + v] = fx_key(1, i, v);
    size_t n_present = 0;
    fc_error err = {0};
    REQUIRE(fc_cache_exists(c, keys, 800, present, &n_present, &err) == 0, "%s", err.msg);
    CHECK(n_present == 400, "%zu present", n_present);
    int wrong = 0;
    for (int i = 0; i < 800; i++) wrong += present[i] != (i < 400);
    CHECK(wrong == 0, "%d wrong presence flags", wrong);
    int bad = 0;
    for (int i = 0; i < 200; i += 7) bad += !fx_value_ok(c, 1, i, i & 1);
    CHECK(bad == 0, "%d values differ", bad);
    size_t n;
    fc_feature_key ext1 = fx_key(1, 0, 0), ext2 = fx_key(2, 0, 0);
    CHECK(fc_cache_count(c, ext1.extractor, &n, &err) == 0 && n == 400, "count ext1 %zu", n);
    CHECK(fc_cache_count(c, ext2.extractor, &n, &err) == 0 && n == 0, "count ext2 %zu", n);
    CHECK(fc_cache_count(c, NULL, &n, &err) == 0 && n == 400, "count all %zu", n);
    /* a miss, a too-small buffer, a shape-only query */
    float out[FX_D];
    fc_feature_view info;
    CHECK(fc_cache_get(c, &keys[500], out, FX_D, &info, &err) == 0 && info.count == 0, "miss");
    CHECK(fc_cache_get(c, &keys[0], out, FX_D - 1, &info, &err) == FC_ESHAPE && info.count == FX_D,
          "small buffer: %s", err.msg);
    CHECK(fc_cache_get(c, &keys[0], NULL, 0, &info, &err) == 1 && info.dims[0] == FX_D, "shape only");
    /* invalid records: nothing of the batch is written */
    float x[4] = {1, 2, 3, 4};
    fc_feature fs[3] = {fx_feature(fx_key(3, 1, 0), FC_DTYPE_F32, x, 1, 4, 0, 0),
                        fx_feature(fx_key(3, 2, 0), FC_DTYPE_F32, x, 1, 4, 0, 0),
                        fx_feature(fx_key(3, 3, 0), FC_DTYPE_F32, x, 0, 4, 0, 0)};
    CHECK(fc_cache_put(c, fs, 3, &err) == FC_EINVAL && strstr(err.msg, "record 2"), "rank 0: %s", err.msg);
    fs[2].rank = 2;
    CHECK(fc_cache_put(c, fs, 3, &err) == FC_EINVAL && strstr(err.msg, "dims[1]"), "dim 0: %s", err.msg);
    fs[2] = fx_feature(fx_key(3, 3, 0), 9, x, 1, 4, 0, 0);
    CHECK(fc_cache_put(c, fs, 3, &err) == FC_EINVAL, "dtype 9");
    fs[2] = fx_feature(fx_key(3, 3, 0), FC_DTYPE_F32, NULL, 1, 4, 0, 0);
    CHECK(fc_cache_put(c, fs, 3, &err) == FC_EINVAL, "NULL data");
    fs[2] = fx_feature(fx_key(3, 3, 0), FC_DTYPE_F32, x, 2, 65536, 32768, 0);
    CHECK(fc_cache_put(c, fs, 3, &err) == FC_ELIMIT, "8 GiB value: %s", err.msg);
    fc_feature_key ext3 = fx_key(3, 0, 0);
    CHECK(fc_cache_count(c, ext3.extractor, &n, &err) == 0 && n == 0, "nothing from failed batches");
    /* replacing a value */
    float y[4] = {9, 8, 7, 6};
    fs[0].data = y;
    CHECK(fc_cache_put(c, fs, 1, &err) == 0, "%s", err.msg);
    CHECK(fc_cache_get(c, &fs[0].key, out, FX_D, NULL, &err) == 1 && out[0] == 9 && out[3] == 6, "replaced");
    CHECK(fc_cache_put(c, NULL, 0, &err) == 0, "empty batch");
    fc_cache_close(c);
}

static void test_reopen_persistence(void) {
    const char *dir = fc_test_path("reopen");
    REQUIRE(fx_cache_seed(dir, 5, 50, 25, FC_DTYPE_F16) == 0 && fx_cache_seed(dir, 6, 50, 25, FC_DTYPE_F32) == 0,
            "open");
    fc_cache *c = fx_cache_open(dir, 0, 0, 0);
    REQUIRE(c, "reopen read-write");
    fc_cache_stats st;
    fc_error err = {0};
    CHECK(fc_cache_stat(c, &st, &err) == 0 && st.entries == 100, "entries %zu", st.entries);
    CHECK(fx_value_ok(c, 6, 17, 0) && fx_value_ok(c, 6, 49, 0), "f32 values after reopen");
    fc_cache_close(c);
    c = fx_cache_open(dir, FC_CACHE_RDONLY, 0, 0);
    REQUIRE(c, "reopen read-only");
    CHECK(fx_value_ok(c, 6, 0, 0), "read-only read");
    float x[FX_D] = {0}, out[FX_D];
    fc_feature_key k = fx_key(5, 3, 0);
    CHECK(fc_cache_get(c, &k, out, FX_D, NULL, &err) == 1 && fabsf(out[0]) > 0, "f16 read");
    fc_feature f = fx_feature(fx_key(7, 0, 0), FC_DTYPE_F32, x, 1, FX_D, 0, 0);
    CHECK(fc_cache_put(c, &f, 1, &err) == FC_EINVAL && strstr(err.msg, "read-only"), "put refused: %s", err.msg);
    CHECK(fc_cache_delete_extractor(c, f.key.extractor, NULL, &err) == FC_EINVAL, "delete refused");
    CHECK(fc_cache_delete_items(c, &k.item, 1, NULL, &err) == FC_EINVAL, "delete items refused");
    fc_cache_close(c);
    fc_cache *c2 = NULL;
    CHECK(fc_cache_open(fc_test_path("reopen-missing"), FC_CACHE_RDONLY, NULL, &c2, &err) == FC_EIO && !c2 &&
              strstr(err.msg, "no feature store"),
          "read-only open of a missing store: %s", err.msg);
    fc_cache_close(c2);
}

/* ---- cache: deletes, walks, malformed values ----------------------------------------------- */

struct walk {
    int n, bad, unordered, max_view, want_view, inconsistent;
    const uint8_t *watch;  /* item whose problem message to keep */
    char watch_problem[512];
    uint8_t last[66];
};

static int walk_cb(void *user, const fc_feature_key *key, const fc_feature_view *view,
                   const fc_error *problem) {
    struct walk *w = user;
    if ((view == NULL) == (problem == NULL) && w->want_view) w->inconsistent++;
    if (problem && w->watch && memcmp(key->item, w->watch, 32) == 0)
        snprintf(w->watch_problem, sizeof w->watch_problem, "%s", problem->msg);
    uint8_t kb[66];
    memcpy(kb, key->extractor, 32);
    memcpy(kb + 32, key->item, 32);
    kb[64] = (uint8_t)(key->view >> 8), kb[65] = (uint8_t)key->view;
    if (w->n && memcmp(w->last, kb, 66) >= 0) w->unordered++;
    memcpy(w->last, kb, 66);
    w->n++;
    if (key->view > w->max_view) w->max_view = key->view;
    if (problem) w->bad++;
    return 0;
}

static int stop_cb(void *user, const fc_feature_key *key, const fc_feature_view *view,
                   const fc_error *problem) {
    (void)key, (void)view, (void)problem;
    return ++*(int *)user == 3 ? 7 : 0;
}

static void test_deletes_and_walks(void) {
    fc_cache *c = fx_cache_open(fc_test_path("delete"), 0, 0, 0);
    REQUIRE(c, "open");
    for (int e = 1; e <= 3; e++) fx_put_items(c, e, 0, 20, 2, 40, FC_DTYPE_F16);
    fc_error err = {0};
    uint8_t items[3][32];
    fc_feature_key k3 = fx_key(1, 3, 0), k7 = fx_key(1, 7, 0), k99 = fx_key(1, 99, 0);
    memcpy(items[0], k3.item, 32);
    memcpy(items[1], k7.item, 32);
    memcpy(items[2], k99.item, 32);
    size_t deleted = 0, n;
    CHECK(fc_cache_delete_items(c, (const uint8_t(*)[32])items, 3, &deleted, &err) == 0 && deleted == 12,
          "deleted %zu: %s", deleted, err.msg);
    CHECK(fc_cache_get(c, &k3, NULL, 0, NULL, &err) == 0, "item 3 gone");
    fc_feature_key k3e2 = fx_key(2, 3, 1);
    CHECK(fc_cache_get(c, &k3e2, NULL, 0, NULL, &err) == 0, "item 3 gone in other extractors");
    fc_feature_key e2 = fx_key(2, 0, 0), e1 = fx_key(1, 0, 0), e3 = fx_key(3, 0, 0);
    CHECK(fc_cache_delete_extractor(c, e2.extractor, &deleted, &err) == 0 && deleted == 36, "deleted %zu", deleted);
    CHECK(fc_cache_count(c, e2.extractor, &n, &err) == 0 && n == 0, "ext 2 empty");
    CHECK(fc_cache_count(c, e1.extractor, &n, &err) == 0 && n == 36, "ext 1 has %zu", n);
    CHECK(fc_cache_count(c, e3.extractor, &n, &err) == 0 && n == 36, "ext 3 has %zu", n);
    CHECK(fc_cache_count(c, NULL, &n, &err) == 0 && n == 72, "total %zu", n);
    CHECK(fc_cache_delete_extractor(c, e2.extractor, &deleted, &err) == 0 && deleted == 0, "idempotent");
    struct walk w = {.want_view = 1};
    CHECK(fc_cache_foreach(c, e1.extractor, FC_CACHE_VISIT_VERIFY, walk_cb, &w, &err) == 0, "%s", err.msg);
    CHECK(w.n == 36 && w.bad == 0 && w.unordered == 0 && w.max_view == 1 && w.inconsistent == 0,
          "walk ext1: %d keys, %d bad, %d unordered, max view %d", w.n, w.bad, w.unordered, w.max_view);
    memset(&w, 0, sizeof w);
    CHECK(fc_cache_foreach(c, NULL, 0, walk_cb, &w, &err) == 0 && w.n == 72 && w.unordered == 0, "walk all");
    int calls = 0;
    CHECK(fc_cache_foreach(c, NULL, 0, stop_cb, &calls, &err) == 7 && calls == 3, "callback stops the walk");
    fc_cache_close(c);
}

static void raw_put(MDB_env *env, const void *key, size_t klen, const void *val, size_t vlen) {
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_val k = {klen, (void *)key}, v = {vlen, (void *)val};
    if (mdb_txn_begin(env, NULL, 0, &txn) || mdb_dbi_open(txn, NULL, 0, &dbi) || mdb_put(txn, dbi, &k, &v, 0) ||
        mdb_txn_commit(txn))
        abort();
}

static void test_malformed_values(void) {
    const char *dir = fc_test_path("malformed");
    REQUIRE(fx_cache_seed(dir, 1, 3, 3, FC_DTYPE_F32) == 0, "open");
    /* damage values behind the store's back, as a crash of another tool or bit rot would */
    MDB_env *env;
    char path[600];
    snprintf(path, sizeof path, "%s/features.mdb", dir);
    REQUIRE(mdb_env_create(&env) == 0 && mdb_env_open(env, path, MDB_NOSUBDIR, 0644) == 0, "raw open");
    float x[FX_D];
    fx_fill(x, FX_D, 5);
    static uint8_t good[32 + 4 * FX_D], v[32 + 4 * FX_D];
    uint32_t dims[1] = {FX_D};
    size_t len = expected_value(FC_DTYPE_F32, 1, dims, x, good);
    uint8_t kb[66];
    struct { int item; const char *why; } cases[] = {
        {1, "bad magic"}, {2, "shorter than"}, {3, "header describes"}, {4, "checksum"}, {5, "version"},
    };
    memcpy(v, good, len);
    v[0] = 'X';
    raw_key(fx_key(9, 1, 0), kb);
    raw_put(env, kb, 66, v, len);
    raw_key(fx_key(9, 2, 0), kb);
    raw_put(env, kb, 66, good, 10);
    raw_key(fx_key(9, 3, 0), kb);
    raw_put(env, kb, 66, good, len - 4);
    memcpy(v, good, len);
    v[100] ^= 1;
    raw_key(fx_key(9, 4, 0), kb);
    raw_put(env, kb, 66, v, len);
    memcpy(v, good, len);
    v[4] = 7;
    raw_key(fx_key(9, 5, 0), kb);
    raw_put(env, kb, 66, v, len);
    mdb_env_close(env);

    fc_cache *c = fx_cache_open(dir, 0, 0, 0);
    REQUIRE(c, "reopen");
    fc_error err = {0};
    float out[FX_D];
    char item_hex[65];
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        fc_feature_key k = fx_key(9, cases[i].item, 0);
        fc_hex_encode(k.item, 32, item_hex);
        int rc = fc_cache_get(c, &k, out, FX_D, NULL, &err);
        CHECK(rc == FC_EFORMAT && strstr(err.msg, cases[i].why) && strstr(err.msg, item_hex) &&
                  strstr(err.msg, "features.mdb"),
              "case %zu: rc %d '%s'", i, rc, err.msg);
    }
    fc_cache_txn *t;
    REQUIRE(fc_cache_txn_begin(c, &t, &err) == 0, "%s", err.msg);
    fc_feature_view view;
    fc_feature_key k1 = fx_key(9, 1, 0), k4 = fx_key(9, 4, 0);
    CHECK(fc_cache_txn_get(t, &k1, &view, &err) == FC_EFORMAT, "zero-copy get checks the header");
    CHECK(fc_cache_txn_get(t, &k4, &view, &err) == 1 && fc_feature_verify(&view, &err) == FC_EFORMAT,
          "zero-copy get leaves the CRC to fc_feature_verify");
    fc_cache_txn_end(t);
    fc_feature_key e9 = fx_key(9, 0, 0), k5 = fx_key(9, 5, 0);
    struct walk w = {.want_view = 1, .watch = k5.item};
    CHECK(fc_cache_foreach(c, e9.extractor, FC_CACHE_VISIT_VERIFY, walk_cb, &w, &err) == 0, "%s", err.msg);
    CHECK(w.n == 5 && w.bad == 5 && w.inconsistent == 0, "verify walk: %d keys, %d bad", w.n, w.bad);
    fc_hex_encode(k5.item, 32, item_hex);
    CHECK(strstr(w.watch_problem, "version") && strstr(w.watch_problem, item_hex), "problem: %s", w.watch_problem);
    memset(&w, 0, sizeof w);
    w.want_view = 1;
    CHECK(fc_cache_foreach(c, e9.extractor, FC_CACHE_VISIT_VALUES, walk_cb, &w, &err) == 0 && w.bad == 4 &&
              w.inconsistent == 0,
          "header-only walk: %d bad", w.bad);
    CHECK(fx_value_ok(c, 1, 0, 0) && fx_value_ok(c, 1, 2, 0), "good values unaffected");
    fc_cache_close(c);
    /* a foreign key of the wrong size */
    REQUIRE(mdb_env_create(&env) == 0 && mdb_env_open(env, path, MDB_NOSUBDIR, 0644) == 0, "raw open");
    raw_put(env, "\0abc", 4, "x", 1);
    mdb_env_close(env);
    c = fx_cache_open(dir, 0, 0, 0);
    REQUIRE(c, "reopen");
    memset(&w, 0, sizeof w);
    int rc = fc_cache_foreach(c, NULL, 0, walk_cb, &w, &err);
    CHECK(rc == FC_EFORMAT && strstr(err.msg, "66 bytes"), "foreign key: %d %s", rc, err.msg);
    CHECK(fc_cache_delete_items(c, (const uint8_t(*)[32])k1.item, 1, NULL, &err) == FC_EFORMAT,
          "delete walks refuse foreign keys too");
    fc_cache_close(c);
    /* a data file that is not LMDB at all */
    const char *junk_dir = fc_test_path("junk");
    mkdir(junk_dir, 0755);
    snprintf(path, sizeof path, "%s/features.mdb", junk_dir);
    FILE *f = fopen(path, "wb");
    REQUIRE(f, "junk file");
    for (int i = 0; i < 3 * 4096; i++) fputc((i * 131) & 0xff, f);
    fclose(f);
    c = NULL;
    rc = fc_cache_open(junk_dir, 0, NULL, &c, &err);
    CHECK(rc == FC_EFORMAT && !c && strstr(err.msg, "features.mdb"), "junk store: %d %s", rc, err.msg);
    fc_cache_close(c);
}

int main(void) {
    RUN(test_value_parse);
    RUN(test_roundtrip_f32);
    RUN(test_roundtrip_f16);
    RUN(test_batch_put_get_exists);
    RUN(test_reopen_persistence);
    RUN(test_deletes_and_walks);
    RUN(test_malformed_values);
    return check_done();
}
