/* Tests for the storage layer: f16 conversion (every half value, ties, subnormals, against the
 * compiler's _Float16 when available), the value format and its corruption handling, the LMDB
 * feature store (f32/f16 round trips byte-exact against an independently built reference, batch
 * put/get/exists, reopen, map growth from 32 KiB, the map-size limit as "cache full", read-only
 * directories, two writer processes, readers during growth, deletes, malformed values written with
 * raw LMDB) and the SQLite catalog (schema, idempotent upserts, bad items, runs, foreign keys, a
 * writer holding it past the busy timeout).
 * Everything lives in a private temporary directory. Not a benchmark. */
#include "store/cache.h"
#include "store/catalog.h"
#include "store/f16.h"
#include "store/hash.h"

#include <errno.h>
#include <float.h>
#include <ftw.h>
#include <lmdb.h>
#include <math.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/support/check.h"

static char tmpdir[256];

/* ---- helpers ------------------------------------------------------------------------------- */

static const char *dir_of(const char *name) {
    static char path[4][512];
    static int next;
    char *p = path[next++ & 3];
    snprintf(p, 512, "%s/%s", tmpdir, name);
    return p;
}

static fc_feature_key key_of(int ext, int item, int view) {
    fc_feature_key k;
    char buf[32];
    snprintf(buf, sizeof buf, "extractor-%d", ext);
    fc_sha256_digest(buf, strlen(buf), k.extractor);
    snprintf(buf, sizeof buf, "item-%d", item);
    fc_sha256_digest(buf, strlen(buf), k.item);
    k.view = (uint16_t)view;
    return k;
}

static void fill(float *x, size_t n, uint32_t seed) {
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        x[i] = ((float)(seed >> 8) / 16777216.0f - 0.5f) * 8.0f;
    }
}

static uint32_t bits_of(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float float_of(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static fc_feature feature(fc_feature_key key, fc_dtype dt, const float *data, int rank, uint32_t d0,
                          uint32_t d1, uint32_t d2) {
    fc_feature f = {.key = key, .dtype = dt, .rank = rank, .data = data};
    f.dims[0] = d0, f.dims[1] = d1, f.dims[2] = d2;
    return f;
}

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
            uint32_t u = bits_of(x[i]);
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

static fc_cache *open_cache(const char *dir, unsigned flags, size_t initial, size_t max) {
    fc_cache_options o = {.initial_map_size = initial, .max_map_size = max};
    fc_cache *c = NULL;
    fc_error err = {0};
    int rc = fc_cache_open(dir, flags, &o, &c, &err);
    if (rc) printf("  (open %s: %s)\n", dir, err.msg);
    return c;
}

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

static void raw_key(fc_feature_key k, uint8_t out[66]) {
    memcpy(out, k.extractor, 32);
    memcpy(out + 32, k.item, 32);
    out[64] = (uint8_t)(k.view >> 8), out[65] = (uint8_t)k.view;
}

/* ---- f16 ----------------------------------------------------------------------------------- */

static uint16_t to_half(float f) {
    uint16_t h;
    fc_f16_from_f32(&f, &h, 1);
    return h;
}

static void test_f16_conversion(void) {
    /* every half round-trips exactly through float */
    for (uint32_t h = 0; h < 65536; h++) {
        uint16_t in = (uint16_t)h, back;
        float f;
        fc_f16_to_f32(&in, &f, 1);
        fc_f16_from_f32(&f, &back, 1);
        if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff)) {
            REQUIRE(isnan(f) && (back & 0x7c00) == 0x7c00 && (back & 0x3ff) && (back & 0x8000) == (h & 0x8000),
                    "NaN %04x -> %04x", h, back);
        } else {
            REQUIRE(back == in, "half %04x -> %g -> %04x", h, f, back);
        }
    }
    /* known values, ties to even, overflow, subnormals */
    struct { float f; uint16_t h; } cases[] = {
        {1.0f, 0x3c00}, {-2.0f, 0xc000}, {0.1f, 0x2e66}, {65504.0f, 0x7bff}, {65519.99f, 0x7bff},
        {65520.0f, 0x7c00}, {1e10f, 0x7c00}, {-INFINITY, 0xfc00}, {-0.0f, 0x8000},
        {0x1p-24f, 0x0001}, {0x1p-25f, 0x0000}, {0x1.8p-25f, 0x0001}, {0x1.8p-24f, 0x0002},
        {0x1p-14f, 0x0400}, {0x1p-14f - 0x1p-25f, 0x0400}, {1.0f + 0x1p-11f, 0x3c00},
        {1.0f + 0x1.8p-10f, 0x3c02}, {1.0f + 0x1p-11f + 0x1p-23f, 0x3c01}, {0x1p-30f, 0x0000},
        {-0x1p-130f, 0x8000},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        CHECK(to_half(cases[i].f) == cases[i].h, "%a -> %04x, want %04x", cases[i].f,
              to_half(cases[i].f), cases[i].h);
    CHECK(to_half(NAN) & 0x3ff, "NaN stays NaN");
    CHECK(to_half(float_of(0x7f800001u)) != 0x7c00, "signalling NaN with low payload is not inf");
    /* relative error for normal values */
    double worst = 0;
    uint32_t seed = 1;
    for (int i = 0; i < 200000; i++) {
        seed = seed * 1664525u + 1013904223u;
        float x = ldexpf(1.0f + (float)(seed >> 9) / 8388608.0f, (int)(seed % 29) - 14); /* [2^-14, 2^15) */
        uint16_t h = to_half(x);
        float y;
        fc_f16_to_f32(&h, &y, 1);
        double rel = fabs((double)y - x) / x;
        if (rel > worst) worst = rel;
    }
    CHECK(worst <= 0x1p-11 && worst <= 1e-3, "worst relative error %g", worst);
#ifdef __FLT16_MAX__
    /* against the compiler's conversion (IEEE round-to-nearest-even), including exact ties */
    long mismatches = 0;
    for (uint64_t b = 0; b < (1ull << 32); b += 4093) {
        uint32_t variants[4] = {(uint32_t)b, ((uint32_t)b & ~0x1fffu) | 0x1000u,
                                ((uint32_t)b & ~0x1fffu) | 0x0fffu, ((uint32_t)b & ~0x1fffu) | 0x3000u};
        for (int v = 0; v < 4; v++) {
            float x = float_of(variants[v]);
            if (isnan(x)) continue;
            _Float16 ref = (_Float16)x;
            uint16_t rb;
            memcpy(&rb, &ref, 2);
            if (rb != to_half(x) && mismatches++ < 5)
                printf("  %08x: ours %04x, compiler %04x\n", variants[v], to_half(x), rb);
        }
    }
    CHECK(mismatches == 0, "%ld mismatches against _Float16", mismatches);
#endif
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
    const char *dir = dir_of("f32");
    fc_cache *c = open_cache(dir, 0, 0, 0);
    REQUIRE(c, "open");
    static float a[1280], b[8 * 3 * 5];
    fill(a, 1280, 1);
    fill(b, 120, 2);
    a[0] = NAN, a[1] = -0.0f, a[2] = INFINITY, a[3] = float_of(1), a[4] = -FLT_MAX;
    fc_feature fs[2] = {feature(key_of(1, 1, 0), FC_DTYPE_F32, a, 1, 1280, 0, 0),
                        feature(key_of(1, 2, 0), FC_DTYPE_F32, b, 3, 8, 3, 5)};
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
    fc_feature_key missing = key_of(1, 3, 0);
    CHECK(fc_cache_txn_get(t, &missing, &v, &err) == 0 && v.data == NULL, "missing in txn");
    fc_cache_txn_end(t);
    /* the documented key layout: extractor | item | view big-endian */
    fc_feature g = feature(key_of(1, 1, 258), FC_DTYPE_F32, b, 1, 120, 0, 0);
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
    const char *dir = dir_of("f16");
    fc_cache *c = open_cache(dir, 0, 0, 0);
    REQUIRE(c, "open");
    enum { N = 2048 };
    static float x[N], out[N];
    fill(x, N, 3);
    const float exact[] = {0.5f, -3.25f, 1024.0f, 0.0f, -0.0f, 65504.0f, 0x1p-24f, 0.099975586f};
    memcpy(x, exact, sizeof exact);
    fc_feature f = feature(key_of(2, 1, 1), FC_DTYPE_F16, x, 1, N, 0, 0);
    fc_error err = {0};
    REQUIRE(fc_cache_put(c, &f, 1, &err) == 0, "%s", err.msg);
    fc_feature_view info;
    REQUIRE(fc_cache_get(c, &f.key, out, N, &info, &err) == 1, "%s", err.msg);
    CHECK(info.dtype == FC_DTYPE_F16 && info.nbytes == 2 * N, "stored as f16 (%zu bytes)", info.nbytes);
    for (size_t i = 0; i < sizeof exact / sizeof *exact; i++)
        CHECK(bits_of(out[i]) == bits_of(exact[i]), "representable %g came back as %g", exact[i], out[i]);
    double worst = 0;
    for (int i = 0; i < N; i++) {
        uint16_t h = to_half(x[i]);
        float want;
        fc_f16_to_f32(&h, &want, 1);
        REQUIRE(bits_of(out[i]) == bits_of(want), "element %d", i);
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

enum { D = 256 };

static void put_items(fc_cache *c, int ext, int first, int n, int views, int batch, fc_dtype dt) {
    static float data[64][D];
    fc_feature fs[64];
    fc_error err = {0};
    int k = 0;
    for (int i = first; i < first + n; i++)
        for (int v = 0; v < views; v++) {
            fill(data[k], D, (uint32_t)(ext * 100000 + i * 10 + v));
            fs[k] = feature(key_of(ext, i, v), dt, data[k], 1, D, 0, 0);
            if (++k == batch || (i == first + n - 1 && v == views - 1)) {
                int rc = fc_cache_put(c, fs, (size_t)k, &err);
                CHECK(rc == 0, "put: %s", err.msg);
                k = 0;
            }
        }
}

static int value_ok(fc_cache *c, int ext, int item, int view) {
    float want[D], got[D];
    fill(want, D, (uint32_t)(ext * 100000 + item * 10 + view));
    fc_feature_key k = key_of(ext, item, view);
    return fc_cache_get(c, &k, got, D, NULL, NULL) == 1 && memcmp(want, got, sizeof got) == 0;
}

static void test_batch_put_get_exists(void) {
    fc_cache *c = open_cache(dir_of("batch"), 0, 0, 0);
    REQUIRE(c, "open");
    put_items(c, 1, 0, 200, 2, 40, FC_DTYPE_F32);
    static fc_feature_key keys[800];
    static uint8_t present[800];
    for (int i = 0; i < 400; i++)
        for (int v = 0; v < 2; v++) keys[2 * i + v] = key_of(1, i, v);
    size_t n_present = 0;
    fc_error err = {0};
    REQUIRE(fc_cache_exists(c, keys, 800, present, &n_present, &err) == 0, "%s", err.msg);
    CHECK(n_present == 400, "%zu present", n_present);
    int wrong = 0;
    for (int i = 0; i < 800; i++) wrong += present[i] != (i < 400);
    CHECK(wrong == 0, "%d wrong presence flags", wrong);
    int bad = 0;
    for (int i = 0; i < 200; i += 7) bad += !value_ok(c, 1, i, i & 1);
    CHECK(bad == 0, "%d values differ", bad);
    size_t n;
    fc_feature_key ext1 = key_of(1, 0, 0), ext2 = key_of(2, 0, 0);
    CHECK(fc_cache_count(c, ext1.extractor, &n, &err) == 0 && n == 400, "count ext1 %zu", n);
    CHECK(fc_cache_count(c, ext2.extractor, &n, &err) == 0 && n == 0, "count ext2 %zu", n);
    CHECK(fc_cache_count(c, NULL, &n, &err) == 0 && n == 400, "count all %zu", n);
    /* a miss, a too-small buffer, a shape-only query */
    float out[D];
    fc_feature_view info;
    CHECK(fc_cache_get(c, &keys[500], out, D, &info, &err) == 0 && info.count == 0, "miss");
    CHECK(fc_cache_get(c, &keys[0], out, D - 1, &info, &err) == FC_ESHAPE && info.count == D,
          "small buffer: %s", err.msg);
    CHECK(fc_cache_get(c, &keys[0], NULL, 0, &info, &err) == 1 && info.dims[0] == D, "shape only");
    /* invalid records: nothing of the batch is written */
    float x[4] = {1, 2, 3, 4};
    fc_feature fs[3] = {feature(key_of(3, 1, 0), FC_DTYPE_F32, x, 1, 4, 0, 0),
                        feature(key_of(3, 2, 0), FC_DTYPE_F32, x, 1, 4, 0, 0),
                        feature(key_of(3, 3, 0), FC_DTYPE_F32, x, 0, 4, 0, 0)};
    CHECK(fc_cache_put(c, fs, 3, &err) == FC_EINVAL && strstr(err.msg, "record 2"), "rank 0: %s", err.msg);
    fs[2].rank = 2;
    CHECK(fc_cache_put(c, fs, 3, &err) == FC_EINVAL && strstr(err.msg, "dims[1]"), "dim 0: %s", err.msg);
    fs[2] = feature(key_of(3, 3, 0), 9, x, 1, 4, 0, 0);
    CHECK(fc_cache_put(c, fs, 3, &err) == FC_EINVAL, "dtype 9");
    fs[2] = feature(key_of(3, 3, 0), FC_DTYPE_F32, NULL, 1, 4, 0, 0);
    CHECK(fc_cache_put(c, fs, 3, &err) == FC_EINVAL, "NULL data");
    fs[2] = feature(key_of(3, 3, 0), FC_DTYPE_F32, x, 2, 65536, 32768, 0);
    CHECK(fc_cache_put(c, fs, 3, &err) == FC_ELIMIT, "8 GiB value: %s", err.msg);
    fc_feature_key ext3 = key_of(3, 0, 0);
    CHECK(fc_cache_count(c, ext3.extractor, &n, &err) == 0 && n == 0, "nothing from failed batches");
    /* replacing a value */
    float y[4] = {9, 8, 7, 6};
    fs[0].data = y;
    CHECK(fc_cache_put(c, fs, 1, &err) == 0, "%s", err.msg);
    CHECK(fc_cache_get(c, &fs[0].key, out, D, NULL, &err) == 1 && out[0] == 9 && out[3] == 6, "replaced");
    CHECK(fc_cache_put(c, NULL, 0, &err) == 0, "empty batch");
    fc_cache_close(c);
}

static void test_reopen_persistence(void) {
    const char *dir = dir_of("reopen");
    fc_cache *c = open_cache(dir, 0, 0, 0);
    REQUIRE(c, "open");
    put_items(c, 5, 0, 50, 1, 25, FC_DTYPE_F16);
    put_items(c, 6, 0, 50, 1, 25, FC_DTYPE_F32);
    fc_cache_close(c);
    c = open_cache(dir, 0, 0, 0);
    REQUIRE(c, "reopen read-write");
    fc_cache_stats st;
    fc_error err = {0};
    CHECK(fc_cache_stat(c, &st, &err) == 0 && st.entries == 100, "entries %zu", st.entries);
    CHECK(value_ok(c, 6, 17, 0) && value_ok(c, 6, 49, 0), "f32 values after reopen");
    fc_cache_close(c);
    c = open_cache(dir, FC_CACHE_RDONLY, 0, 0);
    REQUIRE(c, "reopen read-only");
    CHECK(value_ok(c, 6, 0, 0), "read-only read");
    float x[D] = {0}, out[D];
    fc_feature_key k = key_of(5, 3, 0);
    CHECK(fc_cache_get(c, &k, out, D, NULL, &err) == 1 && fabsf(out[0]) > 0, "f16 read");
    fc_feature f = feature(key_of(7, 0, 0), FC_DTYPE_F32, x, 1, D, 0, 0);
    CHECK(fc_cache_put(c, &f, 1, &err) == FC_EINVAL && strstr(err.msg, "read-only"), "put refused: %s", err.msg);
    CHECK(fc_cache_delete_extractor(c, f.key.extractor, NULL, &err) == FC_EINVAL, "delete refused");
    CHECK(fc_cache_delete_items(c, &k.item, 1, NULL, &err) == FC_EINVAL, "delete items refused");
    fc_cache_close(c);
    fc_cache *c2 = NULL;
    CHECK(fc_cache_open(dir_of("reopen-missing"), FC_CACHE_RDONLY, NULL, &c2, &err) == FC_EIO && !c2 &&
              strstr(err.msg, "no feature store"),
          "read-only open of a missing store: %s", err.msg);
    fc_cache_close(c2);
}

/* ---- cache: map growth and its limit ------------------------------------------------------- */

static void test_map_growth(void) {
    fc_cache *c = open_cache(dir_of("growth"), 0, 1, 0); /* clamped up to the 8-page minimum */
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
            fill(data[i], W, (uint32_t)(b * PER + i));
            fs[i] = feature(key_of(8, b * PER + i, 0), FC_DTYPE_F32, data[i], 1, W, 0, 0);
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
        fill(want, W, (uint32_t)i);
        fc_feature_key k = key_of(8, i, 0);
        bad += fc_cache_get(c, &k, got, W, NULL, &err) != 1 || memcmp(want, got, sizeof got) != 0;
    }
    CHECK(bad == 0, "%d values wrong after growth", bad);
    fc_cache_close(c);
}

static void test_map_limit_is_clean_full_error(void) {
    const char *dir = dir_of("full");
    fc_cache *c = open_cache(dir, 0, 64 * 1024, 1 << 20);
    REQUIRE(c, "open");
    enum { W = 1024, PER = 8 };
    static float data[PER][W];
    fc_feature fs[PER];
    fc_error err = {0};
    /* one transaction per batch: a small record followed by one that cannot fit leaves nothing */
    static float huge[512 * 1024];
    fill(data[0], W, 0);
    fc_feature pair[2] = {feature(key_of(9, 0, 0), FC_DTYPE_F32, data[0], 1, W, 0, 0),
                          feature(key_of(9, -1, 0), FC_DTYPE_F32, huge, 1, 512 * 1024, 0, 0)};
    CHECK(fc_cache_put(c, pair, 2, &err) == FC_EFULL, "2 MiB value under a 1 MiB limit: %s", err.msg);
    CHECK(fc_cache_get(c, &pair[0].key, NULL, 0, NULL, &err) == 0, "the small record of the batch is absent");
    int committed = 0, rc = 0;
    for (int b = 0; b < 100 && rc == 0; b++) {
        for (int i = 0; i < PER; i++) {
            fill(data[i], W, (uint32_t)(b * PER + i));
            fs[i] = feature(key_of(9, b * PER + i, 0), FC_DTYPE_F32, data[i], 1, W, 0, 0);
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
        fill(want, W, (uint32_t)i);
        fc_feature_key k = key_of(9, i, 0);
        bad += fc_cache_get(c, &k, got, W, NULL, &err) != 1 || memcmp(want, got, sizeof got) != 0;
    }
    CHECK(bad == 0, "%d committed values damaged", bad);
    fc_cache_close(c);
    /* a larger limit lets the same batch in; everything earlier is still there */
    c = open_cache(dir, 0, 0, 4 << 20);
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
    REQUIRE(fc_cache_open(dir_of("wait"), 0, &o, &c, &err) == 0, "%s", err.msg);
    put_items(c, 1, 0, 1, 1, 1, FC_DTYPE_F32);
    fc_cache_txn *t;
    REQUIRE(fc_cache_txn_begin(c, &t, &err) == 0, "%s", err.msg);
    static float big[64 * 1024];
    fc_feature f = feature(key_of(1, 99, 0), FC_DTYPE_F32, big, 1, 64 * 1024, 0, 0);
    int rc = fc_cache_put(c, &f, 1, &err);
    CHECK(rc == FC_ETIMEOUT && strstr(err.msg, "stayed open"), "rc %d: %s", rc, err.msg);
    fc_feature_view v;
    fc_feature_key k0 = key_of(1, 0, 0);
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
        float got[D], want[D];
        fc_feature_key k = key_of(1, 0, 0);
        fill(want, D, 100000);
        if (fc_cache_txn_get(t, &k, &v, NULL) != 1 || fc_feature_to_f32(&v, got, D, NULL) != 0 ||
            memcmp(got, want, sizeof got) != 0)
            a->errors++;
        fc_cache_txn_end(t);
        a->reads++;
    }
    return NULL;
}

static void test_readers_during_growth(void) {
    fc_cache *c = open_cache(dir_of("threads"), 0, 64 * 1024, 0);
    REQUIRE(c, "open");
    put_items(c, 1, 0, 1, 1, 1, FC_DTYPE_F32);
    atomic_int stop = 0;
    struct reader_arg args[3];
    pthread_t th[3];
    for (int i = 0; i < 3; i++) {
        args[i] = (struct reader_arg){c, &stop, 0, 0};
        pthread_create(&th[i], NULL, reader_thread, &args[i]);
    }
    put_items(c, 2, 0, 1500, 1, 50, FC_DTYPE_F32); /* ~3 MB: several resizes under readers */
    atomic_store(&stop, 1);
    int reads = 0, errors = 0;
    for (int i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        reads += args[i].reads, errors += args[i].errors;
    }
    CHECK(errors == 0, "%d reader errors in %d reads", errors, reads);
    CHECK(reads > 0, "readers ran");
    CHECK(value_ok(c, 2, 1499, 0), "last write");
    fc_cache_stats st;
    CHECK(fc_cache_stat(c, &st, NULL) == 0 && st.map_size > 64 * 1024, "map grew to %zu", st.map_size);
    fc_cache_close(c);
}

static void grow_child(void *dir) {
    fc_cache *c = open_cache(dir, 0, 0, 0);
    REQUIRE(c, "child open");
    put_items(c, 3, 0, 2000, 1, 50, FC_DTYPE_F32); /* ~2.5 MB */
    fc_cache_close(c);
}

/* Another process grows the map and writes past this handle's map: the next transaction adopts
 * the new size (MDB_MAP_RESIZED) instead of failing. */
static void test_map_grown_by_other_process(void) {
    const char *dir = dir_of("adopt");
    fc_cache *c = open_cache(dir, 0, 64 * 1024, 0);
    REQUIRE(c, "open");
    put_items(c, 1, 0, 1, 1, 1, FC_DTYPE_F32);
    fc_cache_stats st;
    REQUIRE(fc_cache_stat(c, &st, NULL) == 0 && st.map_size == 64 * 1024, "map %zu", st.map_size);
    CHECK(in_child(grow_child, (void *)dir) == 0, "child writer");
    CHECK(value_ok(c, 3, 1999, 0) && value_ok(c, 1, 0, 0), "reads after the other process grew the map");
    CHECK(fc_cache_stat(c, &st, NULL) == 0 && st.map_size > 2u << 20, "adopted map %zu", st.map_size);
    put_items(c, 1, 1, 10, 1, 10, FC_DTYPE_F32);
    CHECK(value_ok(c, 1, 10, 0), "writes after adopting");
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
    CHECK(value_ok(c, 4, 3, 0) && value_ok(c, 4, 9, 0), "reads work");
    float x[D] = {0};
    fc_feature f = feature(key_of(4, 100, 0), FC_DTYPE_F32, x, 1, D, 0, 0);
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
    char dir[512];
    snprintf(dir, sizeof dir, "%s", dir_of("rodir"));
    fc_cache *c = open_cache(dir, 0, 0, 0);
    REQUIRE(c, "open");
    put_items(c, 4, 0, 10, 1, 10, FC_DTYPE_F32);
    fc_cache_close(c);
    fc_catalog *cat = NULL;
    fc_error err = {0};
    int64_t id;
    REQUIRE(fc_catalog_open(dir, 0, 0, &cat, &err) == 0, "%s", err.msg);
    CHECK(fc_catalog_dataset_upsert(cat, "ro", "/data/ro", "imagefolder", &id, &err) == 0, "%s", err.msg);
    fc_catalog_close(cat);
    chmod(tmpdir, 0755);
    char f1[600], f2[600];
    snprintf(f1, sizeof f1, "%s/features.mdb", dir);
    snprintf(f2, sizeof f2, "%s/catalog.sqlite", dir);
    chmod(f1, 0444);
    chmod(f2, 0444);
    REQUIRE(chmod(dir, 0555) == 0, "chmod");
    int st = in_child(readonly_child, dir);
    chmod(dir, 0755);
    chmod(tmpdir, 0700);
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
        put_items(c, 10 + a->id, b * 10, 10, 1, 10, FC_DTYPE_F32);
        fc_catalog_item items[10];
        char paths[10][32];
        for (int i = 0; i < 10; i++) {
            snprintf(paths[i], sizeof paths[i], "w%d/%03d.png", a->id, b * 10 + i);
            fc_feature_key k = key_of(10 + a->id, b * 10 + i, 0);
            items[i] = (fc_catalog_item){.path = paths[i], .has_hash = 1, .status = FC_ITEM_OK, .size = 1};
            memcpy(items[i].sha256, k.item, 32);
        }
        CHECK(fc_catalog_item_upsert(cat, ds, items, 10, 1, &err) == 0, "writer %d: %s", a->id, err.msg);
    }
    fc_catalog_close(cat);
    fc_cache_close(c);
}

static int count_cb(void *u, const fc_catalog_dataset *d) {
    int64_t *counts = u;
    counts[0]++;
    counts[1] += d->items;
    return 0;
}

static void test_two_processes_write(void) {
    const char *dir = dir_of("two");
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
    fc_cache *c = open_cache(dir, FC_CACHE_RDONLY, 0, 0);
    REQUIRE(c, "open");
    size_t n;
    fc_error err = {0};
    CHECK(fc_cache_count(c, NULL, &n, &err) == 0 && n == 600, "count %zu", n);
    int bad = 0;
    for (int w = 0; w < 2; w++)
        for (int i = 0; i < 300; i++) bad += !value_ok(c, 10 + w, i, 0);
    CHECK(bad == 0, "%d values wrong", bad);
    fc_cache_close(c);
    fc_catalog *cat = NULL;
    REQUIRE(fc_catalog_open(dir, FC_CATALOG_RDONLY, 0, &cat, &err) == 0, "%s", err.msg);
    int64_t ds;
    REQUIRE(fc_catalog_dataset_find(cat, "shared", &ds, &err) == 1, "dataset");
    int64_t counts[2] = {0, 0};
    CHECK(fc_catalog_dataset_list(cat, count_cb, counts, &err) == 0, "%s", err.msg);
    CHECK(counts[0] == 1 && counts[1] == 600, "%lld data sets, %lld items", (long long)counts[0],
          (long long)counts[1]);
    fc_catalog_close(cat);
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
    fc_cache *c = open_cache(dir_of("delete"), 0, 0, 0);
    REQUIRE(c, "open");
    for (int e = 1; e <= 3; e++) put_items(c, e, 0, 20, 2, 40, FC_DTYPE_F16);
    fc_error err = {0};
    uint8_t items[3][32];
    fc_feature_key k3 = key_of(1, 3, 0), k7 = key_of(1, 7, 0), k99 = key_of(1, 99, 0);
    memcpy(items[0], k3.item, 32);
    memcpy(items[1], k7.item, 32);
    memcpy(items[2], k99.item, 32);
    size_t deleted = 0, n;
    CHECK(fc_cache_delete_items(c, (const uint8_t(*)[32])items, 3, &deleted, &err) == 0 && deleted == 12,
          "deleted %zu: %s", deleted, err.msg);
    CHECK(fc_cache_get(c, &k3, NULL, 0, NULL, &err) == 0, "item 3 gone");
    fc_feature_key k3e2 = key_of(2, 3, 1);
    CHECK(fc_cache_get(c, &k3e2, NULL, 0, NULL, &err) == 0, "item 3 gone in other extractors");
    fc_feature_key e2 = key_of(2, 0, 0), e1 = key_of(1, 0, 0), e3 = key_of(3, 0, 0);
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
    const char *dir = dir_of("malformed");
    fc_cache *c = open_cache(dir, 0, 0, 0);
    REQUIRE(c, "open");
    put_items(c, 1, 0, 3, 1, 3, FC_DTYPE_F32);
    fc_cache_close(c);
    /* damage values behind the store's back, as a crash of another tool or bit rot would */
    MDB_env *env;
    char path[600];
    snprintf(path, sizeof path, "%s/features.mdb", dir);
    REQUIRE(mdb_env_create(&env) == 0 && mdb_env_open(env, path, MDB_NOSUBDIR, 0644) == 0, "raw open");
    float x[D];
    fill(x, D, 5);
    static uint8_t good[32 + 4 * D], v[32 + 4 * D];
    uint32_t dims[1] = {D};
    size_t len = expected_value(FC_DTYPE_F32, 1, dims, x, good);
    uint8_t kb[66];
    struct { int item; const char *why; } cases[] = {
        {1, "bad magic"}, {2, "shorter than"}, {3, "header describes"}, {4, "checksum"}, {5, "version"},
    };
    memcpy(v, good, len);
    v[0] = 'X';
    raw_key(key_of(9, 1, 0), kb);
    raw_put(env, kb, 66, v, len);
    raw_key(key_of(9, 2, 0), kb);
    raw_put(env, kb, 66, good, 10);
    raw_key(key_of(9, 3, 0), kb);
    raw_put(env, kb, 66, good, len - 4);
    memcpy(v, good, len);
    v[100] ^= 1;
    raw_key(key_of(9, 4, 0), kb);
    raw_put(env, kb, 66, v, len);
    memcpy(v, good, len);
    v[4] = 7;
    raw_key(key_of(9, 5, 0), kb);
    raw_put(env, kb, 66, v, len);
    mdb_env_close(env);

    c = open_cache(dir, 0, 0, 0);
    REQUIRE(c, "reopen");
    fc_error err = {0};
    float out[D];
    char item_hex[65];
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        fc_feature_key k = key_of(9, cases[i].item, 0);
        fc_hex_encode(k.item, 32, item_hex);
        int rc = fc_cache_get(c, &k, out, D, NULL, &err);
        CHECK(rc == FC_EFORMAT && strstr(err.msg, cases[i].why) && strstr(err.msg, item_hex) &&
                  strstr(err.msg, "features.mdb"),
              "case %zu: rc %d '%s'", i, rc, err.msg);
    }
    fc_cache_txn *t;
    REQUIRE(fc_cache_txn_begin(c, &t, &err) == 0, "%s", err.msg);
    fc_feature_view view;
    fc_feature_key k1 = key_of(9, 1, 0), k4 = key_of(9, 4, 0);
    CHECK(fc_cache_txn_get(t, &k1, &view, &err) == FC_EFORMAT, "zero-copy get checks the header");
    CHECK(fc_cache_txn_get(t, &k4, &view, &err) == 1 && fc_feature_verify(&view, &err) == FC_EFORMAT,
          "zero-copy get leaves the CRC to fc_feature_verify");
    fc_cache_txn_end(t);
    fc_feature_key e9 = key_of(9, 0, 0), k5 = key_of(9, 5, 0);
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
    CHECK(value_ok(c, 1, 0, 0) && value_ok(c, 1, 2, 0), "good values unaffected");
    fc_cache_close(c);
    /* a foreign key of the wrong size */
    REQUIRE(mdb_env_create(&env) == 0 && mdb_env_open(env, path, MDB_NOSUBDIR, 0644) == 0, "raw open");
    raw_put(env, "\0abc", 4, "x", 1);
    mdb_env_close(env);
    c = open_cache(dir, 0, 0, 0);
    REQUIRE(c, "reopen");
    memset(&w, 0, sizeof w);
    int rc = fc_cache_foreach(c, NULL, 0, walk_cb, &w, &err);
    CHECK(rc == FC_EFORMAT && strstr(err.msg, "66 bytes"), "foreign key: %d %s", rc, err.msg);
    CHECK(fc_cache_delete_items(c, (const uint8_t(*)[32])k1.item, 1, NULL, &err) == FC_EFORMAT,
          "delete walks refuse foreign keys too");
    fc_cache_close(c);
    /* a data file that is not LMDB at all */
    const char *junk_dir = dir_of("junk");
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

/* ---- catalog ------------------------------------------------------------------------------- */

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
    const char *dir = dir_of("cat-schema");
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
    const char *dir2 = dir_of("cat-garbage");
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
    REQUIRE(fc_catalog_open(dir_of("cat-upsert"), 0, 0, &cat, &err) == 0, "%s", err.msg);
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
    CHECK(fc_catalog_dataset_list(cat, count_cb, dsn, &err) == 0 && dsn[0] == 2 && dsn[1] == 3,
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
    REQUIRE(fc_catalog_open(dir_of("cat-bad"), 0, 0, &cat, &err) == 0, "%s", err.msg);
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
    REQUIRE(fc_catalog_open(dir_of("cat-runs"), 0, 0, &cat, &err) == 0, "%s", err.msg);
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
    REQUIRE(fc_catalog_open(dir_of("cat-fk"), 0, 0, &cat, &err) == 0, "%s", err.msg);
    int64_t ds, run;
    REQUIRE(fc_catalog_dataset_upsert(cat, "d", "/d", "csv", &ds, &err) == 0, "%s", err.msg);
    fc_catalog_item its[2] = {item("a.png", "x", 1), item("b.png", "y", 2)};
    CHECK(fc_catalog_item_upsert(cat, ds + 100, its, 2, 1, &err) == FC_EINVAL && strstr(err.msg, "FOREIGN KEY"),
          "items of an unknown data set: %s", err.msg);
    struct item_list l = {0};
    CHECK(fc_catalog_item_list(cat, 0, FC_ITEMS_ALL, item_cb, &l, &err) == 0 && l.n == 0, "rolled back");
    /* a batch failing in SQL half-way (a test trigger) is rolled back whole */
    char db[600];
    snprintf(db, sizeof db, "%s/catalog.sqlite", dir_of("cat-fk"));
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
    REQUIRE(fc_catalog_open(dir_of("cat-lock"), 0, 50, &cat, &err) == 0, "%s", err.msg);
    char db[600];
    snprintf(db, sizeof db, "%s/catalog.sqlite", dir_of("cat-lock"));
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

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/fc_test_store.XXXXXX");
    if (!mkdtemp(tmpdir)) {
        printf("FAIL test_store: cannot create a temporary directory\n");
        return 1;
    }
    RUN(test_f16_conversion);
    RUN(test_value_parse);
    RUN(test_roundtrip_f32);
    RUN(test_roundtrip_f16);
    RUN(test_batch_put_get_exists);
    RUN(test_reopen_persistence);
    RUN(test_map_growth);
    RUN(test_map_limit_is_clean_full_error);
    RUN(test_growth_waits_for_readers);
    RUN(test_readers_during_growth);
    RUN(test_map_grown_by_other_process);
    RUN(test_readonly_directory);
    RUN(test_two_processes_write);
    RUN(test_deletes_and_walks);
    RUN(test_malformed_values);
    RUN(test_catalog_schema);
    RUN(test_catalog_upserts_idempotent);
    RUN(test_catalog_bad_items);
    RUN(test_catalog_runs);
    RUN(test_catalog_foreign_keys);
    RUN(test_catalog_locked_times_out);
    nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return check_done();
}
