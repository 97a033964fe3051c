/* Multilayer perceptron head: 1 or 2 hidden layers with ReLU and (inverted) dropout, softmax
 * cross-entropy, trained with Adam on shuffled mini-batches, decoupled weight decay (AdamW) on the
 * weights, and early stopping on a validation split that keeps the best weights (lowest validation
 * loss). A small own PRNG (xoshiro256** seeded by splitmix64) drives initialization, shuffling and
 * dropout, and every product runs on the engine's SGEMM whose results do not depend on the thread
 * count, so a fixed seed gives bit-identical weights on a given machine. Everything is float32.
 * Not here: other activations, batch normalization, learning-rate schedules, feature transforms
 * (transform.h), the sweep/CLI. */
#ifndef FC_MLP_H
#define FC_MLP_H

#include <stdint.h>

#include "classify/data.h"
#include "classify/head.h"
#include "core/core.h"

#define FC_MLP_MAX_HIDDEN 2

typedef struct fc_mlp_options {
    int n_hidden;               /* hidden layers, 1 or 2 (default 1) */
    int hidden[FC_MLP_MAX_HIDDEN]; /* units per hidden layer (default 512, 256) */
    float dropout;              /* drop probability after each hidden ReLU, in [0, 1) (default 0) */
    float lr;                   /* Adam step size (default 1e-3) */
    float beta1, beta2, eps;    /* Adam moments and denominator floor (default 0.9, 0.999, 1e-8) */
    float weight_decay;         /* decoupled decay of W per step: W -= lr * wd * W; biases are not
                                   decayed (default 1e-4) */
    int batch;                  /* mini-batch size (default 32; the last batch may be smaller) */
    int epochs;                 /* maximum epochs (default 100) */
    int patience;               /* stop after this many epochs without a lower validation loss;
                                   0 = run all epochs (default 10). Needs a validation split */
    uint64_t seed;              /* PRNG seed (default 0) */
    const float *class_weight;  /* (K) multipliers of the sample weights per class, or NULL */
    int threads;                /* OpenMP threads of products of at least 2^26 multiply-adds
                                   (<= 0: all cores); results are the same for any count */
} fc_mlp_options;

typedef struct fc_mlp_info {
    int epochs;          /* epochs run */
    int best_epoch;      /* 1-based epoch whose weights were kept (the last one without val) */
    double train_loss;   /* mean weighted cross-entropy over the last epoch's batches (dropout on) */
    double val_loss;     /* mean weighted cross-entropy on val at best_epoch (NaN without val) */
    double val_accuracy; /* accuracy on val at best_epoch (NaN without val) */
} fc_mlp_info;

/* Defaults listed above. Never fails. */
void fc_mlp_options_init(fc_mlp_options *o);

/* Trains on train (labels required, every class present) and early-stops on val (labels
 * required; NULL = no validation: all epochs run and the last weights are kept). layers
 * (n_hidden + 1 entries) must be zeroed on entry; they receive the fitted network: layers[i] is
 * (hidden[i], in) with ReLU for the hidden layers, and the last is (K, hidden[n_hidden-1]) with no
 * activation, ready for fc_head. opt NULL = defaults. info may be NULL.
 * Errors: as fc_data_check for both splits (empty, single class, missing labels, NaN rows, D
 * mismatch: val must have train's D), FC_EINVAL (bad options), FC_ENOMEM. On error the layers are
 * left zeroed. Memory: parameters x 4 (weights, best copy, Adam moments) plus activations of one
 * batch. Reentrant; each call uses opt->threads threads. */
int fc_mlp_fit(const fc_mlp_options *opt, const fc_data *train, const fc_data *val, int k,
               fc_layer *layers, fc_mlp_info *info, fc_error *err);

/* Loss and exact gradients of a network (what one full-batch training step sees, without dropout
 * and without weight decay): loss = (1/n) sum_i s_i * CE_i with s_i = weight_i * class_weight[y_i].
 * layers: n_layers (2 or 3) with the fc_mlp_fit layout; grads: n_layers layers of the same shapes,
 * allocated by the caller, overwritten with dloss/dW and dloss/db. For gradient checks and
 * diagnostics. Errors: as fc_data_check (labels required), FC_ESHAPE (layers do not chain or do
 * not match D or K, grads of another shape), FC_ENOMEM. threads <= 0: all cores. */
int fc_mlp_loss_grad(const fc_layer *layers, int n_layers, const fc_data *data, int k,
                     const float *class_weight, double *loss, fc_layer *grads, int threads,
                     fc_error *err);

#endif
