/* Tests for extract/preprocess.c: the resize against values produced by Pillow 9.4
 * Image.resize(BILINEAR) (hard-coded below and the shared reference input.npy tensors, which
 * also exercise decoding), presets incl. BGR order, gray (Pillow's convert('L') before the
 * resize), flip, centre crop, argument checks, and the
 * AVX2 resize passes against their portable twins (bit for bit).
 * Not a speed test. */
#include "extract/preprocess.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "extract/image.h"
#include "extract/resize.h"
#include "tests/support/check.h"
#include "tests/support/npy.h"

/* Runs fc_preprocess_image with preset tf and turns the output back into 8-bit levels
 * (exact: x/127.5 - 1 is invertible on 0..255). levels: (3, H, W). */
static int levels_tf(const fc_image *img, int W, int H, float crop, int flip, uint8_t *levels) {
    fc_preprocess p = {.width = W, .height = H, .crop = crop, .preset = FC_PRESET_TF, .flip = flip};
    float *out = malloc(sizeof(float) * 3 * W * H);
    if (!out)
        return FC_ENOMEM;
    fc_error err = {0};
    int rc = fc_preprocess_image(img, &p, out, &err);
    for (int i = 0; rc == 0 && i < 3 * W * H; i++)
        levels[i] = (uint8_t)lrintf((out[i] + 1.0f) * 127.5f);
    free(out);
    return rc;
}

static void test_resize_matches_pillow(void) {
    /* 5x3 RGB image and Pillow's results for resize((W, H), BILINEAR), interleaved (H, W, 3). */
    static uint8_t src[] = {0,  40,  255, 53, 51,  226, 106, 62,  197, 159, 73,  168, 212, 84,  139,
                            17, 137, 214, 70, 148, 185, 123, 159, 156, 176, 170, 127, 229, 181, 98,
                            34, 234, 173, 87, 245, 144, 140, 0,   115, 193, 11,  86,  246, 22,  57};
    static const uint8_t want_3x2[] = {29, 81,  228, 112, 98, 182, 195, 115, 136,
                                       51, 203, 176, 134, 95, 130, 217, 77,  84};
    static const uint8_t want_7x4[] = {
        0,   40,  255, 30,  46,  238, 68,  54,  218, 106, 62,  197, 144, 70,  176, 182, 78,
        156, 212, 84,  139, 11,  101, 229, 41,  107, 212, 79,  115, 192, 117, 123, 171, 155,
        131, 150, 193, 139, 130, 223, 145, 113, 23,  173, 199, 53,  179, 182, 91,  160, 162,
        129, 99,  141, 167, 107, 120, 205, 115, 100, 235, 121, 83,  34,  234, 173, 64,  240,
        156, 102, 175, 136, 140, 0,   115, 178, 8,   94,  216, 16,  74,  246, 22,  57};
    static const uint8_t want_2x5[] = {53,  51,  226, 159, 73,  168, 60,  90,  210, 166,
                                       112, 152, 70,  148, 185, 176, 170, 127, 80,  164,
                                       160, 186, 82,  102, 87,  175, 144, 193, 23,  86};
    static const struct {
        int w, h;
        const uint8_t *want;
    } cases[] = {{3, 2, want_3x2}, {7, 4, want_7x4}, {2, 5, want_2x5}, {5, 3, src}};
    fc_image img = {.width = 5, .height = 3, .rgb = src};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int W = cases[i].w, H = cases[i].h, bad = 0;
        uint8_t lv[3 * 7 * 5];
        int rc = levels_tf(&img, W, H, 0, 0, lv);
        REQUIRE(rc == 0, "preprocess %dx%d failed", W, H);
        for (int c = 0; c < 3; c++)
            for (int j = 0; j < W * H; j++)
                bad += lv[c * W * H + j] != cases[i].want[3 * j + c];
        CHECK(bad == 0, "%dx%d: %d values differ from Pillow", W, H, bad);
    }
    /* Hand-checked: 4 -> 2 has support 2 and weights (3, 3, 1)/7 and (1, 3, 3)/7. */
    uint8_t row[12] = {0, 0, 0, 70, 70, 70, 140, 140, 140, 210, 210, 210}, lv[6];
    fc_image r = {.width = 4, .height = 1, .rgb = row};
    int rc = levels_tf(&r, 2, 1, 0, 0, lv);
    REQUIRE(rc == 0, "preprocess failed");
    CHECK(lv[0] == 50 && lv[1] == 160, "got %d %d, want 50 160", lv[0], lv[1]);
}

/* Gray (for 1-channel models): one plane equal to Pillow's convert('L').resize((W, H), BILINEAR)
 * (values below from Pillow 9.4 on the 5x3 image of test_resize_matches_pillow), normalized with
 * the mean of the preset's channel statistics; crop and flip as for RGB. */
static void test_gray(void) {
    static uint8_t src[] = {0,  40,  255, 53, 51,  226, 106, 62,  197, 159, 73,  168, 212, 84,  139,
                            17, 137, 214, 70, 148, 185, 123, 159, 156, 176, 170, 127, 229, 181, 98,
                            34, 234, 173, 87, 245, 144, 140, 0,   115, 193, 11,  86,  246, 22,  57};
    static const uint8_t want_3x2[] = {82, 112, 142, 154, 111, 120};
    static const uint8_t want_7x4[] = {53,  64,  77,  91,  105, 118, 129, 89,  100, 113, 127, 141, 154, 165,
                                       131, 142, 140, 113, 127, 140, 151, 167, 178, 149, 55,  69,  82,  93};
    static const uint8_t want_2x5[] = {72, 110, 95, 133, 129, 167, 139, 115, 145, 81};
    static const uint8_t want_5x3[] = {53, 72, 91, 110, 129, 110, 129, 148, 167, 186, 167, 186, 55, 74, 93};
    static const struct { int w, h; const uint8_t *want; } cases[] = {
        {3, 2, want_3x2}, {7, 4, want_7x4}, {2, 5, want_2x5}, {5, 3, want_5x3}};
    fc_image img = {.width = 5, .height = 3, .rgb = src};
    fc_error err = {0};
    float out[3 * 7 * 5];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int W = cases[i].w, H = cases[i].h, bad = 0;
        fc_preprocess p = {.width = W, .height = H, .preset = FC_PRESET_TF, .gray = 1};
        CHECK(fc_preprocess_channels(&p) == 1, "gray makes one channel");
        for (int j = 0; j < 3 * 7 * 5; j++) out[j] = -99;
        REQUIRE(fc_preprocess_image(&img, &p, out, &err) == 0, "%s", err.msg);
        for (int j = 0; j < W * H; j++) bad += lrintf((out[j] + 1.0f) * 127.5f) != cases[i].want[j];
        CHECK(bad == 0, "gray %dx%d: %d values differ from Pillow", W, H, bad);
        CHECK(out[W * H] == -99, "gray %dx%d: wrote past its one plane", W, H);
    }
    /* presets on one gray level: torch with mean 0.449 / std 0.226, caffe minus 114.799 */
    fc_preprocess p = {.width = 5, .height = 3, .preset = FC_PRESET_TORCH, .gray = 1};
    REQUIRE(fc_preprocess_image(&img, &p, out, &err) == 0, "%s", err.msg);
    CHECK(fabsf(out[0] - (53 / 255.0f - 0.449f) / 0.226f) < 1e-5f, "torch gray: %g", out[0]);
    p.preset = FC_PRESET_CAFFE;
    REQUIRE(fc_preprocess_image(&img, &p, out, &err) == 0, "%s", err.msg);
    CHECK(fabsf(out[0] - (53 - 114.799f)) < 1e-4f, "caffe gray: %g", out[0]);
    /* flip mirrors the plane; a crop keeps the central box, as for RGB */
    p = (fc_preprocess){.width = 5, .height = 3, .preset = FC_PRESET_TF, .gray = 1, .flip = 1};
    REQUIRE(fc_preprocess_image(&img, &p, out, &err) == 0, "%s", err.msg);
    CHECK(lrintf((out[0] + 1.0f) * 127.5f) == 129 && lrintf((out[4] + 1.0f) * 127.5f) == 53, "flipped gray row");
    p = (fc_preprocess){.width = 1, .height = 1, .crop = 0.34f, .preset = FC_PRESET_TF, .gray = 1};
    REQUIRE(fc_preprocess_image(&img, &p, out, &err) == 0, "%s", err.msg);
    CHECK(lrintf((out[0] + 1.0f) * 127.5f) == 148, "centre pixel: %g", out[0]);
}

static void test_presets(void) {
    uint8_t px[6] = {0, 128, 255, 10, 20, 30}; /* (1, 2, 3): two RGB pixels */
    fc_image img = {.width = 2, .height = 1, .rgb = px};
    float out[6];
    fc_error err = {0};
    const double mean[3] = {0.485, 0.456, 0.406}, sd[3] = {0.229, 0.224, 0.225};
    const double cmean[3] = {123.68, 116.779, 103.939}; /* R, G, B */
    for (int preset = FC_PRESET_TF; preset <= FC_PRESET_CAFFE; preset++) {
        fc_preprocess p = {.width = 2, .height = 1, .crop = 1, .preset = (fc_preset)preset};
        int rc = fc_preprocess_image(&img, &p, out, &err);
        REQUIRE(rc == 0, "%s", err.msg);
        for (int c = 0; c < 3; c++) {
            for (int x = 0; x < 2; x++) {
                double v = px[3 * x + c], want;
                int plane = c;
                if (preset == FC_PRESET_TF)
                    want = v / 127.5 - 1;
                else if (preset == FC_PRESET_TORCH)
                    want = (v / 255 - mean[c]) / sd[c];
                else
                    want = v - cmean[c], plane = 2 - c; /* BGR planes */
                float got = out[plane * 2 + x];
                CHECK(fabs(got - want) < 1e-5 * (1 + fabs(want)),
                      "%s: channel %d x %d: %g, want %g", fc_preset_name((fc_preset)preset), c, x,
                      got, want);
            }
        }
    }
    /* Spot values written out in full. */
    fc_preprocess p = {.width = 2, .height = 1, .preset = FC_PRESET_CAFFE};
    int rc = fc_preprocess_image(&img, &p, out, &err);
    REQUIRE(rc == 0, "%s", err.msg);
    CHECK(fabsf(out[0] - 151.061f) < 1e-4f, "caffe plane 0 must be blue: %g", out[0]);
    CHECK(fabsf(out[5] - (10 - 123.68f)) < 1e-4f, "caffe plane 2 must be red: %g", out[5]);
    p.preset = FC_PRESET_TORCH;
    rc = fc_preprocess_image(&img, &p, out, &err);
    REQUIRE(rc == 0, "%s", err.msg);
    CHECK(fabsf(out[0] - -2.1179039f) < 1e-5f, "torch R=0: %g", out[0]);
    CHECK(fabsf(out[4] - 2.64f) < 1e-5f, "torch B=255: %g", out[4]);
    p.preset = FC_PRESET_TF;
    rc = fc_preprocess_image(&img, &p, out, &err);
    REQUIRE(rc == 0, "%s", err.msg);
    CHECK(out[0] == -1.0f && out[4] == 1.0f, "tf 0 -> %g, 255 -> %g", out[0], out[4]);

    fc_preset ps;
    const char *names[] = {"tf", "torch", "caffe"};
    for (int i = 0; i < 3; i++) {
        CHECK(fc_preset_parse(names[i], &ps, &err) == 0 &&
                  strcmp(fc_preset_name(ps), names[i]) == 0,
              "round trip of %s", names[i]);
    }
    CHECK(fc_preset_parse("TF", &ps, &err) == FC_EINVAL, "names are case-sensitive");
    CHECK(strstr(err.msg, "'TF'") && strstr(err.msg, "tf, torch, caffe"), "message '%s'", err.msg);
    CHECK(fc_preset_parse(NULL, &ps, &err) == FC_EINVAL, "NULL name");
    CHECK(strcmp(fc_preset_name((fc_preset)42), "unknown") == 0, "name of a bad preset");
}

static void test_flip(void) {
    uint8_t px[5 * 3 * 3];
    for (int i = 0; i < (int)sizeof px; i++)
        px[i] = (uint8_t)(i * 37 + 11);
    fc_image img = {.width = 5, .height = 3, .rgb = px};
    static const int sizes[][2] = {{5, 3}, {7, 4}, {3, 2}};
    for (int s = 0; s < 3; s++) {
        int W = sizes[s][0], H = sizes[s][1], bad = 0;
        uint8_t a[3 * 7 * 4], b[3 * 7 * 4];
        int rc = levels_tf(&img, W, H, 0, 0, a) | levels_tf(&img, W, H, 0, 1, b);
        REQUIRE(rc == 0, "preprocess failed");
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < H; y++)
                for (int x = 0; x < W; x++)
                    bad += a[(c * H + y) * W + x] != b[(c * H + y) * W + (W - 1 - x)];
        CHECK(bad == 0, "%dx%d: flip is not a mirror (%d values)", W, H, bad);
        if (s == 0) { /* identity size: flipped output = mirrored source */
            for (int c = 0; c < 3; c++)
                for (int y = 0; y < H; y++)
                    for (int x = 0; x < W; x++)
                        bad += b[(c * H + y) * W + x] != px[(y * 5 + (4 - x)) * 3 + c];
            CHECK(bad == 0, "flip at identity size differs from the mirrored source");
        }
    }
}

/* Copies the (x0, y0, w, h) region of img into a new image. */
static fc_image sub_image(const fc_image *img, int x0, int y0, int w, int h) {
    fc_image s = {.width = w, .height = h, .rgb = malloc((size_t)w * h * 3)};
    if (!s.rgb)
        abort();
    for (int y = 0; y < h; y++)
        memcpy(s.rgb + (size_t)y * w * 3, img->rgb + ((size_t)(y0 + y) * img->width + x0) * 3,
               (size_t)w * 3);
    return s;
}

static void test_center_crop(void) {
    /* crop 0.875 of the shorter side: 40x24 -> 21x21 square at (9, 1); 24x40 -> at (1, 9). */
    for (int tall = 0; tall < 2; tall++) {
        int w = tall ? 24 : 40, h = tall ? 40 : 24;
        uint8_t *px = malloc((size_t)w * h * 3);
        REQUIRE(px, "malloc");
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                uint8_t *q = px + (y * w + x) * 3;
                q[0] = (uint8_t)(x * 5), q[1] = (uint8_t)(y * 6), q[2] = (uint8_t)(x + y);
            }
        fc_image img = {.width = w, .height = h, .rgb = px};
        uint8_t lv[3 * 21 * 21];
        int rc = levels_tf(&img, 21, 21, 0.875f, 0, lv), bad = 0;
        CHECK(rc == 0, "preprocess failed");
        int x0 = tall ? 1 : 9, y0 = tall ? 9 : 1;
        for (int y = 0; rc == 0 && y < 21; y++)
            for (int x = 0; x < 21; x++)
                for (int c = 0; c < 3; c++)
                    bad += lv[(c * 21 + y) * 21 + x] != px[((y0 + y) * w + x0 + x) * 3 + c];
        CHECK(bad == 0, "%s image: crop 0.875 is not the centre 21x21 region (%d values)",
              tall ? "tall" : "wide", bad);
        free(px);
    }
    /* Crop then resize = resize of the cropped image, for square and non-square outputs. */
    uint8_t *px = malloc(100 * 60 * 3);
    REQUIRE(px, "malloc");
    for (int i = 0; i < 100 * 60 * 3; i++)
        px[i] = (uint8_t)((i * 7) ^ (i / 300));
    fc_image img = {.width = 100, .height = 60, .rgb = px};
    static const struct {
        int W, H;
        float crop;
        int x0, y0, cw, ch;
    } cases[] = {
        {10, 10, 0.5f, 35, 15, 30, 30}, /* square on the shorter side (60) */
        {20, 10, 0.5f, 25, 17, 50, 25}, /* 2:1 output: largest 2:1 box is 100x50 */
        {10, 20, 0.8f, 38, 6, 24, 48},  /* 1:2 output: largest 1:2 box is 30x60 */
        {12, 12, 1.0f, 0, 0, 100, 60},  /* 1 = no crop: whole image, aspect not kept */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int W = cases[i].W, H = cases[i].H, bad = 0;
        uint8_t a[3 * 20 * 20], b[3 * 20 * 20];
        fc_image sub = sub_image(&img, cases[i].x0, cases[i].y0, cases[i].cw, cases[i].ch);
        int rc = levels_tf(&img, W, H, cases[i].crop, 0, a) | levels_tf(&sub, W, H, 0, 0, b);
        CHECK(rc == 0, "preprocess failed");
        for (int j = 0; rc == 0 && j < 3 * W * H; j++)
            bad += a[j] != b[j];
        CHECK(bad == 0, "case %zu: crop %.2f to %dx%d differs from resizing region (%d,%d,%dx%d)",
              i, (double)cases[i].crop, W, H, cases[i].x0, cases[i].y0, cases[i].cw, cases[i].ch);
        free(sub.rgb);
    }
    free(px);
}

/* crops5 views: each corner crop of a four-colour image sees only its quadrant's colour. */
static void test_view_corners(void) {
    enum { S = 64 };
    static uint8_t rgb[S * S * 3];
    for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++) /* TL red, TR green, BL blue, BR white; values 0 or 255 */
            for (int c = 0; c < 3; c++) {
                int q = (y >= S / 2) * 2 + (x >= S / 2);
                static const uint8_t col[4][3] = {{255, 0, 0}, {0, 255, 0}, {0, 0, 255}, {255, 255, 255}};
                rgb[(y * S + x) * 3 + c] = col[q][c];
            }
    fc_image img = {.width = S, .height = S, .rgb = rgb};
    static const struct { int view; float r, g, b; } want[] = {
        {FC_VIEW_CROP_TL, 1, -1, -1}, {FC_VIEW_CROP_TR, -1, 1, -1}, {FC_VIEW_CROP_BL, -1, -1, 1}, {FC_VIEW_CROP_BR, 1, 1, 1}};
    float out[3 * 8 * 8];
    for (int i = 0; i < 4; i++) {
        fc_preprocess p = {.width = 8, .height = 8, .crop = 0.4f, .preset = FC_PRESET_TF};
        fc_view_apply(want[i].view, &p);
        fc_error err = {0};
        REQUIRE(fc_preprocess_image(&img, &p, out, &err) == 0, "%s", err.msg);
        for (int k = 0; k < 64; k++)
            CHECK(out[k] == want[i].r && out[64 + k] == want[i].g && out[128 + k] == want[i].b,
                  "%s pixel %d: %g %g %g", fc_view_name(want[i].view), k, out[k], out[64 + k], out[128 + k]);
    }
    fc_preprocess p = {.width = 8, .height = 8, .crop = 1, .preset = FC_PRESET_TF};
    fc_view_apply(FC_VIEW_CROP_CENTER, &p);
    CHECK(p.crop == FC_VIEW_CROP && p.corner == FC_CORNER_CENTER && !p.flip, "crops5 default fraction");
    int views[FC_N_VIEWS], n;
    fc_error err = {0};
    CHECK(fc_views_parse("crops5,orig", views, &n, &err) == 0 && n == 6 && views[0] == FC_VIEW_ORIG &&
          views[1] == FC_VIEW_CROP_CENTER, "parse crops5,orig: %d", n);
    CHECK(fc_views_parse("orig,,flip", views, &n, &err) == FC_EINVAL, "empty view word accepted");
    CHECK(fc_views_parse("orig,zoom", views, &n, &err) == FC_EINVAL && strstr(err.msg, "zoom"), "%s", err.msg);
}

static void test_bad_arguments(void) {
    uint8_t px[3 * 4] = {0};
    fc_image img = {.width = 2, .height = 2, .rgb = px};
    float out[3 * 4];
    fc_error err = {0};
    const float crops[] = {1.5f, -0.1f, NAN, INFINITY};
    for (int i = 0; i < 4; i++) {
        fc_preprocess p = {.width = 2, .height = 2, .crop = crops[i]};
        CHECK(fc_preprocess_image(&img, &p, out, &err) == FC_EINVAL, "crop %g accepted",
              (double)crops[i]);
    }
    CHECK(strstr(err.msg, "crop") != NULL, "message '%s'", err.msg);
    fc_preprocess p = {.width = 0, .height = 2};
    CHECK(fc_preprocess_image(&img, &p, out, &err) == FC_EINVAL, "width 0 accepted");
    p = (fc_preprocess){.width = 2, .height = 100000};
    CHECK(fc_preprocess_image(&img, &p, out, &err) == FC_EINVAL, "height 100000 accepted");
    p = (fc_preprocess){.width = 2, .height = 2, .preset = (fc_preset)7};
    CHECK(fc_preprocess_image(&img, &p, out, &err) == FC_EINVAL, "preset 7 accepted");
    p.preset = FC_PRESET_TF;
    fc_image empty = {0};
    CHECK(fc_preprocess_image(&empty, &p, out, &err) == FC_EINVAL, "empty image accepted");
    CHECK(fc_preprocess_image(NULL, &p, out, &err) == FC_EINVAL, "NULL image accepted");
    /* Extreme ratios work: 1x1 -> 9x9 (upscale) and a 2x2 -> 1x1. */
    float big[3 * 81];
    fc_image one = {.width = 1, .height = 1, .rgb = (uint8_t[]){255, 0, 51}};
    p = (fc_preprocess){.width = 9, .height = 9};
    CHECK(fc_preprocess_image(&one, &p, big, &err) == 0, "%s", err.msg);
    CHECK(big[0] == 1.0f && big[80] == 1.0f && big[81] == -1.0f && fabsf(big[162] + 0.6f) < 1e-6f,
          "1x1 upscale is not constant");
    p = (fc_preprocess){.width = 1, .height = 1};
    CHECK(fc_preprocess_image(&img, &p, out, &err) == 0, "%s", err.msg);
}

/* Decode every shared photo without DCT scaling, resize with preset tf and compare with the
 * reference input tensor made by Pillow (resize BILINEAR, x/127.5 - 1). */
static void compare_reference(const char *model, int size) {
    const char *shared = check_shared_dir();
    if (!shared)
        SKIP("../shared not found (set FEATCACHE_SHARED)");
    char path[1024], msg[256], name[256];
    snprintf(path, sizeof path, "%s/reference/%s/input.npy", shared, model);
    npy_array ref;
    int rc = npy_read(path, &ref, msg); /* REQUIRE evaluates its condition twice */
    REQUIRE(rc == 0, "%s: %s", path, msg);
    snprintf(path, sizeof path, "%s/reference/%s/images.txt", shared, model);
    FILE *list = fopen(path, "r");
    CHECK(list != NULL, "cannot open %s", path);
    CHECK(ref.rank == 4 && ref.dims[1] == 3 && ref.dims[2] == size && ref.dims[3] == size,
          "input.npy shape is not (N, 3, %d, %d)", size, size);
    const int64_t per = 3LL * size * size;
    float *out = malloc(sizeof(float) * per);
    int n = 0;
    while (list && out && ref.rank == 4 && ref.dims[2] == size &&
           fscanf(list, "%255s", name) == 1) {
        CHECK(n < ref.dims[0], "images.txt lists more images than input.npy holds");
        if (n >= ref.dims[0])
            break;
        snprintf(path, sizeof path, "%s/images/%s", shared, name);
        fc_image img;
        fc_error err = {0};
        fc_preprocess p = {.width = size, .height = size, .crop = 0, .preset = FC_PRESET_TF};
        rc = fc_image_load(path, 0, 0, FC_EXIF_APPLY, &img, &err);
        if (rc == 0)
            rc = fc_preprocess_image(&img, &p, out, &err);
        fc_image_free(&img);
        CHECK(rc == 0, "%s", err.msg);
        if (rc == 0) {
            const float *r = ref.data + n * per;
            double d = npy_max_abs_diff(out, r, per);
            int64_t ndiff = 0;
            for (int64_t i = 0; i < per; i++)
                ndiff += out[i] != r[i];
            int is_png = strstr(name, ".png") != NULL;
            /* Measured 0 for all 8 photos with libjpeg-turbo 2.1.5 / Pillow 9.4: decoding and the
             * resize are bit-exact. PNG must stay exact; JPEG may move by one gray level with
             * another libjpeg(-turbo) build (IDCT/upsampling code), never more. */
            double bound = is_png ? 1e-6 : 1.0 / 127.5 + 1e-6;
            printf("  %s %s: max |diff| = %.3g (%.2f levels), %lld of %lld values differ\n", model,
                   name, d, d * 127.5, (long long)ndiff, (long long)per);
            CHECK(d <= bound, "%s: max |diff| %g > %g", name, d, bound);
        }
        n++;
    }
    CHECK(n == ref.dims[0], "compared %d images, input.npy has %lld", n, (long long)ref.dims[0]);
    if (list)
        fclose(list);
    free(out);
    npy_free(&ref);
}

static void test_reference_mobilenet_v2_224(void) {
    compare_reference("mobilenet_v2_1.0_224", 224);
}
static void test_reference_mobilenet_v1_192(void) {
    compare_reference("mobilenet_v1_0.75_192", 192);
}

/* Both passes of a vector table give exactly the portable bytes and floats: random images and
 * sizes (up- and downscales, widths that are not multiples of 8 or 16, filters wider than the AVX2
 * tap limit and than the VBMI span, rows ending inside a block's span), each with and without flip. */
/* n bytes that end where an inaccessible page begins, so a read past them faults; *map and *len for
 * munmap. NULL if mmap fails. */
static uint8_t *guarded(size_t n, void **map, size_t *len) {
    size_t page = (size_t)sysconf(_SC_PAGESIZE), data = (n + page - 1) / page * page;
    *len = data + page;
    *map = mmap(NULL, *len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (*map == MAP_FAILED || mprotect((char *)*map + data, page, PROT_NONE)) return NULL;
    return (uint8_t *)*map + data - n;
}

static void resize_vs_scalar(const char *name) {
    const fc_resize_kernels *sc = fc_resize_by_name("scalar"), *av = fc_resize_by_name(name);
    REQUIRE(sc != NULL, "scalar resize table missing");
    if (!av) {
        SKIP(strcmp(name, "avx2") ? "this CPU has no AVX-512 VBMI" : "this CPU has no AVX2");
        return;
    }
    static const int sizes[][4] = {{500, 375, 224, 224}, {28, 28, 224, 224}, {224, 224, 224, 224}, {3000, 17, 50, 9},
                                   {9, 1, 16, 3},        {640, 480, 299, 299}, {1, 1, 8, 8},      {333, 250, 37, 61},
                                   {545, 7, 224, 5},     {41, 3, 17, 3},       {600, 4, 250, 4},  {1100, 5, 224, 5}};
    uint32_t seed = 12345;
    float lut[256];
    for (int v = 0; v < 256; v++) lut[v] = (float)v / 127.5f - 1.0f;
    for (size_t t = 0; t < sizeof sizes / sizeof sizes[0]; t++) {
        int iw = sizes[t][0], ih = sizes[t][1], W = sizes[t][2], H = sizes[t][3];
        fc_resize_axis ax, ay;
        REQUIRE(fc_resize_axis_init(&ax, iw, W) == 0 && fc_resize_axis_init(&ay, ih, H) == 0, "axes");
        void *map;
        size_t map_len;
        /* the image's last row ends at a guard page: the passes must not read past a row */
        uint8_t *img = guarded((size_t)iw * ih * 3, &map, &map_len);
        uint8_t *p1 = malloc((size_t)3 * ih * W), *p2 = malloc((size_t)3 * ih * W);
        float *o1 = malloc(sizeof(float) * W * H), *o2 = malloc(sizeof(float) * W * H);
        REQUIRE(img && p1 && p2 && o1 && o2, "out of memory");
        for (size_t i = 0; i < (size_t)iw * ih * 3; i++) seed = seed * 1664525u + 1013904223u, img[i] = (uint8_t)(seed >> 24);
        if (t == 1) memset(img, 255, (size_t)iw * ih * 3); /* saturated: clip at the top */
        sc->hpass(img, (size_t)iw * 3, ih, &ax, p1);
        av->hpass(img, (size_t)iw * 3, ih, &ax, p2);
        CHECK(!memcmp(p1, p2, (size_t)3 * ih * W), "%s: %dx%d -> %d wide: horizontal pass differs", name, iw, ih, W);
        for (int flip = 0; flip < 2; flip++) {
            sc->vpass(p1, 0, W, &ay, lut, flip, o1);
            av->vpass(p1, 0, W, &ay, lut, flip, o2);
            CHECK(!memcmp(o1, o2, sizeof(float) * W * H), "%s: %dx%d -> %dx%d flip %d: vertical pass differs", name, iw,
                  ih, W, H, flip);
        }
        munmap(map, map_len);
        free(p1), free(p2), free(o1), free(o2);
        fc_resize_axis_free(&ax), fc_resize_axis_free(&ay);
    }
}

static void test_resize_avx2_vs_scalar(void) { resize_vs_scalar("avx2"); }
static void test_resize_avx512vbmi_vs_scalar(void) { resize_vs_scalar("avx512vbmi"); }

int main(void) {
    RUN(test_resize_matches_pillow);
    RUN(test_presets);
    RUN(test_gray);
    RUN(test_flip);
    RUN(test_center_crop);
    RUN(test_view_corners);
    RUN(test_bad_arguments);
    RUN(test_resize_avx2_vs_scalar);
    RUN(test_resize_avx512vbmi_vs_scalar);
    RUN(test_reference_mobilenet_v2_224);
    RUN(test_reference_mobilenet_v1_192);
    return check_done();
}
