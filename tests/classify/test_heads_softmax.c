/* Tests for classify/softmax.c: the fitted objective, coefficients, probabilities and accuracy
 * against scikit-learn's LogisticRegression on the saved fixtures (tests/fixtures/heads, made by
 * scripts/make_head_fixtures.py), in both coordinate systems (full and row-space reduced, incl. a
 * rank-deficient Gram), with sample and class weights, along a warm-started L2 path and from a
 * warm start; a finite-difference check of the objective's gradient; bitwise independence of the
 * thread count and of the dense kernel table; bad input. Not a speed test (bench/bench_heads.c). */
#include "classify/softmax.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "classify/metrics.h"
#include "tests/support/check.h"
#include "tests/support/npy.h"

#define FIXTURES "tests/fixtures/heads"

/* One fixture set: X (n, d), y, optional sample/class weights, C values. */
typedef struct fixture {
    npy_array X, y, C, sw, cw;
    int *labels;
    int n, d, k, has_sw, has_cw;
} fixture;

static int load(const char *name, const char *part, npy_array *a) {
    char path[256], msg[256];
    snprintf(path, sizeof path, FIXTURES "/%s_%s.npy", name, part);
    if (npy_read(path, a, msg)) {
        memset(a, 0, sizeof *a);
        return -1;
    }
    return 0;
}

static int fixture_load(const char *name, fixture *f) {
    memset(f, 0, sizeof *f);
    if (load(name, "X", &f->X) || load(name, "y", &f->y) || load(name, "C", &f->C)) return -1;
    f->has_sw = load(name, "sw", &f->sw) == 0;
    f->has_cw = load(name, "cw", &f->cw) == 0;
    f->n = (int)f->X.dims[0], f->d = (int)f->X.dims[1];
    f->labels = malloc((size_t)f->n * sizeof *f->labels);
    for (int i = 0; i < f->n; i++) {
        f->labels[i] = (int)f->y.data[i];
        if (f->labels[i] + 1 > f->k) f->k = f->labels[i] + 1;
    }
    return 0;
}

static void fixture_free(fixture *f) {
    npy_free(&f->X), npy_free(&f->y), npy_free(&f->C), npy_free(&f->sw), npy_free(&f->cw);
    free(f->labels);
}

static fc_data fixture_data(const fixture *f) {
    return (fc_data){.name = "train", .x = f->X.data, .y = f->labels, .weight = f->has_sw ? f->sw.data : NULL,
                     .n = f->n, .d = f->d};
}

static void tight(fc_softmax_options *o) {
    fc_softmax_options_init(o);
    o->gtol = 1e-8;
    o->ftol = 0;
    o->max_iter = 20000;
}

/* Compares a fitted layer with sklearn's solution j of set name; prints and checks. */
static void compare(const char *name, const fixture *f, int j, const fc_layer *L, const char *how) {
    npy_array coef, icpt, proba, obj;
    char part[64];
    snprintf(part, sizeof part, "%d_coef", j);
    int ok = !load(name, part, &coef);
    snprintf(part, sizeof part, "%d_intercept", j);
    ok = ok && !load(name, part, &icpt);
    snprintf(part, sizeof part, "%d_proba", j);
    ok = ok && !load(name, part, &proba);
    snprintf(part, sizeof part, "%d_objective", j);
    ok = ok && !load(name, part, &obj);
    CHECK(ok, "%s: fixture %d missing", name, j);
    if (!ok) return;
    double l2 = 1.0 / f->C.data[j];
    fc_data data = fixture_data(f);
    double fv = 0;
    fc_error err = {0};
    CHECK(fc_softmax_objective(&data, f->k, f->has_cw ? f->cw.data : NULL, l2, L, &fv, NULL, NULL, &err) == 0, "%s",
          err.msg);
    double ref = obj.data[0], rel = fabs(fv - ref) / fabs(ref);
    CHECK(rel <= 1e-4, "%s C=%g (%s): objective %.9g vs sklearn %.9g (rel %.2g)", name, f->C.data[j], how, fv, ref,
        rel);
    CHECK(fv <= ref * (1 + 1e-6), "%s C=%g (%s): objective %.9g above sklearn's optimum %.9g", name, f->C.data[j], how,
          fv, ref);
    /* W is unique; b only up to a common shift */
    double wmax = npy_max_abs(coef.data, coef.count), wdiff = npy_max_abs_diff(L->W, coef.data, coef.count);
    CHECK(wdiff <= 2e-3 * wmax + 1e-5, "%s C=%g (%s): coefficients differ by %g (max %g)", name, f->C.data[j], how,
          wdiff, wmax);
    double mb = 0, mr = 0, bd = 0;
    for (int c = 0; c < f->k; c++) mb += L->b[c] / f->k, mr += icpt.data[c] / f->k;
    for (int c = 0; c < f->k; c++) bd = fmax(bd, fabs((L->b[c] - mb) - (icpt.data[c] - mr)));
    CHECK(bd <= 2e-3 * fmax(1, npy_max_abs(icpt.data, icpt.count)), "%s C=%g (%s): intercepts differ by %g", name,
          f->C.data[j], how, bd);
    float *P = malloc((size_t)f->n * f->k * sizeof *P);
    CHECK(fc_softmax_predict_proba(L, f->X.data, f->n, f->d, P, 0, &err) == 0, "%s", err.msg);
    double pd = npy_max_abs_diff(P, proba.data, proba.count);
    CHECK(pd <= 1e-3, "%s C=%g (%s): probabilities differ by %g", name, f->C.data[j], how, pd);
    double acc = fc_metrics_accuracy(P, f->labels, f->n, f->k), ref_acc = fc_metrics_accuracy(proba.data, f->labels,
        f->n, f->k);
    CHECK(fabs(acc - ref_acc) <= 1.0 / f->n + 1e-12, "%s C=%g (%s): accuracy %.4f vs sklearn %.4f", name, f->C.data[j],
          how, acc, ref_acc);
    free(P);
    npy_free(&coef), npy_free(&icpt), npy_free(&proba), npy_free(&obj);
}

static void test_matches_sklearn(void) {
    const char *sets[] = {"small", "wide", "binary", "weighted"};
    for (int s = 0; s < 4; s++) {
        fixture f;
        REQUIRE(fixture_load(sets[s], &f) == 0, "cannot read fixture %s (run scripts/make_head_fixtures.py)", sets[s]);
        fc_data data = fixture_data(&f);
        /* reduce 2: full coordinates with the spectral preconditioner (the same optimum); 3: full
         * coordinates, each fit started in f32 arithmetic and finished in double */
        for (int reduce = 0; reduce <= 3; reduce++)
            for (int j = 0; j < (int)f.C.count; j++) {
                fc_softmax_options o;
                tight(&o);
                o.l2 = 1.0 / f.C.data[j];
                o.reduce = reduce == 1;
                o.precondition = reduce == 2;
                o.f32_phase = reduce == 3;
                o.class_weight = f.has_cw ? f.cw.data : NULL;
                fc_layer L = {0};
                fc_softmax_info info;
                fc_error err = {0};
                int rc = fc_softmax_fit(&o, &data, f.k, &L, &info, &err);
                CHECK(rc == 0, "%s: %s", sets[s], err.msg);
                if (rc) continue;
                /* gtol 1e-8 is below what a summed objective of this size resolves: the fit ends at the
                 * precision limit (status LINE_SEARCH) with a gradient of ~1e-7 */
                CHECK(info.grad_norm <= 1e-5 && info.status != FC_LBFGS_MAX_ITER,
                      "%s C=%g reduce=%d: status %d after %d iterations (|g| %g)", sets[s], f.C.data[j], reduce,
                      info.status, info.iterations, info.grad_norm);
                /* reduced coordinates: rank <= min(n, d) (20 for "small": its Gram is rank deficient) */
                int expect_rank = reduce == 1 ? (f.n < f.d ? f.n : f.d) : f.d;
                CHECK(info.rank == expect_rank, "%s reduce=%d: rank %d, expected %d", sets[s], reduce, info.rank,
                      expect_rank);
                compare(sets[s], &f, j, &L, reduce == 1 ? "reduced" : reduce == 2 ? "preconditioned" : reduce ? "f32 start" : "full");
                fc_layer_free(&L);
            }
        fixture_free(&f);
    }
}

/* The reduced fit's optimum is also stationary in the original coordinates. */
static void test_reduced_solution_is_stationary(void) {
    fixture f;
    REQUIRE(fixture_load("wide", &f) == 0, "fixture");
    fc_data data = fixture_data(&f);
    fc_softmax_options o;
    tight(&o);
    o.l2 = 1.0 / f.C.data[0];
    o.reduce = 1;
    fc_layer L = {0};
    fc_error err = {0};
    REQUIRE(fc_softmax_fit(&o, &data, f.k, &L, NULL, &err) == 0, "%s", err.msg);
    double *gW = malloc((size_t)f.k * f.d * sizeof *gW), gb[8], fv, g2 = 0, scale = 0;
    REQUIRE(fc_softmax_objective(&data, f.k, NULL, o.l2, &L, &fv, gW, gb, &err) == 0, "%s", err.msg);
    for (int q = 0; q < f.k * f.d; q++) g2 += gW[q] * gW[q], scale += fabs(o.l2 * L.W[q]);
    for (int c = 0; c < f.k; c++) g2 += gb[c] * gb[c];
    /* float32 storage of W limits how small the gradient can get */
    CHECK(sqrt(g2) <= 1e-5 * scale + 1e-6, "gradient norm %g in the original space (scale %g)", sqrt(g2), scale);
    free(gW);
    fc_layer_free(&L);
    fixture_free(&f);
}

static void test_path_warm_start(void) {
    fixture f;
    REQUIRE(fixture_load("small", &f) == 0, "fixture");
    fc_data data = fixture_data(&f);
    int m = (int)f.C.count;
    double l2[8];
    for (int j = 0; j < m; j++) l2[j] = 1.0 / f.C.data[j]; /* C ascending = l2 descending */
    for (int reduce = 0; reduce <= 1; reduce++) {
        fc_softmax_options o;
        tight(&o);
        o.reduce = reduce;
        fc_layer L[8] = {{0}};
        fc_error err = {0};
        REQUIRE(fc_softmax_fit_path(&o, &data, f.k, l2, m, L, NULL, &err) == 0, "%s", err.msg);
        for (int j = 0; j < m; j++) {
            compare("small", &f, j, &L[j], reduce ? "path, reduced" : "path");
            fc_layer_free(&L[j]);
        }
    }
    /* with the default tolerances and 10x steps, warm starts save evaluations over cold fits */
    double fine[7] = {1e2, 1e1, 1, 1e-1, 1e-2, 1e-3, 1e-4};
    fc_softmax_options o;
    fc_softmax_options_init(&o);
    fc_layer L[7] = {{0}};
    fc_softmax_info info[7];
    fc_error err = {0};
    REQUIRE(fc_softmax_fit_path(&o, &data, f.k, fine, 7, L, info, &err) == 0, "%s", err.msg);
    int path = 0, cold = 0;
    for (int j = 0; j < 7; j++) {
        path += info[j].evaluations;
        fc_layer_free(&L[j]);
        o.l2 = fine[j];
        fc_softmax_info ci;
        REQUIRE(fc_softmax_fit(&o, &data, f.k, &L[j], &ci, &err) == 0, "%s", err.msg);
        cold += ci.evaluations;
        fc_layer_free(&L[j]);
    }
    CHECK(path < cold, "warm-started path took %d evaluations, cold fits %d", path, cold);
    fixture_free(&f);
}

static void test_warm_start_from_solution(void) {
    fixture f;
    REQUIRE(fixture_load("small", &f) == 0, "fixture");
    fc_data data = fixture_data(&f);
    for (int reduce = 0; reduce <= 1; reduce++) {
        fc_softmax_options o;
        fc_softmax_options_init(&o);
        o.l2 = 1.0;
        o.reduce = reduce;
        o.gtol = 1e-6;
        fc_layer L = {0};
        fc_softmax_info a, b;
        fc_error err = {0};
        REQUIRE(fc_softmax_fit(&o, &data, f.k, &L, &a, &err) == 0, "%s", err.msg);
        o.warm_start = 1;
        o.gtol = 1e-3; /* the float32-rounded solution is already within this */
        REQUIRE(fc_softmax_fit(&o, &data, f.k, &L, &b, &err) == 0, "%s", err.msg);
        CHECK(b.iterations <= 1, "reduce=%d: warm start from the solution took %d iterations", reduce, b.iterations);
        CHECK(fabs(a.objective - b.objective) <= 1e-6 * a.objective, "reduce=%d: objective %.9g then %.9g", reduce,
              a.objective, b.objective);
        fc_layer_free(&L);
        /* warm start without a layer is an error */
        fc_layer none = {0};
        CHECK(fc_softmax_fit(&o, &data, f.k, &none, NULL, &err) == FC_EINVAL, "warm start without a layer");
    }
    fixture_free(&f);
}

/* ||grad f|| at a layer (the (W, b) gradient; the fit's coordinates are an isometry of it). */
static double grad_norm_at(const fc_data *data, int k, double l2, const fc_layer *L) {
    int d = data->d;
    double *gW = malloc((size_t)k * d * sizeof *gW), gb[16], f, s = 0;
    fc_error err = {0};
    if (k > 16 || fc_softmax_objective(data, k, NULL, l2, L, &f, gW, gb, &err)) {
        CHECK(0, "objective: %s", err.msg);
        free(gW);
        return INFINITY;
    }
    for (int q = 0; q < k * d; q++) s += gW[q] * gW[q];
    for (int c = 0; c < k; c++) s += gb[c] * gb[c];
    free(gW);
    return sqrt(s);
}

/* rtol: every fit of a path stops with ||grad|| <= rtol ||grad f(0)|| (computed here from a zero
 * layer), and a warm start that already satisfies that (l2 changed by 1%) still cuts its gradient
 * 30-fold; fewer evaluations than without the relative test. */
static void test_relative_tolerance(void) {
    fixture f;
    REQUIRE(fixture_load("small", &f) == 0, "fixture");
    fc_data data = fixture_data(&f);
    data.weight = NULL;
    fc_layer zero = {0};
    fc_error err = {0};
    REQUIRE(fc_layer_alloc(&zero, f.d, f.k, FC_ACTIVATION_NONE, &err) == 0, "%s", err.msg);
    memset(zero.W, 0, (size_t)f.k * f.d * sizeof *zero.W), memset(zero.b, 0, (size_t)f.k * sizeof *zero.b);
    double g0 = grad_norm_at(&data, f.k, 1, &zero), l2[3] = {1, 0.99, 0.1};
    for (int reduce = 0; reduce <= 1; reduce++) {
        fc_softmax_options o;
        fc_softmax_options_init(&o);
        o.reduce = reduce, o.gtol = 0, o.ftol = 0, o.max_iter = 5000, o.rtol = 1e-3;
        fc_layer L[3] = {{0}}, S[3] = {{0}};
        fc_softmax_info info[3], strict[3];
        REQUIRE(fc_softmax_fit_path(&o, &data, f.k, l2, 3, L, info, &err) == 0, "%s", err.msg);
        for (int j = 0; j < 3; j++)
            CHECK(info[j].status == FC_LBFGS_GTOL && info[j].grad_norm <= 1e-3 * g0 * (1 + 1e-9),
                  "reduce=%d l2=%g: status %d, |g| %g, rtol * |g(0)| %g", reduce, l2[j], info[j].status,
                  info[j].grad_norm, 1e-3 * g0);
        /* the second fit starts at the first's solution: already within rtol, it must still work */
        double gstart = grad_norm_at(&data, f.k, l2[1], &L[0]);
        CHECK(gstart <= 1e-3 * g0, "reduce=%d: the warm start is not within rtol (|g| %g); the test needs it", reduce,
              gstart);
        CHECK(info[1].iterations >= 1 && info[1].grad_norm <= gstart / 30 * 1.01,
              "reduce=%d: warm-started fit: %d iterations, |g| %g from %g", reduce, info[1].iterations,
              info[1].grad_norm, gstart);
        o.rtol = 0, o.gtol = 1e-8;
        REQUIRE(fc_softmax_fit_path(&o, &data, f.k, l2, 3, S, strict, &err) == 0, "%s", err.msg);
        int ev = 0, ev_strict = 0;
        for (int j = 0; j < 3; j++) ev += info[j].evaluations, ev_strict += strict[j].evaluations;
        CHECK(ev < ev_strict, "reduce=%d: %d evaluations with rtol, %d with gtol 1e-8", reduce, ev, ev_strict);
        for (int j = 0; j < 3; j++) fc_layer_free(&L[j]), fc_layer_free(&S[j]);
    }
    fc_softmax_options o;
    fc_softmax_options_init(&o);
    o.rtol = -1;
    fc_layer B = {0};
    CHECK(fc_softmax_fit(&o, &data, f.k, &B, NULL, &err) == FC_EINVAL && strstr(err.msg, "rtol"), "rtol -1: %s",
          err.msg);
    fc_layer_free(&zero);
    fixture_free(&f);
}

/* Finite differences of the objective agree with its analytic gradient (W and b). */
static void test_gradient_check(void) {
    fixture f;
    REQUIRE(fixture_load("weighted", &f) == 0, "fixture");
    fc_data data = fixture_data(&f);
    fc_layer L;
    fc_error err = {0};
    REQUIRE(fc_layer_alloc(&L, f.d, f.k, FC_ACTIVATION_NONE, &err) == 0, "%s", err.msg);
    unsigned seed = 7;
    for (int q = 0; q < f.k * f.d; q++) L.W[q] = (float)((seed = seed * 1103515245u + 12345u) >> 8) / (1 << 24) - 0.5f;
    for (int c = 0; c < f.k; c++) L.b[c] = 0.3f * c - 0.2f;
    double l2 = 0.7, f0;
    double *gW = malloc((size_t)f.k * f.d * sizeof *gW), gb[8];
    REQUIRE(fc_softmax_objective(&data, f.k, f.cw.data, l2, &L, &f0, gW, gb, &err) == 0, "%s", err.msg);
    double worst = 0;
    for (int q = 0; q < f.k * f.d + f.k; q++) {
        float *p = q < f.k * f.d ? &L.W[q] : &L.b[q - f.k * f.d];
        float keep = *p, h = 1e-3f;
        float up = keep + h, down = keep - h;
        double fu, fd;
        *p = up;
        fc_softmax_objective(&data, f.k, f.cw.data, l2, &L, &fu, NULL, NULL, &err);
        *p = down;
        fc_softmax_objective(&data, f.k, f.cw.data, l2, &L, &fd, NULL, NULL, &err);
        *p = keep;
        double num = (fu - fd) / ((double)up - (double)down), ana = q < f.k * f.d ? gW[q] : gb[q - f.k * f.d];
        double rel = fabs(num - ana) / fmax(1.0, fabs(ana));
        worst = fmax(worst, rel);
    }
    CHECK(worst <= 1e-4, "finite differences vs gradient: worst relative error %g", worst);
    free(gW);
    fc_layer_free(&L);
    fixture_free(&f);
}

/* (n, d) uniform noise in [-0.5, 0.5) from an LCG seeded with seed, labels i mod k, and a 0.1 shift
 * on the dims j with j mod k = the label. */
static void make_uniform(int n, int d, int k, unsigned seed, float *x, int *y) {
    unsigned s = seed;
    for (int i = 0; i < n; i++) {
        y[i] = i % k;
        for (int j = 0; j < d; j++) {
            s = s * 1664525u + 1013904223u;
            x[(size_t)i * d + j] = (float)(s >> 8) / (1 << 24) - 0.5f + (j % k == y[i] ? 0.1f : 0);
        }
    }
}

/* Large enough for the threaded evaluation (> 2e7 multiply-adds): 1 and 2 threads give the
 * same bits. */
static void test_threads_do_not_change_results(void) {
    int n = 6000, d = 250, k = 8;
    float *x = malloc((size_t)n * d * sizeof *x);
    int *y = malloc((size_t)n * sizeof *y);
    make_uniform(n, d, k, 1, x, y);
    fc_data data = {.name = "train", .x = x, .y = y, .n = n, .d = d};
    fc_layer a = {0}, b = {0};
    fc_softmax_options o;
    fc_softmax_options_init(&o);
    o.max_iter = 10;
    o.threads = 1;
    fc_error err = {0};
    REQUIRE(fc_softmax_fit(&o, &data, k, &a, NULL, &err) == 0, "%s", err.msg);
    o.threads = 2;
    REQUIRE(fc_softmax_fit(&o, &data, k, &b, NULL, &err) == 0, "%s", err.msg);
    CHECK(!memcmp(a.W, b.W, (size_t)k * d * sizeof *a.W) && !memcmp(a.b, b.b, (size_t)k * sizeof *a.b),
          "1 and 2 threads give different weights");
    fc_layer_free(&a), fc_layer_free(&b);
    free(x), free(y);
}

/* A path long and large enough to run as two chains (4 fits, > 2e7 multiply-adds per evaluation):
 * 1 and 2 threads give the same bits, and every fit reaches the optimum of a cold single fit
 * (which is one chain) within 1e-6 relative, both converged (gradient or precision limit). */
static void test_path_chains(void) {
    int n = 6000, d = 250, k = 8;
    float *x = malloc((size_t)n * d * sizeof *x);
    int *y = malloc((size_t)n * sizeof *y);
    make_uniform(n, d, k, 3, x, y);
    fc_data data = {.name = "train", .x = x, .y = y, .n = n, .d = d};
    double l2[4] = {300, 100, 30, 10};
    fc_layer a[4], b[4];
    memset(a, 0, sizeof a), memset(b, 0, sizeof b);
    fc_softmax_info ia[4];
    fc_softmax_options o;
    fc_softmax_options_init(&o);
    o.gtol = 1e-6, o.ftol = 0, o.max_iter = 2000;
    fc_error err = {0};
    o.threads = 1;
    REQUIRE(fc_softmax_fit_path(&o, &data, k, l2, 4, a, ia, &err) == 0, "%s", err.msg);
    o.threads = 2;
    REQUIRE(fc_softmax_fit_path(&o, &data, k, l2, 4, b, NULL, &err) == 0, "%s", err.msg);
    for (int i = 0; i < 4; i++) {
        CHECK(!memcmp(a[i].W, b[i].W, (size_t)k * d * sizeof *a[i].W) && !memcmp(a[i].b, b[i].b, (size_t)k * sizeof *a[i].b),
              "l2=%g: 1 and 2 threads give different weights", l2[i]);
        fc_layer c = {0};
        fc_softmax_info ic;
        o.l2 = l2[i];
        REQUIRE(fc_softmax_fit(&o, &data, k, &c, &ic, &err) == 0, "%s", err.msg);
        double fa = 0, fc = 0;
        CHECK(fc_softmax_objective(&data, k, NULL, l2[i], &a[i], &fa, NULL, NULL, &err) == 0 &&
                  fc_softmax_objective(&data, k, NULL, l2[i], &c, &fc, NULL, NULL, &err) == 0, "%s", err.msg);
        CHECK(ia[i].status != FC_LBFGS_MAX_ITER && ic.status != FC_LBFGS_MAX_ITER, "l2=%g: status %d / %d", l2[i],
              ia[i].status, ic.status);
        CHECK(fabs(fa - fc) <= 1e-6 * fabs(fc), "l2=%g: path %.12g, cold fit %.12g", l2[i], fa, fc);
        fc_layer_free(&a[i]), fc_layer_free(&b[i]), fc_layer_free(&c);
    }
    free(x), free(y);
}

/* Random (n, d) features with k classes from a noisy linear rule, correlated through a rank-8
 * latent mix (the ill-conditioning of CNN features). */
static void make_problem(int n, int d, int k, unsigned seed, float *x, int *y) {
    srand(seed);
    double mix[8][64], cls[16][8];
    for (int a = 0; a < 8; a++)
        for (int q = 0; q < d && q < 64; q++) mix[a][q] = (double)rand() / RAND_MAX - 0.5;
    for (int c = 0; c < k; c++)
        for (int a = 0; a < 8; a++) cls[c][a] = (double)rand() / RAND_MAX - 0.5;
    for (int i = 0; i < n; i++) {
        double lat[8], best = -1e300;
        for (int a = 0; a < 8; a++) lat[a] = 4 * ((double)rand() / RAND_MAX - 0.5);
        for (int q = 0; q < d; q++) {
            double v = 0.3 * ((double)rand() / RAND_MAX - 0.5);
            for (int a = 0; a < 8; a++) v += lat[a] * mix[a][q % 64];
            x[(size_t)i * d + q] = (float)v;
        }
        for (int c = 0; c < k; c++) {
            double sc = 0.5 * ((double)rand() / RAND_MAX);
            for (int a = 0; a < 8; a++) sc += cls[c][a] * lat[a];
            if (sc > best) best = sc, y[i] = c;
        }
    }
    for (int c = 0; c < k; c++) y[c] = c; /* every class present */
}

/* The preconditioned solver reaches the plain solver's optimum along a warm-started L2 path with
 * the default tolerances: objectives within 1e-5 relative (both stop on the gradient or the
 * relative decrease, the preconditioned one in fewer evaluations in total). */
static void test_preconditioned_path_same_optimum(void) {
    const int shapes[3][3] = {{600, 96, 5}, {300, 64, 2}, {900, 160, 10}};
    for (int sh = 0; sh < 3; sh++) {
        int n = shapes[sh][0], d = shapes[sh][1], k = shapes[sh][2];
        float *x = malloc((size_t)n * d * sizeof *x);
        int *y = malloc((size_t)n * sizeof *y);
        make_problem(n, d, k, 7 + sh, x, y);
        fc_data data = {.name = "train", .x = x, .y = y, .n = n, .d = d};
        double l2[4] = {100, 10, 1, 0.1};
        fc_layer a[4], b[4];
        memset(a, 0, sizeof a), memset(b, 0, sizeof b);
        fc_softmax_info ia[4], ib[4];
        fc_softmax_options o;
        fc_softmax_options_init(&o);
        o.reduce = 0;
        o.max_iter = 2000;
        fc_error err = {0};
        o.precondition = 0;
        REQUIRE(fc_softmax_fit_path(&o, &data, k, l2, 4, a, ia, &err) == 0, "%s", err.msg);
        o.precondition = 1;
        REQUIRE(fc_softmax_fit_path(&o, &data, k, l2, 4, b, ib, &err) == 0, "%s", err.msg);
        for (int i = 0; i < 4; i++) {
            double fa = 0, fb = 0;
            CHECK(fc_softmax_objective(&data, k, NULL, l2[i], &a[i], &fa, NULL, NULL, &err) == 0 &&
                      fc_softmax_objective(&data, k, NULL, l2[i], &b[i], &fb, NULL, NULL, &err) == 0,
                  "%s", err.msg);
            CHECK(ia[i].status != FC_LBFGS_MAX_ITER && ib[i].status != FC_LBFGS_MAX_ITER,
                  "%dx%dx%d l2=%g: status %d / %d", n, d, k, l2[i], ia[i].status, ib[i].status);
            CHECK(fabs(fa - fb) <= 1e-5 * fabs(fa), "%dx%dx%d l2=%g: plain %.10g, preconditioned %.10g", n, d, k,
                  l2[i], fa, fb);
            fc_layer_free(&a[i]), fc_layer_free(&b[i]);
        }
        free(x), free(y);
    }
}

/* The portable, AVX2 and AVX-512 kernel tables give the same bits (reduced and full coordinates,
 * and full ones started in f32 arithmetic). */
static void test_kernel_tables_agree(void) {
    const fc_dense_kernels *fast[2] = {fc_dense_kernels_by_name("avx2"), fc_dense_kernels_by_name("avx512")};
    if (!fast[0]) SKIP("no AVX2 on this CPU");
    fixture f;
    REQUIRE(fixture_load("wide", &f) == 0, "fixture");
    fc_data data = fixture_data(&f);
    for (int reduce = 0; reduce <= 2; reduce++) {
        fc_layer a = {0};
        fc_softmax_options o;
        fc_softmax_options_init(&o);
        o.reduce = reduce == 1;
        o.f32_phase = reduce == 2;
        o.kernels = fc_dense_kernels_by_name("portable");
        fc_error err = {0};
        REQUIRE(fc_softmax_fit(&o, &data, f.k, &a, NULL, &err) == 0, "%s", err.msg);
        for (int t = 0; t < 2 && fast[t]; t++) {
            fc_layer b = {0};
            o.kernels = fast[t];
            REQUIRE(fc_softmax_fit(&o, &data, f.k, &b, NULL, &err) == 0, "%s", err.msg);
            CHECK(!memcmp(a.W, b.W, (size_t)f.k * f.d * sizeof *a.W) && !memcmp(a.b, b.b, (size_t)f.k * sizeof *a.b),
                  "reduce=%d: portable and %s fits differ", reduce, fast[t]->name);
            fc_layer_free(&b);
        }
        fc_layer_free(&a);
    }
    fixture_free(&f);
}

/* fc_data_balanced_weights reproduces scikit-learn's class_weight='balanced' (fixture "weighted"
 * saved the weights sklearn computed; sample weights do not enter them, on either side). */
static void test_balanced_weights(void) {
    fixture f;
    REQUIRE(fixture_load("weighted", &f) == 0, "fixture");
    fc_data data = fixture_data(&f);
    float w[8];
    fc_error err = {0};
    REQUIRE(fc_data_balanced_weights(&data, f.k, w, &err) == 0, "%s", err.msg);
    for (int c = 0; c < f.k; c++) CHECK(fabsf(w[c] - f.cw.data[c]) <= 1e-6f * f.cw.data[c], "class %d: %g vs %g", c, w[c], f.cw.data[c]);
    int absent = f.k + 1;
    CHECK(fc_data_balanced_weights(&data, absent, w, &err) == FC_EINVAL && strstr(err.msg, "no items of class"), "%s",
          err.msg);
    fixture_free(&f);
}

static void test_bad_input(void) {
    float x[4 * 3] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 1, 0, 1};
    int y[4] = {0, 1, 0, 1};
    fc_data d = {.name = "train", .x = x, .y = y, .n = 4, .d = 3};
    fc_softmax_options o;
    fc_softmax_options_init(&o);
    fc_layer L = {0};
    fc_error err = {0};

    int one[4] = {1, 1, 1, 1};
    d.y = one;
    CHECK(fc_softmax_fit(&o, &d, 2, &L, NULL, &err) == FC_EINVAL && strstr(err.msg, "single class"), "single: %s",
        err.msg);
    int missing[4] = {0, 1, -1, 1};
    d.y = missing;
    CHECK(fc_softmax_fit(&o, &d, 2, &L, NULL, &err) == FC_EINVAL && strstr(err.msg, "row 2") &&
              strstr(err.msg, "missing label"), "missing label: %s", err.msg);
    int absent[4] = {0, 1, 0, 1};
    d.y = absent;
    CHECK(fc_softmax_fit(&o, &d, 3, &L, NULL, &err) == FC_EINVAL && strstr(err.msg, "class 2"), "absent class: %s",
        err.msg);
    d.y = y;
    x[7] = NAN;
    CHECK(fc_softmax_fit(&o, &d, 2, &L, NULL, &err) == FC_EINVAL && strstr(err.msg, "row 2, dim 1") &&
              strstr(err.msg, "NaN"), "NaN: %s", err.msg);
    x[7] = INFINITY;
    CHECK(fc_softmax_fit(&o, &d, 2, &L, NULL, &err) == FC_EINVAL && strstr(err.msg, "infinite"), "Inf: %s", err.msg);
    x[7] = 8;
    d.n = 0;
    CHECK(fc_softmax_fit(&o, &d, 2, &L, NULL, &err) == FC_EINVAL && strstr(err.msg, "empty"), "empty: %s", err.msg);
    d.n = 4;
    o.l2 = -1;
    CHECK(fc_softmax_fit(&o, &d, 2, &L, NULL, &err) == FC_EINVAL, "negative l2");
    o.l2 = 1;
    float cw[2] = {1, -1};
    o.class_weight = cw;
    CHECK(fc_softmax_fit(&o, &d, 2, &L, NULL, &err) == FC_EINVAL && strstr(err.msg, "class weight"), "%s", err.msg);
    o.class_weight = NULL;
    CHECK(L.W == NULL, "failed fits leave the layer empty");
    REQUIRE(fc_softmax_fit(&o, &d, 2, &L, NULL, &err) == 0, "%s", err.msg);
    float P[8];
    CHECK(fc_softmax_predict_proba(&L, x, 2, 4, P, 0, &err) == FC_ESHAPE && strstr(err.msg, "4 dims"), "D mismatch: %s",
          err.msg);
    fc_layer wrong = {0};
    fc_layer_alloc(&wrong, 5, 2, FC_ACTIVATION_NONE, NULL);
    CHECK(fc_softmax_fit(&o, &d, 2, &wrong, NULL, &err) == FC_EINVAL, "layer of the wrong shape");
    fc_layer_free(&wrong);
    fc_layer_free(&L);
}

int main(void) {
    RUN(test_matches_sklearn);
    RUN(test_reduced_solution_is_stationary);
    RUN(test_path_warm_start);
    RUN(test_warm_start_from_solution);
    RUN(test_relative_tolerance);
    RUN(test_gradient_check);
    RUN(test_threads_do_not_change_results);
    RUN(test_path_chains);
    RUN(test_kernel_tables_agree);
    RUN(test_preconditioned_path_same_optimum);
    RUN(test_balanced_weights);
    RUN(test_bad_input);
    return check_done();
}
