/* Channel-blocked tensors between depthwise blocks (ops/conv_block.c fc_dw_blocks_chain): a chain of
 * five MobileNet-style blocks, run with the chain (the blocks' outputs that only blocks read stay
 * channel-blocked) and with fc_model_options.unfused_blocks (separate Convs, NCHW everywhere). The
 * two must agree bitwise for batches 3 and 1, 1 and 2 threads, split batch or layer-parallel, on
 * every table with channel-blocked kernels. The chain reaches each way a block meets the layout: a
 * stem whose output is its own residual (written to scratch, then copied), an input and a residual
 * read channel-blocked and the output written in place, 24 channels (a padded group), a strided
 * block, an NCHW residual under a blocked output, and a blocked residual under the NCHW graph
 * output. With an intermediate value requested as a second output, that value stays NCHW (its
 * readers take it so) and the first output keeps its bits. Each run checks which steps the session
 * says are blocked. A pool in front puts the blocks where a bf16 table multiplies bf16 pairs, which
 * the bf16 run checks it did. Not here: single blocks (test_conv_block.c), whole networks (test_models.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/model.h"
#include "tests/support/check.h"
#include "tests/support/onnx_build.h"
#include "tests/support/tmpdir.h"

#define H 124
#define W 116
#define CIN 3

static float frand(unsigned *s) {
    *s = *s * 1103515245u + 12345u;
    return (float)((*s >> 8) & 0xFFFF) / 32768.0f - 1.0f;
}

/* A constant of n random values times scale, named prefix + suffix. */
static void init_random(ob_model *m, const char *prefix, const char *suffix, int rank, const int64_t *dims,
                        float scale, unsigned *seed) {
    size_t n = 1;
    for (int i = 0; i < rank; i++) n *= (size_t)dims[i];
    float *v = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) v[i] = frand(seed) * scale;
    char name[64];
    snprintf(name, sizeof name, "%s%s", prefix, suffix);
    ob_init(m, name, rank, dims, v);
    free(v);
}

/* Block p: in (cin) -> expansion to ce (1x1, or a 3x3 stride-2 stem when stem) + ReLU6 -> depthwise
 * 3x3 at stride s + ReLU6 -> 1x1 projection to cout [+ res] -> out. res "e" adds the expansion's
 * output (p + "e6"). */
static void block(ob_model *m, const char *p, const char *in, int cin, int ce, int cout, int s, int stem,
                  const char *res, const char *out, unsigned *seed) {
    char a[160], b[64], o[64];
    int64_t de[4] = {ce, cin, stem ? 3 : 1, stem ? 3 : 1}, dd[4] = {ce, 1, 3, 3}, dp[4] = {cout, ce, 1, 1};
    int64_t dce[1] = {ce}, dco[1] = {cout};
    init_random(m, p, "we", 4, de, 0.5f, seed);
    init_random(m, p, "be", 1, dce, 0.3f, seed);
    init_random(m, p, "wd", 4, dd, 0.4f, seed);
    init_random(m, p, "bd", 1, dce, 0.3f, seed);
    init_random(m, p, "wp", 4, dp, 0.25f, seed);
    init_random(m, p, "bp", 1, dco, 0.2f, seed);
    snprintf(a, sizeof a, "%s,%swe,%sbe", in, p, p), snprintf(o, sizeof o, "%se", p);
    int n = ob_node(m, "Conv", o, a, o);
    if (stem) {
        int64_t st[2] = {2, 2}, pads[4] = {1, 1, 1, 1};
        ob_attr_ints(m, n, "strides", 2, st);
        ob_attr_ints(m, n, "pads", 4, pads);
    }
    snprintf(a, sizeof a, "%se,lo,hi", p), snprintf(o, sizeof o, "%se6", p);
    ob_node(m, "Clip", o, a, o);
    snprintf(a, sizeof a, "%se6,%swd,%sbd", p, p, p), snprintf(o, sizeof o, "%sd", p);
    n = ob_node(m, "Conv", o, a, o);
    int64_t ks[2] = {3, 3}, st[2] = {s, s}, pads[4] = {1, 1, 1, 1};
    ob_attr_ints(m, n, "kernel_shape", 2, ks);
    ob_attr_ints(m, n, "strides", 2, st);
    ob_attr_ints(m, n, "pads", 4, pads);
    ob_attr_int(m, n, "group", ce);
    snprintf(a, sizeof a, "%sd,lo,hi", p), snprintf(o, sizeof o, "%sd6", p);
    ob_node(m, "Clip", o, a, o);
    snprintf(a, sizeof a, "%sd6,%swp,%sbp", p, p, p), snprintf(o, sizeof o, "%sp", p);
    ob_node(m, "Conv", o, a, res ? o : out);
    if (!res) return;
    snprintf(b, sizeof b, "%se6", p);
    snprintf(a, sizeof a, "%sp,%s", p, strcmp(res, "e") ? res : b), snprintf(o, sizeof o, "%sadd", p);
    ob_node(m, "Add", o, a, out);
}

/* The chain; with_v0, its first block's output v0 is also a graph output (then y and v0). */
static void write_chain(const char *path, int with_v0) {
    unsigned seed = 4242u;
    ob_model *m = ob_new(13);
    ob_input(m, "x", -1, CIN, H, W);
    ob_output(m, "y");
    if (with_v0) ob_output(m, "v0");
    int64_t scalar[1] = {0};
    float lo = 0.f, hi = 6.f;
    ob_init(m, "lo", 0, scalar, &lo);
    ob_init(m, "hi", 0, scalar, &hi);
    /* a 4x4 pool first puts every block at stride 8 or more, where a bf16 table multiplies bf16
     * pairs (precision.h), fused or not (unfused, b2's expansion is a step of its own at stride 8) */
    int pool = ob_node(m, "MaxPool", "pool", "x", "xp");
    int64_t four[2] = {4, 4};
    ob_attr_ints(m, pool, "kernel_shape", 2, four);
    ob_attr_ints(m, pool, "strides", 2, four);
    block(m, "b0", "xp", CIN, 16, 16, 1, 1, "e", "v0", &seed); /* stem; its output is the residual */
    block(m, "b1", "v0", 16, 48, 16, 1, 0, "v0", "v1", &seed); /* blocked input and residual */
    block(m, "b2", "v1", 16, 64, 24, 2, 0, NULL, "v2", &seed); /* strided, 24 channels */
    block(m, "b3", "v2", 24, 72, 24, 1, 0, "v2", "v3", &seed);
    block(m, "b4", "v3", 24, 72, 24, 1, 0, "v3", "y", &seed);  /* the NCHW graph output */
    CHECK(ob_write(m, path) == 0, "cannot write %s", path);
}

typedef struct outputs {
    float *y[2];
    int64_t count[2];
    char blocked[16]; /* per step: '1' blocked, '0' not */
} outputs;

static void outputs_free(outputs *o) { free(o->y[0]), free(o->y[1]); }

/* Loads path with table k (unfused: separate Convs), runs n images of x, copies n_out outputs and
 * the steps' blocked flags. Returns 0, or -1 after recording a check failure. */
static int run(const char *path, const fc_kernels *k, int unfused, int n_out, int n, int threads, int split,
               const float *x, outputs *o) {
    memset(o, 0, sizeof *o);
    fc_model_options mo = {.kernels = k, .unfused_blocks = unfused};
    fc_session_options so = {.batch = n, .threads = threads, .split_batch = split};
    fc_model *m = NULL;
    fc_session *s = NULL;
    fc_error err = {0};
    int rc = -1;
    if (fc_model_load(path, &mo, &m, &err) || fc_session_create(m, &so, &s, &err) || fc_session_run(s, x, &err)) {
        CHECK(0, "%s (%s): %s", path, k->name, err.msg);
        goto out;
    }
    for (int i = 0; i < n_out; i++) {
        const fc_tensor *t = fc_session_output(s, i);
        o->count[i] = fc_tensor_count(t);
        o->y[i] = malloc((size_t)o->count[i] * sizeof(float));
        memcpy(o->y[i], t->data, (size_t)o->count[i] * sizeof(float));
    }
    int steps = fc_session_n_steps(s);
    for (int i = 0; i < steps && i < (int)sizeof o->blocked - 1; i++) {
        fc_session_step_info st;
        o->blocked[i] = fc_session_step(s, i, &st) == 0 && st.blocked ? '1' : '0';
    }
    rc = 0;
out:
    fc_session_free(s);
    fc_model_free(m);
    return rc;
}

/* with_v0 = 0 or 1: the chain's model; expect: the fused steps' blocked flags. */
static void check_chain(const fc_kernels *k, const char *dir, int with_v0, const char *expect) {
    const int N = 3, n_out = 1 + with_v0;
    char path[512];
    snprintf(path, sizeof path, "%s/chain%d.onnx", dir, with_v0);
    write_chain(path, with_v0);
    size_t nx = (size_t)N * CIN * H * W;
    unsigned seed = 99u;
    float *x = malloc(nx * sizeof(float));
    for (size_t i = 0; i < nx; i++) x[i] = frand(&seed) * 2.f;
    outputs ref;
    if (run(path, k, 1, n_out, N, 1, 0, x, &ref) == 0) {
        CHECK(strchr(ref.blocked, '1') == NULL, "%s: unfused steps %s: none should be blocked", k->name, ref.blocked);
        const int runs[][3] = {{3, 1, 0}, {3, 2, 1}, {3, 2, 0}, {1, 2, 0}, {1, 1, 0}};
        for (size_t r = 0; r < sizeof runs / sizeof *runs; r++) {
            int n = runs[r][0];
            outputs got;
            if (run(path, k, 0, n_out, n, runs[r][1], runs[r][2], n == 1 ? x + nx / N : x, &got)) continue;
            CHECK(!strcmp(got.blocked, expect), "%s, outputs %d: blocked steps %s, expected %s", k->name, n_out,
                  got.blocked, expect);
            for (int i = 0; i < n_out; i++) {
                int64_t per = ref.count[i] / N;
                CHECK(got.count[i] == n * per &&
                          memcmp(got.y[i], ref.y[i] + (n == 1 ? per : 0), (size_t)got.count[i] * sizeof(float)) == 0,
                      "%s: output %d of batch %d, %d threads, %s differs bitwise from the unfused blocks", k->name, i,
                      n, runs[r][1], runs[r][2] ? "split batch" : "layers");
            }
            outputs_free(&got);
        }
        outputs_free(&ref);
    }
    free(x);
    unlink(path);
}

/* expect0, expect1: the blocked steps without and with v0 requested (step 0: the pool) */
static void chains(const fc_kernels *k, const char *expect0, const char *expect1) {
    if (!k) SKIP("kernel table not supported by this CPU");
    REQUIRE(k->cb, "%s: no channel-blocked kernels", k->name);
    const char *dir = fc_test_tmpdir();
    check_chain(k, dir, 0, expect0);
    check_chain(k, dir, 1, expect1);
}

/* every block's output but the graph output's; with v0 requested, v0 is NCHW (read as input and
 * residual by b1) */
static void test_block_chain_avx512(void) { chains(fc_kernels_by_name("avx512"), "011110", "001110"); }
/* every block multiplies bf16 pairs here (the pool puts them at stride 8 or more, precision.h); the
 * table has no channel-blocked stem (conv_taps), so b0 writes NCHW */
static void test_block_chain_avx512bf16(void) {
    const fc_kernels *k = fc_kernels_bf16();
    chains(k, "001110", "001110");
    /* and they did: the output is not the f32 table's */
    char path[512];
    snprintf(path, sizeof path, "%s/chain0.onnx", fc_test_tmpdir());
    write_chain(path, 0);
    size_t nx = (size_t)CIN * H * W;
    float *x = malloc(nx * sizeof(float));
    unsigned seed = 7u;
    for (size_t i = 0; i < nx; i++) x[i] = frand(&seed) * 2.f;
    outputs b, f;
    if (run(path, k, 0, 1, 1, 1, 0, x, &b) == 0) {
        if (run(path, fc_kernels_by_name("avx512"), 0, 1, 1, 1, 0, x, &f) == 0) {
            CHECK(b.count[0] == f.count[0] && memcmp(b.y[0], f.y[0], (size_t)b.count[0] * sizeof(float)),
                  "the bf16 table's chain gives the f32 table's bits: no step multiplied bf16 pairs");
            outputs_free(&f);
        }
        outputs_free(&b);
    }
    free(x);
    unlink(path);
}

int main(void) {
    RUN(test_block_chain_avx512);
    RUN(test_block_chain_avx512bf16);
    return check_done();
}
