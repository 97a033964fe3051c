/* Backbone + head -> one ONNX image classifier (see merge_onnx.h). The backbone is unpacked with
 * protobuf-c and a new ModelProto is assembled that points at the kept backbone messages (nodes,
 * initializers, input) plus the head's pieces from fc_head_onnx_build; it is packed once and written
 * atomically. Nodes are pruned by walking back from the feature tensor over the node list in
 * reverse (ONNX requires topological order). Not here: shape inference, graph optimization. */
#include "classify/merge_onnx.h"
#include "core/core.h"

#include <stdlib.h>
#include <string.h>

#include "classify/head.h"
#include "classify/head_onnx.h"
#include "engine/engine.h"

/* A set of tensor names (borrowed strings), linear lookup: graphs have a few thousand names. */
typedef struct name_set {
    const char **s;
    size_t n, cap;
} name_set;

static int set_has(const name_set *set, const char *name) {
    for (size_t i = 0; i < set->n; i++)
        if (!strcmp(set->s[i], name)) return 1;
    return 0;
}

static int set_add(name_set *set, const char *name) {
    if (!name || !*name || set_has(set, name)) return 0;
    if (set->n == set->cap) {
        size_t cap = set->cap ? 2 * set->cap : 256;
        const char **s = realloc(set->s, cap * sizeof *s);
        if (!s) return -1;
        set->s = s;
        set->cap = cap;
    }
    set->s[set->n++] = name;
    return 0;
}

static int is_head_name(const char *name) {
    return name && (!strncmp(name, "head/", 5) || !strcmp(name, "probabilities"));
}

static int node_has_subgraph(const Onnx__NodeProto *n) {
    for (size_t i = 0; i < n->n_attribute; i++)
        if (n->attribute[i]->g || n->attribute[i]->n_graphs) return 1;
    return 0;
}

static int tensor_is_external(const Onnx__TensorProto *t) {
    return t && t->has_data_location && t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
}

/* Width of the feature tensor as featcache's engine computes it (count / N for batch 1), or 0 when
 * the engine cannot run this backbone (then ONNX Runtime is the only judge). */
static long long feature_width(const char *path, const char *feature) {
    const char *outs[1] = {feature};
    fc_model_options mo = {.outputs = outs, .n_outputs = 1};
    fc_model *model = NULL;
    fc_session *s = NULL;
    long long w = 0;
    fc_session_options so = {.batch = 1, .threads = 1};
    if (fc_model_load(path, &mo, &model, NULL) == 0 && fc_session_create(model, &so, &s, NULL) == 0) {
        const fc_tensor *t = fc_session_output(s, 0);
        if (t && t->rank >= 1 && t->dims[0] == 1) w = (long long)fc_tensor_count(t);
    }
    fc_session_free(s);
    fc_model_free(model);
    return w;
}

int fc_onnx_merge_classifier(const char *backbone_path, const char *feature_tensor,
                             const char *head_path, const char *out_path, fc_error *err) {
    if (!backbone_path || !feature_tensor || !*feature_tensor || !head_path || !out_path)
        return fc_fail(err, FC_EINVAL, "export-onnx: NULL or empty argument");
    fc_head head = {0};
    char *meta = NULL;
    unsigned char *bytes = NULL, *buf = NULL;
    size_t size = 0;
    Onnx__ModelProto *m = NULL;
    name_set needed = {0}, inits = {0};
    fc_onnx_pool pool = {0};
    char *keep = NULL;
    const char *bp = backbone_path;

    int rc = fc_head_load_onnx(head_path, &head, &meta, err);
    if (rc) goto fail;
    if ((rc = fc_file_read(bp, FC_ONNX_MAX_BYTES, &bytes, &size, err))) goto fail;
    m = onnx__model_proto__unpack(NULL, size, bytes);
    free(bytes);
    bytes = NULL;
    if (!m || !m->graph) {
        rc = fc_fail(err, FC_EFORMAT, "%s: not a valid ONNX model (protobuf parsing failed or no graph)", bp);
        goto fail;
    }
    const Onnx__GraphProto *g = m->graph;
    int opset = 0;
    for (size_t i = 0; i < m->n_opset_import; i++) {
        const Onnx__OperatorSetIdProto *o = m->opset_import[i];
        if ((!o->domain || !*o->domain || !strcmp(o->domain, "ai.onnx")) && o->has_version)
            opset = (int)o->version;
    }
    if (opset == 0) opset = 1;
    if (opset < 8) {
        rc = fc_fail(err, FC_EUNSUPPORTED, "%s: opset %d is older than the head's operators need (>= 8); "
                     "convert the backbone to a newer opset first", bp, opset);
        goto fail;
    }

    /* Initializer names; external data is refused (the merged file must be self-contained). */
    for (size_t i = 0; i < g->n_initializer; i++) {
        const Onnx__TensorProto *t = g->initializer[i];
        if (tensor_is_external(t)) {
            rc = fc_fail(err, FC_EUNSUPPORTED, "%s: initializer '%s' uses external data; export-onnx needs "
                         "a self-contained backbone (re-save it with the weights inside the .onnx)", bp,
                         t->name ? t->name : "");
            goto fail;
        }
        if (set_add(&inits, t->name)) { rc = fc_fail(err, FC_ENOMEM, "%s: out of memory", bp); goto fail; }
    }
    const Onnx__ValueInfoProto *data_input = NULL;
    for (size_t i = 0; i < g->n_input; i++) {
        if (!g->input[i]->name || set_has(&inits, g->input[i]->name)) continue;
        if (data_input) {
            rc = fc_fail(err, FC_EUNSUPPORTED, "%s: the backbone has several data inputs ('%s', '%s')", bp,
                         data_input->name, g->input[i]->name);
            goto fail;
        }
        data_input = g->input[i];
    }
    if (!data_input) { rc = fc_fail(err, FC_EFORMAT, "%s: the backbone has no data input", bp); goto fail; }

    /* Walk back from the feature tensor. */
    keep = calloc(g->n_node + 1, 1);
    if (!keep || set_add(&needed, feature_tensor)) { rc = fc_fail(err, FC_ENOMEM, "%s: out of memory", bp); goto fail; }
    int produced = 0;
    size_t n_keep = 0;
    for (size_t i = g->n_node; i-- > 0;) {
        const Onnx__NodeProto *n = g->node[i];
        int want = 0;
        for (size_t j = 0; j < n->n_output && !want; j++)
            if (n->output[j] && set_has(&needed, n->output[j])) want = 1;
        if (!want) continue;
        for (size_t j = 0; j < n->n_output; j++)
            if (n->output[j] && !strcmp(n->output[j], feature_tensor)) produced = 1;
        if (node_has_subgraph(n)) {
            rc = fc_fail(err, FC_EUNSUPPORTED, "%s: node '%s' (%s) has a subgraph; export-onnx merges plain "
                         "graphs only", bp, n->name ? n->name : "", n->op_type ? n->op_type : "");
            goto fail;
        }
        for (size_t j = 0; j < n->n_attribute; j++)
            if (tensor_is_external(n->attribute[j]->t)) {
                rc = fc_fail(err, FC_EUNSUPPORTED, "%s: node '%s' holds a tensor in external data; "
                             "export-onnx needs a self-contained backbone", bp, n->name ? n->name : "");
                goto fail;
            }
        keep[i] = 1;
        n_keep++;
        for (size_t j = 0; j < n->n_input; j++)
            if (set_add(&needed, n->input[j])) { rc = fc_fail(err, FC_ENOMEM, "%s: out of memory", bp); goto fail; }
        for (size_t j = 0; j < n->n_output; j++)
            if (is_head_name(n->output[j])) {
                rc = fc_fail(err, FC_EUNSUPPORTED, "%s: backbone tensor '%s' clashes with the head's names "
                             "(\"head/...\", \"probabilities\")", bp, n->output[j]);
                goto fail;
            }
    }
    if (!produced) {
        rc = fc_fail(err, FC_EINVAL, "%s: no node produces a tensor named '%s' (the feature tensor)", bp,
                     feature_tensor);
        goto fail;
    }
    for (size_t i = 0; i < needed.n; i++)
        if (is_head_name(needed.s[i])) {
            rc = fc_fail(err, FC_EUNSUPPORTED, "%s: backbone tensor '%s' clashes with the head's names", bp,
                         needed.s[i]);
            goto fail;
        }

    long long width = feature_width(bp, feature_tensor);
    if (width > 0 && width != head.layers[0].in) {
        rc = fc_fail(err, FC_ESHAPE, "%s: feature tensor '%s' has %lld values per image, the head %s "
                     "takes %d", bp, feature_tensor, width, head_path, head.layers[0].in);
        goto fail;
    }

    fc_head_onnx_parts parts;
    if ((rc = fc_head_onnx_build(&head, "head/features", opset, meta, &pool, &parts, err))) {
        fc_error_prefix(err, "%s: ", head_path);
        goto fail;
    }

    /* Assemble the merged graph. */
    Onnx__NodeProto flatten, **nodes = fc_onnx_pool_alloc(&pool, (n_keep + 1 + parts.n_nodes) * sizeof *nodes);
    Onnx__TensorProto **init = fc_onnx_pool_alloc(&pool, (g->n_initializer + parts.n_inits + 1) * sizeof *init);
    Onnx__ValueInfoProto **inputs = fc_onnx_pool_alloc(&pool, (g->n_input + 1) * sizeof *inputs);
    Onnx__ValueInfoProto **vinfo = fc_onnx_pool_alloc(&pool, (g->n_value_info + 1) * sizeof *vinfo);
    Onnx__StringStringEntryProto **props =
        fc_onnx_pool_alloc(&pool, (m->n_metadata_props + parts.n_meta + 1) * sizeof *props);
    Onnx__AttributeProto axis_attr, *flatten_attrs[1] = {&axis_attr};
    Onnx__StringStringEntryProto feature_prop;
    char *flatten_in[1] = {(char *)feature_tensor}, *flatten_out[1] = {"head/features"};
    if (!nodes || !init || !inputs || !vinfo || !props) {
        rc = fc_fail(err, FC_ENOMEM, "%s: out of memory", out_path);
        goto fail;
    }
    size_t nn = 0, ni = 0, nin = 0, nvi = 0, np = 0;
    for (size_t i = 0; i < g->n_node; i++)
        if (keep[i]) nodes[nn++] = g->node[i];
    onnx__node_proto__init(&flatten);
    onnx__attribute_proto__init(&axis_attr);
    axis_attr.name = "axis";
    axis_attr.has_type = 1;
    axis_attr.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
    axis_attr.has_i = 1;
    axis_attr.i = 1;
    flatten.op_type = "Flatten";
    flatten.name = "head/flatten";
    flatten.domain = "";
    flatten.n_input = 1;
    flatten.input = flatten_in;
    flatten.n_output = 1;
    flatten.output = flatten_out;
    flatten.n_attribute = 1;
    flatten.attribute = flatten_attrs;
    nodes[nn++] = &flatten;
    for (size_t i = 0; i < parts.n_nodes; i++) nodes[nn++] = parts.nodes[i];
    for (size_t i = 0; i < g->n_initializer; i++)
        if (set_has(&needed, g->initializer[i]->name)) init[ni++] = g->initializer[i];
    for (size_t i = 0; i < parts.n_inits; i++) init[ni++] = parts.inits[i];
    for (size_t i = 0; i < g->n_input; i++) /* the data input, and initializers listed as inputs (IR < 4) */
        if (g->input[i] == data_input || set_has(&needed, g->input[i]->name)) inputs[nin++] = g->input[i];
    for (size_t i = 0; i < g->n_value_info; i++)
        if (g->value_info[i]->name && set_has(&needed, g->value_info[i]->name)) vinfo[nvi++] = g->value_info[i];
    for (size_t i = 0; i < m->n_metadata_props; i++) {
        const char *k = m->metadata_props[i]->key;
        if (k && !strncmp(k, "featcache.", 10)) continue; /* replaced by the head's */
        props[np++] = m->metadata_props[i];
    }
    for (size_t i = 0; i < parts.n_meta; i++) props[np++] = parts.meta[i];
    onnx__string_string_entry_proto__init(&feature_prop);
    feature_prop.key = "featcache.feature_tensor";
    feature_prop.value = (char *)feature_tensor;
    props[np++] = &feature_prop;

    Onnx__GraphProto graph;
    onnx__graph_proto__init(&graph);
    graph.name = g->name && *g->name ? g->name : "featcache_classifier";
    graph.doc_string = g->doc_string;
    graph.n_node = nn;
    graph.node = nodes;
    graph.n_initializer = ni;
    graph.initializer = init;
    graph.n_input = nin;
    graph.input = inputs;
    graph.n_output = 1;
    graph.output = &parts.output;
    graph.n_value_info = nvi;
    graph.value_info = vinfo;
    Onnx__ModelProto model;
    onnx__model_proto__init(&model);
    model.has_ir_version = m->has_ir_version;
    model.ir_version = m->ir_version;
    model.n_opset_import = m->n_opset_import;
    model.opset_import = m->opset_import;
    model.producer_name = "featcache";
    model.domain = m->domain;
    model.has_model_version = m->has_model_version;
    model.model_version = m->model_version;
    model.doc_string = m->doc_string;
    model.graph = &graph;
    model.n_metadata_props = np;
    model.metadata_props = props;
    model.n_functions = m->n_functions;
    model.functions = m->functions;
    size = onnx__model_proto__get_packed_size(&model);
    if (size > (size_t)FC_ONNX_MAX_BYTES) {
        rc = fc_fail(err, FC_ELIMIT, "%s: the merged model would be %zu bytes (protobuf limit 2 GiB)",
                     out_path, size);
        goto fail;
    }
    buf = malloc(size ? size : 1);
    if (!buf) { rc = fc_fail(err, FC_ENOMEM, "%s: out of memory (%zu bytes)", out_path, size); goto fail; }
    onnx__model_proto__pack(&model, buf);
    rc = fc_file_write_atomic(out_path, buf, size, err);
fail:
    free(buf);
    free(bytes);
    free(keep);
    free(needed.s);
    free(inits.s);
    fc_onnx_pool_free(&pool);
    if (m) onnx__model_proto__free_unpacked(m, NULL);
    fc_head_free(&head);
    free(meta);
    return rc;
}
