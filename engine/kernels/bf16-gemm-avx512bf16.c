/* AVX512_BF16 GEMM of the training products: the in-place f32 -> bf16 pair conversion of a packed
 * panel (VCVTNE2PS2BF16) and the 12x32 microkernel driver (24 zmm accumulators; per k pair two
 * vectors of B pairs and, per row, A's pair broadcast; VDPBF16PS does 32 multiply-adds per
 * instruction, twice an f32 FMA's). Structure as the f32 driver (f32-gemm-impl.h): K cut into
 * blocks of pairs (from K alone), partial sums of later blocks added in C, A panels kept in L2 per
 * block while B panels stream through L1. Compiled with the AVX-512 flags and -mavx512bf16;
 * reached only through fc_bf16_kernels_best after the CPU was checked. Not here: packing the f32
 * panels (engine/train/gemm.c), the scalar twin (bf16-gemm-scalar.c). */
#include <assert.h>
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "engine/kernels/internal.h"
#include "engine/kernels/simd-avx512.h"
#include "engine/kernels/f32-act-vec.h"
#include "engine/kernels/bf16-pairs-avx512bf16.h"

#define MR 12
#define NR 32
#define A_BLOCK (64 * 1024) /* words of A pairs per L2 block (256 KiB) */

void fc_bf16_gemm_pack_pairs__avx512bf16(float *panel, int K, int R) {
    // panel: (K, R) f32 -> (ceil(K/2), R) words, in place: the words of pair j (at j*R) are stored
    // after its two rows (at 2j*R) were loaded, and lie at or below them
    for (int j = 0; j < (K + 1) / 2; j++) {
        const float *r0 = panel + (size_t)2 * j * R, *r1 = r0 + R;
        int two = 2 * j + 1 < K;
        for (int r = 0; r < R; r += 16) {
            __mmask16 m = (__mmask16)(R - r >= 16 ? 0xffff : (1u << (R - r)) - 1);
            __m512 lo = _mm512_maskz_loadu_ps(m, r0 + r);
            __m512 hi = two ? _mm512_maskz_loadu_ps(m, r1 + r) : _mm512_setzero_ps();
            _mm512_mask_storeu_epi32(panel + (size_t)j * R + r, m, fc_bf16_pairs16(lo, hi));
        }
    }
}

/* Everything a tile needs besides its position. */
typedef struct tile_job {
    int kb;           /* pairs of this K block */
    int first, clamp; /* the first block (bias; C not read), the last with a Relu/Clip */
    float lo, hi;
} tile_job;

/* C tile (rows, NR) = [C +] A block x B block, epilogue per job; rows (1..MR) a compile-time
 * constant at every call site. a: A panel at the block's first pair (kb, MR) words; b: B panel
 * likewise (kb, NR); c: (rows, NR) with row stride ldc; bias (rows) or NULL. */
FC_INLINE void tile(const int rows, const tile_job *job, const uint32_t *a, const uint32_t *b, float *c,
                    ptrdiff_t ldc, const float *bias) {
    vf acc[MR][2];
FC_UNROLL(12)
    for (int r = 0; r < rows; r++) {
        acc[r][0] = v_zero();
        acc[r][1] = v_zero();
    }
    const int kb = job->kb;
FC_UNROLL(2)
    for (int j = 0; j < kb; j++) {
        __m512bh b0 = (__m512bh)_mm512_loadu_si512(b + (size_t)j * NR);
        __m512bh b1 = (__m512bh)_mm512_loadu_si512(b + (size_t)j * NR + 16);
FC_UNROLL(12)
        for (int r = 0; r < rows; r++) {
            __m512bh ar = (__m512bh)_mm512_set1_epi32((int)a[(size_t)j * MR + r]);
            acc[r][0] = _mm512_dpbf16_ps(acc[r][0], ar, b0);
            acc[r][1] = _mm512_dpbf16_ps(acc[r][1], ar, b1);
        }
    }
    vf lo = v_set1(job->lo), hi = v_set1(job->hi);
FC_UNROLL(12)
    for (int r = 0; r < rows; r++) { /* the first block adds the bias, later ones add to C */
        float *cr = c + r * ldc;
        vf t0 = job->first ? acc[r][0] : v_add(v_load(cr), acc[r][0]);
        vf t1 = job->first ? acc[r][1] : v_add(v_load(cr + VW), acc[r][1]);
        if (job->first && bias) {
            t0 = v_add(t0, v_bcast(bias + r));
            t1 = v_add(t1, v_bcast(bias + r));
        }
        if (job->clamp) t0 = v_clamp(t0, lo, hi), t1 = v_clamp(t1, lo, hi);
        v_store(cr, t0);
        v_store(cr + VW, t1);
    }
}

/* Row-count dispatch: one specialized copy of the microkernel per row count. */
static void tile_any(int rows, const tile_job *job, const uint32_t *a, const uint32_t *b, float *c,
                     ptrdiff_t ldc, const float *bias) {
#define FC_TILE_CASE(R)                                                                          \
    case R: tile(R, job, a, b, c, ldc, bias); return;
    switch (rows) {
        FC_TILE_CASE(1)
        FC_TILE_CASE(2)
        FC_TILE_CASE(3)
        FC_TILE_CASE(4)
        FC_TILE_CASE(5)
        FC_TILE_CASE(6)
        FC_TILE_CASE(7)
        FC_TILE_CASE(8)
        FC_TILE_CASE(9)
        FC_TILE_CASE(10)
        FC_TILE_CASE(11)
        FC_TILE_CASE(12)
    }
#undef FC_TILE_CASE
}

/* A tile with cols < NR columns: the same kernel on a copy (the arithmetic is the direct path's). */
static void tile_part(int rows, int cols, const tile_job *job, const uint32_t *a, const uint32_t *b,
                      float *c, ptrdiff_t rsc, const float *bias) {
    _Alignas(64) float ct[MR * NR];
    if (!job->first)
        for (int r = 0; r < rows; r++) memcpy(ct + r * NR, c + r * rsc, sizeof(float) * (size_t)cols);
    tile_any(rows, job, a, b, ct, NR, bias);
    for (int r = 0; r < rows; r++) memcpy(c + r * rsc, ct + r * NR, sizeof(float) * (size_t)cols);
}

void fc_bf16_gemm_12x32__avx512bf16(int M, int N, int K, const uint32_t *pa, const uint32_t *pb,
                                    float *C, ptrdiff_t rsc, const fc_epilogue *ep) {
    // pa: pairs (M, ceil(K/2)) in panels K*MR words apart; pb: (ceil(K/2), N) in panels K*NR apart
    assert(!ep || (!ep->residual && (ep->act.kind == FC_ACT_NONE || ep->act.kind == FC_ACT_RELU ||
                                     ep->act.kind == FC_ACT_CLIP)));
    if (M <= 0 || N <= 0) return;
    if (K < 0) K = 0;
    int kind = ep ? ep->act.kind : FC_ACT_NONE;
    const float *bias = ep ? ep->bias : NULL;
    tile_job job = {.lo = kind == FC_ACT_CLIP ? ep->act.a : kind == FC_ACT_RELU ? 0.0f : -INFINITY,
                    .hi = kind == FC_ACT_CLIP ? ep->act.b : INFINITY};
    int pairs = (K + 1) / 2, kc = fc_bf16_gemm_block_pairs(pairs);
    int npa = (M + MR - 1) / MR, npb = (N + NR - 1) / NR;
    int mcp = kc > 0 ? A_BLOCK / (kc * MR) : npa; /* A panels per L2 block */
    if (mcp < 1) mcp = 1;
    for (int j0 = 0;; j0 += kc) {
        job.kb = pairs - j0 < kc ? pairs - j0 : kc;
        job.first = j0 == 0;
        job.clamp = j0 + job.kb >= pairs && kind != FC_ACT_NONE;
        for (int p0 = 0; p0 < npa; p0 += mcp) {
            int p1 = p0 + mcp < npa ? p0 + mcp : npa;
            for (int q = 0; q < npb; q++) {
                const uint32_t *b = pb + (size_t)q * K * NR + (size_t)j0 * NR;
                int cols = N - q * NR < NR ? N - q * NR : NR;
                for (int p = p0; p < p1; p++) {
                    const uint32_t *a = pa + (size_t)p * K * MR + (size_t)j0 * MR;
                    int rows = M - p * MR < MR ? M - p * MR : MR;
                    float *c = C + (ptrdiff_t)p * MR * rsc + (ptrdiff_t)q * NR;
                    const float *bi = bias ? bias + p * MR : NULL;
                    if (cols == NR) tile_any(rows, &job, a, b, c, rsc, bi);
                    else tile_part(rows, cols, &job, a, b, c, rsc, bi);
                }
            }
        }
        if (j0 + job.kb >= pairs) break;
    }
}
