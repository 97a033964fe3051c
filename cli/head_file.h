/* A head file as the CLI uses it: the fc_head plus the extractor facts its metadata records
 * (model, layer, size, crop, preprocessing, view, extractor id), so eval/predict know which cached
 * features to read or how to compute them. */
#ifndef FC_CLI_HEAD_FILE_H
#define FC_CLI_HEAD_FILE_H

#include "classify/classify.h"
#include "core/core.h"
#include "extract/extract.h"

#define CLI_MAX_HEADS 8 /* heads in one ensemble (eval, predict) */

typedef struct cli_head_file {
    const char *path;
    fc_head head;            /* a classifier's: no layers, only its classes */
    char *meta;              /* metadata JSON (owned) */
    char model[4096], model_sha[65], layer[256], extractor[65], dataset[256];
    int size, view;
    double crop;
    fc_preset preset;
    int gray;                /* images converted to gray ("grayscale":1) */
    /* a classifier from featcache finetune or train --head conv (or a conv head's head-only
     * file): layer and extractor are its cut's (the conv head's map), whose cached activations
     * (cut_rank, cut_dims per image) it classifies with its own top (net.h) */
    int finetuned, cut_rank;
    int64_t cut_dims[4];
} cli_head_file;

/* Loads a head file, or a classifier written by featcache finetune or train --head conv, and its
 * metadata; FC_EFORMAT
 * when the metadata lacks the extractor facts. */
int cli_head_file_load(const char *path, cli_head_file *h, fc_error *err);
/* Values per image the head reads: the feature's width, or a classifier's cut size. */
size_t cli_head_file_input_size(const cli_head_file *h);
/* P (n, K) for the head's inputs X (n, cli_head_file_input_size). */
int cli_head_file_proba(const cli_head_file *h, const float *X, int n, float *P, int threads, fc_error *err);
void cli_head_file_free(cli_head_file *h);
/* FC_EINVAL unless every head has the same classes in the same order (ensembles average them). */
int cli_heads_same_classes(const cli_head_file *h, int n, fc_error *err);

#endif
