/* Depthwise blocks (graph_opt.c fc_opt_fuse_dw_blocks, ops/conv_block.c): tiny MobileNet-style
 * models, [1x1 expansion + ReLU6 ->] depthwise + ReLU6 -> 1x1 projection [+ x], run fused and with
 * fc_model_options.unfused_blocks. For every kernel table, thread count, batch and parallel mode the
 * two must agree bitwise, and both must match a double-precision reference. The cases reach banded
 * runs (one band, many bands, a single row per band with rows kept between bands, strides 1 and 2,
 * 5x5, dilation, asymmetric pads, rows split between threads at batch 1, a strided 3x3 or 5x5 stem
 * as the expansion, no projection: a depthwise with other consumers takes over only its expansion,
 * and the GlobalAveragePool of its output, as in a squeeze-and-excitation: y = d * mean(d) per
 * channel; with the pool's own output requested, it stays a step of its own) and the unfused path
 * of small depthwise input planes (strides 1 and 2). Each case also checks that the fused model
 * has the steps it should have absorbed fewer.
 * Not here: single Convs (test_conv.c), whole networks (test_models.c, test_torchvision.c). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/model.h"
#include "tests/support/check.h"
#include "tests/support/onnx_build.h"
#include "tests/support/run_once.h"
#include "tests/support/tmpdir.h"

typedef struct block_case {
    const char *name;
    int cin, ce, cout; /* ce = 0: no expansion (the depthwise has cin channels) */
    int h, w, k, s, pt, pl, pb, pr, d; /* the depthwise's input size and window */
    int residual;      /* 1: y = project(...) + x (needs cin == cout, stride 1, same size); 2: + the
                          expansion's output (needs ce == cout, stride 1: the block takes it over) */
    int ek;            /* expansion kernel ek x ek, stride 2, padding ek/2 (a stem); 0: 1x1; h, w
                          are then the input's size */
    int noproj;        /* no projection: y = d * GlobalAveragePool(d), d the depthwise output (cout = ce) */
} block_case;

static const block_case CASES[] = {
    /* name                         cin  ce cout   h   w  k  s pt pl pb pr  d res ek noproj */
    {"s1 residual, bands",           8,  48,   8,  30, 30, 3, 1, 1, 1, 1, 1, 1, 1,  0, 0},
    {"s2 odd sizes",                 8,  40,  12,  45, 43, 3, 2, 1, 1, 1, 1, 1, 0,  0, 0},
    {"no expansion",                16,   0,  24,  28, 28, 3, 1, 1, 1, 1, 1, 1, 0,  0, 0},
    {"no expansion s2",             16,   0,  20,  47, 41, 3, 2, 1, 1, 1, 1, 1, 0,  0, 0},
    {"5x5 s2",                       8,  24,  16,  50, 50, 5, 2, 2, 2, 2, 2, 1, 0,  0, 0},
    {"dilation 2",                  12,  36,  12,  24, 24, 3, 1, 2, 2, 2, 2, 2, 1,  0, 0},
    {"asymmetric pads",              6,  30,  10,  26, 25, 3, 1, 0, 2, 2, 0, 1, 0,  0, 0},
    {"one row per band",            16, 640,  16,  22, 64, 3, 1, 1, 1, 1, 1, 1, 1,  0, 0},
    {"one row per band s2",         16, 600,  24,  25, 66, 3, 2, 1, 1, 1, 1, 1, 0,  0, 0},
    /* (the "unfused" cases: unfused on the tables without channel-blocked kernels; the avx512
     * table takes its channel-blocked path on every plane) */
    {"small plane, unfused path",   16,  96,  16,  13, 13, 3, 1, 1, 1, 1, 1, 1, 1,  0, 0},
    {"s2 into a small plane",       24, 144,  32,  25, 26, 3, 2, 1, 1, 1, 1, 1, 0,  0, 0},
    {"small plane s2, unfused",     16,  96,  24,  13, 14, 3, 2, 1, 1, 1, 1, 1, 0,  0, 0},
    {"3x3 s2 stem as expansion",     3,  32,  16,  64, 62, 3, 1, 1, 1, 1, 1, 1, 0, 3, 0},
    {"5x5 s2 stem, dw s2",           4,  24,  16,  81, 80, 3, 2, 1, 1, 1, 1, 1, 0, 5, 0},
    {"stem output as residual",      3,  16,  16,  30, 28, 3, 1, 1, 1, 1, 1, 1, 2, 3, 0},
    {"expansion output as residual", 8,  24,  24,  14, 14, 3, 1, 1, 1, 1, 1, 1, 2, 0, 0},
    {"expansion + dw, no projection", 8,  48,  48,  30, 29, 3, 1, 1, 1, 1, 1, 1, 0, 0, 1},
    {"expansion + dw s2, no proj.",   8,  40,  40,  45, 43, 5, 2, 2, 2, 2, 2, 1, 0, 0, 1},
    {"no projection, small plane",   16,  64,  64,  12, 12, 3, 1, 1, 1, 1, 1, 1, 0, 0, 1},
    {"no projection, many bands",    16, 600, 600,  22, 61, 3, 1, 1, 1, 1, 1, 1, 0, 0, 1},
};

/* The depthwise's input size: the expansion's output. */
static void dw_in_size(const block_case *c, int *h, int *w) {
    *h = c->ek ? (c->h + 2 * (c->ek / 2) - c->ek) / 2 + 1 : c->h;
    *w = c->ek ? (c->w + 2 * (c->ek / 2) - c->ek) / 2 + 1 : c->w;
}
static int ek(const block_case *c) { return c->ek ? c->ek : 1; }

static int out_size(int n, int k, int s, int d, int p0, int p1) { return (n + p0 + p1 - d * (k - 1) - 1) / s + 1; }

static float frand(unsigned *s) {
    *s = *s * 1103515245u + 12345u;
    return (float)((*s >> 8) & 0xFFFF) / 32768.0f - 1.0f;
}

typedef struct weights {
    float *we, *be, *wd, *bd, *wp, *bp; /* (ce, cin), (ce), (ce, k, k), (ce), (cout, ce), (cout) */
} weights;

static int chans(const block_case *c) { return c->ce ? c->ce : c->cin; }

static void weights_make(const block_case *c, unsigned seed, weights *w) {
    int ce = chans(c);
    size_t n[6] = {(size_t)ce * c->cin * ek(c) * ek(c), (size_t)ce, (size_t)ce * c->k * c->k, (size_t)ce,
                   (size_t)c->cout * ce, (size_t)c->cout};
    float **p[6] = {&w->we, &w->be, &w->wd, &w->bd, &w->wp, &w->bp};
    float scale[6] = {0.5f, 0.5f, 0.4f, 0.3f, 0.25f, 0.2f};
    for (int i = 0; i < 6; i++) {
        *p[i] = malloc(n[i] * sizeof(float));
        for (size_t j = 0; j < n[i]; j++) (*p[i])[j] = frand(&seed) * scale[i];
    }
}

static void weights_free(weights *w) { free(w->we), free(w->be), free(w->wd), free(w->bd), free(w->wp), free(w->bp); }

static void clip6(ob_model *m, const char *in, const char *out) { ob_node(m, "Clip", out, in, out); }

static void write_model(const block_case *c, const weights *w, const char *path) {
    int ce = chans(c);
    ob_model *m = ob_new(13);
    ob_input(m, "x", -1, c->cin, c->h, c->w);
    ob_output(m, "y");
    int64_t scalar[1] = {0};
    float lo = 0.f, hi = 6.f;
    ob_init(m, "lo", 0, scalar, &lo);
    ob_init(m, "hi", 0, scalar, &hi);
    int64_t de[4] = {ce, c->cin, ek(c), ek(c)}, dd[4] = {ce, 1, c->k, c->k}, dp[4] = {c->cout, ce, 1, 1};
    int64_t dce[1] = {ce}, dco[1] = {c->cout};
    const char *dw_in = "x";
    if (c->ce) {
        ob_init(m, "we", 4, de, w->we);
        ob_init(m, "be", 1, dce, w->be);
        int en = ob_node(m, "Conv", "expand", "x,we,be", "e");
        if (c->ek) {
            int64_t est[2] = {2, 2}, ep[4] = {c->ek / 2, c->ek / 2, c->ek / 2, c->ek / 2};
            ob_attr_ints(m, en, "strides", 2, est);
            ob_attr_ints(m, en, "pads", 4, ep);
        }
        clip6(m, "e,lo,hi", "e6");
        dw_in = "e6";
    }
    ob_init(m, "wd", 4, dd, w->wd);
    ob_init(m, "bd", 1, dce, w->bd);
    char ins[64];
    snprintf(ins, sizeof ins, "%s,wd,bd", dw_in);
    int n = ob_node(m, "Conv", "dw", ins, "d");
    int64_t st[2] = {c->s, c->s}, pads[4] = {c->pt, c->pl, c->pb, c->pr}, dil[2] = {c->d, c->d};
    int64_t ks[2] = {c->k, c->k};
    ob_attr_ints(m, n, "kernel_shape", 2, ks);
    ob_attr_ints(m, n, "strides", 2, st);
    ob_attr_ints(m, n, "pads", 4, pads);
    ob_attr_ints(m, n, "dilations", 2, dil);
    ob_attr_int(m, n, "group", ce);
    clip6(m, "d,lo,hi", "d6");
    if (c->noproj) {
        ob_node(m, "GlobalAveragePool", "pool", "d6", "g");
        ob_node(m, "Mul", "scale", "d6,g", "y");
        CHECK(ob_write(m, path) == 0, "cannot write %s", path);
        return;
    }
    ob_init(m, "wp", 4, dp, w->wp);
    ob_init(m, "bp", 1, dco, w->bp);
    ob_node(m, "Conv", "project", "d6,wp,bp", c->residual ? "p" : "y");
    if (c->residual) ob_node(m, "Add", "add", c->residual == 2 ? "p,e6" : "p,x", "y");
    CHECK(ob_write(m, path) == 0, "cannot write %s", path);
}

/* The output of a batch of n images (caller frees) and the session's step count, or NULL. */
static float *run(const char *path, const fc_kernels *k, int unfused, int n, int threads, int split,
                  const float *x, int64_t *count, int *steps) {
    fc_model_options mo = {.kernels = k, .unfused_blocks = unfused};
    fc_session_options so = {.batch = n, .threads = threads, .split_batch = split};
    return run_once(path, &mo, &so, x, count, steps);
}

static double relu6(double v) { return v < 0 ? 0 : v > 6 ? 6 : v; }

/* Outputs of y (n images) that differ from the double-precision block by more than the tolerance. */
static int reference_mismatches(const block_case *c, const weights *w, int n, const float *x,
                                const float *y, int oh, int ow) {
    int ce = chans(c), bad = 0, dh, dwd, K = ek(c), P = c->ek / 2, S = c->ek ? 2 : 1;
    dw_in_size(c, &dh, &dwd);
    size_t hw = (size_t)c->h * c->w, dhw = (size_t)dh * dwd;
    double *e = malloc((size_t)ce * dhw * sizeof(double)), *d = malloc((size_t)ce * oh * ow * sizeof(double));
    for (int img = 0; img < n; img++) {
        const float *xi = x + (size_t)img * c->cin * hw;
        for (int ch = 0; ch < ce; ch++)
            for (int ey = 0; ey < dh; ey++)
                for (int ex = 0; ex < dwd; ex++) {
                    size_t p = (size_t)ey * dwd + ex;
                    double acc = c->ce ? w->be[ch] : xi[(size_t)ch * hw + p];
                    for (int ci = 0; c->ce && ci < c->cin; ci++)
                        for (int i = 0; i < K; i++)
                            for (int j = 0; j < K; j++) {
                                int iy = ey * S - P + i, ix = ex * S - P + j;
                                if (iy >= 0 && iy < c->h && ix >= 0 && ix < c->w)
                                    acc += (double)w->we[((ch * c->cin + ci) * K + i) * K + j] * xi[(size_t)ci * hw + (size_t)iy * c->w + ix];
                            }
                    e[ch * dhw + p] = c->ce ? relu6(acc) : acc;
                }
        for (int ch = 0; ch < ce; ch++)
            for (int oy = 0; oy < oh; oy++)
                for (int ox = 0; ox < ow; ox++) {
                    double acc = w->bd[ch];
                    for (int i = 0; i < c->k; i++)
                        for (int j = 0; j < c->k; j++) {
                            int iy = oy * c->s - c->pt + i * c->d, ix = ox * c->s - c->pl + j * c->d;
                            if (iy >= 0 && iy < dh && ix >= 0 && ix < dwd)
                                acc += (double)w->wd[(ch * c->k + i) * c->k + j] * e[ch * dhw + (size_t)iy * dwd + ix];
                        }
                    d[((size_t)ch * oh + oy) * ow + ox] = relu6(acc);
                }
        for (int co = 0; c->noproj && co < ce; co++) {
            double mean = 0;
            for (int p = 0; p < oh * ow; p++) mean += d[(size_t)co * oh * ow + p];
            mean /= oh * ow;
            for (int p = 0; p < oh * ow; p++) {
                double want = d[(size_t)co * oh * ow + p] * mean;
                float got = y[((size_t)img * ce + co) * oh * ow + p];
                bad += !(fabs(got - want) <= 1e-4 * (fabs(want) + 1));
            }
        }
        for (int co = 0; !c->noproj && co < c->cout; co++)
            for (int p = 0; p < oh * ow; p++) {
                double acc = w->bp[co], mag = fabs(acc);
                for (int ch = 0; ch < ce; ch++) {
                    double v = (double)w->wp[co * ce + ch] * d[(size_t)ch * oh * ow + p];
                    acc += v, mag += fabs(v);
                }
                double r = c->residual == 2 ? e[co * dhw + p] : c->residual ? xi[(size_t)co * hw + p] : 0;
                acc += r, mag += fabs(r);
                float got = y[((size_t)img * c->cout + co) * oh * ow + p];
                bad += !(fabs(got - acc) <= 1e-4 * (mag + 1));
            }
    }
    free(e), free(d);
    return bad;
}

static void check_case(const block_case *c, const fc_kernels *k, const char *dir, int idx) {
    const int N = 3;
    int dh, dwd;
    dw_in_size(c, &dh, &dwd);
    int oh = out_size(dh, c->k, c->s, c->d, c->pt, c->pb), ow = out_size(dwd, c->k, c->s, c->d, c->pl, c->pr);
    size_t nx = (size_t)N * c->cin * c->h * c->w, per = (size_t)c->cout * oh * ow;
    unsigned seed = 777u + (unsigned)idx;
    weights w;
    weights_make(c, seed, &w);
    float *x = malloc(nx * sizeof(float));
    for (size_t i = 0; i < nx; i++) x[i] = frand(&seed) * 2.f;
    char path[512];
    snprintf(path, sizeof path, "%s/block%d.onnx", dir, idx);
    write_model(c, &w, path);
    int64_t count = 0;
    int steps_u = 0, steps_f = 0;
    float *ref = run(path, k, 1, N, 1, 0, x, &count, &steps_u); /* unfused, one thread */
    REQUIRE(ref && count == (int64_t)(N * per), "%s (%s): no unfused output", c->name, k->name);
    int bad = reference_mismatches(c, &w, N, x, ref, oh, ow);
    CHECK(bad == 0, "%s (%s): %d outputs off the double-precision reference", c->name, k->name, bad);
    /* fused: batch 3 and 1 (image 1 alone), 1 and 2 threads, split batch or layer-parallel */
    const int runs[][3] = {{3, 1, 0}, {3, 2, 1}, {3, 2, 0}, {1, 2, 0}, {1, 1, 0}};
    for (size_t r = 0; r < sizeof runs / sizeof *runs; r++) {
        int n = runs[r][0];
        int64_t cnt = 0;
        float *y = run(path, k, 0, n, runs[r][1], runs[r][2], n == 1 ? x + nx / N : x, &cnt, &steps_f);
        CHECK(y && cnt == (int64_t)(n * per), "%s (%s): no fused output", c->name, k->name);
        if (y && cnt == (int64_t)(n * per))
            CHECK(memcmp(y, n == 1 ? ref + per : ref, (size_t)cnt * sizeof(float)) == 0,
                  "%s (%s): fused batch %d, %d threads, %s differs bitwise from the unfused block",
                  c->name, k->name, n, runs[r][1], runs[r][2] ? "split batch" : "layers");
        /* the block absorbs the expansion, if any, and the depthwise (a projection block) or the
         * pool (a depthwise-only block) */
        CHECK(steps_u - steps_f == 1 + (c->ce != 0), "%s (%s): fused model has %d steps, unfused %d",
              c->name, k->name, steps_f, steps_u);
        free(y);
    }
    if (c->noproj) { /* the pool itself requested: it stays a step of its own, with the same bits */
        const char *g[1] = {"g"};
        fc_model_options mu = {.kernels = k, .unfused_blocks = 1, .outputs = g, .n_outputs = 1};
        fc_model_options mf = {.kernels = k, .outputs = g, .n_outputs = 1};
        fc_session_options so = {.batch = N, .threads = 2};
        int64_t cu = 0, cf = 0;
        float *gu = run_once(path, &mu, &so, x, &cu, &steps_u), *gf = run_once(path, &mf, &so, x, &cf, &steps_f);
        CHECK(gu && gf && cu == (int64_t)N * c->cout && cf == cu &&
                  memcmp(gu, gf, (size_t)cu * sizeof(float)) == 0 && steps_u - steps_f == (c->ce != 0),
              "%s (%s): the requested pool output: %lld and %lld values, %d and %d steps", c->name, k->name,
              (long long)cu, (long long)cf, steps_u, steps_f);
        free(gu), free(gf);
    }
    free(ref), free(x);
    weights_free(&w);
    unlink(path);
}

static void all_cases(const char *isa) {
    const fc_kernels *k = fc_kernels_by_name(isa);
    if (!k) SKIP("kernel table not supported by this CPU");
    const char *dir = fc_test_tmpdir();
    for (size_t i = 0; i < sizeof CASES / sizeof *CASES; i++) check_case(&CASES[i], k, dir, (int)i);
}

static void test_conv_block_scalar(void) { all_cases("scalar"); }
static void test_conv_block_avx2(void) { all_cases("avx2"); }
static void test_conv_block_avx512(void) { all_cases("avx512"); }

int main(void) {
    RUN(test_conv_block_scalar);
    RUN(test_conv_block_avx2);
    RUN(test_conv_block_avx512);
    return check_done();
}
