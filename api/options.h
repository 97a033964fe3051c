/* The C API's key/value options (featcache.h) parsed into the library's structures, with the
 * CLI's ranges and messages (the key in place of --key): one set for reading features, one for an
 * extraction. Not here: resolving the extractor (extract/ fc_extractor_resolve), running anything. */
#ifndef FC_API_OPTIONS_H
#define FC_API_OPTIONS_H

#include "core/core.h"
#include "extract/extract.h"

/* What fc_api_features_load reads. */
typedef struct api_read_opts {
    fc_extractor_def x;       /* model, layers[0], size, crop, preset, gray, dtype */
    const char *layer, *name;
    int view, strict;
} api_read_opts;

/* What fc_api_extract runs (o.dataset.path and o.cache.dir are the caller's). */
typedef struct api_extract_opts {
    fc_extract_options o;
    const char *layers[FC_JOB_MAX_LAYERS];
    int views[FC_N_VIEWS];
} api_extract_opts;

/* Both return 0 or FC_EINVAL naming the key and the value (an unknown key, a bad value, no model). */
int api_read_opts_parse(const char *const *kv, api_read_opts *r, fc_error *err);
int api_extract_opts_parse(const char *const *kv, api_extract_opts *e, fc_error *err);

#endif
