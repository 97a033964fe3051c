#!/usr/bin/python3
"""scikit-learn reference for featcache's softmax head: fits LogisticRegression(C,
multi_class='multinomial', solver='lbfgs') on the train split for 9 C values and prints the
validation accuracy, the objective and the time of every fit.

    /usr/bin/python3 scripts/sklearn_compare.py FEATURES.npy LABELS.txt SPLITS.txt
        [--normalize std|l2|none] [--l2 1e-6..1e2:9] [--tol 1e-4] [--max-iter 100]
        [--warm-start] [--multi-class multinomial|auto] [--repeat 3] [--json]

FEATURES.npy: (N, D) float32. LABELS.txt: one class name per line (N lines). SPLITS.txt: one
split name per line (train / val; other names are ignored). The objective column is
sum_i CE_i + 0.5 * l2 * ||coef||^2 on the train split, the quantity featcache's softmax head
minimizes, so both sides can be compared fit by fit. The L2 values follow featcache's
convention (l2 = 1/C, penalty 0.5 * l2 * ||W||^2 on the summed loss), so --l2 1e-6..1e2:9 means
C = 1e6 ... 1e-2, fitted from the strongest penalty to the weakest (the order a warm-started
path uses). The transform is fitted on the train split only. Timings cover the 9 fit() calls (best
of --repeat rounds); feature loading and the transform are excluded, as on the featcache side.
This is the anchor for a later benchmark: it does not run featcache.
Needs Debian's python3-sklearn and python3-numpy (run with /usr/bin/python3).
"""
import argparse
import json
import sys
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression


def parse_grid(text):
    """'A..B:N' -> N log-spaced values from A to B; 'a,b,c' -> the list."""
    if ".." in text:
        rng, _, count = text.partition(":")
        lo, hi = (float(v) for v in rng.split(".."))
        n = int(count or 9)
        return list(np.logspace(np.log10(lo), np.log10(hi), n))
    return [float(v) for v in text.split(",")]


def load(features, labels, splits):
    X = np.load(features)
    if X.ndim != 2:
        sys.exit(f"{features}: expected a 2-D array, got shape {X.shape}")
    names = [line.strip() for line in open(labels)]
    parts = [line.strip() for line in open(splits)]
    if len(names) != len(X) or len(parts) != len(X):
        sys.exit(f"{len(X)} feature rows, {len(names)} labels, {len(parts)} split entries")
    classes = sorted(set(n for n in names if n))
    index = {c: i for i, c in enumerate(classes)}
    y = np.array([index.get(n, -1) for n in names])
    parts = np.array(parts)
    train = (parts == "train") & (y >= 0)
    val = (parts == "val") & (y >= 0)
    if not train.any() or not val.any():
        sys.exit("need labeled rows in both the train and the val split")
    return X.astype(np.float32), y, train, val, classes


def objective(model, X, y, l2):
    """featcache's objective (sklearn 1.2's for multi_class='multinomial'): summed cross-entropy +
    0.5 * l2 * ||coef||^2 (only meaningful for the multinomial model)."""
    coef, b = model.coef_, model.intercept_
    if coef.shape[0] == 1:  # binary: sklearn keeps the class-1 row of the symmetric solution
        coef, b = np.vstack([-coef[0], coef[0]]), np.array([-b[0], b[0]])
    z = X.astype(np.float64) @ coef.T + b
    m = z.max(1, keepdims=True)
    lse = (m + np.log(np.exp(z - m).sum(1, keepdims=True)))[:, 0]
    return float((lse - z[np.arange(len(y)), y]).sum() + 0.5 * l2 * (coef ** 2).sum())


def transform(X, train, kind):
    if kind == "std":
        mean = X[train].astype(np.float64).mean(0)
        std = X[train].astype(np.float64).std(0)
        scale = np.where(std > 1e-6, 1.0 / np.where(std > 0, std, 1), 1.0)
        return ((X - mean) * scale).astype(np.float32)
    if kind == "l2":
        norm = np.linalg.norm(X.astype(np.float64), axis=1, keepdims=True)
        return (X / np.maximum(norm, 1e-12)).astype(np.float32)
    return X


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("features")
    ap.add_argument("labels")
    ap.add_argument("splits")
    ap.add_argument("--normalize", choices=["std", "l2", "none"], default="none")
    ap.add_argument("--l2", default="1e-6..1e2:9", help="l2 = 1/C values (default 1e-6..1e2:9)")
    ap.add_argument("--tol", type=float, default=1e-4)
    ap.add_argument("--max-iter", type=int, default=100)
    ap.add_argument("--warm-start", action="store_true", help="reuse the previous solution (sklearn warm_start)")
    ap.add_argument("--multi-class", choices=["multinomial", "auto"], default="multinomial",
                    help="multinomial (featcache's objective, default) or sklearn's default 'auto', which is "
                         "one-vs-rest binary regression for 2 classes (the multinomial optimum at C/2)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()

    X, y, train, val, classes = load(a.features, a.labels, a.splits)
    X = transform(X, train, a.normalize)
    l2s = sorted(parse_grid(a.l2), reverse=True)  # strongest penalty first
    Xtr, ytr, Xva, yva = X[train], y[train], X[val], y[val]
    warnings.filterwarnings("ignore", category=ConvergenceWarning)

    best_total, rows = None, None
    for _ in range(max(1, a.repeat)):
        model = LogisticRegression(tol=a.tol, max_iter=a.max_iter, warm_start=a.warm_start, multi_class=a.multi_class)
        out, total = [], 0.0
        for l2 in l2s:
            if not a.warm_start:
                model = LogisticRegression(tol=a.tol, max_iter=a.max_iter, multi_class=a.multi_class)
            model.set_params(C=1.0 / l2)
            t0 = time.perf_counter()
            model.fit(Xtr, ytr)
            dt = time.perf_counter() - t0
            total += dt
            out.append({"l2": l2, "C": 1.0 / l2, "val_accuracy": float(model.score(Xva, yva)),
                        "train_accuracy": float(model.score(Xtr, ytr)),
                        "iterations": int(np.max(model.n_iter_)), "seconds": dt,
                        "objective": objective(model, Xtr, ytr, l2)})
        if best_total is None or total < best_total:
            best_total, rows = total, out
    best = max(rows, key=lambda r: r["val_accuracy"])
    result = {"n_train": int(train.sum()), "n_val": int(val.sum()), "dims": int(X.shape[1]),
              "classes": len(classes), "normalize": a.normalize, "warm_start": a.warm_start,
              "multi_class": a.multi_class,
              "total_seconds": best_total, "best": best, "fits": rows}
    if a.json:
        print(json.dumps(result, indent=1))
        return
    print(f"# sklearn {__import__('sklearn').__version__}: {result['n_train']} train, {result['n_val']} val, "
          f"{result['dims']} dims, {result['classes']} classes, normalize={a.normalize}, "
          f"warm_start={a.warm_start}, multi_class={a.multi_class}")
    print("l2\tC\tval_acc\ttrain_acc\titers\tms\tobjective")
    for r in rows:
        print(f"{r['l2']:.3g}\t{r['C']:.3g}\t{r['val_accuracy']:.4f}\t{r['train_accuracy']:.4f}\t"
              f"{r['iterations']}\t{1e3 * r['seconds']:.1f}\t{r['objective']:.8g}")
    print(f"total {1e3 * best_total:.1f} ms (best of {a.repeat}); best val accuracy {best['val_accuracy']:.4f} "
          f"at l2={best['l2']:.3g} (C={best['C']:.3g})")


if __name__ == "__main__":
    main()
