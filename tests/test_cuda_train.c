/* test_cuda_train.c — a short real training on the GPU matches the CPU: the Fashion-MNIST
 * MLP (784-256-128-10) and a small CNN trained for 2 epochs from the same seed with
 * device=cuda and device=cpu reach the same test accuracy within 1 point (the two
 * trajectories differ only by fp32 rounding: cuBLAS and OpenBLAS sum in different orders),
 * and both are far above chance. Skipped (exit 77) without a usable GPU or without Debian's
 * dataset-fashion-mnist. */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "gpu_device.h"
#include "model_test_util.h"
#include "train.h"

static void run(const char *model, model_device dev, size_t n, train_result *r) {
    char data[64];
    snprintf(data, sizeof data, "fmnist:n=%zu", n);
    train_config c = {
        .model = model,
        .data = data,
        .batch = 128,
        .epochs = 2,
        .optim = {.lr = 0.05, .momentum = 0.9, .schedule = OPTIM_LR_COSINE},
        .seed = 1,
        .threads = 2,
        .device = dev,
    };
    qsgd_err err = {0};
    int rc = train_run(&c, r, &err);
    if (rc)
        fprintf(stderr, "\n  train_run %s on %s: %s\n", model, model_device_name(dev), err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, QSGD_OK);
    printf("\n  %s on %s: test accuracy %.2f%%, test loss %.4f, %.2f s", model,
           model_device_name(dev), 100 * r->last.test_acc, r->last.test_loss, r->seconds);
}

static void compare(const char *model, size_t n, double min_acc) {
    train_result c, g;
    run(model, MODEL_DEVICE_CPU, n, &c);
    run(model, MODEL_DEVICE_CUDA, n, &g);
    CU_ASSERT(c.last.test_acc > min_acc);
    CU_ASSERT(g.last.test_acc > min_acc);
    CU_ASSERT(fabs(c.last.test_acc - g.last.test_acc) <= 0.01);
    CU_ASSERT(fabs(c.last.test_loss - g.last.test_loss) <= 0.02 * c.last.test_loss);
    CU_ASSERT_EQUAL(c.steps, g.steps);
}

static void test_mlp(void) {
    compare("mlp", 60000, 0.85);
}

static void test_cnn(void) {
    compare("cnn:channels=8x16,fc=64", 20000, 0.83);
}

int main(void) {
    char why[256] = "";
    if (gpu_device_count(why, sizeof why) <= 0) {
        printf("SKIP: no usable CUDA GPU: %s\n", why);
        return 77;
    }
    struct stat st;
    if (stat("/usr/share/datasets/fashion-mnist", &st) != 0) {
        printf("SKIP: dataset-fashion-mnist is not installed\n");
        return 77;
    }
    static const mt_test tests[] = {
        {"mlp: gpu accuracy == cpu accuracy", test_mlp},
        {"cnn: gpu accuracy == cpu accuracy", test_cnn},
        {NULL, NULL},
    };
    return mt_run("cuda_train", tests);
}
