/* Stable train/validation splits by content hash: each item's bucket is the first 8 bytes of its
 * SHA-256 (of the file bytes) read as a big-endian integer, mod 10^6. A hash:F split puts an item
 * in validation when bucket < F * 10^6, and k-fold puts it in fold floor(bucket * k / 10^6), so the
 * assignment depends on the item's bytes only: it survives renames, moves, other items being added
 * or removed, and other machines. hash:0.2 validation = fold 0 of kfold:5. Fractions are exact to
 * 10^-6; fold sizes are balanced in expectation, not exactly. Not here: stratification, the
 * dataset's own train/val folders (the caller knows them), hashing (store/hash.h). */
#ifndef FC_SPLIT_H
#define FC_SPLIT_H

#include <stdint.h>

#include "core/core.h"

#define FC_SPLIT_BUCKETS 1000000u

typedef enum {
    FC_SPLIT_FOLDERS = 1, /* the data set's own train/val folders */
    FC_SPLIT_HASH = 2,    /* holdout by hash, fraction in (0, 1) */
    FC_SPLIT_KFOLD = 3,   /* k folds by hash, 2 <= k <= 100 */
} fc_split_kind;

typedef struct fc_split_spec {
    fc_split_kind kind;
    double fraction; /* HASH: validation fraction */
    int folds;       /* KFOLD: k */
} fc_split_spec;

/* "folders", "hash:F" (0 < F < 1), "kfold:K" (2..100) -> spec. FC_EINVAL with the accepted forms
 * otherwise. Thread-safe. */
int fc_split_parse(const char *text, fc_split_spec *out, fc_error *err);

/* Bucket in [0, 10^6) of a 32-byte SHA-256 digest. Never fails. */
uint32_t fc_split_bucket(const uint8_t hash[32]);

/* is_val[i] = 1 when item i (digest hashes[32 i .. 32 i + 32)) falls in the validation fraction.
 * n_val (may be NULL) receives the count. Errors: FC_EINVAL for n < 1, a fraction outside (0, 1),
 * NULL arrays, or a split that leaves train or val empty (the message gives both counts).
 * Thread-safe. */
int fc_split_holdout(const uint8_t *hashes /* (n, 32) */, int n, double val_fraction,
                     uint8_t *is_val /* (n) */, int *n_val, fc_error *err);

/* fold[i] in [0, k) for every item. Errors: FC_EINVAL for n < 1, k outside 2..100, NULL arrays,
 * or an empty fold (naming it). Thread-safe. */
int fc_split_kfold(const uint8_t *hashes /* (n, 32) */, int n, int k, int *fold /* (n) */, fc_error *err);

#endif
