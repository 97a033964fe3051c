/* Implementation of the test model builder (see onnx_build.h). Memory is simply leaked per model
 * except the top-level arrays freed in ob_write: tests build a handful of tiny models. */
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
};

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

static Onnx__ValueInfoProto *value_info(const char *name, int rank, const int64_t *dims) {
    Onnx__ValueInfoProto *vi = calloc(1, sizeof *vi);
    onnx__value_info_proto__init(vi);
    vi->name = strdup(name);
    Onnx__TypeProto *tp = calloc(1, sizeof *tp);
    onnx__type_proto__init(tp);
    Onnx__TypeProto__Tensor *tt = calloc(1, sizeof *tt);
    onnx__type_proto__tensor__init(tt);
    tt->has_elem_type = 1;
    tt->elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    if (rank > 0) {
        Onnx__TensorShapeProto *sp = calloc(1, sizeof *sp);
        onnx__tensor_shape_proto__init(sp);
        sp->n_dim = (size_t)rank;
        sp->dim = calloc((size_t)rank, sizeof *sp->dim);
        for (int i = 0; i < rank; i++) {
            Onnx__TensorShapeProto__Dimension *d = calloc(1, sizeof *d);
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
    m->inputs[m->graph.n_input++] = value_info(name, 4, d);
}

void ob_output(ob_model *m, const char *name) { m->outputs[m->graph.n_output++] = value_info(name, 0, NULL); }

static Onnx__TensorProto *tensor(const char *name, int rank, const int64_t *dims, int dtype) {
    Onnx__TensorProto *t = calloc(1, sizeof *t);
    onnx__tensor_proto__init(t);
    t->name = strdup(name);
    t->has_data_type = 1;
    t->data_type = dtype;
    t->n_dims = (size_t)rank;
    t->dims = calloc((size_t)rank + 1, sizeof(int64_t));
    memcpy(t->dims, dims, (size_t)rank * sizeof(int64_t));
    return t;
}

void ob_init(ob_model *m, const char *name, int rank, const int64_t *dims, const float *data) {
    Onnx__TensorProto *t = tensor(name, rank, dims, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT);
    int64_t count = 1; /* raw data only for sane sizes: absurd dims are the point of some tests */
    for (int i = 0; i < rank && count >= 0; i++)
        count = dims[i] < 0 || (dims[i] > 0 && count > (1LL << 26) / dims[i]) ? -1 : count * dims[i];
    if (count >= 0 && count < (1 << 26)) {
        t->has_raw_data = 1;
        t->raw_data.len = (size_t)count * 4;
        t->raw_data.data = calloc((size_t)count + 1, 4);
        if (data) memcpy(t->raw_data.data, data, (size_t)count * 4);
    }
    m->inits[m->graph.n_initializer++] = t;
}

void ob_init_i64(ob_model *m, const char *name, int n, const int64_t *data) {
    int64_t d[1] = {n};
    Onnx__TensorProto *t = tensor(name, 1, d, ONNX__TENSOR_PROTO__DATA_TYPE__INT64);
    t->n_int64_data = (size_t)n;
    t->int64_data = calloc((size_t)n + 1, sizeof(int64_t));
    memcpy(t->int64_data, data, (size_t)n * sizeof(int64_t));
    m->inits[m->graph.n_initializer++] = t;
}

static Onnx__StringStringEntryProto *entry(const char *k, const char *v) {
    Onnx__StringStringEntryProto *e = calloc(1, sizeof *e);
    onnx__string_string_entry_proto__init(e);
    e->key = strdup(k);
    e->value = strdup(v);
    return e;
}

void ob_init_external(ob_model *m, const char *name, int rank, const int64_t *dims, const char *location,
                      long long offset, long long length) {
    Onnx__TensorProto *t = tensor(name, rank, dims, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT);
    char buf[32];
    t->has_data_location = 1;
    t->data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
    t->n_external_data = 3;
    t->external_data = calloc(3, sizeof *t->external_data);
    t->external_data[0] = entry("location", location);
    snprintf(buf, sizeof buf, "%lld", offset);
    t->external_data[1] = entry("offset", buf);
    snprintf(buf, sizeof buf, "%lld", length);
    t->external_data[2] = entry("length", buf);
    m->inits[m->graph.n_initializer++] = t;
}

static char **split(const char *s, size_t *n) {
    char **v = calloc(16, sizeof *v);
    *n = 0;
    if (!*s) return v;
    char *copy = strdup(s), *p = copy;
    for (;;) {
        char *c = strchr(p, ',');
        if (c) *c = 0;
        v[(*n)++] = strdup(p);
        if (!c) break;
        p = c + 1;
    }
    free(copy);
    return v;
}

int ob_node(ob_model *m, const char *op, const char *name, const char *inputs, const char *outputs) {
    Onnx__NodeProto *n = calloc(1, sizeof *n);
    onnx__node_proto__init(n);
    n->op_type = strdup(op);
    n->name = strdup(name);
    n->input = split(inputs, &n->n_input);
    n->output = split(outputs, &n->n_output);
    n->attribute = calloc(16, sizeof *n->attribute);
    m->nodes[m->graph.n_node] = n;
    return (int)m->graph.n_node++;
}

static Onnx__AttributeProto *attr(ob_model *m, int node, const char *name) {
    Onnx__AttributeProto *a = calloc(1, sizeof *a);
    onnx__attribute_proto__init(a);
    a->name = strdup(name);
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
    a->ints = calloc((size_t)n + 1, sizeof(int64_t));
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
    free(m);
    return rc ? -1 : 0;
}
