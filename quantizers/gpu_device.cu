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

extern "C" int gpu_built_with_cuda(void) { return 1; }
