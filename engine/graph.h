/* In-memory graph (IR) that the ONNX importer builds and the optimizer rewrites: values (tensors by
 * name) and nodes (operators) with their attributes. Owned by fc_model; immutable once the model is
 * loaded, so sessions on several threads may read it. Not here: protobuf parsing (onnx_import.c),
 * execution state (plan.c). */
#ifndef FC_GRAPH_H
#define FC_GRAPH_H

#include "core/core.h"
#include "engine/tensor.h"

enum { FC_ATTR_FLOAT = 1, FC_ATTR_INT, FC_ATTR_STRING, FC_ATTR_TENSOR, FC_ATTR_FLOATS, FC_ATTR_INTS };

typedef struct fc_attr {
    char *name;
    int type;     /* FC_ATTR_* */
    float f;
    int64_t i;
    char *s;      /* STRING, NUL-terminated copy */
    int n;        /* number of elements in floats/ints */
    float *floats;
    int64_t *ints;
    int tensor;   /* TENSOR: index of a constant value holding it */
} fc_attr;

typedef struct fc_value {
    char *name;
    int dtype;      /* FC_F32 / FC_I64 */
    fc_tensor c;    /* c.data != NULL: constant known at load (initializer, Constant, folded weights) */
    int producer;   /* node index, or -1 for graph input / constant */
    int n_uses;     /* live node inputs reading it */
    int is_input;   /* the graph's data input */
    int decl_rank;  /* declared shape of a graph input (dims -1 when symbolic), 0 = unknown */
    int64_t decl_dims[FC_MAX_RANK];
} fc_value;

struct fc_op_def;
struct fc_fusion;

typedef struct fc_node {
    char *name;
    char *op_type; /* as in the file (ONNX) */
    /* the implementation: fc_op_find(op_type), or an internal op a rewrite put in its place (a
     * depthwise block, ops/conv_block.c) */
    const struct fc_op_def *op;
    int n_in, n_out;
    int *in;      /* value indices; -1 for an omitted optional input */
    int *out;
    int n_attr;
    fc_attr *attr;
    /* What the load-time rewrites fused into this node (fusion.h), NULL when nothing: the ops that
     * run fused nodes read it; the graph only frees it. */
    struct fc_fusion *fusion;
    void *state;  /* op-private data prepared at load (packed weights); freed by op->free_state */
    int dead;     /* removed by an optimization pass (the IR's own liveness, used by every pass) */
} fc_node;

typedef struct fc_graph {
    fc_value *values;
    int n_values, cap_values;
    fc_node *nodes;
    int n_nodes, cap_nodes;
    int *order;      /* live nodes in topological order */
    int n_order;
    int input;       /* value index of the data input */
    int *outputs;    /* requested outputs */
    int n_outputs;
    int opset;
    void *names;     /* name -> value index hash (graph.c) */
} fc_graph;

fc_graph *fc_graph_new(void);
void fc_graph_free(fc_graph *g);

/* Index of the value with this name, or -1. */
int fc_graph_find(const fc_graph *g, const char *name);
/* Index of the value with this name, created (dtype f32, no data) if absent; -1 on ENOMEM. */
int fc_graph_intern(fc_graph *g, const char *name);
/* New value with a unique generated name derived from base; -1 on ENOMEM. */
int fc_graph_new_value(fc_graph *g, const char *base);
/* Appends a node (fields zeroed); returns its index or -1 on ENOMEM. Invalidates node
 * pointers. */
int fc_graph_add_node(fc_graph *g, const char *name, const char *op_type, int n_in, int n_out);

/* Attribute accessors: default when absent. */
const fc_attr *fc_node_attr(const fc_node *n, const char *name);
int64_t fc_attr_int(const fc_node *n, const char *name, int64_t dflt);
float fc_attr_float(const fc_node *n, const char *name, float dflt);
const char *fc_attr_string(const fc_node *n, const char *name, const char *dflt);
/* Copies up to max ints into out; returns how many the attribute has (0 if absent). */
int fc_attr_ints(const fc_node *n, const char *name, int64_t *out, int max);

/* Sets live[p] = 1 for every live node p that values[0..n_values) depend on (reverse reachability
 * through node inputs; live has n_nodes entries, already-set ones are not entered again). Returns 0,
 * or -1 when out of memory. */
int fc_graph_mark_producers(const fc_graph *g, const int *values, int n_values, char *live);

/* Checks that every input is defined, sorts live nodes topologically into g->order (FC_EFORMAT on a
 * cycle or an undefined input), removes nodes no requested output depends on, recounts n_uses. */
int fc_graph_finalize(fc_graph *g, fc_error *err);

#endif
