/* ONNX file -> fc_graph, internal to engine/ (model.c calls it). Reads the protobuf with onnx_io.h,
 * converts initializers (raw, typed or external data) to constant values, Constant nodes to
 * constants, attributes to fc_attr, and checks what a later stage would trip on: unsupported ops
 * (named with their node), foreign domains, opset range, dims that overflow, data sizes that do not
 * match, external-data locations outside the model's folder. Not here: optimization, execution. */
#ifndef FC_ONNX_IMPORT_H
#define FC_ONNX_IMPORT_H

#include "core/core.h"
#include "engine/graph.h"

/* On success *out holds a graph whose outputs are the model's graph outputs (not yet finalized).
 * Errors: FC_EIO (cannot read), FC_EFORMAT (corrupt/inconsistent), FC_EUNSUPPORTED (op, dtype,
 * opset, several data inputs), FC_ELIMIT (sizes). Messages start with the path. Thread-safe. */
int fc_onnx_import(const char *path, fc_graph **out, fc_error *err);
/* The same, with the file's external data files (as fc_onnx_data_files lists them, from the same
 * read of the file, their errors first) in *files and *n unless files is NULL; none on error. */
int fc_onnx_import_files(const char *path, fc_graph **out, char ***files, int *n, fc_error *err);
/* fc_onnx_import_files on the file's bytes, already read by the caller (data, size; only read
 * during the call): external data files are found beside path as when it reads them itself. */
int fc_onnx_import_file_bytes(const char *path, const void *data, size_t size, fc_graph **out, char ***files,
                              int *n, fc_error *err);
/* The same for a model held in memory (data is only read during the call); `name` (NULL gives
 * "<memory>") starts the messages. Tensors with external data are refused (FC_EUNSUPPORTED): there
 * is no model folder to read them from. */
int fc_onnx_import_mem(const char *name, const void *data, size_t size, fc_graph **out, fc_error *err);

/* The external data files the tensors of the model file at path read, each once, in the order
 * the model first names them, as real paths (resolved and refused exactly as import does: a
 * location outside the model's folder is FC_EFORMAT). *files (NULL when there are none) is freed
 * with fc_onnx_data_files_free. Errors: those of fc_onnx_read, FC_EIO (a file cannot be resolved),
 * FC_EFORMAT, FC_ENOMEM. */
int fc_onnx_data_files(const char *path, char ***files, int *n, fc_error *err);
void fc_onnx_data_files_free(char **files, int n);

#endif
