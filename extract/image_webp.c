/* WebP decoder: libwebp's animation decoder (libwebpdemux), first frame, RGBA with the alpha
 * dropped. Pillow 9.4 opens every WebP, still or animated, through this same decoder (its
 * _webp.WebPAnimDecoder), so lossless files match it exactly and lossy ones match it as long as
 * both link the same libwebp (the library's version is part of the extractor fingerprint, as lossy
 * decoding may change between versions). libwebp reports errors by status only. Not here: later
 * frames of an animation. */
#include <stdlib.h>
#include <string.h>
#include <webp/decode.h>
#include <webp/demux.h>

#include "extract/image_formats.h"

int fc_image_decode_webp(const uint8_t *data, size_t size, const char *name, fc_image *out, fc_error *err) {
    WebPBitstreamFeatures f;
    VP8StatusCode st = WebPGetFeatures(data, size, &f);
    if (st != VP8_STATUS_OK)
        return fc_fail(err, FC_EFORMAT, "%s: corrupt WebP: %s", name,
                       st == VP8_STATUS_NOT_ENOUGH_DATA ? "file is truncated" : "bad header");
    int rc = fc_image_check_size(f.width, f.height, size, "WebP", name, err);
    if (rc) return rc;
    WebPAnimDecoderOptions opt;
    if (!WebPAnimDecoderOptionsInit(&opt)) return fc_fail(err, FC_EINTERNAL, "%s: libwebp version mismatch", name);
    opt.color_mode = MODE_RGBA;
    opt.use_threads = 0;
    WebPData wd = {data, size};
    WebPAnimDecoder *dec = WebPAnimDecoderNew(&wd, &opt);
    if (!dec) return fc_fail(err, FC_EFORMAT, "%s: corrupt WebP: cannot parse its chunks", name);
    WebPAnimInfo info;
    uint8_t *frame = NULL, *rgb = NULL;
    int ts = 0;
    if (!WebPAnimDecoderGetInfo(dec, &info)) {
        rc = fc_fail(err, FC_EFORMAT, "%s: corrupt WebP: no canvas", name);
        goto fail;
    }
    if ((rc = fc_image_check_size(info.canvas_width, info.canvas_height, size, "WebP", name, err))) goto fail;
    if (!WebPAnimDecoderGetNext(dec, &frame, &ts)) {
        rc = fc_fail(err, FC_EFORMAT, "%s: corrupt or truncated WebP: the first frame does not decode", name);
        goto fail;
    }
    int w = (int)info.canvas_width, h = (int)info.canvas_height;
    if (!(rgb = fc_image_alloc_rgb(w, h, name, err))) {
        rc = FC_ENOMEM;
        goto fail;
    }
    for (size_t i = 0, n = (size_t)w * h; i < n; i++) memcpy(rgb + 3 * i, frame + 4 * i, 3);
    out->width = w;
    out->height = h;
    out->rgb = rgb;
fail:
    WebPAnimDecoderDelete(dec);
    return rc;
}
