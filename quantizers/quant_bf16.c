/* quant_bf16.c — the bfloat16 cast: each coordinate rounded to the nearest bfloat16 (the high
 * 16 bits of a float32, ties to even); a finite value that would round to infinity
 * (|v| >= 0x1.ffp127) saturates to +-0x1.fep127, NaN and infinite inputs are refused.
 * Wire format: n 16-bit codes, the bfloat16's bits MSB first (big endian). Exactly 16 n bits.
 * The decoder refuses codes with exponent 255 (infinities, NaNs: never encoded). */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "half.h"
#include "quant.h"

static int bf16_init(quant *q, qsgd_err *err) {
    q->impl = NULL;
    return QSGD_OK;
}

static void bf16_fini(quant *q) {}

static uint64_t bf16_max_bits(const quant *q) {
    return 16ull * q->n;
}

static int bf16_nonfinite(const quant *q, const float *v, qsgd_err *err) {
    size_t i = 0;
    while (i < q->n && isfinite(v[i]))
        i++;
    return QSGD_FAIL_BIT(err, QSGD_EINVAL, 0, "bf16: input value %g at index %zu is not finite",
                         (double)v[i < q->n ? i : 0], i);
}

/* Branch-free loops the compiler vectorises; return 1 if some v[i] is not finite. */
static int bf16_to_buf(const float *v, size_t n, uint8_t *buf) {
    uint32_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        bad |= (half_f2u(v[i]) & 0x7fffffffu) >= 0x7f800000u;
        uint16_t h = bf16_from_float(v[i]);
        buf[2 * i] = (uint8_t)(h >> 8);
        buf[2 * i + 1] = (uint8_t)h;
    }
    return bad != 0;
}

static int bf16_to_out(const float *v, size_t n, float *out) {
    uint32_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        bad |= (half_f2u(v[i]) & 0x7fffffffu) >= 0x7f800000u;
        out[i] = bf16_to_float(bf16_from_float(v[i]));
    }
    return bad != 0;
}

static int bf16_quantize(quant *q, const float *v, const quant_ctx *ctx, float *out,
                         qsgd_err *err) {
    if (bf16_to_out(v, q->n, out))
        return bf16_nonfinite(q, v, err);
    return QSGD_OK;
}

static int bf16_encode(quant *q, const float *v, const quant_ctx *ctx, uint8_t *buf, size_t cap,
                       uint64_t *nbits, qsgd_err *err) {
    if (cap / 2 < q->n)
        return QSGD_FAIL_BIT(err, QSGD_ENOSPC, 0, "bf16: buffer of %zu bytes, need %zu", cap,
                             2 * q->n);
    if (bf16_to_buf(v, q->n, buf))
        return bf16_nonfinite(q, v, err);
    *nbits = 16ull * q->n;
    return QSGD_OK;
}

static int bf16_decode(const quant *q, const uint8_t *buf, size_t len, uint64_t nbits, float *out,
                       qsgd_err *err) {
    uint64_t want = 16ull * q->n;
    if (nbits != want)
        return QSGD_FAIL_BIT(err, QSGD_ECORRUPT, nbits < want ? nbits : want,
                             "bf16: message of %llu bits, expected exactly %llu (%s)",
                             (unsigned long long)nbits, (unsigned long long)want,
                             nbits < want ? "truncated" : "trailing bits");
    uint32_t bad = 0;
    for (size_t i = 0; i < q->n; i++) {
        uint32_t h = (uint32_t)buf[2 * i] << 8 | buf[2 * i + 1];
        bad |= (h & 0x7f80u) == 0x7f80u;
        out[i] = half_u2f(h << 16);
    }
    if (bad)
        for (size_t i = 0; i < q->n; i++)
            if ((buf[2 * i] & 0x7fu) == 0x7fu && (buf[2 * i + 1] & 0x80u))
                return QSGD_FAIL_BIT(
                    err, QSGD_ECORRUPT, 16ull * i,
                    "bf16: coordinate %zu is an infinity or NaN (0x%02x%02x) at bit %llu", i,
                    buf[2 * i], buf[2 * i + 1], 16ull * i);
    return QSGD_OK;
}

/* Claims checked by `qsgdsim stats`: biased (round to nearest); no variance bound holds for
 * every v (float32 subnormals below 2^-133 round to 0), so none is claimed. */
static int bf16_unbiased(const quant_params *p) {
    (void)p;
    return 0;
}

const quant_type quant_type_bf16 = {
    .name = "bf16",
    .summary = "bfloat16 cast (round to nearest even, saturating): 16 bits per coordinate",
    .opts = NULL,
    .stateful = 0,
    .lossless = 0,
    .init = bf16_init,
    .fini = bf16_fini,
    .max_bits = bf16_max_bits,
    .quantize = bf16_quantize,
    .encode = bf16_encode,
    .decode = bf16_decode,
    .unbiased = bf16_unbiased,
};
