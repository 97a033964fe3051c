/* Tests for the parts of fine-tuning behind fc_finetune_run (classify/finetune_internal.h): the
 * checkpoint survives a write/read round trip bit for bit, and a damaged, truncated or foreign one
 * is refused with the file named; the learning-rate schedule (warmup, cosine, constant); a fitted
 * head's standardization folded into its first layer gives the same logits; the head's backward
 * against finite differences. The whole loop (data from the cache, resume, errors) is in
 * tests/cli/test_finetune.sh; the steps against PyTorch in tests/classify/test_finetune_torch.sh. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "classify/finetune_internal.h"
#include "core/file.h"
#include "tests/support/check.h"
#include "tests/support/tmpdir.h"

static float frand(unsigned *s) {
    *s = *s * 1103515245u + 12345u;
    return (float)((*s >> 8) & 0xffff) / 32768.0f - 1.0f;
}

static void checkpoint(void) {
    const char *path = fc_test_path("ft.ckpt");
    float state[37];
    unsigned seed = 1;
    for (int i = 0; i < 37; i++) state[i] = frand(&seed);
    fc_finetune_epoch hist[2] = {{.epoch = 0, .loss = NAN, .val_accuracy = 0.5, .l2 = 100},
                                 {.epoch = 1, .steps = 3, .loss = 0.25, .train_accuracy = 0.75, .val_loss = 0.5,
                                  .val_accuracy = 0.625, .lr = 0.01, .seconds = 1.5, .train_seconds = 1, .l2 = NAN}};
    ft_ckpt c = {.epoch = 1, .step = 3, .history = hist, .n_history = 2, .state = state, .n_state = 37};
    memset(c.identity, 7, 32);
    fc_error err = {0};
    REQUIRE(ft_ckpt_write(path, &c, &err) == 0, "write: %s", err.msg);
    ft_ckpt r;
    REQUIRE(ft_ckpt_read(path, c.identity, 37, &r, &err) == 1, "read: %s", err.msg);
    CHECK(r.epoch == 1 && r.step == 3 && r.n_history == 2 && r.n_state == 37 &&
              !memcmp(r.state, state, sizeof state) && r.history[1].val_accuracy == 0.625 &&
              isnan(r.history[0].loss) && r.history[0].l2 == 100 && r.history[1].train_seconds == 1,
          "the checkpoint reads back as written");
    ft_ckpt_free(&r);
    uint8_t other[32];
    memset(other, 8, 32);
    CHECK(ft_ckpt_read(path, other, 37, &r, &err) == FC_EINVAL && strstr(err.msg, "another run"),
          "another run's checkpoint is refused: %s", err.msg);
    CHECK(ft_ckpt_read(fc_test_path("none.ckpt"), c.identity, 37, &r, &err) == 0, "no file: nothing to resume");
    unsigned char *data;
    size_t size;
    REQUIRE(fc_file_read(path, 1 << 20, &data, &size, &err) == 0, "%s", err.msg);
    data[size / 2] ^= 1;
    REQUIRE(fc_file_write_atomic(path, data, size, &err) == 0, "%s", err.msg);
    CHECK(ft_ckpt_read(path, c.identity, 37, &r, &err) == FC_EFORMAT && strstr(err.msg, "ft.ckpt") &&
              strstr(err.msg, "damaged"),
          "a flipped bit is refused, naming the file: %s", err.msg);
    data[size / 2] ^= 1;
    REQUIRE(fc_file_write_atomic(path, data, size - 40, &err) == 0, "%s", err.msg);
    CHECK(ft_ckpt_read(path, c.identity, 37, &r, &err) == FC_EFORMAT, "a truncated checkpoint is refused: %s", err.msg);
    free(data);
}

static void schedule(void) {
    fc_finetune_config c;
    fc_finetune_config_init(&c);
    c.lr = 0.1;
    CHECK(fabs(ft_schedule_lr(&c, 0, 100, 10) - 0.01) < 1e-12 && fabs(ft_schedule_lr(&c, 9, 100, 10) - 0.1) < 1e-12,
          "linear warmup from lr / steps to lr");
    CHECK(fabs(ft_schedule_lr(&c, 10, 100, 10) - 0.1) < 1e-12 && fabs(ft_schedule_lr(&c, 55, 100, 10) - 0.05) < 1e-12,
          "cosine from lr after the warmup, half way at half the steps");
    CHECK(ft_schedule_lr(&c, 99, 100, 10) < 0.001 && ft_schedule_lr(&c, 99, 100, 10) > 0, "cosine ends near 0");
    c.schedule = FC_SCHEDULE_CONSTANT;
    CHECK(ft_schedule_lr(&c, 99, 100, 0) == 0.1, "constant");
}

/* The standardization folded into layer 0 gives the logits of transform-then-layer. */
static void fold(void) {
    enum { D = 5, K = 3 };
    unsigned seed = 3;
    fc_head h = {.n_layers = 1, .n_classes = K};
    fc_error err = {0};
    REQUIRE(fc_layer_alloc(&h.layers[0], D, K, FC_ACTIVATION_NONE, &err) == 0, "%s", err.msg);
    h.transform = (fc_transform){.kind = FC_TRANSFORM_STANDARDIZE, .dim = D, .mean = malloc(D * 4), .scale = malloc(D * 4)};
    for (int j = 0; j < D; j++) h.transform.mean[j] = frand(&seed), h.transform.scale[j] = 1.5f + frand(&seed);
    for (int i = 0; i < D * K; i++) h.layers[0].W[i] = frand(&seed);
    for (int k = 0; k < K; k++) h.layers[0].b[k] = frand(&seed);
    float x[D], ref[K];
    for (int j = 0; j < D; j++) x[j] = 3 * frand(&seed);
    for (int k = 0; k < K; k++) {
        double s = h.layers[0].b[k];
        for (int j = 0; j < D; j++) s += (double)h.layers[0].W[k * D + j] * (x[j] - h.transform.mean[j]) * h.transform.scale[j];
        ref[k] = (float)s;
    }
    fc_layer layers[FC_HEAD_MAX_LAYERS] = {0};
    int n = 0;
    REQUIRE(ft_head_take_folded(&h, layers, &n, &err) == 0 && n == 1, "fold: %s", err.msg);
    double worst = 0;
    for (int k = 0; k < K; k++) {
        double s = layers[0].b[k];
        for (int j = 0; j < D; j++) s += (double)layers[0].W[k * D + j] * x[j];
        worst = fmax(worst, fabs(s - ref[k]));
    }
    CHECK(worst < 1e-5, "folded logits differ by %g", worst);
    fc_layer_free(&layers[0]);
    fc_head_free(&h);
    fc_head l2 = {.n_layers = 1, .transform = {.kind = FC_TRANSFORM_L2}};
    CHECK(ft_head_take_folded(&l2, layers, &n, &err) == FC_EINVAL, "an L2-normalized head is refused");
}

/* An MLP head's backward against finite differences of sum(w * logits). */
static void head_backward(void) {
    enum { N = 3, D = 6, K = 4 };
    fc_head_config cfg;
    fc_head_config_init(&cfg);
    cfg.kind = FC_HEAD_MLP;
    cfg.n_hidden = 1;
    cfg.hidden[0] = 5;
    fc_layer layers[FC_HEAD_MAX_LAYERS] = {0};
    int n = 0;
    fc_error err = {0};
    REQUIRE(ft_head_layers_new(&cfg, D, K, 9, layers, &n, &err) == 0 && n == 2, "%s", err.msg);
    for (int i = 0; i < 5; i++) layers[0].b[i] = 0.3f; /* keep the ReLUs away from their kink */
    ft_head h;
    fc_train_ws ws;
    fc_train_ws_init(&ws, 1);
    REQUIRE(ft_head_init(&h, layers, n, N, &err) == 0, "%s", err.msg);
    unsigned seed = 5;
    float x[N * D], w[N * K], dx[N * D];
    for (int i = 0; i < N * D; i++) x[i] = frand(&seed);
    for (int i = 0; i < N * K; i++) w[i] = frand(&seed);
    REQUIRE(ft_head_forward(&ws, &h, x, N, &err) == 0 && ft_head_backward(&ws, &h, w, N, dx, &err) == 0, "%s", err.msg);
    double worst = 0, h_ = 1e-3;
    for (int i = 0; i < N * D; i++) {
        double l[2];
        for (int s = 0; s < 2; s++) {
            float x0 = x[i];
            x[i] = x0 + (s ? -1 : 1) * (float)h_;
            ft_head_forward(&ws, &h, x, N, &err);
            l[s] = 0;
            for (int q = 0; q < N * K; q++) l[s] += (double)w[q] * h.logits[q];
            x[i] = x0;
        }
        worst = fmax(worst, fabs((l[0] - l[1]) / (2 * h_) - dx[i]));
    }
    CHECK(worst < 2e-3, "the head's dfeat differs from finite differences by %g", worst);
    ft_head_free(&h);
    fc_train_ws_free(&ws);
    for (int i = 0; i < n; i++) fc_layer_free(&layers[i]);
}

int main(void) {
    RUN(checkpoint);
    RUN(schedule);
    RUN(fold);
    RUN(head_backward);
    return check_done();
}
