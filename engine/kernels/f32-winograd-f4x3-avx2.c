/* AVX2+FMA f32 Winograd F(4x4, 3x3) input and output transforms (the contract is in kernels.h),
 * eight tiles per vector: the rows of eight tiles' windows are transposed so that each vector holds
 * one window element of eight tiles, the 1-D transforms run on whole vectors (rows first, then
 * columns, as the scalar twin does), and the output transform transposes back to four-pixel rows
 * per tile. Lanes never mix, so a tile's result does not depend on its lane. Panels of 16 tiles (the
 * AVX2 table; the AVX-512 ones have f32-winograd-f4x3-avx512.c). Compiled with -mavx2 -mfma. Not
 * here: the weight transform and the GEMMs between the transforms (ops/conv.c). */
#include <math.h>

#include "engine/kernels/internal.h"
#include "engine/kernels/simd-avx2.h"
#include "engine/kernels/f32-act-vec.h"
#include "engine/kernels/f32-winograd-f4x3-impl.h"

/* Input transform of lanes [g, g + 8) of a panel of nr lanes; tiles past nt give zeros. Every load is
 * a masked load (rows outside the window get an empty mask, which reads nothing), so the loop has no
 * branches; the rows of channel c + 2 are prefetched while channel c is transformed. */
static void input8(int C, ptrdiff_t cs, ptrdiff_t W, const fc_wino_in *t, int nt, int g, int nr,
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

static void wino_input_nr(int nr, int C, ptrdiff_t cs, ptrdiff_t W, const fc_wino_in *t, int nt,
                          float *V, ptrdiff_t vs) {
    for (int g = 0; g < nr; g += 8) {
        if (g >= nt) { /* whole group past the tiles: zeros */
            for (int c = 0; c < C; c++)
                for (int xi = 0; xi < 36; xi++) v_store(V + xi * vs + (ptrdiff_t)c * nr + g, v_zero());
            continue;
        }
        input8(C, cs, W, t, nt, g, nr, V, vs);
    }
}

void fc_f32_winograd_f4x3_input_16__avx2(int C, ptrdiff_t cs, ptrdiff_t W, const fc_wino_in *t,
                                         int nt, float *V, ptrdiff_t vs) {
    wino_input_nr(16, C, cs, W, t, nt, V, vs);
}


/* Output transform of tiles [g, g + n), n <= 8, for all M channels; kind is a compile-time constant
 * at the call sites. Whole tiles of a full group take the branch-free path: two tiles' 4-pixel rows
 * per vector, stored as two halves. */
FC_INLINE void output8_kind(const int kind, int M, const float *X, ptrdiff_t xs, ptrdiff_t ms,
                            const fc_wino_out *t, int g, int n, ptrdiff_t cs, ptrdiff_t W,
                            const float *bias, const fc_act *act) {
    vf aa = v_set1(act ? act->a : 0.f), ab = v_set1(act ? act->b : 0.f);
    int full = n == 8, res = t[g].res != NULL;
    for (int l = 0; l < n; l++) full &= t[g + l].rows == 4 && t[g + l].cols == 4;
    for (int m = 0; m < M; m++) {
        vf y[4][4];
        output_points(X + m * ms + g, xs, y);
        vf bv = v_bcast(bias + m);
FC_UNROLL(4)
        for (int i = 0; i < 4; i++) {
            /* 4 vectors (column j, lanes = tiles) -> per tile a 4-pixel row: vector k holds tile k in
             * its low half and tile k + 4 in its high half */
            vf t0 = _mm256_unpacklo_ps(y[i][0], y[i][1]), t1 = _mm256_unpackhi_ps(y[i][0], y[i][1]);
            vf t2 = _mm256_unpacklo_ps(y[i][2], y[i][3]), t3 = _mm256_unpackhi_ps(y[i][2], y[i][3]);
            vf p[4] = {_mm256_shuffle_ps(t0, t2, 0x44), _mm256_shuffle_ps(t0, t2, 0xEE),
                       _mm256_shuffle_ps(t1, t3, 0x44), _mm256_shuffle_ps(t1, t3, 0xEE)};
            ptrdiff_t off = m * cs + i * W;
            if (full) {
FC_UNROLL(4)
                for (int k = 0; k < 4; k++) {
                    vf v = v_add(p[k], bv);
                    if (res) v = v_add(v, _mm256_loadu2_m128(t[g + k + 4].res + off, t[g + k].res + off));
                    v = v_act_kind(kind, v, aa, ab);
                    _mm256_storeu2_m128(t[g + k + 4].dst + off, t[g + k].dst + off, v);
                }
                continue;
            }
            for (int k = 0; k < 4; k++) {
                /* per half: a whole row of a tile moves as 4 floats, a cut one element-wise */
                __m128 rh[2], vh[2];
                int cols[2];
                for (int h = 0; h < 2; h++) {
                    int l = k + 4 * h;
                    const fc_wino_out *o = &t[g + (l < n ? l : 0)];
                    cols[h] = l < n && i < o->rows ? o->cols : 0;
                    if (!res || cols[h] == 0) rh[h] = _mm_setzero_ps();
                    else if (cols[h] == 4) rh[h] = _mm_loadu_ps(o->res + off);
                    else {
                        _Alignas(16) float r4[4] = {0};
                        for (int j = 0; j < cols[h]; j++) r4[j] = o->res[off + j];
                        rh[h] = _mm_load_ps(r4);
                    }
                }
                vf v = v_add(v_add(p[k], bv), _mm256_set_m128(rh[1], rh[0]));
                v = v_act_kind(kind, v, aa, ab);
                vh[0] = _mm256_castps256_ps128(v), vh[1] = _mm256_extractf128_ps(v, 1);
                for (int h = 0; h < 2; h++) {
                    if (!cols[h]) continue; /* lane past the last tile: its entry is not set */
                    float *d = t[g + k + 4 * h].dst + off;
                    if (cols[h] == 4) {
                        _mm_storeu_ps(d, vh[h]);
                    } else {
                        _Alignas(16) float o4[4];
                        _mm_store_ps(o4, vh[h]);
                        for (int j = 0; j < cols[h]; j++) d[j] = o4[j];
                    }
                }
            }
        }
    }
}

static void output8(int M, const float *X, ptrdiff_t xs, ptrdiff_t ms, const fc_wino_out *t, int g,
                    int n, ptrdiff_t cs, ptrdiff_t W, const float *bias, const fc_act *act) {
    switch (act ? act->kind : FC_ACT_NONE) {
    case FC_ACT_NONE: output8_kind(FC_ACT_NONE, M, X, xs, ms, t, g, n, cs, W, bias, act); return;
    case FC_ACT_RELU: output8_kind(FC_ACT_RELU, M, X, xs, ms, t, g, n, cs, W, bias, act); return;
    case FC_ACT_CLIP: output8_kind(FC_ACT_CLIP, M, X, xs, ms, t, g, n, cs, W, bias, act); return;
    case FC_ACT_LEAKY: output8_kind(FC_ACT_LEAKY, M, X, xs, ms, t, g, n, cs, W, bias, act); return;
    case FC_ACT_SIGMOID: output8_kind(FC_ACT_SIGMOID, M, X, xs, ms, t, g, n, cs, W, bias, act); return;
    case FC_ACT_HARDSIGMOID: output8_kind(FC_ACT_HARDSIGMOID, M, X, xs, ms, t, g, n, cs, W, bias, act); return;
    case FC_ACT_HARDSWISH: output8_kind(FC_ACT_HARDSWISH, M, X, xs, ms, t, g, n, cs, W, bias, act); return;
    case FC_ACT_SILU: output8_kind(FC_ACT_SILU, M, X, xs, ms, t, g, n, cs, W, bias, act); return;
    }
}

void fc_f32_winograd_f4x3_output__avx2(int M, const float *X, ptrdiff_t xs, ptrdiff_t ms,
                                       const fc_wino_out *t, int nt, ptrdiff_t cs, ptrdiff_t W,
                                       const float *bias, const fc_act *act) {
    for (int g = 0; g < nt; g += 8) output8(M, X, xs, ms, t, g, nt - g < 8 ? nt - g : 8, cs, W, bias, act);
}
