/* The AVX-512 f32 GEMM (f32-gemm-avx512.c, same tile, blocks and packing) with the bf16 path's fast
 * sigmoid and SiLU in its epilogue (FC_FAST_SIGMOID, f32-act-vec.h): the GEMM of the steps a
 * `--compute bf16` model keeps in f32 (engine/precision.h). Compiled with the AVX-512 flags; reached
 * only through the avx512bf16 table's .f32 (tables.c). Not here: its packing (the avx512 table's). */
#define FC_FAST_SIGMOID 1
#define GEMM fc_f32_gemm_12x32_fastsig__avx512
#define GEMM_KBLOCK fc_f32_gemm_kblock_12x32_fastsig__avx512
#include "engine/kernels/f32-gemm-avx512.c"
