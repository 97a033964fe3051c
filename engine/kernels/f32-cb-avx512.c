/* AVX-512 channel-blocked kernels (kernels.h, fc_cb_kernels): one group of FC_CB = 16 channels is
 * one vector. The 1x1 convolution is pixel-major: a tile of 12 pixels x 32 output channels keeps 24
 * accumulators (the GEMM's 12x32 turned around), broadcasts the pixels' inputs from the map where
 * they are (channel-blocked or NCHW rows: nothing packed) and loads W^T from pack_b's panels; it
 * sums all of K in registers, block by block of the GEMM's cut, so each element sees the
 * operations of fc_f32_gemm_12x32__avx512. Pixel counts need no multiple of anything: a short last
 * tile has fewer pixels (rows), which costs no wasted products, unlike a short GEMM column panel.
 * The depthwise kernel runs 4 output pixels per FMA chain group over taps held in registers, with
 * the taps outside the input skipped (the strip kernels multiply them by zero: the same sum).
 * The kernels are f32-cb-impl.h's (also compiled with the fast sigmoid: f32-cb-fastsig-avx512.c);
 * the layout conversions and the weights' panels are here, shared by both tables. Compiled with the
 * avx512 flags; reached only through the avx512 tables. Twins: f32-cb-scalar.c. */
#include "engine/kernels/internal.h"
#include "engine/kernels/simd-avx512.h"
#include "engine/kernels/f32-act-vec.h"

#define CB_CONV1X1 fc_f32_conv1x1_cb__avx512
#define CB_CONV_TAPS fc_f32_conv_taps_cb__avx512
#define CB_DWCONV fc_f32_dwconv_cb__avx512
#include "engine/kernels/f32-cb-impl.h"

/* ---- layout ------------------------------------------------------------------------------------ */

void fc_f32_to_cb__avx512(int C, int P, const float *x, ptrdiff_t xs, float *y, ptrdiff_t ygs) {
    for (int c0 = 0; c0 < C; c0 += VW) {
        int nc = C - c0 < VW ? C - c0 : VW;
        float *yg = y + (ptrdiff_t)(c0 / VW) * ygs;
        for (int p0 = 0; p0 < P; p0 += VW) {
            int np = P - p0 < VW ? P - p0 : VW;
            vmask m = v_mask_first(np);
            vf r[VW];
FC_UNROLL(16)
            for (int c = 0; c < VW; c++) r[c] = c < nc ? v_loadm(x + (ptrdiff_t)(c0 + c) * xs + p0, m) : v_zero();
            v_transpose(r);
FC_UNROLL(16)
            for (int t = 0; t < VW; t++)
                if (t < np) v_store(yg + (ptrdiff_t)(p0 + t) * VW, r[t]);
        }
    }
}

void fc_f32_from_cb__avx512(int C, int P, const float *y, ptrdiff_t ygs, float *x, ptrdiff_t xs) {
    for (int c0 = 0; c0 < C; c0 += VW) {
        int nc = C - c0 < VW ? C - c0 : VW;
        const float *yg = y + (ptrdiff_t)(c0 / VW) * ygs;
        for (int p0 = 0; p0 < P; p0 += VW) {
            int np = P - p0 < VW ? P - p0 : VW;
            vmask m = v_mask_first(np);
            vf r[VW];
FC_UNROLL(16)
            for (int t = 0; t < VW; t++) r[t] = t < np ? v_load(yg + (ptrdiff_t)(p0 + t) * VW) : v_zero();
            v_transpose(r);
FC_UNROLL(16)
            for (int c = 0; c < VW; c++)
                if (c < nc) v_storem(x + (ptrdiff_t)(c0 + c) * xs + p0, m, r[c]);
        }
    }
}

/* ---- weights --------------------------------------------------------------------------------- */

void fc_f32_cb_pack_w__avx512(int N, int K, const float *packed_a, float *pb) {
    // packed_a: 12-row panels, element (n, k) at panel n / 12, k * 12 + n % 12; pb: 32-column panels
    // of W^T, element (k, n) at panel n / 32, k * 32 + n % 32, columns past N zero
    enum { MR = 12, NR = 32 };
    for (int n = 0; n < (N + NR - 1) / NR * NR; n++)
        for (int k = 0; k < K; k++)
            pb[(size_t)(n / NR) * K * NR + (size_t)k * NR + n % NR] =
                n < N ? packed_a[(size_t)(n / MR) * K * MR + (size_t)k * MR + n % MR] : 0.0f;
}

const fc_cb_kernels fc_cb_kernels_avx512 = {
    .conv1x1 = fc_f32_conv1x1_cb__avx512,
    .conv_taps = fc_f32_conv_taps_cb__avx512,
    .dwconv = fc_f32_dwconv_cb__avx512,
    .to_cb = fc_f32_to_cb__avx512,
    .from_cb = fc_f32_from_cb__avx512,
    .pack_w = fc_f32_cb_pack_w__avx512,
};
