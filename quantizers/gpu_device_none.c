/* gpu_device_none.c — gpu_device.h for builds without CUDA (QSGDSIM_HAVE_CUDA off). */
#include <stdio.h>

#include "gpu_device.h"

int gpu_device_count(char *why, size_t len) {
    if (why && len)
        snprintf(why, len, "built without CUDA (no nvcc at configure time, or QSGDSIM_CUDA=OFF)");
    return 0;
}

int gpu_device_describe(int dev, char *buf, size_t len) {
    if (buf && len)
        snprintf(buf, len, "device %d: built without CUDA", dev);
    return -1;
}

int gpu_built_with_cuda(void) {
    return 0;
}

void *gpu_alloc(size_t bytes) {
    return NULL;
}

void gpu_free(void *p) {}

int gpu_copy_to_device(void *d, const void *h, size_t bytes) {
    return -1;
}

int gpu_copy_to_host(void *h, const void *d, size_t bytes) {
    return -1;
}

int gpu_copy_device(void *dst, const void *src, size_t bytes) {
    return -1;
}
