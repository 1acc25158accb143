/* data_fmnist.c — IDX image/label files (gzip'd or plain, read through zlib's gzread) and
 * Fashion-MNIST as packaged by Debian (dataset-fashion-mnist). Every defect of a file
 * (missing, bad magic, bad dimensions, count mismatch, truncation, trailing bytes, label out
 * of range) is reported with the file name; nothing here aborts or exits. Memory grows with
 * the data actually read, never with what a header claims, and never past the machine's
 * physical memory (so a header claiming 2^32 images, or a gzip bomb, fails with a message).
 */
#include "data.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

#define IDX_MAGIC_U8_1D 0x00000801u /* labels: uint8, 1 dimension */
#define IDX_MAGIC_U8_3D 0x00000803u /* images: uint8, 3 dimensions */
#define IDX_MAX_SAMPLES 100000000u
#define IDX_MAX_SIDE 4096u
#define IDX_MAX_BYTES (1ull << 34)  /* 16 GiB of pixels */
#define IDX_CHUNK ((size_t)1 << 24) /* read at most 16 MiB at a time */
#define IDX_FIRST ((size_t)1 << 16) /* first buffer size, doubled as data arrives */

static const char *install_hint =
    "Fashion-MNIST is provided by the Debian package dataset-fashion-mnist "
    "(install it with: apt-get install dataset-fashion-mnist), which puts the files "
    "in " DATA_FMNIST_DIR;

/* An opened IDX file: gz handle and its name, for messages. */
typedef struct idx_file {
    gzFile gz;
    const char *path;
} idx_file;

static int idx_open(idx_file *f, const char *path, qsgd_err *err) {
    f->path = path;
    f->gz = NULL;
    struct stat st;
    if (stat(path, &st) != 0)
        return QSGD_FAIL(err, QSGD_EDATA, "%s: cannot open: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode))
        return QSGD_FAIL(err, QSGD_EDATA, "%s: is a directory, expected an IDX file", path);
    f->gz = gzopen(path, "rb");
    if (!f->gz)
        return QSGD_FAIL(err, QSGD_EDATA, "%s: cannot open: %s", path,
                         errno ? strerror(errno) : "zlib gzopen failed");
    gzbuffer(f->gz, 1 << 17);
    return QSGD_OK;
}

static void idx_close(idx_file *f) {
    if (f->gz)
        gzclose(f->gz);
    f->gz = NULL;
}

/* where = the byte offset of a malformed IDX file ("PATH:byte N", uncompressed offset);
 * the message names the file as it did. Returns err's code. */
static int idx_where(qsgd_err *err, const char *path, unsigned long long offset) {
    return qsgd_err_where(err, "%s:byte %llu", path, offset);
}

/* Read exactly len bytes of `what` (bytes before..before+len of its total), for the message. */
static int idx_read_part(idx_file *f, void *buf, size_t len, const char *what, uint64_t before,
                         uint64_t total, qsgd_err *err) {
    size_t got = 0;
    unsigned char *p = buf;
    while (got < len) {
        size_t want = len - got;
        if (want > (1u << 30))
            want = 1u << 30;
        int r = gzread(f->gz, p + got, (unsigned)want);
        if (r < 0) {
            int zerr;
            const char *m = gzerror(f->gz, &zerr);
            return QSGD_FAIL(err, QSGD_EFORMAT, "%s: corrupt gzip data while reading %s: %s",
                             f->path, what, m ? m : "unknown zlib error");
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    if (got < len) {
        int zerr = Z_OK;
        const char *m = gzerror(f->gz, &zerr);
        QSGD_FAIL(err, QSGD_EFORMAT, "%s: truncated: expected %llu bytes of %s, got only %llu%s%s",
                  f->path, (unsigned long long)total, what, (unsigned long long)(before + got),
                  zerr != Z_OK && m && *m ? " (zlib: " : "", zerr != Z_OK && m && *m ? m : "");
        return idx_where(err, f->path, (unsigned long long)gztell(f->gz));
    }
    return QSGD_OK;
}

static int idx_read(idx_file *f, void *buf, size_t len, const char *what, qsgd_err *err) {
    return idx_read_part(f, buf, len, what, 0, len, err);
}

/* Physical memory of this machine in bytes (UINT64_MAX if unknown). */
static uint64_t phys_memory(void) {
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (pages <= 0 || page <= 0)
        return UINT64_MAX;
    return (uint64_t)pages * (uint64_t)page;
}

/* Read `total` bytes of `what` (records of `unit` bytes, called `noun`), keeping the first
 * `keep` in *out: a buffer allocated here and doubled as the data arrives (from 64 KiB), so a
 * header claiming more than the file holds fails as truncated having held at most twice what
 * is there; the rest passes through a scratch buffer. `factor` bytes per kept byte (with the
 * caller's copies, e.g. floats) must fit in physical memory, else QSGD_ENOMEM. */
static int idx_read_keep(idx_file *f, uint64_t total, uint64_t keep, unsigned factor, size_t unit,
                         const char *what, const char *noun, unsigned char **out, qsgd_err *err) {
    *out = NULL;
    unsigned char *buf = NULL, *scratch = NULL;
    uint64_t cap = 0, got = 0, limit = phys_memory() / factor;
    int rc = QSGD_OK;
    while (got < total) {
        uint64_t want = total - got < IDX_CHUNK ? total - got : IDX_CHUNK;
        unsigned char *dst;
        if (got < keep) {
            if (want > keep - got)
                want = keep - got;
            if (got == cap) {
                uint64_t c = cap ? 2 * cap : IDX_FIRST;
                if (c > keep)
                    c = keep;
                if (c > limit || c > SIZE_MAX) {
                    rc = QSGD_FAIL(err, QSGD_ENOMEM,
                                   "out of memory reading %s after %llu %s: %llu %s need more "
                                   "than this machine's %llu MiB of memory",
                                   f->path, (unsigned long long)(got / unit), noun,
                                   (unsigned long long)(keep / unit), noun,
                                   (unsigned long long)(phys_memory() >> 20));
                    goto done;
                }
                unsigned char *q = realloc(buf, (size_t)c);
                if (!q) {
                    rc = QSGD_FAIL(err, QSGD_ENOMEM, "out of memory reading %s after %llu %s",
                                   f->path, (unsigned long long)(got / unit), noun);
                    goto done;
                }
                buf = q;
                cap = c;
            }
            if (want > cap - got)
                want = cap - got;
            dst = buf + got;
        } else {
            if (want > IDX_FIRST)
                want = IDX_FIRST;
            if (!scratch && !(scratch = malloc(IDX_FIRST))) {
                rc = QSGD_FAIL(err, QSGD_ENOMEM, "out of memory reading %s after %llu %s", f->path,
                               (unsigned long long)(got / unit), noun);
                goto done;
            }
            dst = scratch;
        }
        if ((rc = idx_read_part(f, dst, (size_t)want, what, got, total, err)))
            goto done;
        got += want;
    }
    if (!buf && !(buf = malloc(1))) /* keep == 0 */
        rc = QSGD_FAIL(err, QSGD_ENOMEM, "out of memory reading %s", f->path);
done:
    free(scratch);
    if (rc) {
        free(buf);
        return rc;
    }
    *out = buf;
    return QSGD_OK;
}

static uint32_t be32(const unsigned char *b) {
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

/* Header: magic, then ndim big-endian uint32 sizes. */
static int idx_header(idx_file *f, uint32_t want_magic, uint32_t *dims, int ndim, qsgd_err *err) {
    unsigned char b[16] = {0};
    int rc = idx_read(f, b, 4, "the IDX magic number", err);
    if (rc)
        return rc;
    uint32_t magic = be32(b);
    if (magic != want_magic) {
        const char *kind = want_magic == IDX_MAGIC_U8_3D ? "images" : "labels";
        idx_where(err, f->path, 0);
        return QSGD_FAIL(err, QSGD_EFORMAT,
                         "%s: bad IDX magic 0x%08x, expected 0x%08x (uint8 %s, %d dimension%s)%s",
                         f->path, magic, want_magic, kind, ndim, ndim > 1 ? "s" : "",
                         magic == 0x00000801u || magic == 0x00000803u
                             ? ": images and labels files swapped?"
                             : "");
    }
    if ((rc = idx_read(f, b + 4, 4 * (size_t)ndim, "the IDX header", err)))
        return rc;
    for (int i = 0; i < ndim; i++)
        dims[i] = be32(b + 4 + 4 * i);
    return QSGD_OK;
}

/* Nothing may follow the payload. */
static int idx_expect_eof(idx_file *f, qsgd_err *err) {
    unsigned char c;
    int r = gzread(f->gz, &c, 1);
    if (r > 0) {
        QSGD_FAIL(err, QSGD_EFORMAT,
                  "%s: unexpected trailing data after the last sample "
                  "(count in the header too small?)",
                  f->path);
        return idx_where(err, f->path, (unsigned long long)gztell(f->gz) - 1);
    }
    if (r < 0) {
        int zerr;
        const char *m = gzerror(f->gz, &zerr);
        return QSGD_FAIL(err, QSGD_EFORMAT, "%s: corrupt gzip data at the end: %s", f->path,
                         m ? m : "unknown zlib error");
    }
    return QSGD_OK;
}

int data_idx_load(const char *images_path, const char *labels_path, const data_idx_opts *opts,
                  dataset **out, qsgd_err *err) {
    *out = NULL;
    data_idx_opts o = {0};
    if (opts)
        o = *opts;
    if (o.nclass <= 0)
        o.nclass = 10;
    if (o.norm == DATA_NORM_STANDARDIZE && o.mean == 0 && o.std == 0) {
        o.mean = DATA_FMNIST_MEAN;
        o.std = DATA_FMNIST_STD;
    }
    if (o.norm == DATA_NORM_STANDARDIZE && !(o.std > 0))
        return QSGD_FAIL(err, QSGD_EINVAL, "IDX load: standardization std %g must be > 0", o.std);

    idx_file fi = {0}, fl = {0};
    dataset *d = NULL;
    unsigned char *pix = NULL, *lab = NULL;
    uint32_t idim[3] = {0}, ldim[1] = {0};
    int rc;
    if ((rc = idx_open(&fi, images_path, err)) || (rc = idx_open(&fl, labels_path, err)))
        goto done;
    if ((rc = idx_header(&fi, IDX_MAGIC_U8_3D, idim, 3, err)) ||
        (rc = idx_header(&fl, IDX_MAGIC_U8_1D, ldim, 1, err)))
        goto done;
    if (idim[0] == 0 || idim[0] > IDX_MAX_SAMPLES || idim[1] == 0 || idim[1] > IDX_MAX_SIDE ||
        idim[2] == 0 || idim[2] > IDX_MAX_SIDE) {
        rc = QSGD_FAIL(err, QSGD_EFORMAT,
                       "%s: implausible image dimensions %u x %u x %u in the "
                       "IDX header",
                       images_path, idim[0], idim[1], idim[2]);
        idx_where(err, images_path, 4); /* the dimensions follow the magic number */
        goto done;
    }
    if (ldim[0] != idim[0]) {
        rc = QSGD_FAIL(err, QSGD_EFORMAT, "%s: %u labels, but %s holds %u images", labels_path,
                       ldim[0], images_path, idim[0]);
        goto done;
    }
    size_t n = idim[0], h = idim[1], w = idim[2], dim = h * w;
    if ((uint64_t)n * dim > IDX_MAX_BYTES) {
        rc = QSGD_FAIL(err, QSGD_EFORMAT,
                       "%s: IDX header claims %u x %u x %u = %llu bytes of "
                       "pixels, more than the %llu accepted",
                       images_path, idim[0], idim[1], idim[2], (unsigned long long)n * dim,
                       (unsigned long long)IDX_MAX_BYTES);
        goto done;
    }
    size_t keep = (o.limit && o.limit < n) ? o.limit : n;
    /* Read everything (so that truncation is detected even when a subset is kept); keep the
     * pixels of the first `keep` images (1 byte each here, 4 more as floats) and all labels. */
    if ((rc = idx_read_keep(&fi, (uint64_t)n * dim, (uint64_t)keep * dim, 5, dim, "pixel data",
                            "images", &pix, err)) ||
        (rc = idx_expect_eof(&fi, err)) ||
        (rc = idx_read_keep(&fl, n, n, 1, 1, "label data", "labels", &lab, err)) ||
        (rc = idx_expect_eof(&fl, err)))
        goto done;
    for (size_t i = 0; i < n; i++)
        if (lab[i] >= o.nclass) {
            rc = QSGD_FAIL(err, QSGD_EFORMAT, "%s: label %u of sample %zu is outside 0..%d",
                           labels_path, lab[i], i, o.nclass - 1);
            idx_where(err, labels_path, 8 + (unsigned long long)i); /* after magic, count */
            goto done;
        }
    data_shape shape = {.dim = dim, .channels = 1, .height = h, .width = w, .nclass = o.nclass};
    if ((rc = dataset_alloc_dense(&shape, keep, &d, err))) {
        if (rc == QSGD_ENOMEM)
            QSGD_FAIL(err, rc, "out of memory reading %s after %zu images (%zu MiB as floats)",
                      images_path, n, keep * dim * sizeof(float) >> 20);
        goto done;
    }
    float a = 1.0f, b = 0.0f; /* x -> a*x + b */
    if (o.norm == DATA_NORM_UNIT) {
        a = 1.0f / 255.0f;
    } else if (o.norm == DATA_NORM_STANDARDIZE) {
        a = (float)(1.0 / (255.0 * o.std));
        b = (float)(-o.mean / o.std);
    }
    for (size_t i = 0; i < keep * dim; i++)
        d->x[i] = a * (float)pix[i] + b;
    for (size_t i = 0; i < keep; i++)
        d->label[i] = lab[i];
    snprintf(d->source, sizeof d->source, "%.240s", images_path);
    *out = d;
    d = NULL;
    rc = QSGD_OK;
done:
    idx_close(&fi);
    idx_close(&fl);
    free(pix);
    free(lab);
    dataset_free(d);
    return rc;
}

int data_fmnist_load(const char *dir, const char *split, const data_idx_opts *opts, dataset **out,
                     qsgd_err *err) {
    *out = NULL;
    if (!dir)
        dir = DATA_FMNIST_DIR;
    const char *prefix;
    if (split && !strcmp(split, "train"))
        prefix = "train";
    else if (split && (!strcmp(split, "test") || !strcmp(split, "t10k")))
        prefix = "t10k";
    else
        return QSGD_FAIL(err, QSGD_EINVAL, "fmnist: split '%s' (valid: train, test)",
                         split ? split : "(null)");
    char ip[600], lp[600];
    snprintf(ip, sizeof ip, "%s/%s-images-idx3-ubyte.gz", dir, prefix);
    snprintf(lp, sizeof lp, "%s/%s-labels-idx1-ubyte.gz", dir, prefix);
    struct stat st;
    const char *missing = stat(ip, &st) != 0 ? ip : stat(lp, &st) != 0 ? lp : NULL;
    if (missing)
        return QSGD_FAIL(err, QSGD_EDATA, "%s: not found (%s). %s", missing, strerror(errno),
                         install_hint);
    int rc = data_idx_load(ip, lp, opts, out, err);
    if (rc == QSGD_OK) {
        snprintf((*out)->source, sizeof(*out)->source, "fmnist:%s (%.200s)", split, dir);
    }
    return rc;
}

/* ---- the fmnist data source (spec "fmnist[:dir=,n=,ntest=,norm=]") ------------------------ */
struct fmnist_params {
    char dir[512];
    size_t n, ntest;
    int norm; /* data_norm */
};
DATA_PARAMS_FITS(struct fmnist_params);

static const qsgd_opt_choice norms[] = {
    {"std", DATA_NORM_STANDARDIZE}, {"unit", DATA_NORM_UNIT}, {"raw", DATA_NORM_RAW}, {NULL, 0}};

#define SAMPLES(key, field, what)                                                                  \
    {                                                                                              \
        .name = key, .kind = QSGD_OPT_SIZE, .offset = offsetof(struct fmnist_params, field),       \
        .max = DATA_MAX_COUNT, .def = "0", .meta = "N", .flags = QSGD_OPT_EXP, .help = what        \
    }
static const qsgd_opt fmnist_opts[] = {
    {.name = "dir",
     .kind = QSGD_OPT_STRING,
     .offset = offsetof(struct fmnist_params, dir),
     .len = sizeof(((struct fmnist_params *)0)->dir),
     .def = DATA_FMNIST_DIR,
     .meta = "PATH",
     .help = "directory of the gzip'd IDX files"},
    SAMPLES("n", n, "keep the first N training samples (0 = all 60000)"),
    SAMPLES("ntest", ntest, "keep the first N test samples (0 = all 10000)"),
    {.name = "norm",
     .kind = QSGD_OPT_ENUM,
     .offset = offsetof(struct fmnist_params, norm),
     .choices = norms,
     .def = "std",
     .help = "pixel scaling: standardized, x/255, 0..255"},
    {.name = NULL},
};

static int fmnist_source_load(const data_source *src, const char *path, const void *params,
                              uint64_t seed, dataset **train, dataset **test, qsgd_err *err) {
    (void)src;
    (void)path;
    (void)seed;
    *train = *test = NULL;
    const struct fmnist_params *s = params;
    int rc;
    data_idx_opts o = {.norm = (data_norm)s->norm, .limit = s->n};
    if ((rc = data_fmnist_load(s->dir, "train", &o, train, err)))
        return rc;
    o.limit = s->ntest;
    if ((rc = data_fmnist_load(s->dir, "test", &o, test, err))) {
        dataset_free(*train);
        *train = NULL;
        return rc;
    }
    return QSGD_OK;
}

const data_source data_source_fmnist = {
    .name = "fmnist",
    .summary = "Fashion-MNIST (gzip'd IDX files, Debian dataset-fashion-mnist)",
    .opts = fmnist_opts,
    .params_size = sizeof(struct fmnist_params),
    .load = fmnist_source_load,
};
