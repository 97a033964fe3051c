/* `--compute bf16` on whole models: the torchvision architectures of scripts/export_torchvision.py
 * (seeded random weights, their exported random input batch), run with the f32 kernels and with
 * fc_kernels_bf16; the pooled features (where the export names them, else the output) and the
 * output of each image must have a cosine with the f32 ones of at least 0.999 (measured smallest:
 * GoogLeNet 0.99968, Inception-v3 0.99979, the others 0.99987 or more; before the stages up to
 * stride 8 of the light-early networks kept f32 products too, engine/precision.h, Inception-v3 fell
 * to 0.99825 and ShuffleNetV2 to 0.99898, and before the stem and the first stage did, ResNet-50
 * to 0.9969 and Inception-v3 to 0.9939).
 * On real images (test_compute_bf16.sh) the shared MobileNetV2, ResNet-50 and EfficientNet-B0 keep
 * 0.999. Prints the
 * smallest cosines. Skipped without AVX512_BF16. Not here: the kernel against its twin
 * (test_kernels_bf16_infer.c), the shared classifiers on the shared images (test_compute_bf16.sh). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/model.h"
#include "tests/support/check.h"
#include "tests/support/npy.h"

static const char *models[] = {"resnet18", "resnet50", "mobilenet_v2", "mobilenet_v3_large", "efficientnet_b0",
                               "densenet121", "googlenet", "inception_v3", "shufflenet_v2_x1_0", "vgg11_bn"};
#define BOUND 0.999 /* the smallest cosine allowed */
enum { N_MODELS = 10 };

static const char *dir(void) {
    const char *d = getenv("FEATCACHE_TORCHVISION");
    return d && *d ? d : "build/torchvision";
}

/* The "pooled" tensor name from <name>.json, or "output". */
static void feature_name(const char *name, char *out, size_t cap) {
    char path[1024], buf[4096];
    snprintf(out, cap, "output");
    snprintf(path, sizeof path, "%s/%s.json", dir(), name);
    FILE *f = fopen(path, "r");
    if (!f) return;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strstr(buf, "\"pooled\""), *e;
    if (!p || !(p = strchr(p + 8, '"')) || !(e = strchr(++p, '"')) || (size_t)(e - p) >= cap) return;
    memcpy(out, p, (size_t)(e - p));
    out[e - p] = 0;
}

/* Outputs (tensor names[0..1]) of the model on x with kernel table k (NULL: the default), copied. */
static int run(const char *path, const char *const *names, const fc_kernels *k, const npy_array *x, float *out[2],
               size_t count[2], fc_error *err) {
    fc_model_options mo = {.outputs = names, .n_outputs = 2, .kernels = k};
    fc_model *m = NULL;
    fc_session *s = NULL;
    fc_session_options so = {.batch = (int)x->dims[0], .height = (int)x->dims[2], .width = (int)x->dims[3],
                             .threads = 2};
    int rc = fc_model_load(path, &mo, &m, err);
    if (!rc) rc = fc_session_create(m, &so, &s, err);
    if (!rc) rc = fc_session_run(s, x->data, err);
    for (int i = 0; i < 2 && !rc; i++) {
        const fc_tensor *t = fc_session_output(s, i);
        count[i] = (size_t)fc_tensor_count(t);
        out[i] = malloc(count[i] * sizeof(float));
        memcpy(out[i], t->data, count[i] * sizeof(float));
    }
    fc_session_free(s);
    fc_model_free(m);
    return rc;
}

/* Smallest cosine over the n rows of a and b (count floats each). */
static double min_cosine(const float *a, const float *b, size_t count, int n) {
    double worst = 1;
    size_t d = count / (size_t)n;
    for (int r = 0; r < n; r++) {
        double ab = 0, aa = 0, bb = 0;
        for (size_t i = 0; i < d; i++) {
            double x = a[r * d + i], y = b[r * d + i];
            ab += x * y, aa += x * x, bb += y * y;
        }
        double c = aa > 0 && bb > 0 ? ab / sqrt(aa * bb) : (aa == bb ? 1 : 0);
        if (c < worst) worst = c;
    }
    return worst;
}

static void check_model(const char *name, double bound) {
    const fc_kernels *k16 = fc_kernels_bf16();
    if (!k16) SKIP("this CPU has no AVX512_BF16 (or FEATCACHE_ISA lowers the level)");
    char path[1024], msg[256], feat[256];
    snprintf(path, sizeof path, "%s/UNAVAILABLE", dir());
    FILE *f = fopen(path, "r");
    if (f) {
        fclose(f);
        SKIP("the torchvision models are not exported (see build/torchvision/UNAVAILABLE)");
    }
    npy_array x;
    snprintf(path, sizeof path, "%s/%s.input.npy", dir(), name);
    REQUIRE(npy_read(path, &x, msg) == 0, "%s (run scripts/export_torchvision.py %s)", msg, dir());
    feature_name(name, feat, sizeof feat);
    const char *names[2] = {"output", feat};
    float *a[2] = {0}, *b[2] = {0};
    size_t ca[2], cb[2];
    fc_error err = {0};
    snprintf(path, sizeof path, "%s/%s.onnx", dir(), name);
    int rc = run(path, names, NULL, &x, a, ca, &err);
    if (!rc) rc = run(path, names, k16, &x, b, cb, &err);
    CHECK(rc == 0, "%s", err.msg);
    if (!rc) {
        int n = (int)x.dims[0];
        double co = min_cosine(a[0], b[0], ca[0], n), cp = min_cosine(a[1], b[1], ca[1], n);
        printf("  %-20s bf16 vs f32: smallest cosine %s %.6f, output %.6f (%d images)\n", name, feat, cp, co, n);
        CHECK(cp >= bound, "%s: %s features of bf16 and f32 have cosine %.6f < %g", name, feat, cp, bound);
        CHECK(co >= bound, "%s: outputs of bf16 and f32 have cosine %.6f < %g", name, co, bound);
    }
    for (int i = 0; i < 2; i++) free(a[i]), free(b[i]);
    npy_free(&x);
}

#define MODEL_TEST(i) static void test_##i(void) { check_model(models[i], BOUND); }
MODEL_TEST(0) MODEL_TEST(1) MODEL_TEST(2) MODEL_TEST(3) MODEL_TEST(4)
MODEL_TEST(5) MODEL_TEST(6) MODEL_TEST(7) MODEL_TEST(8) MODEL_TEST(9)

int main(void) {
    void (*tests[N_MODELS])(void) = {test_0, test_1, test_2, test_3, test_4, test_5, test_6, test_7, test_8, test_9};
    for (int i = 0; i < N_MODELS; i++) {
        char name[64];
        snprintf(name, sizeof name, "bf16_%s", models[i]);
        check_run_(name, tests[i]);
    }
    return check_done();
}
