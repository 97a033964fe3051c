/* Sliding-window geometry shared by Conv and the pooling ops: kernel, strides, dilations, pads
 * (explicit or auto_pad SAME_UPPER/SAME_LOWER/VALID), ceil_mode, and the output size. 2-D only. */
#ifndef FC_WINDOW_H
#define FC_WINDOW_H

#include "engine/graph.h"

typedef struct fc_window {
    int kh, kw;      /* kernel */
    int sh, sw;      /* strides */
    int dil_h, dil_w; /* dilations */
    int pt, pl, pb, pr; /* pads: top, left, bottom, right */
    int oh, ow;      /* output size */
} fc_window;

/* Reads strides/dilations/pads/auto_pad/ceil_mode (ceil only when allow_ceil) of node n for an input
 * of H x W and kernel kh x kw; FC_ESHAPE/FC_EUNSUPPORTED naming the node when invalid. */
int fc_window_infer(const fc_node *n, int64_t H, int64_t W, int kh, int kw, int allow_ceil,
                    fc_window *w, fc_error *err);

#endif
