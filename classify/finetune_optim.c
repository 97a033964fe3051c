/* The parameters fine-tuning updates, as one table over the net's (pretrained: backbone_lr_scale,
 * and the L2-SP pull toward their starting values) and the head's (new: the full learning rate, no
 * pull), with the optimizer state of each, its step, and the learning-rate schedule. The state's
 * order is fixed (net parameters in op order, then the head's layers W, b), which is what a
 * checkpoint stores. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "classify/finetune_internal.h"

static int add(ft_params *ps, float *value, float *grad, size_t n, float lr_scale, int decay, int adam, int anchored) {
    ft_param *p = &ps->p[ps->n++];
    *p = (ft_param){.value = value, .grad = grad, .n = n, .lr_scale = lr_scale, .decay = decay};
    p->m = calloc(n ? n : 1, sizeof(float));
    if (adam) p->v = calloc(n ? n : 1, sizeof(float));
    if (anchored && (p->anchor = malloc((n ? n : 1) * sizeof(float)))) memcpy(p->anchor, value, n * sizeof(float));
    ps->state_floats += n * (adam ? 3 : 2);
    return p->m && (!adam || p->v) && (!anchored || p->anchor) ? 0 : -1;
}

int ft_params_build(fc_train_net *net, ft_head *h, const fc_finetune_config *cfg, int n_train, ft_params *ps,
                    fc_error *err) {
    memset(ps, 0, sizeof *ps);
    int n_net = fc_train_net_n_params(net), adam = cfg->optimizer == FC_OPTIM_ADAMW, anchored = cfg->l2sp > 0;
    ps->pull = anchored && n_train > 0 ? (float)(cfg->l2sp / n_train) : 0.0f;
    ps->p = calloc((size_t)n_net + 2 * h->n_layers, sizeof *ps->p);
    if (!ps->p) return fc_fail(err, FC_ENOMEM, "out of memory for the optimizer state");
    for (int i = 0; i < n_net; i++) {
        fc_train_param tp;
        int rc = fc_train_net_param(net, i, &tp, err);
        if (rc) { ft_params_free(ps); return rc; }
        if (add(ps, tp.value, tp.grad, tp.count, (float)cfg->backbone_lr_scale, tp.decay, adam, anchored)) goto oom;
    }
    for (int i = 0; i < h->n_layers; i++) {
        fc_layer *l = &h->layers[i];
        if (add(ps, l->W, h->dW[i], (size_t)l->out * l->in, 1.0f, 1, adam, 0) ||
            add(ps, l->b, h->db[i], (size_t)l->out, 1.0f, 0, adam, 0))
            goto oom;
    }
    return 0;
oom:
    ft_params_free(ps);
    return fc_fail(err, FC_ENOMEM, "out of memory for the optimizer state");
}

void ft_params_free(ft_params *ps) {
    for (int i = 0; i < ps->n; i++) {
        free(ps->p[i].m);
        free(ps->p[i].v);
        free(ps->p[i].anchor);
    }
    free(ps->p);
    memset(ps, 0, sizeof *ps);
}

int ft_params_step(fc_train_ws *ws, ft_params *ps, const fc_finetune_config *cfg, double lr, long t,
                   fc_error *err) {
    for (int i = 0; i < ps->n; i++) {
        ft_param *p = &ps->p[i];
        float wd = p->decay ? (float)cfg->weight_decay : 0.0f;
        int rc;
        if (cfg->optimizer == FC_OPTIM_ADAMW) {
            fc_adamw o = {.lr = (float)lr, .beta1 = (float)cfg->beta1, .beta2 = (float)cfg->beta2,
                          .eps = (float)cfg->eps, .weight_decay = wd, .anchor = p->anchor, .anchor_decay = ps->pull};
            rc = fc_adamw_step(ws, p->value, p->m, p->v, p->grad, p->n, &o, t, p->lr_scale, err);
        } else {
            fc_sgd o = {.lr = (float)lr, .momentum = (float)cfg->momentum, .weight_decay = wd,
                        .anchor = p->anchor, .anchor_decay = ps->pull};
            rc = fc_sgd_step(ws, p->value, p->m, p->grad, p->n, &o, p->lr_scale, err);
        }
        if (rc) return rc;
    }
    return 0;
}

void ft_params_save(const ft_params *ps, float *dst) {
    for (int i = 0; i < ps->n; i++) {
        const ft_param *p = &ps->p[i];
        memcpy(dst, p->value, p->n * sizeof(float)), dst += p->n;
        memcpy(dst, p->m, p->n * sizeof(float)), dst += p->n;
        if (p->v) memcpy(dst, p->v, p->n * sizeof(float)), dst += p->n;
    }
}

void ft_params_load(ft_params *ps, const float *src) {
    for (int i = 0; i < ps->n; i++) {
        ft_param *p = &ps->p[i];
        memcpy(p->value, src, p->n * sizeof(float)), src += p->n;
        memcpy(p->m, src, p->n * sizeof(float)), src += p->n;
        if (p->v) memcpy(p->v, src, p->n * sizeof(float)), src += p->n;
    }
}

/* PyTorch's OneCycleLR (anneal_strategy 'cos', three_phase False) at step s of total: from lr / 25
 * up to lr over the first pct 0.3 of the steps, then down to lr / 25 / 1e4, each phase a cosine
 * from its start to its end value; the same step boundaries as PyTorch's (phase 1 ends at step
 * 0.3 * total - 1, a float). */
static double onecycle_lr(double max_lr, long s, long total) {
    double initial = max_lr / 25.0, final = initial / 1e4, end1 = 0.3 * (double)total - 1, end2 = (double)total - 1;
    double start = 0, from = initial, to = max_lr, end = end1;
    if ((double)s > end1) start = end1, from = max_lr, to = final, end = end2;
    double pct = end > start ? ((double)s - start) / (end - start) : 1.0;
    return to + (from - to) / 2.0 * (cos(M_PI * pct) + 1.0);
}

double ft_schedule_lr(const fc_finetune_config *cfg, long s, long total, long warmup) {
    if (cfg->schedule == FC_SCHEDULE_ONECYCLE) return onecycle_lr(cfg->lr, s, total);
    if (s < warmup) return cfg->lr * (double)(s + 1) / (double)warmup;
    if (cfg->schedule == FC_SCHEDULE_CONSTANT) return cfg->lr;
    long span = total - warmup;
    double progress = span > 0 ? (double)(s - warmup) / (double)span : 0.0;
    return cfg->lr * 0.5 * (1.0 + cos(M_PI * progress));
}
