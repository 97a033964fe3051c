/* core/cpu.h: the FEATCACHE_ISA rule (only ever lowers; empty or unknown values ignored), the
 * detected flags against GCC's own cpuid checks, the environment read once per process, and, in
 * child processes started with each FEATCACHE_ISA value, that every ISA choice of the library
 * (engine kernel table, resize passes, dense classifier kernels, SHA-NI hashing) follows it. */
#include <cpuid.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "classify/dense.h"
#include "core/core.h"
#include "engine/engine.h"
#include "extract/resize.h"
#include "store/sha256_impl.h"
#include "tests/support/check.h"

static void test_isa_names(void) {
    for (int l = FC_ISA_SCALAR; l <= FC_ISA_AVX512; l++)
        CHECK(fc_isa_from_name(fc_isa_name((fc_isa)l)) == l, "level %d does not round-trip", l);
    CHECK(!strcmp(fc_isa_name(FC_ISA_AVX2), "avx2") && !strcmp(fc_isa_name((fc_isa)7), "unknown"), "names");
    const char *unknown[] = {NULL, "", "AVX2", "avx2 ", "sse", "nonsense"};
    for (size_t i = 0; i < sizeof unknown / sizeof *unknown; i++)
        CHECK(fc_isa_from_name(unknown[i]) == -1, "'%s' named a level", unknown[i] ? unknown[i] : "(null)");
}

static void test_isa_allowed(void) {
    const char *envs[] = {NULL, "", "nonsense", "scalar", "avx2", "avx512"};
    const int want[3][6] = {/* best = scalar, avx2, avx512 */
                            {0, 0, 0, 0, 0, 0},
                            {1, 1, 1, 0, 1, 1},
                            {2, 2, 2, 0, 1, 2}};
    for (int best = 0; best < 3; best++)
        for (int e = 0; e < 6; e++)
            CHECK((int)fc_isa_allowed((fc_isa)best, envs[e]) == want[best][e], "best %s, FEATCACHE_ISA=%s: %s",
                  fc_isa_name((fc_isa)best), envs[e] ? envs[e] : "(unset)",
                  fc_isa_name(fc_isa_allowed((fc_isa)best, envs[e])));
}

/* The flags agree with GCC's __builtin_cpu_supports (which also checks the OS's XSAVE state) and,
 * for F16C and SHA, with raw cpuid bits. */
static void test_detection(void) {
    const fc_cpu_features *c = fc_cpu();
    REQUIRE(c && c == fc_cpu(), "fc_cpu() is not one record");
    __builtin_cpu_init();
    CHECK(c->avx2 == !!__builtin_cpu_supports("avx2"), "avx2 %d", c->avx2);
    CHECK(c->fma == !!__builtin_cpu_supports("fma"), "fma %d", c->fma);
    CHECK(c->avx512f == !!__builtin_cpu_supports("avx512f"), "avx512f %d", c->avx512f);
    CHECK(c->avx512bw == !!__builtin_cpu_supports("avx512bw"), "avx512bw %d", c->avx512bw);
    CHECK(c->avx512vl == !!__builtin_cpu_supports("avx512vl"), "avx512vl %d", c->avx512vl);
    CHECK(c->avx512dq == !!__builtin_cpu_supports("avx512dq"), "avx512dq %d", c->avx512dq);
    CHECK(c->avx512_vnni == !!__builtin_cpu_supports("avx512vnni"), "avx512_vnni %d", c->avx512_vnni);
    CHECK(c->avx512_vbmi == !!__builtin_cpu_supports("avx512vbmi"), "avx512_vbmi %d", c->avx512_vbmi);
    unsigned a, b, ecx, d;
    REQUIRE(__get_cpuid(1, &a, &b, &ecx, &d), "no cpuid leaf 1");
    CHECK(!c->f16c || (ecx & bit_F16C), "f16c set without the cpuid bit");
    CHECK(c->f16c || !c->avx2 || !(ecx & bit_F16C), "f16c missing");
    int avx2 = c->avx2 && c->fma && c->f16c;
    int best = avx2 && c->avx512f && c->avx512bw && c->avx512vl && c->avx512dq ? 2 : avx2;
    CHECK((int)c->best == best, "best %s, flags say %s", fc_isa_name(c->best), fc_isa_name((fc_isa)best));
    const char *env = getenv("FEATCACHE_ISA");
    CHECK(c->isa == fc_isa_allowed(c->best, env) && fc_cpu_isa() == c->isa && c->isa_env == fc_isa_from_name(env),
          "isa %s with FEATCACHE_ISA=%s", fc_isa_name(c->isa), env ? env : "(unset)");
    printf("  cpu: best %s, using %s; avx512_bf16 %d avx512_vnni %d avx512_vbmi %d sha_ni %d\n", fc_isa_name(c->best),
           fc_isa_name(c->isa), c->avx512_bf16, c->avx512_vnni, c->avx512_vbmi, c->sha_ni);
}

/* Changing the environment after the first call changes nothing. */
static void test_env_read_once(void) {
    fc_isa before = fc_cpu_isa();
    const fc_kernels *k = fc_kernels_best();
    const char *old = getenv("FEATCACHE_ISA");
    char *saved = old ? strdup(old) : NULL;
    setenv("FEATCACHE_ISA", before == FC_ISA_SCALAR ? "avx512" : "scalar", 1);
    CHECK(fc_cpu_isa() == before && fc_kernels_best() == k, "FEATCACHE_ISA read again");
    if (saved) setenv("FEATCACHE_ISA", saved, 1);
    else unsetenv("FEATCACHE_ISA");
    free(saved);
}

/* Child mode: what this process chose, on one line. */
static int print_choices(void) {
    printf("kernels=%s resize=%s dense=%s sha_ni=%d\n", fc_kernels_best()->name, fc_resize_best()->name,
           fc_dense_kernels_best()->name, fc_sha256_ni_supported());
    return 0;
}

static void test_env_in_children(void) {
    const fc_cpu_features *c = fc_cpu();
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    REQUIRE(n > 0 && !memchr(self, '\'', (size_t)n), "cannot name this test binary");
    self[n] = 0;
    const char *envs[] = {NULL, "", "nonsense", "scalar", "avx2", "avx512"};
    for (size_t e = 0; e < sizeof envs / sizeof *envs; e++) {
        char cmd[PATH_MAX + 64], line[256] = "", want[256];
        if (envs[e]) snprintf(cmd, sizeof cmd, "FEATCACHE_ISA='%s' '%s' --choices", envs[e], self);
        else snprintf(cmd, sizeof cmd, "env -u FEATCACHE_ISA '%s' --choices", self);
        FILE *p = popen(cmd, "r");
        REQUIRE(p, "cannot run %s", cmd);
        if (!fgets(line, sizeof line, p)) line[0] = 0;
        int rc = pclose(p);
        line[strcspn(line, "\n")] = 0;
        fc_isa isa = fc_isa_allowed(c->best, envs[e]);
        int ni = c->sha_ni && !(envs[e] && !strcmp(envs[e], "scalar"));
        const char *dense = isa >= FC_ISA_AVX512 ? "avx512" : isa >= FC_ISA_AVX2 ? "avx2" : "portable";
        const char *resize = isa >= FC_ISA_AVX512 && c->avx512_vbmi ? "avx512vbmi"
                             : isa >= FC_ISA_AVX2                   ? "avx2"
                                                                    : "scalar";
        snprintf(want, sizeof want, "kernels=%s resize=%s dense=%s sha_ni=%d", fc_isa_name(isa), resize, dense, ni);
        CHECK(rc == 0 && !strcmp(line, want), "FEATCACHE_ISA=%s: child says '%s', want '%s'",
              envs[e] ? envs[e] : "(unset)", line, want);
    }
}

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "--choices")) return print_choices();
    RUN(test_isa_names);
    RUN(test_isa_allowed);
    RUN(test_detection);
    RUN(test_env_read_once);
    RUN(test_env_in_children);
    return check_done();
}
