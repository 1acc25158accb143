/* quant_signsgd.c — signSGD (Bernstein, Wang, Azizzadenesheli, Anandkumar, ICML 2018): one
 * bit per coordinate, decoded to +1 (v_i >= 0, -0.0 included) or -1. Biased, scale-free: the
 * learning rate carries the step size; aggregated by majority vote (the sign of the sum of
 * the workers' signs) in the exchange.
 * Wire format: [bit_0 .. bit_{n-1}], 1 = non-negative, MSB first. Exactly n bits; every
 * n-bit message is one the encoder can produce. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "quant.h"

static int signsgd_init(quant *q, qsgd_err *err) {
    q->impl = NULL;
    return QSGD_OK;
}

static void signsgd_fini(quant *q) {}

static uint64_t signsgd_max_bits(const quant *q) {
    return q->n;
}

/* Index of the first non-finite value, or n (one vectorisable pass). */
static size_t first_nonfinite(const float *v, size_t n) {
    uint32_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &v[i], 4);
        bad |= (u & 0x7fffffffu) >= 0x7f800000u;
    }
    if (!bad)
        return n;
    size_t i = 0;
    while (isfinite(v[i]))
        i++;
    return i;
}

static int signsgd_quantize(quant *q, const float *v, const quant_ctx *ctx, float *out,
                            qsgd_err *err) {
    size_t bad = first_nonfinite(v, q->n);
    if (bad < q->n)
        return QSGD_FAIL_BIT(err, QSGD_EINVAL, 0,
                             "signsgd: input value %g at index %zu is not finite", (double)v[bad],
                             bad);
    for (size_t i = 0; i < q->n; i++)
        out[i] = v[i] >= 0.0f ? 1.0f : -1.0f;
    return QSGD_OK;
}

static int signsgd_encode(quant *q, const float *v, const quant_ctx *ctx, uint8_t *buf, size_t cap,
                          uint64_t *nbits, qsgd_err *err) {
    const size_t n = q->n, bytes = (n + 7) / 8;
    if (cap < bytes)
        return QSGD_FAIL_BIT(err, QSGD_ENOSPC, 0, "signsgd: buffer of %zu bytes, need %zu", cap,
                             bytes);
    size_t bad = first_nonfinite(v, n);
    if (bad < n)
        return QSGD_FAIL_BIT(err, QSGD_EINVAL, 0,
                             "signsgd: input value %g at index %zu is not finite", (double)v[bad],
                             bad);
    size_t j = 0;
    for (; 8 * j + 8 <= n; j++) {
        const float *x = v + 8 * j;
        uint32_t b = 0;
        for (int k = 0; k < 8; k++)
            b |= (uint32_t)(x[k] >= 0.0f) << (7 - k);
        buf[j] = (uint8_t)b;
    }
    if (8 * j < n) {
        uint32_t b = 0;
        for (size_t k = 8 * j; k < n; k++)
            b |= (uint32_t)(v[k] >= 0.0f) << (7 - (k - 8 * j));
        buf[j] = (uint8_t)b;
    }
    *nbits = n;
    return QSGD_OK;
}

static int signsgd_decode(const quant *q, const uint8_t *buf, size_t len, uint64_t nbits,
                          float *out, qsgd_err *err) {
    const size_t n = q->n;
    if (nbits != n)
        return QSGD_FAIL_BIT(err, QSGD_ECORRUPT, nbits < n ? nbits : n,
                             "signsgd: message of %llu bits, expected exactly %zu (%s)",
                             (unsigned long long)nbits, n,
                             nbits < n ? "truncated" : "trailing bits");
    for (size_t i = 0; i < n; i++) { /* 1.0f or -1.0f: the sign bit from the message bit */
        uint32_t bit = (buf[i >> 3] >> (7 - (i & 7))) & 1u;
        uint32_t u = 0x3f800000u | (bit ^ 1u) << 31;
        memcpy(&out[i], &u, 4);
    }
    return QSGD_OK;
}

/* Claims checked by `qsgdsim stats`: biased and scale-free (no variance bound). */
static int signsgd_unbiased(const quant_params *p) {
    (void)p;
    return 0;
}

const quant_type quant_type_signsgd = {
    .name = "signsgd",
    .summary = "signSGD: the sign of each coordinate (1 bit), decoded to +-1; majority vote",
    .opts = NULL,
    .stateful = 0,
    .lossless = 0,
    .init = signsgd_init,
    .fini = signsgd_fini,
    .max_bits = signsgd_max_bits,
    .quantize = signsgd_quantize,
    .encode = signsgd_encode,
    .decode = signsgd_decode,
    .unbiased = signsgd_unbiased,
    .aggregate = QUANT_AGG_VOTE,
};
