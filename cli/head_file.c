/* cli_head_file (see head_file.h). */
#include "cli/head_file.h"

#include <stdlib.h>
#include <string.h>

#include "classify/classify.h"
#include "core/core.h"

int cli_head_file_load(const char *path, cli_head_file *h, fc_error *err) {
    memset(h, 0, sizeof *h);
    h->path = path;
    int rc = fc_head_load_onnx(path, &h->head, &h->meta, err);
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
    fc_json_get_string(h->meta, "view", view, sizeof view);
    fc_json_get_string(h->meta, "dataset", h->dataset, sizeof h->dataset);
    h->size = (int)size;
    h->view = 0;
    for (int v = 0; v < FC_N_VIEWS; v++)
        if (!strcmp(view, fc_view_name(v))) h->view = v;
    return 0;
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
