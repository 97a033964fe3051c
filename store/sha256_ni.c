/* SHA-256 block compression with the x86 SHA extensions (SHA-NI: sha256rnds2 does two rounds,
 * sha256msg1/msg2 the message schedule), compiled through a target attribute and called only when
 * core/cpu.h reports them (store/hash.c decides). Same results as the portable compress() in hash.c,
 * which stays the reference (tests/store/test_hash.c compares the two on random data).
 * The state is kept in the instruction's lane order: ABEF in one register, CDGH in the other. */
#include <immintrin.h>

#include "store/sha256_impl.h"

#define SHA_TARGET __attribute__((target("sha,ssse3,sse4.1")))

SHA_TARGET void fc_sha256_blocks_ni(uint32_t h[8], const uint8_t *p, size_t blocks) {
    const uint32_t *k = fc_sha256_k;
    const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);
    /* words named high lane to low lane: memory order a b c d is "DCBA" */
    __m128i t = _mm_loadu_si128((const __m128i *)&h[0]);  /* DCBA */
    __m128i s1 = _mm_loadu_si128((const __m128i *)&h[4]); /* HGFE */
    t = _mm_shuffle_epi32(t, 0xB1);                        /* CDAB */
    s1 = _mm_shuffle_epi32(s1, 0x1B);                      /* EFGH */
    __m128i s0 = _mm_alignr_epi8(t, s1, 8);                /* ABEF */
    s1 = _mm_blend_epi16(s1, t, 0xF0);                     /* CDGH */
    for (; blocks > 0; blocks--, p += 64) {
        const __m128i save0 = s0, save1 = s1;
        __m128i m[4];
        /* group g: rounds 4g .. 4g+3 on message words m[g % 4]; the schedule for later groups is
         * prepared two (msg1) and one (msg2) groups ahead */
        for (int g = 0; g < 16; g++) {
            if (g < 4) m[g] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 16 * g)), bswap);
            __m128i w = _mm_add_epi32(m[g & 3], _mm_loadu_si128((const __m128i *)(k + 4 * g)));
            s1 = _mm_sha256rnds2_epu32(s1, s0, w);
            if (g >= 3 && g < 15) {
                __m128i next = _mm_add_epi32(m[(g + 1) & 3], _mm_alignr_epi8(m[g & 3], m[(g + 3) & 3], 4));
                m[(g + 1) & 3] = _mm_sha256msg2_epu32(next, m[g & 3]);
            }
            s0 = _mm_sha256rnds2_epu32(s0, s1, _mm_shuffle_epi32(w, 0x0E));
            if (g >= 1 && g < 13) m[(g + 3) & 3] = _mm_sha256msg1_epu32(m[(g + 3) & 3], m[g & 3]);
        }
        s0 = _mm_add_epi32(s0, save0);
        s1 = _mm_add_epi32(s1, save1);
    }
    t = _mm_shuffle_epi32(s0, 0x1B);   /* FEBA */
    s1 = _mm_shuffle_epi32(s1, 0xB1);  /* DCHG */
    s0 = _mm_blend_epi16(t, s1, 0xF0); /* DCBA */
    s1 = _mm_alignr_epi8(s1, t, 8);    /* HGFE */
    _mm_storeu_si128((__m128i *)&h[0], s0);
    _mm_storeu_si128((__m128i *)&h[4], s1);
}
