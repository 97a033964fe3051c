/* fc_model's layout, shared by model.c (loading), plan.c (planning/running) and session.c only. */
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
