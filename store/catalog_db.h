/* The catalog's SQLite connection for other files of store/ that write rows the catalog API has no
 * call for (the merge copies rows with their own creation times and remaps their ids). The
 * connection has the row checksum functions that catalog.c's statements use, fc_item_crc(dataset_id,
 * path, sha256, label, split, status) and fc_row_crc(...), and foreign keys on. Internal to store/:
 * other layers use catalog.h. */
#ifndef FC_CATALOG_DB_H
#define FC_CATALOG_DB_H

#include <sqlite3.h>

#include "store/catalog.h"

/* The connection of a read-write handle (NULL for a read-only one or NULL). Statements prepared on
 * it must be finalized before fc_catalog_close; the caller's transactions must not overlap calls to
 * catalog.h functions that begin their own. */
sqlite3 *fc_catalog_db(fc_catalog *cat);

/* The catalog's error for SQLite result rc while doing `what` (FC_ETIMEOUT for a lock held past the
 * busy timeout, FC_ENOSPC for a full disk, FC_EFORMAT for a damaged file, FC_EINVAL for a
 * constraint, ...), the message naming the file and SQLite's reason; returns the code. */
int fc_catalog_db_fail(const fc_catalog *cat, int rc, const char *what, fc_error *err);

/* Bind an item's columns as ?1..?9: dataset_id, path, sha256 (NULL without a hash), label, split
 * ('' for none), status 'ok'|'bad', error, size, mtime. The strings are bound SQLITE_STATIC: keep
 * them until the statement is reset. */
void fc_catalog_bind_item(sqlite3_stmt *s, int64_t dataset_id, const fc_catalog_item *it);

/* Binds an extractor's columns as ?1..?11: id, model_path, model_sha256, layer, size, crop,
 * preprocess, views, dtype, dims (written into dims, e.g. "1280,7,7", which must outlive the
 * statement's step), created. */
void fc_catalog_bind_extractor(sqlite3_stmt *s, const fc_catalog_extractor *x, char dims[64], int64_t created);

#endif
