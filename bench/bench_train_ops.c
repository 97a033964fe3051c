/* Benchmark (not a test): forward and backward milliseconds of the training ops (engine/train) on the
 * layer shapes of MobileNetV2's top from the 14x14 cut (features.11-18 + head), plus a 3x3 conv and
 * BatchNorm of the kind the new conv blocks use, and the step total estimated as the sum over the
 * top's ops with their multiplicities (every conv + ReLU6, residual adds, pooling, the head, AdamW).
 * Each figure is the median of 9 timed runs (best in brackets) after a warm-up; conv backward
 * computes dinp, dweight and dbias (the first conv of the top needs no dinp: counted without).
 *   make bench && build/bench/bench_train_ops [batch (32)] [threads (2)]   (BENCH_CPU=1: CPU time)
 * scripts/bench_train_ops_torch.py times the same shapes with PyTorch. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/train/train_ops.h"
#include "tests/support/timing.h"

enum { CONV, CLIP, ADD, GAP, LINEAR, BN, ADAMW };

typedef struct op_case {
    const char *name;
    int kind, count; /* count: times the op occurs in the top (0: not part of it) */
    int C, OC, groups, H, W, k, s; /* conv: C->OC, groups, H x W input, k x k kernel, stride s */
    int first;                     /* the top's first conv: no dinp */
} op_case;

#define CV(name, count, C, OC, g, H, k, s, first) {name, CONV, count, C, OC, g, H, H, k, s, first}
static const op_case OPS[] = {
    CV("conv 1x1 64->384 14x14", 1, 64, 384, 1, 14, 1, 1, 1),
    CV("dw 3x3 384 14x14", 1, 384, 384, 384, 14, 3, 1, 0),
    CV("conv 1x1 384->96 14x14", 1, 384, 96, 1, 14, 1, 1, 0),
    CV("conv 1x1 96->576 14x14", 3, 96, 576, 1, 14, 1, 1, 0),
    CV("dw 3x3 576 14x14", 2, 576, 576, 576, 14, 3, 1, 0),
    CV("conv 1x1 576->96 14x14", 2, 576, 96, 1, 14, 1, 1, 0),
    CV("dw 3x3 576 s2 14->7", 1, 576, 576, 576, 14, 3, 2, 0),
    CV("conv 1x1 576->160 7x7", 1, 576, 160, 1, 7, 1, 1, 0),
    CV("conv 1x1 160->960 7x7", 3, 160, 960, 1, 7, 1, 1, 0),
    CV("dw 3x3 960 7x7", 3, 960, 960, 960, 7, 3, 1, 0),
    CV("conv 1x1 960->160 7x7", 2, 960, 160, 1, 7, 1, 1, 0),
    CV("conv 1x1 960->320 7x7", 1, 960, 320, 1, 7, 1, 1, 0),
    CV("conv 1x1 320->1280 7x7", 1, 320, 1280, 1, 7, 1, 1, 0),
    {"relu6 384x14x14", CLIP, 2, 384, 0, 0, 14, 14, 0, 0, 0},
    {"relu6 576x14x14", CLIP, 5, 576, 0, 0, 14, 14, 0, 0, 0},
    {"relu6 576x7x7", CLIP, 1, 576, 0, 0, 7, 7, 0, 0, 0},
    {"relu6 960x7x7", CLIP, 6, 960, 0, 0, 7, 7, 0, 0, 0},
    {"relu6 1280x7x7", CLIP, 1, 1280, 0, 0, 7, 7, 0, 0, 0},
    {"add 96x14x14", ADD, 2, 96, 0, 0, 14, 14, 0, 0, 0},
    {"add 160x7x7", ADD, 2, 160, 0, 0, 7, 7, 0, 0, 0},
    {"gap 1280x7x7", GAP, 1, 1280, 0, 0, 7, 7, 0, 0, 0},
    {"linear 1280->100", LINEAR, 1, 1280, 100, 0, 1, 1, 0, 0, 0},
    {"adamw 2.1M params", ADAMW, 1, 2100000, 0, 0, 1, 1, 0, 0, 0},
    CV("conv 3x3 96->96 14x14 (new block)", 0, 96, 96, 1, 14, 3, 1, 0),
    {"batchnorm 96x14x14 (new block)", BN, 0, 96, 0, 0, 14, 14, 0, 0, 0},
};

/* Wall clock, or with BENCH_CPU=1 the process's CPU time (all threads). */
static int use_cpu;

static double now(void) { return fc_bench_now(use_cpu); }

static float *buf(size_t n) {
    float *p = malloc((n ? n : 1) * sizeof(float));
    if (!p) abort();
    for (size_t i = 0; i < n; i++) p[i] = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.3f;
    return p;
}

typedef struct bufs {
    float *x, *y, *dx, *dy, *w, *dw, *b, *db, *m, *v;
    size_t nx, ny, nw;
} bufs;

/* One forward (dir 0) or backward (dir 1) of op o. */
static int run(fc_train_ws *ws, const op_case *o, int N, bufs *B, int dir, fc_error *err) {
    fc_act relu6 = {FC_ACT_CLIP, 0, 6};
    int HW = o->H * o->W, targets[1024] = {0};
    switch (o->kind) {
    case CONV: {
        int p = o->k / 2;
        fc_conv2d cv = {.C = o->C, .OC = o->OC, .groups = o->groups, .win = {o->k, o->k, o->s, o->s, 1, 1, p, p, p, p}};
        if (!dir) return fc_conv2d_forward(ws, B->y, B->x, B->w, B->b, N, o->H, o->W, &cv, err);
        return fc_conv2d_backward(ws, o->first ? NULL : B->dx, B->dw, B->db, B->dy, B->x, B->w, N, o->H, o->W,
                                  &cv, err);
    }
    case CLIP:
        if (!dir) return fc_act_forward(ws, B->y, B->x, B->nx, &relu6, err);
        return fc_act_backward(ws, B->dx, B->dy, B->x, B->nx, &relu6, err);
    case ADD:
        if (!dir) return fc_add_forward(ws, B->y, B->x, B->dx, B->nx, err);
        return fc_add_forward(ws, B->dx, B->dy, B->y, B->nx, err); /* a gradient sum: add's real cost */
    case GAP:
        if (!dir) return fc_gap_forward(ws, B->y, B->x, N, o->C, HW, err);
        return fc_gap_backward(ws, B->dx, B->dy, N, o->C, HW, err);
    case LINEAR: {
        if (!dir) return fc_linear_forward(ws, B->y, B->x, B->w, B->b, N, o->C, o->OC, err);
        float loss;
        int rc = fc_crossentropy_forward(ws, &loss, B->m, B->y, targets, N, o->OC, err);
        rc = rc ? rc : fc_crossentropy_backward(ws, B->dy, B->m, targets, N, o->OC, 1.0f, err);
        return rc ? rc : fc_linear_backward(ws, B->dx, B->dw, B->db, B->dy, B->x, B->w, N, o->C, o->OC, err);
    }
    case BN:
        if (!dir)
            return fc_batchnorm_forward(ws, B->y, B->m, B->v, B->b, B->db, B->x, B->w, B->dw, N, o->C, HW, 1e-5f,
                                        0.1f, err);
        return fc_batchnorm_backward(ws, B->dx, B->w + o->C, B->dw + o->C, B->dy, B->x, B->m, B->v, B->w, N, o->C,
                                     HW, err);
    case ADAMW: {
        fc_adamw a = {1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f};
        return dir ? 0 : fc_adamw_step(ws, B->w, B->m, B->v, B->dw, B->nw, &a, 1, 1.0f, err);
    }
    }
    return 0;
}

static void sizes(const op_case *o, int N, bufs *B) {
    int HW = o->H * o->W;
    B->nx = (size_t)N * o->C * HW, B->ny = B->nx, B->nw = 4 * (size_t)o->C + 16;
    if (o->kind == CONV) {
        int OH = (o->H + 2 * (o->k / 2) - o->k) / o->s + 1;
        B->ny = (size_t)N * o->OC * OH * OH, B->nw = (size_t)o->OC * (o->C / o->groups) * o->k * o->k;
    } else if (o->kind == GAP) {
        B->ny = (size_t)N * o->C;
    } else if (o->kind == LINEAR) {
        B->nx = (size_t)N * o->C, B->ny = (size_t)N * o->OC, B->nw = (size_t)o->OC * o->C;
    } else if (o->kind == ADAMW) {
        B->nx = B->ny = 1, B->nw = (size_t)o->C;
    }
}

/* Median (and best) milliseconds of 9 runs of direction dir; -1 on error. */
static double time_op(fc_train_ws *ws, const op_case *o, int N, bufs *B, int dir, double *best) {
    double t[9];
    fc_error err;
    if (run(ws, o, N, B, dir, &err)) {
        printf("%s: %s\n", o->name, err.msg);
        return -1;
    }
    for (int r = 0; r < 9; r++) {
        double t0 = now();
        run(ws, o, N, B, dir, &err);
        t[r] = now() - t0;
    }
    double med = fc_bench_median(t, 9, best);
    *best *= 1e3;
    return med * 1e3;
}

int main(int argc, char **argv) {
    int N = argc > 1 ? atoi(argv[1]) : 32, threads = argc > 2 ? atoi(argv[2]) : 2;
    if (N < 1 || N > 1024) N = 32;
    use_cpu = getenv("BENCH_CPU") && atoi(getenv("BENCH_CPU"));
    fc_train_ws ws;
    fc_train_ws_init(&ws, threads);
    printf("training ops, batch %d, %d threads, kernels %s, %s (median of 9 runs [best])\n", N, ws.threads,
           ws.k->name, use_cpu ? "CPU time of all threads" : "wall clock");
    double total = 0;
    for (size_t i = 0; i < sizeof OPS / sizeof OPS[0]; i++) {
        const op_case *o = &OPS[i];
        bufs B;
        sizes(o, N, &B);
        size_t big = B.nx > B.ny ? B.nx : B.ny;
        B.x = buf(B.nx), B.y = buf(big), B.dx = buf(big), B.dy = buf(B.ny);
        B.w = buf(B.nw), B.dw = buf(B.nw), B.b = buf(B.nw), B.db = buf(B.nw);
        B.m = buf(B.ny > B.nw ? B.ny : B.nw), B.v = buf(B.nw);
        for (size_t j = 0; j < B.nw; j++) B.v[j] = 1.0f; /* AdamW: positive second moments */
        double bf, bb, f = time_op(&ws, o, N, &B, 0, &bf), b = time_op(&ws, o, N, &B, 1, &bb);
        if (f >= 0 && b >= 0) {
            printf("%-36s x%d  forward %8.3f ms [%8.3f]  backward %8.3f ms [%8.3f]\n", o->name, o->count, f, bf, b,
                   bb);
            total += o->count * (f + b);
        }
        free(B.x), free(B.y), free(B.dx), free(B.dy), free(B.w), free(B.dw), free(B.b), free(B.db), free(B.m),
            free(B.v);
    }
    printf("top of MobileNetV2 from the 14x14 cut, one step (sum of the ops above): %.2f ms = %.1f images/s\n",
           total, N / total * 1e3);
    fc_train_ws_free(&ws);
    return 0;
}
