/* Command-line helper for scripts/ort_check_classifier.sh (not a test: no test_ prefix, so
 * `make test` does not run it). Subcommands:
 *   run MODEL.onnx INPUT.npy OUT.npy [OUTPUT_NAME]  featcache's engine on a float32 .npy batch;
 *                                                   writes the first graph output (or OUTPUT_NAME)
 *   compare A.npy B.npy                             prints max |a - b| (exit 1 on shape mismatch)
 *   random-head D K std|l2|none HEAD.onnx           a seeded random softmax head, for demos
 *   merge BACKBONE.onnx FEATURE HEAD.onnx OUT.onnx  fc_onnx_merge_classifier
 *   head-proba HEAD.onnx FEATURES.npy OUT.npy       fc_head_predict_proba on (N, ...) features
 * Errors go to stderr with exit status 1. Not a user-facing CLI (that is build/featcache). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "classify/head.h"
#include "classify/head_onnx.h"
#include "classify/merge_onnx.h"
#include "engine/model.h"
#include "tests/support/npy.h"

static int die(const char *what, const fc_error *err) {
    fprintf(stderr, "run_model_npy: %s%s%s\n", what, err ? ": " : "", err ? err->msg : "");
    return 1;
}

/* float32 C-order .npy (version 1.0). */
static int write_npy(const char *path, const int64_t *dims, int rank, const float *data) {
    char shape[256] = "";
    size_t len = 0;
    int64_t count = 1;
    for (int i = 0; i < rank; i++) {
        len += (size_t)snprintf(shape + len, sizeof shape - len, "%lld%s", (long long)dims[i],
                                rank == 1 ? "," : (i + 1 < rank ? ", " : ""));
        count *= dims[i];
    }
    char hdr[512];
    int n = snprintf(hdr, sizeof hdr, "{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }", shape);
    int total = 10 + n + 1;
    int pad = (64 - total % 64) % 64;
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    unsigned hl = (unsigned)(n + pad + 1);
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hl & 0xff), (unsigned char)(hl >> 8)};
    fwrite(pre, 1, 10, f);
    fwrite(hdr, 1, (size_t)n, f);
    for (int i = 0; i < pad; i++) fputc(' ', f);
    fputc('\n', f);
    size_t w = fwrite(data, sizeof(float), (size_t)count, f);
    return fclose(f) != 0 || w != (size_t)count ? -1 : 0;
}

static int cmd_run(int argc, char **argv) {
    if (argc < 5) return die("usage: run MODEL.onnx INPUT.npy OUT.npy [OUTPUT_NAME]", NULL);
    npy_array in;
    char msg[256];
    if (npy_read(argv[3], &in, msg)) return die(msg, NULL);
    const char *outs[1] = {argc > 5 ? argv[5] : NULL};
    fc_model_options mo = {.outputs = outs, .n_outputs = argc > 5 ? 1 : 0};
    fc_model *m = NULL;
    fc_session *s = NULL;
    fc_error err = {0};
    int rc = fc_model_load(argv[2], &mo, &m, &err);
    if (rc == 0) {
        fc_session_options so = {.batch = (int)in.dims[0], .threads = 0};
        if (in.rank == 4) { so.height = (int)in.dims[2]; so.width = (int)in.dims[3]; }
        rc = fc_session_create(m, &so, &s, &err);
    }
    if (rc == 0) rc = fc_session_run(s, in.data, &err);
    if (rc == 0) {
        const fc_tensor *t = fc_session_output(s, 0);
        if (write_npy(argv[4], t->dims, t->rank, t->data)) rc = fc_fail(&err, FC_EIO, "%s: cannot write", argv[4]);
    }
    fc_session_free(s);
    fc_model_free(m);
    npy_free(&in);
    return rc ? die("featcache", &err) : 0;
}

static int cmd_compare(int argc, char **argv) {
    if (argc != 4) return die("usage: compare A.npy B.npy", NULL);
    npy_array a, b;
    char msg[256];
    if (npy_read(argv[2], &a, msg)) return die(msg, NULL);
    if (npy_read(argv[3], &b, msg)) return die(msg, NULL);
    if (a.count != b.count) {
        fprintf(stderr, "run_model_npy: %s has %lld values, %s has %lld\n", argv[2], (long long)a.count, argv[3],
                (long long)b.count);
        return 1;
    }
    printf("%.3g\n", npy_max_abs_diff(a.data, b.data, a.count));
    npy_free(&a);
    npy_free(&b);
    return 0;
}

static int cmd_random_head(int argc, char **argv) {
    if (argc != 6) return die("usage: random-head D K std|l2|none HEAD.onnx", NULL);
    int d = atoi(argv[2]), k = atoi(argv[3]);
    fc_transform_kind kind;
    fc_error err = {0};
    if (d < 1 || k < 2) return die("D >= 1 and K >= 2 needed", NULL);
    if (fc_transform_parse(argv[4], &kind, &err)) return die("transform", &err);
    fc_head h = {0};
    uint64_t state = 7;
    h.transform.kind = kind;
    h.transform.dim = d;
    if (kind == FC_TRANSFORM_STANDARDIZE) {
        h.transform.mean = calloc((size_t)d, sizeof(float));
        h.transform.scale = malloc((size_t)d * sizeof(float));
        for (int j = 0; j < d; j++) h.transform.scale[j] = 1.0f;
    }
    int rc = fc_layer_alloc(&h.layers[0], d, k, FC_ACTIVATION_NONE, &err);
    if (rc == 0) {
        h.n_layers = 1;
        h.n_classes = k;
        for (size_t i = 0; i < (size_t)d * k; i++) {
            state = state * 6364136223846793005ULL + 1442695040888963407ULL;
            h.layers[0].W[i] = (float)(((state >> 40) / (double)(1 << 24)) * 2 - 1) * 4.0f / 32.0f;
        }
        rc = fc_head_save_onnx(&h, argv[5], "{\"demo\":true}", &err);
    }
    fc_head_free(&h);
    return rc ? die("random-head", &err) : 0;
}

static int cmd_merge(int argc, char **argv) {
    if (argc != 6) return die("usage: merge BACKBONE.onnx FEATURE HEAD.onnx OUT.onnx", NULL);
    fc_error err = {0};
    return fc_onnx_merge_classifier(argv[2], argv[3], argv[4], argv[5], &err) ? die("merge", &err) : 0;
}

static int cmd_head_proba(int argc, char **argv) {
    if (argc != 5) return die("usage: head-proba HEAD.onnx FEATURES.npy OUT.npy", NULL);
    fc_head h = {0};
    fc_error err = {0};
    npy_array x;
    char msg[256];
    if (fc_head_load_onnx(argv[2], &h, NULL, &err)) return die("head", &err);
    if (npy_read(argv[3], &x, msg)) return die(msg, NULL);
    int n = (int)x.dims[0], d = (int)(x.count / (n ? n : 1));
    float *P = malloc((size_t)n * h.n_classes * sizeof *P);
    int rc = P ? fc_head_predict_proba(&h, x.data, n, d, P, 0, &err) : fc_fail(&err, FC_ENOMEM, "out of memory");
    int64_t dims[2] = {n, h.n_classes};
    if (rc == 0 && write_npy(argv[4], dims, 2, P)) rc = fc_fail(&err, FC_EIO, "%s: cannot write", argv[4]);
    free(P);
    npy_free(&x);
    fc_head_free(&h);
    return rc ? die("head-proba", &err) : 0;
}

int main(int argc, char **argv) {
    const char *cmd = argc > 1 ? argv[1] : "";
    if (!strcmp(cmd, "run")) return cmd_run(argc, argv);
    if (!strcmp(cmd, "compare")) return cmd_compare(argc, argv);
    if (!strcmp(cmd, "random-head")) return cmd_random_head(argc, argv);
    if (!strcmp(cmd, "merge")) return cmd_merge(argc, argv);
    if (!strcmp(cmd, "head-proba")) return cmd_head_proba(argc, argv);
    fprintf(stderr, "usage: run_model_npy run|compare|random-head|merge|head-proba ... (see the file header)\n");
    return 2;
}
