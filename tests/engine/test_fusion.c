/* Gated activations fused into a Conv's epilogue (graph_opt.c fc_opt_fuse_epilogues): x*sigmoid(x)
 * (EfficientNet's SiLU) and x*hardsigmoid(x) with alpha 1/6, beta 1/2 (HardSwish as PyTorch exports
 * it) become one step whose output matches the double-precision formula; a HardSigmoid with other
 * parameters stays three steps and still computes its own formula. Every kernel table.
 * Zero Pad -> AveragePool (Inception's pooling branches; fc_opt_fuse_pads) becomes one step that
 * averages over the padded window; a Pad by another value, or before a padded pool, stays two steps.
 * Squeeze-and-excitation (fc_opt_fuse_se_scale): GlobalAveragePool -> 1x1 Conv -> Relu -> 1x1 Conv
 * -> Sigmoid or HardSigmoid -> Mul(x, gate) -> 1x1 Conv [+ residual] loses its Mul step, on a
 * plane that folds the gate into the weights and on one that scales x into scratch.
 * Not here: other fusions (test_conv.c: Relu, residual Add; test_conv_block.c: depthwise blocks). */
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

enum { N = 2, CIN = 5, COUT = 7, H = 6, W = 9 };

typedef struct gate_case {
    const char *name;
    const char *op;      /* Sigmoid or HardSigmoid */
    float alpha, beta;   /* HardSigmoid's */
    int fused;           /* expected to become one step */
} gate_case;

static const gate_case CASES[] = {
    {"x*sigmoid(x) (SiLU)", "Sigmoid", 0, 0, 1},
    {"x*hardsigmoid(x), 1/6, 1/2 (HardSwish)", "HardSigmoid", 1.0f / 6.0f, 0.5f, 1},
    {"x*hardsigmoid(x), 0.2, 0.5 (not HardSwish)", "HardSigmoid", 0.2f, 0.5f, 0},
};

static float frand(unsigned *s) {
    *s = *s * 1103515245u + 12345u;
    return (float)((*s >> 8) & 0xFFFF) / 8192.0f - 4.0f;
}

static double gate(const gate_case *c, double v) {
    if (!strcmp(c->op, "Sigmoid")) return 1.0 / (1.0 + exp(-v));
    double h = c->alpha * v + c->beta;
    return h < 0 ? 0 : h > 1 ? 1 : h;
}

/* Writes m to path, runs batch N of x on two threads with kernels k (see run_once), removes the file. */
static float *run_model(ob_model *m, const char *path, const fc_kernels *k, const float *x, int64_t *count,
                        int *steps) {
    CHECK(ob_write(m, path) == 0, "cannot write %s", path);
    fc_model_options mo = {.kernels = k};
    fc_session_options so = {.batch = N, .threads = 2};
    float *y = run_once(path, &mo, &so, x, count, steps);
    unlink(path);
    return y;
}

static void check_case(const gate_case *c, const fc_kernels *k, const char *dir) {
    unsigned seed = 4242u;
    float wt[COUT * CIN], bias[COUT], *x = malloc(sizeof(float) * N * CIN * H * W);
    for (int i = 0; i < COUT * CIN; i++) wt[i] = frand(&seed) * 0.3f;
    for (int i = 0; i < COUT; i++) bias[i] = frand(&seed) * 0.5f;
    for (int i = 0; i < N * CIN * H * W; i++) x[i] = frand(&seed);
    char path[512];
    snprintf(path, sizeof path, "%s/gate.onnx", dir);
    ob_model *m = ob_new(13);
    ob_input(m, "x", -1, CIN, H, W);
    ob_output(m, "y");
    int64_t wd[4] = {COUT, CIN, 1, 1}, bd[1] = {COUT};
    ob_init(m, "w", 4, wd, wt);
    ob_init(m, "b", 1, bd, bias);
    ob_node(m, "Conv", "conv", "x,w,b", "c");
    int g = ob_node(m, c->op, "gate", "c", "s");
    if (!strcmp(c->op, "HardSigmoid")) {
        ob_attr_float(m, g, "alpha", c->alpha);
        ob_attr_float(m, g, "beta", c->beta);
    }
    ob_node(m, "Mul", "mul", "c,s", "y");
    int64_t count = 0;
    int steps = 0;
    float *y = run_model(m, path, k, x, &count, &steps);
    if (y && count == N * COUT * H * W) {
        int bad = 0;
        for (int n = 0; n < N; n++)
            for (int co = 0; co < COUT; co++)
                for (int p = 0; p < H * W; p++) {
                    double v = bias[co];
                    for (int ci = 0; ci < CIN; ci++) v += (double)wt[co * CIN + ci] * x[(n * CIN + ci) * H * W + p];
                    double want = v * gate(c, v);
                    bad += !(fabs(y[(n * COUT + co) * H * W + p] - want) <= 1e-5 * (1 + fabs(want)));
                }
        CHECK(bad == 0, "%s (%s): %d outputs off the formula", c->name, k->name, bad);
        CHECK(steps == (c->fused ? 1 : 3), "%s (%s): %d steps, want %d", c->name, k->name, steps,
              c->fused ? 1 : 3);
    } else {
        CHECK(0, "%s (%s): no output", c->name, k->name);
    }
    free(y);
    free(x);
}

static void all_cases(const char *isa) {
    const fc_kernels *k = fc_kernels_by_name(isa);
    if (!k) SKIP("kernel table not supported by this CPU");
    const char *dir = fc_test_tmpdir();
    for (size_t i = 0; i < sizeof CASES / sizeof *CASES; i++) check_case(&CASES[i], k, dir);
}

static void test_gates_scalar(void) { all_cases("scalar"); }
static void test_gates_avx2(void) { all_cases("avx2"); }
static void test_gates_avx512(void) { all_cases("avx512"); }

typedef struct pad_case {
    const char *name;
    int64_t pads[4];   /* top, left, bottom, right, by zeros (or by value) */
    float value;
    int pool_pad;      /* the pool's own pads, all sides */
    int stride;
    int fused;
} pad_case;

static const pad_case PADS[] = {
    {"Pad 1 -> AveragePool 3x3 (Inception)", {1, 1, 1, 1}, 0.f, 0, 1, 1},
    {"Pad 0,1,2,1 -> AveragePool 3x3 stride 2", {0, 1, 2, 1}, 0.f, 0, 2, 1},
    {"Pad by 0.5 -> AveragePool (stays)", {1, 1, 1, 1}, 0.5f, 0, 1, 0},
    {"Pad -> padded AveragePool (stays)", {1, 1, 1, 1}, 0.f, 1, 1, 0},
};

/* Output (n, c, oy, ox) by the definition: the Pad's tensor, then the pool's own zero pads (counted:
 * count_include_pad = 1), the mean over the 3x3 window in double. */
static double pad_pool_ref(const pad_case *c, const float *x, int n, int ch, int oy, int ox) {
    int PH = H + (int)(c->pads[0] + c->pads[2]), PW = W + (int)(c->pads[1] + c->pads[3]);
    double s = 0;
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
            int py = oy * c->stride - c->pool_pad + i, px = ox * c->stride - c->pool_pad + j;
            if (py < 0 || px < 0 || py >= PH || px >= PW) continue;
            int y = py - (int)c->pads[0], xx = px - (int)c->pads[1];
            s += y < 0 || xx < 0 || y >= H || xx >= W ? c->value : x[((n * CIN + ch) * H + y) * W + xx];
        }
    return s / 9;
}

static void check_pad(const pad_case *c, const fc_kernels *k, const char *dir) {
    unsigned seed = 777u;
    float *x = malloc(sizeof(float) * N * CIN * H * W);
    for (int i = 0; i < N * CIN * H * W; i++) x[i] = frand(&seed);
    char path[512];
    snprintf(path, sizeof path, "%s/padpool.onnx", dir);
    ob_model *m = ob_new(13);
    ob_input(m, "x", -1, CIN, H, W);
    ob_output(m, "y");
    int64_t pads[8] = {0, 0, c->pads[0], c->pads[1], 0, 0, c->pads[2], c->pads[3]}, one = 1;
    ob_init_i64(m, "pads", 8, pads);
    ob_init(m, "value", 1, &one, &c->value);
    ob_node(m, "Pad", "pad", "x,pads,value", "p");
    int a = ob_node(m, "AveragePool", "pool", "p", "y");
    int64_t ks[2] = {3, 3}, st[2] = {c->stride, c->stride}, pp[4] = {c->pool_pad, c->pool_pad, c->pool_pad, c->pool_pad};
    ob_attr_ints(m, a, "kernel_shape", 2, ks);
    ob_attr_ints(m, a, "strides", 2, st);
    ob_attr_ints(m, a, "pads", 4, pp);
    ob_attr_int(m, a, "count_include_pad", 1);
    int OH = (H + (int)(c->pads[0] + c->pads[2]) + 2 * c->pool_pad - 3) / c->stride + 1;
    int OW = (W + (int)(c->pads[1] + c->pads[3]) + 2 * c->pool_pad - 3) / c->stride + 1;
    int64_t count = 0;
    int steps = 0;
    float *y = run_model(m, path, k, x, &count, &steps);
    if (y && count == N * CIN * OH * OW) {
        int bad = 0;
        for (int n = 0; n < N; n++)
            for (int ch = 0; ch < CIN; ch++)
                for (int oy = 0; oy < OH; oy++)
                    for (int ox = 0; ox < OW; ox++) {
                        double want = pad_pool_ref(c, x, n, ch, oy, ox);
                        bad += !(fabs(y[((n * CIN + ch) * OH + oy) * OW + ox] - want) <= 1e-6 * (1 + fabs(want)));
                    }
        CHECK(bad == 0, "%s (%s): %d outputs off the formula", c->name, k->name, bad);
        CHECK(steps == (c->fused ? 1 : 2), "%s (%s): %d steps, want %d", c->name, k->name, steps,
              c->fused ? 1 : 2);
    } else {
        CHECK(0, "%s (%s): no output (%lld values, want %d)", c->name, k->name, (long long)count,
              N * CIN * OH * OW);
    }
    free(y);
    free(x);
}

static void test_pad_pool(void) {
    const char *dir = fc_test_tmpdir();
    for (size_t i = 0; i < sizeof PADS / sizeof *PADS; i++) check_pad(&PADS[i], fc_kernels_best(), dir);
}

enum { SE_C = 200, SE_R = 3, SE_OUT = 200 }; /* SE_C: K over the GEMM's block */

typedef struct se_case {
    const char *name;
    int h, w;        /* plane: >= FC_CONV_FLAT_P (320) pixels takes the per-image weights path */
    int hard;        /* HardSigmoid(1/6, 1/2) gate, else Sigmoid */
    int residual;    /* + x after the projection */
} se_case;

static const se_case SES[] = {
    {"SE, Sigmoid, 18x18 (weights path)", 18, 18, 0, 0},
    {"SE, HardSigmoid, 20x17, residual (weights path)", 20, 17, 1, 1},
    {"SE, Sigmoid, 5x7, residual (scaled copy)", 5, 7, 0, 1},
    {"SE, HardSigmoid, 14x14 (scaled copy)", 14, 14, 1, 0},
};

/* y (N, SE_OUT, h, w) of the block by the definition, in double, and mag: the sum of the magnitudes
 * of the projection's terms (the scale of its rounding error). */
static void se_ref(const se_case *c, const float *x, const float *w1, const float *w2, const float *wp,
                   const float *bp, double *y, double *mag) {
    int P = c->h * c->w;
    for (int n = 0; n < N; n++) {
        double m[SE_C], r[SE_R], g[SE_C];
        for (int ch = 0; ch < SE_C; ch++) {
            m[ch] = 0;
            for (int p = 0; p < P; p++) m[ch] += x[(n * SE_C + ch) * P + p];
            m[ch] /= P;
        }
        for (int j = 0; j < SE_R; j++) {
            r[j] = 0;
            for (int ch = 0; ch < SE_C; ch++) r[j] += (double)w1[j * SE_C + ch] * m[ch];
            r[j] = r[j] > 0 ? r[j] : 0;
        }
        for (int ch = 0; ch < SE_C; ch++) {
            double v = 0;
            for (int j = 0; j < SE_R; j++) v += (double)w2[ch * SE_R + j] * r[j];
            g[ch] = c->hard ? (v / 6 + 0.5 < 0 ? 0 : v / 6 + 0.5 > 1 ? 1 : v / 6 + 0.5) : 1 / (1 + exp(-v));
        }
        for (int co = 0; co < SE_OUT; co++)
            for (int p = 0; p < P; p++) {
                double v = bp[co], m = fabs(v);
                for (int ch = 0; ch < SE_C; ch++) {
                    double term = (double)wp[co * SE_C + ch] * g[ch] * x[(n * SE_C + ch) * P + p];
                    v += term, m += fabs(term);
                }
                if (c->residual) v += x[(n * SE_C + co) * P + p], m += fabs(x[(n * SE_C + co) * P + p]);
                y[(n * SE_OUT + co) * P + p] = v;
                mag[(n * SE_OUT + co) * P + p] = m;
            }
    }
}

static void check_se(const se_case *c, const fc_kernels *k, const char *dir) {
    unsigned seed = 99u;
    int P = c->h * c->w;
    float w1[SE_R * SE_C], w2[SE_C * SE_R], wp[SE_OUT * SE_C], bp[SE_OUT];
    float *x = malloc(sizeof(float) * N * SE_C * P);
    double *want = malloc(sizeof(double) * N * SE_OUT * P), *mag = malloc(sizeof(double) * N * SE_OUT * P);
    for (int i = 0; i < SE_R * SE_C; i++) w1[i] = frand(&seed) * 0.3f, w2[i] = frand(&seed) * 0.3f;
    for (int i = 0; i < SE_OUT * SE_C; i++) wp[i] = frand(&seed) * 0.3f;
    for (int i = 0; i < SE_OUT; i++) bp[i] = frand(&seed) * 0.5f;
    for (int i = 0; i < N * SE_C * P; i++) x[i] = frand(&seed);
    se_ref(c, x, w1, w2, wp, bp, want, mag);
    char path[512];
    snprintf(path, sizeof path, "%s/se.onnx", dir);
    ob_model *m = ob_new(13);
    ob_input(m, "x", -1, SE_C, c->h, c->w);
    ob_output(m, "y");
    int64_t d1[4] = {SE_R, SE_C, 1, 1}, d2[4] = {SE_C, SE_R, 1, 1}, dp[4] = {SE_OUT, SE_C, 1, 1}, db[1] = {SE_OUT};
    ob_init(m, "w1", 4, d1, w1);
    ob_init(m, "w2", 4, d2, w2);
    ob_init(m, "wp", 4, dp, wp);
    ob_init(m, "bp", 1, db, bp);
    ob_node(m, "GlobalAveragePool", "gap", "x", "m");
    ob_node(m, "Conv", "fc1", "m,w1", "r0");
    ob_node(m, "Relu", "relu", "r0", "r");
    ob_node(m, "Conv", "fc2", "r,w2", "g0");
    int gn = ob_node(m, c->hard ? "HardSigmoid" : "Sigmoid", "gate", "g0", "g");
    if (c->hard) {
        ob_attr_float(m, gn, "alpha", 1.0f / 6.0f);
        ob_attr_float(m, gn, "beta", 0.5f);
    }
    ob_node(m, "Mul", "scale", "x,g", "xs");
    ob_node(m, "Conv", "proj", "xs,wp,bp", c->residual ? "p" : "y");
    if (c->residual) ob_node(m, "Add", "add", "p,x", "y");
    int64_t count = 0, count1 = 0;
    int steps = 0, steps1 = 0;
    CHECK(ob_write(m, path) == 0, "cannot write %s", path);
    /* with the Mul's output also requested, the Mul stays a step of its own: on the scaled-copy
     * planes (under FC_CONV_FLAT_P pixels) the scaled Conv must give its bits */
    const char *both[2] = {"y", "xs"};
    fc_model_options mo = {.kernels = k}, mo_mul = {.kernels = k, .outputs = both, .n_outputs = 2};
    fc_session_options so = {.batch = N, .threads = 2};
    float *y = run_once(path, &mo, &so, x, &count, &steps), *y1 = run_once(path, &mo_mul, &so, x, &count1, &steps1);
    unlink(path);
    if (y && y1 && count == N * SE_OUT * P && count1 == count) {
        int bad = 0;
        for (int i = 0; i < N * SE_OUT * P; i++) bad += !(fabs(y[i] - want[i]) <= 1e-5 * (1 + mag[i]));
        CHECK(bad == 0, "%s (%s): %d outputs off the formula", c->name, k->name, bad);
        CHECK(steps == 4, "%s (%s): %d steps, want 4 (pool, two Convs, the scaled Conv)", c->name, k->name, steps);
        /* (the weights path rounds (w s) x, not w (x s): the formula's tolerance only) */
        int weights = P >= FC_CONV_FLAT_P;
        CHECK(steps1 == 5 && (weights || !memcmp(y, y1, (size_t)count * sizeof *y)),
              "%s (%s): %d steps with the Mul kept; the scaled Conv's bits differ from Mul then Conv", c->name,
              k->name, steps1);
    } else {
        CHECK(0, "%s (%s): no output", c->name, k->name);
    }
    free(y), free(y1);
    free(want), free(mag);
    free(x);
}

static void test_se_scale(void) {
    const char *dir = fc_test_tmpdir();
    const char *isa[] = {"scalar", "avx2", "avx512"};
    for (int i = 0; i < 3; i++) {
        const fc_kernels *k = fc_kernels_by_name(isa[i]);
        for (size_t j = 0; k && j < sizeof SES / sizeof *SES; j++) check_se(&SES[j], k, dir);
    }
}

/* squeeze-and-excitation scaling with packed B built one K block at a time (SE_C is over the
 * GEMM's block; conv_prim.h) */
static void test_se_scale_k_blocks(void) {
    size_t saved = fc_conv_whole_k_bytes;
    fc_conv_whole_k_bytes = 0;
    test_se_scale();
    fc_conv_whole_k_bytes = saved;
}

int main(void) {
    RUN(test_pad_pool);
    RUN(test_se_scale);
    RUN(test_se_scale_k_blocks);
    RUN(test_gates_scalar);
    RUN(test_gates_avx2);
    RUN(test_gates_avx512);
    return check_done();
}
