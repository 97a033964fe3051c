/* Pillow-exact separable bilinear resampling of 8-bit RGB (Image.resize(size, BILINEAR)): the
 * per-axis coefficients (triangle filter widened by the downscale factor, normalised weights in
 * 22-bit fixed point) and the two passes, horizontal first with the intermediate rounded and
 * clamped to 8 bits, then vertical straight into float planes through a per-channel table.
 * The implementations of each pass, portable C (the reference), AVX2 (extract/resize-avx2.c) and
 * AVX-512 VBMI (extract/resize-avx512vbmi.c), give identical bytes and floats; fc_resize_best()
 * picks one for this CPU.
 * Not here: cropping, flips and presets as such (preprocess.c decides them and passes pointers,
 * strides and the table). */
#ifndef FC_RESIZE_H
#define FC_RESIZE_H

#include <stddef.h>
#include <stdint.h>

#define FC_RESIZE_PRECISION_BITS 22

/* One axis: output i reads n[i] source samples from first[i] with weights k[i * ksize + j]
 * (j < ksize; weights at j >= n[i] are 0). */
typedef struct fc_resize_axis {
    int in, out, ksize;
    int *first, *n; /* (out) */
    int32_t *k;     /* (out, ksize) */
} fc_resize_axis;

/* Pillow's precompute_coeffs + normalize_coeffs_8bpc over the input range [0, in). 0 or FC_ENOMEM
 * (a zeroed). */
int fc_resize_axis_init(fc_resize_axis *a, int in, int out);
void fc_resize_axis_free(fc_resize_axis *a);

typedef struct fc_resize_kernels {
    const char *name; /* "scalar", "avx2" or "avx512vbmi" */
    /* Horizontal pass of rows [0, rows): src row r at src + r * stride holds ax->in RGB pixels
     * (interleaved, 3 bytes each); writes plane c (R, G, B) of the result at planes + c * rows *
     * ax->out, row r at + r * ax->out. Every byte of a row's ax->in pixels may be read, nothing
     * beyond them. */
    void (*hpass)(const uint8_t *src, size_t stride, int rows, const fc_resize_axis *ax, uint8_t *planes);
    /* Vertical pass of one plane: out row y (width W, y < ay->out) = lut[clip(sum_j k * in rows)],
     * reading plane rows ay->first[y] - row0 + j (each W bytes); mirrored (x -> W-1-x) when flip. */
    void (*vpass)(const uint8_t *plane, int row0, int W, const fc_resize_axis *ay, const float lut[256],
                  int flip, float *out);
} fc_resize_kernels;

/* The AVX-512 VBMI table when core/cpu.h allows the AVX-512 level and the CPU has VBMI, else the
 * AVX2 table when it allows the AVX2 level (FEATCACHE_ISA may lower both), else scalar. */
const fc_resize_kernels *fc_resize_best(void);
/* "scalar", "avx2" or "avx512vbmi" if supported by this CPU (whatever FEATCACHE_ISA says), else NULL
 * (for tests). */
const fc_resize_kernels *fc_resize_by_name(const char *name);

/* The AVX2 table (extract/resize-avx2.c), and the AVX-512 VBMI one (extract/resize-avx512vbmi.c:
 * its horizontal pass, the AVX2 vertical one); use only through the functions above. */
extern const fc_resize_kernels fc_resize_avx2, fc_resize_avx512vbmi;
void fc_resize_vpass_avx2(const uint8_t *plane, int row0, int W, const fc_resize_axis *ay, const float lut[256],
                          int flip, float *out);

#endif
