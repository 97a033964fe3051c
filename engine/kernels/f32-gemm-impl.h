/* f32 GEMM template (packing and the packed SGEMM driver) shared by the SIMD tables: the including
 * file defines the simd-<isa>.h vocabulary, MR (rows per tile), KC_MAX (K block), A_BLOCK (floats
 * of packed A kept in L2) and the names PACK_A, PACK_B, GEMM of the three functions it exports for
 * the fc_kernels pack_a, pack_b and sgemm_packed contracts, with NR = 2*VW. Structure: K is cut
 * into equal blocks of at most KC_MAX (the cut depends on K only); the rows of one L2 block of A
 * panels go through every K block before the next rows (their part of C stays in cache between K
 * blocks), and per K block the block of A stays in L2 while every B panel streams through L1 once
 * (the next B slice is software-prefetched while the current one is in use). The MR x NR
 * microkernel keeps 2*MR accumulators in registers, broadcasts A and loads B. Partial sums between
 * K blocks live in C itself; bias and residual are added in the first block, the activation in the
 * last. Every element of C is produced by the same sequence of operations whatever M, N, csc or
 * its position (edge rows use row-count-specialized copies of the same kernel, partial or strided
 * columns a copy of the tile, with one vector of columns when VW are enough), so results are
 * bitwise independent of which rows/columns share a call. Not here: threading (callers split M or
 * N across threads), packing policy of the operators.
 * With GEMM_BF16 defined (bf16-gemm-cvtb-avx512bf16.c) the same driver multiplies bf16 pairs: PACK_A
 * packs f32 and then converts each panel in place into k pairs (BF16_PACK_PAIRS, kernels.h's bf16
 * layout), there is no PACK_B (B stays an f32 panel, e.g. written by im2col), each B slice is
 * converted into pairs on the fly once per A block, the microkernel accumulates with VDPBF16PS, and
 * K is cut as the training products cut it (fc_bf16_gemm_block_pairs); the epilogue is unchanged.
 * An including file may leave PACK_A and PACK_B undefined: a variant of another file's GEMM (e.g.
 * with FC_FAST_SIGMOID, f32-act-vec.h) on that file's packing. It may also name GEMM_KBLOCK (one K
 * block of GEMM, B given as that block's slice: the sgemm_kblock contract) and GEMM_KC (the cut);
 * GEMM is the loop of the same block function over K's blocks, so the two agree bit for bit. */
#ifndef FC_F32_GEMM_IMPL_H
#define FC_F32_GEMM_IMPL_H

#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <string.h>

#define NR (2 * VW)
#ifndef PACK_AHEAD
#define PACK_AHEAD 4 /* rows of B prefetched ahead by pack_b */
#endif

#ifdef PACK_A /* a variant of a table's GEMM (f32-gemm-fastsig-avx512.c) names no packing */
void PACK_A(int M, int K, const float *A, ptrdiff_t rsa, ptrdiff_t csa, float *packed) {
    // A: (M, K) strided -> packed: (ceil(M/MR), K, MR)
    for (int p = 0; p * MR < M; p++) {
        float *panel = packed + (size_t)p * K * MR;
        int rows = M - p * MR < MR ? M - p * MR : MR;
        for (int k = 0; k < K; k++) {
            float *dst = panel + (size_t)k * MR;
            const float *src = A + (ptrdiff_t)p * MR * rsa + k * csa;
            int r = 0;
            for (; r < rows; r++) dst[r] = src[r * rsa];
            for (; r < MR; r++) dst[r] = 0.0f;
        }
#ifdef GEMM_BF16
        BF16_PACK_PAIRS(panel, K, MR);
#endif
    }
}
#endif /* PACK_A */

#if !defined(GEMM_BF16) && defined(PACK_B)

void PACK_B(int K, int N, const float *B, ptrdiff_t rsb, ptrdiff_t csb, float *packed) {
    // B: (K, N) strided -> packed: (ceil(N/NR), K, NR)
    int full = csb == 1 ? N / NR : 0;
    /* Full panels of a row-contiguous B row by row: each source row is read sequentially (a
     * panel-by-panel order would touch K rows per panel, too many streams for the prefetchers when B
     * comes from memory); the scattered writes land in the packed buffer, which stays in cache. */
    for (int k = 0; k < K; k++) {
        const float *src = B + k * rsb;
        float *dst = packed + (size_t)k * NR;
        /* rows are short streams: fetch a few rows ahead, a line per panel */
        const float *ahead = k + PACK_AHEAD < K ? src + PACK_AHEAD * rsb : NULL;
        for (int q = 0; q < full; q++) {
            if (ahead) v_prefetch(ahead + q * NR);
            v_store(dst + (size_t)q * K * NR, v_load(src + q * NR));
            v_store(dst + (size_t)q * K * NR + VW, v_load(src + q * NR + VW));
        }
    }
    for (int q = full; q * NR < N; q++) {
        float *panel = packed + (size_t)q * K * NR;
        int cols = N - q * NR < NR ? N - q * NR : NR;
        const float *src0 = B + (ptrdiff_t)q * NR * csb;
        if (csb == 1 && cols == NR) {
            for (int k = 0; k < K; k++) {
                const float *src = src0 + k * rsb;
                v_store(panel + (size_t)k * NR, v_load(src));
                v_store(panel + (size_t)k * NR + VW, v_load(src + VW));
            }
        } else if (csb == 1) {
            vmask m0 = v_mask_first(cols < VW ? cols : VW);
            vmask m1 = v_mask_first(cols > VW ? cols - VW : 0);
            for (int k = 0; k < K; k++) {
                const float *src = src0 + k * rsb;
                v_store(panel + (size_t)k * NR, v_loadm(src, m0));
                v_store(panel + (size_t)k * NR + VW, v_loadm(src + VW, m1));
            }
        } else {
            for (int k = 0; k < K; k++) {
                float *dst = panel + (size_t)k * NR;
                const float *src = src0 + k * rsb;
                int c = 0;
                for (; c < cols; c++) dst[c] = src[c * csb];
                for (; c < NR; c++) dst[c] = 0.0f;
            }
        }
    }
}

#endif /* !GEMM_BF16 && PACK_B */

/* Everything a tile needs besides its position. */
typedef struct tile_job {
    int kb;            /* K-block length */
    int first, last;   /* this is the first / last K block */
    int clamp;         /* last block applies the clamp [lo, hi] in registers (ReLU, Clip) */
    int stream;        /* single K block, no post-activation: non-temporal stores where aligned */
    float lo, hi;
} tile_job;

/* The microkernel: C tile (rows, NR) = [C +] A block x B block, epilogue per job. rows (1..MR) is a
 * compile-time constant at every call site; all NR columns are stored (partial tiles go through a
 * copy, see GEMM: masked stores are slow on AMD), or with nv = 1 only the first VW (a copy's tile of
 * at most VW columns: half the products; each column's operations are the same either way).
 * a: packed A panel at the block's first k, (kb, MR); b: packed B panel likewise, (kb, NR) (bf16:
 * both as (ceil(kb/2), MR / NR) words of pairs);
 * c: (rows, NR) with row stride ldc; bias: (rows) or NULL; res: like c with stride ldr, or NULL. */
FC_INLINE void tile_post(const int rows, const int nv, const int post, const tile_job *job,
                         const float *a, const float *b, float *c, ptrdiff_t ldc, const float *bias,
                         const float *res, ptrdiff_t ldr, const fc_act *act) {
    vf acc[MR][2];
    /* streaming stores need VW*4-byte aligned rows */
    const int stream = job->stream && ((uintptr_t)c | (uintptr_t)(ldc * (ptrdiff_t)sizeof(float))) % (VW * sizeof(float)) == 0;
FC_UNROLL(16)
    for (int r = 0; r < rows; r++) {
        if (!stream) {
            v_prefetchw(c + r * ldc); /* C is read (later K blocks) and written at the end */
            v_prefetchw(c + r * ldc + NR - 1);
        }
        acc[r][0] = v_zero();
        acc[r][1] = v_zero(); /* (unused with nv = 1: the compiler drops it) */
    }
    const int kb = job->kb;
#ifdef GEMM_BF16
    const int32_t *ap = (const int32_t *)(const void *)a;
FC_UNROLL(2)
    for (int j = 0; j < (kb + 1) / 2; j++) {
        __m512bh b0 = (__m512bh)_mm512_loadu_si512(b + (size_t)j * NR);
        __m512bh b1 = nv > 1 ? (__m512bh)_mm512_loadu_si512(b + (size_t)j * NR + VW) : b0;
FC_UNROLL(16)
        for (int r = 0; r < rows; r++) {
            __m512bh ar = (__m512bh)_mm512_set1_epi32(ap[(size_t)j * MR + r]);
            acc[r][0] = _mm512_dpbf16_ps(acc[r][0], ar, b0);
            if (nv > 1) acc[r][1] = _mm512_dpbf16_ps(acc[r][1], ar, b1);
        }
    }
#else
FC_UNROLL(4)
    for (int k = 0; k < kb; k++) {
        vf b0 = v_load(b + (size_t)k * NR);
        vf b1 = nv > 1 ? v_load(b + (size_t)k * NR + VW) : b0;
FC_UNROLL(16)
        for (int r = 0; r < rows; r++) {
            vf ar = v_bcast(a + (size_t)k * MR + r);
            acc[r][0] = v_fma(ar, b0, acc[r][0]);
            if (nv > 1) acc[r][1] = v_fma(ar, b1, acc[r][1]);
        }
    }
#endif
    vf lo = v_set1(job->lo), hi = v_set1(job->hi);
    /* every row's sums first, then the stores: C and the residual are not declared apart, so
     * interleaved, each row's loads would wait for the stores of the rows before it */
FC_UNROLL(16)
    for (int r = 0; r < rows; r++) {
        float *cr = c + r * ldc;
        vf t0 = acc[r][0], t1 = acc[r][1];
        if (!job->first) {
            t0 = v_add(v_load(cr), t0);
            if (nv > 1) t1 = v_add(v_load(cr + VW), t1);
        } else {
            if (bias) {
                vf bv = v_bcast(bias + r);
                t0 = v_add(t0, bv);
                if (nv > 1) t1 = v_add(t1, bv);
            }
            if (res) {
                t0 = v_add(t0, v_load(res + r * ldr));
                if (nv > 1) t1 = v_add(t1, v_load(res + r * ldr + VW));
            }
        }
        if (job->clamp) {
            t0 = v_clamp(t0, lo, hi);
            if (nv > 1) t1 = v_clamp(t1, lo, hi);
        }
        if (post != FC_ACT_NONE && job->last) { /* a compile-time kind: in registers */
            vf pa = v_set1(act->a), pb = v_set1(act->b);
            t0 = v_act_kind(post, t0, pa, pb);
            if (nv > 1) t1 = v_act_kind(post, t1, pa, pb);
        }
        acc[r][0] = t0;
        acc[r][1] = t1;
    }
FC_UNROLL(16)
    for (int r = 0; r < rows; r++) {
        float *cr = c + r * ldc;
        if (stream) {
            v_stream(cr, acc[r][0]);
            if (nv > 1) v_stream(cr + VW, acc[r][1]);
        } else {
            v_store(cr, acc[r][0]);
            if (nv > 1) v_store(cr + VW, acc[r][1]);
        }
    }
}

/* The microkernel without an activation other than the clamp (edge tiles: tile_act follows). */
FC_INLINE void tile(const int rows, const int nv, const tile_job *job, const float *a, const float *b,
                    float *c, ptrdiff_t ldc, const float *bias, const float *res, ptrdiff_t ldr) {
    tile_post(rows, nv, FC_ACT_NONE, job, a, b, c, ldc, bias, res, ldr, NULL);
}

/* Row-count dispatch: one specialized copy of the microkernel per row count (and per width: nv = 2
 * vectors, or 1 for a copy's tile of at most VW columns). */
FC_INLINE void tile_rows(const int nv, int rows, const tile_job *job, const float *a, const float *b,
                         float *c, ptrdiff_t ldc, const float *bias, const float *res, ptrdiff_t ldr) {
#define FC_TILE_CASE(R)                                                                          \
    case R: tile(R, nv, job, a, b, c, ldc, bias, res, ldr); return;
    switch (rows) {
        FC_TILE_CASE(1)
        FC_TILE_CASE(2)
        FC_TILE_CASE(3)
        FC_TILE_CASE(4)
        FC_TILE_CASE(5)
        FC_TILE_CASE(6)
#if MR > 6
        FC_TILE_CASE(7)
        FC_TILE_CASE(8)
        FC_TILE_CASE(9)
        FC_TILE_CASE(10)
        FC_TILE_CASE(11)
        FC_TILE_CASE(12)
#endif
#if MR > 12
        FC_TILE_CASE(13)
        FC_TILE_CASE(14)
#endif
    }
#undef FC_TILE_CASE
}

static void tile_any(int rows, const tile_job *job, const float *a, const float *b, float *c,
                     ptrdiff_t ldc, const float *bias, const float *res, ptrdiff_t ldr) {
    tile_rows(2, rows, job, a, b, c, ldc, bias, res, ldr);
}

static void tile_half(int rows, const tile_job *job, const float *a, const float *b, float *c,
                      ptrdiff_t ldc, const float *bias, const float *res, ptrdiff_t ldr) {
    tile_rows(1, rows, job, a, b, c, ldc, bias, res, ldr);
}

/* Activations that are not a clamp, applied in place to a finished tile c: (rows, nv * VW). */
FC_INLINE void tile_act_kind(const int kind, int rows, int nv, float *c, ptrdiff_t ldc, const fc_act *act) {
    vf a = v_set1(act->a), b = v_set1(act->b);
    for (int r = 0; r < rows; r++) {
        float *cr = c + r * ldc;
        v_store(cr, v_act_kind(kind, v_load(cr), a, b));
        if (nv > 1) v_store(cr + VW, v_act_kind(kind, v_load(cr + VW), a, b));
    }
}

static void tile_act(int rows, int nv, float *c, ptrdiff_t ldc, const fc_act *act) {
    switch (act->kind) {
    case FC_ACT_LEAKY: tile_act_kind(FC_ACT_LEAKY, rows, nv, c, ldc, act); break;
    case FC_ACT_SIGMOID: tile_act_kind(FC_ACT_SIGMOID, rows, nv, c, ldc, act); break;
    case FC_ACT_HARDSIGMOID: tile_act_kind(FC_ACT_HARDSIGMOID, rows, nv, c, ldc, act); break;
    case FC_ACT_HARDSWISH: tile_act_kind(FC_ACT_HARDSWISH, rows, nv, c, ldc, act); break;
    case FC_ACT_SILU: tile_act_kind(FC_ACT_SILU, rows, nv, c, ldc, act); break;
    }
}

/* A tile whose columns are partial (cols < NR) or strided (csc != 1): the same kernel runs on a
 * contiguous copy, so the arithmetic is identical to the direct path. */
static void tile_copy(int rows, int cols, const tile_job *job, const float *a, const float *b,
                      float *c, ptrdiff_t rsc, ptrdiff_t csc, const float *bias, const float *res,
                      const fc_act *post) {
    _Alignas(64) float ct[MR * NR], rt[MR * NR];
    if (csc == 1) { /* masked loads: lanes past cols read nothing and give 0 */
        vmask m0 = v_mask_first(cols < VW ? cols : VW), m1 = v_mask_first(cols > VW ? cols - VW : 0);
        for (int r = 0; r < rows; r++) {
            if (!job->first) {
                v_store(ct + r * NR, v_loadm(c + r * rsc, m0));
                v_store(ct + r * NR + VW, v_loadm(c + r * rsc + VW, m1));
            }
            if (res) {
                v_store(rt + r * NR, v_loadm(res + r * rsc, m0));
                v_store(rt + r * NR + VW, v_loadm(res + r * rsc + VW, m1));
            }
        }
    } else {
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < NR; j++) {
                if (!job->first) ct[r * NR + j] = j < cols ? c[r * rsc + j * csc] : 0.0f;
                if (res) rt[r * NR + j] = j < cols ? res[r * rsc + j * csc] : 0.0f;
            }
    }
    tile_job local = *job;
    local.stream = 0; /* ct is read right back */
    int nv = cols <= VW ? 1 : 2; /* a narrow tile: half the products */
    if (nv == 1) tile_half(rows, &local, a, b, ct, NR, bias, res ? rt : NULL, NR);
    else tile_any(rows, &local, a, b, ct, NR, bias, res ? rt : NULL, NR);
    if (post) tile_act(rows, nv, ct, NR, post);
    for (int r = 0; r < rows; r++) {
        if (csc == 1) memcpy(c + r * rsc, ct + r * NR, sizeof(float) * (size_t)cols);
        else for (int j = 0; j < cols; j++) c[r * rsc + j * csc] = ct[r * NR + j];
    }
}

/* The next B slice, prefetched while the tiles against the current one run: the i-th tile of an A
 * block fetches bytes [i*per, (i+1)*per) of it. */
typedef struct next_b {
    const char *p; /* NULL: nothing to prefetch */
    int per, bytes;
} next_b;

FC_INLINE void prefetch_share(next_b nb, int i) {
    for (int o = i * nb.per; nb.p && o < (i + 1) * nb.per && o < nb.bytes; o += 64)
        v_prefetch(nb.p + o);
}

/* Full tiles (MR rows, NR contiguous columns) of A panels [p0, p1) against one B slice, with the
 * microkernel inlined: no call, row dispatch or vzeroupper per tile; panel p0 is the A block's
 * first (its prefetch share of the next B slice is the first). */
FC_INLINE void strip_kind(const int kind, int p0, int p1, const tile_job *job, const float *a,
                          size_t astride, const float *b, float *c, ptrdiff_t rsc, const float *bias,
                          const float *res, const fc_act *post, next_b nb) {
    for (int p = p0; p < p1; p++) {
        prefetch_share(nb, p - p0);
        ptrdiff_t at = (ptrdiff_t)p * MR * rsc;
        tile_post(MR, 2, kind, job, a + p * astride, b, c + at, rsc, bias ? bias + p * MR : NULL,
                  res ? res + at : NULL, rsc, post);
    }
}

/* The activation post (if any) is applied in registers before the tiles are stored: one copy of
 * the strip per kind, so the kind is a constant in the microkernel (applying it to the stored tile
 * afterwards cost a second pass over C). */
static void tile_strip(int p0, int p1, const tile_job *job, const float *a, size_t astride,
                       const float *b, float *c, ptrdiff_t rsc, const float *bias, const float *res,
                       const fc_act *post, next_b nb) {
#define FC_STRIP(K) strip_kind(K, p0, p1, job, a, astride, b, c, rsc, bias, res, post, nb)
    switch (post ? post->kind : FC_ACT_NONE) {
    case FC_ACT_LEAKY: FC_STRIP(FC_ACT_LEAKY); break;
    case FC_ACT_SIGMOID: FC_STRIP(FC_ACT_SIGMOID); break;
    case FC_ACT_HARDSIGMOID: FC_STRIP(FC_ACT_HARDSIGMOID); break;
    case FC_ACT_HARDSWISH: FC_STRIP(FC_ACT_HARDSWISH); break;
    case FC_ACT_SILU: FC_STRIP(FC_ACT_SILU); break;
    default: FC_STRIP(FC_ACT_NONE); break;
    }
#undef FC_STRIP
}

/* The cut of K into blocks (see the header comment): kc rows each, the last one shorter; 0 for
 * K = 0. It depends on K alone. */
static int k_block(int K) {
    if (K <= 0) return 0;
#ifdef GEMM_BF16
    return 2 * fc_bf16_gemm_block_pairs((K + 1) / 2);
#else
    int nblk = K > KC_MAX ? (K + KC_MAX - 1) / KC_MAX : 1;
    return (K + nblk - 1) / nblk;
#endif
}

#ifdef GEMM_KC
int GEMM_KC(int K) {
    return k_block(K);
}
#endif

#ifdef GEMM_BF16
#define A_AT(k0) ((k0) / 2) /* an A offset of k0 floats is k0/2 words of pairs */
#else
#define A_AT(k0) (k0)
#endif

/* A panels per L2 block of A for K blocks of kc (npa: all of A's panels, when K is 0). */
static int a_block_panels(int kc, int npa) {
    int mcp = kc > 0 ? A_BLOCK / (kc * MR) : npa;
    return mcp < 1 ? 1 : mcp;
}

/* K block [k0, k0 + kc) (shorter at the end of K) of C = epilogue(A x B): B panel q's rows of the
 * block at pb + q*pbs. */
static void gemm_block(int M, int N, int K, int k0, int kc, const float *pa, const float *pb, size_t pbs,
                       float *C, ptrdiff_t rsc, ptrdiff_t csc, const fc_epilogue *ep) {
    const float *bias = ep ? ep->bias : NULL;
    const float *res = ep ? ep->residual : NULL;
    int kind = ep ? ep->act.kind : FC_ACT_NONE;
    tile_job job = {0};
    job.lo = -INFINITY;
    job.hi = INFINITY;
    if (kind == FC_ACT_RELU) job.lo = 0.0f;
    if (kind == FC_ACT_CLIP) job.lo = ep->act.a, job.hi = ep->act.b;
    int clamp = kind == FC_ACT_RELU || kind == FC_ACT_CLIP;
    const fc_act *post = kind != FC_ACT_NONE && !clamp ? &ep->act : NULL;
#ifdef GEMM_BF16
    _Alignas(64) float bb[KC_MAX * NR / 2]; /* a B slice converted into pairs: (kc/2, NR) words */
#endif
    job.kb = K - k0 < kc ? K - k0 : kc;
    job.first = k0 == 0;
    job.last = k0 + job.kb >= K;
    job.clamp = job.last && clamp;
    job.stream = ep && ep->stream && job.first && job.last && !post && csc == 1;
    const fc_act *tpost = job.last ? post : NULL;
    int npa = (M + MR - 1) / MR, npb = (N + NR - 1) / NR;
    int mcp = a_block_panels(kc, npa);
    for (int p0 = 0; p0 < npa; p0 += mcp) {
        int p1 = p0 + mcp < npa ? p0 + mcp : npa;
        for (int q = 0; q < npb; q++) {
            const float *b = K ? pb + (size_t)q * pbs : NULL;
#ifdef GEMM_BF16
            if (b) fc_bf16_pairs_rows32(b, job.kb, (uint32_t *)(void *)bb);
            const float *bsrc = b;
            b = bb;
#else
            const float *bsrc = b;
#endif
            int cols = N - q * NR < NR ? N - q * NR : NR;
            /* The next B slice is not adjacent to this one (panels are pbs floats apart), so the
             * hardware prefetcher restarts on it: prefetch it, spread over this slice's tiles. */
            next_b nb = {q + 1 < npb && K ? (const char *)(bsrc + pbs) : NULL, 0,
                         job.kb * NR * (int)sizeof(float)};
            nb.per = (nb.bytes / (p1 - p0) + 63) / 64 * 64;
            int pfull = p1 < npa || M % MR == 0 ? p1 : p1 - 1; /* panels [p0, pfull) have MR rows */
            int p = p0;
            if (csc == 1 && cols == NR && K) {
                tile_strip(p0, pfull, &job, pa + (size_t)A_AT(k0) * MR, (size_t)K * MR, b, C + (ptrdiff_t)q * NR,
                           rsc, bias, res && job.first ? res + (ptrdiff_t)q * NR : NULL, tpost, nb);
                p = pfull;
            }
            for (; p < p1; p++) {
                prefetch_share(nb, p - p0);
                const float *a = K ? pa + (size_t)p * K * MR + (size_t)A_AT(k0) * MR : NULL;
                int rows = M - p * MR < MR ? M - p * MR : MR;
                ptrdiff_t at = (ptrdiff_t)p * MR * rsc + (ptrdiff_t)q * NR * csc;
                const float *bi = bias ? bias + p * MR : NULL;
                const float *re = res && job.first ? res + at : NULL;
                if (csc == 1 && cols == NR) {
                    tile_any(rows, &job, a, b, C + at, rsc, bi, re, rsc);
                    if (tpost) tile_act(rows, 2, C + at, rsc, tpost);
                } else {
                    tile_copy(rows, cols, &job, a, b, C + at, rsc, csc, bi, re, tpost);
                }
            }
        }
    }
    if (job.stream) v_sfence();
}

void GEMM(int M, int N, int K, const float *pa, const float *pb, float *C, ptrdiff_t rsc,
          ptrdiff_t csc, const fc_epilogue *ep) {
    // pa: packed (M, K); pb: packed (K, N); C: (M, N) strided; ep->residual like C
    if (M <= 0 || N <= 0) return;
    if (K < 0) K = 0;
    int kc = k_block(K);
    /* the rows of one L2 block of A at a time through every K block, so that their part of C stays
     * in cache between blocks (all of C, M x N, would go to L3 and back for each block) */
    int rows = a_block_panels(kc, (M + MR - 1) / MR) * MR;
    for (int m0 = 0; m0 < M; m0 += rows) {
        int mm = M - m0 < rows ? M - m0 : rows;
        fc_epilogue e = {0};
        if (ep) {
            e = *ep;
            if (e.bias) e.bias += m0;
            if (e.residual) e.residual += (ptrdiff_t)m0 * rsc;
        }
        const float *pam = pa + (size_t)(m0 / MR) * K * MR;
        for (int k0 = 0;; k0 += kc) {
            gemm_block(mm, N, K, k0, kc, pam, K ? pb + (size_t)k0 * NR : pb, (size_t)K * NR,
                       C + (ptrdiff_t)m0 * rsc, rsc, csc, ep ? &e : NULL);
            if (k0 + kc >= K) break;
        }
    }
}

#ifdef GEMM_KBLOCK
void GEMM_KBLOCK(int M, int N, int K, int k0, const float *pa, const float *pb, size_t pbs, float *C,
                 ptrdiff_t rsc, ptrdiff_t csc, const fc_epilogue *ep) {
    // pa: packed (M, K); pb: B rows [k0, k0 + kb) in panels pbs floats apart; C, ep as GEMM
    if (M <= 0 || N <= 0 || K <= 0 || k0 < 0 || k0 >= K) return;
    gemm_block(M, N, K, k0, k_block(K), pa, pb, pbs, C, rsc, csc, ep);
}
#endif
#undef A_AT

#endif
