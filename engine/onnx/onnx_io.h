/* ONNX protobuf read and write, shared by the importer (onnx_import.c), head files and the
 * backbone + head merge (classify/). Reading: a file or a buffer -> an unpacked Onnx__ModelProto
 * under featcache's size limit. Writing: a pool that owns every piece of a model under
 * construction, builders for nodes, attributes, tensors, metadata and value infos, and one call
 * that packs a model and replaces a file atomically. The types are protobuf-c's, generated from
 * libonnx-dev's onnx.proto. Not here: what a model means (onnx_import.c converts it to fc_graph),
 * validation beyond the protobuf itself. */
#ifndef FC_ONNX_IO_H
#define FC_ONNX_IO_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"
#include "onnx/onnx.pb-c.h" /* generated from libonnx-dev's onnx.proto */

/* Largest ONNX file accepted (protobuf's own limit is 2 GiB). */
#define FC_ONNX_MAX_BYTES (2047LL << 20)

/* ---- reading ---- */

/* Reads the file at path (at most FC_ONNX_MAX_BYTES) and unpacks it into *out (free with
 * fc_onnx_model_free; NULL on error). Errors: FC_EIO (cannot read), FC_ELIMIT (too large),
 * FC_ENOMEM, FC_EFORMAT ("PATH: not a valid ONNX model (protobuf parsing failed: ...)"; only this
 * one code means the bytes are not a model, so a reader of a narrower format may reword it).
 * Nothing beyond the protobuf is checked: m->graph may be NULL. Thread-safe. */
int fc_onnx_read(const char *path, Onnx__ModelProto **out, fc_error *err);
/* The same for a model held in memory (data is only read during the call); `name` (NULL gives
 * "<memory>") starts the messages. Over FC_ONNX_MAX_BYTES is FC_ELIMIT. */
int fc_onnx_read_mem(const char *name, const void *data, size_t size, Onnx__ModelProto **out,
                     fc_error *err);
/* Frees a model from fc_onnx_read*. NULL-safe. */
void fc_onnx_model_free(Onnx__ModelProto *m);

/* The version of the default ("" or "ai.onnx") operator set m imports; 1 when none is declared
 * (as ONNX says). */
int fc_onnx_opset(const Onnx__ModelProto *m);

/* ---- writing ---- */

/* Every allocation of a model under construction, freed together. Zero-initialize before use.
 * Builders below return NULL when out of memory (the pool stays valid and is freed as usual). */
typedef struct fc_onnx_pool {
    void **ptrs;
    size_t n, cap;
} fc_onnx_pool;

/* Zeroed allocation owned by the pool; NULL when out of memory. */
void *fc_onnx_pool_alloc(fc_onnx_pool *p, size_t size);
/* printf into a pool-owned string; NULL when out of memory. */
char *fc_onnx_pool_printf(fc_onnx_pool *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Frees every allocation and zeroes the pool. NULL-safe. */
void fc_onnx_pool_free(fc_onnx_pool *p);

/* Node `op` (default domain) named `name` with inputs ins[0..n_in) and the one output `out`. The
 * strings are borrowed (they must outlive the packing), the arrays are the pool's. */
Onnx__NodeProto *fc_onnx_node(fc_onnx_pool *p, const char *op, const char *name, int n_in,
                              const char *const *ins, const char *out);
/* Appends an INT attribute (v) or an INTS attribute (vals[0..n), copied) to n; the returned
 * attribute is n's. NULL when n is NULL or out of memory. */
Onnx__AttributeProto *fc_onnx_attr_int(fc_onnx_pool *p, Onnx__NodeProto *n, const char *name, int64_t v);
Onnx__AttributeProto *fc_onnx_attr_ints(fc_onnx_pool *p, Onnx__NodeProto *n, const char *name,
                                        const int64_t *vals, size_t count);
/* Initializer `name` of ONNX data type dtype and shape dims[0..rank) whose raw_data points at
 * data (bytes long, not copied: it must outlive the packing). */
Onnx__TensorProto *fc_onnx_tensor_raw(fc_onnx_pool *p, const char *name, int dtype, int rank,
                                      const int64_t *dims, const void *data, size_t bytes);
/* m and g initialized as a model of the one graph g: IR version ir_version, the default operator
 * set at version opset (its entry from the pool), producer "featcache"; the caller fills in g's
 * name, nodes, initializers, inputs and outputs and m's metadata. -1 when out of memory. */
int fc_onnx_model_init(fc_onnx_pool *p, Onnx__ModelProto *m, Onnx__GraphProto *g, int opset, int ir_version);
/* metadata_props entry key = value (both borrowed); NULL also when value is NULL. */
Onnx__StringStringEntryProto *fc_onnx_meta(fc_onnx_pool *p, const char *key, const char *value);
/* Graph input/output `name`: a float tensor (N, d) with the batch N symbolic. */
Onnx__ValueInfoProto *fc_onnx_value_info_2d(fc_onnx_pool *p, const char *name, int64_t d);
/* The same of any shape dims[0..rank): a dim <= 0 is the symbolic batch N. */
Onnx__ValueInfoProto *fc_onnx_value_info(fc_onnx_pool *p, const char *name, int rank, const int64_t *dims);

/* Packs m and writes it to path through a temporary file in the same folder renamed over path
 * (path is either the old file or the complete new one). Errors: FC_ELIMIT (the packed model
 * would be over FC_ONNX_MAX_BYTES), FC_ENOMEM, FC_EIO (naming the file). Thread-safe for
 * distinct paths. */
int fc_onnx_write(const Onnx__ModelProto *m, const char *path, fc_error *err);
/* Packs m into *data (malloc'd, *size bytes; free() it): a model to keep in memory (e.g. for
 * fc_onnx_import_mem). name starts the messages. Errors: FC_ELIMIT, FC_ENOMEM. */
int fc_onnx_pack(const Onnx__ModelProto *m, const char *name, void **data, size_t *size, fc_error *err);

#endif
