/* `featcache predict`: labels for image files from a head or an ensemble, with cached features
 * when the image's bytes were extracted with the head's extractor, the backbone otherwise.
 * Ensembles average the probabilities of heads trained on the same classes, possibly on different
 * backbones' features. Not here: metrics on a cached data set (cmd_eval.c). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "classify/classify.h"
#include "cli/cli.h"
#include "cli/head_file.h"
#include "core/core.h"
#include "engine/engine.h"
#include "extract/extract.h"
#include "store/store.h"

static const char *usage_text =
    "usage: featcache predict --model M.onnx --head HEAD.onnx [--head B.onnx ...] IMAGE_OR_DIR...\n"
    "Prints the predicted label and probability of each image (folders are searched recursively).\n"
    "Features come from the cache when the image's bytes were extracted before with the head's\n"
    "extractor, else the backbone runs. Several heads are averaged (an ensemble).\n\n"
    "  --model PATH        backbone (used for heads trained on its features; other heads use the\n"
    "                      model path recorded in them)\n"
    "  --head PATH         head file from featcache train, or a classifier from featcache finetune\n"
    "                      or train --head conv, or a conv head's head-only file (cached images: only\n"
    "                      its top runs, from their cut activations or map); repeatable\n"
    "  --top K             classes per image (default 1)\n"
    "  --cache DIR         cache folder (default $FEATCACHE_HOME, else ./.featcache)\n"
    "  --threads N         inference threads (default: all cores)\n"
    "  --json              one JSON object per image\n"
    "  --force             run a head whose backbone changed since it was trained (its file has\n"
    "                      another fingerprint: model and external data files) on --model, else\n"
    "                      on the file it records; without it such a head is refused\n"
    "  --compute P         f32 or bf16 products (default: the head's, as it records); another one than\n"
    "                      the head's is refused without --force (then every feature is computed)\n"
    "Exit status: 0 ok, 3 some images could not be read (listed on stderr), 1 error, 64 usage.\n";

/* The backbone options: --model with its fingerprint (NULL/"" when not given), --force and
 * --compute (compute_set: given). */
typedef struct backbone_opt {
    const char *model, *fp;
    int force;
    int compute_set;
    fc_compute compute;
} backbone_opt;

/* The compute path for head h: its own, or --compute when given; another one than the head's is
 * refused without --force, and with it *uncached is set (the cache holds the head's). */
static int head_compute(const cli_head_file *h, const backbone_opt *bb, fc_compute *out, int *uncached, fc_error *err) {
    *out = bb->compute_set ? bb->compute : h->compute;
    if (*out == h->compute) return 0;
    if (!bb->force)
        return fc_fail(err, FC_EINVAL, "%s was trained on features computed with %s products; --compute %s would give "
                       "it others (--force to run it anyway)", h->path, fc_compute_name(h->compute), fc_compute_name(*out));
    fprintf(stderr, "featcache predict: --force: %s runs with %s products, not the %s it was trained on; every feature "
            "is computed\n", h->path, fc_compute_name(*out), fc_compute_name(h->compute));
    *uncached = 1;
    return 0;
}

/* Loads the backbone at path (read once) and, unless forced, checks that the bytes loaded are the
 * ones the head's fingerprint names (a self-contained model's fingerprint is their SHA-256; with
 * external data files, cli_head_backbone's check stands): the file may have changed since it was
 * checked. */
static int load_backbone(const cli_head_file *h, const char *path, int forced, const fc_model_options *mo,
                         fc_model **model, fc_error *err) {
    fc_model_file file = {0};
    int rc = fc_model_load_hashed(path, mo, &file, model, err);
    fc_model_file_free(&file);
    int n_data = 0;
    if (rc || forced || (fc_model_loaded_data_files(*model, &n_data), n_data)) return rc;
    char hex[65];
    fc_hex_encode(file.sha256, 32, hex);
    if (!strcmp(hex, h->model_sha)) return 0;
    fc_model_free(*model);
    *model = NULL;
    return fc_fail(err, FC_EINVAL, "%s was trained on the features of %s (fingerprint %.12s), and the bytes read "
                   "from %s now have SHA-256 %.12s: the backbone changed under the head; --force to run it anyway",
                   h->path, h->model, h->model_sha, path, hex);
}

/* Features (n, dim) of the images for one head: cached ones copied, the rest computed by the
 * backbone the head was trained on (refused when it changed, see cli_head_backbone). A forced
 * other backbone computes every image: the cache holds the recorded backbone's features. */
static int head_features(const cli_head_file *h, const backbone_opt *bb, fc_cache *cache, char **paths, size_t n,
                         int threads, float **feats, size_t *dim, char **bad, fc_error *err) {
    const char *model_path = NULL;
    fc_model *model = NULL;
    fc_session *s = NULL;
    float *input = NULL;
    int rc = 0, forced = 0, uncached = 0;
    fc_compute compute;
    if ((rc = head_compute(h, bb, &compute, &uncached, err))) return rc;
    if (uncached) cache = NULL;
    if (bb->force) { /* decided before any cached feature is used */
        if ((rc = cli_head_backbone(h, bb->model, bb->fp, 1, &model_path, &forced, err))) return rc;
        if (forced) {
            fprintf(stderr, "featcache predict: --force: %s runs on %s, not the backbone it was trained on (fingerprint "
                    "%.12s); every feature is computed\n", h->path, model_path, h->model_sha);
            cache = NULL;
        }
    }
    *dim = cli_head_file_input_size(h);
    *feats = calloc(n * *dim + 1, sizeof(float));
    if (!*feats) return fc_fail(err, FC_ENOMEM, "out of memory");
    fc_feature_key key = {.view = (uint16_t)h->view};
    fc_hex_decode(h->extractor, key.extractor, 32, NULL);
    fc_preprocess pre = {.width = h->size, .height = h->size, .crop = (float)h->crop, .preset = h->preset,
                         .gray = h->gray, .exif = h->exif};
    fc_view_apply(h->view, &pre);
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (bad[i]) continue;
        uint64_t size;
        fc_error ierr = {0};
        if (fc_sha256_file(paths[i], key.item, &size, &ierr)) { bad[i] = strdup(ierr.msg); continue; }
        if (cache) {
            fc_feature_view info;
            int got = fc_cache_get(cache, &key, *feats + i * *dim, *dim, &info, &ierr);
            if (got == 1) continue;
            if (got == FC_EFORMAT) fprintf(stderr, "featcache predict: %s: %s (computed again)\n", paths[i], ierr.msg);
        }
        if (!model) { /* load the backbone only when some image is not cached */
            if (!model_path && (rc = cli_head_backbone(h, bb->model, bb->fp, 0, &model_path, &forced, err))) break;
            const char *outs[1] = {h->layer};
            fc_model_options mo = {.outputs = outs, .n_outputs = 1};
            if ((rc = fc_compute_kernels(compute, &mo.kernels, err))) break;
            fc_session_options so = {.batch = 1, .height = h->size, .width = h->size, .threads = threads};
            if ((rc = load_backbone(h, model_path, forced, &mo, &model, err)) ||
                (rc = fc_pipeline_check_model(model, h->gray, err)) || (rc = fc_session_create(model, &so, &s, err)))
                break;
            size_t per = (size_t)fc_preprocess_channels(&pre) * h->size * h->size;
            if (!(input = malloc(per * sizeof(float)))) { rc = fc_fail(err, FC_ENOMEM, "out of memory"); break; }
        }
        if (cli_load_input(paths[i], &pre, input, &ierr)) { bad[i] = strdup(ierr.msg); continue; }
        if ((rc = fc_session_run(s, input, err))) break;
        const fc_tensor *o = fc_session_output(s, 0);
        if ((size_t)fc_tensor_count(o) != *dim) {
            rc = fc_fail(err, FC_ESHAPE, "%s: layer %s has %lld values, the head expects %zu", model_path, h->layer,
                         (long long)fc_tensor_count(o), *dim);
            break;
        }
        memcpy(*feats + i * *dim, o->data, *dim * sizeof(float));
    }
    free(input);
    fc_session_free(s);
    fc_model_free(model);
    return rc;
}

int cmd_predict(int argc, char **argv) {
    static const struct option opts[] = {{"model", required_argument, 0, 'm'}, {"head", required_argument, 0, 'H'},
                                         {"top", required_argument, 0, 'k'}, {"cache", required_argument, 0, 'C'},
                                         {"threads", required_argument, 0, 't'}, {"json", no_argument, 0, 'j'},
                                         {"force", no_argument, 0, 'f'}, {"compute", required_argument, 0, 'P'},
                                         {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *model = NULL, *heads_path[CLI_MAX_HEADS], *cache_opt = NULL;
    int n_heads = 0, top = 1, threads = 0, json = 0, force = 0, compute_set = 0, c;
    fc_compute compute = FC_COMPUTE_F32;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model = optarg; break;
        case 'H':
            if (n_heads == CLI_MAX_HEADS) { fprintf(stderr, "featcache predict: at most %d heads\n", CLI_MAX_HEADS); return EXIT_USAGE; }
            heads_path[n_heads++] = optarg;
            break;
        case 'k': if (cli_int("predict", "top", optarg, 1, 100, &top)) return EXIT_USAGE; break;
        case 'C': cache_opt = optarg; break;
        case 't': if (cli_int("predict", "threads", optarg, 1, 1024, &threads)) return EXIT_USAGE; break;
        case 'j': json = 1; break;
        case 'f': force = 1; break;
        case 'P': if (cli_compute("predict", optarg, &compute)) return EXIT_USAGE; compute_set = 1; break;
        case 'h': fputs(usage_text, stdout); return EXIT_OK;
        default: fputs(usage_text, stderr); return EXIT_USAGE;
        }
    }
    if (!n_heads || optind >= argc) {
        fprintf(stderr, "featcache predict: %s\n\n%s", !n_heads ? "--head is required" : "no images given", usage_text);
        return EXIT_USAGE;
    }
    fc_error err = {0};
    cli_head_file heads[CLI_MAX_HEADS];
    int loaded = 0, rc = EXIT_FAIL;
    char **paths = NULL, **bad = NULL, override_sha[65] = "";
    size_t n = 0, cap = 0;
    float *P = NULL, *Pi = NULL, *feats = NULL;
    fc_cache *cache = NULL;
    for (; loaded < n_heads; loaded++)
        if (cli_head_file_load(heads_path[loaded], &heads[loaded], &err)) goto done;
    if (cli_heads_same_classes(heads, n_heads, &err)) goto done;
    for (int a = optind; a < argc; a++) { /* expand folders */
        struct stat st;
        fc_dataset d;
        int is_dir = stat(argv[a], &st) == 0 && S_ISDIR(st.st_mode);
        size_t add = 1;
        if (is_dir && fc_dataset_scan(argv[a], FC_LAYOUT_UNLABELED, &d, &err)) goto done;
        if (is_dir) add = d.n;
        if (is_dir && d.n_skipped)
            fprintf(stderr, "featcache predict: note: skipped %zu file%s in %s that %s not an image (e.g. %s)\n",
                    d.n_skipped, d.n_skipped == 1 ? "" : "s", argv[a], d.n_skipped == 1 ? "is" : "are", d.skipped[0]);
        if (n + add > cap) {
            cap = (n + add) * 2;
            char **np = realloc(paths, cap * sizeof *np);
            if (!np) { if (is_dir) fc_dataset_free(&d); fc_fail(&err, FC_ENOMEM, "out of memory"); goto done; }
            paths = np;
        }
        for (size_t i = 0; i < add; i++) paths[n++] = strdup(is_dir ? d.items[i].path : argv[a]);
        if (is_dir) fc_dataset_free(&d);
    }
    int K = heads[0].head.n_classes;
    bad = calloc(n + 1, sizeof *bad);
    P = calloc(n * K + 1, sizeof *P);
    Pi = malloc((n * K + 1) * sizeof *Pi);
    if (!bad || !P || !Pi) { fc_fail(&err, FC_ENOMEM, "out of memory"); goto done; }
    const char *dir = cli_cache_dir(cache_opt);
    fc_error cerr;
    if (fc_cache_open(dir, FC_CACHE_RDONLY, NULL, &cache, &cerr)) { /* no cache: compute everything */
        cache = NULL;
        if (cerr.code == FC_EFORMAT) fprintf(stderr, "featcache predict: not using the cache: %s\n", cerr.msg);
    }
    if (model && fc_model_fingerprint(model, override_sha, NULL, &err)) goto done;
    backbone_opt bb = {.model = model, .fp = override_sha, .force = force, .compute_set = compute_set, .compute = compute};
    for (int h = 0; h < n_heads; h++) {
        size_t dim;
        if (head_features(&heads[h], &bb, cache, paths, n, threads, &feats, &dim, bad, &err)) goto done;
        for (size_t i = 0; i < n; i++) /* rows of bad images are zeros: predicted but not printed */
            if (bad[i]) memset(feats + i * dim, 0, dim * sizeof(float));
        if (cli_head_file_proba(&heads[h], feats, (int)n, Pi, threads, &err)) goto done;
        for (size_t q = 0; q < n * K; q++) P[q] += Pi[q] / n_heads;
        free(feats);
        feats = NULL;
    }
    int n_bad = 0;
    if (!json) printf("image\trank\tlabel\tprobability\n");
    for (size_t i = 0; i < n; i++) {
        if (bad[i]) { fprintf(stderr, "featcache predict: skipped %s\n", bad[i]); n_bad++; continue; }
        const float *p = P + i * K;
        int order[100], t = top < K ? top : K;
        cli_top_k(p, K, t, order);
        if (json) {
            fc_strbuf j = {0};
            fc_strbuf_printf(&j, "{\"image\":");
            fc_strbuf_json(&j, paths[i]);
            fc_strbuf_printf(&j, ",\"top\":[");
            for (int r = 0; r < t; r++) {
                fc_strbuf_printf(&j, "%s{\"label\":", r ? "," : "");
                fc_strbuf_json(&j, heads[0].head.class_names[order[r]]);
                fc_strbuf_printf(&j, ",\"probability\":%.6g}", p[order[r]]);
            }
            fc_strbuf_printf(&j, "]}");
            puts(j.s);
            fc_strbuf_free(&j);
        } else {
            for (int r = 0; r < t; r++)
                printf("%s\t%d\t%s\t%.5f\n", paths[i], r + 1, heads[0].head.class_names[order[r]], p[order[r]]);
        }
    }
    if (n_bad) fprintf(stderr, "featcache predict: %d of %zu images could not be read\n", n_bad, n);
    rc = n_bad ? EXIT_PARTIAL : EXIT_OK;
done:
    if (rc == EXIT_FAIL) fprintf(stderr, "featcache predict: %s\n", err.msg);
    for (size_t i = 0; i < n; i++) { free(paths[i]); if (bad) free(bad[i]); }
    free(paths); free(bad); free(P); free(Pi); free(feats);
    for (int h = 0; h < loaded; h++) cli_head_file_free(&heads[h]);
    fc_cache_close(cache);
    return rc;
}
