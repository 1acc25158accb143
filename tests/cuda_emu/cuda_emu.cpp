/* cuda_emu.cpp — tests/cuda_emu: a strict host emulation of the subset of the CUDA runtime and
 * cuBLAS that models/model_cuda.cu uses (cuda_runtime.h, cublas_v2.h), plus gpu_device.h, so
 * that the real CUDA model code, compiled as C++, runs on machines without a GPU (CTest
 * cuda_models_emul). It tests that code's logic: indexing, the GEMM argument mapping, buffer
 * sizes, stream ordering and error paths. It says nothing about GPU numerics (expf, cuBLAS's
 * summation order) or performance: kernels run as host loops, GEMMs on the host BLAS.
 *
 * One device (0) with kMultiProcessors multiprocessors, used from one host thread.
 *
 * Memory. cudaMalloc returns 256-byte aligned memory between two red zones; cudaMalloc and
 * cudaMallocHost fill their buffers with 0xff bytes (NaN as float and double), so a read of
 * anything never written shows. Every device range a copy, a memset or a cuBLAS operand names
 * must lie inside one live device allocation, and every pointer parameter of a kernel must be
 * NULL or point into one; the red zones are checked at every synchronization and cudaFree (a
 * kernel that wrote past its buffer aborts there).
 *
 * Streams are queues: nothing runs until the host synchronizes (cudaStreamSynchronize,
 * cudaStreamDestroy, and cudaFree / cudaFreeHost / cudaMemcpy, which synchronize the device).
 * Copies take the weakest guarantee the runtime gives, for pinned and pageable host memory
 * alike: a host-to-device copy reads its source when it runs, and aborts if the source changed
 * since the call (the host must leave it alone until it synchronizes); a device-to-host copy
 * fills its destination with 0xff at the call and writes it when it runs (the host must
 * synchronize before reading). The legacy default stream (0) is not emulated.
 *
 * Kernels (QSGD_KLAUNCH) run one thread at a time, blocks and threads in increasing or
 * decreasing order, chosen per launch by a hash of the launch count (QSGD_CUDA_EMU_ORDER =
 * forward | reverse | mixed, the default), so that a kernel whose result depends on the order
 * of its threads gives different results for two identical calls. Kernels that call
 * __syncthreads (kBlockKernels) run each block's threads as coroutines (ucontext) switched at
 * every barrier, in the launch's order between two barriers, and abort if the threads of a
 * block do not all pass the same barriers.
 *
 * cuBLAS: a handle computes on the stream it was last given, needs a workspace set after
 * cublasSetStream (which resets it, as cuBLAS does; model_cuda.cu sets its own), takes host
 * scalars only, and validates its arguments as cuBLAS does, but aborts where cuBLAS would
 * return CUBLAS_STATUS_INVALID_VALUE; an output overlapping an input also aborts.
 *
 * Errors: cudaGetLastError returns the last error a call returned, then clears it, as the
 * runtime does. Allocations fail on request (cuda_emu.h). */
#include "cublas_v2.h"
#include "cuda_runtime.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ucontext.h>

#include <deque>
#include <map>
#include <memory>
#include <set>
#include <vector>

#include "cuda_emu.h"
#include "gpu_device.h"

extern "C" {
/* The host BLAS (OpenBLAS), as models/nn_ops.c calls it. */
void sgemm_(const char *ta, const char *tb, const int *m, const int *n, const int *k,
            const float *alpha, const float *a, const int *lda, const float *b, const int *ldb,
            const float *beta, float *c, const int *ldc);
void sgemv_(const char *t, const int *m, const int *n, const float *alpha, const float *a,
            const int *lda, const float *x, const int *incx, const float *beta, float *y,
            const int *incy);
}

thread_local dim3 threadIdx, blockIdx, blockDim, gridDim;

struct emu_stream {
    std::deque<std::function<void()>> work;
};

struct emu_blas {
    cudaStream_t stream = nullptr;
    void *workspace = nullptr;
};

namespace cuda_emu {

void fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("cuda_emu: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
    abort();
}

namespace {

constexpr size_t kAlign = 256;   /* cudaMalloc's alignment */
constexpr size_t kRedZone = 256; /* 0xff bytes before and after every allocation */
constexpr int kMultiProcessors = 2;
constexpr unsigned kMaxBlock = 1024;
constexpr size_t kFiberStack = 64 << 10; /* per emulated thread of a block kernel */
/* The kernels that call __syncthreads: their blocks run as coroutines (run_blocks). */
constexpr const char *kBlockKernels[] = {"k_reduce"};

/* ---- state ---------------------------------------------------------------------------------- */

struct Alloc {
    unsigned char *base; /* red zone, user bytes, padding and red zone */
    size_t bytes, total;
    bool pinned;
};

std::map<uintptr_t, Alloc> allocs; /* by user address */
std::set<cudaStream_t> streams;
std::set<cublasHandle_t> handles;
cudaError_t last_error = cudaSuccess;
int fail_allocs_after = -1;
int device_count = 1;
size_t n_launches, n_gemms;

cudaError_t ret(cudaError_t e) {
    if (e != cudaSuccess)
        last_error = e;
    return e;
}

/* ---- memory --------------------------------------------------------------------------------- */

unsigned char *user_of(const Alloc &a) {
    return a.base + kRedZone;
}

/* The allocation p points into, or NULL. */
const Alloc *owner(const void *p) {
    auto a = (uintptr_t)p;
    auto it = allocs.upper_bound(a);
    if (it == allocs.begin())
        return nullptr;
    --it;
    const size_t extent = it->second.bytes ? it->second.bytes : 1;
    return a - it->first < extent ? &it->second : nullptr;
}

const char *kind_of(const void *p) {
    const Alloc *a = owner(p);
    return !a ? "host memory" : a->pinned ? "pinned host memory" : "device memory";
}

/* [p, p + bytes) inside one live allocation of the given kind. */
bool inside(const void *p, size_t bytes, bool pinned) {
    const Alloc *a = owner(p);
    return a && a->pinned == pinned &&
           (size_t)((const unsigned char *)p - user_of(*a)) + bytes <= a->bytes;
}

void need_device(const void *p, size_t bytes, const char *what) {
    if (inside(p, bytes, false))
        return;
    const Alloc *a = owner(p);
    if (a && !a->pinned)
        fail("%s: [%p, +%zu bytes) runs %zu bytes past the end of its %zu-byte device buffer", what,
             p, bytes, (size_t)((const unsigned char *)p - user_of(*a)) + bytes - a->bytes,
             a->bytes);
    fail("%s: %p (%zu bytes) is %s, not device memory", what, p, bytes, kind_of(p));
}

void need_host(const void *p, size_t bytes, const char *what) {
    if (bytes && !p)
        fail("%s: NULL host pointer", what);
    if (owner(p) && !owner(p)->pinned)
        fail("%s: %p is device memory, not host memory", what, p);
    if (owner(p) && !inside(p, bytes, true))
        fail("%s: [%p, +%zu bytes) runs past the end of its pinned buffer", what, p, bytes);
}

void check_red_zone(const Alloc &a, const unsigned char *from, const unsigned char *to) {
    for (const unsigned char *q = from; q < to; q++)
        if (*q != 0xff)
            fail("%s buffer %p of %zu bytes: its byte %td was written (out of bounds)",
                 a.pinned ? "pinned" : "device", (void *)user_of(a), a.bytes, q - user_of(a));
}

void check_red_zones(const Alloc &a) {
    check_red_zone(a, a.base, user_of(a));
    check_red_zone(a, user_of(a) + a.bytes, a.base + a.total);
}

void check_all_red_zones() {
    for (const auto &kv : allocs)
        check_red_zones(kv.second);
}

cudaError_t allocate(void **p, size_t bytes, bool pinned) {
    if (!p)
        fail("%s: NULL result pointer", pinned ? "cudaMallocHost" : "cudaMalloc");
    if (fail_allocs_after == 0)
        return ret(cudaErrorMemoryAllocation);
    if (fail_allocs_after > 0)
        fail_allocs_after--;
    const size_t padded = (bytes + kAlign - 1) / kAlign * kAlign;
    Alloc a = {nullptr, bytes, kRedZone + padded + kRedZone, pinned};
    a.base = (unsigned char *)aligned_alloc(kAlign, a.total);
    if (!a.base)
        return ret(cudaErrorMemoryAllocation);
    memset(a.base, 0xff, a.total);
    allocs[(uintptr_t)user_of(a)] = a;
    *p = user_of(a);
    return cudaSuccess;
}

void drain(cudaStream_t s);

cudaError_t release(void *p, bool pinned) {
    if (!p)
        return cudaSuccess;
    for (cudaStream_t s : streams) /* cudaFree and cudaFreeHost synchronize the device */
        drain(s);
    auto it = allocs.find((uintptr_t)p);
    if (it == allocs.end() || it->second.pinned != pinned)
        fail("%s(%p): not the start of a live %s allocation (it is %s)",
             pinned ? "cudaFreeHost" : "cudaFree", p, pinned ? "pinned" : "device", kind_of(p));
    check_red_zones(it->second);
    free(it->second.base);
    allocs.erase(it);
    return cudaSuccess;
}

/* ---- streams -------------------------------------------------------------------------------- */

void need_stream(cudaStream_t s, const char *what) {
    if (!s)
        fail("%s: the legacy default stream is not emulated (use a created stream)", what);
    if (!streams.count(s))
        fail("%s: %p is not a live stream", what, (void *)s);
}

void enqueue(cudaStream_t s, const char *what, std::function<void()> work) {
    need_stream(s, what);
    s->work.push_back(std::move(work));
}

void drain(cudaStream_t s) {
    while (!s->work.empty()) {
        std::function<void()> w = std::move(s->work.front());
        s->work.pop_front();
        w();
    }
    check_all_red_zones();
}

void drain_all() {
    for (cudaStream_t s : streams)
        drain(s);
}

/* ---- kernels -------------------------------------------------------------------------------- */

const char *cur_kernel;

/* A thread of a block kernel: a coroutine that yields at every __syncthreads. */
struct Fiber {
    ucontext_t ctx;
    std::unique_ptr<char[]> stack;
    bool done;
};
std::vector<Fiber> fibers;
ucontext_t scheduler;
Fiber *cur_fiber;
const std::function<void()> *cur_thread;

bool reverse_order(size_t launch) {
    static const int mode = [] {
        const char *e = getenv("QSGD_CUDA_EMU_ORDER");
        if (!e || !strcmp(e, "mixed"))
            return 2;
        if (!strcmp(e, "forward") || !strcmp(e, "reverse"))
            return e[0] == 'r' ? 1 : 0;
        fail("QSGD_CUDA_EMU_ORDER=%s: expected forward, reverse or mixed", e);
    }();
    if (mode < 2)
        return mode == 1;
    uint64_t z = (uint64_t)launch + 0x9e3779b97f4a7c15ull; /* splitmix64 */
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return ((z ^ (z >> 31)) & 1) != 0;
}

void set_index(unsigned b, unsigned t, unsigned grid, unsigned block) {
    blockIdx = {b, 0, 0};
    threadIdx = {t, 0, 0};
    gridDim = {grid, 1, 1};
    blockDim = {block, 1, 1};
}

void run_sequential(const char *kernel, unsigned grid, unsigned block, bool reverse,
                    const std::function<void()> &thread) {
    cur_kernel = kernel;
    for (unsigned i = 0; i < grid; i++)
        for (unsigned j = 0; j < block; j++) {
            set_index(reverse ? grid - 1 - i : i, reverse ? block - 1 - j : j, grid, block);
            thread();
        }
    cur_kernel = nullptr;
}

void fiber_main() {
    (*cur_thread)();
    cur_fiber->done = true; /* returns to the scheduler (uc_link) */
}

/* The blocks one after the other; within a block, every live thread runs to its next barrier
 * (or its end) in the launch's order, then the next round. */
void run_blocks(const char *kernel, unsigned grid, unsigned block, bool reverse,
                const std::function<void()> &thread) {
    if (fibers.size() < block)
        fibers.resize(block);
    cur_kernel = kernel;
    cur_thread = &thread;
    for (unsigned i = 0; i < grid; i++) {
        const unsigned b = reverse ? grid - 1 - i : i;
        for (unsigned t = 0; t < block; t++) {
            Fiber &f = fibers[t];
            if (!f.stack)
                f.stack.reset(new char[kFiberStack]);
            if (getcontext(&f.ctx) != 0)
                fail("getcontext failed");
            f.ctx.uc_stack.ss_sp = f.stack.get();
            f.ctx.uc_stack.ss_size = kFiberStack;
            f.ctx.uc_link = &scheduler;
            makecontext(&f.ctx, fiber_main, 0);
            f.done = false;
        }
        for (unsigned round = 0;; round++) {
            unsigned ended = 0;
            for (unsigned j = 0; j < block; j++) {
                const unsigned t = reverse ? block - 1 - j : j;
                Fiber &f = fibers[t];
                if (!f.done) {
                    set_index(b, t, grid, block);
                    cur_fiber = &f;
                    if (swapcontext(&scheduler, &f.ctx) != 0)
                        fail("swapcontext failed");
                }
                ended += f.done;
            }
            cur_fiber = nullptr;
            if (ended == block)
                break;
            if (ended)
                fail("kernel %s: block %u: %u of its %u threads ended while the others wait at "
                     "__syncthreads number %u (a barrier in divergent code)",
                     kernel, b, ended, block, round + 1);
        }
    }
    cur_kernel = nullptr;
}

bool is_block_kernel(const char *kernel) {
    for (const char *k : kBlockKernels)
        if (!strcmp(k, kernel))
            return true;
    return false;
}

/* ---- cuBLAS --------------------------------------------------------------------------------- */

emu_blas *need_handle(cublasHandle_t h, const char *what) {
    if (!handles.count(h))
        fail("%s: %p is not a live cuBLAS handle", what, (void *)h);
    return h;
}

/* Bytes spanned by a column-major rows x cols matrix with leading dimension ld. */
size_t extent(int rows, int cols, int ld) {
    return rows && cols ? ((size_t)(cols - 1) * (size_t)ld + (size_t)rows) * sizeof(float) : 0;
}

void need_operand(const float *p, size_t bytes, const char *what) {
    if (bytes)
        need_device(p, bytes, what);
}

bool overlap(const void *a, size_t na, const void *b, size_t nb) {
    auto x = (uintptr_t)a, y = (uintptr_t)b;
    return na && nb && x < y + nb && y < x + na;
}

emu_blas *blas_call(cublasHandle_t h, const char *what) {
    emu_blas *b = need_handle(h, what);
    need_stream(b->stream, what);
    if (!b->workspace)
        fail("%s: no workspace set since cublasSetStream (which resets it to cuBLAS's pool)", what);
    return b;
}

} // namespace

void check_kernel_pointer(const char *kernel, int param, const void *p) {
    const Alloc *a = owner(p);
    if (p && (!a || a->pinned))
        fail("kernel %s: parameter %d = %p is %s, not device memory", kernel, param, p, kind_of(p));
}

void launch_grid(const char *kernel, unsigned grid, unsigned block, cudaStream_t s,
                 std::function<void()> thread) {
    if (grid == 0 || grid > 0x7fffffffu || block == 0 || block > kMaxBlock)
        fail("kernel %s launched with %u blocks of %u threads", kernel, grid, block);
    const bool reverse = reverse_order(n_launches++);
    if (is_block_kernel(kernel))
        enqueue(s, kernel, [=] { run_blocks(kernel, grid, block, reverse, thread); });
    else
        enqueue(s, kernel, [=] { run_sequential(kernel, grid, block, reverse, thread); });
}

} // namespace cuda_emu

using namespace cuda_emu;

void __syncthreads() {
    if (!cur_fiber)
        fail("kernel %s calls __syncthreads but runs one thread at a time: add it to "
             "kBlockKernels (tests/cuda_emu/cuda_emu.cpp)",
             cur_kernel ? cur_kernel : "(none)");
    if (swapcontext(&cur_fiber->ctx, &scheduler) != 0)
        fail("swapcontext failed");
}

/* ---- runtime API ---------------------------------------------------------------------------- */

cudaError_t cudaGetLastError(void) {
    cudaError_t e = last_error;
    last_error = cudaSuccess;
    return e;
}

const char *cudaGetErrorName(cudaError_t e) {
    switch (e) {
    case cudaSuccess:
        return "cudaSuccess";
    case cudaErrorInvalidValue:
        return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation:
        return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidDevice:
        return "cudaErrorInvalidDevice";
    }
    return "cudaErrorUnknown";
}

const char *cudaGetErrorString(cudaError_t e) {
    switch (e) {
    case cudaSuccess:
        return "no error";
    case cudaErrorInvalidValue:
        return "invalid argument";
    case cudaErrorMemoryAllocation:
        return "out of memory";
    case cudaErrorInvalidDevice:
        return "invalid device ordinal";
    }
    return "unknown error";
}

cudaError_t cudaSetDevice(int dev) {
    return ret(dev >= 0 && dev < device_count ? cudaSuccess : cudaErrorInvalidDevice);
}

cudaError_t cudaDeviceGetAttribute(int *value, cudaDeviceAttr attr, int dev) {
    if (dev < 0 || dev >= device_count)
        return ret(cudaErrorInvalidDevice);
    if (attr != cudaDevAttrMultiProcessorCount)
        fail("cudaDeviceGetAttribute: attribute %d is not emulated", (int)attr);
    *value = kMultiProcessors;
    return cudaSuccess;
}

cudaError_t cudaMalloc(void **p, size_t bytes) {
    return allocate(p, bytes, false);
}

cudaError_t cudaFree(void *p) {
    return release(p, false);
}

cudaError_t cudaMallocHost(void **p, size_t bytes) {
    return allocate(p, bytes, true);
}

cudaError_t cudaFreeHost(void *p) {
    return release(p, true);
}

cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind,
                            cudaStream_t s) {
    need_stream(s, "cudaMemcpyAsync");
    if (kind == cudaMemcpyHostToDevice) {
        need_device(dst, bytes, "cudaMemcpyAsync(HostToDevice) destination");
        need_host(src, bytes, "cudaMemcpyAsync(HostToDevice) source");
        std::vector<unsigned char> at_call((const unsigned char *)src,
                                           (const unsigned char *)src + bytes);
        enqueue(s, "cudaMemcpyAsync", [=, at_call = std::move(at_call)] {
            if (memcmp(src, at_call.data(), bytes) != 0)
                fail("cudaMemcpyAsync(HostToDevice): the host source %p (%zu bytes) changed "
                     "between the call and the copy (before the stream was synchronized)",
                     src, bytes);
            memcpy(dst, src, bytes);
        });
    } else if (kind == cudaMemcpyDeviceToHost) {
        need_host(dst, bytes, "cudaMemcpyAsync(DeviceToHost) destination");
        need_device(src, bytes, "cudaMemcpyAsync(DeviceToHost) source");
        memset(dst, 0xff, bytes); /* not there until the stream is synchronized */
        enqueue(s, "cudaMemcpyAsync", [=] { memcpy(dst, src, bytes); });
    } else if (kind == cudaMemcpyDeviceToDevice) {
        need_device(dst, bytes, "cudaMemcpyAsync(DeviceToDevice) destination");
        need_device(src, bytes, "cudaMemcpyAsync(DeviceToDevice) source");
        if (overlap(dst, bytes, src, bytes))
            fail("cudaMemcpyAsync(DeviceToDevice): overlapping ranges");
        enqueue(s, "cudaMemcpyAsync", [=] { memcpy(dst, src, bytes); });
    } else {
        fail("cudaMemcpyAsync: kind %d is not emulated", (int)kind);
    }
    return cudaSuccess;
}

cudaError_t cudaMemcpy(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind) {
    drain_all();
    emu_stream now;
    streams.insert(&now);
    cudaMemcpyAsync(dst, src, bytes, kind, &now);
    drain(&now);
    streams.erase(&now);
    return cudaSuccess;
}

cudaError_t cudaMemsetAsync(void *dst, int value, size_t bytes, cudaStream_t s) {
    need_device(dst, bytes, "cudaMemsetAsync");
    enqueue(s, "cudaMemsetAsync", [=] { memset(dst, value, bytes); });
    return cudaSuccess;
}

cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned flags) {
    if (!s || (flags & ~cudaStreamNonBlocking))
        return ret(cudaErrorInvalidValue);
    *s = new emu_stream;
    streams.insert(*s);
    return cudaSuccess;
}

cudaError_t cudaStreamSynchronize(cudaStream_t s) {
    need_stream(s, "cudaStreamSynchronize");
    drain(s);
    return cudaSuccess;
}

cudaError_t cudaStreamDestroy(cudaStream_t s) {
    need_stream(s, "cudaStreamDestroy");
    drain(s); /* its pending work completes */
    streams.erase(s);
    delete s;
    return cudaSuccess;
}

/* ---- cuBLAS --------------------------------------------------------------------------------- */

cublasStatus_t cublasCreate(cublasHandle_t *h) {
    if (!h)
        fail("cublasCreate: NULL handle pointer");
    *h = new emu_blas;
    handles.insert(*h);
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasDestroy(cublasHandle_t h) {
    need_handle(h, "cublasDestroy");
    handles.erase(h);
    delete h;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetStream(cublasHandle_t h, cudaStream_t s) {
    need_handle(h, "cublasSetStream")->stream = s;
    need_stream(s, "cublasSetStream");
    h->workspace = nullptr;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetPointerMode(cublasHandle_t h, cublasPointerMode_t mode) {
    need_handle(h, "cublasSetPointerMode");
    if (mode != CUBLAS_POINTER_MODE_HOST)
        fail("cublasSetPointerMode: only CUBLAS_POINTER_MODE_HOST is emulated");
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetAtomicsMode(cublasHandle_t h, cublasAtomicsMode_t mode) {
    need_handle(h, "cublasSetAtomicsMode");
    return mode == CUBLAS_ATOMICS_NOT_ALLOWED || mode == CUBLAS_ATOMICS_ALLOWED
               ? CUBLAS_STATUS_SUCCESS
               : CUBLAS_STATUS_INVALID_VALUE;
}

cublasStatus_t cublasSetMathMode(cublasHandle_t h, cublasMath_t mode) {
    need_handle(h, "cublasSetMathMode");
    return CUBLAS_STATUS_SUCCESS; /* the host BLAS computes in fp32 whatever the mode */
}

cublasStatus_t cublasSetWorkspace(cublasHandle_t h, void *workspace, size_t bytes) {
    need_handle(h, "cublasSetWorkspace");
    need_device(workspace, bytes, "cublasSetWorkspace");
    h->workspace = workspace;
    return CUBLAS_STATUS_SUCCESS;
}

const char *cublasGetStatusString(cublasStatus_t s) {
    switch (s) {
    case CUBLAS_STATUS_SUCCESS:
        return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED:
        return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED:
        return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE:
        return "CUBLAS_STATUS_INVALID_VALUE";
    }
    return "CUBLAS_STATUS_UNKNOWN";
}

static int max1(int v) {
    return v > 1 ? v : 1;
}

static char op_char(cublasOperation_t t, const char *what) {
    if (t != CUBLAS_OP_N && t != CUBLAS_OP_T)
        fail("%s: operation %d is not emulated", what, (int)t);
    return t == CUBLAS_OP_N ? 'N' : 'T';
}

cublasStatus_t cublasSgemm(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m,
                           int n, int k, const float *alpha, const float *A, int lda,
                           const float *B, int ldb, const float *beta, float *C, int ldc) {
    emu_blas *b = blas_call(h, "cublasSgemm");
    const char ca = op_char(ta, "cublasSgemm"), cb = op_char(tb, "cublasSgemm");
    const int ar = ca == 'N' ? m : k, ac = ca == 'N' ? k : m;
    const int br = cb == 'N' ? k : n, bc = cb == 'N' ? n : k;
    if (m < 0 || n < 0 || k < 0 || lda < max1(ar) || ldb < max1(br) || ldc < max1(m))
        fail("cublasSgemm(%c, %c, m=%d, n=%d, k=%d, lda=%d, ldb=%d, ldc=%d): invalid value", ca, cb,
             m, n, k, lda, ldb, ldc);
    if (!alpha || !beta)
        fail("cublasSgemm: NULL alpha or beta");
    const size_t xa = extent(ar, ac, lda), xb = extent(br, bc, ldb), xc = extent(m, n, ldc);
    need_operand(A, xa, "cublasSgemm A");
    need_operand(B, xb, "cublasSgemm B");
    need_operand(C, xc, "cublasSgemm C");
    if (overlap(C, xc, A, xa) || overlap(C, xc, B, xb))
        fail("cublasSgemm: C overlaps A or B");
    const float al = *alpha, be = *beta;
    n_gemms++;
    enqueue(b->stream, "cublasSgemm",
            [=] { sgemm_(&ca, &cb, &m, &n, &k, &al, A, &lda, B, &ldb, &be, C, &ldc); });
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSgemv(cublasHandle_t h, cublasOperation_t t, int m, int n, const float *alpha,
                           const float *A, int lda, const float *x, int incx, const float *beta,
                           float *y, int incy) {
    emu_blas *b = blas_call(h, "cublasSgemv");
    const char ct = op_char(t, "cublasSgemv");
    if (m < 0 || n < 0 || lda < max1(m) || incx == 0 || incy == 0)
        fail("cublasSgemv(%c, m=%d, n=%d, lda=%d, incx=%d, incy=%d): invalid value", ct, m, n, lda,
             incx, incy);
    if (incx != 1 || incy != 1)
        fail("cublasSgemv: strides other than 1 are not emulated");
    if (!alpha || !beta)
        fail("cublasSgemv: NULL alpha or beta");
    const size_t xa = extent(m, n, lda);
    const size_t xx = (size_t)(ct == 'N' ? n : m) * sizeof(float);
    const size_t xy = (size_t)(ct == 'N' ? m : n) * sizeof(float);
    need_operand(A, xa, "cublasSgemv A");
    need_operand(x, xx, "cublasSgemv x");
    need_operand(y, xy, "cublasSgemv y");
    if (overlap(y, xy, A, xa) || overlap(y, xy, x, xx))
        fail("cublasSgemv: y overlaps A or x");
    const float al = *alpha, be = *beta;
    n_gemms++;
    enqueue(b->stream, "cublasSgemv", [=] {
        const int one = 1;
        sgemv_(&ct, &m, &n, &al, A, &lda, x, &one, &be, y, &one);
    });
    return CUBLAS_STATUS_SUCCESS;
}

/* ---- gpu_device.h (as gpu_device.cu, on the emulated device) ------------------------------ */

int gpu_device_count(char *why, size_t len) {
    if (device_count == 0 && why && len)
        snprintf(why, len, "no CUDA-capable device is detected (cuda_emu: device count set to 0)");
    return device_count;
}

int gpu_device_describe(int dev, char *buf, size_t len) {
    if (dev < 0 || dev >= device_count) {
        if (buf && len)
            snprintf(buf, len, "device %d: %s", dev, cudaGetErrorString(cudaErrorInvalidDevice));
        return -1;
    }
    if (buf && len)
        snprintf(buf, len, "cuda_emu host emulation (%d SMs)", kMultiProcessors);
    return 0;
}

int gpu_built_with_cuda(void) {
    return 1;
}

void *gpu_alloc(size_t bytes) {
    void *p = nullptr;
    if (cudaMalloc(&p, bytes ? bytes : 1) != cudaSuccess) {
        (void)cudaGetLastError();
        return nullptr;
    }
    return p;
}

void gpu_free(void *p) {
    if (p)
        cudaFree(p);
}

int gpu_copy_to_device(void *d, const void *h, size_t bytes) {
    return cudaMemcpy(d, h, bytes, cudaMemcpyHostToDevice) == cudaSuccess ? 0 : -1;
}

int gpu_copy_to_host(void *h, const void *d, size_t bytes) {
    return cudaMemcpy(h, d, bytes, cudaMemcpyDeviceToHost) == cudaSuccess ? 0 : -1;
}

int gpu_copy_device(void *dst, const void *src, size_t bytes) {
    return cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToDevice) == cudaSuccess ? 0 : -1;
}

/* ---- test hooks (cuda_emu.h) ---------------------------------------------------------------- */

void cuda_emu_fail_allocs_after(int n) {
    fail_allocs_after = n < 0 ? -1 : n;
}

void cuda_emu_set_device_count(int n) {
    if (n != 0 && n != 1)
        fail("cuda_emu_set_device_count(%d): 0 or 1", n);
    device_count = n;
}

cuda_emu_stats cuda_emu_get_stats(void) {
    cuda_emu_stats s = {};
    for (const auto &kv : allocs)
        (kv.second.pinned ? s.pinned_allocs : s.device_allocs)++;
    s.streams = streams.size();
    s.blas_handles = handles.size();
    s.launches = n_launches;
    s.gemms = n_gemms;
    return s;
}
