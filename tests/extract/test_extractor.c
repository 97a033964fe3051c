/* Tests for extractor ids (extract/extractor.h): the id is the SHA-256 of its description, which
 * since the decoders and the EXIF handling joined it ends with their lines (so every id made
 * before changed once); an average-pooled layer, a gray one and one that ignores EXIF orientation
 * get other ids; a catalog row whose id an older definition made (the same description without
 * those lines) is told apart from a current one; the layer's label in the catalog says
 * avgpool(NAME). */
#include <stdio.h>
#include <string.h>

#include "extract/extractor.h"
#include "store/hash.h"
#include "tests/support/check.h"

static const char *sha = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/* SHA-256 of the description of layer t140, 96 px, whole image, tf, f32, plus `tail`. */
static void described(const char *tail, char out[65]) {
    char desc[512];
    int n = snprintf(desc, sizeof desc, "featcache-extractor/2\nmodel=%s\nlayer=t140\nsize=96x96\ncrop=1.000000\n"
                     "preprocess=tf\ndtype=f32\n%s", sha, tail);
    uint8_t h[32];
    fc_sha256_digest(desc, (size_t)n, h);
    fc_hex_encode(h, 32, out);
}

static void test_ids(void) {
    char id[65], pooled[65], gray[65], noexif[65], want[65], old[65], dec[96], tail[160];
    fc_extractor_id(sha, "t140", FC_POOL_NONE, 96, 1, FC_PRESET_TF, 0, FC_DTYPE_F32, FC_EXIF_APPLY, id);
    fc_extractor_id(sha, "t140", FC_POOL_AVG, 96, 1, FC_PRESET_TF, 0, FC_DTYPE_F32, FC_EXIF_APPLY, pooled);
    fc_extractor_id(sha, "t140", FC_POOL_NONE, 96, 1, FC_PRESET_TF, 1, FC_DTYPE_F32, FC_EXIF_APPLY, gray);
    fc_extractor_id(sha, "t140", FC_POOL_NONE, 96, 1, FC_PRESET_TF, 0, FC_DTYPE_F32, FC_EXIF_IGNORE, noexif);
    fc_extractor_decoders(dec, sizeof dec);
    CHECK(!strncmp(dec, "libjpeg-turbo ", 14) && strstr(dec, " libwebp "), "decoders '%s'", dec);
    snprintf(tail, sizeof tail, "decoders=%s\nexif=apply\n", dec);
    described(tail, want);
    described("", old);
    CHECK(!strcmp(id, want), "id %s is not the SHA-256 of its description (%s)", id, want);
    CHECK(strcmp(id, old), "the id did not change with the decoders and EXIF lines");
    CHECK(strcmp(pooled, id) && strlen(pooled) == 64, "pooled id %s", pooled);
    CHECK(strcmp(gray, id) && strcmp(gray, pooled) && strlen(gray) == 64, "gray id %s", gray);
    CHECK(strcmp(noexif, id) && strcmp(noexif, gray) && strlen(noexif) == 64, "exif-ignore id %s", noexif);
    char label[64];
    fc_extractor_layer_label("t140", FC_POOL_AVG, label, sizeof label);
    CHECK(!strcmp(label, "avgpool(t140)"), "%s", label);
    fc_extractor_layer_label("t140", FC_POOL_NONE, label, sizeof label);
    CHECK(!strcmp(label, "t140"), "%s", label);
    fc_extractor_preprocess_label(FC_PRESET_TORCH, 1, FC_EXIF_IGNORE, FC_COMPUTE_F32, label, sizeof label);
    CHECK(!strcmp(label, "torch+gray+exif-ignore"), "%s", label);
}

/* Rows as the catalog holds them: current ids are recognised for every option that is in the
 * label, an id of the older definition is not. */
static void test_current_or_older(void) {
    fc_catalog_extractor row = {.model_sha256 = sha, .layer = "t140", .size = 96, .crop = 1, .preprocess = "tf",
                                .dtype = FC_DTYPE_F32};
    fc_extractor_id(sha, "t140", FC_POOL_NONE, 96, 1, FC_PRESET_TF, 0, FC_DTYPE_F32, FC_EXIF_APPLY, row.id);
    CHECK(fc_extractor_is_current(&row) == 1, "a current row is called older");
    described("", row.id); /* what the definition before the decoders and EXIF lines made */
    CHECK(fc_extractor_is_current(&row) == 0, "an older row is called current");
    row.layer = "avgpool(t140)", row.preprocess = "caffe+gray+exif-ignore", row.crop = 0.875, row.dtype = FC_DTYPE_F16;
    fc_extractor_id(sha, "t140", FC_POOL_AVG, 96, 0.875f, FC_PRESET_CAFFE, 1, FC_DTYPE_F16, FC_EXIF_IGNORE, row.id);
    CHECK(fc_extractor_is_current(&row) == 1, "a pooled gray exif-ignore row is called older");
    row.preprocess = "caffe+gray";
    CHECK(fc_extractor_is_current(&row) == 0, "a row whose label does not match its id is called current");
    row.preprocess = "nonsense";
    CHECK(fc_extractor_is_current(&row) == 0, "an unknown label is called current");
}

int main(void) {
    RUN(test_ids);
    RUN(test_current_or_older);
    return check_done();
}
