/* libFuzzer target: image bytes -> fc_image_decode (JPEG/PNG by magic bytes, with a DCT-scaling
 * hint) -> fc_preprocess_image to 224x224 with a preset, crop and flip chosen from the input's last
 * byte (so one corpus covers every preprocessing path). Any error code is a fine outcome; crashes,
 * sanitizer reports, leaks and timeouts are not. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "extract/image.h"
#include "extract/preprocess.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    unsigned sel = size ? data[size - 1] : 0;
    fc_preprocess p = {.width = 224, .height = 224, .crop = (sel & 4) ? 0.875f : 1.0f,
                       .preset = (fc_preset)(sel % 3), .flip = (sel >> 3) & 1,
                       .corner = (int)((sel >> 4) % 5)};
    int min_w, min_h;
    fc_preprocess_decode_hint(&p, &min_w, &min_h);
    if (sel & 0x80) min_w = min_h = 8; /* small hint: lets JPEG DCT-domain scaling kick in */
    fc_image img;
    fc_error err;
    if (fc_image_decode(data, size, "fuzz", min_w, min_h, &img, &err) != 0) return 0;
    float *out = malloc(3 * 224 * 224 * sizeof(float));
    if (out) fc_preprocess_image(&img, &p, out, &err);
    free(out);
    fc_image_free(&img);
    return 0;
}
