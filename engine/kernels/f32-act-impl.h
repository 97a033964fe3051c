/* f32 elementwise activation template shared by the SIMD tables: y = act(x) over n floats, two
 * vectors per step and one masked vector at a time for the tail, so every element goes through
 * exactly the same operations (no scalar tail that would round differently). The including file
 * defines the simd-<isa>.h vocabulary and includes f32-act-vec.h. Not here: the activation formulas
 * (f32-act-vec.h). */
#ifndef FC_F32_ACT_IMPL_H
#define FC_F32_ACT_IMPL_H

#include <stddef.h>

FC_INLINE void act_loop(const int kind, const fc_act *act, const float *x, float *y, size_t n) {
    // x, y: (n); y may equal x
    vf a = v_set1(act->a), b = v_set1(act->b);
    size_t i = 0;
    for (; i + 2 * VW <= n; i += 2 * VW) {
        vf x0 = v_load(x + i), x1 = v_load(x + i + VW);
        v_store(y + i, v_act_kind(kind, x0, a, b));
        v_store(y + i + VW, v_act_kind(kind, x1, a, b));
    }
    for (; i < n; i += VW) {
        vmask m = v_mask_first(n - i < VW ? (int)(n - i) : VW);
        v_storem(y + i, m, v_act_kind(kind, v_loadm(x + i, m), a, b));
    }
}

/* fc_f32_affine_rows_fn: two vectors per step, the tail masked (same operations for every element). */
FC_INLINE void affine_rows_kind(const int relu, int rows, int n, const float *s, const float *t, float *x,
                                ptrdiff_t rs) {
    for (int r = 0; r < rows; r++) {
        float *xr = x + r * rs;
        vf a = v_set1(s[r]), b = v_set1(t[r]);
        int j = 0;
        for (; j + 2 * VW <= n; j += 2 * VW) {
            vf v0 = v_add(v_mul(v_load(xr + j), a), b), v1 = v_add(v_mul(v_load(xr + j + VW), a), b);
            v_store(xr + j, relu ? v_max(v_zero(), v0) : v0);
            v_store(xr + j + VW, relu ? v_max(v_zero(), v1) : v1);
        }
        for (; j < n; j += VW) {
            vmask m = v_mask_first(n - j < VW ? n - j : VW);
            vf v = v_add(v_mul(v_loadm(xr + j, m), a), b);
            v_storem(xr + j, m, relu ? v_max(v_zero(), v) : v);
        }
    }
}

static inline void affine_rows_any(int rows, int n, const float *s, const float *t, int relu, float *x, ptrdiff_t rs) {
    if (relu) affine_rows_kind(1, rows, n, s, t, x, rs);
    else affine_rows_kind(0, rows, n, s, t, x, rs);
}

static void act_any(const fc_act *act, const float *x, float *y, size_t n) {
    switch (act->kind) {
    case FC_ACT_RELU: act_loop(FC_ACT_RELU, act, x, y, n); return;
    case FC_ACT_CLIP: act_loop(FC_ACT_CLIP, act, x, y, n); return;
    case FC_ACT_LEAKY: act_loop(FC_ACT_LEAKY, act, x, y, n); return;
    case FC_ACT_SIGMOID: act_loop(FC_ACT_SIGMOID, act, x, y, n); return;
    case FC_ACT_HARDSIGMOID: act_loop(FC_ACT_HARDSIGMOID, act, x, y, n); return;
    case FC_ACT_HARDSWISH: act_loop(FC_ACT_HARDSWISH, act, x, y, n); return;
    case FC_ACT_SILU: act_loop(FC_ACT_SILU, act, x, y, n); return;
    }
    if (y != x)
        for (size_t i = 0; i < n; i++) y[i] = x[i];
}

#endif
