/* BatchNormalization [-> Relu] read only by a plain 1x1 Conv (DenseNet's norm -> relu -> conv,
 * graph_opt.c fc_opt_fuse_pre_norms): the Conv normalizes its columns as it packs them, so the two
 * steps disappear. Checked on every kernel table, against the formula in double, and bit for bit
 * against the same model with the Relu's (or the norm's) output also requested, which keeps the
 * steps: on planes whose GEMM columns span images (5x7) and on one image's columns (20x17), after a
 * Concat as in DenseNet, with a fused residual, and without the Relu. Not fused, and still right:
 * a padded 3x3 Conv (its zero padding is not normalized) and a norm whose output has another
 * reader. The bf16 table's models subsample their input at stride 8 first, so that their Convs
 * multiply bf16 pairs (checked: their results are not f32's). Not here: the affine_rows kernel
 * against its scalar twin (test_kernels.c). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/model.h"
#include "engine/ops/conv_prim.h"
#include "tests/support/check.h"
#include "tests/support/onnx_build.h"
#include "tests/support/run_once.h"
#include "tests/support/tmpdir.h"

enum { N = 2, CX = 200, CA = 7, COUT = CX }; /* CX: K over the GEMM's block (built block by block) */

typedef struct pre_case {
    const char *name;
    int h, w;
    int concat;   /* the norm reads Concat(x, conv0(x)) (CX + CA channels), else x */
    int relu;     /* a Relu between the norm and the Conv */
    int k3;       /* the Conv is 3x3 with padding 1: not fused */
    int residual; /* Add(conv, x) after the Conv (COUT == CX) */
    int shared;   /* the norm's output also feeds an output Add: not fused */
    int fused;    /* expected: the norm (and Relu) steps disappear */
} pre_case;

static const pre_case CASES[] = {
    {"concat, norm, relu, 1x1, 5x7 (columns across images)", 5, 7, 1, 1, 0, 0, 0, 1},
    {"norm, relu, 1x1, 20x17 (one image's columns)", 20, 17, 0, 1, 0, 0, 0, 1},
    {"concat, norm, 1x1 without relu, 18x18", 18, 18, 1, 0, 0, 0, 0, 1},
    {"norm, relu, 1x1, residual add, 6x6", 6, 6, 0, 1, 0, 1, 0, 1},
    {"norm, relu, 3x3 padded (not fused)", 6, 5, 0, 1, 1, 0, 0, 0},
    {"norm read twice (not fused)", 4, 5, 0, 1, 0, 0, 1, 0},
};

static float frand(unsigned *s) {
    *s = *s * 1103515245u + 12345u;
    return (float)((*s >> 8) & 0xFFFF) / 8192.0f - 4.0f;
}

typedef struct params {
    float w0[CA * CX], wc[COUT * (CX + CA) * 9], bc[COUT];
    float sc[CX + CA], b[CX + CA], mean[CX + CA], var[CX + CA];
} params;

/* y (N, COUT, h, w) by the definition, in double (the not-fused second reader excluded), and mag:
 * the sum of the magnitudes of the conv's terms (the scale of its rounding error). */
static void reference(const pre_case *c, const params *p, const float *x, double *y, double *mag) {
    int P = c->h * c->w, C = CX + (c->concat ? CA : 0), ks = c->k3 ? 3 : 1;
    double *t = malloc(sizeof(double) * C * P);
    for (int n = 0; n < N; n++) {
        const float *xn = x + (size_t)n * CX * P;
        for (int ch = 0; ch < C; ch++)
            for (int q = 0; q < P; q++) {
                double v = 0;
                if (ch < CX) v = xn[ch * P + q];
                else
                    for (int i = 0; i < CX; i++) v += (double)p->w0[(ch - CX) * CX + i] * xn[i * P + q];
                v = (v - p->mean[ch]) / sqrt((double)p->var[ch] + 1e-3) * p->sc[ch] + p->b[ch];
                t[ch * P + q] = c->relu && v < 0 ? 0 : v;
            }
        for (int co = 0; co < COUT; co++)
            for (int oy = 0; oy < c->h; oy++)
                for (int ox = 0; ox < c->w; ox++) {
                    double v = p->bc[co], m = fabs(v);
                    for (int ch = 0; ch < C; ch++)
                        for (int ky = 0; ky < ks; ky++)
                            for (int kx = 0; kx < ks; kx++) {
                                int iy = oy + ky - ks / 2, ix = ox + kx - ks / 2;
                                if (iy < 0 || iy >= c->h || ix < 0 || ix >= c->w) continue;
                                double term = (double)p->wc[((co * C + ch) * ks + ky) * ks + kx] * t[ch * P + iy * c->w + ix];
                                v += term, m += fabs(term);
                            }
                    if (c->residual) v += xn[co * P + oy * c->w + ox], m += fabs(xn[co * P + oy * c->w + ox]);
                    y[((size_t)n * COUT + co) * P + oy * c->w + ox] = v;
                    mag[((size_t)n * COUT + co) * P + oy * c->w + ox] = m;
                }
    }
    free(t);
}

/* sub > 1: the model's input is x0, (h - 1) * sub + 1 by (w - 1) * sub + 1, and x its pixels at
 * multiples of sub (a 1x1 MaxPool at stride sub) */
static void build(const pre_case *c, const params *p, int sub, const char *path) {
    int C = CX + (c->concat ? CA : 0), ks = c->k3 ? 3 : 1;
    ob_model *m = ob_new(13);
    ob_input(m, sub > 1 ? "x0" : "x", -1, CX, (c->h - 1) * sub + 1, (c->w - 1) * sub + 1);
    ob_output(m, "y");
    if (sub > 1) {
        int pn = ob_node(m, "MaxPool", "sub", "x0", "x");
        ob_attr_ints(m, pn, "kernel_shape", 2, (const int64_t[]){1, 1});
        ob_attr_ints(m, pn, "strides", 2, (const int64_t[]){sub, sub});
    }
    if (c->shared) ob_output(m, "twice");
    int64_t d0[4] = {CA, CX, 1, 1}, dc[4] = {COUT, C, ks, ks}, db[1] = {COUT}, dn[1] = {C};
    ob_init(m, "w0", 4, d0, p->w0);
    ob_init(m, "wc", 4, dc, p->wc);
    ob_init(m, "bc", 1, db, p->bc);
    ob_init(m, "sc", 1, dn, p->sc);
    ob_init(m, "b", 1, dn, p->b);
    ob_init(m, "mean", 1, dn, p->mean);
    ob_init(m, "var", 1, dn, p->var);
    if (c->concat) {
        ob_node(m, "Conv", "conv0", "x,w0", "a");
        int cn = ob_node(m, "Concat", "cat", "x,a", "xc");
        ob_attr_int(m, cn, "axis", 1);
    }
    int bn = ob_node(m, "BatchNormalization", "norm", c->concat ? "xc,sc,b,mean,var" : "x,sc,b,mean,var", "t");
    ob_attr_float(m, bn, "epsilon", 1e-3f);
    if (c->relu) ob_node(m, "Relu", "relu", "t", "r");
    int cv = ob_node(m, "Conv", "conv", c->relu ? "r,wc,bc" : "t,wc,bc", c->residual ? "z" : "y");
    if (c->k3) ob_attr_ints(m, cv, "pads", 4, (const int64_t[]){1, 1, 1, 1});
    if (c->residual) ob_node(m, "Add", "add", "z,x", "y");
    if (c->shared) ob_node(m, "Add", "second", "t,t", "twice");
    CHECK(ob_write(m, path) == 0, "cannot write %s", path);
}

/* x (N, CX, h, w) spread to x0 at multiples of sub, with other values between */
static float *spread(const pre_case *c, const float *x, int sub, unsigned *seed) {
    int H = (c->h - 1) * sub + 1, W = (c->w - 1) * sub + 1;
    float *x0 = malloc(sizeof(float) * N * CX * H * W);
    for (int i = 0; i < N * CX * H * W; i++) x0[i] = frand(seed);
    for (int nc = 0; nc < N * CX; nc++)
        for (int y = 0; y < c->h; y++)
            for (int q = 0; q < c->w; q++)
                x0[((size_t)nc * H + y * sub) * W + q * sub] = x[((size_t)nc * c->h + y) * c->w + q];
    return x0;
}

/* tol: relative to 1 + |formula|; sub: the model subsamples its input first (build) */
static void check_case(const pre_case *c, const fc_kernels *k, int sub, const char *dir, double tol) {
    unsigned seed = 7u + (unsigned)(c - CASES); /* other norm parameters per case */
    int P = c->h * c->w, C = CX + (c->concat ? CA : 0);
    params p;
    for (size_t i = 0; i < sizeof p.w0 / sizeof *p.w0; i++) p.w0[i] = frand(&seed) * 0.2f;
    for (size_t i = 0; i < sizeof p.wc / sizeof *p.wc; i++) p.wc[i] = frand(&seed) * 0.1f;
    for (int i = 0; i < COUT; i++) p.bc[i] = frand(&seed) * 0.3f;
    for (int i = 0; i < C; i++) {
        p.sc[i] = frand(&seed) * 0.5f, p.b[i] = frand(&seed) * 0.5f, p.mean[i] = frand(&seed) * 0.5f;
        p.var[i] = fabsf(frand(&seed) * 0.1f) + 0.05f;
    }
    float *x = malloc(sizeof(float) * N * CX * P);
    double *want = malloc(sizeof(double) * N * COUT * P), *mag = malloc(sizeof(double) * N * COUT * P);
    for (int i = 0; i < N * CX * P; i++) x[i] = frand(&seed);
    reference(c, &p, x, want, mag);
    char path[512];
    snprintf(path, sizeof path, "%s/pre_norm.onnx", dir);
    build(c, &p, sub, path);
    float *x0 = sub > 1 ? spread(c, x, sub, &seed) : x;
    /* requesting the Relu's (or, without one, the norm's) output as well keeps both steps */
    const char *keep[3] = {"y", c->relu ? "r" : "t", "twice"};
    fc_model_options mo = {.kernels = k}, mo_kept = {.kernels = k, .outputs = keep, .n_outputs = 2 + c->shared};
    fc_session_options so = {.batch = N, .threads = 2};
    int64_t count = 0, count1 = 0;
    int steps = 0, steps1 = 0;
    float *y = run_once(path, &mo, &so, x0, &count, &steps), *y1 = run_once(path, &mo_kept, &so, x0, &count1, &steps1);
    if (x0 != x) free(x0);
    unlink(path);
    if (y && y1 && count == N * COUT * P && count1 == count) {
        int bad = 0, rounded = 0; /* rounded: beyond f32's rounding */
        for (int i = 0; i < N * COUT * P; i++) {
            bad += !(fabs(y[i] - want[i]) <= tol * (1 + mag[i]));
            rounded += !(fabs(y[i] - want[i]) <= 1e-5 * (1 + mag[i]));
        }
        CHECK(bad == 0, "%s (%s): %d outputs off the formula", c->name, k->name, bad);
        /* (a 3x3 conv takes the f32 Winograd path on the bf16 table too, ops/conv.c) */
        CHECK(sub == 1 || c->k3 || rounded > 0, "%s (%s): f32's results: no bf16 products", c->name, k->name);
        int kept = 1 + c->relu; /* the norm and the Relu steps */
        CHECK(steps1 - steps == (c->fused ? kept : 0), "%s (%s): %d steps, %d with the norm's steps kept", c->name,
              k->name, steps, steps1);
        CHECK(!memcmp(y, y1, (size_t)count * sizeof *y), "%s (%s): the fused Conv's bits differ from norm, relu, conv",
              c->name, k->name);
    } else {
        CHECK(0, "%s (%s): no output", c->name, k->name);
    }
    free(y), free(y1);
    free(want), free(mag);
    free(x);
}

static void test_pre_norm(void) {
    const char *dir = fc_test_tmpdir();
    const char *isa[] = {"scalar", "avx2", "avx512"};
    for (int i = 0; i < 3; i++) {
        const fc_kernels *k = fc_kernels_by_name(isa[i]);
        for (size_t j = 0; k && j < sizeof CASES / sizeof *CASES; j++) check_case(&CASES[j], k, 1, dir, 1e-5);
    }
    /* bf16 products (where the CPU has them): the formula within bf16's rounding, the unfused bits;
     * the input subsampled at stride 8 first, where the bf16 table multiplies bf16 pairs (before it,
     * engine/precision.h keeps f32 products) */
    const fc_kernels *bf = fc_kernels_bf16();
    for (size_t j = 0; bf && j < sizeof CASES / sizeof *CASES; j++) check_case(&CASES[j], bf, 8, dir, 2e-2);
}

/* the same with packed B built one K block at a time (CX is over the GEMM's block; conv_prim.h) */
static void test_pre_norm_k_blocks(void) {
    size_t saved = fc_conv_whole_k_bytes;
    fc_conv_whole_k_bytes = 0;
    test_pre_norm();
    fc_conv_whole_k_bytes = saved;
}

int main(void) {
    RUN(test_pre_norm);
    RUN(test_pre_norm_k_blocks);
    return check_done();
}
