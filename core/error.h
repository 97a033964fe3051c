/* Status codes and error messages shared by every featcache library module.
 * Library functions return 0 on success or a negative FC_E* code, and fill an optional fc_error
 * with a message that names the file/node and the reason. Callers branch on the code, never on
 * the message text (which is for people). The library never prints or exits; only the CLI turns
 * these into output. Not a logging facility. */
#ifndef FC_ERROR_H
#define FC_ERROR_H

enum {
    FC_OK = 0,
    FC_EIO = -1,          /* file cannot be opened/read/written */
    FC_EFORMAT = -2,      /* malformed input (corrupt image, bad protobuf, inconsistent graph) */
    FC_EUNSUPPORTED = -3, /* valid input that featcache does not implement (op, attribute, format) */
    FC_ESHAPE = -4,       /* tensor shapes do not fit together */
    FC_ENOMEM = -5,       /* allocation failed */
    FC_EINVAL = -6,       /* bad argument from the caller */
    FC_ELIMIT = -7,       /* input exceeds a size limit (overflow, absurd dimensions) */
    FC_EINTERNAL = -8,    /* our own bug */
    FC_ECANCELLED = -9,   /* the caller asked to stop (a cancel flag, a callback); committed work stays */
    FC_EFULL = -10,       /* the feature store reached its configured size limit (max_map_size) */
    FC_ENOSPC = -11,      /* the file system is full (no space left on device, quota) */
    FC_ETIMEOUT = -12,    /* waited as long as allowed for another thread or process (a lock, open
                             transactions) */
};

typedef struct fc_error {
    int code;       /* last FC_E* code set, 0 if none */
    char msg[512];  /* human-readable, names the file or node and the reason */
} fc_error;

/* Sets err (may be NULL) to code and a printf-formatted message; returns code so callers can write
 * `return fc_fail(err, FC_EIO, "%s: %s", path, strerror(errno));`. Thread-safe (no shared state). */
int fc_fail(fc_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefixes err->msg with a printf-formatted context ("model.onnx: " + old message). Returns err->code. */
int fc_error_prefix(fc_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Static description of a code; never NULL. */
const char *fc_strerror(int code);

#endif
