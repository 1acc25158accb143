/* quant_fp32.c — the uncompressed baseline: 32 bits per coordinate, the float's IEEE-754
 * bits in big-endian byte order (MSB first, like every other message). */
#include "quant.h"

#include <stddef.h>
#include <string.h>

static int fp32_init(quant *q, qsgd_err *err) {
    q->impl = NULL;
    return QSGD_OK;
}

static void fp32_fini(quant *q) {}

static uint64_t fp32_max_bits(const quant *q) {
    return 32ull * q->n;
}

static int fp32_quantize(quant *q, const float *v, const quant_ctx *ctx, float *out,
                         qsgd_err *err) {
    memcpy(out, v, q->n * sizeof *v);
    return QSGD_OK;
}

static int fp32_encode(quant *q, const float *v, const quant_ctx *ctx, uint8_t *buf, size_t cap,
                       uint64_t *nbits, qsgd_err *err) {
    if (cap < 4 * q->n)
        return QSGD_FAIL_BIT(err, QSGD_ENOSPC, 0, "fp32: buffer of %zu bytes, need %zu", cap,
                             4 * q->n);
    for (size_t i = 0; i < q->n; i++) {
        uint32_t u;
        memcpy(&u, &v[i], 4);
        u = __builtin_bswap32(u);
        memcpy(buf + 4 * i, &u, 4);
    }
    *nbits = 32ull * q->n;
    return QSGD_OK;
}

static int fp32_decode(const quant *q, const uint8_t *buf, size_t len, uint64_t nbits, float *out,
                       qsgd_err *err) {
    uint64_t want = 32ull * q->n;
    if (nbits != want)
        return QSGD_FAIL_BIT(err, QSGD_ECORRUPT, nbits < want ? nbits : want,
                             "fp32: message of %llu bits, expected exactly %llu (%s)",
                             (unsigned long long)nbits, (unsigned long long)want,
                             nbits < want ? "truncated" : "trailing bits");
    for (size_t i = 0; i < q->n; i++) {
        uint32_t u;
        memcpy(&u, buf + 4 * i, 4);
        u = __builtin_bswap32(u);
        memcpy(&out[i], &u, 4);
    }
    return QSGD_OK;
}

/* Lossless: unbiased, error 0 (checked by `qsgdsim stats`). */
static int fp32_unbiased(const quant_params *p) {
    (void)p;
    return 1;
}

static double fp32_variance_bound(const quant *q) {
    (void)q;
    return 0.0;
}

const quant_type quant_type_fp32 = {
    .name = "fp32",
    .summary = "uncompressed float32 baseline (32 bits per coordinate)",
    .opts = NULL,
    .stateful = 0,
    .lossless = 1,
    .init = fp32_init,
    .fini = fp32_fini,
    .max_bits = fp32_max_bits,
    .quantize = fp32_quantize,
    .encode = fp32_encode,
    .decode = fp32_decode,
    .unbiased = fp32_unbiased,
    .variance_bound = fp32_variance_bound,
    .gpu_codec = QUANT_GPU_FP32,
};
