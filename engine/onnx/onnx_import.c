/* ONNX protobuf -> fc_graph conversion (see onnx_import.h). Validation here is about the file itself;
 * shape consistency is checked when a session infers shapes. */
#include "engine/onnx/onnx_import.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/core.h"
#include "engine/onnx/onnx_io.h"
#include "engine/ops/ops.h"

#define MIN_OPSET 7
#define MAX_OPSET 18


/* ---- half precision ---- */
static float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0) {
        if (man == 0) bits = sign;
        else { /* subnormal */
            exp = 127 - 15 + 1;
            while (!(man & 0x400)) { man <<= 1; exp--; }
            bits = sign | (exp << 23) | ((man & 0x3ff) << 13);
        }
    } else if (exp == 31) bits = sign | 0x7f800000 | (man << 13);
    else bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/* Bytes per element of an ONNX data type we accept, 0 if unsupported. */
static size_t onnx_elem_size(int dt) {
    switch (dt) {
    case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT: case ONNX__TENSOR_PROTO__DATA_TYPE__INT32:
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT32: return 4;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT64: case ONNX__TENSOR_PROTO__DATA_TYPE__UINT64:
    case ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE: return 8;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT8: case ONNX__TENSOR_PROTO__DATA_TYPE__UINT8:
    case ONNX__TENSOR_PROTO__DATA_TYPE__BOOL: return 1;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT16: case ONNX__TENSOR_PROTO__DATA_TYPE__UINT16:
    case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16: return 2;
    default: return 0;
    }
}

static int is_float_type(int dt) {
    return dt == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT || dt == ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE ||
           dt == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16;
}

/* Converts count little-endian elements of ONNX type dt from raw bytes to f32 or i64 in dst. */
static void convert_raw(int dt, const uint8_t *src, int64_t count, void *dst) {
    if (dt == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT) { /* most of a model's bytes: one copy */
        memcpy(dst, src, (size_t)count * 4);
        return;
    }
    float *f = dst;
    int64_t *q = dst;
    for (int64_t i = 0; i < count; i++) {
        switch (dt) {
        case ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE: { double d; memcpy(&d, src + 8 * i, 8); f[i] = (float)d; break; }
        case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16: { uint16_t h; memcpy(&h, src + 2 * i, 2); f[i] = half_to_float(h); break; }
        case ONNX__TENSOR_PROTO__DATA_TYPE__INT64: case ONNX__TENSOR_PROTO__DATA_TYPE__UINT64: memcpy(&q[i], src + 8 * i, 8); break;
        case ONNX__TENSOR_PROTO__DATA_TYPE__INT32: { int32_t v; memcpy(&v, src + 4 * i, 4); q[i] = v; break; }
        case ONNX__TENSOR_PROTO__DATA_TYPE__UINT32: { uint32_t v; memcpy(&v, src + 4 * i, 4); q[i] = v; break; }
        case ONNX__TENSOR_PROTO__DATA_TYPE__INT16: { int16_t v; memcpy(&v, src + 2 * i, 2); q[i] = v; break; }
        case ONNX__TENSOR_PROTO__DATA_TYPE__UINT16: { uint16_t v; memcpy(&v, src + 2 * i, 2); q[i] = v; break; }
        case ONNX__TENSOR_PROTO__DATA_TYPE__INT8: q[i] = (int8_t)src[i]; break;
        default: q[i] = src[i]; break; /* uint8, bool */
        }
    }
}

/* Resolves an external-data location against the model's folder; refuses anything that could
 * escape it (absolute paths, '..' components, symlinks pointing outside). */
static int external_path(const char *model_path, const char *location, char *out, size_t outsz,
                         fc_error *err) {
    if (!location || !*location || location[0] == '/' || strstr(location, "..") ||
        strchr(location, '\\'))
        return fc_fail(err, FC_EFORMAT, "%s: external data location '%s' is outside the model's "
                       "folder (refused)", model_path, location ? location : "");
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", model_path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = 0; else snprintf(dir, sizeof dir, ".");
    char joined[PATH_MAX * 2], real_dir[PATH_MAX], real_file[PATH_MAX];
    snprintf(joined, sizeof joined, "%s/%s", dir, location);
    if (!realpath(dir, real_dir))
        return fc_fail(err, FC_EIO, "%s: cannot resolve the model's folder", model_path);
    if (!realpath(joined, real_file))
        return fc_fail(err, FC_EIO, "%s: external data file '%s': %s", model_path, location,
                       strerror(errno));
    size_t n = strlen(real_dir);
    if (strncmp(real_file, real_dir, n) != 0 || real_file[n] != '/')
        return fc_fail(err, FC_EFORMAT, "%s: external data location '%s' resolves outside the "
                       "model's folder (refused)", model_path, location);
    snprintf(out, outsz, "%s", real_file);
    return 0;
}

static int read_external(const char *model_path, const Onnx__TensorProto *t, size_t want,
                         uint8_t **buf, fc_error *err) {
    const char *location = NULL;
    long long offset = 0, length = -1;
    for (size_t i = 0; i < t->n_external_data; i++) {
        const Onnx__StringStringEntryProto *e = t->external_data[i];
        if (!e->key || !e->value) continue;
        if (!strcmp(e->key, "location")) location = e->value;
        else if (!strcmp(e->key, "offset")) offset = strtoll(e->value, NULL, 10);
        else if (!strcmp(e->key, "length")) length = strtoll(e->value, NULL, 10);
    }
    char path[PATH_MAX];
    int rc = external_path(model_path, location, path, sizeof path, err);
    if (rc) return rc;
    if (offset < 0 || (length >= 0 && (size_t)length != want))
        return fc_fail(err, FC_EFORMAT, "%s: tensor '%s': external data length %lld does not match "
                       "its shape (%zu bytes)", model_path, t->name ? t->name : "", length, want);
    FILE *f = fc_file_open_regular(path, NULL, err);
    if (!f) return fc_error_prefix(err, "%s: external data '%s': ", model_path, location);
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || (unsigned long long)st.st_size < (unsigned long long)offset ||
        (unsigned long long)st.st_size - (unsigned long long)offset < want) {
        fclose(f); /* checked before allocating: the declared shape may be absurd */
        return fc_fail(err, FC_EFORMAT, "%s: external data '%s' is shorter than tensor '%s' needs "
                       "(%zu bytes at offset %lld)", model_path, location, t->name ? t->name : "", want,
                       offset);
    }
    *buf = malloc(want + 1);
    if (!*buf) { fclose(f); return fc_fail(err, FC_ENOMEM, "%s: out of memory", model_path); }
    if (fseeko(f, (off_t)offset, SEEK_SET) != 0 || fread(*buf, 1, want, f) != want) {
        fclose(f);
        free(*buf);
        *buf = NULL;
        return fc_fail(err, FC_EFORMAT, "%s: external data '%s' is shorter than tensor '%s' needs "
                       "(%zu bytes at offset %lld)", model_path, location, t->name ? t->name : "", want,
                       offset);
    }
    fclose(f);
    return 0;
}

/* Adds t's external data file (resolved as read_external resolves it) to *files unless listed. */
static int add_data_file(const char *model_path, const Onnx__TensorProto *t, char ***files, int *n,
                         fc_error *err) {
    if (!t || !t->has_data_location || t->data_location != ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL)
        return 0;
    const char *location = NULL;
    for (size_t i = 0; i < t->n_external_data; i++)
        if (t->external_data[i]->key && !strcmp(t->external_data[i]->key, "location"))
            location = t->external_data[i]->value;
    char path[PATH_MAX];
    int rc = external_path(model_path, location, path, sizeof path, err);
    if (rc) return rc;
    for (int i = 0; i < *n; i++)
        if (!strcmp((*files)[i], path)) return 0;
    char **grown = realloc(*files, (size_t)(*n + 1) * sizeof *grown);
    if (!grown) return fc_fail(err, FC_ENOMEM, "%s: out of memory", model_path);
    *files = grown;
    if (!(grown[*n] = strdup(path))) return fc_fail(err, FC_ENOMEM, "%s: out of memory", model_path);
    (*n)++;
    return 0;
}

/* fc_onnx_data_files on a model already read. */
static int proto_data_files(const char *path, const Onnx__ModelProto *m, char ***files, int *n, fc_error *err) {
    *files = NULL;
    *n = 0;
    int rc = 0;
    const Onnx__GraphProto *gp = m->graph;
    /* the tensors import reads: initializers, then node attributes (Constant's value among them) */
    for (size_t i = 0; gp && i < gp->n_initializer && rc == 0; i++)
        rc = add_data_file(path, gp->initializer[i], files, n, err);
    for (size_t i = 0; gp && i < gp->n_node && rc == 0; i++)
        for (size_t a = 0; a < gp->node[i]->n_attribute && rc == 0; a++)
            rc = add_data_file(path, gp->node[i]->attribute[a]->t, files, n, err);
    if (rc) {
        fc_onnx_data_files_free(*files, *n);
        *files = NULL;
        *n = 0;
    }
    return rc;
}

int fc_onnx_data_files(const char *path, char ***files, int *n, fc_error *err) {
    *files = NULL;
    *n = 0;
    Onnx__ModelProto *m;
    int rc = fc_onnx_read(path, &m, err);
    if (rc) return rc;
    rc = proto_data_files(path, m, files, n, err);
    fc_onnx_model_free(m);
    return rc;
}

void fc_onnx_data_files_free(char **files, int n) {
    for (int i = 0; i < n; i++) free(files[i]);
    free(files);
}

/* Fills value v (already interned) with the tensor's constant data. */
/* ext: 1 when external data may be read from beside the model file, 0 for models held in memory. */
static int convert_tensor(const char *path, int ext, const Onnx__TensorProto *t, fc_value *v,
                          fc_error *err) {
    const char *name = t->name ? t->name : "";
    int dt = t->has_data_type ? t->data_type : 0;
    size_t esz = onnx_elem_size(dt);
    if (!esz)
        return fc_fail(err, FC_EUNSUPPORTED, "%s: tensor '%s' has data type %d, which featcache does "
                       "not support", path, name, dt);
    if (t->n_dims > FC_MAX_RANK)
        return fc_fail(err, FC_EUNSUPPORTED, "%s: tensor '%s' has rank %zu (max %d)", path, name,
                       t->n_dims, FC_MAX_RANK);
    int64_t count;
    if (fc_dims_count((int)t->n_dims, t->dims, &count) != 0)
        return fc_fail(err, FC_ELIMIT, "%s: tensor '%s' has negative or overflowing dimensions", path,
                       name);
    v->dtype = is_float_type(dt) ? FC_F32 : FC_I64;
    v->c.dtype = v->dtype;
    v->c.rank = (int)t->n_dims;
    for (size_t i = 0; i < t->n_dims; i++) v->c.dims[i] = t->dims[i];
    size_t want = (size_t)count * esz;
    int external = t->has_data_location && t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
    /* the data held in the file must match the shape before anything that size is allocated: a
     * few bytes of protobuf can declare a 64 GiB tensor */
    size_t have = 0;
    if (!external && t->has_raw_data) {
        have = t->raw_data.len;
        if (have != want)
            return fc_fail(err, FC_EFORMAT, "%s: tensor '%s' holds %zu bytes but its shape needs %zu",
                           path, name, have, want);
    } else if (!external) {
        if (dt == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT) have = t->n_float_data;
        else if (dt == ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE) have = t->n_double_data;
        else if (dt == ONNX__TENSOR_PROTO__DATA_TYPE__INT64) have = t->n_int64_data;
        else if (dt == ONNX__TENSOR_PROTO__DATA_TYPE__UINT64 || dt == ONNX__TENSOR_PROTO__DATA_TYPE__UINT32) have = t->n_uint64_data;
        else have = t->n_int32_data;
        if (have != (size_t)count)
            return fc_fail(err, FC_EFORMAT, "%s: tensor '%s' holds %zu values but its shape needs %lld",
                           path, name, have, (long long)count);
    }
    uint8_t *ext_buf = NULL; /* external data, read (after its size is checked) before dst exists */
    if (external && !ext)
        return fc_fail(err, FC_EUNSUPPORTED, "%s: tensor '%s' has external data, which needs the "
                       "model's file (this model was given from memory)", path, name);
    int rc = external ? read_external(path, t, want, &ext_buf, err) : 0;
    if (rc) return rc;
    void *dst = malloc((size_t)count * fc_dtype_size(v->dtype) + 64);
    if (!dst) { free(ext_buf); return fc_fail(err, FC_ENOMEM, "%s: tensor '%s': out of memory", path, name); }
    if (external) {
        convert_raw(dt, ext_buf, count, dst);
        free(ext_buf);
    } else if (t->has_raw_data) {
        convert_raw(dt, t->raw_data.data, count, dst);
    } else {
        float *f = dst;
        int64_t *q = dst;
        for (int64_t i = 0; i < count; i++) {
            switch (dt) {
            case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT: f[i] = t->float_data[i]; break;
            case ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE: f[i] = (float)t->double_data[i]; break;
            case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16: f[i] = half_to_float((uint16_t)t->int32_data[i]); break;
            case ONNX__TENSOR_PROTO__DATA_TYPE__INT64: q[i] = t->int64_data[i]; break;
            case ONNX__TENSOR_PROTO__DATA_TYPE__UINT64: case ONNX__TENSOR_PROTO__DATA_TYPE__UINT32: q[i] = (int64_t)t->uint64_data[i]; break;
            default: q[i] = t->int32_data[i]; break;
            }
        }
    }
    free(v->c.data);
    v->c.data = dst;
    return 0;
}

/* Constant node -> constant value (value, value_float(s), value_int(s)). */
static int convert_constant(const char *path, int ext, fc_graph *g, const Onnx__NodeProto *np, fc_error *err) {
    if (np->n_output != 1 || !np->output[0][0] || np->n_attribute != 1)
        return fc_fail(err, FC_EFORMAT, "%s: Constant node '%s' needs one output and one attribute",
                       path, np->name ? np->name : "");
    const Onnx__AttributeProto *a = np->attribute[0];
    if (!a->name)
        return fc_fail(err, FC_EFORMAT, "%s: Constant node '%s' has an attribute without a name", path,
                       np->name ? np->name : "");
    int v = fc_graph_intern(g, np->output[0]);
    if (v < 0) return fc_fail(err, FC_ENOMEM, "%s: out of memory", path);
    fc_value *val = &g->values[v];
    if (val->c.data || val->producer >= 0)
        return fc_fail(err, FC_EFORMAT, "%s: tensor '%s' is defined twice", path, val->name);
    if (!strcmp(a->name, "value") && a->t) return convert_tensor(path, ext, a->t, val, err);
    int is_float = !strcmp(a->name, "value_float") || !strcmp(a->name, "value_floats");
    int is_int = !strcmp(a->name, "value_int") || !strcmp(a->name, "value_ints");
    if (!is_float && !is_int)
        return fc_fail(err, FC_EUNSUPPORTED, "%s: Constant node '%s' uses attribute '%s' (supported: "
                       "value, value_float(s), value_int(s))", path, np->name ? np->name : "", a->name);
    int scalar = !strcmp(a->name, "value_float") || !strcmp(a->name, "value_int");
    size_t n = scalar ? 1 : (is_float ? a->n_floats : a->n_ints);
    val->dtype = val->c.dtype = is_float ? FC_F32 : FC_I64;
    val->c.rank = scalar ? 0 : 1;
    val->c.dims[0] = (int64_t)n;
    val->c.data = malloc(n * 8 + 8);
    if (!val->c.data) return fc_fail(err, FC_ENOMEM, "%s: out of memory", path);
    for (size_t i = 0; i < n; i++) {
        if (is_float) ((float *)val->c.data)[i] = scalar ? a->f : a->floats[i];
        else ((int64_t *)val->c.data)[i] = scalar ? a->i : a->ints[i];
    }
    return 0;
}

static int convert_attr(const char *path, int ext, fc_graph *g, const Onnx__NodeProto *np,
                        const Onnx__AttributeProto *a, fc_attr *out, fc_error *err) {
    memset(out, 0, sizeof *out);
    out->tensor = -1;
    if (!a->name || !*a->name)
        return fc_fail(err, FC_EFORMAT, "%s: node '%s' has an attribute without a name", path,
                       np->name ? np->name : "");
    out->name = strdup(a->name);
    if (!out->name) return fc_fail(err, FC_ENOMEM, "%s: out of memory", path);
    int type = a->has_type ? (int)a->type : 0;
    switch (type) {
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT: out->type = FC_ATTR_FLOAT; out->f = a->f; return 0;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT: out->type = FC_ATTR_INT; out->i = a->i; return 0;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING:
        out->type = FC_ATTR_STRING;
        out->s = malloc(a->s.len + 1);
        if (!out->s) return fc_fail(err, FC_ENOMEM, "%s: out of memory", path);
        if (a->s.len) memcpy(out->s, a->s.data, a->s.len); /* an empty field has data NULL */
        out->s[a->s.len] = 0;
        return 0;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS:
        out->type = FC_ATTR_FLOATS;
        out->n = (int)a->n_floats;
        out->floats = malloc(a->n_floats * sizeof(float) + 1);
        if (!out->floats) return fc_fail(err, FC_ENOMEM, "%s: out of memory", path);
        if (a->n_floats) memcpy(out->floats, a->floats, a->n_floats * sizeof(float));
        return 0;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS:
        out->type = FC_ATTR_INTS;
        out->n = (int)a->n_ints;
        out->ints = malloc(a->n_ints * sizeof(int64_t) + 1);
        if (!out->ints) return fc_fail(err, FC_ENOMEM, "%s: out of memory", path);
        if (a->n_ints) memcpy(out->ints, a->ints, a->n_ints * sizeof(int64_t));
        return 0;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR: {
        if (!a->t) break;
        out->type = FC_ATTR_TENSOR;
        int v = fc_graph_new_value(g, a->name);
        if (v < 0) return fc_fail(err, FC_ENOMEM, "%s: out of memory", path);
        out->tensor = v;
        return convert_tensor(path, ext, a->t, &g->values[v], err);
    }
    default: break;
    }
    return fc_fail(err, FC_EUNSUPPORTED, "%s: node '%s' (%s): attribute '%s' has a type featcache "
                   "does not support (%d)", path, np->name ? np->name : "", np->op_type ? np->op_type : "",
                   a->name, type);
}

static int convert_node(const char *path, int ext, fc_graph *g, const Onnx__NodeProto *np, fc_error *err) {
    const char *op_type = np->op_type ? np->op_type : "";
    const char *name = np->name && *np->name ? np->name : (np->n_output ? np->output[0] : "");
    if (np->domain && *np->domain && strcmp(np->domain, "ai.onnx") != 0)
        return fc_fail(err, FC_EUNSUPPORTED, "%s: node '%s' uses operator '%s' from domain '%s'; "
                       "featcache supports the standard ONNX domain only", path, name, op_type,
                       np->domain);
    if (!strcmp(op_type, "Constant")) return convert_constant(path, ext, g, np, err);
    const fc_op_def *op = fc_op_find(op_type);
    if (!op)
        return fc_fail(err, FC_EUNSUPPORTED, "%s: unsupported operator '%s' (node '%s'); supported: %s",
                       path, op_type, name, fc_op_list());
    /* every supported operator reads input 0 and writes output 0; the ops assume both exist */
    if (np->n_input == 0 || !np->input[0][0] || np->n_output == 0 || !np->output[0][0])
        return fc_fail(err, FC_EFORMAT, "%s: node '%s' (%s) has no %s", path, name, op_type,
                       np->n_input == 0 || !np->input[0][0] ? "first input" : "first output");
    int idx = fc_graph_add_node(g, name, op_type, (int)np->n_input, (int)np->n_output);
    if (idx < 0) return fc_fail(err, FC_ENOMEM, "%s: out of memory", path);
    fc_node *n = &g->nodes[idx];
    n->op = op;
    for (size_t i = 0; i < np->n_input; i++) {
        if (!np->input[i][0]) { n->in[i] = -1; continue; }
        int v = fc_graph_intern(g, np->input[i]);
        if (v < 0) return fc_fail(err, FC_ENOMEM, "%s: out of memory", path);
        g->nodes[idx].in[i] = v;
    }
    for (size_t i = 0; i < np->n_output; i++) {
        if (!np->output[i][0]) { g->nodes[idx].out[i] = -1; continue; }
        int v = fc_graph_intern(g, np->output[i]);
        if (v < 0) return fc_fail(err, FC_ENOMEM, "%s: out of memory", path);
        fc_value *val = &g->values[v];
        if (val->producer >= 0 || val->c.data || val->is_input)
            return fc_fail(err, FC_EFORMAT, "%s: tensor '%s' is produced twice (node '%s')", path,
                           val->name, name);
        val->producer = idx;
        g->nodes[idx].out[i] = v;
    }
    n = &g->nodes[idx];
    n->attr = calloc(np->n_attribute + 1, sizeof(fc_attr));
    if (!n->attr) return fc_fail(err, FC_ENOMEM, "%s: out of memory", path);
    for (size_t i = 0; i < np->n_attribute; i++) {
        fc_attr tmp;
        int rc = convert_attr(path, ext, g, np, np->attribute[i], &tmp, err);
        n = &g->nodes[idx];
        n->attr[n->n_attr++] = tmp; /* owned even on error, freed with the graph */
        if (rc) return rc;
    }
    return 0;
}

static int convert_input(const char *path, fc_graph *g, const Onnx__ValueInfoProto *vi,
                         fc_error *err) {
    if (!vi->name || !*vi->name) return fc_fail(err, FC_EFORMAT, "%s: a graph input has no name", path);
    int v = fc_graph_intern(g, vi->name);
    if (v < 0) return fc_fail(err, FC_ENOMEM, "%s: out of memory", path);
    if (g->values[v].c.data) return 0; /* an initializer listed as input (old exporters) */
    if (g->input >= 0)
        return fc_fail(err, FC_EUNSUPPORTED, "%s: the model has several data inputs ('%s', '%s'); "
                       "featcache runs single-input image models", path, g->values[g->input].name,
                       vi->name);
    fc_value *val = &g->values[v];
    val->is_input = 1;
    g->input = v;
    const Onnx__TypeProto *tp = vi->type;
    if (!tp || tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !tp->tensor_type)
        return fc_fail(err, FC_EUNSUPPORTED, "%s: input '%s' is not a tensor", path, vi->name);
    if (tp->tensor_type->has_elem_type && tp->tensor_type->elem_type != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT)
        return fc_fail(err, FC_EUNSUPPORTED, "%s: input '%s' has element type %d; featcache feeds "
                       "float32 images", path, vi->name, tp->tensor_type->elem_type);
    const Onnx__TensorShapeProto *sp = tp->tensor_type->shape;
    if (sp) {
        if (sp->n_dim > FC_MAX_RANK)
            return fc_fail(err, FC_EUNSUPPORTED, "%s: input '%s' has rank %zu", path, vi->name, sp->n_dim);
        val->decl_rank = (int)sp->n_dim;
        for (size_t i = 0; i < sp->n_dim; i++) {
            const Onnx__TensorShapeProto__Dimension *d = sp->dim[i];
            int64_t x = d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE ? d->dim_value : -1;
            if (x > (1 << 24))
                return fc_fail(err, FC_ELIMIT, "%s: input '%s' declares dimension %lld (absurd)", path,
                               vi->name, (long long)x);
            val->decl_dims[i] = x > 0 ? x : -1;
        }
    }
    return 0;
}

/* Converts m (freed here, also on error) into *out. */
static int import_model(const char *path, int ext, Onnx__ModelProto *m, fc_graph **out, fc_error *err) {
    int rc;
    fc_graph *g = NULL;
    const Onnx__GraphProto *gp = m->graph;
    if (!gp || gp->n_node == 0) {
        rc = fc_fail(err, FC_EFORMAT, "%s: the ONNX model has no graph or no nodes", path);
        goto fail;
    }
    int opset = fc_onnx_opset(m);
    if (opset < MIN_OPSET || opset > MAX_OPSET) {
        rc = fc_fail(err, FC_EUNSUPPORTED, "%s: opset %d is not supported (featcache reads opset %d to "
                     "%d)", path, opset, MIN_OPSET, MAX_OPSET);
        goto fail;
    }
    g = fc_graph_new();
    if (!g) { rc = fc_fail(err, FC_ENOMEM, "%s: out of memory", path); goto fail; }
    g->opset = opset;
    for (size_t i = 0; i < gp->n_initializer; i++) {
        const Onnx__TensorProto *t = gp->initializer[i];
        if (!t->name || !*t->name) { rc = fc_fail(err, FC_EFORMAT, "%s: an initializer has no name", path); goto fail; }
        int v = fc_graph_intern(g, t->name);
        if (v < 0) { rc = fc_fail(err, FC_ENOMEM, "%s: out of memory", path); goto fail; }
        if (g->values[v].c.data) { rc = fc_fail(err, FC_EFORMAT, "%s: initializer '%s' appears twice", path, t->name); goto fail; }
        if ((rc = convert_tensor(path, ext, t, &g->values[v], err))) goto fail;
    }
    for (size_t i = 0; i < gp->n_input; i++)
        if ((rc = convert_input(path, g, gp->input[i], err))) goto fail;
    if (g->input < 0) { rc = fc_fail(err, FC_EFORMAT, "%s: the model has no data input", path); goto fail; }
    for (size_t i = 0; i < gp->n_node; i++)
        if ((rc = convert_node(path, ext, g, gp->node[i], err))) goto fail;
    if (gp->n_output == 0) { rc = fc_fail(err, FC_EFORMAT, "%s: the model has no outputs", path); goto fail; }
    g->outputs = malloc(gp->n_output * sizeof(int));
    if (!g->outputs) { rc = fc_fail(err, FC_ENOMEM, "%s: out of memory", path); goto fail; }
    for (size_t i = 0; i < gp->n_output; i++) {
        if (!gp->output[i]->name) { rc = fc_fail(err, FC_EFORMAT, "%s: a graph output has no name", path); goto fail; }
        int v = fc_graph_find(g, gp->output[i]->name);
        if (v < 0) { rc = fc_fail(err, FC_EFORMAT, "%s: output '%s' is not produced by any node", path, gp->output[i]->name); goto fail; }
        g->outputs[g->n_outputs++] = v;
    }
    fc_onnx_model_free(m);
    *out = g;
    return 0;
fail:
    fc_onnx_model_free(m);
    fc_graph_free(g);
    return rc;
}

int fc_onnx_import(const char *path, fc_graph **out, fc_error *err) {
    return fc_onnx_import_files(path, out, NULL, NULL, err);
}

/* Imports m, read from the file at path (beside which its external data lies), with the list of
 * those files unless files is NULL. */
static int import_file_model(const char *path, Onnx__ModelProto *m, fc_graph **out, char ***files, int *n,
                             fc_error *err) {
    int rc = 0;
    if (files && (rc = proto_data_files(path, m, files, n, err))) {
        fc_onnx_model_free(m);
        return rc;
    }
    rc = import_model(path, 1, m, out, err);
    if (rc && files) {
        fc_onnx_data_files_free(*files, *n);
        *files = NULL;
        *n = 0;
    }
    return rc;
}

int fc_onnx_import_files(const char *path, fc_graph **out, char ***files, int *n, fc_error *err) {
    *out = NULL;
    Onnx__ModelProto *m;
    int rc = fc_onnx_read(path, &m, err);
    return rc ? rc : import_file_model(path, m, out, files, n, err);
}

int fc_onnx_import_file_bytes(const char *path, const void *data, size_t size, fc_graph **out, char ***files,
                              int *n, fc_error *err) {
    *out = NULL;
    Onnx__ModelProto *m;
    int rc = fc_onnx_read_mem(path, data, size, &m, err);
    return rc ? rc : import_file_model(path, m, out, files, n, err);
}

int fc_onnx_import_mem(const char *name, const void *data, size_t size, fc_graph **out, fc_error *err) {
    *out = NULL;
    if (!name) name = "<memory>";
    Onnx__ModelProto *m;
    int rc = fc_onnx_read_mem(name, data, size, &m, err);
    return rc ? rc : import_model(name, 0, m, out, err);
}
