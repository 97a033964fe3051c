/* `featcache report RUN|SWEEP -o report.html`: one self-contained HTML page for a train run, a
 * whole sweep (any of its run ids), a fine-tuning or conv-head run or an advice. The catalog keeps
 * each run's parameters and metrics; the page's confusion matrix, per-class table and worst
 * misclassified images come from refitting the run's (best) configuration on the same cached
 * features, which is deterministic and takes seconds (a conv head's take minutes: its page shows
 * the recorded metrics, without the worst images). */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "classify/classify.h"
#include "cli/cli.h"
#include "cli/head_opts.h"
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
    "finetune or train --head conv run its training curves; for an advise run the 2x2 table with the data set's cell,\n"
    "the next command, the probe-by-layer chart and the learning curve.\n"
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

/* The worst misclassified validation items (the most confident wrong predictions of the refitted
 * head), most confident first, with thumbnails of the images under the data set's root. */
static int worst_items(const cli_problem *cp, const fc_head *head, const char *dataset, fc_report_item *worst,
                       fc_error *err) {
    const fc_problem *pp = &cp->p;
    int n_worst = 0;
    root_find rf = {.name = dataset};
    fc_catalog_dataset_list(cp->cat, find_root, &rf, NULL);
    float *P = malloc((size_t)pp->k * sizeof(float));
    for (int i = 0; P && i < pp->n; i++) {
        if (pp->n_folds ? 0 : pp->role[i] != 1) continue;
        if (fc_head_predict_proba(head, pp->x + (size_t)i * pp->d, 1, pp->d, P, 1, err)) break;
        int pred = fc_metrics_argmax(P, pp->k);
        if (pred == pp->y[i]) continue;
        fc_report_item it = {.path = cp->fs.paths[i], .true_label = pp->y[i], .predicted_label = pred, .probability = P[pred]};
        int at = n_worst < N_WORST ? n_worst++ : N_WORST - 1;
        if (at == N_WORST - 1 && n_worst == N_WORST && worst[at].probability >= it.probability) continue;
        worst[at] = it;
        for (int q = at; q > 0 && worst[q].probability > worst[q - 1].probability; q--) {
            fc_report_item t = worst[q]; worst[q] = worst[q - 1]; worst[q - 1] = t;
        }
    }
    free(P);
    for (int w = 0; w < n_worst; w++) {
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", rf.root, worst[w].path);
        uint8_t *png = NULL;
        size_t size = 0;
        fc_error terr;
        if (fc_thumbnail_png(path, 96, &png, &size, &terr) == 0) {
            worst[w].thumbnail = png;
            worst[w].thumbnail_size = size;
        }
    }
    return n_worst;
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

/* The validation metrics of a recorded result (from its confusion matrix) and its class names
 * (*classes, *k; the caller frees them). */
static int recorded_metrics(const run_copy *run, fc_metrics *m, char ***classes, int *k, fc_error *err) {
    *classes = NULL;
    *k = 0;
    if (!run->result || fc_json_get_strings(run->result, "classes", classes, k) || *k < 2)
        return fc_fail(err, FC_EFORMAT, "run #%lld: no recorded result to report (did it finish?)", (long long)run->id);
    int *conf = recorded_confusion(run->result, *k);
    int rc = conf ? fc_metrics_from_confusion(m, conf, *k, *k < 5 ? *k : 5, /* train records top-5 (clamped) */
                                              field(run->result, "top5"), field(run->result, "log_loss"), err)
                  : fc_fail(err, FC_EFORMAT, "run #%lld: malformed confusion matrix", (long long)run->id);
    free(conf);
    return rc;
}

static void free_names(char **names, int k) {
    for (int i = 0; i < k; i++) free(names[i]);
    free(names);
}

/* A fine-tuning or conv-head run's page from what the catalog recorded: its metrics (from the
 * confusion matrix) and its curves; nothing is retrained (its net lives in the files it wrote). */
static int finetune_page(const run_copy *self, const char *out, fc_error *err) {
    char **classes = NULL, dataset[256] = "", cut[256] = "", conv[128] = "", head[512];
    int k = 0, n_epochs = 0, rc;
    fc_metrics m = {0};
    fc_report_epoch *epochs = recorded_epochs(self->result, &n_epochs);
    rc = recorded_metrics(self, &m, &classes, &k, err);
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
    if (!rc) rc = fc_report_write_html(&in, out, err);
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

int cmd_report(int argc, char **argv) {
    const char *out = NULL, *cache_opt = NULL;
    int run_id = 0, rc = parse_args(argc, argv, &run_id, &out, &cache_opt);
    if (rc >= 0) return rc;
    fc_error err = {0};
    const char *dir = cli_cache_dir(cache_opt);
    cli_problem cp = {0};
    run_list runs = {.r = calloc(MAX_RUNS, sizeof(run_copy))};
    int *group = calloc(MAX_RUNS, sizeof *group);
    fc_train_result r = {0};
    fc_report_config *configs = NULL;
    fc_report_param *params = NULL;
    fc_report_item worst[N_WORST];
    int n_worst = 0, n_group = 0, n_conv_classes = 0;
    char **descs = NULL, **conv_classes = NULL;
    memset(worst, 0, sizeof worst);
    rc = EXIT_FAIL;
    if (!runs.r || !group) { fc_fail(&err, FC_ENOMEM, "out of memory"); goto done; }
    if (cli_problem_open(&cp, dir, 0, &err) || fc_catalog_run_list(cp.cat, copy_run, &runs, &err)) goto done;
    int self = -1;
    for (int i = 0; i < runs.n; i++) if (runs.r[i].id == run_id) self = i;
    if (self < 0 || !runs.r[self].params) {
        fc_fail(&err, FC_EINVAL, "no train or sweep run #%d in %s (featcache ls lists runs)", run_id, dir);
        goto done;
    }
    if (field(runs.r[self].params, "advise") == 1) {
        rc = advice_page(&runs.r[self], out, &err) ? EXIT_FAIL : EXIT_OK;
        goto done;
    }
    if (field(runs.r[self].params, "finetune") == 1 || field(runs.r[self].params, "conv_head") == 1) {
        rc = finetune_page(&runs.r[self], out, &err) ? EXIT_FAIL : EXIT_OK;
        goto done;
    }
    int64_t sweep_id;
    n_group = sweep_group(&runs, self, run_id, group, &sweep_id);
    int best = 0;
    for (int g = 1; g < n_group; g++)
        if (field(runs.r[group[g]].result, "val_accuracy") > field(runs.r[group[best]].result, "val_accuracy")) best = g;
    /* the best configuration refitted: the page's metrics and worst items */
    const char *bp = runs.r[group[best]].params;
    char dataset[256], extractor[65], view[32] = "orig";
    fc_head_config cfg;
    fc_split_spec split;
    if (fc_json_get_string(bp, "dataset", dataset, sizeof dataset) ||
        fc_json_get_string(bp, "extractor", extractor, sizeof extractor)) {
        fc_fail(&err, FC_EFORMAT, "run #%lld: parameters lack the data set or extractor", (long long)runs.r[group[best]].id);
        goto done;
    }
    fc_json_get_string(bp, "view", view, sizeof view);
    cli_extractor x; /* the run's features: its data set, extractor, view and views */
    cli_extractor_init(&x);
    snprintf(x.dataset, sizeof x.dataset, "%s", dataset);
    snprintf(x.id, sizeof x.id, "%s", extractor);
    for (int v = 0; v < FC_N_VIEWS; v++) if (!strcmp(view, fc_view_name(v))) x.view = v;
    char model[4096] = "MODEL";
    fc_json_get_string(bp, "model", model, sizeof model);
    x.model = model;
    cli_views_from_json(bp, &x);
    if (fc_head_config_from_json(bp, &cfg, &split, &err)) goto done;
    if (cfg.kind == FC_HEAD_CONV) { /* minutes to train again: its recorded metrics, no worst images */
        if (recorded_metrics(&runs.r[group[best]], &r.val, &conv_classes, &n_conv_classes, &err)) goto done;
        fc_json_get_string(runs.r[group[best]].result, "info", r.info, sizeof r.info);
    } else {
        if (cli_problem_load(&cp, &x, &split, &err) || fc_train(&cfg, &cp.p, 0, &r, &err)) goto done;
        n_worst = worst_items(&cp, &r.head, dataset, worst, &err);
    }
    configs = calloc((size_t)n_group, sizeof *configs);
    params = calloc((size_t)n_group * 6, sizeof *params);
    descs = calloc((size_t)n_group, sizeof *descs);
    if (!configs || !params || !descs) { fc_fail(&err, FC_ENOMEM, "out of memory"); goto done; }
    sweep_table(&runs, group, n_group, configs, params, descs);
    int is_sweep = runs.r[self].kind == FC_RUN_SWEEP;
    int64_t shown_id = is_sweep ? sweep_id : run_id;
    page_text text;
    page_text_fill(&text, &runs.r[self], shown_id, dataset, bp, extractor, descs[best], r.info);
    fc_report_input in = {.title = text.title, .kind = is_sweep ? FC_REPORT_SWEEP : FC_REPORT_RUN, .dataset = dataset,
                          .model = text.model, .head = text.head, .created = text.created, .metric_name = "accuracy",
                          .val_metrics = &r.val,
                          .class_names = (const char *const *)(conv_classes ? conv_classes : cp.p.classes),
                          .n_classes = conv_classes ? n_conv_classes : cp.p.k,
                          .configs = configs, .n_configs = n_group, .best = best, .curve_param = "l2",
                          .worst = worst, .n_worst = n_worst};
    if (fc_report_write_html(&in, out, &err)) goto done;
    printf("report for %s #%lld (%d configuration%s, %d misclassified shown) written to %s\n", is_sweep ? "sweep" : "run",
           (long long)shown_id, n_group, n_group == 1 ? "" : "s", n_worst, out);
    rc = EXIT_OK;
done:
    if (rc) fprintf(stderr, "featcache report: %s\n", err.msg);
    for (int w = 0; w < n_worst; w++) free((void *)worst[w].thumbnail);
    if (descs) for (int g = 0; g < n_group; g++) free(descs[g]);
    free(descs);
    free(configs);
    free(params);
    for (int i = 0; i < runs.n; i++) { free(runs.r[i].params); free(runs.r[i].result); }
    free(runs.r);
    free(group);
    fc_train_result_free(&r);
    free_names(conv_classes, n_conv_classes);
    cli_problem_close(&cp);
    return rc;
}
