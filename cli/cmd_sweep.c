/* `featcache sweep`: every combination of a hyperparameter grid, fitted on cached features in
 * parallel; softmax heads that differ only in l2 run as one warm-started regularization path.
 * Prints a table sorted by validation accuracy and the best configuration; each configuration is
 * recorded in the catalog as a sweep run. */
#include <getopt.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "classify/classify.h"
#include "cli/cli.h"
#include "cli/extractor_opts.h"
#include "cli/head_opts.h"
#include "core/core.h"

#define MAX_CONFIGS 4096
#define MAX_VALUES 256

static const char *usage_text =
    "usage: featcache sweep DATASET --model M.onnx --grid 'KEY=VALUES ...' [options]\n"
    "Fits every combination of the grid on DATASET's cached features, in parallel, and prints the\n"
    "configurations sorted by validation accuracy. Keys: head (softmax, mlp, ncm), l2, lr, hidden\n"
    "(512 or 512+256 for two layers), dropout, epochs, batch, seed, normalize (std, l2, none).\n"
    "VALUES: a comma list, or A..B:N for N values from A to B (log-spaced when both are > 0).\n"
    "Example: --grid 'head=softmax,mlp l2=1e-6..1e2:9 hidden=256,1024'\n\n" CLI_EXTRACTOR_HELP
    "  --grid TEXT         the grid (required)\n"
    "  --split S           folders (default), hash:0.2 (k-fold: use train)\n"
    "  --balanced          class weights for every configuration\n"
    "  --jobs J            configurations fitted at once (default: all cores)\n"
    "  --json              JSON on stdout\n";

typedef struct grid_key {
    char name[32];
    char values[MAX_VALUES][64];
    int n;
} grid_key;

/* Expands "a,b,c" or "A..B:N" into key->values. */
static int parse_values(const char *text, grid_key *key, fc_error *err) {
    const char *dots = strstr(text, "..");
    if (dots) {
        char *end;
        double a = strtod(text, &end), b;
        if (end != dots) return fc_fail(err, FC_EINVAL, "grid %s: bad range start in '%s'", key->name, text);
        b = strtod(dots + 2, &end);
        if (*end != ':') return fc_fail(err, FC_EINVAL, "grid %s: a range needs :N (e.g. 1e-6..1e2:9)", key->name);
        long n = strtol(end + 1, &end, 10);
        if (*end || n < 2 || n > MAX_VALUES) return fc_fail(err, FC_EINVAL, "grid %s: N must be 2..%d", key->name, MAX_VALUES);
        for (long i = 0; i < n; i++) {
            double t = (double)i / (n - 1);
            double v = a > 0 && b > 0 ? exp(log(a) + t * (log(b) - log(a))) : a + t * (b - a);
            snprintf(key->values[key->n++], sizeof key->values[0], "%.6g", v);
        }
        return 0;
    }
    const char *s = text;
    while (*s) {
        const char *c = strchr(s, ',');
        size_t len = c ? (size_t)(c - s) : strlen(s);
        if (!len || len >= sizeof key->values[0] || key->n == MAX_VALUES)
            return fc_fail(err, FC_EINVAL, "grid %s: bad value list '%s'", key->name, text);
        memcpy(key->values[key->n], s, len);
        key->values[key->n++][len] = 0;
        s += len + (c ? 1 : 0);
    }
    return key->n ? 0 : fc_fail(err, FC_EINVAL, "grid %s: no values", key->name);
}

static int parse_grid(const char *grid, grid_key *keys, int *n_keys, fc_error *err) {
    char *copy = strdup(grid), *save = NULL;
    int rc = 0;
    *n_keys = 0;
    for (char *tok = strtok_r(copy, " \t", &save); tok && rc == 0; tok = strtok_r(NULL, " \t", &save)) {
        char *eq = strchr(tok, '=');
        if (!eq || eq == tok || *n_keys == 16) { rc = fc_fail(err, FC_EINVAL, "grid: '%s' is not KEY=VALUES", tok); break; }
        grid_key *k = &keys[(*n_keys)++];
        memset(k, 0, sizeof *k);
        snprintf(k->name, sizeof k->name, "%.*s", (int)(eq - tok), tok);
        static const char *known[] = {"head", "l2", "lr", "hidden", "dropout", "epochs", "batch", "seed", "normalize"};
        int ok = 0;
        for (size_t i = 0; i < sizeof known / sizeof *known; i++) ok |= !strcmp(k->name, known[i]);
        if (!ok) { rc = fc_fail(err, FC_EINVAL, "grid: unknown key '%s'", k->name); break; }
        rc = parse_values(eq + 1, k, err);
    }
    free(copy);
    if (rc == 0 && *n_keys == 0) rc = fc_fail(err, FC_EINVAL, "grid: empty");
    return rc;
}

static int apply_value(fc_head_config *c, const char *key, const char *v, fc_error *err) {
    char *end = NULL;
    if (!strcmp(key, "head")) return fc_head_kind_parse(v, &c->kind, err);
    if (!strcmp(key, "normalize")) return fc_transform_parse(v, &c->normalize, err);
    if (!strcmp(key, "hidden")) {
        long a = strtol(v, &end, 10), b = 0;
        if (*end == '+') b = strtol(end + 1, &end, 10);
        if (*end || a < 1 || b < 0) return fc_fail(err, FC_EINVAL, "grid hidden: '%s' (use 512 or 512+256)", v);
        c->n_hidden = b ? 2 : 1;
        c->hidden[0] = (int)a;
        c->hidden[1] = (int)b;
        return 0;
    }
    double x = strtod(v, &end);
    if (*end || !isfinite(x) || x < 0) return fc_fail(err, FC_EINVAL, "grid %s: '%s' is not a number >= 0", key, v);
    if (!strcmp(key, "l2")) c->l2 = x;
    else if (!strcmp(key, "lr")) c->lr = x;
    else if (!strcmp(key, "dropout")) c->dropout = x;
    else if (!strcmp(key, "epochs")) c->epochs = (int)x;
    else if (!strcmp(key, "batch")) c->batch = (int)x;
    else if (!strcmp(key, "seed")) c->seed = (uint64_t)x;
    return 0;
}

/* Parameters a head kind does not use are reset so that duplicates collapse. */
static void canonical(fc_head_config *c, const fc_head_config *dflt) {
    if (c->kind != FC_HEAD_MLP) {
        c->lr = dflt->lr; c->epochs = dflt->epochs; c->batch = dflt->batch; c->dropout = dflt->dropout;
        c->seed = dflt->seed; c->n_hidden = dflt->n_hidden; c->hidden[0] = dflt->hidden[0]; c->hidden[1] = dflt->hidden[1];
    }
    if (c->kind == FC_HEAD_NCM) { c->l2 = 0; c->normalize = FC_TRANSFORM_L2; }
}

typedef struct job {
    int first, count; /* configs [first, first + count) fitted together (softmax path) or one */
} job;

typedef struct row { int index; double acc; } row;

static int cmp_row(const void *a, const void *b) {
    double x = ((const row *)a)->acc, y = ((const row *)b)->acc;
    if (x != y) return (x < y) - (x > y);
    return ((const row *)a)->index - ((const row *)b)->index;
}

int cmd_sweep(int argc, char **argv) {
    static const struct option opts[] = {CLI_EXTRACTOR_LONGOPTS, {"grid", required_argument, 0, 'g'},
                                         {"split", required_argument, 0, 'S'}, {"balanced", no_argument, 0, 'B'},
                                         {"jobs", required_argument, 0, 'J'}, {"json", no_argument, 0, 'j'},
                                         {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    cli_extractor x;
    cli_extractor_init(&x);
    fc_split_spec split = {.kind = FC_SPLIT_FOLDERS};
    const char *grid = NULL;
    int json = 0, jobs = 0, balanced = 0, c;
    fc_error err = {0};
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        int r = cli_extractor_option("sweep", c, optarg, &x);
        if (r < 0) return EXIT_USAGE;
        if (r > 0) continue;
        switch (c) {
        case 'g': grid = optarg; break;
        case 'S':
            if (fc_split_parse(optarg, &split, &err) || split.kind == FC_SPLIT_KFOLD) {
                fprintf(stderr, "featcache sweep: %s\n", split.kind == FC_SPLIT_KFOLD ? "k-fold is for train" : err.msg);
                return EXIT_USAGE;
            }
            break;
        case 'B': balanced = 1; break;
        case 'J': if (cli_int("sweep", "jobs", optarg, 1, 256, &jobs)) return EXIT_USAGE; break;
        case 'j': json = 1; break;
        case 'h': fputs(usage_text, stdout); return EXIT_OK;
        default: fputs(usage_text, stderr); return EXIT_USAGE;
        }
    }
    if (!x.model || !grid || optind != argc - 1) {
        fprintf(stderr, "featcache sweep: %s\n\n%s", !x.model ? "--model is required" : !grid ? "--grid is required" : "give exactly one DATASET", usage_text);
        return EXIT_USAGE;
    }
    /* expand the grid */
    static grid_key keys[16];
    int n_keys;
    if (parse_grid(grid, keys, &n_keys, &err)) { fprintf(stderr, "featcache sweep: %s\n", err.msg); return EXIT_USAGE; }
    fc_head_config dflt, *cfgs = malloc(MAX_CONFIGS * sizeof *cfgs);
    fc_head_config_init(&dflt);
    dflt.balanced = balanced;
    int n_cfg = 0, idx[16] = {0};
    for (;;) {
        fc_head_config cfg = dflt;
        for (int k = 0; k < n_keys; k++)
            if (apply_value(&cfg, keys[k].name, keys[k].values[idx[k]], &err)) {
                fprintf(stderr, "featcache sweep: %s\n", err.msg);
                free(cfgs);
                return EXIT_USAGE;
            }
        canonical(&cfg, &dflt);
        int dup = 0;
        for (int i = 0; i < n_cfg && !dup; i++) dup = !memcmp(&cfgs[i], &cfg, sizeof cfg);
        if (!dup) {
            if (n_cfg == MAX_CONFIGS) { fprintf(stderr, "featcache sweep: more than %d configurations\n", MAX_CONFIGS); free(cfgs); return EXIT_USAGE; }
            cfgs[n_cfg++] = cfg;
        }
        int k = 0;
        while (k < n_keys && ++idx[k] == keys[k].n) idx[k++] = 0;
        if (k == n_keys) break;
    }
    /* group softmax configs sharing normalize into paths; everything else is its own job */
    fc_head_config *ordered = malloc((size_t)n_cfg * sizeof *ordered);
    job *jl = malloc((size_t)n_cfg * sizeof *jl);
    int n_jobs = 0, n_ord = 0;
    char *taken = calloc((size_t)n_cfg, 1);
    for (int i = 0; i < n_cfg; i++) {
        if (taken[i]) continue;
        jl[n_jobs].first = n_ord;
        ordered[n_ord++] = cfgs[i];
        taken[i] = 1;
        if (cfgs[i].kind == FC_HEAD_SOFTMAX)
            for (int q = i + 1; q < n_cfg; q++)
                if (!taken[q] && cfgs[q].kind == FC_HEAD_SOFTMAX && cfgs[q].normalize == cfgs[i].normalize) {
                    ordered[n_ord++] = cfgs[q];
                    taken[q] = 1;
                }
        jl[n_jobs].count = n_ord - jl[n_jobs].first;
        n_jobs++;
    }
    free(taken);
    free(cfgs);

    const char *dir = cli_cache_dir(x.cache);
    cli_problem cp = {0};
    fc_problem *const pp = &cp.p;
    fc_train_result *res = calloc((size_t)n_ord, sizeof *res);
    int *ok = calloc((size_t)n_ord, sizeof *ok);
    fc_error *errs = calloc((size_t)n_ord, sizeof *errs);
    int rc = EXIT_FAILURE_;
    double t0 = omp_get_wtime();
    if (cli_problem_open(&cp, dir, 1, &err) || cli_extractor_resolve(&x, argv[optind], cp.cat, &err) ||
        cli_problem_load(&cp, x.dataset, x.id, x.view, &split, &err))
        goto done;
    fc_catalog *cat = cp.cat;
    double t_load = omp_get_wtime() - t0;
    if (!jobs) jobs = omp_get_max_threads();
    int inner = n_jobs < jobs ? jobs / n_jobs : 1; /* fewer jobs than cores: threads inside each fit */
    if (n_jobs < jobs) jobs = n_jobs;
#pragma omp parallel for num_threads(jobs) schedule(dynamic, 1)
    for (int j = 0; j < n_jobs; j++) {
        const job *b = &jl[j];
        if (ordered[b->first].kind == FC_HEAD_SOFTMAX && b->count > 1) {
            if (fc_train_softmax_path(&ordered[b->first], b->count, pp, inner, &res[b->first], &errs[b->first]) == 0)
                for (int i = 0; i < b->count; i++) ok[b->first + i] = 1;
            else
                for (int i = 1; i < b->count; i++) errs[b->first + i] = errs[b->first];
        } else {
            ok[b->first] = fc_train(&ordered[b->first], pp, inner, &res[b->first], &errs[b->first]) == 0;
        }
    }
    double t_fit = omp_get_wtime() - t0 - t_load;
    /* record every configuration; rank by validation accuracy */
    row *rows = malloc((size_t)n_ord * sizeof *rows);
    int64_t ds_id = 0, first_run = 0;
    fc_catalog_dataset_find(cat, x.dataset, &ds_id, &err);
    for (int i = 0; i < n_ord; i++) {
        rows[i] = (row){i, ok[i] ? res[i].val.accuracy : -1};
        fc_strbuf params = {0}, result = {0};
        cli_head_params_json(&params, &x, &ordered[i], &split);
        params.s[--params.len] = 0;
        fc_strbuf_printf(&params, ",\"sweep\":%lld}", (long long)first_run);
        if (ok[i]) cli_head_result_json(&result, &res[i], pp);
        int64_t run_id;
        fc_error e2;
        if (fc_catalog_run_begin(cat, FC_RUN_SWEEP, ds_id, x.id, params.s, &run_id, &e2) == 0) {
            if (!first_run) first_run = run_id;
            fc_catalog_run_finish(cat, run_id, ok[i] ? FC_RUN_OK : FC_RUN_FAILED, ok[i] ? result.s : NULL, &e2);
        }
        fc_strbuf_free(&params);
        fc_strbuf_free(&result);
    }
    qsort(rows, (size_t)n_ord, sizeof *rows, cmp_row);
    if (json) {
        fc_strbuf j = {0};
        fc_strbuf_printf(&j, "{\"dataset\":");
        fc_strbuf_json(&j, x.dataset);
        fc_strbuf_printf(&j, ",\"configs\":%d,\"seconds_load\":%.4f,\"seconds_fit\":%.4f,\"first_run\":%lld,\"results\":[",
                         n_ord, t_load, t_fit, (long long)first_run);
        for (int r = 0; r < n_ord; r++) {
            int i = rows[r].index;
            char desc[256];
            cli_head_describe(&ordered[i], desc, sizeof desc);
            fc_strbuf_printf(&j, "%s{\"config\":", r ? "," : "");
            fc_strbuf_json(&j, desc);
            fc_strbuf_printf(&j, ",\"head\":\"%s\",\"l2\":%g", fc_head_kind_name(ordered[i].kind), ordered[i].l2);
            if (ok[i]) fc_strbuf_printf(&j, ",\"val_accuracy\":%.6g,\"balanced_accuracy\":%.6g,\"log_loss\":%.6g,\"train_accuracy\":%.6g,\"seconds\":%.4f}",
                                        res[i].val.accuracy, res[i].val.balanced_accuracy, res[i].val.log_loss, res[i].train_accuracy, res[i].seconds);
            else { fc_strbuf_printf(&j, ",\"error\":"); fc_strbuf_json(&j, errs[i].msg); fc_strbuf_printf(&j, "}"); }
        }
        fc_strbuf_printf(&j, "]}");
        puts(j.s);
        fc_strbuf_free(&j);
    } else {
        printf("data set %s: %d x %d features (layer %s), %d train / %d val; %d configurations in %.3f s (+%.3f s loading)\n",
               x.dataset, pp->n, pp->d, x.layer_name, pp->n_train, pp->n_val, n_ord, t_fit, t_load);
        int w = 13; /* the configuration column fits the longest description */
        for (int i = 0; i < n_ord; i++) {
            char desc[256];
            cli_head_describe(&ordered[i], desc, sizeof desc);
            w = (int)strlen(desc) > w ? (int)strlen(desc) : w;
        }
        printf("%4s  %-*s %8s %8s %8s %8s\n", "rank", w, "configuration", "val acc", "balanced", "logloss", "train");
        for (int r = 0; r < n_ord; r++) {
            int i = rows[r].index;
            char desc[256];
            cli_head_describe(&ordered[i], desc, sizeof desc);
            if (ok[i])
                printf("%4d  %-*s %8.4f %8.4f %8.4f %8.4f\n", r + 1, w, desc, res[i].val.accuracy, res[i].val.balanced_accuracy,
                       res[i].val.log_loss, res[i].train_accuracy);
            else
                printf("%4d  %-*s failed: %s\n", r + 1, w, desc, errs[i].msg);
        }
        if (ok[rows[0].index]) {
            char desc[256];
            cli_head_describe(&ordered[rows[0].index], desc, sizeof desc);
            printf("best: %s (val accuracy %.4f); runs #%lld.. recorded\n", desc, rows[0].acc, (long long)first_run);
        }
    }
    free(rows);
    rc = EXIT_OK;
    for (int i = 0; i < n_ord; i++) if (!ok[i]) rc = EXIT_PARTIAL;
done:
    if (rc == EXIT_FAILURE_) fprintf(stderr, "featcache sweep: %s\n", err.msg);
    for (int i = 0; i < n_ord; i++) if (ok[i]) fc_train_result_free(&res[i]);
    free(res); free(ok); free(errs); free(ordered); free(jl);
    cli_problem_close(&cp);
    return rc;
}
