/* Cache maintenance over the catalog and the feature store together:
 *  - verify: every stored value parses and matches its CRC; every ok item of every data set has
 *    the (view 0) feature of each extractor the data set was extracted with; every stored feature
 *    belongs to a known extractor and a referenced item (orphans are reported, not errors); no
 *    catalog row points at nothing and SQLite's integrity_check passes (fc_catalog_check); data
 *    sets whose last extract did not finish are noted (not errors).
 *  - repair: drops what verify finds damaged, rebuilds a feature store that does not open.
 *  - gc: deletes features of unknown/unreferenced extractors (and of those the caller names) and
 *    of items no data set references.
 * gc must not run while an extract writes to the same cache (extract commits a batch's features
 * just before the catalog rows that reference them): callers hold the cache folder's lock
 * exclusively (lock.h), which every extract holds shared. Not here: printing (problems go to a
 * callback), the lock. */
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
    size_t incomplete;     /* (data set, extractor) pairs whose last extract did not finish: no
                              damage (the next extract completes them), a note */
    size_t catalog_problems; /* catalog rows that point at nothing, lines of SQLite's integrity_check */
    double catalog_seconds;  /* time the catalog check took (integrity_check reads the whole file) */
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

typedef struct fc_repair_report {
    int store_rebuilt;     /* features.mdb failed the checks of its open: rebuilt from what it held */
    size_t values_saved;   /* rebuild: values copied into the new store */
    size_t values_lost;    /* rebuild: values found that failed their checks (key, header, CRC) */
    size_t pages_lost;     /* rebuild: pages that could not be read (their values are lost too) */
    size_t values_dropped; /* damaged values deleted from a store that opened */
    size_t rows_fixed;     /* catalog rows deleted or detached (fc_catalog_repair) */
    size_t unrepaired;     /* problems left: damage to the catalog's tables, or a catalog that does
                              not open (a message says what to do) */
} fc_repair_report;

/* Repairs the cache folder dir, which no other process may use meanwhile. The feature store:
 * when it fails the checks of its open (fc_cache_open: a truncated file, damaged pages) it is
 * rebuilt from every value that can still be read and passes its checks, the damaged file kept as
 * features.mdb.damaged; otherwise the values that fail their checks (CRC, header, their pages'
 * header) are deleted. The catalog: fc_catalog_repair (indexes rebuilt, dangling rows removed).
 * The next extract computes every dropped feature again. note(user, message) (may be NULL) is
 * told each thing done and each thing left with what to do about it. Errors: FC_EIO, FC_ENOMEM,
 * FC_ETIMEOUT (the catalog stayed locked); damage that cannot be repaired is no error but
 * counted in rep->unrepaired. */
int fc_repair(const char *dir, void (*note)(void *user, const char *msg), void *user, fc_repair_report *rep,
              fc_error *err);

/* Deletes what nothing references; dry_run: counts exactly the values, extractors and items that
 * a run on the same cache would delete (the walk counts every stored value it condemns, every
 * view of an item its own), deleting nothing. The caller holds the cache's lock exclusively
 * (fc_cache_lock). Refuses (FC_EFORMAT, deleting nothing) when fc_catalog_check finds a problem:
 * what to delete is decided by the catalog's rows. drop (n_drop hex ids, may be NULL): extractors
 * deleted even where data sets' runs name them (extractors made by an older definition of the id). */
int fc_gc(fc_catalog *cat, fc_cache *cache, int dry_run, const char *const *drop, size_t n_drop, fc_gc_report *rep,
          fc_error *err);

#endif
