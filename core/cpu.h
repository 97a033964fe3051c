/* The CPU's features, detected once per process (cpuid, and XGETBV for the register state the OS
 * saves), and the instruction-set level the library may use after the FEATCACHE_ISA override.
 * Every ISA choice in featcache asks here (engine kernel tables, SHA-256, the resize passes, the
 * dense classifier kernels), so one process makes one consistent choice and reads the environment
 * once. Not here: the kernel tables themselves or which of them implements a level. */
#ifndef FC_CPU_H
#define FC_CPU_H

#include <stdbool.h>

/* Levels of the kernel tables, lowest first. */
typedef enum fc_isa {
    FC_ISA_SCALAR = 0, /* portable C */
    FC_ISA_AVX2 = 1,   /* AVX2 + FMA + F16C */
    FC_ISA_AVX512 = 2, /* the AVX2 set + AVX-512 F, BW, VL, DQ */
} fc_isa;

/* What this process found at its first call of fc_cpu(); never changes afterwards. A flag is set
 * only when cpuid reports the feature and, for AVX and AVX-512 ones, the OS saves the registers
 * they use (XCR0: the YMM state for avx2/fma/f16c; opmask and ZMM states for avx512*); without
 * that the instructions would fault or lose state. */
typedef struct fc_cpu_features {
    bool avx2, fma, f16c;
    bool avx512f, avx512bw, avx512vl, avx512dq;
    bool avx512_bf16, avx512_vnni, avx512_vbmi;
    bool sha_ni;     /* SHA extensions with SSSE3 and SSE4.1 (what store/'s SHA-256 needs) */
    fc_isa best;     /* highest level this CPU runs */
    int isa_env;     /* FEATCACHE_ISA as an fc_isa, or -1 when unset, empty or unknown (ignored) */
    fc_isa isa;      /* best, lowered to isa_env when that is lower: the level to use */
} fc_cpu_features;

/* The record, detected on the first call (thread-safe one-time initialization; FEATCACHE_ISA is
 * read then, never again). Never NULL; immutable. */
const fc_cpu_features *fc_cpu(void);

/* fc_cpu()->isa: the level the library uses. FEATCACHE_ISA=scalar|avx2|avx512 only ever lowers the
 * best level this CPU has; an empty or unknown value is ignored. FEATCACHE_ISA=scalar also turns
 * off SHA-NI hashing (fc_cpu()->isa_env == FC_ISA_SCALAR). */
fc_isa fc_cpu_isa(void);

/* "scalar", "avx2", "avx512"; "unknown" for anything else. */
const char *fc_isa_name(fc_isa isa);
/* The level with this exact (case-sensitive) name, or -1 (NULL, empty or unknown). */
int fc_isa_from_name(const char *name);
/* best lowered to the level named by env (FEATCACHE_ISA's rule above; env may be NULL). */
fc_isa fc_isa_allowed(fc_isa best, const char *env);

#endif
