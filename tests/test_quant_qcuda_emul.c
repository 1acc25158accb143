/* test_quant_qcuda_emul.c — the GPU codec's algorithms (quantizers/qcuda_kernels.h, the
 * driver in qcuda_core.c) run by the host emulation against the CPU quantizers: runs on
 * every machine. The same checks on a real GPU: test_quant_qcuda_gpu.c. */
#include "qcuda_test_util.h"

static qcuda *make_emulated(const quant *q, qsgd_err *err) {
    return qcuda_alloc_emulated(q, err);
}

static void host_free(void *p) {
    free(p);
}

static int host_copy(void *dst, const void *src, size_t bytes) {
    memcpy(dst, src, bytes);
    return 0;
}

static const qc_backend emulated = {"emulated", make_emulated, malloc,
                                    host_free,  host_copy,     host_copy};

int main(void) {
    QB = &emulated;
    QR = qt_rng(20261201);
    int rc = qt_run("qcuda_emulated", qc_tests);
    gsl_rng_free(QR);
    return rc;
}
