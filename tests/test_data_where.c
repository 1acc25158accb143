/* test_data_where.c — the data readers say where a malformed input is in qsgd_err.where:
 * LIBSVM "FILE:LINE" (each line error and read_line's), IDX "FILE:byte N" (magic, header
 * dimensions, a label out of range, truncation, trailing data); the message text is what
 * it was (it names FILE:LINE too), and an error without a place (a missing file) has none. */
#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data.h"
#include "qsgd_err.h"

static char dir[] = "/tmp/qsgd_where_XXXXXX";

static void put(const char *name, const void *bytes, size_t n, char *path, size_t len) {
    snprintf(path, len, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT_EQUAL_FATAL(fwrite(bytes, 1, n, f), n);
    fclose(f);
}

static void test_libsvm(void) {
    static const struct {
        const char *text;
        int line;
        const char *msg; /* part of the message, as before */
    } bad[] = {
        {"1 1:0.5\nx 1:2\n", 2, "bad label 'x'"},
        {"1 1:0.5\n0 1:1\n\n1 3\n", 4, "bad token '3'"},
        {"1 2:1 1:1\n", 1, "strictly increasing"},
        {"1 0:1\n", 1, "bad index"},
        {"1 1:abc\n", 1, "bad value"},
        {"1 1:1\n1 1:1\n1 1:\x01\0x\n", 3, "NUL byte"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char path[256], want[300];
        size_t n = strlen(bad[i].text);
        if (strstr(bad[i].msg, "NUL"))
            n = 21; /* through the NUL byte */
        put("bad.svm", bad[i].text, n, path, sizeof path);
        dataset *d = NULL;
        qsgd_err e = {0};
        CU_ASSERT_EQUAL(data_libsvm_load(path, NULL, &d, NULL, &e), QSGD_EFORMAT);
        snprintf(want, sizeof want, "%s:%d", path, bad[i].line);
        CU_ASSERT_STRING_EQUAL(e.where, want);
        if (strcmp(e.where, want))
            fprintf(stderr, "case %zu: where '%s', want '%s' (%s)\n", i, e.where, want, e.msg);
        /* the message is as before: FILE:LINE: what */
        CU_ASSERT(strncmp(e.msg, want, strlen(want)) == 0 && strstr(e.msg, bad[i].msg));
        dataset_free(d);
    }
    /* a good file: no error, no where; a missing file: no place in it */
    char path[256];
    put("good.svm", "1 1:1\n0 2:1\n", 12, path, sizeof path);
    dataset *d = NULL;
    qsgd_err e = {0};
    CU_ASSERT_EQUAL(data_libsvm_load(path, NULL, &d, NULL, &e), QSGD_OK);
    CU_ASSERT_STRING_EQUAL(e.where, "");
    dataset_free(d);
    d = NULL;
    snprintf(path, sizeof path, "%s/missing.svm", dir);
    CU_ASSERT_EQUAL(data_libsvm_load(path, NULL, &d, NULL, &e), QSGD_EDATA);
    CU_ASSERT_STRING_EQUAL(e.where, "");
}

/* IDX files: images 2 x 2 x 2, labels 2 */
static void test_idx(void) {
    unsigned char img[16 + 8] = {0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2,
                                 0, 0, 0, 2, 1, 2, 3, 4, 5, 6, 7, 8};
    unsigned char lab[8 + 2] = {0, 0, 8, 1, 0, 0, 0, 2, 1, 9};
    char ip[256], lp[256], want[300];
    dataset *d = NULL;
    qsgd_err e = {0};
    put("i", img, sizeof img, ip, sizeof ip);
    put("l", lab, sizeof lab, lp, sizeof lp);
    data_idx_opts o = {.norm = DATA_NORM_RAW, .nclass = 5};
    /* label 9 of sample 1 (byte 9) outside 0..4 */
    CU_ASSERT_EQUAL(data_idx_load(ip, lp, &o, &d, &e), QSGD_EFORMAT);
    snprintf(want, sizeof want, "%s:byte 9", lp);
    CU_ASSERT_STRING_EQUAL(e.where, want);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "label 9 of sample 1 is outside 0..4"));
    o.nclass = 10;
    e = (qsgd_err){0};
    CU_ASSERT_EQUAL(data_idx_load(ip, lp, &o, &d, &e), QSGD_OK);
    CU_ASSERT_STRING_EQUAL(e.where, "");
    dataset_free(d);
    d = NULL;
    /* swapped files: the magic at byte 0 */
    CU_ASSERT_EQUAL(data_idx_load(lp, ip, &o, &d, &e), QSGD_EFORMAT);
    snprintf(want, sizeof want, "%s:byte 0", lp);
    CU_ASSERT_STRING_EQUAL(e.where, want);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "bad IDX magic"));
    /* truncated pixels: the file ends at byte 20 */
    put("i", img, 20, ip, sizeof ip);
    CU_ASSERT_EQUAL(data_idx_load(ip, lp, &o, &d, &e), QSGD_EFORMAT);
    snprintf(want, sizeof want, "%s:byte 20", ip);
    CU_ASSERT_STRING_EQUAL(e.where, want);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "truncated"));
    /* a trailing byte at 24 */
    unsigned char longer[25];
    memcpy(longer, img, sizeof img);
    longer[24] = 7;
    put("i", longer, sizeof longer, ip, sizeof ip);
    CU_ASSERT_EQUAL(data_idx_load(ip, lp, &o, &d, &e), QSGD_EFORMAT);
    snprintf(want, sizeof want, "%s:byte 24", ip);
    CU_ASSERT_STRING_EQUAL(e.where, want);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "trailing data"));
    /* implausible dimensions (0 images): the header at byte 4 */
    img[7] = 0;
    put("i", img, sizeof img, ip, sizeof ip);
    CU_ASSERT_EQUAL(data_idx_load(ip, lp, &o, &d, &e), QSGD_EFORMAT);
    snprintf(want, sizeof want, "%s:byte 4", ip);
    CU_ASSERT_STRING_EQUAL(e.where, want);
    /* qsgd_err_text: "where: msg" */
    char text[1000];
    qsgd_err_text(&e, text, sizeof text);
    CU_ASSERT(strncmp(text, want, strlen(want)) == 0);
}

int main(void) {
    if (!mkdtemp(dir))
        return 1;
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("data_where", NULL, NULL);
    CU_add_test(s, "libsvm: where = FILE:LINE, message as before", test_libsvm);
    CU_add_test(s, "idx: where = FILE:byte N", test_idx);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned f = CU_get_number_of_failures();
    CU_cleanup_registry();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        f++;
    return f ? 1 : 0;
}
