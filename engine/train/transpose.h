/* Transposed copies between rows and lanes: the packing of fc_train_gemm (operands whose contiguous
 * dimension is the product's inner one) and the channel lanes of the depthwise backward. Generic
 * (transpose.c) and AVX2 (transpose-avx2.c: 8x8 and 4x4 register transposes) versions; pure
 * copies, so every version gives the same bits (tests/engine/test_train_ops.c compares them).
 * Internal to engine/train. Not here: the kernels that use them. */
#ifndef FC_TRAIN_TRANSPOSE_H
#define FC_TRAIN_TRANSPOSE_H

#include <stddef.h>

/* dst[k*ds + r] = src[r*rs + k] for r < rows, k < len, and dst[k*ds + r] = 0 for rows <= r < R
 * (R lanes per k; 0 <= rows <= R). */
typedef void fc_train_tr_fn(const float *src, ptrdiff_t rs, int rows, int R, int len, float *dst,
                            ptrdiff_t ds);
/* The inverse: dst[r*rs + k] = src[k*ds + r] for r < rows, k < len. The AVX2 version reads the
 * lanes up to rows rounded up to 4 (they must exist in src). */
typedef void fc_train_untr_fn(const float *src, ptrdiff_t ds, int rows, int len, float *dst,
                              ptrdiff_t rs);

fc_train_tr_fn fc_train_tr_generic, fc_train_tr_avx2;
fc_train_untr_fn fc_train_untr_generic, fc_train_untr_avx2;

#endif
