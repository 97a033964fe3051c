/* Every image format against Pillow 9.4: tests/extract/format_cases.py writes small images with
 * Pillow (palette, alpha, 16-bit, gray, interlaced, animated, compressed cases per format, BMPs
 * built by hand for the layouts Pillow does not write, and the files tests/support/format_seeds.c
 * writes with giflib, libwebp and libtiff: offset GIF frames, tiled TIFF, ...) and Pillow's Image.open(f).convert("RGB")
 * of each; fc_image_load must give the same bytes (lossy WebP and JPEG-in-TIFF too: both sides
 * use Debian's libwebp and libjpeg-turbo). Cut or unsupported files must give a clean error.
 * Skipped when /usr/bin/python3 has no Pillow. Not here: resizing (test_preprocess.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/stat.h>

#include "extract/image.h"
#include "tests/support/check.h"
#include "tests/support/format_seeds.h"
#include "tests/support/tmpdir.h"

static int have_cases; /* 1: written; 0: no Pillow (skip); -1: the generator failed (fail) */

/* Reads a binary PPM (P6, maxval 255) into img; 0 on success. */
static int read_ppm(const char *path, fc_image *img) {
    FILE *f = fopen(path, "rb");
    int w = 0, h = 0, maxv = 0;
    if (!f) return -1;
    if (fscanf(f, "P6 %d %d %d", &w, &h, &maxv) != 3 || maxv != 255 || fgetc(f) == EOF || w <= 0 || h <= 0) {
        fclose(f);
        return -1;
    }
    img->width = w, img->height = h;
    img->rgb = malloc((size_t)w * h * 3);
    size_t n = img->rgb ? fread(img->rgb, 1, (size_t)w * h * 3, f) : 0;
    fclose(f);
    return n == (size_t)w * h * 3 ? 0 : -1;
}

/* Every case whose file name ends with `suffix`: orientN.* only with orient (decoded with the
 * orientation applied; their references are Pillow's ImageOps.exif_transpose, for TIFF the image as
 * Pillow 9.4 loads it, already turned), the others decoded as stored (they carry no orientation). */
static void check_cases(const char *suffix, int orient) {
    if (!have_cases) SKIP("/usr/bin/python3 with Pillow and numpy is not available");
    REQUIRE(have_cases > 0, "writing the seeds or tests/extract/format_cases.py failed (see %s)", fc_test_path("python.log"));
    FILE *list = fopen(fc_test_path("cases.txt"), "r");
    REQUIRE(list, "no cases.txt");
    char name[128], expect[16];
    int n = 0;
    while (fscanf(list, "%127s %15s", name, expect) == 2) {
        size_t ln = strlen(name), ls = strlen(suffix);
        if (ln < ls || strcmp(name + ln - ls, suffix) || (strncmp(name, "orient", 6) == 0) != orient) continue;
        n++;
        fc_image img = {0}, ref = {0};
        fc_error err = {0};
        int rc = fc_image_load(fc_test_path(name), 0, 0, orient ? FC_EXIF_APPLY : FC_EXIF_IGNORE, &img, &err);
        if (!strcmp(expect, "bad")) {
            CHECK(rc != 0 && strstr(err.msg, name), "%s: expected an error naming the file, got rc %d '%s'", name, rc,
                  err.msg);
        } else {
            char ppm[160];
            snprintf(ppm, sizeof ppm, "%s.ppm", name);
            CHECK(rc == 0, "%s: %s", name, err.msg);
            CHECK(read_ppm(fc_test_path(ppm), &ref) == 0, "%s: no reference", name);
            if (rc == 0 && ref.rgb) {
                CHECK(img.width == ref.width && img.height == ref.height, "%s: %dx%d, Pillow %dx%d", name, img.width,
                      img.height, ref.width, ref.height);
                if (img.width == ref.width && img.height == ref.height) {
                    size_t diff = 0, total = (size_t)img.width * img.height * 3;
                    for (size_t i = 0; i < total; i++) diff += img.rgb[i] != ref.rgb[i];
                    CHECK(diff == 0, "%s: %zu of %zu bytes differ from Pillow's", name, diff, total);
                }
            }
        }
        fc_image_free(&img);
        fc_image_free(&ref);
    }
    fclose(list);
    CHECK(n > 0, "no cases end with %s", suffix);
}

static void test_png_like_pillow(void) { check_cases(".png", 0); }
static void test_gif_like_pillow(void) { check_cases(".gif", 0); }
static void test_webp_like_pillow(void) { check_cases(".webp", 0); }
static void test_bmp_like_pillow(void) { check_cases(".bmp", 0); }
static void test_tiff_like_pillow(void) { check_cases(".tif", 0); }

/* The 8 orientations in each format that carries them, against ImageOps.exif_transpose; and
 * FC_EXIF_IGNORE gives the stored pixels (orientation 6's image keeps its stored width). */
static void test_exif_orientation_like_pillow(void) {
    static const char *const ext[] = {".jpg", ".webp", ".png", ".tif"};
    for (int i = 0; i < 4; i++) check_cases(ext[i], 1);
    if (have_cases <= 0) return;
    fc_image img = {0};
    fc_error err = {0};
    CHECK(fc_image_load(fc_test_path("orient6.jpg"), 0, 0, FC_EXIF_IGNORE, &img, &err) == 0 && img.width == 40 &&
              img.height == 24, "ignore: %dx%d %s", img.width, img.height, err.msg);
    fc_image_free(&img);
    /* the DCT hint is for the turned image: a 24x40 (turned) request may not scale the stored 40x24 below 24 wide */
    CHECK(fc_image_load(fc_test_path("orient6.jpg"), 20, 12, FC_EXIF_APPLY, &img, &err) == 0 && img.width == 24 &&
              img.height == 40, "turned with a hint: %dx%d %s", img.width, img.height, err.msg);
    fc_image_free(&img);
}

int main(void) {
    char cmd[512];
    mkdir(fc_test_path("seeds"), 0700);
    int seeds_failed = fc_test_write_format_seeds(fc_test_path("seeds"));
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 tests/extract/format_cases.py %s >%s 2>&1", fc_test_tmpdir(),
             fc_test_path("python.log"));
    if (system("/usr/bin/python3 -c 'import PIL, numpy' >/dev/null 2>&1") == 0)
        have_cases = system(cmd) == 0 && !seeds_failed ? 1 : -1;
    RUN(test_png_like_pillow);
    RUN(test_gif_like_pillow);
    RUN(test_webp_like_pillow);
    RUN(test_bmp_like_pillow);
    RUN(test_tiff_like_pillow);
    RUN(test_exif_orientation_like_pillow);
    return check_done();
}
