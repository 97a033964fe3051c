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
