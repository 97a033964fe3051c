/* libFuzzer target: bytes -> features.mdb of a private cache folder -> fc_cache_open read-only (the
 * meta pages and the file size before LMDB maps it, every branch and leaf page at open), every value
 * walked with its CRC and its pages' header checked, one looked up; then read-write: a value put
 * (page splits, the free list), the first item's values and a whole extractor deleted (pages freed).
 * Whatever the bytes, nothing may crash, hang or trip a sanitizer; refusing the file is fine.
 * The folder is in /dev/shm when there is one (LMDB syncs every commit) and removed at exit. */
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/cache.h"

/* Status and message of the last library call this input reached (0 = all succeeded):
 * replay_main checks them against the expected codes of the regression files. */
int fuzz_status;
fc_error fuzz_error;

static char dir[64];

static void remove_dir(void) {
    char p[128];
    const char *names[] = {"features.mdb", "features.mdb-lock"};
    for (int i = 0; i < 2; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        unlink(p);
    }
    rmdir(dir);
}

static int write_store(const uint8_t *data, size_t size) {
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "%s/fuzz_cache.XXXXXX", access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
        if (!mkdtemp(dir)) return -1;
        atexit(remove_dir);
    }
    char p[128];
    snprintf(p, sizeof p, "%s/features.mdb", dir);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) return -1;
    ssize_t n = size ? write(fd, data, size) : 0;
    close(fd);
    return n == (ssize_t)size ? 0 : -1;
}

typedef struct seen {
    size_t values, bad;
    int have_key;
    fc_feature_key first;
    float sum;
} seen;

static int visit(void *user, const fc_feature_key *key, const fc_feature_view *view, const fc_error *problem) {
    seen *s = user;
    if (!s->have_key) s->first = *key, s->have_key = 1;
    s->values++;
    s->bad += problem != NULL;
    if (view && view->count <= 4096) { /* read the data as a reader would */
        float buf[4096];
        if (fc_feature_to_f32(view, buf, 4096, NULL) == 0) s->sum += buf[0] + buf[view->count - 1];
    }
    return 0;
}

static void read_only(seen *s) {
    fc_cache *c = NULL;
    if ((fuzz_status = fc_cache_open(dir, FC_CACHE_RDONLY, NULL, &c, &fuzz_error)) != 0) return;
    fc_cache_stats st;
    size_t count = 0;
    if ((fuzz_status = fc_cache_foreach(c, NULL, FC_CACHE_VISIT_VERIFY, visit, s, &fuzz_error)) == 0 &&
        (fuzz_status = fc_cache_stat(c, &st, &fuzz_error)) == 0 &&
        (fuzz_status = fc_cache_count(c, NULL, &count, &fuzz_error)) == 0 && s->have_key) {
        float out[8];
        fc_feature_view info;
        int got = fc_cache_get(c, &s->first, out, 8, &info, &fuzz_error);
        fuzz_status = got < 0 && got != FC_ESHAPE && got != FC_EFORMAT ? got : 0;
    }
    fc_cache_close(c);
}

static void read_write(const seen *s) {
    fc_cache *c = NULL;
    fc_cache_options o = {.max_map_size = 64 << 20};
    if ((fuzz_status = fc_cache_open(dir, 0, &o, &c, &fuzz_error)) != 0) return;
    float data[600];
    for (int i = 0; i < 600; i++) data[i] = (float)i;
    fc_feature f = {.dtype = FC_DTYPE_F32, .rank = 1, .dims = {600}, .data = data}; /* an overflow value */
    memset(f.key.item, 0x5a, 32);
    if (s->have_key) memcpy(f.key.extractor, s->first.extractor, 32);
    size_t n = 0;
    if ((fuzz_status = fc_cache_put(c, &f, 1, &fuzz_error)) == 0 && s->have_key &&
        (fuzz_status = fc_cache_delete_items(c, (const uint8_t(*)[32])s->first.item, 1, &n, &fuzz_error)) == 0)
        fuzz_status = fc_cache_delete_extractor(c, s->first.extractor, &n, &fuzz_error);
    fc_cache_close(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_status = 0;
    fuzz_error.msg[0] = 0;
    if (write_store(data, size) != 0) return 0; /* no room for the file: nothing to test */
    seen s = {0};
    read_only(&s);
    if (fuzz_status) return 0;
    read_write(&s);
    return 0;
}
