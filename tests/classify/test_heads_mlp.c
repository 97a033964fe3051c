/* Tests for classify/mlp.c: finite-difference gradient check of every layer's W and b (1 and 2
 * hidden layers, with sample and class weights) against an independent double-precision forward
 * written here; bit-identical weights for a fixed seed (and for 1 vs 2 threads), different weights
 * for another seed; learning an XOR-like problem that a linear head cannot; early stopping keeps
 * the best epoch's weights; bad input. Not a speed test. */
#include "classify/mlp.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "classify/metrics.h"
#include "classify/softmax.h"
#include "tests/support/check.h"

static unsigned lcg = 12345;
static double unif(void) { /* [0, 1) */
    lcg = lcg * 1664525u + 1013904223u;
    return (lcg >> 8) / 16777216.0;
}
static double gauss(void) {
    double u = unif() + 1e-12, v = unif();
    return sqrt(-2 * log(u)) * cos(6.283185307179586 * v);
}

/* Reference loss in double: (1/n) sum_i s_i CE_i for params P[l] = (W (out, in), b (out)). */
typedef struct ref_net {
    int nl, dims[4];
    double *W[3], *b[3];
} ref_net;

static double ref_loss(const ref_net *R, const float *x, const int *y, const float *w, const float *cw, int n,
                       double *min_abs_pre) {
    double total = 0, a[64], t[64];
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < R->dims[0]; j++) a[j] = x[i * R->dims[0] + j];
        for (int l = 0; l < R->nl; l++) {
            int I = R->dims[l], O = R->dims[l + 1];
            for (int o = 0; o < O; o++) {
                double s = R->b[l][o];
                for (int q = 0; q < I; q++) s += R->W[l][o * I + q] * a[q];
                t[o] = s;
                if (l < R->nl - 1 && min_abs_pre && fabs(s) < *min_abs_pre) *min_abs_pre = fabs(s);
            }
            for (int o = 0; o < O; o++) a[o] = l < R->nl - 1 ? (t[o] > 0 ? t[o] : 0) : t[o];
        }
        int K = R->dims[R->nl];
        double m = a[0], s = 0;
        for (int c = 1; c < K; c++) m = a[c] > m ? a[c] : m;
        for (int c = 0; c < K; c++) s += exp(a[c] - m);
        total += (w ? w[i] : 1) * (cw ? cw[y[i]] : 1) * (m + log(s) - a[y[i]]);
    }
    return total / n;
}

static void gradient_check(int n_hidden) {
    enum { N = 9, D = 5, K = 3 };
    int dims[4] = {D, 7, n_hidden == 2 ? 6 : K, K};
    int nl = n_hidden + 1;
    float x[N * D], w[N], cw[K] = {1.0f, 2.0f, 0.5f};
    int y[N];
    lcg = 99;
    for (int i = 0; i < N; i++) {
        y[i] = i % K;
        w[i] = 0.5f + (float)unif();
        for (int j = 0; j < D; j++) x[i * D + j] = (float)gauss();
    }
    fc_layer L[3] = {{0}}, G[3] = {{0}};
    ref_net R = {.nl = nl};
    for (int l = 0; l < nl; l++) {
        int I = dims[l], O = dims[l + 1];
        R.dims[l] = I, R.dims[l + 1] = O;
        fc_layer_alloc(&L[l], I, O, l < nl - 1 ? FC_ACTIVATION_RELU : FC_ACTIVATION_NONE, NULL);
        fc_layer_alloc(&G[l], I, O, L[l].act, NULL);
        R.W[l] = malloc((size_t)I * O * sizeof(double));
        R.b[l] = malloc((size_t)O * sizeof(double));
        for (int q = 0; q < I * O; q++) R.W[l][q] = L[l].W[q] = (float)(gauss() / sqrt(I));
        for (int o = 0; o < O; o++) R.b[l][o] = L[l].b[o] = (float)(0.3 * gauss());
    }
    /* Finite differences across a ReLU kink are meaningless: the data must keep every hidden
     * pre-activation away from 0 by more than a step can move it. */
    double margin = INFINITY;
    double f0 = ref_loss(&R, x, y, w, cw, N, &margin);
    REQUIRE(margin > 1e-3, "hidden pre-activation %g too close to the kink for this seed", margin);
    fc_data data = {.name = "train", .x = x, .y = y, .weight = w, .n = N, .d = D};
    double loss;
    fc_error err = {0};
    REQUIRE(fc_mlp_loss_grad(L, nl, &data, K, cw, &loss, G, 0, &err) == 0, "%s", err.msg);
    CHECK(fabs(loss - f0) <= 1e-5 * fabs(f0), "loss %.9g vs reference %.9g", loss, f0);
    double h = 1e-5;
    for (int l = 0; l < nl; l++) {
        int I = dims[l], O = dims[l + 1];
        double worst_w = 0, worst_b = 0;
        for (int q = 0; q < I * O + O; q++) {
            double *p = q < I * O ? &R.W[l][q] : &R.b[l][q - I * O], keep = *p;
            *p = keep + h;
            double up = ref_loss(&R, x, y, w, cw, N, NULL);
            *p = keep - h;
            double down = ref_loss(&R, x, y, w, cw, N, NULL);
            *p = keep;
            double num = (up - down) / (2 * h), ana = q < I * O ? G[l].W[q] : G[l].b[q - I * O];
            double rel = fabs(num - ana) / fmax(fabs(num), 1e-3);
            if (q < I * O) worst_w = fmax(worst_w, rel);
            else worst_b = fmax(worst_b, rel);
        }
        CHECK(worst_w <= 1e-3, "%d hidden, layer %d: dW worst relative error %g", n_hidden, l, worst_w);
        CHECK(worst_b <= 1e-3, "%d hidden, layer %d: db worst relative error %g", n_hidden, l, worst_b);
    }
    for (int l = 0; l < nl; l++) fc_layer_free(&L[l]), fc_layer_free(&G[l]), free(R.W[l]), free(R.b[l]);
}

static void test_gradient_check_1_hidden(void) { gradient_check(1); }
static void test_gradient_check_2_hidden(void) { gradient_check(2); }

/* XOR of the signs of two coordinates, plus 2 noise dims. */
static void make_xor(int n, float *x, int *y, unsigned seed) {
    lcg = seed;
    for (int i = 0; i < n; i++) {
        int a = unif() < 0.5, b = unif() < 0.5;
        x[i * 4 + 0] = (float)((a ? 1 : -1) + 0.3 * gauss());
        x[i * 4 + 1] = (float)((b ? 1 : -1) + 0.3 * gauss());
        x[i * 4 + 2] = (float)gauss();
        x[i * 4 + 3] = (float)gauss();
        y[i] = a ^ b;
    }
}

static double accuracy_of(const fc_layer *L, int nl, const float *x, const int *y, int n, int d) {
    fc_head h = {.n_layers = nl, .n_classes = L[nl - 1].out};
    for (int l = 0; l < nl; l++) h.layers[l] = L[l]; /* borrowed: not freed */
    float *P = malloc((size_t)n * h.n_classes * sizeof *P);
    fc_error err = {0};
    double acc = fc_head_predict_proba(&h, x, n, d, P, 0, &err) ? -1 : fc_metrics_accuracy(P, y, n, h.n_classes);
    free(P);
    return acc;
}

static void test_learns_xor(void) {
    enum { NT = 400, NV = 200 };
    static float xt[NT * 4], xv[NV * 4];
    static int yt[NT], yv[NV];
    make_xor(NT, xt, yt, 1);
    make_xor(NV, xv, yv, 2);
    fc_data tr = {.name = "train", .x = xt, .y = yt, .n = NT, .d = 4}, va = {.name = "val", .x = xv, .y = yv,
        .n = NV, .d = 4};
    fc_mlp_options o;
    fc_mlp_options_init(&o);
    o.hidden[0] = 32;
    o.lr = 1e-2f;
    o.epochs = 300;
    o.patience = 30;
    o.seed = 3;
    fc_layer L[2] = {{0}};
    fc_mlp_info info;
    fc_error err = {0};
    REQUIRE(fc_mlp_fit(&o, &tr, &va, 2, L, &info, &err) == 0, "%s", err.msg);
    double acc = accuracy_of(L, 2, xv, yv, NV, 4);
    CHECK(acc >= 0.95, "MLP val accuracy %.3f on XOR (best epoch %d of %d)", acc, info.best_epoch, info.epochs);
    CHECK(fabs(acc - info.val_accuracy) < 1e-9, "reported val accuracy %.4f, measured %.4f", info.val_accuracy, acc);
    CHECK(L[0].act == FC_ACTIVATION_RELU && L[1].act == FC_ACTIVATION_NONE && L[0].out == 32 && L[1].in == 32 &&
              L[1].out == 2, "layer layout");
    /* a linear head cannot do it: the test data really needs the hidden layer */
    fc_softmax_options so;
    fc_softmax_options_init(&so);
    fc_layer S = {0};
    REQUIRE(fc_softmax_fit(&so, &tr, 2, &S, NULL, &err) == 0, "%s", err.msg);
    double lin = accuracy_of(&S, 1, xv, yv, NV, 4);
    CHECK(lin < 0.75, "linear head reaches %.3f on XOR", lin);
    fc_layer_free(&S);
    fc_layer_free(&L[0]), fc_layer_free(&L[1]);

    /* 2 hidden layers + dropout also learn it */
    o.n_hidden = 2, o.hidden[0] = 32, o.hidden[1] = 16, o.dropout = 0.1f;
    fc_layer M[3] = {{0}};
    REQUIRE(fc_mlp_fit(&o, &tr, &va, 2, M, &info, &err) == 0, "%s", err.msg);
    acc = accuracy_of(M, 3, xv, yv, NV, 4);
    CHECK(acc >= 0.95, "2-hidden MLP val accuracy %.3f", acc);
    CHECK(M[1].in == 32 && M[1].out == 16 && M[2].in == 16 && M[1].act == FC_ACTIVATION_RELU, "2-hidden layout");
    for (int l = 0; l < 3; l++) fc_layer_free(&M[l]);
}

static int same_layers(const fc_layer *a, const fc_layer *b, int nl) {
    for (int l = 0; l < nl; l++)
        if (memcmp(a[l].W, b[l].W, (size_t)a[l].in * a[l].out * sizeof(float)) ||
            memcmp(a[l].b, b[l].b, (size_t)a[l].out * sizeof(float)))
            return 0;
    return 1;
}

static void test_seed_reproducible(void) {
    enum { NT = 300, NV = 100, D = 64 };
    static float xt[NT * D], xv[NV * D];
    static int yt[NT], yv[NV];
    lcg = 5;
    for (int i = 0; i < NT * D; i++) xt[i] = (float)gauss();
    for (int i = 0; i < NV * D; i++) xv[i] = (float)gauss();
    for (int i = 0; i < NT; i++) yt[i] = (xt[i * D] + xt[i * D + 1] > 0) + (xt[i * D + 2] > 1);
    for (int i = 0; i < NV; i++) yv[i] = (xv[i * D] + xv[i * D + 1] > 0) + (xv[i * D + 2] > 1);
    fc_data tr = {.name = "train", .x = xt, .y = yt, .n = NT, .d = D}, va = {.name = "val", .x = xv, .y = yv,
        .n = NV, .d = D};
    fc_mlp_options o;
    fc_mlp_options_init(&o);
    o.n_hidden = 2, o.hidden[0] = 96, o.hidden[1] = 48, o.dropout = 0.2f, o.epochs = 15, o.seed = 42, o.threads = 1;
    fc_layer a[3] = {{0}}, b[3] = {{0}}, c[3] = {{0}};
    fc_mlp_info ia, ib;
    fc_error err = {0};
    REQUIRE(fc_mlp_fit(&o, &tr, &va, 3, a, &ia, &err) == 0, "%s", err.msg);
    REQUIRE(fc_mlp_fit(&o, &tr, &va, 3, b, &ib, &err) == 0, "%s", err.msg);
    CHECK(same_layers(a, b, 3), "same seed, different weights");
    CHECK(ia.best_epoch == ib.best_epoch && ia.val_loss == ib.val_loss, "same seed, different history");
    o.seed = 43;
    REQUIRE(fc_mlp_fit(&o, &tr, &va, 3, c, NULL, &err) == 0, "%s", err.msg);
    CHECK(!same_layers(a, c, 3), "another seed gives the same weights");
    for (int l = 0; l < 3; l++) fc_layer_free(&a[l]), fc_layer_free(&b[l]), fc_layer_free(&c[l]);
}

/* Products big enough to be threaded (>= 2^26 multiply-adds: batch 256 x 512 x 512): 1 and 2
 * threads give the same weights. */
static void test_threads_do_not_change_results(void) {
    enum { NT = 512, D = 512 };
    float *xt = malloc((size_t)NT * D * sizeof *xt);
    int yt[NT];
    lcg = 8;
    for (int i = 0; i < NT * D; i++) xt[i] = (float)gauss();
    for (int i = 0; i < NT; i++) yt[i] = xt[i * D] > 0;
    fc_data tr = {.name = "train", .x = xt, .y = yt, .n = NT, .d = D};
    fc_mlp_options o;
    fc_mlp_options_init(&o);
    o.hidden[0] = 512, o.batch = 256, o.epochs = 2, o.dropout = 0.1f, o.seed = 5, o.threads = 1;
    fc_layer a[2] = {{0}}, b[2] = {{0}};
    fc_error err = {0};
    REQUIRE(fc_mlp_fit(&o, &tr, NULL, 2, a, NULL, &err) == 0, "%s", err.msg);
    o.threads = 2;
    REQUIRE(fc_mlp_fit(&o, &tr, NULL, 2, b, NULL, &err) == 0, "%s", err.msg);
    CHECK(same_layers(a, b, 2), "1 and 2 threads give different weights");
    for (int l = 0; l < 2; l++) fc_layer_free(&a[l]), fc_layer_free(&b[l]);
    free(xt);
}

/* The returned weights are those of the best validation epoch, and patience stops early. */
static void test_early_stopping_keeps_best(void) {
    enum { NT = 60, NV = 200 };
    static float xt[NT * 4], xv[NV * 4];
    static int yt[NT], yv[NV];
    make_xor(NT, xt, yt, 11);
    make_xor(NV, xv, yv, 12);
    for (int i = 0; i < NT; i += 4) yt[i] ^= 1; /* label noise: the net overfits, val loss turns up */
    fc_data tr = {.name = "train", .x = xt, .y = yt, .n = NT, .d = 4}, va = {.name = "val", .x = xv, .y = yv,
        .n = NV, .d = 4};
    fc_mlp_options o;
    fc_mlp_options_init(&o);
    o.hidden[0] = 128, o.lr = 1e-2f, o.epochs = 500, o.patience = 15, o.weight_decay = 0, o.seed = 1;
    fc_layer L[2] = {{0}}, G[2] = {{0}};
    fc_mlp_info info;
    fc_error err = {0};
    REQUIRE(fc_mlp_fit(&o, &tr, &va, 2, L, &info, &err) == 0, "%s", err.msg);
    CHECK(info.epochs < o.epochs, "no early stop in %d epochs", info.epochs);
    CHECK(info.epochs == info.best_epoch + o.patience, "stopped at %d, best %d, patience %d", info.epochs,
          info.best_epoch, o.patience);
    fc_layer_alloc(&G[0], L[0].in, L[0].out, FC_ACTIVATION_RELU, NULL);
    fc_layer_alloc(&G[1], L[1].in, L[1].out, FC_ACTIVATION_NONE, NULL);
    double vl;
    REQUIRE(fc_mlp_loss_grad(L, 2, &va, 2, NULL, &vl, G, 0, &err) == 0, "%s", err.msg);
    CHECK(fabs(vl - info.val_loss) <= 1e-6 * info.val_loss, "val loss of the returned weights %.9g, best epoch's %.9g",
          vl, info.val_loss);
    /* without validation every epoch runs and the last weights are kept */
    fc_layer M[2] = {{0}};
    o.epochs = 7;
    REQUIRE(fc_mlp_fit(&o, &tr, NULL, 2, M, &info, &err) == 0, "%s", err.msg);
    CHECK(info.epochs == 7 && info.best_epoch == 7 && isnan(info.val_loss), "no-val run: %d epochs, best %d",
          info.epochs, info.best_epoch);
    for (int l = 0; l < 2; l++) fc_layer_free(&L[l]), fc_layer_free(&G[l]), fc_layer_free(&M[l]);
}

static void test_bad_input(void) {
    float x[8] = {0, 1, 1, 0, 1, 1, 0, 0};
    int y[4] = {0, 1, 1, 0};
    fc_data tr = {.name = "train", .x = x, .y = y, .n = 4, .d = 2};
    fc_mlp_options o;
    fc_mlp_options_init(&o);
    o.hidden[0] = 4, o.epochs = 2;
    fc_layer L[3] = {{0}};
    fc_error err = {0};
    o.dropout = 1;
    CHECK(fc_mlp_fit(&o, &tr, NULL, 2, L, NULL, &err) == FC_EINVAL && strstr(err.msg, "dropout"), "dropout 1: %s",
        err.msg);
    o.dropout = 0, o.n_hidden = 3;
    CHECK(fc_mlp_fit(&o, &tr, NULL, 2, L, NULL, &err) == FC_EINVAL && strstr(err.msg, "hidden"), "3 hidden: %s",
        err.msg);
    o.n_hidden = 1, o.hidden[0] = 0;
    CHECK(fc_mlp_fit(&o, &tr, NULL, 2, L, NULL, &err) == FC_EINVAL, "0 units");
    o.hidden[0] = 4, o.lr = 0;
    CHECK(fc_mlp_fit(&o, &tr, NULL, 2, L, NULL, &err) == FC_EINVAL, "lr 0");
    o.lr = 1e-3f;
    float xv[3] = {1, 2, 3};
    int yv[1] = {0};
    fc_data va = {.name = "val", .x = xv, .y = yv, .n = 1, .d = 3};
    CHECK(fc_mlp_fit(&o, &tr, &va, 2, L, NULL, &err) == FC_ESHAPE && strstr(err.msg, "val"), "val D: %s", err.msg);
    int ym[1] = {-1};
    va.d = 2, va.y = ym;
    CHECK(fc_mlp_fit(&o, &tr, &va, 2, L, NULL, &err) == FC_EINVAL && strstr(err.msg, "val row 0: missing label"),
          "val label: %s", err.msg);
    va.n = 0;
    CHECK(fc_mlp_fit(&o, &tr, &va, 2, L, NULL, &err) == FC_EINVAL && strstr(err.msg, "val split is empty"), "%s",
        err.msg);
    int single[4] = {1, 1, 1, 1};
    tr.y = single;
    CHECK(fc_mlp_fit(&o, &tr, NULL, 2, L, NULL, &err) == FC_EINVAL && strstr(err.msg, "single class"), "%s", err.msg);
    tr.y = y;
    x[3] = NAN;
    CHECK(fc_mlp_fit(&o, &tr, NULL, 2, L, NULL, &err) == FC_EINVAL && strstr(err.msg, "train row 1, dim 1"), "%s",
        err.msg);
    CHECK(!L[0].W && !L[1].W, "failed fits leave the layers empty");
}

int main(void) {
    RUN(test_gradient_check_1_hidden);
    RUN(test_gradient_check_2_hidden);
    RUN(test_learns_xor);
    RUN(test_seed_reproducible);
    RUN(test_threads_do_not_change_results);
    RUN(test_early_stopping_keeps_best);
    RUN(test_bad_input);
    return check_done();
}
