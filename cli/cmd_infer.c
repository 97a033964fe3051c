/* `featcache infer`: classify image files with an ONNX model and print the top classes per image
 * as TSV (or JSON lines with --json). Bad images are reported on stderr and skipped. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "classify/classify.h"
#include "cli/cli.h"
#include "engine/engine.h"

static const char *usage_text =
    "usage: featcache infer --model M.onnx [options] IMAGE...\n"
    "Runs the model on each image (JPEG, PNG, WebP, GIF, BMP, TIFF) and prints its top classes.\n\n"
    "  --model PATH        ONNX model (required)\n"
    "  --preprocess NAME   tf (x/127.5-1, default), torch (ImageNet mean/std) or caffe (BGR - mean)\n"
    "  --grayscale         convert images to gray, one channel (for models that take 1 channel)\n"
    "  --exif-orientation apply|ignore  turn images by their EXIF orientation (default apply)\n"
    "  --size N            input size N x N (default: the model's own)\n"
    "  --crop F            keep the central fraction F of the shorter side before resizing (default 1)\n"
    "  --labels PATH       class names, line i = class i (default: the names a featcache\n"
    "                      classifier carries)\n"
    "  --top K             classes per image (default 5)\n"
    "  --output NAME       tensor to rank (default: the model's first output)\n"
    "  --batch N           images per forward pass (default 16)\n"
    "  --threads N         threads (default: all cores)\n"
    "  --parallel MODE     batch (each thread runs its slice of a batch; default) or layers\n"
    "  --compute P         f32 (default) or bf16: products on bf16 pairs with f32 sums (AVX512_BF16)\n"
    "  --json              one JSON object per image instead of TSV\n"
    "Output TSV columns: image, rank, index, label, score.\n"
    "Exit status: 0 ok, 3 some images could not be read (listed on stderr), 1 error, 64 usage.\n";

static void json_string(const char *s) {
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') printf("\\%c", c);
        else if (c < 0x20) printf("\\u%04x", c);
        else putchar(c);
    }
    putchar('"');
}

static void print_top(const char *path, const float *scores, int64_t n, int top, char **labels,
                      int n_labels, int json) {
    int idx[64];
    if (top > n) top = (int)n;
    cli_top_k(scores, (int)n, top, idx);
    if (json) {
        printf("{\"image\":");
        json_string(path);
        printf(",\"top\":[");
    }
    for (int r = 0; r < top; r++) {
        const char *label = idx[r] < n_labels ? labels[idx[r]] : "";
        if (json) {
            printf("%s{\"index\":%d,\"label\":", r ? "," : "", idx[r]);
            json_string(label);
            printf(",\"score\":%.6g}", scores[idx[r]]);
        } else {
            printf("%s\t%d\t%d\t%s\t%.5f\n", path, r + 1, idx[r], label, scores[idx[r]]);
        }
    }
    if (json) printf("]}\n");
}

int cmd_infer(int argc, char **argv) {
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'}, {"preprocess", required_argument, 0, 'p'},
        {"size", required_argument, 0, 's'},  {"crop", required_argument, 0, 'c'},
        {"labels", required_argument, 0, 'l'}, {"top", required_argument, 0, 'k'},
        {"output", required_argument, 0, 'o'}, {"batch", required_argument, 0, 'b'},
        {"threads", required_argument, 0, 't'}, {"json", no_argument, 0, 'j'}, {"parallel", required_argument, 0, 'P'},
        {"grayscale", no_argument, 0, 'g'}, {"compute", required_argument, 0, 'C'}, {"exif-orientation", required_argument, 0, 'e'},
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *model_path = NULL, *labels_path = NULL, *output = NULL, *preset = "tf";
    int size = 0, top = 5, batch = 16, threads = 0, json = 0, split = 1, gray = 0;
    double crop = 1.0;
    fc_compute compute = FC_COMPUTE_F32;
    fc_exif exif = FC_EXIF_APPLY;
    fc_error err = {0};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model_path = optarg; break;
        case 'p': preset = optarg; break;
        case 's': if (cli_int("infer", "size", optarg, 8, 8192, &size)) return EXIT_USAGE; break;
        case 'c': if (cli_float("infer", "crop", optarg, 0.05, 1.0, &crop)) return EXIT_USAGE; break;
        case 'l': labels_path = optarg; break;
        case 'k': if (cli_int("infer", "top", optarg, 1, 64, &top)) return EXIT_USAGE; break;
        case 'o': output = optarg; break;
        case 'b': if (cli_int("infer", "batch", optarg, 1, 4096, &batch)) return EXIT_USAGE; break;
        case 't': if (cli_int("infer", "threads", optarg, 1, 1024, &threads)) return EXIT_USAGE; break;
        case 'P': if (cli_parallel_mode("infer", optarg, &split)) return EXIT_USAGE; break;
        case 'j': json = 1; break;
        case 'g': gray = 1; break;
        case 'C': if (cli_compute("infer", optarg, &compute)) return EXIT_USAGE; break;
        case 'e': if (cli_exif("infer", optarg, &exif)) return EXIT_USAGE; break;
        case 'h': fputs(usage_text, stdout); return EXIT_OK;
        default: fputs(usage_text, stderr); return EXIT_USAGE;
        }
    }
    if (!model_path || optind >= argc) {
        fprintf(stderr, "featcache infer: %s\n\n%s", !model_path ? "--model is required" : "no images given", usage_text);
        return EXIT_USAGE;
    }
    fc_preprocess pre = {.crop = (float)crop, .gray = gray, .exif = exif};
    if (fc_preset_parse(preset, &pre.preset, &err)) {
        fprintf(stderr, "featcache infer: %s\n", err.msg);
        return EXIT_USAGE;
    }
    char **labels = NULL;
    int n_labels = 0;
    if (labels_path && !(n_labels = cli_labels_load(labels_path, &labels, &err))) {
        fprintf(stderr, "featcache infer: %s\n", err.msg);
        return EXIT_FAIL;
    }
    /* a classifier from export-onnx or finetune names its classes itself */
    if (!labels_path && fc_onnx_read_classes(model_path, &labels, &n_labels, NULL, &err) < 0) {
        fprintf(stderr, "featcache infer: %s\n", err.msg);
        return EXIT_FAIL;
    }
    int rc = EXIT_FAIL, bad = 0, n_images = argc - optind;
    fc_model *m = NULL;
    fc_session *s = NULL;
    float *input = NULL;
    char **names = NULL;
    const char *outs[1] = {output};
    fc_model_options mo = {.outputs = output ? outs : NULL, .n_outputs = output ? 1 : 0};
    if (fc_compute_kernels(compute, &mo.kernels, &err) || fc_model_load(model_path, &mo, &m, &err) ||
        fc_pipeline_check_model(m, gray, &err))
        goto fail;
    int64_t dims[4];
    fc_model_input_dims(m, dims);
    pre.height = size ? size : (int)dims[2];
    pre.width = size ? size : (int)dims[3];
    if (pre.height <= 0 || pre.width <= 0) {
        fc_fail(&err, FC_EINVAL, "%s: the model's input size is not fixed; give --size", model_path);
        goto fail;
    }
    if (fc_pipeline_check_outputs(m, pre.height, pre.width, NULL, &err)) goto fail;
    if (batch > n_images) batch = n_images;
    fc_session_options so = {.batch = batch, .height = pre.height, .width = pre.width, .threads = threads, .split_batch = split};
    if (fc_session_create(m, &so, &s, &err)) goto fail;
    size_t per = (size_t)fc_preprocess_channels(&pre) * pre.height * pre.width;
    input = calloc((size_t)batch * per, sizeof(float));
    names = calloc((size_t)batch, sizeof *names);
    if (!input || !names) { fc_fail(&err, FC_ENOMEM, "out of memory"); goto fail; }
    if (!json) printf("image\trank\tindex\tlabel\tscore\n");
    for (int i = optind; i < argc;) {
        int filled = 0;
        for (; i < argc && filled < batch; i++) {
            fc_error ierr = {0};
            if (cli_load_input(argv[i], &pre, input + filled * per, &ierr)) {
                fprintf(stderr, "featcache infer: skipped %s\n", ierr.msg);
                bad++;
                continue;
            }
            names[filled++] = argv[i];
        }
        if (!filled) continue;
        /* a short last batch runs padded with zeros; images are independent of each other */
        memset(input + filled * per, 0, (size_t)(batch - filled) * per * sizeof(float));
        if (fc_session_run(s, input, &err)) goto fail;
        const fc_tensor *o = fc_session_output(s, 0);
        int64_t n = fc_tensor_count(o) / batch;
        for (int b = 0; b < filled; b++)
            print_top(names[b], (const float *)o->data + b * n, n, top, labels, n_labels, json);
    }
    rc = bad ? EXIT_PARTIAL : EXIT_OK;
    if (bad) fprintf(stderr, "featcache infer: %d of %d images could not be read\n", bad, n_images);
fail:
    if (rc == EXIT_FAIL) fprintf(stderr, "featcache infer: %s\n", err.msg);
    free(input);
    free(names);
    fc_session_free(s);
    fc_model_free(m);
    cli_labels_free(labels, n_labels);
    return rc;
}
