/* Convolution primitives (implemented in conv.c, the Winograd path in conv_winograd.c, the
 * pixel-broadcast path in conv_bcast.c): a Conv node prepared once at load (fc_conv: packed
 * weights, bias, fused activation, im2col taps) and what can be done with it: its output window and
 * shape, a whole-batch run (GEMM, Winograd, depthwise or pixel-broadcast path), and a range of
 * output rows of one image through the GEMM path (for ops that interleave several convolutions).
 * Users: the Conv op (conv.c) and the depthwise block op (conv_block.c); nothing here knows about
 * the block. Not a public interface: the session sees only fc_op_def. */
#ifndef FC_CONV_PRIM_H
#define FC_CONV_PRIM_H

#include "engine/ops/ops.h"
#include "engine/ops/window.h"

/* Images with fewer output pixels share GEMM calls in fc_conv_run (14x14 and 17x17 planes, 196 = 6 x
 * 32 + 4 and 289 = 9 x 32 + 1 pixels, ended each image in a nearly empty panel: 3% of ResNet-50 and
 * Inception-v3; 28x28 planes gained nothing). */
#define FC_CONV_FLAT_P 320

typedef struct fc_conv {
    const fc_node *node; /* attributes and the name for errors (nodes do not move once loaded) */
    const fc_kernels *k;
    int cout, cin_g, group, kh, kw, K; /* K = cin_g * kh * kw */
    int depthwise;       /* group == cin == cout: dw_weights, no packed */
    int wino;            /* Winograd F(4x4, 3x3): the number of 3x3 sub-kernels (1, or 4 for a
                            5x5); packed holds 36 transformed weight matrices (cout, wino * cin) */
    float *packed;       /* group g's packed A (Winograd: matrix xi's) at packed + g * group_stride */
    size_t group_stride;
    float *bias;         /* (cout), zeros when the node has none */
    float *dw_weights;   /* depthwise filters (cout, kh*kw) */
    fc_act act;          /* fused activation (fusion.h): y = act(conv(x) + bias [+ residual]) */
    /* im2col taps (GEMM path): tap t = ky*kw + kx reads stride phase ph[t] (of nph used phases; a
     * phase is a (row, column) residue modulo the strides) at offset (dy[t], dx[t]) in phase cells */
    int nph, sh, sw, dil_h, dil_w;
    int *tap_ph, *tap_dy, *tap_dx, *ph_a, *ph_b;
    /* a fused BatchNormalization before a 1x1 conv (fusion.h pre_bn): input channel c is read as
     * x * pre_s[c] + pre_t[c], then ReLU'd when pre_relu; pre_s NULL when none */
    float *pre_s, *pre_t;
    int pre_relu;
    float *bcast_w;      /* the pixel-broadcast path's weights (ceil(cout/32), K, 32), or NULL when the
                            conv does not take it (conv_bcast.c) */
} fc_conv;

/* The GEMM path builds a chunk's packed B in one piece when it takes at most this many bytes (then
 * sgemm_packed keeps each block of A's rows and their C in cache through every K block), else one
 * K block at a time (a slice in L2 just before its use). Same bits either way. A variable only so
 * that tests reach both ways with small shapes (0: always block by block); 512 KiB. */
extern size_t fc_conv_whole_k_bytes;

/* Prepares Conv node n of graph g (constant weights and bias) for kernels k into *out. Errors name
 * the node: FC_EFORMAT, FC_EUNSUPPORTED, FC_ESHAPE, FC_ENOMEM (then *out is NULL). */
int fc_conv_prepare(const fc_graph *g, const fc_node *n, const fc_kernels *k, fc_conv **out,
                    fc_error *err);
void fc_conv_free(fc_conv *c);

/* Window of c on input x (N, C, H, W): FC_EUNSUPPORTED (not 4-D), FC_ESHAPE (channels, sizes). */
int fc_conv_window(const fc_conv *c, const fc_tensor *x, fc_window *w, fc_error *err);
/* 1 when c on window w reads output pixel (y, x) from input pixel (y, x) alone (1x1, stride 1, no
 * padding): its GEMM's B is the input itself, no im2col. */
int fc_conv_direct(const fc_conv *c, const fc_window *w);
/* y's shape (N, cout, OH, OW) for input x, and *work = the scratch bytes fc_conv_run needs with
 * `threads` threads (0 for the depthwise path). Errors as fc_conv_window. */
int fc_conv_infer(const fc_conv *c, const fc_tensor *x, fc_tensor *y, size_t *work, int threads,
                  fc_error *err);
/* y = act(conv(x) + bias [+ res]) for the whole batch, shapes as inferred; res is y's shape or NULL.
 * ctx->work as fc_conv_infer asked. An image's result does not depend on the batch it is in. */
void fc_conv_run(const fc_conv *c, const fc_tensor *x, const float *res, fc_tensor *y,
                 const fc_run_ctx *ctx);
/* 1 when fc_conv_run gathers the input's columns into scratch (a direct Conv, output planes under
 * FC_CONV_FLAT_P, batch columns shared across images): fc_conv_run_scaled can then scale them there. */
int fc_conv_gathers_columns(const fc_conv *c, const fc_window *w);
/* fc_conv_run on x * scale, scale (N, C) per image and input channel, each element one float
 * product as a Mul before the Conv would give (the same bits), without writing x * scale out. Only
 * where fc_conv_gathers_columns. */
void fc_conv_run_scaled(const fc_conv *c, const fc_tensor *x, const float *scale, const float *res, fc_tensor *y,
                        const fc_run_ctx *ctx);

/* Output rows [oy0, oy1) of one image x (C, H, W) of c (one group, not Winograd, not depthwise,
 * window w) into C (cout planes at stride rsc, rows of w->ow contiguous), no residual, through the
 * same im2col and GEMM as fc_conv_run (so the same bits); work: fc_conv_rows_floats(c, w) floats,
 * 64-byte aligned. */
size_t fc_conv_rows_floats(const fc_conv *c, const fc_window *w);
void fc_conv_rows(const fc_conv *c, const fc_window *w, const float *x, int64_t H, int64_t W, int oy0,
                  int oy1, float *work, float *C, ptrdiff_t rsc);

/* Inside the primitives (conv.c and conv_winograd.c): 64-byte aligned floats (NULL when out of
 * memory; free() releases them), and the Winograd path (conv_winograd.c): whether Conv n of c's
 * shape takes it (3x3 or 5x5, stride and dilation 1, one group, 16 channels or more in and out),
 * its weights' preparation (c->wino sub-kernels, c->packed; FC_ENOMEM), its scratch bytes for a
 * batch of N with `threads` threads, and a whole-batch run as fc_conv_run's. */
void *fc_conv_alloc64(size_t floats);
int fc_conv_wino_shape(const fc_node *n, const fc_conv *c);
int fc_conv_wino_prepare(fc_conv *c, const float *weights, fc_error *err);
size_t fc_conv_wino_work(const fc_conv *c, const fc_window *w, int64_t N, int threads);
void fc_conv_run_winograd(const fc_conv *c, const fc_window *w, const fc_tensor *x, const float *res,
                          fc_tensor *y, const fc_run_ctx *ctx);

/* The pixel-broadcast path (conv_bcast.c): for a conv with few input channels per group (stems) on
 * a table with the tile, one group, K in one GEMM block, no fused residual or pre-norm, packs its
 * weights into c->bcast_w (else leaves it NULL; FC_ENOMEM); its scratch bytes; a whole-batch run
 * as fc_conv_run's (no residual), the same bits as the GEMM path on a SIMD table. */
int fc_conv_bcast_prepare(const fc_node *n, fc_conv *c, const float *weights, fc_error *err);
size_t fc_conv_bcast_work(const fc_conv *c, const fc_window *w, int threads);
void fc_conv_run_bcast(const fc_conv *c, const fc_window *w, const fc_tensor *x, fc_tensor *y,
                       const fc_run_ctx *ctx);

#endif
