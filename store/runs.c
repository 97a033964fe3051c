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

/* Whether the process of a running run lives: 1 yes (or not ours to signal), 0 gone, -1 cannot
 * tell (another host or pid namespace, an older build that recorded no pid). *pid gets it. */
static int run_alive(const fc_catalog_run *r, const char *this_host, long *pid) {
    char host[160];
    double p;
    *pid = 0;
    if (!r->params || fc_json_get_number(r->params, "pid", &p) || p < 1) return -1;
    *pid = (long)p;
    if (!this_host[0] || fc_json_get_string(r->params, "host", host, sizeof host) || strcmp(host, this_host) != 0)
        return -1;
    return kill((pid_t)p, 0) == 0 || errno != ESRCH;
}

static int collect(void *user, const fc_catalog_run *r) {
    dead_runs *d = user;
    long pid;
    if ((r->kind != FC_RUN_EXTRACT && r->kind != FC_RUN_TRAIN) || r->status != FC_RUN_RUNNING || run_alive(r, d->host, &pid) != 0) return 0;
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
    d->pid[d->n++] = pid;
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

typedef struct last_run {
    int64_t dataset_id;
    const char *extractor_id;
    char host[160];
    fc_extract_state *out;
} last_run;

static int keep_last(void *user, const fc_catalog_run *r) {
    last_run *q = user;
    if (r->kind != FC_RUN_EXTRACT || r->dataset_id != q->dataset_id ||
        (q->extractor_id && (!r->extractor_id || strcmp(r->extractor_id, q->extractor_id))))
        return 0;
    fc_extract_state *o = q->out; /* runs come in id order: the last one seen is the latest */
    memset(o, 0, sizeof *o);
    o->run_id = r->id;
    o->status = r->status;
    if (r->status == FC_RUN_RUNNING) o->alive = run_alive(r, q->host, &o->pid);
    if (r->status == FC_RUN_FAILED && r->result) fc_json_get_string(r->result, "error", o->error, sizeof o->error);
    return 0;
}

int fc_extract_last(fc_catalog *cat, int64_t dataset_id, const char *extractor_id, fc_extract_state *out,
                    fc_error *err) {
    last_run q = {.dataset_id = dataset_id, .extractor_id = extractor_id, .out = out};
    memset(out, 0, sizeof *out);
    fc_process_host(q.host, sizeof q.host);
    return fc_catalog_run_list(cat, keep_last, &q, err);
}

int fc_extract_finished(const fc_extract_state *s) {
    return s->run_id == 0 || s->status == FC_RUN_OK || s->status == FC_RUN_PARTIAL;
}

void fc_extract_state_why(const fc_extract_state *s, char *out, size_t cap) {
    long killed_pid = 0; /* a killed run that a later extract or train already marked interrupted */
    if (s->status == FC_RUN_FAILED && sscanf(s->error, "interrupted: process %ld ended", &killed_pid) == 1)
        snprintf(out, cap, "its last extract (run #%lld, process %ld) was killed before it finished", (long long)s->run_id,
                 killed_pid);
    else if (s->status == FC_RUN_FAILED)
        snprintf(out, cap, "its last extract (run #%lld) failed: %s", (long long)s->run_id, s->error[0] ? s->error : "?");
    else if (s->alive > 0)
        snprintf(out, cap, "an extract of it is running (run #%lld, process %ld)", (long long)s->run_id, s->pid);
    else if (s->alive == 0)
        snprintf(out, cap, "its last extract (run #%lld, process %ld) was killed before it finished", (long long)s->run_id,
                 s->pid);
    else
        snprintf(out, cap, "its last extract (run #%lld) is still marked running by another host or an older featcache",
                 (long long)s->run_id);
}

int fc_extract_check(fc_catalog *cat, const char *dataset, const char *extractor_id, const char *what, char *msg,
                     size_t cap, fc_error *err) {
    int64_t ds_id;
    fc_extract_state st;
    int rc = fc_catalog_dataset_find(cat, dataset, &ds_id, err);
    if (rc <= 0) return rc;
    if ((rc = fc_extract_last(cat, ds_id, extractor_id, &st, err))) return rc;
    if (fc_extract_finished(&st)) return 0;
    char why[400];
    fc_extract_state_why(&st, why, sizeof why);
    snprintf(msg, cap, "data set '%s' is incomplete (%s): %s", dataset, what, why);
    return 1;
}

typedef struct running_runs {
    char host[160];
    size_t *alive, *unknown;
    fc_extract_state *first;
} running_runs;

static int count_running(void *user, const fc_catalog_run *r) {
    running_runs *q = user;
    long pid;
    if (r->kind != FC_RUN_EXTRACT || r->status != FC_RUN_RUNNING) return 0;
    int alive = run_alive(r, q->host, &pid);
    if (alive == 0) return 0;
    if (alive < 0) { (*q->unknown)++; return 0; }
    if ((*q->alive)++ == 0) {
        memset(q->first, 0, sizeof *q->first);
        q->first->run_id = r->id;
        q->first->status = r->status;
        q->first->alive = 1;
        q->first->pid = pid;
    }
    return 0;
}

int fc_extract_running(fc_catalog *cat, size_t *alive, size_t *unknown, fc_extract_state *first, fc_error *err) {
    running_runs q = {.alive = alive, .unknown = unknown, .first = first};
    *alive = *unknown = 0;
    memset(first, 0, sizeof *first);
    fc_process_host(q.host, sizeof q.host);
    return fc_catalog_run_list(cat, count_running, &q, err);
}
