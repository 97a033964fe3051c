/* The two CRC-32C functions behind store/hash.c's fc_crc32c: the portable reference (hash.c) and
 * the one with SSE4.2's crc32 instruction (crc32c_sse42.c). Internal to hash.c and
 * tests/store/test_hash.c, which checks that both give the same CRC on random data. */
#ifndef FC_CRC32C_IMPL_H
#define FC_CRC32C_IMPL_H

#include <stddef.h>
#include <stdint.h>

/* fc_crc32c's contract (hash.h), a nibble at a time from a 16-entry table: ~0.2 GB/s. */
uint32_t fc_crc32c_portable(uint32_t crc, const void *data, size_t n);
/* The same 8 bytes per instruction (~10x faster); call only when fc_crc32c_sse42_supported(). */
uint32_t fc_crc32c_sse42(uint32_t crc, const void *data, size_t n);
/* 1 when the library runs at the AVX2 level or above (every such CPU has SSE4.2; FEATCACHE_ISA=scalar
 * keeps the portable function). */
int fc_crc32c_sse42_supported(void);

#endif
