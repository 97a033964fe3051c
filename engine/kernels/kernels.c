/* Kernel-table dispatch: maps the ISA level core/cpu.h allows (cpuid and the FEATCACHE_ISA
 * override, read once per process there) to a table (and to the bf16 product table when the CPU
 * has AVX512_BF16), sizes packed buffers, and holds the scalar
 * activation every table shares. Not here: CPU detection, any kernel arithmetic beyond one
 * activation value; there is nothing to initialize or free. */
#include "engine/kernels/kernels.h"

#include <math.h>
#include <string.h>

#include "core/core.h"
#include "engine/kernels/internal.h"

/* Tables from slowest to fastest. */
static const fc_kernels *table_at(int level) {
    switch (level) {
    case 0: return &fc_kernels_scalar_table;
    case 1: return &fc_kernels_avx2_table;
    case 2: return &fc_kernels_avx512_table;
    }
    return NULL;
}

const fc_kernels *fc_kernels_best(void) { return table_at(fc_cpu_isa()); }

const fc_kernels *fc_kernels_by_name(const char *name) {
    int l = fc_isa_from_name(name);
    if (l < 0 || l > (int)fc_cpu()->best) return NULL;
    return table_at(l);
}

const fc_bf16_kernels *fc_bf16_kernels_best(void) {
    return fc_cpu()->avx512_bf16 && fc_cpu_isa() >= FC_ISA_AVX512 ? &fc_bf16_kernels_avx512bf16_table : NULL;
}

const fc_kernels *fc_kernels_bf16(void) {
    return fc_bf16_kernels_best() ? &fc_kernels_avx512bf16_table : NULL;
}

const fc_bf16_kernels *fc_bf16_kernels_by_name(const char *name) {
    if (name && !strcmp(name, "scalar")) return &fc_bf16_kernels_scalar_table;
    return name && !strcmp(name, "avx512bf16") ? fc_bf16_kernels_best() : NULL;
}

size_t fc_kernels_packed_a_floats(const fc_kernels *k, int M, int K) {
    if (M <= 0 || K <= 0) return 0;
    size_t panels = ((size_t)M + (size_t)k->mr - 1) / (size_t)k->mr;
    return panels * (size_t)k->mr * (size_t)K;
}

size_t fc_kernels_packed_b_floats(const fc_kernels *k, int K, int N) {
    if (N <= 0 || K <= 0) return 0;
    size_t panels = ((size_t)N + (size_t)k->nr - 1) / (size_t)k->nr;
    return panels * (size_t)k->nr * (size_t)K;
}

/* min(max(x, lo), hi) with NaN passed through and -0 kept (the SIMD max/min operand order matches). */
static float clampf(float x, float lo, float hi) { return x < lo ? lo : x > hi ? hi : x; }

float fc_act_apply(const fc_act *act, float x) {
    switch (act->kind) {
    case FC_ACT_RELU: return x < 0.0f ? 0.0f : x;
    case FC_ACT_CLIP: return clampf(x, act->a, act->b);
    case FC_ACT_LEAKY: return x >= 0.0f ? x : act->a * x;
    case FC_ACT_SIGMOID:
        if (x >= 0.0f) return 1.0f / (1.0f + expf(-x));
        else {
            float e = expf(x);
            return e / (1.0f + e);
        }
    case FC_ACT_HARDSIGMOID: return clampf(act->a * x + act->b, 0.0f, 1.0f);
    case FC_ACT_HARDSWISH: return x * clampf(x * (1.0f / 6.0f) + 0.5f, 0.0f, 1.0f);
    case FC_ACT_SILU: {
        fc_act s = {FC_ACT_SIGMOID, 0.0f, 0.0f};
        return x * fc_act_apply(&s, x);
    }
    }
    return x;
}
