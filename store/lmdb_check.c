/* Checks of LMDB's on-disk structures (see lmdb_check.h). The layout, as liblmdb 0.9 writes it on a
 * 64-bit host (host byte order, read here with memcpy):
 *   page header (16 bytes): u64 page number, u16 pad, u16 flags, then u16 lower and u16 upper bounds
 *     of the free space (branch/leaf pages) or u32 page count (the first page of an overflow run);
 *     a branch/leaf page has (lower - 16) / 2 u16 node offsets after the header.
 *   meta page (pages 0 and 1; flags META): at byte 16 u32 magic 0xBEEFC0DE, u32 version 1, u64
 *     fixed address, u64 map size, two trees (free pages, main) of 48 bytes each (u32 pad, which is
 *     the page size in the free tree, u16 flags, u16 depth, u64 branch, leaf and overflow page
 *     counts, u64 entries, u64 root), u64 last page, u64 transaction id.
 *   node (2-byte aligned): u16 lo, u16 hi, u16 flags, u16 key size, key, then data. In a branch
 *     node lo | hi << 16 | flags << 32 is the child page; in a leaf node lo | hi << 16 is the data
 *     size, and flag BIGDATA says the data is the u64 first page of an overflow run holding it after
 *     that page's 16-byte header.
 *   free tree: keys are u64 transaction ids, values u64 lists (count, then that many page numbers in
 *     descending order) of pages free for reuse.
 * Not here: anything that needs liblmdb itself. */
#include "store/lmdb_check.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { PAGEHDR = 16, NODEHDR = 8, META_AT = 16, META_END = META_AT + 136 };
enum { P_BRANCH = 0x01, P_LEAF = 0x02, P_OVERFLOW = 0x04, P_META = 0x08 };
enum { F_BIGDATA = 0x01, INTEGERKEY = 0x08, DB_FLAGS = 0x7e /* key and duplicate flags of a tree */ };
enum { FREE_TREE = 0, MAIN_TREE = 1 };
#define MAGIC 0xBEEFC0DEu
#define NO_ROOT UINT64_MAX
#define MAX_DEPTH 30 /* liblmdb's cursors hold 32 pages */
#define MAX_KEY 511  /* liblmdb's default key size limit */
#define SKIPPED 1    /* salvage: the page or value was left out */

static uint16_t rd16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static uint32_t rd32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t rd64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

/* Pages an overflow value of size bytes occupies (header included). */
static uint64_t ov_pages(uint64_t size, uint32_t psize) { return (PAGEHDR - 1 + size) / psize + 1; }

static const char *const TREE_NAME[2] = {"free-page", "main"};

/* ---- meta pages ---------------------------------------------------------------------------- */

/* Parses meta page p (at least META_END bytes) into m; on a problem writes why and returns -1. */
static int parse_meta(const uint8_t *p, fc_lmdb_meta *m, char *why, size_t cap) {
    memset(m, 0, sizeof *m);
    if (!(rd16(p + 10) & P_META)) return snprintf(why, cap, "it is not a meta page (flags %#x)", rd16(p + 10)), -1;
    if (rd32(p + META_AT) != MAGIC) return snprintf(why, cap, "bad magic %08x", rd32(p + META_AT)), -1;
    if (rd32(p + META_AT + 4) != 1)
        return snprintf(why, cap, "format version %u (this build reads 1)", rd32(p + META_AT + 4)), -1;
    for (int t = 0; t < 2; t++) {
        const uint8_t *d = p + META_AT + 24 + 48 * t;
        fc_lmdb_tree *tr = &m->tree[t];
        tr->flags = rd16(d + 4);
        tr->depth = rd16(d + 6);
        tr->branch = rd64(d + 8);
        tr->leaf = rd64(d + 16);
        tr->overflow = rd64(d + 24);
        tr->entries = rd64(d + 32);
        tr->root = rd64(d + 40);
    }
    m->psize = rd32(p + META_AT + 24);
    m->last_pg = rd64(p + META_AT + 120);
    m->txnid = rd64(p + META_AT + 128);
    if (m->psize < 512 || m->psize > 65536 || (m->psize & (m->psize - 1)))
        return snprintf(why, cap, "page size %u is not a power of two in 512..65536", m->psize), -1;
    if (m->last_pg < 1 || m->last_pg > (UINT64_MAX >> 17))
        return snprintf(why, cap, "last page %llu is out of range", (unsigned long long)m->last_pg), -1;
    /* 2^48 commits take centuries; near 2^64 the next transaction id would wrap to 0 */
    if (m->txnid > ((uint64_t)1 << 48))
        return snprintf(why, cap, "transaction id %llu is out of range", (unsigned long long)m->txnid), -1;
    /* the free tree's flags field also keeps the environment's creation flags (MDB_NOSUBDIR...) */
    if ((m->tree[FREE_TREE].flags & DB_FLAGS) != INTEGERKEY || m->tree[MAIN_TREE].flags != 0)
        return snprintf(why, cap, "tree flags %#x/%#x are not the ones this store is opened with",
                        m->tree[FREE_TREE].flags, m->tree[MAIN_TREE].flags), -1;
    for (int t = 0; t < 2; t++) {
        const fc_lmdb_tree *tr = &m->tree[t];
        int empty = tr->root == NO_ROOT;
        if (empty ? tr->depth != 0 || tr->entries != 0 : tr->root < 2 || tr->root > m->last_pg ||
                                                         tr->depth < 1 || tr->depth > MAX_DEPTH)
            return snprintf(why, cap, "%s tree: root page %llu, depth %u out of range (last page %llu)",
                            TREE_NAME[t], (unsigned long long)tr->root, tr->depth,
                            (unsigned long long)m->last_pg), -1;
    }
    return 0;
}

int fc_lmdb_check_header(const char *path, fc_error *err) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) return 1;
        return fc_fail(err, FC_EIO, "%s: cannot open: %s", path, strerror(errno));
    }
    struct stat st;
    uint8_t page[META_END];
    fc_lmdb_meta m[2];
    char why[200];
    int rc = 0;
    if (fstat(fd, &st) != 0) { rc = fc_fail(err, FC_EIO, "%s: %s", path, strerror(errno)); goto out; }
    if (st.st_size == 0) { rc = 1; goto out; }
    uint64_t off = 0;
    for (int i = 0; i < 2; i++, off = m[0].psize) {
        ssize_t n = pread(fd, page, sizeof page, (off_t)off);
        if (n < 0) { rc = fc_fail(err, FC_EIO, "%s: cannot read: %s", path, strerror(errno)); goto out; }
        if (n < (ssize_t)sizeof page) {
            rc = fc_fail(err, FC_EFORMAT, "%s is damaged: it has %lld bytes, too short for its meta page %d (truncated?)",
                         path, (long long)st.st_size, i);
            goto out;
        }
        int ok = parse_meta(page, &m[i], why, sizeof why) == 0;
        /* transaction N writes meta page N % 2, and readers pick the page by that rule */
        if (ok && m[i].txnid && m[i].txnid % 2 != (uint64_t)i)
            ok = 0, snprintf(why, sizeof why, "it carries transaction %llu", (unsigned long long)m[i].txnid);
        if (!ok || rd64(page) != (uint64_t)i) {
            if (rd64(page) != (uint64_t)i) snprintf(why, sizeof why, "it does not carry its own page number");
            rc = fc_fail(err, FC_EFORMAT, "%s is damaged%s: meta page %d: %s", path,
                         i == 0 && !strncmp(why, "bad magic", 9) ? " or not an LMDB file" : "", i, why);
            goto out;
        }
    }
    if (m[1].psize != m[0].psize) {
        rc = fc_fail(err, FC_EFORMAT, "%s is damaged: its meta pages disagree on the page size (%u, %u)", path,
                     m[0].psize, m[1].psize);
        goto out;
    }
    if ((uint64_t)st.st_size < 2 * (uint64_t)m[0].psize) {
        rc = fc_fail(err, FC_EFORMAT, "%s is damaged: it has %lld bytes, less than its two %u-byte meta pages (truncated?)",
                     path, (long long)st.st_size, m[0].psize);
        goto out;
    }
out:
    close(fd);
    return rc;
}

int fc_lmdb_meta_find(const uint8_t *base, size_t size, uint64_t txnid, fc_lmdb_meta *m, fc_error *err) {
    char why[200] = "the file is shorter than its meta pages";
    uint32_t psize = size >= META_END ? rd32(base + META_AT + 24) : 0;
    size_t at = (size_t)(txnid % 2) * psize; /* liblmdb reads snapshot N from meta page N % 2 */
    if (psize >= META_END && at + META_END <= size) {
        const uint8_t *p = base + at;
        uint8_t copy[META_END];
        memcpy(copy, p, sizeof copy);
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (rd64(p + META_AT + 128) != txnid || rd64(copy + META_AT + 128) != txnid)
            snprintf(why, sizeof why, "meta page %d carries transaction %llu", (int)(txnid % 2),
                     (unsigned long long)rd64(p + META_AT + 128));
        else if (parse_meta(copy, m, why, sizeof why) == 0)
            return 0;
    }
    return fc_fail(err, FC_EFORMAT, "meta page of transaction %llu: %s", (unsigned long long)txnid, why);
}

int fc_lmdb_metas(const uint8_t *base, size_t size, fc_lmdb_meta m[2], int valid[2]) {
    char why[200];
    valid[0] = size >= META_END && parse_meta(base, &m[0], why, sizeof why) == 0 && m[0].txnid % 2 == 0;
    /* page 1 sits one page in: that page's size, or when page 0 is unreadable the first size that fits */
    valid[1] = 0;
    for (uint32_t ps = valid[0] ? m[0].psize : 512; ps <= 65536 && !valid[1]; ps *= 2) {
        valid[1] = ps + (size_t)META_END <= size && parse_meta(base + ps, &m[1], why, sizeof why) == 0 &&
                   m[1].psize == ps && (m[1].txnid % 2 == 1 || m[1].txnid == 0);
        if (valid[0]) break;
    }
    return valid[0] + valid[1];
}

/* ---- the page walk ------------------------------------------------------------------------- */

typedef struct walk {
    const uint8_t *base;
    uint32_t psize;
    uint64_t npages;   /* whole pages in the image */
    uint64_t last_pg;
    uint64_t txnid;    /* the snapshot's transaction */
    uint8_t *claimed;  /* one bit per page below npages */
    uint64_t beyond;   /* free-list pages at or past npages */
    int tree, depth;   /* the tree being walked */
    uint64_t branch, leaf, overflow, entries;
    int salvage;       /* skip what fails instead of stopping */
    size_t skipped;
    fc_lmdb_pair_fn fn;
    void *user;
    int stopped;       /* fn's non-zero value */
    uint8_t units[65536 / 16]; /* one bit per 2 bytes of the page whose nodes are being checked */
    fc_error *err;
} walk;

/* A failed check of page pgno: FC_EFORMAT naming it, or SKIPPED when salvaging. */
__attribute__((format(printf, 3, 4))) static int bad(walk *w, uint64_t pgno, const char *fmt, ...) {
    if (w->salvage) return (int)(w->skipped++, SKIPPED);
    char why[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    return fc_fail(w->err, FC_EFORMAT, "page %llu (%s tree): %s", (unsigned long long)pgno, TREE_NAME[w->tree], why);
}

/* Marks pages [pgno, pgno + count) as used, referenced from page `from`. in_file: they must lie
 * inside the file (tree pages and overflow runs, which are read); free pages may lie past its end. */
static int claim(walk *w, uint64_t pgno, uint64_t count, int in_file, uint64_t from) {
    if (pgno < 2 || count == 0 || pgno > w->last_pg || count - 1 > w->last_pg - pgno)
        return bad(w, from, "pages %llu..+%llu are outside 2..%llu", (unsigned long long)pgno,
                   (unsigned long long)count, (unsigned long long)w->last_pg);
    for (uint64_t p = pgno; p < pgno + count; p++) {
        if (p >= w->npages && in_file)
            return bad(w, from, "page %llu lies past the end of the file (%llu pages; truncated?)",
                       (unsigned long long)p, (unsigned long long)w->npages);
        if (w->claimed[p >> 3] & (1u << (p & 7))) return bad(w, from, "page %llu is used twice", (unsigned long long)p);
        w->beyond += p >= w->npages;
        w->claimed[p >> 3] |= (uint8_t)(1u << (p & 7));
    }
    return 0;
}

typedef struct node {
    const uint8_t *key, *data; /* data: inline value, or NULL for an overflow value until claimed */
    size_t ksize;
    uint64_t child;            /* branch: the child page */
    uint64_t dsize, ovpg;      /* leaf: value size, first overflow page (BIGDATA) */
    int big;
    unsigned off, end;         /* the node's bytes in the page, end rounded up to even */
} node;

/* Node i of page p (pgno) into n, checked to lie inside the page. */
static int read_node(walk *w, const uint8_t *p, uint64_t pgno, unsigned i, int leaf, node *n) {
    unsigned off = rd16(p + PAGEHDR + 2 * i);
    if (off < rd16(p + 14) || off % 2 || off > w->psize - NODEHDR)
        return bad(w, pgno, "node %u at offset %u is outside the page's node area", i, off);
    const uint8_t *nd = p + off;
    uint64_t lo = rd16(nd), hi = rd16(nd + 2), flags = rd16(nd + 4);
    memset(n, 0, sizeof *n);
    n->ksize = rd16(nd + 6);
    n->key = nd + NODEHDR;
    uint64_t end = off + NODEHDR + n->ksize;
    n->off = off;
    n->end = (unsigned)((end + 1) & ~1ull); /* a branch node; a leaf's is set below */
    int first_branch = !leaf && i == 0; /* a branch page's first key is not used */
    if (!first_branch && (n->ksize == 0 || n->ksize > MAX_KEY || (w->tree == FREE_TREE && n->ksize != 8)))
        return bad(w, pgno, "node %u has a key of %zu bytes", i, n->ksize);
    if (!leaf) {
        n->child = lo | hi << 16 | flags << 32;
        return end > w->psize ? bad(w, pgno, "node %u runs past the end of the page", i) : 0;
    }
    if (flags & ~(uint64_t)F_BIGDATA)
        return bad(w, pgno, "node %u has flags %#llx (sub-databases or duplicates, never written here)", i,
                   (unsigned long long)flags);
    n->dsize = lo | hi << 16;
    n->big = (int)(flags & F_BIGDATA);
    end += n->big ? 8 : n->dsize;
    n->end = (unsigned)(((end + 1) & ~1ull) < w->psize ? (end + 1) & ~1ull : w->psize);
    if (end > w->psize) return bad(w, pgno, "node %u (%llu bytes of data) runs past the end of the page", i,
                                   (unsigned long long)n->dsize);
    if (n->big) n->ovpg = rd64(nd + NODEHDR + n->ksize);
    else n->data = nd + NODEHDR + n->ksize;
    return 0;
}

/* Key order: bytes in the main tree, integers in the free-page tree. */
static int key_cmp(const walk *w, const node *a, const node *b) {
    if (w->tree == FREE_TREE) return rd64(a->key) < rd64(b->key) ? -1 : rd64(a->key) > rd64(b->key);
    size_t m = a->ksize < b->ksize ? a->ksize : b->ksize;
    int c = memcmp(a->key, b->key, m);
    return c ? c : (a->ksize > b->ksize) - (a->ksize < b->ksize);
}

/* The keys a page may hold: [lo, hi), NULL for no bound (a branch page's key i is the least key of
 * its child i, so child i holds [key i, key i + 1)). liblmdb's searches, and the walks of this
 * store over extractors, rely on it. */
typedef struct range {
    const node *lo, *hi;
} range;

static int in_range(const walk *w, const range *r, const node *n) {
    return (!r->lo || key_cmp(w, r->lo, n) <= 0) && (!r->hi || key_cmp(w, n, r->hi) < 0);
}

/* A free-page list: count, then that many page numbers in descending order, each claimed. */
static int check_free_list(walk *w, uint64_t pgno, const uint8_t *v, uint64_t size) {
    if (size < 8 || size % 8 || rd64(v) > size / 8 - 1)
        return bad(w, pgno, "a free-page list of %llu bytes is malformed", (unsigned long long)size);
    uint64_t n = rd64(v);
    for (uint64_t i = 1; i <= n; i++) {
        uint64_t id = rd64(v + 8 * i);
        if (i > 1 && id >= rd64(v + 8 * (i - 1))) return bad(w, pgno, "a free-page list is out of order");
        int rc = claim(w, id, 1, 0, pgno);
        if (rc) return rc;
    }
    return 0;
}

/* A leaf node's value: its overflow run claimed, a free-page list checked, a salvaged pair handed on. */
static int leaf_value(walk *w, uint64_t pgno, node *n) {
    if (n->big) {
        uint64_t pages = ov_pages(n->dsize, w->psize);
        int rc = claim(w, n->ovpg, pages, 1, pgno);
        if (rc) return rc;
        w->overflow += pages;
        n->data = w->base + n->ovpg * w->psize + PAGEHDR;
    }
    w->entries++;
    /* a list is filed under the transaction that freed its pages; liblmdb takes key 0 for "none
     * used yet" and would hand out the same pages again */
    if (w->tree == FREE_TREE && (rd64(n->key) == 0 || rd64(n->key) > w->txnid))
        return bad(w, pgno, "a free-page list filed under transaction %llu (the snapshot is %llu)",
                   (unsigned long long)rd64(n->key), (unsigned long long)w->txnid);
    if (w->tree == FREE_TREE) return check_free_list(w, pgno, n->data, n->dsize);
    if (w->fn && (w->stopped = w->fn(w->user, n->key, n->ksize, n->data, (size_t)n->dsize)) != 0) return -1;
    return 0;
}

/* liblmdb packs a page's nodes from its end down to `upper`, each taking its size rounded up to
 * even, without gaps or overlaps; deleting or moving a node shifts the others by those sizes, so
 * overlapping nodes would make it copy past the page. */
static int check_packing(walk *w, const uint8_t *p, uint64_t pgno, int leaf, unsigned nkeys, unsigned upper) {
    memset(w->units, 0, w->psize / 16);
    unsigned used = 0;
    node n;
    for (unsigned i = 0; i < nkeys; i++) {
        int rc = read_node(w, p, pgno, i, leaf, &n);
        if (rc) return rc;
        for (unsigned u = n.off / 2; u < n.end / 2; u++) {
            if (w->units[u >> 3] & (1u << (u & 7))) return bad(w, pgno, "node %u overlaps another", i);
            w->units[u >> 3] |= (uint8_t)(1u << (u & 7));
        }
        used += n.end - n.off;
    }
    if (used != w->psize - upper)
        return bad(w, pgno, "its nodes take %u bytes, its free space bounds leave %u", used, w->psize - upper);
    return 0;
}

static int walk_page(walk *w, uint64_t pgno, int level, uint64_t from, const range *r) {
    int rc = claim(w, pgno, 1, 1, from);
    if (rc) return rc;
    const uint8_t *p = w->base + pgno * w->psize;
    unsigned flags = rd16(p + 10), lower = rd16(p + 12), upper = rd16(p + 14);
    int leaf = flags == P_LEAF;
    if (rd64(p) != pgno) return bad(w, pgno, "the page carries the number %llu", (unsigned long long)rd64(p));
    if (flags != P_LEAF && flags != P_BRANCH) return bad(w, pgno, "page type %#x where a branch or leaf page belongs", flags);
    if (level > MAX_DEPTH || (!w->salvage && leaf != (level == w->depth)))
        return bad(w, pgno, "a %s page at level %d of a tree of depth %d", leaf ? "leaf" : "branch", level, w->depth);
    if (lower < PAGEHDR || (lower - PAGEHDR) % 2 || upper > w->psize || lower > upper)
        return bad(w, pgno, "free space %u..%u does not fit a %u-byte page", lower, upper, w->psize);
    unsigned nkeys = (lower - PAGEHDR) / 2;
    if (!leaf && nkeys < (w->tree == MAIN_TREE ? 2u : 1u)) return bad(w, pgno, "a branch page with %u keys", nkeys);
    if (!w->salvage && (rc = check_packing(w, p, pgno, leaf, nkeys, upper)) != 0) return rc;
    if (leaf) w->leaf++;
    else w->branch++;
    node n, next, prev;
    int have_prev = 0;
    for (unsigned i = 0; i < nkeys; i++) {
        if ((rc = read_node(w, p, pgno, i, leaf, &n)) < 0) return rc;
        if (rc == SKIPPED) continue;
        int keyed = leaf || i > 0; /* a branch page's first key is not used */
        if (!w->salvage && keyed && (!in_range(w, r, &n) || (have_prev && key_cmp(w, &prev, &n) >= 0)))
            return bad(w, pgno, "node %u is out of key order", i);
        if (leaf) {
            rc = leaf_value(w, pgno, &n);
        } else {
            range sub = {i ? &n : r->lo, r->hi};
            if (!w->salvage && i + 1 < nkeys) {
                if ((rc = read_node(w, p, pgno, i + 1, 0, &next)) < 0) return rc;
                sub.hi = &next;
            }
            rc = walk_page(w, n.child, level + 1, pgno, &sub);
        }
        if (rc < 0) return rc;
        if (keyed) prev = n, have_prev = 1;
    }
    return 0;
}

static int walk_tree(walk *w, int tree, const fc_lmdb_tree *t) {
    w->tree = tree;
    w->depth = t->depth;
    w->branch = w->leaf = w->overflow = w->entries = 0;
    if (t->root == NO_ROOT) return 0;
    range all = {NULL, NULL};
    int rc = walk_page(w, t->root, 1, t->root, &all);
    if (rc < 0 || w->salvage) return rc < 0 ? rc : 0;
    if (w->branch != t->branch || w->leaf != t->leaf || w->overflow != t->overflow || w->entries != t->entries)
        return fc_fail(w->err, FC_EFORMAT,
                       "%s tree: %llu branch, %llu leaf, %llu overflow pages and %llu entries found, the meta "
                       "page counts %llu, %llu, %llu and %llu", TREE_NAME[tree], (unsigned long long)w->branch,
                       (unsigned long long)w->leaf, (unsigned long long)w->overflow, (unsigned long long)w->entries,
                       (unsigned long long)t->branch, (unsigned long long)t->leaf, (unsigned long long)t->overflow,
                       (unsigned long long)t->entries);
    return 0;
}

static int walk_init(walk *w, const uint8_t *base, size_t size, const fc_lmdb_meta *m, int salvage, fc_error *err) {
    memset(w, 0, sizeof *w);
    w->base = base;
    w->psize = m->psize;
    w->npages = size / m->psize;
    w->last_pg = m->last_pg;
    w->txnid = m->txnid;
    w->salvage = salvage;
    w->err = err;
    if (salvage && w->last_pg >= w->npages) /* a page past the file is never read, whatever the meta page says */
        w->last_pg = w->npages ? w->npages - 1 : 0;
    /* pages past the end of the file can only be free ones, and the free lists (inside the file)
     * name at most psize / 8 pages per page of the file */
    if (m->last_pg >= w->npages && m->last_pg - w->npages >= w->npages * (m->psize / 8) && !salvage)
        return fc_fail(err, FC_EFORMAT, "the file has %llu pages of %u bytes but its last page is %llu (truncated?)",
                       (unsigned long long)w->npages, m->psize, (unsigned long long)m->last_pg);
    uint64_t pages = w->last_pg + 1 > w->npages ? w->last_pg + 1 : w->npages;
    w->claimed = calloc(pages / 8 + 1, 1);
    if (!w->claimed) return fc_fail(err, FC_ENOMEM, "out of memory for a map of %llu pages", (unsigned long long)pages);
    w->claimed[0] = 3; /* the meta pages */
    return 0;
}

int fc_lmdb_check_tree(const uint8_t *base, size_t size, const fc_lmdb_meta *m, fc_error *err) {
    walk w;
    int rc = walk_init(&w, base, size, m, 0, err);
    if (rc) return rc;
    if (w.npages < 2) rc = fc_fail(err, FC_EFORMAT, "the file is shorter than its two meta pages (truncated?)");
    for (int t = 0; t < 2 && rc == 0; t++) rc = walk_tree(&w, t, &m->tree[t]);
    if (rc == 0 && m->last_pg >= w.npages && w.beyond < m->last_pg + 1 - w.npages)
        rc = fc_fail(err, FC_EFORMAT, "the file has %llu pages of %u bytes but its pages up to %llu are in use (truncated?)",
                     (unsigned long long)w.npages, m->psize, (unsigned long long)m->last_pg);
    free(w.claimed);
    return rc;
}

int fc_lmdb_salvage(const uint8_t *base, size_t size, const fc_lmdb_meta *m, fc_lmdb_pair_fn fn, void *user,
                    size_t *skipped, fc_error *err) {
    walk w;
    *skipped = 0;
    int rc = walk_init(&w, base, size, m, 1, err);
    if (rc) return rc;
    w.fn = fn;
    w.user = user;
    if (w.npages > 2) rc = walk_tree(&w, MAIN_TREE, &m->tree[MAIN_TREE]);
    *skipped = w.skipped;
    free(w.claimed);
    return w.stopped ? w.stopped : rc;
}

int fc_lmdb_check_overflow(const uint8_t *map, size_t map_len, uint32_t psize, const void *data, size_t size,
                           fc_error *err) {
    const uint8_t *d = data;
    if (!map || !psize || d < map || d >= map + map_len) return 0; /* unknown map, or a page of this transaction */
    size_t off = (size_t)(d - map);
    if (off % psize != PAGEHDR) return 0; /* inline: after a node header and a key, never at 16 */
    const uint8_t *p = d - PAGEHDR;
    if (rd64(p) != off / psize || rd16(p + 10) != P_OVERFLOW || rd32(p + 12) != ov_pages(size, psize))
        return fc_fail(err, FC_EFORMAT, "overflow page %zu (holding a %zu-byte value) carries number %llu, type %#x "
                       "and %u pages (%llu expected)", off / psize, size, (unsigned long long)rd64(p), rd16(p + 10),
                       rd32(p + 12), (unsigned long long)ov_pages(size, psize));
    return 0;
}
