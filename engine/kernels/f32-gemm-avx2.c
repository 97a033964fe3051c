/* AVX2+FMA f32 GEMM: packing (6-row A panels, 16-column B panels) and the 6x16 microkernel driver
 * (12 ymm accumulators, B loaded as two vectors, A broadcast), instantiated from f32-gemm-impl.h.
 * Compiled with -mavx2 -mfma -mf16c; reached only through the avx2 kernel table after kernels.c has
 * checked the CPU. Not here: the algorithm (f32-gemm-impl.h), the table (tables.c). */
#include "engine/kernels/internal.h"
#include "engine/kernels/simd-avx2.h"
#include "engine/kernels/f32-act-vec.h"

#define MR 6
#define KC_MAX 256         /* B micro-panel: 256 x 16 floats = 16 KiB, half of L1 */
#define A_BLOCK (64 * 1024) /* floats of packed A per L2 block (256 KiB) */
#define PACK_A fc_f32_gemm_pack_a_6__avx2
#define PACK_B fc_f32_gemm_pack_b_16__avx2
#define GEMM fc_f32_gemm_6x16__avx2
#define GEMM_KBLOCK fc_f32_gemm_kblock_6x16__avx2
#define GEMM_KC fc_f32_gemm_kc_6x16__avx2
#include "engine/kernels/f32-gemm-impl.h"
