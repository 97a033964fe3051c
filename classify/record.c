/* Head run records as JSON (see record.h). The member order and number formats are the catalog's
 * record format: report and any external reader of the catalog depend on them. */
#include "classify/record.h"

#include <math.h>
#include <stdio.h>

#include "classify/convhead.h"
#include "store/store.h"

static void split_text(const fc_split_spec *s, char *out, size_t cap) {
    if (s->kind == FC_SPLIT_HASH) snprintf(out, cap, "hash:%g", s->fraction);
    else if (s->kind == FC_SPLIT_KFOLD) snprintf(out, cap, "kfold:%d", s->folds);
    else snprintf(out, cap, "folders");
}

void fc_head_config_json(fc_strbuf *b, const fc_head_config *cfg, const fc_split_spec *split) {
    char st[32];
    split_text(split, st, sizeof st);
    fc_strbuf_printf(b, "\"head\":\"%s\",\"normalize\":\"%s\",\"l2\":%g,\"lr\":%g,\"epochs\":%d,\"batch\":%d,"
                        "\"hidden\":\"%d,%d\",\"n_hidden\":%d,\"dropout\":%g,\"seed\":%llu,\"balanced\":%d,"
                        "\"split\":\"%s\"",
                     fc_head_kind_name(cfg->kind), fc_transform_name(cfg->normalize), cfg->l2, cfg->lr, cfg->epochs,
                     cfg->batch, cfg->hidden[0], cfg->hidden[1], cfg->n_hidden, cfg->dropout,
                     (unsigned long long)cfg->seed, cfg->balanced, st);
    if (cfg->kind == FC_HEAD_CONV) {
        char spec[128];
        fc_conv_spec_format(&cfg->conv, ',', spec, sizeof spec);
        fc_strbuf_printf(b, ",\"conv\":\"%s\",\"schedule\":\"%s\",\"precision\":\"%s\"", spec,
                         fc_schedule_name(cfg->schedule), fc_train_precision_name(cfg->precision));
    }
}

int fc_head_config_from_json(const char *params, fc_head_config *cfg, fc_split_spec *split, fc_error *err) {
    fc_head_config_init(cfg);
    char s[64];
    double v;
    if (fc_json_get_string(params, "head", s, sizeof s) || fc_head_kind_parse(s, &cfg->kind, err))
        return fc_fail(err, FC_EFORMAT, "run parameters lack the head kind");
    if (!fc_json_get_string(params, "normalize", s, sizeof s)) fc_transform_parse(s, &cfg->normalize, NULL);
    if (!fc_json_get_number(params, "l2", &v)) cfg->l2 = v;
    if (!fc_json_get_number(params, "lr", &v)) cfg->lr = v;
    if (!fc_json_get_number(params, "epochs", &v)) cfg->epochs = (int)v;
    if (!fc_json_get_number(params, "batch", &v)) cfg->batch = (int)v;
    if (!fc_json_get_number(params, "n_hidden", &v)) cfg->n_hidden = (int)v;
    if (!fc_json_get_string(params, "hidden", s, sizeof s)) sscanf(s, "%d,%d", &cfg->hidden[0], &cfg->hidden[1]);
    if (!fc_json_get_number(params, "dropout", &v)) cfg->dropout = v;
    if (!fc_json_get_number(params, "seed", &v)) cfg->seed = (uint64_t)v;
    if (!fc_json_get_number(params, "balanced", &v)) cfg->balanced = v != 0;
    if (cfg->kind == FC_HEAD_CONV && (fc_json_get_string(params, "conv", s, sizeof s) ||
                                      fc_conv_spec_parse(s, &cfg->conv, err)))
        return fc_fail(err, FC_EFORMAT, "run parameters lack the conv head's blocks");
    if (cfg->kind == FC_HEAD_CONV && !fc_json_get_string(params, "schedule", s, sizeof s))
        fc_schedule_parse(s, &cfg->schedule, NULL);
    if (cfg->kind == FC_HEAD_CONV && !fc_json_get_string(params, "precision", s, sizeof s))
        fc_train_precision_parse(s, &cfg->precision, NULL);
    split->kind = FC_SPLIT_FOLDERS;
    if (!fc_json_get_string(params, "split", s, sizeof s) && fc_split_parse(s, split, err))
        return FC_EINVAL;
    return 0;
}

static void num(fc_strbuf *b, const char *key, double v) {
    if (isfinite(v)) fc_strbuf_printf(b, ",\"%s\":%.6g", key, v);
    else fc_strbuf_printf(b, ",\"%s\":null", key);
}

/* ,"items":{..},"worst":[..] of fc_train_result_json. */
static void items_json(fc_strbuf *b, const fc_train_result *r, const fc_problem *p) {
    fc_strbuf_printf(b, ",\"items\":{\"n\":%d,\"train\":%d,\"val\":%d,\"sha256\":\"%s\"},\"worst\":[", p->n, p->n_train,
                     p->n_val, p->digest);
    for (int w = 0; w < r->n_worst; w++) {
        const fc_train_miss *m = &r->worst[w];
        char hex[65];
        fc_hex_encode(p->hashes[m->item], 32, hex);
        fc_strbuf_printf(b, "%s{\"path\":", w ? "," : "");
        fc_strbuf_json(b, p->paths[m->item]);
        fc_strbuf_printf(b, ",\"sha256\":\"%s\",\"true\":", hex);
        fc_strbuf_json(b, p->classes[m->true_class]);
        fc_strbuf_printf(b, ",\"predicted\":");
        fc_strbuf_json(b, p->classes[m->predicted]);
        fc_strbuf_printf(b, ",\"probability\":%.6g}", m->probability);
    }
    fc_strbuf_printf(b, "]");
}

void fc_train_result_json(fc_strbuf *b, const fc_train_result *r, const fc_problem *p) {
    const fc_metrics *m = &r->val;
    fc_strbuf_printf(b, "{\"val_accuracy\":%.6g", m->accuracy);
    num(b, "balanced_accuracy", m->balanced_accuracy);
    num(b, "top5", m->top_k_accuracy);
    num(b, "log_loss", m->log_loss);
    num(b, "macro_f1", m->macro_f1);
    num(b, "train_accuracy", r->train_accuracy);
    num(b, "fold_mean", r->fold_mean);
    num(b, "fold_std", r->fold_std);
    num(b, "seconds", r->seconds);
    fc_strbuf_printf(b, ",\"n_val\":%d,\"classes\":[", m->n);
    for (int c = 0; c < p->k; c++) {
        fc_strbuf_printf(b, c ? "," : "");
        fc_strbuf_json(b, p->classes[c]);
    }
    fc_strbuf_printf(b, "],\"confusion\":[");
    for (int t = 0; t < m->k; t++) {
        fc_strbuf_printf(b, "%s[", t ? "," : "");
        for (int q = 0; q < m->k; q++) fc_strbuf_printf(b, "%s%d", q ? "," : "", m->confusion[t * m->k + q]);
        fc_strbuf_printf(b, "]");
    }
    fc_strbuf_printf(b, "],\"per_class\":[");
    for (int c = 0; c < m->k; c++) {
        const fc_class_metrics *pc = &m->per_class[c];
        fc_strbuf_printf(b, "%s{\"precision\":%.4f,\"recall\":%.4f,\"f1\":%.4f,\"support\":%d}", c ? "," : "",
                         pc->precision, pc->recall, pc->f1, pc->support);
    }
    fc_strbuf_printf(b, "],\"info\":");
    fc_strbuf_json(b, r->info);
    if (p->paths && p->hashes) items_json(b, r, p);
    fc_strbuf_printf(b, "}");
}
