#include "tests/support/compare.h"

#include <stdio.h>

#include "tests/support/check.h"

void check_close_to_reference(const char *what, const fc_tensor *got, const npy_array *ref) {
    int64_t n = fc_tensor_count(got);
    REQUIRE(n == ref->count, "%s: %lld values, reference has %lld", what, (long long)n, (long long)ref->count);
    double maxdiff = npy_max_abs_diff(got->data, ref->data, n), maxref = npy_max_abs(ref->data, n);
    double cos = npy_cosine(got->data, ref->data, n);
    printf("  %-50s max|diff| %.3g (%.2g of max|ref|)  cosine %.8f\n", what, maxdiff, maxdiff / maxref, cos);
    CHECK(maxdiff <= 1e-3 * maxref, "%s: max diff %g > 1e-3 * %g", what, maxdiff, maxref);
    CHECK(cos >= 0.99999, "%s: cosine %.8f", what, cos);
}
