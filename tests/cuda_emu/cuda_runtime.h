/* cuda_runtime.h — tests/cuda_emu: a strict host emulation of the subset of the CUDA runtime
 * that models/model_cuda.cu uses, so that the CUDA model code, compiled as C++ against this
 * header, runs on machines without a GPU (CTest cuda_models_emul). It tests that code's logic —
 * indexing, the cuBLAS argument mapping, buffer sizes, stream ordering, error paths — and says
 * nothing about GPU numerics (expf, cuBLAS's summation order) or performance.
 *
 * Strict: a misuse (a host pointer passed to a kernel, a copy or GEMM operand reaching past its
 * device buffer, a write outside a buffer, work on a destroyed stream, a host buffer changed
 * while a copy from it is pending, ...) prints "cuda_emu: ..." and aborts. The semantics are
 * described in cuda_emu.cpp; the test hooks (failure injection, live-object counts) are in
 * cuda_emu.h. One host thread; never compiled by nvcc (which uses the real headers). */
#ifndef QSGDSIM_CUDA_EMU_RUNTIME_H
#define QSGDSIM_CUDA_EMU_RUNTIME_H

#if !defined(__cplusplus) || defined(__CUDACC__)
#error "tests/cuda_emu/cuda_runtime.h is the host emulator: C++ only, never with nvcc"
#endif

#include <stddef.h>

#include <functional>
#include <tuple>
#include <type_traits>
#include <utility>

/* ---- kernels ------------------------------------------------------------------------------ */

#define __global__
#define __device__
#define __host__
#define __shared__ static /* one block runs at a time */

struct dim3 {
    unsigned x = 1, y = 1, z = 1;
};
extern thread_local dim3 threadIdx, blockIdx, blockDim, gridDim;
void __syncthreads();

/* ---- runtime API -------------------------------------------------------------------------- */

/* The CUDA values of the codes used. */
enum cudaError {
    cudaSuccess = 0,
    cudaErrorInvalidValue = 1,
    cudaErrorMemoryAllocation = 2,
    cudaErrorInvalidDevice = 101,
};
typedef enum cudaError cudaError_t;

typedef struct emu_stream *cudaStream_t;
#define cudaStreamDefault 0x00u
#define cudaStreamNonBlocking 0x01u

enum cudaMemcpyKind {
    cudaMemcpyHostToHost = 0,
    cudaMemcpyHostToDevice = 1,
    cudaMemcpyDeviceToHost = 2,
    cudaMemcpyDeviceToDevice = 3,
    cudaMemcpyDefault = 4,
};

enum cudaDeviceAttr {
    cudaDevAttrMultiProcessorCount = 16,
};

cudaError_t cudaGetLastError(void);
const char *cudaGetErrorName(cudaError_t e);
const char *cudaGetErrorString(cudaError_t e);
cudaError_t cudaSetDevice(int dev);
cudaError_t cudaDeviceGetAttribute(int *value, cudaDeviceAttr attr, int dev);
cudaError_t cudaMalloc(void **p, size_t bytes);
cudaError_t cudaFree(void *p);
cudaError_t cudaMallocHost(void **p, size_t bytes);
cudaError_t cudaFreeHost(void *p);
cudaError_t cudaMemcpy(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind);
cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind,
                            cudaStream_t s);
cudaError_t cudaMemsetAsync(void *dst, int value, size_t bytes, cudaStream_t s);
cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned flags);
cudaError_t cudaStreamSynchronize(cudaStream_t s);
cudaError_t cudaStreamDestroy(cudaStream_t s);

/* ---- kernel launches: QSGD_KLAUNCH (model_cuda.cu's <<<grid, block, 0, stream>>>) --------- */

namespace cuda_emu {

/* Prints "cuda_emu: <message>" and aborts. */
[[noreturn]] void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Aborts unless p is NULL or inside a device allocation. */
void check_kernel_pointer(const char *kernel, int param, const void *p);
/* Queues grid x block threads of `thread` on stream s (see cuda_emu.cpp for the order). */
void launch_grid(const char *kernel, unsigned grid, unsigned block, cudaStream_t s,
                 std::function<void()> thread);

template <typename P> void check_param(const char *kernel, int param, const P &value) {
    if constexpr (std::is_pointer_v<P>)
        check_kernel_pointer(kernel, param, (const void *)value);
}

/* The arguments are converted to the kernel's parameter types at the launch, as CUDA does. */
template <typename... P, typename... A>
void launch(const char *kernel, void (*fn)(P...), unsigned grid, unsigned block, cudaStream_t s,
            A &&...args) {
    static_assert(sizeof...(P) == sizeof...(A), "kernel launched with a wrong argument count");
    const std::tuple<std::decay_t<P>...> params(std::forward<A>(args)...);
    int i = 0;
    std::apply([&](const auto &...p) { (check_param(kernel, i++, p), ...); }, params);
    launch_grid(kernel, grid, block, s, [fn, params]() { std::apply(fn, params); });
}

} // namespace cuda_emu

#define QSGD_KLAUNCH(kern, grid, block, stream, ...)                                               \
    cuda_emu::launch(#kern, kern, (grid), (block), (stream), __VA_ARGS__)

#endif
