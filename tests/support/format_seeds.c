/* fc_test_write_format_seeds and friends (see format_seeds.h). */
#include "tests/support/format_seeds.h"

#include <gif_lib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tiffio.h>
#include <webp/encode.h>

const char *const fc_test_format_seed_names[] = {
    "interlaced_trns.gif", "offset_local.gif", "lossless_alpha.webp", "lossy.webp", "rgb24.bmp", "pal8.bmp",
    "rle8.bmp", "rgb565.bmp", "rgb_lzw.tif", "tiled.tif", "gray16.tif", "pal4.tif", "cmyk.tif", "bw.tif", NULL};

static unsigned char pattern(int x, int y, int c) { return (unsigned char)(x * 16 + y * 7 + c * 85); }

static int write_file(const char *dir, const char *name, const void *p, size_t n) {
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    int ok = f && fwrite(p, 1, n, f) == n;
    if (f && fclose(f) != 0) ok = 0;
    return ok ? 0 : 1;
}

/* (offset x, y) frame of fw x fh inside a sw x sh screen; local colour table and a transparent
 * index when asked. */
static int gif(const char *dir, const char *name, int sw, int sh, int x0, int y0, int fw, int fh, int interlace,
               int local) {
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int err = 0, rc = 1;
    GifFileType *g = EGifOpenFileName(path, false, &err);
    ColorMapObject *map = GifMakeMapObject(8, NULL);
    if (!g || !map) goto done;
    for (int i = 0; i < 8; i++) map->Colors[i] = (GifColorType){(GifByteType)(i * 30), (GifByteType)(255 - i * 20), (GifByteType)(i * 7)};
    EGifSetGifVersion(g, true);
    const unsigned char gce[4] = {1, 0, 0, 3}; /* transparent index 3 */
    GifPixelType row[64];
    if (EGifPutScreenDesc(g, sw, sh, 8, 0, local ? NULL : map) == GIF_ERROR ||
        EGifPutExtension(g, GRAPHICS_EXT_FUNC_CODE, 4, gce) == GIF_ERROR ||
        EGifPutImageDesc(g, x0, y0, fw, fh, interlace, local ? map : NULL) == GIF_ERROR)
        goto done;
    for (int y = 0; y < fh; y++) {
        for (int x = 0; x < fw && x < 64; x++) row[x] = (GifPixelType)((x + 2 * y) % 8);
        if (EGifPutLine(g, row, fw) == GIF_ERROR) goto done;
    }
    rc = 0;
done:
    if (g && EGifCloseFile(g, &err) == GIF_ERROR) rc = 1;
    GifFreeMapObject(map);
    return rc;
}

static int webp(const char *dir, const char *name, int lossless) {
    enum { W = 11, H = 6 };
    unsigned char px[W * H * 4], *out = NULL;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            for (int c = 0; c < 4; c++) px[(y * W + x) * 4 + c] = pattern(x, y, c);
    size_t n = lossless ? WebPEncodeLosslessRGBA(px, W, H, W * 4, &out) : WebPEncodeRGB(px, W, H, W * 4, 75, &out);
    int rc = n ? write_file(dir, name, out, n) : 1;
    WebPFree(out);
    return rc;
}

static void put16(unsigned char *p, unsigned v) { p[0] = (unsigned char)v, p[1] = (unsigned char)(v >> 8); }
static void put32(unsigned char *p, unsigned v) { put16(p, v & 0xFFFF), put16(p + 2, v >> 16); }

/* BMP with a 40-byte header: pixels are the raster as stored, masks (3) and palette follow the
 * header. */
static int bmp(const char *dir, const char *name, int w, int h, int bits, int comp, const unsigned *masks,
               int colors, const unsigned char *px, size_t npx) {
    unsigned char b[4096] = {0};
    size_t head = 14 + 40 + (masks ? 12 : 0) + (size_t)colors * 4;
    if (head + npx > sizeof b) return 1;
    b[0] = 'B', b[1] = 'M';
    put32(b + 2, (unsigned)(head + npx)), put32(b + 10, (unsigned)head);
    put32(b + 14, 40), put32(b + 18, (unsigned)w), put32(b + 22, (unsigned)h), put16(b + 26, 1), put16(b + 28, (unsigned)bits);
    put32(b + 30, (unsigned)comp), put32(b + 34, (unsigned)npx), put32(b + 46, (unsigned)colors);
    unsigned char *p = b + 54;
    for (int i = 0; masks && i < 3; i++, p += 4) put32(p, masks[i]);
    for (int i = 0; i < colors; i++, p += 4) p[0] = (unsigned char)(i * 3), p[1] = (unsigned char)(i * 5), p[2] = (unsigned char)(255 - i);
    memcpy(p, px, npx);
    return write_file(dir, name, b, head + npx);
}

static int bmps(const char *dir) {
    unsigned char px[512];
    int rc = 0;
    for (size_t i = 0; i < sizeof px; i++) px[i] = (unsigned char)(i * 37 + 11);
    rc += bmp(dir, "rgb24.bmp", 5, 3, 24, 0, NULL, 0, px, 3 * 16);          /* rows of 15 + 1 padding */
    rc += bmp(dir, "pal8.bmp", 6, 4, 8, 0, NULL, 16, px, 4 * 8);            /* indices past the palette too */
    static const unsigned m565[3] = {0xF800, 0x7E0, 0x1F};
    rc += bmp(dir, "rgb565.bmp", 4, 2, 16, 3, m565, 0, px, 2 * 8);
    static const unsigned char rle[] = {3, 7, 0, 3, 1, 2, 3, 0, 0, 0, 2, 1, 0, 4, 9, 8, 7, 6, 0, 0, 0, 1};
    rc += bmp(dir, "rle8.bmp", 6, 2, 8, 1, NULL, 16, rle, sizeof rle);
    return rc;
}


/* libtiff writer for the TIFF seeds: photometric, samples, bits, compression, tiles (0 = strips). */
static int tiff(const char *path, int w, int h, int photo, int spp, int bps, int comp, int tile) {
    TIFF *t = TIFFOpen(path, "w");
    if (!t) return 1;
    TIFFSetField(t, TIFFTAG_IMAGEWIDTH, w);
    TIFFSetField(t, TIFFTAG_IMAGELENGTH, h);
    TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, spp);
    TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, bps);
    TIFFSetField(t, TIFFTAG_PHOTOMETRIC, photo);
    TIFFSetField(t, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG);
    TIFFSetField(t, TIFFTAG_COMPRESSION, comp);
    if (photo == PHOTOMETRIC_PALETTE) {
        uint16_t map[3][256];
        for (int i = 0; i < 256; i++) map[0][i] = (uint16_t)(i * 4111), map[1][i] = (uint16_t)(65535 - i * 999), map[2][i] = (uint16_t)(i * 77);
        TIFFSetField(t, TIFFTAG_COLORMAP, map[0], map[1], map[2]);
    }
    size_t row = ((size_t)w * spp * bps + 7) / 8, n = tile ? (size_t)tile * tile * spp * bps / 8 : row;
    unsigned char *buf = calloc(1, n + (size_t)w * spp * 2);
    int rc = buf ? 0 : 1;
    if (tile) {
        TIFFSetField(t, TIFFTAG_TILEWIDTH, tile);
        TIFFSetField(t, TIFFTAG_TILELENGTH, tile);
        for (int ty = 0; rc == 0 && ty < h; ty += tile)
            for (int tx = 0; rc == 0 && tx < w; tx += tile) {
                for (int y = 0; y < tile; y++)
                    for (int x = 0; x < tile; x++)
                        for (int c = 0; c < spp; c++)
                            buf[((size_t)y * tile + x) * spp + c] = tx + x < w && ty + y < h ? pattern(tx + x, ty + y, c) : 0;
                if (TIFFWriteTile(t, buf, (uint32_t)tx, (uint32_t)ty, 0, 0) < 0) rc = 1;
            }
    } else {
        TIFFSetField(t, TIFFTAG_ROWSPERSTRIP, 2);
        for (int y = 0; rc == 0 && y < h; y++) {
            if (bps == 8)
                for (int x = 0; x < w; x++)
                    for (int c = 0; c < spp; c++) buf[(size_t)x * spp + c] = pattern(x, y, c);
            else
                for (size_t i = 0; i < row; i++) buf[i] = (unsigned char)(i * 29 + (size_t)y * 3);
            if (TIFFWriteScanline(t, buf, (uint32_t)y, 0) < 0) rc = 1;
        }
    }
    free(buf);
    TIFFClose(t);
    return rc;
}

static int tiffs(const char *dir) {
    static const struct { const char *name; int photo, spp, bps, comp, tile; } t[] = {
        {"rgb_lzw.tif", PHOTOMETRIC_RGB, 3, 8, COMPRESSION_LZW, 0}, {"tiled.tif", PHOTOMETRIC_RGB, 3, 8, COMPRESSION_NONE, 16},
        {"gray16.tif", PHOTOMETRIC_MINISBLACK, 1, 16, COMPRESSION_NONE, 0}, {"pal4.tif", PHOTOMETRIC_PALETTE, 1, 4, COMPRESSION_PACKBITS, 0},
        {"cmyk.tif", PHOTOMETRIC_SEPARATED, 4, 8, COMPRESSION_ADOBE_DEFLATE, 0}, {"bw.tif", PHOTOMETRIC_MINISWHITE, 1, 1, COMPRESSION_NONE, 0}};
    int rc = 0;
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", dir, t[i].name);
        rc += tiff(path, 19, 9, t[i].photo, t[i].spp, t[i].bps, t[i].comp, t[i].tile);
    }
    return rc;
}

int fc_test_write_format_seeds(const char *dir) {
    return gif(dir, "interlaced_trns.gif", 12, 10, 0, 0, 12, 10, 1, 0) + gif(dir, "offset_local.gif", 9, 7, 3, 2, 8, 6, 0, 1) +
           webp(dir, "lossless_alpha.webp", 1) + webp(dir, "lossy.webp", 0) + bmps(dir) + tiffs(dir);
}
