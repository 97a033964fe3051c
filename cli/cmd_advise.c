/* `featcache advise`: measures a data set against a backbone and says which recipe to run next.
 * One extraction pass stores the feature tensor and the global average of 2-3 earlier maps (their
 * own extractors: a second advise computes nothing); then k-fold linear probes at every layer, the
 * items per class and a learning curve at the best layer place the data set in the lecture's 2x2
 * table (classify/advise.h), printed with its cell marked, the evidence and the exact next
 * command. The run is recorded: `featcache report RUN` draws the advice and the curves.
 * Not here: the measurements (classify/probe.h), the decision and the command (classify/advise.h). */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "classify/classify.h"
#include "cli/cli.h"
#include "cli/advise_out.h"
#include "cli/extractor_opts.h"
#include "cli/head_opts.h"
#include "core/core.h"
#include "engine/engine.h"
#include "extract/extract.h"
#include "store/store.h"

static const char *usage_text =
    "usage: featcache advise DATASET --model M.onnx [options]\n"
    "Measures, in one extraction pass, k-fold linear-probe accuracy at the feature tensor and at 2-3\n"
    "earlier layers (global average of each map), the items per class and a learning curve (25, 50\n"
    "and 100% of the training items), places DATASET in the 2x2 table (small/big data x similar/\n"
    "different domain) and prints the table with its cell marked, the evidence and the next command:\n"
    "train a head, finetune --cut X, train --head conv --layer X (new conv blocks on an earlier map),\n"
    "or collect more data. Features stay in the cache (a second advise computes nothing); the run is\n"
    "recorded (featcache report RUN draws it).\n\n"
    "  --model PATH        ONNX backbone (required)\n"
    "  --layers L          auto (default: the output of each of the last three stages below the\n"
    "                      feature) or a comma-separated list of cuts (featcache cuts lists them)\n"
    "  --size N, --crop F, --preprocess NAME, --grayscale, --exif-orientation apply|ignore\n"
    "                      as extract (defaults as in extract)\n"
    "  --folds K           k of the k-fold probes (default 5)\n"
    "  --threads N         threads (default: all cores)\n"
    "  --cache DIR, --name NAME   as extract\n"
    "  --quiet             no progress\n"
    "  --json              one JSON object: recommendation, command, evidence\n"
    "Exit status: 0 ok, 3 advice given but some images were bad, 1 error, 64 usage.\n";

/* Fills a from the command line; returns -1 to go on, else the exit status. */
static int parse_args(int argc, char **argv, cli_advise_args *a) {
    static const struct option opts[] = {
        {"model", required_argument, 0, 1001}, {"size", required_argument, 0, 1003},
        {"crop", required_argument, 0, 1004}, {"preprocess", required_argument, 0, 1005},
        {"cache", required_argument, 0, 1008}, {"name", required_argument, 0, 1009},
        {"grayscale", no_argument, 0, 1010}, {"compute", required_argument, 0, 1012}, {"exif-orientation", required_argument, 0, 1013}, {"layers", required_argument, 0, 'L'}, {"folds", required_argument, 0, 'k'},
        {"threads", required_argument, 0, 't'}, {"quiet", no_argument, 0, 'q'},
        {"json", no_argument, 0, 'j'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    memset(a, 0, sizeof *a);
    cli_extractor_init(&a->x);
    a->folds = 5;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        int r = cli_extractor_option("advise", c, optarg, &a->x);
        if (r < 0) return EXIT_USAGE;
        if (r > 0) continue;
        switch (c) {
        case 'L': a->layers = optarg; break;
        case 'k': if (cli_int("advise", "folds", optarg, 2, 20, &a->folds)) return EXIT_USAGE; break;
        case 't': if (cli_int("advise", "threads", optarg, 1, 1024, &a->threads)) return EXIT_USAGE; break;
        case 'q': a->quiet = 1; break;
        case 'j': a->json = 1; break;
        case 'h': fputs(usage_text, stdout); return EXIT_OK;
        default: fputs(usage_text, stderr); return EXIT_USAGE;
        }
    }
    if (!a->x.model || optind != argc - 1) {
        fprintf(stderr, "featcache advise: %s\n\n%s", !a->x.model ? "--model is required" : "give exactly one DATASET",
                usage_text);
        return EXIT_USAGE;
    }
    a->dataset = argv[optind];
    if (a->x.name && *a->x.name) snprintf(a->x.dataset, sizeof a->x.dataset, "%s", a->x.name); /* as extract names it */
    else fc_dataset_default_name(a->dataset, a->x.dataset, sizeof a->x.dataset);
    return -1;
}

/* The last boundary cut (else the last cut) of each resolution of rank-3 cuts with parameters
 * above them (a cut right below the feature, pooled, would be the feature again), input side
 * first: the stages' outputs. The last three go to p. */
static void pick_auto(cli_advise_plan *p) {
    const fc_cut_list *l = &p->cuts;
    int stage[64], n = 0;
    for (int i = 0; i < l->n; i++) {
        const fc_cut *c = &l->cuts[i];
        if (c->rank != 3 || c->params_above == 0) continue;
        int same = n > 0 && l->cuts[stage[n - 1]].dims[1] == c->dims[1] && l->cuts[stage[n - 1]].dims[2] == c->dims[2];
        if (!same && n < 64) stage[n++] = i;
        else if (same && (c->boundary || !l->cuts[stage[n - 1]].boundary)) stage[n - 1] = i;
    }
    for (int s = n > 3 ? n - 3 : 0; s < n; s++) p->cut[p->n++] = stage[s];
}

/* --layers L1,L2,...: each a cut of the model, kept in the model's order. */
static int pick_listed(cli_advise_plan *p, const char *list, fc_error *err) {
    const fc_cut_list *l = &p->cuts;
    char *copy = strdup(list), *save = NULL;
    if (!copy) return fc_fail(err, FC_ENOMEM, "out of memory");
    int rc = 0, *chosen = calloc((size_t)l->n + 1, sizeof *chosen);
    if (!chosen) rc = fc_fail(err, FC_ENOMEM, "out of memory");
    for (char *w = strtok_r(copy, ",", &save); w && rc == 0; w = strtok_r(NULL, ",", &save)) {
        if (!strcmp(w, l->feature)) continue; /* probed anyway */
        int at = -1;
        for (int i = 0; i < l->n && at < 0; i++)
            if (!strcmp(l->cuts[i].name, w)) at = i;
        if (at < 0)
            rc = fc_fail(err, FC_EINVAL, "unknown layer '%s': not a cut of the model below its feature '%s' "
                         "(featcache cuts --model M lists them)", w, l->feature);
        else chosen[at] = 1;
    }
    for (int i = 0; rc == 0 && i < l->n; i++) {
        if (!chosen[i]) continue;
        if (p->n == FC_ADVISE_MAX_LAYERS - 1)
            rc = fc_fail(err, FC_EINVAL, "--layers: at most %d layers besides the feature", FC_ADVISE_MAX_LAYERS - 1);
        else p->cut[p->n++] = i;
    }
    free(copy);
    free(chosen);
    return rc;
}

/* The cuts of the model at the input size, the layers to probe (earlier ones pooled when they are
 * maps, then the feature) and the cut at the input of the last three blocks. */
static int plan_layers(const cli_advise_args *a, cli_advise_plan *p, fc_error *err) {
    int rc = fc_model_cuts(a->x.model, NULL, a->x.size, &p->cuts, err);
    if (rc) return rc;
    if (a->layers && strcmp(a->layers, "auto")) rc = pick_listed(p, a->layers, err);
    else pick_auto(p);
    if (rc) return rc;
    for (int i = 0; i < p->n; i++) {
        const fc_cut *c = &p->cuts.cuts[p->cut[i]];
        p->names[i] = c->name;
        p->pools[i] = c->rank == 3 ? FC_POOL_AVG : FC_POOL_NONE;
    }
    p->names[p->n] = p->cuts.feature;
    p->pools[p->n++] = FC_POOL_NONE;
    for (int i = 0; i < p->cuts.n; i++)
        if (p->cuts.cuts[i].block_input == 3) p->last3 = p->cuts.cuts[i].name;
    return 0;
}

/* One extraction pass: every layer of the plan, f32, the original view. */
static int extract_layers(const cli_advise_args *a, const cli_advise_plan *p, fc_extract_result *res, fc_error *err) {
    cli_progress ps = {.show = !a->quiet && !a->json && isatty(2), .last = -1};
    fc_extract_options o = {
        .extractor = {.model = a->x.model, .layers = p->names, .n_layers = p->n, .pools = p->pools,
                      .size = a->x.size, .crop = (float)a->x.crop, .preset = a->x.preset, .gray = a->x.gray, .compute = a->x.compute,
                      .exif = a->x.exif, .dtype = FC_DTYPE_F32},
        .dataset = {.path = a->dataset, .name = a->x.name},
        .cache = {.dir = cli_cache_dir(a->x.cache)},
        .compute = {.threads = a->threads},
        .control = {.progress = cli_progress_show, .user = &ps}};
    if (!a->quiet) fprintf(stderr, "advise: extracting %d layer%s of %s\n", p->n, p->n > 1 ? "s" : "", a->dataset);
    int rc = fc_extract_run(&o, res, err);
    if (ps.show) fputc('\n', stderr);
    if (!rc && !a->quiet)
        fprintf(stderr, "advise: %zu items (%zu computed, %zu cached, %zu bad) in %.1f s\n", res->counts.total,
                res->counts.computed, res->counts.cached, res->counts.bad, res->counts.seconds);
    return rc;
}

/* Items per class over the items the probes use: the minimum and the median. FC_EINVAL ("too few
 * items", naming the class) below FC_ADVISE_MIN_PER_CLASS, before any probe runs. */
static int per_class(const fc_problem *p, fc_advise_evidence *e, fc_error *err) {
    int *count = calloc((size_t)p->k, sizeof *count), *sorted = calloc((size_t)p->k, sizeof *sorted), small = 0;
    if (!count || !sorted) { free(count); free(sorted); return fc_fail(err, FC_ENOMEM, "out of memory"); }
    e->n_items = 0;
    for (int i = 0; i < p->n; i++)
        if (p->role[i] >= 0) count[p->y[i]]++, e->n_items++;
    for (int c = 0; c < p->k; c++) {
        if (count[c] < count[small]) small = c;
        int j = c; /* insertion sort: k is small */
        for (; j > 0 && sorted[j - 1] > count[c]; j--) sorted[j] = sorted[j - 1];
        sorted[j] = count[c];
    }
    e->n_classes = p->k;
    e->min_per_class = sorted[0];
    e->median_per_class = sorted[p->k / 2];
    int rc = count[small] >= FC_ADVISE_MIN_PER_CLASS ? 0 :
        fc_fail(err, FC_EINVAL, "too few items: class '%s' has %d labeled item%s; advise needs at least %d per class",
                p->classes[small], count[small], count[small] == 1 ? "" : "s", FC_ADVISE_MIN_PER_CLASS);
    free(count);
    free(sorted);
    return rc;
}

/* Layer l's cached values as a k-fold problem. */
static int load_layer(const cli_advise_args *a, const fc_extract_result *res, int l, cli_problem *cp, fc_error *err) {
    fc_split_spec split = {.kind = FC_SPLIT_KFOLD, .folds = a->folds};
    fc_featureset_free(&cp->fs);
    fc_problem_free(&cp->p);
    int rc = fc_featureset_load(cp->cat, cp->cache, a->x.dataset, res->extractor[l], FC_VIEW_ORIG, &cp->fs, err);
    if (!rc)
        rc = fc_problem_build(cp->fs.x, 1, (int)cp->fs.n, (int)cp->fs.dim, cp->fs.labels, cp->fs.splits, cp->fs.paths,
                              (const uint8_t(*)[32])cp->fs.hashes, &split, &cp->p, err);
    return rc;
}

/* Probes every layer, then the learning curve at the best one. */
static int measure(const cli_advise_args *a, const cli_advise_plan *p, const fc_extract_result *res, cli_problem *cp,
                   fc_advise_evidence *e, fc_error *err) {
    memset(e, 0, sizeof *e);
    e->n_layers = p->n;
    int rc = 0, best = 0;
    double n_train = 0; /* per fold, the same for every layer (the same items) */
    for (int l = 0; l < p->n && rc == 0; l++) {
        fc_advise_layer *L = &e->layers[l];
        fc_probe_result r;
        if ((rc = load_layer(a, res, l, cp, err))) break;
        if (l == 0 && (rc = per_class(&cp->p, e, err))) break;
        if (!a->quiet) fprintf(stderr, "advise: probing %s (%d features, %d folds)\n", p->names[l], cp->p.d, a->folds);
        if ((rc = fc_probe_kfold(&cp->p, (const uint8_t(*)[32])cp->fs.hashes, 1.0, a->threads, &r, err))) break;
        *L = (fc_advise_layer){.pooled = p->pools[l] == FC_POOL_AVG, .dim = cp->p.d, .accuracy = r.accuracy,
                               .std = r.fold_std, .l2 = r.l2};
        memcpy(L->fold_accuracy, r.fold_accuracy, sizeof r.fold_accuracy);
        e->folds = r.n_folds; /* the same for every layer: the same items */
        snprintf(L->name, sizeof L->name, "%s", p->names[l]);
        if (r.accuracy >= e->layers[best].accuracy) best = l;
        n_train = r.n_train;
    }
    if (rc) return rc;
    e->curve_layer = best;
    static const double fractions[FC_ADVISE_CURVE] = {0.25, 0.5, 1.0};
    if ((rc = load_layer(a, res, best, cp, err))) return rc;
    if (!a->quiet) fprintf(stderr, "advise: learning curve at %s\n", p->names[best]);
    for (int f = 0; f < FC_ADVISE_CURVE && rc == 0; f++) {
        fc_probe_result r;
        e->curve_fraction[f] = fractions[f];
        if (fractions[f] == 1.0) r = (fc_probe_result){.accuracy = e->layers[best].accuracy, .n_train = n_train};
        else rc = fc_probe_kfold(&cp->p, (const uint8_t(*)[32])cp->fs.hashes, fractions[f], a->threads, &r, err);
        e->curve_accuracy[f] = r.accuracy;
        e->curve_train[f] = r.n_train;
    }
    return rc;
}

int cmd_advise(int argc, char **argv) {
    cli_advise_args a;
    int st = parse_args(argc, argv, &a);
    if (st >= 0) return st;
    cli_advise_plan plan = {0};
    fc_extract_result res;
    fc_advise_evidence e;
    fc_advice adv;
    cli_problem cp = {0};
    fc_strbuf cmd = {0};
    fc_error err = {0};
    int rc = plan_layers(&a, &plan, &err);
    if (!rc) rc = extract_layers(&a, &plan, &res, &err);
    if (!rc) rc = cli_problem_open(&cp, cli_cache_dir(a.x.cache), 1, &err);
    if (!rc) rc = measure(&a, &plan, &res, &cp, &e, &err);
    if (!rc) rc = fc_advise_decide(&e, &adv, &err);
    if (!rc) rc = cli_advise_command(&a, &plan, &adv, &e, &cmd, &err);
    int64_t run_id = 0;
    if (!rc) cli_advise_record(&a, &cp, &res, &adv, &e, cmd.s, &run_id);
    if (!rc && a.json) cli_advise_print_json(stdout, &adv, &e, cmd.s, run_id);
    else if (!rc) cli_advise_print_text(stdout, &a, &adv, &e, cmd.s, run_id);
    if (rc) fprintf(stderr, "featcache advise: %s\n", err.msg);
    fc_strbuf_free(&cmd);
    cli_problem_close(&cp);
    fc_cut_list_free(&plan.cuts);
    return rc ? EXIT_FAIL : res.counts.bad ? EXIT_PARTIAL : EXIT_OK;
}
