/* Cached maps for training commands (see cut_cache.h). */
#include "cli/cut_cache.h"

#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"

typedef struct cut_progress {
    int show;
} cut_progress;

static void progress(void *user, const fc_job_progress *p) {
    const cut_progress *c = user;
    if (c->show) fprintf(stderr, "\r  caching the cut: %zu/%zu  computed %zu  cached %zu  bad %zu   ", p->done, p->total,
                         p->computed, p->cached, p->bad);
}

int cli_cache_cut(const cli_extractor *x, const char *path, const char *tensor, const char *cache_dir, int threads,
                  const fc_split_spec *split, volatile int *cancel, int show, fc_extract_result *er, fc_error *err) {
    const char *layers[1] = {tensor};
    cut_progress c = {.show = show};
    fc_extract_options o = {
        .extractor = {.model = x->model, .layers = layers, .n_layers = 1, .size = x->size, .crop = (float)x->crop,
                      .preset = x->preset, .gray = x->gray, .compute = x->compute, .exif = x->exif, .dtype = x->dtype, .views = x->views,
                      .n_views = x->n_views},
        .dataset = {.path = path, .name = x->name},
        .cache = {.dir = cache_dir},
        .compute = {.threads = threads, .views_split = split && split->kind == FC_SPLIT_FOLDERS ? "train" : NULL},
        .control = {.cancel = cancel, .progress = progress, .user = &c}};
    int rc = fc_extract_run(&o, er, err);
    malloc_trim(0); /* the pipeline's threads freed their buffers into their own malloc arenas:
                       give them back before training allocates its own */
    if (show) fprintf(stderr, "\r%70s\r", "");
    return rc;
}

typedef struct place {
    const char *name;
    char *root;
    size_t cap;
    int found;
} place;

static int find_place(void *user, const fc_catalog_dataset *d) {
    place *p = user;
    if (strcmp(d->name, p->name) || !strcmp(d->format, "csv")) return 0; /* a manifest's name is not kept */
    snprintf(p->root, p->cap, "%s", d->root);
    p->found = 1;
    return 0;
}

int cli_dataset_root(fc_catalog *cat, const char *name, char *root, size_t cap) {
    place p = {.name = name, .root = root, .cap = cap};
    if (cap) root[0] = 0;
    fc_catalog_dataset_list(cat, find_place, &p, NULL);
    return p.found;
}

int cli_checkpoint_path(fc_strbuf *path, const char *cache_dir, const char *params, fc_error *err) {
    uint8_t h[32];
    char hex[65];
    fc_sha256_digest(params, strlen(params), h);
    fc_hex_encode(h, 32, hex);
    fc_strbuf_printf(path, "%s/finetune", cache_dir);
    if (mkdir(path->s, 0777) != 0 && errno != EEXIST)
        return fc_fail(err, FC_EIO, "%s: cannot create: %s", path->s, strerror(errno));
    fc_strbuf_printf(path, "/%.32s.ckpt", hex);
    return 0;
}
