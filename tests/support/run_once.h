/* The load-plan-run-copy step the small-model tests share: loads the ONNX file at path with mo,
 * makes a session with so, runs input x once and returns a malloc'd copy of output 0 (its element
 * count in *count, the session's step count in *steps when steps is not NULL). On failure records
 * a check failure naming the file and the engine's message, and returns NULL. */
#ifndef TEST_RUN_ONCE_H
#define TEST_RUN_ONCE_H

#include <stdint.h>

#include "engine/model.h"

float *run_once(const char *path, const fc_model_options *mo, const fc_session_options *so,
                const float *x, int64_t *count, int *steps);

#endif
