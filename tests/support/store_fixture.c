/* The store test fixtures (see store_fixture.h). */
#include "tests/support/store_fixture.h"

#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "store/f16.h"
#include "store/hash.h"
#include "tests/support/check.h"

fc_feature_key fx_key(int ext, int item, int view) {
    fc_feature_key k;
    char buf[32];
    snprintf(buf, sizeof buf, "extractor-%d", ext);
    fc_sha256_digest(buf, strlen(buf), k.extractor);
    snprintf(buf, sizeof buf, "item-%d", item);
    fc_sha256_digest(buf, strlen(buf), k.item);
    k.view = (uint16_t)view;
    return k;
}

void fx_fill(float *x, size_t n, uint32_t seed) {
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        x[i] = ((float)(seed >> 8) / 16777216.0f - 0.5f) * 8.0f;
    }
}

uint32_t fx_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

float fx_float(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

uint16_t fx_half(float f) {
    uint16_t h;
    fc_f16_from_f32(&f, &h, 1);
    return h;
}

fc_feature fx_feature(fc_feature_key key, fc_dtype dt, const float *data, int rank, uint32_t d0, uint32_t d1,
                      uint32_t d2) {
    fc_feature f = {.key = key, .dtype = dt, .rank = rank, .data = data};
    f.dims[0] = d0, f.dims[1] = d1, f.dims[2] = d2;
    return f;
}

fc_cache *fx_cache_open(const char *dir, unsigned flags, size_t initial, size_t max) {
    fc_cache_options o = {.initial_map_size = initial, .max_map_size = max};
    fc_cache *c = NULL;
    fc_error err = {0};
    int rc = fc_cache_open(dir, flags, &o, &c, &err);
    if (rc) printf("  (open %s: %s)\n", dir, err.msg);
    return c;
}

void fx_put_items(fc_cache *c, int ext, int first, int n, int views, int batch, fc_dtype dt) {
    static float data[64][FX_D];
    fc_feature fs[64];
    fc_error err = {0};
    int k = 0;
    for (int i = first; i < first + n; i++)
        for (int v = 0; v < views; v++) {
            fx_fill(data[k], FX_D, (uint32_t)(ext * 100000 + i * 10 + v));
            fs[k] = fx_feature(fx_key(ext, i, v), dt, data[k], 1, FX_D, 0, 0);
            if (++k == batch || (i == first + n - 1 && v == views - 1)) {
                int rc = fc_cache_put(c, fs, (size_t)k, &err);
                CHECK(rc == 0, "put: %s", err.msg);
                k = 0;
            }
        }
}

int fx_cache_seed(const char *dir, int ext, int n, int batch, fc_dtype dt) {
    fc_cache *c = fx_cache_open(dir, 0, 0, 0);
    if (!c) return -1;
    fx_put_items(c, ext, 0, n, 1, batch, dt);
    fc_cache_close(c);
    return 0;
}

int fx_value_ok(fc_cache *c, int ext, int item, int view) {
    float want[FX_D], got[FX_D];
    fx_fill(want, FX_D, (uint32_t)(ext * 100000 + item * 10 + view));
    fc_feature_key k = fx_key(ext, item, view);
    return fc_cache_get(c, &k, got, FX_D, NULL, NULL) == 1 && memcmp(want, got, sizeof got) == 0;
}

int fx_count_datasets(void *u, const fc_catalog_dataset *d) {
    int64_t *counts = u;
    counts[0]++;
    counts[1] += d->items;
    return 0;
}

int fx_sql(const char *db, const char *text) {
    sqlite3 *h = NULL;
    char *msg = NULL;
    int rc = sqlite3_open(db, &h);
    if (rc == 0) rc = sqlite3_exec(h, text, NULL, NULL, &msg);
    if (rc) printf("  sqlite: %s\n", msg ? msg : sqlite3_errmsg(h));
    sqlite3_free(msg);
    sqlite3_close(h);
    return rc;
}
