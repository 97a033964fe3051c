/* fc_test_tmpdir and fc_test_path (see tmpdir.h): mkdtemp once, nftw removal at exit. */
#include "tests/support/tmpdir.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[256];
static pid_t owner; /* the process that made dir: the only one that removes it */

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    if (remove(path) != 0) fprintf(stderr, "  (could not remove %s: %s)\n", path, strerror(errno));
    return 0; /* keep going: remove what can be removed */
}

static void remove_dir(void) {
    if (getpid() == owner) nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

const char *fc_test_tmpdir(void) {
    if (dir[0]) return dir;
    snprintf(dir, sizeof dir, "/tmp/fc_%s.XXXXXX", program_invocation_short_name);
    if (!mkdtemp(dir)) {
        printf("FAIL %s: cannot create a temporary folder %s: %s\n", program_invocation_short_name, dir,
               strerror(errno));
        exit(1);
    }
    owner = getpid();
    atexit(remove_dir);
    return dir;
}

const char *fc_test_path(const char *name) {
    static char ring[64][512];
    static int next;
    char *p = ring[next++ & 63];
    if ((size_t)snprintf(p, sizeof ring[0], "%s/%s", fc_test_tmpdir(), name) >= sizeof ring[0]) {
        fprintf(stderr, "fc_test_path: %s/%s is longer than %zu bytes\n", fc_test_tmpdir(), name, sizeof ring[0]);
        abort();
    }
    return p;
}
