/* fc_model's layout, shared by model.c (loading), plan.c (planning/running) and session.c only;
 * and the default feature rule on a bare graph (cuts.c analyses one without loading a model). */
#ifndef FC_MODEL_INTERNAL_H
#define FC_MODEL_INTERNAL_H

#include "engine/graph.h"
#include "engine/model.h"

struct fc_model {
    char *path;
    fc_graph *g;
    const fc_kernels *k;
    int described; /* loaded with describe_only: nothing prepared to run */
    char **data_files; /* the external data files the load read (fc_model_loaded_data_files) */
    int n_data_files;
};

/* fc_model_default_feature's answer for a graph whose outputs[0] is the model's first output. */
const char *fc_graph_default_feature(const fc_graph *g);

#endif
