/* qsgd_tsv.h — the reader of the TSV tables qsgdsim writes (a trainer's iterations.tsv and
 * eval.tsv, a runner's summary.tsv and points.tsv, bounds.tsv), shared by the runner and
 * the plotter: '#' lines are comments (two of them, "# model: " and "# status: ", are kept),
 * blank lines are skipped, the first other line is the header, every later line a row.
 * Input is untrusted: the file size, the line length and the column count are bounded, and
 * the parser takes a length (text need not be NUL-terminated). Fuzzed by fuzz/fuzz_tsv. */
#ifndef QSGDSIM_QSGD_TSV_H
#define QSGDSIM_QSGD_TSV_H

#include <stddef.h>

#define QSGD_TSV_MAX_BYTES ((size_t)1 << 30) /* file size */
#define QSGD_TSV_MAX_LINE ((size_t)1 << 20)  /* bytes in one line */
#define QSGD_TSV_MAX_COLS 4096               /* columns of the header and of a row */
#define QSGD_TSV_MAX_CELLS ((size_t)1 << 26) /* nrow * ncol (512 MiB of cell pointers) */

typedef struct qsgd_tsv {
    size_t ncol, nrow;
    char **head;      /* [ncol] column names */
    char ***cell;     /* [nrow][ncol]; "" where a row is short; a row's extra cells are dropped */
    char model[160];  /* the first "# model: " provenance line (without the prefix), "" if none */
    char status[256]; /* the last "# status: " line (without the prefix), "" if none: a
                         trainer table closed complete ends with "# status: complete..." */
} qsgd_tsv;

/* Parse len bytes of text into t (freed with qsgd_tsv_free). Returns 0, or -1 with errno
 * EINVAL (no header line; a line, the columns or the cells over their bound; a NUL byte;
 * len over QSGD_TSV_MAX_BYTES) or ENOMEM, and a message in err naming the line
 * ("line N: ..."); t is empty after a failure. */
int qsgd_tsv_parse(const char *text, size_t len, qsgd_tsv *t, char *err, size_t errlen);

/* Read and parse the file at path. Returns 0, or -1 with errno (ENOENT when the file is
 * missing, EINVAL, ENOMEM, or the error of open/read) and a message in err naming the file
 * and, for a parse error, the line ("PATH:N: ..."). t is empty after a failure. */
int qsgd_tsv_read(const char *path, qsgd_tsv *t, char *err, size_t errlen);

/* Free the cells of t and empty it; safe on an empty or zeroed t. */
void qsgd_tsv_free(qsgd_tsv *t);

/* The index of the first column named name, or -1 if there is none. */
int qsgd_tsv_col(const qsgd_tsv *t, const char *name);

/* The number in cell (row, col): NAN when col < 0, row >= nrow, the cell is empty or is not
 * entirely a number (surrounding blanks allowed). */
double qsgd_tsv_num(const qsgd_tsv *t, size_t row, int col);

#endif
