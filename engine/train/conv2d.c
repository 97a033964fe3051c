/* Conv2d forward and backward (one group and grouped) as matrix products on fc_train_gemm, per group g
 * and chunk of images (J = images x OH*OW columns, image b owns columns [b*OHW, (b+1)*OHW),
 * Kg = C/groups*kh*kw):
 *   out_g (OCg, J) = W_g (OCg, Kg) x col + bias  dW_g (OCg, Kg) = dout_g (OCg, J) x col^T
 *   dcol (Kg, J)   = W_g^T (Kg, OCg) x dout_g
 * where out_g, dout_g are read and written in place in NCHW (run matrices: one run per image) and
 * col (Kg, J) is the im2col matrix of the chunk; a 1x1 convolution with stride 1 and no padding has
 * its input planes as col (no copy, one chunk: the whole batch is one product, also for dinp). Else
 * im2col writes col for a chunk and col2im adds dcol back into dinp. A tap of a stride-1 convolution
 * with OW == W is one shifted copy of the plane (the columns it wraps zeroed). Depthwise
 * convolutions (groups == C == OC) run in dwconv.c.
 * Reproducibility: the chunk size depends on the shapes only; every output and dW element of a chunk
 * is one kernel sequence over the whole K (thread-independent), chunks of dW are added in order;
 * dbias sums each channel in one thread in (image, pixel) order (in double: from dW's packed dout
 * with one chunk, else per image in fc_train_sum's order). Bitwise independent of the thread
 * count. */
#include <omp.h>
#include <string.h>

#include "engine/train/gemm.h"
#include "engine/train/internal.h"

#define CHUNK_FLOATS ((size_t)1 << 23) /* largest col of one chunk: 32 MiB */
#define CHUNK_COLS 2048                /* columns of a chunk, about: col stays near the caches */

typedef struct geom {
    int N, C, H, W, OC, G, Cg, OCg, OH, OW, OHW, Kg;
    int nb, chunks; /* the most images of a chunk, chunks (chunk_start) */
    int plain;      /* 1x1 kernel, stride 1, no padding: a col row is an input plane */
    fc_win2d w;
    fc_act in_act;
} geom;

static int geom_init(geom *g, const fc_conv2d *cv, int N, int H, int W, size_t chunk,
                     fc_error *err) {
    if (cv->C < 1 || cv->OC < 1 || cv->groups < 1)
        return fc_fail(err, FC_EINVAL, "conv2d: C %d, OC %d and groups %d must be >= 1", cv->C,
                       cv->OC, cv->groups);
    for (int k = 0; k < 2; k++) {
        const fc_act *act = k ? &cv->in_act : &cv->act;
        if (act->kind != FC_ACT_NONE && act->kind != FC_ACT_RELU &&
            (act->kind != FC_ACT_CLIP || !(act->a <= act->b)))
            return fc_fail(err, FC_EINVAL, "conv2d: activation %d is not Relu or an ordered Clip", act->kind);
    }
    if (cv->C % cv->groups || cv->OC % cv->groups)
        return fc_fail(err, FC_ESHAPE, "conv2d: groups %d do not divide C %d and OC %d", cv->groups,
                       cv->C, cv->OC);
    const fc_win2d *w = &cv->win;
    int OH, OW, rc = fc_train_window("conv2d", w, H, W, &OH, &OW, err);
    if (rc) return rc;
    int in[] = {N, cv->C, H, W}, out[] = {N, cv->OC, OH, OW};
    int wt[] = {cv->OC, cv->C / cv->groups, w->kh, w->kw};
    if ((rc = fc_train_check_sizes("conv2d", 4, in, err)) ||
        (rc = fc_train_check_sizes("conv2d", 4, out, err)) ||
        (rc = fc_train_check_sizes("conv2d", 4, wt, err)))
        return rc;
    *g = (geom){.N = N, .C = cv->C, .H = H, .W = W, .OC = cv->OC, .G = cv->groups,
                .Cg = cv->C / cv->groups, .OCg = cv->OC / cv->groups, .OH = OH, .OW = OW,
                .OHW = OH * OW, .Kg = cv->C / cv->groups * w->kh * w->kw, .w = *w,
                .in_act = cv->in_act};
    g->plain = w->kh == 1 && w->kw == 1 && w->sh == 1 && w->sw == 1 && !w->pt && !w->pl &&
               !w->pb && !w->pr;
    /* Images per chunk: some 2048 columns (col near the caches, the weights packed once per chunk;
     * larger chunks ran slower), never over the chunk budget; the whole batch when the input
     * planes are col. Depends on the shapes only (dW's rounding follows it). */
    size_t per = (size_t)g->Kg * g->OHW; /* col floats of one image */
    size_t nb = (CHUNK_COLS + g->OHW - 1) / g->OHW, cap = (chunk ? chunk : CHUNK_FLOATS) / per;
    if (nb > cap) nb = cap;
    if (nb < 1) nb = 1;
    if (nb > (size_t)N || g->plain) nb = N;
    g->chunks = (int)((N + nb - 1) / nb);
    /* more than 2 chunks: a multiple of 4, so that they spread evenly over 2 or 4 threads as tasks
     * (chunk_tasks); their sizes differ by one image at most */
    if (g->chunks > 2) g->chunks = (g->chunks + 3) / 4 * 4 < N ? (g->chunks + 3) / 4 * 4 : N;
    g->nb = (N + g->chunks - 1) / g->chunks;
    if ((size_t)g->nb * g->OHW >= INT_MAX) return fc_fail(err, FC_ELIMIT, "conv2d: chunk too large");
    return 0;
}

static int depthwise(const geom *g) { return g->G == g->C && g->G == g->OC; }

/* Output columns [*lo, *hi) whose tap column ox*sw + x0 lies inside [0, W). */
static void tap_cols(int x0, int sw, int W, int OW, int *lo, int *hi) {
    int a = x0 >= 0 ? 0 : (-x0 + sw - 1) / sw;
    int b = W - 1 - x0 < 0 ? 0 : (W - 1 - x0) / sw + 1;
    if (b > OW) b = OW;
    if (a > b) a = b;
    *lo = a, *hi = b;
}

/* Stride 1 and OW == W: a tap is the input plane shifted by off = (i*dil_h - pt)*W + sx (sx = j*dil_w - pl)
 * floats, except where the shift wraps a row's ends into its neighbour: columns [W - sx, W) for
 * sx > 0, [0, -sx) for sx < 0. *t0, *t1: the tap positions whose source lies inside the plane. */
static int flat_tap(const geom *g, int i, int j, ptrdiff_t *off, int *t0, int *t1, int *c0, int *c1) {
    const fc_win2d *w = &g->w;
    if (w->sh != 1 || w->sw != 1 || g->OW != g->W) return 0;
    int sx = j * w->dil_w - w->pl;
    *off = (ptrdiff_t)(i * w->dil_h - w->pt) * g->W + sx;
    ptrdiff_t a = -*off > 0 ? -*off : 0, b = (ptrdiff_t)g->H * g->W - *off;
    if (b > g->OHW) b = g->OHW;
    if (a > b) a = b;
    *t0 = (int)a, *t1 = (int)b;
    *c0 = sx > 0 ? g->W - sx : 0, *c1 = sx > 0 ? g->W : -sx;
    if (*c0 < 0) *c0 = 0;
    if (*c1 > g->W) *c1 = g->W;
    return 1;
}

/* dst (OH, OW) = tap (i, j) of plane src (H, W): src[oy*sh - pt + i*dil_h, ox*sw - pl + j*dil_w], 0 in
 * the padding: one shifted copy on the flat path, else row by row. */
static void gather_tap(const geom *g, int i, int j, const float *src, float *dst) {
    const fc_win2d *w = &g->w;
    ptrdiff_t off;
    int t0, t1, c0, c1;
    if (flat_tap(g, i, j, &off, &t0, &t1, &c0, &c1)) {
        memset(dst, 0, sizeof(float) * t0);
        memcpy(dst + t0, src + t0 + off, sizeof(float) * (t1 - t0));
        memset(dst + t1, 0, sizeof(float) * (g->OHW - t1));
        for (int oy = 0; oy < g->OH && c1 > c0; oy++)
            for (int c = c0; c < c1; c++) dst[(size_t)oy * g->W + c] = 0.0f;
    } else {
        int x0 = j * w->dil_w - w->pl, lo, hi;
        tap_cols(x0, w->sw, g->W, g->OW, &lo, &hi);
        for (int oy = 0; oy < g->OH; oy++) {
            float *d = dst + (size_t)oy * g->OW;
            int y = oy * w->sh - w->pt + i * w->dil_h;
            if (y < 0 || y >= g->H) {
                memset(d, 0, sizeof(float) * g->OW);
                continue;
            }
            const float *s = src + (size_t)y * g->W;
            memset(d, 0, sizeof(float) * lo);
            if (w->sw == 1) memcpy(d + lo, s + lo + x0, sizeof(float) * (hi - lo));
            else
                for (int ox = lo; ox < hi; ox++) d[ox] = s[ox * w->sw + x0];
            memset(d + hi, 0, sizeof(float) * (g->OW - hi));
        }
    }
}

/* The adjoint of gather_tap: plane dst (H, W) += src (OH, OW) at the tap's positions. On the flat
 * path the wrapped columns of src (scratch) are zeroed first, then one shifted add. */
static void scatter_tap(const geom *g, int i, int j, float *src, float *dst) {
    const fc_win2d *w = &g->w;
    ptrdiff_t off;
    int t0, t1, c0, c1;
    if (flat_tap(g, i, j, &off, &t0, &t1, &c0, &c1)) {
        for (int oy = 0; oy < g->OH && c1 > c0; oy++)
            for (int c = c0; c < c1; c++) src[(size_t)oy * g->W + c] = 0.0f;
#pragma omp simd
        for (int t = t0; t < t1; t++) dst[t + off] += src[t];
        return;
    }
    int x0 = j * w->dil_w - w->pl, lo, hi;
    tap_cols(x0, w->sw, g->W, g->OW, &lo, &hi);
    for (int oy = 0; oy < g->OH; oy++) {
        int y = oy * w->sh - w->pt + i * w->dil_h;
        if (y < 0 || y >= g->H) continue;
        float *d = dst + (size_t)y * g->W;
        const float *s = src + (size_t)oy * g->OW;
        for (int ox = lo; ox < hi; ox++) d[ox * w->sw + x0] += s[ox];
    }
}

/* Small planes off the flat path (strided, e.g. a 3x3 stride-2 conv on 12x12): each tap's source
 * offsets in one table, so a row of col is one loop over OHW instead of a few calls per output row. */
#define TAP_TABLE_MAX 4096

/* tab[(i*kw + j)*OHW + t] = the offset in the input plane of tap (i, j) at output position t, or -1
 * in the padding. 1 when built (the plane is small and not on the flat path), else 0. */
static int tap_table(const geom *g, int *tab) {
    ptrdiff_t off;
    int t0, t1, c0, c1, kk = g->w.kh * g->w.kw;
    if ((size_t)kk * g->OHW > TAP_TABLE_MAX || flat_tap(g, 0, 0, &off, &t0, &t1, &c0, &c1)) return 0;
    const fc_win2d *w = &g->w;
    for (int i = 0; i < w->kh; i++)
        for (int j = 0; j < w->kw; j++)
            for (int oy = 0; oy < g->OH; oy++)
                for (int ox = 0; ox < g->OW; ox++) {
                    int y = oy * w->sh - w->pt + i * w->dil_h, x = ox * w->sw - w->pl + j * w->dil_w;
                    tab[((i * w->kw + j) * g->OH + oy) * g->OW + ox] =
                        y < 0 || y >= g->H || x < 0 || x >= g->W ? -1 : y * g->W + x;
                }
    return 1;
}

/* Plane p = (b, c) of images [n0, n0+nb), group grp into col (Kg, nb*OHW): row (c, i, j), image b's
 * columns hold tap (i, j) of input channel grp*Cg + c. tab: tap_table's or NULL. */
static void im2col_plane(const geom *g, const int *tab, const float *inp, int n0, int nb, int grp,
                         int p, float *col) {
    int kk = g->w.kh * g->w.kw, b = p / g->Cg, c = p % g->Cg;
    size_t J = (size_t)nb * g->OHW, plane = (size_t)g->H * g->W;
    const float *src = inp + ((size_t)(n0 + b) * g->C + (size_t)grp * g->Cg + c) * plane;
    for (int k = 0; k < kk; k++) {
        float *dst = col + ((size_t)c * kk + k) * J + (size_t)b * g->OHW;
        if (!tab) {
            gather_tap(g, k / g->w.kw, k % g->w.kw, src, dst);
            continue;
        }
        const int *t = tab + (size_t)k * g->OHW;
        for (int q = 0; q < g->OHW; q++) dst[q] = t[q] < 0 ? 0.0f : src[t[q]];
    }
}

/* col (Kg, nb*OHW) of images [n0, n0+nb), group grp, on threads threads (1: the caller alone). */
static void im2col(const geom *g, int threads, const float *inp, int n0, int nb, int grp, float *col) {
    int planes = nb * g->Cg, tab[TAP_TABLE_MAX];
    const int *t = tap_table(g, tab) ? tab : NULL;
    if (threads <= 1) {
        for (int p = 0; p < planes; p++) im2col_plane(g, t, inp, n0, nb, grp, p, col);
        return;
    }
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int p = 0; p < planes; p++) im2col_plane(g, t, inp, n0, nb, grp, p, col);
}

/* Plane p = (b, c) of dinp (images [n0, n0+nb), group grp) = the sum of its taps in dcol (layout of
 * im2col; dcol is scratch: the flat path zeroes its wrapped entries). Taps are added in (i, j) order,
 * each tap's positions in row order (the same sums with or without the table). */
static void col2im_plane(const geom *g, const int *tab, float *dcol, int n0, int nb, int grp, int p,
                         float *dinp) {
    int kk = g->w.kh * g->w.kw, b = p / g->Cg, c = p % g->Cg;
    size_t J = (size_t)nb * g->OHW, plane = (size_t)g->H * g->W;
    float *dst = dinp + ((size_t)(n0 + b) * g->C + (size_t)grp * g->Cg + c) * plane;
    float *src = dcol + (size_t)c * kk * J + (size_t)b * g->OHW;
    memset(dst, 0, sizeof(float) * plane);
    for (int k = 0; k < kk; k++) {
        const float *s = src + (size_t)k * J;
        if (!tab) {
            scatter_tap(g, k / g->w.kw, k % g->w.kw, (float *)s, dst);
            continue;
        }
        const int *t = tab + (size_t)k * g->OHW;
        for (int q = 0; q < g->OHW; q++)
            if (t[q] >= 0) dst[t[q]] += s[q];
    }
}

/* dinp planes of images [n0, n0+nb), group grp from dcol, on threads threads (1: the caller). */
static void col2im(const geom *g, int threads, float *dcol, int n0, int nb, int grp, float *dinp) {
    int planes = nb * g->Cg, tab[TAP_TABLE_MAX];
    const int *t = tap_table(g, tab) ? tab : NULL;
    if (threads <= 1) {
        for (int p = 0; p < planes; p++) col2im_plane(g, t, dcol, n0, nb, grp, p, dinp);
        return;
    }
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int p = 0; p < planes; p++) col2im_plane(g, t, dcol, n0, nb, grp, p, dinp);
}

/* The planes of group grp of images [n0, ...) of an NCHW batch with `channels` channels of HW
 * floats, as a run matrix (rows: the group's channels, columns: the chunk's pixels), or as an
 * output. */
static fc_train_mat planes(const float *t, int channels, int per_group, int HW, int n0, int grp) {
    return fc_train_mat_planes(t + (size_t)n0 * channels * HW, channels, HW, grp * per_group);
}

static fc_train_out out_planes(float *t, int channels, int per_group, int HW, int n0, int grp) {
    return fc_train_out_planes(t + (size_t)n0 * channels * HW, channels, HW, grp * per_group);
}

/* Chunk tasks: with several chunks of one group off the plain path, each chunk runs as a task of
 * one thread (its im2col, its products on the thread's own packing buffers, its col2im) and the
 * threads meet once per op, not at every product and copy of every chunk: a barrier waits for the
 * slowest thread, and on a busy machine that is often one the scheduler has just taken off its
 * core. Only when the chunks spread evenly over the threads (else one thread runs a chunk more).
 * The same bits as chunk by chunk on all threads: every element of a chunk's products is one
 * kernel sequence over the whole K, dW's chunk blocks are added in chunk order. */
static int chunk_tasks(const fc_train_ws *ws, const geom *g) {
    int t = ws->threads;
    return t > 1 && g->G == 1 && !g->plain && g->chunks >= t && (g->chunks % t == 0 || g->chunks >= 4 * t);
}

/* Scratch: one col per thread running chunks (none when the input planes are col) and, with several
 * chunks, the dW blocks of chunks 1.. (one block when chunk by chunk); at least 1 (0 means invalid
 * sizes). */
static size_t ws_floats(const geom *g, int tasks) {
    size_t col = g->plain ? 0 : (size_t)g->Kg * g->nb * g->OHW;
    size_t blocks = g->chunks < 2 ? 0 : tasks > 1 ? (size_t)g->chunks - 1 : 1;
    return 1 + col * (tasks > 1 ? (size_t)tasks : 1) + blocks * g->OCg * g->Kg;
}

size_t fc_conv2d_ws_floats(const fc_train_ws *ws, const fc_conv2d *cv, int N, int H, int W) {
    geom g;
    if (geom_init(&g, cv, N, H, W, ws->conv_chunk, NULL)) return 0;
    if (depthwise(&g)) return fc_train_dw_ws_floats(g.C, H, W, g.OH, g.OW, &g.w, ws->threads);
    return ws_floats(&g, chunk_tasks(ws, &g) ? ws->threads : 1);
}

/* The first image of chunk c (c == chunks: N); chunk c has images [start(c), start(c + 1)). */
static int chunk_start(const geom *g, int c) { return (int)((long long)c * g->N / g->chunks); }

/* Threads of a chunk's im2col and col2im: the product's team's, or the caller alone in a task. */
static int copy_threads(const fc_train_ws *ws, const geom *g, int team, int J) {
    return team > 1 ? fc_train_threads(ws, (size_t)J * g->Kg) : 1;
}

/* Forward of chunk c, group grp, on team threads and mm's packing buffers; col its scratch. */
static int forward_chunk(const fc_train_ws *ws, fc_matmul *mm, int team, const geom *g, float *out,
                         const float *inp, const float *weight, const float *bias, const fc_act *act,
                         int c, int grp, float *col, fc_error *err) {
    int n0 = chunk_start(g, c), nb = chunk_start(g, c + 1) - n0, J = nb * g->OHW;
    fc_train_mat A = fc_train_mat_rows(weight + (size_t)grp * g->OCg * g->Kg, g->Kg);
    fc_train_mat B = g->plain ? planes(inp, g->C, g->Cg, g->OHW, n0, grp) : fc_train_mat_rows(col, J);
    fc_train_out o = out_planes(out, g->OC, g->OCg, g->OHW, n0, grp);
    o.ep = (fc_epilogue){.bias = bias ? bias + (size_t)grp * g->OCg : NULL, .act = *act};
    if (!g->plain) im2col(g, copy_threads(ws, g, team, J), inp, n0, nb, grp, col);
    return fc_train_gemm_on(ws, mm, team, g->OCg, J, g->Kg, &A, &B, &o, err);
}

/* The error of the first task that failed, kept by the task (a critical section: tasks fail rarely). */
static void keep_failure(int rc, const fc_error *e, int *first, fc_error *err) {
    if (!rc) return;
#pragma omp critical(fc_conv2d_task_error)
    if (!*first) {
        *first = rc;
        if (err) *err = *e;
    }
}

int fc_conv2d_forward(fc_train_ws *ws, float *out, const float *inp, const float *weight,
                      const float *bias, int N, int H, int W, const fc_conv2d *cv, fc_error *err) {
    // inp is (N,C,H,W), weight is (OC,C/g,kh,kw), bias is (OC); out will be (N,OC,OH,OW)
    geom g;
    int rc = geom_init(&g, cv, N, H, W, ws->conv_chunk, err);
    if (rc || (rc = fc_train_need(out, "conv2d", "out", err)) ||
        (rc = fc_train_need(inp, "conv2d", "inp", err)) ||
        (rc = fc_train_need(weight, "conv2d", "weight", err)))
        return rc;
    if (depthwise(&g))
        return fc_train_dw_forward(ws, out, inp, weight, bias, N, g.C, H, W, g.OH, g.OW, &g.w,
                                   &cv->act, err);
    int tasks = chunk_tasks(ws, &g) ? ws->threads : 1;
    if (!fc_train_scratch(ws, ws_floats(&g, tasks), err)) return FC_ENOMEM;
    if (tasks > 1) {
        if ((rc = fc_train_ws_thread_mm(ws, err))) return rc;
        size_t colsz = (size_t)g.Kg * g.nb * g.OHW;
        int failed = 0;
#pragma omp parallel num_threads(tasks)
        {
            int t = omp_get_thread_num();
            fc_error e;
#pragma omp for schedule(dynamic, 1)
            for (int c = 0; c < g.chunks; c++)
                keep_failure(forward_chunk(ws, &ws->tmm[t], 1, &g, out, inp, weight, bias, &cv->act,
                                           c, 0, ws->buf + t * colsz, &e),
                             &e, &failed, err);
        }
        return failed;
    }
    for (int c = 0; c < g.chunks; c++)
        for (int grp = 0; grp < g.G; grp++)
            if ((rc = forward_chunk(ws, &ws->mm, ws->threads, &g, out, inp, weight, bias, &cv->act, c,
                                    grp, ws->buf, err)))
                return rc;
    return 0;
}

/* dbias[oc] = sum over images and pixels of dout[n, oc] (image order, fixed). */
static void bias_grad(fc_train_ws *ws, const float *dout, int N, int OC, int OHW, float *dbias) {
#pragma omp parallel for num_threads(fc_train_threads(ws, (size_t)N * OC * OHW)) schedule(static)
    for (int oc = 0; oc < OC; oc++) {
        double s = 0;
        for (int n = 0; n < N; n++) s += fc_train_sum(dout + ((size_t)n * OC + oc) * OHW, OHW);
        dbias[oc] = (float)s;
    }
}

/* Chunk c, group grp of the backward on team threads and mm's packing buffers, col its scratch:
 * the chunk's dW_g block into dw when not NULL, dbias_g when not NULL (the row sums of dout_g,
 * packed for dW_g: one chunk only) and dinp. */
static int backward_block(const fc_train_ws *ws, fc_matmul *mm, int team, const geom *g, float *dinp,
                          float *dw, float *dbias, const float *dout, const float *inp,
                          const float *weight, int c, int grp, float *col, fc_error *err) {
    int n0 = chunk_start(g, c), nb = chunk_start(g, c + 1) - n0, J = nb * g->OHW, rc;
    int threads = copy_threads(ws, g, team, J);
    size_t wsize = (size_t)g->OCg * g->Kg;
    fc_train_mat dy = planes(dout, g->OC, g->OCg, g->OHW, n0, grp);
    if (dw) {
        /* col^T: rows are col's rows (the product's columns), run columns are the pixels (its k) */
        fc_train_mat x = g->plain ? planes(inp, g->C, g->Cg, g->OHW, n0, grp) : fc_train_mat_rows(col, J);
        fc_train_out o = fc_train_out_rows(dw, g->Kg);
        o.asum = dbias ? dbias + (size_t)grp * g->OCg : NULL;
        x.t = 1;
        if (!g->plain) im2col(g, threads, inp, n0, nb, grp, col);
        if ((rc = fc_train_gemm_on(ws, mm, team, g->OCg, g->Kg, J, &dy, &x, &o, err))) return rc;
    }
    if (dinp) {
        /* W_g^T: element (kg, oc) at wg[oc*Kg + kg]; the planes of dinp gated by in_act at inp */
        fc_train_mat wt = {weight + (size_t)grp * wsize, g->Kg, 0, 1 << 30, 1};
        fc_train_out o = g->plain ? out_planes(dinp, g->C, g->Cg, g->OHW, n0, grp)
                                  : fc_train_out_rows(col, J);
        if (g->plain && g->in_act.kind != FC_ACT_NONE) {
            o.gate = inp + (o.p - dinp);
            o.gate_act = g->in_act;
        }
        if ((rc = fc_train_gemm_on(ws, mm, team, g->Kg, J, g->OCg, &wt, &dy, &o, err))) return rc;
        if (!g->plain) col2im(g, threads, col, n0, nb, grp, dinp);
    }
    return 0;
}

/* dw (n) += blk (n), on the threads of the enclosing region or of its own. */
static void add_block(fc_train_ws *ws, float *dw, const float *blk, size_t n) {
#pragma omp parallel for simd num_threads(fc_train_threads(ws, n)) schedule(static)
    for (size_t i = 0; i < n; i++) dw[i] += blk[i];
}

/* The chunks as tasks (chunk_tasks): chunk 0's dW block straight into dweight, chunk c's into the
 * scratch's block c - 1, then added in chunk order (each element's sum in the order of the chunk
 * by chunk path: the same bits). */
static int backward_tasks(fc_train_ws *ws, const geom *g, float *dinp, float *dweight,
                          const float *dout, const float *inp, const float *weight, fc_error *err) {
    int rc = fc_train_ws_thread_mm(ws, err), failed = 0;
    if (rc) return rc;
    size_t colsz = (size_t)g->Kg * g->nb * g->OHW, wsize = (size_t)g->OCg * g->Kg;
    float *blocks = ws->buf + (size_t)ws->threads * colsz;
#pragma omp parallel num_threads(ws->threads)
    {
        int t = omp_get_thread_num();
        fc_error e;
#pragma omp for schedule(dynamic, 1)
        for (int c = 0; c < g->chunks; c++) {
            float *dw = !dweight ? NULL : c ? blocks + (size_t)(c - 1) * wsize : dweight;
            keep_failure(backward_block(ws, &ws->tmm[t], 1, g, dinp, dw, NULL, dout, inp, weight,
                                        c, 0, ws->buf + t * colsz, &e),
                         &e, &failed, err);
        }
        if (dweight && !failed)
#pragma omp for schedule(static)
            for (size_t i = 0; i < wsize; i++) {
                float v = dweight[i];
                for (int c = 1; c < g->chunks; c++) v += blocks[(size_t)(c - 1) * wsize + i];
                dweight[i] = v;
            }
    }
    return failed;
}

int fc_conv2d_backward(fc_train_ws *ws, float *dinp, float *dweight, float *dbias, const float *dout,
                       const float *inp, const float *weight, int N, int H, int W,
                       const fc_conv2d *cv, fc_error *err) {
    // dout is (N,OC,OH,OW); dinp will be (N,C,H,W), dweight (OC,C/g,kh,kw), dbias (OC)
    geom g;
    int rc = geom_init(&g, cv, N, H, W, ws->conv_chunk, err);
    if (rc || (rc = fc_train_need(dout, "conv2d", "dout", err))) return rc;
    int gated = dinp && g.in_act.kind != FC_ACT_NONE;
    if (((dweight || gated) && (rc = fc_train_need(inp, "conv2d", "inp", err))) ||
        (dinp && (rc = fc_train_need(weight, "conv2d", "weight", err))))
        return rc;
    if (depthwise(&g))
        return fc_train_dw_backward(ws, dinp, dweight, dbias, dout, inp, weight, N, g.C, H, W, g.OH,
                                    g.OW, &g.w, gated ? &g.in_act : NULL, err);
    /* dbias from dW's packing when there is one product per group, else in its own pass */
    float *db = dweight && g.chunks == 1 ? dbias : NULL;
    if (dbias && !db) bias_grad(ws, dout, N, g.OC, g.OHW, dbias);
    if (!dinp && !dweight) return 0;
    int tasks = chunk_tasks(ws, &g) ? ws->threads : 1;
    if (!fc_train_scratch(ws, ws_floats(&g, tasks), err)) return FC_ENOMEM;
    if (tasks > 1) rc = backward_tasks(ws, &g, dinp, dweight, dout, inp, weight, err);
    else {
        float *blk = ws->buf + (g.plain ? 0 : (size_t)g.Kg * g.nb * g.OHW);
        size_t wsize = (size_t)g.OCg * g.Kg;
        for (int c = 0; c < g.chunks && !rc; c++)
            for (int grp = 0; grp < g.G && !rc; grp++) {
                float *dw = dweight ? dweight + (size_t)grp * wsize : NULL;
                rc = backward_block(ws, &ws->mm, ws->threads, &g, dinp, dw && c ? blk : dw, db, dout,
                                    inp, weight, c, grp, ws->buf, err);
                if (!rc && dw && c) add_block(ws, dw, blk, wsize);
            }
    }
    /* the product gated dinp on its way out; col2im's sums are gated here */
    if (!rc && gated && !g.plain)
        return fc_act_backward(ws, dinp, dinp, inp, (size_t)N * g.C * H * W, &g.in_act, err);
    return rc;
}
