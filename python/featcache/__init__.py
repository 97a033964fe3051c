"""featcache from Python: a feature cache's data sets, extractors, runs and features as numpy arrays,
read straight from the cache (no export files), and extraction into it with the CLI's job.

    import featcache
    fc = featcache.Cache("path/to/cache")          # or Cache(): $FEATCACHE_HOME, else ./.featcache
    fc.datasets(), fc.extractors(), fc.runs()      # lists of dicts
    X, y, info = fc.features("hymenoptera", model="mobilenet_v2_1.0_224.onnx", split="train")
    fc.extract("data/hymenoptera", model="mobilenet_v2_1.0_224.onnx")

Every error raises featcache.Error with the message the CLI prints. Needs numpy only;
featcache.torch (a PyTorch Dataset over cached features) is imported on its own and needs torch.
"""
import ctypes
import json
import os
import sys
import warnings

import numpy as np

from featcache._lib import Error, Progress, PROGRESS_FN, lib, lib_path, cache_lock, check, take_string, options, _Status

__all__ = ["Cache", "Error", "IncompleteWarning", "Progress", "lib_path"]


class IncompleteWarning(UserWarning):
    """The data set's last extract did not finish: the features of the items it has are returned
    (strict=True makes it an Error)."""


def _strings(handle, which, decode):
    n = ctypes.c_size_t()
    ptr = lib.fc_api_features_strings(handle, which, ctypes.byref(n))
    raw = ctypes.string_at(ptr, n.value) if n.value else b""
    return [decode(s) for s in raw.split(b"\0")[:-1]]


def _utf8(b):
    return b.decode("utf-8", "replace")


class _Bar:
    """The CLI's progress line on stderr: done/total, computed, cached, bad, rate, ETA."""

    def __init__(self):
        self.last = -1.0

    def __call__(self, p):
        if p.seconds - self.last < 0.2 and p.done < p.total:
            return
        self.last = p.seconds
        rate = p.computed / p.seconds if p.seconds > 0 else 0
        eta = "  ETA %.0fs" % ((p.total - p.done) / rate) if rate > 0 and p.done < p.total else ""
        sys.stderr.write("\r  %d/%d  computed %d  cached %d  bad %d  %.1f img/s%s   "
                         % (p.done, p.total, p.computed, p.cached, p.bad, rate, eta))
        sys.stderr.flush()


class Cache:
    """A featcache cache folder (catalog.sqlite + features.mdb). path None: $FEATCACHE_HOME, else
    ./.featcache, as the CLI. Each call opens the cache and closes it again, so a Cache holds no
    file open and extracts in other processes may run meanwhile."""

    def __init__(self, path=None):
        self.path = os.fspath(path) if path is not None else None

    def __repr__(self):
        return "featcache.Cache(%r)" % self.path

    def _dir(self):
        return os.fsencode(self.path) if self.path is not None else None

    def _list(self, what):
        out, st = ctypes.c_void_p(), _Status()
        with cache_lock:
            rc = lib.fc_api_list(self._dir(), what.encode(), ctypes.byref(out), ctypes.byref(st))
        check(rc, st)
        return json.loads(take_string(out))

    def datasets(self):
        """Data sets: dicts with id, name, root, format, created, items, ok, bad, classes."""
        return self._list("datasets")

    def extractors(self):
        """Extractors: dicts with id, model_path, model_sha256, layer, size, crop, preprocess, views,
        dtype, dims, created, features (values stored)."""
        return self._list("extractors")

    def runs(self):
        """Runs (extract, train, sweep): dicts with id, kind, status, dataset_id, extractor, started,
        finished, params, result."""
        return self._list("runs")

    def features(self, dataset, model, layer=None, split="train", view="orig", size=None, crop=None,
                 preprocess=None, dtype=None, grayscale=False, compute=None, exif_orientation=None, name=None,
                 strict=False):
        """The cached features of `dataset` (its catalog name, or its folder as given to extract)
        for the extractor these options name (as the CLI's --model, --layer, --size, --crop,
        --preprocess, --dtype, --grayscale, --compute, --exif-orientation; defaults as in extract), one view.

        Returns X, y, info: X float32 of shape (rows, *feature dims) (f16 stores converted; a map
        keeps its (C, H, W)), y the labels (numpy array of str, "" when unlabeled), info a dict with
        per-row lists "paths" (relative to the data set's folder), "hashes" (SHA-256 hex of the
        image bytes) and "splits", and the set's "dataset", "extractor", "layer", "model_sha256",
        "size", "view", "dims". Rows come in the order `featcache export` writes them; split=None
        gives every row, else only those of that split ("train", "val", ...).
        """
        kw = dict(model=os.fspath(model), layer=layer, view=view, size=size, crop=crop, preprocess=preprocess,
                  dtype=dtype, grayscale=grayscale, compute=compute, exif_orientation=exif_orientation, name=name,
                  strict=strict)
        handle, st = ctypes.c_void_p(), _Status()
        with cache_lock:
            rc = lib.fc_api_features_load(self._dir(), os.fsencode(dataset), options(kw),
                                          split.encode() if split is not None else None, ctypes.byref(handle),
                                          ctypes.byref(st))
        check(rc, st)
        try:
            rows, rank, dims = ctypes.c_size_t(), ctypes.c_int(), (ctypes.c_uint * 8)()
            lib.fc_api_features_shape(handle, ctypes.byref(rows), ctypes.byref(rank), dims)
            shape = (rows.value,) + tuple(dims[:rank.value])
            X = np.empty(shape, dtype=np.float32)
            check(lib.fc_api_features_copy(handle, X.ctypes.data, X.size, ctypes.byref(st)), st)
            info = json.loads(lib.fc_api_features_info(handle).decode("utf-8"))
            y = np.array(_strings(handle, 1, _utf8), dtype=str)
            info["paths"] = _strings(handle, 0, os.fsdecode)
            info["splits"] = _strings(handle, 2, _utf8)
            info["hashes"] = _strings(handle, 3, _utf8)
        finally:
            lib.fc_api_features_free(handle)
        if info.get("warning"):
            warnings.warn(info["warning"], IncompleteWarning, stacklevel=2)
        return X, y, info

    def extract(self, dataset, model, layer=None, size=None, crop=None, preprocess=None, dtype=None,
                grayscale=False, compute=None, exif_orientation=None, views=None, batch=None, threads=None, decoders=None, name=None, format=None,
                max_cache_size=None, progress=None):
        """`featcache extract DATASET` into this cache: computes the features that are missing
        (the CLI's job: same extractor ids, same values). layer may be a list (several tensors per
        pass); views e.g. "orig,flip". progress: None shows the CLI's progress line on stderr when
        stderr is a terminal, True always, False never; a callable gets a featcache.Progress
        (total, done, computed, cached, bad, seconds) after each batch and may return True to stop.
        Ctrl-C stops after the batch in flight (what was committed stays) and raises
        KeyboardInterrupt. Returns the CLI's --json summary as a dict (items, computed, cached,
        bad, layers with their extractor ids and dims, bad_files with the reasons, ...).
        """
        if progress is None:
            progress = sys.stderr.isatty()
        show = _Bar() if progress is True else progress if callable(progress) else None
        raised = []

        def relay(user, p):
            try:
                return 1 if show(p.contents) else 0
            except BaseException as e:  # KeyboardInterrupt lands here: stop the job, raise after it
                raised.append(e)
                return 1

        kw = dict(model=os.fspath(model), layer=layer, size=size, crop=crop, preprocess=preprocess, dtype=dtype,
                  grayscale=grayscale, compute=compute, exif_orientation=exif_orientation, views=views, batch=batch, threads=threads, decoders=decoders, name=name,
                  format=format, max_cache_size=max_cache_size)
        cb = PROGRESS_FN(relay) if show else PROGRESS_FN()
        out, st = ctypes.c_void_p(), _Status()
        with cache_lock:
            rc = lib.fc_api_extract(self._dir(), os.fsencode(dataset), options(kw), cb, None, ctypes.byref(out),
                                    ctypes.byref(st))
        if show is not None and isinstance(show, _Bar):
            sys.stderr.write("\n")
        if raised:
            raise raised[0]
        if rc == -9:  # FC_ECANCELLED: only the callback stops a run from Python
            raise Error("extract stopped by the progress callback; what was computed is committed (extract again "
                        "to finish)", rc)
        check(rc, st)
        return json.loads(take_string(out))
