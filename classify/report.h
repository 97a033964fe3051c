/* One self-contained HTML report for a training run, a sweep or an advice: run info, metric summary, a
 * confusion matrix heat map (inline SVG), the per-class precision/recall/F1 table, the training
 * curves of a fine-tuning run (accuracy and loss per epoch), for a sweep the
 * configs sorted by validation metric and metric-vs-hyperparameter line charts, for an advice the
 * 2x2 table with its cell marked and the probe-by-layer and learning curves, and the worst
 * misclassified items with optional thumbnails embedded as data: URIs. The page has inline CSS and
 * SVG only: no scripts, no fonts, no network references. Every caller-supplied string is escaped
 * for HTML text and attributes. The input is a plain struct filled by the caller (from the catalog,
 * a sweep or an eval); this module does no I/O other than writing the page, and does not compute
 * metrics (see metrics.h) or decode/resize images (thumbnails arrive encoded). */
#ifndef FC_REPORT_H
#define FC_REPORT_H

#include <stddef.h>

#include "classify/advise.h"
#include "classify/metrics.h"
#include "core/core.h"

typedef enum {
    FC_REPORT_RUN = 0,    /* one trained head */
    FC_REPORT_SWEEP = 1,  /* several configs; the best one's metrics in val_metrics */
    FC_REPORT_ADVICE = 2, /* advise: the 2x2 table with the cell marked, the command, the probe by
                             layer and the learning curve as charts (no metrics or worst items) */
} fc_report_kind;

/* One hyperparameter of a config: name -> value. value is the numeric value (NaN when the
 * parameter is not numeric, e.g. head=softmax); text, when non-NULL, is what the table shows
 * (e.g. "256,128"), else value is formatted. */
typedef struct fc_report_param {
    const char *name;
    double value;
    const char *text;
} fc_report_param;

/* One sweep config. head_kind groups the curves (one chart per kind; NULL = "head"). */
typedef struct fc_report_config {
    const char *description;       /* e.g. "softmax l2=1e-3" (may be NULL) */
    const char *head_kind;         /* e.g. "softmax", "mlp" */
    const fc_report_param *params; /* (n_params) */
    int n_params;
    double train_metric, val_metric; /* NaN = not measured */
} fc_report_config;

/* One misclassified item. Labels index class_names. probability is the predicted class's
 * probability. thumbnail: encoded PNG or JPEG bytes (recognized by their signature; anything else
 * is shown as "no preview"), or NULL. */
typedef struct fc_report_item {
    const char *path;
    int true_label, predicted_label;
    double probability;
    const unsigned char *thumbnail; /* (thumbnail_size) bytes, or NULL */
    size_t thumbnail_size;
} fc_report_item;

/* One epoch of a fine-tuning run (NaN where not measured, e.g. the training loss of epoch 0). */
typedef struct fc_report_epoch {
    int epoch;
    double loss, train_accuracy, val_loss, val_accuracy;
} fc_report_epoch;

/* Everything the page shows. All pointers are borrowed for the duration of the call only; any of
 * the strings may be NULL (shown as empty / left out). */
typedef struct fc_report_input {
    const char *title;        /* page title and heading (NULL: "featcache report") */
    fc_report_kind kind;
    const char *dataset;      /* dataset name or folder */
    const char *model;        /* model / layer / extractor description */
    const char *head;         /* head description (kind, transform, hyperparameters) */
    const char *created;      /* timestamp text supplied by the caller (the library reads no clock) */
    const char *note;         /* a warning shown under the run's facts (e.g. that today's data set
                                 differs from the run's), or NULL */
    const char *metric_name;  /* name of the sweep metric (NULL: "accuracy") */
    const fc_metrics *val_metrics; /* validation metrics of the run / best config, or NULL */
    const char *const *class_names; /* (n_classes), or NULL: "class 0".. */
    int n_classes;            /* must equal val_metrics->k when both are given */
    /* sweep (kind == FC_REPORT_SWEEP; ignored for a run) */
    const fc_report_config *configs; /* (n_configs) */
    int n_configs;
    int best;                 /* index into configs of the chosen config, or -1 */
    const char *curve_param;  /* numeric parameter on the x axis (NULL: the first numeric one) */
    /* training curves: accuracy and loss per epoch (a fine-tuning run), or none */
    const fc_report_epoch *epochs; /* (n_epochs) */
    int n_epochs;
    /* advice (kind == FC_REPORT_ADVICE): what was measured, the decision, the next command */
    const fc_advise_evidence *evidence;
    const fc_advice *advice;
    const char *command;
    /* worst misclassified items, in the order given (the caller sorts them) */
    const fc_report_item *worst; /* (n_worst) */
    int n_worst;
} fc_report_input;

/* Appends the whole page to out (see strbuf.h: out->failed reports allocation failure, mapped to
 * FC_ENOMEM here). Errors: FC_EINVAL for an inconsistent input (NULL in or out, unknown kind,
 * n_classes < 0 or different from val_metrics->k, counts < 0 with NULL arrays, best out of range,
 * a worst item's label outside [0, n_classes), a NULL param name), FC_ENOMEM. On error out may hold
 * a partial page. Thread-safe: reads in only, no shared state. */
int fc_report_render(const fc_report_input *in, fc_strbuf *out, fc_error *err);

/* Renders the page and writes it to path atomically (a temporary file in the same folder, fsync,
 * rename): path either keeps its old contents or holds the complete page, mode 0644. Errors: those
 * of fc_report_render, FC_EIO naming the file and the reason. Thread-safe for distinct paths. */
int fc_report_write_html(const fc_report_input *in, const char *path, fc_error *err);

#endif
