/* The depthwise backward kernel (dwgrad-impl.h) compiled with -mavx2 (8-wide vectors instead of
 * SSE2's 4); the same float operations as the generic build, bitwise. Reached only when the kernel
 * table is avx2 or avx512 (the CPU has been checked). Not here: the method (dwgrad.h). */
#define DWG_NAME fc_dwgrad_block_avx2
#define DWG_TR fc_train_tr_avx2
#define DWG_UNTR fc_train_untr_avx2
#include "engine/train/dwgrad-impl.h"
