/* MLP training. Layers are written as forward/backward pairs with the same argument order
 * (outputs, inputs, parameters, sizes; the backward pass takes the gradients of the forward's
 * outputs and inputs in the same positions), as in llm.c:
 *   linear_forward(out, inp, W, b, B, I, O)         linear_backward(dinp, dW, db, dout, inp, W, B, I, O)
 *   relu_forward(out, inp, n)                       relu_backward(dinp, dout, inp, n)
 *   dropout_forward(out, mask, inp, n, p, rng)      dropout_backward(dinp, dout, mask, n, p)
 *   softmax_crossentropy_forward(probs, logits, targets, weights, B, K) -> sum of weighted losses
 *   softmax_crossentropy_backward(dlogits, probs, targets, weights, B, K, scale)
 * The network (net) strings them together for one batch; fc_mlp_fit adds Adam, shuffling, early
 * stopping. Not here: inference of the fitted head (head.c does it). */
#include "classify/mlp.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <immintrin.h>
#endif

#include "engine/engine.h"

void fc_mlp_options_init(fc_mlp_options *o) {
    memset(o, 0, sizeof *o);
    o->n_hidden = 1;
    o->hidden[0] = 512;
    o->hidden[1] = 256;
    o->lr = 1e-3f;
    o->beta1 = 0.9f;
    o->beta2 = 0.999f;
    o->eps = 1e-8f;
    o->weight_decay = 1e-4f;
    o->batch = 32;
    o->epochs = 100;
    o->patience = 10;
}

/* ---- PRNG: xoshiro256** (Blackman & Vigna), state seeded by splitmix64 ---- */

typedef struct rng {
    uint64_t s[4];
} rng;

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void rng_seed(rng *r, uint64_t seed) {
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t rng_next(rng *r) {
    uint64_t *s = r->s, out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0], s[3] ^= s[1], s[1] ^= s[2], s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

/* Uniform in [0, 1) with 24 random bits. */
static float rng_uniform(rng *r) { return (float)(rng_next(r) >> 40) * 0x1.0p-24f; }

/* Uniform integer in [0, n) (multiply-shift; bias below 2^-32 for n < 2^32). */
static uint32_t rng_below(rng *r, uint32_t n) { return (uint32_t)(((rng_next(r) >> 32) * (uint64_t)n) >> 32); }

/* ---- layers ---- */

/* out (B, O) = inp (B, I) W^T + b, W (O, I), b (O). */
static int linear_forward(fc_matmul *g, float *out, const float *inp, const float *W, const float *b, int B, int I,
                          int O, fc_error *err) {
    int rc = fc_matmul_run(g, B, O, I, inp, I, 1, W, 1, I, out, O, 1, err);
    if (rc) return rc;
    for (int r = 0; r < B; r++) {
        float *o = out + (size_t)r * O;
        for (int j = 0; j < O; j++) o[j] += b[j];
    }
    return 0;
}

/* dinp (B, I) = dout W (skipped when dinp is NULL), dW (O, I) = dout^T inp, db (O) = sum_r dout. */
static int linear_backward(fc_matmul *g, float *dinp, float *dW, float *db, const float *dout, const float *inp,
                           const float *W, int B, int I, int O, fc_error *err) {
    int rc = 0;
    if (dinp && (rc = fc_matmul_run(g, B, I, O, dout, O, 1, W, I, 1, dinp, I, 1, err))) return rc;
    if ((rc = fc_matmul_run(g, O, I, B, dout, 1, O, inp, I, 1, dW, I, 1, err))) return rc;
    memset(db, 0, (size_t)O * sizeof *db);
    for (int r = 0; r < B; r++) {
        const float *d = dout + (size_t)r * O;
        for (int j = 0; j < O; j++) db[j] += d[j];
    }
    return 0;
}

/* out (n) = max(inp, 0); out may equal inp. */
static void relu_forward(float *out, const float *inp, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = inp[i] > 0 ? inp[i] : 0;
}

/* dinp (n) = dout where inp > 0, else 0; dinp may equal dout. */
static void relu_backward(float *dinp, const float *dout, const float *inp, size_t n) {
    for (size_t i = 0; i < n; i++) dinp[i] = inp[i] > 0 ? dout[i] : 0;
}

/* Inverted dropout: out = inp * mask / (1 - p), mask[i] = 0 with probability p; out may equal inp. */
static void dropout_forward(float *out, uint8_t *mask, const float *inp, size_t n, float p, rng *r) {
    float keep = 1.0f / (1.0f - p);
    for (size_t i = 0; i < n; i++) {
        mask[i] = rng_uniform(r) >= p;
        out[i] = mask[i] ? inp[i] * keep : 0;
    }
}

static void dropout_backward(float *dinp, const float *dout, const uint8_t *mask, size_t n, float p) {
    float keep = 1.0f / (1.0f - p);
    for (size_t i = 0; i < n; i++) dinp[i] = mask[i] ? dout[i] * keep : 0;
}

/* probs (B, K) = softmax(logits (B, K)); returns sum_r weights[r] * -log probs[r, targets[r]]
 * (weights NULL = 1), computed in double from the max-shifted logits. */
static double softmax_crossentropy_forward(float *probs, const float *logits, const int *targets, const float *weights,
                                           int B, int K) {
    double total = 0;
    for (int r = 0; r < B; r++) {
        const float *z = logits + (size_t)r * K;
        float *p = probs + (size_t)r * K;
        double m = z[0], s = 0;
        for (int c = 1; c < K; c++) m = z[c] > m ? z[c] : m;
        for (int c = 0; c < K; c++) s += exp((double)z[c] - m);
        double lse = m + log(s);
        for (int c = 0; c < K; c++) p[c] = (float)exp((double)z[c] - lse);
        total += (weights ? weights[r] : 1.0) * (lse - z[targets[r]]);
    }
    return total;
}

/* dlogits (B, K) = scale * weights[r] * (probs - onehot(targets)), the gradient of scale times the
 * forward's sum. */
static void softmax_crossentropy_backward(float *dlogits, const float *probs, const int *targets,
                                          const float *weights, int B, int K, float scale) {
    for (int r = 0; r < B; r++) {
        float s = scale * (weights ? weights[r] : 1.0f);
        const float *p = probs + (size_t)r * K;
        float *d = dlogits + (size_t)r * K;
        for (int c = 0; c < K; c++) d[c] = s * p[c];
        d[targets[r]] -= s;
    }
}

/* ---- network: the pairs strung together for one batch ---- */

typedef struct net {
    int nl;                  /* layers (2 or 3) */
    int dims[FC_HEAD_MAX_LAYERS + 1]; /* dims[0] = D, dims[l + 1] = outputs of layer l */
    const fc_layer *p;       /* parameters (nl) */
    fc_layer *g;             /* gradients (nl) */
    int cap;                 /* batch capacity of the buffers */
    float *x;                /* (cap, D) gathered batch */
    int *y;                  /* (cap) */
    float *w;                /* (cap) weights s_i */
    float *pre[FC_HEAD_MAX_LAYERS]; /* (cap, dims[l + 1]) linear outputs */
    float *act[FC_HEAD_MAX_LAYERS]; /* hidden: ReLU (+ dropout) outputs; last: probabilities */
    uint8_t *mask[FC_HEAD_MAX_LAYERS]; /* dropout masks of the hidden layers */
    float *d0, *d1;          /* (cap, widest layer) gradient buffers */
    fc_matmul mm;
} net;

static void net_free(net *N) {
    free(N->x);
    free(N->y);
    free(N->w);
    for (int l = 0; l < FC_HEAD_MAX_LAYERS; l++) free(N->pre[l]), free(N->act[l]), free(N->mask[l]);
    free(N->d0);
    free(N->d1);
    fc_matmul_free(&N->mm);
    memset(N, 0, sizeof *N);
}

static int net_init(net *N, const fc_layer *p, fc_layer *g, int nl, int cap, int threads, fc_error *err) {
    memset(N, 0, sizeof *N);
    N->nl = nl, N->p = p, N->g = g, N->cap = cap;
    N->dims[0] = p[0].in;
    int wide = p[0].in;
    for (int l = 0; l < nl; l++) {
        N->dims[l + 1] = p[l].out;
        wide = p[l].out > wide ? p[l].out : wide;
    }
    fc_matmul_init(&N->mm, threads);
    size_t c = (size_t)cap;
    N->x = malloc(c * N->dims[0] * sizeof *N->x);
    N->y = malloc(c * sizeof *N->y);
    N->w = malloc(c * sizeof *N->w);
    N->d0 = malloc(c * wide * sizeof *N->d0);
    N->d1 = malloc(c * wide * sizeof *N->d1);
    int ok = N->x && N->y && N->w && N->d0 && N->d1;
    for (int l = 0; l < nl; l++) {
        size_t cells = c * N->dims[l + 1];
        N->pre[l] = malloc(cells * sizeof(float));
        N->act[l] = malloc(cells * sizeof(float));
        N->mask[l] = l < nl - 1 ? malloc(cells) : NULL;
        ok = ok && N->pre[l] && N->act[l] && (l == nl - 1 || N->mask[l]);
    }
    if (!ok) {
        net_free(N);
        return fc_fail(err, FC_ENOMEM, "mlp: out of memory for a batch of %d", cap);
    }
    return 0;
}

/* Forward pass over the batch in N->x/y/w (B rows); dropout when p > 0 and r != NULL. Returns the
 * summed weighted loss in *loss; probabilities end up in act[nl - 1]. */
static int net_forward(net *N, int B, float p, rng *r, double *loss, fc_error *err) {
    const float *in = N->x;
    int rc;
    for (int l = 0; l < N->nl; l++) {
        int I = N->dims[l], O = N->dims[l + 1];
        if ((rc = linear_forward(&N->mm, N->pre[l], in, N->p[l].W, N->p[l].b, B, I, O, err))) return rc;
        if (l == N->nl - 1) break;
        relu_forward(N->act[l], N->pre[l], (size_t)B * O);
        if (p > 0 && r) dropout_forward(N->act[l], N->mask[l], N->act[l], (size_t)B * O, p, r);
        in = N->act[l];
    }
    int last = N->nl - 1;
    *loss = softmax_crossentropy_forward(N->act[last], N->pre[last], N->y, N->w, B, N->dims[N->nl]);
    return 0;
}

/* Backward pass after net_forward with the same B and p: gradients of scale * loss into N->g. */
static int net_backward(net *N, int B, float p, float scale, fc_error *err) {
    int last = N->nl - 1, rc;
    softmax_crossentropy_backward(N->d0, N->act[last], N->y, N->w, B, N->dims[N->nl], scale);
    for (int l = last; l >= 0; l--) {
        int I = N->dims[l], O = N->dims[l + 1];
        const float *inp = l > 0 ? N->act[l - 1] : N->x;
        if ((rc = linear_backward(&N->mm, l > 0 ? N->d1 : NULL, N->g[l].W, N->g[l].b, N->d0, inp, N->p[l].W, B, I,
                                  O, err)))
            return rc;
        if (l == 0) break;
        if (p > 0) dropout_backward(N->d1, N->d1, N->mask[l - 1], (size_t)B * I, p);
        relu_backward(N->d1, N->d1, N->pre[l - 1], (size_t)B * I);
        float *t = N->d0;
        N->d0 = N->d1, N->d1 = t;
    }
    return 0;
}

/* Copies rows idx[0..B) of s into the batch buffers (weights include class weights). */
static void gather(net *N, const fc_data *s, const int *idx, int B, const float *class_weight) {
    int d = N->dims[0];
    for (int r = 0; r < B; r++) {
        int i = idx ? idx[r] : r;
        memcpy(N->x + (size_t)r * d, s->x + (size_t)i * d, (size_t)d * sizeof *N->x);
        N->y[r] = s->y[i];
        N->w[r] = (s->weight ? s->weight[i] : 1.0f) * (class_weight ? class_weight[s->y[i]] : 1.0f);
    }
}

/* Mean weighted loss (sum of s_i CE_i over n) and plain accuracy of the current parameters on s,
 * in batches of N->cap rows. */
static int evaluate(net *N, const fc_data *s, const float *class_weight, double *loss, double *accuracy,
                    fc_error *err) {
    double total = 0;
    int correct = 0, K = N->dims[N->nl], rc;
    for (int r0 = 0; r0 < s->n; r0 += N->cap) {
        int B = s->n - r0 < N->cap ? s->n - r0 : N->cap;
        fc_data part = *s;
        part.x = s->x + (size_t)r0 * s->d, part.y = s->y + r0, part.weight = s->weight ? s->weight + r0 : NULL;
        gather(N, &part, NULL, B, class_weight);
        double l;
        if ((rc = net_forward(N, B, 0, NULL, &l, err))) return rc;
        total += l;
        const float *P = N->act[N->nl - 1];
        for (int r = 0; r < B; r++) {
            int best = 0;
            for (int c = 1; c < K; c++) best = P[(size_t)r * K + c] > P[(size_t)r * K + best] ? c : best;
            correct += best == N->y[r];
        }
    }
    *loss = total / s->n;
    *accuracy = (double)correct / s->n;
    return 0;
}

/* ---- training ---- */

/* Adam moments of one layer. */
typedef struct moments {
    float *mW, *vW, *mb, *vb;
} moments;

/* One Adam step with decoupled weight decay on n parameters:
 *   m = b1 m + (1 - b1) g,  v = b2 v + (1 - b2) g^2,
 *   param -= lr * ((m * (1/c1)) / (sqrt(v * (1/c2)) + eps) + decay * param),  c1, c2 the bias
 * corrections.
 * The SSE path computes exactly the same IEEE operations four at a time (sqrtps and divps are
 * correctly rounded like their scalar forms), so results do not depend on which path ran. */
static void adam_update(float *restrict param, float *restrict m, float *restrict v, const float *restrict grad,
                        size_t n, float lr, float b1, float b2, float eps, float c1, float c2, float decay) {
    size_t i = 0;
#ifdef __SSE2__
    const __m128 vb1 = _mm_set1_ps(b1), vb1c = _mm_set1_ps(1 - b1), vb2 = _mm_set1_ps(b2), vb2c = _mm_set1_ps(1 - b2);
    const __m128 vc1 = _mm_set1_ps(1 / c1), vc2 = _mm_set1_ps(1 / c2), veps = _mm_set1_ps(eps), vlr = _mm_set1_ps(lr);
    const __m128 vdecay = _mm_set1_ps(decay);
    for (; i + 4 <= n; i += 4) {
        __m128 g = _mm_loadu_ps(grad + i), p = _mm_loadu_ps(param + i);
        __m128 mi = _mm_add_ps(_mm_mul_ps(vb1, _mm_loadu_ps(m + i)), _mm_mul_ps(vb1c, g));
        __m128 vi = _mm_add_ps(_mm_mul_ps(vb2, _mm_loadu_ps(v + i)), _mm_mul_ps(_mm_mul_ps(vb2c, g), g));
        __m128 step = _mm_div_ps(_mm_mul_ps(mi, vc1), _mm_add_ps(_mm_sqrt_ps(_mm_mul_ps(vi, vc2)), veps));
        p = _mm_sub_ps(p, _mm_mul_ps(vlr, _mm_add_ps(step, _mm_mul_ps(vdecay, p))));
        _mm_storeu_ps(m + i, mi);
        _mm_storeu_ps(v + i, vi);
        _mm_storeu_ps(param + i, p);
    }
#endif
    for (; i < n; i++) {
        m[i] = b1 * m[i] + (1 - b1) * grad[i];
        v[i] = b2 * v[i] + (1 - b2) * grad[i] * grad[i];
        param[i] -= lr * ((m[i] * (1 / c1)) / (sqrtf(v[i] * (1 / c2)) + eps) + decay * param[i]);
    }
}

static int check_options(const fc_mlp_options *o, fc_error *err) {
    if (o->n_hidden < 1 || o->n_hidden > FC_MLP_MAX_HIDDEN)
        return fc_fail(err, FC_EINVAL, "mlp: %d hidden layers (1 or 2 allowed)", o->n_hidden);
    for (int l = 0; l < o->n_hidden; l++)
        if (o->hidden[l] < 1 || o->hidden[l] > (1 << 20))
            return fc_fail(err, FC_EINVAL, "mlp: hidden layer %d has %d units", l, o->hidden[l]);
    if (!(o->dropout >= 0 && o->dropout < 1))
        return fc_fail(err, FC_EINVAL, "mlp: dropout %g (must be in [0, 1))", o->dropout);
    if (!(o->lr > 0) || !isfinite(o->lr)) return fc_fail(err, FC_EINVAL, "mlp: learning rate %g", o->lr);
    if (!(o->beta1 >= 0 && o->beta1 < 1) || !(o->beta2 >= 0 && o->beta2 < 1) || !(o->eps > 0))
        return fc_fail(err, FC_EINVAL, "mlp: Adam parameters beta1 %g, beta2 %g, eps %g", o->beta1, o->beta2, o->eps);
    if (!(o->weight_decay >= 0) || !isfinite(o->weight_decay))
        return fc_fail(err, FC_EINVAL, "mlp: weight decay %g", o->weight_decay);
    if ((double)o->lr * o->weight_decay >= 1) /* each step multiplies W by 1 - lr * decay */
        return fc_fail(err, FC_EINVAL,
                       "mlp: weight decay (l2) %g x learning rate %g >= 1 would zero the weights at every step; "
                       "use l2 < %g", o->weight_decay, o->lr, 1 / o->lr);
    if (o->batch < 1 || o->epochs < 1 || o->patience < 0)
        return fc_fail(err, FC_EINVAL, "mlp: batch %d, epochs %d, patience %d", o->batch, o->epochs, o->patience);
    return 0;
}

int fc_mlp_fit(const fc_mlp_options *opt, const fc_data *train, const fc_data *val, int k, fc_layer *layers,
               fc_mlp_info *info, fc_error *err) {
    fc_mlp_options o;
    if (opt) o = *opt;
    else fc_mlp_options_init(&o);
    if (!train || !layers) return fc_fail(err, FC_EINVAL, "mlp: no data or layers");
    int rc = check_options(&o, err);
    if (rc) return rc;
    if ((rc = fc_data_check(train, train->d, k, FC_DATA_ALL_CLASSES, err))) return rc;
    if (val && (rc = fc_data_check(val, train->d, k, FC_DATA_LABELED, err))) return rc;
    if (o.class_weight)
        for (int c = 0; c < k; c++)
            if (!(o.class_weight[c] >= 0) || !isfinite(o.class_weight[c]))
                return fc_fail(err, FC_EINVAL, "mlp: class weight %d is %g (must be >= 0)", c, o.class_weight[c]);

    int nl = o.n_hidden + 1, n = train->n, d = train->d;
    fc_layer grads[FC_HEAD_MAX_LAYERS] = {0}, best[FC_HEAD_MAX_LAYERS] = {0};
    moments mo[FC_HEAD_MAX_LAYERS] = {0};
    net N = {0};
    int *perm = NULL;
    rng r;
    rng_seed(&r, o.seed);
    for (int l = 0; l < nl; l++) memset(&layers[l], 0, sizeof layers[l]);
    for (int l = 0; l < nl; l++) {
        int in = l ? o.hidden[l - 1] : d, out = l < nl - 1 ? o.hidden[l] : k;
        fc_activation act = l < nl - 1 ? FC_ACTIVATION_RELU : FC_ACTIVATION_NONE;
        if ((rc = fc_layer_alloc(&layers[l], in, out, act, err)) ||
            (rc = fc_layer_alloc(&grads[l], in, out, act, err)) || (rc = fc_layer_alloc(&best[l], in, out, act, err)))
            goto fail;
        size_t nw = (size_t)in * out;
        mo[l].mW = calloc(nw, sizeof(float)), mo[l].vW = calloc(nw, sizeof(float));
        mo[l].mb = calloc((size_t)out, sizeof(float)), mo[l].vb = calloc((size_t)out, sizeof(float));
        if (!mo[l].mW || !mo[l].vW || !mo[l].mb || !mo[l].vb) {
            rc = fc_fail(err, FC_ENOMEM, "mlp: out of memory for %d x %d weights", out, in);
            goto fail;
        }
        /* He-uniform for layers followed by ReLU, Glorot-uniform for the output layer; b = 0 */
        float bound = l < nl - 1 ? sqrtf(6.0f / in) : sqrtf(6.0f / (in + out));
        for (size_t i = 0; i < nw; i++) layers[l].W[i] = (2 * rng_uniform(&r) - 1) * bound;
    }
    int cap = o.batch < n ? o.batch : n;
    if (val && val->n > cap) cap = val->n < 256 ? val->n : (cap > 256 ? cap : 256);
    if ((rc = net_init(&N, layers, grads, nl, cap, o.threads, err))) goto fail;
    if (!(perm = malloc((size_t)n * sizeof *perm))) {
        rc = fc_fail(err, FC_ENOMEM, "mlp: out of memory");
        goto fail;
    }
    for (int i = 0; i < n; i++) perm[i] = i;

    fc_mlp_info res = {.val_loss = NAN, .val_accuracy = NAN};
    double best_loss = INFINITY;
    int wait = 0;
    long step = 0;
    for (int epoch = 1; epoch <= o.epochs; epoch++) {
        for (int i = n - 1; i > 0; i--) { /* Fisher-Yates */
            int j = (int)rng_below(&r, (uint32_t)i + 1), t = perm[i];
            perm[i] = perm[j], perm[j] = t;
        }
        double epoch_loss = 0;
        for (int b0 = 0; b0 < n; b0 += o.batch) {
            int B = n - b0 < o.batch ? n - b0 : o.batch;
            gather(&N, train, perm + b0, B, o.class_weight);
            double l;
            if ((rc = net_forward(&N, B, o.dropout, &r, &l, err)) ||
                (rc = net_backward(&N, B, o.dropout, 1.0f / B, err)))
                goto fail;
            epoch_loss += l;
            step++;
            float c1 = 1 - powf(o.beta1, (float)step), c2 = 1 - powf(o.beta2, (float)step);
            for (int q = 0; q < nl; q++) {
                adam_update(layers[q].W, mo[q].mW, mo[q].vW, grads[q].W, (size_t)layers[q].in * layers[q].out, o.lr,
                            o.beta1, o.beta2, o.eps, c1, c2, o.weight_decay);
                adam_update(layers[q].b, mo[q].mb, mo[q].vb, grads[q].b, (size_t)layers[q].out, o.lr, o.beta1, o.beta2,
                            o.eps, c1, c2, 0);
            }
        }
        res.epochs = epoch;
        res.train_loss = epoch_loss / n;
        if (!isfinite(res.train_loss)) {
            rc = fc_fail(err, FC_EINVAL,
                "mlp: training diverged at epoch %d (loss is not finite); lower the learning rate",
                         epoch);
            goto fail;
        }
        if (!val) {
            res.best_epoch = epoch;
            continue;
        }
        double vl, va;
        if ((rc = evaluate(&N, val, o.class_weight, &vl, &va, err))) goto fail;
        if (vl < best_loss) {
            best_loss = vl, wait = 0;
            res.best_epoch = epoch, res.val_loss = vl, res.val_accuracy = va;
            for (int q = 0; q < nl; q++) {
                memcpy(best[q].W, layers[q].W, (size_t)layers[q].in * layers[q].out * sizeof(float));
                memcpy(best[q].b, layers[q].b, (size_t)layers[q].out * sizeof(float));
            }
        } else if (o.patience > 0 && ++wait >= o.patience) {
            break;
        }
    }
    if (val)
        for (int q = 0; q < nl; q++) {
            memcpy(layers[q].W, best[q].W, (size_t)layers[q].in * layers[q].out * sizeof(float));
            memcpy(layers[q].b, best[q].b, (size_t)layers[q].out * sizeof(float));
        }
    if (info) *info = res;
fail:
    if (rc)
        for (int l = 0; l < nl; l++) fc_layer_free(&layers[l]);
    for (int l = 0; l < nl; l++) {
        fc_layer_free(&grads[l]);
        fc_layer_free(&best[l]);
        free(mo[l].mW), free(mo[l].vW), free(mo[l].mb), free(mo[l].vb);
    }
    free(perm);
    net_free(&N);
    return rc;
}

int fc_mlp_loss_grad(const fc_layer *layers, int n_layers, const fc_data *data, int k, const float *class_weight,
                     double *loss, fc_layer *grads, int threads, fc_error *err) {
    if (!layers || !grads || !loss || n_layers < 2 || n_layers > FC_HEAD_MAX_LAYERS)
        return fc_fail(err, FC_EINVAL, "mlp: bad network (%d layers)", n_layers);
    int rc = fc_data_check(data, layers[0].in, k, FC_DATA_LABELED, err);
    if (rc) return rc;
    for (int l = 0; l < n_layers; l++) {
        const fc_layer *p = &layers[l], *g = &grads[l];
        if (!p->W || !p->b || (l > 0 && p->in != layers[l - 1].out))
            return fc_fail(err, FC_ESHAPE, "mlp: layer %d does not chain", l);
        if (!g->W || !g->b || g->in != p->in || g->out != p->out)
            return fc_fail(err, FC_ESHAPE, "mlp: gradient %d is not %d x %d", l, p->out, p->in);
    }
    if (layers[n_layers - 1].out != k)
        return fc_fail(err, FC_ESHAPE, "mlp: the last layer has %d outputs for %d classes",
            layers[n_layers - 1].out, k);
    net N;
    if ((rc = net_init(&N, layers, grads, n_layers, data->n, threads, err))) return rc;
    gather(&N, data, NULL, data->n, class_weight);
    double l;
    if (!(rc = net_forward(&N, data->n, 0, NULL, &l, err)) && !(rc = net_backward(&N, data->n, 0, 1.0f / data->n, err)))
        *loss = l / data->n;
    net_free(&N);
    return rc;
}
