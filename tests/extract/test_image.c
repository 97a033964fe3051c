/* Tests for extract/image.c: JPEG DCT-scale selection on a synthetic TurboJPEG-encoded image,
 * PNG colour types written with libpng's write API, CMYK/gray JPEGs, and bad input (truncated,
 * corrupt, unsupported, empty, missing, oversized, fuzzed), each with its error code and a message
 * naming the file. Files are written to a private temporary directory. Comparison against Pillow
 * on the shared photos is in test_preprocess.c. Not a speed test. */
#include "extract/image.h"

#include <png.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>
#include <unistd.h>

#include "tests/support/check.h"
#include "tests/support/tmpdir.h"

/* ---- helpers ------------------------------------------------------------------------------- */

typedef struct buf {
    uint8_t *data;
    size_t size, cap;
} buf;

static void buf_append(buf *b, const void *p, size_t n) {
    if (b->size + n > b->cap) {
        b->cap = (b->size + n) * 2;
        b->data = realloc(b->data, b->cap);
        if (!b->data)
            abort();
    }
    memcpy(b->data + b->size, p, n);
    b->size += n;
}

static uint32_t lcg(uint32_t *s) {
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}

/* PNG chunk CRC (ISO 3309 / zlib crc32), bitwise: only used on a few bytes. */
static uint32_t png_crc(const uint8_t *p, size_t n) {
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
    }
    return c ^ 0xffffffffu;
}

static int write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    int ok = fwrite(data, 1, n, f) == n;
    return fclose(f) == 0 && ok ? 0 : -1;
}

static uint8_t *read_file(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    buf b = {0};
    uint8_t chunk[65536];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0)
        buf_append(&b, chunk, got);
    fclose(f);
    *n = b.size;
    return b.data;
}

/* Smooth test pattern (h, w, 3): R follows x, G follows y, B constant. */
static uint8_t *gradient(int w, int h) {
    uint8_t *p = malloc((size_t)w * h * 3);
    if (!p)
        abort();
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
            uint8_t *q = p + ((size_t)y * w + x) * 3;
            q[0] = (uint8_t)(x * 255 / (w - 1));
            q[1] = (uint8_t)(y * 255 / (h - 1));
            q[2] = 100;
        }
    }
    return p;
}

/* JPEG of `pixels` (h, w, channels of pf) through TurboJPEG; caller frees with tjFree. */
static uint8_t *encode_jpeg(const uint8_t *pixels, int w, int h, int pf, int subsamp, int quality,
                            unsigned long *size) {
    tjhandle tj = tjInitCompress();
    uint8_t *jpeg = NULL;
    *size = 0;
    if (tj && tjCompress2(tj, pixels, w, 0, h, pf, &jpeg, size, subsamp, quality, 0) != 0) {
        tjFree(jpeg);
        jpeg = NULL;
    }
    if (tj)
        tjDestroy(tj);
    return jpeg;
}

static void png_write_mem(png_structp png, png_bytep p, png_size_t n) {
    buf_append(png_get_io_ptr(png), p, n);
}
static void png_flush_mem(png_structp png) {
    (void)png;
}

typedef struct png_spec {
    int w, h, depth, color, interlace;
    const uint8_t *rows; /* (h, rowbytes) in PNG layout (16-bit big-endian) */
    const png_color *palette;
    int npalette;
    const uint8_t *trans; /* palette alpha */
    int ntrans;
} png_spec;

/* PNG bytes for spec, or size 0 on failure. */
static buf encode_png(const png_spec *s) {
    buf out = {0};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info || setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        free(out.data);
        return (buf){0};
    }
    png_set_write_fn(png, &out, png_write_mem, png_flush_mem);
    png_set_IHDR(png, info, s->w, s->h, s->depth, s->color, s->interlace,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (s->palette)
        png_set_PLTE(png, info, s->palette, s->npalette);
    if (s->trans)
        png_set_tRNS(png, info, s->trans, s->ntrans, NULL);
    png_write_info(png, info);
    size_t rowbytes = png_get_rowbytes(png, info);
    int passes = png_set_interlace_handling(png);
    for (int pass = 0; pass < passes; pass++)
        for (int y = 0; y < s->h; y++)
            png_write_row(png, s->rows + (size_t)y * rowbytes);
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    return out;
}

/* Decodes data under `name` and checks it fails with `code` and a message naming the file. */
static void expect_error(const uint8_t *data, size_t n, const char *name, int code,
                         const char *fragment) {
    fc_image img;
    fc_error err = {0};
    int rc = fc_image_decode(data, n, name, 0, 0, FC_EXIF_APPLY, &img, &err);
    CHECK(rc == code, "%s: got %d (%s), want %d", name, rc, err.msg, code);
    CHECK(img.rgb == NULL && img.width == 0, "%s: output not zeroed on error", name);
    CHECK(strstr(err.msg, name) != NULL, "%s: message '%s' lacks the name", name, err.msg);
    if (fragment)
        CHECK(strstr(err.msg, fragment) != NULL, "%s: '%s' lacks '%s'", name, err.msg, fragment);
    fc_image_free(&img);
}

/* Same through a file on disk and fc_image_load. */
static void expect_file_error(const char *file, const uint8_t *data, size_t n, int code,
                              const char *fragment) {
    const char *path = fc_test_path(file);
    if (write_file(path, data, n) != 0) {
        CHECK(0, "cannot write %s", path);
        return;
    }
    fc_image img;
    fc_error err = {0};
    int rc = fc_image_load(path, 0, 0, FC_EXIF_APPLY, &img, &err);
    CHECK(rc == code, "%s: got %d (%s), want %d", file, rc, err.msg, code);
    CHECK(img.rgb == NULL, "%s: output not zeroed on error", file);
    CHECK(strstr(err.msg, path) != NULL, "%s: message '%s' lacks the path", file, err.msg);
    if (fragment)
        CHECK(strstr(err.msg, fragment) != NULL, "%s: '%s' lacks '%s'", file, err.msg, fragment);
    fc_image_free(&img);
}

/* ---- JPEG ---------------------------------------------------------------------------------- */

static void test_jpeg_dct_scaling(void) {
    const int w = 1600, h = 1200;
    uint8_t *rgb = gradient(w, h);
    unsigned long n;
    uint8_t *jpeg = encode_jpeg(rgb, w, h, TJPF_RGB, TJSAMP_420, 95, &n);
    free(rgb);
    REQUIRE(jpeg, "tjCompress2 failed");
    static const struct {
        int min_w, min_h, want_w, want_h;
    } cases[] = {
        {0, 0, 1600, 1200},                              /* no hint: full size */
        {0, 100, 1600, 1200},                            /* half a hint: no scaling */
        {1600, 1200, 1600, 1200}, {801, 10, 1600, 1200}, /* 1/2 would give 800 < 801 */
        {800, 600, 800, 600},                            /* exactly 1/2 */
        {224, 224, 400, 300},                            /* 1/8 -> 200x150 too small, 1/4 fits */
        {150, 150, 200, 150},                            /* 1/8 */
        {1, 1, 200, 150},                                /* never below 1/8 */
        {100, 301, 800, 600},                            /* the height decides */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fc_image img;
        fc_error err = {0};
        int rc =
            fc_image_decode(jpeg, n, "synthetic.jpg", cases[i].min_w, cases[i].min_h, FC_EXIF_APPLY, &img, &err);
        CHECK(rc == 0, "hint %dx%d: %s", cases[i].min_w, cases[i].min_h, err.msg);
        if (rc)
            continue;
        CHECK(img.width == cases[i].want_w && img.height == cases[i].want_h,
              "hint %dx%d: got %dx%d, want %dx%d", cases[i].min_w, cases[i].min_h, img.width,
              img.height, cases[i].want_w, cases[i].want_h);
        CHECK(img.width >= cases[i].min_w && img.height >= cases[i].min_h, "result below hint");
        /* The content is the downscaled gradient: pixel x covers source columns [s*x, s*x+s). */
        int s = w / img.width, bad = 0;
        for (int y = 0; y < img.height; y += 7) {
            for (int x = 0; x < img.width; x += 5) {
                const uint8_t *p = img.rgb + ((size_t)y * img.width + x) * 3;
                double ex = (s * x + (s - 1) / 2.0) * 255.0 / (w - 1);
                double ey = (s * y + (s - 1) / 2.0) * 255.0 / (h - 1);
                if (abs(p[0] - (int)(ex + 0.5)) > 4 || abs(p[1] - (int)(ey + 0.5)) > 4 ||
                    abs(p[2] - 100) > 4)
                    bad++;
            }
        }
        CHECK(bad == 0, "scale 1/%d: %d sampled pixels off the gradient by more than 4", s, bad);
        fc_image_free(&img);
    }
    /* Odd sizes: TurboJPEG rounds the scaled size up, and so does the hint check. */
    uint8_t *odd = gradient(1001, 777);
    uint8_t *jodd = encode_jpeg(odd, 1001, 777, TJPF_RGB, TJSAMP_444, 90, &n);
    free(odd);
    tjFree(jpeg);
    REQUIRE(jodd, "tjCompress2 failed (odd)");
    fc_image img;
    fc_error err = {0};
    CHECK(fc_image_decode(jodd, n, "odd.jpg", 126, 98, FC_EXIF_APPLY, &img, &err) == 0, "%s", err.msg);
    CHECK(img.width == 126 && img.height == 98, "got %dx%d, want 126x98 (1/8)", img.width,
          img.height);
    fc_image_free(&img);
    CHECK(fc_image_decode(jodd, n, "odd.jpg", 127, 98, FC_EXIF_APPLY, &img, &err) == 0, "%s", err.msg);
    CHECK(img.width == 251 && img.height == 195, "got %dx%d, want 251x195 (1/4)", img.width,
          img.height);
    fc_image_free(&img);
    tjFree(jodd);
}

static void test_jpeg_gray_and_cmyk(void) {
    const int w = 64, h = 48;
    uint8_t gray[64 * 48], cmyk[64 * 48 * 4];
    for (int i = 0; i < w * h; i++) {
        gray[i] = (uint8_t)(i % 251);
        /* flat CMYK patches so JPEG loss stays small: TurboJPEG/Adobe convention, 255 = no ink */
        int patch = (i % w) / 16;
        static const uint8_t ink[4][4] = {
            {255, 255, 255, 255}, {0, 255, 255, 255}, {255, 128, 0, 255}, {200, 200, 200, 100}};
        memcpy(cmyk + 4 * i, ink[patch], 4);
    }
    unsigned long n;
    uint8_t *jg = encode_jpeg(gray, w, h, TJPF_GRAY, TJSAMP_GRAY, 100, &n);
    REQUIRE(jg, "gray encode failed");
    fc_image img;
    fc_error err = {0};
    int rc = fc_image_decode(jg, n, "gray.jpg", 0, 0, FC_EXIF_APPLY, &img, &err);
    tjFree(jg);
    REQUIRE(rc == 0, "gray: %s", err.msg);
    CHECK(img.width == w && img.height == h, "gray size %dx%d", img.width, img.height);
    int maxd = 0, notgray = 0;
    for (int i = 0; i < w * h; i++) {
        const uint8_t *p = img.rgb + 3 * i;
        if (p[0] != p[1] || p[1] != p[2])
            notgray++;
        int d = abs(p[0] - gray[i]);
        if (d > maxd)
            maxd = d;
    }
    CHECK(notgray == 0, "%d gray pixels decoded with R != G != B", notgray);
    CHECK(maxd <= 12, "gray JPEG at quality 100 off by %d", maxd);
    fc_image_free(&img);

    uint8_t *jc = encode_jpeg(cmyk, w, h, TJPF_CMYK, TJSAMP_444, 100, &n);
    REQUIRE(jc, "CMYK encode failed");
    rc = fc_image_decode(jc, n, "cmyk.jpg", 0, 0, FC_EXIF_APPLY, &img, &err);
    tjFree(jc);
    REQUIRE(rc == 0, "cmyk: %s", err.msg);
    /* Pillow: R = K' * C' / 255 on the stored (inverted) values. */
    static const uint8_t want[4][3] = {{255, 255, 255}, {0, 255, 255}, {255, 128, 0}, {78, 78, 78}};
    for (int patch = 0; patch < 4; patch++) {
        const uint8_t *p = img.rgb + ((size_t)(h / 2) * w + patch * 16 + 8) * 3;
        CHECK(abs(p[0] - want[patch][0]) <= 3 && abs(p[1] - want[patch][1]) <= 3 &&
                  abs(p[2] - want[patch][2]) <= 3,
              "CMYK patch %d -> (%d,%d,%d), want (%d,%d,%d)", patch, p[0], p[1], p[2],
              want[patch][0], want[patch][1], want[patch][2]);
    }
    fc_image_free(&img);
}

/* ---- PNG ----------------------------------------------------------------------------------- */

/* Decodes a PNG built from spec and compares with want (h, w, 3). */
static void check_png(const char *what, const png_spec *spec, const uint8_t *want) {
    buf png = encode_png(spec);
    if (!png.size) {
        CHECK(0, "%s: libpng could not write the test image", what);
        return;
    }
    fc_image img;
    fc_error err = {0};
    int rc = fc_image_decode(png.data, png.size, what, 0, 0, FC_EXIF_APPLY, &img, &err);
    free(png.data);
    CHECK(rc == 0, "%s: %s", what, err.msg);
    if (rc)
        return;
    CHECK(img.width == spec->w && img.height == spec->h, "%s: size %dx%d", what, img.width,
          img.height);
    if (img.width == spec->w && img.height == spec->h) {
        int bad = 0, first = -1;
        for (int i = 0; i < spec->w * spec->h * 3; i++)
            if (img.rgb[i] != want[i] && bad++ == 0)
                first = i;
        CHECK(bad == 0, "%s: %d values differ, first at %d: %d vs %d", what, bad, first,
              first >= 0 ? img.rgb[first] : 0, first >= 0 ? want[first] : 0);
    }
    fc_image_free(&img);
}

static void test_png_variants(void) {
    enum { W = 37, H = 23 }; /* odd sizes exercise Adam7 passes with partial blocks */
    static uint8_t rows[H * W * 8], want[H * W * 3];
    png_spec s = {.w = W, .h = H, .rows = rows, .interlace = PNG_INTERLACE_NONE};
#define V(x, y, k) ((uint8_t)((x)*7 + (y)*13 + (k)*71))

    /* gray 8 */
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            rows[y * W + x] = V(x, y, 0);
            memset(want + (y * W + x) * 3, V(x, y, 0), 3);
        }
    s.depth = 8, s.color = PNG_COLOR_TYPE_GRAY;
    check_png("gray8.png", &s, want);

    /* gray 16: Pillow's mode I, clipped to 255 by convert('RGB') (not the high byte) */
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            int hi = (x + y) % 2 ? V(x, y, 0) : 0; /* half the samples under 256 */
            rows[(y * W + x) * 2] = (uint8_t)hi;
            rows[(y * W + x) * 2 + 1] = (uint8_t)(255 - V(x, y, 1));
            uint8_t v = hi ? 255 : (uint8_t)(255 - V(x, y, 1));
            for (int c = 0; c < 3; c++) want[(y * W + x) * 3 + c] = v;
        }
    s.depth = 16;
    check_png("gray16.png", &s, want);

    /* gray 1-bit: 0 -> 0, 1 -> 255 */
    memset(rows, 0, sizeof rows);
    int rb1 = (W + 7) / 8;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            int bit = (x + y) % 3 == 0;
            if (bit)
                rows[y * rb1 + x / 8] |= (uint8_t)(0x80 >> (x % 8));
            memset(want + (y * W + x) * 3, bit ? 255 : 0, 3);
        }
    s.depth = 1;
    check_png("gray1.png", &s, want);

    /* gray + alpha: alpha dropped */
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            rows[(y * W + x) * 2] = V(x, y, 0);
            rows[(y * W + x) * 2 + 1] = V(x, y, 2);
            memset(want + (y * W + x) * 3, V(x, y, 0), 3);
        }
    s.depth = 8, s.color = PNG_COLOR_TYPE_GRAY_ALPHA;
    check_png("gray_alpha.png", &s, want);

    /* palette with tRNS: palette colours, transparency ignored */
    png_color pal[5] = {{255, 0, 0}, {0, 255, 0}, {0, 0, 255}, {10, 20, 30}, {200, 100, 50}};
    uint8_t trans[3] = {0, 128, 255};
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            int idx = (x * 3 + y) % 5;
            rows[y * W + x] = (uint8_t)idx;
            uint8_t *q = want + (y * W + x) * 3;
            q[0] = pal[idx].red, q[1] = pal[idx].green, q[2] = pal[idx].blue;
        }
    s.color = PNG_COLOR_TYPE_PALETTE, s.palette = pal, s.npalette = 5, s.trans = trans,
    s.ntrans = 3;
    check_png("palette_trns.png", &s, want);
    s.palette = NULL, s.trans = NULL;

    /* RGBA: alpha dropped, colour of fully transparent pixels kept (like Pillow) */
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            for (int c = 0; c < 4; c++) {
                uint8_t v = c == 3 ? (uint8_t)((x % 2) * 255) : V(x, y, c);
                rows[(y * W + x) * 4 + c] = v;
                if (c < 3)
                    want[(y * W + x) * 3 + c] = v;
            }
    s.color = PNG_COLOR_TYPE_RGB_ALPHA;
    check_png("rgba.png", &s, want);

    /* RGB 16-bit */
    for (int i = 0; i < W * H * 3; i++) {
        rows[2 * i] = want[i];
        rows[2 * i + 1] = (uint8_t)(i * 31);
    }
    s.depth = 16, s.color = PNG_COLOR_TYPE_RGB;
    check_png("rgb16.png", &s, want);

    /* RGB 8 interlaced (Adam7) */
    memcpy(rows, want, (size_t)W * H * 3);
    s.depth = 8, s.interlace = PNG_INTERLACE_ADAM7;
    check_png("interlaced.png", &s, want);

    /* gray 8 interlaced */
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            rows[y * W + x] = V(x, y, 3);
            memset(want + (y * W + x) * 3, V(x, y, 3), 3);
        }
    s.color = PNG_COLOR_TYPE_GRAY;
    check_png("gray_interlaced.png", &s, want);
#undef V
}

/* ---- bad input ----------------------------------------------------------------------------- */

/* A small valid RGB PNG (caller frees). */
static buf small_png(void) {
    static uint8_t rows[16 * 12 * 3];
    for (size_t i = 0; i < sizeof rows; i++)
        rows[i] = (uint8_t)(i * 37 + i / 7);
    png_spec s = {.w = 16, .h = 12, .depth = 8, .color = PNG_COLOR_TYPE_RGB, .rows = rows};
    return encode_png(&s);
}

static void test_bad_jpeg(void) {
    uint8_t *rgb = gradient(320, 240);
    unsigned long n;
    uint8_t *jpeg = encode_jpeg(rgb, 320, 240, TJPF_RGB, TJSAMP_420, 90, &n);
    free(rgb);
    REQUIRE(jpeg, "tjCompress2 failed");

    expect_file_error("half.jpg", jpeg, n / 2, FC_EFORMAT, "Premature end");
    /* Slightly truncated (last 2 bytes = EOI missing) is also refused: TurboJPEG only warns, and
     * a warning is an error for us (Pillow refuses it too: "image file is truncated"). */
    expect_file_error("no_eoi.jpg", jpeg, n - 2, FC_EFORMAT, "JPEG");
    expect_error(jpeg, 3, "soi_only.jpg", FC_EFORMAT, "JPEG");

    /* Garbage in the middle of the entropy-coded scan. */
    uint8_t *bad = malloc(n);
    REQUIRE(bad, "malloc");
    memcpy(bad, jpeg, n);
    uint32_t seed = 7;
    for (size_t i = n / 2; i < n / 2 + 512 && i < n - 2; i++)
        bad[i] = (uint8_t)lcg(&seed);
    expect_file_error("garbage_scan.jpg", bad, n, FC_EFORMAT, "JPEG");

    /* Corrupt header: SOF dimensions zeroed; then 65000x65000, over the pixel limit. */
    size_t sof = 0;
    for (size_t i = 2; i + 9 < n && !sof; i++)
        if (jpeg[i] == 0xff && jpeg[i + 1] == 0xc0)
            sof = i;
    REQUIRE(sof, "no SOF0 marker in the test JPEG");
    memcpy(bad, jpeg, n);
    memset(bad + sof + 5, 0, 4);
    expect_error(bad, n, "zero_size.jpg", FC_EFORMAT, NULL);
    const uint8_t dims[4] = {0xfd, 0xe8, 0xfd, 0xe8}; /* height, width = 65000 */
    memcpy(bad + sof + 5, dims, 4);
    expect_file_error("huge.jpg", bad, n, FC_ELIMIT, "65000x65000");
    free(bad);
    tjFree(jpeg);

    /* The first half of a real photo. */
    const char *shared = check_shared_dir();
    if (shared) {
        char path[512];
        snprintf(path, sizeof path, "%s/images/hot_dog.jpg", shared);
        size_t rn;
        uint8_t *real = read_file(path, &rn);
        CHECK(real != NULL, "cannot read %s", path);
        if (real)
            expect_file_error("hot_dog_half.jpg", real, rn / 2, FC_EFORMAT, "Premature end");
        free(real);
    }
}

static void test_bad_png(void) {
    buf png = small_png();
    REQUIRE(png.size > 0, "libpng could not write the test image");
    expect_file_error("half.png", png.data, png.size / 2, FC_EFORMAT, "PNG");
    expect_file_error("no_iend.png", png.data, png.size - 12, FC_EFORMAT, "PNG");
    expect_error(png.data, 8, "signature_only.png", FC_EFORMAT, "PNG");
    expect_error(png.data, 5, "short_signature.png", FC_EFORMAT, "PNG");

    /* Bad CRC on IDAT (after the 8-byte signature and 25-byte IHDR chunk): data intact, CRC
     * field changed. */
    uint8_t *bad = malloc(png.size);
    REQUIRE(bad, "malloc");
    memcpy(bad, png.data, png.size);
    REQUIRE(!memcmp(bad + 37, "IDAT", 4), "unexpected chunk order in the test PNG");
    size_t idat_len =
        (size_t)bad[33] << 24 | (size_t)bad[34] << 16 | (size_t)bad[35] << 8 | bad[36];
    REQUIRE(41 + idat_len + 4 <= png.size, "bad IDAT length in the test PNG");
    bad[41 + idat_len] ^= 0x40;
    expect_file_error("bad_crc.png", bad, png.size, FC_EFORMAT, "CRC");

    /* Corrupt compressed data inside IDAT (zlib notices before the CRC is checked). */
    memcpy(bad, png.data, png.size);
    bad[45] ^= 0x40;
    expect_error(bad, png.size, "bad_idat.png", FC_EFORMAT, "PNG");

    /* Bad CRC on IHDR itself. */
    memcpy(bad, png.data, png.size);
    bad[29] ^= 1;
    expect_error(bad, png.size, "bad_ihdr_crc.png", FC_EFORMAT, "CRC");
    free(bad);

    /* Header declaring 100000x100000 (valid CRC) followed by a tiny IDAT and IEND. */
    buf huge = {0};
    buf_append(&huge, png.data, png.size);
    const uint8_t dims[8] = {0, 1, 0x86, 0xa0, 0, 1, 0x86, 0xa0}; /* 100000 = 0x186a0 */
    memcpy(huge.data + 16, dims, 8);
    uint32_t crc = png_crc(huge.data + 12, 17);
    const uint8_t crcb[4] = {(uint8_t)(crc >> 24), (uint8_t)(crc >> 16), (uint8_t)(crc >> 8),
                             (uint8_t)crc};
    memcpy(huge.data + 29, crcb, 4);
    expect_file_error("huge.png", huge.data, huge.size, FC_ELIMIT, "100000x100000");
    free(huge.data);
    free(png.data);
}

static void test_bad_other(void) {
    const char gif[] = "GIF89a\x10\x00\x10\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04";
    /* cut files of the formats beside JPEG and PNG: each decoder's clean error (test_formats.c
     * compares their pixels with Pillow's) */
    expect_file_error("photo.gif", (const uint8_t *)gif, sizeof gif - 1, FC_EFORMAT, "corrupt GIF");
    /* Extension is irrelevant: a GIF named .jpg is still a GIF. */
    expect_file_error("disguised.jpg", (const uint8_t *)gif, sizeof gif - 1, FC_EFORMAT, "corrupt GIF");
    expect_error((const uint8_t *)"BM\x36\x00\x00\x00\x00\x00", 8, "x.bmp", FC_EFORMAT, "corrupt BMP");
    expect_error((const uint8_t *)"RIFF\x10\x00\x00\x00WEBPVP8 ", 16, "x.webp", FC_EFORMAT, "corrupt WebP");
    expect_error((const uint8_t *)"II*\x00\x08\x00\x00\x00", 8, "x.tif", FC_EFORMAT, "corrupt TIFF");
    expect_error((const uint8_t *)"\0\0\0\x18" "ftypavif\0\0\0\0", 16, "x.avif", FC_EUNSUPPORTED,
                 "AVIF images are not supported");
    /* a 14000x14000 GIF screen around a 1x1 frame: 196 megapixels declared in 35 bytes */
    static const uint8_t bomb[] = {'G', 'I', 'F', '8', '9', 'a', 0xB0, 0x36, 0xB0, 0x36, 0, 0, 0, ',', 0, 0, 0, 0, 1, 0,
                                   1, 0, 0, 2, 2, 0x4C, 0x01, 0, ';'};
    expect_error(bomb, sizeof bomb, "bomb.gif", FC_ELIMIT, "decompression bomb");
    expect_error((const uint8_t *)"<html>404</html>", 16, "x.jpg", FC_EUNSUPPORTED,
                 "not supported");

    expect_file_error("empty.jpg", (const uint8_t *)"", 0, FC_EFORMAT, "empty file");
    expect_error(NULL, 0, "empty_mem", FC_EFORMAT, "empty file");

    uint8_t rnd[4096];
    uint32_t seed = 12345;
    for (size_t i = 0; i < sizeof rnd; i++)
        rnd[i] = (uint8_t)lcg(&seed);
    REQUIRE(rnd[0] != 0xff && rnd[0] != 0x89, "seed gives a magic byte; pick another");
    expect_file_error("random.png", rnd, sizeof rnd, FC_EUNSUPPORTED, "unrecognised image format");

    fc_image img;
    fc_error err = {0};
    const char *missing = fc_test_path("does_not_exist.jpg");
    int rc = fc_image_load(missing, 0, 0, FC_EXIF_APPLY, &img, &err);
    CHECK(rc == FC_EIO, "missing file: got %d", rc);
    CHECK(strstr(err.msg, missing) && strstr(err.msg, "No such file"), "message '%s'", err.msg);
    rc = fc_image_load(fc_test_tmpdir(), 0, 0, FC_EXIF_APPLY, &img, &err);
    CHECK(rc == FC_EIO, "directory: got %d (%s)", rc, err.msg);
    CHECK(strstr(err.msg, fc_test_tmpdir()) != NULL, "message '%s'", err.msg);
    CHECK(fc_image_decode((const uint8_t *)"x", 1, "x", -1, 0, FC_EXIF_APPLY, &img, &err) == FC_EINVAL,
          "negative hint");
    fc_image_free(&img);
    fc_image_free(NULL);
}

/* Random byte mutations of valid files: every result is success or an error naming the file.
 * Catches crashes and leaks under ASan. */
static void test_fuzz_never_crashes(void) {
    uint8_t *rgb = gradient(64, 48);
    unsigned long jn;
    uint8_t *jpeg = encode_jpeg(rgb, 64, 48, TJPF_RGB, TJSAMP_420, 80, &jn);
    free(rgb);
    buf png = small_png();
    REQUIRE(jpeg && png.size, "cannot build seed images");
    const uint8_t *seeds[2] = {jpeg, png.data};
    size_t sizes[2] = {jn, png.size};
    uint32_t s = 99;
    volatile uint8_t sink = 0;
    int ok = 0, failed = 0, unnamed = 0;
    for (int iter = 0; iter < 1500; iter++) {
        int which = iter % 2;
        size_t n = sizes[which];
        uint8_t *m = malloc(n);
        if (!m)
            abort();
        memcpy(m, seeds[which], n);
        int edits = 1 + (int)(lcg(&s) % 8);
        for (int e = 0; e < edits; e++)
            m[2 + lcg(&s) % (n - 2)] = (uint8_t)lcg(&s);
        if (lcg(&s) % 4 == 0)
            n = 4 + lcg(&s) % (n - 4); /* sometimes truncate too */
        fc_image img;
        fc_error err = {0};
        int rc =
            fc_image_decode(m, n, "fuzz.img", (int)(lcg(&s) % 40), (int)(lcg(&s) % 40), FC_EXIF_APPLY, &img, &err);
        if (rc == 0) {
            ok++;
            if (img.width <= 0 || img.height <= 0 || !img.rgb)
                failed++;
            else
                sink = img.rgb[(size_t)img.width * img.height * 3 - 1]; /* ASan: full-size buffer */
        } else {
            if (!strstr(err.msg, "fuzz.img"))
                unnamed++;
            if (rc != FC_EFORMAT && rc != FC_EUNSUPPORTED && rc != FC_ELIMIT)
                failed++;
        }
        fc_image_free(&img);
        free(m);
    }
    tjFree(jpeg);
    free(png.data);
    CHECK(failed == 0, "%d mutated inputs gave an inconsistent result", failed);
    CHECK(unnamed == 0, "%d errors did not name the file", unnamed);
    (void)sink;
    printf("  fuzz: %d of 1500 mutated inputs decoded, the rest failed cleanly\n", ok);
}

int main(void) {
    RUN(test_jpeg_dct_scaling);
    RUN(test_jpeg_gray_and_cmyk);
    RUN(test_png_variants);
    RUN(test_bad_jpeg);
    RUN(test_bad_png);
    RUN(test_bad_other);
    RUN(test_fuzz_never_crashes);
    return check_done();
}
