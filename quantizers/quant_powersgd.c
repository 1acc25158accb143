/* quant_powersgd.c — PowerSGD (Vogels, Karimireddy, Jaggi, NeurIPS 2019) as a per-worker
 * quantizer: one step of rank-r power iteration with error feedback and warm start on a
 * rows x cols tensor M (row-major):
 *   M = g + e;  P = M Q;  P = orth(P);  Q' = M^T P;  C(M) = P Q'^T;  e' = M - C(M);  Q = Q'
 * r = min(rank, rows, cols). orth is modified Gram-Schmidt over P's columns in index order,
 * dot products and norms in double; a column whose remaining norm is 0 (or not a normal
 * float) becomes zero. Q (cols x r) is kept across steps (warm start) and initialised on
 * the first step after an allocation or reset from the qrng stream keyed by (seed, worker 0,
 * step 0, tensor) only: Q_jk = (int32) word_{k cols + j} * 2^-31, so every worker of a run
 * starts from the same Q, as the paper requires; drawn again so whenever a column of Q' is
 * all zeros (M = 0 along it: Q would stay zero). feedback=0: e stays 0.
 *
 * As a quantizer (quant_quantize / quant_encode: the all-gather and parameter-server
 * exchanges) it is not the paper's distributed algorithm: a quantizer sees one worker's
 * tensor, so each worker compresses on its own (its own P and Q', a rank-r approximation of
 * its own M), and what the all-gather sums is a sum of rank-r matrices, not a rank-r matrix.
 * The paper's algorithm (every worker's P = M_w Q all-reduced and averaged before
 * orthogonalising, Q' = M_w^T P all-reduced again, so that all workers share P and Q' and
 * apply the same C = P Q'^T) is --exchange allreduce (sim/ex_allreduce_powersgd.c): it calls
 * this file's phases (quant_powersgd.h: project, orth_back, check, commit; this quantizer's
 * step is the same calls with nothing between them) on each worker's instance, with the two
 * fp32 ring all-reduces between them, so that with one worker it computes C(M) bit for bit.
 *
 * A vector (rows = 1 or cols = 1) is sent uncompressed (32-bit floats, e stays 0), as in
 * the paper's implementation.
 *
 * The products are this file's own loops in a fixed order (no BLAS), so that the numbers do
 * not depend on a BLAS kernel or thread count: P = M Q as dot products over a row of M with
 * eight partial sums (lane j % 8, added pairwise at the end), Q' = M^T P and P Q'^T as
 * axpy loops over rows in index order.
 *
 * Wire format: [P: rows x r 32-bit floats, row-major][Q': cols x r 32-bit floats,
 * row-major], each float's IEEE bits MSB first. Exactly 32 r (rows + cols) bits (32 n for a
 * vector). The decoder refuses a non-finite value, an entry of P of magnitude above 1 + 2^-10
 * (P's columns are unit or zero vectors) and a row j of Q' with sum_k |Q'_jk| > 2^127 (the
 * encoder refuses such an input, EINVAL: |C(M)_ij| <= sum_k |Q'_jk| then cannot overflow). */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qrng.h"
#include "qsgd_opt.h"
#include "quant.h"
#include "quant_powersgd.h"

/* decode(encode(v)) == quantize(v) needs the same roundings in both products: never fused */
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

/* The passes over M are also built for AVX2 (wider vectors, the same element-wise operations
 * and dot8's same eight lanes: the same floats), used where qrng_simd_available() says so. */
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define PSGD_AVX2 __attribute__((target("avx2")))
#include <immintrin.h>
#endif
#define PSGD_INLINE static inline __attribute__((always_inline))

#define PSGD_MAX_RANK 64
#define PSGD_TILE 4096        /* floats of Q'^T the decoder holds at a time (16 KiB of stack) */
#define PSGD_QSUM_MAX 0x1p127 /* the largest sum_k |Q'_jk| of a message */
#define PSGD_PMAX (1.0f + 0x1p-10f) /* the largest |P_ik| the decoder accepts */

typedef struct powersgd_opts {
    unsigned rank;   /* r */
    int no_feedback; /* 1: feedback=0 */
} powersgd_opts;
QUANT_EXT_FITS(powersgd_opts);

typedef struct powersgd_impl {
    size_t r;   /* effective rank, 0 for a vector */
    int have_q; /* Q initialised (first step done since alloc or reset) */
    float *e;   /* [n] residual */
    float *m;   /* [n] M = g + e */
    float *p;   /* [rows r] P, row-major */
    float *qt;  /* [r cols] Q transposed (warm start) */
    float *qn;  /* [r cols] Q' transposed, this step's */
    float *d;   /* [cols] one row: C(M) (rank > 4), M (project without im->m) */
    /* the quantizer's own step (encode, quantize: v is alive through it) keeps no M: each pass
     * forms M = v + e again (the same float add; v alone without feedback, e = 0), which
     * saves the stream that writes M; NULL: M in im->m (the phases called one by one) */
    const float *v;
    int simd; /* 1: the AVX2 builds of the passes */
} powersgd_impl;

static void impl_free(powersgd_impl *im) {
    if (!im)
        return;
    free(im->e);
    free(im->m);
    free(im->p);
    free(im->qt);
    free(im->qn);
    free(im->d);
    free(im);
}

static int is_vector(const quant *q) {
    return q->rows == 1 || q->cols == 1;
}

static int powersgd_init(quant *q, qsgd_err *err) {
    powersgd_opts *o = QUANT_EXT(&q->params, powersgd_opts);
    if (o->rank == 0 || o->rank > PSGD_MAX_RANK)
        return QSGD_FAIL_BIT(err, QSGD_EINVAL, 0, "powersgd: rank=%u is not in 1..%d", o->rank,
                             PSGD_MAX_RANK);
    o->no_feedback = o->no_feedback != 0;
    powersgd_impl *im = calloc(1, sizeof *im);
    if (!im)
        return QSGD_FAIL_BIT(err, QSGD_ENOMEM, 0, "powersgd: out of memory");
#ifdef PSGD_AVX2
    im->simd = qrng_simd_available() >= 1;
#endif
    if (!is_vector(q)) {
        size_t r = o->rank;
        if (r > q->rows)
            r = q->rows;
        if (r > q->cols)
            r = q->cols;
        im->r = r;
        im->e = calloc(q->n, sizeof *im->e);
        im->m = malloc(q->n * sizeof *im->m);
        im->d = malloc(q->cols * sizeof *im->d);
        im->p = malloc(q->rows * r * sizeof *im->p);
        im->qt = malloc(q->cols * r * sizeof *im->qt);
        im->qn = malloc(q->cols * r * sizeof *im->qn);
        if (!im->e || !im->m || !im->d || !im->p || !im->qt || !im->qn) {
            impl_free(im);
            return QSGD_FAIL_BIT(err, QSGD_ENOMEM, 0, "powersgd: out of memory for %zu x %zu",
                                 q->rows, q->cols);
        }
    }
    q->impl = im;
    return QSGD_OK;
}

static void powersgd_fini(quant *q) {
    impl_free(q->impl);
}

static uint64_t powersgd_max_bits(const quant *q) {
    const powersgd_impl *im = q->impl;
    return is_vector(q) ? 32ull * q->n : 32ull * im->r * (q->rows + q->cols);
}

static void powersgd_reset(quant *q) {
    powersgd_impl *im = q->impl;
    im->have_q = 0;
    if (im->e)
        memset(im->e, 0, q->n * sizeof *im->e);
}

static const float *powersgd_residual(const quant *q) {
    const powersgd_impl *im = q->impl;
    return im->e;
}

static uint32_t f2u(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}
static float u2f(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* out[i] = sum_j a[j] b[j] with eight lanes j % 8, combined ((0+1)+(2+3))+((4+5)+(6+7)). */
static float dot8(const float *a, const float *b, size_t len) {
    float s[8] = {0};
    size_t j = 0;
    for (; j + 8 <= len; j += 8)
        for (int l = 0; l < 8; l++)
            s[l] += a[j + l] * b[j + l];
    for (int l = 0; j < len; j++, l++)
        s[l] += a[j] * b[j];
    return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

/* Four floats as one value (GNU C vector extension: element-wise IEEE operations, the same
 * roundings as the scalar ones; written out so that GCC keeps dot8's lanes l and l + 4 in
 * two registers instead of shuffling them). */
typedef float psgd_v4 __attribute__((vector_size(16)));

static inline psgd_v4 ld4(const float *p) {
    psgd_v4 x;
    memcpy(&x, p, sizeof x);
    return x;
}

/* dot8's last steps from its lanes held as two vectors: the tail, then the combination. */
static float dot8_tail(psgd_v4 lo, psgd_v4 hi, const float *a, const float *b, size_t j,
                       size_t len) {
    float s[8];
    memcpy(s, &lo, sizeof lo);
    memcpy(s + 4, &hi, sizeof hi);
    for (int l = 0; j < len; j++, l++)
        s[l] += a[j] * b[j];
    return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

/* out[k] = dot8(a, qt + k ld, len) for k < nk, up to four in one pass over a: each keeps
 * its own eight lanes in dot8's order (the same sums, bit for bit); four dot products give
 * eight independent add chains, which hide the add latency a single dot8 waits on. */
PSGD_INLINE void dot8_multi(const float *a, const float *qt, size_t ld, size_t len, size_t nk,
                            float *out) {
    size_t k = 0;
    for (; k + 4 <= nk; k += 4) {
        const float *b0 = qt + k * ld, *b1 = b0 + ld, *b2 = b1 + ld, *b3 = b2 + ld;
        psgd_v4 s0 = {0}, t0 = {0}, s1 = {0}, t1 = {0}, s2 = {0}, t2 = {0}, s3 = {0}, t3 = {0};
        size_t j = 0;
        for (; j + 8 <= len; j += 8) {
            psgd_v4 x = ld4(a + j), y = ld4(a + j + 4);
            s0 += x * ld4(b0 + j);
            t0 += y * ld4(b0 + j + 4);
            s1 += x * ld4(b1 + j);
            t1 += y * ld4(b1 + j + 4);
            s2 += x * ld4(b2 + j);
            t2 += y * ld4(b2 + j + 4);
            s3 += x * ld4(b3 + j);
            t3 += y * ld4(b3 + j + 4);
        }
        out[k] = dot8_tail(s0, t0, a, b0, j, len);
        out[k + 1] = dot8_tail(s1, t1, a, b1, j, len);
        out[k + 2] = dot8_tail(s2, t2, a, b2, j, len);
        out[k + 3] = dot8_tail(s3, t3, a, b3, j, len);
    }
    for (; k + 2 <= nk; k += 2) {
        const float *b0 = qt + k * ld, *b1 = b0 + ld;
        psgd_v4 s0 = {0}, t0 = {0}, s1 = {0}, t1 = {0};
        size_t j = 0;
        for (; j + 8 <= len; j += 8) {
            psgd_v4 x = ld4(a + j), y = ld4(a + j + 4);
            s0 += x * ld4(b0 + j);
            t0 += y * ld4(b0 + j + 4);
            s1 += x * ld4(b1 + j);
            t1 += y * ld4(b1 + j + 4);
        }
        out[k] = dot8_tail(s0, t0, a, b0, j, len);
        out[k + 1] = dot8_tail(s1, t1, a, b1, j, len);
    }
    for (; k < nk; k++)
        out[k] = dot8(a, qt + k * ld, len);
}

#ifdef PSGD_AVX2
/* dot8_tail with the eight lanes in one vector. */
PSGD_AVX2 PSGD_INLINE float dot8_tail8(__m256 s8, const float *a, const float *b, size_t j,
                                       size_t len) {
    float s[8];
    _mm256_storeu_ps(s, s8);
    for (int l = 0; j < len; j++, l++)
        s[l] += a[j] * b[j];
    return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

/* dot8_multi with dot8's eight lanes j % 8 as one AVX2 vector (the same sums, bit for bit). */
PSGD_AVX2 static void dot8_multi8(const float *a, const float *qt, size_t ld, size_t len, size_t nk,
                                  float *out) {
    size_t k = 0;
    for (; k + 4 <= nk; k += 4) {
        const float *b0 = qt + k * ld, *b1 = b0 + ld, *b2 = b1 + ld, *b3 = b2 + ld;
        __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
        size_t j = 0;
        for (; j + 8 <= len; j += 8) {
            __m256 x = _mm256_loadu_ps(a + j);
            s0 = _mm256_add_ps(s0, _mm256_mul_ps(x, _mm256_loadu_ps(b0 + j)));
            s1 = _mm256_add_ps(s1, _mm256_mul_ps(x, _mm256_loadu_ps(b1 + j)));
            s2 = _mm256_add_ps(s2, _mm256_mul_ps(x, _mm256_loadu_ps(b2 + j)));
            s3 = _mm256_add_ps(s3, _mm256_mul_ps(x, _mm256_loadu_ps(b3 + j)));
        }
        out[k] = dot8_tail8(s0, a, b0, j, len);
        out[k + 1] = dot8_tail8(s1, a, b1, j, len);
        out[k + 2] = dot8_tail8(s2, a, b2, j, len);
        out[k + 3] = dot8_tail8(s3, a, b3, j, len);
    }
    for (; k + 2 <= nk; k += 2) {
        const float *b0 = qt + k * ld, *b1 = b0 + ld;
        __m256 s0 = _mm256_setzero_ps(), s1 = s0;
        size_t j = 0;
        for (; j + 8 <= len; j += 8) {
            __m256 x = _mm256_loadu_ps(a + j);
            s0 = _mm256_add_ps(s0, _mm256_mul_ps(x, _mm256_loadu_ps(b0 + j)));
            s1 = _mm256_add_ps(s1, _mm256_mul_ps(x, _mm256_loadu_ps(b1 + j)));
        }
        out[k] = dot8_tail8(s0, a, b0, j, len);
        out[k + 1] = dot8_tail8(s1, a, b1, j, len);
    }
    for (; k < nk; k++) {
        const float *b0 = qt + k * ld;
        __m256 s0 = _mm256_setzero_ps();
        size_t j = 0;
        for (; j + 8 <= len; j += 8)
            s0 = _mm256_add_ps(s0, _mm256_mul_ps(_mm256_loadu_ps(a + j), _mm256_loadu_ps(b0 + j)));
        out[k] = dot8_tail8(s0, a, b0, j, len);
    }
}
#endif

/* One row of P Q^T: d[j] = p[0] qt[0][j] + p[1] qt[1][j] + ... in k order (qt: r rows of
 * stride ld); the decoder's order too. */
static void row_product(const float *p, const float *qt, size_t ld, size_t w, size_t r, float *d) {
    float p0 = p[0];
    for (size_t j = 0; j < w; j++)
        d[j] = p0 * qt[j];
    size_t k = 1;
    for (; k + 2 <= r; k += 2) { /* two terms a pass, added in k order */
        float pk = p[k], pl = p[k + 1];
        const float *qk = qt + k * ld, *ql = qk + ld;
        for (size_t j = 0; j < w; j++)
            d[j] = (d[j] + pk * qk[j]) + pl * ql[j];
    }
    for (; k < r; k++) {
        float pk = p[k];
        const float *qk = qt + k * ld;
        for (size_t j = 0; j < w; j++)
            d[j] += pk * qk[j];
    }
}

/* One row of C = P Q^T into out (may be NULL) and, when e is not NULL, e[j] = m[j] - C_j, in
 * one pass: per element the same products and adds as row_product (p0 q0, then the pair
 * (+ p1 q1) + p2 q2, then + p3 q3), so C_j is the same float, without row_product's passes
 * over a row buffer. r <= 4, a constant where it is inlined. add_e (a constant): m is v and
 * M_j = v[j] + e[j], read from e before it is written. */
static inline __attribute__((always_inline)) void row_finish(const float *p, const float *qt,
                                                             size_t ld, size_t w, size_t r,
                                                             const float *m, int add_e, float *out,
                                                             float *e) {
    const float *q0 = qt, *q1 = r > 1 ? qt + ld : qt, *q2 = r > 2 ? q1 + ld : qt,
                *q3 = r > 3 ? q2 + ld : qt; /* no pointer past Q' where r is smaller */
    const float p0 = p[0], p1 = r > 1 ? p[1] : 0, p2 = r > 2 ? p[2] : 0, p3 = r > 3 ? p[3] : 0;
    for (size_t j = 0; j < w; j++) {
        float d = p0 * q0[j];
        if (r == 2)
            d += p1 * q1[j];
        if (r >= 3)
            d = (d + p1 * q1[j]) + p2 * q2[j];
        if (r == 4)
            d += p3 * q3[j];
        if (out)
            out[j] = d;
        if (e)
            e[j] = (add_e ? m[j] + e[j] : m[j]) - d;
    }
}

/* The passes over M (and v, e) go a block of PSGD_BLK floats at a time, each block first
 * asking for the lines PSGD_AHEAD floats on: at 4096 x 4096 M does not fit any cache, and
 * this machine's hardware prefetchers left the passes at half of memcpy's bandwidth. */
#define PSGD_BLK 128
#define PSGD_AHEAD 1024

PSGD_INLINE void prefetch_r(const float *x, size_t at, size_t n) {
    for (size_t t = at + PSGD_AHEAD; t < at + PSGD_AHEAD + PSGD_BLK && t < n; t += 16)
        __builtin_prefetch(x + t, 0);
}

PSGD_INLINE void prefetch_w(const float *x, size_t at, size_t n) {
    for (size_t t = at + PSGD_AHEAD; t < at + PSGD_AHEAD + PSGD_BLK && t < n; t += 16)
        __builtin_prefetch(x + t, 1);
}

/* 1 if every x[i] is finite. */
PSGD_INLINE int all_finite(const float *x, size_t n) {
    uint32_t bad = 0;
    for (size_t i = 0; i < n; i++)
        bad |= (f2u(x[i]) & 0x7fffffffu) >= 0x7f800000u;
    return !bad;
}

/* ---- the phases (quant_powersgd.h): this quantizer's step and the all-reduce exchange's ---- */
static powersgd_impl *impl_of(quant *q) {
    return q && q->type == &quant_type_powersgd ? q->impl : NULL;
}

size_t quant_powersgd_rank(const quant *q) {
    const powersgd_impl *im = impl_of((quant *)q);
    return im ? im->r : 0;
}

float *quant_powersgd_p(quant *q) {
    powersgd_impl *im = impl_of(q);
    return im ? im->p : NULL;
}

float *quant_powersgd_qn(quant *q) {
    powersgd_impl *im = impl_of(q);
    return im ? im->qn : NULL;
}

/* Phase 1's pass: M = g + e and P = M Q, row by row (without keep_m: the row in im->d, or
 * v's own row without feedback). Returns the first row (in the pass's order) that is not
 * finite, rows if none. */
PSGD_INLINE size_t project_rows(powersgd_impl *im, const float *v, const float *qt, size_t rows,
                                size_t cols, int keep_m, int fb, int wide) {
    const size_t n = rows * cols, r = im->r;
    for (size_t i = 0; i < rows; i++) {
        const float *vi = v + i * cols, *ei = im->e + i * cols, *mi = vi;
        if (keep_m || fb) {
            float *mw = keep_m ? im->m + i * cols : im->d;
            for (size_t j0 = 0; j0 < cols; j0 += PSGD_BLK) {
                const size_t j1 = cols - j0 < PSGD_BLK ? cols : j0 + PSGD_BLK;
                prefetch_r(v, i * cols + j0, n);
                prefetch_r(im->e, i * cols + j0, n);
                for (size_t j = j0; j < j1; j++)
                    mw[j] = vi[j] + ei[j];
            }
            mi = mw;
        } else {
            for (size_t j0 = 0; j0 < cols; j0 += PSGD_BLK)
                prefetch_r(v, i * cols + j0, n);
        }
        if (!all_finite(mi, cols))
            return i;
#ifdef PSGD_AVX2
        if (wide) {
            dot8_multi8(mi, qt, cols, cols, r, im->p + i * r);
            continue;
        }
#endif
        dot8_multi(mi, qt, cols, cols, r, im->p + i * r);
    }
    return rows;
}
#ifdef PSGD_AVX2
PSGD_AVX2 static size_t project_rows_avx2(powersgd_impl *im, const float *v, const float *qt,
                                          size_t rows, size_t cols, int keep_m, int fb) {
    return project_rows(im, v, qt, rows, cols, keep_m, fb, 1);
}
#endif
static size_t project_rows_sse(powersgd_impl *im, const float *v, const float *qt, size_t rows,
                               size_t cols, int keep_m, int fb) {
    return project_rows(im, v, qt, rows, cols, keep_m, fb, 0);
}

/* Phase 1: Q initialised where needed, M = g + e and P = M Q into im->m (keep_m; else not
 * kept, im->v = v) and im->p (three passes over M, a row at a time: this one, Q' = M^T P and
 * powersgd_finish). The state (e, Q) is untouched. EINVAL when M is not finite. */
static int project(quant *q, const float *v, const quant_ctx *ctx, int keep_m, qsgd_err *err) {
    powersgd_impl *im = q->impl;
    const int fb = !QUANT_EXT(&q->params, powersgd_opts)->no_feedback;
    const size_t rows = q->rows, cols = q->cols, r = im->r;
    float *qt = im->qt;
    if (!im->have_q) { /* the same Q on every worker: (seed, tensor) only */
        qrng_stream st = qrng_make(ctx->seed, 0, 0, ctx->tensor);
        for (size_t i = 0; i < r * cols; i++)
            im->qn[i] = (float)(int32_t)qrng_word(&st, i) * 0x1p-31f;
        qt = im->qn;
    }
    im->v = keep_m ? NULL : v;
    size_t bad;
#ifdef PSGD_AVX2
    if (im->simd)
        bad = project_rows_avx2(im, v, qt, rows, cols, keep_m, fb);
    else
#endif
        bad = project_rows_sse(im, v, qt, rows, cols, keep_m, fb);
    if (bad < rows) { /* the first value that is not finite in index order */
        size_t t = 0;
        while (t < (bad + 1) * cols && isfinite(v[t] + im->e[t]))
            t++;
        return QSGD_FAIL_BIT(err, QSGD_EINVAL, 0,
                             "powersgd: input value %g (+ residual) at index %zu is not finite",
                             (double)v[t], t);
    }
    return QSGD_OK;
}

int quant_powersgd_project(quant *q, const float *v, const quant_ctx *ctx, qsgd_err *err) {
    return project(q, v, ctx, 1, err);
}

/* Phase 2's pass: Q' = M^T P into im->qn (zeroed). */
PSGD_INLINE void back_rows(powersgd_impl *im, size_t rows, size_t cols, int fb) {
    const size_t n = rows * cols, r = im->r;
    /* Q' = M^T P, kept transposed: qn[k][j] = sum_i P[i][k] M[i][j], rows in order */
    const float *m = im->v ? im->v : im->m;
    float mt[PSGD_BLK]; /* M = v + e, a block (im->v with feedback) */
    for (size_t i = 0; i < rows; i++) {
        const float *mi = m + i * cols, *pi = im->p + i * r, *ei = im->e + i * cols;
        for (size_t j0 = 0; j0 < cols; j0 += PSGD_BLK) {
            const size_t w = cols - j0 < PSGD_BLK ? cols - j0 : PSGD_BLK;
            const float *mj = mi + j0;
            prefetch_r(m, i * cols + j0, n);
            if (im->v && fb) {
                prefetch_r(im->e, i * cols + j0, n);
                for (size_t j = 0; j < w; j++)
                    mt[j] = mj[j] + ei[j0 + j];
                mj = mt;
            }
            size_t k = 0;
            for (; k + 4 <= r; k += 4) { /* four columns a pass over the block */
                const float p0 = pi[k], p1 = pi[k + 1], p2 = pi[k + 2], p3 = pi[k + 3];
                float *q0 = im->qn + k * cols + j0, *q1 = q0 + cols, *q2 = q1 + cols,
                      *q3 = q2 + cols;
                for (size_t j = 0; j < w; j++) {
                    q0[j] += p0 * mj[j];
                    q1[j] += p1 * mj[j];
                    q2[j] += p2 * mj[j];
                    q3[j] += p3 * mj[j];
                }
            }
            for (; k + 2 <= r; k += 2) { /* two columns a pass */
                float pk = pi[k], pl = pi[k + 1];
                float *qk = im->qn + k * cols + j0, *ql = qk + cols;
                for (size_t j = 0; j < w; j++) {
                    qk[j] += pk * mj[j];
                    ql[j] += pl * mj[j];
                }
            }
            for (; k < r; k++) {
                float pk = pi[k];
                float *qk = im->qn + k * cols + j0;
                for (size_t j = 0; j < w; j++)
                    qk[j] += pk * mj[j];
            }
        }
    }
}
#ifdef PSGD_AVX2
PSGD_AVX2 static void back_rows_avx2(powersgd_impl *im, size_t rows, size_t cols, int fb) {
    back_rows(im, rows, cols, fb);
}
#endif
static void back_rows_sse(powersgd_impl *im, size_t rows, size_t cols, int fb) {
    back_rows(im, rows, cols, fb);
}

/* Phase 2: P = orth(P) (modified Gram-Schmidt, double sums), then Q' = M^T P into im->qn. */
void quant_powersgd_orth_back(quant *q) {
    powersgd_impl *im = q->impl;
    const size_t rows = q->rows, cols = q->cols, r = im->r;
    for (size_t k = 0; k < r; k++) {
        for (size_t l = 0; l < k; l++) {
            double dp = 0;
            for (size_t i = 0; i < rows; i++)
                dp += (double)im->p[i * r + k] * im->p[i * r + l];
            for (size_t i = 0; i < rows; i++)
                im->p[i * r + k] = (float)((double)im->p[i * r + k] - dp * im->p[i * r + l]);
        }
        double nn = 0;
        for (size_t i = 0; i < rows; i++)
            nn += (double)im->p[i * r + k] * im->p[i * r + k];
        double nrm = sqrt(nn);
        int zero = !(nrm >= 0x1p-126) || !isfinite(nrm);
        for (size_t i = 0; i < rows; i++)
            im->p[i * r + k] = zero ? 0.0f : (float)(im->p[i * r + k] / nrm);
    }
    memset(im->qn, 0, r * cols * sizeof *im->qn);
#ifdef PSGD_AVX2
    if (im->simd)
        back_rows_avx2(im, q->rows, q->cols, !QUANT_EXT(&q->params, powersgd_opts)->no_feedback);
    else
#endif
        back_rows_sse(im, q->rows, q->cols, !QUANT_EXT(&q->params, powersgd_opts)->no_feedback);
}

/* Phase 3: |C(M)_ij| <= sum_k |Q'_jk| (|P_ik| <= 1): EINVAL when that could overflow, so
 * that the state is written only after every check. */
int quant_powersgd_check(const quant *q, qsgd_err *err) {
    const powersgd_impl *im = q->impl;
    const size_t cols = q->cols, r = im->r;
    for (size_t j = 0; j < cols; j++) {
        double cs = 0;
        for (size_t k = 0; k < r; k++)
            cs += fabs((double)im->qn[k * cols + j]);
        if (!(cs <= PSGD_QSUM_MAX))
            return QSGD_FAIL_BIT(
                err, QSGD_EINVAL, 0,
                "powersgd: the rank-%zu approximation could overflow float (sum of "
                "|Q'| in column %zu is %g > 2^127: input too large)",
                r, j, cs);
    }
    return QSGD_OK;
}

/* One power-iteration step: M, P and Q' into im->m, im->p, im->qn; the state (e, Q) is
 * untouched. EINVAL when M is not finite or C(M) could overflow. */
static int powersgd_step(quant *q, const float *v, const quant_ctx *ctx, qsgd_err *err) {
    powersgd_impl *im = q->impl;
    int rc = project(q, v, ctx, 0, err);
    if (rc == QSGD_OK) {
        quant_powersgd_orth_back(q);
        rc = quant_powersgd_check(q, err);
    }
    if (rc)
        im->v = NULL;
    return rc;
}

/* C(M) = P Q'^T (the decoder's order) into out (NULL: not wanted) and, with feedback, the
 * next residual M - C(M), row by row (im->d: one row). (Writing the residual over M and
 * trading the two buffers would save the stream that writes e, but callers hold the
 * pointer quant_residual returned across steps.) */
/* row_finish on a block of one row, r <= 4 (a constant in each case), add_e a constant. */
static inline __attribute__((always_inline)) void finish_block(const float *p, const float *qt,
                                                               size_t ld, size_t w, size_t r,
                                                               const float *m, int add_e,
                                                               float *out, float *e) {
    switch (r) {
    case 1:
        row_finish(p, qt, ld, w, 1, m, add_e, out, e);
        break;
    case 2:
        row_finish(p, qt, ld, w, 2, m, add_e, out, e);
        break;
    case 3:
        row_finish(p, qt, ld, w, 3, m, add_e, out, e);
        break;
    default:
        row_finish(p, qt, ld, w, 4, m, add_e, out, e);
        break;
    }
}

/* powersgd_finish's pass. */
PSGD_INLINE void finish_rows(powersgd_impl *im, size_t rows, size_t cols, int fb, float *out) {
    const size_t n = rows * cols, r = im->r;
    const float *m = im->v ? im->v : im->m; /* im->v: M = v + e */
    const int add_e = im->v && fb;
    for (size_t i = 0; i < rows; i++) {
        float *di = im->d, *ei = im->e + i * cols;
        const float *mi = m + i * cols, *pi = im->p + i * r;
        float *oi = out ? out + i * cols : NULL, *fi = fb ? ei : NULL;
        if (r <= 4) { /* the common ranks in one pass over the row */
            for (size_t j0 = 0; j0 < cols; j0 += PSGD_BLK) {
                const size_t w = cols - j0 < PSGD_BLK ? cols - j0 : PSGD_BLK;
                const float *qj = im->qn + j0, *mj = mi + j0;
                float *oj = oi ? oi + j0 : NULL, *fj = fi ? fi + j0 : NULL;
                prefetch_r(m, i * cols + j0, n);
                if (fi)
                    prefetch_w(im->e, i * cols + j0, n);
                if (add_e)
                    finish_block(pi, qj, cols, w, r, mj, 1, oj, fj);
                else
                    finish_block(pi, qj, cols, w, r, mj, 0, oj, fj);
            }
            continue;
        }
        row_product(pi, im->qn, cols, cols, r, di);
        if (fb)
            for (size_t j = 0; j < cols; j++)
                ei[j] = (add_e ? mi[j] + ei[j] : mi[j]) - di[j];
        if (oi)
            memcpy(oi, di, cols * sizeof *oi);
    }
}
#ifdef PSGD_AVX2
PSGD_AVX2 static void finish_rows_avx2(powersgd_impl *im, size_t rows, size_t cols, int fb,
                                       float *out) {
    finish_rows(im, rows, cols, fb, out);
}
#endif
static void finish_rows_sse(powersgd_impl *im, size_t rows, size_t cols, int fb, float *out) {
    finish_rows(im, rows, cols, fb, out);
}

static void powersgd_finish(quant *q, float *out) {
    powersgd_impl *im = q->impl;
    const size_t rows = q->rows, cols = q->cols;
    const int fb = !QUANT_EXT(&q->params, powersgd_opts)->no_feedback;
    if (!out && !fb) /* encode without feedback: C(M) is not needed here */
        return;
#ifdef PSGD_AVX2
    if (im->simd)
        finish_rows_avx2(im, rows, cols, fb, out);
    else
#endif
        finish_rows_sse(im, rows, cols, fb, out);
}

/* Phase 4, commit the step: C(M) = P Q'^T (into out, may be NULL), e = M - C(M) (feedback;
 * else e stays 0), Q = Q'. */
void quant_powersgd_commit(quant *q, float *out) {
    powersgd_impl *im = q->impl;
    powersgd_finish(q, out);
    im->v = NULL;
    float *t = im->qt;
    im->qt = im->qn;
    im->qn = t;
    /* a zero column of Q (M = 0 along it) would stay zero forever: draw Q afresh next step */
    im->have_q = 1;
    for (size_t k = 0; k < im->r && im->have_q; k++) {
        uint32_t any = 0;
        for (size_t j = 0; j < q->cols; j++)
            any |= f2u(im->qt[k * q->cols + j]) & 0x7fffffffu;
        im->have_q = any != 0;
    }
}

static int vector_check(const quant *q, const float *v, qsgd_err *err) {
    if (all_finite(v, q->n))
        return QSGD_OK;
    size_t i = 0;
    while (i < q->n && isfinite(v[i]))
        i++;
    return QSGD_FAIL_BIT(err, QSGD_EINVAL, 0, "powersgd: input value %g at index %zu is not finite",
                         (double)v[i], i);
}

static int powersgd_quantize(quant *q, const float *v, const quant_ctx *ctx, float *out,
                             qsgd_err *err) {
    if (is_vector(q)) {
        int rc = vector_check(q, v, err);
        if (rc == QSGD_OK)
            memcpy(out, v, q->n * sizeof *out);
        return rc;
    }
    int rc = powersgd_step(q, v, ctx, err);
    if (rc)
        return rc;
    quant_powersgd_commit(q, out);
    return QSGD_OK;
}

static void put_floats(uint8_t *buf, const float *x, size_t n) {
    for (size_t i = 0; i < n; i++) {
        uint32_t u = f2u(x[i]);
        buf[4 * i] = (uint8_t)(u >> 24);
        buf[4 * i + 1] = (uint8_t)(u >> 16);
        buf[4 * i + 2] = (uint8_t)(u >> 8);
        buf[4 * i + 3] = (uint8_t)u;
    }
}

static int powersgd_encode(quant *q, const float *v, const quant_ctx *ctx, uint8_t *buf, size_t cap,
                           uint64_t *nbits, qsgd_err *err) {
    powersgd_impl *im = q->impl;
    uint64_t total = powersgd_max_bits(q);
    if (total / 8 > cap)
        return QSGD_FAIL_BIT(err, QSGD_ENOSPC, 0, "powersgd: buffer of %zu bytes, need %llu", cap,
                             (unsigned long long)(total / 8));
    if (is_vector(q)) {
        int rc = vector_check(q, v, err);
        if (rc)
            return rc;
        put_floats(buf, v, q->n);
    } else {
        int rc = powersgd_step(q, v, ctx, err);
        if (rc)
            return rc;
        const size_t r = im->r, cols = q->cols;
        put_floats(buf, im->p, q->rows * r);
        uint8_t *b = buf + 4 * q->rows * r; /* Q' row-major (cols x r) from its transpose */
        for (size_t j = 0; j < cols; j++)
            for (size_t k = 0; k < r; k++) {
                uint32_t u = f2u(im->qn[k * cols + j]);
                uint8_t *o = b + 4 * (j * r + k);
                o[0] = (uint8_t)(u >> 24);
                o[1] = (uint8_t)(u >> 16);
                o[2] = (uint8_t)(u >> 8);
                o[3] = (uint8_t)u;
            }
        quant_powersgd_commit(q, NULL);
    }
    *nbits = total;
    return QSGD_OK;
}

static uint32_t get_u32(const uint8_t *b) {
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static int powersgd_decode(const quant *q, const uint8_t *buf, size_t len, uint64_t nbits,
                           float *out, qsgd_err *err) {
    const powersgd_impl *im = q->impl;
    uint64_t want = powersgd_max_bits(q);
    if (nbits != want)
        return QSGD_FAIL_BIT(err, QSGD_ECORRUPT, nbits < want ? nbits : want,
                             "powersgd: message of %llu bits, expected exactly %llu (%s)",
                             (unsigned long long)nbits, (unsigned long long)want,
                             nbits < want ? "truncated" : "trailing bits");
    size_t nf = (size_t)(want / 32), np = is_vector(q) ? 0 : q->rows * im->r;
    double cs = 0; /* sum_k |Q'_jk| of the current j */
    for (size_t i = 0; i < nf; i++) {
        uint32_t u = get_u32(buf + 4 * i);
        float x = u2f(u);
        if ((u & 0x7fffffffu) >= 0x7f800000u || (i < np && !(fabsf(x) <= PSGD_PMAX)))
            return QSGD_FAIL_BIT(err, QSGD_ECORRUPT, 32ull * i,
                                 "powersgd: %s value %zu is %g at bit %llu (%s)",
                                 i < np ? "P" : "Q", i < np ? i : i - np, (double)x, 32ull * i,
                                 i < np ? "P's columns are unit or zero vectors" : "not finite");
        if (is_vector(q)) {
            out[i] = x;
        } else if (i >= np) {
            cs += fabs((double)x);
            if ((i - np) % im->r == im->r - 1) {
                if (!(cs <= PSGD_QSUM_MAX))
                    return QSGD_FAIL_BIT(err, QSGD_ECORRUPT, 32ull * (i + 1 - im->r),
                                         "powersgd: row %zu of Q has sum |Q_jk| = %g > 2^127 at "
                                         "bit %llu (no encoder writes it)",
                                         (i - np) / im->r, cs, 32ull * (i + 1 - im->r));
                cs = 0;
            }
        }
    }
    if (is_vector(q))
        return QSGD_OK;
    /* the decoder writes nothing but out: Q'^T a tile of columns at a time on the stack,
     * each row of P Q'^T in row_product's order */
    const size_t rows = q->rows, cols = q->cols, r = im->r, tw = PSGD_TILE / r;
    const uint8_t *pb = buf, *qb = buf + 4 * np;
    float qtile[PSGD_TILE], prow[PSGD_MAX_RANK];
    for (size_t j0 = 0; j0 < cols; j0 += tw) {
        size_t w = cols - j0 < tw ? cols - j0 : tw;
        for (size_t k = 0; k < r; k++)
            for (size_t j = 0; j < w; j++)
                qtile[k * w + j] = u2f(get_u32(qb + 4 * ((j0 + j) * r + k)));
        for (size_t i = 0; i < rows; i++) {
            for (size_t k = 0; k < r; k++)
                prow[k] = u2f(get_u32(pb + 4 * (i * r + k)));
            float *d = out + i * cols + j0;
            /* r <= 4: row_finish's one pass (the same products and adds per element as
             * row_product, kept in registers: each output float is stored once instead of
             * once per pass over the row); one call per rank so that each is compiled
             * with its r constant (the inlined kernel's loops unrolled) */
            switch (r) {
            case 1:
                row_finish(prow, qtile, w, w, 1, NULL, 0, d, NULL);
                break;
            case 2:
                row_finish(prow, qtile, w, w, 2, NULL, 0, d, NULL);
                break;
            case 3:
                row_finish(prow, qtile, w, w, 3, NULL, 0, d, NULL);
                break;
            case 4:
                row_finish(prow, qtile, w, w, 4, NULL, 0, d, NULL);
                break;
            default:
                row_product(prow, qtile, w, w, r, d);
            }
        }
    }
    return QSGD_OK;
}

enum { OPT_RANK, OPT_FEEDBACK };
static const qsgd_opt powersgd_optrows[] = {
    [OPT_RANK] = {.name = "rank",
                  .aliases = "r",
                  .kind = QSGD_OPT_UINT,
                  .offset = QUANT_EXT_OFFSET(powersgd_opts, rank),
                  .min = 1,
                  .max = PSGD_MAX_RANK,
                  .def = "2",
                  .meta = "R",
                  .help = "rank of the approximation P Q^T (clamped to min(rows, cols))"},
    [OPT_FEEDBACK] = {.name = "feedback",
                      .kind = QSGD_OPT_BOOL,
                      .offset = QUANT_EXT_OFFSET(powersgd_opts, no_feedback),
                      .def = "1",
                      .help = "error feedback (0 = the residual is dropped)",
                      .flags = QSGD_OPT_NEGATED},
    {.name = NULL},
};

/* "PowerSGD r=2" (" no EF" without feedback). */
static int powersgd_label(const quant_spec *sp, int level, char *out, size_t len) {
    const powersgd_opts *o = QUANT_EXT_CONST(&sp->params, powersgd_opts);
    int w = snprintf(out, len, "PowerSGD r=%u%s", o->rank, o->no_feedback ? " no EF" : "");
    return w >= 0 && (size_t)w < len ? 0 : -1;
}

/* Claims checked by `qsgdsim stats` (from a reset state): biased; C(M) = P P^T M with P's
 * columns orthonormal is a projection, so ||C(M) - M||^2 <= ||M||^2 (up to float rounding). */
static int powersgd_unbiased(const quant_params *p) {
    (void)p;
    return 0;
}

static double powersgd_variance_bound(const quant *q) {
    (void)q;
    return 1.0;
}

const quant_type quant_type_powersgd = {
    .name = "powersgd",
    .summary = "PowerSGD: rank-r power iteration with error feedback and warm start, P and Q "
               "in fp32 (vectors uncompressed)",
    .opts = powersgd_optrows,
    .stateful = 1,
    .lossless = 0,
    .label = powersgd_label,
    .init = powersgd_init,
    .fini = powersgd_fini,
    .max_bits = powersgd_max_bits,
    .quantize = powersgd_quantize,
    .encode = powersgd_encode,
    .decode = powersgd_decode,
    .reset = powersgd_reset,
    .residual = powersgd_residual,
    .unbiased = powersgd_unbiased,
    .variance_bound = powersgd_variance_bound,
    .allreduce = QUANT_AR_POWER,
};
