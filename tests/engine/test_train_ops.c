/* Training ops (engine/train): every op against its scalar reference twin (tests/support/train_ref.c)
 * on awkward shapes (odd sizes, 1x1, stride 2, asymmetric pads, dilation, groups, batch 1 and 3) with
 * 1 and 2 threads; every backward against central finite differences of the op's own forward;
 * bitwise equality across thread counts and between the generic and AVX2 depthwise kernels; a Relu
 * or Clip fused into a convolution's forward, or gating its dinp, against the activation op (bitwise);
 * errors for bad sizes; no workspace growth on a repeated step; and, when python3-torch is installed,
 * conv/depthwise/BatchNorm gradients against PyTorch (scripts/train_ops_torch.py).
 * Tolerances (relative to the largest reference magnitude of the tensor):
 *   vs reference: 2e-5 forward, 1e-4 backward (float sums vs double);
 *   finite differences: central, h = 1e-2 (1e-3 for BatchNorm, cross-entropy and the smooth
 *   activations), loss = sum(out * R) accumulated in double, tolerance 5e-3 (conv, linear and the
 *   other piecewise-linear ops are exact up to float rounding; the rest carry O(h^2) terms; the
 *   largest error seen over the 89 checks was 8e-4, BatchNorm's dinp).
 * Not here: speed (bench/bench_train_ops.c). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/train/train_ops.h"
#include "tests/support/check.h"
#include "tests/support/train_ref.h"

#define TOL_FWD 2e-5
#define TOL_BWD 1e-4
#define TOL_FD 5e-3

/* ---- helpers -------------------------------------------------------------------------------- */


static double dot_d(const float *a, const float *b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

/* A forward that returns the loss sum(out * R) for the current parameters. */
typedef double (*loss_fn)(void *ctx);

/* Central differences of f with respect to each x[i] (restored afterwards) against grad. */
static void fd_check(const char *what, float *x, size_t n, const float *grad, loss_fn f, void *ctx,
                     float h) {
    float *num = ref_zeros(n);
    for (size_t i = 0; i < n; i++) {
        float x0 = x[i];
        x[i] = x0 + h;
        double lp = f(ctx);
        x[i] = x0 - h;
        double lm = f(ctx);
        x[i] = x0;
        num[i] = (float)((lp - lm) / (2.0 * h));
    }
    double e = ref_rel_err(grad, num, n);
    CHECK(e <= TOL_FD, "%s: finite differences differ by %.3g (relative)", what, e);
    free(num);
}

static fc_train_ws ws1, ws2; /* 1 and 2 threads */

/* ---- Conv2d ------------------------------------------------------------------------------------ */

typedef struct conv_case {
    const char *name;
    int N, C, H, W, OC, groups;
    fc_win2d w;
    int bias;
} conv_case;

#define WIN(kh, kw, sh, sw, dil_h, dil_w, pt, pl, pb, pr) {kh, kw, sh, sw, dil_h, dil_w, pt, pl, pb, pr}

static const conv_case CONVS[] = {
    {"1x1 plain", 3, 5, 7, 7, 6, 1, WIN(1, 1, 1, 1, 1, 1, 0, 0, 0, 0), 1},
    {"3x3 pad 1", 1, 3, 5, 6, 4, 1, WIN(3, 3, 1, 1, 1, 1, 1, 1, 1, 1), 1},
    {"3x3 stride 2", 3, 4, 9, 7, 5, 1, WIN(3, 3, 2, 2, 1, 1, 1, 1, 1, 1), 0},
    {"3x2 asymmetric pads, stride (2,1)", 2, 3, 6, 5, 2, 1, WIN(3, 2, 2, 1, 1, 1, 0, 1, 2, 0), 1},
    {"3x3 dilation 2", 2, 2, 7, 7, 3, 1, WIN(3, 3, 1, 1, 2, 2, 2, 2, 2, 2), 1},
    {"groups 2", 3, 4, 5, 5, 6, 2, WIN(3, 3, 1, 1, 1, 1, 1, 1, 1, 1), 1},
    {"groups 3, 1x1 stride 2", 1, 6, 5, 4, 3, 3, WIN(1, 1, 2, 2, 1, 1, 0, 0, 0, 0), 0},
    {"1x1 planes", 3, 7, 1, 1, 9, 1, WIN(1, 1, 1, 1, 1, 1, 0, 0, 0, 0), 1},
    {"1x1 with pads past the kernel, stride (2,1)", 2, 3, 3, 4, 2, 1, WIN(1, 1, 2, 1, 1, 1, 2, 1, 1, 3), 1},
    {"depthwise 3x3", 3, 5, 7, 7, 5, 5, WIN(3, 3, 1, 1, 1, 1, 1, 1, 1, 1), 1},
    {"depthwise 3x3 stride 2", 2, 3, 8, 9, 3, 3, WIN(3, 3, 2, 2, 1, 1, 1, 1, 1, 1), 1},
    {"depthwise 5x5 stride 2", 1, 4, 11, 10, 4, 4, WIN(5, 5, 2, 2, 1, 1, 2, 2, 2, 2), 0},
    {"depthwise 3x2 dilation 2, stride (1,2), asymmetric pads", 2, 3, 7, 8, 3, 3,
     WIN(3, 2, 1, 2, 2, 2, 0, 2, 1, 0), 1},
    {"depthwise to a 1x1 plane", 3, 2, 3, 3, 2, 2, WIN(3, 3, 1, 1, 1, 1, 0, 0, 0, 0), 1},
    {"depthwise same size, dilation 2, asymmetric pads", 2, 3, 6, 7, 3, 3, WIN(3, 3, 1, 1, 2, 2, 1, 3, 3, 1), 1},
    {"depthwise same size, 1x2 kernel", 3, 2, 5, 4, 2, 2, WIN(1, 2, 1, 1, 1, 1, 0, 1, 0, 0), 0},
    {"depthwise pad larger than the kernel", 1, 2, 4, 3, 2, 2, WIN(3, 3, 3, 2, 1, 1, 4, 3, 0, 1), 1},
    {"channel multiplier 2 (im2col)", 2, 3, 6, 6, 6, 3, WIN(3, 3, 1, 1, 1, 1, 1, 1, 1, 1), 1},
};
#define N_CONVS ((int)(sizeof CONVS / sizeof CONVS[0]))

static int out_size(int n, int k, int s, int d, int p0, int p1) { return (n + p0 + p1 - d * (k - 1) - 1) / s + 1; }

typedef struct conv_data {
    const conv_case *cc;
    fc_conv2d cv;
    int OH, OW;
    size_t ni, nw, no;
    float *inp, *weight, *bias, *R; /* R: dout, and the weights of the FD loss */
    fc_train_ws *ws;
    float *out;
} conv_data;

static void conv_data_init(conv_data *d, const conv_case *cc) {
    d->cc = cc;
    d->cv = (fc_conv2d){.C = cc->C, .OC = cc->OC, .groups = cc->groups, .win = cc->w};
    d->OH = out_size(cc->H, cc->w.kh, cc->w.sh, cc->w.dil_h, cc->w.pt, cc->w.pb);
    d->OW = out_size(cc->W, cc->w.kw, cc->w.sw, cc->w.dil_w, cc->w.pl, cc->w.pr);
    d->ni = (size_t)cc->N * cc->C * cc->H * cc->W;
    d->nw = (size_t)cc->OC * (cc->C / cc->groups) * cc->w.kh * cc->w.kw;
    d->no = (size_t)cc->N * cc->OC * d->OH * d->OW;
    d->inp = ref_rnd(d->ni), d->weight = ref_rnd(d->nw), d->bias = cc->bias ? ref_rnd(cc->OC) : NULL;
    d->R = ref_rnd(d->no), d->out = ref_zeros(d->no), d->ws = &ws1;
}

static void conv_data_free(conv_data *d) {
    free(d->inp), free(d->weight), free(d->bias), free(d->R), free(d->out);
}

static double conv_loss(void *ctx) {
    conv_data *d = ctx;
    fc_error err;
    int rc = fc_conv2d_forward(d->ws, d->out, d->inp, d->weight, d->bias, d->cc->N, d->cc->H,
                               d->cc->W, &d->cv, &err);
    return rc ? NAN : dot_d(d->out, d->R, d->no);
}

static void conv_vs_reference(void) {
    for (int t = 0; t < N_CONVS; t++) {
        conv_data d;
        conv_data_init(&d, &CONVS[t]);
        const conv_case *cc = d.cc;
        float *ref = ref_zeros(d.no), *ri = ref_zeros(d.ni), *rw = ref_zeros(d.nw), *rb = ref_zeros(cc->OC);
        ref_conv2d_forward(ref, d.inp, d.weight, d.bias, cc->N, cc->C, cc->H, cc->W, cc->OC, cc->groups, &cc->w);
        ref_conv2d_backward(ri, rw, rb, d.R, d.inp, d.weight, cc->N, cc->C, cc->H, cc->W, cc->OC, cc->groups, &cc->w);
        for (int th = 0; th < 2; th++) {
            fc_train_ws *ws = th ? &ws2 : &ws1;
            float *di = ref_zeros(d.ni), *dw = ref_zeros(d.nw), *db = ref_zeros(cc->OC);
            fc_error err = {0};
            int rc = fc_conv2d_forward(ws, d.out, d.inp, d.weight, d.bias, cc->N, cc->H, cc->W, &d.cv, &err);
            CHECK(rc == 0, "%s: forward: %s", cc->name, err.msg);
            CHECK(ref_rel_err(d.out, ref, d.no) <= TOL_FWD, "%s (%d threads): forward error %.3g", cc->name,
                  th + 1, ref_rel_err(d.out, ref, d.no));
            rc = fc_conv2d_backward(ws, di, dw, db, d.R, d.inp, d.weight, cc->N, cc->H, cc->W, &d.cv, &err);
            CHECK(rc == 0, "%s: backward: %s", cc->name, err.msg);
            CHECK(ref_rel_err(di, ri, d.ni) <= TOL_BWD, "%s (%d threads): dinp error %.3g", cc->name, th + 1,
                  ref_rel_err(di, ri, d.ni));
            CHECK(ref_rel_err(dw, rw, d.nw) <= TOL_BWD, "%s (%d threads): dweight error %.3g", cc->name, th + 1,
                  ref_rel_err(dw, rw, d.nw));
            CHECK(ref_rel_err(db, rb, cc->OC) <= TOL_BWD, "%s (%d threads): dbias error %.3g", cc->name, th + 1,
                  ref_rel_err(db, rb, cc->OC));
            /* each gradient alone (the others NULL) gives the same values */
            float *di2 = ref_zeros(d.ni), *dw2 = ref_zeros(d.nw);
            rc = fc_conv2d_backward(ws, di2, NULL, NULL, d.R, NULL, d.weight, cc->N, cc->H, cc->W, &d.cv, &err);
            rc |= fc_conv2d_backward(ws, NULL, dw2, NULL, d.R, d.inp, NULL, cc->N, cc->H, cc->W, &d.cv, &err);
            CHECK(rc == 0 && !memcmp(di, di2, d.ni * 4) && !memcmp(dw, dw2, d.nw * 4),
                  "%s: gradients computed alone differ", cc->name);
            free(di), free(dw), free(db), free(di2), free(dw2);
        }
        free(ref), free(ri), free(rw), free(rb);
        conv_data_free(&d);
    }
}

static void conv_finite_differences(void) {
    for (int t = 0; t < N_CONVS; t++) {
        conv_data d;
        conv_data_init(&d, &CONVS[t]);
        const conv_case *cc = d.cc;
        float *di = ref_zeros(d.ni), *dw = ref_zeros(d.nw), *db = ref_zeros(cc->OC);
        fc_error err;
        int rc = fc_conv2d_backward(&ws1, di, dw, db, d.R, d.inp, d.weight, cc->N, cc->H, cc->W, &d.cv, &err);
        REQUIRE(rc == 0, "%s: %s", cc->name, err.msg);
        char what[160];
        snprintf(what, sizeof what, "%s dinp", cc->name);
        fd_check(what, d.inp, d.ni, di, conv_loss, &d, 1e-2f);
        snprintf(what, sizeof what, "%s dweight", cc->name);
        fd_check(what, d.weight, d.nw, dw, conv_loss, &d, 1e-2f);
        if (d.bias) {
            snprintf(what, sizeof what, "%s dbias", cc->name);
            fd_check(what, d.bias, cc->OC, db, conv_loss, &d, 1e-2f);
        }
        free(di), free(dw), free(db);
        conv_data_free(&d);
    }
}

/* Results of a conv forward + backward on ws, for bitwise comparisons. */
static int conv_run(fc_train_ws *ws, const conv_case *cc, float *inp, float *weight, float *bias,
                    float *dout, float *out, float *di, float *dw, float *db) {
    fc_conv2d cv = {.C = cc->C, .OC = cc->OC, .groups = cc->groups, .win = cc->w};
    fc_error err;
    int rc = fc_conv2d_forward(ws, out, inp, weight, bias, cc->N, cc->H, cc->W, &cv, &err);
    return rc ? rc : fc_conv2d_backward(ws, di, dw, db, dout, inp, weight, cc->N, cc->H, cc->W, &cv, &err);
}

/* Larger shapes, so that the loops and the products really run on 2 threads: bits must not change;
 * small im2col chunks (several per batch) agree with one chunk up to dweight's rounding, and give
 * the same bits on 1 and 2 threads (on 2, chunks run as tasks of one thread each when they spread
 * evenly: the two batches of 8 run as 8 chunks of one image). */
static void conv_threads_and_chunks(void) {
    static const conv_case big[] = {
        {"1x1 160->256 14x14", 16, 160, 14, 14, 256, 1, WIN(1, 1, 1, 1, 1, 1, 0, 0, 0, 0), 1},
        {"3x3 stride 2 24->32", 5, 24, 29, 27, 32, 1, WIN(3, 3, 2, 2, 1, 1, 1, 1, 1, 1), 1},
        {"depthwise 3x3 96 14x14", 9, 96, 14, 14, 96, 96, WIN(3, 3, 1, 1, 1, 1, 1, 1, 1, 1), 1},
        {"depthwise 5x5 stride 2 40", 6, 40, 27, 28, 40, 40, WIN(5, 5, 2, 2, 1, 1, 2, 2, 2, 2), 1},
        {"3x3 32->48 12x12 batch 8", 8, 32, 12, 12, 48, 1, WIN(3, 3, 1, 1, 1, 1, 1, 1, 1, 1), 1},
        {"3x3 stride 2 24->32 batch 8", 8, 24, 13, 11, 32, 1, WIN(3, 3, 2, 2, 1, 1, 1, 1, 1, 1), 0},
    };
    for (int t = 0; t < 6; t++) {
        conv_data d;
        conv_data_init(&d, &big[t]);
        const conv_case *cc = d.cc;
        float *o[4], *di[4], *dw[4], *db[4];
        for (int r = 0; r < 4; r++) { /* 1 thread, 2 threads, 1 thread chunked, 2 threads chunked */
            o[r] = ref_zeros(d.no), di[r] = ref_zeros(d.ni), dw[r] = ref_zeros(d.nw), db[r] = ref_zeros(cc->OC);
            fc_train_ws *ws = r % 2 ? &ws2 : &ws1;
            ws->conv_chunk = r >= 2 ? d.ni / cc->N * 3 : 0; /* about 1-2 images per chunk */
            int rc = conv_run(ws, cc, d.inp, d.weight, d.bias, d.R, o[r], di[r], dw[r], db[r]);
            CHECK(rc == 0, "%s: run %d failed", cc->name, r);
        }
        ws1.conv_chunk = ws2.conv_chunk = 0;
        CHECK(!memcmp(o[2], o[3], d.no * 4) && !memcmp(di[2], di[3], d.ni * 4) &&
                  !memcmp(dw[2], dw[3], d.nw * 4) && !memcmp(db[2], db[3], cc->OC * 4),
              "%s: chunked, 1 and 2 threads differ", cc->name);
        int same = !memcmp(o[0], o[1], d.no * 4) && !memcmp(di[0], di[1], d.ni * 4) &&
                   !memcmp(dw[0], dw[1], d.nw * 4) && !memcmp(db[0], db[1], cc->OC * 4);
        CHECK(same, "%s: 1 and 2 threads differ", cc->name);
        CHECK(!memcmp(o[0], o[2], d.no * 4) && !memcmp(di[0], di[2], d.ni * 4),
              "%s: chunked output or dinp differ", cc->name);
        CHECK(ref_rel_err(dw[2], dw[0], d.nw) <= TOL_BWD, "%s: chunked dweight differs by %.3g", cc->name,
              ref_rel_err(dw[2], dw[0], d.nw));
        for (int r = 0; r < 4; r++) free(o[r]), free(di[r]), free(dw[r]), free(db[r]);
        conv_data_free(&d);
    }
}

/* The generic and the AVX2 depthwise backward kernels run the same float operations. */
static void depthwise_generic_vs_avx2(void) {
    const fc_kernels *avx2 = fc_kernels_by_name("avx2"), *scalar = fc_kernels_by_name("scalar");
    if (!avx2) SKIP("this CPU has no AVX2");
    for (int t = 0; t < N_CONVS; t++) {
        const conv_case *cc = &CONVS[t];
        if (!(cc->groups == cc->C && cc->C == cc->OC)) continue;
        conv_data d;
        conv_data_init(&d, cc);
        float *di[2], *dw[2], *db[2];
        for (int r = 0; r < 2; r++) {
            fc_train_ws ws;
            fc_train_ws_init(&ws, 2);
            ws.k = r ? avx2 : scalar;
            fc_conv2d cv = {.C = cc->C, .OC = cc->OC, .groups = cc->groups, .win = cc->w,
                            .in_act = {t % 2 ? FC_ACT_RELU : FC_ACT_NONE, 0, 0}};
            di[r] = ref_zeros(d.ni), dw[r] = ref_zeros(d.nw), db[r] = ref_zeros(cc->OC);
            fc_error err;
            int rc = fc_conv2d_backward(&ws, di[r], dw[r], db[r], d.R, d.inp, d.weight, cc->N, cc->H, cc->W, &cv, &err);
            CHECK(rc == 0, "%s: %s", cc->name, err.msg);
            fc_train_ws_free(&ws);
        }
        CHECK(!memcmp(di[0], di[1], d.ni * 4) && !memcmp(dw[0], dw[1], d.nw * 4) &&
                  !memcmp(db[0], db[1], cc->OC * 4),
              "%s: generic and AVX2 kernels differ", cc->name);
        for (int r = 0; r < 2; r++) free(di[r]), free(dw[r]), free(db[r]);
        conv_data_free(&d);
    }
}

/* A second step at the same shapes grows nothing (no allocation inside a training loop), for the
 * im2col path and both depthwise paths, after one reserve of the largest fc_conv2d_ws_floats. */
static void workspace_stable(void) {
    const conv_case *cases[] = {&CONVS[2], &CONVS[8], &CONVS[9]}; /* 3x3 s2, depthwise s1 and s2 */
    fc_train_ws ws;
    fc_train_ws_init(&ws, 2);
    size_t need = 0;
    for (int t = 0; t < 3; t++) {
        fc_conv2d cv = {.C = cases[t]->C, .OC = cases[t]->OC, .groups = cases[t]->groups, .win = cases[t]->w};
        size_t f = fc_conv2d_ws_floats(&ws, &cv, cases[t]->N, cases[t]->H, cases[t]->W);
        CHECK(f > 0, "%s: no workspace size", cases[t]->name);
        need = f > need ? f : need;
    }
    fc_error err;
    CHECK(fc_train_ws_reserve(&ws, need, &err) == 0, "reserve %zu floats", need);
    float *buf = ws.buf, *pa = NULL, *pb = NULL;
    for (int step = 0; step < 2; step++)
        for (int t = 0; t < 3; t++) {
            conv_data d;
            conv_data_init(&d, cases[t]);
            float *di = ref_zeros(d.ni), *dw = ref_zeros(d.nw);
            CHECK(conv_run(&ws, cases[t], d.inp, d.weight, d.bias, d.R, d.out, di, dw, NULL) == 0, "%s failed",
                  cases[t]->name);
            if (step == 0 && t == 2) pa = ws.mm.pa, pb = ws.mm.pb;
            free(di), free(dw);
            conv_data_free(&d);
        }
    CHECK(ws.buf == buf, "the scratch grew past the reserved size");
    CHECK(ws.mm.pa == pa && ws.mm.pb == pb, "the product buffers grew in the second step");
    fc_train_ws_free(&ws);
}

/* A Relu or Clip in the forward's epilogue gives the bits of the activation op after it; one in
 * in_act gives the bits of the activation's backward after the convolution's. */
static void conv_fused_activation(void) {
    const int idx[] = {0, 2, 9, 10}; /* 1x1 plain, 3x3 stride 2 (im2col), depthwise s1 and s2 */
    const fc_act acts[] = {{FC_ACT_RELU, 0, 0}, {FC_ACT_CLIP, -0.25f, 0.5f}};
    for (int t = 0; t < 4; t++)
        for (int a = 0; a < 2; a++) {
            conv_data d;
            conv_data_init(&d, &CONVS[idx[t]]);
            const conv_case *cc = d.cc;
            float *fused = ref_zeros(d.no);
            fc_error err;
            fc_conv2d cv = d.cv;
            cv.act = acts[a];
            int rc = fc_conv2d_forward(&ws2, d.out, d.inp, d.weight, d.bias, cc->N, cc->H, cc->W, &d.cv, &err);
            rc |= fc_act_forward(&ws2, d.out, d.out, d.no, &acts[a], &err);
            rc |= fc_conv2d_forward(&ws2, fused, d.inp, d.weight, d.bias, cc->N, cc->H, cc->W, &cv, &err);
            CHECK(rc == 0 && !memcmp(fused, d.out, d.no * 4), "%s: the fused %s differs", cc->name,
                  a ? "Clip" : "Relu");
            /* in_act: dinp gated at inp as fc_act_backward after the backward gates it */
            float *di = ref_zeros(d.ni), *gi = ref_zeros(d.ni), *dw = ref_zeros(d.nw), *gw = ref_zeros(d.nw);
            cv = d.cv;
            cv.in_act = acts[a];
            rc = fc_conv2d_backward(&ws2, di, dw, NULL, d.R, d.inp, d.weight, cc->N, cc->H, cc->W, &d.cv, &err);
            rc |= fc_act_backward(&ws2, di, di, d.inp, d.ni, &acts[a], &err);
            rc |= fc_conv2d_backward(&ws2, gi, gw, NULL, d.R, d.inp, d.weight, cc->N, cc->H, cc->W, &cv, &err);
            CHECK(rc == 0 && !memcmp(gi, di, d.ni * 4) && !memcmp(gw, dw, d.nw * 4),
                  "%s: dinp gated by a %s differs", cc->name, a ? "Clip" : "Relu");
            free(fused), free(di), free(gi), free(dw), free(gw);
            conv_data_free(&d);
        }
    float x[16] = {0}, w[16] = {0}, y[16];
    fc_error err;
    fc_conv2d bad = {.C = 1, .OC = 1, .groups = 1, .win = WIN(1, 1, 1, 1, 1, 1, 0, 0, 0, 0),
                     .act = {FC_ACT_SIGMOID, 0, 0}};
    CHECK(fc_conv2d_forward(&ws1, y, x, w, NULL, 1, 2, 2, &bad, &err) == FC_EINVAL, "a Sigmoid is not fused");
    bad.act = (fc_act){FC_ACT_CLIP, 1, 0};
    CHECK(fc_conv2d_forward(&ws1, y, x, w, NULL, 1, 2, 2, &bad, &err) == FC_EINVAL, "Clip with min > max");
    bad.act = (fc_act){0};
    bad.in_act = (fc_act){FC_ACT_HARDSWISH, 0, 0};
    CHECK(fc_conv2d_backward(&ws1, y, NULL, NULL, y, x, w, 1, 2, 2, &bad, &err) == FC_EINVAL,
          "a HardSwish input gate");
    bad.in_act = (fc_act){FC_ACT_RELU, 0, 0};
    CHECK(fc_conv2d_backward(&ws1, y, NULL, NULL, y, NULL, w, 1, 2, 2, &bad, &err) == FC_EINVAL,
          "an input gate needs inp");
}

static void conv_errors(void) {
    float x[64] = {0}, w[64] = {0}, y[256];
    fc_error err;
    fc_conv2d bad_groups = {.C = 4, .OC = 6, .groups = 4, .win = WIN(1, 1, 1, 1, 1, 1, 0, 0, 0, 0)};
    CHECK(fc_conv2d_forward(&ws1, y, x, w, NULL, 1, 2, 2, &bad_groups, &err) == FC_ESHAPE, "groups not dividing OC");
    fc_conv2d big = {.C = 1, .OC = 1, .groups = 1, .win = WIN(5, 5, 1, 1, 1, 1, 0, 0, 0, 0)};
    CHECK(fc_conv2d_forward(&ws1, y, x, w, NULL, 1, 4, 4, &big, &err) == FC_ESHAPE, "kernel over the input");
    fc_conv2d zero = {.C = 1, .OC = 1, .groups = 1, .win = WIN(1, 1, 0, 1, 1, 1, 0, 0, 0, 0)};
    CHECK(fc_conv2d_forward(&ws1, y, x, w, NULL, 1, 4, 4, &zero, &err) == FC_EINVAL, "stride 0");
    fc_conv2d ok = {.C = 1, .OC = 1, .groups = 1, .win = WIN(1, 1, 1, 1, 1, 1, 0, 0, 0, 0)};
    CHECK(fc_conv2d_forward(&ws1, y, x, w, NULL, 0, 4, 4, &ok, &err) == FC_EINVAL, "batch 0");
    CHECK(fc_conv2d_forward(&ws1, y, NULL, w, NULL, 1, 4, 4, &ok, &err) == FC_EINVAL, "NULL input");
    CHECK(fc_conv2d_backward(&ws1, NULL, y, NULL, x, NULL, w, 1, 4, 4, &ok, &err) == FC_EINVAL,
          "dweight without inp");
    CHECK(fc_conv2d_forward(&ws1, y, x, w, NULL, 1 << 20, 1 << 10, 1 << 10, &ok, &err) == FC_ELIMIT,
          "2^40 elements");
}

/* ---- Linear ------------------------------------------------------------------------------------ */

typedef struct lin_data {
    int B, IC, OC;
    float *inp, *weight, *bias, *R, *out;
} lin_data;

static double lin_loss(void *ctx) {
    lin_data *d = ctx;
    int rc = fc_linear_forward(&ws1, d->out, d->inp, d->weight, d->bias, d->B, d->IC, d->OC, NULL);
    return rc ? NAN : dot_d(d->out, d->R, (size_t)d->B * d->OC);
}

static void linear_ops(void) {
    static const int shapes[][3] = {{1, 7, 3}, {3, 33, 17}, {64, 300, 10}};
    for (int t = 0; t < 3; t++) {
        lin_data d = {.B = shapes[t][0], .IC = shapes[t][1], .OC = shapes[t][2]};
        size_t ni = (size_t)d.B * d.IC, nw = (size_t)d.OC * d.IC, no = (size_t)d.B * d.OC;
        d.inp = ref_rnd(ni), d.weight = ref_rnd(nw), d.bias = ref_rnd(d.OC), d.R = ref_rnd(no), d.out = ref_zeros(no);
        float *ref = ref_zeros(no), *ri = ref_zeros(ni), *rw = ref_zeros(nw), *rb = ref_zeros(d.OC);
        float *di = ref_zeros(ni), *dw = ref_zeros(nw), *db = ref_zeros(d.OC);
        ref_linear_forward(ref, d.inp, d.weight, d.bias, d.B, d.IC, d.OC);
        ref_linear_backward(ri, rw, rb, d.R, d.inp, d.weight, d.B, d.IC, d.OC);
        for (int th = 0; th < 2; th++) {
            fc_train_ws *ws = th ? &ws2 : &ws1;
            fc_error err;
            int rc = fc_linear_forward(ws, d.out, d.inp, d.weight, d.bias, d.B, d.IC, d.OC, &err);
            rc |= fc_linear_backward(ws, di, dw, db, d.R, d.inp, d.weight, d.B, d.IC, d.OC, &err);
            CHECK(rc == 0, "linear %dx%dx%d failed", d.B, d.IC, d.OC);
            CHECK(ref_rel_err(d.out, ref, no) <= TOL_FWD && ref_rel_err(di, ri, ni) <= TOL_BWD &&
                      ref_rel_err(dw, rw, nw) <= TOL_BWD && ref_rel_err(db, rb, d.OC) <= TOL_BWD,
                  "linear %dx%dx%d (%d threads) differs from the reference", d.B, d.IC, d.OC, th + 1);
        }
        if (t < 2) {
            fd_check("linear dinp", d.inp, ni, di, lin_loss, &d, 1e-2f);
            fd_check("linear dweight", d.weight, nw, dw, lin_loss, &d, 1e-2f);
            fd_check("linear dbias", d.bias, d.OC, db, lin_loss, &d, 1e-2f);
        }
        free(d.inp), free(d.weight), free(d.bias), free(d.R), free(d.out);
        free(ref), free(ri), free(rw), free(rb), free(di), free(dw), free(db);
    }
    CHECK(fc_linear_forward(&ws1, NULL, NULL, NULL, NULL, 1, 1, 1, NULL) == FC_EINVAL, "NULL buffers");
}

/* ---- Add, Mul per channel ----------------------------------------------------------------------- */

static void add_ops(void) {
    size_t n = 100003; /* several blocks and a partial one */
    float *a = ref_rnd(n), *b = ref_rnd(n), *o1 = ref_zeros(n), *o2 = ref_zeros(n), *da = ref_zeros(n), *db = ref_zeros(n);
    CHECK(fc_add_forward(&ws1, o1, a, b, n, NULL) == 0 && fc_add_forward(&ws2, o2, a, b, n, NULL) == 0, "add");
    int ok = 1;
    for (size_t i = 0; i < n; i++) ok &= o1[i] == a[i] + b[i] && o2[i] == o1[i];
    CHECK(ok, "add is not exact");
    CHECK(fc_add_backward(&ws1, da, db, a, n, NULL) == 0 && !memcmp(da, a, n * 4) && !memcmp(db, a, n * 4),
          "add backward copies dout");
    CHECK(fc_add_forward(&ws1, a, a, b, n, NULL) == 0 && !memcmp(a, o1, n * 4), "add in place");
    free(a), free(b), free(o1), free(o2), free(da), free(db);
}

typedef struct mulc_data {
    int N, C, HW;
    float *inp, *scale, *R, *out;
} mulc_data;

static double mulc_loss(void *ctx) {
    mulc_data *d = ctx;
    int rc = fc_mulc_forward(&ws1, d->out, d->inp, d->scale, d->N, d->C, d->HW, NULL);
    return rc ? NAN : dot_d(d->out, d->R, (size_t)d->N * d->C * d->HW);
}

static void mulc_ops(void) {
    static const int shapes[][3] = {{1, 3, 1}, {3, 5, 49}, {2, 40, 999}};
    for (int t = 0; t < 3; t++) {
        mulc_data d = {.N = shapes[t][0], .C = shapes[t][1], .HW = shapes[t][2]};
        size_t n = (size_t)d.N * d.C * d.HW, ns = (size_t)d.N * d.C;
        d.inp = ref_rnd(n), d.scale = ref_rnd(ns), d.R = ref_rnd(n), d.out = ref_zeros(n);
        float *ref = ref_zeros(n), *ri = ref_zeros(n), *rs = ref_zeros(ns), *di = ref_zeros(n), *ds = ref_zeros(ns);
        ref_mulc_forward(ref, d.inp, d.scale, d.N, d.C, d.HW);
        ref_mulc_backward(ri, rs, d.R, d.inp, d.scale, d.N, d.C, d.HW);
        for (int th = 0; th < 2; th++) {
            fc_train_ws *ws = th ? &ws2 : &ws1;
            int rc = fc_mulc_forward(ws, d.out, d.inp, d.scale, d.N, d.C, d.HW, NULL);
            rc |= fc_mulc_backward(ws, di, ds, d.R, d.inp, d.scale, d.N, d.C, d.HW, NULL);
            CHECK(rc == 0 && !memcmp(d.out, ref, n * 4) && !memcmp(di, ri, n * 4) &&
                      ref_rel_err(ds, rs, ns) <= TOL_BWD,
                  "mulc (%d,%d,%d) %d threads differs from the reference", d.N, d.C, d.HW, th + 1);
        }
        if (t < 2) {
            fd_check("mulc dinp", d.inp, n, di, mulc_loss, &d, 1e-2f);
            fd_check("mulc dscale", d.scale, ns, ds, mulc_loss, &d, 1e-2f);
        }
        free(d.inp), free(d.scale), free(d.R), free(d.out), free(ref), free(ri), free(rs), free(di), free(ds);
    }
}

/* ---- activations -------------------------------------------------------------------------------- */

static const fc_act ACTS[] = {
    {FC_ACT_RELU, 0, 0},          {FC_ACT_CLIP, 0, 6},      {FC_ACT_SIGMOID, 0, 0},
    {FC_ACT_HARDSIGMOID, 0.2f, 0.5f}, {FC_ACT_HARDSWISH, 0, 0}, {FC_ACT_SILU, 0, 0},
};
static const char *ACT_NAMES[] = {"Relu", "Clip(0,6)", "Sigmoid", "HardSigmoid(0.2,0.5)", "HardSwish", "SiLU"};

/* Is x within h of a kink of act (finite differences do not apply there)? */
static int near_kink(const fc_act *a, float x, float h) {
    float k[4];
    int n = 0;
    switch (a->kind) {
    case FC_ACT_RELU: k[n++] = 0; break;
    case FC_ACT_CLIP: k[n++] = a->a, k[n++] = a->b; break;
    case FC_ACT_HARDSIGMOID: k[n++] = -a->b / a->a, k[n++] = (1 - a->b) / a->a; break;
    case FC_ACT_HARDSWISH: k[n++] = -3, k[n++] = 3; break;
    }
    for (int i = 0; i < n; i++)
        if (fabsf(x - k[i]) <= 2 * h) return 1;
    return 0;
}

typedef struct act_data {
    const fc_act *act;
    size_t n;
    float *inp, *R, *out;
} act_data;

static double act_loss(void *ctx) {
    act_data *d = ctx;
    int rc = fc_act_forward(&ws1, d->out, d->inp, d->n, d->act, NULL);
    return rc ? NAN : dot_d(d->out, d->R, d->n);
}

static void activations(void) {
    for (int t = 0; t < 6; t++) {
        const fc_act *a = &ACTS[t];
        size_t n = 40007;
        float *x = ref_rnd(n), *R = ref_rnd(n), *y[2], *dx[2], *ry = ref_zeros(n), *rdx = ref_zeros(n);
        for (size_t i = 0; i < n; i++) x[i] *= 8; /* [-8, 8): every branch */
        x[0] = 0, x[1] = 6, x[2] = -3, x[3] = 3, x[4] = -2.5f, x[5] = 2.5f; /* the kinks */
        for (size_t i = 0; i < n; i++) {
            ry[i] = (float)ref_act(a, x[i]);
            rdx[i] = (float)(R[i] * ref_act_grad(a, x[i]));
        }
        for (int th = 0; th < 2; th++) {
            fc_train_ws *ws = th ? &ws2 : &ws1;
            y[th] = ref_zeros(n), dx[th] = ref_zeros(n);
            int rc = fc_act_forward(ws, y[th], x, n, a, NULL) | fc_act_backward(ws, dx[th], R, x, n, a, NULL);
            CHECK(rc == 0, "%s failed", ACT_NAMES[t]);
            CHECK(ref_rel_err(y[th], ry, n) <= 1e-6 && ref_rel_err(dx[th], rdx, n) <= 1e-5,
                  "%s (%d threads) differs from the reference: %.3g %.3g", ACT_NAMES[t], th + 1,
                  ref_rel_err(y[th], ry, n), ref_rel_err(dx[th], rdx, n));
        }
        CHECK(!memcmp(y[0], y[1], n * 4) && !memcmp(dx[0], dx[1], n * 4), "%s: threads differ", ACT_NAMES[t]);
        /* finite differences on 300 points away from the kinks */
        act_data d = {a, 300, x + 6, R + 6, ref_zeros(300)};
        float h = a->kind == FC_ACT_SIGMOID || a->kind == FC_ACT_SILU ? 1e-3f : 1e-2f;
        for (size_t i = 0; i < d.n; i++)
            if (near_kink(a, d.inp[i], h)) d.inp[i] += 5 * h;
        float *g = ref_zeros(d.n);
        CHECK(fc_act_backward(&ws1, g, d.R, d.inp, d.n, a, NULL) == 0, "backward");
        fd_check(ACT_NAMES[t], d.inp, d.n, g, act_loss, &d, h);
        free(g), free(d.out), free(x), free(R), free(ry), free(rdx);
        for (int th = 0; th < 2; th++) free(y[th]), free(dx[th]);
    }
    float v = 1;
    fc_act bad = {FC_ACT_LEAKY, 0.1f, 0}, clip = {FC_ACT_CLIP, 6, 0};
    CHECK(fc_act_forward(&ws1, &v, &v, 1, &bad, NULL) == FC_EINVAL, "LeakyRelu is not trainable");
    CHECK(fc_act_forward(&ws1, &v, &v, 1, &clip, NULL) == FC_EINVAL, "Clip min > max");
}

/* ---- pooling ------------------------------------------------------------------------------------ */

typedef struct pool_case {
    const char *name;
    int N, C, H, W;
    fc_win2d w;
} pool_case;

static const pool_case POOLS[] = {
    {"3x3 stride 2 pad 1", 3, 2, 9, 8, WIN(3, 3, 2, 2, 1, 1, 1, 1, 1, 1)},
    {"2x2 stride 2", 1, 3, 6, 7, WIN(2, 2, 2, 2, 1, 1, 0, 0, 0, 0)},
    {"3x2 stride (1,2) asymmetric pads", 2, 2, 5, 6, WIN(3, 2, 1, 2, 1, 1, 2, 0, 0, 1)},
    {"1x1 planes", 3, 4, 1, 1, WIN(1, 1, 1, 1, 1, 1, 0, 0, 0, 0)},
};

typedef struct pool_data {
    const pool_case *pc;
    int kind; /* 0 max, 1 avg, 2 avg with count_include_pad */
    size_t ni, no;
    float *inp, *R, *out;
} pool_data;

static int pool_fwd(fc_train_ws *ws, pool_data *d, float *out) {
    const pool_case *p = d->pc;
    if (d->kind == 0) return fc_maxpool_forward(ws, out, d->inp, p->N, p->C, p->H, p->W, &p->w, NULL);
    return fc_avgpool_forward(ws, out, d->inp, p->N, p->C, p->H, p->W, &p->w, d->kind == 2, NULL);
}

static int pool_bwd(fc_train_ws *ws, pool_data *d, float *dinp) {
    const pool_case *p = d->pc;
    if (d->kind == 0) return fc_maxpool_backward(ws, dinp, d->R, d->inp, p->N, p->C, p->H, p->W, &p->w, NULL);
    return fc_avgpool_backward(ws, dinp, d->R, p->N, p->C, p->H, p->W, &p->w, d->kind == 2, NULL);
}

static double pool_loss(void *ctx) {
    pool_data *d = ctx;
    return pool_fwd(&ws1, d, d->out) ? NAN : dot_d(d->out, d->R, d->no);
}

static void pools(void) {
    static const char *kinds[] = {"MaxPool", "AveragePool", "AveragePool count_include_pad"};
    for (int t = 0; t < 4; t++)
        for (int kind = 0; kind < 3; kind++) {
            const pool_case *p = &POOLS[t];
            pool_data d = {.pc = p, .kind = kind};
            int OH = out_size(p->H, p->w.kh, p->w.sh, 1, p->w.pt, p->w.pb);
            int OW = out_size(p->W, p->w.kw, p->w.sw, 1, p->w.pl, p->w.pr);
            d.ni = (size_t)p->N * p->C * p->H * p->W, d.no = (size_t)p->N * p->C * OH * OW;
            d.inp = ref_zeros(d.ni), d.R = ref_rnd(d.no), d.out = ref_zeros(d.no);
            for (size_t i = 0; i < d.ni; i++) /* distinct values 0.1 apart: maxima stay put under FD */
                d.inp[i] = 0.1f * (float)((i * 7919) % d.ni) - 0.05f * (float)d.ni;
            float *ref = ref_zeros(d.no), *ri = ref_zeros(d.ni), *di = ref_zeros(d.ni);
            if (kind == 0) {
                ref_maxpool_forward(ref, d.inp, p->N, p->C, p->H, p->W, &p->w);
                ref_maxpool_backward(ri, d.R, d.inp, p->N, p->C, p->H, p->W, &p->w);
            } else {
                ref_avgpool_forward(ref, d.inp, p->N, p->C, p->H, p->W, &p->w, kind == 2);
                ref_avgpool_backward(ri, d.R, p->N, p->C, p->H, p->W, &p->w, kind == 2);
            }
            for (int th = 0; th < 2; th++) {
                fc_train_ws *ws = th ? &ws2 : &ws1;
                int rc = pool_fwd(ws, &d, d.out) | pool_bwd(ws, &d, di);
                CHECK(rc == 0 && ref_rel_err(d.out, ref, d.no) <= TOL_FWD && ref_rel_err(di, ri, d.ni) <= TOL_BWD,
                      "%s %s (%d threads) differs from the reference", kinds[kind], p->name, th + 1);
            }
            fd_check(kinds[kind], d.inp, d.ni, di, pool_loss, &d, 1e-2f);
            free(d.inp), free(d.R), free(d.out), free(ref), free(ri), free(di);
        }
}

static void maxpool_ties_and_nan(void) {
    float x[4] = {1, 2, 2, 0}, y, dx[4], dy = 1;
    fc_win2d w = WIN(2, 2, 1, 1, 1, 1, 0, 0, 0, 0);
    CHECK(fc_maxpool_backward(&ws1, dx, &dy, x, 1, 1, 2, 2, &w, NULL) == 0 && dx[1] == 1 && dx[2] == 0,
          "the first of two maxima wins");
    x[3] = NAN;
    CHECK(fc_maxpool_forward(&ws1, &y, x, 1, 1, 2, 2, &w, NULL) == 0 && isnan(y), "NaN wins");
    fc_win2d pad = WIN(2, 2, 1, 1, 1, 1, 2, 0, 0, 0);
    CHECK(fc_maxpool_forward(&ws1, &y, x, 1, 1, 2, 2, &pad, NULL) == FC_ESHAPE, "empty window");
}

static void global_average_pool(void) {
    static const int shapes[][3] = {{1, 1, 1}, {3, 5, 49}, {2, 7, 1001}};
    for (int t = 0; t < 3; t++) {
        int N = shapes[t][0], C = shapes[t][1], HW = shapes[t][2];
        size_t n = (size_t)N * C * HW;
        float *x = ref_rnd(n), *y = ref_zeros(N * C), *dy = ref_rnd(N * C), *dx = ref_zeros(n);
        int rc = fc_gap_forward(&ws2, y, x, N, C, HW, NULL) | fc_gap_backward(&ws2, dx, dy, N, C, HW, NULL);
        double e = 0, eb = 0;
        for (int p = 0; p < N * C; p++) {
            double s = 0;
            for (int i = 0; i < HW; i++) {
                s += x[(size_t)p * HW + i];
                eb = fmax(eb, fabs(dx[(size_t)p * HW + i] - dy[p] / HW));
            }
            e = fmax(e, fabs(y[p] - s / HW));
        }
        CHECK(rc == 0 && e <= 1e-6 && eb <= 1e-7, "GlobalAveragePool (%d,%d,%d): %.3g %.3g", N, C, HW, e, eb);
        /* gated by a Relu / Clip at x: the bits of the activation's backward after it */
        const fc_act gates[] = {{FC_ACT_RELU, 0, 0}, {FC_ACT_CLIP, -0.2f, 0.3f}};
        float *gx = ref_zeros(n);
        for (int a = 0; a < 2; a++) {
            rc = fc_gap_backward(&ws2, dx, dy, N, C, HW, NULL) | fc_act_backward(&ws2, dx, dx, x, n, &gates[a], NULL) |
                 fc_gap_backward_gated(&ws2, gx, dy, x, &gates[a], N, C, HW, NULL);
            CHECK(rc == 0 && !memcmp(gx, dx, n * 4), "GlobalAveragePool (%d,%d,%d) gated by %s differs", N, C, HW,
                  a ? "Clip" : "Relu");
        }
        fc_act bad = {FC_ACT_SILU, 0, 0};
        CHECK(fc_gap_backward_gated(&ws1, gx, dy, x, &bad, N, C, HW, NULL) == FC_EINVAL, "a SiLU gate");
        free(x), free(y), free(dy), free(dx), free(gx);
    }
}

/* ---- shapes ------------------------------------------------------------------------------------- */

static void concat_and_views(void) {
    int N = 3, HW = 5, Cs[3] = {2, 1, 4}, total = 7;
    float *a = ref_rnd(N * 2 * HW), *b = ref_rnd(N * 1 * HW), *c = ref_rnd(N * 4 * HW), *out = ref_zeros(N * total * HW);
    const float *ins[3] = {a, b, c};
    CHECK(fc_concat_forward(&ws1, out, ins, Cs, 3, N, HW, NULL) == 0, "concat");
    int ok = 1;
    for (int n = 0; n < N; n++)
        for (int ch = 0; ch < total; ch++)
            for (int i = 0; i < HW; i++) {
                float v = ch < 2 ? a[(n * 2 + ch) * HW + i] : ch < 3 ? b[n * HW + i] : c[(n * 4 + ch - 3) * HW + i];
                ok &= out[(n * total + ch) * HW + i] == v;
            }
    CHECK(ok, "concat puts each input at its channels");
    float *da = ref_zeros(N * 2 * HW), *dc = ref_zeros(N * 4 * HW);
    float *douts[3] = {da, NULL, dc};
    CHECK(fc_concat_backward(&ws1, douts, out, Cs, 3, N, HW, NULL) == 0 && !memcmp(da, a, N * 2 * HW * 4) &&
              !memcmp(dc, c, N * 4 * HW * 4),
          "concat backward slices");
    int64_t dims[4] = {2, 3, 4, 5}, f[2], r[4];
    CHECK(fc_flatten_dims(4, dims, 1, f, NULL) == 0 && f[0] == 2 && f[1] == 60, "flatten axis 1");
    CHECK(fc_flatten_dims(4, dims, 0, f, NULL) == 0 && f[0] == 1 && f[1] == 120, "flatten axis 0");
    int64_t spec[3] = {0, -1, 5};
    CHECK(fc_reshape_dims(4, dims, 3, spec, r, NULL) == 0 && r[0] == 2 && r[1] == 12 && r[2] == 5, "reshape 0,-1");
    int64_t bad[2] = {7, -1}, two[2] = {-1, -1};
    CHECK(fc_reshape_dims(4, dims, 2, bad, r, NULL) == FC_ESHAPE, "reshape not divisible");
    CHECK(fc_reshape_dims(4, dims, 2, two, r, NULL) == FC_EINVAL, "two -1");
    free(a), free(b), free(c), free(out), free(da), free(dc);
}

/* ---- BatchNorm ---------------------------------------------------------------------------------- */

typedef struct bn_data {
    int N, C, HW, eval;
    float *inp, *gamma, *beta, *rm, *rv, *R, *out, *mean, *rstd;
} bn_data;

static double bn_loss(void *ctx) {
    bn_data *d = ctx;
    int rc = d->eval ? fc_batchnorm_eval_forward(&ws1, d->out, d->inp, d->gamma, d->beta, d->rm, d->rv, d->N,
                                                 d->C, d->HW, 1e-5f, NULL)
                     : fc_batchnorm_forward(&ws1, d->out, d->mean, d->rstd, NULL, NULL, d->inp, d->gamma,
                                            d->beta, d->N, d->C, d->HW, 1e-5f, 0.1f, NULL);
    return rc ? NAN : dot_d(d->out, d->R, (size_t)d->N * d->C * d->HW);
}

static void bn_data_init(bn_data *d, int N, int C, int HW) {
    *d = (bn_data){.N = N, .C = C, .HW = HW};
    size_t n = (size_t)N * C * HW;
    d->inp = ref_rnd(n), d->gamma = ref_rnd(C), d->beta = ref_rnd(C), d->rm = ref_rnd(C), d->rv = ref_rnd(C), d->R = ref_rnd(n);
    d->out = ref_zeros(n), d->mean = ref_zeros(C), d->rstd = ref_zeros(C);
    for (size_t i = 0; i < n; i++) d->inp[i] = 3 + 2 * d->inp[i]; /* mean 3: the centering matters */
    for (int c = 0; c < C; c++) d->rv[c] = 1.5f + d->rv[c];
}

static void bn_data_free(bn_data *d) {
    free(d->inp), free(d->gamma), free(d->beta), free(d->rm), free(d->rv), free(d->R), free(d->out);
    free(d->mean), free(d->rstd);
}

static void batchnorm_train(void) {
    static const int shapes[][3] = {{1, 3, 7}, {3, 4, 25}, {32, 24, 196}};
    for (int t = 0; t < 3; t++) {
        bn_data d;
        bn_data_init(&d, shapes[t][0], shapes[t][1], shapes[t][2]);
        int N = d.N, C = d.C, HW = d.HW;
        size_t n = (size_t)N * C * HW;
        float *ref = ref_zeros(n), *rmean = ref_zeros(C), *rrstd = ref_zeros(C), *rrm = ref_zeros(C), *rrv = ref_zeros(C);
        float *ri = ref_zeros(n), *rg = ref_zeros(C), *rb = ref_zeros(C), *di = ref_zeros(n), *dg = ref_zeros(C), *db = ref_zeros(C);
        float *rm = ref_zeros(C), *rv = ref_zeros(C);
        memcpy(rrm, d.rm, C * 4), memcpy(rrv, d.rv, C * 4);
        ref_batchnorm_forward(ref, rmean, rrstd, rrm, rrv, d.inp, d.gamma, d.beta, N, C, HW, 1e-5f, 0.1f);
        ref_batchnorm_backward(ri, rg, rb, d.R, d.inp, d.gamma, N, C, HW, 1e-5f);
        for (int th = 0; th < 2; th++) {
            fc_train_ws *ws = th ? &ws2 : &ws1;
            memcpy(rm, d.rm, C * 4), memcpy(rv, d.rv, C * 4);
            int rc = fc_batchnorm_forward(ws, d.out, d.mean, d.rstd, rm, rv, d.inp, d.gamma, d.beta, N, C, HW,
                                          1e-5f, 0.1f, NULL);
            rc |= fc_batchnorm_backward(ws, di, dg, db, d.R, d.inp, d.mean, d.rstd, d.gamma, N, C, HW, NULL);
            CHECK(rc == 0, "batchnorm failed");
            CHECK(ref_rel_err(d.out, ref, n) <= TOL_FWD && ref_rel_err(d.mean, rmean, C) <= TOL_FWD &&
                      ref_rel_err(d.rstd, rrstd, C) <= TOL_FWD && ref_rel_err(rm, rrm, C) <= TOL_FWD &&
                      ref_rel_err(rv, rrv, C) <= TOL_FWD,
                  "batchnorm (%d,%d,%d) %d threads: forward differs", N, C, HW, th + 1);
            CHECK(ref_rel_err(di, ri, n) <= TOL_BWD && ref_rel_err(dg, rg, C) <= TOL_BWD && ref_rel_err(db, rb, C) <= TOL_BWD,
                  "batchnorm (%d,%d,%d) %d threads: backward differs %.3g %.3g %.3g", N, C, HW, th + 1,
                  ref_rel_err(di, ri, n), ref_rel_err(dg, rg, C), ref_rel_err(db, rb, C));
        }
        if (t < 2) {
            fd_check("batchnorm dinp", d.inp, n, di, bn_loss, &d, 1e-3f);
            fd_check("batchnorm dgamma", d.gamma, C, dg, bn_loss, &d, 1e-3f);
            fd_check("batchnorm dbeta", d.beta, C, db, bn_loss, &d, 1e-3f);
        }
        free(ref), free(rmean), free(rrstd), free(rrm), free(rrv), free(ri), free(rg), free(rb);
        free(di), free(dg), free(db), free(rm), free(rv);
        bn_data_free(&d);
    }
}

static void batchnorm_eval(void) {
    bn_data d;
    bn_data_init(&d, 3, 4, 10);
    d.eval = 1;
    size_t n = 120;
    float *di = ref_zeros(n), *dg = ref_zeros(4), *db = ref_zeros(4);
    int rc = fc_batchnorm_eval_backward(&ws1, di, dg, db, d.R, d.inp, d.gamma, d.rm, d.rv, 3, 4, 10, 1e-5f, NULL);
    rc |= fc_batchnorm_eval_forward(&ws1, d.out, d.inp, d.gamma, d.beta, d.rm, d.rv, 3, 4, 10, 1e-5f, NULL);
    double e = 0;
    for (size_t i = 0; i < n; i++) {
        int c = (int)(i / 10 % 4);
        double y = (d.inp[i] - d.rm[c]) / sqrt(d.rv[c] + 1e-5) * d.gamma[c] + d.beta[c];
        e = fmax(e, fabs(y - d.out[i]));
    }
    CHECK(rc == 0 && e <= 1e-5, "inference-mode forward differs by %.3g", e);
    fd_check("batchnorm eval dinp", d.inp, n, di, bn_loss, &d, 1e-2f);
    fd_check("batchnorm eval dgamma", d.gamma, 4, dg, bn_loss, &d, 1e-2f);
    fd_check("batchnorm eval dbeta", d.beta, 4, db, bn_loss, &d, 1e-2f);
    CHECK(fc_batchnorm_forward(&ws1, d.out, d.mean, d.rstd, NULL, NULL, d.inp, d.gamma, d.beta, 3, 4, 10, 0,
                               0.1f, NULL) == FC_EINVAL,
          "eps 0");
    free(di), free(dg), free(db);
    bn_data_free(&d);
}

/* ---- Dropout ------------------------------------------------------------------------------------ */

static void dropout(void) {
    size_t n = 200001;
    float *x = ref_rnd(n), *y1 = ref_zeros(n), *y2 = ref_zeros(n), *y3 = ref_zeros(n), *dx = ref_zeros(n);
    for (size_t i = 0; i < n; i++) x[i] = x[i] == 0 ? 1 : x[i];
    float p = 0.3f;
    int rc = fc_dropout_forward(&ws1, y1, x, n, p, 42, NULL) | fc_dropout_forward(&ws2, y2, x, n, p, 42, NULL);
    rc |= fc_dropout_forward(&ws1, y3, x, n, p, 43, NULL) | fc_dropout_backward(&ws2, dx, x, n, p, 42, NULL);
    CHECK(rc == 0, "dropout failed");
    CHECK(!memcmp(y1, y2, n * 4), "the mask depends on the thread count");
    CHECK(!memcmp(y1, dx, n * 4), "the backward applies another mask");
    size_t kept = 0, same = 0, scaled = 1;
    for (size_t i = 0; i < n; i++) {
        kept += y1[i] != 0;
        same += (y1[i] != 0) == (y3[i] != 0);
        scaled &= y1[i] == 0 || y1[i] == x[i] * (1.0f / (1.0f - p));
    }
    double frac = (double)kept / n; /* binomial: sd 0.001 */
    CHECK(fabs(frac - 0.7) < 0.006, "kept fraction %.4f for p = 0.3", frac);
    CHECK(same < n * 0.65, "seeds 42 and 43 give nearly the same mask (%zu of %zu agree)", same, n);
    CHECK(scaled, "kept elements are scaled by 1/(1-p)");
    CHECK(fc_dropout_forward(&ws1, y1, x, n, 0, 7, NULL) == 0 && !memcmp(y1, x, n * 4), "p = 0 copies");
    CHECK(fc_dropout_forward(&ws1, y1, x, n, 1, 7, NULL) == FC_EINVAL, "p = 1");
    free(x), free(y1), free(y2), free(y3), free(dx);
}

/* ---- softmax + cross-entropy -------------------------------------------------------------------- */

typedef struct ce_data {
    int B, K;
    float *logits, *probs;
    int *targets;
} ce_data;

static double ce_loss(void *ctx) {
    ce_data *d = ctx;
    float loss;
    int rc = fc_crossentropy_forward(&ws1, &loss, d->probs, d->logits, d->targets, d->B, d->K, NULL);
    return rc ? NAN : loss;
}

static void crossentropy(void) {
    static const int shapes[][2] = {{1, 2}, {3, 5}, {64, 1000}};
    for (int t = 0; t < 3; t++) {
        ce_data d = {.B = shapes[t][0], .K = shapes[t][1]};
        size_t n = (size_t)d.B * d.K;
        d.logits = ref_rnd(n), d.probs = ref_zeros(n), d.targets = malloc(sizeof(int) * d.B);
        for (size_t i = 0; i < n; i++) d.logits[i] *= 4;
        for (int b = 0; b < d.B; b++) d.targets[b] = (b * 7 + 1) % d.K;
        float *rp = ref_zeros(n), *rd = ref_zeros(n), *dl = ref_zeros(n), loss;
        float rl = ref_crossentropy_forward(rp, d.logits, d.targets, d.B, d.K);
        ref_crossentropy_backward(rd, d.logits, d.targets, d.B, d.K);
        int rc = fc_crossentropy_forward(&ws1, &loss, d.probs, d.logits, d.targets, d.B, d.K, NULL);
        rc |= fc_crossentropy_backward(&ws1, dl, d.probs, d.targets, d.B, d.K, 1.0f, NULL);
        /* dlogits = (probs - onehot) / B in float: near a confident target it is the difference of
         * two numbers near 1/B, so its rounding is relative to 1/B, not to its own size; the loss,
         * log(sum exp) - logit, likewise rounds relative to the logits (|logit| <= 4) */
        double dl_err = 0, dl_max = 0;
        for (size_t i = 0; i < n; i++)
            dl_err = fmax(dl_err, fabs((double)dl[i] - rd[i])), dl_max = fmax(dl_max, fabs(rd[i]));
        CHECK(rc == 0 && fabsf(loss - rl) <= 1e-6f * fabsf(rl) + 1e-6f && ref_rel_err(d.probs, rp, n) <= 1e-6 &&
                  dl_err <= 1e-6 * fmax(dl_max, 1.0 / d.B),
              "cross-entropy (%d,%d) differs from the reference: loss %.9g (reference %.9g), dlogits by %.3g",
              d.B, d.K, loss, rl, dl_err);
        if (t < 2) fd_check("cross-entropy dlogits", d.logits, n, dl, ce_loss, &d, 1e-3f);
        d.targets[0] = d.K;
        CHECK(fc_crossentropy_forward(&ws1, &loss, d.probs, d.logits, d.targets, d.B, d.K, NULL) == FC_EINVAL,
              "target out of range");
        free(d.logits), free(d.probs), free(d.targets), free(rp), free(rd), free(dl);
    }
}

/* Softmax alone: the reference's probabilities, and the gradient of sum(w * softmax(x)). */
typedef struct sm_data { float *x, *y, *w; int B, K; } sm_data;

static double sm_loss(void *ctx) {
    sm_data *d = ctx;
    if (fc_softmax_forward(&ws1, d->y, d->x, d->B, d->K, NULL)) return NAN;
    double s = 0;
    for (size_t i = 0; i < (size_t)d->B * d->K; i++) s += (double)d->w[i] * d->y[i];
    return s;
}

static void softmax(void) {
    sm_data d = {.B = 3, .K = 7};
    size_t n = (size_t)d.B * d.K;
    d.x = ref_rnd(n), d.y = ref_zeros(n), d.w = ref_rnd(n);
    for (size_t i = 0; i < n; i++) d.x[i] *= 4;
    int *targets = calloc((size_t)d.B, sizeof(int));
    float *rp = ref_zeros(n), *dx = ref_zeros(n);
    ref_crossentropy_forward(rp, d.x, targets, d.B, d.K);
    int rc = fc_softmax_forward(&ws1, d.y, d.x, d.B, d.K, NULL);
    CHECK(rc == 0 && ref_rel_err(d.y, rp, n) <= 1e-6, "softmax differs from the reference");
    rc = fc_softmax_backward(&ws1, dx, d.w, d.y, d.B, d.K, NULL);
    CHECK(rc == 0, "softmax backward");
    fd_check("softmax dinp", d.x, n, dx, sm_loss, &d, 1e-3f);
    CHECK(fc_softmax_forward(&ws1, d.y, d.x, 0, d.K, NULL) == FC_EINVAL, "softmax of an empty batch is refused");
    free(d.x), free(d.y), free(d.w), free(targets), free(rp), free(dx);
}

/* ---- optimizers --------------------------------------------------------------------------------- */

/* Three steps of SGD and AdamW against the double-precision references, without and with an anchor
 * (L2-SP: the pull toward the starting values; an anchor far enough from p0 that a wrong sign or a
 * missing term shows), and AdamW's AVX2 block against the generic one, bitwise. */
static void optimizers_with(const float *anchor, size_t n) {
    float *p0 = ref_rnd(n), *g = ref_rnd(n);
    float *p[2], *m[2], *v[2];
    for (int r = 0; r < 2; r++) p[r] = ref_zeros(n), m[r] = ref_zeros(n), v[r] = ref_zeros(n);
    const char *which = anchor ? " (anchored)" : "";
    fc_sgd sgd = {0.1f, 0.9f, 1e-4f, anchor, 0.7f};
    memcpy(p[0], p0, n * 4), memcpy(p[1], p0, n * 4);
    for (int step = 0; step < 3; step++) {
        CHECK(fc_sgd_step(&ws2, p[0], m[0], g, n, &sgd, 0.5f, NULL) == 0, "sgd step");
        ref_sgd_step(p[1], m[1], g, n, &sgd, 0.5f);
    }
    CHECK(ref_rel_err(p[0], p[1], n) <= 1e-6 && ref_rel_err(m[0], m[1], n) <= 1e-6, "SGD%s differs from the reference", which);
    fc_adamw adam = {1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, anchor, 0.7f};
    for (int r = 0; r < 2; r++) memcpy(p[r], p0, n * 4), memset(m[r], 0, n * 4), memset(v[r], 0, n * 4);
    for (long step = 1; step <= 3; step++) {
        CHECK(fc_adamw_step(&ws2, p[0], m[0], v[0], g, n, &adam, step, 0.1f, NULL) == 0, "adamw step");
        ref_adamw_step(p[1], m[1], v[1], g, n, &adam, step, 0.1f);
    }
    CHECK(ref_rel_err(p[0], p[1], n) <= 1e-6 && ref_rel_err(m[0], m[1], n) <= 1e-6 && ref_rel_err(v[0], v[1], n) <= 1e-6,
          "AdamW%s differs from the reference", which);
    double moved = 0;
    for (size_t i = 0; i < n; i++) moved = fmax(moved, fabs(p[0][i] - p0[i]));
    CHECK(moved > 2e-4 && moved < 4e-4, "AdamW%s with lr 1e-3 x 0.1 moved parameters by %.3g over 3 steps", which, moved);
    const fc_kernels *avx2 = fc_kernels_by_name("avx2");
    if (avx2) { /* the AVX2 block and the generic one agree bitwise */
        fc_train_ws ws;
        fc_train_ws_init(&ws, 2);
        for (int r = 0; r < 2; r++) memcpy(p[r], p0, n * 4), memset(m[r], 0, n * 4), memset(v[r], 0, n * 4);
        for (int r = 0; r < 2; r++) {
            ws.k = r ? avx2 : fc_kernels_by_name("scalar");
            for (long step = 1; step <= 3; step++) fc_adamw_step(&ws, p[r], m[r], v[r], g, n, &adam, step, 0.1f, NULL);
        }
        CHECK(!memcmp(p[0], p[1], n * 4) && !memcmp(m[0], m[1], n * 4) && !memcmp(v[0], v[1], n * 4),
              "AdamW%s: the generic and AVX2 blocks differ", which);
        fc_train_ws_free(&ws);
    }
    CHECK(fc_adamw_step(&ws1, p[0], m[0], v[0], g, n, &adam, 0, 1, NULL) == FC_EINVAL, "step 0");
    fc_sgd bad = {.lr = 0.1f, .momentum = 1.0f};
    CHECK(fc_sgd_step(&ws1, p[0], m[0], g, n, &bad, 1, NULL) == FC_EINVAL, "momentum 1");
    fc_sgd negative = {0.1f, 0.9f, 0, anchor, -1.0f};
    CHECK(fc_sgd_step(&ws1, p[0], m[0], g, n, &negative, 1, NULL) == FC_EINVAL, "a negative anchor decay is refused");
    for (int r = 0; r < 2; r++) free(p[r]), free(m[r]), free(v[r]);
    free(p0), free(g);
}

static void optimizers(void) {
    size_t n = 50001;
    float *anchor = ref_rnd(n);
    for (size_t i = 0; i < n; i++) anchor[i] *= 3;
    optimizers_with(NULL, n);
    optimizers_with(anchor, n);
    free(anchor);
}

/* ---- PyTorch cross-check ------------------------------------------------------------------------ */

/* Writes a float32 .npy (C order). */
static int npy_write(const char *dir, const char *name, const float *x, int rank, const int *dims) {
    char path[512], shape[128] = "", hdr[256];
    snprintf(path, sizeof path, "%s/%s.npy", dir, name);
    size_t n = 1, len = 0;
    for (int i = 0; i < rank; i++) {
        len += snprintf(shape + len, sizeof shape - len, "%d,%s", dims[i], i + 1 < rank ? " " : "");
        n *= (size_t)dims[i];
    }
    int h = snprintf(hdr, sizeof hdr, "{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }", shape);
    while ((10 + h + 1) % 64) hdr[h++] = ' ';
    hdr[h++] = '\n';
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    unsigned char magic[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(h & 255), (unsigned char)(h >> 8)};
    int ok = fwrite(magic, 1, 10, f) == 10 && fwrite(hdr, 1, h, f) == (size_t)h && fwrite(x, 4, n, f) == n;
    return fclose(f) == 0 && ok ? 0 : -1;
}

/* conv (prefix p): inp, weight, bias, dout and our out, dinp, dweight, dbias. */
static int dump_conv(const char *dir, const char *p, const conv_case *cc) {
    conv_data d;
    conv_data_init(&d, cc);
    float *di = ref_zeros(d.ni), *dw = ref_zeros(d.nw), *db = ref_zeros(cc->OC);
    int rc = conv_run(&ws2, cc, d.inp, d.weight, d.bias, d.R, d.out, di, dw, db);
    int in[4] = {cc->N, cc->C, cc->H, cc->W}, wt[4] = {cc->OC, cc->C / cc->groups, cc->w.kh, cc->w.kw};
    int out[4] = {cc->N, cc->OC, d.OH, d.OW}, b[1] = {cc->OC};
    char name[64];
#define DUMP(suffix, data, r, dims) (snprintf(name, sizeof name, "%s_%s", p, suffix), npy_write(dir, name, data, r, dims))
    rc = rc || DUMP("inp", d.inp, 4, in) || DUMP("weight", d.weight, 4, wt) || DUMP("bias", d.bias, 1, b) ||
         DUMP("dout", d.R, 4, out) || DUMP("out", d.out, 4, out) || DUMP("dinp", di, 4, in) ||
         DUMP("dweight", dw, 4, wt) || DUMP("dbias", db, 1, b);
    free(di), free(dw), free(db);
    conv_data_free(&d);
    return rc;
}

/* BatchNorm training step: inp, gamma, beta, running stats before/after, dout, out and grads. */
static int dump_bn(const char *dir) {
    bn_data d;
    bn_data_init(&d, 3, 4, 25);
    size_t n = 300;
    float *rm = ref_zeros(4), *rv = ref_zeros(4), *di = ref_zeros(n), *dg = ref_zeros(4), *db = ref_zeros(4);
    memcpy(rm, d.rm, 16), memcpy(rv, d.rv, 16);
    int rc = fc_batchnorm_forward(&ws2, d.out, d.mean, d.rstd, rm, rv, d.inp, d.gamma, d.beta, 3, 4, 25, 1e-5f,
                                  0.1f, NULL);
    rc |= fc_batchnorm_backward(&ws2, di, dg, db, d.R, d.inp, d.mean, d.rstd, d.gamma, 3, 4, 25, NULL);
    int x[4] = {3, 4, 5, 5}, c[1] = {4};
    char name[64];
    const char *p = "bn";
    rc = rc || DUMP("inp", d.inp, 4, x) || DUMP("gamma", d.gamma, 1, c) || DUMP("beta", d.beta, 1, c) ||
         DUMP("rm0", d.rm, 1, c) || DUMP("rv0", d.rv, 1, c) || DUMP("rm", rm, 1, c) || DUMP("rv", rv, 1, c) ||
         DUMP("dout", d.R, 4, x) || DUMP("out", d.out, 4, x) || DUMP("dinp", di, 4, x) ||
         DUMP("dgamma", dg, 1, c) || DUMP("dbeta", db, 1, c);
#undef DUMP
    free(rm), free(rv), free(di), free(dg), free(db);
    bn_data_free(&d);
    return rc;
}

static void torch_parity(void) {
    const char *script = "scripts/train_ops_torch.py";
    if (access(script, R_OK) != 0) SKIP("scripts/train_ops_torch.py not found (run from the repository root)");
    if (system("/usr/bin/python3 -c 'import torch, numpy' >/dev/null 2>&1") != 0)
        SKIP("python3-torch is not installed (apt-get install python3-torch)");
    char dir[] = "/tmp/fc_train_torch_XXXXXX";
    REQUIRE(mkdtemp(dir), "mkdtemp");
    static const conv_case cases[] = {
        {"conv", 3, 4, 9, 7, 5, 1, WIN(3, 3, 2, 2, 1, 1, 1, 1, 1, 1), 1},
        {"grouped", 2, 6, 8, 8, 4, 2, WIN(3, 3, 1, 1, 2, 2, 2, 2, 2, 2), 1},
        {"dw", 2, 6, 9, 8, 6, 6, WIN(3, 3, 2, 2, 1, 1, 1, 1, 1, 1), 1},
        {"dw5", 3, 5, 14, 14, 5, 5, WIN(5, 5, 1, 1, 1, 1, 2, 2, 2, 2), 1},
    };
    int rc = 0;
    for (int i = 0; i < 4; i++) rc |= dump_conv(dir, cases[i].name, &cases[i]);
    rc |= dump_bn(dir);
    CHECK(rc == 0, "cannot write the .npy files in %s", dir);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s %s", script, dir);
    fflush(stdout);
    CHECK(system(cmd) == 0, "PyTorch disagrees (its lines above)");
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd)) {}
}

int main(void) {
    ref_rng = 12345u;
    fc_train_ws_init(&ws1, 1);
    fc_train_ws_init(&ws2, 2);
    RUN(conv_vs_reference);
    RUN(conv_finite_differences);
    RUN(conv_threads_and_chunks);
    RUN(depthwise_generic_vs_avx2);
    RUN(workspace_stable);
    RUN(conv_fused_activation);
    RUN(conv_errors);
    RUN(linear_ops);
    RUN(add_ops);
    RUN(mulc_ops);
    RUN(activations);
    RUN(pools);
    RUN(maxpool_ties_and_nan);
    RUN(global_average_pool);
    RUN(concat_and_views);
    RUN(batchnorm_train);
    RUN(batchnorm_eval);
    RUN(dropout);
    RUN(crossentropy);
    RUN(softmax);
    RUN(optimizers);
    RUN(torch_parity);
    fc_train_ws_free(&ws1);
    fc_train_ws_free(&ws2);
    return check_done();
}
