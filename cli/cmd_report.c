/* `featcache report RUN|SWEEP -o report.html`: one self-contained HTML page for a train run, a
 * whole sweep (any of its run ids), a fine-tuning or conv-head run or an advice, drawn from what the catalog
 * recorded of the run: its parameters, metrics and confusion matrix, the digest of the items it
 * used and its worst misclassified items. Nothing is refitted; the page and a note on stderr say
 * when today's data set no longer is the one the run used (the items' digest differs), and a
 * misclassified image whose file changed since gets no thumbnail. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "classify/classify.h"
#include "cli/cli.h"
#include "core/core.h"
#include "extract/extract.h"
#include "store/store.h"

#define MAX_RUNS 4096
#define N_WORST 12

static const char *usage_text =
    "usage: featcache report RUN -o report.html [--cache DIR]\n"
    "Writes one self-contained HTML page (inline SVG, no network) for a train run, or for a whole\n"
    "sweep when RUN is one of its runs: metrics, confusion matrix, per-class table, metric vs\n"
    "hyperparameter curves (sweeps) and the worst misclassified images with thumbnails; for a\n"
    "finetune or train --head conv run its training curves; for an advise run the 2x2 table with\n"
    "the data set's cell, the next command, the probe-by-layer chart and the learning curve.\n"
    "Everything comes from what the run recorded; when the data set's items changed since, the\n"
    "page and stderr say so.\n"
    "Run ids are listed by `featcache ls` and printed by train/sweep.\n";

typedef struct run_copy {
    int64_t id;
    fc_run_kind kind;
    fc_run_status status;
    int64_t started;
    char *params, *result;
} run_copy;

typedef struct run_list { run_copy *r; int n; } run_list;

static int copy_run(void *user, const fc_catalog_run *r) {
    run_list *l = user;
    if (l->n == MAX_RUNS || (r->kind != FC_RUN_TRAIN && r->kind != FC_RUN_SWEEP)) return 0;
    l->r[l->n++] = (run_copy){r->id, r->kind, r->status, r->started, r->params ? strdup(r->params) : NULL,
                              r->result ? strdup(r->result) : NULL};
    return 0;
}

static double field(const char *json, const char *key) {
    double v;
    return json && !fc_json_get_number(json, key, &v) ? v : NAN;
}

typedef struct root_find { const char *name; char root[4096]; } root_find;

static int find_root(void *user, const fc_catalog_dataset *d) {
    root_find *f = user;
    if (!strcmp(d->name, f->name)) snprintf(f->root, sizeof f->root, "%s", d->root);
    return 0;
}

/* The runs the page shows: run `self` alone, or (a sweep run) every run of its sweep, whose id
 * goes to *sweep_id. group gets indices into runs. */
static int sweep_group(const run_list *runs, int self, int64_t run_id, int *group, int64_t *sweep_id) {
    int n_group = 0;
    *sweep_id = run_id;
    if (runs->r[self].kind != FC_RUN_SWEEP) {
        group[n_group++] = self;
        return n_group;
    }
    double s = field(runs->r[self].params, "sweep");
    if (s > 0) *sweep_id = (int64_t)s;
    for (int i = 0; i < runs->n; i++) {
        if (runs->r[i].kind != FC_RUN_SWEEP || !runs->r[i].params) continue;
        double g = field(runs->r[i].params, "sweep");
        if (runs->r[i].id == *sweep_id || (g > 0 && (int64_t)g == *sweep_id)) group[n_group++] = i;
    }
    return n_group;
}

/* Index of name among classes (k), or -1. */
static int class_index(char *const *classes, int k, const char *name) {
    for (int c = 0; c < k; c++)
        if (!strcmp(classes[c], name)) return c;
    return -1;
}

/* A thumbnail of the item's file under root when the file still has the recorded bytes (hex:
 * their SHA-256); 0, or 1 when the file changed or is gone. */
static int add_thumbnail(fc_report_item *it, const char *root, const char *hex) {
    char file[8192];
    uint8_t want[32], got[32];
    fc_error e;
    if (it->path[0] == '/') snprintf(file, sizeof file, "%s", it->path); /* a manifest's absolute path */
    else snprintf(file, sizeof file, "%s/%s", root, it->path);
    if (fc_hex_decode(hex, want, 32, NULL) || fc_sha256_file(file, got, NULL, &e) || memcmp(want, got, 32)) return 1;
    uint8_t *png = NULL;
    size_t size = 0;
    if (fc_thumbnail_png(file, 96, &png, &size, &e) == 0) {
        it->thumbnail = png;
        it->thumbnail_size = size;
    }
    return 0;
}

/* The worst misclassified items a result recorded ("worst":[{"path":..,"sha256":..,"true":..,
 * "predicted":..,"probability":..},..], most confident first) into worst (N_WORST; paths
 * malloc'd, labels as indices of classes), with thumbnails of the files under root that still
 * have the recorded bytes; *changed counts those that do not. Returns the count. */
static int recorded_worst(const char *result, char *const *classes, int k, const char *root, fc_report_item *worst,
                          int *changed) {
    int n = 0;
    *changed = 0;
    const char *q = result ? strstr(result, "\"worst\":[") : NULL;
    for (; q && n < N_WORST && (q = strstr(q, "{\"path\":")); q++) {
        char path[4096], hex[65], truth[512], pred[512];
        if (fc_json_get_string(q, "path", path, sizeof path) || fc_json_get_string(q, "sha256", hex, sizeof hex) ||
            fc_json_get_string(q, "true", truth, sizeof truth) || fc_json_get_string(q, "predicted", pred, sizeof pred))
            break;
        int t = class_index(classes, k, truth), p = class_index(classes, k, pred);
        if (t < 0 || p < 0 || !(worst[n].path = strdup(path))) continue;
        worst[n].true_label = t;
        worst[n].predicted_label = p;
        worst[n].probability = field(q, "probability");
        *changed += add_thumbnail(&worst[n++], root, hex);
    }
    return n;
}

/* How today's items of dataset differ from those run r recorded, into note (cap); "" when they do
 * not. Today's items go through the run's split, as its own did, to give the comparable digest. */
static void items_note(fc_catalog *cat, const run_copy *r, const char *dataset, char *note, size_t cap) {
    const char *it = r->result ? strstr(r->result, "\"items\":{") : NULL;
    char digest[65];
    note[0] = 0;
    if (!it || fc_json_get_string(it, "sha256", digest, sizeof digest)) {
        snprintf(note, cap, "run #%lld did not record its items (an older featcache): whether data set '%s' changed "
                 "since is not known, and no misclassified images are shown", (long long)r->id, dataset);
        return;
    }
    fc_featureset fs = {0};
    fc_problem p = {0};
    fc_head_config cfg;
    fc_split_spec split;
    fc_error e = {0};
    int rc = fc_featureset_load_items(cat, dataset, &fs, &e);
    if (!rc) rc = fc_head_config_from_json(r->params, &cfg, &split, &e);
    if (!rc)
        rc = fc_problem_build(NULL, 1, (int)fs.n, 1, fs.labels, fs.splits, fs.paths, (const uint8_t(*)[32])fs.hashes,
                              &split, &p, &e);
    if (rc)
        snprintf(note, cap, "today's data set '%s' is not the one run #%lld used (%.0f items): %s; the page shows "
                 "what the run recorded", dataset, (long long)r->id, field(it, "n"), e.msg);
    else if (strcmp(p.digest, digest))
        snprintf(note, cap, "today's data set '%s' differs from the one run #%lld used (items added, removed, changed "
                 "or relabeled: %.0f then, %d now); the page shows what the run recorded", dataset, (long long)r->id,
                 field(it, "n"), p.n);
    fc_problem_free(&p);
    fc_featureset_free(&fs);
}

/* The sweep table: each run's description ("#ID softmax l2=..."), parameters and metrics.
 * configs, params (6 per run) and descs (malloc'd strings) have n_group entries. */
static void sweep_table(const run_list *runs, const int *group, int n_group, fc_report_config *configs,
                        fc_report_param *params, char **descs) {
    static const char *names[6] = {"l2", "lr", "hidden", "dropout", "epochs", "seed"};
    for (int g = 0; g < n_group; g++) {
        const run_copy *rr = &runs->r[group[g]];
        fc_head_config gc;
        fc_split_spec gs;
        fc_head_config_from_json(rr->params, &gc, &gs, NULL);
        char d[256];
        snprintf(d, sizeof d, "#%lld ", (long long)rr->id);
        size_t len = strlen(d);
        if (gc.kind == FC_HEAD_SOFTMAX) snprintf(d + len, sizeof d - len, "softmax l2=%g %s", gc.l2, fc_transform_name(gc.normalize));
        else if (gc.kind == FC_HEAD_NCM) snprintf(d + len, sizeof d - len, "ncm");
        else snprintf(d + len, sizeof d - len, "mlp hidden=%d%s%.0d lr=%g l2=%g dropout=%g", gc.hidden[0],
                      gc.n_hidden == 2 ? "," : "", gc.n_hidden == 2 ? gc.hidden[1] : 0, gc.lr, gc.l2, gc.dropout);
        descs[g] = strdup(d);
        fc_report_param *pp = params + g * 6;
        double vals[6] = {gc.l2, gc.lr, gc.hidden[0], gc.dropout, gc.epochs, (double)gc.seed};
        for (int q = 0; q < 6; q++) pp[q] = (fc_report_param){names[q], vals[q], NULL};
        configs[g] = (fc_report_config){descs[g], fc_head_kind_name(gc.kind), pp, gc.kind == FC_HEAD_MLP ? 6 : 1,
                                        field(rr->result, "train_accuracy"), field(rr->result, "val_accuracy")};
    }
}

/* What the page says about the runs, besides the metrics. */
typedef struct page_text {
    char title[512], model[4600], head[512], created[64];
} page_text;

static void page_text_fill(page_text *t, const run_copy *self, int64_t shown_id, const char *dataset,
                           const char *bp, const char *extractor, const char *best_desc, const char *info) {
    char view[32] = "orig", model[4096] = "", layer[256] = "";
    fc_json_get_string(bp, "view", view, sizeof view);
    fc_json_get_string(bp, "model", model, sizeof model);
    fc_json_get_string(bp, "layer", layer, sizeof layer);
    time_t when = (time_t)self->started;
    strftime(t->created, sizeof t->created, "%Y-%m-%d %H:%M:%S", localtime(&when));
    const char *base = strrchr(model, '/');
    snprintf(t->model, sizeof t->model, "%s, layer %s, extractor %.12s, view %s", base ? base + 1 : model, layer, extractor, view);
    snprintf(t->head, sizeof t->head, "%s (%s)", best_desc, info);
    snprintf(t->title, sizeof t->title, "featcache %s #%lld on %s", self->kind == FC_RUN_SWEEP ? "sweep" : "run",
             (long long)shown_id, dataset);
}

/* The k x k confusion matrix of a recorded result ("confusion":[[..],..]); NULL when malformed. */
static int *recorded_confusion(const char *result, int k) {
    const char *p = result ? strstr(result, "\"confusion\":[") : NULL;
    int *c = p ? calloc((size_t)k * k, sizeof *c) : NULL;
    if (!c) return NULL;
    p += strlen("\"confusion\":[");
    for (int i = 0; i < k * k; i++) {
        while (*p == '[' || *p == ',' || *p == ']' || *p == ' ') p++;
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 0) { free(c); return NULL; }
        c[i] = (int)v;
        p = end;
    }
    return c;
}

/* The recorded epochs of a fine-tuning run ("history":[{...},...]); *n of them. */
static fc_report_epoch *recorded_epochs(const char *result, int *n) {
    *n = 0;
    const char *p = result ? strstr(result, "\"history\":[") : NULL;
    int cap = 0;
    for (const char *q = p; q && (q = strstr(q, "{\"epoch\":")); q++) cap++;
    fc_report_epoch *e = cap ? calloc((size_t)cap, sizeof *e) : NULL;
    for (const char *q = p; e && (q = strstr(q, "{\"epoch\":")); q++) {
        double v;
        fc_report_epoch *r = &e[(*n)++];
        r->epoch = fc_json_get_number(q, "epoch", &v) ? 0 : (int)v;
        r->loss = field(q, "loss"); /* null (epoch 0) reads as NaN */
        r->train_accuracy = field(q, "train_accuracy");
        r->val_loss = field(q, "val_loss");
        r->val_accuracy = field(q, "val_accuracy");
    }
    return e;
}

/* The validation metrics run r recorded: its classes (*classes, *k: free them) and the metrics its
 * confusion matrix gives with its recorded top-5 accuracy and log-loss. */
static int recorded_metrics(const run_copy *r, fc_metrics *m, char ***classes, int *k, fc_error *err) {
    memset(m, 0, sizeof *m);
    if (!r->result || fc_json_get_strings(r->result, "classes", classes, k) || *k < 2)
        return fc_fail(err, FC_EFORMAT, "run #%lld: no recorded result to report (did it finish?)", (long long)r->id);
    int *conf = recorded_confusion(r->result, *k);
    int rc = conf ? fc_metrics_from_confusion(m, conf, *k, *k < 5 ? *k : 5, /* runs record top-5 (clamped) */
                                              field(r->result, "top5"), field(r->result, "log_loss"), err)
                  : fc_fail(err, FC_EFORMAT, "run #%lld: malformed confusion matrix", (long long)r->id);
    free(conf);
    return rc;
}

static void free_names(char **names, int n) {
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
}

/* A fine-tuning or conv-head run's page from what the catalog recorded: its metrics (from the
 * confusion matrix) and its curves; nothing is retrained (its net lives in the files it wrote). */
static int finetune_page(const run_copy *self, const char *out, fc_error *err) {
    char **classes = NULL, dataset[256] = "", cut[256] = "", conv[128] = "", head[512];
    int k = 0, n_epochs = 0;
    fc_metrics m;
    int rc = recorded_metrics(self, &m, &classes, &k, err);
    if (rc) { free_names(classes, k); return rc; }
    fc_report_epoch *epochs = recorded_epochs(self->result, &n_epochs);
    fc_json_get_string(self->params, "dataset", dataset, sizeof dataset);
    fc_json_get_string(self->params, "cut", cut, sizeof cut);
    int is_conv = !fc_json_get_string(self->params, "conv", conv, sizeof conv);
    page_text text;
    if (is_conv)
        snprintf(head, sizeof head, "new conv blocks %s on %s + head, %.0f epochs", conv, cut, field(self->params, "epochs"));
    else
        snprintf(head, sizeof head, "fine-tuned from %s + new head, %.0f epochs (linear probe: val accuracy %.4f)", cut,
                 field(self->params, "epochs"), field(self->result, "lp_val_accuracy"));
    page_text_fill(&text, self, self->id, dataset, self->params, "", head, "");
    snprintf(text.head, sizeof text.head, "%s", head);
    fc_report_input in = {.title = text.title, .kind = FC_REPORT_RUN, .dataset = dataset, .model = text.model,
                          .head = text.head, .created = text.created, .metric_name = "accuracy", .val_metrics = &m,
                          .class_names = (const char *const *)classes, .n_classes = k, .best = -1,
                          .epochs = epochs, .n_epochs = n_epochs};
    rc = fc_report_write_html(&in, out, err);
    if (!rc)
        printf("report for %s run #%lld (%d epochs) written to %s\n", is_conv ? "conv-head" : "fine-tuning",
               (long long)self->id, n_epochs - 1, out);
    fc_metrics_free(&m);
    free_names(classes, k);
    free(epochs);
    return rc;
}

/* An advise run's page from its recorded evidence: the decision is taken again from it (the same
 * numbers give the same cell), the command is the recorded one. */
static int advice_page(const run_copy *self, const char *out, fc_error *err) {
    const char *ev = self->result ? strstr(self->result, "\"evidence\":") : NULL;
    char dataset[256] = "", model[4096] = "", command[8192] = "", title[512], desc[4200], created[64];
    fc_advise_evidence e;
    fc_advice a;
    if (!ev || fc_json_get_string(self->result, "command", command, sizeof command))
        return fc_fail(err, FC_EFORMAT, "run #%lld: no recorded advice to report", (long long)self->id);
    int rc = fc_advise_evidence_parse(ev + strlen("\"evidence\":"), &e, err);
    if (!rc) rc = fc_advise_decide(&e, &a, err);
    if (rc) return rc;
    fc_json_get_string(self->params, "dataset", dataset, sizeof dataset);
    fc_json_get_string(self->params, "model", model, sizeof model);
    const char *base = strrchr(model, '/');
    double size = field(self->params, "size");
    if (size > 0) snprintf(desc, sizeof desc, "%s, input %.0fx%.0f", base ? base + 1 : model, size, size);
    else snprintf(desc, sizeof desc, "%s, input at the model's own size", base ? base + 1 : model);
    snprintf(title, sizeof title, "featcache advice #%lld on %s", (long long)self->id, dataset);
    time_t when = (time_t)self->started;
    strftime(created, sizeof created, "%Y-%m-%d %H:%M:%S", localtime(&when));
    fc_report_input in = {.title = title, .kind = FC_REPORT_ADVICE, .dataset = dataset, .model = desc,
                          .created = created, .n_classes = e.n_classes, .best = -1, .evidence = &e, .advice = &a,
                          .command = command};
    rc = fc_report_write_html(&in, out, err);
    if (!rc) printf("report for advice run #%lld (%s) written to %s\n", (long long)self->id, fc_advice_name(a.kind), out);
    return rc;
}

/* Fills the run id and the output path from the command line; returns -1 to go on, else the exit
 * status. */
static int parse_args(int argc, char **argv, int *run_id, const char **out, const char **cache_opt) {
    static const struct option opts[] = {{"output", required_argument, 0, 'o'}, {"cache", required_argument, 0, 'C'},
                                         {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
        switch (c) {
        case 'o': *out = optarg; break;
        case 'C': *cache_opt = optarg; break;
        case 'h': fputs(usage_text, stdout); return EXIT_OK;
        default: fputs(usage_text, stderr); return EXIT_USAGE;
        }
    }
    if (!*out || optind != argc - 1 || cli_int("report", "RUN", argv[optind], 1, 2147483647, run_id)) {
        fprintf(stderr, "featcache report: %s\n\n%s", !*out ? "-o is required" : "give one run id", usage_text);
        return EXIT_USAGE;
    }
    return -1;
}

/* The data set line of a head page: its name and the items the run recorded. */
static void dataset_text(const run_copy *r, const char *dataset, char *out, size_t cap) {
    const char *it = r->result ? strstr(r->result, "\"items\":{") : NULL;
    if (!it) snprintf(out, cap, "%s", dataset);
    else if (field(it, "val") > 0)
        snprintf(out, cap, "%s: %.0f items (%.0f training rows, %.0f validation items)", dataset, field(it, "n"),
                 field(it, "train"), field(it, "val"));
    else /* k-fold: every item is validated out of fold */
        snprintf(out, cap, "%s: %.0f items (%.0f training rows, validated out of fold)", dataset, field(it, "n"),
                 field(it, "train"));
}

/* A train run's or a whole sweep's page from what the catalog recorded: the (best) run's metrics
 * and worst misclassified items, the sweep's table, and a note (on the page and stderr) when
 * today's data set differs from the one the run used. */
static int head_page(fc_catalog *cat, const run_list *runs, int self, const char *out, fc_error *err) {
    int *group = calloc(MAX_RUNS, sizeof *group);
    if (!group) return fc_fail(err, FC_ENOMEM, "out of memory");
    int64_t sweep_id;
    int n_group = sweep_group(runs, self, runs->r[self].id, group, &sweep_id), best = 0, k = 0, n_worst = 0, changed = 0;
    for (int g = 1; g < n_group; g++)
        if (field(runs->r[group[g]].result, "val_accuracy") > field(runs->r[group[best]].result, "val_accuracy")) best = g;
    const run_copy *br = &runs->r[group[best]];
    char dataset[256], extractor[65], info[256] = "", note[2048], ds_text[512];
    char **classes = NULL, **descs = calloc((size_t)n_group, sizeof *descs);
    fc_report_config *configs = calloc((size_t)n_group, sizeof *configs);
    fc_report_param *params = calloc((size_t)n_group * 6, sizeof *params);
    fc_report_item worst[N_WORST];
    fc_metrics m = {0};
    memset(worst, 0, sizeof worst);
    int rc = !descs || !configs || !params ? fc_fail(err, FC_ENOMEM, "out of memory") : 0;
    if (!rc && (fc_json_get_string(br->params, "dataset", dataset, sizeof dataset) ||
                fc_json_get_string(br->params, "extractor", extractor, sizeof extractor)))
        rc = fc_fail(err, FC_EFORMAT, "run #%lld: parameters lack the data set or extractor", (long long)br->id);
    if (!rc) rc = recorded_metrics(br, &m, &classes, &k, err);
    if (!rc) {
        root_find rf = {.name = dataset};
        fc_catalog_dataset_list(cat, find_root, &rf, NULL); /* only for the thumbnails */
        n_worst = recorded_worst(br->result, classes, k, rf.root, worst, &changed);
        items_note(cat, br, dataset, note, sizeof note);
        size_t len = strlen(note);
        if (changed)
            snprintf(note + len, sizeof note - len, "%s%d of the misclassified images changed since the run (no preview)",
                     len ? "; " : "", changed);
        sweep_table(runs, group, n_group, configs, params, descs);
        fc_json_get_string(br->result, "info", info, sizeof info);
        dataset_text(br, dataset, ds_text, sizeof ds_text);
        int is_sweep = runs->r[self].kind == FC_RUN_SWEEP;
        int64_t shown_id = is_sweep ? sweep_id : runs->r[self].id;
        page_text text;
        page_text_fill(&text, &runs->r[self], shown_id, dataset, br->params, extractor, descs[best], info);
        fc_report_input in = {.title = text.title, .kind = is_sweep ? FC_REPORT_SWEEP : FC_REPORT_RUN,
                              .dataset = ds_text, .model = text.model, .head = text.head, .created = text.created,
                              .note = note[0] ? note : NULL, .metric_name = "accuracy", .val_metrics = &m,
                              .class_names = (const char *const *)classes, .n_classes = k, .configs = configs,
                              .n_configs = n_group, .best = best, .curve_param = "l2", .worst = worst,
                              .n_worst = n_worst};
        rc = fc_report_write_html(&in, out, err);
        if (!rc) printf("report for %s #%lld (%d configuration%s, %d misclassified shown) written to %s\n",
                        is_sweep ? "sweep" : "run", (long long)shown_id, n_group, n_group == 1 ? "" : "s", n_worst, out);
        if (!rc && note[0]) fprintf(stderr, "featcache report: note: %s\n", note);
    }
    for (int w = 0; w < n_worst; w++) { free((void *)worst[w].path); free((void *)worst[w].thumbnail); }
    for (int g = 0; descs && g < n_group; g++) free(descs[g]);
    free(descs);
    free(configs);
    free(params);
    free(group);
    fc_metrics_free(&m);
    free_names(classes, k);
    return rc;
}

int cmd_report(int argc, char **argv) {
    const char *out = NULL, *cache_opt = NULL;
    int run_id = 0, rc = parse_args(argc, argv, &run_id, &out, &cache_opt);
    if (rc >= 0) return rc;
    fc_error err = {0};
    const char *dir = cli_cache_dir(cache_opt);
    fc_catalog *cat = NULL;
    run_list runs = {.r = calloc(MAX_RUNS, sizeof(run_copy))};
    int self = -1;
    rc = !runs.r ? fc_fail(&err, FC_ENOMEM, "out of memory") : fc_catalog_open(dir, FC_CATALOG_RDONLY, 0, &cat, &err);
    if (!rc) rc = fc_catalog_run_list(cat, copy_run, &runs, &err);
    for (int i = 0; !rc && i < runs.n; i++) if (runs.r[i].id == run_id) self = i;
    if (!rc && (self < 0 || !runs.r[self].params))
        rc = fc_fail(&err, FC_EINVAL, "no train or sweep run #%d in %s (featcache ls lists runs)", run_id, dir);
    if (!rc) {
        const run_copy *r = &runs.r[self];
        int curves = field(r->params, "finetune") == 1 || field(r->params, "conv_head") == 1;
        rc = field(r->params, "advise") == 1 ? advice_page(r, out, &err)
             : curves                        ? finetune_page(r, out, &err)
                                             : head_page(cat, &runs, self, out, &err);
    }
    if (rc) fprintf(stderr, "featcache report: %s\n", err.msg);
    for (int i = 0; i < runs.n; i++) { free(runs.r[i].params); free(runs.r[i].result); }
    free(runs.r);
    fc_catalog_close(cat);
    return rc ? EXIT_FAIL : EXIT_OK;
}
