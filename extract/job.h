/* An extraction job: data set -> features in the cache, computing only what is missing.
 * Scans the data set, reuses what the catalog already knows (an unchanged file, by size and mtime,
 * keeps its hash, unless its mtime was within 2 s of the scan that recorded it: then it is read again;
 * a hash whose features exist for this extractor is not recomputed, whatever the
 * file's name or data set), runs the pipeline on the rest, stores each batch's features in one LMDB
 * transaction and then its catalog rows, and records bad files with their reason. With a shard (K of
 * N, for a job array) it computes only the items whose content hash falls in shard K; the others are
 * hashed and recorded all the same, so every shard's catalog lists the whole data set.
 * A killed job loses at most the batch in flight; rerunning completes it (and marks the killed
 * run's record interrupted, see store/runs.h).
 * Not here: printing (the CLI gets progress through a callback), training, export, what names an
 * extractor (extractor.h). */
#ifndef FC_JOB_H
#define FC_JOB_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"
#include "extract/dataset.h"
#include "extract/extractor.h"
#include "extract/preprocess.h"
#include "store/store.h"

#define FC_JOB_MAX_LAYERS 8

typedef struct fc_job_progress {
    size_t total;     /* items in the data set */
    size_t done;      /* items finished: computed + cached + bad */
    size_t computed, cached, bad;
    size_t damaged;   /* stored features that failed their CRC: computed again (in computed) */
    size_t elsewhere; /* items of other shards (fc_extract_compute.n_shards): hashed and recorded
                         in the catalog, not computed here (in done) */
    double seconds;   /* since the job started */
} fc_job_progress;

/* Which images, and under which name the catalog keeps them. */
typedef struct fc_dataset_ref {
    const char *path;           /* folder or CSV manifest */
    const char *name;           /* data set name in the catalog; NULL = folder/file base name */
    fc_layout layout;           /* FC_LAYOUT_AUTO to detect */
} fc_dataset_ref;

/* Where the features go. */
typedef struct fc_extract_cache {
    const char *dir;            /* holds catalog.sqlite and features.mdb */
    size_t max_map_size;        /* feature store growth limit, 0 = default (fc_cache_options) */
} fc_extract_cache;

/* How the work is spread (never changes a feature value). */
typedef struct fc_extract_compute {
    int batch, threads, decode_threads; /* 0 = defaults (16, all cores, 2) */
    int layer_parallel;         /* 1: every layer on all threads; 0: each thread runs its slice of
                                   the batch through the whole network (fc_session_options) */
    int shard, n_shards;        /* n_shards > 0: compute only the items whose content hash falls in
                                   shard `shard` (0..n_shards-1, fc_item_shard); every item is still
                                   scanned, hashed and recorded in the catalog, so each shard's
                                   catalog of the data set is the same; 0 = every item */
    const char *views_split;    /* non-NULL, and the data set has items of this split (its folder,
                                   e.g. "train"): items of another named split get the first view
                                   only (what training reads of its validation items); items of
                                   no split get every view; NULL = every item every view */
} fc_extract_compute;

/* The caller's hold on a running job. */
typedef struct fc_extract_control {
    volatile int *cancel;       /* set non-zero to stop early (e.g. from SIGINT); may be NULL */
    void (*progress)(void *user, const fc_job_progress *p); /* main thread, after each batch */
    /* main thread, after a batch's features are committed and before the catalog rows that
     * reference them are written (n_items images): the moment gc must never see (may be NULL) */
    void (*committed)(void *user, int n_items);
    void *user;                 /* for progress and committed */
} fc_extract_control;

/* A job's parameters, grouped by concern; zero fields take the defaults each field names. */
typedef struct fc_extract_options {
    fc_extractor_def extractor;
    fc_dataset_ref dataset;
    fc_extract_cache cache;
    fc_extract_compute compute;
    fc_extract_control control;
} fc_extract_options;

typedef struct fc_extract_result {
    fc_job_progress counts;     /* final counts */
    int64_t dataset_id, run_id;
    int n_layers;
    char layers[FC_JOB_MAX_LAYERS][256];   /* resolved layer names */
    char extractor[FC_JOB_MAX_LAYERS][65]; /* extractor ids (hex) per layer */
    uint32_t dims[FC_JOB_MAX_LAYERS][FC_FEATURE_MAX_RANK];
    int rank[FC_JOB_MAX_LAYERS];
    int model_loaded;           /* 0 when everything was cached (the model was not even read) */
    size_t skipped;             /* stray files in the data set's folders (no images): not items */
    size_t too_deep;            /* folders below FC_DATASET_MAX_DEPTH: not entered, their files not items */
    char skipped_names[512], too_deep_names[512]; /* relative paths, ", "-separated (", ..." when cut) */
} fc_extract_result;

/* The shard (0..n-1) of an item whose content has this SHA-256: the first 4 bytes (big-endian) as a
 * fraction of 2^32, times n. Depends on the bytes only (not on file names, order or machine); each
 * shard is a contiguous range of hashes, so the feature keys of one extractor come shard after
 * shard in key order (merging shards 0..n-1 in turn appends). n >= 1. */
unsigned fc_item_shard(const uint8_t sha256[32], unsigned n);

/* Runs the job. Returns 0 when every item was computed, cached or recorded bad (counts.bad may be
 * > 0), else the code err holds: FC_ECANCELLED when control.cancel was set; FC_EFULL when the
 * feature store reached cache.max_map_size ("cache full"); FC_ENOSPC when the disk is full;
 * FC_ETIMEOUT when the catalog stayed locked by another writer; FC_EINVAL for bad options (too
 * many views or layers, an unknown dtype, no input size, a shard outside 0..n_shards-1); other codes name the file and reason
 * (model, cache, catalog). Batches committed before any error stay. Not thread-safe with another job on the same
 * cache in this process (LMDB: one handle per process); other processes are fine. */
int fc_extract_run(const fc_extract_options *opt, fc_extract_result *res, fc_error *err);

#endif
