/* fc_strbuf implementation (see strbuf.h). */
#include "core/strbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

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

void fc_strbuf_json(fc_strbuf *b, const char *s) {
    fc_strbuf_printf(b, "\"");
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') fc_strbuf_printf(b, "\\%c", c);
        else if (c == '\n') fc_strbuf_printf(b, "\\n");
        else if (c < 0x20) fc_strbuf_printf(b, "\\u%04x", c);
        else fc_strbuf_printf(b, "%c", c);
    }
    fc_strbuf_printf(b, "\"");
}

void fc_strbuf_free(fc_strbuf *b) {
    free(b->s);
    b->s = NULL;
    b->len = b->cap = 0;
}
