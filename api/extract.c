/* fc_api_extract (see featcache.h): `featcache extract` from a binding, the same job
 * (fc_extract_run) with the progress callback in place of the CLI's progress line. Not here:
 * signal handling (the binding stops a run through its callback's return value). */
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"
#include "api/options.h"
#include "extract/extract.h"

typedef struct progress_relay {
    fc_api_progress_fn fn;
    void *user;
    volatile int cancel;
} progress_relay;

static void relay(void *user, const fc_job_progress *p) {
    progress_relay *r = user;
    fc_api_progress q = {.total = p->total, .done = p->done, .computed = p->computed, .cached = p->cached,
                         .bad = p->bad, .seconds = p->seconds};
    if (r->fn && r->fn(r->user, &q)) r->cancel = 1;
}

int fc_api_extract(const char *cache_dir, const char *dataset_path, const char *const *options,
                   fc_api_progress_fn progress, void *user, char **result_json, fc_api_error *status) {
    fc_error err = {0};
    api_extract_opts *e = malloc(sizeof *e); /* the result and options are large for a caller's stack */
    fc_extract_result *res = malloc(sizeof *res);
    progress_relay r = {.fn = progress, .user = user};
    fc_strbuf b = {0};
    *result_json = NULL;
    int rc = e && res ? 0 : fc_fail(&err, FC_ENOMEM, "out of memory");
    if (!rc && !dataset_path) rc = fc_fail(&err, FC_EINVAL, "no data set given");
    if (!rc) rc = api_extract_opts_parse(options, e, &err);
    if (!rc) {
        e->o.dataset.path = dataset_path;
        e->o.cache.dir = fc_cache_dir(cache_dir);
        e->o.control = (fc_extract_control){.cancel = &r.cancel, .progress = relay, .user = &r};
        rc = fc_extract_run(&e->o, res, &err);
    }
    if (!rc) {
        fc_extract_summary_json(&e->o, res, &b);
        if (b.failed) rc = fc_fail(&err, FC_ENOMEM, "out of memory");
    }
    free(e);
    free(res);
    if (rc) { fc_strbuf_free(&b); return api_status(rc, &err, status); }
    *result_json = b.s;
    return api_status(0, &err, status);
}
