/* fc_merge_values (merge_int.h): one source's feature store walked in key order inside one read
 * transaction (every value parsed, CRC-checked and its pages checked by fc_cache_foreach), its
 * sound values copied into batches of up to BATCH_VALUES values or BATCH_BYTES bytes (copies: the
 * walk's pointers end with it, and the last batch is written after it), each batch written in one
 * destination transaction: appended (MDB_APPEND, no search) while the key
 * is after the destination's last, else looked up and written only when absent or damaged. Not here:
 * the catalog (merge_catalog.c), opening the destination (merge.c). */
#include <lmdb.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "store/cache.h"
#include "store/cache_lmdb.h"
#include "store/merge_int.h"

#define BATCH_VALUES 8192
#define BATCH_BYTES ((size_t)64 << 20)

typedef struct rec {
    uint8_t key[FC_FEATURE_KEY_SIZE];
    uint8_t header[FC_FEATURE_HEADER_SIZE];
    size_t offset, nbytes; /* the data: buf[offset..offset+nbytes) of the batch */
} rec;

/* What one attempt of a batch's transaction did (an attempt may be discarded and run again). */
typedef struct batch_counts {
    size_t copied, appended, present, replaced, differ;
    uint64_t bytes;
} batch_counts;

typedef struct batch {
    rec *recs;
    uint8_t *buf;
    size_t n, bytes, cap; /* records; bytes used and allocated in buf */
    batch_counts done;
    fc_cache *dst;
    const fc_merge_options *o;
    fc_merge_report *rep;
    fc_error *err;
} batch;

/* 1 when the stored value v is r's bytes exactly. */
static int same_value(const MDB_val *v, const rec *r, const uint8_t *data) {
    return v->mv_size == FC_FEATURE_HEADER_SIZE + r->nbytes && memcmp(v->mv_data, r->header, FC_FEATURE_HEADER_SIZE) == 0 &&
           memcmp((const uint8_t *)v->mv_data + FC_FEATURE_HEADER_SIZE, data, r->nbytes) == 0;
}

/* 1 when the stored value v fails its parse or CRC. */
static int damaged(const MDB_val *v) {
    fc_feature_view view;
    return fc_feature_parse(v->mv_data, v->mv_size, &view, NULL) != 0 || fc_feature_verify(&view, NULL) != 0;
}

/* Writes r's value (header, data) under its key: appended through cur, or put. */
static int write_rec(MDB_txn *txn, MDB_dbi dbi, MDB_cursor *cur, const rec *r, const uint8_t *data, int append) {
    MDB_val k = {FC_FEATURE_KEY_SIZE, (void *)r->key}, v = {FC_FEATURE_HEADER_SIZE + r->nbytes, NULL};
    int rc = append ? mdb_cursor_put(cur, &k, &v, MDB_APPEND | MDB_RESERVE) : mdb_put(txn, dbi, &k, &v, MDB_RESERVE);
    if (rc) return rc;
    memcpy(v.mv_data, r->header, FC_FEATURE_HEADER_SIZE);
    memcpy((uint8_t *)v.mv_data + FC_FEATURE_HEADER_SIZE, data, r->nbytes);
    return 0;
}

/* Transaction body: the batch's records in key order. A key after the destination's last is
 * appended; any other is looked up: absent or damaged -> written, same bytes -> left, other sound
 * bytes -> kept (counted). */
static int batch_body(fc_cache *c, MDB_txn *txn, MDB_dbi dbi, void *arg) {
    batch *b = arg;
    memset(&b->done, 0, sizeof b->done);
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, dbi, &cur);
    if (rc) return rc;
    /* the last key, copied: a put may move the bytes of a page this transaction already wrote */
    uint8_t last[FC_FEATURE_KEY_SIZE];
    MDB_val lk, lv;
    rc = mdb_cursor_get(cur, &lk, &lv, MDB_LAST);
    int have_last = rc == 0;
    if (rc == MDB_NOTFOUND) rc = 0;
    if (have_last && lk.mv_size == FC_FEATURE_KEY_SIZE) memcpy(last, lk.mv_data, FC_FEATURE_KEY_SIZE);
    else if (have_last) memset(last, 0xff, sizeof last); /* not featcache's: never append after it */
    for (size_t i = 0; i < b->n && rc == 0; i++) {
        const rec *r = &b->recs[i];
        const uint8_t *data = b->buf + r->offset;
        int after = !have_last || memcmp(r->key, last, FC_FEATURE_KEY_SIZE) > 0;
        if (!after) {
            MDB_val k = {FC_FEATURE_KEY_SIZE, (void *)r->key}, old;
            rc = mdb_get(txn, dbi, &k, &old);
            if (rc == 0 && same_value(&old, r, data)) { b->done.present++; continue; }
            if (rc == 0 && !damaged(&old)) { b->done.differ++; continue; }
            if (rc == 0) { /* damaged: replaced, if its pages can be freed */
                if ((rc = fc_cache_lmdb_freeable(c, &old)) != 0) break;
                b->done.replaced++;
            }
            if (rc != 0 && rc != MDB_NOTFOUND) break;
        }
        if ((rc = write_rec(txn, dbi, cur, r, data, after)) != 0) break;
        if (after) {
            memcpy(last, r->key, FC_FEATURE_KEY_SIZE), have_last = 1;
            b->done.appended++;
        }
        b->done.copied++;
        b->done.bytes += FC_FEATURE_HEADER_SIZE + r->nbytes;
    }
    mdb_cursor_close(cur);
    return rc;
}

/* Commits the gathered records (one transaction) and adds what it did to the report. */
static int flush(batch *b) {
    if (b->o->cancel && *b->o->cancel) return fc_fail(b->err, FC_ECANCELLED, "merge cancelled");
    if (b->n == 0) return 0;
    int rc = fc_cache_lmdb_write(b->dst, "merge", batch_body, b, b->err);
    if (rc) return rc;
    fc_merge_report *rep = b->rep;
    rep->values_copied += b->done.copied;
    rep->values_appended += b->done.appended;
    rep->values_present += b->done.present;
    rep->values_replaced += b->done.replaced;
    rep->values_differ += b->done.differ;
    rep->bytes_copied += b->done.bytes;
    b->n = b->bytes = 0;
    if (b->o->progress) b->o->progress(b->o->user, rep);
    return 0;
}

static int visit(void *user, const fc_feature_key *key, const fc_feature_view *view, const fc_error *problem) {
    batch *b = user;
    b->rep->values_seen++;
    if (problem) { /* not merged: the next extract computes it again */
        b->rep->values_damaged++;
        if (b->o->note) b->o->note(b->o->user, problem->msg);
        return 0;
    }
    if (b->bytes + view->nbytes > b->cap) { /* only while the first batch fills, or for a huge value */
        size_t cap = b->bytes + view->nbytes > BATCH_BYTES ? b->bytes + view->nbytes : BATCH_BYTES;
        uint8_t *nb = realloc(b->buf, cap);
        if (!nb) return fc_fail(b->err, FC_ENOMEM, "out of memory for a batch of %zu bytes", cap);
        b->buf = nb, b->cap = cap;
    }
    rec *r = &b->recs[b->n++];
    fc_cache_key_encode(key, r->key);
    fc_feature_header_encode(view->dtype, view->rank, view->dims, view->crc, r->header);
    memcpy(b->buf + b->bytes, view->data, view->nbytes);
    r->offset = b->bytes;
    r->nbytes = view->nbytes;
    b->bytes += view->nbytes;
    return b->n == BATCH_VALUES || b->bytes >= BATCH_BYTES ? flush(b) : 0;
}

int fc_merge_values(const char *src, fc_cache *dst, const fc_merge_options *o, fc_merge_report *rep,
                    fc_error *err) {
    fc_cache *s = NULL;
    double t0 = omp_get_wtime();
    batch b = {.recs = malloc(BATCH_VALUES * sizeof *b.recs), .dst = dst, .o = o, .rep = rep, .err = err};
    int rc = b.recs ? fc_cache_open(src, FC_CACHE_RDONLY, NULL, &s, err) : fc_fail(err, FC_ENOMEM, "out of memory");
    if (rc == 0) rc = fc_cache_foreach(s, NULL, FC_CACHE_VISIT_VERIFY, visit, &b, err);
    if (rc == 0) rc = flush(&b);
    fc_cache_close(s);
    free(b.recs);
    free(b.buf);
    rep->value_seconds += omp_get_wtime() - t0;
    return rc;
}
