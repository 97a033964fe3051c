/* classify/: heads trained on cached features (depends on core/, engine/, store/). This header is
 * its public API; cli/ includes only this one.
 *  - head.h        a trained head (softmax, MLP, NCM) and its feature transform
 *  - train.h       training and evaluation of one configuration on a feature matrix
 *  - metrics.h     accuracy, confusion matrix, per-class metrics
 *  - head_onnx.h   head files as ONNX
 *  - merge_onnx.h  backbone + head merged into one classifier
 *  - record.h      a head run's configuration and result as the catalog records them (JSON)
 *  - sweep.h       hyperparameter grids: expansion, jobs, parallel fits, ranking, run records
 *  - report.h      the self-contained report.html
 *  - finetune.h    training the top of a backbone from cached cut activations, with a new head
 *  - convhead.h    new conv blocks + a head trained on a cached early map (partial reuse)
 *  - probe.h       k-fold linear probes and learning-curve points (what advise measures)
 *  - advise.h      the 2x2 table's decision from those measurements, its command, its JSON */
#ifndef FC_CLASSIFY_H
#define FC_CLASSIFY_H

#include "classify/advise.h"
#include "classify/convhead.h"
#include "classify/head.h"
#include "classify/head_onnx.h"
#include "classify/merge_onnx.h"
#include "classify/metrics.h"
#include "classify/probe.h"
#include "classify/record.h"
#include "classify/report.h"
#include "classify/sweep.h"
#include "classify/finetune.h"
#include "classify/train.h"

#endif
