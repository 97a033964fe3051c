/* Conv heads (classify/convhead.h):
 *  - the blocks' spec: parsed with ',' or '+', formatted back, bad specs refused with the spec named;
 *  - the blocks' graph: nodes, names, shapes, He-normal weights (std sqrt(2 / (9 C)));
 *  - the one-cycle schedule: PyTorch's OneCycleLR values at its phase boundaries;
 *  - the conv defaults fill only what was not given;
 *  - fc_train with head conv on maps held in memory whose class is the orientation of a short
 *    stroke at a random place (every class has the same channel means: a pooled linear probe sees
 *    nothing): the blocks learn it; k-fold and flat features are refused;
 *  - a run stopped after epoch 2 and resumed from its checkpoint (running statistics included)
 *    ends bit for bit as an uninterrupted one.
 * The whole command (cache, files, ONNX Runtime) is tests/cli/test_convhead.sh; the steps against
 * PyTorch in tests/classify/test_convhead_torch.sh. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "classify/convhead.h"
#include "classify/finetune_internal.h"
#include "tests/support/check.h"
#include "tests/support/tmpdir.h"

static void spec(void) {
    fc_conv_spec s;
    fc_error err = {0};
    char out[128];
    CHECK(fc_conv_spec_parse("128,128s2", &s, &err) == 0 && s.n == 2 && s.channels[0] == 128 && s.stride[0] == 1 &&
              s.channels[1] == 128 && s.stride[1] == 2,
          "128,128s2");
    fc_conv_spec_format(&s, '+', out, sizeof out);
    CHECK(!strcmp(out, "128+128s2"), "formatted with +: %s", out);
    CHECK(fc_conv_spec_parse("64+32s2+16s1", &s, &err) == 0 && s.n == 3 && s.stride[2] == 1, "64+32s2+16s1");
    fc_conv_spec_format(&s, ',', out, sizeof out);
    CHECK(!strcmp(out, "64,32s2,16"), "formatted with ,: %s", out);
    const char *bad[] = {"", "0", "128s3", "a", "128,", "5000", "1,2,3,4,5,6,7,8,9", "128 s2", "12x"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int rc = fc_conv_spec_parse(bad[i], &s, &err);
        CHECK(rc == FC_EINVAL && s.n == 0 && strstr(err.msg, "conv blocks '") && strstr(err.msg, "128,128s2"),
              "'%s' refused: %s", bad[i], err.msg);
    }
}

static void graph(void) {
    fc_conv_spec s;
    fc_conv_spec_parse("16,8s2", &s, NULL);
    int64_t dims[3] = {12, 7, 7};
    void *data = NULL;
    size_t size = 0;
    fc_error err = {0};
    REQUIRE(fc_convhead_top(&s, "t93", dims, 5, &data, &size, &err) == 0, "top: %s", err.msg);
    Onnx__ModelProto *m = NULL;
    REQUIRE(fc_onnx_read_mem("top", data, size, &m, &err) == 0, "read back: %s", err.msg);
    const Onnx__GraphProto *g = m->graph;
    const char *ops[7] = {"Conv", "BatchNormalization", "Relu", "Conv", "BatchNormalization", "Relu", "GlobalAveragePool"};
    int ok = g->n_node == 7 && g->n_initializer == 10 && g->n_input == 1 && !strcmp(g->input[0]->name, "t93") &&
             !strcmp(g->output[0]->name, FC_CONVHEAD_FEATURE);
    for (size_t i = 0; ok && i < g->n_node; i++) ok = !strcmp(g->node[i]->op_type, ops[i]) && !strncmp(g->node[i]->name, "conv/", 5);
    CHECK(ok, "nodes: conv, bn, relu twice, then the pool");
    const Onnx__TensorProto *w2 = NULL;
    for (size_t i = 0; i < g->n_initializer; i++)
        if (!strcmp(g->initializer[i]->name, "conv/b2/w")) w2 = g->initializer[i];
    REQUIRE(w2 && w2->n_dims == 4 && w2->dims[0] == 8 && w2->dims[1] == 16, "conv/b2/w is (8, 16, 3, 3)");
    const float *w = (const float *)w2->raw_data.data;
    size_t n = w2->raw_data.len / sizeof(float);
    double s1 = 0, s2 = 0;
    for (size_t i = 0; i < n; i++) s1 += w[i], s2 += (double)w[i] * w[i];
    double std = sqrt(s2 / n - (s1 / n) * (s1 / n)), want = sqrt(2.0 / (9 * 16));
    printf("  He-normal: std %.4f (want %.4f), mean %.4f over %zu weights\n", std, want, s1 / n, n);
    CHECK(fabs(std / want - 1) < 0.08 && fabs(s1 / n) < 0.1 * want, "He-normal weights");
    fc_train_net *net = NULL;
    fc_train_net_options o = {.bn_train = 1};
    CHECK(fc_train_net_build_mem("top", data, size, "t93", FC_CONVHEAD_FEATURE, 4, &o, &net, &err) == 0 &&
              fc_train_net_feature_size(net) == 8 && fc_train_net_stats_size(net) == 2 * (16 + 8),
          "the net: 8 pooled channels, running statistics of both BatchNorms: %s", err.msg);
    fc_train_net_free(net);
    fc_onnx_model_free(m);
    free(data);
    CHECK(fc_convhead_top(&(fc_conv_spec){0}, "t93", dims, 5, &data, &size, &err) == FC_EINVAL, "no blocks refused");
}

static void onecycle(void) {
    fc_finetune_config c;
    fc_finetune_config_init(&c);
    c.schedule = FC_SCHEDULE_ONECYCLE;
    c.lr = 1.0;
    /* PyTorch OneCycleLR(max_lr=1, total_steps=10): phase 1 ends at step 0.3 * 10 - 1 = 2 */
    double want[4][2] = {{0, 0.04}, {1, 0.52}, {2, 1.0}, {9, 4e-6}};
    for (int i = 0; i < 4; i++) {
        double lr = ft_schedule_lr(&c, (long)want[i][0], 10, 0);
        CHECK(fabs(lr - want[i][1]) <= 1e-12 + 1e-9 * want[i][1], "step %g: lr %.9g (want %.9g)", want[i][0], lr, want[i][1]);
    }
    double mid = ft_schedule_lr(&c, 5, 10, 0); /* phase 2: pct (5 - 2) / 7 */
    double pct = 3.0 / 7.0, min = 0.04 / 1e4;
    CHECK(fabs(mid - (min + (1 - min) / 2 * (cos(M_PI * pct) + 1))) < 1e-12, "step 5: %.9g", mid);
}

static void defaults(void) {
    fc_head_config c;
    fc_head_config_init(&c);
    c.kind = FC_HEAD_CONV;
    c.epochs = 3;
    c.lr = 0.01;
    fc_head_config_conv_defaults(&c, FC_HEAD_GIVEN_EPOCHS | FC_HEAD_GIVEN_LR);
    CHECK(c.epochs == 3 && c.lr == 0.01 && c.batch == 64 && c.l2 == 5e-4 && c.dropout == 0.2 && c.n_hidden == 0 &&
              c.schedule == FC_SCHEDULE_ONECYCLE && c.conv.n == 2 && c.conv.stride[1] == 2 &&
              c.normalize == FC_TRANSFORM_NONE,
          "the given options stay, the rest are the conv head's defaults");
}

/* ---- training on maps in memory ---- */

#define N_ITEMS 160
#define MAP_C 3
#define MAP_H 8

/* Item i of class y = i % 4: noise, plus in channel 0 a stroke of 3 pixels at a random place,
 * horizontal, vertical, diagonal or anti-diagonal by class. Every 4th group of 4 validates. */
static float *stroke_maps(fc_problem *p, char **labels, char **splits, char *label_buf, int views) {
    float *x = calloc((size_t)views * N_ITEMS * MAP_C * MAP_H * MAP_H, sizeof(float));
    unsigned s = 11;
    for (int v = 0; v < views; v++)
        for (int i = 0; i < N_ITEMS; i++) {
            float *m = x + ((size_t)v * N_ITEMS + i) * MAP_C * MAP_H * MAP_H;
            static const int dr[4] = {0, 1, 1, 1}, dc[4] = {1, 0, 1, -1};
            int y = i % 4;
            for (int k = 0; k < MAP_C * MAP_H * MAP_H; k++) {
                s = s * 1103515245u + 12345u;
                m[k] = (float)((s >> 8) & 0xffff) / 65536.0f - 0.5f;
            }
            s = s * 1103515245u + 12345u;
            int r0 = 1 + (int)((s >> 8) % (MAP_H - 4)), c0 = 2 + (int)((s >> 16) % (MAP_H - 5));
            for (int t = 0; t < 3; t++) m[(r0 + t * dr[y]) * MAP_H + c0 + t * dc[y]] += 2.0f;
        }
    static uint8_t hashes[N_ITEMS][32]; /* stand-ins for the items' SHA-256 (the problem's digest) */
    for (int i = 0; i < N_ITEMS; i++) {
        snprintf(label_buf + 8 * i, 8, "c%d", i % 4);
        labels[i] = label_buf + 8 * i;
        splits[i] = (i / 4) % 4 == 3 ? "val" : "train";
        memset(hashes[i], i + 1, 32);
    }
    fc_split_spec split = {.kind = FC_SPLIT_FOLDERS};
    fc_error err = {0};
    if (fc_problem_build(x, views, N_ITEMS, MAP_C * MAP_H * MAP_H, labels, splits, labels, (const uint8_t(*)[32])hashes,
                         &split, p, &err)) {
        printf("  problem: %s\n", err.msg);
        free(x);
        return NULL;
    }
    p->map_rank = 3;
    p->map_dims[0] = MAP_C, p->map_dims[1] = MAP_H, p->map_dims[2] = MAP_H;
    return x;
}

/* A conv head of the given blocks and epochs, batch 16, the other defaults. */
static void conv_config(fc_head_config *c, const char *blocks, int epochs) {
    fc_head_config_init(c);
    c->kind = FC_HEAD_CONV;
    fc_head_config_conv_defaults(c, 0);
    fc_conv_spec_parse(blocks, &c->conv, NULL);
    c->epochs = epochs;
    c->batch = 16;
}

static void fit(void) {
    fc_problem p;
    char *labels[N_ITEMS], *splits[N_ITEMS], buf[8 * N_ITEMS];
    float *x = stroke_maps(&p, labels, splits, buf, 2);
    REQUIRE(x, "problem built");
    fc_head_config c;
    conv_config(&c, "16,16s2", 15);
    c.lr = 0.01;
    fc_train_result r;
    fc_error err = {0};
    int rc = fc_train(&c, &p, 2, &r, &err);
    CHECK(rc == 0, "fit: %s", err.msg);
    if (!rc) {
        printf("  conv head on stroke maps: val accuracy %.3f, train %.3f (%s)\n", r.val.accuracy, r.train_accuracy, r.info);
        CHECK(r.val.accuracy >= 0.9 && r.head.n_layers == 1 && r.head.layers[0].in == 16 && r.head.n_classes == 4,
              "the blocks tell the strokes apart (val accuracy %.3f)", r.val.accuracy);
        fc_train_result_free(&r);
    }
    p.map_rank = 0;
    CHECK(fc_train(&c, &p, 2, &r, &err) == FC_EINVAL && strstr(err.msg, "maps"), "flat features refused: %s", err.msg);
    p.map_rank = 3;
    p.n_folds = 5;
    CHECK(fc_train(&c, &p, 2, &r, &err) == FC_EINVAL && strstr(err.msg, "k-fold"), "k-fold refused: %s", err.msg);
    p.n_folds = 0;
    fc_problem_free(&p);
    free(x);
}

/* ---- checkpoint and resume ---- */

typedef struct stopper {
    volatile int cancel;
    int at;
} stopper;

static void stop_at(void *user, const fc_finetune_epoch *e) {
    stopper *s = user;
    if (e->epoch == s->at) s->cancel = 1;
}

static int run(const fc_head_config *c, const fc_problem *p, const fc_finetune_control *ctl, fc_convhead *h,
               fc_error *err) {
    int views[2] = {0, 1};
    fc_finetune_data d = {.p = p, .views = views, .n_views = 2, .x = p->x};
    int rc = fc_convhead_init(h, c, "map", p->map_dims, 2, err);
    return rc ? rc : fc_convhead_run(h, c, &d, 2, ctl, err);
}

static void resume(void) {
    fc_problem p;
    char *labels[N_ITEMS], *splits[N_ITEMS], buf[8 * N_ITEMS];
    float *x = stroke_maps(&p, labels, splits, buf, 2);
    REQUIRE(x, "problem built");
    fc_head_config c;
    conv_config(&c, "6,6s2", 4);
    c.seed = 3;
    fc_error err = {0};
    const char *ck = fc_test_path("conv.ckpt");
    stopper st = {.at = 2};
    fc_finetune_control stop = {.cancel = &st.cancel, .on_epoch = stop_at, .user = &st, .checkpoint = ck};
    fc_finetune_control again = {.checkpoint = ck, .resume = 1};
    fc_convhead a = {0}, b = {0}, full = {0};
    int rc = run(&c, &p, &stop, &a, &err);
    CHECK(rc == FC_ECANCELLED, "stopped after epoch 2: %d %s", rc, err.msg);
    rc = run(&c, &p, &again, &b, &err);
    CHECK(rc == 0 && b.r.resumed_from == 2, "resumed from epoch 2: %s", err.msg);
    rc = run(&c, &p, NULL, &full, &err);
    REQUIRE(rc == 0, "uninterrupted: %s", err.msg);
    size_t np = fc_train_net_params_size(full.net), ns = fc_train_net_stats_size(full.net);
    float *v1 = calloc(np + ns, sizeof(float)), *v2 = calloc(np + ns, sizeof(float));
    fc_train_net_params_get(b.net, v1, np, &err);
    fc_train_net_stats_get(b.net, v1 + np, ns, &err);
    fc_train_net_params_get(full.net, v2, np, &err);
    fc_train_net_stats_get(full.net, v2 + np, ns, &err);
    const fc_layer *l1 = &b.r.head.layers[0], *l2 = &full.r.head.layers[0];
    CHECK(!memcmp(v1, v2, (np + ns) * sizeof(float)) && !memcmp(l1->W, l2->W, (size_t)l1->in * l1->out * sizeof(float)) &&
              b.r.val.accuracy == full.r.val.accuracy,
          "the resumed run's blocks, running statistics and head equal an uninterrupted run's bit for bit");
    free(v1);
    free(v2);
    fc_convhead_free(&a);
    fc_convhead_free(&b);
    fc_convhead_free(&full);
    fc_problem_free(&p);
    free(x);
}

int main(void) {
    RUN(spec);
    RUN(graph);
    RUN(onecycle);
    RUN(defaults);
    RUN(fit);
    RUN(resume);
    return check_done();
}
