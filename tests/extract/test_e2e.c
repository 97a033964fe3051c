/* End-to-end reference test: image files -> decode (with DCT downscaling, as `infer` does) ->
 * resize -> tf preprocessing -> network. For the three ../shared classifiers every image must get
 * ONNX Runtime's top-1 class (reference/<model>/top5.tsv) and pooled features with cosine > 0.99. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "extract/image.h"
#include "engine/model.h"
#include "extract/preprocess.h"
#include "tests/support/check.h"
#include "tests/support/npy.h"

static const char *classifiers[] = {"mobilenet_v2_1.0_224", "mobilenet_v2_1.0_224_inat_bird",
                                    "mobilenet_v1_0.75_192"};

/* Reference top-1 index of image `name` from top5.tsv, -1 if absent. */
static int ref_top1(const char *tsv, const char *name) {
    FILE *f = fopen(tsv, "r");
    if (!f) return -1;
    char line[1024];
    int found = -1;
    while (fgets(line, sizeof line, f)) {
        char img[256];
        int rank, idx;
        if (sscanf(line, "%255[^\t]\t%d\t%d", img, &rank, &idx) == 3 && rank == 1 && !strcmp(img, name)) found = idx;
    }
    fclose(f);
    return found;
}

static void test_e2e_top1_and_cosine(void) {
    const char *shared = check_shared_dir();
    if (!shared) SKIP("../shared not found (set FEATCACHE_SHARED)");
    for (size_t mi = 0; mi < sizeof classifiers / sizeof *classifiers; mi++) {
        char path[1024], msg[256], names[8][64];
        snprintf(path, sizeof path, "%s/reference/%s/images.txt", shared, classifiers[mi]);
        FILE *f = fopen(path, "r");
        REQUIRE(f, "cannot open %s", path);
        int n = 0;
        while (n < 8 && fscanf(f, "%63s", names[n]) == 1) n++;
        fclose(f);
        REQUIRE(n == 8, "images.txt lists %d images", n);
        npy_array pooled;
        snprintf(path, sizeof path, "%s/reference/%s/pooled.npy", shared, classifiers[mi]);
        int rc = npy_read(path, &pooled, msg);
        REQUIRE(rc == 0, "%s", msg);
        const char *outs[] = {"pooled", "probabilities"};
        fc_model_options mo = {.outputs = outs, .n_outputs = 2};
        fc_model *m = NULL;
        fc_session *s = NULL;
        fc_error err = {0};
        snprintf(path, sizeof path, "%s/models/%s.onnx", shared, classifiers[mi]);
        rc = fc_model_load(path, &mo, &m, &err);
        REQUIRE(rc == 0, "%s", err.msg);
        int64_t dims[4];
        fc_model_input_dims(m, dims);
        fc_session_options so = {.batch = n, .threads = 2};
        rc = fc_session_create(m, &so, &s, &err);
        REQUIRE(rc == 0, "%s", err.msg);
        fc_preprocess pre = {.width = (int)dims[3], .height = (int)dims[2], .crop = 1, .preset = FC_PRESET_TF};
        size_t per = (size_t)3 * pre.width * pre.height;
        float *input = malloc(per * n * sizeof(float));
        for (int i = 0; i < n; i++) {
            fc_image img;
            snprintf(path, sizeof path, "%s/images/%s", shared, names[i]);
            int hw, hh;
            fc_preprocess_decode_hint(&pre, &hw, &hh);
            rc = fc_image_load(path, hw, hh, FC_EXIF_APPLY, &img, &err);
            CHECK(rc == 0, "%s", err.msg);
            if (rc) continue;
            rc = fc_preprocess_image(&img, &pre, input + i * per, &err);
            CHECK(rc == 0, "%s", err.msg);
            fc_image_free(&img);
        }
        rc = fc_session_run(s, input, &err);
        CHECK(rc == 0, "%s", err.msg);
        const fc_tensor *feat = fc_session_output(s, 0), *prob = fc_session_output(s, 1);
        int64_t d = fc_tensor_count(feat) / n, k = fc_tensor_count(prob) / n;
        snprintf(path, sizeof path, "%s/reference/%s/top5.tsv", shared, classifiers[mi]);
        for (int i = 0; i < n && rc == 0; i++) {
            const float *p = (const float *)prob->data + i * k;
            int best = 0;
            for (int64_t j = 1; j < k; j++) if (p[j] > p[best]) best = (int)j;
            int want = ref_top1(path, names[i]);
            double cos = npy_cosine((const float *)feat->data + i * d, pooled.data + i * d, d);
            printf("  %-32s %-18s top1 %4d (reference %4d)  pooled cosine %.5f\n", classifiers[mi], names[i], best, want, cos);
            CHECK(best == want, "%s %s: top-1 %d, reference %d", classifiers[mi], names[i], best, want);
            CHECK(cos > 0.99, "%s %s: cosine %f", classifiers[mi], names[i], cos);
        }
        free(input);
        npy_free(&pooled);
        fc_session_free(s);
        fc_model_free(m);
    }
}

int main(void) {
    RUN(test_e2e_top1_and_cosine);
    return check_done();
}
