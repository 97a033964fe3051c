/* Benchmark (not a test): GFLOP/s of sgemm_packed on ResNet-50 / MobileNetV2 layer shapes and
 * throughput of dwconv_plane (per channel) and dwconv_channels (all channels per call) on MobileNetV2
 * depthwise layers, per kernel table, single-threaded; "avx512bf16" times the bf16 GEMM of the
 * training products on the same shapes and on those of a MobileNetV2 top's training step (batch 32).
 * Each figure is measured in 15 runs; the best and the median are printed (on a shared, noisy machine
 * the best is the reproducible one).
 *   make bench && build/bench/bench_kernels [scalar|avx2|avx512|avx512bf16|bf16 ...]
 * ("bf16": the GEMM of --compute bf16, weights in pairs and f32 activations converted on the fly)
 * Environment: BENCH_SHAPE=M,N,K times that one GEMM shape; BENCH_SILU=1 gives the GEMMs a SiLU
 * epilogue instead of ReLU (EfficientNet's expansions).
 * Not a correctness check (tests/engine/test_kernels.c is). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/kernels/kernels.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static float *alloc_floats(size_t n) {
    size_t bytes = (n * sizeof(float) + 63) / 64 * 64;
    float *p = aligned_alloc(64, bytes ? bytes : 64);
    if (!p) abort();
    for (size_t i = 0; i < n; i++) p[i] = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
    return p;
}

typedef struct shape {
    const char *name;
    int M, N, K;
} shape;

static const shape gemm_shapes[] = {
    {"r50 c2 1x1 64<-64", 64, 3136, 64},       {"r50 c2 3x3 64", 64, 3136, 576},
    {"r50 c2 1x1 256<-64", 256, 3136, 64},     {"r50 c2 1x1 64<-256", 64, 3136, 256},
    {"r50 c3 3x3 128", 128, 784, 1152},        {"r50 c3 1x1 512<-128", 512, 784, 128},
    {"r50 c3 1x1 128<-512", 128, 784, 512},    {"r50 c4 3x3 256", 256, 196, 2304},
    {"r50 c4 1x1 1024<-256", 1024, 196, 256},  {"r50 c5 3x3 512", 512, 49, 4608},
    {"synthetic 512x784x4608", 512, 784, 4608}, {"synthetic 256x3136x2304", 256, 3136, 2304},
    {"mnv2 1x1 96<-16 112^2", 96, 12544, 16},  {"mnv2 1x1 144<-24 56^2", 144, 3136, 24},
    {"mnv2 1x1 32<-144 28^2", 32, 784, 144},   {"mnv2 1x1 384<-64 14^2", 384, 196, 64},
    {"mnv2 1x1 960<-160 7^2", 960, 49, 160},   {"mnv2 1x1 1280<-320 7^2", 1280, 49, 320},
    /* a training step of MobileNetV2's top at batch 32: forward, dX and dW of two 1x1 convolutions */
    {"train fwd 960<-160 b32", 960, 1568, 160}, {"train dX 160<-960 b32", 160, 1568, 960},
    {"train dW 960x160 b32", 960, 160, 1568},   {"train fwd 1280<-320 b32", 1280, 1568, 320},
    {"train dX 320<-1280 b32", 320, 1568, 1280}, {"train dW 1280x320 b32", 1280, 320, 1568},
};

/* Median-and-best timing of fn over 15 runs of at least 20 ms x reps; returns the sorted times. */
typedef void (*timed_fn)(void *ctx);

static void time_runs(timed_fn fn, void *ctx, int reps, double t[15]) {
    for (int r = 0; r < 15; r++) {
        double t0 = now();
        int it = 0;
        do {
            fn(ctx);
            it++;
        } while (now() - t0 < 0.02 * reps);
        t[r] = (now() - t0) / it;
    }
    qsort(t, 15, sizeof *t, cmp_double);
}

typedef struct bf16_run {
    const fc_bf16_kernels *k;
    const shape *s;
    const float *pa, *pb;
    float *C;
    fc_epilogue ep;
} bf16_run;

static void bf16_call(void *ctx) {
    bf16_run *r = ctx;
    r->k->gemm(r->s->M, r->s->N, r->s->K, (const uint32_t *)r->pa, (const uint32_t *)r->pb, r->C, r->s->N, &r->ep);
}

/* The bf16 GEMM: operands packed by the avx512 table (the same 12 x 32 panels) and converted. */
static void bench_gemm_bf16(const fc_bf16_kernels *k, const shape *s) {
    const fc_kernels *f = fc_kernels_by_name("avx512");
    float *A = alloc_floats((size_t)s->M * s->K), *B = alloc_floats((size_t)s->K * s->N);
    float *pa = alloc_floats(fc_kernels_packed_a_floats(f, s->M, s->K));
    float *pb = alloc_floats(fc_kernels_packed_b_floats(f, s->K, s->N));
    float *C = alloc_floats((size_t)s->M * s->N), *bias = alloc_floats(s->M);
    f->pack_a(s->M, s->K, A, s->K, 1, pa);
    f->pack_b(s->K, s->N, B, s->N, 1, pb);
    for (int p = 0; p * k->mr < s->M; p++) k->pack(pa + (size_t)p * s->K * k->mr, s->K, k->mr);
    for (int q = 0; q * k->nr < s->N; q++) k->pack(pb + (size_t)q * s->K * k->nr, s->K, k->nr);
    bf16_run r = {k, s, pa, pb, C, {bias, NULL, {FC_ACT_RELU, 0, 0}, 0}};
    double flops = 2.0 * s->M * s->N * s->K, t[15];
    time_runs(bf16_call, &r, 1, t);
    printf("%-10s %-24s M=%5d N=%5d K=%5d  best %6.2f GFLOP/s  median %6.2f\n", k->name, s->name, s->M, s->N,
           s->K, flops / t[0] * 1e-9, flops / t[7] * 1e-9);
    free(A), free(B), free(pa), free(pb), free(C), free(bias);
}

typedef struct f32_run {
    const fc_kernels *k;
    const shape *s;
    const float *pa, *pb;
    float *C;
    fc_epilogue ep;
} f32_run;

static void f32_call(void *ctx) {
    f32_run *r = ctx;
    r->k->sgemm_packed(r->s->M, r->s->N, r->s->K, r->pa, r->pb, r->C, r->s->N, 1, &r->ep);
}

static void bench_gemm(const fc_kernels *k, const shape *s, int reps) {
    float *A = alloc_floats((size_t)s->M * s->K), *B = alloc_floats((size_t)s->K * s->N);
    float *pa = alloc_floats(fc_kernels_packed_a_floats(k, s->M, s->K));
    float *pb = alloc_floats(fc_kernels_packed_b_floats(k, s->K, s->N));
    float *C = alloc_floats((size_t)s->M * s->N), *bias = alloc_floats(s->M);
    k->pack_a(s->M, s->K, A, s->K, 1, pa);
    k->pack_b(s->K, s->N, B, s->N, 1, pb);
    f32_run run = {k, s, pa, pb, C, {bias, NULL, {FC_ACT_RELU, 0, 0}, 0}};
    if (getenv("BENCH_SILU")) run.ep.act.kind = FC_ACT_SILU;
    double flops = 2.0 * s->M * s->N * s->K, t[15];
    time_runs(f32_call, &run, reps, t);
    double best = flops / t[0] * 1e-9, med = flops / t[7] * 1e-9;
    printf("%-7s %-24s M=%5d N=%5d K=%5d  best %6.2f GFLOP/s (%5.1f%% of 113)  median %6.2f\n",
           k->name, s->name, s->M, s->N, s->K, best, best / 113.0 * 100.0, med);
    free(A), free(B), free(pa), free(pb), free(C), free(bias);
}

typedef struct dwshape {
    const char *name;
    int C, H, W, K, S, P;
} dwshape;

static const dwshape dw_shapes[] = {
    {"mnv2 dw 32 112 s1", 32, 112, 112, 3, 1, 1}, {"mnv2 dw 96 112 s2", 96, 112, 112, 3, 2, 1},
    {"mnv2 dw 144 56 s1", 144, 56, 56, 3, 1, 1},  {"mnv2 dw 144 56 s2", 144, 56, 56, 3, 2, 1},
    {"mnv2 dw 192 28 s1", 192, 28, 28, 3, 1, 1},  {"mnv2 dw 384 14 s1", 384, 14, 14, 3, 1, 1},
    {"mnv2 dw 576 14 s2", 576, 14, 14, 3, 2, 1},  {"mnv2 dw 960 7 s1", 960, 7, 7, 3, 1, 1},
    {"effnet dw 5x5 240 28 s1", 240, 28, 28, 5, 1, 2}, {"effnet dw 5x5 672 14 s1", 672, 14, 14, 5, 1, 2},
    {"effnet dw 5x5 1152 7 s1", 1152, 7, 7, 5, 1, 2},  {"effnet dw 3x3 1152 7 s1", 1152, 7, 7, 3, 1, 1},
};

/* channels: 0 = dwconv_plane per channel, 1 = dwconv_channels on all channels in one call */
static void bench_dw(const fc_kernels *k, const dwshape *s, int reps, int channels) {
    int OH = (s->H + 2 * s->P - s->K) / s->S + 1, OW = (s->W + 2 * s->P - s->K) / s->S + 1;
    fc_conv2d_geom g = {s->H, s->W, s->K, s->K, s->S, s->S, s->P, s->P, 1, 1, OH, OW};
    float *in = alloc_floats((size_t)s->C * s->H * s->W), *out = alloc_floats((size_t)s->C * OH * OW);
    float *w = alloc_floats((size_t)s->C * s->K * s->K), *bias = alloc_floats((size_t)s->C);
    fc_act act = {FC_ACT_CLIP, 0.0f, 6.0f};
    double t[15];
    for (int r = 0; r < 15; r++) {
        double t0 = now();
        int it = 0;
        do {
            if (channels)
                k->dwconv_channels(&g, s->C, in, (ptrdiff_t)s->H * s->W, w, bias, &act, out,
                                   (ptrdiff_t)OH * OW, 0);
            else for (int c = 0; c < s->C; c++)
                k->dwconv_plane(&g, in + (size_t)c * s->H * s->W, w + c * s->K * s->K, 0.1f, &act,
                                out + (size_t)c * OH * OW);
            it++;
        } while (now() - t0 < 0.02 * reps);
        t[r] = (now() - t0) / it;
    }
    qsort(t, 15, sizeof *t, cmp_double);
    double px = (double)s->C * OH * OW, fl = px * 2 * s->K * s->K;
    printf("%-7s %-6s %-24s best %7.3f ms %6.2f GFLOP/s %6.3f Gpix/s  median %7.3f ms %6.2f GFLOP/s\n",
           k->name, channels ? "chans" : "plane", s->name, t[0] * 1e3, fl / t[0] * 1e-9, px / t[0] * 1e-9, t[7] * 1e3,
           fl / t[7] * 1e-9);
    free(in), free(out), free(w), free(bias);
}

int main(int argc, char **argv) {
    const char *names[3] = {"scalar", "avx2", "avx512"};
    int nn = 3;
    if (argc > 1) {
        nn = argc - 1 > 3 ? 3 : argc - 1;
        for (int i = 0; i < nn; i++) names[i] = argv[i + 1];
    }
    const char *only = getenv("BENCH_ONLY"); /* "gemm" or "dw" */
    shape custom = {"custom", 0, 0, 0};
    const char *cs = getenv("BENCH_SHAPE");
    if (cs && sscanf(cs, "%d,%d,%d", &custom.M, &custom.N, &custom.K) == 3) only = "custom";
    for (int i = 0; i < nn; i++) {
        if (!strcmp(names[i], "avx512bf16")) {
            const fc_bf16_kernels *b = fc_bf16_kernels_by_name(names[i]);
            if (!b) printf("%s: not available on this CPU\n", names[i]);
            for (size_t j = 0; b && j < sizeof gemm_shapes / sizeof *gemm_shapes; j++) bench_gemm_bf16(b, &gemm_shapes[j]);
            continue;
        }
        /* "bf16": the inference table of --compute bf16 (its GEMM only: the rest is the avx512 one) */
        const fc_kernels *k = strcmp(names[i], "bf16") ? fc_kernels_by_name(names[i]) : fc_kernels_bf16();
        if (k && !strcmp(names[i], "bf16") && !(only && !strcmp(only, "custom"))) only = "gemm";
        if (!k) {
            printf("%s: not available on this CPU\n", names[i]);
            continue;
        }
        int reps = strcmp(k->name, "scalar") == 0 ? 3 : 1;
        if (only && strcmp(only, "custom") == 0) bench_gemm(k, &custom, reps);
        if (!only || strcmp(only, "gemm") == 0)
            for (size_t j = 0; j < sizeof gemm_shapes / sizeof *gemm_shapes; j++)
                bench_gemm(k, &gemm_shapes[j], reps);
        if (!only || strcmp(only, "dw") == 0)
            for (size_t j = 0; j < sizeof dw_shapes / sizeof *dw_shapes; j++)
                for (int ch = 0; ch < 2; ch++) bench_dw(k, &dw_shapes[j], reps, ch);
    }
    return 0;
}
