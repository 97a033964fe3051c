/* Implementation of the tiny harness in check.h. */
#include "tests/support/check.h"

#include <string.h>
#include <sys/stat.h>

int check_failed_;
const char *check_skip_;
int check_total_failed_;

void check_fail_(const char *file, int line, const char *cond) {
    printf("  check failed %s:%d: %s: ", file, line, cond);
    check_failed_++;
}

void check_run_(const char *name, void (*fn)(void)) {
    check_failed_ = 0;
    check_skip_ = NULL;
    fn();
    if (check_failed_) {
        printf("FAIL %s\n", name);
        check_total_failed_++;
    } else if (check_skip_) {
        printf("SKIP %s: %s\n", name, check_skip_);
    } else {
        printf("PASS %s\n", name);
    }
    fflush(stdout);
}

int check_done(void) { return check_total_failed_ ? 1 : 0; }

const char *check_shared_dir(void) {
    static char path[4096];
    const char *env = getenv("FEATCACHE_SHARED");
    snprintf(path, sizeof path, "%s", env && *env ? env : "../shared");
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) return NULL;
    return path;
}
