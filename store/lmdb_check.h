/* Structural checks of an LMDB data file (the on-disk format of liblmdb 0.9 on 64-bit hosts), so
 * that a damaged features.mdb is refused with a reason instead of crashing liblmdb, which trusts
 * every byte of its file: a file shorter than the pages its meta page names faults with SIGBUS when
 * mapped pages are touched, and node offsets, page numbers and counts are followed unchecked (or
 * end in an assertion that aborts). The checks read the meta pages with pread before LMDB opens the
 * file, then walk every branch and leaf page of both trees (free pages and main) of one snapshot;
 * overflow pages (the values) are only range-checked there, their bytes are the CRC's business.
 * The same walk, told to skip what it cannot trust, lists what a damaged file still holds.
 * The layout is that of a 64-bit host (page numbers are size_t): callers skip the checks elsewhere.
 * Not here: opening LMDB (cache.c), what the values mean (cache.h). Internal to store/. */
#ifndef FC_LMDB_CHECK_H
#define FC_LMDB_CHECK_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

/* One B-tree as a meta page describes it (LMDB's MDB_db). root is UINT64_MAX for an empty tree. */
typedef struct fc_lmdb_tree {
    uint16_t flags, depth;
    uint64_t branch, leaf, overflow, entries, root;
} fc_lmdb_tree;

/* One meta page: the start of a snapshot. */
typedef struct fc_lmdb_meta {
    uint32_t psize;        /* page size of the file */
    uint64_t last_pg;      /* last page in use (the file may end earlier if the free list holds the rest) */
    uint64_t txnid;        /* transaction that wrote this meta page */
    fc_lmdb_tree tree[2];  /* [0] free pages, [1] main */
} fc_lmdb_meta;

/* Reads both meta pages of the file at path (pread; nothing mapped) and checks what LMDB will rely
 * on: page type, magic, format version, a page size that is a power of two in 512..65536, both
 * trees' roots and depths in range of the last page, the flags featcache opens with, a transaction
 * id that belongs on that page (N on page N % 2), and a file of at least two pages. Returns 0 when
 * the file is usable, 1 when it is absent or empty (LMDB creates it), FC_EFORMAT with "PATH is
 * damaged: REASON" when not, FC_EIO when it cannot be read. Thread-safe. */
int fc_lmdb_check_header(const char *path, fc_error *err);

/* The fields of the meta page of snapshot txnid in the file image base[0..size) (a mapped file):
 * page txnid % 2, where liblmdb reads it. FC_EFORMAT when that page carries another transaction id
 * or its fields are out of range. A writer may overwrite a meta page at any time: the caller must
 * hold a read transaction of that snapshot (or the page would be rewritten meanwhile, and the
 * transaction id would differ after the copy). */
int fc_lmdb_meta_find(const uint8_t *base, size_t size, uint64_t txnid, fc_lmdb_meta *m, fc_error *err);

/* Checks every branch and leaf page of both trees of snapshot m in the file image base[0..size):
 * each page lies inside the file, is claimed once, carries its own number and a type that fits its
 * level; its node offsets, key and data sizes fit the page; keys are in order; overflow runs and
 * free-list entries lie inside the file's pages; the counts match the meta page; pages past the end
 * of the file are all on the free list. Reads only base[0..size). Returns 0, FC_EFORMAT with the
 * page and the reason ("page 7 (leaf, main tree): ..."), or FC_ENOMEM. Thread-safe; the pages must
 * not change meanwhile (hold a read transaction of the snapshot). */
int fc_lmdb_check_tree(const uint8_t *base, size_t size, const fc_lmdb_meta *m, fc_error *err);

/* Both meta pages of a damaged file image base[0..size), for salvaging: valid[i] says whether page
 * i passed the checks of fc_lmdb_check_header (page 1 is looked for one page size in, or at each
 * possible page size when page 0 is unreadable). Returns how many are valid (0..2). */
int fc_lmdb_metas(const uint8_t *base, size_t size, fc_lmdb_meta m[2], int valid[2]);

/* Called for each key/value pair that a salvage walk could read; data points into base. Return 0
 * to go on, non-zero to stop (the walk returns it). */
typedef int (*fc_lmdb_pair_fn)(void *user, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen);

/* Walks the main tree of snapshot m in base[0..size) like fc_lmdb_check_tree, but skips a page or
 * value that fails a check instead of stopping, and calls fn for every pair it can read (in key
 * order for the parts that are intact). *skipped gets the number of pages and values left out.
 * Returns 0 or fn's non-zero value, FC_ENOMEM. */
int fc_lmdb_salvage(const uint8_t *base, size_t size, const fc_lmdb_meta *m, fc_lmdb_pair_fn fn, void *user,
                    size_t *skipped, fc_error *err);

/* Checks the header of the overflow run holding a value LMDB returned (data, size) from its map of
 * the file at map[0..map_len) with pages of psize bytes: 0 when the value is inline in its leaf
 * page, lies outside the map (a page of the open write transaction), map is NULL, or the run's
 * header is right (its page number, the overflow type and the page count the size needs); else
 * FC_EFORMAT. Deleting or replacing a value frees as many pages as that header says: a wrong count
 * would free pages still in use. */
int fc_lmdb_check_overflow(const uint8_t *map, size_t map_len, uint32_t psize, const void *data, size_t size,
                           fc_error *err);

#endif
