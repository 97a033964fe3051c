/* Building and writing ONNX models (see onnx_io.h). Every message of a model under construction
 * comes from one pool and is freed with it; strings and tensor data are borrowed from the caller,
 * so building copies no weights. Not here: what the model computes (classify/head_onnx.c builds
 * head graphs, classify/merge_onnx.c joins a backbone and a head). */
#include "engine/onnx/onnx_io.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- pool ---- */

void *fc_onnx_pool_alloc(fc_onnx_pool *p, size_t size) {
    if (p->n == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 64;
        void **q = realloc(p->ptrs, cap * sizeof *q);
        if (!q) return NULL;
        p->ptrs = q;
        p->cap = cap;
    }
    void *m = calloc(1, size ? size : 1);
    if (m) p->ptrs[p->n++] = m;
    return m;
}

char *fc_onnx_pool_printf(fc_onnx_pool *p, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return NULL;
    char *s = fc_onnx_pool_alloc(p, (size_t)n + 1);
    if (!s) return NULL;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

void fc_onnx_pool_free(fc_onnx_pool *p) {
    if (!p) return;
    for (size_t i = 0; i < p->n; i++) free(p->ptrs[i]);
    free(p->ptrs);
    memset(p, 0, sizeof *p);
}

/* ---- builders ---- */

Onnx__NodeProto *fc_onnx_node(fc_onnx_pool *p, const char *op, const char *name, int n_in,
                              const char *const *ins, const char *out) {
    Onnx__NodeProto *n = fc_onnx_pool_alloc(p, sizeof *n);
    char **in = fc_onnx_pool_alloc(p, (size_t)n_in * sizeof *in);
    char **outs = fc_onnx_pool_alloc(p, sizeof *outs);
    if (!n || !in || !outs) return NULL;
    onnx__node_proto__init(n);
    n->op_type = (char *)op;
    n->name = (char *)name;
    n->domain = "";
    n->n_input = (size_t)n_in;
    n->input = in;
    for (int i = 0; i < n_in; i++) in[i] = (char *)ins[i];
    n->n_output = 1;
    n->output = outs;
    outs[0] = (char *)out;
    return n;
}

/* Appends a new attribute of the given type to n (the attribute array is copied one longer). */
static Onnx__AttributeProto *add_attr(fc_onnx_pool *p, Onnx__NodeProto *n, const char *name,
                                      Onnx__AttributeProto__AttributeType type) {
    if (!n) return NULL;
    Onnx__AttributeProto *a = fc_onnx_pool_alloc(p, sizeof *a);
    Onnx__AttributeProto **arr = fc_onnx_pool_alloc(p, (n->n_attribute + 1) * sizeof *arr);
    if (!a || !arr) return NULL;
    onnx__attribute_proto__init(a);
    a->name = (char *)name;
    a->has_type = 1;
    a->type = type;
    for (size_t i = 0; i < n->n_attribute; i++) arr[i] = n->attribute[i];
    arr[n->n_attribute++] = a;
    n->attribute = arr;
    return a;
}

Onnx__AttributeProto *fc_onnx_attr_int(fc_onnx_pool *p, Onnx__NodeProto *n, const char *name, int64_t v) {
    Onnx__AttributeProto *a = add_attr(p, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
    if (a) { a->has_i = 1; a->i = v; }
    return a;
}

Onnx__AttributeProto *fc_onnx_attr_ints(fc_onnx_pool *p, Onnx__NodeProto *n, const char *name,
                                        const int64_t *vals, size_t count) {
    int64_t *copy = fc_onnx_pool_alloc(p, count * sizeof *copy);
    Onnx__AttributeProto *a = copy ? add_attr(p, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS) : NULL;
    if (!a) return NULL;
    if (count) memcpy(copy, vals, count * sizeof *copy);
    a->n_ints = count;
    a->ints = copy;
    return a;
}

Onnx__TensorProto *fc_onnx_tensor_raw(fc_onnx_pool *p, const char *name, int dtype, int rank,
                                      const int64_t *dims, const void *data, size_t bytes) {
    Onnx__TensorProto *t = fc_onnx_pool_alloc(p, sizeof *t);
    int64_t *d = fc_onnx_pool_alloc(p, (size_t)rank * sizeof *d);
    if (!t || !d) return NULL;
    onnx__tensor_proto__init(t);
    t->name = (char *)name;
    t->has_data_type = 1;
    t->data_type = dtype;
    for (int i = 0; i < rank; i++) d[i] = dims[i];
    t->n_dims = (size_t)rank;
    t->dims = d;
    t->has_raw_data = 1;
    t->raw_data.len = bytes;
    t->raw_data.data = (uint8_t *)data;
    return t;
}

Onnx__StringStringEntryProto *fc_onnx_meta(fc_onnx_pool *p, const char *key, const char *value) {
    Onnx__StringStringEntryProto *e = value ? fc_onnx_pool_alloc(p, sizeof *e) : NULL;
    if (!e) return NULL;
    onnx__string_string_entry_proto__init(e);
    e->key = (char *)key;
    e->value = (char *)value;
    return e;
}

int fc_onnx_model_init(fc_onnx_pool *p, Onnx__ModelProto *m, Onnx__GraphProto *g, int opset, int ir_version) {
    Onnx__OperatorSetIdProto *o = fc_onnx_pool_alloc(p, sizeof *o), **os = fc_onnx_pool_alloc(p, sizeof *os);
    if (!o || !os) return -1;
    onnx__model_proto__init(m);
    onnx__graph_proto__init(g);
    onnx__operator_set_id_proto__init(o);
    o->domain = "";
    o->has_version = 1;
    o->version = opset;
    os[0] = o;
    m->has_ir_version = 1;
    m->ir_version = ir_version;
    m->n_opset_import = 1;
    m->opset_import = os;
    m->producer_name = "featcache";
    m->graph = g;
    return 0;
}

Onnx__ValueInfoProto *fc_onnx_value_info(fc_onnx_pool *p, const char *name, int rank, const int64_t *dims) {
    Onnx__ValueInfoProto *vi = fc_onnx_pool_alloc(p, sizeof *vi);
    Onnx__TypeProto *tp = fc_onnx_pool_alloc(p, sizeof *tp);
    Onnx__TypeProto__Tensor *tt = fc_onnx_pool_alloc(p, sizeof *tt);
    Onnx__TensorShapeProto *sp = fc_onnx_pool_alloc(p, sizeof *sp);
    Onnx__TensorShapeProto__Dimension **dv = fc_onnx_pool_alloc(p, (size_t)(rank > 0 ? rank : 1) * sizeof *dv);
    if (!vi || !tp || !tt || !sp || !dv) return NULL;
    onnx__value_info_proto__init(vi);
    onnx__type_proto__init(tp);
    onnx__type_proto__tensor__init(tt);
    onnx__tensor_shape_proto__init(sp);
    for (int i = 0; i < rank; i++) {
        Onnx__TensorShapeProto__Dimension *d = fc_onnx_pool_alloc(p, sizeof *d);
        if (!d) return NULL;
        onnx__tensor_shape_proto__dimension__init(d);
        if (dims[i] > 0) {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            d->dim_value = dims[i];
        } else {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            d->dim_param = "N";
        }
        dv[i] = d;
    }
    sp->n_dim = (size_t)rank;
    sp->dim = dv;
    tt->has_elem_type = 1;
    tt->elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    tt->shape = sp;
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    vi->name = (char *)name;
    vi->type = tp;
    return vi;
}

Onnx__ValueInfoProto *fc_onnx_value_info_2d(fc_onnx_pool *p, const char *name, int64_t d) {
    const int64_t dims[2] = {0, d};
    return fc_onnx_value_info(p, name, 2, dims);
}

/* ---- writing ---- */

int fc_onnx_pack(const Onnx__ModelProto *m, const char *name, void **data, size_t *size, fc_error *err) {
    *data = NULL;
    *size = onnx__model_proto__get_packed_size(m);
    if (*size > (size_t)FC_ONNX_MAX_BYTES)
        return fc_fail(err, FC_ELIMIT, "%s: the model would be %zu bytes (protobuf limit 2 GiB)", name, *size);
    unsigned char *buf = malloc(*size ? *size : 1);
    if (!buf) return fc_fail(err, FC_ENOMEM, "%s: out of memory (%zu bytes)", name, *size);
    onnx__model_proto__pack(m, buf);
    *data = buf;
    return 0;
}

int fc_onnx_write(const Onnx__ModelProto *m, const char *path, fc_error *err) {
    void *buf;
    size_t size;
    int rc = fc_onnx_pack(m, path, &buf, &size, err);
    if (!rc) rc = fc_file_write_atomic(path, buf, size, err);
    free(buf);
    return rc;
}
