/* Graph container: value/node storage, name lookup (open-addressing hash), attribute accessors,
 * topological sort and dead-node removal. Not here: importing (onnx_import.c) and rewriting passes
 * (graph_opt.c). */
#include "engine/graph.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/ops/ops.h"

typedef struct name_map {
    int *slot; /* value index or -1 */
    size_t cap; /* power of two */
    size_t used;
} name_map;

static uint64_t hash_str(const char *s) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    while (*s) h = (h ^ (unsigned char)*s++) * 1099511628211ull;
    return h;
}

static int map_grow(fc_graph *g) {
    name_map *m = g->names;
    size_t cap = m->cap ? m->cap * 2 : 256;
    int *slot = malloc(cap * sizeof *slot);
    if (!slot) return -1;
    for (size_t i = 0; i < cap; i++) slot[i] = -1;
    for (int v = 0; v < g->n_values; v++) {
        size_t h = hash_str(g->values[v].name) & (cap - 1);
        while (slot[h] >= 0) h = (h + 1) & (cap - 1);
        slot[h] = v;
    }
    free(m->slot);
    m->slot = slot;
    m->cap = cap;
    return 0;
}

fc_graph *fc_graph_new(void) {
    fc_graph *g = calloc(1, sizeof *g);
    if (!g) return NULL;
    g->names = calloc(1, sizeof(name_map));
    g->input = -1;
    if (!g->names || map_grow(g) != 0) {
        fc_graph_free(g);
        return NULL;
    }
    return g;
}

void fc_graph_free(fc_graph *g) {
    if (!g) return;
    for (int i = 0; i < g->n_nodes; i++) {
        fc_node *n = &g->nodes[i];
        if (n->state && n->op && n->op->free_state) n->op->free_state(n->state);
        for (int a = 0; a < n->n_attr; a++) {
            free(n->attr[a].name);
            free(n->attr[a].s);
            free(n->attr[a].floats);
            free(n->attr[a].ints);
        }
        free(n->attr);
        free(n->name);
        free(n->op_type);
        free(n->in);
        free(n->out);
        free(n->fusion);
    }
    for (int v = 0; v < g->n_values; v++) {
        free(g->values[v].name);
        free(g->values[v].c.data);
    }
    name_map *m = g->names;
    if (m) free(m->slot);
    free(m);
    free(g->values);
    free(g->nodes);
    free(g->order);
    free(g->outputs);
    free(g);
}

int fc_graph_find(const fc_graph *g, const char *name) {
    const name_map *m = g->names;
    size_t h = hash_str(name) & (m->cap - 1);
    while (m->slot[h] >= 0) {
        if (strcmp(g->values[m->slot[h]].name, name) == 0) return m->slot[h];
        h = (h + 1) & (m->cap - 1);
    }
    return -1;
}

static int add_value(fc_graph *g, const char *name) {
    name_map *m = g->names;
    if ((m->used + 1) * 2 > m->cap && map_grow(g) != 0) return -1;
    if (g->n_values == g->cap_values) {
        int cap = g->cap_values ? g->cap_values * 2 : 256;
        fc_value *nv = realloc(g->values, (size_t)cap * sizeof *nv);
        if (!nv) return -1;
        g->values = nv;
        g->cap_values = cap;
    }
    fc_value *v = &g->values[g->n_values];
    memset(v, 0, sizeof *v);
    v->name = strdup(name);
    if (!v->name) return -1;
    v->dtype = FC_F32;
    v->c.dtype = FC_F32;
    v->producer = -1;
    size_t h = hash_str(name) & (m->cap - 1);
    while (m->slot[h] >= 0) h = (h + 1) & (m->cap - 1);
    m->slot[h] = g->n_values;
    m->used++;
    return g->n_values++;
}

int fc_graph_intern(fc_graph *g, const char *name) {
    int v = fc_graph_find(g, name);
    return v >= 0 ? v : add_value(g, name);
}

int fc_graph_new_value(fc_graph *g, const char *base) {
    char name[512];
    for (int i = 0;; i++) {
        snprintf(name, sizeof name, "%s__fc%d", base, i);
        if (fc_graph_find(g, name) < 0) return add_value(g, name);
    }
}

int fc_graph_add_node(fc_graph *g, const char *name, const char *op_type, int n_in, int n_out) {
    if (g->n_nodes == g->cap_nodes) {
        int cap = g->cap_nodes ? g->cap_nodes * 2 : 256;
        fc_node *nn = realloc(g->nodes, (size_t)cap * sizeof *nn);
        if (!nn) return -1;
        g->nodes = nn;
        g->cap_nodes = cap;
    }
    fc_node *n = &g->nodes[g->n_nodes];
    memset(n, 0, sizeof *n);
    n->name = strdup(name ? name : "");
    n->op_type = strdup(op_type);
    n->in = calloc((size_t)n_in + 1, sizeof(int));
    n->out = calloc((size_t)n_out + 1, sizeof(int));
    if (!n->name || !n->op_type || !n->in || !n->out) {
        free(n->name); free(n->op_type); free(n->in); free(n->out);
        return -1;
    }
    n->n_in = n_in;
    n->n_out = n_out;
    return g->n_nodes++;
}

const fc_attr *fc_node_attr(const fc_node *n, const char *name) {
    for (int i = 0; i < n->n_attr; i++)
        if (strcmp(n->attr[i].name, name) == 0) return &n->attr[i];
    return NULL;
}

int64_t fc_attr_int(const fc_node *n, const char *name, int64_t dflt) {
    const fc_attr *a = fc_node_attr(n, name);
    return a && a->type == FC_ATTR_INT ? a->i : dflt;
}

float fc_attr_float(const fc_node *n, const char *name, float dflt) {
    const fc_attr *a = fc_node_attr(n, name);
    if (!a) return dflt;
    if (a->type == FC_ATTR_FLOAT) return a->f;
    if (a->type == FC_ATTR_INT) return (float)a->i;
    return dflt;
}

const char *fc_attr_string(const fc_node *n, const char *name, const char *dflt) {
    const fc_attr *a = fc_node_attr(n, name);
    return a && a->type == FC_ATTR_STRING ? a->s : dflt;
}

int fc_attr_ints(const fc_node *n, const char *name, int64_t *out, int max) {
    const fc_attr *a = fc_node_attr(n, name);
    if (!a || a->type != FC_ATTR_INTS) return 0;
    for (int i = 0; i < a->n && i < max; i++) out[i] = a->ints[i];
    return a->n;
}

int fc_graph_mark_producers(const fc_graph *g, const int *values, int n_values, char *live) {
    int *stack = malloc(((size_t)g->n_nodes + 1) * sizeof *stack);
    if (!stack) return -1;
    int sp = 0;
    for (int i = 0; i < n_values; i++) {
        int p = g->values[values[i]].producer;
        if (p >= 0 && !live[p]) { live[p] = 1; stack[sp++] = p; }
    }
    while (sp > 0) {
        const fc_node *n = &g->nodes[stack[--sp]];
        for (int i = 0; i < n->n_in; i++) {
            int v = n->in[i];
            if (v < 0) continue;
            int p = g->values[v].producer;
            if (p >= 0 && !live[p] && !g->nodes[p].dead) { live[p] = 1; stack[sp++] = p; }
        }
    }
    free(stack);
    return 0;
}

int fc_graph_finalize(fc_graph *g, fc_error *err) {
    int rc = FC_ENOMEM;
    char *live = calloc((size_t)g->n_nodes + 1, 1);
    int *indeg = calloc((size_t)g->n_nodes + 1, sizeof(int));
    int *queue = malloc(((size_t)g->n_nodes + 1) * sizeof(int));
    /* consumers as CSR: for each value, the live nodes reading it */
    int *cstart = calloc((size_t)g->n_values + 1, sizeof(int));
    int *clist = NULL;
    if (!live || !indeg || !queue || !cstart || fc_graph_mark_producers(g, g->outputs, g->n_outputs, live) != 0) goto fail;

    for (int i = 0; i < g->n_nodes; i++) {
        if (!live[i]) { g->nodes[i].dead = 1; continue; }
        const fc_node *n = &g->nodes[i];
        for (int k = 0; k < n->n_in; k++) {
            int v = n->in[k];
            if (v < 0) continue;
            const fc_value *val = &g->values[v];
            if (val->producer < 0 && !val->c.data && !val->is_input) {
                rc = fc_fail(err, FC_EFORMAT, "node '%s' (%s) reads '%s', which no node, initializer or "
                             "graph input defines", n->name, n->op_type, val->name);
                goto fail;
            }
            if (val->producer >= 0) { indeg[i]++; cstart[v + 1]++; }
        }
    }
    for (int v = 0; v < g->n_values; v++) cstart[v + 1] += cstart[v];
    clist = malloc(((size_t)cstart[g->n_values] + 1) * sizeof(int));
    int *fill = calloc((size_t)g->n_values + 1, sizeof(int));
    if (!clist || !fill) { free(fill); goto fail; }
    for (int i = 0; i < g->n_nodes; i++) {
        if (!live[i]) continue;
        const fc_node *n = &g->nodes[i];
        for (int k = 0; k < n->n_in; k++) {
            int v = n->in[k];
            if (v >= 0 && g->values[v].producer >= 0) clist[cstart[v] + fill[v]++] = i;
        }
    }
    free(fill);

    /* Kahn's algorithm; a FIFO keeps the original order among ready nodes. */
    int head = 0, tail = 0;
    for (int i = 0; i < g->n_nodes; i++)
        if (live[i] && indeg[i] == 0) queue[tail++] = i;
    free(g->order);
    g->order = malloc(((size_t)g->n_nodes + 1) * sizeof(int));
    if (!g->order) goto fail;
    g->n_order = 0;
    while (head < tail) {
        int i = queue[head++];
        g->order[g->n_order++] = i;
        const fc_node *n = &g->nodes[i];
        for (int o = 0; o < n->n_out; o++) {
            int v = n->out[o];
            if (v < 0) continue;
            for (int c = cstart[v]; c < cstart[v + 1]; c++)
                if (--indeg[clist[c]] == 0) queue[tail++] = clist[c];
        }
    }
    int n_live = 0;
    for (int i = 0; i < g->n_nodes; i++) n_live += live[i];
    if (g->n_order != n_live) {
        for (int i = 0; i < g->n_nodes; i++)
            if (live[i] && indeg[i] > 0) {
                rc = fc_fail(err, FC_EFORMAT, "the graph has a cycle through node '%s' (%s)",
                             g->nodes[i].name, g->nodes[i].op_type);
                goto fail;
            }
    }
    for (int v = 0; v < g->n_values; v++) g->values[v].n_uses = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        if (!live[i]) continue;
        const fc_node *n = &g->nodes[i];
        for (int k = 0; k < n->n_in; k++) {
            int v = n->in[k];
            if (v >= 0) g->values[v].n_uses++;
        }
    }
    for (int i = 0; i < g->n_outputs; i++) g->values[g->outputs[i]].n_uses++;
    rc = 0;
fail:
    free(live);
    free(indeg);
    free(queue);
    free(cstart);
    free(clist);
    return rc;
}
