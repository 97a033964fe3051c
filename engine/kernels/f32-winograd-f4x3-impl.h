/* What the SIMD Winograd F(4x4, 3x3) transforms (f32-winograd-f4x3-avx2.c, -avx512.c) share: the
 * 1-D transforms on whole vectors, the input transform's column pass and the whole output
 * transform, written against the simd-<isa>.h vocabulary (include that and f32-act-vec.h first).
 * The operations are those of the scalar twin (f32-winograd-f4x3-scalar.c) lane for lane, so every
 * width gives a tile the same bits. Not here: gathering the input windows into lanes (per ISA). */
#ifndef FC_F32_WINOGRAD_F4X3_IMPL_H
#define FC_F32_WINOGRAD_F4X3_IMPL_H

/* o = B^T d over six vectors. */
FC_INLINE void bt6(const vf d[6], vf o[6]) {
    vf c2 = v_set1(2.0f), c4 = v_set1(4.0f), c5 = v_set1(5.0f);
    vf s12 = v_add(d[1], d[2]), d12 = v_sub(d[1], d[2]);
    vf s34 = v_add(d[3], d[4]), d43 = v_sub(d[4], d[3]);
    vf d31 = v_sub(d[3], d[1]), d42 = v_sub(d[4], d[2]);
    o[0] = v_add(v_fnma(c5, d[2], v_mul(c4, d[0])), d[4]);
    o[1] = v_fnma(c4, s12, s34);
    o[2] = v_fma(c4, d12, d43);
    o[3] = v_fma(c2, d31, d42);
    o[4] = v_fnma(c2, d31, d42);
    o[5] = v_add(v_fnma(c5, d[3], v_mul(c4, d[1])), d[5]);
}

/* y = A^T m over six vectors. */
FC_INLINE void at6(const vf m[6], vf y[4]) {
    vf a = v_add(m[1], m[2]), b = v_sub(m[1], m[2]), c = v_add(m[3], m[4]), d = v_sub(m[3], m[4]);
    y[0] = v_add(v_add(m[0], a), c);
    y[1] = v_fma(v_set1(2.0f), d, b);
    y[2] = v_fma(v_set1(4.0f), c, a);
    y[3] = v_add(v_fma(v_set1(8.0f), d, b), m[5]);
}

/* The column transforms of one channel of a group of tiles: u[r] = B^T of window row r of every
 * lane's tile (bt6); the 36 points (xi = 6 r + q) are written at out + xi * vs. */
FC_INLINE void input_columns(vf u[6][6], float *out, ptrdiff_t vs) {
FC_UNROLL(6)
    for (int q = 0; q < 6; q++) {
        vf col[6], o[6];
        for (int r = 0; r < 6; r++) col[r] = u[r][q];
        bt6(col, o);
        for (int r = 0; r < 6; r++) v_store(out + (r * 6 + q) * vs, o[r]);
    }
}

/* The input transform of tiles t[0..nt) into a panel of nr lanes (kernels.h's contract), VW lanes at
 * a time through the including file's input_group (which gathers the windows into lanes: lanes
 * [g, g + VW), tiles past nt giving zeros); a group wholly past the tiles is stored as zeros. */
static void input_group(int C, ptrdiff_t cs, ptrdiff_t W, const fc_wino_in *t, int nt, int g, int nr, float *V,
                        ptrdiff_t vs);
FC_INLINE void input_panel(int nr, int C, ptrdiff_t cs, ptrdiff_t W, const fc_wino_in *t, int nt, float *V,
                           ptrdiff_t vs) {
    for (int g = 0; g < nr; g += VW) {
        if (g < nt) {
            input_group(C, cs, W, t, nt, g, nr, V, vs);
            continue;
        }
        for (int c = 0; c < C; c++)
            for (int xi = 0; xi < 36; xi++) v_store(V + xi * vs + (ptrdiff_t)c * nr + g, v_zero());
    }
}

/* The 4x4 outputs y[i][j] (before bias) of one channel of a group of tiles from their 36 points
 * at xm + xi * xs. */
FC_INLINE void output_points(const float *xm, ptrdiff_t xs, vf y[4][4]) {
    vf z[6][4];
FC_UNROLL(6)
    for (int r = 0; r < 6; r++) {
        vf row[6];
        for (int q = 0; q < 6; q++) row[q] = v_load(xm + (r * 6 + q) * xs);
        at6(row, z[r]);
    }
FC_UNROLL(4)
    for (int j = 0; j < 4; j++) {
        vf col[6], o[4];
        for (int r = 0; r < 6; r++) col[r] = z[r][j];
        at6(col, o);
        for (int i = 0; i < 4; i++) y[i][j] = o[i];
    }
}

/* A vector as its VW / 4 rows of 4 floats (output_group's cut tiles). The including file defines,
 * before the include, res_rows(t, off) and store_rows(t, off, v): the residual rows at offset off
 * of tiles t[0], t[4], t[8], ... as one vector, and a vector stored as those tiles' rows. */
typedef union quads {
    vf v;
    __m128 q[VW / 4];
    float f[VW];
} quads;

/* Output transform of tiles [g, g + n), n <= VW, for all M channels; kind is a compile-time
 * constant at the call sites. Vector k of a transposed row holds tile k + 4 h in its quarter h
 * (v_quad_rows). Whole tiles of a full group take the branch-free path: VW / 4 tiles' 4-pixel rows
 * per vector; otherwise a whole row of a tile moves as 4 floats, a cut one element by element. */
FC_INLINE void output_group(const int kind, int M, const float *X, ptrdiff_t xs, ptrdiff_t ms,
                            const fc_wino_out *t, int g, int n, ptrdiff_t cs, ptrdiff_t W,
                            const float *bias, const fc_act *act) {
    enum { Q = VW / 4 };
    vf aa = v_set1(act ? act->a : 0.f), ab = v_set1(act ? act->b : 0.f);
    int full = n == VW, res = t[g].res != NULL;
    for (int l = 0; l < n; l++) full &= t[g + l].rows == 4 && t[g + l].cols == 4;
    for (int m = 0; m < M; m++) {
        vf y[4][4];
        output_points(X + m * ms + g, xs, y);
        vf bv = v_bcast(bias + m);
FC_UNROLL(4)
        for (int i = 0; i < 4; i++) {
            vf p[4];
            v_quad_rows(y[i][0], y[i][1], y[i][2], y[i][3], p);
            ptrdiff_t off = m * cs + i * W;
            if (full) {
FC_UNROLL(4)
                for (int k = 0; k < 4; k++) {
                    vf v = v_add(p[k], bv);
                    if (res) v = v_add(v, res_rows(t + g + k, off));
                    store_rows(t + g + k, off, v_act_kind(kind, v, aa, ab));
                }
                continue;
            }
            for (int k = 0; k < 4; k++) {
                quads rq = {.v = v_zero()}, vq;
                int cols[Q];
                for (int h = 0; h < Q; h++) {
                    int l = k + 4 * h;
                    const fc_wino_out *o = &t[g + (l < n ? l : 0)];
                    cols[h] = l < n && i < o->rows ? o->cols : 0;
                    if (res && cols[h] == 4) rq.q[h] = _mm_loadu_ps(o->res + off);
                    else
                        for (int j = 0; res && j < cols[h]; j++) rq.f[4 * h + j] = o->res[off + j];
                }
                vq.v = v_act_kind(kind, v_add(v_add(p[k], bv), rq.v), aa, ab);
                for (int h = 0; h < Q; h++) {
                    if (!cols[h]) continue; /* (a lane past the last tile: its entry is not set) */
                    float *d = t[g + k + 4 * h].dst + off;
                    if (cols[h] == 4) _mm_storeu_ps(d, vq.q[h]);
                    else
                        for (int j = 0; j < cols[h]; j++) d[j] = vq.f[4 * h + j];
                }
            }
        }
    }
}

/* The output transform of nt tiles (kernels.h's contract), VW tiles at a time, with the
 * activation's kind as a compile-time constant. */
FC_INLINE void output_tiles(int M, const float *X, ptrdiff_t xs, ptrdiff_t ms, const fc_wino_out *t, int nt,
                            ptrdiff_t cs, ptrdiff_t W, const float *bias, const fc_act *act) {
#define FC_KIND(K)                                                                                \
    for (int g = 0; g < nt; g += VW) output_group(K, M, X, xs, ms, t, g, nt - g < VW ? nt - g : VW, cs, W, bias, act); \
    break;
    switch (act ? act->kind : FC_ACT_NONE) {
    case FC_ACT_RELU: FC_KIND(FC_ACT_RELU)
    case FC_ACT_CLIP: FC_KIND(FC_ACT_CLIP)
    case FC_ACT_LEAKY: FC_KIND(FC_ACT_LEAKY)
    case FC_ACT_SIGMOID: FC_KIND(FC_ACT_SIGMOID)
    case FC_ACT_HARDSIGMOID: FC_KIND(FC_ACT_HARDSIGMOID)
    case FC_ACT_HARDSWISH: FC_KIND(FC_ACT_HARDSWISH)
    case FC_ACT_SILU: FC_KIND(FC_ACT_SILU)
    default: FC_KIND(FC_ACT_NONE)
    }
#undef FC_KIND
}

#endif
