/* SQLite catalog: schema creation/versioning, a per-handle table of lazily prepared statements
 * (all SQL text is constant; data only ever travels through sqlite3_bind_*), and thin row <->
 * struct mapping. Not here: feature storage (cache.c), any policy about what to delete or verify. */
#include "store/catalog.h"
#include "store/catalog_db.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <time.h>

#include "core/core.h"
#include "store/hash.h"

#define DEFAULT_BUSY_MS 10000

static const char SCHEMA_V1[] =
    "CREATE TABLE datasets ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  root TEXT NOT NULL,"
    "  format TEXT NOT NULL,"
    "  created INTEGER NOT NULL);"
    "CREATE TABLE items ("
    "  id INTEGER PRIMARY KEY,"
    "  dataset_id INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,"
    "  path TEXT NOT NULL CHECK (path <> ''),"
    "  sha256 BLOB CHECK (sha256 IS NULL OR length(sha256) = 32),"
    "  label TEXT NOT NULL DEFAULT '',"
    "  split TEXT NOT NULL DEFAULT '',"
    "  status TEXT NOT NULL CHECK (status IN ('ok', 'bad')),"
    "  error TEXT,"
    "  size INTEGER NOT NULL DEFAULT -1,"
    "  mtime INTEGER NOT NULL DEFAULT -1,"
    "  seen INTEGER NOT NULL DEFAULT 0,"
    "  UNIQUE (dataset_id, path),"
    "  CHECK (status = 'bad' OR sha256 IS NOT NULL));"
    "CREATE INDEX items_sha256 ON items(sha256);"
    "CREATE TABLE extractors ("
    "  id TEXT PRIMARY KEY CHECK (length(id) = 64),"
    "  model_path TEXT NOT NULL,"
    "  model_sha256 TEXT NOT NULL CHECK (length(model_sha256) = 64),"
    "  layer TEXT NOT NULL,"
    "  size INTEGER NOT NULL,"
    "  crop REAL NOT NULL,"
    "  preprocess TEXT NOT NULL,"
    "  views TEXT NOT NULL,"
    "  dtype TEXT NOT NULL CHECK (dtype IN ('f32', 'f16')),"
    "  dims TEXT NOT NULL,"
    "  created INTEGER NOT NULL);"
    "CREATE TABLE runs ("
    "  id INTEGER PRIMARY KEY,"
    "  kind TEXT NOT NULL CHECK (kind IN ('extract', 'train', 'sweep')),"
    "  dataset_id INTEGER REFERENCES datasets(id) ON DELETE SET NULL,"
    "  extractor_id TEXT REFERENCES extractors(id) ON DELETE SET NULL,"
    "  started INTEGER NOT NULL,"
    "  finished INTEGER,"
    "  params TEXT CHECK (params IS NULL OR json_valid(params)),"
    "  result TEXT CHECK (result IS NULL OR json_valid(result)),"
    "  status TEXT NOT NULL CHECK (status IN ('running', 'ok', 'partial', 'failed')));"
    "CREATE INDEX runs_dataset ON runs(dataset_id);"
    "CREATE INDEX runs_extractor ON runs(extractor_id);"
    "CREATE TABLE model_files ("
    "  path TEXT PRIMARY KEY,"
    "  size INTEGER NOT NULL,"
    "  mtime INTEGER NOT NULL,"
    "  sha256 TEXT NOT NULL CHECK (length(sha256) = 64),"
    "  default_layer TEXT NOT NULL,"
    "  height INTEGER NOT NULL,"
    "  width INTEGER NOT NULL);"
    "PRAGMA user_version = 1;";

/* Version 2: each item row carries a CRC-32C of what it says (item_crc); the rows a version-1
 * catalog holds get theirs when it is first opened for writing. */
static const char SCHEMA_V2[] =
    "ALTER TABLE items ADD COLUMN crc INTEGER;"
    "UPDATE items SET crc = fc_item_crc(dataset_id, path, sha256, label, split, status);"
    "ALTER TABLE model_files ADD COLUMN crc INTEGER;"
    "UPDATE model_files SET crc = fc_row_crc(path, size, mtime, sha256, default_layer, height, width);"
    "ALTER TABLE datasets ADD COLUMN crc INTEGER;"
    "UPDATE datasets SET crc = fc_row_crc(name, root, format, created);"
    "ALTER TABLE extractors ADD COLUMN crc INTEGER;"
    "UPDATE extractors SET crc = fc_row_crc(id, model_path, model_sha256, layer, size, crop, preprocess, views, "
    "dtype, dims, created);"
    /* not the data set and extractor of a run: deleting those sets them NULL behind our back */
    "ALTER TABLE runs ADD COLUMN crc INTEGER;"
    "UPDATE runs SET crc = fc_row_crc(kind, started, finished, params, result, status);"
    "PRAGMA user_version = 2;";

#define ITEM_COLS "id, dataset_id, path, sha256, label, split, status, error, size, mtime, seen, crc"
#define ITEM_COLS_V1 "id, dataset_id, path, sha256, label, split, status, error, size, mtime, seen, NULL"

enum {
    S_BEGIN, S_COMMIT, S_ROLLBACK,
    S_DS_UPSERT, S_DS_FIND, S_DS_DELETE, S_DS_LIST, S_DS_LIST_V1, S_DS_EXTRACTORS,
    S_ITEM_UPSERT, S_ITEM_BAD, S_ITEM_PRUNE, S_ITEM_LIST_ONE, S_ITEM_LIST_ALL, S_ITEM_LIST_ONE_V1,
    S_ITEM_LIST_ALL_V1, S_ITEM_HASHES,
    S_EX_INSERT, S_EX_GET, S_EX_GET_V1, S_EX_PATH, S_EX_DELETE, S_EX_LIST, S_EX_LIST_V1,
    S_RUN_BEGIN, S_RUN_FINISH, S_RUN_LIST, S_RUN_LIST_V1,
    S_MODEL_GET, S_MODEL_GET_V1, S_MODEL_PUT, S_MODEL_FORGET,
    S_COUNT
};

static const char *const SQL[S_COUNT] = {
    [S_BEGIN] = "BEGIN IMMEDIATE",
    [S_COMMIT] = "COMMIT",
    [S_ROLLBACK] = "ROLLBACK",
    [S_DS_UPSERT] = "INSERT INTO datasets (name, root, format, created, crc) VALUES (?1, ?2, ?3, ?4, "
                    "fc_row_crc(?1, ?2, ?3, ?4)) "
                    "ON CONFLICT (name) DO UPDATE SET root = excluded.root, format = excluded.format, "
                    "crc = fc_row_crc(name, excluded.root, excluded.format, created) RETURNING id",
    [S_DS_FIND] = "SELECT id FROM datasets WHERE name = ?1",
    [S_DS_DELETE] = "DELETE FROM datasets WHERE id = ?1",
    [S_DS_LIST] = "SELECT d.id, d.name, d.root, d.format, d.created, count(i.id), "
                  "coalesce(sum(i.status = 'ok'), 0), coalesce(sum(i.status = 'bad'), 0), "
                  "count(DISTINCT nullif(i.label, '')), coalesce(sum(i.crc IS NOT NULL AND "
                  "i.crc <> fc_item_crc(i.dataset_id, i.path, i.sha256, i.label, i.split, i.status)), 0), "
                  "d.crc IS NULL OR d.crc = fc_row_crc(d.name, d.root, d.format, d.created) "
                  "FROM datasets d LEFT JOIN items i ON i.dataset_id = d.id "
                  "GROUP BY d.id ORDER BY d.name",
    [S_DS_LIST_V1] = "SELECT d.id, d.name, d.root, d.format, d.created, count(i.id), "
                     "coalesce(sum(i.status = 'ok'), 0), coalesce(sum(i.status = 'bad'), 0), "
                     "count(DISTINCT nullif(i.label, '')), 0, 1 "
                     "FROM datasets d LEFT JOIN items i ON i.dataset_id = d.id "
                     "GROUP BY d.id ORDER BY d.name",
    [S_DS_EXTRACTORS] = "SELECT DISTINCT extractor_id FROM runs WHERE dataset_id = ?1 AND "
                        "kind = 'extract' AND extractor_id IS NOT NULL ORDER BY 1",
    [S_ITEM_UPSERT] = "INSERT INTO items (dataset_id, path, sha256, label, split, status, error, "
                      "size, mtime, seen, crc) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, "
                      "fc_item_crc(?1, ?2, ?3, ?4, ?5, ?6)) "
                      "ON CONFLICT (dataset_id, path) DO UPDATE SET sha256 = excluded.sha256, "
                      "label = excluded.label, split = excluded.split, status = excluded.status, "
                      "error = excluded.error, size = excluded.size, mtime = excluded.mtime, "
                      "seen = excluded.seen, crc = excluded.crc",
    [S_ITEM_BAD] = "UPDATE items SET status = 'bad', error = ?3, "
                   "crc = fc_item_crc(dataset_id, path, sha256, label, split, 'bad') "
                   "WHERE dataset_id = ?1 AND path = ?2",
    [S_ITEM_PRUNE] = "DELETE FROM items WHERE dataset_id = ?1 AND seen <> ?2",
    [S_ITEM_LIST_ONE] = "SELECT " ITEM_COLS " FROM items WHERE dataset_id = ?1 "
                        "AND (?2 IS NULL OR status = ?2) ORDER BY path",
    [S_ITEM_LIST_ALL] = "SELECT " ITEM_COLS " FROM items WHERE (?2 IS NULL OR status = ?2) "
                        "ORDER BY dataset_id, path",
    /* the same for a version-1 catalog opened read-only (no crc column) */
    [S_ITEM_LIST_ONE_V1] = "SELECT " ITEM_COLS_V1 " FROM items WHERE dataset_id = ?1 "
                           "AND (?2 IS NULL OR status = ?2) ORDER BY path",
    [S_ITEM_LIST_ALL_V1] = "SELECT " ITEM_COLS_V1 " FROM items WHERE (?2 IS NULL OR status = ?2) "
                           "ORDER BY dataset_id, path",
    [S_ITEM_HASHES] = "SELECT DISTINCT sha256 FROM items WHERE status = 'ok' ORDER BY sha256",
    [S_EX_INSERT] = "INSERT INTO extractors (id, model_path, model_sha256, layer, size, crop, "
                    "preprocess, views, dtype, dims, created, crc) "
                    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, "
                    "fc_row_crc(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)) ON CONFLICT (id) DO NOTHING",
    [S_EX_GET] = "SELECT model_sha256, layer, size, crop, preprocess, views, dtype, dims, crc IS NULL OR "
                 "crc = fc_row_crc(id, model_path, model_sha256, layer, size, crop, preprocess, views, dtype, "
                 "dims, created) FROM extractors WHERE id = ?1",
    [S_EX_GET_V1] = "SELECT model_sha256, layer, size, crop, preprocess, views, dtype, dims, 1 "
                    "FROM extractors WHERE id = ?1",
    [S_EX_PATH] = "UPDATE extractors SET model_path = ?2, crc = fc_row_crc(id, ?2, model_sha256, layer, size, "
                  "crop, preprocess, views, dtype, dims, created) WHERE id = ?1",
    [S_EX_DELETE] = "DELETE FROM extractors WHERE id = ?1",
    [S_EX_LIST] = "SELECT id, model_path, model_sha256, layer, size, crop, preprocess, views, dtype, "
                  "dims, created, crc IS NULL OR crc = fc_row_crc(id, model_path, model_sha256, layer, size, "
                  "crop, preprocess, views, dtype, dims, created) FROM extractors ORDER BY id",
    [S_EX_LIST_V1] = "SELECT id, model_path, model_sha256, layer, size, crop, preprocess, views, dtype, "
                     "dims, created, 1 FROM extractors ORDER BY id",
    [S_RUN_BEGIN] = "INSERT INTO runs (kind, dataset_id, extractor_id, started, params, status, crc) "
                    "VALUES (?1, ?2, ?3, ?4, ?5, 'running', fc_row_crc(?1, ?4, NULL, ?5, NULL, 'running'))",
    [S_RUN_FINISH] = "UPDATE runs SET finished = ?2, status = ?3, result = ?4, "
                     "crc = fc_row_crc(kind, started, ?2, params, ?4, ?3) "
                     "WHERE id = ?1 AND status = 'running'",
    [S_RUN_LIST] = "SELECT id, kind, dataset_id, extractor_id, started, finished, params, result, "
                   "status, crc IS NULL OR crc = fc_row_crc(kind, started, finished, params, result, status) "
                   "FROM runs ORDER BY id",
    [S_RUN_LIST_V1] = "SELECT id, kind, dataset_id, extractor_id, started, finished, params, result, "
                      "status, 1 FROM runs ORDER BY id",
    /* a row that does not match its checksum is no row: the model is read and hashed again */
    [S_MODEL_GET] = "SELECT sha256, default_layer, height, width FROM model_files "
                    "WHERE path = ?1 AND size = ?2 AND mtime = ?3 AND (crc IS NULL OR "
                    "crc = fc_row_crc(path, size, mtime, sha256, default_layer, height, width))",
    [S_MODEL_GET_V1] = "SELECT sha256, default_layer, height, width FROM model_files "
                       "WHERE path = ?1 AND size = ?2 AND mtime = ?3",
    [S_MODEL_PUT] = "INSERT INTO model_files (path, size, mtime, sha256, default_layer, height, width, crc) "
                    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, fc_row_crc(?1, ?2, ?3, ?4, ?5, ?6, ?7)) "
                    "ON CONFLICT (path) DO UPDATE SET "
                    "size = excluded.size, mtime = excluded.mtime, sha256 = excluded.sha256, "
                    "default_layer = excluded.default_layer, height = excluded.height, "
                    "width = excluded.width, crc = excluded.crc",
    [S_MODEL_FORGET] = "DELETE FROM model_files WHERE path = ?1",
};

struct fc_catalog {
    sqlite3 *db;
    int rdonly;
    int version;               /* schema version (1: items carry no crc, read-only opens only) */
    int pages_checked;         /* SQLite's quick_check passed on this handle */
    sqlite3_stmt *st[S_COUNT]; /* prepared on first use */
    char path[];               /* DIR/catalog.sqlite */
};

static const char *const RUN_KINDS[] = {"extract", "train", "sweep"};
static const char *const RUN_STATUSES[] = {"running", "ok", "partial", "failed"};

const char *fc_run_kind_name(fc_run_kind k) {
    return (unsigned)k < 3 ? RUN_KINDS[k] : "unknown";
}

const char *fc_run_status_name(fc_run_status s) {
    return (unsigned)s < 4 ? RUN_STATUSES[s] : "unknown";
}

/* ---- helpers ------------------------------------------------------------------------------- */

static int sql_fail(const fc_catalog *cat, int rc, const char *what, fc_error *err) {
    int code;
    switch (rc & 0xff) {
    case SQLITE_NOMEM: code = FC_ENOMEM; break;
    case SQLITE_CONSTRAINT:
    case SQLITE_MISMATCH:
    case SQLITE_RANGE:
    case SQLITE_TOOBIG: code = FC_EINVAL; break;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
    case SQLITE_FORMAT: code = FC_EFORMAT; break;
    case SQLITE_FULL: code = FC_ENOSPC; break;
    case SQLITE_BUSY:
    case SQLITE_LOCKED: code = FC_ETIMEOUT; break; /* after the busy timeout */
    default: code = FC_EIO; break;
    }
    const char *msg = cat->db ? sqlite3_errmsg(cat->db) : sqlite3_errstr(rc);
    return fc_fail(err, code, "%s: %s: %s%s", cat->path, what, msg,
                   (rc & 0xff) == SQLITE_CORRUPT ? " (the catalog is damaged: featcache verify --repair fixes what it can)"
                                                 : "");
}

/* A row whose checksum does not match what it says (kind "data set", "extractor", "run"). */
static int damaged_row(const fc_catalog *cat, const char *kind, const char *name, fc_error *err) {
    return fc_fail(err, FC_EFORMAT, "%s is damaged: the row of %s %s does not match its checksum (featcache "
                   "verify --repair drops it)", cat->path, kind, name);
}

static int prep(fc_catalog *cat, int id, sqlite3_stmt **out, const char *what, fc_error *err) {
    if (cat->version < 2) /* a version-1 catalog opened read-only: no crc column */
        id = id == S_ITEM_LIST_ONE ? S_ITEM_LIST_ONE_V1 : id == S_ITEM_LIST_ALL ? S_ITEM_LIST_ALL_V1
           : id == S_DS_LIST       ? S_DS_LIST_V1
           : id == S_MODEL_GET     ? S_MODEL_GET_V1
           : id == S_EX_GET        ? S_EX_GET_V1
           : id == S_EX_LIST       ? S_EX_LIST_V1
           : id == S_RUN_LIST      ? S_RUN_LIST_V1
                                   : id;
    if (!cat->st[id]) {
        int rc = sqlite3_prepare_v3(cat->db, SQL[id], -1, SQLITE_PREPARE_PERSISTENT, &cat->st[id], NULL);
        if (rc) return sql_fail(cat, rc, what, err);
    }
    *out = cat->st[id];
    return FC_OK;
}

static void done(sqlite3_stmt *s) {
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
}

/* Binds NULL for a NULL string. */
static int bind_text(sqlite3_stmt *s, int i, const char *text) {
    return text ? sqlite3_bind_text(s, i, text, -1, SQLITE_STATIC) : sqlite3_bind_null(s, i);
}

static const char *col_text(sqlite3_stmt *s, int i) {
    return (const char *)sqlite3_column_text(s, i);
}

/* Runs a statement that returns no rows (or whose rows are ignored) and resets it. */
static int step_done(fc_catalog *cat, sqlite3_stmt *s, const char *what, fc_error *err) {
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    }
    rc = rc == SQLITE_DONE ? FC_OK : sql_fail(cat, rc, what, err);
    done(s);
    return rc;
}

static int simple(fc_catalog *cat, int id, const char *what, fc_error *err) {
    sqlite3_stmt *s = NULL;
    int rc = prep(cat, id, &s, what, err);
    return rc ? rc : step_done(cat, s, what, err);
}

static int begin(fc_catalog *cat, const char *what, fc_error *err) {
    return simple(cat, S_BEGIN, what, err);
}

static int commit(fc_catalog *cat, const char *what, fc_error *err) {
    return simple(cat, S_COMMIT, what, err);
}

/* The caller reports the failure that made it roll back; a failed rollback leaves nothing
 * committed either (SQLite rolls back when the connection closes). */
static void rollback(fc_catalog *cat) {
    if (!sqlite3_get_autocommit(cat->db)) simple(cat, S_ROLLBACK, "rollback", NULL);
}

/* Runs constant SQL text, statement by statement (schema, pragmas). */
static int exec_script(fc_catalog *cat, const char *sql, const char *what, fc_error *err) {
    while (sql && *sql) {
        sqlite3_stmt *s = NULL;
        const char *tail;
        int rc = sqlite3_prepare_v2(cat->db, sql, -1, &s, &tail);
        if (rc) return sql_fail(cat, rc, what, err);
        if (!s) break; /* only whitespace left */
        while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        }
        if (rc != SQLITE_DONE) {
            rc = sql_fail(cat, rc, what, err);
            sqlite3_finalize(s);
            return rc;
        }
        sqlite3_finalize(s);
        sql = tail;
    }
    return FC_OK;
}

static int read_user_version(fc_catalog *cat, int *version, fc_error *err) {
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(cat->db, "PRAGMA user_version", -1, &s, NULL);
    if (rc) return sql_fail(cat, rc, "reading the schema version", err);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *version = sqlite3_column_int(s, 0);
        rc = FC_OK;
    } else {
        rc = sql_fail(cat, rc, "reading the schema version", err);
    }
    sqlite3_finalize(s);
    return rc;
}

static int check_writable(const fc_catalog *cat, const char *what, fc_error *err) {
    if (!cat) return fc_fail(err, FC_EINVAL, "%s: NULL catalog", what);
    if (cat->rdonly) return fc_fail(err, FC_EINVAL, "%s: %s: catalog opened read-only", cat->path, what);
    return FC_OK;
}

/* ---- open / close -------------------------------------------------------------------------- */

/* "file:" URI of path with immutable=1; characters outside [A-Za-z0-9/._~-] are %-escaped. */
static char *immutable_uri(const char *path) {
    size_t n = strlen(path);
    char *uri = malloc(3 * n + 32);
    if (!uri) return NULL;
    char *o = uri + sprintf(uri, "file:");
    for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            strchr("/._~-", *p))
            *o++ = (char)*p;
        else
            o += sprintf(o, "%%%02X", *p);
    }
    strcpy(o, "?immutable=1");
    return uri;
}

/* CRC-32C of what an item row says (SQLite keeps no checksums of its own): its data set, path,
 * hash (or none), label, split and status, each text followed by a 0 byte. A row whose bytes
 * changed on disk no longer matches: reads refuse it instead of serving another path or label. */
static uint32_t item_crc(int64_t dataset_id, const char *path, const void *sha, int sha_len, const char *label,
                         const char *split, const char *status) {
    uint8_t id[8], none = 0xff;
    for (int i = 0; i < 8; i++) id[i] = (uint8_t)((uint64_t)dataset_id >> (8 * i));
    uint32_t c = fc_crc32c(0, id, 8);
    const char *texts[4] = {path, label, split, status};
    for (int i = 0; i < 4; i++) {
        const char *t = texts[i] ? texts[i] : "";
        c = fc_crc32c(c, t, strlen(t) + 1);
        if (i == 0) c = sha && sha_len == 32 ? fc_crc32c(c, sha, 32) : fc_crc32c(c, &none, 1);
    }
    return c;
}

/* fc_item_crc(dataset_id, path, sha256, label, split, status) for the statements that write items. */
static void item_crc_sql(sqlite3_context *ctx, int argc, sqlite3_value **v) {
    (void)argc;
    const void *sha = sqlite3_value_type(v[2]) == SQLITE_BLOB ? sqlite3_value_blob(v[2]) : NULL;
    sqlite3_result_int64(ctx, item_crc(sqlite3_value_int64(v[0]), (const char *)sqlite3_value_text(v[1]), sha,
                                       sqlite3_value_bytes(v[2]), (const char *)sqlite3_value_text(v[3]),
                                       (const char *)sqlite3_value_text(v[4]), (const char *)sqlite3_value_text(v[5])));
}

/* fc_row_crc(...): CRC-32C of any values, each with its type (a tag byte, then 8 bytes of an
 * integer or real, or the bytes of a text or blob with their length): for rows whose check is
 * written in SQL. */
static void row_crc_sql(sqlite3_context *ctx, int argc, sqlite3_value **v) {
    uint32_t c = 0;
    for (int i = 0; i < argc; i++) {
        uint8_t tag = (uint8_t)sqlite3_value_type(v[i]), b[8];
        c = fc_crc32c(c, &tag, 1);
        if (tag == SQLITE_INTEGER || tag == SQLITE_FLOAT) {
            uint64_t x;
            if (tag == SQLITE_INTEGER) x = (uint64_t)sqlite3_value_int64(v[i]);
            else {
                double d = sqlite3_value_double(v[i]);
                memcpy(&x, &d, 8);
            }
            for (int k = 0; k < 8; k++) b[k] = (uint8_t)(x >> (8 * k));
            c = fc_crc32c(c, b, 8);
        } else if (tag != SQLITE_NULL) {
            const void *p = tag == SQLITE_BLOB ? sqlite3_value_blob(v[i]) : (const void *)sqlite3_value_text(v[i]);
            uint32_t n = (uint32_t)sqlite3_value_bytes(v[i]);
            for (int k = 0; k < 4; k++) b[k] = (uint8_t)(n >> (8 * k));
            c = fc_crc32c(fc_crc32c(c, b, 4), p, n);
        }
    }
    sqlite3_result_int64(ctx, c);
}

static int db_connect(fc_catalog *cat, const char *name, int oflags, int busy_ms, fc_error *err) {
    int rc = sqlite3_open_v2(name, &cat->db, oflags | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc) {
        rc = sql_fail(cat, rc, cat->rdonly ? "cannot open read-only" : "cannot open", err);
        sqlite3_close(cat->db);
        cat->db = NULL;
        return rc;
    }
    sqlite3_extended_result_codes(cat->db, 1);
    sqlite3_busy_timeout(cat->db, busy_ms);
    rc = sqlite3_create_function_v2(cat->db, "fc_item_crc", 6, SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL,
                                    item_crc_sql, NULL, NULL, NULL);
    if (rc == 0)
        rc = sqlite3_create_function_v2(cat->db, "fc_row_crc", -1, SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL, row_crc_sql,
                                        NULL, NULL, NULL);
    if (rc) return sql_fail(cat, rc, "registering the checksum functions", err);
    return exec_script(cat, "PRAGMA foreign_keys = ON;", "enabling foreign keys", err);
}

static int open_rdonly(fc_catalog *cat, int busy_ms, fc_error *err) {
    if (access(cat->path, F_OK) != 0)
        return fc_fail(err, FC_EIO, "%s: no featcache catalog here (run featcache extract first)", cat->path);
    int rc = db_connect(cat, cat->path, SQLITE_OPEN_READONLY, busy_ms, err), version = 0;
    if (rc) return rc;
    rc = read_user_version(cat, &version, err);
    /* e.g. no WAL index can be created in a read-only directory (any I/O, locking or space failure) */
    if (rc == FC_EIO || rc == FC_ETIMEOUT || rc == FC_ENOSPC) {
        sqlite3_close(cat->db);
        cat->db = NULL;
        char *uri = immutable_uri(cat->path);
        if (!uri) return fc_fail(err, FC_ENOMEM, "%s: no memory", cat->path);
        rc = db_connect(cat, uri, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, busy_ms, err);
        free(uri);
        if (rc) return rc;
        rc = read_user_version(cat, &version, err);
    }
    if (rc) return rc;
    /* version 0: either a foreign database or one another process is creating right now (its
     * schema transaction is not committed yet): wait for it up to the busy timeout */
    for (int waited = 0; version == 0 && waited < busy_ms; waited += 10) {
        sqlite3_sleep(10);
        if ((rc = read_user_version(cat, &version, err))) return rc;
    }
    if (version == 0) return fc_fail(err, FC_EFORMAT, "%s: not a featcache catalog (no schema)", cat->path);
    return FC_OK;
}

/* PRAGMA journal_mode = WAL, retried while another process holds a lock: SQLite does not always
 * call the busy handler for a journal mode change (e.g. two processes opening a fresh catalog). */
static int switch_to_wal(fc_catalog *cat, int busy_ms, fc_error *err) {
    for (int waited = 0;; waited += 10) {
        sqlite3_stmt *s = NULL;
        int rc = sqlite3_prepare_v2(cat->db, "PRAGMA journal_mode = WAL", -1, &s, NULL);
        if (rc == SQLITE_OK) rc = sqlite3_step(s);
        if (rc == SQLITE_ROW || rc == SQLITE_DONE) {
            sqlite3_finalize(s);
            return FC_OK;
        }
        int primary = rc & 0xff;
        if ((primary != SQLITE_BUSY && primary != SQLITE_LOCKED) || waited >= busy_ms) {
            rc = sql_fail(cat, rc, "switching to WAL", err);
            sqlite3_finalize(s);
            return rc;
        }
        sqlite3_finalize(s);
        sqlite3_sleep(10);
    }
}

static int open_rdwr(fc_catalog *cat, int busy_ms, fc_error *err) {
    int rc = db_connect(cat, cat->path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, busy_ms, err);
    if (rc) return rc;
    if ((rc = switch_to_wal(cat, busy_ms, err))) return rc;
    /* In WAL mode NORMAL never corrupts the database and loses nothing when a process is killed;
     * only a power cut can drop the last commits (the features they name are re-extracted). FULL
     * would fsync every commit: 9 sweep runs cost ~100 ms more. */
    if ((rc = exec_script(cat, "PRAGMA synchronous = NORMAL;", "setting synchronous", err))) return rc;
    if ((rc = begin(cat, "creating the schema", err))) return rc;
    int version = 0;
    rc = read_user_version(cat, &version, err);
    if (rc == 0 && version == 0) rc = exec_script(cat, SCHEMA_V1, "creating the schema", err);
    if (rc == 0 && version < 2) rc = exec_script(cat, SCHEMA_V2, "adding item checksums (schema 2)", err);
    if (rc == 0) rc = commit(cat, "creating the schema", err);
    if (rc) rollback(cat);
    return rc;
}

static int text_eq(sqlite3_stmt *a, sqlite3_stmt *b, int i) {
    const unsigned char *x = sqlite3_column_text(a, i), *y = sqlite3_column_text(b, i);
    return x && y ? strcmp((const char *)x, (const char *)y) == 0 : x == y;
}

/* The file's schema against the one featcache makes, made again in a memory database by the same
 * statements (SQLite's own text, ALTER TABLE included): a damaged byte of the schema text (INTEGER
 * PRIMARY KEY becoming INTEGEP PRIMARY KEY) changes what every query means, and integrity_check,
 * which trusts the schema, still passes. */
static int check_schema(fc_catalog *cat, int version, fc_error *err) {
    fc_catalog *ref = calloc(1, sizeof *ref + sizeof ":memory:");
    if (!ref) return fc_fail(err, FC_ENOMEM, "%s: no memory", cat->path);
    memcpy(ref->path, ":memory:", sizeof ":memory:");
    sqlite3_stmt *a = NULL, *b = NULL;
    int rc = db_connect(ref, ":memory:", SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, 0, err);
    if (rc == 0) rc = exec_script(ref, SCHEMA_V1, "the reference schema", err);
    if (rc == 0 && version >= 2) rc = exec_script(ref, SCHEMA_V2, "the reference schema", err);
    if (rc == 0 && (rc = sqlite3_prepare_v2(ref->db, "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name",
                                            -1, &a, NULL)) != 0)
        rc = sql_fail(ref, rc, "schema", err);
    if (rc == 0 && (rc = sqlite3_prepare_v2(cat->db, "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name",
                                            -1, &b, NULL)) != 0)
        rc = sql_fail(cat, rc, "reading the schema", err);
    while (rc == 0) {
        int ra = sqlite3_step(a), rb = sqlite3_step(b);
        if (rb != SQLITE_ROW && rb != SQLITE_DONE) {
            rc = sql_fail(cat, rb, "reading the schema", err);
        } else if (ra != rb || (ra == SQLITE_ROW && !(text_eq(a, b, 0) && text_eq(a, b, 1) && text_eq(a, b, 2) && text_eq(a, b, 3)))) {
            const unsigned char *name = sqlite3_column_text(ra == SQLITE_ROW ? a : b, 1);
            rc = fc_fail(err, FC_EFORMAT, "%s is damaged: its schema differs from the one featcache made (at '%s')",
                         cat->path, name ? (const char *)name : "?");
        } else if (ra == SQLITE_DONE) {
            break;
        }
    }
    sqlite3_finalize(a);
    sqlite3_finalize(b);
    fc_catalog_close(ref);
    return rc;
}

int fc_catalog_open(const char *dir, unsigned flags, int busy_timeout_ms, fc_catalog **out,
                    fc_error *err) {
    if (out) *out = NULL;
    if (!dir || !out) return fc_fail(err, FC_EINVAL, "fc_catalog_open: NULL argument");
    if (flags & ~(unsigned)FC_CATALOG_RDONLY)
        return fc_fail(err, FC_EINVAL, "%s: fc_catalog_open: unknown flags %#x", dir, flags);
    if (busy_timeout_ms < 0) return fc_fail(err, FC_EINVAL, "%s: negative busy timeout", dir);
    if (!busy_timeout_ms) busy_timeout_ms = DEFAULT_BUSY_MS;
    int rc = fc_cache_dir_check(dir, err);
    if (rc) return rc;
    size_t dlen = strlen(dir);
    fc_catalog *cat = calloc(1, sizeof *cat + dlen + sizeof "/catalog.sqlite");
    if (!cat) return fc_fail(err, FC_ENOMEM, "%s: no memory for the catalog handle", dir);
    memcpy(cat->path, dir, dlen);
    memcpy(cat->path + dlen, "/catalog.sqlite", sizeof "/catalog.sqlite");
    cat->rdonly = (flags & FC_CATALOG_RDONLY) != 0;
    if (!cat->rdonly && mkdir(dir, 0777) != 0 && errno != EEXIST) {
        rc = fc_fail(err, FC_EIO, "%s: cannot create the cache directory: %s", dir, strerror(errno));
        goto fail;
    }
    rc = cat->rdonly ? open_rdonly(cat, busy_timeout_ms, err) : open_rdwr(cat, busy_timeout_ms, err);
    int why;
    if (rc && !cat->rdonly && (why = fc_dir_unwritable(dir)) != 0)
        rc = fc_fail(err, FC_EIO, "%s: the cache folder is read-only (%s): cannot open catalog.sqlite for writing",
                     dir, strerror(why));
    if (rc) goto fail;
    int version = 0;
    if ((rc = read_user_version(cat, &version, err))) goto fail;
    cat->version = version;
    if (version > FC_CATALOG_SCHEMA_VERSION) {
        rc = fc_fail(err, FC_EUNSUPPORTED, "%s: catalog schema version %d is newer than this build's %d",
                     cat->path, version, FC_CATALOG_SCHEMA_VERSION);
        goto fail;
    }
    if ((rc = check_schema(cat, version, err))) goto fail;
    *out = cat;
    return FC_OK;
fail:
    fc_catalog_close(cat);
    return rc;
}

sqlite3 *fc_catalog_db(fc_catalog *cat) {
    return cat && !cat->rdonly ? cat->db : NULL;
}

int fc_catalog_db_fail(const fc_catalog *cat, int rc, const char *what, fc_error *err) {
    return sql_fail(cat, rc, what, err);
}

void fc_catalog_close(fc_catalog *cat) {
    if (!cat) return;
    for (int i = 0; i < S_COUNT; i++) sqlite3_finalize(cat->st[i]);
    sqlite3_close(cat->db);
    free(cat);
}

/* ---- data sets ----------------------------------------------------------------------------- */

int fc_catalog_dataset_upsert(fc_catalog *cat, const char *name, const char *root,
                              const char *format, int64_t *id, fc_error *err) {
    const char *what = "dataset upsert";
    sqlite3_stmt *s = NULL;
    int rc = check_writable(cat, what, err);
    if (rc) return rc;
    if (!name || !*name || !root || !format || !id)
        return fc_fail(err, FC_EINVAL, "%s: %s: empty name or NULL argument", cat->path, what);
    if ((rc = prep(cat, S_DS_UPSERT, &s, what, err))) return rc;
    bind_text(s, 1, name);
    bind_text(s, 2, root);
    bind_text(s, 3, format);
    sqlite3_bind_int64(s, 4, (int64_t)time(NULL));
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *id = sqlite3_column_int64(s, 0);
        return step_done(cat, s, what, err); /* run the statement to completion */
    }
    rc = sql_fail(cat, rc, what, err);
    done(s);
    return rc;
}

int fc_catalog_dataset_find(fc_catalog *cat, const char *name, int64_t *id, fc_error *err) {
    const char *what = "dataset find";
    sqlite3_stmt *s = NULL;
    if (!cat || !name || !id) return fc_fail(err, FC_EINVAL, "fc_catalog_dataset_find: NULL argument");
    int rc = prep(cat, S_DS_FIND, &s, what, err);
    if (rc) return rc;
    bind_text(s, 1, name);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *id = sqlite3_column_int64(s, 0);
        rc = 1;
    } else {
        rc = rc == SQLITE_DONE ? 0 : sql_fail(cat, rc, what, err);
    }
    done(s);
    return rc;
}

int fc_catalog_dataset_delete(fc_catalog *cat, int64_t id, fc_error *err) {
    const char *what = "dataset delete";
    sqlite3_stmt *s = NULL;
    int rc = check_writable(cat, what, err);
    if (rc || (rc = prep(cat, S_DS_DELETE, &s, what, err))) return rc;
    sqlite3_bind_int64(s, 1, id);
    if ((rc = step_done(cat, s, what, err))) return rc;
    if (sqlite3_changes(cat->db) == 0)
        return fc_fail(err, FC_EINVAL, "%s: %s: no data set with id %lld", cat->path, what, (long long)id);
    return FC_OK;
}

int fc_catalog_dataset_list(fc_catalog *cat, fc_catalog_dataset_fn fn, void *user, fc_error *err) {
    const char *what = "dataset list";
    sqlite3_stmt *s = NULL;
    if (!cat || !fn) return fc_fail(err, FC_EINVAL, "fc_catalog_dataset_list: NULL argument");
    int rc = prep(cat, S_DS_LIST, &s, what, err), step;
    if (rc) return rc;
    while ((step = sqlite3_step(s)) == SQLITE_ROW) {
        fc_catalog_dataset d = {
            .id = sqlite3_column_int64(s, 0),
            .name = col_text(s, 1),
            .root = col_text(s, 2),
            .format = col_text(s, 3),
            .created = sqlite3_column_int64(s, 4),
            .items = sqlite3_column_int64(s, 5),
            .ok = sqlite3_column_int64(s, 6),
            .bad = sqlite3_column_int64(s, 7),
            .classes = sqlite3_column_int64(s, 8),
        };
        int64_t damaged = sqlite3_column_int64(s, 9);
        if (!sqlite3_column_int(s, 10)) {
            rc = damaged_row(cat, "data set", d.name, err);
            break;
        }
        if (damaged) { /* its counts would be counts of damaged rows */
            rc = fc_fail(err, FC_EFORMAT, "%s is damaged: %lld item rows of data set '%s' do not match their "
                         "checksums (featcache verify --repair drops them; the next extract adds the files again)",
                         cat->path, (long long)damaged, d.name);
            break;
        }
        if ((rc = fn(user, &d))) break;
    }
    if (!rc && step != SQLITE_DONE) rc = sql_fail(cat, step, what, err);
    done(s);
    return rc;
}

int fc_catalog_dataset_extractors(fc_catalog *cat, int64_t dataset_id, fc_catalog_id_fn fn,
                                  void *user, fc_error *err) {
    const char *what = "dataset extractors";
    sqlite3_stmt *s = NULL;
    if (!cat || !fn) return fc_fail(err, FC_EINVAL, "fc_catalog_dataset_extractors: NULL argument");
    int rc = prep(cat, S_DS_EXTRACTORS, &s, what, err), step;
    if (rc) return rc;
    sqlite3_bind_int64(s, 1, dataset_id);
    while ((step = sqlite3_step(s)) == SQLITE_ROW)
        if ((rc = fn(user, col_text(s, 0)))) break;
    if (!rc && step != SQLITE_DONE) rc = sql_fail(cat, step, what, err);
    done(s);
    return rc;
}

/* ---- items --------------------------------------------------------------------------------- */

/* Checks n item records before any SQL runs. */
static int check_items(const fc_catalog *cat, const fc_catalog_item *items, size_t n, const char *what,
                       fc_error *err) {
    if (!items && n) return fc_fail(err, FC_EINVAL, "%s: %s: NULL items", cat->path, what);
    for (size_t i = 0; i < n; i++) {
        const fc_catalog_item *it = &items[i];
        if (!it->path || !*it->path)
            return fc_fail(err, FC_EINVAL, "%s: %s: item %zu has no path", cat->path, what, i);
        if (it->status != FC_ITEM_OK && it->status != FC_ITEM_BAD)
            return fc_fail(err, FC_EINVAL, "%s: %s: %s: bad status %d", cat->path, what, it->path,
                           (int)it->status);
        if (it->status == FC_ITEM_OK && !it->has_hash)
            return fc_fail(err, FC_EINVAL, "%s: %s: %s: an ok item needs its SHA-256", cat->path,
                           what, it->path);
    }
    return FC_OK;
}

void fc_catalog_bind_item(sqlite3_stmt *s, int64_t dataset_id, const fc_catalog_item *it) {
    sqlite3_bind_int64(s, 1, dataset_id);
    bind_text(s, 2, it->path);
    if (it->has_hash)
        sqlite3_bind_blob(s, 3, it->sha256, 32, SQLITE_STATIC);
    else
        sqlite3_bind_null(s, 3);
    bind_text(s, 4, it->label ? it->label : "");
    bind_text(s, 5, it->split ? it->split : "");
    bind_text(s, 6, it->status == FC_ITEM_OK ? "ok" : "bad");
    bind_text(s, 7, it->error);
    sqlite3_bind_int64(s, 8, it->size);
    sqlite3_bind_int64(s, 9, it->mtime);
}

/* Upserts n checked items inside the caller's transaction. */
static int upsert_rows(fc_catalog *cat, int64_t dataset_id, const fc_catalog_item *items, size_t n,
                       int64_t seen, const char *what, fc_error *err) {
    sqlite3_stmt *s = NULL;
    int rc = prep(cat, S_ITEM_UPSERT, &s, what, err);
    for (size_t i = 0; i < n && rc == 0; i++) {
        const fc_catalog_item *it = &items[i];
        fc_catalog_bind_item(s, dataset_id, it);
        sqlite3_bind_int64(s, 10, seen);
        if ((rc = step_done(cat, s, what, err))) fc_error_prefix(err, "%s: ", it->path);
    }
    return rc;
}

/* Deletes the data set's rows not stamped `seen`, inside the caller's transaction. */
static int prune_rows(fc_catalog *cat, int64_t dataset_id, int64_t seen, int64_t *removed, const char *what,
                      fc_error *err) {
    sqlite3_stmt *s = NULL;
    int rc = prep(cat, S_ITEM_PRUNE, &s, what, err);
    if (rc) return rc;
    sqlite3_bind_int64(s, 1, dataset_id);
    sqlite3_bind_int64(s, 2, seen);
    if ((rc = step_done(cat, s, what, err))) return rc;
    if (removed) *removed = sqlite3_changes(cat->db);
    return FC_OK;
}

int fc_catalog_item_upsert(fc_catalog *cat, int64_t dataset_id, const fc_catalog_item *items,
                           size_t n, int64_t seen, fc_error *err) {
    const char *what = "item upsert";
    int rc = check_writable(cat, what, err);
    if (rc || (rc = check_items(cat, items, n, what, err))) return rc;
    if (n == 0) return FC_OK;
    if ((rc = begin(cat, what, err))) return rc;
    rc = upsert_rows(cat, dataset_id, items, n, seen, what, err);
    if (rc == 0) rc = commit(cat, what, err);
    if (rc) rollback(cat);
    return rc;
}

int fc_catalog_item_sync(fc_catalog *cat, int64_t dataset_id, const fc_catalog_item *items, size_t n,
                         int64_t seen, int64_t *removed, fc_error *err) {
    const char *what = "item sync";
    if (removed) *removed = 0;
    int rc = check_writable(cat, what, err);
    if (rc || (rc = check_items(cat, items, n, what, err))) return rc;
    if ((rc = begin(cat, what, err))) return rc;
    rc = upsert_rows(cat, dataset_id, items, n, seen, what, err);
    if (rc == 0) rc = prune_rows(cat, dataset_id, seen, removed, what, err);
    if (rc == 0) rc = commit(cat, what, err);
    if (rc) rollback(cat);
    return rc;
}

int fc_catalog_item_mark_bad(fc_catalog *cat, int64_t dataset_id, const char *path,
                             const char *reason, fc_error *err) {
    const char *what = "mark item bad";
    sqlite3_stmt *s = NULL;
    int rc = check_writable(cat, what, err);
    if (rc) return rc;
    if (!path || !reason) return fc_fail(err, FC_EINVAL, "%s: %s: NULL path or reason", cat->path, what);
    if ((rc = prep(cat, S_ITEM_BAD, &s, what, err))) return rc;
    sqlite3_bind_int64(s, 1, dataset_id);
    bind_text(s, 2, path);
    bind_text(s, 3, reason);
    if ((rc = step_done(cat, s, what, err))) return rc;
    if (sqlite3_changes(cat->db) == 0)
        return fc_fail(err, FC_EINVAL, "%s: %s: no item '%s' in data set %lld", cat->path, what,
                       path, (long long)dataset_id);
    return FC_OK;
}

int fc_catalog_item_prune(fc_catalog *cat, int64_t dataset_id, int64_t seen, int64_t *removed,
                          fc_error *err) {
    if (removed) *removed = 0;
    int rc = check_writable(cat, "item prune", err);
    return rc ? rc : prune_rows(cat, dataset_id, seen, removed, "item prune", err);
}

/* Rows lost from a damaged page leave no row behind to fail its checksum: before the first listing
 * of items, SQLite's quick_check reads every page of the file once per handle (its structure, not
 * the index contents: 0.13 s for 200k items, where integrity_check takes 0.9 s). */
static int check_pages(fc_catalog *cat, fc_error *err) {
    if (cat->pages_checked) return 0;
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(cat->db, "PRAGMA quick_check(1)", -1, &s, NULL);
    if (rc) return sql_fail(cat, rc, "SQLite quick_check", err);
    if ((rc = sqlite3_step(s)) == SQLITE_ROW && strcmp(col_text(s, 0), "ok") != 0)
        rc = fc_fail(err, FC_EFORMAT, "%s is damaged: SQLite quick_check: %s (featcache verify --repair fixes what it can)",
                     cat->path, col_text(s, 0));
    else if (rc == SQLITE_ROW || rc == SQLITE_DONE)
        rc = 0, cat->pages_checked = 1;
    else
        rc = sql_fail(cat, rc, "SQLite quick_check", err);
    sqlite3_finalize(s);
    return rc;
}

int fc_catalog_item_list(fc_catalog *cat, int64_t dataset_id, int filter, fc_catalog_item_fn fn,
                         void *user, fc_error *err) {
    const char *what = "item list";
    sqlite3_stmt *s = NULL;
    if (!cat || !fn) return fc_fail(err, FC_EINVAL, "fc_catalog_item_list: NULL argument");
    if (filter < FC_ITEMS_ALL || filter > FC_ITEMS_BAD)
        return fc_fail(err, FC_EINVAL, "%s: %s: bad filter %d", cat->path, what, filter);
    int rc = check_pages(cat, err);
    if (rc) return rc;
    rc = prep(cat, dataset_id ? S_ITEM_LIST_ONE : S_ITEM_LIST_ALL, &s, what, err);
    int step;
    if (rc) return rc;
    if (dataset_id) sqlite3_bind_int64(s, 1, dataset_id);
    bind_text(s, 2, filter == FC_ITEMS_OK ? "ok" : filter == FC_ITEMS_BAD ? "bad" : NULL);
    while ((step = sqlite3_step(s)) == SQLITE_ROW) {
        fc_catalog_item it = {
            .id = sqlite3_column_int64(s, 0),
            .dataset_id = sqlite3_column_int64(s, 1),
            .path = col_text(s, 2),
            .label = col_text(s, 4),
            .split = col_text(s, 5),
            .status = strcmp(col_text(s, 6), "ok") == 0 ? FC_ITEM_OK : FC_ITEM_BAD,
            .error = col_text(s, 7),
            .size = sqlite3_column_int64(s, 8),
            .mtime = sqlite3_column_int64(s, 9),
            .seen = sqlite3_column_int64(s, 10),
        };
        if (sqlite3_column_bytes(s, 3) == 32) {
            memcpy(it.sha256, sqlite3_column_blob(s, 3), 32);
            it.has_hash = 1;
        }
        /* rows written without featcache (crc NULL) are taken as they are */
        if (sqlite3_column_type(s, 11) != SQLITE_NULL &&
            (uint32_t)sqlite3_column_int64(s, 11) != item_crc(it.dataset_id, it.path, it.has_hash ? it.sha256 : NULL,
                                                              it.has_hash ? 32 : 0, it.label, it.split, col_text(s, 6))) {
            rc = fc_fail(err, FC_EFORMAT, "%s is damaged: the row of item '%s' (data set %lld) does not match its "
                         "checksum (featcache verify --repair drops it; the next extract adds the file again)",
                         cat->path, it.path, (long long)it.dataset_id);
            break;
        }
        if ((rc = fn(user, &it))) break;
    }
    if (!rc && step != SQLITE_DONE) rc = sql_fail(cat, step, what, err);
    done(s);
    return rc;
}

int fc_catalog_item_hashes(fc_catalog *cat, fc_catalog_hash_fn fn, void *user, fc_error *err) {
    const char *what = "item hashes";
    sqlite3_stmt *s = NULL;
    if (!cat || !fn) return fc_fail(err, FC_EINVAL, "fc_catalog_item_hashes: NULL argument");
    int rc = prep(cat, S_ITEM_HASHES, &s, what, err), step;
    if (rc) return rc;
    while ((step = sqlite3_step(s)) == SQLITE_ROW) {
        if (sqlite3_column_bytes(s, 0) != 32) continue; /* excluded by the schema's CHECK */
        uint8_t h[32];
        memcpy(h, sqlite3_column_blob(s, 0), 32);
        if ((rc = fn(user, h))) break;
    }
    if (!rc && step != SQLITE_DONE) rc = sql_fail(cat, step, what, err);
    done(s);
    return rc;
}

/* ---- extractors ---------------------------------------------------------------------------- */

static int is_hex64(const char *s) {
    uint8_t tmp[32];
    return s && fc_hex_decode(s, tmp, 32, NULL) == FC_OK;
}

static void dims_text(int rank, const uint32_t *dims, char *out, size_t cap) {
    size_t n = 0;
    out[0] = 0;
    for (int r = 0; r < rank && n < cap; r++)
        n += (size_t)snprintf(out + n, cap - n, r ? ",%u" : "%u", dims[r]);
}

static int dims_parse(const char *text, int *rank, uint32_t *dims) {
    int r = 0;
    const char *p = text;
    if (!p) return -1;
    for (;;) {
        if (r == FC_FEATURE_MAX_RANK || *p < '0' || *p > '9') return -1;
        char *end;
        unsigned long v = strtoul(p, &end, 10);
        if (v == 0 || v > UINT32_MAX) return -1;
        dims[r++] = (uint32_t)v;
        if (*end == 0) break;
        if (*end != ',') return -1;
        p = end + 1;
    }
    *rank = r;
    for (int i = r; i < FC_FEATURE_MAX_RANK; i++) dims[i] = 0;
    return 0;
}

void fc_catalog_bind_extractor(sqlite3_stmt *s, const fc_catalog_extractor *x, char dims[64], int64_t created) {
    dims_text(x->rank, x->dims, dims, 64);
    bind_text(s, 1, x->id);
    bind_text(s, 2, x->model_path);
    bind_text(s, 3, x->model_sha256);
    bind_text(s, 4, x->layer);
    sqlite3_bind_int64(s, 5, x->size);
    sqlite3_bind_double(s, 6, x->crop);
    bind_text(s, 7, x->preprocess);
    bind_text(s, 8, x->views);
    bind_text(s, 9, fc_dtype_name(x->dtype));
    bind_text(s, 10, dims);
    sqlite3_bind_int64(s, 11, created);
}

/* Compares the stored row (S_EX_GET columns) with x; returns the first differing column's name. */
static const char *extractor_diff(sqlite3_stmt *s, const fc_catalog_extractor *x, const char *dims) {
    if (strcmp(col_text(s, 0), x->model_sha256) != 0) return "model_sha256";
    if (strcmp(col_text(s, 1), x->layer) != 0) return "layer";
    if (sqlite3_column_int64(s, 2) != x->size) return "size";
    if (sqlite3_column_double(s, 3) != x->crop) return "crop";
    if (strcmp(col_text(s, 4), x->preprocess) != 0) return "preprocess";
    if (strcmp(col_text(s, 5), x->views) != 0) return "views";
    if (strcmp(col_text(s, 6), fc_dtype_name(x->dtype)) != 0) return "dtype";
    if (strcmp(col_text(s, 7), dims) != 0) return "dims";
    return NULL;
}

int fc_catalog_extractor_register(fc_catalog *cat, const fc_catalog_extractor *x, fc_error *err) {
    const char *what = "extractor register";
    sqlite3_stmt *s = NULL;
    int rc = check_writable(cat, what, err);
    if (rc) return rc;
    if (!x || !x->model_path || !x->layer || !x->preprocess || !x->views)
        return fc_fail(err, FC_EINVAL, "%s: %s: NULL argument or field", cat->path, what);
    if (!is_hex64(x->id) || !is_hex64(x->model_sha256))
        return fc_fail(err, FC_EINVAL, "%s: %s: id and model_sha256 must be 64 hex digits", cat->path, what);
    if (!fc_dtype_name(x->dtype) || x->rank < 1 || x->rank > FC_FEATURE_MAX_RANK)
        return fc_fail(err, FC_EINVAL, "%s: %s: %s: bad dtype %d or rank %d", cat->path, what, x->id,
                       (int)x->dtype, x->rank);
    for (int r = 0; r < x->rank; r++)
        if (!x->dims[r])
            return fc_fail(err, FC_EINVAL, "%s: %s: %s: dims[%d] is 0", cat->path, what, x->id, r);
    char id[65], dims[64];
    fc_catalog_extractor lower = *x;
    for (int i = 0; i < 65; i++) lower.id[i] = id[i] = (char)(x->id[i] >= 'A' && x->id[i] <= 'F' ? x->id[i] + 32 : x->id[i]);
    if ((rc = prep(cat, S_EX_INSERT, &s, what, err))) return rc;
    if ((rc = begin(cat, what, err))) return rc;
    fc_catalog_bind_extractor(s, &lower, dims, (int64_t)time(NULL));
    if ((rc = step_done(cat, s, what, err))) goto fail;
    if (sqlite3_changes(cat->db) == 0) { /* already registered: must be the same extractor */
        if ((rc = prep(cat, S_EX_GET, &s, what, err))) goto fail;
        bind_text(s, 1, id);
        int step = sqlite3_step(s);
        if (step != SQLITE_ROW || !sqlite3_column_int(s, 8)) {
            rc = step != SQLITE_ROW ? sql_fail(cat, step, what, err) : damaged_row(cat, "extractor", id, err);
            done(s);
            goto fail;
        }
        const char *diff = extractor_diff(s, x, dims);
        if (diff) {
            rc = fc_fail(err, FC_EINVAL,
                         "%s: %s: extractor %s is already registered with a different %s",
                         cat->path, what, id, diff);
            done(s);
            goto fail;
        }
        done(s);
        if ((rc = prep(cat, S_EX_PATH, &s, what, err))) goto fail;
        bind_text(s, 1, id);
        bind_text(s, 2, x->model_path);
        if ((rc = step_done(cat, s, what, err))) goto fail;
    }
    if ((rc = commit(cat, what, err))) goto fail;
    return FC_OK;
fail:
    rollback(cat);
    return rc;
}

int fc_catalog_extractor_delete(fc_catalog *cat, const char *id, fc_error *err) {
    const char *what = "extractor delete";
    sqlite3_stmt *s = NULL;
    int rc = check_writable(cat, what, err);
    if (rc) return rc;
    if (!id) return fc_fail(err, FC_EINVAL, "%s: %s: NULL id", cat->path, what);
    if ((rc = prep(cat, S_EX_DELETE, &s, what, err))) return rc;
    bind_text(s, 1, id);
    if ((rc = step_done(cat, s, what, err))) return rc;
    if (sqlite3_changes(cat->db) == 0)
        return fc_fail(err, FC_EINVAL, "%s: %s: no extractor %.64s", cat->path, what, id);
    return FC_OK;
}

int fc_catalog_extractor_list(fc_catalog *cat, fc_catalog_extractor_fn fn, void *user,
                              fc_error *err) {
    const char *what = "extractor list";
    sqlite3_stmt *s = NULL;
    if (!cat || !fn) return fc_fail(err, FC_EINVAL, "fc_catalog_extractor_list: NULL argument");
    int rc = prep(cat, S_EX_LIST, &s, what, err), step;
    if (rc) return rc;
    while ((step = sqlite3_step(s)) == SQLITE_ROW) {
        fc_catalog_extractor x = {
            .model_path = col_text(s, 1),
            .model_sha256 = col_text(s, 2),
            .layer = col_text(s, 3),
            .size = (int)sqlite3_column_int64(s, 4),
            .crop = sqlite3_column_double(s, 5),
            .preprocess = col_text(s, 6),
            .views = col_text(s, 7),
            .created = sqlite3_column_int64(s, 10),
        };
        snprintf(x.id, sizeof x.id, "%s", col_text(s, 0));
        if (!sqlite3_column_int(s, 11)) {
            rc = damaged_row(cat, "extractor", x.id, err);
            break;
        }
        const char *dt = col_text(s, 8);
        x.dtype = strcmp(dt, "f32") == 0 ? FC_DTYPE_F32 : strcmp(dt, "f16") == 0 ? FC_DTYPE_F16 : 0;
        if (!x.dtype || dims_parse(col_text(s, 9), &x.rank, x.dims) != 0) {
            rc = fc_fail(err, FC_EFORMAT, "%s: %s: extractor %s has malformed dtype '%s' or dims '%s'",
                         cat->path, what, x.id, dt, col_text(s, 9));
            break;
        }
        if ((rc = fn(user, &x))) break;
    }
    if (!rc && step != SQLITE_DONE) rc = sql_fail(cat, step, what, err);
    done(s);
    return rc;
}

/* ---- runs ---------------------------------------------------------------------------------- */

int fc_catalog_run_begin(fc_catalog *cat, fc_run_kind kind, int64_t dataset_id,
                         const char *extractor_id, const char *params_json, int64_t *run_id,
                         fc_error *err) {
    const char *what = "run begin";
    sqlite3_stmt *s = NULL;
    int rc = check_writable(cat, what, err);
    if (rc) return rc;
    if (!run_id) return fc_fail(err, FC_EINVAL, "%s: %s: NULL run_id", cat->path, what);
    if ((unsigned)kind > FC_RUN_SWEEP)
        return fc_fail(err, FC_EINVAL, "%s: %s: bad kind %d", cat->path, what, (int)kind);
    if ((rc = prep(cat, S_RUN_BEGIN, &s, what, err))) return rc;
    bind_text(s, 1, RUN_KINDS[kind]);
    if (dataset_id)
        sqlite3_bind_int64(s, 2, dataset_id);
    else
        sqlite3_bind_null(s, 2);
    bind_text(s, 3, extractor_id);
    sqlite3_bind_int64(s, 4, (int64_t)time(NULL));
    bind_text(s, 5, params_json);
    if ((rc = step_done(cat, s, what, err))) return rc;
    *run_id = sqlite3_last_insert_rowid(cat->db);
    return FC_OK;
}

int fc_catalog_run_finish(fc_catalog *cat, int64_t run_id, fc_run_status status,
                          const char *result_json, fc_error *err) {
    const char *what = "run finish";
    sqlite3_stmt *s = NULL;
    int rc = check_writable(cat, what, err);
    if (rc) return rc;
    if (status <= FC_RUN_RUNNING || status > FC_RUN_FAILED)
        return fc_fail(err, FC_EINVAL, "%s: %s: run %lld: bad final status %d", cat->path, what,
                       (long long)run_id, (int)status);
    if ((rc = prep(cat, S_RUN_FINISH, &s, what, err))) return rc;
    sqlite3_bind_int64(s, 1, run_id);
    sqlite3_bind_int64(s, 2, (int64_t)time(NULL));
    bind_text(s, 3, RUN_STATUSES[status]);
    bind_text(s, 4, result_json);
    if ((rc = step_done(cat, s, what, err))) return rc;
    if (sqlite3_changes(cat->db) == 0)
        return fc_fail(err, FC_EINVAL, "%s: %s: run %lld does not exist or has already finished",
                       cat->path, what, (long long)run_id);
    return FC_OK;
}

static int name_index(const char *text, const char *const *names, int n) {
    for (int i = 0; i < n; i++)
        if (text && strcmp(text, names[i]) == 0) return i;
    return -1;
}

int fc_catalog_run_list(fc_catalog *cat, fc_catalog_run_fn fn, void *user, fc_error *err) {
    const char *what = "run list";
    sqlite3_stmt *s = NULL;
    if (!cat || !fn) return fc_fail(err, FC_EINVAL, "fc_catalog_run_list: NULL argument");
    int rc = prep(cat, S_RUN_LIST, &s, what, err), step;
    if (rc) return rc;
    while ((step = sqlite3_step(s)) == SQLITE_ROW) {
        int kind = name_index(col_text(s, 1), RUN_KINDS, 3);
        int status = name_index(col_text(s, 8), RUN_STATUSES, 4);
        fc_catalog_run r = {
            .id = sqlite3_column_int64(s, 0),
            .kind = (fc_run_kind)kind,
            .dataset_id = sqlite3_column_int64(s, 2),
            .extractor_id = col_text(s, 3),
            .started = sqlite3_column_int64(s, 4),
            .finished = sqlite3_column_int64(s, 5),
            .params = col_text(s, 6),
            .result = col_text(s, 7),
            .status = (fc_run_status)status,
        };
        if (!sqlite3_column_int(s, 9)) {
            char id[32];
            snprintf(id, sizeof id, "#%lld", (long long)r.id);
            rc = damaged_row(cat, "run", id, err);
            break;
        }
        if (kind < 0 || status < 0) { /* excluded by the schema's CHECKs */
            rc = fc_fail(err, FC_EFORMAT, "%s: %s: run %lld has an unknown kind or status", cat->path,
                         what, (long long)r.id);
            break;
        }
        if ((rc = fn(user, &r))) break;
    }
    if (!rc && step != SQLITE_DONE) rc = sql_fail(cat, step, what, err);
    done(s);
    return rc;
}

/* ---- integrity ---------------------------------------------------------------------------- */

/* Each query returns (count, example) of one kind of dangling row; its fix removes or detaches
 * those rows (as deleting the data set or extractor would have: items go, runs keep NULL). The
 * last N_CRC_CHECKS find rows whose checksum (schema 2) does not match; their fix drops them, and
 * the next extract writes them again (a data set's items go with it, a run's history is lost). */
static const struct { const char *what, *sql, *fix; } CHECKS[] = {
    {"items of a data set that does not exist",
     "SELECT count(*), min(path) FROM items WHERE dataset_id NOT IN (SELECT id FROM datasets)",
     "DELETE FROM items WHERE dataset_id NOT IN (SELECT id FROM datasets)"},
    {"ok items without a SHA-256",
     "SELECT count(*), min(path) FROM items WHERE status = 'ok' AND "
     "(sha256 IS NULL OR length(sha256) <> 32)",
     /* the next extract reads and hashes the file again */
     "DELETE FROM items WHERE status = 'ok' AND (sha256 IS NULL OR length(sha256) <> 32)"},
    {"runs of a data set that does not exist",
     "SELECT count(*), min(id) FROM runs WHERE dataset_id IS NOT NULL AND "
     "dataset_id NOT IN (SELECT id FROM datasets)",
     "UPDATE runs SET dataset_id = NULL WHERE dataset_id IS NOT NULL AND dataset_id NOT IN (SELECT id FROM datasets)"},
    {"runs of an extractor that does not exist",
     "SELECT count(*), min(id) FROM runs WHERE extractor_id IS NOT NULL AND "
     "extractor_id NOT IN (SELECT id FROM extractors)",
     "UPDATE runs SET extractor_id = NULL WHERE extractor_id IS NOT NULL AND "
     "extractor_id NOT IN (SELECT id FROM extractors)"},
    {"items whose row does not match its checksum",
     "SELECT count(*), min(path) FROM items WHERE crc IS NOT NULL AND "
     "crc <> fc_item_crc(dataset_id, path, sha256, label, split, status)",
     "DELETE FROM items WHERE crc IS NOT NULL AND crc <> fc_item_crc(dataset_id, path, sha256, label, split, status)"},
    {"data sets whose row does not match its checksum",
     "SELECT count(*), min(name) FROM datasets WHERE crc IS NOT NULL AND crc <> fc_row_crc(name, root, format, created)",
     "DELETE FROM datasets WHERE crc IS NOT NULL AND crc <> fc_row_crc(name, root, format, created)"},
    {"extractors whose row does not match its checksum",
     "SELECT count(*), min(id) FROM extractors WHERE crc IS NOT NULL AND crc <> fc_row_crc(id, model_path, "
     "model_sha256, layer, size, crop, preprocess, views, dtype, dims, created)",
     "DELETE FROM extractors WHERE crc IS NOT NULL AND crc <> fc_row_crc(id, model_path, model_sha256, layer, size, "
     "crop, preprocess, views, dtype, dims, created)"},
    {"runs whose row does not match its checksum",
     "SELECT count(*), min(id) FROM runs WHERE crc IS NOT NULL AND "
     "crc <> fc_row_crc(kind, started, finished, params, result, status)",
     "DELETE FROM runs WHERE crc IS NOT NULL AND crc <> fc_row_crc(kind, started, finished, params, result, status)"},
};
#define N_CHECKS (sizeof CHECKS / sizeof CHECKS[0])
#define N_CRC_CHECKS 4

/* SQLite's own check of every page, index and constraint: each line that is not "ok" is a
 * problem (up to 100 of them). */
static int integrity_check(fc_catalog *cat, fc_catalog_problem_fn fn, void *user, size_t *problems, fc_error *err) {
    const char *what = "SQLite integrity_check";
    sqlite3_stmt *s = NULL;
    int step = sqlite3_prepare_v2(cat->db, "PRAGMA integrity_check", -1, &s, NULL), rc = 0;
    if (step) return sql_fail(cat, step, what, err);
    while (rc == 0 && (step = sqlite3_step(s)) == SQLITE_ROW) {
        const char *text = col_text(s, 0);
        if (text && strcmp(text, "ok") != 0) {
            (*problems)++;
            if (fn) rc = fn(user, what, 1, text);
        }
    }
    if (rc == 0 && step != SQLITE_DONE && step != SQLITE_ROW) rc = sql_fail(cat, step, what, err);
    sqlite3_finalize(s);
    return rc;
}

int fc_catalog_check(fc_catalog *cat, fc_catalog_problem_fn fn, void *user, size_t *problems, fc_error *err) {
    if (!cat || !fn || !problems) return fc_fail(err, FC_EINVAL, "fc_catalog_check: NULL argument");
    *problems = 0;
    int rc = FC_OK;
    for (size_t i = 0; i < N_CHECKS - (cat->version < 2 ? N_CRC_CHECKS : 0) && rc == 0; i++) {
        sqlite3_stmt *s = NULL;
        int step = sqlite3_prepare_v2(cat->db, CHECKS[i].sql, -1, &s, NULL);
        if (step) return sql_fail(cat, step, CHECKS[i].what, err);
        if ((step = sqlite3_step(s)) == SQLITE_ROW) {
            int64_t count = sqlite3_column_int64(s, 0);
            if (count > 0) {
                *problems += (size_t)count;
                rc = fn(user, CHECKS[i].what, count, col_text(s, 1));
            }
            step = sqlite3_step(s);
        }
        if (rc == 0 && step != SQLITE_DONE) rc = sql_fail(cat, step, CHECKS[i].what, err);
        sqlite3_finalize(s);
    }
    return rc ? rc : integrity_check(cat, fn, user, problems, err);
}

static int first_problem(void *user, const char *what, int64_t count, const char *example) {
    snprintf(user, 300, "%lld %s (first: %s)", (long long)count, what, example ? example : "-");
    return 1;
}

int fc_catalog_check_clean(fc_catalog *cat, fc_error *err) {
    char first[300] = "";
    size_t problems = 0;
    int rc = fc_catalog_check(cat, first_problem, first, &problems, err);
    if (rc < 0) return rc;
    if (problems || rc)
        return fc_fail(err, FC_EFORMAT, "%s has problems (%s): featcache verify lists them, featcache verify --repair "
                       "fixes what it can", cat->path, first);
    return 0;
}

int fc_catalog_repair(fc_catalog *cat, fc_catalog_problem_fn fn, void *user, size_t *fixed, size_t *left,
                      fc_error *err) {
    const char *what = "repair";
    if (!cat || !fixed || !left) return fc_fail(err, FC_EINVAL, "fc_catalog_repair: NULL argument");
    *fixed = *left = 0;
    int rc = check_writable(cat, what, err);
    if (rc || (rc = begin(cat, what, err))) return rc;
    /* indexes are rebuilt from their tables: what a damaged index page needs */
    rc = exec_script(cat, "REINDEX;", "rebuilding the indexes (REINDEX)", err);
    for (size_t i = 0; i < N_CHECKS && rc == 0; i++) {
        rc = exec_script(cat, CHECKS[i].fix, CHECKS[i].what, err);
        int n = sqlite3_changes(cat->db);
        if (rc == 0 && n > 0) {
            *fixed += (size_t)n;
            if (fn) rc = fn(user, CHECKS[i].what, n, "removed or detached");
        }
    }
    if (rc == 0) rc = commit(cat, what, err);
    if (rc) {
        rollback(cat);
        return rc;
    }
    return integrity_check(cat, fn, user, left, err);
}

/* ---- model files -------------------------------------------------------------------------- */

int fc_catalog_model_get(fc_catalog *cat, fc_catalog_model *m, fc_error *err) {
    const char *what = "model lookup";
    sqlite3_stmt *s = NULL;
    if (!cat || !m || !m->path) return fc_fail(err, FC_EINVAL, "fc_catalog_model_get: NULL argument");
    int rc = prep(cat, S_MODEL_GET, &s, what, err);
    if (rc) return rc;
    bind_text(s, 1, m->path);
    sqlite3_bind_int64(s, 2, m->size);
    sqlite3_bind_int64(s, 3, m->mtime);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        const char *sha = (const char *)sqlite3_column_text(s, 0);
        const char *layer = (const char *)sqlite3_column_text(s, 1);
        snprintf(m->sha256, sizeof m->sha256, "%s", sha ? sha : "");
        snprintf(m->default_layer, sizeof m->default_layer, "%s", layer ? layer : "");
        m->height = sqlite3_column_int(s, 2);
        m->width = sqlite3_column_int(s, 3);
        rc = 1;
    } else {
        rc = rc == SQLITE_DONE ? 0 : sql_fail(cat, rc, what, err);
    }
    done(s);
    return rc;
}

int fc_catalog_model_put(fc_catalog *cat, const fc_catalog_model *m, fc_error *err) {
    const char *what = "model record";
    sqlite3_stmt *s = NULL;
    if (!cat || !m || !m->path) return fc_fail(err, FC_EINVAL, "fc_catalog_model_put: NULL argument");
    int rc = check_writable(cat, what, err);
    if (rc || (rc = prep(cat, S_MODEL_PUT, &s, what, err))) return rc;
    bind_text(s, 1, m->path);
    sqlite3_bind_int64(s, 2, m->size);
    sqlite3_bind_int64(s, 3, m->mtime);
    bind_text(s, 4, m->sha256);
    bind_text(s, 5, m->default_layer);
    sqlite3_bind_int(s, 6, m->height);
    sqlite3_bind_int(s, 7, m->width);
    return step_done(cat, s, what, err);
}

int fc_catalog_model_forget(fc_catalog *cat, const char *path, fc_error *err) {
    const char *what = "model record removal";
    sqlite3_stmt *s = NULL;
    if (!cat || !path) return fc_fail(err, FC_EINVAL, "fc_catalog_model_forget: NULL argument");
    int rc = check_writable(cat, what, err);
    if (rc || (rc = prep(cat, S_MODEL_FORGET, &s, what, err))) return rc;
    bind_text(s, 1, path);
    return step_done(cat, s, what, err);
}
