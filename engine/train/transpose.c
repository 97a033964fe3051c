/* The generic transposed copies of transpose.h: loops with contiguous stores (the source rows stay
 * in L1 meanwhile). Not here: the AVX2 versions (transpose-avx2.c). */
#include "engine/train/transpose.h"

void fc_train_tr_generic(const float *src, ptrdiff_t rs, int rows, int R, int len, float *dst,
                         ptrdiff_t ds) {
    for (int k = 0; k < len; k++) {
        float *d = dst + k * ds;
        int r = 0;
        for (; r < rows; r++) d[r] = src[r * rs + k];
        for (; r < R; r++) d[r] = 0.0f;
    }
}

void fc_train_untr_generic(const float *src, ptrdiff_t ds, int rows, int len, float *dst,
                           ptrdiff_t rs) {
    for (int r = 0; r < rows; r++)
        for (int k = 0; k < len; k++) dst[r * rs + k] = src[k * ds + r];
}
