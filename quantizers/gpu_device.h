/* gpu_device.h — is there a usable CUDA GPU? The one question every CUDA code path and
 * test asks first (tests exit 77 when the answer is no).
 *
 * Built with CUDA (QSGDSIM_HAVE_CUDA), gpu_device.cu asks the runtime; built without it,
 * gpu_device_none.c answers 0 with the reason "built without CUDA". No global state: the
 * CUDA runtime owns the process's (primary) context; every caller passes a device index. */
#ifndef QSGDSIM_GPU_DEVICE_H
#define QSGDSIM_GPU_DEVICE_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Number of usable CUDA devices (>= 0). When 0 and why != NULL, why gets the reason (e.g.
 * "built without CUDA", "no CUDA-capable device is detected"). */
int gpu_device_count(char *why, size_t len);
/* Human-readable name of device dev, e.g. "NVIDIA H100 80GB HBM3 (sm_90, 79.1 GiB)";
 * returns 0 on success, -1 (buf gets the reason) otherwise. */
int gpu_device_describe(int dev, char *buf, size_t len);
/* 1 if this build contains the CUDA backend. */
int gpu_built_with_cuda(void);

/* Plain device memory on the current device, for tests and benchmarks: NULL / -1 on failure
 * (and always without CUDA). Copies are synchronous. */
void *gpu_alloc(size_t bytes);
void gpu_free(void *p); /* NULL is fine */
int gpu_copy_to_device(void *d, const void *h, size_t bytes);
int gpu_copy_to_host(void *h, const void *d, size_t bytes);
int gpu_copy_device(void *dst, const void *src, size_t bytes);

#ifdef __cplusplus
}
#endif
#endif
