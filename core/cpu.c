/* fc_cpu (see cpu.h): cpuid leaves 1, 7.0 and 7.1 plus XCR0, read once under pthread_once into a
 * record nobody writes afterwards. Uses the same rules as GCC's __builtin_cpu_supports (which the
 * kernel dispatch used before): AVX-family flags need OSXSAVE and XCR0 bits 1-2 (SSE, YMM), AVX-512
 * ones also bits 5-7 (opmask, ZMM 0-15 upper halves, ZMM 16-31). Not here: any choice of kernels. */
#include "core/cpu.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#define XCR0_YMM 0x06u    /* SSE + AVX state */
#define XCR0_ZMM 0xe6u    /* the above + opmask + ZMM_Hi256 + Hi16_ZMM */

static fc_cpu_features detected;
static pthread_once_t detect_once = PTHREAD_ONCE_INIT;

static const char *const NAMES[] = {"scalar", "avx2", "avx512"};

const char *fc_isa_name(fc_isa isa) {
    return (unsigned)isa < sizeof NAMES / sizeof *NAMES ? NAMES[isa] : "unknown";
}

int fc_isa_from_name(const char *name) {
    for (int l = 0; name && l < (int)(sizeof NAMES / sizeof *NAMES); l++)
        if (!strcmp(NAMES[l], name)) return l;
    return -1;
}

fc_isa fc_isa_allowed(fc_isa best, const char *env) {
    int want = fc_isa_from_name(env);
    return want >= 0 && want < (int)best ? (fc_isa)want : best; /* only ever lowers */
}

#if defined(__x86_64__) || defined(__i386__)
static unsigned xcr0(void) {
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0)); /* only after OSXSAVE was checked */
    (void)hi;
    return lo;
}

static void detect_x86(fc_cpu_features *c) {
    unsigned a, b, c1, d, b7 = 0, c7 = 0, a71 = 0, subleaves = 0;
    if (!__get_cpuid(1, &a, &b, &c1, &d)) return;
    if (__get_cpuid_count(7, 0, &subleaves, &b7, &c7, &d) && subleaves >= 1)
        __get_cpuid_count(7, 1, &a71, &b, &a, &d);
    unsigned state = c1 & bit_OSXSAVE ? xcr0() : 0;
    int ymm = (state & XCR0_YMM) == XCR0_YMM, zmm = (state & XCR0_ZMM) == XCR0_ZMM;
    c->avx2 = ymm && (b7 & bit_AVX2);
    c->fma = ymm && (c1 & bit_FMA);
    c->f16c = ymm && (c1 & bit_F16C);
    c->avx512f = zmm && (b7 & bit_AVX512F);
    c->avx512bw = zmm && (b7 & bit_AVX512BW);
    c->avx512vl = zmm && (b7 & bit_AVX512VL);
    c->avx512dq = zmm && (b7 & bit_AVX512DQ);
    c->avx512_vnni = zmm && (c7 & bit_AVX512VNNI);
    c->avx512_vbmi = zmm && (c7 & bit_AVX512VBMI);
    c->avx512_bf16 = zmm && (a71 & bit_AVX512BF16);
    c->sha_ni = (b7 & bit_SHA) && (c1 & bit_SSSE3) && (c1 & bit_SSE4_1); /* SSE state: always saved */
}
#endif

static void detect(void) {
    fc_cpu_features *c = &detected;
#if defined(__x86_64__) || defined(__i386__)
    detect_x86(c);
#endif
    int avx2 = c->avx2 && c->fma && c->f16c;
    int avx512 = avx2 && c->avx512f && c->avx512bw && c->avx512vl && c->avx512dq;
    c->best = avx512 ? FC_ISA_AVX512 : avx2 ? FC_ISA_AVX2 : FC_ISA_SCALAR;
    const char *env = getenv("FEATCACHE_ISA");
    c->isa_env = fc_isa_from_name(env);
    c->isa = fc_isa_allowed(c->best, env);
}

const fc_cpu_features *fc_cpu(void) {
    pthread_once(&detect_once, detect);
    return &detected;
}

fc_isa fc_cpu_isa(void) { return fc_cpu()->isa; }
