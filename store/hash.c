/* SHA-256 as specified in FIPS 180-4 (sections 4.1.2, 4.2.2, 5.1.1, 6.2), written for clarity in
 * portable C: big-endian word loads by bytes, no intrinsics; whole blocks go to the SHA-NI version
 * (sha256_ni.c, ~10x faster: every image file is hashed) when the CPU has it. Also hex coding and
 * CRC-32C: a nibble-table reference, and SSE4.2's instruction (crc32c_sse42.c) when allowed. Not
 * here: HMAC, other SHA-2 sizes. */
#include "store/hash.h"
#include "store/crc32c_impl.h"
#include "store/sha256_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* FIPS 180-4 4.2.2: first 32 bits of the fractional parts of the cube roots of the first 64 primes. */
const uint32_t fc_sha256_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static uint32_t rotr(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

/* One 512-bit block (FIPS 180-4 6.2.2). */
static void compress(uint32_t h[8], const uint8_t *p) {
    uint32_t w[64];
    for (int t = 0; t < 16; t++)
        w[t] = (uint32_t)p[4 * t] << 24 | (uint32_t)p[4 * t + 1] << 16 |
               (uint32_t)p[4 * t + 2] << 8 | (uint32_t)p[4 * t + 3];
    for (int t = 16; t < 64; t++) {
        uint32_t s0 = rotr(w[t - 15], 7) ^ rotr(w[t - 15], 18) ^ (w[t - 15] >> 3);
        uint32_t s1 = rotr(w[t - 2], 17) ^ rotr(w[t - 2], 19) ^ (w[t - 2] >> 10);
        w[t] = w[t - 16] + s0 + w[t - 7] + s1;
    }
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
    for (int t = 0; t < 64; t++) {
        uint32_t S1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25);
        uint32_t ch = (e & f) ^ (~e & g);
        uint32_t t1 = hh + S1 + ch + fc_sha256_k[t] + w[t];
        uint32_t S0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22);
        uint32_t maj = (a & b) ^ (a & c) ^ (b & c);
        uint32_t t2 = S0 + maj;
        hh = g;
        g = f;
        f = e;
        e = d + t1;
        d = c;
        c = b;
        b = a;
        a = t1 + t2;
    }
    h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e, h[5] += f, h[6] += g, h[7] += hh;
}

void fc_sha256_blocks_portable(uint32_t h[8], const uint8_t *p, size_t blocks) {
    for (; blocks > 0; blocks--, p += 64) compress(h, p);
}

int fc_sha256_ni_supported(void) {
    const fc_cpu_features *c = fc_cpu(); /* the kernels' FEATCACHE_ISA=scalar also means portable */
    return c->sha_ni && c->isa_env != FC_ISA_SCALAR;
}

void fc_sha256_init(fc_sha256 *s) {
    static const uint32_t H0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(s->h, H0, sizeof H0);
    s->bytes = 0;
    s->used = 0;
    /* whole blocks through SHA-NI when allowed: both give the same state */
    s->blocks = fc_sha256_ni_supported() ? fc_sha256_blocks_ni : fc_sha256_blocks_portable;
}

void fc_sha256_update(fc_sha256 *s, const void *data, size_t n) {
    const uint8_t *p = data;
    if (n == 0) return;
    s->bytes += n;
    if (s->used) {
        size_t take = 64 - s->used < n ? 64 - s->used : n;
        memcpy(s->block + s->used, p, take);
        s->used += take;
        p += take;
        n -= take;
        if (s->used < 64) return;
        s->blocks(s->h, s->block, 1);
        s->used = 0;
    }
    if (n >= 64) {
        s->blocks(s->h, p, n / 64);
        p += n / 64 * 64;
        n %= 64;
    }
    if (n) memcpy(s->block, p, n);
    s->used = n;
}

void fc_sha256_final(fc_sha256 *s, uint8_t out[FC_SHA256_SIZE]) {
    /* Padding (5.1.1): a 1 bit, zeros up to 56 mod 64, then the bit length as a 64-bit big-endian. */
    uint64_t bits = s->bytes * 8;
    s->block[s->used++] = 0x80;
    if (s->used > 56) {
        memset(s->block + s->used, 0, 64 - s->used);
        s->blocks(s->h, s->block, 1);
        s->used = 0;
    }
    memset(s->block + s->used, 0, 56 - s->used);
    for (int i = 0; i < 8; i++) s->block[56 + i] = (uint8_t)(bits >> (56 - 8 * i));
    s->blocks(s->h, s->block, 1);
    for (int i = 0; i < 8; i++) {
        out[4 * i] = (uint8_t)(s->h[i] >> 24);
        out[4 * i + 1] = (uint8_t)(s->h[i] >> 16);
        out[4 * i + 2] = (uint8_t)(s->h[i] >> 8);
        out[4 * i + 3] = (uint8_t)s->h[i];
    }
    s->used = 0;
}

void fc_sha256_digest(const void *data, size_t n, uint8_t out[FC_SHA256_SIZE]) {
    fc_sha256 s;
    fc_sha256_init(&s);
    fc_sha256_update(&s, data, n);
    fc_sha256_final(&s, out);
}

int fc_sha256_file(const char *path, uint8_t out[FC_SHA256_SIZE], uint64_t *size, fc_error *err) {
    enum { CHUNK = 256 * 1024 };
    int fd = -1, rc;
    uint8_t *buf = NULL;
    if (!path || !out) return fc_fail(err, FC_EINVAL, "fc_sha256_file: NULL argument");
    fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC); /* a FIFO must not block */
    if (fd < 0) {
        rc = fc_fail(err, FC_EIO, "%s: cannot open: %s", path, strerror(errno));
        goto fail;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        rc = fc_fail(err, FC_EIO, "%s: cannot stat: %s", path, strerror(errno));
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = fc_fail(err, FC_EIO, "%s: not a regular file", path);
        goto fail;
    }
    buf = malloc(CHUNK);
    if (!buf) {
        rc = fc_fail(err, FC_ENOMEM, "%s: no memory for a %d-byte read buffer", path, CHUNK);
        goto fail;
    }
    fc_sha256 s;
    fc_sha256_init(&s);
    for (;;) {
        ssize_t got = read(fd, buf, CHUNK);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) {
            rc = fc_fail(err, FC_EIO, "%s: read error after %llu bytes: %s", path,
                         (unsigned long long)s.bytes, strerror(errno));
            goto fail;
        }
        if (got == 0) break;
        fc_sha256_update(&s, buf, (size_t)got);
    }
    if (size) *size = s.bytes;
    fc_sha256_final(&s, out);
    free(buf);
    close(fd);
    return FC_OK;
fail:
    free(buf);
    if (fd >= 0) close(fd);
    return rc;
}

void fc_hex_encode(const uint8_t *in, size_t n, char *out) {
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = 0;
}

static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int fc_hex_decode(const char *hex, uint8_t *out, size_t n, fc_error *err) {
    if (!hex) return fc_fail(err, FC_EINVAL, "fc_hex_decode: NULL string");
    size_t len = strnlen(hex, 2 * n + 1);
    if (len != 2 * n)
        return fc_fail(err, FC_EFORMAT, "hex string '%.80s' should have %zu digits", hex, 2 * n);
    for (size_t i = 0; i < 2 * n; i++)
        if (hex_value(hex[i]) < 0)
            return fc_fail(err, FC_EFORMAT, "'%.80s': not a hex digit at position %zu", hex, i);
    for (size_t i = 0; i < n; i++)
        out[i] = (uint8_t)(hex_value(hex[2 * i]) << 4 | hex_value(hex[2 * i + 1]));
    return FC_OK;
}

int fc_crc32c_sse42_supported(void) {
    return fc_cpu_isa() >= FC_ISA_AVX2;
}

uint32_t fc_crc32c(uint32_t crc, const void *data, size_t n) {
    return fc_crc32c_sse42_supported() ? fc_crc32c_sse42(crc, data, n) : fc_crc32c_portable(crc, data, n);
}

uint32_t fc_crc32c_portable(uint32_t crc, const void *data, size_t n) {
    /* Reflected polynomial 0x82f63b78, processed a nibble at a time (16-entry table). */
    static const uint32_t T[16] = {
        0x00000000u, 0x105ec76fu, 0x20bd8edeu, 0x30e349b1u, 0x417b1dbcu, 0x5125dad3u,
        0x61c69362u, 0x7198540du, 0x82f63b78u, 0x92a8fc17u, 0xa24bb5a6u, 0xb21572c9u,
        0xc38d26c4u, 0xd3d3e1abu, 0xe330a81au, 0xf36e6f75u,
    };
    const uint8_t *p = data;
    crc = ~crc;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        crc = (crc >> 4) ^ T[crc & 15];
        crc = (crc >> 4) ^ T[crc & 15];
    }
    return ~crc;
}
