/* qcuda.cu — the CUDA backend of the GPU codec (qcuda.h): device memory, copies and kernel
 * launches on the codec's stream. The kernels are the bodies of qcuda_kernels.h, one thread
 * per item in a grid-stride loop (k_run<K>); the driver (phases, checks, messages) is
 * qcuda_core.c. Compiled with --fmad=false (quantizers/CMakeLists.txt). */
#include <cuda_runtime.h>
#include <stdio.h>

#include "qcuda_private.h"

#define QC_TPB 256

namespace {

/* Makes g's device current for the lifetime of the object, then restores the caller's. */
struct device_scope {
    int old = -1;
    explicit device_scope(int dev) {
        if (cudaGetDevice(&old) != cudaSuccess)
            old = -1;
        if (old != dev)
            cudaSetDevice(dev);
    }
    ~device_scope() {
        int now = -1;
        if (old >= 0 && cudaGetDevice(&now) == cudaSuccess && now != old)
            cudaSetDevice(old);
    }
};

int cu_fail(qsgd_err *err, cudaError_t e, const char *what) {
    (void)cudaGetLastError();
    return QSGD_FAIL_BIT(err, e == cudaErrorMemoryAllocation ? QSGD_ENOMEM : QSGD_EINVAL, 0,
                         "qcuda: %s: %s (%s)", what, cudaGetErrorString(e), cudaGetErrorName(e));
}

cudaStream_t stream_of(const qcuda *g) {
    return (cudaStream_t)g->stream;
}

/* __grid_constant__: the bodies take the parameter's address, which would otherwise copy
 * the ~200-byte struct to local memory in every thread (sm_70+, CUDA 11.7+). */
template <int K> __global__ void k_run(const __grid_constant__ qk_args a, uint64_t n) {
    uint64_t stride = (uint64_t)gridDim.x * blockDim.x;
    for (uint64_t i = (uint64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride)
        qk_run_item(K, &a, i);
}

int cuda_alloc(qcuda *g, void **p, size_t bytes, qsgd_err *err) {
    device_scope ds(g->device);
    cudaError_t e = cudaMalloc(p, bytes ? bytes : 1);
    if (e != cudaSuccess) {
        *p = NULL;
        char what[64];
        snprintf(what, sizeof what, "cudaMalloc(%zu bytes)", bytes);
        return cu_fail(err, e, what);
    }
    return QSGD_OK;
}

void cuda_release(qcuda *g, void *p) {
    device_scope ds(g->device);
    cudaFree(p);
}

int cuda_copy(qcuda *g, void *dst, const void *src, size_t bytes, int kind, qsgd_err *err) {
    device_scope ds(g->device);
    cudaMemcpyKind k = kind == QC_H2D   ? cudaMemcpyHostToDevice
                       : kind == QC_D2H ? cudaMemcpyDeviceToHost
                                        : cudaMemcpyDeviceToDevice;
    cudaError_t e = cudaMemcpyAsync(dst, src, bytes, k, stream_of(g));
    if (e == cudaSuccess) /* every qcuda call is synchronous with respect to the host */
        e = cudaStreamSynchronize(stream_of(g));
    return e == cudaSuccess ? QSGD_OK : cu_fail(err, e, "copy");
}

int cuda_zero(qcuda *g, void *dst, size_t bytes, qsgd_err *err) {
    device_scope ds(g->device);
    cudaError_t e = cudaMemsetAsync(dst, 0, bytes, stream_of(g));
    if (e == cudaSuccess)
        e = cudaStreamSynchronize(stream_of(g));
    return e == cudaSuccess ? QSGD_OK : cu_fail(err, e, "memset");
}

int cuda_run(qcuda *g, int kernel, uint64_t n, const qk_args *a, qsgd_err *err) {
    device_scope ds(g->device);
    uint64_t blocks = (n + QC_TPB - 1) / QC_TPB;
    unsigned grid = (unsigned)(blocks < 65535ull * 16 ? blocks : 65535ull * 16);
    cudaStream_t s = stream_of(g);
    switch (kernel) {
#define QC_CASE(K)                                                                                 \
    case K:                                                                                        \
        k_run<K><<<grid, QC_TPB, 0, s>>>(*a, n);                                                   \
        break;
        QC_CASE(QK_QSGD_LANES)
        QC_CASE(QK_QSGD_NORMS)
        QC_CASE(QK_QSGD_ENCODE)
        QC_CASE(QK_QSGD_DNORMS)
        QC_CASE(QK_QSGD_DECODE)
        QC_CASE(QK_OB_G)
        QC_CASE(QK_OB_STATS)
        QC_CASE(QK_OB_BITS)
        QC_CASE(QK_OB_FINISH)
        QC_CASE(QK_OB_DCHECK)
        QC_CASE(QK_OB_DECODE)
        QC_CASE(QK_FP32_ENCODE)
        QC_CASE(QK_FP32_DECODE)
#undef QC_CASE
    default:
        return QSGD_FAIL_BIT(err, QSGD_EINVAL, 0, "qcuda: unknown kernel %d", kernel);
    }
    cudaError_t e = cudaGetLastError();
    return e == cudaSuccess ? QSGD_OK : cu_fail(err, e, "kernel launch");
}

void cuda_destroy(qcuda *g) {}

const qc_ops cuda_ops = {"cuda",    cuda_alloc, cuda_release, cuda_copy,
                         cuda_zero, cuda_run,   cuda_destroy};

} // namespace

extern "C" int qc_cuda_attach(qcuda *g, int device, void *stream, qsgd_err *err) {
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess)
        return cu_fail(err, e, "no usable CUDA GPU");
    if (device < 0 || device >= n)
        return QSGD_FAIL_BIT(err, QSGD_EINVAL, 0, "qcuda: device %d out of range (%d device%s)",
                             device, n, n == 1 ? "" : "s");
    g->ops = &cuda_ops;
    g->device = device;
    g->stream = stream;
    return QSGD_OK;
}
