/* Compute kernels behind the operators: one table of function pointers per instruction set
 * (scalar reference, AVX2+FMA, AVX-512), chosen once at start-up from cpuid or by name for tests.
 * Every kernel is single-threaded and pure (no allocation, no globals written): the operators
 * parallelize around them with OpenMP. Tensors are float32 (one table apart: fc_bf16_kernels, the
 * training products on bf16 operands with float32 sums, where the CPU has AVX512_BF16); shapes
 * are given in comments.
 * Kernel files and functions are named by what they compute, dtype, tile and ISA,
 * fc_<dtype>_<op>[_<tile>]__<isa> in <dtype>-<op>-<isa>.c (internal.h lists them all).
 * "gemm" means three different things in the engine: here, the packed f32 GEMM microkernels
 * (fc_kernels.sgemm_packed, fc_f32_gemm_<mr>x<nr>__<isa>); engine/ops/gemm.c is the ONNX Gemm
 * operator built on them; engine/matmul.c (fc_matmul) is the strided float product the heads use,
 * also built on them. Not here: graph logic, memory planning, threading. */
#ifndef FC_KERNELS_H
#define FC_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/* Activation applied in kernel epilogues. */
enum {
    FC_ACT_NONE = 0,
    FC_ACT_RELU,         /* max(x, 0) */
    FC_ACT_CLIP,         /* min(max(x, a), b) (ReLU6: a=0, b=6) */
    FC_ACT_LEAKY,        /* x >= 0 ? x : a*x */
    FC_ACT_SIGMOID,      /* 1/(1+exp(-x)) */
    FC_ACT_HARDSIGMOID,  /* max(0, min(1, a*x + b)) */
    FC_ACT_HARDSWISH,    /* x * max(0, min(1, x/6 + 1/2)) */
    FC_ACT_SILU,         /* x * sigmoid(x) (EfficientNet's Sigmoid+Mul pair) */
};

typedef struct fc_act {
    int kind; /* FC_ACT_* */
    float a, b;
} fc_act;

/* Output epilogue of a GEMM / convolution, applied in this order:
 *   y = act(acc + bias[m] + residual[m, n])
 * (SIMD tables fold bias and residual into the first K block and add later blocks to that, so the
 * rounding differs slightly from the scalar order; results stay bitwise reproducible.) */
typedef struct fc_epilogue {
    const float *bias;     /* (M) per output row (= output channel), or NULL */
    const float *residual; /* same strides as C (rsc, csc), or NULL */
    fc_act act;
    int stream; /* hint: C is large and not read again soon; the final stores may bypass the caches
                   (non-temporal). Never changes the results. */
} fc_epilogue;

/* One tile of the Winograd F(4x4, 3x3) transforms (wino_input / wino_output below). */
typedef struct fc_wino_in {
    const float *src;   /* element (row 0, column 0) of the tile's 6x6 input window in channel 0; the
                           window may hang over the tensor's edges (then src points outside it) */
    int r0, r1, c0, c1; /* window rows [r0, r1) x columns [c0, c1) are inside; the rest reads as 0 */
} fc_wino_in;

typedef struct fc_wino_out {
    float *dst;         /* element (row 0, column 0) of the tile's 4x4 output block in channel 0 */
    const float *res;   /* residual at the same offsets as dst, or NULL */
    int rows, cols;     /* the block's part inside the output (1..4 each) */
} fc_wino_out;

/* Geometry of a 2-D convolution window over one channel plane (NCHW) for the depthwise kernels:
 *   out[oy][ox] = sum_{i < kh, j < kw} w[i*kw + j] * in[oy*stride_h - pad_top + i*dil_h]
 *                                                     [ox*stride_w - pad_left + j*dil_w]
 * with in read as zero outside (in_h, in_w); the bottom/right padding follows from out_h, out_w. */
typedef struct fc_conv2d_geom {
    int in_h, in_w;         /* input plane */
    int kh, kw;             /* kernel taps */
    int stride_h, stride_w;
    int pad_top, pad_left;  /* zero rows above / columns left of the input */
    int dil_h, dil_w;       /* dilations (1: adjacent taps) */
    int out_h, out_w;       /* output plane */
} fc_conv2d_geom;

/* Packed layouts (the contract that lets operators write packed B directly, e.g. im2col):
 *  - packed A: ceil(M/mr) panels; panel p holds rows [p*mr, p*mr+mr) as K groups of mr floats
 *    (k-major: element (m, k) at panel[k*mr + (m - p*mr)]); rows past M are zero.
 *  - packed B: ceil(N/nr) panels; panel q holds columns [q*nr, q*nr+nr) as K groups of nr floats
 *    (element (k, n) at panel[k*nr + (n - q*nr)]); columns past N are zero.
 * Panel sizes are K*mr and K*nr floats; packed buffers must be 64-byte aligned. */

/* The kernel types: each signature is written once here; the tables below point to one function
 * of each type per instruction set, and engine/kernels/internal.h declares them with these types. */

/* A (M, K): element (m, k) at A[m*rsa + k*csa] -> packed A (layout above). */
typedef void fc_f32_gemm_pack_a_fn(int M, int K, const float *A, ptrdiff_t rsa, ptrdiff_t csa,
                                   float *packed);
/* B (K, N): element (k, n) at B[k*rsb + n*csb] -> packed B (layout above). */
typedef void fc_f32_gemm_pack_b_fn(int K, int N, const float *B, ptrdiff_t rsb, ptrdiff_t csb,
                                   float *packed);
/* The f32 GEMM microkernel driver (SGEMM on packed operands):
 * C (M, N) = epilogue(packedA (M, K) x packedB (K, N)); C element (m, n) at C[m*rsc + n*csc]
 * (fast path csc == 1). K may be 0 (C = epilogue(0)). ep may be NULL (no epilogue). Blocks K
 * internally for cache; the result for an element does not depend on M, N, csc or on which other
 * rows/columns are in the call, so callers may split M or N (at panel boundaries) across threads.
 * ep->residual may be C itself (in-place residual add); no other overlap of C with inputs. */
typedef void fc_f32_gemm_fn(int M, int N, int K, const float *pa, const float *pb, float *C,
                            ptrdiff_t rsc, ptrdiff_t csc, const fc_epilogue *ep);
/* The same product one K block at a time, for callers that build each slice of B just before it
 * is used (im2col into a buffer that stays in L2): K is cut into blocks of gemm_kc(K) rows (the
 * last one shorter; the cut sgemm_packed makes, from K alone), and a call computes block
 * [k0, k0 + kb) with pb holding only that block's rows of B, panel q's at pb + q*pbs (64-byte
 * aligned). Calling it for every block of K in order on the same C, with the same ep, gives
 * sgemm_packed's result bit for bit: the first block adds bias and residual, later ones add to C,
 * the last applies the activation. k0 must be a block start. */
typedef void fc_f32_gemm_kblock_fn(int M, int N, int K, int k0, const float *pa, const float *pb,
                                   size_t pbs, float *C, ptrdiff_t rsc, ptrdiff_t csc,
                                   const fc_epilogue *ep);
typedef int fc_f32_gemm_kc_fn(int K);
/* Depthwise 2-D convolution of one channel plane (geometry g, see fc_conv2d_geom):
 *   out (out_h, out_w) = act(bias + conv(in (in_h, in_w), w (kh, kw)))
 * act may be NULL (none). Residual: none (not fused here). out must not overlap in. SIMD
 * versions use a 64 KiB buffer on the stack (per call, so thread stacks need that much
 * headroom). */
typedef void fc_f32_dwconv_plane_fn(const fc_conv2d_geom *g, const float *in, const float *w,
                                    float bias, const fc_act *act, float *out);
/* Depthwise convolution of nch channel planes at once: plane c reads in + c*ics, weights
 * w + c*kh*kw, bias[c], and writes out + c*ocs, each exactly as dwconv_plane would compute it
 * up to rounding (SIMD tables put channels in vector lanes, which suits small planes). A
 * channel's result does not depend on nch or its position in the call. stream: hint as in
 * fc_epilogue (out is large and not read again soon; stores may bypass the caches). Same stack
 * needs as dwconv_plane (about 80 KiB). */
typedef void fc_f32_dwconv_channels_fn(const fc_conv2d_geom *g, int nch, const float *in,
                                       ptrdiff_t ics, const float *w, const float *bias,
                                       const fc_act *act, float *out, ptrdiff_t ocs, int stream);
/* Winograd F(4x4, 3x3), B^T d B: the input transform of nt <= nr tiles t[0..nt) over C channels
 * (channel c of tile l reads t[l].src + c*cs + r*W + s for window element (r, s)) into one
 * nr-column panel of 36 packed-B matrices: V[xi*vs + c*nr + l] = (B^T d B)[xi/6][xi%6], lanes
 * nt..nr-1 zero. vs is the distance between the matrices of consecutive xi. */
typedef void fc_f32_winograd_input_fn(int C, ptrdiff_t cs, ptrdiff_t W, const fc_wino_in *t, int nt,
                                      float *V, ptrdiff_t vs);
/* Winograd F(4x4, 3x3), A^T X A: the output transform of nt tiles t[0..nt) for M channels, where
 * X[xi] = X[xi*xs + m*ms + l] for channel m of tile l (the 36 GEMM results); stores
 * act(Y[i][j] + bias[m] + res) at t[l].dst + m*cs + i*W + j for i < rows, j < cols (res read at
 * the same offset from t[l].res when that is not NULL). bias: (M). act may be NULL (none). */
typedef void fc_f32_winograd_output_fn(int M, const float *X, ptrdiff_t xs, ptrdiff_t ms,
                                       const fc_wino_out *t, int nt, ptrdiff_t cs, ptrdiff_t W,
                                       const float *bias, const fc_act *act);
/* Direct convolution tile with the pixels broadcast, for convolutions with few input channels
 * (stems: im2col would copy each input element kh*kw times into rows of a few dozen): for m < M
 * (<= FC_CONV_BCAST_MC) and p < np (<= FC_CONV_BCAST_NP),
 *   y[m*ldy + p] = act(sum_k w[k*FC_CONV_BCAST_MC + m] * x[koff[k] + p*ps] + bias[m])
 * with the sum a chain of fused multiply-adds in k order from +0, then the bias, then the clamp of
 * a Relu or Clip or the other activation: the GEMM's operations for K in one block (SIMD tables),
 * so on one table such a convolution gives the same bits either way. w: (K, FC_CONV_BCAST_MC),
 * lanes past M zero; ep: bias (M floats, not NULL) and activation, no residual, no stream hint. */
#define FC_CONV_BCAST_NP 14
#define FC_CONV_BCAST_MC 32
typedef void fc_f32_conv_bcast_fn(int np, int M, int K, const float *x, const int *koff, ptrdiff_t ps,
                                  const float *w, float *y, ptrdiff_t ldy, const fc_epilogue *ep);
/* y[i] = act(x[i]) for n floats (in place allowed). */
typedef void fc_f32_act_fn(const fc_act *act, const float *x, float *y, size_t n);
/* In place, rows r < rows of n floats at x + r * rs: v = x * s[r] + t[r] (one product, then one
 * sum: an inference BatchNormalization's operations), then with relu max(0, v) as the Relu
 * activation computes it (0 only where 0 > v: -0 and NaN pass). Rows are channels: the packed B
 * panels of a 1x1 conv that normalizes its input as it reads it. */
typedef void fc_f32_affine_rows_fn(int rows, int n, const float *s, const float *t, int relu, float *x,
                                   ptrdiff_t rs);

/* ---- channel-blocked kernels (the depthwise blocks' NCHW16c path, engine/ops/conv_block.c) ----
 * A channel-blocked map (C, P) keeps groups of FC_CB channels with the channels in the lanes:
 * element (c, p) at [(c / FC_CB) * gs + p * FC_CB + c % FC_CB], gs (>= FC_CB * P) floats between
 * groups; the lanes past C in the last group are padding (written as anything, never read as data).
 * A depthwise convolution then needs no transposes, and a 1x1 convolution broadcasts the pixels'
 * inputs straight from the map instead of packing them. Each kernel gives the bits of the NCHW
 * kernels of its table for the same operands (the same operations in the same order per element),
 * so a block computes the same result either way. */
#define FC_CB 16
/* 1x1 convolution, pixel-major: y(n, p) = epilogue(sum_k W(n, k) x(k, p)) for p < P, n < N, with
 * sgemm_packed's operations per element (K cut by gemm_kc, a chain of fused multiply-adds per
 * block from +0 in k order; the first block's sum + bias, + residual; later blocks added; the clamp
 * and the activation last). x(k, p) at x[(k / FC_CB) * xs + p * FC_CB + k % FC_CB] when x_cb, else
 * at x[k * xs + p] (an NCHW map, xs floats between channels); pb: W^T packed as pack_b(K, N, W^T)
 * (ceil(N / nr) panels of K x nr); y channel-blocked with ygs, every lane of its ceil(N / FC_CB)
 * groups written; ep: bias (N) or NULL, residual like y or NULL, any activation, no stream hint. */
typedef void fc_f32_conv1x1_cb_fn(int P, int N, int K, const float *x, ptrdiff_t xs, int x_cb,
                                  const float *pb, float *y, ptrdiff_t ygs, const fc_epilogue *ep);
/* Any one-group convolution the same way, its input read through tap offsets (no im2col): x(k, p) =
 * x[koff[k] + p * ps] (ps 1 or 2: the stride along a row of a zero-padded band of input rows, whose
 * pixels p are one output row), K taps in the im2col order; otherwise as conv1x1 (x not
 * channel-blocked): the GEMM's bits on the im2col matrix of the same values. */
typedef void fc_f32_conv_taps_cb_fn(int P, int N, int K, const float *x, const int *koff, int ps,
                                    const float *pb, float *y, ptrdiff_t ygs, const fc_epilogue *ep);
/* Depthwise convolution (geometry g) of ngroups channel-blocked groups: group j reads in + j*igs
 * (pixel (y, x) at (y * in_w + x) * FC_CB) and writes out + j*ogs (out_h x out_w pixels likewise);
 * w: (ngroups, kh * kw, FC_CB) tap vectors, bias: (ngroups * FC_CB). Every output is +0 plus w*x
 * over the taps inside the input in tap order (fused multiply-adds), + bias, clamped, then the
 * activation: dwconv_channels' bits (its zero padding adds nothing). */
typedef void fc_f32_dwconv_cb_fn(const fc_conv2d_geom *g, int ngroups, const float *in, ptrdiff_t igs,
                                 const float *w, const float *bias, const fc_act *act, float *out,
                                 ptrdiff_t ogs);
/* NCHW (C, P) at x (xs floats between channels) -> channel-blocked at y (ygs; padding lanes 0). */
typedef void fc_f32_to_cb_fn(int C, int P, const float *x, ptrdiff_t xs, float *y, ptrdiff_t ygs);
/* channel-blocked (C, P) at y (ygs) -> NCHW at x (xs); only the C channels are written. */
typedef void fc_f32_from_cb_fn(int C, int P, const float *y, ptrdiff_t ygs, float *x, ptrdiff_t xs);

/* W (N, K) from this table's packed A of it (pack_a's layout, as the table's GEMM takes it) into the
 * panels conv1x1 and conv_taps take (fc_kernels_packed_b_floats(K, N) floats, 64-byte aligned). */
typedef void fc_cb_pack_w_fn(int N, int K, const float *packed_a, float *pb);

typedef struct fc_cb_kernels {
    fc_f32_conv1x1_cb_fn *conv1x1;
    fc_f32_conv_taps_cb_fn *conv_taps;
    fc_f32_dwconv_cb_fn *dwconv;
    fc_f32_to_cb_fn *to_cb;
    fc_f32_from_cb_fn *from_cb;
    fc_cb_pack_w_fn *pack_w;
} fc_cb_kernels;

typedef struct fc_kernels {
    const char *name; /* "scalar", "avx2", "avx512" */
    int mr, nr; /* GEMM microkernel tile: rows of A (output channels) x columns of B (pixels) */
    fc_f32_gemm_pack_a_fn *pack_a;
    fc_f32_gemm_pack_b_fn *pack_b;
    fc_f32_gemm_fn *sgemm_packed;
    fc_f32_gemm_kblock_fn *sgemm_kblock; /* NULL: no K-block entry (the scalar table: its sums are */
    fc_f32_gemm_kc_fn *gemm_kc;          /* not cut into blocks) */
    fc_f32_dwconv_plane_fn *dwconv_plane;
    fc_f32_dwconv_channels_fn *dwconv_channels;
    fc_f32_winograd_input_fn *wino_input;   /* NULL for both: no Winograd path (bf16 table) */
    fc_f32_winograd_output_fn *wino_output;
    fc_f32_act_fn *act;
    fc_f32_affine_rows_fn *affine_rows;
    fc_f32_conv_bcast_fn *conv_bcast; /* NULL: every convolution goes through im2col (avx2; scalar,
                                         whose GEMM does not sum in FMA chains, so the tile would
                                         not give its bits: the twin is for tests; bf16, whose
                                         stems run on its .f32 table) */
    const fc_cb_kernels *cb; /* the channel-blocked kernels (same bits as this table's GEMM and
                                dwconv_channels), or NULL: blocks take the NCHW path */
    const struct fc_kernels *f32; /* bf16 tables: the f32 table of the layers they keep in f32 (same
                                     mr, nr and pack_b, so a layer may use either; the avx512 kernels
                                     with the bf16 path's fast sigmoid); NULL in f32 tables */
} fc_kernels;

/* ---- bf16 products (the training ops' matrix products when a net asks for bf16) ----
 * Packed bf16 operands are packed f32 panels (the layouts above) converted in place: a panel
 * (K, R) (R = mr or nr lanes) becomes ceil(K/2) groups of R 32-bit words, word (j, r) holding
 * bf16(element (2j, r)) in its low half and bf16(element (2j + 1, r)) in its high half (+0 past K):
 * the k pairs VDPBF16PS multiplies. Panels stay where the f32 ones were (K*mr and K*nr words apart;
 * their second half is unused), so panels can be converted by whoever packed them. The rounding is
 * VCVTNE2PS2BF16's: to nearest even, denormals to signed zero, NaN kept quiet. */

/* panel (K, R) of f32 -> bf16 pairs, in place (layout above). */
typedef void fc_bf16_gemm_pack_fn(float *panel, int K, int R);
/* C (M, N) = epilogue(A x B) on packed bf16 operands (pa: ceil(M/mr) panels, pb: ceil(N/nr)),
 * C element (m, n) at C[m*rsc + n]. f32 accumulation: K is cut into blocks of pairs
 * (fc_bf16_gemm_block_pairs, from K alone); within a block every element starts at +0 and adds, pair
 * by pair, the odd k's product and then the even k's, each rounded to nearest even with denormal
 * results flushed to zero (VDPBF16PS's order); the first block's sum gets the bias, later blocks are
 * added to C; the last applies the clamp. The epilogue may have a bias and a Relu or Clip; no
 * residual, no other activation (asserted by the AVX512_BF16 one; the scalar twin also takes a
 * residual, added after the bias, and any activation after that, as fc_kernels_bf16's GEMM does). K may be 0 (C = epilogue(0)). As the f32 GEMM, an
 * element's result does not depend on M, N or which other rows or columns share the call. */
typedef void fc_bf16_gemm_fn(int M, int N, int K, const uint32_t *pa, const uint32_t *pb, float *C,
                             ptrdiff_t rsc, const fc_epilogue *ep);

typedef struct fc_bf16_kernels {
    const char *name; /* "avx512bf16"; "scalar" (the twin the tests compare it with) */
    int mr, nr;       /* the tile: rows of A x columns of B (both tables 12 x 32: same layouts) */
    fc_bf16_gemm_pack_fn *pack;
    fc_bf16_gemm_fn *gemm;
} fc_bf16_kernels;

/* The AVX512_BF16 table when this CPU has it (cpuid) and FEATCACHE_ISA does not lower the level
 * below avx512, else NULL: there is no slow path (the scalar twin is for tests). */
const fc_bf16_kernels *fc_bf16_kernels_best(void);
/* "scalar" (always) or "avx512bf16" (as fc_bf16_kernels_best), else NULL. */
const fc_bf16_kernels *fc_bf16_kernels_by_name(const char *name);

/* The kernel table of `--compute bf16` (inference): the avx512 table whose GEMM multiplies bf16
 * pairs with f32 sums: pack_a packs weights as f32 and converts them in place into bf16 k pairs
 * (the layout above; panels K*mr floats apart as before), pack_b and im2col write f32 panels,
 * which the GEMM converts on the fly (VCVTNE2PS2BF16's rounding), so convolutions and the Gemm op
 * compute in bf16 unchanged; no Winograd (3x3 convolutions run as GEMMs: the transforms amplify
 * the bf16 rounding); depthwise convolutions and activations stay f32. The epilogue is the f32
 * GEMM's (bias, residual, any activation). Its f32 field is the avx512 table: a model loaded with
 * this table prepares the steps that keep f32 products (engine/precision.h) for that one (Winograd
 * included). NULL where fc_bf16_kernels_best is NULL (no AVX512_BF16, or FEATCACHE_ISA below
 * avx512): there is no slow path; the scalar twin (bf16-gemm-scalar.c) is reached by the tests only. */
const fc_kernels *fc_kernels_bf16(void);

/* Floats needed for packed A / packed B of the given size with this kernel table. */
size_t fc_kernels_packed_a_floats(const fc_kernels *k, int M, int K);
size_t fc_kernels_packed_b_floats(const fc_kernels *k, int K, int N);

/* The fastest table this CPU supports (cpuid); never NULL (scalar at worst). FEATCACHE_ISA=scalar|avx2|
 * avx512 in the environment forces a lower one. Thread-safe; tables are static and immutable. */
const fc_kernels *fc_kernels_best(void);
/* The table with this name if compiled in and supported by this CPU, else NULL. */
const fc_kernels *fc_kernels_by_name(const char *name);

/* Scalar reference for one activation value (shared by every table's tails and by ops). */
float fc_act_apply(const fc_act *act, float x);

#endif
