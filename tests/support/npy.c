/* .npy float32 reader and vector comparison helpers for tests (see npy.h). */
#include "tests/support/npy.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int npy_read(const char *path, npy_array *out, char *msg) {
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f) { snprintf(msg, 256, "%s: cannot open", path); return -1; }
    unsigned char pre[10];
    if (fread(pre, 1, 10, f) != 10 || memcmp(pre, "\x93NUMPY", 6) != 0) {
        snprintf(msg, 256, "%s: not an .npy file", path); fclose(f); return -1;
    }
    size_t hlen = pre[8] | (pre[9] << 8);
    if (pre[6] >= 2) { /* version 2+: 4-byte header length */
        unsigned char ext[2];
        if (fread(ext, 1, 2, f) != 2) { fclose(f); snprintf(msg, 256, "%s: truncated", path); return -1; }
        hlen |= (size_t)ext[0] << 16 | (size_t)ext[1] << 24;
    }
    char *hdr = calloc(1, hlen + 1);
    if (!hdr || fread(hdr, 1, hlen, f) != hlen) {
        free(hdr); fclose(f); snprintf(msg, 256, "%s: truncated header", path); return -1;
    }
    if (!strstr(hdr, "'<f4'") || strstr(hdr, "'fortran_order': True")) {
        snprintf(msg, 256, "%s: only little-endian float32 C-order arrays are supported", path);
        free(hdr); fclose(f); return -1;
    }
    char *s = strstr(hdr, "'shape': (");
    if (!s) { free(hdr); fclose(f); snprintf(msg, 256, "%s: no shape", path); return -1; }
    s += 10;
    out->count = 1;
    while (*s && *s != ')') {
        while (*s == ' ' || *s == ',') s++;
        if (*s == ')') break;
        if (out->rank == 8) break;
        long long d = strtoll(s, &s, 10);
        out->dims[out->rank++] = d;
        out->count *= d;
    }
    free(hdr);
    out->data = malloc((size_t)out->count * sizeof(float) + 1);
    if (!out->data || fread(out->data, sizeof(float), (size_t)out->count, f) != (size_t)out->count) {
        snprintf(msg, 256, "%s: truncated data", path);
        fclose(f); npy_free(out); return -1;
    }
    fclose(f);
    return 0;
}

void npy_free(npy_array *a) { free(a->data); memset(a, 0, sizeof *a); }

double npy_max_abs_diff(const float *a, const float *b, int64_t n) {
    double m = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (d > m || isnan(d)) m = isnan(d) ? INFINITY : d;
    }
    return m;
}

double npy_max_abs(const float *a, int64_t n) {
    double m = 0;
    for (int64_t i = 0; i < n; i++) m = fmax(m, fabs(a[i]));
    return m;
}

double npy_cosine(const float *a, const float *b, int64_t n) {
    double ab = 0, aa = 0, bb = 0;
    for (int64_t i = 0; i < n; i++) { ab += (double)a[i] * b[i]; aa += (double)a[i] * a[i]; bb += (double)b[i] * b[i]; }
    return aa > 0 && bb > 0 ? ab / sqrt(aa * bb) : (aa == bb ? 1.0 : 0.0);
}
