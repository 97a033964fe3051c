/* fc_extract_mark_interrupted (see store/runs.h). A pid reused by a live process keeps its run
 * 'running' (checked again next time): wrong in the safe direction only. */
#include "store/runs.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"

void fc_process_host(char *out, size_t cap) {
    char boot[64] = "", ns[64] = "";
    out[0] = 0;
    FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");
    if (!f) return;
    int ok = fgets(boot, sizeof boot, f) != NULL;
    fclose(f);
    ssize_t n = readlink("/proc/self/ns/pid", ns, sizeof ns - 1);
    if (!ok || n <= 0) return;
    ns[n] = 0;
    boot[strcspn(boot, "\n")] = 0;
    snprintf(out, cap, "%s/%s", boot, ns);
}

typedef struct dead_runs {
    const char *host;
    int64_t *id;
    long *pid;
    size_t n, cap;
} dead_runs;

static int collect(void *user, const fc_catalog_run *r) {
    dead_runs *d = user;
    char host[160];
    double pid;
    if ((r->kind != FC_RUN_EXTRACT && r->kind != FC_RUN_TRAIN) || r->status != FC_RUN_RUNNING || !r->params) return 0;
    if (fc_json_get_number(r->params, "pid", &pid) || pid < 1 ||
        fc_json_get_string(r->params, "host", host, sizeof host) || strcmp(host, d->host) != 0)
        return 0;
    if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) return 0; /* alive (or not ours to signal) */
    if (d->n == d->cap) {
        size_t cap = d->cap ? 2 * d->cap : 16;
        int64_t *ni = realloc(d->id, cap * sizeof *ni);
        if (ni) d->id = ni;
        long *np = realloc(d->pid, cap * sizeof *np);
        if (np) d->pid = np;
        if (!ni || !np) return FC_ENOMEM;
        d->cap = cap;
    }
    d->id[d->n] = r->id;
    d->pid[d->n++] = (long)pid;
    return 0;
}

int fc_extract_mark_interrupted(fc_catalog *cat, size_t *marked, fc_error *err) {
    char host[160];
    if (marked) *marked = 0;
    fc_process_host(host, sizeof host);
    if (!host[0]) return FC_OK;
    dead_runs d = {.host = host};
    int rc = fc_catalog_run_list(cat, collect, &d, err); /* the callback may not write: collect first */
    if (rc == FC_ENOMEM) rc = fc_fail(err, FC_ENOMEM, "out of memory listing interrupted runs");
    for (size_t i = 0; i < d.n && rc == 0; i++) {
        char result[160];
        snprintf(result, sizeof result, "{\"error\":\"interrupted: process %ld ended before the run finished\"}",
                 d.pid[i]);
        fc_error e2 = {0};
        int frc = fc_catalog_run_finish(cat, d.id[i], FC_RUN_FAILED, result, &e2);
        if (frc == 0 && marked) (*marked)++;
        else if (frc != 0 && frc != FC_EINVAL) { if (err) *err = e2; rc = frc; } /* EINVAL: finished meanwhile */
    }
    free(d.id);
    free(d.pid);
    return rc;
}
