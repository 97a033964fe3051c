/* Cache maintenance over the catalog and the feature store together:
 *  - verify: every stored value parses and matches its CRC; every ok item of every data set has
 *    the (view 0) feature of each extractor the data set was extracted with; every stored feature
 *    belongs to a known extractor and a referenced item (orphans are reported, not errors); no
 *    catalog row points at nothing (fc_catalog_check).
 *  - gc: deletes features of unknown/unreferenced extractors and of items no data set references.
 * Run gc when no extract is writing to the same cache (extract commits a batch's features just
 * before the catalog rows that reference them). Not here: printing (problems go to a callback). */
#ifndef FC_MAINT_H
#define FC_MAINT_H

#include <stddef.h>

#include "core/core.h"
#include "store/cache.h"
#include "store/catalog.h"

typedef struct fc_verify_report {
    size_t values;         /* stored features checked */
    size_t corrupt;        /* values failing parse/CRC */
    size_t missing;        /* (item, extractor) pairs of ok items without a feature */
    size_t orphans;        /* features of unknown extractors or unreferenced items */
    size_t datasets, items, extractors;
    size_t unfinished_runs; /* runs still marked running (killed processes) */
    size_t catalog_problems; /* catalog rows that point at nothing (fc_catalog_check) */
} fc_verify_report;

/* problem(user, message) is called for each corrupt value, missing feature and kind of catalog
 * problem (first 1000). */
int fc_verify(fc_catalog *cat, fc_cache *cache, void (*problem)(void *user, const char *msg), void *user,
              fc_verify_report *rep, fc_error *err);

typedef struct fc_gc_report {
    size_t extractors_removed; /* extractors no data set uses: features and catalog row deleted */
    size_t features_deleted;
    size_t items_unreferenced; /* distinct item hashes deleted */
} fc_gc_report;

/* dry_run: count only. */
int fc_gc(fc_catalog *cat, fc_cache *cache, int dry_run, fc_gc_report *rep, fc_error *err);

#endif
