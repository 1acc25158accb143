/* quant_qsgd.c — the QSGD stochastic quantizer (Alistarh et al., NIPS 2017, §3.1 and §4)
 * with buckets, l2 or max norm, and two wire formats:
 *
 *   dense: [scale_0 .. scale_{B-1}: 32-bit floats][code_0 .. code_{n-1}: w bits each]
 *          code = sign << (w-1) | level, w = 1 + bitlen(s); scale = bucket norm.
 *   elias: per bucket, the paper's sparse code: [norm: 32-bit float]
 *          Elias(p_1) then, per nonzero j, [sign: 1 bit][Elias(level_j)][Elias(p_{j+1} - p_j)]
 *          where p_j are 1-based positions of the nonzeros in the bucket and the last gap
 *          points at position d+1 (the end of the bucket), so an all-zero bucket is
 *          [norm][Elias(d+1)].
 * Floats are IEEE-754 bits, MSB first. Decoded value: sign * level * (norm / s).
 *
 * All levels come from one chunked driver (qsgd_run), so quantize, dense and elias produce
 * identical values for the same context. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "bitstream.h"
#include "elias.h"
#include "qrng.h"
#include "qsgd_kernels.h"
#include "qsgd_opt.h"
#include "quant.h"
#include "theory.h"

#define CHUNK 1024 /* coordinates per inner pass; a multiple of QRNG_GROUP */
#define QSGD_MAX_S 32767u

typedef struct qsgd_impl {
    size_t nbuckets;
    unsigned w; /* dense code width: 1 + bitlen(s) */
    int simd;
    float *norms;    /* [nbuckets] */
    uint32_t *rnd;   /* [CHUNK] */
    uint16_t *codes; /* [CHUNK + 64]: the Elias encoder reads 64 at a time past a segment */
} qsgd_impl;

static unsigned bitlen(uint32_t x) {
    return x ? 32u - (unsigned)__builtin_clz(x) : 0u;
}

static int qsgd_init(quant *q, qsgd_err *err) {
    quant_params *p = &q->params;
    if (p->s == 0) {
        if (p->bits == 0)
            return QSGD_FAIL_BIT(err, QSGD_EINVAL, 0,
                                 "qsgd: give the number of levels s (1..%u) or bits (2..16)",
                                 QSGD_MAX_S);
        if (p->bits < 2 || p->bits > 16)
            return QSGD_FAIL_BIT(err, QSGD_EINVAL, 0,
                                 "qsgd: bits=%u out of range 2..16 (bits=b means s = 2^(b-1)-1)",
                                 p->bits);
        p->s = (1u << (p->bits - 1)) - 1;
    }
    if (p->s < 1 || p->s > QSGD_MAX_S)
        return QSGD_FAIL_BIT(err, QSGD_EINVAL, 0, "qsgd: s=%u out of range 1..%u", p->s,
                             QSGD_MAX_S);
    if (p->norm != QUANT_NORM_L2 && p->norm != QUANT_NORM_MAX)
        return QSGD_FAIL_BIT(err, QSGD_EINVAL, 0, "qsgd: bad norm %d", (int)p->norm);
    if (p->format != QUANT_FMT_DENSE && p->format != QUANT_FMT_ELIAS)
        return QSGD_FAIL_BIT(err, QSGD_EINVAL, 0, "qsgd: bad format %d", (int)p->format);
    if (p->bucket == 0 || p->bucket > q->n)
        p->bucket = q->n;
    p->bits = 1 + bitlen(p->s);

    qsgd_impl *im = calloc(1, sizeof *im);
    if (!im)
        return QSGD_FAIL_BIT(err, QSGD_ENOMEM, 0, "qsgd: out of memory");
    im->nbuckets = (q->n + p->bucket - 1) / p->bucket;
    im->w = p->bits;
    im->simd = qrng_simd_available();
    im->norms = malloc(im->nbuckets * sizeof *im->norms);
    im->rnd = malloc(CHUNK * sizeof *im->rnd);
    im->codes = calloc(CHUNK + 64, sizeof *im->codes);
    if (!im->norms || !im->rnd || !im->codes) {
        free(im->norms);
        free(im->rnd);
        free(im->codes);
        free(im);
        return QSGD_FAIL_BIT(err, QSGD_ENOMEM, 0, "qsgd: out of memory (%zu buckets)",
                             (size_t)((q->n + p->bucket - 1) / p->bucket));
    }
    q->impl = im;
    return QSGD_OK;
}

static void qsgd_fini(quant *q) {
    qsgd_impl *im = q->impl;
    if (!im)
        return;
    free(im->norms);
    free(im->rnd);
    free(im->codes);
    free(im);
}

static uint64_t qsgd_max_bits(const quant *q) {
    const qsgd_impl *im = q->impl;
    if (q->params.format == QUANT_FMT_DENSE)
        return 32ull * im->nbuckets + (uint64_t)q->n * im->w;
    /* Elias: the all-nonzero bucket is the longest (a gap of g >= 2 codes in fewer bits than
     * the g-1 extra nonzeros it replaces): 32 + (d+1) one-bit gaps + d (1 + |Elias(s)|). */
    unsigned ls;
    (void)elias_omega_code(q->params.s, &ls);
    uint64_t d = q->params.bucket;
    return (uint64_t)im->nbuckets * (32 + (d + 1) + d * (1 + ls));
}

static float get_float_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* The Elias encoder's bit writer: the message bitw_* would write, byte for byte, including
 * what lands in a too-small buffer (whole 4-byte words while they fit, then the last bytes),
 * but with 64 pending bits instead of 32: one big-endian 8-byte store per 64 bits, and a
 * flush test that fails once per word rather than once per 32 bits. Kept in locals by the
 * chunk loop (bitw's fields, reached through a pointer in one large function, lived on the
 * stack). */
typedef struct ewriter {
    uint8_t *buf;
    size_t cap, pos; /* bytes emitted so far (may exceed cap: then overflow is set) */
    uint64_t acc;    /* pending bits, the low nacc of them (bits above are stale) */
    unsigned nacc;   /* < 64 */
    int overflow;
} ewriter;

static void ew_store32(ewriter *e, uint32_t word) {
    if (e->pos + 4 <= e->cap) {
        e->buf[e->pos + 0] = (uint8_t)(word >> 24);
        e->buf[e->pos + 1] = (uint8_t)(word >> 16);
        e->buf[e->pos + 2] = (uint8_t)(word >> 8);
        e->buf[e->pos + 3] = (uint8_t)word;
    } else {
        e->overflow = 1;
    }
    e->pos += 4;
}

static inline void ew_store64(ewriter *e, uint64_t word) {
    if (e->pos + 8 <= e->cap) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        word = __builtin_bswap64(word);
        memcpy(e->buf + e->pos, &word, 8);
#else
        for (int k = 0; k < 8; k++)
            e->buf[e->pos + (size_t)k] = (uint8_t)(word >> (56 - 8 * k));
#endif
        e->pos += 8;
    } else {
        ew_store32(e, (uint32_t)(word >> 32));
        ew_store32(e, (uint32_t)word);
    }
}

/* Append the low len bits of code (1 <= len <= 32; no bits above them). */
static inline void ew_put(ewriter *e, uint64_t code, unsigned len) {
    unsigned room = 64 - e->nacc;
    if (len < room) {
        e->acc = e->acc << len | code;
        e->nacc += len;
    } else { /* 1 <= room <= len: the word fills; acc keeps code, its top bits now stale */
        ew_store64(e, e->acc << room | code >> (len - room));
        e->acc = code;
        e->nacc = len - room;
    }
}

static inline void ew_put64(ewriter *e, uint64_t code, unsigned len) {
    if (len > 32) {
        ew_put(e, code >> 32, len - 32);
        ew_put(e, (uint32_t)code, 32);
    } else {
        ew_put(e, code, len);
    }
}

/* Flush the pending bits as bitw_finish would (a whole 4-byte word first when 32 are
 * pending, then bytes, zero-padded). Returns the message's length in bits. */
static uint64_t ew_finish(ewriter *e) {
    uint64_t total = (uint64_t)e->pos * 8 + e->nacc;
    unsigned nb = e->nacc;
    if (nb >= 32) {
        nb -= 32;
        ew_store32(e, (uint32_t)(e->acc >> nb));
    }
    while (nb > 0) {
        unsigned take = nb >= 8 ? 8 : nb;
        uint8_t byte = (uint8_t)(((e->acc >> (nb - take)) & ((1u << take) - 1)) << (8 - take));
        if (e->pos < e->cap)
            e->buf[e->pos] = byte;
        else
            e->overflow = 1;
        e->pos++;
        nb -= take;
    }
    e->nacc = 0;
    return total;
}

/* Bit j set where p[j] != 0, j < 64 (reads all 64 entries; the caller masks). */
static inline uint64_t nonzero_mask64(const uint16_t *p) {
#if defined(__SSE2__)
    const __m128i zero = _mm_setzero_si128();
    uint64_t m = 0;
    for (int q = 0; q < 4; q++) {
        __m128i a = _mm_loadu_si128((const __m128i *)(p + 16 * q));
        __m128i b = _mm_loadu_si128((const __m128i *)(p + 16 * q + 8));
        __m128i z = _mm_packs_epi16(_mm_cmpeq_epi16(a, zero), _mm_cmpeq_epi16(b, zero));
        m |= (uint64_t)(uint16_t)~_mm_movemask_epi8(z) << (16 * q);
    }
    return m;
#else
    uint64_t m = 0;
    for (int j = 0; j < 64; j++)
        m |= (uint64_t)(p[j] != 0) << j;
    return m;
#endif
}

/* The Elias output of one chunk's codes (coordinates c0 .. c0+clen): per bucket [norm] then,
 * per nonzero, [Elias(gap)][sign][Elias(level)], and [Elias(gap to d+1)] at a bucket's end.
 * The nonzeros are found 64 codes at a time from a bit mask (a branch per nonzero, none per
 * zero); a gap and a level below 256 (nearly all of them in the dense regimes) are one
 * write of at most 29 bits from elias_omega_small. *prev: 1-based position of the current
 * bucket's last nonzero, carried across chunks. */
static void elias_chunk(ewriter *ewp, const uint16_t *codes, size_t c0, size_t clen, size_t n,
                        size_t d, unsigned w, const float *norms, size_t *prevp) {
    ewriter e = *ewp;
    size_t prev = *prevp;
    const uint32_t lmask = (1u << (w - 1)) - 1;
    for (size_t i = c0; i < c0 + clen;) {
        size_t b = i / d, b0 = b * d, bend = b0 + d < n ? b0 + d : n;
        size_t end = bend < c0 + clen ? bend : c0 + clen;
        if (i == b0) {
            uint32_t u;
            memcpy(&u, &norms[b], 4);
            ew_put(&e, u, 32);
            prev = 0;
        }
        for (size_t k = i; k < end; k += 64) {
            uint64_t m = nonzero_mask64(codes + (k - c0));
            if (end - k < 64)
                m &= ((uint64_t)1 << (end - k)) - 1;
            while (m) {
                size_t j = k + (size_t)__builtin_ctzll(m);
                m &= m - 1;
                size_t pos = j - b0 + 1, gap = pos - prev;
                uint32_t c = codes[j - c0], level = c & lmask, neg = c >> (w - 1);
                prev = pos;
                if (gap < 256 && level < 256) {
                    uint32_t eg = elias_omega_small[gap], el = elias_omega_small[level];
                    unsigned ll = el >> 24;
                    uint64_t code = (uint64_t)(eg & 0xFFFFFFu) << (ll + 1) | (uint64_t)neg << ll |
                                    (el & 0xFFFFFFu);
                    ew_put(&e, code, (eg >> 24) + ll + 1);
                } else {
                    unsigned lg, ll;
                    uint64_t gc = elias_omega_code(gap, &lg);
                    uint64_t lc = elias_omega_code(level, &ll);
                    ew_put64(&e, gc, lg);
                    ew_put64(&e, (uint64_t)neg << ll | lc, ll + 1);
                }
            }
        }
        if (end == bend) {
            unsigned lg;
            uint64_t gc = elias_omega_code(bend - b0 + 1 - prev, &lg);
            ew_put64(&e, gc, lg);
        }
        i = end;
    }
    *ewp = e;
    *prevp = prev;
}

enum qsgd_mode { MODE_VALUES, MODE_DENSE, MODE_ELIAS };

/* norms[b] of bucket b, or EINVAL naming the first non-finite value (or the bucket whose
 * norm overflows float). */
static int bucket_norm(quant *q, const float *v, size_t b, qsgd_err *err) {
    qsgd_impl *im = q->impl;
    const size_t n = q->n, d = q->params.bucket;
    size_t b0 = b * d, len = (b0 + d <= n) ? d : n - b0;
    return qsgd_bucket_norm("qsgd", q->params.norm == QUANT_NORM_MAX, v + b0, len, b0, b,
                            &im->norms[b], err);
}

/* The one driver: chunk by chunk, the norms of the buckets reached, random words -> levels ->
 * output. */
static int qsgd_run(quant *q, const float *v, const quant_ctx *ctx, enum qsgd_mode mode, float *out,
                    uint8_t *buf, size_t cap, uint64_t *nbits, qsgd_err *err) {
    qsgd_impl *im = q->impl;
    const quant_params *p = &q->params;
    const size_t n = q->n, d = p->bucket, nb = im->nbuckets;
    const uint32_t s = p->s;
    const unsigned w = im->w;
    const uint32_t lmask = (1u << (w - 1)) - 1;

    /* The bucket norms are computed as the chunks reach their buckets (bucket_norm), so a
     * bucket's values are read from memory once, for its norm, and are still in cache for
     * its levels (with all norms first, the level pass read a 64 MiB input again from
     * DRAM: 4-6% of a dense 4-bit encode at 2^24 and at 2^20, measured). The errors and
     * their order stay those of computing every norm first: the first bucket with a
     * non-finite value or norm fails, before a too-small buffer (ENOSPC) is reported; a
     * rejected input may now leave partial output in buf or out. */
    size_t nnorm = 0; /* buckets 0 .. nnorm-1 have their norm */
    ewriter ew = {0};
    uint64_t total = 32ull * nb + (uint64_t)n * w;
    if (mode == MODE_DENSE && (total + 7) / 8 > cap) {
        for (; nnorm < nb; nnorm++) {
            int rc = bucket_norm(q, v, nnorm, err);
            if (rc)
                return rc;
        }
        return QSGD_FAIL_BIT(err, QSGD_ENOSPC, 0, "qsgd: buffer of %zu bytes, need %llu", cap,
                             (unsigned long long)((total + 7) / 8));
    }
    if (mode == MODE_ELIAS) {
        ew.buf = buf;
        ew.cap = cap;
    }

    qrng_stream st = qrng_make(ctx->seed, ctx->worker, ctx->step, ctx->tensor);
    const int prefetch = n > (8u << 20) / sizeof *v; /* see the chunk loop */
    size_t prev = 0; /* elias: 1-based position of the last nonzero in the current bucket */
    for (size_t c0 = 0; c0 < n; c0 += CHUNK) {
        size_t clen = n - c0 < CHUNK ? n - c0 : CHUNK;
        /* the next chunk's lines, asked for (into L2) while this one is coded: a 64 MiB
         * input is not in cache, and the hardware prefetchers alone left the norm and level
         * passes waiting on it (dense 4-bit d=512 at 2^24: +25-35%); at 2^20 (4 MiB) the
         * prefetches cost 3-5%, hence only past 8 MiB */
        for (size_t o = c0 + CHUNK; prefetch && o < c0 + 2 * CHUNK && o < n; o += 16)
            __builtin_prefetch(v + o, 0, 2);
        for (; nnorm <= (c0 + clen - 1) / d; nnorm++) {
            int rc = bucket_norm(q, v, nnorm, err);
            if (rc)
                return rc;
            if (mode == MODE_DENSE) {
                uint32_t u;
                memcpy(&u, &im->norms[nnorm], 4);
                buf[4 * nnorm + 0] = (uint8_t)(u >> 24);
                buf[4 * nnorm + 1] = (uint8_t)(u >> 16);
                buf[4 * nnorm + 2] = (uint8_t)(u >> 8);
                buf[4 * nnorm + 3] = (uint8_t)u;
            }
        }
        qrng_fill_groups(&st, c0 / QRNG_GROUP, (clen + QRNG_GROUP - 1) / QRNG_GROUP, im->rnd,
                         im->simd);
        /* levels, one bucket segment at a time */
        for (size_t i = c0; i < c0 + clen;) {
            size_t b = i / d, bend = (b + 1) * d < n ? (b + 1) * d : n;
            size_t end = bend < c0 + clen ? bend : c0 + clen;
            float norm = im->norms[b];
            if (norm > 0.0f) {
                float scale = (float)s / norm;
                if (isfinite(scale)) {
                    qsgd_levels(v + i, im->rnd + (i - c0), end - i, scale, s, w,
                                im->codes + (i - c0), im->simd);
                } else { /* norm is subnormal: s/norm overflows; scale in double */
                    for (size_t k = i; k < end; k++) {
                        double x = fabs((double)v[k]) * s / norm;
                        double fl = floor(x);
                        uint32_t level = (uint32_t)fl + (qrng_uniform(im->rnd[k - c0]) < x - fl);
                        if (level > s)
                            level = s;
                        im->codes[k - c0] =
                            (uint16_t)(level | ((v[k] < 0 && level) ? 1u << (w - 1) : 0u));
                    }
                }
            } else {
                memset(im->codes + (i - c0), 0, (end - i) * sizeof *im->codes);
            }
            i = end;
        }
        /* output */
        if (mode == MODE_DENSE) {
            qsgd_pack(im->codes, clen, w, buf + 4 * nb + c0 * w / 8);
        } else if (mode == MODE_VALUES) {
            for (size_t i = c0; i < c0 + clen;) {
                size_t b = i / d, bend = (b + 1) * d < n ? (b + 1) * d : n;
                size_t end = bend < c0 + clen ? bend : c0 + clen;
                float unit = im->norms[b] / (float)s;
                for (size_t k = i; k < end; k++) {
                    uint16_t c = im->codes[k - c0];
                    float val = (float)(c & lmask) * unit;
                    out[k] = (c >> (w - 1)) ? -val : val;
                }
                i = end;
            }
        } else { /* MODE_ELIAS */
            elias_chunk(&ew, im->codes, c0, clen, n, d, w, im->norms, &prev);
            if (ew.overflow)
                break;
        }
    }
    if (mode == MODE_DENSE)
        *nbits = total;
    if (mode == MODE_ELIAS) {
        total = ew_finish(&ew);
        for (; ew.overflow && nnorm < nb; nnorm++) { /* the coding stopped early */
            int rc = bucket_norm(q, v, nnorm, err);
            if (rc)
                return rc;
        }
        if (ew.overflow)
            return QSGD_FAIL_BIT(
                err, QSGD_ENOSPC, 0,
                "qsgd: buffer of %zu bytes too small for the elias message (max %llu bits)", cap,
                (unsigned long long)qsgd_max_bits(q));
        *nbits = total;
    }
    return QSGD_OK;
}

static int qsgd_quantize(quant *q, const float *v, const quant_ctx *ctx, float *out,
                         qsgd_err *err) {
    return qsgd_run(q, v, ctx, MODE_VALUES, out, NULL, 0, NULL, err);
}

static int qsgd_encode(quant *q, const float *v, const quant_ctx *ctx, uint8_t *buf, size_t cap,
                       uint64_t *nbits, qsgd_err *err) {
    return qsgd_run(q, v, ctx, q->params.format == QUANT_FMT_ELIAS ? MODE_ELIAS : MODE_DENSE, NULL,
                    buf, cap, nbits, err);
}

static int check_norm(float norm, size_t b, uint64_t bit, qsgd_err *err) {
    if (!(norm >= 0.0f) || !isfinite(norm))
        return QSGD_FAIL_BIT(err, QSGD_ECORRUPT, bit,
                             "qsgd: bucket %zu has invalid norm %g at bit %llu", b, (double)norm,
                             (unsigned long long)bit);
    return QSGD_OK;
}

static int decode_dense(const quant *q, const uint8_t *buf, size_t len, uint64_t nbits, float *out,
                        qsgd_err *err) {
    const qsgd_impl *im = q->impl;
    const size_t n = q->n, d = q->params.bucket, nb = im->nbuckets;
    const uint32_t s = q->params.s;
    const unsigned w = im->w;
    const uint32_t lmask = (1u << (w - 1)) - 1;
    uint64_t want = 32ull * nb + (uint64_t)n * w;
    if (nbits != want)
        return QSGD_FAIL_BIT(err, QSGD_ECORRUPT, nbits < want ? nbits : want,
                             "qsgd dense: message of %llu bits, expected exactly %llu (%s)",
                             (unsigned long long)nbits, (unsigned long long)want,
                             nbits < want ? "truncated" : "trailing bits");
    uint16_t codes[CHUNK];
    for (size_t b = 0; b < nb; b++) {
        size_t b0 = b * d, bend = b0 + d < n ? b0 + d : n;
        uint32_t u = (uint32_t)buf[4 * b] << 24 | (uint32_t)buf[4 * b + 1] << 16 |
                     (uint32_t)buf[4 * b + 2] << 8 | buf[4 * b + 3];
        float norm = get_float_bits(u);
        int rc = check_norm(norm, b, 32ull * b, err);
        if (rc)
            return rc;
        float unit = norm / (float)s;
        for (size_t i = b0; i < bend; i += CHUNK) {
            size_t clen = bend - i < CHUNK ? bend - i : CHUNK;
            uint64_t bit0 = 32ull * nb + (uint64_t)i * w;
            qsgd_unpack(buf, len, bit0, clen, w, codes);
            uint32_t bad = 0;
            for (size_t k = 0; k < clen; k++) {
                uint32_t c = codes[k], level = c & lmask, neg = c >> (w - 1);
                bad |= (level > s) | (neg & (level == 0));
                float val = (float)level * unit;
                out[i + k] = neg ? -val : val;
            }
            if (bad) {
                for (size_t k = 0; k < clen; k++) {
                    uint32_t c = codes[k], level = c & lmask;
                    if (level > s || ((c >> (w - 1)) && level == 0))
                        return QSGD_FAIL_BIT(
                            err, QSGD_ECORRUPT, bit0 + k * w,
                            "qsgd dense: coordinate %zu has invalid code %u (s=%u) at bit %llu",
                            i + k, c, s, (unsigned long long)(bit0 + k * w));
                }
            }
        }
    }
    return QSGD_OK;
}

/* neg ? -val : val without a branch (the sign is a coin flip): the same bits, as negation
 * only flips the sign bit. */
static inline float signed_val(float val, uint32_t neg) {
    uint32_t u;
    memcpy(&u, &val, 4);
    u ^= neg << 31;
    memcpy(&val, &u, 4);
    return val;
}

static int decode_elias(const quant *q, const uint8_t *buf, size_t len, uint64_t nbits, float *out,
                        qsgd_err *err) {
    const qsgd_impl *im = q->impl;
    const size_t n = q->n, d = q->params.bucket, nb = im->nbuckets;
    const uint32_t s = q->params.s;
    bitr r;
    bitr_init(&r, buf, len, nbits);
    memset(out, 0, n * sizeof *out);
    for (size_t b = 0; b < nb; b++) {
        size_t b0 = b * d, blen = b0 + d < n ? d : n - b0;
        uint32_t u;
        uint64_t at = r.pos;
        if (bitr_get(&r, 32, &u))
            return QSGD_FAIL_BIT(err, QSGD_ECORRUPT, at,
                                 "qsgd elias: truncated in the norm of bucket %zu at bit %llu", b,
                                 (unsigned long long)at);
        float norm = get_float_bits(u);
        int rc = check_norm(norm, b, at, err);
        if (rc)
            return rc;
        float unit = norm / (float)s;
        size_t pos = 0;
        for (;;) {
            uint64_t gap, level;
            if (r.nbits - r.pos >= 64) {
                /* fast path: nonzeros whose gap and level codes are at most 12 bits each are
                 * decoded from one 64-bit window (57 valid bits, up to 25 bits a nonzero);
                 * the first code it cannot take goes to the general path below, which
                 * re-reads from r.pos (the window only consumes what it decoded) */
                uint64_t w = bitr_load64(&r, (size_t)(r.pos >> 3)) << (r.pos & 7);
                unsigned used = 0;
                int end = 0;
                while (used <= 57 - 12) {
                    uint64_t x = w << used;
                    /* gap, sign and level in one lookup when all three fit in 12 bits (the
                     * common case in the dense regimes; halves the dependent loads per
                     * nonzero); the gap must stop short of the bucket's end marker */
                    uint32_t p = elias_omega_pair12[x >> 52];
                    if (p && (p & 15) <= blen - pos && (p >> 4 & 15) <= s) {
                        pos += p & 15;
                        used += p >> 12;
                        out[b0 + pos - 1] = signed_val((float)(p >> 4 & 15) * unit, p >> 8 & 1);
                        continue;
                    }
                    if (used > 57 - 25)
                        break;
                    uint32_t e1 = elias_omega_dec12[x >> 52];
                    if (!e1 || (e1 & 0xFF) > blen + 1 - pos)
                        break;
                    unsigned l1 = e1 >> 8;
                    if (pos + (e1 & 0xFF) == blen + 1) {
                        used += l1;
                        end = 1;
                        break;
                    }
                    uint32_t e2 = elias_omega_dec12[(x << (l1 + 1)) >> 52];
                    if (!e2 || (e2 & 0xFF) > s)
                        break;
                    unsigned neg = (unsigned)(x >> (63 - l1)) & 1u;
                    pos += e1 & 0xFF;
                    used += l1 + 1 + (e2 >> 8);
                    out[b0 + pos - 1] = signed_val((float)(e2 & 0xFF) * unit, neg);
                }
                r.pos += used;
                if (end)
                    break;
                if (used)
                    continue;
            }
            at = r.pos;
            int e = elias_omega_get(&r, blen + 1 - pos, &gap);
            if (e == ELIAS_TRUNCATED)
                return QSGD_FAIL_BIT(
                    err, QSGD_ECORRUPT, at,
                    "qsgd elias: truncated in a position gap of bucket %zu at bit %llu", b,
                    (unsigned long long)at);
            if (e == ELIAS_TOO_LARGE)
                return QSGD_FAIL_BIT(
                    err, QSGD_ECORRUPT, at,
                    "qsgd elias: position gap past the end of bucket %zu (size %zu) at bit %llu", b,
                    blen, (unsigned long long)at);
            pos += gap;
            if (pos == blen + 1)
                break;
            uint32_t neg;
            at = r.pos;
            if (bitr_get(&r, 1, &neg))
                return QSGD_FAIL_BIT(err, QSGD_ECORRUPT, at,
                                     "qsgd elias: truncated in a sign of bucket %zu at bit %llu", b,
                                     (unsigned long long)at);
            at = r.pos;
            e = elias_omega_get(&r, s, &level);
            if (e != ELIAS_OK)
                return QSGD_FAIL_BIT(err, QSGD_ECORRUPT, at,
                                     "qsgd elias: %s level in bucket %zu at bit %llu (s=%u)",
                                     e == ELIAS_TRUNCATED ? "truncated" : "out-of-range", b,
                                     (unsigned long long)at, s);
            out[b0 + pos - 1] = signed_val((float)level * unit, neg);
        }
    }
    if (r.pos != nbits)
        return QSGD_FAIL_BIT(err, QSGD_ECORRUPT, r.pos,
                             "qsgd elias: %llu trailing bits after the last bucket at bit %llu",
                             (unsigned long long)(nbits - r.pos), (unsigned long long)r.pos);
    return QSGD_OK;
}

static int qsgd_decode(const quant *q, const uint8_t *buf, size_t len, uint64_t nbits, float *out,
                       qsgd_err *err) {
    return q->params.format == QUANT_FMT_ELIAS ? decode_elias(q, buf, len, nbits, out, err)
                                               : decode_dense(q, buf, len, nbits, out, err);
}

/* The options, in the order quant_describe prints them (bits, a shorthand, is not). */
enum { OPT_S, OPT_BITS, OPT_BUCKET, OPT_NORM, OPT_FORMAT };
static const qsgd_opt_choice norm_choices[] = {
    {"l2", QUANT_NORM_L2}, {"max", QUANT_NORM_MAX}, {"inf", QUANT_NORM_MAX}, {NULL, 0}};
static const qsgd_opt_choice format_choices[] = {
    {"dense", QUANT_FMT_DENSE}, {"elias", QUANT_FMT_ELIAS}, {NULL, 0}};
static const qsgd_opt qsgd_opts[] = {
    [OPT_S] = {.name = "s",
               .aliases = "levels",
               .kind = QSGD_OPT_UINT,
               .offset = offsetof(quant_params, s),
               .max = 1u << 30,
               .def = "0",
               .meta = "LEVELS",
               .help = "levels in [0, 1] (1..32767); 0 = derive from bits"},
    [OPT_BITS] = {.name = "bits",
                  .aliases = "b",
                  .kind = QSGD_OPT_UINT,
                  .offset = offsetof(quant_params, bits),
                  .max = 64,
                  .def = "0",
                  .meta = "B",
                  .help = "shorthand for s = 2^(B-1)-1 (2..16); s wins when both are given",
                  .flags = QSGD_OPT_HIDDEN},
    [OPT_BUCKET] = {.name = "bucket",
                    .aliases = "d",
                    .kind = QSGD_OPT_SIZE,
                    .offset = offsetof(quant_params, bucket),
                    .max = SIZE_MAX,
                    .def = "0",
                    .meta = "D",
                    .help = "bucket size d (0 = the whole tensor)"},
    [OPT_NORM] = {.name = "norm",
                  .kind = QSGD_OPT_ENUM,
                  .offset = offsetof(quant_params, norm),
                  .choices = norm_choices,
                  .def = "l2",
                  .help = "bucket scale: l2 (the paper) or max (QSGDinf)"},
    [OPT_FORMAT] = {.name = "format",
                    .kind = QSGD_OPT_ENUM,
                    .offset = offsetof(quant_params, format),
                    .choices = format_choices,
                    .def = "dense",
                    .help = "wire format: dense (fixed width) or elias (the paper's sparse code)"},
    {.name = NULL},
};
_Static_assert(sizeof(quant_norm) == sizeof(int) && sizeof(quant_format) == sizeof(int),
               "enum options are stored as int");

static int qsgd_variable_length(const quant_params *p) {
    return p->format == QUANT_FMT_ELIAS;
}

/* "QSGD 4-bit" (or "QSGD s=7", "QSGD"), then " Elias", " max-norm" and, at level 1, " d=512"
 * for the options given. */
static int qsgd_label(const quant_spec *sp, int level, char *out, size_t len) {
    const quant_params *p = &sp->params;
    int w;
    if (sp->given >> OPT_S & 1)
        w = snprintf(out, len, "QSGD s=%u", p->s);
    else if (sp->given >> OPT_BITS & 1)
        w = snprintf(out, len, "QSGD %u-bit", p->bits);
    else
        w = snprintf(out, len, "QSGD");
    size_t l = w < 0 ? 0 : (size_t)w;
    if (p->format == QUANT_FMT_ELIAS)
        l += (size_t)snprintf(out + l, l < len ? len - l : 0, " Elias");
    if (p->norm == QUANT_NORM_MAX)
        l += (size_t)snprintf(out + l, l < len ? len - l : 0, " max-norm");
    if (level >= 1 && (sp->given >> OPT_BUCKET & 1))
        l += (size_t)snprintf(out + l, l < len ? len - l : 0, " d=%zu", p->bucket);
    return l < len ? 0 : -1;
}

/* Claims checked by `qsgdsim stats`: unbiased (Lemma 3.1 i) for either norm; Lemma 3.1 ii per
 * bucket, min(d/s^2, sqrt(d)/s) with d the bucket size (increasing in d: the last, shorter
 * bucket is covered; its proof holds for norm=max since max|v_i| <= ||v||_2); format=elias
 * with the l2 norm and s >= 2: Theorem 3.2 (o(1) = 0) summed over the buckets. */
static int qsgd_unbiased(const quant_params *p) {
    (void)p;
    return 1;
}

static double qsgd_variance_bound(const quant *q) {
    return theory_variance_bound((double)q->params.bucket, (double)q->params.s);
}

static double qsgd_bits_bound(const quant *q) {
    const quant_params *p = &q->params;
    if (p->format != QUANT_FMT_ELIAS || p->norm != QUANT_NORM_L2 || p->s < 2)
        return NAN;
    size_t d = p->bucket, nb = (q->n + d - 1) / d, last = q->n - (nb - 1) * d;
    return (double)(nb - 1) * theory_elias_bits_bound((double)d, p->s) +
           theory_elias_bits_bound((double)last, p->s);
}

const quant_type quant_type_qsgd = {
    .name = "qsgd",
    .summary = "QSGD stochastic quantization: s levels per bucket, l2/max norm, dense or Elias "
               "wire format",
    .opts = qsgd_opts,
    .stateful = 0,
    .lossless = 0,
    .variable_length = qsgd_variable_length,
    .label = qsgd_label,
    .init = qsgd_init,
    .fini = qsgd_fini,
    .max_bits = qsgd_max_bits,
    .quantize = qsgd_quantize,
    .encode = qsgd_encode,
    .decode = qsgd_decode,
    .unbiased = qsgd_unbiased,
    .variance_bound = qsgd_variance_bound,
    .bits_bound = qsgd_bits_bound,
    .gpu_codec = QUANT_GPU_QSGD, /* format=dense; elias is variable-length (CPU only) */
};
