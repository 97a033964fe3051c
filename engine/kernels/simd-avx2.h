/* The handful of 8-lane float operations the shared kernel templates (f32-act-vec.h,
 * f32-gemm-impl.h, f32-dwconv-plane-impl.h, f32-dwconv-channels-impl.h) are written in, mapped to
 * AVX2+FMA intrinsics. Include only from *-avx2.c files (they are compiled with -mavx2 -mfma). Not
 * a general SIMD library: only what those templates use. */
#ifndef FC_SIMD_AVX2_H
#define FC_SIMD_AVX2_H

#include <immintrin.h>

#define VW 8        /* floats per vector */
#define ISA avx2    /* suffix of the exported function names */
typedef __m256 vf;
typedef __m256i vmask; /* lane mask for partial loads/stores */

static inline vf v_zero(void) { return _mm256_setzero_ps(); }
static inline vf v_set1(float x) { return _mm256_set1_ps(x); }
static inline vf v_bcast(const float *p) { return _mm256_broadcast_ss(p); }
static inline vf v_load(const float *p) { return _mm256_loadu_ps(p); }
static inline void v_store(float *p, vf x) { _mm256_storeu_ps(p, x); }
static inline vf v_add(vf a, vf b) { return _mm256_add_ps(a, b); }
static inline vf v_sub(vf a, vf b) { return _mm256_sub_ps(a, b); }
static inline vf v_mul(vf a, vf b) { return _mm256_mul_ps(a, b); }
static inline vf v_div(vf a, vf b) { return _mm256_div_ps(a, b); }
static inline vf v_fma(vf a, vf b, vf c) { return _mm256_fmadd_ps(a, b, c); } /* a*b + c */
static inline vf v_fnma(vf a, vf b, vf c) { return _mm256_fnmadd_ps(a, b, c); } /* c - a*b */
/* max/min return the second operand when either is NaN (x86 semantics; fc_act_apply agrees). */
static inline vf v_max(vf a, vf b) { return _mm256_max_ps(a, b); }
static inline vf v_min(vf a, vf b) { return _mm256_min_ps(a, b); }
static inline vf v_abs(vf a) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), a); }
/* x >= 0 ? a : b, lane-wise */
static inline vf v_sel_ge0(vf x, vf a, vf b) {
    return _mm256_blendv_ps(b, a, _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_GE_OQ));
}
/* Round to nearest integer (ties to even). */
static inline vf v_round(vf x) { return _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
/* p * 2^n for integral n in [-150, 128], rounded once: scaled by 2^(n/2) twice, so that both
 * factors stay normal and only the second product rounds (into the denormal range, or to inf). */
static inline vf v_ldexp(vf p, vf n) {
    __m256i ni = _mm256_cvtps_epi32(n), n1 = _mm256_srai_epi32(ni, 1), bias = _mm256_set1_epi32(127);
    __m256 f1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, bias), 23));
    __m256 f2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(_mm256_sub_epi32(ni, n1), bias), 23));
    return _mm256_mul_ps(_mm256_mul_ps(p, f1), f2);
}

/* Mask of the first n lanes, 0 <= n <= VW. */
static inline vmask v_mask_first(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
/* Masked load (other lanes 0; masked-off memory is never touched) and store. */
static inline vf v_loadm(const float *p, vmask m) { return _mm256_maskload_ps(p, m); }
static inline void v_storem(float *p, vmask m, vf x) { _mm256_maskstore_ps(p, m, x); }
/* x in the lanes of m, 0 elsewhere. */
static inline vf v_keep(vmask m, vf x) { return _mm256_and_ps(x, _mm256_castsi256_ps(m)); }
/* Lanes u: s <= u < s + n ? p[u - s] : 0, for 0 <= s < VW, n >= 0; reads only p[0 .. min(n, VW-s)). */
static inline vf v_load_shifted(const float *p, int s, int n) {
    /* lanes u < s index (u - s) mod 8 >= VW - s, which the masked load left zero */
    vf src = _mm256_maskload_ps(p, v_mask_first(n < VW - s ? n : VW - s));
    __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_permutevar8x32_ps(src, _mm256_sub_epi32(lane, _mm256_set1_epi32(s)));
}

/* Even and odd lanes of the 2*VW floats lo:hi, in order. */
static inline void v_deinterleave2(vf lo, vf hi, vf *even, vf *odd) {
    vf e = _mm256_shuffle_ps(lo, hi, 0x88); /* lo0 lo2 hi0 hi2 | lo4 lo6 hi4 hi6 */
    vf o = _mm256_shuffle_ps(lo, hi, 0xDD);
    *even = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e), 0xD8));
    *odd = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(o), 0xD8));
}

/* Rows of 4 floats in the 128-bit quarters of vectors (the Winograd output transform's tile rows):
 * per quarter h the same 4x4 transpose of t = (a, b, c, d), so that v_quad_rows(...)[k] quarter h
 * holds element k of a, b, c, d's quarter h. */
static inline void v_quad_rows(vf a, vf b, vf c, vf d, vf o[4]) {
    vf t0 = _mm256_unpacklo_ps(a, b), t1 = _mm256_unpackhi_ps(a, b);
    vf t2 = _mm256_unpacklo_ps(c, d), t3 = _mm256_unpackhi_ps(c, d);
    o[0] = _mm256_shuffle_ps(t0, t2, 0x44), o[1] = _mm256_shuffle_ps(t0, t2, 0xEE);
    o[2] = _mm256_shuffle_ps(t1, t3, 0x44), o[3] = _mm256_shuffle_ps(t1, t3, 0xEE);
}

/* Non-temporal (cache-bypassing) store of a whole vector to a VW*4-byte aligned address; callers
 * end a run of them with v_sfence before others may read the data. */
static inline void v_stream(float *p, vf x) { _mm256_stream_ps(p, x); }
static inline void v_sfence(void) { _mm_sfence(); }
static inline void v_prefetch(const void *p) { _mm_prefetch((const char *)p, _MM_HINT_T0); }
/* Prefetch with intent to write (PREFETCHW; inline asm because it needs no -m flag: every AVX2 CPU
 * executes it, Intel before Broadwell as a no-op). */
static inline void v_prefetchw(const void *p) { __asm__ volatile("prefetchw %0" : : "m"(*(const char *)p)); }

/* In-place 8x8 transpose: r[i] lane j <-> r[j] lane i (the depthwise and Winograd kernels switch
 * between pixel-major and channel-major blocks with it). */
static inline void v_transpose8(vf r[8]) {
    vf t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    vf t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    vf t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    vf t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    vf s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    vf s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    vf s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    vf s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    r[0] = _mm256_permute2f128_ps(s0, s4, 0x20);
    r[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
    r[2] = _mm256_permute2f128_ps(s2, s6, 0x20);
    r[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
    r[4] = _mm256_permute2f128_ps(s0, s4, 0x31);
    r[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
    r[6] = _mm256_permute2f128_ps(s2, s6, 0x31);
    r[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
}
/* The VW x VW transpose of the width-generic templates (f32-dwconv-channels-impl.h). */
static inline void v_transpose(vf r[VW]) { v_transpose8(r); }

#endif
