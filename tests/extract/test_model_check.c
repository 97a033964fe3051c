/* A model is checked against the image pipeline before any work (issue 13 point 7), with small
 * models built here (tests/support/onnx_build.h): the input must be (N, C, H, W) with C = 3, or 1
 * with gray conversion on request; a layer must depend on the image and carry the batch
 * dimension. Each refusal names the model file and the reason, and an extract refused for its
 * model leaves no data set in the catalog. A 1-channel model with gray conversion stores the
 * features of the gray plane. */
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "engine/model.h"
#include "extract/extract.h"
#include "extract/pipeline.h"
#include "store/store.h"
#include "tests/support/check.h"
#include "tests/support/onnx_build.h"
#include "tests/support/tmpdir.h"

/* input (N, c, 8, 8) of the given rank (c <= 0: symbolic) -> 1x1 Conv to 2 channels (weights w:
 * +1 and -1 per input channel, so the output is the channel sum and its negation) -> 'gap'
 * (N, 2, 1, 1); also 'flat', the input reshaped to one row (no batch dimension). A rank other
 * than 4: input (N, 12) -> Relu -> 'gap'. */
static const char *make_model(const char *name, int rank, int64_t c) {
    static char paths[8][512];
    static int n;
    char *path = paths[n++ % 8];
    snprintf(path, 512, "%s", fc_test_path(name));
    ob_model *m = ob_new(13);
    if (rank != 4) {
        int64_t dims[2] = {0, 12};
        ob_input_shape(m, "input", rank, dims);
        ob_node(m, "Relu", "relu", "input", "gap");
    } else {
        int64_t dims[4] = {0, c, 8, 8}, wd[4] = {2, c > 0 ? c : 3, 1, 1}, shape = -1;
        ob_input_shape(m, "input", 4, dims);
        float w[8];
        for (int i = 0; i < 8; i++) w[i] = i < wd[1] ? 1.0f : -1.0f;
        ob_init(m, "w", 4, wd, w);
        ob_init_i64(m, "shape", 1, &shape);
        ob_node(m, "Conv", "conv", "input,w", "conv");
        ob_node(m, "GlobalAveragePool", "pool", "conv", "gap");
        ob_node(m, "Reshape", "flatten", "input,shape", "flat");
    }
    ob_output(m, "gap"); /* first: the default feature of a model without a classifier */
    if (rank == 4) ob_output(m, "flat");
    CHECK(ob_write(m, path) == 0, "writing %s", path);
    return path;
}

static fc_model *load(const char *path, const char *layer) {
    const char *outs[1] = {layer};
    fc_model_options mo = {.outputs = outs, .n_outputs = layer ? 1 : 0};
    fc_model *m = NULL;
    fc_error err = {0};
    CHECK(fc_model_load(path, &mo, &m, &err) == 0, "%s: %s", path, err.msg);
    return m;
}

/* fc_pipeline_check_model on models of every input kind, with and without gray. */
static void test_input_checks(void) {
    static const struct { const char *name; int rank; int64_t c; int gray; const char *msg; } cases[] = {
        {"rgb.onnx", 4, 3, 0, NULL},
        {"rgb.onnx", 4, 3, 1, "takes 3-channel images (N, 3, H, W); --grayscale is for models that take 1 channel"},
        {"gray.onnx", 4, 1, 0, "takes 1-channel images (N, 1, H, W); give --grayscale to convert images to gray"},
        {"gray.onnx", 4, 1, 1, NULL},
        {"rgba.onnx", 4, 4, 0, "takes 4-channel images; the image pipeline makes 3 (RGB), or 1 with --grayscale"},
        {"rgba.onnx", 4, 4, 1, "takes 4-channel images"},
        {"anyc.onnx", 4, 0, 0, NULL}, /* an undeclared channel count: the engine plans 3 */
        {"flat.onnx", 2, 12, 0, "input 'input' has rank 2; images go in as (N, C, H, W)"},
        {"noshape.onnx", 0, 12, 0, NULL}, /* no declared shape: planned as (N, 3, H, W) */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const char *path = make_model(cases[i].name, cases[i].rank, cases[i].c);
        fc_model *m = load(path, NULL);
        if (!m) continue;
        fc_error err = {0};
        int rc = fc_pipeline_check_model(m, cases[i].gray, &err);
        if (!cases[i].msg) CHECK(rc == 0, "%s gray %d: %s", cases[i].name, cases[i].gray, err.msg);
        else
            CHECK(rc == FC_EINVAL && strstr(err.msg, path) && strstr(err.msg, cases[i].msg), "%s gray %d: %d %s",
                  cases[i].name, cases[i].gray, rc, err.msg);
        fc_model_free(m);
    }
}

/* fc_pipeline_check_outputs: a weight and a tensor without the batch dimension are refused. */
static void test_output_checks(void) {
    const char *path = make_model("layers.onnx", 4, 3);
    static const struct { const char *layer, *msg; } cases[] = {
        {"gap", NULL},
        {"w", "layer 'w' is a constant of the model: it does not depend on the image"},
        {"flat", "layer 'flat' is not computed per image: its first dimension is 384 for a batch of 2 images"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        fc_model *m = load(path, cases[i].layer);
        if (!m) continue;
        fc_error err = {0};
        fc_session *s = NULL;
        int rc = fc_pipeline_check_outputs(m, 8, 8, &s, &err);
        if (!cases[i].msg) CHECK(rc == 0 && s && fc_session_output(s, 0)->dims[0] == 2, "%s: %s", cases[i].layer, err.msg);
        else
            CHECK(rc == FC_EINVAL && !s && strstr(err.msg, path) && strstr(err.msg, cases[i].msg), "%s: %d %s",
                  cases[i].layer, rc, err.msg);
        fc_session_free(s);
        fc_model_free(m);
    }
}

/* An RGB PNG of w x h pseudo-random pixels. */
static void write_png(const char *path, int w, int h, unsigned seed) {
    uint8_t *px = malloc((size_t)w * h * 3);
    for (int i = 0; px && i < w * h * 3; i++) px[i] = (uint8_t)((seed = seed * 1103515245u + 12345u) >> 16);
    png_image im;
    memset(&im, 0, sizeof im);
    im.version = PNG_IMAGE_VERSION;
    im.width = (png_uint_32)w;
    im.height = (png_uint_32)h;
    im.format = PNG_FORMAT_RGB;
    CHECK(px && png_image_write_to_file(&im, path, 0, px, 0, NULL), "writing %s", path);
    free(px);
}

static int count_dataset(void *user, const fc_catalog_dataset *d) {
    (*(int *)user)++;
    return 0;
}

static int run_extract(const char *model, const char *layer, int gray, const char *data, const char *cache,
                       fc_extract_result *r, fc_error *err) {
    const char *layers[1] = {layer};
    fc_extract_options o = {.extractor = {.model = model, .layers = layer ? layers : NULL, .n_layers = layer ? 1 : 0,
                                          .size = 8, .preset = FC_PRESET_TF, .gray = gray},
                            .dataset = {.path = data}, .cache = {.dir = cache}, .compute = {.threads = 1}};
    return fc_extract_run(&o, r, err);
}

/* extract with a 1-channel model: refused without gray before the data set is registered; with
 * gray, each item's feature is (sum, -sum) of its gray plane's mean, as preprocessing makes it. */
static void test_extract_gray(void) {
    char data[512], cache[512], file[600];
    snprintf(data, sizeof data, "%s", fc_test_path("images"));
    snprintf(cache, sizeof cache, "%s", fc_test_path("cache"));
    for (int i = 0; i < 4; i++) {
        snprintf(file, sizeof file, "%s/%s", data, i % 2 ? "b" : "a");
        mkdir(data, 0755);
        mkdir(file, 0755);
        snprintf(file, sizeof file, "%s/%s/%d.png", data, i % 2 ? "b" : "a", i);
        write_png(file, 13 + i, 11, 7u + (unsigned)i);
    }
    const char *gray = make_model("gray_extract.onnx", 4, 1), *rgba = make_model("rgba_extract.onnx", 4, 4);
    fc_extract_result r;
    fc_error err = {0};
    CHECK(run_extract(gray, NULL, 0, data, cache, &r, &err) == FC_EINVAL && strstr(err.msg, gray) &&
          strstr(err.msg, "give --grayscale"), "1 channel without gray: %s", err.msg);
    CHECK(run_extract(rgba, NULL, 0, data, cache, &r, &err) == FC_EINVAL && strstr(err.msg, rgba) &&
          strstr(err.msg, "4-channel"), "4 channels: %s", err.msg);
    CHECK(run_extract(gray, "flat", 1, data, cache, &r, &err) == FC_EINVAL && strstr(err.msg, "not computed per image"),
          "a layer without the batch dimension: %s", err.msg);
    fc_catalog *cat = NULL;
    int n_sets = -1;
    if (fc_catalog_open(cache, FC_CATALOG_RDONLY, 0, &cat, &err) == 0) {
        n_sets = 0;
        fc_catalog_dataset_list(cat, count_dataset, &n_sets, &err);
        fc_catalog_close(cat);
    }
    CHECK(n_sets <= 0, "refused models left %d data sets in the catalog", n_sets);
    REQUIRE(run_extract(gray, NULL, 1, data, cache, &r, &err) == 0, "gray: %s", err.msg);
    CHECK(r.counts.computed == 4 && r.rank[0] == 1 && r.dims[0][0] == 2, "%zu computed, shape %u", r.counts.computed,
          r.dims[0][0]);
    fc_cache *fcache = NULL;
    fc_featureset fs = {0};
    REQUIRE(fc_catalog_open(cache, FC_CATALOG_RDONLY, 0, &cat, &err) == 0 &&
            fc_cache_open(cache, FC_CACHE_RDONLY, NULL, &fcache, &err) == 0 &&
            fc_featureset_load(cat, fcache, "images", r.extractor[0], FC_VIEW_ORIG, &fs, &err) == 0, "%s", err.msg);
    for (size_t i = 0; i < fs.n; i++) {
        snprintf(file, sizeof file, "%s/%s", data, fs.paths[i]);
        fc_image img;
        float plane[64];
        double mean = 0;
        fc_preprocess p = {.width = 8, .height = 8, .preset = FC_PRESET_TF, .gray = 1};
        REQUIRE(fc_image_load(file, 0, 0, FC_EXIF_APPLY, &img, &err) == 0 && fc_preprocess_image(&img, &p, plane, &err) == 0, "%s", err.msg);
        fc_image_free(&img);
        for (int j = 0; j < 64; j++) mean += plane[j] / 64.0;
        CHECK(fabs(fs.x[2 * i] - mean) < 1e-5 && fabs(fs.x[2 * i + 1] + mean) < 1e-5, "%s: feature (%g, %g), gray mean %g",
              fs.paths[i], fs.x[2 * i], fs.x[2 * i + 1], mean);
    }
    fc_featureset_free(&fs);
    fc_cache_close(fcache);
    fc_catalog_close(cat);
}

int main(void) {
    RUN(test_input_checks);
    RUN(test_output_checks);
    RUN(test_extract_gray);
    return check_done();
}
