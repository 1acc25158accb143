/* test_quant_qcuda_gpu.c — the GPU codec (quantizers/qcuda.h) on a CUDA GPU against the CPU
 * quantizers: identical message bytes, decoded float bits, residuals and error verdicts
 * (qcuda_test_util.h). Skipped (exit 77) without a usable GPU. */
#include "qcuda_test_util.h"

static qcuda *make_cuda(const quant *q, qsgd_err *err) {
    return qcuda_alloc(q, 0, NULL, err);
}

static const qc_backend cuda = {"cuda",   make_cuda,          gpu_alloc,
                                gpu_free, gpu_copy_to_device, gpu_copy_to_host};

int main(void) {
    char why[256] = "";
    if (gpu_device_count(why, sizeof why) <= 0) {
        printf("SKIP: no usable CUDA GPU: %s\n", why);
        return 77;
    }
    QB = &cuda;
    QR = qt_rng(20261201);
    int rc = qt_run("qcuda_gpu", qc_tests);
    gsl_rng_free(QR);
    return rc;
}
