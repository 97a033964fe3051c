/* Depthwise Conv2d backward on phase planes (dwconv.c drives it; dwgrad-impl.h is the kernel).
 * A padded input plane is split into SH x SW phases (phase (py, px) holds padded rows py, py+SH, ...
 * and columns px, px+SW, ...), each QH x QW, and dout is copied into Dp (OH rows of QW, the columns
 * past OW and the tail up to L zero). Tap (i, j) of every output then reads one phase at a fixed
 * offset, so both gradients are loops over one contiguous range t < L:
 *   dw[i,j] += sum_t Dp[t] * phase[t + off]      dphase[t + off] += w[i,j] * Dp[t]
 * whatever the stride, dilation or padding (the zero columns of Dp cancel the wrapped positions).
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
} fc_dwgrad_geom;

/* Scratch floats per thread: phases, their gradients, Dp and the per-tap accumulators. */
size_t fc_dwgrad_scratch(const fc_dwgrad_geom *g);

/* Gradients of channel c over the whole batch, images in order: dweight (KH*KW) and dbias (1) of the
 * channel (each may be NULL), dinp planes (n, c) for every n (may be NULL). inp, dout, dinp are the
 * full (N,C,...) tensors, w the channel's (KH*KW) weights; scratch holds fc_dwgrad_scratch floats.
 * The generic and the AVX2 build run the same float operations in the same order (no contraction
 * into FMA in ISO C), so their results are bitwise equal. */
typedef void (*fc_dwgrad_channel_fn)(const fc_dwgrad_geom *g, int c, const float *inp,
                                     const float *dout, const float *w, float *dinp, float *dweight,
                                     float *dbias, float *scratch);
void fc_dwgrad_channel_generic(const fc_dwgrad_geom *g, int c, const float *inp, const float *dout,
                               const float *w, float *dinp, float *dweight, float *dbias,
                               float *scratch);
void fc_dwgrad_channel_avx2(const fc_dwgrad_geom *g, int c, const float *inp, const float *dout,
                            const float *w, float *dinp, float *dweight, float *dbias,
                            float *scratch);

#endif
