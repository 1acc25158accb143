/* nn_ops.h — CPU kernels and helpers shared by the model_*.c files (internal to models/):
 * aligned workspaces, tensor tables, row/label gathering, dense and CSR linear layers on
 * OpenBLAS, fused bias+ReLU, numerically stable softmax cross-entropy, and the HWC
 * convolution kernels of the cnn (3x3 im2col/col2im, 2x2 max-pool with saved argmax).
 *
 * Layout conventions: a minibatch of activations is row-major [batch][features]; images
 * inside the cnn are HWC per sample ([batch][h][w][c], channels fastest), so that a 3x3
 * convolution is one GEMM over all batch*h*w pixels and pooling vectorizes over channels.
 * Nothing here allocates except nn_falloc/nn_alloc (used in model init only); nothing holds
 * state between calls.
 */
#ifndef QSGDSIM_NN_OPS_H
#define QSGDSIM_NN_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"

/* ---- errors, memory, tensors ------------------------------------------------------- */

/* 64-byte aligned, uninitialised; NULL on failure (or for n == 0: a 64-byte block). Free
 * with free(). */
void *nn_alloc(size_t bytes);
float *nn_falloc(size_t n); /* n floats */

/* Allocate m->tensors for up to cap tensors (zeroed, m->ntensors = m->nparams = 0). */
int nn_tensors_begin(model *m, size_t cap, qsgd_err *err);
/* Append tensor `name` of the given shape at offset m->nparams; returns its offset. */
size_t nn_tensor_add(model *m, const char *name, int ndim, size_t d0, size_t d1, size_t d2,
                     size_t d3);

/* Check that d can be fed to m: same dim and nclass as m->shape, a label array when
 * nclass > 0 (target when 0), the storage for its layout present, and (when !csr_ok)
 * a dense layout. */
int nn_check_data(const model *m, const dataset *d, int csr_ok, qsgd_err *err);

/* lab[i] = d->label[idx[i]], checking 0 <= label < nclass. */
int nn_gather_labels(int32_t *lab, const dataset *d, const size_t *idx, size_t n, int nclass,
                     qsgd_err *err);

/* dst[i][0..dim) = x[idx[i]][0..dim) */
void nn_gather_rows(float *dst, const float *x, size_t dim, const size_t *idx, size_t n);

/* Rows idx[0..n) of the dense matrix x[][dim]: a pointer into x itself when the indices
 * are consecutive (no copy), else gathered into buf[n][dim] and buf returned. */
const float *nn_rows(const float *x, size_t dim, const size_t *idx, size_t n, float *buf);

/* idx[i] = start + i, for evaluate chunks. */
void nn_iota(size_t *idx, size_t start, size_t n);

/* sum_i x[i]^2 in double. */
double nn_sumsq(const float *x, size_t n);

/* ---- BLAS --------------------------------------------------------------------------
 * Row-major single-precision GEMM/GEMV, C = alpha op(A) op(B) + beta C with op = transpose
 * when ta/tb is 'T' (else 'N'). They call OpenBLAS through its Fortran symbols (sgemm_,
 * sgemv_) on purpose: GSL's libgslcblas also defines every cblas_* symbol, and when it
 * precedes OpenBLAS on the link line the dynamic linker would bind cblas_sgemm to GSL's
 * slow reference implementation. */
void nn_sgemm(char ta, char tb, size_t M, size_t N, size_t K, float alpha, const float *A,
              size_t lda, const float *B, size_t ldb, float beta, float *C, size_t ldc);
/* y[M or N] = alpha op(A) x + beta y for A[M][N] row-major, op per ta. */
void nn_sgemv(char ta, size_t M, size_t N, float alpha, const float *A, size_t lda, const float *x,
              float beta, float *y);

/* ---- linear layers --------------------------------------------------------------- */

/* y[B][out] = x[B][in] W^T + b (b may be NULL), then ReLU when relu != 0. W is [out][in]. */
void nn_linear_forward(float *y, const float *x, const float *w, const float *b, size_t B,
                       size_t in, size_t out, int relu);
/* Backward of y = x W^T + b given dy[B][out] (already multiplied by any activation mask):
 * dw[out][in] = dy^T x, db[out] = sum_rows dy (db may be NULL), and, when dx != NULL,
 * dx[B][in] = dy W. Overwrites dw, db, dx. */
void nn_linear_backward(float *dw, float *db, float *dx, const float *dy, const float *x,
                        const float *w, size_t B, size_t in, size_t out);

/* CSR rows idx[0..B) of d: z[i][j] = sum_k val_k w[j][col_k] + (b ? b[j] : 0), accumulated
 * in double. acc is a workspace of `out` doubles. */
void nn_csr_linear_forward(float *z, const dataset *d, const size_t *idx, size_t B, const float *w,
                           const float *b, size_t out, double *acc);
/* dw[j][col_k] += dy[i][j] val_k over the rows (dw is NOT cleared here). */
void nn_csr_linear_backward_accum(float *dw, const dataset *d, const size_t *idx, size_t B,
                                  const float *dy, size_t out);

/* Generalized linear model engine shared by leastsq, logreg and softmax: scores
 * z[B][out] = X W^T (+ b) for dense or CSR rows, and the weight gradient back. */
typedef struct nn_glm {
    size_t dim, out, max_batch;
    float *xb;          /* [max_batch][dim] gathered dense rows */
    float *z;           /* [max_batch][out] scores, then d loss / d z in place */
    int32_t *lab;       /* [max_batch] gathered labels */
    float *tgt;         /* [max_batch] gathered targets */
    size_t *idx;        /* [max_batch] evaluate chunk indices */
    double *acc;        /* [out] CSR accumulators */
    const float *xrows; /* rows used by the last dense forward (xb or into the dataset) */
} nn_glm;
int nn_glm_init(nn_glm *g, size_t dim, size_t out, size_t max_batch, qsgd_err *err);
void nn_glm_fini(nn_glm *g);
/* g->z[B][out] = rows idx of d times W^T, plus b (b may be NULL). */
void nn_glm_forward(nn_glm *g, const float *w, const float *b, const dataset *d, const size_t *idx,
                    size_t B);
/* From g->z holding dL/dz: dw[out][dim] (overwritten), db[out] (overwritten, may be NULL).
 * Must follow nn_glm_forward on the same rows. */
void nn_glm_backward(nn_glm *g, float *dw, float *db, const dataset *d, const size_t *idx,
                     size_t B);

/* ---- elementwise ------------------------------------------------------------------ */

/* z[r][c] = max(0, z[r][c] + b[c]) */
void nn_bias_relu(float *z, const float *b, size_t rows, size_t cols);
/* d[i] = a[i] > 0 ? d[i] : 0  (ReLU backward through its output a) */
void nn_relu_backward(float *d, const float *a, size_t n);
/* out[c] = sum_r z[r][c] */
void nn_colsum(float *out, const float *z, size_t rows, size_t cols);

/* Softmax cross-entropy of logits z[rows][cols] against lab[rows], by log-sum-exp.
 * Returns the SUM of the per-row losses (double). If dz != NULL writes
 * dz = scale * (softmax(z) - onehot(lab)); dz may alias z. If ncorrect != NULL adds the
 * number of rows whose argmax (first maximum) equals the label. */
double nn_softmax_xent(float *dz, const float *z, const int32_t *lab, size_t rows, size_t cols,
                       float scale, size_t *ncorrect);

/* ---- cnn kernels (HWC) --------------------------------------------------------------- */

/* x[B][C][H][W] (rows idx of a CHW dataset) -> dst[B][H][W][C]. */
void nn_gather_chw_to_hwc(float *dst, const float *x, const size_t *idx, size_t B, size_t C,
                          size_t H, size_t W);

/* 3x3, stride 1, zero padding 1:
 * col[(b*H + y)*W + x][(ky*3 + kx)*C + c] = in[b][y+ky-1][x+kx-1][c] (0 outside). */
void nn_im2col3x3_hwc(float *col, const float *in, size_t B, size_t H, size_t W, size_t C);
/* Adjoint of nn_im2col3x3_hwc: din = col2im(dcol) (overwrites din[B][H][W][C]). */
void nn_col2im3x3_hwc(float *din, const float *dcol, size_t B, size_t H, size_t W, size_t C);

/* Conv weights {out, in, 3, 3} (PyTorch order) <-> GEMM order [out][ky][kx][in]. */
void nn_conv_w_to_gemm(float *wg, const float *w, size_t out, size_t in);
void nn_conv_w_from_gemm(float *w, const float *wg, size_t out, size_t in);

/* Fused bias + ReLU + 2x2/2 max-pool on the conv output z[B][H][W][C] (pre-bias):
 * out[b][oy][ox][c] = max(0, bias[c] + max_{i,j<2} z[b][2oy+i][2ox+j][c]),
 * oy < H/2, ox < W/2 (floor); arg[...] = 2i+j of the maximum (first on ties).
 * (max commutes with the per-channel bias and with ReLU, so this equals pool(relu(z+b))). */
void nn_pool2_bias_relu_hwc(float *out, uint8_t *arg, const float *z, const float *bias, size_t B,
                            size_t H, size_t W, size_t C);
/* Backward of nn_pool2_bias_relu_hwc: given dout (same shape as out), writes dz[B][H][W][C]
 * (every element: the gradient at each window's argmax, 0 elsewhere) and db[C] (overwritten)
 * = sum of the ReLU-masked dout. */
void nn_pool2_bias_relu_hwc_backward(float *dz, float *db, const float *dout, const float *out,
                                     const uint8_t *arg, size_t B, size_t H, size_t W, size_t C);

#endif
