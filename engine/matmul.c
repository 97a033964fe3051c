/* fc_matmul_run: packs A once (row panels) and B (column panels, in parallel), then runs the packed
 * SGEMM over whichever dimension has more panels, one contiguous panel range per thread. The
 * kernels guarantee that an output element does not depend on the split, so results are
 * reproducible for any thread count. Not here: cache blocking (the kernels do it). */
#include "engine/matmul.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

void fc_matmul_init(fc_matmul *g, int threads) {
    memset(g, 0, sizeof *g);
    g->k = fc_kernels_best();
    g->threads = threads > 0 ? threads : omp_get_max_threads();
    if (g->threads < 1) g->threads = 1;
}

void fc_matmul_free(fc_matmul *g) {
    if (!g) return;
    free(g->pa);
    free(g->pb);
    g->pa = g->pb = NULL;
    g->cap_a = g->cap_b = 0;
}

/* Grows *buf to at least floats (64-byte aligned). */
static int reserve(float **buf, size_t *cap, size_t floats) {
    if (floats <= *cap) return 0;
    void *p = NULL;
    if (posix_memalign(&p, 64, floats * sizeof(float) + 64)) return FC_ENOMEM;
    free(*buf);
    *buf = p;
    *cap = floats;
    return 0;
}

int fc_matmul_reserve(fc_matmul *g, size_t a_floats, size_t b_floats) {
    return reserve(&g->pa, &g->cap_a, a_floats) || reserve(&g->pb, &g->cap_b, b_floats) ? FC_ENOMEM : 0;
}

int fc_matmul_run(fc_matmul *g, int M, int N, int K, const float *A, ptrdiff_t rsa, ptrdiff_t csa,
                const float *B, ptrdiff_t rsb, ptrdiff_t csb, float *C, ptrdiff_t rsc, ptrdiff_t csc,
                fc_error *err) {
    if (M < 0 || N < 0 || K < 0) return fc_fail(err, FC_EINVAL, "matmul: negative size");
    if (M == 0 || N == 0) return 0;
    const fc_kernels *k = g->k;
    if (K == 0) {
        for (int m = 0; m < M; m++)
            for (int n = 0; n < N; n++) C[m * rsc + n * csc] = 0;
        return 0;
    }
    int mr = k->mr, nr = k->nr;
    int mp = (M + mr - 1) / mr, np = (N + nr - 1) / nr;
    if (fc_matmul_reserve(g, fc_kernels_packed_a_floats(k, M, K), fc_kernels_packed_b_floats(k, K, N)))
        return fc_fail(err, FC_ENOMEM, "matmul: out of memory for a %d x %d x %d product", M, N, K);
    float *pa = g->pa, *pb = g->pb;
    int threads = g->threads;
    /* Threads only with several milliseconds of work: on a busy machine a parallel region can
     * stall for a scheduler time slice, which small products (an MLP batch) never repay. */
    if ((double)M * N * K < 67108864.0) threads = 1;
    int by_cols = np >= mp;
    int panels = by_cols ? np : mp;
    int parts = threads < panels ? threads : panels;
#pragma omp parallel num_threads(parts) if (parts > 1)
    {
        int t = omp_get_thread_num(), nt = omp_get_num_threads();
        /* Pack A by row panels and B by column panels, split over the threads. */
        int a0 = mp * t / nt, a1 = mp * (t + 1) / nt;
        if (a1 > a0) {
            int m0 = a0 * mr, m1 = a1 * mr < M ? a1 * mr : M;
            k->pack_a(m1 - m0, K, A + (ptrdiff_t)m0 * rsa, rsa, csa, pa + (size_t)a0 * K * mr);
        }
        int b0 = np * t / nt, b1 = np * (t + 1) / nt;
        if (b1 > b0) {
            int n0 = b0 * nr, n1 = b1 * nr < N ? b1 * nr : N;
            k->pack_b(K, n1 - n0, B + (ptrdiff_t)n0 * csb, rsb, csb, pb + (size_t)b0 * K * nr);
        }
#pragma omp barrier
        int p0 = panels * t / nt, p1 = panels * (t + 1) / nt;
        if (p1 > p0) {
            if (by_cols) {
                int n0 = p0 * nr, n1 = p1 * nr < N ? p1 * nr : N;
                k->sgemm_packed(M, n1 - n0, K, pa, pb + (size_t)p0 * K * nr, C + (ptrdiff_t)n0 * csc,
                                rsc, csc, NULL);
            } else {
                int m0 = p0 * mr, m1 = p1 * mr < M ? p1 * mr : M;
                k->sgemm_packed(m1 - m0, N, K, pa + (size_t)p0 * K * mr, pb, C + (ptrdiff_t)m0 * rsc,
                                rsc, csc, NULL);
            }
        }
    }
    return 0;
}
