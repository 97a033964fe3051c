/* fc_strbuf implementation (see strbuf.h). */
#include "core/strbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int reserve(fc_strbuf *b, size_t extra) {
    if (b->failed) return -1;
    if (b->len + extra + 1 <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1) cap *= 2;
    char *s = realloc(b->s, cap);
    if (!s) { b->failed = 1; return -1; }
    b->s = s;
    b->cap = cap;
    return 0;
}

void fc_strbuf_printf(fc_strbuf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || reserve(b, (size_t)n) != 0) return;
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

int fc_utf8_len(const char *s) {
    const unsigned char *u = (const unsigned char *)s;
    if (u[0] == 0) return 0;
    if (u[0] < 0x80) return 1;
    int n = u[0] >= 0xC2 && u[0] <= 0xDF ? 2 : u[0] >= 0xE0 && u[0] <= 0xEF ? 3 : u[0] >= 0xF0 && u[0] <= 0xF4 ? 4 : 0;
    for (int i = 1; i < n; i++)
        if ((u[i] & 0xC0) != 0x80) return 0;
    if (n == 3 && ((u[0] == 0xE0 && u[1] < 0xA0) || (u[0] == 0xED && u[1] >= 0xA0))) return 0; /* overlong, surrogate */
    if (n == 4 && ((u[0] == 0xF0 && u[1] < 0x90) || (u[0] == 0xF4 && u[1] >= 0x90))) return 0; /* overlong, > U+10FFFF */
    return n;
}

void fc_strbuf_json(fc_strbuf *b, const char *s) {
    fc_strbuf_printf(b, "\"");
    while (s && *s) {
        unsigned char c = (unsigned char)*s;
        int n = fc_utf8_len(s);
        if (n == 0) fc_strbuf_printf(b, "\\ufffd");
        else if (n > 1) fc_strbuf_printf(b, "%.*s", n, s);
        else if (c == '"' || c == '\\') fc_strbuf_printf(b, "\\%c", c);
        else if (c == '\n') fc_strbuf_printf(b, "\\n");
        else if (c < 0x20) fc_strbuf_printf(b, "\\u%04x", c);
        else fc_strbuf_printf(b, "%c", c);
        s += n ? n : 1;
    }
    fc_strbuf_printf(b, "\"");
}

void fc_strbuf_float(fc_strbuf *b, float v) {
    char s[32];
    for (int digits = 6; digits <= 9; digits++) { /* 9 always reads back (FLT_DECIMAL_DIG) */
        snprintf(s, sizeof s, "%.*g", digits, (double)v);
        if (strtof(s, NULL) == v) break;
    }
    fc_strbuf_printf(b, "%s", s);
}

void fc_strbuf_free(fc_strbuf *b) {
    free(b->s);
    b->s = NULL;
    b->len = b->cap = 0;
}

/* Position just after `"key":` (skipping spaces), or NULL. */
static const char *json_field(const char *json, const char *key) {
    size_t n = strlen(key);
    for (const char *p = json; p && (p = strchr(p, '"'));) {
        if (!strncmp(p + 1, key, n) && p[n + 1] == '"') {
            const char *q = p + n + 2;
            while (*q == ' ') q++;
            if (*q == ':') {
                q++;
                while (*q == ' ') q++;
                return q;
            }
        }
        p++;
    }
    return NULL;
}

/* Copies the JSON string starting after its opening quote at p into out (cap bytes, truncated,
 * unescaped); returns the closing quote's position, or NULL when the string does not end. */
static const char *unescape(const char *p, char *out, size_t cap) {
    size_t k = 0;
    for (; *p && *p != '"'; p++) {
        char c = *p;
        if (c == '\\' && p[1]) {
            p++;
            c = *p == 'n' ? '\n' : *p == 't' ? '\t' : *p;
            if (*p == 'u' && p[1] && p[2] && p[3] && p[4]) { c = (char)strtol((char[]){p[3], p[4], 0}, NULL, 16); p += 4; }
        }
        if (k + 1 < cap) out[k++] = c;
    }
    out[k] = 0;
    return *p == '"' ? p : NULL;
}

int fc_json_get_string(const char *json, const char *key, char *out, size_t cap) {
    const char *p = json ? json_field(json, key) : NULL;
    if (!p || *p != '"' || cap == 0) return -1;
    return unescape(p + 1, out, cap) ? 0 : -1;
}

int fc_json_get_strings(const char *json, const char *key, char ***out, int *n) {
    const char *p = json ? json_field(json, key) : NULL;
    *out = NULL;
    *n = 0;
    if (!p || *p != '[') return -1;
    size_t cap = strlen(p) + 1;
    char **names = calloc(cap / 2 + 1, sizeof *names);
    if (!names) return -1;
    for (p++; *p == ' ' || *p == ','; p++) {}
    while (*p == '"') {
        names[*n] = malloc(cap);
        if (!names[*n] || !(p = unescape(p + 1, names[*n], cap))) { (*n)++; goto bad; }
        (*n)++;
        for (p++; *p == ' ' || *p == ','; p++) {}
    }
    if (*p != ']') goto bad;
    *out = names;
    return 0;
bad:
    for (int i = 0; i < *n; i++) free(names[i]);
    free(names);
    *n = 0;
    return -1;
}

int fc_json_get_number(const char *json, const char *key, double *out) {
    const char *p = json ? json_field(json, key) : NULL;
    if (!p) return -1;
    char *end;
    double v = strtod(p, &end);
    if (end == p) return -1;
    *out = v;
    return 0;
}
