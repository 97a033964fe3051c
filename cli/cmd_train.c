/* `featcache train`: fit one head on cached features, report validation metrics, save the head as
 * an ONNX file and record the run in the catalog. Reads only the cache: the backbone never runs
 * (except for --head conv, train_conv.c, which caches its map first). */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "classify/classify.h"
#include "cli/cli.h"
#include "cli/extractor_opts.h"
#include "cli/head_opts.h"
#include "cli/train_conv.h"
#include "core/core.h"

static const char *usage_text =
    "usage: featcache train DATASET --model M.onnx [options] [-o HEAD.onnx]\n"
    "Fits a classifier head on DATASET's cached features (run `featcache extract` first) and prints\n"
    "validation metrics; -o saves the head as an ONNX model (features -> probabilities).\n\n" CLI_EXTRACTOR_HELP
    CLI_HEAD_HELP CLI_VIEWS_HELP
    "  --split S           folders (the data set's train/val, default), hash:0.2, kfold:5\n"
    "  --threads N         threads (default: all cores)\n"
    "  -o, --output PATH   head file (ONNX)\n"
    "  --json              JSON on stdout\n\n"
    "Conv heads (--head conv): new conv blocks trained from scratch on a map of rank 3 (C, H, W),\n"
    "--layer TENSOR (e.g. MobileNetV2's t93; `featcache cuts` lists the tensors). The map is cached\n"
    "first, for what is missing (as extract --layer TENSOR --views would; DATASET: its folder, or a\n"
    "data set of the catalog); each epoch draws one of the --views per training item.\n"
    "  --conv SPEC         the blocks, each a 3x3 conv (SPEC's channels; s2: stride 2) + BatchNorm\n"
    "                      + ReLU (default 128,128s2); then global average pool, --dropout (0.2),\n"
    "                      a softmax head (an MLP with --hidden)\n"
    "  --lr X, --epochs N, --batch N, --l2 X   AdamW's peak lr (0.002), epochs (10), batch (64) and\n"
    "                      weight decay (5e-4); He initialization from --seed\n"
    "  --schedule S        onecycle (default) or cosine\n"
    "  --precision P       of the blocks' and head's products: f32, bf16 (needs AVX512_BF16) or auto\n"
    "                      (default: bf16 where the CPU has it; BatchNorm, the optimizer stay f32)\n"
    "  -o PATH             the classifier (image -> probabilities: the model up to TENSOR, the\n"
    "                      blocks, the head), and the head-only file (TENSOR -> probabilities, for\n"
    "                      eval and predict on cached maps) as PATH with .head.onnx for .onnx\n"
    "  --head-output PATH  the head-only file's path instead\n"
    "  --resume            continue from the checkpoint a killed run left in the cache\n"
    "  --trace DIR, --trace-steps N   the first steps, for scripts/finetune_torch.py\n"
    "  --quiet             no progress\n"
    "Exit status: 0 ok, 3 done but some images were bad, 1 error, 130 interrupted, 64 usage.\n";

enum { O_HEAD_OUT = 1301, O_RESUME, O_TRACE, O_TSTEPS, O_QUIET };

/* Options that only a conv head takes: 1 handled, -1 bad value, 0 not one. */
static int conv_option(int c, const char *arg, cli_train_args *a) {
    switch (c) {
    case O_HEAD_OUT: a->head_out = arg; return 1;
    case O_RESUME: a->resume = 1; return 1;
    case O_TRACE: a->trace = arg; return 1;
    case O_TSTEPS: return cli_int("train", "trace-steps", arg, 1, 1 << 20, &a->trace_steps) ? -1 : 1;
    case O_QUIET: a->quiet = 1; return 1;
    default: return 0;
    }
}

/* Fills a from the command line; returns -1 to go on, else the exit status. */
static int parse_args(int argc, char **argv, cli_train_args *a) {
    static const struct option opts[] = {CLI_EXTRACTOR_LONGOPTS, CLI_HEAD_LONGOPTS, CLI_VIEWS_LONGOPT, CLI_CONV_LONGOPTS,
                                         {"split", required_argument, 0, 'S'}, {"threads", required_argument, 0, 't'},
                                         {"output", required_argument, 0, 'o'}, {"json", no_argument, 0, 'j'},
                                         {"head-output", required_argument, 0, O_HEAD_OUT},
                                         {"resume", no_argument, 0, O_RESUME}, {"trace", required_argument, 0, O_TRACE},
                                         {"trace-steps", required_argument, 0, O_TSTEPS}, {"quiet", no_argument, 0, O_QUIET},
                                         {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    memset(a, 0, sizeof *a);
    cli_extractor_init(&a->x);
    fc_head_config_init(&a->cfg);
    a->split.kind = FC_SPLIT_FOLDERS;
    fc_error err = {0};
    int c, conv_only = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
        int r = cli_extractor_option("train", c, optarg, &a->x);
        if (!r) r = cli_head_option("train", c, optarg, &a->cfg);
        if (!r) {
            r = conv_option(c, optarg, a);
            conv_only |= r > 0;
        }
        if (r < 0) return EXIT_USAGE;
        a->given |= r > 0 ? cli_head_given(c) : 0;
        conv_only |= c == 1112 || c == 1113 || c == 1114;
        if (r > 0) continue;
        switch (c) {
        case 'S':
            if (fc_split_parse(optarg, &a->split, &err)) { fprintf(stderr, "featcache train: %s\n", err.msg); return EXIT_USAGE; }
            break;
        case 1111: if (cli_views_option("train", optarg, &a->x) < 0) return EXIT_USAGE; break;
        case 't': if (cli_int("train", "threads", optarg, 1, 1024, &a->threads)) return EXIT_USAGE; break;
        case 'o': a->out = optarg; break;
        case 'j': a->json = 1; break;
        case 'h': fputs(usage_text, stdout); return EXIT_OK;
        default: fputs(usage_text, stderr); return EXIT_USAGE;
        }
    }
    if (cli_views_check("train", &a->x)) return EXIT_USAGE;
    if (!a->x.model || optind != argc - 1) {
        fprintf(stderr, "featcache train: %s\n\n%s", !a->x.model ? "--model is required" : "give exactly one DATASET", usage_text);
        return EXIT_USAGE;
    }
    if (conv_only && a->cfg.kind != FC_HEAD_CONV) {
        fprintf(stderr, "featcache train: --conv, --schedule, --precision, --head-output, --resume, --trace and --quiet "
                        "are for --head conv\n");
        return EXIT_USAGE;
    }
    a->dataset = argv[optind];
    return -1;
}

/* A head on cached features (every kind but conv). */
static int train_head(cli_train_args *a) {
    cli_extractor *x = &a->x;
    const fc_head_config *cfg = &a->cfg;
    const char *out = a->out;
    fc_error err = {0};
    const char *dir = cli_cache_dir(x->cache);
    cli_problem cp = {0};
    fc_train_result r = {0};
    fc_strbuf meta = {0}, res = {0};
    int rc = EXIT_FAIL, trained = 0;
    if (cli_problem_open(&cp, dir, 1, &err) || cli_extractor_resolve(x, a->dataset, cp.cat, &err) ||
        cli_problem_load(&cp, x, &a->split, &err))
        goto done;
    fc_catalog *cat = cp.cat;
    const fc_problem *pp = &cp.p;
    int64_t run_id = 0, ds_id = 0;
    fc_catalog_dataset_find(cat, x->dataset, &ds_id, &err);
    cli_head_params_json(&meta, x, cfg, &a->split);
    if (!cp.no_record && cli_run_begin(cat, FC_RUN_TRAIN, ds_id, x->id, &meta, &run_id, &err)) goto done;
    rc = fc_train(cfg, pp, a->threads, &r, &err);
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
    if (a->json) {
        fc_strbuf j = {0};
        fc_strbuf_printf(&j, "{\"run\":%lld,\"dataset\":", (long long)run_id);
        fc_strbuf_json(&j, x->dataset);
        fc_strbuf_printf(&j, ",\"head\":\"%s\"", fc_head_kind_name(cfg->kind));
        cli_views_json(&j, x);
        printf("%s,\"train\":%d,\"val\":%d,\"result\":%s}\n", j.s, pp->n_train, pp->n_val, res.s);
        fc_strbuf_free(&j);
    } else {
        cli_print_train_summary(stdout, x, cfg, pp, &r);
        if (out) printf("head saved to %s\n", out);
        if (run_id) printf("run #%lld recorded\n", (long long)run_id);
    }
    rc = x->incomplete ? EXIT_PARTIAL : EXIT_OK;
done:
    if (rc == EXIT_FAIL) fprintf(stderr, "featcache train: %s\n", err.msg);
    fc_strbuf_free(&meta);
    fc_strbuf_free(&res);
    fc_train_result_free(&r);
    cli_problem_close(&cp);
    return rc;
}

int cmd_train(int argc, char **argv) {
    cli_train_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc >= 0) return rc;
    return a.cfg.kind == FC_HEAD_CONV ? cli_train_conv(&a) : train_head(&a);
}
