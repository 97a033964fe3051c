/* Option parsing helpers, label files and image loading shared by the commands. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "extract/extract.h"

static volatile sig_atomic_t cancel_flag;

static void on_cancel_signal(int sig) {
    cancel_flag = 1;
    signal(sig, SIG_DFL); /* a second Ctrl-C ends at once */
}

volatile int *cli_cancel_on_signals(void) {
    signal(SIGINT, on_cancel_signal);
    signal(SIGTERM, on_cancel_signal);
    return (volatile int *)&cancel_flag;
}

int cli_int(const char *cmd, const char *name, const char *s, int lo, int hi, int *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "featcache %s: --%s wants a whole number from %d to %d, not '%s'\n", cmd, name, lo, hi, s);
        return -1;
    }
    *out = (int)v;
    return 0;
}

int cli_parallel_mode(const char *cmd, const char *s, int *split_batch) {
    if (!strcmp(s, "batch") || !strcmp(s, "layers")) {
        *split_batch = !strcmp(s, "batch");
        return 0;
    }
    fprintf(stderr, "featcache %s: --parallel wants batch or layers, not '%s'\n", cmd, s);
    return -1;
}

int cli_compute(const char *cmd, const char *s, fc_compute *out) {
    fc_error err = {0};
    if (!fc_compute_parse(s, out, &err)) return 0;
    fprintf(stderr, "featcache %s: %s\n", cmd, err.msg);
    return -1;
}

int cli_exif(const char *cmd, const char *s, fc_exif *out) {
    fc_error err = {0};
    if (!fc_exif_parse(s, out, &err)) return 0;
    fprintf(stderr, "featcache %s: %s\n", cmd, err.msg);
    return -1;
}

int cli_float(const char *cmd, const char *name, const char *s, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi)) {
        fprintf(stderr, "featcache %s: --%s wants a number from %g to %g, not '%s'\n", cmd, name, lo, hi, s);
        return -1;
    }
    *out = v;
    return 0;
}

int cli_bytes(const char *cmd, const char *name, const char *s, unsigned long long lo, size_t *out) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10), unit = 1;
    if (*end && !end[1]) unit = *end == 'K' || *end == 'k' ? 1ull << 10 : *end == 'M' ? 1ull << 20 : *end == 'G' ? 1ull << 30 : *end == 'T' ? 1ull << 40 : 0;
    if (errno || end == s || *s == '-' || (*end && (!unit || end[1])) || v > (unsigned long long)SIZE_MAX / unit ||
        v * unit < lo) {
        fprintf(stderr, "featcache %s: --%s wants a size in bytes of at least %llu (suffix K, M, G or T allowed), not '%s'\n",
                cmd, name, lo, s);
        return -1;
    }
    *out = (size_t)(v * unit);
    return 0;
}

int cli_labels_load(const char *path, char ***labels, fc_error *err) {
    *labels = NULL;
    FILE *f = fopen(path, "r");
    if (!f) return fc_fail(err, FC_EIO, "%s: cannot open: %s", path, strerror(errno)), 0;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int n = 0, alloc = 0;
    char **v = NULL;
    while ((len = getline(&line, &cap, f)) >= 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
        if (n == alloc) {
            alloc = alloc ? alloc * 2 : 1024;
            char **nv = realloc(v, (size_t)alloc * sizeof *nv);
            if (!nv) break;
            v = nv;
        }
        v[n] = strdup(line);
        if (!v[n]) break;
        n++;
    }
    free(line);
    fclose(f);
    if (n == 0) {
        free(v);
        fc_fail(err, FC_EFORMAT, "%s: no labels", path);
        return 0;
    }
    *labels = v;
    return n;
}

void cli_labels_free(char **labels, int n) {
    for (int i = 0; i < n; i++) free(labels[i]);
    free(labels);
}

int cli_load_input(const char *path, const fc_preprocess *p, float *dst, fc_error *err) {
    fc_image img;
    int hint_w, hint_h;
    fc_preprocess_decode_hint(p, &hint_w, &hint_h);
    int rc = fc_image_load(path, hint_w, hint_h, p->exif, &img, err);
    if (rc) return rc;
    rc = fc_preprocess_image(&img, p, dst, err);
    if (rc) fc_error_prefix(err, "%s: ", path);
    fc_image_free(&img);
    return rc;
}

void cli_top_k(const float *scores, int n, int k, int *order) {
    for (int r = 0; r < k; r++) { /* selection: k is small */
        int best = -1;
        for (int i = 0; i < n; i++) {
            int taken = 0;
            for (int q = 0; q < r; q++) taken |= order[q] == i;
            if (!taken && (best < 0 || scores[i] > scores[best])) best = i;
        }
        order[r] = best;
    }
}

void cli_progress_show(void *user, const fc_job_progress *p) {
    cli_progress *ps = user;
    if (!ps->show || (p->seconds - ps->last < 0.2 && p->done < p->total)) return;
    ps->last = p->seconds;
    double rate = p->seconds > 0 ? p->computed / p->seconds : 0;
    size_t left = p->total - p->done;
    fprintf(stderr, "\r  %zu/%zu  computed %zu  cached %zu  bad %zu  %.1f img/s", p->done, p->total,
            p->computed, p->cached, p->bad, rate);
    if (rate > 0 && left) fprintf(stderr, "  ETA %.0fs   ", left / rate);
    else fprintf(stderr, "            ");
    fflush(stderr);
}

/* The FIFO DIR/POINTsuffix opened with flags (blocks until the other end opens it); -1 when it is
 * not a FIFO. */
static int open_fifo(const char *dir, const char *point, const char *suffix, int flags) {
    char path[4200];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s%s", dir, point, suffix);
    if (stat(path, &st) != 0 || !S_ISFIFO(st.st_mode)) return -1;
    return open(path, flags | O_CLOEXEC);
}

void cli_test_pause(const char *point) {
    static int reached; /* times the named point was reached in this process (one point per run) */
    const char *env = getenv("FEATCACHE_TEST_PAUSE"), *colon = env ? strchr(env, ':') : NULL;
    size_t n = strlen(point);
    if (!colon || strncmp(env, point, n) != 0 || (env + n != colon && env[n] != '#')) return;
    long nth = env[n] == '#' ? strtol(env + n + 1, NULL, 10) : 1;
    if (++reached != nth) return;
    int fd = open_fifo(colon + 1, point, ".reached", O_WRONLY);
    if (fd < 0) return;
    char pid[32];
    int len = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    ssize_t w = write(fd, pid, (size_t)len);
    close(fd);
    if (w != len || (fd = open_fifo(colon + 1, point, ".go", O_RDONLY)) < 0) return;
    char buf[64];
    while (read(fd, buf, sizeof buf) > 0) {}
    close(fd);
}
