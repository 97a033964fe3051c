/* Tests for extractor ids (extract/extractor.h): an unpooled layer keeps the id it had before
 * pooling existed (the SHA-256 of the same description, so caches made then still serve), an
 * average-pooled layer gets another id, so does a gray one, and the layer's label in the catalog says avgpool(NAME). */
#include <stdio.h>
#include <string.h>

#include "extract/extractor.h"
#include "store/hash.h"
#include "tests/support/check.h"

static void test_ids(void) {
    const char *sha = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    char id[65], pooled[65], gray[65], old[65];
    fc_extractor_id(sha, "t140", FC_POOL_NONE, 96, 1, FC_PRESET_TF, 0, FC_DTYPE_F32, id);
    fc_extractor_id(sha, "t140", FC_POOL_AVG, 96, 1, FC_PRESET_TF, 0, FC_DTYPE_F32, pooled);
    fc_extractor_id(sha, "t140", FC_POOL_NONE, 96, 1, FC_PRESET_TF, 1, FC_DTYPE_F32, gray);
    char desc[512];
    int n = snprintf(desc, sizeof desc, "featcache-extractor/2\nmodel=%s\nlayer=t140\nsize=96x96\ncrop=1.000000\n"
                     "preprocess=tf\ndtype=f32\n", sha);
    uint8_t h[32];
    fc_sha256_digest(desc, (size_t)n, h);
    fc_hex_encode(h, 32, old);
    CHECK(!strcmp(id, old), "unpooled id changed: %s vs %s", id, old);
    CHECK(strcmp(pooled, id) && strlen(pooled) == 64, "pooled id %s", pooled);
    CHECK(strcmp(gray, id) && strcmp(gray, pooled) && strlen(gray) == 64, "gray id %s", gray);
    char label[64];
    fc_extractor_layer_label("t140", FC_POOL_AVG, label, sizeof label);
    CHECK(!strcmp(label, "avgpool(t140)"), "%s", label);
    fc_extractor_layer_label("t140", FC_POOL_NONE, label, sizeof label);
    CHECK(!strcmp(label, "t140"), "%s", label);
}

int main(void) {
    RUN(test_ids);
    return check_done();
}
