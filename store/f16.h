/* IEEE 754 binary16 ("half") <-> binary32 conversion in portable C, used by the feature store to
 * keep f16 features at half the size. f32 -> f16 rounds to nearest, ties to even (the IEEE default
 * and what F16C's _cvtss_sh does with rounding mode 0), including f16 subnormals; overflow gives
 * +-inf, NaN stays NaN (quiet, sign and top payload bits kept). f16 -> f32 is exact. The results
 * are bit-identical on every host and compiler (integer arithmetic only). Not here: bfloat16,
 * SIMD (F16C) paths, rounding modes other than nearest-even. */
#ifndef FC_F16_H
#define FC_F16_H

#include <stddef.h>
#include <stdint.h>

/* Converts n floats to binary16 bit patterns. src and dst must not overlap. Never fails;
 * thread-safe. */
void fc_f16_from_f32(const float *src, uint16_t *dst, size_t n);

/* Converts n binary16 bit patterns to floats (exact). src and dst must not overlap. Never fails;
 * thread-safe. */
void fc_f16_to_f32(const uint16_t *src, float *dst, size_t n);

#endif
