/* Kernel-table dispatch: picks the fastest table the CPU supports (cpuid through GCC's
 * __builtin_cpu_supports, which also checks that the OS saves the wide registers), honours the
 * FEATCACHE_ISA override, sizes packed buffers, and holds the scalar activation every table shares.
 * Not here: any kernel arithmetic beyond one activation value; no state is cached (each call re-reads
 * cpuid and the environment, both cheap), so there is nothing to initialize or free. */
#include "engine/kernels/kernels.h"

#include <cpuid.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/kernels/internal.h"

/* F16C from cpuid leaf 1 (clang 14's __builtin_cpu_supports does not know "f16c"). */
static int cpu_has_f16c(void) {
    unsigned a, b, c, d;
    return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C);
}

static int cpu_has_avx2(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && cpu_has_f16c();
}

static int cpu_has_avx512(void) {
    __builtin_cpu_init();
    return cpu_has_avx2() && __builtin_cpu_supports("avx512f") &&
           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx512dq");
}

/* Tables from slowest to fastest. */
static const fc_kernels *table_at(int level) {
    switch (level) {
    case 0: return &fc_kernels_scalar_table;
    case 1: return &fc_kernels_avx2_table;
    case 2: return &fc_kernels_avx512_table;
    }
    return NULL;
}

static int supported_level(void) {
    if (cpu_has_avx512()) return 2;
    if (cpu_has_avx2()) return 1;
    return 0;
}

static int level_of(const char *name) {
    for (int l = 0; l <= 2; l++)
        if (strcmp(table_at(l)->name, name) == 0) return l;
    return -1;
}

const fc_kernels *fc_kernels_best(void) {
    int level = supported_level();
    const char *env = getenv("FEATCACHE_ISA");
    if (env && *env) {
        int want = level_of(env);
        if (want >= 0 && want < level) level = want; /* only ever lowers; unknown names ignored */
    }
    return table_at(level);
}

const fc_kernels *fc_kernels_by_name(const char *name) {
    if (!name) return NULL;
    int l = level_of(name);
    if (l < 0 || l > supported_level()) return NULL;
    return table_at(l);
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
