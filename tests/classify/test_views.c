/* Tests for training on several views of each item (classify/train.h): fc_problem_rows gives every
 * view of a training item and only the original view of a validation item, an item's views
 * never straddle a k-fold or holdout boundary, test items take no part, the counts of training and
 * validation rows, and fc_train on a three-view problem (holdout and k-fold: metrics over the
 * original views only). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "classify/train.h"
#include "tests/support/check.h"

enum { N = 60, V = 3, D = 4 };

typedef struct toy {
    float x[V * N * D];
    char *labels[N], *splits[N], *paths[N];
    char names[N][16];
    uint8_t hashes[N][32];
} toy;

/* Item i: class i % 2, split train (i < 40), val (40..54) or test; view v of item i is its orig
 * features plus a small shift, so every row is distinct. */
static void toy_fill(toy *t) {
    unsigned r = 11;
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < D; j++) {
            r = r * 1664525u + 1013904223u;
            float base = (i % 2 ? 1.0f : -1.0f) * (j == 0) + (float)((r >> 8) / 16777216.0 - 0.5);
            for (int v = 0; v < V; v++) t->x[((size_t)v * N + i) * D + j] = base + 0.01f * (float)v;
        }
        t->labels[i] = i % 2 ? "b" : "a";
        t->splits[i] = i < 40 ? "train" : i < 55 ? "val" : "test";
        snprintf(t->names[i], sizeof t->names[i], "img%d.jpg", i);
        t->paths[i] = t->names[i];
        for (int b = 0; b < 32; b++) t->hashes[i][b] = (uint8_t)(i * 37 + b * 11 + (b == 0 ? i * 53 : 0));
    }
}

static int build(toy *t, fc_split_kind kind, int folds, fc_problem *p, fc_error *err) {
    fc_split_spec split = {.kind = kind, .folds = folds, .fraction = 0.25};
    return fc_problem_build(t->x, V, N, D, t->labels, t->splits, t->paths, (const uint8_t(*)[32])t->hashes, &split,
                            p, err);
}

/* Checks the rows of one fit (held out: role h): training rows come as whole items (views 0..V-1
 * of the same item, adjacent), validation rows are original views; no item is on both sides. */
static void check_fit_rows(const fc_problem *p, int h) {
    int rows[V * N], side[N] = {0}; /* 1 train, 2 val */
    int m = fc_problem_rows(p, h, FC_ROWS_TRAIN, rows), want = 0;
    CHECK(m % V == 0, "held out %d: %d training rows", h, m);
    for (int k = 0; k + V <= m; k += V) {
        int item = rows[k];
        for (int v = 0; v < V; v++)
            CHECK(rows[k + v] == v * N + item, "held out %d: row %d is %d, not view %d of item %d", h, k + v, rows[k + v], v, item);
        CHECK(item < N && p->role[item] >= 0 && p->role[item] != h, "held out %d: item %d (role %d) trains", h, item, p->role[item]);
        side[item] |= 1;
    }
    int nv = fc_problem_rows(p, h, FC_ROWS_VAL, rows);
    for (int k = 0; k < nv; k++) {
        CHECK(rows[k] < N && p->role[rows[k]] == h, "held out %d: val row %d", h, rows[k]);
        if (rows[k] < N) side[rows[k]] |= 2;
    }
    for (int i = 0; i < N; i++) {
        CHECK(side[i] != 3, "held out %d: item %d on both sides", h, i);
        CHECK((side[i] != 0) == (p->role[i] >= 0), "held out %d: item %d (role %d) side %d", h, i, p->role[i], side[i]);
        want += p->role[i] >= 0 && p->role[i] != h;
    }
    CHECK(m == V * want, "held out %d: %d training rows, %d items", h, m, want);
}

static void test_kfold_keeps_views_together(void) {
    static toy t;
    toy_fill(&t);
    fc_problem p;
    fc_error err = {0};
    REQUIRE(build(&t, FC_SPLIT_KFOLD, 5, &p, &err) == 0, "%s", err.msg);
    int in_folds = 0;
    for (int i = 0; i < N; i++) in_folds += p.role[i] >= 0;
    CHECK(in_folds == 55 && p.n_train == V * in_folds, "%d items in folds, %d training rows", in_folds, p.n_train);
    for (int f = 0; f < 5; f++) check_fit_rows(&p, f);
    check_fit_rows(&p, -1); /* the final head: every item in some fold, every view */
    fc_problem_free(&p);
}

static void test_holdout_views(void) {
    static toy t;
    toy_fill(&t);
    fc_error err = {0};
    fc_split_kind kinds[] = {FC_SPLIT_FOLDERS, FC_SPLIT_HASH};
    for (int s = 0; s < 2; s++) {
        fc_problem p;
        REQUIRE(build(&t, kinds[s], 0, &p, &err) == 0, "%s", err.msg);
        int nt = 0, nv = 0;
        for (int i = 0; i < N; i++) nt += p.role[i] == 0, nv += p.role[i] == 1;
        CHECK(p.n_train == V * nt && p.n_val == nv, "split %d: %d/%d rows for %d/%d items", s, p.n_train, p.n_val, nt, nv);
        if (s == 0) CHECK(nt == 40 && nv == 15, "folders: %d train, %d val items", nt, nv);
        check_fit_rows(&p, 1);
        fc_problem_free(&p);
    }
}

static void test_train_on_views(void) {
    static toy t;
    toy_fill(&t);
    fc_error err = {0};
    fc_head_config cfg;
    fc_head_config_init(&cfg);
    cfg.l2 = 0.1;
    fc_split_kind kinds[] = {FC_SPLIT_FOLDERS, FC_SPLIT_KFOLD};
    for (int s = 0; s < 2; s++) {
        fc_problem p;
        fc_train_result r;
        REQUIRE(build(&t, kinds[s], 5, &p, &err) == 0, "%s", err.msg);
        REQUIRE(fc_train(&cfg, &p, 1, &r, &err) == 0, "%s", err.msg);
        /* validation metrics count original views only: the val items, or every item in a fold */
        CHECK(r.val.n == (s ? 55 : 15), "split %d: %d validation rows", s, r.val.n);
        CHECK(r.val.accuracy > 0.8 && r.train_accuracy > 0.8, "split %d: val %g train %g", s, r.val.accuracy,
              r.train_accuracy);
        fc_train_result_free(&r);
        fc_problem_free(&p);
    }
    fc_problem p;
    fc_split_spec split = {.kind = FC_SPLIT_FOLDERS};
    CHECK(fc_problem_build(t.x, 0, N, D, t.labels, t.splits, t.paths, (const uint8_t(*)[32])t.hashes, &split, &p,
                           &err) == FC_EINVAL, "no views: %s", err.msg);
}

int main(void) {
    RUN(test_kfold_keeps_views_together);
    RUN(test_holdout_views);
    RUN(test_train_on_views);
    return check_done();
}
