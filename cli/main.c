/* featcache command-line entry point: dispatches to one function per command, the training
 * commands with OpenMP's spinning shortened (short_spin). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* The training ops run one OpenMP region per op and step, each ending in a barrier, where libgomp
 * lets a thread that arrives first spin up to 300000 times (milliseconds) before it sleeps. On a
 * busy machine its partner is often descheduled, and the spinning takes the CPU the partner needs:
 * a 2-epoch finetune of ants/bees at a load of 15 took 62-110 s of wall time (16-19 s of CPU) by
 * default, 15-34 s (4 s of CPU) with GOMP_SPINCOUNT=10000 and 14-19 s passive. 10000 spins (about
 * 0.25 ms) still cover a barrier's wait on an idle machine. libgomp reads the variable when it is
 * loaded, before main, hence the second exec of this program; a user's own OMP_WAIT_POLICY or
 * GOMP_SPINCOUNT is kept, and a failed exec goes on with the default. */
static void short_spin(char **argv) {
    if (getenv("OMP_WAIT_POLICY") || getenv("GOMP_SPINCOUNT")) return;
    if (setenv("GOMP_SPINCOUNT", "10000", 1) == 0) execv("/proc/self/exe", argv);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return EXIT_OK;
    }
    if (!strcmp(argv[1], "finetune") || !strcmp(argv[1], "train") || !strcmp(argv[1], "sweep")) short_spin(argv);
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "featcache: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return EXIT_USAGE;
}
