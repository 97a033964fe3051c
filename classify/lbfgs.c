/* L-BFGS two-loop recursion with a ring buffer of correction pairs, and a strong-Wolfe line search:
 * extrapolate the step until the interval brackets a Wolfe point, then zoom with cubic
 * interpolation safeguarded to the inner 80% of the interval (bisection otherwise). The accepted
 * point is always the lowest sufficient-decrease point evaluated, so f never increases. When a
 * line search fails along the quasi-Newton direction the memory is dropped and steepest descent is
 * tried once before giving up (FC_LBFGS_LINE_SEARCH). The memory can outlive a call and be
 * corrected for a change of a quadratic penalty (L2 paths). Not here: bounds, preconditioning. */
#include "classify/lbfgs.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "classify/vec.h"

void fc_lbfgs_options_init(fc_lbfgs_options *o) {
    o->memory = 10;
    o->max_iter = 100;
    o->max_linesearch = 20;
    o->gtol = 1e-5;
    o->gtol2 = 0;
    o->gtol2_start = 1.0 / 30;
    o->ftol = 2.220446049250313e-09;
    o->c1 = 1e-4;
    o->c2 = 0.9;
    o->precond = NULL;
}

/* Line search along d from x: trials go to (xt, gt); the lowest point satisfying sufficient
 * decrease is kept in (xb, gb, fb). */
typedef struct line_search {
    int n;
    const double *x, *d;
    double f0, dg0;       /* f(x) and grad(x).d (< 0) */
    double *xt, *gt, *xb, *gb;
    double fb;
    int have_best;
    fc_lbfgs_eval eval;
    void *ctx;
    int evals, budget;    /* evaluations so far (total) and the limit for this search */
    double c1, c2;
} line_search;

static double trial(line_search *s, double a, double *dg) {
    memcpy(s->xt, s->x, (size_t)s->n * sizeof *s->xt);
    fc_vec_axpy(s->xt, a, s->d, s->n);
    double f = s->eval(s->ctx, s->xt, s->gt);
    s->evals++;
    *dg = fc_vec_dot(s->gt, s->d, s->n);
    if (isfinite(f) && isfinite(*dg) && f <= s->f0 + s->c1 * a * s->dg0 && (!s->have_best || f < s->fb)) {
        memcpy(s->xb, s->xt, (size_t)s->n * sizeof *s->xb);
        memcpy(s->gb, s->gt, (size_t)s->n * sizeof *s->gb);
        s->fb = f;
        s->have_best = 1;
    }
    return f;
}

/* Minimizer of the cubic interpolating (a, fa, ga) and (b, fb, gb); NaN when it does not exist. */
static double cubic_min(double a, double fa, double ga, double b, double fb, double gb) {
    if (!isfinite(fa) || !isfinite(ga) || !isfinite(fb) || !isfinite(gb) || a == b) return NAN;
    double d1 = ga + gb - 3 * (fa - fb) / (a - b);
    double disc = d1 * d1 - ga * gb;
    if (disc < 0) return NAN;
    double d2 = (b > a ? 1 : -1) * sqrt(disc);
    double den = gb - ga + 2 * d2;
    if (den == 0) return NAN;
    return b - (b - a) * (gb + d2 - d1) / den;
}

/* Strong-Wolfe point inside the interval between lo (lowest sufficient-decrease point so far, or 0)
 * and hi. Returns 0 when found, 1 when only sufficient decrease was reached, -1 when nothing. */
static int zoom(line_search *s, double lo, double flo, double glo, double hi, double fhi, double ghi) {
    while (s->evals < s->budget) {
        double w = fabs(hi - lo);
        if (w <= 1e-15 * fmax(fabs(lo), fabs(hi))) break;
        double a = cubic_min(lo, flo, glo, hi, fhi, ghi);
        double left = fmin(lo, hi) + 0.1 * w, right = fmax(lo, hi) - 0.1 * w;
        if (!(a >= left && a <= right)) a = 0.5 * (lo + hi);
        double g, f = trial(s, a, &g);
        if (!isfinite(f) || !isfinite(g) || f > s->f0 + s->c1 * a * s->dg0 || f >= flo) {
            hi = a, fhi = f, ghi = g;
        } else {
            if (fabs(g) <= -s->c2 * s->dg0) return 0;
            if (g * (hi - lo) >= 0) hi = lo, fhi = flo, ghi = glo;
            lo = a, flo = f, glo = g;
        }
    }
    return s->have_best ? 1 : -1;
}

static int search(line_search *s, double a) {
    s->have_best = 0;
    double a_prev = 0, f_prev = s->f0, g_prev = s->dg0;
    for (int first = 1; s->evals < s->budget; first = 0) {
        double g, f = trial(s, a, &g);
        if (!isfinite(f) || !isfinite(g) || f > s->f0 + s->c1 * a * s->dg0 || (!first && f >= f_prev))
            return zoom(s, a_prev, f_prev, g_prev, a, f, g);
        if (fabs(g) <= -s->c2 * s->dg0) return 0;
        if (g >= 0) return zoom(s, a, f, g, a_prev, f_prev, g_prev);
        a_prev = a, f_prev = f, g_prev = g;
        a *= 4;
    }
    return s->have_best ? 1 : -1;
}

int fc_lbfgs_memory_init(fc_lbfgs_memory *mem, int n, int m, fc_error *err) {
    memset(mem, 0, sizeof *mem);
    if (n < 1 || m < 1) return fc_fail(err, FC_EINVAL, "lbfgs: memory of %d pairs for %d parameters", m, n);
    mem->S = malloc((size_t)n * m * sizeof *mem->S);
    mem->Y = malloc((size_t)n * m * sizeof *mem->Y);
    mem->rho = malloc((size_t)m * sizeof *mem->rho);
    if (!mem->S || !mem->Y || !mem->rho) {
        fc_lbfgs_memory_free(mem);
        return fc_fail(err, FC_ENOMEM, "lbfgs: out of memory for %d parameters", n);
    }
    mem->n = n, mem->m = m, mem->newest = -1;
    return 0;
}

void fc_lbfgs_memory_free(fc_lbfgs_memory *mem) {
    if (!mem) return;
    free(mem->S);
    free(mem->Y);
    free(mem->rho);
    memset(mem, 0, sizeof *mem);
}

/* Whether a pair has curvature worth keeping. */
static int pair_ok(double sy, double yy) { return sy > 0 && sy > DBL_EPSILON * yy; }

static void swap_slots(fc_lbfgs_memory *mem, int i, int j) {
    for (size_t t = 0; t < (size_t)mem->n; t++) {
        double *a = mem->S + (size_t)i * mem->n + t, *b = mem->S + (size_t)j * mem->n + t, v = *a;
        *a = *b, *b = v;
        a = mem->Y + (size_t)i * mem->n + t, b = mem->Y + (size_t)j * mem->n + t, v = *a;
        *a = *b, *b = v;
    }
    double v = mem->rho[i];
    mem->rho[i] = mem->rho[j], mem->rho[j] = v;
}

static void reverse_slots(fc_lbfgs_memory *mem, int lo, int hi) {
    for (; lo < hi; lo++, hi--) swap_slots(mem, lo, hi);
}

void fc_lbfgs_memory_shift(fc_lbfgs_memory *mem, double delta, int first, int len) {
    int n = mem->n, m = mem->m, kept = 0;
    /* A full ring may wrap: rotate it so that the oldest pair is in slot 0 (pairs of a ring that is
     * not full are always in slots 0..count-1). */
    int oldest = (mem->newest + m - mem->count + 1) % m;
    if (mem->count == m && oldest != 0) {
        reverse_slots(mem, 0, oldest - 1);
        reverse_slots(mem, oldest, m - 1);
        reverse_slots(mem, 0, m - 1);
    }
    /* oldest to newest, compacting the survivors to slots 0..kept-1 */
    for (int i = 0; i < mem->count; i++) {
        double *s = mem->S + (size_t)i * n, *y = mem->Y + (size_t)i * n;
        for (int t = first; t < first + len; t++) y[t] += delta * s[t];
        double sy = fc_vec_dot(s, y, n), yy = fc_vec_dot(y, y, n);
        if (!pair_ok(sy, yy)) continue;
        if (i != kept) {
            memmove(mem->S + (size_t)kept * n, s, (size_t)n * sizeof *s);
            memmove(mem->Y + (size_t)kept * n, y, (size_t)n * sizeof *y);
        }
        mem->rho[kept++] = 1 / sy;
    }
    mem->count = kept;
    mem->newest = kept - 1;
}

/* The initial matrix of the two-loop recursion: d = gamma H0 d with gamma = s.y / y.H0 y of the
 * newest pair (H0 = identity without a preconditioner); t (n) scratch. */
static void initial_matrix(const fc_lbfgs_memory *mem, const fc_lbfgs_options *o, void *ctx, double *d, double *t) {
    int n = mem->n;
    const double *yn = mem->Y + (size_t)mem->newest * n;
    if (!o->precond) {
        double gamma = 1 / (mem->rho[mem->newest] * fc_vec_dot(yn, yn, n));
        for (int i = 0; i < n; i++) d[i] *= gamma;
        return;
    }
    o->precond(ctx, yn, t);
    double yhy = fc_vec_dot(yn, t, n), gamma = yhy > 0 ? 1 / (mem->rho[mem->newest] * yhy) : 1;
    o->precond(ctx, d, t);
    for (int i = 0; i < n; i++) d[i] = gamma * t[i];
}

/* d = -H g by the two-loop recursion over mem (alpha: scratch (m), t: scratch (n)). */
static void direction(const fc_lbfgs_memory *mem, const fc_lbfgs_options *o, void *ctx, const double *g, double *d,
                      double *alpha, double *t) {
    int n = mem->n, m = mem->m, newest = mem->newest;
    memcpy(d, g, (size_t)n * sizeof *d);
    for (int j = 0, i = newest; j < mem->count; j++, i = (i + m - 1) % m) {
        alpha[i] = mem->rho[i] * fc_vec_dot(mem->S + (size_t)i * n, d, n);
        fc_vec_axpy(d, -alpha[i], mem->Y + (size_t)i * n, n);
    }
    initial_matrix(mem, o, ctx, d, t);
    for (int j = 0, i = (newest + m - mem->count + 1) % m; j < mem->count; j++, i = (i + 1) % m) {
        double beta = mem->rho[i] * fc_vec_dot(mem->Y + (size_t)i * n, d, n);
        fc_vec_axpy(d, alpha[i] - beta, mem->S + (size_t)i * n, n);
    }
    for (int q = 0; q < n; q++) d[q] = -d[q];
}

/* The gradient tests of lbfgs.h: gnorm now, gstart at the starting point. */
static int grad_small(const fc_lbfgs_options *o, double gnorm, double gstart) {
    return gnorm <= o->gtol || (o->gtol2 > 0 && gnorm <= o->gtol2 && gnorm <= o->gtol2_start * gstart);
}

int fc_lbfgs_minimize(const fc_lbfgs_options *opt, int n, double *x, fc_lbfgs_eval eval, void *ctx,
                      fc_lbfgs_memory *mem, fc_lbfgs_result *res, fc_error *err) {
    fc_lbfgs_options o;
    if (opt) o = *opt;
    else fc_lbfgs_options_init(&o);
    fc_lbfgs_result r = {0};
    if (n < 1 || !x || !eval) return fc_fail(err, FC_EINVAL, "lbfgs: bad problem (n = %d)", n);
    if (o.memory < 1 || o.max_iter < 0 || o.max_linesearch < 1 || !(o.gtol >= 0) || !(o.ftol >= 0) ||
        !(o.gtol2 >= 0) || !(o.gtol2_start >= 0) ||
        !(o.c1 > 0 && o.c1 < o.c2 && o.c2 < 1))
        return fc_fail(err, FC_EINVAL, "lbfgs: bad options (memory %d, max_iter %d, gtol %g, gtol2 %g, gtol2_start %g, "
                       "ftol %g, c1 %g, c2 %g)", o.memory, o.max_iter, o.gtol, o.gtol2, o.gtol2_start, o.ftol, o.c1, o.c2);
    if (mem && mem->n != n)
        return fc_fail(err, FC_EINVAL, "lbfgs: memory for %d parameters, problem has %d", mem->n, n);
    fc_lbfgs_memory own = {0};
    int rc = 0;
    size_t nn = (size_t)n;
    double *g = malloc(nn * sizeof *g), *d = malloc(nn * sizeof *d);
    double *xt = malloc(nn * sizeof *xt), *gt = malloc(nn * sizeof *gt);
    double *xb = malloc(nn * sizeof *xb), *gb = malloc(nn * sizeof *gb), *alpha = NULL;
    double *tmp = o.precond ? malloc(nn * sizeof *tmp) : NULL;
    if (!mem) {
        if ((rc = fc_lbfgs_memory_init(&own, n, o.memory, err))) goto fail;
        mem = &own;
    }
    int m = mem->m;
    alpha = malloc((size_t)m * sizeof *alpha);
    if (!g || !d || !xt || !gt || !xb || !gb || !alpha || (o.precond && !tmp)) {
        rc = fc_fail(err, FC_ENOMEM, "lbfgs: out of memory for %d parameters", n);
        goto fail;
    }
    double f = eval(ctx, x, g);
    r.evaluations = 1;
    double gnorm = sqrt(fc_vec_dot(g, g, n));
    if (!isfinite(f) || !isfinite(gnorm)) {
        rc = fc_fail(err, FC_EINVAL, "lbfgs: objective or gradient is not finite at the starting point");
        goto fail;
    }
    r.status = FC_LBFGS_MAX_ITER;
    const double gstart = gnorm;
    if (grad_small(&o, gnorm, gstart)) r.status = FC_LBFGS_GTOL;
    while (r.status == FC_LBFGS_MAX_ITER && r.iterations < o.max_iter) {
        double a0 = 1;
        if (mem->count == 0 && o.precond) {
            o.precond(ctx, g, d);
            for (int i = 0; i < n; i++) d[i] = -d[i];
        } else if (mem->count == 0) {
            for (int i = 0; i < n; i++) d[i] = -g[i];
            a0 = gnorm > 1 ? 1 / gnorm : 1;
        } else {
            direction(mem, &o, ctx, g, d, alpha, tmp);
        }
        double dg = fc_vec_dot(g, d, n);
        if (!(dg < 0)) { /* not a descent direction (numerical trouble): restart, or stop */
            if (mem->count == 0) {
                r.status = FC_LBFGS_LINE_SEARCH;
                break;
            }
            mem->count = 0, mem->newest = -1;
            continue;
        }
        line_search ls = {.n = n, .x = x, .d = d, .f0 = f, .dg0 = dg, .xt = xt, .gt = gt, .xb = xb,
                          .gb = gb, .eval = eval, .ctx = ctx, .evals = r.evaluations,
                          .budget = r.evaluations + o.max_linesearch, .c1 = o.c1, .c2 = o.c2};
        int found = search(&ls, a0);
        r.evaluations = ls.evals;
        if (found < 0) {
            if (mem->count > 0) { /* retry along steepest descent with an empty memory */
                mem->count = 0, mem->newest = -1;
                continue;
            }
            r.status = FC_LBFGS_LINE_SEARCH;
            break;
        }
        /* (xt, gt are free now: build the pair there, keep it only if the curvature is positive) */
        for (int t = 0; t < n; t++) xt[t] = xb[t] - x[t], gt[t] = gb[t] - g[t];
        double sy = fc_vec_dot(xt, gt, n), yy = fc_vec_dot(gt, gt, n);
        if (pair_ok(sy, yy)) {
            int slot = (mem->newest + 1) % m;
            memcpy(mem->S + (size_t)slot * n, xt, nn * sizeof *xt);
            memcpy(mem->Y + (size_t)slot * n, gt, nn * sizeof *gt);
            mem->rho[slot] = 1 / sy;
            mem->newest = slot;
            if (mem->count < m) mem->count++;
        }
        double f_prev = f;
        memcpy(x, xb, nn * sizeof *x);
        memcpy(g, gb, nn * sizeof *g);
        f = ls.fb;
        gnorm = sqrt(fc_vec_dot(g, g, n));
        r.iterations++;
        if (grad_small(&o, gnorm, gstart)) r.status = FC_LBFGS_GTOL;
        else if (o.ftol > 0 && f_prev - f <= o.ftol * fmax(fmax(fabs(f_prev), fabs(f)), 1))
            r.status = FC_LBFGS_FTOL;
    }
    r.f = f;
    r.grad_norm = gnorm;
fail:
    if (res) *res = r;
    fc_lbfgs_memory_free(&own);
    free(alpha);
    free(tmp);
    free(g);
    free(d);
    free(xt);
    free(gt);
    free(xb);
    free(gb);
    return rc;
}
