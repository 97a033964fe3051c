/* Merging cache folders into one: the shards of a job array (extract --shard), or caches filled on
 * several machines. Every value of every source is checked (header, CRC, its pages) and copied as
 * stored, in key order, with LMDB's append mode while the keys come after everything the
 * destination holds (the shards of one extractor merged in shard order append throughout); then the
 * catalogs' data sets, items (labels, splits, bad files), extractors and runs go in as one SQLite
 * transaction, after the features they name, as extract does. Not here: printing, which folders to
 * merge (the CLI), which shard an item belongs to (extract/job.h). */
#ifndef FC_MERGE_H
#define FC_MERGE_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

/* Rules (what makes a merge idempotent and resumable):
 *  - a value already stored with the same bytes is left alone; a destination value that fails its
 *    CRC is replaced; a sound destination value with other bytes under the same key (another CPU's
 *    kernels) is kept and counted in values_differ; a source value that fails its checks is not
 *    merged (named through note, counted in values_damaged: the next extract computes it);
 *  - a data set is its items' (path, label, split, SHA-256 or none) in path order: one name must
 *    mean the same items in every source and in the destination, else the merge is refused before
 *    anything is written (the message names the data set, both caches and the first item that
 *    differs). Every shard's catalog lists the whole data set, so shards agree. An item that one
 *    source recorded bad is bad in the result (the shard that decoded it knows; the others only
 *    hashed it); root, format, size and mtime of the first catalog that has them are kept;
 *  - an extractor id must mean the same parameters everywhere (else refused, as above);
 *  - a run is the same run when kind, start time, parameters and extractor match: copied once;
 *  - committed batches of values stay when the process is killed; the catalog is one transaction;
 *    merging again finishes the job and ends with the same stores as one uninterrupted merge. */

typedef struct fc_merge_report {
    size_t sources;
    size_t values_seen;     /* values read from the sources */
    size_t values_copied;   /* written into the destination (new or replacing a damaged one) */
    size_t values_appended; /* of those, appended (MDB_APPEND: keys after all stored ones) */
    size_t values_present;  /* already there with the same bytes */
    size_t values_replaced; /* destination values that failed their CRC, replaced (in copied) */
    size_t values_differ;   /* sound destination values with other bytes: kept */
    size_t values_damaged;  /* source values that failed their checks: not merged */
    uint64_t bytes_copied;  /* value bytes written */
    size_t datasets_added, items_added, items_now_bad, extractors_added, runs_added;
    size_t runs_unfinished; /* source runs still marked running (a killed extract?) */
    double value_seconds;   /* copying values */
    double seconds;         /* the whole merge */
} fc_merge_report;

typedef struct fc_merge_options {
    const char *const *srcs; /* source cache folders (read only), merged in this order */
    size_t n_srcs;
    const char *dst;         /* destination cache folder, created when missing */
    size_t max_map_size;     /* destination store growth limit, 0 = default (fc_cache_options) */
    volatile int *cancel;    /* set non-zero to stop after the batch in flight; may be NULL */
    void (*note)(void *user, const char *msg);                 /* damaged values, unfinished runs */
    void (*progress)(void *user, const fc_merge_report *rep);  /* after each committed batch */
    void *user;
} fc_merge_options;

/* Merges o->srcs into o->dst (see the rules above). rep gets the counts (also on error: what was
 * done). Returns 0 when everything was merged (values_damaged may be > 0), else: FC_EINVAL (no
 * source, a source given twice or being the destination, conflicting data sets or extractors:
 * nothing written), FC_EFORMAT (a source or destination catalog that fails verify's checks, a
 * damaged store: nothing of it written), FC_ECANCELLED (o->cancel was set: committed batches stay,
 * merging again finishes), FC_EFULL / FC_ENOSPC (the destination is full: committed batches stay),
 * FC_ETIMEOUT (the destination catalog stayed locked), FC_EIO, FC_ENOMEM. Holds the destination's
 * writer lock shared while it writes, as extract does (lock.h: gc and verify --repair wait). No
 * other process may write to the sources meanwhile, nor extract the same data sets into the
 * destination. */
int fc_merge(const fc_merge_options *o, fc_merge_report *rep, fc_error *err);

#endif
