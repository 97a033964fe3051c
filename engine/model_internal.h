/* fc_model's layout, shared by model.c (loading) and session.c (planning/running) only. */
#ifndef FC_MODEL_INTERNAL_H
#define FC_MODEL_INTERNAL_H

#include "engine/graph.h"
#include "engine/model.h"

struct fc_model {
    char *path;
    fc_graph *g;
    const fc_kernels *k;
};

#endif
