/* binary32 <-> binary16 by bit manipulation (no FPU rounding mode, no F16C), so stored f16
 * features are the same bytes on every machine. Not a general soft-float library. */
#include "store/f16.h"

#include <string.h>

static uint16_t half_from_bits(uint32_t x) {
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    uint32_t ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u) { /* inf or NaN */
        if (ax == 0x7f800000u) return sign | 0x7c00;
        return (uint16_t)(sign | 0x7e00 | ((ax >> 13) & 0x3ff)); /* quiet bit set: never inf */
    }
    if (ax >= 0x477ff000u) return sign | 0x7c00; /* >= 65520 = halfway past 65504: rounds to inf */
    if (ax < 0x38800000u) {                       /* below 2^-14: f16 subnormal or zero */
        uint32_t e = ax >> 23;
        if (e < 102) return sign; /* < 2^-25 (incl. f32 subnormals): rounds to zero */
        /* value = m * 2^(e-150); in units of 2^-24 that is m >> (126 - e), 14 <= shift <= 24 */
        uint32_t m = (ax & 0x7fffffu) | 0x800000u, shift = 126 - e;
        uint32_t r = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (r & 1))) r++; /* may carry into the smallest normal */
        return (uint16_t)(sign | r);
    }
    uint32_t r = ((ax >> 23) - 112) << 10 | (ax & 0x7fffffu) >> 13; /* rebias 127 -> 15 */
    uint32_t rem = ax & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (r & 1))) r++; /* a carry bumps the exponent: correct */
    return (uint16_t)(sign | r);
}

static uint32_t half_to_bits(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, e = (h >> 10) & 0x1f, m = h & 0x3ff;
    if (e == 31) return sign | 0x7f800000u | m << 13;
    if (e != 0) return sign | (e + 112) << 23 | m << 13;
    if (m == 0) return sign;
    /* subnormal m * 2^-24: normalise so bit 10 is the implicit one */
    int ex = 1;
    while (!(m & 0x400)) m <<= 1, ex--;
    return sign | (uint32_t)(ex + 112) << 23 | (m & 0x3ff) << 13;
}

void fc_f16_from_f32(const float *src, uint16_t *dst, size_t n) {
    for (size_t i = 0; i < n; i++) {
        uint32_t x;
        memcpy(&x, &src[i], 4);
        dst[i] = half_from_bits(x);
    }
}

void fc_f16_to_f32(const uint16_t *src, float *dst, size_t n) {
    for (size_t i = 0; i < n; i++) {
        uint32_t x = half_to_bits(src[i]);
        memcpy(&dst[i], &x, 4);
    }
}
