/* fc_head <-> ONNX head file (see head_onnx.h). The writer assembles protobuf-c messages whose
 * pieces all live in one allocation pool and whose float data points straight into the head; the
 * reader walks the node list in the exact order the writer emits it and refuses everything else,
 * so a hand-edited or foreign model is reported as "not a featcache head file" rather than guessed.
 * Reading and writing the protobuf itself is engine/onnx/onnx_io.h's.
 * Not here: general ONNX import (engine/onnx/onnx_import.c), the backbone merge (merge_onnx.c). */
#include "classify/head_onnx.h"
#include "core/core.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"

#define HEAD_OPSET 13
#define HEAD_IR_VERSION 8
#define FORMAT_KEY "featcache.format"
#define CLASSES_KEY "featcache.classes"
#define META_KEY "featcache.head"
#define FORMAT_VERSION 1

/* ---- JSON strings ---- */

/* Appends s as a JSON string literal to buf (grown from the heap). Returns 0 or -1 (no memory). */
static int json_append_string(char **buf, size_t *len, size_t *cap, const char *s) {
    size_t need = *len + 6 * strlen(s) + 3;
    if (need > *cap) {
        size_t c = need * 2;
        char *b = realloc(*buf, c);
        if (!b) return -1;
        *buf = b;
        *cap = c;
    }
    char *o = *buf + *len;
    *o++ = '"';
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') { *o++ = '\\'; *o++ = (char)*p; }
        else if (*p < 0x20) o += sprintf(o, "\\u%04x", *p);
        else *o++ = (char)*p;
    }
    *o++ = '"';
    *o = 0;
    *len = (size_t)(o - *buf);
    return 0;
}

/* JSON array of the class names, pool-allocated; NULL when out of memory. */
static char *classes_json(const fc_head *h, fc_onnx_pool *pool) {
    size_t len = 0, cap = 64;
    char *buf = malloc(cap);
    if (!buf) return NULL;
    buf[len++] = '[';
    buf[len] = 0;
    for (int k = 0; k < h->n_classes; k++) {
        if (k) { buf[len++] = ','; buf[len] = 0; }
        if (json_append_string(&buf, &len, &cap, h->class_names[k])) { free(buf); return NULL; }
    }
    char *out = fc_onnx_pool_alloc(pool, len + 2);
    if (out) { memcpy(out, buf, len); out[len] = ']'; out[len + 1] = 0; }
    free(buf);
    return out;
}

static const char *skip_ws(const char *p) {
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
    return p;
}

static int hexval(const char *p, unsigned *out) {
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
        else return -1;
    }
    *out = v;
    return 0;
}

/* Parses one JSON string at *pp into a malloc'd UTF-8 string; NULL on malformed input/no memory. */
static char *json_parse_string(const char **pp) {
    const char *p = *pp;
    if (*p != '"') return NULL;
    p++;
    size_t cap = strlen(p) + 1;
    char *out = malloc(cap), *o = out;
    if (!out) return NULL;
    while (*p && *p != '"') {
        if ((unsigned char)*p < 0x20) goto bad;
        if (*p != '\\') { *o++ = *p++; continue; }
        p++;
        switch (*p) {
        case '"': case '\\': case '/': *o++ = *p++; break;
        case 'b': *o++ = '\b'; p++; break;
        case 'f': *o++ = '\f'; p++; break;
        case 'n': *o++ = '\n'; p++; break;
        case 'r': *o++ = '\r'; p++; break;
        case 't': *o++ = '\t'; p++; break;
        case 'u': {
            unsigned c;
            if (hexval(p + 1, &c)) goto bad;
            p += 5;
            if (c >= 0xd800 && c < 0xdc00) { /* surrogate pair */
                unsigned lo;
                if (p[0] != '\\' || p[1] != 'u' || hexval(p + 2, &lo) || lo < 0xdc00 || lo > 0xdfff)
                    goto bad;
                p += 6;
                c = 0x10000 + ((c - 0xd800) << 10) + (lo - 0xdc00);
            } else if (c >= 0xdc00 && c <= 0xdfff) goto bad;
            if (c == 0) goto bad; /* names are C strings */
            /* at most 4 UTF-8 bytes for the 6 or 12 escape bytes consumed: fits in cap */
            if (c < 0x80) *o++ = (char)c;
            else if (c < 0x800) { *o++ = (char)(0xc0 | (c >> 6)); *o++ = (char)(0x80 | (c & 0x3f)); }
            else if (c < 0x10000) {
                *o++ = (char)(0xe0 | (c >> 12)); *o++ = (char)(0x80 | ((c >> 6) & 0x3f));
                *o++ = (char)(0x80 | (c & 0x3f));
            } else {
                *o++ = (char)(0xf0 | (c >> 18)); *o++ = (char)(0x80 | ((c >> 12) & 0x3f));
                *o++ = (char)(0x80 | ((c >> 6) & 0x3f)); *o++ = (char)(0x80 | (c & 0x3f));
            }
            break;
        }
        default: goto bad;
        }
    }
    if (*p != '"') goto bad;
    *o = 0;
    *pp = p + 1;
    return out;
bad:
    free(out);
    return NULL;
}

/* Parses a JSON array of exactly k strings into a malloc'd (k) array of malloc'd names; k < 0:
 * any number of them, counted into *count. */
static char **json_parse_names_any(const char *s, int k, int *count) {
    int exact = k >= 0;
    if (!exact) k = (int)(strlen(s) / 2 + 1); /* every name takes at least 2 characters ("") */
    char **names = calloc((size_t)k + 1, sizeof *names);
    if (!names) return NULL;
    const char *p = skip_ws(s);
    int n = 0;
    if (*p++ != '[') goto bad;
    p = skip_ws(p);
    while (*p != ']') {
        if (n == k) goto bad;
        if (n > 0) {
            if (*p++ != ',') goto bad;
            p = skip_ws(p);
        }
        if (!(names[n] = json_parse_string(&p))) goto bad;
        n++;
        p = skip_ws(p);
    }
    if ((exact && n != k) || *skip_ws(p + 1)) goto bad;
    if (count) *count = n;
    return names;
bad:
    for (int i = 0; i < k; i++) free(names[i]);
    free(names);
    return NULL;
}

static char **json_parse_names(const char *s, int k) { return json_parse_names_any(s, k, NULL); }

/* ---- building ---- */

typedef struct builder {
    fc_onnx_pool *pool;
    fc_head_onnx_parts *parts;
    size_t cap_nodes, cap_inits;
    int oom;
} builder;

/* The builders of onnx_io.h, appending to the parts; any failure (no memory, more pieces than the
 * arrays hold) sets oom and turns the later calls into no-ops. */
static Onnx__NodeProto *add_node(builder *b, const char *op, const char *name, int n_in,
                                 const char *const *ins, const char *out) {
    if (b->oom || b->parts->n_nodes == b->cap_nodes) { b->oom = 1; return NULL; }
    Onnx__NodeProto *n = fc_onnx_node(b->pool, op, name, n_in, ins, out);
    if (!n) { b->oom = 1; return NULL; }
    b->parts->nodes[b->parts->n_nodes++] = n;
    return n;
}

static void attr_int(builder *b, Onnx__NodeProto *n, const char *name, int64_t v) {
    if (!fc_onnx_attr_int(b->pool, n, name, v)) b->oom = 1;
}

static void attr_ints1(builder *b, Onnx__NodeProto *n, const char *name, int64_t v) {
    if (!fc_onnx_attr_ints(b->pool, n, name, &v, 1)) b->oom = 1;
}

/* Float or int64 initializer of rank <= 2 whose raw data points at data (not copied). */
static void add_init(builder *b, const char *name, int dtype, int rank, int64_t d0, int64_t d1,
                     const void *data, size_t bytes) {
    if (b->oom || b->parts->n_inits == b->cap_inits) { b->oom = 1; return; }
    const int64_t dims[2] = {d0, d1};
    Onnx__TensorProto *t = fc_onnx_tensor_raw(b->pool, name, dtype, rank, dims, data, bytes);
    if (!t) { b->oom = 1; return; }
    b->parts->inits[b->parts->n_inits++] = t;
}

static void add_meta(builder *b, const char *key, const char *value) {
    if (b->oom) return;
    Onnx__StringStringEntryProto *e = fc_onnx_meta(b->pool, key, value);
    if (!e) { b->oom = 1; return; }
    b->parts->meta[b->parts->n_meta++] = e;
}

int fc_head_onnx_build(const fc_head *h, const char *input, int opset, const char *metadata_json,
                       fc_onnx_pool *pool, fc_head_onnx_parts *out, fc_error *err) {
    memset(out, 0, sizeof *out);
    int rc = fc_head_check(h, err);
    if (rc) return rc;
    if (opset < 8)
        return fc_fail(err, FC_EUNSUPPORTED, "head: opset %d is too old for the head's operators "
                       "(Max, Gemm and Softmax need opset >= 8)", opset);
    builder b = {pool, out, 5 + 2 * FC_HEAD_MAX_LAYERS + 1, 5 + 2 * FC_HEAD_MAX_LAYERS, 0};
    out->nodes = fc_onnx_pool_alloc(pool, b.cap_nodes * sizeof *out->nodes);
    out->inits = fc_onnx_pool_alloc(pool, b.cap_inits * sizeof *out->inits);
    out->meta = fc_onnx_pool_alloc(pool, 3 * sizeof *out->meta);
    if (!out->nodes || !out->inits || !out->meta) b.oom = 1;
    const fc_transform *t = &h->transform;
    int D = h->layers[0].in;
    const char *x = input;
    static const float l2_eps_default = FC_TRANSFORM_L2_EPS;
    static const int64_t l2_axes[1] = {1};
    if (t->kind == FC_TRANSFORM_STANDARDIZE) {
        const char *sub_in[2] = {input, "head/mean"}, *mul_in[2] = {"head/centered", "head/scale"};
        add_init(&b, "head/mean", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 1, D, 0, t->mean, (size_t)D * 4);
        add_init(&b, "head/scale", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 1, D, 0, t->scale, (size_t)D * 4);
        add_node(&b, "Sub", "head/standardize_sub", 2, sub_in, "head/centered");
        add_node(&b, "Mul", "head/standardize_mul", 2, mul_in, "head/x");
        x = "head/x";
    } else if (t->kind == FC_TRANSFORM_L2) {
        const float *eps = t->eps > 0 ? &t->eps : &l2_eps_default;
        const char *red_in[2] = {input, "head/l2_axes"}, *max_in[2] = {"head/norm", "head/l2_eps"};
        const char *div_in[2] = {input, "head/norm_floor"};
        add_init(&b, "head/l2_eps", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 0, 0, 0, eps, 4);
        Onnx__NodeProto *red;
        if (opset >= 18) { /* ReduceL2 takes its axes as an input from opset 18 on */
            add_init(&b, "head/l2_axes", ONNX__TENSOR_PROTO__DATA_TYPE__INT64, 1, 1, 0, l2_axes, 8);
            red = add_node(&b, "ReduceL2", "head/l2_norm", 2, red_in, "head/norm");
        } else {
            red = add_node(&b, "ReduceL2", "head/l2_norm", 1, red_in, "head/norm");
            attr_ints1(&b, red, "axes", 1);
        }
        attr_int(&b, red, "keepdims", 1);
        add_node(&b, "Max", "head/l2_floor", 2, max_in, "head/norm_floor");
        add_node(&b, "Div", "head/l2_div", 2, div_in, "head/x");
        x = "head/x";
    }
    for (int i = 0; i < h->n_layers; i++) {
        const fc_layer *l = &h->layers[i];
        char *W = fc_onnx_pool_printf(pool, "head/W%d", i), *B = fc_onnx_pool_printf(pool, "head/b%d", i);
        char *name = fc_onnx_pool_printf(pool, "head/gemm%d", i);
        if (!W || !B || !name) { b.oom = 1; break; }
        add_init(&b, W, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 2, l->out, l->in, l->W,
                 (size_t)l->out * l->in * 4);
        add_init(&b, B, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 1, l->out, 0, l->b, (size_t)l->out * 4);
        const char *gin[3] = {x, W, B};
        Onnx__NodeProto *g = add_node(&b, "Gemm", name, 3, gin, name);
        attr_int(&b, g, "transB", 1);
        x = name;
        if (l->act == FC_ACTIVATION_RELU) {
            char *r = fc_onnx_pool_printf(pool, "head/relu%d", i);
            if (!r) { b.oom = 1; break; }
            add_node(&b, "Relu", r, 1, &x, r);
            x = r;
        }
    }
    Onnx__NodeProto *sm = add_node(&b, "Softmax", "head/softmax", 1, &x, "probabilities");
    attr_int(&b, sm, "axis", 1);

    char *format = fc_onnx_pool_printf(pool, "{\"format\":\"featcache-head\",\"version\":%d,\"transform\":\"%s\","
                               "\"transform_dim\":%d,\"eps\":%.9g}", FORMAT_VERSION,
                               fc_transform_name(t->kind), t->dim, (double)t->eps);
    add_meta(&b, FORMAT_KEY, format);
    if (h->class_names) add_meta(&b, CLASSES_KEY, classes_json(h, pool));
    if (metadata_json) add_meta(&b, META_KEY, metadata_json);
    if (!(out->output = fc_onnx_value_info_2d(pool, "probabilities", h->n_classes))) b.oom = 1;
    if (b.oom) {
        memset(out, 0, sizeof *out);
        return fc_fail(err, FC_ENOMEM, "head: out of memory building the ONNX graph");
    }
    return 0;
}

int fc_head_save_onnx(const fc_head *h, const char *path, const char *metadata_json, fc_error *err) {
    if (!h || !path) return fc_fail(err, FC_EINVAL, "head save: NULL argument");
    fc_onnx_pool pool = {0};
    fc_head_onnx_parts parts;
    int rc = fc_head_onnx_build(h, "features", HEAD_OPSET, metadata_json, &pool, &parts, err);
    if (rc) { fc_error_prefix(err, "%s: ", path); goto fail; }
    Onnx__ModelProto model;
    Onnx__GraphProto graph;
    Onnx__ValueInfoProto *in = fc_onnx_value_info_2d(&pool, "features", h->layers[0].in);
    Onnx__ValueInfoProto *outp = parts.output;
    if (!in || fc_onnx_model_init(&pool, &model, &graph, HEAD_OPSET, HEAD_IR_VERSION)) {
        rc = fc_fail(err, FC_ENOMEM, "%s: out of memory", path);
        goto fail;
    }
    graph.name = "featcache_head";
    graph.n_node = parts.n_nodes;
    graph.node = parts.nodes;
    graph.n_initializer = parts.n_inits;
    graph.initializer = parts.inits;
    graph.n_input = 1;
    graph.input = &in;
    graph.n_output = 1;
    graph.output = &outp;
    model.n_metadata_props = parts.n_meta;
    model.metadata_props = parts.meta;
    rc = fc_onnx_write(&model, path, err);
fail:
    fc_onnx_pool_free(&pool);
    return rc;
}

/* ---- loading ---- */

typedef struct reader {
    const char *path;
    const Onnx__GraphProto *g;
    size_t pos;
    fc_error *err;
} reader;

#define NOT_HEAD "not a featcache head file"

static int bad(reader *r, const char *what) {
    return fc_fail(r->err, FC_EFORMAT, "%s: " NOT_HEAD " (%s)", r->path, what);
}

/* Takes the next node, which must be op with exactly these inputs and one output out. */
static const Onnx__NodeProto *expect_node(reader *r, const char *op, int n_in, const char *const *ins,
                                          const char *out) {
    if (r->pos >= r->g->n_node) return NULL;
    const Onnx__NodeProto *n = r->g->node[r->pos];
    if (!n->op_type || strcmp(n->op_type, op) != 0) return NULL;
    if (n->domain && *n->domain && strcmp(n->domain, "ai.onnx") != 0) return NULL;
    if (n->n_input != (size_t)n_in || n->n_output != 1 || !n->output[0] || strcmp(n->output[0], out))
        return NULL;
    for (int i = 0; i < n_in; i++)
        if (!n->input[i] || strcmp(n->input[i], ins[i]) != 0) return NULL;
    r->pos++;
    return n;
}

/* Integer attribute (or ints of length 1 when as_list); returns 0 and sets *v when present. */
static int node_attr_int(const Onnx__NodeProto *n, const char *name, int as_list, int64_t *v) {
    for (size_t i = 0; i < n->n_attribute; i++) {
        const Onnx__AttributeProto *a = n->attribute[i];
        if (!a->name || strcmp(a->name, name) != 0) continue;
        if (as_list) {
            if (a->n_ints != 1) return -1;
            *v = a->ints[0];
        } else {
            if (a->has_type && a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT) return -1;
            *v = a->i;
        }
        return 0;
    }
    return 1;
}

/* Only the listed attributes may be present. */
static int attrs_only(const Onnx__NodeProto *n, const char *const *allowed, int n_allowed) {
    for (size_t i = 0; i < n->n_attribute; i++) {
        int ok = 0;
        for (int j = 0; j < n_allowed; j++)
            if (n->attribute[i]->name && !strcmp(n->attribute[i]->name, allowed[j])) ok = 1;
        if (!ok) return 0;
    }
    return 1;
}

static const Onnx__TensorProto *find_init(const Onnx__GraphProto *g, const char *name) {
    for (size_t i = 0; i < g->n_initializer; i++)
        if (g->initializer[i]->name && !strcmp(g->initializer[i]->name, name)) return g->initializer[i];
    return NULL;
}

/* Copies float initializer `name` of rank `rank` into a malloc'd array; its dims go to dims (which
 * must equal want where want[i] > 0). */
static int read_floats(reader *r, const char *name, int rank, const int64_t *want, int64_t *dims,
                       float **out) {
    *out = NULL;
    const Onnx__TensorProto *t = find_init(r->g, name);
    if (!t)
        return fc_fail(r->err, FC_EFORMAT, "%s: " NOT_HEAD " (initializer '%s' is missing)", r->path, name);
    if (!t->has_data_type || t->data_type != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT)
        return fc_fail(r->err, FC_EFORMAT, "%s: initializer '%s' is not float32", r->path, name);
    if (t->n_dims != (size_t)rank)
        return fc_fail(r->err, FC_EFORMAT, "%s: initializer '%s' has rank %zu, expected %d", r->path,
                       name, t->n_dims, rank);
    int64_t count = 1;
    for (int i = 0; i < rank; i++) {
        if (t->dims[i] < 1 || t->dims[i] > (1 << 24) || (want[i] > 0 && t->dims[i] != want[i]))
            return fc_fail(r->err, FC_EFORMAT, "%s: initializer '%s' has dimension %d = %lld, expected "
                           "%lld", r->path, name, i, (long long)t->dims[i], (long long)want[i]);
        dims[i] = t->dims[i];
        count *= t->dims[i];
    }
    if (count > (1LL << 28))
        return fc_fail(r->err, FC_ELIMIT, "%s: initializer '%s' is too large", r->path, name);
    if (t->has_data_location && t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL)
        return fc_fail(r->err, FC_EFORMAT, "%s: initializer '%s' uses external data (head files are "
                       "self-contained)", r->path, name);
    /* the data must match the shape before anything that size is allocated (a few bytes of
     * protobuf can declare a 1 GiB initializer) */
    int raw = t->has_raw_data && t->raw_data.len;
    if (raw && t->raw_data.len != (size_t)count * 4)
        return fc_fail(r->err, FC_EFORMAT, "%s: initializer '%s' holds %zu bytes, its shape needs "
                       "%lld", r->path, name, t->raw_data.len, (long long)count * 4);
    if (!raw && t->n_float_data != (size_t)count)
        return fc_fail(r->err, FC_EFORMAT, "%s: initializer '%s' holds %zu values, its shape needs "
                       "%lld", r->path, name, t->n_float_data, (long long)count);
    float *f = malloc((size_t)count * sizeof *f);
    if (!f) return fc_fail(r->err, FC_ENOMEM, "%s: out of memory", r->path);
    memcpy(f, raw ? (const void *)t->raw_data.data : (const void *)t->float_data, (size_t)count * 4);
    *out = f;
    return 0;
}

static const char *meta_get(const Onnx__ModelProto *m, const char *key) {
    for (size_t i = 0; i < m->n_metadata_props; i++)
        if (m->metadata_props[i]->key && !strcmp(m->metadata_props[i]->key, key))
            return m->metadata_props[i]->value ? m->metadata_props[i]->value : "";
    return NULL;
}

/* The graph input `features` (N, D) or output `probabilities` (N, K): name, float, rank 2 and,
 * when declared, the expected width. */
static int check_io(reader *r, const Onnx__ValueInfoProto *vi, const char *name, int64_t width) {
    if (!vi->name || strcmp(vi->name, name) != 0) return bad(r, "unexpected graph input or output");
    const Onnx__TypeProto *tp = vi->type;
    if (!tp || tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !tp->tensor_type ||
        (tp->tensor_type->has_elem_type && tp->tensor_type->elem_type != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT))
        return fc_fail(r->err, FC_EFORMAT, "%s: '%s' is not a float tensor", r->path, name);
    const Onnx__TensorShapeProto *sp = tp->tensor_type->shape;
    if (sp) {
        if (sp->n_dim != 2)
            return fc_fail(r->err, FC_EFORMAT, "%s: '%s' has rank %zu, expected 2", r->path, name, sp->n_dim);
        const Onnx__TensorShapeProto__Dimension *d = sp->dim[1];
        if (d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE && d->dim_value != width)
            return fc_fail(r->err, FC_EFORMAT, "%s: '%s' declares %lld columns, the weights give %lld",
                           r->path, name, (long long)d->dim_value, (long long)width);
    }
    return 0;
}

static int load_graph(reader *r, const Onnx__ModelProto *m, fc_head *h) {
    const Onnx__GraphProto *g = r->g;
    const char *format = meta_get(m, FORMAT_KEY);
    if (!format) return bad(r, "no " FORMAT_KEY " metadata");
    int version, dim, used = 0;
    float eps;
    char kind_name[16];
    if (sscanf(format, "{\"format\":\"featcache-head\",\"version\":%d,", &version) != 1)
        return bad(r, "malformed " FORMAT_KEY " metadata");
    if (version != FORMAT_VERSION)
        return fc_fail(r->err, FC_EUNSUPPORTED, "%s: head format version %d (this featcache reads "
                       "version %d)", r->path, version, FORMAT_VERSION);
    if (sscanf(format, "{\"format\":\"featcache-head\",\"version\":%*d,\"transform\":\"%15[a-z0-9]\","
               "\"transform_dim\":%d,\"eps\":%g}%n", kind_name, &dim, &eps, &used) != 3 ||
        format[used] != 0 || dim < 0 || !isfinite(eps) || eps < 0)
        return bad(r, "malformed " FORMAT_KEY " metadata");
    fc_transform_kind kind;
    if (fc_transform_parse(kind_name, &kind, NULL) != 0) return bad(r, "unknown transform");
    if (g->n_input != 1 || g->n_output != 1) return bad(r, "expected one input and one output");

    const char *x = "features";
    h->transform.kind = kind;
    h->transform.dim = dim;
    const Onnx__NodeProto *n;
    int rc;
    if (kind == FC_TRANSFORM_STANDARDIZE) {
        const char *sub_in[2] = {x, "head/mean"}, *mul_in[2] = {"head/centered", "head/scale"};
        if (!expect_node(r, "Sub", 2, sub_in, "head/centered") || !expect_node(r, "Mul", 2, mul_in, "head/x"))
            return bad(r, "the standardize nodes are missing");
        int64_t want[1] = {dim}, got[1];
        if (dim < 1) return bad(r, "standardize transform without a dimension");
        if ((rc = read_floats(r, "head/mean", 1, want, got, &h->transform.mean)) ||
            (rc = read_floats(r, "head/scale", 1, want, got, &h->transform.scale)))
            return rc;
        x = "head/x";
    } else if (kind == FC_TRANSFORM_L2) {
        const char *red_in[1] = {x}, *max_in[2] = {"head/norm", "head/l2_eps"};
        const char *div_in[2] = {x, "head/norm_floor"};
        int64_t axis = 0, keep = 0;
        n = expect_node(r, "ReduceL2", 1, red_in, "head/norm");
        static const char *const red_attrs[] = {"axes", "keepdims"};
        if (!n || node_attr_int(n, "axes", 1, &axis) != 0 || axis != 1 ||
            node_attr_int(n, "keepdims", 0, &keep) != 0 || keep != 1 || !attrs_only(n, red_attrs, 2))
            return bad(r, "the L2 norm node is missing or has other attributes");
        if (!expect_node(r, "Max", 2, max_in, "head/norm_floor") ||
            !expect_node(r, "Div", 2, div_in, "head/x"))
            return bad(r, "the L2 floor/division nodes are missing");
        const Onnx__TensorProto *t = find_init(g, "head/l2_eps");
        float stored;
        if (!t || t->n_dims != 0 || !t->has_data_type || t->data_type != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT ||
            !((t->has_raw_data && t->raw_data.len == 4) || (!t->raw_data.len && t->n_float_data == 1)))
            return bad(r, "initializer 'head/l2_eps' is missing or not a float scalar");
        if (t->raw_data.len == 4) memcpy(&stored, t->raw_data.data, 4);
        else stored = t->float_data[0];
        if (stored != (eps > 0 ? eps : FC_TRANSFORM_L2_EPS))
            return bad(r, "head/l2_eps disagrees with the " FORMAT_KEY " metadata");
        h->transform.eps = eps;
        x = "head/x";
    }
    if (kind != FC_TRANSFORM_L2 && eps != 0) return bad(r, "eps set for a non-L2 transform");

    int prev = -1;
    char names[FC_HEAD_MAX_LAYERS][2][24]; /* Gemm and Relu outputs: x may point into them */
    for (int i = 0; i < FC_HEAD_MAX_LAYERS; i++) {
        char W[24], B[24], *gname = names[i][0], *rname = names[i][1];
        snprintf(W, sizeof W, "head/W%d", i);
        snprintf(B, sizeof B, "head/b%d", i);
        snprintf(gname, 24, "head/gemm%d", i);
        snprintf(rname, 24, "head/relu%d", i);
        const char *gin[3] = {x, W, B};
        if (r->pos >= g->n_node || !g->node[r->pos]->op_type || strcmp(g->node[r->pos]->op_type, "Gemm"))
            break;
        n = expect_node(r, "Gemm", 3, gin, gname);
        int64_t tb = 0, v;
        static const char *const gemm_attrs[] = {"transB", "transA", "alpha", "beta"};
        if (!n || node_attr_int(n, "transB", 0, &tb) != 0 || tb != 1 || !attrs_only(n, gemm_attrs, 4) ||
            node_attr_int(n, "transA", 0, &v) == 0 /* only the default (absent) is written */ ||
            node_attr_int(n, "alpha", 0, &v) != 1 || node_attr_int(n, "beta", 0, &v) != 1)
            return bad(r, "unexpected Gemm node");
        fc_layer *l = &h->layers[i];
        int64_t wdims[2], want_w[2] = {0, prev > 0 ? prev : (dim > 0 ? dim : 0)};
        if ((rc = read_floats(r, W, 2, want_w, wdims, &l->W))) return rc;
        l->out = (int)wdims[0];
        l->in = (int)wdims[1];
        h->n_layers = i + 1;
        int64_t want_b[1] = {l->out}, bdims[1];
        if ((rc = read_floats(r, B, 1, want_b, bdims, &l->b))) return rc;
        x = gname;
        l->act = FC_ACTIVATION_NONE;
        const char *rin[1] = {x};
        if (expect_node(r, "Relu", 1, rin, rname)) {
            l->act = FC_ACTIVATION_RELU;
            x = rname;
        }
        prev = l->out;
    }
    if (h->n_layers == 0) return bad(r, "no Gemm layer");
    const char *sin[1] = {x};
    int64_t axis = 0;
    static const char *const sm_attrs[] = {"axis"};
    if (!(n = expect_node(r, "Softmax", 1, sin, "probabilities")) || node_attr_int(n, "axis", 0, &axis) != 0 ||
        axis != 1 || !attrs_only(n, sm_attrs, 1))
        return bad(r, "the Softmax(axis 1) node is missing");
    if (r->pos != g->n_node) return bad(r, "extra nodes after Softmax");
    h->n_classes = h->layers[h->n_layers - 1].out;
    if ((rc = check_io(r, g->input[0], "features", h->layers[0].in)) ||
        (rc = check_io(r, g->output[0], "probabilities", h->n_classes)))
        return rc;
    const char *classes = meta_get(m, CLASSES_KEY);
    if (classes) {
        if (!(h->class_names = json_parse_names(classes, h->n_classes)))
            return fc_fail(r->err, FC_EFORMAT, "%s: " CLASSES_KEY " is not a JSON array of %d class "
                           "names", r->path, h->n_classes);
    }
    if ((rc = fc_head_check(h, r->err))) return fc_error_prefix(r->err, "%s: ", r->path);
    return 0;
}

/* Reads the head from m (freed here, also on error) into out. */
static int load_model(const char *path, Onnx__ModelProto *m, fc_head *out, char **metadata_json,
                      fc_error *err) {
    int rc;
    reader r = {path, m->graph, 0, err};
    if (!m->graph) {
        rc = bad(&r, "no graph");
        goto fail;
    }
    if ((rc = load_graph(&r, m, out))) goto fail;
    const char *meta = meta_get(m, META_KEY);
    if (metadata_json && meta && !(*metadata_json = strdup(meta))) {
        rc = fc_fail(err, FC_ENOMEM, "%s: out of memory", path);
        goto fail;
    }
    fc_onnx_model_free(m);
    return 0;
fail:
    fc_onnx_model_free(m);
    fc_head_free(out);
    return rc;
}

/* The reader's FC_EFORMAT means the bytes are no protobuf at all: for a head file that says "not a
 * featcache head file" like every other refusal here. */
static int read_failed(const char *path, int rc, fc_error *err) {
    if (rc != FC_EFORMAT) return rc;
    return fc_fail(err, FC_EFORMAT, "%s: " NOT_HEAD " (protobuf parsing failed: truncated, corrupt or "
                   "not ONNX)", path);
}

int fc_head_load_onnx(const char *path, fc_head *out, char **metadata_json, fc_error *err) {
    if (metadata_json) *metadata_json = NULL;
    if (!path || !out) return fc_fail(err, FC_EINVAL, "head load: NULL argument");
    memset(out, 0, sizeof *out);
    Onnx__ModelProto *m;
    int rc = fc_onnx_read(path, &m, err);
    return rc ? read_failed(path, rc, err) : load_model(path, m, out, metadata_json, err);
}

int fc_head_load_onnx_mem(const char *name, const void *data, size_t size, fc_head *out,
                          char **metadata_json, fc_error *err) {
    if (metadata_json) *metadata_json = NULL;
    if ((!data && size) || !out) return fc_fail(err, FC_EINVAL, "head load: NULL argument");
    memset(out, 0, sizeof *out);
    if (!name) name = "<memory>";
    Onnx__ModelProto *m;
    int rc = fc_onnx_read_mem(name, data, size, &m, err);
    return rc ? read_failed(name, rc, err) : load_model(name, m, out, metadata_json, err);
}

int fc_onnx_read_classes(const char *path, char ***names, int *n, char **metadata_json, fc_error *err) {
    *names = NULL;
    *n = 0;
    if (metadata_json) *metadata_json = NULL;
    Onnx__ModelProto *m;
    int rc = fc_onnx_read(path, &m, err);
    if (rc) return rc;
    const char *classes = meta_get(m, CLASSES_KEY), *meta = meta_get(m, META_KEY);
    if (classes && !(*names = json_parse_names_any(classes, -1, n)))
        rc = fc_fail(err, FC_EFORMAT, "%s: malformed " CLASSES_KEY " metadata", path);
    if (!rc && meta && metadata_json && !(*metadata_json = strdup(meta))) rc = fc_fail(err, FC_ENOMEM, "out of memory");
    fc_onnx_model_free(m);
    if (rc < 0) {
        for (int i = 0; *names && i < *n; i++) free((*names)[i]);
        free(*names);
        *names = NULL;
        *n = 0;
        return rc;
    }
    return *names ? 1 : 0;
}
