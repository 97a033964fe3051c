/* fc_model_load: import, select outputs, optimize (fold constants, fold BatchNorm, fuse epilogues),
 * then let each op prepare (pack weights). Everything here runs once per model. */
#include "extract/model.h"

#include <stdlib.h>
#include <string.h>

#include "extract/graph_opt.h"
#include "extract/model_internal.h"
#include "extract/onnx_import.h"
#include "extract/ops/ops.h"

static int select_outputs(fc_model *m, const fc_model_options *opt, fc_error *err) {
    if (!opt || !opt->outputs || opt->n_outputs <= 0) return 0;
    fc_graph *g = m->g;
    int *outs = malloc((size_t)opt->n_outputs * sizeof(int));
    if (!outs) return fc_fail(err, FC_ENOMEM, "out of memory");
    for (int i = 0; i < opt->n_outputs; i++) {
        int v = fc_graph_find(g, opt->outputs[i]);
        if (v < 0 || (g->values[v].producer < 0 && !g->values[v].c.data)) {
            free(outs);
            return fc_fail(err, FC_EINVAL, "%s: no tensor named '%s' in the model (graph outputs: '%s'%s)",
                           m->path, opt->outputs[i], g->values[g->outputs[0]].name,
                           g->n_outputs > 1 ? ", ..." : "");
        }
        outs[i] = v;
    }
    free(g->outputs);
    g->outputs = outs;
    g->n_outputs = opt->n_outputs;
    return 0;
}

int fc_model_load(const char *path, const fc_model_options *opt, fc_model **out, fc_error *err) {
    *out = NULL;
    fc_model *m = calloc(1, sizeof *m);
    if (!m || !(m->path = strdup(path))) { free(m); return fc_fail(err, FC_ENOMEM, "out of memory"); }
    m->k = opt && opt->kernels ? opt->kernels : fc_kernels_best();
    int rc = fc_onnx_import(path, &m->g, err);
    if (rc) goto fail;
    if ((rc = select_outputs(m, opt, err))) goto fail;
    fc_graph *g = m->g;
    if ((rc = fc_graph_finalize(g, err)) || (rc = fc_opt_fold_constants(g, m->k, err)) ||
        (rc = fc_graph_finalize(g, err)) || (rc = fc_opt_fold_batchnorm(g, err)) ||
        (rc = fc_graph_finalize(g, err)) || (rc = fc_opt_fuse_epilogues(g, err)) ||
        (rc = fc_graph_finalize(g, err)))
        goto prefix;
    for (int i = 0; i < g->n_order; i++) {
        fc_node *n = &g->nodes[g->order[i]];
        if (n->op->prepare && (rc = n->op->prepare(g, n, m->k, err))) goto prefix;
    }
    *out = m;
    return 0;
prefix:
    fc_error_prefix(err, "%s: ", path);
fail:
    fc_model_free(m);
    return rc;
}

void fc_model_free(fc_model *m) {
    if (!m) return;
    fc_graph_free(m->g);
    free(m->path);
    free(m);
}

void fc_model_input_dims(const fc_model *m, int64_t dims[4]) {
    const fc_value *v = &m->g->values[m->g->input];
    for (int i = 0; i < 4; i++) dims[i] = v->decl_rank == 4 ? v->decl_dims[i] : -1;
}

const char *fc_model_input_name(const fc_model *m) { return m->g->values[m->g->input].name; }
int fc_model_n_outputs(const fc_model *m) { return m->g->n_outputs; }
const char *fc_model_output_name(const fc_model *m, int i) {
    return i >= 0 && i < m->g->n_outputs ? m->g->values[m->g->outputs[i]].name : NULL;
}
const fc_kernels *fc_model_kernels(const fc_model *m) { return m->k; }
