/* The fine-tuning checkpoint: everything a run needs to continue bitwise as if it had not stopped.
 * Layout (host byte order: a checkpoint stays on the machine that wrote it):
 *   "FCFTCK01" | identity[32] | epoch i32 | n_history i32 | step i64 | n_state u64
 *   | n_history x (epoch i32, steps i32, loss, train_accuracy, val_loss, val_accuracy, lr, seconds,
 *     train_seconds, l2 f64)
 *   | n_state f32 (parameter values and optimizer state, ft_params_save's order)
 *   | SHA-256 of everything before it (a torn or damaged file is refused, never half-loaded). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "classify/finetune_internal.h"

#define MAGIC "FCFTCK01"
#define HEADER_BYTES (8 + 32 + 4 + 4 + 8 + 8)
#define RECORD_BYTES (4 + 4 + 8 * 8)

static unsigned char *put(unsigned char *p, const void *v, size_t n) {
    memcpy(p, v, n);
    return p + n;
}

static const unsigned char *get(const unsigned char *p, void *v, size_t n) {
    memcpy(v, p, n);
    return p + n;
}

int ft_ckpt_write(const char *path, const ft_ckpt *c, fc_error *err) {
    size_t size = HEADER_BYTES + (size_t)c->n_history * RECORD_BYTES + c->n_state * sizeof(float) + 32;
    unsigned char *buf = malloc(size), *p = buf;
    if (!buf) return fc_fail(err, FC_ENOMEM, "%s: out of memory for the checkpoint", path);
    int32_t epoch = c->epoch, nh = c->n_history;
    int64_t step = c->step;
    uint64_t ns = c->n_state;
    p = put(p, MAGIC, 8);
    p = put(p, c->identity, 32);
    p = put(p, &epoch, 4);
    p = put(p, &nh, 4);
    p = put(p, &step, 8);
    p = put(p, &ns, 8);
    for (int i = 0; i < c->n_history; i++) {
        const fc_finetune_epoch *e = &c->history[i];
        int32_t ep = e->epoch, st = e->steps;
        double v[8] = {e->loss, e->train_accuracy, e->val_loss, e->val_accuracy, e->lr, e->seconds, e->train_seconds, e->l2};
        p = put(p, &ep, 4);
        p = put(p, &st, 4);
        p = put(p, v, sizeof v);
    }
    p = put(p, c->state, c->n_state * sizeof(float));
    fc_sha256_digest(buf, (size_t)(p - buf), p);
    int rc = fc_file_write_atomic(path, buf, size, err);
    free(buf);
    return rc;
}

/* Checks and parses buf (size bytes) into c. */
static int parse(const char *path, const unsigned char *buf, size_t size, const uint8_t identity[32],
                 size_t n_state, ft_ckpt *c, fc_error *err) {
    uint8_t sum[32];
    if (size < HEADER_BYTES + 32 || memcmp(buf, MAGIC, 8))
        return fc_fail(err, FC_EFORMAT, "%s: not a featcache fine-tuning checkpoint", path);
    fc_sha256_digest(buf, size - 32, sum);
    if (memcmp(sum, buf + size - 32, 32))
        return fc_fail(err, FC_EFORMAT, "%s: damaged checkpoint (checksum mismatch)", path);
    const unsigned char *p = buf + 8;
    int32_t epoch, nh;
    int64_t step;
    uint64_t ns;
    p = get(p, c->identity, 32);
    p = get(p, &epoch, 4);
    p = get(p, &nh, 4);
    p = get(p, &step, 8);
    p = get(p, &ns, 8);
    if (memcmp(c->identity, identity, 32) || ns != n_state)
        return fc_fail(err, FC_EINVAL, "%s: checkpoint of another run (other data, model or options); "
                                       "run without --resume to start over", path);
    if (nh < 0 || epoch < 0 || HEADER_BYTES + (size_t)nh * RECORD_BYTES + ns * sizeof(float) + 32 != size)
        return fc_fail(err, FC_EFORMAT, "%s: damaged checkpoint (sizes do not add up)", path);
    c->epoch = epoch;
    c->step = (long)step;
    c->n_history = nh;
    c->n_state = (size_t)ns;
    c->history = calloc((size_t)nh + 1, sizeof *c->history);
    c->state = malloc(c->n_state * sizeof(float) + 4);
    if (!c->history || !c->state) return fc_fail(err, FC_ENOMEM, "%s: out of memory", path);
    for (int i = 0; i < nh; i++) {
        fc_finetune_epoch *e = &c->history[i];
        int32_t ep, st;
        double v[8];
        p = get(p, &ep, 4);
        p = get(p, &st, 4);
        p = get(p, v, sizeof v);
        *e = (fc_finetune_epoch){.epoch = ep, .steps = st, .loss = v[0], .train_accuracy = v[1],
                                 .val_loss = v[2], .val_accuracy = v[3], .lr = v[4], .seconds = v[5],
                                 .train_seconds = v[6], .l2 = v[7], .train_cpu_seconds = NAN};
    }
    memcpy(c->state, p, c->n_state * sizeof(float));
    return 1;
}

int ft_ckpt_read(const char *path, const uint8_t identity[32], size_t n_state, ft_ckpt *c,
                 fc_error *err) {
    memset(c, 0, sizeof *c);
    unsigned char *buf = NULL;
    size_t size = 0;
    struct stat st;
    if (stat(path, &st) != 0) return 0; /* no checkpoint yet */
    int rc = fc_file_read(path, (long long)(n_state * sizeof(float)) + (64ll << 20), &buf, &size, err);
    if (!rc) rc = parse(path, buf, size, identity, n_state, c, err);
    free(buf);
    if (rc < 0) ft_ckpt_free(c);
    return rc;
}

void ft_ckpt_free(ft_ckpt *c) {
    free(c->history);
    free(c->state);
    memset(c, 0, sizeof *c);
}
