/* Fine-tuning options: defaults, names, and their JSON for run records and checkpoint identity. */
#include <string.h>

#include "classify/finetune.h"
#include "classify/record.h"

void fc_finetune_config_init(fc_finetune_config *c) {
    memset(c, 0, sizeof *c);
    c->epochs = 15;
    c->batch = 32;
    c->lr = 0.01;
    c->backbone_lr_scale = 0.1;
    c->optimizer = FC_OPTIM_SGD;
    c->momentum = 0.9;
    c->weight_decay = 1e-4;
    c->l2sp = 250; /* ants/bees (245 training items, t146): a pull of ~1 per step was the best of
                      0.01 .. 10 (32 seeds: 0.9431 mean val accuracy against 0.9410 without it);
                      Fashion-MNIST 5000/5000 (t140): a pull of 0.05, 0.8944 against 0.8940 */
    c->beta1 = 0.9;
    c->beta2 = 0.999;
    c->eps = 1e-8;
    c->schedule = FC_SCHEDULE_COSINE;
    c->dropout = 0.2;
    fc_head_config_init(&c->head);
    c->lp = 1;
    c->lp_l2_auto = 1;
}

const char *fc_optim_name(fc_optim_kind k) { return k == FC_OPTIM_ADAMW ? "adamw" : "sgd"; }
const char *fc_schedule_name(fc_schedule_kind k) {
    return k == FC_SCHEDULE_CONSTANT ? "constant" : k == FC_SCHEDULE_ONECYCLE ? "onecycle" : "cosine";
}

int fc_optim_parse(const char *s, fc_optim_kind *out, fc_error *err) {
    if (!strcmp(s, "sgd")) *out = FC_OPTIM_SGD;
    else if (!strcmp(s, "adamw")) *out = FC_OPTIM_ADAMW;
    else return fc_fail(err, FC_EINVAL, "unknown optimizer '%s' (sgd, adamw)", s);
    return 0;
}

int fc_schedule_parse(const char *s, fc_schedule_kind *out, fc_error *err) {
    if (!strcmp(s, "cosine")) *out = FC_SCHEDULE_COSINE;
    else if (!strcmp(s, "constant")) *out = FC_SCHEDULE_CONSTANT;
    else if (!strcmp(s, "onecycle")) *out = FC_SCHEDULE_ONECYCLE;
    else return fc_fail(err, FC_EINVAL, "unknown schedule '%s' (cosine, constant, onecycle)", s);
    return 0;
}

void fc_finetune_config_json(fc_strbuf *b, const fc_finetune_config *c, const fc_split_spec *split) {
    static const fc_split_spec folders = {.kind = FC_SPLIT_FOLDERS};
    fc_strbuf_printf(b, "\"epochs\":%d,\"batch\":%d,\"lr\":%.9g,\"backbone_lr_scale\":%.9g,\"optimizer\":\"%s\","
                        "\"momentum\":%.9g,\"weight_decay\":%.9g,\"l2sp\":%.9g,\"schedule\":\"%s\",\"warmup\":%d,"
                        "\"dropout\":%.9g,\"lp\":%s,\"lp_l2\":\"%s\",\"seed\":%llu,\"threads\":%d,\"precision\":\"%s\",",
                     c->epochs, c->batch, c->lr, c->backbone_lr_scale, fc_optim_name(c->optimizer), c->momentum,
                     c->weight_decay, c->l2sp, fc_schedule_name(c->schedule), c->warmup, c->dropout, c->lp ? "true" : "false",
                     c->lp_l2_auto && c->head.kind == FC_HEAD_SOFTMAX ? "auto" : "fixed",
                     (unsigned long long)c->seed, c->threads, fc_train_precision_name(c->precision));
    if (c->lp_max_items) fc_strbuf_printf(b, "\"lp_max_items\":%d,", c->lp_max_items);
    if (c->optimizer == FC_OPTIM_ADAMW)
        fc_strbuf_printf(b, "\"beta1\":%.9g,\"beta2\":%.9g,\"eps\":%.9g,", c->beta1, c->beta2, c->eps);
    fc_strbuf_printf(b, "\"head_config\":{");
    fc_head_config_json(b, &c->head, split ? split : &folders);
    fc_strbuf_printf(b, "}");
}
