/* Fixtures shared by the tests of store/ (tests/store/test_f16.c, test_cache.c, test_cache_sharing.c,
 * test_catalog.c): deterministic feature keys and values, float/half bit helpers, a feature store
 * opened with given map sizes, items put and checked back in batches, a data set counter for
 * fc_catalog_dataset_list. Not a place for checks: each test states its own. */
#ifndef FC_STORE_FIXTURE_H
#define FC_STORE_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

#include "store/cache.h"
#include "store/catalog.h"

enum { FX_D = 256 }; /* width of the values fx_put_items writes */

/* Key of extractor ext, item item, view view: the SHA-256 of "extractor-EXT" and "item-ITEM". */
fc_feature_key fx_key(int ext, int item, int view);
/* n pseudo-random values in [-4, 4) from seed (the same seed gives the same values). */
void fx_fill(float *x, size_t n, uint32_t seed);
uint32_t fx_bits(float f);
float fx_float(uint32_t u);
uint16_t fx_half(float f); /* through fc_f16_from_f32 */
/* A record of rank 1..3 (dims d0, d1, d2; unused dims 0) over data. */
fc_feature fx_feature(fc_feature_key key, fc_dtype dt, const float *data, int rank, uint32_t d0, uint32_t d1,
                      uint32_t d2);
/* fc_cache_open with these map sizes (0 = default); prints the error and returns NULL on failure. */
fc_cache *fx_cache_open(const char *dir, unsigned flags, size_t initial, size_t max);
/* Puts items first..first+n-1 with views 0..views-1 of extractor ext, FX_D values each (seeded by
 * ext, item and view), batch records per fc_cache_put; a failed put is a check failure. */
void fx_put_items(fc_cache *c, int ext, int first, int n, int views, int batch, fc_dtype dt);
/* Makes (or adds to) the store in dir: fx_put_items(ext, items 0..n-1, one view, batch, dt), then
 * closes it. 0, or -1 if it cannot be opened (the reason is printed). */
int fx_cache_seed(const char *dir, int ext, int n, int batch, fc_dtype dt);
/* 1 if the f32 value fx_put_items wrote for (ext, item, view) reads back bitwise equal. */
int fx_value_ok(fc_cache *c, int ext, int item, int view);
/* fc_catalog_dataset_list callback: counts[0] += 1 data set, counts[1] += its items (int64_t[2]). */
int fx_count_datasets(void *counts, const fc_catalog_dataset *d);

/* Runs SQL text on the SQLite file db behind featcache's back (rows its own writes cannot make);
 * 0, or SQLite's code with its message printed. */
int fx_sql(const char *db, const char *text);

#endif
