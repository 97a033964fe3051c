/* Measurement (not a test): how close `--compute bf16` stays to f32 on real images. Runs a model's
 * feature tensor (default: fc_model_default_feature, the pooled features) with the f32 kernels and
 * with fc_kernels_bf16 on every image given (files, or folders walked recursively; decoded and
 * preprocessed as extract does, no crop) and prints the smallest and the median cosine per image and
 * the worst image. --layers then prints, for the worst image, the cosine of every run-time step's
 * output (f32 vs bf16: the error accumulated up to that step), to find where it comes from.
 *   make bench && build/bench/bench_bf16_cosine MODEL.onnx [--preprocess tf|torch|caffe] [--size N]
 *        [--feature NAME] [--layers] IMAGE_OR_DIR...
 * Needs AVX512_BF16. Not here: the bound the tests hold (tests/engine/test_bf16_models.c,
 * tests/cli/test_compute_bf16.sh), the linear probe (scripts/bf16_accuracy.sh). */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "engine/model.h"
#include "extract/image.h"
#include "extract/preprocess.h"

enum { BATCH = 16, MAX_IMAGES = 20000 };

typedef struct image_list {
    char *path[MAX_IMAGES];
    int n;
} image_list;

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Adds path (a file) or every file under it (a folder), in name order. */
static void add_path(image_list *l, const char *path) {
    struct stat st;
    if (stat(path, &st) != 0) return;
    if (!S_ISDIR(st.st_mode)) {
        if (l->n < MAX_IMAGES) l->path[l->n++] = strdup(path);
        return;
    }
    DIR *d = opendir(path);
    if (!d) return;
    int first = l->n;
    struct dirent *e;
    char sub[4096];
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
        add_path(l, sub);
    }
    closedir(d);
    qsort(l->path + first, (size_t)(l->n - first), sizeof(char *), by_name);
}

typedef struct runner {
    fc_model *m;
    fc_session *s;
} runner;

static int runner_open(runner *r, const char *model, const char *const *outs, int n_outs,
                       const fc_kernels *k, int size, fc_error *err) {
    fc_model_options mo = {.outputs = outs, .n_outputs = n_outs, .kernels = k};
    fc_session_options so = {.batch = BATCH, .height = size, .width = size, .threads = 2};
    int rc = fc_model_load(model, &mo, &r->m, err);
    return rc ? rc : fc_session_create(r->m, &so, &r->s, err);
}

static void runner_close(runner *r) {
    fc_session_free(r->s);
    fc_model_free(r->m);
}

static double cosine(const float *a, const float *b, size_t d) {
    double ab = 0, aa = 0, bb = 0;
    for (size_t i = 0; i < d; i++) ab += (double)a[i] * b[i], aa += (double)a[i] * a[i], bb += (double)b[i] * b[i];
    return aa > 0 && bb > 0 ? ab / sqrt(aa * bb) : (aa == bb ? 1 : 0);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Images [i0, i0 + n) of l preprocessed into x (BATCH, 3, size, size); undecodable ones are zeros. */
static void load_batch(const image_list *l, int i0, int n, const fc_preprocess *p, float *x) {
    size_t per = (size_t)3 * p->width * p->height;
    memset(x, 0, per * BATCH * sizeof(float));
    for (int i = 0; i < n; i++) {
        fc_image img = {0};
        fc_error err = {0};
        int mw, mh;
        fc_preprocess_decode_hint(p, &mw, &mh);
        if (fc_image_load(l->path[i0 + i], mw, mh, FC_EXIF_APPLY, &img, &err) == 0)
            fc_preprocess_image(&img, p, x + per * i, &err);
        else
            fprintf(stderr, "skipped %s: %s\n", l->path[i0 + i], err.msg);
        fc_image_free(&img);
    }
}

/* Cosine of every run-time step's output between f32 and bf16 on image `path`. */
static int layers(const char *model, const char *path, const fc_preprocess *p, fc_error *err) {
    runner probe = {0};
    int rc = runner_open(&probe, model, NULL, 0, NULL, p->width, err);
    int n = rc ? 0 : fc_session_n_steps(probe.s);
    const char **names = calloc((size_t)n + 1, sizeof *names), **ops = calloc((size_t)n + 1, sizeof *ops);
    for (int i = 0; i < n; i++) {
        fc_session_step_info info;
        fc_session_step(probe.s, i, &info);
        names[i] = strdup(info.output);
        ops[i] = strdup(info.op);
    }
    runner f = {0}, b = {0};
    image_list one = {.path = {(char *)path}, .n = 1};
    float *x = malloc(sizeof(float) * 3 * p->width * p->height * BATCH);
    load_batch(&one, 0, 1, p, x);
    if (!rc) rc = runner_open(&f, model, names, n, NULL, p->width, err);
    if (!rc) rc = runner_open(&b, model, names, n, fc_kernels_bf16(), p->width, err);
    if (!rc) rc = fc_session_run(f.s, x, err);
    if (!rc) rc = fc_session_run(b.s, x, err);
    for (int i = 0; i < n && !rc; i++) {
        const fc_tensor *tf = fc_session_output(f.s, i), *tb = fc_session_output(b.s, i);
        size_t d = (size_t)(fc_tensor_count(tf) / BATCH);
        printf("  %-24s %-22s %.6f\n", names[i], ops[i], cosine(tf->data, tb->data, d));
    }
    for (int i = 0; i < n; i++) free((void *)names[i]), free((void *)ops[i]);
    free(names);
    free(ops);
    free(x);
    runner_close(&f);
    runner_close(&b);
    runner_close(&probe);
    return rc;
}

int main(int argc, char **argv) {
    const char *model = NULL, *feature = NULL;
    fc_preprocess p = {.width = 224, .height = 224, .preset = FC_PRESET_TF};
    int show_layers = 0;
    image_list *l = calloc(1, sizeof *l);
    fc_error err = {0};
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--preprocess") && i + 1 < argc) fc_preset_parse(argv[++i], &p.preset, &err);
        else if (!strcmp(argv[i], "--size") && i + 1 < argc) p.width = p.height = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--feature") && i + 1 < argc) feature = argv[++i];
        else if (!strcmp(argv[i], "--layers")) show_layers = 1;
        else if (!model) model = argv[i];
        else add_path(l, argv[i]);
    }
    if (!model || !l->n) {
        fprintf(stderr, "usage: bench_bf16_cosine MODEL.onnx [--preprocess tf|torch|caffe] [--size N] "
                        "[--feature NAME] [--layers] IMAGE_OR_DIR...\n");
        return 64;
    }
    if (!fc_kernels_bf16()) {
        fprintf(stderr, "bench_bf16_cosine: this CPU has no AVX512_BF16\n");
        return 1;
    }
    runner probe = {0}, f = {0}, b = {0};
    int rc = runner_open(&probe, model, NULL, 0, NULL, p.width, &err);
    char feat[512] = "";
    if (!rc) snprintf(feat, sizeof feat, "%s", feature ? feature : fc_model_default_feature(probe.m));
    const char *outs[1] = {feat};
    if (!rc) rc = runner_open(&f, model, outs, 1, NULL, p.width, &err);
    if (!rc) rc = runner_open(&b, model, outs, 1, fc_kernels_bf16(), p.width, &err);
    double *cos = calloc((size_t)l->n, sizeof *cos), *sorted = calloc((size_t)l->n, sizeof *sorted);
    float *x = malloc(sizeof(float) * 3 * p.width * p.height * BATCH);
    for (int i0 = 0; i0 < l->n && !rc; i0 += BATCH) {
        int n = l->n - i0 < BATCH ? l->n - i0 : BATCH;
        load_batch(l, i0, n, &p, x);
        if ((rc = fc_session_run(f.s, x, &err)) || (rc = fc_session_run(b.s, x, &err))) break;
        const fc_tensor *tf = fc_session_output(f.s, 0), *tb = fc_session_output(b.s, 0);
        size_t d = (size_t)(fc_tensor_count(tf) / BATCH);
        for (int i = 0; i < n; i++) cos[i0 + i] = cosine((float *)tf->data + d * i, (float *)tb->data + d * i, d);
    }
    int worst = 0;
    if (!rc) {
        for (int i = 0; i < l->n; i++) {
            sorted[i] = cos[i];
            if (cos[i] < cos[worst]) worst = i;
        }
        qsort(sorted, (size_t)l->n, sizeof *sorted, cmp_double);
        int below = 0;
        for (int i = 0; i < l->n; i++) below += cos[i] < 0.999;
        printf("%s  feature %s  images %d  min %.6f  median %.6f  below 0.999: %d  worst %s\n", model, feat, l->n,
               sorted[0], sorted[l->n / 2], below, l->path[worst]);
    }
    runner_close(&f);
    runner_close(&b);
    runner_close(&probe);
    if (!rc && show_layers) rc = layers(model, l->path[worst], &p, &err);
    if (rc) fprintf(stderr, "bench_bf16_cosine: %s\n", err.msg);
    for (int i = 0; i < l->n; i++) free(l->path[i]);
    free(l);
    free(cos);
    free(sorted);
    free(x);
    return rc ? 1 : 0;
}
