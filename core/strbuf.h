/* Growable string buffer with printf-style appends and JSON string escaping, for building JSON
 * parameters/results and messages. Not a JSON parser. On allocation failure the buffer keeps what
 * fit and `failed` is set; callers check it once at the end. */
#ifndef FC_STRBUF_H
#define FC_STRBUF_H

#include <stddef.h>

typedef struct fc_strbuf {
    char *s;      /* NUL-terminated (never NULL after the first append) */
    size_t len, cap;
    int failed;   /* an allocation failed */
} fc_strbuf;

void fc_strbuf_printf(fc_strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s as a JSON string literal, quotes included. Bytes that are not valid UTF-8 (file names
 * may hold any bytes) become \ufffd, so the output is always valid JSON. */
void fc_strbuf_json(fc_strbuf *b, const char *s);
/* Appends v in the fewest significant digits (6 to 9) that read back as exactly v: a value a
 * reader turns into a pipeline parameter (a crop) must be the one that was used, bit for bit. */
void fc_strbuf_float(fc_strbuf *b, float v);
void fc_strbuf_free(fc_strbuf *b);

/* Length (1-4) of the well-formed UTF-8 sequence starting at s (no overlong forms, surrogates or
 * code points over U+10FFFF), 0 when s[0] does not start one (or is NUL). */
int fc_utf8_len(const char *s);

/* Reads a top-level string or number field of a flat JSON object written by featcache (keys are
 * unique and not nested). Returns 0 when found, -1 otherwise. Strings are unescaped. */
int fc_json_get_string(const char *json, const char *key, char *out, size_t cap);
int fc_json_get_number(const char *json, const char *key, double *out);
/* A field that is an array of strings: *out (*n malloc'd strings in a malloc'd array; free each and
 * the array). Returns 0, or -1 (nothing allocated) when missing or malformed. */
int fc_json_get_strings(const char *json, const char *key, char ***out, int *n);

#endif
