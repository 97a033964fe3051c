/* libFuzzer target: image bytes -> fc_image_decode (JPEG/PNG/WebP/GIF/BMP/TIFF by magic bytes, with
 * a DCT-scaling hint, EXIF orientation applied unless bit 6 of the last byte is set) -> fc_preprocess_image to 224x224 with a preset, crop and flip chosen from the input's last
 * byte (so one corpus covers every preprocessing path). Any error code is a fine outcome; crashes,
 * sanitizer reports, leaks and timeouts are not. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "extract/image.h"
#include "extract/preprocess.h"

/* Status and message of the last library call this input reached (0 = all succeeded):
 * replay_main checks them against the expected codes of the regression files. */
int fuzz_status;
fc_error fuzz_error;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_status = 0;
    fuzz_error.msg[0] = 0;
    unsigned sel = size ? data[size - 1] : 0;
    fc_preprocess p = {.width = 224, .height = 224, .crop = (sel & 4) ? 0.875f : 1.0f,
                       .preset = (fc_preset)(sel % 3), .flip = (sel >> 3) & 1,
                       .corner = (int)((sel >> 4) % 5)};
    int min_w, min_h;
    fc_preprocess_decode_hint(&p, &min_w, &min_h);
    if (sel & 0x80) min_w = min_h = 8; /* small hint: lets JPEG DCT-domain scaling kick in */
    fc_image img;
    if ((fuzz_status = fc_image_decode(data, size, "fuzz", min_w, min_h, (sel & 0x40) ? FC_EXIF_IGNORE : FC_EXIF_APPLY, &img,
                                       &fuzz_error)) != 0) return 0;
    float *out = malloc(3 * 224 * 224 * sizeof(float));
    fuzz_status = out ? fc_preprocess_image(&img, &p, out, &fuzz_error) : FC_ENOMEM;
    free(out);
    fc_image_free(&img);
    return 0;
}
