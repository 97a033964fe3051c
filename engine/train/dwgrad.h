/* Depthwise Conv2d backward with channels in vector lanes (dwconv.c drives it; dwgrad-impl.h is the
 * kernel). A task holds FC_DWG_LANES channels; per image, their input planes are transposed into a
 * zero-padded strip Xp (PH*PW pixels x LANES channels: padded row yp is input row yp - PT) and
 * their dout planes into Dt (OH*OW x LANES). Each tap (i, j) then reads Xp at a fixed pixel offset
 * from every output pixel's window origin, so both gradients are plain vector loops, the same for
 * every stride, dilation and padding and however small the plane (MobileNet's 7x7 and 3x3 planes
 * fill no vector along a row):
 *   dw[t] += sum over output pixels o of Xp[org(o) + off(t)] * Dt[o]
 *   dXp[org(o) + off(t)] += w[t] * Dt[o]     (taps outer: each input pixel adds its taps in order)
 * and dXp's inner part is transposed back into dinp (0 where no tap reads). 3x3 kernels have
 * their own loops with the sums in registers, and with stride 1 each input pixel gathers its taps
 * (in order) from a zero-bordered copy of Dt instead of the scatter. Each thread takes a range of
 * blocks and walks the images outer, the blocks inner (memory in order).
 * Not here: threading, the forward (the engine's dwconv_channels kernel does that). */
#ifndef FC_TRAIN_DWGRAD_H
#define FC_TRAIN_DWGRAD_H

#include <stddef.h>

#include "engine/kernels/kernels.h"

#define FC_DWG_LANES 16 /* channels per task (one AVX-512 vector, two AVX2 ones) */

typedef struct fc_dwgrad_geom {
    int N, C, H, W, OH, OW, KH, KW, SH, SW, DH, DW, PT, PL;
    int PH, PW; /* padded extent the taps read: (OH-1)*SH + (KH-1)*DH + 1, likewise columns */
} fc_dwgrad_geom;

/* Scratch floats of a call for nch channels: Xp, dXp, Dt, an image's sums, and per block of LANES
 * channels its lane weights and sums. */
size_t fc_dwgrad_scratch(const fc_dwgrad_geom *g, int nch);

/* Gradients of channels [c0, c1) over the whole batch, in blocks of FC_DWG_LANES, images outer
 * (the blocks of an image are adjacent in memory), every channel adding its images in order (per
 * image a sum over the output pixels in order, then added to the running sum): dweight
 * (C,KH*KW) and dbias (C) rows of those channels (each may be NULL), dinp
 * planes (n, c) for every n (may be NULL), multiplied by the derivative of gate (Relu or Clip, or
 * NULL) taken at inp. inp, dout, dinp are the full (N,C,...) tensors; scratch holds
 * fc_dwgrad_scratch floats. The generic and the AVX2 build run the same float operations in the
 * same order per lane (no contraction into FMA in ISO C): bitwise equal results. */
typedef void (*fc_dwgrad_fn)(const fc_dwgrad_geom *g, int c0, int c1, const float *inp,
                             const float *dout, const float *weight, const fc_act *gate,
                             float *dinp, float *dweight, float *dbias, float *scratch);
void fc_dwgrad_block_generic(const fc_dwgrad_geom *g, int c0, int c1, const float *inp,
                             const float *dout, const float *weight, const fc_act *gate,
                             float *dinp, float *dweight, float *dbias, float *scratch);
void fc_dwgrad_block_avx2(const fc_dwgrad_geom *g, int c0, int c1, const float *inp,
                          const float *dout, const float *weight, const fc_act *gate, float *dinp,
                          float *dweight, float *dbias, float *scratch);

#endif
