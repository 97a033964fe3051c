/* Tests for classify/sweep.h and record.h: grid expansion (comma lists, log and linear ranges, the
 * first key fastest, unused parameters reset so duplicates collapse, the 4096 limit), job grouping
 * (softmax heads sharing normalize in one path), every grid error's message, the ranking order,
 * and a small sweep fitted in parallel and recorded in a catalog (parameters, "sweep" link to the
 * first run, results; a read-only catalog records nothing and fails nothing); class names, not
 * numbers, in the error of a class missing from the training split; the problem's digest and the
 * worst misclassified validation items a result records. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "classify/record.h"
#include "classify/sweep.h"
#include "store/store.h"
#include "tests/support/check.h"

static char dir[64];

static fc_head_config base_config(void) {
    fc_head_config c;
    fc_head_config_init(&c);
    return c;
}

static void test_grid_expansion(void) {
    fc_head_config base = base_config();
    fc_sweep s;
    fc_error err = {0};
    REQUIRE(fc_sweep_plan("head=softmax,mlp l2=1e-6..1e2:9 hidden=64", &base, &s, &err) == 0, "%s", err.msg);
    CHECK(s.n == 18, "%d configurations", s.n);
    /* one softmax path with the nine l2 values, then one job per mlp configuration */
    REQUIRE(s.n_jobs == 10 && s.jobs[0].first == 0 && s.jobs[0].count == 9, "%d jobs, first %d x %d", s.n_jobs,
            s.jobs[0].first, s.jobs[0].count);
    for (int i = 0; i < 9; i++) {
        double want = pow(10, i - 6);
        CHECK(s.configs[i].kind == FC_HEAD_SOFTMAX && fabs(s.configs[i].l2 - want) <= 1e-12 * want,
              "softmax %d: kind %d l2 %g", i, s.configs[i].kind, s.configs[i].l2);
        /* softmax does not use hidden: reset to the default */
        CHECK(s.configs[i].hidden[0] == base.hidden[0], "softmax %d hidden %d", i, s.configs[i].hidden[0]);
        const fc_head_config *m = &s.configs[9 + i];
        CHECK(m->kind == FC_HEAD_MLP && m->hidden[0] == 64 && m->n_hidden == 1 && fabs(m->l2 - want) <= 1e-12 * want,
              "mlp %d: kind %d hidden %d l2 %g", i, m->kind, m->hidden[0], m->l2);
        CHECK(s.jobs[1 + i].first == 9 + i && s.jobs[1 + i].count == 1, "job %d", 1 + i);
    }
    fc_sweep_free(&s);
}

static void test_grid_collapse_and_groups(void) {
    fc_head_config base = base_config();
    base.balanced = 1;
    fc_sweep s;
    fc_error err = {0};
    /* ncm uses neither l2 nor lr, softmax not lr: 8 combinations, 3 configurations */
    REQUIRE(fc_sweep_plan("head=ncm,softmax l2=1,2 lr=0.1,0.2", &base, &s, &err) == 0, "%s", err.msg);
    REQUIRE(s.n == 3 && s.n_jobs == 2, "%d configurations, %d jobs", s.n, s.n_jobs);
    CHECK(s.configs[0].kind == FC_HEAD_NCM && s.configs[0].l2 == 0 && s.configs[0].normalize == FC_TRANSFORM_L2,
          "ncm first (the first key varies fastest)");
    CHECK(s.configs[1].kind == FC_HEAD_SOFTMAX && s.configs[1].l2 == 1 && s.configs[2].l2 == 2 &&
          s.configs[1].lr == base.lr && s.jobs[1].first == 1 && s.jobs[1].count == 2, "softmax path l2 1, 2");
    CHECK(s.configs[0].balanced && s.configs[1].balanced && s.configs[2].balanced, "base config kept");
    fc_sweep_free(&s);
    /* softmax paths are per normalize; two-layer hidden; a linear range when a bound is 0 */
    REQUIRE(fc_sweep_plan("normalize=std,l2 l2=1,2", &base, &s, &err) == 0, "%s", err.msg);
    CHECK(s.n == 4 && s.n_jobs == 2 && s.jobs[0].count == 2 && s.configs[0].normalize == s.configs[1].normalize &&
          s.configs[2].normalize != s.configs[0].normalize, "%d configurations, %d jobs", s.n, s.n_jobs);
    fc_sweep_free(&s);
    REQUIRE(fc_sweep_plan("head=mlp hidden=32+16 dropout=0.0..0.5:3\tepochs=7", &base, &s, &err) == 0, "%s", err.msg);
    REQUIRE(s.n == 3 && s.n_jobs == 3, "%d configurations", s.n);
    for (int i = 0; i < 3; i++)
        CHECK(s.configs[i].n_hidden == 2 && s.configs[i].hidden[1] == 16 && s.configs[i].epochs == 7 &&
              s.configs[i].dropout == 0.25 * i, "mlp %d: dropout %g", i, s.configs[i].dropout);
    fc_sweep_free(&s);
    /* a start without a decimal part (strtod alone reads "0." of "0..0.5"); only l2 and lr are
     * log-spaced, so a range of other keys is even although both bounds are > 0 */
    REQUIRE(fc_sweep_plan("head=mlp dropout=0..0.5:3 epochs=10..100:4 hidden=64..256:4", &base, &s, &err) == 0, "%s", err.msg);
    REQUIRE(s.n == 48, "%d configurations", s.n);
    static const int epochs[4] = {10, 40, 70, 100}, hidden[4] = {64, 128, 192, 256};
    for (int i = 0; i < 48; i++)
        CHECK(s.configs[i].dropout == 0.25 * (i % 3) && s.configs[i].epochs == epochs[i / 3 % 4] &&
              s.configs[i].hidden[0] == hidden[i / 12], "mlp %d: dropout %g epochs %d hidden %d", i,
              s.configs[i].dropout, s.configs[i].epochs, s.configs[i].hidden[0]);
    fc_sweep_free(&s);
    REQUIRE(fc_sweep_plan("head=mlp dropout=0.1..0.5:3 lr=1e-4..1e-2:3", &base, &s, &err) == 0, "%s", err.msg);
    CHECK(s.n == 9 && fabs(s.configs[1].dropout - 0.3) < 1e-12 && fabs(s.configs[3].lr - 1e-3) < 1e-12,
          "dropout %g (even), lr %g (log)", s.configs[1].dropout, s.configs[3].lr);
    fc_sweep_free(&s);
}

static void test_grid_errors(void) {
    static const struct { const char *grid, *msg; } cases[] = {
        {"", "grid: empty"},
        {" \t ", "grid: empty"},
        {"bogus=1", "grid: unknown key 'bogus'"},
        {"l2", "grid: 'l2' is not KEY=VALUES"},
        {"=1", "is not KEY=VALUES"},
        {"l2=1e-3..1", "grid l2: a range needs :N"},
        {"l2=1e-3..1:1", "grid l2: N must be 2..256"},
        {"l2=x..1:3", "grid l2: bad range start"},
        {"l2=1,,2", "grid l2: bad value list"},
        {"l2=", "grid l2: no values"},
        {"l2=-1", "grid l2: '-1' is not a number >= 0"},
        {"head=foo", "unknown head 'foo'"},
        {"normalize=max", "max"},
        {"hidden=0", "grid hidden: '0' (use 512 or 512+256)"},
        {"l2=1 head=mlp l2=2", "grid: key 'l2' is given twice"},
        {"head=mlp epochs=2.5", "grid epochs: '2.5' is not a whole number >= 1"},
        {"head=mlp epochs=0", "grid epochs: '0' is not a whole number >= 1"},
        {"head=mlp batch=1e10", "grid batch: '1e10' is not a whole number"},
        {"head=mlp seed=0.5", "grid seed: '0.5' is not a whole number"},
        {"head=mlp epochs=1..10:3", "grid epochs: '5.5' is not a whole number"},
        {"head=mlp hidden=100000", "grid hidden: '100000'"},
        {"l2=1..x:3", "grid l2: bad range end"},
        {"l2=..1:3", "grid l2: bad range start"},
        {"head=mlp l2=1e-6..1e2:200 lr=0.5..2:30", "more than 4096 configurations"},
    };
    fc_head_config base = base_config();
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        fc_sweep s;
        fc_error err = {0};
        int rc = fc_sweep_plan(cases[i].grid, &base, &s, &err);
        CHECK(rc == FC_EINVAL && strstr(err.msg, cases[i].msg), "'%s': %d '%s'", cases[i].grid, rc, err.msg);
        fc_sweep_free(&s);
    }
}

static void test_rank(void) {
    fc_train_result res[5] = {0};
    int ok[5] = {1, 1, 0, 1, 1}, order[5];
    double acc[5] = {0.5, 0.9, 0.99, 0.9, 0.7};
    for (int i = 0; i < 5; i++) res[i].val.accuracy = acc[i];
    fc_sweep s = {.n = 5, .results = res, .ok = ok};
    fc_sweep_rank(&s, order);
    CHECK(order[0] == 1 && order[1] == 3 && order[2] == 4 && order[3] == 0 && order[4] == 2,
          "order %d %d %d %d %d", order[0], order[1], order[2], order[3], order[4]);
}

/* Two well separated classes in 4 dimensions: 30 train rows, 10 validation rows. */
typedef struct toy {
    float x[40 * 4];
    char *labels[40], *splits[40], *paths[40], names[40][16];
    uint8_t hashes[40][32];
    fc_problem p;
} toy;

static int toy_build(toy *t, fc_error *err) {
    unsigned r = 7;
    for (int i = 0; i < 40; i++) {
        int c = i % 2;
        for (int j = 0; j < 4; j++) {
            r = r * 1664525u + 1013904223u;
            t->x[i * 4 + j] = (c ? 1.0f : -1.0f) * (j == 0) + (float)((r >> 8) / 16777216.0 - 0.5);
        }
        t->labels[i] = c ? "b" : "a";
        t->splits[i] = i < 30 ? "train" : "val";
        snprintf(t->names[i], sizeof t->names[i], "img%d.jpg", i);
        t->paths[i] = t->names[i];
        memset(t->hashes[i], i + 1, 32);
    }
    fc_split_spec split = {.kind = FC_SPLIT_FOLDERS};
    return fc_problem_build(t->x, 1, 40, 4, t->labels, t->splits, t->paths, (const uint8_t(*)[32])t->hashes, &split,
                            &t->p, err);
}

typedef struct runs_seen {
    int n;
    int64_t id[8];
    char params[8][2048];
    int status[8], has_result[8];
} runs_seen;

static int see_run(void *user, const fc_catalog_run *r) {
    runs_seen *s = user;
    if (s->n == 8) return 0;
    s->id[s->n] = r->id;
    snprintf(s->params[s->n], sizeof s->params[0], "%s", r->params ? r->params : "");
    s->status[s->n] = r->status;
    s->has_result[s->n++] = r->result && strstr(r->result, "\"val_accuracy\":");
    return 0;
}

static void test_run_and_record(void) {
    static toy t;
    fc_error err = {0};
    REQUIRE(toy_build(&t, &err) == 0, "%s", err.msg);
    fc_head_config base = base_config();
    fc_sweep s;
    REQUIRE(fc_sweep_plan("head=softmax,ncm l2=0.1,1", &base, &s, &err) == 0, "%s", err.msg);
    REQUIRE(s.n == 3, "%d configurations", s.n);
    int failed = fc_sweep_run(&s, &t.p, 2);
    CHECK(failed == 0, "%d failed: %s", failed, s.errors[0].msg);
    for (int i = 0; i < s.n; i++)
        CHECK(s.ok[i] && s.results[i].val.accuracy >= 0.9, "config %d: ok %d accuracy %g", i, s.ok[i],
              s.results[i].val.accuracy);
    fc_catalog *cat = NULL;
    REQUIRE(fc_catalog_open(dir, 0, 0, &cat, &err) == 0, "%s", err.msg);
    fc_split_spec split = {.kind = FC_SPLIT_HASH, .fraction = 0.25};
    int64_t first = fc_sweep_record(&s, cat, 0, NULL, "\"featcache_head\":1,\"dataset\":\"toy\"", &split, &t.p);
    runs_seen seen = {0};
    fc_catalog_run_list(cat, see_run, &seen, &err);
    fc_catalog_close(cat);
    REQUIRE(seen.n == 3 && first == seen.id[0], "%d runs, first %lld", seen.n, (long long)first);
    char want[2048] = "{\"featcache_head\":1,\"dataset\":\"toy\",";
    fc_strbuf cfg = {0};
    fc_head_config_json(&cfg, &s.configs[0], &split);
    strcat(want, cfg.s);
    strcat(want, ",\"sweep\":0}");
    fc_strbuf_free(&cfg);
    CHECK(!strcmp(seen.params[0], want), "params\n  %s\nwant\n  %s", seen.params[0], want);
    CHECK(strstr(seen.params[0], "\"split\":\"hash:0.25\""), "split recorded: %s", seen.params[0]);
    char link[64];
    snprintf(link, sizeof link, ",\"sweep\":%lld}", (long long)first);
    for (int i = 0; i < 3; i++) {
        CHECK(seen.status[i] == FC_RUN_OK && seen.has_result[i], "run %d: status %d", i, seen.status[i]);
        if (i) CHECK(strstr(seen.params[i], link), "run %d links the first: %s", i, seen.params[i]);
    }
    /* the parameters read back give the configuration */
    fc_head_config back;
    fc_split_spec back_split;
    CHECK(fc_head_config_from_json(seen.params[2], &back, &back_split, &err) == 0 && back.kind == s.configs[2].kind &&
          back.normalize == s.configs[2].normalize && back.l2 == s.configs[2].l2 &&
          back_split.kind == FC_SPLIT_HASH && back_split.fraction == 0.25, "read back: %s", err.msg);
    /* a read-only catalog: nothing recorded, nothing fails */
    REQUIRE(fc_catalog_open(dir, FC_CATALOG_RDONLY, 0, &cat, &err) == 0, "%s", err.msg);
    CHECK(fc_sweep_record(&s, cat, 0, NULL, "\"dataset\":\"toy\"", &split, &t.p) == 0, "read-only recorded");
    fc_catalog_close(cat);
    fc_sweep_free(&s);
    fc_problem_free(&t.p);
}

/* The problem's digest names its items as the split sees them; a result keeps its most confident
 * wrong predictions on validation items (holdout, k-fold out of fold, a softmax path), and its
 * record carries both. */
static void test_digest_and_worst(void) {
    static toy t;
    fc_error err = {0};
    REQUIRE(toy_build(&t, &err) == 0, "%s", err.msg);
    char first[65];
    snprintf(first, sizeof first, "%s", t.p.digest);
    CHECK(strlen(first) == 64, "digest %s", first);
    fc_split_spec folders = {.kind = FC_SPLIT_FOLDERS}, kfold = {.kind = FC_SPLIT_KFOLD, .folds = 4};
    char *was[3] = {t.labels[30], t.splits[3], t.paths[5]};
    for (int change = 0; change < 4; change++) {
        fc_problem q;
        if (change == 1) t.labels[30] = "b"; /* relabeled (a val item of class a) */
        if (change == 2) t.splits[3] = "val";
        if (change == 3) t.paths[5] = "renamed.jpg";
        REQUIRE(fc_problem_build(t.x, 1, 40, 4, t.labels, t.splits, t.paths, (const uint8_t(*)[32])t.hashes, &folders,
                                 &q, &err) == 0, "%s", err.msg);
        CHECK(!strcmp(q.digest, first) == (change == 0), "change %d: digest %s", change, q.digest);
        fc_problem_free(&q);
        t.labels[30] = was[0], t.splits[3] = was[1], t.paths[5] = was[2];
    }
    /* val items 30..39 with wrong labels: misclassified, confidently */
    for (int i = 30; i < 36; i++) t.labels[i] = i % 2 ? "a" : "b";
    for (int kind = 0; kind < 3; kind++) {
        fc_problem q;
        REQUIRE(fc_problem_build(t.x, 1, 40, 4, t.labels, t.splits, t.paths, (const uint8_t(*)[32])t.hashes,
                                 kind == 1 ? &kfold : &folders, &q, &err) == 0, "%s", err.msg);
        fc_head_config cfg[2] = {base_config(), base_config()};
        cfg[1].l2 = 10;
        fc_train_result r[2];
        int rc = kind == 2 ? fc_train_softmax_path(cfg, 2, &q, 1, r, &err) : fc_train(&cfg[0], &q, 1, &r[0], &err);
        REQUIRE(rc == 0, "%s", err.msg);
        int bad = r[0].n_worst < 6 || r[0].n_worst > FC_TRAIN_WORST;
        for (int w = 0; w < r[0].n_worst; w++) {
            const fc_train_miss *m = &r[0].worst[w];
            bad |= m->true_class == m->predicted || m->true_class != q.y[m->item] ||
                   (kind != 1 && q.role[m->item] != 1) || (w && m->probability > r[0].worst[w - 1].probability);
        }
        CHECK(!bad, "%s: %d worst items, validation only, wrong, most confident first", kind == 1 ? "k-fold" :
              kind == 2 ? "softmax path" : "holdout", r[0].n_worst);
        fc_strbuf j = {0};
        fc_train_result_json(&j, &r[0], &q);
        char want[200];
        snprintf(want, sizeof want, "\"items\":{\"n\":40,\"train\":%d,\"val\":%d,\"sha256\":\"%s\"},\"worst\":[{\"path\":\"img3",
                 q.n_train, q.n_val, q.digest);
        CHECK(j.s && strstr(j.s, want) && strstr(j.s, "\"true\":\"") && strstr(j.s, "\"predicted\":\""), "record: %s",
              j.s ? strstr(j.s, "\"items\"") : "");
        fc_strbuf_free(&j);
        for (int i = 0; i < (kind == 2 ? 2 : 1); i++) fc_train_result_free(&r[i]);
        fc_problem_free(&q);
    }
    fc_problem_free(&t.p);
}

/* A class that only the validation split has is named in the error, for every head kind. */
static void test_class_names_in_errors(void) {
    static toy t;
    fc_error err = {0};
    REQUIRE(toy_build(&t, &err) == 0, "%s", err.msg);
    fc_problem_free(&t.p);
    t.labels[35] = "wasps"; /* a val item */
    fc_split_spec split = {.kind = FC_SPLIT_FOLDERS};
    REQUIRE(fc_problem_build(t.x, 1, 40, 4, t.labels, t.splits, t.paths, (const uint8_t(*)[32])t.hashes, &split, &t.p,
                             &err) == 0, "%s", err.msg);
    for (int kind = FC_HEAD_SOFTMAX; kind <= FC_HEAD_NCM; kind++) {
        fc_head_config cfg = base_config();
        cfg.kind = (fc_head_kind)kind;
        fc_train_result r;
        CHECK(fc_train(&cfg, &t.p, 1, &r, &err) == FC_EINVAL &&
              strstr(err.msg, "train split has no items of class 'wasps' (of 3)"), "%s: %s",
              fc_head_kind_name(cfg.kind), err.msg);
    }
    fc_problem_free(&t.p);
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/fc_test_sweep.XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_grid_expansion);
    RUN(test_grid_collapse_and_groups);
    RUN(test_grid_errors);
    RUN(test_rank);
    RUN(test_run_and_record);
    RUN(test_class_names_in_errors);
    RUN(test_digest_and_worst);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return check_done();
}
