/* test_data_idx.c — the IDX (Fashion-MNIST format) reader on small gzip files written at test
 * time into a temporary directory: valid files and normalization, and every defect (missing,
 * wrong magic, truncated payload, truncated gzip stream, trailing bytes, count mismatch,
 * label out of range) reported as an error whose message names the file; and the bounds:
 * a header claiming far more images than the file holds, and running out of memory (in a
 * child process with a capped address space, so a regression fails here instead of eating
 * the machine).
 */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "data.h"

static char tmpdir[256];

static void path_of(char *buf, size_t len, const char *name) {
    snprintf(buf, len, "%s/%s", tmpdir, name);
}

static void put32(unsigned char *b, uint32_t v) {
    b[0] = v >> 24;
    b[1] = v >> 16;
    b[2] = v >> 8;
    b[3] = v;
}

/* Write header words and payload to a gzip file (or plain file with gz = 0). */
static void write_file(const char *path, const uint32_t *hdr, int nhdr,
                       const unsigned char *payload, size_t len, int gz) {
    unsigned char h[16];
    for (int i = 0; i < nhdr; i++)
        put32(h + 4 * i, hdr[i]);
    if (gz) {
        gzFile f = gzopen(path, "wb");
        CU_ASSERT_FATAL(f != NULL);
        gzwrite(f, h, 4 * (unsigned)nhdr);
        if (len)
            gzwrite(f, payload, (unsigned)len);
        gzclose(f);
    } else {
        FILE *f = fopen(path, "wb");
        CU_ASSERT_FATAL(f != NULL);
        fwrite(h, 4, (size_t)nhdr, f);
        fwrite(payload, 1, len, f);
        fclose(f);
    }
}

enum { N = 5, H = 4, W = 3 };
static unsigned char pixels[N * H * W];
static unsigned char labels[N] = {0, 9, 3, 3, 7};

static void write_valid(const char *img, const char *lab) {
    uint32_t ih[4] = {0x803, N, H, W}, lh[2] = {0x801, N};
    write_file(img, ih, 4, pixels, sizeof pixels, 1);
    write_file(lab, lh, 2, labels, N, 1);
}

static void test_valid(void) {
    char img[300], lab[300];
    path_of(img, sizeof img, "ok-images.gz");
    path_of(lab, sizeof lab, "ok-labels.gz");
    write_valid(img, lab);
    dataset *d = NULL;
    qsgd_err err = {0};
    CU_ASSERT_EQUAL_FATAL(data_idx_load(img, lab, NULL, &d, &err), QSGD_OK);
    CU_ASSERT_EQUAL(d->n, N);
    CU_ASSERT_EQUAL(d->shape.dim, H * W);
    CU_ASSERT_EQUAL(d->shape.channels, 1);
    CU_ASSERT_EQUAL(d->shape.height, H);
    CU_ASSERT_EQUAL(d->shape.width, W);
    CU_ASSERT_EQUAL(d->shape.nclass, 10);
    CU_ASSERT_EQUAL(d->layout, DATA_DENSE);
    CU_ASSERT_PTR_NULL(d->target);
    for (int i = 0; i < N; i++)
        CU_ASSERT_EQUAL(d->label[i], labels[i]);
    for (int i = 0; i < N * H * W; i++) {
        double want = (pixels[i] / 255.0 - DATA_FMNIST_MEAN) / DATA_FMNIST_STD;
        CU_ASSERT(fabs(d->x[i] - want) < 1e-5);
    }
    dataset_free(d);

    data_idx_opts o = {.norm = DATA_NORM_UNIT, .limit = 2};
    CU_ASSERT_EQUAL_FATAL(data_idx_load(img, lab, &o, &d, &err), QSGD_OK);
    CU_ASSERT_EQUAL(d->n, 2);
    for (int i = 0; i < 2 * H * W; i++)
        CU_ASSERT(fabs(d->x[i] - pixels[i] / 255.0) < 1e-6);
    dataset_free(d);

    o = (data_idx_opts){.norm = DATA_NORM_RAW};
    CU_ASSERT_EQUAL_FATAL(data_idx_load(img, lab, &o, &d, &err), QSGD_OK);
    CU_ASSERT_EQUAL(d->x[7], (float)pixels[7]);
    dataset_free(d);

    /* Plain (uncompressed) IDX files are read too. */
    char img2[300], lab2[300];
    path_of(img2, sizeof img2, "plain-images");
    path_of(lab2, sizeof lab2, "plain-labels");
    uint32_t ih[4] = {0x803, N, H, W}, lh[2] = {0x801, N};
    write_file(img2, ih, 4, pixels, sizeof pixels, 0);
    write_file(lab2, lh, 2, labels, N, 0);
    CU_ASSERT_EQUAL_FATAL(data_idx_load(img2, lab2, NULL, &d, &err), QSGD_OK);
    CU_ASSERT_EQUAL(d->n, N);
    dataset_free(d);
}

/* Expect failure with code and a message containing both `file` and `what`. */
static void expect_fail(const char *img, const char *lab, const data_idx_opts *o, int code,
                        const char *file, const char *what) {
    dataset *d = (dataset *)0x1;
    qsgd_err err = {0};
    int rc = data_idx_load(img, lab, o, &d, &err);
    CU_ASSERT_EQUAL(rc, code);
    CU_ASSERT_EQUAL(err.code, code);
    CU_ASSERT_PTR_NULL(d);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, file));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, what));
    if (!strstr(err.msg, file) || !strstr(err.msg, what))
        fprintf(stderr, "\n  message '%s' lacks '%s' or '%s'\n", err.msg, file, what);
}

static void test_missing(void) {
    char img[300], lab[300], nope[300];
    path_of(img, sizeof img, "ok-images.gz");
    path_of(lab, sizeof lab, "ok-labels.gz");
    path_of(nope, sizeof nope, "no-such-file.gz");
    write_valid(img, lab);
    expect_fail(nope, lab, NULL, QSGD_EDATA, nope, "cannot open");
    expect_fail(img, nope, NULL, QSGD_EDATA, nope, "cannot open");
    expect_fail(tmpdir, lab, NULL, QSGD_EDATA, tmpdir, "directory");
}

static void test_wrong_magic(void) {
    char img[300], lab[300];
    path_of(img, sizeof img, "ok-images.gz");
    path_of(lab, sizeof lab, "magic-labels.gz");
    write_valid(img, lab);
    uint32_t lh[2] = {0x12345678, N};
    write_file(lab, lh, 2, labels, N, 1);
    expect_fail(img, lab, NULL, QSGD_EFORMAT, lab, "magic");
    /* Swapped arguments: images file given as labels. */
    char lab_ok[300];
    path_of(lab_ok, sizeof lab_ok, "ok-labels.gz");
    expect_fail(lab_ok, img, NULL, QSGD_EFORMAT, lab_ok, "swapped");
}

static void test_truncated(void) {
    char img[300], lab[300];
    path_of(img, sizeof img, "trunc-images.gz");
    path_of(lab, sizeof lab, "ok-labels.gz");
    write_valid(img, lab);
    uint32_t ih[4] = {0x803, N, H, W};
    write_file(img, ih, 4, pixels, sizeof pixels - 7, 1); /* gzip ok, payload short */
    expect_fail(img, lab, NULL, QSGD_EFORMAT, img, "truncated");
    /* Header itself cut short. */
    write_file(img, ih, 2, NULL, 0, 1);
    expect_fail(img, lab, NULL, QSGD_EFORMAT, img, "truncated");
    /* A gzip stream cut in the middle (as by an interrupted download). */
    char big[300];
    path_of(big, sizeof big, "cut-images.gz");
    enum { BN = 200 };
    static unsigned char bp[BN * H * W];
    for (size_t i = 0; i < sizeof bp; i++)
        bp[i] = (unsigned char)((i * 2654435761u) >> 13);
    uint32_t bh[4] = {0x803, BN, H, W};
    write_file(big, bh, 4, bp, sizeof bp, 1);
    FILE *f = fopen(big, "rb");
    CU_ASSERT_FATAL(f != NULL);
    unsigned char buf[8192];
    size_t len = fread(buf, 1, sizeof buf, f);
    fclose(f);
    f = fopen(big, "wb");
    fwrite(buf, 1, len / 2, f);
    fclose(f);
    char biglab[300];
    path_of(biglab, sizeof biglab, "cut-labels.gz");
    static unsigned char bl[BN];
    uint32_t blh[2] = {0x801, BN};
    write_file(biglab, blh, 2, bl, BN, 1);
    dataset *d = NULL;
    qsgd_err err = {0};
    CU_ASSERT_EQUAL(data_idx_load(big, biglab, NULL, &d, &err), QSGD_EFORMAT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, big));
    CU_ASSERT_PTR_NULL(d);
}

static void test_trailing(void) {
    char img[300], lab[300];
    path_of(img, sizeof img, "ok-images.gz");
    path_of(lab, sizeof lab, "long-labels.gz");
    write_valid(img, lab);
    unsigned char more[N + 3] = {0};
    uint32_t lh[2] = {0x801, N};
    write_file(lab, lh, 2, more, sizeof more, 1);
    expect_fail(img, lab, NULL, QSGD_EFORMAT, lab, "trailing");
}

static void test_count_mismatch(void) {
    char img[300], lab[300];
    path_of(img, sizeof img, "ok-images.gz");
    path_of(lab, sizeof lab, "short-labels.gz");
    write_valid(img, lab);
    uint32_t lh[2] = {0x801, N - 1};
    write_file(lab, lh, 2, labels, N - 1, 1);
    expect_fail(img, lab, NULL, QSGD_EFORMAT, lab, "4 labels, but");
    /* Zero or absurd dimensions in the image header. */
    uint32_t ih[4] = {0x803, N, 0, W};
    char bad[300];
    path_of(bad, sizeof bad, "zero-images.gz");
    write_file(bad, ih, 4, NULL, 0, 1);
    expect_fail(bad, lab, NULL, QSGD_EFORMAT, bad, "dimensions");
    /* A header claiming more pixels than can be meant (60000 x 4096 x 4096) is refused
     * before any allocation. */
    uint32_t huge[4] = {0x803, 60000, 4096, 4096}, lh2[2] = {0x801, 60000};
    char hl[300];
    path_of(hl, sizeof hl, "huge-labels.gz");
    write_file(bad, huge, 4, NULL, 0, 1);
    write_file(hl, lh2, 2, NULL, 0, 1);
    expect_fail(bad, hl, NULL, QSGD_EFORMAT, bad, "bytes of pixels");
}

static void test_label_range(void) {
    char img[300], lab[300];
    path_of(img, sizeof img, "ok-images.gz");
    path_of(lab, sizeof lab, "range-labels.gz");
    write_valid(img, lab);
    unsigned char l2[N] = {0, 1, 10, 2, 3};
    uint32_t lh[2] = {0x801, N};
    write_file(lab, lh, 2, l2, N, 1);
    expect_fail(img, lab, NULL, QSGD_EFORMAT, lab, "label 10 of sample 2");
    /* With nclass = 4 a 9 is out of range too. */
    char lab_ok[300];
    path_of(lab_ok, sizeof lab_ok, "ok-labels.gz");
    data_idx_opts o = {.nclass = 4};
    expect_fail(img, lab_ok, &o, QSGD_EFORMAT, lab_ok, "outside 0..3");
}

static void test_fmnist_missing_dir(void) {
    dataset *d = NULL;
    qsgd_err err = {0};
    char dir[300];
    path_of(dir, sizeof dir, "no-fmnist-here");
    CU_ASSERT_EQUAL(data_fmnist_load(dir, "train", NULL, &d, &err), QSGD_EDATA);
    CU_ASSERT_PTR_NULL(d);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "no-fmnist-here/train-images-idx3-ubyte.gz"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "dataset-fashion-mnist"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "apt-get install"));
    CU_ASSERT_EQUAL(data_fmnist_load(dir, "validation", NULL, &d, &err), QSGD_EINVAL);
    /* A directory with fake (tiny) files in the Debian layout loads through the same path. */
    char img[300], lab[300];
    path_of(img, sizeof img, "t10k-images-idx3-ubyte.gz");
    path_of(lab, sizeof lab, "t10k-labels-idx1-ubyte.gz");
    write_valid(img, lab);
    CU_ASSERT_EQUAL_FATAL(data_fmnist_load(tmpdir, "test", NULL, &d, &err), QSGD_OK);
    CU_ASSERT_EQUAL(d->n, N);
    CU_ASSERT_PTR_NOT_NULL(strstr(d->source, "fmnist:test"));
    dataset_free(d);
}

static void test_subset_histogram(void) {
    char img[300], lab[300];
    path_of(img, sizeof img, "ok-images.gz");
    path_of(lab, sizeof lab, "ok-labels.gz");
    write_valid(img, lab);
    dataset *d = NULL, *s = NULL;
    qsgd_err err = {0};
    CU_ASSERT_EQUAL_FATAL(data_idx_load(img, lab, NULL, &d, &err), QSGD_OK);
    size_t idx[3] = {4, 0, 2};
    CU_ASSERT_EQUAL_FATAL(dataset_subset(d, idx, 3, &s, &err), QSGD_OK);
    CU_ASSERT_EQUAL(s->n, 3);
    CU_ASSERT_EQUAL(s->label[0], 7);
    CU_ASSERT_EQUAL(s->label[1], 0);
    CU_ASSERT_EQUAL(memcmp(s->x, d->x + 4 * H * W, H * W * sizeof(float)), 0);
    size_t hist[10];
    CU_ASSERT_EQUAL(dataset_label_histogram(d, hist, 10, &err), QSGD_OK);
    CU_ASSERT_EQUAL(hist[3], 2);
    CU_ASSERT_EQUAL(hist[9], 1);
    CU_ASSERT_EQUAL(hist[1], 0);
    size_t bad = 5;
    dataset *t = NULL;
    CU_ASSERT_EQUAL(dataset_subset(d, &bad, 1, &t, &err), QSGD_EINVAL);
    dataset_free(s);
    dataset_free(d);
}

#include "test_memlimit.h"

/* expect_fail in a child process whose address space may grow by at most `extra` bytes (not
 * under ASan, whose shadow memory needs terabytes; there only the 30 s alarm bounds it). */
static void expect_fail_limited(const char *img, const char *lab, const data_idx_opts *o,
                                size_t extra, int code, const char *file, const char *what) {
    fflush(NULL);
    pid_t pid = fork();
    CU_ASSERT_FATAL(pid >= 0);
    if (pid == 0) {
        limit_child(extra);
        dataset *d = (dataset *)0x1;
        qsgd_err err = {0};
        int rc = data_idx_load(img, lab, o, &d, &err);
        int ok = rc == code && err.code == code && d == NULL && strstr(err.msg, file) &&
                 strstr(err.msg, what);
        if (!ok)
            fprintf(stderr, "\n  got %d '%s', want %d with '%s' and '%s'\n", rc, err.msg, code,
                    file, what);
        _exit(ok ? 0 : 1);
    }
    int status = 0;
    CU_ASSERT_FATAL(waitpid(pid, &status, 0) == pid);
    if (WIFSIGNALED(status))
        fprintf(stderr, "\n  reader killed by signal %d\n", WTERMSIG(status));
    CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* A header claiming 2^26 images of 16 x 16 (16 GiB, the most accepted) over a file of a few
 * bytes is truncated, found with the memory of what is there (here at most 64 MiB), not
 * "out of memory"; a file that really holds more than memory allows is out of memory. */
static void test_bounds(void) {
    char img[300], lab[300], hl[300];
    path_of(img, sizeof img, "claims-images.gz");
    path_of(lab, sizeof lab, "claims-labels.gz");
    uint32_t ih[4] = {0x803, 1u << 26, 16, 16}, lh[2] = {0x801, 1u << 26};
    write_file(img, ih, 4, pixels, sizeof pixels, 1);
    write_file(lab, lh, 2, labels, N, 1);
    expect_fail_limited(img, lab, NULL, 64u << 20, QSGD_EFORMAT, img,
                        "truncated: expected 17179869184 bytes of pixel data, got only 60");
    /* the same with plain files, and for the labels (images complete) */
    path_of(img, sizeof img, "claims-images");
    write_file(img, ih, 4, pixels, sizeof pixels, 0);
    expect_fail_limited(img, lab, NULL, 64u << 20, QSGD_EFORMAT, img, "got only 60");
    uint32_t ih2[4] = {0x803, N, H, W}, lh2[2] = {0x801, N};
    path_of(img, sizeof img, "ok-images.gz");
    write_file(img, ih2, 4, pixels, sizeof pixels, 1);
    path_of(hl, sizeof hl, "short-labels.gz");
    write_file(hl, lh2, 2, labels, N - 2, 1);
    expect_fail_limited(img, hl, NULL, 64u << 20, QSGD_EFORMAT, hl,
                        "expected 5 bytes of label data, got only 3");

    /* 32 MiB of (highly compressible) pixels need 160 MiB with their floats; 96 MiB allowed. */
    if (!UNDER_ASAN) {
        enum { BN = 1 << 17, BS = 16 };
        unsigned char *zero = calloc((size_t)BN * BS * BS, 1);
        CU_ASSERT_FATAL(zero != NULL);
        uint32_t bh[4] = {0x803, BN, BS, BS}, blh[2] = {0x801, BN};
        path_of(img, sizeof img, "zeros-images.gz");
        path_of(lab, sizeof lab, "zeros-labels.gz");
        write_file(img, bh, 4, zero, (size_t)BN * BS * BS, 1);
        write_file(lab, blh, 2, zero, BN, 1);
        free(zero);
        expect_fail_limited(img, lab, NULL, 96u << 20, QSGD_ENOMEM, img, "out of memory reading");
        /* with limit = 1000 only 1000 images are kept: it loads in the same memory */
        data_idx_opts o = {.limit = 1000};
        dataset *d = NULL;
        qsgd_err err = {0};
        CU_ASSERT_EQUAL(data_idx_load(img, lab, &o, &d, &err), QSGD_OK);
        CU_ASSERT_EQUAL(d ? d->n : 0, 1000);
        dataset_free(d);
    }
}

static void cleanup(void) {
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "warning: could not remove %s\n", tmpdir);
}

int main(void) {
    const char *t = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/test_data_idx.XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    for (size_t i = 0; i < sizeof pixels; i++)
        pixels[i] = (unsigned char)(i * 37 % 256);
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("data_idx", NULL, NULL);
    CU_add_test(s, "valid files, normalization, limit, plain files", test_valid);
    CU_add_test(s, "missing file / directory", test_missing);
    CU_add_test(s, "wrong magic, swapped files", test_wrong_magic);
    CU_add_test(s, "truncated payload, header, gzip stream", test_truncated);
    CU_add_test(s, "trailing bytes", test_trailing);
    CU_add_test(s, "count mismatch, bad dimensions", test_count_mismatch);
    CU_add_test(s, "label out of range", test_label_range);
    CU_add_test(s, "fmnist: missing dir says how to install", test_fmnist_missing_dir);
    CU_add_test(s, "subset and label histogram", test_subset_histogram);
    CU_add_test(s, "bounds: a header claiming 2^26 images, out of memory", test_bounds);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned fails = CU_get_number_of_failures();
    CU_cleanup_registry();
    cleanup();
    return fails ? 1 : 0;
}
