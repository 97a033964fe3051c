/* AVX2 passes of the Pillow-exact bilinear resize (see extract/resize.h): 8 output samples per
 * vector with the same int32 arithmetic as the portable code, so results are identical.
 * Horizontal: the 8 outputs of a block read their taps with one 32-bit gather per tap (R, G, B and
 * one byte of the next pixel), so a block is vectorised only while that spare byte is still
 * inside the row; the right edge and rows with very wide filters use the per-pixel helper.
 * Vertical: rows of the plane are contiguous, so 8 samples load directly; the float table is read
 * with a gather. */
#include <immintrin.h>
#include <string.h>

#include "extract/resize-impl.h"

#define MAX_TAPS 64 /* wider filters (downscales beyond ~30x) take the per-pixel path */

static inline __m256i clip8x8(__m256i acc) {
    acc = _mm256_max_epi32(acc, _mm256_setzero_si256());
    acc = _mm256_srai_epi32(acc, FC_RESIZE_PRECISION_BITS);
    return _mm256_min_epi32(acc, _mm256_set1_epi32(255));
}

/* Low bytes of 8 int32 lanes (each 0..255) stored as 8 consecutive bytes. */
static inline void store8(uint8_t *d, __m256i v) {
    const __m256i lo = _mm256_setr_epi8(0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
                                        0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
    v = _mm256_shuffle_epi8(v, lo);                                         /* bytes 0-3 | 16-19 */
    v = _mm256_permutevar8x32_epi32(v, _mm256_setr_epi32(0, 4, 1, 1, 1, 1, 1, 1)); /* 0-3, 16-19 */
    _mm_storel_epi64((__m128i *)d, _mm256_castsi256_si128(v));
}

static void hpass_avx2(const uint8_t *src, size_t stride, int rows, const fc_resize_axis *ax, uint8_t *planes) {
    const int W = ax->out;
    const size_t plane = (size_t)rows * W;
    /* first[] does not decrease, so the outputs whose taps (plus the gather's spare byte) stay
     * inside the row form a prefix */
    int xv = 0;
    if (ax->ksize <= MAX_TAPS)
        while (xv < W && ax->first[xv] + ax->ksize <= ax->in - 1) xv++;
    xv &= ~7;
    const __m256i bias = _mm256_set1_epi32(1 << (FC_RESIZE_PRECISION_BITS - 1)), m8 = _mm256_set1_epi32(0xff);
    for (int x = 0; x < xv; x += 8) {
        int32_t kb[MAX_TAPS][8]; /* the block's weights, tap-major */
        int taps = 0;
        for (int l = 0; l < 8; l++) taps = ax->n[x + l] > taps ? ax->n[x + l] : taps;
        for (int j = 0; j < taps; j++)
            for (int l = 0; l < 8; l++) kb[j][l] = ax->k[(size_t)(x + l) * ax->ksize + j]; /* 0 past n */
        __m256i off = _mm256_mullo_epi32(_mm256_loadu_si256((const __m256i *)(ax->first + x)), _mm256_set1_epi32(3));
        for (int r = 0; r < rows; r++) {
            const int *s = (const int *)(src + (size_t)r * stride);
            __m256i ar = bias, ag = bias, ab = bias;
            __m256i o = off;
            for (int j = 0; j < taps; j++, o = _mm256_add_epi32(o, _mm256_set1_epi32(3))) {
                __m256i v = _mm256_i32gather_epi32(s, o, 1);
                __m256i w = _mm256_loadu_si256((const __m256i *)kb[j]);
                ar = _mm256_add_epi32(ar, _mm256_mullo_epi32(_mm256_and_si256(v, m8), w));
                ag = _mm256_add_epi32(ag, _mm256_mullo_epi32(_mm256_and_si256(_mm256_srli_epi32(v, 8), m8), w));
                ab = _mm256_add_epi32(ab, _mm256_mullo_epi32(_mm256_and_si256(_mm256_srli_epi32(v, 16), m8), w));
            }
            uint8_t *d = planes + (size_t)r * W + x;
            store8(d, clip8x8(ar));
            store8(d + plane, clip8x8(ag));
            store8(d + 2 * plane, clip8x8(ab));
        }
    }
    for (int r = 0; r < rows; r++) {
        uint8_t *pr = planes + (size_t)r * W;
        for (int x = xv; x < W; x++) fc_resize_h_pixel(src + (size_t)r * stride, ax, x, pr, pr + plane, pr + 2 * plane);
    }
}

void fc_resize_vpass_avx2(const uint8_t *plane, int row0, int W, const fc_resize_axis *ay, const float lut[256], int flip,
                       float *out) {
    const __m256i bias = _mm256_set1_epi32(1 << (FC_RESIZE_PRECISION_BITS - 1));
    const __m256i rev = _mm256_setr_epi32(7, 6, 5, 4, 3, 2, 1, 0);
    for (int y = 0; y < ay->out; y++) {
        const int32_t *k = ay->k + (size_t)y * ay->ksize;
        const uint8_t *s = plane + (size_t)(ay->first[y] - row0) * W;
        const int n = ay->n[y];
        float *d = out + (size_t)y * W;
        int x = 0;
        for (; x + 8 <= W; x += 8) {
            __m256i acc = bias;
            for (int j = 0; j < n; j++) {
                __m256i v = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(s + (size_t)j * W + x)));
                acc = _mm256_add_epi32(acc, _mm256_mullo_epi32(v, _mm256_set1_epi32(k[j])));
            }
            __m256 f = _mm256_i32gather_ps(lut, clip8x8(acc), 4);
            if (flip) _mm256_storeu_ps(d + W - 8 - x, _mm256_permutevar8x32_ps(f, rev));
            else _mm256_storeu_ps(d + x, f);
        }
        for (; x < W; x++) d[flip ? W - 1 - x : x] = lut[fc_resize_v_sample(plane, row0, W, ay, y, x)];
    }
}

const fc_resize_kernels fc_resize_avx2 = {.name = "avx2", .hpass = hpass_avx2, .vpass = fc_resize_vpass_avx2};
