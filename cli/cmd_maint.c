/* Cache inspection and upkeep commands: `featcache ls` (data sets, extractors, runs, bad files),
 * `featcache verify` (every value checked, catalog and store consistent; --repair drops what is
 * damaged) and `featcache gc` (drop features nothing references). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/extractor_opts.h"
#include "store/store.h"

/* --cache DIR and up to two flags (names[i] NULL: none) into flags[i]; -1 to go on, EXIT_OK + 1000
 * after --help, else the exit status. */
static int parse_common(const char *cmd, const char *usage, int argc, char **argv, const char **cache,
                        int *flags, const char *const names[3]) {
    const struct option opts[] = {{"cache", required_argument, 0, 'C'}, {"help", no_argument, 0, 'h'},
                                  {names[0] ? names[0] : "unused-flag", no_argument, 0, 'F'},
                                  {names[1] ? names[1] : "unused-flag2", no_argument, 0, 'G'},
                                  {names[2] ? names[2] : "unused-flag3", no_argument, 0, 'H'}, {0, 0, 0, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'C': *cache = optarg; break;
        case 'F': flags[0] = 1; break;
        case 'G': flags[1] = 1; break;
        case 'H': flags[2] = 1; break;
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

/* Why the cache's lock is taken (FC_ETIMEOUT from fc_cache_lock), into err: the running extract the
 * catalog names, else another featcache process. */
static int lock_busy(const char *dir, const char *what, fc_error *err) {
    fc_catalog *cat = NULL;
    fc_extract_state first;
    size_t alive = 0, unknown = 0;
    fc_error ignored; /* the message is only less precise without the catalog */
    if (fc_catalog_open(dir, FC_CATALOG_RDONLY, 0, &cat, &ignored) == 0)
        fc_extract_running(cat, &alive, &unknown, &first, &ignored);
    fc_catalog_close(cat);
    if (alive)
        return fc_fail(err, FC_ETIMEOUT, "an extract is running on this cache (run #%lld, process %ld%s): %s while one "
                       "runs, since features it committed may not be referenced yet; --wait waits for it",
                       (long long)first.run_id, first.pid, alive > 1 ? ", and others" : "", what);
    return fc_fail(err, FC_ETIMEOUT, "another featcache process (an extract, merge, gc or verify --repair) holds %s/lock: %s "
                   "meanwhile; --wait waits for it", dir, what);
}

/* ---- ls ---- */

/* The data sets (ids, names) and, found before the listing (a listing's callback may not use the
 * catalog), those whose last extract of some extractor did not finish. */
typedef struct ls_state {
    int64_t *id;
    char (*name)[256];
    unsigned char *incomplete;
    size_t n;
} ls_state;

static int ls_collect(void *user, const fc_catalog_dataset *d) {
    ls_state *s = user;
    int64_t *id = realloc(s->id, (s->n + 1) * sizeof *id);
    if (id) s->id = id;
    char(*name)[256] = realloc(s->name, (s->n + 1) * sizeof *name);
    if (name) s->name = name;
    unsigned char *inc = realloc(s->incomplete, s->n + 1);
    if (inc) s->incomplete = inc;
    if (!id || !name || !inc) return FC_ENOMEM;
    s->id[s->n] = d->id;
    s->incomplete[s->n] = 0;
    snprintf(s->name[s->n++], 256, "%s", d->name);
    return 0;
}

typedef struct id_list { char (*id)[65]; size_t n; } id_list;

static int add_id(void *user, const char *id) {
    id_list *l = user;
    char(*grown)[65] = realloc(l->id, (l->n + 1) * sizeof *grown);
    if (!grown) return FC_ENOMEM;
    l->id = grown;
    snprintf(l->id[l->n++], 65, "%s", id);
    return 0;
}

/* Warns about (or with strict refuses) every data set whose last extract of one of its extractors
 * did not finish, and marks it in s. */
static int ls_check(fc_catalog *cat, ls_state *s, int strict, fc_error *err) {
    int rc = fc_catalog_dataset_list(cat, ls_collect, s, err);
    for (size_t d = 0; d < s->n && rc == 0; d++) {
        id_list ids = {0};
        rc = fc_catalog_dataset_extractors(cat, s->id[d], add_id, &ids, err);
        for (size_t e = 0; e < ids.n && rc == 0; e++) {
            char what[80];
            snprintf(what, sizeof what, "extractor %.12s", ids.id[e]);
            int r = cli_extract_check(cat, "ls", s->name[d], ids.id[e], what, strict, err);
            if (r > 0) s->incomplete[d] = 1;
            else rc = r;
        }
        free(ids.id);
    }
    return rc == FC_ENOMEM ? fc_fail(err, FC_ENOMEM, "out of memory") : rc;
}

static int ls_dataset(void *user, const fc_catalog_dataset *d) {
    const ls_state *s = user;
    int incomplete = 0;
    for (size_t i = 0; i < s->n; i++) incomplete |= s->id[i] == d->id && s->incomplete[i];
    printf("  %-24s %-11s %5lld items  %5lld ok  %3lld bad  %3lld classes  %s%s\n", d->name, d->format,
           (long long)d->items, (long long)d->ok, (long long)d->bad, (long long)d->classes, d->root,
           incomplete ? "  INCOMPLETE (its last extract did not finish)" : "");
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
    printf(")  %dpx crop %g %s %s  %zu features%s\n", x->size, x->crop, x->preprocess,
           x->dtype == FC_DTYPE_F16 ? "f16" : "f32", n,
           fc_extractor_is_current(x) ? "" : "  OLDER DEFINITION (not served; gc --older-definitions deletes it)");
    return 0;
}

/* One line for a run's recorded result (a JSON object): an extract's counts, a head's accuracies
 * and description, else the error, else the whole object (as --verbose prints every one). */
static void run_summary(const char *json, char *out, size_t cap) {
    double items, computed, cached, bad, secs, val, train;
    char s[160];
    int n;
    if (!json) snprintf(out, cap, "-");
    else if (!fc_json_get_number(json, "items", &items) && !fc_json_get_number(json, "computed", &computed) &&
             !fc_json_get_number(json, "cached", &cached) && !fc_json_get_number(json, "bad", &bad) &&
             !fc_json_get_number(json, "seconds", &secs))
        snprintf(out, cap, "%.0f items: %.0f computed, %.0f cached, %.0f bad, %.1f s", items, computed, cached,
                 bad, secs);
    else if (!fc_json_get_number(json, "val_accuracy", &val)) {
        n = snprintf(out, cap, "val_accuracy %.4f", val);
        if (!fc_json_get_number(json, "train_accuracy", &train))
            n += snprintf(out + n, cap - (size_t)n, ", train_accuracy %.4f", train);
        if (!fc_json_get_string(json, "info", s, sizeof s)) snprintf(out + n, cap - (size_t)n, " (%s)", s);
    } else if (!fc_json_get_string(json, "error", s, sizeof s)) snprintf(out, cap, "%s", s);
    else snprintf(out, cap, "%s", json);
}

static int ls_run(void *user, const fc_catalog_run *r) {
    const int *verbose = user;
    char when[32], summary[512];
    time_t t = (time_t)r->started;
    strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", localtime(&t));
    if (!*verbose) run_summary(r->result, summary, sizeof summary);
    printf("  #%-4lld %-7s %-8s %s  %.12s  %s\n", (long long)r->id, fc_run_kind_name(r->kind),
           fc_run_status_name(r->status), when, r->extractor_id ? r->extractor_id : "-",
           *verbose ? (r->result ? r->result : "-") : summary);
    return 0;
}

static int ls_bad(void *user, const fc_catalog_item *it) {
    printf("  %s\n", it->error ? it->error : it->path);
    return 0;
}

int cmd_ls(int argc, char **argv) {
    static const char *usage =
        "usage: featcache ls [--cache DIR] [--strict] [--verbose]\n"
        "Lists the cache's data sets, extractors (with stored feature counts), runs and bad files,\n"
        "after checking the catalog (as verify does; a damaged catalog is not listed). A data set\n"
        "whose last extract did not finish (killed, failed, still running) is marked INCOMPLETE, with\n"
        "a warning on stderr and exit status 3; --strict makes that an error (exit 1, no listing).\n"
        "A run is shown by its counts or accuracies; --verbose prints its whole recorded result (JSON).\n";
    static const char *const flags[3] = {"strict", "verbose", NULL};
    const char *cache_opt = NULL;
    int strict[3] = {0}; /* --strict, --verbose */
    int r = parse_common("ls", usage, argc, argv, &cache_opt, strict, flags);
    if (r >= 0) return r >= 1000 ? EXIT_OK : r;
    const char *dir = cli_cache_dir(cache_opt);
    fc_error err = {0};
    fc_catalog *cat = NULL;
    fc_cache *cache = NULL;
    ls_state st = {0};
    int rc = open_both(dir, 1, &cat, &cache, &err);
    if (rc == 0) rc = fc_catalog_check_clean(cat, &err); /* a damaged row would be listed as if right */
    if (rc == 0) rc = ls_check(cat, &st, strict[0], &err);
    if (rc == 0) {
        printf("cache %s\ndata sets:\n", dir);
        rc = fc_catalog_dataset_list(cat, ls_dataset, &st, &err);
        if (!rc) { printf("extractors:\n"); rc = fc_catalog_extractor_list(cat, ls_extractor, cache, &err); }
        if (!rc) { printf("runs:\n"); rc = fc_catalog_run_list(cat, ls_run, &strict[1], &err); }
        if (!rc) { printf("bad files:\n"); rc = fc_catalog_item_list(cat, 0, FC_ITEMS_BAD, ls_bad, NULL, &err); }
    }
    if (rc) fprintf(stderr, "featcache ls: %s\n", err.msg);
    int incomplete = 0;
    for (size_t i = 0; i < st.n; i++) incomplete |= st.incomplete[i];
    free(st.id);
    free(st.name);
    free(st.incomplete);
    fc_cache_close(cache);
    fc_catalog_close(cat);
    return rc ? EXIT_FAIL : incomplete ? EXIT_PARTIAL : EXIT_OK;
}

/* ---- verify ---- */

static void print_problem(void *user, const char *msg) { printf("  %s\n", msg); }

static int repair(const char *dir) {
    fc_error err = {0};
    fc_repair_report r;
    int lock = -1; /* "no other process may use the cache meanwhile": no extract at least */
    int rc = fc_cache_lock(dir, 1, 0, &lock, &err);
    if (rc == FC_ETIMEOUT) rc = lock_busy(dir, "repair changes nothing", &err);
    if (rc == 0) rc = fc_repair(dir, print_problem, NULL, &r, &err);
    fc_cache_unlock(lock);
    if (rc) {
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
    static const char *const flags[3] = {"repair", NULL, NULL};
    const char *cache_opt = NULL;
    int fix[3] = {0};
    int r = parse_common("verify", usage, argc, argv, &cache_opt, fix, flags);
    if (r >= 0) return r >= 1000 ? EXIT_OK : r;
    const char *dir = cli_cache_dir(cache_opt);
    int repaired = fix[0] ? repair(dir) : EXIT_OK;
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
    if (rep.incomplete) printf("; %zu data set extractions incomplete (featcache extract completes them)", rep.incomplete);
    printf("; %zu catalog problems (catalog checked in %.3f s, SQLite integrity_check included)", rep.catalog_problems,
           rep.catalog_seconds);
    int problems = rep.corrupt || rep.missing || rep.catalog_problems || repaired;
    printf("\n%s\n", problems ? "PROBLEMS FOUND" : "clean");
    if (problems && rep.missing && !rep.corrupt) printf("(featcache extract computes the missing features)\n");
    return problems ? 2 : EXIT_OK;
}

/* ---- gc ---- */

/* Under the exclusive lock: an extract that runs without it (an older featcache) stops gc too. */
static int check_no_extract(fc_catalog *cat, fc_error *err) {
    fc_extract_state first;
    size_t alive, unknown;
    int rc = fc_extract_running(cat, &alive, &unknown, &first, err);
    if (rc) return rc;
    if (alive)
        return fc_fail(err, FC_ETIMEOUT, "extract run #%lld (process %ld) is running on this cache without its lock (an "
                       "older featcache?): gc deletes nothing while it runs", (long long)first.run_id, first.pid);
    if (unknown)
        fprintf(stderr, "featcache gc: note: %zu extract runs are marked running by another host or an older featcache; "
                "an extract of another host is kept away by the lock only where the file system shares flock locks\n",
                unknown);
    return 0;
}

/* Ids of the catalog's extractors made by an older definition of the id (gc --older-definitions). */
typedef struct older_ids { char **id; size_t n; } older_ids;

static int add_older(void *user, const fc_catalog_extractor *x) {
    older_ids *o = user;
    if (fc_extractor_is_current(x)) return 0;
    char **grown = realloc(o->id, (o->n + 1) * sizeof *grown);
    if (!grown) return FC_ENOMEM;
    o->id = grown;
    return (o->id[o->n] = strdup(x->id)) ? (o->n++, 0) : FC_ENOMEM;
}

int cmd_gc(int argc, char **argv) {
    static const char *usage =
        "usage: featcache gc [--cache DIR] [--dry-run] [--wait] [--older-definitions]\n"
        "Deletes features of extractors no data set uses and of items no data set references.\n"
        "  --dry-run  count exactly what gc would delete, delete nothing\n"
        "  --wait     wait for running extracts to end (default: refuse while one runs)\n"
        "  --older-definitions  also delete the features of extractors made by an older definition\n"
        "             of the extractor id (`ls` marks them; no request is served them any more)\n"
        "gc takes the cache's lock (DIR/lock) exclusively; every extract holds it for its whole run,\n"
        "since the features it commits are referenced only once its catalog rows are written. While\n"
        "an extract runs, gc (also --dry-run) refuses with exit status 1, naming its run and process,\n"
        "or with --wait waits for it; an extract started meanwhile waits for gc.\n";
    static const char *const flags[3] = {"dry-run", "wait", "older-definitions"};
    const char *cache_opt = NULL;
    int f[3] = {0};
    older_ids older = {0};
    int r = parse_common("gc", usage, argc, argv, &cache_opt, f, flags);
    if (r >= 0) return r >= 1000 ? EXIT_OK : r;
    int dry = f[0], wait = f[1], lock = -1;
    const char *dir = cli_cache_dir(cache_opt);
    fc_error err = {0};
    fc_catalog *cat = NULL;
    fc_cache *cache = NULL;
    fc_gc_report rep;
    int rc = fc_cache_lock(dir, 1, wait, &lock, &err);
    if (rc == FC_ETIMEOUT) rc = lock_busy(dir, "gc deletes nothing", &err);
    if (rc == 0) rc = open_both(dir, 0, &cat, &cache, &err);
    if (rc == 0) rc = check_no_extract(cat, &err);
    if (rc == 0 && f[2]) rc = fc_catalog_extractor_list(cat, add_older, &older, &err);
    if (rc == 0) rc = fc_gc(cat, cache, dry, (const char *const *)older.id, older.n, &rep, &err);
    for (size_t i = 0; i < older.n; i++) free(older.id[i]);
    free(older.id);
    fc_cache_close(cache);
    fc_catalog_close(cat);
    fc_cache_unlock(lock);
    if (rc) {
        fprintf(stderr, "featcache gc: %s\n", err.msg);
        return EXIT_FAIL;
    }
    printf("%s%zu features of %zu unused extractors and %zu unreferenced items\n", dry ? "would delete " : "deleted ",
           rep.features_deleted, rep.extractors_removed, rep.items_unreferenced);
    return EXIT_OK;
}
