/* The feature store: an LMDB environment (DIR/features.mdb + DIR/features.mdb-lock) mapping
 * (extractor id, item hash, view) to one feature tensor, f32 or f16. Writes are batched into one
 * transaction each, so a killed process loses at most the batch in flight and never leaves a
 * half-written value; the map grows on demand up to a configurable limit. Reads can be zero-copy
 * inside a read transaction. Not here: which items/extractors exist (catalog.h), computing
 * features (extract/), gc/verify policy (they combine this file with the catalog). */
#ifndef FC_CACHE_H
#define FC_CACHE_H

/* Key (66 bytes): extractor SHA-256 (32) | item SHA-256 (32) | view (uint16, big-endian), so keys
 * of one extractor are contiguous and ordered by item, then view.
 *
 * Value: a 32-byte header then the data, all little-endian:
 *   0  "FCFT"           magic
 *   4  u8  version      1
 *   5  u8  dtype        1 = f32, 2 = f16
 *   6  u8  rank         1..4
 *   7  u8  0            reserved
 *   8  u32 dims[4]      dims[0..rank) >= 1, the rest 0; e.g. (D) or (C, H, W), C order
 *  24  u32 crc          CRC-32C of the data bytes (hash.h)
 *  28  u32 0            reserved
 *  32  data             prod(dims) elements of dtype
 * The value length must be exactly 32 + data bytes; anything else is FC_EFORMAT. The bytes are a
 * pure function of (dtype, dims, input floats): reproducible bit for bit.
 *
 * Page use (why there is no padding): a value larger than ~2 KiB (page size 4096) goes to its own
 * run of overflow pages and occupies ceil((16 + 32 + data) / 4096) whole pages (16 = LMDB page
 * header); smaller values share leaf pages. Appending pad bytes can only add pages, never save one,
 * so values are stored unpadded; instead the header is a fixed 32 bytes so that, in overflow pages,
 * the data starts 16-byte aligned (page + 16 + 32), and it costs an extra page only when the data
 * size mod 4096 is in [4049, 4080] (e.g. 1280-D: f32 2 pages, f16 1 page; 2048-D: f32 3 pages,
 * f16 2 pages, the same counts as header-less values). All values of one extractor have the same
 * size, so the page runs that deletes free are reused whole by later values of that shape.
 *
 * Concurrency: open a cache directory once per process and share the handle between threads; the
 * handle is thread-safe. Several processes may open the same directory. LMDB admits one write
 * transaction at a time over all processes: a second writer (fc_cache_put / fc_cache_delete_*)
 * waits inside LMDB, without timeout, until the first commits; readers never wait for writers.
 * Read transactions (MDB_NOTLS) may be used from any thread, one thread at a time. Never use a
 * handle in a child after fork(): open a new one there. Growing the map needs every read
 * transaction of this process ended: a put that must grow waits for them (see resize_wait_ms). */

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

typedef enum { FC_DTYPE_F32 = 1, FC_DTYPE_F16 = 2 } fc_dtype;

/* "f32" or "f16" (as the catalog and run records spell them); NULL for anything else. */
const char *fc_dtype_name(fc_dtype dtype);

#define FC_FEATURE_MAX_RANK 4
#define FC_FEATURE_HEADER_SIZE 32
#define FC_FEATURE_KEY_SIZE 66
#define FC_FEATURE_MAX_BYTES (1u << 30) /* data bytes of one value */

typedef struct fc_feature_key {
    uint8_t extractor[32]; /* extractor fingerprint (SHA-256) */
    uint8_t item[32];      /* SHA-256 of the item's file bytes */
    uint16_t view;         /* view index (0 = original, 1 = flip, ...) */
} fc_feature_key;

/* One feature to store. data is (dims[0], ..., dims[rank-1]) float32 in host order; the store
 * converts to dtype. dims[rank..] are ignored (stored as 0). */
typedef struct fc_feature {
    fc_feature_key key;
    fc_dtype dtype;
    int rank;
    uint32_t dims[FC_FEATURE_MAX_RANK];
    const float *data;
} fc_feature;

/* A parsed stored value. data points at prod(dims) little-endian elements of dtype (nbytes bytes)
 * inside the LMDB map or the caller's buffer: no alignment guarantee (16-byte aligned for values
 * in overflow pages, only 2-byte for small inline ones); read it with fc_feature_to_f32 or memcpy.
 * Valid only as long as the transaction (or buffer) it came from. */
typedef struct fc_feature_view {
    fc_dtype dtype;
    int rank;
    uint32_t dims[FC_FEATURE_MAX_RANK];
    size_t count;  /* prod(dims) */
    size_t nbytes; /* count * element size */
    uint32_t crc;  /* CRC-32C recorded in the header */
    const void *data;
} fc_feature_view;

typedef struct fc_cache fc_cache;
typedef struct fc_cache_txn fc_cache_txn;

typedef struct fc_cache_options {
    size_t initial_map_size; /* 0 = 64 MiB; an existing larger map is kept */
    size_t max_map_size;     /* growth stops here (rounded down to pages); 0 = 1 TiB (1 GiB on
                                32-bit hosts). The map is address space, not disk: the file
                                only grows with the data. */
    unsigned max_readers;    /* concurrent read transactions over all processes; 0 = 126. Only
                                applies when the lock file is created. */
    int resize_wait_ms;      /* how long a growing put waits for this process's open read
                                transactions to end; 0 = 30000 */
} fc_cache_options;

enum {
    FC_CACHE_RDONLY = 1u, /* open for reading only; every write function fails with FC_EINVAL */
};

/* The cache folder a user means: dir when given (not NULL or ""), else $FEATCACHE_HOME when set,
 * else ".featcache" (in the working folder). Never NULL. */
const char *fc_cache_dir(const char *dir);

/* Opens (creating when not FC_CACHE_RDONLY) the feature store in dir. Read-write creates dir if
 * missing (one level, mode 0777 & ~umask) and the LMDB files; stale reader slots of killed
 * processes are cleared. Read-only needs an existing store; when the lock file cannot be created or
 * opened (read-only directory or file system) it opens without locking (MDB_NOLOCK), which is only
 * safe when nobody writes meanwhile (true for read-only media). opt may be NULL (defaults).
 * Errors: FC_EIO (cannot create/open, names the path and strerror; "no feature store" when a
 * read-only open finds none), FC_ENOSPC (no room for the files), FC_EFORMAT (not an LMDB file),
 * FC_EUNSUPPORTED (LMDB version mismatch), FC_EINVAL (NULL arguments, bad flags or options),
 * FC_ENOMEM. On success *out is
 * owned by the caller (fc_cache_close); on error it is NULL. Do not open the same directory twice
 * in one process (LMDB's locks would break); thread-safe otherwise. */
int fc_cache_open(const char *dir, unsigned flags, const fc_cache_options *opt, fc_cache **out,
                  fc_error *err);

/* Closes the store. Every fc_cache_txn must have been ended and no other thread may be using c.
 * NULL is fine. */
void fc_cache_close(fc_cache *c);

/* Stores n features (n may be 0) in ONE write transaction: either all are committed or none.
 * Existing values under the same keys are replaced. Every record is validated before anything
 * is written. When the map is full it grows (doubling, up to max_map_size) and the whole
 * transaction is retried; blocks while another process or thread writes. Errors: FC_EINVAL
 * (read-only cache, NULL data, bad dtype/rank, a dim of 0; names the record index), FC_ELIMIT
 * (a value over FC_FEATURE_MAX_BYTES; too many dirty pages for one transaction), FC_EFULL (the
 * store would exceed max_map_size: "cache full"), FC_ETIMEOUT (the map must grow but read
 * transactions of this process stayed open for resize_wait_ms), FC_ENOSPC (the file system is
 * full), FC_EIO (I/O error: path and reason), FC_ENOMEM. On any error nothing of this batch is
 * stored and earlier commits are intact. Thread-safe. */
int fc_cache_put(fc_cache *c, const fc_feature *features, size_t n, fc_error *err);

/* Checks n keys in one read transaction: present[i] = 1 when keys[i] is stored, else 0.
 * n_present (may be NULL) gets the number present. Values are not read (no page faults on
 * feature data). Errors: FC_EINVAL (NULL arguments), FC_EIO, FC_EFORMAT (LMDB corruption). On
 * error present[] is unspecified. Thread-safe. */
int fc_cache_exists(fc_cache *c, const fc_feature_key *keys, size_t n, uint8_t *present,
                    size_t *n_present, fc_error *err);

/* As fc_cache_exists, but a stored value only counts as present when its header parses and its
 * CRC matches (so it reads the data of every value found): present[i] = 1 for such a value, 2 for
 * a stored value that fails (damaged: to be computed again and replaced), 0 when absent. n_present
 * and n_damaged (may be NULL) get the counts of 1s and 2s. Errors as fc_cache_exists. */
int fc_cache_exists_verified(fc_cache *c, const fc_feature_key *keys, size_t n, uint8_t *present,
                             size_t *n_present, size_t *n_damaged, fc_error *err);

/* Copies one feature out as float32 (f16 values widened exactly), checking the header and the
 * CRC. out may be NULL (with cap 0) to ask only for the shape. info (may be NULL) gets the shape,
 * with info->data = NULL. Returns 1 when found, 0 when the key is absent (info zeroed), or:
 * FC_EFORMAT (malformed value: bad magic/version/dtype/rank/dims/length/CRC, names the key),
 * FC_ESHAPE (cap < element count; info is still filled), FC_EINVAL, FC_EIO. Thread-safe. */
int fc_cache_get(fc_cache *c, const fc_feature_key *key, float *out, size_t cap,
                 fc_feature_view *info, fc_error *err);

/* Starts a read transaction: a consistent snapshot for zero-copy reads. *out is owned by the
 * caller and must be ended with fc_cache_txn_end before fc_cache_close; keep it short (an open
 * snapshot pins old pages and delays map growth). Usable from any thread, one at a time. Errors:
 * FC_ELIMIT (all reader slots in use), FC_EIO, FC_EINVAL. */
int fc_cache_txn_begin(fc_cache *c, fc_cache_txn **out, fc_error *err);

/* Looks up key inside t. Returns 1 and fills view (pointing into the map, valid until
 * fc_cache_txn_end) when found, 0 when absent, FC_EFORMAT when the header or length is malformed
 * (the CRC is not checked here: see fc_feature_verify), FC_EINVAL, FC_EIO. Never writes. */
int fc_cache_txn_get(fc_cache_txn *t, const fc_feature_key *key, fc_feature_view *view,
                     fc_error *err);

/* Ends the read transaction (from any thread) and frees t. NULL is fine. */
void fc_cache_txn_end(fc_cache_txn *t);

/* Flags for fc_cache_foreach. */
enum {
    FC_CACHE_VISIT_VALUES = 1u, /* parse each value's header (touches its first page) */
    FC_CACHE_VISIT_VERIFY = 2u, /* parse and check each value's CRC (reads all data) and the header
                                   of the pages that hold it */
};

/* Called once per stored key, in key order. With a VISIT flag, either view is set, or problem is
 * (code FC_EFORMAT, message naming the key and the reason) when the value failed parsing or
 * verification; without one both are NULL. key, view and problem are valid only during the call.
 * Return 0 to continue, non-zero to stop (fc_cache_foreach then returns that value). Must not
 * write to the same cache (it runs inside a read transaction). */
typedef int (*fc_cache_visit_fn)(void *user, const fc_feature_key *key,
                                 const fc_feature_view *view, const fc_error *problem);

/* Visits every key of one extractor (extractor != NULL, 32 bytes) or of the whole store, in one
 * read transaction. Keys that are not 66 bytes (not written by featcache) are reported as
 * FC_EFORMAT errors and stop the walk. Returns 0 after the last key, the callback's non-zero
 * value, or FC_EFORMAT/FC_EIO/FC_EINVAL. Thread-safe. */
int fc_cache_foreach(fc_cache *c, const uint8_t *extractor, unsigned flags, fc_cache_visit_fn fn,
                     void *user, fc_error *err);

/* Number of stored features of one extractor (walks its keys only) or of all (extractor NULL,
 * O(1)). Errors: FC_EINVAL, FC_EIO. Thread-safe. */
int fc_cache_count(fc_cache *c, const uint8_t *extractor, size_t *count, fc_error *err);

/* Deletes every feature of an extractor, in transactions of up to 65536 keys (deleting is
 * idempotent, so an interrupted delete is finished by calling it again). deleted (may be NULL)
 * gets the number removed. Errors as for fc_cache_put. Thread-safe. */
int fc_cache_delete_extractor(fc_cache *c, const uint8_t extractor[32], size_t *deleted,
                              fc_error *err);

/* Deletes the features of the given items (all extractors, all views) in one write transaction.
 * Cost: O(extractors x n x log N). deleted (may be NULL) gets the number removed. Errors as for
 * fc_cache_put. Thread-safe. */
int fc_cache_delete_items(fc_cache *c, const uint8_t (*items)[32], size_t n, size_t *deleted,
                          fc_error *err);

/* Deletes the values stored under the given keys (absent ones are skipped) in one write
 * transaction. deleted (may be NULL) gets the number removed. Errors as for fc_cache_put, and
 * FC_EFORMAT when a value's pages carry a damaged header (freeing them would free pages still in
 * use: nothing is deleted; a rebuild of the store drops the value). Thread-safe. */
int fc_cache_delete_keys(fc_cache *c, const fc_feature_key *keys, size_t n, size_t *deleted, fc_error *err);

/* Drops this process's resident pages of the store's memory map (the data stays in the kernel's
 * page cache, and values are faulted in again when read): a reader streaming through the whole
 * store once per epoch keeps its resident memory independent of the store's size. Views from
 * open transactions stay valid. Never fails; NULL is fine. Thread-safe. */
void fc_cache_release_pages(fc_cache *c);

typedef struct fc_cache_stats {
    size_t entries;      /* stored features */
    size_t map_size;     /* current map size in bytes */
    size_t max_map_size; /* configured growth limit */
    size_t used_bytes;   /* pages in use in the data file (incl. free pages awaiting reuse) */
    unsigned page_size;
} fc_cache_stats;

/* Fills st from the latest committed state. Errors: FC_EINVAL, FC_EIO. Thread-safe. */
int fc_cache_stat(fc_cache *c, fc_cache_stats *st, fc_error *err);

/* Parses a stored value (the layout above) without copying. Checks magic, version, dtype, rank,
 * dims, reserved fields and the exact length; not the CRC. Errors: FC_EFORMAT with the reason
 * (view zeroed). Thread-safe. */
int fc_feature_parse(const void *value, size_t len, fc_feature_view *view, fc_error *err);

/* Checks view's data against its recorded CRC-32C. FC_EFORMAT on mismatch. Thread-safe. */
int fc_feature_verify(const fc_feature_view *view, fc_error *err);

/* Converts view's data to float32 into out[0..view->count). FC_ESHAPE when cap < count,
 * FC_EINVAL for NULL arguments. Thread-safe. */
int fc_feature_to_f32(const fc_feature_view *view, float *out, size_t cap, fc_error *err);

#endif
