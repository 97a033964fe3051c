/* Reader/writer for NumPy .npy files (little-endian float32, C order) used by tests and scripts to
 * compare featcache with reference outputs. Not a general .npy implementation. */
#ifndef FC_NPY_H
#define FC_NPY_H
#include <stdint.h>

typedef struct npy_array {
    int rank;
    int64_t dims[8];
    int64_t count;  /* product of dims */
    float *data;    /* owned, malloc'd */
} npy_array;

/* 0 on success; -1 on error with a reason in msg (256 bytes). Only '<f4', fortran_order False. */
int npy_read(const char *path, npy_array *out, char *msg);
void npy_free(npy_array *a);

/* Comparison metrics of two equal-length vectors. */
double npy_max_abs_diff(const float *a, const float *b, int64_t n);
double npy_max_abs(const float *a, int64_t n);
double npy_cosine(const float *a, const float *b, int64_t n);
#endif
