/* Pillow-exact separable bilinear resampling of 8-bit RGB (Image.resize(size, BILINEAR)): the
 * per-axis coefficients (triangle filter widened by the downscale factor, normalised weights in
 * 22-bit fixed point) and the two passes, horizontal first with the intermediate rounded and
 * clamped to 8 bits, then vertical straight into float planes through a per-channel table.
 * Two implementations of each pass, portable C (the reference) and AVX2 (extract/resize-avx2.c),
 * give identical bytes and floats; fc_resize_best() picks one for this CPU.
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
    const char *name; /* "scalar" or "avx2" */
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

/* The AVX2 table when core/cpu.h allows the AVX2 level or above (the CPU has it and FEATCACHE_ISA
 * does not force scalar), else scalar. */
const fc_resize_kernels *fc_resize_best(void);
/* "scalar" or "avx2" if supported by this CPU (whatever FEATCACHE_ISA says), else NULL (for tests). */
const fc_resize_kernels *fc_resize_by_name(const char *name);

/* The AVX2 table (extract/resize-avx2.c); use only through the functions above. */
extern const fc_resize_kernels fc_resize_avx2;

#endif
