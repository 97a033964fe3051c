/* Softmax + cross-entropy loss (mean over the batch) forward and backward. Per row: max, then
 * sum exp in double; probs are saved for the backward. The batch mean adds the row losses in row
 * order. Small (B x classes): one thread. Reproducibility: fixed order, exact for given inputs.
 * Not here: label smoothing, class weights. */
#include <math.h>

#include "engine/train/internal.h"

static int ce_check(const int *targets, int B, int K, fc_error *err) {
    int sizes[] = {B, K}, rc;
    if ((rc = fc_train_check_sizes("crossentropy", 2, sizes, err)) ||
        (rc = fc_train_need(targets, "crossentropy", "targets", err)))
        return rc;
    for (int b = 0; b < B; b++)
        if (targets[b] < 0 || targets[b] >= K)
            return fc_fail(err, FC_EINVAL, "crossentropy: target %d of row %d outside [0, %d)",
                           targets[b], b, K);
    return 0;
}

int fc_crossentropy_forward(fc_train_ws *ws, float *loss, float *probs, const float *logits,
                            const int *targets, int B, int K, fc_error *err) {
    // logits is (B,K), targets (B); probs will be (B,K), *loss the batch mean
    int rc;
    if ((rc = ce_check(targets, B, K, err)) || (rc = fc_train_need(loss, "crossentropy", "loss", err)) ||
        (rc = fc_train_need(probs, "crossentropy", "probs", err)) ||
        (rc = fc_train_need(logits, "crossentropy", "logits", err)))
        return rc;
    double total = 0;
    for (int b = 0; b < B; b++) {
        const float *x = logits + (size_t)b * K;
        float *p = probs + (size_t)b * K, mx = x[0];
        for (int k = 1; k < K; k++) mx = x[k] > mx ? x[k] : mx;
        double s = 0;
        for (int k = 0; k < K; k++) s += exp((double)x[k] - mx);
        for (int k = 0; k < K; k++) p[k] = (float)(exp((double)x[k] - mx) / s);
        total += log(s) - ((double)x[targets[b]] - mx);
    }
    *loss = (float)(total / B);
    return 0;
}

int fc_crossentropy_backward(fc_train_ws *ws, float *dlogits, const float *probs, const int *targets,
                             int B, int K, float dloss, fc_error *err) {
    // probs is (B,K), targets (B); dlogits will be (B,K)
    int rc;
    if ((rc = ce_check(targets, B, K, err)) ||
        (rc = fc_train_need(dlogits, "crossentropy", "dlogits", err)) ||
        (rc = fc_train_need(probs, "crossentropy", "probs", err)))
        return rc;
    float scale = dloss / (float)B;
    for (int b = 0; b < B; b++) {
        const float *p = probs + (size_t)b * K;
        float *d = dlogits + (size_t)b * K;
        for (int k = 0; k < K; k++) d[k] = (p[k] - (k == targets[b])) * scale;
    }
    return 0;
}
