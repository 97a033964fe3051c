/* Linear (Gemm y = x W^T + b) forward and backward, each product one fc_matmul call:
 *   out (B, OC) = inp (B, IC) x W^T     dinp (B, IC) = dout (B, OC) x W     dW (OC, IC) = dout^T x inp
 * Reproducibility: fc_matmul elements are thread-independent; dbias sums each column in one thread
 * in batch order. Bitwise independent of the thread count. Not here: activations, dropout. */
#include <string.h>

#include "engine/train/internal.h"

static int check(int B, int IC, int OC, fc_error *err) {
    int a[] = {B, IC}, b[] = {B, OC}, w[] = {OC, IC}, rc;
    if ((rc = fc_train_check_sizes("linear", 2, a, err)) ||
        (rc = fc_train_check_sizes("linear", 2, b, err)))
        return rc;
    return fc_train_check_sizes("linear", 2, w, err);
}

int fc_linear_forward(fc_train_ws *ws, float *out, const float *inp, const float *weight,
                      const float *bias, int B, int IC, int OC, fc_error *err) {
    // inp is (B,IC), weight is (OC,IC), bias is (OC); out will be (B,OC)
    int rc = check(B, IC, OC, err);
    if (rc || (rc = fc_train_need(out, "linear", "out", err)) ||
        (rc = fc_train_need(inp, "linear", "inp", err)) ||
        (rc = fc_train_need(weight, "linear", "weight", err)))
        return rc;
    rc = fc_matmul_run(&ws->mm, B, OC, IC, inp, IC, 1, weight, 1, IC, out, OC, 1, err);
    if (rc || !bias) return rc;
#pragma omp parallel for num_threads(fc_train_threads(ws, (size_t)B * OC)) schedule(static)
    for (int b = 0; b < B; b++)
        for (int o = 0; o < OC; o++) out[(size_t)b * OC + o] += bias[o];
    return 0;
}

int fc_linear_backward(fc_train_ws *ws, float *dinp, float *dweight, float *dbias, const float *dout,
                       const float *inp, const float *weight, int B, int IC, int OC, fc_error *err) {
    // dout is (B,OC); dinp will be (B,IC), dweight (OC,IC), dbias (OC)
    int rc = check(B, IC, OC, err);
    if (rc || (rc = fc_train_need(dout, "linear", "dout", err))) return rc;
    if ((dweight && (rc = fc_train_need(inp, "linear", "inp", err))) ||
        (dinp && (rc = fc_train_need(weight, "linear", "weight", err))))
        return rc;
    if (dinp && (rc = fc_matmul_run(&ws->mm, B, IC, OC, dout, OC, 1, weight, IC, 1, dinp, IC, 1, err)))
        return rc;
    if (dweight &&
        (rc = fc_matmul_run(&ws->mm, OC, IC, B, dout, 1, OC, inp, IC, 1, dweight, IC, 1, err)))
        return rc;
    if (dbias) {
#pragma omp parallel for num_threads(fc_train_threads(ws, (size_t)B * OC)) schedule(static)
        for (int o = 0; o < OC; o++) {
            double s = 0;
            for (int b = 0; b < B; b++) s += dout[(size_t)b * OC + o];
            dbias[o] = (float)s;
        }
    }
    return 0;
}
