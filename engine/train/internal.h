/* Helpers shared by the training ops (the files of engine/train): argument checks, the thread count
 * of a loop, the workspace scratch, fixed-order sums, the elementwise block runner, the ISA choice,
 * and the depthwise half of Conv2d (dwconv.c) that conv2d.c dispatches to. Internal to engine/train;
 * the API is train_ops.h. Not here: any op. */
#ifndef FC_TRAIN_INTERNAL_H
#define FC_TRAIN_INTERNAL_H

#include <limits.h>
#include <stddef.h>
#include <string.h>

#include "engine/train/train_ops.h"

/* Loops with less work than this many elements run on one thread: a parallel region costs a few
 * microseconds, and on a busy machine it can stall for a scheduler slice. */
#define FC_TRAIN_SERIAL_WORK 32768

/* OpenMP threads for a loop over work elements. */
static inline int fc_train_threads(const fc_train_ws *ws, size_t work) {
    return work < FC_TRAIN_SERIAL_WORK ? 1 : ws->threads;
}

/* Checks that every size is >= 1 and that their product (an element count) stays below 2^31;
 * FC_EINVAL / FC_ELIMIT naming op otherwise. */
int fc_train_check_sizes(const char *op, int count, const int *sizes, fc_error *err);

/* FC_EINVAL naming op and what when p is NULL, else 0. */
static inline int fc_train_need(const void *p, const char *op, const char *what, fc_error *err) {
    return p ? 0 : fc_fail(err, FC_EINVAL, "%s: %s is NULL", op, what);
}

/* FC_ELIMIT when n (an element count of an elementwise op) is 2^31 or more, else 0. */
static inline int fc_train_check_count(const char *op, size_t n, fc_error *err) {
    return n < (size_t)INT_MAX ? 0 : fc_fail(err, FC_ELIMIT, "%s: %zu elements (limit 2^31)", op, n);
}

/* fc_win2d_out with op named in the message. */
int fc_train_window(const char *op, const fc_win2d *win, int H, int W, int *OH, int *OW,
                    fc_error *err);

/* Sum of x[0..n) in a fixed order (16 interleaved float partial sums, then their double sum):
 * vectorizes, and the result depends on n and the values only. */
double fc_train_sum(const float *x, size_t n);
/* Sum of a[i] * b[i] in the same fixed order. */
double fc_train_dot(const float *a, const float *b, size_t n);

/* Elementwise loops are cut into blocks of this many floats (a multiple of 64), the unit of the
 * OpenMP split; block boundaries depend on n only. */
#define FC_TRAIN_BLOCK 16384

/* Runs fn(ctx, i0, len) over the blocks [i0, i0 + len) of [0, n), in parallel on ws's threads
 * (one thread below FC_TRAIN_SERIAL_WORK). fn must write only its block. */
typedef void (*fc_train_block_fn)(void *ctx, size_t i0, size_t len);
void fc_train_for_blocks(const fc_train_ws *ws, size_t n, fc_train_block_fn fn, void *ctx);
/* out (n) = a (n) * b (n) elementwise (x*gate(x) pairs, products of two computed tensors); blocks as
 * fc_train_for_blocks, exact per element (elementwise.c). */
void fc_train_mul_same(fc_train_ws *ws, float *out, const float *a, const float *b, size_t n);

/* Whether the AVX2 twins (dwlanes-avx2.c, optim-avx2.c) may run: the workspace's kernel table is a
 * SIMD one (avx2 or avx512, both checked against the CPU; a test may pick the scalar table). */
static inline int fc_train_use_avx2(const fc_train_ws *ws) {
    return strcmp(ws->k->name, "scalar") != 0;
}

/* The workspace scratch with at least floats, grown if needed (FC_ENOMEM). */
static inline float *fc_train_scratch(fc_train_ws *ws, size_t floats, fc_error *err) {
    return fc_train_ws_reserve(ws, floats, err) ? NULL : ws->buf;
}

/* ws->tmm allocated (threads contexts, their buffers grown by the products), FC_ENOMEM if not. */
int fc_train_ws_thread_mm(fc_train_ws *ws, fc_error *err);

/* Depthwise Conv2d (groups == C == OC; dwconv.c): arguments as fc_conv2d_forward/backward with the
 * geometry already checked (out is (N,C,OH,OW), weight (C,1,kh,kw)). */
size_t fc_train_dw_ws_floats(int C, int H, int W, int OH, int OW, const fc_win2d *w, int threads);
int fc_train_dw_forward(fc_train_ws *ws, float *out, const float *inp, const float *weight,
                        const float *bias, int N, int C, int H, int W, int OH, int OW,
                        const fc_win2d *w, const fc_act *act, fc_error *err);
int fc_train_dw_backward(fc_train_ws *ws, float *dinp, float *dweight, float *dbias,
                         const float *dout, const float *inp, const float *weight, int N, int C,
                         int H, int W, int OH, int OW, const fc_win2d *w, const fc_act *in_act,
                         fc_error *err);

#endif
