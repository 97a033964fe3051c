/* AVX512_BF16 GEMM of the inference path (`--compute bf16`): weights packed once as bf16 k pairs
 * (f32 12-row panels converted in place), activations packed as f32 32-column panels exactly as the
 * avx512 table packs them (im2col and the Winograd transforms write those) and converted into pairs
 * on the fly, one B slice per A block ("cvtb"); f32 accumulation with VDPBF16PS and the f32 driver's
 * whole epilogue (bias, residual, every activation, streaming stores), instantiated from
 * f32-gemm-impl.h with GEMM_BF16. Compiled with the AVX-512 flags and -mavx512bf16; reached only
 * through fc_kernels_bf16 after the CPU was checked. Not here: the training products
 * (bf16-gemm-avx512bf16.c), the scalar twin (bf16-gemm-scalar.c). */
#define FC_FAST_SIGMOID 1 /* the bf16 path's sigmoid and SiLU (f32-act-vec.h) */
#include "engine/kernels/internal.h"
#include "engine/kernels/simd-avx512.h"
#include "engine/kernels/f32-act-vec.h"
#include "engine/kernels/bf16-pairs-avx512bf16.h"

#define GEMM_BF16 1
#define BF16_PACK_PAIRS fc_bf16_gemm_pack_pairs__avx512bf16
#define MR 12
#define KC_MAX 384           /* 192 pairs: a converted B slice is 192 x 32 words = 24 KiB, in L1 */
#define A_BLOCK (128 * 1024) /* floats of f32 K per L2 block: 64K words of pairs (256 KiB) */
#define PACK_A fc_bf16_gemm_pack_a_12__avx512bf16
#define GEMM fc_bf16_gemm_12x32_cvtb__avx512bf16
#define GEMM_KBLOCK fc_bf16_gemm_kblock_12x32_cvtb__avx512bf16
#define GEMM_KC fc_bf16_gemm_kc_12x32_cvtb__avx512bf16
#include "engine/kernels/f32-gemm-impl.h"
