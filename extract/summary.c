/* fc_extract_summary_json (see summary.h). */
#include "extract/summary.h"

#include "store/store.h"

typedef struct bad_json {
    fc_strbuf *b;
    int n;
} bad_json;

static int add_bad(void *user, const fc_catalog_item *it) {
    bad_json *j = user;
    fc_strbuf_printf(j->b, "%s{\"path\":", j->n++ ? "," : "");
    fc_strbuf_json(j->b, it->path);
    fc_strbuf_printf(j->b, ",\"error\":");
    fc_strbuf_json(j->b, it->error ? it->error : "");
    fc_strbuf_printf(j->b, "}");
    return 0;
}

static void bad_files(const char *cache_dir, const fc_extract_result *r, fc_strbuf *b) {
    fc_catalog *cat = NULL;
    fc_error ignored; /* without the catalog the list is just left out */
    bad_json j = {.b = b};
    if (!r->counts.bad || fc_catalog_open(cache_dir, FC_CATALOG_RDONLY, 0, &cat, &ignored) != 0) return;
    fc_catalog_item_list(cat, r->dataset_id, FC_ITEMS_BAD, add_bad, &j, &ignored);
    fc_catalog_close(cat);
}

void fc_extract_summary_json(const fc_extract_options *o, const fc_extract_result *r, fc_strbuf *s) {
    const fc_job_progress *p = &r->counts;
    double rate = p->seconds > 0 ? p->computed / p->seconds : 0;
    fc_strbuf_printf(s, "{\"dataset\":");
    fc_strbuf_json(s, o->dataset.path);
    fc_strbuf_printf(s, ",\"cache\":");
    fc_strbuf_json(s, o->cache.dir);
    fc_strbuf_printf(s, ",\"items\":%zu,\"computed\":%zu,\"cached\":%zu,\"bad\":%zu,\"damaged\":%zu,"
                        "\"elsewhere\":%zu,\"seconds\":%.3f,\"imgs_per_s\":%.2f,\"model_loaded\":%s,\"layers\":[",
                     p->total, p->computed, p->cached, p->bad, p->damaged, p->elsewhere, p->seconds, rate,
                     r->model_loaded ? "true" : "false");
    for (int l = 0; l < r->n_layers; l++) {
        fc_strbuf_printf(s, "%s{\"name\":", l ? "," : "");
        fc_strbuf_json(s, r->layers[l]);
        fc_strbuf_printf(s, ",\"extractor\":\"%s\",\"dims\":[", r->extractor[l]);
        for (int d = 0; d < r->rank[l]; d++) fc_strbuf_printf(s, "%s%u", d ? "," : "", r->dims[l][d]);
        fc_strbuf_printf(s, "]}");
    }
    fc_strbuf_printf(s, "],\"bad_files\":[");
    bad_files(o->cache.dir, r, s);
    fc_strbuf_printf(s, "],\"skipped\":%zu,\"too_deep\":%zu}", r->skipped, r->too_deep);
}
