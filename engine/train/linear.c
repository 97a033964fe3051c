/* Linear (Gemm y = x W^T + b) forward and backward, each product one fc_matmul call (in bf16, one
 * fc_train_gemm call on the bf16 kernels):
 *   out (B, OC) = inp (B, IC) x W^T     dinp (B, IC) = dout (B, OC) x W     dW (OC, IC) = dout^T x inp
 * Reproducibility: the products' elements are thread-independent; dbias sums each column in one
 * thread in batch order. Bitwise independent of the thread count. Not here: activations, dropout. */
#include <string.h>

#include "engine/train/gemm.h"
#include "engine/train/internal.h"

/* An operand of C = A x B, element (i, j) at p + i*rs + j*cs with rs or cs 1, as a run matrix:
 * rows i with run columns j (t = 0), or, when rs is 1, t = 1 (gemm.h: A's element (m, k) at
 * p + k*rs + m; B's rows n with run columns k, which is the same memory order). */
static fc_train_mat strided(const float *p, ptrdiff_t rs, ptrdiff_t cs) {
    if (cs == 1) return fc_train_mat_rows(p, rs);
    return (fc_train_mat){p, cs, 0, 1 << 30, 1};
}

/* C (M, N) = A (M, K) x B (K, N) with row stride rsc, as fc_matmul_run takes its operands; in bf16
 * (ws->bf16) on fc_train_gemm. */
static int product(fc_train_ws *ws, int M, int N, int K, const float *A, ptrdiff_t rsa, ptrdiff_t csa,
                   const float *B, ptrdiff_t rsb, ptrdiff_t csb, float *C, ptrdiff_t rsc, fc_error *err) {
    if (!ws->bf16) return fc_matmul_run(&ws->mm, M, N, K, A, rsa, csa, B, rsb, csb, C, rsc, 1, err);
    fc_train_mat a = strided(A, rsa, csa), b = strided(B, rsb, csb);
    fc_train_out o = fc_train_out_rows(C, rsc);
    return fc_train_gemm(ws, M, N, K, &a, &b, &o, err);
}

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
    rc = product(ws, B, OC, IC, inp, IC, 1, weight, 1, IC, out, OC, err);
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
    if (dinp && (rc = product(ws, B, IC, OC, dout, OC, 1, weight, IC, 1, dinp, IC, err)))
        return rc;
    if (dweight &&
        (rc = product(ws, OC, IC, B, dout, 1, OC, inp, IC, 1, dweight, IC, err)))
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
