/* `featcache finetune`: the lecture's second recipe. Caches the activations at a cut point for
 * every requested view of the training items, orig of the val folder's (exactly as `extract
 * --layer CUT --views ...` stores them: only what is missing), then
 * trains the network above the cut together with a new head from those cached maps (LP-FT), and
 * writes one ONNX classifier: the backbone with the fine-tuned top, then the head. Ctrl-C or a kill
 * keeps the last epoch's checkpoint in the cache; --resume continues from it. */
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "classify/classify.h"
#include "cli/cli.h"
#include "cli/cut_cache.h"
#include "cli/extractor_opts.h"
#include "cli/finetune_out.h"
#include "cli/head_opts.h"
#include "core/core.h"
#include "engine/engine.h"
#include "extract/extract.h"
#include "store/store.h"

static const char *usage_text =
    "usage: featcache finetune DATASET --model M.onnx --cut TENSOR -o CLASSIFIER.onnx [options]\n"
    "Fine-tunes the top of the backbone (from TENSOR to the feature layer) and a new head on\n"
    "DATASET. The activations at TENSOR are computed once into the cache (only what is missing,\n"
    "as extract --layer TENSOR --views would; the val folder's items get orig only, all that\n"
    "validation reads) and read from there every epoch. `featcache cuts` lists the tensors where\n"
    "a model can be cut. Writes one ONNX classifier (image -> probabilities).\n\n"
    "  --model PATH        ONNX backbone (required)\n"
    "  --cut TENSOR        where the frozen bottom ends (required)\n"
    "  --layer NAME        feature tensor the head reads (default: the model's default feature)\n"
    "  --views LIST        orig, flip, crops5: each epoch draws one of them per training item\n"
    "                      (default orig); validation uses orig\n"
    "  --size N, --crop F, --preprocess NAME, --grayscale, --exif-orientation apply|ignore\n"
    "                      as extract (defaults as in extract)\n"
    "  --dtype T           how the cut activations are stored: f16 (default) or f32\n"
    "  --epochs N          training epochs (default 15)\n"
    "  --lr X              peak learning rate of the head (default 0.01 sgd, 0.001 adamw)\n"
    "  --backbone-lr-scale X  the pretrained layers learn at lr * X (default 0.1)\n"
    "  --batch N           images per step (default 32)\n"
    "  --optimizer O       sgd (default) or adamw\n"
    "  --momentum X        sgd momentum (default 0.9)\n"
    "  --weight-decay X    on weights, not biases (default 1e-4)\n"
    "  --l2sp X            pulls the pretrained layers toward their starting values (L2-SP):\n"
    "                      (X / 2n) ||w - w0||^2 joins the mean loss over the n training items,\n"
    "                      strong on a few hundred items, fading on thousands (default 250; 0 off)\n"
    "  --schedule S        cosine (default) or constant\n"
    "  --warmup N          epochs of linear warmup (default 0)\n"
    "  --dropout X         on the feature, before the head (default 0.2)\n"
    "  --head H            softmax (default) or mlp; --hidden 512[,256], --normalize std|none\n"
    "                      configure its linear-probe fit\n"
    "  --l2 X|auto         the linear probe's L2 (default auto: the best validation accuracy of\n"
    "                      1e-2 .. 1e3, softmax)\n"
    "  --no-lp             start the head from random values instead of the linear probe\n"
    "  --lp-max-items N    the linear probe fits on at most N training items and chooses its L2\n"
    "                      on at most N validation items, a sample drawn from the seed with\n"
    "                      every class (default 1024, at least 32 per class): memory and time\n"
    "                      stay bounded however large the data set; the epochs see every item\n"
    "  --split S           folders (default: the data set's train/val) or hash:0.2\n"
    "  --seed N            order, views, dropout (default 0)\n"
    "  --threads N         threads (default: all cores); same seed and threads, same bits\n"
    "  --precision P       of the trained convolutions' and linear layers' products: f32, bf16\n"
    "                      (bf16 operands, f32 sums; needs AVX512_BF16) or auto (default: bf16\n"
    "                      where the CPU has it, else f32); the run's JSON records which ran\n"
    "  --cache DIR, --name NAME   as extract\n"
    "  --resume            continue from the checkpoint a killed run left in the cache\n"
    "  -o, --output PATH   the classifier to write\n"
    "  --trace DIR         also write the steps of epoch 1 for scripts/finetune_torch.py\n"
    "  --trace-steps N     only the first N steps (any epochs)\n"
    "  --quiet             no progress\n"
    "  --json              one JSON line per epoch, then the result\n"
    "Exit status: 0 ok, 3 done but some images were bad, 1 error, 130 interrupted, 64 usage.\n";

typedef struct ft_args {
    cli_extractor x; /* the feature extractor; its dtype/views are the cut's */
    const char *dataset, *cut, *out, *trace;
    int trace_steps, json, quiet, resume, dtype_set, lr_set;
    fc_train_precision precision; /* as asked (auto resolved by the net into cfg.precision) */
    fc_finetune_config cfg;
    fc_split_spec split;
} ft_args;

enum { O_CUT = 1201, O_BLR, O_OPT, O_MOM, O_WD, O_SCHED, O_WARM, O_NOLP, O_RESUME, O_TRACE, O_TSTEPS, O_QUIET, O_PREC, O_LPMAX, O_L2SP };

/* Training options (the ones that are not the extractor's): 1 handled, -1 bad value, 0 not one. */
static int training_option(int c, const char *arg, ft_args *a) {
    fc_finetune_config *f = &a->cfg;
    fc_error err = {0};
    switch (c) {
    case 1103: a->lr_set = 1; return cli_float("finetune", "lr", arg, 1e-12, 1e30, &f->lr) ? -1 : 1;
    case 1104: return cli_int("finetune", "epochs", arg, 1, 100000, &f->epochs) ? -1 : 1;
    case 1106: return cli_float("finetune", "dropout", arg, 0, 0.99, &f->dropout) ? -1 : 1;
    case 1107: return cli_int("finetune", "batch", arg, 1, 4096, &f->batch) ? -1 : 1;
    case 1108: { int s; if (cli_int("finetune", "seed", arg, 0, 2147483647, &s)) return -1; f->seed = (uint64_t)s; return 1; }
    case O_BLR: return cli_float("finetune", "backbone-lr-scale", arg, 0, 100, &f->backbone_lr_scale) ? -1 : 1;
    case O_MOM: return cli_float("finetune", "momentum", arg, 0, 0.999999, &f->momentum) ? -1 : 1;
    case O_WD: return cli_float("finetune", "weight-decay", arg, 0, 10, &f->weight_decay) ? -1 : 1;
    case O_L2SP: return cli_float("finetune", "l2sp", arg, 0, 1e12, &f->l2sp) ? -1 : 1;
    case O_WARM: return cli_int("finetune", "warmup", arg, 0, 100000, &f->warmup) ? -1 : 1;
    case O_NOLP: f->lp = 0; return 1;
    case O_LPMAX: return cli_int("finetune", "lp-max-items", arg, 1, 1 << 30, &f->lp_max_items) ? -1 : 1;
    case 1102: /* the linear probe's L2: a number, or auto (the best of a path by validation) */
        f->lp_l2_auto = !strcmp(arg, "auto");
        return f->lp_l2_auto ? 1 : cli_float("finetune", "l2", arg, 0, 1e12, &f->head.l2) ? -1 : 1;
    case O_OPT:
        if (!fc_optim_parse(arg, &f->optimizer, &err)) return 1;
        break;
    case O_SCHED:
        if (!fc_schedule_parse(arg, &f->schedule, &err)) return 1;
        break;
    case O_PREC:
        if (!fc_train_precision_parse(arg, &a->precision, &err)) return 1;
        break;
    default: return 0;
    }
    fprintf(stderr, "featcache finetune: %s\n", err.msg);
    return -1;
}

/* Returns -1 to go on, else the exit status. */
static int parse_args(int argc, char **argv, ft_args *a) {
    static const struct option opts[] = {
        {"model", required_argument, 0, 1001}, {"layer", required_argument, 0, 1002}, {"size", required_argument, 0, 1003},
        {"crop", required_argument, 0, 1004}, {"preprocess", required_argument, 0, 1005}, {"dtype", required_argument, 0, 1006},
        {"cache", required_argument, 0, 1008}, {"name", required_argument, 0, 1009}, {"grayscale", no_argument, 0, 1010}, {"compute", required_argument, 0, 1012},
        {"exif-orientation", required_argument, 0, 1013},
        CLI_HEAD_LONGOPTS, CLI_VIEWS_LONGOPT,
        {"cut", required_argument, 0, O_CUT}, {"backbone-lr-scale", required_argument, 0, O_BLR},
        {"optimizer", required_argument, 0, O_OPT}, {"momentum", required_argument, 0, O_MOM},
        {"weight-decay", required_argument, 0, O_WD}, {"l2sp", required_argument, 0, O_L2SP},
        {"schedule", required_argument, 0, O_SCHED},
        {"warmup", required_argument, 0, O_WARM}, {"no-lp", no_argument, 0, O_NOLP},
        {"lp-max-items", required_argument, 0, O_LPMAX}, {"resume", no_argument, 0, O_RESUME},
        {"trace", required_argument, 0, O_TRACE}, {"trace-steps", required_argument, 0, O_TSTEPS},
        {"split", required_argument, 0, 'S'}, {"threads", required_argument, 0, 't'}, {"output", required_argument, 0, 'o'},
        {"quiet", no_argument, 0, O_QUIET}, {"json", no_argument, 0, 'j'}, {"help", no_argument, 0, 'h'},
        {"precision", required_argument, 0, O_PREC}, {0, 0, 0, 0}};
    memset(a, 0, sizeof *a);
    cli_extractor_init(&a->x);
    fc_finetune_config_init(&a->cfg);
    a->precision = FC_TRAIN_AUTO; /* bf16 trains as accurately here, about 1.5x faster per step */
    a->split.kind = FC_SPLIT_FOLDERS;
    fc_error err = {0};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
        a->dtype_set |= c == 1006;
        int r = training_option(c, optarg, a);
        if (!r && ((c >= 1001 && c <= 1010) || c == 1012 || c == 1013)) r = cli_extractor_option("finetune", c, optarg, &a->x);
        if (!r && c >= 1101 && c <= 1110) r = cli_head_option("finetune", c, optarg, &a->cfg.head);
        if (r < 0) return EXIT_USAGE;
        if (r > 0) continue;
        switch (c) {
        case 1111: if (cli_views_option("finetune", optarg, &a->x) < 0) return EXIT_USAGE; break;
        case O_CUT: a->cut = optarg; break;
        case O_RESUME: a->resume = 1; break;
        case O_TRACE: a->trace = optarg; break;
        case O_TSTEPS: if (cli_int("finetune", "trace-steps", optarg, 1, 1 << 20, &a->trace_steps)) return EXIT_USAGE; break;
        case O_QUIET: a->quiet = 1; break;
        case 'S':
            if (fc_split_parse(optarg, &a->split, &err)) { fprintf(stderr, "featcache finetune: %s\n", err.msg); return EXIT_USAGE; }
            break;
        case 't': if (cli_int("finetune", "threads", optarg, 1, 1024, &a->cfg.threads)) return EXIT_USAGE; break;
        case 'o': a->out = optarg; break;
        case 'j': a->json = 1; break;
        case 'h': fputs(usage_text, stdout); return EXIT_OK;
        default: fputs(usage_text, stderr); return EXIT_USAGE;
        }
    }
    const char *missing = !a->x.model ? "--model" : !a->cut ? "--cut" : !a->out ? "-o" : NULL;
    if (missing || optind != argc - 1) {
        fprintf(stderr, "featcache finetune: %s\n\n%s", missing ? "--model, --cut and -o are required" : "give exactly one DATASET",
                usage_text);
        return EXIT_USAGE;
    }
    a->dataset = argv[optind];
    if (!a->dtype_set) a->x.dtype = FC_DTYPE_F16; /* spatial maps: half the space, exact enough */
    if (!a->lr_set && a->cfg.optimizer == FC_OPTIM_ADAMW) a->cfg.lr = 1e-3;
    if (!a->x.n_views) a->x.views[a->x.n_views++] = FC_VIEW_ORIG;
    if (a->split.kind == FC_SPLIT_KFOLD) {
        fprintf(stderr, "featcache finetune: --split kfold is not supported (a fine-tuned net per fold); use folders or hash:F\n");
        return EXIT_USAGE;
    }
    return -1;
}

static volatile int cancel_flag;

static void on_signal(int sig) {
    cancel_flag = 1;
    signal(sig, SIG_DFL); /* a second Ctrl-C ends at once */
}

/* What the callbacks of a run share. */
typedef struct ft_ctx {
    const ft_args *a;
    fc_finetune_result *r; /* its head is the live one during the run */
    cli_trace trace;
    cli_run_progress prog;
} ft_ctx;

/* The cut's activations for every view the run reads into the cache (only what is missing), as
 * extract --layer CUT --views would store them; they must have the shape the net takes. */
static int cache_cut(ft_ctx *c, const char *dir, const fc_train_net *net, fc_extract_result *er, fc_error *err) {
    const ft_args *a = c->a;
    int rc = cli_cache_cut(&a->x, a->dataset, a->cut, dir, a->cfg.threads, &a->split, &cancel_flag, c->prog.show, er, err);
    if (rc) return rc;
    int64_t dims[4];
    int rank = fc_train_net_input_dims(net, dims), same = rank == er->rank[0];
    for (int i = 0; same && i < rank; i++) same = dims[i] == (int64_t)er->dims[0][i];
    if (!same)
        return fc_fail(err, FC_ESHAPE, "the cached activations of '%s' do not have the shape the net takes at size %d",
                       a->cut, a->x.size_resolved);
    return 0;
}

/* The data set's name, the feature tensor and the model facts, from the catalog (created if new). */
static int resolve(ft_args *a, const char *dir, fc_error *err) {
    fc_catalog *cat = NULL;
    int rc = fc_catalog_open(dir, 0, 0, &cat, err);
    if (!rc) rc = cli_extractor_resolve(&a->x, a->dataset, cat, err);
    fc_catalog_close(cat);
    return rc;
}

/* The items (labels, splits, hashes) of the data set and the problem built on them (no features). */
static int load_problem(cli_problem *cp, const ft_args *a, const char *dir, fc_error *err) {
    int rc = cli_problem_open(cp, dir, 1, err);
    if (!rc) rc = fc_featureset_load_items(cp->cat, a->x.dataset, &cp->fs, err);
    if (!rc)
        rc = fc_problem_build(NULL, a->x.n_views, (int)cp->fs.n, 1, cp->fs.labels, cp->fs.splits, cp->fs.paths,
                              (const uint8_t(*)[32])cp->fs.hashes, &a->split, &cp->p, err);
    return rc;
}

/* The run's parameters: the features, the cut and the fine-tuning config. */
static void params_json(fc_strbuf *b, const ft_args *a, const char *cut_extractor, const fc_train_net *net) {
    int64_t dims[4];
    int rank = fc_train_net_input_dims(net, dims);
    fc_strbuf_printf(b, "{");
    cli_features_json(b, &a->x);
    fc_strbuf_printf(b, ",\"finetune\":1,\"cut\":");
    fc_strbuf_json(b, a->cut);
    fc_strbuf_printf(b, ",\"cut_extractor\":\"%s\",\"cut_dims\":[", cut_extractor);
    for (int i = 0; i < rank; i++) fc_strbuf_printf(b, "%s%lld", i ? "," : "", (long long)dims[i]);
    fc_strbuf_printf(b, "],");
    fc_finetune_config_json(b, &a->cfg, &a->split);
    fc_strbuf_printf(b, "}");
}

static int trace_finish(ft_ctx *c, const fc_extract_result *er, const fc_finetune_result *r, fc_error *err) {
    const ft_args *a = c->a;
    if (c->prog.trace_failed) return fc_fail(err, FC_ENOMEM, "--trace: out of memory");
    fc_strbuf m = {0};
    fc_strbuf_printf(&m, "\"model\":");
    fc_strbuf_json(&m, a->x.model);
    fc_strbuf_printf(&m, ",\"cut\":");
    fc_strbuf_json(&m, a->cut);
    fc_strbuf_printf(&m, ",\"feature\":");
    fc_strbuf_json(&m, a->x.layer_name);
    fc_strbuf_printf(&m, ",\"cut_extractor\":\"%s\",\"optimizer\":\"%s\",\"backbone_lr_scale\":%.9g,\"momentum\":%.9g,"
                         "\"weight_decay\":%.9g,\"beta1\":%.9g,\"beta2\":%.9g,\"eps\":%.9g,\"dropout\":%.9g,\"threads\":%d,"
                         "\"precision\":\"%s\",\"l2sp_pull\":%.9g",
                     er->extractor[0], fc_optim_name(a->cfg.optimizer), a->cfg.backbone_lr_scale, a->cfg.momentum,
                     a->cfg.weight_decay, a->cfg.beta1, a->cfg.beta2, a->cfg.eps, a->cfg.dropout, a->cfg.threads,
                     fc_train_precision_name(a->cfg.precision), r->l2sp_pull);
    int rc = cli_trace_write(&c->trace, m.s, err);
    fc_strbuf_free(&m);
    return rc;
}

/* The result as train prints it (text), or the final JSON line; the run record's result. */
static void report(const ft_ctx *c, const cli_problem *cp, const fc_extract_result *er, int64_t run_id, int D,
                   fc_strbuf *result) {
    const ft_args *a = c->a;
    const fc_finetune_result *r = c->r;
    fc_train_result shim = {.head = r->head, .val = r->val, .train_accuracy = r->train_accuracy,
                            .fold_mean = NAN, .fold_std = NAN, .seconds = r->seconds};
    /* the linear probe sampled its items on a large data set (FC_FINETUNE_LP_MAX_ITEMS) */
    int sampled = a->cfg.lp && (r->lp_train < cp->p.n_train / a->x.n_views || r->lp_val < cp->p.n_val);
    char on[64] = "";
    if (sampled) snprintf(on, sizeof on, " on %d + %d sampled items", r->lp_train, r->lp_val);
    snprintf(shim.info, sizeof shim.info, "fine-tuned from %s, %d epochs, %s products, linear probe %.4f (l2 %g%s)",
             a->cut, a->cfg.epochs, fc_train_precision_name(a->cfg.precision), r->lp_val_accuracy, r->lp_l2, on);
    fc_problem p = cp->p;
    p.d = D;
    fc_strbuf lp = {0};
    fc_strbuf_printf(&lp, "\"lp_val_accuracy\":%.6f,\"lp_train\":%d,\"lp_val\":%d,\"lp_sampled\":%s,", r->lp_val_accuracy,
                     r->lp_train, r->lp_val, sampled ? "true" : "false");
    if (isfinite(r->lp_l2)) fc_strbuf_printf(&lp, "\"lp_l2\":%.6g,", r->lp_l2);
    cli_run_result_json(result, &shim, &p, lp.s, r->history, r->n_history);
    fc_strbuf_free(&lp);
    if (a->json) {
        fc_strbuf j = {0};
        fc_strbuf_printf(&j, "{\"run\":%lld,\"dataset\":", (long long)run_id);
        fc_strbuf_json(&j, a->x.dataset);
        fc_strbuf_printf(&j, ",\"cut\":");
        fc_strbuf_json(&j, a->cut);
        fc_strbuf_printf(&j, ",\"output\":");
        fc_strbuf_json(&j, a->out);
        fc_strbuf_printf(&j, ",\"val_accuracy\":%.6f,\"train_accuracy\":%.6f,\"lp_val_accuracy\":%.6f,\"epochs\":%d,"
                             "\"precision\":\"%s\",\"resumed_from\":%d,\"seconds\":%.3f,\"cut_computed\":%zu,\"cut_cached\":%zu,"
                             "\"bad\":%zu,\"train\":%d,\"val\":%d,\"result\":%s}",
                         r->val.accuracy, r->train_accuracy, r->lp_val_accuracy, a->cfg.epochs,
                         fc_train_precision_name(a->cfg.precision), r->resumed_from, r->seconds,
                         er->counts.computed, er->counts.cached, er->counts.bad, cp->p.n_train / a->x.n_views,
                         cp->p.n_val, result->s);
        printf("%s\n", j.s);
        fc_strbuf_free(&j);
        return;
    }
    fc_head_config hc = a->cfg.head;
    cli_print_train_summary(stdout, &a->x, &hc, &p, &shim);
    printf("classifier saved to %s\n", a->out);
    if (run_id) printf("run #%lld recorded\n", (long long)run_id);
}

int cmd_finetune(int argc, char **argv) {
    ft_args a;
    int st = parse_args(argc, argv, &a);
    if (st >= 0) return st;
    const char *dir = cli_cache_dir(a.x.cache);
    fc_finetune_result r = {0};
    ft_ctx c = {.a = &a, .r = &r,
                .prog = {.epochs = a.cfg.epochs, .json = a.json, .quiet = a.quiet, .show = !a.quiet && !a.json && isatty(2),
                         .start = "the head before fine-tuning", .head = &r.head}};
    fc_error err = {0};
    fc_train_net *net = NULL;
    cli_problem cp = {0};
    fc_extract_result er = {0};
    fc_strbuf params = {0}, ckpt = {0}, result = {0};
    int64_t run_id = 0, ds_id = 0;
    int rc, exit_code = EXIT_FAIL;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    fc_train_net_options no = {.threads = a.cfg.threads, .precision = a.precision};
    if ((rc = resolve(&a, dir, &err))) goto done;
    no.height = no.width = a.x.size_resolved;
    if ((rc = fc_train_net_build(a.x.model, a.cut, a.x.layer_name, a.cfg.batch, &no, &net, &err))) goto done;
    a.cfg.precision = fc_train_net_precision(net); /* auto resolved: the record, the checkpoint's identity */
    if ((rc = cache_cut(&c, dir, net, &er, &err)) || (rc = load_problem(&cp, &a, dir, &err))) goto done;
    if (!a.quiet && !a.json)
        fprintf(stderr, "cut %s: %zu items, %zu computed, %zu cached, %zu bad in %.2f s\n", a.cut, er.counts.total,
                er.counts.computed, er.counts.cached, er.counts.bad, er.counts.seconds);
    params_json(&params, &a, er.extractor[0], net);
    if ((rc = cli_checkpoint_path(&ckpt, dir, params.s, &err))) goto done;
    fc_finetune_data d = {.cache = cp.cache, .p = &cp.p, .hashes = (const uint8_t(*)[32])cp.fs.hashes,
                          .views = a.x.views, .n_views = a.x.n_views};
    fc_hex_decode(er.extractor[0], d.extractor, 32, NULL);
    fc_finetune_control ctl = {.cancel = &cancel_flag, .on_epoch = cli_run_on_epoch, .on_step = cli_run_on_step,
                               .user = &c.prog, .checkpoint = ckpt.s, .resume = a.resume};
    if (a.trace) {
        cli_trace_start(&c.trace, a.trace, a.trace_steps, a.cfg.batch, net);
        c.prog.trace = &c.trace;
    }
    fc_catalog_dataset_find(cp.cat, a.x.dataset, &ds_id, &err);
    if (!cp.no_record && (rc = fc_catalog_run_begin(cp.cat, FC_RUN_TRAIN, ds_id, er.extractor[0], params.s, &run_id, &err)))
        goto done;
    rc = fc_finetune_run(net, &d, &a.cfg, &ctl, &r, &err);
    if (c.prog.show) fprintf(stderr, "\r%40s\r", "");
    if (!rc) {
        fc_strbuf meta = {0};
        fc_strbuf_printf(&meta, "%.*s,\"val_accuracy\":%.6f}", (int)params.len - 1, params.s, r.val.accuracy);
        rc = cli_finetune_write_classifier(net, a.x.model, a.x.layer_name, &r.head, meta.s, a.out, &err);
        fc_strbuf_free(&meta);
    }
    if (!rc && a.trace) rc = trace_finish(&c, &er, &r, &err);
    if (!rc) report(&c, &cp, &er, run_id, (int)fc_train_net_feature_size(net), &result);
    fc_error e2;
    if (run_id) fc_catalog_run_finish(cp.cat, run_id, rc ? FC_RUN_FAILED : FC_RUN_OK, rc ? NULL : result.s, &e2);
    if (!rc) remove(ckpt.s); /* finished: the classifier holds the result */
    exit_code = rc ? EXIT_FAIL : er.counts.bad ? EXIT_PARTIAL : EXIT_OK;
done:
    if (rc == FC_ECANCELLED || (rc && cancel_flag)) {
        fprintf(stderr, "featcache finetune: interrupted; %s\n",
                ckpt.s ? "the last epoch's checkpoint is kept: rerun with --resume to continue" : "nothing was trained");
        exit_code = 130;
    } else if (rc) {
        fprintf(stderr, "featcache finetune: %s\n", err.msg);
    }
    fc_finetune_result_free(&r);
    fc_train_net_free(net);
    cli_problem_close(&cp);
    cli_trace_free(&c.trace);
    fc_strbuf_free(&params);
    fc_strbuf_free(&ckpt);
    fc_strbuf_free(&result);
    return exit_code;
}
