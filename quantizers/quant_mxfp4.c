/* quant_mxfp4.c — OCP Microscaling mxfp4 (MX spec v1.0): blocks of 32 values with one shared
 * E8M0 scale 2^e, e = floor(log2 max|v|) - 2, and E2M1 elements (max normal 6), rounded
 * to nearest (ties to even, saturating) or stochastically (rounding=stochastic, unbiased
 * below max normal). The implementation is mx.h's, specialised to E2M1.
 * Wire format, per block: [scale: 8 bits, e + 127][element codes: 4 bits each, MSB first];
 * a last partial block has fewer elements. Exactly 8 ceil(n / 32) + 4 n bits. The decoder
 * refuses the NaN scale 0xFF and scales no float32 block has (above 252), a block whose
 * scale is not 0 but has no element in the top binade (the encoder could not write it). */
#include "mx.h"

static const mx_fmt fmt = {.name = "mxfp4",
                           .w = 4,
                           .m = 1,
                           .bias = 1,
                           .emax = 2,
                           .maxcode = 0x7,
                           .nancode = 0,
                           .topmask = 0x6};

static int mxfp4_init(quant *q, qsgd_err *err) {
    return mx_init(&fmt, q, err);
}

static uint64_t mxfp4_max_bits(const quant *q) {
    return mx_bits(&fmt, q);
}

static int mxfp4_quantize(quant *q, const float *v, const quant_ctx *ctx, float *out,
                          qsgd_err *err) {
    return mx_quantize(&fmt, q, v, ctx, out, err);
}

static int mxfp4_encode(quant *q, const float *v, const quant_ctx *ctx, uint8_t *buf, size_t cap,
                        uint64_t *nbits, qsgd_err *err) {
    return mx_encode(&fmt, q, v, ctx, buf, cap, nbits, err);
}

static int mxfp4_decode(const quant *q, const uint8_t *buf, size_t len, uint64_t nbits, float *out,
                        qsgd_err *err) {
    return mx_decode(&fmt, q, buf, len, nbits, out, err);
}

/* Claims checked by `qsgdsim stats`: biased, with either rounding (the top of a block can
 * saturate at max normal; `qsgdsim stats` measures it). */
static int mxfp4_unbiased(const quant_params *p) {
    (void)p;
    return 0;
}

const quant_type quant_type_mxfp4 = {
    .name = "mxfp4",
    .summary = "OCP MX mxfp4: blocks of 32 with a shared E8M0 scale, E2M1 elements "
               "(8 + 4 x 32 bits per block)",
    .opts = mx_optrows,
    .stateful = 0,
    .lossless = 0,
    .init = mxfp4_init,
    .fini = mx_fini,
    .max_bits = mxfp4_max_bits,
    .quantize = mxfp4_quantize,
    .encode = mxfp4_encode,
    .decode = mxfp4_decode,
    .unbiased = mxfp4_unbiased,
};
