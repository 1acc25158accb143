/* quant_randomk.c — random-k sparsification (Stich, Cordonnier & Jaggi, NeurIPS 2018,
 * "Sparsified SGD with memory"): k coordinates drawn uniformly without replacement.
 *
 *   scale=1 (unbiased, stateless):  Q(v)_i = v_i * c for i in S, 0 elsewhere, c = fl(n / k)
 *           (E Q(v) = v up to the rounding of c; E||Q(v) - v||^2 = (n/k - 1) ||v||^2)
 *   scale=0 (error feedback):       g = v + e, Q(v)_i = g_i on S, e = g - Q(v)
 *   k = the option k when given (clamped to n), else max(1, floor(ratio n + 1e-9)).
 *
 * The set S. A 64-bit set seed is taken from the context's stream (quant.h, qrng.h):
 * S64 = r_0 << 32 | r_1, the words of coordinates 0 and 1 of qrng_make(seed, worker, step,
 * tensor). From it, Floyd's algorithm on the stream qrng_make(S64, 0, 0, 0): draw j = 0..k-1
 * takes t = floor(x * (J + 1) / 2^64), J = n - k + j, x = r_{2j} << 32 | r_{2j+1}; t is taken
 * unless already in S, else J is. S is then sent in index order. The draw's bias is below
 * (J + 1) / 2^64 per draw.
 *
 * Wire format: [index part][k values: 32-bit IEEE floats in index order, MSB first], the
 * index part one of (option index=):
 *   seed  (default) S64 itself, 64 bits: the receiver derives S as the sender did. Exactly
 *         64 + 32 k bits.
 *   raw   the k indices, 32 bits each (sparse_index.h). Exactly 64 k bits.
 *   elias the k indices as Elias-omega coded gaps (sparse_index.h). */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bitstream.h"
#include "qrng.h"
#include "qsgd_opt.h"
#include "quant.h"
#include "sparse_index.h"

#define CHUNK 1024 /* random words per pass; a multiple of QRNG_GROUP */

enum { INDEX_SEED = 2 }; /* beside SPARSE_INDEX_RAW (0), SPARSE_INDEX_ELIAS (1) */

typedef struct randomk_opts {
    double ratio;
    size_t k;
    int index;    /* SPARSE_INDEX_RAW, SPARSE_INDEX_ELIAS or INDEX_SEED */
    int no_scale; /* 1: error feedback instead of the n/k scaling */
} randomk_opts;
QUANT_EXT_FITS(randomk_opts);

typedef struct randomk_impl {
    size_t k;
    int simd;
    float scale;    /* fl(n / k) */
    float *e;       /* [n] residual (scale=0) */
    uint64_t *bits; /* [(n + 63) / 64] membership bitmap, all zero between calls */
    uint32_t *idx;  /* [k] */
    float *val;     /* [k] */
    uint32_t *rnd;  /* [CHUNK] */
} randomk_impl;

static void impl_free(randomk_impl *im) {
    if (!im)
        return;
    free(im->e);
    free(im->bits);
    free(im->idx);
    free(im->val);
    free(im->rnd);
    free(im);
}

static int randomk_init(quant *q, qsgd_err *err) {
    randomk_opts *o = QUANT_EXT(&q->params, randomk_opts);
    if (q->n > SPARSE_INDEX_MAX_N)
        return QSGD_FAIL_BIT(err, QSGD_EINVAL, 0, "randomk: %zu coordinates, at most %llu", q->n,
                             (unsigned long long)SPARSE_INDEX_MAX_N);
    if (o->index != SPARSE_INDEX_RAW && o->index != SPARSE_INDEX_ELIAS && o->index != INDEX_SEED)
        return QSGD_FAIL_BIT(err, QSGD_EINVAL, 0, "randomk: bad index code %d", o->index);
    if (!(o->ratio > 0.0 && o->ratio <= 1.0) && o->k == 0)
        return QSGD_FAIL_BIT(err, QSGD_EINVAL, 0,
                             "randomk: ratio=%g must lie in (0, 1] (or give k)", o->ratio);
    randomk_impl *im = calloc(1, sizeof *im);
    if (!im)
        return QSGD_FAIL_BIT(err, QSGD_ENOMEM, 0, "randomk: out of memory");
    if (o->k) {
        im->k = o->k < q->n ? o->k : q->n;
    } else {
        double x = floor(o->ratio * (double)q->n + 1e-9);
        im->k = x < 1 ? 1 : x < (double)q->n ? (size_t)x : q->n;
    }
    o->k = im->k;
    im->scale = (float)((double)q->n / (double)im->k);
    im->simd = qrng_simd_available();
    im->e = calloc(q->n, sizeof *im->e);
    im->bits = calloc((q->n + 63) / 64, sizeof *im->bits);
    im->idx = malloc(im->k * sizeof *im->idx);
    im->val = malloc(im->k * sizeof *im->val);
    im->rnd = malloc(CHUNK * sizeof *im->rnd);
    if (!im->e || !im->bits || !im->idx || !im->val || !im->rnd) {
        impl_free(im);
        return QSGD_FAIL_BIT(err, QSGD_ENOMEM, 0, "randomk: out of memory for %zu values", q->n);
    }
    q->impl = im;
    return QSGD_OK;
}

static void randomk_fini(quant *q) {
    impl_free(q->impl);
}

static uint64_t index_bits_max(const quant *q) {
    const randomk_impl *im = q->impl;
    int index = QUANT_EXT_CONST(&q->params, randomk_opts)->index;
    return index == INDEX_SEED ? 64 : sparse_index_max_bits((sparse_index_code)index, im->k, q->n);
}

static uint64_t randomk_max_bits(const quant *q) {
    const randomk_impl *im = q->impl;
    return index_bits_max(q) + 32ull * im->k;
}

static void randomk_reset(quant *q) {
    randomk_impl *im = q->impl;
    memset(im->e, 0, q->n * sizeof *im->e);
}

static const float *randomk_residual(const quant *q) {
    const randomk_impl *im = q->impl;
    return im->e;
}

static uint64_t set_seed(const quant_ctx *ctx) {
    qrng_stream st = qrng_make(ctx->seed, ctx->worker, ctx->step, ctx->tensor);
    return (uint64_t)qrng_word(&st, 0) << 32 | qrng_word(&st, 1);
}

/* S from its seed into im->idx (increasing); the bitmap is left all zero. */
static void draw_set(randomk_impl *im, size_t n, uint64_t seed) {
    const size_t k = im->k;
    qrng_stream st = qrng_make(seed, 0, 0, 0);
    uint64_t *bits = im->bits;
    for (size_t j0 = 0; j0 < k; j0 += CHUNK / 2) {
        size_t len = k - j0 < CHUNK / 2 ? k - j0 : CHUNK / 2;
        qrng_fill_groups(&st, 2 * j0 / QRNG_GROUP, (2 * len + QRNG_GROUP - 1) / QRNG_GROUP, im->rnd,
                         im->simd);
        for (size_t j = j0; j < j0 + len; j++) {
            uint64_t x = (uint64_t)im->rnd[2 * (j - j0)] << 32 | im->rnd[2 * (j - j0) + 1];
            uint64_t J = (uint64_t)(n - k + j);
            uint64_t t = (uint64_t)(((unsigned __int128)x * (J + 1)) >> 64);
            if (bits[t >> 6] >> (t & 63) & 1)
                t = J;
            bits[t >> 6] |= (uint64_t)1 << (t & 63);
        }
    }
    size_t m = 0;
    for (size_t w = 0; w < (n + 63) / 64; w++) {
        uint64_t b = bits[w];
        if (!b)
            continue;
        bits[w] = 0;
        while (b) {
            im->idx[m++] = (uint32_t)(64 * w + (unsigned)__builtin_ctzll(b));
            b &= b - 1;
        }
    }
}

/* The set and its values; the residual is updated (scale=0) only when all is well. */
static int randomk_run(quant *q, const float *v, const quant_ctx *ctx, qsgd_err *err) {
    randomk_impl *im = q->impl;
    const int fb = QUANT_EXT_CONST(&q->params, randomk_opts)->no_scale;
    const size_t n = q->n, k = im->k;
    int bad = 0;
    if (fb) {
        for (size_t i = 0; i < n; i++)
            bad |= !(fabsf(v[i] + im->e[i]) <= 3.40282347e38f);
    } else {
        for (size_t i = 0; i < n; i++)
            bad |= !(fabsf(v[i]) <= 3.40282347e38f);
    }
    if (bad) {
        size_t i = 0;
        while (i < n && isfinite(fb ? v[i] + im->e[i] : v[i]))
            i++;
        return QSGD_FAIL_BIT(err, QSGD_EINVAL, 0,
                             "randomk: input value %g%s at index %zu is not finite", (double)v[i],
                             fb ? " (+ residual)" : "", i);
    }
    draw_set(im, n, set_seed(ctx));
    if (fb) {
        for (size_t i = 0; i < n; i++)
            im->e[i] += v[i];
        for (size_t j = 0; j < k; j++) {
            im->val[j] = im->e[im->idx[j]];
            im->e[im->idx[j]] = 0.0f;
        }
    } else {
        int over = 0;
        for (size_t j = 0; j < k; j++) {
            im->val[j] = v[im->idx[j]] * im->scale;
            over |= !(fabsf(im->val[j]) <= 3.40282347e38f);
        }
        if (over) {
            size_t j = 0;
            while (j < k && isfinite(im->val[j]))
                j++;
            return QSGD_FAIL_BIT(err, QSGD_EINVAL, 0,
                                 "randomk: value %g at index %u times n/k = %g overflows float",
                                 (double)v[im->idx[j]], im->idx[j], (double)im->scale);
        }
    }
    return QSGD_OK;
}

static int randomk_quantize(quant *q, const float *v, const quant_ctx *ctx, float *out,
                            qsgd_err *err) {
    randomk_impl *im = q->impl;
    int rc = randomk_run(q, v, ctx, err);
    if (rc)
        return rc;
    memset(out, 0, q->n * sizeof *out);
    for (size_t j = 0; j < im->k; j++)
        out[im->idx[j]] = im->val[j];
    return QSGD_OK;
}

static int randomk_encode(quant *q, const float *v, const quant_ctx *ctx, uint8_t *buf, size_t cap,
                          uint64_t *nbits, qsgd_err *err) {
    randomk_impl *im = q->impl;
    const int index = QUANT_EXT_CONST(&q->params, randomk_opts)->index;
    const size_t k = im->k;
    /* the size check before any state changes (the set does not depend on v) */
    uint64_t total;
    if (index == INDEX_SEED) {
        total = 64 + 32ull * k;
    } else {
        draw_set(im, q->n, set_seed(ctx));
        total = sparse_index_bits((sparse_index_code)index, im->idx, k) + 32ull * k;
    }
    if ((total + 7) / 8 > cap)
        return QSGD_FAIL_BIT(err, QSGD_ENOSPC, 0, "randomk: buffer of %zu bytes, need %llu", cap,
                             (unsigned long long)((total + 7) / 8));
    int rc = randomk_run(q, v, ctx, err);
    if (rc)
        return rc;
    bitw w;
    bitw_init(&w, buf, cap);
    if (index == INDEX_SEED) {
        uint64_t s = set_seed(ctx);
        bitw_put(&w, (uint32_t)(s >> 32), 32);
        bitw_put(&w, (uint32_t)s, 32);
    } else {
        sparse_index_put(&w, (sparse_index_code)index, im->idx, k);
    }
    for (size_t j = 0; j < k; j++) {
        uint32_t u;
        memcpy(&u, &im->val[j], 4);
        bitw_put(&w, u, 32);
    }
    *nbits = bitw_finish(&w);
    return QSGD_OK;
}

static int randomk_decode(const quant *q, const uint8_t *buf, size_t len, uint64_t nbits,
                          float *out, qsgd_err *err) {
    randomk_impl *im = q->impl; /* decode workspace (one thread at a time, quant.h) */
    const int index = QUANT_EXT_CONST(&q->params, randomk_opts)->index;
    const size_t k = im->k;
    bitr r;
    bitr_init(&r, buf, len, nbits);
    if (index == INDEX_SEED) {
        uint32_t hi, lo;
        if (bitr_get(&r, 32, &hi) || bitr_get(&r, 32, &lo))
            return QSGD_FAIL_BIT(err, QSGD_ECORRUPT, nbits, "randomk: truncated in the set seed");
        draw_set(im, q->n, (uint64_t)hi << 32 | lo);
    } else {
        uint64_t bit;
        const char *why;
        if (sparse_index_get(&r, (sparse_index_code)index, k, q->n, im->idx, &bit, &why))
            return QSGD_FAIL_BIT(err, QSGD_ECORRUPT, bit, "randomk: %s at bit %llu", why,
                                 (unsigned long long)bit);
    }
    if (nbits - r.pos != 32ull * k)
        return QSGD_FAIL_BIT(err, QSGD_ECORRUPT,
                             nbits - r.pos < 32ull * k ? nbits : r.pos + 32ull * k,
                             "randomk: %llu bits of values after the indices, expected %llu (%s)",
                             (unsigned long long)(nbits - r.pos), (unsigned long long)(32ull * k),
                             nbits - r.pos < 32ull * k ? "truncated" : "trailing bits");
    memset(out, 0, q->n * sizeof *out);
    for (size_t j = 0; j < k; j++) {
        uint64_t at = r.pos;
        uint32_t u = 0;
        bitr_get(&r, 32, &u);
        float x;
        memcpy(&x, &u, 4);
        if (!isfinite(x))
            return QSGD_FAIL_BIT(err, QSGD_ECORRUPT, at,
                                 "randomk: value %zu is not finite at bit %llu", j,
                                 (unsigned long long)at);
        out[im->idx[j]] = x;
    }
    return QSGD_OK;
}

static const qsgd_opt_choice index_choices[] = {
    {"seed", INDEX_SEED}, {"raw", SPARSE_INDEX_RAW}, {"elias", SPARSE_INDEX_ELIAS}, {NULL, 0}};
enum { OPT_RATIO, OPT_K, OPT_INDEX, OPT_SCALE };
static const qsgd_opt randomk_optrows[] = {
    [OPT_RATIO] = {.name = "ratio",
                   .kind = QSGD_OPT_DOUBLE,
                   .offset = QUANT_EXT_OFFSET(randomk_opts, ratio),
                   .dmin = 0.0,
                   .dmax = 1.0,
                   .def = "0.01",
                   .meta = "R",
                   .help = "fraction kept: k = max(1, floor(R n)) when k is not given"},
    [OPT_K] = {.name = "k",
               .kind = QSGD_OPT_SIZE,
               .offset = QUANT_EXT_OFFSET(randomk_opts, k),
               .max = SPARSE_INDEX_MAX_N,
               .def = "0",
               .meta = "K",
               .help = "coordinates kept (clamped to n; 0 = from ratio)"},
    [OPT_INDEX] = {.name = "index",
                   .kind = QSGD_OPT_ENUM,
                   .offset = QUANT_EXT_OFFSET(randomk_opts, index),
                   .choices = index_choices,
                   .def = "seed",
                   .help = "index set: seed (64-bit set seed, receiver derives the set), raw "
                           "(32 bits each) or elias (Elias-omega gaps)"},
    [OPT_SCALE] = {.name = "scale",
                   .kind = QSGD_OPT_BOOL,
                   .offset = QUANT_EXT_OFFSET(randomk_opts, no_scale),
                   .def = "1",
                   .help = "1: values times n/k (unbiased); 0: unscaled, with error feedback",
                   .flags = QSGD_OPT_NEGATED},
    {.name = NULL},
};

static int randomk_variable_length(const quant_params *p) {
    return QUANT_EXT_CONST(p, randomk_opts)->index == SPARSE_INDEX_ELIAS;
}

/* "random-k 1%" (or "random-k k=100"), " EF" with error feedback, " Elias"/" raw idx". */
static int randomk_label(const quant_spec *sp, int level, char *out, size_t len) {
    (void)level;
    const randomk_opts *o = QUANT_EXT_CONST(&sp->params, randomk_opts);
    int w = (sp->given >> OPT_K & 1) && o->k
                ? snprintf(out, len, "random-k k=%zu", o->k)
                : snprintf(out, len, "random-k %g%%", 100.0 * o->ratio);
    size_t l = w < 0 ? 0 : (size_t)w;
    if (o->no_scale)
        l += (size_t)snprintf(out + l, l < len ? len - l : 0, " EF");
    if (o->index == SPARSE_INDEX_ELIAS)
        l += (size_t)snprintf(out + l, l < len ? len - l : 0, " Elias");
    else if (o->index == SPARSE_INDEX_RAW)
        l += (size_t)snprintf(out + l, l < len ? len - l : 0, " raw idx");
    return l < len ? 0 : -1;
}

/* Claims checked by `qsgdsim stats` (from a reset state): scale=1 unbiased (up to the rounding
 * of c = fl(n/k)) with E||C(v) - v||^2 = (p (c - 1)^2 + 1 - p) ||v||^2, p = k/n, i.e.
 * n/k - 1 for c = n/k exactly; scale=0 biased, each coordinate dropped with probability
 * 1 - p: E||C(v) - v||^2 = (1 - p) ||v||^2. */
static int randomk_unbiased(const quant_params *p) {
    return !QUANT_EXT_CONST(p, randomk_opts)->no_scale;
}

static double randomk_variance_bound(const quant *q) {
    const randomk_impl *im = q->impl;
    double p = (double)im->k / (double)q->n, c = (double)im->scale;
    if (QUANT_EXT_CONST(&q->params, randomk_opts)->no_scale)
        return 1.0 - p;
    return p * (c - 1.0) * (c - 1.0) + (1.0 - p);
}

const quant_type quant_type_randomk = {
    .name = "randomk",
    .summary = "random-k sparsification: k coordinates from the shared-seed stream, scaled n/k "
               "(unbiased) or with error feedback",
    .opts = randomk_optrows,
    .stateful = 1,
    .lossless = 0,
    .variable_length = randomk_variable_length,
    .label = randomk_label,
    .init = randomk_init,
    .fini = randomk_fini,
    .max_bits = randomk_max_bits,
    .quantize = randomk_quantize,
    .encode = randomk_encode,
    .decode = randomk_decode,
    .reset = randomk_reset,
    .residual = randomk_residual,
    .unbiased = randomk_unbiased,
    .variance_bound = randomk_variance_bound,
};
