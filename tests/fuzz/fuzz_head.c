/* libFuzzer target: head file bytes -> fc_head_load_onnx_mem (protobuf parse, node structure,
 * initializer shapes and sizes, class names JSON, fc_head_check); a loaded head then predicts two
 * rows of zeros (the checks must have made it safe to run). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "classify/head_onnx.h"

/* Status and message of the last library call this input reached (0 = all succeeded):
 * replay_main checks them against the expected codes of the regression files. */
int fuzz_status;
fc_error fuzz_error;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_status = 0;
    fuzz_error.msg[0] = 0;
    fc_head h;
    char *meta = NULL;
    if ((fuzz_status = fc_head_load_onnx_mem("fuzz-head.onnx", data, size, &h, &meta, &fuzz_error)) != 0) return 0;
    int d = h.layers[0].in, k = h.n_classes;
    if (d > 0 && k > 0 && (long long)d * k < (1 << 24)) {
        float *x = calloc((size_t)2 * d, sizeof(float)), *p = malloc((size_t)2 * k * sizeof(float));
        fuzz_status = x && p ? fc_head_predict_proba(&h, x, 2, d, p, 1, &fuzz_error) : FC_ENOMEM;
        free(x);
        free(p);
    }
    free(meta);
    fc_head_free(&h);
    return 0;
}
