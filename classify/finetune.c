/* fc_finetune_run (finetune.h): the linear-probe stage, then epochs of training the net's top and
 * the head together on batches of cached cut activations, a checkpoint after each epoch.
 * Reproducibility: an epoch's order and views come from (seed, epoch) alone, a step's dropout mask
 * from (seed, step), and every op has a fixed reduction order, so a resumed run continues on the
 * same bits. Shapes: input (B, input_size) at the cut -> feat (B, D) -> logits (B, K). */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "classify/finetune_internal.h"

typedef struct run {
    fc_train_net *net;
    const fc_finetune_data *d;
    const fc_finetune_config *cfg;
    const fc_finetune_control *ctl;
    fc_train_ws *ws;
    ft_head head;
    ft_params ps;
    int B, D, K;
    size_t in_size;
    int *train, n_train, *val, n_val; /* item indices by role */
    float *input, *feat, *dfeat, *probs; /* (B, in_size), (B, D) x 2, (B, K) */
    int *rows, *targets;                 /* (B) */
    float *state;                        /* (n_state) checkpoint payload: ps's state, the net's
                                            running statistics */
    size_t n_state, n_stats;
    uint8_t identity[32];
    fc_finetune_epoch *history;
    int n_history;
    long step, steps_per_epoch, total_steps, warmup_steps;
} run;

static uint64_t mix(uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

/* a[0..n) in an order drawn from the stream *s (Fisher-Yates), *s advanced. */
static void shuffle(int *a, int n, uint64_t *s) {
    for (int i = n - 1; i > 0; i--) {
        int j = (int)(mix(*s += 0x9E3779B97F4A7C15ull) % (uint64_t)(i + 1)), t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}

/* (B, D) features of rows[0..n) into out, through the net in training or evaluation mode. */
static int features(run *R, const int *rows, int n, float *out, int training, fc_error *err) {
    int rc = ft_load_rows(R->d, rows, n, R->input, R->in_size, err);
    fc_train_net_set_training(R->net, training);
    return rc ? rc : fc_train_net_forward(R->net, R->input, n, out, err);
}

/* Original-view pass over items[0..n): the head's probabilities into P (n, K) (P NULL: R->probs
 * per batch only) with mean loss and accuracy. */
static int evaluate(run *R, const int *items, int n, float *P, double *loss, double *acc, fc_error *err) {
    const int *y = R->d->p->y;
    double sum = 0;
    int right = 0;
    for (int s = 0; s < n; s += R->B) {
        int m = n - s < R->B ? n - s : R->B;
        for (int b = 0; b < m; b++) R->rows[b] = items[s + b] * R->d->n_views; /* slot 0: orig */
        int rc = features(R, R->rows, m, R->feat, 0, err);
        if (!rc) rc = ft_head_forward(R->ws, &R->head, R->feat, m, err);
        if (rc) return rc;
        float *pb = P ? P + (size_t)s * R->K : R->probs;
        fc_logits_softmax(R->head.logits, m, R->K, pb);
        for (int b = 0; b < m; b++) {
            int t = y[items[s + b]];
            sum -= log(fmax(pb[(size_t)b * R->K + t], 1e-15));
            right += fc_metrics_argmax(pb + (size_t)b * R->K, R->K) == t;
        }
    }
    if (loss) *loss = sum / n;
    if (acc) *acc = (double)right / n;
    return 0;
}

/* The softmax head of the best validation accuracy on a regularization path (ties: the stronger
 * penalty), into *tr. */
static int best_softmax(const fc_head_config *base, const fc_problem *lp, fc_train_rows *rows, int threads,
                        fc_train_result *tr, double *l2, fc_error *err) {
    enum { M = 6 };
    fc_head_config cfgs[M];
    fc_train_result res[M];
    for (int i = 0; i < M; i++) {
        cfgs[i] = *base;
        cfgs[i].l2 = pow(10.0, 3 - i); /* 1e3 .. 1e-2 */
    }
    int rc = fc_train_softmax_path_rows(cfgs, M, lp, rows, threads, res, err), best = 0;
    for (int i = 1; !rc && i < M; i++)
        if (res[i].val.accuracy > res[best].val.accuracy) best = i;
    for (int i = 0; !rc && i < M; i++) {
        if (i == best) *tr = res[i];
        else fc_train_result_free(&res[i]);
    }
    *l2 = cfgs[best].l2;
    return rc;
}

/* How many of n items of one side the linear probe uses: all up to a bound that does not grow with
 * the data set (its features are held in memory, and its L-BFGS passes over them; see
 * FC_FINETUNE_LP_MAX_ITEMS). */
static int lp_count(const fc_finetune_config *c, int n, int k) {
    int cap = c->lp_max_items ? c->lp_max_items : FC_FINETUNE_LP_MAX_ITEMS, floor = c->lp_max_items ? k : 32 * k;
    if (cap < floor) cap = floor;
    return n < cap ? n : cap;
}

/* Marks in take[] (one flag per item of the problem) lp_count of items[0..n): all of them, or a
 * sample drawn from the seed that has every class of those items. */
static int lp_sample(const run *R, const int *items, int n, uint8_t *take) {
    const int *y = R->d->p->y;
    int want = lp_count(R->cfg, n, R->K), got = 0;
    int *order = malloc((size_t)n * sizeof *order + 4);
    uint8_t *seen = calloc((size_t)R->K, 1);
    if (!order || !seen) {
        free(order), free(seen);
        return -1;
    }
    uint64_t s = mix(R->cfg->seed) ^ mix(0x6c70ull); /* "lp" */
    for (int i = 0; i < n; i++) order[i] = items[i];
    if (want < n) shuffle(order, n, &s);
    for (int i = 0; i < n && got < want; i++) /* each class's first item in the drawn order */
        if (!seen[y[order[i]]]) seen[y[order[i]]] = 1, take[order[i]] = 1, got++;
    for (int i = 0; i < n && got < want; i++)
        if (!take[order[i]]) take[order[i]] = 1, got++;
    free(order);
    free(seen);
    return 0;
}

/* The frozen features of the taken items into rows (xt for training items, xv for validation
 * items, each in item order), computed in item order in batches of R->B as the items come. */
static int lp_features(run *R, const uint8_t *take, fc_train_rows *rows, int *yt, int *yv, fc_error *err) {
    const fc_problem *p = R->d->p;
    int *items = malloc((size_t)R->B * sizeof *items + 4), m = 0, rc = 0;
    if (!items) return fc_fail(err, FC_ENOMEM, "out of memory");
    rows->nt = rows->nv = 0;
    for (int i = 0; !rc && i < p->n; i++) {
        if (take[i]) items[m++] = i;
        if (m < R->B && !(i == p->n - 1 && m > 0)) continue;
        for (int b = 0; b < m; b++) R->rows[b] = items[b] * R->d->n_views; /* slot 0: orig */
        rc = features(R, R->rows, m, R->feat, 0, err);
        for (int b = 0; !rc && b < m; b++) {
            int val = p->role[items[b]] == 1, *at = val ? &rows->nv : &rows->nt;
            float *dst = (val ? rows->xv : rows->xt) + (size_t)*at * R->D;
            memcpy(dst, R->feat + (size_t)b * R->D, (size_t)R->D * sizeof(float));
            (val ? yv : yt)[(*at)++] = p->y[items[b]];
        }
        m = 0;
    }
    free(items);
    return rc;
}

/* LP: the configured head fitted (fc_train) on the frozen features of the training and validation
 * items (or samples of them, lp_count), its transform folded into its first layer; returns its
 * validation accuracy in *val_acc and its L2 in *l2. */
static int linear_probe(run *R, fc_layer *layers, int *n_layers, double *val_acc, double *l2, fc_error *err) {
    const fc_problem *p = R->d->p;
    int nt = lp_count(R->cfg, R->n_train, R->K), nv = lp_count(R->cfg, R->n_val, R->K);
    uint8_t *take = calloc((size_t)p->n + 1, 1);
    int *yt = malloc((size_t)nt * sizeof(int) + 4), *yv = malloc((size_t)nv * sizeof(int) + 4);
    fc_train_rows rows = {.xt = malloc((size_t)nt * R->D * sizeof(float) + 4),
                          .xv = malloc((size_t)nv * R->D * sizeof(float) + 4), .yt = yt, .yv = yv};
    fc_train_result tr = {0};
    int rc = 0;
    if (!take || !yt || !yv || !rows.xt || !rows.xv || lp_sample(R, R->train, R->n_train, take) ||
        lp_sample(R, R->val, R->n_val, take)) {
        rc = fc_fail(err, FC_ENOMEM, "out of memory for the linear-probe features");
        goto out;
    }
    if ((rc = lp_features(R, take, &rows, yt, yv, err))) goto out;
    fc_problem lp = *p; /* only its classes and the feature's size matter here */
    lp.x = NULL;
    lp.d = R->D;
    lp.n_views = 1;
    const fc_head_config *hc = &R->cfg->head;
    *l2 = hc->kind == FC_HEAD_SOFTMAX ? hc->l2 : NAN;
    rc = R->cfg->lp_l2_auto && hc->kind == FC_HEAD_SOFTMAX ? best_softmax(hc, &lp, &rows, R->cfg->threads, &tr, l2, err)
                                                           : fc_train_rows_fit(hc, &lp, &rows, R->cfg->threads, &tr, err);
    if (rc) {
        fc_error_prefix(err, "linear probe: ");
        goto out;
    }
    *val_acc = tr.val.accuracy;
    rc = ft_head_take_folded(&tr.head, layers, n_layers, err);
out:
    fc_train_result_free(&tr);
    free(take);
    free(yt);
    free(yv);
    free(rows.xt);
    free(rows.xv);
    return rc;
}

/* One optimizer step on the batch of rows[0..n) (targets set); *loss and *right of the batch. */
static int train_step(run *R, int n, double lr, double *loss, int *right, fc_error *err) {
    const fc_finetune_config *c = R->cfg;
    uint64_t dseed = mix(c->seed ^ mix((uint64_t)R->step + 1));
    size_t nf = (size_t)n * R->D;
    float l = 0;
    int rc = features(R, R->rows, n, R->feat, 1, err);
    if (!rc && c->dropout > 0) rc = fc_dropout_forward(R->ws, R->feat, R->feat, nf, (float)c->dropout, dseed, err);
    if (!rc) rc = ft_head_forward(R->ws, &R->head, R->feat, n, err);
    if (!rc) rc = fc_crossentropy_forward(R->ws, &l, R->probs, R->head.logits, R->targets, n, R->K, err);
    if (rc) return rc;
    *loss = l;
    if (!isfinite(l)) return 1;
    *right = 0;
    for (int b = 0; b < n; b++) *right += fc_metrics_argmax(R->probs + (size_t)b * R->K, R->K) == R->targets[b];
    rc = fc_crossentropy_backward(R->ws, R->probs, R->probs, R->targets, n, R->K, 1.0f, err);
    if (!rc) rc = ft_head_backward(R->ws, &R->head, R->probs, n, R->dfeat, err);
    if (!rc && c->dropout > 0) rc = fc_dropout_backward(R->ws, R->dfeat, R->dfeat, nf, (float)c->dropout, dseed, err);
    if (!rc) rc = fc_train_net_backward(R->net, R->dfeat, NULL, err);
    if (!rc) rc = ft_params_step(R->ws, &R->ps, c, lr, R->step + 1, err);
    return rc;
}

/* The epoch's rows: the training items in an order drawn from (seed, epoch), each with one view. */
static void epoch_rows(const run *R, int epoch, int *order) {
    uint64_t s = mix(R->cfg->seed) ^ mix(0x65706f6368ull + (uint64_t)epoch); /* "epoch" */
    for (int i = 0; i < R->n_train; i++) order[i] = R->train[i];
    shuffle(order, R->n_train, &s);
    for (int i = 0; i < R->n_train; i++)
        order[i] = order[i] * R->d->n_views + (int)(mix(s += 0x9E3779B97F4A7C15ull) % (uint64_t)R->d->n_views);
}

/* CPU time of the process, all threads. */
static double cpu_seconds(void) {
    struct timespec ts;
    return clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) ? NAN : (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int train_epoch(run *R, int epoch, int *order, fc_finetune_epoch *e, fc_error *err) {
    double t0 = omp_get_wtime(), c0 = cpu_seconds(), sum = 0, lr = 0;
    int right = 0, steps = 0;
    epoch_rows(R, epoch, order);
    for (int s = 0; s < R->n_train; s += R->B, steps++) {
        int n = R->n_train - s < R->B ? R->n_train - s : R->B;
        for (int b = 0; b < n; b++) {
            R->rows[b] = order[s + b];
            R->targets[b] = R->d->p->y[order[s + b] / R->d->n_views];
        }
        lr = ft_schedule_lr(R->cfg, R->step, R->total_steps, R->warmup_steps);
        double loss = 0;
        int ok = 0;
        int rc = train_step(R, n, lr, &loss, &ok, err);
        if (rc == 1)
            return fc_fail(err, FC_EINVAL, "the loss is %s at epoch %d step %d (lr %g): training stopped; the "
                           "checkpoint of epoch %d is kept (try a smaller --lr)", isnan(loss) ? "NaN" : "infinite",
                           epoch, steps + 1, lr, epoch - 1);
        if (rc) return rc;
        sum += loss * n;
        right += ok;
        if (R->ctl && R->ctl->on_step) {
            fc_finetune_step st = {.epoch = epoch, .step = steps + 1, .n = n, .rows = R->rows, .input = R->input,
                                   .input_size = R->in_size, .targets = R->targets, .loss = loss, .lr = lr};
            R->ctl->on_step(R->ctl->user, &st);
        }
        R->step++;
        if (R->ctl && R->ctl->cancel && *R->ctl->cancel) return fc_fail(err, FC_ECANCELLED, "interrupted at epoch %d", epoch);
    }
    *e = (fc_finetune_epoch){.epoch = epoch, .steps = steps, .loss = sum / R->n_train,
                             .train_accuracy = (double)right / R->n_train, .lr = lr,
                             .train_seconds = omp_get_wtime() - t0, .train_cpu_seconds = cpu_seconds() - c0,
                             .l2 = NAN};
    int rc = evaluate(R, R->val, R->n_val, NULL, &e->val_loss, &e->val_accuracy, err);
    e->seconds = omp_get_wtime() - t0;
    return rc;
}

/* The run's identity for its checkpoint: the config, the data (items, labels, roles, views, the
 * cut's extractor) and the net's starting values. */
static void run_identity(run *R) {
    const fc_problem *p = R->d->p;
    fc_strbuf j = {0};
    fc_finetune_config_json(&j, R->cfg, NULL);
    fc_sha256 h;
    fc_sha256_init(&h);
    fc_sha256_update(&h, j.s ? j.s : "", j.len);
    fc_sha256_update(&h, R->d->extractor, 32);
    fc_sha256_update(&h, R->d->views, (size_t)R->d->n_views * sizeof(int));
    fc_sha256_update(&h, &p->n, sizeof p->n);
    if (R->d->hashes) fc_sha256_update(&h, R->d->hashes, (size_t)p->n * 32);
    fc_sha256_update(&h, p->y, (size_t)p->n * sizeof(int));
    fc_sha256_update(&h, p->role, (size_t)p->n * sizeof(int));
    for (int i = 0; i < fc_train_net_n_params(R->net); i++) /* the net's come first in ps */
        fc_sha256_update(&h, R->ps.p[i].value, R->ps.p[i].n * sizeof(float));
    fc_sha256_final(&h, R->identity);
    fc_strbuf_free(&j);
}

static int save(run *R, int epoch, fc_error *err) {
    if (!R->ctl || !R->ctl->checkpoint) return 0;
    ft_params_save(&R->ps, R->state);
    int rc = fc_train_net_stats_get(R->net, R->state + R->ps.state_floats, R->n_stats, err);
    ft_ckpt c = {.epoch = epoch, .step = R->step, .history = R->history, .n_history = R->n_history,
                 .state = R->state, .n_state = R->n_state};
    if (rc) return rc;
    memcpy(c.identity, R->identity, 32);
    return ft_ckpt_write(R->ctl->checkpoint, &c, err);
}

/* 1 resumed (epoch in *epoch), 0 nothing to resume, < 0 error. */
static int restore(run *R, int *epoch, fc_error *err) {
    if (!R->ctl || !R->ctl->checkpoint || !R->ctl->resume) return 0;
    ft_ckpt c;
    int rc = ft_ckpt_read(R->ctl->checkpoint, R->identity, R->n_state, &c, err);
    if (rc != 1) return rc;
    ft_params_load(&R->ps, c.state);
    if ((rc = fc_train_net_stats_set(R->net, c.state + R->ps.state_floats, R->n_stats, err))) {
        ft_ckpt_free(&c);
        return rc;
    }
    memcpy(R->history, c.history, (size_t)c.n_history * sizeof *c.history);
    R->n_history = c.n_history;
    R->step = c.step;
    *epoch = c.epoch;
    ft_ckpt_free(&c);
    return 1;
}

/* Records epoch e, writes the checkpoint, then tells the caller. */
static int epoch_done(run *R, const fc_finetune_epoch *e, fc_error *err) {
    R->history[R->n_history++] = *e;
    int rc = save(R, e->epoch, err);
    if (!rc && R->ctl && R->ctl->on_epoch) R->ctl->on_epoch(R->ctl->user, e);
    return rc;
}

/* Items by role and the check that every class has a training item. */
static int split_items(run *R, fc_error *err) {
    const fc_problem *p = R->d->p;
    if (p->n_folds) return fc_fail(err, FC_EINVAL, "fine-tuning needs a train/validation split (folders or hash:F), not k-fold");
    R->train = malloc((size_t)p->n * sizeof(int) + 4);
    R->val = malloc((size_t)p->n * sizeof(int) + 4);
    int *count = calloc((size_t)p->k, sizeof(int));
    int rc = 0;
    if (!R->train || !R->val || !count) rc = fc_fail(err, FC_ENOMEM, "out of memory");
    for (int i = 0; !rc && i < p->n; i++) {
        if (p->role[i] == 0) R->train[R->n_train++] = i, count[p->y[i]]++;
        if (p->role[i] == 1) R->val[R->n_val++] = i;
    }
    for (int c = 0; !rc && c < p->k; c++)
        if (!count[c]) rc = fc_fail(err, FC_EINVAL, "class '%s' has no training item", p->classes[c]);
    if (!rc && (!R->n_train || !R->n_val))
        rc = fc_fail(err, FC_EINVAL, "the %s split is empty", R->n_train ? "validation" : "training");
    free(count);
    return rc;
}

static int check_config(const fc_finetune_config *c, const fc_train_net *net, const fc_finetune_data *d,
                        fc_error *err) {
    if (c->epochs < 1 || c->batch < 1 || !(c->lr > 0) || !(c->backbone_lr_scale >= 0) || c->warmup < 0 || c->lp_max_items < 0 ||
        !(c->dropout >= 0 && c->dropout < 1) || !(c->weight_decay >= 0) || !(c->momentum >= 0 && c->momentum < 1) ||
        !(c->l2sp >= 0 && isfinite(c->l2sp)))
        return fc_fail(err, FC_EINVAL, "bad fine-tuning options (epochs and batch >= 1, lr > 0, "
                                       "backbone-lr-scale >= 0, dropout in [0, 1), momentum in [0, 1), l2sp >= 0)");
    if (c->head.kind != FC_HEAD_SOFTMAX && c->head.kind != FC_HEAD_MLP)
        return fc_fail(err, FC_EINVAL, "fine-tuning takes a softmax or mlp head, not %s", fc_head_kind_name(c->head.kind));
    if (fc_train_net_batch(net) < c->batch)
        return fc_fail(err, FC_EINVAL, "the net was built for batches of %d, the config asks %d", fc_train_net_batch(net), c->batch);
    if ((!d->x && (!d->cache || !d->hashes)) || !d->p || !d->views || d->n_views < 1 || d->views[0] != 0)
        return fc_fail(err, FC_EINVAL, "fine-tuning data: the cache (or rows in memory), the items and the views "
                                       "(orig first) are required");
    if (c->schedule == FC_SCHEDULE_ONECYCLE && c->warmup)
        return fc_fail(err, FC_EINVAL, "the one-cycle schedule has its own warmup (0.3 of the steps): no --warmup");
    if (fc_train_net_precision(net) != c->precision)
        return fc_fail(err, FC_EINVAL, "the net's products run in %s, the config says %s",
                       fc_train_precision_name(fc_train_net_precision(net)), fc_train_precision_name(c->precision));
    return 0;
}

static int setup(run *R, fc_head *head, fc_error *err) {
    const fc_finetune_config *c = R->cfg;
    R->ws = fc_train_net_ws(R->net);
    R->B = c->batch;
    R->D = (int)fc_train_net_feature_size(R->net);
    R->K = R->d->p->k;
    R->in_size = fc_train_net_input_size(R->net);
    int rc = split_items(R, err);
    if (rc) return rc;
    R->input = malloc((size_t)R->B * R->in_size * sizeof(float) + 4);
    R->feat = malloc((size_t)R->B * R->D * sizeof(float) + 4);
    R->dfeat = malloc((size_t)R->B * R->D * sizeof(float) + 4);
    R->probs = malloc((size_t)R->B * R->K * sizeof(float) + 4);
    R->rows = malloc((size_t)R->B * sizeof(int) + 4);
    R->targets = malloc((size_t)R->B * sizeof(int) + 4);
    R->history = calloc((size_t)c->epochs + 1, sizeof *R->history);
    if (!R->input || !R->feat || !R->dfeat || !R->probs || !R->rows || !R->targets || !R->history)
        return fc_fail(err, FC_ENOMEM, "out of memory for the training buffers");
    R->steps_per_epoch = (R->n_train + R->B - 1) / R->B;
    R->total_steps = R->steps_per_epoch * c->epochs;
    R->warmup_steps = R->steps_per_epoch * c->warmup;
    /* the head's shape first (random values), so the optimizer table and the checkpoint's size are
     * known before a resume or the linear probe fills the values in */
    if ((rc = ft_head_layers_new(&c->head, R->D, R->K, c->seed, head->layers, &head->n_layers, err)) ||
        (rc = ft_head_init(&R->head, head->layers, head->n_layers, R->B, err)) ||
        (rc = ft_params_build(R->net, &R->head, c, R->n_train, &R->ps, err)))
        return rc;
    R->n_stats = fc_train_net_stats_size(R->net);
    R->n_state = R->ps.state_floats + R->n_stats;
    if (!(R->state = malloc(R->n_state * sizeof(float) + 4)))
        return fc_fail(err, FC_ENOMEM, "out of memory for the checkpoint");
    run_identity(R);
    return 0;
}

/* The head's starting values from the linear probe, copied into the layers already in place. */
static int start_head(run *R, double *lp_acc, double *lp_l2, fc_error *err) {
    fc_layer fitted[FC_HEAD_MAX_LAYERS] = {0};
    int n = 0, rc = linear_probe(R, fitted, &n, lp_acc, lp_l2, err);
    for (int i = 0; !rc && i < n; i++) {
        fc_layer *l = &R->head.layers[i];
        if (n != R->head.n_layers || fitted[i].in != l->in || fitted[i].out != l->out) {
            rc = fc_fail(err, FC_EINTERNAL, "the linear probe's head has another shape");
            break;
        }
        memcpy(l->W, fitted[i].W, (size_t)l->in * l->out * sizeof(float));
        memcpy(l->b, fitted[i].b, (size_t)l->out * sizeof(float));
    }
    for (int i = 0; i < n; i++) fc_layer_free(&fitted[i]);
    return rc;
}

static int finish(run *R, fc_finetune_result *r, fc_error *err) {
    float *P = malloc((size_t)R->n_val * R->K * sizeof(float) + 4);
    int *yv = malloc((size_t)R->n_val * sizeof(int) + 4);
    int rc = !P || !yv ? fc_fail(err, FC_ENOMEM, "out of memory") : 0;
    if (!rc) rc = evaluate(R, R->train, R->n_train, NULL, NULL, &r->train_accuracy, err);
    if (!rc) rc = evaluate(R, R->val, R->n_val, P, NULL, NULL, err);
    for (int i = 0; !rc && i < R->n_val; i++) yv[i] = R->d->p->y[R->val[i]];
    if (!rc) rc = fc_metrics_compute(&r->val, P, yv, R->n_val, R->K, 5, err);
    free(P);
    free(yv);
    fc_head *h = &r->head;
    h->n_classes = R->K;
    h->transform = (fc_transform){.kind = FC_TRANSFORM_NONE, .dim = R->D};
    if (!rc) rc = fc_head_set_class_names(h, (const char *const *)R->d->p->classes, R->K, err);
    return rc;
}

static void run_free(run *R) {
    ft_head_free(&R->head);
    ft_params_free(&R->ps);
    free(R->train);
    free(R->val);
    free(R->input);
    free(R->feat);
    free(R->dfeat);
    free(R->probs);
    free(R->rows);
    free(R->targets);
    free(R->state);
    free(R->history);
}

int fc_finetune_run(fc_train_net *net, const fc_finetune_data *d, const fc_finetune_config *cfg,
                    const fc_finetune_control *ctl, fc_finetune_result *r, fc_error *err) {
    memset(r, 0, sizeof *r);
    r->resumed_from = -1;
    double t0 = omp_get_wtime();
    run R = {.net = net, .d = d, .cfg = cfg, .ctl = ctl};
    int *order = NULL, epoch = 0;
    int rc = check_config(cfg, net, d, err);
    if (!rc) rc = setup(&R, &r->head, err);
    if (!rc && !(order = malloc((size_t)R.n_train * sizeof(int) + 4))) rc = fc_fail(err, FC_ENOMEM, "out of memory");
    if (!rc && (rc = restore(&R, &epoch, err)) == 1) {
        r->resumed_from = epoch;
        rc = 0;
    } else if (!rc) {
        double t1 = omp_get_wtime(), lp_acc = NAN;
        fc_finetune_epoch e0 = {.epoch = 0, .loss = NAN, .train_accuracy = NAN, .l2 = NAN, .train_cpu_seconds = NAN};
        if (cfg->lp) rc = start_head(&R, &lp_acc, &e0.l2, err);
        if (!rc) rc = evaluate(&R, R.val, R.n_val, NULL, &e0.val_loss, &e0.val_accuracy, err);
        e0.seconds = omp_get_wtime() - t1;
        if (!rc) rc = epoch_done(&R, &e0, err);
    }
    while (!rc && epoch < cfg->epochs) {
        fc_finetune_epoch e;
        if (!(rc = train_epoch(&R, ++epoch, order, &e, err))) rc = epoch_done(&R, &e, err);
    }
    if (!rc) rc = finish(&R, r, err);
    if (R.n_history) r->lp_val_accuracy = R.history[0].val_accuracy;
    r->lp_l2 = R.n_history ? R.history[0].l2 : NAN;
    r->lp_train = cfg->lp ? lp_count(cfg, R.n_train, R.K) : 0;
    r->lp_val = cfg->lp ? lp_count(cfg, R.n_val, R.K) : 0;
    r->l2sp_pull = R.ps.pull;
    r->history = R.history;
    r->n_history = R.n_history;
    R.history = NULL;
    r->seconds = omp_get_wtime() - t0;
    free(order);
    run_free(&R);
    if (rc) fc_finetune_result_free(r);
    return rc;
}

void fc_finetune_result_free(fc_finetune_result *r) {
    fc_head_free(&r->head);
    fc_metrics_free(&r->val);
    free(r->history);
    memset(r, 0, sizeof *r);
}
