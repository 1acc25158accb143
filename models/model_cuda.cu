/* model_cuda.cu — the CUDA backend of the models (model.h, "Devices"): CUDA twins of the
 * leastsq, logreg, softmax, mlp and cnn type tables for dense data, with the CPU models'
 * names, options, tensors, theta layout, init_params (the CPU function itself), loss and
 * minibatch-mean gradient. A CPU type has a twin when its table names one of the layer
 * structures implemented here (model_type.cuda, MODEL_CUDA_*).
 *
 * A CUDA model wraps the CPU model: init runs the CPU init (tensor table, option defaults,
 * the impl that init_params and flops_per_sample read) with a batch of 1, then builds the GPU
 * side next to it. The layer structure is read back from the tensor table.
 *
 * Per model object (no global state): one non-blocking cudaStream_t, one cublasHandle_t on
 * it with its own workspace, device buffers for theta, grad, the batch indices and every
 * activation, sized once for max_batch, and a cache of device copies of the datasets it has
 * seen. loss_grad = check on the host (data, batch, indices, labels) -> upload theta and
 * the indices -> gather rows on the GPU -> forward/backward -> download grad and the loss ->
 * synchronize. Nothing is allocated per step.
 *
 * Layouts mirror the CPU code (nn_ops.h): row-major [batch][features] activations, HWC
 * images inside the cnn, conv weights turned into GEMM order [out][ky][kx][in]. Row-major
 * GEMMs go to cuBLAS (column-major) exactly as nn_sgemm maps them to Fortran BLAS: a
 * row-major C[M][N] = op(A) op(B) is the column-major C^T = op(B)^T op(A)^T, i.e.
 * cublasSgemm(opB, opA, N, M, K, B, ldb, A, lda, C, ldc) (gemm_rm / gemv_rm below).
 *
 * Kernels (all grid-stride loops over independent outputs, so no two threads write the
 * same element and no atomics are used; every sum has a fixed order, hence bit-identical
 * results run to run):
 *   k_gather_rows     rows idx (or start..start+B) of the device dataset -> [B][dim]
 *   k_gather_hwc      the same for CHW images, transposed to HWC (cnn input)
 *   k_bias_relu       z = max(0, z + b) per column (hidden layers)
 *   k_relu_bwd        d = a > 0 ? d : 0
 *   k_colsum_part/_final  column sums (bias gradients) in two fixed-order passes: sums of
 *                     CS_ROWS-row blocks, then the blocks in order (with an optional ReLU
 *                     mask, for the conv bias; optionally added to the output: chunks)
 *   k_xent            one thread per row: softmax cross-entropy of logits (+ bias), per-row
 *                     loss (double) and argmax hit, gradient scale*(softmax - onehot); the
 *                     same arithmetic as nn_softmax_xent
 *   k_logreg, k_lsq   the links of logreg (bias, stable softplus in double, sigmoid) and
 *                     leastsq (residual in double), per-row loss and dz, as lr_link/lsq_link
 *   k_reduce          one block: per-row losses (double) and hit counts summed in a fixed
 *                     tree order into the accumulator (plus its old value across evaluate
 *                     chunks, which the stream serializes)
 *   k_l2              grad += l2 * theta on the regularized weights
 *   k_w_to_gemm / k_w_from_gemm   conv weights {out,in,3,3} <-> [out][ky][kx][in]
 *   k_im2col          3x3 pad-1 patches of HWC images: [B*H*W][9*C] (nn_im2col3x3_hwc)
 *   k_col2im          its adjoint as a gather: each input pixel sums its (up to) 9 patch
 *                     entries in the CPU's order (nn_col2im3x3_hwc)
 *   k_pool_fwd        bias + ReLU + 2x2 max-pool with the CPU's argmax tie rule
 *                     (first maximum in window order 00, 01, 10, 11)
 *   k_pool_bwd        its backward: the ReLU-masked gradient to each window's argmax
 */
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern "C" {
#include "gpu_device.h"
#include "nn_ops.h"
}
#include "model_cuda.h"

/* Every kernel launch: QSGD_KLAUNCH(kernel, grid, block, stream, args...) is
 * kernel<<<grid, block, 0, stream>>>(args...) under nvcc. Compiled as C++ without nvcc, the
 * file runs against the host emulator of tests/cuda_emu (CTest cuda_models_emul), whose
 * cuda_runtime.h defines the macro. */
#ifdef __CUDACC__
#define QSGD_KLAUNCH(kern, grid, block, stream, ...)                                               \
    kern<<<(grid), (block), 0, (stream)>>>(__VA_ARGS__)
#elif !defined(QSGD_KLAUNCH)
#error "model_cuda.cu: compile it with nvcc, or as C++ against tests/cuda_emu (QSGD_KLAUNCH)"
#endif

/* ---- configuration --------------------------------------------------------------------- */

#define TPB 256              /* threads per block of the grid-stride kernels */
#define RED_TPB 256          /* threads of the reduction block (a power of 2) */
#define CS_ROWS 128          /* rows per partial column sum */
#define GDS_SLOTS 4          /* datasets cached per model */
#define G_MAXL 9             /* mlp: linear layers (8 hidden + output) */
#define G_MAXC 4             /* cnn: conv blocks */
#define G_CNN_CHUNK 256      /* cnn: images per im2col/GEMM chunk */
#define G_BLAS_WS (8u << 20) /* cuBLAS workspace per model (bytes) */
#define G_MAX_ALLOCS 64

#define GRID_LOOP(i, n)                                                                            \
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < (size_t)(n);                \
         i += (size_t)blockDim.x * gridDim.x)

/* ---- state --------------------------------------------------------------------------------- */

/* The implementation a type's table names (model_type.cuda, model.h); the code below relies
 * on the GLMs coming first (kind <= GK_SOFTMAX). */
enum gkind {
    GK_LEASTSQ = MODEL_CUDA_LEASTSQ,
    GK_LOGREG = MODEL_CUDA_LOGREG,
    GK_SOFTMAX = MODEL_CUDA_SOFTMAX,
    GK_MLP = MODEL_CUDA_MLP,
    GK_CNN = MODEL_CUDA_CNN,
};
static_assert(GK_LEASTSQ > 0 /* MODEL_CUDA_NONE */ && GK_LEASTSQ < GK_LOGREG &&
                  GK_LOGREG < GK_SOFTMAX && GK_SOFTMAX < GK_MLP && GK_MLP < GK_CNN,
              "model.h's MODEL_CUDA_* keep the order this file's comparisons rely on");

typedef struct gacc {
    double loss;
    unsigned long long ok;
} gacc;

/* A device copy of one dataset. */
typedef struct gds {
    const dataset *key;
    const float *x; /* key->x at upload */
    size_t n, dim;
    uint64_t fp;
    float *x_d;     /* [n][dim] */
    int32_t *lab_d; /* [n] (classification) */
    float *tgt_d;   /* [n] (regression) */
    uint64_t used;
} gds;

typedef struct gconv {
    size_t cin, cout, H, W;
    size_t woff, boff;
    float *wg, *dwg;   /* [cout][9*cin] GEMM-order weights / gradient */
    float *out, *dout; /* [max_batch][H/2][W/2][cout] */
    uint8_t *arg;      /* [max_batch][H/2][W/2][cout] */
} gconv;

typedef struct gctx {
    int kind;
    const model_type *cpu; /* the CPU twin */
    void *cpu_impl;        /* its impl (tensor offsets for init_params / flops) */
    int dev, nsm;
    int dev_ok; /* cudaSetDevice worked: CUDA calls allowed in fini */
    cudaStream_t st;
    cublasHandle_t blas;
    void *allocs[G_MAX_ALLOCS]; /* device buffers of this object (freed in fini) */
    int nallocs;
    float *theta, *grad; /* [nparams] */
    long long *idx;      /* [max_batch] */
    long long *idx_h;    /* [max_batch] pinned */
    double *rowloss;     /* [max_batch] */
    int *rowok;          /* [max_batch] */
    gacc *acc, *acc_h;   /* device / pinned */
    float *part;         /* colsum partials */
    size_t part_cap;
    gds ds[GDS_SLOTS];
    uint64_t clock;
    /* glm (leastsq, logreg, softmax) */
    size_t out, nw; /* outputs; regularized weights (theta[0..nw)) */
    float *xb, *z;  /* [max_batch][dim] gathered rows (glm, mlp); [max_batch][out] scores */
    /* mlp */
    int nl;
    size_t width[G_MAXL + 1], woff[G_MAXL], boff[G_MAXL];
    float *act[G_MAXL], *dact[G_MAXL];
    /* cnn */
    int nconv;
    gconv cv[G_MAXC];
    size_t feat, fc, ncls, fcw, fcb, ow, ob, chunk;
    float *x0, *col, *cz, *h, *dh, *logits;
} gctx;

/* ---- errors ---------------------------------------------------------------------------- */

static int cu_fail(qsgd_err *err, const model *m, const char *what, cudaError_t e, int line) {
    (void)cudaGetLastError(); /* clear a non-sticky error */
    return QSGD_FAIL(err, e == cudaErrorMemoryAllocation ? QSGD_ENOMEM : QSGD_EDEVICE,
                     "model %s (cuda): %s: %s [%.90s at model_cuda.cu:%d]", m->type->name,
                     cudaGetErrorName(e), cudaGetErrorString(e), what, line);
}

static int cb_fail(qsgd_err *err, const model *m, const char *what, cublasStatus_t s, int line) {
    return QSGD_FAIL(err, s == CUBLAS_STATUS_ALLOC_FAILED ? QSGD_ENOMEM : QSGD_EDEVICE,
                     "model %s (cuda): cuBLAS: %s [%.90s at model_cuda.cu:%d]", m->type->name,
                     cublasGetStatusString(s), what, line);
}

/* Inside functions with `m` (const model *) and `err` in scope. */
#define CU(call)                                                                                   \
    do {                                                                                           \
        cudaError_t e_ = (call);                                                                   \
        if (e_ != cudaSuccess)                                                                     \
            return cu_fail(err, m, #call, e_, __LINE__);                                           \
    } while (0)
#define CB(call)                                                                                   \
    do {                                                                                           \
        cublasStatus_t s_ = (call);                                                                \
        if (s_ != CUBLAS_STATUS_SUCCESS)                                                           \
            return cb_fail(err, m, #call, s_, __LINE__);                                           \
    } while (0)
#define TRY(call)                                                                                  \
    do {                                                                                           \
        int rc_ = (call);                                                                          \
        if (rc_ != QSGD_OK)                                                                        \
            return rc_;                                                                            \
    } while (0)

static unsigned grid_for(const gctx *g, size_t n) {
    size_t b = (n + TPB - 1) / TPB, cap = (size_t)(g->nsm > 0 ? g->nsm : 1) * 8;
    if (b > cap)
        b = cap;
    return b ? (unsigned)b : 1u;
}

/* A grid-stride kernel over n items on the model's stream (nothing when n == 0), checked.
 * Inside functions with g, m, err in scope. */
#define LAUNCH_N(n, kern, ...)                                                                     \
    do {                                                                                           \
        size_t n_ = (size_t)(n);                                                                   \
        if (n_) {                                                                                  \
            QSGD_KLAUNCH(kern, grid_for(g, n_), TPB, g->st, __VA_ARGS__);                          \
            CU(cudaGetLastError());                                                                \
        }                                                                                          \
    } while (0)

/* ---- kernels ------------------------------------------------------------------------------ */

/* Source row of batch position b: idx[b], or start + b when idx is NULL. */
__device__ static inline size_t src_row(const long long *idx, size_t start, size_t b) {
    return idx ? (size_t)idx[b] : start + b;
}

__global__ void k_gather_rows(float *dst, const float *x, const long long *idx, size_t start,
                              size_t B, size_t dim) {
    GRID_LOOP(i, B * dim) {
        size_t b = i / dim, j = i - b * dim;
        dst[i] = x[src_row(idx, start, b) * dim + j];
    }
}

/* dst[b][p][c] = x[row(b)][c][p], p = y*W + x over HW pixels. */
__global__ void k_gather_hwc(float *dst, const float *x, const long long *idx, size_t start,
                             size_t B, size_t C, size_t HW) {
    const size_t dim = C * HW;
    GRID_LOOP(i, B * dim) {
        size_t b = i / dim, rem = i - b * dim, p = rem / C, c = rem - p * C;
        dst[i] = x[src_row(idx, start, b) * dim + c * HW + p];
    }
}

__global__ void k_bias_relu(float *z, const float *b, size_t rows, size_t cols) {
    GRID_LOOP(i, rows * cols) {
        float v = z[i] + b[i % cols];
        z[i] = v > 0.0f ? v : 0.0f;
    }
}

__global__ void k_relu_bwd(float *d, const float *a, size_t n) {
    GRID_LOOP(i, n) {
        d[i] = a[i] > 0.0f ? d[i] : 0.0f;
    }
}

/* part[p][c] = sum over rows r in [p*CS_ROWS, min(rows, (p+1)*CS_ROWS)) of v[r][c] in row
 * order, v = z (mask NULL) or (mask > 0 ? z : 0). */
__global__ void k_colsum_part(float *part, const float *z, const float *mask, size_t rows,
                              size_t cols) {
    const size_t np = (rows + CS_ROWS - 1) / CS_ROWS;
    GRID_LOOP(i, np * cols) {
        size_t p = i / cols, c = i - p * cols, r0 = p * CS_ROWS;
        size_t r1 = r0 + CS_ROWS < rows ? r0 + CS_ROWS : rows;
        float s = 0.0f;
        for (size_t r = r0; r < r1; r++) {
            float v = z[r * cols + c];
            if (mask)
                v = mask[r * cols + c] > 0.0f ? v : 0.0f;
            s += v;
        }
        part[i] = s;
    }
}

/* out[c] = (accumulate ? out[c] : 0) + sum_p part[p][c], p in order. */
__global__ void k_colsum_final(float *out, const float *part, size_t np, size_t cols,
                               int accumulate) {
    GRID_LOOP(c, cols) {
        float s = 0.0f;
        for (size_t p = 0; p < np; p++)
            s += part[p * cols + c];
        out[c] = accumulate ? out[c] + s : s;
    }
}

/* Softmax cross-entropy per row r of z[rows][cols] (+ bias[cols] when non-NULL), label
 * lab[row(r)]: rowloss = max + log(sum exp(z - max)) - z_y (double), rowok = (first argmax
 * == y); dz (may alias z, may be NULL) = scale * (softmax - onehot). nn_softmax_xent's
 * arithmetic. */
__global__ void k_xent(float *dz, const float *z, const float *bias, const int32_t *lab,
                       const long long *idx, size_t start, size_t rows, size_t cols, float scale,
                       double *rowloss, int *rowok) {
    GRID_LOOP(r, rows) {
        const float *zr = z + r * cols;
        const int y = lab[src_row(idx, start, r)];
        float mx = bias ? zr[0] + bias[0] : zr[0];
        size_t am = 0;
        for (size_t c = 1; c < cols; c++) {
            float v = bias ? zr[c] + bias[c] : zr[c];
            if (v > mx) {
                mx = v;
                am = c;
            }
        }
        double s = 0.0;
        for (size_t c = 0; c < cols; c++) {
            float v = bias ? zr[c] + bias[c] : zr[c];
            s += (double)expf(v - mx);
        }
        double zy = bias ? zr[y] + bias[y] : zr[y];
        rowloss[r] = (double)mx + log(s) - zy;
        rowok[r] = am == (size_t)y;
        if (dz) {
            float *dr = dz + r * cols;
            float inv = (float)(1.0 / s);
            for (size_t c = 0; c < cols; c++) {
                float v = bias ? zr[c] + bias[c] : zr[c];
                float p = expf(v - mx) * inv;
                dr[c] = scale * (p - (c == (size_t)y ? 1.0f : 0.0f));
            }
        }
    }
}

/* logreg: zi = z[i] + b (float, as add_bias), loss softplus(zi) - y zi (double), hit
 * (zi > 0) == (y == 1), z[i] = scale * (sigmoid(zi) - y) when write. lr_link's arithmetic. */
__global__ void k_logreg(float *z, const float *bias, const int32_t *lab, const long long *idx,
                         size_t start, size_t B, float scale, int write, double *rowloss,
                         int *rowok) {
    GRID_LOOP(i, B) {
        float zf = z[i] + bias[0];
        double zi = zf, e = exp(-fabs(zi));
        int y = lab[src_row(idx, start, i)];
        rowloss[i] = (zi > 0 ? zi : 0.0) - zi * y + log1p(e);
        rowok[i] = (zi > 0) == (y == 1);
        double p = zi >= 0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
        if (write)
            z[i] = scale * (float)(p - y);
    }
}

/* leastsq: r = z - t (double), loss r^2/2, z = scale * r when write. lsq_link's arithmetic. */
__global__ void k_lsq(float *z, const float *tgt, const long long *idx, size_t start, size_t B,
                      float scale, int write, double *rowloss) {
    GRID_LOOP(i, B) {
        double r = (double)z[i] - tgt[src_row(idx, start, i)];
        rowloss[i] = 0.5 * r * r;
        if (write)
            z[i] = scale * (float)r;
    }
}

/* One block of RED_TPB threads: acc = (accumulate ? acc : 0) + sums of rowloss[0..n) and
 * rowok[0..n) (rowok may be NULL), in a fixed order (strided per-thread sums, then a tree). */
__global__ void k_reduce(const double *rowloss, const int *rowok, size_t n, gacc *acc,
                         int accumulate) {
    __shared__ double sl[RED_TPB];
    __shared__ unsigned long long so[RED_TPB];
    const unsigned t = threadIdx.x;
    double l = 0.0;
    unsigned long long o = 0;
    for (size_t i = t; i < n; i += blockDim.x) {
        l += rowloss[i];
        if (rowok)
            o += (unsigned long long)rowok[i];
    }
    sl[t] = l;
    so[t] = o;
    __syncthreads();
    for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {
        if (t < s) {
            sl[t] += sl[t + s];
            so[t] += so[t + s];
        }
        __syncthreads();
    }
    if (t == 0) {
        acc->loss = (accumulate ? acc->loss : 0.0) + sl[0];
        acc->ok = (accumulate ? acc->ok : 0ull) + so[0];
    }
}

/* grad += l2 * theta (float, as the CPU loop; no FMA: compiled with --fmad=false). */
__global__ void k_l2(float *grad, const float *theta, size_t n, float l2) {
    GRID_LOOP(i, n) {
        grad[i] += l2 * theta[i];
    }
}

/* wg[(o*9 + k)*in + c] = w[(o*in + c)*9 + k] */
__global__ void k_w_to_gemm(float *wg, const float *w, size_t out, size_t in) {
    GRID_LOOP(i, out * in * 9) {
        size_t o = i / (9 * in), rem = i - o * 9 * in, k = rem / in, c = rem - k * in;
        wg[i] = w[(o * in + c) * 9 + k];
    }
}

/* w[(o*in + c)*9 + k] = wg[(o*9 + k)*in + c] */
__global__ void k_w_from_gemm(float *w, const float *wg, size_t out, size_t in) {
    GRID_LOOP(i, out * in * 9) {
        size_t o = i / (in * 9), rem = i - o * in * 9, c = rem / 9, k = rem - c * 9;
        w[i] = wg[(o * 9 + k) * in + c];
    }
}

/* col[(b*H + y)*W + x][(ky*3 + kx)*C + c] = in[b][y+ky-1][x+kx-1][c], 0 outside. */
__global__ void k_im2col(float *col, const float *in, size_t B, size_t H, size_t W, size_t C) {
    const size_t K = 9 * C, HW = H * W;
    GRID_LOOP(i, B * HW * K) {
        size_t pix = i / K, k = i - pix * K, kk = k / C, c = k - kk * C;
        size_t b = pix / HW, rem = pix - b * HW, y = rem / W, x = rem - y * W;
        long yy = (long)y + (long)(kk / 3) - 1, xx = (long)x + (long)(kk % 3) - 1;
        col[i] = (yy < 0 || yy >= (long)H || xx < 0 || xx >= (long)W)
                     ? 0.0f
                     : in[((b * H + (size_t)yy) * W + (size_t)xx) * C + c];
    }
}

/* din[b][y][x][c] = sum of dcol over the patches that contain (y, x), visited in the
 * raster order of the patch centres (ys, xs) like nn_col2im3x3_hwc's accumulation. */
__global__ void k_col2im(float *din, const float *dcol, size_t B, size_t H, size_t W, size_t C) {
    const size_t K = 9 * C, HW = H * W;
    GRID_LOOP(i, B * HW * C) {
        size_t pix = i / C, c = i - pix * C;
        size_t b = pix / HW, rem = pix - b * HW, y = rem / W, x = rem - y * W;
        float acc = 0.0f;
        for (int dy = -1; dy <= 1; dy++) {
            long ys = (long)y + dy;
            if (ys < 0 || ys >= (long)H)
                continue;
            int ky = 1 - dy;
            for (int dx = -1; dx <= 1; dx++) {
                long xs = (long)x + dx;
                if (xs < 0 || xs >= (long)W)
                    continue;
                int kx = 1 - dx;
                acc += dcol[((b * H + (size_t)ys) * W + (size_t)xs) * K +
                            (size_t)(ky * 3 + kx) * C + c];
            }
        }
        din[i] = acc;
    }
}

/* out[b][oy][ox][c] = max(0, bias[c] + max of the 2x2 window of z[b][..][..][c]), arg = 2i+j
 * of the first maximum in order 00, 01, 10, 11 (nn_pool2_bias_relu_hwc). */
__global__ void k_pool_fwd(float *out, uint8_t *arg, const float *z, const float *bias, size_t B,
                           size_t H, size_t W, size_t C) {
    const size_t OH = H / 2, OW = W / 2;
    GRID_LOOP(i, B * OH * OW * C) {
        size_t c = i % C, t = i / C, ox = t % OW;
        t /= OW;
        size_t oy = t % OH, b = t / OH;
        const float *p00 = z + ((b * H + 2 * oy) * W + 2 * ox) * C + c;
        float a0 = p00[0], a1 = p00[C], a2 = p00[W * C], a3 = p00[W * C + C];
        int s1 = a1 > a0, s3 = a3 > a2;
        float m01 = s1 ? a1 : a0, m23 = s3 ? a3 : a2;
        int s = m23 > m01;
        float v = (s ? m23 : m01) + bias[c];
        out[i] = v > 0.0f ? v : 0.0f;
        arg[i] = (uint8_t)(s ? 2 + s3 : s1);
    }
}

/* dz at each window's argmax = (out > 0 ? dout : 0), 0 at the other three positions. Rows and
 * columns no window covers (odd H or W) are not written: the caller zeroes dz first. */
__global__ void k_pool_bwd(float *dz, const float *dout, const float *out, const uint8_t *arg,
                           size_t B, size_t H, size_t W, size_t C) {
    const size_t OH = H / 2, OW = W / 2;
    GRID_LOOP(i, B * OH * OW * C) {
        size_t c = i % C, t = i / C, ox = t % OW;
        t /= OW;
        size_t oy = t % OH, b = t / OH;
        float g = out[i] > 0.0f ? dout[i] : 0.0f;
        unsigned a = arg[i];
        float *q00 = dz + ((b * H + 2 * oy) * W + 2 * ox) * C + c;
        q00[0] = a == 0 ? g : 0.0f;
        q00[C] = a == 1 ? g : 0.0f;
        q00[W * C] = a == 2 ? g : 0.0f;
        q00[W * C + C] = a == 3 ? g : 0.0f;
    }
}

/* ---- device helpers ------------------------------------------------------------------------ */

static int dalloc(gctx *g, const model *m, void **p, size_t count, size_t elem, qsgd_err *err) {
    *p = NULL;
    if (count > SIZE_MAX / elem || g->nallocs >= G_MAX_ALLOCS)
        return QSGD_FAIL(err, QSGD_ENOMEM, "model %s (cuda): buffer of %zu x %zu bytes too large",
                         m->type->name, count, elem);
    size_t bytes = count * elem;
    CU(cudaMalloc(p, bytes ? bytes : 1));
    g->allocs[g->nallocs++] = *p;
    return QSGD_OK;
}
#define DALLOC(ptr, count) dalloc(g, m, (void **)&(ptr), (count), sizeof *(ptr), err)

static cublasOperation_t op_of(char t) {
    return (t == 'T' || t == 't') ? CUBLAS_OP_T : CUBLAS_OP_N;
}

static int check_int(const model *m, size_t v, const char *what, qsgd_err *err) {
    if (v > (size_t)INT_MAX)
        return QSGD_FAIL(err, QSGD_EINVAL,
                         "model %s (cuda): %s = %zu exceeds cuBLAS's int dimensions", m->type->name,
                         what, v);
    return QSGD_OK;
}

/* Row-major C[M][N] = alpha op(A) op(B) + beta C: nn_sgemm's mapping onto column-major
 * cuBLAS. (Dimensions were checked against INT_MAX in init.) */
static int gemm_rm(gctx *g, const model *m, char ta, char tb, size_t M, size_t N, size_t K,
                   float alpha, const float *A, size_t lda, const float *B, size_t ldb, float beta,
                   float *C, size_t ldc, qsgd_err *err) {
    CB(cublasSgemm(g->blas, op_of(tb), op_of(ta), (int)N, (int)M, (int)K, &alpha, B, (int)ldb, A,
                   (int)lda, &beta, C, (int)ldc));
    return QSGD_OK;
}

/* y = alpha op(A) x + beta y for row-major A[M][N]: nn_sgemv's mapping (a row-major A is the
 * column-major A^T, so the transpose flag flips). */
static int gemv_rm(gctx *g, const model *m, char ta, size_t M, size_t N, float alpha,
                   const float *A, size_t lda, const float *x, float beta, float *y,
                   qsgd_err *err) {
    cublasOperation_t t = (ta == 'T' || ta == 't') ? CUBLAS_OP_N : CUBLAS_OP_T;
    CB(cublasSgemv(g->blas, t, (int)N, (int)M, &alpha, A, (int)lda, x, 1, &beta, y, 1));
    return QSGD_OK;
}

/* y[B][out] = x[B][in] W^T (no bias: the callers fuse it), as nn_linear_forward. */
static int lin_fwd(gctx *g, const model *m, float *y, const float *x, const float *w, size_t B,
                   size_t in, size_t out, qsgd_err *err) {
    if (out == 1)
        return gemv_rm(g, m, 'N', B, in, 1.0f, x, in, w, 0.0f, y, err);
    return gemm_rm(g, m, 'N', 'T', B, out, in, 1.0f, x, in, w, in, 0.0f, y, out, err);
}

/* Column sums out[cols] (+= when accumulate) of z[rows][cols], ReLU-masked by mask. */
static int colsum(gctx *g, const model *m, float *out, const float *z, const float *mask,
                  size_t rows, size_t cols, int accumulate, qsgd_err *err) {
    size_t np = (rows + CS_ROWS - 1) / CS_ROWS;
    if (np * cols > g->part_cap)
        return QSGD_FAIL(err, QSGD_EINVAL,
                         "model %s (cuda): internal: column-sum workspace %zu < %zu", m->type->name,
                         g->part_cap, np * cols);
    LAUNCH_N(np * cols, k_colsum_part, g->part, z, mask, rows, cols);
    LAUNCH_N(cols, k_colsum_final, out, g->part, np, cols, accumulate);
    return QSGD_OK;
}

/* nn_linear_backward: dw[out][in] = dy^T x, db[out] = column sums of dy (db may be NULL),
 * dx[B][in] = dy W when dx != NULL. */
static int lin_bwd(gctx *g, const model *m, float *dw, float *db, float *dx, const float *dy,
                   const float *x, const float *w, size_t B, size_t in, size_t out, qsgd_err *err) {
    if (out == 1)
        TRY(gemv_rm(g, m, 'T', B, in, 1.0f, x, in, dy, 0.0f, dw, err));
    else
        TRY(gemm_rm(g, m, 'T', 'N', out, in, B, 1.0f, dy, out, x, in, 0.0f, dw, in, err));
    if (db)
        TRY(colsum(g, m, db, dy, NULL, B, out, 0, err));
    if (dx)
        TRY(gemm_rm(g, m, 'N', 'N', B, in, out, 1.0f, dy, out, w, in, 0.0f, dx, in, err));
    return QSGD_OK;
}

/* acc = (accumulate ? acc : 0) + sum of the first n per-row losses / hits. */
static int reduce_rows(gctx *g, const model *m, size_t n, int with_ok, int accumulate,
                       qsgd_err *err) {
    QSGD_KLAUNCH(k_reduce, 1u, RED_TPB, g->st, g->rowloss, with_ok ? g->rowok : NULL, n, g->acc,
                 accumulate);
    CU(cudaGetLastError());
    return QSGD_OK;
}

/* ---- the dataset cache --------------------------------------------------------------------- */

static uint64_t mix(uint64_t h, uint64_t v) {
    return (h ^ v) * 0x100000001b3ull;
}

/* A cheap fingerprint of d: its sizes and 16 values of x plus 8 labels (labels != 0) or
 * targets spread over it: those the model reads, as ds_get uploads. */
static uint64_t ds_fingerprint(const dataset *d, int labels) {
    uint64_t h = mix(mix(0xcbf29ce484222325ull, d->n), d->shape.dim);
    size_t N = d->n * d->shape.dim;
    for (size_t k = 0; k < 16 && N; k++) {
        size_t pos = k == 15 ? N - 1 : (N - 1) / 15 * k;
        uint32_t bits;
        memcpy(&bits, d->x + pos, 4);
        h = mix(h, bits);
    }
    for (size_t k = 0; k < 8 && d->n; k++) {
        size_t pos = k == 7 ? d->n - 1 : (d->n - 1) / 7 * k;
        uint32_t bits = 0;
        if (labels && d->label)
            memcpy(&bits, d->label + pos, 4);
        else if (!labels && d->target)
            memcpy(&bits, d->target + pos, 4);
        h = mix(h, bits);
    }
    return h;
}

static void ds_release(gctx *g, gds *s) {
    void *p[3] = {s->x_d, s->lab_d, s->tgt_d};
    for (int k = 0; k < 3; k++) {
        if (!p[k])
            continue;
        (void)cudaFree(p[k]);
        for (int i = 0; i < g->nallocs; i++)
            if (g->allocs[i] == p[k]) {
                g->allocs[i] = g->allocs[--g->nallocs];
                break;
            }
    }
    memset(s, 0, sizeof *s);
}

/* The device copy of d (dense, n > 0, checked by the caller), uploaded if not cached. */
static int ds_get(gctx *g, const model *m, const dataset *d, gds **out, qsgd_err *err) {
    /* labels for the classifiers, targets for leastsq: what the kernels read (nn_check_data
     * made sure it is there), not whichever array happens to be non-NULL, so that a dataset
     * carrying both cannot leave tgt_d NULL and fault the context for every model. */
    const int labels = m->shape.nclass > 0;
    uint64_t fp = ds_fingerprint(d, labels);
    const size_t dim = d->shape.dim;
    gds *hit = NULL, *same = NULL, *empty = NULL, *lru = NULL;
    for (int i = 0; i < GDS_SLOTS; i++) {
        gds *s = &g->ds[i];
        if (!s->x_d) {
            if (!empty)
                empty = s;
            continue;
        }
        if (s->key == d && s->x == d->x && s->n == d->n && s->dim == dim && s->fp == fp)
            hit = s;
        else if (s->key == d)
            same = s;
        if (!lru || s->used < lru->used)
            lru = s;
    }
    if (hit) {
        hit->used = ++g->clock;
        *out = hit;
        return QSGD_OK;
    }
    gds *s = same ? same : empty ? empty : lru;
    ds_release(g, s);
    if (d->n > SIZE_MAX / sizeof(float) / dim)
        return QSGD_FAIL(err, QSGD_ENOMEM, "model %s (cuda): dataset '%s' too large", m->type->name,
                         d->source);
    size_t nx = d->n * dim;
    int rc = DALLOC(s->x_d, nx);
    if (rc == QSGD_OK && labels)
        rc = DALLOC(s->lab_d, d->n);
    else if (rc == QSGD_OK)
        rc = DALLOC(s->tgt_d, d->n);
    if (rc != QSGD_OK) {
        char why[sizeof err->msg] = "";
        if (err)
            snprintf(why, sizeof why, "%s", err->msg);
        ds_release(g, s);
        return QSGD_FAIL(err, rc, "dataset '%.60s' (%zu x %zu floats, %.1f MiB) on the GPU: %s",
                         d->source, d->n, dim, (double)nx * 4.0 / 1048576.0, why);
    }
    cudaError_t e =
        cudaMemcpyAsync(s->x_d, d->x, nx * sizeof(float), cudaMemcpyHostToDevice, g->st);
    if (e == cudaSuccess && s->lab_d)
        e = cudaMemcpyAsync(s->lab_d, d->label, d->n * sizeof(int32_t), cudaMemcpyHostToDevice,
                            g->st);
    if (e == cudaSuccess && s->tgt_d)
        e = cudaMemcpyAsync(s->tgt_d, d->target, d->n * sizeof(float), cudaMemcpyHostToDevice,
                            g->st);
    if (e == cudaSuccess)
        e = cudaStreamSynchronize(g->st);
    if (e != cudaSuccess) {
        ds_release(g, s);
        return cu_fail(err, m, "uploading the dataset", e, __LINE__);
    }
    s->key = d;
    s->x = d->x;
    s->n = d->n;
    s->dim = dim;
    s->fp = fp;
    s->used = ++g->clock;
    *out = s;
    return QSGD_OK;
}

/* ---- host-side checks ------------------------------------------------------------------------ */

/* Dense data of the model's shape (the CPU check, with a CUDA-specific word for CSR). */
static int check_data(const model *m, const dataset *d, qsgd_err *err) {
    if (d && d->layout == DATA_CSR)
        return QSGD_FAIL(err, QSGD_EINVAL,
                         "model %s (cuda): dataset '%s' is CSR (sparse), which the CUDA models do "
                         "not take (dense rows only): densify it or use device cpu",
                         m->type->name, d->source);
    return nn_check_data(m, d, 0, err);
}

/* Label check of rows [0, n) (evaluate), with nn_gather_labels' message. */
static int check_labels_all(const model *m, const dataset *d, qsgd_err *err) {
    if (m->shape.nclass <= 0)
        return QSGD_OK;
    for (size_t i = 0; i < d->n; i++) {
        int32_t y = d->label[i];
        if (y < 0 || y >= m->shape.nclass)
            return QSGD_FAIL(err, QSGD_EINVAL, "dataset '%s': row %zu has label %d, not in [0, %d)",
                             d->source, i, (int)y, m->shape.nclass);
    }
    return QSGD_OK;
}

/* Batch checks of loss_grad: size, row indices < n, labels; indices into g->idx_h.
 * *contig = the rows are idx[0], idx[0]+1, ... (no gather needed for dense rows). */
static int prep_batch(gctx *g, const model *m, const dataset *d, const size_t *idx, size_t B,
                      int *contig, qsgd_err *err) {
    if (B == 0 || B > m->max_batch)
        return QSGD_FAIL(err, QSGD_EINVAL, "model %s: batch %zu not in [1, %zu]", m->type->name, B,
                         m->max_batch);
    if (!idx)
        return QSGD_FAIL(err, QSGD_EINVAL, "model %s: NULL row indices", m->type->name);
    int c = 1;
    for (size_t i = 0; i < B; i++) {
        size_t r = idx[i];
        if (r >= d->n)
            return QSGD_FAIL(err, QSGD_EINVAL,
                             "model %s (cuda): row index %zu at batch position %zu is not below "
                             "the %zu rows of dataset '%s'",
                             m->type->name, r, i, d->n, d->source);
        if (m->shape.nclass > 0) {
            int32_t y = d->label[r];
            if (y < 0 || y >= m->shape.nclass)
                return QSGD_FAIL(err, QSGD_EINVAL,
                                 "dataset '%s': row %zu has label %d, not in [0, %d)", d->source, r,
                                 (int)y, m->shape.nclass);
        }
        c &= r == idx[0] + i;
        g->idx_h[i] = (long long)r;
    }
    *contig = c;
    return QSGD_OK;
}

/* ---- forward / backward per model -------------------------------------------------------------
 * A batch is rows idx_d[0..B) of the device dataset s, or rows start..start+B when idx_d is
 * NULL. The forward passes leave the logits / scores in g->z, act[nl-1] or g->logits without
 * the output bias, which the loss kernels add. */

static const float *dense_rows(gctx *g, const model *m, const gds *s, const long long *idx_d,
                               size_t start, size_t B, int *rc, qsgd_err *err) {
    const size_t dim = m->shape.dim;
    *rc = QSGD_OK;
    if (!idx_d)
        return s->x_d + start * dim;
    size_t n = B * dim;
    if (n) {
        QSGD_KLAUNCH(k_gather_rows, grid_for(g, n), TPB, g->st, g->xb, s->x_d, idx_d, start, B,
                     dim);
        cudaError_t e = cudaGetLastError();
        if (e != cudaSuccess)
            *rc = cu_fail(err, m, "k_gather_rows", e, __LINE__);
    }
    return g->xb;
}

/* glm: scores z[B][out] = X W^T, then the link (per-row losses; dz in place when scale != 0). */
static int glm_forward_link(gctx *g, const model *m, const gds *s, const long long *idx_d,
                            size_t start, size_t B, float scale, int write, const float **X,
                            qsgd_err *err) {
    int rc;
    *X = dense_rows(g, m, s, idx_d, start, B, &rc, err);
    TRY(rc);
    const size_t dim = m->shape.dim;
    TRY(lin_fwd(g, m, g->z, *X, g->theta, B, dim, g->out, err));
    if (g->kind == GK_LEASTSQ) {
        LAUNCH_N(B, k_lsq, g->z, s->tgt_d, idx_d, start, B, scale, write, g->rowloss);
    } else if (g->kind == GK_LOGREG) {
        LAUNCH_N(B, k_logreg, g->z, g->theta + dim, s->lab_d, idx_d, start, B, scale, write,
                 g->rowloss, g->rowok);
    } else {
        LAUNCH_N(B, k_xent, write ? g->z : (float *)NULL, g->z, g->theta + g->nw, s->lab_d, idx_d,
                 start, B, g->out, scale, g->rowloss, g->rowok);
    }
    return QSGD_OK;
}

static int glm_backward(gctx *g, const model *m, const float *X, size_t B, qsgd_err *err) {
    const size_t dim = m->shape.dim;
    float *db = g->kind == GK_LEASTSQ ? NULL : g->grad + g->nw;
    TRY(lin_bwd(g, m, g->grad, db, NULL, g->z, X, NULL, B, dim, g->out, err));
    double l2 = m->params.l2;
    if (l2 > 0)
        LAUNCH_N(g->nw, k_l2, g->grad, g->theta, g->nw, (float)l2);
    return QSGD_OK;
}

/* mlp: logits (without the output bias) in act[nl-1]; *X = the input rows. */
static int mlp_forward(gctx *g, const model *m, const gds *s, const long long *idx_d, size_t start,
                       size_t B, const float **X, qsgd_err *err) {
    int rc;
    *X = dense_rows(g, m, s, idx_d, start, B, &rc, err);
    TRY(rc);
    const float *in = *X;
    for (int l = 0; l < g->nl; l++) {
        TRY(lin_fwd(g, m, g->act[l], in, g->theta + g->woff[l], B, g->width[l], g->width[l + 1],
                    err));
        if (l < g->nl - 1)
            LAUNCH_N(B * g->width[l + 1], k_bias_relu, g->act[l], g->theta + g->boff[l], B,
                     g->width[l + 1]);
        in = g->act[l];
    }
    return QSGD_OK;
}

/* act[nl-1] holds d loss / d logits. */
static int mlp_backward(gctx *g, const model *m, const float *X, size_t B, qsgd_err *err) {
    const float *dy = g->act[g->nl - 1];
    for (int l = g->nl - 1; l >= 0; l--) {
        const float *in = l > 0 ? g->act[l - 1] : X;
        float *dx = l > 0 ? g->dact[l - 1] : NULL;
        TRY(lin_bwd(g, m, g->grad + g->woff[l], g->grad + g->boff[l], dx, dy, in,
                    g->theta + g->woff[l], B, g->width[l], g->width[l + 1], err));
        if (dx) {
            LAUNCH_N(B * g->width[l], k_relu_bwd, dx, g->act[l - 1], B * g->width[l]);
            dy = dx;
        }
    }
    return QSGD_OK;
}

static const float *conv_input(const gctx *g, int l) {
    return l == 0 ? g->x0 : g->cv[l - 1].out;
}

/* cnn: logits (without out.b) in g->logits. */
static int cnn_forward(gctx *g, const model *m, const gds *s, const long long *idx_d, size_t start,
                       size_t B, qsgd_err *err) {
    const size_t C0 = m->shape.channels, HW0 = m->shape.height * m->shape.width;
    LAUNCH_N(B * C0 * HW0, k_gather_hwc, g->x0, s->x_d, idx_d, start, B, C0, HW0);
    for (int l = 0; l < g->nconv; l++) {
        gconv *c = &g->cv[l];
        const size_t K = 9 * c->cin, hw = c->H * c->W, ohw = (c->H / 2) * (c->W / 2);
        const float *in = conv_input(g, l);
        LAUNCH_N(c->cout * c->cin * 9, k_w_to_gemm, c->wg, g->theta + c->woff, c->cout, c->cin);
        for (size_t b0 = 0; b0 < B; b0 += g->chunk) {
            size_t nb = B - b0 < g->chunk ? B - b0 : g->chunk;
            LAUNCH_N(nb * hw * K, k_im2col, g->col, in + b0 * hw * c->cin, nb, c->H, c->W, c->cin);
            TRY(gemm_rm(g, m, 'N', 'T', nb * hw, c->cout, K, 1.0f, g->col, K, c->wg, K, 0.0f, g->cz,
                        c->cout, err));
            LAUNCH_N(nb * ohw * c->cout, k_pool_fwd, c->out + b0 * ohw * c->cout,
                     c->arg + b0 * ohw * c->cout, g->cz, g->theta + c->boff, nb, c->H, c->W,
                     c->cout);
        }
    }
    const float *f = g->cv[g->nconv - 1].out;
    size_t last = g->feat;
    if (g->fc) {
        TRY(lin_fwd(g, m, g->h, f, g->theta + g->fcw, B, g->feat, g->fc, err));
        LAUNCH_N(B * g->fc, k_bias_relu, g->h, g->theta + g->fcb, B, g->fc);
        f = g->h;
        last = g->fc;
    }
    return lin_fwd(g, m, g->logits, f, g->theta + g->ow, B, last, g->ncls, err);
}

/* g->logits holds d loss / d logits. */
static int cnn_backward(gctx *g, const model *m, size_t B, qsgd_err *err) {
    gconv *top = &g->cv[g->nconv - 1];
    const float *f = top->out;
    if (g->fc) {
        TRY(lin_bwd(g, m, g->grad + g->ow, g->grad + g->ob, g->dh, g->logits, g->h,
                    g->theta + g->ow, B, g->fc, g->ncls, err));
        LAUNCH_N(B * g->fc, k_relu_bwd, g->dh, g->h, B * g->fc);
        TRY(lin_bwd(g, m, g->grad + g->fcw, g->grad + g->fcb, top->dout, g->dh, f,
                    g->theta + g->fcw, B, g->feat, g->fc, err));
    } else {
        TRY(lin_bwd(g, m, g->grad + g->ow, g->grad + g->ob, top->dout, g->logits, f,
                    g->theta + g->ow, B, g->feat, g->ncls, err));
    }
    for (int l = g->nconv - 1; l >= 0; l--) {
        gconv *c = &g->cv[l];
        const size_t K = 9 * c->cin, hw = c->H * c->W, ohw = (c->H / 2) * (c->W / 2);
        const float *in = conv_input(g, l);
        for (size_t b0 = 0; b0 < B; b0 += g->chunk) {
            size_t nb = B - b0 < g->chunk ? B - b0 : g->chunk;
            size_t po = b0 * ohw * c->cout;
            if ((c->H & 1) || (c->W & 1))
                CU(cudaMemsetAsync(g->cz, 0, nb * hw * c->cout * sizeof(float), g->st));
            LAUNCH_N(nb * ohw * c->cout, k_pool_bwd, g->cz, c->dout + po, c->out + po, c->arg + po,
                     nb, c->H, c->W, c->cout);
            TRY(colsum(g, m, g->grad + c->boff, c->dout + po, c->out + po, nb * ohw, c->cout,
                       b0 > 0, err));
            LAUNCH_N(nb * hw * K, k_im2col, g->col, in + b0 * hw * c->cin, nb, c->H, c->W, c->cin);
            TRY(gemm_rm(g, m, 'T', 'N', c->cout, K, nb * hw, 1.0f, g->cz, c->cout, g->col, K,
                        b0 ? 1.0f : 0.0f, c->dwg, K, err));
            if (l > 0) {
                TRY(gemm_rm(g, m, 'N', 'N', nb * hw, K, c->cout, 1.0f, g->cz, c->cout, c->wg, K,
                            0.0f, g->col, K, err));
                LAUNCH_N(nb * hw * c->cin, k_col2im, g->cv[l - 1].dout + b0 * hw * c->cin, g->col,
                         nb, c->H, c->W, c->cin);
            }
        }
        LAUNCH_N(c->cout * c->cin * 9, k_w_from_gemm, g->grad + c->woff, c->dwg, c->cout, c->cin);
    }
    return QSGD_OK;
}

/* ---- entry points ---------------------------------------------------------------------------- */

/* The kernels of a CPU type, from its table (model_type.cuda), or -1 when it has none. */
static int g_kind_of(const model_type *cpu) {
    return cpu && cpu->cuda >= GK_LEASTSQ && cpu->cuda <= GK_CNN ? cpu->cuda : -1;
}

static cublasMath_t math_mode(void) {
    const char *e = getenv("QSGDSIM_CUDA_MATH");
    if (e && !strcmp(e, "default"))
        return CUBLAS_DEFAULT_MATH;
    if (e && !strcmp(e, "tf32"))
        return CUBLAS_TF32_TENSOR_OP_MATH;
    return CUBLAS_PEDANTIC_MATH;
}

static const model_tensor *tensor_at(const model *m, size_t i, const char *name) {
    if (i >= m->ntensors || strcmp(m->tensors[i].name, name) != 0)
        return NULL;
    return &m->tensors[i];
}

static int layout_fail(const model *m, qsgd_err *err) {
    return QSGD_FAIL(err, QSGD_EINVAL,
                     "model %s (cuda): internal: unexpected tensor table of the CPU model",
                     m->type->name);
}

/* The layer structure, read back from the CPU model's tensor table. */
static int read_layers(gctx *g, const model *m, qsgd_err *err) {
    const data_shape *sh = &m->shape;
    if (g->kind <= GK_SOFTMAX) {
        g->out = g->kind == GK_SOFTMAX ? (size_t)sh->nclass : 1;
        g->nw = g->out * sh->dim;
        const model_tensor *w = m->ntensors ? &m->tensors[0] : NULL;
        if (!w || w->numel != g->nw || w->offset != 0 ||
            m->nparams != g->nw + (g->kind == GK_LEASTSQ ? 0 : g->out))
            return layout_fail(m, err);
        return QSGD_OK;
    }
    if (g->kind == GK_MLP) {
        if (m->ntensors % 2 || m->ntensors < 2 || m->ntensors / 2 > G_MAXL)
            return layout_fail(m, err);
        g->nl = (int)(m->ntensors / 2);
        g->width[0] = sh->dim;
        for (int l = 0; l < g->nl; l++) {
            const model_tensor *w = &m->tensors[2 * l], *b = &m->tensors[2 * l + 1];
            if (w->ndim != 2 || w->shape[1] != g->width[l] || b->numel != w->shape[0])
                return layout_fail(m, err);
            g->width[l + 1] = w->shape[0];
            g->woff[l] = w->offset;
            g->boff[l] = b->offset;
        }
        if (g->width[g->nl] != (size_t)sh->nclass)
            return layout_fail(m, err);
        return QSGD_OK;
    }
    /* cnn */
    size_t C = sh->channels, H = sh->height, W = sh->width, i = 0;
    g->nconv = 0;
    while (i + 1 < m->ntensors && !strncmp(m->tensors[i].name, "conv", 4)) {
        const model_tensor *w = &m->tensors[i], *b = &m->tensors[i + 1];
        if (g->nconv >= G_MAXC || w->ndim != 4 || w->shape[1] != C || w->shape[2] != 3 ||
            w->shape[3] != 3 || b->numel != w->shape[0] || H < 2 || W < 2)
            return layout_fail(m, err);
        gconv *c = &g->cv[g->nconv++];
        c->cin = C;
        c->cout = w->shape[0];
        c->H = H;
        c->W = W;
        c->woff = w->offset;
        c->boff = b->offset;
        C = c->cout;
        H /= 2;
        W /= 2;
        i += 2;
    }
    if (g->nconv == 0)
        return layout_fail(m, err);
    g->feat = C * H * W;
    g->ncls = (size_t)sh->nclass;
    size_t last = g->feat;
    const model_tensor *fw = tensor_at(m, i, "fc1.w");
    g->fc = 0;
    if (fw) {
        const model_tensor *fb = tensor_at(m, i + 1, "fc1.b");
        if (!fb || fw->shape[1] != g->feat)
            return layout_fail(m, err);
        g->fc = fw->shape[0];
        g->fcw = fw->offset;
        g->fcb = fb->offset;
        last = g->fc;
        i += 2;
    }
    const model_tensor *ow = tensor_at(m, i, "out.w"), *ob = tensor_at(m, i + 1, "out.b");
    if (!ow || !ob || ow->shape[0] != g->ncls || ow->shape[1] != last || i + 2 != m->ntensors)
        return layout_fail(m, err);
    g->ow = ow->offset;
    g->ob = ob->offset;
    return QSGD_OK;
}

static size_t max_sz(size_t a, size_t b) {
    return a > b ? a : b;
}

static size_t parts(size_t rows, size_t cols) {
    return (rows + CS_ROWS - 1) / CS_ROWS * cols;
}

/* Device resources and workspaces (m->impl == g already). */
static int g_setup(gctx *g, model *m, size_t max_batch, qsgd_err *err) {
    const size_t dim = m->shape.dim, MB = max_batch;
    char why[160] = "";
    if (gpu_device_count(why, sizeof why) <= 0)
        return QSGD_FAIL(err, QSGD_EINVAL, "model %s (cuda): no usable CUDA GPU (%s)",
                         m->type->name, why);
    g->dev = 0;
    CU(cudaSetDevice(g->dev));
    g->dev_ok = 1;
    CU(cudaDeviceGetAttribute(&g->nsm, cudaDevAttrMultiProcessorCount, g->dev));
    CU(cudaStreamCreateWithFlags(&g->st, cudaStreamNonBlocking));
    CB(cublasCreate(&g->blas));
    CB(cublasSetStream(g->blas, g->st)); /* resets the workspace: set it afterwards */
    CB(cublasSetPointerMode(g->blas, CUBLAS_POINTER_MODE_HOST));
    CB(cublasSetAtomicsMode(g->blas, CUBLAS_ATOMICS_NOT_ALLOWED));
    CB(cublasSetMathMode(g->blas, math_mode()));
    void *ws = NULL;
    TRY(dalloc(g, m, &ws, G_BLAS_WS, 1, err));
    CB(cublasSetWorkspace(g->blas, ws, G_BLAS_WS));

    /* cuBLAS takes int dimensions */
    TRY(check_int(m, dim, "dim", err));
    TRY(check_int(m, MB, "max_batch", err));

    TRY(DALLOC(g->theta, m->nparams));
    TRY(DALLOC(g->grad, m->nparams));
    TRY(DALLOC(g->idx, MB));
    TRY(DALLOC(g->rowloss, MB));
    TRY(DALLOC(g->rowok, MB));
    TRY(DALLOC(g->acc, 1));
    CU(cudaMallocHost((void **)&g->idx_h, MB * sizeof *g->idx_h));
    CU(cudaMallocHost((void **)&g->acc_h, sizeof *g->acc_h));
    if (MB > SIZE_MAX / sizeof(float) / dim)
        return QSGD_FAIL(err, QSGD_ENOMEM, "model %s (cuda): batch buffer overflows",
                         m->type->name);

    size_t part = 0;
    if (g->kind <= GK_SOFTMAX) {
        TRY(DALLOC(g->xb, MB * dim));
        TRY(DALLOC(g->z, MB * g->out));
        part = parts(MB, g->out);
    } else if (g->kind == GK_MLP) {
        TRY(DALLOC(g->xb, MB * dim));
        for (int l = 0; l < g->nl; l++) {
            TRY(check_int(m, g->width[l + 1], "layer width", err));
            TRY(DALLOC(g->act[l], MB * g->width[l + 1]));
            if (l < g->nl - 1)
                TRY(DALLOC(g->dact[l], MB * g->width[l + 1]));
            part = max_sz(part, parts(MB, g->width[l + 1]));
        }
    } else {
        g->chunk = MB < G_CNN_CHUNK ? MB : G_CNN_CHUNK;
        size_t colmax = 0, zmax = 0;
        TRY(DALLOC(g->x0, MB * dim));
        for (int l = 0; l < g->nconv; l++) {
            gconv *c = &g->cv[l];
            size_t hw = c->H * c->W, ohw = (c->H / 2) * (c->W / 2), K = 9 * c->cin;
            TRY(check_int(m, g->chunk * hw, "chunk*H*W", err));
            TRY(check_int(m, K, "9*channels", err));
            TRY(check_int(m, c->cout, "channels", err));
            colmax = max_sz(colmax, hw * K);
            zmax = max_sz(zmax, hw * c->cout);
            TRY(DALLOC(c->wg, c->cout * K));
            TRY(DALLOC(c->dwg, c->cout * K));
            TRY(DALLOC(c->out, MB * ohw * c->cout));
            TRY(DALLOC(c->dout, MB * ohw * c->cout));
            TRY(DALLOC(c->arg, MB * ohw * c->cout));
            part = max_sz(part, parts(g->chunk * ohw, c->cout));
        }
        TRY(check_int(m, g->feat, "features", err));
        TRY(DALLOC(g->col, g->chunk * colmax));
        TRY(DALLOC(g->cz, g->chunk * zmax));
        if (g->fc) {
            TRY(check_int(m, g->fc, "fc", err));
            TRY(DALLOC(g->h, MB * g->fc));
            TRY(DALLOC(g->dh, MB * g->fc));
            part = max_sz(part, parts(MB, g->fc));
        }
        TRY(DALLOC(g->logits, MB * g->ncls));
        part = max_sz(part, parts(MB, g->ncls));
    }
    g->part_cap = part;
    TRY(DALLOC(g->part, part));

    char name[80];
    if (gpu_device_describe(g->dev, name, sizeof name) != 0)
        snprintf(name, sizeof name, "(unnamed)");
    snprintf(m->device_desc, sizeof m->device_desc, "cuda:%d %s", g->dev, name);
    m->on_gpu = 1;
    return QSGD_OK;
}

static int g_init(model *m, const data_shape *shape, size_t max_batch, qsgd_err *err) {
    const model_type *cpu = model_type_find(m->type->name);
    int kind = g_kind_of(cpu);
    if (kind < 0)
        return QSGD_FAIL(err, QSGD_EINVAL, "model %s has no CUDA implementation", m->type->name);
    /* The CPU init: option defaults, shape checks, tensor table, the impl init_params reads.
     * A batch of 1 keeps its (unused) host workspaces small. */
    int rc = cpu->init(m, shape, 1, err);
    gctx *g = (gctx *)calloc(1, sizeof *g);
    if (!g) {
        if (cpu->fini)
            cpu->fini(m);
        m->impl = NULL;
        return rc ? rc : QSGD_FAIL(err, QSGD_ENOMEM, "model %s (cuda): out of memory", cpu->name);
    }
    g->kind = kind;
    g->cpu = cpu;
    g->cpu_impl = m->impl;
    m->impl = g;
    if (rc)
        return rc;
    TRY(read_layers(g, m, err));
    return g_setup(g, m, max_batch, err);
}

static void g_fini(model *m) {
    gctx *g = (gctx *)m->impl;
    if (!g)
        return;
    if (g->dev_ok) {
        (void)cudaSetDevice(g->dev);
        if (g->st)
            (void)cudaStreamSynchronize(g->st);
        for (int i = 0; i < g->nallocs; i++)
            (void)cudaFree(g->allocs[i]);
        if (g->idx_h)
            (void)cudaFreeHost(g->idx_h);
        if (g->acc_h)
            (void)cudaFreeHost(g->acc_h);
        if (g->blas)
            (void)cublasDestroy(g->blas);
        if (g->st)
            (void)cudaStreamDestroy(g->st);
        (void)cudaGetLastError();
    }
    const model_type *cpu = g->cpu;
    m->impl = g->cpu_impl;
    free(g);
    if (cpu && cpu->fini)
        cpu->fini(m);
    m->impl = NULL;
}

/* The CPU model as the CPU functions expect it (same tensors, its own impl). */
static model cpu_view(const model *m) {
    const gctx *g = (const gctx *)m->impl;
    model c = *m;
    c.type = g->cpu;
    c.impl = g->cpu_impl;
    return c;
}

static void g_init_params(const model *m, float *theta, uint64_t seed) {
    model c = cpu_view(m);
    c.type->init_params(&c, theta, seed);
}

static double g_flops(const model *m) {
    model c = cpu_view(m);
    return c.type->flops_per_sample(&c);
}

static int g_loss_grad(model *m, const float *theta, const dataset *d, const size_t *idx,
                       size_t batch, double *loss, float *grad, qsgd_err *err) {
    gctx *g = (gctx *)m->impl;
    TRY(check_data(m, d, err));
    int contig = 0;
    TRY(prep_batch(g, m, d, idx, batch, &contig, err));
    CU(cudaSetDevice(g->dev));
    gds *s = NULL;
    TRY(ds_get(g, m, d, &s, err));
    CU(cudaMemcpyAsync(g->theta, theta, m->nparams * sizeof(float), cudaMemcpyHostToDevice, g->st));
    const long long *idx_d = NULL;
    size_t start = 0;
    if (contig) { /* rows start.. : no index upload, no gather for dense rows */
        start = idx[0];
    } else {
        CU(cudaMemcpyAsync(g->idx, g->idx_h, batch * sizeof *g->idx, cudaMemcpyHostToDevice,
                           g->st));
        idx_d = g->idx;
    }
    const float scale = 1.0f / (float)batch;
    const float *X = NULL;
    int with_ok = g->kind != GK_LEASTSQ;
    if (g->kind <= GK_SOFTMAX) {
        TRY(glm_forward_link(g, m, s, idx_d, start, batch, scale, 1, &X, err));
        TRY(glm_backward(g, m, X, batch, err));
    } else if (g->kind == GK_MLP) {
        TRY(mlp_forward(g, m, s, idx_d, start, batch, &X, err));
        float *z = g->act[g->nl - 1];
        LAUNCH_N(batch, k_xent, z, z, g->theta + g->boff[g->nl - 1], s->lab_d, idx_d, start, batch,
                 g->width[g->nl], scale, g->rowloss, g->rowok);
        TRY(mlp_backward(g, m, X, batch, err));
    } else {
        TRY(cnn_forward(g, m, s, idx_d, start, batch, err));
        LAUNCH_N(batch, k_xent, g->logits, g->logits, g->theta + g->ob, s->lab_d, idx_d, start,
                 batch, g->ncls, scale, g->rowloss, g->rowok);
        TRY(cnn_backward(g, m, batch, err));
    }
    TRY(reduce_rows(g, m, batch, with_ok, 0, err));
    CU(cudaMemcpyAsync(grad, g->grad, m->nparams * sizeof(float), cudaMemcpyDeviceToHost, g->st));
    CU(cudaMemcpyAsync(g->acc_h, g->acc, sizeof *g->acc_h, cudaMemcpyDeviceToHost, g->st));
    /* the regularizer on the host while the GPU works (nn_sumsq, as the CPU models) */
    double l2 = g->kind <= GK_SOFTMAX ? m->params.l2 : 0.0;
    double reg = l2 > 0 ? 0.5 * l2 * nn_sumsq(theta, g->nw) : 0.0;
    CU(cudaStreamSynchronize(g->st));
    *loss = g->acc_h->loss / (double)batch + reg;
    return QSGD_OK;
}

static int g_evaluate(model *m, const float *theta, const dataset *d, double *loss,
                      double *accuracy, qsgd_err *err) {
    gctx *g = (gctx *)m->impl;
    TRY(check_data(m, d, err));
    TRY(check_labels_all(m, d, err));
    double l2 = g->kind <= GK_SOFTMAX ? m->params.l2 : 0.0;
    double reg = l2 > 0 ? 0.5 * l2 * nn_sumsq(theta, g->nw) : 0.0;
    if (d->n == 0) {
        *loss = reg;
        if (accuracy)
            *accuracy = NAN;
        return QSGD_OK;
    }
    CU(cudaSetDevice(g->dev));
    gds *s = NULL;
    TRY(ds_get(g, m, d, &s, err));
    CU(cudaMemcpyAsync(g->theta, theta, m->nparams * sizeof(float), cudaMemcpyHostToDevice, g->st));
    int with_ok = g->kind != GK_LEASTSQ;
    for (size_t start = 0; start < d->n; start += m->max_batch) {
        size_t B = d->n - start < m->max_batch ? d->n - start : m->max_batch;
        const float *X = NULL;
        if (g->kind <= GK_SOFTMAX) {
            TRY(glm_forward_link(g, m, s, NULL, start, B, 0.0f, 0, &X, err));
        } else if (g->kind == GK_MLP) {
            TRY(mlp_forward(g, m, s, NULL, start, B, &X, err));
            LAUNCH_N(B, k_xent, (float *)NULL, g->act[g->nl - 1], g->theta + g->boff[g->nl - 1],
                     s->lab_d, (const long long *)NULL, start, B, g->width[g->nl], 0.0f, g->rowloss,
                     g->rowok);
        } else {
            TRY(cnn_forward(g, m, s, NULL, start, B, err));
            LAUNCH_N(B, k_xent, (float *)NULL, g->logits, g->theta + g->ob, s->lab_d,
                     (const long long *)NULL, start, B, g->ncls, 0.0f, g->rowloss, g->rowok);
        }
        TRY(reduce_rows(g, m, B, with_ok, start > 0, err));
    }
    CU(cudaMemcpyAsync(g->acc_h, g->acc, sizeof *g->acc_h, cudaMemcpyDeviceToHost, g->st));
    CU(cudaStreamSynchronize(g->st));
    *loss = g->acc_h->loss / (double)d->n + reg;
    if (accuracy)
        *accuracy = g->kind == GK_LEASTSQ ? NAN : (double)g->acc_h->ok / (double)d->n;
    return QSGD_OK;
}

/* ---- the type tables ------------------------------------------------------------------------ */

#define G_TYPE(cpu)                                                                                \
    {                                                                                              \
        (cpu).name, (cpu).summary, g_init, g_fini, g_init_params, g_loss_grad, g_evaluate,         \
            g_flops, (cpu).opts, (cpu).throughput_ref, (cpu).label_opt, (cpu).timing_only,         \
            (cpu).cuda                                                                             \
    }

/* The twins of the registry's types that name a CUDA implementation (model_type.cuda), in
 * registry order (the first G_MAX_TYPES of them): a CPU type gets its twin from its table
 * row alone. Built on first use from the CPU tables (their strings: same names and
 * options); a function-local static, so the first use may come from any thread. */
enum { G_MAX_TYPES = 32 };
typedef struct gtypes {
    model_type t[G_MAX_TYPES];
    size_t n;
} gtypes;

static gtypes g_make_types(void) {
    gtypes tw;
    memset(&tw, 0, sizeof tw);
    for (const model_type *const *p = model_types(); *p && tw.n < G_MAX_TYPES; p++)
        if (g_kind_of(*p) >= 0) {
            const model_type twin = G_TYPE(**p);
            tw.t[tw.n++] = twin;
        }
    return tw;
}

static const gtypes &g_types(void) {
    static const gtypes tw = g_make_types();
    return tw;
}

extern "C" const model_type *model_cuda_type(const char *name, char *why, size_t len) {
    const gtypes &tw = g_types();
    char names[256] = "";
    size_t off = 0;
    for (size_t i = 0; i < tw.n; i++) {
        if (name && !strcmp(tw.t[i].name, name))
            return &tw.t[i];
        if (off < sizeof names)
            off += (size_t)snprintf(names + off, sizeof names - off, "%s%s", i ? ", " : "",
                                    tw.t[i].name);
    }
    if (why && len)
        snprintf(why, len, "model %s has no CUDA implementation (CUDA models: %s)",
                 name ? name : "(null)", names);
    return NULL;
}
