/* The sum of a plane of floats in a fixed order, shared by GlobalAveragePool (pool.c) and the
 * depthwise block that computes its own output's pooled sums as its bands are written
 * (conv_block.c): 16 lane sums, lane j adding the plane's elements j, j + 16, j + 32, ... in
 * order, then combined pairwise. Adding the plane in pieces ([0, a), [a, b), ... in order) gives
 * the same bits as adding it whole, which is what lets the block's banded sums match the pool's.
 * The lanes vectorize (one running sum was a chain of dependent adds, 3-4 cycles per element). */
#ifndef FC_PLANE_SUM_H
#define FC_PLANE_SUM_H

#include <stdint.h>

/* lanes (16) += plane elements [i0, i1) of x (x is the plane's start). The whole groups of 16 go
 * through four 4-float vectors held in registers (GCC/Clang vector types: plain SSE2 code, and the
 * same additions lane by lane as the scalar loops). */
typedef float fc_plane_v4 __attribute__((vector_size(16)));

static inline void fc_plane_lanes_add(float *lanes, const float *x, int64_t i0, int64_t i1) {
    int64_t i = i0;
    for (; i < i1 && (i & 15); i++) lanes[i & 15] += x[i];
    if (i + 16 <= i1) {
        fc_plane_v4 a0, a1, a2, a3, v0, v1, v2, v3;
        __builtin_memcpy(&a0, lanes, 16), __builtin_memcpy(&a1, lanes + 4, 16);
        __builtin_memcpy(&a2, lanes + 8, 16), __builtin_memcpy(&a3, lanes + 12, 16);
        for (; i + 16 <= i1; i += 16) {
            __builtin_memcpy(&v0, x + i, 16), __builtin_memcpy(&v1, x + i + 4, 16);
            __builtin_memcpy(&v2, x + i + 8, 16), __builtin_memcpy(&v3, x + i + 12, 16);
            a0 += v0, a1 += v1, a2 += v2, a3 += v3;
        }
        __builtin_memcpy(lanes, &a0, 16), __builtin_memcpy(lanes + 4, &a1, 16);
        __builtin_memcpy(lanes + 8, &a2, 16), __builtin_memcpy(lanes + 12, &a3, 16);
    }
    for (; i < i1; i++) lanes[i & 15] += x[i];
}

/* The lanes' total (pairwise: 8, 4, 2, 1); the lanes are overwritten. */
static inline float fc_plane_lanes_total(float *lanes) {
    for (int w = 8; w >= 1; w /= 2)
        for (int j = 0; j < w; j++) lanes[j] += lanes[j + w];
    return lanes[0];
}

/* The mean of a plane of n floats, as GlobalAveragePool gives it (0 for an empty plane). */
static inline float fc_plane_mean(const float *x, int64_t n) {
    float lanes[16] = {0};
    fc_plane_lanes_add(lanes, x, 0, n);
    return n ? fc_plane_lanes_total(lanes) / (float)n : 0.f;
}

/* y[p] = the mean of plane p of x (planes of n floats): GlobalAveragePool, and a depthwise block's
 * pooled output where its bands did not sum the planes. threads: OpenMP threads, used only for
 * enough work; the result does not depend on them. */
static inline void fc_plane_means(const float *x, int64_t planes, int64_t n, float *y, int threads) {
#pragma omp parallel for num_threads(threads) schedule(static) if (planes * n > 65536)
    for (int64_t p = 0; p < planes; p++) y[p] = fc_plane_mean(x + p * n, n);
}

#endif
