/* test_data_libsvm.c — LIBSVM text parsing into CSR / dense, the label mappings (binary,
 * multiclass, regression, fixed classes from a training file), the data spec parser, and
 * errors naming file:line for bad tokens, non-increasing indices and bad numbers.
 */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    data_err err = {0};
    CU_ASSERT_EQUAL_FATAL(data_libsvm_load(p, &o, &d, &info, &err), DATA_OK);
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
    CU_ASSERT_EQUAL_FATAL(dataset_densify(d, &err), DATA_OK);
    CU_ASSERT_EQUAL(d->layout, DATA_DENSE);
    CU_ASSERT_EQUAL(d->x[0 * 10 + 2], -2.0f);
    CU_ASSERT_EQUAL(d->x[1 * 10 + 1], 1.0f);
    CU_ASSERT_EQUAL(d->x[3 * 10 + 3], 4.0f);
    CU_ASSERT_EQUAL(d->x[2 * 10 + 5], 0.0f);
    dataset_free(d);

    /* {0,1} labels map to {0,1}; auto densify for small dim; fixed dim. */
    p = write_text("bin01.svm", "0 1:1\n1 2:1\n1 1:3 2:4\n");
    o = (data_libsvm_opts){.dense = -1, .dim = 5};
    CU_ASSERT_EQUAL_FATAL(data_libsvm_load(p, &o, &d, NULL, &err), DATA_OK);
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
    data_err err = {0};
    CU_ASSERT_EQUAL_FATAL(data_libsvm_load(p, NULL, &d, &info, &err), DATA_OK);
    CU_ASSERT_EQUAL(d->shape.nclass, 3); /* {1,3,7} -> {0,1,2} */
    CU_ASSERT_EQUAL(d->label[0], 1);
    CU_ASSERT_EQUAL(d->label[1], 0);
    CU_ASSERT_EQUAL(d->label[2], 2);
    CU_ASSERT_EQUAL(info.classes[2], 7.0);
    dataset_free(d);

    /* Test file with the training file's classes: 1 is known, 5 is not. */
    const char *t = write_text("multi.t", "1 1:1\n7 2:2\n");
    data_libsvm_opts o = {.classes = info.classes, .nclasses = info.nclasses, .dim = 2};
    CU_ASSERT_EQUAL_FATAL(data_libsvm_load(t, &o, &d, NULL, &err), DATA_OK);
    CU_ASSERT_EQUAL(d->shape.nclass, 3);
    CU_ASSERT_EQUAL(d->label[0], 0);
    CU_ASSERT_EQUAL(d->label[1], 2);
    dataset_free(d);
    t = write_text("multi-bad.t", "1 1:1\n5 2:2\n");
    CU_ASSERT_EQUAL(data_libsvm_load(t, &o, &d, NULL, &err), DATA_EFORMAT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "multi-bad.t:2"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "label 5"));

    /* Non-integer labels -> regression targets. */
    p = write_text("reg.svm", "0.5 1:1\n-1.25 2:1\n3 1:1\n");
    CU_ASSERT_EQUAL_FATAL(data_libsvm_load(p, NULL, &d, &info, &err), DATA_OK);
    CU_ASSERT_EQUAL(d->shape.nclass, 0);
    CU_ASSERT_PTR_NULL(d->label);
    CU_ASSERT_PTR_NOT_NULL_FATAL(d->target);
    CU_ASSERT_EQUAL(d->target[1], -1.25f);
    CU_ASSERT_EQUAL(info.nclasses, 0);
    dataset_free(d);
    /* Forced regression on integer labels. */
    p = write_text("reg2.svm", "1 1:1\n2 1:2\n");
    o = (data_libsvm_opts){.task = DATA_TASK_REGRESSION};
    CU_ASSERT_EQUAL_FATAL(data_libsvm_load(p, &o, &d, NULL, &err), DATA_OK);
    CU_ASSERT_EQUAL(d->target[1], 2.0f);
    dataset_free(d);
}

/* The load fails with code and a message containing every string of want[]. */
static void expect_fail(const char *name, const char *text, const data_libsvm_opts *o, int code,
                        const char *want1, const char *want2) {
    const char *p = write_text(name, text);
    dataset *d = (dataset *)0x1;
    data_err err = {0};
    CU_ASSERT_EQUAL(data_libsvm_load(p, o, &d, NULL, &err), code);
    CU_ASSERT_PTR_NULL(d);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, want1));
    if (want2)
        CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, want2));
    if (!strstr(err.msg, want1) || (want2 && !strstr(err.msg, want2)))
        fprintf(stderr, "\n  message '%s' lacks '%s' / '%s'\n", err.msg, want1, want2 ? want2 : "");
}

static void test_errors(void) {
    expect_fail("e1.svm", "1 1:1\n1 2:1 x\n", NULL, DATA_EFORMAT, "e1.svm:2", "'x'");
    expect_fail("e2.svm", "1 1:1\n\n1 3:1 2:1\n", NULL, DATA_EFORMAT, "e2.svm:3",
                "strictly increasing");
    expect_fail("e3.svm", "1 1:1 1:2\n", NULL, DATA_EFORMAT, "e3.svm:1", "strictly increasing");
    expect_fail("e4.svm", "1 1:abc\n", NULL, DATA_EFORMAT, "e4.svm:1", "bad value");
    expect_fail("e5.svm", "1 0:1\n", NULL, DATA_EFORMAT, "e5.svm:1", "bad index");
    expect_fail("e6.svm", "1 -3:1\n", NULL, DATA_EFORMAT, "e6.svm:1", "bad index");
    expect_fail("e7.svm", "abc 1:1\n", NULL, DATA_EFORMAT, "e7.svm:1", "bad label");
    expect_fail("e8.svm", "1 1:1\n2 1:nan\n", NULL, DATA_EFORMAT, "e8.svm:2", "bad value");
    expect_fail("e9.svm", "1 1:1e999\n", NULL, DATA_EFORMAT, "e9.svm:1", "bad value");
    expect_fail("e10.svm", "1 1:\n", NULL, DATA_EFORMAT, "e10.svm:1", "index:value");
    expect_fail("e11.svm", "# nothing\n\n", NULL, DATA_EFORMAT, "e11.svm", "no samples");
    data_libsvm_opts o = {.dim = 3};
    expect_fail("e12.svm", "1 1:1\n1 4:1\n", &o, DATA_EFORMAT, "e12.svm:2", "exceeds");
    expect_fail("e13.svm", "1 1:1\n1 2x:1\n", NULL, DATA_EFORMAT, "e13.svm:2", "bad index");
    char nope[320];
    snprintf(nope, sizeof nope, "%s/does-not-exist.svm", tmpdir);
    dataset *d = NULL;
    data_err err = {0};
    CU_ASSERT_EQUAL(data_libsvm_load(nope, NULL, &d, NULL, &err), DATA_EIO);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, nope));
}

static void test_spec(void) {
    const char *tr = write_text("spec.svm", "+1 1:1 2:2\n-1 3:1\n+1 2:1\n");
    const char *te = write_text("spec.t", "-1 1:1\n+1 2:5\n");
    char spec[800];
    snprintf(spec, sizeof spec, "libsvm:%s,test=%s,dense=0", tr, te);
    dataset *a = NULL, *b = NULL;
    data_err err = {0};
    CU_ASSERT_EQUAL_FATAL(data_load_spec(spec, 1, &a, &b, &err), DATA_OK);
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
    CU_ASSERT_EQUAL_FATAL(data_load_spec(spec, 1, &a, &b, &err), DATA_OK);
    CU_ASSERT_EQUAL(a, b);
    CU_ASSERT_EQUAL(a->layout, DATA_DENSE);
    dataset_free(a);

    CU_ASSERT_EQUAL(data_load_spec("mnist", 1, &a, &b, &err), DATA_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "valid: fmnist"));
    CU_ASSERT_EQUAL(data_load_spec("synth-leastsq:kapa=3", 1, &a, &b, &err), DATA_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "kapa"));
    CU_ASSERT_EQUAL(data_load_spec("synth-leastsq:n=10,dim=20", 1, &a, &b, &err), DATA_EINVAL);
    CU_ASSERT_EQUAL(data_load_spec("fmnist:n=abc", 1, &a, &b, &err), DATA_EINVAL);
    CU_ASSERT_EQUAL(data_load_spec("libsvm:", 1, &a, &b, &err), DATA_EINVAL);
    snprintf(spec, sizeof spec, "libsvm:%s,color=blue", tr);
    CU_ASSERT_EQUAL(data_load_spec(spec, 1, &a, &b, &err), DATA_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "color"));

    CU_ASSERT_EQUAL_FATAL(data_load_spec("synth-logreg:n=300,dim=7,ntest=50", 3, &a, &b, &err),
                          DATA_OK);
    CU_ASSERT_EQUAL(a->n, 300);
    CU_ASSERT_EQUAL(b->n, 50);
    CU_ASSERT_EQUAL(a->shape.dim, 7);
    CU_ASSERT_EQUAL(a->shape.nclass, 2);
    dataset_free(a);
    dataset_free(b);
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
