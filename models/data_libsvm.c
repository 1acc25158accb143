/* data_libsvm.c — LIBSVM / SVMlight text files ("label idx:val idx:val ...", 1-based
 * strictly increasing indices) into CSR, optionally densified. Labels become class ids
 * 0..K-1 (distinct values sorted ascending: {-1,+1} and {0,1} -> {0,1}) or regression
 * targets. Every malformed token is reported as file:line with the token.
 */
#include "data.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Growable arrays of the parse. */
typedef struct csr_build {
    double *y;
    size_t *rowptr;
    uint32_t *col;
    float *val;
    size_t n, cap_rows, cap_rp, nnz, cap_nnz, cap_val;
} csr_build;

static int grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : 1024;
    while (c < need)
        c *= 2;
    void *q = realloc(*p, c * elem);
    if (!q)
        return -1;
    *p = q;
    *cap = c;
    return 0;
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
                     data_libsvm_info *info, data_err *err) {
    *out = NULL;
    data_libsvm_opts o = {.dense = -1};
    if (opts)
        o = *opts;
    if (o.dense_max == 0)
        o.dense_max = 4096;
    if (o.classes) {
        if (o.nclasses <= 0 || o.nclasses > DATA_MAX_CLASSES)
            return data_fail(err, DATA_EINVAL, "%s: %d fixed classes (1..%d allowed)", path,
                             o.nclasses, DATA_MAX_CLASSES);
        for (int k = 1; k < o.nclasses; k++)
            if (!(o.classes[k - 1] < o.classes[k]))
                return data_fail(err, DATA_EINVAL,
                                 "%s: fixed class values must be strictly "
                                 "increasing",
                                 path);
        if (o.task == DATA_TASK_REGRESSION)
            return data_fail(err, DATA_EINVAL, "%s: fixed classes given for a regression task",
                             path);
        o.task = DATA_TASK_CLASSIFY;
    }
    FILE *f = fopen(path, "r");
    if (!f)
        return data_fail(err, DATA_EIO, "%s: cannot open: %s", path, strerror(errno));

    csr_build b = {0};
    char *line = NULL;
    size_t linecap = 0, lineno = 0, max_index = 0;
    int rc = DATA_OK;
    ssize_t len;
    while ((len = getline(&line, &linecap, f)) >= 0) {
        lineno++;
        if ((size_t)len != strlen(line)) {
            rc = data_fail(err, DATA_EFORMAT, "%s:%zu: NUL byte in line (binary file?)", path,
                           lineno);
            goto done;
        }
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
            rc = data_fail(err, DATA_EFORMAT, "%s:%zu: bad label '%.40s' (expected a number)", path,
                           lineno, tok);
            goto done;
        }
        if (o.classes && class_of(o.classes, o.nclasses, y) < 0) {
            rc = data_fail(err, DATA_EFORMAT,
                           "%s:%zu: label %g is not one of the %d known "
                           "classes (from the training file)",
                           path, lineno, y, o.nclasses);
            goto done;
        }
        if (grow((void **)&b.y, &b.cap_rows, b.n + 1, sizeof *b.y) ||
            grow((void **)&b.rowptr, &b.cap_rp, b.n + 2, sizeof *b.rowptr)) {
            rc = data_fail(err, DATA_ENOMEM, "%s:%zu: out of memory", path, lineno);
            goto done;
        }
        b.rowptr[b.n] = b.nnz;
        b.y[b.n] = y;
        size_t prev = 0;
        while ((tok = strtok_r(NULL, " \t\r\n\v\f", &save))) {
            char *colon = strchr(tok, ':');
            if (!colon || colon == tok || !colon[1]) {
                rc = data_fail(err, DATA_EFORMAT,
                               "%s:%zu: bad token '%.40s' (expected "
                               "index:value)",
                               path, lineno, tok);
                goto done;
            }
            if (!strncmp(tok, "qid:", 4))
                continue;
            errno = 0;
            if (*tok == '-' || *tok == '+') {
                rc = data_fail(err, DATA_EFORMAT,
                               "%s:%zu: bad index in '%.40s' (indices are "
                               "1-based positive integers)",
                               path, lineno, tok);
                goto done;
            }
            unsigned long long idx = strtoull(tok, &end, 10);
            if (end != colon || errno == ERANGE || idx == 0 || idx > UINT32_MAX) {
                rc = data_fail(err, DATA_EFORMAT,
                               "%s:%zu: bad index in '%.40s' (indices are "
                               "1-based positive integers)",
                               path, lineno, tok);
                goto done;
            }
            if (idx <= prev) {
                rc = data_fail(err, DATA_EFORMAT,
                               "%s:%zu: index %llu after %zu: indices must be "
                               "strictly increasing",
                               path, lineno, idx, prev);
                goto done;
            }
            if (o.dim && idx > o.dim) {
                rc = data_fail(err, DATA_EFORMAT, "%s:%zu: index %llu exceeds the dimension %zu",
                               path, lineno, idx, o.dim);
                goto done;
            }
            errno = 0;
            double v = strtod(colon + 1, &end);
            if (end == colon + 1 || *end || errno == ERANGE || !isfinite(v) || fabs(v) > 3.0e38) {
                rc = data_fail(err, DATA_EFORMAT,
                               "%s:%zu: bad value in '%.40s' (expected a "
                               "finite number)",
                               path, lineno, tok);
                goto done;
            }
            prev = (size_t)idx;
            if (grow((void **)&b.col, &b.cap_nnz, b.nnz + 1, sizeof *b.col) ||
                grow((void **)&b.val, &b.cap_val, b.nnz + 1, sizeof *b.val)) {
                rc = data_fail(err, DATA_ENOMEM, "%s:%zu: out of memory", path, lineno);
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
    if (ferror(f)) {
        rc = data_fail(err, DATA_EIO, "%s:%zu: read error: %s", path, lineno, strerror(errno));
        goto done;
    }
    if (b.n == 0) {
        rc = data_fail(err, DATA_EFORMAT, "%s: no samples (empty file or only comments)", path);
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
            for (size_t i = 0; i < b.n; i++)
                if (i == 0 || classes[i] != classes[k - 1])
                    classes[k++] = classes[i];
        }
    }
    if (task != DATA_TASK_REGRESSION && !classes) {
        rc = data_fail(err, DATA_ENOMEM, "%s: out of memory", path);
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
        rc = data_fail(err, DATA_EFORMAT,
                       "%s: %d distinct labels, more than the %d classes "
                       "allowed (use task=reg for regression)",
                       path, k, DATA_MAX_CLASSES);
        goto done;
    }
    size_t dim = o.dim ? o.dim : max_index;
    if (dim == 0)
        dim = 1; /* every row empty: one all-zero feature */
    dataset *d = calloc(1, sizeof *d);
    if (!d) {
        free(classes);
        rc = data_fail(err, DATA_ENOMEM, "%s: out of memory", path);
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
        rc = data_fail(err, DATA_ENOMEM, "%s: out of memory", path);
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
done:
    free(line);
    fclose(f);
    csr_build_free(&b);
    return rc;
}
