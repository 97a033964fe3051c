/* Conv (2-D, NCHW float32): the convolution primitives (conv_prim.h) and the Conv op built on them.
 * Weights packed once at load. Four run-time paths:
 *  - GEMM: each task (column chunk, group, row block) builds packed B (direct for 1x1 stride-1 convs,
 *    im2col written straight into the packed layout otherwise), in one piece when it fits in
 *    fc_conv_whole_k_bytes, else one K block at a time, each slice just before the GEMM's block
 *    that reads it, with the fused epilogue y = act(W*x + bias + residual); small images share
 *    chunks (see plan_chunks);
 *  - Winograd F(4x4, 3x3) for 3x3 stride-1 convs with enough channels, and for 5x5 ones as four
 *    3x3 sub-kernels summed in the transformed domain (conv_winograd.c);
 *  - depthwise (group == Cin == Cout): the channel-blocked kernel on (image, channel block) tasks;
 *  - pixel-broadcast for stems (few input channels, K in one GEMM block; conv_bcast.c): the GEMM
 *    path's operations without im2col.
 * Every path computes an output element with the same operations wherever it sits in the batch, so
 * an image's result does not depend on the batch it is in. Not here: BN folding and activation /
 * residual / block fusion (graph_opt.c), depthwise blocks (conv_block.c, built on the primitives). */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "engine/fusion.h"
#include "engine/ops/conv_prim.h"
#include "engine/ops/ops.h"
#include "engine/ops/window.h"

#define GATHER_AHEAD 4  /* channels ahead prefetched by gather_packed */
#define CHUNK_COLS 384 /* target columns (output pixels) per GEMM call */
#define STREAM_BYTES (8 << 20) /* larger outputs are written around the caches */

size_t fc_conv_whole_k_bytes = 512 << 10;

void fc_conv_free(fc_conv *s) {
    if (!s) return;
    free(s->packed);
    free(s->bias);
    free(s->dw_weights);
    free(s->tap_ph);
    free(s->tap_dy);
    free(s->tap_dx);
    free(s->ph_a);
    free(s->ph_b);
    free(s->pre_s);
    free(s->pre_t);
    free(s->bcast_w);
    free(s);
}

void *fc_conv_alloc64(size_t floats) {
    void *p = NULL;
    return posix_memalign(&p, 64, floats * sizeof(float) + 64) == 0 ? p : NULL;
}

/* Attribute pair (strides, dilations), 1 1 when absent or malformed (fc_window_infer reports that). */
static void attr_pair(const fc_node *n, const char *name, int *a, int *b) {
    int64_t v[8];
    *a = *b = 1;
    if (fc_attr_ints(n, name, v, 8) == 2 && v[0] >= 1 && v[1] >= 1 && v[0] <= 4096 && v[1] <= 4096)
        *a = (int)v[0], *b = (int)v[1];
}

/* The im2col tap table (see fc_conv): phases in order of first use. */
static int taps_prepare(const fc_node *n, fc_conv *s, fc_error *err) {
    attr_pair(n, "strides", &s->sh, &s->sw);
    attr_pair(n, "dilations", &s->dil_h, &s->dil_w);
    int taps = s->kh * s->kw;
    s->tap_ph = malloc(sizeof(int) * taps), s->tap_dy = malloc(sizeof(int) * taps);
    s->tap_dx = malloc(sizeof(int) * taps);
    s->ph_a = malloc(sizeof(int) * taps), s->ph_b = malloc(sizeof(int) * taps);
    if (!s->tap_ph || !s->tap_dy || !s->tap_dx || !s->ph_a || !s->ph_b)
        return fc_fail(err, FC_ENOMEM, "out of memory");
    s->nph = 0;
    for (int ky = 0; ky < s->kh; ky++)
        for (int kx = 0; kx < s->kw; kx++) {
            int t = ky * s->kw + kx, a = (int)((int64_t)ky * s->dil_h % s->sh), b = (int)((int64_t)kx * s->dil_w % s->sw);
            int p = 0;
            while (p < s->nph && (s->ph_a[p] != a || s->ph_b[p] != b)) p++;
            if (p == s->nph) s->ph_a[p] = a, s->ph_b[p] = b, s->nph++;
            s->tap_ph[t] = p;
            s->tap_dy[t] = (int)((int64_t)ky * s->dil_h / s->sh);
            s->tap_dx[t] = (int)((int64_t)kx * s->dil_w / s->sw);
        }
    return 0;
}

/* Weight shape and attributes of Conv n before anything is allocated. */
static int check_weights(const fc_graph *g, const fc_node *n, fc_error *err) {
    if (n->n_in < 2 || n->in[1] < 0) return fc_op_fail(n, FC_EFORMAT, err, "needs X and W");
    const fc_tensor *w = &g->values[n->in[1]].c;
    if (!w->data) return fc_op_fail(n, FC_EUNSUPPORTED, err, "weights must be constant");
    if (w->rank != 4) return fc_op_fail(n, FC_EUNSUPPORTED, err, "only 2-D convolutions are supported (weight rank %d)", w->rank);
    int64_t group = fc_attr_int(n, "group", 1);
    for (int i = 0; i < 4; i++)
        if (w->dims[i] < 1 || w->dims[i] > (1 << 20)) return fc_op_fail(n, FC_EFORMAT, err, "invalid weight shape");
    if (group < 1 || w->dims[0] % group)
        return fc_op_fail(n, FC_EFORMAT, err, "group %lld does not divide %lld output channels", (long long)group, (long long)w->dims[0]);
    int64_t ks[4];
    if (fc_attr_ints(n, "kernel_shape", ks, 4) == 2 && (ks[0] != w->dims[2] || ks[1] != w->dims[3]))
        return fc_op_fail(n, FC_ESHAPE, err, "kernel_shape disagrees with the weight shape");
    return 0;
}

/* s->bias from the node's optional B input (zeros without one). */
static int bias_prepare(const fc_graph *g, const fc_node *n, fc_conv *s, fc_error *err) {
    s->bias = fc_conv_alloc64((size_t)s->cout);
    if (!s->bias) return fc_fail(err, FC_ENOMEM, "out of memory");
    memset(s->bias, 0, (size_t)s->cout * sizeof(float));
    if (n->n_in > 2 && n->in[2] >= 0) {
        const fc_tensor *b = &g->values[n->in[2]].c;
        if (!b->data) return fc_op_fail(n, FC_EUNSUPPORTED, err, "bias must be constant");
        if (fc_tensor_count(b) != s->cout) return fc_op_fail(n, FC_ESHAPE, err, "bias has %lld values for %d channels", (long long)fc_tensor_count(b), s->cout);
        memcpy(s->bias, b->data, (size_t)s->cout * sizeof(float));
    }
    return 0;
}

/* The fused BatchNormalization's per-channel s and t (fusion.h pre_bn), as bn_run computes them. */
static int pre_norm_prepare(const fc_graph *g, const fc_node *n, fc_conv *s, fc_error *err) {
    if (!n->fusion || n->fusion->pre_bn < 0) return 0;
    const float *p[4];
    for (int i = 0; i < 4; i++) p[i] = g->values[n->in[n->fusion->pre_bn + i]].c.data;
    s->pre_s = fc_conv_alloc64((size_t)s->cin_g);
    s->pre_t = fc_conv_alloc64((size_t)s->cin_g);
    if (!s->pre_s || !s->pre_t) return fc_fail(err, FC_ENOMEM, "out of memory");
    for (int c = 0; c < s->cin_g; c++)
        fc_bn_channel(p[0][c], p[1][c], p[2][c], p[3][c], n->fusion->pre_eps, &s->pre_s[c], &s->pre_t[c]);
    s->pre_relu = n->fusion->pre_relu;
    return 0;
}

/* The weights in the layout of the path the shape selects: depthwise filters as they are,
 * Winograd-transformed, or packed A per group with the im2col taps. */
static int weights_prepare(const fc_node *n, fc_conv *s, const float *wd, fc_error *err) {
    if (s->depthwise) {
        size_t count = (size_t)s->cout * s->kh * s->kw;
        if (!(s->dw_weights = fc_conv_alloc64(count))) return fc_fail(err, FC_ENOMEM, "out of memory");
        memcpy(s->dw_weights, wd, count * sizeof(float));
        return 0;
    }
    if (s->k->wino_input && fc_conv_wino_shape(n, s)) return fc_conv_wino_prepare(s, wd, err);
    if (taps_prepare(n, s, err)) return FC_ENOMEM;
    int mg = s->cout / s->group;
    s->group_stride = (fc_kernels_packed_a_floats(s->k, mg, s->K) + 15) / 16 * 16;
    if (!(s->packed = fc_conv_alloc64(s->group_stride * s->group))) return fc_fail(err, FC_ENOMEM, "out of memory");
    for (int gi = 0; gi < s->group; gi++)
        s->k->pack_a(mg, s->K, wd + (size_t)gi * mg * s->K, s->K, 1, s->packed + gi * s->group_stride);
    return 0;
}

int fc_conv_prepare(const fc_graph *g, const fc_node *n, const fc_kernels *k, fc_conv **out,
                    fc_error *err) {
    *out = NULL;
    int rc = check_weights(g, n, err);
    if (rc) return rc;
    const fc_tensor *w = &g->values[n->in[1]].c;
    fc_conv *s = calloc(1, sizeof *s);
    if (!s) return fc_fail(err, FC_ENOMEM, "out of memory");
    s->node = n;
    s->k = k;
    s->act = fc_fused_act(n);
    s->cout = (int)w->dims[0];
    s->cin_g = (int)w->dims[1];
    s->group = (int)fc_attr_int(n, "group", 1);
    s->kh = (int)w->dims[2];
    s->kw = (int)w->dims[3];
    s->K = s->cin_g * s->kh * s->kw;
    s->depthwise = s->group > 1 && s->cin_g == 1 && s->cout == s->group;
    /* a bf16 table's Winograd-shaped convs run on its f32 table: f32 Winograd is both faster than
     * the bf16 GEMM on these shapes (ResNet-50's stages 2-4: 0.48-0.61 ms against 0.64-0.72 per
     * image) and exact to f32 rounding, so it takes bf16 error out of most of a ResNet's FLOPs
     * (a Winograd on bf16 operands would not do: simulated, ResNet-50's worst ants/bees cosine
     * fell from 0.99966 to 0.99755, README "After the 21st session") */
    if (k->f32 && k->f32->wino_input && fc_conv_wino_shape(n, s) && s->kh == 3) s->k = k->f32;
    /* (5x5: the bf16 GEMM is as fast as f32 Winograd there (Inception-v3), so they stay bf16 and
     * the bf16 features keep their definition, extract/extractor.c) */
    if ((rc = bias_prepare(g, n, s, err)) || (rc = weights_prepare(n, s, w->data, err)) ||
        (rc = pre_norm_prepare(g, n, s, err)) || (rc = fc_conv_bcast_prepare(n, s, w->data, err))) {
        fc_conv_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

/* How a conv's output columns (pixels of all images, image-major) are cut into GEMM calls. Large
 * images: each image on its own, in near-equal chunks of about CHUNK_COLS. Small images (P <
 * FC_CONV_FLAT_P): chunks (a multiple of the thread count of them) run across image boundaries, so
 * late layers (7x7) fill whole nr-column panels and stream the weights once per chunk rather than
 * once per image; the panels of such a chunk that lie inside one image are written in place, a
 * panel straddling two images goes through scratch. Every column's arithmetic is the same either
 * way (the GEMM's result does not depend on an element's position), so an image's output does not
 * depend on its batch. */
typedef struct chunk_plan {
    int flat;       /* chunks span images */
    int cc;         /* columns per chunk, a multiple of nr */
    int64_t per;    /* chunks per image (not flat) */
    int64_t count;  /* chunks in all */
} chunk_plan;

static chunk_plan plan_chunks(int nr, int64_t N, int64_t P, int threads) {
    chunk_plan c = {.flat = P < FC_CONV_FLAT_P};
    int64_t span = c.flat ? N * P : P;
    int64_t n = (span + CHUNK_COLS - 1) / CHUNK_COLS;
    if (c.flat && threads > 1) n = (n + threads - 1) / threads * threads; /* no idle thread at the end */
    int64_t per = (span + n - 1) / n;
    c.cc = (int)((per + nr - 1) / nr * nr);
    c.per = (span + c.cc - 1) / c.cc;
    c.count = c.flat ? c.per : N * c.per;
    return c;
}

/* Global column range [*c0, *c0 + return) of chunk ch (column = img * P + pixel). */
static int chunk_range(const chunk_plan *c, int64_t ch, int64_t N, int64_t P, int64_t *c0) {
    int64_t end;
    if (c->flat) {
        *c0 = ch * c->cc;
        end = N * P;
    } else {
        int64_t img = ch / c->per;
        *c0 = img * P + ch % c->per * c->cc;
        end = (img + 1) * P;
    }
    return (int)(end - *c0 < c->cc ? end - *c0 : c->cc);
}

/* A run of chunk lanes [j, j + len) that are pixels [p, p + len) of image img. */
typedef struct col_run {
    int j, len;
    int64_t img, p;
    int oy, ox; /* p's output row and column */
    int seg;    /* im2col: index of the image segment holding this run */
} col_run;

/* Cuts chunk columns [c0, c0 + nc) into runs that stay inside one image, one nr-lane panel (nr >= nc:
 * no panel cuts) and (rows) one output row of width ow; returns the count (<= nc). */
static int make_runs(int64_t c0, int nc, int64_t P, int nr, int ow, int rows, col_run *r) {
    int n = 0;
    for (int j = 0; j < nc;) {
        int64_t c = c0 + j, p = c % P, len = nc - j;
        if (len > nr - j % nr) len = nr - j % nr;
        if (len > P - p) len = P - p;
        if (rows && len > ow - p % ow) len = ow - p % ow;
        r[n++] = (col_run){j, (int)len, c / P, p, (int)(p / ow), (int)(p % ow), 0};
        j += (int)len;
    }
    return n;
}

int fc_conv_window(const fc_conv *s, const fc_tensor *x, fc_window *w, fc_error *err) {
    const fc_node *n = s->node;
    if (x->rank != 4) return fc_op_fail(n, FC_EUNSUPPORTED, err, "only 4-D (N,C,H,W) inputs are supported (rank %d)", x->rank);
    if (x->dims[1] != (int64_t)s->cin_g * s->group)
        return fc_op_fail(n, FC_ESHAPE, err, "input has %lld channels, weights expect %d", (long long)x->dims[1], s->cin_g * s->group);
    return fc_window_infer(n, x->dims[2], x->dims[3], s->kh, s->kw, 0, w, err);
}

/* im2col source: for each image segment of a chunk, the zero-padded input rows its output rows
 * need, split by stride phase, so that every im2col row of a run is one contiguous copy with no
 * bounds checks. Segment r holds (cin_g, nph, rows[r], wj) floats at base[r]; phase cell (i, j) of
 * phase (a, b) is padded input element (row (oy0[r] + i) * sh + a, column j * sw + b). */
typedef struct phase_src {
    int wj, exth;               /* cells per row; extra rows below the last output row */
    int64_t base[CHUNK_COLS + 64];
    int oy0[CHUNK_COLS + 64], rows[CHUNK_COLS + 64];
} phase_src;

static int phase_extw(const fc_conv *s) { return (int)((int64_t)(s->kw - 1) * s->dil_w / s->sw); }
static int phase_exth(const fc_conv *s) { return (int)((int64_t)(s->kh - 1) * s->dil_h / s->sh); }

/* Floats of phase source for chs channels of a chunk of cc columns in at most nseg image segments
 * (an upper bound: a segment of len columns spans at most (len - 1) / ow + 2 output rows). */
static size_t phase_floats(const fc_conv *s, const fc_window *w, int chs, int cc, int64_t nseg) {
    int64_t rows = cc / w->ow + nseg * (2 + phase_exth(s));
    return (size_t)chs * s->nph * rows * (w->ow + phase_extw(s));
}

/* The most input channels a block of kc rows of B (rows ci*kh*kw + tap) touches. */
static int block_channels(const fc_conv *s, int kc) {
    int taps = s->kh * s->kw, chs = (kc + 2 * taps - 2) / taps;
    return chs < s->cin_g ? chs : s->cin_g;
}

/* Per-thread scratch of the GEMM path, in floats (each part rounded to 16 for alignment): packed B
 * of one K block (kc, cc) (kc = K when the GEMM is not cut); the im2col phase source of the
 * block's channels (bt; none for a direct 1x1 conv, packed from the input itself); for chunks that
 * span images the outputs (mg, nr) of the panels that straddle two images, before they are
 * scattered (one at a time, or all of the chunk's when their sums live there across K blocks). */
static void scratch_parts(const fc_conv *s, const chunk_plan *c, const fc_window *w, int64_t P,
                          int direct, int kc, size_t *pb, size_t *bt, size_t *ct) {
    *pb = (fc_kernels_packed_b_floats(s->k, kc, c->cc) + 15) / 16 * 16;
    if (direct) *bt = 0;
    else *bt = (phase_floats(s, w, block_channels(s, kc), c->cc, c->flat ? c->cc / P + 2 : 1) + 15) / 16 * 16;
    size_t straddles = kc < s->K ? (size_t)(c->cc / P + 1) : 1;
    *ct = c->flat ? (straddles * (s->cout / s->group) * s->k->nr + 15) / 16 * 16 : 0;
}

int fc_conv_direct(const fc_conv *s, const fc_window *w) {
    return s->kh == 1 && s->kw == 1 && w->sh == 1 && w->sw == 1 && w->pt == 0 && w->pl == 0 &&
           w->pb == 0 && w->pr == 0;
}

/* How the GEMM path cuts a whole-batch run into tasks (output-channel block, column chunk, group)
 * and each thread's scratch. */
typedef struct gemm_plan {
    chunk_plan c;
    int direct;           /* 1x1 stride 1 unpadded: B is the input itself (no im2col) */
    int msplit, mblock;   /* a group's output channels in msplit blocks of mblock (a multiple of mr) */
    int kc;               /* rows of B packed at a time: the GEMM's K block when the table can run
                             one block at a time (sgemm_kblock) and a chunk's whole B takes more
                             than fc_conv_whole_k_bytes, else K */
    int64_t tasks;
    size_t npb, nbt, nct; /* scratch parts in floats (scratch_parts) */
} gemm_plan;

static gemm_plan plan_gemm(const fc_conv *s, const fc_window *w, int64_t N, int threads) {
    const fc_kernels *k = s->k;
    int64_t P = (int64_t)w->oh * w->ow;
    int mg = s->cout / s->group;
    gemm_plan g = {.c = plan_chunks(k->nr, N, P, threads), .direct = fc_conv_direct(s, w), .msplit = 1};
    int64_t tasks = g.c.count * s->group;
    /* Few tasks (batch 1, small late layers): also split output channels so both cores work. */
    while (tasks * g.msplit < 2 * threads && mg / (g.msplit * 2) >= 2 * k->mr) g.msplit *= 2;
    g.mblock = ((mg + g.msplit - 1) / g.msplit + k->mr - 1) / k->mr * k->mr;
    g.tasks = tasks * g.msplit;
    g.kc = k->sgemm_kblock ? k->gemm_kc(s->K) : s->K;
    if (g.kc <= 0 || g.kc > s->K) g.kc = s->K;
    /* A chunk's whole B that fits in L2 beside a block of A and its rows of C is packed at once:
     * sgemm_packed then takes each L2 block of A's rows through every K block with their C in
     * cache, where block by block all of C (up to 1.5 MB for ResNet-50's 1x1 expansions to 1024
     * channels) went to L3 and back between blocks; and the chunk is packed in one pass. */
    if ((size_t)s->K * g.c.cc * sizeof(float) <= fc_conv_whole_k_bytes) g.kc = s->K;
    scratch_parts(s, &g.c, w, P, g.direct, g.kc, &g.npb, &g.nbt, &g.nct);
    return g;
}

int fc_conv_infer(const fc_conv *s, const fc_tensor *x, fc_tensor *y, size_t *work, int threads,
                  fc_error *err) {
    fc_window w;
    int rc = fc_conv_window(s, x, &w, err);
    if (rc) return rc;
    y->dtype = FC_F32;
    y->rank = 4;
    y->dims[0] = x->dims[0];
    y->dims[1] = s->cout;
    y->dims[2] = w.oh;
    y->dims[3] = w.ow;
    y->data = NULL;
    if (s->wino) {
        *work = fc_conv_wino_work(s, &w, x->dims[0], threads);
    } else if (!s->depthwise) {
        gemm_plan g = plan_gemm(s, &w, x->dims[0], threads);
        *work = (g.npb + g.nbt + g.nct) * (size_t)threads * sizeof(float);
        /* (the GEMM path's too: a caller with a residual or a scale takes it) */
        size_t bcast = s->bcast_w ? fc_conv_bcast_work(s, &w, threads) : 0;
        if (bcast > *work) *work = bcast;
    }
    return 0;
}

/* dst[j] = src[2 j] for j < n: vector loads and shuffles, not one float at a time (a stride-2
 * convolution's phase planes: as a scalar loop, two thirds of its im2col, a sixth of MobileNetV2's
 * stem block). */
static void every_second(float *restrict dst, const float *restrict src, int64_t n) {
#pragma omp simd
    for (int64_t j = 0; j < n; j++) dst[j] = src[2 * j];
}

/* dst[0..len) = src[0..len) for the short runs of im2col and gathers (at most a panel row of 32
 * floats but for long runs), as at most two fixed-size copies (which the compiler inlines) that
 * overlap when len is not a power of two. */
static inline void copy_run(float *dst, const float *src, int len) {
    if (len >= 8) {
        if (len > 32) {
            memcpy(dst, src, (size_t)len * sizeof(float));
        } else if (len > 16) { /* up to a whole panel row: no call to memcpy */
            memcpy(dst, src, 16 * sizeof(float));
            memcpy(dst + len - 16, src + len - 16, 16 * sizeof(float));
        } else {
            memcpy(dst, src, 8 * sizeof(float));
            memcpy(dst + len - 8, src + len - 8, 8 * sizeof(float));
        }
    } else if (len >= 4) {
        memcpy(dst, src, 4 * sizeof(float));
        memcpy(dst + len - 4, src + len - 4, 4 * sizeof(float));
    } else {
        for (int t = 0; t < len; t++) dst[t] = src[t];
    }
}

/* A phase row's cells: cell j reads input column ix0 + j*sw (ix0 = the phase's column minus the
 * left pad); cells [lo, hi) of [0, wj) are inside [0, W), the others are padding. Strides 1 and 2
 * without a division (this runs once per input row and phase). */
static inline void phase_cells(int64_t ix0, int sw, int64_t W, int64_t wj, int64_t *lo, int64_t *hi) {
    if (sw == 1) *lo = ix0 >= 0 ? 0 : -ix0, *hi = W - ix0;
    else if (sw == 2) *lo = ix0 >= 0 ? 0 : (1 - ix0) >> 1, *hi = ix0 > W - 1 ? 0 : ((W - 1 - ix0) >> 1) + 1;
    else *lo = ix0 >= 0 ? 0 : (-ix0 + sw - 1) / sw, *hi = ix0 > W - 1 ? 0 : (W - 1 - ix0) / sw + 1;
    if (*hi > wj) *hi = wj;
    if (*hi < 0) *hi = 0;
    if (*lo > *hi) *lo = *hi;
}

/* 1 when some tap reads the input rows of row phase a (with a stride over the kernel's height, not
 * all are: neither read nor prefetched). */
static int phase_row_used(const fc_conv *s, int a) {
    for (int ph = 0; ph < s->nph; ph++)
        if (s->ph_a[ph] == a) return 1;
    return 0;
}

/* Fills the phase source of input channels [ci0, ci1) (held from channel 0 of buf on) of the
 * chunk's image segments from x (the group's first channel of image 0; images cstride apart) and
 * points each run at its segment. */
static void phase_fill(const fc_conv *s, const fc_window *w, const float *x, int64_t cstride,
                       int64_t H, int64_t W, const col_run *segs, int n_segs, col_run *runs,
                       int n_runs, int ci0, int ci1, phase_src *ps, float *buf) {
    ps->wj = w->ow + phase_extw(s);
    ps->exth = phase_exth(s);
    int64_t off = 0;
    for (int r = 0; r < n_segs; r++) {
        int oy0 = segs[r].oy, oy1 = (int)((segs[r].p + segs[r].len - 1) / w->ow);
        ps->base[r] = off;
        ps->oy0[r] = oy0;
        ps->rows[r] = oy1 - oy0 + 1 + ps->exth;
        const float *xi = x + segs[r].img * cstride;
        /* input rows in order (padded row Y = (oy0 + i) * sh + a), so each is read once, sequentially;
         * the same row of the next channel is prefetched (the rows of a strided conv are not all
         * read, which leaves the hardware prefetcher behind) */
        for (int ci = ci0; ci < ci1; ci++)
            for (int i = 0; i < ps->rows[r]; i++)
                for (int a = 0; a < s->sh; a++) {
                    if (!phase_row_used(s, a)) continue; /* (1x1 stride 2: the odd rows) */
                    int64_t iy = (int64_t)(oy0 + i) * s->sh + a - w->pt;
                    int inside = iy >= 0 && iy < H;
                    const float *src = inside ? xi + ((int64_t)ci * H + iy) * W : NULL;
                    if (inside && ci + 1 < s->cin_g)
                        for (int64_t o = 0; o < W; o += 64 / (int64_t)sizeof(float)) __builtin_prefetch(src + H * W + o, 0, 3);
                    for (int ph = 0; ph < s->nph; ph++) {
                        if (s->ph_a[ph] != a) continue;
                        float *dst = buf + off + (((int64_t)(ci - ci0) * s->nph + ph) * ps->rows[r] + i) * ps->wj;
                        if (!inside) {
                            memset(dst, 0, sizeof(float) * (size_t)ps->wj);
                            continue;
                        }
                        int64_t ix0 = (int64_t)s->ph_b[ph] - w->pl, lo, hi;
                        phase_cells(ix0, s->sw, W, ps->wj, &lo, &hi);
                        for (int64_t j = 0; j < lo; j++) dst[j] = 0.f;
                        if (s->sw == 1) copy_run(dst + lo, src + ix0 + lo, (int)(hi - lo));
                        else if (s->sw == 2) every_second(dst + lo, src + ix0 + 2 * lo, hi - lo);
                        else for (int64_t j = lo; j < hi; j++) dst[j] = src[ix0 + j * s->sw];
                        for (int64_t j = hi; j < ps->wj; j++) dst[j] = 0.f;
                    }
                }
        off += (int64_t)(ci1 - ci0) * s->nph * ps->rows[r] * ps->wj;
    }
    for (int u = 0, r = 0; u < n_runs; u++) {
        while (runs[u].img != segs[r].img) r++;
        runs[u].seg = r;
    }
}

/* Rows [k0, k0 + kb) of a chunk's packed B at pb, in panels of (kb, nr) (pack_b's layout for kb
 * rows): the slice one K block of the GEMM works on (all of K when it is not cut). */
typedef struct b_slice {
    int k0, kb;
    float *pb;
} b_slice;

/* Panel q of the slice. */
static inline float *slice_panel(const b_slice *sl, int nr, int q) { return sl->pb + (size_t)q * sl->kb * nr; }

/* Where each run's first lane lies in the slice's panels, at its row 0. */
static void run_panel_starts(const col_run *runs, int n_runs, int nr, const b_slice *sl, float **dst0) {
    for (int r = 0; r < n_runs; r++) dst0[r] = slice_panel(sl, nr, runs[r].j / nr) + runs[r].j % nr;
}

/* Lanes past nc of row k of the slice's last panel: zeros, as pack_b leaves them. */
static inline void zero_tail_lanes(const b_slice *sl, int nr, int nc, int k) {
    int q_last = (nc - 1) / nr;
    float *row = slice_panel(sl, nr, q_last) + (size_t)k * nr;
    for (int j = nc - q_last * nr; j < nr; j++) row[j] = 0.f;
}

/* im2col of one chunk's slice straight into packed-B panels from the phase source of channels from
 * ci0 on: runs from make_runs (rows set, segments assigned by phase_fill); each (ci, ky, kx) row of
 * a run is a plain copy. */
static void im2col_packed(const fc_conv *s, const phase_src *ps, const float *buf, int ci0,
                          const col_run *runs, int n_runs, int nc, const b_slice *sl) {
    int nr = s->k->nr;
    /* per run: its source at tap offset 0, the distance between the phase planes of its segment
     * and its place in the panels, so the copy loop below only adds */
    const float *src0[CHUNK_COLS + 64];
    int64_t pstride[CHUNK_COLS + 64];
    float *dst0[CHUNK_COLS + 64];
    for (int r = 0; r < n_runs; r++) {
        const col_run *u = &runs[r];
        int g = u->seg;
        src0[r] = buf + ps->base[g] + (int64_t)(u->oy - ps->oy0[g]) * ps->wj + u->ox;
        pstride[r] = (int64_t)ps->rows[g] * ps->wj;
    }
    run_panel_starts(runs, n_runs, nr, sl, dst0);
    /* row by row of B across all panels, so that the phase planes are read in order */
    int taps = s->kh * s->kw;
    for (int i = 0; i < sl->kb; i++) {
        int kidx = sl->k0 + i, ci = kidx / taps, t = kidx % taps;
        int64_t plane = (int64_t)(ci - ci0) * s->nph + s->tap_ph[t];
        int64_t toff = (int64_t)s->tap_dy[t] * ps->wj + s->tap_dx[t];
        for (int r = 0; r < n_runs; r++)
            copy_run(dst0[r] + (size_t)i * nr, src0[r] + plane * pstride[r] + toff, runs[r].len);
        zero_tail_lanes(sl, nr, nc, i);
    }
}

/* The slice of packed B (K, nc) of a chunk through the phase source of the slice's channels in bt
 * (runs and segments from make_runs). */
static void im2col_chunk(const fc_conv *s, const fc_window *w, const float *x, int64_t xstride,
                         int64_t H, int64_t W, const col_run *segs, int n_segs, col_run *runs,
                         int n_runs, int nc, float *bt, const b_slice *sl) {
    int taps = s->kh * s->kw, ci0 = sl->k0 / taps, ci1 = (sl->k0 + sl->kb + taps - 1) / taps;
    phase_src ps;
    phase_fill(s, w, x, xstride, H, W, segs, n_segs, runs, n_runs, ci0, ci1, &ps, bt);
    if (taps == 1 && n_segs == 1) /* one phase, rows of ow cells: B is a plain matrix */
        s->k->pack_b(sl->kb, nc, bt + segs[0].ox, (ptrdiff_t)ps.rows[0] * ps.wj, 1, sl->pb);
    else
        im2col_packed(s, &ps, bt, ci0, runs, n_runs, nc, sl);
}

/* Depthwise: tasks are (image, block of channels); blocks are multiples of 8 channels sized so a
 * task has some 16K outputs, which amortizes the kernel's per-call set-up on small planes. */
static void conv_run_depthwise(const fc_conv *s, const fc_window *w, const fc_tensor *in,
                               const float *res, fc_tensor *out, const fc_run_ctx *ctx) {
    int64_t N = in->dims[0], C = s->cout, H = in->dims[2], W = in->dims[3];
    int64_t P = (int64_t)w->oh * w->ow;
    int64_t cb = (16384 / P + 7) / 8 * 8;
    if (cb > C) cb = C;
    int64_t blocks = (C + cb - 1) / cb;
    const float *x = in->data;
    float *y = out->data;
    fc_act none = {0}, act = s->act;
    int stream = (double)N * C * P * sizeof(float) > STREAM_BYTES;
#pragma omp parallel for num_threads(ctx->threads) schedule(dynamic, 1)
    for (int64_t t = 0; t < N * blocks; t++) {
        int64_t img = t / blocks, c0 = t % blocks * cb, nc = C - c0 < cb ? C - c0 : cb;
        float *yp = y + (img * C + c0) * P;
        ctx->k->dwconv_channels(&(fc_conv2d_geom){(int)H, (int)W, s->kh, s->kw, w->sh, w->sw, w->pt,
                                                  w->pl, w->dil_h, w->dil_w, w->oh, w->ow},
                                (int)nc, x + (img * C + c0) * H * W, H * W,
                                s->dw_weights + c0 * s->kh * s->kw, s->bias + c0, res ? &none : &act, yp, P,
                                stream && !res);
        if (res) {
            const float *rp = res + (img * C + c0) * P;
            for (int64_t i = 0; i < nc * P; i++) yp[i] += rp[i];
            ctx->k->act(&act, yp, yp, (size_t)(nc * P));
        }
    }
}

/* The tensors of a whole-batch run on the GEMM path: x (N, cin_g * group, H, W); y and res (N, cout,
 * P), images xstride and ystride floats apart. */
typedef struct batch_io {
    const float *x, *res;
    const float *scale; /* (N, cin_g * group): x's channels multiplied by it as they are gathered, or
                           NULL (only with the flat, direct plan) */
    float *y;
    int64_t N, H, W, P, xstride, ystride;
    int stream; /* y is large: the GEMM's final stores may bypass the caches */
} batch_io;

/* The fused BatchNormalization [and ReLU] on a slice of a chunk's packed B (nc columns, its rows
 * the input channels [k0, k0 + kb)), with bn_run's and the Relu op's operations (affine_rows);
 * lanes past nc in the last panel are normalized too and never stored. */
static void pre_norm_packed(const fc_conv *s, int nc, const b_slice *sl) {
    int nr = s->k->nr;
    for (int q = 0; q * nr < nc; q++)
        s->k->affine_rows(sl->kb, nr, s->pre_s + sl->k0, s->pre_t + sl->k0, s->pre_relu,
                          slice_panel(sl, nr, q), nr);
}

/* Packed B (cin_g, nc) of a direct conv's chunk that spans images, straight from the input: runs
 * (make_runs with panel cuts, no row cuts) are pieces of one image inside one panel, each channel's
 * piece one copy (times the image's channel scale when sg is not NULL: one float product per
 * element, as the Mul it replaces); lanes past nc are zeros, as pack_b leaves them. (A gather into
 * (cin_g, nc) and a pack_b of that read and wrote every float twice.) */
static void gather_packed(const fc_conv *s, const batch_io *b, const float *xg, const float *sg,
                          const col_run *runs, int n_runs, int nc, const b_slice *sl) {
    int nr = s->k->nr, cin_all = s->cin_g * s->group;
    const float *src0[CHUNK_COLS + 64]; /* per run: its first element in channel 0 */
    float *dst0[CHUNK_COLS + 64];
    for (int r = 0; r < n_runs; r++) src0[r] = xg + runs[r].img * b->xstride + runs[r].p;
    run_panel_starts(runs, n_runs, nr, sl, dst0);
    /* channel by channel, so that each input row is read in order across the chunk (panel by
     * panel, the reads jumped a whole channel apart), with the rows a few channels ahead prefetched */
    for (int ci = sl->k0; ci < sl->k0 + sl->kb; ci++) {
        for (int r = 0; r < n_runs; r++) {
            const float *src = src0[r] + (int64_t)ci * b->P;
            float *dst = dst0[r] + (size_t)(ci - sl->k0) * nr;
            if (ci + GATHER_AHEAD < s->cin_g) {
                __builtin_prefetch(src + GATHER_AHEAD * b->P, 0, 3);
                __builtin_prefetch(src + GATHER_AHEAD * b->P + runs[r].len - 1, 0, 3);
            }
            if (!sg) {
                copy_run(dst, src, runs[r].len);
                continue;
            }
            float sv = sg[runs[r].img * cin_all + ci];
#pragma omp simd
            for (int t = 0; t < runs[r].len; t++) dst[t] = src[t] * sv;
        }
        zero_tail_lanes(sl, nr, nc, ci - sl->k0);
    }
}

/* The slice sl of packed B (K, nc) of the chunk's columns [c0, c0 + nc) of group input xg (image
 * 0's first channel of the group), through bt; segs gets the chunk's image segments when the chunk
 * spans images or goes through im2col. sg: the group's first channel in b->scale, or NULL. */
static void pack_chunk(const fc_kernels *k, const fc_conv *s, const gemm_plan *g, const fc_window *w,
                      const batch_io *b, const float *xg, const float *sg, int64_t c0, int nc, col_run *segs,
                      float *bt, const b_slice *sl) {
    int64_t P = b->P, xstride = b->xstride;
    /* runs for im2col (inside a panel and an output row, or across rows when the phase rows are
     * as wide as the output rows, phase_extw 0: kw 1 as in 7x1 and 1x1 stride 2, or a kernel no
     * wider than its stride; a run's rows then follow each other in its phase plane); segments
     * (whole runs of one image) for gathering and scattering */
    col_run runs[CHUNK_COLS + 64];
    int n_runs = g->direct ? (g->c.flat ? make_runs(c0, nc, P, k->nr, w->ow, 0, runs) : 0)
                           : make_runs(c0, nc, P, k->nr, w->ow, phase_extw(s) > 0, runs);
    int n_segs = g->c.flat || !g->direct ? make_runs(c0, nc, P, nc, w->ow, 0, segs) : 0;
    if (g->direct && !g->c.flat) {
        k->pack_b(sl->kb, nc, xg + c0 / P * xstride + (int64_t)sl->k0 * P + c0 % P, P, 1, sl->pb);
    } else if (g->direct) {
        gather_packed(s, b, xg, sg, runs, n_runs, nc, sl);
    } else {
        im2col_chunk(s, w, xg, xstride, b->H, b->W, segs, n_segs, runs, n_runs, nc, bt, sl);
    }
    if (s->pre_s) pre_norm_packed(s, nc, sl); /* fused only on direct convs: no padding lanes */
}

/* A piece of a panel that straddles images: lanes [lane, lane + len) of the panel are columns of
 * one image, the first at offset off (channel 0 of the task's first output channel) in y and res. */
typedef struct panel_piece {
    int lane, len;
    int64_t off;
} panel_piece;

/* The pieces of chunk lanes [j0, j0 + lanes), from segment r on; returns their count (<= lanes). */
static int panel_pieces(const batch_io *b, const col_run *segs, int r, int j0, int lanes,
                        int64_t coff, panel_piece *pc) {
    int n = 0;
    for (int u = r, j = j0; j < j0 + lanes; u++) {
        int a = j - segs[u].j, len = segs[u].j + segs[u].len - j;
        if (len > j0 + lanes - j) len = j0 + lanes - j;
        pc[n++] = (panel_piece){j - j0, len, segs[u].img * b->ystride + coff + segs[u].p + a};
        j += len;
    }
    return n;
}

/* The product of K block sl (all of K when the plan does not cut it) of output channels [0, mm)
 * of pa into columns [0, n) of C, B's panels from the slice's panel q on. */
static void gemm_slice(const fc_kernels *k, const fc_conv *s, const gemm_plan *g, int mm, int n,
                       const float *pa, const b_slice *sl, int q, float *C, ptrdiff_t rsc,
                       const fc_epilogue *ep) {
    const float *pb = slice_panel(sl, k->nr, q);
    if (g->kc < s->K) k->sgemm_kblock(mm, n, s->K, sl->k0, pa, pb, (size_t)sl->kb * k->nr, C, rsc, 1, ep);
    else k->sgemm_packed(mm, n, s->K, pa, pb, C, rsc, 1, ep);
}

/* rows x len floats from src (row stride ss) to dst (row stride ds). Short rows (a 1x1 plane's
 * images are one column each: a squeeze-and-excitation projection's panel has 32 pieces of one
 * float per output channel) are copied inline: a memcpy call per float cost more than the GEMM. */
static void copy_rows(float *dst, ptrdiff_t ds, const float *src, ptrdiff_t ss, int rows, int len) {
    if (len >= 16) {
        for (int m = 0; m < rows; m++) memcpy(dst + m * ds, src + m * ss, (size_t)len * sizeof(float));
        return;
    }
    for (int m = 0; m < rows; m++)
        for (int t = 0; t < len; t++) dst[m * ds + t] = src[m * ss + t];
}

/* Panel q (lanes columns from segment r on) of a chunk that spans images, when it straddles two:
 * computed into ct (mm, nr) with its residual gathered there first (first K block), then
 * scattered to y (last K block); between K blocks its sums stay in ct. */
static void gemm_straddling_panel(const fc_kernels *k, const fc_conv *s, const gemm_plan *g,
                                  const batch_io *b, const col_run *segs, int r, int q, int lanes,
                                  int mm, const float *pa, const b_slice *sl, int64_t coff,
                                  fc_epilogue ep, float *ct) {
    const float *res = b->res;
    int nr = k->nr;
    panel_piece pc[64]; /* at most nr */
    int n = panel_pieces(b, segs, r, q * nr, lanes, coff, pc);
    for (int i = 0; res && sl->k0 == 0 && i < n; i++)
        copy_rows(ct + pc[i].lane, nr, res + pc[i].off, b->P, mm, pc[i].len);
    ep.residual = res ? ct : NULL;
    gemm_slice(k, s, g, mm, lanes, pa, sl, q, ct, nr, &ep);
    if (sl->k0 + sl->kb < s->K) return;
    for (int i = 0; i < n; i++) copy_rows(b->y + pc[i].off, b->P, ct + pc[i].lane, nr, mm, pc[i].len);
}

/* K block sl of a chunk whose columns span images: the panels inside one image write straight to
 * it (row stride P); a panel that straddles images goes through its own (mm, nr) part of ct
 * (gemm_straddling_panel). */
static void gemm_chunk_flat(const fc_kernels *k, const fc_conv *s, const gemm_plan *g,
                            const batch_io *b, const col_run *segs, int nc, int mm, const float *pa,
                            const b_slice *sl, int64_t coff, fc_epilogue ep, float *ct) {
    const float *res = b->res;
    float *y = b->y;
    int64_t P = b->P, ystride = b->ystride;
    int nr = k->nr, r = 0, straddles = 0;
    for (int q = 0; q * nr < nc;) {
        while (segs[r].j + segs[r].len <= q * nr) r++;
        int end = segs[r].j + segs[r].len; /* segment r holds column q*nr; it ends at end */
        int q1 = end == nc ? (nc + nr - 1) / nr : end / nr;
        if (q1 > q) { /* panels [q, q1) lie in segment r */
            int j0 = q * nr, ncol = (q1 * nr < end ? q1 * nr : end) - j0;
            int64_t cb = segs[r].img * ystride + coff + segs[r].p + (j0 - segs[r].j);
            ep.residual = res ? res + cb : NULL;
            gemm_slice(k, s, g, mm, ncol, pa, sl, q, y + cb, P, &ep);
            q = q1;
            continue;
        }
        int lanes = nc - q * nr < nr ? nc - q * nr : nr;
        /* one ct for all when K is one block, else one per straddling panel (its sums between
         * blocks) */
        float *cq = g->kc < s->K ? ct + (size_t)straddles++ * mm * nr : ct;
        gemm_straddling_panel(k, s, g, b, segs, r, q, lanes, mm, pa, sl, coff, ep, cq);
        q++;
    }
}

/* Task t of the GEMM path: K block by K block (g->kc rows of B; one block of all K when the GEMM
 * is not cut), the block's slice of its chunk's packed B, then that block of the GEMM of its
 * output channels with the fused epilogue: the slice is built in L2 just before its use, where a
 * whole chunk's B (K up to a few thousand rows) would go through L3 once written and again read.
 * Scratch: the thread's g->npb + g->nbt + g->nct floats. */
static void gemm_task(const fc_kernels *k, const fc_conv *s, const gemm_plan *g, const fc_window *w,
                      const batch_io *b, int64_t t, float *scratch) {
    int64_t ms = t % g->msplit, ch = t / g->msplit % g->c.count, gi = t / g->msplit / g->c.count;
    int mg = s->cout / s->group, m0 = (int)ms * g->mblock, mm = mg - m0 < g->mblock ? mg - m0 : g->mblock;
    if (mm <= 0) return;
    float *pb = scratch, *bt = pb + g->npb, *ct = bt + g->nbt;
    const float *res = b->res;
    float *y = b->y;
    int64_t P = b->P, c0;
    int nc = chunk_range(&g->c, ch, b->N, P, &c0);
    col_run segs[CHUNK_COLS + 64];
    const float *xg = b->x + gi * s->cin_g * b->H * b->W, *sg = b->scale ? b->scale + gi * s->cin_g : NULL;
    const float *pa = s->packed + gi * s->group_stride + (size_t)(m0 / k->mr) * s->K * k->mr;
    int64_t coff = (gi * mg + m0) * P; /* channel offset inside an image's output */
    int64_t cbase = c0 / P * b->ystride + coff + c0 % P; /* (not flat: the chunk is in one image) */
    fc_epilogue ep = {.bias = s->bias + gi * mg + m0, .act = s->act, .stream = b->stream};
    for (int k0 = 0; k0 < s->K; k0 += g->kc) {
        b_slice sl = {.k0 = k0, .kb = s->K - k0 < g->kc ? s->K - k0 : g->kc, .pb = pb};
        pack_chunk(k, s, g, w, b, xg, sg, c0, nc, segs, bt, &sl);
        if (g->c.flat) {
            gemm_chunk_flat(k, s, g, b, segs, nc, mm, pa, &sl, coff, ep, ct);
        } else {
            ep.residual = res ? res + cbase : NULL;
            gemm_slice(k, s, g, mm, nc, pa, &sl, 0, y + cbase, P, &ep);
        }
    }
}

/* GEMM path: tasks (output-channel block, column chunk, group) in parallel, see plan_gemm. */
static void conv_run_gemm(const fc_conv *s, const fc_window *w, const fc_tensor *in, const float *scale,
                          const float *res, fc_tensor *out, const fc_run_ctx *ctx) {
    const fc_kernels *k = s->k;
    int64_t N = in->dims[0], H = in->dims[2], W = in->dims[3], P = (int64_t)w->oh * w->ow;
    gemm_plan g = plan_gemm(s, w, N, ctx->threads);
    batch_io b = {.x = in->data, .res = res, .scale = scale, .y = out->data, .N = N, .H = H, .W = W, .P = P,
                  .xstride = (int64_t)s->cin_g * s->group * H * W, .ystride = (int64_t)s->cout * P,
                  .stream = (double)N * s->cout * P * sizeof(float) > STREAM_BYTES};
#pragma omp parallel for num_threads(ctx->threads) schedule(dynamic, 1)
    for (int64_t t = 0; t < g.tasks; t++)
        gemm_task(k, s, &g, w, &b, t, ctx->work + (g.npb + g.nbt + g.nct) * (size_t)omp_get_thread_num());
}

void fc_conv_run(const fc_conv *s, const fc_tensor *x, const float *res, fc_tensor *y,
                 const fc_run_ctx *ctx) {
    fc_window w;
    fc_conv_window(s, x, &w, NULL); /* cannot fail: fc_conv_infer accepted these shapes */
    if (s->depthwise) conv_run_depthwise(s, &w, x, res, y, ctx);
    else if (s->wino) fc_conv_run_winograd(s, &w, x, res, y, ctx);
    else if (s->bcast_w && !res) fc_conv_run_bcast(s, &w, x, y, ctx);
    else conv_run_gemm(s, &w, x, NULL, res, y, ctx);
}

int fc_conv_gathers_columns(const fc_conv *s, const fc_window *w) {
    return !s->depthwise && !s->wino && fc_conv_direct(s, w) && (int64_t)w->oh * w->ow < FC_CONV_FLAT_P;
}

void fc_conv_run_scaled(const fc_conv *s, const fc_tensor *x, const float *scale, const float *res, fc_tensor *y,
                        const fc_run_ctx *ctx) {
    fc_window w;
    fc_conv_window(s, x, &w, NULL); /* cannot fail: fc_conv_infer accepted these shapes */
    conv_run_gemm(s, &w, x, scale, res, y, ctx);
}

/* Output rows of one image, chunk by chunk through the im2col path (see conv_prim.h). */
static int rows_chunk(const fc_conv *s) { return CHUNK_COLS / s->k->nr * s->k->nr; }

size_t fc_conv_rows_floats(const fc_conv *s, const fc_window *w) {
    chunk_plan c = {.flat = 0, .cc = rows_chunk(s), .per = 1, .count = 1};
    size_t pb, bt, ct;
    scratch_parts(s, &c, w, (int64_t)w->oh * w->ow, 0, s->K, &pb, &bt, &ct);
    return pb + bt;
}

void fc_conv_rows(const fc_conv *s, const fc_window *w, const float *x, int64_t H, int64_t W, int oy0,
                  int oy1, float *work, float *C, ptrdiff_t rsc) {
    const fc_kernels *k = s->k;
    int64_t P = (int64_t)w->oh * w->ow, end = (int64_t)oy1 * w->ow;
    int cc = rows_chunk(s);
    chunk_plan c = {.flat = 0, .cc = cc, .per = 1, .count = 1};
    size_t npb, nbt, nct;
    scratch_parts(s, &c, w, P, 0, s->K, &npb, &nbt, &nct);
    float *pb = work, *bt = work + npb;
    b_slice sl = {.k0 = 0, .kb = s->K, .pb = pb};
    fc_epilogue ep = {.bias = s->bias, .act = s->act};
    for (int64_t c0 = (int64_t)oy0 * w->ow; c0 < end; c0 += cc) {
        int nc = (int)(end - c0 < cc ? end - c0 : cc);
        col_run runs[CHUNK_COLS + 64], segs[CHUNK_COLS + 64];
        int n_runs = make_runs(c0, nc, P, k->nr, w->ow, 1, runs);
        int n_segs = make_runs(c0, nc, P, nc, w->ow, 0, segs);
        im2col_chunk(s, w, x, 0, H, W, segs, n_segs, runs, n_runs, nc, bt, &sl);
        k->sgemm_packed(s->cout, nc, s->K, s->packed, pb, C + (c0 - (int64_t)oy0 * w->ow), rsc, 1, &ep);
    }
}

/* ---- the Conv op: one node, its fused epilogue from fc_fusion ---- */
static int conv_prepare(fc_graph *g, fc_node *n, const fc_kernels *k, fc_error *err) {
    fc_conv *c;
    int rc = fc_conv_prepare(g, n, k, &c, err);
    n->state = c;
    return rc;
}

static void conv_free(void *state) { fc_conv_free(state); }

static int conv_infer(const fc_node *n, const fc_tensor *in, fc_tensor *out, size_t *work,
                      int threads, fc_error *err) {
    return fc_conv_infer(n->state, &in[0], out, work, threads, err);
}

static int conv_run(const fc_node *n, const fc_tensor *in, fc_tensor *out, const fc_run_ctx *ctx,
                    fc_error *err) {
    int r = fc_fused_residual(n);
    fc_conv_run(n->state, &in[0], r >= 0 ? in[r].data : NULL, out, ctx);
    return 0;
}

static double conv_flops(const fc_node *n, const fc_tensor *in, const fc_tensor *out) {
    const fc_conv *s = n->state;
    return 2.0 * (double)fc_tensor_count(out) * s->K;
}

/* The GEMM path (its tiles, their copies, panels straddling images) and the Winograd output tiles
 * read a residual element in the epilogue that writes the output element at its place; the
 * depthwise path adds the residual after writing a whole block of channels, so not in place. */
static int conv_residual_in_place(const fc_node *n) { return !((const fc_conv *)n->state)->depthwise; }

const fc_op_def fc_op_conv = {.name = "Conv", .prepare = conv_prepare, .infer = conv_infer,
                              .run = conv_run, .free_state = conv_free, .flops = conv_flops,
                              .residual_in_place = conv_residual_in_place};
