/* quant_nuqsgd.c — NUQSGD: QSGD with exponentially spaced levels (Ramezani-Kebrya, Faghri,
 * Markov, Aksenov, Alistarh & Roy, JMLR 22(114), 2021).
 *
 * Levels of a bucket with scale N (its l2 or max norm): l_0 = 0, l_j = 2^(j-s) (j = 1..s),
 * i.e. {0, 2^-(s-1), ..., 1/4, 1/2, 1}. With r = fl(|v_i| / N) (clamped to 1):
 *   r >= l_1: r in [2^E, 2^(E+1)), lower level j = E + s, p = r 2^-E - 1 (exact in float)
 *   r <  l_1: lower level j = 0, p = r 2^(s-1) (exact)
 *   level = j + (u_i < p), u_i the coordinate's uniform of qrng.h (as qsgd), so
 *   E[level value] = r: unbiased. Q(v)_i = sgn(v_i) ldexp(N, level - s) (0 for level 0).
 * Variance: within [l_j, 2 l_j) the rounding variance is (2 l_j - r)(r - l_j) <= r^2 / 8, and
 * below l_1 it is r (l_1 - r) <= min(l_1^2 / 4, r l_1); so for a bucket of d values with
 * N = ||v||_2:  E||Q(v) - v||^2 <= (1/8 + min(d 2^-2s, 2^(1-s) sqrt(d))) ||v||^2.
 *
 * Wire format (dense, fixed width, as qsgd's dense format):
 *   [N_0 .. N_{B-1}: 32-bit IEEE floats][code_0 .. code_{n-1}: w bits each, MSB first]
 *   code = sign << (w-1) | level, w = 1 + bitlen(s); exactly 32 B + w n bits. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qrng.h"
#include "qsgd_kernels.h"
#include "qsgd_opt.h"
#include "quant.h"

#define CHUNK 1024 /* coordinates per pass; a multiple of QRNG_GROUP */
#define NUQSGD_MAX_S 31u

typedef struct nuqsgd_opts {
    unsigned s;    /* nonzero levels */
    size_t bucket; /* 0 = whole tensor */
    int norm;      /* QUANT_NORM_L2 or QUANT_NORM_MAX */
} nuqsgd_opts;
QUANT_EXT_FITS(nuqsgd_opts);

typedef struct nuqsgd_impl {
    size_t d, nbuckets;
    unsigned w;
    int simd;
    float *norms;    /* [nbuckets] */
    uint32_t *rnd;   /* [CHUNK] */
    uint16_t *codes; /* [CHUNK] */
} nuqsgd_impl;

static unsigned bitlen(uint32_t x) {
    return x ? 32u - (unsigned)__builtin_clz(x) : 0u;
}

static int nuqsgd_init(quant *q, qsgd_err *err) {
    nuqsgd_opts *o = QUANT_EXT(&q->params, nuqsgd_opts);
    if (o->s < 1 || o->s > NUQSGD_MAX_S)
        return QSGD_FAIL_BIT(err, QSGD_EINVAL, 0, "nuqsgd: s=%u out of range 1..%u", o->s,
                             NUQSGD_MAX_S);
    if (o->norm != QUANT_NORM_L2 && o->norm != QUANT_NORM_MAX)
        return QSGD_FAIL_BIT(err, QSGD_EINVAL, 0, "nuqsgd: bad norm %d", o->norm);
    if (o->bucket == 0 || o->bucket > q->n)
        o->bucket = q->n;
    nuqsgd_impl *im = calloc(1, sizeof *im);
    if (!im)
        return QSGD_FAIL_BIT(err, QSGD_ENOMEM, 0, "nuqsgd: out of memory");
    im->d = o->bucket;
    im->nbuckets = (q->n + im->d - 1) / im->d;
    im->w = 1 + bitlen(o->s);
    im->simd = qrng_simd_available();
    im->norms = malloc(im->nbuckets * sizeof *im->norms);
    im->rnd = malloc(CHUNK * sizeof *im->rnd);
    im->codes = malloc(CHUNK * sizeof *im->codes);
    if (!im->norms || !im->rnd || !im->codes) {
        free(im->norms);
        free(im->rnd);
        free(im->codes);
        free(im);
        return QSGD_FAIL_BIT(err, QSGD_ENOMEM, 0, "nuqsgd: out of memory (%zu buckets)",
                             (size_t)((q->n + o->bucket - 1) / o->bucket));
    }
    q->impl = im;
    return QSGD_OK;
}

static void nuqsgd_fini(quant *q) {
    nuqsgd_impl *im = q->impl;
    if (!im)
        return;
    free(im->norms);
    free(im->rnd);
    free(im->codes);
    free(im);
}

static uint64_t nuqsgd_max_bits(const quant *q) {
    const nuqsgd_impl *im = q->impl;
    return 32ull * im->nbuckets + (uint64_t)q->n * im->w;
}

/* Codes of v[0..len) (one bucket segment) with words r, scale N > 0. Branch-free (the
 * compiler vectorises it): r is clamped to 1 through its bits, the level below r and p are
 * read off r's exponent and mantissa. */
static void nuqsgd_levels(const float *v, const uint32_t *r, size_t len, float N, unsigned s,
                          unsigned w, uint16_t *codes) {
    const float lscale = (float)(1u << (s - 1));                /* 2^(s-1) = 1 / l_1 */
    const uint32_t l1bits = (uint32_t)(127 + 1 - (int)s) << 23; /* bits of l_1 = 2^(1-s) */
    for (size_t i = 0; i < len; i++) {
        float x = fabsf(v[i]) / N, m;
        uint32_t u, vb;
        memcpy(&u, &x, 4);
        memcpy(&vb, &v[i], 4);
        u = u < 0x3F800000u ? u : 0x3F800000u; /* r <= 1 */
        memcpy(&x, &u, 4);
        uint32_t mb = (u & 0x7FFFFFu) | 0x3F800000u;
        memcpy(&m, &mb, 4);
        float pb = m - 1.0f, ps = x * lscale,
              ur = (float)(int32_t)(r[i] >> 8) * (1.0f / 16777216.0f);
        uint32_t pbb, psb, urb;
        memcpy(&pbb, &pb, 4);
        memcpy(&psb, &ps, 4);
        memcpy(&urb, &ur, 4);
        /* r >= l_1: r in [2^E, 2^(E+1)), lower level E + s, p = r 2^-E - 1; else 0 and r/l_1 */
        uint32_t big = 0u - (uint32_t)(u >= l1bits);
        uint32_t level = ((u >> 23) - 127u + s) & big;
        uint32_t pbits = (pbb & big) | (psb & ~big);
        level += (uint32_t)(urb < pbits); /* u < p: non-negative floats order as their bits */
        uint32_t neg = (vb >> 31) & (uint32_t)(level != 0);
        codes[i] = (uint16_t)(level | neg << (w - 1));
    }
}

enum nuqsgd_mode { MODE_VALUES, MODE_DENSE };

static int nuqsgd_run(quant *q, const float *v, const quant_ctx *ctx, enum nuqsgd_mode mode,
                      float *out, uint8_t *buf, size_t cap, uint64_t *nbits, qsgd_err *err) {
    nuqsgd_impl *im = q->impl;
    const nuqsgd_opts *o = QUANT_EXT_CONST(&q->params, nuqsgd_opts);
    const size_t n = q->n, d = im->d, nb = im->nbuckets;
    const unsigned s = o->s, w = im->w;
    for (size_t b = 0; b < nb; b++) {
        size_t b0 = b * d, len = b0 + d <= n ? d : n - b0;
        int rc = qsgd_bucket_norm("nuqsgd", o->norm == QUANT_NORM_MAX, v + b0, len, b0, b,
                                  &im->norms[b], err);
        if (rc != QSGD_OK)
            return rc;
    }
    if (mode == MODE_DENSE) {
        uint64_t total = nuqsgd_max_bits(q);
        if ((total + 7) / 8 > cap)
            return QSGD_FAIL_BIT(err, QSGD_ENOSPC, 0, "nuqsgd: buffer of %zu bytes, need %llu", cap,
                                 (unsigned long long)((total + 7) / 8));
        for (size_t b = 0; b < nb; b++) {
            uint32_t u;
            memcpy(&u, &im->norms[b], 4);
            buf[4 * b + 0] = (uint8_t)(u >> 24);
            buf[4 * b + 1] = (uint8_t)(u >> 16);
            buf[4 * b + 2] = (uint8_t)(u >> 8);
            buf[4 * b + 3] = (uint8_t)u;
        }
        *nbits = total;
    }
    qrng_stream st = qrng_make(ctx->seed, ctx->worker, ctx->step, ctx->tensor);
    const uint32_t lmask = (1u << (w - 1)) - 1;
    for (size_t c0 = 0; c0 < n; c0 += CHUNK) {
        size_t clen = n - c0 < CHUNK ? n - c0 : CHUNK;
        /* the next chunk's lines, asked for while this one is coded: at 2^24 values the
         * input is not in cache, and the hardware prefetchers alone left this pass waiting
         * on it */
        for (size_t a = c0 + CHUNK; a < c0 + 2 * CHUNK && a < n; a += 16)
            __builtin_prefetch(v + a);
        qrng_fill_groups(&st, c0 / QRNG_GROUP, (clen + QRNG_GROUP - 1) / QRNG_GROUP, im->rnd,
                         im->simd);
        for (size_t i = c0; i < c0 + clen;) {
            size_t b = i / d, bend = (b + 1) * d < n ? (b + 1) * d : n;
            size_t end = bend < c0 + clen ? bend : c0 + clen;
            if (im->norms[b] > 0.0f)
                nuqsgd_levels(v + i, im->rnd + (i - c0), end - i, im->norms[b], s, w,
                              im->codes + (i - c0));
            else
                memset(im->codes + (i - c0), 0, (end - i) * sizeof *im->codes);
            if (mode == MODE_VALUES) {
                float lv[32] = {0}; /* ldexp(N, j - s), as the decoder computes them */
                for (unsigned j = 1; j <= s; j++)
                    lv[j] = ldexpf(im->norms[b], (int)j - (int)s);
                for (size_t k = i; k < end; k++) {
                    uint16_t c = im->codes[k - c0];
                    float val = lv[c & lmask];
                    out[k] = (c >> (w - 1)) ? -val : val;
                }
            }
            i = end;
        }
        if (mode == MODE_DENSE)
            qsgd_pack(im->codes, clen, w, buf + 4 * nb + c0 * w / 8);
    }
    return QSGD_OK;
}

static int nuqsgd_quantize(quant *q, const float *v, const quant_ctx *ctx, float *out,
                           qsgd_err *err) {
    return nuqsgd_run(q, v, ctx, MODE_VALUES, out, NULL, 0, NULL, err);
}

static int nuqsgd_encode(quant *q, const float *v, const quant_ctx *ctx, uint8_t *buf, size_t cap,
                         uint64_t *nbits, qsgd_err *err) {
    return nuqsgd_run(q, v, ctx, MODE_DENSE, NULL, buf, cap, nbits, err);
}

static int nuqsgd_decode(const quant *q, const uint8_t *buf, size_t len, uint64_t nbits, float *out,
                         qsgd_err *err) {
    const nuqsgd_impl *im = q->impl;
    const size_t n = q->n, d = im->d, nb = im->nbuckets;
    const unsigned s = QUANT_EXT_CONST(&q->params, nuqsgd_opts)->s, w = im->w;
    const uint32_t lmask = (1u << (w - 1)) - 1;
    uint64_t want = nuqsgd_max_bits(q);
    if (nbits != want)
        return QSGD_FAIL_BIT(err, QSGD_ECORRUPT, nbits < want ? nbits : want,
                             "nuqsgd: message of %llu bits, expected exactly %llu (%s)",
                             (unsigned long long)nbits, (unsigned long long)want,
                             nbits < want ? "truncated" : "trailing bits");
    uint16_t codes[CHUNK];
    for (size_t b = 0; b < nb; b++) {
        size_t b0 = b * d, bend = b0 + d < n ? b0 + d : n;
        uint32_t u = (uint32_t)buf[4 * b] << 24 | (uint32_t)buf[4 * b + 1] << 16 |
                     (uint32_t)buf[4 * b + 2] << 8 | buf[4 * b + 3];
        float N;
        memcpy(&N, &u, 4);
        if (!(N >= 0.0f) || !isfinite(N))
            return QSGD_FAIL_BIT(err, QSGD_ECORRUPT, 32ull * b,
                                 "nuqsgd: bucket %zu has invalid norm %g at bit %llu", b, (double)N,
                                 (unsigned long long)(32ull * b));
        uint32_t lv[32]; /* bits of the level values ldexp(N, j - s), j = 0..s; 0 beyond */
        memset(lv, 0, sizeof lv);
        for (unsigned j = 1; j <= s; j++) {
            float x = ldexpf(N, (int)j - (int)s);
            memcpy(&lv[j], &x, 4);
        }
        for (size_t i = b0; i < bend; i += CHUNK) {
            size_t clen = bend - i < CHUNK ? bend - i : CHUNK;
            uint64_t bit0 = 32ull * nb + (uint64_t)i * w;
            qsgd_unpack(buf, len, bit0, clen, w, codes);
            uint32_t bad = 0;
            uint32_t *o = (uint32_t *)(void *)(out + i);
            for (size_t k = 0; k < clen; k++) {
                uint32_t c = codes[k], level = c & lmask, neg = c >> (w - 1);
                bad |= (level > s) | (neg & (level == 0));
                o[k] = lv[level] | neg << 31;
            }
            if (bad)
                for (size_t k = 0; k < clen; k++) {
                    uint32_t c = codes[k], level = c & lmask;
                    if (level > s || ((c >> (w - 1)) && level == 0))
                        return QSGD_FAIL_BIT(
                            err, QSGD_ECORRUPT, bit0 + k * w,
                            "nuqsgd: coordinate %zu has invalid code %u (s=%u) at bit %llu", i + k,
                            c, s, (unsigned long long)(bit0 + k * w));
                }
        }
    }
    return QSGD_OK;
}

enum { OPT_S, OPT_BUCKET, OPT_NORM };
static const qsgd_opt_choice norm_choices[] = {
    {"l2", QUANT_NORM_L2}, {"max", QUANT_NORM_MAX}, {"inf", QUANT_NORM_MAX}, {NULL, 0}};
static const qsgd_opt nuqsgd_optrows[] = {
    [OPT_S] = {.name = "s",
               .aliases = "levels",
               .kind = QSGD_OPT_UINT,
               .offset = QUANT_EXT_OFFSET(nuqsgd_opts, s),
               .min = 1,
               .max = NUQSGD_MAX_S,
               .def = "7",
               .meta = "LEVELS",
               .help = "nonzero levels 2^-(s-1) .. 1/2, 1 (1..31); w = 1 + bitlen(s) bits each"},
    [OPT_BUCKET] = {.name = "bucket",
                    .aliases = "d",
                    .kind = QSGD_OPT_SIZE,
                    .offset = QUANT_EXT_OFFSET(nuqsgd_opts, bucket),
                    .max = SIZE_MAX,
                    .def = "0",
                    .meta = "D",
                    .help = "bucket size d (0 = the whole tensor)"},
    [OPT_NORM] = {.name = "norm",
                  .kind = QSGD_OPT_ENUM,
                  .offset = QUANT_EXT_OFFSET(nuqsgd_opts, norm),
                  .choices = norm_choices,
                  .def = "l2",
                  .help = "bucket scale: l2 (the paper) or max"},
    {.name = NULL},
};

/* "NUQSGD s=7" (or "NUQSGD"), " max-norm", at level 1 " d=512". */
static int nuqsgd_label(const quant_spec *sp, int level, char *out, size_t len) {
    const nuqsgd_opts *o = QUANT_EXT_CONST(&sp->params, nuqsgd_opts);
    int w = (sp->given >> OPT_S & 1) ? snprintf(out, len, "NUQSGD s=%u", o->s)
                                     : snprintf(out, len, "NUQSGD");
    size_t l = w < 0 ? 0 : (size_t)w;
    if (o->norm == QUANT_NORM_MAX)
        l += (size_t)snprintf(out + l, l < len ? len - l : 0, " max-norm");
    if (level >= 1 && (sp->given >> OPT_BUCKET & 1))
        l += (size_t)snprintf(out + l, l < len ? len - l : 0, " d=%zu", o->bucket);
    return l < len ? 0 : -1;
}

/* Claims checked by `qsgdsim stats`: unbiased; the variance bound of the header comment with
 * d the (resolved) bucket size, for either norm (max|v_i| <= ||v||_2 in its proof). */
static int nuqsgd_unbiased(const quant_params *p) {
    (void)p;
    return 1;
}

static double nuqsgd_variance_bound(const quant *q) {
    const nuqsgd_opts *o = QUANT_EXT_CONST(&q->params, nuqsgd_opts);
    double d = (double)o->bucket, s = (double)o->s;
    return 0.125 + fmin(d * exp2(-2.0 * s), exp2(1.0 - s) * sqrt(d));
}

const quant_type quant_type_nuqsgd = {
    .name = "nuqsgd",
    .summary = "NUQSGD: QSGD with exponentially spaced levels {0, 2^-(s-1), .., 1/2, 1}, "
               "unbiased, dense fixed-width wire format",
    .opts = nuqsgd_optrows,
    .stateful = 0,
    .lossless = 0,
    .label = nuqsgd_label,
    .init = nuqsgd_init,
    .fini = nuqsgd_fini,
    .max_bits = nuqsgd_max_bits,
    .quantize = nuqsgd_quantize,
    .encode = nuqsgd_encode,
    .decode = nuqsgd_decode,
    .unbiased = nuqsgd_unbiased,
    .variance_bound = nuqsgd_variance_bound,
};
