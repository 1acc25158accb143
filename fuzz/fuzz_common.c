/* fuzz_common.c — the shared driver of the decoder fuzz targets (fuzz_fp32.c, fuzz_qsgd_*.c,
 * fuzz_onebit.c) and of the seed-corpus generator (make_corpus.c); each includes this file
 * textually, so every target is one self-contained translation unit.
 *
 * Input layout (FUZZ_HDR bytes of header, then a payload):
 *   h[0]      mode: bits 0-1 = 0,1 decode the payload as a message; 2 round trip with the
 *             payload read as raw float32 (non-finite values replaced by 0); 3 round trip
 *             with the payload read as int16 / 256.  bits 2-3: nbits mode (decode mode).
 *   h[1..2]   n = u16 % (FUZZ_MAX_N + 1)
 *   h[3]      low 4 bits: s from fuzz_s_table; high 4 bits % 5: bucket from {0,1,7,64,512}
 *   h[4]      bit 0: norm max (else l2); bit 1: no error feedback (onebit); bits 2-4: rows
 *             index into fuzz_rows_table (cols = n / rows)
 *   h[5..12]  nbits material (decode mode) / seed (round-trip mode), little endian
 *   h[13]     step (round-trip) / low bits: shift of the partial last byte
 *   h[14..15] encoder capacity fraction for the ENOSPC check (round trip)
 *
 * Properties checked (any violation is __builtin_trap(), ASan/UBSan catch the rest):
 *  decode:  quant_decode returns QSGD_OK or QSGD_ECORRUPT (with err.bit within the
 *           message and a NUL-terminated err.msg), reads only buf[0..len) and
 *           writes only out[0..n) (both heap blocks of exactly that size); an accepted
 *           message decodes deterministically and writes all n outputs; a fixed-size format
 *           (fp32, qsgd dense, onebit) accepts only its exact message length.
 *  round trip: encode succeeds with cap = quant_max_bytes (raw floats may be rejected with
 *           QSGD_EINVAL, by quantize and encode alike), nbits <= quant_max_bits; decode of
 *           the message succeeds and equals quant_quantize from the same state (for onebit
 *           over two steps, residuals equal too); the scalar kernels (QSGDSIM_NO_SIMD=1)
 *           encode the same message bit for bit; encode with a smaller capacity returns OK
 *           with the same message, or QSGD_ENOSPC, and writes nothing past cap. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quant.h"

#define FUZZ_HDR 16
#define FUZZ_MAX_N 4096

static const unsigned fuzz_s_table[16] = {1, 2,  3,  7,   15,  127,  1,     2,
                                          7, 31, 64, 127, 255, 1000, 32767, 65535};
static const size_t fuzz_bucket_table[5] = {0, 1, 7, 64, 512};
static const size_t fuzz_rows_table[8] = {1, 1, 1, 2, 3, 7, 16, 64};

/* Which quantizer a target drives. */
typedef struct fuzz_target {
    const char *name; /* registry name */
    int use_s;        /* qsgd: take s, bucket and norm from the header */
    int format;       /* qsgd: QUANT_FMT_DENSE or QUANT_FMT_ELIAS */
    int use_bucket;   /* onebit: bucket from the header too */
    int fixed_size;   /* messages have one exact length for a given instance */
} fuzz_target;

/* The four decoder targets (shared with make_corpus.c so seeds match the targets). */
static const fuzz_target fuzz_fp32 __attribute__((unused)) = {"fp32", 0, QUANT_FMT_DENSE, 0, 1};
static const fuzz_target fuzz_qsgd_dense
    __attribute__((unused)) = {"qsgd", 1, QUANT_FMT_DENSE, 0, 1};
static const fuzz_target fuzz_qsgd_elias
    __attribute__((unused)) = {"qsgd", 1, QUANT_FMT_ELIAS, 0, 0};
static const fuzz_target fuzz_onebit __attribute__((unused)) = {"onebit", 0, QUANT_FMT_DENSE, 1, 1};

#include "fuzz_check.h"

/* A library call that must succeed; on failure print its message. */
#define FUZZ_OK(call)                                                                              \
    do {                                                                                           \
        int rc_ = (call);                                                                          \
        if (rc_ != QSGD_OK) {                                                                      \
            fprintf(stderr, "fuzz: %s:%d: %s returned %d: %s\n", __FILE__, __LINE__, #call, rc_,   \
                    err.msg);                                                                      \
            __builtin_trap();                                                                      \
        }                                                                                          \
    } while (0)

static uint64_t fuzz_le(const uint8_t *p, int k) {
    uint64_t v = 0;
    for (int i = k - 1; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* Build the instance a header describes; NULL if the parameters are rejected. */
static quant *fuzz_make(const fuzz_target *t, const uint8_t *h, size_t *n_out) {
    size_t n = (size_t)(fuzz_le(h + 1, 2) % (FUZZ_MAX_N + 1));
    size_t rows = fuzz_rows_table[(h[4] >> 2) & 7];
    if (n == 0)
        n = 1;
    if (rows > n)
        rows = 1;
    size_t cols = n / rows;
    n = rows * cols;
    quant_params p;
    memset(&p, 0, sizeof p);
    if (t->use_s) {
        p.s = fuzz_s_table[h[3] & 15];
        p.format = (quant_format)t->format;
        p.norm = (h[4] & 1) ? QUANT_NORM_MAX : QUANT_NORM_L2;
    }
    if (t->use_s || t->use_bucket)
        p.bucket = fuzz_bucket_table[(h[3] >> 4) % 5];
    p.no_feedback = (h[4] >> 1) & 1;
    qsgd_err err;
    quant *q = quant_alloc(t->name, &p, rows, cols, &err);
    if (!q) {
        /* a rejection must say so */
        FUZZ_CHECK(err.code == QSGD_EINVAL || err.code == QSGD_ENOMEM);
        FUZZ_CHECK(memchr(err.msg, 0, sizeof err.msg) != NULL);
        return NULL;
    }
    FUZZ_CHECK(q->n == n && q->rows == rows && q->cols == cols);
    *n_out = n;
    return q;
}

static int fuzz_same(float a, float b) {
    return a == b || (isnan(a) && isnan(b));
}

/* Exact length of a fixed-size format's message (encode of a zero vector). */
static uint64_t fuzz_fixed_bits(quant *q, size_t n) {
    float *z = calloc(n, sizeof *z);
    size_t cap = quant_max_bytes(q);
    uint8_t *buf = malloc(cap);
    quant_ctx ctx = {1, 0, 0, 0};
    uint64_t nbits = 0;
    qsgd_err err;
    FUZZ_CHECK(z && buf);
    FUZZ_OK(quant_encode(q, z, &ctx, buf, cap, &nbits, &err));
    quant_reset(q);
    free(buf);
    free(z);
    return nbits;
}

static void fuzz_decode(const fuzz_target *t, quant *q, size_t n, const uint8_t *h,
                        const uint8_t *data, size_t size) {
    uint64_t max_bits = quant_max_bits(q);
    uint64_t nbits;
    size_t len = size;
    switch ((h[0] >> 2) & 3) {
    case 0: /* the whole payload */
        nbits = (uint64_t)size * 8;
        break;
    case 1: /* a partial last byte */
        nbits = (uint64_t)size * 8;
        nbits = nbits >= (h[13] & 7u) ? nbits - (h[13] & 7u) : 0;
        break;
    case 2: /* anything up to 2^32, often beyond the buffer */
        nbits = fuzz_le(h + 5, 4);
        break;
    default: /* anything at all, and a buffer as long as nbits says (zero-padded) */
        nbits = fuzz_le(h + 5, 8);
        if (nbits <= max_bits + 64 && (nbits + 7) / 8 > size)
            len = (size_t)((nbits + 7) / 8);
        break;
    }
    uint8_t *buf = malloc(len ? len : 1); /* exactly len bytes: ASan sees any overread */
    FUZZ_CHECK(buf);
    memset(buf, 0, len);
    if (size)
        memcpy(buf, data, size < len ? size : len);
    float *out = malloc(n * sizeof *out);   /* [n] */
    float *out2 = malloc(n * sizeof *out2); /* [n] */
    FUZZ_CHECK(out && out2);
    memset(out, 0xA5, n * sizeof *out);
    memset(out2, 0x5A, n * sizeof *out2);

    qsgd_err err;
    memset(&err, 0, sizeof err);
    int rc = quant_decode(q, buf, len, nbits, out, &err);
    FUZZ_CHECK(rc == QSGD_OK || rc == QSGD_ECORRUPT);
    if (rc == QSGD_ECORRUPT) {
        FUZZ_CHECK(err.code == QSGD_ECORRUPT);
        FUZZ_CHECK(memchr(err.msg, 0, sizeof err.msg) != NULL);
        /* the reported offset lies within the message (or at the buffer's end) */
        FUZZ_CHECK(err.bit <= nbits || err.bit <= (uint64_t)len * 8);
    } else {
        FUZZ_CHECK(nbits <= (uint64_t)len * 8);
        FUZZ_CHECK(nbits <= max_bits);
        if (t->fixed_size)
            FUZZ_CHECK(nbits == fuzz_fixed_bits(q, n));
        /* deterministic, and every output written (the two prefills differ everywhere) */
        FUZZ_OK(quant_decode(q, buf, len, nbits, out2, &err));
        FUZZ_CHECK(memcmp(out, out2, n * sizeof *out) == 0);
    }
    free(out2);
    free(out);
    free(buf);
}

static void fuzz_roundtrip(quant *q, size_t n, const uint8_t *h, const uint8_t *data, size_t size) {
    float *v = calloc(n, sizeof *v);     /* [n] input */
    float *ref = calloc(n, sizeof *ref); /* [n] quantize() */
    float *out = calloc(n, sizeof *out); /* [n] decode(encode()) */
    float *res = calloc(n, sizeof *res); /* [n] residual after quantize() */
    FUZZ_CHECK(v && ref && out && res);
    if ((h[0] & 3) == 2) {
        for (size_t i = 0; i < n && 4 * i + 4 <= size; i++) {
            float x;
            memcpy(&x, data + 4 * i, 4);
            v[i] = isfinite(x) ? x : 0.0f;
        }
    } else {
        for (size_t i = 0; i < n && 2 * i + 2 <= size; i++)
            v[i] = (float)(int16_t)fuzz_le(data + 2 * i, 2) / 256.0f;
    }
    quant_ctx ctx = {fuzz_le(h + 5, 8), h[13] & 3, h[13], h[14]};
    int steps = q->type->stateful ? 2 : 1;
    size_t cap = quant_max_bytes(q);
    uint8_t *buf = malloc(cap);
    FUZZ_CHECK(buf);
    qsgd_err err;
    uint64_t nbits = 0;

    /* reference: quantize, steps times from a reset state. Raw floats may be rejected
     * (QSGD_EINVAL: a norm or input + residual that overflows float); encode must then
     * reject them at the same step. Int16 payloads (|v| <= 128) must always be accepted. */
    int raw = (h[0] & 3) == 2;
    int qrc = QSGD_OK, qstep = steps;
    quant_reset(q);
    for (int k = 0; k < steps; k++) {
        quant_ctx c = ctx;
        c.step += (uint32_t)k;
        if (raw) {
            qrc = quant_quantize(q, v, &c, ref, &err);
            FUZZ_CHECK(qrc == QSGD_OK || qrc == QSGD_EINVAL);
            if (qrc != QSGD_OK) {
                qstep = k;
                break;
            }
        } else {
            FUZZ_OK(quant_quantize(q, v, &c, ref, &err));
        }
    }
    const float *r = quant_residual(q);
    if (r)
        memcpy(res, r, n * sizeof *res);

    /* encode, steps times from a reset state, decode the last message */
    quant_reset(q);
    for (int k = 0; k < steps; k++) {
        quant_ctx c = ctx;
        c.step += (uint32_t)k;
        if (k == qstep) {
            int erc = quant_encode(q, v, &c, buf, cap, &nbits, &err);
            FUZZ_CHECK(erc == qrc);
            goto done;
        }
        FUZZ_OK(quant_encode(q, v, &c, buf, cap, &nbits, &err));
        FUZZ_CHECK(nbits <= quant_max_bits(q));
        FUZZ_CHECK((nbits + 7) / 8 <= cap);
    }
    r = quant_residual(q);
    if (r)
        for (size_t i = 0; i < n; i++)
            FUZZ_CHECK(fuzz_same(r[i], res[i]));
    FUZZ_OK(quant_decode(q, buf, (size_t)((nbits + 7) / 8), nbits, out, &err));
    for (size_t i = 0; i < n; i++) {
        if (!fuzz_same(out[i], ref[i])) {
            fprintf(stderr, "fuzz: round trip differs at %zu: decode %a, quantize %a (v %a)\n", i,
                    out[i], ref[i], v[i]);
            __builtin_trap();
        }
    }

    /* the scalar kernels (QSGDSIM_NO_SIMD=1) give the very same message, bit for bit */
    {
        quant_params p = q->params;
        setenv("QSGDSIM_NO_SIMD", "1", 1);
        quant *qs = quant_alloc(q->type->name, &p, q->rows, q->cols, &err);
        unsetenv("QSGDSIM_NO_SIMD");
        FUZZ_CHECK(qs != NULL);
        uint8_t *b2 = malloc(cap);
        uint64_t nbits2 = 0;
        FUZZ_CHECK(b2 && quant_max_bytes(qs) == cap);
        for (int k = 0; k < steps; k++) {
            quant_ctx c = ctx;
            c.step += (uint32_t)k;
            FUZZ_OK(quant_encode(qs, v, &c, b2, cap, &nbits2, &err));
        }
        FUZZ_CHECK(nbits2 == nbits);
        FUZZ_CHECK(memcmp(b2, buf, (size_t)((nbits + 7) / 8)) == 0);
        free(b2);
        quant_free(qs);
    }

    /* a smaller capacity: OK with the same message, or ENOSPC, never a write past cap */
    size_t small = (size_t)(fuzz_le(h + 14, 2) % (cap + 1));
    uint8_t *sbuf = malloc(small ? small : 1);
    FUZZ_CHECK(sbuf);
    uint64_t snbits = 0;
    quant_reset(q);
    int rc = QSGD_OK;
    for (int k = 0; k < steps && rc == QSGD_OK; k++) {
        quant_ctx c = ctx;
        c.step += (uint32_t)k;
        rc = quant_encode(q, v, &c, sbuf, small, &snbits, &err);
    }
    FUZZ_CHECK(rc == QSGD_OK || rc == QSGD_ENOSPC);
    if (rc == QSGD_OK) {
        FUZZ_CHECK(snbits == nbits);
        FUZZ_CHECK(memcmp(sbuf, buf, (size_t)((nbits + 7) / 8)) == 0);
    } else {
        FUZZ_CHECK(err.code == QSGD_ENOSPC);
    }
    free(sbuf);
done:
    quant_reset(q);
    free(buf);
    free(res);
    free(out);
    free(ref);
    free(v);
}

/* The body of LLVMFuzzerTestOneInput of every decoder target. */
__attribute__((unused)) static int fuzz_one(const fuzz_target *t, const uint8_t *data,
                                            size_t size) {
    if (size < FUZZ_HDR)
        return 0;
    const uint8_t *h = data;
    size_t n = 0;
    quant *q = fuzz_make(t, h, &n);
    if (!q)
        return 0;
    if ((h[0] & 3) < 2)
        fuzz_decode(t, q, n, h, data + FUZZ_HDR, size - FUZZ_HDR);
    else
        fuzz_roundtrip(q, n, h, data + FUZZ_HDR, size - FUZZ_HDR);
    quant_free(q);
    return 0;
}
