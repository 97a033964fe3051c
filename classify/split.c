/* Hash buckets, holdout and k-fold assignment, and the split spec parser: pure functions of the
 * digests, no state. Not here: reading digests from the catalog or deciding which split a data set
 * uses. */
#include "classify/split.h"

#include <stdlib.h>
#include <string.h>

uint32_t fc_split_bucket(const uint8_t hash[32]) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v = v << 8 | hash[i];
    return (uint32_t)(v % FC_SPLIT_BUCKETS);
}

int fc_split_parse(const char *text, fc_split_spec *out, fc_error *err) {
    memset(out, 0, sizeof *out);
    const char *usage = "use folders, hash:F with 0 < F < 1, or kfold:K with 2 <= K <= 100";
    if (!text) return fc_fail(err, FC_EINVAL, "no split given (%s)", usage);
    char *end = NULL;
    if (!strcmp(text, "folders")) {
        out->kind = FC_SPLIT_FOLDERS;
        return 0;
    }
    if (!strncmp(text, "hash:", 5)) {
        double f = strtod(text + 5, &end);
        if (end == text + 5 || *end || !(f > 0 && f < 1))
            return fc_fail(err, FC_EINVAL, "bad split '%s' (%s)", text, usage);
        out->kind = FC_SPLIT_HASH, out->fraction = f;
        return 0;
    }
    if (!strncmp(text, "kfold:", 6)) {
        long k = strtol(text + 6, &end, 10);
        if (end == text + 6 || *end || k < 2 || k > 100)
            return fc_fail(err, FC_EINVAL, "bad split '%s' (%s)", text, usage);
        out->kind = FC_SPLIT_KFOLD, out->folds = (int)k;
        return 0;
    }
    return fc_fail(err, FC_EINVAL, "unknown split '%s' (%s)", text, usage);
}

int fc_split_holdout(const uint8_t *hashes, int n, double val_fraction, uint8_t *is_val, int *n_val, fc_error *err) {
    if (n < 1 || !hashes || !is_val) return fc_fail(err, FC_EINVAL, "split: no items");
    if (!(val_fraction > 0 && val_fraction < 1))
        return fc_fail(err, FC_EINVAL, "split: validation fraction %g (must be in (0, 1))", val_fraction);
    uint32_t cut = (uint32_t)(val_fraction * FC_SPLIT_BUCKETS + 0.5);
    int nv = 0;
    for (int i = 0; i < n; i++) nv += is_val[i] = fc_split_bucket(hashes + (size_t)32 * i) < cut;
    if (n_val) *n_val = nv;
    if (nv == 0 || nv == n)
        return fc_fail(err, FC_EINVAL, "split hash:%g of %d items leaves the %s split empty (%d train, %d val)",
                       val_fraction, n, nv == 0 ? "val" : "train", n - nv, nv);
    return 0;
}

int fc_split_kfold(const uint8_t *hashes, int n, int k, int *fold, fc_error *err) {
    if (n < 1 || !hashes || !fold) return fc_fail(err, FC_EINVAL, "split: no items");
    if (k < 2 || k > 100) return fc_fail(err, FC_EINVAL, "split: %d folds (2..100 allowed)", k);
    int count[100] = {0};
    for (int i = 0; i < n; i++) {
        fold[i] = (int)((uint64_t)fc_split_bucket(hashes + (size_t)32 * i) * (uint64_t)k / FC_SPLIT_BUCKETS);
        count[fold[i]]++;
    }
    for (int f = 0; f < k; f++)
        if (!count[f]) return fc_fail(err, FC_EINVAL, "split kfold:%d of %d items leaves fold %d empty", k, n, f);
    return 0;
}
