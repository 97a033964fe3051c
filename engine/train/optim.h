/* AdamW's elementwise block, generic (optim.c) and AVX2 (optim-avx2.c): the same float operations in
 * the same order (correctly rounded sqrt and divide, no FMA), so their results are bitwise equal.
 * Internal to engine/train. Not here: argument checks, threading (optim.c). */
#ifndef FC_TRAIN_OPTIM_H
#define FC_TRAIN_OPTIM_H

#include <stddef.h>

typedef struct fc_adamw_consts {
    float b1, b2, eps, decay, step, bc2; /* step = lr / (1 - b1^t), bc2 = sqrt(1 - b2^t) */
    float pull;                          /* anchor_decay (used when anchor is not NULL) */
} fc_adamw_consts;

/* g = grad [+ pull * (param - anchor)]; param *= decay; m += (1 - b1)(g - m); v = b2 v + (1 - b2) g g;
 * param -= step * m / (sqrt(v) / bc2 + eps), for n elements; anchor NULL or (n). */
void fc_adamw_block_generic(float *param, float *m, float *v, const float *grad, const float *anchor, size_t n,
                            const fc_adamw_consts *k);
void fc_adamw_block_avx2(float *param, float *m, float *v, const float *grad, const float *anchor, size_t n,
                         const fc_adamw_consts *k);

#endif
