/* Shared head options and summaries (see head_opts.h). */
#include "cli/head_opts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/core.h"
#include "extract/extract.h"

int cli_head_option(const char *cmd, int c, const char *arg, fc_head_config *cfg) {
    fc_error err = {0};
    double v;
    int iv;
    switch (c) {
    case 1101:
        if (fc_head_kind_parse(arg, &cfg->kind, &err)) { fprintf(stderr, "featcache %s: %s\n", cmd, err.msg); return -1; }
        return 1;
    case 1102: if (cli_float(cmd, "l2", arg, 0, 1e12, &v)) return -1; cfg->l2 = v; return 1;
    case 1103: if (cli_float(cmd, "lr", arg, 1e-9, 10, &v)) return -1; cfg->lr = v; return 1;
    case 1104: if (cli_int(cmd, "epochs", arg, 1, 100000, &iv)) return -1; cfg->epochs = iv; return 1;
    case 1105: {
        char *end;
        long a = strtol(arg, &end, 10), b = 0;
        if (*end == ',') b = strtol(end + 1, &end, 10);
        if (*end || a < 1 || a > 65536 || b < 0 || b > 65536) {
            fprintf(stderr, "featcache %s: --hidden wants N or N,M (e.g. 512 or 512,256), not '%s'\n", cmd, arg);
            return -1;
        }
        cfg->n_hidden = b ? 2 : 1;
        cfg->hidden[0] = (int)a;
        cfg->hidden[1] = (int)b;
        return 1;
    }
    case 1106: if (cli_float(cmd, "dropout", arg, 0, 0.99, &v)) return -1; cfg->dropout = v; return 1;
    case 1107: if (cli_int(cmd, "batch", arg, 1, 1 << 20, &iv)) return -1; cfg->batch = iv; return 1;
    case 1108: if (cli_int(cmd, "seed", arg, 0, 2147483647, &iv)) return -1; cfg->seed = (uint64_t)iv; return 1;
    case 1109:
        if (fc_transform_parse(arg, &cfg->normalize, &err)) { fprintf(stderr, "featcache %s: %s\n", cmd, err.msg); return -1; }
        return 1;
    case 1110: cfg->balanced = 1; return 1;
    case 1112:
        if (fc_conv_spec_parse(arg, &cfg->conv, &err)) { fprintf(stderr, "featcache %s: --conv: %s\n", cmd, err.msg); return -1; }
        return 1;
    case 1113:
        if (fc_schedule_parse(arg, &cfg->schedule, &err) || cfg->schedule == FC_SCHEDULE_CONSTANT) {
            fprintf(stderr, "featcache %s: --schedule wants onecycle or cosine, not '%s'\n", cmd, arg);
            return -1;
        }
        return 1;
    case 1114:
        if (fc_train_precision_parse(arg, &cfg->precision, &err)) { fprintf(stderr, "featcache %s: --precision: %s\n", cmd, err.msg); return -1; }
        return 1;
    default: return 0;
    }
}

unsigned cli_head_given(int c) {
    switch (c) {
    case 1102: return FC_HEAD_GIVEN_L2;
    case 1103: return FC_HEAD_GIVEN_LR;
    case 1104: return FC_HEAD_GIVEN_EPOCHS;
    case 1105: return FC_HEAD_GIVEN_HIDDEN;
    case 1106: return FC_HEAD_GIVEN_DROPOUT;
    case 1107: return FC_HEAD_GIVEN_BATCH;
    case 1109: return FC_HEAD_GIVEN_NORMALIZE;
    case 1110: return FC_HEAD_GIVEN_BALANCED;
    case 1112: return FC_HEAD_GIVEN_CONV;
    case 1113: return FC_HEAD_GIVEN_SCHEDULE;
    case 1114: return FC_HEAD_GIVEN_PRECISION;
    default: return 0;
    }
}

/* "conv 128,128s2 lr=0.002 l2=0.0005 dropout=0.2 epochs=10 batch=64 onecycle auto[ hidden=256]". */
static void conv_describe(const fc_head_config *cfg, char *out, size_t cap) {
    char spec[128], hidden[32] = "";
    fc_conv_spec_format(&cfg->conv, ',', spec, sizeof spec);
    if (cfg->n_hidden == 2) snprintf(hidden, sizeof hidden, " hidden=%d,%d", cfg->hidden[0], cfg->hidden[1]);
    else if (cfg->n_hidden == 1) snprintf(hidden, sizeof hidden, " hidden=%d", cfg->hidden[0]);
    snprintf(out, cap, "conv %s lr=%g l2=%g dropout=%g epochs=%d batch=%d %s %s%s", spec, cfg->lr, cfg->l2, cfg->dropout,
             cfg->epochs, cfg->batch, fc_schedule_name(cfg->schedule), fc_train_precision_name(cfg->precision), hidden);
}

void cli_head_describe(const fc_head_config *cfg, char *out, size_t cap) {
    if (cfg->kind == FC_HEAD_SOFTMAX)
        snprintf(out, cap, "softmax l2=%g %s%s", cfg->l2, fc_transform_name(cfg->normalize), cfg->balanced ? " balanced" : "");
    else if (cfg->kind == FC_HEAD_NCM)
        snprintf(out, cap, "ncm");
    else if (cfg->kind == FC_HEAD_CONV)
        conv_describe(cfg, out, cap);
    else if (cfg->n_hidden == 2)
        snprintf(out, cap, "mlp hidden=%d,%d lr=%g l2=%g dropout=%g epochs=%d %s", cfg->hidden[0], cfg->hidden[1],
                 cfg->lr, cfg->l2, cfg->dropout, cfg->epochs, fc_transform_name(cfg->normalize));
    else
        snprintf(out, cap, "mlp hidden=%d lr=%g l2=%g dropout=%g epochs=%d %s", cfg->hidden[0], cfg->lr, cfg->l2,
                 cfg->dropout, cfg->epochs, fc_transform_name(cfg->normalize));
}

void cli_features_json(fc_strbuf *b, const cli_extractor *x) {
    fc_strbuf_printf(b, "\"featcache_head\":1,\"dataset\":");
    fc_strbuf_json(b, x->dataset);
    fc_strbuf_printf(b, ",\"model\":");
    fc_strbuf_json(b, x->model);
    fc_strbuf_printf(b, ",\"model_sha256\":\"%s\",\"layer\":", x->model_sha);
    fc_strbuf_json(b, x->layer_name);
    fc_strbuf_printf(b, ",\"size\":%d,\"crop\":", x->size_resolved);
    fc_strbuf_float(b, x->crop > 0 && x->crop < 1 ? (float)x->crop : 1.0f);
    fc_strbuf_printf(b, ",\"preprocess\":\"%s\",%s%s\"dtype\":\"%s\",\"view\":\"%s\"", fc_preset_name(x->preset),
                     x->gray ? "\"grayscale\":1," : "", x->exif == FC_EXIF_IGNORE ? "\"exif_orientation\":\"ignore\"," : "",
                     x->dtype == FC_DTYPE_F16 ? "f16" : "f32", fc_view_name(x->view));
    if (x->compute != FC_COMPUTE_F32) fc_strbuf_printf(b, ",\"compute\":\"%s\"", fc_compute_name(x->compute));
    cli_views_json(b, x);
    fc_strbuf_printf(b, ",\"extractor\":\"%s\"", x->id);
}

void cli_head_params_json(fc_strbuf *b, const cli_extractor *x, const fc_head_config *cfg,
                          const fc_split_spec *split) {
    fc_strbuf_printf(b, "{");
    cli_features_json(b, x);
    fc_strbuf_printf(b, ",");
    fc_head_config_json(b, cfg, split);
    fc_strbuf_printf(b, "}");
}

int cli_run_begin(fc_catalog *cat, fc_run_kind kind, int64_t dataset_id, const char *extractor,
                  const fc_strbuf *params, int64_t *run_id, fc_error *err) {
    fc_error ignored; /* housekeeping of earlier killed runs must not stop this one */
    fc_extract_mark_interrupted(cat, NULL, &ignored);
    char host[160];
    fc_process_host(host, sizeof host);
    if (params->failed || params->len < 2) return fc_fail(err, FC_ENOMEM, "out of memory");
    fc_strbuf p = {0}; /* params without its closing brace, then the process (see store/runs.h) */
    fc_strbuf_printf(&p, "%.*s,\"pid\":%ld,\"host\":", (int)params->len - 1, params->s, (long)getpid());
    fc_strbuf_json(&p, host);
    fc_strbuf_printf(&p, "}");
    int rc = p.failed ? fc_fail(err, FC_ENOMEM, "out of memory")
                      : fc_catalog_run_begin(cat, kind, dataset_id, extractor, p.s, run_id, err);
    fc_strbuf_free(&p);
    return rc;
}

void cli_run_finish(fc_catalog *cat, int64_t run_id, int ok, const char *result, const fc_error *why) {
    fc_strbuf r = {0};
    if (!ok) {
        fc_strbuf_printf(&r, "{\"error\":");
        fc_strbuf_json(&r, why->msg);
        fc_strbuf_printf(&r, "}");
    }
    fc_error ignored;
    fc_catalog_run_finish(cat, run_id, ok ? FC_RUN_OK : FC_RUN_FAILED, ok ? result : r.s, &ignored);
    fc_strbuf_free(&r);
}

void cli_print_train_summary(FILE *f, const cli_extractor *x, const fc_head_config *cfg, const fc_problem *p,
                             const fc_train_result *r) {
    char desc[256];
    cli_head_describe(cfg, desc, sizeof desc);
    const fc_metrics *m = &r->val;
    fprintf(f, "data set %s: %d x %d features (layer %s), %d classes, %d train / %d val\n", x->dataset, p->n, p->d,
            x->layer_name, p->k, p->n_train, p->n_folds ? m->n : p->n_val);
    fprintf(f, "head     %s (%s) in %.3f s\n", desc, r->info, r->seconds);
    if (p->n_folds)
        fprintf(f, "%d-fold   accuracy %.4f +- %.4f (out-of-fold metrics below)\n", p->n_folds, r->fold_mean, r->fold_std);
    fprintf(f, "val      accuracy %.4f  balanced %.4f  top-%d %.4f  log-loss %.4f  macro-F1 %.4f  (train %.4f)\n",
            m->accuracy, m->balanced_accuracy, m->top_k, m->top_k_accuracy, m->log_loss, m->macro_f1, r->train_accuracy);
    fprintf(f, "%-20s %9s %9s %9s %8s\n", "class", "precision", "recall", "f1", "support");
    for (int c = 0; c < p->k; c++)
        fprintf(f, "%-20s %9.4f %9.4f %9.4f %8d\n", p->classes[c], m->per_class[c].precision, m->per_class[c].recall,
                m->per_class[c].f1, m->per_class[c].support);
    fprintf(f, "confusion (rows = true, columns = predicted):\n");
    for (int t = 0; t < p->k; t++) {
        fprintf(f, "  %-18s", p->classes[t]);
        for (int q = 0; q < p->k; q++) fprintf(f, " %6d", m->confusion[t * p->k + q]);
        fputc('\n', f);
    }
}

int cli_problem_open(cli_problem *cp, const char *cache_dir, int writable, fc_error *err) {
    memset(cp, 0, sizeof *cp);
    int rc = fc_cache_dir_check(cache_dir, err);
    if (rc) return rc;
    int why = writable ? fc_dir_unwritable(cache_dir) : 0;
    if (why) {
        fprintf(stderr, "featcache: note: the cache folder %s is read-only (%s): this run is not recorded\n",
                cache_dir, strerror(why));
        cp->no_record = 1;
        writable = 0;
    }
    rc = fc_catalog_open(cache_dir, writable ? 0 : FC_CATALOG_RDONLY, 0, &cp->cat, err);
    if (rc == 0) rc = fc_cache_open(cache_dir, FC_CACHE_RDONLY, NULL, &cp->cache, err);
    return rc;
}

int cli_views_option(const char *cmd, const char *arg, cli_extractor *x) {
    fc_error err = {0};
    int views[FC_N_VIEWS], n;
    if (fc_views_parse(arg, views, &n, &err)) { fprintf(stderr, "featcache %s: --views: %s\n", cmd, err.msg); return -1; }
    x->n_views = 0;
    if (views[0] != FC_VIEW_ORIG) x->views[x->n_views++] = FC_VIEW_ORIG; /* validation rows: always loaded */
    for (int v = 0; v < n; v++) x->views[x->n_views++] = views[v];
    return 1;
}

int cli_views_check(const char *cmd, const cli_extractor *x) {
    if (!x->n_views || x->view == FC_VIEW_ORIG) return 0;
    fprintf(stderr, "featcache %s: --views trains on several views and validates on orig; it does not go with "
            "--view %s\n", cmd, fc_view_name(x->view));
    return -1;
}

void cli_views_json(fc_strbuf *b, const cli_extractor *x) {
    if (!x->n_views) return;
    fc_strbuf_printf(b, ",\"views\":[");
    for (int v = 0; v < x->n_views; v++) fc_strbuf_printf(b, "%s\"%s\"", v ? "," : "", fc_view_name(x->views[v]));
    fc_strbuf_printf(b, "]");
}

void cli_views_from_json(const char *params, cli_extractor *x) {
    x->n_views = 0;
    const char *s = params ? strstr(params, "\"views\":[") : NULL;
    for (s = s ? s + 9 : NULL; s && *s == '"' && x->n_views < FC_N_VIEWS;) {
        const char *e = strchr(s + 1, '"');
        if (!e) break;
        for (int v = 0; v < FC_N_VIEWS; v++)
            if ((size_t)(e - s - 1) == strlen(fc_view_name(v)) && !strncmp(s + 1, fc_view_name(v), (size_t)(e - s - 1)))
                x->views[x->n_views++] = v;
        s = e + 1 + (e[1] == ',');
    }
}

typedef struct place { const char *name; char root[4096]; int csv; } place;

static int find_place(void *user, const fc_catalog_dataset *d) {
    place *p = user;
    if (strcmp(d->name, p->name)) return 0;
    snprintf(p->root, sizeof p->root, "%s", d->root);
    p->csv = !strcmp(d->format, "csv");
    return 0;
}

/* The error for a view that `missing` items lack (the first: item `first`), with the extract
 * command that adds it: the data set's folder (or its manifest), the options given here, and
 * --views as extract spells it (crops5 for the five crops). */
static int missing_view(const cli_problem *cp, const cli_extractor *x, int view, int missing, size_t first,
                        fc_error *err) {
    place where = {.name = x->dataset};
    fc_catalog_dataset_list(cp->cat, find_place, &where, NULL); /* only for the message */
    fc_strbuf c = {0};
    fc_strbuf_printf(&c, "featcache extract %s%s --model %s", where.root[0] ? where.root : x->dataset,
                     where.csv ? "/MANIFEST.csv" : "", x->model);
    if (x->layer) fc_strbuf_printf(&c, " --layer %s", x->layer);
    if (x->size) fc_strbuf_printf(&c, " --size %d", x->size);
    if (x->crop != 1) {
        fc_strbuf_printf(&c, " --crop ");
        fc_strbuf_float(&c, (float)x->crop);
    }
    if (x->preset != FC_PRESET_TF) fc_strbuf_printf(&c, " --preprocess %s", fc_preset_name(x->preset));
    if (x->gray) fc_strbuf_printf(&c, " --grayscale");
    if (x->compute != FC_COMPUTE_F32) fc_strbuf_printf(&c, " --compute %s", fc_compute_name(x->compute));
    if (x->exif == FC_EXIF_IGNORE) fc_strbuf_printf(&c, " --exif-orientation ignore");
    if (x->dtype == FC_DTYPE_F16) fc_strbuf_printf(&c, " --dtype f16");
    if (x->name) fc_strbuf_printf(&c, " --name %s", x->name);
    fc_strbuf_printf(&c, " --views ");
    for (int v = 0; v < x->n_views; v++)
        if (x->views[v] <= FC_VIEW_CROP_CENTER) /* crops5 stands for the five */
            fc_strbuf_printf(&c, "%s%s", v ? "," : "", x->views[v] == FC_VIEW_CROP_CENTER ? "crops5" : fc_view_name(x->views[v]));
    int rc = fc_fail(err, FC_EINVAL, "item %s has no '%s' view for this extractor (%d of %zu items lack it%s%s); add it with: %s",
                     cp->fs.paths[first], fc_view_name(view), missing, cp->fs.n, cp->fs.n_damaged ? "; " : "",
                     cp->fs.n_damaged ? cp->fs.damage.msg : "", c.s ? c.s : "featcache extract --views");
    fc_strbuf_free(&c);
    return rc;
}

int cli_problem_load(cli_problem *cp, const cli_extractor *x, const fc_split_spec *split, fc_error *err) {
    int rc = fc_featureset_load(cp->cat, cp->cache, x->dataset, x->id, x->view, &cp->fs, err);
    for (int v = 1; rc == 0 && v < x->n_views; v++) { /* views[0] is orig, the view just loaded */
        size_t first = 0;
        rc = fc_featureset_add_view(cp->cache, x->id, x->views[v], &cp->fs, &first, err);
        if (rc > 0) rc = missing_view(cp, x, x->views[v], rc, first, err);
    }
    if (rc == 0)
        rc = fc_problem_build(cp->fs.x, cp->fs.n_views, (int)cp->fs.n, (int)cp->fs.dim, cp->fs.labels, cp->fs.splits,
                              cp->fs.paths, (const uint8_t(*)[32])cp->fs.hashes, split, &cp->p, err);
    if (rc == 0 && cp->fs.rank <= 4) { /* the rows' shape: a conv head needs it */
        cp->p.map_rank = cp->fs.rank;
        for (int i = 0; i < cp->fs.rank; i++) cp->p.map_dims[i] = cp->fs.dims[i];
    }
    return rc;
}

void cli_problem_close(cli_problem *cp) {
    fc_problem_free(&cp->p);
    fc_featureset_free(&cp->fs);
    fc_cache_close(cp->cache);
    fc_catalog_close(cp->cat);
    memset(cp, 0, sizeof *cp);
}
