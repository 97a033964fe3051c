/* Extract and train runs left 'running' by a process that died (SIGKILL, OOM killer, crash), and
 * whether a data set's last extract finished. Every extract and train run records its process in its
 * params ("pid", and "host" = boot id + pid namespace), and a later extract or train on the same host
 * marks the runs whose process no longer exists as failed with the reason,
 * so the catalog keeps no run that claims to be running forever. Runs of other hosts or containers
 * (another boot id or pid namespace) and of older builds (no pid) are left alone: their processes
 * cannot be checked from here. Not here: the run records themselves (store/catalog.c), the lock
 * that keeps gc away from a running extract (lock.h). */
#ifndef FC_INTERRUPTED_H
#define FC_INTERRUPTED_H

#include <stddef.h>

#include "core/core.h"
#include "store/catalog.h"

/* This process's host tag ("<boot id>/<pid namespace>") in out; "" when /proc does not tell. */
void fc_process_host(char *out, size_t cap);

/* Marks the running extract and train runs (those that record a pid) of dead processes of this host failed ("interrupted: ...");
 * *marked (may be NULL) gets the count. A run another process marks meanwhile is skipped.
 * Errors: those of fc_catalog_run_list/run_finish (FC_EIO, FC_EINVAL for a read-only catalog). */
int fc_extract_mark_interrupted(fc_catalog *cat, size_t *marked, fc_error *err);

/* A data set's last extract run with one extractor: whether it finished, else why not. */
typedef struct fc_extract_state {
    int64_t run_id;       /* 0: the catalog has no extract run of it */
    fc_run_status status; /* ok or partial: finished (partial: some files were bad) */
    int alive;            /* status running: 1 its process lives (the run is going on), 0 it is gone
                             (killed: the next extract marks it interrupted), -1 cannot tell (another
                             host, an older build) */
    long pid;             /* status running: its process (0 unknown) */
    char error[256];      /* status failed: the error it recorded ("interrupted: ..." for a killed one) */
} fc_extract_state;

/* The last (highest id) extract run of data set dataset_id with extractor_id (NULL: any) into *out.
 * Read only: works on a read-only catalog. Errors: those of fc_catalog_run_list. */
int fc_extract_last(fc_catalog *cat, int64_t dataset_id, const char *extractor_id, fc_extract_state *out,
                    fc_error *err);
/* Extract runs marked running whose process lives on this host (*alive; the first one's run and
 * process in *first) or cannot be checked from here (*unknown: another host, an older build).
 * Runs of dead processes are not counted. Errors: those of fc_catalog_run_list. */
int fc_extract_running(fc_catalog *cat, size_t *alive, size_t *unknown, fc_extract_state *first, fc_error *err);
/* 1 when s is a finished run (ok, partial) or no run at all, 0 when the data set may lack items
 * because that run did not finish (failed, killed, still running). */
int fc_extract_finished(const fc_extract_state *s);
/* Why s did not finish, into out (cap bytes), e.g. "its last extract (run #3, process 123) was
 * killed before it finished" or "an extract of it is running (run #4, process 99)". */
void fc_extract_state_why(const fc_extract_state *s, char *out, size_t cap);
/* What a warning about an incomplete data set adds after fc_extract_check's message. */
#define FC_EXTRACT_INCOMPLETE_HINT                                                                 \
    "using the items it has (rerun featcache extract to complete it; --strict makes this an error)"
/* Whether the last extract of data set `dataset` with extractor_id (`what` names it, e.g. "layer
 * gap") finished: 0 yes (or the catalog has no such data set or run: loading its features says
 * what is missing), 1 no, with "data set 'D' is incomplete (WHAT): WHY" (fc_extract_state_why) in
 * msg (cap bytes); < 0 the catalog's errors. */
int fc_extract_check(fc_catalog *cat, const char *dataset, const char *extractor_id, const char *what, char *msg,
                     size_t cap, fc_error *err);

#endif
