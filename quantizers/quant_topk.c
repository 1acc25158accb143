/* quant_topk.c — top-k sparsification with error feedback (Aji & Heafield, EMNLP 2017;
 * Stich, Cordonnier & Jaggi, NeurIPS 2018 "Sparsified SGD with memory").
 *
 *   g = v + e  (feedback=0: g = v, e stays 0)
 *   S = the k indices of largest |g_i|, ties broken by the lowest index (so |S| = k exactly)
 *   Q(v)_i = g_i for i in S, +0 elsewhere;  e = g - Q(v)  (e_i = 0 on S, g_i elsewhere)
 *   k = the option k when given (clamped to n), else max(1, floor(ratio n + 1e-9)).
 *
 * Selection is linear, not a sort: a three-round radix select on the magnitude's IEEE bits
 * (11 + 10 + 10 bits; |x| as an unsigned integer orders like |x|) finds the k-th largest
 * magnitude T and how many lie strictly above it; S is every |g_i| > T and the first
 * k - above indices with |g_i| = T, in index order. Two passes over the n values: the
 * first round's histogram, then one that takes every value above the round's bin and keeps
 * the bin's values as candidates for rounds 2 and 3 and the ties.
 *
 * Wire format: [index set: sparse_index.h, raw (32 k bits) or elias gaps][k values: 32-bit
 * IEEE floats g_{i_0} .. g_{i_{k-1}}, MSB first]. Exactly 64 k bits with index=raw. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "bitstream.h"
#include "qsgd_opt.h"
#include "quant.h"
#include "sparse_index.h"

typedef struct topk_opts {
    double ratio;    /* fraction of coordinates kept when k = 0 */
    size_t k;        /* coordinates kept (0: from ratio) */
    int index;       /* sparse_index_code */
    int no_feedback; /* 1: no error feedback */
} topk_opts;
QUANT_EXT_FITS(topk_opts);

typedef struct topk_impl {
    size_t k;
    float *e;       /* [n] error-feedback residual */
    uint32_t *idx;  /* [k] selected indices (increasing) */
    float *val;     /* [k] their values */
    uint64_t *cand; /* [n] candidates of the radix select: index << 32 | value bits */
    uint32_t *cmag; /* [n] their magnitudes in round 3 */
} topk_impl;

static void impl_free(topk_impl *im) {
    if (!im)
        return;
    free(im->e);
    free(im->idx);
    free(im->val);
    free(im->cand);
    free(im->cmag);
    free(im);
}

static size_t topk_k(const topk_opts *o, size_t n) {
    if (o->k)
        return o->k < n ? o->k : n;
    double x = floor(o->ratio * (double)n + 1e-9);
    size_t k = x < 1 ? 1 : (size_t)x;
    return k < n ? k : n;
}

static int topk_init(quant *q, qsgd_err *err) {
    topk_opts *o = QUANT_EXT(&q->params, topk_opts);
    if (q->n > SPARSE_INDEX_MAX_N)
        return QSGD_FAIL_BIT(err, QSGD_EINVAL, 0, "topk: %zu coordinates, at most %llu", q->n,
                             (unsigned long long)SPARSE_INDEX_MAX_N);
    if (o->index != SPARSE_INDEX_RAW && o->index != SPARSE_INDEX_ELIAS)
        return QSGD_FAIL_BIT(err, QSGD_EINVAL, 0, "topk: bad index code %d", o->index);
    if (!(o->ratio > 0.0 && o->ratio <= 1.0) && o->k == 0)
        return QSGD_FAIL_BIT(err, QSGD_EINVAL, 0, "topk: ratio=%g must lie in (0, 1] (or give k)",
                             o->ratio);
    topk_impl *im = calloc(1, sizeof *im);
    if (!im)
        return QSGD_FAIL_BIT(err, QSGD_ENOMEM, 0, "topk: out of memory");
    im->k = topk_k(o, q->n);
    o->k = im->k; /* resolved, as quant_describe prints it */
    im->e = calloc(q->n, sizeof *im->e);
    im->idx = malloc(im->k * sizeof *im->idx);
    im->val = malloc(im->k * sizeof *im->val);
    im->cand = malloc(q->n * sizeof *im->cand);
    im->cmag = malloc(q->n * sizeof *im->cmag);
    if (!im->e || !im->idx || !im->val || !im->cand || !im->cmag) {
        impl_free(im);
        return QSGD_FAIL_BIT(err, QSGD_ENOMEM, 0, "topk: out of memory for %zu values", q->n);
    }
    q->impl = im;
    return QSGD_OK;
}

static void topk_fini(quant *q) {
    impl_free(q->impl);
}

static uint64_t topk_max_bits(const quant *q) {
    const topk_impl *im = q->impl;
    const topk_opts *o = QUANT_EXT_CONST(&q->params, topk_opts);
    return 32ull * im->k + sparse_index_max_bits((sparse_index_code)o->index, im->k, q->n);
}

static void topk_reset(quant *q) {
    topk_impl *im = q->impl;
    memset(im->e, 0, q->n * sizeof *im->e);
}

static const float *topk_residual(const quant *q) {
    const topk_impl *im = q->impl;
    return im->e;
}

static inline uint32_t mag_bits(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    return u & 0x7FFFFFFFu;
}

/* x = g_i with magnitude bits a >= the bin's low end: taken (to idx/val) when a >= hi,
 * else a candidate of the bin (index << 32 | value bits). */
static inline void topk_take1(float x, uint32_t a, size_t i, uint32_t hi, uint32_t *idx, float *val,
                              size_t *m, uint64_t *cand, size_t *nc) {
    if (a >= hi) {
        idx[*m] = (uint32_t)i;
        val[*m] = x;
        ++*m;
    } else {
        uint32_t u;
        memcpy(&u, &x, 4);
        cand[(*nc)++] = (uint64_t)i << 32 | u;
    }
}

/* Rounds 2 and 3 of the selection: the bin of a 1024-bin histogram h holding the k-th
 * largest, counted from the top with *above magnitudes already above h's range (updated to
 * those above the returned bin). */
static uint32_t kth_bin(const uint32_t *h, size_t *above, size_t k) {
    for (int b = 1023; b >= 0; b--) {
        if (*above + h[b] >= k)
            return (uint32_t)b;
        *above += h[b];
    }
    return 0;
}

/* Round 1's counts of four magnitudes a..d (one per interleaved copy of the histogram);
 * nonzero when one of them is not finite. */
static inline int hist4(uint32_t h4[4][2048], uint32_t a, uint32_t b, uint32_t c, uint32_t d) {
    h4[0][a >> 20]++;
    h4[1][b >> 20]++;
    h4[2][c >> 20]++;
    h4[3][d >> 20]++;
    return (a >= 0x7F800000u) | (b >= 0x7F800000u) | (c >= 0x7F800000u) | (d >= 0x7F800000u);
}

/* The selection of g = v + e (or v), checked finite, into im->idx/val. g is never stored:
 * each pass forms v_i + e_i again (the same float add, so the same bits), which reads v and
 * e twice but writes n floats fewer than keeping a g buffer, and the residual is updated in
 * place (its cache line is already read). With commit = 0 nothing of the state changes here
 * (the residual is committed by topk_commit); with commit = 1 the last pass also writes the
 * residual e = g with the selected coordinates zeroed, for callers that cannot fail after
 * the selection. On error the state is untouched either way. */
static int topk_select(quant *q, const float *v, int commit, qsgd_err *err) {
    topk_impl *im = q->impl;
    const topk_opts *o = QUANT_EXT_CONST(&q->params, topk_opts);
    const size_t n = q->n, k = im->k;
    /* round 1: histogram of the top 11 magnitude bits (30..20), 4 interleaved copies so
     * that equal neighbours do not serialise on one counter */
    uint32_t h4[4][2048];
    memset(h4, 0, sizeof h4);
    int bad = 0;
    const float *ef = o->no_feedback ? NULL : im->e;
    size_t i = 0;
#if defined(__SSE2__)
    /* the add, the magnitude, the finiteness test and the bin number four at a time in
     * SSE2 (the same IEEE single add as the scalar loops'); only the counts are scalar */
    {
        const __m128i absm = _mm_set1_epi32(0x7FFFFFFF), big = _mm_set1_epi32(0x7F7FFFFF);
        __m128i bad4 = _mm_setzero_si128();
        for (; i + 4 <= n; i += 4) {
            __m128 x4 = _mm_loadu_ps(v + i);
            if (ef)
                x4 = _mm_add_ps(x4, _mm_loadu_ps(ef + i));
            __m128i a4 = _mm_and_si128(_mm_castps_si128(x4), absm);
            bad4 = _mm_or_si128(bad4, _mm_cmpgt_epi32(a4, big));
            uint32_t b[4];
            _mm_storeu_si128((__m128i *)b, _mm_srli_epi32(a4, 20));
            h4[0][b[0]]++;
            h4[1][b[1]]++;
            h4[2][b[2]]++;
            h4[3][b[3]]++;
        }
        bad = _mm_movemask_epi8(bad4) != 0;
    }
#endif
    if (ef) {
        for (; i + 4 <= n; i += 4)
            bad |= hist4(h4, mag_bits(v[i] + ef[i]), mag_bits(v[i + 1] + ef[i + 1]),
                         mag_bits(v[i + 2] + ef[i + 2]), mag_bits(v[i + 3] + ef[i + 3]));
    } else {
        for (; i + 4 <= n; i += 4)
            bad |= hist4(h4, mag_bits(v[i]), mag_bits(v[i + 1]), mag_bits(v[i + 2]),
                         mag_bits(v[i + 3]));
    }
    for (; i < n; i++) {
        uint32_t a = mag_bits(ef ? v[i] + ef[i] : v[i]);
        bad |= a >= 0x7F800000u;
        h4[0][a >> 20]++;
    }
    if (bad) {
        for (i = 0; i < n && isfinite(ef ? v[i] + ef[i] : v[i]); i++)
            ;
        return QSGD_FAIL_BIT(err, QSGD_EINVAL, 0,
                             "topk: input value %g%s at index %zu is not finite", (double)v[i],
                             o->no_feedback ? "" : " (+ residual)", i);
    }
    /* the bin of the k-th largest, from the top */
    size_t above = 0; /* count of magnitudes in higher bins */
    uint32_t bin = 0;
    for (int b = 2047; b >= 0; b--) {
        size_t c = (size_t)h4[0][b] + h4[1][b] + h4[2][b] + h4[3][b];
        if (above + c >= k) {
            bin = (uint32_t)b;
            break;
        }
        above += c;
    }
    /* One last pass over g: every magnitude above the bin is selected (index order, into
     * idx/val, `above` of them), every one inside the bin becomes a candidate (index and
     * value bits); with commit the residual is written too, the bin's candidates as g (the
     * selected ones among them are zeroed below). Rounds 2 and 3 then run on the candidates
     * only, so the data is read twice in all instead of three times. */
    const uint32_t lo = bin << 20, hi = lo + (1u << 20); /* bin <= 2047: no overflow */
    uint64_t *cand = im->cand;
    uint32_t *idx = im->idx;
    float *val = im->val;
    size_t nc = 0, m = 0;
    if (commit && ef) {
        float *e = im->e;
        i = 0;
#if defined(__SSE2__)
        /* four at a time: the add, the residual store and the two tests in SSE2 (the same
         * IEEE single add as the scalar loop's), one branch per four values; the values are
         * finite here, so their magnitude bits compare as signed integers (hi - 1 and lo - 1
         * wrap to the right bounds when hi = 2^31 or lo = 0) */
        const __m128i hi1 = _mm_set1_epi32((int32_t)(hi - 1)),
                      lo1 = _mm_set1_epi32((int32_t)(lo - 1)), absm = _mm_set1_epi32(0x7FFFFFFF);
        for (; i + 4 <= n; i += 4) {
            __m128 x4 = _mm_add_ps(_mm_loadu_ps(v + i), _mm_loadu_ps(e + i));
            __m128i a4 = _mm_and_si128(_mm_castps_si128(x4), absm);
            __m128i above4 = _mm_cmpgt_epi32(a4, hi1);
            _mm_storeu_ps(e + i, _mm_andnot_ps(_mm_castsi128_ps(above4), x4));
            int bits = _mm_movemask_ps(_mm_castsi128_ps(_mm_cmpgt_epi32(a4, lo1)));
            if (bits) { /* rare (about 4 k of n) */
                float xs[4];
                _mm_storeu_ps(xs, x4);
                for (int l = 0; l < 4; l++)
                    if (bits >> l & 1)
                        topk_take1(xs[l], mag_bits(xs[l]), i + (size_t)l, hi, idx, val, &m, cand,
                                   &nc);
            }
        }
#endif
        for (; i < n; i++) {
            float x = v[i] + e[i];
            uint32_t a = mag_bits(x);
            e[i] = a >= hi ? 0.0f : x;
            if (a >= lo) /* rare (about k of n): a branch, not two stores per value */
                topk_take1(x, a, i, hi, idx, val, &m, cand, &nc);
        }
    } else if (ef) {
        for (i = 0; i < n; i++) {
            float x = v[i] + ef[i];
            uint32_t a = mag_bits(x);
            if (a >= lo)
                topk_take1(x, a, i, hi, idx, val, &m, cand, &nc);
        }
    } else {
        for (i = 0; i < n; i++) {
            float x = v[i];
            uint32_t a = mag_bits(x);
            if (a >= lo)
                topk_take1(x, a, i, hi, idx, val, &m, cand, &nc);
        }
    }
    /* rounds 2 and 3 on the candidates' magnitudes: bits 19..10, then 9..0; the
     * magnitudes of the round-2 sub-bin are gathered into cmag (the pairs stay whole for
     * the selection below) */
    uint32_t prefix = bin, *cmag = im->cmag;
    size_t nm = 0;
    {
        uint32_t h[1024];
        memset(h, 0, sizeof h);
        for (size_t j = 0; j < nc; j++)
            h[((uint32_t)cand[j] >> 10) & 1023]++;
        prefix = prefix << 10 | kth_bin(h, &above, k);
        for (size_t j = 0; j < nc; j++) {
            uint32_t a = (uint32_t)cand[j] & 0x7FFFFFFFu;
            cmag[nm] = a;
            nm += (a >> 10) == prefix;
        }
        memset(h, 0, sizeof h);
        for (size_t j = 0; j < nm; j++)
            h[cmag[j] & 1023]++;
        prefix = prefix << 10 | kth_bin(h, &above, k);
    }
    /* prefix is now the k-th largest magnitude T; `above` magnitudes exceed it. The bin's
     * candidates taken (every |g_i| > T, then the first k - above with |g_i| = T, in index
     * order, as one pass over all n would take them) are compacted to the front of cand. */
    const uint32_t T = prefix;
    size_t eq_left = k - above, s = 0;
    for (size_t j = 0; j < nc; j++) {
        uint32_t a = (uint32_t)cand[j] & 0x7FFFFFFFu;
        if (a > T || (a == T && eq_left)) {
            eq_left -= a == T;
            cand[s++] = cand[j];
        }
    }
    if (commit && ef)
        for (size_t j = 0; j < s; j++)
            im->e[cand[j] >> 32] = 0.0f;
    /* merge the m values above the bin (idx/val[0..m)) with the s taken from it, both in
     * index order, from the back into idx/val[0..k) (m + s = k) */
    size_t ia = m, ib = s, at = m + s;
    while (ib > 0) {
        uint32_t jb = (uint32_t)(cand[ib - 1] >> 32);
        at--;
        if (ia > 0 && idx[ia - 1] > jb) {
            ia--;
            idx[at] = idx[ia];
            val[at] = val[ia];
        } else {
            ib--;
            uint32_t u = (uint32_t)cand[ib];
            idx[at] = jb;
            memcpy(&val[at], &u, 4);
        }
    }
    return QSGD_OK;
}

/* e = v + e with the selected coordinates zeroed (feedback on). */
static void topk_commit(quant *q, const float *v) {
    topk_impl *im = q->impl;
    if (QUANT_EXT_CONST(&q->params, topk_opts)->no_feedback)
        return;
    for (size_t i = 0; i < q->n; i++)
        im->e[i] = v[i] + im->e[i];
    for (size_t j = 0; j < im->k; j++)
        im->e[im->idx[j]] = 0.0f;
}

static int topk_quantize(quant *q, const float *v, const quant_ctx *ctx, float *out,
                         qsgd_err *err) {
    (void)ctx;
    topk_impl *im = q->impl;
    int rc = topk_select(q, v, 1, err); /* nothing fails after it */
    if (rc)
        return rc;
    memset(out, 0, q->n * sizeof *out);
    for (size_t j = 0; j < im->k; j++)
        out[im->idx[j]] = im->val[j];
    return QSGD_OK;
}

static int topk_encode(quant *q, const float *v, const quant_ctx *ctx, uint8_t *buf, size_t cap,
                       uint64_t *nbits, qsgd_err *err) {
    (void)ctx;
    topk_impl *im = q->impl;
    const sparse_index_code code = (sparse_index_code)QUANT_EXT(&q->params, topk_opts)->index;
    /* a buffer of max_bits cannot be too small: then the residual is written in the
     * selection's last pass; otherwise only after the size check below */
    const int commit = cap >= (topk_max_bits(q) + 7) / 8;
    int rc = topk_select(q, v, commit, err);
    if (rc)
        return rc;
    uint64_t total = sparse_index_bits(code, im->idx, im->k) + 32ull * im->k;
    if ((total + 7) / 8 > cap)
        return QSGD_FAIL_BIT(err, QSGD_ENOSPC, 0, "topk: buffer of %zu bytes, need %llu", cap,
                             (unsigned long long)((total + 7) / 8));
    bitw w;
    bitw_init(&w, buf, cap);
    sparse_index_put(&w, code, im->idx, im->k);
    for (size_t j = 0; j < im->k; j++) {
        uint32_t u;
        memcpy(&u, &im->val[j], 4);
        bitw_put(&w, u, 32);
    }
    *nbits = bitw_finish(&w);
    if (!commit)
        topk_commit(q, v);
    return QSGD_OK;
}

static int topk_decode(const quant *q, const uint8_t *buf, size_t len, uint64_t nbits, float *out,
                       qsgd_err *err) {
    topk_impl *im = q->impl; /* decode workspace: idx (one thread at a time, quant.h) */
    const sparse_index_code code = (sparse_index_code)QUANT_EXT_CONST(&q->params, topk_opts)->index;
    const size_t k = im->k;
    bitr r;
    bitr_init(&r, buf, len, nbits);
    uint64_t bit;
    const char *why;
    if (sparse_index_get(&r, code, k, q->n, im->idx, &bit, &why))
        return QSGD_FAIL_BIT(err, QSGD_ECORRUPT, bit, "topk: %s at bit %llu", why,
                             (unsigned long long)bit);
    if (nbits - r.pos != 32ull * k)
        return QSGD_FAIL_BIT(err, QSGD_ECORRUPT,
                             nbits - r.pos < 32ull * k ? nbits : r.pos + 32ull * k,
                             "topk: %llu bits of values after the indices, expected %llu (%s)",
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
                                 "topk: value %zu is not finite at bit %llu", j,
                                 (unsigned long long)at);
        out[im->idx[j]] = x;
    }
    return QSGD_OK;
}

static const qsgd_opt_choice index_choices[] = {
    {"raw", SPARSE_INDEX_RAW}, {"elias", SPARSE_INDEX_ELIAS}, {NULL, 0}};
enum { OPT_RATIO, OPT_K, OPT_INDEX, OPT_FEEDBACK };
static const qsgd_opt topk_optrows[] = {
    [OPT_RATIO] = {.name = "ratio",
                   .kind = QSGD_OPT_DOUBLE,
                   .offset = QUANT_EXT_OFFSET(topk_opts, ratio),
                   .dmin = 0.0,
                   .dmax = 1.0,
                   .def = "0.01",
                   .meta = "R",
                   .help = "fraction kept: k = max(1, floor(R n)) when k is not given"},
    [OPT_K] = {.name = "k",
               .kind = QSGD_OPT_SIZE,
               .offset = QUANT_EXT_OFFSET(topk_opts, k),
               .max = SPARSE_INDEX_MAX_N,
               .def = "0",
               .meta = "K",
               .help = "coordinates kept (clamped to n; 0 = from ratio)"},
    [OPT_INDEX] = {.name = "index",
                   .kind = QSGD_OPT_ENUM,
                   .offset = QUANT_EXT_OFFSET(topk_opts, index),
                   .choices = index_choices,
                   .def = "raw",
                   .help = "index set: raw (32 bits each) or elias (Elias-omega coded gaps)"},
    [OPT_FEEDBACK] = {.name = "feedback",
                      .kind = QSGD_OPT_BOOL,
                      .offset = QUANT_EXT_OFFSET(topk_opts, no_feedback),
                      .def = "1",
                      .help = "error feedback (0 = the residual is dropped)",
                      .flags = QSGD_OPT_NEGATED},
    {.name = NULL},
};

static int topk_variable_length(const quant_params *p) {
    return QUANT_EXT_CONST(p, topk_opts)->index == SPARSE_INDEX_ELIAS;
}

/* "top-k 1%" (or "top-k k=100"), " Elias", " no EF". */
static int topk_label(const quant_spec *sp, int level, char *out, size_t len) {
    (void)level;
    const topk_opts *o = QUANT_EXT_CONST(&sp->params, topk_opts);
    int w = (sp->given >> OPT_K & 1) && o->k ? snprintf(out, len, "top-k k=%zu", o->k)
                                             : snprintf(out, len, "top-k %g%%", 100.0 * o->ratio);
    size_t l = w < 0 ? 0 : (size_t)w;
    if (o->index == SPARSE_INDEX_ELIAS)
        l += (size_t)snprintf(out + l, l < len ? len - l : 0, " Elias");
    if (o->no_feedback)
        l += (size_t)snprintf(out + l, l < len ? len - l : 0, " no EF");
    return l < len ? 0 : -1;
}

/* Claims checked by `qsgdsim stats` (from a reset state): biased; the n - k smallest squares
 * are dropped, at most a fraction 1 - k/n of ||v||^2 (the contraction of Stich et al.). */
static int topk_unbiased(const quant_params *p) {
    (void)p;
    return 0;
}

static double topk_variance_bound(const quant *q) {
    const topk_impl *im = q->impl;
    return 1.0 - (double)im->k / (double)q->n;
}

const quant_type quant_type_topk = {
    .name = "topk",
    .summary = "top-k sparsification with error feedback: the k largest |v+e|, fp32 values, "
               "raw or Elias-gap indices",
    .opts = topk_optrows,
    .stateful = 1,
    .lossless = 0,
    .variable_length = topk_variable_length,
    .label = topk_label,
    .init = topk_init,
    .fini = topk_fini,
    .max_bits = topk_max_bits,
    .quantize = topk_quantize,
    .encode = topk_encode,
    .decode = topk_decode,
    .reset = topk_reset,
    .residual = topk_residual,
    .unbiased = topk_unbiased,
    .variance_bound = topk_variance_bound,
};
