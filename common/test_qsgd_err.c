/* test_qsgd_err.c — the one error type: QSGD_FAIL stores the code, the message and the
 * raising source line; err may be NULL; where is kept and shown; every code has its own
 * name and the exit class the README documents. */
#include <CUnit/Basic.h>
#include <string.h>

#include "qsgd_err.h"
#include "qsgd_exit.h"

static int raise_it(qsgd_err *e, int *line) {
    *line = __LINE__ + 1;
    return QSGD_FAIL(e, QSGD_EINVAL, "bucket must be >= 1 (got %d)", 0);
}

static void test_fail(void) {
    qsgd_err e = {0};
    int line = 0;
    CU_ASSERT_EQUAL(raise_it(&e, &line), QSGD_EINVAL);
    CU_ASSERT_EQUAL(e.code, QSGD_EINVAL);
    CU_ASSERT_STRING_EQUAL(e.msg, "bucket must be >= 1 (got 0)");
    CU_ASSERT_PTR_NOT_NULL_FATAL(e.src);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.src, "test_qsgd_err.c"));
    CU_ASSERT_EQUAL(e.src_line, line);
    CU_ASSERT_EQUAL(e.bit, 0);
    CU_ASSERT_EQUAL(QSGD_FAIL(NULL, QSGD_ENOMEM, "x"), QSGD_ENOMEM);
    CU_ASSERT_EQUAL(QSGD_FAIL_BIT(&e, QSGD_ECORRUPT, 1234, "bad level"), QSGD_ECORRUPT);
    CU_ASSERT_EQUAL(e.bit, 1234);
    /* a long message is cut, terminated */
    char big[2000];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = 0;
    QSGD_FAIL(&e, QSGD_EINVAL, "%s", big);
    CU_ASSERT_EQUAL(strlen(e.msg), sizeof e.msg - 1);
}

static void test_where(void) {
    qsgd_err e = {0};
    char buf[900];
    QSGD_FAIL(&e, QSGD_EFORMAT, "label 'x' is not a number");
    CU_ASSERT_STRING_EQUAL(qsgd_err_text(&e, buf, sizeof buf), "label 'x' is not a number");
    CU_ASSERT_EQUAL(qsgd_err_where(&e, "%s:%d", "train.svm", 17), QSGD_EFORMAT);
    CU_ASSERT_STRING_EQUAL(qsgd_err_text(&e, buf, sizeof buf),
                           "train.svm:17: label 'x' is not a number");
    CU_ASSERT_STRING_EQUAL(qsgd_err_text(&e, buf, 6), "train");
    CU_ASSERT_EQUAL(qsgd_err_where(NULL, "x"), QSGD_OK);
    /* a message that names its place already is not prefixed twice */
    QSGD_FAIL(&e, QSGD_EFORMAT, "train.svm:17: label 'x' is not a number");
    CU_ASSERT_STRING_EQUAL(qsgd_err_text(&e, buf, sizeof buf),
                           "train.svm:17: label 'x' is not a number");
}

static void test_codes(void) {
    for (int a = 0; a < QSGD_NSTATUS; a++) {
        CU_ASSERT_STRING_NOT_EQUAL(qsgd_status_name(a), "unknown");
        for (int b = 0; b < a; b++)
            CU_ASSERT_STRING_NOT_EQUAL(qsgd_status_name(a), qsgd_status_name(b));
    }
    CU_ASSERT_STRING_EQUAL(qsgd_status_name(QSGD_NSTATUS), "unknown");
    CU_ASSERT_STRING_EQUAL(qsgd_status_name(-1), "unknown");
    CU_ASSERT_EQUAL(qsgd_status_exit(QSGD_OK), QSGD_EXIT_OK);
    CU_ASSERT_EQUAL(qsgd_status_exit(QSGD_EINVAL), QSGD_EXIT_CONFIG);
    CU_ASSERT_EQUAL(qsgd_status_exit(QSGD_EDATA), QSGD_EXIT_DATA);
    CU_ASSERT_EQUAL(qsgd_status_exit(QSGD_EFORMAT), QSGD_EXIT_DATA);
    CU_ASSERT_EQUAL(qsgd_status_exit(QSGD_EIO), QSGD_EXIT_IO);
    CU_ASSERT_EQUAL(qsgd_status_exit(QSGD_EDIVERGED), QSGD_EXIT_DIVERGED);
    CU_ASSERT_EQUAL(qsgd_status_exit(QSGD_ENOMEM), QSGD_EXIT_RESOURCES);
    CU_ASSERT_EQUAL(qsgd_status_exit(QSGD_ENOSPC), QSGD_EXIT_INTERNAL);
    CU_ASSERT_EQUAL(qsgd_status_exit(QSGD_ECORRUPT), QSGD_EXIT_INTERNAL);
    CU_ASSERT_EQUAL(qsgd_status_exit(QSGD_EINTERNAL), QSGD_EXIT_INTERNAL);
    CU_ASSERT_EQUAL(qsgd_status_exit(99), QSGD_EXIT_INTERNAL);
}

int main(void) {
    if (CU_initialize_registry() != CUE_SUCCESS)
        return CU_get_error();
    CU_pSuite s = CU_add_suite("qsgd_err", NULL, NULL);
    CU_add_test(s, "QSGD_FAIL stores code, message, source line", test_fail);
    CU_add_test(s, "where is kept and shown", test_where);
    CU_add_test(s, "codes: names and exit classes", test_codes);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned nf = CU_get_number_of_failures();
    CU_cleanup_registry();
    return nf ? 1 : 0;
}
