/* f32 activations of one SIMD vector for the kernel templates, written against the simd-<isa>.h
 * vocabulary (include that first). They follow fc_act_apply operation for operation, except exp,
 * a Cephes-style polynomial (about 2 ulp; exact zero/denormal/inf behaviour at the ends of the
 * range), and sigmoid, 1/(1 + e^-x) on both sides (0 below x = -88.76, where the true value is
 * under 3e-39), so sigmoid and SiLU agree with the scalar reference to ~1e-6 relative, everything
 * else exactly; NaN propagates. Not here: any loop over memory (f32-act-impl.h, f32-gemm-impl.h do
 * that). */
#ifndef FC_F32_ACT_VEC_H
#define FC_F32_ACT_VEC_H

#include <math.h>

#include "engine/kernels/kernels.h"

#define FC_INLINE static inline __attribute__((always_inline))

/* `#pragma GCC unroll n` on a loop of a register tile, except under AddressSanitizer (the
 * sanitizer and fuzz builds): there the fully unrolled tiles' instrumented loads cost the compilers
 * minutes per kernel file (clang -O1: 10-15 min for a channel-blocked one, 2.5 min for the
 * depthwise ones; gcc -O2: 1.7 min), and the rolled loops make the sanitized tests no slower.
 * Unrolling changes no operation's order: the same bits. */
#define FC_PRAGMA(x) _Pragma(#x)
#if defined(__SANITIZE_ADDRESS__) /* gcc */
#define FC_UNROLL(n)
#elif defined(__clang__) && defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FC_UNROLL(n)
#endif
#endif
#ifndef FC_UNROLL
#define FC_UNROLL(n) FC_PRAGMA(GCC unroll n)
#endif

/* x < lo ? lo : x > hi ? hi : x, like fc_act_apply: x86 max/min return their second operand on
 * equality or NaN, so NaN passes through and -0 is kept. */
FC_INLINE vf v_clamp(vf x, vf lo, vf hi) { return v_min(hi, v_max(lo, x)); }

/* The clamp an epilogue applies for act in registers: [a, b] for Clip, [0, inf) for Relu, else
 * (-inf, inf), which v_clamp leaves every value through. Returns 1 for Relu and Clip (the clamp is
 * their whole activation), 0 otherwise (the activation, if any, comes after). */
FC_INLINE int v_act_bounds(const fc_act *act, vf *lo, vf *hi) {
    int kind = act->kind;
    *lo = v_set1(kind == FC_ACT_CLIP ? act->a : kind == FC_ACT_RELU ? 0.0f : -INFINITY);
    *hi = v_set1(kind == FC_ACT_CLIP ? act->b : INFINITY);
    return kind == FC_ACT_RELU || kind == FC_ACT_CLIP;
}

/* e^x for every float x (x < -104 gives 0, x > 88.76 gives inf, NaN gives NaN). */
FC_INLINE vf v_exp(vf x) {
    x = v_clamp(x, v_set1(-104.0f), v_set1(88.76f));
    vf n = v_round(v_mul(x, v_set1(1.44269504088896341f)));
    vf r = v_fnma(n, v_set1(0.693359375f), x); /* x - n*ln2, ln2 split in two for exactness */
    r = v_fnma(n, v_set1(-2.12194440e-4f), r);
    vf p = v_set1(1.9875691500e-4f);
    p = v_fma(p, r, v_set1(1.3981999507e-3f));
    p = v_fma(p, r, v_set1(8.3334519073e-3f));
    p = v_fma(p, r, v_set1(4.1665795894e-2f));
    p = v_fma(p, r, v_set1(1.6666665459e-1f));
    p = v_fma(p, r, v_set1(5.0000001201e-1f));
    p = v_add(v_fma(p, v_mul(r, r), r), v_set1(1.0f));
    return v_ldexp(p, n); /* n in [-150, 128] */
}

/* 1/(1+e^-x) on both sides: no cancellation (1 + e^-x >= 1), and below x = -88.76 e^-x is inf
 * and the result 0 (the true value is under 3e-39). Fewer operations than e^-|x| with a select,
 * which matters because SiLU runs on every expanded map of EfficientNet. */
FC_INLINE vf v_sigmoid(vf x) {
    return v_div(v_set1(1.0f), v_add(v_set1(1.0f), v_exp(v_sub(v_zero(), x))));
}

#ifdef FC_FAST_SIGMOID
/* The bf16 path's sigmoid and SiLU (kernel files that define FC_FAST_SIGMOID, AVX-512 only): 14
 * operations for SiLU where v_exp's take 19, as close to the true values (2.5e-7 relative at most
 * over [-100, 100], v_sigmoid's path 2e-7) but not the same bits, so the f32 path keeps v_sigmoid.
 * EfficientNet-B0 runs 6-10% faster in bf16 with them: SiLU costs more than its expansions' GEMMs.
 * e^-x = 2^t, t = -x log2(e) carried as t + tl (the product's rounding error and log2(e)'s, by
 * FMA), 2^t = 2^floor(t) 2^f with f = t - floor(t) (VREDUCEPS, exact) + tl, 2^f a degree-5
 * polynomial (relative error 1.5e-7 on [0, 1)) scaled by VSCALEFPS, which takes floor(t) itself.
 * v_exp_neg_fast takes x clamped to [-104, 104]: e^-x is then inf or a denormal at the ends, as
 * v_exp's, and SiLU divides the unclamped x, so SiLU(inf) = inf and SiLU(-inf) = NaN as
 * x * sigmoid(x). */
#ifndef FC_SIMD_AVX512_H
#error "FC_FAST_SIGMOID needs simd-avx512.h"
#endif
FC_INLINE vf v_exp_neg_fast(vf x) {
    vf c = v_set1(-1.44269504088896341f);
    vf t = v_mul(x, c);
    vf tl = _mm512_fmsub_ps(x, c, t);                      /* x c - t, exactly */
    tl = v_fma(x, v_set1(-1.925963033e-8f), tl);           /* x (-log2(e) - c) */
    vf f = v_add(_mm512_reduce_ps(t, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC), tl);
    vf p = v_set1(1.8762333784e-3f);
    p = v_fma(p, f, v_set1(8.9925825596e-3f));
    p = v_fma(p, f, v_set1(5.5823605508e-2f));
    p = v_fma(p, f, v_set1(2.4015453458e-1f));
    p = v_fma(p, f, v_set1(6.9315296412e-1f));
    p = v_fma(p, f, v_set1(9.9999994040e-1f));
    return _mm512_scalef_ps(p, t); /* p 2^floor(t) */
}
#endif

/* act(x) for a compile-time-known kind (callers switch once outside their loops). */
FC_INLINE vf v_act_kind(int kind, vf x, vf a, vf b) {
    switch (kind) {
    case FC_ACT_RELU: return v_max(v_zero(), x);
    case FC_ACT_CLIP: return v_clamp(x, a, b);
    case FC_ACT_LEAKY: return v_sel_ge0(x, x, v_mul(a, x));
#ifdef FC_FAST_SIGMOID
    case FC_ACT_SIGMOID: /* NaN must pass the clamp: max, min */
        return v_div(v_set1(1.0f), v_add(v_set1(1.0f), v_exp_neg_fast(v_clamp(x, v_set1(-104.0f), v_set1(104.0f)))));
    case FC_ACT_SILU: /* one VRANGEPS: min(|x|, 104) with x's sign (NaN gives 104; x / (1 + e) is NaN) */
        return v_div(x, v_add(v_set1(1.0f), v_exp_neg_fast(_mm512_range_ps(x, v_set1(104.0f), 0x02))));
#else
    case FC_ACT_SIGMOID: return v_sigmoid(x);
    case FC_ACT_SILU: return v_mul(x, v_sigmoid(x));
#endif
    case FC_ACT_HARDSIGMOID:
        return v_clamp(v_add(v_mul(a, x), b), v_zero(), v_set1(1.0f));
    case FC_ACT_HARDSWISH:
        return v_mul(x, v_clamp(v_add(v_mul(x, v_set1(1.0f / 6.0f)), v_set1(0.5f)), v_zero(),
                                v_set1(1.0f)));
    }
    return x;
}

#endif
