/* What an extractor is: the parameters a feature value depends on (fc_extractor_def), the id
 * that names them in the cache (SHA-256 of a canonical description), and the facts about a model
 * file that resolving them needs (its SHA-256, default feature tensor, declared input size),
 * remembered in the catalog so an unchanged file is neither hashed nor loaded again.
 * Not here: running the model (job.h, pipeline.h), storing features (store/). */
#ifndef FC_EXTRACTOR_H
#define FC_EXTRACTOR_H

#include <stddef.h>

#include "core/core.h"
#include "extract/preprocess.h"
#include "store/store.h"

/* How a layer's output is stored: as the model computes it, or a (C,H,W) map as its global
 * average over the plane (C), e.g. to probe earlier layers at the size of a feature vector. */
typedef enum { FC_POOL_NONE = 0, FC_POOL_AVG = 1 } fc_pool;

/* What is computed: everything the extractor id depends on (model, layer, pooling, size, crop,
 * preprocessing, dtype; one extractor per layer) and the views stored for every item. */
typedef struct fc_extractor_def {
    const char *model;          /* ONNX file */
    const char *const *layers;  /* tensor names; NULL/0 = the model's default feature */
    int n_layers;
    const fc_pool *pools;       /* (n_layers) per layer; NULL = FC_POOL_NONE for every layer */
    int size;                   /* input size (square); 0 = the model's declared size */
    float crop;                 /* 0 or 1 = whole image */
    fc_preset preset;
    int gray;                   /* 1: images converted to gray, one plane (models that take 1 channel) */
    fc_dtype dtype;             /* storage dtype; 0 = FC_DTYPE_F32 */
    const int *views;           /* view numbers (FC_VIEW_*); NULL = orig only */
    int n_views;
} fc_extractor_def;

/* Extractor id (64 hex digits + NUL) for these parameters: SHA-256 of a canonical description of
 * (model SHA-256, layer, size, crop, preprocessing, dtype, and the pooling and the conversion to
 * gray when there are: an unpooled RGB layer keeps the id it always had). The view is part of the
 * cache key. */
void fc_extractor_id(const char *model_sha256, const char *layer, fc_pool pool, int size, float crop,
                     fc_preset preset, int gray, fc_dtype dtype, char out[65]);

/* What the catalog and run records call a layer stored with pool: the tensor name itself, or
 * "avgpool(NAME)" (out gets at most cap bytes, always terminated). */
void fc_extractor_layer_label(const char *layer, fc_pool pool, char *out, size_t cap);

/* Model file facts (SHA-256 hex, default layer, declared size) from the catalog when the file is
 * unchanged, else computed (hashing and loading it) and recorded (when the catalog is writable).
 * Errors: FC_EIO (the file cannot be resolved or read), the model loader's and the catalog's. */
int fc_model_facts(fc_catalog *cat, const char *model_path, char sha256[65], char *default_layer,
                   size_t layer_cap, int *height, int *width, fc_error *err);

#endif
