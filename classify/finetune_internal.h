/* The parts of fine-tuning (finetune.h) behind fc_finetune_run: reading batches of cut activations
 * from the cache, the trainable head, the optimizer's parameter table and the checkpoint file.
 * Internal to classify/. */
#ifndef FC_FINETUNE_INTERNAL_H
#define FC_FINETUNE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "classify/finetune.h"

/* ---- cut activations (finetune_data.c) ---- */

/* input (n, input_size) = the cached cut activations of rows[0..n): row = item * d->n_views + slot
 * (view d->views[slot]); each value's CRC is checked. FC_EINVAL for an absent value (naming the
 * item's hash and view), FC_ESHAPE for a value of another size, FC_EFORMAT for a damaged one. */
int ft_load_rows(const fc_finetune_data *d, const int *rows, int n, float *input, size_t input_size,
                 fc_error *err);

/* ---- the head on the feature (finetune_head.c) ---- */

/* layers[0..n) as fc_head keeps them; the activations of one batch for the backward. */
typedef struct ft_head {
    int n_layers, D, K, batch;
    fc_layer *layers;        /* the result head's layers (not owned) */
    float *dW[FC_HEAD_MAX_LAYERS], *db[FC_HEAD_MAX_LAYERS];
    float *in[FC_HEAD_MAX_LAYERS]; /* (batch, in) input of layer i as the forward saw it (for
                                      i > 0 the ReLU output of layer i - 1: its mask too) */
    float *logits;           /* (batch, K) */
    float *grad_a, *grad_b;  /* (batch, widest layer) gradients passed down */
} ft_head;

/* Allocates the head's training buffers for its layers (already sized). FC_ENOMEM. */
int ft_head_init(ft_head *h, fc_layer *layers, int n_layers, int batch, fc_error *err);
void ft_head_free(ft_head *h);
/* logits (n, K) of feat (n, D); keeps what the backward needs. */
int ft_head_forward(fc_train_ws *ws, ft_head *h, const float *feat, int n, fc_error *err);
/* From dlogits (n, K): every dW/db, and dfeat (n, D). */
int ft_head_backward(fc_train_ws *ws, ft_head *h, const float *dlogits, int n, float *dfeat,
                     fc_error *err);
/* New layers for a head of kind cfg (softmax: K x D; mlp: hidden... x D, ReLU, K x last), weights
 * uniform in +-1/sqrt(in) from seed, biases 0 (PyTorch's Linear bound). */
int ft_head_layers_new(const fc_head_config *cfg, int D, int K, uint64_t seed, fc_layer *layers,
                       int *n_layers, fc_error *err);
/* Moves a fitted head's layers into layers[], folding its STANDARDIZE transform into layer 0 (so
 * the fine-tuned head reads the raw feature). FC_EINVAL for an L2 transform (not affine). */
int ft_head_take_folded(fc_head *fitted, fc_layer *layers, int *n_layers, fc_error *err);

/* ---- parameters and optimizer state (finetune_optim.c) ---- */

typedef struct ft_param {
    float *value, *grad;
    size_t n;
    float lr_scale; /* backbone_lr_scale for the net's, 1 for the head's */
    int decay;
    float *m, *v;   /* momentum (sgd) / moments (adamw; v NULL for sgd) */
    float *anchor;  /* the pretrained starting values (n) the L2-SP term pulls toward; NULL for the
                       head's and when cfg->l2sp is 0. Not checkpointed: a resume rebuilds the net
                       from the same model (the checkpoint's identity covers its values) */
} ft_param;

typedef struct ft_params {
    ft_param *p;
    int n;
    size_t state_floats; /* values + optimizer state, the checkpoint's float payload */
    float pull;          /* cfg->l2sp / n_train: the anchor's decay per step of the mean loss */
} ft_params;

/* The table over net and head; n_train (the training items) scales the L2-SP pull. */
int ft_params_build(fc_train_net *net, ft_head *h, const fc_finetune_config *cfg, int n_train, ft_params *ps,
                    fc_error *err);
void ft_params_free(ft_params *ps);
/* One optimizer step at head learning rate lr; t counts steps from 1 (adamw bias correction). */
int ft_params_step(fc_train_ws *ws, ft_params *ps, const fc_finetune_config *cfg, double lr, long t,
                   fc_error *err);
/* Every value then every optimizer state, in order, to / from dst (state_floats). */
void ft_params_save(const ft_params *ps, float *dst);
void ft_params_load(ft_params *ps, const float *src);
/* The head learning rate of step s (0-based) of total, with warmup steps of linear warmup. */
double ft_schedule_lr(const fc_finetune_config *cfg, long s, long total, long warmup);

/* ---- checkpoint (finetune_ckpt.c) ---- */

typedef struct ft_ckpt {
    uint8_t identity[32]; /* of the config and the data: a checkpoint of another run is refused */
    int epoch;
    long step;
    fc_finetune_epoch *history;
    int n_history;
    float *state;         /* ps->state_floats */
    size_t n_state;
} ft_ckpt;

/* Writes atomically (temporary + rename). FC_EIO / FC_ENOSPC naming the path. */
int ft_ckpt_write(const char *path, const ft_ckpt *c, fc_error *err);
/* 1 read into c (allocated: ft_ckpt_free), 0 no file, FC_EFORMAT (damaged or truncated, naming
 * the path), FC_EINVAL (another run's identity or state size), FC_EIO, FC_ENOMEM. */
int ft_ckpt_read(const char *path, const uint8_t identity[32], size_t n_state, ft_ckpt *c,
                 fc_error *err);
void ft_ckpt_free(ft_ckpt *c);

#endif
