/* fc_problem_build / fc_train (see train.h). The head is fitted on raw rows gathered per split
 * (every view of a training item, the original view of a validation item); the transform is fitted
 * on the training rows only and stored in the head, so predicting applies exactly what training saw.
 * The gathered rows are transformed in place: a fit holds one copy of its rows besides the problem's. */
#include "classify/train.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "classify/convhead.h"
#include "classify/data.h"
#include "classify/mlp.h"
#include "classify/ncm.h"
#include "classify/softmax.h"
#include "store/store.h"

#define NCM_SCALE 16.0f /* cosine logits scale of the imprinted head */

void fc_head_config_init(fc_head_config *c) {
    memset(c, 0, sizeof *c);
    c->kind = FC_HEAD_SOFTMAX;
    c->normalize = FC_TRANSFORM_STANDARDIZE;
    c->l2 = 1.0;
    c->lr = 1e-3;
    c->epochs = 100;
    c->batch = 64; /* fewer Adam steps per epoch than 32, same accuracy on ants/bees, ~4x faster */
    c->n_hidden = 1;
    c->hidden[0] = 512;
    c->hidden[1] = 256;
}

const char *fc_head_kind_name(fc_head_kind k) {
    return k == FC_HEAD_MLP ? "mlp" : k == FC_HEAD_NCM ? "ncm" : k == FC_HEAD_CONV ? "conv" : "softmax";
}

int fc_head_kind_parse(const char *s, fc_head_kind *out, fc_error *err) {
    if (!strcmp(s, "softmax")) *out = FC_HEAD_SOFTMAX;
    else if (!strcmp(s, "mlp")) *out = FC_HEAD_MLP;
    else if (!strcmp(s, "ncm")) *out = FC_HEAD_NCM;
    else if (!strcmp(s, "conv")) *out = FC_HEAD_CONV;
    else return fc_fail(err, FC_EINVAL, "unknown head '%s' (softmax, mlp, ncm, conv)", s);
    return 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* p->digest: SHA-256 of each item's path, NUL, image hash, class name, NUL and role (4 bytes,
 * little-endian), in item order. */
static void problem_digest(fc_problem *p) {
    fc_sha256 h;
    fc_sha256_init(&h);
    for (int i = 0; i < p->n; i++) {
        const char *c = p->classes[p->y[i]];
        uint32_t role = (uint32_t)p->role[i];
        uint8_t le[4] = {(uint8_t)role, (uint8_t)(role >> 8), (uint8_t)(role >> 16), (uint8_t)(role >> 24)};
        fc_sha256_update(&h, p->paths[i], strlen(p->paths[i]) + 1);
        fc_sha256_update(&h, p->hashes[i], 32);
        fc_sha256_update(&h, c, strlen(c) + 1);
        fc_sha256_update(&h, le, 4);
    }
    uint8_t d[32];
    fc_sha256_final(&h, d);
    fc_hex_encode(d, 32, p->digest);
}

int fc_problem_build(const float *x, int n_views, int n, int d, char **labels, char **splits, char **paths,
                     const uint8_t (*hashes)[32], const fc_split_spec *split, fc_problem *p,
                     fc_error *err) {
    memset(p, 0, sizeof *p);
    if (n_views < 1) return fc_fail(err, FC_EINVAL, "a problem needs at least one view, not %d", n_views);
    p->x = x;
    p->n = n;
    p->d = d;
    p->n_views = n_views;
    int rc = FC_ENOMEM;
    char **sorted = malloc(((size_t)n + 1) * sizeof *sorted);
    p->y = malloc(((size_t)n + 1) * sizeof *p->y);
    p->role = malloc(((size_t)n + 1) * sizeof *p->role);
    uint8_t *is_val = malloc((size_t)n + 1);
    if (!sorted || !p->y || !p->role || !is_val) { fc_fail(err, FC_ENOMEM, "out of memory"); goto fail; }
    for (int i = 0; i < n; i++)
        if (!labels[i] || !*labels[i]) {
            rc = fc_fail(err, FC_EINVAL, "item %s has no label; training needs every item labeled "
                         "(class folders or a CSV label column)", paths[i]);
            goto fail;
        }
    for (int i = 0; i < n; i++) sorted[i] = labels[i];
    qsort(sorted, (size_t)n, sizeof *sorted, cmp_str);
    p->classes = calloc((size_t)n + 1, sizeof *p->classes);
    if (!p->classes) { fc_fail(err, FC_ENOMEM, "out of memory"); goto fail; }
    for (int i = 0; i < n; i++)
        if (i == 0 || strcmp(sorted[i], sorted[i - 1]))
            if (!(p->classes[p->k++] = strdup(sorted[i]))) { fc_fail(err, FC_ENOMEM, "out of memory"); goto fail; }
    if (p->k < 2) { rc = fc_fail(err, FC_EINVAL, "only one class ('%s'): a classifier needs at least two", p->classes[0]); goto fail; }
    for (int i = 0; i < n; i++) {
        char **c = bsearch(&labels[i], p->classes, (size_t)p->k, sizeof *p->classes, cmp_str);
        p->y[i] = (int)(c - p->classes);
    }
    fc_split_kind kind = split->kind;
    int has_train = 0, has_val = 0;
    for (int i = 0; i < n; i++) {
        has_train |= !strcmp(splits[i], "train");
        has_val |= !strcmp(splits[i], "val");
    }
    if (kind == FC_SPLIT_FOLDERS && !(has_train && has_val)) kind = FC_SPLIT_HASH; /* no folders: hash */
    double fraction = split->kind == FC_SPLIT_HASH ? split->fraction : 0.2;
    if (kind == FC_SPLIT_FOLDERS) {
        for (int i = 0; i < n; i++)
            p->role[i] = !strcmp(splits[i], "train") ? 0 : !strcmp(splits[i], "val") ? 1 : -1;
    } else if (kind == FC_SPLIT_HASH) {
        int nv;
        if ((rc = fc_split_holdout((const uint8_t *)hashes, n, fraction, is_val, &nv, err))) goto fail;
        for (int i = 0; i < n; i++) p->role[i] = !strcmp(splits[i], "test") ? -1 : is_val[i];
    } else {
        if ((rc = fc_split_kfold((const uint8_t *)hashes, n, split->folds, p->role, err))) goto fail;
        for (int i = 0; i < n; i++) if (!strcmp(splits[i], "test")) p->role[i] = -1;
        p->n_folds = split->folds;
    }
    for (int i = 0; i < n; i++) {
        p->n_train += (p->n_folds ? p->role[i] >= 0 : p->role[i] == 0) * n_views;
        p->n_val += p->n_folds ? 0 : p->role[i] == 1;
    }
    if (p->n_train == 0) { rc = fc_fail(err, FC_EINVAL, "the training split is empty"); goto fail; }
    if (!p->n_folds && p->n_val == 0) { rc = fc_fail(err, FC_EINVAL, "the validation split is empty"); goto fail; }
    p->paths = paths;
    p->hashes = hashes;
    problem_digest(p);
    free(sorted);
    free(is_val);
    return 0;
fail:
    free(sorted);
    free(is_val);
    fc_problem_free(p);
    return rc;
}

void fc_problem_free(fc_problem *p) {
    if (p->classes)
        for (int c = 0; c < p->k; c++) free(p->classes[c]);
    free(p->classes);
    free(p->y);
    free(p->role);
    memset(p, 0, sizeof *p);
}

int fc_problem_rows(const fc_problem *p, int held_out, int which, int *rows) {
    int m = 0;
    for (int i = 0; i < p->n; i++) {
        if (p->role[i] < 0) continue;
        if (which == FC_ROWS_VAL) {
            if (p->role[i] == held_out) rows[m++] = i;
        } else if (p->role[i] != held_out) {
            for (int v = 0; v < p->n_views; v++) rows[m++] = v * p->n + i;
        }
    }
    return m;
}

/* fc_problem_rows(p, held_out, which) gathered into x (m, d) and y (m). */
static int gather(const fc_problem *p, int held_out, int which, float **x, int **y, int *m) {
    int *rows = malloc((size_t)p->n_views * p->n * sizeof *rows + 4);
    *m = rows ? fc_problem_rows(p, held_out, which, rows) : 0;
    *x = malloc((size_t)*m * p->d * sizeof(float) + 4);
    *y = malloc((size_t)*m * sizeof(int) + 4);
    if (!rows || !*x || !*y) { free(rows); return -1; }
    for (int k = 0; k < *m; k++) {
        memcpy(*x + (size_t)k * p->d, p->x + (size_t)rows[k] * p->d, (size_t)p->d * sizeof(float));
        (*y)[k] = p->y[rows[k] % p->n];
    }
    free(rows);
    return 0;
}

/* Fits cfg on training rows xt (transform included) into head; val xv may be NULL. The transform
 * is fitted on xt, then applied to xt and xv in place (one copy of the rows, not two). */
static int fit_head(const fc_head_config *cfg, float *xt, const int *yt, int nt, float *xv,
                    const int *yv, int nv, int d, int k, const char *const *classes, int threads, fc_head *head,
                    char *info, size_t info_cap, fc_error *err) {
    memset(head, 0, sizeof *head);
    float *cw = NULL;
    int rc;
    fc_transform_kind tk = cfg->kind == FC_HEAD_NCM ? FC_TRANSFORM_L2 : cfg->normalize;
    fc_data val = {.name = "val", .x = xv, .y = yv, .n = nv, .d = d, .classes = classes};
    if ((nv && (rc = fc_data_check(&val, d, k, 0, err))) ||
        (rc = fc_transform_fit(&head->transform, tk, xt, nt, d, FC_TRANSFORM_STD_FLOOR, err)) ||
        (rc = fc_transform_apply(&head->transform, xt, nt, d, xt, err)) ||
        (nv && (rc = fc_transform_apply(&head->transform, xv, nv, d, xv, err))))
        goto out;
    fc_data train = {.name = "train", .x = xt, .y = yt, .n = nt, .d = d, .classes = classes};
    if (cfg->balanced) {
        if (!(cw = malloc((size_t)k * sizeof(float)))) { rc = fc_fail(err, FC_ENOMEM, "out of memory"); goto out; }
        if ((rc = fc_data_balanced_weights(&train, k, cw, err))) goto out;
    }
    head->n_classes = k;
    if (cfg->kind == FC_HEAD_SOFTMAX) {
        fc_softmax_options o;
        fc_softmax_options_init(&o);
        o.rtol = FC_SOFTMAX_RTOL;
        o.l2 = cfg->l2;
        o.class_weight = cw;
        o.threads = threads;
        fc_softmax_info si;
        if ((rc = fc_softmax_fit(&o, &train, k, &head->layers[0], &si, err))) goto out;
        head->n_layers = 1;
        snprintf(info, info_cap, "L-BFGS %d iterations, objective %.6g, |grad| %.2g", si.iterations, si.objective, si.grad_norm);
    } else if (cfg->kind == FC_HEAD_MLP) {
        fc_mlp_options o;
        fc_mlp_options_init(&o);
        o.n_hidden = cfg->n_hidden;
        o.hidden[0] = cfg->hidden[0];
        o.hidden[1] = cfg->hidden[1];
        o.dropout = (float)cfg->dropout;
        o.lr = (float)cfg->lr;
        o.weight_decay = (float)cfg->l2;
        o.epochs = cfg->epochs;
        o.batch = cfg->batch;
        o.seed = cfg->seed;
        o.class_weight = cw;
        o.threads = threads;
        fc_mlp_info mi;
        if ((rc = fc_mlp_fit(&o, &train, nv ? &val : NULL, k, head->layers, &mi, err))) goto out;
        head->n_layers = cfg->n_hidden + 1;
        snprintf(info, info_cap, "%d epochs, best %d", mi.epochs, mi.best_epoch);
    } else {
        if ((rc = fc_ncm_fit(&train, k, NCM_SCALE, &head->layers[0], err))) goto out;
        head->n_layers = 1;
        snprintf(info, info_cap, "nearest class mean, scale %g", NCM_SCALE);
    }
    rc = fc_head_check(head, err);
out:
    if (rc) fc_head_free(head);
    free(cw);
    return rc;
}

/* Adds the wrong predictions among n validation rows (probabilities P (n, k), labels y, the items
 * they are in `items`) to r->worst, which stays the FC_TRAIN_WORST most confident, most confident
 * first (ties: the earlier row). */
static void keep_worst(fc_train_result *r, const float *P, const int *y, const int *items, int n, int k) {
    for (int i = 0; i < n; i++) {
        int pred = fc_metrics_argmax(P + (size_t)i * k, k);
        float prob = P[(size_t)i * k + pred];
        if (pred == y[i] || (r->n_worst == FC_TRAIN_WORST && prob <= r->worst[FC_TRAIN_WORST - 1].probability)) continue;
        int at = r->n_worst < FC_TRAIN_WORST ? r->n_worst++ : FC_TRAIN_WORST - 1;
        for (; at > 0 && r->worst[at - 1].probability < prob; at--) r->worst[at] = r->worst[at - 1];
        r->worst[at] = (fc_train_miss){items[i], y[i], pred, prob};
    }
}

/* keep_worst for the validation rows of held_out (as fc_problem_rows lists them). */
static int keep_worst_of(fc_train_result *r, const fc_problem *p, int held_out, const float *P, const int *y, int n) {
    int *items = malloc((size_t)p->n * sizeof *items + 4);
    if (!items) return -1;
    fc_problem_rows(p, held_out, FC_ROWS_VAL, items); /* original views: row = item */
    keep_worst(r, P, y, items, n, p->k);
    free(items);
    return 0;
}

/* Accuracy of h on rows x (n, d) that already went through h->transform. */
static int accuracy_of(const fc_head *h, const float *x, const int *y, int n, int k, int threads, double *acc,
                       fc_error *err) {
    float *P = malloc((size_t)n * k * sizeof(float) + 4);
    if (!P) return fc_fail(err, FC_ENOMEM, "out of memory");
    int rc = fc_head_predict_proba_transformed(h, x, n, P, threads, err);
    int right = 0;
    for (int i = 0; rc == 0 && i < n; i++) right += fc_metrics_argmax(P + (size_t)i * k, k) == y[i];
    *acc = n ? (double)right / n : NAN;
    free(P);
    return rc;
}

/* The holdout rows of p (fc_problem_rows with held_out 1) gathered into rows; 0 or -1 (memory). */
static int gather_holdout(const fc_problem *p, fc_train_rows *rows) {
    float *xt = NULL, *xv = NULL;
    int *yt = NULL, *yv = NULL, nt = 0, nv = 0;
    int *items = malloc((size_t)p->n * sizeof *items + 4);
    int bad = !items || gather(p, 1, FC_ROWS_TRAIN, &xt, &yt, &nt) || gather(p, 1, FC_ROWS_VAL, &xv, &yv, &nv);
    if (!bad) fc_problem_rows(p, 1, FC_ROWS_VAL, items); /* original views: row = item */
    *rows = (fc_train_rows){.xt = xt, .yt = yt, .nt = nt, .xv = xv, .yv = yv, .nv = nv, .val_items = items};
    return bad ? -1 : 0;
}

static void free_gathered(fc_train_rows *rows) {
    free(rows->xt);
    free(rows->xv);
    free((void *)rows->yt);
    free((void *)rows->yv);
    free((void *)rows->val_items);
}

int fc_train_rows_fit(const fc_head_config *cfg, const fc_problem *p, fc_train_rows *rows, int threads,
                      fc_train_result *r, fc_error *err) {
    memset(r, 0, sizeof *r);
    double t0 = omp_get_wtime();
    r->fold_mean = r->fold_std = NAN;
    int nv = rows->nv, rc;
    float *P = malloc((size_t)nv * p->k * sizeof(float) + 4);
    if (!P) { rc = fc_fail(err, FC_ENOMEM, "out of memory"); goto out; }
    if ((rc = fit_head(cfg, rows->xt, rows->yt, rows->nt, rows->xv, rows->yv, nv, p->d, p->k,
                       (const char *const *)p->classes, threads, &r->head, r->info, sizeof r->info, err)) ||
        (rc = fc_head_predict_proba_transformed(&r->head, rows->xv, nv, P, threads, err)) ||
        (rc = fc_metrics_compute(&r->val, P, rows->yv, nv, p->k, 5, err)))
        goto out;
    if (rows->val_items) keep_worst(r, P, rows->yv, rows->val_items, nv, p->k);
    if ((rc = accuracy_of(&r->head, rows->xt, rows->yt, rows->nt, p->k, threads, &r->train_accuracy, err))) goto out;
    rc = fc_head_set_class_names(&r->head, (const char *const *)p->classes, p->k, err);
out:
    r->seconds = omp_get_wtime() - t0;
    free(P);
    if (rc) fc_train_result_free(r);
    return rc;
}

/* k-fold: out-of-fold probabilities for every row, per-fold accuracy, the final head on all rows. */
static int train_kfold(const fc_head_config *cfg, const fc_problem *p, int threads, fc_train_result *r,
                       fc_error *err) {
    float *xt = NULL, *xv = NULL;
    int *yt = NULL, *yv = NULL, nt = 0, nv = 0, rc = 0, n_all = 0, filled = 0;
    double sum = 0, sum2 = 0;
    for (int i = 0; i < p->n; i++) n_all += p->role[i] >= 0;
    float *oof = malloc((size_t)n_all * p->k * sizeof(float) + 4);
    int *yo = malloc((size_t)n_all * sizeof(int) + 4);
    if (!oof || !yo) { rc = fc_fail(err, FC_ENOMEM, "out of memory"); goto out; }
    for (int f = 0; f < p->n_folds && rc == 0; f++) {
        free(xt); free(yt); free(xv); free(yv);
        xt = xv = NULL; yt = yv = NULL;
        if (gather(p, f, FC_ROWS_TRAIN, &xt, &yt, &nt) || gather(p, f, FC_ROWS_VAL, &xv, &yv, &nv)) { rc = fc_fail(err, FC_ENOMEM, "out of memory"); break; }
        if (nv == 0) continue;
        fc_head h;
        char info[256];
        if ((rc = fit_head(cfg, xt, yt, nt, xv, yv, nv, p->d, p->k, (const char *const *)p->classes, threads, &h, info, sizeof info, err))) break;
        rc = fc_head_predict_proba_transformed(&h, xv, nv, oof + (size_t)filled * p->k, threads, err);
        if (rc == 0 && keep_worst_of(r, p, f, oof + (size_t)filled * p->k, yv, nv))
            rc = fc_fail(err, FC_ENOMEM, "out of memory");
        int right = 0;
        for (int i = 0; rc == 0 && i < nv; i++) {
            yo[filled + i] = yv[i];
            right += fc_metrics_argmax(oof + (size_t)(filled + i) * p->k, p->k) == yv[i];
        }
        filled += nv;
        double acc = (double)right / nv;
        sum += acc;
        sum2 += acc * acc;
        fc_head_free(&h);
    }
    if (rc == 0) rc = fc_metrics_compute(&r->val, oof, yo, filled, p->k, 5, err);
    if (rc) goto out;
    r->fold_mean = sum / p->n_folds;
    r->fold_std = sqrt(fmax(0, sum2 / p->n_folds - r->fold_mean * r->fold_mean));
    free(xt); free(yt);
    xt = NULL; yt = NULL;
    if (gather(p, -1, FC_ROWS_TRAIN, &xt, &yt, &nt)) /* every item in some fold */ { rc = fc_fail(err, FC_ENOMEM, "out of memory"); goto out; }
    if ((rc = fit_head(cfg, xt, yt, nt, NULL, NULL, 0, p->d, p->k, (const char *const *)p->classes, threads, &r->head, r->info, sizeof r->info, err))) goto out;
    rc = accuracy_of(&r->head, xt, yt, nt, p->k, threads, &r->train_accuracy, err);
out:
    free(oof); free(yo);
    free(xt); free(yt); free(xv); free(yv);
    return rc;
}

int fc_train(const fc_head_config *cfg, const fc_problem *p, int threads, fc_train_result *r,
             fc_error *err) {
    if (cfg->kind == FC_HEAD_CONV) return fc_convhead_fit(cfg, p, threads, r, err);
    int rc;
    if (!p->n_folds) {
        fc_train_rows rows;
        rc = gather_holdout(p, &rows) ? fc_fail(err, FC_ENOMEM, "out of memory")
                                      : fc_train_rows_fit(cfg, p, &rows, threads, r, err);
        if (rc) memset(r, 0, sizeof *r);
        free_gathered(&rows);
        return rc;
    }
    memset(r, 0, sizeof *r);
    double t0 = omp_get_wtime();
    r->fold_mean = r->fold_std = NAN;
    rc = train_kfold(cfg, p, threads, r, err);
    if (rc == 0) rc = fc_head_set_class_names(&r->head, (const char *const *)p->classes, p->k, err);
    r->seconds = omp_get_wtime() - t0;
    if (rc) fc_train_result_free(r);
    return rc;
}

void fc_train_result_free(fc_train_result *r) {
    fc_head_free(&r->head);
    fc_metrics_free(&r->val);
}

typedef struct l2_order { double l2; int index; } l2_order;

static int cmp_l2_desc(const void *a, const void *b) {
    double x = ((const l2_order *)a)->l2, y = ((const l2_order *)b)->l2;
    return (x < y) - (x > y);
}

int fc_train_softmax_path(const fc_head_config *cfgs, int m, const fc_problem *p, int threads,
                          fc_train_result *results, fc_error *err) {
    if (m < 1 || p->n_folds) return fc_fail(err, FC_EINVAL, "softmax path: holdout problems and m >= 1 only");
    fc_train_rows rows;
    int rc = gather_holdout(p, &rows) ? fc_fail(err, FC_ENOMEM, "out of memory")
                                      : fc_train_softmax_path_rows(cfgs, m, p, &rows, threads, results, err);
    free_gathered(&rows);
    return rc;
}

/* Result i of the path (layer taken over) evaluated on the transformed rows; P (nv, k) scratch. */
static int path_result(fc_train_result *r, fc_layer *layer, const fc_transform *tr, const fc_softmax_info *info,
                       const fc_problem *p, const fc_train_rows *rows, float *P, int threads, fc_error *err) {
    int rc;
    r->fold_mean = r->fold_std = NAN;
    if ((rc = fc_transform_copy(&r->head.transform, tr, err))) return rc;
    r->head.layers[0] = *layer;
    memset(layer, 0, sizeof *layer); /* now owned by the head */
    r->head.n_layers = 1;
    r->head.n_classes = p->k;
    snprintf(r->info, sizeof r->info, "L-BFGS path %d iterations, objective %.6g", info->iterations, info->objective);
    if ((rc = fc_head_set_class_names(&r->head, (const char *const *)p->classes, p->k, err)) ||
        (rc = fc_head_predict_proba_transformed(&r->head, rows->xv, rows->nv, P, threads, err)) ||
        (rc = fc_metrics_compute(&r->val, P, rows->yv, rows->nv, p->k, 5, err)) ||
        (rc = accuracy_of(&r->head, rows->xt, rows->yt, rows->nt, p->k, threads, &r->train_accuracy, err)))
        return rc;
    if (rows->val_items) keep_worst(r, P, rows->yv, rows->val_items, rows->nv, p->k);
    return 0;
}

int fc_train_softmax_path_rows(const fc_head_config *cfgs, int m, const fc_problem *p, fc_train_rows *rows,
                               int threads, fc_train_result *results, fc_error *err) {
    if (m < 1) return fc_fail(err, FC_EINVAL, "softmax path: m >= 1 only");
    double t0 = omp_get_wtime();
    memset(results, 0, (size_t)m * sizeof *results);
    float *P = NULL, *cw = NULL;
    int nt = rows->nt, nv = rows->nv, rc;
    fc_transform tr = {0};
    l2_order *ord = malloc((size_t)m * sizeof *ord);
    double *l2 = malloc((size_t)m * sizeof *l2);
    fc_layer *layers = calloc((size_t)m, sizeof *layers);
    fc_softmax_info *infos = calloc((size_t)m, sizeof *infos);
    if (!ord || !l2 || !layers || !infos || !(P = malloc((size_t)nv * p->k * sizeof(float) + 4))) {
        rc = fc_fail(err, FC_ENOMEM, "out of memory");
        goto out;
    }
    for (int i = 0; i < m; i++) ord[i] = (l2_order){cfgs[i].l2, i};
    qsort(ord, (size_t)m, sizeof *ord, cmp_l2_desc); /* strong to weak penalty: warm starts help */
    for (int i = 0; i < m; i++) l2[i] = ord[i].l2;
    /* both splits transformed once, in place: every head on the path shares the transform */
    fc_data val = {.name = "val", .x = rows->xv, .y = rows->yv, .n = nv, .d = p->d, .classes = (const char *const *)p->classes};
    if ((rc = fc_data_check(&val, p->d, p->k, 0, err)) ||
        (rc = fc_transform_fit(&tr, cfgs[0].normalize, rows->xt, nt, p->d, FC_TRANSFORM_STD_FLOOR, err)) ||
        (rc = fc_transform_apply(&tr, rows->xt, nt, p->d, rows->xt, err)) ||
        (rc = fc_transform_apply(&tr, rows->xv, nv, p->d, rows->xv, err)))
        goto out;
    fc_data train = {.name = "train", .x = rows->xt, .y = rows->yt, .n = nt, .d = p->d, .classes = (const char *const *)p->classes};
    if (cfgs[0].balanced) {
        if (!(cw = malloc((size_t)p->k * sizeof(float)))) { rc = fc_fail(err, FC_ENOMEM, "out of memory"); goto out; }
        if ((rc = fc_data_balanced_weights(&train, p->k, cw, err))) goto out;
    }
    fc_softmax_options o;
    fc_softmax_options_init(&o);
    o.rtol = FC_SOFTMAX_RTOL;
    o.class_weight = cw;
    o.threads = threads;
    if ((rc = fc_softmax_fit_path(&o, &train, p->k, l2, m, layers, infos, err))) goto out;
    double fit_seconds = (omp_get_wtime() - t0) / m; /* the path's cost shared evenly */
    for (int i = 0; i < m && rc == 0; i++) {
        rc = path_result(&results[ord[i].index], &layers[i], &tr, &infos[i], p, rows, P, threads, err);
        results[ord[i].index].seconds = fit_seconds;
    }
    if (rc)
        for (int i = 0; i < m; i++) fc_train_result_free(&results[i]);
out:
    for (int i = 0; layers && i < m; i++) fc_layer_free(&layers[i]);
    fc_transform_free(&tr);
    free(ord); free(l2); free(layers); free(infos);
    free(P); free(cw);
    return rc;
}
