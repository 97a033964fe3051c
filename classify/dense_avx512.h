/* The AVX-512 entries of the dense kernel table (dense_avx512.c); callable only on a CPU with
 * AVX-512F (dense.c checks before it hands out the table). Contracts: dense.h's dots_fd, ger_fd,
 * dots_dd, ger_dd, dots_f32, ger_f32. */
#ifndef FC_DENSE_AVX512_H
#define FC_DENSE_AVX512_H

void fc_dense_dots_fd_avx512(const float *X, int rows, const double *V, int m, int n, double *out);
void fc_dense_ger_fd_avx512(double *G, const double *E, const float *X, int rows, int m, int n);
void fc_dense_dots_dd_avx512(const double *X, int rows, const double *V, int m, int n, double *out);
void fc_dense_ger_dd_avx512(double *G, const double *E, const double *X, int rows, int m, int n);
void fc_dense_dots_f32_avx512(const float *X, int rows, const float *V, int m, int n, double *out);
void fc_dense_ger_f32_avx512(double *G, const double *E, const float *X, int rows, int m, int n);

#endif
