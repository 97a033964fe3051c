/* Fine-tuning the top of a backbone on cut activations kept in the cache (the lecture's second
 * recipe): a trainable net from the cut to the feature tensor (engine/train/net.h), a new head on
 * the feature, softmax cross-entropy, SGD or AdamW with a smaller learning rate for the pretrained
 * layers, a cosine or constant schedule with linear warmup. LP-FT: the head is first fitted on the
 * frozen features (fc_train: softmax L-BFGS or the MLP), then everything trains. Each epoch draws
 * one cached view per training item; validation uses the original view. Cut activations are read
 * from the cache batch by batch and the linear probe holds the features of a bounded sample of the
 * items, so memory does not grow with the data set. After every epoch the whole state goes to a checkpoint
 * file: a run killed at any time resumes from it bitwise as if it had not stopped (same seed and
 * threads). Not here: computing the cut activations (extract/), files other than the checkpoint,
 * printing (cli/). */
#ifndef FC_FINETUNE_H
#define FC_FINETUNE_H

#include <stdint.h>

#include "classify/head.h"
#include "classify/metrics.h"
#include "classify/train.h"
#include "core/core.h"
#include "engine/engine.h"
#include "store/store.h"

typedef enum { FC_OPTIM_SGD = 0, FC_OPTIM_ADAMW = 1 } fc_optim_kind;

/* By default (lp_max_items 0) the linear probe fits on the frozen features of at most
 * max(FC_FINETUNE_LP_MAX_ITEMS, 32 per class) training items, and chooses its L2 on as many
 * validation items: beyond that a sample drawn from the seed, with every class (the head is only
 * the starting point of the epochs, which see every item; its features are held in memory and
 * every L-BFGS iteration passes over them). */
#define FC_FINETUNE_LP_MAX_ITEMS 1024

typedef struct fc_finetune_config {
    int epochs;               /* 15 */
    int batch;                /* 32; the last batch of an epoch may be smaller */
    double lr;                /* the head's peak learning rate (sgd 0.01, adamw 1e-3) */
    double backbone_lr_scale; /* 0.1: the pretrained layers learn at lr * scale */
    fc_optim_kind optimizer;  /* sgd */
    double momentum;          /* sgd: 0.9 */
    double weight_decay;      /* 1e-4 (sgd: L2 added to the gradient; adamw: decoupled), weights only */
    double l2sp;              /* 250: L2-SP (Li et al. 2018), the pretrained layers' parameters pulled
                                 toward their starting values: (l2sp / 2n) * ||w - w0||^2 added to
                                 the mean loss over the n training items, i.e. a Gaussian prior of
                                 precision l2sp around the pretrained net, whose weight against the
                                 data fades as n grows (the lecture's table: small data, stay close;
                                 more data, move). 0: off. Not on the head (new layers) */
    double beta1, beta2, eps; /* adamw: 0.9, 0.999, 1e-8 */
    fc_schedule_kind schedule;/* cosine: lr * (1 + cos(pi * s / S)) / 2 over the steps after warmup;
                                 onecycle: PyTorch's OneCycleLR (max lr, pct_start 0.3, cos
                                 anneal, div 25, final div 1e4, no momentum cycling), no warmup */
    int warmup;               /* epochs of linear warmup from lr / (warmup steps) to lr (0) */
    double dropout;           /* on the feature, before the head (0.2, as MobileNetV2's classifier) */
    fc_head_config head;      /* the head's kind (softmax or mlp) and its linear-probe fit */
    int lp;                   /* 1: fit the head on the frozen features first (LP-FT, default) */
    int lp_max_items;         /* the linear probe's bound on the items of each side (0: the default
                                 above; else at least one per class) */
    int lp_l2_auto;           /* softmax LP: head.l2 chosen by validation accuracy among 1e-2 ..
                                 1e3 (one regularization path; default 1) */
    uint64_t seed;            /* order, views, dropout, a new head's initialization (0) */
    int threads;              /* <= 0: all cores */
    fc_train_precision precision; /* of the net's products: FC_TRAIN_F32 (default) or FC_TRAIN_BF16,
                                 the net's own (fc_train_net_precision; the run refuses another) */
} fc_finetune_config;

/* Defaults listed above; the head: softmax, std normalization, l2 1. */
void fc_finetune_config_init(fc_finetune_config *c);
const char *fc_optim_name(fc_optim_kind k);
const char *fc_schedule_name(fc_schedule_kind k);
int fc_optim_parse(const char *s, fc_optim_kind *out, fc_error *err);
int fc_schedule_parse(const char *s, fc_schedule_kind *out, fc_error *err);

/* Where the cut activations are: the cache, the cut's extractor id, and the items of a problem
 * built with x NULL (labels, classes, roles; fc_problem_build), hashes (p->n) naming their cached
 * values, views[0..n_views) the view indices each epoch draws from (views[0] must be 0, orig).
 * Or, with x set, in memory: x is (n_views, p->n, input size) as fc_problem's x (block v is view
 * views[v] of every item); cache is then unused and hashes may be NULL (a checkpoint's identity
 * then does not cover the rows' items). */
typedef struct fc_finetune_data {
    fc_cache *cache;
    uint8_t extractor[32];
    const fc_problem *p;
    const uint8_t (*hashes)[32];
    const int *views;
    int n_views;
    const float *x;
} fc_finetune_data;

typedef struct fc_finetune_epoch {
    int epoch;             /* 0: after the linear-probe stage (no training step), then 1.. */
    int steps;             /* steps of this epoch */
    double loss;           /* mean training loss over the epoch's batches (NaN for epoch 0) */
    double train_accuracy; /* on the epoch's batches as trained (dropout on, before each step) */
    double val_loss, val_accuracy;
    double lr;             /* the head's learning rate of the epoch's last step */
    double seconds;        /* of this epoch */
    double train_seconds;  /* of its training steps alone (no validation pass) */
    double train_cpu_seconds; /* the process's CPU time (all threads) over those steps: what they
                                 cost on a busy machine; NaN for epochs restored by a resume */
    double l2;             /* epoch 0: the linear probe's L2 (NaN for other epochs or an MLP) */
} fc_finetune_epoch;

/* One training step, for a trace: rows[b] = item * n_views + view slot of batch row b (n rows),
 * input (n, input_size) the cut activations as trained, the loss before the update, the lr. */
typedef struct fc_finetune_step {
    int epoch, step;
    int n;
    const int *rows;
    const float *input;
    size_t input_size;
    const int *targets;
    double loss, lr;
} fc_finetune_step;

typedef struct fc_finetune_control {
    volatile int *cancel;  /* non-zero stops after the step in flight: FC_ECANCELLED */
    /* after every epoch (and epoch 0), once the checkpoint is written; the result's head
     * (r->head of fc_finetune_run) is the live one during the run: after epoch 0 it holds the
     * starting values (e.g. for a trace) */
    void (*on_epoch)(void *user, const fc_finetune_epoch *e);
    /* after every step (progress bars, traces) */
    void (*on_step)(void *user, const fc_finetune_step *s);
    void *user;
    const char *checkpoint; /* file the state goes to after every epoch; NULL: none */
    int resume;             /* start from the checkpoint when it is there (else from scratch) */
} fc_finetune_control;

typedef struct fc_finetune_result {
    fc_head head;              /* the fine-tuned head (no transform: it is folded into layer 0),
                                  class names set */
    fc_head lp_head;           /* the head after the linear-probe stage (with its transform) */
    fc_metrics val;            /* final validation metrics (orig views) */
    double train_accuracy;     /* final, on the training items' orig views */
    double lp_val_accuracy;    /* after the linear-probe stage */
    double lp_l2;              /* the linear probe's L2 (the chosen one with lp_l2_auto), NaN without */
    int lp_train, lp_val;      /* items the linear probe fitted on and chose on (fewer than the
                                  split's when it sampled them); 0 without a linear probe */
    fc_finetune_epoch *history;/* (n_history): epoch 0, 1, ..., also the epochs before a resume */
    int n_history;
    int resumed_from;          /* the checkpoint's epoch, or -1 */
    double l2sp_pull;          /* the L2-SP term's decay per step: cfg->l2sp / training items */
    double seconds;            /* of this call */
} fc_finetune_result;

/* Trains net (built for the cut with batch >= cfg->batch) and a new head on d: in training mode
 * for the steps, in evaluation mode for validation (fc_train_net_set_training; the net is left in
 * evaluation mode); the checkpoint holds its running statistics too. On success net holds
 * the fine-tuned values and r the head and metrics (free r with fc_finetune_result_free).
 * Errors: FC_EINVAL (a bad config; a view some item has no cut activation for, naming the item
 * and the view; a class without a training item, naming it; a net batch smaller than cfg->batch;
 * a net whose products run in another precision than cfg->precision),
 * FC_ESHAPE (cached cut shape differs from the net's), FC_EFORMAT (a damaged cached value or
 * checkpoint, naming it), FC_EINVAL for a NaN or infinite loss ("the loss is NaN at epoch E step
 * S ...; the checkpoint of epoch K is kept": training stops there), FC_ECANCELLED, FC_EIO /
 * FC_ENOSPC writing the checkpoint, FC_ENOMEM, and the net's errors naming the node. */
int fc_finetune_run(fc_train_net *net, const fc_finetune_data *d, const fc_finetune_config *cfg,
                    const fc_finetune_control *ctl, fc_finetune_result *r, fc_error *err);
void fc_finetune_result_free(fc_finetune_result *r);

/* The config as JSON members (no braces), the head's with the split (NULL: folders) in a
 * "head_config" object, for run records and checkpoint identity. */
void fc_finetune_config_json(fc_strbuf *b, const fc_finetune_config *c, const fc_split_spec *split);

#endif
