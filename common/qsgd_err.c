/* qsgd_err.c — the one error type (qsgd_err.h). */
#include "qsgd_err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "qsgd_exit.h"

int qsgd_fail_at(qsgd_err *err, int code, uint64_t bit, const char *src, int src_line,
                 const char *fmt, ...) {
    if (err) {
        err->code = code;
        err->bit = bit;
        err->src = src;
        err->src_line = src_line;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

int qsgd_err_where(qsgd_err *err, const char *fmt, ...) {
    if (!err)
        return QSGD_OK;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->where, sizeof err->where, fmt, ap);
    va_end(ap);
    return err->code;
}

const char *qsgd_err_text(const qsgd_err *err, char *buf, size_t len) {
    if (len == 0)
        return buf;
    size_t wl = strlen(err->where);
    /* a message that already starts with its place ("FILE:LINE: ...") is printed once */
    if (wl && !(strncmp(err->msg, err->where, wl) == 0 && err->msg[wl] == ':'))
        snprintf(buf, len, "%s: %s", err->where, err->msg);
    else
        snprintf(buf, len, "%s", err->msg);
    return buf;
}

const char *qsgd_status_name(int code) {
    static const char *const names[QSGD_NSTATUS] = {[QSGD_OK] = "ok",
                                                    [QSGD_EINVAL] = "invalid",
                                                    [QSGD_ENOMEM] = "out of memory",
                                                    [QSGD_ENOSPC] = "no space",
                                                    [QSGD_ECORRUPT] = "corrupt",
                                                    [QSGD_EDATA] = "data",
                                                    [QSGD_EFORMAT] = "format",
                                                    [QSGD_EIO] = "io",
                                                    [QSGD_EDIVERGED] = "diverged",
                                                    [QSGD_EINTERNAL] = "internal",
                                                    [QSGD_EDEVICE] = "device"};
    return code >= 0 && code < QSGD_NSTATUS ? names[code] : "unknown";
}

int qsgd_status_exit(int code) {
    switch (code) {
    case QSGD_OK:
        return QSGD_EXIT_OK;
    case QSGD_EINVAL:
        return QSGD_EXIT_CONFIG;
    case QSGD_EDATA:
    case QSGD_EFORMAT:
        return QSGD_EXIT_DATA;
    case QSGD_EIO:
        return QSGD_EXIT_IO;
    case QSGD_EDIVERGED:
        return QSGD_EXIT_DIVERGED;
    case QSGD_ENOMEM:
        return QSGD_EXIT_RESOURCES;
    default:
        return QSGD_EXIT_INTERNAL;
    }
}
