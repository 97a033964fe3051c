/* Depthwise Conv2d forward and backward with channels in vector lanes (dwconv.c drives them;
 * dwlanes-impl.h is the kernel). A block holds FC_DWL_LANES channels; per image, their input planes
 * are transposed into a zero-padded strip Xp (PH*PW pixels x LANES channels: padded row yp is input
 * row yp - PT) and their dout planes into Dt (OH*OW x LANES). Each tap (i, j) then reads Xp at a
 * fixed pixel offset from every output pixel's window origin, so the forward and both gradients
 * are plain vector loops, the same for every stride, dilation and padding and however small the
 * plane (MobileNet's 7x7 and 3x3 planes fill no vector along a row):
 *   out[o] = act(sum over taps t (in order) of w[t] * Xp[org(o) + off(t)] + bias)
 *   dw[t] += sum over output pixels o of Xp[org(o) + off(t)] * Dt[o]
 *   dXp[org(o) + off(t)] += w[t] * Dt[o]     (taps outer: each input pixel adds its taps in order)
 * and out, dXp's inner part are transposed back into planes (0 where no tap reads). 3x3 kernels
 * have their own loops with the sums in registers, and with stride 1 each input pixel gathers its
 * taps (in order) from a zero-bordered copy of Dt instead of the scatter. A call walks the images
 * outer and its blocks inner (memory in order).
 * Not here: threading. */
#ifndef FC_TRAIN_DWLANES_H
#define FC_TRAIN_DWLANES_H

#include <stddef.h>

#include "engine/kernels/kernels.h"

#define FC_DWL_LANES 16 /* channels per task (one AVX-512 vector, two AVX2 ones) */

typedef struct fc_dwlanes_geom {
    int N, C, H, W, OH, OW, KH, KW, SH, SW, DH, DW, PT, PL;
    int PH, PW; /* padded extent the taps read: (OH-1)*SH + (KH-1)*DH + 1, likewise columns */
} fc_dwlanes_geom;

/* Scratch floats of a forward call for nch channels: Xp, the compact planes, and per block of
 * LANES channels its lane weights and bias. */
size_t fc_dwlanes_fwd_scratch(const fc_dwlanes_geom *g, int nch);
/* Scratch floats of a backward call for nch channels: Xp, dXp, Dt, an image's sums, and per block
 * of LANES channels its lane weights and sums. */
size_t fc_dwlanes_back_scratch(const fc_dwlanes_geom *g, int nch);

/* The forward of channels [c0, c1) over the whole batch (blocks of FC_DWL_LANES, images outer):
 * out (N,C,OH,OW) planes of those channels = act (Relu or Clip, or NULL) of the convolution of inp
 * (N,C,H,W) with weight (C,KH*KW) plus bias (C, or NULL: 0). scratch holds fc_dwlanes_fwd_scratch
 * floats. Generic and AVX2 builds: bitwise equal, as below. */
typedef void (*fc_dwlanes_fwd_fn)(const fc_dwlanes_geom *g, int c0, int c1, const float *inp,
                                  const float *weight, const float *bias, const fc_act *act,
                                  float *out, float *scratch);
void fc_dwlanes_fwd_generic(const fc_dwlanes_geom *g, int c0, int c1, const float *inp,
                            const float *weight, const float *bias, const fc_act *act, float *out,
                            float *scratch);
void fc_dwlanes_fwd_avx2(const fc_dwlanes_geom *g, int c0, int c1, const float *inp,
                         const float *weight, const float *bias, const fc_act *act, float *out,
                         float *scratch);

/* Gradients of channels [c0, c1) over the whole batch, in blocks of FC_DWL_LANES, images outer
 * (the blocks of an image are adjacent in memory), every channel adding its images in order (per
 * image a sum over the output pixels in order, then added to the running sum): dweight
 * (C,KH*KW) and dbias (C) rows of those channels (each may be NULL), dinp
 * planes (n, c) for every n (may be NULL), multiplied by the derivative of gate (Relu or Clip, or
 * NULL) taken at inp. inp, dout, dinp are the full (N,C,...) tensors; scratch holds
 * fc_dwlanes_back_scratch floats. The generic and the AVX2 build run the same float operations in the
 * same order per lane (no contraction into FMA in ISO C): bitwise equal results. */
typedef void (*fc_dwlanes_back_fn)(const fc_dwlanes_geom *g, int c0, int c1, const float *inp,
                             const float *dout, const float *weight, const fc_act *gate,
                             float *dinp, float *dweight, float *dbias, float *scratch);
void fc_dwlanes_back_generic(const fc_dwlanes_geom *g, int c0, int c1, const float *inp,
                             const float *dout, const float *weight, const fc_act *gate,
                             float *dinp, float *dweight, float *dbias, float *scratch);
void fc_dwlanes_back_avx2(const fc_dwlanes_geom *g, int c0, int c1, const float *inp,
                          const float *dout, const float *weight, const fc_act *gate, float *dinp,
                          float *dweight, float *dbias, float *scratch);

#endif
