/* The Winograd path of Conv (conv_prim.h): F(4x4, 3x3) for 3x3 stride-1 convolutions with enough
 * channels, and for 5x5 ones as four 3x3 sub-kernels (the 5x5 padded to 6x6 with zeros, at tap
 * offsets (0,0), (0,3), (3,0), (3,3)) whose transformed products one GEMM per transform point sums
 * (K = 4 * cin) before one output transform: 432 products per output instead of 1200 for
 * Inception-v3's 48 -> 64 5x5 layers. Weights are transformed once at load (in double); per task,
 * the kernel table's input transform, 36 packed GEMMs and its output transform (bias, residual,
 * activation). Not here: choosing the path and the other paths (conv.c), the transforms (kernels). */
#include <omp.h>
#include <stdlib.h>

#include "engine/ops/conv_prim.h"

#define WINO_TILES 16          /* target 4x4 output tiles per Winograd task */
#define WINO_TILES_BIG 64      /* ... when the transformed weights exceed WINO_BIG_U bytes */
#define WINO_BIG_U (12 << 20)
#define WINO_MIN_C 16  /* fewer input or output channels: the transforms would dominate */

int fc_conv_wino_shape(const fc_node *n, const fc_conv *s) {
    int64_t v[8];
    int k = fc_attr_ints(n, "strides", v, 8);
    if (k && (k != 2 || v[0] != 1 || v[1] != 1)) return 0;
    k = fc_attr_ints(n, "dilations", v, 8);
    if (k && (k != 2 || v[0] != 1 || v[1] != 1)) return 0;
    return ((s->kh == 3 && s->kw == 3) || (s->kh == 5 && s->kw == 5)) && s->group == 1 &&
           s->cin_g >= WINO_MIN_C && s->cout >= WINO_MIN_C;
}

/* The 3x3 sub-kernels of a Winograd conv: one for a 3x3, four for a 5x5 (padded to 6x6 with
 * zeros), sub-kernel d at tap offset (wino_dy(d), wino_dx(d)). */
static int wino_subs(const fc_conv *s) { return s->kh == 5 ? 4 : 1; }
static int wino_dy(int d) { return 3 * (d / 2); }
static int wino_dx(int d) { return 3 * (d % 2); }

/* U = G g G^T for every output channel, sub-kernel and input channel (g: the 3x3 sub-kernel), in
 * double, then packed as 36 A matrices (cout, subs * cin) (sub-kernel-major columns), one per
 * transform point xi (conv_prim.h). */
int fc_conv_wino_prepare(fc_conv *s, const float *wd, fc_error *err) {
    static const double G[6][3] = {{1.0 / 4, 0, 0},
                                   {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                                   {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                   {1.0 / 24, 1.0 / 12, 1.0 / 6},
                                   {1.0 / 24, -1.0 / 12, 1.0 / 6},
                                   {0, 0, 1}};
    int subs = wino_subs(s), K = subs * s->cin_g;
    size_t pairs = (size_t)s->cout * K;
    float *u = fc_conv_alloc64(36 * pairs); /* (36, cout, K) */
    s->wino = subs;
    s->group_stride = (fc_kernels_packed_a_floats(s->k, s->cout, K) + 15) / 16 * 16;
    s->packed = fc_conv_alloc64(36 * s->group_stride);
    if (!u || !s->packed) {
        free(u);
        return fc_fail(err, FC_ENOMEM, "out of memory");
    }
    for (size_t p = 0; p < pairs; p++) {
        int m = (int)(p / K), d = (int)(p % K) / s->cin_g, c = (int)(p % K) % s->cin_g;
        const float *wk = wd + ((size_t)m * s->cin_g + c) * s->kh * s->kw;
        double g[9];
        for (int i = 0; i < 9; i++) {
            int ky = wino_dy(d) + i / 3, kx = wino_dx(d) + i % 3;
            g[i] = ky < s->kh && kx < s->kw ? wk[ky * s->kw + kx] : 0.0;
        }
        double t[6][3];
        for (int i = 0; i < 6; i++)
            for (int j = 0; j < 3; j++)
                t[i][j] = G[i][0] * g[j] + G[i][1] * g[3 + j] + G[i][2] * g[6 + j];
        for (int i = 0; i < 6; i++)
            for (int j = 0; j < 6; j++)
                u[(i * 6 + j) * pairs + p] = (float)(t[i][0] * G[j][0] + t[i][1] * G[j][1] + t[i][2] * G[j][2]);
    }
    for (int xi = 0; xi < 36; xi++)
        s->k->pack_a(s->cout, K, u + xi * pairs, K, 1, s->packed + xi * s->group_stride);
    free(u);
    return 0;
}

/* Winograd tiles per chunk (a multiple of nr): the N * ceil(OH/4) * ceil(OW/4) tiles of the batch,
 * image-major, cut into near-equal chunks of about WINO_TILES (one panel: V and X stay in L2 while
 * the transformed weights are re-read from L3), or WINO_TILES_BIG when those weights are too big for
 * L3 and must be amortized over more tiles; *count gets the number of chunks. */
static int wino_chunk(int nr, int C, int M, int64_t N, const fc_window *w, int64_t *count) {
    int64_t tiles = N * ((w->oh + 3) / 4) * ((w->ow + 3) / 4);
    int wt = 36.0 * C * M * sizeof(float) > WINO_BIG_U ? WINO_TILES_BIG : WINO_TILES;
    int64_t n = (tiles + wt - 1) / wt, per = (tiles + n - 1) / n;
    int tc = (int)((per + nr - 1) / nr * nr);
    if (count) *count = (tiles + tc - 1) / tc;
    return tc;
}

/* Per-thread Winograd scratch in floats: V (36, C, tc) and X (36, M, tc), matrices padded by 16. */
static size_t wino_floats(int C, int M, int tc) { return (size_t)36 * ((size_t)(C + M) * tc + 32); }

size_t fc_conv_wino_work(const fc_conv *s, const fc_window *w, int64_t N, int threads) {
    int K = s->wino * s->cin_g, tc = wino_chunk(s->k->nr, K, s->cout, N, w, NULL);
    return wino_floats(K, s->cout, tc) * (size_t)threads * sizeof(float);
}

/* Winograd F(4x4, 3x3): per task (chunk of tiles across images, block of output channels) the
 * input transform of each sub-kernel's windows writes its rows of 36 packed-B matrices (subs * cin,
 * tiles), 36 GEMMs with the transformed weights give X (36, mm, tiles), and the output transform adds bias and residual and applies the activation.
 * Each tile goes through the same lane-wise transforms and GEMM columns wherever it sits, so an
 * image's result does not depend on the batch. */
void fc_conv_run_winograd(const fc_conv *s, const fc_window *w, const fc_tensor *in, const float *res,
                          fc_tensor *out, const fc_run_ctx *ctx) {
    const fc_kernels *k = s->k;
    int64_t N = in->dims[0], H = in->dims[2], W = in->dims[3], P = (int64_t)w->oh * w->ow;
    int64_t TW = (w->ow + 3) / 4, T = (w->oh + 3) / 4 * TW, chunks, total = N * T;
    int C = s->cin_g, K = s->wino * C, M = s->cout, tc = wino_chunk(k->nr, K, M, N, w, &chunks);
    int msplit = 1;
    while (chunks * msplit < 2 * ctx->threads && M / (msplit * 2) >= 2 * k->mr) msplit *= 2;
    int mblock = ((M + msplit - 1) / msplit + k->mr - 1) / k->mr * k->mr;
    const float *x = in->data;
    float *y = out->data;
#pragma omp parallel for num_threads(ctx->threads) schedule(dynamic, 1)
    for (int64_t t = 0; t < chunks * msplit; t++) {
        int64_t ch = t / msplit, t0 = ch * tc;
        int m0 = (int)(t % msplit) * mblock, mm = M - m0 < mblock ? M - m0 : mblock;
        if (mm <= 0) continue;
        int nt = (int)(total - t0 < tc ? total - t0 : tc), ntp = (nt + k->nr - 1) / k->nr * k->nr;
        /* matrix strides padded by a cache line: 36 matrices a multiple of 4 KiB apart would all
         * map to the same L1 sets, and the transforms touch all 36 at once */
        ptrdiff_t vs = (ptrdiff_t)K * ntp + 16, xs = (ptrdiff_t)mm * ntp + 16;
        float *V = ctx->work + wino_floats(K, M, tc) * omp_get_thread_num(), *X = V + 36 * vs;
        fc_wino_in ti[WINO_TILES_BIG + 64];
        fc_wino_out to[WINO_TILES_BIG + 64];
        for (int l = 0; l < nt; l++) {
            int64_t g = t0 + l, img = g / T, ty = g % T / TW, tx = g % TW;
            int64_t o = img * M * P + m0 * P + ty * 4 * w->ow + tx * 4;
            to[l] = (fc_wino_out){.dst = y + o, .res = res ? res + o : NULL,
                                  .rows = (int)(w->oh - ty * 4 < 4 ? w->oh - ty * 4 : 4),
                                  .cols = (int)(w->ow - tx * 4 < 4 ? w->ow - tx * 4 : 4)};
        }
        /* each sub-kernel's input windows (at its tap offset) fill its C rows of packed B */
        for (int d = 0; d < s->wino; d++) {
            for (int l = 0; l < nt; l++) {
                int64_t g = t0 + l, img = g / T, ty = g % T / TW, tx = g % TW;
                int64_t iy = ty * 4 - w->pt + wino_dy(d), ix = tx * 4 - w->pl + wino_dx(d);
                ti[l] = (fc_wino_in){.src = x + img * C * H * W + iy * W + ix,
                                     .r0 = (int)(iy < 0 ? -iy : 0), .r1 = (int)(H - iy < 6 ? H - iy : 6),
                                     .c0 = (int)(ix < 0 ? -ix : 0), .c1 = (int)(W - ix < 6 ? W - ix : 6)};
            }
            for (int q = 0; q * k->nr < nt; q++)
                k->wino_input(C, H * W, W, ti + q * k->nr, nt - q * k->nr < k->nr ? nt - q * k->nr : k->nr,
                              V + ((size_t)q * K + (size_t)d * C) * k->nr, vs);
        }
        for (int xi = 0; xi < 36; xi++)
            k->sgemm_packed(mm, ntp, K, s->packed + xi * s->group_stride + (size_t)(m0 / k->mr) * K * k->mr,
                            V + xi * vs, X + xi * xs, ntp, 1, NULL);
        k->wino_output(mm, X, xs, ntp, to, nt, P, w->ow, s->bias + m0, &s->act);
    }
}
