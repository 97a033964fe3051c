/* AVX-512 f32 GEMM: packing (12-row A panels, 32-column B panels) and the 12x32 microkernel driver
 * (24 zmm accumulators, B loaded as two vectors, A broadcast), instantiated from f32-gemm-impl.h.
 * Compiled with -mavx512f -mavx512bw -mavx512vl -mavx512dq -mfma; reached only through the avx512
 * kernel table after kernels.c has checked the CPU. Not here: the algorithm (f32-gemm-impl.h), the
 * table (tables.c). */
#include "engine/kernels/internal.h"
#include "engine/kernels/simd-avx512.h"
#include "engine/kernels/f32-act-vec.h"

#define MR 12
#define KC_MAX 192          /* B micro-panel: 192 x 32 floats = 24 KiB (L1 of AVX-512 cores: 32-48 KiB) */
#define A_BLOCK (64 * 1024) /* floats of packed A per L2 block (256 KiB) */
#ifndef GEMM /* the table's GEMM and packing; f32-gemm-fastsig-avx512.c names its variant */
#define PACK_A fc_f32_gemm_pack_a_12__avx512
#define PACK_B fc_f32_gemm_pack_b_32__avx512
#define GEMM fc_f32_gemm_12x32__avx512
#define GEMM_KBLOCK fc_f32_gemm_kblock_12x32__avx512
#define GEMM_KC fc_f32_gemm_kc_12x32__avx512
#endif
#include "engine/kernels/f32-gemm-impl.h"
