/* Measured floating-point peaks: a register-only multiply-add loop per instruction set, run on every
 * thread. Used by `featcache bench` to report the fractions of the fp32 and bf16 peaks a model
 * reaches. Not a GEMM benchmark. */
#ifndef FC_PEAK_H
#define FC_PEAK_H

#include "engine/kernels/kernels.h"

/* fp32 GFLOP/s (2 per FMA lane) of k's instruction set summed over `threads` threads, measured for
 * about `seconds` (the avx512bf16 table: its f32 FMAs, the avx512 ones). Thread-safe; allocates
 * nothing. */
double fc_peak_gflops(const fc_kernels *k, int threads, double seconds);
/* bf16 GFLOP/s (2 per product: VDPBF16PS does 32 per instruction) over `threads` threads, measured
 * for about `seconds`; 0 without fc_kernels_bf16 (no AVX512_BF16). Thread-safe. */
double fc_peak_bf16_gflops(int threads, double seconds);

#endif
