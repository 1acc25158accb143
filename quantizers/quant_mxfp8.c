/* quant_mxfp8.c — OCP Microscaling mxfp8 (MX spec v1.0): blocks of 32 values with one shared
 * E8M0 scale 2^e, e = floor(log2 max|v|) - 8, and E4M3 elements (max normal 448), rounded
 * to nearest (ties to even, saturating) or stochastically (rounding=stochastic, unbiased
 * below max normal). The implementation is mx.h's, specialised to E4M3.
 * Wire format, per block: [scale: 8 bits, e + 127][element codes: 8 bits each, MSB first];
 * a last partial block has fewer elements. Exactly 8 ceil(n / 32) + 8 n bits. The decoder
 * refuses the NaN scale 0xFF and scales no float32 block has (above 246), a block whose
 * scale is not 0 but has no element in the top binade (the encoder could not write it), and
 * the NaN element S.1111.111. */
#include "mx.h"

static const mx_fmt fmt = {.name = "mxfp8",
                           .w = 8,
                           .m = 3,
                           .bias = 7,
                           .emax = 8,
                           .maxcode = 0x7E,
                           .nancode = 0x7F,
                           .topmask = 0x78};

static int mxfp8_init(quant *q, qsgd_err *err) {
    return mx_init(&fmt, q, err);
}

static uint64_t mxfp8_max_bits(const quant *q) {
    return mx_bits(&fmt, q);
}

static int mxfp8_quantize(quant *q, const float *v, const quant_ctx *ctx, float *out,
                          qsgd_err *err) {
    return mx_quantize(&fmt, q, v, ctx, out, err);
}

static int mxfp8_encode(quant *q, const float *v, const quant_ctx *ctx, uint8_t *buf, size_t cap,
                        uint64_t *nbits, qsgd_err *err) {
    return mx_encode(&fmt, q, v, ctx, buf, cap, nbits, err);
}

static int mxfp8_decode(const quant *q, const uint8_t *buf, size_t len, uint64_t nbits, float *out,
                        qsgd_err *err) {
    return mx_decode(&fmt, q, buf, len, nbits, out, err);
}

/* Claims checked by `qsgdsim stats`: biased, with either rounding (the top of a block can
 * saturate at max normal; `qsgdsim stats` measures it). */
static int mxfp8_unbiased(const quant_params *p) {
    (void)p;
    return 0;
}

const quant_type quant_type_mxfp8 = {
    .name = "mxfp8",
    .summary = "OCP MX mxfp8: blocks of 32 with a shared E8M0 scale, E4M3 elements "
               "(8 + 8 x 32 bits per block)",
    .opts = mx_optrows,
    .stateful = 0,
    .lossless = 0,
    .init = mxfp8_init,
    .fini = mx_fini,
    .max_bits = mxfp8_max_bits,
    .quantize = mxfp8_quantize,
    .encode = mxfp8_encode,
    .decode = mxfp8_decode,
    .unbiased = mxfp8_unbiased,
};
