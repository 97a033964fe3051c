/* fc_api_version, fc_api_list, fc_api_free (see featcache.h): the catalog's listings as JSON. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"
#include "store/store.h"

int api_status(int rc, const fc_error *e, fc_api_error *out) {
    int code = rc && e->code ? e->code : rc;
    if (out) {
        out->code = code;
        snprintf(out->message, sizeof out->message, "%s", code ? e->msg : "");
    }
    return code;
}

int fc_api_version(void) { return FC_API_VERSION; }

void fc_api_free(void *p) { free(p); }

typedef struct lister {
    fc_strbuf *b;
    fc_cache *cache;
    int n;
} lister;

static void member(fc_strbuf *b, const char *key, const char *value) {
    fc_strbuf_printf(b, ",\"%s\":", key);
    if (value) fc_strbuf_json(b, value);
    else fc_strbuf_printf(b, "null");
}

static int list_dataset(void *user, const fc_catalog_dataset *d) {
    lister *l = user;
    fc_strbuf_printf(l->b, "%s{\"id\":%lld", l->n++ ? "," : "", (long long)d->id);
    member(l->b, "name", d->name);
    member(l->b, "root", d->root);
    member(l->b, "format", d->format);
    fc_strbuf_printf(l->b, ",\"created\":%lld,\"items\":%lld,\"ok\":%lld,\"bad\":%lld,\"classes\":%lld}",
                     (long long)d->created, (long long)d->items, (long long)d->ok, (long long)d->bad,
                     (long long)d->classes);
    return 0;
}

static int list_extractor(void *user, const fc_catalog_extractor *x) {
    lister *l = user;
    uint8_t id[32];
    size_t n = 0;
    fc_hex_decode(x->id, id, 32, NULL);
    fc_cache_count(l->cache, id, &n, NULL); /* as `ls`: a count that cannot be read shows as 0 */
    fc_strbuf_printf(l->b, "%s{\"id\":\"%s\"", l->n++ ? "," : "", x->id);
    member(l->b, "model_path", x->model_path);
    member(l->b, "model_sha256", x->model_sha256);
    member(l->b, "layer", x->layer);
    fc_strbuf_printf(l->b, ",\"size\":%d,\"crop\":%.9g", x->size, x->crop);
    member(l->b, "preprocess", x->preprocess);
    member(l->b, "views", x->views);
    fc_strbuf_printf(l->b, ",\"dtype\":\"%s\",\"dims\":[", x->dtype == FC_DTYPE_F16 ? "f16" : "f32");
    for (int d = 0; d < x->rank; d++) fc_strbuf_printf(l->b, "%s%u", d ? "," : "", x->dims[d]);
    fc_strbuf_printf(l->b, "],\"created\":%lld,\"features\":%zu}", (long long)x->created, n);
    return 0;
}

static int list_run(void *user, const fc_catalog_run *r) {
    lister *l = user;
    fc_strbuf_printf(l->b, "%s{\"id\":%lld,\"kind\":\"%s\",\"status\":\"%s\",\"dataset_id\":%lld", l->n++ ? "," : "",
                     (long long)r->id, fc_run_kind_name(r->kind), fc_run_status_name(r->status),
                     (long long)r->dataset_id);
    member(l->b, "extractor", r->extractor_id);
    /* params and result are JSON the catalog checked when they were recorded */
    fc_strbuf_printf(l->b, ",\"started\":%lld,\"finished\":%lld,\"params\":%s,\"result\":%s}", (long long)r->started,
                     (long long)r->finished, r->params ? r->params : "null", r->result ? r->result : "null");
    return 0;
}

int fc_api_list(const char *cache_dir, const char *what, char **json, fc_api_error *out) {
    fc_error err = {0};
    fc_catalog *cat = NULL;
    fc_cache *cache = NULL;
    fc_strbuf b = {0};
    lister l = {.b = &b};
    const char *dir = fc_cache_dir(cache_dir);
    *json = NULL;
    int rc = 0, kind = !what ? -1 : !strcmp(what, "datasets") ? 0 : !strcmp(what, "extractors") ? 1
                                  : !strcmp(what, "runs") ? 2 : -1;
    if (kind < 0) rc = fc_fail(&err, FC_EINVAL, "list wants datasets, extractors or runs, not '%s'", what ? what : "");
    if (!rc) rc = fc_catalog_open(dir, FC_CATALOG_RDONLY, 0, &cat, &err);
    if (!rc) rc = fc_cache_open(dir, FC_CACHE_RDONLY, NULL, &cache, &err);
    if (!rc) rc = fc_catalog_check_clean(cat, &err); /* a damaged row would be listed as if right */
    l.cache = cache;
    fc_strbuf_printf(&b, "[");
    if (!rc && kind == 0) rc = fc_catalog_dataset_list(cat, list_dataset, &l, &err);
    if (!rc && kind == 1) rc = fc_catalog_extractor_list(cat, list_extractor, &l, &err);
    if (!rc && kind == 2) rc = fc_catalog_run_list(cat, list_run, &l, &err);
    fc_strbuf_printf(&b, "]");
    if (!rc && b.failed) rc = fc_fail(&err, FC_ENOMEM, "out of memory");
    fc_cache_close(cache);
    fc_catalog_close(cat);
    if (rc) { fc_strbuf_free(&b); return api_status(rc, &err, out); }
    *json = b.s;
    return api_status(0, &err, out);
}
