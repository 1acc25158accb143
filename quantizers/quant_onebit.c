/* quant_onebit.c — 1-bit SGD with error feedback (Seide, Fu, Droppo, Li, Yu, Interspeech
 * 2014; CNTK's ColumnQuantizer).
 *
 *   g' = g + residual;  bit_i = (g'_i >= 0)
 *   per group: m0 = mean of the negative g'_i, m1 = mean of the non-negative g'_i (0 if none)
 *   decoded_i = bit_i ? m1 : m0;  residual = g' - decoded   (no_feedback: residual stays 0)
 *
 * Groups: for a matrix tensor (rows > 1) the columns (elements j, j + cols, j + 2 cols, ...
 * of the row-major tensor), as CNTK quantizes each column of a weight matrix; for a vector,
 * buckets of d consecutive values (bucket = 0: the whole vector).
 * Wire format: [m0, m1 of group 0 .. G-1: 32-bit floats][n bits, row-major, 1 = non-negative].
 * Exactly 64 G + n bits. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bitstream.h"
#include "qsgd_opt.h"
#include "quant.h"

typedef struct onebit_impl {
    size_t ngroups;
    int columns;         /* 1: groups are columns of a matrix; 0: buckets of a vector */
    float *residual;     /* [n] */
    float *m0, *m1;      /* [ngroups] reconstruction values */
    double *sum0, *sum1; /* [ngroups] */
    size_t *cnt0, *cnt1; /* [ngroups] */
} onebit_impl;

static void impl_free(onebit_impl *im) {
    if (!im)
        return;
    free(im->residual);
    free(im->m0);
    free(im->m1);
    free(im->sum0);
    free(im->sum1);
    free(im->cnt0);
    free(im->cnt1);
    free(im);
}

static int onebit_init(quant *q, qsgd_err *err) {
    quant_params *p = &q->params;
    onebit_impl *im = calloc(1, sizeof *im);
    if (!im)
        return QSGD_FAIL_BIT(err, QSGD_ENOMEM, 0, "onebit: out of memory");
    if (q->rows > 1) {
        im->columns = 1;
        im->ngroups = q->cols;
        p->bucket = 0;
    } else {
        if (p->bucket == 0 || p->bucket > q->n)
            p->bucket = q->n;
        im->ngroups = (q->n + p->bucket - 1) / p->bucket;
    }
    size_t G = im->ngroups;
    im->residual = calloc(q->n, sizeof(float));
    im->m0 = malloc(G * sizeof(float));
    im->m1 = malloc(G * sizeof(float));
    im->sum0 = malloc(G * sizeof(double));
    im->sum1 = malloc(G * sizeof(double));
    im->cnt0 = malloc(G * sizeof(size_t));
    im->cnt1 = malloc(G * sizeof(size_t));
    if (!im->residual || !im->m0 || !im->m1 || !im->sum0 || !im->sum1 || !im->cnt0 || !im->cnt1) {
        impl_free(im);
        return QSGD_FAIL_BIT(err, QSGD_ENOMEM, 0, "onebit: out of memory for %zu values", q->n);
    }
    q->impl = im;
    return QSGD_OK;
}

static void onebit_fini(quant *q) {
    impl_free(q->impl);
}

static uint64_t onebit_max_bits(const quant *q) {
    const onebit_impl *im = q->impl;
    return 64ull * im->ngroups + q->n;
}

static void onebit_reset(quant *q) {
    onebit_impl *im = q->impl;
    memset(im->residual, 0, q->n * sizeof(float));
}

static const float *onebit_residual(const quant *q) {
    const onebit_impl *im = q->impl;
    return im->residual;
}

/* The non-negative part of g for the sums: g when its sign bit is clear, +0 when set. Which
 * zero, and whether g = ±0 lands here or in g - pos_part(g), does not matter: the sums start
 * at +0 and adding ±0 to them changes nothing, so each sum is the index-order sum of its
 * strict sign class either way. Integer masks, not fmaxf or ?: (fmaxf is a libm call per
 * value; GCC neither if-converts nor vectorises a float ?: under -ftrapping-math). */
static inline float pos_part(float g) {
    uint32_t u;
    memcpy(&u, &g, 4);
    u &= ~(uint32_t)((int32_t)u >> 31);
    memcpy(&g, &u, 4);
    return g;
}

/* c ? a : b without a branch, as a mask (vectorisable; signs are random, so a branch would
 * mispredict half the time). */
static inline float select_f(int c, float a, float b) {
    uint32_t ua, ub, m = (uint32_t)0 - (uint32_t)(c != 0);
    memcpy(&ua, &a, 4);
    memcpy(&ub, &b, 4);
    uint32_t u = (ua & m) | (ub & ~m);
    float r;
    memcpy(&r, &u, 4);
    return r;
}

/* A prefetch of p + ahead, the address formed as an integer: past the end of the array it
 * is only a hint (never read), and no out-of-range pointer is formed. The vector sums are
 * bound by their add chains, so the out-of-order window reaches too few lines ahead to
 * hide a 64 MiB input's misses (the hardware prefetchers did not on this VM). */
static inline void prefetch_ahead(const float *p, size_t ahead) {
    __builtin_prefetch((const void *)((uintptr_t)p + ahead * sizeof *p));
}

/* Columns of a matrix summed at once: their sums and counts (24 bytes each) stay in L1
 * while every row passes, and each column's chain still adds its rows in order. */
enum { ONEBIT_COLS = 256, ONEBIT_AHEAD = 4 };

/* Per-group means of g = v + residual (g is not stored: the finish pass forms it again, the
 * same float add); returns EINVAL on non-finite input (the residual is untouched). */
static int onebit_stats(quant *q, const float *v, qsgd_err *err) {
    onebit_impl *im = q->impl;
    const float *res = im->residual;
    const size_t n = q->n, G = im->ngroups;
    int bad = 0;
    if (im->columns) { /* a block of columns over all rows: the j loop is across chains */
        const size_t R = q->rows, C = q->cols;
        for (size_t j0 = 0; j0 < C; j0 += ONEBIT_COLS) {
            const size_t w = C - j0 < ONEBIT_COLS ? C - j0 : ONEBIT_COLS;
            double *restrict s0 = im->sum0 + j0, *restrict s1 = im->sum1 + j0;
            size_t *restrict c1 = im->cnt1 + j0;
            for (size_t k = 0; k < w; k++) {
                s0[k] = 0;
                s1[k] = 0;
                c1[k] = 0;
            }
            for (size_t r = 0; r < R; r++) {
                const float *vr = v + r * C + j0, *er = res + r * C + j0;
                if (r + ONEBIT_AHEAD < R) /* rows a block apart: the prefetchers miss them */
                    for (size_t k = 0; k < w; k += 16) {
                        __builtin_prefetch(vr + ONEBIT_AHEAD * C + k);
                        __builtin_prefetch(er + ONEBIT_AHEAD * C + k);
                    }
                for (size_t k = 0; k < w; k++) {
                    float g = vr[k] + er[k], gp = pos_part(g);
                    bad |= !(fabsf(g) <= 3.40282347e38f);
                    s1[k] += (double)gp;
                    s0[k] += (double)(g - gp);
                    c1[k] += (size_t)(g >= 0.0f);
                }
            }
        }
        for (size_t j = 0; j < C; j++)
            im->cnt0[j] = R - im->cnt1[j];
    } else { /* branch-free sums: the signs are random, so branches would mispredict */
        const size_t d = q->params.bucket;
        for (size_t b = 0; b < G; b++) {
            size_t b0 = b * d, bend = b0 + d < n ? b0 + d : n;
            double s0 = 0, s1 = 0;
            size_t c1 = 0;
            for (size_t i = b0; i < bend; i++) {
                prefetch_ahead(v + i, 512);
                prefetch_ahead(res + i, 512);
                float g = v[i] + res[i], gp = pos_part(g);
                bad |= !(fabsf(g) <= 3.40282347e38f);
                s1 += (double)gp;
                s0 += (double)(g - gp); /* = min(g, 0) up to the sign of a zero */
                c1 += (size_t)(g >= 0.0f);
            }
            im->sum0[b] = s0;
            im->sum1[b] = s1;
            im->cnt1[b] = c1;
            im->cnt0[b] = (bend - b0) - c1;
        }
    }
    if (bad) {
        size_t i = 0;
        while (i < n && isfinite(v[i] + res[i]))
            i++;
        return QSGD_FAIL_BIT(err, QSGD_EINVAL, 0,
                             "onebit: input value %g (+ residual) at index %zu is not finite",
                             (double)v[i], i);
    }
    for (size_t b = 0; b < G; b++) {
        im->m0[b] = im->cnt0[b] ? (float)(im->sum0[b] / (double)im->cnt0[b]) : 0.0f;
        im->m1[b] = im->cnt1[b] ? (float)(im->sum1[b] / (double)im->cnt1[b]) : 0.0f;
    }
    return QSGD_OK;
}

/* Values per step of the finish pass: g = v + residual is formed into a stack block, then
 * its bits, decoded values and residual are written by loops the compiler vectorises.
 * A multiple of 8, so that every block starts on a byte of the bit field. */
enum { ONEBIT_CHUNK = 512 };

/* The sign bits of g[0 .. len) MSB first into bits (1 = non-negative); a last partial byte
 * is padded with zeros. */
static void pack_signs(const float *g, size_t len, uint8_t *bits) {
    size_t nb = len / 8;
    for (size_t t = 0; t < nb; t++) {
        const float *p = g + 8 * t;
        unsigned b = 0;
        for (unsigned u = 0; u < 8; u++)
            b |= (unsigned)(p[u] >= 0.0f) << (7 - u);
        bits[t] = (uint8_t)b;
    }
    if (len & 7) {
        unsigned b = 0;
        for (size_t u = 0; u < (len & 7); u++)
            b |= (unsigned)(g[8 * nb + u] >= 0.0f) << (7 - u);
        bits[nb] = (uint8_t)b;
    }
}

/* decoded values into out (may be NULL), the residual update and, when bits is not NULL,
 * the sign bits: n bits MSB first from bits[0] (1 = non-negative; the last byte padded with
 * zeros), the wire format's bit field, in the same pass. */
static void onebit_finish(quant *q, const float *v, float *out, uint8_t *bits) {
    onebit_impl *im = q->impl;
    const int fb = !q->params.no_feedback;
    const size_t n = q->n, glen = im->columns ? q->cols : q->params.bucket;
    float *res = im->residual;
    float gl[ONEBIT_CHUNK];
    for (size_t c0 = 0; c0 < n; c0 += ONEBIT_CHUNK) {
        const size_t clen = n - c0 < ONEBIT_CHUNK ? n - c0 : ONEBIT_CHUNK;
        for (size_t k = 0; k < clen; k++)
            gl[k] = v[c0 + k] + res[c0 + k];
        if (bits)
            pack_signs(gl, clen, bits + c0 / 8);
        /* the block a group segment at a time: a row (columns) or a bucket (vectors) */
        size_t grp = c0 / glen, off = c0 % glen;
        for (size_t k0 = 0; k0 < clen;) {
            const size_t len = glen - off < clen - k0 ? glen - off : clen - k0;
            const float *gs = gl + k0;
            float *rs = res + c0 + k0, *os = out ? out + c0 + k0 : NULL;
            if (im->columns) {
                const float *m0 = im->m0 + off, *m1 = im->m1 + off;
                if (fb)
                    for (size_t k = 0; k < len; k++)
                        rs[k] = gs[k] - select_f(gs[k] >= 0.0f, m1[k], m0[k]);
                if (os)
                    for (size_t k = 0; k < len; k++)
                        os[k] = select_f(gs[k] >= 0.0f, m1[k], m0[k]);
            } else {
                const float m0 = im->m0[grp], m1 = im->m1[grp];
                if (fb)
                    for (size_t k = 0; k < len; k++)
                        rs[k] = gs[k] - select_f(gs[k] >= 0.0f, m1, m0);
                if (os)
                    for (size_t k = 0; k < len; k++)
                        os[k] = select_f(gs[k] >= 0.0f, m1, m0);
            }
            if (!fb)
                memset(rs, 0, len * sizeof(float));
            k0 += len;
            off += len;
            if (off == glen) {
                off = 0;
                grp++;
            }
        }
    }
}

static int onebit_quantize(quant *q, const float *v, const quant_ctx *ctx, float *out,
                           qsgd_err *err) {
    int rc = onebit_stats(q, v, err);
    if (rc)
        return rc;
    onebit_finish(q, v, out, NULL);
    return QSGD_OK;
}

static int onebit_encode(quant *q, const float *v, const quant_ctx *ctx, uint8_t *buf, size_t cap,
                         uint64_t *nbits, qsgd_err *err) {
    onebit_impl *im = q->impl;
    uint64_t total = onebit_max_bits(q);
    if ((total + 7) / 8 > cap)
        return QSGD_FAIL_BIT(err, QSGD_ENOSPC, 0, "onebit: buffer of %zu bytes, need %llu", cap,
                             (unsigned long long)((total + 7) / 8));
    int rc = onebit_stats(q, v, err);
    if (rc)
        return rc;
    bitw w;
    bitw_init(&w, buf, cap);
    for (size_t b = 0; b < im->ngroups; b++) {
        uint32_t u0, u1;
        memcpy(&u0, &im->m0[b], 4);
        memcpy(&u1, &im->m1[b], 4);
        bitw_put(&w, u0, 32);
        bitw_put(&w, u1, 32);
    }
    *nbits = bitw_finish(&w) + q->n; /* 64 G bits: the sign bits start on a byte */
    onebit_finish(q, v, NULL, buf + 8 * im->ngroups);
    return QSGD_OK;
}

static int onebit_decode(const quant *q, const uint8_t *buf, size_t len, uint64_t nbits, float *out,
                         qsgd_err *err) {
    const onebit_impl *im = q->impl;
    const size_t G = im->ngroups;
    uint64_t want = 64ull * G + q->n;
    if (nbits != want)
        return QSGD_FAIL_BIT(err, QSGD_ECORRUPT, nbits < want ? nbits : want,
                             "onebit: message of %llu bits, expected exactly %llu (%s)",
                             (unsigned long long)nbits, (unsigned long long)want,
                             nbits < want ? "truncated" : "trailing bits");
    bitr r;
    bitr_init(&r, buf, len, nbits);
    /* validate every reconstruction value first, then expand bits (no allocation) */
    for (size_t b = 0; b < G; b++) {
        uint32_t u0 = 0, u1 = 0; /* nbits == want: both reads succeed */
        uint64_t at = r.pos;
        bitr_get(&r, 32, &u0);
        bitr_get(&r, 32, &u1);
        float m0, m1;
        memcpy(&m0, &u0, 4);
        memcpy(&m1, &u1, 4);
        if (!isfinite(m0) || !isfinite(m1) || m0 > 0.0f || m1 < 0.0f)
            return QSGD_FAIL_BIT(
                err, QSGD_ECORRUPT, at,
                "onebit: group %zu has invalid reconstruction values (%g, %g) at bit %llu", b,
                (double)m0, (double)m1, (unsigned long long)at);
    }
    const uint64_t bits0 = 64ull * G; /* a multiple of 8: the bits start on a byte */
    const uint8_t *bits = buf + (bits0 >> 3);
    const size_t n = q->n, glen = im->columns ? q->cols : q->params.bucket;
    for (size_t i0 = 0; i0 < n; i0 += glen) {
        size_t len = n - i0 < glen ? n - i0 : glen;
        if (!im->columns) { /* one group: its two values read once */
            const uint8_t *p = buf + 8 * (i0 / glen);
            uint32_t u0 = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
            uint32_t u1 = (uint32_t)p[4] << 24 | (uint32_t)p[5] << 16 | (uint32_t)p[6] << 8 | p[7];
            for (size_t k = 0; k < len; k++) {
                size_t i = i0 + k;
                uint32_t m = (uint32_t)0 - ((bits[i >> 3] >> (7 - (i & 7))) & 1u);
                uint32_t u = (u1 & m) | (u0 & ~m);
                memcpy(&out[i], &u, 4);
            }
            continue;
        }
        for (size_t k = 0; k < len; k++) {
            size_t i = i0 + k, b = k;
            int one = (bits[i >> 3] >> (7 - (i & 7))) & 1;
            const uint8_t *p = buf + 8 * b + (one ? 4 : 0);
            uint32_t u = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
            memcpy(&out[i], &u, 4);
        }
    }
    return QSGD_OK;
}

enum { OPT_BUCKET, OPT_FEEDBACK };
static const qsgd_opt onebit_opts[] = {
    [OPT_BUCKET] = {.name = "bucket",
                    .aliases = "d",
                    .kind = QSGD_OPT_SIZE,
                    .offset = offsetof(quant_params, bucket),
                    .max = SIZE_MAX,
                    .def = "0",
                    .meta = "D",
                    .help = "values per group of a vector (0 = whole); matrices use columns"},
    [OPT_FEEDBACK] = {.name = "feedback",
                      .kind = QSGD_OPT_BOOL,
                      .offset = offsetof(quant_params, no_feedback),
                      .def = "1",
                      .help = "error feedback (0 = plain sign quantization, residual dropped)",
                      .flags = QSGD_OPT_NEGATED},
    {.name = NULL},
};

/* "1-bit SGD", " no EF" without feedback, and at level 1 " d=N" when bucket was given. */
static int onebit_label(const quant_spec *sp, int level, char *out, size_t len) {
    int w = snprintf(out, len, "1-bit SGD%s", sp->params.no_feedback ? " no EF" : "");
    size_t l = w < 0 ? 0 : (size_t)w;
    if (level >= 1 && (sp->given >> OPT_BUCKET & 1))
        l += (size_t)snprintf(out + l, l < len ? len - l : 0, " d=%zu", sp->params.bucket);
    return l < len ? 0 : -1;
}

/* Claims checked by `qsgdsim stats` (from a reset state): biased; each group's values are
 * replaced by the mean of their sign class, which removes that class's mean from its sum of
 * squares, so ||C(v) - v||^2 <= ||v||^2. */
static int onebit_unbiased(const quant_params *p) {
    (void)p;
    return 0;
}

static double onebit_variance_bound(const quant *q) {
    (void)q;
    return 1.0;
}

const quant_type quant_type_onebit = {
    .name = "onebit",
    .summary = "1-bit SGD with error feedback: sign bit per value, two means per column/bucket",
    .opts = onebit_opts,
    .stateful = 1,
    .lossless = 0,
    .label = onebit_label,
    .init = onebit_init,
    .fini = onebit_fini,
    .max_bits = onebit_max_bits,
    .quantize = onebit_quantize,
    .encode = onebit_encode,
    .decode = onebit_decode,
    .reset = onebit_reset,
    .residual = onebit_residual,
    .unbiased = onebit_unbiased,
    .variance_bound = onebit_variance_bound,
    .gpu_codec = QUANT_GPU_ONEBIT,
};
