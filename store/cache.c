/* LMDB feature store: key/value encoding, batched write transactions with map growth on
 * MDB_MAP_FULL, zero-copy and copying reads, walks and deletes by key prefix. Growth
 * (mdb_env_set_mapsize) needs every transaction of this process closed, so each handle counts its
 * open transactions under a mutex and a resize waits for them (a condition variable, not a
 * rwlock, because read transactions may end on another thread than the one that began them).
 * Not here: the catalog, gc/verify policy, any printing. */
#include "store/cache.h"
#include "store/cache_lmdb.h"

#include <errno.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "core/core.h"
#include "store/f16.h"
#include "store/hash.h"
#include "store/lmdb_check.h"

#define DEFAULT_INITIAL_MAP ((size_t)64 << 20)
#define MIN_MAP_PAGES 8
#define DISK_FULL_BYTES ((unsigned long long)1 << 20) /* an I/O error with less free is "disk full" */
#define DEFAULT_RESIZE_WAIT_MS 30000
#define DELETE_CHUNK 65536
/* Private results of our transaction bodies (outside LMDB's and errno's ranges): a key that is
 * not FC_FEATURE_KEY_SIZE bytes long; a value whose overflow pages LMDB cannot free safely. */
#define BAD_KEY (-30000)
#define BAD_OVERFLOW (-30001)

struct fc_cache {
    MDB_env *env;
    MDB_dbi dbi;
    int rdonly;
    size_t max_map_size;
    int resize_wait_ms;
    pthread_mutex_t mu; /* guards map_size, active, resizing */
    pthread_cond_t cv;
    size_t map_size;
    unsigned psize;       /* the file's page size */
    const uint8_t *map;   /* where LMDB mapped the file, map_len bytes (NULL when unknown) */
    size_t map_len;
    int active;   /* transactions of this handle currently open */
    int resizing; /* a thread is changing the map size */
    char path[];  /* DIR/features.mdb, for messages */
};

struct fc_cache_txn {
    fc_cache *c;
    MDB_txn *txn;
};

/* ---- encoding ------------------------------------------------------------------------------ */

static void put_u32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8), p[2] = (uint8_t)(v >> 16), p[3] = (uint8_t)(v >> 24);
}

static uint32_t get_u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

const char *fc_dtype_name(fc_dtype dtype) {
    return dtype == FC_DTYPE_F32 ? "f32" : dtype == FC_DTYPE_F16 ? "f16" : NULL;
}

static size_t dtype_size(int dtype) {
    return dtype == FC_DTYPE_F32 ? 4 : dtype == FC_DTYPE_F16 ? 2 : 0;
}

static void key_encode(const fc_feature_key *k, uint8_t out[FC_FEATURE_KEY_SIZE]) {
    memcpy(out, k->extractor, 32);
    memcpy(out + 32, k->item, 32);
    out[64] = (uint8_t)(k->view >> 8);
    out[65] = (uint8_t)k->view;
}

static void key_decode(const uint8_t *in, fc_feature_key *k) {
    memcpy(k->extractor, in, 32);
    memcpy(k->item, in + 32, 32);
    k->view = (uint16_t)(in[64] << 8 | in[65]);
}

/* "extractor 0123456789abcdef.. item <64 hex> view 1" for messages. */
static const char *key_text(const fc_feature_key *k, char buf[128]) {
    char ext[65], item[65];
    fc_hex_encode(k->extractor, 32, ext);
    fc_hex_encode(k->item, 32, item);
    snprintf(buf, 128, "extractor %.16s.. item %s view %u", ext, item, (unsigned)k->view);
    return buf;
}

/* Element count of rank dims, or 0 when a dim is 0 or the data would exceed the byte limit. */
static size_t dims_count(int rank, const uint32_t *dims, size_t esize) {
    size_t count = 1;
    for (int r = 0; r < rank; r++) {
        if (dims[r] == 0 || count > FC_FEATURE_MAX_BYTES / esize / dims[r]) return 0;
        count *= dims[r];
    }
    return count;
}

void fc_cache_key_encode(const fc_feature_key *k, uint8_t out[FC_FEATURE_KEY_SIZE]) {
    key_encode(k, out);
}

void fc_feature_header_encode(fc_dtype dtype, int rank, const uint32_t *dims, uint32_t crc,
                              uint8_t out[FC_FEATURE_HEADER_SIZE]) {
    memcpy(out, "FCFT", 4);
    out[4] = 1;
    out[5] = (uint8_t)dtype;
    out[6] = (uint8_t)rank;
    out[7] = 0;
    for (int r = 0; r < FC_FEATURE_MAX_RANK; r++) put_u32(out + 8 + 4 * r, r < rank ? dims[r] : 0);
    put_u32(out + 24, crc);
    put_u32(out + 28, 0);
}

/* Writes header + data into v (32 + count * esize bytes). Pure function of its inputs. */
static void value_encode(uint8_t *v, const fc_feature *f, size_t count) {
    uint8_t *d = v + FC_FEATURE_HEADER_SIZE;
    if (f->dtype == FC_DTYPE_F32) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        memcpy(d, f->data, count * 4);
#else
        for (size_t i = 0; i < count; i++) {
            uint32_t x;
            memcpy(&x, &f->data[i], 4);
            put_u32(d + 4 * i, x);
        }
#endif
    } else {
        uint16_t tmp[256];
        for (size_t i = 0; i < count; i += 256) {
            size_t m = count - i < 256 ? count - i : 256;
            fc_f16_from_f32(f->data + i, tmp, m);
            for (size_t j = 0; j < m; j++) {
                d[2 * (i + j)] = (uint8_t)tmp[j];
                d[2 * (i + j) + 1] = (uint8_t)(tmp[j] >> 8);
            }
        }
    }
    size_t nbytes = count * dtype_size(f->dtype);
    fc_feature_header_encode(f->dtype, f->rank, f->dims, fc_crc32c(0, d, nbytes), v);
}

int fc_feature_parse(const void *value, size_t len, fc_feature_view *view, fc_error *err) {
    if (!view) return fc_fail(err, FC_EINVAL, "fc_feature_parse: NULL view");
    memset(view, 0, sizeof *view);
    const uint8_t *p = value;
    if (!p && len) return fc_fail(err, FC_EINVAL, "fc_feature_parse: NULL value");
    if (len < FC_FEATURE_HEADER_SIZE)
        return fc_fail(err, FC_EFORMAT, "value of %zu bytes is shorter than the %d-byte header", len,
                       FC_FEATURE_HEADER_SIZE);
    if (memcmp(p, "FCFT", 4) != 0)
        return fc_fail(err, FC_EFORMAT, "bad magic %02x%02x%02x%02x (expected \"FCFT\")", p[0], p[1],
                       p[2], p[3]);
    if (p[4] != 1) return fc_fail(err, FC_EFORMAT, "value format version %d (this build reads 1)", p[4]);
    int dtype = p[5], rank = p[6];
    size_t esize = dtype_size(dtype);
    if (!esize) return fc_fail(err, FC_EFORMAT, "unknown dtype code %d", dtype);
    if (rank < 1 || rank > FC_FEATURE_MAX_RANK)
        return fc_fail(err, FC_EFORMAT, "rank %d outside 1..%d", rank, FC_FEATURE_MAX_RANK);
    if (p[7] != 0 || get_u32(p + 28) != 0)
        return fc_fail(err, FC_EFORMAT, "reserved header fields are not zero");
    uint32_t dims[FC_FEATURE_MAX_RANK];
    for (int r = 0; r < FC_FEATURE_MAX_RANK; r++) {
        dims[r] = get_u32(p + 8 + 4 * r);
        if (r >= rank && dims[r] != 0)
            return fc_fail(err, FC_EFORMAT, "dims[%d] = %u beyond rank %d", r, dims[r], rank);
    }
    size_t count = dims_count(rank, dims, esize);
    if (!count)
        return fc_fail(err, FC_EFORMAT, "dims have a zero or exceed %u bytes", FC_FEATURE_MAX_BYTES);
    size_t nbytes = count * esize;
    if (len != FC_FEATURE_HEADER_SIZE + nbytes)
        return fc_fail(err, FC_EFORMAT, "value has %zu bytes but its header describes %zu", len,
                       FC_FEATURE_HEADER_SIZE + nbytes);
    view->dtype = (fc_dtype)dtype;
    view->rank = rank;
    memcpy(view->dims, dims, sizeof dims);
    view->count = count;
    view->nbytes = nbytes;
    view->crc = get_u32(p + 24);
    view->data = p + FC_FEATURE_HEADER_SIZE;
    return FC_OK;
}

int fc_feature_verify(const fc_feature_view *view, fc_error *err) {
    if (!view || !view->data) return fc_fail(err, FC_EINVAL, "fc_feature_verify: NULL view");
    uint32_t crc = fc_crc32c(0, view->data, view->nbytes);
    if (crc != view->crc)
        return fc_fail(err, FC_EFORMAT, "data checksum %08x does not match the header's %08x", crc,
                       view->crc);
    return FC_OK;
}

int fc_feature_to_f32(const fc_feature_view *view, float *out, size_t cap, fc_error *err) {
    if (!view || !view->data || !out) return fc_fail(err, FC_EINVAL, "fc_feature_to_f32: NULL argument");
    if (cap < view->count)
        return fc_fail(err, FC_ESHAPE, "feature has %zu elements, output holds %zu", view->count, cap);
    const uint8_t *d = view->data;
    if (view->dtype == FC_DTYPE_F32) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        memcpy(out, d, view->count * 4);
#else
        for (size_t i = 0; i < view->count; i++) {
            uint32_t x = get_u32(d + 4 * i);
            memcpy(&out[i], &x, 4);
        }
#endif
        return FC_OK;
    }
    if (view->dtype != FC_DTYPE_F16) return fc_fail(err, FC_EINVAL, "fc_feature_to_f32: bad dtype");
    uint16_t tmp[256];
    for (size_t i = 0; i < view->count; i += 256) {
        size_t m = view->count - i < 256 ? view->count - i : 256;
        for (size_t j = 0; j < m; j++)
            tmp[j] = (uint16_t)(d[2 * (i + j)] | d[2 * (i + j) + 1] << 8);
        fc_f16_to_f32(tmp, out + i, m);
    }
    return FC_OK;
}

/* ---- errors -------------------------------------------------------------------------------- */

static int mdb_fail(const fc_cache *c, int rc, const char *what, fc_error *err) {
    char buf[128];
    const char *text = rc == BAD_KEY        ? "a key is not 66 bytes (not written by featcache)"
                       : rc == BAD_OVERFLOW ? "the file is damaged: a value's overflow page header is wrong, so "
                                              "it cannot be deleted or replaced (featcache verify --repair "
                                              "rebuilds the store)"
                       : rc > 0             ? strerror_r(rc, buf, sizeof buf)
                                            : mdb_strerror(rc);
    int code;
    switch (rc) {
    case ENOMEM: code = FC_ENOMEM; break;
    case BAD_KEY:
    case BAD_OVERFLOW:
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID:
    case MDB_BAD_VALSIZE: code = FC_EFORMAT; break;
    case MDB_VERSION_MISMATCH: code = FC_EUNSUPPORTED; break;
    case MDB_READERS_FULL:
    case MDB_TXN_FULL: code = FC_ELIMIT; break;
    case MDB_MAP_FULL: code = FC_EFULL; break;
    case ENOSPC:
    case EDQUOT: code = FC_ENOSPC; break;
    default: code = FC_EIO; break;
    }
    /* LMDB turns a short write (the file system filled up mid-write) into a bare EIO: say so */
    struct statvfs vfs;
    if ((rc == EIO || rc == ENOSPC) && statvfs(c->path, &vfs) == 0 &&
        (unsigned long long)vfs.f_bavail * vfs.f_frsize < DISK_FULL_BYTES)
        return fc_fail(err, FC_ENOSPC, "%s: %s: no space left on device (%llu bytes free on its file system; %s); "
                       "nothing of this transaction was written", c->path, what,
                       (unsigned long long)vfs.f_bavail * vfs.f_frsize, text);
    return fc_fail(err, code, "%s: %s: %s", c->path, what, text);
}

/* ---- transactions and map growth ----------------------------------------------------------- */

/* Finds where LMDB mapped the file (liblmdb 0.9 reports an address only for a fixed map): the
 * mapping of the file's inode at offset 0 in /proc/self/maps. Called when no transaction of this
 * handle is open (after opening and after each resize, which maps the file anew). Leaves NULL when
 * not found: the checks that need it are then skipped and fc_cache_release_pages does nothing. */
static void locate_map(fc_cache *c) {
    int fd;
    struct stat st;
    c->map = NULL;
    c->map_len = 0;
    FILE *f = NULL;
    if (mdb_env_get_fd(c->env, &fd) != 0 || fstat(fd, &st) != 0 || !(f = fopen("/proc/self/maps", "re"))) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi, off, ino;
        unsigned maj, min;
        if (sscanf(line, "%lx-%lx %*4s %lx %x:%x %lu", &lo, &hi, &off, &maj, &min, &ino) == 6 && off == 0 &&
            ino == (unsigned long)st.st_ino && maj == major(st.st_dev) && min == minor(st.st_dev)) {
            c->map = (const uint8_t *)(uintptr_t)lo;
            c->map_len = hi - lo;
            break;
        }
    }
    fclose(f);
}

/* Changes the map size with no transaction of this handle open: target 0 adopts the size another
 * process recorded (after MDB_MAP_RESIZED); grow != 0 doubles `seen` (the size the failed
 * transaction ran with) up to the limit, or does nothing if another thread grew it already. */
static int resize(fc_cache *c, int grow, size_t seen, const char *what, fc_error *err) {
    pthread_mutex_lock(&c->mu);
    while (c->resizing) pthread_cond_wait(&c->cv, &c->mu);
    size_t target = 0;
    if (grow) {
        if (c->map_size != seen) { /* grown meanwhile: just retry */
            pthread_mutex_unlock(&c->mu);
            return FC_OK;
        }
        if (seen >= c->max_map_size) {
            pthread_mutex_unlock(&c->mu);
            return fc_fail(err, FC_EFULL,
                           "%s: %s: cache full: the map reached its %zu-byte limit (max_map_size); "
                           "nothing of this transaction was written",
                           c->path, what, c->max_map_size);
        }
        target = seen > c->max_map_size / 2 ? c->max_map_size : seen * 2;
    }
    c->resizing = 1;
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += c->resize_wait_ms / 1000;
    deadline.tv_nsec += (long)(c->resize_wait_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) deadline.tv_sec++, deadline.tv_nsec -= 1000000000L;
    int rc = 0;
    while (c->active > 0 && rc != ETIMEDOUT) rc = pthread_cond_timedwait(&c->cv, &c->mu, &deadline);
    if (c->active > 0) {
        int n = c->active;
        c->resizing = 0;
        pthread_cond_broadcast(&c->cv);
        pthread_mutex_unlock(&c->mu);
        return fc_fail(err, FC_ETIMEOUT,
                       "%s: %s: the map must be resized but %d transaction(s) of this process stayed "
                       "open for %d ms (end read transactions before writing)",
                       c->path, what, n, c->resize_wait_ms);
    }
    rc = mdb_env_set_mapsize(c->env, target);
    if (rc == 0) {
        MDB_envinfo info;
        mdb_env_info(c->env, &info);
        c->map_size = info.me_mapsize;
        locate_map(c);
    }
    size_t now = c->map_size;
    c->resizing = 0;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    if (rc) return mdb_fail(c, rc, what, err);
    if (grow && now <= seen) /* never retry a full transaction without more room */
        return fc_fail(err, FC_EINTERNAL, "%s: %s: map size stayed at %zu bytes after growing", c->path,
                       what, now);
    return FC_OK;
}

static void txn_leave(fc_cache *c) {
    pthread_mutex_lock(&c->mu);
    if (--c->active == 0) pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

/* Begins an LMDB transaction counted in c->active; *seen gets the map size it runs with. Adopts a
 * map grown by another process (MDB_MAP_RESIZED) and retries. */
static int txn_enter(fc_cache *c, unsigned flags, MDB_txn **txn, size_t *seen, const char *what,
                     fc_error *err) {
    for (int attempt = 0;; attempt++) {
        pthread_mutex_lock(&c->mu);
        while (c->resizing) pthread_cond_wait(&c->cv, &c->mu);
        c->active++;
        if (seen) *seen = c->map_size;
        pthread_mutex_unlock(&c->mu);
        int rc = mdb_txn_begin(c->env, NULL, flags, txn);
        if (rc == 0) return FC_OK;
        txn_leave(c);
        if (rc != MDB_MAP_RESIZED || attempt >= 3) return mdb_fail(c, rc, what, err);
        int frc = resize(c, 0, 0, what, err);
        if (frc) return frc;
    }
}

typedef int (*txn_body)(fc_cache *c, MDB_txn *txn, void *arg); /* returns an LMDB/errno code */

/* Runs body in a write transaction and commits; on MDB_MAP_FULL (from body or commit) the
 * transaction is discarded, the map grown and body run again from scratch. */
static int run_write(fc_cache *c, const char *what, txn_body body, void *arg, fc_error *err) {
    if (c->rdonly) return fc_fail(err, FC_EINVAL, "%s: %s: cache opened read-only", c->path, what);
    for (;;) {
        MDB_txn *txn;
        size_t seen;
        int rc = txn_enter(c, 0, &txn, &seen, what, err);
        if (rc) return rc;
        rc = body(c, txn, arg);
        if (rc == 0)
            rc = mdb_txn_commit(txn); /* frees txn either way */
        else
            mdb_txn_abort(txn);
        txn_leave(c);
        if (rc == 0) return FC_OK;
        if (rc != MDB_MAP_FULL) return mdb_fail(c, rc, what, err);
        rc = resize(c, 1, seen, what, err);
        if (rc) return rc;
    }
}

/* ---- open / close -------------------------------------------------------------------------- */

static int env_open(fc_cache *c, unsigned env_flags, size_t initial, unsigned max_readers) {
    int rc = mdb_env_create(&c->env);
    if (rc) return rc;
    if ((rc = mdb_env_set_maxreaders(c->env, max_readers)) == 0 &&
        (rc = mdb_env_set_mapsize(c->env, initial)) == 0 &&
        (rc = mdb_env_open(c->env, c->path, env_flags, 0666)) == 0)
        return 0;
    mdb_env_close(c->env); /* required after a failed mdb_env_open */
    c->env = NULL;
    return rc;
}

/* Walks every branch and leaf page of the snapshot a read transaction sees before anything else of
 * this process reads the store (liblmdb follows them unchecked; see lmdb_check.h), in a mapping of
 * its own (liblmdb 0.9 does not say where its map is). The transaction keeps a concurrent writer
 * from reusing the snapshot's pages meanwhile. */
static int check_tree(fc_cache *c, fc_error *err) {
    MDB_txn *txn;
    int rc = txn_enter(c, MDB_RDONLY, &txn, NULL, "check", err), fd;
    if (rc) return rc;
    struct stat st;
    void *map = MAP_FAILED;
    fc_lmdb_meta m;
    if (mdb_env_get_fd(c->env, &fd) != 0 || fstat(fd, &st) != 0 ||
        (st.st_size > 0 && (map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0)) == MAP_FAILED))
        rc = fc_fail(err, FC_EIO, "%s: cannot map for checking: %s", c->path, strerror(errno));
    else if ((rc = fc_lmdb_meta_find(map, (size_t)st.st_size, mdb_txn_id(txn), &m, err)) == 0)
        rc = fc_lmdb_check_tree(map, (size_t)st.st_size, &m, err);
    if (map != MAP_FAILED) munmap(map, (size_t)st.st_size);
    mdb_txn_abort(txn);
    txn_leave(c);
    if (rc == FC_EFORMAT)
        fc_error_prefix(err, "%s is damaged (featcache verify --repair saves what it can): ", c->path);
    if (rc == 0) c->psize = m.psize;
    return rc;
}

const char *fc_cache_dir(const char *dir) {
    if (dir && *dir) return dir;
    const char *env = getenv("FEATCACHE_HOME");
    return env && *env ? env : ".featcache";
}

int fc_cache_open(const char *dir, unsigned flags, const fc_cache_options *opt, fc_cache **out,
                  fc_error *err) {
    fc_cache *c = NULL;
    int rc, sync_init = 0;
    if (out) *out = NULL;
    if (!dir || !out) return fc_fail(err, FC_EINVAL, "fc_cache_open: NULL argument");
    if (flags & ~(unsigned)FC_CACHE_RDONLY)
        return fc_fail(err, FC_EINVAL, "%s: fc_cache_open: unknown flags %#x", dir, flags);
    if ((rc = fc_cache_dir_check(dir, err))) return rc;
    fc_cache_options o = opt ? *opt : (fc_cache_options){0};
    if (o.resize_wait_ms < 0)
        return fc_fail(err, FC_EINVAL, "%s: resize_wait_ms must not be negative", dir);
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    if (!o.max_map_size) o.max_map_size = sizeof(size_t) >= 8 ? (size_t)1 << 40 : (size_t)1 << 30;
    if (!o.initial_map_size) o.initial_map_size = DEFAULT_INITIAL_MAP;
    if (!o.max_readers) o.max_readers = 126;
    if (!o.resize_wait_ms) o.resize_wait_ms = DEFAULT_RESIZE_WAIT_MS;
    o.max_map_size -= o.max_map_size % page;
    if (o.max_map_size < MIN_MAP_PAGES * page)
        return fc_fail(err, FC_EINVAL, "%s: max_map_size must be at least %zu bytes", dir,
                       MIN_MAP_PAGES * page);
    if (o.initial_map_size > o.max_map_size) o.initial_map_size = o.max_map_size;
    if (o.initial_map_size < MIN_MAP_PAGES * page) o.initial_map_size = MIN_MAP_PAGES * page;
    o.initial_map_size -= o.initial_map_size % page;

    size_t dlen = strlen(dir);
    c = calloc(1, sizeof *c + dlen + sizeof "/features.mdb");
    if (!c) return fc_fail(err, FC_ENOMEM, "%s: no memory for the cache handle", dir);
    memcpy(c->path, dir, dlen);
    memcpy(c->path + dlen, "/features.mdb", sizeof "/features.mdb");
    c->rdonly = (flags & FC_CACHE_RDONLY) != 0;
    c->max_map_size = o.max_map_size;
    c->resize_wait_ms = o.resize_wait_ms;

    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    rc = pthread_cond_init(&c->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (rc) {
        rc = fc_fail(err, FC_ENOMEM, "%s: cannot create a condition variable", dir);
        goto fail;
    }
    pthread_mutex_init(&c->mu, NULL);
    sync_init = 1;

    if (!c->rdonly && mkdir(dir, 0777) != 0 && errno != EEXIST) {
        rc = fc_fail(err, FC_EIO, "%s: cannot create the cache directory: %s", dir, strerror(errno));
        goto fail;
    }
    /* before LMDB maps the file: a file shorter than its meta pages say faults when touched (the
     * checks read the 64-bit layout) */
    int checked = sizeof(size_t) == 8;
    if (checked && (rc = fc_lmdb_check_header(c->path, err)) < 0) goto fail;
    unsigned env_flags = MDB_NOSUBDIR | MDB_NOTLS | (c->rdonly ? MDB_RDONLY : 0);
    rc = env_open(c, env_flags, o.initial_map_size, o.max_readers);
    if (c->rdonly && (rc == EACCES || rc == EROFS || rc == EPERM)) {
        /* No usable lock file (read-only directory): read without locking. */
        rc = env_open(c, env_flags | MDB_NOLOCK, o.initial_map_size, o.max_readers);
    }
    if (rc == ENOENT && c->rdonly) {
        rc = fc_fail(err, FC_EIO, "%s: no feature store to open read-only: %s", c->path,
                     strerror(ENOENT));
        goto fail;
    }
    int why;
    if (rc && !c->rdonly && (why = fc_dir_unwritable(dir)) != 0) {
        rc = fc_fail(err, FC_EIO, "%s: the cache folder is read-only (%s): cannot open features.mdb for writing",
                     dir, strerror(why));
        goto fail;
    }
    if (rc) {
        rc = mdb_fail(c, rc, c->rdonly ? "cannot open read-only" : "cannot open", err);
        goto fail;
    }
    if (!c->rdonly) {
        int dead;
        /* best effort: a stale slot only holds a reader slot and old pages until a later open */
        mdb_reader_check(c->env, &dead);
    }
    MDB_envinfo info;
    mdb_env_info(c->env, &info);
    c->map_size = info.me_mapsize;
    locate_map(c);
    if (checked && (rc = check_tree(c, err))) goto fail;

    MDB_txn *txn;
    rc = txn_enter(c, c->rdonly ? MDB_RDONLY : 0, &txn, NULL, "open", err);
    if (rc) goto fail;
    rc = mdb_dbi_open(txn, NULL, 0, &c->dbi);
    if (rc == 0)
        rc = mdb_txn_commit(txn);
    else
        mdb_txn_abort(txn);
    txn_leave(c);
    if (rc) {
        rc = mdb_fail(c, rc, "cannot open the main database", err);
        goto fail;
    }
    *out = c;
    return FC_OK;
fail:
    if (c->env) mdb_env_close(c->env);
    if (sync_init) {
        pthread_mutex_destroy(&c->mu);
        pthread_cond_destroy(&c->cv);
    }
    free(c);
    return rc;
}

void fc_cache_close(fc_cache *c) {
    if (!c) return;
    mdb_env_close(c->env);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    free(c);
}

/* ---- writes -------------------------------------------------------------------------------- */

struct put_arg {
    const fc_feature *f;
    size_t n;
};

/* 0 when LMDB may free the pages of value v (deleted or replaced), else BAD_OVERFLOW. */
static int freeable(const fc_cache *c, const MDB_val *v) {
    return fc_lmdb_check_overflow(c->map, c->map_len, c->psize, v->mv_data, v->mv_size, NULL) ? BAD_OVERFLOW : 0;
}

static int put_body(fc_cache *c, MDB_txn *txn, void *arg) {
    const struct put_arg *a = arg;
    for (size_t i = 0; i < a->n; i++) {
        const fc_feature *f = &a->f[i];
        size_t count = dims_count(f->rank, f->dims, dtype_size(f->dtype));
        uint8_t kb[FC_FEATURE_KEY_SIZE];
        key_encode(&f->key, kb);
        MDB_val k = {sizeof kb, kb}, v = {FC_FEATURE_HEADER_SIZE + count * dtype_size(f->dtype), NULL}, old;
        int rc = mdb_get(txn, c->dbi, &k, &old); /* a value replaced (a damaged one recomputed) */
        if (rc == 0) rc = freeable(c, &old);
        if (rc && rc != MDB_NOTFOUND) return rc;
        rc = mdb_put(txn, c->dbi, &k, &v, MDB_RESERVE);
        if (rc) return rc;
        value_encode(v.mv_data, f, count);
    }
    return 0;
}

int fc_cache_put(fc_cache *c, const fc_feature *features, size_t n, fc_error *err) {
    if (!c || (!features && n)) return fc_fail(err, FC_EINVAL, "fc_cache_put: NULL argument");
    for (size_t i = 0; i < n; i++) {
        const fc_feature *f = &features[i];
        size_t esize = dtype_size(f->dtype);
        if (!esize)
            return fc_fail(err, FC_EINVAL, "%s: put: record %zu: unknown dtype %d", c->path, i, f->dtype);
        if (f->rank < 1 || f->rank > FC_FEATURE_MAX_RANK)
            return fc_fail(err, FC_EINVAL, "%s: put: record %zu: rank %d outside 1..%d", c->path, i,
                           f->rank, FC_FEATURE_MAX_RANK);
        if (!f->data) return fc_fail(err, FC_EINVAL, "%s: put: record %zu: NULL data", c->path, i);
        for (int r = 0; r < f->rank; r++)
            if (f->dims[r] == 0)
                return fc_fail(err, FC_EINVAL, "%s: put: record %zu: dims[%d] is 0", c->path, i, r);
        if (!dims_count(f->rank, f->dims, esize))
            return fc_fail(err, FC_ELIMIT, "%s: put: record %zu: more than %u bytes of data", c->path,
                           i, FC_FEATURE_MAX_BYTES);
    }
    if (c->rdonly) return fc_fail(err, FC_EINVAL, "%s: put: cache opened read-only", c->path);
    if (n == 0) return FC_OK;
    struct put_arg a = {features, n};
    return run_write(c, "put", put_body, &a, err);
}

int fc_cache_lmdb_freeable(const fc_cache *c, const MDB_val *v) {
    return freeable(c, v);
}

struct lmdb_call {
    fc_cache_lmdb_body body;
    void *arg;
};

static int lmdb_call_body(fc_cache *c, MDB_txn *txn, void *arg) {
    const struct lmdb_call *k = arg;
    return k->body(c, txn, c->dbi, k->arg);
}

int fc_cache_lmdb_write(fc_cache *c, const char *what, fc_cache_lmdb_body body, void *arg, fc_error *err) {
    if (!c || !body) return fc_fail(err, FC_EINVAL, "fc_cache_lmdb_write: NULL argument");
    struct lmdb_call k = {body, arg};
    return run_write(c, what, lmdb_call_body, &k, err);
}

/* Deletes every key starting with prefix (plen bytes), at most `limit`; adds the count to *n.
 * Re-seeks after each delete, which stays correct whatever LMDB does with the cursor. */
static int delete_prefix(const fc_cache *c, MDB_cursor *cur, const uint8_t *prefix, size_t plen, size_t limit,
                         size_t *n) {
    for (size_t done = 0; done < limit; done++) {
        MDB_val k = {plen, (void *)prefix}, v;
        int rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
        if (rc == MDB_NOTFOUND) return 0;
        if (rc) return rc;
        if (k.mv_size < plen || memcmp(k.mv_data, prefix, plen) != 0) return 0;
        if ((rc = freeable(c, &v)) != 0 || (rc = mdb_cursor_del(cur, 0)) != 0) return rc;
        (*n)++;
    }
    return 0;
}

struct delete_ext_arg {
    const uint8_t *extractor;
    size_t n; /* deleted in this transaction */
};

static int delete_ext_body(fc_cache *c, MDB_txn *txn, void *arg) {
    struct delete_ext_arg *a = arg;
    MDB_cursor *cur;
    a->n = 0;
    int rc = mdb_cursor_open(txn, c->dbi, &cur);
    if (rc) return rc;
    rc = delete_prefix(c, cur, a->extractor, 32, DELETE_CHUNK, &a->n);
    mdb_cursor_close(cur);
    return rc;
}

int fc_cache_delete_extractor(fc_cache *c, const uint8_t extractor[32], size_t *deleted,
                              fc_error *err) {
    if (deleted) *deleted = 0;
    if (!c || !extractor) return fc_fail(err, FC_EINVAL, "fc_cache_delete_extractor: NULL argument");
    struct delete_ext_arg a = {extractor, 0};
    do {
        int rc = run_write(c, "delete extractor", delete_ext_body, &a, err);
        if (rc) return rc;
        if (deleted) *deleted += a.n;
    } while (a.n == DELETE_CHUNK);
    return FC_OK;
}

struct delete_items_arg {
    const uint8_t (*items)[32];
    size_t n_items;
    size_t n; /* deleted in this transaction */
};

static int delete_items_body(fc_cache *c, MDB_txn *txn, void *arg) {
    struct delete_items_arg *a = arg;
    MDB_cursor *cur;
    a->n = 0;
    int rc = mdb_cursor_open(txn, c->dbi, &cur);
    if (rc) return rc;
    uint8_t ext[32];
    MDB_val k, v;
    rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    while (rc == 0) { /* one round per extractor present */
        if (k.mv_size != FC_FEATURE_KEY_SIZE) {
            rc = BAD_KEY;
            break;
        }
        memcpy(ext, k.mv_data, 32);
        for (size_t i = 0; i < a->n_items && rc == 0; i++) {
            uint8_t prefix[64];
            memcpy(prefix, ext, 32);
            memcpy(prefix + 32, a->items[i], 32);
            rc = delete_prefix(c, cur, prefix, 64, SIZE_MAX, &a->n);
        }
        if (rc) break;
        int i = 31; /* next extractor id: ext + 1 as a big-endian number */
        while (i >= 0 && ext[i] == 0xff) ext[i--] = 0;
        if (i < 0) break;
        ext[i]++;
        k.mv_size = 32;
        k.mv_data = ext;
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

int fc_cache_delete_items(fc_cache *c, const uint8_t (*items)[32], size_t n, size_t *deleted,
                          fc_error *err) {
    if (deleted) *deleted = 0;
    if (!c || (!items && n)) return fc_fail(err, FC_EINVAL, "fc_cache_delete_items: NULL argument");
    if (c->rdonly) return fc_fail(err, FC_EINVAL, "%s: delete items: cache opened read-only", c->path);
    if (n == 0) return FC_OK;
    struct delete_items_arg a = {items, n, 0};
    int rc = run_write(c, "delete items", delete_items_body, &a, err);
    if (rc == 0 && deleted) *deleted = a.n;
    return rc;
}

struct delete_keys_arg {
    const fc_feature_key *keys;
    size_t n_keys;
    size_t n; /* deleted in this transaction */
};

static int delete_keys_body(fc_cache *c, MDB_txn *txn, void *arg) {
    struct delete_keys_arg *a = arg;
    MDB_cursor *cur = NULL;
    a->n = 0;
    int rc = mdb_cursor_open(txn, c->dbi, &cur);
    for (size_t i = 0; i < a->n_keys && rc == 0; i++) {
        uint8_t kb[FC_FEATURE_KEY_SIZE];
        key_encode(&a->keys[i], kb);
        rc = delete_prefix(c, cur, kb, sizeof kb, 1, &a->n); /* the whole key: that value only */
    }
    if (cur) mdb_cursor_close(cur);
    return rc;
}

int fc_cache_delete_keys(fc_cache *c, const fc_feature_key *keys, size_t n, size_t *deleted, fc_error *err) {
    if (deleted) *deleted = 0;
    if (!c || (!keys && n)) return fc_fail(err, FC_EINVAL, "fc_cache_delete_keys: NULL argument");
    if (c->rdonly) return fc_fail(err, FC_EINVAL, "%s: delete keys: cache opened read-only", c->path);
    if (n == 0) return FC_OK;
    struct delete_keys_arg a = {keys, n, 0};
    int rc = run_write(c, "delete keys", delete_keys_body, &a, err);
    if (rc == 0 && deleted) *deleted = a.n;
    return rc;
}

/* ---- reads --------------------------------------------------------------------------------- */

int fc_cache_txn_begin(fc_cache *c, fc_cache_txn **out, fc_error *err) {
    if (out) *out = NULL;
    if (!c || !out) return fc_fail(err, FC_EINVAL, "fc_cache_txn_begin: NULL argument");
    fc_cache_txn *t = malloc(sizeof *t);
    if (!t) return fc_fail(err, FC_ENOMEM, "%s: no memory for a read transaction", c->path);
    int rc = txn_enter(c, MDB_RDONLY, &t->txn, NULL, "read transaction", err);
    if (rc) {
        free(t);
        return rc;
    }
    t->c = c;
    *out = t;
    return FC_OK;
}

void fc_cache_txn_end(fc_cache_txn *t) {
    if (!t) return;
    mdb_txn_abort(t->txn);
    txn_leave(t->c);
    free(t);
}

/* mdb_get + parse; 1 found, 0 absent, negative FC code. */
static int lookup(fc_cache *c, MDB_txn *txn, const fc_feature_key *key, fc_feature_view *view,
                  fc_error *err) {
    uint8_t kb[FC_FEATURE_KEY_SIZE];
    key_encode(key, kb);
    MDB_val k = {sizeof kb, kb}, v;
    int rc = mdb_get(txn, c->dbi, &k, &v);
    if (rc == MDB_NOTFOUND) {
        memset(view, 0, sizeof *view);
        return 0;
    }
    if (rc) return mdb_fail(c, rc, "get", err);
    rc = fc_feature_parse(v.mv_data, v.mv_size, view, err);
    if (rc) {
        char kt[128];
        fc_error_prefix(err, "%s: %s: ", c->path, key_text(key, kt));
        return rc;
    }
    return 1;
}

int fc_cache_txn_get(fc_cache_txn *t, const fc_feature_key *key, fc_feature_view *view,
                     fc_error *err) {
    if (!t || !key || !view) return fc_fail(err, FC_EINVAL, "fc_cache_txn_get: NULL argument");
    return lookup(t->c, t->txn, key, view, err);
}

int fc_cache_get(fc_cache *c, const fc_feature_key *key, float *out, size_t cap,
                 fc_feature_view *info, fc_error *err) {
    if (!c || !key || (!out && cap)) return fc_fail(err, FC_EINVAL, "fc_cache_get: NULL argument");
    MDB_txn *txn;
    fc_feature_view v;
    int rc = txn_enter(c, MDB_RDONLY, &txn, NULL, "get", err);
    if (rc) return rc;
    int found = lookup(c, txn, key, &v, err);
    if (found == 1) {
        char kt[128];
        rc = fc_feature_verify(&v, err);
        if (rc == 0 && out) rc = fc_feature_to_f32(&v, out, cap, err);
        if (rc) fc_error_prefix(err, "%s: %s: ", c->path, key_text(key, kt));
    }
    mdb_txn_abort(txn);
    txn_leave(c);
    if (info) {
        *info = found == 1 ? v : (fc_feature_view){0};
        info->data = NULL;
    }
    if (found < 0) return found;
    return rc ? rc : found;
}

/* fc_cache_exists, and with verify fc_cache_exists_verified. */
static int exists(fc_cache *c, const fc_feature_key *keys, size_t n, int verify, uint8_t *present,
                  size_t *n_present, size_t *n_damaged, fc_error *err) {
    if (n_present) *n_present = 0;
    if (n_damaged) *n_damaged = 0;
    if (!c || (n && (!keys || !present))) return fc_fail(err, FC_EINVAL, "fc_cache_exists: NULL argument");
    MDB_txn *txn;
    int rc = txn_enter(c, MDB_RDONLY, &txn, NULL, "exists", err);
    if (rc) return rc;
    size_t found = 0, damaged = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t kb[FC_FEATURE_KEY_SIZE];
        key_encode(&keys[i], kb);
        MDB_val k = {sizeof kb, kb}, v;
        int mrc = mdb_get(txn, c->dbi, &k, &v); /* v points into the map */
        if (mrc && mrc != MDB_NOTFOUND) {
            rc = mdb_fail(c, mrc, "exists", err);
            break;
        }
        present[i] = mrc == 0;
        fc_feature_view view;
        if (mrc == 0 && verify &&
            (fc_feature_parse(v.mv_data, v.mv_size, &view, NULL) || fc_feature_verify(&view, NULL)))
            present[i] = 2;
        found += present[i] == 1;
        damaged += present[i] == 2;
    }
    mdb_txn_abort(txn);
    txn_leave(c);
    if (rc == 0 && n_present) *n_present = found;
    if (rc == 0 && n_damaged) *n_damaged = damaged;
    return rc;
}

int fc_cache_exists(fc_cache *c, const fc_feature_key *keys, size_t n, uint8_t *present,
                    size_t *n_present, fc_error *err) {
    return exists(c, keys, n, 0, present, n_present, NULL, err);
}

int fc_cache_exists_verified(fc_cache *c, const fc_feature_key *keys, size_t n, uint8_t *present,
                             size_t *n_present, size_t *n_damaged, fc_error *err) {
    return exists(c, keys, n, 1, present, n_present, n_damaged, err);
}

int fc_cache_foreach(fc_cache *c, const uint8_t *extractor, unsigned flags, fc_cache_visit_fn fn,
                     void *user, fc_error *err) {
    if (!c || !fn) return fc_fail(err, FC_EINVAL, "fc_cache_foreach: NULL argument");
    MDB_txn *txn;
    MDB_cursor *cur = NULL;
    int rc = txn_enter(c, MDB_RDONLY, &txn, NULL, "walk", err);
    if (rc) return rc;
    int mrc = mdb_cursor_open(txn, c->dbi, &cur);
    if (mrc) {
        rc = mdb_fail(c, mrc, "walk", err);
        goto done;
    }
    MDB_val k = {extractor ? 32 : 0, (void *)extractor}, v;
    mrc = mdb_cursor_get(cur, &k, &v, extractor ? MDB_SET_RANGE : MDB_FIRST);
    for (; mrc == 0; mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (extractor && (k.mv_size < 32 || memcmp(k.mv_data, extractor, 32) != 0)) break;
        if (k.mv_size != FC_FEATURE_KEY_SIZE) {
            mrc = BAD_KEY;
            break;
        }
        fc_feature_key key;
        fc_feature_view view, *vp = NULL;
        fc_error problem = {0};
        int status = 0;
        key_decode(k.mv_data, &key);
        if (flags & (FC_CACHE_VISIT_VALUES | FC_CACHE_VISIT_VERIFY)) {
            status = fc_feature_parse(v.mv_data, v.mv_size, &view, &problem);
            if (status == 0 && (flags & FC_CACHE_VISIT_VERIFY)) status = fc_feature_verify(&view, &problem);
            if (status == 0 && (flags & FC_CACHE_VISIT_VERIFY)) /* could it be deleted? */
                status = fc_lmdb_check_overflow(c->map, c->map_len, c->psize, v.mv_data, v.mv_size, &problem);
            if (status) {
                char kt[128];
                fc_error_prefix(&problem, "%s: %s: ", c->path, key_text(&key, kt));
            } else {
                vp = &view;
            }
        }
        rc = fn(user, &key, vp, status ? &problem : NULL);
        if (rc) goto done;
    }
    if (mrc != MDB_NOTFOUND && mrc != 0) rc = mdb_fail(c, mrc, "walk", err);
done:
    if (cur) mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    txn_leave(c);
    return rc;
}

static int count_visit(void *user, const fc_feature_key *key, const fc_feature_view *view,
                       const fc_error *problem) {
    (void)key, (void)view, (void)problem;
    (*(size_t *)user)++;
    return 0;
}

int fc_cache_count(fc_cache *c, const uint8_t *extractor, size_t *count, fc_error *err) {
    if (!c || !count) return fc_fail(err, FC_EINVAL, "fc_cache_count: NULL argument");
    *count = 0;
    if (extractor) return fc_cache_foreach(c, extractor, 0, count_visit, count, err);
    fc_cache_stats st;
    int rc = fc_cache_stat(c, &st, err);
    if (rc == 0) *count = st.entries;
    return rc;
}

void fc_cache_release_pages(fc_cache *c) {
    if (!c) return;
    pthread_mutex_lock(&c->mu); /* no map growth meanwhile */
    if (c->map) madvise((void *)(uintptr_t)c->map, c->map_len, MADV_DONTNEED);
    pthread_mutex_unlock(&c->mu);
}

int fc_cache_stat(fc_cache *c, fc_cache_stats *st, fc_error *err) {
    if (!c || !st) return fc_fail(err, FC_EINVAL, "fc_cache_stat: NULL argument");
    memset(st, 0, sizeof *st);
    MDB_txn *txn;
    int rc = txn_enter(c, MDB_RDONLY, &txn, NULL, "stat", err);
    if (rc) return rc;
    MDB_stat ms;
    MDB_envinfo info;
    int mrc = mdb_stat(txn, c->dbi, &ms);
    if (mrc == 0) mrc = mdb_env_info(c->env, &info);
    mdb_txn_abort(txn);
    txn_leave(c);
    if (mrc) return mdb_fail(c, mrc, "stat", err);
    st->entries = ms.ms_entries;
    st->page_size = ms.ms_psize;
    st->map_size = info.me_mapsize;
    st->max_map_size = c->max_map_size;
    st->used_bytes = (info.me_last_pgno + 1) * (size_t)ms.ms_psize;
    return FC_OK;
}
