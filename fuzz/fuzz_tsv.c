/* fuzz_tsv.c — libFuzzer target: the TSV reader of the runner and the plotter
 * (common/qsgd_tsv.c) on any text, parsed from memory and read from a memfd named
 * /proc/self/fd/N (fuzz_memfd.h).
 * Properties: qsgd_tsv_parse returns 0, or -1 with errno EINVAL (ENOMEM cannot happen for a
 * small input) and a NUL-terminated message "line N: ..." / "no header line", leaving t
 * empty; a parsed table has ncol >= 1 header names and nrow rows of exactly ncol non-NULL
 * cells, none holding a tab or a newline; qsgd_tsv_col finds every header name at its first
 * occurrence; qsgd_tsv_num is NaN outside the table; qsgd_tsv_read of the same bytes gives the
 * same table (or fails alike, its message naming the file). */
#define _GNU_SOURCE /* memfd_create */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_memfd.h"
#include "qsgd_tsv.h"

#include "fuzz_check.h"

static void check_cell(const char *c) {
    FUZZ_CHECK(c != NULL);
    FUZZ_CHECK(strchr(c, '\t') == NULL && strchr(c, '\n') == NULL);
}

static int empty(const qsgd_tsv *t) {
    return t->ncol == 0 && t->nrow == 0 && !t->head && !t->cell;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static fuzz_file file;
    fuzz_limit_allocations();
    /* exactly size bytes, not NUL-terminated: ASan sees any read past the end */
    char *text = malloc(size ? size : 1);
    FUZZ_CHECK(text);
    if (size)
        memcpy(text, data, size);

    qsgd_tsv t;
    char err[256];
    memset(&t, 0x5A, sizeof t);
    memset(err, 0x5A, sizeof err);
    errno = 0;
    int rc = qsgd_tsv_parse(text, size, &t, err, sizeof err);
    int perr = errno;
    FUZZ_CHECK(rc == 0 || rc == -1);
    if (rc) {
        FUZZ_CHECK(perr == EINVAL);
        FUZZ_CHECK(memchr(err, 0, sizeof err) != NULL);
        FUZZ_CHECK(!strncmp(err, "line ", 5) || !strcmp(err, "no header line"));
        FUZZ_CHECK(empty(&t));
    } else {
        FUZZ_CHECK(t.ncol >= 1 && t.ncol <= QSGD_TSV_MAX_COLS && t.head);
        FUZZ_CHECK(t.nrow == 0 || t.cell);
        FUZZ_CHECK(memchr(t.model, 0, sizeof t.model) && memchr(t.status, 0, sizeof t.status));
        for (size_t j = 0; j < t.ncol; j++) {
            check_cell(t.head[j]);
            int c = qsgd_tsv_col(&t, t.head[j]);
            FUZZ_CHECK(c >= 0 && (size_t)c <= j && strcmp(t.head[c], t.head[j]) == 0);
        }
        for (size_t i = 0; i < t.nrow; i++) {
            FUZZ_CHECK(t.cell[i] != NULL);
            for (size_t j = 0; j < t.ncol; j++) {
                check_cell(t.cell[i][j]);
                (void)qsgd_tsv_num(&t, i, (int)j);
            }
            FUZZ_CHECK(isnan(qsgd_tsv_num(&t, i, -1)) && isnan(qsgd_tsv_num(&t, i, (int)t.ncol)));
        }
        FUZZ_CHECK(isnan(qsgd_tsv_num(&t, t.nrow, 0)));
    }

    /* the same bytes from a file */
    fuzz_file_set(&file, "tsv", data, size);
    qsgd_tsv u;
    char err2[512];
    memset(&u, 0x5A, sizeof u);
    int rc2 = qsgd_tsv_read(file.path, &u, err2, sizeof err2);
    FUZZ_CHECK(rc2 == rc);
    if (rc2) {
        FUZZ_CHECK(errno == perr);
        FUZZ_CHECK(strncmp(err2, file.path, strlen(file.path)) == 0);
        FUZZ_CHECK(empty(&u));
    } else {
        FUZZ_CHECK(u.ncol == t.ncol && u.nrow == t.nrow);
        FUZZ_CHECK(strcmp(u.model, t.model) == 0 && strcmp(u.status, t.status) == 0);
        for (size_t j = 0; j < t.ncol; j++)
            FUZZ_CHECK(strcmp(u.head[j], t.head[j]) == 0);
        for (size_t i = 0; i < t.nrow; i++)
            for (size_t j = 0; j < t.ncol; j++)
                FUZZ_CHECK(strcmp(u.cell[i][j], t.cell[i][j]) == 0);
    }
    qsgd_tsv_free(&u);
    qsgd_tsv_free(&t);
    FUZZ_CHECK(empty(&t));
    qsgd_tsv_free(&t); /* twice is fine */
    free(text);
    return 0;
}
