/* qsgd_file.c — atomic file writing (temporary beside the target, every write checked, rename
 * into place; the temporary removed or kept on failure) and mkdir -p (qsgd_file.h). */
#define _GNU_SOURCE
#include "qsgd_file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...) {
    if (!err || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* Tries of "PATH.partial.PID.N" before giving up (each taken name is someone else's temporary). */
#define UNIQUE_TRIES 1000

FILE *qsgd_file_open(const char *path, const char *suffix, char *tmp, size_t tmplen, char *err,
                     size_t errlen) {
    if (suffix) {
        int k = snprintf(tmp, tmplen, "%s%s", path, suffix);
        if (k < 0 || (size_t)k >= tmplen) {
            errno = ENAMETOOLONG;
            set_err(err, errlen, "cannot write %s%s: %s", path, suffix, strerror(errno));
            return NULL;
        }
        FILE *f = fopen(tmp, "w");
        if (!f) {
            int e = errno;
            set_err(err, errlen, "cannot write %s: %s", tmp, strerror(e));
            errno = e;
        }
        return f;
    }
    int fd = -1;
    for (unsigned n = 0; n < UNIQUE_TRIES; n++) {
        int k = snprintf(tmp, tmplen, "%s.partial.%ld.%u", path, (long)getpid(), n);
        if (k < 0 || (size_t)k >= tmplen) {
            errno = ENAMETOOLONG;
            set_err(err, errlen, "cannot write %s.partial.%ld.%u: %s", path, (long)getpid(), n,
                    strerror(errno));
            return NULL;
        }
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd >= 0 || errno != EEXIST)
            break;
    }
    if (fd < 0) {
        int e = errno;
        set_err(err, errlen, "cannot write %s: %s", tmp, strerror(e));
        errno = e;
        return NULL;
    }
    FILE *f = fdopen(fd, "w");
    if (!f) {
        int e = errno;
        close(fd);
        unlink(tmp);
        set_err(err, errlen, "cannot write %s: %s", tmp, strerror(e));
        errno = e;
    }
    return f;
}

int qsgd_file_check(int wrote, int *errnum) {
    if (wrote < 0 && !*errnum)
        *errnum = errno ? errno : EIO;
    return *errnum ? -1 : 0;
}

int qsgd_file_flush(FILE *f, int *errnum) {
    errno = 0;
    if ((fflush(f) != 0 || ferror(f)) && !*errnum)
        *errnum = errno ? errno : EIO;
    return *errnum ? -1 : 0;
}

void qsgd_file_error(const char *tmp, int errnum, char *err, size_t errlen) {
    set_err(err, errlen, "cannot write %s: %s", tmp, strerror(errnum ? errnum : EIO));
}

int qsgd_file_commit(FILE *f, int *errnum, const char *tmp, const char *path, int flags, char *err,
                     size_t errlen) {
    qsgd_file_flush(f, errnum);
    errno = 0;
    if ((flags & QSGD_FILE_SYNC) && !*errnum && fsync(fileno(f)) != 0)
        *errnum = errno ? errno : EIO;
    errno = 0;
    if (fclose(f) != 0 && !*errnum)
        *errnum = errno ? errno : EIO;
    if (*errnum) {
        qsgd_file_error(tmp, *errnum, err, errlen);
        if (!(flags & QSGD_FILE_KEEP))
            unlink(tmp);
        errno = *errnum;
        return -1;
    }
    return qsgd_file_rename(tmp, path, flags, err, errlen);
}

void qsgd_file_abandon(FILE *f, const char *tmp, int flags) {
    if (f)
        fclose(f);
    if (!(flags & QSGD_FILE_KEEP))
        unlink(tmp);
}

int qsgd_file_rename(const char *tmp, const char *path, int flags, char *err, size_t errlen) {
    if (rename(tmp, path) == 0)
        return 0;
    int e = errno;
    set_err(err, errlen, "cannot rename %s to %s: %s", tmp, path, strerror(e));
    if (!(flags & QSGD_FILE_KEEP))
        unlink(tmp);
    errno = e;
    return -1;
}

int qsgd_file_write(const char *path, const void *data, size_t n, char *err, size_t errlen) {
    char tmp[PATH_MAX + 64];
    FILE *f = qsgd_file_open(path, NULL, tmp, sizeof tmp, err, errlen);
    if (!f)
        return -1;
    int errnum = 0;
    errno = 0;
    qsgd_file_check(n && fwrite(data, 1, n, f) != n ? -1 : 0, &errnum);
    return qsgd_file_commit(f, &errnum, tmp, path, 0, err, errlen);
}

int qsgd_mkdir_p(const char *path) {
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp) {
        errno = ENAMETOOLONG;
        return -1;
    }
    if (!tmp[0]) {
        errno = ENOENT;
        return -1;
    }
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0777) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(tmp, 0777) != 0 && errno != EEXIST)
        return -1;
    struct stat st;
    if (stat(tmp, &st) != 0)
        return -1;
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}
