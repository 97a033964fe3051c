/* Conv heads (convhead.h): their defaults and fine-tuning config, the net of their blocks, the
 * training run on the fine-tuning loop, the head-only file, and the fit that fc_train (and so a
 * sweep) runs on a problem held in memory. Shapes: map (B, C, H, W) -> blocks -> pooled (B, C')
 * -> dropout -> head -> logits (B, K). Not here: the blocks' graph (convhead_onnx.c). */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "classify/convhead.h"
#include "classify/head_onnx.h"
#include "classify/merge_onnx.h"

void fc_head_config_conv_defaults(fc_head_config *c, unsigned given) {
    if (!(given & FC_HEAD_GIVEN_CONV)) fc_conv_spec_parse("128,128s2", &c->conv, NULL);
    if (!(given & FC_HEAD_GIVEN_EPOCHS)) c->epochs = 10;
    if (!(given & FC_HEAD_GIVEN_BATCH)) c->batch = 64;
    if (!(given & FC_HEAD_GIVEN_LR)) c->lr = 2e-3;
    if (!(given & FC_HEAD_GIVEN_L2)) c->l2 = 5e-4;
    if (!(given & FC_HEAD_GIVEN_DROPOUT)) c->dropout = 0.2;
    if (!(given & FC_HEAD_GIVEN_SCHEDULE)) c->schedule = FC_SCHEDULE_ONECYCLE;
    if (!(given & FC_HEAD_GIVEN_HIDDEN)) c->n_hidden = 0, c->hidden[0] = c->hidden[1] = 0;
    if (!(given & FC_HEAD_GIVEN_PRECISION)) c->precision = FC_TRAIN_AUTO;
    c->normalize = FC_TRANSFORM_NONE;
    c->balanced = 0;
}

void fc_convhead_finetune_config(const fc_head_config *c, int threads, fc_finetune_config *out) {
    fc_finetune_config_init(out);
    out->epochs = c->epochs;
    out->batch = c->batch;
    out->lr = c->lr;
    out->backbone_lr_scale = 1; /* new layers: no pretrained values to keep */
    out->l2sp = 0;              /* nor to pull toward */
    out->optimizer = FC_OPTIM_ADAMW;
    out->weight_decay = c->l2;
    out->schedule = c->schedule;
    out->dropout = c->dropout;
    out->lp = 0;
    out->lp_l2_auto = 0;
    out->seed = c->seed;
    out->threads = threads;
    out->head.kind = c->n_hidden > 0 ? FC_HEAD_MLP : FC_HEAD_SOFTMAX;
    out->head.n_hidden = c->n_hidden;
    out->head.hidden[0] = c->hidden[0];
    out->head.hidden[1] = c->hidden[1];
    out->head.normalize = FC_TRANSFORM_NONE;
    out->head.seed = c->seed;
}

int fc_convhead_init(fc_convhead *h, const fc_head_config *c, const char *tensor, const int64_t dims[3],
                     int threads, fc_error *err) {
    memset(h, 0, sizeof *h);
    if (!tensor || strlen(tensor) >= sizeof h->tensor)
        return fc_fail(err, FC_EINVAL, "conv head: no map tensor name, or one too long");
    snprintf(h->tensor, sizeof h->tensor, "%s", tensor);
    memcpy(h->dims, dims, sizeof h->dims);
    int rc = fc_convhead_top(&c->conv, tensor, dims, c->seed, &h->top, &h->top_size, err);
    fc_train_net_options o = {.threads = threads, .cut_rank = 3, .bn_train = 1, .precision = c->precision};
    memcpy(o.cut_dims, dims, 3 * sizeof *dims);
    if (!rc) rc = fc_train_net_build_mem("conv head", h->top, h->top_size, tensor, FC_CONVHEAD_FEATURE,
                                         c->batch, &o, &h->net, err);
    if (rc) fc_convhead_free(h);
    /* the blocks' 3x3 convolutions on small maps: an im2col chunk that stays in L2 (1 MiB) runs
     * their products faster than the default's 2048 columns (measured at 12x12 and 6x6: 10% in f32,
     * 15-20% in bf16, where the products are faster and the memory matters more) */
    else fc_train_net_ws(h->net)->conv_chunk = FC_CONVHEAD_CONV_CHUNK;
    return rc;
}

int fc_convhead_run(fc_convhead *h, const fc_head_config *c, const fc_finetune_data *d, int threads,
                    const fc_finetune_control *ctl, fc_error *err) {
    fc_finetune_config ft;
    fc_convhead_finetune_config(c, threads, &ft);
    ft.precision = fc_train_net_precision(h->net); /* auto resolved by the net */
    return fc_finetune_run(h->net, d, &ft, ctl, &h->r, err);
}

int fc_convhead_write(const fc_convhead *h, const char *meta_json, const char *out_path, fc_error *err) {
    fc_strbuf top = {0}, hp = {0};
    fc_strbuf_printf(&top, "%s.blocks.tmp", out_path);
    fc_strbuf_printf(&hp, "%s.head.tmp", out_path);
    int rc = top.failed || hp.failed ? fc_fail(err, FC_ENOMEM, "out of memory") : 0;
    if (!rc) rc = fc_train_net_write_onnx_mem(h->net, "conv head", h->top, h->top_size, top.s, err);
    if (!rc) rc = fc_head_save_onnx(&h->r.head, hp.s, meta_json, err);
    if (!rc) rc = fc_onnx_merge_classifier(top.s, FC_CONVHEAD_FEATURE, hp.s, out_path, err);
    if (top.s) remove(top.s);
    if (hp.s) remove(hp.s);
    fc_strbuf_free(&top);
    fc_strbuf_free(&hp);
    return rc;
}

void fc_convhead_free(fc_convhead *h) {
    if (!h) return;
    fc_train_net_free(h->net);
    free(h->top);
    fc_finetune_result_free(&h->r);
    memset(h, 0, sizeof *h);
}

/* ---- fc_train's conv branch ---- */

int fc_convhead_fit(const fc_head_config *c, const fc_problem *p, int threads, fc_train_result *r,
                    fc_error *err) {
    memset(r, 0, sizeof *r);
    r->fold_mean = r->fold_std = NAN;
    if (p->n_folds) return fc_fail(err, FC_EINVAL, "conv heads need a train/validation split, not k-fold");
    if (p->map_rank != 3 || !p->x)
        return fc_fail(err, FC_EINVAL, "a conv head needs features that are maps (C, H, W): use --layer with "
                       "a spatial tensor (featcache cuts lists them)");
    double t0 = omp_get_wtime();
    int *views = malloc((size_t)p->n_views * sizeof *views + 4); /* block v: view slot v */
    for (int v = 0; views && v < p->n_views; v++) views[v] = v;
    fc_finetune_data d = {.p = p, .views = views, .n_views = p->n_views, .x = p->x};
    fc_convhead h = {0};
    int rc = views ? fc_convhead_init(&h, c, "map", p->map_dims, threads, err) : fc_fail(err, FC_ENOMEM, "out of memory");
    if (!rc) rc = fc_convhead_run(&h, c, &d, threads, NULL, err);
    if (!rc) {
        char spec[128];
        fc_conv_spec_format(&c->conv, ',', spec, sizeof spec);
        r->head = h.r.head;
        r->val = h.r.val;
        r->train_accuracy = h.r.train_accuracy;
        memset(&h.r.head, 0, sizeof h.r.head);
        memset(&h.r.val, 0, sizeof h.r.val);
        snprintf(r->info, sizeof r->info, "conv %s, %d epochs, adamw %s, %s products", spec, c->epochs,
                 fc_schedule_name(c->schedule), fc_train_precision_name(fc_train_net_precision(h.net)));
    }
    fc_convhead_free(&h);
    free(views);
    r->seconds = omp_get_wtime() - t0;
    return rc;
}
