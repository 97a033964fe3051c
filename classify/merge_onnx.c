/* Backbone + head -> one ONNX image classifier (see merge_onnx.h). The backbone is read with
 * engine/onnx/onnx_io.h and a new ModelProto is assembled that points at the kept backbone messages
 * (nodes, initializers, input) plus the head's pieces from fc_head_onnx_build; it is packed once and
 * written atomically. Nodes are pruned by walking back from the feature tensor over the node list in
 * reverse (ONNX requires topological order). Not here: shape inference, graph optimization. */
#include "classify/merge_onnx.h"
#include "core/core.h"

#include <stdlib.h>
#include <string.h>

#include "classify/head.h"
#include "classify/head_onnx.h"
#include "engine/engine.h"
#include "store/store.h"

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

/* The backbone and what the merge keeps of it. */
typedef struct backbone {
    const char *path;
    const char *sha256;  /* the SHA-256 (hex) its bytes must have, or NULL */
    unsigned char *data; /* the file's bytes, read once: parsed, checked and loaded from */
    size_t size;
    Onnx__ModelProto *m;
    int opset;
    const Onnx__ValueInfoProto *data_input;
    name_set inits;  /* initializer names */
    name_set needed; /* the feature tensor and every tensor the kept nodes read */
    char *keep;      /* (n_node) 1 for the nodes the feature tensor depends on */
    size_t n_keep;
} backbone;

static void backbone_free(backbone *b) {
    free(b->data);
    free(b->keep);
    free(b->needed.s);
    free(b->inits.s);
    fc_onnx_model_free(b->m);
}

/* Reads the backbone's bytes (kept: parsed, checked and loaded from) and parses them; it needs a
 * graph and an opset the head's operators exist in. */
static int read_backbone(backbone *b, fc_error *err) {
    int rc = fc_file_read(b->path, FC_ONNX_MAX_BYTES, &b->data, &b->size, err);
    if (rc) return rc;
    rc = fc_onnx_read_mem(b->path, b->data, b->size, &b->m, err);
    if (rc == FC_EFORMAT || (rc == 0 && !b->m->graph))
        return fc_fail(err, FC_EFORMAT, "%s: not a valid ONNX model (protobuf parsing failed or no graph)",
                       b->path);
    if (rc) return rc;
    b->opset = fc_onnx_opset(b->m);
    if (b->opset < 8)
        return fc_fail(err, FC_EUNSUPPORTED, "%s: opset %d is older than the head's operators need (>= 8); "
                       "convert the backbone to a newer opset first", b->path, b->opset);
    return 0;
}

/* Collects the initializer names (refusing external data: the merged file must be
 * self-contained) and finds the one graph input that is not an initializer. */
static int find_data_input(backbone *b, fc_error *err) {
    const Onnx__GraphProto *g = b->m->graph;
    for (size_t i = 0; i < g->n_initializer; i++) {
        const Onnx__TensorProto *t = g->initializer[i];
        if (tensor_is_external(t))
            return fc_fail(err, FC_EUNSUPPORTED, "%s: initializer '%s' uses external data; export-onnx needs "
                           "a self-contained backbone (re-save it with the weights inside the .onnx)", b->path,
                           t->name ? t->name : "");
        if (set_add(&b->inits, t->name)) return fc_fail(err, FC_ENOMEM, "%s: out of memory", b->path);
    }
    for (size_t i = 0; i < g->n_input; i++) {
        if (!g->input[i]->name || set_has(&b->inits, g->input[i]->name)) continue;
        if (b->data_input)
            return fc_fail(err, FC_EUNSUPPORTED, "%s: the backbone has several data inputs ('%s', '%s')",
                           b->path, b->data_input->name, g->input[i]->name);
        b->data_input = g->input[i];
    }
    if (!b->data_input) return fc_fail(err, FC_EFORMAT, "%s: the backbone has no data input", b->path);
    return 0;
}

/* With b->sha256 set, the bytes read must have it (a self-contained model's fingerprint is the
 * SHA-256 of its file: checked after find_data_input refused external data). */
static int check_bytes(const backbone *b, fc_error *err) {
    if (!b->sha256) return 0;
    uint8_t h[FC_SHA256_SIZE];
    char hex[2 * FC_SHA256_SIZE + 1];
    fc_sha256_digest(b->data, b->size, h);
    fc_hex_encode(h, FC_SHA256_SIZE, hex);
    if (!strcmp(hex, b->sha256)) return 0;
    return fc_fail(err, FC_EINVAL, "%s is not the model the head was trained on (fingerprint %.12s; the bytes read "
                   "now %.12s)", b->path, b->sha256, hex);
}

/* Marks node n (which produces a needed tensor) kept and its inputs needed, after checking that it
 * can be copied as it is: no subgraph, no external tensor, no output named like the head's. */
static int keep_node(backbone *b, size_t i, fc_error *err) {
    const Onnx__NodeProto *n = b->m->graph->node[i];
    if (node_has_subgraph(n))
        return fc_fail(err, FC_EUNSUPPORTED, "%s: node '%s' (%s) has a subgraph; export-onnx merges plain "
                       "graphs only", b->path, n->name ? n->name : "", n->op_type ? n->op_type : "");
    for (size_t j = 0; j < n->n_attribute; j++)
        if (tensor_is_external(n->attribute[j]->t))
            return fc_fail(err, FC_EUNSUPPORTED, "%s: node '%s' holds a tensor in external data; "
                           "export-onnx needs a self-contained backbone", b->path, n->name ? n->name : "");
    b->keep[i] = 1;
    b->n_keep++;
    for (size_t j = 0; j < n->n_input; j++)
        if (set_add(&b->needed, n->input[j])) return fc_fail(err, FC_ENOMEM, "%s: out of memory", b->path);
    for (size_t j = 0; j < n->n_output; j++)
        if (is_head_name(n->output[j]))
            return fc_fail(err, FC_EUNSUPPORTED, "%s: backbone tensor '%s' clashes with the head's names "
                           "(\"head/...\", \"probabilities\")", b->path, n->output[j]);
    return 0;
}

/* Walks back from the feature tensor: keeps every node whose output is needed, last node first. */
static int prune(backbone *b, const char *feature, fc_error *err) {
    const Onnx__GraphProto *g = b->m->graph;
    b->keep = calloc(g->n_node + 1, 1);
    if (!b->keep || set_add(&b->needed, feature)) return fc_fail(err, FC_ENOMEM, "%s: out of memory", b->path);
    int produced = 0, rc;
    for (size_t i = g->n_node; i-- > 0;) {
        const Onnx__NodeProto *n = g->node[i];
        int want = 0;
        for (size_t j = 0; j < n->n_output && !want; j++)
            if (n->output[j] && set_has(&b->needed, n->output[j])) want = 1;
        if (!want) continue;
        for (size_t j = 0; j < n->n_output; j++)
            if (n->output[j] && !strcmp(n->output[j], feature)) produced = 1;
        if ((rc = keep_node(b, i, err))) return rc;
    }
    if (!produced)
        return fc_fail(err, FC_EINVAL, "%s: no node produces a tensor named '%s' (the feature tensor)", b->path,
                       feature);
    for (size_t i = 0; i < b->needed.n; i++)
        if (is_head_name(b->needed.s[i]))
            return fc_fail(err, FC_EUNSUPPORTED, "%s: backbone tensor '%s' clashes with the head's names",
                           b->path, b->needed.s[i]);
    return 0;
}

/* Width of the feature tensor as featcache's engine computes it (count / N for batch 1), or 0 when
 * the engine cannot run this backbone (then ONNX Runtime is the only judge). */
static long long feature_width(const backbone *b, const char *feature) {
    const char *outs[1] = {feature};
    fc_model_options mo = {.outputs = outs, .n_outputs = 1};
    fc_model *model = NULL;
    fc_session *s = NULL;
    long long w = 0;
    fc_session_options so = {.batch = 1, .threads = 1};
    if (fc_model_load_file_bytes(b->path, b->data, b->size, &mo, &model, NULL) == 0 &&
        fc_session_create(model, &so, &s, NULL) == 0) {
        const fc_tensor *t = fc_session_output(s, 0);
        if (t && t->rank >= 1 && t->dims[0] == 1) w = (long long)fc_tensor_count(t);
    }
    fc_session_free(s);
    fc_model_free(model);
    return w;
}

/* The merged graph: the kept backbone nodes, Flatten(axis 1) of the feature tensor to
 * "head/features", the head's nodes; the initializers, inputs and value infos the kept nodes use.
 * Its arrays come from pool; the messages are the backbone's and the head's. */
static int merged_graph(const backbone *b, const char *feature, fc_head_onnx_parts *parts,
                        fc_onnx_pool *pool, Onnx__GraphProto *graph) {
    const Onnx__GraphProto *g = b->m->graph;
    Onnx__NodeProto **nodes = fc_onnx_pool_alloc(pool, (b->n_keep + 1 + parts->n_nodes) * sizeof *nodes);
    Onnx__TensorProto **init = fc_onnx_pool_alloc(pool, (g->n_initializer + parts->n_inits + 1) * sizeof *init);
    Onnx__ValueInfoProto **inputs = fc_onnx_pool_alloc(pool, (g->n_input + 1) * sizeof *inputs);
    Onnx__ValueInfoProto **vinfo = fc_onnx_pool_alloc(pool, (g->n_value_info + 1) * sizeof *vinfo);
    Onnx__NodeProto *flatten = fc_onnx_node(pool, "Flatten", "head/flatten", 1, &feature, "head/features");
    if (!nodes || !init || !inputs || !vinfo || !fc_onnx_attr_int(pool, flatten, "axis", 1)) return -1;
    onnx__graph_proto__init(graph);
    for (size_t i = 0; i < g->n_node; i++)
        if (b->keep[i]) nodes[graph->n_node++] = g->node[i];
    nodes[graph->n_node++] = flatten;
    for (size_t i = 0; i < parts->n_nodes; i++) nodes[graph->n_node++] = parts->nodes[i];
    for (size_t i = 0; i < g->n_initializer; i++)
        if (set_has(&b->needed, g->initializer[i]->name)) init[graph->n_initializer++] = g->initializer[i];
    for (size_t i = 0; i < parts->n_inits; i++) init[graph->n_initializer++] = parts->inits[i];
    for (size_t i = 0; i < g->n_input; i++) /* the data input, and initializers listed as inputs (IR < 4) */
        if (g->input[i] == b->data_input || set_has(&b->needed, g->input[i]->name))
            inputs[graph->n_input++] = g->input[i];
    for (size_t i = 0; i < g->n_value_info; i++)
        if (g->value_info[i]->name && set_has(&b->needed, g->value_info[i]->name))
            vinfo[graph->n_value_info++] = g->value_info[i];
    graph->name = g->name && *g->name ? g->name : "featcache_classifier";
    graph->doc_string = g->doc_string;
    graph->node = nodes;
    graph->initializer = init;
    graph->input = inputs;
    graph->n_output = 1;
    graph->output = &parts->output;
    graph->value_info = vinfo;
    return 0;
}

/* The merged model: the backbone's versions, opsets, functions and metadata (without its
 * featcache.* entries, which the head's and "featcache.feature_tensor" replace) around graph. */
static int merged_model(const Onnx__ModelProto *m, const char *feature, const fc_head_onnx_parts *parts,
                        Onnx__GraphProto *graph, fc_onnx_pool *pool, Onnx__ModelProto *model) {
    Onnx__StringStringEntryProto **props =
        fc_onnx_pool_alloc(pool, (m->n_metadata_props + parts->n_meta + 1) * sizeof *props);
    Onnx__StringStringEntryProto *feature_prop = fc_onnx_meta(pool, "featcache.feature_tensor", feature);
    if (!props || !feature_prop) return -1;
    onnx__model_proto__init(model);
    for (size_t i = 0; i < m->n_metadata_props; i++) {
        const char *k = m->metadata_props[i]->key;
        if (k && !strncmp(k, "featcache.", 10)) continue; /* replaced by the head's */
        props[model->n_metadata_props++] = m->metadata_props[i];
    }
    for (size_t i = 0; i < parts->n_meta; i++) props[model->n_metadata_props++] = parts->meta[i];
    props[model->n_metadata_props++] = feature_prop;
    model->has_ir_version = m->has_ir_version;
    model->ir_version = m->ir_version;
    model->n_opset_import = m->n_opset_import;
    model->opset_import = m->opset_import;
    model->producer_name = "featcache";
    model->domain = m->domain;
    model->has_model_version = m->has_model_version;
    model->model_version = m->model_version;
    model->doc_string = m->doc_string;
    model->graph = graph;
    model->metadata_props = props;
    model->n_functions = m->n_functions;
    model->functions = m->functions;
    return 0;
}

/* The head (read from head_path) as parts for the backbone's opset, then the merged model written
 * to out_path. */
static int write_merged(const backbone *b, const char *feature, const fc_head *head, const char *head_path,
                        const char *meta, const char *out_path, fc_error *err) {
    fc_onnx_pool pool = {0};
    fc_head_onnx_parts parts;
    Onnx__GraphProto graph;
    Onnx__ModelProto model;
    int rc = fc_head_onnx_build(head, "head/features", b->opset, meta, &pool, &parts, err);
    if (rc) fc_error_prefix(err, "%s: ", head_path);
    else if (merged_graph(b, feature, &parts, &pool, &graph) ||
             merged_model(b->m, feature, &parts, &graph, &pool, &model))
        rc = fc_fail(err, FC_ENOMEM, "%s: out of memory", out_path);
    else
        rc = fc_onnx_write(&model, out_path, err);
    fc_onnx_pool_free(&pool);
    return rc;
}

int fc_onnx_merge_classifier(const char *backbone_path, const char *feature_tensor,
                             const char *head_path, const char *out_path, fc_error *err) {
    return fc_onnx_merge_classifier_checked(backbone_path, NULL, feature_tensor, head_path, out_path, err);
}

int fc_onnx_merge_classifier_checked(const char *backbone_path, const char *backbone_sha256,
                                     const char *feature_tensor, const char *head_path, const char *out_path,
                                     fc_error *err) {
    if (!backbone_path || !feature_tensor || !*feature_tensor || !head_path || !out_path)
        return fc_fail(err, FC_EINVAL, "export-onnx: NULL or empty argument");
    fc_head head = {0};
    char *meta = NULL;
    backbone b = {.path = backbone_path, .sha256 = backbone_sha256};
    int rc = fc_head_load_onnx(head_path, &head, &meta, err);
    if (rc || (rc = read_backbone(&b, err)) || (rc = find_data_input(&b, err)) || (rc = check_bytes(&b, err)) ||
        (rc = prune(&b, feature_tensor, err)))
        goto done;
    long long width = feature_width(&b, feature_tensor);
    if (width > 0 && width != head.layers[0].in) {
        rc = fc_fail(err, FC_ESHAPE, "%s: feature tensor '%s' has %lld values per image, the head %s "
                     "takes %d", backbone_path, feature_tensor, width, head_path, head.layers[0].in);
        goto done;
    }
    rc = write_merged(&b, feature_tensor, &head, head_path, meta, out_path, err);
done:
    backbone_free(&b);
    fc_head_free(&head);
    free(meta);
    return rc;
}

/* ---- a bottom and a top ---- */

/* The top model: its one data input must be named tensor; its names must not clash with the kept
 * bottom's. */
static int check_top(const backbone *b, const backbone *t, const char *tensor, fc_error *err) {
    const Onnx__GraphProto *g = t->m->graph;
    if (strcmp(t->data_input->name, tensor))
        return fc_fail(err, FC_EINVAL, "%s: its input is '%s', not '%s' (the tensor it is stitched to)", t->path,
                       t->data_input->name, tensor);
    for (size_t i = 0; i < g->n_initializer; i++)
        if (set_has(&b->needed, g->initializer[i]->name))
            return fc_fail(err, FC_EUNSUPPORTED, "%s: initializer '%s' clashes with a tensor of %s", t->path,
                           g->initializer[i]->name, b->path);
    for (size_t i = 0; i < g->n_node; i++)
        for (size_t j = 0; j < g->node[i]->n_output; j++)
            if (set_has(&b->needed, g->node[i]->output[j]))
                return fc_fail(err, FC_EUNSUPPORTED, "%s: tensor '%s' clashes with a tensor of %s", t->path,
                               g->node[i]->output[j], b->path);
    return 0;
}

/* Appends the pointers of src[0..n) to dst at *at. */
static void append(void **dst, size_t *at, void *const *src, size_t n) {
    for (size_t i = 0; i < n; i++) dst[(*at)++] = src[i];
}

/* The bottom's data input (N, C, H, W) declared with height x width instead. */
static Onnx__ValueInfoProto *resized_input(const backbone *b, int height, int width, fc_onnx_pool *pool) {
    const Onnx__ValueInfoProto *in = b->data_input;
    const Onnx__TypeProto__Tensor *tt = in->type && in->type->tensor_type ? in->type->tensor_type : NULL;
    if (!tt || !tt->shape || tt->shape->n_dim != 4) return (Onnx__ValueInfoProto *)in; /* nothing to resize */
    int64_t dims[4] = {0, 0, height, width};
    const Onnx__TensorShapeProto__Dimension *c = tt->shape->dim[1];
    if (c->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE) dims[1] = c->dim_value;
    return fc_onnx_value_info(pool, in->name, 4, dims);
}

/* The kept bottom's nodes, initializers, inputs and value infos, then all of the top's (except its
 * data input, which the bottom computes); the top's outputs. */
static int stitched_graph(const backbone *b, const backbone *t, int height, int width, fc_onnx_pool *pool,
                          Onnx__GraphProto *graph) {
    const Onnx__GraphProto *g = b->m->graph, *h = t->m->graph;
    void **nodes = fc_onnx_pool_alloc(pool, (b->n_keep + h->n_node + 1) * sizeof *nodes);
    void **init = fc_onnx_pool_alloc(pool, (g->n_initializer + h->n_initializer + 1) * sizeof *init);
    void **inputs = fc_onnx_pool_alloc(pool, (g->n_input + h->n_input + 1) * sizeof *inputs);
    void **vinfo = fc_onnx_pool_alloc(pool, (g->n_value_info + h->n_value_info + 1) * sizeof *vinfo);
    if (!nodes || !init || !inputs || !vinfo) return -1;
    onnx__graph_proto__init(graph);
    for (size_t i = 0; i < g->n_node; i++)
        if (b->keep[i]) nodes[graph->n_node++] = g->node[i];
    append(nodes, &graph->n_node, (void *const *)h->node, h->n_node);
    for (size_t i = 0; i < g->n_initializer; i++)
        if (set_has(&b->needed, g->initializer[i]->name)) init[graph->n_initializer++] = g->initializer[i];
    append(init, &graph->n_initializer, (void *const *)h->initializer, h->n_initializer);
    Onnx__ValueInfoProto *data_in = height > 0 && width > 0 ? resized_input(b, height, width, pool)
                                                            : (Onnx__ValueInfoProto *)b->data_input;
    if (!data_in) return -1;
    for (size_t i = 0; i < g->n_input; i++)
        if (g->input[i] == b->data_input) inputs[graph->n_input++] = data_in;
        else if (set_has(&b->needed, g->input[i]->name)) inputs[graph->n_input++] = g->input[i];
    for (size_t i = 0; i < h->n_input; i++)
        if (h->input[i] != t->data_input) inputs[graph->n_input++] = h->input[i];
    for (size_t i = 0; i < g->n_value_info; i++)
        if (g->value_info[i]->name && set_has(&b->needed, g->value_info[i]->name)) vinfo[graph->n_value_info++] = g->value_info[i];
    append(vinfo, &graph->n_value_info, (void *const *)h->value_info, h->n_value_info);
    graph->name = g->name && *g->name ? g->name : "featcache_classifier";
    graph->doc_string = g->doc_string;
    graph->node = (Onnx__NodeProto **)nodes;
    graph->initializer = (Onnx__TensorProto **)init;
    graph->input = (Onnx__ValueInfoProto **)inputs;
    graph->value_info = (Onnx__ValueInfoProto **)vinfo;
    graph->n_output = h->n_output;
    graph->output = h->output;
    return 0;
}

/* The bottom's model fields and its metadata without featcache.* entries, then the top's metadata. */
static int stitched_model(const backbone *b, const backbone *t, Onnx__GraphProto *graph, fc_onnx_pool *pool,
                          Onnx__ModelProto *model) {
    const Onnx__ModelProto *m = b->m;
    Onnx__StringStringEntryProto **props =
        fc_onnx_pool_alloc(pool, (m->n_metadata_props + t->m->n_metadata_props + 1) * sizeof *props);
    if (!props) return -1;
    *model = *m;
    model->n_metadata_props = 0;
    for (size_t i = 0; i < m->n_metadata_props; i++)
        if (!m->metadata_props[i]->key || strncmp(m->metadata_props[i]->key, "featcache.", 10))
            props[model->n_metadata_props++] = m->metadata_props[i];
    append((void **)props, &model->n_metadata_props, (void *const *)t->m->metadata_props, t->m->n_metadata_props);
    model->metadata_props = props;
    model->producer_name = "featcache";
    model->graph = graph;
    return 0;
}

int fc_onnx_merge_top(const char *bottom_path, const char *tensor, const char *top_path, int height, int width,
                      const char *out_path, fc_error *err) {
    return fc_onnx_merge_top_checked(bottom_path, NULL, tensor, top_path, height, width, out_path, err);
}

int fc_onnx_merge_top_checked(const char *bottom_path, const char *bottom_sha256, const char *tensor,
                              const char *top_path, int height, int width, const char *out_path, fc_error *err) {
    if (!bottom_path || !tensor || !*tensor || !top_path || !out_path)
        return fc_fail(err, FC_EINVAL, "merge: NULL or empty argument");
    backbone b = {.path = bottom_path, .sha256 = bottom_sha256}, t = {.path = top_path};
    fc_onnx_pool pool = {0};
    Onnx__GraphProto graph;
    Onnx__ModelProto model;
    int rc;
    if ((rc = read_backbone(&b, err)) || (rc = find_data_input(&b, err)) || (rc = check_bytes(&b, err)) ||
        (rc = prune(&b, tensor, err)) ||
        (rc = read_backbone(&t, err)) || (rc = find_data_input(&t, err)) || (rc = check_top(&b, &t, tensor, err)))
        goto done;
    for (size_t i = 0; i < t.m->graph->n_node && !rc; i++)
        if (node_has_subgraph(t.m->graph->node[i]))
            rc = fc_fail(err, FC_EUNSUPPORTED, "%s: node '%s' has a subgraph; only plain graphs are merged", top_path,
                         t.m->graph->node[i]->name ? t.m->graph->node[i]->name : "");
    if (rc) goto done;
    if (stitched_graph(&b, &t, height, width, &pool, &graph) || stitched_model(&b, &t, &graph, &pool, &model))
        rc = fc_fail(err, FC_ENOMEM, "%s: out of memory", out_path);
    else
        rc = fc_onnx_write(&model, out_path, err);
done:
    fc_onnx_pool_free(&pool);
    backbone_free(&b);
    backbone_free(&t);
    return rc;
}
