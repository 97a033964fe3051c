/* AVX2+FMA kernel table: packing and SGEMM (6x16 tile: 12 ymm accumulators, B loaded as two vectors,
 * A broadcast), instantiated from gemm-impl.h; depthwise convolution and activations live in
 * dwconv-avx2.c, dwblock-avx2.c and act-avx2.c, the Winograd transforms in wino-avx2.c. Compiled with -mavx2 -mfma -mf16c; reached only after kernels.c has
 * checked the CPU. Not here: the algorithms themselves (see the *-impl.h templates). */
#include "engine/kernels/internal.h"
#include "engine/kernels/simd-avx2.h"
#include "engine/kernels/vact.h"

#define MR 6
#define KC_MAX 256         /* B micro-panel: 256 x 16 floats = 16 KiB, half of L1 */
#define A_BLOCK (64 * 1024) /* floats of packed A per L2 block (256 KiB) */
#include "engine/kernels/gemm-impl.h"

const fc_kernels fc_kernels_avx2_table = {
    .name = "avx2",
    .mr = MR,
    .nr = NR,
    .pack_a = pack_a,
    .pack_b = pack_b,
    .sgemm_packed = sgemm_packed,
    .dwconv_plane = fc_dwconv_plane_avx2,
    .dwconv_planes = fc_dwconv_planes_avx2,
    .wino_input = fc_wino_input16_avx2,
    .wino_output = fc_wino_output_avx2,
    .act = fc_act_avx2,
};
