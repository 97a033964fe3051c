/* Timing for the benchmark programs (bench/): a clock that is the wall clock or the process's CPU
 * time (all threads: on a machine shared with other work, single-thread CPU time is the figure
 * that does not depend on the load), and the median of a set of timings. Not for tests: they
 * check results, not speed. */
#ifndef FC_TEST_TIMING_H
#define FC_TEST_TIMING_H

/* Seconds on the monotonic wall clock, or of the process's CPU time when cpu is not 0. */
double fc_bench_now(int cpu);

/* Sorts t[0..n) (n >= 1) and returns its median; *best (may be NULL) gets the smallest. */
double fc_bench_median(double *t, int n, double *best);

#endif
