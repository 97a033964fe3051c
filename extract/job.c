/* fc_extract_run (see job.h): a run is a sequence of named steps over one run state (job): open
 * the stores, resolve the extractors, register the data set and any new extractor, begin the run
 * records, sort the items into cached / known bad / to do, compute the missing ones, sync the
 * catalog rows; then finish the run records and free. Item states live in one array indexed like the scanned data set;
 * decode workers write an item's hash before handing it to the main thread (the pipeline's lock
 * orders that), and only the main thread touches the catalog and writes features. */
#include "extract/job.h"

#include <errno.h>
#include <limits.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/core.h"
#include "engine/engine.h"
#include "extract/pipeline.h"
#include "store/store.h"

enum { ST_PENDING, ST_COMPUTED, ST_CACHED, ST_BAD, ST_OTHER /* another shard's: recorded, not computed */ };

#define RACY_NS 2000000000LL /* coarsest common timestamp granularity (FAT: 2 s) */

typedef struct item_state {
    uint8_t hash[32];
    int hashed;
    int64_t size, mtime;
    int status;
    char *error; /* bad items: the reason */
} item_state;

/* The run state every step reads and extends. */
typedef struct job {
    fc_extract_options opt; /* the caller's, defaults filled in */
    fc_extract_result *res;
    fc_dataset ds;
    fc_cache *cache;
    fc_catalog *cat;
    int lock_fd;           /* the cache folder's lock, held shared for the whole run (store/lock.h) */
    fc_model *model;       /* loaded only when an extractor is new or an item must be computed */
    item_state *st;        /* (ds.n) */
    size_t *todo, n_todo;  /* pipeline index (+ todo_base) -> data set index */
    size_t todo_base;      /* the first item of the pipeline run in progress */
    int views_split;       /* 1: opt.compute.views_split applies (the data set has items of it) */
    int64_t stamp;
    int64_t racy_after;    /* mtimes from here on are not trusted to mean "unchanged" (ns) */
    char model_sha[65];
    fc_model_file model_file; /* the model's bytes when fc_model_facts read them this run (the run load
                                 takes them: the bytes fingerprinted), freed once loaded */
    fc_feature *feats;     /* scratch for one batch */
    float *pooled;         /* scratch for one batch's pooled layers: (batch, n_views, C) each */
    fc_catalog_item *rows; /* scratch for one batch */
    fc_job_progress prog;
    double t0;
    int64_t runs[FC_JOB_MAX_LAYERS]; /* one extract run per extractor */
    int n_runs;
    fc_error cb_err;       /* first failure inside a callback */
} job;

static int64_t mtime_ns(const struct stat *st) {
    return (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

static void key_of(const job *j, size_t item, int layer, int view, fc_feature_key *k) {
    memset(k, 0, sizeof *k);
    /* cannot fail: res->extractor holds fc_extractor_id's own 64 hex digits */
    fc_hex_decode(j->res->extractor[layer], k->extractor, 32, NULL);
    memcpy(k->item, j->st[item].hash, 32);
    k->view = (uint16_t)view;
}

/* How many of the views (the first ones) item i gets: all, or 1 for an item of another named split
 * than compute.views_split when that applies. */
static int views_of(const job *j, size_t i) {
    const char *split = j->ds.items[i].split;
    if (!j->views_split || !split || !*split || !strcmp(split, j->opt.compute.views_split))
        return j->opt.extractor.n_views;
    return 1;
}

/* The data set index of pipeline item pi of the run in progress. */
static size_t item_of(const job *j, size_t pi) { return j->todo[j->todo_base + pi]; }

/* 1 when every (layer, view) feature of the item is stored and passes its CRC, 0 if not, <0 on
 * error; a stored value that fails is counted in j->prog.damaged (decode threads call this too)
 * and computed again. */
static int all_stored(job *j, size_t item, fc_error *err) {
    fc_feature_key keys[FC_JOB_MAX_LAYERS * FC_MAX_VIEWS];
    uint8_t present[FC_JOB_MAX_LAYERS * FC_MAX_VIEWS];
    size_t n = 0, n_present = 0;
    const fc_extractor_def *x = &j->opt.extractor;
    int nv = views_of(j, item);
    for (int l = 0; l < j->res->n_layers; l++)
        for (int v = 0; v < nv; v++) key_of(j, item, l, x->views[v], &keys[n++]);
    size_t n_damaged = 0;
    int rc = fc_cache_exists_verified(j->cache, keys, n, present, &n_present, &n_damaged, err);
    if (n_damaged) __atomic_fetch_add(&j->prog.damaged, n_damaged, __ATOMIC_RELAXED);
    return rc ? rc : n_present == n;
}

unsigned fc_item_shard(const uint8_t sha256[32], unsigned n) {
    uint32_t h = (uint32_t)sha256[0] << 24 | (uint32_t)sha256[1] << 16 | (uint32_t)sha256[2] << 8 | sha256[3];
    return (unsigned)(((uint64_t)h * n) >> 32);
}

/* 1 when this job computes item i (hashed), i.e. it falls in the job's shard (or there are none). */
static int in_shard(const job *j, size_t i) {
    const fc_extract_compute *c = &j->opt.compute;
    return c->n_shards <= 0 || fc_item_shard(j->st[i].hash, (unsigned)c->n_shards) == (unsigned)c->shard;
}

static fc_pool pool_of(const job *j, int layer) {
    const fc_extractor_def *x = &j->opt.extractor;
    return x->pools && x->n_layers ? x->pools[layer] : FC_POOL_NONE;
}

static void fill_row(const job *j, size_t i, fc_catalog_item *r) {
    const item_state *s = &j->st[i];
    memset(r, 0, sizeof *r);
    r->path = j->ds.items[i].rel;
    r->has_hash = s->hashed;
    memcpy(r->sha256, s->hash, 32);
    r->label = j->ds.items[i].label;
    r->split = j->ds.items[i].split;
    r->status = s->status == ST_BAD ? FC_ITEM_BAD : FC_ITEM_OK;
    r->error = s->status == ST_BAD ? (s->error ? s->error : "unreadable") : NULL;
    r->size = s->size;
    /* A file modified within RACY_NS of the scan may change again within the same timestamp tick
     * and keep its size (or may have changed between our stat and our read): record no mtime, so
     * the next run reads and hashes it again instead of trusting size + mtime (as git does). */
    r->mtime = s->mtime >= j->racy_after ? -1 : s->mtime;
}

static void report(job *j) {
    j->prog.seconds = omp_get_wtime() - j->t0;
    j->prog.done = j->prog.computed + j->prog.cached + j->prog.bad + j->prog.elsewhere;
    if (j->opt.control.progress) j->opt.control.progress(j->opt.control.user, &j->prog);
}

/* ---- pipeline callbacks ---- */

static int on_bytes(void *user, size_t pi, const uint8_t *data, size_t size) {
    job *j = user;
    size_t i = item_of(j, pi);
    fc_sha256_digest(data, size, j->st[i].hash);
    j->st[i].hashed = 1;
    if (!in_shard(j, i)) return 0; /* another shard's: hashed for the catalog, not decoded */
    fc_error e; /* a failed lookup only means computing the item again; a broken store fails the put */
    int stored = all_stored(j, i, &e);
    return stored > 0 ? 0 : 1; /* same bytes already extracted (renamed/copied file): skip */
}

static int on_bad(void *user, size_t pi, const fc_error *err) {
    job *j = user;
    size_t i = item_of(j, pi);
    item_state *s = &j->st[i];
    s->status = ST_BAD;
    free(s->error);
    s->error = strdup(err->msg);
    fc_catalog_item row;
    fill_row(j, i, &row);
    int rc = fc_catalog_item_upsert(j->cat, j->res->dataset_id, &row, 1, j->stamp, &j->cb_err);
    j->prog.bad++;
    report(j);
    return rc;
}

static int on_batch(void *user, const size_t *items, int n_items, int n_views,
                    const fc_tensor *const *outputs, int n_outputs) {
    job *j = user;
    const fc_extractor_def *x = &j->opt.extractor;
    int rc;
    size_t nf = 0;
    float *pooled = j->pooled;
    for (int b = 0; b < n_items; b++) {
        size_t i = item_of(j, items[b]);
        for (int l = 0; l < j->res->n_layers; l++) {
            int64_t per = fc_tensor_count(outputs[l]) / outputs[l]->dims[0];
            for (int v = 0; v < n_views; v++) {
                fc_feature *f = &j->feats[nf++];
                key_of(j, i, l, x->views[v], &f->key);
                f->dtype = x->dtype;
                f->rank = j->res->rank[l];
                memcpy(f->dims, j->res->dims[l], sizeof f->dims);
                f->data = (const float *)outputs[l]->data + ((int64_t)b * n_views + v) * per;
                if (pool_of(j, l) == FC_POOL_AVG) { /* (C, H, W) -> (C): the mean of each plane */
                    int64_t c = j->res->dims[l][0], hw = per / c;
                    for (int64_t ch = 0; ch < c; ch++) {
                        double sum = 0;
                        for (int64_t p = 0; p < hw; p++) sum += f->data[ch * hw + p];
                        pooled[ch] = (float)(sum / (double)hw);
                    }
                    f->data = pooled;
                    pooled += c;
                }
            }
        }
    }
    if ((rc = fc_cache_put(j->cache, j->feats, nf, &j->cb_err))) return rc;
    if (j->opt.control.committed) j->opt.control.committed(j->opt.control.user, n_items);
    for (int b = 0; b < n_items; b++) {
        size_t i = item_of(j, items[b]);
        j->st[i].status = ST_COMPUTED;
        fill_row(j, i, &j->rows[b]);
    }
    if ((rc = fc_catalog_item_upsert(j->cat, j->res->dataset_id, j->rows, (size_t)n_items, j->stamp, &j->cb_err)))
        return rc;
    j->prog.computed += (size_t)n_items;
    report(j);
    return 0;
}

/* ---- steps of a run, in order ---- */

/* The first of names[0..n) that fit in out (cap), ", "-separated, ", ..." when some do not. */
static void join_names(char **names, size_t n, char *out, size_t cap) {
    size_t len = 0, i = 0;
    out[0] = 0;
    for (; i < n && len + strlen(names[i]) + 8 < cap; i++)
        len += (size_t)snprintf(out + len, cap - len, "%s%s", i ? ", " : "", names[i]);
    if (i < n) snprintf(out + len, cap - len, "%s...", i ? ", " : "");
}

/* Defaults and limits of the caller's options, then the data set scan. Nothing to undo on error. */
static int job_start(job *j, const fc_extract_options *opt, fc_extract_result *res, fc_error *err) {
    static const int orig_only[1] = {FC_VIEW_ORIG};
    memset(res, 0, sizeof *res);
    memset(j, 0, sizeof *j);
    j->opt = *opt;
    j->res = res;
    j->lock_fd = -1;
    j->t0 = omp_get_wtime();
    fc_extractor_def *x = &j->opt.extractor;
    if (!x->views || x->n_views < 1) { x->views = orig_only; x->n_views = 1; }
    if (!x->dtype) x->dtype = FC_DTYPE_F32;
    if (x->n_views > FC_MAX_VIEWS || x->n_layers < 0 || x->n_layers > FC_JOB_MAX_LAYERS)
        return fc_fail(err, FC_EINVAL, "extract: at most %d views and %d layers", FC_MAX_VIEWS, FC_JOB_MAX_LAYERS);
    for (int l = 0; x->pools && l < x->n_layers; l++)
        if (x->pools[l] != FC_POOL_NONE && x->pools[l] != FC_POOL_AVG)
            return fc_fail(err, FC_EINVAL, "extract: unknown pooling %d for layer %d", (int)x->pools[l], l);
    if (!fc_dtype_name(x->dtype)) return fc_fail(err, FC_EINVAL, "extract: unknown dtype %d", (int)x->dtype);
    if (!j->opt.compute.batch) j->opt.compute.batch = 16;
    const fc_extract_compute *c = &j->opt.compute;
    if (c->n_shards < 0 || (c->n_shards > 0 && (c->shard < 0 || c->shard >= c->n_shards)))
        return fc_fail(err, FC_EINVAL, "extract: shard %d of %d: the shard must be 0..%d", c->shard, c->n_shards,
                       c->n_shards - 1);
    int rc = fc_dataset_scan(j->opt.dataset.path, j->opt.dataset.layout, &j->ds, err);
    if (rc) return rc;
    for (size_t i = 0; c->views_split && i < j->ds.n && !j->views_split; i++)
        j->views_split = j->ds.items[i].split && !strcmp(j->ds.items[i].split, c->views_split);
    res->skipped = j->ds.n_skipped;
    res->too_deep = j->ds.n_too_deep;
    join_names(j->ds.skipped, j->ds.n_skipped, res->skipped_names, sizeof res->skipped_names);
    join_names(j->ds.too_deep, j->ds.n_too_deep, res->too_deep_names, sizeof res->too_deep_names);
    return 0;
}

static int mkdir_p(const char *dir, fc_error *err) {
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s", dir);
    for (char *s = p + 1; *s; s++)
        if (*s == '/') {
            *s = 0;
            if (mkdir(p, 0777) != 0 && errno != EEXIST) return fc_fail(err, FC_EIO, "%s: cannot create: %s", p, strerror(errno));
            *s = '/';
        }
    if (mkdir(p, 0777) != 0 && errno != EEXIST) return fc_fail(err, FC_EIO, "%s: cannot create: %s", p, strerror(errno));
    return 0;
}

static int open_stores(job *j, fc_error *err) {
    const fc_extract_cache *c = &j->opt.cache;
    int rc = mkdir_p(c->dir, err);
    fc_cache_options co = {.max_map_size = c->max_map_size};
    /* until the last catalog row is written, features this run commits may be referenced by
     * nothing: gc waits for the lock (a running gc makes this wait for its end) */
    if (!rc) rc = fc_cache_lock(c->dir, 0, 1, &j->lock_fd, err);
    if (!rc) rc = fc_cache_open(c->dir, 0, &co, &j->cache, err);
    if (!rc) rc = fc_catalog_open(c->dir, 0, 0, &j->cat, err);
    return rc;
}

/* The input size and every layer's name and extractor id. */
static int resolve_extractors(job *j, fc_error *err) {
    fc_extractor_def *x = &j->opt.extractor;
    fc_extract_result *res = j->res;
    char default_layer[256];
    int mh, mw;
    int rc = fc_model_facts(j->cat, x->model, j->model_sha, default_layer, sizeof default_layer, &mh, &mw,
                            &j->model_file, err);
    if (rc) return rc;
    if (!x->size) x->size = mh;
    if (x->size <= 0) return fc_fail(err, FC_EINVAL, "%s: the model's input size is not fixed; give --size", x->model);
    res->n_layers = x->n_layers ? x->n_layers : 1;
    for (int l = 0; l < res->n_layers; l++) {
        snprintf(res->layers[l], sizeof res->layers[l], "%s", x->n_layers ? x->layers[l] : default_layer);
        fc_extractor_id(j->model_sha, res->layers[l], pool_of(j, l), x->size, x->crop, x->preset, x->gray, x->dtype,
                        x->exif, res->extractor[l]);
        fc_extractor_id_compute(res->extractor[l], x->compute, res->extractor[l]);
    }
    return 0;
}

/* A default name (the folder's) may already stand for another folder in this cache: extracting
 * under it would replace that data set's items. Refused while the recorded folder still exists (a
 * data set that was moved is just updated); --name chooses. */
typedef struct name_owner {
    const char *name;
    char root[PATH_MAX];
    int found;
} name_owner;

static int find_owner(void *user, const fc_catalog_dataset *d) {
    name_owner *o = user;
    if (strcmp(d->name, o->name) != 0) return 0;
    snprintf(o->root, sizeof o->root, "%s", d->root ? d->root : "");
    o->found = 1;
    return 1;
}

static int check_name_free(fc_catalog *cat, const char *name, const char *root, fc_error *err) {
    name_owner o = {.name = name};
    int rc = fc_catalog_dataset_list(cat, find_owner, &o, err);
    if (rc < 0) return rc;
    struct stat st;
    if (!o.found || !*o.root || strcmp(o.root, root) == 0 || stat(o.root, &st) != 0) return 0;
    return fc_fail(err, FC_EINVAL, "data set name '%s' already stands for %s in this cache; give --name "
                   "to store %s under another name (or --name %s to replace it)", name, o.root, root, name);
}

static int register_dataset(job *j, fc_error *err) {
    const fc_dataset_ref *d = &j->opt.dataset;
    int named = d->name && *d->name;
    char name[256], root[PATH_MAX];
    if (named) snprintf(name, sizeof name, "%s", d->name);
    else fc_dataset_default_name(d->path, name, sizeof name);
    if (!realpath(j->ds.root, root)) snprintf(root, sizeof root, "%s", j->ds.root);
    int rc = named ? 0 : check_name_free(j->cat, name, root, err);
    if (!rc) rc = fc_catalog_dataset_upsert(j->cat, name, root, fc_layout_name(j->ds.layout), &j->res->dataset_id, err);
    return rc;
}

static int load_model(job *j, fc_error *err) {
    if (j->model) return 0;
    const char *outs[FC_JOB_MAX_LAYERS];
    for (int l = 0; l < j->res->n_layers; l++) outs[l] = j->res->layers[l];
    fc_model_options mo = {.outputs = outs, .n_outputs = j->res->n_layers};
    int rc = fc_compute_kernels(j->opt.extractor.compute, &mo.kernels, err);
    int fingerprinted = j->model_file.data != NULL; /* else the fingerprint came from the catalog */
    if (!rc) rc = fc_model_load_hashed(j->opt.extractor.model, &mo, &j->model_file, &j->model, err);
    fc_model_file_free(&j->model_file);
    if (!rc && !fingerprinted)
        rc = fc_model_check_fingerprint(j->cat, j->opt.extractor.model, j->model_sha, j->model, &j->model_file, err);
    if (!rc) j->res->model_loaded = 1;
    if (!rc) rc = fc_pipeline_check_model(j->model, j->opt.extractor.gray, err);
    return rc;
}

/* Feature shape of one image from layer's output t (its first dimension the batch, checked by
 * fc_pipeline_check_outputs): trailing 1s dropped, (C, 1, 1) -> (C); pooled, a (C, H, W) map's
 * (C). Refused when pooled without being a map, or of too high a rank. */
static int feature_shape(const fc_tensor *t, const char *layer, fc_pool pool, int *rank, uint32_t *dims,
                         fc_error *err) {
    if (pool == FC_POOL_AVG) {
        if (t->rank != 4)
            return fc_fail(err, FC_EINVAL, "layer '%s' has rank %d per image: average pooling needs a (C,H,W) map",
                           layer, t->rank - 1);
        *rank = 1;
        dims[0] = (uint32_t)t->dims[1];
        return 0;
    }
    int last = t->rank - 1;
    while (last > 1 && t->dims[last] == 1) last--;
    *rank = 0;
    for (int d = 1; d <= last; d++) {
        if (*rank == FC_FEATURE_MAX_RANK)
            return fc_fail(err, FC_EUNSUPPORTED, "layer '%s' has rank %d; at most %d can be stored", layer,
                           t->rank - 1, FC_FEATURE_MAX_RANK);
        dims[(*rank)++] = (uint32_t)t->dims[d];
    }
    if (*rank == 0) dims[(*rank)++] = 1;
    return 0;
}

typedef struct ex_lookup {
    fc_extract_result *res;
    int found[FC_JOB_MAX_LAYERS];
} ex_lookup;

static int find_extractor(void *user, const fc_catalog_extractor *x) {
    ex_lookup *q = user;
    for (int l = 0; l < q->res->n_layers; l++)
        if (!strcmp(x->id, q->res->extractor[l])) {
            q->found[l] = 1;
            q->res->rank[l] = x->rank;
            memcpy(q->res->dims[l], x->dims, sizeof x->dims);
        }
    return 0;
}

/* Makes sure every layer's extractor is in the catalog with its feature shape, loading the model
 * (checked against the image pipeline) and planning a batch-2 session when one is new (the shape is
 * only known from the graph). A layer that is a constant of the model or has no batch dimension is
 * refused: it is no per-image feature. */
static int ensure_extractors(job *j, fc_error *err) {
    const fc_extractor_def *x = &j->opt.extractor;
    fc_extract_result *res = j->res;
    ex_lookup q = {.res = res};
    int rc = fc_catalog_extractor_list(j->cat, find_extractor, &q, err);
    if (rc) return rc;
    int missing = 0;
    for (int l = 0; l < res->n_layers; l++) missing |= !q.found[l];
    if (!missing) return 0;
    fc_session *s = NULL;
    if ((rc = load_model(j, err)) || (rc = fc_pipeline_check_outputs(j->model, x->size, x->size, &s, err))) return rc;
    char pre_label[64]; /* what ls shows: e.g. "tf+gray", "tf compute=bf16" */
    fc_extractor_preprocess_label(x->preset, x->gray, x->exif, x->compute, pre_label, sizeof pre_label);
    for (int l = 0; l < res->n_layers && rc == 0; l++) {
        if (q.found[l]) continue;
        if ((rc = feature_shape(fc_session_output(s, l), res->layers[l], pool_of(j, l), &res->rank[l], res->dims[l],
                                err)))
            break;
        char label[300];
        fc_extractor_layer_label(res->layers[l], pool_of(j, l), label, sizeof label);
        fc_catalog_extractor e = {.model_path = x->model, .model_sha256 = j->model_sha,
                                  .layer = label, .size = x->size,
                                  .crop = x->crop > 0 && x->crop < 1 ? x->crop : 1.0,
                                  .preprocess = pre_label,
                                  .views = "orig,flip,crop-center,crop-tl,crop-tr,crop-bl,crop-br",
                                  .dtype = x->dtype, .rank = res->rank[l]};
        memcpy(e.dims, res->dims[l], sizeof e.dims);
        memcpy(e.id, res->extractor[l], 65);
        rc = fc_catalog_extractor_register(j->cat, &e, err);
    }
    fc_session_free(s);
    return rc;
}

static void params_json(const job *j, fc_strbuf *b) {
    const fc_extractor_def *x = &j->opt.extractor;
    fc_strbuf_printf(b, "{\"dataset\":");
    fc_strbuf_json(b, j->opt.dataset.path);
    fc_strbuf_printf(b, ",\"model\":");
    fc_strbuf_json(b, x->model);
    fc_strbuf_printf(b, ",\"layers\":[");
    for (int l = 0; l < j->res->n_layers; l++) {
        char label[300];
        fc_extractor_layer_label(j->res->layers[l], pool_of(j, l), label, sizeof label);
        fc_strbuf_printf(b, l ? "," : "");
        fc_strbuf_json(b, label);
    }
    fc_strbuf_printf(b, "],\"size\":%d,\"crop\":", x->size);
    fc_strbuf_float(b, x->crop > 0 && x->crop < 1 ? x->crop : 1.0f);
    fc_strbuf_printf(b, ",\"preprocess\":\"%s\",%s\"dtype\":\"%s\"", fc_preset_name(x->preset),
                     x->gray ? "\"grayscale\":1," : "", fc_dtype_name(x->dtype));
    if (x->compute != FC_COMPUTE_F32) fc_strbuf_printf(b, ",\"compute\":\"%s\"", fc_compute_name(x->compute));
    fc_strbuf_printf(b, ",\"views\":[");
    for (int v = 0; v < x->n_views; v++) fc_strbuf_printf(b, "%s\"%s\"", v ? "," : "", fc_view_name(x->views[v]));
    char host[160];
    fc_process_host(host, sizeof host);
    /* the kernel level is not part of the extractor (see extractor.h): the run says which one
     * computed its features */
    fc_strbuf_printf(b, "],\"isa\":\"%s\"", fc_isa_name(fc_cpu_isa()));
    char dec[96];
    fc_extractor_decoders(dec, sizeof dec);
    fc_strbuf_printf(b, ",\"exif_orientation\":\"%s\",\"decoders\":\"%s\"", fc_exif_name(x->exif), dec);
    if (j->opt.compute.n_shards > 0) fc_strbuf_printf(b, ",\"shard\":\"%d/%d\"", j->opt.compute.shard, j->opt.compute.n_shards);
    fc_strbuf_printf(b, ",\"pid\":%ld,\"host\":", (long)getpid()); /* see store/runs.h */
    fc_strbuf_json(b, host);
    fc_strbuf_printf(b, "}");
}

/* One 'running' record per extractor; the first one's id stamps this run's catalog rows. */
static int begin_runs(job *j, fc_error *err) {
    fc_error ignored; /* housekeeping of earlier killed runs must not stop this one */
    fc_extract_mark_interrupted(j->cat, NULL, &ignored);
    fc_strbuf params = {0};
    params_json(j, &params);
    int rc = 0;
    for (int l = 0; l < j->res->n_layers && rc == 0; l++) {
        rc = params.failed ? fc_fail(err, FC_ENOMEM, "out of memory")
                           : fc_catalog_run_begin(j->cat, FC_RUN_EXTRACT, j->res->dataset_id, j->res->extractor[l],
                                                  params.s, &j->runs[l], err);
        if (rc == 0) j->n_runs++;
    }
    fc_strbuf_free(&params);
    if (rc) return rc;
    j->res->run_id = j->runs[0];
    j->stamp = j->res->run_id;
    return 0;
}

/* Catalog rows of the data set, in path order (as the scan). */
typedef struct known_rows {
    fc_catalog_item *rows;
    char **strs; /* owned copies: path, error */
    size_t n, cap;
} known_rows;

static int collect_row(void *user, const fc_catalog_item *it) {
    known_rows *k = user;
    if (k->n == k->cap) {
        size_t cap = k->cap ? k->cap * 2 : 256;
        fc_catalog_item *nr = realloc(k->rows, cap * sizeof *nr);
        char **ns = realloc(k->strs, cap * 2 * sizeof *ns);
        if (nr) k->rows = nr;
        if (ns) k->strs = ns;
        if (!nr || !ns) return FC_ENOMEM;
        k->cap = cap;
    }
    fc_catalog_item *r = &k->rows[k->n];
    *r = *it;
    k->strs[2 * k->n] = strdup(it->path);
    k->strs[2 * k->n + 1] = it->error ? strdup(it->error) : NULL;
    r->path = k->strs[2 * k->n];
    r->error = k->strs[2 * k->n + 1];
    r->label = r->split = NULL;
    k->n++;
    return r->path ? 0 : FC_ENOMEM;
}

static void free_known(known_rows *k) {
    for (size_t i = 0; i < 2 * k->n; i++) free(k->strs[i]);
    free(k->strs);
    free(k->rows);
}

/* Item i's state from its file and its catalog row r (NULL when new): known bad, cached (the same
 * bytes' features are stored) or to do. */
static int plan_item(job *j, size_t i, const fc_catalog_item *r, fc_error *err) {
    item_state *s = &j->st[i];
    struct stat st;
    s->size = s->mtime = -1;
    if (stat(j->ds.items[i].path, &st) == 0) { s->size = st.st_size; s->mtime = mtime_ns(&st); }
    int unchanged = r && s->size >= 0 && r->size == s->size && r->mtime == s->mtime;
    if (unchanged && r->has_hash) { /* the same bytes as hashed before (kept for bad items too) */
        memcpy(s->hash, r->sha256, 32);
        s->hashed = 1;
    }
    if (unchanged && r->status == FC_ITEM_BAD) { /* known bad: keep its reason */
        s->status = ST_BAD;
        s->error = strdup(r->error ? r->error : "unreadable");
        j->prog.bad++;
        return 0;
    }
    if (s->hashed && !in_shard(j, i)) { s->status = ST_OTHER; j->prog.elsewhere++; return 0; }
    if (s->hashed) {
        int stored = all_stored(j, i, err);
        if (stored < 0) return stored;
        if (stored) { s->status = ST_CACHED; j->prog.cached++; return 0; }
    }
    j->todo[j->n_todo++] = i;
    return 0;
}

/* What the catalog already knows, merge-joined by path (both sorted the same way), sorts every
 * item into known bad, cached or to do. */
static int plan_items(job *j, fc_error *err) {
    known_rows known = {0};
    int rc = fc_catalog_item_list(j->cat, j->res->dataset_id, FC_ITEMS_ALL, collect_row, &known, err);
    if (rc) goto out;
    j->st = calloc(j->ds.n, sizeof *j->st);
    j->todo = malloc(j->ds.n * sizeof *j->todo);
    if (!j->st || !j->todo) { rc = fc_fail(err, FC_ENOMEM, "out of memory"); goto out; }
    j->prog.total = j->ds.n;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    j->racy_after = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec - RACY_NS;
    size_t k = 0;
    for (size_t i = 0; i < j->ds.n && rc == 0; i++) {
        const char *rel = j->ds.items[i].rel;
        while (k < known.n && strcmp(known.rows[k].path, rel) < 0) k++;
        rc = plan_item(j, i, k < known.n && !strcmp(known.rows[k].path, rel) ? &known.rows[k] : NULL, err);
        if (i % 512 == 511) fc_cache_release_pages(j->cache); /* the checks read every stored value:
                                                                 resident memory stays flat */
    }
out:
    free_known(&known);
    return rc;
}

/* Reorders the items to do, keeping their order within each part: those of every view first, then
 * those of the first view only (views_of). Returns how many get every view, or -1 out of memory. */
static ptrdiff_t all_views_first(job *j) {
    int nv = j->opt.extractor.n_views;
    size_t n_all = 0, k = 0;
    for (size_t t = 0; t < j->n_todo; t++) n_all += views_of(j, j->todo[t]) == nv;
    if (n_all == j->n_todo) return (ptrdiff_t)n_all;
    size_t *order = malloc(j->n_todo * sizeof *order);
    if (!order) return -1;
    for (int part = 0; part < 2; part++)
        for (size_t t = 0; t < j->n_todo; t++)
            if ((views_of(j, j->todo[t]) == nv) == !part) order[k++] = j->todo[t];
    memcpy(j->todo, order, j->n_todo * sizeof *order);
    free(order);
    return (ptrdiff_t)n_all;
}

/* The pipeline's load_model: the job's model, loaded on the first call. */
static int pipeline_model(void *user, const fc_model **model, fc_error *err) {
    job *j = user;
    int rc = load_model(j, err);
    *model = j->model;
    return rc;
}

/* Runs the pipeline on the items to do: each batch's features and rows are stored by on_batch. */
static int compute_missing(job *j, fc_error *err) {
    const fc_extractor_def *x = &j->opt.extractor;
    const fc_extract_compute *c = &j->opt.compute;
    if (!j->n_todo) return 0;
    int rc = 0;
    size_t pooled = 0; /* floats per image and view */
    for (int l = 0; l < j->res->n_layers; l++) pooled += pool_of(j, l) == FC_POOL_AVG ? j->res->dims[l][0] : 0;
    const char **paths = malloc(j->n_todo * sizeof *paths);
    j->feats = malloc((size_t)c->batch * j->res->n_layers * x->n_views * sizeof *j->feats);
    j->rows = malloc((size_t)c->batch * sizeof *j->rows);
    j->pooled = malloc((size_t)c->batch * x->n_views * pooled * sizeof(float) + 4);
    if (!paths || !j->feats || !j->rows || !j->pooled) { free(paths); return fc_fail(err, FC_ENOMEM, "out of memory"); }
    ptrdiff_t n_all = all_views_first(j);
    if (n_all < 0) { free(paths); return fc_fail(err, FC_ENOMEM, "out of memory"); }
    for (size_t t = 0; t < j->n_todo; t++) paths[t] = j->ds.items[j->todo[t]].path;
    fc_pipeline_options po = {.load_model = pipeline_model, .load_user = j, /* loads while the first images decode */
                              .pre = {.width = x->size, .height = x->size, .crop = x->crop, .preset = x->preset,
                                      .gray = x->gray, .exif = x->exif},
                              .views = x->views, .n_views = x->n_views, .batch = c->batch, .threads = c->threads,
                              .decode_threads = c->decode_threads, .cancel = j->opt.control.cancel,
                              .layer_parallel = c->layer_parallel};
    fc_pipeline_callbacks cb = {.user = j, .on_bytes = on_bytes, .on_bad = on_bad, .on_batch = on_batch};
    if (n_all) rc = fc_pipeline_run(&po, paths, n_all, &cb, err);
    if (!rc && (size_t)n_all < j->n_todo) { /* the other splits' items: the first view */
        po.n_views = 1;
        j->todo_base = (size_t)n_all;
        rc = fc_pipeline_run(&po, paths + n_all, j->n_todo - (size_t)n_all, &cb, err);
        j->todo_base = 0;
    }
    free(paths);
    if (rc && j->cb_err.code) { /* the callback's own reason beats "aborted" */
        *err = j->cb_err;
        rc = err->code;
    }
    for (size_t t = 0; t < j->n_todo && rc == 0; t++) { /* skipped: another shard's, or same bytes already stored */
        item_state *s = &j->st[j->todo[t]];
        if (s->status != ST_PENDING || !s->hashed) continue;
        if (in_shard(j, j->todo[t])) { s->status = ST_CACHED; j->prog.cached++; }
        else { s->status = ST_OTHER; j->prog.elsewhere++; }
    }
    return rc;
}

/* Every item's row with this run's stamp in one transaction, then rows of files that are gone
 * are dropped. */
static int sync_items(job *j, fc_error *err) {
    fc_catalog_item *rows = malloc((j->ds.n + 1) * sizeof *rows);
    if (!rows) return fc_fail(err, FC_ENOMEM, "out of memory");
    size_t nr = 0;
    for (size_t i = 0; i < j->ds.n; i++)
        if (j->st[i].status != ST_PENDING) fill_row(j, i, &rows[nr++]);
    int rc = fc_catalog_item_sync(j->cat, j->res->dataset_id, rows, nr, j->stamp, NULL, err);
    free(rows);
    return rc;
}

/* Final progress, counts and run records (failed with err's message when rc != 0), then frees. */
static void job_finish(job *j, int rc, const fc_error *err) {
    report(j);
    j->res->counts = j->prog;
    for (int l = 0; l < j->n_runs; l++) {
        fc_strbuf r = {0};
        fc_strbuf_printf(&r, "{\"items\":%zu,\"computed\":%zu,\"cached\":%zu,\"bad\":%zu,\"seconds\":%.3f",
                         j->prog.total, j->prog.computed, j->prog.cached, j->prog.bad, j->prog.seconds);
        if (j->opt.compute.n_shards > 0) fc_strbuf_printf(&r, ",\"elsewhere\":%zu", j->prog.elsewhere);
        if (rc) { fc_strbuf_printf(&r, ",\"error\":"); fc_strbuf_json(&r, err->msg); }
        fc_strbuf_printf(&r, "}");
        fc_run_status status = rc ? FC_RUN_FAILED : j->prog.bad ? FC_RUN_PARTIAL : FC_RUN_OK;
        /* the caller gets rc and err either way; a record left 'running' is marked interrupted by
         * the next extract */
        fc_error ignored;
        fc_catalog_run_finish(j->cat, j->runs[l], status, r.failed ? NULL : r.s, &ignored);
        fc_strbuf_free(&r);
    }
    for (size_t i = 0; j->st && i < j->ds.n; i++) free(j->st[i].error);
    free(j->st);
    free(j->todo);
    free(j->feats);
    free(j->pooled);
    free(j->rows);
    fc_model_free(j->model);
    fc_model_file_free(&j->model_file);
    fc_catalog_close(j->cat);
    fc_cache_close(j->cache);
    fc_cache_unlock(j->lock_fd);
    fc_dataset_free(&j->ds);
}

int fc_extract_run(const fc_extract_options *opt, fc_extract_result *res, fc_error *err) {
    /* the model is checked (ensure_extractors) before the data set is registered or any item read */
    static int (*const steps[])(job *, fc_error *) = {open_stores, resolve_extractors, ensure_extractors,
                                                      register_dataset, begin_runs, plan_items,
                                                      compute_missing, sync_items};
    job j;
    int rc = job_start(&j, opt, res, err);
    if (rc) return rc;
    for (size_t s = 0; s < sizeof steps / sizeof *steps && rc == 0; s++) rc = steps[s](&j, err);
    job_finish(&j, rc, err);
    return rc;
}
