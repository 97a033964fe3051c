/* The fitted classifier pipeline shared by every head kind (softmax regression, MLP, nearest class
 * mean) and by whatever reads or writes head files: a feature transform, then 1..3 affine layers
 * each followed by an optional ReLU, then a softmax over the classes. It is a plain struct with a
 * fixed, documented layout so an ONNX exporter maps it 1:1 onto Sub/Mul (or ReduceL2/Max/Div),
 * Gemm(transB=1), Relu and Softmax(axis=1). Not here: training (softmax.h, mlp.h, ncm.h), file I/O,
 * metrics. */

/* Layout (all float32, row-major, C order):
 *   transform              see transform.h (kind, dim D, mean (D), scale (D), eps)
 *   layers[0..n_layers)    layers[i].W (out, in): y = x W^T + b, i.e. ONNX Gemm with transB = 1,
 *                          alpha = beta = 1; layers[i].b (out); then layers[i].act
 *                          layers[0].in == D, layers[i].in == layers[i-1].out,
 *                          layers[n_layers-1].out == n_classes, last act is NONE
 *   softmax                always, over the last layer's outputs (axis 1)
 *   class_names            n_classes NUL-terminated strings, or NULL (classes are 0..K-1)
 * Softmax regression: 1 layer (W = coefficients (K, D), b = intercepts (K)). NCM: L2 transform + 1
 * layer (W = scale * normalized class means, b = 0). MLP: 2 or 3 layers, ReLU after the hidden ones.
 *
 * Ownership: an fc_head owns everything it points to (transform arrays, W, b, names); free it with
 * fc_head_free. A zero-initialized fc_head is empty and valid to free. Functions taking a const
 * head only read it and may run concurrently on the same head. To assemble one from fitted parts,
 * struct-copy the transform (transform.h) and the trainer's layers into it and set n_layers and
 * n_classes: the head then owns those arrays (do not free the originals separately). */
#ifndef FC_HEAD_H
#define FC_HEAD_H

#include "classify/transform.h"
#include "core/core.h"

#define FC_HEAD_MAX_LAYERS 3

typedef enum {
    FC_ACTIVATION_NONE = 0, /* identity */
    FC_ACTIVATION_RELU = 1, /* max(x, 0) */
} fc_activation;

typedef struct fc_layer {
    int in, out;       /* input and output features */
    float *W;          /* (out, in) owned */
    float *b;          /* (out) owned */
    fc_activation act; /* applied after x W^T + b */
} fc_layer;

typedef struct fc_head {
    fc_transform transform;
    int n_layers;
    fc_layer layers[FC_HEAD_MAX_LAYERS];
    int n_classes;
    char **class_names; /* (n_classes) owned, or NULL */
} fc_head;

/* Allocates W (out, in) and b (out), zero-filled, and sets the fields. l's old arrays are NOT
 * freed. Errors: FC_EINVAL (in or out < 1), FC_ENOMEM (l is zeroed). */
int fc_layer_alloc(fc_layer *l, int in, int out, fc_activation act, fc_error *err);
/* Deep copy (dst's old arrays are not freed). FC_ENOMEM (dst zeroed). */
int fc_layer_copy(fc_layer *dst, const fc_layer *src, fc_error *err);
/* Frees W and b and zeroes l. NULL-safe. */
void fc_layer_free(fc_layer *l);

/* out (n, l->out) = act(x (n, l->in) W^T + b), float32 with the engine's SGEMM, or for at most 16
 * outputs with row dot products accumulated in double (threads <= 0: all
 * cores). Errors: FC_EINVAL (NULL arrays), FC_ENOMEM. Thread-safe for distinct out. */
int fc_layer_forward(const fc_layer *l, const float *x /* (n, in) */, int n, float *out /* (n, out) */,
                     int threads, fc_error *err);

/* Copies the K names into the head (replacing old ones). Errors: FC_EINVAL when k differs from
 * h->n_classes or a name is NULL; FC_ENOMEM (old names kept). */
int fc_head_set_class_names(fc_head *h, const char *const *names, int k, fc_error *err);

/* Checks the layout rules above (dims chain, transform dim, last activation, non-NULL arrays,
 * finite parameters). FC_EFORMAT naming the offending layer. Thread-safe (reads only). */
int fc_head_check(const fc_head *h, fc_error *err);

/* P (n, K) = softmax(layers(transform(x))) for x (n, d). Rows with a NaN/Inf feature are refused
 * (FC_EINVAL naming the row and dim); d must equal layers[0].in (FC_ESHAPE otherwise); an
 * inconsistent head gives FC_EFORMAT. Probabilities are computed from float logits with a
 * max-shifted softmax in double, each row summing to 1 within float rounding. Allocates scratch of
 * about n * max(layer width) floats. threads <= 0: all cores. Thread-safe on a shared head. */
int fc_head_predict_proba(const fc_head *h, const float *x /* (n, d) */, int n, int d,
                          float *P /* (n, K) */, int threads, fc_error *err);
/* The same from rows already transformed by h->transform (t (n, layers[0].in)), which are not
 * checked for NaN/Inf: for evaluating several heads that share one fitted transform on the same
 * rows (a regularization path) without transforming them again per head. */
int fc_head_predict_proba_transformed(const fc_head *h, const float *t /* (n, d) */, int n,
                                      float *P /* (n, K) */, int threads, fc_error *err);

/* Frees everything the head owns and zeroes it. NULL-safe. */
void fc_head_free(fc_head *h);

/* Row-wise softmax of logits (n, k) into P (n, k) (may alias), max-shifted, in double. Never fails. */
void fc_logits_softmax(const float *logits /* (n, k) */, int n, int k, float *P /* (n, k) */);

#endif
