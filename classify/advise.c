/* fc_advise_decide, fc_advise_command and the evidence JSON (see advise.h). The decision reads
 * two axes off the evidence: data (median items per class against FC_ADVISE_BIG_PER_CLASS) and
 * domain (whether an earlier layer probes better than the feature tensor by more than the margin);
 * the learning curve goes into the reason. */
#include "classify/advise.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const NAMES[] = {"head", "finetune", "partial", "more-data", "scratch"};

const char *fc_advice_name(fc_advice_kind k) {
    return (unsigned)k < sizeof NAMES / sizeof *NAMES ? NAMES[k] : "?";
}

static int check_evidence(const fc_advise_evidence *e, fc_error *err) {
    if (e->n_layers < 1 || e->n_layers > FC_ADVISE_MAX_LAYERS)
        return fc_fail(err, FC_EINVAL, "advise: %d layers (1 to %d)", e->n_layers, FC_ADVISE_MAX_LAYERS);
    if (e->folds < 2 || e->folds > FC_PROBE_MAX_FOLDS)
        return fc_fail(err, FC_EINVAL, "advise: %d folds (2 to %d)", e->folds, FC_PROBE_MAX_FOLDS);
    if (e->n_classes < 2 || e->n_items < e->n_classes || e->min_per_class > e->median_per_class)
        return fc_fail(err, FC_EINVAL, "advise: %d items in %d classes (per class: min %d, median %d)", e->n_items,
                       e->n_classes, e->min_per_class, e->median_per_class);
    if (e->min_per_class < FC_ADVISE_MIN_PER_CLASS)
        return fc_fail(err, FC_EINVAL, "too few items: the smallest class has %d labeled item%s; advise needs at "
                       "least %d per class", e->min_per_class, e->min_per_class == 1 ? "" : "s",
                       FC_ADVISE_MIN_PER_CLASS);
    for (int l = 0; l < e->n_layers; l++)
        for (int f = -1; f < e->folds; f++) {
            double v = f < 0 ? e->layers[l].accuracy : e->layers[l].fold_accuracy[f];
            if (!(v >= 0 && v <= 1))
                return fc_fail(err, FC_EINVAL, "advise: layer %d's accuracy %g is outside [0, 1]", l, v);
        }
    for (int f = 0; f < FC_ADVISE_CURVE; f++)
        if (!(e->curve_accuracy[f] >= 0 && e->curve_accuracy[f] <= 1))
            return fc_fail(err, FC_EINVAL, "advise: learning curve point %d is %g, outside [0, 1]", f, e->curve_accuracy[f]);
    if (e->curve_layer < 0 || e->curve_layer >= e->n_layers)
        return fc_fail(err, FC_EINVAL, "advise: curve layer %d outside [0, %d)", e->curve_layer, e->n_layers);
    return 0;
}

/* The reason: the domain sentence, the data sentence, the learning curve sentence. */
static void explain(const fc_advise_evidence *e, fc_advice *a) {
    const fc_advise_layer *F = &e->layers[e->n_layers - 1];
    int n = 0, earlier = 0;
    size_t cap = sizeof a->reason;
    for (int l = 1; l < e->n_layers - 1; l++)
        if (e->layers[l].accuracy >= e->layers[earlier].accuracy) earlier = l;
    if (e->n_layers == 1)
        n = snprintf(a->reason, cap, "Only the feature tensor was probed (%.3f): nothing says the domain differs. ",
                     F->accuracy);
    else if (!a->different)
        n = snprintf(a->reason, cap, "No earlier layer probes better than the feature tensor by more than the margin "
                     "(feature %.3f, best earlier %s %.3f, margin %.3f): the domain is like the backbone's. ",
                     F->accuracy, e->layers[earlier].name, e->layers[earlier].accuracy, a->margin);
    else
        n = snprintf(a->reason, cap, "%s probes better than the feature tensor (%.3f vs %.3f, margin %.3f): the last "
                     "layers are too specific to the backbone's domain, this one differs. ", e->layers[earlier].name,
                     e->layers[earlier].accuracy, F->accuracy, a->margin);
    if (n < 0 || (size_t)n >= cap) return;
    int m = snprintf(a->reason + n, cap - (size_t)n, "%d items per class (median; smallest class %d) is %s data "
                     "(big from %d). ", e->median_per_class, e->min_per_class, a->big ? "big" : "small",
                     FC_ADVISE_BIG_PER_CLASS);
    if (m < 0 || (size_t)(n += m) >= cap) return;
    snprintf(a->reason + n, cap - (size_t)n, "The learning curve at %s %s (%+.3f from 50%% to 100%% of the training "
             "items): %s", e->layers[e->curve_layer].name, a->rise >= FC_ADVISE_STEEP_RISE ? "still rises steeply"
             : a->rise > 0.005 ? "still rises" : "is flat", a->rise,
             a->rise >= FC_ADVISE_STEEP_RISE ? "more data pays." : a->rise > 0.005 ? "more data or more capacity pays."
             : "more of the same data pays little; more capacity may.");
}

/* Twice the standard error of the mean fold-by-fold difference between layers x and y. */
static double paired_noise(const fc_advise_evidence *e, int x, int y) {
    double mean = 0, sq = 0;
    for (int f = 0; f < e->folds; f++) mean += (e->layers[x].fold_accuracy[f] - e->layers[y].fold_accuracy[f]) / e->folds;
    for (int f = 0; f < e->folds; f++) {
        double d = e->layers[x].fold_accuracy[f] - e->layers[y].fold_accuracy[f] - mean;
        sq += d * d;
    }
    return 2 * sqrt(sq / (e->folds - 1) / e->folds);
}

int fc_advise_decide(const fc_advise_evidence *e, fc_advice *a, fc_error *err) {
    memset(a, 0, sizeof *a);
    int rc = check_evidence(e, err);
    if (rc) return rc;
    int last = e->n_layers - 1, earlier = 0;
    for (int l = 0; l < e->n_layers; l++)
        if (e->layers[l].accuracy >= e->layers[a->best].accuracy) a->best = l;
    for (int l = 1; l < last; l++)
        if (e->layers[l].accuracy >= e->layers[earlier].accuracy) earlier = l; /* ties: the later */
    a->lead = last ? e->layers[last].accuracy - e->layers[earlier].accuracy : NAN;
    a->margin = last ? fmax(FC_ADVISE_MIN_GAP, paired_noise(e, earlier, last)) : FC_ADVISE_MIN_GAP;
    a->different = last && -a->lead > a->margin;
    int earliest_best = 1;
    for (int l = 1; l < last; l++) earliest_best &= e->layers[0].accuracy > e->layers[l].accuracy;
    a->big = e->median_per_class >= FC_ADVISE_BIG_PER_CLASS;
    a->rise = e->curve_accuracy[FC_ADVISE_CURVE - 1] - e->curve_accuracy[FC_ADVISE_CURVE - 2];
    if (!a->different) a->kind = a->big ? FC_ADVICE_FINETUNE : FC_ADVICE_HEAD;
    else if (!a->big) a->kind = FC_ADVICE_MORE_DATA;
    else a->kind = earliest_best && last > 1 ? FC_ADVICE_SCRATCH : FC_ADVICE_PARTIAL;
    explain(e, a);
    return 0;
}

/* Appends s as one shell word: as it is when it holds only safe characters, else single-quoted. */
static void shell_word(fc_strbuf *b, const char *s) {
    int safe = *s != 0;
    for (const char *p = s; *p && safe; p++)
        safe = strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-+=.,/:@%", *p) != NULL;
    if (safe) { fc_strbuf_printf(b, " %s", s); return; }
    fc_strbuf_printf(b, " '");
    for (const char *p = s; *p; p++) fc_strbuf_printf(b, *p == '\'' ? "'\\''" : "%c", *p);
    fc_strbuf_printf(b, "'");
}

/* "featcache VERB DATASET --model M OPTIONS" */
static void command_start(fc_strbuf *b, const char *verb, const fc_advise_target *t) {
    fc_strbuf_printf(b, "featcache %s", verb);
    shell_word(b, t->dataset);
    fc_strbuf_printf(b, " --model");
    shell_word(b, t->model);
    for (int i = 0; i < t->n_options; i++) shell_word(b, t->options[i]);
}

/* The cut a finetune command names: the earlier of the last-three-blocks cut and the best earlier
 * layer (finetune), the best earlier layer (partial), the earliest probed layer (scratch). */
static const char *finetune_cut(const fc_advice *a, const fc_advise_evidence *e, const fc_advise_target *t) {
    int last = e->n_layers - 1;
    if (a->kind == FC_ADVICE_SCRATCH) return e->layers[0].name;
    if (a->kind == FC_ADVICE_PARTIAL && a->best < last) return e->layers[a->best].name;
    int best_earlier = -1;
    for (int l = 0; l < last; l++)
        if (best_earlier < 0 || e->layers[l].accuracy >= e->layers[best_earlier].accuracy) best_earlier = l;
    if (a->kind == FC_ADVICE_PARTIAL) return best_earlier >= 0 ? e->layers[best_earlier].name : t->last3_cut;
    return t->last3_cut; /* finetune: the feature probes best, its top blocks are the ones to adapt */
}

int fc_advise_command(const fc_advice *a, const fc_advise_evidence *e, const fc_advise_target *t,
                      fc_strbuf *cmd, fc_error *err) {
    int last = e->n_layers - 1;
    if (a->kind == FC_ADVICE_HEAD) {
        command_start(cmd, "train", t);
        fc_strbuf_printf(cmd, " --head softmax --l2 %g -o head.onnx", e->layers[last].l2);
    } else if (a->kind == FC_ADVICE_MORE_DATA) {
        command_start(cmd, "advise", t); /* again, once more labeled images are in DATASET */
    } else if (a->kind == FC_ADVICE_PARTIAL && t->conv_heads && a->best < last) {
        command_start(cmd, "train", t);
        fc_strbuf_printf(cmd, " --layer");
        shell_word(cmd, e->layers[a->best].name);
        fc_strbuf_printf(cmd, " --head conv -o classifier.onnx");
    } else { /* finetune, scratch, and partial without conv heads: fine-tuning from a cut */
        const char *cut = finetune_cut(a, e, t);
        if (!cut) return fc_fail(err, FC_EINVAL, "advise: the model has no cut to fine-tune from");
        command_start(cmd, "finetune", t);
        fc_strbuf_printf(cmd, " --cut");
        shell_word(cmd, cut);
        fc_strbuf_printf(cmd, " -o finetuned.onnx");
    }
    return cmd->failed ? fc_fail(err, FC_ENOMEM, "out of memory") : 0;
}

void fc_advise_evidence_json(fc_strbuf *b, const fc_advise_evidence *e) {
    fc_strbuf_printf(b, "{\"items\":%d,\"classes\":%d,\"folds\":%d,\"per_class_min\":%d,\"per_class_median\":%d,"
                        "\"layers\":[", e->n_items, e->n_classes, e->folds, e->min_per_class, e->median_per_class);
    for (int l = 0; l < e->n_layers; l++) {
        const fc_advise_layer *L = &e->layers[l];
        fc_strbuf_printf(b, "%s{\"name\":", l ? "," : "");
        fc_strbuf_json(b, L->name);
        fc_strbuf_printf(b, ",\"pooled\":%s,\"dim\":%d,\"accuracy\":%.6f,\"std\":%.6f,\"l2\":%g,\"fold_accuracy\":[",
                         L->pooled ? "true" : "false", L->dim, L->accuracy, L->std, L->l2);
        for (int f = 0; f < e->folds; f++) fc_strbuf_printf(b, "%s%.6f", f ? "," : "", L->fold_accuracy[f]);
        fc_strbuf_printf(b, "]}");
    }
    fc_strbuf_printf(b, "],\"curve_layer\":");
    fc_strbuf_json(b, e->layers[e->curve_layer].name);
    fc_strbuf_printf(b, ",\"curve\":[");
    for (int f = 0; f < FC_ADVISE_CURVE; f++)
        fc_strbuf_printf(b, "%s{\"fraction\":%g,\"train\":%.1f,\"accuracy\":%.6f}", f ? "," : "", e->curve_fraction[f],
                         e->curve_train[f], e->curve_accuracy[f]);
    fc_strbuf_printf(b, "]}");
}

/* The number of the first "key": at or after json, or NaN. */
static double number_at(const char *json, const char *key) {
    double v;
    return fc_json_get_number(json, key, &v) ? NAN : v;
}

int fc_advise_evidence_parse(const char *json, fc_advise_evidence *e, fc_error *err) {
    memset(e, 0, sizeof *e);
    const char *layers = json ? strstr(json, "\"layers\":[") : NULL, *curve = json ? strstr(json, "\"curve\":[") : NULL;
    char curve_layer[256] = "";
    if (!layers || !curve || fc_json_get_string(json, "curve_layer", curve_layer, sizeof curve_layer))
        return fc_fail(err, FC_EFORMAT, "advice: the evidence lacks its layers or learning curve");
    e->n_items = (int)number_at(json, "items");
    e->n_classes = (int)number_at(json, "classes");
    e->folds = (int)number_at(json, "folds");
    e->min_per_class = (int)number_at(json, "per_class_min");
    e->median_per_class = (int)number_at(json, "per_class_median");
    /* each object's members are found from its start: the first match is its own */
    for (const char *p = strstr(layers, "{\"name\":"); p && p < curve; p = strstr(p + 1, "{\"name\":")) {
        if (e->n_layers == FC_ADVISE_MAX_LAYERS) return fc_fail(err, FC_EFORMAT, "advice: too many layers");
        fc_advise_layer *L = &e->layers[e->n_layers++];
        const char *pooled = strstr(p, "\"pooled\":");
        fc_json_get_string(p, "name", L->name, sizeof L->name);
        L->pooled = pooled && !strncmp(pooled + strlen("\"pooled\":"), "true", 4);
        L->dim = (int)number_at(p, "dim");
        L->accuracy = number_at(p, "accuracy");
        L->std = number_at(p, "std");
        L->l2 = number_at(p, "l2");
        const char *q = strstr(p, "\"fold_accuracy\":[");
        for (int f = 0; f < e->folds; f++) {
            const char *at = q ? q + (f ? 1 : strlen("\"fold_accuracy\":[")) : NULL;
            char *end = NULL;
            if (at && f < FC_PROBE_MAX_FOLDS) L->fold_accuracy[f] = strtod(at, &end);
            if (!end || end == at) return fc_fail(err, FC_EFORMAT, "advice: layer %s lacks fold accuracies", L->name);
            q = *end == ',' ? end : NULL;
        }
        if (!strcmp(L->name, curve_layer)) e->curve_layer = e->n_layers - 1;
    }
    const char *p = curve;
    for (int f = 0; f < FC_ADVISE_CURVE; f++) {
        if (!(p = strstr(p + 1, "{\"fraction\":"))) return fc_fail(err, FC_EFORMAT, "advice: a short learning curve");
        e->curve_fraction[f] = number_at(p, "fraction");
        e->curve_train[f] = number_at(p, "train");
        e->curve_accuracy[f] = number_at(p, "accuracy");
    }
    return e->n_layers ? 0 : fc_fail(err, FC_EFORMAT, "advice: no layers in the evidence");
}
