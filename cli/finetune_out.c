/* featcache finetune's outputs (see finetune_out.h). */
#include "cli/finetune_out.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "cli/npy.h"

int cli_finetune_write_classifier(const fc_train_net *net, const char *model_path, const char *feature,
                                  const fc_head *head, const char *meta_json, const char *out_path,
                                  fc_error *err) {
    fc_strbuf top = {0}, hp = {0};
    fc_strbuf_printf(&top, "%s.backbone.tmp", out_path);
    fc_strbuf_printf(&hp, "%s.head.tmp", out_path);
    int rc = fc_train_net_write_onnx(net, model_path, top.s, err);
    if (!rc) rc = fc_head_save_onnx(head, hp.s, meta_json, err);
    if (!rc) rc = fc_onnx_merge_classifier(top.s, feature, hp.s, out_path, err);
    remove(top.s);
    remove(hp.s);
    fc_strbuf_free(&top);
    fc_strbuf_free(&hp);
    return rc;
}

void cli_trace_start(cli_trace *t, const char *dir, int max_steps, int batch, const fc_train_net *net) {
    t->dir = dir;
    t->max_steps = max_steps;
    t->batch = batch;
    t->input_size = fc_train_net_input_size(net);
    t->rank = fc_train_net_input_dims(net, t->dims);
}

static int grow(cli_trace *t, int n) {
    if (t->rows + (size_t)n <= t->cap) return 0;
    size_t cap = t->cap ? t->cap * 2 : 256;
    while (cap < t->rows + (size_t)n) cap *= 2;
    float *x = realloc(t->x, cap * t->input_size * sizeof(float));
    if (x) t->x = x;
    int64_t *y = realloc(t->y, cap * sizeof(int64_t));
    if (y) t->y = y;
    if (!x || !y) return FC_ENOMEM;
    t->cap = cap;
    return 0;
}

int cli_trace_step(cli_trace *t, const fc_finetune_step *s) {
    if ((t->max_steps && t->steps >= t->max_steps) || (!t->max_steps && s->epoch > 1)) return 0;
    if (grow(t, s->n)) return FC_ENOMEM;
    int64_t *b = realloc(t->batches, ((size_t)t->steps + 1) * t->batch * sizeof(int64_t));
    double *l = realloc(t->losses, ((size_t)t->steps + 1) * sizeof(double));
    if (b) t->batches = b;
    if (l) t->losses = l;
    double *r = realloc(t->lrs, ((size_t)t->steps + 1) * sizeof(double));
    if (r) t->lrs = r;
    if (!b || !l || !r) return FC_ENOMEM;
    memcpy(t->x + t->rows * t->input_size, s->input, (size_t)s->n * t->input_size * sizeof(float));
    for (int i = 0; i < t->batch; i++) /* this step's rows are the next ones of x; -1 pads */
        t->batches[(size_t)t->steps * t->batch + i] = i < s->n ? (int64_t)(t->rows + i) : -1;
    for (int i = 0; i < s->n; i++) t->y[t->rows + i] = s->targets[i];
    t->rows += s->n;
    t->losses[t->steps] = s->loss;
    t->lrs[t->steps++] = s->lr;
    return 0;
}

int cli_trace_head(cli_trace *t, const fc_head *h, fc_error *err) {
    if (h->n_layers != 1) return fc_fail(err, FC_EUNSUPPORTED, "--trace needs a softmax head (one layer)");
    const fc_layer *l = &h->layers[0];
    free(t->head_W);
    free(t->head_b);
    t->head_W = malloc((size_t)l->out * l->in * sizeof(float));
    t->head_b = malloc((size_t)l->out * sizeof(float));
    if (!t->head_W || !t->head_b) return fc_fail(err, FC_ENOMEM, "out of memory");
    memcpy(t->head_W, l->W, (size_t)l->out * l->in * sizeof(float));
    memcpy(t->head_b, l->b, (size_t)l->out * sizeof(float));
    t->K = l->out;
    t->D = l->in;
    return 0;
}

static int write_meta(const cli_trace *t, const char *members, fc_error *err) {
    fc_strbuf m = {0};
    fc_strbuf_printf(&m, "{%s%s\"batch\":%d,\"steps\":%d,\"losses\":[", members, *members ? "," : "", t->batch, t->steps);
    for (int i = 0; i < t->steps; i++) fc_strbuf_printf(&m, "%s%.9g", i ? "," : "", t->losses[i]);
    fc_strbuf_printf(&m, "],\"lr_per_step\":[");
    for (int i = 0; i < t->steps; i++) fc_strbuf_printf(&m, "%s%.9g", i ? "," : "", t->lrs[i]);
    fc_strbuf_printf(&m, "]}\n");
    fc_strbuf path = {0};
    fc_strbuf_printf(&path, "%s/meta.json", t->dir);
    int rc = fc_file_write_atomic(path.s, (const unsigned char *)m.s, m.len, err);
    fc_strbuf_free(&m);
    fc_strbuf_free(&path);
    return rc;
}

int cli_trace_write(const cli_trace *t, const char *members, fc_error *err) {
    if (!t->steps || !t->head_W) return fc_fail(err, FC_EINVAL, "--trace: no training step was recorded");
    if (mkdir(t->dir, 0777) != 0 && errno != EEXIST)
        return fc_fail(err, FC_EIO, "%s: cannot create: %s", t->dir, strerror(errno));
    fc_strbuf p = {0};
    int64_t xd[5] = {(int64_t)t->rows}, yd[1] = {(int64_t)t->rows}, bd[2] = {t->steps, t->batch};
    int64_t wd[2] = {t->K, t->D}, kd[1] = {t->K};
    memcpy(xd + 1, t->dims, (size_t)t->rank * sizeof(int64_t));
    struct { const char *name, *descr; size_t size; int rank; const int64_t *dims; const void *data; } files[] = {
        {"x.npy", "<f4", 4, t->rank + 1, xd, t->x}, {"y.npy", "<i8", 8, 1, yd, t->y},
        {"batches.npy", "<i8", 8, 2, bd, t->batches}, {"head_W.npy", "<f4", 4, 2, wd, t->head_W},
        {"head_b.npy", "<f4", 4, 1, kd, t->head_b}};
    int rc = 0;
    for (size_t i = 0; !rc && i < sizeof files / sizeof files[0]; i++) {
        p.len = 0;
        fc_strbuf_printf(&p, "%s/%s", t->dir, files[i].name);
        rc = cli_npy_write(p.s, files[i].descr, files[i].size, files[i].rank, files[i].dims, files[i].data, err);
    }
    fc_strbuf_free(&p);
    return rc ? rc : write_meta(t, members, err);
}

void cli_trace_free(cli_trace *t) {
    free(t->x);
    free(t->y);
    free(t->batches);
    free(t->losses);
    free(t->lrs);
    free(t->head_W);
    free(t->head_b);
}

static void number(fc_strbuf *b, const char *key, double v) {
    if (isfinite(v)) fc_strbuf_printf(b, ",\"%s\":%.6f", key, v);
    else fc_strbuf_printf(b, ",\"%s\":null", key);
}

static void epoch_json(fc_strbuf *b, const fc_finetune_epoch *e) {
    fc_strbuf_printf(b, "{\"epoch\":%d,\"steps\":%d", e->epoch, e->steps);
    number(b, "loss", e->loss);
    number(b, "train_accuracy", e->train_accuracy);
    number(b, "val_loss", e->val_loss);
    number(b, "val_accuracy", e->val_accuracy);
    fc_strbuf_printf(b, ",\"lr\":%.6g,\"seconds\":%.3f,\"train_seconds\":%.3f", e->lr, e->seconds, e->train_seconds);
    number(b, "train_cpu_seconds", e->train_cpu_seconds);
    fc_strbuf_printf(b, "}");
}

void cli_finetune_print_epoch(FILE *f, const fc_finetune_epoch *e, int epochs, int json, const char *start) {
    if (json) {
        fc_strbuf b = {0};
        epoch_json(&b, e);
        fprintf(f, "%s\n", b.s);
        fc_strbuf_free(&b);
    } else if (e->epoch == 0) {
        fprintf(f, "start          val %.4f (loss %.4f)  %s, %.2f s\n", e->val_accuracy, e->val_loss, start, e->seconds);
    } else {
        fprintf(f, "epoch %3d/%-3d  loss %.4f  train %.4f  val %.4f (loss %.4f)  lr %.3g  %.2f s\n", e->epoch, epochs,
                e->loss, e->train_accuracy, e->val_accuracy, e->val_loss, e->lr, e->seconds);
    }
    fflush(f);
}

void cli_run_on_step(void *user, const fc_finetune_step *s) {
    cli_run_progress *c = user;
    if (c->trace && cli_trace_step(c->trace, s)) c->trace_failed = 1;
    if (c->show) fprintf(stderr, "\r  epoch %d  step %d  loss %.4f   ", s->epoch, s->step, s->loss);
}

void cli_run_on_epoch(void *user, const fc_finetune_epoch *e) {
    cli_run_progress *c = user;
    fc_error err;
    if (c->trace && !c->trace->head_W && cli_trace_head(c->trace, c->head, &err)) c->trace_failed = 1;
    if (c->show) fprintf(stderr, "\r%40s\r", "");
    if (c->json || !c->quiet) cli_finetune_print_epoch(stdout, e, c->epochs, c->json, c->start ? c->start : "");
    fflush(stdout);
    cli_test_pause("epoch"); /* the epoch's checkpoint is written: a kill here resumes from it */
}

void cli_run_result_json(fc_strbuf *b, const fc_train_result *r, const fc_problem *p, const char *extra,
                         const fc_finetune_epoch *h, int n) {
    fc_train_result_json(b, r, p);
    b->s[--b->len] = 0; /* reopen the object for the curves */
    fc_strbuf_printf(b, ",%s", extra ? extra : "");
    cli_finetune_history_json(b, h, n);
    fc_strbuf_printf(b, "}");
}

void cli_finetune_history_json(fc_strbuf *b, const fc_finetune_epoch *h, int n) {
    fc_strbuf_printf(b, "\"history\":[");
    for (int i = 0; i < n; i++) {
        if (i) fc_strbuf_printf(b, ",");
        epoch_json(b, &h[i]);
    }
    fc_strbuf_printf(b, "]");
}
