/* Measured floating-point peak: a register-only FMA loop per instruction set, run on every thread.
 * Used by `featcache bench` to report the fraction of peak a model reaches. Not a GEMM benchmark. */
#ifndef FC_PEAK_H
#define FC_PEAK_H

#include "engine/kernels/kernels.h"

/* fp32 GFLOP/s (2 per FMA lane) of k's instruction set summed over `threads` threads, measured for
 * about `seconds`. Thread-safe; allocates nothing. */
double fc_peak_gflops(const fc_kernels *k, int threads, double seconds);

#endif
