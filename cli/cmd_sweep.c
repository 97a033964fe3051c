/* `featcache sweep`: every combination of a hyperparameter grid, fitted on cached features in
 * parallel (classify/sweep.h expands, groups, fits, ranks and records); this file parses the
 * arguments and prints the table sorted by validation accuracy with the best configuration, or
 * the same as JSON. */
#include <getopt.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "classify/classify.h"
#include "cli/cli.h"
#include "cli/extractor_opts.h"
#include "cli/head_opts.h"
#include "core/core.h"

static const char *usage_text =
    "usage: featcache sweep DATASET --model M.onnx --grid 'KEY=VALUES ...' [options]\n"
    "Fits every combination of the grid on DATASET's cached features, in parallel, and prints the\n"
    "configurations sorted by validation accuracy. Keys: head (softmax, mlp, ncm), l2, lr, hidden\n"
    "(512 or 512+256 for two layers), dropout, epochs, batch, seed, normalize (std, l2, none).\n"
    "VALUES: a comma list, or A..B:N for N values from A to B (log-spaced for l2 and lr when both\n"
    "are > 0, else evenly spaced: dropout=0..0.5:3 is 0, 0.25, 0.5). Each key at most once; epochs,\n"
    "batch and seed are whole numbers.\n"
    "Example: --grid 'head=softmax,mlp l2=1e-6..1e2:9 hidden=256,1024'\n\n" CLI_EXTRACTOR_HELP CLI_VIEWS_HELP
    "  --grid TEXT         the grid (required)\n"
    "  --split S           folders (default), hash:0.2 (k-fold: use train)\n"
    "  --balanced          class weights for every configuration\n"
    "  --jobs J            configurations fitted at once (default: all cores)\n"
    "  --json              JSON on stdout\n";

typedef struct sweep_args {
    cli_extractor x;
    fc_split_spec split;
    const char *grid;
    int json, jobs, balanced;
} sweep_args;

/* Fills a from the command line; returns -1 to go on, else the exit status. */
static int parse_args(int argc, char **argv, sweep_args *a) {
    static const struct option opts[] = {CLI_EXTRACTOR_LONGOPTS, CLI_VIEWS_LONGOPT, {"grid", required_argument, 0, 'g'},
                                         {"split", required_argument, 0, 'S'}, {"balanced", no_argument, 0, 'B'},
                                         {"jobs", required_argument, 0, 'J'}, {"json", no_argument, 0, 'j'},
                                         {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    fc_error err = {0};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        int r = cli_extractor_option("sweep", c, optarg, &a->x);
        if (r < 0) return EXIT_USAGE;
        if (r > 0) continue;
        switch (c) {
        case 'g': a->grid = optarg; break;
        case 'S':
            if (fc_split_parse(optarg, &a->split, &err) || a->split.kind == FC_SPLIT_KFOLD) {
                fprintf(stderr, "featcache sweep: %s\n", a->split.kind == FC_SPLIT_KFOLD ? "k-fold is for train" : err.msg);
                return EXIT_USAGE;
            }
            break;
        case 1111: if (cli_views_option("sweep", optarg, &a->x) < 0) return EXIT_USAGE; break;
        case 'B': a->balanced = 1; break;
        case 'J': if (cli_int("sweep", "jobs", optarg, 1, 256, &a->jobs)) return EXIT_USAGE; break;
        case 'j': a->json = 1; break;
        case 'h': fputs(usage_text, stdout); return EXIT_OK;
        default: fputs(usage_text, stderr); return EXIT_USAGE;
        }
    }
    if (cli_views_check("sweep", &a->x)) return EXIT_USAGE;
    if (!a->x.model || !a->grid || optind != argc - 1) {
        fprintf(stderr, "featcache sweep: %s\n\n%s", !a->x.model ? "--model is required" : !a->grid ? "--grid is required" : "give exactly one DATASET", usage_text);
        return EXIT_USAGE;
    }
    return -1;
}

static void print_json(const fc_sweep *s, const int *order, const cli_extractor *x, double t_load, double t_fit,
                       int64_t first_run) {
    fc_strbuf j = {0};
    fc_strbuf_printf(&j, "{\"dataset\":");
    fc_strbuf_json(&j, x->dataset);
    cli_views_json(&j, x);
    fc_strbuf_printf(&j, ",\"configs\":%d,\"seconds_load\":%.4f,\"seconds_fit\":%.4f,\"first_run\":%lld,\"results\":[",
                     s->n, t_load, t_fit, (long long)first_run);
    for (int r = 0; r < s->n; r++) {
        int i = order[r];
        const fc_train_result *res = &s->results[i];
        char desc[256];
        cli_head_describe(&s->configs[i], desc, sizeof desc);
        fc_strbuf_printf(&j, "%s{\"config\":", r ? "," : "");
        fc_strbuf_json(&j, desc);
        fc_strbuf_printf(&j, ",\"head\":\"%s\",\"l2\":%g", fc_head_kind_name(s->configs[i].kind), s->configs[i].l2);
        if (s->ok[i]) fc_strbuf_printf(&j, ",\"val_accuracy\":%.6g,\"balanced_accuracy\":%.6g,\"log_loss\":%.6g,\"train_accuracy\":%.6g,\"seconds\":%.4f}",
                                       res->val.accuracy, res->val.balanced_accuracy, res->val.log_loss, res->train_accuracy, res->seconds);
        else { fc_strbuf_printf(&j, ",\"error\":"); fc_strbuf_json(&j, s->errors[i].msg); fc_strbuf_printf(&j, "}"); }
    }
    fc_strbuf_printf(&j, "]}");
    puts(j.s);
    fc_strbuf_free(&j);
}

static void print_table(const fc_sweep *s, const int *order, const cli_extractor *x, const fc_problem *p,
                        double t_load, double t_fit, int64_t first_run) {
    printf("data set %s: %d x %d features (layer %s), %d train / %d val; %d configurations in %.3f s (+%.3f s loading)\n",
           x->dataset, p->n, p->d, x->layer_name, p->n_train, p->n_val, s->n, t_fit, t_load);
    int w = 13; /* the configuration column fits the longest description */
    char desc[256];
    for (int i = 0; i < s->n; i++) {
        cli_head_describe(&s->configs[i], desc, sizeof desc);
        w = (int)strlen(desc) > w ? (int)strlen(desc) : w;
    }
    printf("%4s  %-*s %8s %8s %8s %8s\n", "rank", w, "configuration", "val acc", "balanced", "logloss", "train");
    for (int r = 0; r < s->n; r++) {
        int i = order[r];
        const fc_train_result *res = &s->results[i];
        cli_head_describe(&s->configs[i], desc, sizeof desc);
        if (s->ok[i])
            printf("%4d  %-*s %8.4f %8.4f %8.4f %8.4f\n", r + 1, w, desc, res->val.accuracy, res->val.balanced_accuracy,
                   res->val.log_loss, res->train_accuracy);
        else
            printf("%4d  %-*s failed: %s\n", r + 1, w, desc, s->errors[i].msg);
    }
    if (s->ok[order[0]]) {
        cli_head_describe(&s->configs[order[0]], desc, sizeof desc);
        printf("best: %s (val accuracy %.4f); runs #%lld.. recorded\n", desc, s->results[order[0]].val.accuracy,
               (long long)first_run);
    }
}

int cmd_sweep(int argc, char **argv) {
    sweep_args a = {.split = {.kind = FC_SPLIT_FOLDERS}};
    cli_extractor_init(&a.x);
    int rc = parse_args(argc, argv, &a);
    if (rc >= 0) return rc;
    fc_error err = {0};
    fc_head_config base;
    fc_head_config_init(&base);
    base.balanced = a.balanced;
    fc_sweep s;
    cli_problem cp = {0};
    int *order = NULL;
    if (fc_sweep_plan(a.grid, &base, &s, &err)) {
        fprintf(stderr, "featcache sweep: %s\n", err.msg);
        fc_sweep_free(&s);
        return err.code == FC_ENOMEM ? EXIT_FAIL : EXIT_USAGE;
    }
    rc = EXIT_FAIL;
    double t0 = omp_get_wtime();
    if (cli_problem_open(&cp, cli_cache_dir(a.x.cache), 1, &err) ||
        cli_extractor_resolve(&a.x, argv[optind], cp.cat, &err) ||
        cli_problem_load(&cp, &a.x, &a.split, &err))
        goto done;
    if (!(order = malloc((size_t)s.n * sizeof *order))) { fc_fail(&err, FC_ENOMEM, "out of memory"); goto done; }
    double t_load = omp_get_wtime() - t0;
    int failed = fc_sweep_run(&s, &cp.p, a.jobs);
    double t_fit = omp_get_wtime() - t0 - t_load;
    int64_t ds_id = 0;
    fc_strbuf features = {0};
    fc_catalog_dataset_find(cp.cat, a.x.dataset, &ds_id, &err);
    cli_features_json(&features, &a.x);
    int64_t first_run = fc_sweep_record(&s, cp.cat, ds_id, a.x.id, features.s, &a.split, &cp.p);
    fc_strbuf_free(&features);
    fc_sweep_rank(&s, order);
    if (a.json) print_json(&s, order, &a.x, t_load, t_fit, first_run);
    else print_table(&s, order, &a.x, &cp.p, t_load, t_fit, first_run);
    rc = failed || a.x.incomplete ? EXIT_PARTIAL : EXIT_OK;
done:
    if (rc == EXIT_FAIL) fprintf(stderr, "featcache sweep: %s\n", err.msg);
    free(order);
    fc_sweep_free(&s);
    cli_problem_close(&cp);
    return rc;
}
