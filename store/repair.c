/* fc_repair (see maint.h): a feature store that fails the checks of its open (lmdb_check.h) is
 * rebuilt from the values that can still be read, each one's key, header and CRC checked; a
 * readable one loses only the values that fail their checks; the catalog loses its dangling rows
 * and gets its indexes rebuilt (fc_catalog_repair). What is dropped, the next extract computes
 * again. Not here: the checks themselves (lmdb_check.c, cache.c, maint.c), printing. */
#include "store/maint.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/lmdb_check.h"

#define BATCH_VALUES 256
#define BATCH_FLOATS ((size_t)16 << 20) /* 64 MiB of decoded values per write transaction */

typedef struct note_fn {
    void (*fn)(void *user, const char *msg);
    void *user;
} note_fn;

__attribute__((format(printf, 2, 3))) static void say(const note_fn *n, const char *fmt, ...) {
    if (!n->fn) return;
    char msg[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    n->fn(n->user, msg);
}

/* ---- rebuilding features.mdb ---------------------------------------------------------------- */

/* Values read from the damaged file, decoded and written into the new store a batch at a time. */
typedef struct copier {
    fc_cache *out;
    fc_feature f[BATCH_VALUES];
    float *buf;
    size_t n, used, cap;
    size_t lost;
    int rc;
    fc_error *err;
} copier;

static int flush(copier *c) {
    if (c->n) c->rc = fc_cache_put(c->out, c->f, c->n, c->err);
    c->n = c->used = 0;
    return c->rc;
}

static int copy_pair(void *user, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen) {
    copier *c = user;
    fc_feature_view v;
    if (klen != FC_FEATURE_KEY_SIZE || fc_feature_parse(val, vlen, &v, NULL) || fc_feature_verify(&v, NULL)) {
        c->lost++;
        return 0;
    }
    if ((c->n == BATCH_VALUES || c->used + v.count > c->cap) && flush(c)) return c->rc;
    if (v.count > c->cap) { /* only with an empty batch: nothing points into buf */
        size_t cap = v.count * BATCH_VALUES < BATCH_FLOATS ? v.count * BATCH_VALUES : v.count;
        float *b = realloc(c->buf, cap * sizeof *b);
        if (!b) return c->rc = fc_fail(c->err, FC_ENOMEM, "out of memory for a value of %zu elements", v.count);
        c->buf = b;
        c->cap = cap;
    }
    fc_feature *f = &c->f[c->n];
    memset(f, 0, sizeof *f);
    memcpy(f->key.extractor, key, 32);
    memcpy(f->key.item, key + 32, 32);
    f->key.view = (uint16_t)(key[64] << 8 | key[65]);
    f->dtype = v.dtype;
    f->rank = v.rank;
    memcpy(f->dims, v.dims, sizeof f->dims);
    f->data = c->buf + c->used;
    fc_feature_to_f32(&v, c->buf + c->used, v.count, NULL); /* f16 -> f32 -> f16 gives the same bits */
    c->used += v.count;
    c->n++;
    return 0;
}

static void remove_store(const char *dir) {
    char p[PATH_MAX + 32];
    snprintf(p, sizeof p, "%s/features.mdb", dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/features.mdb-lock", dir);
    unlink(p);
}

/* Copies what the image holds into the store `out`: the older snapshot first, then the newer one
 * (its values win; a value the newer one deleted may come back, and gc drops it again). */
static int salvage_into(const uint8_t *image, size_t size, copier *c, size_t *pages_lost, fc_error *err) {
    fc_lmdb_meta m[2];
    int valid[2], rc = 0;
    fc_lmdb_metas(image, size, m, valid);
    int newer = valid[1] && (!valid[0] || m[1].txnid > m[0].txnid);
    for (int k = 0; k < 2 && rc == 0; k++) {
        int i = k == 0 ? !newer : newer;
        size_t skipped = 0;
        if (!valid[i]) continue;
        rc = fc_lmdb_salvage(image, size, &m[i], copy_pair, c, &skipped, err);
        *pages_lost += skipped;
    }
    if (rc == 0) rc = flush(c);
    return rc;
}

/* Rebuilds dir/features.mdb in dir/features.rebuild/ from what the damaged file holds, then puts
 * the new file in its place and the damaged one aside as features.mdb.damaged. */
static int rebuild(const char *dir, fc_repair_report *rep, const note_fn *note, fc_error *err) {
    char path[PATH_MAX], tmp[PATH_MAX], fresh[PATH_MAX + 32], aside[PATH_MAX];
    snprintf(path, sizeof path, "%s/features.mdb", dir);
    snprintf(tmp, sizeof tmp, "%s/features.rebuild", dir);
    snprintf(fresh, sizeof fresh, "%s/features.mdb", tmp);
    snprintf(aside, sizeof aside, "%s/features.mdb.damaged", dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        int e = errno;
        if (fd >= 0) close(fd);
        return fc_fail(err, FC_EIO, "%s: cannot read: %s", path, strerror(e));
    }
    size_t size = (size_t)st.st_size;
    void *image = size ? mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0) : NULL;
    close(fd);
    if (image == MAP_FAILED) return fc_fail(err, FC_EIO, "%s: cannot map: %s", path, strerror(errno));
    remove_store(tmp); /* what an interrupted rebuild left */
    copier c = {.err = err};
    int rc = mkdir(tmp, 0777) != 0 && errno != EEXIST
                 ? fc_fail(err, FC_EIO, "%s: cannot create: %s", tmp, strerror(errno))
                 : fc_cache_open(tmp, 0, NULL, &c.out, err);
    fc_cache_stats st_out;
    if (rc == 0) rc = salvage_into(image, size, &c, &rep->pages_lost, err);
    if (rc == 0) rc = fc_cache_stat(c.out, &st_out, err); /* both snapshots may hold a value: count once */
    fc_cache_close(c.out);
    free(c.buf);
    if (image) munmap(image, size);
    if (rc == 0 && (rename(path, aside) != 0 || rename(fresh, path) != 0))
        rc = fc_fail(err, FC_EIO, "%s: cannot put the rebuilt store in place: %s", path, strerror(errno));
    remove_store(tmp);
    rmdir(tmp);
    if (rc) return rc;
    snprintf(path, sizeof path, "%s/features.mdb-lock", dir); /* its reader table described the old file */
    unlink(path);
    rep->store_rebuilt = 1;
    rep->values_saved = st_out.entries;
    rep->values_lost = c.lost;
    say(note, "features.mdb rebuilt: %zu values saved, %zu failed their checks, %zu pages could not be read "
        "(the damaged file is kept as %s; delete it when done)", rep->values_saved, c.lost, rep->pages_lost, aside);
    return 0;
}

/* ---- dropping damaged values ------------------------------------------------------------- */

typedef struct damaged {
    fc_feature_key *keys;
    size_t n, cap;
    const note_fn *note;
} damaged;

static int collect_damaged(void *user, const fc_feature_key *key, const fc_feature_view *view,
                           const fc_error *problem) {
    damaged *d = user;
    if (!problem) return 0;
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 64;
        fc_feature_key *k = realloc(d->keys, cap * sizeof *k);
        if (!k) return FC_ENOMEM;
        d->keys = k;
        d->cap = cap;
    }
    d->keys[d->n++] = *key;
    if (d->n <= 1000) say(d->note, "dropping damaged feature: %s", problem->msg);
    return 0;
}

/* Opens the store read-write: one that fails the checks of its open is rebuilt; from a readable one
 * the values that fail theirs are deleted (or, when one's pages cannot be freed safely, the store
 * is rebuilt without them). */
static int repair_store(const char *dir, fc_repair_report *rep, const note_fn *note, fc_error *err) {
    fc_cache *cache = NULL;
    damaged d = {.note = note};
    int rc = fc_cache_open(dir, 0, NULL, &cache, err);
    if (rc == 0) {
        rc = fc_cache_foreach(cache, NULL, FC_CACHE_VISIT_VERIFY, collect_damaged, &d, err);
        if (rc == 0) rc = fc_cache_delete_keys(cache, d.keys, d.n, &rep->values_dropped, err);
        fc_cache_close(cache);
        cache = NULL;
    }
    if (rc == FC_EFORMAT) {
        say(note, "%s", err->msg);
        rep->values_dropped = 0;
        if ((rc = rebuild(dir, rep, note, err)) == 0) rc = fc_cache_open(dir, 0, NULL, &cache, err);
    }
    fc_cache_close(cache);
    free(d.keys);
    return rc;
}

static int catalog_note(void *user, const char *what, int64_t count, const char *example) {
    say(user, "catalog: %lld %s (%s)", (long long)count, what, example ? example : "-");
    return 0;
}

int fc_repair(const char *dir, void (*fn)(void *user, const char *msg), void *user, fc_repair_report *rep,
              fc_error *err) {
    memset(rep, 0, sizeof *rep);
    if (!dir) return fc_fail(err, FC_EINVAL, "fc_repair: NULL argument");
    note_fn note = {fn, user};
    int rc = repair_store(dir, rep, &note, err);
    if (rc) return rc;
    fc_catalog *cat = NULL;
    size_t left = 0;
    if ((rc = fc_catalog_open(dir, 0, 0, &cat, err)) == 0)
        rc = fc_catalog_repair(cat, catalog_note, &note, &rep->rows_fixed, &left, err);
    fc_catalog_close(cat);
    if (rc == FC_EFORMAT || left) {
        rep->unrepaired += left ? left : 1;
        say(&note, "cannot repair %s/catalog.sqlite%s%s: only a copy of what SQLite can still read would save the "
            "rest (sqlite3 catalog.sqlite .recover). The catalog holds nothing an extract cannot rebuild but the "
            "run history: move it away and run featcache extract again for each data set (the features are "
            "kept and not computed again)", dir, rc ? ": " : "", rc ? err->msg : "");
        rc = 0;
    }
    return rc;
}
