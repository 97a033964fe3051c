/* Compute kernels behind the operators: one table of function pointers per instruction set
 * (scalar reference, AVX2+FMA, AVX-512), chosen once at start-up from cpuid or by name for tests.
 * Every kernel is single-threaded and pure (no allocation, no globals written): the operators
 * parallelize around them with OpenMP. Tensors are float32; shapes are given in comments.
 * Not here: graph logic, memory planning, threading. */
#ifndef FC_KERNELS_H
#define FC_KERNELS_H

#include <stddef.h>

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
} fc_epilogue;

/* Packed layouts (the contract that lets operators write packed B directly, e.g. im2col):
 *  - packed A: ceil(M/mr) panels; panel p holds rows [p*mr, p*mr+mr) as K groups of mr floats
 *    (k-major: element (m, k) at panel[k*mr + (m - p*mr)]); rows past M are zero.
 *  - packed B: ceil(N/nr) panels; panel q holds columns [q*nr, q*nr+nr) as K groups of nr floats
 *    (element (k, n) at panel[k*nr + (n - q*nr)]); columns past N are zero.
 * Panel sizes are K*mr and K*nr floats; packed buffers must be 64-byte aligned. */
typedef struct fc_kernels {
    const char *name; /* "scalar", "avx2", "avx512" */
    int mr, nr;       /* microkernel tile: rows of A (output channels) x columns of B (pixels) */

    /* A (M, K): element (m, k) at A[m*rsa + k*csa] -> packed A (layout above). */
    void (*pack_a)(int M, int K, const float *A, ptrdiff_t rsa, ptrdiff_t csa, float *packed);
    /* B (K, N): element (k, n) at B[k*rsb + n*csb] -> packed B (layout above). */
    void (*pack_b)(int K, int N, const float *B, ptrdiff_t rsb, ptrdiff_t csb, float *packed);
    /* C (M, N) = epilogue(packedA (M, K) x packedB (K, N)); C element (m, n) at C[m*rsc + n*csc]
     * (fast path csc == 1). K may be 0 (C = epilogue(0)). ep may be NULL (no epilogue). Blocks K
     * internally for cache; the result for an element does not depend on M, N, csc or on which other
     * rows/columns are in the call, so callers may split M or N (at panel boundaries) across threads.
     * ep->residual may be C itself (in-place residual add); no other overlap of C with inputs. */
    void (*sgemm_packed)(int M, int N, int K, const float *pa, const float *pb, float *C,
                         ptrdiff_t rsc, ptrdiff_t csc, const fc_epilogue *ep);

    /* Depthwise 2-D convolution of one channel plane, NCHW:
     *   out (OH, OW) = act(bias + sum_{i,j} w[i*KW + j] * in[oy*SH - PT + i*DH, ox*SW - PL + j*DW])
     * with zero padding outside in (H, W); the bottom/right padding is implied by OH, OW. act may be
     * NULL (none). Residual: none (not fused here). out must not overlap in. SIMD versions use a
     * 64 KiB buffer on the stack (per call, so thread stacks need that much headroom). */
    void (*dwconv_plane)(const float *in, int H, int W, const float *w, int KH, int KW, int SH,
                         int SW, int PT, int PL, int DH, int DW, float bias, const fc_act *act,
                         float *out, int OH, int OW);

    /* y[i] = act(x[i]) for n floats (in place allowed). */
    void (*act)(const fc_act *act, const float *x, float *y, size_t n);
} fc_kernels;

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
