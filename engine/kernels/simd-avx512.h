/* The handful of 16-lane float operations the shared kernel templates (f32-act-vec.h,
 * f32-gemm-impl.h, f32-dwconv-plane-impl.h, f32-dwconv-channels-impl.h) are written in, mapped to
 * AVX-512F/DQ intrinsics. Include only from *-avx512.c files (compiled with -mavx512f -mavx512bw
 * -mavx512vl -mavx512dq -mfma). Mirrors simd-avx2.h name for name; not a general SIMD library. */
#ifndef FC_SIMD_AVX512_H
#define FC_SIMD_AVX512_H

#include <immintrin.h>

#define VW 16
#define ISA avx512
typedef __m512 vf;
typedef __mmask16 vmask;

static inline vf v_zero(void) { return _mm512_setzero_ps(); }
static inline vf v_set1(float x) { return _mm512_set1_ps(x); }
static inline vf v_bcast(const float *p) { return _mm512_set1_ps(*p); }
static inline vf v_load(const float *p) { return _mm512_loadu_ps(p); }
static inline void v_store(float *p, vf x) { _mm512_storeu_ps(p, x); }
static inline vf v_add(vf a, vf b) { return _mm512_add_ps(a, b); }
static inline vf v_sub(vf a, vf b) { return _mm512_sub_ps(a, b); }
static inline vf v_mul(vf a, vf b) { return _mm512_mul_ps(a, b); }
static inline vf v_div(vf a, vf b) { return _mm512_div_ps(a, b); }
static inline vf v_fma(vf a, vf b, vf c) { return _mm512_fmadd_ps(a, b, c); }
static inline vf v_fnma(vf a, vf b, vf c) { return _mm512_fnmadd_ps(a, b, c); }
static inline vf v_max(vf a, vf b) { return _mm512_max_ps(a, b); }
static inline vf v_min(vf a, vf b) { return _mm512_min_ps(a, b); }
static inline vf v_abs(vf a) {
    return _mm512_castsi512_ps(
        _mm512_andnot_si512(_mm512_set1_epi32((int)0x80000000u), _mm512_castps_si512(a)));
}
static inline vf v_sel_ge0(vf x, vf a, vf b) {
    __mmask16 ge = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_GE_OQ);
    return _mm512_mask_blend_ps(ge, b, a);
}
static inline vf v_round(vf x) {
    return _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}
/* p * 2^n for integral n in [-150, 128], rounded once (into the denormal range, or to inf): one
 * VSCALEFPS, the same bits as simd-avx2.h's two exact steps. */
static inline vf v_ldexp(vf p, vf n) { return _mm512_scalef_ps(p, n); }

static inline vmask v_mask_first(int n) { return (__mmask16)((1u << n) - 1u); }
static inline vf v_loadm(const float *p, vmask m) { return _mm512_maskz_loadu_ps(m, p); }
static inline void v_storem(float *p, vmask m, vf x) { _mm512_mask_storeu_ps(p, m, x); }
static inline vf v_keep(vmask m, vf x) { return _mm512_maskz_mov_ps(m, x); }

static inline vf v_load_shifted(const float *p, int s, int n) {
    vf src = _mm512_maskz_loadu_ps(v_mask_first(n < VW - s ? n : VW - s), p);
    __m512i idx = _mm512_sub_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                   _mm512_set1_epi32(s));
    return _mm512_maskz_permutexvar_ps((__mmask16)(0xFFFFu << s), idx, src);
}

static inline void v_deinterleave2(vf lo, vf hi, vf *even, vf *odd) {
    const __m512i ie = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i io = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    *even = _mm512_permutex2var_ps(lo, ie, hi);
    *odd = _mm512_permutex2var_ps(lo, io, hi);
}

/* Rows of 4 floats in the 128-bit quarters of vectors (the Winograd output transform's tile rows):
 * per quarter h the same 4x4 transpose of t = (a, b, c, d), so that v_quad_rows(...)[k] quarter h
 * holds element k of a, b, c, d's quarter h. */
static inline void v_quad_rows(vf a, vf b, vf c, vf d, vf o[4]) {
    vf t0 = _mm512_unpacklo_ps(a, b), t1 = _mm512_unpackhi_ps(a, b);
    vf t2 = _mm512_unpacklo_ps(c, d), t3 = _mm512_unpackhi_ps(c, d);
    o[0] = _mm512_shuffle_ps(t0, t2, 0x44), o[1] = _mm512_shuffle_ps(t0, t2, 0xEE);
    o[2] = _mm512_shuffle_ps(t1, t3, 0x44), o[3] = _mm512_shuffle_ps(t1, t3, 0xEE);
}

/* Non-temporal (cache-bypassing) store of a whole vector to a VW*4-byte aligned address; callers
 * end a run of them with v_sfence before others may read the data. */
static inline void v_stream(float *p, vf x) { _mm512_stream_ps(p, x); }
static inline void v_sfence(void) { _mm_sfence(); }
static inline void v_prefetch(const void *p) { _mm_prefetch((const char *)p, _MM_HINT_T0); }
/* Prefetch with intent to write (PREFETCHW; inline asm because it needs no -m flag: every AVX2 CPU
 * executes it, Intel before Broadwell as a no-op). */
static inline void v_prefetchw(const void *p) { __asm__ volatile("prefetchw %0" : : "m"(*(const char *)p)); }

/* In-place 16x16 transpose: r[i] lane j <-> r[j] lane i. 4x4 transposes inside each 128-bit lane
 * of every group of four rows (s[4a+k] lane block L = column 4L+k of rows 4a..4a+3), then a 4x4
 * transpose of the 128-bit blocks among s[k], s[4+k], s[8+k], s[12+k]. Written out (no loops, no
 * arrays of temporaries) so that the compiler keeps all 32 vectors in registers. */
#define FC_TR4_IN_LANES(a)                                                                          \
    do {                                                                                            \
        vf t0 = _mm512_unpacklo_ps(r[a], r[a + 1]), t1 = _mm512_unpackhi_ps(r[a], r[a + 1]);        \
        vf t2 = _mm512_unpacklo_ps(r[a + 2], r[a + 3]), t3 = _mm512_unpackhi_ps(r[a + 2], r[a + 3]); \
        s##a##0 = _mm512_shuffle_ps(t0, t2, 0x44), s##a##1 = _mm512_shuffle_ps(t0, t2, 0xEE);       \
        s##a##2 = _mm512_shuffle_ps(t1, t3, 0x44), s##a##3 = _mm512_shuffle_ps(t1, t3, 0xEE);       \
    } while (0)
#define FC_TR4_BLOCKS(k)                                                                            \
    do {                                                                                            \
        vf u0 = _mm512_shuffle_f32x4(s0##k, s4##k, 0x44), u1 = _mm512_shuffle_f32x4(s0##k, s4##k, 0xEE); \
        vf u2 = _mm512_shuffle_f32x4(s8##k, s12##k, 0x44), u3 = _mm512_shuffle_f32x4(s8##k, s12##k, 0xEE); \
        r[k] = _mm512_shuffle_f32x4(u0, u2, 0x88), r[4 + k] = _mm512_shuffle_f32x4(u0, u2, 0xDD);   \
        r[8 + k] = _mm512_shuffle_f32x4(u1, u3, 0x88), r[12 + k] = _mm512_shuffle_f32x4(u1, u3, 0xDD); \
    } while (0)
static inline __attribute__((always_inline)) void v_transpose(vf r[16]) {
    vf s00, s01, s02, s03, s40, s41, s42, s43, s80, s81, s82, s83, s120, s121, s122, s123;
    FC_TR4_IN_LANES(0);
    FC_TR4_IN_LANES(4);
    FC_TR4_IN_LANES(8);
    FC_TR4_IN_LANES(12);
    FC_TR4_BLOCKS(0);
    FC_TR4_BLOCKS(1);
    FC_TR4_BLOCKS(2);
    FC_TR4_BLOCKS(3);
}
#undef FC_TR4_IN_LANES
#undef FC_TR4_BLOCKS

#endif
