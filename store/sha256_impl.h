/* The two SHA-256 block functions behind store/hash.c's streaming API: the portable reference
 * (hash.c) and the SHA-NI one (sha256_ni.c). Internal to hash.c and tests/store/test_hash.c, which checks
 * that both give the same state on random blocks. */
#ifndef FC_SHA256_IMPL_H
#define FC_SHA256_IMPL_H

#include <stddef.h>
#include <stdint.h>

extern const uint32_t fc_sha256_k[64]; /* FIPS 180-4 4.2.2 round constants */

/* h (8 words, FIPS order a..h) updated by `blocks` consecutive 64-byte blocks at p. */
void fc_sha256_blocks_portable(uint32_t h[8], const uint8_t *p, size_t blocks);
/* The same with the x86 SHA extensions; call only when fc_sha256_ni_supported(). */
void fc_sha256_blocks_ni(uint32_t h[8], const uint8_t *p, size_t blocks);
/* 1 when core/cpu.h found SHA-NI, SSSE3 and SSE4.1 and FEATCACHE_ISA is not "scalar". */
int fc_sha256_ni_supported(void);

#endif
