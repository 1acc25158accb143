/* mx.h — the OCP Microscaling (MX) v1.0 block formats behind quant_mxfp8.c (E4M3 elements)
 * and quant_mxfp4.c (E2M1 elements): the shared implementation, all static, specialised by
 * each file's constant element format. docs/compressors-mx-powersgd.md has the wire format.
 *
 * A block is 32 consecutive values of the row-major tensor (the last one may be shorter).
 * Its shared scale is X = 2^e, e = floor(log2 max_i |v_i|) - emax_elem (the spec's section
 * 6.3), clamped to the E8M0 range from below (e >= -127; a block of zeros has e = -127).
 * Every element is P_i = v_i / X (exact: X is a power of two and P_i's float is exact unless
 * |P_i| < 2^-126, far below the smallest element) converted to the element format with
 *   nearest:    round to nearest, ties to even, saturating to +-max normal (the spec's
 *               conversion: |P| >= 2^emax always, so the top of the block may exceed it)
 *   stochastic: round up with probability (|P| - lo) / (hi - lo), lo <= |P| < hi the two
 *               neighbouring element values, by the coordinate's qrng word (unbiased within
 *               the representable range: below max normal), then saturating.
 * The decoded value is sign * element * X, computed as one float multiplication.
 *
 * Codes: E4M3 S.EEEE.MMM, bias 7, subnormals 0.MMM * 2^-6, max normal 448 = S.1111.110,
 * NaN S.1111.111 (never sent); E2M1 S.EE.M, bias 1, subnormal 0.5, max 6 = S.11.1.
 * The scale byte is e + 127 (0xFF, NaN, never sent).
 *
 * Element conversion on the float's bits, branch-free (vectorised): with a = bits(|P|),
 *   normal (|P| >= 2^emin):  r = a + rnd(a); code = (r >> (23 - m)) - ((127 - bias) << m)
 *                            (rnd = the round-to-nearest-even increment, or the coordinate's
 *                            23 - m high random bits: unbiased on exact low bits)
 *   subnormal (|P| < 2^emin): t = |P| 2^(m - emin) in [0, 2^m) as 23-bit fixed point
 *                            (truncated: |P| below 2^(emin - m - 23) loses bits, a bias under
 *                            2^-23 subnormal steps), code = round(t) by the same rules;
 * code 2^m there is the smallest normal, and codes beyond max normal saturate. */
#ifndef QSGDSIM_MX_H
#define QSGDSIM_MX_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qrng.h"
#include "qsgd_opt.h"
#include "quant.h"

#define MX_BLOCK 32 /* elements per shared scale (the spec's k); = QRNG_GROUP */
#define MX_CHUNK 32 /* blocks per pass of random words */
/* inlined into each type's functions, so that the format's fields are constants there */
#define MX_INLINE static inline __attribute__((always_inline))

typedef struct mx_fmt {
    const char *name; /* "mxfp8" */
    unsigned w;       /* bits per element: 8 or 4 */
    unsigned m;       /* mantissa bits: 3 or 1 */
    int bias;         /* 7 or 1 */
    int emax;         /* exponent of the largest normal: 8 or 2 */
    uint32_t maxcode; /* magnitude code of max normal: 0x7E or 0x7 */
    uint32_t nancode; /* magnitude code of NaN (0x7F), or 0 for none */
    uint32_t topmask; /* exponent field of the top binade (emax): 0x78 or 0x6 */
} mx_fmt;

enum { MX_NEAREST = 0, MX_STOCHASTIC = 1 };

typedef struct mx_opts {
    int rounding; /* MX_NEAREST or MX_STOCHASTIC */
} mx_opts;
QUANT_EXT_FITS(mx_opts);

typedef struct mx_impl {
    int simd;
    float table[256]; /* element value of each magnitude code (sign bit apart) */
    uint32_t *rnd;    /* [MX_CHUNK * MX_BLOCK] random words */
    uint8_t *codes;   /* [MX_BLOCK] element codes of one block (sign in bit w-1) */
} mx_impl;

static inline uint32_t mx_f2u(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}
static inline float mx_u2f(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* 2^e for e in [-127, 127] as a float (2^-127 is subnormal). */
static inline float mx_pow2(int e) {
    return e > -127 ? mx_u2f((uint32_t)(e + 127) << 23) : mx_u2f(0x00400000u);
}

static inline uint64_t mx_nblocks(const quant *q) {
    return ((uint64_t)q->n + MX_BLOCK - 1) / MX_BLOCK;
}

static inline uint64_t mx_bits(const mx_fmt *f, const quant *q) {
    return 8ull * mx_nblocks(q) + (uint64_t)f->w * q->n;
}

/* the largest scale byte: floor(log2 FLT_MAX) - emax + 127 */
static inline uint32_t mx_maxscale(const mx_fmt *f) {
    return (uint32_t)(127 - f->emax + 127);
}

static int mx_init(const mx_fmt *f, quant *q, qsgd_err *err) {
    mx_opts *o = QUANT_EXT(&q->params, mx_opts);
    if (o->rounding != MX_NEAREST && o->rounding != MX_STOCHASTIC)
        return QSGD_FAIL_BIT(err, QSGD_EINVAL, 0, "%s: bad rounding %d", f->name, o->rounding);
    mx_impl *im = calloc(1, sizeof *im);
    if (!im)
        return QSGD_FAIL_BIT(err, QSGD_ENOMEM, 0, "%s: out of memory", f->name);
    im->simd = qrng_simd_available();
    im->rnd = malloc(MX_CHUNK * MX_BLOCK * sizeof *im->rnd);
    im->codes = malloc(MX_BLOCK);
    if (!im->rnd || !im->codes) {
        free(im->rnd);
        free(im->codes);
        free(im);
        return QSGD_FAIL_BIT(err, QSGD_ENOMEM, 0, "%s: out of memory", f->name);
    }
    const uint32_t ncodes = 1u << (f->w - 1);
    const int emin = 1 - f->bias;
    for (uint32_t c = 0; c < ncodes; c++) {
        uint32_t ef = c >> f->m, mf = c & ((1u << f->m) - 1);
        double val = ef == 0 ? ldexp((double)mf, emin - (int)f->m)
                             : ldexp((double)((1u << f->m) + mf), (int)ef - f->bias - (int)f->m);
        im->table[c] = (float)val;
    }
    q->impl = im;
    return QSGD_OK;
}

static void mx_fini(quant *q) {
    mx_impl *im = q->impl;
    if (!im)
        return;
    free(im->rnd);
    free(im->codes);
    free(im);
}

/* Scale exponent e of a block from the largest |v| as bits (finite). */
static inline int mx_scale_exp(const mx_fmt *f, uint32_t amax) {
    int lg;
    if (amax >= 0x00800000u)
        lg = (int)(amax >> 23) - 127;
    else if (amax)
        lg = -118 - __builtin_clz(amax); /* subnormal: amax * 2^-149 */
    else
        lg = -1000;
    int e = lg - f->emax;
    return e < -127 ? -127 : e;
}

/* Element codes (sign in bit w-1) of len values v scaled by 2^-e; rnd NULL: nearest. */
MX_INLINE void mx_codes_k(const mx_fmt *f, const float *v, size_t len, int e, const uint32_t *rnd,
                          uint8_t *codes, const int stoch) {
    const float inv = mx_u2f((uint32_t)(127 - e) << 23); /* 2^-e, -e in [-125, 127] */
    const unsigned sh = 23 - f->m;
    const int emin = 1 - f->bias;
    const uint32_t minnorm = (uint32_t)(emin + 127) << 23;
    const uint32_t off = (uint32_t)(127 - f->bias) << f->m;
    const float tscale = mx_u2f((uint32_t)(127 + (int)f->m - emin + 23) << 23);
    const uint32_t lowmask = (1u << sh) - 1, fmask = (1u << 23) - 1;
    /* signed 32-bit lanes throughout (every value here is below 2^31): SSE2 compares them */
    const int32_t minn = (int32_t)minnorm, offs = (int32_t)off, maxc = (int32_t)f->maxcode;
    for (size_t k = 0; k < len; k++) {
        float p = v[k] * inv;
        uint32_t pu = mx_f2u(p);
        int32_t a = (int32_t)(pu & 0x7fffffffu);
        /* normal */
        int32_t inc_n =
            stoch ? (int32_t)(rnd[k] >> (32 - sh)) : (int32_t)(lowmask >> 1) + ((a >> sh) & 1);
        int32_t cn = ((a + inc_n) >> sh) - offs;
        /* subnormal: 23-bit fixed point of |P| / 2^(emin - m) */
        int32_t isn = -(int32_t)(a >= minn); /* all ones for a normal |P| */
        int32_t t = (int32_t)(mx_u2f((uint32_t)(a & ~isn)) * tscale); /* < 2^26 */
        int32_t inc_s = stoch ? (int32_t)(rnd[k] >> 9) : (int32_t)(fmask >> 1) + ((t >> 23) & 1);
        int32_t cs = (t + inc_s) >> 23;
        int32_t c = cs ^ ((cn ^ cs) & isn);
        c -= (c - maxc) & -(int32_t)(c > maxc);
        codes[k] = (uint8_t)((uint32_t)c | (pu >> 31) << (f->w - 1));
    }
}

MX_INLINE void mx_codes(const mx_fmt *f, const float *v, size_t len, int e, const uint32_t *rnd,
                        uint8_t *codes) {
    if (rnd)
        mx_codes_k(f, v, len, e, rnd, codes, 1);
    else
        mx_codes_k(f, v, len, e, rnd, codes, 0);
}

/* The shared driver: per block the scale and the codes, into buf (message) and/or out. */
MX_INLINE int mx_run(const mx_fmt *f, quant *q, const float *v, const quant_ctx *ctx, uint8_t *buf,
                     float *out, qsgd_err *err) {
    mx_impl *im = q->impl;
    const size_t n = q->n;
    const int stoch = QUANT_EXT(&q->params, mx_opts)->rounding == MX_STOCHASTIC;
    qrng_stream st = qrng_make(ctx->seed, ctx->worker, ctx->step, ctx->tensor);
    uint64_t bit = 0;
    size_t nb = (size_t)mx_nblocks(q);
    for (size_t b = 0; b < nb; b++) {
        size_t i0 = b * MX_BLOCK, len = n - i0 < MX_BLOCK ? n - i0 : MX_BLOCK;
        const float *x = v + i0;
        uint32_t amax = 0;
        for (size_t k = 0; k < len; k++) {
            uint32_t a = mx_f2u(x[k]) & 0x7fffffffu;
            amax = a > amax ? a : amax;
        }
        if (amax >= 0x7f800000u) {
            size_t k = 0;
            while (k < len && isfinite(x[k]))
                k++;
            return QSGD_FAIL_BIT(err, QSGD_EINVAL, 0,
                                 "%s: input value %g at index %zu is not finite", f->name,
                                 (double)x[k < len ? k : 0], i0 + k);
        }
        int e = mx_scale_exp(f, amax);
        const uint32_t *r = NULL;
        if (stoch) {
            size_t c = b % MX_CHUNK;
            if (c == 0) {
                size_t g = nb - b < MX_CHUNK ? nb - b : MX_CHUNK;
                qrng_fill_groups(&st, b, g, im->rnd, im->simd); /* group b = block b */
            }
            r = im->rnd + c * MX_BLOCK;
        }
        uint8_t *codes = im->codes;
        mx_codes(f, x, len, e, r, codes);
        if (out) {
            const float X = mx_pow2(e);
            const uint32_t mag = (1u << (f->w - 1)) - 1;
            for (size_t k = 0; k < len; k++) {
                uint32_t c = codes[k];
                float t = mx_u2f(mx_f2u(im->table[c & mag]) | (c >> (f->w - 1)) << 31);
                out[i0 + k] = t * X;
            }
        }
        if (buf) {
            if (f->w == 8) {
                uint8_t *p = buf + (bit >> 3);
                p[0] = (uint8_t)(e + 127);
                memcpy(p + 1, codes, len);
            } else { /* 8 + 4 len bits; bit is a multiple of 8 before the last block */
                uint8_t *p = buf + (bit >> 3);
                p[0] = (uint8_t)(e + 127);
                size_t k = 0;
                for (; k + 8 <= len; k += 8) { /* 8 codes -> 4 bytes (SWAR) */
                    uint64_t x = 0;
                    for (int b = 7; b >= 0; b--) /* code k + b in byte b: one load on x86 */
                        x = x << 8 | codes[k + (size_t)b];
                    x = (x & 0x000F000F000F000Full) << 4 | (x & 0x0F000F000F000F00ull) >> 8;
                    x = (x | x >> 8) & 0x0000FFFF0000FFFFull;
                    x = (x | x >> 16) & 0xFFFFFFFFull;
                    p[1 + k / 2] = (uint8_t)x;
                    p[2 + k / 2] = (uint8_t)(x >> 8);
                    p[3 + k / 2] = (uint8_t)(x >> 16);
                    p[4 + k / 2] = (uint8_t)(x >> 24);
                }
                for (; k + 2 <= len; k += 2)
                    p[1 + k / 2] = (uint8_t)(codes[k] << 4 | codes[k + 1]);
                if (k < len)
                    p[1 + k / 2] = (uint8_t)(codes[k] << 4);
            }
            bit += 8 + (uint64_t)f->w * len;
        }
    }
    return QSGD_OK;
}

MX_INLINE int mx_quantize(const mx_fmt *f, quant *q, const float *v, const quant_ctx *ctx,
                          float *out, qsgd_err *err) {
    return mx_run(f, q, v, ctx, NULL, out, err);
}

MX_INLINE int mx_encode(const mx_fmt *f, quant *q, const float *v, const quant_ctx *ctx,
                        uint8_t *buf, size_t cap, uint64_t *nbits, qsgd_err *err) {
    uint64_t total = mx_bits(f, q);
    if ((total + 7) / 8 > cap)
        return QSGD_FAIL_BIT(err, QSGD_ENOSPC, 0, "%s: buffer of %zu bytes, need %llu", f->name,
                             cap, (unsigned long long)((total + 7) / 8));
    int rc = mx_run(f, q, v, ctx, buf, NULL, err);
    if (rc)
        return rc;
    *nbits = total;
    return QSGD_OK;
}

MX_INLINE int mx_decode(const mx_fmt *f, const quant *q, const uint8_t *buf, size_t len,
                        uint64_t nbits, float *out, qsgd_err *err) {
    const mx_impl *im = q->impl;
    const size_t n = q->n;
    uint64_t want = mx_bits(f, q);
    if (nbits != want)
        return QSGD_FAIL_BIT(err, QSGD_ECORRUPT, nbits < want ? nbits : want,
                             "%s: message of %llu bits, expected exactly %llu (%s)", f->name,
                             (unsigned long long)nbits, (unsigned long long)want,
                             nbits < want ? "truncated" : "trailing bits");
    const size_t nb = (size_t)mx_nblocks(q);
    const uint32_t smax = mx_maxscale(f), mag = (1u << (f->w - 1)) - 1;
    uint64_t bit = 0;
    for (size_t b = 0; b < nb; b++) {
        size_t i0 = b * MX_BLOCK, blen = n - i0 < MX_BLOCK ? n - i0 : MX_BLOCK;
        const uint8_t *p = buf + (bit >> 3);
        uint32_t sc = p[0];
        if (sc > smax)
            return QSGD_FAIL_BIT(err, QSGD_ECORRUPT, bit,
                                 "%s: block %zu has scale byte 0x%02x (%s) at bit %llu", f->name, b,
                                 sc, sc == 0xFF ? "NaN" : "beyond any float32 block",
                                 (unsigned long long)bit);
        const float X = mx_pow2((int)sc - 127);
        uint32_t top = 0, nan = 0;
        float *o = out + i0;
        if (f->w == 8) {
            for (size_t k = 0; k < blen; k++) {
                uint32_t c = p[1 + k];
                top |= (c & f->topmask) == f->topmask;
                nan |= (c & mag) == f->nancode;
                o[k] = mx_u2f(mx_f2u(im->table[c & mag]) | (c >> 7) << 31) * X;
            }
        } else {
            for (size_t k = 0; k < blen; k++) {
                uint32_t c = (p[1 + k / 2] >> (k & 1 ? 0 : 4)) & 0xFu;
                top |= (c & f->topmask) == f->topmask;
                o[k] = mx_u2f(mx_f2u(im->table[c & mag]) | (c >> 3) << 31) * X;
            }
        }
        if (nan || (sc > 0 && !top)) {
            size_t k = 0;
            uint32_t c = 0;
            for (; k < blen; k++) {
                c = f->w == 8 ? p[1 + k] : (p[1 + k / 2] >> (k & 1 ? 0 : 4)) & 0xFu;
                if (f->nancode && (c & mag) == f->nancode)
                    break;
            }
            if (k < blen)
                return QSGD_FAIL_BIT(err, QSGD_ECORRUPT, bit + 8 + (uint64_t)f->w * k,
                                     "%s: block %zu element %zu is NaN (0x%02x) at bit %llu",
                                     f->name, b, k, c,
                                     (unsigned long long)(bit + 8 + (uint64_t)f->w * k));
            return QSGD_FAIL_BIT(
                err, QSGD_ECORRUPT, bit,
                "%s: block %zu has scale byte 0x%02x but no element in the top "
                "binade (the encoder's scale is floor(log2 max|v|) - %d) at bit %llu",
                f->name, b, sc, f->emax, (unsigned long long)bit);
        }
        bit += 8 + (uint64_t)f->w * blen;
    }
    return QSGD_OK;
}

static const qsgd_opt_choice mx_rounding_choices[] = {
    {"nearest", MX_NEAREST}, {"stochastic", MX_STOCHASTIC}, {NULL, 0}};
static const qsgd_opt mx_optrows[] = {
    {.name = "rounding",
     .kind = QSGD_OPT_ENUM,
     .offset = QUANT_EXT_OFFSET(mx_opts, rounding),
     .choices = mx_rounding_choices,
     .def = "nearest",
     .help = "element rounding: nearest (ties to even, the spec's) or stochastic (unbiased)"},
    {.name = NULL},
};

#endif
