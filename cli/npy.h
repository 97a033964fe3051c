/* .npy files (NumPy format 1.0) for export and the fine-tuning trace. */
#ifndef FC_CLI_NPY_H
#define FC_CLI_NPY_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

/* Writes data (C order, shape dims[0..rank)) to path through a temporary file and a rename, so a
 * failed write leaves no partial file. descr is NumPy's type string: "<f4" (float32) or "<i8"
 * (int64); elem_size its bytes. FC_EIO naming path and the reason. */
int cli_npy_write(const char *path, const char *descr, size_t elem_size, int rank, const int64_t *dims,
                  const void *data, fc_error *err);

#endif
