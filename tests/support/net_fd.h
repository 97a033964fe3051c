/* Central finite differences of a trainable net (engine/train/net.h) for the tests of its
 * gradients: the loss is sum(out * R) of a forward on fixed inputs, in double. Not here: the
 * analytic gradients (the caller's backward with dout = R). */
#ifndef FC_TEST_NET_FD_H
#define FC_TEST_NET_FD_H

#include <stddef.h>

#include "engine/engine.h"

typedef struct fd_ctx {
    fc_train_net *net;
    float *in, *out; /* (N, input size), (N, D) */
    const float *R;  /* (N, D) */
    int N;
    size_t D;
} fd_ctx;

/* sum(out * R) of a forward of c->in, in double (NaN when the forward fails). */
double fd_net_loss(fd_ctx *c);
/* Central differences (step h) of every stride-th element of x against grad: the largest error
 * relative to the largest |grad| checked. With kinks not NULL, an element whose two one-sided
 * slopes differ by more than 1% of the largest |grad| has a ReLU kink within +-h: it is skipped and
 * counted in *kinks. */
double fd_net_tensor(fd_ctx *c, float *x, const float *grad, size_t n, size_t stride, float h, int *kinks);

#endif
