/* Softmax + cross-entropy loss (mean over the batch) forward and backward, and Softmax alone (a
 * classifier's last node, run by predict from cut activations). Per row: max, then sum exp in
 * double; probs are saved for the backward. The batch mean adds the row losses in row
 * order. Small (B x classes): one thread. Reproducibility: fixed order, exact for given inputs.
 * Not here: label smoothing, class weights. */
#include <math.h>

#include "engine/train/internal.h"

/* p (K) = softmax(x (K)); returns the sum of exp(x - max) and the max in *mx. */
static double softmax_row(float *p, const float *x, int K, float *mx) {
    float m = x[0];
    for (int k = 1; k < K; k++) m = x[k] > m ? x[k] : m;
    double s = 0;
    for (int k = 0; k < K; k++) s += exp((double)x[k] - m);
    for (int k = 0; k < K; k++) p[k] = (float)(exp((double)x[k] - m) / s);
    *mx = m;
    return s;
}

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
        float mx;
        double s = softmax_row(probs + (size_t)b * K, x, K, &mx);
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

int fc_softmax_forward(fc_train_ws *ws, float *out, const float *inp, int B, int K, fc_error *err) {
    // inp and out are (B,K)
    int sizes[] = {B, K}, rc;
    if ((rc = fc_train_check_sizes("softmax", 2, sizes, err)) || (rc = fc_train_need(out, "softmax", "out", err)) ||
        (rc = fc_train_need(inp, "softmax", "inp", err)))
        return rc;
    for (int b = 0; b < B; b++) {
        float mx;
        softmax_row(out + (size_t)b * K, inp + (size_t)b * K, K, &mx);
    }
    return 0;
}

int fc_softmax_backward(fc_train_ws *ws, float *dinp, const float *dout, const float *out, int B, int K,
                        fc_error *err) {
    // dout and out (the forward's output) are (B,K); dinp = out * (dout - <dout, out>) per row
    int sizes[] = {B, K}, rc;
    if ((rc = fc_train_check_sizes("softmax", 2, sizes, err)) || (rc = fc_train_need(dinp, "softmax", "dinp", err)) ||
        (rc = fc_train_need(dout, "softmax", "dout", err)) || (rc = fc_train_need(out, "softmax", "out", err)))
        return rc;
    for (int b = 0; b < B; b++) {
        const float *y = out + (size_t)b * K, *g = dout + (size_t)b * K;
        float *d = dinp + (size_t)b * K;
        double dot = 0;
        for (int k = 0; k < K; k++) dot += (double)g[k] * y[k];
        for (int k = 0; k < K; k++) d[k] = (float)(y[k] * ((double)g[k] - dot));
    }
    return 0;
}
