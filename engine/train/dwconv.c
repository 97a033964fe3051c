/* Depthwise Conv2d (groups == C == OC, weight (C,1,kh,kw)), the half of fc_conv2d_forward/backward
 * that conv2d.c hands over: two tasks per thread of whole blocks of FC_DWL_LANES channels, taken
 * dynamically by the threads, each streaming every image in order through the kernels of dwlanes.h
 * (channels in vector lanes), generic or AVX2 by the workspace's kernel table.
 * Reproducibility: each output, and each channel's gradients, come from one task in a fixed order:
 * bitwise independent of the thread count; the generic and AVX2 kernels agree bitwise.
 * Not here: im2col convolutions (conv2d.c). */
#include <omp.h>
#include <string.h>

#include "engine/train/dwlanes.h"
#include "engine/train/internal.h"

#define DWL_FWD fc_dwlanes_fwd_generic
#define DWL_BACK fc_dwlanes_back_generic
#define DWL_TR fc_train_tr_generic
#define DWL_UNTR fc_train_untr_generic
#include "engine/train/dwlanes-impl.h"

static void geom_of(fc_dwlanes_geom *g, int N, int C, int H, int W, int OH, int OW, const fc_win2d *w) {
    *g = (fc_dwlanes_geom){.N = N, .C = C, .H = H, .W = W, .OH = OH, .OW = OW, .KH = w->kh,
                          .KW = w->kw, .SH = w->sh, .SW = w->sw, .DH = w->dil_h, .DW = w->dil_w,
                          .PT = w->pt, .PL = w->pl};
    g->PH = (OH - 1) * w->sh + (w->kh - 1) * w->dil_h + 1;
    g->PW = (OW - 1) * w->sw + (w->kw - 1) * w->dil_w + 1;
}

size_t fc_dwlanes_back_scratch(const fc_dwlanes_geom *g, int nch) {
    /* Xp, dXp, Dt, an image's sums, each block's lane weights and sums, each in whole cache lines:
     * one thread's sums next to another's planes in a shared line made two threads slower */
    int kk = g->KH * g->KW, blocks = (nch + FC_DWL_LANES - 1) / FC_DWL_LANES;
    size_t xs = dwl_xp_floats(g), ds = dwl_round((size_t)g->OH * g->OW * FC_DWL_LANES);
    return 2 * xs + ds + dwl_dp_floats(g) + dwl_round((size_t)g->H * g->W * FC_DWL_LANES) +
           dwl_round((size_t)kk * FC_DWL_LANES) +
           (size_t)blocks * dwl_round((size_t)(2 * kk + 1) * FC_DWL_LANES);
}

size_t fc_dwlanes_fwd_scratch(const fc_dwlanes_geom *g, int nch) {
    int kk = g->KH * g->KW, blocks = (nch + FC_DWL_LANES - 1) / FC_DWL_LANES;
    return dwl_xp_floats(g) + dwl_round((size_t)g->H * g->W * FC_DWL_LANES) +
           dwl_round((size_t)g->OH * g->OW * FC_DWL_LANES) +
           (size_t)blocks * dwl_round((size_t)(kk + 1) * FC_DWL_LANES);
}

/* Channels per task on threads: two tasks per thread of whole lane blocks (large ones: the images'
 * planes of a task are read in order, which streamed better than small tasks; two per thread so
 * that tasks are taken dynamically and a stalled thread on a busy machine does not hold the
 * other up). */
static int task_channels(int C, int threads) {
    int blocks = (C + FC_DWL_LANES - 1) / FC_DWL_LANES, tasks = 2 * threads;
    return (blocks + tasks - 1) / tasks * FC_DWL_LANES;
}

/* A kernel scratch per thread, forward or backward, for ws's threads or one. */
size_t fc_train_dw_ws_floats(int C, int H, int W, int OH, int OW, const fc_win2d *w, int threads) {
    fc_dwlanes_geom g;
    geom_of(&g, 1, C, H, W, OH, OW, w);
    size_t most = 0;
    for (int t = 1; t <= threads; t += threads > 1 ? threads - 1 : 1) {
        int tc = task_channels(C, t);
        size_t f = fc_dwlanes_fwd_scratch(&g, tc), b = fc_dwlanes_back_scratch(&g, tc);
        if ((f > b ? f : b) * (size_t)t > most) most = (f > b ? f : b) * (size_t)t;
    }
    return most;
}

/* One call's operands: the forward (out = conv(inp), act) or the backward (gate the input gate,
 * out the dinp). */
typedef struct dw_job {
    fc_dwlanes_geom g;
    int back;
    const float *inp, *dout, *weight, *bias;
    const fc_act *act;
    float *out, *dweight, *dbias;
} dw_job;

/* Runs the job's kernel over its tasks on threads (one below a small work). */
static int run_tasks(fc_train_ws *ws, const dw_job *j, size_t work, fc_error *err) {
    const fc_dwlanes_geom *g = &j->g;
    int threads = fc_train_threads(ws, work), avx2 = fc_train_use_avx2(ws);
    int tc = task_channels(g->C, threads), tasks = (g->C + tc - 1) / tc;
    size_t per = j->back ? fc_dwlanes_back_scratch(g, tc) : fc_dwlanes_fwd_scratch(g, tc);
    float *scratch = fc_train_scratch(ws, per * (size_t)threads, err);
    if (!scratch) return FC_ENOMEM;
    fc_dwlanes_fwd_fn fwd = avx2 ? fc_dwlanes_fwd_avx2 : fc_dwlanes_fwd_generic;
    fc_dwlanes_back_fn back = avx2 ? fc_dwlanes_back_avx2 : fc_dwlanes_back_generic;
#pragma omp parallel num_threads(threads)
    {
        float *mine = scratch + per * (size_t)omp_get_thread_num();
#pragma omp for schedule(dynamic, 1)
        for (int t = 0; t < tasks; t++) {
            int c0 = t * tc, c1 = c0 + tc < g->C ? c0 + tc : g->C;
            if (j->back)
                back(g, c0, c1, j->inp, j->dout, j->weight, j->act, j->out, j->dweight, j->dbias, mine);
            else
                fwd(g, c0, c1, j->inp, j->weight, j->bias, j->act, j->out, mine);
        }
    }
    return 0;
}

int fc_train_dw_forward(fc_train_ws *ws, float *out, const float *inp, const float *weight,
                        const float *bias, int N, int C, int H, int W, int OH, int OW,
                        const fc_win2d *w, const fc_act *act, fc_error *err) {
    // inp is (N,C,H,W), weight is (C,1,kh,kw), bias is (C) or NULL; out will be (N,C,OH,OW)
    dw_job j = {.inp = inp, .weight = weight, .bias = bias, .out = out,
                .act = act && act->kind != FC_ACT_NONE ? act : NULL};
    geom_of(&j.g, N, C, H, W, OH, OW, w);
    return run_tasks(ws, &j, (size_t)N * C * OH * OW * w->kh * w->kw, err);
}

int fc_train_dw_backward(fc_train_ws *ws, float *dinp, float *dweight, float *dbias,
                         const float *dout, const float *inp, const float *weight, int N, int C,
                         int H, int W, int OH, int OW, const fc_win2d *w, const fc_act *in_act,
                         fc_error *err) {
    // dout is (N,C,OH,OW); dinp will be (N,C,H,W), dweight (C,1,kh,kw), dbias (C)
    if (!dinp && !dweight && !dbias) return 0;
    dw_job j = {.back = 1, .inp = inp, .dout = dout, .weight = weight, .act = in_act, .out = dinp,
                .dweight = dweight, .dbias = dbias};
    geom_of(&j.g, N, C, H, W, OH, OW, w);
    return run_tasks(ws, &j, (size_t)N * C * H * W * w->kh * w->kw, err);
}
