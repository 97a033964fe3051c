/* One private temporary folder per test process, removed with everything in it at exit, and file
 * names in it. Tests write their files here instead of making and removing folders themselves.
 * Not for files that must outlive the test (FC_TEST_REPORT_OUT and the like name their own place). */
#ifndef FC_TEST_TMPDIR_H
#define FC_TEST_TMPDIR_H

/* The folder /tmp/fc_<program>.XXXXXX (mode 0700), made on the first call; later calls return the
 * same path. Its removal is registered with atexit and done only by the process that made it, so a
 * forked child that exits leaves it alone. If it cannot be made, prints a FAIL line (tests/run.sh
 * counts it) and exits 1. */
const char *fc_test_tmpdir(void);

/* fc_test_tmpdir()/name, in a ring of 64 buffers: it stays valid for the next 63 calls. A path that
 * does not fit aborts (a bug in the test). */
const char *fc_test_path(const char *name);

#endif
