/* Network-only reference test: the four ../shared models fed reference/<model>/input.npy must give
 * ONNX Runtime's `pooled` and final outputs within max|diff| <= 1e-3 * max|ref| and cosine >= 0.99999.
 * Runs with the best kernels of this CPU and with the scalar reference kernels; a split-batch session
 * (slices of the batch on separate threads, uneven slices) must give the same bits as the
 * layer-parallel one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/model.h"
#include "tests/support/check.h"
#include "tests/support/compare.h"
#include "tests/support/npy.h"

static const struct {
    const char *name, *final, *final_file;
} models[] = {
    {"mobilenet_v2_1.0_224", "probabilities", "probabilities.npy"},
    {"mobilenet_v2_1.0_224_inat_bird", "probabilities", "probabilities.npy"},
    {"mobilenet_v1_0.75_192", "probabilities", "probabilities.npy"},
    {"mobilenet_v1_1.0_224_embedding", "embedding", NULL},
};

static void run_models(const char *isa) {
    const char *shared = check_shared_dir();
    if (!shared) SKIP("../shared not found (set FEATCACHE_SHARED)");
    const fc_kernels *k = fc_kernels_by_name(isa);
    if (!k) SKIP("kernels not supported by this CPU");
    for (size_t i = 0; i < sizeof models / sizeof *models; i++) {
        char path[1024], msg[256];
        snprintf(path, sizeof path, "%s/reference/%s/input.npy", shared, models[i].name);
        npy_array input, pooled, final = {0};
        REQUIRE(npy_read(path, &input, msg) == 0, "%s", msg);
        snprintf(path, sizeof path, "%s/reference/%s/pooled.npy", shared, models[i].name);
        REQUIRE(npy_read(path, &pooled, msg) == 0, "%s", msg);
        if (models[i].final_file) {
            snprintf(path, sizeof path, "%s/reference/%s/%s", shared, models[i].name, models[i].final_file);
            REQUIRE(npy_read(path, &final, msg) == 0, "%s", msg);
        }
        const char *outs[] = {"pooled", models[i].final};
        fc_model_options opt = {.outputs = outs, .n_outputs = 2, .kernels = k};
        fc_model *m = NULL;
        fc_error err = {0};
        snprintf(path, sizeof path, "%s/models/%s.onnx", shared, models[i].name);
        int rc = fc_model_load(path, &opt, &m, &err);
        REQUIRE(rc == 0, "load: %s", err.msg);
        fc_session_options so = {.batch = (int)input.dims[0], .height = (int)input.dims[2],
                                 .width = (int)input.dims[3], .threads = 2};
        fc_session *s = NULL;
        rc = fc_session_create(m, &so, &s, &err);
        REQUIRE(rc == 0, "session: %s", err.msg);
        rc = fc_session_run(s, input.data, &err);
        REQUIRE(rc == 0, "run: %s", err.msg);
        char what[256];
        snprintf(what, sizeof what, "%s %s pooled", isa, models[i].name);
        check_close_to_reference(what, fc_session_output(s, 0), &pooled);
        if (final.data) {
            snprintf(what, sizeof what, "%s %s %s", isa, models[i].name, models[i].final);
            check_close_to_reference(what, fc_session_output(s, 1), &final);
        } else {
            /* no reference file: the embedding is the flattened pooled vector */
            const fc_tensor *e = fc_session_output(s, 1);
            snprintf(what, sizeof what, "%s %s %s vs pooled", isa, models[i].name, models[i].final);
            check_close_to_reference(what, e, &pooled);
        }
        /* the same batch split into uneven per-thread slices: identical values */
        fc_session_options sp = so;
        sp.threads = 3;
        sp.split_batch = 1;
        fc_session *s2 = NULL;
        REQUIRE(fc_session_create(m, &sp, &s2, &err) == 0, "split session: %s", err.msg);
        REQUIRE(fc_session_run(s2, input.data, &err) == 0, "split run: %s", err.msg);
        for (int o = 0; o < 2; o++) {
            const fc_tensor *a = fc_session_output(s, o), *b = fc_session_output(s2, o);
            CHECK(a->rank == b->rank && fc_tensor_count(a) == fc_tensor_count(b) &&
                      !memcmp(a->data, b->data, fc_tensor_bytes(a)),
                  "%s %s output %d: split-batch session differs from the layer-parallel one", isa, models[i].name, o);
        }
        fc_session_free(s2);
        fc_session_free(s);
        fc_model_free(m);
        npy_free(&input);
        npy_free(&pooled);
        npy_free(&final);
    }
}

static void test_models_best(void) { run_models(fc_kernels_best()->name); }
static void test_models_scalar(void) { run_models("scalar"); }

int main(void) {
    RUN(test_models_best);
    RUN(test_models_scalar);
    return check_done();
}
