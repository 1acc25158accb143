/* test_data_fmnist.c — the real Fashion-MNIST files of Debian's dataset-fashion-mnist:
 * counts 60000 / 10000, 1x28x28 images, 6000 (1000) images per class in train (test), and the
 * normalization constants (mean 0.2860, std 0.3530 of x/255 over the training images).
 * Skipped (exit 77) when the package is not installed.
 */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data.h"

static dataset *train, *test;

static void test_counts(void) {
    CU_ASSERT_EQUAL(train->n, 60000);
    CU_ASSERT_EQUAL(test->n, 10000);
    for (int k = 0; k < 2; k++) {
        const dataset *d = k ? test : train;
        CU_ASSERT_EQUAL(d->shape.dim, 784);
        CU_ASSERT_EQUAL(d->shape.channels, 1);
        CU_ASSERT_EQUAL(d->shape.height, 28);
        CU_ASSERT_EQUAL(d->shape.width, 28);
        CU_ASSERT_EQUAL(d->shape.nclass, 10);
        CU_ASSERT_EQUAL(d->layout, DATA_DENSE);
        CU_ASSERT_PTR_NOT_NULL(d->label);
        CU_ASSERT_PTR_NULL(d->target);
    }
}

static void test_histogram(void) {
    size_t hist[10];
    qsgd_err err = {0};
    CU_ASSERT_EQUAL_FATAL(dataset_label_histogram(train, hist, 10, &err), QSGD_OK);
    for (int c = 0; c < 10; c++)
        CU_ASSERT_EQUAL(hist[c], 6000);
    CU_ASSERT_EQUAL_FATAL(dataset_label_histogram(test, hist, 10, &err), QSGD_OK);
    for (int c = 0; c < 10; c++)
        CU_ASSERT_EQUAL(hist[c], 1000);
}

static void test_normalization(void) {
    /* Standardized training pixels have mean ~0 and std ~1 (the constants are rounded to
     * 4 digits); the minimum is the standardized 0. */
    double s = 0, s2 = 0, mn = 1e9, mx = -1e9;
    size_t m = train->n * train->shape.dim;
    for (size_t i = 0; i < m; i++) {
        double v = train->x[i];
        s += v;
        s2 += v * v;
        mn = v < mn ? v : mn;
        mx = v > mx ? v : mx;
    }
    double mean = s / m, sd = sqrt(s2 / m - mean * mean);
    printf("\n  standardized train pixels: mean %.5f std %.5f min %.4f max %.4f\n", mean, sd, mn,
           mx);
    CU_ASSERT(fabs(mean) < 2e-3);
    CU_ASSERT(fabs(sd - 1.0) < 2e-3);
    CU_ASSERT(fabs(mn - (-DATA_FMNIST_MEAN / DATA_FMNIST_STD)) < 1e-5);
    CU_ASSERT(fabs(mx - (1.0 - DATA_FMNIST_MEAN) / DATA_FMNIST_STD) < 1e-5);
}

static void test_spec_subset(void) {
    dataset *a = NULL, *b = NULL;
    qsgd_err err = {0};
    CU_ASSERT_EQUAL_FATAL(data_load_spec("fmnist:n=2000,ntest=500,norm=unit", 1, &a, &b, &err),
                          QSGD_OK);
    CU_ASSERT_EQUAL(a->n, 2000);
    CU_ASSERT_EQUAL(b->n, 500);
    CU_ASSERT_EQUAL(a->label[17], train->label[17]);
    /* unit normalization of the same pixel */
    double want = train->x[1234] * DATA_FMNIST_STD + DATA_FMNIST_MEAN;
    CU_ASSERT(fabs(a->x[1234] - want) < 1e-5);
    dataset_free(a);
    dataset_free(b);
}

int main(void) {
    struct stat st;
    if (stat(DATA_FMNIST_DIR "/train-images-idx3-ubyte.gz", &st) != 0) {
        printf("SKIP: %s not found; install the Debian package dataset-fashion-mnist\n",
               DATA_FMNIST_DIR);
        return 77;
    }
    qsgd_err err = {0};
    if (data_fmnist_load(NULL, "train", NULL, &train, &err) ||
        data_fmnist_load(NULL, "test", NULL, &test, &err)) {
        fprintf(stderr, "load failed: %s\n", err.msg);
        return 1;
    }
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("data_fmnist", NULL, NULL);
    CU_add_test(s, "counts and shapes", test_counts);
    CU_add_test(s, "label histogram 6000 / 1000 per class", test_histogram);
    CU_add_test(s, "standardization constants", test_normalization);
    CU_add_test(s, "spec with subset sizes", test_spec_subset);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned fails = CU_get_number_of_failures();
    CU_cleanup_registry();
    dataset_free(train);
    dataset_free(test);
    return fails ? 1 : 0;
}
