/* fuzz_libsvm.c — libFuzzer target: the LIBSVM reader (models/data_libsvm.c) on any text,
 * through a memfd named /proc/self/fd/N (fuzz_memfd.h).
 * Input: byte 0 selects the options (bits 0-1 task: auto, classify, regression, or the fixed
 * classes {-1, 0, 1, 2.5}; bits 2-3 dense: 0, 1 (with dim 100), auto with dense_max 64;
 * bits 4-5 dim 0, 5, 100, 1000; bit 6 max_line 64; bit 7 max_bytes 300); the rest is the file.
 * Properties: the load returns QSGD_OK or QSGD_EFORMAT (nothing else for a small file) with
 * *out NULL and a NUL-terminated message naming the file on failure; a loaded dataset has one
 * row per line holding a label (counted here independently, as are the nonzeros), CSR rows
 * with strictly increasing columns < dim and finite values (or a dense n x dim of finite
 * values), labels in 0..nclass-1 with nclass <= DATA_MAX_CLASSES (or finite targets), and
 * info consistent with it. */
#define _GNU_SOURCE /* memfd_create */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data.h"
#include "fuzz_memfd.h"

#include "fuzz_check.h"

static int is_space(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

/* Rows (lines with a token before any '#') and nonzeros (tokens after the label that are not
 * qid:), counted without the reader. */
static void count_rows(const char *s, size_t len, size_t *rows, size_t *nnz) {
    *rows = *nnz = 0;
    size_t i = 0;
    while (i < len) {
        size_t tokens = 0, qids = 0;
        int comment = 0;
        while (i < len && s[i] != '\n') {
            if (s[i] == '#')
                comment = 1;
            if (!comment && !is_space(s[i]) && (i == 0 || is_space(s[i - 1]))) {
                tokens++;
                if (tokens > 1 && len - i >= 4 && !memcmp(s + i, "qid:", 4))
                    qids++;
            }
            i++;
        }
        i++; /* the newline */
        if (tokens) {
            (*rows)++;
            *nnz += tokens - 1 - qids;
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static fuzz_file file;
    fuzz_limit_allocations();
    static const double fixed[4] = {-1, 0, 1, 2.5};
    static const size_t dims[4] = {0, 5, 100, 1000};
    if (size < 1)
        return 0;
    uint8_t h = data[0];
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    fuzz_file_set(&file, "libsvm", data + 1, len);

    data_libsvm_opts o = {0};
    switch (h & 3) {
    case 0:
        o.task = DATA_TASK_AUTO;
        break;
    case 1:
        o.task = DATA_TASK_CLASSIFY;
        break;
    case 2:
        o.task = DATA_TASK_REGRESSION;
        break;
    default:
        o.classes = fixed, o.nclasses = 4;
        break;
    }
    o.dim = dims[(h >> 4) & 3];
    switch ((h >> 2) & 3) {
    case 0:
        o.dense = 0;
        break;
    case 1:
        o.dense = 1, o.dim = o.dim ? o.dim : 100;
        break; /* never 4e9 columns dense */
    default:
        o.dense = -1, o.dense_max = 64;
        break;
    }
    if (h & 64)
        o.max_line = 64;
    if (h & 128)
        o.max_bytes = 300;

    dataset *d = (dataset *)0x1;
    data_libsvm_info info;
    qsgd_err err;
    memset(&err, 0, sizeof err);
    memset(&info, 0xA5, sizeof info);
    int rc = data_libsvm_load(file.path, &o, &d, &info, &err);
    FUZZ_CHECK(rc == QSGD_OK || rc == QSGD_EFORMAT);
    if (rc != QSGD_OK) {
        FUZZ_CHECK(d == NULL);
        FUZZ_CHECK(err.code == rc);
        FUZZ_CHECK(memchr(err.msg, 0, sizeof err.msg) != NULL);
        FUZZ_CHECK(strstr(err.msg, file.path) != NULL);
        return 0;
    }
    size_t rows, nnz;
    count_rows(text, len, &rows, &nnz);
    FUZZ_CHECK(d && d->n == rows && d->n >= 1);
    FUZZ_CHECK(info.nnz == nnz);
    size_t dim = d->shape.dim;
    FUZZ_CHECK(dim >= 1);
    FUZZ_CHECK(o.dim ? dim == o.dim : dim == (info.max_index ? info.max_index : 1));
    FUZZ_CHECK(info.max_index <= dim);
    if (d->layout == DATA_CSR) {
        FUZZ_CHECK(o.dense != 1 && !(o.dense < 0 && dim <= o.dense_max));
        FUZZ_CHECK(d->rowptr[0] == 0 && d->rowptr[d->n] == nnz && dataset_nnz(d) == nnz);
        for (size_t i = 0; i < d->n; i++) {
            FUZZ_CHECK(d->rowptr[i] <= d->rowptr[i + 1]);
            for (size_t p = d->rowptr[i]; p < d->rowptr[i + 1]; p++) {
                FUZZ_CHECK(d->col[p] < dim);
                FUZZ_CHECK(p == d->rowptr[i] || d->col[p - 1] < d->col[p]);
                FUZZ_CHECK(isfinite(d->val[p]));
            }
        }
    } else {
        FUZZ_CHECK(d->layout == DATA_DENSE && d->x);
        for (size_t i = 0; i < d->n * dim; i++)
            FUZZ_CHECK(isfinite(d->x[i]));
    }
    if (d->shape.nclass > 0) {
        FUZZ_CHECK(d->label && !d->target && o.task != DATA_TASK_REGRESSION);
        FUZZ_CHECK(d->shape.nclass <= DATA_MAX_CLASSES && info.nclasses == d->shape.nclass);
        if (o.classes)
            FUZZ_CHECK(d->shape.nclass == o.nclasses);
        for (int k = 1; k < info.nclasses; k++)
            FUZZ_CHECK(info.classes[k - 1] < info.classes[k]);
        for (size_t i = 0; i < d->n; i++)
            FUZZ_CHECK(d->label[i] >= 0 && d->label[i] < d->shape.nclass);
    } else {
        FUZZ_CHECK(d->target && !d->label && o.task != DATA_TASK_CLASSIFY && !o.classes);
        FUZZ_CHECK(info.nclasses == 0);
        for (size_t i = 0; i < d->n; i++)
            FUZZ_CHECK(isfinite(d->target[i]));
    }
    dataset_free(d);
    return 0;
}
