/* fc_extractor_id, fc_model_facts and fc_extractor_resolve (see extractor.h). */
#include "extract/extractor.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <jpeglib.h> /* LIBJPEG_TURBO_VERSION_NUMBER (jconfig.h); after stdio.h */
#include <webp/decode.h>

#include "engine/engine.h"

void fc_extractor_decoders(char *out, size_t cap) {
    int v = WebPGetDecoderVersion(); /* 0xMMmmpp */
    int j = LIBJPEG_TURBO_VERSION_NUMBER; /* MMMmmmppp */
    snprintf(out, cap, "libjpeg-turbo %d.%d.%d libwebp %d.%d.%d", j / 1000000, j / 1000 % 1000, j % 1000, v >> 16 & 0xff,
             v >> 8 & 0xff, v & 0xff);
}

void fc_extractor_preprocess_label(fc_preset preset, int gray, fc_exif exif, fc_compute compute, char *out, size_t cap) {
    snprintf(out, cap, "%s%s%s%s", fc_preset_name(preset), gray ? "+gray" : "", exif == FC_EXIF_IGNORE ? "+exif-ignore" : "",
             compute == FC_COMPUTE_BF16 ? " compute=bf16" : "");
}

void fc_extractor_id(const char *model_sha256, const char *layer, fc_pool pool, int size, float crop,
                     fc_preset preset, int gray, fc_dtype dtype, fc_exif exif, char out[65]) {
    /* The version names featcache's own image -> tensor path (decoding, DCT policy, resize): bump it
     * whenever that changes, so features made the old way are never served for the new. */
    char desc[1024];
    float c = crop > 0 && crop < 1 ? crop : 1.0f;
    int n = snprintf(desc, sizeof desc,
                     "featcache-extractor/2\nmodel=%s\nlayer=%s\nsize=%dx%d\ncrop=%.6f\npreprocess=%s\n"
                     "dtype=%s\n", model_sha256, layer, size, size, c, fc_preset_name(preset),
                     dtype == FC_DTYPE_F16 ? "f16" : "f32");
    /* extra lines only where they change something, so every earlier id stays what it was: a
     * pooled layer, and a crop that six decimals do not name exactly (the resize uses every bit) */
    char six[32];
    snprintf(six, sizeof six, "%.6f", c);
    if ((float)strtod(six, NULL) != c && n > 0 && n < (int)sizeof desc)
        n += snprintf(desc + n, sizeof desc - (size_t)n, "crop_exact=%a\n", (double)c);
    if (pool == FC_POOL_AVG && n > 0 && n < (int)sizeof desc)
        n += snprintf(desc + n, sizeof desc - (size_t)n, "pool=avg\n");
    if (gray && n > 0 && n < (int)sizeof desc) n += snprintf(desc + n, sizeof desc - (size_t)n, "gray=1\n");
    /* decoders and EXIF handling (added together; every id made before them changed once): the
     * lossy decoders' versions, and whether the orientation was applied */
    char dec[96];
    fc_extractor_decoders(dec, sizeof dec);
    if (n > 0 && n < (int)sizeof desc)
        n += snprintf(desc + n, sizeof desc - (size_t)n, "decoders=%s\nexif=%s\n", dec, fc_exif_name(exif));
    uint8_t h[32];
    fc_sha256_digest(desc, (size_t)(n < (int)sizeof desc ? n : (int)sizeof desc - 1), h);
    fc_hex_encode(h, 32, out);
}

void fc_extractor_id_compute(const char id[65], fc_compute compute, char out[65]) {
    char desc[160];
    if (compute == FC_COMPUTE_F32) {
        if (out != id) memcpy(out, id, 65);
        return;
    }
    /* /5: the steps up to stride 8 keep f32 products too where they hold at most 0.4 of the
     * products (engine/precision.h); /4: the bf16 path's sigmoid and SiLU are the fast ones (FC_FAST_SIGMOID,
     * engine/kernels/f32-act-vec.h); /3: its Winograd-shaped 3x3 convolutions keep f32 products
     * too (ops/conv.c); /2 kept them in the steps up to stride 4 only (engine/precision.h); /1 ran
     * every Conv and Gemm in bf16. Another rule changes the features: bump the number. */
    int n = snprintf(desc, sizeof desc, "featcache-compute/5\nextractor=%.64s\ncompute=%s\n", id, fc_compute_name(compute));
    uint8_t h[32];
    fc_sha256_digest(desc, (size_t)n, h);
    fc_hex_encode(h, 32, out);
}

const char *fc_compute_name(fc_compute compute) { return compute == FC_COMPUTE_BF16 ? "bf16" : "f32"; }

const char *fc_exif_name(fc_exif exif) { return exif == FC_EXIF_IGNORE ? "ignore" : "apply"; }

int fc_exif_parse(const char *name, fc_exif *out, fc_error *err) {
    if (name && !strcmp(name, "apply")) *out = FC_EXIF_APPLY;
    else if (name && !strcmp(name, "ignore")) *out = FC_EXIF_IGNORE;
    else return fc_fail(err, FC_EINVAL, "--exif-orientation wants apply or ignore, not '%s'", name ? name : "");
    return 0;
}

int fc_compute_parse(const char *name, fc_compute *out, fc_error *err) {
    if (name && !strcmp(name, "f32")) *out = FC_COMPUTE_F32;
    else if (name && !strcmp(name, "bf16")) *out = FC_COMPUTE_BF16;
    else return fc_fail(err, FC_EINVAL, "--compute must be f32 or bf16, not '%s'", name ? name : "");
    return 0;
}

int fc_compute_kernels(fc_compute compute, const fc_kernels **k, fc_error *err) {
    *k = NULL;
    if (compute == FC_COMPUTE_F32) return 0;
    if ((*k = fc_kernels_bf16())) return 0;
    if (!fc_cpu()->avx512_bf16)
        return fc_fail(err, FC_EUNSUPPORTED, "--compute bf16 needs a CPU with AVX512_BF16 (VDPBF16PS); this one has "
                       "none: use --compute f32");
    return fc_fail(err, FC_EUNSUPPORTED, "--compute bf16 needs the avx512 kernel level; FEATCACHE_ISA=%s lowers it "
                   "(unset it, or use --compute f32)", fc_isa_name(fc_cpu_isa()));
}

void fc_extractor_layer_label(const char *layer, fc_pool pool, char *out, size_t cap) {
    snprintf(out, cap, pool == FC_POOL_AVG ? "avgpool(%s)" : "%s", layer);
}

int fc_extractor_is_current(const fc_catalog_extractor *row) {
    char layer[512], pre[64], id[65];
    fc_pool pool = FC_POOL_NONE;
    size_t n = strlen(row->layer);
    snprintf(layer, sizeof layer, "%s", row->layer);
    if (n > 9 && n < sizeof layer && !strncmp(layer, "avgpool(", 8) && layer[n - 1] == ')') {
        layer[n - 1] = 0;
        memmove(layer, layer + 8, n - 8);
        pool = FC_POOL_AVG;
    }
    /* the label names preset, gray, EXIF handling and compute path: try each combination's label */
    static const fc_preset presets[] = {FC_PRESET_TF, FC_PRESET_TORCH, FC_PRESET_CAFFE};
    static const fc_compute computes[] = {FC_COMPUTE_F32, FC_COMPUTE_BF16};
    for (size_t p = 0; p < sizeof presets / sizeof presets[0]; p++)
        for (int g = 0; g < 2; g++)
            for (int e = 0; e < 2; e++)
                for (int c = 0; c < 2; c++) {
                    fc_extractor_preprocess_label(presets[p], g, (fc_exif)e, computes[c], pre, sizeof pre);
                    if (strcmp(pre, row->preprocess)) continue;
                    fc_extractor_id(row->model_sha256, layer, pool, row->size, (float)row->crop, presets[p], g,
                                    row->dtype, (fc_exif)e, id);
                    fc_extractor_id_compute(id, computes[c], id);
                    return !strcmp(id, row->id);
                }
    return 0;
}

/* The fingerprint of a model file whose SHA-256 is h and which reads the n data files. */
static int fingerprint_of(const uint8_t h[32], const char *const *files, int n, char out[65], fc_error *err) {
    if (n == 0) { /* the file is everything: its SHA-256, as every extractor id always had */
        fc_hex_encode(h, 32, out);
        return 0;
    }
    int rc = 0;
    /* the model file names each data file and says which bytes of it go where: their contents in
     * the order it names them complete the description */
    fc_strbuf d = {0};
    char hex[65];
    fc_hex_encode(h, 32, hex);
    fc_strbuf_printf(&d, "featcache-model/1\nfile=%s\n", hex);
    for (int i = 0; i < n && rc == 0; i++) {
        uint8_t hf[32];
        if ((rc = fc_sha256_file(files[i], hf, NULL, err))) break;
        fc_hex_encode(hf, 32, hex);
        fc_strbuf_printf(&d, "data=%s\n", hex);
    }
    if (rc == 0 && d.failed) rc = fc_fail(err, FC_ENOMEM, "out of memory");
    if (rc == 0) {
        uint8_t hd[32];
        fc_sha256_digest(d.s, d.len, hd);
        fc_hex_encode(hd, 32, out);
    }
    fc_strbuf_free(&d);
    return rc;
}

int fc_model_fingerprint(const char *model_path, char out[65], int *n_data_files, fc_error *err) {
    uint8_t h[32];
    char **files = NULL;
    int n = 0, rc = fc_sha256_file(model_path, h, NULL, err);
    if (rc == 0) rc = fc_model_data_files(model_path, &files, &n, err);
    if (rc) return rc;
    if (n_data_files) *n_data_files = n;
    rc = fingerprint_of(h, (const char *const *)files, n, out, err);
    fc_model_data_files_free(files, n);
    return rc;
}

static void *hash_file_bytes(void *arg) {
    fc_model_file *f = arg;
    fc_sha256_digest(f->data, f->size, f->sha256);
    f->hashed = 1;
    return NULL;
}

int fc_model_load_hashed(const char *path, const fc_model_options *opt, fc_model_file *file, fc_model **model,
                         fc_error *err) {
    *model = NULL;
    if (!file->data) {
        file->hashed = 0;
        int rc = fc_file_read(path, FC_ONNX_MAX_BYTES, &file->data, &file->size, err);
        if (rc) return rc;
    }
    pthread_t t;
    int threaded = !file->hashed && pthread_create(&t, NULL, hash_file_bytes, file) == 0;
    int rc = fc_model_load_file_bytes(path, file->data, file->size, opt, model, err);
    if (threaded) pthread_join(t, NULL);
    else if (!file->hashed) hash_file_bytes(file);
    return rc;
}

void fc_model_file_free(fc_model_file *f) {
    free(f->data);
    f->data = NULL;
    f->size = 0;
}

int fc_model_facts(fc_catalog *cat, const char *model_path, char sha256[65], char *default_layer,
                   size_t layer_cap, int *height, int *width, fc_model_file *file, fc_error *err) {
    char real[PATH_MAX];
    struct stat st;
    if (!realpath(model_path, real) || stat(real, &st) != 0)
        return fc_fail(err, FC_EIO, "%s: %s", model_path, strerror(errno));
    fc_catalog_model m = {.path = real, .size = st.st_size,
                          .mtime = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec};
    int rc = fc_catalog_model_get(cat, &m, err);
    if (rc < 0) return rc;
    if (rc == 0) {
        /* the fingerprint: the SHA-256 of the bytes the load parsed and the data files it lists
         * from them (fc_model_fingerprint reads and parses the file once more) */
        fc_model_file bytes = {0};
        fc_model *model = NULL;
        fc_model_options describe = {.describe_only = 1}; /* its facts need no prepared weights */
        if ((rc = fc_model_load_hashed(model_path, &describe, &bytes, &model, err))) {
            fc_model_file_free(&bytes);
            return rc;
        }
        int n_data = 0;
        const char *const *files = fc_model_loaded_data_files(model, &n_data);
        if ((rc = fingerprint_of(bytes.sha256, files, n_data, m.sha256, err))) {
            fc_model_free(model);
            fc_model_file_free(&bytes);
            return rc;
        }
        if (file) *file = bytes; /* the caller's run load: the very bytes fingerprinted */
        else fc_model_file_free(&bytes);
        snprintf(m.default_layer, sizeof m.default_layer, "%s", fc_model_default_feature(model));
        int64_t d[4];
        fc_model_input_dims(model, d);
        m.height = (int)d[2];
        m.width = (int)d[3];
        fc_model_free(model);
        /* the row is only a shortcut for next time (and the catalog may be read-only); it is keyed
         * by the model file's size and mtime, which say nothing of its data files: a model with
         * some is fingerprinted again every time */
        fc_error ignored;
        if (n_data == 0) fc_catalog_model_put(cat, &m, &ignored);
    }
    memcpy(sha256, m.sha256, 65);
    snprintf(default_layer, layer_cap, "%s", m.default_layer);
    *height = m.height;
    *width = m.width;
    return 0;
}

int fc_model_check_fingerprint(fc_catalog *cat, const char *model_path, const char model_sha[65], const fc_model *model,
                               const fc_model_file *file, fc_error *err) {
    char hex[65];
    int n_data = 0;
    fc_model_loaded_data_files(model, &n_data);
    fc_hex_encode(file->sha256, 32, hex);
    if (n_data == 0 && !strcmp(hex, model_sha)) return 0;
    /* only a record keyed by size and mtime can have named other bytes: drop it, so that the next
     * run hashes the file again */
    char real[PATH_MAX];
    fc_error ignored;
    if (realpath(model_path, real)) fc_catalog_model_forget(cat, real, &ignored);
    return fc_fail(err, FC_EIO, "%s: the model file changed without its size or modification time changing "
                   "(SHA-256 %.12s, the catalog recorded %.12s for it); nothing was computed with it: run "
                   "extract again", model_path, hex, model_sha);
}

int fc_extractor_resolve(fc_catalog *cat, const fc_extractor_def *x, fc_extractor_ref *out, fc_error *err) {
    if (!x->model) return fc_fail(err, FC_EINVAL, "--model is required");
    char deflayer[256];
    int h, w;
    int rc = fc_model_facts(cat, x->model, out->model_sha, deflayer, sizeof deflayer, &h, &w, NULL, err);
    if (rc) return rc;
    out->size = x->size ? x->size : h;
    if (out->size <= 0) return fc_fail(err, FC_EINVAL, "%s: the model's input size is not fixed; give --size", x->model);
    snprintf(out->layer, sizeof out->layer, "%s", x->n_layers ? x->layers[0] : deflayer);
    fc_extractor_id(out->model_sha, out->layer, FC_POOL_NONE, out->size, x->crop, x->preset, x->gray, x->dtype, x->exif, out->id);
    fc_extractor_id_compute(out->id, x->compute, out->id);
    return 0;
}
