#!/usr/bin/python3
"""Generates tests/fixtures/heads/*.npy: small seeded data sets and scikit-learn's
LogisticRegression(multi_class='multinomial', solver='lbfgs') solutions on them, the reference for
tests/test_heads_softmax.c.

    /usr/bin/python3 scripts/make_head_fixtures.py [OUTDIR]   (default tests/fixtures/heads)

Sets (all float32 .npy, since tests/support/npy.h reads only '<f4'):
  small    120 x 20, 3 overlapping Gaussian classes, C in {0.01, 1, 100}
  wide     40 x 100, 3 classes (D > N: exercises featcache's row-space reduction), C in {0.1, 10}
  binary   60 x 10, 2 classes, C in {1}
  weighted 150 x 12, 3 imbalanced classes, sample weights and class_weight='balanced', C in {0.5}
Files per set S: S_X (N, D), S_y (N) labels as floats, S_C (m) C values, optionally S_sw (N)
sample weights and S_cw (K) class weights; per C index j: S_j_coef (K, D), S_j_intercept (K),
S_j_proba (N, K) and S_j_objective (1), where
    objective = sum_i s_i * (logsumexp(z_i) - z_i[y_i]) + 0.5 / C * ||coef||^2,  z = X coef^T + b
is evaluated in float64 on the float32 X that sklearn saw. For 2 classes sklearn stores only
coef_[1] = -coef_[0]; the fixture holds both rows (the symmetric solution it found).
sklearn is run to tight convergence (tol 1e-10) so its objective is the optimum within ~1e-9.
Needs Debian's python3-sklearn and python3-numpy. Deterministic for a given sklearn/numpy.
"""
import os
import sys
import warnings

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.utils.class_weight import compute_class_weight


def make_set(rng, n, d, k, spread, counts=None):
    centers = rng.normal(size=(k, d)) * spread
    if counts is None:
        counts = [n // k + (1 if c < n % k else 0) for c in range(k)]
    y = np.concatenate([np.full(c, i) for i, c in enumerate(counts)])
    rng.shuffle(y)
    X = centers[y] + rng.normal(size=(len(y), d))
    X = X * rng.uniform(0.5, 2.0, size=d)  # unequal feature scales, as real features have
    return X.astype(np.float32), y


def objective(X, y, coef, intercept, C, s):
    z = X.astype(np.float64) @ coef.T + intercept
    m = z.max(1, keepdims=True)
    lse = (m + np.log(np.exp(z - m).sum(1, keepdims=True)))[:, 0]
    return float((s * (lse - z[np.arange(len(y)), y])).sum() + 0.5 / C * (coef ** 2).sum())


def save(outdir, name, arr):
    np.save(os.path.join(outdir, name + ".npy"), np.ascontiguousarray(arr, dtype=np.float32))


def fit_set(outdir, name, X, y, Cs, sw=None, balanced=False):
    k = int(y.max()) + 1
    save(outdir, name + "_X", X)
    save(outdir, name + "_y", y)
    save(outdir, name + "_C", np.array(Cs))
    cw = np.ones(k)
    if balanced:
        cw = compute_class_weight("balanced", classes=np.arange(k), y=y)
        save(outdir, name + "_cw", cw)
    if sw is not None:
        save(outdir, name + "_sw", sw)
    s = (sw if sw is not None else np.ones(len(y))) * cw[y]
    for j, C in enumerate(Cs):
        m = LogisticRegression(C=C, multi_class="multinomial", solver="lbfgs", tol=1e-10, max_iter=100000,
                               class_weight="balanced" if balanced else None)
        m.fit(X.astype(np.float64), y, sample_weight=sw)
        coef, intercept = m.coef_, m.intercept_
        if k == 2:  # sklearn keeps the class-1 row of the symmetric multinomial solution
            coef = np.vstack([-coef[0], coef[0]])
            intercept = np.array([-intercept[0], intercept[0]])
        f = objective(X, y, coef, intercept, C, s)
        save(outdir, f"{name}_{j}_coef", coef)
        save(outdir, f"{name}_{j}_intercept", intercept)
        save(outdir, f"{name}_{j}_proba", m.predict_proba(X.astype(np.float64)))
        save(outdir, f"{name}_{j}_objective", np.array([f]))
        print(f"{name} C={C:g}: objective {f:.9g}, iterations {int(np.max(m.n_iter_))}, "
              f"train accuracy {m.score(X.astype(np.float64), y):.4f}")


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/heads"
    os.makedirs(outdir, exist_ok=True)
    warnings.simplefilter("error")  # a ConvergenceWarning would make the reference useless
    rng = np.random.default_rng(20240517)
    X, y = make_set(rng, 120, 20, 3, 0.3)
    fit_set(outdir, "small", X, y, [0.01, 1.0, 100.0])
    X, y = make_set(rng, 40, 100, 3, 0.15)
    fit_set(outdir, "wide", X, y, [0.1, 10.0])
    X, y = make_set(rng, 60, 10, 2, 0.5)
    fit_set(outdir, "binary", X, y, [1.0])
    X, y = make_set(rng, 150, 12, 3, 0.5, counts=[90, 40, 20])
    sw = rng.uniform(0.5, 2.0, size=len(y))
    fit_set(outdir, "weighted", X, y, [0.5], sw=sw, balanced=True)


if __name__ == "__main__":
    main()
