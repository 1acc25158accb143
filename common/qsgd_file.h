/* qsgd_file.h — writing a file so that readers never see it half written: the text goes to a
 * temporary beside the target, every write, flush and close is checked, and the temporary is
 * renamed onto the target only when all of it succeeded. On failure the temporary is removed,
 * or kept when the caller asks (QSGD_FILE_KEEP: a result table that failed is kept as
 * PATH.partial on purpose, so that what was computed stays readable). Also mkdir -p.
 * Messages name the file and the reason: "cannot write TMP: REASON",
 * "cannot rename TMP to PATH: REASON". No state outside the caller's FILE and errnum. */
#ifndef QSGDSIM_QSGD_FILE_H
#define QSGDSIM_QSGD_FILE_H

#include <stddef.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
    QSGD_FILE_KEEP = 1, /* on failure keep the temporary (closed) instead of removing it */
    QSGD_FILE_SYNC = 2, /* fsync the temporary before the rename */
};

/* Open the temporary of path for writing. tmp (tmplen bytes) receives its name: path followed
 * by suffix, opened like fopen(..., "w") (an existing file, or what a symlink of that name
 * points to, is truncated), or with suffix NULL a new unique name "PATH.partial.PID.N" (created
 * exclusively, mode 0666 less the umask). Returns the stream, or NULL with
 * "cannot write TMP: reason" in err (errno set; ENAMETOOLONG when tmp is too small). */
FILE *qsgd_file_open(const char *path, const char *suffix, char *tmp, size_t tmplen, char *err,
                     size_t errlen);

/* Record the outcome of one write to the temporary: wrote < 0 (the return value of fprintf,
 * fputs, ...) keeps errno as *errnum unless an earlier failure is kept. 0, or -1 when a
 * failure is (now or earlier) recorded. */
int qsgd_file_check(int wrote, int *errnum);

/* fflush and the stream's error flag: 0, or -1 with the first failure kept in *errnum. */
int qsgd_file_flush(FILE *f, int *errnum);

/* "cannot write TMP: reason" for the failure kept in errnum (EIO if none). */
void qsgd_file_error(const char *tmp, int errnum, char *err, size_t errlen);

/* Finish: flush (and fsync with QSGD_FILE_SYNC), close and rename tmp onto path. Returns 0, or
 * -1 with "cannot write TMP: reason" (a failure kept in *errnum, or of the flush or close) or
 * "cannot rename TMP to PATH: reason" in err (err may be NULL) and errno set; the temporary is
 * then removed, or kept with QSGD_FILE_KEEP. The stream is closed either way. */
int qsgd_file_commit(FILE *f, int *errnum, const char *tmp, const char *path, int flags, char *err,
                     size_t errlen);

/* Give up: close the stream (NULL is fine) and remove the temporary, or keep it with
 * QSGD_FILE_KEEP. Never renames. */
void qsgd_file_abandon(FILE *f, const char *tmp, int flags);

/* Rename tmp, written by someone else (e.g. a figure by gnuplot), onto path: 0, or -1 with
 * "cannot rename TMP to PATH: reason" in err and the temporary removed (kept with
 * QSGD_FILE_KEEP). */
int qsgd_file_rename(const char *tmp, const char *path, int flags, char *err, size_t errlen);

/* The whole file at once: n bytes of data written to path through a unique temporary.
 * 0, or -1 with errno set and the message in err (the temporary removed). */
int qsgd_file_write(const char *path, const void *data, size_t n, char *err, size_t errlen);

/* mkdir -p (mode 0777 less the umask): every missing directory of path. 0, or -1 with errno
 * (ENOTDIR when path or a component exists and is not a directory; ENAMETOOLONG). */
int qsgd_mkdir_p(const char *path);

#ifdef __cplusplus
}
#endif
#endif
