/* Extraction pipeline: features from decode workers + batched inference equal the features of the
 * same files run one at a time (bitwise: an image's result must not depend on its batch), bad files
 * are reported with their reason without stopping the run, on_bytes can skip items, and a cancel
 * flag or a callback asking to stop ends the run with FC_ECANCELLED (nothing delivered after that). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "extract/image.h"
#include "engine/model.h"
#include "extract/pipeline.h"
#include "tests/support/check.h"
#include "tests/support/tmpdir.h"

#define MAXI 16

typedef struct result {
    float feat[MAXI][2][1280];
    int got[MAXI], bad[MAXI], skip_odd, stop;
    volatile int cancel;
    char reason[MAXI][sizeof(((fc_error *)0)->msg)];
    fc_error err;
} result;

static int on_bytes(void *user, size_t item, const uint8_t *data, size_t size) {
    result *r = user;
    return r->skip_odd && (item % 2) ? 0 : 1;
}

static int on_bad(void *user, size_t item, const fc_error *err) {
    result *r = user;
    r->bad[item] = 1;
    snprintf(r->reason[item], sizeof r->reason[item], "%s", err->msg);
    return 0;
}

static int on_batch(void *user, const size_t *items, int n_items, int n_views,
                    const fc_tensor *const *outputs, int n_outputs) {
    result *r = user;
    int64_t d = fc_tensor_count(outputs[0]) / outputs[0]->dims[0];
    for (int i = 0; i < n_items; i++)
        for (int v = 0; v < n_views; v++)
            memcpy(r->feat[items[i]][v], (const float *)outputs[0]->data + ((int64_t)i * n_views + v) * d, (size_t)d * sizeof(float));
    for (int i = 0; i < n_items; i++) r->got[items[i]]++;
    return r->stop;
}

static int run(const fc_model *m, const char *const *paths, size_t n, int batch, int views, result *r) {
    static const int view_ids[2] = {FC_VIEW_ORIG, FC_VIEW_FLIP};
    fc_pipeline_options o = {.model = m, .pre = {.width = 224, .height = 224, .crop = 1, .preset = FC_PRESET_TF},
                             .views = view_ids, .n_views = views, .batch = batch, .threads = 2, .decode_threads = 2,
                             .cancel = &r->cancel};
    fc_pipeline_callbacks cb = {.user = r, .on_bytes = on_bytes, .on_bad = on_bad, .on_batch = on_batch};
    int rc = fc_pipeline_run(&o, paths, n, &cb, &r->err);
    if (rc && !r->cancel && !r->stop) printf("  pipeline: %s\n", r->err.msg);
    return rc;
}

static void test_pipeline_batches_and_bad_files(void) {
    const char *shared = check_shared_dir();
    if (!shared) SKIP("../shared not found");
    static const char *names[] = {"cat.png", "grace_hopper.png", "parrot.jpg", "bird.png", "dragonfly.png",
                                  "sunflower.png", "hot_dog.jpg", "owl.jpg"};
    char bufs[11][512];
    const char *paths[11];
    for (int i = 0; i < 8; i++) {
        snprintf(bufs[i], sizeof bufs[i], "%s/images/%s", shared, names[i]);
        paths[i] = bufs[i];
    }
    /* bad items in the middle: a GIF, a missing file and a directory */
    const char *gif = fc_test_path("gif_without_extension");
    FILE *f = fopen(gif, "wb");
    REQUIRE(f && fwrite("GIF89a\1\0\1\0", 1, 10, f) == 10 && fclose(f) == 0, "cannot write %s", gif);
    paths[8] = gif;
    paths[9] = "/nonexistent/x.jpg";
    paths[10] = "/tmp";
    const char *outs[] = {"pooled"};
    fc_model_options mo = {.outputs = outs, .n_outputs = 1};
    fc_model *m = NULL;
    fc_error err = {0};
    char mp[512];
    snprintf(mp, sizeof mp, "%s/models/mobilenet_v2_1.0_224.onnx", shared);
    REQUIRE(fc_model_load(mp, &mo, &m, &err) == 0, "%s", err.msg);

    result *a = calloc(1, sizeof *a), *b = calloc(1, sizeof *b), *c = calloc(1, sizeof *c);
    CHECK(run(m, paths, 11, 3, 2, a) == 0, "batch 3 run failed");
    CHECK(run(m, paths, 11, 1, 2, b) == 0, "batch 1 run failed");
    for (int i = 0; i < 8; i++) {
        CHECK(a->got[i] == 1 && b->got[i] == 1, "item %d delivered %d/%d times", i, a->got[i], b->got[i]);
        CHECK(!memcmp(a->feat[i], b->feat[i], sizeof a->feat[i]), "item %d differs between batch 3 and 1", i);
        CHECK(memcmp(a->feat[i][0], a->feat[i][1], sizeof a->feat[i][0]) != 0, "flip view equals original for %d", i);
    }
    CHECK(a->bad[8] && strstr(a->reason[8], "GIF"), "GIF reason: %s", a->reason[8]);
    CHECK(a->bad[9] && strstr(a->reason[9], "/nonexistent/x.jpg"), "missing reason: %s", a->reason[9]);
    CHECK(a->bad[10] && strstr(a->reason[10], "not a regular file"), "directory reason: %s", a->reason[10]);
    for (int i = 8; i < 11; i++) CHECK(!a->got[i], "bad item %d delivered", i);

    /* the direct path (decode + preprocess + session) gives the same bits */
    fc_session *s = NULL;
    fc_session_options so = {.batch = 1, .threads = 2};
    REQUIRE(fc_session_create(m, &so, &s, &err) == 0, "%s", err.msg);
    float *x = malloc(3 * 224 * 224 * sizeof(float));
    fc_image img;
    fc_preprocess pre = {.width = 224, .height = 224, .crop = 1, .preset = FC_PRESET_TF};
    int hw, hh;
    fc_preprocess_decode_hint(&pre, &hw, &hh);
    REQUIRE(fc_image_load(paths[2], hw, hh, FC_EXIF_APPLY, &img, &err) == 0, "%s", err.msg);
    fc_preprocess_image(&img, &pre, x, &err);
    fc_image_free(&img);
    fc_session_run(s, x, &err);
    CHECK(!memcmp(fc_session_output(s, 0)->data, a->feat[2][0], 1280 * sizeof(float)), "direct run differs");
    free(x);
    fc_session_free(s);

    c->skip_odd = 1;
    CHECK(run(m, paths, 8, 4, 1, c) == 0, "skip run failed");
    for (int i = 0; i < 8; i++) CHECK(c->got[i] == !(i % 2), "item %d delivered %d times with skipping", i, c->got[i]);

    /* the caller stops the run: by the cancel flag (set before it starts: nothing is delivered), or
     * by on_batch returning non-zero (after the first batch) */
    memset(c, 0, sizeof *c);
    c->cancel = 1;
    int rc = run(m, paths, 8, 2, 1, c);
    CHECK(rc == FC_ECANCELLED && !strcmp(c->err.msg, "cancelled"), "cancel flag: rc %d '%s'", rc, c->err.msg);
    int delivered = 0;
    for (int i = 0; i < 8; i++) delivered += c->got[i];
    CHECK(delivered == 0, "%d items delivered after a cancel before the start", delivered);
    memset(c, 0, sizeof *c);
    c->stop = 1;
    rc = run(m, paths, 8, 2, 1, c);
    CHECK(rc == FC_ECANCELLED && !strcmp(c->err.msg, "aborted"), "on_batch stop: rc %d '%s'", rc, c->err.msg);
    delivered = 0; /* not another batch that was ready already: a failed callback is not called again */
    for (int i = 0; i < 8; i++) delivered += c->got[i];
    CHECK(delivered == 2, "%d items delivered after on_batch asked to stop at the first batch of 2", delivered);
    free(a);
    free(b);
    free(c);
    fc_model_free(m);
}

/* load_model, called once the workers run: its model gives the same features as opt->model; its
 * error ends the run with its code and message, with nothing delivered. */
typedef struct loader {
    const fc_model *m;
    int calls, fail;
} loader;

static int load_model(void *user, const fc_model **model, fc_error *err) {
    loader *l = user;
    l->calls++;
    *model = l->m;
    return l->fail ? fc_fail(err, FC_EUNSUPPORTED, "model.onnx: node 'x': op Foo is not supported") : 0;
}

static void test_pipeline_loads_the_model(void) {
    const char *shared = check_shared_dir();
    if (!shared) SKIP("../shared not found");
    char bufs[3][512], mp[512];
    const char *paths[3], *names[3] = {"cat.png", "parrot.jpg", "owl.jpg"};
    for (int i = 0; i < 3; i++) {
        snprintf(bufs[i], sizeof bufs[i], "%s/images/%s", shared, names[i]);
        paths[i] = bufs[i];
    }
    const char *outs[] = {"pooled"};
    fc_model_options mo = {.outputs = outs, .n_outputs = 1};
    fc_model *m = NULL;
    fc_error err = {0};
    snprintf(mp, sizeof mp, "%s/models/mobilenet_v2_1.0_224.onnx", shared);
    REQUIRE(fc_model_load(mp, &mo, &m, &err) == 0, "%s", err.msg);
    static const int view_ids[1] = {FC_VIEW_ORIG};
    result *a = calloc(1, sizeof *a), *b = calloc(1, sizeof *b);
    CHECK(run(m, paths, 3, 2, 1, a) == 0, "run with the model failed");
    loader l = {.m = m};
    fc_pipeline_options o = {.load_model = load_model, .load_user = &l,
                             .pre = {.width = 224, .height = 224, .crop = 1, .preset = FC_PRESET_TF},
                             .views = view_ids, .n_views = 1, .batch = 2, .threads = 2, .decode_threads = 2};
    fc_pipeline_callbacks cb = {.user = b, .on_bytes = on_bytes, .on_bad = on_bad, .on_batch = on_batch};
    CHECK(fc_pipeline_run(&o, paths, 3, &cb, &b->err) == 0 && l.calls == 1, "load_model run: %s (%d calls)", b->err.msg,
          l.calls);
    for (int i = 0; i < 3; i++)
        CHECK(b->got[i] == 1 && !memcmp(a->feat[i][0], b->feat[i][0], sizeof a->feat[i][0]),
              "item %d: delivered %d times, same features %d", i, b->got[i], !memcmp(a->feat[i][0], b->feat[i][0],
                                                                                     sizeof a->feat[i][0]));
    memset(b, 0, sizeof *b);
    l.fail = 1;
    int rc = fc_pipeline_run(&o, paths, 3, &cb, &b->err);
    CHECK(rc == FC_EUNSUPPORTED && strstr(b->err.msg, "op Foo"), "failing load_model: rc %d '%s'", rc, b->err.msg);
    for (int i = 0; i < 3; i++) CHECK(!b->got[i] && !b->bad[i], "item %d delivered after the load failed", i);
    o.load_model = NULL;
    CHECK(fc_pipeline_run(&o, paths, 3, &cb, &b->err) == FC_EINVAL, "neither model nor load_model accepted");
    free(a), free(b);
    fc_model_free(m);
}

int main(void) {
    RUN(test_pipeline_batches_and_bad_files);
    RUN(test_pipeline_loads_the_model);
    return check_done();
}
