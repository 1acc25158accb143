/* quant_natural.c — natural compression (Horváth, Ho, Horváth, Sahu, Canini, Richtárik,
 * "Natural compression for distributed deep learning", 2019): each coordinate rounded at
 * random to one of the two powers of two around it, unbiased:
 *   |v| = 2^a (1 + m), m in [0, 1)  ->  2^(a+1) with probability m, else 2^a
 * E C(v) = v and E (C(v) - v)^2 = 4^a m (1 - m) <= v^2 / 8.
 * On float bits (exponent field E, 23-bit mantissa M): the output exponent is E + (r < M)
 * with r the 23 high bits of the coordinate's random word (so P(up) = M / 2^23 exactly);
 * E = 0 codes zero, so a subnormal rounds to 0 or 2^-126 (still unbiased); E = 254 never
 * rounds up (2^128 is not a float): values >= 2^127 are rounded down, the one bias.
 * Wire format: [E'_0 .. E'_{n-1}: 8 bits each][sign_0 .. sign_{n-1}: 1 bit each, 1 = negative]
 * (the exponent bytes first, then the signs, MSB first). Exactly 9 n bits. Decoded value:
 * (-1)^sign 2^(E' - 127), E' = 0 is +-0. The decoder refuses E' = 255. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "qrng.h"
#include "quant.h"

#define CHUNK 1024 /* coordinates per pass; a multiple of QRNG_GROUP */

typedef struct natural_impl {
    int simd;
    uint32_t *rnd; /* [CHUNK] random words */
} natural_impl;

static int natural_init(quant *q, qsgd_err *err) {
    natural_impl *im = calloc(1, sizeof *im);
    if (im)
        im->rnd = malloc(CHUNK * sizeof *im->rnd);
    if (!im || !im->rnd) {
        free(im);
        return QSGD_FAIL_BIT(err, QSGD_ENOMEM, 0, "natural: out of memory");
    }
    im->simd = qrng_simd_available();
    q->impl = im;
    return QSGD_OK;
}

static void natural_fini(quant *q) {
    natural_impl *im = q->impl;
    if (im)
        free(im->rnd);
    free(im);
}

static uint64_t natural_max_bits(const quant *q) {
    return 9ull * q->n;
}

/* Sign bits of v[0..n), 1 = negative (the float's sign bit), MSB first, zero padded. */
static void put_signs(const float *v, size_t n, uint8_t *dst) {
    size_t j = 0;
    for (; 8 * j + 8 <= n; j++) {
        const float *x = v + 8 * j;
        uint32_t b = 0;
        for (int k = 0; k < 8; k++) {
            uint32_t u;
            memcpy(&u, &x[k], 4);
            b |= (u >> 31) << (7 - k);
        }
        dst[j] = (uint8_t)b;
    }
    if (8 * j < n) {
        uint32_t b = 0;
        for (size_t k = 8 * j; k < n; k++) {
            uint32_t u;
            memcpy(&u, &v[k], 4);
            b |= (u >> 31) << (7 - (k - 8 * j));
        }
        dst[j] = (uint8_t)b;
    }
}

/* The rounded exponents of v[0..n) into exps (may be NULL; then the sign bits follow them:
 * the message, exps[n ..]) and/or the values into out (may be NULL). Returns n, or the
 * index of the first non-finite input. */
static size_t natural_run(quant *q, const float *v, const quant_ctx *ctx, uint8_t *exps,
                          float *out) {
    natural_impl *im = q->impl;
    const size_t n = q->n;
    qrng_stream st = qrng_make(ctx->seed, ctx->worker, ctx->step, ctx->tensor);
    for (size_t c0 = 0; c0 < n; c0 += CHUNK) {
        size_t clen = n - c0 < CHUNK ? n - c0 : CHUNK;
        qrng_fill_groups(&st, c0 / QRNG_GROUP, (clen + QRNG_GROUP - 1) / QRNG_GROUP, im->rnd,
                         im->simd);
        const float *x = v + c0;
        uint32_t bad = 0;
        for (size_t i = 0; i < clen; i++) { /* branch-free: the compiler vectorises it */
            uint32_t u;
            memcpy(&u, &x[i], 4);
            uint32_t e = (u >> 23) & 0xffu, m = u & 0x7fffffu;
            bad |= e == 0xffu;
            uint32_t e2 = e + ((im->rnd[i] >> 9) < m);
            e2 -= e2 == 0xffu;
            if (exps)
                exps[c0 + i] = (uint8_t)e2;
            if (out) {
                uint32_t o = (u & 0x80000000u) | e2 << 23;
                memcpy(&out[c0 + i], &o, 4);
            }
        }
        if (bad)
            for (size_t i = 0; i < clen; i++)
                if (!isfinite(x[i]))
                    return c0 + i;
        if (exps) /* the sign bits of this chunk while it is in cache (c0 % 8 == 0) */
            put_signs(x, clen, exps + n + c0 / 8);
    }
    return n;
}

static int natural_nonfinite(const float *v, size_t i, qsgd_err *err) {
    return QSGD_FAIL_BIT(err, QSGD_EINVAL, 0, "natural: input value %g at index %zu is not finite",
                         (double)v[i], i);
}

static int natural_quantize(quant *q, const float *v, const quant_ctx *ctx, float *out,
                            qsgd_err *err) {
    size_t i = natural_run(q, v, ctx, NULL, out);
    return i < q->n ? natural_nonfinite(v, i, err) : QSGD_OK;
}

static int natural_encode(quant *q, const float *v, const quant_ctx *ctx, uint8_t *buf, size_t cap,
                          uint64_t *nbits, qsgd_err *err) {
    const size_t n = q->n, bytes = n + (n + 7) / 8;
    if (cap < bytes)
        return QSGD_FAIL_BIT(err, QSGD_ENOSPC, 0, "natural: buffer of %zu bytes, need %zu", cap,
                             bytes);
    size_t i = natural_run(q, v, ctx, buf, NULL); /* exponents, then the sign bits */
    if (i < n)
        return natural_nonfinite(v, i, err);
    *nbits = 9ull * n;
    return QSGD_OK;
}

static int natural_decode(const quant *q, const uint8_t *buf, size_t len, uint64_t nbits,
                          float *out, qsgd_err *err) {
    const size_t n = q->n;
    uint64_t want = 9ull * n;
    if (nbits != want)
        return QSGD_FAIL_BIT(err, QSGD_ECORRUPT, nbits < want ? nbits : want,
                             "natural: message of %llu bits, expected exactly %llu (%s)",
                             (unsigned long long)nbits, (unsigned long long)want,
                             nbits < want ? "truncated" : "trailing bits");
    const uint8_t *signs = buf + n;
    uint32_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t e = buf[i], s = (signs[i >> 3] >> (7 - (i & 7))) & 1u;
        bad |= e == 0xffu;
        uint32_t o = s << 31 | e << 23;
        memcpy(&out[i], &o, 4);
    }
    if (bad)
        for (size_t i = 0; i < n; i++)
            if (buf[i] == 0xffu)
                return QSGD_FAIL_BIT(err, QSGD_ECORRUPT, 8ull * i,
                                     "natural: coordinate %zu has exponent 255 (not a finite power "
                                     "of two) at bit %llu",
                                     i, 8ull * i);
    /* the padding bits after the last sign are outside nbits: not looked at */
    return QSGD_OK;
}

/* Claims checked by `qsgdsim stats`: unbiased and E (C(v) - v)^2 <= v^2 / 8 per coordinate
 * (both for |v| < 2^127, see above). */
static int natural_unbiased(const quant_params *p) {
    (void)p;
    return 1;
}

static double natural_variance_bound(const quant *q) {
    (void)q;
    return 0.125;
}

const quant_type quant_type_natural = {
    .name = "natural",
    .summary = "natural compression: unbiased stochastic rounding to a power of two, sign + "
               "8-bit exponent (9 bits per coordinate)",
    .opts = NULL,
    .stateful = 0,
    .lossless = 0,
    .init = natural_init,
    .fini = natural_fini,
    .max_bits = natural_max_bits,
    .quantize = natural_quantize,
    .encode = natural_encode,
    .decode = natural_decode,
    .unbiased = natural_unbiased,
    .variance_bound = natural_variance_bound,
};
