/* Preprocessing: RGB8 image -> (3, H, W) float32 network input (or (1, H, W) gray: the crop's rows
 * converted as Pillow's convert('L') before the resize). Optional centre crop, then a
 * resize that reproduces Pillow's Image.resize(size, BILINEAR) bit for bit (extract/resize.h:
 * antialiased triangle filter in 22-bit fixed point, horizontal pass first, rounded to 8 bits,
 * then vertical). Optional horizontal flip and a normalisation preset (a per-channel table) are
 * fused into the vertical pass's write. Not here: decoding (image.c), batching, random augmentation, aspect-keeping
 * resize. */
#include "extract/preprocess.h"
#include "extract/resize.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Largest network input side accepted (keeps every index and size computation in int). */
#define MAX_SIDE 16384

static const char *const PRESET_NAMES[] = {"tf", "torch", "caffe"};

int fc_preset_parse(const char *name, fc_preset *out, fc_error *err) {
    for (int i = 0; name && i < 3; i++) {
        if (strcmp(name, PRESET_NAMES[i]) == 0) {
            *out = (fc_preset)i;
            return 0;
        }
    }
    return fc_fail(err, FC_EINVAL, "unknown preprocessing preset '%s' (valid: tf, torch, caffe)",
                   name ? name : "(null)");
}

const char *fc_preset_name(fc_preset p) {
    return (unsigned)p < 3 ? PRESET_NAMES[p] : "unknown";
}

/* out[c][v] = normalised value of channel c (source RGB order) at 8-bit level v; gray: out[0] with
 * the mean of the three channels' mean and std (as timm adapts ImageNet statistics to one channel). */
static void build_lut(fc_preset p, int gray, float lut[3][256]) {
    static const float torch_mean[4] = {0.485f, 0.456f, 0.406f, 0.449f};
    static const float torch_std[4] = {0.229f, 0.224f, 0.225f, 0.226f};
    static const float caffe_mean[4] = {123.68f, 116.779f, 103.939f, 114.799f}; /* R, G, B, gray */
    for (int c = 0; c < 3; c++) {
        int t = gray ? 3 : c;
        for (int v = 0; v < 256; v++) {
            float x = (float)v;
            switch (p) {
            case FC_PRESET_TF: lut[c][v] = x / 127.5f - 1.0f; break;
            case FC_PRESET_TORCH: lut[c][v] = (x / 255.0f - torch_mean[t]) / torch_std[t]; break;
            case FC_PRESET_CAFFE: lut[c][v] = x - caffe_mean[t]; break;
            }
        }
    }
}

int fc_preprocess_channels(const fc_preprocess *p) { return p->gray ? 1 : 3; }

/* rows x w pixels of RGB (src, stride bytes per row) as gray RGB in dst (w * 3 per row): each
 * pixel's R = G = B = its luma, Pillow's convert('L') (ITU-R 601-2, rounded). */
static void to_gray(const uint8_t *src, size_t stride, int rows, int w, uint8_t *dst) {
    for (int y = 0; y < rows; y++) {
        const uint8_t *s = src + (size_t)y * stride;
        uint8_t *d = dst + (size_t)y * w * 3;
        for (int x = 0; x < w; x++, s += 3, d += 3)
            d[0] = d[1] = d[2] = (uint8_t)((s[0] * 19595u + s[1] * 38470u + s[2] * 7471u + 0x8000u) >> 16);
    }
}

int fc_preprocess_image(const fc_image *img, const fc_preprocess *p, float *out, fc_error *err) {
    if (!img || !p || !out)
        return fc_fail(err, FC_EINVAL, "fc_preprocess_image: NULL image, options or output");
    if (!img->rgb || img->width <= 0 || img->height <= 0)
        return fc_fail(err, FC_EINVAL, "fc_preprocess_image: empty image (%dx%d)", img->width,
                       img->height);
    if (p->width <= 0 || p->height <= 0 || p->width > MAX_SIDE || p->height > MAX_SIDE)
        return fc_fail(err, FC_EINVAL, "fc_preprocess_image: output size %dx%d outside 1..%d",
                       p->width, p->height, MAX_SIDE);
    if (!(p->crop >= 0.0f && p->crop <= 1.0f))
        return fc_fail(err, FC_EINVAL, "fc_preprocess_image: crop %g outside (0, 1]",
                       (double)p->crop);
    if ((unsigned)p->preset > FC_PRESET_CAFFE)
        return fc_fail(err, FC_EINVAL, "fc_preprocess_image: unknown preset %d", (int)p->preset);

    const int W = p->width, H = p->height;
    int rc = 0;
    fc_resize_axis ax = {0}, ay = {0};
    uint8_t *tmp = NULL; /* (3, rows, W) horizontally resampled planes R, G, B */
    uint8_t *gray = NULL; /* gray: (rows, cw, 3) the rows read, converted */

    /* Crop region (x0, y0, cw, ch): the largest W:H rectangle inside the image (for a square
     * output, a square on the shorter side), scaled by `crop`, centred (offset rounded down). */
    int x0 = 0, y0 = 0, cw = img->width, ch = img->height;
    if (p->crop > 0.0f && p->crop < 1.0f) {
        double fw, fh;
        if ((double)img->width * H >= (double)img->height * W) {
            fh = img->height;
            fw = fh * W / H;
        } else {
            fw = img->width;
            fh = fw * H / W;
        }
        cw = (int)lround(p->crop * fw);
        ch = (int)lround(p->crop * fh);
        cw = cw < 1 ? 1 : cw > img->width ? img->width : cw;
        ch = ch < 1 ? 1 : ch > img->height ? img->height : ch;
        x0 = (img->width - cw) / 2;
        y0 = (img->height - ch) / 2;
        if (p->corner == FC_CORNER_TL || p->corner == FC_CORNER_BL) x0 = 0;
        if (p->corner == FC_CORNER_TR || p->corner == FC_CORNER_BR) x0 = img->width - cw;
        if (p->corner == FC_CORNER_TL || p->corner == FC_CORNER_TR) y0 = 0;
        if (p->corner == FC_CORNER_BL || p->corner == FC_CORNER_BR) y0 = img->height - ch;
    }
    const size_t src_stride = (size_t)img->width * 3;
    const uint8_t *src = img->rgb + (size_t)y0 * src_stride + (size_t)x0 * 3;

    rc = FC_ENOMEM; /* the only failure below */
    if (fc_resize_axis_init(&ay, ch, H) != 0 || fc_resize_axis_init(&ax, cw, W) != 0) goto fail;
    /* Only the source rows the vertical pass reads get resampled horizontally. A pass whose size
     * does not change has identity weights (one tap of weight 1), as exact as Pillow skipping it. */
    const int row0 = ay.first[0], rows = ay.first[H - 1] + ay.n[H - 1] - row0;
    tmp = malloc((size_t)3 * rows * W);
    if (!tmp) goto fail;
    const fc_resize_kernels *rk = fc_resize_best();
    if (p->gray) { /* the rows the resize reads, as gray RGB (three equal planes: one is kept) */
        if (!(gray = malloc((size_t)rows * cw * 3))) goto fail;
        to_gray(src + (size_t)row0 * src_stride, src_stride, rows, cw, gray);
        rk->hpass(gray, (size_t)cw * 3, rows, &ax, tmp);
    } else {
        rk->hpass(src + (size_t)row0 * src_stride, src_stride, rows, &ax, tmp);
    }
    float lut[3][256];
    build_lut(p->preset, p->gray, lut);
    const int bgr = p->preset == FC_PRESET_CAFFE;
    for (int c = 0; c < fc_preprocess_channels(p); c++)
        rk->vpass(tmp + (size_t)c * rows * W, row0, W, &ay, lut[c], p->flip,
                  out + (size_t)(bgr && !p->gray ? 2 - c : c) * W * H);
    rc = 0;
fail:
    if (rc)
        fc_fail(err, rc, "fc_preprocess_image: out of memory resizing %dx%d to %dx%d", cw, ch, W,
                H);
    free(tmp);
    free(gray);
    fc_resize_axis_free(&ax);
    fc_resize_axis_free(&ay);
    return rc;
}

void fc_view_apply(int view, fc_preprocess *p) {
    p->flip = view == FC_VIEW_FLIP;
    p->corner = FC_CORNER_CENTER;
    if (view >= FC_VIEW_CROP_CENTER && view < FC_N_VIEWS) {
        if (!(p->crop > 0.0f && p->crop < 1.0f)) p->crop = FC_VIEW_CROP;
        p->corner = view - FC_VIEW_CROP_CENTER; /* CENTER, TL, TR, BL, BR in the same order */
    }
}

const char *fc_view_name(int view) {
    static const char *const names[FC_N_VIEWS] = {"orig", "flip", "crop-center", "crop-tl", "crop-tr",
                                                  "crop-bl", "crop-br"};
    return view >= 0 && view < FC_N_VIEWS ? names[view] : "unknown";
}

int fc_views_parse(const char *list, int *views, int *n, fc_error *err) {
    int want[FC_N_VIEWS] = {0};
    const char *s = list;
    while (*s) {
        const char *e = strchr(s, ',');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        if (len == 4 && !strncmp(s, "orig", 4)) want[FC_VIEW_ORIG] = 1;
        else if (len == 4 && !strncmp(s, "flip", 4)) want[FC_VIEW_FLIP] = 1;
        else if (len == 6 && !strncmp(s, "crops5", 6))
            for (int v = FC_VIEW_CROP_CENTER; v < FC_N_VIEWS; v++) want[v] = 1;
        else
            return fc_fail(err, FC_EINVAL, "unknown view '%.*s' (orig, flip, crops5)", (int)len, s);
        s += len + (e ? 1 : 0);
    }
    *n = 0;
    for (int v = 0; v < FC_N_VIEWS; v++)
        if (want[v]) views[(*n)++] = v;
    if (*n == 0) return fc_fail(err, FC_EINVAL, "no views given");
    return 0;
}

void fc_preprocess_decode_hint(const fc_preprocess *p, int *min_width, int *min_height) {
    double crop = p->crop > 0.0f && p->crop < 1.0f ? p->crop : 1.0;
    *min_width = (int)ceil(2.0 * p->width / crop);
    *min_height = (int)ceil(2.0 * p->height / crop);
}
