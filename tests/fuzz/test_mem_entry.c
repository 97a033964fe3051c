/* The in-memory parser entry points the fuzz targets use give the same results as the file
 * versions (CSV manifest, ONNX model, head file), refuse what only a file can provide (external
 * tensor data), and the session memory limit refuses a plan before allocating it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "classify/head_onnx.h"
#include "core/file.h"
#include "engine/model.h"
#include "extract/dataset.h"
#include "tests/support/check.h"
#include "tests/support/onnx_build.h"
#include "tests/support/tmpdir.h"

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (f) { fputs(text, f); fclose(f); }
}

static void test_csv_memory_equals_file(void) {
    const char *text = "path,label,split\nb.jpg,dog,valid\n\"a,1.jpg\",\"c\"\"at\",train\n/abs/x.png,cat,\n";
    write_text(fc_test_path("m.csv"), text);
    fc_dataset f, m;
    fc_error e = {0};
    REQUIRE(fc_dataset_scan(fc_test_path("m.csv"), FC_LAYOUT_CSV, &f, &e) == 0, "%s", e.msg);
    int rc = fc_dataset_parse_csv("m.csv", fc_test_tmpdir(), text, strlen(text), &m, &e);
    if (rc) fc_dataset_free(&f);
    REQUIRE(rc == 0, "%s", e.msg);
    CHECK(f.n == 3 && m.n == f.n, "%zu vs %zu items", m.n, f.n);
    CHECK(!strcmp(m.root, f.root), "root %s vs %s", m.root, f.root);
    for (size_t i = 0; i < f.n && i < m.n; i++)
        CHECK(!strcmp(f.items[i].path, m.items[i].path) && !strcmp(f.items[i].rel, m.items[i].rel) &&
              !strcmp(f.items[i].label, m.items[i].label) && !strcmp(f.items[i].split, m.items[i].split),
              "item %zu: %s|%s|%s vs %s|%s|%s", i, m.items[i].path, m.items[i].label, m.items[i].split,
              f.items[i].path, f.items[i].label, f.items[i].split);
    CHECK(m.n_classes == 3 && f.n_classes == 3, "%zu classes", m.n_classes); /* dog, c"at, cat */
    fc_dataset_free(&f);
    fc_dataset_free(&m);
}

static void test_csv_memory_errors(void) {
    fc_dataset d;
    fc_error e = {0};
    CHECK(fc_dataset_parse_csv("e.csv", "/d", "", 0, &d, &e) == FC_EFORMAT && strstr(e.msg, "e.csv"),
          "empty: %s", e.msg);
    const char *dup = "a.jpg,x\na.jpg,y\n";
    CHECK(fc_dataset_parse_csv("dup.csv", "/d", dup, strlen(dup), &d, &e) == FC_EFORMAT &&
          strstr(e.msg, "listed twice"), "duplicate: %s", e.msg);
    const char *quote = "a.jpg,x\n\"b.jpg,y\n";
    CHECK(fc_dataset_parse_csv("q.csv", "/d", quote, strlen(quote), &d, &e) == FC_EFORMAT &&
          strstr(e.msg, "q.csv:2: unterminated quote"), "quote: %s", e.msg);
}

static void test_model_memory(void) {
    ob_model *b = ob_new(13);
    ob_input(b, "x", 1, 2, 4, 4);
    ob_output(b, "y");
    ob_node(b, "Relu", "r", "x", "y");
    REQUIRE(ob_write(b, fc_test_path("relu.onnx")) == 0, "write");
    unsigned char *data = NULL;
    size_t size = 0;
    fc_error e = {0};
    REQUIRE(fc_file_read(fc_test_path("relu.onnx"), 1 << 20, &data, &size, &e) == 0, "%s", e.msg);
    fc_model *m = NULL;
    int rc = fc_model_load_mem("relu-in-memory", data, size, NULL, &m, &e);
    free(data);
    REQUIRE(rc == 0, "%s", e.msg);
    int64_t dims[4];
    fc_model_input_dims(m, dims);
    CHECK(dims[1] == 2 && dims[2] == 4 && dims[3] == 4, "dims");
    fc_session *s = NULL;
    fc_session_options so = {.batch = 1, .threads = 1};
    REQUIRE(fc_session_create(m, &so, &s, &e) == 0, "%s", e.msg);
    float x[32], *y;
    for (int i = 0; i < 32; i++) x[i] = (float)(i - 16);
    REQUIRE(fc_session_run(s, x, &e) == 0, "%s", e.msg);
    y = fc_session_output(s, 0)->data;
    CHECK(y[0] == 0 && y[31] == 15, "relu %g %g", y[0], y[31]);
    fc_session_free(s);
    /* a plan over the session's memory limit is refused, naming the limit */
    fc_session_options big = {.batch = 1, .height = 512, .width = 512, .threads = 1, .max_bytes = 1 << 20};
    CHECK(fc_session_create(m, &big, &s, &e) == FC_ELIMIT && strstr(e.msg, "limit") && !s,
          "limit: %s", e.msg);
    fc_model_free(m);
    /* garbage and external data */
    CHECK(fc_model_load_mem(NULL, "garbage", 7, NULL, &m, &e) == FC_EFORMAT && strstr(e.msg, "<memory>"),
          "garbage: %s", e.msg);
    b = ob_new(13);
    ob_input(b, "x", 1, 2, 4, 4);
    ob_output(b, "y");
    int64_t wd[1] = {2};
    ob_init_external(b, "w", 1, wd, "w.bin", 0, 8);
    ob_node(b, "Add", "a", "x,w", "y");
    REQUIRE(ob_write(b, fc_test_path("ext.onnx")) == 0, "write");
    REQUIRE(fc_file_read(fc_test_path("ext.onnx"), 1 << 20, &data, &size, &e) == 0, "%s", e.msg);
    rc = fc_model_load_mem("ext", data, size, NULL, &m, &e);
    free(data);
    CHECK(rc == FC_EUNSUPPORTED && strstr(e.msg, "external data"), "external: %d %s", rc, e.msg);
}

static void test_head_memory(void) {
    fc_head h;
    memset(&h, 0, sizeof h);
    fc_error e = {0};
    h.transform.kind = FC_TRANSFORM_NONE;
    REQUIRE(fc_layer_alloc(&h.layers[0], 3, 2, FC_ACTIVATION_NONE, &e) == 0, "%s", e.msg);
    h.layers[0].W[0] = 1.5f;
    h.layers[0].b[1] = -0.5f;
    h.n_layers = 1;
    h.n_classes = 2;
    REQUIRE(fc_head_save_onnx(&h, fc_test_path("head.onnx"), "{\"k\":1}", &e) == 0, "%s", e.msg);
    fc_head_free(&h);
    unsigned char *data = NULL;
    size_t size = 0;
    REQUIRE(fc_file_read(fc_test_path("head.onnx"), 1 << 20, &data, &size, &e) == 0, "%s", e.msg);
    char *meta = NULL;
    int rc = fc_head_load_onnx_mem("head-mem", data, size, &h, &meta, &e);
    REQUIRE(rc == 0, "%s", e.msg);
    CHECK(h.layers[0].in == 3 && h.n_classes == 2 && h.layers[0].W[0] == 1.5f && h.layers[0].b[1] == -0.5f,
          "head contents");
    CHECK(meta && !strcmp(meta, "{\"k\":1}"), "meta %s", meta ? meta : "(null)");
    free(meta);
    fc_head_free(&h);
    CHECK(fc_head_load_onnx_mem("cut", data, size / 2, &h, NULL, &e) == FC_EFORMAT && strstr(e.msg, "cut"),
          "truncated: %s", e.msg);
    free(data);
}

int main(void) {
    RUN(test_csv_memory_equals_file);
    RUN(test_csv_memory_errors);
    RUN(test_model_memory);
    RUN(test_head_memory);
    return check_done();
}
