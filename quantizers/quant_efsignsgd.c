/* quant_efsignsgd.c — EF-signSGD (Karimireddy, Rebjock, Stich, Jaggi, ICML 2019): the scaled
 * sign with error feedback,
 *   p = g + e;  C(p) = (||p||_1 / d) sign(p)  per bucket of d values;  e' = p - C(p)
 * (feedback=0: e stays 0, the plain scaled sign). sign(p_i) = +1 for p_i >= 0 (-0.0
 * included). The residual e is per instance (per worker and tensor), zeroed by quant_reset.
 * The learning rate is applied outside (to the decoded sum), as with onebit: e carries the
 * gradient's error, which equals the paper's e / gamma for a constant step size gamma.
 * Buckets are d consecutive values of the row-major tensor, whatever its shape.
 * Wire format: [s_0 .. s_{B-1}: 32-bit floats][bit_0 .. bit_{n-1}: 1 = p_i >= 0], MSB first.
 * Exactly 32 B + n bits; decoded value +s_b or -s_b. The decoder refuses a scale that is
 * negative (sign bit set), infinite or NaN. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qsgd_opt.h"
#include "quant.h"

typedef struct efsignsgd_opts {
    size_t bucket;   /* d, 0 = the whole tensor */
    int no_feedback; /* 1: feedback=0 */
} efsignsgd_opts;
QUANT_EXT_FITS(efsignsgd_opts);

typedef struct efsignsgd_impl {
    size_t nbuckets;
    float *residual; /* [n] e */
    float *p;        /* [n] g + e of the current step */
    float *scale;    /* [nbuckets] */
} efsignsgd_impl;

static void impl_free(efsignsgd_impl *im) {
    if (!im)
        return;
    free(im->residual);
    free(im->p);
    free(im->scale);
    free(im);
}

static const efsignsgd_opts *opts_of(const quant *q) {
    return QUANT_EXT_CONST(&q->params, efsignsgd_opts);
}

static int efsignsgd_init(quant *q, qsgd_err *err) {
    efsignsgd_opts *o = QUANT_EXT(&q->params, efsignsgd_opts);
    if (o->bucket == 0 || o->bucket > q->n)
        o->bucket = q->n;
    o->no_feedback = o->no_feedback != 0;
    efsignsgd_impl *im = calloc(1, sizeof *im);
    if (!im)
        return QSGD_FAIL_BIT(err, QSGD_ENOMEM, 0, "efsignsgd: out of memory");
    im->nbuckets = (q->n + o->bucket - 1) / o->bucket;
    im->residual = calloc(q->n, sizeof *im->residual);
    im->p = malloc(q->n * sizeof *im->p);
    im->scale = malloc(im->nbuckets * sizeof *im->scale);
    if (!im->residual || !im->p || !im->scale) {
        impl_free(im);
        return QSGD_FAIL_BIT(err, QSGD_ENOMEM, 0, "efsignsgd: out of memory for %zu values", q->n);
    }
    q->impl = im;
    return QSGD_OK;
}

static void efsignsgd_fini(quant *q) {
    impl_free(q->impl);
}

static uint64_t efsignsgd_max_bits(const quant *q) {
    const efsignsgd_impl *im = q->impl;
    return 32ull * im->nbuckets + q->n;
}

static void efsignsgd_reset(quant *q) {
    efsignsgd_impl *im = q->impl;
    memset(im->residual, 0, q->n * sizeof *im->residual);
}

static const float *efsignsgd_residual(const quant *q) {
    const efsignsgd_impl *im = q->impl;
    return im->residual;
}

/* p = v + e and the bucket scales ||p||_1 / d (summed in double, in index order, four fixed
 * lanes i % 4 from the bucket's start), in one pass. The state is not touched; EINVAL when
 * some p_i is not finite. */
static int efsignsgd_stats(quant *q, const float *v, qsgd_err *err) {
    efsignsgd_impl *im = q->impl;
    const size_t n = q->n, d = opts_of(q)->bucket;
    const float *res = im->residual;
    float *pw = im->p;
    uint32_t bad = 0;
    for (size_t b = 0; b < im->nbuckets; b++) {
        size_t b0 = b * d, len = b0 + d <= n ? d : n - b0;
        const float *vb = v + b0, *rb = res + b0;
        float *pb = pw + b0;
        double s0 = 0, s1 = 0, s2 = 0, s3 = 0; /* four fixed lanes: i % 4 */
        size_t i = 0;
        for (; i + 4 <= len; i += 4) {
            float p0 = vb[i] + rb[i], p1 = vb[i + 1] + rb[i + 1], p2 = vb[i + 2] + rb[i + 2],
                  p3 = vb[i + 3] + rb[i + 3];
            uint32_t u0, u1, u2, u3;
            memcpy(&u0, &p0, 4);
            memcpy(&u1, &p1, 4);
            memcpy(&u2, &p2, 4);
            memcpy(&u3, &p3, 4);
            bad |= ((u0 & 0x7fffffffu) >= 0x7f800000u) | ((u1 & 0x7fffffffu) >= 0x7f800000u) |
                   ((u2 & 0x7fffffffu) >= 0x7f800000u) | ((u3 & 0x7fffffffu) >= 0x7f800000u);
            pb[i] = p0;
            pb[i + 1] = p1;
            pb[i + 2] = p2;
            pb[i + 3] = p3;
            s0 += fabs((double)p0);
            s1 += fabs((double)p1);
            s2 += fabs((double)p2);
            s3 += fabs((double)p3);
        }
        for (; i < len; i++) {
            float p = vb[i] + rb[i];
            uint32_t u;
            memcpy(&u, &p, 4);
            bad |= (u & 0x7fffffffu) >= 0x7f800000u;
            pb[i] = p;
            s0 += fabs((double)p);
        }
        im->scale[b] = (float)(((s0 + s1) + (s2 + s3)) / (double)len);
    }
    if (bad) {
        size_t i = 0;
        while (i < n && isfinite(pw[i]))
            i++;
        return QSGD_FAIL_BIT(err, QSGD_EINVAL, 0,
                             "efsignsgd: input value %g (+ residual) at index %zu is not finite",
                             (double)v[i], i);
    }
    return QSGD_OK;
}

/* +s or -s by the sign of p (as bits, so the encoder and decoder agree on -0.0). */
static inline float signed_scale(uint32_t su, uint32_t nonneg) {
    uint32_t u = su | (nonneg ^ 1u) << 31;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* Decoded values into out (may be NULL), the residual update and, when bits is not NULL,
 * the sign bits (n bits MSB first from bits[0], 1 = p_i >= 0, the last byte padded with
 * zeros), in one pass. */
static void efsignsgd_finish(quant *q, float *out, uint8_t *bits) {
    efsignsgd_impl *im = q->impl;
    const size_t n = q->n, d = opts_of(q)->bucket;
    const int fb = !opts_of(q)->no_feedback;
    uint32_t acc = 0;
    for (size_t b = 0; b < im->nbuckets; b++) {
        size_t b0 = b * d, bend = b0 + d < n ? b0 + d : n;
        uint32_t su;
        memcpy(&su, &im->scale[b], 4);
        for (size_t i = b0; i < bend; i++) {
            float p = im->p[i];
            uint32_t nonneg = p >= 0.0f;
            float dec = signed_scale(su, nonneg);
            if (out)
                out[i] = dec;
            im->residual[i] = fb ? p - dec : 0.0f;
            if (bits) {
                acc = acc << 1 | nonneg;
                if ((i & 7) == 7) {
                    bits[i >> 3] = (uint8_t)acc;
                    acc = 0;
                }
            }
        }
    }
    if (bits && (n & 7))
        bits[n >> 3] = (uint8_t)(acc << (8 - (n & 7)));
}

static int efsignsgd_quantize(quant *q, const float *v, const quant_ctx *ctx, float *out,
                              qsgd_err *err) {
    int rc = efsignsgd_stats(q, v, err);
    if (rc)
        return rc;
    efsignsgd_finish(q, out, NULL);
    return QSGD_OK;
}

static int efsignsgd_encode(quant *q, const float *v, const quant_ctx *ctx, uint8_t *buf,
                            size_t cap, uint64_t *nbits, qsgd_err *err) {
    efsignsgd_impl *im = q->impl;
    const size_t nb = im->nbuckets;
    uint64_t total = efsignsgd_max_bits(q);
    if ((total + 7) / 8 > cap)
        return QSGD_FAIL_BIT(err, QSGD_ENOSPC, 0, "efsignsgd: buffer of %zu bytes, need %llu", cap,
                             (unsigned long long)((total + 7) / 8));
    int rc = efsignsgd_stats(q, v, err);
    if (rc)
        return rc;
    for (size_t b = 0; b < nb; b++) {
        uint32_t u;
        memcpy(&u, &im->scale[b], 4);
        buf[4 * b] = (uint8_t)(u >> 24);
        buf[4 * b + 1] = (uint8_t)(u >> 16);
        buf[4 * b + 2] = (uint8_t)(u >> 8);
        buf[4 * b + 3] = (uint8_t)u;
    }
    efsignsgd_finish(q, NULL, buf + 4 * nb);
    *nbits = total;
    return QSGD_OK;
}

static int efsignsgd_decode(const quant *q, const uint8_t *buf, size_t len, uint64_t nbits,
                            float *out, qsgd_err *err) {
    const efsignsgd_impl *im = q->impl;
    const size_t n = q->n, d = opts_of(q)->bucket, nb = im->nbuckets;
    uint64_t want = efsignsgd_max_bits(q);
    if (nbits != want)
        return QSGD_FAIL_BIT(err, QSGD_ECORRUPT, nbits < want ? nbits : want,
                             "efsignsgd: message of %llu bits, expected exactly %llu (%s)",
                             (unsigned long long)nbits, (unsigned long long)want,
                             nbits < want ? "truncated" : "trailing bits");
    const uint8_t *bits = buf + 4 * nb;
    for (size_t b = 0; b < nb; b++) {
        uint32_t su = (uint32_t)buf[4 * b] << 24 | (uint32_t)buf[4 * b + 1] << 16 |
                      (uint32_t)buf[4 * b + 2] << 8 | buf[4 * b + 3];
        if (su >= 0x7f800000u) { /* sign bit set, infinity or NaN */
            float s;
            memcpy(&s, &su, 4);
            return QSGD_FAIL_BIT(err, QSGD_ECORRUPT, 32ull * b,
                                 "efsignsgd: bucket %zu has invalid scale %g at bit %llu", b,
                                 (double)s, 32ull * b);
        }
        size_t b0 = b * d, bend = b0 + d < n ? b0 + d : n;
        for (size_t i = b0; i < bend; i++)
            out[i] = signed_scale(su, (bits[i >> 3] >> (7 - (i & 7))) & 1u);
    }
    return QSGD_OK;
}

enum { OPT_BUCKET, OPT_FEEDBACK };
static const qsgd_opt efsignsgd_opts_tab[] = {
    [OPT_BUCKET] = {.name = "bucket",
                    .aliases = "d",
                    .kind = QSGD_OPT_SIZE,
                    .offset = QUANT_EXT_OFFSET(efsignsgd_opts, bucket),
                    .max = SIZE_MAX,
                    .def = "0",
                    .meta = "D",
                    .help = "values per scale ||p||_1/d (0 = the whole tensor)"},
    [OPT_FEEDBACK] = {.name = "feedback",
                      .kind = QSGD_OPT_BOOL,
                      .offset = QUANT_EXT_OFFSET(efsignsgd_opts, no_feedback),
                      .def = "1",
                      .help = "error feedback (0 = the plain scaled sign, residual dropped)",
                      .flags = QSGD_OPT_NEGATED},
    {.name = NULL},
};

/* "EF-signSGD" (" no EF" without feedback) and, at level 1, " d=N" when bucket was given. */
static int efsignsgd_label(const quant_spec *sp, int level, char *out, size_t len) {
    const efsignsgd_opts *o = QUANT_EXT_CONST(&sp->params, efsignsgd_opts);
    int w = snprintf(out, len, "EF-signSGD%s", o->no_feedback ? " no EF" : "");
    size_t l = w < 0 ? 0 : (size_t)w;
    if (level >= 1 && (sp->given >> OPT_BUCKET & 1))
        l += (size_t)snprintf(out + l, l < len ? len - l : 0, " d=%zu", o->bucket);
    return l < len ? 0 : -1;
}

/* Claims checked by `qsgdsim stats` (from a reset state): biased; per bucket of d values
 * ||C(p) - p||^2 = ||p||^2 - ||p||_1^2/d <= (1 - 1/d) ||p||^2 (Karimireddy et al. 2019),
 * d the largest bucket. */
static int efsignsgd_unbiased(const quant_params *p) {
    (void)p;
    return 0;
}

static double efsignsgd_variance_bound(const quant *q) {
    size_t d = QUANT_EXT_CONST(&q->params, efsignsgd_opts)->bucket;
    if (d == 0 || d > q->n)
        d = q->n;
    return 1.0 - 1.0 / (double)d;
}

const quant_type quant_type_efsignsgd = {
    .name = "efsignsgd",
    .summary = "EF-signSGD: scaled sign ||g+e||_1/d * sign(g+e) per bucket with error feedback, "
               "1 bit per coordinate",
    .opts = efsignsgd_opts_tab,
    .stateful = 1,
    .lossless = 0,
    .label = efsignsgd_label,
    .init = efsignsgd_init,
    .fini = efsignsgd_fini,
    .max_bits = efsignsgd_max_bits,
    .quantize = efsignsgd_quantize,
    .encode = efsignsgd_encode,
    .decode = efsignsgd_decode,
    .reset = efsignsgd_reset,
    .residual = efsignsgd_residual,
    .unbiased = efsignsgd_unbiased,
    .variance_bound = efsignsgd_variance_bound,
};
