/* cuda_emu.h — tests/cuda_emu: the test hooks of the strict host emulation of the CUDA
 * runtime and cuBLAS (cuda_runtime.h, cublas_v2.h, cuda_emu.cpp) under which the CUDA model
 * code (models/model_cuda.cu) runs on machines without a GPU, to test its logic (indexing,
 * GEMM argument mapping, buffer sizes, stream ordering, error paths) but not GPU numerics or
 * performance. C and C++. */
#ifndef QSGDSIM_CUDA_EMU_H
#define QSGDSIM_CUDA_EMU_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Allocation failure injection: the next n allocations (cudaMalloc or cudaMallocHost)
 * succeed and every one after them fails with cudaErrorMemoryAllocation; n < 0 (the
 * default): none fails. */
void cuda_emu_fail_allocs_after(int n);

/* What gpu_device_count reports: 1 (the default) or 0 ("no usable GPU"). */
void cuda_emu_set_device_count(int n);

/* Live objects (a model that was freed leaves none behind) and work done so far. */
typedef struct cuda_emu_stats {
    size_t device_allocs, pinned_allocs, streams, blas_handles;
    size_t launches, gemms;
} cuda_emu_stats;
cuda_emu_stats cuda_emu_get_stats(void);

#ifdef __cplusplus
}
#endif
#endif
