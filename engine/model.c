/* fc_model_load: import, select outputs, optimize (fold constants, fold BatchNorm, fuse epilogues,
 * fuse depthwise blocks), then let each op prepare (pack weights). Everything here runs once per
 * model. Not here: planning and running (plan.c, session.c). */
#include "engine/model.h"

#include <stdlib.h>
#include <string.h>

#include "engine/graph_opt.h"
#include "engine/model_internal.h"
#include "engine/onnx/onnx_import.h"
#include "engine/precision.h"
#include "engine/ops/ops.h"

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

/* Each op packs its weights for the model's kernel table, or, in a bf16 model, for its f32 table
 * where the precision rule keeps the step in f32 (precision.h). */
static int prepare_ops(fc_model *m, fc_error *err) {
    fc_graph *g = m->g;
    unsigned char *keep = m->k->f32 ? malloc((size_t)g->n_nodes) : NULL;
    if (m->k->f32 && !keep) return fc_fail(err, FC_ENOMEM, "out of memory");
    int rc = keep ? fc_precision_keep_f32(g, keep, err) : 0;
    for (int i = 0; i < g->n_order && !rc; i++) {
        fc_node *n = &g->nodes[g->order[i]];
        if (n->op->prepare) rc = n->op->prepare(g, n, keep && keep[g->order[i]] ? m->k->f32 : m->k, err);
    }
    free(keep);
    return rc;
}

/* How model_load gets the ONNX bytes. */
typedef enum { FROM_FILE, FROM_FILE_BYTES, FROM_MEMORY } model_source;

/* Imports from the file at path (FROM_FILE; FROM_FILE_BYTES: its bytes read by the caller, data)
 * or from memory, then prepares the graph. */
static int model_load(const char *path, model_source src, const void *data, size_t size,
                      const fc_model_options *opt, fc_model **out, fc_error *err) {
    *out = NULL;
    fc_model *m = calloc(1, sizeof *m);
    if (!m || !(m->path = strdup(path))) { free(m); return fc_fail(err, FC_ENOMEM, "out of memory"); }
    m->k = opt && opt->kernels ? opt->kernels : fc_kernels_best();
    int rc = src == FROM_MEMORY ? fc_onnx_import_mem(path, data, size, &m->g, err)
             : src == FROM_FILE_BYTES
                 ? fc_onnx_import_file_bytes(path, data, size, &m->g, &m->data_files, &m->n_data_files, err)
                 : fc_onnx_import_files(path, &m->g, &m->data_files, &m->n_data_files, err);
    if (rc) goto fail;
    if ((rc = select_outputs(m, opt, err))) goto fail;
    fc_graph *g = m->g;
    if ((rc = fc_graph_finalize(g, err)) || (rc = fc_opt_fold_constants(g, m->k, err)) ||
        (rc = fc_graph_finalize(g, err)) || (rc = fc_opt_fold_batchnorm(g, err)) ||
        (rc = fc_graph_finalize(g, err)) || (rc = fc_opt_fuse_pads(g, err)) ||
        (rc = fc_graph_finalize(g, err)) || (rc = fc_opt_fuse_epilogues(g, err)) ||
        (rc = fc_graph_finalize(g, err)) || (!(opt && opt->unfused_blocks) && (rc = fc_opt_fuse_dw_blocks(g, err))) ||
        (rc = fc_graph_finalize(g, err)) || (rc = fc_opt_fuse_se_scale(g, err)) ||
        (rc = fc_graph_finalize(g, err)) || (rc = fc_opt_fuse_block_pools(g, err)) ||
        (rc = fc_graph_finalize(g, err)) || (rc = fc_opt_fuse_pre_norms(g, err)) ||
        (rc = fc_graph_finalize(g, err)))
        goto prefix;
    m->described = opt && opt->describe_only;
    if (!m->described && (rc = prepare_ops(m, err))) goto prefix;
    if (!m->described) fc_dw_blocks_chain(g);
    *out = m;
    return 0;
prefix:
    fc_error_prefix(err, "%s: ", path);
fail:
    fc_model_free(m);
    return rc;
}

int fc_model_load(const char *path, const fc_model_options *opt, fc_model **out, fc_error *err) {
    return model_load(path, FROM_FILE, NULL, 0, opt, out, err);
}

int fc_model_load_file_bytes(const char *path, const void *data, size_t size, const fc_model_options *opt,
                             fc_model **out, fc_error *err) {
    return model_load(path, FROM_FILE_BYTES, data, size, opt, out, err);
}

int fc_model_load_mem(const char *name, const void *data, size_t size, const fc_model_options *opt,
                      fc_model **out, fc_error *err) {
    static const char empty[1];
    return model_load(name ? name : "<memory>", FROM_MEMORY, data ? data : empty, data ? size : 0, opt, out, err);
}

int fc_model_data_files(const char *path, char ***files, int *n, fc_error *err) {
    return fc_onnx_data_files(path, files, n, err);
}

void fc_model_data_files_free(char **files, int n) { fc_onnx_data_files_free(files, n); }

const char *const *fc_model_loaded_data_files(const fc_model *m, int *n) {
    *n = m->n_data_files;
    return (const char *const *)m->data_files;
}

void fc_model_free(fc_model *m) {
    if (!m) return;
    fc_graph_free(m->g);
    fc_onnx_data_files_free(m->data_files, m->n_data_files);
    free(m->path);
    free(m);
}

void fc_model_input_dims(const fc_model *m, int64_t dims[4]) {
    const fc_value *v = &m->g->values[m->g->input];
    for (int i = 0; i < 4; i++) dims[i] = v->decl_rank == 4 ? v->decl_dims[i] : -1;
}

int fc_model_input_rank(const fc_model *m) { return m->g->values[m->g->input].decl_rank; }
const char *fc_model_path(const fc_model *m) { return m->path; }
const char *fc_model_input_name(const fc_model *m) { return m->g->values[m->g->input].name; }
int fc_model_n_outputs(const fc_model *m) { return m->g->n_outputs; }
const char *fc_model_output_name(const fc_model *m, int i) {
    return i >= 0 && i < m->g->n_outputs ? m->g->values[m->g->outputs[i]].name : NULL;
}
const fc_kernels *fc_model_kernels(const fc_model *m) { return m->k; }

int fc_model_output_uses_input(const fc_model *m, int i, fc_error *err) {
    const fc_graph *g = m->g;
    if (i < 0 || i >= g->n_outputs) return fc_fail(err, FC_EINVAL, "output %d of %d", i, g->n_outputs);
    if (g->outputs[i] == g->input) return 1;
    char *needed = calloc((size_t)g->n_nodes + 1, 1);
    if (!needed || fc_graph_mark_producers(g, &g->outputs[i], 1, needed) != 0) {
        free(needed);
        return fc_fail(err, FC_ENOMEM, "out of memory");
    }
    int found = 0; /* does a node the output needs read the data input? */
    for (int p = 0; p < g->n_nodes && !found; p++)
        for (int k = 0; needed[p] && k < g->nodes[p].n_in; k++) found |= g->nodes[p].in[k] == g->input;
    free(needed);
    return found;
}

static int is_passthrough(const char *op) {
    return !strcmp(op, "Flatten") || !strcmp(op, "Reshape") || !strcmp(op, "Squeeze") ||
           !strcmp(op, "Dropout") || !strcmp(op, "Identity");
}

/* v, or the value behind a chain of pass-through ops producing it. */
static int before_passthrough(const fc_graph *g, int v) {
    for (int up = 0; up < 16; up++) {
        int q = g->values[v].producer;
        if (q < 0 || !is_passthrough(g->nodes[q].op_type)) break;
        v = g->nodes[q].in[0];
    }
    return v;
}

/* A 1x1 Conv applied to globally pooled features acts as a fully connected classifier. */
static int is_pooled_conv_classifier(const fc_graph *g, const fc_node *n) {
    if (strcmp(n->op_type, "Conv") || n->n_in < 2 || n->in[1] < 0) return 0;
    const fc_tensor *w = &g->values[n->in[1]].c;
    if (w->rank != 4 || w->dims[2] != 1 || w->dims[3] != 1) return 0;
    int q = g->values[before_passthrough(g, n->in[0])].producer;
    if (q < 0) return 0;
    const char *op = g->nodes[q].op_type;
    return !strcmp(op, "GlobalAveragePool") || !strcmp(op, "GlobalMaxPool") || !strcmp(op, "ReduceMean");
}

const char *fc_model_default_feature(const fc_model *m) { return fc_graph_default_feature(m->g); }

const char *fc_graph_default_feature(const fc_graph *g) {
    int v = g->outputs[0];
    for (int steps = 0; steps < 64; steps++) { /* back along first inputs to the classifier */
        int p = g->values[v].producer;
        if (p < 0) break;
        const fc_node *n = &g->nodes[p];
        if (!strcmp(n->op_type, "Gemm") || !strcmp(n->op_type, "MatMul") ||
            is_pooled_conv_classifier(g, n)) {
            int f = before_passthrough(g, n->in[0]);
            if (!g->values[f].is_input) return g->values[f].name;
            break;
        }
        if (n->n_in < 1 || n->in[0] < 0) break;
        v = n->in[0];
    }
    return g->values[g->outputs[0]].name;
}
