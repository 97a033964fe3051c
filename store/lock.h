/* The cache folder's writer lock, DIR/lock (flock(2)), between extract and gc. extract commits a
 * batch's features before the catalog rows that reference them, so until its run ends a feature it
 * wrote may be referenced by nothing yet, and gc would take it for garbage: every extract (and
 * merge, which writes values before rows too) holds the lock shared for its whole run, gc (and
 * verify --repair) take it exclusive. A process that dies
 * frees its lock with its last descriptor, so a killed extract never blocks gc. Works across
 * processes on one host, and on file systems that share flock locks between hosts (NFS does).
 * Not here: run records (runs.h name the process that holds it), what gc deletes (maint.h). */
#ifndef FC_LOCK_H
#define FC_LOCK_H

#include "core/core.h"

/* Takes DIR/lock (created when missing) shared (exclusive 0) or exclusive. wait 1 blocks until it
 * is free; wait 0 fails at once with FC_ETIMEOUT when another process holds it in a mode that
 * conflicts. On success *fd is the descriptor that holds it (close-on-exec) until fc_cache_unlock;
 * -1 when the folder is read-only and has no lock file (no process can write features there).
 * Errors: FC_ETIMEOUT, FC_EIO (the file cannot be created or locked: names it and the reason). */
int fc_cache_lock(const char *dir, int exclusive, int wait, int *fd, fc_error *err);
/* Releases a lock fc_cache_lock took (fd -1 is fine). */
void fc_cache_unlock(int fd);

#endif
