/* cli_head_file (see head_file.h). */
#include "cli/head_file.h"

#include <stdlib.h>
#include <string.h>

#include "classify/classify.h"
#include "core/core.h"
#include "engine/engine.h"

/* A finetune classifier, or a conv head's classifier or head-only file: its classes, and its cut
 * (a conv head's map) in place of the head's feature. 1 when path is one, 0 when not, < 0 on
 * errors. */
static int load_classifier(const char *path, cli_head_file *h, fc_error *err) {
    char **names = NULL;
    int k = 0, rc = fc_onnx_read_classes(path, &names, &k, &h->meta, err);
    double ft = 0, conv = 0, dims[4];
    if (rc < 0) return rc;
    if (h->meta) {
        fc_json_get_number(h->meta, "finetune", &ft);
        fc_json_get_number(h->meta, "conv_head", &conv);
    }
    if (rc == 0 || !h->meta || (ft != 1 && conv != 1) ||
        fc_json_get_string(h->meta, "cut", h->layer, sizeof h->layer) ||
        fc_json_get_string(h->meta, "cut_extractor", h->extractor, sizeof h->extractor)) {
        for (int i = 0; i < k; i++) free(names[i]);
        free(names);
        free(h->meta);
        h->meta = NULL;
        return 0;
    }
    h->head.n_classes = k;
    h->head.class_names = names;
    h->finetuned = 1;
    const char *p = strstr(h->meta, "\"cut_dims\":[");
    if (p) h->cut_rank = sscanf(p + 12, "%lf,%lf,%lf,%lf", &dims[0], &dims[1], &dims[2], &dims[3]);
    for (int i = 0; i < h->cut_rank; i++) h->cut_dims[i] = (int64_t)dims[i];
    if (h->cut_rank < 1) return fc_fail(err, FC_EFORMAT, "%s: the classifier does not record its cut's shape", path);
    return 1;
}

int cli_head_file_load(const char *path, cli_head_file *h, fc_error *err) {
    memset(h, 0, sizeof *h);
    h->path = path;
    int rc = fc_head_load_onnx(path, &h->head, &h->meta, err);
    if (rc == FC_EFORMAT) {
        fc_error e2 = {0};
        int c = load_classifier(path, h, &e2);
        if (c < 0) *err = e2;
        if (c) rc = c < 0 ? c : 0;
    }
    if (rc) return rc;
    char preset[32] = "", view[32] = "orig";
    double size = 0;
    if (!h->meta || fc_json_get_string(h->meta, "model", h->model, sizeof h->model) ||
        fc_json_get_string(h->meta, "model_sha256", h->model_sha, sizeof h->model_sha) ||
        fc_json_get_string(h->meta, "layer", h->layer, sizeof h->layer) ||
        fc_json_get_string(h->meta, "extractor", h->extractor, sizeof h->extractor) ||
        fc_json_get_string(h->meta, "preprocess", preset, sizeof preset) ||
        fc_json_get_number(h->meta, "size", &size) || fc_json_get_number(h->meta, "crop", &h->crop) ||
        fc_preset_parse(preset, &h->preset, NULL)) {
        cli_head_file_free(h);
        return fc_fail(err, FC_EFORMAT, "%s: the head file does not record its feature extractor (train it with "
                       "featcache train)", path);
    }
    if (h->finetuned) { /* its features are the cut's activations */
        fc_json_get_string(h->meta, "cut", h->layer, sizeof h->layer);
        fc_json_get_string(h->meta, "cut_extractor", h->extractor, sizeof h->extractor);
    }
    double gray = 0;
    h->gray = !fc_json_get_number(h->meta, "grayscale", &gray) && gray == 1;
    char compute[16] = "f32";
    fc_json_get_string(h->meta, "compute", compute, sizeof compute);
    if (fc_compute_parse(compute, &h->compute, NULL)) {
        cli_head_file_free(h);
        return fc_fail(err, FC_EFORMAT, "%s: unknown compute '%s' in the head file", path, compute);
    }
    char exif[16] = "";
    fc_json_get_string(h->meta, "exif_orientation", exif, sizeof exif);
    h->exif = !strcmp(exif, "ignore") ? FC_EXIF_IGNORE : FC_EXIF_APPLY;
    fc_json_get_string(h->meta, "view", view, sizeof view);
    fc_json_get_string(h->meta, "dataset", h->dataset, sizeof h->dataset);
    h->size = (int)size;
    h->view = 0;
    for (int v = 0; v < FC_N_VIEWS; v++)
        if (!strcmp(view, fc_view_name(v))) h->view = v;
    return 0;
}

size_t cli_head_file_input_size(const cli_head_file *h) {
    if (!h->finetuned) return (size_t)h->head.layers[0].in;
    size_t n = 1;
    for (int i = 0; i < h->cut_rank; i++) n *= (size_t)h->cut_dims[i];
    return n;
}

/* The classifier's top, from its cut to `probabilities`, on batches of X. */
static int classifier_proba(const cli_head_file *h, const float *X, int n, float *P, int threads, fc_error *err) {
    int batch = n < 32 ? n : 32;
    fc_train_net_options o = {.threads = threads, .cut_rank = h->cut_rank};
    memcpy(o.cut_dims, h->cut_dims, sizeof o.cut_dims);
    fc_train_net *net = NULL;
    size_t in = cli_head_file_input_size(h), K = (size_t)h->head.n_classes;
    int rc = fc_train_net_build(h->path, h->layer, "probabilities", batch, &o, &net, err);
    if (!rc && fc_train_net_feature_size(net) != K)
        rc = fc_fail(err, FC_ESHAPE, "%s: 'probabilities' has %zu values, the classifier names %zu classes", h->path,
                     fc_train_net_feature_size(net), K);
    for (int s = 0; !rc && s < n; s += batch) {
        int m = n - s < batch ? n - s : batch;
        rc = fc_train_net_forward(net, X + (size_t)s * in, m, P + (size_t)s * K, err);
    }
    fc_train_net_free(net);
    return rc;
}

int cli_head_file_proba(const cli_head_file *h, const float *X, int n, float *P, int threads, fc_error *err) {
    if (h->finetuned) return classifier_proba(h, X, n, P, threads, err);
    return fc_head_predict_proba(&h->head, X, n, (int)cli_head_file_input_size(h), P, threads, err);
}

void cli_head_file_free(cli_head_file *h) {
    fc_head_free(&h->head);
    free(h->meta);
    h->meta = NULL;
}

int cli_head_backbone(const cli_head_file *h, const char *given, const char *given_fp, int force, const char **path,
                      int *forced, fc_error *err) {
    *forced = 0;
    if (given && !strcmp(given_fp, h->model_sha)) { *path = given; return 0; }
    char fp[65] = "", why[600] = "";
    fc_error e = {0};
    if (fc_model_fingerprint(h->model, fp, NULL, &e) == 0 && !strcmp(fp, h->model_sha)) { *path = h->model; return 0; }
    if (!fp[0]) snprintf(why, sizeof why, "cannot be read: %s", e.msg);
    else snprintf(why, sizeof why, "has fingerprint %.12s now", fp);
    if (force) {
        *path = given ? given : h->model;
        *forced = 1;
        return 0;
    }
    char other[4400] = "";
    if (given && strcmp(given, h->model))
        snprintf(other, sizeof other, "; --model %s has fingerprint %.12s", given, given_fp);
    return fc_fail(err, FC_EINVAL, "%s was trained on the features of %s (fingerprint %.12s), which %s%s: the backbone "
                   "changed under the head; --force to run it anyway", h->path, h->model, h->model_sha, why, other);
}

typedef struct rebase_ctx {
    const cli_head_file *h;
    fc_dtype dtype;
    const char *const *ids; /* the data set's extractors */
    int n_ids, found;
    char *id, *model, *fp;
} rebase_ctx;

static int match_rebased(void *user, const fc_catalog_extractor *x) {
    rebase_ctx *c = user;
    const cli_head_file *h = c->h;
    char want[65];
    int used = 0;
    for (int i = 0; i < c->n_ids; i++) used |= !strcmp(c->ids[i], x->id);
    if (!used || !strcmp(x->model_sha256, h->model_sha)) return 0;
    fc_extractor_id(x->model_sha256, h->layer, FC_POOL_NONE, h->size, (float)h->crop, h->preset, h->gray, c->dtype, h->exif, want);
    fc_extractor_id_compute(want, h->compute, want);
    if (strcmp(want, x->id)) return 0;
    snprintf(c->id, 65, "%s", x->id);
    snprintf(c->model, 4096, "%s", x->model_path);
    snprintf(c->fp, 65, "%s", x->model_sha256);
    c->found = 1; /* the last one by id: any of them is this head's pipeline */
    return 0;
}

typedef struct id_list { char **id; int n; } id_list;

static int add_id(void *user, const char *id) {
    id_list *l = user;
    char **grown = realloc(l->id, (size_t)(l->n + 1) * sizeof *grown);
    if (!grown) return FC_ENOMEM;
    l->id = grown;
    return (l->id[l->n] = strdup(id)) ? (l->n++, 0) : FC_ENOMEM;
}

int cli_head_rebased(fc_catalog *cat, int64_t ds_id, const cli_head_file *h, char id[65], char *model, char fp[65],
                     fc_error *err) {
    rebase_ctx c = {.h = h, .id = id, .model = model, .fp = fp, .dtype = 0};
    static const fc_dtype dtypes[2] = {FC_DTYPE_F32, FC_DTYPE_F16};
    for (int d = 0; d < 2 && !c.dtype; d++) { /* the head's dtype: the one that gives its own id */
        char mine[65];
        fc_extractor_id(h->model_sha, h->layer, FC_POOL_NONE, h->size, (float)h->crop, h->preset, h->gray, dtypes[d], h->exif, mine);
        fc_extractor_id_compute(mine, h->compute, mine);
        if (!strcmp(mine, h->extractor)) c.dtype = dtypes[d];
    }
    if (!c.dtype) return 0; /* an id this pipeline does not make (a pooled layer): no guessing */
    id_list ids = {0};
    int rc = fc_catalog_dataset_extractors(cat, ds_id, add_id, &ids, err);
    int own = 0; /* extracted with the head's own extractor: nothing to look for */
    for (int i = 0; i < ids.n; i++) own |= !strcmp(ids.id[i], h->extractor);
    if (rc == FC_ENOMEM) rc = fc_fail(err, FC_ENOMEM, "out of memory");
    c.ids = (const char *const *)ids.id;
    c.n_ids = ids.n;
    if (rc == 0 && !own) rc = fc_catalog_extractor_list(cat, match_rebased, &c, err);
    for (int i = 0; i < ids.n; i++) free(ids.id[i]);
    free(ids.id);
    return rc ? rc : c.found;
}

int cli_heads_same_classes(const cli_head_file *h, int n, fc_error *err) {
    for (int i = 1; i < n; i++) {
        int same = h[i].head.n_classes == h[0].head.n_classes;
        for (int c = 0; same && c < h[0].head.n_classes; c++)
            same = h[i].head.class_names && h[0].head.class_names &&
                   !strcmp(h[i].head.class_names[c], h[0].head.class_names[c]);
        if (!same)
            return fc_fail(err, FC_EINVAL, "%s and %s have different classes: an ensemble averages heads "
                           "trained on the same labels", h[0].path, h[i].path);
    }
    return 0;
}
