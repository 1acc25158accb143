/* test_train_fmnist.c — a short real training run: a small MLP on a 2000-image subset of
 * Fashion-MNIST (tested on 1000 test images) must reduce the test loss well below its
 * initial value and beat chance by far, with fp32 gradients and with 8-bit QSGD on every
 * tensor. Skipped (exit 77) when Debian's dataset-fashion-mnist is not installed.
 */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "train.h"

static void run(const char *quant, train_result *r) {
    train_config c = {
        .model = "mlp:hidden=64",
        .data = "fmnist:n=2000,ntest=1000",
        .quant = quant,
        .quant_min_numel = 1,
        .batch = 64,
        .epochs = 3,
        .optim = {.lr = 0.05, .momentum = 0.9, .schedule = OPTIM_LR_COSINE},
        .seed = 1,
        .threads = 1,
    };
    qsgd_err err = {0};
    int rc = train_run(&c, r, &err);
    if (rc)
        fprintf(stderr, "\n  train_run: %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, QSGD_OK);
    printf("\n  %s: test loss %.4f -> %.4f, accuracy %.1f%% -> %.1f%%, train loss %.4f, %.2f s, "
           "%.0f bits/step",
           quant ? quant : "fp32", r->first.test_loss, r->last.test_loss, 100 * r->first.test_acc,
           100 * r->last.test_acc, r->last.train_loss, r->seconds, r->last.bits_per_step);
}

static void test_short_run(void) {
    train_result a, b;
    run(NULL, &a);
    CU_ASSERT_EQUAL(a.steps, 3 * 32);
    CU_ASSERT(a.last.test_loss < 0.35 * a.first.test_loss);
    CU_ASSERT(a.last.test_acc > 0.70); /* chance is 10%; ~78% expected */
    CU_ASSERT(a.last.train_loss < 0.8);
    run("qsgd:bits=8,bucket=512", &b);
    CU_ASSERT(b.last.test_loss < 0.35 * b.first.test_loss);
    CU_ASSERT(fabs(b.last.test_acc - a.last.test_acc) < 0.03);
    CU_ASSERT(b.last.bits_per_step < 0.3 * a.last.bits_per_step);
}

int main(void) {
    struct stat st;
    if (stat(DATA_FMNIST_DIR "/train-images-idx3-ubyte.gz", &st) != 0) {
        printf("SKIP: %s not found; install the Debian package dataset-fashion-mnist\n",
               DATA_FMNIST_DIR);
        return 77;
    }
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("train_fmnist", NULL, NULL);
    CU_add_test(s, "mlp on 2000 images: loss falls (fp32 and qsgd 8-bit)", test_short_run);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned fails = CU_get_number_of_failures();
    CU_cleanup_registry();
    return fails ? 1 : 0;
}
