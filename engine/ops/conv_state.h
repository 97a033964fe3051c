/* Private to the Conv operator's files (conv.c, conv_block.c): the state prepared at load for one
 * Conv node, and the entry points each file offers the other. Not a public interface: other ops
 * and the session see only fc_op_conv. */
#ifndef FC_CONV_STATE_H
#define FC_CONV_STATE_H

#include "engine/ops/ops.h"
#include "engine/ops/window.h"

typedef struct conv_state {
    int cout, cin_g, group, kh, kw, K; /* K = cin_g * kh * kw */
    int depthwise;
    int wino;            /* Winograd F(4x4, 3x3): packed holds 36 transformed weight matrices */
    float *packed;       /* group g's packed A (Winograd: matrix xi's) at packed + g * group_stride */
    size_t group_stride;
    float *bias;         /* (cout), zeros when the node has none */
    float *dw;           /* depthwise weights (cout, kh*kw) */
    /* im2col taps (GEMM path): tap t = ky*kw + kx reads stride phase ph[t] (of nph used phases; a
     * phase is a (row, column) residue modulo the strides) at offset (dy[t], dx[t]) in phase cells */
    int nph, sh, sw, dh, dw_;
    int *tap_ph, *tap_dy, *tap_dx, *ph_a, *ph_b;
    const fc_kernels *k;
    /* a block (fc_node.pre_dw or pre_expand >= 0): the depthwise (NULL when this node is the
     * depthwise) and expansion (or NULL) nodes it computes, prepared with it; the graph's node array
     * no longer moves once the model is loaded */
    const fc_node *pre_dw, *pre_expand;
} conv_state;

/* conv.c: one Conv node as its own op (never a block): shapes and scratch, and the run. */
int fc_conv_infer_plain(const fc_node *n, const fc_tensor *in, fc_tensor *out, size_t *work,
                        int threads, fc_error *err);
int fc_conv_run_plain(const fc_node *n, const fc_tensor *in, fc_tensor *out, const fc_run_ctx *ctx,
                      fc_error *err);

/* conv.c: output rows [oy0, oy1) of one image x (C, H, W) of Conv n (one group, not Winograd,
 * window w) into C (cout planes at stride rsc, rows of w->ow contiguous), through the same im2col
 * and GEMM as a whole run (so the same bits); work: fc_conv_rows_floats(n, w) floats, 64-byte
 * aligned. */
size_t fc_conv_rows_floats(const fc_node *n, const fc_window *w);
void fc_conv_rows(const fc_node *n, const fc_window *w, const float *x, int64_t H, int64_t W, int oy0,
                  int oy1, float *work, float *C, ptrdiff_t rsc);

/* conv_block.c: a projection Conv with n->pre_dw >= 0 (graph_opt.c, fc_opt_fuse_dw_blocks), which
 * computes [expansion ->] depthwise -> itself, or a depthwise Conv with n->pre_expand >= 0 only,
 * which computes expansion -> itself. in[0] is the block input (N, Cin, H, W), in[n->n_in] the
 * fused residual; same contracts as fc_op_def infer/run/flops. The result is bitwise the one the
 * Convs give one after the other. */
int fc_conv_block_infer(const fc_node *n, const fc_tensor *in, fc_tensor *out, size_t *work,
                        int threads, fc_error *err);
int fc_conv_block_run(const fc_node *n, const fc_tensor *in, fc_tensor *out, const fc_run_ctx *ctx,
                      fc_error *err);
double fc_conv_block_flops(const fc_node *n, const fc_tensor *in, const fc_tensor *out);

#endif
