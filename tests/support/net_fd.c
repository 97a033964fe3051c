/* Finite differences of a trainable net (see net_fd.h). */
#include "tests/support/net_fd.h"

#include <math.h>

double fd_net_loss(fd_ctx *c) {
    fc_error err = {0};
    if (fc_train_net_forward(c->net, c->in, c->N, c->out, &err)) return NAN;
    double s = 0;
    for (size_t i = 0; i < (size_t)c->N * c->D; i++) s += (double)c->out[i] * c->R[i];
    return s;
}

double fd_net_tensor(fd_ctx *c, float *x, const float *grad, size_t n, size_t stride, float h, int *kinks) {
    double d = 0, m = 0, l0 = kinks ? fd_net_loss(c) : 0;
    for (size_t i = 0; i < n; i += stride) m = fmax(m, fabs(grad[i]));
    for (size_t i = 0; i < n; i += stride) {
        float x0 = x[i];
        x[i] = x0 + h;
        double lp = fd_net_loss(c);
        x[i] = x0 - h;
        double lm = fd_net_loss(c);
        x[i] = x0;
        double num = (lp - lm) / (2.0 * h), e = fabs(num - grad[i]);
        if (kinks && fabs((lp - l0) - (l0 - lm)) / h > 1e-2 * m) {
            ++*kinks;
            continue;
        }
        if (!(e <= d)) d = e;
    }
    return d / (m > 1e-6 ? m : 1.0);
}
