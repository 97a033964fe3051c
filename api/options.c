/* api_read_opts_parse, api_extract_opts_parse (see options.h). */
#include "api/options.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int parse_int(const char *key, const char *s, long lo, long hi, long *out, fc_error *err) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return fc_fail(err, FC_EINVAL, "%s wants a whole number from %ld to %ld, not '%s'", key, lo, hi, s);
    *out = v;
    return 0;
}

/* The options every extractor has (as the CLI's extractor options); 1 when key is none of them. */
static int extractor_option(fc_extractor_def *x, const char *key, const char *v, fc_error *err) {
    long n;
    if (!strcmp(key, "model")) x->model = v;
    else if (!strcmp(key, "size")) {
        if (parse_int(key, v, 8, 8192, &n, err)) return FC_EINVAL;
        x->size = (int)n;
    } else if (!strcmp(key, "crop")) {
        char *end;
        double c = strtod(v, &end);
        if (end == v || *end || !(c >= 0.05 && c <= 1.0))
            return fc_fail(err, FC_EINVAL, "crop wants a number from 0.05 to 1, not '%s'", v);
        x->crop = (float)c;
    } else if (!strcmp(key, "preprocess")) return fc_preset_parse(v, &x->preset, err);
    else if (!strcmp(key, "dtype")) {
        if (!strcmp(v, "f32")) x->dtype = FC_DTYPE_F32;
        else if (!strcmp(v, "f16")) x->dtype = FC_DTYPE_F16;
        else return fc_fail(err, FC_EINVAL, "dtype wants f32 or f16, not '%s'", v);
    } else if (!strcmp(key, "grayscale")) x->gray = strcmp(v, "0") != 0;
    else if (!strcmp(key, "compute")) return fc_compute_parse(v, &x->compute, err) ? FC_EINVAL : 0;
    else if (!strcmp(key, "exif_orientation")) return fc_exif_parse(v, &x->exif, err) ? FC_EINVAL : 0;
    else return 1;
    return 0;
}

static void extractor_defaults(fc_extractor_def *x) {
    x->crop = 1;
    x->preset = FC_PRESET_TF;
    x->dtype = FC_DTYPE_F32;
}

int api_read_opts_parse(const char *const *kv, api_read_opts *r, fc_error *err) {
    memset(r, 0, sizeof *r);
    extractor_defaults(&r->x);
    for (; kv && kv[0]; kv += 2) {
        const char *key = kv[0], *v = kv[1] ? kv[1] : "";
        int rc = extractor_option(&r->x, key, v, err);
        if (rc <= 0) { if (rc) return rc; continue; }
        if (!strcmp(key, "layer")) r->layer = v;
        else if (!strcmp(key, "name")) r->name = v;
        else if (!strcmp(key, "strict")) r->strict = strcmp(v, "0") != 0;
        else if (!strcmp(key, "view")) {
            for (r->view = 0; r->view < FC_N_VIEWS && strcmp(v, fc_view_name(r->view)); r->view++) {}
            if (r->view == FC_N_VIEWS)
                return fc_fail(err, FC_EINVAL, "view wants orig, flip, crop-center, crop-tl, crop-tr, crop-bl or crop-br, "
                               "not '%s'", v);
        } else return fc_fail(err, FC_EINVAL, "unknown option '%s'", key);
    }
    if (r->layer) { r->x.layers = &r->layer; r->x.n_layers = 1; }
    if (!r->x.model) return fc_fail(err, FC_EINVAL, "model is required");
    return 0;
}

/* The options only an extraction has; 1 when key is none of them. */
static int job_option(api_extract_opts *e, const char *key, const char *v, fc_error *err) {
    fc_extractor_def *x = &e->o.extractor;
    fc_extract_compute *c = &e->o.compute;
    long n;
    if (!strcmp(key, "layer")) {
        if (x->n_layers == FC_JOB_MAX_LAYERS) return fc_fail(err, FC_EINVAL, "at most %d layers", FC_JOB_MAX_LAYERS);
        e->layers[x->n_layers++] = v;
        x->layers = e->layers;
    } else if (!strcmp(key, "views")) {
        if (fc_views_parse(v, e->views, &x->n_views, err)) return fc_error_prefix(err, "views: ");
        x->views = e->views;
    } else if (!strcmp(key, "batch") || !strcmp(key, "threads") || !strcmp(key, "decoders")) {
        int *dst = key[0] == 'b' ? &c->batch : key[0] == 't' ? &c->threads : &c->decode_threads;
        if (parse_int(key, v, 1, key[0] == 'b' ? 4096 : key[0] == 't' ? 1024 : 64, &n, err)) return FC_EINVAL;
        *dst = (int)n;
    } else if (!strcmp(key, "name")) e->o.dataset.name = v;
    else if (!strcmp(key, "format")) return fc_layout_parse(v, &e->o.dataset.layout, err);
    else if (!strcmp(key, "max_cache_size")) {
        char *end;
        errno = 0;
        unsigned long long b = strtoull(v, &end, 10);
        if (errno || end == v || *end || b < 65536)
            return fc_fail(err, FC_EINVAL, "max_cache_size wants a number of bytes of at least 65536, not '%s'", v);
        e->o.cache.max_map_size = (size_t)b;
    } else return 1;
    return 0;
}

int api_extract_opts_parse(const char *const *kv, api_extract_opts *e, fc_error *err) {
    memset(e, 0, sizeof *e);
    extractor_defaults(&e->o.extractor);
    for (; kv && kv[0]; kv += 2) {
        const char *key = kv[0], *v = kv[1] ? kv[1] : "";
        int rc = extractor_option(&e->o.extractor, key, v, err);
        if (rc == 1) rc = job_option(e, key, v, err);
        if (rc == 1) return fc_fail(err, FC_EINVAL, "unknown option '%s'", key);
        if (rc) return rc;
    }
    if (!e->o.extractor.model) return fc_fail(err, FC_EINVAL, "model is required");
    return 0;
}
