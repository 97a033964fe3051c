/* Binary elementwise ops (ops/elementwise.c): Add, Sub, Mul, Div, Max, Min of an input x (N, C, H, W)
 * and a constant b, on each path: same shape, a scalar per (n, c) plane on either side (the
 * squeeze-and-excitation scale), and general broadcasting. Every output must equal, bitwise, the
 * float operation applied element by element (NaN propagates through Max and Min from either
 * operand), with 1 and 2 threads and in place of a vectorized loop's tail.
 * Not here: unary activations (test_kernels.c), convolutions. */
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

enum { N = 2, C = 5, H = 7, W = 9 }; /* 63-element planes: vector loops end on a partial tail */

static const char *OPS[] = {"Add", "Sub", "Mul", "Div", "Max", "Min"};

static float ref_op(int op, float x, float y) {
    switch (op) {
    case 0: return x + y;
    case 1: return x - y;
    case 2: return x * y;
    case 3: return x / y;
    case 4: return isnan(x) || isnan(y) ? (isnan(x) ? x : y) : (x > y ? x : y);
    default: return isnan(x) || isnan(y) ? (isnan(x) ? x : y) : (x < y ? x : y);
    }
}

typedef struct shape_case {
    const char *name;
    int rank;
    int64_t dims[4]; /* of the constant */
} shape_case;

static const shape_case SHAPES[] = {
    {"same shape", 4, {N, C, H, W}},
    {"scalar per plane (C,1,1)", 3, {C, 1, 1}},
    {"scalar per plane (N,C,1,1)", 4, {N, C, 1, 1}},
    {"general broadcast (1,1,H,1)", 4, {1, 1, H, 1}},
};

static float frand(unsigned *s) {
    *s = *s * 1103515245u + 12345u;
    return (float)((*s >> 8) & 0xFFFF) / 8192.0f - 4.0f;
}

/* Index into the constant b for output element (n, c, h, w). */
static size_t b_index(const shape_case *sc, int n, int c, int h, int w) {
    int64_t full[4] = {1, 1, 1, 1};
    for (int i = 0; i < sc->rank; i++) full[4 - sc->rank + i] = sc->dims[i];
    int idx[4] = {n, c, h, w};
    size_t at = 0;
    for (int i = 0; i < 4; i++) at = at * (size_t)full[i] + (size_t)(full[i] == 1 ? 0 : idx[i]);
    return at;
}

static void check_one(int op, const shape_case *sc, int b_first, int threads, const char *dir) {
    size_t nb = 1, nx = (size_t)N * C * H * W;
    for (int i = 0; i < sc->rank; i++) nb *= (size_t)sc->dims[i];
    unsigned seed = 99u + (unsigned)op * 7u + (unsigned)nb;
    float *x = malloc(nx * sizeof(float)), *b = malloc(nb * sizeof(float));
    for (size_t i = 0; i < nx; i++) x[i] = frand(&seed);
    for (size_t i = 0; i < nb; i++) b[i] = frand(&seed);
    x[3] = NAN, x[70] = -0.0f, x[nx - 1] = INFINITY; /* NaN, signed zero and infinity on both sides */
    b[nb - 1] = NAN;
    if (nb > 2) b[1] = -0.0f;
    char path[512];
    snprintf(path, sizeof path, "%s/ew.onnx", dir);
    ob_model *m = ob_new(13);
    ob_input(m, "x", N, C, H, W);
    ob_output(m, "y");
    ob_init(m, "b", sc->rank, sc->dims, b);
    ob_node(m, OPS[op], "op", b_first ? "b,x" : "x,b", "y");
    CHECK(ob_write(m, path) == 0, "cannot write %s", path);
    fc_session_options so = {.batch = N, .threads = threads};
    int64_t count = 0;
    float *y = run_once(path, NULL, &so, x, &count, NULL);
    if (y && count == (int64_t)nx) {
        int bad = 0, first = -1;
        for (int n = 0; n < N; n++)
            for (int c = 0; c < C; c++)
                for (int h = 0; h < H; h++)
                    for (int w = 0; w < W; w++) {
                        size_t o = (((size_t)n * C + c) * H + h) * W + w;
                        float bv = b[b_index(sc, n, c, h, w)];
                        float want = b_first ? ref_op(op, bv, x[o]) : ref_op(op, x[o], bv);
                        if (memcmp(&want, &y[o], sizeof want) != 0 && !(isnan(want) && isnan(y[o]))) {
                            if (first < 0) first = (int)o;
                            bad++;
                        }
                    }
        CHECK(bad == 0, "%s(%s) %s, %d threads: %d outputs differ, first at %d", OPS[op],
              b_first ? "b, x" : "x, b", sc->name, threads, bad, first);
    } else {
        CHECK(0, "%s %s: no output", OPS[op], sc->name);
    }
    free(y);
    unlink(path);
    free(x), free(b);
}

static void test_binary_ops(void) {
    const char *dir = fc_test_tmpdir();
    for (int op = 0; op < 6; op++)
        for (size_t sh = 0; sh < sizeof SHAPES / sizeof *SHAPES; sh++)
            for (int b_first = 0; b_first < 2; b_first++)
                for (int threads = 1; threads <= 2; threads++) check_one(op, &SHAPES[sh], b_first, threads, dir);
}

int main(void) {
    RUN(test_binary_ops);
    return check_done();
}
