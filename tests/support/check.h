/* Minimal test harness: each test binary runs its cases with RUN(), prints one line per case
 * (PASS / FAIL / SKIP with a reason) and exits non-zero if any case failed. tests/run.sh sums the
 * lines of all binaries into "N passed, N failed, N skipped". A skip is never counted as a pass. */
#ifndef FC_CHECK_H
#define FC_CHECK_H
#include <stdio.h>
#include <stdlib.h>

extern int check_failed_;   /* failures in the current case */
extern const char *check_skip_; /* reason if the current case skipped */
extern int check_total_failed_;

/* Each macro evaluates cond exactly once. */
#define CHECK(cond, ...)                                                                  \
    do {                                                                                  \
        if (!(cond)) check_fail_(__FILE__, __LINE__, #cond), printf(__VA_ARGS__), putchar('\n'); \
    } while (0)

/* Fail the case and return from the test function (for checks later code depends on). */
#define REQUIRE(cond, ...)                                                                \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            check_fail_(__FILE__, __LINE__, #cond);                                       \
            printf(__VA_ARGS__);                                                          \
            putchar('\n');                                                                \
            return;                                                                       \
        }                                                                                 \
    } while (0)

#define SKIP(reason)                                                                      \
    do {                                                                                  \
        check_skip_ = (reason);                                                           \
        return;                                                                           \
    } while (0)

/* Records a failed check and prints its location (the message follows). */
void check_fail_(const char *file, int line, const char *cond);
void check_run_(const char *name, void (*fn)(void));
#define RUN(fn) check_run_(#fn, fn)
/* Returns the exit status for main(). */
int check_done(void);

/* Path of ../shared relative to the repository root (FEATCACHE_SHARED overrides), or NULL if absent. */
const char *check_shared_dir(void);

#endif
