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
    case 1012: return cli_compute(cmd, arg, &x->compute) ? -1 : 1;
    case 1013: return cli_exif(cmd, arg, &x->exif) ? -1 : 1;
    default: return 0;
    }
}

int cli_extractor_resolve(cli_extractor *x, const char *dataset_arg, fc_catalog *cat, fc_error *err) {
    if (x->name && *x->name) snprintf(x->dataset, sizeof x->dataset, "%s", x->name);
    else fc_dataset_default_name(dataset_arg, x->dataset, sizeof x->dataset);
    fc_extractor_def def = {.model = x->model, .layers = x->layer ? &x->layer : NULL, .n_layers = x->layer ? 1 : 0,
                            .size = x->size, .crop = (float)x->crop, .preset = x->preset, .gray = x->gray,
                            .dtype = x->dtype, .compute = x->compute, .exif = x->exif};
    fc_extractor_ref ref;
    int rc = fc_extractor_resolve(cat, &def, &ref, err);
    if (rc) return rc;
    snprintf(x->layer_name, sizeof x->layer_name, "%s", ref.layer);
    memcpy(x->model_sha, ref.model_sha, sizeof ref.model_sha);
    memcpy(x->id, ref.id, sizeof ref.id);
    x->size_resolved = ref.size;
    char what[300];
    snprintf(what, sizeof what, "layer %s", x->layer_name);
    rc = cli_extract_check(cat, NULL, x->dataset, x->id, what, x->strict, err);
    if (rc < 0) return rc;
    x->incomplete = rc;
    return 0;
}

int cli_extract_check(fc_catalog *cat, const char *cmd, const char *dataset, const char *extractor, const char *what,
                      int strict, fc_error *err) {
    char msg[1024];
    int rc = fc_extract_check(cat, dataset, extractor, what, msg, sizeof msg, err);
    if (rc <= 0) return rc;
    if (strict) return fc_fail(err, FC_EINVAL, "%s (rerun featcache extract to complete it)", msg);
    fprintf(stderr, "featcache%s%s: warning: %s; " FC_EXTRACT_INCOMPLETE_HINT "\n", cmd ? " " : "", cmd ? cmd : "", msg);
    return 1;
}
