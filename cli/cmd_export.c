/* `featcache export`: a data set's cached features as files for numpy / scikit-learn / PyTorch:
 * features.npy (float32 (N, D)) or features.csv, with labels.txt, paths.txt and splits.txt in the
 * same row order and manifest.json. The files are one set (export_set.h): written into a hidden
 * folder and put in place as one, so a failed or killed export leaves the previous set whole. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "cli/export_set.h"
#include "cli/extractor_opts.h"
#include "cli/npy.h"
#include "store/store.h"

static const char *usage_text =
    "usage: featcache export DATASET --model M.onnx --format npy|csv -o DIR [options]\n"
    "Writes the cached features of DATASET (extracted earlier with `featcache extract`) to DIR:\n"
    "features.npy (float32 [N, D]) or features.csv, plus labels.txt, paths.txt, splits.txt in the\n"
    "same order (one line per item; bad files are left out; in names a backslash, newline or\n"
    "carriage return is written \\\\, \\n, \\r so that every line is one item), and manifest.json\n"
    "(the data set, extractor, rows and each file's bytes and SHA-256). The files are one set: written\n"
    "beside DIR and put in place by one rename, so DIR holds one run's export or the previous one,\n"
    "never a mix; a DIR with other files in it gets manifest.json removed first and put back last.\n"
    "Exit status: 0 ok, 3 the data set's last extract did not finish (exported what it has), 1 error.\n\n"
    CLI_EXTRACTOR_HELP
    "  --format F          npy (default) or csv\n"
    "  -o, --output DIR    output folder (created if missing)\n";

static int write_lines(const char *dir, const char *name, char **lines, size_t n, fc_error *err) {
    char path[4400], tmp[4500];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) return fc_fail(err, FC_EIO, "%s: %s", tmp, strerror(errno));
    for (size_t i = 0; i < n; i++) {
        for (const char *c = lines[i]; *c; c++) { /* a newline inside a file name must not split its row */
            if (*c == '\\') fputs("\\\\", f);
            else if (*c == '\n') fputs("\\n", f);
            else if (*c == '\r') fputs("\\r", f);
            else fputc(*c, f);
        }
        fputc('\n', f);
    }
    int failed = ferror(f);
    if (fclose(f) != 0 || failed || rename(tmp, path) != 0) {
        remove(tmp);
        return fc_fail(err, FC_EIO, "%s: %s", path, strerror(errno));
    }
    return 0;
}

static int write_npy(const char *dir, const fc_featureset *fs, fc_error *err) {
    char path[4400];
    snprintf(path, sizeof path, "%s/features.npy", dir);
    int64_t dims[2] = {(int64_t)fs->n, (int64_t)fs->dim};
    return cli_npy_write(path, "<f4", sizeof(float), 2, dims, fs->x, err);
}

static void csv_field(FILE *f, const char *s) {
    if (!strpbrk(s, ",\"\n")) { fputs(s, f); return; }
    fputc('"', f);
    for (; *s; s++) { if (*s == '"') fputc('"', f); fputc(*s, f); }
    fputc('"', f);
}

static int write_csv(const char *dir, const fc_featureset *fs, fc_error *err) {
    char path[4400], tmp[4500];
    snprintf(path, sizeof path, "%s/features.csv", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) return fc_fail(err, FC_EIO, "%s: %s", tmp, strerror(errno));
    fputs("path,label,split", f);
    for (size_t d = 0; d < fs->dim; d++) fprintf(f, ",f%zu", d);
    fputc('\n', f);
    for (size_t i = 0; i < fs->n; i++) {
        csv_field(f, fs->paths[i]);
        fputc(',', f);
        csv_field(f, fs->labels[i]);
        fputc(',', f);
        csv_field(f, fs->splits[i]);
        for (size_t d = 0; d < fs->dim; d++) fprintf(f, ",%.9g", fs->x[i * fs->dim + d]);
        fputc('\n', f);
    }
    if (fclose(f) != 0 || rename(tmp, path) != 0) {
        remove(tmp);
        return fc_fail(err, FC_EIO, "%s: write failed: %s", path, strerror(errno));
    }
    return 0;
}

/* What manifest.json says about the export besides its files. */
static void manifest_members(fc_strbuf *b, const cli_extractor *x, const char *format, const fc_featureset *fs) {
    const char *keys[3] = {"dataset", "model", "layer"}, *values[3] = {x->dataset, x->model, x->layer_name};
    for (int i = 0; i < 3; i++) {
        fc_strbuf_printf(b, "%s\"%s\":", i ? "," : "", keys[i]);
        fc_strbuf_json(b, values[i]);
    }
    fc_strbuf_printf(b, ",\"model_sha256\":\"%s\",\"extractor\":\"%s\",\"view\":\"%s\",\"format\":\"%s\",\"rows\":%zu,"
                        "\"dim\":%zu,\"complete\":%s", x->model_sha, x->id, fc_view_name(x->view), format, fs->n, fs->dim,
                     x->incomplete ? "false" : "true");
}

int cmd_export(int argc, char **argv) {
    static const struct option opts[] = {CLI_EXTRACTOR_LONGOPTS, {"format", required_argument, 0, 'f'},
                                         {"output", required_argument, 0, 'o'}, {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    cli_extractor x;
    cli_extractor_init(&x);
    const char *format = "npy", *outdir = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
        int r = cli_extractor_option("export", c, optarg, &x);
        if (r < 0) return EXIT_USAGE;
        if (r > 0) continue;
        switch (c) {
        case 'f': format = optarg; break;
        case 'o': outdir = optarg; break;
        case 'h': fputs(usage_text, stdout); return EXIT_OK;
        default: fputs(usage_text, stderr); return EXIT_USAGE;
        }
    }
    if (strcmp(format, "npy") && strcmp(format, "csv")) {
        fprintf(stderr, "featcache export: --format wants npy or csv, not '%s'\n", format);
        return EXIT_USAGE;
    }
    if (!x.model || !outdir || optind != argc - 1) {
        fprintf(stderr, "featcache export: %s\n\n%s", !x.model ? "--model is required" : !outdir ? "-o DIR is required" : "give exactly one DATASET", usage_text);
        return EXIT_USAGE;
    }
    fc_error err = {0};
    fc_catalog *cat = NULL;
    fc_cache *cache = NULL;
    fc_featureset fs = {0};
    cli_export_set set;
    fc_strbuf members = {0};
    int rc = EXIT_FAIL, begun = 0;
    const char *dir = cli_cache_dir(x.cache);
    if (fc_catalog_open(dir, FC_CATALOG_RDONLY, 0, &cat, &err) || fc_cache_open(dir, FC_CACHE_RDONLY, NULL, &cache, &err) ||
        cli_extractor_resolve(&x, argv[optind], cat, &err) ||
        fc_featureset_load(cat, cache, x.dataset, x.id, x.view, &fs, &err))
        goto out;
    if (cli_export_set_begin(&set, outdir, &err)) goto out;
    begun = 1;
    if ((!strcmp(format, "npy") ? write_npy(set.tmp, &fs, &err) : write_csv(set.tmp, &fs, &err)) ||
        write_lines(set.tmp, "labels.txt", fs.labels, fs.n, &err) || write_lines(set.tmp, "paths.txt", fs.paths, fs.n, &err) ||
        write_lines(set.tmp, "splits.txt", fs.splits, fs.n, &err))
        goto out;
    manifest_members(&members, &x, format, &fs);
    begun = 0; /* committed or, on error, removed */
    if (members.failed ? fc_fail(&err, FC_ENOMEM, "out of memory") : cli_export_set_commit(&set, members.s, &err))
        goto out;
    fprintf(stderr, "exported %zu x %zu features of '%s' (layer %s) to %s\n", fs.n, fs.dim, x.dataset, x.layer_name, outdir);
    rc = x.incomplete ? EXIT_PARTIAL : EXIT_OK;
out:
    if (rc == EXIT_FAIL) fprintf(stderr, "featcache export: %s\n", err.msg);
    if (begun) cli_export_set_abort(&set);
    fc_strbuf_free(&members);
    fc_featureset_free(&fs);
    fc_cache_close(cache);
    fc_catalog_close(cat);
    return rc;
}

/* ---- export-onnx: backbone + head as one image classifier ---- */

#include "classify/classify.h"
#include "cli/head_file.h"

static const char *export_onnx_usage =
    "usage: featcache export-onnx --model M.onnx --head HEAD.onnx -o classifier.onnx\n"
    "Writes one ONNX image classifier: the backbone up to the head's feature layer, then the head\n"
    "(normalization, Gemm/Relu layers, Softmax) with output `probabilities`. Its input is the\n"
    "backbone's (preprocessed image tensor); ONNX Runtime and featcache both run it.\n\n"
    "  --model PATH        the backbone the head's features came from\n"
    "  --head PATH         head file from featcache train, or the head-only file of a conv head (its\n"
    "                      blocks and head follow the model up to their map; declared at its size)\n"
    "  -o, --output PATH   the classifier to write\n"
    "  --force             allow a backbone whose fingerprint (SHA-256 of the model file and its\n"
    "                      external data files) differs from the head's record\n";

int cmd_export_onnx(int argc, char **argv) {
    static const struct option opts[] = {{"model", required_argument, 0, 'm'}, {"head", required_argument, 0, 'H'},
                                         {"output", required_argument, 0, 'o'}, {"force", no_argument, 0, 'f'},
                                         {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *model = NULL, *head = NULL, *out = NULL;
    int force = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model = optarg; break;
        case 'H': head = optarg; break;
        case 'o': out = optarg; break;
        case 'f': force = 1; break;
        case 'h': fputs(export_onnx_usage, stdout); return EXIT_OK;
        default: fputs(export_onnx_usage, stderr); return EXIT_USAGE;
        }
    }
    if (!model || !head || !out || optind != argc) {
        fprintf(stderr, "featcache export-onnx: --model, --head and -o are required\n\n%s", export_onnx_usage);
        return EXIT_USAGE;
    }
    fc_error err = {0};
    cli_head_file h;
    if (cli_head_file_load(head, &h, &err)) {
        fprintf(stderr, "featcache export-onnx: %s\n", err.msg);
        return EXIT_FAIL;
    }
    char hex[65];
    int rc = fc_model_fingerprint(model, hex, NULL, &err);
    if (rc == 0 && strcmp(hex, h.model_sha) && !force)
        rc = fc_fail(&err, FC_EINVAL, "%s is not the model the head was trained on (%s, fingerprint %.12s; this file "
                     "%.12s); --force to merge anyway", model, h.model, h.model_sha, hex);
    /* the merge checks the bytes it reads against the head's fingerprint too (unless forced): the
     * file may change after the check above */
    const char *sha = force ? NULL : h.model_sha;
    if (rc == 0) /* a classifier's top (a conv head's head-only file) reads its cut, not a feature */
        rc = h.finetuned ? fc_onnx_merge_top_checked(model, sha, h.layer, head, h.size, h.size, out, &err)
                         : fc_onnx_merge_classifier_checked(model, sha, h.layer, head, out, &err);
    if (rc == 0) printf("classifier written to %s (%s up to %s + head, %d classes)\n", out, model, h.layer, h.head.n_classes);
    else fprintf(stderr, "featcache export-onnx: %s\n", err.msg);
    cli_head_file_free(&h);
    return rc ? EXIT_FAIL : EXIT_OK;
}
