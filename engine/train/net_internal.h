/* The layout of fc_train_net and the build state its files share: net.c (build: import, node
 * selection, memory; parameter access), net_map.c (one graph node -> one training op, with its
 * shapes), net_run.c (forward and backward over the ops), net_export.c (trained values back into
 * the ONNX model). Internal to engine/train; the API is net.h. */
#ifndef FC_TRAIN_NET_INTERNAL_H
#define FC_TRAIN_NET_INTERNAL_H

#include "engine/graph.h"
#include "engine/train/net.h"

/* What a net op computes (each runs one training op family). */
enum {
    NET_CONV,    /* fc_conv2d: in[0] (C,H,W) -> (OC,OH,OW), params w, b (b may be -1) */
    NET_LINEAR,  /* fc_linear: in[0] (C) -> (OC), params w (OC,C), b (may be -1) */
    NET_ADD,     /* in[0] + in[1], same shape */
    NET_MUL,     /* in[0] * in[1], same shape */
    NET_MULC,    /* in[map] (C,H*W) * in[1 - map] (C): per-channel scale */
    NET_ACT,     /* act(in[0]) */
    NET_GAP,     /* (C,H,W) -> (C) plane means */
    NET_AVGPOOL, /* (C,H,W) -> (C,OH,OW) */
    NET_MAXPOOL,
    NET_CONCAT,  /* n_in inputs (cs[i],H*W) -> (sum cs, H*W) */
    NET_BN,      /* BatchNorm (C,H*W), params w = scale, b = shift; frozen statistics, or training
                    mode (bn_train) */
    NET_SOFTMAX  /* (C) -> (C) over the classes (a classifier's last node) */
};

typedef struct net_op {
    int kind;               /* NET_* */
    char *name, *type;      /* the graph node's name and op_type (messages) */
    int n_in;
    int *in;                /* slots read (computed tensors only) */
    int out;                /* slot written */
    int w, b;               /* parameter indices, -1 when none */
    int C, H, W;            /* one image of in[0] (Linear: C is IC; MulC: of the map) */
    int OC;                 /* Conv/Linear output channels */
    fc_conv2d cv;           /* cv.act: a fused Relu or Clip (net_fuse.c), also in act */
    fc_win2d win;           /* pools */
    int count_include_pad;  /* AveragePool */
    fc_act act;             /* Act; a Conv's fused act; the gate of a GlobalAveragePool (net_fuse.c) */
    int act_gated;          /* Conv with a fused act: the reader of its output masks the gradient */
    int map;                /* MulC: which input is the (C,H,W) map (0 or 1) */
    int *cs;                /* Concat: channels of each input */
    const float **srcs;     /* Concat: forward inputs, filled per run */
    float **dsts;           /* Concat: gradient targets, filled per run */
    float *stats;           /* BatchNorm: running mean (C) then running var (C), owned */
    float eps;
    int bn_train;           /* BatchNorm in training mode (fc_train_net_options.bn_train) */
    float momentum;         /* its running-average update, PyTorch's convention */
    float *saved;           /* its batch mean (C) then rstd (C) of the last training forward, owned */
    char *stat_names[2];    /* its mean and var initializers (the export writes the running stats) */
    /* a Conv whose BatchNormalization was folded into it: the Conv's output tensor in the file and
     * the BatchNormalization's (what the Conv writes after the export); NULL when none */
    char *fold_from, *fold_to;
} net_op;

/* Storage of one computed tensor (views share their source's slot). */
typedef struct net_slot {
    size_t per;      /* floats per image */
    float *data;     /* (batch, per) forward values */
    float *grad;     /* (batch, per) gradient in the liveness-planned arena; NULL for the input
                        and feature slots (the caller's dinput / dout stand in at run time) */
    int first, last; /* backward steps (op indices) between which grad is live: the last reader's
                        op (first write) down to the producer's op (last read) */
    int written;     /* during a backward: grad holds a value (later writers add) */
} net_slot;

typedef struct net_param {
    char *name;
    int rank;
    int64_t dims[4];
    size_t count, offset; /* offset in net->values / net->grads */
    int decay;
    int transposed;       /* stored (OC, IC), the initializer is (IC, OC) */
    const float *src;     /* build only: the graph's value to copy */
} net_param;

struct fc_train_net {
    fc_train_ws ws;
    int batch;
    int in_rank;
    int64_t in_dims[4];
    net_op *ops;
    int n_ops, cap_ops;
    net_slot *slots;      /* slot 0 is the cut */
    int n_slots, cap_slots;
    int feature;          /* the feature's slot */
    net_param *params;
    int n_params, cap_params;
    size_t n_values;      /* total parameter elements */
    float *values, *grads;
    float *arena, *grad_arena, *tmp; /* activations, gradients, one slot-sized accumulation buffer */
    int fwd_n;            /* images of the last forward, 0 before any */
    int training;         /* fc_train_net_set_training (1 after the build) */
    int fwd_training;     /* the mode of the last forward (its backward follows it) */
};

/* Build state shared by net.c and net_map.c. */
typedef struct net_build {
    const char *path;     /* the file, or the name of a model in memory (data) */
    const void *data;     /* the model in memory (size bytes), NULL: read path */
    size_t size;
    int bn_train;         /* fc_train_net_options.bn_train */
    fc_graph *g;
    fc_train_net *net;
    const fc_kernels *k;
    int cut, feat;        /* value indices */
    char *in_net;         /* per node: in the net (depends on the cut, the feature depends on it) */
    char *gate;           /* per node: a Sigmoid/HardSigmoid whose Mul computes x*gate(x) as one act */
    fc_tensor *vt;        /* per value: shape at the full batch; data for constants and for values
                             evaluated at build (shape computations) */
    void **owned;         /* per value: storage of build-time evaluated values */
    int *slot;            /* per value: its slot, -1 when not a computed tensor of the net */
    int *param_of;        /* per value: the parameter copied from it, -1 */
    int *orig_w, *orig_b, *orig_out; /* per node, before BatchNorm folding: in[1], in[2], out[0] */
} net_build;

/* Maps graph node i (in the net, not a gate) to a net op or a view, or evaluates it when it only
 * computes shapes; sets the shapes and slots of its outputs. Errors name the node (FC_EUNSUPPORTED,
 * FC_ESHAPE, FC_ENOMEM). net_map.c. */
int fc_train_net_map_node(net_build *b, int i, fc_error *err);
/* Marks in b->gate the Sigmoid/HardSigmoid nodes of x * gate(x) pairs the mapping turns into one
 * SiLU/HardSwish (the gate's output has no other reader and is not a requested tensor). */
void fc_train_net_find_gates(net_build *b);
/* Fuses Relu and Clip into the convolution before them where nothing else reads the convolution's
 * output (net_fuse.c); after the mapping, before memory is planned. */
void fc_train_net_fuse(fc_train_net *net);
/* Frees what an op owns. */
void fc_train_net_op_free(net_op *op);

/* One op's forward / backward on n images (net_run.c); errors are prefixed with the node. */
int fc_train_net_op_forward(fc_train_net *net, net_op *op, int n, fc_error *err);
/* dout: the gradient of op's output (the caller's for the feature slot). Input gradients go to the
 * slots' grad buffers (slot 0's is the caller's dinput during a backward, or NULL). */
int fc_train_net_op_backward(fc_train_net *net, net_op *op, int n, const float *dout,
                             fc_error *err);

#endif
