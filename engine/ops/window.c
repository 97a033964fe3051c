/* Window geometry for Conv/MaxPool/AveragePool (see window.h). */
#include "engine/ops/window.h"

#include <string.h>

#include "engine/ops/ops.h"

static int out_size(int64_t in, int k, int s, int d, int p0, int p1, int ceil_mode) {
    int64_t ext = (int64_t)(k - 1) * d + 1, span = in + p0 + p1 - ext;
    if (span < 0) return -1;
    int64_t o = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
    if (ceil_mode && (o - 1) * s >= in + p0) o--; /* last window must start inside input or left pad */
    return (int)o;
}

int fc_window_infer(const fc_node *n, int64_t H, int64_t W, int kh, int kw, int allow_ceil,
                    fc_window *w, fc_error *err) {
    memset(w, 0, sizeof *w);
    int64_t v[8];
    w->kh = kh;
    w->kw = kw;
    w->sh = w->sw = w->dil_h = w->dil_w = 1;
    int k = fc_attr_ints(n, "strides", v, 8);
    if (k) {
        if (k != 2) return fc_op_fail(n, FC_EUNSUPPORTED, err, "only 2-D windows are supported");
        w->sh = (int)v[0];
        w->sw = (int)v[1];
    }
    k = fc_attr_ints(n, "dilations", v, 8);
    if (k) {
        if (k != 2) return fc_op_fail(n, FC_EUNSUPPORTED, err, "only 2-D windows are supported");
        w->dil_h = (int)v[0];
        w->dil_w = (int)v[1];
    }
    if (w->sh < 1 || w->sw < 1 || w->dil_h < 1 || w->dil_w < 1 || w->sh > 4096 || w->sw > 4096 ||
        w->dil_h > 4096 || w->dil_w > 4096 || kh < 1 || kw < 1 || kh > 4096 || kw > 4096)
        return fc_op_fail(n, FC_EFORMAT, err, "invalid kernel, strides or dilations");
    const char *ap = fc_attr_string(n, "auto_pad", "NOTSET");
    int ceil_mode = allow_ceil ? (int)fc_attr_int(n, "ceil_mode", 0) : 0;
    if (!strcmp(ap, "SAME_UPPER") || !strcmp(ap, "SAME_LOWER")) {
        int64_t oh = (H + w->sh - 1) / w->sh, ow = (W + w->sw - 1) / w->sw;
        int64_t th = (oh - 1) * w->sh + (int64_t)(kh - 1) * w->dil_h + 1 - H;
        int64_t tw = (ow - 1) * w->sw + (int64_t)(kw - 1) * w->dil_w + 1 - W;
        if (th < 0) th = 0;
        if (tw < 0) tw = 0;
        int upper = !strcmp(ap, "SAME_UPPER");
        w->pt = (int)(upper ? th / 2 : th - th / 2);
        w->pb = (int)(th - w->pt);
        w->pl = (int)(upper ? tw / 2 : tw - tw / 2);
        w->pr = (int)(tw - w->pl);
    } else if (!strcmp(ap, "VALID")) {
        /* no padding */
    } else if (!strcmp(ap, "NOTSET")) {
        k = fc_attr_ints(n, "pads", v, 8);
        if (k) {
            if (k != 4) return fc_op_fail(n, FC_EUNSUPPORTED, err, "only 2-D pads are supported");
            for (int i = 0; i < 4; i++)
                if (v[i] < 0 || v[i] > 65536) return fc_op_fail(n, FC_EFORMAT, err, "invalid pads");
            w->pt = (int)v[0]; w->pl = (int)v[1]; w->pb = (int)v[2]; w->pr = (int)v[3];
        }
    } else {
        return fc_op_fail(n, FC_EFORMAT, err, "unknown auto_pad '%s'", ap);
    }
    w->oh = out_size(H, kh, w->sh, w->dil_h, w->pt, w->pb, ceil_mode);
    w->ow = out_size(W, kw, w->sw, w->dil_w, w->pl, w->pr, ceil_mode);
    if (w->oh < 1 || w->ow < 1)
        return fc_op_fail(n, FC_ESHAPE, err, "window %dx%d does not fit input %lldx%lld", kh, kw,
                          (long long)H, (long long)W);
    return 0;
}
