/* Nearest class mean on L2-normalized features (weight imprinting, as in Coral's imprinting
 * engine): every training row is L2-normalized, the rows of a class are averaged (with sample
 * weights), the mean is L2-normalized again and scaled, so logits = scale * cos(x, mean_c) for an
 * L2-normalized x and the head's softmax turns them into probabilities. No training loop, no
 * hyperparameters besides the scale (a temperature). Use it in an fc_head whose transform is
 * FC_TRANSFORM_L2 so prediction normalizes x the same way. Not here: the transform itself, learned
 * scales, multiple prototypes per class. */
#ifndef FC_NCM_H
#define FC_NCM_H

#include "classify/data.h"
#include "classify/head.h"
#include "core/core.h"

#define FC_NCM_DEFAULT_SCALE 10.0f

/* Fills layer (zeroed on entry; allocated here as (K, D), no activation) with
 * W[c] = scale * normalize(sum_{i: y_i = c} w_i * normalize(x_i)), b = 0. scale <= 0 means
 * FC_NCM_DEFAULT_SCALE. Errors: as fc_data_check (labels required, every class present: a class
 * without items has no mean), FC_EINVAL when a class's mean is the zero vector (e.g. all-zero
 * rows, naming the class), FC_ENOMEM. The layer is left zeroed on error. Thread-safe. */
int fc_ncm_fit(const fc_data *train, int k, float scale, fc_layer *layer, fc_error *err);

#endif
