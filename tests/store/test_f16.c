/* Tests for store/f16.c: every half value round-trips exactly through float; known values, ties to
 * even, overflow, subnormals and NaN; the relative error of normal values; and, when the compiler has
 * _Float16, agreement with its IEEE round-to-nearest-even conversion. Not a speed test. */
#include "store/f16.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "tests/support/check.h"
#include "tests/support/store_fixture.h"

static void test_f16_conversion(void) {
    /* every half round-trips exactly through float */
    for (uint32_t h = 0; h < 65536; h++) {
        uint16_t in = (uint16_t)h, back;
        float f;
        fc_f16_to_f32(&in, &f, 1);
        fc_f16_from_f32(&f, &back, 1);
        if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff)) {
            REQUIRE(isnan(f) && (back & 0x7c00) == 0x7c00 && (back & 0x3ff) && (back & 0x8000) == (h & 0x8000),
                    "NaN %04x -> %04x", h, back);
        } else {
            REQUIRE(back == in, "half %04x -> %g -> %04x", h, f, back);
        }
    }
    /* known values, ties to even, overflow, subnormals */
    struct { float f; uint16_t h; } cases[] = {
        {1.0f, 0x3c00}, {-2.0f, 0xc000}, {0.1f, 0x2e66}, {65504.0f, 0x7bff}, {65519.99f, 0x7bff},
        {65520.0f, 0x7c00}, {1e10f, 0x7c00}, {-INFINITY, 0xfc00}, {-0.0f, 0x8000},
        {0x1p-24f, 0x0001}, {0x1p-25f, 0x0000}, {0x1.8p-25f, 0x0001}, {0x1.8p-24f, 0x0002},
        {0x1p-14f, 0x0400}, {0x1p-14f - 0x1p-25f, 0x0400}, {1.0f + 0x1p-11f, 0x3c00},
        {1.0f + 0x1.8p-10f, 0x3c02}, {1.0f + 0x1p-11f + 0x1p-23f, 0x3c01}, {0x1p-30f, 0x0000},
        {-0x1p-130f, 0x8000},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        CHECK(fx_half(cases[i].f) == cases[i].h, "%a -> %04x, want %04x", cases[i].f,
              fx_half(cases[i].f), cases[i].h);
    CHECK(fx_half(NAN) & 0x3ff, "NaN stays NaN");
    CHECK(fx_half(fx_float(0x7f800001u)) != 0x7c00, "signalling NaN with low payload is not inf");
    /* relative error for normal values */
    double worst = 0;
    uint32_t seed = 1;
    for (int i = 0; i < 200000; i++) {
        seed = seed * 1664525u + 1013904223u;
        float x = ldexpf(1.0f + (float)(seed >> 9) / 8388608.0f, (int)(seed % 29) - 14); /* [2^-14, 2^15) */
        uint16_t h = fx_half(x);
        float y;
        fc_f16_to_f32(&h, &y, 1);
        double rel = fabs((double)y - x) / x;
        if (rel > worst) worst = rel;
    }
    CHECK(worst <= 0x1p-11 && worst <= 1e-3, "worst relative error %g", worst);
#ifdef __FLT16_MAX__
    /* against the compiler's conversion (IEEE round-to-nearest-even), including exact ties */
    long mismatches = 0;
    for (uint64_t b = 0; b < (1ull << 32); b += 4093) {
        uint32_t variants[4] = {(uint32_t)b, ((uint32_t)b & ~0x1fffu) | 0x1000u,
                                ((uint32_t)b & ~0x1fffu) | 0x0fffu, ((uint32_t)b & ~0x1fffu) | 0x3000u};
        for (int v = 0; v < 4; v++) {
            float x = fx_float(variants[v]);
            if (isnan(x)) continue;
            _Float16 ref = (_Float16)x;
            uint16_t rb;
            memcpy(&rb, &ref, 2);
            if (rb != fx_half(x) && mismatches++ < 5)
                printf("  %08x: ours %04x, compiler %04x\n", variants[v], fx_half(x), rb);
        }
    }
    CHECK(mismatches == 0, "%ld mismatches against _Float16", mismatches);
#endif
}

int main(void) {
    RUN(test_f16_conversion);
    return check_done();
}
