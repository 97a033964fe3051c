/* Content hashing for the cache: SHA-256 (FIPS 180-4, own implementation: streaming
 * init/update/final, one-shot buffer and chunked file hashing), lowercase hex encoding/decoding of
 * digests, and CRC-32C (Castagnoli), the checksum the feature store keeps in every value header.
 * SHA-256 gives item keys (file bytes) and extractor ids; CRC-32C only detects accidental
 * corruption of stored values and is no security measure. SHA-NI is used when the CPU has it
 * (FEATCACHE_ISA=scalar forces the portable code). Not here: what gets hashed for an extractor
 * fingerprint (the pipeline decides). */
#ifndef FC_HASH_H
#define FC_HASH_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

#define FC_SHA256_SIZE 32
#define FC_SHA256_HEX_SIZE 65 /* 64 hex digits + NUL */

/* Streaming state. Plain value type: copy it to fork a hash; no resources to free. One state must
 * not be used by two threads at once; distinct states are independent. */
typedef struct fc_sha256 {
    uint32_t h[8];
    uint64_t bytes;      /* total message length so far */
    uint8_t block[64];   /* pending partial block */
    size_t used;         /* bytes in block */
    void (*blocks)(uint32_t h[8], const uint8_t *p, size_t n); /* SHA-NI or portable, chosen by init */
} fc_sha256;

/* Starts a new digest. Never fails. */
void fc_sha256_init(fc_sha256 *s);
/* Appends n bytes (data may be NULL when n == 0). Never fails. */
void fc_sha256_update(fc_sha256 *s, const void *data, size_t n);
/* Writes the 32-byte digest to out; s must be re-initialised before reuse. Never fails. */
void fc_sha256_final(fc_sha256 *s, uint8_t out[FC_SHA256_SIZE]);
/* One-shot digest of a buffer. Thread-safe. */
void fc_sha256_digest(const void *data, size_t n, uint8_t out[FC_SHA256_SIZE]);

/* Digest of a whole file, read sequentially in 256 KiB chunks (constant memory). size (may be
 * NULL) receives the number of bytes hashed. Errors: FC_EIO when the file cannot be opened, is not
 * a regular file, or a read fails (message: path and strerror); FC_ENOMEM for the chunk buffer;
 * FC_EINVAL for NULL path/out. out is untouched on error. Thread-safe (no shared state). */
int fc_sha256_file(const char *path, uint8_t out[FC_SHA256_SIZE], uint64_t *size, fc_error *err);

/* Writes 2n lowercase hex digits and a NUL to out (room for 2n+1 bytes). Never fails. */
void fc_hex_encode(const uint8_t *in, size_t n, char *out);
/* Parses exactly 2n hex digits (either case) from a NUL-terminated string into out[0..n).
 * FC_EFORMAT when the length differs or a character is not a hex digit (message shows the text);
 * out is untouched on error. Thread-safe. */
int fc_hex_decode(const char *hex, uint8_t *out, size_t n, fc_error *err);

/* CRC-32C (Castagnoli, reflected, init and final xor 0xffffffff) of n bytes, continuing from crc
 * (pass 0 to start): fc_crc32c(fc_crc32c(0, a, na), b, nb) == fc_crc32c(0, ab, na + nb).
 * Check value: "123456789" -> 0xe3069283. Thread-safe. */
uint32_t fc_crc32c(uint32_t crc, const void *data, size_t n);

#endif
