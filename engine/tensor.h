/* Tensor views: dtype, shape and a data pointer that the view does not own. Activations are float32;
 * shape-computing tensors (Shape, Gather on shapes, Reshape targets) are int64. Other ONNX integer
 * and bool types are widened to int64 at import, float16/double narrowed/widened to float32.
 * Not here: ownership, allocation (the model and session own memory). */
#ifndef FC_TENSOR_H
#define FC_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#define FC_MAX_RANK 8

enum { FC_F32 = 1, FC_I64 = 7 }; /* same numbers as ONNX TensorProto.DataType */

typedef struct fc_tensor {
    int dtype; /* FC_F32 or FC_I64 */
    int rank;
    int64_t dims[FC_MAX_RANK];
    void *data; /* NULL when only the shape is known */
} fc_tensor;

static inline int64_t fc_tensor_count(const fc_tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->rank; i++) n *= t->dims[i];
    return n;
}

static inline size_t fc_dtype_size(int dtype) { return dtype == FC_I64 ? 8 : 4; }

static inline size_t fc_tensor_bytes(const fc_tensor *t) {
    return (size_t)fc_tensor_count(t) * fc_dtype_size(t->dtype);
}

/* Largest element count any tensor may have (guards products of declared dims against overflow
 * and absurd sizes): 2^34 floats = 64 GiB, far beyond this tool's use. */
#define FC_MAX_ELEMENTS (1LL << 34)

/* Multiplies dims into *count with overflow/limit checks; 0 ok, -1 when a dim is negative or the
 * product exceeds FC_MAX_ELEMENTS. */
static inline int fc_dims_count(int rank, const int64_t *dims, int64_t *count) {
    int64_t n = 1;
    for (int i = 0; i < rank; i++) {
        if (dims[i] < 0) return -1;
        if (dims[i] > 0 && n > FC_MAX_ELEMENTS / dims[i]) return -1;
        n *= dims[i];
    }
    *count = n;
    return 0;
}

#endif
