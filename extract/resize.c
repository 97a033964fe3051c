/* Coefficients and the portable passes of the Pillow-exact bilinear resize (see resize.h), and the
 * choice between them and the AVX2 ones. */
#include "extract/resize.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "extract/resize-impl.h"

void fc_resize_axis_free(fc_resize_axis *a) {
    free(a->first);
    free(a->n);
    free(a->k);
    memset(a, 0, sizeof *a);
}

int fc_resize_axis_init(fc_resize_axis *a, int in, int out) {
    memset(a, 0, sizeof *a);
    double scale = (double)in / out;
    double filterscale = scale < 1.0 ? 1.0 : scale;
    double support = 1.0 * filterscale;
    double ss = 1.0 / filterscale;
    a->in = in;
    a->out = out;
    a->ksize = (int)ceil(support) * 2 + 1;
    a->first = malloc((size_t)out * sizeof *a->first);
    a->n = malloc((size_t)out * sizeof *a->n);
    a->k = malloc((size_t)out * a->ksize * sizeof *a->k);
    double *w = malloc((size_t)a->ksize * sizeof *w);
    if (!a->first || !a->n || !a->k || !w) {
        free(w);
        fc_resize_axis_free(a);
        return FC_ENOMEM;
    }
    for (int i = 0; i < out; i++) {
        double center = (i + 0.5) * scale;
        int lo = (int)(center - support + 0.5);
        int hi = (int)(center + support + 0.5);
        if (lo < 0) lo = 0;
        if (hi > in) hi = in;
        int n = hi - lo;
        double sum = 0.0;
        for (int j = 0; j < n; j++) {
            double x = fabs((j + lo - center + 0.5) * ss);
            w[j] = x < 1.0 ? 1.0 - x : 0.0;
            sum += w[j];
        }
        int32_t *k = a->k + (size_t)i * a->ksize;
        for (int j = 0; j < a->ksize; j++) {
            double v = j < n && sum != 0.0 ? w[j] / sum : 0.0;
            k[j] = (int32_t)(0.5 + v * (1 << FC_RESIZE_PRECISION_BITS)); /* v >= 0 for this filter */
        }
        a->first[i] = lo;
        a->n[i] = n;
    }
    free(w);
    return 0;
}

static void hpass_scalar(const uint8_t *src, size_t stride, int rows, const fc_resize_axis *ax, uint8_t *planes) {
    const size_t plane = (size_t)rows * ax->out;
    for (int r = 0; r < rows; r++) {
        uint8_t *pr = planes + (size_t)r * ax->out;
        for (int x = 0; x < ax->out; x++)
            fc_resize_h_pixel(src + (size_t)r * stride, ax, x, pr, pr + plane, pr + 2 * plane);
    }
}

static void vpass_scalar(const uint8_t *plane, int row0, int W, const fc_resize_axis *ay, const float lut[256],
                         int flip, float *out) {
    for (int y = 0; y < ay->out; y++) {
        float *d = out + (size_t)y * W;
        for (int x = 0; x < W; x++) d[flip ? W - 1 - x : x] = lut[fc_resize_v_sample(plane, row0, W, ay, y, x)];
    }
}

static const fc_resize_kernels scalar = {.name = "scalar", .hpass = hpass_scalar, .vpass = vpass_scalar};

const fc_resize_kernels *fc_resize_by_name(const char *name) {
    if (!name) return NULL;
    if (!strcmp(name, "scalar")) return &scalar;
    if (!strcmp(name, "avx2") && fc_cpu()->best >= FC_ISA_AVX2) return &fc_resize_avx2;
    if (!strcmp(name, "avx512vbmi") && fc_cpu()->best >= FC_ISA_AVX512 && fc_cpu()->avx512_vbmi)
        return &fc_resize_avx512vbmi;
    return NULL;
}

const fc_resize_kernels *fc_resize_best(void) {
    if (fc_cpu_isa() >= FC_ISA_AVX512 && fc_cpu()->avx512_vbmi) return &fc_resize_avx512vbmi;
    return fc_cpu_isa() >= FC_ISA_AVX2 ? &fc_resize_avx2 : &scalar; /* every level above has AVX2 */
}
