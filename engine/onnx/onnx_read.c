/* ONNX bytes -> Onnx__ModelProto (see onnx_io.h): the size limit, the protobuf unpack and the
 * messages for both, shared by every reader of ONNX files. Not here: any check of what the model
 * says (onnx_import.c, classify/head_onnx.c and classify/merge_onnx.c each check their own). */
#include "engine/onnx/onnx_io.h"

#include <stdlib.h>
#include <string.h>

static int unpack(const char *name, const void *data, size_t size, Onnx__ModelProto **out,
                  fc_error *err) {
    *out = onnx__model_proto__unpack(NULL, size, data);
    if (!*out)
        return fc_fail(err, FC_EFORMAT, "%s: not a valid ONNX model (protobuf parsing failed: the file "
                       "is truncated, corrupt or not ONNX)", name);
    return 0;
}

int fc_onnx_read(const char *path, Onnx__ModelProto **out, fc_error *err) {
    *out = NULL;
    unsigned char *bytes = NULL;
    size_t size = 0;
    int rc = fc_file_read(path, FC_ONNX_MAX_BYTES, &bytes, &size, err);
    if (rc) return rc;
    rc = unpack(path, bytes, size, out, err); /* protobuf-c copies what it keeps */
    free(bytes);
    return rc;
}

int fc_onnx_read_mem(const char *name, const void *data, size_t size, Onnx__ModelProto **out,
                     fc_error *err) {
    *out = NULL;
    if (!name) name = "<memory>";
    if (size > (size_t)FC_ONNX_MAX_BYTES)
        return fc_fail(err, FC_ELIMIT, "%s: %zu bytes is over the ONNX size limit", name, size);
    return unpack(name, data, size, out, err);
}

void fc_onnx_model_free(Onnx__ModelProto *m) {
    if (m) onnx__model_proto__free_unpacked(m, NULL);
}

int fc_onnx_opset(const Onnx__ModelProto *m) {
    int opset = 0;
    for (size_t i = 0; i < m->n_opset_import; i++) {
        const Onnx__OperatorSetIdProto *o = m->opset_import[i];
        if ((!o->domain || !*o->domain || !strcmp(o->domain, "ai.onnx")) && o->has_version)
            opset = (int)o->version;
    }
    return opset ? opset : 1;
}
