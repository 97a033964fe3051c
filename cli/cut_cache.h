/* What the commands that train on cached maps share (finetune, train --head conv): caching a
 * tensor's activations for the views training reads (exactly as extract --layer T --views
 * would: only what is missing), the folder or manifest a catalog data set was extracted from, and
 * the checkpoint file of a run in the cache. */
#ifndef FC_CLI_CUT_CACHE_H
#define FC_CLI_CUT_CACHE_H

#include <stddef.h>

#include "cli/extractor_opts.h"
#include "core/core.h"
#include "classify/classify.h"
#include "extract/extract.h"
#include "store/store.h"

/* Extracts tensor (x's model, size, crop, preprocessing, dtype and views; threads) for the data set
 * at path (a folder or CSV manifest, named x->name or after it) into cache_dir; cancel stops it;
 * show draws the progress on stderr. er: counts, the extractor id and the tensor's shape. With
 * split (the run's --split) of kind folders, the items of the val and test folders get orig only:
 * finetune reads no other view of them (NULL: every item every view, which a sweep loading the
 * map into memory needs). */
int cli_cache_cut(const cli_extractor *x, const char *path, const char *tensor, const char *cache_dir, int threads,
                  const fc_split_spec *split, volatile int *cancel, int show, fc_extract_result *er, fc_error *err);

/* The folder that data set `name` was extracted from, into root: 1 found, 0 not in the catalog
 * or not a folder (a CSV manifest: the caller names it). */
int cli_dataset_root(fc_catalog *cat, const char *name, char *root, size_t cap);

/* <cache_dir>/finetune/<hash of params>.ckpt into path (the folder created): the same run finds
 * the same file. FC_EIO when the folder cannot be made. */
int cli_checkpoint_path(fc_strbuf *path, const char *cache_dir, const char *params, fc_error *err);

#endif
