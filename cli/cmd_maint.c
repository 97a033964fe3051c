/* Cache inspection and upkeep commands: `featcache ls` (data sets, extractors, runs, bad files),
 * `featcache verify` (every value checked, catalog and store consistent; --repair drops what is
 * damaged) and `featcache gc` (drop features nothing references). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "store/store.h"

static int parse_common(const char *cmd, const char *usage, int argc, char **argv, const char **cache,
                        int *flag, const char *flag_name) {
    const struct option opts[] = {{"cache", required_argument, 0, 'C'}, {"help", no_argument, 0, 'h'},
                                  {flag_name ? flag_name : "unused-flag", no_argument, 0, 'F'}, {0, 0, 0, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'C': *cache = optarg; break;
        case 'F': if (flag) *flag = 1; break;
        case 'h': fputs(usage, stdout); return EXIT_OK + 1000;
        default: fputs(usage, stderr); return EXIT_USAGE;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "featcache %s: unexpected argument '%s'\n\n%s", cmd, argv[optind], usage);
        return EXIT_USAGE;
    }
    return -1;
}

static int open_both(const char *dir, unsigned rdonly, fc_catalog **cat, fc_cache **cache, fc_error *err) {
    int rc = fc_catalog_open(dir, rdonly ? FC_CATALOG_RDONLY : 0, 0, cat, err);
    if (rc == 0) rc = fc_cache_open(dir, rdonly ? FC_CACHE_RDONLY : 0, NULL, cache, err);
    return rc;
}

/* ---- ls ---- */

static int ls_dataset(void *user, const fc_catalog_dataset *d) {
    printf("  %-24s %-11s %5lld items  %5lld ok  %3lld bad  %3lld classes  %s\n", d->name, d->format,
           (long long)d->items, (long long)d->ok, (long long)d->bad, (long long)d->classes, d->root);
    return 0;
}

static int ls_extractor(void *user, const fc_catalog_extractor *x) {
    fc_cache *cache = user;
    uint8_t id[32];
    size_t n = 0;
    for (int i = 0; i < 32; i++) sscanf(x->id + 2 * i, "%2hhx", &id[i]);
    fc_cache_count(cache, id, &n, NULL); /* a count that cannot be read shows as 0; the listing goes on */
    const char *base = strrchr(x->model_path, '/');
    printf("  %.12s  %s  layer %s (", x->id, base ? base + 1 : x->model_path, x->layer);
    for (int d = 0; d < x->rank; d++) printf("%s%u", d ? "x" : "", x->dims[d]);
    printf(")  %dpx crop %g %s %s  %zu features\n", x->size, x->crop, x->preprocess,
           x->dtype == FC_DTYPE_F16 ? "f16" : "f32", n);
    return 0;
}

static int ls_run(void *user, const fc_catalog_run *r) {
    char when[32];
    time_t t = (time_t)r->started;
    strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", localtime(&t));
    printf("  #%-4lld %-7s %-8s %s  %.12s  %s\n", (long long)r->id, fc_run_kind_name(r->kind),
           fc_run_status_name(r->status), when, r->extractor_id ? r->extractor_id : "-", r->result ? r->result : "");
    return 0;
}

static int ls_bad(void *user, const fc_catalog_item *it) {
    printf("  %s\n", it->error ? it->error : it->path);
    return 0;
}

int cmd_ls(int argc, char **argv) {
    static const char *usage =
        "usage: featcache ls [--cache DIR]\n"
        "Lists the cache's data sets, extractors (with stored feature counts), runs and bad files,\n"
        "after checking the catalog (as verify does; a damaged catalog is not listed).\n";
    const char *cache_opt = NULL;
    int r = parse_common("ls", usage, argc, argv, &cache_opt, NULL, NULL);
    if (r >= 0) return r >= 1000 ? EXIT_OK : r;
    const char *dir = cli_cache_dir(cache_opt);
    fc_error err = {0};
    fc_catalog *cat = NULL;
    fc_cache *cache = NULL;
    int rc = open_both(dir, 1, &cat, &cache, &err);
    if (rc == 0) rc = fc_catalog_check_clean(cat, &err); /* a damaged row would be listed as if right */
    if (rc == 0) {
        printf("cache %s\ndata sets:\n", dir);
        rc = fc_catalog_dataset_list(cat, ls_dataset, NULL, &err);
        if (!rc) { printf("extractors:\n"); rc = fc_catalog_extractor_list(cat, ls_extractor, cache, &err); }
        if (!rc) { printf("runs:\n"); rc = fc_catalog_run_list(cat, ls_run, NULL, &err); }
        if (!rc) { printf("bad files:\n"); rc = fc_catalog_item_list(cat, 0, FC_ITEMS_BAD, ls_bad, NULL, &err); }
    }
    if (rc) fprintf(stderr, "featcache ls: %s\n", err.msg);
    fc_cache_close(cache);
    fc_catalog_close(cat);
    return rc ? EXIT_FAIL : EXIT_OK;
}

/* ---- verify ---- */

static void print_problem(void *user, const char *msg) { printf("  %s\n", msg); }

static int repair(const char *dir) {
    fc_error err = {0};
    fc_repair_report r;
    if (fc_repair(dir, print_problem, NULL, &r, &err)) {
        fprintf(stderr, "featcache verify: repair: %s\n", err.msg);
        return EXIT_FAIL;
    }
    if (r.store_rebuilt)
        printf("repair: features.mdb rebuilt with %zu features (%zu failed their checks, %zu pages unreadable)",
               r.values_saved, r.values_lost, r.pages_lost);
    else
        printf("repair: %zu damaged features dropped", r.values_dropped);
    printf(", %zu catalog rows fixed, %zu problems left that repair cannot fix\n", r.rows_fixed, r.unrepaired);
    return r.unrepaired ? 2 : EXIT_OK;
}

int cmd_verify(int argc, char **argv) {
    static const char *usage =
        "usage: featcache verify [--cache DIR] [--repair]\n"
        "Checks every stored feature (header and CRC) and the pages of features.mdb, that every good\n"
        "item of every data set has its features, that no catalog row points at nothing and SQLite's\n"
        "integrity_check of catalog.sqlite (it reads the whole file: the time is shown).\n"
        "  --repair  first drop what is damaged: features that fail their checks are deleted (a\n"
        "            features.mdb that cannot be opened is rebuilt from what it still holds, the\n"
        "            damaged file kept beside it), catalog indexes rebuilt, rows that point at nothing\n"
        "            removed; says what it cannot repair. The next featcache extract computes the\n"
        "            dropped features again. Run it when nothing else uses the cache.\n"
        "Exit status 0 when clean, 2 when problems were found (or are left), 1 on error.\n";
    const char *cache_opt = NULL;
    int fix = 0;
    int r = parse_common("verify", usage, argc, argv, &cache_opt, &fix, "repair");
    if (r >= 0) return r >= 1000 ? EXIT_OK : r;
    const char *dir = cli_cache_dir(cache_opt);
    int repaired = fix ? repair(dir) : EXIT_OK;
    if (repaired == EXIT_FAIL) return EXIT_FAIL;
    fc_error err = {0};
    fc_catalog *cat = NULL;
    fc_cache *cache = NULL;
    fc_verify_report rep;
    int rc = open_both(dir, 1, &cat, &cache, &err);
    if (rc == 0) rc = fc_verify(cat, cache, print_problem, NULL, &rep, &err);
    fc_cache_close(cache);
    fc_catalog_close(cat);
    if (rc == FC_EFORMAT) { /* a damaged file is what verify looks for: a finding, not a failure */
        printf("  %s\nPROBLEMS FOUND (featcache verify --repair drops what is damaged)\n", err.msg);
        return 2;
    }
    if (rc) {
        fprintf(stderr, "featcache verify: %s\n", err.msg);
        return EXIT_FAIL;
    }
    printf("%zu features checked, %zu corrupt, %zu missing, %zu unreferenced (featcache gc removes them); "
           "%zu data sets, %zu items, %zu extractors",
           rep.values, rep.corrupt, rep.missing, rep.orphans, rep.datasets, rep.items, rep.extractors);
    if (rep.unfinished_runs) printf("; %zu runs were interrupted", rep.unfinished_runs);
    printf("; %zu catalog problems (catalog checked in %.3f s, SQLite integrity_check included)", rep.catalog_problems,
           rep.catalog_seconds);
    int problems = rep.corrupt || rep.missing || rep.catalog_problems || repaired;
    printf("\n%s\n", problems ? "PROBLEMS FOUND" : "clean");
    if (problems && rep.missing && !rep.corrupt) printf("(featcache extract computes the missing features)\n");
    return problems ? 2 : EXIT_OK;
}

/* ---- gc ---- */

int cmd_gc(int argc, char **argv) {
    static const char *usage =
        "usage: featcache gc [--cache DIR] [--dry-run]\n"
        "Deletes features of extractors no data set uses and of items no data set references.\n"
        "Do not run it while an extract writes to the same cache.\n";
    const char *cache_opt = NULL;
    int dry = 0;
    int r = parse_common("gc", usage, argc, argv, &cache_opt, &dry, "dry-run");
    if (r >= 0) return r >= 1000 ? EXIT_OK : r;
    const char *dir = cli_cache_dir(cache_opt);
    fc_error err = {0};
    fc_catalog *cat = NULL;
    fc_cache *cache = NULL;
    fc_gc_report rep;
    int rc = open_both(dir, 0, &cat, &cache, &err);
    if (rc == 0) rc = fc_gc(cat, cache, dry, &rep, &err);
    fc_cache_close(cache);
    fc_catalog_close(cat);
    if (rc) {
        fprintf(stderr, "featcache gc: %s\n", err.msg);
        return EXIT_FAIL;
    }
    printf("%s%zu features of %zu unused extractors and %zu unreferenced items\n", dry ? "would delete " : "deleted ",
           rep.features_deleted, rep.extractors_removed, rep.items_unreferenced);
    return EXIT_OK;
}
