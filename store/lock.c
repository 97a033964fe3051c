/* fc_cache_lock (see store/lock.h). flock, not fcntl locks: an fcntl lock belongs to the process
 * and is dropped when any descriptor of the file closes, flock's to the open file description. */
#include "store/lock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

int fc_cache_lock(const char *dir, int exclusive, int wait, int *fd, fc_error *err) {
    char path[4200];
    *fd = -1;
    int rc = fc_cache_dir_check(dir, err); /* --cache naming a file: say so, not ENOTDIR on the lock */
    if (rc) return rc;
    snprintf(path, sizeof path, "%s/lock", dir);
    *fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (*fd < 0 && (errno == EROFS || errno == EACCES)) *fd = open(path, O_RDONLY | O_CLOEXEC);
    if (*fd < 0) {
        if (errno == ENOENT && access(dir, W_OK) != 0) return 0; /* read-only folder: nobody writes */
        return fc_fail(err, FC_EIO, "%s: cannot create the cache's lock file: %s", path, strerror(errno));
    }
    int op = (exclusive ? LOCK_EX : LOCK_SH) | (wait ? 0 : LOCK_NB);
    while ((rc = flock(*fd, op)) != 0 && errno == EINTR) {}
    if (rc == 0) return 0;
    int e = errno;
    close(*fd);
    *fd = -1;
    if (e == EWOULDBLOCK) return fc_fail(err, FC_ETIMEOUT, "%s is held by another process", path);
    return fc_fail(err, FC_EIO, "%s: cannot lock: %s", path, strerror(e));
}

void fc_cache_unlock(int fd) {
    if (fd >= 0) close(fd); /* closing the last descriptor of the open file frees its flock */
}
