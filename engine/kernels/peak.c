/* fc_peak_gflops: times the ISA's FMA loop (f32-peak-<isa>.c) on all threads (see peak.h). */
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

double fc_peak_gflops(const fc_kernels *k, int threads, double seconds) {
    float (*loop)(long) = scalar_loop;
    int lanes = 1;
    if (!strcmp(k->name, "avx2")) { loop = fc_f32_peak_12x8__avx2; lanes = 8; }
    else if (!strcmp(k->name, "avx512")) { loop = fc_f32_peak_12x16__avx512; lanes = 16; }
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
                double g = (double)n * 12 * lanes * 2 * threads / dt / 1e9;
                if (g > best) best = g;
            }
            break;
        }
        n *= 4;
    }
    (void)sink;
    return best;
}
