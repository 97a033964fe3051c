/* Benchmark (not a test): the softmax head's 9-value L2 path (l2 = 1e2 ... 1e-6, i.e. C = 1e-2 ...
 * 1e6, warm-started), the counterpart of scripts/sklearn_compare.py, plus one MLP and one NCM fit
 * for scale.
 *   build/bench/bench_heads [--write DIR] [--normalize std|l2|none] [--repeat N] [--threads N]
 *       random 245 x 1280 two-class problem (nonnegative, ReLU-like features, 153 val rows);
 *       --write DIR also saves it as DIR/features.npy, labels.txt, splits.txt for the script
 *   build/bench/bench_heads FEATURES.npy LABELS.txt SPLITS.txt [options]   real features
 *   --l2 LO,HI,N: the path over N log-spaced values from HI down to LO instead (e.g. 1e-2,1e3,16,
 *   the Fashion-MNIST sweep of issue 14); --softmax-only skips the MLP and NCM fits
 * Build: make bench. Times are the best of --repeat rounds (default 7; on a
 * shared machine the best is the reproducible figure); the transform is fitted before timing, as
 * in the script. Not a correctness check (tests/classify/test_heads_*.c are). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "classify/metrics.h"
#include "classify/mlp.h"
#include "classify/ncm.h"
#include "classify/softmax.h"
#include "classify/transform.h"
#include "tests/support/npy.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef struct dataset {
    float *x;     /* (n, d) all rows */
    int *y;       /* (n) class index */
    int *is_val;  /* (n) */
    int n, d, k;
    char names[16][64];
} dataset;

static unsigned long long rs = 0x9e3779b97f4a7c15ull;
static double unif(void) {
    rs ^= rs << 13, rs ^= rs >> 7, rs ^= rs << 17;
    return (rs >> 11) * 0x1.0p-53;
}
static double gauss(void) { return sqrt(-2 * log(unif() + 1e-300)) * cos(6.283185307179586 * unif()); }

/* 398 rows x 1280: relu(latent mix + noise), labels from a noisy linear rule, 245 train. */
static void make_random(dataset *s) {
    int n = 398, d = 1280, r = 32;
    s->n = n, s->d = d, s->k = 2;
    strcpy(s->names[0], "a"), strcpy(s->names[1], "b");
    s->x = malloc((size_t)n * d * sizeof *s->x);
    s->y = malloc((size_t)n * sizeof *s->y);
    s->is_val = malloc((size_t)n * sizeof *s->is_val);
    double *mix = malloc((size_t)r * d * sizeof *mix), z[32];
    for (int q = 0; q < r * d; q++) mix[q] = gauss() / sqrt(r);
    for (int i = 0; i < n; i++) {
        for (int t = 0; t < r; t++) z[t] = gauss();
        s->y[i] = z[0] + 0.5 * z[1] + 0.7 * gauss() > 0;
        for (int j = 0; j < d; j++) {
            double v = 0.3 * gauss();
            for (int t = 0; t < r; t++) v += mix[t * d + j] * z[t];
            s->x[(size_t)i * d + j] = (float)(v > 0 ? v : 0);
        }
        s->is_val[i] = i >= 245;
    }
    free(mix);
}

static int write_dir(const dataset *s, const char *dir) {
    char path[1024];
    mkdir(dir, 0755);
    snprintf(path, sizeof path, "%s/features.npy", dir);
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    char hdr[128];
    int len = snprintf(hdr, sizeof hdr, "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }", s->n, s->d);
    int total = 10 + len + 1, pad = (64 - total % 64) % 64;
    unsigned short hl = (unsigned short)(len + pad + 1);
    fwrite("\x93NUMPY\x01\x00", 1, 8, f);
    fwrite(&hl, 2, 1, f);
    fwrite(hdr, 1, (size_t)len, f);
    for (int i = 0; i < pad; i++) fputc(' ', f);
    fputc('\n', f);
    fwrite(s->x, sizeof(float), (size_t)s->n * s->d, f);
    fclose(f);
    snprintf(path, sizeof path, "%s/labels.txt", dir);
    FILE *fl = fopen(path, "w");
    snprintf(path, sizeof path, "%s/splits.txt", dir);
    FILE *fs = fopen(path, "w");
    if (!fl || !fs) return -1;
    for (int i = 0; i < s->n; i++) fprintf(fl, "%s\n", s->names[s->y[i]]), fprintf(fs, "%s\n",
        s->is_val[i] ? "val" : "train");
    fclose(fl);
    fclose(fs);
    return 0;
}

static int read_real(dataset *s, const char *feat, const char *labels, const char *splits) {
    npy_array a;
    char msg[256], line[256];
    if (npy_read(feat, &a, msg) || a.rank != 2) {
        fprintf(stderr, "%s: %s\n", feat, msg);
        return -1;
    }
    s->n = (int)a.dims[0], s->d = (int)a.dims[1], s->x = a.data, s->k = 0;
    s->y = malloc((size_t)s->n * sizeof *s->y);
    s->is_val = malloc((size_t)s->n * sizeof *s->is_val);
    FILE *fl = fopen(labels, "r"), *fs = fopen(splits, "r");
    if (!fl || !fs) return -1;
    for (int i = 0; i < s->n; i++) {
        if (!fgets(line, sizeof line, fl)) return -1;
        line[strcspn(line, "\r\n")] = 0;
        int c = 0;
        while (c < s->k && strcmp(s->names[c], line)) c++;
        if (c == s->k) {
            if (s->k == 16) return -1;
            snprintf(s->names[s->k++], sizeof s->names[0], "%.63s", line);
        }
        s->y[i] = c;
        if (!fgets(line, sizeof line, fs)) return -1;
        s->is_val[i] = !strncmp(line, "val", 3) ? 1 : !strncmp(line, "train", 5) ? 0 : -1;
    }
    /* class indices in sorted name order, like the script */
    int order[16];
    for (int c = 0; c < s->k; c++) {
        order[c] = 0;
        for (int e = 0; e < s->k; e++) order[c] += strcmp(s->names[e], s->names[c]) < 0;
    }
    for (int i = 0; i < s->n; i++) s->y[i] = order[s->y[i]];
    fclose(fl);
    fclose(fs);
    return 0;
}

int main(int argc, char **argv) {
    const char *write = NULL, *files[3] = {0};
    int repeat = 7, threads = 0, nf = 0, m = 9, others = 1;
    double lo = 1e-6, hi = 1e2;
    fc_transform_kind norm = FC_TRANSFORM_NONE;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--write") && i + 1 < argc) write = argv[++i];
        else if (!strcmp(argv[i], "--repeat") && i + 1 < argc) repeat = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--l2") && i + 1 < argc) {
            if (sscanf(argv[++i], "%lg,%lg,%d", &lo, &hi, &m) != 3 || !(lo > 0) || !(hi > lo) || m < 2 || m > 64)
                return fprintf(stderr, "--l2 wants LO,HI,N (0 < LO < HI, 2 <= N <= 64)\n"), 64;
        } else if (!strcmp(argv[i], "--softmax-only")) others = 0;
        else if (!strcmp(argv[i], "--normalize") && i + 1 < argc) {
            if (fc_transform_parse(argv[++i], &norm, NULL)) return fprintf(stderr, "bad --normalize\n"), 64;
        } else if (nf < 3 && argv[i][0] != '-') files[nf++] = argv[i];
        else return fprintf(stderr, "usage: see the comment at the top of bench/bench_heads.c\n"), 64;
    }
    dataset s = {0};
    if (nf == 3) {
        if (read_real(&s, files[0], files[1], files[2])) return fprintf(stderr, "cannot read the data\n"), 1;
    } else if (nf == 0) {
        make_random(&s);
        if (write && write_dir(&s, write)) return fprintf(stderr, "cannot write %s\n", write), 1;
    } else {
        return fprintf(stderr, "give FEATURES.npy LABELS.txt SPLITS.txt, or nothing\n"), 64;
    }
    /* split, transform fitted on train */
    int nt = 0, nv = 0, d = s.d;
    float *xt = malloc((size_t)s.n * d * sizeof *xt), *xv = malloc((size_t)s.n * d * sizeof *xv);
    int *yt = malloc((size_t)s.n * sizeof *yt), *yv = malloc((size_t)s.n * sizeof *yv);
    for (int i = 0; i < s.n; i++) {
        if (s.is_val[i] == 0) memcpy(xt + (size_t)nt * d, s.x + (size_t)i * d, d * sizeof(float)), yt[nt++] = s.y[i];
        else if (s.is_val[i] == 1) memcpy(xv + (size_t)nv * d, s.x + (size_t)i * d, d * sizeof(float)),
            yv[nv++] = s.y[i];
    }
    fc_transform t;
    fc_error err = {0};
    if (fc_transform_fit(&t, norm, xt, nt, d, 0, &err) || fc_transform_apply(&t, xt, nt, d, xt, &err) ||
        fc_transform_apply(&t, xv, nv, d, xv, &err))
        return fprintf(stderr, "%s\n", err.msg), 1;
    fc_data train = {.name = "train", .x = xt, .y = yt, .n = nt, .d = d};
    printf("# %s: %d train, %d val, %d dims, %d classes, normalize=%s\n", nf ? files[0] : "random", nt, nv, d, s.k,
           fc_transform_name(norm));

    double l2[64]; /* strong to weak penalty, log-spaced */
    for (int i = 0; i < m; i++) l2[i] = exp(log(hi) - (log(hi) - log(lo)) * i / (m - 1));
    fc_softmax_options o;
    fc_softmax_options_init(&o);
    o.threads = threads;
    fc_layer L[64];
    fc_softmax_info info[64];
    double best = INFINITY;
    for (int r = 0; r < repeat; r++) {
        memset(L, 0, sizeof L);
        double t0 = now();
        if (fc_softmax_fit_path(&o, &train, s.k, l2, m, L, info, &err)) return fprintf(stderr, "%s\n", err.msg), 1;
        double dt = now() - t0;
        best = dt < best ? dt : best;
        if (r + 1 < repeat)
            for (int i = 0; i < m; i++) fc_layer_free(&L[i]);
    }
    float *P = malloc((size_t)nv * s.k * sizeof *P);
    double best_acc = 0;
    int evals = 0;
    printf("l2\tC\tval_acc\titers\tevals\tstatus\tobjective\n");
    for (int i = 0; i < m; i++) {
        fc_softmax_predict_proba(&L[i], xv, nv, d, P, threads, &err);
        double acc = fc_metrics_accuracy(P, yv, nv, s.k);
        best_acc = acc > best_acc ? acc : best_acc;
        evals += info[i].evaluations;
        printf("%.3g\t%.3g\t%.4f\t%d\t%d\t%d\t%.8g\n", l2[i], 1 / l2[i], acc, info[i].iterations,
               info[i].evaluations, info[i].status, info[i].objective);
        fc_layer_free(&L[i]);
    }
    printf("softmax path of %d: %.2f ms (best of %d), %d evaluations, rank %d; best val accuracy %.4f\n", m, best * 1e3,
           repeat, evals, info[0].rank, best_acc);
    if (!others) {
        fc_transform_free(&t);
        free(P), free(xt), free(xv), free(yt), free(yv), free(s.x), free(s.y), free(s.is_val);
        return 0;
    }

    /* one MLP fit with the defaults (512 hidden, Adam, early stopping on val) for scale */
    fc_mlp_options mo;
    fc_mlp_options_init(&mo);
    mo.threads = threads;
    fc_data val = {.name = "val", .x = xv, .y = yv, .n = nv, .d = d};
    fc_layer M[2] = {{0}};
    fc_mlp_info mi;
    double t0 = now();
    if (fc_mlp_fit(&mo, &train, &val, s.k, M, &mi, &err)) return fprintf(stderr, "%s\n", err.msg), 1;
    printf("mlp (hidden 512, batch 32, lr 1e-3): %.1f ms, %d epochs (best %d), val accuracy %.4f\n", (now() - t0) * 1e3,
           mi.epochs, mi.best_epoch, mi.val_accuracy);
    fc_layer_free(&M[0]), fc_layer_free(&M[1]);

    /* nearest class mean on L2-normalized features (of the transformed features) */
    fc_head h = {.n_layers = 1, .n_classes = s.k, .transform = {.kind = FC_TRANSFORM_L2, .dim = d}};
    t0 = now();
    if (fc_ncm_fit(&train, s.k, 0, &h.layers[0], &err) || fc_head_predict_proba(&h, xv, nv, d, P, threads, &err))
        return fprintf(stderr, "%s\n", err.msg), 1;
    printf("ncm (scale %g): %.2f ms, val accuracy %.4f\n", FC_NCM_DEFAULT_SCALE, (now() - t0) * 1e3,
           fc_metrics_accuracy(P, yv, nv, s.k));
    fc_head_free(&h);
    fc_transform_free(&t);
    free(P), free(xt), free(xv), free(yt), free(yv), free(s.x), free(s.y), free(s.is_val);
    return 0;
}
