/* store/: the content-addressed feature store and its catalog (depends on core/ only). This header
 * is its public API; other layers include only this one.
 *  - hash.h        SHA-256 of files and buffers (SHA-NI when the CPU has it)
 *  - cache.h       LMDB feature store: values keyed by (extractor, item hash, view), CRC-checked
 *  - f16.h         float16 <-> float32 for stored values
 *  - catalog.h     SQLite catalog: data sets, items, labels, splits, extractors, runs, bad files
 *  - runs.h        run records of processes that died (marked interrupted), a data set's last
 *                  extract (finished or not)
 *  - lock.h        the cache folder's writer lock between extract and gc
 *  - featureset.h  feature matrices of a data set read back from cache + catalog
 *  - maint.h       verify and gc
 *  - merge.h       merging cache folders (the shards of a job array) into one */
#ifndef FC_STORE_H
#define FC_STORE_H

#include "store/cache.h"
#include "store/catalog.h"
#include "store/f16.h"
#include "store/featureset.h"
#include "store/hash.h"
#include "store/lock.h"
#include "store/maint.h"
#include "store/merge.h"
#include "store/runs.h"

#endif
