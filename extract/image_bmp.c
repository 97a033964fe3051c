/* BMP decoder (own code: the format is a header and a raster), following Pillow 9.4's
 * BmpImagePlugin case by case so that convert("RGB") gives the same bytes: core (12-byte) and
 * 40/64/108/124-byte headers; 1/4/8-bit palettes (an index past the palette reads as gray i, as
 * Pillow's palette starts as a gray ramp), 16-bit 5-5-5 and 5-6-5 (scaled v*255/31, v*255/63),
 * 24-bit, 32-bit with the byte-aligned masks Pillow knows (alpha dropped), RLE8 and RLE4 (Pillow's
 * decoder, quirks included), bottom-up and top-down rasters. Refused with the reason: other header
 * sizes, depths, compressions (JPEG/PNG inside BMP) and bit-field layouts, and truncated data.
 * Deliberate difference: a 4-bit file with a gray-ramp palette is decoded by its indices
 * (Pillow 9.4 reads it as 8-bit, a bug). Not here: ICO/CUR containers. */
#include <stdlib.h>
#include <string.h>

#include "extract/image_formats.h"

enum { RAW = 0, RLE8 = 1, RLE4 = 2, BITFIELDS = 3 };

typedef struct bmp {
    const uint8_t *data;
    size_t size;
    long long width, height;
    int bits, compression, top_down;
    uint32_t mask[4];      /* r, g, b, a (bit fields only) */
    uint8_t pal[256][3];   /* RGB */
    size_t offset;         /* raster start */
} bmp;

static uint32_t u16le(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static uint32_t u32le(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Palette of `colors` entries of `pad` bytes (B, G, R[, 0]) at `pos`; the rest a gray ramp. */
static int read_palette(bmp *b, size_t pos, uint64_t colors, int pad, const char *name, fc_error *err) {
    if (colors == 0 || colors > 65536)
        return fc_fail(err, FC_EUNSUPPORTED, "%s: unsupported BMP palette size (%llu)", name,
                       (unsigned long long)colors);
    for (int i = 0; i < 256; i++) b->pal[i][0] = b->pal[i][1] = b->pal[i][2] = (uint8_t)i;
    uint64_t n = colors < 256 ? colors : 256;
    if (pos > b->size || (b->size - pos) / (size_t)pad < n)
        return fc_fail(err, FC_EFORMAT, "%s: corrupt BMP: the palette is cut off", name);
    for (uint64_t i = 0; i < n; i++) {
        const uint8_t *p = b->data + pos + i * (size_t)pad;
        b->pal[i][0] = p[2];
        b->pal[i][1] = p[1];
        b->pal[i][2] = p[0];
    }
    return 0;
}

/* 32-bit masks Pillow accepts (its MASK_MODES); 16/24-bit ones are checked by the caller. */
static int masks_supported(const bmp *b) {
    static const uint32_t ok32[][4] = {{0xFF0000, 0xFF00, 0xFF, 0}, {0xFF000000, 0xFF0000, 0xFF00, 0},
                                       {0xFF000000, 0xFF0000, 0xFF00, 0xFF}, {0xFF, 0xFF00, 0xFF0000, 0xFF000000},
                                       {0xFF0000, 0xFF00, 0xFF, 0xFF000000}, {0, 0, 0, 0}};
    const uint32_t *m = b->mask;
    if (b->bits == 32) {
        for (size_t i = 0; i < sizeof ok32 / sizeof ok32[0]; i++)
            if (!memcmp(m, ok32[i], sizeof ok32[i])) return 1;
        return 0;
    }
    if (b->bits == 24) return m[0] == 0xFF0000 && m[1] == 0xFF00 && m[2] == 0xFF;
    if (b->bits == 16) return (m[0] == 0xF800 && m[1] == 0x7E0 && m[2] == 0x1F) || (m[0] == 0x7C00 && m[1] == 0x3E0 && m[2] == 0x1F);
    return 0;
}

/* Header, masks and palette -> b. */
static int parse_header(bmp *b, const char *name, fc_error *err) {
    if (b->size < 18) return fc_fail(err, FC_EFORMAT, "%s: corrupt BMP: the header is cut off", name);
    uint32_t offset = u32le(b->data + 10), hsize = u32le(b->data + 14);
    if (hsize != 12 && hsize != 40 && hsize != 64 && hsize != 108 && hsize != 124)
        return fc_fail(err, FC_EUNSUPPORTED, "%s: unsupported BMP header type (%u bytes)", name, hsize);
    if (b->size < 14 + (size_t)hsize) return fc_fail(err, FC_EFORMAT, "%s: corrupt BMP: the header is cut off", name);
    const uint8_t *h = b->data + 18; /* the header after its size field */
    size_t pos = 14 + hsize;         /* palette (and 40-byte headers' masks) follow the header */
    uint64_t colors = 0;
    int pad = 4;
    if (hsize == 12) {
        b->width = u16le(h);
        b->height = u16le(h + 2);
        b->bits = (int)u16le(h + 6);
        pad = 3;
    } else {
        b->top_down = h[7] == 0xFF;
        b->width = u32le(h);
        b->height = b->top_down ? (long long)(0x100000000ULL - u32le(h + 4)) : (long long)u32le(h + 4);
        b->bits = (int)u16le(h + 10);
        b->compression = (int)u32le(h + 12);
        colors = u32le(h + 28);
        if (b->compression == BITFIELDS) {
            if (hsize >= 56) {
                for (int i = 0; i < 4; i++) b->mask[i] = u32le(h + 36 + 4 * i);
            } else {
                if (b->size < pos + 12) return fc_fail(err, FC_EFORMAT, "%s: corrupt BMP: the bit masks are cut off", name);
                for (int i = 0; i < 3; i++) b->mask[i] = u32le(b->data + pos + 4 * i);
                pos += 12;
            }
        }
    }
    if (colors == 0) colors = b->bits < 64 ? 1ULL << b->bits : 0;
    if (offset == 14 + hsize && b->bits <= 8) offset += (uint32_t)(4 * colors);
    b->offset = offset;
    if (b->bits != 1 && b->bits != 4 && b->bits != 8 && b->bits != 16 && b->bits != 24 && b->bits != 32)
        return fc_fail(err, FC_EUNSUPPORTED, "%s: unsupported BMP pixel depth (%d bits)", name, b->bits);
    if (b->compression == BITFIELDS && !masks_supported(b))
        return fc_fail(err, FC_EUNSUPPORTED, "%s: unsupported BMP bit-field layout (%d bits)", name, b->bits);
    if ((b->compression == RLE8 && b->bits != 8) || (b->compression == RLE4 && b->bits != 4) ||
        b->compression > BITFIELDS)
        return fc_fail(err, FC_EUNSUPPORTED, "%s: unsupported BMP compression (%d with %d bits)", name,
                       b->compression, b->bits);
    if (b->bits <= 8) return read_palette(b, pos, colors, pad, name, err);
    return 0;
}

/* Pillow's BmpRleDecoder: a stream of palette indices, row after row from the first row stored.
 * Returns 0, or FC_EFORMAT when the data ends before width*height indices (Pillow: "not enough
 * image data") or inside a delta record. */
static int rle_indices(const bmp *b, uint8_t *idx, const char *name, fc_error *err) {
    const size_t total = (size_t)(b->width * b->height), w = (size_t)b->width;
    const uint8_t *d = b->data;
    size_t p = b->offset, n = 0, x = 0;
    int rle4 = b->compression == RLE4;
#define PUT(v) do { if (n < total) idx[n] = (uint8_t)(v); n++; } while (0)
    while (n < total && p + 2 <= b->size) {
        unsigned count = d[p], byte = d[p + 1];
        p += 2;
        if (count) { /* encoded run, clipped to the row */
            if (x + count > w) count = x < w ? (unsigned)(w - x) : 0;
            for (unsigned i = 0; i < count; i++) PUT(rle4 ? (i % 2 ? byte & 15 : byte >> 4) : byte);
            x += count;
        } else if (byte == 0) { /* end of line */
            while (n % w) PUT(0);
            x = 0;
        } else if (byte == 1) { /* end of bitmap */
            break;
        } else if (byte == 2) { /* delta: Pillow reads two bytes, then uses the next two */
            if (p + 4 > b->size)
                return fc_fail(err, FC_EFORMAT, "%s: corrupt BMP: RLE delta record cut off", name);
            size_t skip = d[p + 2] + (size_t)d[p + 3] * w;
            p += 4;
            for (size_t i = 0; i < skip && n < total; i++) PUT(0);
            x = n % w;
        } else { /* absolute run of `byte` pixels, padded to an even file offset */
            size_t nbytes = rle4 ? byte / 2 : byte, got = b->size - p < nbytes ? b->size - p : nbytes;
            for (size_t i = 0; i < got; i++) {
                if (rle4) {
                    PUT(d[p + i] >> 4);
                    PUT(d[p + i] & 15);
                } else {
                    PUT(d[p + i]);
                }
            }
            p += got;
            if (got < nbytes) break;
            x += byte;
            if (p % 2) p++;
        }
    }
#undef PUT
    if (n < total) return fc_fail(err, FC_EFORMAT, "%s: corrupt BMP: RLE data ends before the image is complete", name);
    return 0;
}

/* One stored row -> RGB. */
static void convert_row(const bmp *b, const uint8_t *s, uint8_t *o) {
    int shift[3] = {16, 8, 0}; /* byte of R, G, B in a 32-bit little-endian pixel, as bit shifts */
    if (b->bits == 32 && b->compression == BITFIELDS && (b->mask[0] | b->mask[1] | b->mask[2]))
        for (int c = 0; c < 3; c++) shift[c] = __builtin_ctz(b->mask[c]);
    for (long long x = 0; x < b->width; x++, o += 3) {
        if (b->bits <= 8) {
            int per = 8 / b->bits;
            unsigned v = s[x / per] >> (8 - b->bits * (1 + x % per)) & ((1u << b->bits) - 1);
            memcpy(o, b->pal[v], 3);
        } else if (b->bits == 16) {
            unsigned v = u16le(s + 2 * x);
            int g6 = b->compression == BITFIELDS && b->mask[1] == 0x7E0;
            o[0] = (uint8_t)(((v >> (g6 ? 11 : 10)) & 31) * 255 / 31);
            o[1] = (uint8_t)(g6 ? ((v >> 5) & 63) * 255 / 63 : ((v >> 5) & 31) * 255 / 31);
            o[2] = (uint8_t)((v & 31) * 255 / 31);
        } else if (b->bits == 24) {
            o[0] = s[3 * x + 2], o[1] = s[3 * x + 1], o[2] = s[3 * x];
        } else {
            uint32_t v = u32le(s + 4 * x);
            for (int c = 0; c < 3; c++) o[c] = (uint8_t)(v >> shift[c]);
        }
    }
}

int fc_image_decode_bmp(const uint8_t *data, size_t size, const char *name, fc_image *out, fc_error *err) {
    bmp b = {.data = data, .size = size};
    int rc = parse_header(&b, name, err);
    if (rc == 0) rc = fc_image_check_size(b.width, b.height, size, "BMP", name, err);
    if (rc) return rc;
    int w = (int)b.width, h = (int)b.height;
    uint8_t *rgb = NULL, *idx = NULL;
    if (b.compression == RLE8 || b.compression == RLE4) {
        if (!(idx = malloc((size_t)w * h))) return fc_fail(err, FC_ENOMEM, "%s: out of memory for a %dx%d image", name, w, h);
        if ((rc = rle_indices(&b, idx, name, err))) goto fail;
        b.bits = 8; /* rows of indices from here */
    } else {
        size_t stride = (((size_t)w * b.bits + 31) >> 3) & ~(size_t)3;
        if (b.offset > size || (size - b.offset) / stride < (size_t)h) {
            rc = fc_fail(err, FC_EFORMAT, "%s: corrupt BMP: the pixel data is cut off", name);
            goto fail;
        }
    }
    if (!(rgb = fc_image_alloc_rgb(w, h, name, err))) {
        rc = FC_ENOMEM;
        goto fail;
    }
    size_t stride = idx ? (size_t)w : (((size_t)w * b.bits + 31) >> 3) & ~(size_t)3;
    const uint8_t *base = idx ? idx : data + b.offset;
    for (int y = 0; y < h; y++) { /* stored row i is image row i (top-down) or h-1-i */
        int row = b.top_down ? y : h - 1 - y;
        convert_row(&b, base + (size_t)y * stride, rgb + (size_t)row * w * 3);
    }
    out->width = w;
    out->height = h;
    out->rgb = rgb;
    rgb = NULL;
fail:
    free(idx);
    free(rgb);
    return rc;
}
