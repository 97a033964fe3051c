/* AVX-512 kernel table: packing and SGEMM (12x32 tile: 24 zmm accumulators, B loaded as two vectors,
 * A broadcast), instantiated from gemm-impl.h; depthwise convolution and activations live in
 * dwconv-avx512.c and act-avx512.c; the channel-blocked depthwise kernel and the Winograd transforms
 * are the AVX2 ones (dwblock-avx2.c, wino-avx2.c; 32-lane panels). Compiled with -mavx512f
 * -mavx512bw -mavx512vl -mavx512dq -mfma; reached only after kernels.c has checked the CPU.
 * Not here: the algorithms (the *-impl.h templates). */
#include "engine/kernels/internal.h"
#include "engine/kernels/simd-avx512.h"
#include "engine/kernels/vact.h"

#define MR 12
#define KC_MAX 192          /* B micro-panel: 192 x 32 floats = 24 KiB (L1 of AVX-512 cores: 32-48 KiB) */
#define A_BLOCK (64 * 1024) /* floats of packed A per L2 block (256 KiB) */
#include "engine/kernels/gemm-impl.h"

const fc_kernels fc_kernels_avx512_table = {
    .name = "avx512",
    .mr = MR,
    .nr = NR,
    .pack_a = pack_a,
    .pack_b = pack_b,
    .sgemm_packed = sgemm_packed,
    .dwconv_plane = fc_dwconv_plane_avx512,
    .dwconv_planes = fc_dwconv_planes_avx2,
    .wino_input = fc_wino_input32_avx2,
    .wino_output = fc_wino_output_avx2,
    .act = fc_act_avx512,
};
