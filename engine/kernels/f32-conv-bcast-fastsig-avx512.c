/* The AVX-512 pixel-broadcast convolution tile (f32-conv-bcast-avx512.c) with the bf16 path's fast
 * sigmoid and SiLU in its epilogue (FC_FAST_SIGMOID, f32-act-vec.h), for the avx512+fastsig table
 * (the steps a `--compute bf16` model keeps in f32). Compiled with the AVX-512 flags. */
#define FC_FAST_SIGMOID 1
#define CONV_BCAST fc_f32_conv_bcast_14x32_fastsig__avx512
#include "engine/kernels/f32-conv-bcast-avx512.c"
