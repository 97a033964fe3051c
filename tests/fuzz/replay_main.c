/* Replays fuzz inputs without libFuzzer: links with one fuzz target (tests/fuzz/fuzz_*.c) and calls
 * its LLVMFuzzerTestOneInput on every file given (a folder: every file in it), so `make test` runs
 * the crash regressions and seed corpora with the normal compiler. Prints "PATH<tab>STATUS<tab>
 * MESSAGE" per file (STATUS: the FC_E* code of the last library call reached, 0 = ok); exit 0 when
 * every input returned (a crash or sanitizer report ends the process). Outside ASan builds the
 * address space is capped so a huge allocation fails (as under the fuzzer) instead of swapping. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "core/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
extern int fuzz_status;       /* set by the target: status of the last library call reached */
extern fc_error fuzz_error;

static int replay_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) { fprintf(stderr, "replay: cannot open %s\n", path); return 1; }
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = malloc(cap);
    for (size_t r; buf && (r = fread(buf + n, 1, cap - n, f)) > 0;) {
        n += r;
        if (n == cap) { uint8_t *nb = realloc(buf, cap *= 2); if (!nb) { free(buf); buf = NULL; } else buf = nb; }
    }
    fclose(f);
    if (!buf) { fprintf(stderr, "replay: out of memory reading %s\n", path); return 1; }
    /* an exact-size copy, so reads past the end are caught as they are under libFuzzer */
    uint8_t *exact = malloc(n ? n : 1);
    memcpy(exact, buf, n);
    free(buf);
    fprintf(stderr, "replay %s (%zu bytes)\n", path, n); /* names the input if it crashes */
    LLVMFuzzerTestOneInput(exact, n);
    free(exact);
    printf("%s\t%d\t%s\n", path, fuzz_status, fuzz_status ? fuzz_error.msg : "ok");
    fflush(stdout);
    return 0;
}

static int cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int main(int argc, char **argv) {
#if !defined(__SANITIZE_ADDRESS__)
    struct rlimit rl = {8ULL << 30, 8ULL << 30};
    setrlimit(RLIMIT_AS, &rl);
#endif
    int bad = 0, count = 0;
    for (int a = 1; a < argc; a++) {
        struct stat st;
        if (stat(argv[a], &st) != 0) { fprintf(stderr, "replay: no such file %s\n", argv[a]); bad++; continue; }
        if (!S_ISDIR(st.st_mode)) { bad += replay_file(argv[a]); count++; continue; }
        DIR *d = opendir(argv[a]);
        char **names = NULL;
        size_t n = 0;
        for (struct dirent *e; d && (e = readdir(d));) {
            if (e->d_name[0] == '.') continue;
            names = realloc(names, (n + 1) * sizeof *names);
            names[n++] = strdup(e->d_name);
        }
        if (d) closedir(d);
        if (n) qsort(names, n, sizeof *names, cmp);
        for (size_t i = 0; i < n; i++) {
            char p[4096];
            snprintf(p, sizeof p, "%s/%s", argv[a], names[i]);
            bad += replay_file(p);
            count++;
            free(names[i]);
        }
        free(names);
    }
    fprintf(stderr, "replayed %d inputs, %d unreadable\n", count, bad);
    return bad ? 1 : 0;
}
