/* File helpers shared by the library: read a whole file under a size limit, replace a file
 * atomically. Errors name the path and the reason; nothing is printed. */
#ifndef FC_FILE_H
#define FC_FILE_H

#include <stddef.h>
#include <stdio.h>
#include <sys/stat.h>

#include "core/error.h"

/* Opens path for reading only if it is a regular file (fstat fills st, which may be NULL). The open
 * never blocks: a FIFO without a writer, a device or a folder is refused with FC_EIO "not a regular
 * file" instead of hanging the caller. Returns NULL with err set (FC_EIO, path and strerror). */
FILE *fc_file_open_regular(const char *path, struct stat *st, fc_error *err);

/* Reads a whole file of at most limit bytes into a malloc'd buffer (*data, free() it; one spare
 * byte is allocated past the end). Errors: FC_EIO, FC_ELIMIT, FC_ENOMEM. Thread-safe. */
int fc_file_read(const char *path, long long limit, unsigned char **data, size_t *size, fc_error *err);

/* Writes size bytes to path atomically (temporary file in the same folder, fsync, rename), so path
 * is either the old file or the complete new one; the file keeps the mode of the file it replaces,
 * or gets 0644. Errors: FC_ENOSPC (the file system is full), FC_EIO (other failures), both naming
 * the file and the reason; FC_ENOMEM. Thread-safe for distinct paths. */
int fc_file_write_atomic(const char *path, const unsigned char *data, size_t size, fc_error *err);

/* 0 when this process may create files in dir (or dir does not exist), else the errno saying why
 * not (EROFS read-only file system, EACCES/EPERM permissions; checked with the effective ids, so
 * root passes permission bits). Used to explain a failed read-write open. Thread-safe. */
int fc_dir_unwritable(const char *dir);

/* 0 when dir is a folder or does not exist yet; FC_EINVAL ("DIR is a file, not a cache folder")
 * when something else is there (e.g. --cache naming a regular file). Thread-safe. */
int fc_cache_dir_check(const char *dir, fc_error *err);

#endif
