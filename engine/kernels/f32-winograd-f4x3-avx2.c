/* AVX2+FMA f32 Winograd F(4x4, 3x3) input and output transforms (the contract is in kernels.h),
 * eight tiles per vector: the rows of eight tiles' windows are transposed so that each vector holds
 * one window element of eight tiles; the 1-D transforms (rows first, then columns, as the scalar
 * twin does) and the output transform (two tiles' 4-pixel rows per vector) are
 * f32-winograd-f4x3-impl.h's. Lanes never mix, so a tile's result does not depend on its lane.
 * Panels of 16 tiles (the AVX2 table; the AVX-512 ones have f32-winograd-f4x3-avx512.c). Compiled
 * with -mavx2 -mfma. Not here: the weight transform and the GEMMs between the transforms
 * (ops/conv_winograd.c). */
#include <math.h>

#include "engine/kernels/internal.h"
#include "engine/kernels/simd-avx2.h"
#include "engine/kernels/f32-act-vec.h"

/* Rows at offset off of tiles t[0] and t[4] (the quarters of a vector, f32-winograd-f4x3-impl.h). */
FC_INLINE vf res_rows(const fc_wino_out *t, ptrdiff_t off) { return _mm256_loadu2_m128(t[4].res + off, t[0].res + off); }
FC_INLINE void store_rows(const fc_wino_out *t, ptrdiff_t off, vf v) { _mm256_storeu2_m128(t[4].dst + off, t[0].dst + off, v); }

#include "engine/kernels/f32-winograd-f4x3-impl.h"

/* Input transform of lanes [g, g + 8) of a panel of nr lanes; tiles past nt give zeros. Every load is
 * a masked load (rows outside the window get an empty mask, which reads nothing), so the loop has no
 * branches; the rows of channel c + 2 are prefetched while channel c is transformed. */
static void input_group(int C, ptrdiff_t cs, ptrdiff_t W, const fc_wino_in *t, int nt, int g, int nr,
                        float *V, ptrdiff_t vs) {
    vmask rm[6][8];
    const float *src[8];
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    for (int l = 0; l < 8; l++) {
        int ok = g + l < nt;
        const fc_wino_in *ti = &t[ok ? g + l : g];
        src[l] = ti->src;
        /* columns [c0, c1) of the window (lanes 6, 7 never) */
        vmask cm = _mm256_and_si256(_mm256_cmpgt_epi32(lane, _mm256_set1_epi32(ti->c0 - 1)),
                                    _mm256_cmpgt_epi32(_mm256_set1_epi32(ti->c1 < 6 ? ti->c1 : 6), lane));
        for (int r = 0; r < 6; r++)
            rm[r][l] = ok && r >= ti->r0 && r < ti->r1 ? cm : _mm256_setzero_si256();
    }
    for (int c = 0; c < C; c++) {
        if (c + 2 < C)
            for (int l = 0; l < 8; l++)
                for (int r = 0; r < 6; r++) v_prefetch(src[l] + (c + 2) * cs + r * W);
        vf u[6][6];
FC_UNROLL(6)
        for (int r = 0; r < 6; r++) {
            vf x[8];
FC_UNROLL(8)
            for (int l = 0; l < 8; l++) x[l] = v_loadm(src[l] + c * cs + r * W, rm[r][l]);
            v_transpose8(x);
            bt6(x, u[r]);
        }
        input_columns(u, V + (ptrdiff_t)c * nr + g, vs);
    }
}

void fc_f32_winograd_f4x3_input_16__avx2(int C, ptrdiff_t cs, ptrdiff_t W, const fc_wino_in *t,
                                         int nt, float *V, ptrdiff_t vs) {
    input_panel(16, C, cs, W, t, nt, V, vs);
}

void fc_f32_winograd_f4x3_output__avx2(int M, const float *X, ptrdiff_t xs, ptrdiff_t ms,
                                       const fc_wino_out *t, int nt, ptrdiff_t cs, ptrdiff_t W,
                                       const float *bias, const fc_act *act) {
    output_tiles(M, X, xs, ms, t, nt, cs, W, bias, act);
}
