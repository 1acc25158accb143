/* qsgd_tsv.c — the bounded TSV reader of the runner and the plotter (qsgd_tsv.h). A row is one
 * allocation: its ncol cell pointers followed by a copy of the line with tabs turned into
 * NULs; a short row's missing cells point at the copy's final NUL. */
#define _GNU_SOURCE
#include "qsgd_tsv.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
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

/* A message about line n: "NAME:N: ..." for a file, "line N: ..." for text (name NULL). */
static void line_err(char *err, size_t errlen, const char *name, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void line_err(char *err, size_t errlen, const char *name, size_t n, const char *fmt, ...) {
    char what[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (name)
        set_err(err, errlen, "%s:%zu: %s", name, n, what);
    else
        set_err(err, errlen, "line %zu: %s", n, what);
}

void qsgd_tsv_free(qsgd_tsv *t) {
    if (!t)
        return;
    for (size_t i = 0; i < t->nrow; i++)
        free(t->cell[i]);
    free(t->cell);
    free(t->head);
    memset(t, 0, sizeof *t);
}

/* Split line[0..len) (no newline, no NUL; n fields) into a new row block of ncol cells.
 * NULL when out of memory. */
static char **split_row(const char *line, size_t len, size_t n, size_t ncol) {
    size_t cells = ncol ? ncol : n;
    char **row = malloc(cells * sizeof *row + len + 1);
    if (!row)
        return NULL;
    char *copy = (char *)(row + cells);
    memcpy(copy, line, len);
    copy[len] = '\0';
    size_t j = 0;
    row[j++] = copy;
    for (size_t k = 0; k < len; k++)
        if (copy[k] == '\t') {
            copy[k] = '\0';
            if (j < cells)
                row[j++] = copy + k + 1;
        }
    while (j < cells)
        row[j++] = copy + len; /* "" */
    return row;
}

/* The next line of text[*off..len): its start and length without "\n" / "\r\n". */
static int next_line(const char *text, size_t len, size_t *off, const char **line, size_t *ll) {
    if (*off >= len)
        return 0;
    const char *p = text + *off, *nl = memchr(p, '\n', len - *off);
    size_t n = nl ? (size_t)(nl - p) : len - *off;
    *off += n + (nl != NULL);
    if (n && p[n - 1] == '\r')
        n--;
    *line = p;
    *ll = n;
    return 1;
}

static size_t count_fields(const char *line, size_t ll) {
    size_t nf = 1;
    for (size_t k = 0; k < ll; k++)
        nf += line[k] == '\t';
    return nf;
}

/* Parse text; messages start "NAME:N: " (a file) or "line N: " (name NULL). Two passes:
 * the first checks every bound and counts the rows, so that nothing is allocated for a
 * table that is then refused. */
static int parse(const char *name, const char *text, size_t len, qsgd_tsv *t, char *err,
                 size_t errlen) {
    memset(t, 0, sizeof *t);
    const char *pre = name ? name : "", *sep = name ? ": " : "";
    if (len > QSGD_TSV_MAX_BYTES) {
        set_err(err, errlen, "%s%slarger than %zu bytes", pre, sep, QSGD_TSV_MAX_BYTES);
        errno = EINVAL;
        return -1;
    }
    const char *line;
    size_t ll, off = 0, lineno = 0, ncol = 0, nrow = 0;
    while (next_line(text, len, &off, &line, &ll)) {
        lineno++;
        if (ll > QSGD_TSV_MAX_LINE) {
            line_err(err, errlen, name, lineno, "line longer than %zu bytes", QSGD_TSV_MAX_LINE);
            goto invalid;
        }
        if (memchr(line, '\0', ll)) {
            line_err(err, errlen, name, lineno, "a NUL byte (not a text table)");
            goto invalid;
        }
        if (ll == 0 || line[0] == '#')
            continue;
        size_t nf = count_fields(line, ll);
        if (nf > QSGD_TSV_MAX_COLS) {
            line_err(err, errlen, name, lineno, "%zu columns, more than %d", nf, QSGD_TSV_MAX_COLS);
            goto invalid;
        }
        if (!ncol)
            ncol = nf;
        else if (++nrow * ncol > QSGD_TSV_MAX_CELLS) {
            line_err(err, errlen, name, lineno, "more than %zu cells (rows x %zu columns)",
                     QSGD_TSV_MAX_CELLS, ncol);
            goto invalid;
        }
    }
    if (!ncol) {
        set_err(err, errlen, "%s%sno header line", pre, sep);
        goto invalid;
    }
    if (nrow && !(t->cell = malloc(nrow * sizeof *t->cell)))
        goto nomem;
    off = lineno = 0;
    while (next_line(text, len, &off, &line, &ll)) {
        lineno++;
        if (ll && line[0] == '#') {
            if (ll >= 9 && memcmp(line, "# model: ", 9) == 0 && !t->model[0])
                snprintf(t->model, sizeof t->model, "%.*s", (int)(ll - 9), line + 9);
            else if (ll >= 10 && memcmp(line, "# status: ", 10) == 0)
                snprintf(t->status, sizeof t->status, "%.*s", (int)(ll - 10), line + 10);
            continue;
        }
        if (ll == 0)
            continue;
        size_t nf = count_fields(line, ll);
        char **row = split_row(line, ll, nf, t->head ? t->ncol : 0);
        if (!row)
            goto nomem;
        if (!t->head) {
            t->head = row;
            t->ncol = nf;
        } else {
            t->cell[t->nrow++] = row;
        }
    }
    return 0;
invalid:
    qsgd_tsv_free(t);
    errno = EINVAL;
    return -1;
nomem:
    qsgd_tsv_free(t);
    set_err(err, errlen, "%s%sout of memory at line %zu", pre, sep, lineno);
    errno = ENOMEM;
    return -1;
}

int qsgd_tsv_parse(const char *text, size_t len, qsgd_tsv *t, char *err, size_t errlen) {
    return parse(NULL, text, len, t, err, errlen);
}

int qsgd_tsv_read(const char *path, qsgd_tsv *t, char *err, size_t errlen) {
    memset(t, 0, sizeof *t);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        set_err(err, errlen, "%s: cannot open: %s", path, strerror(e));
        errno = e;
        return -1;
    }
    struct stat st;
    size_t cap = 1 << 16;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
        if ((unsigned long long)st.st_size > QSGD_TSV_MAX_BYTES) {
            close(fd);
            set_err(err, errlen, "%s: %lld bytes, larger than %zu", path, (long long)st.st_size,
                    QSGD_TSV_MAX_BYTES);
            errno = EINVAL;
            return -1;
        }
        cap = (size_t)st.st_size + 1;
    }
    /* read to the end (a file may grow or not be regular), at most QSGD_TSV_MAX_BYTES + 1 */
    char *buf = malloc(cap);
    size_t n = 0;
    int e = 0;
    while (buf) {
        if (n == cap) {
            if (cap > QSGD_TSV_MAX_BYTES)
                break;
            size_t nc = cap * 2 > QSGD_TSV_MAX_BYTES + 1 ? QSGD_TSV_MAX_BYTES + 1 : cap * 2;
            char *b = realloc(buf, nc);
            if (!b) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = b;
            cap = nc;
        }
        ssize_t k = read(fd, buf + n, cap - n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            e = errno;
            break;
        }
        if (k == 0)
            break;
        n += (size_t)k;
    }
    close(fd);
    if (!buf) {
        set_err(err, errlen, "%s: out of memory reading it", path);
        errno = ENOMEM;
        return -1;
    }
    if (e) {
        free(buf);
        set_err(err, errlen, "%s: cannot read: %s", path, strerror(e));
        errno = e;
        return -1;
    }
    int rc = parse(path, buf, n, t, err, errlen);
    e = errno;
    free(buf);
    errno = e;
    return rc;
}

int qsgd_tsv_col(const qsgd_tsv *t, const char *name) {
    for (size_t j = 0; j < t->ncol; j++)
        if (strcmp(t->head[j], name) == 0)
            return (int)j;
    return -1;
}

double qsgd_tsv_num(const qsgd_tsv *t, size_t row, int col) {
    if (col < 0 || (size_t)col >= t->ncol || row >= t->nrow)
        return NAN;
    const char *s = t->cell[row][col];
    char *end;
    double v = strtod(s, &end);
    if (end == s)
        return NAN;
    while (*end == ' ')
        end++;
    return *end ? NAN : v;
}
