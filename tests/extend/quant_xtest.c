/* quant_xtest.c — a quantizer added from outside quantizers/ (tests/extend/): fixed-point
 * rounding of each coordinate, clamped to [-scale, scale], to one of 2^bits evenly spaced
 * values; exactly bits per coordinate. Its two options live in its own struct in
 * quant_params.ext, so adding it touched no existing file but the registry line. */
#include <math.h>
#include <stddef.h>

#include "bitstream.h"
#include "qsgd_opt.h"
#include "quant.h"

typedef struct xtest_opts {
    unsigned bits; /* bits per coordinate, 1..16 */
    double scale;  /* clamp range [-scale, scale] */
} xtest_opts;
QUANT_EXT_FITS(xtest_opts);

static int xtest_init(quant *q, qsgd_err *err) {
    q->impl = NULL;
    return QSGD_OK;
}

static void xtest_fini(quant *q) {}

static uint64_t xtest_max_bits(const quant *q) {
    return (uint64_t)QUANT_EXT_CONST(&q->params, xtest_opts)->bits * q->n;
}

/* The code of v, 0 .. 2^bits - 1, and the value of a code. */
static uint32_t xtest_code(const xtest_opts *o, float v) {
    double top = (double)((1u << o->bits) - 1);
    double c = fmin(fmax((double)v, -o->scale), o->scale); /* NaN -> -scale */
    return (uint32_t)floor((c / o->scale + 1.0) * 0.5 * top + 0.5);
}

static float xtest_value(const xtest_opts *o, uint32_t code) {
    double top = (double)((1u << o->bits) - 1);
    return (float)((2.0 * code / top - 1.0) * o->scale);
}

static int xtest_quantize(quant *q, const float *v, const quant_ctx *ctx, float *out,
                          qsgd_err *err) {
    const xtest_opts *o = QUANT_EXT_CONST(&q->params, xtest_opts);
    for (size_t i = 0; i < q->n; i++)
        out[i] = xtest_value(o, xtest_code(o, v[i]));
    return QSGD_OK;
}

static int xtest_encode(quant *q, const float *v, const quant_ctx *ctx, uint8_t *buf, size_t cap,
                        uint64_t *nbits, qsgd_err *err) {
    const xtest_opts *o = QUANT_EXT_CONST(&q->params, xtest_opts);
    bitw w;
    bitw_init(&w, buf, cap);
    for (size_t i = 0; i < q->n; i++)
        bitw_put(&w, xtest_code(o, v[i]), o->bits);
    *nbits = bitw_finish(&w);
    if (w.overflow)
        return QSGD_FAIL_BIT(err, QSGD_ENOSPC, 0, "xtest: buffer of %zu bytes too small", cap);
    return QSGD_OK;
}

static int xtest_decode(const quant *q, const uint8_t *buf, size_t len, uint64_t nbits, float *out,
                        qsgd_err *err) {
    const xtest_opts *o = QUANT_EXT_CONST(&q->params, xtest_opts);
    uint64_t want = xtest_max_bits(q);
    if (nbits != want)
        return QSGD_FAIL_BIT(err, QSGD_ECORRUPT, nbits < want ? nbits : want,
                             "xtest: message of %llu bits, expected exactly %llu",
                             (unsigned long long)nbits, (unsigned long long)want);
    bitr r;
    bitr_init(&r, buf, len, nbits);
    for (size_t i = 0; i < q->n; i++) {
        uint32_t code;
        if (bitr_get(&r, o->bits, &code))
            return QSGD_FAIL_BIT(err, QSGD_ECORRUPT, (uint64_t)i * o->bits, "xtest: truncated");
        out[i] = xtest_value(o, code);
    }
    return QSGD_OK;
}

static const qsgd_opt xtest_opt_rows[] = {
    {.name = "bits",
     .aliases = "b",
     .kind = QSGD_OPT_UINT,
     .offset = QUANT_EXT_OFFSET(xtest_opts, bits),
     .min = 1,
     .max = 16,
     .def = "4",
     .meta = "B",
     .help = "bits per coordinate: 2^B evenly spaced values in [-scale, scale]"},
    {.name = "scale",
     .kind = QSGD_OPT_DOUBLE,
     .offset = QUANT_EXT_OFFSET(xtest_opts, scale),
     .dmin = 1e-30,
     .dmax = 1e30,
     .def = "1",
     .meta = "S",
     .help = "clamp range: coordinates outside [-S, S] are clamped"},
    {.name = NULL},
};

const quant_type quant_type_xtest = {
    .name = "xtest",
    .summary = "fixed-point rounding to 2^bits values in [-scale, scale] (extension test)",
    .opts = xtest_opt_rows,
    .init = xtest_init,
    .fini = xtest_fini,
    .max_bits = xtest_max_bits,
    .quantize = xtest_quantize,
    .encode = xtest_encode,
    .decode = xtest_decode,
};
