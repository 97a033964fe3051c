/* What an extractor is: the parameters a feature value depends on (fc_extractor_def), the id
 * that names them in the cache (SHA-256 of a canonical description), and the facts about a model
 * file that resolving them needs (its fingerprint, default feature tensor, declared input size),
 * remembered in the catalog so an unchanged file is neither hashed nor loaded again.
 * Not here: running the model (job.h, pipeline.h), storing features (store/). */
#ifndef FC_EXTRACTOR_H
#define FC_EXTRACTOR_H

#include <stddef.h>

#include "core/core.h"
#include "engine/engine.h"
#include "extract/preprocess.h"
#include "store/store.h"

/* How a layer's output is stored: as the model computes it, or a (C,H,W) map as its global
 * average over the plane (C), e.g. to probe earlier layers at the size of a feature vector. */
typedef enum { FC_POOL_NONE = 0, FC_POOL_AVG = 1 } fc_pool;

/* The precision of the model's products: float32 (every kernel level), or bf16 products with float32
 * sums (`--compute bf16`: fc_kernels_bf16, CPUs with AVX512_BF16 only). Part of the extractor id. */
typedef enum { FC_COMPUTE_F32 = 0, FC_COMPUTE_BF16 = 1 } fc_compute;

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
    fc_exif exif;               /* EXIF orientation applied (0, the default) or ignored */
    fc_dtype dtype;             /* storage dtype; 0 = FC_DTYPE_F32 */
    fc_compute compute;         /* precision of the products; 0 = FC_COMPUTE_F32 */
    const int *views;           /* view numbers (FC_VIEW_*); NULL = orig only */
    int n_views;
} fc_extractor_def;

/* Extractor id (64 hex digits + NUL) for these parameters: SHA-256 of a canonical description of
 * (model fingerprint, layer, size, crop, preprocessing, dtype, and the pooling when there is one: an
 * unpooled layer keeps the id it always had). The view is part of the cache key. What a feature
 * depends on and where the id says it:
 *  - the model file and every data file it loads: the fingerprint (fc_model_fingerprint);
 *  - the image pipeline: featcache's decoding, DCT scaling and resize (the version line: bumped
 *    when they change), the lossy decoders' versions (fc_extractor_decoders), the EXIF
 *    orientation handling, size, crop (every bit of it), preprocessing, gray, the view (in the key);
 *  - the layer and its pooling; the storage dtype;
 *  - the compute path: every extract computes in float32 with the same operators, so the precision
 *    is fixed by the version line. The kernel level (FEATCACHE_ISA: scalar, AVX2, AVX-512) is NOT in
 *    the id: it changes only the order of float32 sums, so the same image gives values that differ
 *    in the last bits (about 1e-6 relative) and a cache stays usable on another CPU. bf16 products
 *    are another precision: fc_extractor_id_compute derives their id from this one. */
void fc_extractor_id(const char *model_sha256, const char *layer, fc_pool pool, int size, float crop,
                     fc_preset preset, int gray, fc_dtype dtype, fc_exif exif, char out[65]);

/* The lossy decoders the pixels depend on, as the id names them: "libjpeg-turbo 2.1.5 libwebp
 * 1.2.4" (libjpeg-turbo's version from the build's headers: TurboJPEG 2.1 has no run-time query,
 * and Debian's libjpeg62-turbo that libtiff's JPEG compression uses is the same source package;
 * libwebp's from the loaded library). PNG, GIF, BMP and TIFF are left out: they are lossless,
 * every conforming decoder gives the stored samples. */
void fc_extractor_decoders(char *out, size_t cap);

/* 1 when row's id is the one fc_extractor_id gives for its parameters today (model fingerprint,
 * layer label, size, crop, the preprocess label "PRESET[+gray][+exif-ignore]", dtype), 0 when it
 * was made by an older definition of the id (e.g. before the decoders and the EXIF handling were
 * part of it): such features are never served to a request, which names today's id. */
int fc_extractor_is_current(const fc_catalog_extractor *row);

/* The catalog's preprocess label of these options: "tf", "tf+gray", "tf+exif-ignore", "tf compute=bf16", ... (out
 * gets at most cap bytes, always terminated). */
void fc_extractor_preprocess_label(fc_preset preset, int gray, fc_exif exif, fc_compute compute, char *out, size_t cap);

/* The id of the extractor that is `id` (from fc_extractor_id) computed with `compute`, into out (may
 * be id): id itself for f32, so every earlier id stays what it was; for bf16 the SHA-256 of
 * "featcache-compute/4" (the version of the bf16 path's arithmetic: which steps keep f32 products,
 * engine/precision.h, and its fast sigmoid), id and "compute=bf16", so a bf16 extractor never serves an f32 request (and
 * back), nor features made under another rule. */
void fc_extractor_id_compute(const char id[65], fc_compute compute, char out[65]);
/* "f32", "bf16". */
const char *fc_compute_name(fc_compute compute);
/* The compute path named `name` ("f32" or "bf16") into *out; FC_EINVAL naming the value otherwise. */
int fc_compute_parse(const char *name, fc_compute *out, fc_error *err);
/* "apply", "ignore". */
const char *fc_exif_name(fc_exif exif);
/* The EXIF orientation handling named `name` ("apply" or "ignore") into *out; FC_EINVAL naming the
 * value otherwise. */
int fc_exif_parse(const char *name, fc_exif *out, fc_error *err);
/* The kernel table that computes with `compute` (fc_model_options.kernels): NULL (the default
 * table) for f32; fc_kernels_bf16 for bf16, or FC_EUNSUPPORTED saying why it cannot run here (no
 * AVX512_BF16, or FEATCACHE_ISA lowers the level): never an f32 table under the bf16 name. */
int fc_compute_kernels(fc_compute compute, const fc_kernels **k, fc_error *err);

/* A model's fingerprint (64 hex digits + NUL): the SHA-256 of its file when it loads no external
 * data (so ids made before data files were counted stay valid), else the SHA-256 of the file's
 * SHA-256 and those of its data files (fc_model_data_files) in the order it names them.
 * *n_data_files (may be NULL) gets their count. Errors: FC_EIO (a file cannot be read), FC_EFORMAT
 * (not an ONNX model, a data file outside the model's folder), FC_ENOMEM. */
int fc_model_fingerprint(const char *model_path, char out[65], int *n_data_files, fc_error *err);

/* What the catalog and run records call a layer stored with pool: the tensor name itself, or
 * "avgpool(NAME)" (out gets at most cap bytes, always terminated). */
void fc_extractor_layer_label(const char *layer, fc_pool pool, char *out, size_t cap);

/* A model file's bytes, read once, and their SHA-256: what a fingerprint describes and a model
 * loaded from them runs, the same bytes. */
typedef struct fc_model_file {
    unsigned char *data; /* NULL: not read (yet) */
    size_t size;
    uint8_t sha256[32];  /* of data, once hashed */
    int hashed;          /* 1: sha256 is data's */
} fc_model_file;
/* Frees the bytes (data NULL after); sha256 stays. */
void fc_model_file_free(fc_model_file *f);

/* Loads the model at path with opt from file->data (read now when NULL, kept in *file), hashing
 * those bytes into file->sha256 on a second thread while they are parsed (unless file->hashed
 * says it is done). The caller frees the bytes (fc_model_file_free) also on error. Errors:
 * FC_EIO, FC_ELIMIT (reading), the loader's. */
int fc_model_load_hashed(const char *path, const fc_model_options *opt, fc_model_file *file, fc_model **model,
                         fc_error *err);

/* Model file facts (fingerprint, default layer, declared size) from the catalog when the file is
 * unchanged, else computed (hashing and loading it) and recorded (when the catalog is writable and
 * the model has no external data files: the record is keyed by the model file's size and mtime).
 * When they were computed and file is not NULL, *file gets the bytes they describe (the caller
 * frees them); else file->data is left as it was. Errors: FC_EIO (the file cannot be resolved or
 * read), the model loader's and the catalog's. */
int fc_model_facts(fc_catalog *cat, const char *model_path, char sha256[65], char *default_layer,
                   size_t layer_cap, int *height, int *width, fc_model_file *file, fc_error *err);

/* For a model loaded by fc_model_load_hashed from bytes read after fc_model_facts named its
 * fingerprint model_sha from the catalog (the file's size and mtime unchanged): 0 when they are the
 * bytes fingerprinted; else the catalog's record of the file is dropped (the next run hashes it)
 * and FC_EIO says the file changed. (Bytes that fc_model_facts itself read are the ones
 * fingerprinted by construction.) */
int fc_model_check_fingerprint(fc_catalog *cat, const char *model_path, const char model_sha[65], const fc_model *model,
                               const fc_model_file *file, fc_error *err);

/* One stored feature as options name it (what export, train, eval and the C API read): the layer,
 * input size, model fingerprint and extractor id that the extract with the same options used. */
typedef struct fc_extractor_ref {
    char layer[256];     /* x->layers[0], else the model's default feature */
    char model_sha[65];
    int size;            /* x->size, else the model's declared size */
    char id[65];         /* fc_extractor_id of the above (unpooled) */
} fc_extractor_ref;

/* Resolves x's first layer through fc_model_facts (hashing/loading the model only when the
 * catalog does not know the file). Errors: FC_EINVAL (no model; no size given and the model's is
 * not fixed), fc_model_facts' errors. */
int fc_extractor_resolve(fc_catalog *cat, const fc_extractor_def *x, fc_extractor_ref *out, fc_error *err);

#endif
