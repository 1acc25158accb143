/* quant_terngrad.c — TernGrad (Wen, Xu, Yan, Wu, Wang, Chen, Li, NIPS 2017): per bucket a
 * scale s and each coordinate sent as s * sign(v_i) * b_i, b_i ~ Bernoulli(|v_i| / s):
 *   s = max_i |v_i|                               (clip=none, the default: unbiased)
 *   s = min(max_i |v_i|, c sigma)                 (clip=c: the paper's gradient clipping,
 *                                                  sigma the bucket's standard deviation
 *                                                  around its mean, 0: no clipping;
 *                                                  |v_i| >= s then sends +-s: biased)
 * E (C(v)_i - v_i)^2 = |v_i| (s - |v_i|), so E ||C(v) - v||^2 <= s ||v||_1 - ||v||^2.
 * The draw is QSGD's with s = 1 level (qsgd_kernels.h): level = (u_i < |v_i| / s) or 1 when
 * |v_i| >= s, u_i the coordinate's uniform; without clipping the output equals
 * qsgd:s=1,norm=max with the same bucket and context, bit for bit.
 * Wire format: [s_0 .. s_{B-1}: 32-bit floats][code_0 .. code_{n-1}: 2 bits each],
 * code = sign << 1 | b (00 = 0, 01 = +s, 11 = -s; 10 is refused). Exactly 32 B + 2 n bits.
 * The decoder refuses a scale that is negative (sign bit set), infinite or NaN, a nonzero
 * code in a bucket of scale 0 (the encoder sends all zeros then). */
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

typedef struct terngrad_opts {
    size_t bucket; /* d, 0 = the whole tensor */
    char clip[16]; /* "none" or c > 0 (init rounds it to %g, the value then used) */
} terngrad_opts;
QUANT_EXT_FITS(terngrad_opts);

typedef struct terngrad_impl {
    size_t nbuckets;
    double clip; /* c, 0 = none */
    int simd;
    float *scale;    /* [nbuckets] */
    uint32_t *rnd;   /* [CHUNK] */
    uint16_t *codes; /* [CHUNK] */
} terngrad_impl;

static void impl_free(terngrad_impl *im) {
    if (!im)
        return;
    free(im->scale);
    free(im->rnd);
    free(im->codes);
    free(im);
}

/* "none" or a number in (0, 1000]; *c = 0 for none. */
static int parse_clip(const char *val, double *c) {
    if (strcmp(val, "none") == 0) {
        *c = 0;
        return 0;
    }
    char *end;
    double x = strtod(val, &end);
    if (end == val || *end != '\0' || !(x > 0 && x <= 1000))
        return -1;
    *c = x;
    return 0;
}

static int check_clip(const char *val, char *valid, size_t vlen) {
    double c;
    if (val && parse_clip(val, &c) == 0)
        return 0;
    snprintf(valid, vlen, "none or a number of standard deviations in (0, 1000], e.g. 2.5");
    return -1;
}

static int terngrad_init(quant *q, qsgd_err *err) {
    terngrad_opts *o = QUANT_EXT(&q->params, terngrad_opts);
    double c = 0;
    if (o->clip[0] == '\0') /* zeroed params (quant_alloc with a zeroed struct): none */
        snprintf(o->clip, sizeof o->clip, "none");
    if (memchr(o->clip, '\0', sizeof o->clip) == NULL || parse_clip(o->clip, &c) != 0)
        return QSGD_FAIL_BIT(err, QSGD_EINVAL, 0,
                             "terngrad: clip='%.15s' is not none or a number in (0, 1000]",
                             o->clip);
    if (c > 0) { /* canonical: 6 significant digits, and the value used is the described one */
        snprintf(o->clip, sizeof o->clip, "%g", c);
        c = strtod(o->clip, NULL);
    }
    if (o->bucket == 0 || o->bucket > q->n)
        o->bucket = q->n;
    terngrad_impl *im = calloc(1, sizeof *im);
    if (!im)
        return QSGD_FAIL_BIT(err, QSGD_ENOMEM, 0, "terngrad: out of memory");
    im->nbuckets = (q->n + o->bucket - 1) / o->bucket;
    im->clip = c;
    im->simd = qrng_simd_available();
    im->scale = malloc(im->nbuckets * sizeof *im->scale);
    im->rnd = malloc(CHUNK * sizeof *im->rnd);
    im->codes = malloc(CHUNK * sizeof *im->codes);
    if (!im->scale || !im->rnd || !im->codes) {
        impl_free(im);
        return QSGD_FAIL_BIT(err, QSGD_ENOMEM, 0, "terngrad: out of memory (%zu buckets)",
                             (size_t)((q->n + o->bucket - 1) / o->bucket));
    }
    q->impl = im;
    return QSGD_OK;
}

static void terngrad_fini(quant *q) {
    impl_free(q->impl);
}

static uint64_t terngrad_max_bits(const quant *q) {
    const terngrad_impl *im = q->impl;
    return 32ull * im->nbuckets + 2ull * q->n;
}

/* Values per block of the clip's first pass (max |v| and the sum): in L1 between the two
 * loops; a multiple of 4, the sum's lanes; small, so that each block's prefetches (16
 * lines, TERN_AHEAD on) are few at a time. */
#define SCALE_BLOCK 256
/* Floats ahead of the reading position that the clip's passes prefetch. */
#define TERN_AHEAD 1024

/* A prefetch of p + ahead, the address formed as an integer: past the end of the input it
 * is only a hint (never read), and no out-of-range pointer is formed. */
static inline void prefetch_ahead(const float *p, size_t ahead) {
    __builtin_prefetch((const void *)((uintptr_t)p + ahead * sizeof *p));
}

/* Scales of every bucket; EINVAL naming the index on a non-finite input. */
static int terngrad_scales(quant *q, const float *v, qsgd_err *err) {
    terngrad_impl *im = q->impl;
    const size_t n = q->n, d = QUANT_EXT(&q->params, terngrad_opts)->bucket;
    for (size_t b = 0; b < im->nbuckets; b++) {
        size_t b0 = b * d, len = b0 + d <= n ? d : n - b0;
        const float *x = v + b0;
        int finite = 1;
        float s = 0;
        double m[4] = {0, 0, 0, 0}; /* clip: the sum for the mean, 4 lanes (i % 4) */
        if (im->clip > 0) {         /* max and sum in one pass over memory: a block at a time */
            for (size_t k0 = 0; k0 < len && finite; k0 += SCALE_BLOCK) {
                size_t kl = len - k0 < SCALE_BLOCK ? len - k0 : SCALE_BLOCK, i = 0;
                for (size_t a = k0 + TERN_AHEAD; a < k0 + TERN_AHEAD + kl && a < len; a += 16)
                    __builtin_prefetch(x + a);
                float bm = qsgd_norm_max(x + k0, kl, &finite);
                s = bm > s ? bm : s; /* a maximum: exact in any grouping */
                const float *xb = x + k0;
                for (; i + 4 <= kl; i += 4) /* k0 % 4 == 0: lane l is still (k0 + i) % 4 */
                    for (int l = 0; l < 4; l++)
                        m[l] += xb[i + l];
                for (; i < kl; i++) /* only in the last block: the bucket's tail */
                    m[0] += xb[i];
            }
        } else {
            s = qsgd_norm_max(x, len, &finite);
        }
        if (!finite) {
            size_t i = b0;
            while (i < b0 + len && isfinite(v[i]))
                i++;
            return QSGD_FAIL_BIT(err, QSGD_EINVAL, 0,
                                 "terngrad: input value %g at index %zu is not finite",
                                 (double)v[i], i);
        }
        if (im->clip > 0 && s > 0) { /* sigma about the mean (second pass), 4 lanes (i % 4) */
            double q2[4] = {0, 0, 0, 0};
            size_t i;
            double mean = ((m[0] + m[1]) + (m[2] + m[3])) / (double)len;
            for (i = 0; i + 4 <= len; i += 4) {
                /* the add chains bound this loop, so the out-of-order window reaches too
                 * few lines ahead to hide a 64 MiB input's misses: ask for them early */
                prefetch_ahead(x + i, TERN_AHEAD);
                for (int l = 0; l < 4; l++)
                    q2[l] += ((double)x[i + l] - mean) * ((double)x[i + l] - mean);
            }
            for (; i < len; i++)
                q2[0] += ((double)x[i] - mean) * ((double)x[i] - mean);
            double var = (q2[0] + q2[1]) + (q2[2] + q2[3]);
            double cs = im->clip * sqrt(var / (double)len);
            if (cs > 0 && cs < (double)s) /* sigma = 0 (a constant bucket): no clip */
                s = (float)cs;            /* rounds to a float <= max |v|: still finite */
        }
        im->scale[b] = s;
    }
    return QSGD_OK;
}

/* Codes of v[i0..i0+len) (one bucket segment, scale s) with words r. */
static void terngrad_codes(const terngrad_impl *im, const float *v, const uint32_t *r, size_t len,
                           float s, uint16_t *codes) {
    if (!(s > 0)) {
        memset(codes, 0, len * sizeof *codes);
        return;
    }
    float inv = 1.0f / s;
    if (isfinite(inv)) {
        qsgd_levels(v, r, len, inv, 1, 2, codes, im->simd);
        return;
    }
    for (size_t k = 0; k < len; k++) { /* s subnormal: 1/s overflows, ratio in double */
        double x = fabs((double)v[k]) / (double)s;
        uint32_t b = x >= 1.0 || (double)qrng_uniform(r[k]) < x;
        codes[k] = (uint16_t)(b | ((v[k] < 0 && b) ? 2u : 0u));
    }
}

/* The one driver: scales, then per chunk words -> codes -> message and/or values. */
static int terngrad_run(quant *q, const float *v, const quant_ctx *ctx, uint8_t *buf, float *out,
                        qsgd_err *err) {
    terngrad_impl *im = q->impl;
    const size_t n = q->n, d = QUANT_EXT(&q->params, terngrad_opts)->bucket, nb = im->nbuckets;
    int rc = terngrad_scales(q, v, err);
    if (rc)
        return rc;
    if (buf)
        for (size_t b = 0; b < nb; b++) {
            uint32_t u;
            memcpy(&u, &im->scale[b], 4);
            buf[4 * b] = (uint8_t)(u >> 24);
            buf[4 * b + 1] = (uint8_t)(u >> 16);
            buf[4 * b + 2] = (uint8_t)(u >> 8);
            buf[4 * b + 3] = (uint8_t)u;
        }
    qrng_stream st = qrng_make(ctx->seed, ctx->worker, ctx->step, ctx->tensor);
    for (size_t c0 = 0; c0 < n; c0 += CHUNK) {
        size_t clen = n - c0 < CHUNK ? n - c0 : CHUNK;
        qrng_fill_groups(&st, c0 / QRNG_GROUP, (clen + QRNG_GROUP - 1) / QRNG_GROUP, im->rnd,
                         im->simd);
        for (size_t i = c0; i < c0 + clen;) {
            size_t b = i / d, bend = (b + 1) * d < n ? (b + 1) * d : n;
            size_t end = bend < c0 + clen ? bend : c0 + clen;
            terngrad_codes(im, v + i, im->rnd + (i - c0), end - i, im->scale[b],
                           im->codes + (i - c0));
            if (out) {
                float s = im->scale[b];
                for (size_t k = i; k < end; k++) {
                    uint16_t c = im->codes[k - c0];
                    float val = (c & 1) ? s : 0.0f;
                    out[k] = (c >> 1) ? -val : val;
                }
            }
            i = end;
        }
        if (buf) /* c0 is a multiple of 4: the chunk starts on a byte */
            qsgd_pack(im->codes, clen, 2, buf + 4 * nb + c0 / 4);
    }
    return QSGD_OK;
}

static int terngrad_quantize(quant *q, const float *v, const quant_ctx *ctx, float *out,
                             qsgd_err *err) {
    return terngrad_run(q, v, ctx, NULL, out, err);
}

static int terngrad_encode(quant *q, const float *v, const quant_ctx *ctx, uint8_t *buf, size_t cap,
                           uint64_t *nbits, qsgd_err *err) {
    uint64_t total = terngrad_max_bits(q);
    if ((total + 7) / 8 > cap)
        return QSGD_FAIL_BIT(err, QSGD_ENOSPC, 0, "terngrad: buffer of %zu bytes, need %llu", cap,
                             (unsigned long long)((total + 7) / 8));
    int rc = terngrad_run(q, v, ctx, buf, NULL, err);
    if (rc)
        return rc;
    *nbits = total;
    return QSGD_OK;
}

/* The value of code c (00 -> +0, 01 -> +s, 11 -> -s) with su the scale's bits, as bits;
 * returns 1 when c cannot have been encoded (10, or nonzero with scale 0). Branch-free. */
static inline uint32_t tern_put(float *o, uint32_t c, uint32_t su) {
    uint32_t u = ((0u - (c & 1u)) & su) | (c >> 1) << 31;
    memcpy(o, &u, 4);
    return (c == 2u) | ((c != 0) & (su == 0));
}

static int terngrad_decode(const quant *q, const uint8_t *buf, size_t len, uint64_t nbits,
                           float *out, qsgd_err *err) {
    const terngrad_impl *im = q->impl;
    const size_t n = q->n, d = QUANT_EXT_CONST(&q->params, terngrad_opts)->bucket,
                 nb = im->nbuckets;
    uint64_t want = terngrad_max_bits(q);
    if (nbits != want)
        return QSGD_FAIL_BIT(err, QSGD_ECORRUPT, nbits < want ? nbits : want,
                             "terngrad: message of %llu bits, expected exactly %llu (%s)",
                             (unsigned long long)nbits, (unsigned long long)want,
                             nbits < want ? "truncated" : "trailing bits");
    const uint8_t *codes = buf + 4 * nb;
    for (size_t b = 0; b < nb; b++) {
        uint32_t u = (uint32_t)buf[4 * b] << 24 | (uint32_t)buf[4 * b + 1] << 16 |
                     (uint32_t)buf[4 * b + 2] << 8 | buf[4 * b + 3];
        float s;
        memcpy(&s, &u, 4);
        if ((u >> 31) || !isfinite(s))
            return QSGD_FAIL_BIT(err, QSGD_ECORRUPT, 32ull * b,
                                 "terngrad: bucket %zu has invalid scale %g at bit %llu", b,
                                 (double)s, 32ull * b);
        size_t b0 = b * d, bend = b0 + d < n ? b0 + d : n, i = b0;
        uint32_t bad = 0;
        for (; i < bend && (i & 3); i++)
            bad |= tern_put(out + i, (codes[i >> 2] >> (6 - 2 * (i & 3))) & 3u, u);
        for (; i + 4 <= bend; i += 4) { /* whole bytes: four codes each */
            uint32_t byte = codes[i >> 2];
            bad |= tern_put(out + i, byte >> 6, u) | tern_put(out + i + 1, (byte >> 4) & 3u, u) |
                   tern_put(out + i + 2, (byte >> 2) & 3u, u) | tern_put(out + i + 3, byte & 3u, u);
        }
        for (; i < bend; i++)
            bad |= tern_put(out + i, (codes[i >> 2] >> (6 - 2 * (i & 3))) & 3u, u);
        if (bad) /* find the first offending code */
            for (i = b0; i < bend; i++) {
                uint32_t c = (codes[i >> 2] >> (6 - 2 * (i & 3))) & 3u;
                if (c == 2u || (c != 0 && s == 0.0f)) {
                    uint64_t at = 32ull * nb + 2ull * i;
                    return QSGD_FAIL_BIT(err, QSGD_ECORRUPT, at,
                                         "terngrad: coordinate %zu has invalid code %u (scale %g) "
                                         "at bit %llu",
                                         i, c, (double)s, (unsigned long long)at);
                }
            }
    }
    return QSGD_OK;
}

enum { OPT_BUCKET, OPT_CLIP };
static const qsgd_opt terngrad_opts_tab[] = {
    [OPT_BUCKET] = {.name = "bucket",
                    .aliases = "d",
                    .kind = QSGD_OPT_SIZE,
                    .offset = QUANT_EXT_OFFSET(terngrad_opts, bucket),
                    .max = SIZE_MAX,
                    .def = "0",
                    .meta = "D",
                    .help = "values per scale (0 = the whole tensor)"},
    [OPT_CLIP] = {.name = "clip",
                  .kind = QSGD_OPT_STRING,
                  .offset = QUANT_EXT_OFFSET(terngrad_opts, clip),
                  .len = sizeof(((terngrad_opts *)0)->clip),
                  .def = "none",
                  .meta = "C|none",
                  .help = "clip the scale at C standard deviations of the bucket (the paper: "
                          "2.5; biased) or none (unbiased)",
                  .check = check_clip},
    {.name = NULL},
};

/* "TernGrad", " clip=2.5" when clipping and, at level 1, " d=N" when bucket was given. */
static int terngrad_label(const quant_spec *sp, int level, char *out, size_t len) {
    const terngrad_opts *o = QUANT_EXT_CONST(&sp->params, terngrad_opts);
    double c = 0;
    int w = snprintf(out, len, "TernGrad");
    size_t l = w < 0 ? 0 : (size_t)w;
    if (parse_clip(o->clip, &c) == 0 && c > 0)
        l += (size_t)snprintf(out + l, l < len ? len - l : 0, " clip=%g", c);
    if (level >= 1 && (sp->given >> OPT_BUCKET & 1))
        l += (size_t)snprintf(out + l, l < len ? len - l : 0, " d=%zu", o->bucket);
    return l < len ? 0 : -1;
}

/* Claims checked by `qsgdsim stats`: without clipping C(v) is unbiased, and per bucket
 * E||C - v||^2 = s ||v||_1 - ||v||^2 <= (sqrt(d) - 1) ||v||^2 (s = max|v|, ||v||_1 <=
 * sqrt(d) ||v||_2 <= sqrt(d) ||v||^2 / s); clipping biases it and the bound is not known. */
static int terngrad_unbiased(const quant_params *p) {
    const terngrad_opts *o = QUANT_EXT_CONST(p, terngrad_opts);
    double c = 0;
    return o->clip[0] == '\0' || (parse_clip(o->clip, &c) == 0 && c == 0);
}

static double terngrad_variance_bound(const quant *q) {
    if (!terngrad_unbiased(&q->params))
        return NAN;
    size_t d = QUANT_EXT_CONST(&q->params, terngrad_opts)->bucket; /* resolved by init */
    if (d == 0 || d > q->n)
        d = q->n;
    return sqrt((double)d) - 1.0;
}

const quant_type quant_type_terngrad = {
    .name = "terngrad",
    .summary = "TernGrad: stochastic ternary {-1, 0, 1} x scale per bucket (max |v|, optional "
               "clipping at c sigma), 2 bits per coordinate",
    .opts = terngrad_opts_tab,
    .stateful = 0,
    .lossless = 0,
    .label = terngrad_label,
    .init = terngrad_init,
    .fini = terngrad_fini,
    .max_bits = terngrad_max_bits,
    .quantize = terngrad_quantize,
    .encode = terngrad_encode,
    .decode = terngrad_decode,
    .unbiased = terngrad_unbiased,
    .variance_bound = terngrad_variance_bound,
};
