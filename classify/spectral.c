/* fc_spectral_fit: Y = C W for a fixed pseudo-random W (d, r), orthonormalize Y to Q1, Y1 = C Q1,
 * eigen-decompose the symmetric B = Q1^T Y1 (r, r) by cyclic Jacobi, rotate Q1 to the Ritz
 * vectors. Each product C W = X^T (X W) is two float32 SGEMMs; orthonormalization and the small
 * eigenproblem are in double. Not here: how the solver scales the result (softmax.c). */
#include "classify/spectral.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "classify/vec.h"
#include "engine/engine.h"

/* Y (d, r) = X^T (X W) with W (d, r); Z (n, r) scratch. */
static int times_c(fc_matmul *g, const float *x, int n, int d, int r, const float *W, float *Z, float *Y,
                   fc_error *err) {
    int rc = fc_matmul_run(g, n, r, d, x, d, 1, W, r, 1, Z, r, 1, err);
    return rc ? rc : fc_matmul_run(g, d, r, n, x, 1, d, Z, r, 1, Y, r, 1, err);
}

/* Q (r, d) rows = the columns of Y (d, r) made orthonormal by modified Gram-Schmidt, twice (a
 * column lost to rounding becomes 0 and stays harmless: its Ritz value is 0). */
static void orthonormalize(const float *Y, int d, int r, double *Q) {
    for (int j = 0; j < r; j++)
        for (int q = 0; q < d; q++) Q[(size_t)j * d + q] = Y[(size_t)q * r + j];
    for (int pass = 0; pass < 2; pass++)
        for (int j = 0; j < r; j++) {
            double *qj = Q + (size_t)j * d;
            for (int i = 0; i < j; i++) fc_vec_axpy(qj, -fc_vec_dot(Q + (size_t)i * d, qj, d), Q + (size_t)i * d, d);
            double norm = sqrt(fc_vec_dot(qj, qj, d));
            for (int q = 0; q < d; q++) qj[q] = norm > 0 ? qj[q] / norm : 0;
        }
}

/* Eigenpairs of the symmetric B (r, r) (destroyed): lam (r) and U (r, r) with column j the vector
 * of lam[j], by cyclic Jacobi rotations until the off-diagonal part is negligible. */
static void jacobi(double *B, int r, double *lam, double *U) {
    for (int i = 0; i < r * r; i++) U[i] = (i % (r + 1)) == 0;
    for (int sweep = 0; sweep < 50; sweep++) {
        double off = 0, diag = 0;
        for (int i = 0; i < r; i++) {
            diag += B[i * r + i] * B[i * r + i];
            for (int j = i + 1; j < r; j++) off += B[i * r + j] * B[i * r + j];
        }
        if (off <= 1e-24 * diag) break;
        for (int p = 0; p < r; p++)
            for (int q = p + 1; q < r; q++) {
                double bpq = B[p * r + q];
                if (fabs(bpq) < 1e-300) continue;
                double theta = (B[q * r + q] - B[p * r + p]) / (2 * bpq);
                double t = (theta >= 0 ? 1 : -1) / (fabs(theta) + sqrt(theta * theta + 1));
                double c = 1 / sqrt(t * t + 1), s = t * c;
                for (int k = 0; k < r; k++) { /* columns p, q */
                    double bkp = B[k * r + p], bkq = B[k * r + q];
                    B[k * r + p] = c * bkp - s * bkq, B[k * r + q] = s * bkp + c * bkq;
                }
                for (int k = 0; k < r; k++) { /* rows p, q */
                    double bpk = B[p * r + k], bqk = B[q * r + k];
                    B[p * r + k] = c * bpk - s * bqk, B[q * r + k] = s * bpk + c * bqk;
                }
                for (int k = 0; k < r; k++) {
                    double ukp = U[k * r + p], ukq = U[k * r + q];
                    U[k * r + p] = c * ukp - s * ukq, U[k * r + q] = s * ukp + c * ukq;
                }
            }
    }
    for (int i = 0; i < r; i++) lam[i] = B[i * r + i];
}

/* s->Q = U^T Q1 with U's columns sorted by descending eigenvalue; order: scratch (r). */
static void ritz_vectors(fc_spectral *s, const double *Q1, const double *lam, const double *U, int *order) {
    int r = s->r, d = s->d;
    for (int i = 0; i < r; i++) order[i] = i;
    for (int i = 1; i < r; i++) /* insertion sort, descending */
        for (int j = i; j > 0 && lam[order[j]] > lam[order[j - 1]]; j--) {
            int t = order[j];
            order[j] = order[j - 1], order[j - 1] = t;
        }
    for (int i = 0; i < r; i++) {
        int c = order[i];
        double *qi = s->Q + (size_t)i * d;
        memset(qi, 0, (size_t)d * sizeof *qi);
        for (int j = 0; j < r; j++) fc_vec_axpy(qi, U[j * r + c], Q1 + (size_t)j * d, d);
        s->lam[i] = lam[c] > 0 ? lam[c] : 0;
    }
}

int fc_spectral_fit(fc_spectral *s, const float *x, int n, int d, int r, int threads, fc_error *err) {
    memset(s, 0, sizeof *s);
    if (!x || n < 1 || r < 1 || r >= d || r > n) return fc_fail(err, FC_EINVAL, "spectral: r = %d for %d x %d", r, n, d);
    fc_matmul g;
    fc_matmul_init(&g, threads);
    size_t dr = (size_t)d * r;
    float *W = malloc(dr * sizeof *W), *Y = malloc(dr * sizeof *Y), *Z = malloc((size_t)n * r * sizeof *Z);
    double *Q1 = malloc(dr * sizeof *Q1), *B = malloc((size_t)r * r * sizeof *B), *U = malloc((size_t)r * r * sizeof *U);
    double *lam = malloc((size_t)r * sizeof *lam);
    int *order = malloc((size_t)r * sizeof *order), rc = 0;
    s->Q = malloc(dr * sizeof *s->Q);
    s->lam = malloc((size_t)r * sizeof *s->lam);
    if (!W || !Y || !Z || !Q1 || !B || !U || !lam || !order || !s->Q || !s->lam) {
        rc = fc_fail(err, FC_ENOMEM, "spectral: out of memory (%d x %d, r = %d)", n, d, r);
        goto fail;
    }
    s->d = d, s->r = r;
    uint64_t state = 0x9e3779b97f4a7c15ull; /* fixed start: uniform in [-1, 1) by an LCG */
    for (size_t i = 0; i < dr; i++) {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        W[i] = (float)((double)(state >> 11) * 0x1.0p-52 - 1);
    }
    if ((rc = times_c(&g, x, n, d, r, W, Z, Y, err))) goto fail;
    orthonormalize(Y, d, r, Q1);
    for (int j = 0; j < r; j++)
        for (int q = 0; q < d; q++) W[(size_t)q * r + j] = (float)Q1[(size_t)j * d + q];
    if ((rc = times_c(&g, x, n, d, r, W, Z, Y, err))) goto fail;
    for (int i = 0; i < r; i++) /* B = Q1^T Y1, symmetrized */
        for (int j = 0; j < r; j++) {
            double bij = 0, bji = 0;
            for (int q = 0; q < d; q++)
                bij += Q1[(size_t)i * d + q] * Y[(size_t)q * r + j], bji += Q1[(size_t)j * d + q] * Y[(size_t)q * r + i];
            B[i * r + j] = 0.5 * (bij + bji);
        }
    jacobi(B, r, lam, U);
    ritz_vectors(s, Q1, lam, U, order);
    double trace = 0, top = 0;
    for (size_t i = 0; i < (size_t)n * d; i++) trace += (double)x[i] * x[i];
    for (int i = 0; i < r; i++) top += s->lam[i];
    s->tail = trace > top ? (trace - top) / (d - r) : 0;
    if (s->tail > s->lam[r - 1]) s->tail = s->lam[r - 1];
fail:
    if (rc) fc_spectral_free(s);
    fc_matmul_free(&g);
    free(W), free(Y), free(Z), free(Q1), free(B), free(U), free(lam), free(order);
    return rc;
}

void fc_spectral_apply(const fc_spectral *s, const fc_dense_kernels *k, double a, double l2, const double *V,
                       int m, double *out, double *work) {
    // V, out: (m, d); work: dots (m, r), then the coefficients (r, m) for ger_dd
    int d = s->d, r = s->r;
    double base = 1 / (a * s->tail + l2), *dots = work, *coef = work + (size_t)m * r;
    for (size_t q = 0; q < (size_t)m * d; q++) out[q] = base * V[q];
    k->dots_dd(V, m, s->Q, r, d, dots);
    for (int i = 0; i < r; i++) {
        double f = 1 / (a * s->lam[i] + l2) - base;
        for (int j = 0; j < m; j++) coef[(size_t)i * m + j] = dots[(size_t)j * r + i] * f;
    }
    k->ger_dd(out, coef, s->Q, r, m, d);
}

void fc_spectral_free(fc_spectral *s) {
    if (!s) return;
    free(s->Q);
    free(s->lam);
    memset(s, 0, sizeof *s);
}
