/* Softmax regression: the objective in reduced coordinates (one fused pass over the rows per
 * evaluation, summed in fixed row chunks), the row-space factorization, the maps between
 * coordinate systems, and the L2 path driving lbfgs.c with warm starts and carried-over curvature
 * pairs (long paths on large problems as two chains on their own threads), and on large
 * full-coordinate problems the spectral preconditioner (spectral.h) as L-BFGS's initial matrix and
 * a first phase of each fit on f32 products (minimize).
 * Not here: the line search (lbfgs.c), the dense kernels (dense.c). */

/* Coordinates. W (K, D) = M V Q^T and b = M c, where M (K, K-1) is the orthonormal Helmert basis of
 * the sum-zero vectors (column j: 1/sqrt(j(j+1)) on classes < j, -j/sqrt(j(j+1)) on class j) and Q
 * (D, p) is either the identity (p = D: "full") or an orthonormal basis of the row space of X
 * (p = rank: "reduced"). Logits depend on W only through X W^T and on b up to a constant, and
 * ||W|| = ||V||, so the problem in (V, c) is the original one restricted to the subspace that holds
 * its optimum. Reduced: with a pivoted Cholesky factorization P^T X X^T P = L L^T (L (N, r) lower
 * trapezoidal), the samples are taken in pivot order, A = L plays the role of X, and
 * Q^T = L1^{-1} X_piv where L1 is L's top (r, r) block. */
#include "classify/softmax.h"

#include <float.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "classify/dense.h"
#include "classify/spectral.h"
#include "classify/vec.h"

void fc_softmax_options_init(fc_softmax_options *o) {
    memset(o, 0, sizeof *o);
    o->l2 = 1;
    o->gtol = 1e-4;
    o->rtol = 0;
    o->ftol = 2.220446049250313e-09;
    o->max_iter = 100;
    o->memory = 0;
    o->reduce = -1;
    o->precondition = -1;
    o->f32_phase = -1;
}

/* The optimization problem in (V (k1, p), c (k1)) coordinates. */
typedef struct problem {
    int n, k, k1, p;     /* samples, classes, k - 1, feature dims of the coordinates */
    int reduced;
    const float *x;      /* (n, d) original features, sample order of the caller */
    int d;
    double *L;           /* reduced: packed rows of the Cholesky factor, row i at off[i], len[i] */
    size_t *off;
    int *len;
    int *perm;           /* reduced: row i of L is sample perm[i]; NULL = identity */
    int *y;              /* (n) labels in row order */
    double *s;           /* (n) weights in row order */
    double *h;           /* (k) Helmert scales h[j] = 1/sqrt(j(j+1)), j >= 1 */
    double *E;           /* (n, k1) reduced residuals of the last evaluation */
    double *fi;          /* (n) weighted per-sample losses of the last evaluation */
    int nch;             /* row chunks: a fixed partition, so sums do not depend on threads */
    int *chunk;          /* (nch + 1) first row of each chunk */
    double *part;        /* (nch, k1, p) per-chunk gradient sums */
    double *zbuf;        /* (nch, 3k) per-chunk scratch */
    double work;         /* multiply-adds per evaluation */
    fc_spectral spec;    /* preconditioned: the spectrum of X^T X (spec.Q NULL: plain L-BFGS) */
    double *pwork;       /* preconditioned: (2 k1 r) scratch of fc_spectral_apply */
    double *cv;          /* preconditioned: (n) weighted mean curvature of each row's loss */
    double curv;         /* preconditioned: mean curvature per unit weight at the last evaluation */
    double ssum;         /* sum of the weights */
    int f32_phase;       /* fits start in f32 arithmetic (minimize) */
    int f32;             /* evaluations use the f32 products (dense.h's dots_f32, ger_f32) */
    float *Vf;           /* (k1, p) V rounded to float for them */
    const fc_dense_kernels *dk; /* dot/axpy/Gram kernels */
    double l2;
    int threads;
} problem;

/* w (k) = M u (k-1). */
static void helmert_up(const double *h, int k, const double *u, double *w) {
    double suffix = 0;
    for (int i = k - 1; i >= 0; i--) {
        w[i] = suffix + (i >= 1 ? -i * h[i] * u[i - 1] : 0);
        if (i >= 1) suffix += h[i] * u[i - 1];
    }
}

/* u (k-1) = M^T w (k). */
static void helmert_down(const double *h, int k, const double *w, double *u) {
    double prefix = 0;
    for (int j = 1; j < k; j++) {
        prefix += w[j - 1];
        u[j - 1] = h[j] * (prefix - j * w[j]);
    }
}

/* Loss of one row given its reduced logits u (k1) (c already added); writes E row and, with a
 * preconditioner, the row's curvature s_i (1 - ||p||^2) / (k - 1) (the mean eigenvalue of its
 * Hessian diag(p) - p p^T on sum-zero directions); returns the weighted loss. z, pr: scratch (k). */
static double row_loss(const problem *P, int i, const double *u, double *z, double *pr, double *e) {
    int k = P->k;
    if (k == 2) {
        /* z = (u, -u) / sqrt(2); t = z_other - z_true; CE = log(1 + e^t); the residual of the true
         * class is -s p_other and that of the other +s p_other, so M^T of it is +-sqrt(2) s p_other */
        int yi = P->y[i];
        double t = yi ? M_SQRT2 * u[0] : -M_SQRT2 * u[0], et = exp(-fabs(t)), si = P->s[i];
        double p_other = t > 0 ? 1 / (1 + et) : et / (1 + et);
        e[0] = (yi ? M_SQRT2 : -M_SQRT2) * si * p_other;
        if (P->cv) P->cv[i] = si * 2 * p_other * (1 - p_other);
        return si * ((t > 0 ? t : 0) + log1p(et));
    }
    helmert_up(P->h, k, u, z);
    int cm = 0; /* argmax: its exp is 1, and log(sum) = log1p(sum of the others) */
    for (int c = 1; c < k; c++) cm = z[c] > z[cm] ? c : cm;
    double m = z[cm], rest = 0;
    for (int c = 0; c < k; c++)
        if (c != cm) rest += (pr[c] = exp(z[c] - m));
    pr[cm] = 1;
    double lse = m + log1p(rest), si = P->s[i], inv = 1 / (1 + rest);
    if (P->cv) {
        double sq = 0;
        for (int c = 0; c < k; c++) sq += (pr[c] * inv) * (pr[c] * inv);
        P->cv[i] = si * (1 - sq) / (k - 1);
    }
    for (int c = 0; c < k; c++) pr[c] = si * pr[c] * inv;
    pr[P->y[i]] -= si;
    helmert_down(P->h, k, pr, e);
    return si * (lse - z[P->y[i]]);
}

/* Rows [b0, b1) of a chunk: logits (kept in E), then losses and residuals (overwriting E), then the
 * rows' contributions added to the chunk's gradient sum gp. Passes over the rows rather than row
 * by row, so that independent rows overlap in the pipeline (a row's dot -> exp/log -> axpy is one
 * long dependency chain). */
static void eval_rows(problem *P, int b0, int b1, const double *V, const double *c, double *gp, double *z,
                      double *pr, double *u) {
    int k1 = P->k1, p = P->p;
    const fc_dense_kernels *dk = P->dk;
    if (P->f32) dk->dots_f32(P->x + (size_t)b0 * p, b1 - b0, P->Vf, k1, p, P->E + (size_t)b0 * k1);
    else if (!P->reduced) dk->dots_fd(P->x + (size_t)b0 * p, b1 - b0, V, k1, p, P->E + (size_t)b0 * k1);
    for (int i = b0; i < b1; i++) {
        double *t = P->E + (size_t)i * k1;
        if (P->reduced) {
            for (int j = 0; j < k1; j++) t[j] = c[j] + dk->dot(P->L + P->off[i], V + (size_t)j * p, P->len[i]);
        } else {
            for (int j = 0; j < k1; j++) t[j] = c[j] + t[j];
        }
    }
    for (int i = b0; i < b1; i++) {
        double *e = P->E + (size_t)i * k1;
        memcpy(u, e, (size_t)k1 * sizeof *u);
        P->fi[i] = row_loss(P, i, u, z, pr, e);
    }
    if (!P->reduced) { /* (skipping the zero residuals below changes no bits: gp never holds -0) */
        (P->f32 ? dk->ger_f32 : dk->ger_fd)(gp, P->E + (size_t)b0 * k1, P->x + (size_t)b0 * p, b1 - b0, k1, p);
        return;
    }
    for (int i = b0; i < b1; i++) {
        const double *e = P->E + (size_t)i * k1;
        for (int j = 0; j < k1; j++)
            if (e[j] != 0) dk->axpy(gp + (size_t)j * p, e[j], P->L + P->off[i], P->len[i]);
    }
}

/* Rows of chunk ch into its gradient sum, in blocks of EVAL_ROWS rows: a block's rows of X are
 * read from memory for the logits and again, from L2, for the gradient (X is one pass over memory
 * per evaluation). The sum adds the rows in order whatever the blocks: the blocks change no bits. */
static void eval_chunk(problem *P, int ch, const double *V, const double *c) {
    enum { EVAL_ROWS = 48 }; /* 240 KiB of 1280-D rows, with V and the sum within L2 */
    int k = P->k, r0 = P->chunk[ch], r1 = P->chunk[ch + 1];
    size_t np = (size_t)P->k1 * P->p;
    double *gp = P->part + (size_t)ch * np, *z = P->zbuf + (size_t)ch * 3 * k, *pr = z + k, *u = pr + k;
    memset(gp, 0, np * sizeof *gp);
    for (int b0 = r0; b0 < r1; b0 += EVAL_ROWS)
        eval_rows(P, b0, r1 - b0 < EVAL_ROWS ? r1 : b0 + EVAL_ROWS, V, c, gp, z, pr, u);
}

/* f(theta) and its gradient; theta = (V (k1, p), c (k1)). The chunk sums are added in chunk order,
 * so the result does not depend on the number of threads. */
static double objective(void *ctx, const double *theta, double *grad) {
    problem *P = ctx;
    int k1 = P->k1, p = P->p, nch = P->nch;
    const double *V = theta, *c = theta + (size_t)k1 * p;
    double *gV = grad, *gc = grad + (size_t)k1 * p;
    size_t np = (size_t)k1 * p;
    if (P->f32)
        for (size_t q = 0; q < np; q++) P->Vf[q] = (float)V[q];
    /* threads only for several ms of work: on a busy machine a parallel region can stall for a
     * scheduler time slice */
    if (P->work > 2e7 && P->threads > 1) {
#pragma omp parallel num_threads(P->threads)
        {
#pragma omp for schedule(dynamic, 1)
            for (int ch = 0; ch < nch; ch++) eval_chunk(P, ch, V, c);
#pragma omp for schedule(static)
            for (size_t q = 0; q < np; q++) {
                double sum = P->part[q];
                for (int ch = 1; ch < nch; ch++) sum += P->part[(size_t)ch * np + q];
                gV[q] = sum + P->l2 * V[q];
            }
        }
    } else {
        for (int ch = 0; ch < nch; ch++) eval_chunk(P, ch, V, c);
        for (size_t q = 0; q < np; q++) {
            double sum = P->part[q];
            for (int ch = 1; ch < nch; ch++) sum += P->part[(size_t)ch * np + q];
            gV[q] = sum + P->l2 * V[q];
        }
    }
    double f = 0;
    for (int j = 0; j < k1; j++) gc[j] = 0;
    for (int i = 0; i < P->n; i++) {
        f += P->fi[i];
        const double *ei = P->E + (size_t)i * k1;
        for (int j = 0; j < k1; j++) gc[j] += ei[j];
    }
    if (P->l2 > 0) f += 0.5 * P->l2 * P->dk->dot(V, V, (int)np);
    if (P->cv) {
        double cs = 0;
        for (int i = 0; i < P->n; i++) cs += P->cv[i];
        P->curv = P->ssum > 0 ? cs / P->ssum : 0;
    }
    return f;
}

/* The preconditioner of lbfgs.h: out = (a X^T X + l2 I)^{-1} v on each class direction of V (the
 * spectral model of X^T X, a = the mean curvature of the last evaluation, floored so that nearly
 * separable data keeps a usable model) and v / (a sum s) on c (centered features leave the
 * intercepts nearly decoupled from V). */
static void precondition(void *ctx, const double *v, double *out) {
    problem *P = ctx;
    int k1 = P->k1, p = P->p;
    double a = fmax(P->curv, 1e-4);
    fc_spectral_apply(&P->spec, P->dk, a, P->l2, v, k1, out, P->pwork);
    for (int j = 0; j < k1; j++) out[(size_t)k1 * p + j] = v[(size_t)k1 * p + j] / (a * fmax(P->ssum, 1e-12));
}

static void problem_free(problem *P) {
    free(P->L);
    free(P->off);
    free(P->len);
    free(P->perm);
    free(P->y);
    free(P->s);
    free(P->h);
    free(P->E);
    free(P->fi);
    free(P->chunk);
    free(P->part);
    free(P->zbuf);
    free(P->cv);
    free(P->pwork);
    free(P->Vf);
    fc_spectral_free(&P->spec);
    memset(P, 0, sizeof *P);
}

/* Pivoted Cholesky of G = X X^T: fills perm, L (packed), off, len and P->p = rank. Returns 0, or
 * FC_ENOMEM. A rank of 0 (all-zero features) leaves P->p = 0. */
static int factor_rows(problem *P, fc_error *err) {
    int n = P->n, d = P->d, rc = 0;
    const float *x = P->x;
    double *G = malloc((size_t)n * n * sizeof *G), *Ld = calloc((size_t)n * n, sizeof *Ld);
    double *dg = malloc((size_t)n * sizeof *dg);
    P->perm = malloc((size_t)n * sizeof *P->perm);
    P->off = malloc((size_t)n * sizeof *P->off);
    P->len = malloc((size_t)n * sizeof *P->len);
    if (!G || !Ld || !dg || !P->perm || !P->off || !P->len) {
        rc = fc_fail(err, FC_ENOMEM, "softmax: out of memory for the %d x %d Gram matrix", n, n);
        goto fail;
    }
    if ((rc = fc_gram_compute(P->dk, x, n, d, G, P->threads, err))) goto fail;
    double dmax = 0;
    for (int i = 0; i < n; i++) {
        P->perm[i] = i;
        dg[i] = G[(size_t)i * n + i];
        dmax = dg[i] > dmax ? dg[i] : dmax;
    }
    /* Pivots below this are rounding noise of G: their rows are (numerically) in the span. */
    double tol = fmax(1e-13, 4.0 * n * DBL_EPSILON) * dmax;
    int r = 0;
    for (int j = 0; j < n; j++) {
        int piv = j;
        for (int i = j + 1; i < n; i++)
            if (dg[i] > dg[piv]) piv = i;
        if (!(dg[piv] > tol)) break;
        if (piv != j) {
            int t = P->perm[j];
            P->perm[j] = P->perm[piv], P->perm[piv] = t;
            double td = dg[j];
            dg[j] = dg[piv], dg[piv] = td;
            for (int c = 0; c < j; c++) {
                double tl = Ld[(size_t)j * n + c];
                Ld[(size_t)j * n + c] = Ld[(size_t)piv * n + c], Ld[(size_t)piv * n + c] = tl;
            }
        }
        double ljj = sqrt(dg[j]);
        Ld[(size_t)j * n + j] = ljj;
        const double *Lj = Ld + (size_t)j * n, *Gj = G + (size_t)P->perm[j] * n;
#pragma omp parallel for num_threads(P->threads) schedule(static) if ((double)(n - j) * j > 200000)
        for (int i = j + 1; i < n; i++) {
            double v = (Gj[P->perm[i]] - P->dk->dot(Ld + (size_t)i * n, Lj, j)) / ljj;
            Ld[(size_t)i * n + j] = v;
            dg[i] -= v * v;
        }
        r = j + 1;
    }
    P->p = r;
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        P->len[i] = i + 1 < r ? i + 1 : r;
        P->off[i] = total;
        total += (size_t)P->len[i];
    }
    if (r > 0) {
        if (!(P->L = malloc(total * sizeof *P->L))) {
            rc = fc_fail(err, FC_ENOMEM, "softmax: out of memory for the Cholesky factor");
            goto fail;
        }
        for (int i = 0; i < n; i++) memcpy(P->L + P->off[i], Ld + (size_t)i * n, (size_t)P->len[i] * sizeof *P->L);
    }
fail:
    free(G);
    free(Ld);
    free(dg);
    return rc;
}

/* Whether the row-space reduction pays: the Gram matrix (N^2 D / 2 multiply-adds, which its
 * kernel does about 3x faster per multiply-add than an evaluation's loops) against the saving per
 * evaluation (2 (K-1) N (D - N/2)) over about 60 evaluations per fit (measured on 1280-D
 * features, where it pays for a single fit up to N ~ 450 and for a 9-value path up to N ~ 1000). */
static int want_reduce(int mode, int n, int d, int k, int fits) {
    if (mode == 0 || n > 4096) return 0;
    if (mode > 0) return 1;
    double gram = 0.3 * 0.5 * (double)n * n * d;
    double save = 60.0 * fits * 2.0 * (k - 1) * n * (d - 0.5 * n);
    return save > gram;
}

/* Whether the spectral preconditioner pays (full coordinates only): its fit costs 4 n d r float
 * multiply-adds (r = 128), about 2 evaluations' worth once n d (K-1) reaches 1e7. Measured on
 * 5000 x 1280 MobileNetV2 features of Fashion-MNIST (16-value path l2 = 1e3 ... 1e-2): the
 * strongest penalties stop on the relative decrease after 37-92 iterations instead of running into
 * the 100-iteration cap, 1477 evaluations in all instead of 1690, at equal or lower objectives;
 * the weak penalties still end at the cap. */
static int want_precondition(int mode, int n, int d, int k) {
    if (mode == 0 || d < 8) return 0;
    if (mode > 0) return 1;
    return (double)n * d * (k - 1) >= 1e7;
}

/* Splits the rows into up to 8 chunks of about equal work (a function of the problem only) and
 * allocates their gradient sums (capped at 64 MiB: fewer chunks for big problems). */
static int make_chunks(problem *P, fc_error *err) {
    size_t np = (size_t)P->k1 * P->p;
    int nch = 8;
    while (nch > 1 && (double)nch * np * sizeof(double) > 64.0 * 1024 * 1024) nch--;
    if (nch > P->n) nch = P->n;
    P->work = 0;
    for (int i = 0; i < P->n; i++) P->work += P->reduced ? P->len[i] : P->p;
    P->work *= 2.0 * P->k1;
    P->chunk = malloc((size_t)(nch + 1) * sizeof *P->chunk);
    P->part = malloc((size_t)nch * np * sizeof *P->part + sizeof(double));
    P->zbuf = malloc((size_t)nch * 3 * P->k * sizeof *P->zbuf);
    if (!P->chunk || !P->part || !P->zbuf) return fc_fail(err, FC_ENOMEM, "softmax: out of memory");
    double per = P->work / nch, acc = 0;
    int ch = 0;
    P->chunk[0] = 0;
    for (int i = 0; i < P->n && ch < nch - 1; i++) {
        acc += 2.0 * P->k1 * (P->reduced ? P->len[i] : P->p);
        if (acc >= per * (ch + 1)) P->chunk[++ch] = i + 1;
    }
    while (ch < nch - 1) P->chunk[++ch] = P->n; /* (only when rows are fewer than chunks) */
    P->chunk[nch] = P->n;
    P->nch = nch;
    return 0;
}

static int problem_init(problem *P, const fc_softmax_options *o, const fc_data *t, int k, int fits,
                        fc_error *err) {
    memset(P, 0, sizeof *P);
    int n = t->n, rc = 0;
    P->n = n, P->k = k, P->k1 = k - 1, P->x = t->x, P->d = t->d, P->p = t->d;
    P->dk = o->kernels ? o->kernels : fc_dense_kernels_best();
    P->threads = o->threads > 0 ? o->threads : omp_get_max_threads();
    if (P->threads < 1) P->threads = 1;
    P->y = malloc((size_t)n * sizeof *P->y);
    P->s = malloc((size_t)n * sizeof *P->s);
    P->h = calloc((size_t)k, sizeof *P->h);
    P->E = malloc((size_t)n * (k - 1) * sizeof *P->E);
    P->fi = malloc((size_t)n * sizeof *P->fi);
    if (!P->y || !P->s || !P->h || !P->E || !P->fi) {
        rc = fc_fail(err, FC_ENOMEM, "softmax: out of memory");
        goto fail;
    }
    for (int j = 1; j < k; j++) P->h[j] = 1 / sqrt((double)j * (j + 1));
    if (want_reduce(o->reduce, n, t->d, k, fits)) {
        if ((rc = factor_rows(P, err))) goto fail;
        if (P->p > 0) P->reduced = 1;
        else { /* all-zero features: nothing to reduce; solve in full coordinates */
            free(P->perm), free(P->off), free(P->len);
            P->perm = NULL, P->off = NULL, P->len = NULL;
            P->p = t->d;
        }
    }
    if ((rc = make_chunks(P, err))) goto fail;
    P->f32_phase = !P->reduced && (o->f32_phase > 0 || (o->f32_phase < 0 && P->work > 2e7));
    if (P->f32_phase && !(P->Vf = malloc((size_t)P->k1 * P->p * sizeof *P->Vf))) {
        rc = fc_fail(err, FC_ENOMEM, "softmax: out of memory");
        goto fail;
    }
    for (int i = 0; i < n; i++) {
        int src = P->perm ? P->perm[i] : i;
        int yi = t->y[src];
        P->y[i] = yi;
        P->s[i] = (t->weight ? t->weight[src] : 1.0) * (o->class_weight ? o->class_weight[yi] : 1.0);
        P->ssum += P->s[i];
    }
    if (!P->reduced && want_precondition(o->precondition, n, t->d, k)) {
        if (!(P->cv = malloc((size_t)n * sizeof *P->cv))) {
            rc = fc_fail(err, FC_ENOMEM, "softmax: out of memory");
            goto fail;
        }
        int r = t->d / 4 < 128 ? t->d / 4 : 128;
        if ((rc = fc_spectral_fit(&P->spec, t->x, n, t->d, r < n ? r : n, P->threads, err))) goto fail;
        if (!(P->pwork = malloc(2 * (size_t)P->k1 * P->spec.r * sizeof *P->pwork))) {
            rc = fc_fail(err, FC_ENOMEM, "softmax: out of memory");
            goto fail;
        }
    }
    return 0;
fail:
    problem_free(P);
    return rc;
}

/* theta (V, c) -> layer W (k, d), b (k). */
static int theta_to_layer(const problem *P, const double *theta, fc_layer *l, fc_error *err) {
    int k = P->k, k1 = P->k1, p = P->p, d = P->d;
    double *Wu = NULL, *a = NULL, *col = malloc(2 * (size_t)k * sizeof *col);
    const double *V = theta;
    if (!col) return fc_fail(err, FC_ENOMEM, "softmax: out of memory");
    if (P->reduced) {
        /* Wu (k1, d) = V L1^{-1} X_piv */
        Wu = calloc((size_t)k1 * d, sizeof *Wu);
        a = malloc((size_t)p * sizeof *a);
        if (!Wu || !a) {
            free(col), free(Wu), free(a);
            return fc_fail(err, FC_ENOMEM, "softmax: out of memory");
        }
        for (int j = 0; j < k1; j++) {
            /* a L1 = v (L1 lower triangular): a_q = v_q / L_qq from the last row up, removing
             * a_q * (row q of L1) from v on the way (contiguous rows of the packed factor) */
            memcpy(a, V + (size_t)j * p, (size_t)p * sizeof *a);
            for (int q = p - 1; q >= 0; q--) {
                const double *row = P->L + P->off[q];
                a[q] /= row[q];
                P->dk->axpy(a, -a[q], row, q);
            }
            double *w = Wu + (size_t)j * d;
            for (int t = 0; t < p; t++) P->dk->axpy_fd(w, a[t], P->x + (size_t)P->perm[t] * d, d);
        }
        V = Wu;
    }
    double *u = col + k; /* (k1) column of V, then (k) column of W in col */
    for (int q = 0; q < d; q++) {
        for (int j = 0; j < k1; j++) u[j] = V[(size_t)j * d + q];
        helmert_up(P->h, k, u, col);
        for (int c = 0; c < k; c++) l->W[(size_t)c * d + q] = (float)col[c];
    }
    helmert_up(P->h, k, theta + (size_t)k1 * p, col);
    for (int c = 0; c < k; c++) l->b[c] = (float)col[c];
    free(col);
    free(Wu);
    free(a);
    return 0;
}

/* layer -> theta (warm start): V = M^T W Q, c = M^T b. */
static int layer_to_theta(const problem *P, const fc_layer *l, double *theta, fc_error *err) {
    int k = P->k, k1 = P->k1, p = P->p, d = P->d;
    double *Wu = malloc((size_t)k1 * d * sizeof *Wu), *col = malloc(2 * (size_t)k * sizeof *col);
    if (!Wu || !col) {
        free(Wu), free(col);
        return fc_fail(err, FC_ENOMEM, "softmax: out of memory");
    }
    double *u = col + k;
    for (int q = 0; q < d; q++) {
        for (int c = 0; c < k; c++) col[c] = l->W[(size_t)c * d + q];
        helmert_down(P->h, k, col, u);
        for (int j = 0; j < k1; j++) Wu[(size_t)j * d + q] = u[j];
    }
    if (P->reduced) {
        for (int j = 0; j < k1; j++) { /* v L1^T = Wu_j X_piv^T */
            double *v = theta + (size_t)j * p;
            for (int t = 0; t < p; t++) {
                double s = P->dk->dot_fd(P->x + (size_t)P->perm[t] * d, Wu + (size_t)j * d, d);
                s -= P->dk->dot(v, P->L + P->off[t], t);
                v[t] = s / P->L[P->off[t] + t];
            }
        }
    } else {
        memcpy(theta, Wu, (size_t)k1 * d * sizeof *theta);
    }
    for (int c = 0; c < k; c++) col[c] = l->b[c];
    helmert_down(P->h, k, col, theta + (size_t)k1 * p);
    free(Wu);
    free(col);
    return 0;
}

/* The arrays an evaluation or the preconditioner writes (E, fi, part, zbuf, cv, pwork), owned by a
 * chain; the rest is shared read-only with P. Evaluations of a chain run on one thread. */
static int problem_fork(const problem *P, problem *c, fc_error *err) {
    *c = *P;
    size_t np = (size_t)P->k1 * P->p;
    c->threads = 1;
    c->E = malloc((size_t)P->n * P->k1 * sizeof *c->E);
    c->fi = malloc((size_t)P->n * sizeof *c->fi);
    c->part = malloc((size_t)P->nch * np * sizeof *c->part + sizeof(double));
    c->zbuf = malloc((size_t)P->nch * 3 * P->k * sizeof *c->zbuf);
    c->cv = P->cv ? malloc((size_t)P->n * sizeof *c->cv) : NULL;
    c->pwork = P->pwork ? malloc(2 * (size_t)P->k1 * P->spec.r * sizeof *c->pwork) : NULL;
    c->Vf = P->Vf ? malloc(np * sizeof *c->Vf) : NULL;
    if (!c->E || !c->fi || !c->part || !c->zbuf || (P->cv && !c->cv) || (P->pwork && !c->pwork) || (P->Vf && !c->Vf))
        return fc_fail(err, FC_ENOMEM, "softmax: out of memory for a path chain");
    return 0;
}

static void problem_fork_free(problem *c) {
    free(c->E), free(c->fi), free(c->part), free(c->zbuf), free(c->cv), free(c->pwork), free(c->Vf);
}

/* How many chains a path of m fits runs as: fits i, i + chains, ... form chain i mod chains, each
 * warm-started from its own previous fit and evaluated on one thread, the chains in parallel. A
 * function of the problem only (never of the thread count), so the results are the same for any
 * thread count. Two chains where an evaluation would otherwise be split over threads (work above
 * 2e7 multiply-adds) and the path is long enough that each chain still warm-starts: one parallel
 * region per path instead of one per evaluation, which a busy machine stalls (measured on
 * 5000 x 1280 features, 16 fits, load 15 on 2 cores: 255 s wall for 40 s of CPU). */
static int path_chains(const problem *P, int m) { return m >= 4 && P->work > 2e7 ? 2 : 1; }

/* One fit from theta. With an f32 phase: L-BFGS on the f32 products until it stops, then in double
 * from there with the same curvature pairs and the rest of the iteration budget, converged as soon
 * as the gradient passes the tests (the f32 phase already made the progress gtol2_start asks for).
 * The f32 sums are good to ~1e-6 relative, far below the gradient tolerances, but their objective
 * is too coarse for the relative-decrease test and the line search near the optimum: where the f32
 * phase stops there, the double phase goes on. res: the totals, the double phase's end. */
static int minimize(problem *P, const fc_lbfgs_options *lo, size_t np, double *theta, fc_lbfgs_memory *mem,
                    fc_lbfgs_result *res, fc_error *err) {
    if (!P->f32_phase) return fc_lbfgs_minimize(lo, (int)np, theta, objective, P, mem, res, err);
    fc_lbfgs_result r1;
    P->f32 = 1;
    int rc = fc_lbfgs_minimize(lo, (int)np, theta, objective, P, mem, &r1, err);
    P->f32 = 0;
    if (rc) return rc;
    fc_lbfgs_options fin = *lo;
    fin.max_iter = lo->max_iter - r1.iterations;
    fin.gtol2_start = INFINITY;
    if ((rc = fc_lbfgs_minimize(&fin, (int)np, theta, objective, P, mem, res, err))) return rc;
    res->iterations += r1.iterations;
    res->evaluations += r1.evaluations;
    return 0;
}

/* Fits l2[first], l2[first + step], ... of the path in that order from theta (which it updates),
 * into layers/infos. mine marks the layers allocated here. */
static int fit_chain(problem *P, const fc_lbfgs_options *lo, double *theta, const double *l2, int m, int first,
                     int step, fc_layer *layers, fc_softmax_info *infos, unsigned char *mine, fc_error *err) {
    size_t np = (size_t)P->k1 * (P->p + 1);
    fc_lbfgs_memory mem = {0};
    int rc = fc_lbfgs_memory_init(&mem, (int)np, lo->memory, err);
    for (int i = first; rc == 0 && i < m; i += step) {
        /* the curvature pairs of the previous fit stay exact up to the change of the penalty */
        if (i > first) fc_lbfgs_memory_shift(&mem, l2[i] - l2[i - step], 0, P->k1 * P->p);
        P->l2 = l2[i];
        fc_lbfgs_result res;
        if ((rc = minimize(P, lo, np, theta, &mem, &res, err))) {
            fc_error_prefix(err, "softmax (l2 = %g): ", l2[i]);
            break;
        }
        if (!layers[i].W) {
            if ((rc = fc_layer_alloc(&layers[i], P->d, P->k, FC_ACTIVATION_NONE, err))) break;
            mine[i] = 1;
        }
        if ((rc = theta_to_layer(P, theta, &layers[i], err))) break;
        if (infos)
            infos[i] = (fc_softmax_info){.objective = res.f, .grad_norm = res.grad_norm, .iterations = res.iterations,
                                         .evaluations = res.evaluations, .status = res.status, .rank = P->p};
    }
    fc_lbfgs_memory_free(&mem);
    return rc;
}

/* Runs the path as path_chains() chains, each from its own copy of theta (np doubles). */
static int fit_chains(problem *P, const fc_lbfgs_options *lo, const double *theta, const double *l2, int m,
                      fc_layer *layers, fc_softmax_info *infos, unsigned char *mine, fc_error *err) {
    enum { MAX_CHAINS = 2 };
    size_t np = (size_t)P->k1 * (P->p + 1);
    int chains = path_chains(P, m), rc = 0, rcs[MAX_CHAINS] = {0};
    problem C[MAX_CHAINS];
    fc_error errs[MAX_CHAINS];
    double *th = malloc((size_t)chains * np * sizeof *th);
    memset(C, 0, sizeof C);
    if (!th) return fc_fail(err, FC_ENOMEM, "softmax: out of memory");
    for (int c = 0; c < chains; c++) memcpy(th + c * np, theta, np * sizeof *th);
    if (chains == 1) {
        rc = fit_chain(P, lo, th, l2, m, 0, 1, layers, infos, mine, err);
        free(th);
        return rc;
    }
    for (int c = 0; c < chains && rc == 0; c++) rc = problem_fork(P, &C[c], err);
#pragma omp parallel for num_threads(P->threads < chains ? P->threads : chains) schedule(static, 1) if (rc == 0)
    for (int c = 0; c < chains; c++)
        rcs[c] = fit_chain(&C[c], lo, th + c * np, l2, m, c, chains, layers, infos, mine, &errs[c]);
    for (int c = 0; c < chains && rc == 0; c++)
        if ((rc = rcs[c]) && err) *err = errs[c];
    for (int c = 0; c < chains; c++) problem_fork_free(&C[c]);
    free(th);
    return rc;
}

/* *gtol2 = rtol * ||grad f(0)||: one evaluation at V = 0, c = 0 (where the penalty adds nothing). */
static int relative_gtol(problem *P, double rtol, double *gtol2, fc_error *err) {
    size_t np = (size_t)P->k1 * (P->p + 1);
    double *zero = calloc(np, sizeof *zero), *g = malloc(np * sizeof *g);
    if (!zero || !g) {
        free(zero), free(g);
        return fc_fail(err, FC_ENOMEM, "softmax: out of memory");
    }
    objective(P, zero, g);
    *gtol2 = rtol * sqrt(P->dk->dot(g, g, (int)np));
    free(zero), free(g);
    return 0;
}

/* Arguments of fc_softmax_fit_path (see softmax.h). */
static int check_path_args(const fc_softmax_options *o, const fc_data *train, int k, const double *l2, int m,
                           const fc_layer *layers, fc_error *err) {
    if (!train || !layers || !l2 || m < 1) return fc_fail(err, FC_EINVAL, "softmax: no data, layers or l2 values");
    int rc = fc_data_check(train, train->d, k, FC_DATA_ALL_CLASSES, err);
    if (rc) return rc;
    for (int i = 0; i < m; i++)
        if (!(l2[i] >= 0) || !isfinite(l2[i])) return fc_fail(err, FC_EINVAL, "softmax: l2 = %g (must be >= 0)", l2[i]);
    if (!(o->gtol >= 0) || !(o->rtol >= 0) || !(o->ftol >= 0) || o->max_iter < 0 || o->memory < 0)
        return fc_fail(err, FC_EINVAL, "softmax: bad options (gtol %g, rtol %g, ftol %g, max_iter %d, memory %d)",
                       o->gtol, o->rtol, o->ftol, o->max_iter, o->memory);
    if (o->class_weight)
        for (int c = 0; c < k; c++)
            if (!(o->class_weight[c] >= 0) || !isfinite(o->class_weight[c]))
                return fc_fail(err, FC_EINVAL, "softmax: class weight %d is %g (must be >= 0)", c, o->class_weight[c]);
    int d = train->d;
    for (int i = 0; i < m; i++)
        if (layers[i].W && (layers[i].in != d || layers[i].out != k || !layers[i].b))
            return fc_fail(err, FC_EINVAL, "softmax: layer %d is %d x %d, expected %d x %d", i, layers[i].out,
                           layers[i].in, k, d);
    if (o->warm_start && !layers[0].W) return fc_fail(err, FC_EINVAL, "softmax: warm start without a fitted layer");
    return 0;
}

int fc_softmax_fit_path(const fc_softmax_options *opt, const fc_data *train, int k, const double *l2,
                        int m, fc_layer *layers, fc_softmax_info *infos, fc_error *err) {
    fc_softmax_options o;
    if (opt) o = *opt;
    else fc_softmax_options_init(&o);
    int rc = check_path_args(&o, train, k, l2, m, layers, err);
    if (rc) return rc;
    problem P;
    double *theta = NULL;
    unsigned char *mine = calloc((size_t)m, 1); /* layers allocated here (freed on error) */
    if (!mine) return fc_fail(err, FC_ENOMEM, "softmax: out of memory");
    if ((rc = problem_init(&P, &o, train, k, m, err))) {
        free(mine);
        return rc;
    }
    size_t np = (size_t)P.k1 * (P.p + 1);
    if (!(theta = calloc(np, sizeof *theta))) {
        rc = fc_fail(err, FC_ENOMEM, "softmax: out of memory");
        goto fail;
    }
    if (o.warm_start && (rc = layer_to_theta(&P, &layers[0], theta, err))) goto fail;
    int pairs = o.memory;
    if (pairs == 0) /* 20 pairs (fewer iterations than 10 on these problems) within 64 MiB */
        for (pairs = 20; pairs > 5 && 2.0 * pairs * np * sizeof(double) > 64.0 * 1024 * 1024; pairs--) {
        }
    fc_lbfgs_options lo;
    fc_lbfgs_options_init(&lo);
    lo.memory = pairs, lo.max_iter = o.max_iter, lo.gtol = o.gtol, lo.ftol = o.ftol;
    if (P.spec.Q) lo.precond = precondition;
    if (o.rtol > 0 && (rc = relative_gtol(&P, o.rtol, &lo.gtol2, err))) goto fail;
    rc = fit_chains(&P, &lo, theta, l2, m, layers, infos, mine, err);
fail:
    if (rc)
        for (int i = 0; i < m; i++)
            if (mine[i]) fc_layer_free(&layers[i]);
    free(mine);
    free(theta);
    problem_free(&P);
    return rc;
}

int fc_softmax_fit(const fc_softmax_options *opt, const fc_data *train, int k, fc_layer *layer,
                   fc_softmax_info *info, fc_error *err) {
    fc_softmax_options o;
    if (opt) o = *opt;
    else fc_softmax_options_init(&o);
    return fc_softmax_fit_path(&o, train, k, &o.l2, 1, layer, info, err);
}

int fc_softmax_objective(const fc_data *data, int k, const float *class_weight, double l2,
                         const fc_layer *layer, double *f, double *grad_W, double *grad_b, fc_error *err) {
    int rc = fc_data_check(data, data ? data->d : 0, k, FC_DATA_LABELED, err);
    if (rc) return rc;
    int d = data->d;
    if (!layer || !layer->W || !layer->b || layer->in != d || layer->out != k)
        return fc_fail(err, FC_ESHAPE, "softmax objective: layer does not match %d classes x %d dims", k, d);
    if (!(l2 >= 0)) return fc_fail(err, FC_EINVAL, "softmax objective: l2 = %g", l2);
    double *z = malloc((size_t)k * sizeof *z);
    if (!z) return fc_fail(err, FC_ENOMEM, "out of memory");
    if (grad_W) memset(grad_W, 0, (size_t)k * d * sizeof *grad_W);
    if (grad_b) memset(grad_b, 0, (size_t)k * sizeof *grad_b);
    double total = 0;
    for (int i = 0; i < data->n; i++) {
        const float *xi = data->x + (size_t)i * d;
        int yi = data->y[i];
        double si = (data->weight ? data->weight[i] : 1.0) * (class_weight ? class_weight[yi] : 1.0);
        double mx = -INFINITY, sum = 0;
        for (int c = 0; c < k; c++) {
            double s = layer->b[c];
            const float *w = layer->W + (size_t)c * d;
            for (int q = 0; q < d; q++) s += (double)w[q] * xi[q];
            z[c] = s;
            mx = s > mx ? s : mx;
        }
        for (int c = 0; c < k; c++) sum += exp(z[c] - mx);
        double lse = mx + log(sum);
        total += si * (lse - z[yi]);
        for (int c = 0; c < k; c++) {
            double e = si * (exp(z[c] - lse) - (c == yi));
            if (grad_b) grad_b[c] += e;
            if (grad_W) fc_vec_axpy_fd(grad_W + (size_t)c * d, e, xi, d);
        }
    }
    double sq = 0;
    for (size_t q = 0; q < (size_t)k * d; q++) {
        sq += (double)layer->W[q] * layer->W[q];
        if (grad_W) grad_W[q] += l2 * layer->W[q];
    }
    *f = total + 0.5 * l2 * sq;
    free(z);
    return 0;
}

int fc_softmax_predict_proba(const fc_layer *layer, const float *x, int n, int d, float *P, int threads,
                             fc_error *err) {
    if (!layer || !layer->W || !layer->b || n < 0 || (n > 0 && (!x || !P)))
        return fc_fail(err, FC_EINVAL, "softmax predict: NULL argument");
    if (d != layer->in)
        return fc_fail(err, FC_ESHAPE, "softmax predict: features have %d dims, the layer expects %d", d, layer->in);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < d; j++)
            if (!isfinite(x[(size_t)i * d + j]))
                return fc_fail(err, FC_EINVAL, "softmax predict: row %d, dim %d is %s", i, j,
                               isnan(x[(size_t)i * d + j]) ? "NaN" : "infinite");
    int rc = fc_layer_forward(layer, x, n, P, threads, err);
    if (rc) return rc;
    fc_logits_softmax(P, n, layer->out, P);
    return 0;
}
