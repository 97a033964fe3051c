/* The benchmark timing helpers of timing.h. */
#include "tests/support/timing.h"

#include <stdlib.h>
#include <time.h>

double fc_bench_now(int cpu) {
    struct timespec ts;
    clock_gettime(cpu ? CLOCK_PROCESS_CPUTIME_ID : CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double fc_bench_median(double *t, int n, double *best) {
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    if (best) *best = t[0];
    return t[n / 2];
}
