/* Depthwise Conv2d backward on phase planes (dwconv.c drives it; dwgrad-impl.h is the kernel).
 * A padded input plane is split into SH x SW phases (phase (py, px) holds padded rows py, py+SH, ...
 * and columns px, px+SW, ...), each QH x QW, and dout is copied into Dp (OH rows of QW, the columns
 * past OW and the tail up to L zero). Tap (i, j) of every output then reads one phase at a fixed
 * offset, so both gradients are loops over one contiguous range t < L:
 *   dw[i,j] += sum_t Dp[t] * phase[t + off]      dphase[t + off] += w[i,j] * Dp[t]
 * whatever the stride, dilation or padding (the zero columns of Dp cancel the wrapped positions).
 * Stride 1 with the output as large as the input (MobileNet's "same" depthwise convolutions) needs
 * no phases: both gradients are flat loops over the input plane itself,
 *   dw[i,j] += sum_t inp[t] * Z_j[t + off]       dinp[t] = sum_(i,j) w[i,j] * Z_j[t + off]
 * where Z_j is dout with zero rows above and below, at the input's row pitch, and with the columns
 * that tap column j would wrap into zeroed (one copy of dout per kernel column).
 * Not here: threading, the forward (the engine's dwconv_planes kernel does that). */
#ifndef FC_TRAIN_DWGRAD_H
#define FC_TRAIN_DWGRAD_H

#include <stddef.h>

#define FC_DWG_LANES 16 /* partial sums per tap (one vector loop step) */

typedef struct fc_dwgrad_geom {
    int N, C, H, W, OH, OW, KH, KW, SH, SW, DH, DW, PT, PL;
    int PH, PW;  /* padded extent the taps read: (OH-1)*SH + (KH-1)*DH + 1, likewise columns */
    int QH, QW;  /* phase size: ceil(PH/SH) x ceil(PW/SW) */
    size_t QS;   /* floats per phase: QH*QW + slack for the wrapped reads of the last rows */
    int L;       /* floats of Dp: OH*QW rounded up to FC_DWG_LANES */
    int same;    /* stride 1, OH == H, OW == W, at most FC_DWG_MAXTAPS taps: the flat path */
    int ZF, RT;  /* flat path: zero floats before Z_j's first row, zero rows above dout (= PB) */
    size_t ZS;   /* flat path: floats per Z_j */
} fc_dwgrad_geom;

/* Largest kernel (taps) of the flat path; larger kernels take the phase path. */
#define FC_DWG_MAXTAPS 128

/* Channels per task of the backward (their accumulators stay in L1/L2). */
#define FC_DWG_BLOCK 16

/* Scratch floats per thread: phases, their gradients and Dp (or the Z_j), and the accumulators of
 * a block. */
size_t fc_dwgrad_scratch(const fc_dwgrad_geom *g);

/* Gradients of channels [c0, c1) (at most FC_DWG_BLOCK) over the whole batch, every channel adding
 * its images in order: dweight (C,KH*KW) and dbias (C) rows of those channels (each may be NULL),
 * dinp planes (n, c) for every n (may be NULL). inp, dout, dinp are the full (N,C,...) tensors;
 * scratch holds fc_dwgrad_scratch floats. The generic and the AVX2 build run the same float
 * operations in the same order (no contraction into FMA in ISO C): bitwise equal results. */
typedef void (*fc_dwgrad_fn)(const fc_dwgrad_geom *g, int c0, int c1, const float *inp,
                             const float *dout, const float *weight, float *dinp, float *dweight,
                             float *dbias, float *scratch);
void fc_dwgrad_block_generic(const fc_dwgrad_geom *g, int c0, int c1, const float *inp,
                             const float *dout, const float *weight, float *dinp, float *dweight,
                             float *dbias, float *scratch);
void fc_dwgrad_block_avx2(const fc_dwgrad_geom *g, int c0, int c1, const float *inp,
                          const float *dout, const float *weight, float *dinp, float *dweight,
                          float *dbias, float *scratch);

#endif
