/* `featcache extract`: a data set's features into the cache, computing only what is missing.
 * Progress on stderr when it is a terminal; Ctrl-C stops after the batch in flight, keeping
 * everything committed. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/core.h"
#include "extract/extract.h"
#include "store/store.h"

static const char *usage_text =
    "usage: featcache extract DATASET --model M.onnx [options]\n"
    "Computes the model's features for every image of DATASET and stores them in the cache; items\n"
    "already cached (same bytes, same extractor) are not recomputed. DATASET is a folder\n"
    "(root/<class>/*, root/{train,val,test}/<class>/*, or images directly) or a CSV manifest\n"
    "(path,label[,split]). Images (JPEG, PNG) over 200 megapixels are refused (recorded bad);\n"
    "large JPEGs are decoded at 1/2, 1/4 or 1/8 scale, so memory stays bounded.\n\n"
    "  --model PATH        ONNX model (required)\n"
    "  --layer NAME        tensor to store (repeatable; default: the input of the final classifier)\n"
    "  --preprocess NAME   tf (default), torch or caffe\n"
    "  --size N            input size N x N (default: the model's own)\n"
    "  --crop F            central fraction kept before resizing (default 1 = whole image)\n"
    "  --views LIST        any of orig, flip, crops5 (centre + 4 corner crops of --crop, else 0.875),\n"
    "                      comma-separated (default orig)\n"
    "  --dtype T           f32 (default) or f16 (half the space)\n"
    "  --batch N           images per forward pass (default 16)\n"
    "  --threads N         inference threads (default: all cores)\n"
    "  --decoders N        image decoding threads (default 2)\n"
    "  --parallel MODE     batch: each inference thread runs its slice of a batch through the whole\n"
    "                      network (default); layers: every layer runs on all threads\n"
    "  --cache DIR         cache folder (default $FEATCACHE_HOME, else ./.featcache)\n"
    "  --max-cache-size B  stop with \"cache full\" when the feature store would exceed B bytes\n"
    "                      (suffix K, M, G, T; default 1T; committed features stay)\n"
    "  --name NAME         data set name in the catalog (default: the folder's name; refused when\n"
    "                      another existing folder already has it in this cache)\n"
    "  --format F          auto (default), split, imagefolder, csv, unlabeled\n"
    "  --quiet             no progress\n"
    "  --json              print a JSON summary on stdout\n"
    "Exit status: 0 ok, 3 completed but some files were bad (listed with the reason), 1 error,\n"
    "130 interrupted (what was committed stays), 64 usage.\n";

static volatile int cancel_flag;

static void on_signal(int sig) {
    cancel_flag = 1;
    signal(sig, SIG_DFL); /* a second Ctrl-C ends at once */
}

typedef struct progress_state {
    int show;
    double last;
} progress_state;

static void show_progress(void *user, const fc_job_progress *p) {
    progress_state *ps = user;
    if (!ps->show || (p->seconds - ps->last < 0.2 && p->done < p->total)) return;
    ps->last = p->seconds;
    double rate = p->seconds > 0 ? p->computed / p->seconds : 0;
    size_t left = p->total - p->done;
    fprintf(stderr, "\r  %zu/%zu  computed %zu  cached %zu  bad %zu  %.1f img/s", p->done, p->total,
            p->computed, p->cached, p->bad, rate);
    if (rate > 0 && left) fprintf(stderr, "  ETA %.0fs   ", left / rate);
    else fprintf(stderr, "            ");
    fflush(stderr);
}

const char *cli_cache_dir(const char *opt) {
    if (opt && *opt) return opt;
    const char *env = getenv("FEATCACHE_HOME");
    return env && *env ? env : ".featcache";
}

typedef struct bad_list {
    fc_strbuf json;
    int n, json_mode;
} bad_list;

static int print_bad(void *user, const fc_catalog_item *it) {
    bad_list *b = user;
    if (b->json_mode) {
        fc_strbuf_printf(&b->json, "%s{\"path\":", b->n ? "," : "");
        fc_strbuf_json(&b->json, it->path);
        fc_strbuf_printf(&b->json, ",\"error\":");
        fc_strbuf_json(&b->json, it->error ? it->error : "");
        fc_strbuf_printf(&b->json, "}");
    } else {
        fprintf(stderr, "  bad: %s\n", it->error ? it->error : it->path);
    }
    b->n++;
    return 0;
}

int cmd_extract(int argc, char **argv) {
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'}, {"layer", required_argument, 0, 'L'},
        {"preprocess", required_argument, 0, 'p'}, {"size", required_argument, 0, 's'},
        {"crop", required_argument, 0, 'c'}, {"views", required_argument, 0, 'v'},
        {"dtype", required_argument, 0, 'd'}, {"batch", required_argument, 0, 'b'},
        {"threads", required_argument, 0, 't'}, {"decoders", required_argument, 0, 'D'}, {"parallel", required_argument, 0, 'P'},
        {"cache", required_argument, 0, 'C'}, {"name", required_argument, 0, 'n'},
        {"format", required_argument, 0, 'f'},
        {"max-cache-size", required_argument, 0, 'S'}, {"quiet", no_argument, 0, 'q'},
        {"json", no_argument, 0, 'j'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    int views[FC_N_VIEWS];
    fc_extract_options o = {.n_views = 0, .dtype = FC_DTYPE_F32, .preset = FC_PRESET_TF, .crop = 1};
    const char *layers[FC_JOB_MAX_LAYERS], *cache = NULL;
    int quiet = 0, json = 0, c;
    double crop = 1;
    fc_error err = {0};
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'm': o.model = optarg; break;
        case 'L':
            if (o.n_layers == FC_JOB_MAX_LAYERS) { fprintf(stderr, "featcache extract: at most %d --layer\n", FC_JOB_MAX_LAYERS); return EXIT_USAGE; }
            layers[o.n_layers++] = optarg;
            break;
        case 'p':
            if (fc_preset_parse(optarg, &o.preset, &err)) { fprintf(stderr, "featcache extract: %s\n", err.msg); return EXIT_USAGE; }
            break;
        case 's': if (cli_int("extract", "size", optarg, 8, 8192, &o.size)) return EXIT_USAGE; break;
        case 'c': if (cli_float("extract", "crop", optarg, 0.05, 1.0, &crop)) return EXIT_USAGE; o.crop = (float)crop; break;
        case 'v':
            if (fc_views_parse(optarg, views, &o.n_views, &err)) {
                fprintf(stderr, "featcache extract: --views: %s\n", err.msg);
                return EXIT_USAGE;
            }
            o.views = views;
            break;
        case 'd':
            if (!strcmp(optarg, "f32")) o.dtype = FC_DTYPE_F32;
            else if (!strcmp(optarg, "f16")) o.dtype = FC_DTYPE_F16;
            else { fprintf(stderr, "featcache extract: --dtype wants f32 or f16, not '%s'\n", optarg); return EXIT_USAGE; }
            break;
        case 'b': if (cli_int("extract", "batch", optarg, 1, 4096, &o.batch)) return EXIT_USAGE; break;
        case 't': if (cli_int("extract", "threads", optarg, 1, 1024, &o.threads)) return EXIT_USAGE; break;
        case 'D': if (cli_int("extract", "decoders", optarg, 1, 64, &o.decode_threads)) return EXIT_USAGE; break;
        case 'P': {
            int split = 1;
            if (cli_parallel_mode("extract", optarg, &split)) return EXIT_USAGE;
            o.layer_parallel = !split;
            break;
        }
        case 'C': cache = optarg; break;
        case 'n': o.name = optarg; break;
        case 'f':
            if (fc_layout_parse(optarg, &o.layout, &err)) { fprintf(stderr, "featcache extract: %s\n", err.msg); return EXIT_USAGE; }
            break;
        case 'S': if (cli_bytes("extract", "max-cache-size", optarg, 65536, &o.max_map_size)) return EXIT_USAGE; break;
        case 'q': quiet = 1; break;
        case 'j': json = 1; break;
        case 'h': fputs(usage_text, stdout); return EXIT_OK;
        default: fputs(usage_text, stderr); return EXIT_USAGE;
        }
    }
    if (!o.model || optind != argc - 1) {
        fprintf(stderr, "featcache extract: %s\n\n%s", !o.model ? "--model is required" : "give exactly one DATASET", usage_text);
        return EXIT_USAGE;
    }
    o.dataset = argv[optind];
    o.layers = o.n_layers ? layers : NULL;
    o.cache_dir = cli_cache_dir(cache);
    o.cancel = &cancel_flag;
    progress_state ps = {.show = !quiet && isatty(2), .last = -1};
    o.progress = show_progress;
    o.user = &ps;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    fc_extract_result r;
    int rc = fc_extract_run(&o, &r, &err);
    if (ps.show) fputc('\n', stderr);
    if (rc) {
        if (cancel_flag) {
            fprintf(stderr, "featcache extract: interrupted; %zu computed and committed, rerun to finish\n", r.counts.computed);
            return 130;
        }
        fprintf(stderr, "featcache extract: %s\n", err.msg);
        if (err.code == FC_ELIMIT && strstr(err.msg, "cache full"))
            fprintf(stderr, "featcache extract: %zu computed and committed; rerun with a larger --max-cache-size to finish\n",
                    r.counts.computed);
        return EXIT_FAIL;
    }
    const fc_job_progress *p = &r.counts;
    bad_list bad = {.json_mode = json};
    if (p->bad) { /* list them from the catalog: the reasons of earlier runs included */
        fc_catalog *cat = NULL;
        if (fc_catalog_open(o.cache_dir, FC_CATALOG_RDONLY, 0, &cat, &err) == 0) {
            if (!json) fprintf(stderr, "%zu bad file%s:\n", p->bad, p->bad == 1 ? "" : "s");
            fc_catalog_item_list(cat, r.dataset_id, FC_ITEMS_BAD, print_bad, &bad, &err);
            fc_catalog_close(cat);
        }
    }
    double rate = p->seconds > 0 ? p->computed / p->seconds : 0;
    if (json) {
        fc_strbuf s = {0};
        fc_strbuf_printf(&s, "{\"dataset\":");
        fc_strbuf_json(&s, o.dataset);
        fc_strbuf_printf(&s, ",\"cache\":");
        fc_strbuf_json(&s, o.cache_dir);
        fc_strbuf_printf(&s, ",\"items\":%zu,\"computed\":%zu,\"cached\":%zu,\"bad\":%zu,\"seconds\":%.3f,"
                             "\"imgs_per_s\":%.2f,\"model_loaded\":%s,\"layers\":[",
                         p->total, p->computed, p->cached, p->bad, p->seconds, rate, r.model_loaded ? "true" : "false");
        for (int l = 0; l < r.n_layers; l++) {
            fc_strbuf_printf(&s, "%s{\"name\":", l ? "," : "");
            fc_strbuf_json(&s, r.layers[l]);
            fc_strbuf_printf(&s, ",\"extractor\":\"%s\",\"dims\":[", r.extractor[l]);
            for (int d = 0; d < r.rank[l]; d++) fc_strbuf_printf(&s, "%s%u", d ? "," : "", r.dims[l][d]);
            fc_strbuf_printf(&s, "]}");
        }
        fc_strbuf_printf(&s, "],\"bad_files\":[%s]}", bad.json.s ? bad.json.s : "");
        puts(s.s ? s.s : "{}");
        fc_strbuf_free(&s);
    } else if (!quiet) {
        for (int l = 0; l < r.n_layers; l++) {
            fprintf(stderr, "layer %s (", r.layers[l]);
            for (int d = 0; d < r.rank[l]; d++) fprintf(stderr, "%s%u", d ? "x" : "", r.dims[l][d]);
            fprintf(stderr, "), extractor %.12s\n", r.extractor[l]);
        }
        fprintf(stderr, "%zu items: %zu computed, %zu cached, %zu bad in %.2f s (%.1f img/s) -> %s\n", p->total,
                p->computed, p->cached, p->bad, p->seconds, rate, o.cache_dir);
    }
    fc_strbuf_free(&bad.json);
    return p->bad ? EXIT_PARTIAL : EXIT_OK;
}
