/* Whole-file reading with a size limit and atomic file replacement (temporary file in the same
 * folder, fsync, rename), shared by everything that reads models or writes result files. */
#include "core/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

FILE *fc_file_open_regular(const char *path, struct stat *st, fc_error *err) {
    struct stat local;
    if (!st) st = &local;
    /* O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        fc_fail(err, FC_EIO, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    const char *why = NULL;
    if (fstat(fd, st) != 0) why = strerror(errno);
    else if (!S_ISREG(st->st_mode))
        why = S_ISDIR(st->st_mode) ? "a folder, not a regular file"
              : S_ISFIFO(st->st_mode) ? "a FIFO, not a regular file"
                                      : "a device or socket, not a regular file";
    int fl = why ? 0 : fcntl(fd, F_GETFL);
    if (!why && (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0)) why = strerror(errno);
    FILE *f = why ? NULL : fdopen(fd, "rb");
    if (!f) {
        if (!why) why = strerror(errno);
        fc_fail(err, FC_EIO, "%s: %s", path, why);
        close(fd);
    }
    return f;
}

int fc_file_read(const char *path, long long limit, unsigned char **data, size_t *size,
                       fc_error *err) {
    *data = NULL;
    *size = 0;
    FILE *f = fc_file_open_regular(path, NULL, err);
    if (!f) return err ? err->code : FC_EIO;
    int rc = 0;
    off_t len;
    if (fseeko(f, 0, SEEK_END) != 0 || (len = ftello(f)) < 0) {
        rc = fc_fail(err, FC_EIO, "%s: cannot determine the file size", path);
        goto out;
    }
    if (len > limit) {
        rc = fc_fail(err, FC_ELIMIT, "%s: %lld bytes exceeds the limit of %lld", path, (long long)len,
                     limit);
        goto out;
    }
    rewind(f);
    *data = malloc((size_t)len + 1);
    if (!*data) { rc = fc_fail(err, FC_ENOMEM, "%s: out of memory", path); goto out; }
    if (fread(*data, 1, (size_t)len, f) != (size_t)len) {
        rc = fc_fail(err, FC_EIO, "%s: read error", path);
        free(*data);
        *data = NULL;
        goto out;
    }
    *size = (size_t)len;
out:
    fclose(f);
    return rc;
}

/* The status code for a failed write's errno: a full file system is FC_ENOSPC, the rest FC_EIO. */
static int write_code(int e) { return e == ENOSPC || e == EDQUOT ? FC_ENOSPC : FC_EIO; }

int fc_file_write_atomic(const char *path, const unsigned char *data, size_t size, fc_error *err) {
    size_t len = strlen(path);
    char *tmp = malloc(len + 16);
    if (!tmp) return fc_fail(err, FC_ENOMEM, "%s: out of memory", path);
    snprintf(tmp, len + 16, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        int rc = fc_fail(err, write_code(errno), "%s: cannot create a temporary file next to it: %s", path,
                         strerror(errno));
        free(tmp);
        return rc;
    }
    /* mkstemp creates 0600: give the file the old file's mode, or rw-r--r-- for a new one */
    struct stat st;
    if (fchmod(fd, stat(path, &st) == 0 ? (st.st_mode & 07777) : 0644) != 0) { /* best effort */ }
    size_t done = 0;
    while (done < size) {
        ssize_t w = write(fd, data + done, size - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) break;
        done += (size_t)w;
    }
    int saved = errno;
    int ok = done == size && fsync(fd) == 0;
    if (!ok && done == size) saved = errno;
    if (close(fd) != 0 && ok) { ok = 0; saved = errno; }
    if (ok && rename(tmp, path) != 0) { ok = 0; saved = errno; }
    int rc = 0;
    if (!ok) {
        unlink(tmp);
        rc = fc_fail(err, write_code(saved), "%s: cannot write: %s", path, strerror(saved ? saved : EIO));
    }
    free(tmp);
    return rc;
}

int fc_cache_dir_check(const char *dir, fc_error *err) {
    struct stat st;
    if (stat(dir, &st) != 0 || S_ISDIR(st.st_mode)) return 0;
    return fc_fail(err, FC_EINVAL, "%s is a %s, not a cache folder", dir, S_ISREG(st.st_mode) ? "regular file" : "special file");
}

int fc_dir_unwritable(const char *dir) {
    if (faccessat(AT_FDCWD, dir, W_OK | X_OK, AT_EACCESS) == 0) return 0;
    return errno == EROFS || errno == EACCES || errno == EPERM ? errno : 0;
}
