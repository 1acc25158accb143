/* qcuda_none.c — the CUDA backend of qcuda.h in builds without CUDA: there is none
 * (qcuda_alloc fails; qcuda_alloc_emulated still works). */
#include "qcuda_private.h"

int qc_cuda_attach(qcuda *g, int device, void *stream, qsgd_err *err) {
    return QSGD_FAIL_BIT(
        err, QSGD_EINVAL, 0,
        "qcuda: built without CUDA (no nvcc at configure time, or QSGDSIM_CUDA=OFF)");
}
