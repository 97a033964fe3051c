/* MaxPool and AveragePool (ops/pool.c: separable, the inner outputs of a stride-1 row in one vector
 * loop; 3x3 stride-1 pads-1 windows as whole-plane passes) against a plain window walk: 3x3 and 5x5
 * windows, strides 1 and 2, pads, average with count_include_pad 0 and 1, on planes wide enough for
 * vector loops and narrow enough to be all edge; max bitwise, average within 1e-6 of the window's
 * double sum and bitwise equal to the documented float order (each column's valid rows summed in
 * order, the columns added to 0 in order, divided by the count), whichever path ran; 1 and 2 threads.
 * Not here: GlobalAveragePool (test_models.c runs real graphs). */
#include <float.h>
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

enum { N = 2, C = 3 };

typedef struct pool_case {
    const char *op;
    int k, s, p, include_pad, h, w;
} pool_case;

static float frand(unsigned *s) {
    *s = *s * 1103515245u + 12345u;
    return (float)((*s >> 8) & 0xFFFF) / 8192.0f - 4.0f;
}

static void check_pool(const pool_case *pc, const char *dir) {
    int oh = (pc->h + 2 * pc->p - pc->k) / pc->s + 1, ow = (pc->w + 2 * pc->p - pc->k) / pc->s + 1;
    size_t nin = (size_t)N * C * pc->h * pc->w, nout = (size_t)N * C * oh * ow;
    float *x = malloc(nin * sizeof(float));
    double *want = malloc(nout * sizeof(double));
    float *want_f = malloc(nout * sizeof(float));
    unsigned seed = 5u + (unsigned)pc->k * 31u + (unsigned)pc->w;
    /* full mantissas, so that sums in another order round differently */
    for (size_t i = 0; i < nin; i++) x[i] = frand(&seed) * 0.61803398875f;
    int is_max = !strcmp(pc->op, "MaxPool");
    size_t o = 0;
    for (int pl = 0; pl < N * C; pl++)
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++) {
                double acc = is_max ? -DBL_MAX : 0;
                int inside = 0, rin = 0, cin = 0;
                float sum_f = 0.f;
                for (int j = 0; j < pc->k; j++) {
                    int xx = ox * pc->s - pc->p + j, first = 1;
                    float col = 0.f;
                    for (int i = 0; xx >= 0 && xx < pc->w && i < pc->k; i++) {
                        int y = oy * pc->s - pc->p + i;
                        if (y < 0 || y >= pc->h) continue;
                        float v = x[((size_t)pl * pc->h + y) * pc->w + xx];
                        col = first ? v : col + v;
                        first = 0;
                    }
                    if (!first) sum_f += col;
                    cin += xx < pc->w + pc->p;
                }
                for (int i = 0; i < pc->k; i++) rin += oy * pc->s - pc->p + i < pc->h + pc->p;
                for (int i = 0; i < pc->k; i++)
                    for (int j = 0; j < pc->k; j++) {
                        int y = oy * pc->s - pc->p + i, xx = ox * pc->s - pc->p + j;
                        if (y < 0 || y >= pc->h || xx < 0 || xx >= pc->w) continue;
                        double v = x[((size_t)pl * pc->h + y) * pc->w + xx];
                        acc = is_max ? fmax(acc, v) : acc + v;
                        inside++;
                    }
                want_f[o] = sum_f / (float)(pc->include_pad ? rin * cin : inside);
                want[o++] = is_max ? acc : acc / (pc->include_pad ? pc->k * pc->k : inside);
            }
    char path[512], what[128];
    snprintf(path, sizeof path, "%s/pool.onnx", dir);
    snprintf(what, sizeof what, "%s %dx%d stride %d pad %d%s on %dx%d", pc->op, pc->k, pc->k, pc->s, pc->p,
             is_max ? "" : pc->include_pad ? " count_include_pad" : "", pc->h, pc->w);
    ob_model *m = ob_new(13);
    ob_input(m, "x", N, C, pc->h, pc->w);
    ob_output(m, "y");
    int node = ob_node(m, pc->op, "pool", "x", "y");
    const int64_t ks[2] = {pc->k, pc->k}, st[2] = {pc->s, pc->s}, pads[4] = {pc->p, pc->p, pc->p, pc->p};
    ob_attr_ints(m, node, "kernel_shape", 2, ks);
    ob_attr_ints(m, node, "strides", 2, st);
    ob_attr_ints(m, node, "pads", 4, pads);
    if (!is_max) ob_attr_int(m, node, "count_include_pad", pc->include_pad);
    CHECK(ob_write(m, path) == 0, "cannot write %s", path);
    for (int threads = 1; threads <= 2; threads++) {
        fc_session_options so = {.batch = N, .threads = threads};
        int64_t count = 0;
        float *y = run_once(path, NULL, &so, x, &count, NULL);
        int bad = 0, order = 0;
        for (size_t i = 0; y && count == (int64_t)nout && i < nout; i++) {
            bad += is_max ? y[i] != (float)want[i] : fabs(y[i] - want[i]) > 1e-6 * fmax(1.0, fabs(want[i]));
            order += !is_max && memcmp(&y[i], &want_f[i], sizeof(float)) != 0;
        }
        CHECK(y && count == (int64_t)nout && bad == 0, "%s, %d threads: %lld outputs (want %zu), %d wrong", what,
              threads, (long long)count, nout, bad);
        CHECK(order == 0, "%s, %d threads: %d averages differ bitwise from the float order", what, threads, order);
        free(y);
    }
    unlink(path);
    free(x);
    free(want);
    free(want_f);
}

static void test_pools(void) {
    const char *dir = fc_test_tmpdir();
    static const pool_case cases[] = {
        {"MaxPool", 3, 1, 1, 0, 9, 37},     {"MaxPool", 3, 2, 1, 0, 9, 37},     {"MaxPool", 5, 1, 2, 0, 7, 29},
        {"MaxPool", 3, 1, 1, 0, 4, 3},      {"AveragePool", 3, 1, 1, 0, 9, 37}, {"AveragePool", 3, 1, 1, 1, 9, 37},
        {"AveragePool", 5, 1, 2, 1, 7, 29}, {"AveragePool", 3, 2, 0, 0, 9, 37}, {"AveragePool", 3, 1, 1, 0, 3, 2},
        /* Inception's and GoogLeNet's branch pools (whole planes), and planes of one row or column */
        {"AveragePool", 3, 1, 1, 1, 17, 17}, {"AveragePool", 3, 1, 1, 1, 2, 2},  {"MaxPool", 3, 1, 1, 0, 14, 14},
        {"MaxPool", 3, 1, 1, 0, 2, 2},      {"AveragePool", 3, 1, 1, 1, 1, 6},  {"MaxPool", 3, 1, 1, 0, 6, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) check_pool(&cases[i], dir);
}

int main(void) {
    RUN(test_pools);
    return check_done();
}
