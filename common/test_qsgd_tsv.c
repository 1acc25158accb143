/* test_qsgd_tsv.c — the TSV reader of the runner and the plotter (qsgd_tsv.h): header and rows,
 * comments and the "# model: " / "# status: " lines, short and long rows, CRLF, numbers by
 * column name, text without a NUL terminator, and every bound (line, columns, cells, NUL
 * bytes, no header, a missing file) refused with errno and a message naming the line. */
#include <CUnit/Basic.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "qsgd_tsv.h"

static char tmpdir[256];

static void test_basic(void) {
    const char *text = "# qsgdsim-trainer: iterations\n"
                       "# model: mlp:hidden=64 (1234 parameters)\n"
                       "iteration\tepoch\tsim_time\tloss\n"
                       "\n"
                       "1\t0.5\t0.25\t2.3\n"
                       "2\t1.0\t0.5\tnan\r\n"
                       "3\t1.5\n"              /* short: the missing cells are "" */
                       "4\t2\t1\t0.1\textra\n" /* long: the extra cell is dropped */
                       "5\tx\t 7 \t1.5abc\n"
                       "# status: complete\n";
    qsgd_tsv t;
    char err[256] = "";
    CU_ASSERT_EQUAL_FATAL(qsgd_tsv_parse(text, strlen(text), &t, err, sizeof err), 0);
    CU_ASSERT_EQUAL(t.ncol, 4);
    CU_ASSERT_EQUAL(t.nrow, 5);
    CU_ASSERT_STRING_EQUAL(t.model, "mlp:hidden=64 (1234 parameters)");
    CU_ASSERT_STRING_EQUAL(t.status, "complete");
    CU_ASSERT_EQUAL(qsgd_tsv_col(&t, "iteration"), 0);
    CU_ASSERT_EQUAL(qsgd_tsv_col(&t, "loss"), 3);
    CU_ASSERT_EQUAL(qsgd_tsv_col(&t, "bits_sent"), -1);
    int cl = qsgd_tsv_col(&t, "loss"), ce = qsgd_tsv_col(&t, "epoch"),
        cs = qsgd_tsv_col(&t, "sim_time");
    CU_ASSERT_DOUBLE_EQUAL(qsgd_tsv_num(&t, 0, cl), 2.3, 0);
    CU_ASSERT_TRUE(isnan(qsgd_tsv_num(&t, 1, cl))); /* "nan" without its \r */
    CU_ASSERT_STRING_EQUAL(t.cell[1][3], "nan");
    CU_ASSERT_STRING_EQUAL(t.cell[2][2], "");              /* short row */
    CU_ASSERT_TRUE(isnan(qsgd_tsv_num(&t, 2, cs)));        /* empty */
    CU_ASSERT_STRING_EQUAL(t.cell[3][3], "0.1");           /* long row cut */
    CU_ASSERT_TRUE(isnan(qsgd_tsv_num(&t, 4, ce)));        /* "x" */
    CU_ASSERT_DOUBLE_EQUAL(qsgd_tsv_num(&t, 4, cs), 7, 0); /* blanks around */
    CU_ASSERT_TRUE(isnan(qsgd_tsv_num(&t, 4, cl)));        /* trailing garbage */
    CU_ASSERT_TRUE(isnan(qsgd_tsv_num(&t, 5, 0)));         /* no such row */
    CU_ASSERT_TRUE(isnan(qsgd_tsv_num(&t, 0, -1)));        /* no such column */
    CU_ASSERT_TRUE(isnan(qsgd_tsv_num(&t, 0, 4)));
    qsgd_tsv_free(&t);
    qsgd_tsv_free(&t); /* twice: safe */
    /* no trailing newline, no NUL terminator: len bounds the text */
    char buf[] = {'a', '\t', 'b', '\n', '1', '\t', '2', 'X'};
    CU_ASSERT_EQUAL_FATAL(qsgd_tsv_parse(buf, sizeof buf - 1, &t, err, sizeof err), 0);
    CU_ASSERT_EQUAL(t.nrow, 1);
    CU_ASSERT_DOUBLE_EQUAL(qsgd_tsv_num(&t, 0, 1), 2, 0);
    CU_ASSERT_STRING_EQUAL(t.status, "");
    CU_ASSERT_STRING_EQUAL(t.model, "");
    qsgd_tsv_free(&t);
    /* the last "# status: " line wins; a table header only is valid */
    const char *two = "# status: running\nh\n# status: diverged at iteration 3 (train loss inf)\n";
    CU_ASSERT_EQUAL_FATAL(qsgd_tsv_parse(two, strlen(two), &t, err, sizeof err), 0);
    CU_ASSERT_EQUAL(t.nrow, 0);
    CU_ASSERT_STRING_EQUAL(t.status, "diverged at iteration 3 (train loss inf)");
    qsgd_tsv_free(&t);
}

static void expect_einval(const char *text, size_t len, const char *words) {
    qsgd_tsv t;
    char err[256] = "";
    errno = 0;
    CU_ASSERT_EQUAL(qsgd_tsv_parse(text, len, &t, err, sizeof err), -1);
    CU_ASSERT_EQUAL(errno, EINVAL);
    if (!strstr(err, words)) {
        fprintf(stderr, "message '%s' lacks '%s'\n", err, words);
        CU_FAIL("message");
    }
    CU_ASSERT_EQUAL(t.nrow, 0);
    CU_ASSERT_PTR_NULL(t.head);
    qsgd_tsv_free(&t);
}

static void test_bounds(void) {
    expect_einval("", 0, "no header line");
    expect_einval("# only comments\n\n", 17, "no header line");
    expect_einval("a\tb\n1\0\t2\n", 9, "line 2: a NUL byte");
    /* a line over QSGD_TSV_MAX_LINE */
    size_t n = QSGD_TSV_MAX_LINE + 10;
    char *big = malloc(n);
    CU_ASSERT_FATAL(big != NULL);
    memset(big, 'x', n);
    memcpy(big, "h\n", 2);
    expect_einval(big, n, "line 2: line longer than");
    /* columns over QSGD_TSV_MAX_COLS */
    memset(big, '\t', QSGD_TSV_MAX_COLS); /* 4097 fields */
    expect_einval(big, QSGD_TSV_MAX_COLS, "line 1: 4097 columns, more than 4096");
    free(big);
    /* cells over QSGD_TSV_MAX_CELLS: a wide header and short rows, refused before the rows
     * are allocated (no amplification) */
    size_t rows = QSGD_TSV_MAX_CELLS / QSGD_TSV_MAX_COLS + 1;
    n = QSGD_TSV_MAX_COLS + 2 * rows;
    big = malloc(n);
    CU_ASSERT_FATAL(big != NULL);
    memset(big, '\t', QSGD_TSV_MAX_COLS - 1);
    big[QSGD_TSV_MAX_COLS - 1] = '\n';
    for (size_t r = 0; r < rows; r++)
        memcpy(big + QSGD_TSV_MAX_COLS + 2 * r, "1\n", 2);
    expect_einval(big, QSGD_TSV_MAX_COLS + 2 * rows, "more than 67108864 cells");
    free(big);
    /* the size bound is checked before a byte of text is read (so a short buffer is safe) */
    expect_einval("h\n", QSGD_TSV_MAX_BYTES + 1, "larger than");
}

static void test_read(void) {
    char path[300], err[512] = "";
    qsgd_tsv t;
    snprintf(path, sizeof path, "%s/missing.tsv", tmpdir);
    errno = 0;
    CU_ASSERT_EQUAL(qsgd_tsv_read(path, &t, err, sizeof err), -1);
    CU_ASSERT_EQUAL(errno, ENOENT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, path));
    snprintf(path, sizeof path, "%s/t.tsv", tmpdir);
    FILE *f = fopen(path, "w");
    CU_ASSERT_FATAL(f != NULL);
    fputs("# c\nx\ty\n1\t2\n3\t4\n", f);
    fclose(f);
    CU_ASSERT_EQUAL_FATAL(qsgd_tsv_read(path, &t, err, sizeof err), 0);
    CU_ASSERT_EQUAL(t.nrow, 2);
    CU_ASSERT_DOUBLE_EQUAL(qsgd_tsv_num(&t, 1, qsgd_tsv_col(&t, "y")), 4, 0);
    qsgd_tsv_free(&t);
    f = fopen(path, "w");
    CU_ASSERT_FATAL(f != NULL);
    fwrite("x\ty\n1\t2\n3\0\t4\n", 1, 13, f);
    fclose(f);
    errno = 0;
    CU_ASSERT_EQUAL(qsgd_tsv_read(path, &t, err, sizeof err), -1);
    CU_ASSERT_EQUAL(errno, EINVAL);
    char want[400];
    snprintf(want, sizeof want, "%s:3: a NUL byte", path);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, want));
    /* not a regular file: read to the end, bounded */
    CU_ASSERT_EQUAL(qsgd_tsv_read("/dev/null", &t, err, sizeof err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "/dev/null: no header line"));
    CU_ASSERT_EQUAL(qsgd_tsv_read(tmpdir, &t, err, sizeof err), -1); /* a directory */
    CU_ASSERT_PTR_NOT_NULL(strstr(err, tmpdir));
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "%s/qsgdsim-tsv-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(tmpdir))
        return 1;
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("qsgd_tsv", NULL, NULL);
    CU_add_test(s, "header, rows, comments, numbers by column", test_basic);
    CU_add_test(s, "bounds: line, columns, cells, size, NUL, no header", test_bounds);
    CU_add_test(s, "files: missing, NUL byte at file:line, not regular", test_read);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned fails = CU_get_number_of_failures();
    CU_cleanup_registry();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", tmpdir);
    return fails ? 1 : 0;
}
