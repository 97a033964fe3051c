/* An extraction job: data set -> features in the cache, computing only what is missing.
 * Scans the data set, reuses what the catalog already knows (an unchanged file, by size and mtime,
 * keeps its hash, unless its mtime was within 2 s of the scan that recorded it: then it is read again;
 * a hash whose features exist for this extractor is not recomputed, whatever the
 * file's name or data set), runs the pipeline on the rest, stores each batch's features in one LMDB
 * transaction and then its catalog rows, and records bad files with their reason.
 * A killed job loses at most the batch in flight; rerunning completes it (and marks the killed
 * run's record interrupted, see store/runs.h).
 * Not here: printing (the CLI gets progress through a callback), training, export. */
#ifndef FC_JOB_H
#define FC_JOB_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"
#include "extract/dataset.h"
#include "extract/preprocess.h"
#include "store/store.h"

#define FC_JOB_MAX_LAYERS 8

typedef struct fc_job_progress {
    size_t total;     /* items in the data set */
    size_t done;      /* items finished: computed + cached + bad */
    size_t computed, cached, bad;
    double seconds;   /* since the job started */
} fc_job_progress;

typedef struct fc_extract_options {
    const char *dataset;        /* folder or CSV manifest */
    fc_layout layout;           /* FC_LAYOUT_AUTO to detect */
    const char *name;           /* data set name in the catalog; NULL = folder/file base name */
    const char *model;          /* ONNX file */
    const char *const *layers;  /* tensor names; NULL/0 = the model's default feature */
    int n_layers;
    int size;                   /* input size (square); 0 = the model's declared size */
    float crop;                 /* 0 or 1 = whole image */
    fc_preset preset;
    const int *views;           /* view numbers (FC_VIEW_*); NULL = orig only */
    int n_views;
    fc_dtype dtype;
    int batch, threads, decode_threads; /* 0 = defaults (16, all cores, 2) */
    int layer_parallel;         /* 1: every layer on all threads; 0: each thread runs its slice of
                                   the batch through the whole network (fc_session_options) */
    const char *cache_dir;      /* holds catalog.sqlite and features.mdb */
    size_t max_map_size;        /* LMDB growth limit, 0 = default */
    volatile int *cancel;       /* set non-zero to stop early (e.g. from SIGINT) */
    void (*progress)(void *user, const fc_job_progress *p); /* main thread, after each batch */
    void *user;
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
} fc_extract_result;

/* Runs the job. Returns 0 when every item was computed, cached or recorded bad (counts.bad may be
 * > 0), else the code err holds: FC_ECANCELLED when opt->cancel was set; FC_EFULL when the feature
 * store reached max_map_size ("cache full"); FC_ENOSPC when the disk is full; FC_ETIMEOUT when
 * the catalog stayed locked by another writer; other codes name the file and reason (model, cache,
 * catalog). Batches committed before any error stay. Not thread-safe with another job on the same
 * cache in this process (LMDB: one handle per process); other processes are fine. */
int fc_extract_run(const fc_extract_options *opt, fc_extract_result *res, fc_error *err);

/* Extractor id (64 hex digits + NUL) for these parameters: SHA-256 of a canonical description of
 * (model SHA-256, layer, size, crop, preprocessing, dtype). The view is part of the cache key. */
void fc_extractor_id(const char *model_sha256, const char *layer, int size, float crop,
                     fc_preset preset, fc_dtype dtype, char out[65]);

/* Model file facts (SHA-256 hex, default layer, declared size) from the catalog when the file is
 * unchanged, else computed (hashing and loading it) and recorded. */
typedef struct fc_catalog fc_catalog;
int fc_model_facts(fc_catalog *cat, const char *model_path, char sha256[65], char *default_layer,
                   size_t layer_cap, int *height, int *width, fc_error *err);

#endif
