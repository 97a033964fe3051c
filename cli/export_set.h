/* An export folder as one set: features, labels, paths and splits of one run only, never a mix of
 * two runs after a kill. The files are written into a new hidden folder beside DIR
 * (.NAME.export-PID-XXXXXX), with manifest.json last (each file's bytes and SHA-256, and what the
 * caller says about the export), then put in place by one rename: DIR missing, renamed to DIR;
 * DIR holding nothing but an export's files, exchanged with it (renameat2 RENAME_EXCHANGE) and the
 * old set removed. A DIR with other files too (or a file system without RENAME_EXCHANGE) gets the
 * files renamed in one by one, its manifest.json removed first and the new one renamed in last: a
 * reader that finds manifest.json and the files it lists with their sizes and hashes has one run's
 * set; without it, the set is being replaced (or a replacement was killed). Hidden folders that a
 * killed export left are removed by the next export to the same DIR. Not here: the file formats
 * (cmd_export.c). */
#ifndef FC_CLI_EXPORT_SET_H
#define FC_CLI_EXPORT_SET_H

#include <stddef.h>

#include "core/core.h"

typedef struct cli_export_set {
    char dir[4096];  /* where the set goes */
    char tmp[4200];  /* where it is written */
} cli_export_set;

/* Creates the hidden folder beside dir (the parent must exist) after removing those of killed
 * exports. FC_EIO naming the folder and the reason. */
int cli_export_set_begin(cli_export_set *s, const char *dir, fc_error *err);
/* s->tmp/name into out (cap bytes): where the caller writes the set's file `name`. */
void cli_export_set_file(const cli_export_set *s, const char *name, char *out, size_t cap);
/* Writes manifest.json ({"featcache_export":1, members (JSON members without braces, e.g.
 * "\"dataset\":\"x\",\"n\":10"), "files":{NAME:{"bytes":N,"sha256":".."},...}}) after syncing every
 * file, then puts the set in place as described above. FC_EIO (naming the file or folder and the
 * reason), FC_ENOMEM; on error the hidden folder is removed and DIR keeps the old set (or, when
 * the files were being renamed in one by one, a set without manifest.json). */
int cli_export_set_commit(cli_export_set *s, const char *members, fc_error *err);
/* Removes the hidden folder of a set that is not committed. */
void cli_export_set_abort(cli_export_set *s);

#endif
