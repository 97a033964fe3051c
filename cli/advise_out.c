/* featcache advise's outputs (see advise_out.h). */
#include "cli/advise_out.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

int cli_advise_command(const cli_advise_args *a, const cli_advise_plan *p, const fc_advice *adv,
                       const fc_advise_evidence *e, fc_strbuf *cmd, fc_error *err) {
    const char *opts[13];
    char size[16], crop[32];
    int n = 0;
    if (a->x.size) { snprintf(size, sizeof size, "%d", a->x.size); opts[n++] = "--size"; opts[n++] = size; }
    if (a->x.crop != 1) { snprintf(crop, sizeof crop, "%g", a->x.crop); opts[n++] = "--crop"; opts[n++] = crop; }
    if (a->x.preset != FC_PRESET_TF) { opts[n++] = "--preprocess"; opts[n++] = fc_preset_name(a->x.preset); }
    if (a->x.gray) opts[n++] = "--grayscale";
    if (a->x.compute == FC_COMPUTE_BF16) { opts[n++] = "--compute"; opts[n++] = "bf16"; }
    if (a->x.exif == FC_EXIF_IGNORE) { opts[n++] = "--exif-orientation"; opts[n++] = "ignore"; }
    if (a->x.cache) { opts[n++] = "--cache"; opts[n++] = a->x.cache; }
    if (a->x.name) { opts[n++] = "--name"; opts[n++] = a->x.name; }
    /* partial reuse: `train --head conv --layer L` (new conv blocks on L's map, cached by the
     * command itself for what advise's pooled probes did not store) */
    fc_advise_target t = {.dataset = a->dataset, .model = a->x.model, .options = opts, .n_options = n,
                          .last3_cut = p->last3, .conv_heads = 1};
    return fc_advise_command(adv, e, &t, cmd, err);
}

static void result_json(fc_strbuf *b, const fc_advice *adv, const fc_advise_evidence *e, const char *cmd) {
    fc_strbuf_printf(b, "{\"recommendation\":\"%s\",\"cell\":{\"data\":\"%s\",\"domain\":\"%s\"},\"command\":",
                     fc_advice_name(adv->kind), adv->big ? "big" : "small", adv->different ? "different" : "similar");
    fc_strbuf_json(b, cmd);
    fc_strbuf_printf(b, ",\"reason\":");
    fc_strbuf_json(b, adv->reason);
    fc_strbuf_printf(b, ",\"evidence\":");
    fc_advise_evidence_json(b, e);
    fc_strbuf_printf(b, "}");
}

void cli_advise_record(const cli_advise_args *a, cli_problem *cp, const fc_extract_result *res,
                       const fc_advice *adv, const fc_advise_evidence *e, const char *cmd, int64_t *run_id) {
    *run_id = 0;
    if (cp->no_record) return;
    fc_strbuf params = {0}, result = {0};
    fc_strbuf_printf(&params, "{\"advise\":1,\"dataset\":");
    fc_strbuf_json(&params, a->x.dataset);
    fc_strbuf_printf(&params, ",\"model\":");
    fc_strbuf_json(&params, a->x.model);
    fc_strbuf_printf(&params, ",\"size\":%d,\"crop\":", a->x.size);
    fc_strbuf_float(&params, a->x.crop > 0 && a->x.crop < 1 ? (float)a->x.crop : 1.0f);
    fc_strbuf_printf(&params, ",\"preprocess\":\"%s\",\"folds\":%d}", fc_preset_name(a->x.preset), a->folds);
    result_json(&result, adv, e, cmd);
    int64_t ds = 0;
    fc_error err = {0};
    int rc = params.failed || result.failed ? fc_fail(&err, FC_ENOMEM, "out of memory") : 0;
    if (!rc && (rc = fc_catalog_dataset_find(cp->cat, a->x.dataset, &ds, &err)) > 0) rc = 0; /* 1: found */
    if (!rc) rc = fc_catalog_run_begin(cp->cat, FC_RUN_TRAIN, ds, res->extractor[res->n_layers - 1], params.s, run_id, &err);
    if (!rc) rc = fc_catalog_run_finish(cp->cat, *run_id, FC_RUN_OK, result.s, &err);
    if (rc) fprintf(stderr, "featcache advise: note: the run is not recorded: %s\n", err.msg);
    if (rc) *run_id = 0;
    fc_strbuf_free(&params);
    fc_strbuf_free(&result);
}

void cli_advise_print_json(FILE *f, const fc_advice *adv, const fc_advise_evidence *e, const char *cmd,
                           int64_t run_id) {
    fc_strbuf b = {0};
    result_json(&b, adv, e, cmd);
    /* the run id first: reopen the object */
    fprintf(f, "{\"run\":%lld,%s\n", (long long)run_id, b.s ? b.s + 1 : "}");
    fc_strbuf_free(&b);
}

/* One cell of the table, marked when it is the advice's. */
static void cell(FILE *f, const fc_advice *adv, int big, int different, const char *text) {
    int mine = adv->big == big && adv->different == different;
    char t[64];
    snprintf(t, sizeof t, "%s %s", mine ? "[x]" : "[ ]", text);
    fprintf(f, "  %-34s", t);
}

void cli_advise_print_text(FILE *f, const cli_advise_args *a, const fc_advice *adv, const fc_advise_evidence *e,
                           const char *cmd, int64_t run_id) {
    fprintf(f, "data set %s: %d items, %d classes, items per class: median %d, smallest %d\n", a->dataset,
            e->n_items, e->n_classes, e->median_per_class, e->min_per_class);
    fprintf(f, "\nlinear probes (%d-fold, softmax, L2 chosen on the first fold):\n", e->folds);
    char names[FC_ADVISE_MAX_LAYERS][300];
    int w = 5;
    for (int l = 0; l < e->n_layers; l++) {
        const fc_advise_layer *L = &e->layers[l];
        snprintf(names[l], sizeof names[l], "%s%s", L->name,
                 L->pooled ? " (avg-pooled)" : l == e->n_layers - 1 ? " (feature)" : "");
        if ((int)strlen(names[l]) > w) w = (int)strlen(names[l]);
    }
    fprintf(f, "  %-*s %8s %9s %8s %7s\n", w, "layer", "features", "accuracy", "fold sd", "l2");
    for (int l = 0; l < e->n_layers; l++) {
        const fc_advise_layer *L = &e->layers[l];
        fprintf(f, "  %-*s %8d %9.4f %8.4f %7g%s\n", w, names[l], L->dim, L->accuracy, L->std, L->l2,
                l == adv->best ? "  <- best" : "");
    }
    fprintf(f, "learning curve at %s:", e->layers[e->curve_layer].name);
    for (int c = 0; c < FC_ADVISE_CURVE; c++)
        fprintf(f, "  %.0f%% %.4f (%.0f items/fold)", 100 * e->curve_fraction[c], e->curve_accuracy[c], e->curve_train[c]);
    fprintf(f, "\n\n  %-18s  %-34s  %-34s\n", "", "small data", "big data");
    fprintf(f, "  %-18s", "similar domain");
    cell(f, adv, 0, 0, "train a head (head)");
    cell(f, adv, 1, 0, "fine-tune the top (finetune)");
    fprintf(f, "\n  %-18s", "different domain");
    cell(f, adv, 0, 1, "collect more data (more-data)");
    cell(f, adv, 1, 1, adv->kind == FC_ADVICE_SCRATCH ? "train from scratch (scratch)" : "partial reuse (partial)");
    fprintf(f, "\n\nadvice: %s\n  %s\nnext:\n  %s\n", fc_advice_name(adv->kind), adv->reason, cmd);
    if (run_id) fprintf(f, "run #%lld recorded (featcache report %lld -o advice.html draws it)\n", (long long)run_id, (long long)run_id);
}
