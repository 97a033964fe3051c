/* Image decoding: JPEG (TurboJPEG, optional DCT-domain downscaling) and PNG (libpng) to RGB8, and
 * the dispatch to the other formats' decoders (image_formats.h). The format is chosen from the
 * magic bytes, never from the file name. Conversions follow Pillow 9.4's Image.convert('RGB') so
 * features match Python pipelines: gray is replicated, alpha and tRNS are dropped (not
 * composited), 16-bit samples keep their high byte except 16-bit gray PNG (Pillow's mode I, which
 * convert clips to 255), gAMA/iCCP are ignored. Libraries never write to stderr: libpng gets silent handlers that longjmp, and
 * TurboJPEG keeps its messages in the handle. Strict by design: any libjpeg warning (truncated
 * file, corrupt entropy data, extraneous bytes) is an FC_EFORMAT error, since a half-gray image
 * would otherwise be cached as valid features.
 * Not here: GIF/BMP/WebP/TIFF (image_gif.c ...), EXIF orientation (image_exif.c), resizing. */
#include "extract/image.h"

#include <errno.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <turbojpeg.h>

#include "core/core.h"
#include "extract/image_formats.h"

/* Files larger than this are refused before reading (no valid image under the pixel limit needs
 * more; an uncompressed 200-megapixel RGB BMP or TIFF is 600 MB). */
#define MAX_FILE_BYTES (1LL << 30)

static const uint8_t PNG_SIG[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

static int starts_with(const uint8_t *data, size_t size, const void *magic, size_t n) {
    return size >= n && memcmp(data, magic, n) == 0;
}

typedef int (*decode_fn)(const uint8_t *, size_t, const char *, fc_image *, fc_error *);

/* The decoder of a format beside JPEG and PNG, by magic bytes, or NULL. */
static decode_fn other_decoder(const uint8_t *d, size_t size) {
    if (starts_with(d, size, "GIF87a", 6) || starts_with(d, size, "GIF89a", 6)) return fc_image_decode_gif;
    if (starts_with(d, size, "BM", 2)) return fc_image_decode_bmp;
    if (size >= 12 && !memcmp(d, "RIFF", 4) && !memcmp(d + 8, "WEBP", 4)) return fc_image_decode_webp;
    if (starts_with(d, size, "II*\0", 4) || starts_with(d, size, "MM\0*", 4)) return fc_image_decode_tiff;
    return NULL;
}

/* Name of a recognised but unsupported format, or NULL. */
static const char *other_format(const uint8_t *d, size_t size) {
    if (size >= 12 && !memcmp(d + 4, "ftyp", 4)) {
        if (!memcmp(d + 8, "avif", 4) || !memcmp(d + 8, "avis", 4)) return "AVIF";
        if (!memcmp(d + 8, "hei", 3) || !memcmp(d + 8, "mif1", 4)) return "HEIF";
    }
    if (starts_with(d, size, "\0\0\0\x0cjP  ", 8) || starts_with(d, size, "\xff\x4f\xff\x51", 4))
        return "JPEG 2000";
    if (starts_with(d, size, "\0\0\1\0", 4)) return "ICO";
    if (starts_with(d, size, "8BPS", 4)) return "PSD";
    if (starts_with(d, size, "\xff\x0a", 2)) return "JPEG XL";
    if (starts_with(d, size, "%PDF", 4)) return "PDF";
    if (starts_with(d, size, "<", 1) || starts_with(d, size, "\xef\xbb\xbf<", 4))
        return "HTML/XML (text)";
    return NULL;
}

int fc_image_sniff(const uint8_t *data, size_t size) {
    if (starts_with(data, size, "\xff\xd8\xff", 3) || (size >= 4 && !memcmp(data, PNG_SIG, size < 8 ? size : 8)) ||
        other_decoder(data, size))
        return 1;
    const char *fmt = other_format(data, size);
    return fmt && strcmp(fmt, "PDF") && strcmp(fmt, "HTML/XML (text)");
}

/* ---- JPEG ---------------------------------------------------------------------------------- */

/* Largest power-of-two DCT downscale (1/2, 1/4, 1/8) keeping both sides >= the hint; 1/1 when
 * there is no hint or no such factor. */
static tjscalingfactor pick_scale(int w, int h, int min_w, int min_h) {
    tjscalingfactor best = {1, 1};
    if (min_w <= 0 || min_h <= 0) return best;
    int n = 0;
    const tjscalingfactor *sf = tjGetScalingFactors(&n);
    for (int i = 0; sf && i < n; i++) {
        if (sf[i].num != 1 || (sf[i].denom != 2 && sf[i].denom != 4 && sf[i].denom != 8)) continue;
        if (sf[i].denom <= best.denom) continue;
        if (TJSCALED(w, sf[i]) >= min_w && TJSCALED(h, sf[i]) >= min_h) best = sf[i];
    }
    return best;
}

/* Pillow's CMYK -> RGB for Adobe (inverted) CMYK JPEGs, which is what libjpeg returns:
 * R = k - k * (255 - c) / 255 with Pillow's rounded division by 255. */
static uint8_t cmyk_channel(unsigned c, unsigned k) {
    unsigned t = (255 - c) * k + 128;
    return (uint8_t)(k - (((t >> 8) + t) >> 8));
}

static int decode_jpeg(const uint8_t *data, size_t size, const char *name, int min_w, int min_h,
                       fc_image *out, fc_error *err) {
    int rc = 0;
    uint8_t *rgb = NULL, *cmyk = NULL;
    tjhandle tj = tjInitDecompress();
    if (!tj) return fc_fail(err, FC_ENOMEM, "%s: cannot create a JPEG decoder", name);

    int w, h, subsamp, colorspace;
    if (tjDecompressHeader3(tj, data, (unsigned long)size, &w, &h, &subsamp, &colorspace) != 0) {
        rc = fc_fail(err, FC_EFORMAT, "%s: corrupt JPEG header: %s", name, tjGetErrorStr2(tj));
        goto fail;
    }
    if (w <= 0 || h <= 0) {
        rc = fc_fail(err, FC_EFORMAT, "%s: JPEG declares an empty image (%dx%d)", name, w, h);
        goto fail;
    }
    if ((long long)w * h > FC_IMAGE_MAX_PIXELS) {
        rc = fc_fail(err, FC_ELIMIT, "%s: JPEG is %dx%d, over the limit of %lld pixels", name, w,
                     h, (long long)FC_IMAGE_MAX_PIXELS);
        goto fail;
    }
    tjscalingfactor sf = pick_scale(w, h, min_w, min_h);
    int sw = TJSCALED(w, sf), sh = TJSCALED(h, sf);
    int is_cmyk = colorspace == TJCS_CMYK || colorspace == TJCS_YCCK;

    rgb = malloc((size_t)sw * sh * 3);
    if (is_cmyk) cmyk = malloc((size_t)sw * sh * 4);
    if (!rgb || (is_cmyk && !cmyk)) {
        rc = fc_fail(err, FC_ENOMEM, "%s: out of memory for a %dx%d image", name, sw, sh);
        goto fail;
    }
    /* Default libjpeg settings (accurate integer IDCT, fancy upsampling) = what Pillow uses. */
    int flags = TJFLAG_STOPONWARNING | TJFLAG_LIMITSCANS;
    uint8_t *dst = is_cmyk ? cmyk : rgb;
    int pf = is_cmyk ? TJPF_CMYK : TJPF_RGB;
    if (tjDecompress2(tj, data, (unsigned long)size, dst, sw, 0, sh, pf, flags) != 0) {
        const char *kind = tjGetErrorCode(tj) == TJERR_WARNING ? "truncated or corrupt JPEG"
                                                               : "corrupt JPEG";
        rc = fc_fail(err, FC_EFORMAT, "%s: %s: %s", name, kind, tjGetErrorStr2(tj));
        goto fail;
    }
    if (is_cmyk) {
        for (size_t i = 0, n = (size_t)sw * sh; i < n; i++) {
            const uint8_t *p = cmyk + 4 * i;
            for (int c = 0; c < 3; c++) rgb[3 * i + c] = cmyk_channel(p[c], p[3]);
        }
    }
    out->width = sw;
    out->height = sh;
    out->rgb = rgb;
    rgb = NULL;
fail:
    free(rgb);
    free(cmyk);
    tjDestroy(tj);
    return rc;
}

/* ---- PNG ----------------------------------------------------------------------------------- */

/* Lives in decode_png's frame, so its fields stay valid across the longjmp out of libpng. */
typedef struct png_ctx {
    const uint8_t *data;
    size_t size, pos;
    char msg[256]; /* libpng's error message */
    int code;      /* FC_E* to report when libpng longjmps (FC_EFORMAT unless set otherwise) */
    int width, height;
    uint8_t *rgb;
    png_bytep *rows;
} png_ctx;

static void png_on_error(png_structp png, png_const_charp msg) {
    png_ctx *ctx = png_get_error_ptr(png);
    snprintf(ctx->msg, sizeof ctx->msg, "%s", msg);
    png_longjmp(png, 1);
}

static void png_on_warning(png_structp png, png_const_charp msg) {
    (void)png;
    (void)msg; /* warnings (bad ancillary chunks, sRGB profile notes) do not affect pixels */
}

static void png_read_mem(png_structp png, png_bytep buf, png_size_t n) {
    png_ctx *ctx = png_get_io_ptr(png);
    if (n > ctx->size - ctx->pos) png_error(png, "file is truncated");
    memcpy(buf, ctx->data + ctx->pos, n);
    ctx->pos += n;
}

/* All libpng calls happen here, below the setjmp; results go to ctx only. Returns 0 or FC_E*. */
static int png_decode_inner(png_ctx *ctx) {
    png_structp png =
        png_create_read_struct(PNG_LIBPNG_VER_STRING, ctx, png_on_error, png_on_warning);
    if (!png) {
        snprintf(ctx->msg, sizeof ctx->msg, "cannot create a PNG decoder");
        return FC_ENOMEM;
    }
    png_infop info = png_create_info_struct(png);
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        snprintf(ctx->msg, sizeof ctx->msg, "cannot create a PNG decoder");
        return FC_ENOMEM;
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, NULL);
        return ctx->code;
    }
    png_set_read_fn(png, ctx, png_read_mem);
    png_read_info(png, info);

    png_uint_32 w, h;
    int depth, color, interlace;
    png_get_IHDR(png, info, &w, &h, &depth, &color, &interlace, NULL, NULL);
    if ((unsigned long long)w * h > (unsigned long long)FC_IMAGE_MAX_PIXELS) { /* unsigned: 2^32-1 squared fits */
        ctx->code = FC_ELIMIT;
        snprintf(ctx->msg, sizeof ctx->msg, "PNG is %ux%u, over the limit of %lld pixels",
                 (unsigned)w, (unsigned)h, (long long)FC_IMAGE_MAX_PIXELS);
        png_longjmp(png, 1);
    }
    /* 16-bit gray is Pillow's mode I, which convert('RGB') clips to 255: read as is, clip below */
    int clip16 = color == PNG_COLOR_TYPE_GRAY && depth == 16, ch = clip16 ? 1 : 3;
    if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (depth == 16 && !clip16) png_set_strip_16(png); /* high byte, like Pillow's "RGB;16B" */
    if ((color == PNG_COLOR_TYPE_GRAY && !clip16) || color == PNG_COLOR_TYPE_GRAY_ALPHA)
        png_set_gray_to_rgb(png);
    png_set_strip_alpha(png); /* also drops tRNS: Pillow's convert('RGB') ignores transparency */
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    if (png_get_channels(png, info) != ch || png_get_bit_depth(png, info) != (clip16 ? 16 : 8) ||
        png_get_rowbytes(png, info) != (size_t)w * (clip16 ? 2 : 3)) {
        ctx->code = FC_EINTERNAL;
        snprintf(ctx->msg, sizeof ctx->msg, "libpng did not produce RGB8 (color type %d, depth %d)",
                 color, depth);
        png_longjmp(png, 1);
    }
    ctx->rgb = malloc((size_t)w * h * 3);
    ctx->rows = malloc((size_t)h * sizeof *ctx->rows);
    if (!ctx->rgb || !ctx->rows) {
        ctx->code = FC_ENOMEM;
        snprintf(ctx->msg, sizeof ctx->msg, "out of memory for a %ux%u image", (unsigned)w,
                 (unsigned)h);
        png_longjmp(png, 1);
    }
    for (png_uint_32 y = 0; y < h; y++) ctx->rows[y] = ctx->rgb + (size_t)y * w * (clip16 ? 2 : 3);
    png_read_image(png, ctx->rows);
    png_read_end(png, NULL); /* checks the remaining chunks' CRCs and that IEND is there */
    if (clip16) /* (h, w) big-endian u16 at the buffer's start -> RGB in place, last pixel first:
                 * pixel i's output (bytes 3i..3i+2) covers only inputs of pixels >= i, already read */
        for (size_t i = (size_t)w * h; i-- > 0;) {
            unsigned v = (unsigned)ctx->rgb[2 * i] << 8 | ctx->rgb[2 * i + 1];
            ctx->rgb[3 * i] = ctx->rgb[3 * i + 1] = ctx->rgb[3 * i + 2] = (uint8_t)(v > 255 ? 255 : v);
        }
    ctx->width = (int)w;
    ctx->height = (int)h;
    png_destroy_read_struct(&png, &info, NULL);
    return 0;
}

static int decode_png(const uint8_t *data, size_t size, const char *name, fc_image *out,
                      fc_error *err) {
    png_ctx ctx = {.data = data, .size = size, .code = FC_EFORMAT};
    /* Check the declared size from IHDR before libpng allocates anything for it. */
    if (size >= 24 && !memcmp(data + 12, "IHDR", 4)) {
        uint32_t w = (uint32_t)data[16] << 24 | (uint32_t)data[17] << 16 | data[18] << 8 | data[19];
        uint32_t h = (uint32_t)data[20] << 24 | (uint32_t)data[21] << 16 | data[22] << 8 | data[23];
        if ((unsigned long long)w * h > (unsigned long long)FC_IMAGE_MAX_PIXELS) /* signed would overflow */
            return fc_fail(err, FC_ELIMIT, "%s: PNG declares %ux%u, over the limit of %lld pixels",
                           name, (unsigned)w, (unsigned)h, (long long)FC_IMAGE_MAX_PIXELS);
    }
    int rc = png_decode_inner(&ctx);
    if (rc != 0) {
        free(ctx.rgb);
        free(ctx.rows);
        if (rc == FC_EFORMAT) return fc_fail(err, rc, "%s: corrupt PNG: %s", name, ctx.msg);
        return fc_fail(err, rc, "%s: %s", name, ctx.msg);
    }
    free(ctx.rows);
    out->width = ctx.width;
    out->height = ctx.height;
    out->rgb = ctx.rgb;
    return 0;
}

/* ---- shared with the other decoders -------------------------------------------------------- */

int fc_image_check_size(long long w, long long h, size_t file_size, const char *fmt, const char *name, fc_error *err) {
    if (w <= 0 || h <= 0) return fc_fail(err, FC_EFORMAT, "%s: %s declares an empty image (%lldx%lld)", name, fmt, w, h);
    if (w > FC_IMAGE_MAX_PIXELS || h > FC_IMAGE_MAX_PIXELS || w * h > FC_IMAGE_MAX_PIXELS)
        return fc_fail(err, FC_ELIMIT, "%s: %s is %lldx%lld, over the limit of %lld pixels", name, fmt, w, h,
                       (long long)FC_IMAGE_MAX_PIXELS);
    if (w * h > FC_IMAGE_BOMB_PIXELS && (unsigned long long)(w * h) / FC_IMAGE_BOMB_RATIO > file_size)
        return fc_fail(err, FC_ELIMIT, "%s: %s declares %lldx%lld pixels in %zu bytes (over %d pixels a byte above "
                       "%lld pixels: refused as a decompression bomb)", name, fmt, w, h, file_size, FC_IMAGE_BOMB_RATIO,
                       (long long)FC_IMAGE_BOMB_PIXELS);
    return 0;
}

uint8_t *fc_image_alloc_rgb(int w, int h, const char *name, fc_error *err) {
    uint8_t *p = malloc((size_t)w * h * 3);
    if (!p) fc_fail(err, FC_ENOMEM, "%s: out of memory for a %dx%d image", name, w, h);
    return p;
}

/* ---- public -------------------------------------------------------------------------------- */

/* The stored pixels (no orientation). */
static int decode_stored(const uint8_t *data, size_t size, const char *name, int min_width, int min_height,
                         fc_image *out, fc_error *err) {
    int rc;
    if (starts_with(data, size, "\xff\xd8\xff", 3)) {
        rc = decode_jpeg(data, size, name, min_width, min_height, out, err);
    } else if (size >= 4 && !memcmp(data, PNG_SIG, size < 8 ? size : 8)) {
        rc = decode_png(data, size, name, out, err);
    } else if (other_decoder(data, size)) {
        rc = other_decoder(data, size)(data, size, name, out, err);
    } else {
        const char *fmt = other_format(data, size);
        if (fmt)
            return fc_fail(err, FC_EUNSUPPORTED,
                           "%s: %s images are not supported (JPEG, PNG, WebP, GIF, BMP, TIFF only)", name, fmt);
        return fc_fail(err, FC_EUNSUPPORTED,
                       "%s: unrecognised image format (JPEG, PNG, WebP, GIF, BMP, TIFF only)", name);
    }
    if (rc != 0) memset(out, 0, sizeof *out);
    return rc;
}

int fc_image_decode(const uint8_t *data, size_t size, const char *name, int min_width, int min_height, fc_exif exif,
                    fc_image *out, fc_error *err) {
    if (!name) name = "<memory>";
    if (!out) return fc_fail(err, FC_EINVAL, "%s: fc_image_decode: out is NULL", name);
    memset(out, 0, sizeof *out);
    if (!data && size) return fc_fail(err, FC_EINVAL, "%s: fc_image_decode: data is NULL", name);
    if (min_width < 0 || min_height < 0)
        return fc_fail(err, FC_EINVAL, "%s: negative size hint %dx%d", name, min_width, min_height);
    if (size == 0) return fc_fail(err, FC_EFORMAT, "%s: empty file", name);
    int orientation = exif == FC_EXIF_APPLY ? fc_image_exif_orientation(data, size) : 1;
    int swap = orientation >= 5; /* the hint is for the turned image */
    int rc = decode_stored(data, size, name, swap ? min_height : min_width, swap ? min_width : min_height, out, err);
    if (rc == 0 && (rc = fc_image_orient(out, orientation, err)) != 0) {
        fc_error_prefix(err, "%s: ", name);
        fc_image_free(out);
    }
    return rc;
}

int fc_image_load(const char *path, int min_width, int min_height, fc_exif exif, fc_image *out, fc_error *err) {
    if (out) memset(out, 0, sizeof *out);
    if (!path) return fc_fail(err, FC_EINVAL, "fc_image_load: path is NULL");
    if (!out) return fc_fail(err, FC_EINVAL, "%s: fc_image_load: out is NULL", path);
    int rc = 0;
    uint8_t *buf = NULL;
    struct stat st;
    FILE *f = fc_file_open_regular(path, &st, err);
    if (!f) return FC_EIO;
    if ((long long)st.st_size > MAX_FILE_BYTES) {
        rc = fc_fail(err, FC_ELIMIT, "%s: file is %lld bytes, over the %lld byte limit", path,
                     (long long)st.st_size, (long long)MAX_FILE_BYTES);
        goto fail;
    }
    size_t size = (size_t)st.st_size;
    buf = malloc(size ? size : 1);
    if (!buf) {
        rc = fc_fail(err, FC_ENOMEM, "%s: out of memory reading %zu bytes", path, size);
        goto fail;
    }
    if (size && fread(buf, 1, size, f) != size) {
        rc = fc_fail(err, FC_EIO, "%s: read error: %s", path,
                     ferror(f) ? strerror(errno) : "file shrank while reading");
        goto fail;
    }
    rc = fc_image_decode(buf, size, path, min_width, min_height, exif, out, err);
fail:
    free(buf);
    fclose(f);
    return rc;
}

void fc_image_free(fc_image *img) {
    if (!img) return;
    free(img->rgb);
    img->rgb = NULL;
    img->width = img->height = 0;
}
