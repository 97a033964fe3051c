/* Transpose and Slice (ops/shape.c), which copy whole contiguous runs where the source has them:
 * on x (N, C, H, W) holding each element's own index, every output must equal, bitwise, what a
 * plain walk over the output's indices reads: Transposes that keep the planes, move the columns
 * innermost or outermost, the channel shuffle of ShuffleNet (Reshape, Transpose, Reshape), and
 * Slices of whole channels, with steps, with negative steps, on two axes at once; 1 and 2 threads
 * (a 2 MiB shuffle: its runs are split between the threads).
 * Not here: the shape arithmetic of Reshape/Concat (test_models.c runs real graphs). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/model.h"
#include "tests/support/check.h"
#include "tests/support/onnx_build.h"
#include "tests/support/run_once.h"
#include "tests/support/tmpdir.h"

enum { N = 2, C = 6, H = 5, W = 7, COUNT = N * C * H * W };

static float x[COUNT];

/* Runs the model at path on input with `threads` and compares output 0 with want (count floats). */
static void expect(const char *path, const char *what, int threads, const float *input, const float *want,
                   int64_t count) {
    fc_session_options so = {.batch = N, .threads = threads};
    int64_t got_count = 0;
    float *y = run_once(path, NULL, &so, input, &got_count, NULL);
    if (!y) return; /* run_once recorded the failure */
    int bad = 0, first = -1;
    for (int64_t i = 0; got_count == count && i < count; i++)
        if (memcmp(&y[i], &want[i], sizeof *y)) bad += first < 0 ? (first = (int)i, 1) : 1;
    CHECK(got_count == count && bad == 0, "%s, %d threads: %lld outputs (want %lld), %d differ, first at %d", what,
          threads, (long long)got_count, (long long)count, bad, first);
    free(y);
}

/* ---- Transpose ---- */

static void check_transpose(const int64_t perm[4], const char *dir) {
    const int64_t in_dims[4] = {N, C, H, W}, in_st[4] = {C * H * W, H * W, W, 1};
    int64_t od[4], idx[4];
    for (int i = 0; i < 4; i++) od[i] = in_dims[perm[i]];
    static float want[COUNT];
    int64_t o = 0;
    for (idx[0] = 0; idx[0] < od[0]; idx[0]++)
        for (idx[1] = 0; idx[1] < od[1]; idx[1]++)
            for (idx[2] = 0; idx[2] < od[2]; idx[2]++)
                for (idx[3] = 0; idx[3] < od[3]; idx[3]++) {
                    int64_t src = 0;
                    for (int i = 0; i < 4; i++) src += idx[i] * in_st[perm[i]];
                    want[o++] = x[src];
                }
    char path[512], what[64];
    snprintf(path, sizeof path, "%s/transpose.onnx", dir);
    snprintf(what, sizeof what, "Transpose perm (%lld,%lld,%lld,%lld)", (long long)perm[0], (long long)perm[1],
             (long long)perm[2], (long long)perm[3]);
    ob_model *m = ob_new(13);
    ob_input(m, "x", N, C, H, W);
    ob_output(m, "y");
    ob_attr_ints(m, ob_node(m, "Transpose", "t", "x", "y"), "perm", 4, perm);
    CHECK(ob_write(m, path) == 0, "cannot write %s", path);
    for (int threads = 1; threads <= 2; threads++) expect(path, what, threads, x, want, COUNT);
    unlink(path);
}

/* ShuffleNet's channel shuffle with 2 groups on input (N, c, h, w): (N, 2, c/2, h, w) -> (N, c/2, 2,
 * h, w) -> (N, c, h, w): output channel 2k + g is input channel g * c/2 + k. */
static void check_shuffle(const float *input, int c, int h, int w, const char *dir) {
    size_t plane = (size_t)h * w, count = (size_t)N * c * plane;
    float *want = malloc(count * sizeof(float));
    for (int n = 0; n < N; n++)
        for (int k = 0; k < c; k++)
            memcpy(want + ((size_t)n * c + k) * plane, input + ((size_t)n * c + k % 2 * (c / 2) + k / 2) * plane,
                   plane * sizeof(float));
    const int64_t split[5] = {N, 2, c / 2, h, w}, back[4] = {N, c, h, w}, perm[5] = {0, 2, 1, 3, 4};
    char path[512], what[96];
    snprintf(path, sizeof path, "%s/shuffle.onnx", dir);
    snprintf(what, sizeof what, "channel shuffle (Reshape, Transpose, Reshape) of (%d, %d, %d, %d)", N, c, h, w);
    ob_model *m = ob_new(13);
    ob_input(m, "x", N, c, h, w);
    ob_output(m, "y");
    ob_init_i64(m, "split", 5, split);
    ob_init_i64(m, "back", 4, back);
    ob_node(m, "Reshape", "r1", "x,split", "g");
    ob_attr_ints(m, ob_node(m, "Transpose", "t", "g", "s"), "perm", 5, perm);
    ob_node(m, "Reshape", "r2", "s,back", "y");
    CHECK(ob_write(m, path) == 0, "cannot write %s", path);
    for (int threads = 1; threads <= 2; threads++) expect(path, what, threads, input, want, (int64_t)count);
    unlink(path);
    free(want);
}

static void test_transpose(void) {
    const char *dir = fc_test_tmpdir();
    static const int64_t perms[][4] = {{0, 1, 2, 3}, {0, 2, 1, 3}, {0, 1, 3, 2}, {0, 3, 1, 2}, {0, 2, 3, 1}, {0, 3, 2, 1}};
    for (size_t p = 0; p < sizeof perms / sizeof *perms; p++) check_transpose(perms[p], dir);
    check_shuffle(x, C, H, W, dir);
    enum { BC = 64, BH = 64, BW = 64 }; /* 2 MiB: the runs are split between the threads */
    float *big = malloc((size_t)N * BC * BH * BW * sizeof(float));
    for (size_t i = 0; i < (size_t)N * BC * BH * BW; i++) big[i] = (float)i;
    check_shuffle(big, BC, BH, BW, dir);
    free(big);
}

/* ---- Slice ---- */

typedef struct slice_case {
    const char *name;
    int n;                                 /* axes sliced */
    int64_t starts[2], ends[2], axes[2], steps[2];
} slice_case;

/* The first index and the length along an axis of size dim, as the ONNX Slice operator defines
 * them (clamped; a negative step walks down). */
static void range_of(int64_t dim, int64_t s, int64_t e, int64_t st, int64_t *first, int64_t *len) {
    if (s < 0) s += dim;
    if (e < 0) e += dim;
    if (st > 0) {
        s = s < 0 ? 0 : s > dim ? dim : s;
        e = e < 0 ? 0 : e > dim ? dim : e;
        *len = e > s ? (e - s + st - 1) / st : 0;
    } else {
        s = s < 0 ? -1 : s > dim - 1 ? dim - 1 : s;
        e = e < -1 ? -1 : e > dim - 1 ? dim - 1 : e;
        *len = s > e ? (s - e - st - 1) / -st : 0;
    }
    *first = s;
}

static void check_slice(const slice_case *sc, const char *dir) {
    const int64_t dims[4] = {N, C, H, W}, in_st[4] = {C * H * W, H * W, W, 1};
    int64_t first[4] = {0, 0, 0, 0}, len[4] = {N, C, H, W}, step[4] = {1, 1, 1, 1}, idx[4];
    for (int i = 0; i < sc->n; i++) {
        int a = (int)sc->axes[i];
        range_of(dims[a], sc->starts[i], sc->ends[i], sc->steps[i], &first[a], &len[a]);
        step[a] = sc->steps[i];
    }
    static float want[COUNT];
    int64_t o = 0;
    for (idx[0] = 0; idx[0] < len[0]; idx[0]++)
        for (idx[1] = 0; idx[1] < len[1]; idx[1]++)
            for (idx[2] = 0; idx[2] < len[2]; idx[2]++)
                for (idx[3] = 0; idx[3] < len[3]; idx[3]++) {
                    int64_t src = 0;
                    for (int i = 0; i < 4; i++) src += (first[i] + idx[i] * step[i]) * in_st[i];
                    want[o++] = x[src];
                }
    char path[512];
    snprintf(path, sizeof path, "%s/slice.onnx", dir);
    ob_model *m = ob_new(13);
    ob_input(m, "x", N, C, H, W);
    ob_output(m, "y");
    ob_init_i64(m, "starts", sc->n, sc->starts);
    ob_init_i64(m, "ends", sc->n, sc->ends);
    ob_init_i64(m, "axes", sc->n, sc->axes);
    ob_init_i64(m, "steps", sc->n, sc->steps);
    ob_node(m, "Slice", "s", "x,starts,ends,axes,steps", "y");
    CHECK(ob_write(m, path) == 0, "cannot write %s", path);
    for (int threads = 1; threads <= 2; threads++) expect(path, sc->name, threads, x, want, o);
    unlink(path);
}

static void test_slice(void) {
    const char *dir = fc_test_tmpdir();
    static const slice_case cases[] = {
        {"Slice channels [1, 4)", 1, {1}, {4}, {1}, {1}},
        {"Slice the second half of the channels", 1, {3}, {6}, {1}, {1}},
        {"Slice rows [0, 5) step 2", 1, {0}, {5}, {2}, {2}},
        {"Slice columns reversed, step -2", 1, {6}, {-8}, {3}, {-2}},
        {"Slice channels reversed and columns [1, 6) step 3", 2, {5, 1}, {-7, 6}, {1, 3}, {-1, 3}},
        {"Slice rows [1, 4) and columns [2, 7)", 2, {1, 2}, {4, 7}, {2, 3}, {1, 1}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) check_slice(&cases[c], dir);
}

int main(void) {
    for (int i = 0; i < COUNT; i++) x[i] = (float)i;
    RUN(test_transpose);
    RUN(test_slice);
    return check_done();
}
