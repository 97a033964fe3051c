/* fc_thumbnail_png (see thumbnail.h). */
#include "extract/thumbnail.h"

#include <png.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#include "extract/image.h"

typedef struct membuf {
    uint8_t *data;
    size_t size, cap;
    int failed;
} membuf;

static void write_mem(png_structp png, png_bytep data, png_size_t n) {
    membuf *b = png_get_io_ptr(png);
    if (b->failed) return;
    if (b->size + n > b->cap) {
        size_t cap = (b->cap ? b->cap : 4096);
        while (cap < b->size + n) cap *= 2;
        uint8_t *d = realloc(b->data, cap);
        if (!d) { b->failed = 1; return; }
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->size, data, n);
    b->size += n;
}

static void flush_mem(png_structp png) { (void)png; }
static void quiet(png_structp png, png_const_charp msg) { (void)msg; png_longjmp(png, 1); }
static void quiet_warning(png_structp png, png_const_charp msg) { (void)png; (void)msg; }

int fc_thumbnail_png(const char *path, int max_side, uint8_t **png_out, size_t *size, fc_error *err) {
    *png_out = NULL;
    *size = 0;
    fc_image img;
    int rc = fc_image_load(path, max_side, max_side, FC_EXIF_APPLY, &img, err);
    if (rc) return rc;
    int long_side = img.width > img.height ? img.width : img.height;
    int tw = img.width, th = img.height;
    if (long_side > max_side) {
        tw = (int)((long long)img.width * max_side / long_side);
        th = (int)((long long)img.height * max_side / long_side);
        if (tw < 1) tw = 1;
        if (th < 1) th = 1;
    }
    uint8_t *t = malloc((size_t)tw * th * 3);
    png_bytep *rows = malloc((size_t)th * sizeof *rows);
    membuf b = {0};
    png_structp png = NULL;
    png_infop info = NULL;
    if (!t || !rows) { rc = fc_fail(err, FC_ENOMEM, "out of memory"); goto out; }
    for (int y = 0; y < th; y++) /* box filter over the source rectangle of each thumbnail pixel */
        for (int x = 0; x < tw; x++) {
            int x0 = (int)((long long)x * img.width / tw), x1 = (int)((long long)(x + 1) * img.width / tw);
            int y0 = (int)((long long)y * img.height / th), y1 = (int)((long long)(y + 1) * img.height / th);
            if (x1 <= x0) x1 = x0 + 1;
            if (y1 <= y0) y1 = y0 + 1;
            unsigned sum[3] = {0, 0, 0}, cnt = 0;
            for (int sy = y0; sy < y1; sy++)
                for (int sx = x0; sx < x1; sx++, cnt++)
                    for (int c = 0; c < 3; c++) sum[c] += img.rgb[((size_t)sy * img.width + sx) * 3 + c];
            for (int c = 0; c < 3; c++) t[((size_t)y * tw + x) * 3 + c] = (uint8_t)((sum[c] + cnt / 2) / cnt);
        }
    png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, quiet, quiet_warning);
    info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info) { rc = fc_fail(err, FC_ENOMEM, "out of memory"); goto out; }
    if (setjmp(png_jmpbuf(png))) { rc = fc_fail(err, FC_EIO, "%s: PNG encoding failed", path); goto out; }
    png_set_write_fn(png, &b, write_mem, flush_mem);
    png_set_IHDR(png, info, (png_uint_32)tw, (png_uint_32)th, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    for (int y = 0; y < th; y++) rows[y] = t + (size_t)y * tw * 3;
    png_write_info(png, info);
    png_write_image(png, rows);
    png_write_end(png, info);
    if (b.failed) { rc = fc_fail(err, FC_ENOMEM, "out of memory"); goto out; }
    *png_out = b.data;
    *size = b.size;
    b.data = NULL;
out:
    if (png) png_destroy_write_struct(&png, info ? &info : NULL);
    free(b.data);
    free(t);
    free(rows);
    fc_image_free(&img);
    return rc;
}
