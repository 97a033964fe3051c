/* AVX-512 VBMI horizontal pass of the Pillow-exact bilinear resize (see extract/resize.h): 16
 * output samples per vector with the same int32 arithmetic as the portable code, so results are
 * identical. A block of 16 outputs whose taps lie within 128 bytes of the row (downscales up to
 * about 2.4x, most photos to 224 px) loads those bytes once per row with two masked loads (nothing
 * past the row is read) and gives each tap its R, G and B bytes, zero-extended into the 16 lanes,
 * by one VPERMI2B each, with indices made once per block: no gathers. Wider blocks and filters
 * take the AVX2 table's pass. The vertical pass is the AVX2 table's. */
#include <immintrin.h>
#include <string.h>

#include "extract/resize-impl.h"

#define SPAN 128 /* bytes of the row a block may read: two zmm, the reach of VPERMI2B */
#define MAX_TAPS 40 /* (3 * 40 > SPAN: every block that fits has fewer) */

/* The byte-0-of-each-dword mask: VPERMI2B fills only those, the other three bytes are zeroed. */
#define LOW_BYTES 0x1111111111111111ULL

/* A block of 16 outputs [x, x + 16) (lanes past ax->out idle): its taps' byte indices per channel
 * (relative to 3 * first[x]) and weights, tap-major; 0 when it does not fit SPAN or MAX_TAPS. */
typedef struct block_plan {
    __m512i idx[MAX_TAPS][3];
    __m512i w[MAX_TAPS];
    int taps, base;
} block_plan;

/* The most taps of the block at x, or 0 when its taps do not fit SPAN bytes or MAX_TAPS. */
static int block_taps(const fc_resize_axis *ax, int x) {
    int lanes = ax->out - x < 16 ? ax->out - x : 16, taps = 0;
    for (int l = 0; l < lanes; l++) taps = ax->n[x + l] > taps ? ax->n[x + l] : taps;
    int last = ax->first[x + lanes - 1] + taps; /* first[] does not decrease */
    return taps > MAX_TAPS || 3 * (last - ax->first[x]) > SPAN ? 0 : taps;
}

static void plan_block(const fc_resize_axis *ax, int x, int taps, block_plan *bp) {
    int lanes = ax->out - x < 16 ? ax->out - x : 16, base = ax->first[x];
    for (int j = 0; j < taps; j++) {
        uint8_t id[3][64] = {{0}};
        int32_t w[16] = {0};
        for (int l = 0; l < lanes; l++) {
            int rel = 3 * (ax->first[x + l] - base + j);
            if (j < ax->n[x + l]) w[l] = ax->k[(size_t)(x + l) * ax->ksize + j];
            else rel = 0; /* weight 0: any byte in the span */
            for (int c = 0; c < 3; c++) id[c][4 * l] = (uint8_t)(rel + c);
        }
        for (int c = 0; c < 3; c++) bp->idx[j][c] = _mm512_loadu_si512(id[c]);
        bp->w[j] = _mm512_loadu_si512(w);
    }
    bp->taps = taps, bp->base = base;
}

static inline __m512i clip8x16(__m512i acc) {
    acc = _mm512_max_epi32(acc, _mm512_setzero_si512());
    acc = _mm512_srai_epi32(acc, FC_RESIZE_PRECISION_BITS);
    return _mm512_min_epi32(acc, _mm512_set1_epi32(255));
}

/* The block planned in bp over every row. */
static void run_block(const uint8_t *src, size_t stride, int rows, const fc_resize_axis *ax, int x,
                      const block_plan *bp, uint8_t *planes) {
    const size_t plane = (size_t)rows * ax->out;
    int lanes = ax->out - x < 16 ? ax->out - x : 16;
    __mmask16 store = (__mmask16)((1u << lanes) - 1);
    /* the row's bytes from 3 * base on, at most SPAN of them */
    int avail = 3 * (ax->in - bp->base);
    __mmask64 m0 = avail >= 64 ? ~0ULL : (1ULL << avail) - 1;
    __mmask64 m1 = avail >= 128 ? ~0ULL : avail <= 64 ? 0 : (1ULL << (avail - 64)) - 1;
    const __m512i bias = _mm512_set1_epi32(1 << (FC_RESIZE_PRECISION_BITS - 1));
    for (int r = 0; r < rows; r++) {
        const uint8_t *s = src + (size_t)r * stride + (size_t)3 * bp->base;
        __m512i lo = _mm512_maskz_loadu_epi8(m0, s), hi = _mm512_maskz_loadu_epi8(m1, s + 64);
        __m512i ar = bias, ag = bias, ab = bias;
        for (int j = 0; j < bp->taps; j++) {
            __m512i w = bp->w[j];
            ar = _mm512_add_epi32(ar, _mm512_mullo_epi32(_mm512_maskz_permutex2var_epi8(LOW_BYTES, lo, bp->idx[j][0], hi), w));
            ag = _mm512_add_epi32(ag, _mm512_mullo_epi32(_mm512_maskz_permutex2var_epi8(LOW_BYTES, lo, bp->idx[j][1], hi), w));
            ab = _mm512_add_epi32(ab, _mm512_mullo_epi32(_mm512_maskz_permutex2var_epi8(LOW_BYTES, lo, bp->idx[j][2], hi), w));
        }
        uint8_t *d = planes + (size_t)r * ax->out + x;
        _mm512_mask_cvtepi32_storeu_epi8(d, store, clip8x16(ar));
        _mm512_mask_cvtepi32_storeu_epi8(d + plane, store, clip8x16(ag));
        _mm512_mask_cvtepi32_storeu_epi8(d + 2 * plane, store, clip8x16(ab));
    }
}

static void hpass_vbmi(const uint8_t *src, size_t stride, int rows, const fc_resize_axis *ax, uint8_t *planes) {
    for (int x = 0; x < ax->out; x += 16)
        if (!block_taps(ax, x)) { /* a wide filter: the whole pass as the AVX2 table does it */
            fc_resize_avx2.hpass(src, stride, rows, ax, planes);
            return;
        }
    block_plan bp;
    for (int x = 0; x < ax->out; x += 16) {
        plan_block(ax, x, block_taps(ax, x), &bp);
        run_block(src, stride, rows, ax, x, &bp, planes);
    }
}

const fc_resize_kernels fc_resize_avx512vbmi = {.name = "avx512vbmi", .hpass = hpass_vbmi,
                                                .vpass = fc_resize_vpass_avx2};
