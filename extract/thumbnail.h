/* Small PNG thumbnails of image files for reports: decode (JPEG DCT scaling helps), box-filter
 * down to at most max_side pixels on the longer side, encode as an in-memory RGB PNG.
 * Not here: network preprocessing (preprocess.h). */
#ifndef FC_THUMBNAIL_H
#define FC_THUMBNAIL_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

/* *png (malloc'd, free() it) and *size get the encoded bytes. Errors as fc_image_load, FC_ENOMEM,
 * FC_EIO when libpng fails. Thread-safe. */
int fc_thumbnail_png(const char *path, int max_side, uint8_t **png, size_t *size, fc_error *err);

#endif
