/* Per-sample arithmetic shared by the portable and AVX2 resize passes (extract/resize.c and
 * extract/resize-avx2.c), so that their edges and tails compute exactly what the vector
 * bodies do. Internal. */
#ifndef FC_RESIZE_IMPL_H
#define FC_RESIZE_IMPL_H

#include <stdint.h>

#include "extract/resize.h"

/* Pillow's clip8: rounding bias already in acc; negative -> 0, above 255 << bits -> 255. */
static inline uint8_t fc_resize_clip8(int32_t acc) {
    if (acc <= 0) return 0;
    acc >>= FC_RESIZE_PRECISION_BITS;
    return acc > 255 ? 255 : (uint8_t)acc;
}

/* Horizontal output pixel x of one interleaved RGB row s into planes r, g, b (at column x). */
static inline void fc_resize_h_pixel(const uint8_t *s, const fc_resize_axis *ax, int x, uint8_t *r,
                                     uint8_t *g, uint8_t *b) {
    const int32_t *k = ax->k + (size_t)x * ax->ksize;
    const uint8_t *sp = s + (size_t)ax->first[x] * 3;
    int32_t ar = 1 << (FC_RESIZE_PRECISION_BITS - 1), ag = ar, ab = ar;
    for (int j = 0, n = ax->n[x]; j < n; j++) {
        ar += sp[3 * j + 0] * k[j];
        ag += sp[3 * j + 1] * k[j];
        ab += sp[3 * j + 2] * k[j];
    }
    r[x] = fc_resize_clip8(ar);
    g[x] = fc_resize_clip8(ag);
    b[x] = fc_resize_clip8(ab);
}

/* Vertical output sample (y, x) of a plane (rows of W bytes starting at source row row0). */
static inline uint8_t fc_resize_v_sample(const uint8_t *plane, int row0, int W, const fc_resize_axis *ay,
                                         int y, int x) {
    const int32_t *k = ay->k + (size_t)y * ay->ksize;
    const uint8_t *s = plane + (size_t)(ay->first[y] - row0) * W + x;
    int32_t acc = 1 << (FC_RESIZE_PRECISION_BITS - 1);
    for (int j = 0, n = ay->n[y]; j < n; j++) acc += s[(size_t)j * W] * k[j];
    return fc_resize_clip8(acc);
}

#endif
