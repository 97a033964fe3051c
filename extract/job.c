/* fc_extract_run (see job.h). Item states live in one array indexed like the scanned data set;
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

enum { ST_PENDING, ST_COMPUTED, ST_CACHED, ST_BAD };

#define RACY_NS 2000000000LL /* coarsest common timestamp granularity (FAT: 2 s) */

typedef struct item_state {
    uint8_t hash[32];
    int hashed;
    int64_t size, mtime;
    int status;
    char *error; /* bad items: the reason */
} item_state;

typedef struct job {
    const fc_extract_options *opt;
    fc_extract_result *res;
    fc_dataset ds;
    fc_cache *cache;
    fc_catalog *cat;
    item_state *st;
    int64_t stamp;
    int64_t racy_after;    /* mtimes from here on are not trusted to mean "unchanged" (ns) */
    char model_sha[65];
    fc_feature *feats;     /* scratch for one batch */
    fc_catalog_item *rows; /* scratch for one batch */
    fc_job_progress prog;
    double t0;
    int64_t runs[FC_JOB_MAX_LAYERS]; /* one extract run per extractor */
    int n_runs;
    fc_error cb_err;       /* first failure inside a callback */
    const char **paths;
    size_t *todo;          /* pipeline index -> data set index */
} job;

static const char *dtype_name(fc_dtype d) { return d == FC_DTYPE_F16 ? "f16" : "f32"; }

void fc_extractor_id(const char *model_sha256, const char *layer, int size, float crop,
                     fc_preset preset, fc_dtype dtype, char out[65]) {
    /* The version names featcache's own image -> tensor path (decoding, DCT policy, resize): bump it
     * whenever that changes, so features made the old way are never served for the new. */
    char desc[1024];
    int n = snprintf(desc, sizeof desc,
                     "featcache-extractor/2\nmodel=%s\nlayer=%s\nsize=%dx%d\ncrop=%.6f\npreprocess=%s\n"
                     "dtype=%s\n", model_sha256, layer, size, size, crop > 0 && crop < 1 ? crop : 1.0,
                     fc_preset_name(preset), dtype_name(dtype));
    uint8_t h[32];
    fc_sha256_digest(desc, (size_t)(n < (int)sizeof desc ? n : (int)sizeof desc - 1), h);
    fc_hex_encode(h, 32, out);
}

static int64_t mtime_ns(const struct stat *st) {
    return (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

int fc_model_facts(fc_catalog *cat, const char *model_path, char sha256[65], char *default_layer,
                   size_t layer_cap, int *height, int *width, fc_error *err) {
    char real[PATH_MAX];
    struct stat st;
    if (!realpath(model_path, real) || stat(real, &st) != 0)
        return fc_fail(err, FC_EIO, "%s: %s", model_path, strerror(errno));
    fc_catalog_model m = {.path = real, .size = st.st_size, .mtime = mtime_ns(&st)};
    int rc = fc_catalog_model_get(cat, &m, err);
    if (rc < 0) return rc;
    if (rc == 0) {
        uint8_t h[32];
        if ((rc = fc_sha256_file(real, h, NULL, err))) return rc;
        fc_hex_encode(h, 32, m.sha256);
        fc_model *model = NULL;
        if ((rc = fc_model_load(model_path, NULL, &model, err))) return rc;
        snprintf(m.default_layer, sizeof m.default_layer, "%s", fc_model_default_feature(model));
        int64_t d[4];
        fc_model_input_dims(model, d);
        m.height = (int)d[2];
        m.width = (int)d[3];
        fc_model_free(model);
        fc_error ignored; /* the row is only a shortcut for next time (and the catalog may be read-only) */
        fc_catalog_model_put(cat, &m, &ignored);
    }
    memcpy(sha256, m.sha256, 65);
    snprintf(default_layer, layer_cap, "%s", m.default_layer);
    *height = m.height;
    *width = m.width;
    return 0;
}

static void key_of(const job *j, size_t item, int layer, int view, fc_feature_key *k) {
    memset(k, 0, sizeof *k);
    /* cannot fail: res->extractor holds fc_extractor_id's own 64 hex digits */
    fc_hex_decode(j->res->extractor[layer], k->extractor, 32, NULL);
    memcpy(k->item, j->st[item].hash, 32);
    k->view = (uint16_t)view;
}

/* 1 when every (layer, view) feature of the item is stored, 0 if not, <0 on error. */
static int all_stored(const job *j, size_t item, fc_error *err) {
    fc_feature_key keys[FC_JOB_MAX_LAYERS * FC_MAX_VIEWS];
    uint8_t present[FC_JOB_MAX_LAYERS * FC_MAX_VIEWS];
    size_t n = 0, n_present = 0;
    for (int l = 0; l < j->res->n_layers; l++)
        for (int v = 0; v < j->opt->n_views; v++) key_of(j, item, l, j->opt->views[v], &keys[n++]);
    int rc = fc_cache_exists(j->cache, keys, n, present, &n_present, err);
    return rc ? rc : n_present == n;
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
    j->prog.done = j->prog.computed + j->prog.cached + j->prog.bad;
    if (j->opt->progress) j->opt->progress(j->opt->user, &j->prog);
}

/* ---- pipeline callbacks ---- */

static int on_bytes(void *user, size_t pi, const uint8_t *data, size_t size) {
    job *j = user;
    size_t i = j->todo[pi];
    fc_sha256_digest(data, size, j->st[i].hash);
    j->st[i].hashed = 1;
    fc_error e; /* a failed lookup only means computing the item again; a broken store fails the put */
    int stored = all_stored(j, i, &e);
    return stored > 0 ? 0 : 1; /* same bytes already extracted (renamed/copied file): skip */
}

static int on_bad(void *user, size_t pi, const fc_error *err) {
    job *j = user;
    size_t i = j->todo[pi];
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

/* Feature shape of one image from an output tensor (N, ...): trailing 1s dropped, (C, 1, 1) -> (C). */
static int feature_shape(const fc_tensor *t, const char *layer, int *rank, uint32_t *dims, fc_error *err) {
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
 * and planning a batch-1 session when one is new (the shape is only known from the graph). */
static int ensure_extractors(job *j, fc_model **model, fc_error *err) {
    const fc_extract_options *o = j->opt;
    fc_extract_result *res = j->res;
    ex_lookup q = {.res = res};
    int rc = fc_catalog_extractor_list(j->cat, find_extractor, &q, err);
    if (rc) return rc;
    int missing = 0;
    for (int l = 0; l < res->n_layers; l++) missing |= !q.found[l];
    if (!missing) return 0;
    if (!*model) {
        const char *outs[FC_JOB_MAX_LAYERS];
        for (int l = 0; l < res->n_layers; l++) outs[l] = res->layers[l];
        fc_model_options mo = {.outputs = outs, .n_outputs = res->n_layers};
        if ((rc = fc_model_load(o->model, &mo, model, err))) return rc;
        res->model_loaded = 1;
    }
    fc_session *s = NULL;
    fc_session_options so = {.batch = 1, .height = o->size, .width = o->size, .threads = 1};
    if ((rc = fc_session_create(*model, &so, &s, err))) return rc;
    for (int l = 0; l < res->n_layers && rc == 0; l++) {
        if (q.found[l]) continue;
        if ((rc = feature_shape(fc_session_output(s, l), res->layers[l], &res->rank[l], res->dims[l], err))) break;
        fc_catalog_extractor x = {.model_path = o->model, .model_sha256 = j->model_sha,
                                  .layer = res->layers[l], .size = o->size,
                                  .crop = o->crop > 0 && o->crop < 1 ? o->crop : 1.0,
                                  .preprocess = fc_preset_name(o->preset),
                                  .views = "orig,flip,crop-center,crop-tl,crop-tr,crop-bl,crop-br",
                                  .dtype = o->dtype, .rank = res->rank[l]};
        memcpy(x.dims, res->dims[l], sizeof x.dims);
        memcpy(x.id, res->extractor[l], 65);
        rc = fc_catalog_extractor_register(j->cat, &x, err);
    }
    fc_session_free(s);
    return rc;
}

static int on_batch(void *user, const size_t *items, int n_items, int n_views,
                    const fc_tensor *const *outputs, int n_outputs) {
    job *j = user;
    int rc;
    size_t nf = 0;
    for (int b = 0; b < n_items; b++) {
        size_t i = j->todo[items[b]];
        for (int l = 0; l < j->res->n_layers; l++) {
            int64_t per = fc_tensor_count(outputs[l]) / outputs[l]->dims[0];
            for (int v = 0; v < n_views; v++) {
                fc_feature *f = &j->feats[nf++];
                key_of(j, i, l, j->opt->views[v], &f->key);
                f->dtype = j->opt->dtype;
                f->rank = j->res->rank[l];
                memcpy(f->dims, j->res->dims[l], sizeof f->dims);
                f->data = (const float *)outputs[l]->data + ((int64_t)b * n_views + v) * per;
            }
        }
    }
    if ((rc = fc_cache_put(j->cache, j->feats, nf, &j->cb_err))) return rc;
    for (int b = 0; b < n_items; b++) {
        size_t i = j->todo[items[b]];
        j->st[i].status = ST_COMPUTED;
        fill_row(j, i, &j->rows[b]);
    }
    if ((rc = fc_catalog_item_upsert(j->cat, j->res->dataset_id, j->rows, (size_t)n_items, j->stamp, &j->cb_err)))
        return rc;
    j->prog.computed += (size_t)n_items;
    report(j);
    return 0;
}

/* ---- the job ---- */

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

static void params_json(const job *j, fc_strbuf *b) {
    const fc_extract_options *o = j->opt;
    fc_strbuf_printf(b, "{\"dataset\":");
    fc_strbuf_json(b, o->dataset);
    fc_strbuf_printf(b, ",\"model\":");
    fc_strbuf_json(b, o->model);
    fc_strbuf_printf(b, ",\"layers\":[");
    for (int l = 0; l < j->res->n_layers; l++) {
        fc_strbuf_printf(b, l ? "," : "");
        fc_strbuf_json(b, j->res->layers[l]);
    }
    fc_strbuf_printf(b, "],\"size\":%d,\"crop\":%g,\"preprocess\":\"%s\",\"dtype\":\"%s\",\"views\":[",
                     o->size, o->crop > 0 && o->crop < 1 ? o->crop : 1.0, fc_preset_name(o->preset),
                     dtype_name(o->dtype));
    for (int v = 0; v < o->n_views; v++) fc_strbuf_printf(b, "%s\"%s\"", v ? "," : "", fc_view_name(o->views[v]));
    char host[160];
    fc_process_host(host, sizeof host);
    fc_strbuf_printf(b, "],\"pid\":%ld,\"host\":", (long)getpid()); /* see store/runs.h */
    fc_strbuf_json(b, host);
    fc_strbuf_printf(b, "}");
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

int fc_extract_run(const fc_extract_options *opt_in, fc_extract_result *res, fc_error *err) {
    fc_extract_options opt = *opt_in;
    memset(res, 0, sizeof *res);
    job j;
    memset(&j, 0, sizeof j);
    j.opt = &opt;
    j.res = res;
    j.t0 = omp_get_wtime();
    known_rows known = {0};
    fc_model *model = NULL;
    int rc;
    static const int orig_only[1] = {FC_VIEW_ORIG};
    if (!opt.views || opt.n_views < 1) { opt.views = orig_only; opt.n_views = 1; }
    if (opt.n_views > FC_MAX_VIEWS || opt.n_layers < 0 || opt.n_layers > FC_JOB_MAX_LAYERS)
        return fc_fail(err, FC_EINVAL, "extract: at most %d views and %d layers", FC_MAX_VIEWS, FC_JOB_MAX_LAYERS);
    if (!opt.batch) opt.batch = 16;
    if ((rc = fc_dataset_scan(opt.dataset, opt.layout, &j.ds, err))) return rc;
    if ((rc = mkdir_p(opt.cache_dir, err))) goto out;
    fc_cache_options co = {.max_map_size = opt.max_map_size};
    if ((rc = fc_cache_open(opt.cache_dir, 0, &co, &j.cache, err))) goto out;
    if ((rc = fc_catalog_open(opt.cache_dir, 0, 0, &j.cat, err))) goto out;

    char default_layer[256];
    int mh, mw;
    if ((rc = fc_model_facts(j.cat, opt.model, j.model_sha, default_layer, sizeof default_layer, &mh, &mw, err)))
        goto out;
    if (!opt.size) opt.size = mh;
    if (opt.size <= 0) { rc = fc_fail(err, FC_EINVAL, "%s: the model's input size is not fixed; give --size", opt.model); goto out; }
    res->n_layers = opt.n_layers ? opt.n_layers : 1;
    for (int l = 0; l < res->n_layers; l++) {
        snprintf(res->layers[l], sizeof res->layers[l], "%s", opt.n_layers ? opt.layers[l] : default_layer);
        fc_extractor_id(j.model_sha, res->layers[l], opt.size, opt.crop, opt.preset, opt.dtype, res->extractor[l]);
    }

    char name[256];
    if (opt.name && *opt.name) snprintf(name, sizeof name, "%s", opt.name);
    else fc_dataset_default_name(opt.dataset, name, sizeof name);
    char root[PATH_MAX];
    if (!realpath(j.ds.root, root)) snprintf(root, sizeof root, "%s", j.ds.root);
    if (!(opt.name && *opt.name) && (rc = check_name_free(j.cat, name, root, err))) goto out;
    if ((rc = fc_catalog_dataset_upsert(j.cat, name, root, fc_layout_name(j.ds.layout), &res->dataset_id, err))) goto out;
    if ((rc = ensure_extractors(&j, &model, err))) goto out;
    fc_error ignored; /* housekeeping of earlier killed runs must not stop this one */
    fc_extract_mark_interrupted(j.cat, NULL, &ignored);
    fc_strbuf params = {0};
    params_json(&j, &params);
    for (int l = 0; l < res->n_layers && rc == 0; l++) {
        rc = params.failed ? fc_fail(err, FC_ENOMEM, "out of memory")
                           : fc_catalog_run_begin(j.cat, FC_RUN_EXTRACT, res->dataset_id, res->extractor[l],
                                                  params.s, &j.runs[l], err);
        if (rc == 0) j.n_runs++;
    }
    fc_strbuf_free(&params);
    if (rc) goto out;
    res->run_id = j.runs[0];
    j.stamp = res->run_id;

    /* what the catalog already knows: merge-join by path (both sorted the same way) */
    if ((rc = fc_catalog_item_list(j.cat, res->dataset_id, FC_ITEMS_ALL, collect_row, &known, err))) goto out;
    j.st = calloc(j.ds.n, sizeof *j.st);
    j.todo = malloc(j.ds.n * sizeof *j.todo);
    if (!j.st || !j.todo) { rc = fc_fail(err, FC_ENOMEM, "out of memory"); goto out; }
    size_t n_todo = 0, k = 0;
    j.prog.total = j.ds.n;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    j.racy_after = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec - RACY_NS;
    for (size_t i = 0; i < j.ds.n; i++) {
        item_state *s = &j.st[i];
        struct stat st;
        s->size = s->mtime = -1;
        if (stat(j.ds.items[i].path, &st) == 0) { s->size = st.st_size; s->mtime = mtime_ns(&st); }
        while (k < known.n && strcmp(known.rows[k].path, j.ds.items[i].rel) < 0) k++;
        const fc_catalog_item *r = k < known.n && !strcmp(known.rows[k].path, j.ds.items[i].rel) ? &known.rows[k] : NULL;
        int unchanged = r && s->size >= 0 && r->size == s->size && r->mtime == s->mtime;
        if (unchanged && r->has_hash) { /* the same bytes as hashed before (kept for bad items too) */
            memcpy(s->hash, r->sha256, 32);
            s->hashed = 1;
        }
        if (unchanged && r->status == FC_ITEM_BAD) { /* known bad: keep its reason */
            s->status = ST_BAD;
            s->error = strdup(r->error ? r->error : "unreadable");
            j.prog.bad++;
            continue;
        }
        if (s->hashed) {
            int stored = all_stored(&j, i, err);
            if (stored < 0) { rc = stored; goto out; }
            if (stored) { s->status = ST_CACHED; j.prog.cached++; continue; }
        }
        j.todo[n_todo++] = i;
    }

    if (n_todo) {
        if (!model) {
            const char *outs[FC_JOB_MAX_LAYERS];
            for (int l = 0; l < res->n_layers; l++) outs[l] = res->layers[l];
            fc_model_options mo = {.outputs = outs, .n_outputs = res->n_layers};
            if ((rc = fc_model_load(opt.model, &mo, &model, err))) goto out;
            res->model_loaded = 1;
        }
        j.paths = malloc(n_todo * sizeof *j.paths);
        j.feats = malloc((size_t)opt.batch * res->n_layers * opt.n_views * sizeof *j.feats);
        j.rows = malloc((size_t)opt.batch * sizeof *j.rows);
        if (!j.paths || !j.feats || !j.rows) { rc = fc_fail(err, FC_ENOMEM, "out of memory"); goto out; }
        for (size_t t = 0; t < n_todo; t++) j.paths[t] = j.ds.items[j.todo[t]].path;
        fc_pipeline_options po = {.model = model, .pre = {.width = opt.size, .height = opt.size, .crop = opt.crop, .preset = opt.preset},
                                  .views = opt.views, .n_views = opt.n_views, .batch = opt.batch, .threads = opt.threads,
                                  .decode_threads = opt.decode_threads, .cancel = opt.cancel,
                                  .layer_parallel = opt.layer_parallel};
        fc_pipeline_callbacks cb = {.user = &j, .on_bytes = on_bytes, .on_bad = on_bad, .on_batch = on_batch};
        rc = fc_pipeline_run(&po, j.paths, n_todo, &cb, err);
        if (rc && j.cb_err.code) { /* the callback's own reason beats "aborted" */
            *err = j.cb_err;
            rc = err->code;
        }
        for (size_t t = 0; t < n_todo; t++) { /* skipped by content: same bytes already stored */
            item_state *s = &j.st[j.todo[t]];
            if (s->status == ST_PENDING && s->hashed && rc == 0) { s->status = ST_CACHED; j.prog.cached++; }
        }
        if (rc) goto out;
    }
    /* every item's row with this run's stamp, then drop rows of files that are gone */
    fc_catalog_item *rows = malloc((j.ds.n + 1) * sizeof *rows);
    if (!rows) { rc = fc_fail(err, FC_ENOMEM, "out of memory"); goto out; }
    size_t nr = 0;
    for (size_t i = 0; i < j.ds.n; i++)
        if (j.st[i].status != ST_PENDING) fill_row(&j, i, &rows[nr++]);
    rc = fc_catalog_item_sync(j.cat, res->dataset_id, rows, nr, j.stamp, NULL, err); /* one transaction */
    free(rows);
out:
    report(&j);
    res->counts = j.prog;
    for (int l = 0; l < j.n_runs; l++) {
        fc_strbuf r = {0};
        fc_strbuf_printf(&r, "{\"items\":%zu,\"computed\":%zu,\"cached\":%zu,\"bad\":%zu,\"seconds\":%.3f",
                         j.prog.total, j.prog.computed, j.prog.cached, j.prog.bad, j.prog.seconds);
        if (rc) { fc_strbuf_printf(&r, ",\"error\":"); fc_strbuf_json(&r, err->msg); }
        fc_strbuf_printf(&r, "}");
        fc_run_status status = rc ? FC_RUN_FAILED : j.prog.bad ? FC_RUN_PARTIAL : FC_RUN_OK;
        /* the caller gets rc and err either way; a record left 'running' is marked interrupted by
         * the next extract */
        fc_error ignored;
        fc_catalog_run_finish(j.cat, j.runs[l], status, r.failed ? NULL : r.s, &ignored);
        fc_strbuf_free(&r);
    }
    for (size_t i = 0; j.st && i < j.ds.n; i++) free(j.st[i].error);
    free(j.st);
    free(j.todo);
    free(j.paths);
    free(j.feats);
    free(j.rows);
    free_known(&known);
    fc_model_free(model);
    fc_catalog_close(j.cat);
    fc_cache_close(j.cache);
    fc_dataset_free(&j.ds);
    return rc;
}
