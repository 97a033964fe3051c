/* Scalar reference depthwise convolution (the twin of the SIMD f32-dwconv-*.c kernels): one plane
 * as the obvious loops over output pixels and taps, and several planes as one plane after another.
 * The SIMD plane kernels also fall back to it for kernels too large for their on-stack buffers. Not
 * here: channel blocking or threading (engine/ops/conv.c). */
#include <stddef.h>

#include "engine/kernels/internal.h"

void fc_f32_dwconv_plane__scalar(const fc_conv2d_geom *g, const float *in, const float *w,
                                 float bias, const fc_act *act, float *out) {
    // in: (in_h, in_w); w: (kh, kw); out: (out_h, out_w)
    const int H = g->in_h, W = g->in_w, KW = g->kw;
    for (int oy = 0; oy < g->out_h; oy++)
        for (int ox = 0; ox < g->out_w; ox++) {
            float acc = 0.0f;
            for (int i = 0; i < g->kh; i++) {
                int iy = oy * g->stride_h - g->pad_top + i * g->dil_h;
                if (iy < 0 || iy >= H) continue;
                for (int j = 0; j < KW; j++) {
                    int ix = ox * g->stride_w - g->pad_left + j * g->dil_w;
                    if (ix < 0 || ix >= W) continue;
                    acc += w[i * KW + j] * in[(size_t)iy * W + ix];
                }
            }
            acc += bias;
            out[(size_t)oy * g->out_w + ox] = act ? fc_act_apply(act, acc) : acc;
        }
}

void fc_f32_dwconv_channels__scalar(const fc_conv2d_geom *g, int nch, const float *in,
                                    ptrdiff_t ics, const float *w, const float *bias,
                                    const fc_act *act, float *out, ptrdiff_t ocs, int stream) {
    // in: nch planes (in_h, in_w) at stride ics; w: (nch, kh, kw);
    // out: nch planes (out_h, out_w) at stride ocs
    for (int c = 0; c < nch; c++)
        fc_f32_dwconv_plane__scalar(g, in + c * ics, w + (size_t)c * g->kh * g->kw, bias[c], act,
                                    out + c * ocs);
}
