/* A Conv's output written over its fused residual operand when that operand dies there
 * (fc_op_def.residual_in_place, plan.c): x -> 1x1 Conv + Relu -> a; a -> 1x1 Conv -> b; b -> Conv T
 * -> Add(., a) -> y -> 1x1 Conv + Relu -> z -> 1x1 Conv -> out, where T takes each path of ops/conv.c: direct 1x1 on a large plane and on a
 * small one (columns across images, panels straddling two images), im2col (5x5, dilated 3x3),
 * Winograd (3x3, 16 channels or more), depthwise (added after the whole plane: never in place),
 * and a squeeze-and-excitation-scaled 1x1 projection (ops/conv_scaled.c) on both of its ways.
 * Each model runs on every kernel table, 3 images, 2 threads, with every layer on both threads, with
 * the batch split between them, and split with the image-by-image prefix (which then runs T), and must
 * give the bits of the same model with `a` also requested as an output (so that it lives on and
 * nothing shares its storage); the step reports in_place exactly when expected.
 * Not here: the convolution arithmetic (test_conv.c), the kernels (test_kernels.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/model.h"
#include "engine/ops/conv_prim.h"
#include "tests/support/check.h"
#include "tests/support/onnx_build.h"
#include "tests/support/tmpdir.h"

enum { N = 3 };

typedef struct target {
    const char *name;
    int c, hw;        /* channels and plane (c x hw x hw throughout) */
    int k, dil, dw;   /* T: k x k, dilation, depthwise */
    int se;           /* T is a 1x1 projection of b scaled by a squeeze-and-excitation gate of b
                         (fused into one channel-scaled Conv step, ops/conv_scaled.c) */
    int in_place;     /* expected */
} target;

static const target TARGETS[] = {
    {"direct 1x1, 24x24 plane", 24, 24, 1, 1, 0, 0, 1},
    {"direct 1x1, 7x7 plane (columns across images)", 40, 7, 1, 1, 0, 0, 1},
    {"direct 1x1, 7x7 plane, K over the GEMM's block (sums of straddling panels kept)", 200, 7, 1, 1, 0, 0, 1},
    {"im2col 3x3 dilated, K over the GEMM's block", 40, 9, 3, 2, 0, 0, 1},
    {"im2col 5x5", 12, 13, 5, 1, 0, 0, 1},
    {"im2col 3x3 dilated", 20, 9, 3, 2, 0, 0, 1},
    {"Winograd 3x3", 16, 11, 3, 1, 0, 0, 1},
    {"Winograd 5x5 (four 3x3 sub-kernels)", 16, 11, 5, 1, 0, 0, 1},
    {"Winograd 3x3, 7x7 plane", 32, 7, 3, 1, 0, 0, 1},
    {"depthwise 3x3", 24, 10, 3, 1, 1, 0, 0},
    {"SE-scaled 1x1, 7x7 plane (gate gathered with the columns)", 24, 7, 1, 1, 0, 1, 1},
    {"SE-scaled 1x1, 24x24 plane (gate in the weights)", 24, 24, 1, 1, 0, 1, 1},
};

static float frand(unsigned *s) {
    *s = *s * 1103515245u + 12345u;
    return (float)((*s >> 8) & 0xFFFF) / 32768.0f - 1.0f;
}

static void conv(ob_model *m, const char *name, const char *in, const char *out, int cin, int cout, int k,
                 int dil, int group, unsigned *seed) {
    char w[64], b[64], inputs[256];
    snprintf(w, sizeof w, "%s_w", name);
    snprintf(b, sizeof b, "%s_b", name);
    int64_t wd[4] = {cout, cin / group, k, k}, bd[1] = {cout};
    size_t nw = (size_t)cout * (cin / group) * k * k;
    float *wv = malloc(nw * sizeof *wv), *bv = malloc((size_t)cout * sizeof *bv);
    for (size_t i = 0; i < nw; i++) wv[i] = frand(seed) * 0.3f;
    for (int i = 0; i < cout; i++) bv[i] = frand(seed) * 0.5f;
    ob_init(m, w, 4, wd, wv);
    ob_init(m, b, 1, bd, bv);
    free(wv), free(bv);
    snprintf(inputs, sizeof inputs, "%s,%s,%s", in, w, b);
    int n = ob_node(m, "Conv", name, inputs, out);
    int64_t ks[2] = {k, k}, pads[4], dl[2] = {dil, dil};
    for (int i = 0; i < 4; i++) pads[i] = (int64_t)(k - 1) / 2 * dil;
    ob_attr_ints(m, n, "kernel_shape", 2, ks);
    ob_attr_ints(m, n, "pads", 4, pads);
    ob_attr_ints(m, n, "dilations", 2, dl);
    ob_attr_int(m, n, "group", group);
}

static void write_model(const target *t, const char *path) {
    unsigned seed = 77u + (unsigned)t->c * 31u + (unsigned)t->k;
    ob_model *m = ob_new(13);
    ob_input(m, "x", -1, 8, t->hw, t->hw);
    ob_output(m, "out");
    conv(m, "ca", "x", "a0", 8, t->c, 1, 1, 1, &seed);
    ob_node(m, "Relu", "relu", "a0", "a");
    conv(m, "cb", "a", "b", t->c, t->c, 1, 1, 1, &seed);
    if (t->se) { /* b * sigmoid(fc2(relu(fc1(mean(b))))) */
        ob_node(m, "GlobalAveragePool", "gap", "b", "gm");
        conv(m, "fc1", "gm", "g1", t->c, 4, 1, 1, 1, &seed);
        ob_node(m, "Relu", "grelu", "g1", "g2");
        conv(m, "fc2", "g2", "g3", 4, t->c, 1, 1, 1, &seed);
        ob_node(m, "Sigmoid", "gate", "g3", "g");
        ob_node(m, "Mul", "scale", "b,g", "bs");
    }
    conv(m, "ct", t->se ? "bs" : "b", "t", t->c, t->c, t->k, t->dil, t->dw ? t->c : 1, &seed);
    ob_node(m, "Add", "add", "t,a", "y");
    conv(m, "cz", "y", "z0", t->c, t->c, 1, 1, 1, &seed);
    ob_node(m, "Relu", "relu2", "z0", "z");
    conv(m, "cw", "z", "out", t->c, t->c, 1, 1, 1, &seed);
    CHECK(ob_write(m, path) == 0, "cannot write %s", path);
}

/* Runs the model on x with k; returns a copy of out (count floats) and sets *in_place to the number of
 * steps that report it, *steps to the step count. */
static float *run(const char *path, const fc_kernels *k, const char *const *outputs, int n_outputs,
                  const fc_session_options *so, const float *x, int64_t *count, int *in_place, int *steps) {
    fc_model_options mo = {.kernels = k, .outputs = outputs, .n_outputs = n_outputs};
    fc_model *m = NULL;
    fc_session *s = NULL;
    fc_error err = {0};
    float *y = NULL;
    *in_place = *steps = 0;
    if (fc_model_load(path, &mo, &m, &err) || fc_session_create(m, so, &s, &err) || fc_session_run(s, x, &err)) {
        CHECK(0, "%s: %s", path, err.msg);
    } else {
        const fc_tensor *t = fc_session_output(s, 0);
        *count = fc_tensor_count(t);
        y = malloc((size_t)*count * sizeof *y);
        memcpy(y, t->data, (size_t)*count * sizeof *y);
        fc_session_step_info st;
        *steps = fc_session_n_steps(s);
        for (int i = 0; i < *steps; i++)
            if (fc_session_step(s, i, &st) == 0) *in_place += st.in_place;
    }
    fc_session_free(s);
    fc_model_free(m);
    return y;
}

static void check_table(const char *isa) {
    const fc_kernels *k = fc_kernels_by_name(isa);
    if (!k) SKIP("CPU lacks this instruction set");
    for (size_t i = 0; i < sizeof TARGETS / sizeof *TARGETS; i++) {
        const target *t = &TARGETS[i];
        char name[64];
        snprintf(name, sizeof name, "in_place%zu.onnx", i);
        const char *path = fc_test_path(name);
        write_model(t, path);
        size_t nx = (size_t)N * 8 * t->hw * t->hw;
        float *x = malloc(nx * sizeof *x);
        unsigned seed = 5u + (unsigned)i;
        for (size_t j = 0; j < nx; j++) x[j] = frand(&seed);
        static const char *const only_y[] = {"out"}, *const y_and_a[] = {"out", "a"};
        static const char *const modes[] = {"layers", "split batch", "split batch, prefix"};
        for (int p = 0; p < 3; p++) {
            /* the prefix (any tensor of a byte or more per image): up to cz (z alone carries the
             * rest), T in it with its output not the cut */
            fc_session_options so = {.batch = N, .threads = 2, .split_batch = p > 0, .prefix_bytes = p == 2 ? 1 : -1};
            int64_t n1 = 0, n2 = 0;
            int ip1 = 0, ip2 = 0, st1 = 0, st2 = 0;
            float *got = run(path, k, only_y, 1, &so, x, &n1, &ip1, &st1);
            float *want = run(path, k, y_and_a, 2, &so, x, &n2, &ip2, &st2);
            /* the Relus, the Sigmoid and the Add fused into Convs, and the SE's Mul into T's step */
            int steps = t->se ? 8 : 5;
            CHECK(st1 == steps && st2 == steps, "%s %s: %d and %d steps, expected %d", isa, t->name, st1, st2, steps);
            if (got && want) {
                CHECK(n1 == n2 && memcmp(got, want, (size_t)n1 * sizeof *got) == 0,
                      "%s %s (%s): the output differs when T's residual's storage is reused", isa, t->name, modes[p]);
                CHECK(ip1 == t->in_place, "%s %s (%s): %d steps in place, expected %d", isa, t->name,
                      modes[p], ip1, t->in_place);
                CHECK(ip2 == 0, "%s %s: in place although the residual is requested", isa, t->name);
            }
            free(got), free(want);
        }
        free(x);
    }
}

static void test_scalar(void) { check_table("scalar"); }
static void test_avx2(void) { check_table("avx2"); }
static void test_avx512(void) { check_table("avx512"); }
/* packed B built one K block at a time even where a chunk's whole B fits (conv_prim.h) */
static void test_avx512_k_blocks(void) {
    size_t saved = fc_conv_whole_k_bytes;
    fc_conv_whole_k_bytes = 0;
    check_table("avx512");
    fc_conv_whole_k_bytes = saved;
}

int main(void) {
    RUN(test_scalar);
    RUN(test_avx2);
    RUN(test_avx512);
    RUN(test_avx512_k_blocks);
    return check_done();
}
