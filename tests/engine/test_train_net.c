/* The trainable top of a backbone (engine/train/net.h):
 *  - forward equals the inference engine's feature for the same cut activations (max |diff| /
 *    max |ref| <= 1e-4): MobileNetV2 (../shared) at t146 and t140, and the torchvision exports of
 *    ResNet-18, EfficientNet-B0 (SiLU, squeeze-and-excitation) and MobileNetV3-Large (HardSwish,
 *    hard-sigmoid SE, a Gemm in the top) at a late cut, with their BatchNorms folded;
 *  - the whole net's gradients against central finite differences on a tiny model that has every
 *    form the mapping knows (folded BatchNorm with and without a Conv bias, x*hardsigmoid(x),
 *    x*sigmoid(x), depthwise, squeeze-and-excitation, residual, pools, Concat, an unfolded
 *    BatchNorm, Flatten, Gemm, MatMul);
 *  - SGD steps with a linear head on random labels lower the loss, bitwise the same on two runs
 *    and on 1 and 2 threads; a smaller last batch; checkpoints; with bf16 products the losses stay
 *    within 1% of f32's (the AVX512_BF16 kernels and their scalar twin give the same bits);
 *  - errors: a cut inside a residual branch, a cut after the feature, unknown tensors, ops without
 *    backward;
 *  - export: the written ONNX, run by fc_model after training steps, gives the net's features.
 * Prints the numbers (diffs, finite-difference errors, step times of the MobileNetV2 t146 top at
 * batch 32 on 2 threads). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/engine.h"
#include "tests/support/check.h"
#include "tests/support/net_fd.h"
#include "tests/support/onnx_build.h"
#include "tests/support/tmpdir.h"
#include "tests/support/train_ref.h"

/* ---- helpers -------------------------------------------------------------------------------- */


static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static const char *shared_model(const char *name) {
    static char path[4][1024];
    static int k;
    const char *d = check_shared_dir();
    if (!d) return NULL;
    k = (k + 1) % 4;
    snprintf(path[k], sizeof path[k], "%s/models/%s", d, name);
    FILE *f = fopen(path[k], "rb");
    if (!f) return NULL;
    fclose(f);
    return path[k];
}

static const char *torchvision_model(const char *name) {
    static char path[4][1024];
    static int k;
    const char *d = getenv("FEATCACHE_TORCHVISION");
    k = (k + 1) % 4;
    snprintf(path[k], sizeof path[k], "%s/%s.onnx", d && *d ? d : "build/torchvision", name);
    FILE *f = fopen(path[k], "rb");
    if (!f) return NULL;
    fclose(f);
    return path[k];
}

/* The inference engine on N random images of the declared size: the cut and feature tensors
 * (malloc'd, (N, ...) each); *cut_n, *feat_n their per-image sizes. feature NULL: the model's
 * default feature (its name in *feature_out). */
static int run_engine(const char *path, const char *cut, const char *feature, int N, float **cutv,
                      size_t *cut_n, float **featv, size_t *feat_n, char *feature_out, size_t cap) {
    fc_error err = {0};
    fc_model *m = NULL;
    fc_session *s = NULL;
    char feat[512];
    if (!feature) {
        if (fc_model_load(path, NULL, &m, &err)) goto fail;
        snprintf(feat, sizeof feat, "%s", fc_model_default_feature(m));
        fc_model_free(m);
        m = NULL;
    } else {
        snprintf(feat, sizeof feat, "%s", feature);
    }
    if (feature_out) snprintf(feature_out, cap, "%s", feat);
    const char *outs[2] = {cut, feat};
    fc_model_options mo = {.outputs = outs, .n_outputs = 2};
    fc_session_options so = {.batch = N, .threads = 2};
    if (fc_model_load(path, &mo, &m, &err) || fc_session_create(m, &so, &s, &err)) goto fail;
    int64_t d[4];
    fc_session_input_dims(s, d);
    size_t in_n = (size_t)(d[1] * d[2] * d[3]);
    float *img = ref_rnd((size_t)N * in_n);
    int rc = fc_session_run(s, img, &err);
    free(img);
    if (rc) goto fail;
    const fc_tensor *t[2] = {fc_session_output(s, 0), fc_session_output(s, 1)};
    size_t cnt[2] = {(size_t)fc_tensor_count(t[0]) / N, (size_t)fc_tensor_count(t[1]) / N};
    *cutv = malloc(cnt[0] * N * sizeof(float));
    *featv = malloc(cnt[1] * N * sizeof(float));
    memcpy(*cutv, t[0]->data, cnt[0] * N * sizeof(float));
    memcpy(*featv, t[1]->data, cnt[1] * N * sizeof(float));
    *cut_n = cnt[0];
    *feat_n = cnt[1];
    fc_session_free(s);
    fc_model_free(m);
    return 0;
fail:
    printf("  engine: %s\n", err.msg);
    fc_session_free(s);
    fc_model_free(m);
    return -1;
}

/* Net forward on the engine's cut activations vs the engine's feature. */
static void forward_vs_engine(const char *what, const char *path, const char *cut, const char *feature,
                              int N) {
    float *cutv = NULL, *featv = NULL;
    size_t cut_n, feat_n;
    char feat[512];
    REQUIRE(run_engine(path, cut, feature, N, &cutv, &cut_n, &featv, &feat_n, feat, sizeof feat) == 0,
            "%s: engine run", what);
    fc_train_net *net = NULL;
    fc_error err = {0};
    fc_train_net_options opt = {.threads = 2};
    double t0 = now();
    int rc = fc_train_net_build(path, cut, feat, N, &opt, &net, &err);
    double t_build = now() - t0;
    CHECK(rc == 0, "%s: build: %s", what, err.msg);
    if (rc == 0) {
        CHECK(fc_train_net_input_size(net) == cut_n && fc_train_net_feature_size(net) == feat_n,
              "%s: sizes %zu/%zu vs %zu/%zu", what, fc_train_net_input_size(net),
              fc_train_net_feature_size(net), cut_n, feat_n);
        float *out = ref_zeros((size_t)N * feat_n);
        rc = fc_train_net_forward(net, cutv, N, out, &err);
        CHECK(rc == 0, "%s: forward: %s", what, err.msg);
        double e = ref_rel_err(out, featv, (size_t)N * feat_n);
        printf("  %s: cut '%s' -> '%s' (%zu -> %zu per image), %d parameter tensors, build %.0f ms, "
               "forward max rel diff %.2e\n", what, cut, feat, cut_n, feat_n, fc_train_net_n_params(net),
               t_build * 1e3, e);
        CHECK(e <= 1e-4, "%s: forward differs from the engine by %.3g", what, e);
        free(out);
    }
    fc_train_net_free(net);
    free(cutv);
    free(featv);
}

/* ---- forward vs the inference engine -------------------------------------------------------- */

static void mobilenet_v2_forward(void) {
    const char *p = shared_model("mobilenet_v2_1.0_224.onnx");
    if (!p) SKIP("../shared/models/mobilenet_v2_1.0_224.onnx not present");
    forward_vs_engine("mobilenet_v2 t146", p, "t146", NULL, 3);
    forward_vs_engine("mobilenet_v2 t140", p, "t140", NULL, 2);
    fc_train_net *net = NULL;
    fc_error err = {0};
    int rc = fc_train_net_build(p, "t150", "pooled", 2, NULL, &net, &err);
    CHECK(rc == FC_EINVAL && strstr(err.msg, "'t150' is not a cut: node 't153' reads 't146' from below the cut"),
          "t150 (inside a residual branch): %d %s", rc, err.msg);
    fc_train_net_free(net);
}

static void torchvision_forward(void) {
    static const struct {
        const char *model, *cut;
    } cases[] = {
        {"resnet18", "/layer3/layer3.1/relu_1/Relu_output_0"},
        {"efficientnet_b0", "/features/features.6/features.6.3/Add_output_0"},
        {"mobilenet_v3_large", "/features/features.14/Add_output_0"},
    };
    int ran = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *p = torchvision_model(cases[i].model);
        if (!p) continue;
        forward_vs_engine(cases[i].model, p, cases[i].cut, NULL, 2);
        ran++;
    }
    if (!ran) SKIP("no torchvision exports (make torchvision, or TORCHVISION_DIR)");
}

/* ---- a tiny model with every mapped form ------------------------------------------------------ */

#define TINY_C 4
#define TINY_H 8

/* Initializer `name` of dims (rank <= 4, trailing dims 0 ignored): base + scale * uniform[-1, 1). */
static void init(ob_model *m, const char *name, float base, float scale, int64_t d0, int64_t d1,
                 int64_t d2, int64_t d3) {
    int64_t dims[4] = {d0, d1, d2, d3};
    int rank = d0 ? d1 ? d2 ? d3 ? 4 : 3 : 2 : 1 : 0;
    size_t n = 1;
    for (int i = 0; i < rank; i++) n *= (size_t)dims[i];
    float *v = ref_rnd(n);
    for (size_t i = 0; i < n; i++) v[i] = base + scale * v[i];
    ob_init(m, name, rank, dims, v);
    free(v);
}

static void bn(ob_model *m, const char *p, int C, const char *in, const char *out) {
    char n[4][64], ins[320];
    const char *suffix[4] = {"g", "b", "m", "v"};
    for (int i = 0; i < 4; i++) snprintf(n[i], sizeof n[i], "%s.%s", p, suffix[i]);
    init(m, n[0], 1.0f, 0.3f, C, 0, 0, 0);
    init(m, n[1], 0.0f, 0.3f, C, 0, 0, 0);
    init(m, n[2], 0.0f, 0.2f, C, 0, 0, 0);
    init(m, n[3], 1.0f, 0.5f, C, 0, 0, 0);
    snprintf(ins, sizeof ins, "%s,%s,%s,%s,%s", in, n[0], n[1], n[2], n[3]);
    ob_node(m, "BatchNormalization", p, ins, out);
}

static int conv(ob_model *m, const char *name, const char *ins, const char *out, int k, int stride,
                int pad, int group) {
    int c = ob_node(m, "Conv", name, ins, out);
    int64_t ks[2] = {k, k}, st[2] = {stride, stride}, pads[4] = {pad, pad, pad, pad};
    ob_attr_ints(m, c, "kernel_shape", 2, ks);
    ob_attr_ints(m, c, "strides", 2, st);
    ob_attr_ints(m, c, "pads", 4, pads);
    if (group > 1) ob_attr_int(m, c, "group", group);
    return c;
}

static void pool(ob_model *m, const char *op, const char *name, const char *in, const char *out, int k,
                 int stride, int pad) {
    int c = ob_node(m, op, name, in, out);
    int64_t ks[2] = {k, k}, st[2] = {stride, stride}, pads[4] = {pad, pad, pad, pad};
    ob_attr_ints(m, c, "kernel_shape", 2, ks);
    ob_attr_ints(m, c, "strides", 2, st);
    ob_attr_ints(m, c, "pads", 4, pads);
}

/* The block from the cut: 1x1 expansion + folded BN (Conv without bias) + x*hardsigmoid(x),
 * depthwise + folded BN (Conv with bias) + x*sigmoid(x), squeeze-and-excitation, projection +
 * folded BN, residual Add. */
static void tiny_block(ob_model *m) {
    init(m, "exp.w", 0, 0.5f, 8, TINY_C, 1, 1);
    conv(m, "exp", "cut,exp.w", "e0", 1, 1, 0, 1);
    bn(m, "bn1", 8, "e0", "e1");
    int hs = ob_node(m, "HardSigmoid", "hsig", "e1", "e1g");
    ob_attr_float(m, hs, "alpha", 1.0f / 6.0f);
    ob_node(m, "Mul", "hswish", "e1,e1g", "e2");
    init(m, "dw.w", 0, 0.4f, 8, 1, 3, 3);
    init(m, "dw.b", 0, 0.2f, 8, 0, 0, 0);
    conv(m, "dw", "e2,dw.w,dw.b", "d0", 3, 1, 1, 8);
    bn(m, "bn2", 8, "d0", "d1");
    ob_node(m, "Sigmoid", "sig", "d1", "d1s");
    ob_node(m, "Mul", "silu", "d1s,d1", "d2");
    ob_node(m, "GlobalAveragePool", "se.pool", "d2", "p");
    init(m, "se1.w", 0, 1.5f, 2, 8, 1, 1);
    init(m, "se1.b", 0.6f, 0.1f, 2, 0, 0, 0); /* the SE Relu stays away from its kink */
    conv(m, "se1", "p,se1.w,se1.b", "f1", 1, 1, 0, 1);
    ob_node(m, "Relu", "se.relu", "f1", "f1r");
    init(m, "se2.w", 0, 1.5f, 8, 2, 1, 1);
    init(m, "se2.b", 0, 0.2f, 8, 0, 0, 0);
    conv(m, "se2", "f1r,se2.w,se2.b", "f2", 1, 1, 0, 1);
    ob_node(m, "Sigmoid", "se.gate", "f2", "gate");
    ob_node(m, "Mul", "se.mul", "gate,d2", "se");
    init(m, "proj.w", 0, 0.8f, TINY_C, 8, 1, 1);
    conv(m, "proj", "se,proj.w", "pr", 1, 1, 0, 1);
    bn(m, "bn3", TINY_C, "pr", "pr1");
    ob_node(m, "Add", "res.add", "pr1,cut", "res");
}

/* The rest: strided conv + two Clips + pools (MaxPool first: on averaged maps neighbours are so close that
 * finite differences would often move the maximum), a second pooled branch, Concat, an unfolded BatchNorm,
 * global pooling, Flatten, Gemm, Sigmoid, MatMul -> feat (N, 5). extra_op (NULL: none) is applied
 * to `lin` before the Sigmoid (an op without backward, for the error test). */
static void tiny_top(ob_model *m, const char *extra_op) {
    init(m, "down.w", 0, 0.5f, TINY_C, TINY_C, 3, 3);
    init(m, "down.b", 0, 0.1f, TINY_C, 0, 0, 0);
    conv(m, "down", "res,down.w,down.b", "b0", 3, 2, 1, 1);
    init(m, "clip.lo", -0.5f, 0, 0, 0, 0, 0);
    init(m, "clip.hi", 0.8f, 0, 0, 0, 0, 0);
    ob_node(m, "Clip", "clip", "b0,clip.lo,clip.hi", "b1c");
    init(m, "clip2.lo", 0.1f, 0, 0, 0, 0, 0);
    init(m, "clip2.hi", 1.0f, 0, 0, 0, 0, 0);
    ob_node(m, "Clip", "clip2", "b1c,clip2.lo,clip2.hi", "b1"); /* the second one is not fused */
    pool(m, "MaxPool", "max", "b1", "m1", 2, 2, 0);
    pool(m, "AveragePool", "avg", "m1", "m0", 3, 1, 1);
    pool(m, "AveragePool", "avg2", "res", "q0", 4, 4, 0);
    int c = ob_node(m, "Concat", "cat", "m0,q0", "cat");
    ob_attr_int(m, c, "axis", 1);
    bn(m, "bn4", 2 * TINY_C, "cat", "cbn");
    ob_node(m, "GlobalAveragePool", "gap", "cbn", "g");
    ob_node(m, "Flatten", "flatten", "g", "flat");
    init(m, "fc.w", 0, 0.5f, 6, 2 * TINY_C, 0, 0);
    init(m, "fc.b", 0, 0.2f, 6, 0, 0, 0);
    int gm = ob_node(m, "Gemm", "fc", "flat,fc.w,fc.b", "lin");
    ob_attr_int(m, gm, "transB", 1);
    if (extra_op) ob_node(m, extra_op, "odd", "lin", "lin2");
    ob_node(m, "Sigmoid", "fc.sig", extra_op ? "lin2" : "lin", "ls");
    init(m, "mm.w", 0, 0.5f, 6, 5, 0, 0);
    ob_node(m, "MatMul", "mm", "ls,mm.w", "feat");
}

/* Writes the tiny model to tmp/name: x (N,3,8,8) -> stem Conv + Relu -> cut (N,4,8,8) -> ... ->
 * feat (N,5). */
static const char *tiny_model(const char *name, const char *extra_op) {
    unsigned saved = ref_rng;
    ref_rng = 77u; /* the same weights for every file */
    ob_model *m = ob_new(13);
    ob_input(m, "x", -1, 3, TINY_H, TINY_H);
    init(m, "stem.w", 0, 0.4f, TINY_C, 3, 3, 3);
    init(m, "stem.b", 0.1f, 0.1f, TINY_C, 0, 0, 0);
    conv(m, "stem", "x,stem.w,stem.b", "s0", 3, 1, 1, 1);
    ob_node(m, "Relu", "stem.relu", "s0", "cut");
    tiny_block(m);
    tiny_top(m, extra_op);
    ob_output(m, "feat");
    const char *path = fc_test_path(name);
    int rc = ob_write(m, path);
    ref_rng = saved;
    return rc ? NULL : path;
}

/* ---- finite differences ----------------------------------------------------------------------- */

static void tiny_finite_differences(void) {
    const char *path = tiny_model("tiny.onnx", NULL);
    REQUIRE(path, "tiny model written");
    fc_train_net *net = NULL;
    fc_error err = {0};
    fc_train_net_options opt = {.threads = 2, .cut_rank = 3, .cut_dims = {TINY_C, TINY_H, TINY_H}};
    const int N = 2;
    REQUIRE(fc_train_net_build(path, "cut", "feat", N, &opt, &net, &err) == 0, "build: %s", err.msg);
    fd_ctx c = {.net = net, .N = N, .D = fc_train_net_feature_size(net)};
    size_t in_n = fc_train_net_input_size(net);
    CHECK(c.D == 5 && in_n == TINY_C * TINY_H * TINY_H, "sizes %zu %zu", c.D, in_n);
    c.in = ref_rnd(N * in_n);
    c.out = ref_zeros(N * c.D);
    float *R = ref_rnd(N * c.D), *dinput = ref_zeros(N * in_n);
    c.R = R;
    REQUIRE(fc_train_net_forward(net, c.in, N, c.out, &err) == 0, "forward: %s", err.msg);
    REQUIRE(fc_train_net_backward(net, R, dinput, &err) == 0, "backward: %s", err.msg);
    int np = fc_train_net_n_params(net);
    CHECK(np == 17, "%d parameter tensors (expected 17)", np);
    const float h = 1e-2f; /* smaller steps drown the smallest gradients in the loss's rounding */
    double worst = fd_net_tensor(&c, c.in, dinput, N * in_n, 1, h, NULL);
    const char *worst_name = "dinput";
    printf("  finite differences (h = %g): dinput %.2e", h, worst);
    for (int i = 0; i < np; i++) {
        fc_train_param p;
        REQUIRE(fc_train_net_param(net, i, &p, &err) == 0, "param %d: %s", i, err.msg);
        CHECK(p.group == FC_TRAIN_GROUP_BACKBONE, "group");
        double e = fd_net_tensor(&c, p.value, p.grad, p.count, 1, h, NULL);
        printf(", %s %.2e", p.name, e);
        if (e > worst) worst = e, worst_name = p.name;
    }
    printf("\n  largest finite-difference error %.2e (%s)\n", worst, worst_name);
    CHECK(worst <= 1e-2, "finite differences differ by %.3g (%s)", worst, worst_name);
    fc_train_net_free(net);
    free(c.in);
    free(c.out);
    free(R);
    free(dinput);
}

/* ---- SGD steps with a linear head ------------------------------------------------------------- */

#define K_CLASSES 5

typedef struct train_run {
    int threads, N, steps;
    const float *inputs; /* (N, input size) */
    const int *labels;   /* (N) */
    float losses[16];
    float *ckpt;         /* the net's parameters after the steps (malloc'd) */
    size_t n_ckpt;
    double t_fwd, t_bwd, t_opt; /* seconds per step (net forward; head + net backward; SGD) */
    fc_train_net *net;   /* kept when keep_net */
    int keep_net;
    const char *bf16;    /* NULL, or the bf16 kernel table the net's products run on */
} train_run;

/* One SGD step of the net + linear head on the run's batch: the loss. */
static int sgd_step(train_run *r, fc_train_net *net, float *head, float *dhead, float *mom, float *buf,
                    float *loss, fc_error *err) {
    fc_train_ws *ws = fc_train_net_ws(net);
    int N = r->N, K = K_CLASSES;
    size_t D = fc_train_net_feature_size(net), nv = fc_train_net_params_size(net);
    float *feat = buf, *logits = feat + N * D, *probs = logits + N * K, *dfeat = probs + N * K;
    float *W = head, *b = head + K * D;
    double t0 = now();
    int rc = fc_train_net_forward(net, r->inputs, N, feat, err);
    double t1 = now();
    if (rc || (rc = fc_linear_forward(ws, logits, feat, W, b, N, (int)D, K, err)) ||
        (rc = fc_crossentropy_forward(ws, loss, probs, logits, r->labels, N, K, err)) ||
        (rc = fc_crossentropy_backward(ws, probs, probs, r->labels, N, K, 1.0f, err)) ||
        (rc = fc_linear_backward(ws, dfeat, dhead, dhead + K * D, probs, feat, W, N, (int)D, K, err)) ||
        (rc = fc_train_net_backward(net, dfeat, NULL, err)))
        return rc;
    double t2 = now();
    fc_sgd opt = {.lr = 0.01f, .momentum = 0.9f, .weight_decay = 1e-4f};
    float *mom_net = mom, *mom_head = mom + nv;
    size_t at = 0;
    for (int i = 0; i < fc_train_net_n_params(net) && !rc; i++) {
        fc_train_param p;
        rc = fc_train_net_param(net, i, &p, err);
        if (!rc) rc = fc_sgd_step(ws, p.value, mom_net + at, p.grad, p.count, &opt, 0.1f, err);
        at += p.count;
    }
    if (!rc) rc = fc_sgd_step(ws, head, mom_head, dhead, (size_t)K * D + K, &opt, 1.0f, err);
    double t3 = now();
    r->t_fwd += t1 - t0;
    r->t_bwd += t2 - t1;
    r->t_opt += t3 - t2;
    return rc;
}

static int train(train_run *r, const char *path, const char *cut, const char *feat,
                 const fc_train_net_options *base) {
    fc_train_net_options opt = *base;
    opt.threads = r->threads;
    fc_train_net *net = NULL;
    fc_error err = {0};
    if (fc_train_net_build(path, cut, feat, r->N, &opt, &net, &err)) {
        printf("  build: %s\n", err.msg);
        return -1;
    }
    if (r->bf16) fc_train_net_ws(net)->bf16 = fc_bf16_kernels_by_name(r->bf16);
    size_t D = fc_train_net_feature_size(net), nv = fc_train_net_params_size(net);
    size_t nh = (size_t)K_CLASSES * D + K_CLASSES;
    unsigned saved = ref_rng;
    ref_rng = 99u;
    float *head = ref_rnd(nh), *dhead = ref_zeros(nh), *mom = ref_zeros(nv + nh);
    ref_rng = saved;
    for (size_t i = 0; i < nh; i++) head[i] *= 0.05f;
    float *buf = ref_zeros((size_t)r->N * (2 * D + 2 * K_CLASSES));
    int rc = 0;
    r->t_fwd = r->t_bwd = r->t_opt = 0;
    for (int s = 0; s < r->steps && !rc; s++) rc = sgd_step(r, net, head, dhead, mom, buf, &r->losses[s], &err);
    if (rc) printf("  step: %s\n", err.msg);
    r->ckpt = ref_zeros(nv);
    r->n_ckpt = nv;
    if (!rc) rc = fc_train_net_params_get(net, r->ckpt, nv, &err);
    free(head);
    free(dhead);
    free(mom);
    free(buf);
    if (r->keep_net && !rc) r->net = net;
    else fc_train_net_free(net);
    return rc;
}

/* Three runs (2 threads twice, 1 thread): lower loss, the same bits. Returns the first run's net
 * (trained) when keep. */
static fc_train_net *train_three(const char *what, const char *path, const char *cut, const char *feat,
                                 const fc_train_net_options *opt, const float *inputs, int N, int steps,
                                 int keep) {
    int *labels = malloc((size_t)N * sizeof *labels);
    for (int i = 0; i < N; i++) labels[i] = (i * 7 + 3) % K_CLASSES;
    train_run a = {.threads = 2, .N = N, .steps = steps, .inputs = inputs, .labels = labels, .keep_net = keep};
    train_run b = a, c = a;
    b.keep_net = c.keep_net = 0;
    c.threads = 1;
    fc_train_net *net = NULL;
    if (train(&a, path, cut, feat, opt) || train(&b, path, cut, feat, opt) || train(&c, path, cut, feat, opt)) {
        CHECK(0, "%s: training failed", what);
        goto out;
    }
    printf("  %s: loss", what);
    for (int s = 0; s < steps; s++) printf(" %.4f", a.losses[s]);
    printf("; per step (N=%d, 2 threads): forward %.1f ms, head + backward %.1f ms, SGD %.1f ms\n", N,
           a.t_fwd / steps * 1e3, a.t_bwd / steps * 1e3, a.t_opt / steps * 1e3);
    CHECK(a.losses[steps - 1] < a.losses[0], "%s: loss did not go down (%g -> %g)", what, a.losses[0],
          a.losses[steps - 1]);
    CHECK(!memcmp(a.losses, b.losses, sizeof a.losses), "%s: two runs give different losses", what);
    CHECK(!memcmp(a.losses, c.losses, sizeof a.losses), "%s: 1 and 2 threads give different losses", what);
    CHECK(a.n_ckpt == b.n_ckpt && a.n_ckpt == c.n_ckpt &&
          !memcmp(a.ckpt, b.ckpt, a.n_ckpt * sizeof(float)) &&
          !memcmp(a.ckpt, c.ckpt, a.n_ckpt * sizeof(float)),
          "%s: trained parameters differ between runs or thread counts", what);
    net = a.net;
    a.net = NULL;
out:
    fc_train_net_free(a.net);
    free(labels);
    free(a.ckpt);
    free(b.ckpt);
    free(c.ckpt);
    return net;
}

/* ---- export ----------------------------------------------------------------------------------- */

/* The net's forward on the cut activations that fc_model computes with the exported model equals
 * that model's feature. */
static void export_matches(const char *what, fc_train_net *net, const char *model, const char *cut,
                           const char *feat, const char *out_name, int N) {
    fc_error err = {0};
    const char *out = fc_test_path(out_name);
    int rc = fc_train_net_write_onnx(net, model, out, &err);
    REQUIRE(rc == 0, "%s: export: %s", what, err.msg);
    float *cutv = NULL, *featv = NULL;
    size_t cut_n, feat_n;
    REQUIRE(run_engine(out, cut, feat, N, &cutv, &cut_n, &featv, &feat_n, NULL, 0) == 0,
            "%s: the exported model runs", what);
    float *mine = ref_zeros((size_t)N * feat_n);
    rc = fc_train_net_forward(net, cutv, N, mine, &err);
    CHECK(rc == 0, "%s: forward: %s", what, err.msg);
    double e = ref_rel_err(mine, featv, (size_t)N * feat_n);
    printf("  %s: exported model vs the net after training, max rel diff %.2e\n", what, e);
    CHECK(e <= 1e-4, "%s: the exported model differs from the net by %.3g", what, e);
    free(mine);
    free(cutv);
    free(featv);
}

/* Counts op_type nodes in the model at path and checks that initializer `name` has the same
 * bytes in both files. */
static int count_ops(const char *path, const char *op_type) {
    Onnx__ModelProto *m = NULL;
    fc_error err = {0};
    if (fc_onnx_read(path, &m, &err)) return -1;
    int c = 0;
    for (size_t i = 0; i < m->graph->n_node; i++) c += !strcmp(m->graph->node[i]->op_type, op_type);
    fc_onnx_model_free(m);
    return c;
}

static int same_initializer(const char *a, const char *b, const char *name) {
    Onnx__ModelProto *m[2] = {NULL, NULL};
    const Onnx__TensorProto *t[2] = {NULL, NULL};
    fc_error err = {0};
    const char *paths[2] = {a, b};
    for (int k = 0; k < 2; k++) {
        if (fc_onnx_read(paths[k], &m[k], &err)) break;
        for (size_t i = 0; i < m[k]->graph->n_initializer; i++)
            if (!strcmp(m[k]->graph->initializer[i]->name, name)) t[k] = m[k]->graph->initializer[i];
    }
    int same = t[0] && t[1] && t[0]->raw_data.len == t[1]->raw_data.len &&
               !memcmp(t[0]->raw_data.data, t[1]->raw_data.data, t[0]->raw_data.len);
    fc_onnx_model_free(m[0]);
    fc_onnx_model_free(m[1]);
    return same;
}

/* ---- training + export: the tiny model, MobileNetV2 t146, ResNet-18 ----------------------------- */

static void tiny_training_and_export(void) {
    const char *path = tiny_model("tiny_train.onnx", NULL);
    REQUIRE(path, "tiny model written");
    const int N = 6;
    float *inputs = ref_rnd((size_t)N * TINY_C * TINY_H * TINY_H);
    for (size_t i = 0; i < (size_t)N * TINY_C * TINY_H * TINY_H; i++) inputs[i] = fabsf(inputs[i]);
    fc_train_net_options opt = {.cut_rank = 3, .cut_dims = {TINY_C, TINY_H, TINY_H}};
    fc_train_net *net = train_three("tiny", path, "cut", "feat", &opt, inputs, N, 8, 1);
    if (net) {
        export_matches("tiny", net, path, "cut", "feat", "tiny_trained.onnx", N);
        const char *out = fc_test_path("tiny_trained.onnx");
        CHECK(count_ops(path, "BatchNormalization") == 4 && count_ops(out, "BatchNormalization") == 1,
              "the three folded BatchNormalizations are gone from the export, the unfolded one stays");
        CHECK(same_initializer(path, out, "stem.w") && same_initializer(path, out, "stem.b"),
              "initializers below the cut are written as read");
        CHECK(!same_initializer(path, out, "fc.w"), "trained initializers change");
    }
    fc_train_net_free(net);
    free(inputs);
}

/* bf16 products (the tiny model has 1x1, im2col and depthwise convolutions, a Gemm and a MatMul)
 * track f32 training: every step's loss within 0.1% of f32's, and the loss's fall over the 12 steps
 * within 5% of f32's. Why: a bf16 operand is off by at most 2^-8 of itself, a product by 2^-7 of
 * its size, so a sum of products by at most 2^-7 of the sum of their magnitudes; through the net's
 * six products in a row the logits (here under 0.2 in size) move by at most about 6 * 2^-7 * 0.2 =
 * 0.01 in the worst case, and cross-entropy moves by no more than the largest logit change: 0.6% of
 * a loss of 1.6. Errors of mixed signs average out far below that worst case (measured: 3.5e-5 of
 * the loss, and 0.2% of its fall), so 0.1% and 5% leave a margin of 30x and 25x while they still
 * fail for a packing fault (a lost or misplaced k pair moves the loss by far more; faults in the
 * rounding order are the kernel tests', bitwise against the scalar twin). The scalar
 * twin runs everywhere; the AVX512_BF16 kernels, when the CPU has them, give its bits, on 1 and 2
 * threads. */
static void bf16_tracks_f32(void) {
    const char *path = tiny_model("tiny_bf16.onnx", NULL);
    REQUIRE(path, "tiny model written");
    const int N = 6, steps = 12;
    float *inputs = ref_rnd((size_t)N * TINY_C * TINY_H * TINY_H);
    for (size_t i = 0; i < (size_t)N * TINY_C * TINY_H * TINY_H; i++) inputs[i] = fabsf(inputs[i]);
    int labels[6];
    for (int i = 0; i < N; i++) labels[i] = (i * 7 + 3) % K_CLASSES;
    fc_train_net_options opt = {.cut_rank = 3, .cut_dims = {TINY_C, TINY_H, TINY_H}};
    train_run f = {.threads = 2, .N = N, .steps = steps, .inputs = inputs, .labels = labels};
    train_run t = f, v = f, v1 = f;
    t.bf16 = "scalar", v.bf16 = v1.bf16 = "avx512bf16", v1.threads = 1;
    int have = fc_bf16_kernels_best() != NULL;
    REQUIRE(!train(&f, path, "cut", "feat", &opt) && !train(&t, path, "cut", "feat", &opt) &&
                (!have || (!train(&v, path, "cut", "feat", &opt) && !train(&v1, path, "cut", "feat", &opt))),
            "training");
    double worst = 0;
    printf("  f32 / bf16 loss:");
    for (int s = 0; s < steps; s++) {
        double d = fabs((double)t.losses[s] - f.losses[s]) / f.losses[s];
        worst = d > worst ? d : worst;
        printf(" %.5f/%.5f", f.losses[s], t.losses[s]);
    }
    printf("; largest relative difference %.2e\n", worst);
    double fall_f = f.losses[0] - f.losses[steps - 1], fall_t = t.losses[0] - t.losses[steps - 1];
    printf("  the loss falls by %.5f (f32) and %.5f (bf16)\n", fall_f, fall_t);
    CHECK(worst > 0, "bf16 gave f32's losses exactly: the products did not run in bf16");
    CHECK(worst <= 1e-3, "bf16 losses differ from f32's by %.3g (over 0.1%%)", worst);
    CHECK(fall_f > 0 && fabs(fall_t - fall_f) <= 0.05 * fall_f, "bf16's loss falls by %g, f32's by %g", fall_t,
          fall_f);
    if (have) {
        CHECK(!memcmp(t.losses, v.losses, sizeof t.losses) && !memcmp(t.ckpt, v.ckpt, t.n_ckpt * sizeof(float)),
              "AVX512_BF16 training differs from the scalar twin's");
        CHECK(!memcmp(v1.losses, v.losses, sizeof v.losses) && !memcmp(v1.ckpt, v.ckpt, v.n_ckpt * sizeof(float)),
              "bf16 training on 1 and 2 threads differs");
    }
    /* the option: bf16 where the CPU has it, else refused; auto falls back */
    fc_train_net *net = NULL;
    fc_error err = {0};
    opt.precision = FC_TRAIN_BF16;
    int rc = fc_train_net_build(path, "cut", "feat", N, &opt, &net, &err);
    CHECK(have ? rc == 0 && fc_train_net_precision(net) == FC_TRAIN_BF16
               : rc == FC_EUNSUPPORTED && strstr(err.msg, "AVX512_BF16"), "precision bf16: rc %d %s", rc, err.msg);
    fc_train_net_free(net);
    net = NULL;
    opt.precision = FC_TRAIN_AUTO;
    rc = fc_train_net_build(path, "cut", "feat", N, &opt, &net, &err);
    CHECK(rc == 0 && fc_train_net_precision(net) == (have ? FC_TRAIN_BF16 : FC_TRAIN_F32), "precision auto");
    fc_train_net_free(net);
    free(inputs), free(f.ckpt), free(t.ckpt), free(v.ckpt), free(v1.ckpt);
    if (!have) SKIP("this CPU has no AVX512_BF16 (bf16 checked with the scalar twin)");
}

static void mobilenet_v2_training(void) {
    const char *p = shared_model("mobilenet_v2_1.0_224.onnx");
    if (!p) SKIP("../shared/models/mobilenet_v2_1.0_224.onnx not present");
    const int N = 32;
    float *cutv = NULL, *featv = NULL;
    size_t cut_n, feat_n;
    REQUIRE(run_engine(p, "t146", "pooled", N, &cutv, &cut_n, &featv, &feat_n, NULL, 0) == 0, "engine");
    fc_train_net_options opt = {0};
    fc_train_net *net = train_three("mobilenet_v2 t146", p, "t146", "pooled", &opt, cutv, N, 4, 1);
    if (net) export_matches("mobilenet_v2 t146", net, p, "t146", "pooled", "mnv2_trained.onnx", 4);
    fc_train_net_free(net);
    free(cutv);
    free(featv);
}

static void resnet18_export(void) {
    const char *p = torchvision_model("resnet18");
    if (!p) SKIP("no torchvision exports (make torchvision, or TORCHVISION_DIR)");
    const char *cut = "/layer4/layer4.0/relu_1/Relu_output_0", *feat = "/avgpool/GlobalAveragePool_output_0";
    const int N = 4;
    float *cutv = NULL, *featv = NULL;
    size_t cut_n, feat_n;
    REQUIRE(run_engine(p, cut, feat, N, &cutv, &cut_n, &featv, &feat_n, NULL, 0) == 0, "engine");
    fc_train_net_options opt = {0};
    fc_train_net *net = train_three("resnet18 layer4.1", p, cut, feat, &opt, cutv, N, 3, 1);
    if (net) {
        export_matches("resnet18 layer4.1", net, p, cut, feat, "resnet18_trained.onnx", N);
        CHECK(count_ops(fc_test_path("resnet18_trained.onnx"), "BatchNormalization") ==
                  count_ops(p, "BatchNormalization") - 2,
              "the two folded BatchNormalizations of layer4.1 are gone");
    }
    fc_train_net_free(net);
    free(cutv);
    free(featv);
}

/* ---- smaller batches, checkpoints ------------------------------------------------------------- */

static void smaller_batch_and_checkpoint(void) {
    const char *path = tiny_model("tiny_batch.onnx", NULL);
    REQUIRE(path, "tiny model written");
    fc_train_net *net = NULL;
    fc_error err = {0};
    fc_train_net_options opt = {.threads = 2, .cut_rank = 3, .cut_dims = {TINY_C, TINY_H, TINY_H}};
    REQUIRE(fc_train_net_build(path, "cut", "feat", 4, &opt, &net, &err) == 0, "build: %s", err.msg);
    size_t in_n = fc_train_net_input_size(net), D = fc_train_net_feature_size(net);
    float *in = ref_rnd(4 * in_n), *out4 = ref_zeros(4 * D), *out3 = ref_zeros(4 * D), *d = ref_rnd(4 * D);
    CHECK(fc_train_net_forward(net, in, 4, out4, &err) == 0, "forward 4: %s", err.msg);
    CHECK(fc_train_net_forward(net, in, 3, out3, &err) == 0, "forward 3: %s", err.msg);
    CHECK(ref_rel_err(out3, out4, 3 * D) <= 1e-6, "3 images give the first 3 of 4's features");
    CHECK(fc_train_net_backward(net, d, NULL, &err) == 0, "backward of 3: %s", err.msg);
    CHECK(fc_train_net_forward(net, in, 5, out3, &err) == FC_EINVAL, "5 images refused");
    size_t nv = fc_train_net_params_size(net);
    float *ck = ref_zeros(nv), *ck2 = ref_zeros(nv);
    CHECK(fc_train_net_params_get(net, ck, nv, &err) == 0, "get");
    fc_train_param p;
    CHECK(fc_train_net_param(net, 0, &p, &err) == 0 && !strcmp(p.name, "exp.w") && p.rank == 4 &&
              p.dims[0] == 8 && p.decay == 1,
          "first parameter: the expansion's weight");
    p.value[0] += 1.0f;
    CHECK(fc_train_net_params_set(net, ck, nv, &err) == 0 && fc_train_net_params_get(net, ck2, nv, &err) == 0 &&
              !memcmp(ck, ck2, nv * sizeof(float)),
          "a checkpoint restores the values");
    CHECK(fc_train_net_params_set(net, ck, nv - 1, &err) == FC_EINVAL, "wrong checkpoint size refused");
    CHECK(fc_train_net_param(net, fc_train_net_n_params(net), &p, &err) == FC_EINVAL, "index checked");
    fc_train_net_free(net);
    /* the whole model from its input: the cut's shape is the declared one */
    CHECK(fc_train_net_build(path, "x", "feat", 4, NULL, &net, &err) == 0, "from the input: %s", err.msg);
    int64_t dims[4];
    CHECK(net && fc_train_net_input_dims(net, dims) == 3 && dims[0] == 3 && dims[1] == TINY_H &&
              fc_train_net_forward(net, in, 4, out4, &err) == 0 && fc_train_net_backward(net, d, NULL, &err) == 0,
          "the net from the input runs: %s", err.msg);
    fc_train_net_free(net);
    free(in);
    free(out4);
    free(out3);
    free(d);
    free(ck);
    free(ck2);
}

/* ---- errors ------------------------------------------------------------------------------------- */

static void expect_error(const char *what, const char *path, const char *cut, const char *feat, int code,
                         const char *needle) {
    fc_train_net *net = NULL;
    fc_error err = {0};
    fc_train_net_options opt = {.threads = 1, .cut_rank = 3, .cut_dims = {TINY_C, TINY_H, TINY_H}};
    int rc = fc_train_net_build(path, cut, feat, 2, &opt, &net, &err);
    CHECK(rc == code && !net && strstr(err.msg, needle), "%s: rc %d (want %d), message '%s' (want '%s')",
          what, rc, code, err.msg, needle);
    printf("  %s: %s\n", what, err.msg);
    fc_train_net_free(net);
}

static void errors(void) {
    const char *path = tiny_model("tiny_err.onnx", NULL);
    REQUIRE(path, "tiny model written");
    expect_error("cut inside the residual branch", path, "e2", "feat", FC_EINVAL,
                 "'e2' is not a cut: node 'res.add' reads 'cut' from below the cut");
    expect_error("cut after the feature", path, "lin", "res", FC_EINVAL, "'lin' is not before the feature tensor 'res'");
    expect_error("cut is the feature", path, "feat", "feat", FC_EINVAL, "is the feature tensor itself");
    expect_error("unknown cut", path, "nope", "feat", FC_EINVAL, "no tensor named 'nope'");
    expect_error("unknown feature", path, "cut", "nope", FC_EINVAL, "no tensor named 'nope'");
    expect_error("constant cut", path, "fc.w", "feat", FC_EINVAL, "no tensor named 'fc.w' in the model (it is a constant)");
    const char *leaky = tiny_model("tiny_leaky.onnx", "LeakyRelu");
    expect_error("op without backward", leaky, "cut", "feat", FC_EUNSUPPORTED, "node 'odd' (LeakyRelu): no backward");
    const char *lrn = tiny_model("tiny_lrn.onnx", "LRN");
    expect_error("op the engine does not know", lrn, "cut", "feat", FC_EUNSUPPORTED, "unsupported operator 'LRN' (node 'odd')");
    /* the odd op below the cut does not matter */
    fc_train_net *net = NULL;
    fc_error err = {0};
    fc_train_net_options opt = {.cut_rank = 1, .cut_dims = {6}};
    CHECK(fc_train_net_build(leaky, "ls", "feat", 2, &opt, &net, &err) == 0, "cut above LeakyRelu: %s", err.msg);
    fc_train_net_free(net);
    CHECK(fc_train_net_build(path, "cut", "feat", 0, NULL, &net, &err) == FC_EINVAL, "batch 0 refused");
}

int main(void) {
    ref_rng = 2024u;
    RUN(mobilenet_v2_forward);
    RUN(torchvision_forward);
    RUN(tiny_finite_differences);
    RUN(tiny_training_and_export);
    RUN(bf16_tracks_f32);
    RUN(smaller_batch_and_checkpoint);
    RUN(errors);
    RUN(mobilenet_v2_training);
    RUN(resnet18_export);
    return check_done();
}
