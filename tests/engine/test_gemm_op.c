/* The Gemm and MatMul operators with constant weights (ops/gemm.c: the weights packed once as the
 * GEMM's B operand, the rows of the input as A, the bias and a fused activation on each output
 * row): Y = act(alpha * X * op(B) + beta * C) against the same sum in double, for transB 0 and 1,
 * alpha and beta other than 1, C of one value or one per output, a Relu and a HardSigmoid fused
 * after the node, and MatMul of a rank-3 input (its rows batched); sizes that are no multiple of
 * the kernels' tiles; 1 and 2 threads. Not here: the GEMM kernels (test_kernels.c). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "engine/model.h"
#include "tests/support/check.h"
#include "tests/support/onnx_build.h"
#include "tests/support/run_once.h"
#include "tests/support/tmpdir.h"

enum { N = 5, R = 3, K = 67, M = 45 }; /* batch, MatMul rows per item, reduction, outputs */

typedef struct gemm_case {
    const char *name;
    int trans_b, n_c; /* n_c: values of C (0: no C) */
    float alpha, beta;
    const char *act;  /* op after the Gemm ("" none) */
} gemm_case;

static float frand(unsigned *s) {
    *s = *s * 1103515245u + 12345u;
    return (float)((*s >> 8) & 0xFFFF) / 32768.0f - 1.0f;
}

static double act_of(const char *act, double v) {
    if (!act[0]) return v;
    if (act[0] == 'R') return v > 0 ? v : 0; /* Relu */
    v = 0.2 * v + 0.5;                       /* HardSigmoid (ONNX defaults) */
    return v < 0 ? 0 : v > 1 ? 1 : v;
}

/* Compares y (rows, M) with want; relative to the largest |want| of its row. */
static void compare(const char *what, int threads, const float *y, int64_t count, const double *want, int rows) {
    int bad = 0;
    double worst = 0;
    for (int r = 0; y && count == (int64_t)rows * M && r < rows; r++) {
        double scale = 1e-3;
        for (int m = 0; m < M; m++) scale = fmax(scale, fabs(want[r * M + m]));
        for (int m = 0; m < M; m++) {
            double d = fabs(y[r * M + m] - want[r * M + m]) / scale;
            worst = fmax(worst, d);
            bad += d > 1e-5;
        }
    }
    CHECK(y && count == (int64_t)rows * M && bad == 0, "%s, %d threads: %lld outputs, %d off by more than 1e-5 "
          "(worst %.2e)", what, threads, (long long)count, bad, worst);
}

static void check_gemm(const gemm_case *gc, const float *x, const float *w, const float *c, const char *dir) {
    double want[N * M];
    for (int r = 0; r < N; r++)
        for (int m = 0; m < M; m++) {
            double acc = 0;
            for (int k = 0; k < K; k++) acc += (double)x[r * K + k] * w[gc->trans_b ? m * K + k : k * M + m];
            acc = gc->alpha * acc + (gc->n_c ? gc->beta * (double)c[gc->n_c == 1 ? 0 : m] : 0);
            want[r * M + m] = act_of(gc->act, acc);
        }
    char path[512];
    snprintf(path, sizeof path, "%s/gemm.onnx", dir);
    ob_model *mo = ob_new(13);
    const int64_t in_dims[2] = {N, K}, w_dims[2][2] = {{K, M}, {M, K}}, c_dims[1] = {gc->n_c};
    ob_input_shape(mo, "x", 2, in_dims);
    ob_output(mo, "y");
    ob_init(mo, "w", 2, w_dims[gc->trans_b], w);
    if (gc->n_c) ob_init(mo, "c", 1, c_dims, c);
    int g = ob_node(mo, "Gemm", "g", gc->n_c ? "x,w,c" : "x,w", gc->act[0] ? "t" : "y");
    ob_attr_int(mo, g, "transB", gc->trans_b);
    ob_attr_float(mo, g, "alpha", gc->alpha);
    ob_attr_float(mo, g, "beta", gc->beta);
    if (gc->act[0]) ob_node(mo, gc->act, "a", "t", "y");
    CHECK(ob_write(mo, path) == 0, "cannot write %s", path);
    for (int threads = 1; threads <= 2; threads++) {
        fc_session_options so = {.batch = N, .threads = threads};
        int64_t count = 0;
        float *y = run_once(path, NULL, &so, x, &count, NULL);
        compare(gc->name, threads, y, count, want, N);
        free(y);
    }
    unlink(path);
}

static void test_gemm(void) {
    const char *dir = fc_test_tmpdir();
    static const gemm_case cases[] = {
        {"Gemm transB=1 (a torch Linear), C per output", 1, M, 1.0f, 1.0f, ""},
        {"Gemm transB=0, alpha 0.5, beta 2, one C value", 0, 1, 0.5f, 2.0f, ""},
        {"Gemm transB=1, no C, Relu fused", 1, 0, 1.0f, 1.0f, "Relu"},
        {"Gemm transB=0, C per output, HardSigmoid fused", 0, M, 1.0f, 1.0f, "HardSigmoid"},
    };
    unsigned seed = 7;
    float x[N * K], w[K * M], c[M];
    for (int i = 0; i < N * K; i++) x[i] = frand(&seed);
    for (int i = 0; i < K * M; i++) w[i] = frand(&seed);
    for (int i = 0; i < M; i++) c[i] = frand(&seed);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) check_gemm(&cases[i], x, w, c, dir);
}

/* MatMul (N, R, K) x (K, M): the N * R rows in one product. */
static void test_matmul(void) {
    const char *dir = fc_test_tmpdir();
    unsigned seed = 11;
    static float x[N * R * K], w[K * M];
    static double want[N * R * M];
    for (int i = 0; i < N * R * K; i++) x[i] = frand(&seed);
    for (int i = 0; i < K * M; i++) w[i] = frand(&seed);
    for (int r = 0; r < N * R; r++)
        for (int m = 0; m < M; m++) {
            double acc = 0;
            for (int k = 0; k < K; k++) acc += (double)x[r * K + k] * w[k * M + m];
            want[r * M + m] = acc;
        }
    char path[512];
    snprintf(path, sizeof path, "%s/matmul.onnx", dir);
    ob_model *mo = ob_new(13);
    const int64_t in_dims[3] = {N, R, K}, w_dims[2] = {K, M};
    ob_input_shape(mo, "x", 3, in_dims);
    ob_output(mo, "y");
    ob_init(mo, "w", 2, w_dims, w);
    ob_node(mo, "MatMul", "mm", "x,w", "y");
    CHECK(ob_write(mo, path) == 0, "cannot write %s", path);
    for (int threads = 1; threads <= 2; threads++) {
        fc_session_options so = {.batch = N, .threads = threads};
        int64_t count = 0;
        float *y = run_once(path, NULL, &so, x, &count, NULL);
        compare("MatMul (N, 3, K) x (K, M)", threads, y, count, want, N * R);
        free(y);
    }
    unlink(path);
}

int main(void) {
    RUN(test_gemm);
    RUN(test_matmul);
    return check_done();
}
