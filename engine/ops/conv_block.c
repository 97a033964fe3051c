/* The depthwise block op (fc_op_dw_block; internal, no ONNX op has its name): a Conv node that
 * fc_opt_fuse_dw_blocks turned into a block computes its producers too, band by band. Usually a 1x1
 * projection with its depthwise producer and that one's producer, the expansion (MobileNet's
 * inverted residual: x -> 1x1 expand -> depthwise kxk -> project [+ x]; or the stem convolution
 * before the first depthwise); or a depthwise Conv whose output has other uses (EfficientNet's
 * squeeze-and-excitation) with only its expansion, and then also the squeeze's GlobalAveragePool as
 * a second output (fc_fusion.pooled: each band's rows summed while in cache). The result is bitwise
 * the one the Convs and the pool give one after the other (tests/engine/test_conv_block.c), on the
 * NCHW path and on the channel-blocked one alike. Built on the convolution primitives (conv_prim.h),
 * which know nothing of blocks. Not here: finding
 * blocks (graph_opt.c), the kernels, plain Convs (conv.c). */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "engine/fusion.h"
#include "engine/ops/conv_prim.h"
#include "engine/ops/plane_sum.h"
#include "engine/ops/window.h"

#define BAND_MIN_P 196        /* depthwise input planes of fewer pixels (7x7) run unfused */
#define BAND_BYTES (1024 << 10) /* per-thread band buffers: about one L2 (they are not all hot at once) */

/* A block node's state: its Convs, prepared at load, each with its own fused activation. The
 * residual (fc_fusion.residual of the block node) only exists with a projection. */
typedef struct block_convs {
    fc_conv *expansion;  /* the one-group Conv before the depthwise, or NULL */
    fc_conv *depthwise;
    fc_conv *projection; /* the 1x1 Conv after it (the block node's own), or NULL when the block node
                            is the depthwise */
    int pooled;          /* depthwise-only: out[1] is the GlobalAveragePool of out[0] (fc_fusion.pooled) */
    int res_expanded;    /* the projection adds the expansion's output (fc_fusion.residual_expanded) */
    /* The channel-blocked path's weights (cb_prepare), or all NULL when the block cannot take it:
     * W^T of the expansion and the projection as pack_b panels, the depthwise taps as (groups,
     * kh*kw, FC_CB) vectors and its bias padded to whole groups. */
    float *cb_expand, *cb_project, *cb_dw_w, *cb_dw_bias;
    /* Channel-blocked tensors between blocks (fc_dw_blocks_chain; all 0 when none): the block input
     * in[0] (in_cb), its residual (res_cb) and its output (out_cb) are stored as the channel-blocked
     * path's rows are, groups of FC_CB channels, (N, ceil(C / FC_CB), H, W, FC_CB), instead of NCHW;
     * then no from_cb/to_cb between two blocks */
    int in_cb, res_cb, out_cb;
} block_convs;

/* Bands: per image, a band of band_rows output rows needs a few rows of the expanded tensor; they are
 * computed into a small buffer (rows shared with the previous band are kept), the depthwise kernel
 * turns them into band_rows rows of its output, and the projection GEMM writes those rows of the
 * block's output. The expanded tensor (up to 6x the block's channels) never exists whole, so it
 * stays in L2 instead of going to memory and back twice. The same GEMM and depthwise kernels as the
 * separate Convs run on the same operands, and both compute an element independently of the rest
 * of the call, hence the same bits. Blocks on small planes (a 7x7 depthwise input) gain nothing
 * from bands and would fill fewer GEMM panels than the whole-batch path (whose columns span
 * images), so there the Convs run one after the other on scratch (run_unfused). BAND_MIN_P and
 * BAND_BYTES were tuned on MobileNetV2 (bench --profile). On a table with channel-blocked
 * kernels (kernels.h, fc_cb_kernels) the band's buffers hold channel-blocked rows instead
 * (block_rows_cb: no packing, no transposes around the depthwise kernel, no partial GEMM column
 * panels), and blocks of every plane size take that path, image by image; the same bits again.
 * Everything a banded run needs besides the tensors: */
typedef struct block {
    const fc_conv *expansion, *depthwise, *projection; /* expansion and projection may be NULL */
    fc_window expansion_win, dw_win;
    int expand_im2col;           /* the expansion is not 1x1 stride 1 unpadded: im2col (fc_conv_rows) */
    const block_convs *cb;       /* the channel-blocked path (cb_takes), else NULL */
    int cin, H0, W0;             /* block input (cin, H0, W0) */
    int ce, cout, H, W, OH, OW;  /* depthwise input (ce, H, W), output (cout, OH, OW); cout = ce
                                    without a projection */
    int band_rows;               /* output rows per band */
    int in_rows;                 /* expanded rows a band reads (rows of the expanded buffer) */
    struct {                     /* per-thread scratch parts in floats: */
        size_t expand_b;         /* the expansion's packed B (or fc_conv_rows' work); cb: none */
        size_t expanded;         /* expanded rows (ce, in_rows, W); cb: channel-blocked */
        size_t dw_rows;          /* depthwise output rows (ce, band_rows, OW); cb: channel-blocked */
        size_t project_b;        /* the projection's packed B; cb: its output and residual rows,
                                    channel-blocked (cout, band_rows, OW) each */
        size_t lanes;            /* pooled: the plane sums' lanes (ce, 16) (outside the band budget) */
    } floats;
} block;

static size_t round16(size_t f) { return (f + 15) / 16 * 16; }

static int gcd(int a, int b) { return b ? gcd(b, a % b) : a; }

static size_t groups_of(int c) { return (size_t)(c + FC_CB - 1) / FC_CB; }

/* ncol channel-blocked pixels of each of groups groups: from src (sgs floats between groups) to dst
 * (dgs). */
static void copy_groups(size_t groups, int ncol, const float *src, ptrdiff_t sgs, float *dst, ptrdiff_t dgs) {
    for (size_t g = 0; g < groups; g++)
        memcpy(dst + g * dgs, src + g * sgs, (size_t)ncol * FC_CB * sizeof(float));
}

/* The channel-blocked path's expansion through tap offsets (a stem: 3x3 stride 2 on 3 channels):
 * each band's input rows, zero-padded, at most in_rows expanded rows' worth: (cin, rows, Wp). */
static int taps_band_wp(const block *b) {
    return (b->W - 1) * b->expansion_win.sw + (b->expansion->kw - 1) * b->expansion_win.dil_w + 1;
}
static int taps_band_rows(const block *b, int rows) {
    return (rows - 1) * b->expansion_win.sh + (b->expansion->kh - 1) * b->expansion_win.dil_h + 1;
}
static size_t taps_band_floats(const block *b) {
    return (size_t)b->cin * taps_band_rows(b, b->in_rows) * taps_band_wp(b);
}

static void band_parts(block *b, const fc_kernels *k) {
    b->in_rows = (b->band_rows - 1) * b->dw_win.sh + (b->dw_win.kh - 1) * b->dw_win.dil_h + 1;
    if (b->cb) {
        b->floats.expand_b = b->expand_im2col ? round16(taps_band_floats(b)) + round16((size_t)b->expansion->K) : 0;
        b->floats.expanded = round16(groups_of(b->ce) * FC_CB * b->in_rows * b->W);
        b->floats.dw_rows = round16(groups_of(b->ce) * FC_CB * b->band_rows * b->OW);
        b->floats.project_b = b->projection ? 2 * round16(groups_of(b->cout) * FC_CB * b->band_rows * b->OW) : 0;
        return;
    }
    b->floats.expand_b = b->expand_im2col ? round16(fc_conv_rows_floats(b->expansion, &b->expansion_win))
                         : b->expansion   ? round16(fc_kernels_packed_b_floats(k, b->cin, b->in_rows * b->W))
                                          : 0;
    b->floats.expanded = b->expansion ? round16((size_t)b->ce * b->in_rows * b->W) : 0;
    b->floats.dw_rows = b->projection ? round16((size_t)b->ce * b->band_rows * b->OW) : 0;
    b->floats.project_b =
        b->projection ? round16(fc_kernels_packed_b_floats(k, b->ce, b->band_rows * b->OW)) : 0;
}

static size_t band_floats(const block *b) {
    return b->floats.expand_b + b->floats.expanded + b->floats.dw_rows + b->floats.project_b;
}

/* One thread's scratch: the band buffers, then the lanes. */
static size_t thread_floats(const block *b) { return band_floats(b) + b->floats.lanes; }

/* The channel-blocked path: weights prepared (cb_prepare: a table with the kernels, a one-group
 * expansion, a 1x1 projection) and an expansion (window ew; NULL without one) that reads its input
 * pixel by pixel (1x1, stride 1, no pad) or along rows at stride 1 or 2 (conv_taps). */
static int cb_takes(const block_convs *c, const fc_window *ew) {
    return c->cb_dw_w && (!ew || fc_conv_direct(c->expansion, ew) || (ew->sw <= 2 && c->depthwise->k->cb->conv_taps));
}

/* The block of c for input x (N, Cin, H0, W0), depthwise input te (N, Ce, H, W) and output y
 * (N, Cout, OH, OW); band_rows is the most rows whose buffers fit BAND_BYTES (at least 1). */
static int block_setup(block *b, const block_convs *c, const fc_tensor *x, const fc_tensor *te,
                       const fc_tensor *y, const fc_kernels *k, fc_error *err) {
    memset(b, 0, sizeof *b);
    b->expansion = c->expansion, b->depthwise = c->depthwise, b->projection = c->projection;
    b->cin = (int)x->dims[1], b->H0 = (int)x->dims[2], b->W0 = (int)x->dims[3];
    b->H = (int)te->dims[2], b->W = (int)te->dims[3];
    b->ce = b->depthwise->cout, b->cout = b->projection ? b->projection->cout : b->ce;
    b->OH = (int)y->dims[2], b->OW = (int)y->dims[3];
    int rc = fc_conv_window(b->depthwise, te, &b->dw_win, err);
    if (!rc && b->expansion) rc = fc_conv_window(b->expansion, x, &b->expansion_win, err);
    if (rc) return rc;
    b->expand_im2col = b->expansion && !fc_conv_direct(b->expansion, &b->expansion_win);
    b->cb = cb_takes(c, b->expansion ? &b->expansion_win : NULL) ? c : NULL;
    b->band_rows = 1;
    while (b->band_rows < b->OH) {
        b->band_rows++;
        band_parts(b, k);
        if (band_floats(b) * sizeof(float) > BAND_BYTES) {
            b->band_rows--;
            break;
        }
    }
    /* whole nr-column GEMM panels (partial ones go through a copy) where the budget allows:
     * band_rows * OW a multiple of nr */
    int step = k->nr / gcd(k->nr, b->OW);
    if (b->band_rows < b->OH && b->band_rows >= step) b->band_rows -= b->band_rows % step;
    band_parts(b, k);
    b->floats.lanes = c->pooled ? round16((size_t)b->ce * 16) : 0;
    return 0;
}

/* Rows [r0, r1) of the expansion of image x into rows [r0 - e0, r1 - e0) of expanded. */
static void expand_rows(const block *b, const fc_kernels *k, const float *x, int r0, int r1, int e0,
                        float *expand_b, float *expanded) {
    // x: (cin, H0, W0); expanded: (ce, in_rows, W)
    if (b->expand_im2col) {
        fc_conv_rows(b->expansion, &b->expansion_win, x, b->H0, b->W0, r0, r1, expand_b,
                     expanded + (ptrdiff_t)(r0 - e0) * b->W, (ptrdiff_t)b->in_rows * b->W);
        return;
    }
    int n = (r1 - r0) * b->W;
    k->pack_b(b->cin, n, x + (ptrdiff_t)r0 * b->W, (ptrdiff_t)b->H * b->W, 1, expand_b);
    fc_epilogue ep = {.bias = b->expansion->bias, .act = b->expansion->act};
    b->expansion->k->sgemm_packed(b->ce, n, b->cin, b->expansion->packed, expand_b, expanded + (ptrdiff_t)(r0 - e0) * b->W,
                    (ptrdiff_t)b->in_rows * b->W, 1, &ep);
}

/* Makes expanded hold image rows [lo, hi) of the expansion in its rows [0, hi - lo): rows it held
 * before ([*e0, *e1)) that are still needed move up, the missing ones are computed. */
static void slide_expanded(const block *b, const fc_kernels *k, const float *x, int lo, int hi,
                           int *e0, int *e1, float *expand_b, float *expanded) {
    ptrdiff_t plane = (ptrdiff_t)b->in_rows * b->W;
    if (lo < *e0 || lo >= *e1) *e1 = lo; /* nothing shared with the last band */
    else if (lo > *e0)
        for (int c = 0; c < b->ce; c++)
            memmove(expanded + c * plane, expanded + c * plane + (ptrdiff_t)(lo - *e0) * b->W,
                    (size_t)(*e1 - lo) * b->W * sizeof(float));
    *e0 = lo;
    if (hi > *e1) expand_rows(b, k, x, *e1, hi, *e0, expand_b, expanded);
    *e1 = hi > *e1 ? hi : *e1;
}

/* The depthwise input rows that output rows [o0, o1) read: from *top on; those in [*lo, *hi) exist,
 * the rest is padding. */
static void band_input(const block *b, int o0, int o1, int *top, int *lo, int *hi) {
    const fc_window *w = &b->dw_win;
    *top = o0 * w->sh - w->pt;
    *lo = *top > 0 ? *top : 0;
    *hi = (o1 - 1) * w->sh - w->pt + (w->kh - 1) * w->dil_h + 1;
    if (*hi > b->H) *hi = b->H;
    if (*hi < *lo) *hi = *lo;
}

/* Output rows [y0, y1) of one image, band by band; with lanes (ce, 16) (a pooled block), each band's
 * rows are added to its channel's plane sum while they are still in cache. */
static void block_rows(const block *b, const fc_kernels *k, const float *x, const float *res,
                       float *y, int y0, int y1, float *scratch, float *lanes) {
    // x: (cin, H0, W0); res, y: (cout, OH, OW)
    float *expand_b = scratch, *expanded = expand_b + b->floats.expand_b;
    float *dw_rows = expanded + b->floats.expanded, *project_b = dw_rows + b->floats.dw_rows;
    const fc_window *w = &b->dw_win;
    int e0 = 0, e1 = 0; /* image rows [e0, e1) of the expansion are in expanded's rows [0, e1 - e0) */
    for (int o0 = y0; o0 < y1; o0 += b->band_rows) {
        int o1 = o0 + b->band_rows < y1 ? o0 + b->band_rows : y1;
        int top, lo, hi;
        band_input(b, o0, o1, &top, &lo, &hi);
        const float *src = x + (ptrdiff_t)lo * b->W;
        ptrdiff_t ics = (ptrdiff_t)b->H * b->W;
        if (b->expansion) {
            slide_expanded(b, k, x, lo, hi, &e0, &e1, expand_b, expanded);
            src = expanded, ics = (ptrdiff_t)b->in_rows * b->W;
        }
        int rows = o1 - o0, ncol = rows * b->OW;
        /* without a projection the depthwise rows are the output */
        float *dst = b->projection ? dw_rows : y + (ptrdiff_t)o0 * b->OW;
        ptrdiff_t ocs = b->projection ? ncol : (ptrdiff_t)b->OH * b->OW;
        k->dwconv_channels(&(fc_conv2d_geom){hi - lo, b->W, w->kh, w->kw, w->sh, w->sw, lo - top,
                                             w->pl, w->dil_h, w->dil_w, rows, b->OW},
                           b->ce, src, ics, b->depthwise->dw_weights, b->depthwise->bias,
                           &b->depthwise->act, dst, ocs, 0);
        for (int c = 0; lanes && c < b->ce; c++)
            fc_plane_lanes_add(lanes + (size_t)c * 16, y + (ptrdiff_t)c * ocs, (int64_t)o0 * b->OW,
                               (int64_t)o1 * b->OW);
        if (!b->projection) continue;
        k->pack_b(b->ce, ncol, dw_rows, ncol, 1, project_b);
        fc_epilogue ep = {.bias = b->projection->bias, .act = b->projection->act,
                          .residual = res ? res + (ptrdiff_t)o0 * b->OW : NULL};
        b->projection->k->sgemm_packed(b->cout, ncol, b->ce, b->projection->packed, project_b, y + (ptrdiff_t)o0 * b->OW,
                        (ptrdiff_t)b->OH * b->OW, 1, &ep);
    }
}

/* Expanded rows [r0, r1) of image x into channel-blocked rows at dst (group stride egs) through tap
 * offsets: the rows' input rows copied zero-padded into band (taps_band_*), then one conv_taps call
 * per row. koff: K ints of scratch. */
static void expand_taps_cb(const block *b, const fc_cb_kernels *cb, const float *x, int r0, int r1,
                           float *band, int *koff, float *dst, ptrdiff_t egs) {
    // x: (cin, H0, W0); band: (cin, nin, Wp)
    const fc_conv *e = b->expansion;
    const fc_window *ew = &b->expansion_win;
    int Wp = taps_band_wp(b), nin = taps_band_rows(b, r1 - r0), top = r0 * ew->sh - ew->pt;
    for (int ci = 0; ci < b->cin; ci++)
        for (int v = 0; v < nin; v++) {
            float *row = band + ((size_t)ci * nin + v) * Wp;
            int iy = top + v, lo = ew->pl < Wp ? ew->pl : Wp, n = b->W0 < Wp - lo ? b->W0 : Wp - lo;
            if (iy < 0 || iy >= b->H0 || n <= 0) {
                memset(row, 0, (size_t)Wp * sizeof(float));
                continue;
            }
            memset(row, 0, (size_t)lo * sizeof(float));
            memcpy(row + lo, x + ((size_t)ci * b->H0 + iy) * b->W0, (size_t)n * sizeof(float));
            memset(row + lo + n, 0, (size_t)(Wp - lo - n) * sizeof(float));
        }
    for (int ci = 0; ci < b->cin; ci++)
        for (int i = 0; i < e->kh; i++)
            for (int j = 0; j < e->kw; j++)
                koff[(ci * e->kh + i) * e->kw + j] = (ci * nin + i * ew->dil_h) * Wp + j * ew->dil_w;
    fc_epilogue ep = {.bias = e->bias, .act = e->act};
    for (int r = r0; r < r1; r++)
        cb->conv_taps(b->W, b->ce, e->K, band + (ptrdiff_t)(r - r0) * ew->sh * Wp, koff, ew->sw, b->cb->cb_expand,
                      dst + (ptrdiff_t)(r - r0) * b->W * FC_CB, egs, &ep);
}

/* block_rows on the channel-blocked path: the expansion writes channel-blocked rows straight from
 * the NCHW input (no packing), the depthwise kernel reads and writes channel-blocked rows (no
 * transposes), the projection reads those, adds the residual (brought into the layout per band)
 * and its rows go back to NCHW. The same operations per element as block_rows, so the same bits. */
static void block_rows_cb(const block *b, const fc_kernels *k, const float *x, const float *res,
                          float *y, int y0, int y1, float *scratch, float *lanes) {
    // x: (cin, H0, W0); res, y: (cout, OH, OW); scratch: expanded, dw rows, output and residual rows
    const block_convs *c = b->cb;
    const fc_cb_kernels *cb = k->cb;
    float *taps_band = scratch, *expanded = scratch + b->floats.expand_b, *dw_rows = expanded + b->floats.expanded;
    float *out_cb = dw_rows + b->floats.dw_rows, *res_cb = out_cb + b->floats.project_b / 2;
    const fc_window *w = &b->dw_win;
    ptrdiff_t plane = (ptrdiff_t)b->H * b->W, egs = (ptrdiff_t)b->in_rows * b->W * FC_CB;
    ptrdiff_t ogs = (ptrdiff_t)b->band_rows * b->OW * FC_CB;
    int e0 = 0, e1 = 0; /* image rows [e0, e1) of the depthwise input are in expanded's rows [0, e1 - e0) */
    for (int o0 = y0; o0 < y1; o0 += b->band_rows) {
        int o1 = o0 + b->band_rows < y1 ? o0 + b->band_rows : y1;
        int top, lo, hi;
        band_input(b, o0, o1, &top, &lo, &hi);
        if (lo < e0 || lo >= e1) e1 = lo; /* nothing shared with the last band */
        else if (lo > e0)
            for (size_t g = 0; g < groups_of(b->ce); g++)
                memmove(expanded + g * egs, expanded + g * egs + (ptrdiff_t)(lo - e0) * b->W * FC_CB,
                        (size_t)(e1 - lo) * b->W * FC_CB * sizeof(float));
        e0 = lo;
        if (hi > e1) {
            float *dst = expanded + (ptrdiff_t)(e1 - e0) * b->W * FC_CB;
            int n = (hi - e1) * b->W;
            if (b->expand_im2col) {
                expand_taps_cb(b, cb, x, e1, hi, taps_band, (int *)(void *)(taps_band + round16(taps_band_floats(b))),
                               dst, egs);
            } else if (b->expansion) {
                fc_epilogue ep = {.bias = b->expansion->bias, .act = b->expansion->act};
                if (c->in_cb) /* an unpadded 1x1: expanded rows are input rows */
                    cb->conv1x1(n, b->ce, b->cin, x + (ptrdiff_t)e1 * b->W * FC_CB, plane * FC_CB, 1, c->cb_expand, dst,
                                egs, &ep);
                else
                    cb->conv1x1(n, b->ce, b->cin, x + (ptrdiff_t)e1 * b->W, plane, 0, c->cb_expand, dst, egs, &ep);
            } else {
                cb->to_cb(b->ce, n, x + (ptrdiff_t)e1 * b->W, plane, dst, egs);
            }
            e1 = hi;
        }
        int rows = o1 - o0, ncol = rows * b->OW;
        cb->dwconv(&(fc_conv2d_geom){hi - lo, b->W, w->kh, w->kw, w->sh, w->sw, lo - top, w->pl, w->dil_h,
                                     w->dil_w, rows, b->OW},
                   (int)groups_of(b->ce), expanded, egs, c->cb_dw_w, c->cb_dw_bias, &b->depthwise->act,
                   dw_rows, ogs);
        ptrdiff_t oplane = (ptrdiff_t)b->OH * b->OW;
        if (!b->projection) { /* the depthwise rows are the output (and a pooled block's sums) */
            cb->from_cb(b->ce, ncol, dw_rows, ogs, y + (ptrdiff_t)o0 * b->OW, oplane);
            for (int ch = 0; lanes && ch < b->ce; ch++)
                fc_plane_lanes_add(lanes + (size_t)ch * 16, y + (ptrdiff_t)ch * oplane, (int64_t)o0 * b->OW,
                                   (int64_t)o1 * b->OW);
            continue;
        }
        /* the projection writes a channel-blocked output in place when its residual, if any, lies
         * there too (the residual is read like the output); else rows in out_cb, then copied */
        ptrdiff_t at_cb = (ptrdiff_t)o0 * b->OW * FC_CB, tgs = oplane * FC_CB; /* band rows in a blocked tensor */
        int in_place = c->out_cb && !c->res_expanded && (!res || c->res_cb);
        const float *res_rows = in_place && res ? res + at_cb : res_cb;
        if (c->res_expanded) /* output rows [o0, o1) are depthwise input rows [o0, o1) (stride 1, same size) */
            copy_groups(groups_of(b->cout), ncol, expanded + (ptrdiff_t)(o0 - e0) * b->W * FC_CB, egs, res_cb, ogs);
        else if (res && c->res_cb && !in_place)
            copy_groups(groups_of(b->cout), ncol, res + at_cb, tgs, res_cb, ogs);
        else if (res && !c->res_cb)
            cb->to_cb(b->cout, ncol, res + (ptrdiff_t)o0 * b->OW, oplane, res_cb, ogs);
        fc_epilogue ep = {.bias = b->projection->bias, .act = b->projection->act,
                          .residual = res || c->res_expanded ? res_rows : NULL};
        cb->conv1x1(ncol, b->cout, b->ce, dw_rows, ogs, 1, c->cb_project, in_place ? y + at_cb : out_cb,
                    in_place ? tgs : ogs, &ep);
        if (c->out_cb && !in_place) copy_groups(groups_of(b->cout), ncol, out_cb, ogs, y + at_cb, tgs);
        else if (!c->out_cb) cb->from_cb(b->cout, ncol, out_cb, ogs, y + (ptrdiff_t)o0 * b->OW, oplane);
    }
}

/* Every block on the channel-blocked path (cb_takes: per image, whatever the plane); otherwise large
 * enough depthwise input planes te (where the expanded tensor lives: a stride-2 block from 14x14
 * into 7x7 keeps it in L2 too, 6-12% faster than unfused on MobileNetV2/V3 and EfficientNet-B0),
 * and an expansion that is not a Winograd convolution (those run whole). */
static int banded(const block_convs *c, const fc_tensor *x, const fc_tensor *te) {
    fc_window ew;
    if (!c->expansion || fc_conv_window(c->expansion, x, &ew, NULL) == 0)
        if (cb_takes(c, c->expansion ? &ew : NULL)) return 1;
    /* the NCHW bands keep no whole rows of the expansion for the residual */
    return te->dims[2] * te->dims[3] >= BAND_MIN_P && !(c->expansion && c->expansion->wino) && !c->res_expanded;
}

/* Shapes of the expansion output (te, = x without one) and the depthwise output (td), and the
 * scratch each of the Convs needs run on its own. */
static int chain_shapes(const block_convs *c, const fc_tensor *x, fc_tensor *te, fc_tensor *td,
                        size_t work[2], int threads, fc_error *err) {
    *te = *x;
    work[0] = work[1] = 0;
    int rc = c->expansion ? fc_conv_infer(c->expansion, x, te, &work[0], threads, err) : 0;
    if (!rc) rc = fc_conv_infer(c->depthwise, te, td, &work[1], threads, err);
    return rc;
}

static size_t bytes64(const fc_tensor *t) { return (fc_tensor_bytes(t) + 63) / 64 * 64; }

/* in[0] is the block input (N, Cin, H, W); the residual, if any, is in[fc_fused_residual(n)]. */
static int block_infer(const fc_node *n, const fc_tensor *in, fc_tensor *out, size_t *work,
                       int threads, fc_error *err) {
    const block_convs *c = n->state;
    fc_tensor te, td;
    size_t w[3] = {0};
    int rc = chain_shapes(c, &in[0], &te, &td, w, threads, err);
    if (!rc && c->projection) rc = fc_conv_infer(c->projection, &td, out, &w[2], threads, err);
    else if (!rc) *out = td;
    if (rc) return rc;
    for (int i = 0; c->res_expanded && i < 4; i++)
        if (out->dims[i] != te.dims[i])
            return fc_op_fail(n, FC_ESHAPE, err, "fused residual Add: the expansion's output has another shape "
                              "than the block's");
    if (c->pooled) { /* (N, C, 1, 1), as GlobalAveragePool */
        out[1] = out[0];
        out[1].dims[2] = out[1].dims[3] = 1;
    }
    int band = banded(c, &in[0], &te);
    block b;
    if (band && (rc = block_setup(&b, c, &in[0], &te, out, c->depthwise->k, err))) return rc;
    if ((c->in_cb || c->res_cb || c->out_cb) && !(band && b.cb)) /* fc_dw_blocks_chain chains none such */
        return fc_op_fail(n, FC_EINTERNAL, err, "internal error: a block with channel-blocked tensors off the "
                          "channel-blocked path");
    if (band) {
        *work = thread_floats(&b) * sizeof(float) * (size_t)threads;
    } else {
        size_t most = w[0] > w[1] ? w[0] : w[1];
        most = most > w[2] ? most : w[2];
        *work = (c->expansion ? bytes64(&te) : 0) + (c->projection ? bytes64(&td) : 0) + most;
    }
    return 0;
}

/* Small depthwise input planes: expansion, depthwise and projection one after the other, the
 * intermediates (shapes te and td from chain_shapes) in scratch, laid out as block_infer sized it. */
static void run_unfused(const block_convs *c, const fc_tensor *x, fc_tensor te, fc_tensor td,
                        const float *res, fc_tensor *out, const fc_run_ctx *ctx) {
    char *at = (char *)ctx->work;
    if (c->expansion) te.data = at, at += bytes64(&te);
    if (c->projection) td.data = at, at += bytes64(&td);
    else td = *out;
    fc_run_ctx cx = *ctx;
    cx.work = (float *)at;
    if (c->expansion) fc_conv_run(c->expansion, x, NULL, &te, &cx);
    fc_conv_run(c->depthwise, &te, NULL, &td, &cx);
    if (c->projection) fc_conv_run(c->projection, &td, c->res_expanded ? te.data : res, out, &cx);
}

static int block_run(const fc_node *n, const fc_tensor *in, fc_tensor *out, const fc_run_ctx *ctx,
                     fc_error *err) {
    const block_convs *c = n->state;
    int r = fc_fused_residual(n);
    const float *x = in[0].data, *res = r >= 0 ? in[r].data : NULL;
    int64_t planes = out->dims[0] * out->dims[1], P = out->dims[2] * out->dims[3];
    fc_tensor te, td;
    size_t w[2];
    block b;
    int rc = chain_shapes(c, &in[0], &te, &td, w, ctx->threads, err);
    if (rc) return rc;
    if (!banded(c, &in[0], &te)) {
        run_unfused(c, &in[0], te, td, res, out, ctx);
        if (c->pooled) fc_plane_means(out[0].data, planes, P, out[1].data, ctx->threads);
        return 0;
    }
    if ((rc = block_setup(&b, c, &in[0], &te, out, ctx->k, err))) return rc;
    int64_t N = in[0].dims[0];
    /* fewer images than threads (batch 1): each image's rows are split between threads */
    int split = N >= ctx->threads ? 1 : (int)((ctx->threads + N - 1) / N);
    if (split > b.OH) split = b.OH;
    float *y = out->data, *pooled = c->pooled ? out[1].data : NULL;
    /* floats per image of the input, the output and the residual, in their layouts */
    size_t xs = (c->in_cb ? groups_of(b.cin) * FC_CB : (size_t)b.cin) * b.H0 * b.W0;
    size_t ys = (c->out_cb ? groups_of(b.cout) * FC_CB : (size_t)b.cout) * b.OH * b.OW;
    size_t rs = (c->res_cb ? groups_of(b.cout) * FC_CB : (size_t)b.cout) * b.OH * b.OW;
    int band_pool = pooled && split == 1; /* an image's bands on one thread: their sums in order */
#pragma omp parallel for num_threads(ctx->threads) schedule(dynamic, 1)
    for (int64_t t = 0; t < N * split; t++) {
        int64_t img = t / split;
        int part = (int)(t % split);
        float *scratch = ctx->work + thread_floats(&b) * (size_t)omp_get_thread_num();
        float *lanes = band_pool ? scratch + band_floats(&b) : NULL;
        if (lanes) memset(lanes, 0, (size_t)b.ce * 16 * sizeof *lanes);
        if (b.cb)
            block_rows_cb(&b, b.depthwise->k, x + img * xs, res ? res + img * rs : NULL, y + img * ys,
                          b.OH * part / split, b.OH * (part + 1) / split, scratch, lanes);
        else
            block_rows(&b, ctx->k, x + img * xs, res ? res + img * rs : NULL, y + img * ys,
                       b.OH * part / split, b.OH * (part + 1) / split, scratch, lanes);
        for (int ch = 0; lanes && ch < b.ce; ch++)
            pooled[img * b.ce + ch] = P ? fc_plane_lanes_total(lanes + (size_t)ch * 16) / (float)P : 0.f;
    }
    if (pooled && !band_pool) /* an image's rows split between threads */
        fc_plane_means(y, planes, P, pooled, ctx->threads);
    return 0;
}

static double block_flops(const fc_node *n, const fc_tensor *in, const fc_tensor *out) {
    const block_convs *c = n->state;
    const fc_conv *ds = c->depthwise;
    double N = (double)in[0].dims[0], pout = (double)out->dims[2] * out->dims[3], ce = ds->cout;
    double f = 2.0 * N * pout * ce * ((c->projection ? c->projection->cout : 0) + ds->kh * ds->kw);
    fc_window ew;
    if (c->expansion && fc_conv_window(c->expansion, &in[0], &ew, NULL) == 0)
        f += 2.0 * N * ew.oh * ew.ow * ce * c->expansion->K;
    return f;
}

/* W^T of a prepared one-group Conv as its table's channel-blocked kernels take it. */
static float *cb_weights(const fc_conv *c) {
    float *pb = fc_conv_alloc64(fc_kernels_packed_b_floats(c->k, c->K, c->cout));
    if (pb) c->k->cb->pack_w(c->cout, c->K, c->packed, pb);
    return pb;
}

static int cb_plain(const fc_conv *c, const fc_kernels *k) {
    return c && c->k == k && c->group == 1 && !c->wino && !c->pre_s;
}

static int cb_plain_1x1(const fc_conv *c, const fc_kernels *k) {
    return cb_plain(c, k) && c->kh == 1 && c->kw == 1 && c->sh == 1 && c->sw == 1;
}

/* The channel-blocked path's weights when the block can take it (see block_convs); else nothing. */
static int cb_prepare(block_convs *c, fc_error *err) {
    const fc_conv *d = c->depthwise;
    const fc_kernels *k = d->k;
    if (!k->cb || (c->projection && !cb_plain_1x1(c->projection, k)) ||
        (c->expansion && !cb_plain(c->expansion, k)))
        return 0;
    int taps = d->kh * d->kw;
    size_t groups = groups_of(d->cout);
    c->cb_dw_w = fc_conv_alloc64(groups * taps * FC_CB);
    c->cb_dw_bias = fc_conv_alloc64(groups * FC_CB);
    if (c->projection) c->cb_project = cb_weights(c->projection);
    if (c->expansion) c->cb_expand = cb_weights(c->expansion);
    if (!c->cb_dw_w || !c->cb_dw_bias || (c->projection && !c->cb_project) || (c->expansion && !c->cb_expand))
        return fc_fail(err, FC_ENOMEM, "out of memory");
    for (size_t ch = 0; ch < groups * FC_CB; ch++) {
        int in = ch < (size_t)d->cout;
        c->cb_dw_bias[ch] = in ? d->bias[ch] : 0.0f;
        for (int t = 0; t < taps; t++)
            c->cb_dw_w[(ch / FC_CB * taps + t) * FC_CB + ch % FC_CB] = in ? d->dw_weights[ch * taps + t] : 0.0f;
    }
    return 0;
}

/* The block node's own Conv (the projection, or the depthwise), then the dead nodes it took over
 * (fc_fusion.depthwise, expand); their states live here, not in those nodes. */
static int block_prepare(fc_graph *g, fc_node *n, const fc_kernels *k, fc_error *err) {
    const fc_fusion *f = n->fusion;
    block_convs *c = calloc(1, sizeof *c);
    if (!c) return fc_fail(err, FC_ENOMEM, "out of memory");
    n->state = c;
    c->pooled = f->pooled;
    c->res_expanded = f->residual_expanded;
    int rc = fc_conv_prepare(g, n, k, f->depthwise >= 0 ? &c->projection : &c->depthwise, err);
    if (!rc && f->depthwise >= 0) rc = fc_conv_prepare(g, &g->nodes[f->depthwise], k, &c->depthwise, err);
    if (!rc && f->expand >= 0) rc = fc_conv_prepare(g, &g->nodes[f->expand], k, &c->expansion, err);
    if (!rc) rc = cb_prepare(c, err);
    return rc;
}

/* fc_conv_direct at every input size: a 1x1 at stride 1 whose padding is none (explicit pads are
 * fixed, and SAME pads a 1x1 at stride 1 with nothing, so any size, here 64x64, tells). */
static int direct_always(const fc_conv *e) {
    fc_window w;
    return e->kh == 1 && e->kw == 1 && fc_window_infer(e->node, 64, 64, 1, 1, 0, &w, NULL) == 0 &&
           fc_conv_direct(e, &w);
}

/* The block takes the channel-blocked path (cb_takes) whatever its input's size. */
static int cb_always(const block_convs *c) {
    const fc_conv *e = c->expansion;
    return c->cb_dw_w && (!e || direct_always(e) || (e->sw <= 2 && c->depthwise->k->cb->conv_taps));
}

/* The block can read its input in[0] channel-blocked: its expansion reads it pixel by pixel. */
static int cb_reads_input(const block_convs *c) {
    return c->expansion && direct_always(c->expansion) && cb_always(c);
}

/* Value v may be stored channel-blocked: no requested output, and every live reader is a block that
 * takes it as its input (cb_reads_input) or as its residual. */
static int blockable(const fc_graph *g, int v) {
    for (int i = 0; i < g->n_outputs; i++)
        if (g->outputs[i] == v) return 0;
    for (int i = 0; i < g->n_order; i++) {
        const fc_node *u = &g->nodes[g->order[i]];
        for (int j = 0; j < u->n_in; j++) {
            if (u->in[j] != v) continue;
            const block_convs *uc = u->op == &fc_op_dw_block ? u->state : NULL;
            if (!uc || !cb_always(uc) || !((j == 0 && cb_reads_input(uc)) || (j == fc_fused_residual(u) && uc->projection)))
                return 0;
        }
    }
    return 1;
}

void fc_dw_blocks_chain(fc_graph *g) {
    for (int i = 0; i < g->n_order; i++) {
        fc_node *b = &g->nodes[g->order[i]];
        block_convs *c = b->op == &fc_op_dw_block ? b->state : NULL;
        if (!c || !c->projection || b->n_out != 1 || !cb_always(c) || !blockable(g, b->out[0])) continue;
        c->out_cb = 1;
        for (int k = 0; k < g->n_order; k++) { /* its readers (blocks, by blockable) */
            fc_node *u = &g->nodes[g->order[k]];
            block_convs *uc = u->op == &fc_op_dw_block ? u->state : NULL;
            for (int j = 0; uc && j < u->n_in; j++)
                if (u->in[j] == b->out[0]) {
                    if (j == 0) uc->in_cb = 1;
                    else uc->res_cb = 1;
                }
        }
    }
}

static int blocked_output(const fc_node *n) { return ((const block_convs *)n->state)->out_cb; }

static void block_free(void *state) {
    block_convs *c = state;
    if (!c) return;
    fc_conv_free(c->expansion);
    fc_conv_free(c->depthwise);
    fc_conv_free(c->projection);
    free(c->cb_expand);
    free(c->cb_project);
    free(c->cb_dw_w);
    free(c->cb_dw_bias);
    free(c);
}

const fc_op_def fc_op_dw_block = {.name = "FcDepthwiseBlock", .prepare = block_prepare,
                                  .infer = block_infer, .run = block_run, .free_state = block_free,
                                  .flops = block_flops, .blocked_output = blocked_output};
