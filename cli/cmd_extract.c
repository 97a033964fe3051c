/* `featcache extract`: a data set's features into the cache, computing only what is missing.
 * Progress on stderr when it is a terminal; Ctrl-C stops after the batch in flight, keeping
 * everything committed. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/extractor_opts.h"
#include "core/core.h"
#include "extract/extract.h"
#include "store/store.h"

static const char *usage_text =
    "usage: featcache extract DATASET --model M.onnx [options]\n"
    "Computes the model's features for every image of DATASET and stores them in the cache; items\n"
    "already cached (same bytes, same extractor) are not recomputed. DATASET is a folder\n"
    "(root/<class>/*, root/{train,val,test}/<class>/*, or images directly) or a CSV manifest\n"
    "(path,label[,split]). Images (JPEG, PNG, WebP, GIF, BMP, TIFF) over 200 megapixels are\n"
    "refused (recorded bad); large JPEGs are decoded at 1/2, 1/4 or 1/8 scale, so memory stays\n"
    "bounded.\n\n"
    "  --model PATH        ONNX model (required)\n"
    "  --layer NAME        tensor to store (repeatable; default: the input of the final classifier)\n"
    "  --preprocess NAME   tf (default), torch or caffe\n"
    "  --grayscale         convert images to gray, one channel (for models that take 1 channel;\n"
    "                      normalized with the mean of the preset's three channels)\n"
    "  --exif-orientation apply|ignore  turn images by their EXIF orientation as a person sees\n"
    "                      them (apply, the default; like PIL's ImageOps.exif_transpose) or keep the\n"
    "                      stored pixels (ignore); part of the extractor\n"
    "  --size N            input size N x N (default: the model's own)\n"
    "  --crop F            central fraction kept before resizing (default 1 = whole image)\n"
    "  --views LIST        any of orig, flip, crops5 (centre + 4 corner crops of --crop, else 0.875),\n"
    "                      comma-separated (default orig)\n"
    "  --dtype T           f32 (default) or f16 (half the space)\n"
    "  --compute P         f32 (default) or bf16: the model's products on bf16 pairs with f32 sums\n"
    "                      (CPUs with AVX512_BF16; another extractor: f32 requests never get them)\n"
    "  --batch N           images per forward pass (default 16)\n"
    "  --threads N         inference threads (default: all cores)\n"
    "  --decoders N        image decoding threads (default 2)\n"
    "  --parallel MODE     batch: each inference thread runs its slice of a batch through the whole\n"
    "                      network (default); layers: every layer runs on all threads\n"
    "  --shard K/N         compute only the items whose content hash falls in shard K of N (0..N-1;\n"
    "                      stable whatever the file order or machine); the others are hashed and\n"
    "                      recorded, so every shard's cache lists the whole data set (featcache merge\n"
    "                      combines the shards' caches; scripts/slurm/ runs one shard per array task)\n"
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


const char *cli_cache_dir(const char *opt) { return fc_cache_dir(opt); }

static int print_bad(void *user, const fc_catalog_item *it) {
    fprintf(stderr, "  bad: %s\n", it->error ? it->error : it->path);
    return 0;
}

/* Parsed command line: the job's options and the arrays they point into. */
typedef struct extract_args {
    fc_extract_options o;
    const char *layers[FC_JOB_MAX_LAYERS];
    int views[FC_N_VIEWS];
    int quiet, json;
} extract_args;

/* --shard K/N: 0 <= K < N; prints why and returns -1 otherwise. */
static int parse_shard(const char *s, int *k, int *n) {
    char *end1, *end2;
    long kk = strtol(s, &end1, 10), nn = *end1 == '/' ? strtol(end1 + 1, &end2, 10) : 0;
    if (*end1 != '/' || end1 == s || *end2 || end2 == end1 + 1 || nn < 1 || nn > 1000000 || kk < 0 || kk >= nn) {
        fprintf(stderr, "featcache extract: --shard wants K/N with 0 <= K < N (e.g. 3/8), not '%s'\n", s);
        return -1;
    }
    *k = (int)kk;
    *n = (int)nn;
    return 0;
}

/* Fills a from the command line; returns -1 to go on, else the exit status (help, usage error). */
static int parse_args(int argc, char **argv, extract_args *a) {
    static const struct option opts[] = {
        {"model", required_argument, 0, 1001}, {"layer", required_argument, 0, 'L'},
        {"preprocess", required_argument, 0, 1005}, {"size", required_argument, 0, 1003},
        {"crop", required_argument, 0, 1004}, {"views", required_argument, 0, 'v'},
        {"dtype", required_argument, 0, 1006}, {"batch", required_argument, 0, 'b'},
        {"threads", required_argument, 0, 't'}, {"decoders", required_argument, 0, 'D'}, {"parallel", required_argument, 0, 'P'},
        {"cache", required_argument, 0, 1008}, {"name", required_argument, 0, 1009},
        {"format", required_argument, 0, 'f'}, {"grayscale", no_argument, 0, 1010}, {"compute", required_argument, 0, 1012},
        {"exif-orientation", required_argument, 0, 1013},
        {"shard", required_argument, 0, 'K'},
        {"max-cache-size", required_argument, 0, 'S'}, {"quiet", no_argument, 0, 'q'},
        {"json", no_argument, 0, 'j'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    memset(a, 0, sizeof *a);
    fc_extractor_def *x = &a->o.extractor;
    fc_extract_compute *c = &a->o.compute;
    cli_extractor ex; /* model, size, crop, preprocess, grayscale, dtype, cache, name: parsed as every command does */
    cli_extractor_init(&ex);
    fc_error err = {0};
    int opt, split = 1;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (opt) {
        case 'L':
            if (x->n_layers == FC_JOB_MAX_LAYERS) { fprintf(stderr, "featcache extract: at most %d --layer\n", FC_JOB_MAX_LAYERS); return EXIT_USAGE; }
            a->layers[x->n_layers++] = optarg;
            break;
        case 'v':
            if (fc_views_parse(optarg, a->views, &x->n_views, &err)) {
                fprintf(stderr, "featcache extract: --views: %s\n", err.msg);
                return EXIT_USAGE;
            }
            x->views = a->views;
            break;
        case 'b': if (cli_int("extract", "batch", optarg, 1, 4096, &c->batch)) return EXIT_USAGE; break;
        case 't': if (cli_int("extract", "threads", optarg, 1, 1024, &c->threads)) return EXIT_USAGE; break;
        case 'D': if (cli_int("extract", "decoders", optarg, 1, 64, &c->decode_threads)) return EXIT_USAGE; break;
        case 'P':
            if (cli_parallel_mode("extract", optarg, &split)) return EXIT_USAGE;
            c->layer_parallel = !split;
            break;
        case 'f':
            if (fc_layout_parse(optarg, &a->o.dataset.layout, &err)) { fprintf(stderr, "featcache extract: %s\n", err.msg); return EXIT_USAGE; }
            break;
        case 'S': if (cli_bytes("extract", "max-cache-size", optarg, 65536, &a->o.cache.max_map_size)) return EXIT_USAGE; break;
        case 'K':
            if (parse_shard(optarg, &c->shard, &c->n_shards)) return EXIT_USAGE;
            break;
        case 'q': a->quiet = 1; break;
        case 'j': a->json = 1; break;
        case 'h': fputs(usage_text, stdout); return EXIT_OK;
        default: {
            int r = cli_extractor_option("extract", opt, optarg, &ex);
            if (r > 0) break;
            if (r == 0) fputs(usage_text, stderr); /* else a bad value, already said */
            return EXIT_USAGE;
        }
        }
    }
    if (!ex.model || optind != argc - 1) {
        fprintf(stderr, "featcache extract: %s\n\n%s", !ex.model ? "--model is required" : "give exactly one DATASET", usage_text);
        return EXIT_USAGE;
    }
    x->model = ex.model;
    x->layers = x->n_layers ? a->layers : NULL;
    x->size = ex.size;
    x->crop = (float)ex.crop;
    x->preset = ex.preset;
    x->gray = ex.gray;
    x->compute = ex.compute;
    x->exif = ex.exif;
    x->dtype = ex.dtype;
    a->o.dataset.path = argv[optind];
    a->o.dataset.name = ex.name;
    a->o.cache.dir = cli_cache_dir(ex.cache);
    return -1;
}

/* The bad files of the data set (from the catalog: the reasons of earlier runs included) on stderr. */
static void list_bad(const char *cache_dir, const fc_extract_result *r) {
    fc_catalog *cat = NULL;
    fc_error err; /* the run itself succeeded: without the catalog the list is just left out */
    if (fc_catalog_open(cache_dir, FC_CATALOG_RDONLY, 0, &cat, &err) != 0) return;
    fprintf(stderr, "%zu bad file%s:\n", r->counts.bad, r->counts.bad == 1 ? "" : "s");
    fc_catalog_item_list(cat, r->dataset_id, FC_ITEMS_BAD, print_bad, NULL, &err); /* as above */
    fc_catalog_close(cat);
}

static void print_json(const fc_extract_options *o, const fc_extract_result *r) {
    fc_strbuf s = {0};
    fc_extract_summary_json(o, r, &s);
    puts(s.s && !s.failed ? s.s : "{}");
    fc_strbuf_free(&s);
}

static void print_text(const fc_extract_options *o, const fc_extract_result *r) {
    const fc_job_progress *p = &r->counts;
    double rate = p->seconds > 0 ? p->computed / p->seconds : 0;
    for (int l = 0; l < r->n_layers; l++) {
        fprintf(stderr, "layer %s (", r->layers[l]);
        for (int d = 0; d < r->rank[l]; d++) fprintf(stderr, "%s%u", d ? "x" : "", r->dims[l][d]);
        fprintf(stderr, "), extractor %.12s\n", r->extractor[l]);
    }
    if (p->damaged)
        fprintf(stderr, "%zu stored features failed their checksum and were computed again\n", p->damaged);
    char others[64] = "";
    if (o->compute.n_shards > 0)
        snprintf(others, sizeof others, ", %zu in other shards (shard %d/%d)", p->elsewhere, o->compute.shard,
                 o->compute.n_shards);
    fprintf(stderr, "%zu items: %zu computed, %zu cached, %zu bad%s in %.2f s (%.1f img/s) -> %s\n", p->total,
            p->computed, p->cached, p->bad, others, p->seconds, rate, o->cache.dir);
}

/* What the scan left out: stray files (a note) and folders too deep to enter (their files are
 * missing from the data set: a warning, exit 3). */
static void print_scan_notes(const fc_extract_result *r) {
    if (r->skipped)
        fprintf(stderr, "featcache extract: note: skipped %zu file%s that %s not an image: %s\n", r->skipped,
                r->skipped == 1 ? "" : "s", r->skipped == 1 ? "is" : "are", r->skipped_names);
    if (r->too_deep)
        fprintf(stderr, "featcache extract: warning: %zu folder%s deeper than %d levels not scanned (%s files are not "
                "in the data set): %s\n", r->too_deep, r->too_deep == 1 ? "" : "s", FC_DATASET_MAX_DEPTH,
                r->too_deep == 1 ? "its" : "their", r->too_deep_names);
}

/* The test hook after each batch's features are committed (cli_test_pause). */
static void on_committed(void *user, int n_items) { cli_test_pause("extract-batch"); }

int cmd_extract(int argc, char **argv) {
    extract_args a;
    int st = parse_args(argc, argv, &a);
    if (st >= 0) return st;
    cli_progress ps = {.show = !a.quiet && isatty(2), .last = -1};
    volatile int *cancel = cli_cancel_on_signals();
    a.o.control = (fc_extract_control){.cancel = cancel, .progress = cli_progress_show,
                                         .committed = on_committed, .user = &ps};
    fc_extract_result r;
    fc_error err = {0};
    int rc = fc_extract_run(&a.o, &r, &err);
    if (ps.show) fputc('\n', stderr);
    if (rc) {
        if (*cancel) {
            fprintf(stderr, "featcache extract: interrupted; %zu computed and committed, rerun to finish\n", r.counts.computed);
            return 130;
        }
        fprintf(stderr, "featcache extract: %s\n", err.msg);
        if (rc == FC_EFULL)
            fprintf(stderr, "featcache extract: %zu computed and committed; rerun with a larger --max-cache-size to finish\n",
                    r.counts.computed);
        return EXIT_FAIL;
    }
    if (a.json) print_json(&a.o, &r);
    else {
        if (r.counts.bad) list_bad(a.o.cache.dir, &r);
        if (!a.quiet) print_text(&a.o, &r);
    }
    print_scan_notes(&r);
    return r.counts.bad || r.too_deep ? EXIT_PARTIAL : EXIT_OK;
}
