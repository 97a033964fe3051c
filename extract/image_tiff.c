/* TIFF decoder: libtiff (first page) reads and decompresses the samples; the conversion to RGB is
 * ours, written after Pillow 9.4's TiffImagePlugin modes so convert("RGB") gives the same bytes:
 * gray 1/2/4/8-bit (scaled to 0..255, WhiteIsZero inverted), gray 16-bit clipped to 255 (Pillow's
 * I;16 -> RGB clips), RGB 8-bit and 16-bit (high byte), extra samples (unassociated alpha) dropped,
 * palette 1-8 bit (colour map's high byte), CMYK 8-bit (Pillow's cmyk2rgb), YCbCr only inside JPEG
 * compression (libjpeg converts to RGB, as Pillow asks it to). Stripped and tiled files, contiguous
 * samples (or one sample plane). Handlers are per file (libtiff 4.5's TIFFOpenOptions), so nothing
 * reaches stderr and nothing global changes. Refused with the reason: floating-point or signed
 * samples, associated alpha, planar RGB, other photometric interpretations. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tiffio.h>

#include "extract/image_formats.h"

typedef struct tiff_src {
    const uint8_t *data;
    size_t size, pos;
    char msg[256]; /* libtiff's first error */
} tiff_src;

static tmsize_t t_read(thandle_t h, void *buf, tmsize_t n) {
    tiff_src *s = h;
    size_t k = n < 0 ? 0 : (size_t)n;
    if (s->pos > s->size) return 0;
    if (k > s->size - s->pos) k = s->size - s->pos;
    memcpy(buf, s->data + s->pos, k);
    s->pos += k;
    return (tmsize_t)k;
}
static tmsize_t t_write(thandle_t h, void *buf, tmsize_t n) { return 0; }
static toff_t t_seek(thandle_t h, toff_t off, int whence) {
    tiff_src *s = h;
    toff_t base = whence == SEEK_CUR ? s->pos : whence == SEEK_END ? s->size : 0;
    if (off > UINT64_MAX / 2 || base + off > (toff_t)SIZE_MAX / 2) return (toff_t)-1;
    s->pos = (size_t)(base + off);
    return s->pos;
}
static int t_close(thandle_t h) { return 0; }
static toff_t t_size(thandle_t h) { return ((tiff_src *)h)->size; }
static int t_on_error(TIFF *tif, void *user, const char *module, const char *fmt, va_list ap) {
    tiff_src *s = user;
    if (!s->msg[0]) vsnprintf(s->msg, sizeof s->msg, fmt, ap);
    return 1; /* handled: libtiff's global handler (stderr) is not called */
}
static int t_on_warning(TIFF *tif, void *user, const char *module, const char *fmt, va_list ap) { return 1; }

typedef struct tiff_fmt {
    uint16_t bps, spp, photo, planar, sfmt, extra_n, *extra;
    uint16_t *cmap[3];
    uint32_t w, h;
} tiff_fmt;

/* Which layouts we convert; 0 or FC_EUNSUPPORTED with the reason. */
static int check_fmt(TIFF *tif, tiff_fmt *f, const char *name, fc_error *err) {
    const char *why = NULL;
    int gray = f->photo == PHOTOMETRIC_MINISBLACK || f->photo == PHOTOMETRIC_MINISWHITE;
    if (f->sfmt != SAMPLEFORMAT_UINT) why = "samples that are not unsigned integers";
    else if (f->extra_n && f->extra[0] == EXTRASAMPLE_ASSOCALPHA) why = "associated (premultiplied) alpha";
    else if (f->planar == PLANARCONFIG_SEPARATE && f->spp > 1) why = "separate sample planes";
    else if (gray && !(f->bps >= 1 && f->bps <= 8 && (f->bps & (f->bps - 1)) == 0) && !(f->bps == 16 && f->spp == 1 && f->photo == PHOTOMETRIC_MINISBLACK))
        why = "this gray depth";
    else if (gray && f->spp > 2) why = "gray with several extra samples";
    else if (f->photo == PHOTOMETRIC_RGB && (f->spp < 3 || (f->bps != 8 && f->bps != 16))) why = "this RGB layout";
    else if (f->photo == PHOTOMETRIC_PALETTE && (f->spp != 1 || f->bps < 1 || f->bps > 8 || !f->cmap[0])) why = "this palette layout";
    else if (f->photo == PHOTOMETRIC_SEPARATED && (f->spp != 4 || f->bps != 8)) why = "CMYK other than 4 x 8 bits";
    else if (f->photo == PHOTOMETRIC_YCBCR) {
        uint16_t comp = 0;
        TIFFGetFieldDefaulted(tif, TIFFTAG_COMPRESSION, &comp);
        if (comp != COMPRESSION_JPEG || f->bps != 8) why = "YCbCr outside JPEG compression";
        else if (!TIFFSetField(tif, TIFFTAG_JPEGCOLORMODE, JPEGCOLORMODE_RGB)) why = "YCbCr (cannot convert)";
        else f->photo = PHOTOMETRIC_RGB;
    } else if (!gray && f->photo != PHOTOMETRIC_RGB && f->photo != PHOTOMETRIC_PALETTE && f->photo != PHOTOMETRIC_SEPARATED)
        why = "this photometric interpretation";
    if (why) return fc_fail(err, FC_EUNSUPPORTED, "%s: TIFF with %s is not supported (photometric %u, %u x %u bits)",
                            name, why, f->photo, f->spp, f->bps);
    return 0;
}

/* All rows' samples as libtiff decodes them (host byte order), rows `row` bytes apart. */
static int read_raster(TIFF *tif, const tiff_fmt *f, uint8_t *raw, size_t row) {
    if (!TIFFIsTiled(tif)) {
        for (uint32_t y = 0; y < f->h; y++)
            if (TIFFReadScanline(tif, raw + (size_t)y * row, y, 0) < 0) return -1;
        return 0;
    }
    uint32_t tw = 0, th = 0;
    TIFFGetField(tif, TIFFTAG_TILEWIDTH, &tw);
    TIFFGetField(tif, TIFFTAG_TILELENGTH, &th);
    size_t px = (size_t)f->bps * f->spp / 8, trow = (size_t)tw * px;
    if (tw == 0 || th == 0 || (f->bps * f->spp) % 8) return -1;
    uint8_t *tile = malloc((size_t)TIFFTileSize(tif));
    if (!tile) return -1;
    for (uint32_t ty = 0; ty < f->h; ty += th)
        for (uint32_t tx = 0; tx < f->w; tx += tw) {
            if (TIFFReadTile(tif, tile, tx, ty, 0, 0) < 0) {
                free(tile);
                return -1;
            }
            size_t n = (size_t)(f->w - tx < tw ? f->w - tx : tw) * px;
            for (uint32_t y = 0; y < th && ty + y < f->h; y++)
                memcpy(raw + (size_t)(ty + y) * row + (size_t)tx * px, tile + (size_t)y * trow, n);
        }
    free(tile);
    return 0;
}

/* Sample i of a row of `bps`-bit samples (1-8 packed MSB first, or 16-bit host order). */
static unsigned sample(const uint8_t *r, size_t i, unsigned bps) {
    if (bps == 16) return ((const uint16_t *)(const void *)r)[i];
    if (bps == 8) return r[i];
    size_t bit = i * bps;
    return (r[bit / 8] >> (8 - bps - bit % 8)) & ((1u << bps) - 1);
}

static uint8_t muldiv255(unsigned a, unsigned b) {
    unsigned t = a * b + 128;
    return (uint8_t)(((t >> 8) + t) >> 8);
}

static void convert_row(const tiff_fmt *f, const uint8_t *r, uint8_t *o) {
    unsigned maxv = (1u << f->bps) - 1, spp = f->spp;
    for (uint32_t x = 0; x < f->w; x++, o += 3) {
        if (f->photo == PHOTOMETRIC_RGB) {
            for (int c = 0; c < 3; c++) o[c] = (uint8_t)(sample(r, x * spp + c, f->bps) >> (f->bps - 8));
        } else if (f->photo == PHOTOMETRIC_PALETTE) {
            unsigned i = sample(r, x, f->bps);
            for (int c = 0; c < 3; c++) o[c] = (uint8_t)(f->cmap[c][i] >> 8);
        } else if (f->photo == PHOTOMETRIC_SEPARATED) {
            unsigned nk = 255 - r[4 * x + 3];
            for (int c = 0; c < 3; c++) o[c] = (uint8_t)(nk - muldiv255(r[4 * x + c], nk));
        } else { /* gray */
            unsigned v = sample(r, x * spp, f->bps);
            v = f->bps == 16 ? (v > 255 ? 255 : v) : v * 255 / maxv;
            if (f->photo == PHOTOMETRIC_MINISWHITE) v = 255 - v;
            o[0] = o[1] = o[2] = (uint8_t)v;
        }
    }
}

static int decode_open(TIFF *tif, tiff_src *src, const char *name, fc_image *out, fc_error *err) {
    tiff_fmt f = {0};
    TIFFGetField(tif, TIFFTAG_IMAGEWIDTH, &f.w);
    TIFFGetField(tif, TIFFTAG_IMAGELENGTH, &f.h);
    TIFFGetFieldDefaulted(tif, TIFFTAG_BITSPERSAMPLE, &f.bps);
    TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLESPERPIXEL, &f.spp);
    TIFFGetFieldDefaulted(tif, TIFFTAG_PLANARCONFIG, &f.planar);
    TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLEFORMAT, &f.sfmt);
    TIFFGetFieldDefaulted(tif, TIFFTAG_EXTRASAMPLES, &f.extra_n, &f.extra);
    if (!TIFFGetField(tif, TIFFTAG_PHOTOMETRIC, &f.photo))
        return fc_fail(err, FC_EUNSUPPORTED, "%s: TIFF without a photometric interpretation is not supported", name);
    if (f.photo == PHOTOMETRIC_PALETTE) TIFFGetField(tif, TIFFTAG_COLORMAP, &f.cmap[0], &f.cmap[1], &f.cmap[2]);
    int rc = fc_image_check_size(f.w, f.h, src->size, "TIFF", name, err);
    if (rc == 0) rc = check_fmt(tif, &f, name, err);
    if (rc) return rc;
    tmsize_t row = TIFFScanlineSize(tif);
    if (row <= 0 || (uint64_t)row < ((uint64_t)f.w * f.bps * f.spp + 7) / 8)
        return fc_fail(err, FC_EFORMAT, "%s: corrupt TIFF: %s", name, src->msg[0] ? src->msg : "bad row size");
    uint8_t *raw = malloc((size_t)row * f.h), *rgb = fc_image_alloc_rgb((int)f.w, (int)f.h, name, err);
    if (!raw || !rgb) {
        free(raw);
        free(rgb);
        return fc_fail(err, FC_ENOMEM, "%s: out of memory for a %ux%u image", name, f.w, f.h);
    }
    if (read_raster(tif, &f, raw, (size_t)row) != 0) {
        free(raw);
        free(rgb);
        return fc_fail(err, FC_EFORMAT, "%s: corrupt or truncated TIFF: %s", name, src->msg[0] ? src->msg : "bad image data");
    }
    for (uint32_t y = 0; y < f.h; y++) convert_row(&f, raw + (size_t)y * row, rgb + (size_t)y * f.w * 3);
    free(raw);
    out->width = (int)f.w;
    out->height = (int)f.h;
    out->rgb = rgb;
    return 0;
}

int fc_image_decode_tiff(const uint8_t *data, size_t size, const char *name, fc_image *out, fc_error *err) {
    tiff_src src = {.data = data, .size = size};
    TIFFOpenOptions *opts = TIFFOpenOptionsAlloc();
    if (!opts) return fc_fail(err, FC_ENOMEM, "%s: cannot create a TIFF decoder", name);
    TIFFOpenOptionsSetErrorHandlerExtR(opts, t_on_error, &src);
    TIFFOpenOptionsSetWarningHandlerExtR(opts, t_on_warning, &src);
    TIFFOpenOptionsSetMaxSingleMemAlloc(opts, (tmsize_t)1 << 31);
    /* "rm": read, no memory mapping (the bytes are already in memory; libtiff copies them) */
    TIFF *tif = TIFFClientOpenExt(name, "rm", &src, t_read, t_write, t_seek, t_close, t_size, NULL, NULL, opts);
    TIFFOpenOptionsFree(opts);
    if (!tif) return fc_fail(err, FC_EFORMAT, "%s: corrupt TIFF: %s", name, src.msg[0] ? src.msg : "cannot open");
    int rc = decode_open(tif, &src, name, out, err);
    TIFFClose(tif);
    return rc;
}
