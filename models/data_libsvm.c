/* data_libsvm.c — LIBSVM / SVMlight text files ("label idx:val idx:val ...", 1-based
 * strictly increasing indices) into CSR, optionally densified. Labels become class ids
 * 0..K-1 (distinct values sorted ascending: {-1,+1} and {0,1} -> {0,1}) or regression
 * targets. Every malformed token is reported as file:line with the token; the line length,
 * the file size and the memory the rows take are bounded (data.h), so no input can make the
 * reader grow without limit.
 */
#include "data.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Growable arrays of the parse; bytes = their allocated total, limit = what they may take. */
typedef struct csr_build {
    double *y;
    size_t *rowptr;
    uint32_t *col;
    float *val;
    size_t n, cap_rows, cap_rp, nnz, cap_nnz, cap_val;
    size_t bytes, limit;
} csr_build;

/* Grow *p to hold need elements (doubling). Returns 0, -1 when the allocation fails, or -2
 * when the arrays would take more than b->limit bytes. */
static int grow(csr_build *b, void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : 1024;
    while (c < need) {
        if (c > SIZE_MAX / 4 / elem)
            return -2;
        c *= 2;
    }
    size_t more = (c - *cap) * elem;
    if (b->bytes + more > b->limit)
        return -2;
    void *q = realloc(*p, c * elem);
    if (!q)
        return -1;
    *p = q;
    *cap = c;
    b->bytes += more;
    return 0;
}

/* Physical memory of this machine in bytes (SIZE_MAX if unknown): no dataset the reader
 * builds may need more. */
static size_t phys_memory(void) {
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (pages <= 0 || page <= 0 || (unsigned long)pages > SIZE_MAX / (unsigned long)page)
        return SIZE_MAX;
    return (size_t)pages * (size_t)page;
}

/* The failure of grow() (rc -1 or -2) as QSGD_ENOMEM. */
static int fail_nomem(qsgd_err *err, const char *path, const csr_build *b, int rc) {
    if (rc == -2)
        return QSGD_FAIL(err, QSGD_ENOMEM,
                         "out of memory reading %s after %zu rows: they need more than this "
                         "machine's %zu MiB of memory",
                         path, b->n, b->limit >> 20);
    return QSGD_FAIL(err, QSGD_ENOMEM, "out of memory reading %s after %zu rows (%zu MiB held)",
                     path, b->n, b->bytes >> 20);
}

/* One line at a time, each at most max_line bytes, at most max_bytes in all. */
typedef struct line_reader {
    FILE *f;
    const char *path;
    char *buf; /* [cap]: the current line, NUL-terminated, without its newline */
    size_t cap, max_line;
    uint64_t total, max_bytes;
    size_t lineno;
} line_reader;

/* Read the next line into r->buf. Returns QSGD_OK with a line, -1 at the end of the file,
 * or a data_status (NUL byte, line or file too long, read error, out of memory). */
static int read_line(line_reader *r, qsgd_err *err) {
    size_t len = 0;
    int c = EOF;
    r->lineno++;
    while ((c = getc_unlocked(r->f)) != EOF) {
        if (++r->total > r->max_bytes)
            return QSGD_FAIL(err, QSGD_EFORMAT,
                             "%s:%zu: file longer than %llu bytes (the LIBSVM reader's limit)",
                             r->path, r->lineno, (unsigned long long)r->max_bytes);
        if (c == '\n')
            break;
        if (c == '\0')
            return QSGD_FAIL(err, QSGD_EFORMAT, "%s:%zu: NUL byte in line (binary file?)", r->path,
                             r->lineno);
        if (len + 1 >= r->cap) {
            if (len >= r->max_line)
                return QSGD_FAIL(err, QSGD_EFORMAT, "%s:%zu: line longer than %zu bytes", r->path,
                                 r->lineno, r->max_line);
            size_t c2 = r->cap ? 2 * r->cap : 256;
            if (c2 > r->max_line + 1)
                c2 = r->max_line + 1;
            char *q = realloc(r->buf, c2);
            if (!q)
                return QSGD_FAIL(err, QSGD_ENOMEM, "out of memory reading %s at line %zu", r->path,
                                 r->lineno);
            r->buf = q;
            r->cap = c2;
        }
        r->buf[len++] = (char)c;
    }
    if (c == EOF) {
        if (ferror(r->f))
            return QSGD_FAIL(err, QSGD_EDATA, "%s:%zu: read error: %s", r->path, r->lineno,
                             strerror(errno));
        if (len == 0)
            return -1;
    }
    if (!r->buf) { /* an empty first line */
        if (!(r->buf = malloc(1)))
            return QSGD_FAIL(err, QSGD_ENOMEM, "out of memory reading %s at line %zu", r->path,
                             r->lineno);
        r->cap = 1;
    }
    r->buf[len] = '\0';
    return QSGD_OK;
}

static void csr_build_free(csr_build *b) {
    free(b->y);
    free(b->rowptr);
    free(b->col);
    free(b->val);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Index of v in sorted classes[0..k), or -1. */
static int class_of(const double *classes, int k, double v) {
    int lo = 0, hi = k - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (classes[mid] == v)
            return mid;
        if (classes[mid] < v)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return -1;
}

int data_libsvm_load(const char *path, const data_libsvm_opts *opts, dataset **out,
                     data_libsvm_info *info, qsgd_err *err) {
    *out = NULL;
    data_libsvm_opts o = {.dense = -1};
    if (opts)
        o = *opts;
    if (o.dense_max == 0)
        o.dense_max = 4096;
    if (o.classes) {
        if (o.nclasses <= 0 || o.nclasses > DATA_MAX_CLASSES)
            return QSGD_FAIL(err, QSGD_EINVAL, "%s: %d fixed classes (1..%d allowed)", path,
                             o.nclasses, DATA_MAX_CLASSES);
        for (int k = 1; k < o.nclasses; k++)
            if (!(o.classes[k - 1] < o.classes[k]))
                return QSGD_FAIL(err, QSGD_EINVAL,
                                 "%s: fixed class values must be strictly "
                                 "increasing",
                                 path);
        if (o.task == DATA_TASK_REGRESSION)
            return QSGD_FAIL(err, QSGD_EINVAL, "%s: fixed classes given for a regression task",
                             path);
        o.task = DATA_TASK_CLASSIFY;
    }
    line_reader r = {.path = path,
                     .max_line = o.max_line ? o.max_line : DATA_LIBSVM_MAX_LINE,
                     .max_bytes = o.max_bytes ? o.max_bytes : DATA_LIBSVM_MAX_BYTES};
    r.f = fopen(path, "r");
    if (!r.f)
        return QSGD_FAIL(err, QSGD_EDATA, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(r.f), &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 &&
        (uint64_t)st.st_size > r.max_bytes) {
        fclose(r.f);
        return QSGD_FAIL(err, QSGD_EFORMAT,
                         "%s: file of %llu bytes, more than the %llu the LIBSVM reader accepts",
                         path, (unsigned long long)st.st_size, (unsigned long long)r.max_bytes);
    }

    csr_build b = {.limit = phys_memory()};
    size_t lineno = 0, max_index = 0;
    int rc = QSGD_OK, g;
    while ((rc = read_line(&r, err)) == QSGD_OK) {
        lineno = r.lineno;
        char *line = r.buf;
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        char *save = NULL;
        char *tok = strtok_r(line, " \t\r\n\v\f", &save);
        if (!tok)
            continue; /* blank or comment line */
        char *end;
        errno = 0;
        double y = strtod(tok, &end);
        if (end == tok || *end || errno == ERANGE || !isfinite(y)) {
            rc = QSGD_FAIL(err, QSGD_EFORMAT, "%s:%zu: bad label '%.40s' (expected a number)", path,
                           lineno, tok);
            goto bad_line;
        }
        if (o.classes && class_of(o.classes, o.nclasses, y) < 0) {
            rc = QSGD_FAIL(err, QSGD_EFORMAT,
                           "%s:%zu: label %g is not one of the %d known "
                           "classes (from the training file)",
                           path, lineno, y, o.nclasses);
            goto bad_line;
        }
        if ((g = grow(&b, (void **)&b.y, &b.cap_rows, b.n + 1, sizeof *b.y)) ||
            (g = grow(&b, (void **)&b.rowptr, &b.cap_rp, b.n + 2, sizeof *b.rowptr))) {
            rc = fail_nomem(err, path, &b, g);
            goto done;
        }
        b.rowptr[b.n] = b.nnz;
        b.y[b.n] = y;
        size_t prev = 0;
        while ((tok = strtok_r(NULL, " \t\r\n\v\f", &save))) {
            char *colon = strchr(tok, ':');
            if (!colon || colon == tok || !colon[1]) {
                rc = QSGD_FAIL(err, QSGD_EFORMAT,
                               "%s:%zu: bad token '%.40s' (expected "
                               "index:value)",
                               path, lineno, tok);
                goto bad_line;
            }
            if (!strncmp(tok, "qid:", 4))
                continue;
            errno = 0;
            if (*tok == '-' || *tok == '+') {
                rc = QSGD_FAIL(err, QSGD_EFORMAT,
                               "%s:%zu: bad index in '%.40s' (indices are "
                               "1-based positive integers)",
                               path, lineno, tok);
                goto bad_line;
            }
            unsigned long long idx = strtoull(tok, &end, 10);
            if (end != colon || errno == ERANGE || idx == 0 || idx > UINT32_MAX) {
                rc = QSGD_FAIL(err, QSGD_EFORMAT,
                               "%s:%zu: bad index in '%.40s' (indices are "
                               "1-based positive integers)",
                               path, lineno, tok);
                goto bad_line;
            }
            if (idx <= prev) {
                rc = QSGD_FAIL(err, QSGD_EFORMAT,
                               "%s:%zu: index %llu after %zu: indices must be "
                               "strictly increasing",
                               path, lineno, idx, prev);
                goto bad_line;
            }
            if (o.dim && idx > o.dim) {
                rc = QSGD_FAIL(err, QSGD_EFORMAT, "%s:%zu: index %llu exceeds the dimension %zu",
                               path, lineno, idx, o.dim);
                goto bad_line;
            }
            errno = 0;
            double v = strtod(colon + 1, &end);
            if (end == colon + 1 || *end || errno == ERANGE || !isfinite(v) || fabs(v) > 3.0e38) {
                rc = QSGD_FAIL(err, QSGD_EFORMAT,
                               "%s:%zu: bad value in '%.40s' (expected a "
                               "finite number)",
                               path, lineno, tok);
                goto bad_line;
            }
            prev = (size_t)idx;
            if ((g = grow(&b, (void **)&b.col, &b.cap_nnz, b.nnz + 1, sizeof *b.col)) ||
                (g = grow(&b, (void **)&b.val, &b.cap_val, b.nnz + 1, sizeof *b.val))) {
                rc = fail_nomem(err, path, &b, g);
                goto done;
            }
            b.col[b.nnz] = (uint32_t)(idx - 1);
            b.val[b.nnz] = (float)v;
            b.nnz++;
        }
        if (prev > max_index)
            max_index = prev;
        b.n++;
    }
    if (rc > 0) /* read_line failed */
        goto read_failed;
    rc = QSGD_OK;
    if (b.n == 0) {
        rc = QSGD_FAIL(err, QSGD_EFORMAT, "%s: no samples (empty file or only comments)", path);
        goto done;
    }
    b.rowptr[b.n] = b.nnz;

    /* Label mapping. */
    double *classes = NULL;
    int k = 0;
    data_task task = o.task;
    if (o.classes) {
        classes = malloc((size_t)o.nclasses * sizeof *classes);
        if (classes)
            memcpy(classes, o.classes, (size_t)o.nclasses * sizeof *classes);
        k = o.nclasses;
    } else if (task != DATA_TASK_REGRESSION) {
        classes = malloc(b.n * sizeof *classes);
        if (classes) {
            memcpy(classes, b.y, b.n * sizeof *classes);
            qsort(classes, b.n, sizeof *classes, cmp_double);
            for (size_t i = 0; i < b.n && k <= DATA_MAX_CLASSES; i++)
                if (i == 0 || classes[i] != classes[k - 1])
                    classes[k++] = classes[i];
        }
    }
    if (task != DATA_TASK_REGRESSION && !classes) {
        rc = QSGD_FAIL(err, QSGD_ENOMEM, "out of memory reading %s after %zu rows", path, b.n);
        goto done;
    }
    if (task == DATA_TASK_AUTO) {
        int integral = k <= DATA_MAX_CLASSES;
        for (int j = 0; integral && j < k; j++)
            integral = classes[j] == floor(classes[j]);
        task = integral ? DATA_TASK_CLASSIFY : DATA_TASK_REGRESSION;
    }
    if (task == DATA_TASK_CLASSIFY && k > DATA_MAX_CLASSES) {
        free(classes);
        rc = QSGD_FAIL(err, QSGD_EFORMAT,
                       "%s: more than %d distinct labels, the most classes "
                       "allowed (use task=reg for regression)",
                       path, DATA_MAX_CLASSES);
        goto done;
    }
    if (task == DATA_TASK_REGRESSION)
        for (size_t i = 0; i < b.n; i++)
            if (fabs(b.y[i]) > FLT_MAX) {
                free(classes);
                rc = QSGD_FAIL(err, QSGD_EFORMAT,
                               "%s: regression target %g of row %zu is out of the float range",
                               path, b.y[i], i + 1);
                goto done;
            }
    size_t dim = o.dim ? o.dim : max_index;
    if (dim == 0)
        dim = 1; /* every row empty: one all-zero feature */
    dataset *d = calloc(1, sizeof *d);
    if (!d) {
        free(classes);
        rc = QSGD_FAIL(err, QSGD_ENOMEM, "out of memory reading %s after %zu rows", path, b.n);
        goto done;
    }
    d->shape.dim = dim;
    d->shape.nclass = task == DATA_TASK_CLASSIFY ? k : 0;
    d->n = b.n;
    d->layout = DATA_CSR;
    d->rowptr = b.rowptr;
    d->col = b.col ? b.col : malloc(sizeof *b.col);
    d->val = b.val ? b.val : malloc(sizeof *b.val);
    b.rowptr = NULL;
    b.col = NULL;
    b.val = NULL;
    snprintf(d->source, sizeof d->source, "libsvm:%.240s", path);
    if (task == DATA_TASK_CLASSIFY) {
        d->label = malloc(b.n * sizeof *d->label);
        if (d->label)
            for (size_t i = 0; i < b.n; i++)
                d->label[i] = class_of(classes, k, b.y[i]);
    } else {
        d->target = malloc(b.n * sizeof *d->target);
        if (d->target)
            for (size_t i = 0; i < b.n; i++)
                d->target[i] = (float)b.y[i];
    }
    if (!d->col || !d->val || (!d->label && !d->target)) {
        free(classes);
        dataset_free(d);
        rc = QSGD_FAIL(err, QSGD_ENOMEM, "out of memory reading %s after %zu rows", path, b.n);
        goto done;
    }
    if (info) {
        info->nclasses = task == DATA_TASK_CLASSIFY ? k : 0;
        for (int j = 0; j < info->nclasses; j++)
            info->classes[j] = classes[j];
        info->max_index = max_index;
        info->nnz = b.nnz;
    }
    free(classes);
    if (o.dense == 1 || (o.dense < 0 && dim <= o.dense_max)) {
        if ((rc = dataset_densify(d, err))) {
            dataset_free(d);
            goto done;
        }
    }
    *out = d;
    goto done;
read_failed: /* read_line's FILE:LINE, as the place in the input (not for lack of memory) */
    lineno = r.lineno;
    if (rc == QSGD_ENOMEM)
        goto done;
bad_line: /* a malformed line: where = FILE:LINE (the message says it too, as it did) */
    qsgd_err_where(err, "%s:%zu", path, lineno);
done:
    free(r.buf);
    fclose(r.f);
    csr_build_free(&b);
    return rc;
}

/* ---- the libsvm data source (spec "libsvm:PATH[,test=,dense=,dim=,task=]") --------------- */
struct libsvm_params {
    char test[512];
    int dense; /* 1, 0, -1 = auto */
    size_t dim;
    int task; /* data_task */
};
DATA_PARAMS_FITS(struct libsvm_params);

static const qsgd_opt_choice denses[] = {{"0", 0}, {"1", 1}, {"auto", -1}, {NULL, 0}};
static const qsgd_opt_choice tasks[] = {{"auto", DATA_TASK_AUTO},
                                        {"class", DATA_TASK_CLASSIFY},
                                        {"reg", DATA_TASK_REGRESSION},
                                        {NULL, 0}};

static const qsgd_opt libsvm_opts[] = {
    {.name = "test",
     .kind = QSGD_OPT_STRING,
     .offset = offsetof(struct libsvm_params, test),
     .len = sizeof(((struct libsvm_params *)0)->test),
     .meta = "PATH",
     .help = "test file (read with the training file's classes and dimension); none: test = "
             "train"},
    {.name = "dense",
     .kind = QSGD_OPT_ENUM,
     .offset = offsetof(struct libsvm_params, dense),
     .choices = denses,
     .def = "auto",
     .help = "densify the rows (auto: when dim <= 4096)"},
    {.name = "dim",
     .kind = QSGD_OPT_SIZE,
     .offset = offsetof(struct libsvm_params, dim),
     .max = DATA_MAX_COUNT,
     .def = "0",
     .meta = "N",
     .flags = QSGD_OPT_EXP,
     .help = "number of features (0 = the largest index in the file)"},
    {.name = "task",
     .kind = QSGD_OPT_ENUM,
     .offset = offsetof(struct libsvm_params, task),
     .choices = tasks,
     .def = "auto",
     .help = "classification, regression, or decided from the labels"},
    {.name = NULL},
};

static int libsvm_source_load(const data_source *src, const char *path, const void *params,
                              uint64_t seed, dataset **train, dataset **test, qsgd_err *err) {
    (void)src;
    (void)seed;
    *train = *test = NULL;
    const struct libsvm_params *s = params;
    data_libsvm_opts o = {.task = (data_task)s->task, .dim = s->dim, .dense = s->dense};
    int rc;
    data_libsvm_info *info = malloc(sizeof *info);
    if (!info)
        return QSGD_FAIL(err, QSGD_ENOMEM, "out of memory");
    rc = data_libsvm_load(path, &o, train, info, err);
    if (rc == QSGD_OK && s->test[0]) {
        /* The test file must use the training file's classes and dimension. */
        data_libsvm_opts t = o;
        t.dim = (*train)->shape.dim;
        if (info->nclasses > 0) {
            t.task = DATA_TASK_CLASSIFY;
            t.classes = info->classes;
            t.nclasses = info->nclasses;
        } else {
            t.task = DATA_TASK_REGRESSION;
        }
        t.dense = (*train)->layout == DATA_DENSE;
        rc = data_libsvm_load(s->test, &t, test, NULL, err);
        if (rc) {
            dataset_free(*train);
            *train = NULL;
        }
    } else if (rc == QSGD_OK) {
        *test = *train;
    }
    free(info);
    return rc;
}

const data_source data_source_libsvm = {
    .name = "libsvm",
    .summary = "LIBSVM / SVMlight text file (sparse rows, classification or regression)",
    .path_meta = "PATH",
    .opts = libsvm_opts,
    .params_size = sizeof(struct libsvm_params),
    .load = libsvm_source_load,
};
