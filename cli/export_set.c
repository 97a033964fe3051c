/* cli_export_set_* (see export_set.h). Only names an export writes are ever removed: a folder
 * with anything else in it is left in place (its other files too). */
#include "cli/export_set.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "store/store.h"

/* What an export writes; manifest.json last. */
static const char *const set_names[] = {"features.npy", "features.csv", "labels.txt", "paths.txt", "splits.txt",
                                        "manifest.json"};
enum { N_NAMES = sizeof set_names / sizeof *set_names };

/* 1 for a name an export writes, or its temporary (NAME.tmp, NAME.tmp.XXXXXX). */
static int is_set_name(const char *name) {
    for (int i = 0; i < N_NAMES; i++) {
        size_t n = strlen(set_names[i]);
        if (!strncmp(name, set_names[i], n) && (!name[n] || !strcmp(name + n, ".tmp") || !strncmp(name + n, ".tmp.", 5)))
            return 1;
    }
    return 0;
}

/* dir's parent folder and last component (trailing slashes ignored). */
static void split_path(const char *dir, char *parent, size_t pcap, char *base, size_t bcap) {
    char d[4096];
    snprintf(d, sizeof d, "%s", dir);
    size_t n = strlen(d);
    while (n > 1 && d[n - 1] == '/') d[--n] = 0;
    char *slash = strrchr(d, '/');
    if (!slash) { snprintf(parent, pcap, "."); snprintf(base, bcap, "%s", d); return; }
    snprintf(base, bcap, "%s", slash + 1);
    if (slash == d) slash[1] = 0; else *slash = 0;
    snprintf(parent, pcap, "%s", d);
}

/* Removes the set's files in folder path, then the folder if that left it empty. */
static void remove_set_dir(const char *path) {
    DIR *d = opendir(path);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d)))
        if (is_set_name(e->d_name)) unlinkat(dirfd(d), e->d_name, 0);
    closedir(d);
    rmdir(path);
}

/* 1 when folder dir holds only names an export writes, 0 when it holds anything else. */
static int only_set_files(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    struct dirent *e;
    int only = 1;
    while (only && (e = readdir(d)))
        only = !strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") || is_set_name(e->d_name);
    closedir(d);
    return only;
}

/* The hidden folders of exports to parent/base whose process is gone. */
static void remove_stale(const char *parent, const char *base) {
    char prefix[4200], path[8400];
    snprintf(prefix, sizeof prefix, ".%s.export-", base);
    DIR *d = opendir(parent);
    if (!d) return;
    struct dirent *e;
    size_t n = strlen(prefix);
    while ((e = readdir(d))) {
        long pid = strncmp(e->d_name, prefix, n) ? 0 : strtol(e->d_name + n, NULL, 10);
        if (pid <= 0 || kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
        snprintf(path, sizeof path, "%s/%s", parent, e->d_name);
        remove_set_dir(path);
    }
    closedir(d);
}

int cli_export_set_begin(cli_export_set *s, const char *dir, fc_error *err) {
    char parent[4096], base[4096];
    snprintf(s->dir, sizeof s->dir, "%s", dir);
    split_path(dir, parent, sizeof parent, base, sizeof base);
    remove_stale(parent, base);
    int n = snprintf(s->tmp, sizeof s->tmp, "%s/.%s.export-%ld-XXXXXX", parent, base, (long)getpid());
    if (n < 0 || (size_t)n >= sizeof s->tmp) return fc_fail(err, FC_EIO, "%s: the path is too long", dir);
    if (!mkdtemp(s->tmp)) return fc_fail(err, FC_EIO, "%s: cannot create: %s", dir, strerror(errno));
    struct stat st; /* the folder keeps its mode; a new one gets mkdir's (0777 less the umask) */
    mode_t mode, mask = umask(0);
    umask(mask);
    mode = stat(dir, &st) == 0 && S_ISDIR(st.st_mode) ? st.st_mode & 07777 : 0777 & ~mask;
    chmod(s->tmp, mode);
    return 0;
}

void cli_export_set_file(const cli_export_set *s, const char *name, char *out, size_t cap) {
    snprintf(out, cap, "%s/%s", s->tmp, name);
}

void cli_export_set_abort(cli_export_set *s) { remove_set_dir(s->tmp); }

static int sync_path(const char *path, fc_error *err) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) != 0) {
        int e = errno;
        if (fd >= 0) close(fd);
        return fc_fail(err, FC_EIO, "%s: %s", path, strerror(e));
    }
    close(fd);
    return 0;
}

/* manifest.json of the files in s->tmp, each synced to disk first, then the folder itself. */
static int write_manifest(cli_export_set *s, const char *members, fc_error *err) {
    fc_strbuf m = {0};
    fc_strbuf_printf(&m, "{\"featcache_export\":1,%s,\"files\":{", members);
    int rc = 0, first = 1;
    for (int i = 0; i < N_NAMES - 1 && rc == 0; i++) {
        char path[4300], hex[65];
        uint8_t h[32];
        uint64_t size;
        cli_export_set_file(s, set_names[i], path, sizeof path);
        if (access(path, F_OK) != 0) continue;
        if ((rc = sync_path(path, err)) || (rc = fc_sha256_file(path, h, &size, err))) break;
        fc_hex_encode(h, 32, hex);
        fc_strbuf_printf(&m, "%s\"%s\":{\"bytes\":%llu,\"sha256\":\"%s\"}", first ? "" : ",", set_names[i],
                         (unsigned long long)size, hex);
        first = 0;
    }
    fc_strbuf_printf(&m, "}}\n");
    char path[4300];
    cli_export_set_file(s, "manifest.json", path, sizeof path);
    if (rc == 0 && m.failed) rc = fc_fail(err, FC_ENOMEM, "out of memory");
    if (rc == 0) rc = fc_file_write_atomic(path, (const unsigned char *)m.s, m.len, err);
    if (rc == 0) rc = sync_path(s->tmp, err);
    fc_strbuf_free(&m);
    return rc;
}

/* DIR keeps its other files: the set's are renamed in one by one, manifest.json out first and in last. */
static int rename_in(cli_export_set *s, fc_error *err) {
    char from[4300], to[4300];
    snprintf(to, sizeof to, "%s/manifest.json", s->dir);
    if (unlink(to) != 0 && errno != ENOENT) return fc_fail(err, FC_EIO, "%s: %s", to, strerror(errno));
    for (int i = 0, moved = 0; i < N_NAMES; i++) {
        cli_export_set_file(s, set_names[i], from, sizeof from);
        snprintf(to, sizeof to, "%s/%s", s->dir, set_names[i]);
        if (access(from, F_OK) != 0) continue;
        if (rename(from, to) != 0) return fc_fail(err, FC_EIO, "%s: %s", to, strerror(errno));
        if (!moved++) cli_test_pause("export-file");
    }
    remove_set_dir(s->tmp);
    return 0;
}

/* Puts the written set in place (see export_set.h); ENOENT/ENOTEMPTY races fall back to rename_in. */
static int put_in_place(cli_export_set *s, fc_error *err) {
    struct stat st;
    if (lstat(s->dir, &st) != 0) {
        if (errno != ENOENT) return fc_fail(err, FC_EIO, "%s: %s", s->dir, strerror(errno));
        if (rename(s->tmp, s->dir) == 0) return 0;
        if (errno != EEXIST && errno != ENOTEMPTY) return fc_fail(err, FC_EIO, "%s: %s", s->dir, strerror(errno));
        if (lstat(s->dir, &st) != 0) return fc_fail(err, FC_EIO, "%s: %s", s->dir, strerror(errno));
    }
    if (S_ISDIR(st.st_mode) && only_set_files(s->dir)) { /* a symlink to a folder is followed instead */
        if (renameat2(AT_FDCWD, s->tmp, AT_FDCWD, s->dir, RENAME_EXCHANGE) == 0) {
            remove_set_dir(s->tmp); /* now the old set */
            return 0;
        }
        if (errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
            return fc_fail(err, FC_EIO, "%s: %s", s->dir, strerror(errno));
    }
    if (stat(s->dir, &st) != 0) return fc_fail(err, FC_EIO, "%s: %s", s->dir, strerror(errno));
    if (!S_ISDIR(st.st_mode)) return fc_fail(err, FC_EIO, "%s: not a folder", s->dir);
    return rename_in(s, err);
}

int cli_export_set_commit(cli_export_set *s, const char *members, fc_error *err) {
    int rc = write_manifest(s, members, err);
    if (rc == 0) {
        cli_test_pause("export-written");
        rc = put_in_place(s, err);
    }
    if (rc) cli_export_set_abort(s);
    return rc;
}
