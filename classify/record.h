/* Head runs as the catalog records them (store/catalog.h keeps the text): the configuration and
 * split as JSON object members of a run's parameters, and the result (validation metrics, per-class
 * table, confusion matrix, the items' digest and the worst misclassified items) as a JSON object.
 * `train` and `sweep` write them, `report` reads them back. Not here: the features' part of the
 * parameters (model, layer, extractor: the caller knows them), the catalog itself. */
#ifndef FC_RECORD_H
#define FC_RECORD_H

#include "classify/split.h"
#include "classify/train.h"
#include "core/core.h"

/* Appends cfg and split as object members, no braces:
 * "head":"softmax","normalize":"std","l2":1,"lr":0.001,"epochs":100,"batch":64,"hidden":"512,256",
 * "n_hidden":1,"dropout":0,"seed":0,"balanced":0,"split":"folders" (numbers as %g). */
void fc_head_config_json(fc_strbuf *b, const fc_head_config *cfg, const fc_split_spec *split);

/* Reads the members fc_head_config_json wrote from a run's parameters (a JSON object); members
 * that are missing keep fc_head_config_init's defaults and a folders split. Errors: FC_EFORMAT (no
 * head kind), FC_EINVAL (a split that does not parse). err may be NULL. Thread-safe. */
int fc_head_config_from_json(const char *params, fc_head_config *cfg, fc_split_spec *split, fc_error *err);

/* Appends r as one JSON object: {"val_accuracy":..,"balanced_accuracy":..,"top5":..,"log_loss":..,
 * "macro_f1":..,"train_accuracy":..,"fold_mean":..,"fold_std":..,"seconds":..,"n_val":..,
 * "classes":[p's class names],"confusion":[[..]],"per_class":[{..}],"info":"..",
 * "items":{"n":..,"train":..,"val":..,"sha256":p's digest},"worst":[{"path":..,"sha256":..,
 * "true":class,"predicted":class,"probability":..},..]} (non-finite numbers as null; items and
 * worst only when p has its items' paths and hashes): what `report` shows of the run, and how it
 * tells that today's data set is no longer the one the run used. */
void fc_train_result_json(fc_strbuf *b, const fc_train_result *r, const fc_problem *p);

#endif
