/* Head training on a labeled feature matrix: maps labels to classes, chooses the train/validation
 * split (the data set's own folders, a stable hash holdout, or k folds) per item, so that further
 * views of an item (flips, crops) train with it and never leak into its validation side, fits the
 * transform on the training rows only, fits one head configuration and evaluates it on original views. Shared by `train`, `sweep` and
 * `eval`. Not here: reading the cache (store/featureset.h), files and printing (CLI). */
#ifndef FC_TRAIN_H
#define FC_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "classify/head.h"
#include "classify/metrics.h"
#include "classify/split.h"
#include "classify/transform.h"
#include "core/core.h"
#include "engine/engine.h"

typedef enum { FC_HEAD_SOFTMAX = 0, FC_HEAD_MLP = 1, FC_HEAD_NCM = 2, FC_HEAD_CONV = 3 } fc_head_kind;
/* Learning-rate schedules of the trainers on the training ops (fine-tuning, conv heads): see
 * fc_finetune_config.schedule. */
typedef enum { FC_SCHEDULE_COSINE = 0, FC_SCHEDULE_CONSTANT = 1, FC_SCHEDULE_ONECYCLE = 2 } fc_schedule_kind;

#define FC_CONV_MAX_BLOCKS 8

/* The new blocks of a conv head (convhead.h): block i is a 3x3 conv to channels[i] with stride
 * stride[i] (1 or 2), BatchNorm, ReLU. */
typedef struct fc_conv_spec {
    int n;
    int channels[FC_CONV_MAX_BLOCKS], stride[FC_CONV_MAX_BLOCKS];
} fc_conv_spec;

typedef struct fc_head_config {
    fc_head_kind kind;
    fc_transform_kind normalize; /* fitted on the training rows */
    double l2;                   /* softmax: 1/C; mlp: weight decay */
    double lr;                   /* mlp Adam step */
    int epochs, batch, n_hidden, hidden[2];
    double dropout;
    uint64_t seed;
    int balanced;                /* class weights inversely proportional to class frequency */
    fc_conv_spec conv;           /* conv: the new blocks; mlp on top when n_hidden > 0 */
    fc_schedule_kind schedule;   /* conv: the learning-rate schedule (one-cycle or cosine) */
    fc_train_precision precision; /* conv: of the blocks' and head's products (engine/train: f32,
                                     bf16, auto; a trained config holds the one that ran) */
} fc_head_config;

/* Which options a caller set explicitly (the others take a kind's defaults, e.g.
 * fc_head_config_conv_defaults). */
enum {
    FC_HEAD_GIVEN_L2 = 1, FC_HEAD_GIVEN_LR = 2, FC_HEAD_GIVEN_EPOCHS = 4, FC_HEAD_GIVEN_BATCH = 8,
    FC_HEAD_GIVEN_DROPOUT = 16, FC_HEAD_GIVEN_HIDDEN = 32, FC_HEAD_GIVEN_CONV = 64,
    FC_HEAD_GIVEN_SCHEDULE = 128, FC_HEAD_GIVEN_NORMALIZE = 256, FC_HEAD_GIVEN_BALANCED = 512,
    FC_HEAD_GIVEN_PRECISION = 1024
};

/* Defaults: softmax, std normalization, l2 1, lr 1e-3, 100 epochs, batch 64, one hidden layer of
 * 512, no dropout, seed 0. */
void fc_head_config_init(fc_head_config *c);
const char *fc_head_kind_name(fc_head_kind k);
int fc_head_kind_parse(const char *s, fc_head_kind *out, fc_error *err);

/* A labeled problem of n items: features x in n_views blocks of n rows (block 0 each item's
 * original view, further blocks other views of the same items in the same order; they only add
 * training rows), class index y (n) in [0, k), class names, and the split as one role per item, so
 * every view of an item is on the same side of it: see fc_problem_build and fc_problem_rows. */
typedef struct fc_problem {
    const float *x;   /* (n_views, n, d) */
    int n, d, k;
    int n_views;      /* >= 1 */
    int *y;
    char **classes;   /* (k) owned */
    int *role;        /* (n): 0 train, 1 val, -1 unused (holdout); fold number (k-fold) */
    int n_folds;      /* 0 = holdout (role train/val), >= 2 = k-fold on role */
    int n_train, n_val; /* training rows (items x views) and validation rows (items) */
    char **paths;     /* (n) borrowed from fc_problem_build's caller (must outlive p): item names */
    const uint8_t (*hashes)[32]; /* (n) borrowed likewise: SHA-256 of each item's bytes */
    char digest[65];  /* SHA-256 (hex) of the items as the split sees them: each one's path, hash,
                         class name and role, in order; equal digests, equal problems but the features */
    int map_rank;       /* per-row shape of x when the caller knows it (a map: 3, (C, H, W)) */
    int64_t map_dims[4];
} fc_problem;

/* Builds the problem from string labels and splits (as stored in the catalog) and the items'
 * paths and hashes, all (n) per item (paths and hashes are kept, borrowed, with the digest); x is (n_views, n, d) as in fc_problem. FOLDERS uses split
 * "train"/"val" (falls back to a hash:0.2 holdout of the labeled rows when there is no val
 * folder); HASH holds out a fraction; KFOLD assigns folds by hash. Errors (FC_EINVAL, with the
 * first offending path): n_views < 1, missing labels, fewer than 2 classes, an empty train or val
 * split; a class with no training row is allowed (warned by the caller). */
int fc_problem_build(const float *x, int n_views, int n, int d, char **labels, char **splits, char **paths,
                     const uint8_t (*hashes)[32], const fc_split_spec *split, fc_problem *p,
                     fc_error *err);

enum { FC_ROWS_TRAIN = 0, FC_ROWS_VAL = 1 };

/* Rows of p->x (row v * n + i is view v of item i) that one fit uses, given the role whose items
 * are held out for validation (holdout: 1; k-fold: the fold; -1: none, every item with a role
 * trains). FC_ROWS_TRAIN: every view of each item with role >= 0 and role != held_out, an item's
 * views adjacent, items in order; FC_ROWS_VAL: the original view (block 0) of each item with role
 * == held_out. rows must have room for n_views * n; returns the count. Thread-safe. */
int fc_problem_rows(const fc_problem *p, int held_out, int which, int *rows);
void fc_problem_free(fc_problem *p);

#define FC_TRAIN_WORST 12 /* misclassified validation items a result keeps */

/* A validation item the head got wrong: its index in the problem, its true and predicted class
 * and the predicted class's probability. */
typedef struct fc_train_miss {
    int item, true_class, predicted;
    float probability;
} fc_train_miss;

typedef struct fc_train_result {
    fc_head head;          /* fitted on the training rows (holdout) or on fold 0's (k-fold) */
    fc_metrics val;        /* validation metrics (holdout) */
    double train_accuracy;
    double fold_mean, fold_std; /* k-fold: validation accuracy mean and std; NaN for holdout */
    double seconds;
    char info[256];        /* e.g. L-BFGS iterations / MLP epochs */
    fc_train_miss worst[FC_TRAIN_WORST]; /* the most confident wrong predictions on validation items
                                            (k-fold: out of fold), most confident first */
    int n_worst;
} fc_train_result;

/* Fits cfg on p and evaluates it. threads: OpenMP threads inside the fit (<= 0 all cores). */
int fc_train(const fc_head_config *cfg, const fc_problem *p, int threads, fc_train_result *r,
             fc_error *err);
void fc_train_result_free(fc_train_result *r);

/* Softmax heads differing only in l2 (same normalize/balanced) as one warm-started regularization
 * path sharing one factorization: cfgs[0..m) must all be softmax with equal normalize/balanced;
 * results[i] is for cfgs[i]. Holdout problems only (k-fold: call fc_train per config). */
int fc_train_softmax_path(const fc_head_config *cfgs, int m, const fc_problem *p, int threads,
                          fc_train_result *results, fc_error *err);

/* A holdout fit's rows held by the caller instead of gathered from a problem's x: xt (nt, d)
 * training rows with labels yt, xv (nv, d) validation rows with labels yv and the problem items
 * they are (val_items (nv), for fc_train_result.worst; NULL: no worst kept). The fits below
 * transform xt and xv in place (the head's transform, fitted on xt), so they hold no second copy. */
typedef struct fc_train_rows {
    float *xt, *xv;
    const int *yt, *yv, *val_items;
    int nt, nv;
} fc_train_rows;

/* fc_train's holdout fit on rows (cfg not conv; p gives only d, k and the class names).
 * Errors as fc_train. */
int fc_train_rows_fit(const fc_head_config *cfg, const fc_problem *p, fc_train_rows *rows, int threads,
                      fc_train_result *r, fc_error *err);
/* fc_train_softmax_path on rows (p as in fc_train_rows_fit). */
int fc_train_softmax_path_rows(const fc_head_config *cfgs, int m, const fc_problem *p, fc_train_rows *rows,
                               int threads, fc_train_result *results, fc_error *err);

#endif
