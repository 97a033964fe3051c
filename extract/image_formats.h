/* Decoders for the formats beside JPEG and PNG (internal to extract/): GIF (giflib, first frame),
 * WebP (libwebp's animation decoder, first frame, as Pillow opens every WebP), BMP (own decoder)
 * and TIFF (libtiff, first page). Each returns 8-bit RGB exactly as Pillow 9.4's
 * Image.open(p).convert("RGB") gives it (alpha dropped, not composited) or an FC_E* error whose
 * message names the file and the reason; none prints, exits or keeps state between calls.
 * Also the EXIF orientation (image_exif.c). Not here: format detection, the public entry points
 * (image.c). */
#ifndef FC_IMAGE_FORMATS_H
#define FC_IMAGE_FORMATS_H

#include <stddef.h>
#include <stdint.h>

#include "extract/image.h"

/* Each: data/size is the whole file (magic bytes already checked by the caller); name is for
 * messages. On success out->rgb is malloc'd; on error *out is untouched. Errors: FC_EFORMAT
 * (corrupt or truncated), FC_EUNSUPPORTED (a valid file of a kind Pillow or featcache does not
 * decode: says which), FC_ELIMIT (over FC_IMAGE_MAX_PIXELS, checked before pixels are allocated),
 * FC_ENOMEM. */
int fc_image_decode_gif(const uint8_t *data, size_t size, const char *name, fc_image *out, fc_error *err);
int fc_image_decode_webp(const uint8_t *data, size_t size, const char *name, fc_image *out, fc_error *err);
int fc_image_decode_bmp(const uint8_t *data, size_t size, const char *name, fc_image *out, fc_error *err);
int fc_image_decode_tiff(const uint8_t *data, size_t size, const char *name, fc_image *out, fc_error *err);

/* Refuses w x h (FC_ELIMIT, FC_EFORMAT for an empty side) before any pixel is allocated: over
 * FC_IMAGE_MAX_PIXELS, or over FC_IMAGE_BOMB_PIXELS with more than FC_IMAGE_BOMB_RATIO pixels per
 * byte of the file (a GIF or WebP canvas, BMP RLE line ends or a CCITT TIFF let a few hundred bytes
 * declare 200 megapixels, which costs seconds and 600 MB; Pillow would decode them). `fmt` names
 * the format in the message. Returns 0 when the size is fine. */
#define FC_IMAGE_BOMB_PIXELS (16LL * 1000 * 1000)
#define FC_IMAGE_BOMB_RATIO 1024
int fc_image_check_size(long long w, long long h, size_t file_size, const char *fmt, const char *name, fc_error *err);

/* malloc'd (h, w, 3) buffer or NULL with FC_ENOMEM in err. */
uint8_t *fc_image_alloc_rgb(int w, int h, const char *name, fc_error *err);

/* The EXIF orientation (1..8) stored in a JPEG, PNG, WebP or TIFF file where Pillow 9.4 finds it;
 * 1 when there is none or it is malformed. Never reads outside data[0..size). */
int fc_image_exif_orientation(const uint8_t *data, size_t size);

/* Turns img as Pillow's ImageOps.exif_transpose does for orientation 2..8 (1 and others: no-op);
 * 5..8 swap width and height. FC_ENOMEM (img unchanged). */
int fc_image_orient(fc_image *img, int orientation, fc_error *err);

#endif
