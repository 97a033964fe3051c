/* What the training ops share: fc_train_ws (the thread count, the matrix-product context and a
 * scratch buffer that only grows, 64-byte aligned, so a training loop allocates during its first
 * step and never after), size checks, window geometry and the fixed-order float sum.
 * Not here: any op. */
#include <stdlib.h>
#include <string.h>

#include "engine/train/internal.h"

void fc_train_ws_init(fc_train_ws *ws, int threads) {
    memset(ws, 0, sizeof *ws);
    fc_matmul_init(&ws->mm, threads);
    ws->threads = ws->mm.threads;
    ws->k = ws->mm.k;
}

void fc_train_ws_free(fc_train_ws *ws) {
    if (!ws) return;
    fc_matmul_free(&ws->mm);
    for (int t = 0; ws->tmm && t < ws->threads; t++) fc_matmul_free(&ws->tmm[t]);
    free(ws->tmm);
    ws->tmm = NULL;
    free(ws->buf);
    ws->buf = NULL;
    ws->cap = 0;
}

int fc_train_ws_thread_mm(fc_train_ws *ws, fc_error *err) {
    if (ws->tmm) return 0;
    if (!(ws->tmm = calloc((size_t)ws->threads, sizeof *ws->tmm)))
        return fc_fail(err, FC_ENOMEM, "train workspace: out of memory for %d packing contexts", ws->threads);
    for (int t = 0; t < ws->threads; t++) fc_matmul_init(&ws->tmm[t], 1);
    return 0;
}

const char *fc_train_precision_name(fc_train_precision p) {
    return p == FC_TRAIN_BF16 ? "bf16" : p == FC_TRAIN_AUTO ? "auto" : "f32";
}

int fc_train_precision_parse(const char *s, fc_train_precision *out, fc_error *err) {
    static const fc_train_precision all[] = {FC_TRAIN_F32, FC_TRAIN_BF16, FC_TRAIN_AUTO};
    for (int i = 0; s && i < 3; i++)
        if (!strcmp(s, fc_train_precision_name(all[i]))) return *out = all[i], 0;
    return fc_fail(err, FC_EINVAL, "unknown precision '%s' (f32, bf16, auto)", s ? s : "");
}

int fc_train_ws_set_precision(fc_train_ws *ws, fc_train_precision p, fc_error *err) {
    if (p != FC_TRAIN_F32 && p != FC_TRAIN_BF16 && p != FC_TRAIN_AUTO)
        return fc_fail(err, FC_EINVAL, "training precision %d (f32, bf16 or auto)", (int)p);
    ws->bf16 = p == FC_TRAIN_F32 ? NULL : fc_bf16_kernels_best();
    if (p == FC_TRAIN_BF16 && !ws->bf16)
        return fc_fail(err, FC_EUNSUPPORTED, "bf16 training needs AVX512_BF16, which %s",
                       fc_cpu()->avx512_bf16 ? "FEATCACHE_ISA turns off (it lowers the level below avx512)"
                                             : "this CPU does not have (f32 runs everywhere)");
    return 0;
}

int fc_train_ws_reserve(fc_train_ws *ws, size_t floats, fc_error *err) {
    if (floats <= ws->cap && ws->buf) return 0;
    if (floats > ((size_t)1 << 36))
        return fc_fail(err, FC_ELIMIT, "training workspace: %zu floats requested", floats);
    void *p = NULL;
    if (posix_memalign(&p, 64, (floats ? floats : 1) * sizeof(float)))
        return fc_fail(err, FC_ENOMEM, "training workspace: out of memory for %zu floats", floats);
    free(ws->buf);
    ws->buf = p;
    ws->cap = floats;
    return 0;
}

int fc_train_check_sizes(const char *op, int count, const int *sizes, fc_error *err) {
    size_t total = 1;
    for (int i = 0; i < count; i++) {
        if (sizes[i] < 1) return fc_fail(err, FC_EINVAL, "%s: size %d must be >= 1", op, sizes[i]);
        total *= (size_t)sizes[i];
        if (total >= (size_t)INT_MAX)
            return fc_fail(err, FC_ELIMIT, "%s: tensor over 2^31 elements", op);
    }
    return 0;
}

int fc_win2d_out(const fc_win2d *win, int H, int W, int *OH, int *OW, fc_error *err) {
    if (win->kh < 1 || win->kw < 1 || win->sh < 1 || win->sw < 1 || win->dil_h < 1 || win->dil_w < 1)
        return fc_fail(err, FC_EINVAL, "window: kernel, strides and dilations must be >= 1");
    if (win->pt < 0 || win->pl < 0 || win->pb < 0 || win->pr < 0)
        return fc_fail(err, FC_EINVAL, "window: negative padding");
    if (H < 1 || W < 1) return fc_fail(err, FC_EINVAL, "window: input %d x %d", H, W);
    long eh = (long)win->dil_h * (win->kh - 1) + 1, ew = (long)win->dil_w * (win->kw - 1) + 1;
    long ph = (long)H + win->pt + win->pb, pw = (long)W + win->pl + win->pr;
    if (ph >= INT_MAX || pw >= INT_MAX) return fc_fail(err, FC_ELIMIT, "window: padded input too large");
    if (eh > ph || ew > pw)
        return fc_fail(err, FC_ESHAPE, "window: kernel %ldx%ld (dilated) over a %ldx%ld padded input",
                       eh, ew, ph, pw);
    *OH = (int)((ph - eh) / win->sh + 1);
    *OW = (int)((pw - ew) / win->sw + 1);
    return 0;
}

int fc_train_window(const char *op, const fc_win2d *win, int H, int W, int *OH, int *OW,
                    fc_error *err) {
    int rc = fc_win2d_out(win, H, W, OH, OW, err);
    if (rc && err) fc_error_prefix(err, "%s: ", op);
    return rc;
}

double fc_train_sum(const float *x, size_t n) {
    /* 16 partial sums, one per lane of a vector loop, added in a fixed order at the end */
    float acc[16] = {0};
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int l = 0; l < 16; l++) acc[l] += x[i + l];
    for (int l = 0; i < n; i++, l++) acc[l] += x[i];
    double s = 0;
    for (int l = 0; l < 16; l++) s += acc[l];
    return s;
}

double fc_train_dot(const float *a, const float *b, size_t n) {
    float acc[16] = {0};
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int l = 0; l < 16; l++) acc[l] += a[i + l] * b[i + l];
    for (int l = 0; i < n; i++, l++) acc[l] += a[i] * b[i];
    double s = 0;
    for (int l = 0; l < 16; l++) s += acc[l];
    return s;
}

void fc_train_for_blocks(const fc_train_ws *ws, size_t n, fc_train_block_fn fn, void *ctx) {
    long blocks = (long)((n + FC_TRAIN_BLOCK - 1) / FC_TRAIN_BLOCK);
#pragma omp parallel for num_threads(fc_train_threads(ws, n)) schedule(dynamic, 1)
    for (long t = 0; t < blocks; t++) {
        size_t i0 = (size_t)t * FC_TRAIN_BLOCK;
        fn(ctx, i0, n - i0 < FC_TRAIN_BLOCK ? n - i0 : FC_TRAIN_BLOCK);
    }
}
