/* The catalog: DIR/catalog.sqlite, a SQLite database that says what the feature store means — data
 * sets and their items (relative path, SHA-256 of the bytes, label, split, ok/bad with the reason),
 * extractors (the parameters behind each fingerprint), and runs (extract/train/sweep with JSON
 * params and results). WAL mode (readers never block the writer), busy timeout, foreign keys on,
 * schema versioned by PRAGMA user_version and created on first open. Every statement is prepared
 * once per handle with bound parameters; no SQL is ever built from data. Not here: the features
 * themselves (cache.h), file scanning (dataset.h), gc/verify decisions (callers combine both). */
#ifndef FC_CATALOG_H
#define FC_CATALOG_H

/* Schema, version 2 (version 1 lacks items.crc; a read-write open adds it):
 *   datasets  (id INTEGER PK, name TEXT UNIQUE, root TEXT, format TEXT, created INTEGER unix s)
 *   items     (id INTEGER PK, dataset_id -> datasets ON DELETE CASCADE, path TEXT relative to root,
 *              sha256 BLOB(32) or NULL, label TEXT ('' = none), split TEXT ('' = none),
 *              status 'ok'|'bad', error TEXT, size INTEGER bytes, mtime INTEGER ns (-1 unknown),
 *              seen INTEGER (stamp of the scan that last saw it, for pruning);
 *              crc INTEGER (version 2: CRC-32C of dataset_id, path, sha256, label, split, status;
 *              a read of a row that does not match fails with FC_EFORMAT; NULL: not checked);
 *              UNIQUE (dataset_id, path); an 'ok' item must have a sha256; index on sha256)
 *   extractors(id TEXT PK = 64 hex digits of the fingerprint, model_path, model_sha256 (hex), layer,
 *              size, crop REAL, preprocess, views TEXT (the view set, e.g. "orig,flip": cache keys'
 *              view numbers index it), dtype 'f32'|'f16', dims TEXT "1280" or "1280,7,7", created)
 *   runs      (id INTEGER PK, kind 'extract'|'train'|'sweep', dataset_id -> datasets ON DELETE SET
 *              NULL, extractor_id -> extractors ON DELETE SET NULL, started, finished (NULL while
 *              running), params/result TEXT that must be valid JSON or NULL,
 *              status 'running'|'ok'|'partial'|'failed'; indexes on dataset_id, extractor_id)
 *   model_files (path PK, size, mtime, sha256, default_layer, height, width; version 2: crc of them
 *              all, a row that does not match is not used: the model is hashed again)
 * A pass computing several layers records one extract run per extractor. At open the file's schema
 * must be the one these statements make (compared with one made in memory).
 *
 * Lifetime and threads: a handle is one SQLite connection; use it from one thread at a time (open
 * one per thread if needed). Many handles and processes may use the same catalog: writes are
 * serialised by SQLite and wait up to the busy timeout, then fail with FC_ETIMEOUT ("database is
 * locked"). Strings passed to callbacks are valid only during the call; callbacks must not call
 * back into the same handle. Errors name the catalog file and SQLite's reason: FC_EINVAL for
 * constraint violations (unknown dataset id, invalid JSON, duplicate...) and misuse, FC_EFORMAT for
 * a corrupt or foreign file, FC_ETIMEOUT for locking, FC_ENOSPC when the disk is full ("database
 * or disk is full"), FC_EIO for other I/O errors, FC_ENOMEM. */

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"
#include "store/cache.h"

#define FC_CATALOG_SCHEMA_VERSION 2

typedef struct fc_catalog fc_catalog;

enum {
    FC_CATALOG_RDONLY = 1u, /* open for reading only; every write function fails with FC_EINVAL */
};

/* Opens DIR/catalog.sqlite. Read-write creates DIR (one level) and the database if missing,
 * switches it to WAL and creates the schema when user_version is 0 (in one transaction, so two
 * processes opening a fresh catalog at once are fine). Read-only requires an existing catalog; in
 * a directory where SQLite cannot create the WAL index it falls back to immutable mode (no
 * locking: only safe when nobody writes meanwhile, e.g. read-only media). busy_timeout_ms: how
 * long to wait for another writer (0 = 10000). Errors: FC_EIO (cannot create/open, read-only open
 * of a missing catalog), FC_EFORMAT (not a SQLite database), FC_EUNSUPPORTED (schema newer than
 * FC_CATALOG_SCHEMA_VERSION), FC_EINVAL, FC_ENOMEM. On success *out is owned by the caller
 * (fc_catalog_close); on error it is NULL. */
int fc_catalog_open(const char *dir, unsigned flags, int busy_timeout_ms, fc_catalog **out,
                    fc_error *err);

/* Finalizes the statements and closes the connection. NULL is fine. */
void fc_catalog_close(fc_catalog *cat);

/* ---- data sets ----------------------------------------------------------------------------- */

typedef struct fc_catalog_dataset {
    int64_t id;
    const char *name;   /* unique */
    const char *root;   /* absolute path when registered (may move: items are relative) */
    const char *format; /* layout name, e.g. "imagefolder" (dataset.h fc_layout_name) */
    int64_t created;    /* unix seconds */
    int64_t items, ok, bad, classes; /* counts (distinct non-empty labels for classes) */
} fc_catalog_dataset;

/* Inserts the data set or, when name exists, updates its root and format (created is kept).
 * *id gets its id. Errors: FC_EINVAL (read-only, NULL/empty name, NULL root/format), FC_EIO. */
int fc_catalog_dataset_upsert(fc_catalog *cat, const char *name, const char *root,
                              const char *format, int64_t *id, fc_error *err);

/* Looks a data set up by name: returns 1 and sets *id, 0 when absent, negative on error. */
int fc_catalog_dataset_find(fc_catalog *cat, const char *name, int64_t *id, fc_error *err);

/* Deletes a data set and (cascade) its items; its runs keep their rows with dataset_id NULL.
 * FC_EINVAL when no such id. */
int fc_catalog_dataset_delete(fc_catalog *cat, int64_t id, fc_error *err);

/* Calls fn for every data set ordered by name, counts filled. fn returns non-zero to stop (that
 * value is returned). FC_EFORMAT (before fn sees that data set) when some of its item rows do not
 * match their checksums. */
typedef int (*fc_catalog_dataset_fn)(void *user, const fc_catalog_dataset *d);
int fc_catalog_dataset_list(fc_catalog *cat, fc_catalog_dataset_fn fn, void *user, fc_error *err);

/* ---- items --------------------------------------------------------------------------------- */

typedef enum { FC_ITEM_OK = 0, FC_ITEM_BAD = 1 } fc_item_status;

typedef struct fc_catalog_item {
    int64_t id, dataset_id; /* filled by listings; ignored by fc_catalog_item_upsert */
    const char *path;       /* relative to the data set root: unique within the data set */
    int has_hash;           /* sha256 valid (required for FC_ITEM_OK) */
    uint8_t sha256[32];
    const char *label;      /* NULL or "" = unlabeled */
    const char *split;      /* NULL or "" = none; else e.g. "train", "val", "test" */
    fc_item_status status;
    const char *error;      /* reason when bad (NULL when ok) */
    int64_t size;           /* bytes, -1 unknown */
    int64_t mtime;          /* modification time in ns since the epoch, -1 unknown */
    int64_t seen;           /* scan stamp (see fc_catalog_item_prune) */
} fc_catalog_item;

/* Inserts or updates (by dataset_id + path) n items in ONE transaction, setting every column from
 * the record and seen = the given stamp (e.g. the run id). All or nothing. Errors: FC_EINVAL
 * (read-only; NULL/empty path, bad status, ok item without hash: names the index; unknown
 * dataset_id), FC_EIO. */
int fc_catalog_item_upsert(fc_catalog *cat, int64_t dataset_id, const fc_catalog_item *items,
                           size_t n, int64_t seen, fc_error *err);

/* Marks one item bad with a reason (e.g. a decoder's message). FC_EINVAL when the item does not
 * exist or reason is NULL. */
int fc_catalog_item_mark_bad(fc_catalog *cat, int64_t dataset_id, const char *path,
                             const char *reason, fc_error *err);

/* Deletes the items of a data set whose seen stamp differs from `seen` (files gone since the last
 * scan). removed (may be NULL) gets the count. */
int fc_catalog_item_prune(fc_catalog *cat, int64_t dataset_id, int64_t seen, int64_t *removed,
                          fc_error *err);

/* fc_catalog_item_upsert of n items with stamp `seen` and then fc_catalog_item_prune with the same
 * stamp, in ONE transaction: the end of a scan. Two steps would lose rows: a concurrent extract of
 * the same data set that writes a row with its own stamp between them has it pruned. */
int fc_catalog_item_sync(fc_catalog *cat, int64_t dataset_id, const fc_catalog_item *items, size_t n,
                         int64_t seen, int64_t *removed, fc_error *err);

enum { FC_ITEMS_ALL = 0, FC_ITEMS_OK = 1, FC_ITEMS_BAD = 2 };

/* Calls fn for the items of one data set (dataset_id > 0, ordered by path) or of all (0, ordered
 * by data set id then path), all of them or only ok/bad ones (filter FC_ITEMS_*). fn returns
 * non-zero to stop (that value is returned). The first listing of a handle runs SQLite's
 * quick_check over the whole file (a damaged page can drop rows silently). FC_EFORMAT, naming the
 * item, for a row that does not match its checksum, or when quick_check fails. */
typedef int (*fc_catalog_item_fn)(void *user, const fc_catalog_item *item);
int fc_catalog_item_list(fc_catalog *cat, int64_t dataset_id, int filter, fc_catalog_item_fn fn,
                         void *user, fc_error *err);

/* Calls fn once per distinct SHA-256 of an ok item in any data set, in ascending byte order: the
 * items whose features are still wanted (gc deletes the others, verify reports them). */
typedef int (*fc_catalog_hash_fn)(void *user, const uint8_t sha256[32]);
int fc_catalog_item_hashes(fc_catalog *cat, fc_catalog_hash_fn fn, void *user, fc_error *err);

/* ---- extractors ---------------------------------------------------------------------------- */

typedef struct fc_catalog_extractor {
    char id[65];              /* 64 lowercase hex digits of the fingerprint */
    const char *model_path;   /* where the model was read (informative; may change) */
    const char *model_sha256; /* 64 hex digits */
    const char *layer;        /* output tensor name */
    int size;                 /* input size */
    double crop;              /* center-crop fraction */
    const char *preprocess;   /* "tf" | "torch" | "caffe" */
    const char *views;        /* e.g. "orig" or "orig,flip" */
    fc_dtype dtype;           /* storage dtype */
    int rank;
    uint32_t dims[FC_FEATURE_MAX_RANK];
    int64_t created;          /* filled by listings */
} fc_catalog_extractor;

/* Registers an extractor; registering the same parameters again is a no-op (model_path is
 * updated). Errors: FC_EINVAL (read-only, malformed id/model_sha256, bad dtype/rank/dims, missing
 * strings, or the id exists with different parameters: message lists the first difference), FC_EIO. */
int fc_catalog_extractor_register(fc_catalog *cat, const fc_catalog_extractor *x, fc_error *err);

/* Deletes an extractor row (runs keep theirs with extractor_id NULL). FC_EINVAL when absent. */
int fc_catalog_extractor_delete(fc_catalog *cat, const char *id, fc_error *err);

/* Calls fn for every extractor ordered by id. FC_EFORMAT for a row whose dims/dtype cannot be
 * parsed (names the id). fn returns non-zero to stop (that value is returned). */
typedef int (*fc_catalog_extractor_fn)(void *user, const fc_catalog_extractor *x);
int fc_catalog_extractor_list(fc_catalog *cat, fc_catalog_extractor_fn fn, void *user,
                              fc_error *err);

/* Calls fn with each distinct extractor id that an extract run recorded for the data set (in any
 * status, since a killed run may have committed features), ordered by id. */
typedef int (*fc_catalog_id_fn)(void *user, const char *id);
int fc_catalog_dataset_extractors(fc_catalog *cat, int64_t dataset_id, fc_catalog_id_fn fn,
                                  void *user, fc_error *err);

/* ---- runs ---------------------------------------------------------------------------------- */

typedef enum { FC_RUN_EXTRACT = 0, FC_RUN_TRAIN = 1, FC_RUN_SWEEP = 2 } fc_run_kind;
typedef enum { FC_RUN_RUNNING = 0, FC_RUN_OK = 1, FC_RUN_PARTIAL = 2, FC_RUN_FAILED = 3 } fc_run_status;

typedef struct fc_catalog_run {
    int64_t id;
    fc_run_kind kind;
    int64_t dataset_id;       /* 0 = none */
    const char *extractor_id; /* NULL = none */
    int64_t started, finished; /* unix seconds; finished 0 while running */
    const char *params, *result; /* JSON text or NULL */
    fc_run_status status;
} fc_catalog_run;

/* Records the start of a run (status running, started = now). dataset_id 0 and extractor_id NULL
 * mean none; params_json may be NULL. *run_id gets the new id. Errors: FC_EINVAL (read-only, bad
 * kind, unknown dataset/extractor, invalid JSON), FC_EIO. */
int fc_catalog_run_begin(fc_catalog *cat, fc_run_kind kind, int64_t dataset_id,
                         const char *extractor_id, const char *params_json, int64_t *run_id,
                         fc_error *err);

/* Records the end of a running run (finished = now). status must not be FC_RUN_RUNNING.
 * FC_EINVAL when the run does not exist or has already finished, or result_json is invalid. */
int fc_catalog_run_finish(fc_catalog *cat, int64_t run_id, fc_run_status status,
                          const char *result_json, fc_error *err);

/* Calls fn for every run ordered by id. fn returns non-zero to stop (that value is returned). */
typedef int (*fc_catalog_run_fn)(void *user, const fc_catalog_run *r);
int fc_catalog_run_list(fc_catalog *cat, fc_catalog_run_fn fn, void *user, fc_error *err);

/* Names for enums as stored in SQL ("ok", "extract", "partial", ...); never NULL. */
const char *fc_run_kind_name(fc_run_kind k);
const char *fc_run_status_name(fc_run_status s);

/* ---- integrity -----------------------------------------------------------------------------
 * Rows that point at nothing, which no featcache write leaves behind, killed or not: items of a
 * missing data set, ok items without a hash, runs naming a missing data set or extractor (a
 * deleted data set or extractor leaves NULL there, which is fine); and SQLite's integrity_check
 * (every page, index and constraint: reads the whole file). */

/* Calls fn(user, what, count, example) for each kind of dangling row (example: the first path or
 * run id, may be NULL) and for each line integrity_check reports (count 1, example the line);
 * *problems gets the total count. Each query is one consistent read, so it may run while extracts
 * write. fn returns non-zero to stop (that value is returned). Errors: FC_EINVAL, FC_EIO,
 * FC_EFORMAT (a file SQLite cannot read at all: "database disk image is malformed"). */
typedef int (*fc_catalog_problem_fn)(void *user, const char *what, int64_t count, const char *example);
int fc_catalog_check(fc_catalog *cat, fc_catalog_problem_fn fn, void *user, size_t *problems, fc_error *err);

/* fc_catalog_check as one verdict, for commands that must not act on a damaged catalog (gc, ls):
 * 0 when it finds nothing, else FC_EFORMAT naming the file, what was found and the first example. */
int fc_catalog_check_clean(fc_catalog *cat, fc_error *err);

/* Repairs what fc_catalog_check finds where it can, in one transaction: every index is rebuilt
 * from its table (REINDEX), items of a missing data set and ok items without a hash are deleted
 * (the next extract reads those files again), runs naming a missing data set or extractor get NULL
 * there. Then integrity_check runs again. fn (may be NULL) is called as for fc_catalog_check, for
 * each kind of row fixed (count: how many; example "removed or detached") and for each problem
 * left. *fixed gets the rows changed, *left the problems integrity_check still reports (damage to
 * the tables themselves: only a copy of what SQLite can still read would save the rest). Errors:
 * FC_EINVAL (read-only handle), FC_EFORMAT (SQLite cannot read what it must rebuild; nothing is
 * changed), FC_ETIMEOUT, FC_EIO. */
int fc_catalog_repair(fc_catalog *cat, fc_catalog_problem_fn fn, void *user, size_t *fixed, size_t *left,
                      fc_error *err);

/* ---- model files ----------------------------------------------------------------------------
 * What featcache learned about a model file, keyed by its real path and valid while its size and
 * mtime are unchanged: the SHA-256 (part of every extractor fingerprint), the default feature
 * layer and the declared input size. Lets an extract rerun skip hashing and loading the model. */

typedef struct fc_catalog_model {
    const char *path;        /* real path of the model file */
    int64_t size, mtime;     /* bytes; modification time in ns */
    char sha256[65];         /* 64 hex digits */
    char default_layer[256]; /* tensor feeding the final classifier */
    int height, width;       /* declared input size, -1 if symbolic */
} fc_catalog_model;

/* Fills sha256/default_layer/height/width of m when a record with m's path, size and mtime exists:
 * returns 1, else 0. Errors: FC_EINVAL, FC_EIO. */
int fc_catalog_model_get(fc_catalog *cat, fc_catalog_model *m, fc_error *err);
/* Stores (replaces) the record for m->path. Errors: FC_EINVAL (read-only), FC_EIO. */
int fc_catalog_model_put(fc_catalog *cat, const fc_catalog_model *m, fc_error *err);
/* Drops the record for path (none is no error). Errors: FC_EINVAL (read-only), FC_EIO. */
int fc_catalog_model_forget(fc_catalog *cat, const char *path, fc_error *err);

#endif
