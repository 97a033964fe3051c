/* fc_pipeline_run: decode workers fill batch slots, the calling thread runs the network on full
 * slots. Slots cycle through FREE -> FILLING -> READY -> FREE; with three slots one can be filled
 * while another runs. A worker preprocesses into its own buffer and copies into the filling slot
 * under the lock, so a slow image never blocks the others. Feature values do not depend on which
 * batch an item lands in (the engine computes images independently). */
#include "extract/pipeline.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/core.h"
#include "extract/image.h"

#define N_SLOTS 3
#define MAX_FILE_BYTES (1LL << 30)

enum { SLOT_FREE, SLOT_FILLING, SLOT_READY };

typedef struct bad_item {
    size_t item;
    fc_error err;
} bad_item;

typedef struct slot {
    int state;
    int n;            /* items placed */
    float *input;     /* (batch * views, 3, H, W) */
    size_t *items;
} slot;

typedef struct pipe_state {
    const fc_pipeline_options *opt;
    const fc_model *model;  /* opt->model, or the one opt->load_model gave */
    const fc_pipeline_callbacks *cb;
    const char *const *paths;
    size_t n, next;         /* next item to claim */
    size_t workers_left;    /* running workers */
    int abort;              /* set by callbacks, errors or cancel */
    fc_error abort_err;
    pthread_mutex_t mu;
    pthread_cond_t changed; /* any slot state change or item completion */
    slot slots[N_SLOTS];
    int filling;            /* index of the FILLING slot or -1 */
    size_t per_item;        /* floats per item (all views) */
    bad_item *bad;          /* reported by workers, delivered on the main thread */
    size_t n_bad, cap_bad;
} pipe_state;

static int read_file(const char *path, uint8_t **data, size_t *size, fc_error *err) {
    *data = NULL;
    struct stat st;
    FILE *f = fc_file_open_regular(path, &st, err);
    if (!f) return FC_EIO;
    int rc = 0;
    if (st.st_size > MAX_FILE_BYTES) {
        rc = fc_fail(err, FC_ELIMIT, "%s: %lld bytes is too large for an image", path, (long long)st.st_size);
    } else {
        /* read until EOF rather than trusting st_size: the file may change while we read it */
        size_t cap = (size_t)st.st_size + 1, len = 0;
        uint8_t *buf = malloc(cap);
        while (buf) {
            size_t got = fread(buf + len, 1, cap - len, f);
            len += got;
            if (len < cap) break;
            if (cap >= (size_t)MAX_FILE_BYTES) { free(buf); buf = NULL; rc = fc_fail(err, FC_ELIMIT, "%s: too large", path); break; }
            uint8_t *nb = realloc(buf, cap * 2);
            if (!nb) { free(buf); buf = NULL; break; }
            buf = nb;
            cap *= 2;
        }
        if (!buf && !rc) rc = fc_fail(err, FC_ENOMEM, "%s: out of memory", path);
        else if (buf && ferror(f)) { free(buf); rc = fc_fail(err, FC_EIO, "%s: read error: %s", path, strerror(errno)); }
        else if (buf) { *data = buf; *size = len; }
    }
    fclose(f);
    return rc;
}

/* Stops the run with e; only the first reason is kept (later ones follow from the stop). */
static void set_abort(pipe_state *s, const fc_error *e) {
    if (!s->abort) {
        s->abort = 1;
        s->abort_err = *e;
    }
    pthread_cond_broadcast(&s->changed);
}

static int cancelled(const pipe_state *s) { return s->opt->cancel && *s->opt->cancel; }

enum { ITEM_SKIP = 0, ITEM_USE = 1, ITEM_ABORT = 2 };

/* Decodes and preprocesses one item into buf (all views): ITEM_USE, ITEM_SKIP, ITEM_ABORT (on_bytes
 * asked to stop; err set) or a negative code for a bad item (err names the file and reason). */
static int prepare_item(pipe_state *s, size_t item, float *buf, fc_error *err) {
    const fc_pipeline_options *o = s->opt;
    uint8_t *data = NULL;
    size_t size = 0;
    int rc = read_file(s->paths[item], &data, &size, err);
    if (rc) return rc;
    if (s->cb->on_bytes) {
        int want = s->cb->on_bytes(s->cb->user, item, data, size);
        if (want <= 0) {
            free(data);
            if (want == 0) return ITEM_SKIP;
            fc_fail(err, FC_ECANCELLED, "aborted while reading %s", s->paths[item]);
            return ITEM_ABORT;
        }
    }
    fc_image img;
    int hint_w, hint_h;
    fc_preprocess_decode_hint(&o->pre, &hint_w, &hint_h); /* also enough for crops5 boxes */
    rc = fc_image_decode(data, size, s->paths[item], hint_w, hint_h, o->pre.exif, &img, err);
    free(data);
    if (rc) return rc;
    size_t per_view = (size_t)fc_preprocess_channels(&o->pre) * o->pre.width * o->pre.height;
    for (int v = 0; v < o->n_views && rc == 0; v++) {
        fc_preprocess p = o->pre;
        fc_view_apply(o->views[v], &p);
        rc = fc_preprocess_image(&img, &p, buf + v * per_view, err);
        if (rc) fc_error_prefix(err, "%s: ", s->paths[item]);
    }
    fc_image_free(&img);
    return rc ? rc : ITEM_USE;
}

/* The FILLING slot, taking a FREE one if needed; waits while none is free. -1 when aborting. */
static int filling_slot(pipe_state *s) {
    for (;;) {
        if (s->abort) return -1;
        if (s->filling >= 0) return s->filling;
        for (int i = 0; i < N_SLOTS; i++)
            if (s->slots[i].state == SLOT_FREE) {
                s->slots[i].state = SLOT_FILLING;
                s->slots[i].n = 0;
                s->filling = i;
                return i;
            }
        pthread_cond_wait(&s->changed, &s->mu);
    }
}

static void *worker(void *arg) {
    pipe_state *s = arg;
    float *buf = malloc(s->per_item * sizeof(float));
    fc_error err;
    pthread_mutex_lock(&s->mu);
    if (!buf) { fc_fail(&err, FC_ENOMEM, "out of memory"); set_abort(s, &err); }
    while (!s->abort && s->next < s->n) {
        if (cancelled(s)) { fc_fail(&err, FC_ECANCELLED, "cancelled"); set_abort(s, &err); break; }
        size_t item = s->next++;
        pthread_mutex_unlock(&s->mu);
        memset(&err, 0, sizeof err);
        int rc = prepare_item(s, item, buf, &err);
        pthread_mutex_lock(&s->mu);
        if (rc == ITEM_ABORT) { set_abort(s, &err); break; }
        if (rc < 0) {
            if (s->n_bad == s->cap_bad) {
                size_t cap = s->cap_bad ? s->cap_bad * 2 : 64;
                bad_item *nb = realloc(s->bad, cap * sizeof *nb);
                if (!nb) { fc_fail(&err, FC_ENOMEM, "out of memory"); set_abort(s, &err); break; }
                s->bad = nb;
                s->cap_bad = cap;
            }
            s->bad[s->n_bad].item = item;
            s->bad[s->n_bad++].err = err;
            pthread_cond_broadcast(&s->changed);
            continue;
        }
        if (rc == ITEM_SKIP) continue;
        int si = filling_slot(s);
        if (si < 0) break;
        slot *sl = &s->slots[si];
        memcpy(sl->input + (size_t)sl->n * s->per_item, buf, s->per_item * sizeof(float));
        sl->items[sl->n++] = item;
        if (sl->n == s->opt->batch) {
            sl->state = SLOT_READY;
            s->filling = -1;
            pthread_cond_broadcast(&s->changed);
        }
    }
    if (--s->workers_left == 0 && s->filling >= 0) { /* last worker flushes the partial batch */
        s->slots[s->filling].state = s->slots[s->filling].n ? SLOT_READY : SLOT_FREE;
        s->filling = -1;
    }
    pthread_cond_broadcast(&s->changed);
    pthread_mutex_unlock(&s->mu);
    free(buf);
    return NULL;
}

/* Session for batches of `items` items (each item is n_views network rows). */
static fc_session_options session_options(const fc_pipeline_options *o, int items) {
    fc_session_options so = {.batch = items * o->n_views, .height = o->pre.height, .width = o->pre.width,
                             .threads = o->threads, .split_batch = !o->layer_parallel};
    return so;
}

/* Main-thread loop: deliver bad items, run READY slots in claim order, until workers are done or
 * the run is aborted. Nothing is delivered after an abort: a callback that failed must not be
 * called again for a batch that happened to be ready (its error would replace the first one). */
static int consume(pipe_state *s, fc_session *sess, int sess_batch, fc_error *err) {
    const fc_pipeline_options *o = s->opt;
    fc_session *tail = NULL; /* a short last batch runs on a session of its own size, not padded */
    int n_out = fc_model_n_outputs(s->model);
    const fc_tensor *outs[16];
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (s->n_bad > 0 && !s->abort) {
            bad_item b = s->bad[--s->n_bad];
            pthread_mutex_unlock(&s->mu);
            int stop = s->cb->on_bad ? s->cb->on_bad(s->cb->user, b.item, &b.err) : 0;
            pthread_mutex_lock(&s->mu);
            if (stop) { fc_error e; fc_fail(&e, FC_ECANCELLED, "aborted"); set_abort(s, &e); }
        }
        if (s->abort) break;
        int ready = -1;
        for (int i = 0; i < N_SLOTS; i++)
            if (s->slots[i].state == SLOT_READY) { ready = i; break; }
        if (ready < 0) {
            if (s->workers_left == 0 && s->n_bad == 0) break;
            pthread_cond_wait(&s->changed, &s->mu);
            continue;
        }
        slot *sl = &s->slots[ready];
        pthread_mutex_unlock(&s->mu);
        fc_session *run = sess;
        int rc = 0;
        if (sl->n < sess_batch) {
            fc_session_options so = session_options(o, sl->n);
            rc = fc_session_create(s->model, &so, &tail, err);
            run = tail;
        }
        if (rc == 0) rc = fc_session_run(run, sl->input, err);
        int stop = 0;
        if (rc == 0) {
            for (int i = 0; i < n_out && i < 16; i++) outs[i] = fc_session_output(run, i);
            stop = s->cb->on_batch(s->cb->user, sl->items, sl->n, o->n_views, outs, n_out < 16 ? n_out : 16);
        }
        fc_session_free(tail);
        tail = NULL;
        pthread_mutex_lock(&s->mu);
        sl->state = SLOT_FREE;
        pthread_cond_broadcast(&s->changed);
        if (rc) { set_abort(s, err); break; }
        if (stop) { fc_error e; fc_fail(&e, FC_ECANCELLED, "aborted"); set_abort(s, &e); }
    }
    int rc = 0;
    if (s->abort) {
        *err = s->abort_err;
        rc = err->code ? err->code : FC_EINVAL;
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int fc_pipeline_check_model(const fc_model *m, int gray, fc_error *err) {
    const char *path = fc_model_path(m);
    int rank = fc_model_input_rank(m);
    int64_t d[4];
    fc_model_input_dims(m, d);
    if (rank != 0 && rank != 4)
        return fc_fail(err, FC_EINVAL, "%s: input '%s' has rank %d; images go in as (N, C, H, W)", path,
                       fc_model_input_name(m), rank);
    int64_t c = d[1] > 0 ? d[1] : 3;
    if (c == (gray ? 1 : 3)) return 0;
    if (c == 1)
        return fc_fail(err, FC_EINVAL, "%s: input '%s' takes 1-channel images (N, 1, H, W); give --grayscale to "
                       "convert images to gray", path, fc_model_input_name(m));
    if (c == 3)
        return fc_fail(err, FC_EINVAL, "%s: input '%s' takes 3-channel images (N, 3, H, W); --grayscale is for "
                       "models that take 1 channel", path, fc_model_input_name(m));
    return fc_fail(err, FC_EINVAL, "%s: input '%s' takes %lld-channel images; the image pipeline makes 3 (RGB), "
                   "or 1 with --grayscale", path, fc_model_input_name(m), (long long)c);
}

int fc_pipeline_check_outputs(const fc_model *m, int height, int width, fc_session **shapes, fc_error *err) {
    enum { SHAPE_BATCH = 2 };
    if (shapes) *shapes = NULL;
    for (int o = 0; o < fc_model_n_outputs(m); o++) {
        int rc = fc_model_output_uses_input(m, o, err);
        if (rc < 0) return rc;
        if (rc == 0)
            return fc_fail(err, FC_EINVAL, "%s: layer '%s' is a constant of the model: it does not depend on the "
                           "image, so it is no feature", fc_model_path(m), fc_model_output_name(m, o));
    }
    fc_session *s = NULL;
    fc_session_options so = {.batch = SHAPE_BATCH, .height = height, .width = width, .threads = 1};
    int rc = fc_session_create(m, &so, &s, err);
    for (int o = 0; rc == 0 && o < fc_model_n_outputs(m); o++) {
        const fc_tensor *t = fc_session_output(s, o);
        if (t->rank < 1 || t->dims[0] != SHAPE_BATCH)
            rc = fc_fail(err, FC_EINVAL, "%s: layer '%s' is not computed per image: its first dimension is %lld for a "
                         "batch of %d images (a weight or another model-wide tensor?)", fc_model_path(m),
                         fc_model_output_name(m, o), t->rank < 1 ? 0LL : (long long)t->dims[0], SHAPE_BATCH);
    }
    if (rc == 0 && shapes) *shapes = s;
    else fc_session_free(s);
    return rc;
}

/* The model (opt->model, or loaded now by opt->load_model while the workers decode), checked, and
 * the session for full batches. */
static int start_model(pipe_state *s, int sess_batch, fc_session **sess, fc_error *err) {
    const fc_pipeline_options *opt = s->opt;
    int rc = 0;
    s->model = opt->model;
    if (!s->model) rc = opt->load_model(opt->load_user, &s->model, err);
    if (!rc) rc = fc_pipeline_check_model(s->model, opt->pre.gray, err);
    fc_session_options so = session_options(opt, sess_batch);
    if (!rc) rc = fc_session_create(s->model, &so, sess, err);
    return rc;
}

int fc_pipeline_run(const fc_pipeline_options *opt, const char *const *paths, size_t n,
                    const fc_pipeline_callbacks *cb, fc_error *err) {
    if (!opt || (!opt->model && !opt->load_model) || !cb || !cb->on_batch || opt->batch < 1 || opt->n_views < 1 ||
        !opt->views || opt->n_views > FC_MAX_VIEWS || opt->pre.width < 1 || opt->pre.height < 1)
        return fc_fail(err, FC_EINVAL, "pipeline: invalid options");
    if (n == 0) return 0;
    pipe_state s;
    memset(&s, 0, sizeof s);
    s.opt = opt;
    s.cb = cb;
    s.paths = paths;
    s.n = n;
    s.filling = -1;
    s.per_item = (size_t)opt->n_views * fc_preprocess_channels(&opt->pre) * opt->pre.width * opt->pre.height;
    fc_session *sess = NULL;
    int sess_batch = (size_t)opt->batch < n ? opt->batch : (int)n; /* fewer files: a smaller session */
    int rc = 0, started = 0, nw = opt->decode_threads > 0 ? opt->decode_threads : 2;
    pthread_t tid[64];
    if (nw > 64) nw = 64;
    pthread_mutex_init(&s.mu, NULL);
    pthread_cond_init(&s.changed, NULL);
    for (int i = 0; i < N_SLOTS; i++) {
        s.slots[i].input = malloc((size_t)opt->batch * s.per_item * sizeof(float));
        s.slots[i].items = malloc((size_t)opt->batch * sizeof(size_t));
        if (!s.slots[i].input || !s.slots[i].items) { rc = fc_fail(err, FC_ENOMEM, "out of memory for batches"); goto out; }
    }
    /* the workers first: the first batches decode while the model loads and the session is made */
    s.workers_left = (size_t)nw;
    for (; started < nw; started++)
        if (pthread_create(&tid[started], NULL, worker, &s) != 0) break;
    if (started < nw) { /* account for workers that never started */
        pthread_mutex_lock(&s.mu);
        s.workers_left -= (size_t)(nw - started);
        if (started == 0) { fc_error e; fc_fail(&e, FC_ENOMEM, "cannot start decode threads"); set_abort(&s, &e); }
        pthread_mutex_unlock(&s.mu);
    }
    if ((rc = start_model(&s, sess_batch, &sess, err))) { /* stop the workers; nothing was delivered */
        pthread_mutex_lock(&s.mu);
        set_abort(&s, err);
        pthread_mutex_unlock(&s.mu);
    } else {
        rc = consume(&s, sess, sess_batch, err);
    }
    for (int i = 0; i < started; i++) pthread_join(tid[i], NULL);
    /* bad items reported after the consumer stopped (only on abort) are dropped with the abort */
out:
    for (int i = 0; i < N_SLOTS; i++) {
        free(s.slots[i].input);
        free(s.slots[i].items);
    }
    free(s.bad);
    pthread_mutex_destroy(&s.mu);
    pthread_cond_destroy(&s.changed);
    fc_session_free(sess);
    return rc;
}
