/* Shared extractor/data set options (see extractor_opts.h). */
#include "cli/extractor_opts.h"

#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "extract/extract.h"

void cli_extractor_init(cli_extractor *x) {
    memset(x, 0, sizeof *x);
    x->crop = 1;
    x->preset = FC_PRESET_TF;
    x->dtype = FC_DTYPE_F32;
}

int cli_extractor_option(const char *cmd, int c, const char *arg, cli_extractor *x) {
    fc_error err = {0};
    switch (c) {
    case 1001: x->model = arg; return 1;
    case 1002: x->layer = arg; return 1;
    case 1003: return cli_int(cmd, "size", arg, 8, 8192, &x->size) ? -1 : 1;
    case 1004: return cli_float(cmd, "crop", arg, 0.05, 1.0, &x->crop) ? -1 : 1;
    case 1005:
        if (fc_preset_parse(arg, &x->preset, &err)) { fprintf(stderr, "featcache %s: %s\n", cmd, err.msg); return -1; }
        return 1;
    case 1006:
        if (!strcmp(arg, "f32")) x->dtype = FC_DTYPE_F32;
        else if (!strcmp(arg, "f16")) x->dtype = FC_DTYPE_F16;
        else { fprintf(stderr, "featcache %s: --dtype wants f32 or f16, not '%s'\n", cmd, arg); return -1; }
        return 1;
    case 1007:
        for (int v = 0; v < FC_N_VIEWS; v++)
            if (!strcmp(arg, fc_view_name(v))) { x->view = v; return 1; }
        fprintf(stderr, "featcache %s: --view wants orig, flip, crop-center, crop-tl, crop-tr, crop-bl or "
                "crop-br, not '%s'\n", cmd, arg);
        return -1;
    case 1008: x->cache = arg; return 1;
    case 1009: x->name = arg; return 1;
    case 1010: x->gray = 1; return 1;
    case 1011: x->strict = 1; return 1;
    case 1012:
        if (!strcmp(arg, "apply")) x->exif = FC_EXIF_APPLY;
        else if (!strcmp(arg, "ignore")) x->exif = FC_EXIF_IGNORE;
        else { fprintf(stderr, "featcache %s: --exif-orientation wants apply or ignore, not '%s'\n", cmd, arg); return -1; }
        return 1;
    default: return 0;
    }
}

int cli_extractor_resolve(cli_extractor *x, const char *dataset_arg, fc_catalog *cat, fc_error *err) {
    if (!x->model) return fc_fail(err, FC_EINVAL, "--model is required");
    if (x->name && *x->name) snprintf(x->dataset, sizeof x->dataset, "%s", x->name);
    else fc_dataset_default_name(dataset_arg, x->dataset, sizeof x->dataset);
    char sha[65], deflayer[256];
    int h, w;
    int rc = fc_model_facts(cat, x->model, sha, deflayer, sizeof deflayer, &h, &w, err);
    if (rc) return rc;
    int size = x->size ? x->size : h;
    if (size <= 0) return fc_fail(err, FC_EINVAL, "%s: the model's input size is not fixed; give --size", x->model);
    snprintf(x->layer_name, sizeof x->layer_name, "%s", x->layer ? x->layer : deflayer);
    memcpy(x->model_sha, sha, sizeof sha);
    x->size_resolved = size;
    fc_extractor_id(sha, x->layer_name, FC_POOL_NONE, size, (float)x->crop, x->preset, x->gray, x->dtype, x->exif, x->id);
    char what[300];
    snprintf(what, sizeof what, "layer %s", x->layer_name);
    rc = cli_extract_check(cat, NULL, x->dataset, x->id, what, x->strict, err);
    if (rc < 0) return rc;
    x->incomplete = rc;
    return 0;
}

/* Why run s did not finish, into out. */
static void unfinished_reason(const fc_extract_state *s, char *out, size_t cap) {
    long killed_pid = 0; /* a killed run that a later extract or train already marked interrupted */
    if (s->status == FC_RUN_FAILED && sscanf(s->error, "interrupted: process %ld ended", &killed_pid) == 1)
        snprintf(out, cap, "its last extract (run #%lld, process %ld) was killed before it finished", (long long)s->run_id,
                 killed_pid);
    else if (s->status == FC_RUN_FAILED)
        snprintf(out, cap, "its last extract (run #%lld) failed: %s", (long long)s->run_id, s->error[0] ? s->error : "?");
    else if (s->alive > 0)
        snprintf(out, cap, "an extract of it is running (run #%lld, process %ld)", (long long)s->run_id, s->pid);
    else if (s->alive == 0)
        snprintf(out, cap, "its last extract (run #%lld, process %ld) was killed before it finished", (long long)s->run_id,
                 s->pid);
    else
        snprintf(out, cap, "its last extract (run #%lld) is still marked running by another host or an older featcache",
                 (long long)s->run_id);
}

int cli_extract_check(fc_catalog *cat, const char *cmd, const char *dataset, const char *extractor, const char *what,
                      int strict, fc_error *err) {
    int64_t ds_id;
    fc_extract_state st;
    int rc = fc_catalog_dataset_find(cat, dataset, &ds_id, err);
    if (rc <= 0) return rc;
    if ((rc = fc_extract_last(cat, ds_id, extractor, &st, err))) return rc;
    if (fc_extract_finished(&st)) return 0;
    char why[400];
    unfinished_reason(&st, why, sizeof why);
    if (strict)
        return fc_fail(err, FC_EINVAL, "data set '%s' is incomplete (%s): %s (rerun featcache extract to complete it)",
                       dataset, what, why);
    fprintf(stderr, "featcache%s%s: warning: data set '%s' is incomplete (%s): %s; using the items it has (rerun "
            "featcache extract to complete it; --strict makes this an error)\n", cmd ? " " : "", cmd ? cmd : "", dataset,
            what, why);
    return 1;
}
