/* Cut points (engine/cuts.c fc_model_cuts) on small built graphs: a chain with a BatchNorm (folded:
 * its Conv's output is not a cut, its parameters are the folded weights and bias), a residual
 * network whose branch interiors are not cuts and whose block inputs are marked, two graph outputs
 * (a branch to the other output is no path to the feature), gated activations and a
 * squeeze-and-excitation that are not block boundaries, and the errors. Then the block marks on
 * the shared MobileNetV2 (t146, t153, t160; every mark a boundary, t140 one and t142 not) and on
 * the torchvision exports when present.
 * Not here: the command's output (tests/cli/test_cuts.sh). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/cuts.h"
#include "engine/model.h"
#include "tests/support/check.h"
#include "tests/support/onnx_build.h"
#include "tests/support/tmpdir.h"

enum { C = 4, H = 8, W = 8 };

/* Conv named name: cin -> cout channels, k x k, padding k/2, stride 1, weights name_w (and bias
 * name_b unless no_bias), all 0.01. */
static void conv(ob_model *m, const char *name, const char *in, const char *out, int cin, int cout, int k,
                 int no_bias) {
    float ones[1024];
    for (int i = 0; i < 1024; i++) ones[i] = 0.01f;
    char w[64], b[64], inputs[256];
    snprintf(w, sizeof w, "%s_w", name);
    snprintf(b, sizeof b, "%s_b", name);
    int64_t wd[4] = {cout, cin, k, k}, bd[1] = {cout};
    ob_init(m, w, 4, wd, ones);
    if (!no_bias) ob_init(m, b, 1, bd, ones);
    snprintf(inputs, sizeof inputs, no_bias ? "%s,%s" : "%s,%s,%s", in, w, b);
    int n = ob_node(m, "Conv", name, inputs, out);
    int64_t pads[4] = {k / 2, k / 2, k / 2, k / 2};
    ob_attr_ints(m, n, "pads", 4, pads);
}

/* 2 x multiply-adds of a Conv with a k x k window over the H x W plane */
static double conv_flops(int cin, int cout, int k) { return 2.0 * cout * H * W * cin * k * k; }
static long long conv_params(int cin, int cout, int k) { return (long long)cout * cin * k * k + cout; }

/* Index of the cut named name in l, or -1. */
static int cut_index(const fc_cut_list *l, const char *name) {
    for (int i = 0; i < l->n; i++)
        if (!strcmp(l->cuts[i].name, name)) return i;
    return -1;
}

/* The cuts of l joined by spaces, each followed by :N when it is marked. */
static const char *cut_names(const fc_cut_list *l) {
    static char buf[4096];
    int at = 0;
    buf[0] = 0;
    for (int i = 0; i < l->n && at < (int)sizeof buf - 300; i++)
        at += snprintf(buf + at, sizeof buf - (size_t)at, l->cuts[i].block_input ? "%s%s:%d" : "%s%s",
                       i ? " " : "", l->cuts[i].name, l->cuts[i].block_input);
    return buf;
}

/* Writes m as dir/name and fills l with its cuts below the default feature; 0 or an FC_E* code. */
static int write_and_cut(ob_model *m, const char *name, fc_cut_list *l, fc_error *err) {
    const char *path = fc_test_path(name);
    if (ob_write(m, path) != 0) return fc_fail(err, FC_EIO, "cannot write %s", path);
    return fc_model_cuts(path, NULL, 0, l, err);
}

/* x -> Conv (no bias) -> BatchNorm b1 -> Relu r1 -> 1x1 Conv c2 -> Relu r2 -> GAP p -> Flatten ->
 * Gemm y: the default feature is p, the cuts are b1 r1 c2 r2. */
static const char *chain_model(void) {
    const char *path = fc_test_path("chain.onnx");
    ob_model *m = ob_new(13);
    ob_input(m, "x", 1, 3, H, W);
    ob_output(m, "y");
    conv(m, "c1", "x", "c1", 3, C, 3, 1);
    float bn[C] = {1, 2, 3, 4};
    int64_t d[1] = {C}, gd[2] = {5, 6};
    ob_init(m, "g", 1, d, bn);
    ob_init(m, "be", 1, d, bn);
    ob_init(m, "mu", 1, d, bn);
    ob_init(m, "var", 1, d, bn);
    ob_node(m, "BatchNormalization", "bn", "c1,g,be,mu,var", "b1");
    ob_node(m, "Relu", "relu1", "b1", "r1");
    conv(m, "c2", "r1", "c2", C, 6, 1, 0);
    ob_node(m, "Relu", "relu2", "c2", "r2");
    ob_node(m, "GlobalAveragePool", "gap", "r2", "p");
    ob_node(m, "Flatten", "flat", "p", "f");
    ob_init(m, "fc_w", 2, gd, NULL);
    ob_node(m, "Gemm", "fc", "f,fc_w", "y");
    return ob_write(m, path) == 0 ? path : NULL;
}

static void test_chain(void) {
    const char *path = chain_model();
    REQUIRE(path, "cannot write the model");
    fc_cut_list l;
    fc_error err = {0};
    int rc = fc_model_cuts(path, NULL, 0, &l, &err);
    REQUIRE(rc == 0, "%s", err.msg);
    CHECK(!strcmp(l.feature, "p"), "feature %s, want p (before Flatten and the Gemm)", l.feature);
    CHECK(!strcmp(cut_names(&l), "b1 r1 c2 r2"), "cuts '%s', want 'b1 r1 c2 r2' (no marks)", cut_names(&l));
    double f1 = conv_flops(3, C, 3), f2 = conv_flops(C, 6, 1);
    CHECK(l.flops == f1 + f2 && l.height == H && l.width == W, "total %.0f FLOPs at %dx%d, want %.0f at 8x8",
          l.flops, l.height, l.width, f1 + f2);
    CHECK(l.params == conv_params(3, C, 3) + conv_params(C, 6, 1), "params %lld: the BatchNorm folds into "
          "its Conv's weights and a bias", (long long)l.params);
    if (l.n == 4) {
        const fc_cut *b1 = &l.cuts[0], *r2 = &l.cuts[3];
        CHECK(b1->rank == 3 && b1->dims[0] == C && b1->dims[1] == H && b1->dims[2] == W, "b1 shape");
        CHECK(b1->bytes_f16 == C * H * W * 2 && b1->bytes_f32 == C * H * W * 4, "b1 bytes %lld %lld",
              (long long)b1->bytes_f16, (long long)b1->bytes_f32);
        CHECK(b1->flops_below == f1 && b1->flops_above == f2, "b1 FLOPs %.0f / %.0f, want %.0f / %.0f",
              b1->flops_below, b1->flops_above, f1, f2);
        CHECK(b1->params_above == conv_params(C, 6, 1) && r2->params_above == 0, "params above %lld, %lld",
              (long long)b1->params_above, (long long)r2->params_above);
        CHECK(r2->flops_below == f1 + f2 && r2->flops_above == 0 && r2->dims[0] == 6, "r2");
    }
    fc_cut_list_free(&l);
    rc = fc_model_cuts(path, "r1", 16, &l, &err);
    CHECK(rc == 0 && !strcmp(cut_names(&l), "b1") && l.height == 16 && l.n == 1 && l.cuts[0].dims[1] == 16,
          "feature r1 at 16: '%s' (%s)", rc ? "" : cut_names(&l), rc ? err.msg : "");
    fc_cut_list_free(&l);
    rc = fc_model_cuts(path, "nope", 0, &l, &err);
    CHECK(rc == FC_EINVAL && strstr(err.msg, "'nope'") && strstr(err.msg, "chain.onnx"), "unknown feature: %d %s",
          rc, err.msg);
    fc_cut_list_free(&l);
    rc = fc_model_cuts(path, "x", 0, &l, &err);
    CHECK(rc == FC_EINVAL && strstr(err.msg, "'x' is the model's input"), "the input as feature: %d %s", rc,
          err.msg);
    fc_cut_list_free(&l);
    rc = fc_model_cuts(fc_test_path("missing.onnx"), NULL, 0, &l, &err);
    CHECK(rc == FC_EIO && strstr(err.msg, "missing.onnx"), "missing model: %d %s", rc, err.msg);
    fc_cut_list_free(&l);
}

/* A residual block: in -> Conv a -> Relu -> Conv b -> Add(b, in) out. */
static void residual_block(ob_model *m, const char *p, const char *in, const char *out) {
    char a[32], ar[32], b[32], add[64];
    snprintf(a, sizeof a, "%s1", p);
    snprintf(ar, sizeof ar, "%s1r", p);
    snprintf(b, sizeof b, "%s2", p);
    conv(m, a, in, a, C, C, 3, 0);
    ob_node(m, "Relu", ar, a, ar);
    conv(m, b, ar, b, C, C, 3, 0);
    snprintf(add, sizeof add, "%s,%s", b, in);
    ob_node(m, "Add", out, add, out);
}

/* x -> stem Conv c0 -> Relu r0 -> block b -> s1 -> Relu r1 -> block d -> s2 -> Relu r2 -> GAP p. */
static void test_residual(void) {
    ob_model *m = ob_new(13);
    ob_input(m, "x", 1, C, H, W);
    ob_output(m, "p");
    conv(m, "c0", "x", "c0", C, C, 3, 0);
    ob_node(m, "Relu", "r0", "c0", "r0");
    residual_block(m, "b", "r0", "s1");
    ob_node(m, "Relu", "r1", "s1", "r1");
    residual_block(m, "d", "r1", "s2");
    ob_node(m, "Relu", "r2", "s2", "r2");
    ob_node(m, "GlobalAveragePool", "gap", "r2", "p");
    fc_cut_list l;
    fc_error err = {0};
    REQUIRE(write_and_cut(m, "residual.onnx", &l, &err) == 0, "%s", err.msg);
    /* the branches' tensors (b1, b1r, b2, d1, ...) are bypassed by the skips; the stem holds one
     * Conv, so only the two residual blocks are blocks */
    CHECK(!strcmp(cut_names(&l), "c0 r0:2 s1 r1:1 s2 r2"), "cuts '%s', want 'c0 r0:2 s1 r1:1 s2 r2'",
          cut_names(&l));
    double f = conv_flops(C, C, 3);
    int s1 = cut_index(&l, "s1"), r0 = cut_index(&l, "r0");
    CHECK(s1 >= 0 && l.cuts[s1].flops_below == 3 * f && l.cuts[s1].flops_above == 2 * f, "s1 FLOPs");
    CHECK(r0 >= 0 && l.cuts[r0].params_above == 4 * conv_params(C, C, 3), "r0 params above");
    fc_cut_list_free(&l);
}

/* x -> Conv c1 -> Relu r1 -> Conv a -> GAP p1 (first output); r1 -> Conv c3 -> o2 (second). */
static void test_two_outputs(void) {
    ob_model *m = ob_new(13);
    ob_input(m, "x", 1, C, H, W);
    ob_output(m, "p1");
    ob_output(m, "o2");
    conv(m, "c1", "x", "c1", C, C, 3, 0);
    ob_node(m, "Relu", "r1", "c1", "r1");
    conv(m, "a", "r1", "a", C, C, 3, 0);
    ob_node(m, "GlobalAveragePool", "gap", "a", "p1");
    conv(m, "c3", "r1", "o2", C, C, 1, 0);
    fc_cut_list l;
    fc_error err = {0};
    REQUIRE(write_and_cut(m, "two_outputs.onnx", &l, &err) == 0, "%s", err.msg);
    /* r1 also feeds o2, but that is no path to p1: r1 is no skip, and c3's weights are not above */
    CHECK(!strcmp(l.feature, "p1") && !strcmp(cut_names(&l), "c1 r1 a"), "feature %s, cuts '%s', want p1: "
          "'c1 r1 a'", l.feature, cut_names(&l));
    CHECK(l.n == 3 && l.cuts[1].params_above == conv_params(C, C, 3), "r1 params above");
    fc_cut_list_free(&l);
    REQUIRE(fc_model_cuts(fc_test_path("two_outputs.onnx"), "o2", 0, &l, &err) == 0, "%s", err.msg);
    CHECK(!strcmp(cut_names(&l), "c1 r1") && l.flops == conv_flops(C, C, 3) + conv_flops(C, C, 1),
          "feature o2: cuts '%s', %.0f FLOPs", cut_names(&l), l.flops);
    fc_cut_list_free(&l);
}

/* y = x * sigmoid(x) as PyTorch exports SiLU */
static void silu(ob_model *m, const char *x, const char *y) {
    char s[64], in[128];
    snprintf(s, sizeof s, "%s_sig", x);
    snprintf(in, sizeof in, "%s,%s", x, s);
    ob_node(m, "Sigmoid", s, x, s);
    ob_node(m, "Mul", y, in, y);
}

/* EfficientNet's block without the skip: 1x1 expansion + SiLU, 3x3 + SiLU, squeeze-and-excitation,
 * 1x1 projection (linear bottleneck: a boundary). */
static void mbconv(ob_model *m, const char *p, const char *in, const char *out) {
    enum { E, EM, D, DM, SQ, S1, S1R, S2, SG, SE, N_NAMES };
    static const char *suffix[N_NAMES] = {"e", "em", "d", "dm", "sq", "s1", "s1r", "s2", "sg", "se"};
    char n[N_NAMES][32], mul[96];
    for (int i = 0; i < N_NAMES; i++) snprintf(n[i], sizeof n[i], "%s%s", p, suffix[i]);
    conv(m, n[E], in, n[E], C, 2 * C, 1, 0);
    silu(m, n[E], n[EM]);
    conv(m, n[D], n[EM], n[D], 2 * C, 2 * C, 3, 0);
    silu(m, n[D], n[DM]);
    ob_node(m, "GlobalAveragePool", n[SQ], n[DM], n[SQ]);
    conv(m, n[S1], n[SQ], n[S1], 2 * C, 2, 1, 0);
    ob_node(m, "Relu", n[S1R], n[S1], n[S1R]);
    conv(m, n[S2], n[S1R], n[S2], 2, 2 * C, 1, 0);
    ob_node(m, "Sigmoid", n[SG], n[S2], n[SG]);
    snprintf(mul, sizeof mul, "%s,%s", n[DM], n[SG]);
    ob_node(m, "Mul", n[SE], mul, n[SE]);
    conv(m, out, n[SE], out, 2 * C, C, 1, 0);
}

static void test_gates(void) {
    ob_model *m = ob_new(13);
    ob_input(m, "x", 1, C, H, W);
    ob_output(m, "p");
    mbconv(m, "a", "x", "proj1");
    mbconv(m, "b", "proj1", "proj2");
    conv(m, "head", "proj2", "head", C, 8, 1, 0);
    ob_node(m, "Relu", "headr", "head", "headr");
    ob_node(m, "GlobalAveragePool", "gap", "headr", "p");
    fc_cut_list l;
    fc_error err = {0};
    REQUIRE(write_and_cut(m, "gates.onnx", &l, &err) == 0, "%s", err.msg);
    /* a SiLU's input feeds two nodes that rejoin at its Mul, and so does the tensor the
     * squeeze-and-excitation scales: neither is a skip */
    const char *want = "ae aem ad adm ase proj1:1 be bem bd bdm bse proj2 head headr";
    CHECK(!strcmp(cut_names(&l), want), "cuts '%s', want '%s'", cut_names(&l), want);
    fc_cut_list_free(&l);
}

/* The marks on a real network, and the totals against a session of the model itself. */
static void check_marks(const char *path, int size, const char *const want[3]) {
    fc_cut_list l;
    fc_error err = {0};
    int rc = fc_model_cuts(path, NULL, size, &l, &err);
    CHECK(rc == 0, "%s", err.msg);
    if (rc) return;
    for (int k = 1; k <= 3; k++) {
        int i = cut_index(&l, want[k - 1]);
        CHECK(i >= 0 && l.cuts[i].block_input == k, "%s: the input of the last %d blocks is not '%s' (%s)", path,
              k, want[k - 1], cut_names(&l));
    }
    int marks = 0;
    for (int i = 0; i < l.n; i++) {
        marks += l.cuts[i].block_input != 0;
        CHECK(!l.cuts[i].block_input || l.cuts[i].boundary, "%s: %s starts a block but is no boundary", path,
              l.cuts[i].name);
    }
    CHECK(marks == 3, "%s: %d marks", path, marks);
    fc_model *m = NULL;
    fc_session *s = NULL;
    const char *outs[1] = {l.feature};
    fc_model_options mo = {.outputs = outs, .n_outputs = 1};
    fc_session_options so = {.batch = 1, .height = size, .width = size, .threads = 1};
    int64_t dims[4] = {0}, described[4] = {0};
    if (fc_model_load(path, NULL, &m, &err) == 0) {
        CHECK(!strcmp(fc_model_default_feature(m), l.feature), "feature %s, default %s", l.feature,
              fc_model_default_feature(m));
        fc_model_input_dims(m, dims);
        fc_model_free(m);
        m = NULL;
    }
    /* a model loaded to be described (extract's model facts) names the same feature and input, and
     * refuses to run */
    fc_model_options describe = {.describe_only = 1};
    if (fc_model_load(path, &describe, &m, &err) == 0) {
        CHECK(!strcmp(fc_model_default_feature(m), l.feature), "described: feature %s, default %s", l.feature,
              fc_model_default_feature(m));
        fc_model_input_dims(m, described);
        CHECK(!memcmp(dims, described, sizeof dims), "described: another input shape");
        fc_error e = {0};
        CHECK(fc_session_create(m, &so, &s, &e) == FC_EINVAL && !s && strstr(e.msg, "described only"),
              "described: a session was made (%s)", e.msg);
        fc_model_free(m);
        m = NULL;
    } else CHECK(0, "%s", err.msg);
    if (fc_model_load(path, &mo, &m, &err) == 0 && fc_session_create(m, &so, &s, &err) == 0)
        CHECK(fc_session_flops(s) == l.flops, "%s: %.0f FLOPs, the session of the feature alone %.0f", path,
              l.flops, fc_session_flops(s));
    else CHECK(0, "%s", err.msg);
    for (int i = 0; i + 1 < l.n; i++) {
        const fc_cut *c = &l.cuts[i], *next = c + 1;
        CHECK(c->flops_below <= next->flops_below && c->params_above >= next->params_above &&
              c->flops_below + c->flops_above == l.flops, "%s: cut %s", path, c->name);
    }
    fc_session_free(s);
    fc_model_free(m);
    fc_cut_list_free(&l);
}

static void test_mobilenet_v2(void) {
    const char *shared = check_shared_dir();
    if (!shared) SKIP("../shared not found");
    char path[1024];
    snprintf(path, sizeof path, "%s/models/mobilenet_v2_1.0_224.onnx", shared);
    static const char *const want[3] = {"t160", "t153", "t146"};
    check_marks(path, 224, want);
    /* boundaries: the outputs of residual Adds and linear bottlenecks, not an expansion's ReLU6 */
    fc_cut_list l;
    fc_error err = {0};
    REQUIRE(fc_model_cuts(path, NULL, 96, &l, &err) == 0, "%s", err.msg);
    static const struct { const char *name; int boundary; } b[] = {{"t93", 1}, {"t126", 1}, {"t140", 1}, {"t142", 0},
                                                                    {"t144", 0}, {"t166", 1}};
    for (size_t k = 0; k < sizeof b / sizeof *b; k++) {
        int i = cut_index(&l, b[k].name);
        CHECK(i >= 0 && l.cuts[i].boundary == b[k].boundary, "%s: boundary %d", b[k].name, i >= 0 ? l.cuts[i].boundary : -1);
    }
    fc_cut_list_free(&l);
}

/* torchvision's names, from scripts/export_torchvision.py's exports */
static const struct {
    const char *model, *last[3]; /* the inputs of the last 1, 2, 3 blocks */
} TORCHVISION[] = {
    {"resnet18", {"/layer4/layer4.0/relu_1/Relu_output_0", "/layer3/layer3.1/relu_1/Relu_output_0",
                  "/layer3/layer3.0/relu_1/Relu_output_0"}},
    {"resnet50", {"/layer4/layer4.1/relu_2/Relu_output_0", "/layer4/layer4.0/relu_2/Relu_output_0",
                  "/layer3/layer3.5/relu_2/Relu_output_0"}},
    {"efficientnet_b0", {"/features/features.6/features.6.3/Add_output_0",
                         "/features/features.6/features.6.2/Add_output_0",
                         "/features/features.6/features.6.1/Add_output_0"}},
    {"mobilenet_v3_large", {"/features/features.14/Add_output_0",
                            "/features/features.13/block/block.3/block.3.1/BatchNormalization_output_0",
                            "/features/features.12/Add_output_0"}},
    {"mobilenet_v2", {"/features/features.16/Add_output_0", "/features/features.15/Add_output_0",
                      "/features/features.14/conv/conv.3/BatchNormalization_output_0"}},
};

static void test_torchvision(void) {
    const char *dir = getenv("FEATCACHE_TORCHVISION");
    if (!dir || !*dir) dir = "build/torchvision";
    char path[1024];
    for (size_t i = 0; i < sizeof TORCHVISION / sizeof *TORCHVISION; i++) {
        snprintf(path, sizeof path, "%s/%s.onnx", dir, TORCHVISION[i].model);
        FILE *f = fopen(path, "rb");
        if (!f) SKIP("torchvision exports not found (make torchvision)");
        fclose(f);
        check_marks(path, 224, TORCHVISION[i].last);
    }
}

int main(void) {
    RUN(test_chain);
    RUN(test_residual);
    RUN(test_two_outputs);
    RUN(test_gates);
    RUN(test_mobilenet_v2);
    RUN(test_torchvision);
    return check_done();
}
