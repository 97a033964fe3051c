/* Tests for the classify/ building blocks other than the softmax and MLP trainers: feature
 * transforms (fitted on train only, constant dims, L2 rows), the head pipeline (hand-computed
 * forward, layout checks, bad input), nearest class mean, metrics on a hand-computed example
 * (checked against scikit-learn's values), hash splits (bucket definition, stability, fractions,
 * k-fold consistency), L-BFGS on Rosenbrock and with a shifted memory, the dense kernels (portable
 * and AVX2 tables bit for bit, Gram vs a long double reference, awkward sizes), and input
 * validation messages. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "classify/data.h"
#include "classify/dense.h"
#include "classify/head.h"
#include "classify/lbfgs.h"
#include "classify/metrics.h"
#include "classify/ncm.h"
#include "classify/spectral.h"
#include "classify/split.h"
#include "classify/transform.h"
#include "store/hash.h"
#include "tests/support/check.h"

static unsigned lcg = 1;
static double unif(void) {
    lcg = lcg * 1664525u + 1013904223u;
    return (lcg >> 8) / 16777216.0;
}

/* ---- transforms ---- */

static void test_transform_standardize(void) {
    /* dim 0: mean 2, std 1; dim 1: constant 5 (scale must stay 1); dim 2: mean 0, std 2 */
    float tr[4 * 3] = {1, 5, -2, 3, 5, 2, 1, 5, 2, 3, 5, -2};
    fc_transform t;
    fc_error err = {0};
    REQUIRE(fc_transform_fit(&t, FC_TRANSFORM_STANDARDIZE, tr, 4, 3, 0, &err) == 0, "%s", err.msg);
    CHECK(t.dim == 3 && t.mean[0] == 2 && t.mean[1] == 5 && t.mean[2] == 0, "mean %g %g %g", t.mean[0], t.mean[1],
        t.mean[2]);
    CHECK(t.scale[0] == 1 && t.scale[1] == 1 && t.scale[2] == 0.5f, "scale %g %g %g", t.scale[0], t.scale[1],
        t.scale[2]);
    /* another split is transformed with the training statistics, not its own */
    float va[2 * 3] = {4, 6, 1, 2, 5, 0}, out[6];
    REQUIRE(fc_transform_apply(&t, va, 2, 3, out, &err) == 0, "%s", err.msg);
    float want[6] = {2, 1, 0.5f, 0, 0, 0};
    CHECK(!memcmp(out, want, sizeof want), "val row 0: %g %g %g", out[0], out[1], out[2]);
    /* in place */
    REQUIRE(fc_transform_apply(&t, va, 2, 3, va, &err) == 0, "%s", err.msg);
    CHECK(!memcmp(va, want, sizeof want), "in place");
    CHECK(fc_transform_apply(&t, va, 3, 2, out, &err) == FC_ESHAPE && strstr(err.msg, "fitted on 3"), "D: %s", err.msg);
    fc_transform c;
    REQUIRE(fc_transform_copy(&c, &t, &err) == 0, "%s", err.msg);
    CHECK(c.mean != t.mean && !memcmp(c.scale, t.scale, 3 * sizeof(float)), "copy");
    fc_transform_free(&c);
    fc_transform_free(&t);
    CHECK(t.mean == NULL && t.kind == FC_TRANSFORM_NONE, "free zeroes");
    tr[4] = NAN;
    CHECK(fc_transform_fit(&t, FC_TRANSFORM_STANDARDIZE, tr, 4, 3, 0, &err) == FC_EINVAL && strstr(err.msg,
        "row 1, dim 1"),
          "NaN: %s", err.msg);
    CHECK(fc_transform_fit(&t, FC_TRANSFORM_STANDARDIZE, tr, 0, 3, 0, &err) == FC_EINVAL, "no rows");
}

static void test_transform_l2_and_none(void) {
    float x[3 * 2] = {3, 4, 0, 0, -1, 0}, out[6];
    fc_transform t;
    fc_error err = {0};
    REQUIRE(fc_transform_fit(&t, FC_TRANSFORM_L2, NULL, 0, 2, 0, &err) == 0, "%s", err.msg);
    REQUIRE(fc_transform_apply(&t, x, 3, 2, out, &err) == 0, "%s", err.msg);
    CHECK(fabsf(out[0] - 0.6f) < 1e-7f && fabsf(out[1] - 0.8f) < 1e-7f, "row 0 %g %g", out[0], out[1]);
    CHECK(out[2] == 0 && out[3] == 0, "a zero row stays zero");
    CHECK(out[4] == -1 && out[5] == 0, "row 2");
    fc_transform_free(&t);
    REQUIRE(fc_transform_fit(&t, FC_TRANSFORM_NONE, NULL, 0, 2, 0, &err) == 0, "%s", err.msg);
    REQUIRE(fc_transform_apply(&t, x, 3, 2, out, &err) == 0, "%s", err.msg);
    CHECK(!memcmp(out, x, sizeof x), "none is the identity");
    fc_transform_kind k;
    CHECK(fc_transform_parse("std", &k, &err) == 0 && k == FC_TRANSFORM_STANDARDIZE, "std");
    CHECK(fc_transform_parse("l2", &k, &err) == 0 && k == FC_TRANSFORM_L2, "l2");
    CHECK(fc_transform_parse("none", &k, &err) == 0 && k == FC_TRANSFORM_NONE, "none");
    CHECK(fc_transform_parse("pca", &k, &err) == FC_EINVAL && strstr(err.msg, "std, l2 or none"), "%s", err.msg);
    CHECK(!strcmp(fc_transform_name(FC_TRANSFORM_L2), "l2"), "name");
}

/* ---- head ---- */

/* std transform, 3 -> 2 ReLU -> 2 classes; checked against a hand computation. */
static void test_head_predict(void) {
    fc_head h = {0};
    fc_error err = {0};
    float tr[2 * 3] = {0, 0, 0, 2, 4, 6}; /* mean 1 2 3, std 1 2 3 */
    REQUIRE(fc_transform_fit(&h.transform, FC_TRANSFORM_STANDARDIZE, tr, 2, 3, 0, &err) == 0, "%s", err.msg);
    fc_layer_alloc(&h.layers[0], 3, 2, FC_ACTIVATION_RELU, NULL);
    fc_layer_alloc(&h.layers[1], 2, 2, FC_ACTIVATION_NONE, NULL);
    float W0[6] = {1, 0, 0, 0, 1, -1}, b0[2] = {0, 0.5f}, W1[4] = {1, 0, 0, 1}, b1[2] = {0, 0};
    memcpy(h.layers[0].W, W0, sizeof W0), memcpy(h.layers[0].b, b0, sizeof b0);
    memcpy(h.layers[1].W, W1, sizeof W1), memcpy(h.layers[1].b, b1, sizeof b1);
    h.n_layers = 2, h.n_classes = 2;
    const char *names[2] = {"ants", "bees"};
    REQUIRE(fc_head_set_class_names(&h, names, 2, &err) == 0, "%s", err.msg);
    float x[2 * 3] = {3, 2, 3, 0, 4, 3}, P[4];
    REQUIRE(fc_head_predict_proba(&h, x, 2, 3, P, 1, &err) == 0, "%s", err.msg);
    /* row 0: z = (2, 0, 0) -> relu(2, 0.5) -> softmax(2, 0.5); row 1: z = (-1, 1, 0) -> (0, 1.5) */
    double e = exp(1.5), p00 = e / (e + 1), p11 = e / (e + 1);
    CHECK(fabs(P[0] - p00) < 1e-6 && fabs(P[1] - (1 - p00)) < 1e-6, "row 0: %g %g", P[0], P[1]);
    CHECK(fabs(P[3] - p11) < 1e-6 && fabs(P[2] - (1 - p11)) < 1e-6, "row 1: %g %g", P[2], P[3]);
    CHECK(!strcmp(h.class_names[1], "bees"), "names");
    CHECK(fc_head_predict_proba(&h, x, 3, 2, P, 1, &err) == FC_ESHAPE && strstr(err.msg, "expects 3"), "D: %s",
        err.msg);
    x[4] = NAN;
    CHECK(fc_head_predict_proba(&h, x, 2, 3, P, 1, &err) == FC_EINVAL && strstr(err.msg, "row 1, dim 1"), "NaN: %s",
        err.msg);
    /* layout violations */
    h.layers[1].act = FC_ACTIVATION_RELU;
    CHECK(fc_head_check(&h, &err) == FC_EFORMAT && strstr(err.msg, "last layer"), "%s", err.msg);
    h.layers[1].act = FC_ACTIVATION_NONE;
    h.layers[1].in = 3;
    CHECK(fc_head_check(&h, &err) == FC_EFORMAT && strstr(err.msg, "layer 1 takes 3"), "%s", err.msg);
    h.layers[1].in = 2;
    h.n_classes = 3;
    CHECK(fc_head_check(&h, &err) == FC_EFORMAT, "class count");
    h.n_classes = 2;
    CHECK(fc_head_check(&h, &err) == 0, "%s", err.msg);
    fc_head_free(&h);
    CHECK(h.n_layers == 0 && h.class_names == NULL, "free zeroes");
}

/* A classifier layer (up to 16 outputs) runs blocked dot products; each output must carry the bits
 * of the one-row dot_ff(x row, W row) + b of the best dense table, for row counts around the
 * 48-row block and with several threads. */
static void test_layer_forward_bits(void) {
    const fc_dense_kernels *k = fc_dense_kernels_best();
    int shapes[][3] = {{1, 1, 2}, {47, 13, 3}, {48, 1280, 10}, {97, 257, 16}, {300, 64, 9}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int n = shapes[s][0], d = shapes[s][1], o = shapes[s][2], bad = 0;
        fc_layer l = {0};
        fc_error err = {0};
        REQUIRE(fc_layer_alloc(&l, d, o, FC_ACTIVATION_NONE, &err) == 0, "%s", err.msg);
        float *x = malloc((size_t)n * d * sizeof *x), *out = malloc((size_t)n * o * sizeof *out);
        for (int i = 0; i < n * d; i++) x[i] = (float)(unif() * 4 - 2);
        for (int i = 0; i < o * d; i++) l.W[i] = (float)(unif() - 0.5);
        for (int j = 0; j < o; j++) l.b[j] = (float)(unif() - 0.5);
        REQUIRE(fc_layer_forward(&l, x, n, out, 2, &err) == 0, "%s", err.msg);
        for (int r = 0; r < n; r++)
            for (int j = 0; j < o; j++) {
                float ref = (float)k->dot_ff(x + (size_t)r * d, l.W + (size_t)j * d, d);
                ref += l.b[j];
                bad += memcmp(&ref, &out[(size_t)r * o + j], sizeof ref) != 0;
            }
        CHECK(bad == 0, "%d x %d -> %d: %d outputs differ from dot_ff's bits", n, d, o, bad);
        free(x), free(out);
        fc_layer_free(&l);
    }
}

/* Bigger random head: predict_proba equals a double-precision reference and rows sum to 1. */
static void test_head_reference(void) {
    enum { N = 37, D = 29, H = 19, K = 5 };
    fc_head h = {.n_layers = 2, .n_classes = K};
    fc_layer_alloc(&h.layers[0], D, H, FC_ACTIVATION_RELU, NULL);
    fc_layer_alloc(&h.layers[1], H, K, FC_ACTIVATION_NONE, NULL);
    for (int l = 0; l < 2; l++) {
        for (int q = 0; q < h.layers[l].in * h.layers[l].out; q++) h.layers[l].W[q] = (float)(unif() - 0.5);
        for (int o = 0; o < h.layers[l].out; o++) h.layers[l].b[o] = (float)(unif() - 0.5);
    }
    h.transform.kind = FC_TRANSFORM_L2;
    static float x[N * D], P[N * K];
    for (int i = 0; i < N * D; i++) x[i] = (float)(4 * unif() - 2);
    fc_error err = {0};
    REQUIRE(fc_head_predict_proba(&h, x, N, D, P, 2, &err) == 0, "%s", err.msg);
    double worst = 0, sumdev = 0;
    for (int i = 0; i < N; i++) {
        double nrm = 0, a[D], t[H], z[K], m = -1e300, s = 0;
        for (int j = 0; j < D; j++) nrm += (double)x[i * D + j] * x[i * D + j];
        for (int j = 0; j < D; j++) a[j] = x[i * D + j] / sqrt(nrm);
        for (int o = 0; o < H; o++) {
            t[o] = h.layers[0].b[o];
            for (int j = 0; j < D; j++) t[o] += h.layers[0].W[o * D + j] * a[j];
            t[o] = t[o] > 0 ? t[o] : 0;
        }
        for (int c = 0; c < K; c++) {
            z[c] = h.layers[1].b[c];
            for (int o = 0; o < H; o++) z[c] += h.layers[1].W[c * H + o] * t[o];
            m = z[c] > m ? z[c] : m;
        }
        for (int c = 0; c < K; c++) s += exp(z[c] - m);
        double rs = 0;
        for (int c = 0; c < K; c++) worst = fmax(worst, fabs(P[i * K + c] - exp(z[c] - m) / s)), rs += P[i * K + c];
        sumdev = fmax(sumdev, fabs(rs - 1));
    }
    CHECK(worst < 1e-5, "probabilities differ from the reference by %g", worst);
    CHECK(sumdev < 1e-5, "rows sum to 1 within %g", sumdev);
    fc_head_free(&h);
}

/* ---- nearest class mean ---- */

static void test_ncm(void) {
    enum { N = 90, D = 6, K = 3 };
    static float x[N * D];
    int y[N];
    for (int i = 0; i < N; i++) {
        y[i] = i % K;
        for (int j = 0; j < D; j++) x[i * D + j] = (float)((j == 2 * y[i] ? 5 : 0) + unif() - 0.5) * (float)(1 + i % 4);
    }
    fc_data d = {.name = "train", .x = x, .y = y, .n = N, .d = D};
    fc_head h = {.n_layers = 1, .n_classes = K, .transform = {.kind = FC_TRANSFORM_L2}};
    fc_error err = {0};
    REQUIRE(fc_ncm_fit(&d, K, 16, &h.layers[0], &err) == 0, "%s", err.msg);
    for (int c = 0; c < K; c++) {
        double nrm = 0;
        for (int j = 0; j < D; j++) nrm += (double)h.layers[0].W[c * D + j] * h.layers[0].W[c * D + j];
        CHECK(fabs(sqrt(nrm) - 16) < 1e-4, "class %d weight norm %g, want the scale 16", c, sqrt(nrm));
        CHECK(h.layers[0].b[c] == 0, "bias");
    }
    static float P[N * K];
    REQUIRE(fc_head_predict_proba(&h, x, N, D, P, 1, &err) == 0, "%s", err.msg);
    CHECK(fc_metrics_accuracy(P, y, N, K) == 1.0, "accuracy %g on separable clusters", fc_metrics_accuracy(P, y, N, K));
    /* the scale is a temperature: logits = 16 cos, so a row on its class mean gets e^16 odds per unit of cosine */
    CHECK(P[0] > 0.99f, "confident on its own cluster: %g", P[0]);
    fc_head_free(&h);
    /* errors */
    fc_layer L;
    int one[N];
    for (int i = 0; i < N; i++) one[i] = 2;
    d.y = one;
    CHECK(fc_ncm_fit(&d, K, 0, &L, &err) == FC_EINVAL && strstr(err.msg, "single class"), "%s", err.msg);
    d.y = y;
    for (int i = 0; i < N; i += K)
        for (int j = 0; j < D; j++) x[i * D + j] = 0; /* class 0 rows all zero */
    CHECK(fc_ncm_fit(&d, K, 0, &L, &err) == FC_EINVAL && strstr(err.msg, "class 0"), "zero mean: %s", err.msg);
    CHECK(L.W == NULL, "layer left empty");
}

/* ---- metrics ---- */

static void test_metrics_hand_computed(void) {
    /* Values checked with scikit-learn 1.2: accuracy 0.5, balanced 0.6111, top-2 0.8333 (ties go
     * to the higher index), log-loss 0.88172, macro F1 0.52222. */
    float P[6 * 3] = {.7f, .2f, .1f, .2f, .5f, .3f, .1f, .6f, .3f, .3f, .3f, .4f, .25f, .25f, .5f, .5f, .4f, .1f};
    int y[6] = {0, 0, 1, 1, 2, 1};
    fc_metrics m;
    fc_error err = {0};
    REQUIRE(fc_metrics_compute(&m, P, y, 6, 3, 2, &err) == 0, "%s", err.msg);
    int conf[9] = {1, 1, 0, 1, 1, 1, 0, 0, 1};
    CHECK(!memcmp(m.confusion, conf, sizeof conf), "confusion matrix");
    CHECK(m.accuracy == 0.5, "accuracy %g", m.accuracy);
    CHECK(fabs(m.balanced_accuracy - 0.611111111) < 1e-8, "balanced %g", m.balanced_accuracy);
    CHECK(fabs(m.top_k_accuracy - 5.0 / 6) < 1e-12, "top-2 %g", m.top_k_accuracy);
    double ll = -(log(.7f) + log(.2f) + log(.6f) + log(.3f) + log(.5f) + log(.4f)) / 6;
    CHECK(fabs(m.log_loss - ll) < 1e-12 && fabs(m.log_loss - 0.88172487) < 1e-6, "log-loss %g", m.log_loss);
    CHECK(fabs(m.macro_f1 - 0.522222222) < 1e-8, "macro F1 %g", m.macro_f1);
    double prec[3] = {0.5, 0.5, 0.5}, rec[3] = {0.5, 1.0 / 3, 1}, f1[3] = {0.5, 0.4, 2.0 / 3};
    int sup[3] = {2, 3, 1};
    for (int c = 0; c < 3; c++)
        CHECK(fabs(m.per_class[c].precision - prec[c]) < 1e-12 && fabs(m.per_class[c].recall - rec[c]) < 1e-12 &&
                  fabs(m.per_class[c].f1 - f1[c]) < 1e-12 && m.per_class[c].support == sup[c] &&
                  m.per_class[c].predicted == 2,
              "class %d: p %g r %g f1 %g support %d", c, m.per_class[c].precision, m.per_class[c].recall,
              m.per_class[c].f1, m.per_class[c].support);
    fc_metrics_free(&m);
    /* top-1 on ties follows the higher index, accuracy the first maximum (row 3: p = .3 .3 .4) */
    REQUIRE(fc_metrics_compute(&m, P, y, 6, 3, 1, &err) == 0, "%s", err.msg);
    CHECK(m.top_k_accuracy == 0.5 && m.top_k == 1, "top-1 %g", m.top_k_accuracy);
    fc_metrics_free(&m);
    /* a class absent from y and predictions does not enter the averages; p_y = 0 is clipped */
    float Q[2 * 4] = {1, 0, 0, 0, 0, 1, 0, 0};
    int z[2] = {0, 0};
    REQUIRE(fc_metrics_compute(&m, Q, z, 2, 4, 9, &err) == 0, "%s", err.msg);
    CHECK(m.balanced_accuracy == 0.5 && m.top_k == 4 && m.top_k_accuracy == 1, "balanced %g", m.balanced_accuracy);
    CHECK(fabs(m.macro_f1 - (2.0 / 3 + 0) / 2) < 1e-12, "macro F1 over 2 seen classes: %g", m.macro_f1);
    CHECK(fabs(m.log_loss - (0 - log(1e-15)) / 2) < 1e-9, "clipped log-loss %g", m.log_loss);
    fc_metrics_free(&m);
    /* errors */
    int bad[2] = {0, -1};
    CHECK(fc_metrics_compute(&m, Q, bad, 2, 4, 1, &err) == FC_EINVAL && strstr(err.msg, "row 1 has no label"), "%s",
        err.msg);
    CHECK(fc_metrics_compute(&m, Q, z, 0, 4, 1, &err) == FC_EINVAL && strstr(err.msg, "no items"), "%s", err.msg);
    Q[1] = NAN;
    CHECK(fc_metrics_compute(&m, Q, z, 2, 4, 1, &err) == FC_EINVAL && strstr(err.msg, "row 0, class 1"), "%s", err.msg);
}

/* ---- splits ---- */

static void test_split(void) {
    uint8_t h[32] = {0};
    h[5] = 0x0f, h[6] = 0x42, h[7] = 0x41; /* 1000001 */
    CHECK(fc_split_bucket(h) == 1, "bucket %u", fc_split_bucket(h));
    memset(h, 0xff, 8); /* 2^64 - 1 = 18446744073709551615 */
    CHECK(fc_split_bucket(h) == 551615, "bucket %u", fc_split_bucket(h));
    h[8] = 0x55; /* bytes after the 8th do not matter */
    CHECK(fc_split_bucket(h) == 551615, "only 8 bytes");

    enum { N = 20000 };
    static uint8_t hashes[N * 32], again[N * 32], is_val[N], is_val2[N];
    static int fold[N];
    for (int i = 0; i < N; i++) {
        char name[32];
        int len = snprintf(name, sizeof name, "image-%d.jpg", i);
        fc_sha256_digest(name, (size_t)len, hashes + 32 * i);
    }
    int nv = 0;
    fc_error err = {0};
    REQUIRE(fc_split_holdout(hashes, N, 0.2, is_val, &nv, &err) == 0, "%s", err.msg);
    CHECK(fabs((double)nv / N - 0.2) < 0.012, "val fraction %g for 0.2", (double)nv / N);
    /* same hashes in another order (renamed / re-listed items) -> same decision per item */
    for (int i = 0; i < N; i++) memcpy(again + 32 * i, hashes + 32 * (N - 1 - i), 32);
    REQUIRE(fc_split_holdout(again, N, 0.2, is_val2, NULL, &err) == 0, "%s", err.msg);
    int same = 1;
    for (int i = 0; i < N; i++) same &= is_val2[i] == is_val[N - 1 - i];
    CHECK(same, "the decision depends only on the item's hash");
    /* k-fold: balanced, and hash:0.2 validation = fold 0 of kfold:5 */
    REQUIRE(fc_split_kfold(hashes, N, 5, fold, &err) == 0, "%s", err.msg);
    int count[5] = {0}, agree = 1;
    for (int i = 0; i < N; i++) count[fold[i]]++, agree &= (fold[i] == 0) == is_val[i];
    for (int f = 0; f < 5; f++) CHECK(fabs(count[f] / (double)N - 0.2) < 0.012, "fold %d has %d items", f, count[f]);
    CHECK(agree, "hash:0.2 and fold 0 of kfold:5 differ");
    /* errors */
    CHECK(fc_split_holdout(hashes, 1, 0.2, is_val, NULL, &err) == FC_EINVAL && strstr(err.msg, "empty"), "%s", err.msg);
    CHECK(fc_split_holdout(hashes, N, 1.0, is_val, NULL, &err) == FC_EINVAL, "fraction 1");
    CHECK(fc_split_kfold(hashes, 3, 5, fold, &err) == FC_EINVAL && strstr(err.msg, "fold"), "%s", err.msg);
    fc_split_spec s;
    CHECK(fc_split_parse("hash:0.25", &s, &err) == 0 && s.kind == FC_SPLIT_HASH && s.fraction == 0.25, "hash spec");
    CHECK(fc_split_parse("kfold:5", &s, &err) == 0 && s.kind == FC_SPLIT_KFOLD && s.folds == 5, "kfold spec");
    CHECK(fc_split_parse("folders", &s, &err) == 0 && s.kind == FC_SPLIT_FOLDERS, "folders spec");
    const char *bad[] = {"hash:0", "hash:1.5", "hash:", "hash:0.2x", "kfold:1", "kfold:x", "random"};
    for (int i = 0; i < 7; i++)
        CHECK(fc_split_parse(bad[i], &s, &err) == FC_EINVAL && strstr(err.msg, bad[i]), "'%s' accepted", bad[i]);
}

/* ---- L-BFGS ---- */

static double rosenbrock(void *ctx, const double *x, double *g) {
    int n = *(int *)ctx;
    double f = 0;
    memset(g, 0, (size_t)n * sizeof *g);
    for (int i = 0; i + 1 < n; i++) {
        double a = x[i + 1] - x[i] * x[i], b = 1 - x[i];
        f += 100 * a * a + b * b;
        g[i] += -400 * x[i] * a - 2 * b;
        g[i + 1] += 200 * a;
    }
    return f;
}

static void test_lbfgs_rosenbrock(void) {
    for (int n = 2; n <= 20; n += 18) {
        double x[20];
        for (int i = 0; i < n; i++) x[i] = i % 2 ? 1 : -1.2;
        fc_lbfgs_options o;
        fc_lbfgs_options_init(&o);
        o.gtol = 1e-9, o.ftol = 0, o.max_iter = 2000;
        fc_lbfgs_result r;
        fc_error err = {0};
        REQUIRE(fc_lbfgs_minimize(&o, n, x, rosenbrock, &n, NULL, &r, &err) == 0, "%s", err.msg);
        double dev = 0;
        for (int i = 0; i < n; i++) dev = fmax(dev, fabs(x[i] - 1));
        CHECK(dev < 1e-6 && r.status == FC_LBFGS_GTOL, "n=%d: |x-1| %g, status %d, f %g after %d iterations", n, dev,
              r.status, r.f, r.iterations);
        CHECK(r.evaluations < 3 * r.iterations + 10, "n=%d: %d evaluations for %d iterations", n, r.evaluations,
              r.iterations);
    }
    double x[2] = {0, 0};
    int n = 2;
    fc_lbfgs_options o;
    fc_lbfgs_options_init(&o);
    o.max_iter = 3;
    fc_lbfgs_result r;
    CHECK(fc_lbfgs_minimize(&o, 2, x, rosenbrock, &n, NULL, &r, NULL) == 0 && r.status == FC_LBFGS_MAX_ITER &&
              r.iterations == 3, "max_iter: status %d", r.status);
    o.memory = 0;
    CHECK(fc_lbfgs_minimize(&o, 2, x, rosenbrock, &n, NULL, &r, NULL) == FC_EINVAL, "memory 0");
}

/* f = 0.5 sum_i a_i (x_i - 1)^2 + 0.5 lambda ||x||^2: optimum x_i = a_i / (a_i + lambda). */
typedef struct quad {
    int n;
    double lambda, a[50];
} quad;

static double quadratic(void *ctx, const double *x, double *g) {
    const quad *q = ctx;
    double f = 0;
    for (int i = 0; i < q->n; i++) {
        f += 0.5 * q->a[i] * (x[i] - 1) * (x[i] - 1) + 0.5 * q->lambda * x[i] * x[i];
        g[i] = q->a[i] * (x[i] - 1) + q->lambda * x[i];
    }
    return f;
}

static void test_lbfgs_memory_shift(void) {
    /* memory >= dimension: the pairs describe the whole Hessian, so after the shift the first
     * quasi-Newton step is close to a Newton step */
    quad q = {.n = 6, .lambda = 10};
    for (int i = 0; i < q.n; i++) q.a[i] = exp(6.0 * i / q.n); /* condition number ~ 150 */
    fc_lbfgs_options o;
    fc_lbfgs_options_init(&o);
    o.gtol = 1e-10, o.ftol = 0, o.max_iter = 500, o.memory = 10;
    fc_lbfgs_memory mem;
    fc_error err = {0};
    REQUIRE(fc_lbfgs_memory_init(&mem, q.n, o.memory, &err) == 0, "%s", err.msg);
    double x[50] = {0}, y[50] = {0};
    fc_lbfgs_result r1, r2, cold;
    REQUIRE(fc_lbfgs_minimize(&o, q.n, x, quadratic, &q, &mem, &r1, &err) == 0, "%s", err.msg);
    CHECK(mem.count >= 6, "memory holds %d pairs", mem.count);
    /* change the penalty: the shifted pairs stay exact for the new quadratic */
    fc_lbfgs_memory_shift(&mem, 0.5 - q.lambda, 0, q.n);
    q.lambda = 0.5;
    memcpy(y, x, sizeof x);
    REQUIRE(fc_lbfgs_minimize(&o, q.n, x, quadratic, &q, &mem, &r2, &err) == 0, "%s", err.msg);
    REQUIRE(fc_lbfgs_minimize(&o, q.n, y, quadratic, &q, NULL, &cold, &err) == 0, "%s", err.msg);
    double dev = 0;
    for (int i = 0; i < q.n; i++) dev = fmax(dev, fabs(x[i] - q.a[i] / (q.a[i] + q.lambda)));
    CHECK(dev < 1e-9 && r2.status == FC_LBFGS_GTOL, "solution off by %g (status %d)", dev, r2.status);
    CHECK(r2.iterations < cold.iterations, "with shifted memory %d iterations, without %d", r2.iterations,
        cold.iterations);
    /* a shift that destroys the curvature drops the pairs */
    fc_lbfgs_memory_shift(&mem, -1e6, 0, q.n);
    CHECK(mem.count == 0, "%d pairs survive a negative curvature shift", mem.count);
    fc_lbfgs_memory_free(&mem);
}

/* The second gradient test (gtol2): a start already within gtol2 must still cut its gradient to
 * gtol2_start of where it began; without that requirement it stops where it started. */
static void test_lbfgs_gtol2(void) {
    quad q = {.n = 6, .lambda = 1};
    for (int i = 0; i < q.n; i++) q.a[i] = exp(3.0 * i / q.n);
    double x[50], g[50];
    for (int i = 0; i < q.n; i++) x[i] = q.a[i] / (q.a[i] + q.lambda) + 1e-3 * (i + 1); /* near the optimum */
    quadratic(&q, x, g);
    double gstart = 0;
    for (int i = 0; i < q.n; i++) gstart += g[i] * g[i];
    gstart = sqrt(gstart);
    fc_lbfgs_options o;
    fc_lbfgs_options_init(&o);
    o.gtol = 0, o.ftol = 0, o.max_iter = 500, o.gtol2 = 10 * gstart; /* the start is within gtol2 */
    fc_lbfgs_result r;
    fc_error err = {0};
    double y[50];
    memcpy(y, x, sizeof y);
    REQUIRE(fc_lbfgs_minimize(&o, q.n, y, quadratic, &q, NULL, &r, &err) == 0, "%s", err.msg);
    CHECK(r.status == FC_LBFGS_GTOL && r.iterations >= 1 && r.grad_norm <= gstart / 30,
          "gtol2: status %d after %d iterations, |g| %g from %g", r.status, r.iterations, r.grad_norm, gstart);
    o.gtol2_start = 1; /* no progress asked: the start passes */
    memcpy(y, x, sizeof y);
    REQUIRE(fc_lbfgs_minimize(&o, q.n, y, quadratic, &q, NULL, &r, &err) == 0, "%s", err.msg);
    CHECK(r.status == FC_LBFGS_GTOL && r.iterations == 0, "gtol2_start 1: status %d after %d iterations", r.status,
          r.iterations);
    o.gtol2 = gstart / 1e3; /* both parts needed: below gtol2_start * gstart is not enough */
    o.gtol2_start = 1.0 / 30;
    memcpy(y, x, sizeof y);
    REQUIRE(fc_lbfgs_minimize(&o, q.n, y, quadratic, &q, NULL, &r, &err) == 0, "%s", err.msg);
    CHECK(r.status == FC_LBFGS_GTOL && r.grad_norm <= gstart / 1e3, "gtol2 %g: |g| %g", o.gtol2, r.grad_norm);
    o.gtol2 = -1;
    CHECK(fc_lbfgs_minimize(&o, q.n, y, quadratic, &q, NULL, &r, &err) == FC_EINVAL && strstr(err.msg, "gtol2"),
          "negative gtol2: %s", err.msg);
}

/* ---- dense kernels ---- */

/* Gram matrices against a long double reference, and the portable and AVX2 tables bit for bit. */
static void test_gram(void) {
    const fc_dense_kernels *tables[2] = {fc_dense_kernels_by_name("portable"), fc_dense_kernels_by_name("avx2")};
    REQUIRE(tables[0] && fc_dense_kernels_best(), "portable table missing");
    if (!tables[1]) printf("  (no AVX2 on this CPU: portable table only)\n");
    int shapes[][2] = {{1, 0}, {1, 1}, {2, 3}, {3, 5}, {4, 4}, {5, 7}, {6, 2}, {7, 13}, {9, 1}, {37, 1001}, {64, 256}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int n = shapes[s][0], d = shapes[s][1];
        float *x = malloc((size_t)n * d * sizeof *x + 4);
        double *ref = malloc((size_t)n * n * sizeof *ref), *G[2];
        for (int i = 0; i < n * d; i++) x[i] = (float)(unif() * 8 - 4);
        double scale = 0;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) {
                long double t = 0;
                for (int q = 0; q < d; q++) t += (long double)x[i * d + q] * x[j * d + q];
                ref[i * n + j] = (double)t;
                scale = fmax(scale, fabs(ref[i * n + j]));
            }
        for (int t = 0; t < 2; t++) {
            G[t] = malloc((size_t)n * n * sizeof *G[t]);
            if (!tables[t]) continue;
            fc_error err = {0};
            CHECK(fc_gram_compute(tables[t], x, n, d, G[t], 2, &err) == 0, "%s", err.msg);
            double worst = 0;
            int sym = 1;
            for (int i = 0; i < n * n; i++) worst = fmax(worst, fabs(G[t][i] - ref[i]));
            for (int i = 0; i < n; i++)
                for (int j = 0; j < n; j++) sym &= G[t][i * n + j] == G[t][j * n + i];
            CHECK(worst <= 1e-13 * (scale + 1), "%s %dx%d: max error %g (scale %g)", tables[t]->name, n, d, worst, scale);
            CHECK(sym, "%s %dx%d not symmetric", tables[t]->name, n, d);
        }
        if (tables[1]) CHECK(!memcmp(G[0], G[1], (size_t)n * n * sizeof(double)), "%dx%d: tables differ", n, d);
        free(x), free(ref), free(G[0]), free(G[1]);
    }
}

/* Big enough to be threaded (n^2 d > 2e8): 1 and 2 threads give the same bits. */
static void test_gram_threads(void) {
    int n = 600, d = 600;
    float *x = malloc((size_t)n * d * sizeof *x);
    double *a = malloc((size_t)n * n * sizeof *a), *b = malloc((size_t)n * n * sizeof *b);
    for (int i = 0; i < n * d; i++) x[i] = (float)(unif() - 0.5);
    fc_error err = {0};
    REQUIRE(fc_gram_compute(NULL, x, n, d, a, 1, &err) == 0, "%s", err.msg);
    REQUIRE(fc_gram_compute(NULL, x, n, d, b, 2, &err) == 0, "%s", err.msg);
    CHECK(!memcmp(a, b, (size_t)n * n * sizeof *a), "1 and 2 threads differ");
    free(x), free(a), free(b);
}

static void test_dense_vectors(void) {
    const fc_dense_kernels *p = fc_dense_kernels_by_name("portable"), *a = fc_dense_kernels_by_name("avx2");
    REQUIRE(p, "portable table missing");
    CHECK(fc_dense_kernels_by_name("sse9") == NULL, "unknown table");
    enum { N = 301 };
    static double u[N], v[N], y1[N], y2[N];
    static float f[N], g[N];
    for (int i = 0; i < N; i++)
        u[i] = unif() - 0.5, v[i] = 1e3 * (unif() - 0.5), f[i] = (float)(unif() * 3), g[i] = (float)(unif() - 0.5);
    for (int n = 0; n <= N; n += n < 20 ? 1 : 37) {
        long double ref = 0;
        for (int i = 0; i < n; i++) ref += (long double)u[i] * v[i];
        double dp = p->dot(u, v, n);
        long double ref_ff = 0;
        for (int i = 0; i < n; i++) ref_ff += (long double)f[i] * g[i];
        CHECK(fabs(p->dot_ff(f, g, n) - (double)ref_ff) <= 1e-13 * (1 + fabsl(ref_ff)) * n, "dot_ff n=%d", n);
        CHECK(fabs(dp - (double)ref) <= 1e-12 * (1 + fabsl(ref)) * n, "dot n=%d: %g vs %Lg", n, dp, ref);
        if (!a) continue;
        CHECK(a->dot(u, v, n) == dp, "dot n=%d differs between tables", n);
        CHECK(a->dot_fd(f, v, n) == p->dot_fd(f, v, n), "dot_fd n=%d differs between tables", n);
        CHECK(a->dot_ff(f, g, n) == p->dot_ff(f, g, n), "dot_ff n=%d differs between tables", n);
        memcpy(y1, v, sizeof v), memcpy(y2, v, sizeof v);
        p->axpy(y1, 0.37, u, n), a->axpy(y2, 0.37, u, n);
        CHECK(!memcmp(y1, y2, sizeof y1), "axpy n=%d differs between tables", n);
        p->axpy_fd(y1, -1.3, f, n), a->axpy_fd(y2, -1.3, f, n);
        CHECK(!memcmp(y1, y2, sizeof y1), "axpy_fd n=%d differs between tables", n);
    }
}

/* dots_fd and ger_fd: the AVX2 and AVX-512 tables give the portable bits on awkward shapes (the
 * AVX-512 blocks: 3 rows x 9 class rows, 9 rows of G x 24 columns, and every remainder), and the
 * portable ones are their per-row definitions. */
static void test_dense_blocks(void) {
    const fc_dense_kernels *p = fc_dense_kernels_by_name("portable");
    const fc_dense_kernels *fast[2] = {fc_dense_kernels_by_name("avx2"), fc_dense_kernels_by_name("avx512")};
    enum { M = 20, N = 61, R = 8 };
    static double V[M * N], E[R * M], G1[M * N], G2[M * N], G3[M * N], o1[R * M], o2[R * M];
    static float X[R * N];
    static double Xd[R * N]; /* the double rows of dots_dd and ger_dd */
    /* doubles with full 53-bit mantissas (unif() has fewer bits: its products would be exact, and
     * a fused multiply-add would go unnoticed) */
    for (int i = 0; i < M * N; i++) V[i] = 100 * sin(0.7 * i + 0.3);
    for (int i = 0; i < R * M; i++) E[i] = i % 5 == 0 ? 0 : 0.5 * cos(1.3 * i);
    for (int i = 0; i < R * N; i++) X[i] = (float)(3 * unif() - 1), Xd[i] = 3 * sin(2.1 * i + 1) - 1;
    const int ms[] = {1, 2, 4, 8, 9, 10, 17, 18, M}, ns[] = {0, 1, 7, 8, 9, 16, 23, 24, 25, 47, 48, N};
    for (size_t u = 0; u < sizeof ms / sizeof *ms; u++)
        for (size_t t = 0; t < sizeof ns / sizeof *ns; t++) {
            int m = ms[u], n = ns[t];
            for (int rows = 0; rows <= R; rows++) {
                p->dots_fd(X, rows, V, m, n, o1);
                int bad = 0;
                for (int r = 0; r < rows; r++)
                    for (int j = 0; j < m; j++) bad += o1[r * m + j] != p->dot_fd(X + r * n, V + (size_t)j * n, n);
                CHECK(!bad, "dots_fd m=%d n=%d rows=%d: %d differ from dot_fd", m, n, rows, bad);
                for (int i = 0; i < m * n; i++) G1[i] = G3[i] = V[i];
                p->ger_fd(G1, E, X, rows, m, n);
                for (int i = 0; i < rows; i++)
                    for (int j = 0; j < m; j++) p->axpy_fd(G3 + (size_t)j * n, E[i * m + j], X + (size_t)i * n, n);
                CHECK(!memcmp(G1, G3, (size_t)m * n * sizeof *G1), "ger_fd m=%d n=%d rows=%d", m, n, rows);
                /* the double-row pair: definitions, then the other tables */
                static double D1[R * M], D2[R * M], H1[M * N], H2[M * N], H3[M * N];
                p->dots_dd(Xd, rows, V, m, n, D1);
                bad = 0;
                for (int r = 0; r < rows; r++)
                    for (int j = 0; j < m; j++) bad += D1[r * m + j] != p->dot(Xd + r * n, V + (size_t)j * n, n);
                for (int i = 0; i < m * n; i++) H1[i] = H3[i] = V[i];
                p->ger_dd(H1, E, Xd, rows, m, n);
                for (int i = 0; i < rows; i++)
                    for (int j = 0; j < m; j++) p->axpy(H3 + (size_t)j * n, E[i * m + j], Xd + (size_t)i * n, n);
                CHECK(!bad && !memcmp(H1, H3, (size_t)m * n * sizeof *H1), "dots_dd/ger_dd m=%d n=%d rows=%d", m, n,
                      rows);
                for (int f = 0; f < 2; f++) {
                    if (!fast[f]) continue;
                    for (int i = 0; i < m * n; i++) H2[i] = V[i];
                    fast[f]->ger_dd(H2, E, Xd, rows, m, n);
                    fast[f]->dots_dd(Xd, rows, V, m, n, D2);
                    CHECK(!memcmp(H1, H2, (size_t)m * n * sizeof *H1) && !memcmp(D1, D2, (size_t)rows * m * sizeof *D1),
                          "dots_dd/ger_dd m=%d n=%d rows=%d: %s differs", m, n, rows, fast[f]->name);
                    for (int i = 0; i < m * n; i++) G2[i] = V[i];
                    fast[f]->ger_fd(G2, E, X, rows, m, n);
                    CHECK(!memcmp(G1, G2, (size_t)m * n * sizeof *G1), "ger_fd m=%d n=%d rows=%d: %s differs",
                          m, n, rows, fast[f]->name);
                    fast[f]->dots_fd(X, rows, V, m, n, o2);
                    CHECK(!memcmp(o1, o2, (size_t)rows * m * sizeof *o1), "dots_fd m=%d n=%d rows=%d: %s differs",
                          m, n, rows, fast[f]->name);
                }
            }
        }
    if (!fast[1]) printf("  (no AVX-512 on this CPU: its dense table not compared)\n");
}

/* dots_f32 and ger_f32 (f32 arithmetic): the AVX2 and AVX-512 tables give the portable bits on
 * awkward shapes (AVX-512 blocks of 3 rows x 9 class rows and 9 rows of G x 48 columns, 16-lane
 * vectors, every remainder), the sums are those of the double kernels to f32 accuracy, and
 * ger_f32 over no rows leaves G as it is. Inputs with full mantissas, so that a fused
 * multiply-add or another lane order would show. */
static void test_dense_f32(void) {
    const fc_dense_kernels *p = fc_dense_kernels_by_name("portable");
    const fc_dense_kernels *fast[2] = {fc_dense_kernels_by_name("avx2"), fc_dense_kernels_by_name("avx512")};
    enum { M = 20, N = 113, R = 8 };
    static float X[R * N], Vf[M * N];
    static double V[M * N], E[R * M], G0[M * N], G1[M * N], G2[M * N], Gd[M * N], o1[R * M], o2[R * M], od[R * M];
    for (int i = 0; i < M * N; i++) Vf[i] = (float)(10 * sin(0.7 * i + 0.3)), V[i] = Vf[i], G0[i] = 50 * cos(0.9 * i);
    for (int i = 0; i < R * M; i++) E[i] = i % 5 == 0 ? 0 : 0.5 * cos(1.3 * i);
    for (int i = 0; i < R * N; i++) X[i] = (float)(3 * sin(2.1 * i + 1) - 1);
    const int ms[] = {1, 2, 8, 9, 10, 17, 18, M}, ns[] = {0, 1, 15, 16, 17, 31, 32, 47, 48, 49, 63, 64, 95, 96, 97, N};
    int far = 0, differ = 0, moved = 0;
    for (size_t u = 0; u < sizeof ms / sizeof *ms; u++)
        for (size_t t = 0; t < sizeof ns / sizeof *ns; t++) {
            int m = ms[u], n = ns[t];
            for (int rows = 0; rows <= R; rows++) {
                p->dots_f32(X, rows, Vf, m, n, o1);
                p->dots_fd(X, rows, V, m, n, od);
                for (int r = 0; r < rows; r++)
                    for (int j = 0; j < m; j++) {
                        double mag = 0;
                        for (int q = 0; q < n; q++) mag += fabs((double)X[r * n + q] * V[(size_t)j * n + q]);
                        far += fabs(o1[r * m + j] - od[r * m + j]) > 1e-6 * mag;
                    }
                memcpy(G1, G0, sizeof G1), memcpy(Gd, G0, sizeof Gd);
                p->ger_f32(G1, E, X, rows, m, n);
                p->ger_fd(Gd, E, X, rows, m, n);
                for (int j = 0; j < m; j++)
                    for (int q = 0; q < n; q++) {
                        double mag = fabs(G0[(size_t)j * n + q]);
                        for (int i = 0; i < rows; i++) mag += fabs(E[i * m + j] * X[i * n + q]);
                        far += fabs(G1[(size_t)j * n + q] - Gd[(size_t)j * n + q]) > 1e-6 * mag;
                    }
                if (rows == 0) moved += memcmp(G1, G0, sizeof G1) != 0;
                for (int f = 0; f < 2; f++) {
                    if (!fast[f]) continue;
                    fast[f]->dots_f32(X, rows, Vf, m, n, o2);
                    memcpy(G2, G0, sizeof G2);
                    fast[f]->ger_f32(G2, E, X, rows, m, n);
                    int bad = memcmp(o1, o2, (size_t)rows * m * sizeof *o1) != 0 || memcmp(G1, G2, sizeof G1) != 0;
                    if (bad && differ++ < 5)
                        printf("  dots_f32/ger_f32 m=%d n=%d rows=%d: %s differs from portable\n", m, n, rows, fast[f]->name);
                }
            }
        }
    CHECK(!differ, "%d shapes: a SIMD table's f32 products differ from the portable ones", differ);
    CHECK(!far, "%d sums of the f32 products are farther than 1e-6 relative from the double ones", far);
    CHECK(!moved, "ger_f32 over no rows changed G (%d shapes)", moved);
    if (!fast[1]) printf("  (no AVX-512 on this CPU: its f32 products not compared)\n");
}

/* Top eigenpairs of X^T X for X = (rank-4 signal with scales 8, 4, 2, 1) + small noise: residuals
 * ||C q - lam q|| small against lam, orthonormal rows, the tail below the kept values. */
static void test_spectral(void) {
    enum { N = 300, D = 40, R = 6 };
    static float x[N * D];
    static double basis[4][D], C[D * D];
    for (int a = 0; a < 4; a++)
        for (int q = 0; q < D; q++) basis[a][q] = unif() - 0.5;
    for (int i = 0; i < N; i++) {
        double lat[4];
        for (int a = 0; a < 4; a++) lat[a] = (8 >> a) * (unif() - 0.5);
        for (int q = 0; q < D; q++) {
            double v = 0.01 * (unif() - 0.5);
            for (int a = 0; a < 4; a++) v += lat[a] * basis[a][q];
            x[i * D + q] = (float)v;
        }
    }
    for (int a = 0; a < D; a++)
        for (int b = 0; b < D; b++) {
            double s = 0;
            for (int i = 0; i < N; i++) s += (double)x[i * D + a] * x[i * D + b];
            C[a * D + b] = s;
        }
    fc_spectral sp;
    fc_error err = {0};
    REQUIRE(fc_spectral_fit(&sp, x, N, D, R, 2, &err) == 0, "%s", err.msg);
    for (int i = 0; i < 4; i++) {
        const double *q = sp.Q + (size_t)i * D;
        double res = 0, nrm = 0;
        for (int a = 0; a < D; a++) {
            double cq = 0;
            for (int b = 0; b < D; b++) cq += C[a * D + b] * q[b];
            res += (cq - sp.lam[i] * q[a]) * (cq - sp.lam[i] * q[a]);
            nrm += q[a] * q[a];
        }
        CHECK(sqrt(res) <= 1e-3 * sp.lam[i] && fabs(nrm - 1) < 1e-9, "pair %d: residual %g, lam %g, |q|^2 %g", i,
              sqrt(res), sp.lam[i], nrm);
        if (i > 0) CHECK(sp.lam[i] <= sp.lam[i - 1], "eigenvalues not descending");
    }
    CHECK(sp.tail >= 0 && sp.tail <= sp.lam[R - 1], "tail %g vs last kept %g", sp.tail, sp.lam[R - 1]);
    /* apply inverts (a C' + l2) on each eigenvector exactly, all of them in one call, and every
     * kernel table gives the portable bits */
    static double out[R * D], ref[R * D], work[2 * R * R];
    const char *tables[] = {"portable", "avx2", "avx512"};
    for (int t = 0; t < 3; t++) {
        const fc_dense_kernels *k = fc_dense_kernels_by_name(tables[t]);
        if (!k) continue;
        fc_spectral_apply(&sp, k, 0.5, 2, sp.Q, R, out, work);
        if (t == 0) memcpy(ref, out, sizeof out);
        CHECK(!memcmp(ref, out, sizeof out), "spectral apply: the %s table differs from the portable one", tables[t]);
    }
    for (int i = 0; i < R; i++)
        for (int a = 0; a < D; a++) {
            double want = sp.Q[i * D + a] / (0.5 * sp.lam[i] + 2);
            CHECK(fabs(ref[i * D + a] - want) <= 1e-11 * fabs(want) + 1e-14, "apply on q%d, element %d: %g vs %g", i,
                  a, ref[i * D + a], want);
        }
    fc_spectral_free(&sp);
    CHECK(fc_spectral_fit(&sp, x, N, D, D, 1, &err) == FC_EINVAL && !sp.Q, "r = d accepted");
}

/* The preconditioner hook: on an ill-conditioned quadratic, the exact inverse Hessian as H0 solves
 * it in one step; a rough one (3x off) still in a few. */
typedef struct scaled_quad {
    quad q; /* first: quadratic() reads the context as a quad */
    double scale;
} scaled_quad;

static void quad_precond(void *ctx, const double *v, double *out) {
    const scaled_quad *s = ctx;
    for (int i = 0; i < s->q.n; i++) out[i] = v[i] / (s->scale * (s->q.a[i] + s->q.lambda));
}

static void test_lbfgs_preconditioned(void) {
    scaled_quad s = {.q = {.n = 50, .lambda = 1e-2}};
    for (int i = 0; i < s.q.n; i++) s.q.a[i] = pow(10, 4.0 * i / (s.q.n - 1)) * (1 + 0.1 * unif());
    for (int rough = 0; rough <= 1; rough++) {
        double x[50] = {0};
        s.scale = rough ? 3 : 1;
        fc_lbfgs_options o;
        fc_lbfgs_options_init(&o);
        o.gtol = 1e-10, o.ftol = 0, o.max_iter = 500;
        o.precond = quad_precond;
        fc_lbfgs_result r;
        fc_error err = {0};
        REQUIRE(fc_lbfgs_minimize(&o, s.q.n, x, quadratic, &s, NULL, &r, &err) == 0, "%s", err.msg);
        double dev = 0;
        for (int i = 0; i < s.q.n; i++) dev = fmax(dev, fabs(x[i] - s.q.a[i] / (s.q.a[i] + s.q.lambda)));
        CHECK(r.status == FC_LBFGS_GTOL && dev < 1e-9, "rough=%d: status %d, deviation %g", rough, r.status, dev);
        CHECK(r.iterations <= (rough ? 4 : 1), "rough=%d: %d iterations", rough, r.iterations);
    }
}

/* ---- input validation ---- */

static void test_data_check(void) {
    float x[3 * 2] = {1, 2, 3, 4, 5, 6}, w[3] = {1, 1, 1};
    int y[3] = {0, 1, 0};
    fc_data s = {.name = "val", .x = x, .y = y, .weight = w, .n = 3, .d = 2};
    fc_error err = {0};
    CHECK(fc_data_check(&s, 2, 2, FC_DATA_ALL_CLASSES, &err) == 0, "%s", err.msg);
    CHECK(fc_data_check(&s, 3, 2, 0, &err) == FC_ESHAPE && strstr(err.msg, "val: features have 2 dims, expected 3"),
          "%s", err.msg);
    CHECK(fc_data_check(&s, 2, 1, FC_DATA_LABELED, &err) == FC_EINVAL && strstr(err.msg, "1 class"), "%s", err.msg);
    y[1] = 5;
    CHECK(fc_data_check(&s, 2, 2, FC_DATA_LABELED, &err) == FC_EINVAL && strstr(err.msg, "val row 1: label 5"), "%s",
          err.msg);
    CHECK(fc_data_check(&s, 2, 2, 0, &err) == 0, "labels are not checked unless required");
    y[1] = 1;
    w[1] = -1;
    CHECK(fc_data_check(&s, 2, 2, 0, &err) == FC_EINVAL && strstr(err.msg, "row 1: sample weight"), "%s", err.msg);
    w[1] = 0;
    CHECK(fc_data_check(&s, 2, 2, FC_DATA_ALL_CLASSES, &err) == FC_EINVAL && strstr(err.msg, "single class (0)"),
          "a class with zero weight counts as absent: %s", err.msg);
    static const char *const names[2] = {"ants", "bees"};
    s.classes = names;
    CHECK(fc_data_check(&s, 2, 2, FC_DATA_ALL_CLASSES, &err) == FC_EINVAL && strstr(err.msg, "single class ('ants')"),
          "classes by name: %s", err.msg);
    s.classes = NULL;
    w[0] = w[2] = 0;
    CHECK(fc_data_check(&s, 2, 2, 0, &err) == FC_EINVAL && strstr(err.msg, "all sample weights are zero"), "%s",
        err.msg);
    s.name = NULL, s.weight = NULL, s.y = NULL;
    CHECK(fc_data_check(&s, 2, 2, FC_DATA_LABELED, &err) == FC_EINVAL && strstr(err.msg, "data: no labels"), "%s",
        err.msg);
}

int main(void) {
    RUN(test_transform_standardize);
    RUN(test_transform_l2_and_none);
    RUN(test_head_predict);
    RUN(test_layer_forward_bits);
    RUN(test_head_reference);
    RUN(test_ncm);
    RUN(test_metrics_hand_computed);
    RUN(test_split);
    RUN(test_lbfgs_rosenbrock);
    RUN(test_lbfgs_memory_shift);
    RUN(test_lbfgs_gtol2);
    RUN(test_gram);
    RUN(test_gram_threads);
    RUN(test_dense_vectors);
    RUN(test_dense_blocks);
    RUN(test_dense_f32);
    RUN(test_spectral);
    RUN(test_lbfgs_preconditioned);
    RUN(test_data_check);
    return check_done();
}
