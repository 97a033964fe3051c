/* The steps of fc_merge (merge.c) that live in their own files: the values (merge_values.c) and the
 * catalogs (merge_catalog.c). Internal to store/. */
#ifndef FC_MERGE_INT_H
#define FC_MERGE_INT_H

#include "core/core.h"
#include "store/cache.h"
#include "store/catalog.h"
#include "store/merge.h"

/* A data set row of some catalog (owned copies). */
typedef struct fc_merge_dataset {
    int64_t id, created;
    char *name, *root, *format;
} fc_merge_dataset;

typedef struct fc_merge_datasets {
    fc_merge_dataset *d;
    size_t n, cap;
} fc_merge_datasets;

/* Every data set of cat (ordered by name); free with fc_merge_datasets_free. FC_EFORMAT for a
 * damaged row (fc_catalog_dataset_list), FC_ENOMEM. */
int fc_merge_list_datasets(fc_catalog *cat, fc_merge_datasets *out, fc_error *err);
void fc_merge_datasets_free(fc_merge_datasets *l);

/* Item rows of one data set, copied (the strings of each row are owned by the list). */
typedef struct fc_merge_items {
    fc_catalog_item *it;
    size_t n, cap;
} fc_merge_items;

/* An fc_catalog_item_fn: appends a copy of it to the fc_merge_items user; FC_ENOMEM. */
int fc_merge_items_add(void *user, const fc_catalog_item *it);
void fc_merge_items_free(fc_merge_items *l);

/* What the check learned of one source for the write: its data sets and each one's bad items
 * (where another source has the data set already, they are all its rows can change). */
typedef struct fc_merge_source {
    fc_merge_datasets ds;
    fc_merge_items *bad; /* (ds.n) */
} fc_merge_source;

void fc_merge_sources_free(fc_merge_source *s, size_t n);

/* Opens the catalog of source folder dir read-only; errors name the source. */
int fc_merge_open_src(const char *dir, fc_catalog **cat, fc_error *err);

/* Copies every value of the store in src (opened read-only here) into dst, in batches of one write
 * transaction each; counts into rep, damaged source values named through o->note. Stops with
 * FC_ECANCELLED between batches when o->cancel is set. */
int fc_merge_values(const char *src, fc_cache *dst, const fc_merge_options *o, fc_merge_report *rep,
                    fc_error *err);

/* Before anything is written: every source catalog (and dst, NULL when there is none yet) passes
 * verify's catalog checks, and one data set name or extractor id means the same thing everywhere
 * (see merge.h). Fills srcs[0..o->n_srcs) (zeroed by the caller; free with fc_merge_sources_free).
 * Counts the sources' unfinished runs into rep (named through o->note). */
int fc_merge_catalog_check(fc_catalog *dst, const fc_merge_options *o, fc_merge_source *srcs, fc_merge_report *rep,
                           fc_error *err);

/* Adds the sources' data sets, items, extractors and runs to dst in one transaction (after the
 * check above, with what it filled in srcs). */
int fc_merge_catalog_write(fc_catalog *dst, const fc_merge_options *o, const fc_merge_source *srcs,
                           fc_merge_report *rep, fc_error *err);

#endif
