/* fc_probe_kfold (see probe.h): each fold becomes a holdout problem sharing p's features (its own
 * role array: the fold validates, the kept other items train, the rest sit out), fitted with
 * fc_train_softmax_path (the first fold) or fc_train (the others, at the chosen L2); correct
 * counts are summed over the folds. */
#include "classify/probe.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "classify/split.h"

typedef struct candidate {
    int cls;
    uint32_t bucket;
    int item;
} candidate;

static int cmp_candidate(const void *a, const void *b) {
    const candidate *x = a, *y = b;
    if (x->cls != y->cls) return x->cls < y->cls ? -1 : 1;
    if (x->bucket != y->bucket) return x->bucket < y->bucket ? -1 : 1;
    return (x->item > y->item) - (x->item < y->item);
}

/* role (p->n) for fold f: 1 for its items, 0 for the kept training items, -1 otherwise; *n_train
 * and *n_val count them. cand is scratch (p->n). */
static int fold_roles(const fc_problem *p, const uint8_t (*hashes)[32], int f, double fraction, int *role,
                      candidate *cand, int *n_train, int *n_val, fc_error *err) {
    int m = 0;
    *n_val = 0;
    for (int i = 0; i < p->n; i++) {
        role[i] = p->role[i] == f ? 1 : -1;
        *n_val += p->role[i] == f;
        /* bytes 8..15 of the digest: independent of the folds, which read bytes 0..7 */
        if (p->role[i] >= 0 && p->role[i] != f) cand[m++] = (candidate){p->y[i], fc_split_bucket(hashes[i] + 8), i};
    }
    qsort(cand, (size_t)m, sizeof *cand, cmp_candidate);
    *n_train = 0;
    for (int c = 0, at = 0; c < p->k; c++) {
        int count = 0;
        while (at + count < m && cand[at + count].cls == c) count++;
        if (count == 0)
            return fc_fail(err, FC_EINVAL, "too few items: class '%s' has no item outside fold %d of %d; it needs more "
                           "labeled items for a %d-fold probe", p->classes[c], f + 1, p->n_folds, p->n_folds);
        int keep = fraction < 1 ? (int)ceil(fraction * count) : count;
        for (int q = 0; q < keep; q++) role[cand[at + q].item] = 0;
        *n_train += keep;
        at += count;
    }
    return 0;
}

/* Fold f's holdout problem q (role is its array) fitted with cfgs[0..m) (a path when m > 1);
 * acc[i] gets cfgs[i]'s accuracy on the fold's items; *n_val 0 when the fold has none. */
static int fit_fold(const fc_problem *p, const uint8_t (*hashes)[32], int f, double fraction, const fc_head_config *cfgs,
                    int m, int threads, int *role, candidate *cand, double *acc, int *n_train, int *n_val, fc_error *err) {
    fc_problem q = *p;
    q.role = role;
    q.n_folds = 0;
    int rc = fold_roles(p, hashes, f, fraction, role, cand, &q.n_train, &q.n_val, err);
    *n_train = q.n_train;
    *n_val = q.n_val;
    if (rc || q.n_val == 0) return rc; /* a fold of test items only: nothing to score */
    fc_train_result res[FC_PROBE_N_L2];
    rc = m > 1 ? fc_train_softmax_path(cfgs, m, &q, threads, res, err) : fc_train(cfgs, &q, threads, res, err);
    for (int i = 0; rc == 0 && i < m; i++) {
        acc[i] = res[i].val.accuracy;
        fc_train_result_free(&res[i]);
    }
    return rc;
}

int fc_probe_kfold(const fc_problem *p, const uint8_t (*hashes)[32], double fraction, int threads,
                   fc_probe_result *r, fc_error *err) {
    memset(r, 0, sizeof *r);
    if (p->n_folds < 2 || p->n_folds > FC_PROBE_MAX_FOLDS || p->n_views != 1)
        return fc_fail(err, FC_EINVAL, "probe: a k-fold problem of one view is needed (%d folds, %d views)", p->n_folds,
                       p->n_views);
    if (!(fraction > 0 && fraction <= 1)) return fc_fail(err, FC_EINVAL, "probe: fraction %g outside (0, 1]", fraction);
    fc_head_config cfgs[FC_PROBE_N_L2];
    for (int i = 0; i < FC_PROBE_N_L2; i++) {
        fc_head_config_init(&cfgs[i]);
        cfgs[i].l2 = pow(10.0, 3 - i);
    }
    double *acc = malloc((size_t)p->n_folds * sizeof *acc), path[FC_PROBE_N_L2], right = 0;
    int *role = malloc((size_t)p->n * sizeof *role + 4), total = 0, folds = 0, best = 0, rc = 0;
    candidate *cand = malloc((size_t)p->n * sizeof *cand + 4);
    if (!acc || !role || !cand) { rc = fc_fail(err, FC_ENOMEM, "out of memory"); goto out; }
    for (int f = 0; f < p->n_folds && rc == 0; f++) {
        int n_train, n_val;
        /* the first fold with items runs the whole path and chooses the L2; the others fit that one */
        int choose = folds == 0;
        rc = fit_fold(p, hashes, f, fraction, choose ? cfgs : &cfgs[best], choose ? FC_PROBE_N_L2 : 1, threads, role,
                      cand, choose ? path : &acc[f], &n_train, &n_val, err);
        if (rc || n_val == 0) continue;
        for (int i = 1; choose && i < FC_PROBE_N_L2; i++)
            if (path[i] > path[best]) best = i;
        if (choose) acc[f] = path[best];
        right += round(acc[f] * n_val);
        total += n_val;
        r->n_train += n_train;
        acc[folds++] = acc[f]; /* compacted: the folds that scored */
    }
    if (rc) goto out;
    if (!folds) { rc = fc_fail(err, FC_EINVAL, "probe: no fold has items to score"); goto out; }
    double mean = 0, sq = 0;
    for (int f = 0; f < folds; f++) mean += acc[f] / folds;
    for (int f = 0; f < folds; f++) sq += (acc[f] - mean) * (acc[f] - mean);
    memcpy(r->fold_accuracy, acc, (size_t)folds * sizeof *acc);
    r->n_folds = folds;
    r->accuracy = right / total;
    r->fold_std = folds > 1 ? sqrt(sq / (folds - 1)) : 0;
    r->l2 = cfgs[best].l2;
    r->n_train /= folds;
out:
    free(acc);
    free(role);
    free(cand);
    return rc;
}
