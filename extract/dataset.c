/* Data set discovery (see dataset.h): directory walking with loop protection and a depth limit,
 * stray files told from images, CSV manifest parsing, layout detection. */
#include "extract/dataset.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "extract/image.h"

static const char *split_names[] = {"train", "val", "valid", "validation", "test"};

static const char *canonical_split(const char *name) {
    if (!strcmp(name, "valid") || !strcmp(name, "validation")) return "val";
    return name;
}

static int is_split_name(const char *name) {
    for (size_t i = 0; i < sizeof split_names / sizeof *split_names; i++)
        if (!strcmp(name, split_names[i])) return 1;
    return 0;
}

typedef struct builder {
    fc_dataset *d;
    size_t cap;
    char **visited; /* real paths of directories entered */
    size_t n_visited, cap_visited;
} builder;

static int add_item(builder *b, const char *path, const char *rel, const char *label, const char *split,
                    fc_error *err) {
    fc_dataset *d = b->d;
    if (d->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        fc_dataset_item *ni = realloc(d->items, cap * sizeof *ni);
        if (!ni) return fc_fail(err, FC_ENOMEM, "out of memory");
        d->items = ni;
        b->cap = cap;
    }
    fc_dataset_item *it = &d->items[d->n];
    it->path = strdup(path);
    it->rel = strdup(rel);
    it->label = strdup(label);
    it->split = strdup(split);
    if (!it->path || !it->rel || !it->label || !it->split) {
        free(it->path); free(it->rel); free(it->label); free(it->split);
        return fc_fail(err, FC_ENOMEM, "out of memory");
    }
    d->n++;
    return 0;
}

/* Appends a copy of s to *list (*n entries; capacity doubles at powers of two). */
static int push(char ***list, size_t *n, const char *s, fc_error *err) {
    if ((*n & (*n - 1)) == 0) {
        char **nl = realloc(*list, (*n ? 2 * *n : 8) * sizeof *nl);
        if (!nl) return fc_fail(err, FC_ENOMEM, "out of memory");
        *list = nl;
    }
    if (!((*list)[*n] = strdup(s))) return fc_fail(err, FC_ENOMEM, "out of memory");
    (*n)++;
    return 0;
}

/* 1 when the file name ends in an image format's extension (any case). */
static int has_image_extension(const char *name) {
    static const char *const ext[] = {"jpg", "jpeg", "jpe", "jfif", "png", "gif", "bmp", "webp", "tif", "tiff",
                                      "avif", "heic", "heif", "jp2", "j2k", "ico", "psd", "jxl"};
    const char *dot = strrchr(name, '.');
    for (size_t i = 0; dot && i < sizeof ext / sizeof *ext; i++)
        if (!strcasecmp(dot + 1, ext[i])) return 1;
    return 0;
}

/* The first bytes of the file at path into head (cap); -1 when it cannot be opened as a regular
 * file (never blocks: a FIFO put there since the caller's stat is not waited on). */
static ssize_t read_head(const char *path, uint8_t *head, size_t cap) {
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return -1;
    struct stat st;
    ssize_t n = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? read(fd, head, cap) : -1;
    close(fd);
    return n;
}

/* 1 when the regular file at path (named name) is no image by its name nor by its first bytes (notes,
 * thumbnail databases, ...): skipped, not an item. A file that cannot be read stays an item, so
 * decoding reports why. */
static int is_stray(const char *path, const char *name) {
    uint8_t head[16];
    if (has_image_extension(name)) return 0;
    ssize_t n = read_head(path, head, sizeof head);
    return n >= 0 && !fc_image_sniff(head, (size_t)n);
}

/* A file found in a folder: an item, or (a regular file that is no image) a skipped file. */
static int add_file(builder *b, const char *path, const char *rel, const char *name, int regular, const char *label,
                    const char *split, fc_error *err) {
    if (regular && is_stray(path, name)) return push(&b->d->skipped, &b->d->n_skipped, rel, err);
    return add_item(b, path, rel, label, split, err);
}

/* 1 if the directory's real path was not entered before (and records it), 0 if it was. */
static int first_visit(builder *b, const char *dir) {
    char real[PATH_MAX];
    if (!realpath(dir, real)) return 1;
    for (size_t i = 0; i < b->n_visited; i++)
        if (!strcmp(b->visited[i], real)) return 0;
    if (b->n_visited == b->cap_visited) {
        size_t cap = b->cap_visited ? b->cap_visited * 2 : 64;
        char **nv = realloc(b->visited, cap * sizeof *nv);
        if (!nv) return 1;
        b->visited = nv;
        b->cap_visited = cap;
    }
    b->visited[b->n_visited] = strdup(real);
    if (b->visited[b->n_visited]) b->n_visited++;
    return 1;
}

/* out = a + "/" + b (or b alone when a is empty); -1 when it does not fit PATH_MAX. */
static int join(char *out, const char *a, const char *b) {
    int n = *a ? snprintf(out, PATH_MAX, "%s/%s", a, b) : snprintf(out, PATH_MAX, "%s", b);
    return n < 0 || n >= PATH_MAX ? -1 : 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Sorted names of the non-hidden entries of dir. */
static int list_dir(const char *dir, char ***names, size_t *n, fc_error *err) {
    *names = NULL;
    *n = 0;
    DIR *dp = opendir(dir);
    if (!dp) return fc_fail(err, FC_EIO, "%s: cannot open folder: %s", dir, strerror(errno));
    size_t cap = 0;
    struct dirent *e;
    while ((e = readdir(dp))) {
        if (e->d_name[0] == '.') continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 64;
            char **nn = realloc(*names, cap * sizeof *nn);
            if (!nn) break;
            *names = nn;
        }
        if (!((*names)[*n] = strdup(e->d_name))) break;
        (*n)++;
    }
    closedir(dp);
    if (*n) qsort(*names, *n, sizeof **names, cmp_str);
    return 0;
}

static void free_names(char **names, size_t n) {
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
}

/* Adds every file below dir (recursively) with the given label/split; rel_prefix is dir relative
 * to the root. */
static int walk(builder *b, const char *dir, const char *rel_prefix, const char *label, const char *split,
                int depth, fc_error *err) {
    if (!first_visit(b, dir)) return 0;
    if (depth > FC_DATASET_MAX_DEPTH) return push(&b->d->too_deep, &b->d->n_too_deep, rel_prefix, err);
    char **names;
    size_t n;
    int rc = list_dir(dir, &names, &n, err);
    if (rc) return rc;
    for (size_t i = 0; i < n && rc == 0; i++) {
        char path[PATH_MAX], rel[PATH_MAX];
        if (join(path, dir, names[i]) || join(rel, rel_prefix, names[i])) {
            rc = fc_fail(err, FC_ELIMIT, "%s/%s: path too long", dir, names[i]);
            break;
        }
        struct stat st;
        if (stat(path, &st) != 0) {
            /* a dangling symlink or a file that vanished: keep it as an item, decoding reports why */
            rc = add_item(b, path, rel, label, split, err);
        } else if (S_ISDIR(st.st_mode)) {
            rc = walk(b, path, rel, label, split, depth + 1, err);
        } else if (S_ISREG(st.st_mode)) {
            rc = add_file(b, path, rel, names[i], 1, label, split, err);
        }
    }
    free_names(names, n);
    return rc;
}

static int is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Class folders directly below dir, each walked with its name as the label. */
static int scan_classes(builder *b, const char *dir, const char *rel_prefix, const char *split, fc_error *err) {
    char **names;
    size_t n;
    int rc = list_dir(dir, &names, &n, err);
    if (rc) return rc;
    if (!first_visit(b, dir)) { free_names(names, n); return 0; }
    for (size_t i = 0; i < n && rc == 0; i++) {
        char path[PATH_MAX], rel[PATH_MAX];
        if (join(path, dir, names[i]) || join(rel, rel_prefix, names[i])) {
            rc = fc_fail(err, FC_ELIMIT, "%s/%s: path too long", dir, names[i]);
            break;
        }
        struct stat st;
        int found = stat(path, &st) == 0;
        if (found && S_ISDIR(st.st_mode)) rc = walk(b, path, rel, names[i], split, 1, err);
        else rc = add_file(b, path, rel, names[i], found && S_ISREG(st.st_mode), "", split, err); /* beside the class folders: unlabeled */
    }
    free_names(names, n);
    return rc;
}

static fc_layout detect(const char *path) {
    if (!is_dir(path)) return FC_LAYOUT_CSV;
    char **names;
    size_t n;
    fc_error e; /* the scan that follows lists the folder again and reports the failure itself */
    if (list_dir(path, &names, &n, &e)) return FC_LAYOUT_UNLABELED;
    int dirs = 0, splits = 0;
    for (size_t i = 0; i < n; i++) {
        char p[PATH_MAX];
        if (join(p, path, names[i]) == 0 && is_dir(p)) {
            dirs++;
            splits += is_split_name(names[i]);
        }
    }
    free_names(names, n);
    if (splits && splits == dirs) return FC_LAYOUT_SPLIT;
    return dirs ? FC_LAYOUT_IMAGEFOLDER : FC_LAYOUT_UNLABELED;
}

/* One CSV record (RFC 4180: quotes, doubled quotes, commas and newlines inside quotes). Returns the
 * number of fields (up to max), -1 at EOF, -2 on an unterminated quote. Fields point into buf. */
static int csv_record(FILE *f, char *buf, size_t cap, char **fields, int max, int *line) {
    int c, n = 0, quoted = 0, any = 0;
    size_t len = 0;
    fields[n++] = buf;
    while ((c = fgetc(f)) != EOF) {
        any = 1;
        if (quoted) {
            if (c == '"') {
                int d = fgetc(f);
                if (d == '"') { if (len + 1 < cap) buf[len++] = '"'; continue; }
                quoted = 0;
                if (d == EOF) break;
                c = d;
            } else {
                if (c == '\n') (*line)++;
                if (len + 1 < cap) buf[len++] = (char)c;
                continue;
            }
        }
        if (c == '"') { quoted = 1; continue; }
        if (c == '\r') continue;
        if (c == '\n') { (*line)++; break; }
        if (c == ',') {
            if (len + 1 < cap) buf[len++] = 0;
            if (n < max) fields[n++] = buf + len;
            continue;
        }
        if (len + 1 < cap) buf[len++] = (char)c;
    }
    buf[len] = 0;
    if (quoted) return -2;
    if (!any) return -1;
    return n;
}

static char *trim(char *s) {
    while (*s == ' ' || *s == '\t') s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t')) s[--n] = 0;
    return s;
}

/* Reads the manifest's records from f (not closed); csv names it in messages, paths are relative to
 * dir. */
static int parse_csv(builder *b, FILE *f, const char *csv, const char *dir, fc_error *err) {
    free(b->d->root);
    if (!(b->d->root = strdup(dir))) return fc_fail(err, FC_ENOMEM, "out of memory");
    size_t bufcap = PATH_MAX * 4;
    char *buf = malloc(bufcap), *fields[8];
    if (!buf) return fc_fail(err, FC_ENOMEM, "out of memory");
    int line = 1, rc = 0, first = 1;
    for (;;) {
        int at = line;
        int n = csv_record(f, buf, bufcap, fields, 8, &line);
        if (n == -1) break;
        if (n == -2) { rc = fc_fail(err, FC_EFORMAT, "%s:%d: unterminated quote", csv, at); break; }
        if (at == 1 && !strncmp(fields[0], "\xef\xbb\xbf", 3)) fields[0] += 3; /* a UTF-8 byte order mark */
        char *p = trim(fields[0]);
        if (n == 1 && !*p) continue; /* blank line */
        if (first && !strcmp(p, "path")) { first = 0; continue; } /* header */
        first = 0;
        if (n < 2 || n > 3) { rc = fc_fail(err, FC_EFORMAT, "%s:%d: expected path,label[,split], got %d fields", csv, at, n); break; }
        if (!*p) { rc = fc_fail(err, FC_EFORMAT, "%s:%d: empty path", csv, at); break; }
        char *split = n == 3 ? trim(fields[2]) : "";
        if (*split && !is_split_name(split)) {
            rc = fc_fail(err, FC_EFORMAT, "%s:%d: split '%s' is not train, val or test", csv, at, split);
            break;
        }
        char path[PATH_MAX];
        if (join(path, p[0] == '/' ? "" : dir, p)) { rc = fc_fail(err, FC_ELIMIT, "%s:%d: path too long", csv, at); break; }
        if ((rc = add_item(b, path, p, trim(fields[1]), *split ? canonical_split(split) : "", err))) break;
    }
    free(buf);
    return rc;
}

static int scan_csv(builder *b, const char *csv, fc_error *err) {
    FILE *f = fopen(csv, "r");
    if (!f) return fc_fail(err, FC_EIO, "%s: cannot open: %s", csv, strerror(errno));
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", csv);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = 0; else snprintf(dir, sizeof dir, ".");
    int rc = parse_csv(b, f, csv, dir, err);
    fclose(f);
    return rc;
}

static int cmp_item(const void *a, const void *b) {
    return strcmp(((const fc_dataset_item *)a)->rel, ((const fc_dataset_item *)b)->rel);
}

static int collect_classes(fc_dataset *d, fc_error *err) {
    char **labels = malloc((d->n + 1) * sizeof *labels);
    if (!labels) return fc_fail(err, FC_ENOMEM, "out of memory");
    size_t k = 0;
    for (size_t i = 0; i < d->n; i++)
        if (*d->items[i].label) labels[k++] = d->items[i].label;
    if (k) qsort(labels, k, sizeof *labels, cmp_str);
    d->classes = malloc((k + 1) * sizeof *d->classes);
    if (!d->classes) { free(labels); return fc_fail(err, FC_ENOMEM, "out of memory"); }
    for (size_t i = 0; i < k; i++)
        if (i == 0 || strcmp(labels[i], labels[i - 1])) d->classes[d->n_classes++] = strdup(labels[i]);
    free(labels);
    return 0;
}

static int finish(fc_dataset *out, const char *path, int rc, fc_error *err);

int fc_dataset_scan(const char *path, fc_layout layout, fc_dataset *out, fc_error *err) {
    memset(out, 0, sizeof *out);
    struct stat st;
    if (stat(path, &st) != 0) return fc_fail(err, FC_EIO, "%s: %s", path, strerror(errno));
    uint8_t head[16];
    ssize_t n_head = S_ISDIR(st.st_mode) ? -1 : read_head(path, head, sizeof head);
    if (n_head > 0 && fc_image_sniff(head, (size_t)n_head))
        return fc_fail(err, FC_EINVAL, "%s is an image file, not a data set: give the folder that holds the images "
                       "(one folder per class, or train/val/test folders of class folders) or a CSV manifest "
                       "(path,label[,split])", path);
    if (layout == FC_LAYOUT_AUTO) layout = detect(path);
    if ((layout == FC_LAYOUT_CSV) == S_ISDIR(st.st_mode))
        return fc_fail(err, FC_EINVAL, "%s: a %s data set must be a %s", path, fc_layout_name(layout),
                       layout == FC_LAYOUT_CSV ? "CSV file" : "folder");
    builder b = {.d = out};
    out->layout = layout;
    out->root = strdup(path);
    int rc = 0;
    if (layout == FC_LAYOUT_CSV) {
        rc = scan_csv(&b, path, err);
    } else if (layout == FC_LAYOUT_SPLIT) {
        char **names;
        size_t n;
        if (!(rc = list_dir(path, &names, &n, err))) {
            for (size_t i = 0; i < n && rc == 0; i++) {
                char p[PATH_MAX];
                if (join(p, path, names[i]) || !is_dir(p)) continue;
                if (!is_split_name(names[i])) {
                    rc = fc_fail(err, FC_EINVAL, "%s: folder '%s' is not a split (train, val, test)", path, names[i]);
                    break;
                }
                rc = scan_classes(&b, p, names[i], canonical_split(names[i]), err);
            }
            free_names(names, n);
        }
    } else if (layout == FC_LAYOUT_IMAGEFOLDER) {
        rc = scan_classes(&b, path, "", "", err);
    } else {
        rc = walk(&b, path, "", "", "", 0, err);
    }
    for (size_t i = 0; i < b.n_visited; i++) free(b.visited[i]);
    free(b.visited);
    return finish(out, path, rc, err);
}

int fc_dataset_parse_csv(const char *name, const char *dir, const void *data, size_t size,
                         fc_dataset *out, fc_error *err) {
    memset(out, 0, sizeof *out);
    if (!name) name = "<memory>";
    if (!dir || (!data && size)) return fc_fail(err, FC_EINVAL, "%s: NULL argument", name);
    builder b = {.d = out};
    out->layout = FC_LAYOUT_CSV;
    int rc = 0;
    if (size) { /* fmemopen refuses an empty buffer; an empty manifest simply has no items */
        FILE *f = fmemopen((void *)data, size, "r");
        if (!f) return fc_fail(err, FC_ENOMEM, "%s: cannot read from memory: %s", name, strerror(errno));
        rc = parse_csv(&b, f, name, dir, err);
        fclose(f);
    } else if (!(out->root = strdup(dir))) {
        rc = fc_fail(err, FC_ENOMEM, "out of memory");
    }
    return finish(out, name, rc, err);
}

/* Common end of a scan: refuses empty sets and duplicates, sorts, collects the classes; frees *out
 * on error. */
static int finish(fc_dataset *out, const char *path, int rc, fc_error *err) {
    if (rc == 0 && out->n == 0 && out->n_skipped)
        rc = fc_fail(err, FC_EFORMAT, "%s: no images found (%zu file%s that %s not an image skipped, e.g. %s)", path,
                     out->n_skipped, out->n_skipped == 1 ? "" : "s", out->n_skipped == 1 ? "is" : "are", out->skipped[0]);
    if (rc == 0 && out->n == 0) rc = fc_fail(err, FC_EFORMAT, "%s: no files found", path);
    if (rc == 0 && out->n > 1) qsort(out->items, out->n, sizeof *out->items, cmp_item);
    for (size_t i = 1; rc == 0 && i < out->n; i++)
        if (!strcmp(out->items[i].rel, out->items[i - 1].rel))
            rc = fc_fail(err, FC_EFORMAT, "%s: '%s' is listed twice", path, out->items[i].rel);
    if (rc == 0) rc = collect_classes(out, err);
    if (rc) fc_dataset_free(out);
    return rc;
}

void fc_dataset_free(fc_dataset *d) {
    for (size_t i = 0; i < d->n; i++) {
        free(d->items[i].path);
        free(d->items[i].rel);
        free(d->items[i].label);
        free(d->items[i].split);
    }
    free(d->items);
    for (size_t i = 0; i < d->n_classes; i++) free(d->classes[i]);
    free(d->classes);
    for (size_t i = 0; i < d->n_skipped; i++) free(d->skipped[i]);
    free(d->skipped);
    for (size_t i = 0; i < d->n_too_deep; i++) free(d->too_deep[i]);
    free(d->too_deep);
    free(d->root);
    memset(d, 0, sizeof *d);
}

void fc_dataset_default_name(const char *path, char *out, size_t cap) {
    char real[PATH_MAX];
    const char *p = realpath(path, real) ? real : path;
    size_t n = strlen(p);
    while (n > 1 && p[n - 1] == '/') n--;
    const char *b = p + n;
    while (b > p && b[-1] != '/') b--;
    snprintf(out, cap, "%.*s", (int)(p + n - b), b);
}

const char *fc_layout_name(fc_layout l) {
    switch (l) {
    case FC_LAYOUT_SPLIT: return "split";
    case FC_LAYOUT_IMAGEFOLDER: return "imagefolder";
    case FC_LAYOUT_CSV: return "csv";
    case FC_LAYOUT_UNLABELED: return "unlabeled";
    default: return "auto";
    }
}

int fc_layout_parse(const char *name, fc_layout *out, fc_error *err) {
    for (int l = FC_LAYOUT_AUTO; l <= FC_LAYOUT_UNLABELED; l++)
        if (!strcmp(name, fc_layout_name((fc_layout)l))) { *out = (fc_layout)l; return 0; }
    return fc_fail(err, FC_EINVAL, "unknown format '%s' (auto, split, imagefolder, csv, unlabeled)", name);
}
