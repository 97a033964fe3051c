/* fc_peak_gflops and fc_peak_bf16_gflops: time one ISA's multiply-add loop (f32-peak-<isa>.c,
 * bf16-peak-avx512bf16.c) on all threads (see peak.h). */
#include "engine/kernels/peak.h"

#include <omp.h>
#include <string.h>

#include "engine/kernels/internal.h"

static float scalar_loop(long n) {
    float c[12];
    for (int i = 0; i < 12; i++) c[i] = (float)i;
    for (long it = 0; it < n; it++)
        for (int i = 0; i < 12; i++) c[i] = c[i] * 0.999999f + 1e-7f;
    float s = 0;
    for (int i = 0; i < 12; i++) s += c[i];
    return s;
}

/* GFLOP/s of `loop`, which does flops_per_it flops per iteration on one thread. */
static double time_loop(float (*loop)(long), double flops_per_it, int threads, double seconds) {
    long n = 1000;
    double best = 0;
    volatile float sink = 0;
    for (;;) { /* grow n until one pass takes ~1/5 of the budget, then keep the best of 5 */
        double t0 = omp_get_wtime();
#pragma omp parallel num_threads(threads)
        { float r = loop(n); if (r == 12345.f) sink = r; }
        double dt = omp_get_wtime() - t0;
        if (dt > seconds / 5 || n > (1L << 40)) {
            for (int rep = 0; rep < 5; rep++) {
                t0 = omp_get_wtime();
#pragma omp parallel num_threads(threads)
                { float r = loop(n); if (r == 12345.f) sink = r; }
                dt = omp_get_wtime() - t0;
                double g = (double)n * flops_per_it * threads / dt / 1e9;
                if (g > best) best = g;
            }
            break;
        }
        n *= 4;
    }
    (void)sink;
    return best;
}

double fc_peak_gflops(const fc_kernels *k, int threads, double seconds) {
    float (*loop)(long) = scalar_loop;
    int lanes = 1;
    if (!strcmp(k->name, "avx2")) { loop = fc_f32_peak_12x8__avx2; lanes = 8; }
    else if (!strncmp(k->name, "avx512", 6)) { loop = fc_f32_peak_12x16__avx512; lanes = 16; }
    return time_loop(loop, 12.0 * lanes * 2, threads, seconds);
}

double fc_peak_bf16_gflops(int threads, double seconds) {
    if (!fc_kernels_bf16()) return 0;
    return time_loop(fc_bf16_peak_12x32__avx512bf16, 12.0 * 32 * 2, threads, seconds);
}
