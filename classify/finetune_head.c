/* The head trained on top of the fine-tuned net: fc_head's affine layers (W (out, in), ReLU after
 * all but the last) run with the training ops of engine/train, so that its forward, backward and
 * products are the net's own. Shapes: feat (n, D) -> layer i (n, out_i) -> logits (n, K). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "classify/finetune_internal.h"

static float *alloc_floats(size_t n) { return calloc(n ? n : 1, sizeof(float)); }

int ft_head_init(ft_head *h, fc_layer *layers, int n_layers, int batch, fc_error *err) {
    memset(h, 0, sizeof *h);
    h->layers = layers;
    h->n_layers = n_layers;
    h->batch = batch;
    h->D = layers[0].in;
    h->K = layers[n_layers - 1].out;
    int widest = h->D;
    for (int i = 0; i < n_layers; i++) {
        const fc_layer *l = &layers[i];
        if (l->out > widest) widest = l->out;
        h->dW[i] = alloc_floats((size_t)l->out * l->in);
        h->db[i] = alloc_floats((size_t)l->out);
        h->in[i] = alloc_floats((size_t)batch * l->in);
        if (!h->dW[i] || !h->db[i] || !h->in[i]) goto oom;
    }
    h->logits = alloc_floats((size_t)batch * h->K);
    h->grad_a = alloc_floats((size_t)batch * widest);
    h->grad_b = alloc_floats((size_t)batch * widest);
    if (h->logits && h->grad_a && h->grad_b) return 0;
oom:
    ft_head_free(h);
    return fc_fail(err, FC_ENOMEM, "out of memory for the head's training buffers");
}

void ft_head_free(ft_head *h) {
    for (int i = 0; i < FC_HEAD_MAX_LAYERS; i++) {
        free(h->dW[i]);
        free(h->db[i]);
        free(h->in[i]);
    }
    free(h->logits);
    free(h->grad_a);
    free(h->grad_b);
    memset(h, 0, sizeof *h);
}

int ft_head_forward(fc_train_ws *ws, ft_head *h, const float *feat, int n, fc_error *err) {
    static const fc_act relu = {.kind = FC_ACT_RELU};
    memcpy(h->in[0], feat, (size_t)n * h->D * sizeof(float));
    for (int i = 0; i < h->n_layers; i++) {
        const fc_layer *l = &h->layers[i];
        int last = i == h->n_layers - 1;
        float *out = last ? h->logits : h->in[i + 1];
        int rc = fc_linear_forward(ws, out, h->in[i], l->W, l->b, n, l->in, l->out, err);
        if (!rc && !last && l->act == FC_ACTIVATION_RELU)
            rc = fc_act_forward(ws, out, out, (size_t)n * l->out, &relu, err);
        if (rc) return rc;
    }
    return 0;
}

int ft_head_backward(fc_train_ws *ws, ft_head *h, const float *dlogits, int n, float *dfeat,
                     fc_error *err) {
    static const fc_act relu = {.kind = FC_ACT_RELU};
    const float *dout = dlogits;
    for (int i = h->n_layers - 1; i >= 0; i--) {
        const fc_layer *l = &h->layers[i];
        float *din = i ? (dout == h->grad_a ? h->grad_b : h->grad_a) : dfeat;
        int rc = fc_linear_backward(ws, din, h->dW[i], h->db[i], dout, h->in[i], l->W, n, l->in,
                                    l->out, err);
        /* the ReLU of layer i - 1, from its output (the input of layer i): > 0 where it passed */
        if (!rc && i && h->layers[i - 1].act == FC_ACTIVATION_RELU)
            rc = fc_act_backward(ws, din, din, h->in[i], (size_t)n * l->in, &relu, err);
        if (rc) return rc;
        dout = din;
    }
    return 0;
}

static uint64_t splitmix64(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

int ft_head_layers_new(const fc_head_config *cfg, int D, int K, uint64_t seed, fc_layer *layers,
                       int *n_layers, fc_error *err) {
    int widths[FC_HEAD_MAX_LAYERS + 1], n = 0;
    widths[n++] = D;
    if (cfg->kind == FC_HEAD_MLP)
        for (int i = 0; i < cfg->n_hidden; i++) widths[n++] = cfg->hidden[i];
    widths[n++] = K;
    *n_layers = n - 1;
    uint64_t s = seed ^ 0x66696e6574756e65ull; /* "finetune": another stream than the order's */
    for (int i = 0; i < *n_layers; i++) {
        int last = i == *n_layers - 1;
        int rc = fc_layer_alloc(&layers[i], widths[i], widths[i + 1],
                                last ? FC_ACTIVATION_NONE : FC_ACTIVATION_RELU, err);
        if (rc) {
            while (i--) fc_layer_free(&layers[i]);
            return rc;
        }
        float bound = 1.0f / sqrtf((float)widths[i]);
        for (size_t j = 0; j < (size_t)widths[i] * widths[i + 1]; j++)
            layers[i].W[j] = bound * (float)((double)(splitmix64(&s) >> 11) * 0x1p-52 - 1.0);
    }
    return 0;
}

int ft_head_take_folded(fc_head *fitted, fc_layer *layers, int *n_layers, fc_error *err) {
    fc_transform *t = &fitted->transform;
    if (t->kind == FC_TRANSFORM_L2)
        return fc_fail(err, FC_EINVAL, "an l2-normalized head cannot be fine-tuned (not affine): use --normalize std or none");
    fc_layer *l0 = &fitted->layers[0];
    if (t->kind == FC_TRANSFORM_STANDARDIZE) {
        /* W (x - mean) * scale + b = (W scale) x + (b - (W scale) mean), per output row */
        for (int o = 0; o < l0->out; o++) {
            float *w = l0->W + (size_t)o * l0->in;
            double shift = 0;
            for (int j = 0; j < l0->in; j++) {
                w[j] *= t->scale[j];
                shift += (double)w[j] * t->mean[j];
            }
            l0->b[o] = (float)(l0->b[o] - shift);
        }
    }
    *n_layers = fitted->n_layers;
    for (int i = 0; i < fitted->n_layers; i++) {
        layers[i] = fitted->layers[i];
        memset(&fitted->layers[i], 0, sizeof fitted->layers[i]);
    }
    fitted->n_layers = 0;
    return 0;
}
