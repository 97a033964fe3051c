/* The feature store's LMDB level for other files of store/ that write values as stored (the merge):
 * one write transaction of a handle, with the map growth and retry of fc_cache_put, the check that a
 * value's pages may be freed, and the encoders of a key and a value header (cache.h's layouts).
 * Internal to store/: other layers use cache.h. Not here: opening, reading (cache.h). */
#ifndef FC_CACHE_LMDB_H
#define FC_CACHE_LMDB_H

#include <lmdb.h>
#include <stdint.h>

#include "core/core.h"
#include "store/cache.h"

/* Body of a write transaction: returns 0 to commit, else an LMDB or errno code (or one that
 * fc_cache_lmdb_freeable returned), which aborts the transaction. It may run more than once: when
 * the map is full, the transaction is discarded, the map grown and body run again from scratch, so
 * it must start from its arguments each time. */
typedef int (*fc_cache_lmdb_body)(fc_cache *c, MDB_txn *txn, MDB_dbi dbi, void *arg);

/* Runs body in one write transaction of c and commits it. Errors as fc_cache_put (FC_EINVAL for a
 * read-only handle, FC_EFULL, FC_ENOSPC, FC_EIO, FC_EFORMAT for a damaged page, ...), the message
 * naming the store and `what`. */
int fc_cache_lmdb_write(fc_cache *c, const char *what, fc_cache_lmdb_body body, void *arg, fc_error *err);

/* 0 when LMDB may free the pages of stored value v (before replacing or deleting it inside a body),
 * else a code for the body to return (the value's overflow page header is damaged). */
int fc_cache_lmdb_freeable(const fc_cache *c, const MDB_val *v);

/* The 66-byte key of k (cache.h). */
void fc_cache_key_encode(const fc_feature_key *k, uint8_t out[FC_FEATURE_KEY_SIZE]);

/* The 32-byte header of a value (cache.h) with these fields; dims[rank..] are written as 0. */
void fc_feature_header_encode(fc_dtype dtype, int rank, const uint32_t *dims, uint32_t crc,
                              uint8_t out[FC_FEATURE_HEADER_SIZE]);

#endif
