/* Tests for store/featureset.h: a data set loaded for one view, then further views appended as
 * blocks of rows in the same item order (bitwise the stored values), and a view that some items
 * lack reported by count and first item with the feature set left as it was. */
#include <stdio.h>
#include <string.h>

#include "store/featureset.h"
#include "store/hash.h"
#include "tests/support/check.h"
#include "tests/support/store_fixture.h"
#include "tests/support/tmpdir.h"

enum { N = 12, N_FLIP = 9 }; /* items; items 0..N_FLIP-1 also have view 1 */

/* The catalog's data set "d" of N ok items whose hashes are fx_key's, with views 0 (all) and 1
 * (the first N_FLIP) of extractor 3 in the store; hex gets the extractor id. */
static int seed(const char *dir, char hex[65]) {
    fc_catalog *cat = NULL;
    fc_error err = {0};
    int64_t ds;
    if (fc_catalog_open(dir, 0, 0, &cat, &err) || fc_catalog_dataset_upsert(cat, "d", "/d", "imagefolder", &ds, &err)) {
        printf("  (catalog: %s)\n", err.msg);
        fc_catalog_close(cat);
        return -1;
    }
    fc_catalog_item items[N];
    char paths[N][16];
    memset(items, 0, sizeof items);
    for (int i = 0; i < N; i++) {
        fc_feature_key k = fx_key(3, i, 0);
        snprintf(paths[i], sizeof paths[i], "c/%02d.jpg", i);
        items[i] = (fc_catalog_item){.path = paths[i], .has_hash = 1, .label = "c", .split = "train",
                                     .status = FC_ITEM_OK, .size = -1, .mtime = -1};
        memcpy(items[i].sha256, k.item, 32);
        if (i == 0) fc_hex_encode(k.extractor, 32, hex);
    }
    int rc = fc_catalog_item_upsert(cat, ds, items, N, 1, &err);
    if (rc) printf("  (items: %s)\n", err.msg);
    fc_catalog_close(cat);
    fc_cache *c = fx_cache_open(dir, 0, 0, 0);
    if (!c) return -1;
    fx_put_items(c, 3, 0, N_FLIP, 2, 16, FC_DTYPE_F32);
    fx_put_items(c, 3, N_FLIP, N - N_FLIP, 1, 16, FC_DTYPE_F32);
    fc_cache_close(c);
    return rc;
}

static void test_views(void) {
    const char *dir = fc_test_tmpdir();
    char hex[65];
    REQUIRE(seed(dir, hex) == 0, "seeding failed");
    fc_catalog *cat = NULL;
    fc_cache *cache = NULL;
    fc_error err = {0};
    fc_featureset f;
    REQUIRE(fc_catalog_open(dir, FC_CATALOG_RDONLY, 0, &cat, &err) == 0, "%s", err.msg);
    cache = fx_cache_open(dir, FC_CACHE_RDONLY, 0, 0);
    REQUIRE(cache && fc_featureset_load(cat, cache, "d", hex, 0, &f, &err) == 0, "%s", err.msg);
    CHECK(f.n == N && f.dim == FX_D && f.n_views == 1, "n %zu dim %zu views %d", f.n, f.dim, f.n_views);
    /* view 1 is missing for items N_FLIP..N-1: counted, the first named, nothing appended */
    size_t first = 0;
    int rc = fc_featureset_add_view(cache, hex, 1, &f, &first, &err);
    CHECK(rc == N - N_FLIP && first == N_FLIP && f.n_views == 1, "rc %d first %zu views %d", rc, first, f.n_views);
    CHECK(fc_featureset_add_view(cache, hex, 0, &f, &first, &err) == 0 && f.n_views == 2, "%s", err.msg);
    float want[FX_D];
    int same = 1;
    for (int i = 0; i < N; i++) {
        fx_fill(want, FX_D, (uint32_t)(3 * 100000 + i * 10));
        same &= !memcmp(f.x + (size_t)i * FX_D, want, sizeof want) && !memcmp(f.x + (size_t)(N + i) * FX_D, want, sizeof want);
    }
    CHECK(same, "blocks 0 and 1 hold view 0 of every item in order");
    fc_featureset_free(&f);

    /* only the items that have both views: a data set of the first N_FLIP items */
    fc_catalog_close(cat);
    REQUIRE(fc_catalog_open(dir, 0, 0, &cat, &err) == 0, "%s", err.msg);
    int64_t ds, removed;
    REQUIRE(fc_catalog_dataset_find(cat, "d", &ds, &err) == 1, "%s", err.msg);
    fc_catalog_item keep[N_FLIP];
    char paths[N_FLIP][16];
    for (int i = 0; i < N_FLIP; i++) {
        fc_feature_key k = fx_key(3, i, 0);
        snprintf(paths[i], sizeof paths[i], "c/%02d.jpg", i);
        keep[i] = (fc_catalog_item){.path = paths[i], .has_hash = 1, .label = "c", .status = FC_ITEM_OK, .size = -1, .mtime = -1};
        memcpy(keep[i].sha256, k.item, 32);
    }
    REQUIRE(fc_catalog_item_sync(cat, ds, keep, N_FLIP, 2, &removed, &err) == 0 && removed == N - N_FLIP, "%s", err.msg);
    REQUIRE(fc_featureset_load(cat, cache, "d", hex, 0, &f, &err) == 0, "%s", err.msg);
    REQUIRE(fc_featureset_add_view(cache, hex, 1, &f, &first, &err) == 0 && f.n_views == 2 && f.n == N_FLIP, "%s", err.msg);
    same = 1;
    for (int i = 0; i < N_FLIP; i++) {
        fx_fill(want, FX_D, (uint32_t)(3 * 100000 + i * 10 + 1));
        same &= !memcmp(f.x + (size_t)(N_FLIP + i) * FX_D, want, sizeof want);
    }
    CHECK(same, "block 1 holds view 1 of every item in order");
    fc_featureset_free(&f);
    fc_cache_close(cache);
    fc_catalog_close(cat);
}

int main(void) {
    RUN(test_views);
    return check_done();
}
