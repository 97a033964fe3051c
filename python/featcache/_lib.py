"""Loads libfeatcache.so (the C API of api/featcache.h) with ctypes and declares its functions.

Where the library is looked for, first found wins:
  1. $FEATCACHE_LIB (a path to libfeatcache.so);
  2. the build tree this package sits in: <repo>/build/libfeatcache.so (PYTHONPATH=python);
  3. the package's own folder: featcache/libfeatcache.so (`make python` copies it there before
     `pip install ./python`, so an installed package carries its library);
  4. the system's loader path (e.g. /usr/local/lib/libfeatcache.so).
"""
import ctypes
import ctypes.util
import os
import threading

API_VERSION = 1  # FC_API_VERSION of api/featcache.h this module was written for

_here = os.path.dirname(os.path.abspath(__file__))


def _candidates():
    env = os.environ.get("FEATCACHE_LIB")
    if env:
        return [env]
    return [os.path.join(_here, "..", "..", "build", "libfeatcache.so"),
            os.path.join(_here, "libfeatcache.so"),
            ctypes.util.find_library("featcache") or "libfeatcache.so"]


class Error(Exception):
    """Every error featcache reports: the message the CLI prints after "featcache CMD: ".

    `code` is the library's status code (negative, e.g. -1 I/O, -2 format/damaged, -6 invalid)."""

    def __init__(self, message, code=-6):
        super().__init__(message)
        self.code = code


class _Status(ctypes.Structure):
    _fields_ = [("code", ctypes.c_int), ("message", ctypes.c_char * 1024)]


class Progress(ctypes.Structure):
    """Counts of a running extraction (passed to an extract progress callback)."""
    _fields_ = [("total", ctypes.c_size_t), ("done", ctypes.c_size_t), ("computed", ctypes.c_size_t),
                ("cached", ctypes.c_size_t), ("bad", ctypes.c_size_t), ("seconds", ctypes.c_double)]


PROGRESS_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.POINTER(Progress))


def _load():
    tried = []
    for path in _candidates():
        if os.path.sep in path and not os.path.exists(path):
            tried.append(path + " (missing)")
            continue
        try:
            lib = ctypes.CDLL(path)
            break
        except OSError as e:
            tried.append("%s (%s)" % (path, e))
    else:
        raise ImportError("featcache: libfeatcache.so not found (run `make`, or set FEATCACHE_LIB); tried: "
                          + "; ".join(tried))
    if lib.fc_api_version() != API_VERSION:
        raise ImportError("featcache: %s has API version %d, this package wants %d"
                          % (path, lib.fc_api_version(), API_VERSION))
    c = ctypes
    st, pp = c.POINTER(_Status), c.POINTER(c.c_char_p)
    sig = {
        "fc_api_list": (c.c_int, [c.c_char_p, c.c_char_p, c.POINTER(c.c_void_p), st]),
        "fc_api_free": (None, [c.c_void_p]),
        "fc_api_features_load": (c.c_int, [c.c_char_p, c.c_char_p, pp, c.c_char_p, c.POINTER(c.c_void_p), st]),
        "fc_api_features_shape": (None, [c.c_void_p, c.POINTER(c.c_size_t), c.POINTER(c.c_int),
                                         c.POINTER(c.c_uint)]),
        "fc_api_features_copy": (c.c_int, [c.c_void_p, c.c_void_p, c.c_size_t, st]),
        "fc_api_features_strings": (c.c_void_p, [c.c_void_p, c.c_int, c.POINTER(c.c_size_t)]),
        "fc_api_features_info": (c.c_char_p, [c.c_void_p]),
        "fc_api_features_free": (None, [c.c_void_p]),
        "fc_api_extract": (c.c_int, [c.c_char_p, c.c_char_p, pp, PROGRESS_FN, c.c_void_p, c.POINTER(c.c_void_p), st]),
    }
    for name, (res, args) in sig.items():
        f = getattr(lib, name)
        f.restype, f.argtypes = res, args
    return lib, path


lib, lib_path = _load()
class _CacheLock:
    """LMDB allows one open handle per file and process: calls that open a cache (all but the
    accessors of a loaded feature set) run one at a time (ctypes releases the GIL while C runs),
    and one from inside an extract's progress callback is refused instead of deadlocking."""

    def __init__(self):
        self._lock, self._owner = threading.Lock(), None

    def __enter__(self):
        if self._owner == threading.get_ident():
            raise Error("a cache cannot be read from inside an extract's progress callback (LMDB allows one "
                        "open handle per process)")
        self._lock.acquire()
        self._owner = threading.get_ident()

    def __exit__(self, *exc):
        self._owner = None
        self._lock.release()


cache_lock = _CacheLock()


def check(rc, status):
    if rc != 0:
        raise Error(status.message.decode("utf-8", "replace"), status.code or rc)


def take_string(ptr):
    """The malloc'd C string at ptr as str (freed)."""
    try:
        return ctypes.string_at(ptr).decode("utf-8", "replace")
    finally:
        lib.fc_api_free(ptr)


def options(kw):
    """{key: value} -> NULL-terminated char*[] of key, value (values as the CLI spells them)."""
    flat = []
    for k, v in kw.items():
        if v is None or v is False:
            continue
        for one in (v if isinstance(v, (list, tuple)) else [v]):
            flat += [k.encode(), ("1" if one is True else str(one)).encode()]
    arr = (ctypes.c_char_p * (len(flat) + 1))(*flat, None)
    return arr
