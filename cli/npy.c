/* cli_npy_write (see npy.h): magic, version 1.0, a header dict padded with spaces to a multiple of 64
 * bytes ending in a newline, then the raw little-endian data. */
#include "cli/npy.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int cli_npy_write(const char *path, const char *descr, size_t elem_size, int rank, const int64_t *dims,
                  const void *data, fc_error *err) {
    char tmp[4200], shape[256] = "", header[400];
    size_t count = 1, sl = 0;
    for (int i = 0; i < rank; i++) {
        sl += (size_t)snprintf(shape + sl, sizeof shape - sl, "%lld,%s", (long long)dims[i], i + 1 < rank ? " " : "");
        count *= (size_t)dims[i];
        if (sl >= sizeof shape) return fc_fail(err, FC_EINVAL, "%s: too many dimensions", path);
    }
    if (rank > 1) shape[sl - 1] = 0; /* (3,) for one dimension, (3, 4) for more */
    int hl = snprintf(header, sizeof header, "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }", descr, shape);
    int pad = (64 - (10 + hl + 1) % 64) % 64;
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) return fc_fail(err, FC_EIO, "%s: %s", tmp, strerror(errno));
    unsigned short hlen = (unsigned short)(hl + pad + 1);
    fwrite("\x93NUMPY\x01\x00", 1, 8, f);
    fputc(hlen & 0xff, f);
    fputc(hlen >> 8, f);
    fwrite(header, 1, (size_t)hl, f);
    for (int i = 0; i < pad; i++) fputc(' ', f);
    fputc('\n', f);
    size_t w = count ? fwrite(data, elem_size, count, f) : 0;
    int failed = ferror(f);
    if (fclose(f) != 0 || failed || w != count || rename(tmp, path) != 0) {
        int e = errno;
        remove(tmp);
        return fc_fail(err, FC_EIO, "%s: write failed: %s", path, strerror(e));
    }
    return 0;
}
