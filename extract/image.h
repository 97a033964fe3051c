/* Image decoding: file bytes -> 8-bit interleaved RGB. JPEG through TurboJPEG (with DCT-domain
 * downscaling when the image is much larger than needed), PNG through libpng, WebP through libwebp,
 * GIF (first frame) through giflib, TIFF (first page) through libtiff, BMP by our own decoder; gray,
 * palette, alpha, 16-bit and CMYK are converted to RGB8 as Pillow 9.4's convert('RGB') does (alpha
 * and tRNS dropped, not composited; 16-bit keeps the high byte, except 16-bit gray PNG and TIFF,
 * clipped to 255 as Pillow does). The format comes from the magic bytes, never the file name.
 * Not here: resizing, cropping, normalization (preprocess.h). */
#ifndef FC_IMAGE_H
#define FC_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

/* EXIF orientation: applied (the image as a person sees it, Pillow's ImageOps.exif_transpose,
 * torchvision's decode_jpeg(apply_exif_orientation=True)) or ignored (the pixels as stored). */
typedef enum { FC_EXIF_APPLY = 0, FC_EXIF_IGNORE = 1 } fc_exif;

typedef struct fc_image {
    int width, height;
    uint8_t *rgb; /* (height, width, 3), owned; free with fc_image_free */
} fc_image;

/* Decodes an image held in memory. `name` is used only in error messages (usually the path; NULL
 * gives "<memory>"). min_width/min_height (0 = no hint): the smallest size the caller needs; when
 * both are > 0, JPEG is decoded at the smallest DCT scale 1/2, 1/4 or 1/8 that keeps both sides >=
 * the hint (other formats ignore the hint). Errors: FC_EFORMAT for corrupt/truncated data,
 * including an empty buffer and any libjpeg warning such as "Premature end of JPEG file" (message
 * names the file and the decoder's reason), FC_EUNSUPPORTED for other or unrecognised formats (AVIF,
 * HEIF, ...: says which it looks like) and for layouts of a known format that are not decoded (says
 * which: JPEG inside BMP, floating-point TIFF, ...), FC_ELIMIT for images over FC_IMAGE_MAX_PIXELS (checked
 * before any pixel allocation), FC_EINVAL for NULL out or a negative hint, FC_ENOMEM. On success
 * out->rgb is a fresh malloc'd buffer owned by the caller. Thread-safe (no shared state). On error
 * *out is zeroed. exif: FC_EXIF_APPLY turns the image by its EXIF orientation (JPEG APP1, PNG eXIf,
 * WebP EXIF, TIFF tag; the size hint then applies to the turned image); FC_EXIF_IGNORE keeps it as
 * stored. */
int fc_image_decode(const uint8_t *data, size_t size, const char *name, int min_width,
                    int min_height, fc_exif exif, fc_image *out, fc_error *err);

/* Reads the whole file then fc_image_decode. FC_EIO when it cannot be opened or read, or is not a
 * regular file (message has the path and strerror); FC_ELIMIT for files over 1 GiB. */
int fc_image_load(const char *path, int min_width, int min_height, fc_exif exif, fc_image *out, fc_error *err);

/* 1 when data (the first bytes of a file; 16 are enough) starts like an image file of a format
 * fc_image_decode recognises, decodable or not (JPEG, PNG, GIF, BMP, WebP, TIFF; AVIF, HEIF,
 * JPEG 2000, ICO, PSD, JPEG XL), 0 otherwise (text, PDF, anything else). Thread-safe. */
int fc_image_sniff(const uint8_t *data, size_t size);

/* Frees img->rgb and zeroes *img; NULL and already-freed images are fine. */
void fc_image_free(fc_image *img);

/* Refuse decoding above this many pixels (width*height before DCT scaling). */
#define FC_IMAGE_MAX_PIXELS (200LL * 1000 * 1000)

#endif
