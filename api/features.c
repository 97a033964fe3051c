/* fc_api_features_* (see featcache.h): a data set's features as `featcache export` reads them
 * (fc_featureset_load with the extractor the CLI's options resolve to), filtered to one split, with
 * the per-row strings packed for a binding. Not here: writing files (cli/cmd_export.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"
#include "api/options.h"
#include "extract/extract.h"
#include "store/store.h"

struct fc_api_features {
    size_t rows, dim;
    int rank;
    unsigned dims[FC_FEATURE_MAX_RANK];
    float *x;                 /* (rows, dim) */
    fc_strbuf strings[4];     /* paths, labels, splits, hashes: NUL-terminated, one per row */
    fc_strbuf info;           /* JSON */
};

/* Keeps the rows of fs in `split` (all when NULL) in f, in their order. */
static int take_rows(const fc_featureset *fs, const char *split, fc_api_features *f, fc_error *err) {
    f->dim = fs->dim;
    f->rank = fs->rank;
    for (int d = 0; d < fs->rank; d++) f->dims[d] = fs->dims[d];
    f->x = malloc((fs->n ? fs->n : 1) * (fs->dim ? fs->dim : 1) * sizeof *f->x);
    if (!f->x) return fc_fail(err, FC_ENOMEM, "out of memory");
    for (size_t i = 0; i < fs->n; i++) {
        if (split && strcmp(fs->splits[i], split)) continue;
        memcpy(f->x + f->rows * fs->dim, fs->x + i * fs->dim, fs->dim * sizeof *f->x);
        const char *s[3] = {fs->paths[i], fs->labels[i], fs->splits[i]};
        char hex[65];
        fc_hex_encode(fs->hashes[i], 32, hex);
        for (int k = 0; k < 4; k++) {
            const char *v = k < 3 ? s[k] : hex;
            size_t before = f->strings[k].len;
            fc_strbuf_printf(&f->strings[k], "%s%c", v, 0);
            if (f->strings[k].len != before + strlen(v) + 1) f->strings[k].failed = 1;
        }
        f->rows++;
    }
    for (int k = 0; k < 4; k++)
        if (f->strings[k].failed) return fc_fail(err, FC_ENOMEM, "out of memory");
    return 0;
}

/* "train, val" (the distinct splits of fs, in order of appearance) into b. */
static void split_names(const fc_featureset *fs, fc_strbuf *b) {
    for (size_t i = 0; i < fs->n; i++) {
        size_t j = 0;
        while (j < i && strcmp(fs->splits[j], fs->splits[i])) j++;
        if (j == i && fs->splits[i][0]) fc_strbuf_printf(b, "%s%s", b->len ? ", " : "", fs->splits[i]);
    }
}

static void info_json(fc_api_features *f, const api_read_opts *r, const char *dataset, const fc_extractor_ref *ref,
                      const fc_featureset *fs, const char *warning) {
    fc_strbuf *b = &f->info;
    fc_strbuf_printf(b, "{\"dataset\":");
    fc_strbuf_json(b, dataset);
    fc_strbuf_printf(b, ",\"extractor\":\"%s\",\"layer\":", ref->id);
    fc_strbuf_json(b, ref->layer);
    fc_strbuf_printf(b, ",\"model_sha256\":\"%s\",\"size\":%d,\"view\":\"%s\",\"rows\":%zu,\"items\":%zu,\"bad\":%zu,"
                        "\"dims\":[", ref->model_sha, ref->size, fc_view_name(r->view), f->rows, fs->n, fs->n_bad);
    for (int d = 0; d < f->rank; d++) fc_strbuf_printf(b, "%s%u", d ? "," : "", f->dims[d]);
    fc_strbuf_printf(b, "],\"warning\":");
    if (warning) fc_strbuf_json(b, warning);
    else fc_strbuf_printf(b, "null");
    fc_strbuf_printf(b, "}");
}

/* Resolves the extractor, checks the last extract finished (a warning, or with strict an error),
 * loads the set and keeps the split's rows. */
static int load(const char *dir, const char *dataset_arg, const api_read_opts *r, const char *split,
                fc_api_features *f, fc_error *err) {
    fc_catalog *cat = NULL;
    fc_cache *cache = NULL;
    fc_featureset fs = {0};
    fc_extractor_ref ref;
    fc_strbuf names = {0};
    char dataset[256], what[300], warning[1200];
    if (r->name && *r->name) snprintf(dataset, sizeof dataset, "%s", r->name);
    else fc_dataset_default_name(dataset_arg, dataset, sizeof dataset);
    int rc = fc_catalog_open(dir, FC_CATALOG_RDONLY, 0, &cat, err);
    if (!rc) rc = fc_cache_open(dir, FC_CACHE_RDONLY, NULL, &cache, err);
    if (!rc) rc = fc_extractor_resolve(cat, &r->x, &ref, err);
    if (!rc) {
        snprintf(what, sizeof what, "layer %s", ref.layer);
        rc = fc_extract_check(cat, dataset, ref.id, what, warning, 1000, err);
        if (rc == 1 && r->strict) rc = fc_fail(err, FC_EINVAL, "%s (rerun featcache extract to complete it)", warning);
        else if (rc == 1) { strcat(warning, "; " FC_EXTRACT_INCOMPLETE_HINT); rc = 0; }
        else if (rc == 0) warning[0] = 0;
    }
    if (!rc) rc = fc_featureset_load(cat, cache, dataset, ref.id, r->view, &fs, err);
    if (!rc) rc = take_rows(&fs, split, f, err);
    if (!rc && split && !f->rows) {
        split_names(&fs, &names);
        rc = fc_fail(err, FC_EINVAL, "data set '%s' has no item in split '%s' (%s%s)", dataset, split,
                     names.len ? "its splits: " : "it has no splits", names.len ? names.s : "");
    }
    if (!rc) info_json(f, r, dataset, &ref, &fs, warning[0] ? warning : NULL);
    if (!rc && f->info.failed) rc = fc_fail(err, FC_ENOMEM, "out of memory");
    fc_strbuf_free(&names);
    fc_featureset_free(&fs);
    fc_cache_close(cache);
    fc_catalog_close(cat);
    return rc;
}

int fc_api_features_load(const char *cache_dir, const char *dataset, const char *const *options, const char *split,
                         fc_api_features **out, fc_api_error *status) {
    fc_error err = {0};
    api_read_opts r;
    *out = NULL;
    fc_api_features *f = calloc(1, sizeof *f);
    int rc = f ? 0 : fc_fail(&err, FC_ENOMEM, "out of memory");
    if (!rc && !dataset) rc = fc_fail(&err, FC_EINVAL, "no data set given");
    if (!rc) rc = api_read_opts_parse(options, &r, &err);
    if (!rc) rc = load(fc_cache_dir(cache_dir), dataset, &r, split, f, &err);
    if (rc) { fc_api_features_free(f); return api_status(rc, &err, status); }
    *out = f;
    return api_status(0, &err, status);
}

void fc_api_features_shape(const fc_api_features *f, size_t *rows, int *rank, unsigned dims[8]) {
    *rows = f->rows;
    *rank = f->rank;
    for (int d = 0; d < 8; d++) dims[d] = d < f->rank ? f->dims[d] : 0;
}

int fc_api_features_copy(const fc_api_features *f, float *dst, size_t n, fc_api_error *status) {
    fc_error err = {0};
    if (n != f->rows * f->dim)
        return api_status(fc_fail(&err, FC_EINVAL, "the buffer holds %zu floats, the features %zu x %zu", n, f->rows,
                                  f->dim), &err, status);
    if (n) memcpy(dst, f->x, n * sizeof *dst);
    return api_status(0, &err, status);
}

const char *fc_api_features_strings(const fc_api_features *f, int which, size_t *bytes) {
    if (which < 0 || which > 3) return NULL;
    *bytes = f->strings[which].len;
    return f->strings[which].s ? f->strings[which].s : "";
}

const char *fc_api_features_info(const fc_api_features *f) { return f->info.s; }

void fc_api_features_free(fc_api_features *f) {
    if (!f) return;
    free(f->x);
    for (int k = 0; k < 4; k++) fc_strbuf_free(&f->strings[k]);
    fc_strbuf_free(&f->info);
    free(f);
}
