/* Image decoding: file bytes -> 8-bit interleaved RGB. JPEG through TurboJPEG (with DCT-domain
 * downscaling when the image is much larger than needed), PNG through libpng (gray, palette, alpha,
 * 16-bit are all converted to RGB8; alpha is composited over black... see .c for the exact rule).
 * Not here: resizing, cropping, normalization (preprocess.h). */
#ifndef FC_IMAGE_H
#define FC_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

typedef struct fc_image {
    int width, height;
    uint8_t *rgb; /* (height, width, 3), owned; free with fc_image_free */
} fc_image;

/* Decodes an image held in memory. `name` is used only in error messages (usually the path).
 * min_width/min_height (0 = no hint): the smallest size the caller needs; JPEG may then be decoded
 * at a DCT scale 1/2, 1/4 or 1/8 as long as both sides stay >= the hint. Errors: FC_EFORMAT for
 * corrupt/truncated data (message names the file and libjpeg/libpng's reason), FC_EUNSUPPORTED for
 * other formats (GIF, BMP, ...: says which it looks like), FC_ELIMIT for images over
 * FC_IMAGE_MAX_PIXELS, FC_ENOMEM. Thread-safe (no shared state). On error *out is zeroed. */
int fc_image_decode(const uint8_t *data, size_t size, const char *name, int min_width,
                    int min_height, fc_image *out, fc_error *err);

/* Reads the file then fc_image_decode. FC_EIO when it cannot be read (message has strerror). */
int fc_image_load(const char *path, int min_width, int min_height, fc_image *out, fc_error *err);

void fc_image_free(fc_image *img);

/* Refuse decoding above this many pixels (width*height before DCT scaling). */
#define FC_IMAGE_MAX_PIXELS (200LL * 1000 * 1000)

#endif
