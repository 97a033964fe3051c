/* featcache's C API for bindings (python/featcache reaches it through ctypes in libfeatcache.so):
 * a small surface that stays stable while the layers below change. A cache is named by its folder
 * on every call; each call opens what it needs and closes it before it returns (LMDB allows one
 * open handle per file and process), so calls hold no state between them.
 * Every function returns 0 or a negative status code (the FC_API_E* values, equal to the library's
 * FC_E* codes) and fills *err (may be NULL) with the message the CLI prints after "featcache CMD: ".
 * Nothing here prints or exits. This header includes nothing of featcache's: it is all a binding
 * needs. Not here: training heads, reports (the CLI's commands). */
#ifndef FEATCACHE_API_H
#define FEATCACHE_API_H

#include <stddef.h>

#define FC_API_VERSION 1

enum {
    FC_API_EIO = -1, FC_API_EFORMAT = -2, FC_API_EUNSUPPORTED = -3, FC_API_ESHAPE = -4, FC_API_ENOMEM = -5,
    FC_API_EINVAL = -6, FC_API_ELIMIT = -7, FC_API_EINTERNAL = -8, FC_API_ECANCELLED = -9, FC_API_EFULL = -10,
    FC_API_ENOSPC = -11, FC_API_ETIMEOUT = -12,
};

typedef struct fc_api_error {
    int code;           /* 0 or the FC_API_E* code returned */
    char message[1024]; /* names the file, data set or option and the reason */
} fc_api_error;

/* FC_API_VERSION of the library (a binding checks it matches the header it was written for). */
int fc_api_version(void);

/* The cache's data sets, extractors or runs (what = "datasets", "extractors", "runs") as a JSON
 * array in *json (free with fc_api_free), read-only, after the catalog checks `featcache ls` makes:
 *   datasets:   {"id","name","root","format","created","items","ok","bad","classes"}
 *   extractors: {"id","model_path","model_sha256","layer","size","crop","preprocess","views","dtype",
 *                "dims","created","features"} (features: values stored)
 *   runs:       {"id","kind","status","dataset_id","extractor","started","finished","params","result"}
 *               (params and result: the recorded JSON objects, or null)
 * Errors: FC_API_EINVAL (unknown `what`), those of opening the catalog and store (no cache there:
 * FC_API_EIO naming the folder; damaged: FC_API_EFORMAT), FC_API_ENOMEM. */
int fc_api_list(const char *cache_dir, const char *what, char **json, fc_api_error *err);
void fc_api_free(void *p);

/* ---- features ---------------------------------------------------------------------------------
 * Options name the extractor exactly as the CLI's options do: a NULL-terminated array of key,
 * value strings: "model" (required), "layer", "size", "crop", "preprocess", "dtype", "grayscale"
 * ("0"/"1"), "view", "name" (the data set's catalog name; else from the dataset argument like the
 * CLI: a folder's base name), "strict" ("1": a data set whose last extract did not finish is an
 * error, else a warning in the info). An unknown key or a bad value: FC_API_EINVAL naming it. */
typedef struct fc_api_features fc_api_features;

/* Loads a data set's features for one extractor and view, in the order `featcache export` writes
 * them, the rows of one split only (split NULL: every row). Values stored as f16 come back as
 * float32. Errors: those of `featcache export` with the same messages (no such data set, no
 * features for some items: run extract, damaged values: FC_API_EFORMAT naming the first, ...), and
 * FC_API_EINVAL when no row has that split (naming the splits there are). */
int fc_api_features_load(const char *cache_dir, const char *dataset, const char *const *options, const char *split,
                         fc_api_features **out, fc_api_error *err);
/* Rows and the shape of one row (rank dims: e.g. (1280) or (C, H, W)); dims holds up to 8. */
void fc_api_features_shape(const fc_api_features *f, size_t *rows, int *rank, unsigned dims[8]);
/* Copies the rows (rows x product of dims float32, row-major) into dst of n floats. FC_API_EINVAL
 * when n is not exactly that. */
int fc_api_features_copy(const fc_api_features *f, float *dst, size_t n, fc_api_error *err);
/* Per-row strings, one NUL-terminated string per row back to back (*bytes: the total length):
 * which = 0 paths (relative to the data set's folder), 1 labels, 2 splits ("" when none), 3
 * content hashes (SHA-256, 64 hex digits). NULL for another `which`. */
const char *fc_api_features_strings(const fc_api_features *f, int which, size_t *bytes);
/* A JSON object on the set: "dataset","extractor","layer","model_sha256","size","view","rows",
 * "items" (all ok items before the split filter),"dims","bad","warning" (null, or the CLI's warning
 * when the data set's last extract did not finish). Valid until fc_api_features_free. */
const char *fc_api_features_info(const fc_api_features *f);
void fc_api_features_free(fc_api_features *f);

/* ---- extraction -------------------------------------------------------------------------------- */
typedef struct fc_api_progress {
    size_t total, done, computed, cached, bad;
    double seconds;
} fc_api_progress;
/* Called after each batch on the calling thread; a non-zero return stops the run after that batch
 * (what was committed stays; the call returns FC_API_ECANCELLED). */
typedef int (*fc_api_progress_fn)(void *user, const fc_api_progress *p);

/* `featcache extract DATASET` into cache_dir: options as above ("model", "layer" (may repeat),
 * "size", "crop", "preprocess", "dtype", "grayscale", "name") plus "views" (e.g. "orig,flip"),
 * "batch", "threads", "decoders", "parallel" (batch|layers), "format", "shard" (K/N),
 * "max_cache_size" (bytes). progress may be NULL. *result_json (free with fc_api_free) gets the
 * CLI's --json summary ("items", "computed", "cached", "bad", "layers": [{"name","extractor",
 * "dims"}], "bad_files": [{"path","error"}], ...). Errors: those of the CLI's extract. */
int fc_api_extract(const char *cache_dir, const char *dataset_path, const char *const *options,
                   fc_api_progress_fn progress, void *user, char **result_json, fc_api_error *err);

#endif
