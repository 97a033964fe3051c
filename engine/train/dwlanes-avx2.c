/* The depthwise kernels (dwlanes-impl.h) compiled with -mavx2 (8-wide vectors instead of
 * SSE2's 4); the same float operations as the generic build, bitwise. Reached only when the kernel
 * table is avx2 or avx512 (the CPU has been checked). Not here: the method (dwlanes.h). */
#define DWL_FWD fc_dwlanes_fwd_avx2
#define DWL_BACK fc_dwlanes_back_avx2
#define DWL_TR fc_train_tr_avx2
#define DWL_UNTR fc_train_untr_avx2
#include "engine/train/dwlanes-impl.h"
