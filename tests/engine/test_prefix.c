/* The image-by-image prefix of a one-thread plan (fc_session_options.prefix_bytes, plan.c): the steps
 * before the last point where one tensor of at least prefix_bytes per image carries the run on go
 * image by image, the rest on the batch. On a small residual net: the prefix ends where the checks
 * say (not where two tensors are live, not at a tensor under the threshold, not past a requested
 * output that is still read or kept), the outputs are bit for bit those of the plan without a prefix (one
 * thread, split batches of uneven slices, a requested inner output), profiles time the prefix's
 * steps, and a one-image batch has no prefix. Not here: the speed (scripts/bench_vs_ort.sh). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/model.h"
#include "tests/support/check.h"
#include "tests/support/onnx_build.h"
#include "tests/support/tmpdir.h"

enum { C = 8, S = 20, BATCH = 5, PLANE = C * S * S * 4 /* 12800 bytes per image */ };

static float frand(unsigned *s) {
    *s = *s * 1103515245u + 12345u;
    return (float)((*s >> 8) & 0xFFFF) / 32768.0f - 1.0f;
}

/* x (N, 3, S, S) -> conv 3x3 + relu -> r1 -> conv 1x1 -> a -> conv 3x3 -> b; s = a + b (C x S x S
 * each) -> conv 3x3 stride 2 (16 x S/2 x S/2) -> global pool -> flatten -> gemm (4) -> y. The Relu
 * and the Add fuse into their convs: steps conv1, conv2, conv3 (+a), conv4, pool, flatten, gemm. */
static void build(const char *path) {
    unsigned seed = 5u;
    static float w1[C * 3 * 9], w2[C * C], w3[C * C * 9], w4[16 * C * 9], wg[4 * 16], bg[4];
    float *all[] = {w1, w2, w3, w4, wg, bg};
    size_t n[] = {sizeof w1, sizeof w2, sizeof w3, sizeof w4, sizeof wg, sizeof bg};
    for (int i = 0; i < 6; i++)
        for (size_t j = 0; j < n[i] / sizeof(float); j++) all[i][j] = frand(&seed) * 0.4f;
    ob_model *m = ob_new(13);
    ob_input(m, "x", -1, 3, S, S);
    ob_output(m, "y");
    int64_t d1[4] = {C, 3, 3, 3}, d2[4] = {C, C, 1, 1}, d3[4] = {C, C, 3, 3}, d4[4] = {16, C, 3, 3};
    int64_t dg[2] = {4, 16}, db[1] = {4}, pad1[4] = {1, 1, 1, 1}, two[2] = {2, 2};
    ob_init(m, "w1", 4, d1, w1), ob_init(m, "w2", 4, d2, w2), ob_init(m, "w3", 4, d3, w3);
    ob_init(m, "w4", 4, d4, w4), ob_init(m, "wg", 2, dg, wg), ob_init(m, "bg", 1, db, bg);
    ob_attr_ints(m, ob_node(m, "Conv", "conv1", "x,w1", "c1"), "pads", 4, pad1);
    ob_node(m, "Relu", "relu1", "c1", "r1");
    ob_node(m, "Conv", "conv2", "r1,w2", "a");
    ob_attr_ints(m, ob_node(m, "Conv", "conv3", "a,w3", "b"), "pads", 4, pad1);
    ob_node(m, "Add", "add", "a,b", "s");
    int c4 = ob_node(m, "Conv", "conv4", "s,w4", "d");
    ob_attr_ints(m, c4, "pads", 4, pad1);
    ob_attr_ints(m, c4, "strides", 2, two);
    ob_node(m, "GlobalAveragePool", "pool", "d", "p");
    ob_node(m, "Flatten", "flat", "p", "f");
    ob_attr_int(m, ob_node(m, "Gemm", "fc", "f,wg,bg", "y"), "transB", 1);
    CHECK(ob_write(m, path) == 0, "cannot write %s", path);
}

typedef struct result {
    float *out[2];
    int64_t count[2];
    int steps, per_image; /* steps in all, and how many leading ones run image by image */
    int timed;            /* every step has a time (profile) */
} result;

static result run(const char *path, const char *const *outs, int n_outs, const fc_session_options *so,
                  const float *x) {
    result r = {0};
    fc_model_options mo = {.outputs = outs, .n_outputs = n_outs};
    fc_model *m = NULL;
    fc_session *s = NULL;
    fc_error err = {0};
    if (fc_model_load(path, &mo, &m, &err) || fc_session_create(m, so, &s, &err) || fc_session_run(s, x, &err)) {
        CHECK(0, "%s: %s", path, err.msg);
    } else {
        for (int o = 0; o < n_outs; o++) {
            const fc_tensor *t = fc_session_output(s, o);
            r.count[o] = fc_tensor_count(t);
            r.out[o] = malloc(fc_tensor_bytes(t));
            memcpy(r.out[o], t->data, fc_tensor_bytes(t));
        }
        r.steps = fc_session_n_steps(s);
        r.timed = 1;
        int ended = 0;
        for (int i = 0; i < r.steps; i++) {
            fc_session_step_info st;
            CHECK(fc_session_step(s, i, &st) == 0, "step %d", i);
            CHECK(!(st.per_image && ended), "step %d runs image by image after a batch step", i);
            if (st.per_image) r.per_image++;
            else ended = 1;
            r.timed &= st.seconds > 0;
        }
    }
    fc_session_free(s);
    fc_model_free(m);
    return r;
}

static void same_outputs(const char *what, const result *a, const result *b, int n_outs) {
    for (int o = 0; o < n_outs; o++)
        CHECK(a->out[o] && b->out[o] && a->count[o] == b->count[o] &&
                  !memcmp(a->out[o], b->out[o], (size_t)a->count[o] * sizeof(float)),
              "%s: output %d differs from the plan without a prefix", what, o);
}

static void release(result *r) { free(r->out[0]), free(r->out[1]); }

static void test_prefix(void) {
    char path[512];
    snprintf(path, sizeof path, "%s/prefix.onnx", fc_test_tmpdir());
    build(path);
    unsigned seed = 9u;
    float *x = malloc(sizeof(float) * BATCH * 3 * S * S);
    for (int i = 0; i < BATCH * 3 * S * S; i++) x[i] = frand(&seed);
    const char *y_only[1] = {"y"}, *y_and_a[2] = {"y", "a"};
    fc_session_options off = {.batch = BATCH, .threads = 1, .prefix_bytes = -1};
    result base = run(path, y_only, 1, &off, x);
    CHECK(base.steps == 7 && base.per_image == 0, "no prefix: %d steps, %d image by image", base.steps, base.per_image);

    /* s (12800 bytes per image) after conv3 is the last single live tensor over 10000 bytes: conv4's
     * output is smaller, and a and b are both live inside the residual */
    fc_session_options on = {.batch = BATCH, .threads = 1, .prefix_bytes = PLANE - 2800, .profile = 1};
    result got = run(path, y_only, 1, &on, x);
    CHECK(got.per_image == 3, "threshold %d: %d steps image by image, want 3 (conv1, conv2, conv3 + add)",
          (int)on.prefix_bytes, got.per_image);
    CHECK(got.timed, "a profile leaves the image-by-image steps without a time");
    same_outputs("prefix of 3 steps", &got, &base, 1);
    release(&got);

    /* a threshold over every tensor's size: no prefix */
    fc_session_options high = on;
    high.prefix_bytes = PLANE + 1;
    got = run(path, y_only, 1, &high, x);
    CHECK(got.per_image == 0, "threshold over every tensor: %d steps image by image", got.per_image);
    release(&got);

    /* a requested inner output (a) stays live to the end: conv3's output is no cut any more (a and s
     * are live after it), the last one is a itself, which the prefix writes image by image */
    result base_a = run(path, y_and_a, 2, &off, x);
    got = run(path, y_and_a, 2, &on, x);
    CHECK(got.per_image == 2, "with a requested: %d steps image by image, want 2", got.per_image);
    same_outputs("a requested", &got, &base_a, 2);
    release(&got), release(&base_a);

    /* split batches (slices of 3 and 2 images, each with its prefix) and a batch of one */
    fc_session_options split = {.batch = BATCH, .threads = 2, .split_batch = 1, .prefix_bytes = PLANE - 2800};
    got = run(path, y_only, 1, &split, x);
    CHECK(got.per_image == 3, "split batch: %d steps image by image, want 3", got.per_image);
    same_outputs("split batch", &got, &base, 1);
    release(&got);
    fc_session_options one = {.batch = 1, .threads = 1, .prefix_bytes = PLANE - 2800};
    got = run(path, y_only, 1, &one, x);
    CHECK(got.per_image == 0 && got.out[0] && !memcmp(got.out[0], base.out[0], 4 * sizeof(float)),
          "one image: %d steps image by image, or its output differs", got.per_image);
    release(&got), release(&base);
    free(x);
    unlink(path);
}

/* A Reshape with the batch size written into its shape cannot run one image: the plan runs without
 * a prefix instead of failing. */
static void test_fixed_batch_reshape(void) {
    char path[512];
    snprintf(path, sizeof path, "%s/fixed.onnx", fc_test_tmpdir());
    static float w1[C * 3 * 9];
    unsigned seed = 3u;
    for (size_t j = 0; j < sizeof w1 / sizeof *w1; j++) w1[j] = frand(&seed);
    ob_model *m = ob_new(13);
    ob_input(m, "x", -1, 3, S, S);
    ob_output(m, "y");
    int64_t d1[4] = {C, 3, 3, 3}, pad1[4] = {1, 1, 1, 1}, shape[2] = {BATCH, C * S * S};
    ob_init(m, "w1", 4, d1, w1);
    ob_init_i64(m, "shape", 2, shape);
    ob_attr_ints(m, ob_node(m, "Conv", "conv1", "x,w1", "c1"), "pads", 4, pad1);
    ob_node(m, "Reshape", "flat", "c1,shape", "y");
    CHECK(ob_write(m, path) == 0, "cannot write %s", path);
    float *x = calloc((size_t)BATCH * 3 * S * S, sizeof(float));
    const char *y_only[1] = {"y"};
    fc_session_options on = {.batch = BATCH, .threads = 1, .prefix_bytes = 1};
    result got = run(path, y_only, 1, &on, x);
    CHECK(got.out[0] && got.count[0] == (int64_t)BATCH * C * S * S && got.per_image == 0,
          "fixed-batch Reshape: %d steps image by image, %lld outputs", got.per_image, (long long)got.count[0]);
    release(&got);
    free(x);
    unlink(path);
}

int main(void) {
    RUN(test_prefix);
    RUN(test_fixed_batch_reshape);
    return check_done();
}
