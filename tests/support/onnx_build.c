/* Implementation of the test model builder (see onnx_build.h). Every allocation of a model is
 * recorded in the model (a simple arena) and freed by ob_write, so LeakSanitizer stays quiet.
 * Allocation failures abort: this is test support, not library code. */
#include "tests/support/onnx_build.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx/onnx.pb-c.h"

#define MAXN 64

struct ob_model {
    Onnx__ModelProto model;
    Onnx__GraphProto graph;
    Onnx__OperatorSetIdProto opset, *opsets[1];
    Onnx__NodeProto *nodes[MAXN];
    Onnx__TensorProto *inits[MAXN];
    Onnx__ValueInfoProto *inputs[4], *outputs[8];
    void **allocs; /* everything below the model, freed by ob_write */
    size_t n_allocs, cap_allocs;
};

static void *keep(ob_model *m, void *p) {
    if (!p) abort();
    if (m->n_allocs == m->cap_allocs) {
        m->cap_allocs = m->cap_allocs ? 2 * m->cap_allocs : 64;
        m->allocs = realloc(m->allocs, m->cap_allocs * sizeof *m->allocs);
        if (!m->allocs) abort();
    }
    return m->allocs[m->n_allocs++] = p;
}

static void *zalloc(ob_model *m, size_t n, size_t size) { return keep(m, calloc(n, size)); }
static char *dup(ob_model *m, const char *s) { return keep(m, strdup(s)); }

ob_model *ob_new(int opset) {
    ob_model *m = calloc(1, sizeof *m);
    onnx__model_proto__init(&m->model);
    onnx__graph_proto__init(&m->graph);
    onnx__operator_set_id_proto__init(&m->opset);
    m->opset.domain = "";
    m->opset.has_version = 1;
    m->opset.version = opset;
    m->opsets[0] = &m->opset;
    m->model.has_ir_version = 1;
    m->model.ir_version = 8;
    m->model.n_opset_import = 1;
    m->model.opset_import = m->opsets;
    m->model.graph = &m->graph;
    m->graph.name = "test";
    m->graph.node = m->nodes;
    m->graph.initializer = m->inits;
    m->graph.input = m->inputs;
    m->graph.output = m->outputs;
    return m;
}

static Onnx__ValueInfoProto *value_info(ob_model *m, const char *name, int rank, const int64_t *dims) {
    Onnx__ValueInfoProto *vi = zalloc(m, 1, sizeof *vi);
    onnx__value_info_proto__init(vi);
    vi->name = dup(m, name);
    Onnx__TypeProto *tp = zalloc(m, 1, sizeof *tp);
    onnx__type_proto__init(tp);
    Onnx__TypeProto__Tensor *tt = zalloc(m, 1, sizeof *tt);
    onnx__type_proto__tensor__init(tt);
    tt->has_elem_type = 1;
    tt->elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    if (rank > 0) {
        Onnx__TensorShapeProto *sp = zalloc(m, 1, sizeof *sp);
        onnx__tensor_shape_proto__init(sp);
        sp->n_dim = (size_t)rank;
        sp->dim = zalloc(m, (size_t)rank, sizeof *sp->dim);
        for (int i = 0; i < rank; i++) {
            Onnx__TensorShapeProto__Dimension *d = zalloc(m, 1, sizeof *d);
            onnx__tensor_shape_proto__dimension__init(d);
            if (dims[i] > 0) {
                d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
                d->dim_value = dims[i];
            } else {
                d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
                d->dim_param = "N";
            }
            sp->dim[i] = d;
        }
        tt->shape = sp;
    }
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    vi->type = tp;
    return vi;
}

void ob_input(ob_model *m, const char *name, int64_t n, int64_t c, int64_t h, int64_t w) {
    int64_t d[4] = {n, c, h, w};
    m->inputs[m->graph.n_input++] = value_info(m, name, 4, d);
}

void ob_input_shape(ob_model *m, const char *name, int rank, const int64_t *dims) {
    m->inputs[m->graph.n_input++] = value_info(m, name, rank, dims);
}

void ob_output(ob_model *m, const char *name) { m->outputs[m->graph.n_output++] = value_info(m, name, 0, NULL); }

static Onnx__TensorProto *tensor(ob_model *m, const char *name, int rank, const int64_t *dims, int dtype) {
    Onnx__TensorProto *t = zalloc(m, 1, sizeof *t);
    onnx__tensor_proto__init(t);
    t->name = dup(m, name);
    t->has_data_type = 1;
    t->data_type = dtype;
    t->n_dims = (size_t)rank;
    t->dims = zalloc(m, (size_t)rank + 1, sizeof(int64_t));
    memcpy(t->dims, dims, (size_t)rank * sizeof(int64_t));
    return t;
}

void ob_init(ob_model *m, const char *name, int rank, const int64_t *dims, const float *data) {
    Onnx__TensorProto *t = tensor(m, name, rank, dims, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT);
    int64_t count = 1; /* raw data only for sane sizes: absurd dims are the point of some tests */
    for (int i = 0; i < rank && count >= 0; i++)
        count = dims[i] < 0 || (dims[i] > 0 && count > (1LL << 26) / dims[i]) ? -1 : count * dims[i];
    if (count >= 0 && count < (1 << 26)) {
        t->has_raw_data = 1;
        t->raw_data.len = (size_t)count * 4;
        t->raw_data.data = zalloc(m, (size_t)count + 1, 4);
        if (data) memcpy(t->raw_data.data, data, (size_t)count * 4);
    }
    m->inits[m->graph.n_initializer++] = t;
}

void ob_init_i64(ob_model *m, const char *name, int n, const int64_t *data) {
    int64_t d[1] = {n};
    Onnx__TensorProto *t = tensor(m, name, 1, d, ONNX__TENSOR_PROTO__DATA_TYPE__INT64);
    t->n_int64_data = (size_t)n;
    t->int64_data = zalloc(m, (size_t)n + 1, sizeof(int64_t));
    memcpy(t->int64_data, data, (size_t)n * sizeof(int64_t));
    m->inits[m->graph.n_initializer++] = t;
}

static Onnx__StringStringEntryProto *entry(ob_model *m, const char *k, const char *v) {
    Onnx__StringStringEntryProto *e = zalloc(m, 1, sizeof *e);
    onnx__string_string_entry_proto__init(e);
    e->key = dup(m, k);
    e->value = dup(m, v);
    return e;
}

void ob_init_external(ob_model *m, const char *name, int rank, const int64_t *dims, const char *location,
                      long long offset, long long length) {
    Onnx__TensorProto *t = tensor(m, name, rank, dims, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT);
    char buf[32];
    t->has_data_location = 1;
    t->data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
    t->n_external_data = 3;
    t->external_data = zalloc(m, 3, sizeof *t->external_data);
    t->external_data[0] = entry(m, "location", location);
    snprintf(buf, sizeof buf, "%lld", offset);
    t->external_data[1] = entry(m, "offset", buf);
    snprintf(buf, sizeof buf, "%lld", length);
    t->external_data[2] = entry(m, "length", buf);
    m->inits[m->graph.n_initializer++] = t;
}

static char **split(ob_model *m, const char *s, size_t *n) {
    char **v = zalloc(m, 16, sizeof *v);
    *n = 0;
    if (!*s) return v;
    char *copy = strdup(s), *p = copy;
    for (;;) {
        char *c = strchr(p, ',');
        if (c) *c = 0;
        v[(*n)++] = dup(m, p);
        if (!c) break;
        p = c + 1;
    }
    free(copy);
    return v;
}

int ob_node(ob_model *m, const char *op, const char *name, const char *inputs, const char *outputs) {
    Onnx__NodeProto *n = zalloc(m, 1, sizeof *n);
    onnx__node_proto__init(n);
    n->op_type = dup(m, op);
    n->name = dup(m, name);
    n->input = split(m, inputs, &n->n_input);
    n->output = split(m, outputs, &n->n_output);
    n->attribute = zalloc(m, 16, sizeof *n->attribute);
    m->nodes[m->graph.n_node] = n;
    return (int)m->graph.n_node++;
}

static Onnx__AttributeProto *attr(ob_model *m, int node, const char *name) {
    Onnx__AttributeProto *a = zalloc(m, 1, sizeof *a);
    onnx__attribute_proto__init(a);
    a->name = dup(m, name);
    a->has_type = 1;
    Onnx__NodeProto *n = m->nodes[node];
    n->attribute[n->n_attribute++] = a;
    return a;
}

void ob_attr_int(ob_model *m, int node, const char *name, int64_t v) {
    Onnx__AttributeProto *a = attr(m, node, name);
    a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
    a->has_i = 1;
    a->i = v;
}

void ob_attr_float(ob_model *m, int node, const char *name, float v) {
    Onnx__AttributeProto *a = attr(m, node, name);
    a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT;
    a->has_f = 1;
    a->f = v;
}

void ob_attr_ints(ob_model *m, int node, const char *name, int n, const int64_t *v) {
    Onnx__AttributeProto *a = attr(m, node, name);
    a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
    a->n_ints = (size_t)n;
    a->ints = zalloc(m, (size_t)n + 1, sizeof(int64_t));
    memcpy(a->ints, v, (size_t)n * sizeof(int64_t));
}

int ob_write(ob_model *m, const char *path) {
    size_t len = onnx__model_proto__get_packed_size(&m->model);
    uint8_t *buf = malloc(len + 1);
    onnx__model_proto__pack(&m->model, buf);
    FILE *f = fopen(path, "wb");
    int rc = !f || fwrite(buf, 1, len, f) != len;
    if (f) fclose(f);
    free(buf);
    for (size_t i = 0; i < m->n_allocs; i++) free(m->allocs[i]);
    free(m->allocs);
    free(m);
    return rc ? -1 : 0;
}
