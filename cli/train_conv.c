/* `featcache train --head conv` (train_conv.h): caches the map at --layer for every view (only
 * what is missing), trains new conv blocks and a head on it batch by batch from the cache
 * (classify/convhead.h), writes the head-only file (map -> probabilities) and the classifier (the
 * model up to the map, the blocks, the head), records the run with its curves. Ctrl-C or a kill
 * keeps the last epoch's checkpoint in the cache; --resume continues from it. */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/cut_cache.h"
#include "cli/finetune_out.h"
#include "cli/head_opts.h"
#include "cli/train_conv.h"
#include "store/store.h"

static volatile int cancel_flag;

static void on_signal(int sig) {
    cancel_flag = 1;
    signal(sig, SIG_DFL); /* a second Ctrl-C ends at once */
}

/* What one run holds. */
typedef struct conv_run {
    cli_train_args *a;
    const char *dir;
    char source[4096];    /* the data set's folder or manifest */
    fc_extract_result er; /* the map cached: its extractor and shape */
    cli_problem cp;       /* items, labels, splits (no features in memory) */
    fc_convhead h;
    cli_trace trace;
    cli_run_progress prog;
    fc_strbuf params, head_path;
    int64_t run_id;
} conv_run;

/* The data set's name and the extractor (x resolved), and where its images are: DATASET itself,
 * or the folder the catalog's data set of that name was extracted from. */
static int resolve(conv_run *R, fc_error *err) {
    cli_train_args *a = R->a;
    fc_catalog *cat = NULL;
    struct stat st;
    int rc = fc_catalog_open(R->dir, 0, 0, &cat, err);
    if (!rc) rc = cli_extractor_resolve(&a->x, a->dataset, cat, err);
    if (!rc && stat(a->dataset, &st) == 0) snprintf(R->source, sizeof R->source, "%s", a->dataset);
    else if (!rc && !cli_dataset_root(cat, a->x.dataset, R->source, sizeof R->source))
        rc = fc_fail(err, FC_EINVAL, "%s: no such folder, and no data set '%s' extracted from a folder in %s", a->dataset,
                     a->x.dataset, R->dir);
    fc_catalog_close(cat);
    return rc;
}

/* The map for every view into the cache; it must be of rank 3. */
static int cache_map(conv_run *R, fc_error *err) {
    cli_train_args *a = R->a;
    fc_extract_result *er = &R->er;
    int rc = cli_cache_cut(&a->x, R->source, a->x.layer_name, R->dir, a->threads, NULL, &cancel_flag, R->prog.show, er, err);
    if (rc) return rc;
    if (er->rank[0] != 3)
        return fc_fail(err, FC_EINVAL, "'%s' has %d dimensions per image: a conv head needs a map (C, H, W); "
                       "`featcache cuts --model %s` lists the maps", a->x.layer_name, er->rank[0], a->x.model);
    if (!a->quiet && !a->json)
        fprintf(stderr, "map %s (%ux%ux%u): %zu items, %zu computed, %zu cached, %zu bad in %.2f s\n", a->x.layer_name,
                er->dims[0][0], er->dims[0][1], er->dims[0][2], er->counts.total, er->counts.computed, er->counts.cached,
                er->counts.bad, er->counts.seconds);
    return 0;
}

/* The items (labels, splits, hashes) and the problem built on them (no features). */
static int load_items(conv_run *R, fc_error *err) {
    cli_train_args *a = R->a;
    cli_problem *cp = &R->cp;
    int rc = cli_problem_open(cp, R->dir, 1, err);
    if (!rc) rc = fc_featureset_load_items(cp->cat, a->x.dataset, &cp->fs, err);
    if (!rc)
        rc = fc_problem_build(NULL, a->x.n_views, (int)cp->fs.n, 1, cp->fs.labels, cp->fs.splits, cp->fs.paths,
                              (const uint8_t(*)[32])cp->fs.hashes, &a->split, &cp->p, err);
    return rc;
}

/* The run's parameters: the features (the map), the head's config, and the map as the cut that a
 * classifier's top starts from (head_file.c). */
static void params_json(conv_run *R) {
    cli_train_args *a = R->a;
    fc_strbuf *b = &R->params;
    fc_strbuf_printf(b, "{");
    cli_features_json(b, &a->x);
    fc_strbuf_printf(b, ",\"conv_head\":1,\"cut\":");
    fc_strbuf_json(b, a->x.layer_name);
    fc_strbuf_printf(b, ",\"cut_extractor\":\"%s\",\"cut_dims\":[%u,%u,%u],", R->er.extractor[0], R->er.dims[0][0],
                     R->er.dims[0][1], R->er.dims[0][2]);
    fc_head_config_json(b, &a->cfg, &a->split);
    fc_strbuf_printf(b, ",\"threads\":%d}", a->threads);
}

/* The head-only file (given, or -o's name with .head.onnx for .onnx) and the classifier. */
static int write_outputs(conv_run *R, fc_error *err) {
    cli_train_args *a = R->a;
    if (!a->out && !a->head_out) return 0;
    if (a->head_out) {
        fc_strbuf_printf(&R->head_path, "%s", a->head_out);
    } else {
        size_t n = strlen(a->out);
        int onnx = n > 5 && !strcmp(a->out + n - 5, ".onnx");
        fc_strbuf_printf(&R->head_path, "%.*s.head.onnx", (int)(onnx ? n - 5 : n), a->out);
    }
    fc_strbuf meta = {0};
    fc_strbuf_printf(&meta, "%.*s,\"val_accuracy\":%.6f}", (int)R->params.len - 1, R->params.s, R->h.r.val.accuracy);
    int rc = fc_convhead_write(&R->h, meta.s, R->head_path.s, err);
    if (!rc && a->out)
        rc = fc_onnx_merge_top_checked(a->x.model, a->x.model_sha, a->x.layer_name, R->head_path.s,
                                       a->x.size_resolved, a->x.size_resolved, a->out, err);
    fc_strbuf_free(&meta);
    return rc;
}

/* --trace: the blocks' starting graph as top.onnx beside the steps, and what the PyTorch replay
 * needs to build the same recipe. */
static int trace_finish(conv_run *R, fc_error *err) {
    cli_train_args *a = R->a;
    if (R->prog.trace_failed) return fc_fail(err, FC_ENOMEM, "--trace: out of memory");
    fc_strbuf m = {0}, top = {0};
    fc_strbuf_printf(&top, "%s/top.onnx", a->trace);
    fc_strbuf_printf(&m, "\"model\":");
    fc_strbuf_json(&m, top.s);
    fc_strbuf_printf(&m, ",\"cut\":");
    fc_strbuf_json(&m, a->x.layer_name);
    fc_strbuf_printf(&m, ",\"feature\":\"%s\",\"bn_train\":true,\"cut_extractor\":\"%s\",\"optimizer\":\"adamw\","
                         "\"backbone_lr_scale\":1,\"weight_decay\":%.9g,\"beta1\":0.9,\"beta2\":0.999,\"eps\":1e-08,"
                         "\"dropout\":%.9g,\"threads\":%d,\"precision\":\"%s\"",
                     FC_CONVHEAD_FEATURE, R->er.extractor[0], a->cfg.l2, a->cfg.dropout, a->threads,
                     fc_train_precision_name(a->cfg.precision));
    int rc = cli_trace_write(&R->trace, m.s, err);
    if (!rc) rc = fc_file_write_atomic(top.s, R->h.top, R->h.top_size, err);
    fc_strbuf_free(&m);
    fc_strbuf_free(&top);
    return rc;
}

/* The result as train prints it (text) or the final JSON line; result: the run record's. */
static void report(conv_run *R, fc_strbuf *result) {
    cli_train_args *a = R->a;
    const fc_finetune_result *r = &R->h.r;
    char spec[128];
    fc_conv_spec_format(&a->cfg.conv, ',', spec, sizeof spec);
    fc_train_result shim = {.head = r->head, .val = r->val, .train_accuracy = r->train_accuracy,
                            .fold_mean = NAN, .fold_std = NAN, .seconds = r->seconds};
    snprintf(shim.info, sizeof shim.info, "blocks %s on %.100s, %d epochs", spec, a->x.layer_name, a->cfg.epochs);
    fc_problem p = R->cp.p;
    p.d = (int)fc_train_net_feature_size(R->h.net);
    cli_run_result_json(result, &shim, &p, NULL, r->history, r->n_history);
    if (a->json) {
        fc_strbuf j = {0};
        fc_strbuf_printf(&j, "{\"run\":%lld,\"dataset\":", (long long)R->run_id);
        fc_strbuf_json(&j, a->x.dataset);
        fc_strbuf_printf(&j, ",\"head\":\"conv\",\"layer\":");
        fc_strbuf_json(&j, a->x.layer_name);
        fc_strbuf_printf(&j, ",\"conv\":\"%s\",\"precision\":\"%s\",\"output\":", spec,
                         fc_train_precision_name(a->cfg.precision));
        fc_strbuf_json(&j, a->out);
        fc_strbuf_printf(&j, ",\"head_output\":");
        fc_strbuf_json(&j, R->head_path.s);
        fc_strbuf_printf(&j, ",\"val_accuracy\":%.6f,\"train_accuracy\":%.6f,\"epochs\":%d,\"resumed_from\":%d,"
                             "\"seconds\":%.3f,\"map_computed\":%zu,\"map_cached\":%zu,\"bad\":%zu,\"train\":%d,"
                             "\"val\":%d,\"result\":%s}",
                         r->val.accuracy, r->train_accuracy, a->cfg.epochs, r->resumed_from, r->seconds,
                         R->er.counts.computed, R->er.counts.cached, R->er.counts.bad, R->cp.p.n_train / a->x.n_views,
                         R->cp.p.n_val, result->s);
        printf("%s\n", j.s);
        fc_strbuf_free(&j);
        return;
    }
    cli_print_train_summary(stdout, &a->x, &a->cfg, &p, &shim);
    if (a->out) printf("classifier saved to %s\n", a->out);
    if (R->head_path.s) printf("head-only file (the map -> probabilities) saved to %s\n", R->head_path.s);
    if (R->run_id) printf("run #%lld recorded\n", (long long)R->run_id);
}

/* Training, the files and the record, once the map is cached and the items loaded. */
static int train(conv_run *R, fc_error *err) {
    cli_train_args *a = R->a;
    fc_strbuf ckpt = {0}, result = {0};
    int64_t ds_id = 0, dims[3] = {R->er.dims[0][0], R->er.dims[0][1], R->er.dims[0][2]};
    int rc = fc_convhead_init(&R->h, &a->cfg, a->x.layer_name, dims, a->threads, err);
    if (!rc) a->cfg.precision = fc_train_net_precision(R->h.net); /* auto resolved: the record, the checkpoint */
    R->prog.head = &R->h.r.head;
    params_json(R);
    if (!rc) rc = cli_checkpoint_path(&ckpt, R->dir, R->params.s, err);
    if (rc) goto done;
    fc_finetune_data d = {.cache = R->cp.cache, .p = &R->cp.p, .hashes = (const uint8_t(*)[32])R->cp.fs.hashes,
                          .views = a->x.views, .n_views = a->x.n_views};
    fc_hex_decode(R->er.extractor[0], d.extractor, 32, NULL);
    fc_finetune_control ctl = {.cancel = &cancel_flag, .on_epoch = cli_run_on_epoch, .on_step = cli_run_on_step,
                               .user = &R->prog, .checkpoint = R->cp.no_record ? NULL : ckpt.s, .resume = a->resume};
    if (a->trace) {
        cli_trace_start(&R->trace, a->trace, a->trace_steps, a->cfg.batch, R->h.net);
        R->prog.trace = &R->trace;
    }
    fc_catalog_dataset_find(R->cp.cat, a->x.dataset, &ds_id, err);
    if (!R->cp.no_record &&
        (rc = cli_run_begin(R->cp.cat, FC_RUN_TRAIN, ds_id, R->er.extractor[0], &R->params, &R->run_id, err)))
        goto done;
    rc = fc_convhead_run(&R->h, &a->cfg, &d, a->threads, &ctl, err);
    if (R->prog.show) fprintf(stderr, "\r%40s\r", "");
    if (!rc) rc = write_outputs(R, err);
    if (!rc && a->trace) rc = trace_finish(R, err);
    if (!rc) report(R, &result);
    if (R->run_id) cli_run_finish(R->cp.cat, R->run_id, !rc, result.s, err);
    if (!rc) remove(ckpt.s); /* finished: the files hold the result */
done:
    fc_strbuf_free(&ckpt);
    fc_strbuf_free(&result);
    return rc;
}

int cli_train_conv(cli_train_args *a) {
    if (a->split.kind == FC_SPLIT_KFOLD) {
        fprintf(stderr, "featcache train: --head conv trains one net per run: use --split folders or hash:F, not kfold\n");
        return EXIT_USAGE;
    }
    if (a->given & (FC_HEAD_GIVEN_NORMALIZE | FC_HEAD_GIVEN_BALANCED)) {
        fprintf(stderr, "featcache train: --normalize and --balanced are not for conv heads (their BatchNorm "
                        "normalizes; the loss weighs every item alike)\n");
        return EXIT_USAGE;
    }
    if (a->x.view != 0) {
        fprintf(stderr, "featcache train: --head conv validates on the orig view; --views adds training views\n");
        return EXIT_USAGE;
    }
    fc_head_config_conv_defaults(&a->cfg, a->given);
    if (!a->x.n_views) a->x.views[a->x.n_views++] = FC_VIEW_ORIG;
    conv_run R = {.a = a, .dir = cli_cache_dir(a->x.cache),
                  .prog = {.epochs = a->cfg.epochs, .json = a->json, .quiet = a->quiet,
                           .show = !a->quiet && !a->json && isatty(2), .start = "the new blocks and head as initialized"}};
    fc_error err = {0};
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    int rc = resolve(&R, &err);
    if (!rc) rc = cache_map(&R, &err);
    if (!rc) rc = load_items(&R, &err);
    if (!rc) rc = train(&R, &err);
    int exit_code = rc ? EXIT_FAIL : R.er.counts.bad ? EXIT_PARTIAL : EXIT_OK;
    if (rc == FC_ECANCELLED || (rc && cancel_flag)) {
        fprintf(stderr, "featcache train: interrupted; the last epoch's checkpoint is kept: rerun with --resume to continue\n");
        exit_code = 130;
    } else if (rc) {
        fprintf(stderr, "featcache train: %s\n", err.msg);
    }
    fc_convhead_free(&R.h);
    cli_problem_close(&R.cp);
    cli_trace_free(&R.trace);
    fc_strbuf_free(&R.params);
    fc_strbuf_free(&R.head_path);
    return exit_code;
}
