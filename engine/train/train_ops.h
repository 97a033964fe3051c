/* Training ops: forward and backward of every op that fine-tuning the top of a CNN or training new
 * conv blocks needs, on NCHW float32 buffers the caller owns, plus the optimizer steps. Each op
 * family lives in one file with its forward and backward side by side, same argument order
 * (llm.c style): outputs first, then inputs, then sizes; backward takes the forward's inputs again.
 * Not here: graphs, autograd, memory planning of activations (the trainer above does those).
 *
 * Conventions for every function below:
 *  - ws (fc_train_ws) comes first: thread count, scratch memory and the matrix products. One ws
 *    serves one thread of control at a time (the ops run OpenMP inside).
 *  - Returns 0, or a negative FC_E* code with err filled (err may be NULL): FC_EINVAL for a NULL
 *    buffer that is required, a size < 1 or a bad hyper-parameter; FC_ESHAPE for sizes that do
 *    not fit together (channels not divisible by groups, a window larger than the padded input);
 *    FC_ELIMIT for tensors over 2^31 elements; FC_ENOMEM when the workspace cannot grow. On error
 *    the outputs are unspecified.
 *  - Backward functions OVERWRITE their gradients (dinp, dweight, ...), they never accumulate. Any
 *    gradient pointer may be NULL when it is not needed (it is then not computed: e.g. dinp of the
 *    first trained layer). A tensor read by two ops gets the sum of both gradients: add them with
 *    fc_add_forward.
 *  - Buffers do not overlap unless a function says so.
 *  - Reproducibility: every result is bitwise the same on every run with the same inputs, and
 *    bitwise independent of the thread count (no reduction is split by thread: sums run in a fixed
 *    order inside one thread, partitioned over output elements or channels). Results may differ in
 *    the last bits between kernel tables (FEATCACHE_ISA=scalar|avx2|avx512); with ws->bf16 the
 *    products are those of bf16 operands (about 3 significant digits per operand), bitwise the
 *    same between the AVX512_BF16 kernels and their scalar twin.
 *  - Memory: ops allocate only when ws must grow (the first step at the largest shapes, see
 *    fc_train_ws_reserve); later steps with the same shapes allocate nothing. */
#ifndef FC_TRAIN_OPS_H
#define FC_TRAIN_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"
#include "engine/kernels/kernels.h"
#include "engine/matmul.h"

/* ---- workspace ------------------------------------------------------------------------------ */

typedef struct fc_train_ws {
    int threads;      /* OpenMP threads of every op (>= 1) */
    fc_matmul mm;     /* matrix products (packing buffers grow on demand) */
    const fc_kernels *k; /* kernel table: fc_kernels_best(); activations run its kernels, and the
                            AVX2 twins (depthwise, transposed copies, AdamW) run unless it is the
                            scalar one */
    fc_matmul *tmm;   /* NULL, or one packing context per thread: the products of a parallel loop's
                         tasks (fc_train_ws_thread_mm) */
    float *buf;       /* scratch, 64-byte aligned */
    size_t cap;       /* its size in floats */
    size_t conv_chunk; /* most floats of one im2col chunk of fc_conv2d (its col matrix); 0: 2^23.
                          Smaller saves memory at some speed; results do not depend on it except
                          dweight's rounding (chunks are added in order). */
    const fc_bf16_kernels *bf16; /* NULL (fc_train_ws_init): every product in f32. Else the matrix
                          products of Conv2d (not depthwise) and Linear, forward and backward, run
                          on these kernels: both operands rounded to bf16, sums in f32, results f32
                          (fc_bf16_kernels_best(); a test may set the scalar twin). Everything
                          else (depthwise, activations, optimizer) stays f32. */
} fc_train_ws;

/* threads <= 0: all cores. Never fails; ws is ready to use (no scratch yet), its products in f32.
 * A test may then set ws->k to another table (fc_kernels_by_name) to run that ISA's kernels. */
void fc_train_ws_init(fc_train_ws *ws, int threads);

/* The precision of the matrix products (Conv2d but depthwise, Linear; see fc_train_ws.bf16). */
typedef enum fc_train_precision {
    FC_TRAIN_F32 = 0,  /* f32 operands (the default) */
    FC_TRAIN_BF16 = 1, /* bf16 operands, f32 sums: twice the multiply-adds per instruction; needs
                          AVX512_BF16 */
    FC_TRAIN_AUTO = 2  /* bf16 where the CPU has AVX512_BF16 (and FEATCACHE_ISA allows AVX-512),
                          else f32 */
} fc_train_precision;

/* "f32", "bf16", "auto"; the precision with that name (0) or FC_EINVAL. */
const char *fc_train_precision_name(fc_train_precision p);
int fc_train_precision_parse(const char *s, fc_train_precision *out, fc_error *err);
/* Sets ws->bf16 for precision p. FC_EUNSUPPORTED for FC_TRAIN_BF16 on a CPU without AVX512_BF16
 * (or with FEATCACHE_ISA below avx512): there is no slow bf16 path; FC_EINVAL for another value. */
int fc_train_ws_set_precision(fc_train_ws *ws, fc_train_precision p, fc_error *err);
/* Frees the scratch and product buffers; NULL-safe; ws may be reused after fc_train_ws_init. */
void fc_train_ws_free(fc_train_ws *ws);
/* Grows the scratch to at least floats (never shrinks), so that no op allocates later: call it with
 * the maximum of the *_ws_floats of the ops a step runs. FC_ENOMEM if it cannot. */
int fc_train_ws_reserve(fc_train_ws *ws, size_t floats, fc_error *err);

/* ---- 2-D windows (convolution, pooling) --------------------------------------------------------- */

/* Kernel kh x kw, strides sh, sw (>= 1), dilations dil_h, dil_w (>= 1; pools use 1), zero padding top,
 * left, bottom, right (>= 0). Output size OH = (H + pt + pb - dil_h*(kh-1) - 1) / sh + 1 (floor; a
 * ceil_mode is expressed by the caller as extra bottom/right padding). */
typedef struct fc_win2d {
    int kh, kw, sh, sw, dil_h, dil_w;
    int pt, pl, pb, pr;
} fc_win2d;

/* Output size of win over an H x W input. FC_EINVAL for a kernel, stride or dilation < 1 or a
 * negative pad, FC_ESHAPE when the dilated kernel is larger than the padded input. */
int fc_win2d_out(const fc_win2d *win, int H, int W, int *OH, int *OW, fc_error *err);

/* ---- Conv2d (conv2d.c, depthwise in dwconv.c) ---------------------------------------------------- */

/* inp is (N,C,H,W), weight is (OC,C/groups,kh,kw), bias is (OC) or NULL; out is (N,OC,OH,OW).
 * groups must divide C and OC. groups == C == OC is the depthwise path (channels in vector lanes,
 * dwlanes.h); every other case runs matrix products over chunks of images (sized from the shapes
 * alone) read in place from NCHW, after im2col unless the kernel is 1x1 with stride 1 and no
 * padding (gemm.h). */
typedef struct fc_conv2d {
    int C, OC, groups;
    fc_win2d win;
    fc_act act; /* forward only: Relu or Clip applied to the output in the product's epilogue (the
                   same bits as fc_act_forward after it); kind 0 (FC_ACT_NONE): none, others
                   FC_EINVAL. The backward is the convolution's alone: its dout is the gradient of
                   the pre-activation (fc_act_backward first; for Relu and Clip the output gives the
                   same mask as the input) */
    fc_act in_act; /* backward only: the Relu or Clip that produced inp, or kind 0: dinp is then
                      multiplied by its derivative taken at inp (its output: the same mask as its
                      input gives), i.e. dinp is the gradient of the activation's input (saves a
                      pass of fc_act_backward over it); inp is then required with dinp */
} fc_conv2d;

/* Scratch floats that fc_conv2d_forward/backward need for a batch of N images of H x W (0 if the
 * sizes are invalid: the ops then report why). */
size_t fc_conv2d_ws_floats(const fc_train_ws *ws, const fc_conv2d *cv, int N, int H, int W);
/* out = conv(inp, weight) + bias. */
int fc_conv2d_forward(fc_train_ws *ws, float *out, const float *inp, const float *weight,
                      const float *bias, int N, int H, int W, const fc_conv2d *cv, fc_error *err);
/* dout is (N,OC,OH,OW): dinp (N,C,H,W), dweight (OC,C/groups,kh,kw) and dbias (OC), each may be
 * NULL. dweight and dbias are sums over the whole batch (not means). */
int fc_conv2d_backward(fc_train_ws *ws, float *dinp, float *dweight, float *dbias, const float *dout,
                       const float *inp, const float *weight, int N, int H, int W,
                       const fc_conv2d *cv, fc_error *err);

/* ---- Linear (linear.c): Gemm y = x W^T + b ------------------------------------------------------- */

/* inp is (B,IC), weight is (OC,IC), bias is (OC) or NULL; out is (B,OC). */
int fc_linear_forward(fc_train_ws *ws, float *out, const float *inp, const float *weight,
                      const float *bias, int B, int IC, int OC, fc_error *err);
/* dout is (B,OC): dinp (B,IC), dweight (OC,IC), dbias (OC) (sums over the batch), each may be NULL. */
int fc_linear_backward(fc_train_ws *ws, float *dinp, float *dweight, float *dbias, const float *dout,
                       const float *inp, const float *weight, int B, int IC, int OC, fc_error *err);

/* ---- elementwise (elementwise.c) ----------------------------------------------------------------- */

/* out (n) = a + b (the residual Add; also how a caller sums two gradients). out may equal a or b. */
int fc_add_forward(fc_train_ws *ws, float *out, const float *a, const float *b, size_t n,
                   fc_error *err);
/* da = db = dout (copies; either may be NULL or equal dout, then nothing is copied to it). */
int fc_add_backward(fc_train_ws *ws, float *da, float *db, const float *dout, size_t n, fc_error *err);

/* Mul with broadcast over the plane (squeeze-and-excitation): inp is (N,C,HW), scale is (N,C);
 * out (N,C,HW) = inp * scale[n,c]. out may equal inp. */
int fc_mulc_forward(fc_train_ws *ws, float *out, const float *inp, const float *scale, int N, int C,
                    int HW, fc_error *err);
/* dinp (N,C,HW) = dout * scale; dscale (N,C) = sum over the plane of dout * inp. */
int fc_mulc_backward(fc_train_ws *ws, float *dinp, float *dscale, const float *dout,
                     const float *inp, const float *scale, int N, int C, int HW, fc_error *err);

/* Activations (act.c), act->kind one of FC_ACT_RELU, FC_ACT_CLIP (min a, max b; ReLU6: 0, 6),
 * FC_ACT_SIGMOID, FC_ACT_HARDSIGMOID (alpha a, beta b: max(0, min(1, a*x + b))), FC_ACT_HARDSWISH
 * (x * max(0, min(1, x/6 + 1/2))), FC_ACT_SILU (x * sigmoid(x)); others: FC_EINVAL (also for
 * Clip with a > b). inp and out are (n); out may equal inp. The forward is the inference kernel
 * (fc_kernels act: the same bits as the engine's own activations). */
int fc_act_forward(fc_train_ws *ws, float *out, const float *inp, size_t n, const fc_act *act,
                   fc_error *err);
/* dinp = dout * act'(inp), dinp may equal dout. Derivatives at the kinks as PyTorch: Relu is 0 for
 * x <= 0; Clip is 0 for x <= a or x >= b (hardtanh: ReLU6); HardSigmoid passes a*dout where
 * 0 < a*x + b < 1; HardSwish is 0 below -3, x/3 + 1/2 on [-3, 3], 1 above (a NaN x passes dout
 * through Relu and Clip, as in PyTorch). */
int fc_act_backward(fc_train_ws *ws, float *dinp, const float *dout, const float *inp, size_t n,
                    const fc_act *act, fc_error *err);

/* ---- pooling (pool.c) --------------------------------------------------------------------------- */

/* GlobalAveragePool: inp is (N,C,HW), out is (N,C) (the plane means). */
int fc_gap_forward(fc_train_ws *ws, float *out, const float *inp, int N, int C, int HW, fc_error *err);
/* dinp (N,C,HW) = dout[n,c] / HW. */
int fc_gap_backward(fc_train_ws *ws, float *dinp, const float *dout, int N, int C, int HW,
                    fc_error *err);
/* The same times the derivative of in_act (Relu or Clip, else FC_EINVAL) taken at inp (N,C,HW),
 * the activation's output: dinp is then the gradient of the activation's input, in one pass (the
 * bits of fc_gap_backward and then fc_act_backward with inp). */
int fc_gap_backward_gated(fc_train_ws *ws, float *dinp, const float *dout, const float *inp,
                          const fc_act *in_act, int N, int C, int HW, fc_error *err);

/* AveragePool: inp is (N,C,H,W), out is (N,C,OH,OW); win->dil_h, dil_w must be 1. Each output is the sum
 * of its window's taps inside the input divided by the taps inside (count_include_pad 0) or by
 * kh*kw (count_include_pad 1; taps in the padding count as zeros). */
int fc_avgpool_forward(fc_train_ws *ws, float *out, const float *inp, int N, int C, int H, int W,
                       const fc_win2d *win, int count_include_pad, fc_error *err);
int fc_avgpool_backward(fc_train_ws *ws, float *dinp, const float *dout, int N, int C, int H, int W,
                        const fc_win2d *win, int count_include_pad, fc_error *err);

/* MaxPool: inp is (N,C,H,W), out is (N,C,OH,OW); padding never wins (it is not a value). The first
 * maximum in row-major window order wins (ties go to the earliest tap); a NaN tap wins over
 * numbers (the output is NaN). Pads must be smaller than the kernel, so that every window holds an
 * input tap (else FC_ESHAPE). */
int fc_maxpool_forward(fc_train_ws *ws, float *out, const float *inp, int N, int C, int H, int W,
                       const fc_win2d *win, fc_error *err);
/* dinp gets each dout at its window's winning tap (the forward's choice, recomputed from inp);
 * overlapping windows add up. */
int fc_maxpool_backward(fc_train_ws *ws, float *dinp, const float *dout, const float *inp, int N,
                        int C, int H, int W, const fc_win2d *win, fc_error *err);

/* ---- shapes (shape.c) --------------------------------------------------------------------------- */

/* Flatten and Reshape are views: a contiguous NCHW buffer is already the flattened/reshaped tensor,
 * and its gradient is the gradient buffer of the output, unchanged. These compute the shape only.
 * Flatten at axis (0..rank): out = (prod dims[0..axis), prod dims[axis..rank)). */
int fc_flatten_dims(int rank, const int64_t *dims, int axis, int64_t out[2], fc_error *err);
/* ONNX Reshape: spec[i] == 0 copies dims[i], one -1 is inferred; out gets nspec dims. FC_ESHAPE
 * when the element counts differ or -1 cannot be inferred; FC_EINVAL for other negative entries. */
int fc_reshape_dims(int rank, const int64_t *dims, int nspec, const int64_t *spec, int64_t *out,
                    fc_error *err);

/* Concat along channels: input i is (N,Cs[i],HW), out is (N,sum Cs,HW). */
int fc_concat_forward(fc_train_ws *ws, float *out, const float *const *inps, const int *Cs, int k,
                      int N, int HW, fc_error *err);
/* dinps[i] (N,Cs[i],HW) = its slice of dout; dinps[i] may be NULL (skipped). */
int fc_concat_backward(fc_train_ws *ws, float *const *dinps, const float *dout, const int *Cs, int k,
                       int N, int HW, fc_error *err);

/* ---- BatchNorm (batchnorm.c) -------------------------------------------------------------------- */

/* Training mode: inp is (N,C,HW), gamma, beta (C); statistics over N*HW per channel (sums in
 * double). out = (inp - mean) * rstd * gamma + beta with rstd = 1/sqrt(var + eps), var biased.
 * Saves mean and rstd (C) for the backward. running_mean, running_var (C) (both or neither may be
 * NULL) become (1 - momentum) * running + momentum * batch, with the unbiased variance (PyTorch's
 * convention; N*HW == 1 keeps the biased one). FC_EINVAL for eps <= 0 or momentum outside [0, 1]. */
int fc_batchnorm_forward(fc_train_ws *ws, float *out, float *mean, float *rstd, float *running_mean,
                         float *running_var, const float *inp, const float *gamma,
                         const float *beta, int N, int C, int HW, float eps, float momentum,
                         fc_error *err);
/* dinp (N,C,HW), dgamma, dbeta (C) from the saved mean and rstd (training-mode statistics depend on
 * the batch, which the dinp accounts for). */
int fc_batchnorm_backward(fc_train_ws *ws, float *dinp, float *dgamma, float *dbeta,
                          const float *dout, const float *inp, const float *mean, const float *rstd,
                          const float *gamma, int N, int C, int HW, fc_error *err);
/* Inference mode: out = (inp - running_mean) / sqrt(running_var + eps) * gamma + beta. */
int fc_batchnorm_eval_forward(fc_train_ws *ws, float *out, const float *inp, const float *gamma,
                              const float *beta, const float *running_mean,
                              const float *running_var, int N, int C, int HW, float eps,
                              fc_error *err);
/* The statistics are constants: dinp = dout * gamma * rstd; dgamma, dbeta as in training. */
int fc_batchnorm_eval_backward(fc_train_ws *ws, float *dinp, float *dgamma, float *dbeta,
                               const float *dout, const float *inp, const float *gamma,
                               const float *running_mean, const float *running_var, int N, int C,
                               int HW, float eps, fc_error *err);

/* ---- Dropout (dropout.c) ------------------------------------------------------------------------ */

/* out (n) = inp * keep[i] / (1 - p), keep[i] = hash(seed, i) >= p (a counter-based hash of the
 * element index: the mask is a function of (seed, i) alone, so the backward recomputes it and any
 * split over threads gives the same mask). p in [0, 1) (else FC_EINVAL); p == 0 copies. Use a new
 * seed per step. out may equal inp. */
int fc_dropout_forward(fc_train_ws *ws, float *out, const float *inp, size_t n, float p,
                       uint64_t seed, fc_error *err);
/* dinp = dout * keep / (1 - p) with the forward's mask (same n, p, seed). dinp may equal dout. */
int fc_dropout_backward(fc_train_ws *ws, float *dinp, const float *dout, size_t n, float p,
                        uint64_t seed, fc_error *err);

/* ---- softmax + cross-entropy (loss.c) ----------------------------------------------------------- */

/* logits is (B,K), targets (B) in [0, K) (else FC_EINVAL); probs (B,K) = softmax(logits), saved for
 * the backward; *loss = mean over the batch of -log probs[b, targets[b]] (log-sum-exp in double). */
int fc_crossentropy_forward(fc_train_ws *ws, float *loss, float *probs, const float *logits,
                            const int *targets, int B, int K, fc_error *err);
/* dlogits (B,K) = dloss * (probs - onehot(targets)) / B; dlogits may equal probs. */
int fc_crossentropy_backward(fc_train_ws *ws, float *dlogits, const float *probs, const int *targets,
                             int B, int K, float dloss, fc_error *err);

/* out (B,K) = softmax(inp) per row (a classifier's output node); the backward takes the forward's
 * output: dinp = out * (dout - sum_k dout * out). dinp may equal dout. */
int fc_softmax_forward(fc_train_ws *ws, float *out, const float *inp, int B, int K, fc_error *err);
int fc_softmax_backward(fc_train_ws *ws, float *dinp, const float *dout, const float *out, int B, int K,
                        fc_error *err);

/* ---- optimizer steps (optim.c) ------------------------------------------------------------------ */

/* Per tensor; lr_scale multiplies lr (a smaller one for the backbone). FC_EINVAL for a negative or
 * non-finite lr, lr_scale or weight decay, momentum/betas outside [0, 1), eps <= 0. */

/* Both take an optional anchor (n floats, the parameter's starting values; NULL: none): the
 * gradient gains anchor_decay * (param - anchor), the gradient of (anchor_decay / 2) * ||param -
 * anchor||^2 (L2-SP, Li et al. 2018: a pretrained layer pulled toward where it started rather than
 * toward zero). */

/* SGD as PyTorch (dampening 0, not Nesterov): g = grad + weight_decay * param [+ anchor_decay *
 * (param - anchor)]; mom = momentum * mom + g; param -= lr * lr_scale * mom. mom (n) starts at zero
 * (which equals PyTorch's first step). */
typedef struct fc_sgd {
    float lr, momentum, weight_decay;
    const float *anchor;
    float anchor_decay;
} fc_sgd;
int fc_sgd_step(fc_train_ws *ws, float *param, float *mom, const float *grad, size_t n,
                const fc_sgd *opt, float lr_scale, fc_error *err);

/* AdamW as PyTorch (decoupled decay, no amsgrad), step t >= 1 counted per tensor from 1, g = grad
 * [+ anchor_decay * (param - anchor)] (the anchor's pull is part of the gradient, not decoupled):
 * param *= 1 - lr' * weight_decay; m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
 * param -= lr' / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps), lr' = lr * lr_scale.
 * m, v (n) start at zero. */
typedef struct fc_adamw {
    float lr, beta1, beta2, eps, weight_decay;
    const float *anchor;
    float anchor_decay;
} fc_adamw;
int fc_adamw_step(fc_train_ws *ws, float *param, float *m, float *v, const float *grad, size_t n,
                  const fc_adamw *opt, long t, float lr_scale, fc_error *err);

#endif
