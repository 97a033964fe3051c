/* libFuzzer target: ONNX bytes -> fc_model_load_mem (protobuf parse, import checks, constant folding,
 * BatchNorm folding, fusion, weight packing) -> fc_session_create for batch 1 (shape inference,
 * folding of shape computations, memory planning). Inference is not run, so each input stays fast;
 * image inputs are planned at their declared size only when it is small (else 16x16), and the plan
 * may take at most 256 MiB (larger plans are refused with FC_ELIMIT before anything is allocated). */
#include <stddef.h>
#include <stdint.h>

#include "engine/model.h"

/* Status and message of the last library call this input reached (0 = all succeeded):
 * replay_main checks them against the expected codes of the regression files. */
int fuzz_status;
fc_error fuzz_error;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_status = 0;
    fuzz_error.msg[0] = 0;
    fc_model *m = NULL;
    if ((fuzz_status = fc_model_load_mem("fuzz.onnx", data, size, NULL, &m, &fuzz_error)) != 0) return 0;
    int64_t dims[4];
    fc_model_input_dims(m, dims);
    fc_session_options so = {.batch = 1, .threads = 1, .max_bytes = 256 << 20};
    if (!(dims[2] > 0 && dims[2] <= 64 && dims[3] > 0 && dims[3] <= 64)) so.height = so.width = 16;
    fc_session *s = NULL;
    if ((fuzz_status = fc_session_create(m, &so, &s, &fuzz_error)) == 0) {
        for (int i = 0; i < fc_model_n_outputs(m); i++) (void)fc_session_output(s, i);
        fc_session_free(s);
    }
    (void)fc_model_default_feature(m);
    fc_model_free(m);
    return 0;
}
