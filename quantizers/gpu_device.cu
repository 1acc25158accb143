/* gpu_device.cu — gpu_device.h with the CUDA runtime. */
#include <cuda_runtime.h>
#include <stdio.h>

#include "gpu_device.h"

extern "C" int gpu_device_count(char *why, size_t len) {
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
        (void)cudaGetLastError(); /* clear the sticky "no device" error */
        if (why && len)
            snprintf(why, len, "%s", cudaGetErrorString(e));
        return 0;
    }
    if (n == 0 && why && len)
        snprintf(why, len, "no CUDA-capable device is detected");
    return n;
}

extern "C" int gpu_device_describe(int dev, char *buf, size_t len) {
    cudaDeviceProp p;
    cudaError_t e = cudaGetDeviceProperties(&p, dev);
    if (e != cudaSuccess) {
        if (buf && len)
            snprintf(buf, len, "device %d: %s", dev, cudaGetErrorString(e));
        return -1;
    }
    if (buf && len)
        snprintf(buf, len, "%s (sm_%d%d, %.1f GiB)", p.name, p.major, p.minor,
                 (double)p.totalGlobalMem / (1024.0 * 1024.0 * 1024.0));
    return 0;
}

extern "C" int gpu_built_with_cuda(void) {
    return 1;
}

extern "C" void *gpu_alloc(size_t bytes) {
    void *p = NULL;
    if (cudaMalloc(&p, bytes ? bytes : 1) != cudaSuccess) {
        (void)cudaGetLastError();
        return NULL;
    }
    return p;
}

extern "C" void gpu_free(void *p) {
    if (p)
        cudaFree(p);
}

extern "C" int gpu_copy_to_device(void *d, const void *h, size_t bytes) {
    return cudaMemcpy(d, h, bytes, cudaMemcpyHostToDevice) == cudaSuccess ? 0 : -1;
}

extern "C" int gpu_copy_to_host(void *h, const void *d, size_t bytes) {
    return cudaMemcpy(h, d, bytes, cudaMemcpyDeviceToHost) == cudaSuccess ? 0 : -1;
}

extern "C" int gpu_copy_device(void *dst, const void *src, size_t bytes) {
    return cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToDevice) == cudaSuccess ? 0 : -1;
}
