/* Shape ops: Flatten and Reshape (views: only the output shape is computed, data and gradients are
 * the same contiguous buffers) and Concat along channels (copies forward, slices backward).
 * Reproducibility: copies only, exact. Not here: transposes, general broadcasting. */
#include <string.h>

#include "engine/train/internal.h"

int fc_flatten_dims(int rank, const int64_t *dims, int axis, int64_t out[2], fc_error *err) {
    if (rank < 1 || rank > 8 || axis < 0 || axis > rank)
        return fc_fail(err, FC_EINVAL, "flatten: axis %d of a rank %d tensor", axis, rank);
    out[0] = out[1] = 1;
    for (int i = 0; i < rank; i++) {
        if (dims[i] < 0) return fc_fail(err, FC_EINVAL, "flatten: negative dimension");
        if (dims[i] && out[i >= axis] > ((int64_t)1 << 40) / dims[i])
            return fc_fail(err, FC_ELIMIT, "flatten: too many elements");
        out[i >= axis] *= dims[i];
    }
    return 0;
}

int fc_reshape_dims(int rank, const int64_t *dims, int nspec, const int64_t *spec, int64_t *out,
                    fc_error *err) {
    if (rank < 0 || rank > 8 || nspec < 1 || nspec > 8)
        return fc_fail(err, FC_EINVAL, "reshape: rank %d -> %d", rank, nspec);
    int64_t total = 1, known = 1;
    int infer = -1;
    for (int i = 0; i < rank; i++) {
        if (dims[i] < 0 || (dims[i] && total > ((int64_t)1 << 40) / dims[i]))
            return fc_fail(err, FC_EINVAL, "reshape: bad input dimension %lld", (long long)dims[i]);
        total *= dims[i];
    }
    for (int i = 0; i < nspec; i++) {
        int64_t d = spec[i];
        if (d == 0) {
            if (i >= rank) return fc_fail(err, FC_ESHAPE, "reshape: 0 at %d copies no dimension", i);
            d = dims[i];
        } else if (d == -1) {
            if (infer >= 0) return fc_fail(err, FC_EINVAL, "reshape: more than one -1");
            infer = i;
            continue;
        } else if (d < 0) {
            return fc_fail(err, FC_EINVAL, "reshape: dimension %lld", (long long)d);
        }
        if (d && known > ((int64_t)1 << 40) / d) return fc_fail(err, FC_ELIMIT, "reshape: too many elements");
        out[i] = d;
        known *= d;
    }
    if (infer >= 0) {
        if (known == 0 || total % known)
            return fc_fail(err, FC_ESHAPE, "reshape: cannot infer -1 (%lld elements, %lld known)",
                           (long long)total, (long long)known);
        out[infer] = total / known;
        known = total;
    }
    if (known != total)
        return fc_fail(err, FC_ESHAPE, "reshape: %lld elements into %lld", (long long)total,
                       (long long)known);
    return 0;
}

/* Checks the concat sizes; *total = sum of Cs. */
static int concat_check(const int *Cs, int k, int N, int HW, int *total, fc_error *err) {
    int rc = fc_train_need(Cs, "concat", "Cs", err);
    if (rc) return rc;
    if (k < 1) return fc_fail(err, FC_EINVAL, "concat: %d inputs", k);
    long sum = 0;
    for (int i = 0; i < k; i++) {
        if (Cs[i] < 1) return fc_fail(err, FC_EINVAL, "concat: input %d has %d channels", i, Cs[i]);
        sum += Cs[i];
        if (sum >= INT_MAX) return fc_fail(err, FC_ELIMIT, "concat: too many channels");
    }
    *total = (int)sum;
    int sizes[] = {N, *total, HW};
    return fc_train_check_sizes("concat", 3, sizes, err);
}

/* Copies between out (N, total, HW) and the inputs: to_out copies parts into it, else out into
 * parts (NULL parts are skipped). */
static void concat_copy(fc_train_ws *ws, float *out, float *const *parts, const int *Cs, int k,
                        int N, int HW, int total, int to_out) {
#pragma omp parallel for num_threads(fc_train_threads(ws, (size_t)N * total * HW)) schedule(static)
    for (int n = 0; n < N; n++) {
        size_t c0 = 0;
        for (int i = 0; i < k; i++) {
            size_t len = (size_t)Cs[i] * HW;
            float *o = out + ((size_t)n * total + c0) * HW;
            c0 += Cs[i];
            if (!parts[i]) continue;
            float *x = parts[i] + (size_t)n * len;
            if (to_out) memcpy(o, x, sizeof(float) * len);
            else memcpy(x, o, sizeof(float) * len);
        }
    }
}

int fc_concat_forward(fc_train_ws *ws, float *out, const float *const *inps, const int *Cs, int k,
                      int N, int HW, fc_error *err) {
    // inps[i] is (N,Cs[i],HW); out will be (N,sum Cs,HW)
    int total, rc = concat_check(Cs, k, N, HW, &total, err);
    if (rc || (rc = fc_train_need(out, "concat", "out", err)) ||
        (rc = fc_train_need(inps, "concat", "inps", err)))
        return rc;
    for (int i = 0; i < k; i++)
        if (!inps[i]) return fc_fail(err, FC_EINVAL, "concat: input %d is NULL", i);
    concat_copy(ws, out, (float *const *)inps, Cs, k, N, HW, total, 1);
    return 0;
}

int fc_concat_backward(fc_train_ws *ws, float *const *dinps, const float *dout, const int *Cs, int k,
                       int N, int HW, fc_error *err) {
    // dout is (N,sum Cs,HW); dinps[i] will be (N,Cs[i],HW)
    int total, rc = concat_check(Cs, k, N, HW, &total, err);
    if (rc || (rc = fc_train_need(dout, "concat", "dout", err)) ||
        (rc = fc_train_need(dinps, "concat", "dinps", err)))
        return rc;
    concat_copy(ws, (float *)dout, dinps, Cs, k, N, HW, total, 0);
    return 0;
}
