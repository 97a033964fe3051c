/* The trainable net with BatchNormalization in training mode (engine/train/net.h, bn_train), as a
 * conv head's new blocks use it, built from a model in memory:
 *  - the whole net's gradients against central finite differences, in training mode (batch
 *    statistics: the gradient goes through them) and in evaluation mode (running statistics);
 *  - a training forward updates the running statistics as PyTorch does (momentum 1 - ONNX's 0.9,
 *    unbiased variance), an evaluation forward leaves them; their get/set for checkpoints;
 *  - training steps lower the loss, bitwise the same on 1 and 2 threads;
 *  - the export from memory keeps the BatchNormalizations (inference form, running statistics
 *    written): the inference engine on it equals the net in evaluation mode (max rel diff <= 1e-4),
 *    and without bn_train the same model's BatchNorms are folded as before;
 *  - errors: a model in memory whose cut is not its input and has no shape given.
 * Prints the numbers. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "tests/support/check.h"
#include "tests/support/net_fd.h"
#include "tests/support/onnx_build.h"
#include "tests/support/tmpdir.h"
#include "tests/support/train_ref.h"

#define C0 4
#define HW 6

static void init(ob_model *m, const char *name, float base, float scale, int rank, const int64_t *dims) {
    size_t n = 1;
    for (int i = 0; i < rank; i++) n *= (size_t)dims[i];
    float *v = ref_rnd(n);
    for (size_t i = 0; i < n; i++) v[i] = base + scale * v[i];
    ob_init(m, name, rank, dims, v);
    free(v);
}

/* 3x3 conv (no bias, stride s) from `in` to `out` channels, BatchNorm, Relu; returns the Relu's
 * output name (static per block). */
static const char *block(ob_model *m, int i, const char *in, int ic, int oc, int s) {
    static char names[4][8][64];
    char *w = names[i][0], *cv = names[i][1], *bn = names[i][2], *relu = names[i][3];
    snprintf(w, 64, "b%d.w", i);
    snprintf(cv, 64, "b%d.conv", i);
    snprintf(bn, 64, "b%d.bn", i);
    snprintf(relu, 64, "b%d.relu", i);
    int64_t wd[4] = {oc, ic, 3, 3}, cd[1] = {oc}, ks[2] = {3, 3}, st[2] = {s, s}, pads[4] = {1, 1, 1, 1};
    init(m, w, 0, 0.6f, 4, wd);
    const char *suffix[4] = {"g", "b", "m", "v"};
    float base[4] = {1.0f, 0.0f, 0.0f, 1.0f}, scale[4] = {0.3f, 0.3f, 0.2f, 0.5f};
    char ins[320], p[4][64];
    for (int k = 0; k < 4; k++) {
        snprintf(p[k], sizeof p[k], "b%d.bn.%s", i, suffix[k]);
        init(m, p[k], base[k], scale[k], 1, cd);
    }
    char conv_in[160];
    snprintf(conv_in, sizeof conv_in, "%s,%s", in, w);
    int c = ob_node(m, "Conv", cv, conv_in, cv);
    ob_attr_ints(m, c, "kernel_shape", 2, ks);
    ob_attr_ints(m, c, "strides", 2, st);
    ob_attr_ints(m, c, "pads", 4, pads);
    snprintf(ins, sizeof ins, "%s,%s,%s,%s,%s", cv, p[0], p[1], p[2], p[3]);
    ob_node(m, "BatchNormalization", bn, ins, bn);
    ob_node(m, "Relu", relu, bn, relu);
    return relu;
}

/* map (N, 4, 6, 6) -> 3x3 conv to 6 + BN + Relu -> 3x3 stride-2 conv to 5 + BN + Relu -> GAP ->
 * feat (N, 5, 1, 1); read back into memory (*size bytes, malloc'd). */
static void *blocks_model(size_t *size) {
    unsigned saved = ref_rng;
    ref_rng = 31u;
    ob_model *m = ob_new(13);
    ob_input(m, "map", -1, C0, HW, HW);
    const char *x = block(m, 0, "map", C0, 6, 1);
    x = block(m, 1, x, 6, 5, 2);
    ob_node(m, "GlobalAveragePool", "pool", x, "feat");
    ob_output(m, "feat");
    const char *path = fc_test_path("blocks.onnx");
    ref_rng = saved;
    if (ob_write(m, path)) return NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    *size = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    void *data = malloc(*size);
    if (data && fread(data, 1, *size, f) != *size) { free(data); data = NULL; }
    fclose(f);
    return data;
}

static fc_train_net *build(const void *data, size_t size, int batch, int threads, int bn_train) {
    fc_train_net *net = NULL;
    fc_error err = {0};
    fc_train_net_options o = {.threads = threads, .bn_train = bn_train};
    if (fc_train_net_build_mem("blocks", data, size, "map", "feat", batch, &o, &net, &err))
        printf("  build: %s\n", err.msg);
    return net;
}

/* ---- finite differences ----------------------------------------------------------------------- */

/* Every parameter's and the input's gradient in one mode; the worst relative error. */
static double fd_mode(const void *data, size_t size, int training) {
    const int N = 3;
    fc_train_net *net = build(data, size, N, 2, 1);
    if (!net) return INFINITY;
    fc_train_net_set_training(net, training);
    fc_error err = {0};
    fd_ctx c = {.net = net, .N = N, .D = fc_train_net_feature_size(net)};
    size_t in_n = fc_train_net_input_size(net);
    c.in = ref_rnd(N * in_n);
    c.out = ref_zeros(N * c.D);
    float *R = ref_rnd(N * c.D), *dinput = ref_zeros(N * in_n);
    c.R = R;
    double worst = INFINITY;
    int kinks = 0;
    size_t total = N * in_n;
    if (!fc_train_net_forward(net, c.in, N, c.out, &err) && !fc_train_net_backward(net, R, dinput, &err)) {
        worst = fd_net_tensor(&c, c.in, dinput, N * in_n, 1, 1e-3f, &kinks);
        printf("  finite differences, %s mode: dinput %.2e", training ? "training" : "evaluation", worst);
        for (int i = 0; i < fc_train_net_n_params(net); i++) {
            fc_train_param p;
            fc_train_net_param(net, i, &p, &err);
            double e = fd_net_tensor(&c, p.value, p.grad, p.count, 1, 1e-3f, &kinks);
            printf(", %s %.2e", p.name, e);
            if (e > worst) worst = e;
            total += p.count;
        }
        printf(" (%d of %zu elements skipped: a kink within h)\n", kinks, total);
        if (kinks * 20 > (int)total) worst = INFINITY;
    } else {
        printf("  %s\n", err.msg);
    }
    fc_train_net_free(net);
    free(c.in);
    free(c.out);
    free(R);
    free(dinput);
    return worst;
}

static void finite_differences(void) {
    size_t size;
    void *data = blocks_model(&size);
    REQUIRE(data, "model written");
    double t = fd_mode(data, size, 1), e = fd_mode(data, size, 0);
    CHECK(t <= 1e-2, "training mode: finite differences differ by %.3g", t);
    CHECK(e <= 1e-2, "evaluation mode: finite differences differ by %.3g", e);
    free(data);
}

/* ---- running statistics ----------------------------------------------------------------------- */

static void running_statistics(void) {
    size_t size;
    void *data = blocks_model(&size);
    REQUIRE(data, "model written");
    const int N = 4;
    fc_train_net *net = build(data, size, N, 1, 1), *frozen = build(data, size, N, 1, 0);
    REQUIRE(net && frozen, "built");
    fc_error err = {0};
    size_t ns = fc_train_net_stats_size(net), in_n = fc_train_net_input_size(net), D = fc_train_net_feature_size(net);
    CHECK(ns == 2 * (6 + 5) && fc_train_net_stats_size(frozen) == 0, "running statistics: %zu (and %zu frozen)", ns,
          fc_train_net_stats_size(frozen));
    CHECK(fc_train_net_n_params(net) == 6 && fc_train_net_n_params(frozen) == 4,
          "parameters: conv weights, BN scales and shifts (%d); folded: conv weights and biases (%d)",
          fc_train_net_n_params(net), fc_train_net_n_params(frozen));
    float *s0 = ref_zeros(ns), *s1 = ref_zeros(ns), *s2 = ref_zeros(ns), *in = ref_rnd(N * in_n), *out = ref_zeros(N * D);
    float *conv = ref_zeros(N * 6 * HW * HW);
    fc_train_net_stats_get(net, s0, ns, &err);
    fc_train_net_set_training(net, 0);
    CHECK(fc_train_net_forward(net, in, N, out, &err) == 0 && fc_train_net_stats_get(net, s1, ns, &err) == 0 &&
              !memcmp(s0, s1, ns * sizeof(float)),
          "an evaluation forward leaves the running statistics");
    fc_train_net_set_training(net, 1);
    CHECK(fc_train_net_forward(net, in, N, out, &err) == 0 && fc_train_net_stats_get(net, s1, ns, &err) == 0,
          "training forward: %s", err.msg);
    /* the first block's conv output, by the reference conv: its channel statistics */
    fc_train_param w;
    fc_train_net_param(net, 0, &w, &err);
    fc_win2d win = {3, 3, 1, 1, 1, 1, 1, 1, 1, 1};
    ref_conv2d_forward(conv, in, w.value, NULL, N, C0, HW, HW, 6, 1, &win);
    double worst = 0;
    for (int c = 0; c < 6; c++) {
        double s = 0, q = 0, M = (double)N * HW * HW;
        for (int n = 0; n < N; n++)
            for (int i = 0; i < HW * HW; i++) s += conv[((size_t)n * 6 + c) * HW * HW + i];
        double mu = s / M;
        for (int n = 0; n < N; n++)
            for (int i = 0; i < HW * HW; i++) {
                double d = conv[((size_t)n * 6 + c) * HW * HW + i] - mu;
                q += d * d;
            }
        double want_m = 0.9 * s0[c] + 0.1 * mu, want_v = 0.9 * s0[6 + c] + 0.1 * q / (M - 1);
        worst = fmax(worst, fmax(fabs(s1[c] - want_m), fabs(s1[6 + c] - want_v) / want_v));
    }
    CHECK(worst <= 1e-5, "running mean and var follow PyTorch's update (worst %.2e)", worst);
    CHECK(fc_train_net_stats_set(net, s0, ns, &err) == 0 && fc_train_net_stats_get(net, s2, ns, &err) == 0 &&
              !memcmp(s0, s2, ns * sizeof(float)),
          "set restores them");
    CHECK(fc_train_net_stats_set(net, s0, ns - 1, &err) == FC_EINVAL, "a wrong size is refused");
    printf("  running statistics after one training forward: worst diff %.2e\n", worst);
    fc_train_net_free(net);
    fc_train_net_free(frozen);
    free(s0), free(s1), free(s2), free(in), free(out), free(conv);
    free(data);
}

/* ---- training and export ---------------------------------------------------------------------- */

/* steps of AdamW with a fixed linear readout of the pooled feature; the losses and the net. */
static fc_train_net *train(const void *data, size_t size, int threads, const float *in, int N, float *losses,
                           int steps) {
    fc_train_net *net = build(data, size, N, threads, 1);
    if (!net) return NULL;
    fc_error err = {0};
    fc_train_ws *ws = fc_train_net_ws(net);
    size_t D = fc_train_net_feature_size(net), nv = fc_train_net_params_size(net);
    float *feat = ref_zeros(N * D), *probs = ref_zeros(N * 3), *logits = ref_zeros(N * 3), *dfeat = ref_zeros(N * D);
    unsigned saved = ref_rng;
    ref_rng = 5u; /* the same readout for every run */
    float *W = ref_rnd(3 * D), *m = ref_zeros(nv), *v = ref_zeros(nv);
    ref_rng = saved;
    int labels[8];
    for (int i = 0; i < N; i++) labels[i] = i % 3;
    int rc = 0;
    for (int s = 0; s < steps && !rc; s++) {
        rc = fc_train_net_forward(net, in, N, feat, &err) || fc_linear_forward(ws, logits, feat, W, NULL, N, (int)D, 3, &err) ||
             fc_crossentropy_forward(ws, &losses[s], probs, logits, labels, N, 3, &err) ||
             fc_crossentropy_backward(ws, probs, probs, labels, N, 3, 1.0f, &err) ||
             fc_linear_backward(ws, dfeat, NULL, NULL, probs, feat, W, N, (int)D, 3, &err) ||
             fc_train_net_backward(net, dfeat, NULL, &err);
        fc_adamw o = {.lr = 0.02f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 1e-4f};
        size_t at = 0;
        for (int i = 0; i < fc_train_net_n_params(net) && !rc; i++) {
            fc_train_param p;
            rc = fc_train_net_param(net, i, &p, &err) ||
                 fc_adamw_step(ws, p.value, m + at, v + at, p.grad, p.count, &o, s + 1, 1.0f, &err);
            at += p.count;
        }
    }
    if (rc) printf("  step: %s\n", err.msg);
    free(feat), free(probs), free(logits), free(dfeat), free(W), free(m), free(v);
    if (rc) fc_train_net_free(net);
    return rc ? NULL : net;
}

/* The inference engine on the file at path: feat (N, D) of in. */
static int engine(const char *path, const float *in, int N, float *feat, size_t D) {
    fc_error err = {0};
    fc_model *m = NULL;
    fc_session *s = NULL;
    fc_session_options so = {.batch = N, .threads = 1};
    int rc = fc_model_load(path, NULL, &m, &err);
    if (!rc) rc = fc_session_create(m, &so, &s, &err);
    if (!rc) rc = fc_session_run(s, in, &err);
    if (!rc) memcpy(feat, fc_session_output(s, 0)->data, (size_t)N * D * sizeof(float));
    if (rc) printf("  engine: %s\n", err.msg);
    fc_session_free(s);
    fc_model_free(m);
    return rc;
}

static int count_bn(const char *path) {
    Onnx__ModelProto *m = NULL;
    if (fc_onnx_read(path, &m, NULL)) return -1;
    int c = 0;
    for (size_t i = 0; i < m->graph->n_node; i++) c += !strcmp(m->graph->node[i]->op_type, "BatchNormalization");
    fc_onnx_model_free(m);
    return c;
}

static void training_and_export(void) {
    size_t size;
    void *data = blocks_model(&size);
    REQUIRE(data, "model written");
    const int N = 6, steps = 6;
    float *in = ref_rnd((size_t)N * C0 * HW * HW), la[8], lb[8];
    fc_train_net *a = train(data, size, 2, in, N, la, steps), *b = train(data, size, 1, in, N, lb, steps);
    REQUIRE(a && b, "training ran");
    printf("  loss");
    for (int s = 0; s < steps; s++) printf(" %.4f", la[s]);
    printf("\n");
    CHECK(la[steps - 1] < la[0], "the loss goes down");
    CHECK(!memcmp(la, lb, sizeof(float) * steps), "1 and 2 threads: the same losses");
    size_t D = fc_train_net_feature_size(a);
    float *mine = ref_zeros(N * D), *ref = ref_zeros(N * D);
    fc_error err = {0};
    const char *out = fc_test_path("blocks_trained.onnx"), *folded = fc_test_path("blocks_folded.onnx");
    CHECK(fc_train_net_write_onnx_mem(a, "blocks", data, size, out, &err) == 0, "export: %s", err.msg);
    fc_train_net_set_training(a, 0);
    CHECK(fc_train_net_forward(a, in, N, mine, &err) == 0 && engine(out, in, N, ref, D) == 0, "forward: %s", err.msg);
    double e = ref_rel_err(mine, ref, N * D);
    printf("  exported model (inference BatchNorm) vs the net in evaluation mode: max rel diff %.2e\n", e);
    CHECK(e <= 1e-4, "the exported model differs from the net by %.3g", e);
    CHECK(count_bn(out) == 2, "the export keeps both BatchNormalizations");
    fc_train_net *f = build(data, size, N, 1, 0);
    CHECK(f && fc_train_net_write_onnx_mem(f, "blocks", data, size, folded, &err) == 0 && count_bn(folded) == 0,
          "without bn_train they are folded into the convs");
    fc_train_net_free(f);
    fc_train_net_free(a);
    fc_train_net_free(b);
    free(in), free(mine), free(ref), free(data);
}

static void errors(void) {
    size_t size;
    void *data = blocks_model(&size);
    REQUIRE(data, "model written");
    fc_train_net *net = NULL;
    fc_error err = {0};
    int rc = fc_train_net_build_mem("blocks", data, size, "b0.relu", "feat", 2, NULL, &net, &err);
    CHECK(rc == FC_EINVAL && !net && strstr(err.msg, "give its shape"), "an inner cut without a shape: %s", err.msg);
    fc_train_net_options o = {.cut_rank = 3, .cut_dims = {6, HW, HW}, .bn_train = 1};
    CHECK(fc_train_net_build_mem("blocks", data, size, "b0.relu", "feat", 2, &o, &net, &err) == 0,
          "with its shape: %s", err.msg);
    fc_train_net_free(net);
    free(data);
}

int main(void) {
    ref_rng = 7u;
    RUN(finite_differences);
    RUN(running_statistics);
    RUN(training_and_export);
    RUN(errors);
    return check_done();
}
