/* Preprocessing: RGB8 image -> float32 network input (3, H, W), or (1, H, W) gray: optional center
 * crop, optional conversion to gray (PIL's convert('L')), resize (bilinear with antialiasing when
 * shrinking, the same filter as PIL's Image.resize(BILINEAR)), optional horizontal flip, then a
 * normalization preset. Not here: decoding (image.h), batching. */
#ifndef FC_PREPROCESS_H
#define FC_PREPROCESS_H

#include "core/core.h"
#include "extract/image.h"

typedef enum {
    FC_PRESET_TF,    /* RGB, x/127.5 - 1 */
    FC_PRESET_TORCH, /* RGB, (x/255 - mean) / std with ImageNet mean/std */
    FC_PRESET_CAFFE, /* BGR, x - mean (103.939, 116.779, 123.68) */
} fc_preset;

typedef struct fc_preprocess {
    int width, height; /* network input size */
    float crop;        /* central fraction of the shorter side kept before resizing: the region is
                          the largest width:height box in the image (a square on the shorter side
                          for square inputs) scaled by crop, centred; 1 or 0 = no crop, the whole
                          image is resized to width x height (aspect not kept) */
    fc_preset preset;  /* gray: the mean of the preset's three channel normalizations */
    int gray;          /* 1 = one plane of luma, L = (19595 R + 38470 G + 7471 B + 2^15) >> 16 as
                          Pillow's convert('L'), computed before the resize (for 1-channel models) */
    int flip;          /* 1 = mirror horizontally */
    int corner;        /* where the crop box sits: FC_CORNER_* (0 = centred) */
    fc_exif exif;      /* EXIF orientation when decoding (fc_image_decode): FC_EXIF_APPLY (0) or IGNORE */
} fc_preprocess;

enum { FC_CORNER_CENTER = 0, FC_CORNER_TL, FC_CORNER_TR, FC_CORNER_BL, FC_CORNER_BR };

/* Views: fixed numbers (they are part of feature cache keys, so never renumber them). */
enum {
    FC_VIEW_ORIG = 0,        /* the image as configured */
    FC_VIEW_FLIP = 1,        /* mirrored */
    FC_VIEW_CROP_CENTER = 2, /* crops5: centre and four corner crops of fraction FC_VIEW_CROP */
    FC_VIEW_CROP_TL, FC_VIEW_CROP_TR, FC_VIEW_CROP_BL, FC_VIEW_CROP_BR,
    FC_N_VIEWS
};
#define FC_VIEW_CROP 0.875f /* crop fraction of the crops5 views when the extractor has no crop */

/* Sets flip/corner/crop of p for a view number. */
void fc_view_apply(int view, fc_preprocess *p);
const char *fc_view_name(int view);
/* "orig", "orig,flip", "orig,flip,crops5", ... (any of orig, flip, crops5) -> view numbers in
 * ascending order; FC_EINVAL naming the bad word. */
int fc_views_parse(const char *list, int *views, int *n, fc_error *err);

/* Smallest decoded size worth asking fc_image_decode for: twice the size the crop box needs, so
 * that JPEG DCT-domain downscaling only kicks in for images much larger than the network input
 * and the antialiased resize, not the DCT, does the final shrinking (features then stay within
 * cosine ~0.999 of a full decode). */
void fc_preprocess_decode_hint(const fc_preprocess *p, int *min_width, int *min_height);

/* "tf" / "torch" / "caffe" -> preset; FC_EINVAL with the valid names otherwise. */
int fc_preset_parse(const char *name, fc_preset *out, fc_error *err);
/* Static name of a preset ("unknown" for values outside the enum); never NULL. */
const char *fc_preset_name(fc_preset p);

/* Channels of the tensor p makes: 1 when gray, else 3. */
int fc_preprocess_channels(const fc_preprocess *p);

/* out: (3, height, width) float32, channel order per preset (planes B, G, R for caffe), or (1,
 * height, width) when gray. The resize is bit-exact with Pillow's Image.resize((width, height),
 * BILINEAR) on 8-bit RGB (gray: on the convert('L') image); flip mirrors the result. FC_EINVAL for NULL/empty arguments, sizes outside 1..16384, an unknown preset or crop
 * outside [0, 1]; FC_ENOMEM. Allocates only temporaries. Thread-safe. */
int fc_preprocess_image(const fc_image *img, const fc_preprocess *p, float *out, fc_error *err);

#endif
