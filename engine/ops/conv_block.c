/* Depthwise blocks: a 1x1 projection Conv that also computes its depthwise producer and that one's
 * producer, the expansion (MobileNet's inverted residual: x -> 1x1 expand -> depthwise kxk -> project
 * [+ x]; or the stem convolution before the first depthwise), band by band. A depthwise Conv whose
 * output has other uses (EfficientNet's squeeze-and-excitation) takes over only its expansion: the
 * same bands without the projection. Per image, a band of R output rows needs a few rows of the expanded tensor: they are
 * computed into a small buffer (rows shared with the previous band are kept), the depthwise kernel
 * turns them into R rows of its output, and the projection GEMM writes R rows of the block's output.
 * The expanded tensor (up to 6x the block's channels) never exists whole, so it stays in L2 instead
 * of going to memory and back twice. The same GEMM and depthwise kernels as the separate Convs run on
 * the same operands, and both compute an element independently of the rest of the call, so the
 * result is bitwise the unfused one (tests/engine/test_conv_block.c). Small planes (7x7) gain nothing from
 * bands and would fill fewer GEMM panels than the whole-batch path (whose columns span images), so
 * there the three Convs run one after the other on scratch. The two constants below were tuned on
 * MobileNetV2 (bench --profile). Not here: finding blocks (graph_opt.c), the kernels, plain Convs. */
#include <omp.h>
#include <string.h>

#include "engine/ops/conv_state.h"
#include "engine/ops/window.h"

#define BAND_MIN_P 196        /* output planes of fewer pixels (7x7) run unfused */
#define BAND_BYTES (1024 << 10) /* per-thread band buffers: about one L2 (they are not all hot at once) */

/* The nodes of block node n: a projection with pre_dw, or a depthwise with only pre_expand. */
static void chain_nodes(const fc_node *n, const fc_node **e, const fc_node **d, const fc_node **p) {
    const conv_state *s = n->state;
    *e = s->pre_expand;
    *d = s->pre_dw ? s->pre_dw : n;
    *p = s->pre_dw ? n : NULL;
}

/* Everything a banded run needs besides the tensors. */
typedef struct block {
    const fc_node *e, *d, *p;    /* expansion (or NULL), depthwise, projection (or NULL) */
    const conv_state *es, *ds, *ps;
    fc_window ew, w;             /* the expansion's and the depthwise's windows */
    int dense;                   /* the expansion is not 1x1 stride 1 unpadded: im2col (fc_conv_rows) */
    int cin, H0, W0;             /* block input (cin, H0, W0) */
    int ce, cout, H, W, OH, OW;  /* depthwise input (ce, H, W), output (cout, OH, OW); cout = ce
                                    without a projection */
    int R, rin;                  /* output rows per band; expanded rows a band reads (buffer rows) */
    size_t pbe, eb, db, pbp;     /* per-thread scratch parts in floats: packed B of the expansion,
                                    expanded rows (ce, rin, W), depthwise rows (ce, R, OW), packed B
                                    of the projection */
} block;

static size_t round16(size_t f) { return (f + 15) / 16 * 16; }

static int gcd(int a, int b) { return b ? gcd(b, a % b) : a; }

static void band_parts(block *b, const fc_kernels *k) {
    b->rin = (b->R - 1) * b->w.sh + (b->w.kh - 1) * b->w.dh + 1;
    b->pbe = b->dense ? round16(fc_conv_rows_floats(b->e, &b->ew))
             : b->e   ? round16(fc_kernels_packed_b_floats(k, b->cin, b->rin * b->W))
                      : 0;
    b->eb = b->e ? round16((size_t)b->ce * b->rin * b->W) : 0;
    b->db = b->p ? round16((size_t)b->ce * b->R * b->OW) : 0;
    b->pbp = b->p ? round16(fc_kernels_packed_b_floats(k, b->ce, b->R * b->OW)) : 0;
}

static size_t band_floats(const block *b) { return b->pbe + b->eb + b->db + b->pbp; }

/* The block of node n (see chain_nodes) for input x (N, Cin, H0, W0), depthwise input te
 * (N, Ce, H, W) and output y (N, Cout, OH, OW); R is the most rows whose buffers fit BAND_BYTES (at
 * least 1). */
static int block_setup(block *b, const fc_node *n, const fc_tensor *x, const fc_tensor *te,
                       const fc_tensor *y, const fc_kernels *k, fc_error *err) {
    memset(b, 0, sizeof *b);
    chain_nodes(n, &b->e, &b->d, &b->p);
    b->ps = b->p ? b->p->state : NULL;
    b->ds = b->d->state;
    b->es = b->e ? b->e->state : NULL;
    b->cin = (int)x->dims[1], b->H0 = (int)x->dims[2], b->W0 = (int)x->dims[3];
    b->H = (int)te->dims[2], b->W = (int)te->dims[3];
    b->ce = b->ds->cout, b->cout = b->p ? b->ps->cout : b->ce, b->OH = (int)y->dims[2], b->OW = (int)y->dims[3];
    int rc = fc_window_infer(b->d, b->H, b->W, b->ds->kh, b->ds->kw, 0, &b->w, err);
    if (!rc && b->e) rc = fc_window_infer(b->e, b->H0, b->W0, b->es->kh, b->es->kw, 0, &b->ew, err);
    if (rc) return rc;
    const fc_window *ew = &b->ew;
    b->dense = b->e && !(b->es->kh == 1 && b->es->kw == 1 && ew->sh == 1 && ew->sw == 1 &&
                         ew->pt == 0 && ew->pl == 0 && ew->pb == 0 && ew->pr == 0);
    b->R = 1;
    while (b->R < b->OH) {
        b->R++;
        band_parts(b, k);
        if (band_floats(b) * sizeof(float) > BAND_BYTES) {
            b->R--;
            break;
        }
    }
    /* whole nr-column GEMM panels (partial ones go through a copy) where the budget allows:
     * R * OW a multiple of nr */
    int step = k->nr / gcd(k->nr, b->OW);
    if (b->R < b->OH && b->R >= step) b->R -= b->R % step;
    band_parts(b, k);
    return 0;
}

/* Rows [r0, r1) of the expansion of image x into rows [r0 - e0, r1 - e0) of the buffer eb. */
static void expand_rows(const block *b, const fc_kernels *k, const float *x, int r0, int r1, int e0,
                        float *pbe, float *eb) {
    // x: (cin, H0, W0); eb: (ce, rin, W)
    if (b->dense) {
        fc_conv_rows(b->e, &b->ew, x, b->H0, b->W0, r0, r1, pbe, eb + (ptrdiff_t)(r0 - e0) * b->W,
                     (ptrdiff_t)b->rin * b->W);
        return;
    }
    int n = (r1 - r0) * b->W;
    k->pack_b(b->cin, n, x + (ptrdiff_t)r0 * b->W, (ptrdiff_t)b->H * b->W, 1, pbe);
    fc_epilogue ep = {.bias = b->es->bias, .act = b->e->act};
    k->sgemm_packed(b->ce, n, b->cin, b->es->packed, pbe, eb + (ptrdiff_t)(r0 - e0) * b->W,
                    (ptrdiff_t)b->rin * b->W, 1, &ep);
}

/* Output rows [y0, y1) of one image, band by band. */
static void block_rows(const block *b, const fc_kernels *k, const float *x, const float *res,
                       float *y, int y0, int y1, float *scratch) {
    // x: (cin, H0, W0); res, y: (cout, OH, OW)
    float *pbe = scratch, *eb = pbe + b->pbe, *db = eb + b->eb, *pbp = db + b->db;
    const fc_window *w = &b->w;
    ptrdiff_t plane = (ptrdiff_t)b->rin * b->W;
    int e0 = 0, e1 = 0; /* image rows [e0, e1) of the expansion are in eb's rows [0, e1 - e0) */
    for (int o0 = y0; o0 < y1; o0 += b->R) {
        int o1 = o0 + b->R < y1 ? o0 + b->R : y1;
        /* the depthwise rows read image rows [top, ...); those in [lo, hi) exist, the rest is padding */
        int top = o0 * w->sh - w->pt, lo = top > 0 ? top : 0;
        int hi = (o1 - 1) * w->sh - w->pt + (w->kh - 1) * w->dh + 1;
        if (hi > b->H) hi = b->H;
        if (hi < lo) hi = lo;
        const float *src = x + (ptrdiff_t)lo * b->W;
        ptrdiff_t ics = (ptrdiff_t)b->H * b->W;
        if (b->e) {
            if (lo < e0 || lo >= e1) e1 = lo; /* nothing shared with the last band */
            else if (lo > e0)
                for (int c = 0; c < b->ce; c++)
                    memmove(eb + c * plane, eb + c * plane + (ptrdiff_t)(lo - e0) * b->W,
                            (size_t)(e1 - lo) * b->W * sizeof(float));
            e0 = lo;
            if (hi > e1) expand_rows(b, k, x, e1, hi, e0, pbe, eb);
            e1 = hi > e1 ? hi : e1;
            src = eb, ics = plane;
        }
        int rows = o1 - o0, ncol = rows * b->OW;
        /* without a projection the depthwise rows are the output */
        float *dst = b->p ? db : y + (ptrdiff_t)o0 * b->OW;
        ptrdiff_t ocs = b->p ? ncol : (ptrdiff_t)b->OH * b->OW;
        k->dwconv_channels(&(fc_conv2d_geom){hi - lo, b->W, w->kh, w->kw, w->sh, w->sw, lo - top,
                                             w->pl, w->dh, w->dw, rows, b->OW},
                           b->ce, src, ics, b->ds->dw, b->ds->bias, &b->d->act, dst, ocs, 0);
        if (!b->p) continue;
        k->pack_b(b->ce, ncol, db, ncol, 1, pbp);
        fc_epilogue ep = {.bias = b->ps->bias, .act = b->p->act,
                          .residual = res ? res + (ptrdiff_t)o0 * b->OW : NULL};
        k->sgemm_packed(b->cout, ncol, b->ce, b->ps->packed, pbp, y + (ptrdiff_t)o0 * b->OW,
                        (ptrdiff_t)b->OH * b->OW, 1, &ep);
    }
}

/* Large enough planes, and an expansion that is not a Winograd convolution (those run whole). */
static int banded(const fc_node *n, const fc_tensor *y) {
    const fc_node *e = ((const conv_state *)n->state)->pre_expand;
    return y->dims[2] * y->dims[3] >= BAND_MIN_P && !(e && ((const conv_state *)e->state)->wino);
}

/* Shapes of the expansion output (te, = in[0] without one) and the depthwise output (td), and the
 * scratch each of the Convs needs run on its own. */
static int chain_shapes(const fc_node *n, const fc_tensor *in, fc_tensor *te, fc_tensor *td,
                        size_t work[2], int threads, fc_error *err) {
    const fc_node *e, *d, *p;
    chain_nodes(n, &e, &d, &p);
    *te = in[0];
    work[0] = work[1] = 0;
    int rc = e ? fc_conv_infer_plain(e, in, te, &work[0], threads, err) : 0;
    if (!rc) rc = fc_conv_infer_plain(d, te, td, &work[1], threads, err);
    return rc;
}

static size_t bytes64(const fc_tensor *t) { return (fc_tensor_bytes(t) + 63) / 64 * 64; }

int fc_conv_block_infer(const fc_node *n, const fc_tensor *in, fc_tensor *out, size_t *work,
                        int threads, fc_error *err) {
    const conv_state *ps = n->state;
    fc_tensor te, td;
    size_t w[3] = {0};
    int rc = chain_shapes(n, in, &te, &td, w, threads, err);
    if (!rc && ps->pre_dw) rc = fc_conv_infer_plain(n, &td, out, &w[2], threads, err);
    else if (!rc) *out = td;
    if (rc) return rc;
    if (banded(n, out)) {
        block b;
        if ((rc = block_setup(&b, n, &in[0], &te, out, ps->k, err))) return rc;
        *work = band_floats(&b) * sizeof(float) * (size_t)threads;
    } else {
        size_t most = w[0] > w[1] ? w[0] : w[1];
        most = most > w[2] ? most : w[2];
        *work = (ps->pre_expand ? bytes64(&te) : 0) + (ps->pre_dw ? bytes64(&td) : 0) + most;
    }
    return 0;
}

/* Small planes: expansion, depthwise and projection one after the other, the intermediates in
 * scratch (laid out as fc_conv_block_infer sized it). */
static int run_unfused(const fc_node *n, const fc_tensor *in, fc_tensor *out, const fc_run_ctx *ctx,
                       fc_error *err) {
    const fc_node *e, *d, *p;
    chain_nodes(n, &e, &d, &p);
    fc_tensor te, td, pin[8];
    size_t w[2];
    if (n->n_in + 1 > 8) return fc_op_fail(n, FC_EINTERNAL, err, "too many inputs");
    int rc = chain_shapes(n, in, &te, &td, w, ctx->threads, err);
    if (rc) return rc;
    char *at = (char *)ctx->work;
    if (e) te.data = at, at += bytes64(&te);
    if (p) td.data = at, at += bytes64(&td);
    else td = *out;
    fc_run_ctx c = *ctx;
    c.work = (float *)at;
    if (e && (rc = fc_conv_run_plain(e, in, &te, &c, err))) return rc;
    if ((rc = fc_conv_run_plain(d, &te, &td, &c, err)) || !p) return rc;
    memcpy(pin, in, sizeof(fc_tensor) * (size_t)(n->n_in + 1)); /* inputs and the residual */
    pin[0] = td;
    return fc_conv_run_plain(n, pin, out, &c, err);
}

int fc_conv_block_run(const fc_node *n, const fc_tensor *in, fc_tensor *out, const fc_run_ctx *ctx,
                      fc_error *err) {
    if (!banded(n, out)) return run_unfused(n, in, out, ctx, err);
    fc_tensor te, td;
    size_t w[2];
    block b;
    int rc = chain_shapes(n, in, &te, &td, w, ctx->threads, err);
    if (!rc) rc = block_setup(&b, n, &in[0], &te, out, ctx->k, err);
    if (rc) return rc;
    int64_t N = in[0].dims[0];
    /* fewer images than threads (batch 1): each image's rows are split between threads */
    int split = N >= ctx->threads ? 1 : (int)((ctx->threads + N - 1) / N);
    if (split > b.OH) split = b.OH;
    const float *x = in[0].data, *res = n->residual >= 0 ? in[n->n_in].data : NULL;
    float *y = out->data;
    size_t xs = (size_t)b.cin * b.H0 * b.W0, ys = (size_t)b.cout * b.OH * b.OW;
#pragma omp parallel for num_threads(ctx->threads) schedule(dynamic, 1)
    for (int64_t t = 0; t < N * split; t++) {
        int64_t img = t / split;
        int part = (int)(t % split);
        block_rows(&b, ctx->k, x + img * xs, res ? res + img * ys : NULL, y + img * ys,
                   b.OH * part / split, b.OH * (part + 1) / split,
                   ctx->work + band_floats(&b) * (size_t)omp_get_thread_num());
    }
    return 0;
}

double fc_conv_block_flops(const fc_node *n, const fc_tensor *in, const fc_tensor *out) {
    const fc_node *e, *d, *p;
    chain_nodes(n, &e, &d, &p);
    const conv_state *ds = d->state;
    double N = (double)in[0].dims[0], pout = (double)out->dims[2] * out->dims[3], ce = ds->cout;
    double f = 2.0 * N * pout * ce * ((p ? ((const conv_state *)p->state)->cout : 0) + ds->kh * ds->kw);
    fc_window ew;
    fc_error err;
    if (e && fc_window_infer(e, in[0].dims[2], in[0].dims[3], ((const conv_state *)e->state)->kh,
                             ((const conv_state *)e->state)->kw, 0, &ew, &err) == 0)
        f += 2.0 * N * ew.oh * ew.ow * ce * ((const conv_state *)e->state)->K;
    return f;
}
