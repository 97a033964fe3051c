/* EXIF orientation: where Pillow 9.4's ImageOps.exif_transpose finds it, and the transform it
 * applies. The tag (0x0112 in IFD0 of a TIFF structure) is read from a JPEG's first "Exif" APP1
 * segment, a PNG's eXIf chunk, a WebP's EXIF chunk (VP8X files) and a TIFF file's own first IFD;
 * GIF and BMP carry none. Every offset is bounds-checked (fuzzed through fc_image_decode): a
 * malformed structure reads as orientation 1. Not read, unlike Pillow: an orientation given only
 * in XMP or in a PNG "Raw profile type exif" text chunk. */
#include <stdlib.h>
#include <string.h>

#include "extract/image_formats.h"

static uint32_t rd(const uint8_t *p, int n, int big) {
    uint32_t v = 0;
    for (int i = 0; i < n; i++) v |= (uint32_t)p[big ? i : n - 1 - i] << (8 * (n - 1 - i));
    return v;
}

/* Orientation in IFD0 of a TIFF structure (t, n bytes: "II*\0" or "MM\0*" first), or 1. */
static int tiff_orientation(const uint8_t *t, size_t n) {
    if (n < 8 || !((t[0] == 'I' && t[1] == 'I') || (t[0] == 'M' && t[1] == 'M'))) return 1;
    int big = t[0] == 'M';
    if (rd(t + 2, 2, big) != 42) return 1;
    uint32_t ifd = rd(t + 4, 4, big);
    if (ifd > n || n - ifd < 2) return 1;
    uint32_t count = rd(t + ifd, 2, big);
    for (uint32_t i = 0; i < count; i++) {
        size_t e = (size_t)ifd + 2 + (size_t)i * 12;
        if (e + 12 > n) return 1;
        if (rd(t + e, 2, big) != 0x0112) continue;
        uint32_t type = rd(t + e + 2, 2, big), cnt = rd(t + e + 4, 4, big);
        if (cnt != 1) return 1; /* Pillow gets a tuple, which names no transform */
        uint32_t v = type == 3 ? rd(t + e + 8, 2, big) : type == 4 ? rd(t + e + 8, 4, big) : type == 1 ? t[e + 8] : 0;
        return v >= 1 && v <= 8 ? (int)v : 1;
    }
    return 1;
}

/* Payload of an "Exif\0\0"-prefixed block (Pillow strips the prefix when present). */
static int exif_block(const uint8_t *p, size_t n) {
    if (n >= 6 && !memcmp(p, "Exif\0\0", 6)) p += 6, n -= 6;
    return tiff_orientation(p, n);
}

static int jpeg_orientation(const uint8_t *d, size_t n) {
    size_t p = 2;
    while (p + 4 <= n && d[p] == 0xFF) {
        unsigned marker = d[p + 1];
        if (marker == 0xFF) { p++; continue; } /* fill byte */
        if (marker == 0xDA || marker == 0xD9) break; /* scan data: no APPn past here */
        size_t len = rd(d + p + 2, 2, 1);
        if (len < 2 || len > n - p - 2) break;
        /* Pillow keeps the first APP1 that starts "Exif\0" */
        if (marker == 0xE1 && len >= 7 && !memcmp(d + p + 4, "Exif\0", 5)) return exif_block(d + p + 4, len - 2);
        p += 2 + len;
    }
    return 1;
}

static int png_orientation(const uint8_t *d, size_t n) {
    for (size_t p = 8; p + 8 <= n;) {
        size_t len = rd(d + p, 4, 1);
        if (len > n - p - 8) break;
        if (!memcmp(d + p + 4, "eXIf", 4)) return exif_block(d + p + 8, len);
        if (!memcmp(d + p + 4, "IEND", 4)) break;
        if (len > n - p - 12) break;
        p += 12 + len;
    }
    return 1;
}

static int webp_orientation(const uint8_t *d, size_t n) {
    for (size_t p = 12; p + 8 <= n;) { /* RIFF chunks: fourcc, little-endian size, data padded to even */
        size_t len = rd(d + p + 4, 4, 0);
        if (len > n - p - 8) break;
        if (!memcmp(d + p, "EXIF", 4)) return exif_block(d + p + 8, len);
        p += 8 + len + (len & 1);
    }
    return 1;
}

int fc_image_exif_orientation(const uint8_t *d, size_t n) {
    if (n >= 3 && !memcmp(d, "\xff\xd8\xff", 3)) return jpeg_orientation(d, n);
    if (n >= 8 && !memcmp(d, "\x89PNG\r\n\x1a\n", 8)) return png_orientation(d, n);
    if (n >= 12 && !memcmp(d, "RIFF", 4) && !memcmp(d + 8, "WEBP", 4)) return webp_orientation(d, n);
    if (n >= 4 && (!memcmp(d, "II*\0", 4) || !memcmp(d, "MM\0*", 4))) return tiff_orientation(d, n);
    return 1;
}

int fc_image_orient(fc_image *img, int orientation, fc_error *err) {
    if (orientation < 2 || orientation > 8) return 0;
    int w = img->width, h = img->height, swap = orientation >= 5;
    int ow = swap ? h : w, oh = swap ? w : h;
    uint8_t *out = malloc((size_t)w * h * 3);
    if (!out) return fc_fail(err, FC_ENOMEM, "out of memory turning a %dx%d image", w, h);
    /* out(x, y) = in(sx, sy): Pillow's transpose methods for orientations 2..8 */
    for (int y = 0; y < oh; y++)
        for (int x = 0; x < ow; x++) {
            int sx, sy;
            switch (orientation) {
            case 2: sx = w - 1 - x, sy = y; break;             /* FLIP_LEFT_RIGHT */
            case 3: sx = w - 1 - x, sy = h - 1 - y; break;     /* ROTATE_180 */
            case 4: sx = x, sy = h - 1 - y; break;             /* FLIP_TOP_BOTTOM */
            case 5: sx = y, sy = x; break;                     /* TRANSPOSE */
            case 6: sx = y, sy = h - 1 - x; break;             /* ROTATE_270 (90 clockwise) */
            case 7: sx = w - 1 - y, sy = h - 1 - x; break;     /* TRANSVERSE */
            default: sx = w - 1 - y, sy = x; break;            /* 8: ROTATE_90 (counter-clockwise) */
            }
            memcpy(out + ((size_t)y * ow + x) * 3, img->rgb + ((size_t)sy * w + sx) * 3, 3);
        }
    free(img->rgb);
    img->rgb = out;
    img->width = ow;
    img->height = oh;
    return 0;
}
