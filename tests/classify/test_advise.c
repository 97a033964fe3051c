/* Tests for advise (classify/advise.h) and the probes it decides from (classify/probe.h): synthetic
 * evidence in each cell of the 2x2 table (and scratch), the edges of the decision (a lead within
 * the folds' noise, a lead below the smallest margin, a single layer, ties, too few items, bad
 * evidence), the command of each advice (the cut each names, partial with and without conv heads,
 * quoting), the evidence JSON round trip and its format errors, the advice page of the report;
 * then k-fold probes on Gaussian blobs: a separable matrix probes near 1 and noise near chance,
 * the learning-curve subsample is stratified, nested and hash-stable, a class whose items all sit
 * in one fold is "too few items". */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "classify/advise.h"
#include "classify/probe.h"
#include "classify/report.h"
#include "classify/train.h"
#include "store/hash.h"
#include "tests/support/check.h"

/* Evidence with layers t1, t2, t3 (pooled) and the feature "pooled", at these accuracies, every
 * fold at the layer's accuracy plus spread * (f - 2) (the same pattern for every layer: paired
 * differences without noise unless a caller changes a fold), median per class `per_class`. */
static fc_advise_evidence evidence(const double acc[4], int per_class, double spread) {
    fc_advise_evidence e;
    memset(&e, 0, sizeof e);
    e.n_classes = 10;
    e.n_items = 10 * per_class;
    e.min_per_class = per_class;
    e.median_per_class = per_class;
    e.folds = 5;
    e.n_layers = 4;
    static const char *names[4] = {"t1", "t2", "t3", "pooled"};
    int best = 0;
    for (int l = 0; l < 4; l++) {
        fc_advise_layer *L = &e.layers[l];
        snprintf(L->name, sizeof L->name, "%s", names[l]);
        L->pooled = l < 3;
        L->dim = 32 << l;
        L->accuracy = acc[l];
        L->l2 = 10;
        for (int f = 0; f < 5; f++) L->fold_accuracy[f] = acc[l] + spread * (f - 2);
        if (acc[l] >= acc[best]) best = l;
    }
    e.curve_layer = best;
    double fr[3] = {0.25, 0.5, 1};
    for (int c = 0; c < 3; c++) {
        e.curve_fraction[c] = fr[c];
        e.curve_train[c] = 0.8 * e.n_items * fr[c];
        e.curve_accuracy[c] = acc[best] - 0.02 * (2 - c);
    }
    return e;
}

static fc_advice decide(const fc_advise_evidence *e) {
    fc_advice a;
    fc_error err = {0};
    int rc = fc_advise_decide(e, &a, &err);
    CHECK(rc == 0, "decide: %s", err.msg);
    return a;
}

static void test_four_cells(void) {
    /* similar: the feature probes best */
    double sim[4] = {0.70, 0.80, 0.88, 0.92}, dif[4] = {0.80, 0.88, 0.85, 0.84};
    fc_advise_evidence e = evidence(sim, 40, 0.01);
    fc_advice a = decide(&e);
    CHECK(a.kind == FC_ADVICE_HEAD && !a.big && !a.different && a.best == 3, "small + similar: %s", fc_advice_name(a.kind));
    e = evidence(sim, 1000, 0.01);
    a = decide(&e);
    CHECK(a.kind == FC_ADVICE_FINETUNE && a.big && !a.different, "big + similar: %s", fc_advice_name(a.kind));
    e = evidence(dif, 10, 0.01);
    a = decide(&e);
    CHECK(a.kind == FC_ADVICE_MORE_DATA && !a.big && a.different && a.best == 1, "small + different: %s",
          fc_advice_name(a.kind));
    CHECK(fabs(a.lead - (0.84 - 0.88)) < 1e-12, "lead %g", a.lead);
    e = evidence(dif, 1000, 0.01);
    a = decide(&e);
    CHECK(a.kind == FC_ADVICE_PARTIAL && a.big && a.different, "big + different: %s", fc_advice_name(a.kind));
    CHECK(strstr(a.reason, "t2 probes better") && strstr(a.reason, "1000 items per class"), "reason: %s", a.reason);
    /* the earliest layer probes best and the rest falls: nothing above it transfers */
    double early[4] = {0.90, 0.86, 0.84, 0.82};
    e = evidence(early, 1000, 0.01);
    a = decide(&e);
    CHECK(a.kind == FC_ADVICE_SCRATCH && a.best == 0, "scratch: %s", fc_advice_name(a.kind));
    /* the threshold between small and big is the median class */
    e = evidence(sim, FC_ADVISE_BIG_PER_CLASS - 1, 0.01);
    CHECK(decide(&e).kind == FC_ADVICE_HEAD, "just below big");
    e = evidence(sim, FC_ADVISE_BIG_PER_CLASS, 0.01);
    e.min_per_class = 20;
    CHECK(decide(&e).kind == FC_ADVICE_FINETUNE, "median at big, a small class");
}

static void test_margins(void) {
    /* an earlier layer 0.01 ahead: counts when the folds agree, not when they scatter */
    double acc[4] = {0.70, 0.80, 0.87, 0.86};
    fc_advise_evidence e = evidence(acc, 1000, 0.01);
    fc_advice a = decide(&e);
    CHECK(a.different && fabs(a.margin - FC_ADVISE_MIN_GAP) < 1e-12, "consistent lead: margin %g", a.margin);
    double d[5] = {0.05, -0.04, 0.03, -0.02, 0.03}; /* mean 0.01, squares about it 0.0058 */
    for (int f = 0; f < 5; f++) e.layers[2].fold_accuracy[f] = e.layers[3].fold_accuracy[f] + d[f];
    a = decide(&e);
    CHECK(!a.different && a.kind == FC_ADVICE_FINETUNE && fabs(a.margin - 2 * sqrt(0.0058 / 4 / 5)) < 1e-9,
          "noisy lead: margin %g", a.margin);
    CHECK(strstr(a.reason, "No earlier layer probes better"), "reason: %s", a.reason);
    /* below the smallest margin: no difference, however consistent */
    double tiny[4] = {0.70, 0.80, 0.864, 0.86};
    e = evidence(tiny, 1000, 0);
    CHECK(!decide(&e).different, "a 0.004 lead");
    /* one layer only: nothing says the domain differs */
    e = evidence(acc, 20, 0.01);
    e.layers[0] = e.layers[3];
    e.n_layers = 1;
    e.curve_layer = 0;
    a = decide(&e);
    CHECK(a.kind == FC_ADVICE_HEAD && isnan(a.lead) && strstr(a.reason, "Only the feature"), "one layer: %s", a.reason);
    /* ties: the later layer is the best */
    double tie[4] = {0.80, 0.80, 0.80, 0.80};
    e = evidence(tie, 50, 0.01);
    a = decide(&e);
    CHECK(a.best == 3 && !a.different, "ties: best %d", a.best);
    /* the learning curve's words */
    e = evidence(acc, 20, 0.01);
    e.curve_accuracy[2] = e.curve_accuracy[1] + 0.08;
    a = decide(&e);
    CHECK(fabs(a.rise - 0.08) < 1e-12 && strstr(a.reason, "rises steeply"), "steep: %s", a.reason);
    e.curve_accuracy[2] = e.curve_accuracy[1];
    CHECK(strstr(decide(&e).reason, "is flat"), "flat");
}

static void test_bad_evidence(void) {
    double acc[4] = {0.7, 0.8, 0.85, 0.9};
    fc_advise_evidence e = evidence(acc, 4, 0.01);
    fc_advice a;
    fc_error err = {0};
    CHECK(fc_advise_decide(&e, &a, &err) == FC_EINVAL && strstr(err.msg, "too few items"), "4 per class: %s", err.msg);
    static const char *spoiled[] = {"no layers", "one fold", "accuracy 1.5", "a fold NaN", "curve layer 4",
                                     "one class", "a curve point -0.1"};
    for (int c = 0; c < 7; c++) {
        e = evidence(acc, 50, 0.01);
        if (c == 0) e.n_layers = 0;
        if (c == 1) e.folds = 1;
        if (c == 2) e.layers[1].accuracy = 1.5;
        if (c == 3) e.layers[2].fold_accuracy[4] = NAN;
        if (c == 4) e.curve_layer = 4;
        if (c == 5) e.n_classes = 1;
        if (c == 6) e.curve_accuracy[0] = -0.1;
        err.msg[0] = 0;
        CHECK(fc_advise_decide(&e, &a, &err) == FC_EINVAL && err.msg[0], "%s: accepted", spoiled[c]);
    }
    CHECK(!strcmp(fc_advice_name(FC_ADVICE_MORE_DATA), "more-data") && !strcmp(fc_advice_name(FC_ADVICE_SCRATCH), "scratch"),
          "names");
}

/* The command of the advice for evidence(acc, per_class) with target t. */
static void command_of(const double acc[4], int per_class, const fc_advise_target *t, fc_strbuf *cmd, int *rc) {
    fc_advise_evidence e = evidence(acc, per_class, 0.01);
    fc_advice a = decide(&e);
    fc_error err = {0};
    *rc = fc_advise_command(&a, &e, t, cmd, &err);
}

static void test_commands(void) {
    static const char *opts[] = {"--size", "96", "--cache", "/tmp/my cache"};
    fc_advise_target t = {.dataset = "data/fm", .model = "m.onnx", .options = opts, .n_options = 4,
                          .last3_cut = "t146"};
    double sim[4] = {0.70, 0.80, 0.88, 0.92}, dif[4] = {0.80, 0.88, 0.85, 0.84}, early[4] = {0.90, 0.86, 0.84, 0.82};
    struct { const double *acc; int per_class, conv; const char *want; } cases[] = {
        {sim, 40, 0, "featcache train data/fm --model m.onnx --size 96 --cache '/tmp/my cache' --head softmax --l2 10 -o head.onnx"},
        {sim, 1000, 0, "featcache finetune data/fm --model m.onnx --size 96 --cache '/tmp/my cache' --cut t146 -o finetuned.onnx"},
        {dif, 10, 0, "featcache advise data/fm --model m.onnx --size 96 --cache '/tmp/my cache'"},
        {dif, 1000, 0, "featcache finetune data/fm --model m.onnx --size 96 --cache '/tmp/my cache' --cut t2 -o finetuned.onnx"},
        {dif, 1000, 1, "featcache train data/fm --model m.onnx --size 96 --cache '/tmp/my cache' --layer t2 --head conv -o classifier.onnx"},
        {early, 1000, 0, "featcache finetune data/fm --model m.onnx --size 96 --cache '/tmp/my cache' --cut t1 -o finetuned.onnx"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        fc_strbuf cmd = {0};
        int rc;
        t.conv_heads = cases[c].conv;
        command_of(cases[c].acc, cases[c].per_class, &t, &cmd, &rc);
        CHECK(rc == 0 && cmd.s && !strcmp(cmd.s, cases[c].want), "case %zu: %s\n  want %s", c, cmd.s ? cmd.s : "",
              cases[c].want);
        fc_strbuf_free(&cmd);
    }
    /* a quote in a word is escaped for the shell */
    t.conv_heads = 0;
    t.dataset = "it's";
    fc_strbuf cmd = {0};
    int rc;
    command_of(sim, 40, &t, &cmd, &rc);
    CHECK(rc == 0 && strstr(cmd.s, "featcache train 'it'\\''s' --model"), "%s", cmd.s);
    fc_strbuf_free(&cmd);
    t.last3_cut = NULL; /* a model without blocks: finetune has no cut to name */
    command_of(sim, 1000, &t, &cmd, &rc);
    CHECK(rc == FC_EINVAL, "no cut: %d", rc);
    fc_strbuf_free(&cmd);
}

static void test_json(void) {
    double acc[4] = {0.80, 0.88, 0.85, 0.84};
    fc_advise_evidence e = evidence(acc, 321, 0.0123), back;
    snprintf(e.layers[1].name, sizeof e.layers[1].name, "a \"quoted\" name");
    fc_strbuf b = {0};
    fc_advise_evidence_json(&b, &e);
    fc_error err = {0};
    REQUIRE(fc_advise_evidence_parse(b.s, &back, &err) == 0, "parse: %s\n%s", err.msg, b.s);
    CHECK(back.n_items == e.n_items && back.n_classes == 10 && back.folds == 5 && back.min_per_class == 321 &&
          back.median_per_class == 321 && back.n_layers == 4 && back.curve_layer == 1, "counts");
    for (int l = 0; l < 4; l++) {
        CHECK(!strcmp(back.layers[l].name, e.layers[l].name) && back.layers[l].pooled == e.layers[l].pooled &&
              back.layers[l].dim == e.layers[l].dim && fabs(back.layers[l].accuracy - e.layers[l].accuracy) < 1e-6 &&
              back.layers[l].l2 == e.layers[l].l2, "layer %d: %s", l, back.layers[l].name);
        for (int f = 0; f < 5; f++)
            CHECK(fabs(back.layers[l].fold_accuracy[f] - e.layers[l].fold_accuracy[f]) < 1e-6, "layer %d fold %d", l, f);
    }
    for (int c = 0; c < 3; c++)
        CHECK(back.curve_fraction[c] == e.curve_fraction[c] && fabs(back.curve_accuracy[c] - e.curve_accuracy[c]) < 1e-6 &&
              fabs(back.curve_train[c] - e.curve_train[c]) < 0.05, "curve %d", c);
    fc_advice a1 = decide(&e), a2 = decide(&back);
    CHECK(a1.kind == a2.kind && a1.different == a2.different && a1.margin == a2.margin && a1.best == a2.best,
          "the same decision from the parsed evidence");
    /* format errors */
    const char *bad[] = {"{}", "{\"layers\":[],\"curve\":[],\"curve_layer\":\"x\"}",
                         "{\"folds\":5,\"layers\":[{\"name\":\"x\",\"fold_accuracy\":[0.5,0.5]}],\"curve_layer\":\"x\","
                         "\"curve\":[{\"fraction\":0.25},{\"fraction\":0.5},{\"fraction\":1}]}",
                         "{\"folds\":2,\"layers\":[{\"name\":\"x\",\"fold_accuracy\":[0.5,0.5]}],\"curve_layer\":\"x\","
                         "\"curve\":[{\"fraction\":0.25}]}"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        CHECK(fc_advise_evidence_parse(bad[i], &back, &err) == FC_EFORMAT, "accepted %s", bad[i]);
    fc_strbuf_free(&b);
}

static void test_report_page(void) {
    double acc[4] = {0.80, 0.88, 0.85, 0.84};
    fc_advise_evidence e = evidence(acc, 1000, 0.01);
    snprintf(e.layers[0].name, sizeof e.layers[0].name, "<b>t1</b>");
    fc_advice a = decide(&e);
    fc_report_input in = {.title = "advice", .kind = FC_REPORT_ADVICE, .dataset = "fm", .n_classes = 10, .best = -1,
                          .evidence = &e, .advice = &a, .command = "featcache finetune fm --cut t2 <x>"};
    fc_strbuf b = {0};
    fc_error err = {0};
    REQUIRE(fc_report_render(&in, &b, &err) == 0, "render: %s", err.msg);
    CHECK(strstr(b.s, "<dd>advice</dd>") && strstr(b.s, "Advice: partial"), "heading");
    CHECK(strstr(b.s, "class=\"l mark\">&#10004; partial reuse"), "the marked cell");
    int marks = 0;
    for (const char *p = b.s; (p = strstr(p, " mark\"")); p++) marks++;
    CHECK(marks == 1, "%d cells marked", marks);
    CHECK(strstr(b.s, "--cut t2 &lt;x&gt;</pre>") && !strstr(b.s, "<b>t1</b>") && strstr(b.s, "&lt;b&gt;t1"), "escaped");
    int svgs = 0;
    for (const char *p = b.s; (p = strstr(p, "<svg ")); p++) svgs++;
    CHECK(svgs == 2 && strstr(b.s, "k-fold accuracy vs layer") && strstr(b.s, "learning curve vs training items"),
          "%d charts", svgs);
    CHECK(strstr(b.s, "<polyline") && strstr(b.s, "<title>t2 (average-pooled): 0.8800 &#177; "), "points with tooltips");
    CHECK(!strstr(b.s, "id=\"worst\"") && !strstr(b.s, "id=\"confusion\""), "no run sections");
    fc_strbuf_free(&b);
    in.command = NULL;
    CHECK(fc_report_render(&in, &b, &err) == FC_EINVAL, "advice without a command");
    fc_strbuf_free(&b);
}

/* ---- probes ---- */

/* n items in k classes (class i % k), d dims: class means sep apart along their own dimension,
 * unit Gaussian noise; hashes from the item index. */
typedef struct blobs {
    float *x;
    char **labels, **splits, **paths;
    uint8_t (*hashes)[32];
    int n, d;
} blobs;

static unsigned rng = 12345;
static double gauss(void) {
    double u = 0;
    for (int i = 0; i < 12; i++) { rng = rng * 1664525u + 1013904223u; u += (rng >> 8) / 16777216.0; }
    return u - 6;
}

static blobs make_blobs(int n, int k, int d, double sep) {
    blobs b = {.n = n, .d = d};
    b.x = malloc((size_t)n * d * sizeof(float));
    b.labels = malloc((size_t)n * sizeof(char *));
    b.splits = malloc((size_t)n * sizeof(char *));
    b.paths = malloc((size_t)n * sizeof(char *));
    b.hashes = malloc((size_t)n * 32);
    static char names[10][8], path[4096][16];
    for (int c = 0; c < 10; c++) snprintf(names[c], sizeof names[c], "c%d", c);
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < d; j++) b.x[(size_t)i * d + j] = (float)(gauss() + (j == i % k ? sep : 0));
        b.labels[i] = names[i % k];
        b.splits[i] = "";
        snprintf(path[i], sizeof path[i], "%d.png", i);
        b.paths[i] = path[i];
        fc_sha256_digest(&i, sizeof i, b.hashes[i]);
    }
    return b;
}

static void free_blobs(blobs *b) {
    free(b->x);
    free(b->labels);
    free(b->splits);
    free(b->paths);
    free(b->hashes);
}

static int problem_of(const blobs *b, int folds, fc_problem *p) {
    fc_split_spec s = {.kind = FC_SPLIT_KFOLD, .folds = folds};
    fc_error err = {0};
    int rc = fc_problem_build(b->x, 1, b->n, b->d, b->labels, b->splits, b->paths, (const uint8_t(*)[32])b->hashes, &s,
                              p, &err);
    CHECK(rc == 0, "problem: %s", err.msg);
    return rc;
}

static void test_probe_accuracy(void) {
    blobs easy = make_blobs(400, 4, 8, 6.0), noise = make_blobs(400, 4, 8, 0.0);
    fc_problem p, q;
    fc_probe_result r, s;
    fc_error err = {0};
    REQUIRE(problem_of(&easy, 5, &p) == 0 && problem_of(&noise, 5, &q) == 0, "problems");
    REQUIRE(fc_probe_kfold(&p, (const uint8_t(*)[32])easy.hashes, 1.0, 1, &r, &err) == 0, "%s", err.msg);
    CHECK(r.accuracy > 0.97 && r.n_folds == 5 && fabs(r.n_train - 320) < 25, "separable: %g (%g train)", r.accuracy, r.n_train);
    double mean = 0;
    for (int f = 0; f < 5; f++) mean += r.fold_accuracy[f] / 5;
    CHECK(fabs(mean - r.accuracy) < 0.02 && r.fold_std < 0.05, "folds: mean %g sd %g", mean, r.fold_std);
    CHECK(r.l2 >= 1e-2 && r.l2 <= 1e3, "l2 %g", r.l2);
    REQUIRE(fc_probe_kfold(&q, (const uint8_t(*)[32])noise.hashes, 1.0, 1, &s, &err) == 0, "%s", err.msg);
    CHECK(s.accuracy < 0.40, "noise: %g (chance 0.25)", s.accuracy);
    /* the learning curve's subsample: stratified (a quarter of each class per fold), stable */
    fc_probe_result h, h2;
    REQUIRE(fc_probe_kfold(&p, (const uint8_t(*)[32])easy.hashes, 0.25, 1, &h, &err) == 0, "%s", err.msg);
    REQUIRE(fc_probe_kfold(&p, (const uint8_t(*)[32])easy.hashes, 0.25, 1, &h2, &err) == 0, "%s", err.msg);
    CHECK(fabs(h.n_train - r.n_train / 4) <= 4 && h.accuracy == h2.accuracy && h.accuracy > 0.9, "quarter: %g items, %g",
          h.n_train, h.accuracy);
    /* a tiny fraction keeps one item per class */
    REQUIRE(fc_probe_kfold(&p, (const uint8_t(*)[32])easy.hashes, 1e-6, 1, &h, &err) == 0, "%s", err.msg);
    CHECK(h.n_train == 4, "one per class: %g", h.n_train);
    CHECK(fc_probe_kfold(&p, (const uint8_t(*)[32])easy.hashes, 0, 1, &h, &err) == FC_EINVAL, "fraction 0");
    CHECK(fc_probe_kfold(&p, (const uint8_t(*)[32])easy.hashes, 1.5, 1, &h, &err) == FC_EINVAL, "fraction 1.5");
    fc_problem hold = p;
    hold.n_folds = 0;
    CHECK(fc_probe_kfold(&hold, (const uint8_t(*)[32])easy.hashes, 1, 1, &h, &err) == FC_EINVAL, "holdout problem");
    fc_problem_free(&p);
    fc_problem_free(&q);
    free_blobs(&easy);
    free_blobs(&noise);
}

static void test_probe_too_few(void) {
    blobs b = make_blobs(60, 3, 4, 4.0);
    fc_problem p;
    REQUIRE(problem_of(&b, 3, &p) == 0, "problem");
    /* every item of class c2 into fold 0: its training side lacks the class */
    for (int i = 0; i < p.n; i++)
        if (p.y[i] == 2) p.role[i] = 0;
    fc_probe_result r;
    fc_error err = {0};
    CHECK(fc_probe_kfold(&p, (const uint8_t(*)[32])b.hashes, 1, 1, &r, &err) == FC_EINVAL &&
          strstr(err.msg, "too few items") && strstr(err.msg, "'c2'"), "%s", err.msg);
    fc_problem_free(&p);
    free_blobs(&b);
}

int main(void) {
    RUN(test_four_cells);
    RUN(test_margins);
    RUN(test_bad_evidence);
    RUN(test_commands);
    RUN(test_json);
    RUN(test_report_page);
    RUN(test_probe_accuracy);
    RUN(test_probe_too_few);
    return check_done();
}
