/* Small valid files of the formats beside JPEG and PNG, written with their libraries' encoders (GIF:
 * giflib, WebP: libwebp, TIFF: libtiff) or by hand (BMP): the fuzz seeds for those decoders
 * (tests/fuzz/make_seeds.c) and, read by Pillow for reference, layouts Pillow cannot write
 * (tests/extract/test_formats.c: offset GIF frames, tiled TIFF, ...). Deterministic pixels. */
#ifndef FC_TEST_FORMAT_SEEDS_H
#define FC_TEST_FORMAT_SEEDS_H

/* Writes DIR/NAME for every name in fc_test_format_seed_names (NULL-terminated); returns how many
 * could not be written (0 = all). */
int fc_test_write_format_seeds(const char *dir);
extern const char *const fc_test_format_seed_names[];

#endif
