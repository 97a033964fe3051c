/* `featcache cuts`: where a model can be cut to cache activations once and fine-tune only the top:
 * each cut tensor with its per-image shape, cached size, GFLOP below and above, trainable
 * parameters above, and the inputs of the last 1, 2 and 3 blocks (fc_model_cuts, engine/cuts.h).
 * A table, or one JSON object with --json. Not here: caching at a cut, training the top. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "engine/engine.h"

static const char *usage_text =
    "usage: featcache cuts --model M.onnx [options]\n"
    "Lists the tensors where the model can be cut (every path from the input to the feature tensor\n"
    "passes through them): per-image shape, cached bytes as f16 and f32, GFLOP below and above the\n"
    "cut, trainable parameters above it (BatchNorm folded into its Conv), and which cuts are the\n"
    "inputs of the last 1, 2 and 3 blocks (fine-tune those blocks from activations cached there).\n\n"
    "  --model PATH   ONNX model (required)\n"
    "  --layer NAME   feature tensor (default: the model's default feature, as extract uses)\n"
    "  --size N       input size N x N (default: the model's own)\n"
    "  --json         one JSON object instead of a table\n"
    "Exit status: 0 ok, 1 error (model unreadable, unknown --layer), 64 usage.\n";

/* n bytes as B, KiB, MiB or GiB with one decimal. */
static void human_bytes(int64_t n, char *buf, size_t cap) {
    static const char *unit[] = {"B", "KiB", "MiB", "GiB"};
    double v = (double)n;
    int u = 0;
    while (v >= 1024 && u < 3) v /= 1024, u++;
    if (u == 0) snprintf(buf, cap, "%lld B", (long long)n);
    else snprintf(buf, cap, "%.1f %s", v, unit[u]);
}

static void shape_text(const fc_cut *c, char *buf, size_t cap) {
    int at = 0;
    buf[0] = 0;
    for (int d = 0; d < c->rank && at < (int)cap - 24; d++)
        at += snprintf(buf + at, cap - (size_t)at, "%s%lld", d ? "x" : "", (long long)c->dims[d]);
}

static void print_table(const char *model, const fc_cut_list *l) {
    int w = 4;
    for (int i = 0; i < l->n; i++)
        if ((int)strlen(l->cuts[i].name) > w) w = (int)strlen(l->cuts[i].name);
    printf("model    %s\nfeature  %s (input %dx%d): %.3f GFLOP per image, %lld trainable parameters\n\n", model,
           l->feature, l->height, l->width, l->flops / 1e9, (long long)l->params);
    if (!l->n) { printf("no tensor below the feature can be cut\n"); return; }
    printf("%-*s  %-14s %11s %11s %11s %11s %12s  %s\n", w, "cut", "shape", "f16", "f32", "GFLOP below",
           "GFLOP above", "params above", "input of");
    for (int i = 0; i < l->n; i++) {
        const fc_cut *c = &l->cuts[i];
        char shape[64], f16[32], f32[32];
        shape_text(c, shape, sizeof shape);
        human_bytes(c->bytes_f16, f16, sizeof f16);
        human_bytes(c->bytes_f32, f32, sizeof f32);
        printf("%-*s  %-14s %11s %11s %11.3f %11.3f %12lld", w, c->name, shape, f16, f32, c->flops_below / 1e9,
               c->flops_above / 1e9, (long long)c->params_above);
        if (c->block_input) printf("  last %d block%s", c->block_input, c->block_input > 1 ? "s" : "");
        putchar('\n');
    }
}

static void print_json(const char *model, const fc_cut_list *l) {
    fc_strbuf s = {0};
    fc_strbuf_printf(&s, "{\"model\":");
    fc_strbuf_json(&s, model);
    fc_strbuf_printf(&s, ",\"feature\":");
    fc_strbuf_json(&s, l->feature);
    fc_strbuf_printf(&s, ",\"size\":%d,\"flops\":%.0f,\"params\":%lld,\"cuts\":[", l->height, l->flops,
                     (long long)l->params);
    for (int i = 0; i < l->n; i++) {
        const fc_cut *c = &l->cuts[i];
        fc_strbuf_printf(&s, "%s{\"name\":", i ? "," : "");
        fc_strbuf_json(&s, c->name);
        fc_strbuf_printf(&s, ",\"shape\":[");
        for (int d = 0; d < c->rank; d++) fc_strbuf_printf(&s, "%s%lld", d ? "," : "", (long long)c->dims[d]);
        fc_strbuf_printf(&s, "],\"bytes_f16\":%lld,\"bytes_f32\":%lld,\"flops_below\":%.0f,\"flops_above\":%.0f,"
                             "\"params_above\":%lld,\"block_input\":",
                         (long long)c->bytes_f16, (long long)c->bytes_f32, c->flops_below, c->flops_above,
                         (long long)c->params_above);
        if (c->block_input) fc_strbuf_printf(&s, "%d}", c->block_input);
        else fc_strbuf_printf(&s, "null}");
    }
    fc_strbuf_printf(&s, "]}");
    puts(s.s ? s.s : "{}");
    fc_strbuf_free(&s);
}

int cmd_cuts(int argc, char **argv) {
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'}, {"layer", required_argument, 0, 'l'},
        {"size", required_argument, 0, 's'},  {"json", no_argument, 0, 'j'},
        {"help", no_argument, 0, 'h'},        {0, 0, 0, 0}};
    const char *model = NULL, *layer = NULL;
    int size = 0, json = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model = optarg; break;
        case 'l': layer = optarg; break;
        case 's': if (cli_int("cuts", "size", optarg, 8, 8192, &size)) return EXIT_USAGE; break;
        case 'j': json = 1; break;
        case 'h': fputs(usage_text, stdout); return EXIT_OK;
        default: fputs(usage_text, stderr); return EXIT_USAGE;
        }
    }
    if (!model || optind < argc) {
        fprintf(stderr, "featcache cuts: %s\n\n%s", !model ? "--model is required" : "unexpected argument",
                usage_text);
        return EXIT_USAGE;
    }
    fc_cut_list l;
    fc_error err = {0};
    int rc = fc_model_cuts(model, layer, size, &l, &err);
    if (rc) fprintf(stderr, "featcache cuts: %s\n", err.msg);
    else if (json) print_json(model, &l);
    else print_table(model, &l);
    fc_cut_list_free(&l);
    return rc ? EXIT_FAIL : EXIT_OK;
}
