/* The 1-D transforms of Winograd F(4x4, 3x3) on whole vectors, shared by the SIMD input and output
 * transforms (f32-winograd-f4x3-avx2.c, -avx512.c): written against the simd-<isa>.h vocabulary
 * (include that and f32-act-vec.h first). The operations are those of the scalar twin
 * (f32-winograd-f4x3-scalar.c) lane for lane, so every width gives a tile the same bits. */
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

#endif
