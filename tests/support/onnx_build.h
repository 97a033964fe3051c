/* Tiny ONNX model builder for tests: assembles a ModelProto with protobuf-c and writes it, so tests
 * can make valid and deliberately broken models (unknown ops, bad shapes, huge dims, external data)
 * without shipping files. Not a general ONNX writer: float inputs/initializers, int/ints/float attrs. */
#ifndef FC_ONNX_BUILD_H
#define FC_ONNX_BUILD_H
#include <stdint.h>

typedef struct ob_model ob_model;

ob_model *ob_new(int opset);
/* Data input with a 4-D shape (dims <= 0 become symbolic) and a graph output name. */
void ob_input(ob_model *m, const char *name, int64_t n, int64_t c, int64_t h, int64_t w);
/* Data input of any rank (0: no shape declared; dims <= 0 become symbolic). */
void ob_input_shape(ob_model *m, const char *name, int rank, const int64_t *dims);
void ob_output(ob_model *m, const char *name);
/* Float initializer with raw data (data may be NULL for zeros); rank <= 8. */
void ob_init(ob_model *m, const char *name, int rank, const int64_t *dims, const float *data);
/* Int64 initializer. */
void ob_init_i64(ob_model *m, const char *name, int n, const int64_t *data);
/* Initializer whose data lives in an external file (location/offset/length as given). */
void ob_init_external(ob_model *m, const char *name, int rank, const int64_t *dims, const char *location,
                      long long offset, long long length);
/* Node with comma-separated inputs/outputs ("" entries allowed); returns its index for attributes. */
int ob_node(ob_model *m, const char *op, const char *name, const char *inputs, const char *outputs);
void ob_attr_int(ob_model *m, int node, const char *name, int64_t v);
void ob_attr_float(ob_model *m, int node, const char *name, float v);
void ob_attr_ints(ob_model *m, int node, const char *name, int n, const int64_t *v);
/* Serializes to path and frees m; 0 on success. */
int ob_write(ob_model *m, const char *path);

#endif
