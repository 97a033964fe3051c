/* The matrix product of the training ops (gemm.c): C = epilogue(A x B) on the engine's packed SGEMM
 * kernels, with operands read in place from NCHW batches, so that a 1x1 convolution over a batch is
 * one product without copies: the columns of a "run matrix" come in runs (one image's plane each),
 *   element (r, j) at p + r*rs + (j / run)*img + j % run
 * (a plain row-major matrix is one run per row: run >= its columns, img unused). Packing reads the
 * runs directly (transposing where the product's inner dimension is the contiguous one), and the
 * output tiles are computed by the threads in blocks that stay in L2 and are then written out into
 * the runs. Reproducibility: every element of C is one kernel sequence over the whole K, whatever
 * the block split or the thread count (the kernels' contract). Internal to engine/train.
 * Not here: im2col (conv2d.c), small products' bookkeeping (fc_matmul for heads). */
#ifndef FC_TRAIN_GEMM_H
#define FC_TRAIN_GEMM_H

#include <stddef.h>

#include "engine/train/train_ops.h"

/* An operand or the result: rows and columns in the product's sense given by its role below. */
typedef struct fc_train_mat {
    const float *p;
    ptrdiff_t rs;  /* distance between rows */
    ptrdiff_t img; /* distance between runs */
    int run;       /* columns per run (contiguous) */
    int t;         /* operand A: 0: rows m, run columns k; 1: element (m, k) at p + k*rs + m.
                      operand B: 0: rows k, run columns n; 1: rows n, run columns k (transposed).
                      result C: 0 (rows m, run columns n). */
} fc_train_mat;

/* A plain row-major matrix with row stride ld as a run matrix (t = 0). */
static inline fc_train_mat fc_train_mat_rows(const float *p, ptrdiff_t ld) {
    return (fc_train_mat){p, ld, 0, 1 << 30, 0};
}

/* The planes of a batch (N, rows, HW) from row r0 as a run matrix: rows are channels, columns the
 * (image, pixel) pairs, one run per image. */
static inline fc_train_mat fc_train_mat_planes(const float *p, int rows, int HW, int r0) {
    return (fc_train_mat){p + (size_t)r0 * HW, HW, (ptrdiff_t)rows * HW, HW, 0};
}

/* The largest row tile (fc_kernels.mr) of the tables. */
#define FC_TRAIN_GEMM_MAX_MR 16

/* Where a product goes and what is done on the way. */
typedef struct fc_train_out {
    float *p;            /* C (M, N) as a run matrix (rows m, run columns n): */
    ptrdiff_t rs, img;   /*   element (m, n) at p + m*rs + (n / run)*img + n % run */
    int run;
    fc_epilogue ep;      /* applied by the kernel: bias per row m and act (no residual); zero: none */
    const float *gate;   /* or NULL: then C is multiplied by the derivative of gate_act (Relu or Clip)
                            taken at gate, a tensor laid out as C (the mask of fc_act_backward) */
    fc_act gate_act;
    float *asum;         /* or NULL: the row sums of A (t = 0 only), asum[m] = sum over k in order of
                            A(m, k), in double, taken from the packed panels (the gradient of a bias
                            beside a weight gradient's product, without a pass of its own) */
} fc_train_out;

/* The planes of a batch (N, rows, HW) from row r0 as an output (no epilogue). */
static inline fc_train_out fc_train_out_planes(float *p, int rows, int HW, int r0) {
    return (fc_train_out){.p = p + (size_t)r0 * HW, .rs = HW, .img = (ptrdiff_t)rows * HW, .run = HW};
}

/* A plain row-major output with row stride ld. */
static inline fc_train_out fc_train_out_rows(float *p, ptrdiff_t ld) {
    return (fc_train_out){.p = p, .rs = ld, .run = 1 << 30};
}

/* C = A (M, K) x B (K, N) as out describes. M, N, K >= 1. Runs on ws's threads (one for small
 * products). FC_ENOMEM when the packing buffers cannot grow. */
int fc_train_gemm(fc_train_ws *ws, int M, int N, int K, const fc_train_mat *A,
                  const fc_train_mat *B, const fc_train_out *out, fc_error *err);
/* The same on the packing buffers of mm and at most team threads (team 1: the calling thread alone,
 * e.g. one task of a parallel loop with its own mm; the result is the same bits either way). */
int fc_train_gemm_on(const fc_train_ws *ws, fc_matmul *mm, int team, int M, int N, int K,
                     const fc_train_mat *A, const fc_train_mat *B, const fc_train_out *out,
                     fc_error *err);

#endif
