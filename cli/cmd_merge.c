/* `featcache merge SRC... --cache DST`: the shards of a job array (extract --shard K/N), or caches
 * filled on other machines, combined into one cache (store/merge.h). Prints what was copied and
 * the throughput; names the values that failed their checks (exit 3). Ctrl-C stops after the
 * batch in flight; running the same merge again finishes it. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "store/store.h"

static const char *usage_text =
    "usage: featcache merge SRC_CACHE... --cache DST [options]\n"
    "Merges the feature stores and catalogs of the source cache folders (e.g. the shards written by\n"
    "`featcache extract --shard K/N`) into DST: every value's checksum is checked on the way (one that\n"
    "fails is not merged: listed, exit 3), values already in DST are left as they are, an item that a\n"
    "source recorded bad is bad in DST. Merging again changes nothing, and a killed merge is finished\n"
    "by running it again. A data set name that stands for other items in another source or in DST\n"
    "is refused before anything is written. Merge in shard order: keys then arrive after everything\n"
    "DST holds and are appended.\n\n"
    "  --cache DIR, -o DIR destination cache folder, created when missing (default $FEATCACHE_HOME,\n"
    "                      else ./.featcache)\n"
    "  --max-cache-size B  stop with \"cache full\" when DST's feature store would exceed B bytes\n"
    "  --quiet             print nothing but errors\n"
    "  --json              print a JSON summary on stdout\n"
    "Exit status: 0 ok, 3 merged but some source values failed their checks, 1 error (nothing of a\n"
    "refused merge is written), 130 interrupted (committed batches stay), 64 usage.\n";


typedef struct merge_out {
    int quiet, progress;
    size_t notes;
} merge_out;

static void note(void *user, const char *msg) {
    merge_out *m = user;
    if (!m->quiet && m->notes < 20) fprintf(stderr, "%s  %s\n", m->progress ? "\r" : "", msg);
    m->notes++;
}

static void progress(void *user, const fc_merge_report *r) {
    merge_out *m = user;
    if (m->progress)
        fprintf(stderr, "\r  %zu values read, %zu copied, %zu already there", r->values_seen, r->values_copied,
                r->values_present);
}

static double rate(const fc_merge_report *r) {
    return r->value_seconds > 0 ? r->values_seen / r->value_seconds : 0;
}

static void print_json(const char *dst, const fc_merge_report *r) {
    fc_strbuf s = {0};
    fc_strbuf_printf(&s, "{\"cache\":");
    fc_strbuf_json(&s, dst);
    fc_strbuf_printf(&s, ",\"sources\":%zu,\"values_seen\":%zu,\"values_copied\":%zu,\"values_appended\":%zu,"
                         "\"values_present\":%zu,\"values_replaced\":%zu,\"values_differ\":%zu,\"values_damaged\":%zu,"
                         "\"bytes_copied\":%llu,\"datasets_added\":%zu,\"items_added\":%zu,\"items_now_bad\":%zu,"
                         "\"extractors_added\":%zu,\"runs_added\":%zu,\"runs_unfinished\":%zu,\"value_seconds\":%.3f,"
                         "\"seconds\":%.3f,\"features_per_s\":%.1f}",
                     r->sources, r->values_seen, r->values_copied, r->values_appended, r->values_present,
                     r->values_replaced, r->values_differ, r->values_damaged, (unsigned long long)r->bytes_copied,
                     r->datasets_added, r->items_added, r->items_now_bad, r->extractors_added, r->runs_added,
                     r->runs_unfinished, r->value_seconds, r->seconds, rate(r));
    puts(s.s ? s.s : "{}");
    fc_strbuf_free(&s);
}

static void print_text(const char *dst, const fc_merge_report *r) {
    fprintf(stderr, "%zu values in %zu caches: %zu copied (%zu appended), %zu already there", r->values_seen, r->sources,
            r->values_copied, r->values_appended, r->values_present);
    if (r->values_replaced) fprintf(stderr, ", %zu damaged ones replaced", r->values_replaced);
    if (r->values_differ) fprintf(stderr, ", %zu kept where DST's differ", r->values_differ);
    if (r->values_damaged) fprintf(stderr, ", %zu failed their checks (not merged)", r->values_damaged);
    fprintf(stderr, "; %.1f MB in %.2f s (%.0f features/s)\n", r->bytes_copied / 1e6, r->value_seconds, rate(r));
    fprintf(stderr, "catalog: %zu data sets, %zu items (%zu now bad), %zu extractors, %zu runs added -> %s (%.2f s)\n",
            r->datasets_added, r->items_added, r->items_now_bad, r->extractors_added, r->runs_added, dst, r->seconds);
}

int cmd_merge(int argc, char **argv) {
    static const struct option opts[] = {{"cache", required_argument, 0, 'o'}, {"output", required_argument, 0, 'o'},
                                         {"max-cache-size", required_argument, 0, 'S'}, {"quiet", no_argument, 0, 'q'},
                                         {"json", no_argument, 0, 'j'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    fc_merge_options o = {0};
    const char *dst = NULL;
    int json = 0, c;
    merge_out m = {0};
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
        switch (c) {
        case 'o': dst = optarg; break;
        case 'S': if (cli_bytes("merge", "max-cache-size", optarg, 65536, &o.max_map_size)) return EXIT_USAGE; break;
        case 'q': m.quiet = 1; break;
        case 'j': json = 1; break;
        case 'h': fputs(usage_text, stdout); return EXIT_OK;
        default: fputs(usage_text, stderr); return EXIT_USAGE;
        }
    }
    if (optind == argc) {
        fprintf(stderr, "featcache merge: give at least one source cache folder\n\n%s", usage_text);
        return EXIT_USAGE;
    }
    o.dst = cli_cache_dir(dst);
    o.srcs = (const char *const *)argv + optind;
    o.n_srcs = (size_t)(argc - optind);
    m.progress = !m.quiet && !json && isatty(2);
    o.cancel = cli_cancel_on_signals(), o.note = note, o.progress = progress, o.user = &m;
    fc_merge_report r;
    fc_error err = {0};
    int rc = fc_merge(&o, &r, &err);
    if (m.progress) fputc('\n', stderr);
    if (m.notes > 20 && !m.quiet) fprintf(stderr, "  ... %zu notes in all\n", m.notes);
    if (rc == FC_ECANCELLED && *o.cancel) {
        fprintf(stderr, "featcache merge: interrupted; %zu values committed, run the same merge again to finish\n",
                r.values_copied);
        return 130;
    }
    if (rc) {
        fprintf(stderr, "featcache merge: %s\n", err.msg);
        return EXIT_FAIL;
    }
    if (json) print_json(o.dst, &r);
    else if (!m.quiet) print_text(o.dst, &r);
    return r.values_damaged ? EXIT_PARTIAL : EXIT_OK;
}
