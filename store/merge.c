/* fc_merge (merge.h): the order of a merge. The folders are checked first (no source twice, none
 * the destination: LMDB must not open one file twice in a process), then every catalog (nothing is
 * written when a definition conflicts), then the values of each source in turn go into the
 * destination's store, sized up front for all of them, and last the catalog rows, which name
 * features that are then stored; meanwhile the destination's writer lock is held shared, as an
 * extract holds it (gc waits). Not here: the steps themselves (merge_values.c, merge_check.c,
 * merge_catalog.c), printing. */
#include <errno.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core.h"
#include "store/cache.h"
#include "store/catalog.h"
#include "store/lock.h"
#include "store/merge.h"
#include "store/merge_int.h"

/* Size of DIR/features.mdb, 0 when there is none. */
static size_t store_size(const char *dir) {
    char mdb[4200];
    struct stat st;
    snprintf(mdb, sizeof mdb, "%s/features.mdb", dir);
    return stat(mdb, &st) == 0 ? (size_t)st.st_size : 0;
}

/* Refuses a source that is missing, given twice or the destination itself (same device and inode),
 * and adds up the store files (*bytes) to size the destination's map once. */
static int check_folders(const fc_merge_options *o, size_t *bytes, fc_error *err) {
    struct stat dst, a, b;
    int have_dst = stat(o->dst, &dst) == 0;
    *bytes = store_size(o->dst);
    for (size_t i = 0; i < o->n_srcs; i++) {
        if (stat(o->srcs[i], &a) != 0)
            return fc_fail(err, FC_EIO, "merge source %s: %s", o->srcs[i], strerror(errno));
        if (!S_ISDIR(a.st_mode)) return fc_fail(err, FC_EIO, "merge source %s: not a cache folder", o->srcs[i]);
        if (have_dst && a.st_dev == dst.st_dev && a.st_ino == dst.st_ino)
            return fc_fail(err, FC_EINVAL, "merge source %s is the destination %s", o->srcs[i], o->dst);
        for (size_t j = 0; j < i; j++)
            if (stat(o->srcs[j], &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino)
                return fc_fail(err, FC_EINVAL, "merge source %s is given twice (also as %s)", o->srcs[i], o->srcs[j]);
        size_t n = store_size(o->srcs[i]);
        if (!n) return fc_fail(err, FC_EIO, "merge source %s: no feature store (features.mdb) there", o->srcs[i]);
        *bytes += n;
    }
    return 0;
}

int fc_merge(const fc_merge_options *o, fc_merge_report *rep, fc_error *err) {
    if (rep) memset(rep, 0, sizeof *rep);
    if (!o || !rep || !o->dst || (!o->srcs && o->n_srcs)) return fc_fail(err, FC_EINVAL, "fc_merge: NULL argument");
    if (o->n_srcs == 0) return fc_fail(err, FC_EINVAL, "merge: no source cache");
    double t0 = omp_get_wtime();
    fc_catalog *cat = NULL;
    fc_cache *cache = NULL;
    size_t bytes = 0;
    fc_merge_source *srcs = calloc(o->n_srcs, sizeof *srcs); /* what the check learns of each source */
    if (!srcs) return fc_fail(err, FC_ENOMEM, "out of memory");
    char path[4200];
    snprintf(path, sizeof path, "%s/catalog.sqlite", o->dst);
    int fresh = access(path, F_OK) != 0; /* made only once the check passed: a refused merge writes nothing */
    int rc = check_folders(o, &bytes, err);
    if (rc == 0 && !fresh) rc = fc_catalog_open(o->dst, 0, 0, &cat, err);
    if (rc == 0) rc = fc_merge_catalog_check(cat, o, srcs, rep, err);
    if (rc == 0 && fresh) rc = fc_catalog_open(o->dst, 0, 0, &cat, err); /* creates the folder */
    /* held shared as extract holds it: values go in before the rows that name them, and gc must not
     * take them for garbage meanwhile (lock.h) */
    int lock = -1;
    if (rc == 0) rc = fc_cache_lock(o->dst, 0, 1, &lock, err);
    if (rc == 0) {
        /* room for every source at once, so that no batch is written twice to grow the map */
        fc_cache_options co = {.initial_map_size = bytes + ((size_t)64 << 20), .max_map_size = o->max_map_size};
        if (o->max_map_size && co.initial_map_size > o->max_map_size) co.initial_map_size = o->max_map_size;
        rc = fc_cache_open(o->dst, 0, &co, &cache, err);
    }
    rep->sources = o->n_srcs;
    for (size_t s = 0; s < o->n_srcs && rc == 0; s++) rc = fc_merge_values(o->srcs[s], cache, o, rep, err);
    if (rc == 0) rc = fc_merge_catalog_write(cat, o, srcs, rep, err);
    fc_merge_sources_free(srcs, o->n_srcs);
    free(srcs);
    fc_cache_close(cache);
    fc_catalog_close(cat);
    fc_cache_unlock(lock);
    rep->seconds = omp_get_wtime() - t0;
    return rc;
}
