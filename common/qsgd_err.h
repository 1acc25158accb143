/* qsgd_err.h — the one error type of the core libraries (quantizers, models, data, optim,
 * network models, training): a status code from one enum, a message, and where the failure
 * is in the user's input (a config file's FILE:LINE, an option or setting, a message's bit
 * offset), raised by one macro that also records the source line that raised it.
 *
 *     if (n == 0)
 *         return QSGD_FAIL(err, QSGD_EINVAL, "bucket must be >= 1 (got %zu)", n);
 *
 * Every fallible function returns QSGD_OK (0) or the code it stored in *err; err may be
 * NULL (the code is still returned). qsgd_status_exit() maps a code to the exit class of
 * sim/sim_exit.h. No global state. */
#ifndef QSGDSIM_QSGD_ERR_H
#define QSGDSIM_QSGD_ERR_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum qsgd_status {
    QSGD_OK = 0,
    QSGD_EINVAL = 1,    /* bad parameter, spec, option or setting; unknown name or key */
    QSGD_ENOMEM = 2,    /* allocation failed */
    QSGD_ENOSPC = 3,    /* the caller's buffer is too small */
    QSGD_ECORRUPT = 4,  /* a message truncated, corrupt or oversized (bit = where) */
    QSGD_EDATA = 5,     /* an input file (dataset) missing or unreadable */
    QSGD_EFORMAT = 6,   /* an input file readable but malformed (where = FILE:LINE or offset) */
    QSGD_EIO = 7,       /* an output (results, platform file) could not be written */
    QSGD_EDIVERGED = 8, /* loss or gradient became NaN or infinite */
    QSGD_EINTERNAL = 9, /* a bug: an invariant of our own code does not hold */
    QSGD_EDEVICE = 10,  /* a GPU runtime or library call failed (not for lack of memory) */
    QSGD_NSTATUS
} qsgd_status;

typedef struct qsgd_err {
    int code;        /* qsgd_status */
    uint64_t bit;    /* QSGD_ECORRUPT: bit offset of the failure in the message, else 0 */
    char where[160]; /* the place in the user's input: "FILE:LINE", "--batch", "bits=" ...
                        ("" when the message says it or there is none) */
    const char *src; /* source file and line that raised it (for bug reports) */
    int src_line;
    char msg[640];
} qsgd_err;

/* Store code, the printf-style message and the raising source line in *err (err may be
 * NULL); returns code. Use through QSGD_FAIL / QSGD_FAIL_BIT. where is left as it is. */
int qsgd_fail_at(qsgd_err *err, int code, uint64_t bit, const char *src, int src_line,
                 const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 6, 7)))
#endif
    ;

#define QSGD_FAIL(err, code, ...) qsgd_fail_at((err), (code), 0, __FILE__, __LINE__, __VA_ARGS__)
/* A corrupt message: the bit offset where decoding failed. */
#define QSGD_FAIL_BIT(err, code, bit, ...)                                                         \
    qsgd_fail_at((err), (code), (bit), __FILE__, __LINE__, __VA_ARGS__)

/* Set err->where (printf-style; err may be NULL). Returns err->code (or QSGD_OK). */
int qsgd_err_where(qsgd_err *err, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* "where: msg" when where is set, else msg, into buf[len]; returns buf. */
const char *qsgd_err_text(const qsgd_err *err, char *buf, size_t len);
/* The code's name: "ok", "invalid", "out of memory", "no space", "corrupt", "data",
 * "format", "io", "diverged", "internal", "device"; "unknown" outside the enum. */
const char *qsgd_status_name(int code);
/* The exit class (sim/sim_exit.h) of a code: EINVAL 2 config, EDATA/EFORMAT 4 data, EIO 5,
 * EDIVERGED 3, ENOMEM 6 resources, anything else 1 internal (ENOSPC and ECORRUPT are bugs
 * when they reach a program's exit: buffers are sized by the code, messages made by it; a
 * failing GPU, EDEVICE, is not the user's setting). */
int qsgd_status_exit(int code);

#ifdef __cplusplus
}
#endif
#endif
