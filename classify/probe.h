/* Linear probes, the measurements `advise` decides from: the k-fold accuracy of a softmax head on a
 * feature matrix, its L2 chosen on one regularization path (1e3 .. 1e-2) by the accuracy on the
 * first fold (the other folds fit only that L2: a third of the fits of a path per fold, at the cost
 * of a slightly optimistic first fold), optionally trained on a stratified, hash-stable fraction
 * of each fold's training items (a point of a learning curve: the items kept at 25% are among
 * those kept at 50%). Not here: reading features (store/), deciding from the numbers (advise.h). */
#ifndef FC_PROBE_H
#define FC_PROBE_H

#include <stdint.h>

#include "classify/train.h"
#include "core/core.h"

#define FC_PROBE_N_L2 6      /* 1e3, 1e2, .., 1e-2 */
#define FC_PROBE_MAX_FOLDS 20

typedef struct fc_probe_result {
    double accuracy;  /* out-of-fold accuracy at the chosen L2 (every held-out item counted once) */
    double fold_std;  /* standard deviation of the folds' accuracies at that L2 */
    double fold_accuracy[FC_PROBE_MAX_FOLDS]; /* per fold that has items, in fold order: the folds
                                                 are the same for every feature matrix of the
                                                 same items, so two probes compare fold by fold */
    int n_folds;      /* folds scored */
    double l2;        /* the chosen L2 (ties on the first fold: the stronger penalty) */
    double n_train;   /* training items per fold, mean over the folds */
} fc_probe_result;

/* Probes p, a k-fold problem (2 <= p->n_folds <= FC_PROBE_MAX_FOLDS) of one view, whose items have the SHA-256 digests
 * hashes (p->n): per fold, softmax heads are fitted on the fold's other items (with fraction < 1
 * only ceil(fraction x count), at least 1, of each class's, those of the lowest bucket of the
 * digest's bytes 8..15) and scored on the fold's items. threads as fc_train. Errors: FC_EINVAL
 * (not k-fold, fraction outside (0, 1], a class without a training item in some fold: "too few
 * items", naming the class), the trainers' (FC_ENOMEM, ...). */
int fc_probe_kfold(const fc_problem *p, const uint8_t (*hashes)[32], double fraction, int threads,
                   fc_probe_result *r, fc_error *err);

#endif
