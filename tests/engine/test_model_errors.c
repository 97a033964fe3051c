/* Malformed models: each must fail with the right code and a message naming the file, node or
 * tensor — never crash. Models are generated with tests/support/onnx_build. Also checks that a
 * valid model with external data next to it loads and computes the right values, and that a MatMul
 * of two run-time operands (no packed weights) gets a session. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/model.h"
#include "tests/support/check.h"
#include "tests/support/onnx_build.h"
#include "tests/support/tmpdir.h"

/* Loads path and, if that works, creates a batch-1 session; returns the first error code. */
static int try_model(const char *path, fc_error *err) {
    fc_model *m = NULL;
    fc_session *s = NULL;
    memset(err, 0, sizeof *err);
    int rc = fc_model_load(path, NULL, &m, err);
    if (rc == 0) {
        fc_session_options so = {.batch = 1, .threads = 1};
        rc = fc_session_create(m, &so, &s, err);
    }
    fc_session_free(s);
    fc_model_free(m);
    return rc;
}

#define EXPECT_ERROR(path, code, needle)                                                        \
    do {                                                                                       \
        fc_error e_;                                                                           \
        int rc_ = try_model(path, &e_);                                                        \
        printf("  %-28s -> %d %s\n", strrchr(path, '/') + 1, rc_, e_.msg);                     \
        CHECK(rc_ == (code), "%s: code %d, want %d (%s)", path, rc_, code, e_.msg);           \
        CHECK(strstr(e_.msg, needle) != NULL, "message '%s' lacks '%s'", e_.msg, needle);      \
    } while (0)

/* input x (1,3,8,8) -> one node of type op named name -> y */
static ob_model *one_node_model(int opset, const char *op, const char *name) {
    ob_model *m = ob_new(opset);
    ob_input(m, "x", 1, 3, 8, 8);
    ob_output(m, "y");
    ob_node(m, op, name, "x", "y");
    return m;
}

static void test_truncated_and_garbage(void) {
    const char *shared = check_shared_dir();
    char src[1024];
    FILE *f;
    if (shared) {
        snprintf(src, sizeof src, "%s/models/mobilenet_v2_1.0_224.onnx", shared);
        FILE *in = fopen(src, "rb");
        REQUIRE(in, "cannot open %s", src);
        size_t half = 7000000;
        char *buf = malloc(half);
        size_t got = fread(buf, 1, half, in);
        fclose(in);
        f = fopen(fc_test_path("truncated.onnx"), "wb");
        fwrite(buf, 1, got, f);
        fclose(f);
        free(buf);
        EXPECT_ERROR(fc_test_path("truncated.onnx"), FC_EFORMAT, "truncated.onnx");
    }
    ob_write(one_node_model(13, "Relu", "relu0"), fc_test_path("small.onnx"));
    f = fopen(fc_test_path("small.onnx"), "rb");
    char buf[4096];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    for (size_t cut = 1; cut < n; cut += 7) { /* every truncation point of a small model */
        f = fopen(fc_test_path("cut.onnx"), "wb");
        fwrite(buf, 1, cut, f);
        fclose(f);
        fc_error e;
        int rc = try_model(fc_test_path("cut.onnx"), &e);
        CHECK(rc < 0, "truncated at %zu bytes loaded", cut);
        CHECK(rc == 0 || strstr(e.msg, "cut.onnx"), "message lacks the file: %s", e.msg);
    }
    f = fopen(fc_test_path("random.onnx"), "wb");
    for (int i = 0; i < 5000; i++) fputc((i * 7919) % 251, f);
    fclose(f);
    EXPECT_ERROR(fc_test_path("random.onnx"), FC_EFORMAT, "random.onnx");
    f = fopen(fc_test_path("empty.onnx"), "wb");
    fclose(f);
    EXPECT_ERROR(fc_test_path("empty.onnx"), FC_EFORMAT, "empty.onnx");
    EXPECT_ERROR(fc_test_path("missing.onnx"), FC_EIO, "missing.onnx");
}

static void test_unknown_op(void) {
    ob_write(one_node_model(13, "FancyAttention", "attn_block_7"), fc_test_path("unknown_op.onnx"));
    EXPECT_ERROR(fc_test_path("unknown_op.onnx"), FC_EUNSUPPORTED, "FancyAttention");
    EXPECT_ERROR(fc_test_path("unknown_op.onnx"), FC_EUNSUPPORTED, "attn_block_7");
    /* the engine's internal depthwise-block op is not an ONNX op a file may name */
    ob_write(one_node_model(13, "FcDepthwiseBlock", "block_1"), fc_test_path("internal_op.onnx"));
    EXPECT_ERROR(fc_test_path("internal_op.onnx"), FC_EUNSUPPORTED, "FcDepthwiseBlock");
    ob_write(one_node_model(13, "Relu", "r"), fc_test_path("ok.onnx"));
    fc_error e;
    CHECK(try_model(fc_test_path("ok.onnx"), &e) == 0, "valid model failed: %s", e.msg);
    ob_write(one_node_model(99, "Relu", "r"), fc_test_path("opset99.onnx"));
    EXPECT_ERROR(fc_test_path("opset99.onnx"), FC_EUNSUPPORTED, "opset 99");
}

/* x (1,3,8,8) MatMul x: batched, both operands computed at run time. */
static void test_matmul_runtime_operands(void) {
    ob_model *m = ob_new(13);
    ob_input(m, "x", 1, 3, 8, 8);
    ob_output(m, "y");
    ob_node(m, "MatMul", "mm", "x,x", "y");
    ob_write(m, fc_test_path("matmul_xx.onnx"));
    fc_error e;
    CHECK(try_model(fc_test_path("matmul_xx.onnx"), &e) == 0, "MatMul x*x: %s", e.msg);
}

static void test_inconsistent_shapes(void) {
    /* conv weights expect 4 input channels, the input has 3 */
    ob_model *m = ob_new(13);
    ob_input(m, "x", 1, 3, 8, 8);
    ob_output(m, "y");
    int64_t wd[4] = {8, 4, 3, 3};
    ob_init(m, "w", 4, wd, NULL);
    ob_node(m, "Conv", "conv_bad", "x,w", "y");
    ob_write(m, fc_test_path("conv_channels.onnx"));
    EXPECT_ERROR(fc_test_path("conv_channels.onnx"), FC_ESHAPE, "conv_bad");
    /* broadcasting (1,3,8,8) + (5,1,1) fails */
    m = ob_new(13);
    ob_input(m, "x", 1, 3, 8, 8);
    ob_output(m, "y");
    int64_t bd[3] = {5, 1, 1};
    ob_init(m, "b", 3, bd, NULL);
    ob_node(m, "Add", "add_bad", "x,b", "y");
    ob_write(m, fc_test_path("add_broadcast.onnx"));
    EXPECT_ERROR(fc_test_path("add_broadcast.onnx"), FC_ESHAPE, "add_bad");
    /* reshape to a size that does not match */
    m = ob_new(13);
    ob_input(m, "x", 1, 3, 8, 8);
    ob_output(m, "y");
    int64_t shape[2] = {7, 5};
    ob_init_i64(m, "s", 2, shape);
    ob_node(m, "Reshape", "reshape_bad", "x,s", "y");
    ob_write(m, fc_test_path("reshape.onnx"));
    EXPECT_ERROR(fc_test_path("reshape.onnx"), FC_ESHAPE, "reshape_bad");
    /* a cycle: y = Relu(z), z = Relu(y) */
    m = ob_new(13);
    ob_input(m, "x", 1, 3, 8, 8);
    ob_output(m, "out");
    ob_node(m, "Add", "a", "x,z", "y");
    ob_node(m, "Relu", "b", "y", "z");
    ob_node(m, "Relu", "c", "y", "out");
    ob_write(m, fc_test_path("cycle.onnx"));
    EXPECT_ERROR(fc_test_path("cycle.onnx"), FC_EFORMAT, "cycle");
    /* a node reading a tensor nobody defines */
    m = ob_new(13);
    ob_input(m, "x", 1, 3, 8, 8);
    ob_output(m, "y");
    ob_node(m, "Add", "adder", "x,ghost", "y");
    ob_write(m, fc_test_path("undefined.onnx"));
    EXPECT_ERROR(fc_test_path("undefined.onnx"), FC_EFORMAT, "ghost");
    /* wrong amount of initializer data: claims 8x3x3x3 but holds raw data for fewer */
    m = ob_new(13);
    ob_input(m, "x", 1, 3, 8, 8);
    ob_output(m, "y");
    int64_t big[4] = {8, 3, 3, 3};
    ob_init(m, "w", 4, big, NULL);
    ob_node(m, "Conv", "conv", "x,w", "y");
    ob_write(m, fc_test_path("ok_conv.onnx"));
    fc_error e;
    CHECK(try_model(fc_test_path("ok_conv.onnx"), &e) == 0, "valid conv failed: %s", e.msg);
}

static void test_absurd_dimensions(void) {
    ob_model *m = ob_new(13);
    ob_input(m, "x", 1, 3, 8, 8);
    ob_output(m, "y");
    int64_t huge[4] = {1LL << 40, 1LL << 40, 3, 3};
    ob_init(m, "w", 4, huge, NULL);
    ob_node(m, "Conv", "conv_huge", "x,w", "y");
    ob_write(m, fc_test_path("overflow.onnx"));
    EXPECT_ERROR(fc_test_path("overflow.onnx"), FC_ELIMIT, "'w'");
    m = ob_new(13);
    ob_input(m, "x", 1, 3, 100000000, 100000000);
    ob_output(m, "y");
    ob_node(m, "Relu", "r", "x", "y");
    ob_write(m, fc_test_path("huge_input.onnx"));
    EXPECT_ERROR(fc_test_path("huge_input.onnx"), FC_ELIMIT, "huge_input.onnx");
    /* a Reshape whose constant shape multiplies to more than memory could hold */
    m = ob_new(13);
    ob_input(m, "x", 1, 3, 8, 8);
    ob_output(m, "y");
    int64_t shape[3] = {1LL << 30, 1LL << 30, 1LL << 30};
    ob_init_i64(m, "s", 3, shape);
    ob_node(m, "Reshape", "reshape_huge", "x,s", "y");
    ob_write(m, fc_test_path("reshape_huge.onnx"));
    EXPECT_ERROR(fc_test_path("reshape_huge.onnx"), FC_ELIMIT, "reshape_huge");
    /* negative dimension in an initializer */
    m = ob_new(13);
    ob_input(m, "x", 1, 3, 8, 8);
    ob_output(m, "y");
    int64_t neg[1] = {-4};
    ob_init(m, "b", 1, neg, NULL);
    ob_node(m, "Add", "add", "x,b", "y");
    ob_write(m, fc_test_path("negative.onnx"));
    EXPECT_ERROR(fc_test_path("negative.onnx"), FC_ELIMIT, "'b'");
}

/* y = x + b with b's 3 values in an external file */
static void external_model(const char *file, const char *location) {
    ob_model *m = ob_new(13);
    ob_input(m, "x", 1, 3, 1, 1);
    ob_output(m, "y");
    int64_t bd[4] = {1, 3, 1, 1};
    ob_init_external(m, "b", 4, bd, location, 4, 12);
    ob_node(m, "Add", "add", "x,b", "y");
    ob_write(m, fc_test_path(file));
}

static void test_external_data(void) {
    float vals[4] = {99, 1.5f, -2, 4};
    FILE *f = fopen(fc_test_path("weights.bin"), "wb");
    fwrite(vals, 4, 4, f);
    fclose(f);
    external_model("ext_ok.onnx", "weights.bin");
    fc_model *m = NULL;
    fc_session *s = NULL;
    fc_error e = {0};
    int rc = fc_model_load(fc_test_path("ext_ok.onnx"), NULL, &m, &e);
    REQUIRE(rc == 0, "external data model: %s", e.msg);
    fc_session_options so = {.batch = 1, .threads = 1};
    rc = fc_session_create(m, &so, &s, &e);
    REQUIRE(rc == 0, "%s", e.msg);
    float x[3] = {1, 2, 3};
    rc = fc_session_run(s, x, &e);
    REQUIRE(rc == 0, "%s", e.msg);
    const float *y = fc_session_output(s, 0)->data;
    CHECK(y[0] == 2.5f && y[1] == 0.f && y[2] == 7.f, "got %g %g %g", y[0], y[1], y[2]);
    fc_session_free(s);
    fc_model_free(m);
    /* the files the model reads besides itself (what a fingerprint must cover): weights.bin, once */
    char **files = NULL;
    int n = -1;
    rc = fc_model_data_files(fc_test_path("ext_ok.onnx"), &files, &n, &e);
    CHECK(rc == 0 && n == 1 && strstr(files[0], "/weights.bin") && files[0][0] == '/', "data files: rc %d n %d %s",
          rc, n, rc == 0 && n > 0 ? files[0] : e.msg);
    fc_model_data_files_free(files, n);
    ob_write(one_node_model(13, "Relu", "relu0"), fc_test_path("plain.onnx"));
    rc = fc_model_data_files(fc_test_path("plain.onnx"), &files, &n, &e);
    CHECK(rc == 0 && n == 0 && !files, "a model without data files: rc %d n %d", rc, n);

    external_model("ext_dotdot.onnx", "../../etc/passwd");
    EXPECT_ERROR(fc_test_path("ext_dotdot.onnx"), FC_EFORMAT, "outside the model's folder");
    external_model("ext_abs.onnx", "/etc/passwd");
    EXPECT_ERROR(fc_test_path("ext_abs.onnx"), FC_EFORMAT, "outside the model's folder");
    /* a symlink inside the folder pointing outside it */
    unlink(fc_test_path("link.bin"));
    CHECK(symlink("/etc/hostname", fc_test_path("link.bin")) == 0, "symlink failed");
    external_model("ext_link.onnx", "link.bin");
    EXPECT_ERROR(fc_test_path("ext_link.onnx"), FC_EFORMAT, "resolves outside");
    rc = fc_model_data_files(fc_test_path("ext_link.onnx"), &files, &n, &e);
    CHECK(rc == FC_EFORMAT && n == 0 && !files, "data files of a model reaching outside its folder: rc %d", rc);
    external_model("ext_missing.onnx", "nope.bin");
    EXPECT_ERROR(fc_test_path("ext_missing.onnx"), FC_EIO, "nope.bin");
    /* file too short for offset + length */
    f = fopen(fc_test_path("short.bin"), "wb");
    fwrite(vals, 4, 2, f);
    fclose(f);
    external_model("ext_short.onnx", "short.bin");
    EXPECT_ERROR(fc_test_path("ext_short.onnx"), FC_EFORMAT, "shorter");
}

static void test_unknown_output_name(void) {
    ob_write(one_node_model(13, "Relu", "relu0"), fc_test_path("relu.onnx"));
    const char *outs[] = {"no_such_tensor"};
    fc_model_options mo = {.outputs = outs, .n_outputs = 1};
    fc_model *m = NULL;
    fc_error e = {0};
    int rc = fc_model_load(fc_test_path("relu.onnx"), &mo, &m, &e);
    CHECK(rc == FC_EINVAL && strstr(e.msg, "no_such_tensor"), "rc %d: %s", rc, e.msg);
    fc_model_free(m);
}

int main(void) {
    RUN(test_truncated_and_garbage);
    RUN(test_unknown_op);
    RUN(test_matmul_runtime_operands);
    RUN(test_inconsistent_shapes);
    RUN(test_absurd_dimensions);
    RUN(test_external_data);
    RUN(test_unknown_output_name);
    return check_done();
}
