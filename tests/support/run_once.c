/* run_once (see run_once.h). */
#include "tests/support/run_once.h"

#include <stdlib.h>
#include <string.h>

#include "tests/support/check.h"

float *run_once(const char *path, const fc_model_options *mo, const fc_session_options *so,
                const float *x, int64_t *count, int *steps) {
    fc_model *m = NULL;
    fc_session *s = NULL;
    fc_error err = {0};
    float *y = NULL;
    if (fc_model_load(path, mo, &m, &err) || fc_session_create(m, so, &s, &err) ||
        fc_session_run(s, x, &err)) {
        CHECK(0, "%s: %s", path, err.msg);
    } else {
        const fc_tensor *t = fc_session_output(s, 0);
        *count = fc_tensor_count(t);
        if (steps) *steps = fc_session_n_steps(s);
        y = malloc((size_t)*count * sizeof(float));
        memcpy(y, t->data, (size_t)*count * sizeof(float));
    }
    fc_session_free(s);
    fc_model_free(m);
    return y;
}
