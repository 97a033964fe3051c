/* What `featcache finetune` and `train --head conv` write besides the run itself: the classifier
 * (fine-tuned backbone + head as one ONNX model), the step trace that scripts/finetune_torch.py
 * checks and times, and the progress and epoch lines (text or JSON). */
#ifndef FC_CLI_FINETUNE_OUT_H
#define FC_CLI_FINETUNE_OUT_H

#include <stdio.h>

#include "classify/classify.h"
#include "core/core.h"
#include "engine/engine.h"

/* out_path = the model with the net's values, up to the feature tensor, then the head, output
 * `probabilities`; meta_json goes into its featcache metadata (with the class names). Temporary
 * files beside out_path are removed whatever happens. */
int cli_finetune_write_classifier(const fc_train_net *net, const char *model_path, const char *feature,
                                  const fc_head *head, const char *meta_json, const char *out_path,
                                  fc_error *err);

/* The steps of a run for scripts/finetune_torch.py: collects the first max_steps steps (0: every
 * step of epoch 1) and writes dir/{meta.json, x.npy, y.npy, batches.npy, head_W.npy, head_b.npy}. */
typedef struct cli_trace {
    const char *dir;
    int max_steps, steps, batch;
    size_t input_size;
    int rank;
    int64_t dims[4];       /* per-row shape of x */
    float *x;              /* (rows, input_size) */
    int64_t *y, *batches;  /* (rows), (steps, batch) */
    size_t rows, cap;
    double *losses, *lrs;
    float *head_W, *head_b; /* the head's starting values (one layer) */
    int K, D;
} cli_trace;

/* Sets t up for the rows of net's input (dir, max_steps and batch as above). */
void cli_trace_start(cli_trace *t, const char *dir, int max_steps, int batch, const fc_train_net *net);
/* Collects one step (returns 0, or FC_ENOMEM); steps past the limit are ignored. */
int cli_trace_step(cli_trace *t, const fc_finetune_step *s);
/* Keeps the head's starting values (before step 1): softmax heads only (FC_EUNSUPPORTED else). */
int cli_trace_head(cli_trace *t, const fc_head *h, fc_error *err);
/* Writes the files (creating dir); meta_json_members are extra "key":value members for meta.json. */
int cli_trace_write(const cli_trace *t, const char *meta_json_members, fc_error *err);
void cli_trace_free(cli_trace *t);

/* The epoch and step callbacks of a training run (fc_finetune_control's on_epoch and on_step with
 * user a cli_run_progress): a step line redrawn on stderr (show), the epoch lines (text unless
 * quiet, or JSON) on stdout, the trace's steps and its starting head (after epoch 0). */
typedef struct cli_run_progress {
    int epochs, json, quiet, show;
    const char *start;    /* what epoch 0's line says the net is (e.g. "the head before fine-tuning") */
    const fc_head *head;  /* the run's live head */
    cli_trace *trace;     /* NULL: no trace */
    int trace_failed;     /* the trace ran out of memory */
} cli_run_progress;
void cli_run_on_step(void *user, const fc_finetune_step *s);
void cli_run_on_epoch(void *user, const fc_finetune_epoch *e);

/* One epoch as text ("epoch  3/15  loss ..."; epoch 0: "start  val ...  START, 1.2 s") or a JSON line. */
void cli_finetune_print_epoch(FILE *f, const fc_finetune_epoch *e, int epochs, int json, const char *start);
/* A training run's record result: fc_train_result_json of r on p, then extra (more "key":value,
 * members; may be NULL) and the epochs as "history" (the report's curves). */
void cli_run_result_json(fc_strbuf *b, const fc_train_result *r, const fc_problem *p, const char *extra,
                         const fc_finetune_epoch *h, int n);
/* "history":[{epoch...},...] appended to b (for run records and the report's curves). */
void cli_finetune_history_json(fc_strbuf *b, const fc_finetune_epoch *h, int n);

#endif
