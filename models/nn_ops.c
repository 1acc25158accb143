/* nn_ops.c — CPU kernels shared by the models: OpenBLAS-backed dense layers, CSR layers
 * with double accumulation, fused elementwise passes, stable softmax cross-entropy and the
 * HWC 3x3-conv / 2x2-pool kernels of the cnn. See nn_ops.h for the layouts. */
#include "nn_ops.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- errors, memory, tensors ------------------------------------------------------- */

void *nn_alloc(size_t bytes) {
    void *p = NULL;
    size_t sz = (bytes + 63) / 64 * 64;
    if (sz == 0)
        sz = 64;
    if (posix_memalign(&p, 64, sz) != 0)
        return NULL;
    return p;
}

float *nn_falloc(size_t n) {
    if (n > SIZE_MAX / sizeof(float))
        return NULL;
    return nn_alloc(n * sizeof(float));
}

int nn_tensors_begin(model *m, size_t cap, qsgd_err *err) {
    m->tensors = calloc(cap, sizeof *m->tensors);
    m->ntensors = 0;
    m->nparams = 0;
    if (!m->tensors)
        return QSGD_FAIL(err, QSGD_ENOMEM, "model %s: out of memory for %zu tensors", m->type->name,
                         cap);
    return QSGD_OK;
}

size_t nn_tensor_add(model *m, const char *name, int ndim, size_t d0, size_t d1, size_t d2,
                     size_t d3) {
    model_tensor *t = &m->tensors[m->ntensors++];
    size_t dims[4] = {d0, d1, d2, d3};
    snprintf(t->name, sizeof t->name, "%s", name);
    t->ndim = ndim;
    t->numel = 1;
    for (int i = 0; i < ndim; i++) {
        t->shape[i] = dims[i];
        t->numel *= dims[i];
    }
    t->offset = m->nparams;
    m->nparams += t->numel;
    return t->offset;
}

int nn_check_data(const model *m, const dataset *d, int csr_ok, qsgd_err *err) {
    const char *mn = m->type->name;
    if (!d)
        return QSGD_FAIL(err, QSGD_EINVAL, "model %s: NULL dataset", mn);
    if (d->shape.dim != m->shape.dim || d->shape.nclass != m->shape.nclass)
        return QSGD_FAIL(err, QSGD_EINVAL,
                         "model %s built for dim=%zu nclass=%d, dataset '%s' has dim=%zu "
                         "nclass=%d",
                         mn, m->shape.dim, m->shape.nclass, d->source, d->shape.dim,
                         d->shape.nclass);
    if (d->layout == DATA_CSR) {
        if (!csr_ok)
            return QSGD_FAIL(err, QSGD_EINVAL,
                             "model %s needs dense data, dataset '%s' is CSR (sparse)", mn,
                             d->source);
        if (d->n > 0 && (!d->rowptr || !d->col || !d->val))
            return QSGD_FAIL(err, QSGD_EINVAL, "model %s: CSR dataset '%s' lacks arrays", mn,
                             d->source);
    } else if (d->layout == DATA_DENSE) {
        if (d->n > 0 && !d->x)
            return QSGD_FAIL(err, QSGD_EINVAL, "model %s: dense dataset '%s' has no x", mn,
                             d->source);
    } else {
        return QSGD_FAIL(err, QSGD_EINVAL, "model %s: dataset '%s' has unknown layout %d", mn,
                         d->source, (int)d->layout);
    }
    if (m->shape.nclass > 0 && d->n > 0 && !d->label)
        return QSGD_FAIL(err, QSGD_EINVAL, "model %s: dataset '%s' has no labels", mn, d->source);
    if (m->shape.nclass == 0 && d->n > 0 && !d->target)
        return QSGD_FAIL(err, QSGD_EINVAL, "model %s: dataset '%s' has no regression targets", mn,
                         d->source);
    return QSGD_OK;
}

int nn_gather_labels(int32_t *lab, const dataset *d, const size_t *idx, size_t n, int nclass,
                     qsgd_err *err) {
    for (size_t i = 0; i < n; i++) {
        int32_t y = d->label[idx[i]];
        if (y < 0 || y >= nclass)
            return QSGD_FAIL(err, QSGD_EINVAL, "dataset '%s': row %zu has label %d, not in [0, %d)",
                             d->source, idx[i], (int)y, nclass);
        lab[i] = y;
    }
    return QSGD_OK;
}

void nn_gather_rows(float *dst, const float *x, size_t dim, const size_t *idx, size_t n) {
    for (size_t i = 0; i < n; i++)
        memcpy(dst + i * dim, x + idx[i] * dim, dim * sizeof(float));
}

const float *nn_rows(const float *x, size_t dim, const size_t *idx, size_t n, float *buf) {
    size_t i = 1;
    while (i < n && idx[i] == idx[0] + i)
        i++;
    if (n > 0 && i == n)
        return x + idx[0] * dim;
    nn_gather_rows(buf, x, dim, idx, n);
    return buf;
}

void nn_iota(size_t *idx, size_t start, size_t n) {
    for (size_t i = 0; i < n; i++)
        idx[i] = start + i;
}

double nn_sumsq(const float *x, size_t n) {
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        s0 += (double)x[i] * x[i];
        s1 += (double)x[i + 1] * x[i + 1];
        s2 += (double)x[i + 2] * x[i + 2];
        s3 += (double)x[i + 3] * x[i + 3];
    }
    for (; i < n; i++)
        s0 += (double)x[i] * x[i];
    return (s0 + s1) + (s2 + s3);
}

/* ---- BLAS ---------------------------------------------------------------------------- */

/* OpenBLAS's Fortran interface (column-major); OpenBLAS ignores hidden string lengths. */
void sgemm_(const char *ta, const char *tb, const int *m, const int *n, const int *k,
            const float *alpha, const float *a, const int *lda, const float *b, const int *ldb,
            const float *beta, float *c, const int *ldc);
void sgemv_(const char *t, const int *m, const int *n, const float *alpha, const float *a,
            const int *lda, const float *x, const int *incx, const float *beta, float *y,
            const int *incy);

void nn_sgemm(char ta, char tb, size_t M, size_t N, size_t K, float alpha, const float *A,
              size_t lda, const float *B, size_t ldb, float beta, float *C, size_t ldc) {
    /* row-major C = op(A) op(B)  <=>  column-major C^T = op(B)^T op(A)^T */
    int m = (int)N, n = (int)M, k = (int)K, la = (int)lda, lb = (int)ldb, lc = (int)ldc;
    sgemm_(&tb, &ta, &m, &n, &k, &alpha, B, &lb, A, &la, &beta, C, &lc);
}

void nn_sgemv(char ta, size_t M, size_t N, float alpha, const float *A, size_t lda, const float *x,
              float beta, float *y) {
    /* row-major A[M][N] is column-major A^T[N][M]: flip the transpose flag */
    char t = (ta == 'T' || ta == 't') ? 'N' : 'T';
    int m = (int)N, n = (int)M, la = (int)lda, one = 1;
    sgemv_(&t, &m, &n, &alpha, A, &la, x, &one, &beta, y, &one);
}

/* ---- linear layers --------------------------------------------------------------- */

static void add_bias(float *restrict z, const float *restrict b, size_t rows, size_t cols) {
    for (size_t r = 0; r < rows; r++) {
        float *zr = z + r * cols;
        for (size_t c = 0; c < cols; c++)
            zr[c] += b[c];
    }
}

void nn_linear_forward(float *y, const float *x, const float *w, const float *b, size_t B,
                       size_t in, size_t out, int relu) {
    if (out == 1)
        nn_sgemv('N', B, in, 1.0f, x, in, w, 0.0f, y);
    else
        nn_sgemm('N', 'T', B, out, in, 1.0f, x, in, w, in, 0.0f, y, out);
    if (relu && b)
        nn_bias_relu(y, b, B, out);
    else if (b)
        add_bias(y, b, B, out);
    else if (relu) {
        for (size_t i = 0; i < B * out; i++)
            y[i] = y[i] > 0.0f ? y[i] : 0.0f;
    }
}

void nn_linear_backward(float *dw, float *db, float *dx, const float *dy, const float *x,
                        const float *w, size_t B, size_t in, size_t out) {
    if (out == 1)
        nn_sgemv('T', B, in, 1.0f, x, in, dy, 0.0f, dw);
    else
        nn_sgemm('T', 'N', out, in, B, 1.0f, dy, out, x, in, 0.0f, dw, in);
    if (db)
        nn_colsum(db, dy, B, out);
    if (dx)
        nn_sgemm('N', 'N', B, in, out, 1.0f, dy, out, w, in, 0.0f, dx, in);
}

void nn_csr_linear_forward(float *z, const dataset *d, const size_t *idx, size_t B, const float *w,
                           const float *b, size_t out, double *acc) {
    const size_t dim = d->shape.dim;
    for (size_t i = 0; i < B; i++) {
        size_t r = idx[i];
        for (size_t j = 0; j < out; j++)
            acc[j] = b ? b[j] : 0.0;
        for (size_t k = d->rowptr[r]; k < d->rowptr[r + 1]; k++) {
            double v = d->val[k];
            size_t c = d->col[k];
            for (size_t j = 0; j < out; j++)
                acc[j] += v * w[j * dim + c];
        }
        for (size_t j = 0; j < out; j++)
            z[i * out + j] = (float)acc[j];
    }
}

void nn_csr_linear_backward_accum(float *dw, const dataset *d, const size_t *idx, size_t B,
                                  const float *dy, size_t out) {
    const size_t dim = d->shape.dim;
    for (size_t i = 0; i < B; i++) {
        size_t r = idx[i];
        const float *g = dy + i * out;
        for (size_t k = d->rowptr[r]; k < d->rowptr[r + 1]; k++) {
            float v = d->val[k];
            size_t c = d->col[k];
            for (size_t j = 0; j < out; j++)
                dw[j * dim + c] += g[j] * v;
        }
    }
}

int nn_glm_init(nn_glm *g, size_t dim, size_t out, size_t max_batch, qsgd_err *err) {
    memset(g, 0, sizeof *g);
    g->dim = dim;
    g->out = out;
    g->max_batch = max_batch;
    if (dim > SIZE_MAX / sizeof(float) / max_batch)
        return QSGD_FAIL(err, QSGD_ENOMEM, "batch buffer of %zu x %zu floats overflows", max_batch,
                         dim);
    g->xb = nn_falloc(max_batch * dim);
    g->z = nn_falloc(max_batch * out);
    g->lab = nn_alloc(max_batch * sizeof *g->lab);
    g->tgt = nn_falloc(max_batch);
    g->idx = nn_alloc(max_batch * sizeof *g->idx);
    g->acc = nn_alloc(out * sizeof *g->acc);
    if (!g->xb || !g->z || !g->lab || !g->tgt || !g->idx || !g->acc)
        return QSGD_FAIL(err, QSGD_ENOMEM,
                         "out of memory for a %zu x %zu batch workspace (%.1f MiB)", max_batch, dim,
                         (double)max_batch * dim * 4 / 1048576.0);
    return QSGD_OK;
}

void nn_glm_fini(nn_glm *g) {
    free(g->xb);
    free(g->z);
    free(g->lab);
    free(g->tgt);
    free(g->idx);
    free(g->acc);
    memset(g, 0, sizeof *g);
}

void nn_glm_forward(nn_glm *g, const float *w, const float *b, const dataset *d, const size_t *idx,
                    size_t B) {
    if (d->layout == DATA_CSR) {
        nn_csr_linear_forward(g->z, d, idx, B, w, b, g->out, g->acc);
        return;
    }
    g->xrows = nn_rows(d->x, g->dim, idx, B, g->xb);
    nn_linear_forward(g->z, g->xrows, w, b, B, g->dim, g->out, 0);
}

void nn_glm_backward(nn_glm *g, float *dw, float *db, const dataset *d, const size_t *idx,
                     size_t B) {
    if (d->layout == DATA_CSR) {
        memset(dw, 0, g->out * g->dim * sizeof(float));
        nn_csr_linear_backward_accum(dw, d, idx, B, g->z, g->out);
        if (db)
            nn_colsum(db, g->z, B, g->out);
        return;
    }
    nn_linear_backward(dw, db, NULL, g->z, g->xrows, NULL, B, g->dim, g->out);
}

/* ---- elementwise ------------------------------------------------------------------ */

void nn_bias_relu(float *z, const float *b, size_t rows, size_t cols) {
    for (size_t r = 0; r < rows; r++) {
        float *restrict zr = z + r * cols;
        for (size_t c = 0; c < cols; c++) {
            float v = zr[c] + b[c];
            zr[c] = v > 0.0f ? v : 0.0f;
        }
    }
}

void nn_relu_backward(float *restrict d, const float *restrict a, size_t n) {
    for (size_t i = 0; i < n; i++)
        d[i] = a[i] > 0.0f ? d[i] : 0.0f;
}

void nn_colsum(float *restrict out, const float *restrict z, size_t rows, size_t cols) {
    memset(out, 0, cols * sizeof(float));
    for (size_t r = 0; r < rows; r++) {
        const float *zr = z + r * cols;
        for (size_t c = 0; c < cols; c++)
            out[c] += zr[c];
    }
}

double nn_softmax_xent(float *dz, const float *z, const int32_t *lab, size_t rows, size_t cols,
                       float scale, size_t *ncorrect) {
    double total = 0.0;
    size_t correct = 0;
    for (size_t r = 0; r < rows; r++) {
        const float *zr = z + r * cols;
        int32_t y = lab[r];
        float mx = zr[0];
        size_t am = 0;
        for (size_t c = 1; c < cols; c++)
            if (zr[c] > mx) {
                mx = zr[c];
                am = c;
            }
        double s = 0.0;
        for (size_t c = 0; c < cols; c++)
            s += (double)expf(zr[c] - mx);
        double zy = zr[y];
        total += (double)mx + log(s) - zy;
        correct += (am == (size_t)y);
        if (dz) {
            float *dr = dz + r * cols;
            float inv = (float)(1.0 / s);
            for (size_t c = 0; c < cols; c++) {
                float p = expf(zr[c] - mx) * inv;
                dr[c] = scale * (p - (c == (size_t)y ? 1.0f : 0.0f));
            }
        }
    }
    if (ncorrect)
        *ncorrect += correct;
    return total;
}

/* ---- cnn kernels (HWC) --------------------------------------------------------------- */

void nn_gather_chw_to_hwc(float *dst, const float *x, const size_t *idx, size_t B, size_t C,
                          size_t H, size_t W) {
    const size_t hw = H * W, dim = C * hw;
    if (C == 1) {
        nn_gather_rows(dst, x, dim, idx, B);
        return;
    }
    for (size_t b = 0; b < B; b++) {
        const float *src = x + idx[b] * dim;
        float *o = dst + b * dim;
        for (size_t p = 0; p < hw; p++)
            for (size_t c = 0; c < C; c++)
                o[p * C + c] = src[c * hw + p];
    }
}

/* One im2col row (pixel y, x) with bounds checks: border pixels only. */
static void im2col_pixel(float *restrict dst, const float *img, size_t y, size_t x, size_t H,
                         size_t W, size_t C) {
    for (size_t ky = 0; ky < 3; ky++) {
        long yy = (long)y + (long)ky - 1;
        for (size_t kx = 0; kx < 3; kx++) {
            long xx = (long)x + (long)kx - 1;
            float *restrict dd = dst + (ky * 3 + kx) * C;
            if (yy < 0 || yy >= (long)H || xx < 0 || xx >= (long)W) {
                for (size_t c = 0; c < C; c++)
                    dd[c] = 0.0f;
            } else {
                const float *restrict s = img + ((size_t)yy * W + (size_t)xx) * C;
                for (size_t c = 0; c < C; c++)
                    dd[c] = s[c];
            }
        }
    }
}

void nn_im2col3x3_hwc(float *col, const float *in, size_t B, size_t H, size_t W, size_t C) {
    const size_t K = 9 * C, rowC = W * C;
    for (size_t b = 0; b < B; b++) {
        const float *img = in + b * H * rowC;
        float *cb = col + b * H * W * K;
        for (size_t y = 0; y < H; y++) {
            int inner_y = y > 0 && y + 1 < H;
            for (size_t x = 0; x < W; x++) {
                float *restrict dst = cb + (y * W + x) * K;
                if (!inner_y || x == 0 || x + 1 == W) {
                    im2col_pixel(dst, img, y, x, H, W, C);
                    continue;
                }
                /* interior: three contiguous runs of 3*C floats */
                const float *restrict s0 = img + (y - 1) * rowC + (x - 1) * C;
                if (C == 1) {
                    const float *restrict s1 = s0 + W, *restrict s2 = s1 + W;
                    dst[0] = s0[0], dst[1] = s0[1], dst[2] = s0[2];
                    dst[3] = s1[0], dst[4] = s1[1], dst[5] = s1[2];
                    dst[6] = s2[0], dst[7] = s2[1], dst[8] = s2[2];
                } else {
                    memcpy(dst, s0, 3 * C * sizeof(float));
                    memcpy(dst + 3 * C, s0 + rowC, 3 * C * sizeof(float));
                    memcpy(dst + 6 * C, s0 + 2 * rowC, 3 * C * sizeof(float));
                }
            }
        }
    }
}

void nn_col2im3x3_hwc(float *din, const float *dcol, size_t B, size_t H, size_t W, size_t C) {
    const size_t K = 9 * C, rowC = W * C;
    memset(din, 0, B * H * rowC * sizeof(float));
    for (size_t b = 0; b < B; b++) {
        float *img = din + b * H * rowC;
        for (size_t y = 0; y < H; y++) {
            for (size_t x = 0; x < W; x++) {
                const float *src = dcol + ((b * H + y) * W + x) * K;
                for (size_t ky = 0; ky < 3; ky++) {
                    long yy = (long)y + (long)ky - 1;
                    if (yy < 0 || yy >= (long)H)
                        continue;
                    const float *restrict sk = src + ky * 3 * C;
                    float *drow = img + (size_t)yy * rowC;
                    if (x > 0 && x + 1 < W) {
                        float *restrict d = drow + (x - 1) * C;
                        for (size_t i = 0; i < 3 * C; i++)
                            d[i] += sk[i];
                    } else {
                        for (size_t kx = 0; kx < 3; kx++) {
                            long xx = (long)x + (long)kx - 1;
                            if (xx < 0 || xx >= (long)W)
                                continue;
                            float *restrict d = drow + (size_t)xx * C;
                            const float *restrict s = sk + kx * C;
                            for (size_t c = 0; c < C; c++)
                                d[c] += s[c];
                        }
                    }
                }
            }
        }
    }
}

void nn_conv_w_to_gemm(float *wg, const float *w, size_t out, size_t in) {
    for (size_t o = 0; o < out; o++)
        for (size_t c = 0; c < in; c++)
            for (size_t k = 0; k < 9; k++)
                wg[(o * 9 + k) * in + c] = w[(o * in + c) * 9 + k];
}

void nn_conv_w_from_gemm(float *w, const float *wg, size_t out, size_t in) {
    for (size_t o = 0; o < out; o++)
        for (size_t c = 0; c < in; c++)
            for (size_t k = 0; k < 9; k++)
                w[(o * in + c) * 9 + k] = wg[(o * 9 + k) * in + c];
}

/* The pooling kernels work on 4 channels at a time with SSE2 (part of the x86-64 baseline;
 * the compiler does not vectorize these selects itself under -ftrapping-math), with a scalar
 * tail of identical semantics: the maximum of each pair (0,1), (2,3) is the first on ties,
 * and the second pair wins only if strictly greater, i.e. the first maximum in order 0..3;
 * ReLU maps NaN to 0 in both paths (maxps returns its second operand on NaN). */
#if defined(__SSE2__)
#include <emmintrin.h>
#define NN_SSE2 1
#else
#define NN_SSE2 0
#endif

static inline void pool_fwd_c(float *po, uint8_t *pa, const float *p00, const float *p01,
                              const float *p10, const float *p11, const float *bias, size_t c0,
                              size_t C) {
    for (size_t c = c0; c < C; c++) {
        float a0 = p00[c], a1 = p01[c], a2 = p10[c], a3 = p11[c];
        int s1 = a1 > a0, s3 = a3 > a2;
        float m01 = s1 ? a1 : a0, m23 = s3 ? a3 : a2;
        int s = m23 > m01;
        float v = (s ? m23 : m01) + bias[c];
        po[c] = v > 0.0f ? v : 0.0f;
        pa[c] = (uint8_t)(s ? 2 + s3 : s1);
    }
}

void nn_pool2_bias_relu_hwc(float *out, uint8_t *arg, const float *z, const float *bias, size_t B,
                            size_t H, size_t W, size_t C) {
    const size_t OH = H / 2, OW = W / 2, rowC = W * C;
    for (size_t b = 0; b < B; b++) {
        for (size_t oy = 0; oy < OH; oy++) {
            for (size_t ox = 0; ox < OW; ox++) {
                const float *p00 = z + (b * H + 2 * oy) * rowC + 2 * ox * C;
                const float *p01 = p00 + C, *p10 = p00 + rowC, *p11 = p10 + C;
                size_t o = ((b * OH + oy) * OW + ox) * C, c = 0;
                float *po = out + o;
                uint8_t *pa = arg + o;
#if NN_SSE2
                const __m128 zero = _mm_setzero_ps();
                const __m128i one = _mm_set1_epi32(1), two = _mm_set1_epi32(2);
                for (; c + 4 <= C; c += 4) {
                    __m128 a0 = _mm_loadu_ps(p00 + c), a1 = _mm_loadu_ps(p01 + c);
                    __m128 a2 = _mm_loadu_ps(p10 + c), a3 = _mm_loadu_ps(p11 + c);
                    __m128 s1 = _mm_cmpgt_ps(a1, a0), s3 = _mm_cmpgt_ps(a3, a2);
                    __m128 m01 = _mm_or_ps(_mm_and_ps(s1, a1), _mm_andnot_ps(s1, a0));
                    __m128 m23 = _mm_or_ps(_mm_and_ps(s3, a3), _mm_andnot_ps(s3, a2));
                    __m128 s = _mm_cmpgt_ps(m23, m01);
                    __m128 m = _mm_or_ps(_mm_and_ps(s, m23), _mm_andnot_ps(s, m01));
                    __m128 v = _mm_add_ps(m, _mm_loadu_ps(bias + c));
                    _mm_storeu_ps(po + c, _mm_max_ps(v, zero));
                    __m128i i01 = _mm_and_si128(_mm_castps_si128(s1), one);
                    __m128i i23 = _mm_add_epi32(_mm_and_si128(_mm_castps_si128(s3), one), two);
                    __m128i si = _mm_castps_si128(s);
                    __m128i id = _mm_or_si128(_mm_and_si128(si, i23), _mm_andnot_si128(si, i01));
                    id = _mm_packs_epi32(id, id);
                    id = _mm_packus_epi16(id, id);
                    int32_t w = _mm_cvtsi128_si32(id);
                    memcpy(pa + c, &w, 4);
                }
#endif
                pool_fwd_c(po, pa, p00, p01, p10, p11, bias, c, C);
            }
        }
    }
}

void nn_pool2_bias_relu_hwc_backward(float *dz, float *db, const float *dout, const float *out,
                                     const uint8_t *arg, size_t B, size_t H, size_t W, size_t C) {
    const size_t OH = H / 2, OW = W / 2, rowC = W * C;
    if ((H & 1) || (W & 1))
        memset(dz, 0, B * H * rowC * sizeof(float)); /* rows/cols no window covers */
    memset(db, 0, C * sizeof(float));
    for (size_t b = 0; b < B; b++) {
        for (size_t oy = 0; oy < OH; oy++) {
            for (size_t ox = 0; ox < OW; ox++) {
                float *q00 = dz + (b * H + 2 * oy) * rowC + 2 * ox * C;
                float *q01 = q00 + C, *q10 = q00 + rowC, *q11 = q10 + C;
                size_t o = ((b * OH + oy) * OW + ox) * C, c = 0;
                const float *go = dout + o, *po = out + o;
                const uint8_t *pa = arg + o;
#if NN_SSE2
                const __m128 zero = _mm_setzero_ps();
                const __m128i zi = _mm_setzero_si128();
                for (; c + 4 <= C; c += 4) {
                    __m128 live = _mm_cmpgt_ps(_mm_loadu_ps(po + c), zero);
                    __m128 g = _mm_and_ps(live, _mm_loadu_ps(go + c));
                    _mm_storeu_ps(db + c, _mm_add_ps(_mm_loadu_ps(db + c), g));
                    int32_t w;
                    memcpy(&w, pa + c, 4);
                    __m128i a = _mm_cvtsi32_si128(w);
                    a = _mm_unpacklo_epi16(_mm_unpacklo_epi8(a, zi), zi);
                    _mm_storeu_ps(q00 + c, _mm_and_ps(_mm_castsi128_ps(_mm_cmpeq_epi32(a, zi)), g));
                    _mm_storeu_ps(
                        q01 + c,
                        _mm_and_ps(_mm_castsi128_ps(_mm_cmpeq_epi32(a, _mm_set1_epi32(1))), g));
                    _mm_storeu_ps(
                        q10 + c,
                        _mm_and_ps(_mm_castsi128_ps(_mm_cmpeq_epi32(a, _mm_set1_epi32(2))), g));
                    _mm_storeu_ps(
                        q11 + c,
                        _mm_and_ps(_mm_castsi128_ps(_mm_cmpeq_epi32(a, _mm_set1_epi32(3))), g));
                }
#endif
                for (; c < C; c++) {
                    float g = po[c] > 0.0f ? go[c] : 0.0f;
                    db[c] += g;
                    uint8_t a = pa[c];
                    q00[c] = a == 0 ? g : 0.0f;
                    q01[c] = a == 1 ? g : 0.0f;
                    q10[c] = a == 2 ? g : 0.0f;
                    q11[c] = a == 3 ? g : 0.0f;
                }
            }
        }
    }
}
