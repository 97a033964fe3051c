/* Dropout forward and backward with a counter-based mask: element i is kept when the top 32 bits of
 * splitmix64(seed + i * golden ratio) are >= p * 2^32, so the mask is a function of (seed, i) alone:
 * the backward recomputes it (nothing stored) and any split over threads gives the same mask.
 * Kept elements are scaled by 1/(1-p) (inverted dropout, as PyTorch). Reproducibility: exact per
 * element, independent of the thread count. Not here: spatial (channel) dropout. */
#include "engine/train/internal.h"

static inline uint32_t keep_bits(uint64_t seed, size_t i) {
    uint64_t z = seed + (uint64_t)(i + 1) * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return (uint32_t)((z ^ (z >> 31)) >> 32);
}

typedef struct drop_job {
    float *y;
    const float *x;
    uint64_t seed;
    uint32_t threshold; /* keep when keep_bits >= threshold (p * 2^32) */
    float scale;        /* 1 / (1 - p) */
    int copy;           /* p == 0 */
} drop_job;

static void drop_block(void *ctx, size_t i0, size_t len) {
    drop_job *j = ctx;
    for (size_t i = i0; i < i0 + len; i++)
        j->y[i] = j->copy ? j->x[i] : keep_bits(j->seed, i) >= j->threshold ? j->x[i] * j->scale : 0.0f;
}

/* y = x * keep / (1 - p) over n elements; both directions are this map. */
static int dropout(fc_train_ws *ws, float *y, const float *x, size_t n, float p, uint64_t seed,
                   fc_error *err) {
    int rc;
    if ((rc = fc_train_check_count("dropout", n, err)) || (rc = fc_train_need(y, "dropout", "out", err)) ||
        (rc = fc_train_need(x, "dropout", "inp", err)))
        return rc;
    if (!(p >= 0.0f && p < 1.0f)) return fc_fail(err, FC_EINVAL, "dropout: p %g outside [0, 1)", p);
    drop_job job = {y, x, seed, (uint32_t)((double)p * 4294967296.0), 1.0f / (1.0f - p), p == 0.0f};
    fc_train_for_blocks(ws, n, drop_block, &job);
    return 0;
}

int fc_dropout_forward(fc_train_ws *ws, float *out, const float *inp, size_t n, float p,
                       uint64_t seed, fc_error *err) {
    // inp is (n); out will be (n)
    return dropout(ws, out, inp, n, p, seed, err);
}

int fc_dropout_backward(fc_train_ws *ws, float *dinp, const float *dout, size_t n, float p,
                        uint64_t seed, fc_error *err) {
    // dout is (n); dinp will be (n)
    return dropout(ws, dinp, dout, n, p, seed, err);
}
