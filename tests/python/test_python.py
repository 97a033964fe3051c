#!/usr/bin/python3
"""The Python package (python/featcache over build/libfeatcache.so) against the CLI, on the tiny
fixture model and 24 generated images in train/val folders: Cache.features equals `featcache
export` bitwise (every row, the train and val rows, the flip view, an f16 store, a (C, H, W) map)
with the same labels, paths, splits and content hashes; the listings; every error raises
featcache.Error with the CLI's message (no cache, unknown data set, an extractor never extracted,
a bad option value, a split with no rows, a damaged stored value); Cache.extract computes the
CLI's bits and reports progress, a callback stops it; featcache.torch.CachedDataset yields the
cached tensors (SKIP without torch). One PASS/FAIL/SKIP line per check for tests/run.sh.
Run from the repository root (tests/run.sh sets PYTHONPATH, FEATCACHE_LIB and FEATCACHE_BIN)."""
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import warnings

NAME = "python"
try:
    import numpy as np
except ImportError:
    print("SKIP %s: python3-numpy not installed (apt-get install python3-numpy)" % NAME)
    sys.exit(0)

ROOT = os.getcwd()
FC = os.path.abspath(os.environ.get("FEATCACHE_BIN", "build/featcache"))
FX = os.path.join(ROOT, "tests", "support", "make_fixtures.py")
failures = 0


def report(ok, what, detail=""):
    global failures
    print("%s %s: %s" % ("PASS" if ok else "FAIL", NAME, what))
    if not ok:
        failures += 1
        if detail:
            print("    " + str(detail).replace("\n", "\n    "))


def child_env():
    """The environment of the featcache processes: without the sanitizer runtimes that tests/run.sh
    preloads into python3 for an ASan build's library, with the leak checks it keeps for them."""
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    if "FEATCACHE_CHILD_ASAN_OPTIONS" in env:
        env["ASAN_OPTIONS"] = env["FEATCACHE_CHILD_ASAN_OPTIONS"]
    return env


def run(*args):
    p = subprocess.run([FC] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       env=child_env())
    if p.returncode != 0:
        raise RuntimeError("featcache %s: exit %d: %s" % (" ".join(args), p.returncode, p.stderr.strip()))
    return p.stdout


def read(path):
    with open(path, "rb") as f:
        return f.read()


def export(cache, layer, out, *extra):
    run("export", "set", "--model", "m.onnx", "--layer", layer, "--cache", cache, "-o", out, *extra)
    lines = lambda n: read(os.path.join(out, n)).decode("utf-8").split("\n")[:-1]
    return np.load(os.path.join(out, "features.npy")), lines("labels.txt"), lines("paths.txt"), lines("splits.txt")


def same_bits(a, b):
    a, b = np.ascontiguousarray(a, np.float32), np.ascontiguousarray(b, np.float32)
    return a.shape == b.shape and np.array_equal(a.view(np.uint32), b.view(np.uint32))


def raises(fn, *want):
    """The featcache.Error message of fn(), checked to contain every string of want."""
    try:
        fn()
    except featcache.Error as e:
        msg = str(e)
        return all(w in msg for w in want), msg
    except Exception as e:  # anything else is a failure: the package promises featcache.Error
        return False, "%s: %s" % (type(e).__name__, e)
    return False, "no error raised"


def fixtures():
    py = "/usr/bin/python3"
    subprocess.check_call([py, FX, "model", "m.onnx"], env=child_env())
    for i, (s, c) in enumerate([(s, c) for s in ("train", "val") for c in ("a", "b")]):
        subprocess.check_call([py, FX, "images", "set/%s/%s" % (s, c), "6", str(11 + i)], env=child_env())
    run("extract", "set", "--model", "m.onnx", "--layer", "gap", "--layer", "fmap", "--views", "orig,flip",
        "--cache", "c", "--quiet")
    run("extract", "set", "--model", "m.onnx", "--layer", "gap", "--dtype", "f16", "--cache", "c", "--quiet")


def check_features(fc):
    E, labels, paths, splits = export("c", "gap", "e_gap")
    X, y, info = fc.features("set", model="m.onnx", layer="gap", split=None)
    report(same_bits(X, E), "features(split=None) equals export bitwise (%s)" % (X.shape,))
    hashes = [hashlib.sha256(read(os.path.join("set", p))).hexdigest() for p in paths]
    report(list(y) == labels and info["paths"] == paths and info["splits"] == splits and info["hashes"] == hashes,
           "labels, paths, splits and content hashes are export's rows")
    for split in ("train", "val"):
        rows = [i for i, s in enumerate(splits) if s == split]
        Xs, ys, _ = fc.features("set", model="m.onnx", layer="gap", split=split)
        report(same_bits(Xs, E[rows]) and list(ys) == [labels[i] for i in rows] and len(rows) == 12,
               "split=%r gives export's %d %s rows bitwise" % (split, len(rows), split))
    Xd, _, _ = fc.features("set", model="m.onnx", layer="gap")
    report(same_bits(Xd, E[[i for i, s in enumerate(splits) if s == "train"]]), "the default split is train")
    F = export("c", "gap", "e_flip", "--view", "flip")[0]
    Xf, _, info = fc.features("set", model="m.onnx", layer="gap", split=None, view="flip")
    report(same_bits(Xf, F) and not same_bits(Xf, E) and info["view"] == "flip", "view='flip' equals export --view flip")
    H = export("c", "gap", "e_f16", "--dtype", "f16")[0]
    Xh, _, _ = fc.features("set", model="m.onnx", layer="gap", split=None, dtype="f16")
    report(Xh.dtype == np.float32 and same_bits(Xh, H) and not same_bits(Xh, E),
           "an f16 store comes back as float32, export's bits")
    M = export("c", "fmap", "e_fmap")[0]
    Xm, _, info = fc.features("set", model="m.onnx", layer="fmap", split=None)
    report(Xm.ndim == 4 and same_bits(Xm.reshape(len(Xm), -1), M),
           "a map keeps its shape %s and equals export's rows" % (Xm.shape[1:],))


def check_lists(fc):
    ds, ex, runs = fc.datasets(), fc.extractors(), fc.runs()
    ok = [d["name"] for d in ds] == ["set"] and ds[0]["items"] == 24 and ds[0]["classes"] == 2
    ok = ok and sorted(x["layer"] for x in ex) == ["fmap", "gap", "gap"] and all(x["features"] > 0 for x in ex)
    ok = ok and [r["kind"] for r in runs] == ["extract"] * 3 and all(r["status"] == "ok" for r in runs)
    report(ok, "datasets(), extractors() and runs() list the cache (1 data set, 3 extractors, 3 extract runs)",
           (ds, ex, runs))


def check_errors(fc):
    cases = [
        ("a missing cache", lambda: featcache.Cache("nowhere").datasets(), ["nowhere", "no featcache catalog"]),
        ("an unknown data set", lambda: fc.features("nope", model="m.onnx"), ["no data set named 'nope'"]),
        ("an extractor never extracted", lambda: fc.features("set", model="m.onnx", layer="gap", size=40),
         ["have no features for this extractor"]),
        ("a missing model", lambda: fc.features("set", model="none.onnx"), ["none.onnx"]),
        ("a bad option value", lambda: fc.features("set", model="m.onnx", dtype="f8"), ["dtype wants f32 or f16"]),
        ("a bad view", lambda: fc.features("set", model="m.onnx", view="side"), ["view wants"]),
        ("a split with no rows", lambda: fc.features("set", model="m.onnx", layer="gap", split="test"),
         ["no item in split 'test'", "train, val"]),
        ("extract of a missing folder", lambda: fc.extract("missing", model="m.onnx"), ["missing"]),
    ]
    for what, fn, want in cases:
        ok, msg = raises(fn, *want)
        report(ok, "%s raises featcache.Error: %s" % (what, msg.split("\n")[0][:150]), msg)
    shutil.copytree("c", "d")
    item = hashlib.sha256(read("set/train/a/img003.jpg")).digest()
    gap = [x["id"] for x in fc.extractors() if x["layer"] == "gap" and x["dtype"] == "f32"][0]
    key, b, n = bytes.fromhex(gap) + item + b"\0\0", bytearray(read("d/features.mdb")), 0
    at = b.find(key)
    while at >= 0:  # every copy (older snapshots keep some): the live one is among them
        if b[at + 66:at + 70] == b"FCFT":
            b[at + 66 + 32 + 8] ^= 0x04
            n += 1
        at = b.find(key, at + 1)
    with open("d/features.mdb", "wb") as f:
        f.write(b)
    ok, msg = raises(lambda: featcache.Cache("d").features("set", model="m.onnx", layer="gap"), "damaged",
                     "train/a/img003.jpg")
    report(ok and n > 0, "a damaged stored value raises featcache.Error naming the item: %s" % msg[:150], msg)


def check_extract():
    calls = []
    fc2 = featcache.Cache("c2")
    res = fc2.extract("set", model="m.onnx", layer="gap", batch=8, progress=lambda p: calls.append(p.done))
    X, y, _ = fc2.features("set", model="m.onnx", layer="gap", split=None)
    E = np.load("e_gap/features.npy")
    report(same_bits(X, E) and res["computed"] == 24 and res["layers"][0]["name"] == "gap",
           "extract() then features(): the CLI's bits (%d computed)" % res["computed"], res)
    report(len(calls) >= 3 and calls[-1] == 24, "the progress callback sees every batch (%s)" % calls)
    again = fc2.extract("set", model="m.onnx", layer="gap")
    report(again["computed"] == 0 and again["cached"] == 24, "a second extract() computes nothing", again)
    fc3 = featcache.Cache("c3")
    ok, msg = raises(lambda: fc3.extract("set", model="m.onnx", layer="gap", batch=4, progress=lambda p: True),
                     "stopped by the progress callback")
    left = fc3.extract("set", model="m.onnx", layer="gap")
    report(ok and 0 < left["computed"] < 24,
           "a callback returning True stops extract() after a batch (featcache.Error: %s); the rest "
           "is computed by the next (%d)" % (msg, left["computed"]))


def check_compute(fc):
    """compute="bf16": its own extractor, as the CLI's --compute bf16."""
    fc4 = featcache.Cache("c4")
    try:
        fc4.extract("set", model="m.onnx", layer="gap", compute="bf16")
    except featcache.Error as e:
        if "AVX512_BF16" not in str(e) and "kernel level" not in str(e):
            raise
        print("SKIP %s: compute='bf16' needs AVX512_BF16 kernels: %s" % (NAME, e))
        return
    B = export("c4", "gap", "e_bf16", "--compute", "bf16")[0]
    Xb, _, _ = fc4.features("set", model="m.onnx", layer="gap", split=None, compute="bf16")
    # (this one-Conv model's Conv has stride 2: the bf16 path's precision rule keeps it in f32, so
    # its bits may equal the f32 ones; the extractor is another one all the same, checked below)
    report(same_bits(Xb, B), "compute='bf16': extract() and features() give export --compute bf16's bits")
    ok, msg = raises(lambda: fc4.features("set", model="m.onnx", layer="gap", split=None), "")
    report(ok, "an f32 request is not served the bf16 features (%s)" % msg)
    ok, msg = raises(lambda: fc.features("set", model="m.onnx", layer="gap", exif_orientation="ignore"),
                     "no features for this extractor")
    report(ok, "exif_orientation='ignore' names another extractor than the default (%s)" % msg)
    ok, msg = raises(lambda: fc4.features("set", model="m.onnx", layer="gap", compute="f16"), "f32 or bf16")
    report(ok, "a bad compute value raises featcache.Error (%s)" % msg)


def check_torch(fc):
    try:
        import torch
        from featcache.torch import CachedDataset
    except ImportError as e:
        print("SKIP %s: featcache.torch: python3-torch not installed (%s)" % (NAME, e))
        return
    E, labels, _, splits = export("c", "gap", "e_gap")
    F = np.load("e_flip/features.npy")
    train = [i for i, s in enumerate(splits) if s == "train"]
    ds = CachedDataset(fc, "set", model="m.onnx", layer="gap", views=["orig", "flip"])
    rows = [ds[i] for i in range(len(ds))]
    want = np.concatenate([E[train], F[train]])
    got = np.stack([x.numpy() for x, _ in rows])
    targets = [int(t) for _, t in rows]
    report(len(ds) == 24 and same_bits(got, want) and ds.classes == ["a", "b"] and
           targets == [ds.classes.index(labels[i]) for i in train] * 2 and isinstance(rows[0][0], torch.Tensor),
           "CachedDataset(views=[orig, flip]) yields the cached rows and label indices")
    M = np.load("e_fmap/features.npy")
    dm = CachedDataset(fc, "set", model="m.onnx", layer="fmap", split=None)
    x, _ = dm[5]
    report(x.dim() == 3 and same_bits(x.numpy().reshape(-1), M[5]), "a map dataset yields (C, H, W) tensors %s"
           % (tuple(x.shape),))
    loader = torch.utils.data.DataLoader(ds, batch_size=5, shuffle=False)
    xb, tb = next(iter(loader))
    report(tuple(xb.shape) == (5, E.shape[1]) and tb.dtype == torch.long, "a DataLoader batches it")


def check_sklearn(fc):
    """README's mapping: featcache train --l2 L (--normalize std, the default) is scikit-learn's
    StandardScaler + LogisticRegression(C=1/L, multinomial): the same validation accuracy."""
    try:
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
    except ImportError:
        print("SKIP %s: scikit-learn mapping: python3-sklearn not installed" % NAME)
        return
    Xtr, ytr, _ = fc.features("set", model="m.onnx", layer="gap", split="train")
    Xva, yva, _ = fc.features("set", model="m.onnx", layer="gap", split="val")
    got = []
    for l2 in ("0.01", "1", "100"):
        out = run("train", "set", "--model", "m.onnx", "--layer", "gap", "--cache", "c", "--l2", l2, "--json")
        cli = float(out.split('"val_accuracy":')[1].split(",")[0].split("}")[0])
        clf = make_pipeline(StandardScaler(), LogisticRegression(C=1 / float(l2), multi_class="multinomial",
                                                                 max_iter=1000, tol=1e-8))
        sk = clf.fit(Xtr, ytr).score(Xva, yva)
        got.append((l2, cli, round(sk, 6)))
    report(all(abs(c - s) < 1e-6 for _, c, s in got),
           "featcache train --l2 L and scikit-learn LogisticRegression(C=1/L) after StandardScaler agree "
           "(l2, train, sklearn: %s)" % got)


def main():
    global featcache
    tmp = tempfile.mkdtemp(prefix="fc_python.")
    try:
        import featcache
        report(True, "import featcache (%s)" % featcache.lib_path)
        os.chdir(tmp)
        fixtures()
        fc = featcache.Cache("c")
        for step in (check_features, check_lists, check_errors, check_sklearn):
            step(fc)
        check_extract()
        check_compute(fc)
        check_torch(fc)
    except Exception as e:
        import traceback
        report(False, "the test stopped: %s: %s" % (type(e).__name__, e), traceback.format_exc())
    finally:
        os.chdir(ROOT)
        if not os.environ.get("KEEP"):
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print("kept " + tmp)
    return 1 if failures else 0


if __name__ == "__main__":
    warnings.simplefilter("error", ResourceWarning)
    sys.exit(main())
