/* AVX-512 f32 Winograd F(4x4, 3x3) input and output transforms (the contract is in kernels.h),
 * sixteen tiles per vector: one vector holds a window row of two tiles (tile l in the low half,
 * tile l + 8 in the high half, each a masked load), and an 8x8 transpose in both halves at once
 * turns eight of them into window elements of sixteen tiles; the 1-D transforms and the output
 * transform (four tiles' 4-pixel rows per vector) are f32-winograd-f4x3-impl.h's, the scalar twin's
 * operations. Lanes never mix, so a tile gets the bits of the AVX2 and scalar transforms. Panels of
 * 32 tiles (the avx512 tables). Compiled with the AVX-512 flags. Not here: the weight transform and
 * the GEMMs between the transforms (ops/conv_winograd.c). */
#include <math.h>

#include "engine/kernels/internal.h"
#include "engine/kernels/simd-avx512.h"
#include "engine/kernels/f32-act-vec.h"

/* Rows at offset off of tiles t[0], t[4], t[8], t[12] (the quarters of a vector,
 * f32-winograd-f4x3-impl.h). */
FC_INLINE vf res_rows(const fc_wino_out *t, ptrdiff_t off) {
    vf v = _mm512_castps128_ps512(_mm_loadu_ps(t[0].res + off));
    v = _mm512_insertf32x4(v, _mm_loadu_ps(t[4].res + off), 1);
    v = _mm512_insertf32x4(v, _mm_loadu_ps(t[8].res + off), 2);
    return _mm512_insertf32x4(v, _mm_loadu_ps(t[12].res + off), 3);
}
FC_INLINE void store_rows(const fc_wino_out *t, ptrdiff_t off, vf v) {
    _mm_storeu_ps(t[0].dst + off, _mm512_castps512_ps128(v));
    _mm_storeu_ps(t[4].dst + off, _mm512_extractf32x4_ps(v, 1));
    _mm_storeu_ps(t[8].dst + off, _mm512_extractf32x4_ps(v, 2));
    _mm_storeu_ps(t[12].dst + off, _mm512_extractf32x4_ps(v, 3));
}

#include "engine/kernels/f32-winograd-f4x3-impl.h"

/* Lanes 0-7 of r[j] = element j of the low halves of p[0..7], lanes 8-15 = of their high halves
 * (an 8x8 transpose in each 256-bit half), for j < 6. */
FC_INLINE void transpose_halves6(const vf p[8], vf r[6]) {
    const __m512i lo = _mm512_setr_epi32(0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27);
    const __m512i hi = _mm512_setr_epi32(4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31);
    vf t0 = _mm512_unpacklo_ps(p[0], p[1]), t1 = _mm512_unpackhi_ps(p[0], p[1]);
    vf t2 = _mm512_unpacklo_ps(p[2], p[3]), t3 = _mm512_unpackhi_ps(p[2], p[3]);
    vf t4 = _mm512_unpacklo_ps(p[4], p[5]), t5 = _mm512_unpackhi_ps(p[4], p[5]);
    vf t6 = _mm512_unpacklo_ps(p[6], p[7]), t7 = _mm512_unpackhi_ps(p[6], p[7]);
    vf s0 = _mm512_shuffle_ps(t0, t2, 0x44), s1 = _mm512_shuffle_ps(t0, t2, 0xEE);
    vf s2 = _mm512_shuffle_ps(t1, t3, 0x44), s3 = _mm512_shuffle_ps(t1, t3, 0xEE);
    vf s4 = _mm512_shuffle_ps(t4, t6, 0x44), s5 = _mm512_shuffle_ps(t4, t6, 0xEE);
    vf s6 = _mm512_shuffle_ps(t5, t7, 0x44), s7 = _mm512_shuffle_ps(t5, t7, 0xEE);
    r[0] = _mm512_permutex2var_ps(s0, lo, s4);
    r[1] = _mm512_permutex2var_ps(s1, lo, s5);
    r[2] = _mm512_permutex2var_ps(s2, lo, s6);
    r[3] = _mm512_permutex2var_ps(s3, lo, s7);
    r[4] = _mm512_permutex2var_ps(s0, hi, s4);
    r[5] = _mm512_permutex2var_ps(s1, hi, s5);
}

/* Input transform of lanes [g, g + 16) of a panel of nr lanes; tiles past nt give zeros. Every load
 * is masked (window elements outside the tensor read nothing and give 0); the rows of channel
 * c + 2 are prefetched while channel c is transformed. */
static void input_group(int C, ptrdiff_t cs, ptrdiff_t W, const fc_wino_in *t, int nt, int g, int nr,
                        float *V, ptrdiff_t vs) {
    vmask lm[6][8], hm[6][8]; /* row r of the pair l: lanes 0-5 of tile g + l, lanes 8-13 of g + l + 8 */
    const float *src[16];
    for (int l = 0; l < 16; l++) {
        int ok = g + l < nt;
        const fc_wino_in *ti = &t[ok ? g + l : g];
        src[l] = ti->src;
        int c1 = ti->c1 < 6 ? ti->c1 : 6;
        unsigned cm = c1 > ti->c0 ? ((1u << c1) - 1u) & ~((1u << ti->c0) - 1u) : 0u;
        for (int r = 0; r < 6; r++) {
            unsigned m = ok && r >= ti->r0 && r < ti->r1 ? cm : 0u;
            if (l < 8) lm[r][l] = (vmask)m;
            else hm[r][l - 8] = (vmask)(m << 8);
        }
    }
    for (int c = 0; c < C; c++) {
        if (c + 2 < C)
            for (int l = 0; l < 16; l++)
                for (int r = 0; r < 6; r++) v_prefetch(src[l] + (c + 2) * cs + r * W);
        vf u[6][6];
FC_UNROLL(6)
        for (int r = 0; r < 6; r++) {
            vf p[8], x[6];
FC_UNROLL(8)
            for (int l = 0; l < 8; l++) {
                /* the high half reads from 8 floats before tile l + 8's row, so that its lane 8
                 * is the row's first element (lanes below 8 are masked off and read nothing) */
                p[l] = _mm512_maskz_loadu_ps(lm[r][l], src[l] + c * cs + r * W);
                p[l] = _mm512_mask_loadu_ps(p[l], hm[r][l], src[l + 8] + c * cs + r * W - 8);
            }
            transpose_halves6(p, x);
            bt6(x, u[r]);
        }
        input_columns(u, V + (ptrdiff_t)c * nr + g, vs);
    }
}

void fc_f32_winograd_f4x3_input_32__avx512(int C, ptrdiff_t cs, ptrdiff_t W, const fc_wino_in *t, int nt,
                                           float *V, ptrdiff_t vs) {
    input_panel(32, C, cs, W, t, nt, V, vs);
}

void fc_f32_winograd_f4x3_output__avx512(int M, const float *X, ptrdiff_t xs, ptrdiff_t ms,
                                         const fc_wino_out *t, int nt, ptrdiff_t cs, ptrdiff_t W,
                                         const float *bias, const fc_act *act) {
    output_tiles(M, X, xs, ms, t, nt, cs, W, bias, act);
}
