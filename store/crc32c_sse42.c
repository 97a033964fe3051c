/* CRC-32C with SSE4.2's crc32 instruction, which computes exactly this CRC (the reflected Castagnoli
 * polynomial 0x82f63b78) over 8 bytes per step, compiled through a target attribute and called
 * only when store/hash.c allows it. Same results as fc_crc32c_portable in hash.c, the reference
 * (tests/store/test_hash.c compares the two). Every reader of a stored value checks its CRC, so this
 * is what keeps that check cheap: a 1280-D f16 value (2.5 KiB) takes ~0.3 us instead of ~13 us. */
#include <nmmintrin.h>
#include <string.h>

#include "store/crc32c_impl.h"

__attribute__((target("sse4.2"))) uint32_t fc_crc32c_sse42(uint32_t crc, const void *data, size_t n) {
    const uint8_t *p = data;
    uint64_t c = ~crc;
    for (; n >= 8; n -= 8, p += 8) {
        uint64_t w;
        memcpy(&w, p, 8); /* unaligned: values in leaf pages are only 2-byte aligned */
        c = _mm_crc32_u64(c, w);
    }
    uint32_t c32 = (uint32_t)c;
    for (; n > 0; n--, p++) c32 = _mm_crc32_u8(c32, *p);
    return ~c32;
}
