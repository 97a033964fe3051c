/* Extract and train runs left 'running' by a process that died (SIGKILL, OOM killer, crash): every
 * extract and train run records its process in its params ("pid", and "host" = boot id + pid
 * namespace), and a later extract or train on the same host marks the runs whose process no longer
 * exists as failed with the reason,
 * so the catalog keeps no run that claims to be running forever. Runs of other hosts or containers
 * (another boot id or pid namespace) and of older builds (no pid) are left alone: their processes
 * cannot be checked from here. Not here: the run records themselves (store/catalog.c). */
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

#endif
