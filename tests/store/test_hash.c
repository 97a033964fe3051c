/* Tests for store/hash.c: SHA-256 against the FIPS 180-2 / NIST example vectors (empty, "abc", the
 * 448- and 896-bit messages, one million 'a'), streaming with every split point, file hashing
 * against the system's sha256sum (sizes around the block and chunk boundaries), file errors, hex
 * coding, CRC-32C against its check value and the RFC 3720 vectors, and the SHA-NI block function
 * against its portable twin. Not a speed test. */
#include "store/crc32c_impl.h"
#include "store/hash.h"
#include "store/sha256_impl.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/support/check.h"
#include "tests/support/tmpdir.h"

static const char *hex_of(const uint8_t *d, size_t n) {
    static char buf[2 * 64 + 1];
    fc_hex_encode(d, n, buf);
    return buf;
}

static int digest_is(const void *msg, size_t n, const char *want) {
    uint8_t d[32];
    fc_sha256_digest(msg, n, d);
    return strcmp(hex_of(d, 32), want) == 0;
}

static void test_fips_vectors(void) {
    CHECK(digest_is("", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"), "empty");
    CHECK(digest_is("abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"), "abc");
    const char *m448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    CHECK(strlen(m448) * 8 == 448, "message length");
    CHECK(digest_is(m448, strlen(m448),
                    "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
          "448-bit message");
    const char *m896 = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopq"
                       "klmnopqrlmnopqrsmnopqrstnopqrstu";
    CHECK(strlen(m896) * 8 == 896, "message length");
    CHECK(digest_is(m896, strlen(m896),
                    "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"),
          "896-bit message");
    /* one million 'a', streamed in uneven pieces */
    static char a[1000];
    memset(a, 'a', sizeof a);
    fc_sha256 s;
    fc_sha256_init(&s);
    size_t left = 1000000, piece = 1;
    while (left) {
        size_t take = piece < left ? piece : left;
        fc_sha256_update(&s, a, take);
        left -= take;
        piece = piece * 7 % 997 + 1;
    }
    uint8_t d[32];
    fc_sha256_final(&s, d);
    CHECK(strcmp(hex_of(d, 32), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0") == 0,
          "million a: %s", hex_of(d, 32));
}

static void test_streaming_splits(void) {
    uint8_t msg[200], want[32], got[32];
    for (int i = 0; i < 200; i++) msg[i] = (uint8_t)(i * 31 + 7);
    for (size_t n = 0; n <= 200; n += 1) {
        fc_sha256_digest(msg, n, want);
        for (size_t cut = 0; cut <= n; cut += 3) {
            fc_sha256 s;
            fc_sha256_init(&s);
            fc_sha256_update(&s, msg, cut);
            fc_sha256_update(&s, NULL, 0);
            fc_sha256_update(&s, msg + cut, n - cut);
            fc_sha256_final(&s, got);
            REQUIRE(memcmp(want, got, 32) == 0, "length %zu split at %zu", n, cut);
        }
    }
}

static void write_file(const char *path, size_t n, uint32_t seed) {
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        fputc((int)(seed >> 24), f);
    }
    fclose(f);
}

static void test_file_vs_sha256sum(void) {
    if (system("command -v sha256sum >/dev/null 2>&1") != 0) SKIP("sha256sum not installed");
    const size_t sizes[] = {0, 1, 55, 56, 63, 64, 65, 1000, 262144, 262145, 1048576 + 17};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        char path[512], cmd[700], line[200] = "";
        snprintf(path, sizeof path, "%s/file%zu.bin", fc_test_tmpdir(), i);
        write_file(path, sizes[i], (uint32_t)i + 1);
        snprintf(cmd, sizeof cmd, "sha256sum '%s'", path);
        FILE *p = popen(cmd, "r");
        REQUIRE(p, "popen");
        char *ok = fgets(line, sizeof line, p);
        pclose(p);
        REQUIRE(ok && strlen(line) >= 64, "sha256sum output for %s", path);
        line[64] = 0;
        uint8_t d[32];
        uint64_t size = 12345;
        fc_error err = {0};
        int rc = fc_sha256_file(path, d, &size, &err);
        CHECK(rc == 0, "%s", err.msg);
        CHECK(size == sizes[i], "size %llu vs %zu", (unsigned long long)size, sizes[i]);
        CHECK(strcmp(hex_of(d, 32), line) == 0, "%zu bytes: %s vs sha256sum %s", sizes[i], hex_of(d, 32), line);
    }
}

static void test_file_errors(void) {
    const char *path = fc_test_path("does-not-exist");
    uint8_t d[32] = {0};
    fc_error err = {0};
    int rc = fc_sha256_file(path, d, NULL, &err);
    CHECK(rc == FC_EIO, "rc %d", rc);
    CHECK(strstr(err.msg, path) && strstr(err.msg, "No such file"), "message: %s", err.msg);
    rc = fc_sha256_file(fc_test_tmpdir(), d, NULL, &err);
    CHECK(rc == FC_EIO && strstr(err.msg, "not a regular file"), "directory: %d %s", rc, err.msg);
    CHECK(fc_sha256_file(NULL, d, NULL, &err) == FC_EINVAL, "NULL path");
    for (int i = 0; i < 32; i++) CHECK(d[i] == 0, "out untouched on error");
}

static void test_hex(void) {
    uint8_t in[4] = {0x00, 0x9f, 0xa0, 0xff}, out[4];
    char hex[9];
    fc_hex_encode(in, 4, hex);
    CHECK(strcmp(hex, "009fa0ff") == 0, "%s", hex);
    fc_error err = {0};
    CHECK(fc_hex_decode("009FA0ff", out, 4, &err) == 0 && memcmp(in, out, 4) == 0, "%s", err.msg);
    memset(out, 0x55, 4);
    CHECK(fc_hex_decode("009fa0f", out, 4, &err) == FC_EFORMAT, "short");
    CHECK(fc_hex_decode("009fa0fff", out, 4, &err) == FC_EFORMAT, "long");
    CHECK(fc_hex_decode("009fa0fg", out, 4, &err) == FC_EFORMAT && strstr(err.msg, "position 7"),
          "bad digit: %s", err.msg);
    CHECK(out[0] == 0x55, "out untouched on error");
}

/* SHA-NI and portable block functions give the same state, block by block and in runs. */
static void test_sha_ni_vs_portable(void) {
    if (!fc_sha256_ni_supported()) {
        SKIP("this CPU has no SHA-NI (or FEATCACHE_ISA=scalar)");
        return;
    }
    enum { MAXB = 40 };
    static uint8_t data[64 * MAXB];
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (int trial = 0; trial < 200; trial++) {
        for (size_t i = 0; i < sizeof data; i++) x = x * 6364136223846793005ull + 1442695040888963407ull, data[i] = (uint8_t)(x >> 56);
        if (trial == 1) memset(data, 0, sizeof data);
        if (trial == 2) memset(data, 0xff, sizeof data);
        uint32_t a[8], b[8];
        for (int i = 0; i < 8; i++) a[i] = b[i] = (uint32_t)(x >> (i * 4)) ^ (uint32_t)i * 0x01000193u;
        size_t n = 1 + (size_t)(trial % MAXB);
        fc_sha256_blocks_portable(a, data, n);
        fc_sha256_blocks_ni(b, data, n);
        CHECK(!memcmp(a, b, sizeof a), "trial %d, %zu blocks: SHA-NI state differs from portable", trial, n);
    }
}

static void test_crc32c(void) {
    CHECK(fc_crc32c(0, "123456789", 9) == 0xe3069283u, "check value %08x", fc_crc32c(0, "123456789", 9));
    uint8_t b[32];
    memset(b, 0, 32);
    CHECK(fc_crc32c(0, b, 32) == 0x8a9136aau, "zeros");
    memset(b, 0xff, 32);
    CHECK(fc_crc32c(0, b, 32) == 0x62a8ab43u, "ones");
    for (int i = 0; i < 32; i++) b[i] = (uint8_t)i;
    CHECK(fc_crc32c(0, b, 32) == 0x46dd794eu, "ascending");
    CHECK(fc_crc32c(fc_crc32c(0, b, 13), b + 13, 19) == fc_crc32c(0, b, 32), "incremental");
    CHECK(fc_crc32c(0, NULL, 0) == 0, "empty");
    if (!fc_crc32c_sse42_supported()) return; /* the rest compares the two versions */
    uint8_t r[5003];
    uint32_t x = 0x9e3779b9u;
    for (size_t i = 0; i < sizeof r; i++) x = x * 1664525u + 1013904223u, r[i] = (uint8_t)(x >> 24);
    int same = 0, tried = 0;
    for (size_t off = 0; off < 9; off++) /* every alignment, lengths around the 8-byte steps */
        for (size_t n = 0; off + n <= sizeof r; n += n < 40 ? 1 : 997, tried++)
            same += fc_crc32c_sse42(0x12345678u, r + off, n) == fc_crc32c_portable(0x12345678u, r + off, n);
    CHECK(same == tried, "SSE4.2 = portable on %d of %d random buffers", same, tried);
}

int main(void) {
    RUN(test_fips_vectors);
    RUN(test_streaming_splits);
    RUN(test_file_vs_sha256sum);
    RUN(test_file_errors);
    RUN(test_hex);
    RUN(test_crc32c);
    RUN(test_sha_ni_vs_portable);
    return check_done();
}
