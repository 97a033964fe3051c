/* Conv operator tests: tiny one-conv ONNX models (tests/support/onnx_build) run through the engine with
 * every kernel table and compared with a naive double-precision convolution, on configurations that
 * reach each path of ops/conv.c: Winograd (edge tiles, odd channels, asymmetric pads, residual, tiny
 * inputs, chunks across images; 3x3 and 5x5), im2col (dilation, strides 2 and 3, 5x5, 1x7 / 7x1, groups, K over a
 * cache block), 1x1 (direct per image and with columns spanning images, 1x1 planes, strided,
 * padded), depthwise, B built K block by K block on each packing path, and the pixel-broadcast
 * path of stems (conv_bcast.c). Each also checks that an image's output is bitwise the same alone as
 * in a batch of three; with a table that has sgemm_kblock, the same bits without it (whole-K
 * packing); with a table that has conv_bcast, that the tile runs exactly where the shape selects it,
 * and on SIMD tables the same bits without it (im2col and the GEMM). MaxPool and AveragePool (ops/pool.c: ceil_mode, dilation, count_include_pad, asymmetric
 * pads) likewise, and GlobalAveragePool / GlobalMaxPool on planes of awkward sizes.
 * Not here: kernel-level comparisons (test_kernels.c), whole networks (test_models, test_torchvision). */
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

typedef struct conv_case {
    const char *name;
    int cin, cout, h, w, kh, kw;
    int sh, sw, pt, pl, pb, pr, dh, dw, group;
    int relu;     /* Relu after the conv (fused) */
    int residual; /* y = conv(x) + x before the Relu (fused); needs the output shape of x */
} conv_case;

static const conv_case CASES[] = {
    /* name                   cin cout  h   w kh kw sh sw pt pl pb pr dh dw  g relu res */
    {"wino 9x11 edge tiles",    16, 16,  9, 11, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0},
    {"wino 14x14 24<-32",       32, 24, 14, 14, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0},
    {"wino residual",           16, 16, 10,  6, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1},
    {"wino valid odd chans",    17, 19,  7,  7, 3, 3, 1, 1, 0, 0, 0, 0, 1, 1, 1, 0, 0},
    {"wino asymmetric pads",    16, 16,  8,  9, 3, 3, 1, 1, 0, 2, 1, 0, 1, 1, 1, 1, 0},
    {"wino 1x1 input",          16, 20,  1,  1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0},
    {"wino chunks over images", 48, 32, 20, 20, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0},
    {"3x3 few channels",         8,  8, 12, 12, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1},
    {"3x3 dilation 2",          16, 16, 11, 13, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, 1, 1, 1},
    {"3x3 stride 2",            16, 24, 15, 16, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 0},
    {"5x5 stride 3",             5,  7, 17, 19, 5, 5, 3, 3, 1, 2, 2, 1, 1, 1, 1, 0, 0},
    {"1x7",                     12, 12, 10, 17, 1, 7, 1, 1, 0, 3, 0, 3, 1, 1, 1, 1, 1},
    {"7x1",                     12, 10, 17, 10, 7, 1, 1, 1, 3, 0, 3, 0, 1, 1, 1, 1, 0},
    {"groups 4",                16,  8,  9,  9, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 4, 1, 0},
    {"K over a block",          64, 40, 13, 13, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 0},
    {"depthwise s1",            24, 24, 13, 11, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 24, 1, 0},
    {"depthwise s2 5x5",        20, 20, 16, 15, 5, 5, 2, 2, 2, 2, 2, 2, 1, 1, 20, 1, 0},
    {"depthwise residual",      24, 24,  7,  7, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 24, 1, 1},
    {"1x1 per image",           40, 30, 20, 20, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 0},
    {"1x1 across images",       40, 40,  9,  9, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 1},
    {"1x1 on 1x1 planes",       64, 37,  1,  1, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 0, 0},
    {"1x1 stride 2",            16, 12, 11, 11, 1, 1, 2, 2, 0, 0, 0, 0, 1, 1, 1, 1, 0},
    {"1x1 stride 2 per image",  16, 12, 26, 27, 1, 1, 2, 2, 0, 0, 0, 0, 1, 1, 1, 1, 0},
    {"1x1 padded",               8,  8, 14, 14, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0},
    /* B built one K block at a time (sgemm_kblock: K over the GEMM's block) on each packing path */
    {"1x1 per image, K blocks",  200, 30, 20, 20, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 0},
    {"1x1 across images, K blocks", 300, 300, 9, 9, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 1},
    {"1x7, K blocks",           40, 24, 10, 17, 1, 7, 1, 1, 0, 3, 0, 3, 1, 1, 1, 1, 0},
    {"5x5 across images, K blocks", 15, 20, 9, 9, 5, 5, 1, 1, 2, 2, 2, 2, 1, 1, 1, 1, 0},
    /* 5x5 stride 1 with 16 channels or more: Winograd on four 3x3 sub-kernels */
    {"wino 5x5 edge tiles",     16, 20, 11, 13, 5, 5, 1, 1, 2, 2, 2, 2, 1, 1, 1, 1, 0},
    {"wino 5x5 residual",       16, 16,  9,  9, 5, 5, 1, 1, 2, 2, 2, 2, 1, 1, 1, 1, 1},
    {"wino 5x5 asymmetric pads", 17, 16, 8, 10, 5, 5, 1, 1, 0, 3, 4, 1, 1, 1, 1, 0, 0},
    {"wino 5x5 valid, chunks over images", 24, 32, 21, 19, 5, 5, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 0},
    {"1x1 stride 2, K blocks",  256, 12, 26, 27, 1, 1, 2, 2, 0, 0, 0, 0, 1, 1, 1, 1, 0},
    {"1x1 s2 per image, K blocks", 256, 12, 40, 40, 1, 1, 2, 2, 0, 0, 0, 0, 1, 1, 1, 1, 0},
    {"groups 2, K blocks",      400, 16,  7,  7, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 2, 1, 0},
    /* K too long for a chunk's whole B in L2 (fc_conv_whole_k_bytes): B packed block by block */
    {"1x1 per image, K-block packing", 1500, 30, 20, 20, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 0},
    {"1x1 across images, K-block packing", 1100, 40, 9, 9, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 0},
    {"1x7, K-block packing",    100, 24, 10, 17, 1, 7, 1, 1, 0, 3, 0, 3, 1, 1, 1, 1, 0},
    {"5x5 across images, K-block packing", 48, 12, 9, 9, 5, 5, 1, 1, 2, 2, 2, 2, 1, 1, 1, 1, 0},
    {"1x1 stride 2, K-block packing", 600, 12, 26, 27, 1, 1, 2, 2, 0, 0, 0, 0, 1, 1, 1, 1, 0},
    /* whole B at once with M over an L2 block of A's rows (sgemm_packed: rows outside, K inside) */
    {"1x1 across images, whole K", 256, 600, 9, 9, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 0},
    /* few input channels and K of 64..192: the pixel-broadcast path (conv_bcast.c), except with a residual */
    {"stem 7x7 stride 2",         3, 40, 37, 35, 7, 7, 2, 2, 3, 3, 3, 3, 1, 1, 1, 1, 0},
    {"stem 5x5, no activation",   3, 16, 20, 16, 5, 5, 1, 1, 2, 2, 2, 2, 1, 1, 1, 0, 0},
    {"stem 8x8 s3 dilation 2",    2, 33, 30, 31, 8, 8, 3, 3, 1, 4, 2, 0, 2, 2, 1, 1, 0},
    {"stem with a residual",      3,  3, 16, 16, 7, 7, 1, 1, 3, 3, 3, 3, 1, 1, 1, 1, 1},
};

/* The table under test (spied_table) behind spies that count calls to its pixel-broadcast tile
 * and to its sgemm_kblock (two threads call them). */
static const fc_kernels *spied_table;
static int bcast_calls;
static void bcast_spy(int np, int M, int K, const float *x, const int *koff, ptrdiff_t ps, const float *w,
                      float *y, ptrdiff_t ldy, const fc_epilogue *ep) {
    __atomic_fetch_add(&bcast_calls, 1, __ATOMIC_RELAXED);
    spied_table->conv_bcast(np, M, K, x, koff, ps, w, y, ldy, ep);
}

static int kblock_calls;
static void kblock_spy(int M, int N, int K, int k0, const float *pa, const float *pb, size_t pbs, float *C,
                       ptrdiff_t rsc, ptrdiff_t csc, const fc_epilogue *ep) {
    __atomic_fetch_add(&kblock_calls, 1, __ATOMIC_RELAXED);
    spied_table->sgemm_kblock(M, N, K, k0, pa, pb, pbs, C, rsc, csc, ep);
}

/* Whether case c should take the pixel-broadcast path (conv_bcast.c's rule). */
static int takes_bcast(const conv_case *c) {
    int K = c->cin / c->group * c->kh * c->kw;
    return c->group == 1 && c->cin <= 4 && K >= 64 && K <= 192 && !c->residual;
}

static int out_size(int n, int k, int s, int d, int p0, int p1) { return (n + p0 + p1 - d * (k - 1) - 1) / s + 1; }

static float frand(unsigned *s) {
    *s = *s * 1103515245u + 12345u;
    return (float)((*s >> 8) & 0xFFFF) / 32768.0f - 1.0f;
}

/* Writes the case's model to path; weights and bias from seed. */
static void write_model(const conv_case *c, const char *path, float *wt, float *bias) {
    ob_model *m = ob_new(13);
    ob_input(m, "x", -1, c->cin, c->h, c->w);
    ob_output(m, "y");
    int64_t wd[4] = {c->cout, c->cin / c->group, c->kh, c->kw}, bd[1] = {c->cout};
    ob_init(m, "w", 4, wd, wt);
    ob_init(m, "b", 1, bd, bias);
    const char *conv_out = c->relu || c->residual ? "c" : "y";
    int n = ob_node(m, "Conv", "conv", "x,w,b", conv_out);
    int64_t st[2] = {c->sh, c->sw}, pads[4] = {c->pt, c->pl, c->pb, c->pr}, dil[2] = {c->dh, c->dw};
    int64_t ks[2] = {c->kh, c->kw};
    ob_attr_ints(m, n, "kernel_shape", 2, ks);
    ob_attr_ints(m, n, "strides", 2, st);
    ob_attr_ints(m, n, "pads", 4, pads);
    ob_attr_ints(m, n, "dilations", 2, dil);
    ob_attr_int(m, n, "group", c->group);
    if (c->residual) ob_node(m, "Add", "add", "c,x", c->relu ? "s" : "y");
    if (c->relu) ob_node(m, "Relu", "relu", c->residual ? "s" : "c", "y");
    CHECK(ob_write(m, path) == 0, "cannot write %s", path);
}

/* A batch of n images through the model with 2 threads; the output (caller frees) or NULL. */
static float *run(const char *path, const fc_kernels *k, int n, const float *x, int64_t *count) {
    fc_model_options mo = {.kernels = k};
    fc_session_options so = {.batch = n, .threads = 2};
    return run_once(path, &mo, &so, x, count, NULL);
}

static void check_case(const conv_case *c, const fc_kernels *k, const char *dir, int idx) {
    const int N = 3;
    int oh = out_size(c->h, c->kh, c->sh, c->dh, c->pt, c->pb);
    int ow = out_size(c->w, c->kw, c->sw, c->dw, c->pl, c->pr);
    int cg = c->cin / c->group, mg = c->cout / c->group;
    size_t nw = (size_t)c->cout * cg * c->kh * c->kw, nx = (size_t)N * c->cin * c->h * c->w;
    size_t per = (size_t)c->cout * oh * ow;
    unsigned seed = 1234u + (unsigned)idx;
    float *wt = malloc(nw * sizeof(float)), *bias = malloc((size_t)c->cout * sizeof(float));
    float *x = malloc(nx * sizeof(float));
    for (size_t i = 0; i < nw; i++) wt[i] = frand(&seed) * 0.5f;
    for (int i = 0; i < c->cout; i++) bias[i] = frand(&seed);
    for (size_t i = 0; i < nx; i++) x[i] = frand(&seed);
    char path[512];
    snprintf(path, sizeof path, "%s/conv%d.onnx", dir, idx);
    write_model(c, path, wt, bias);
    int64_t count = 0, count1 = 0;
    float *y = run(path, k, N, x, &count);
    float *y1 = run(path, k, 1, x + nx / N, &count1); /* image 1 alone */
    if (!y || !y1 || count != (int64_t)(N * per) || count1 != (int64_t)per) {
        CHECK(y && y1, "%s (%s): no output", c->name, k->name);
        CHECK(!y || count == (int64_t)(N * per), "%s: %lld outputs, want %zu", c->name, (long long)count, N * per);
        free(y), free(y1), free(wt), free(bias), free(x);
        return;
    }
    int bad = 0, first = -1;
    double fw = 0, fg = 0;
    for (int n = 0; n < N; n++)
        for (int m = 0; m < c->cout; m++)
            for (int oy = 0; oy < oh; oy++)
                for (int ox = 0; ox < ow; ox++) {
                    int g = m / mg;
                    double acc = bias[m], mag = fabs(bias[m]);
                    for (int ci = 0; ci < cg; ci++)
                        for (int ky = 0; ky < c->kh; ky++)
                            for (int kx = 0; kx < c->kw; kx++) {
                                int iy = oy * c->sh - c->pt + ky * c->dh, ix = ox * c->sw - c->pl + kx * c->dw;
                                if (iy < 0 || iy >= c->h || ix < 0 || ix >= c->w) continue;
                                double v = (double)wt[((size_t)m * cg + ci) * c->kh * c->kw + ky * c->kw + kx] *
                                           x[(((size_t)n * c->cin + g * cg + ci) * c->h + iy) * c->w + ix];
                                acc += v, mag += fabs(v);
                            }
                    size_t o = (size_t)n * per + ((size_t)m * oh + oy) * ow + ox;
                    if (c->residual) acc += x[o], mag += fabs(x[o]);
                    if (c->relu && acc < 0) acc = 0;
                    if (!(fabs(y[o] - acc) <= 3e-5 * mag + 1e-6)) {
                        if (first < 0) first = (int)o, fw = acc, fg = y[o];
                        bad++;
                    }
                }
    int differ = memcmp(y1, y + per, per * sizeof(float)) != 0;
    CHECK(bad == 0, "%s (%s): %d of %lld outputs wrong, first #%d got %.7g want %.7g", c->name,
          k->name, bad, (long long)count, first, fg, fw);
    CHECK(!differ, "%s (%s): image 1 alone differs bitwise from image 1 in a batch of 3", c->name,
          k->name);
    if (k->conv_bcast) { /* the path its shape selects, and (SIMD tables) the GEMM path's bits */
        fc_kernels spy = *k, none = *k;
        spy.conv_bcast = bcast_spy, none.conv_bcast = NULL;
        spied_table = k, bcast_calls = 0;
        int64_t cs = 0, cn = 0;
        float *ys = run(path, &spy, N, x, &cs), *yn = run(path, &none, N, x, &cn);
        CHECK((bcast_calls > 0) == takes_bcast(c), "%s (%s): the pixel-broadcast tile ran %d times", c->name,
              k->name, bcast_calls);
        CHECK(ys && cs == count && !memcmp(y, ys, (size_t)count * sizeof(float)), "%s (%s): not reproducible",
              c->name, k->name);
        CHECK(!k->sgemm_kblock || (yn && cn == count && !memcmp(y, yn, (size_t)count * sizeof(float))),
              "%s (%s): the pixel-broadcast path differs bitwise from the GEMM path", c->name, k->name);
        free(ys), free(yn);
    }
    if (k->sgemm_kblock && (strstr(c->name, "K-block packing") || strstr(c->name, "whole K"))) {
        fc_kernels spy = *k;
        spy.sgemm_kblock = kblock_spy;
        spied_table = k, kblock_calls = 0;
        int64_t cs = 0;
        float *ys = run(path, &spy, N, x, &cs);
        int want = strstr(c->name, "K-block packing") != NULL;
        CHECK(ys && (kblock_calls > 0) == want, "%s (%s): B packed block by block %d times, want %s", c->name,
              k->name, kblock_calls, want ? "some" : "none");
        free(ys);
    }
    if (k->sgemm_kblock) { /* B built K block by K block: the bits of the whole-K GEMM */
        fc_kernels whole = *k;
        whole.sgemm_kblock = NULL, whole.gemm_kc = NULL;
        int64_t cw = 0;
        float *yw = run(path, &whole, N, x, &cw);
        CHECK(yw && cw == count && !memcmp(y, yw, (size_t)count * sizeof(float)),
              "%s (%s): the K-block path differs bitwise from the whole-K path", c->name, k->name);
        free(yw);
    }
    free(y), free(y1), free(wt), free(bias), free(x);
}

/* ---- pooling (ops/pool.c shares the window geometry and the batch-independence rule) ---------- */

typedef struct pool_case {
    const char *op;
    int c, h, w, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw, ceil, include_pad;
} pool_case;

static const pool_case POOLS[] = {
    {"MaxPool", 5, 112, 112, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 0, 0},  /* ResNet stem */
    {"MaxPool", 3, 13, 17, 3, 3, 2, 2, 0, 0, 0, 0, 1, 1, 1, 0},    /* ceil_mode (SqueezeNet) */
    {"MaxPool", 4, 9, 10, 2, 3, 1, 2, 1, 0, 0, 2, 2, 1, 0, 0},     /* dilation, asymmetric pads */
    {"AveragePool", 4, 9, 11, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0}, /* pads not counted */
    {"AveragePool", 4, 9, 11, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1}, /* count_include_pad */
    {"AveragePool", 2, 8, 7, 2, 2, 2, 2, 0, 0, 1, 1, 1, 1, 1, 1},  /* ceil_mode overhang + pads */
    {"MaxPool", 3, 6, 6, 7, 7, 1, 1, 3, 3, 3, 3, 1, 1, 0, 0},      /* window wider than the input */
};

static int pool_out(int n, int k, int s, int d, int p0, int p1, int ceil_mode) {
    int span = n + p0 + p1 - d * (k - 1) - 1, o = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
    if (ceil_mode && (o - 1) * s >= n + p0) o--;
    return o;
}

static void check_pool(const pool_case *c, const fc_kernels *k, const char *dir, int idx) {
    const int N = 3;
    int oh = pool_out(c->h, c->kh, c->sh, c->dh, c->pt, c->pb, c->ceil);
    int ow = pool_out(c->w, c->kw, c->sw, c->dw, c->pl, c->pr, c->ceil);
    char path[512];
    snprintf(path, sizeof path, "%s/pool%d.onnx", dir, idx);
    ob_model *m = ob_new(13);
    ob_input(m, "x", -1, c->c, c->h, c->w);
    ob_output(m, "y");
    int n = ob_node(m, c->op, "pool", "x", "y");
    int64_t ks[2] = {c->kh, c->kw}, st[2] = {c->sh, c->sw}, pads[4] = {c->pt, c->pl, c->pb, c->pr};
    int64_t dil[2] = {c->dh, c->dw};
    ob_attr_ints(m, n, "kernel_shape", 2, ks);
    ob_attr_ints(m, n, "strides", 2, st);
    ob_attr_ints(m, n, "pads", 4, pads);
    if (c->dh > 1 || c->dw > 1) ob_attr_ints(m, n, "dilations", 2, dil);
    if (c->ceil) ob_attr_int(m, n, "ceil_mode", 1);
    if (c->include_pad) ob_attr_int(m, n, "count_include_pad", 1);
    REQUIRE(ob_write(m, path) == 0, "cannot write %s", path);
    size_t nx = (size_t)N * c->c * c->h * c->w, per = (size_t)c->c * oh * ow;
    unsigned seed = 99u + (unsigned)idx;
    float *x = malloc(nx * sizeof(float));
    for (size_t i = 0; i < nx; i++) x[i] = frand(&seed);
    int64_t count = 0, count1 = 0;
    float *y = run(path, k, N, x, &count), *y1 = run(path, k, 1, x + nx / N, &count1);
    unlink(path);
    if (!y || !y1 || count != (int64_t)(N * per)) {
        CHECK(0, "%s %d: no or wrong-sized output", c->op, idx);
        free(x), free(y), free(y1);
        return;
    }
    int bad = 0, is_max = !strcmp(c->op, "MaxPool");
    for (int img = 0; img < N; img++)
        for (int ch = 0; ch < c->c; ch++)
            for (int oy = 0; oy < oh; oy++)
                for (int ox = 0; ox < ow; ox++) {
                    double acc = is_max ? -INFINITY : 0;
                    int cnt = 0;
                    for (int i = 0; i < c->kh; i++)
                        for (int j = 0; j < c->kw; j++) {
                            int iy = oy * c->sh - c->pt + i * c->dh, ix = ox * c->sw - c->pl + j * c->dw;
                            if (iy < 0 || iy >= c->h || ix < 0 || ix >= c->w) {
                                if (c->include_pad && iy < c->h + c->pb && ix < c->w + c->pr) cnt++;
                                continue;
                            }
                            double v = x[(((size_t)img * c->c + ch) * c->h + iy) * c->w + ix];
                            acc = is_max ? (v > acc ? v : acc) : acc + v;
                            cnt++;
                        }
                    double want = is_max ? acc : (cnt ? acc / cnt : 0);
                    float got = y[(size_t)img * per + ((size_t)ch * oh + oy) * ow + ox];
                    bad += !(fabs(got - want) <= 1e-6 * (1 + fabs(want)));
                }
    CHECK(bad == 0, "%s case %d (%s): %d wrong outputs", c->op, idx, k->name, bad);
    CHECK(memcmp(y1, y + per, per * sizeof(float)) == 0, "%s case %d: image 1 alone differs", c->op, idx);
    free(x), free(y), free(y1);
}

/* GlobalAveragePool / GlobalMaxPool over planes of awkward sizes (vector partial sums and tails):
 * the mean within float rounding of the double one, the max exact; image 1 alone = in a batch. */
static void check_global(const char *op, int c, int h, int w, const char *dir) {
    const int N = 3;
    size_t per = (size_t)c * h * w, nx = N * per;
    float *x = malloc(nx * sizeof(float));
    unsigned seed = 555u + (unsigned)(h * w);
    for (size_t i = 0; i < nx; i++) x[i] = frand(&seed) + 0.25f;
    char path[512];
    snprintf(path, sizeof path, "%s/global.onnx", dir);
    ob_model *m = ob_new(13);
    ob_input(m, "x", -1, c, h, w);
    ob_output(m, "y");
    ob_node(m, op, "pool", "x", "y");
    CHECK(ob_write(m, path) == 0, "cannot write %s", path);
    int64_t count = 0, count1 = 0;
    float *y = run(path, fc_kernels_best(), N, x, &count), *y1 = run(path, fc_kernels_best(), 1, x + per, &count1);
    if (y && y1 && count == N * c && count1 == c) {
        int bad = 0, is_max = !strcmp(op, "GlobalMaxPool");
        for (int p = 0; p < N * c; p++) {
            double s = 0, mx = -INFINITY;
            for (int i = 0; i < h * w; i++) s += x[(size_t)p * h * w + i], mx = fmax(mx, x[(size_t)p * h * w + i]);
            double want = is_max ? mx : s / (h * w);
            bad += is_max ? y[p] != (float)want : !(fabs(y[p] - want) <= 1e-6 * (1 + fabs(want)));
        }
        CHECK(bad == 0, "%s %dx%dx%d: %d wrong outputs", op, c, h, w, bad);
        CHECK(memcmp(y1, y + c, (size_t)c * sizeof(float)) == 0, "%s %dx%dx%d: image 1 alone differs", op, c, h, w);
    } else {
        CHECK(0, "%s %dx%dx%d: no output", op, c, h, w);
    }
    free(x), free(y), free(y1);
    unlink(path);
}

static void all_cases(const char *isa) {
    const fc_kernels *k = fc_kernels_by_name(isa);
    if (!k) SKIP("kernel table not supported by this CPU");
    const char *dir = fc_test_tmpdir();
    for (size_t i = 0; i < sizeof CASES / sizeof *CASES; i++) {
        check_case(&CASES[i], k, dir, (int)i);
        char path[512];
        snprintf(path, sizeof path, "%s/conv%d.onnx", dir, (int)i);
        unlink(path);
    }
    for (size_t i = 0; i < sizeof POOLS / sizeof *POOLS; i++) check_pool(&POOLS[i], k, dir, (int)i);
    static const int sizes[][2] = {{1, 1}, {3, 5}, {4, 4}, {1, 17}, {7, 7}, {112, 112}};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        check_global("GlobalAveragePool", 6, sizes[i][0], sizes[i][1], dir);
        check_global("GlobalMaxPool", 6, sizes[i][0], sizes[i][1], dir);
    }
}

static void test_conv_scalar(void) { all_cases("scalar"); }
static void test_conv_avx2(void) { all_cases("avx2"); }
static void test_conv_avx512(void) { all_cases("avx512"); }

int main(void) {
    RUN(test_conv_scalar);
    RUN(test_conv_avx2);
    RUN(test_conv_avx512);
    return check_done();
}
