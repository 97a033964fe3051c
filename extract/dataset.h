/* Data set discovery: turns a path into a sorted list of items (file, label, split). Layouts:
 *  - split:       root/{train,val,valid,validation,test}/<class>/<files>
 *  - imagefolder: root/<class>/<files>
 *  - csv:         a manifest file "path,label[,split]" (header optional, RFC 4180 quoting, paths
 *                 relative to the manifest's folder)
 *  - unlabeled:   root/<files>
 * In folders, every non-hidden file is an item unless it is a regular file that is no image by its
 * name (extension) nor by its first bytes (notes, Thumbs.db, ...): such stray files are listed as
 * skipped. An image that does not decode (or a file that cannot be read) stays an item, recorded bad
 * later with the reason. Symlinks to files are followed; directories are entered once by their
 * real path, so symlink loops end; folders deeper than FC_DATASET_MAX_DEPTH are listed, not
 * entered. A CSV manifest's rows are all items. Not here: hashing, decoding, the catalog. */
#ifndef FC_DATASET_H
#define FC_DATASET_H

#include <stddef.h>

#include "core/core.h"

#define FC_DATASET_MAX_DEPTH 32 /* folder levels below a class folder (or the root when unlabeled) */

typedef enum { FC_LAYOUT_AUTO, FC_LAYOUT_SPLIT, FC_LAYOUT_IMAGEFOLDER, FC_LAYOUT_CSV, FC_LAYOUT_UNLABELED } fc_layout;

typedef struct fc_dataset_item {
    char *path;  /* path to open (root joined with rel) */
    char *rel;   /* path relative to the data set root / manifest folder: the catalog key */
    char *label; /* class name, "" when unlabeled */
    char *split; /* "train", "val", "test" or "" when the layout has none */
} fc_dataset_item;

typedef struct fc_dataset {
    fc_layout layout;
    char *root;  /* folder the rel paths are relative to */
    fc_dataset_item *items; /* sorted by rel */
    size_t n;
    char **classes; /* sorted distinct non-empty labels */
    size_t n_classes;
    char **skipped; /* rel paths of stray files (no image by name nor content): not items */
    size_t n_skipped;
    char **too_deep; /* rel paths of folders below FC_DATASET_MAX_DEPTH: not entered */
    size_t n_too_deep;
} fc_dataset;

/* Scans path with the given layout (AUTO detects it). A CSV manifest may start with a UTF-8 byte
 * order mark. Errors: FC_EIO (cannot read, names the path), FC_EFORMAT (malformed CSV line, with
 * line number; empty data set), FC_EINVAL (layout does not fit; path is an image file).
 * On success *out owns everything; free with fc_dataset_free. Thread-safe. */
int fc_dataset_scan(const char *path, fc_layout layout, fc_dataset *out, fc_error *err);
/* Parses a CSV manifest held in memory (data is read only during the call) as the csv layout does:
 * `name` (NULL gives "<memory>") stands for the file in messages, relative paths are joined to dir.
 * Same errors and result as fc_dataset_scan of such a file. */
int fc_dataset_parse_csv(const char *name, const char *dir, const void *data, size_t size,
                         fc_dataset *out, fc_error *err);
void fc_dataset_free(fc_dataset *d);

/* Catalog name of a data set given on the command line: the base name of its real path (a CSV
 * manifest keeps its extension); a path that does not exist is taken as the name itself. */
void fc_dataset_default_name(const char *path, char *out, size_t cap);

const char *fc_layout_name(fc_layout l);
/* "auto", "split", "imagefolder", "csv", "unlabeled" -> layout; FC_EINVAL otherwise. */
int fc_layout_parse(const char *name, fc_layout *out, fc_error *err);

#endif
