/* `featcache train`: fit one head on cached features, report validation metrics, save the head as
 * an ONNX file and record the run in the catalog. Reads only the cache: the backbone never runs. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "classify/classify.h"
#include "cli/cli.h"
#include "cli/extractor_opts.h"
#include "cli/head_opts.h"
#include "core/core.h"

static const char *usage_text =
    "usage: featcache train DATASET --model M.onnx [options] [-o HEAD.onnx]\n"
    "Fits a classifier head on DATASET's cached features (run `featcache extract` first) and prints\n"
    "validation metrics; -o saves the head as an ONNX model (features -> probabilities).\n\n" CLI_EXTRACTOR_HELP
    CLI_HEAD_HELP CLI_VIEWS_HELP
    "  --split S           folders (the data set's train/val, default), hash:0.2, kfold:5\n"
    "  --threads N         threads (default: all cores)\n"
    "  -o, --output PATH   head file (ONNX)\n"
    "  --json              JSON on stdout\n";

int cmd_train(int argc, char **argv) {
    static const struct option opts[] = {CLI_EXTRACTOR_LONGOPTS, CLI_HEAD_LONGOPTS, CLI_VIEWS_LONGOPT,
                                         {"split", required_argument, 0, 'S'}, {"threads", required_argument, 0, 't'},
                                         {"output", required_argument, 0, 'o'}, {"json", no_argument, 0, 'j'},
                                         {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    cli_extractor x;
    cli_extractor_init(&x);
    fc_head_config cfg;
    fc_head_config_init(&cfg);
    fc_split_spec split = {.kind = FC_SPLIT_FOLDERS};
    const char *out = NULL;
    int json = 0, threads = 0, c;
    fc_error err = {0};
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
        int r = cli_extractor_option("train", c, optarg, &x);
        if (!r) r = cli_head_option("train", c, optarg, &cfg);
        if (r < 0) return EXIT_USAGE;
        if (r > 0) continue;
        switch (c) {
        case 'S':
            if (fc_split_parse(optarg, &split, &err)) { fprintf(stderr, "featcache train: %s\n", err.msg); return EXIT_USAGE; }
            break;
        case 1111: if (cli_views_option("train", optarg, &x) < 0) return EXIT_USAGE; break;
        case 't': if (cli_int("train", "threads", optarg, 1, 1024, &threads)) return EXIT_USAGE; break;
        case 'o': out = optarg; break;
        case 'j': json = 1; break;
        case 'h': fputs(usage_text, stdout); return EXIT_OK;
        default: fputs(usage_text, stderr); return EXIT_USAGE;
        }
    }
    if (cli_views_check("train", &x)) return EXIT_USAGE;
    if (!x.model || optind != argc - 1) {
        fprintf(stderr, "featcache train: %s\n\n%s", !x.model ? "--model is required" : "give exactly one DATASET", usage_text);
        return EXIT_USAGE;
    }
    const char *dir = cli_cache_dir(x.cache);
    cli_problem cp = {0};
    fc_train_result r = {0};
    fc_strbuf meta = {0}, res = {0};
    int rc = EXIT_FAIL, trained = 0;
    if (cli_problem_open(&cp, dir, 1, &err) || cli_extractor_resolve(&x, argv[optind], cp.cat, &err) ||
        cli_problem_load(&cp, &x, &split, &err))
        goto done;
    fc_catalog *cat = cp.cat;
    const fc_problem *pp = &cp.p;
    int64_t run_id = 0, ds_id = 0;
    fc_catalog_dataset_find(cat, x.dataset, &ds_id, &err);
    cli_head_params_json(&meta, &x, &cfg, &split);
    if (!cp.no_record && cli_run_begin(cat, FC_RUN_TRAIN, ds_id, x.id, &meta, &run_id, &err)) goto done;
    rc = fc_train(&cfg, pp, threads, &r, &err);
    trained = rc == 0;
    if (trained) {
        fc_train_result_json(&res, &r, pp);
        /* the head file carries the extractor so predict can compute or look up features: reopen
         * the params object (it ends with '}') to add the validation accuracy */
        meta.s[--meta.len] = 0;
        fc_strbuf_printf(&meta, ",");
        fc_strbuf_printf(&meta, "\"val_accuracy\":%.6f}", r.val.accuracy);
        /* the head file first: a run recorded ok always has its file */
        if (out && fc_head_save_onnx(&r.head, out, meta.s, &err)) trained = 0;
    }
    if (!cp.no_record) cli_run_finish(cat, run_id, trained, res.s, &err);
    if (!trained) { rc = EXIT_FAIL; goto done; }
    if (json) {
        fc_strbuf j = {0};
        fc_strbuf_printf(&j, "{\"run\":%lld,\"dataset\":", (long long)run_id);
        fc_strbuf_json(&j, x.dataset);
        fc_strbuf_printf(&j, ",\"head\":\"%s\"", fc_head_kind_name(cfg.kind));
        cli_views_json(&j, &x);
        printf("%s,\"train\":%d,\"val\":%d,\"result\":%s}\n", j.s, pp->n_train, pp->n_val, res.s);
        fc_strbuf_free(&j);
    } else {
        cli_print_train_summary(stdout, &x, &cfg, pp, &r);
        if (out) printf("head saved to %s\n", out);
        if (run_id) printf("run #%lld recorded\n", (long long)run_id);
    }
    rc = x.incomplete ? EXIT_PARTIAL : EXIT_OK;
done:
    if (rc == EXIT_FAIL) fprintf(stderr, "featcache train: %s\n", err.msg);
    fc_strbuf_free(&meta);
    fc_strbuf_free(&res);
    fc_train_result_free(&r);
    cli_problem_close(&cp);
    return rc;
}
