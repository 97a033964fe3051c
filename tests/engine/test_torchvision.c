/* Other architectures against PyTorch: scripts/export_torchvision.py (run by `make test` when
 * python3-torch is installed) exports torchvision models with seeded random weights plus PyTorch's
 * outputs for a random input; featcache must match the final output (and the pooled features where
 * the export names them) within max|diff| <= 1e-3 * max|ref| and cosine >= 0.99999. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/model.h"
#include "tests/support/check.h"
#include "tests/support/compare.h"
#include "tests/support/npy.h"

static const char *models[] = {"resnet18", "resnet50", "vgg11_bn", "mobilenet_v3_large",
                               "efficientnet_b0", "densenet121", "squeezenet1_1", "googlenet",
                               "inception_v3", "shufflenet_v2_x1_0"};

static const char *dir(void) {
    const char *d = getenv("FEATCACHE_TORCHVISION");
    return d && *d ? d : "build/torchvision";
}

/* The "pooled" tensor name from <name>.json, or "" */
static void pooled_name(const char *json_path, char *out, size_t cap) {
    out[0] = 0;
    FILE *f = fopen(json_path, "r");
    if (!f) return;
    char buf[4096];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strstr(buf, "\"pooled\"");
    if (!p || !(p = strchr(p + 8, ':'))) return;
    while (*p == ':' || *p == ' ') p++;
    if (*p != '"') return;
    char *e = strchr(++p, '"');
    if (!e || (size_t)(e - p) >= cap) return;
    memcpy(out, p, (size_t)(e - p));
    out[e - p] = 0;
}

static void check_model(const char *name) {
    char path[1024], msg[256], pooled[256];
    snprintf(path, sizeof path, "%s/UNAVAILABLE", dir());
    FILE *f = fopen(path, "r");
    if (f) {
        static char reason[256];
        size_t n = fread(reason, 1, sizeof reason - 1, f);
        fclose(f);
        reason[n] = 0;
        if (n && reason[n - 1] == '\n') reason[n - 1] = 0;
        SKIP(reason);
    }
    npy_array input, output, pooled_ref = {0};
    snprintf(path, sizeof path, "%s/%s.input.npy", dir(), name);
    REQUIRE(npy_read(path, &input, msg) == 0, "%s (run scripts/export_torchvision.py %s)", msg, dir());
    snprintf(path, sizeof path, "%s/%s.output.npy", dir(), name);
    REQUIRE(npy_read(path, &output, msg) == 0, "%s", msg);
    snprintf(path, sizeof path, "%s/%s.json", dir(), name);
    pooled_name(path, pooled, sizeof pooled);
    if (pooled[0]) {
        snprintf(path, sizeof path, "%s/%s.pooled.npy", dir(), name);
        if (npy_read(path, &pooled_ref, msg) != 0) pooled[0] = 0;
    }
    const char *outs[2] = {"output", pooled};
    fc_model_options mo = {.outputs = outs, .n_outputs = pooled[0] ? 2 : 1};
    fc_model *m = NULL;
    fc_session *s = NULL;
    fc_error err = {0};
    snprintf(path, sizeof path, "%s/%s.onnx", dir(), name);
    int rc = fc_model_load(path, &mo, &m, &err);
    CHECK(rc == 0, "%s", err.msg);
    if (rc == 0) {
        fc_session_options so = {.batch = (int)input.dims[0], .height = (int)input.dims[2],
                                 .width = (int)input.dims[3], .threads = 2};
        rc = fc_session_create(m, &so, &s, &err);
        CHECK(rc == 0, "%s", err.msg);
    }
    if (rc == 0) {
        rc = fc_session_run(s, input.data, &err);
        CHECK(rc == 0, "%s", err.msg);
    }
    if (rc == 0) {
        char what[256];
        snprintf(what, sizeof what, "%s output", name);
        check_close_to_reference(what, fc_session_output(s, 0), &output);
        if (pooled[0]) {
            snprintf(what, sizeof what, "%s pooled", name);
            check_close_to_reference(what, fc_session_output(s, 1), &pooled_ref);
        }
    }
    fc_session_free(s);
    fc_model_free(m);
    npy_free(&input);
    npy_free(&output);
    npy_free(&pooled_ref);
}

#define MODEL_TEST(i) static void test_##i(void) { check_model(models[i]); }
MODEL_TEST(0) MODEL_TEST(1) MODEL_TEST(2) MODEL_TEST(3) MODEL_TEST(4)
MODEL_TEST(5) MODEL_TEST(6) MODEL_TEST(7) MODEL_TEST(8) MODEL_TEST(9)

int main(void) {
    void (*tests[])(void) = {test_0, test_1, test_2, test_3, test_4, test_5, test_6, test_7, test_8, test_9};
    for (int i = 0; i < 10; i++) {
        char name[64];
        snprintf(name, sizeof name, "test_torchvision_%s", models[i]);
        check_run_(name, tests[i]);
    }
    return check_done();
}
