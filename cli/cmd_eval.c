/* `featcache eval`: metrics of one head or an ensemble on a data set's cached features. An
 * ensemble averages the probabilities of heads trained on the same classes, possibly on different
 * backbones' features (each head reads the features of the extractor its file records). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "classify/classify.h"
#include "cli/cli.h"
#include "cli/extractor_opts.h"
#include "cli/head_file.h"
#include "core/core.h"
#include "extract/extract.h"
#include "store/store.h"

static const char *usage_text =
    "usage: featcache eval DATASET --head HEAD.onnx [--head B.onnx ...] [options]\n"
    "Evaluates a head (or the average of several) on DATASET's cached features: accuracy, balanced\n"
    "accuracy, top-k, log-loss, per-class precision/recall/F1 and the confusion matrix.\n\n"
    "  --head PATH         head file from featcache train, or a classifier from featcache finetune\n"
    "                      or train --head conv (read from its cached cut activations or map; also a\n"
    "                      conv head's head-only file); repeat for an ensemble\n"
    "  --split S           val (default), train, test or all\n"
    "  --top K             top-k accuracy (default 5)\n"
    "  --cache DIR         cache folder (default $FEATCACHE_HOME, else ./.featcache)\n"
    "  --name NAME         catalog name of the data set (default: DATASET's folder name)\n"
    "  --json              JSON on stdout\n"
    "  --strict            a data set whose last extract did not finish is an error (default: a\n"
    "                      warning, the items it has are evaluated, exit status 3)\n"
    "  --force             evaluate a head on features of a backbone that changed since it was\n"
    "                      trained (the data set was extracted only with the changed file); without\n"
    "                      it such a head is refused, naming both fingerprints\n";

typedef struct eval_args {
    const char *heads_path[CLI_MAX_HEADS], *split, *cache_opt, *name;
    int n_heads, top, json, force, strict;
} eval_args;

/* Fills a from the command line; returns -1 to go on, else the exit status. */
static int parse_args(int argc, char **argv, eval_args *a) {
    static const struct option opts[] = {{"head", required_argument, 0, 'H'}, {"split", required_argument, 0, 'S'},
                                         {"top", required_argument, 0, 'k'}, {"cache", required_argument, 0, 'C'},
                                         {"name", required_argument, 0, 'n'}, {"json", no_argument, 0, 'j'},
                                         {"force", no_argument, 0, 'f'}, {"strict", no_argument, 0, 's'},
                                         {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'H':
            if (a->n_heads == CLI_MAX_HEADS) { fprintf(stderr, "featcache eval: at most %d heads\n", CLI_MAX_HEADS); return EXIT_USAGE; }
            a->heads_path[a->n_heads++] = optarg;
            break;
        case 'S': a->split = optarg; break;
        case 'k': if (cli_int("eval", "top", optarg, 1, 100, &a->top)) return EXIT_USAGE; break;
        case 'C': a->cache_opt = optarg; break;
        case 'n': a->name = optarg; break;
        case 'j': a->json = 1; break;
        case 'f': a->force = 1; break;
        case 's': a->strict = 1; break;
        case 'h': fputs(usage_text, stdout); return EXIT_OK;
        default: fputs(usage_text, stderr); return EXIT_USAGE;
        }
    }
    if (!a->n_heads || optind != argc - 1) {
        fprintf(stderr, "featcache eval: %s\n\n%s", !a->n_heads ? "--head is required" : "give exactly one DATASET", usage_text);
        return EXIT_USAGE;
    }
    if (strcmp(a->split, "val") && strcmp(a->split, "train") && strcmp(a->split, "test") && strcmp(a->split, "all")) {
        fprintf(stderr, "featcache eval: --split wants val, train, test or all, not '%s'\n", a->split);
        return EXIT_USAGE;
    }
    return -1;
}

/* rows[0..*sel) = the items of fs in split, y = their class in head's classes. FC_EINVAL for an
 * unlabeled item or a class the head does not know. */
static int select_rows(const fc_featureset *fs, const fc_head *head, const char *split, const char *dataset,
                       size_t *rows, int *y, size_t *sel, fc_error *err) {
    *sel = 0;
    for (size_t i = 0; i < fs->n; i++) {
        if (strcmp(split, "all") && strcmp(fs->splits[i], split)) continue;
        int cls = -1;
        for (int k = 0; k < head->n_classes; k++)
            if (!strcmp(fs->labels[i], head->class_names[k])) cls = k;
        if (!fs->labels[i][0]) return fc_fail(err, FC_EINVAL, "%s has no label: eval needs labeled items", fs->paths[i]);
        if (cls < 0)
            return fc_fail(err, FC_EINVAL, "%s has label '%s', a class the head does not know", fs->paths[i],
                           fs->labels[i]);
        y[*sel] = cls;
        rows[(*sel)++] = i;
    }
    if (!*sel) return fc_fail(err, FC_EINVAL, "data set '%s' has no items in split '%s' (try --split all)", dataset, split);
    return 0;
}

/* P (sel, K) += each head's probabilities on its features of the selected rows / n_heads. */
static int ensemble_proba(const cli_head_file *heads, const fc_featureset *fs, int n_heads, const size_t *rows,
                          size_t sel, float *P, fc_error *err) {
    size_t K = (size_t)heads[0].head.n_classes;
    float *Pi = malloc((sel * K + 1) * sizeof *Pi), *X = NULL;
    int rc = Pi ? 0 : fc_fail(err, FC_ENOMEM, "out of memory");
    for (int h = 0; h < n_heads && rc == 0; h++) {
        if (fs[h].n != fs[0].n) { rc = fc_fail(err, FC_EINVAL, "%s: the heads' feature sets have different items", heads[h].path); break; }
        float *Xh = realloc(X, (sel * fs[h].dim + 1) * sizeof *X);
        if (!Xh) { rc = fc_fail(err, FC_ENOMEM, "out of memory"); break; }
        X = Xh;
        for (size_t r = 0; r < sel; r++) memcpy(X + r * fs[h].dim, fs[h].x + rows[r] * fs[h].dim, fs[h].dim * sizeof(float));
        if (fs[h].dim != cli_head_file_input_size(&heads[h])) {
            rc = fc_fail(err, FC_ESHAPE, "%s reads %zu values per item, the cache holds %zu", heads[h].path,
                         cli_head_file_input_size(&heads[h]), fs[h].dim);
            break;
        }
        if ((rc = cli_head_file_proba(&heads[h], X, (int)sel, Pi, 0, err))) break;
        for (size_t q = 0; q < sel * K; q++) P[q] += Pi[q] / n_heads;
    }
    free(X);
    free(Pi);
    return rc;
}

/* Which of the data set's extractors head h reads: its own, or (the data set was extracted only
 * with a backbone that changed since h was trained) that one's, with --force; refused without. */
static int head_extractor(fc_catalog *cat, const char *dataset, cli_head_file *h, int force, fc_error *err) {
    int64_t ds_id;
    char id[65], model[4096], fp[65];
    int rc = fc_catalog_dataset_find(cat, dataset, &ds_id, err);
    if (rc <= 0) return rc; /* no such data set: loading its features says so */
    if ((rc = cli_head_rebased(cat, ds_id, h, id, model, fp, err)) <= 0) return rc;
    if (!force)
        return fc_fail(err, FC_EINVAL, "%s was trained on the features of %s (fingerprint %.12s); data set '%s' was "
                       "extracted with %s (fingerprint %.12s) instead: the backbone changed under the head; --force "
                       "to evaluate it on those features", h->path, h->model, h->model_sha, dataset, model, fp);
    fprintf(stderr, "featcache eval: --force: %s (trained on fingerprint %.12s) reads the features of %s (fingerprint "
            "%.12s)\n", h->path, h->model_sha, model, fp);
    memcpy(h->extractor, id, sizeof id);
    return 0;
}

static void print_json(const char *dataset, const char *split, int n_heads, const fc_metrics *m, char **classes) {
    int K = m->k;
    fc_strbuf j = {0};
    fc_strbuf_printf(&j, "{\"dataset\":");
    fc_strbuf_json(&j, dataset);
    fc_strbuf_printf(&j, ",\"split\":\"%s\",\"heads\":%d,\"n\":%d,\"accuracy\":%.6g,\"balanced_accuracy\":%.6g,"
                         "\"top_k\":%d,\"top_k_accuracy\":%.6g,\"log_loss\":%.6g,\"macro_f1\":%.6g,\"per_class\":[",
                     split, n_heads, m->n, m->accuracy, m->balanced_accuracy, m->top_k, m->top_k_accuracy, m->log_loss, m->macro_f1);
    for (int k = 0; k < K; k++) {
        fc_strbuf_printf(&j, "%s{\"class\":", k ? "," : "");
        fc_strbuf_json(&j, classes[k]);
        fc_strbuf_printf(&j, ",\"precision\":%.4f,\"recall\":%.4f,\"f1\":%.4f,\"support\":%d}", m->per_class[k].precision,
                         m->per_class[k].recall, m->per_class[k].f1, m->per_class[k].support);
    }
    fc_strbuf_printf(&j, "],\"confusion\":[");
    for (int t = 0; t < K; t++) {
        fc_strbuf_printf(&j, "%s[", t ? "," : "");
        for (int q = 0; q < K; q++) fc_strbuf_printf(&j, "%s%d", q ? "," : "", m->confusion[t * K + q]);
        fc_strbuf_printf(&j, "]");
    }
    fc_strbuf_printf(&j, "]}");
    puts(j.s);
    fc_strbuf_free(&j);
}

static void print_text(const char *dataset, const char *split, int n_heads, const fc_metrics *m, char **classes) {
    int K = m->k;
    printf("%s, split %s: %d items, %d head%s\n", dataset, split, m->n, n_heads, n_heads > 1 ? "s (averaged)" : "");
    printf("accuracy %.4f  balanced %.4f  top-%d %.4f  log-loss %.4f  macro-F1 %.4f\n", m->accuracy, m->balanced_accuracy,
           m->top_k, m->top_k_accuracy, m->log_loss, m->macro_f1);
    printf("%-20s %9s %9s %9s %8s\n", "class", "precision", "recall", "f1", "support");
    for (int k = 0; k < K; k++)
        printf("%-20s %9.4f %9.4f %9.4f %8d\n", classes[k], m->per_class[k].precision, m->per_class[k].recall,
               m->per_class[k].f1, m->per_class[k].support);
    printf("confusion (rows = true, columns = predicted):\n");
    for (int t = 0; t < K; t++) {
        printf("  %-18s", classes[t]);
        for (int q = 0; q < K; q++) printf(" %6d", m->confusion[t * K + q]);
        putchar('\n');
    }
}

int cmd_eval(int argc, char **argv) {
    eval_args a = {.split = "val", .top = 5};
    int rc = parse_args(argc, argv, &a);
    if (rc >= 0) return rc;
    fc_error err = {0};
    cli_head_file heads[CLI_MAX_HEADS];
    memset(heads, 0, sizeof heads);
    fc_catalog *cat = NULL;
    fc_cache *cache = NULL;
    fc_featureset fs[CLI_MAX_HEADS];
    memset(fs, 0, sizeof fs);
    float *P = NULL;
    int *y = NULL, loaded = 0;
    size_t *rows = NULL, sel = 0;
    fc_metrics m = {0};
    char dataset[256];
    rc = EXIT_FAIL;
    if (a.name) snprintf(dataset, sizeof dataset, "%s", a.name);
    else fc_dataset_default_name(argv[optind], dataset, sizeof dataset);
    for (; loaded < a.n_heads; loaded++)
        if (cli_head_file_load(a.heads_path[loaded], &heads[loaded], &err)) goto done;
    if (cli_heads_same_classes(heads, a.n_heads, &err)) goto done;
    const char *dir = cli_cache_dir(a.cache_opt);
    if (fc_catalog_open(dir, FC_CATALOG_RDONLY, 0, &cat, &err) || fc_cache_open(dir, FC_CACHE_RDONLY, NULL, &cache, &err))
        goto done;
    int incomplete = 0;
    for (int h = 0; h < a.n_heads; h++) {
        char what[300];
        snprintf(what, sizeof what, "layer %s", heads[h].layer);
        int unfinished = head_extractor(cat, dataset, &heads[h], a.force, &err);
        if (!unfinished) unfinished = cli_extract_check(cat, "eval", dataset, heads[h].extractor, what, a.strict, &err);
        if (unfinished < 0 || fc_featureset_load(cat, cache, dataset, heads[h].extractor, heads[h].view, &fs[h], &err)) {
            fc_error_prefix(&err, "%s: ", heads[h].path);
            goto done;
        }
        incomplete |= unfinished;
    }
    size_t n = fs[0].n, K = (size_t)heads[0].head.n_classes;
    P = calloc(n * K + 1, sizeof *P);
    y = malloc((n + 1) * sizeof *y);
    rows = malloc((n + 1) * sizeof *rows);
    if (!P || !y || !rows) { fc_fail(&err, FC_ENOMEM, "out of memory"); goto done; }
    if (select_rows(&fs[0], &heads[0].head, a.split, dataset, rows, y, &sel, &err) ||
        ensemble_proba(heads, fs, a.n_heads, rows, sel, P, &err) ||
        fc_metrics_compute(&m, P, y, (int)sel, (int)K, a.top, &err))
        goto done;
    if (a.json) print_json(dataset, a.split, a.n_heads, &m, heads[0].head.class_names);
    else print_text(dataset, a.split, a.n_heads, &m, heads[0].head.class_names);
    rc = incomplete ? EXIT_PARTIAL : EXIT_OK;
done:
    if (rc == EXIT_FAIL) fprintf(stderr, "featcache eval: %s\n", err.msg);
    fc_metrics_free(&m);
    free(P); free(y); free(rows);
    for (int h = 0; h < a.n_heads; h++) fc_featureset_free(&fs[h]);
    for (int h = 0; h < loaded; h++) cli_head_file_free(&heads[h]);
    fc_cache_close(cache);
    fc_catalog_close(cat);
    return rc;
}
