/* fc_error helpers: formatting of status messages. No globals, no printing. */
#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int fc_fail(fc_error *err, int code, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->code = code;
    }
    return code;
}

int fc_error_prefix(fc_error *err, const char *fmt, ...) {
    if (!err) return FC_EINTERNAL;
    char prefix[256], old[sizeof err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    size_t n = strlen(prefix);
    if (n >= sizeof err->msg) n = sizeof err->msg - 1;
    memcpy(err->msg, prefix, n);
    size_t rest = strnlen(old, sizeof old - 1);
    if (rest > sizeof err->msg - 1 - n) rest = sizeof err->msg - 1 - n;
    memcpy(err->msg + n, old, rest);
    err->msg[n + rest] = 0;
    return err->code;
}

const char *fc_strerror(int code) {
    switch (code) {
    case FC_OK: return "success";
    case FC_EIO: return "input/output error";
    case FC_EFORMAT: return "malformed input";
    case FC_EUNSUPPORTED: return "not supported";
    case FC_ESHAPE: return "shape mismatch";
    case FC_ENOMEM: return "out of memory";
    case FC_EINVAL: return "invalid argument";
    case FC_ELIMIT: return "size limit exceeded";
    case FC_EINTERNAL: return "internal error";
    case FC_ECANCELLED: return "cancelled";
    case FC_EFULL: return "cache full";
    case FC_ENOSPC: return "no space left on device";
    case FC_ETIMEOUT: return "timed out";
    default: return "unknown error";
    }
}
