/* Shared pieces of the command-line layer: the command table, option helpers, label files and
 * image-to-input loading. Only the CLI prints or exits; library calls return fc_error. */
#ifndef FC_CLI_H
#define FC_CLI_H

#include "core/core.h"
#include "extract/extract.h"

/* Exit codes shared by all commands. */
enum {
    EXIT_OK = 0,
    EXIT_FAIL = 1,      /* the command failed (bad model, I/O, ...) */
    EXIT_USAGE = 64,    /* bad command line */
    EXIT_PARTIAL = 3,   /* completed, but some inputs (e.g. images) were bad and skipped */
};

int cmd_infer(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_extract(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_ls(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_sweep(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_export_onnx(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_gc(int argc, char **argv);
int cmd_cuts(int argc, char **argv);
int cmd_finetune(int argc, char **argv);
int cmd_advise(int argc, char **argv);
int cmd_merge(int argc, char **argv);

/* Extraction progress on stderr, one line redrawn at most every 0.2 s (an fc_extract_control
 * progress callback; user is a cli_progress, show 0 = silent, last -1 at the start). */
typedef struct cli_progress {
    int show;
    double last;
} cli_progress;
void cli_progress_show(void *user, const fc_job_progress *p);

/* Installs SIGINT and SIGTERM handlers that set the returned flag (a long command's cancel flag:
 * it stops after the unit of work in flight); a second signal ends the process at once. */
volatile int *cli_cancel_on_signals(void);

/* Cache folder: the --cache value, else $FEATCACHE_HOME, else ./.featcache. */
const char *cli_cache_dir(const char *opt);

/* Parses a whole positive integer / float option value; on error prints "featcache CMD: --NAME ..."
 * and returns -1. */
int cli_int(const char *cmd, const char *name, const char *s, int lo, int hi, int *out);
int cli_float(const char *cmd, const char *name, const char *s, double lo, double hi, double *out);
/* --parallel batch|layers -> *split_batch 1|0; on error prints a message and returns -1. */
int cli_parallel_mode(const char *cmd, const char *s, int *split_batch);
/* --compute f32|bf16 -> *out; on error prints a message and returns -1. */
int cli_compute(const char *cmd, const char *s, fc_compute *out);
/* --exif-orientation apply|ignore -> *out; same error style. */
int cli_exif(const char *cmd, const char *s, fc_exif *out);
/* A byte count with an optional K/M/G/T suffix (powers of 1024), at least lo; same error style. */
int cli_bytes(const char *cmd, const char *name, const char *s, unsigned long long lo, size_t *out);

/* Labels: one per line; returns count (0 on error with message in err). Free with cli_labels_free. */
int cli_labels_load(const char *path, char ***labels, fc_error *err);
void cli_labels_free(char **labels, int n);

/* Indices of the k largest scores (k <= n, k <= 100), best first, ties to the lower index. */
void cli_top_k(const float *scores, int n, int k, int *order);

/* Test hook for tests that must act at an exact moment of a command (kill it, run another one)
 * without sleeping and hoping: with FEATCACHE_TEST_PAUSE=POINT:DIR (or POINT#N:DIR: the Nth time
 * it is reached) in the environment, reaching the named point writes this process's id into the
 * FIFO DIR/POINT.reached (blocking until the test reads it), then waits until the test writes to
 * and closes the FIFO DIR/POINT.go. Points: "extract-batch" (extract: a batch's features
 * committed, its catalog rows not yet written), "export-written"
 * (export: the whole set written, not yet in place), "export-file" (export into a folder with
 * other files: the first file renamed into it), "epoch" (finetune, train --head conv: an epoch's
 * checkpoint written and its line printed; epoch#1 is epoch 0, the evaluation before training). Does nothing when unset, for another point, or
 * when the FIFOs are missing. */
void cli_test_pause(const char *point);

/* Decodes the image at path and preprocesses it into dst (3, H, W). */
int cli_load_input(const char *path, const fc_preprocess *p, float *dst, fc_error *err);

#endif
