/* Tests for classify/head_onnx.c and classify/merge_onnx.c: hand-built heads (softmax with a
 * standardize transform, a 2-hidden-layer MLP on L2-normalized features, NCM-like, no transform)
 * survive save/load bit for bit with names and metadata; the saved ONNX run by featcache's own
 * engine matches fc_head_predict_proba; a head merged into MobileNetV2 (../shared) gives the same
 * probabilities as the head applied to the engine's `pooled` output; malformed, truncated and
 * tampered head files and bad merge arguments fail with clear errors, never a crash.
 * Not here: ONNX Runtime's side (scripts/ort_check_classifier.sh), training. */
#include "classify/head_onnx.h"
#include "core/file.h"

#include <glob.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "classify/head.h"
#include "classify/merge_onnx.h"
#include "engine/model.h"
#include "onnx/onnx.pb-c.h"
#include "store/hash.h"
#include "tests/support/check.h"
#include "tests/support/npy.h"
#include "tests/support/onnx_build.h"
#include "tests/support/tmpdir.h"

static uint64_t rng_state = 42;
static float frand(void) { /* uniform in [-1, 1) */
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)((rng_state >> 40) / (double)(1 << 24)) * 2.0f - 1.0f;
}

static void fill(float *a, size_t n, float scale, float offset) {
    for (size_t i = 0; i < n; i++) a[i] = offset + scale * frand();
}

/* A head with the given layer widths (dims[0] = D, dims[n_layers] = K) and transform. */
static int make_head(fc_head *h, fc_transform_kind kind, int tdim, float eps, int n_layers, const int *dims,
                     int names) {
    memset(h, 0, sizeof *h);
    fc_error err = {0};
    h->transform.kind = kind;
    h->transform.dim = tdim;
    h->transform.eps = eps;
    if (kind == FC_TRANSFORM_STANDARDIZE) {
        h->transform.mean = malloc(dims[0] * sizeof(float));
        h->transform.scale = malloc(dims[0] * sizeof(float));
        fill(h->transform.mean, dims[0], 0.5f, 0.2f);
        fill(h->transform.scale, dims[0], 0.4f, 1.0f);
        h->transform.scale[0] = 1.0f; /* a constant feature: centered only */
    }
    for (int i = 0; i < n_layers; i++) {
        int last = i == n_layers - 1;
        if (fc_layer_alloc(&h->layers[i], dims[i], dims[i + 1], last ? FC_ACTIVATION_NONE : FC_ACTIVATION_RELU,
                           &err))
            return -1;
        fill(h->layers[i].W, (size_t)dims[i] * dims[i + 1], 1.5f / sqrtf((float)dims[i]), 0);
        fill(h->layers[i].b, dims[i + 1], 0.3f, 0);
    }
    h->n_layers = n_layers;
    h->n_classes = dims[n_layers];
    if (names) {
        const char *base[] = {"ants", "bees \"honey\"", "back\\slash", "tab\there", "caf\xc3\xa9 \xe2\x82\xac",
                              "cat", "dog", "x"};
        const char *nm[64];
        char buf[64][32];
        for (int k = 0; k < h->n_classes; k++) {
            if (k < 8) nm[k] = base[k];
            else { snprintf(buf[k], sizeof buf[k], "class_%d", k); nm[k] = buf[k]; }
        }
        if (fc_head_set_class_names(h, nm, h->n_classes, &err)) return -1;
    }
    return fc_head_check(h, &err);
}

static int heads_equal(const fc_head *a, const fc_head *b, char *why, size_t whylen) {
#define DIFF(...) do { snprintf(why, whylen, __VA_ARGS__); return 0; } while (0)
    if (a->transform.kind != b->transform.kind) DIFF("transform kind");
    if (a->transform.dim != b->transform.dim) DIFF("transform dim %d vs %d", a->transform.dim, b->transform.dim);
    if (memcmp(&a->transform.eps, &b->transform.eps, sizeof(float))) DIFF("eps");
    if (a->transform.kind == FC_TRANSFORM_STANDARDIZE &&
        (memcmp(a->transform.mean, b->transform.mean, a->transform.dim * sizeof(float)) ||
         memcmp(a->transform.scale, b->transform.scale, a->transform.dim * sizeof(float))))
        DIFF("mean/scale");
    if (a->transform.kind != FC_TRANSFORM_STANDARDIZE && (b->transform.mean || b->transform.scale))
        DIFF("unexpected mean/scale");
    if (a->n_layers != b->n_layers || a->n_classes != b->n_classes) DIFF("layer/class counts");
    for (int i = 0; i < a->n_layers; i++) {
        const fc_layer *x = &a->layers[i], *y = &b->layers[i];
        if (x->in != y->in || x->out != y->out || x->act != y->act) DIFF("layer %d shape/act", i);
        if (memcmp(x->W, y->W, (size_t)x->in * x->out * sizeof(float)) || memcmp(x->b, y->b, x->out * sizeof(float)))
            DIFF("layer %d parameters", i);
    }
    if (!a->class_names != !b->class_names) DIFF("class names present on one side only");
    for (int k = 0; a->class_names && k < a->n_classes; k++)
        if (strcmp(a->class_names[k], b->class_names[k])) DIFF("class %d: '%s' vs '%s'", k, a->class_names[k],
                                                              b->class_names[k]);
    return 1;
#undef DIFF
}

enum { SOFTMAX_STD, MLP_L2, NCM_L2, PLAIN_NONE, MLP_STD, N_KINDS };
static const char *kind_names[N_KINDS] = {"softmax+std", "mlp+l2", "ncm+l2", "softmax+none", "mlp+std"};

static int make_kind(fc_head *h, int kind) {
    static const int d_soft[] = {37, 5}, d_mlp[] = {24, 16, 9, 4}, d_ncm[] = {19, 6}, d_none[] = {11, 3};
    switch (kind) {
    case SOFTMAX_STD: return make_head(h, FC_TRANSFORM_STANDARDIZE, 37, 0, 1, d_soft, 1);
    case MLP_L2: return make_head(h, FC_TRANSFORM_L2, 24, 1e-6f, 3, d_mlp, 1);
    case NCM_L2: return make_head(h, FC_TRANSFORM_L2, 0, 0, 1, d_ncm, 0);
    case MLP_STD: return make_head(h, FC_TRANSFORM_STANDARDIZE, 24, 0, 3, d_mlp, 0);
    default: return make_head(h, FC_TRANSFORM_NONE, 0, 0, 1, d_none, 1);
    }
}

static void test_save_load_roundtrip(void) {
    for (int kind = 0; kind < N_KINDS; kind++) {
        fc_head h, back = {0};
        fc_error err = {0};
        REQUIRE(make_kind(&h, kind) == 0, "%s: cannot build the head", kind_names[kind]);
        const char *meta_in = kind % 2 ? NULL : "{\"kind\":\"test\",\"l2\":0.001}";
        const char *path = fc_test_path("head.onnx");
        int rc = fc_head_save_onnx(&h, path, meta_in, &err);
        REQUIRE(rc == 0, "%s: save: %s", kind_names[kind], err.msg);
        char *meta = (char *)1;
        rc = fc_head_load_onnx(path, &back, &meta, &err);
        REQUIRE(rc == 0, "%s: load: %s", kind_names[kind], err.msg);
        char why[256] = "";
        CHECK(heads_equal(&h, &back, why, sizeof why), "%s: loaded head differs: %s", kind_names[kind], why);
        if (meta_in) CHECK(meta && !strcmp(meta, meta_in), "%s: metadata '%s'", kind_names[kind], meta ? meta : "(null)");
        else CHECK(meta == NULL, "%s: metadata should be NULL", kind_names[kind]);
        free(meta);
        /* metadata_json out-pointer may be NULL; saving over an existing file replaces it */
        fc_head_free(&back);
        CHECK(fc_head_save_onnx(&h, path, NULL, &err) == 0, "%s", err.msg);
        CHECK(fc_head_load_onnx(path, &back, NULL, &err) == 0, "%s", err.msg);
        glob_t gl;
        CHECK(glob(fc_test_path("*.tmp.*"), 0, NULL, &gl) == GLOB_NOMATCH, "temporary file left behind");
        globfree(&gl);
        fc_head_free(&back);
        fc_head_free(&h);
    }
}

/* Runs model path through featcache's engine on x (n, d); P (n, k) must match the head. */
static double engine_diff(const fc_head *h, const char *path, const float *x, int n, int d, fc_error *err,
                          int *rc_out) {
    fc_model *m = NULL;
    fc_session *s = NULL;
    double diff = -1;
    int k = h->n_classes;
    float *P = malloc((size_t)n * k * sizeof *P);
    int rc = fc_model_load(path, NULL, &m, err);
    if (rc == 0) {
        fc_session_options so = {.batch = n, .threads = 2};
        rc = fc_session_create(m, &so, &s, err);
    }
    if (rc == 0) rc = fc_session_run(s, x, err);
    if (rc == 0) {
        const fc_tensor *t = fc_session_output(s, 0);
        if (fc_tensor_count(t) != (int64_t)n * k) {
            rc = fc_fail(err, FC_ESHAPE, "engine output has %lld values, expected %d", (long long)fc_tensor_count(t),
                         n * k);
        } else if ((rc = fc_head_predict_proba(h, x, n, d, P, 2, err)) == 0) {
            diff = npy_max_abs_diff(P, t->data, (int64_t)n * k);
        }
    }
    fc_session_free(s);
    fc_model_free(m);
    free(P);
    *rc_out = rc;
    return diff;
}

static void run_engine_case(int kind) {
    fc_head h;
    fc_error err = {0};
    REQUIRE(make_kind(&h, kind) == 0, "cannot build the head");
    const char *path = fc_test_path("engine.onnx");
    REQUIRE(fc_head_save_onnx(&h, path, NULL, &err) == 0, "%s", err.msg);
    int n = 7, d = h.layers[0].in, rc;
    float *x = malloc((size_t)n * d * sizeof *x);
    fill(x, (size_t)n * d, 2.0f, 0.1f);
    double diff = engine_diff(&h, path, x, n, d, &err, &rc);
    free(x);
    fc_head_free(&h);
    if (rc == FC_EUNSUPPORTED && (kind == MLP_L2 || kind == NCM_L2) && strstr(err.msg, "ReduceL2"))
        SKIP("featcache's engine has no ReduceL2/Max operators yet (engine/ops), so L2 heads run in "
             "ONNX Runtime only");
    REQUIRE(rc == 0, "%s: engine: %s", kind_names[kind], err.msg);
    CHECK(diff >= 0 && diff <= 1e-5, "%s: engine vs fc_head_predict_proba max |diff| %g", kind_names[kind], diff);
    printf("  %s: engine vs predict_proba max |diff| %.3g\n", kind_names[kind], diff);
}

static void test_engine_softmax_std(void) { run_engine_case(SOFTMAX_STD); }
static void test_engine_none(void) { run_engine_case(PLAIN_NONE); }
static void test_engine_mlp_std(void) { run_engine_case(MLP_STD); }
static void test_engine_mlp_l2(void) { run_engine_case(MLP_L2); }
static void test_engine_ncm_l2(void) { run_engine_case(NCM_L2); }

/* Merges a head into MobileNetV2 at `pooled` and compares the merged model's probabilities with
 * fc_head_predict_proba on the `pooled` tensor of the same run. */
static void merge_case(fc_transform_kind tkind) {
    const char *shared = check_shared_dir();
    if (!shared) SKIP("../shared not found (set FEATCACHE_SHARED)");
    char backbone[1024], input_path[1024], msg[256];
    snprintf(backbone, sizeof backbone, "%s/models/mobilenet_v2_1.0_224.onnx", shared);
    snprintf(input_path, sizeof input_path, "%s/reference/mobilenet_v2_1.0_224/input.npy", shared);
    npy_array in;
    REQUIRE(npy_read(input_path, &in, msg) == 0, "%s", msg);
    fc_head h;
    static const int dims[] = {1280, 10};
    fc_error err = {0};
    if (make_head(&h, tkind, 1280, 0, 1, dims, 1)) {
        npy_free(&in);
        REQUIRE(0, "cannot build the head");
    }
    for (size_t i = 0; i < (size_t)1280 * 10; i++) h.layers[0].W[i] *= 4.0f; /* non-flat probabilities */
    const char *head_path = fc_test_path("merge_head.onnx"), *out = fc_test_path("merged.onnx");
    int rc = fc_head_save_onnx(&h, head_path, "{\"note\":\"merge test\"}", &err);
    if (rc == 0) rc = fc_onnx_merge_classifier(backbone, "pooled", head_path, out, &err);
    if (rc) { fc_head_free(&h); npy_free(&in); REQUIRE(0, "merge: %s", err.msg); }

    const char *outs[] = {"probabilities", "pooled"};
    fc_model_options mo = {.outputs = outs, .n_outputs = 2};
    fc_model *m = NULL;
    fc_session *s = NULL;
    int n = (int)in.dims[0];
    float *P = malloc((size_t)n * 10 * sizeof *P);
    double diff = -1;
    rc = fc_model_load(out, &mo, &m, &err);
    if (rc == 0) {
        fc_session_options so = {.batch = n, .threads = 0};
        rc = fc_session_create(m, &so, &s, &err);
    }
    if (rc == 0) rc = fc_session_run(s, in.data, &err);
    if (rc == 0) {
        const fc_tensor *prob = fc_session_output(s, 0), *pooled = fc_session_output(s, 1);
        if (fc_tensor_count(prob) != (int64_t)n * 10 || fc_tensor_count(pooled) != (int64_t)n * 1280)
            rc = fc_fail(&err, FC_ESHAPE, "merged outputs have %lld and %lld values",
                         (long long)fc_tensor_count(prob), (long long)fc_tensor_count(pooled));
        else if ((rc = fc_head_predict_proba(&h, pooled->data, n, 1280, P, 2, &err)) == 0)
            diff = npy_max_abs_diff(P, prob->data, (int64_t)n * 10);
    }
    fc_session_free(s);
    fc_model_free(m);
    free(P);
    npy_free(&in);
    /* the merged file keeps the head's metadata; it is not itself a head file */
    fc_head back = {0};
    CHECK(fc_head_load_onnx(out, &back, NULL, NULL) == FC_EFORMAT, "a merged classifier loaded as a head file");
    fc_head_free(&back);
    fc_head_free(&h);
    if (rc == FC_EUNSUPPORTED && tkind == FC_TRANSFORM_L2 && strstr(err.msg, "ReduceL2"))
        SKIP("featcache's engine has no ReduceL2/Max operators yet: the merged L2 classifier runs in ONNX "
             "Runtime only");
    REQUIRE(rc == 0, "merged model in featcache: %s", err.msg);
    CHECK(diff >= 0 && diff <= 1e-4, "merged vs head on pooled: max |diff| %g", diff);
    printf("  merged MobileNetV2 + %s head, %d images: max |diff| %.3g\n", fc_transform_name(tkind), n, diff);
}

static void test_merge_mobilenet_std(void) { merge_case(FC_TRANSFORM_STANDARDIZE); }
static void test_merge_mobilenet_l2(void) { merge_case(FC_TRANSFORM_L2); }

static void test_merge_errors(void) {
    fc_head h;
    fc_error err = {0};
    static const int dims[] = {12, 3};
    REQUIRE(make_head(&h, FC_TRANSFORM_NONE, 0, 0, 1, dims, 0) == 0, "head");
    const char *head_path = fc_test_path("small_head.onnx"), *out = fc_test_path("m.onnx");
    REQUIRE(fc_head_save_onnx(&h, head_path, NULL, &err) == 0, "%s", err.msg);
    fc_head_free(&h);
    /* a tiny backbone: x (1,3,2,2) -> Relu -> feat (1,3,2,2) -> Relu -> other */
    ob_model *b = ob_new(13);
    ob_input(b, "x", 1, 3, 2, 2);
    ob_node(b, "Relu", "r1", "x", "feat");
    ob_node(b, "Relu", "r2", "feat", "other");
    ob_output(b, "other");
    REQUIRE(ob_write(b, fc_test_path("bb.onnx")) == 0, "cannot write backbone");
    int rc = fc_onnx_merge_classifier(fc_test_path("bb.onnx"), "feat", head_path, out, &err);
    CHECK(rc == 0, "merge: %s", err.msg);
    if (rc == 0) { /* 12 features after Flatten: run it and check the head's output shape */
        fc_model *m = NULL;
        fc_session *s = NULL;
        fc_session_options so = {.batch = 1, .threads = 1};
        rc = fc_model_load(out, NULL, &m, &err);
        if (rc == 0) rc = fc_session_create(m, &so, &s, &err);
        CHECK(rc == 0, "merged tiny model: %s", err.msg);
        if (rc == 0) CHECK(fc_tensor_count(fc_session_output(s, 0)) == 3, "probabilities shape");
        fc_session_free(s);
        fc_model_free(m);
    }
    rc = fc_onnx_merge_classifier(fc_test_path("bb.onnx"), "nope", head_path, out, &err);
    CHECK(rc == FC_EINVAL && strstr(err.msg, "nope"), "unknown feature tensor: %d %s", rc, err.msg);
    rc = fc_onnx_merge_classifier(fc_test_path("bb.onnx"), "x", head_path, out, &err);
    CHECK(rc == FC_EINVAL, "the input as feature tensor: %d %s", rc, err.msg);
    rc = fc_onnx_merge_classifier(fc_test_path("missing.onnx"), "feat", head_path, out, &err);
    CHECK(rc == FC_EIO && strstr(err.msg, "missing.onnx"), "missing backbone: %d %s", rc, err.msg);
    rc = fc_onnx_merge_classifier(fc_test_path("bb.onnx"), "feat", fc_test_path("bb.onnx"), out, &err);
    CHECK(rc == FC_EFORMAT && strstr(err.msg, "not a featcache head file"), "backbone as head: %d %s", rc, err.msg);
    /* width mismatch: 3*2*2 = 12 features, head for 5 */
    static const int dims5[] = {5, 2};
    REQUIRE(make_head(&h, FC_TRANSFORM_NONE, 0, 0, 1, dims5, 0) == 0, "head");
    REQUIRE(fc_head_save_onnx(&h, fc_test_path("head5.onnx"), NULL, &err) == 0, "%s", err.msg);
    fc_head_free(&h);
    rc = fc_onnx_merge_classifier(fc_test_path("bb.onnx"), "feat", fc_test_path("head5.onnx"), out, &err);
    CHECK(rc == FC_ESHAPE, "width mismatch: %d %s", rc, err.msg);
    /* a name clash and external data */
    b = ob_new(13);
    ob_input(b, "x", 1, 3, 2, 2);
    ob_node(b, "Relu", "r1", "x", "head/x");
    ob_node(b, "Relu", "r2", "head/x", "feat");
    ob_output(b, "feat");
    REQUIRE(ob_write(b, fc_test_path("clash.onnx")) == 0, "cannot write");
    rc = fc_onnx_merge_classifier(fc_test_path("clash.onnx"), "feat", head_path, out, &err);
    CHECK(rc == FC_EUNSUPPORTED && strstr(err.msg, "head/x"), "name clash: %d %s", rc, err.msg);
    b = ob_new(13);
    ob_input(b, "x", 1, 3, 2, 2);
    int64_t wd[1] = {1};
    ob_init_external(b, "w", 1, wd, "w.bin", 0, 4);
    ob_node(b, "Mul", "m", "x,w", "feat");
    ob_output(b, "feat");
    REQUIRE(ob_write(b, fc_test_path("ext.onnx")) == 0, "cannot write");
    rc = fc_onnx_merge_classifier(fc_test_path("ext.onnx"), "feat", head_path, out, &err);
    CHECK(rc == FC_EUNSUPPORTED && strstr(err.msg, "external"), "external data: %d %s", rc, err.msg);
    /* checked merges: the bytes read must have the head's fingerprint (the SHA-256 of the file) */
    char sha[65];
    uint8_t digest[FC_SHA256_SIZE];
    REQUIRE(fc_sha256_file(fc_test_path("bb.onnx"), digest, NULL, &err) == 0, "%s", err.msg);
    fc_hex_encode(digest, FC_SHA256_SIZE, sha);
    rc = fc_onnx_merge_classifier_checked(fc_test_path("bb.onnx"), sha, "feat", head_path, out, &err);
    CHECK(rc == 0, "checked merge, the right bytes: %s", err.msg);
    char other[65];
    memcpy(other, sha, sizeof other);
    other[0] = other[0] == '0' ? '1' : '0';
    unlink(out);
    rc = fc_onnx_merge_classifier_checked(fc_test_path("bb.onnx"), other, "feat", head_path, out, &err);
    CHECK(rc == FC_EINVAL && strstr(err.msg, "not the model the head was trained on") && access(out, F_OK) != 0,
          "checked merge, other bytes: refused, nothing written: %d %s", rc, err.msg);
    rc = fc_onnx_merge_top_checked(fc_test_path("bb.onnx"), other, "feat", fc_test_path("bb.onnx"), 2, 2, out, &err);
    CHECK(rc == FC_EINVAL && strstr(err.msg, "not the model the head was trained on"), "checked top merge: %d %s",
          rc, err.msg);
    rc = fc_onnx_merge_classifier_checked(fc_test_path("ext.onnx"), other, "feat", head_path, out, &err);
    CHECK(rc == FC_EUNSUPPORTED && strstr(err.msg, "external"), "checked, external data first: %d %s", rc, err.msg);
}

/* Packs a head's parts after tamper() changed them, as a head file would be written. */
static int write_tampered(const fc_head *h, const char *path, void (*tamper)(fc_head_onnx_parts *, Onnx__ModelProto *)) {
    fc_onnx_pool pool = {0};
    fc_head_onnx_parts parts;
    fc_error err = {0};
    if (fc_head_onnx_build(h, "features", 13, NULL, &pool, &parts, &err)) return -1;
    Onnx__ModelProto model;
    Onnx__GraphProto graph;
    Onnx__OperatorSetIdProto opset, *opsets[1] = {&opset};
    onnx__model_proto__init(&model);
    onnx__graph_proto__init(&graph);
    onnx__operator_set_id_proto__init(&opset);
    opset.has_version = 1;
    opset.version = 13;
    graph.n_node = parts.n_nodes;
    graph.node = parts.nodes;
    graph.n_initializer = parts.n_inits;
    graph.initializer = parts.inits;
    /* the input: a float tensor without a declared shape */
    Onnx__ValueInfoProto in, *inp = &in;
    Onnx__TypeProto tp;
    Onnx__TypeProto__Tensor tt;
    onnx__value_info_proto__init(&in);
    onnx__type_proto__init(&tp);
    onnx__type_proto__tensor__init(&tt);
    tt.has_elem_type = 1;
    tt.elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    tp.value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp.tensor_type = &tt;
    in.name = "features";
    in.type = &tp;
    graph.n_input = 1;
    graph.input = &inp;
    graph.n_output = 1;
    graph.output = &parts.output;
    model.n_opset_import = 1;
    model.opset_import = opsets;
    model.graph = &graph;
    model.n_metadata_props = parts.n_meta;
    model.metadata_props = parts.meta;
    tamper(&parts, &model);
    size_t size = onnx__model_proto__get_packed_size(&model);
    unsigned char *buf = malloc(size + 1);
    onnx__model_proto__pack(&model, buf);
    int rc = fc_file_write_atomic(path, buf, size, &err);
    free(buf);
    fc_onnx_pool_free(&pool);
    return rc;
}

static void t_none(fc_head_onnx_parts *p, Onnx__ModelProto *m) { (void)p; (void)m; }
static void t_drop_init(fc_head_onnx_parts *p, Onnx__ModelProto *m) { m->graph->n_initializer--; (void)p; }
static void t_wrong_dims(fc_head_onnx_parts *p, Onnx__ModelProto *m) {
    for (size_t i = 0; i < m->graph->n_initializer; i++)
        if (!strcmp(m->graph->initializer[i]->name, "head/W1")) m->graph->initializer[i]->dims[1]++;
    (void)p;
}
static void t_short_data(fc_head_onnx_parts *p, Onnx__ModelProto *m) {
    for (size_t i = 0; i < m->graph->n_initializer; i++)
        if (!strcmp(m->graph->initializer[i]->name, "head/W0")) m->graph->initializer[i]->raw_data.len -= 4;
    (void)p;
}
static void t_drop_softmax(fc_head_onnx_parts *p, Onnx__ModelProto *m) { m->graph->n_node--; (void)p; }
static void t_no_format(fc_head_onnx_parts *p, Onnx__ModelProto *m) { m->n_metadata_props = 0; (void)p; }
static void t_bad_classes(fc_head_onnx_parts *p, Onnx__ModelProto *m) {
    for (size_t i = 0; i < m->n_metadata_props; i++)
        if (!strcmp(m->metadata_props[i]->key, "featcache.classes")) m->metadata_props[i]->value = "[\"a\",\"b\"]";
    (void)p;
}
static void t_nan(fc_head_onnx_parts *p, Onnx__ModelProto *m) {
    static float nanw[1024];
    for (size_t i = 0; i < m->graph->n_initializer; i++)
        if (!strcmp(m->graph->initializer[i]->name, "head/b0")) {
            size_t n = m->graph->initializer[i]->raw_data.len / 4;
            for (size_t j = 0; j < n && j < 1024; j++) nanw[j] = NAN;
            m->graph->initializer[i]->raw_data.data = (uint8_t *)nanw;
        }
    (void)p;
}
static void t_version(fc_head_onnx_parts *p, Onnx__ModelProto *m) {
    m->metadata_props[0]->value = "{\"format\":\"featcache-head\",\"version\":2,\"transform\":\"l2\"}";
    (void)p;
}

static void test_malformed_files(void) {
    fc_head h, back = {0};
    fc_error err = {0};
    REQUIRE(make_kind(&h, MLP_L2) == 0, "head");
    struct { const char *name; void (*fn)(fc_head_onnx_parts *, Onnx__ModelProto *); int code; const char *msg; } cases[] = {
        {"untampered", t_none, 0, ""},
        {"missing initializer", t_drop_init, FC_EFORMAT, "missing"},
        {"wrong dims", t_wrong_dims, FC_EFORMAT, "head/W1"},
        {"short data", t_short_data, FC_EFORMAT, "bytes"},
        {"no softmax", t_drop_softmax, FC_EFORMAT, "Softmax"},
        {"no format metadata", t_no_format, FC_EFORMAT, "not a featcache head file"},
        {"class count", t_bad_classes, FC_EFORMAT, "featcache.classes"},
        {"NaN bias", t_nan, FC_EFORMAT, "non-finite"},
        {"newer version", t_version, FC_EUNSUPPORTED, "version 2"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        const char *path = fc_test_path("tampered.onnx");
        REQUIRE(write_tampered(&h, path, cases[c].fn) == 0, "%s: cannot write", cases[c].name);
        memset(&err, 0, sizeof err);
        char *meta = NULL;
        int rc = fc_head_load_onnx(path, &back, &meta, &err);
        CHECK(rc == cases[c].code, "%s: code %d (%s), expected %d", cases[c].name, rc, err.msg, cases[c].code);
        if (cases[c].code) {
            CHECK(strstr(err.msg, "tampered.onnx") && strstr(err.msg, cases[c].msg), "%s: message '%s'",
                  cases[c].name, err.msg);
            CHECK(back.n_layers == 0 && !back.layers[0].W && meta == NULL, "%s: output not empty", cases[c].name);
        }
        fc_head_free(&back);
        free(meta);
    }

    /* every truncation of a valid file, and byte flips: errors (or a valid head), never a crash */
    const char *path = fc_test_path("good.onnx");
    REQUIRE(fc_head_save_onnx(&h, path, "{}", &err) == 0, "%s", err.msg);
    FILE *f = fopen(path, "rb");
    REQUIRE(f, "cannot reopen");
    static unsigned char bytes[1 << 16];
    size_t size = fread(bytes, 1, sizeof bytes, f);
    fclose(f);
    REQUIRE(size > 100 && size < sizeof bytes, "unexpected size %zu", size);
    int ok_trunc = 0;
    for (size_t len = 0; len < size; len += 1 + len / 64) {
        f = fopen(fc_test_path("cut.onnx"), "wb");
        fwrite(bytes, 1, len, f);
        fclose(f);
        int rc = fc_head_load_onnx(fc_test_path("cut.onnx"), &back, NULL, &err);
        if (rc == 0) ok_trunc++;
        else CHECK(strstr(err.msg, "cut.onnx"), "truncated at %zu: message '%s'", len, err.msg);
        fc_head_free(&back);
    }
    CHECK(ok_trunc == 0, "%d truncated files loaded", ok_trunc);
    for (int trial = 0; trial < 300; trial++) {
        static unsigned char copy[1 << 16];
        memcpy(copy, bytes, size);
        for (int k = 0; k < 3; k++) copy[(size_t)((frand() + 1) * 0.5f * (size - 1))] ^= (unsigned char)(1 + trial % 255);
        f = fopen(fc_test_path("flip.onnx"), "wb");
        fwrite(copy, 1, size, f);
        fclose(f);
        int rc = fc_head_load_onnx(fc_test_path("flip.onnx"), &back, NULL, &err);
        if (rc == 0) CHECK(fc_head_check(&back, &err) == 0, "flipped file loaded an invalid head: %s", err.msg);
        fc_head_free(&back);
    }
    int rc = fc_head_load_onnx(fc_test_path("does_not_exist.onnx"), &back, NULL, &err);
    CHECK(rc == FC_EIO && strstr(err.msg, "does_not_exist.onnx"), "missing file: %d %s", rc, err.msg);
    ob_model *m = ob_new(13);
    ob_input(m, "x", 1, 3, 2, 2);
    ob_node(m, "Relu", "r", "x", "y");
    ob_output(m, "y");
    ob_write(m, fc_test_path("relu.onnx"));
    rc = fc_head_load_onnx(fc_test_path("relu.onnx"), &back, NULL, &err);
    CHECK(rc == FC_EFORMAT && strstr(err.msg, "not a featcache head file") && strstr(err.msg, "relu.onnx"),
          "foreign model: %d %s", rc, err.msg);
    /* saving an inconsistent head or to an unwritable place */
    h.layers[2].act = FC_ACTIVATION_RELU;
    rc = fc_head_save_onnx(&h, fc_test_path("bad.onnx"), NULL, &err);
    CHECK(rc == FC_EFORMAT && access(fc_test_path("bad.onnx"), F_OK) != 0, "inconsistent head saved: %d %s", rc, err.msg);
    h.layers[2].act = FC_ACTIVATION_NONE;
    rc = fc_head_save_onnx(&h, "/nonexistent-dir/head.onnx", NULL, &err);
    CHECK(rc == FC_EIO && strstr(err.msg, "/nonexistent-dir/head.onnx"), "unwritable: %d %s", rc, err.msg);
    fc_head_free(&h);
}

int main(void) {
    RUN(test_save_load_roundtrip);
    RUN(test_engine_softmax_std);
    RUN(test_engine_none);
    RUN(test_engine_mlp_std);
    RUN(test_engine_mlp_l2);
    RUN(test_engine_ncm_l2);
    RUN(test_merge_errors);
    RUN(test_malformed_files);
    RUN(test_merge_mobilenet_std);
    RUN(test_merge_mobilenet_l2);
    return check_done();
}
