/* featcache command-line entry point: dispatches to one function per command. */
#include <malloc.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static const struct {
    const char *name;
    int (*run)(int, char **);
    const char *summary;
} commands[] = {
    {"extract", cmd_extract, "compute a data set's features into the cache (only what is missing)"},
    {"export", cmd_export, "write cached features as .npy/.csv with labels, paths and splits"},
    {"ls", cmd_ls, "list the cache's data sets, extractors, runs and bad files"},
    {"verify", cmd_verify, "check every stored feature and the catalog's consistency"},
    {"gc", cmd_gc, "delete features nothing references any more"},
    {"merge", cmd_merge, "merge cache folders (the shards of extract --shard) into one"},
    {"train", cmd_train, "fit a classifier head (or new conv blocks + head on a cached map), evaluate, save as ONNX"},
    {"sweep", cmd_sweep, "fit every combination of a hyperparameter grid in parallel, ranked"},
    {"eval", cmd_eval, "metrics of a head (or an ensemble) on a cached data set"},
    {"predict", cmd_predict, "label images with a head: cached features or the backbone"},
    {"report", cmd_report, "one self-contained HTML page for a train run or a sweep"},
    {"export-onnx", cmd_export_onnx, "backbone + head as one ONNX image classifier"},
    {"infer", cmd_infer, "classify images with an ONNX model (top-k per image)"},
    {"bench", cmd_bench, "measure a model's throughput (img/s, GFLOP/s, fraction of peak)"},
    {"cuts", cmd_cuts, "where a model can be cut to fine-tune its top: shapes, sizes, FLOPs, blocks"},
    {"finetune", cmd_finetune, "fine-tune the top of the backbone from cached cut activations + a new head"},
    {"advise", cmd_advise, "measure probes by layer and a learning curve; say which recipe to run next"},
};

static void usage(FILE *f) {
    fprintf(f, "usage: featcache COMMAND [OPTIONS]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n'featcache COMMAND --help' describes a command's options.\n");
}

/* Freed memory stays with the process for its next allocations instead of going back to the
 * system: glibc's defaults map every block over 128 KiB on its own and unmap it when freed, and
 * return the heap's free top, so that memory freed by one step is faulted in afresh (zeroed page by
 * page) by the next. A fresh extract loads its model twice (once to describe it, once to run it):
 * with these settings the second load reuses the first's pages (ResNet-50: 434 -> 303 ms). Blocks
 * over 32 MiB (glibc's largest threshold) are still mapped on their own. A process-wide policy, so
 * set here and not in the library, which may live in someone else's process. */
static void keep_freed_memory(void) {
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
}

int main(int argc, char **argv) {
    keep_freed_memory();
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return EXIT_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "featcache: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return EXIT_USAGE;
}
