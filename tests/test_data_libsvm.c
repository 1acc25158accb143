/* test_data_libsvm.c — LIBSVM text parsing into CSR / dense, the label mappings (binary,
 * multiclass, regression, fixed classes from a training file), the data spec parser,
 * errors naming file:line for bad tokens, non-increasing indices and bad numbers, and the
 * reader's bounds: /dev/zero, an overlong line, an overlong file or stream, and running out of
 * memory (each in a child process with a capped address space, so a regression fails here
 * instead of eating the machine).
 */
#include <CUnit/Basic.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "data.h"

static char tmpdir[256];

static const char *write_text(const char *name, const char *text) {
    static char path[8][320];
    static int k;
    char *p = path[k++ % 8];
    snprintf(p, 320, "%s/%s", tmpdir, name);
    FILE *f = fopen(p, "w");
    CU_ASSERT_FATAL(f != NULL);
    fputs(text, f);
    fclose(f);
    return p;
}

static void test_binary_csr(void) {
    const char *p = write_text("bin.svm", "# a comment line\n"
                                          "+1 1:0.5 3:-2 10:1e-1\n"
                                          "\n"
                                          "-1 2:1   # trailing comment\n"
                                          "-1\n"
                                          "+1 qid:3 4:4\r\n");
    data_libsvm_opts o = {.dense = 0};
    data_libsvm_info info;
    dataset *d = NULL;
    qsgd_err err = {0};
    CU_ASSERT_EQUAL_FATAL(data_libsvm_load(p, &o, &d, &info, &err), QSGD_OK);
    CU_ASSERT_EQUAL(d->n, 4);
    CU_ASSERT_EQUAL(d->layout, DATA_CSR);
    CU_ASSERT_EQUAL(d->shape.dim, 10);
    CU_ASSERT_EQUAL(d->shape.nclass, 2);
    CU_ASSERT_EQUAL(info.nclasses, 2);
    CU_ASSERT_EQUAL(info.classes[0], -1.0);
    CU_ASSERT_EQUAL(info.classes[1], 1.0);
    CU_ASSERT_EQUAL(info.max_index, 10);
    CU_ASSERT_EQUAL(info.nnz, 5);
    int32_t want_label[4] = {1, 0, 0, 1};
    for (int i = 0; i < 4; i++)
        CU_ASSERT_EQUAL(d->label[i], want_label[i]);
    size_t want_rowptr[5] = {0, 3, 4, 4, 5};
    for (int i = 0; i < 5; i++)
        CU_ASSERT_EQUAL(d->rowptr[i], want_rowptr[i]);
    uint32_t want_col[5] = {0, 2, 9, 1, 3};
    float want_val[5] = {0.5f, -2.0f, 0.1f, 1.0f, 4.0f};
    for (int i = 0; i < 5; i++) {
        CU_ASSERT_EQUAL(d->col[i], want_col[i]);
        CU_ASSERT_EQUAL(d->val[i], want_val[i]);
    }
    CU_ASSERT_EQUAL(dataset_nnz(d), 5);
    /* Densify agrees with the CSR rows. */
    CU_ASSERT_EQUAL_FATAL(dataset_densify(d, &err), QSGD_OK);
    CU_ASSERT_EQUAL(d->layout, DATA_DENSE);
    CU_ASSERT_EQUAL(d->x[0 * 10 + 2], -2.0f);
    CU_ASSERT_EQUAL(d->x[1 * 10 + 1], 1.0f);
    CU_ASSERT_EQUAL(d->x[3 * 10 + 3], 4.0f);
    CU_ASSERT_EQUAL(d->x[2 * 10 + 5], 0.0f);
    dataset_free(d);

    /* {0,1} labels map to {0,1}; auto densify for small dim; fixed dim. */
    p = write_text("bin01.svm", "0 1:1\n1 2:1\n1 1:3 2:4\n");
    o = (data_libsvm_opts){.dense = -1, .dim = 5};
    CU_ASSERT_EQUAL_FATAL(data_libsvm_load(p, &o, &d, NULL, &err), QSGD_OK);
    CU_ASSERT_EQUAL(d->layout, DATA_DENSE);
    CU_ASSERT_EQUAL(d->shape.dim, 5);
    CU_ASSERT_EQUAL(d->label[0], 0);
    CU_ASSERT_EQUAL(d->label[2], 1);
    CU_ASSERT_EQUAL(d->x[2 * 5 + 1], 4.0f);
    dataset_free(d);
}

static void test_multiclass_regression(void) {
    const char *p = write_text("multi.svm", "3 1:1\n1 1:2\n7 2:1\n3 1:1\n");
    dataset *d = NULL;
    data_libsvm_info info;
    qsgd_err err = {0};
    CU_ASSERT_EQUAL_FATAL(data_libsvm_load(p, NULL, &d, &info, &err), QSGD_OK);
    CU_ASSERT_EQUAL(d->shape.nclass, 3); /* {1,3,7} -> {0,1,2} */
    CU_ASSERT_EQUAL(d->label[0], 1);
    CU_ASSERT_EQUAL(d->label[1], 0);
    CU_ASSERT_EQUAL(d->label[2], 2);
    CU_ASSERT_EQUAL(info.classes[2], 7.0);
    dataset_free(d);

    /* Test file with the training file's classes: 1 is known, 5 is not. */
    const char *t = write_text("multi.t", "1 1:1\n7 2:2\n");
    data_libsvm_opts o = {.classes = info.classes, .nclasses = info.nclasses, .dim = 2};
    CU_ASSERT_EQUAL_FATAL(data_libsvm_load(t, &o, &d, NULL, &err), QSGD_OK);
    CU_ASSERT_EQUAL(d->shape.nclass, 3);
    CU_ASSERT_EQUAL(d->label[0], 0);
    CU_ASSERT_EQUAL(d->label[1], 2);
    dataset_free(d);
    t = write_text("multi-bad.t", "1 1:1\n5 2:2\n");
    CU_ASSERT_EQUAL(data_libsvm_load(t, &o, &d, NULL, &err), QSGD_EFORMAT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "multi-bad.t:2"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "label 5"));

    /* Non-integer labels -> regression targets. */
    p = write_text("reg.svm", "0.5 1:1\n-1.25 2:1\n3 1:1\n");
    CU_ASSERT_EQUAL_FATAL(data_libsvm_load(p, NULL, &d, &info, &err), QSGD_OK);
    CU_ASSERT_EQUAL(d->shape.nclass, 0);
    CU_ASSERT_PTR_NULL(d->label);
    CU_ASSERT_PTR_NOT_NULL_FATAL(d->target);
    CU_ASSERT_EQUAL(d->target[1], -1.25f);
    CU_ASSERT_EQUAL(info.nclasses, 0);
    dataset_free(d);
    /* Forced regression on integer labels. */
    p = write_text("reg2.svm", "1 1:1\n2 1:2\n");
    o = (data_libsvm_opts){.task = DATA_TASK_REGRESSION};
    CU_ASSERT_EQUAL_FATAL(data_libsvm_load(p, &o, &d, NULL, &err), QSGD_OK);
    CU_ASSERT_EQUAL(d->target[1], 2.0f);
    dataset_free(d);
}

/* The load fails with code and a message containing every string of want[]. */
static void expect_fail(const char *name, const char *text, const data_libsvm_opts *o, int code,
                        const char *want1, const char *want2) {
    const char *p = write_text(name, text);
    dataset *d = (dataset *)0x1;
    qsgd_err err = {0};
    CU_ASSERT_EQUAL(data_libsvm_load(p, o, &d, NULL, &err), code);
    CU_ASSERT_PTR_NULL(d);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, want1));
    if (want2)
        CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, want2));
    if (!strstr(err.msg, want1) || (want2 && !strstr(err.msg, want2)))
        fprintf(stderr, "\n  message '%s' lacks '%s' / '%s'\n", err.msg, want1, want2 ? want2 : "");
}

static void test_errors(void) {
    expect_fail("e1.svm", "1 1:1\n1 2:1 x\n", NULL, QSGD_EFORMAT, "e1.svm:2", "'x'");
    expect_fail("e2.svm", "1 1:1\n\n1 3:1 2:1\n", NULL, QSGD_EFORMAT, "e2.svm:3",
                "strictly increasing");
    expect_fail("e3.svm", "1 1:1 1:2\n", NULL, QSGD_EFORMAT, "e3.svm:1", "strictly increasing");
    expect_fail("e4.svm", "1 1:abc\n", NULL, QSGD_EFORMAT, "e4.svm:1", "bad value");
    expect_fail("e5.svm", "1 0:1\n", NULL, QSGD_EFORMAT, "e5.svm:1", "bad index");
    expect_fail("e6.svm", "1 -3:1\n", NULL, QSGD_EFORMAT, "e6.svm:1", "bad index");
    expect_fail("e7.svm", "abc 1:1\n", NULL, QSGD_EFORMAT, "e7.svm:1", "bad label");
    expect_fail("e8.svm", "1 1:1\n2 1:nan\n", NULL, QSGD_EFORMAT, "e8.svm:2", "bad value");
    expect_fail("e9.svm", "1 1:1e999\n", NULL, QSGD_EFORMAT, "e9.svm:1", "bad value");
    expect_fail("e10.svm", "1 1:\n", NULL, QSGD_EFORMAT, "e10.svm:1", "index:value");
    expect_fail("e11.svm", "# nothing\n\n", NULL, QSGD_EFORMAT, "e11.svm", "no samples");
    data_libsvm_opts o = {.dim = 3};
    expect_fail("e12.svm", "1 1:1\n1 4:1\n", &o, QSGD_EFORMAT, "e12.svm:2", "exceeds");
    expect_fail("e13.svm", "1 1:1\n1 2x:1\n", NULL, QSGD_EFORMAT, "e13.svm:2", "bad index");
    char nope[320];
    snprintf(nope, sizeof nope, "%s/does-not-exist.svm", tmpdir);
    dataset *d = NULL;
    qsgd_err err = {0};
    CU_ASSERT_EQUAL(data_libsvm_load(nope, NULL, &d, NULL, &err), QSGD_EDATA);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, nope));
}

#include "test_memlimit.h"

/* the sources' tables, declared where the registry lists them (models/data.c) */
extern const data_source data_source_fmnist, data_source_libsvm, data_source_synth_leastsq;

/* Load path in a child process whose address space may grow by at most `extra` bytes (not
 * under ASan, whose shadow memory needs terabytes; there only the 30 s alarm bounds it) and
 * expect code and a message containing want1 and want2. */
static void expect_fail_limited(const char *path, const data_libsvm_opts *o, size_t extra, int code,
                                const char *want1, const char *want2) {
    fflush(NULL);
    pid_t pid = fork();
    CU_ASSERT_FATAL(pid >= 0);
    if (pid == 0) {
        limit_child(extra);
        dataset *d = (dataset *)0x1;
        qsgd_err err = {0};
        int rc = data_libsvm_load(path, o, &d, NULL, &err);
        int ok = rc == code && err.code == code && d == NULL && strstr(err.msg, want1) &&
                 (!want2 || strstr(err.msg, want2));
        if (!ok)
            fprintf(stderr, "\n  %s: got %d '%s', want %d with '%s' / '%s'\n", path, rc, err.msg,
                    code, want1, want2 ? want2 : "");
        _exit(ok ? 0 : 1);
    }
    int status = 0;
    CU_ASSERT_FATAL(waitpid(pid, &status, 0) == pid);
    if (WIFSIGNALED(status))
        fprintf(stderr, "\n  %s: reader killed by signal %d\n", path, WTERMSIG(status));
    CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* Failure 7 of issue 10: libsvm:/dev/zero grew one line to 23 GB. Every input is bounded. */
static void test_bounds(void) {
    /* /dev/zero fails at its first byte (with 64 MiB to spare, not 23 GB). */
    expect_fail_limited("/dev/zero", NULL, 64u << 20, QSGD_EFORMAT, "/dev/zero:1", "NUL byte");

    /* A line past the default 16 MiB: refused at line 2, as such. */
    char path[320];
    snprintf(path, sizeof path, "%s/longline.svm", tmpdir);
    FILE *f = fopen(path, "w");
    CU_ASSERT_FATAL(f != NULL);
    fputs("1 1:1\n1 ", f);
    static char spaces[1 << 16];
    memset(spaces, ' ', sizeof spaces);
    for (size_t k = 0; k <= DATA_LIBSVM_MAX_LINE / sizeof spaces; k++)
        fwrite(spaces, 1, sizeof spaces, f);
    fputs("2:1\n", f);
    CU_ASSERT_FATAL(fclose(f) == 0);
    char want[64];
    snprintf(want, sizeof want, "line longer than %zu bytes", DATA_LIBSVM_MAX_LINE);
    expect_fail_limited(path, NULL, 64u << 20, QSGD_EFORMAT, "longline.svm:2", want);

    /* A chosen limit: a line of exactly max_line bytes passes, one byte more does not. */
    data_libsvm_opts o = {.max_line = 12};
    const char *p = write_text("line12.svm", "1 1:1 2:2 3:3\n0 1:1\n"); /* 13 bytes */
    expect_fail_limited(p, &o, 64u << 20, QSGD_EFORMAT, "line12.svm:1", "longer than 12 bytes");
    p = write_text("line12b.svm", "1 1:1 2:2 33\n0 1:1"); /* 12 bytes, then no newline */
    o = (data_libsvm_opts){.max_line = 12, .task = DATA_TASK_REGRESSION};
    dataset *d = NULL;
    qsgd_err err = {0};
    CU_ASSERT_EQUAL(data_libsvm_load(p, &o, &d, NULL, &err), QSGD_EFORMAT); /* "33": no colon */
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "'33'"));
    p = write_text("line12c.svm", "1 1:1 2:2 3:\n");
    CU_ASSERT_EQUAL(data_libsvm_load(p, &o, &d, NULL, &err), QSGD_EFORMAT); /* read whole */
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "'3:'"));

    /* The file size: a regular file is refused before reading, a stream when it passes. */
    o = (data_libsvm_opts){.max_bytes = 30};
    p = write_text("big.svm", "1 1:1\n1 1:1\n1 1:1\n1 1:1\n1 1:1\n1 1:1\n");
    expect_fail_limited(p, &o, 64u << 20, QSGD_EFORMAT, "big.svm", "file of 36 bytes");
    int fds[2];
    CU_ASSERT_FATAL(pipe(fds) == 0);
    for (int i = 0; i < 40; i++)
        CU_ASSERT_FATAL(write(fds[1], "\n", 1) == 1); /* blank lines only: never allocates */
    close(fds[1]);
    char fdpath[64];
    snprintf(fdpath, sizeof fdpath, "/proc/self/fd/%d", fds[0]);
    expect_fail_limited(fdpath, &o, 64u << 20, QSGD_EFORMAT, ":31: file longer than 30 bytes",
                        NULL);
    close(fds[0]);

    /* Out of memory is said as such (never "no samples" or a corrupt file): 4 M rows of "1"
     * need 64 MiB of arrays, the child may take 32 MiB more than it holds. */
    if (!UNDER_ASAN) {
        snprintf(path, sizeof path, "%s/manyrows.svm", tmpdir);
        f = fopen(path, "w");
        CU_ASSERT_FATAL(f != NULL);
        static char rows[1 << 16];
        for (size_t i = 0; i < sizeof rows; i += 2)
            memcpy(rows + i, "1\n", 2);
        for (int k = 0; k < 128; k++)
            fwrite(rows, 1, sizeof rows, f);
        CU_ASSERT_FATAL(fclose(f) == 0);
        char want2[400];
        snprintf(want2, sizeof want2, "out of memory reading %s after ", path);
        expect_fail_limited(path, NULL, 32u << 20, QSGD_ENOMEM, want2, " rows");
    }

    /* A regression target beyond float range is refused, not turned into inf. */
    o = (data_libsvm_opts){.task = DATA_TASK_REGRESSION};
    expect_fail("reg-big.svm", "0.5 1:1\n1e300 1:1\n", &o, QSGD_EFORMAT, "reg-big.svm",
                "out of the float range");
    /* More than DATA_MAX_CLASSES labels: classification refused, auto -> regression. */
    size_t cap = 16 * (DATA_MAX_CLASSES + 2);
    char *many = malloc(cap), *q = many;
    CU_ASSERT_FATAL(many != NULL);
    for (int i = 0; i <= DATA_MAX_CLASSES; i++)
        q += snprintf(q, cap - (size_t)(q - many), "%d 1:1\n", i);
    o = (data_libsvm_opts){.task = DATA_TASK_CLASSIFY};
    expect_fail("many.svm", many, &o, QSGD_EFORMAT, "many.svm", "more than 1000 distinct labels");
    p = write_text("many2.svm", many);
    CU_ASSERT_EQUAL_FATAL(data_libsvm_load(p, NULL, &d, NULL, &err), QSGD_OK);
    CU_ASSERT_EQUAL(d->shape.nclass, 0);
    CU_ASSERT_EQUAL(d->target[DATA_MAX_CLASSES], (float)DATA_MAX_CLASSES);
    dataset_free(d);
    free(many);
}

static void test_spec(void) {
    const char *tr = write_text("spec.svm", "+1 1:1 2:2\n-1 3:1\n+1 2:1\n");
    const char *te = write_text("spec.t", "-1 1:1\n+1 2:5\n");
    char spec[800];
    snprintf(spec, sizeof spec, "libsvm:%s,test=%s,dense=0", tr, te);
    dataset *a = NULL, *b = NULL;
    qsgd_err err = {0};
    CU_ASSERT_EQUAL_FATAL(data_load_spec(spec, 1, &a, &b, &err), QSGD_OK);
    CU_ASSERT_NOT_EQUAL(a, b);
    CU_ASSERT_EQUAL(a->n, 3);
    CU_ASSERT_EQUAL(b->n, 2);
    CU_ASSERT_EQUAL(b->shape.dim, 3);
    CU_ASSERT_EQUAL(b->layout, DATA_CSR);
    CU_ASSERT_EQUAL(b->label[0], 0);
    CU_ASSERT_EQUAL(b->label[1], 1);
    dataset_free(a);
    dataset_free(b);
    snprintf(spec, sizeof spec, "libsvm:%s", tr);
    CU_ASSERT_EQUAL_FATAL(data_load_spec(spec, 1, &a, &b, &err), QSGD_OK);
    CU_ASSERT_EQUAL(a, b);
    CU_ASSERT_EQUAL(a->layout, DATA_DENSE);
    dataset_free(a);

    CU_ASSERT_EQUAL(data_load_spec("mnist", 1, &a, &b, &err), QSGD_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "valid: fmnist"));
    CU_ASSERT_EQUAL(data_load_spec("synth-leastsq:kapa=3", 1, &a, &b, &err), QSGD_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "kapa"));
    CU_ASSERT_EQUAL(data_load_spec("synth-leastsq:n=10,dim=20", 1, &a, &b, &err), QSGD_EINVAL);
    CU_ASSERT_EQUAL(data_load_spec("fmnist:n=abc", 1, &a, &b, &err), QSGD_EINVAL);
    CU_ASSERT_EQUAL(data_load_spec("libsvm:", 1, &a, &b, &err), QSGD_EINVAL);
    snprintf(spec, sizeof spec, "libsvm:%s,color=blue", tr);
    CU_ASSERT_EQUAL(data_load_spec(spec, 1, &a, &b, &err), QSGD_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "color"));

    CU_ASSERT_EQUAL_FATAL(data_load_spec("synth-logreg:n=300,dim=7,ntest=50", 3, &a, &b, &err),
                          QSGD_OK);
    CU_ASSERT_EQUAL(a->n, 300);
    CU_ASSERT_EQUAL(b->n, 50);
    CU_ASSERT_EQUAL(a->shape.dim, 7);
    CU_ASSERT_EQUAL(a->shape.nclass, 2);
    dataset_free(a);
    dataset_free(b);
}

/* The source registry: every source is found by its name, declares its options (unique
 * names, each found by name and alias), and its valid-key list and usage come from its
 * table; an unknown key is refused naming the generated list, an alias is accepted. */
static void test_registry(void) {
    const data_source *const *all = data_sources();
    size_t n = 0;
    for (const data_source *const *s = all; *s; s++, n++) {
        CU_ASSERT_PTR_EQUAL(data_source_find((*s)->name, strlen((*s)->name)), *s);
        CU_ASSERT_PTR_NOT_NULL((*s)->load);
        CU_ASSERT_PTR_NOT_NULL((*s)->summary);
        CU_ASSERT((*s)->params_size > 0 && (*s)->params_size <= DATA_PARAMS_MAX);
        for (const qsgd_opt *o = (*s)->opts; o && o->name; o++) {
            CU_ASSERT_PTR_EQUAL(data_opt_find((*s)->opts, o->name), o);
            for (const qsgd_opt *p = (*s)->opts; p != o; p++)
                CU_ASSERT(strcmp(p->name, o->name) != 0);
            CU_ASSERT_PTR_NOT_NULL(o->help);
        }
    }
    CU_ASSERT_EQUAL(n, 4);
    CU_ASSERT_PTR_NULL(data_source_find("fmnistx", 7));
    CU_ASSERT_PTR_EQUAL(data_source_find("fmnist:n=1", 6), &data_source_fmnist);
    CU_ASSERT_PTR_EQUAL(data_opt_find(data_source_synth_leastsq.opts, "d"),
                        data_opt_find(data_source_synth_leastsq.opts, "dim"));
    char buf[512];
    CU_ASSERT_EQUAL(data_opt_names(data_source_fmnist.opts, ", ", buf, sizeof buf), 0);
    CU_ASSERT_STRING_EQUAL(buf, "dir, n, ntest, norm");
    CU_ASSERT_EQUAL(data_source_usage(&data_source_libsvm, 1, buf, sizeof buf), 0);
    CU_ASSERT_STRING_EQUAL(buf, "libsvm:PATH[,test=PATH,dense=0|1|auto,dim=N,task=auto|class|reg]");
    CU_ASSERT_EQUAL(data_sources_usage(buf, sizeof buf), 0);
    CU_ASSERT_STRING_EQUAL(buf, "fmnist[:dir=,n=,ntest=,norm=], libsvm:PATH[,test=,dense=,dim=,"
                                "task=], synth-leastsq[:n=,dim=,kappa=,mu=,noise=,spread=,ntest=],"
                                " synth-logreg[:n=,dim=,scale=,hard=,ntest=]");
    CU_ASSERT_EQUAL(data_sources_usage(buf, 20), -1); /* truncated */
    CU_ASSERT_EQUAL(data_sources_names(buf, sizeof buf), 0);
    CU_ASSERT_STRING_EQUAL(buf, "fmnist, libsvm:PATH, synth-leastsq, synth-logreg");

    dataset *a, *b;
    qsgd_err err;
    CU_ASSERT_EQUAL(data_load_spec("synth-logreg:n=30,dim=3,kappa=2", 1, &a, &b, &err),
                    QSGD_EINVAL);
    CU_ASSERT_STRING_EQUAL(err.msg,
                           "synth-logreg: unknown option 'kappa' (options: n=N, dim=N, scale=X, "
                           "hard=0|1, ntest=N)");
    CU_ASSERT_EQUAL(data_load_spec("libsvm:", 1, &a, &b, &err), QSGD_EINVAL);
    CU_ASSERT_STRING_EQUAL(err.msg, "libsvm spec 'libsvm:': expected libsvm:PATH[,test=PATH,"
                                    "dense=0|1|auto,dim=N,task=auto|class|reg]");
    CU_ASSERT_EQUAL(data_load_spec("nope", 1, &a, &b, &err), QSGD_EINVAL);
    CU_ASSERT_STRING_EQUAL(err.msg, "unknown data set 'nope' in spec 'nope' (valid: fmnist, "
                                    "libsvm:PATH, synth-leastsq, synth-logreg)");
    /* the alias d= sets dim, like dim= (same data) */
    dataset *c, *e;
    CU_ASSERT_EQUAL_FATAL(data_load_spec("synth-leastsq:n=40,d=5,ntest=10", 2, &a, &b, &err),
                          QSGD_OK);
    CU_ASSERT_EQUAL_FATAL(data_load_spec("synth-leastsq:n=40,dim=5,ntest=10", 2, &c, &e, &err),
                          QSGD_OK);
    CU_ASSERT_EQUAL(a->shape.dim, 5);
    CU_ASSERT_EQUAL(b->n, 10);
    CU_ASSERT_EQUAL(memcmp(a->x, c->x, 40 * 5 * sizeof(float)), 0);
    CU_ASSERT_EQUAL(memcmp(b->target, e->target, 10 * sizeof(float)), 0);
    dataset_free(a);
    dataset_free(b);
    dataset_free(c);
    dataset_free(e);
}

/* Option values through the rows: counts with an exponent (n=6e4), enums, bools; errors
 * name the source, the key, the value and the range or choices; a spec is checked whole
 * without loading; the list is generated from the tables. */
static void test_option_values(void) {
    dataset *a, *b, *c, *e;
    qsgd_err err;
    CU_ASSERT_EQUAL_FATAL(data_load_spec("synth-logreg:n=3e2,dim=7,ntest=0.5e2", 3, &a, &b, &err),
                          QSGD_OK);
    CU_ASSERT_EQUAL_FATAL(data_load_spec("synth-logreg:n=300,dim=7,ntest=50", 3, &c, &e, &err),
                          QSGD_OK);
    CU_ASSERT(a->n == 300 && b->n == 50 && a->shape.dim == 7);
    CU_ASSERT_STRING_EQUAL(a->source, c->source);
    CU_ASSERT_EQUAL(memcmp(a->x, c->x, 300 * 7 * sizeof(float)), 0);
    CU_ASSERT_EQUAL(memcmp(b->label, e->label, 50 * sizeof(int32_t)), 0);
    dataset_free(a);
    dataset_free(b);
    dataset_free(c);
    dataset_free(e);
    static const struct {
        const char *spec, *msg;
    } bad[] = {
        {"synth-logreg:n=6.5e0",
         "synth-logreg: option n: '6.5e0' is not an integer in [0, 1000000000000000]"},
        {"synth-logreg:n=1e16",
         "synth-logreg: option n: '1e16' is not an integer in [0, 1000000000000000]"},
        {"synth-logreg:hard=2", "synth-logreg: option hard: '2' is not an integer in [0, 1]"},
        {"synth-leastsq:spread=cubic",
         "synth-leastsq: option spread: 'cubic' (valid: log, linear)"},
        {"synth-leastsq:kappa=-1", "synth-leastsq: option kappa: '-1' is not a number in [0, inf]"},
        {"synth-leastsq:n=5,n=6", "synth-leastsq: option n given twice"},
        {"fmnist:norm=z", "fmnist: option norm: 'z' (valid: std, unit, raw)"},
        {"fmnist:n", "fmnist: option 'n' is not key=value (options: dir=PATH, n=N, ntest=N, "
                     "norm=std|unit|raw)"},
        {"libsvm:x.svm,dense=2", "libsvm: option dense: '2' (valid: 0, 1, auto)"},
        {"libsvm:x.svm,task=classify", "libsvm: option task: 'classify' (valid: auto, class, reg)"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = data_load_spec(bad[i].spec, 1, &a, &b, &err);
        int ok = rc == QSGD_EINVAL && !strcmp(err.msg, bad[i].msg) && !a && !b;
        qsgd_err e2;
        ok = ok && data_spec_check(bad[i].spec, &e2) == QSGD_EINVAL && !strcmp(e2.msg, err.msg);
        if (!ok)
            fprintf(stderr, "\n  %s: rc %d '%s'\n  want '%s'\n", bad[i].spec, rc, err.msg,
                    bad[i].msg);
        CU_ASSERT(ok);
    }
    /* checked whole without loading: a missing file is not looked at */
    CU_ASSERT_EQUAL(data_spec_check("libsvm:/nonexistent.svm,dim=1e3,task=reg", &err), QSGD_OK);
    CU_ASSERT_EQUAL(data_spec_check("fmnist:dir=/nonexistent,n=6e4", &err), QSGD_OK);
    CU_ASSERT_EQUAL(data_spec_check("libsvm", &err), QSGD_EINVAL);
    CU_ASSERT_EQUAL(data_spec_check("mnist", &err), QSGD_EINVAL);
    char *mem = NULL;
    size_t ml = 0;
    FILE *f = open_memstream(&mem, &ml);
    CU_ASSERT_FATAL(f != NULL);
    data_list_sources(f);
    fclose(f);
    CU_ASSERT(strstr(mem, "synth-leastsq[:n=N,dim=N,kappa=X,mu=X,noise=X,spread=log|linear,"
                          "ntest=N]") &&
              strstr(mem, "dim (d)") && strstr(mem, "(6e4 ok), default 0: training rows") &&
              strstr(mem, "default /usr/share/datasets/fashion-mnist"));
    free(mem);
}

int main(void) {
    const char *t = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/test_data_libsvm.XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("data_libsvm", NULL, NULL);
    CU_add_test(s, "binary labels, CSR, comments, qid, densify", test_binary_csr);
    CU_add_test(s, "multiclass mapping, fixed classes, regression", test_multiclass_regression);
    CU_add_test(s, "errors name file:line", test_errors);
    CU_add_test(s, "data specs", test_spec);
    CU_add_test(s, "data source registry: tables, generated lists, aliases", test_registry);
    CU_add_test(s, "option values: 6e4 counts, enums, errors, spec check, list",
                test_option_values);
    CU_add_test(s, "bounds: /dev/zero, long lines and files, out of memory", test_bounds);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned fails = CU_get_number_of_failures();
    CU_cleanup_registry();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "warning: could not remove %s\n", tmpdir);
    return fails ? 1 : 0;
}
