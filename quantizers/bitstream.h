/* bitstream.h — MSB-first bit writer and bounds-checked bit reader used by the encoders.
 * Writer: bits fill each byte from its most significant bit; the last byte is zero-padded.
 * Reader: never touches a byte at or beyond len, and fails (instead of reading) past nbits. */
#ifndef QSGDSIM_BITSTREAM_H
#define QSGDSIM_BITSTREAM_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct bitw {
    uint8_t *buf;
    size_t cap;    /* bytes available */
    size_t pos;    /* bytes emitted so far (may exceed cap: then overflow is set) */
    uint64_t acc;  /* pending bits, right-aligned */
    unsigned nacc; /* number of pending bits, < 32 between calls */
    int overflow;
} bitw;

static inline void bitw_init(bitw *w, uint8_t *buf, size_t cap) {
    w->buf = buf;
    w->cap = cap;
    w->pos = 0;
    w->acc = 0;
    w->nacc = 0;
    w->overflow = 0;
}

/* Append the low len bits of val, len <= 32, most significant first. */
static inline void bitw_put(bitw *w, uint32_t val, unsigned len) {
    w->acc = (w->acc << len) | (uint64_t)val;
    w->nacc += len;
    if (w->nacc >= 32) {
        w->nacc -= 32;
        uint32_t word = (uint32_t)(w->acc >> w->nacc);
        if (w->pos + 4 <= w->cap) {
            w->buf[w->pos + 0] = (uint8_t)(word >> 24);
            w->buf[w->pos + 1] = (uint8_t)(word >> 16);
            w->buf[w->pos + 2] = (uint8_t)(word >> 8);
            w->buf[w->pos + 3] = (uint8_t)word;
        } else {
            w->overflow = 1;
        }
        w->pos += 4;
    }
}

/* Append the low len bits of val, len <= 64. */
static inline void bitw_put64(bitw *w, uint64_t val, unsigned len) {
    if (len > 32) {
        bitw_put(w, (uint32_t)(val >> 32), len - 32);
        bitw_put(w, (uint32_t)val, 32);
    } else {
        bitw_put(w, (uint32_t)val, len);
    }
}

static inline uint64_t bitw_bits(const bitw *w) {
    return (uint64_t)w->pos * 8 + w->nacc;
}

/* Flush pending bits (zero-padded to a byte). Returns total bits written; check overflow. */
static inline uint64_t bitw_finish(bitw *w) {
    uint64_t total = bitw_bits(w);
    unsigned n = w->nacc;
    while (n > 0) {
        unsigned take = n >= 8 ? 8 : n;
        uint8_t byte = (uint8_t)(((w->acc >> (n - take)) & ((1u << take) - 1)) << (8 - take));
        if (w->pos < w->cap)
            w->buf[w->pos] = byte;
        else
            w->overflow = 1;
        w->pos++;
        n -= take;
    }
    w->nacc = 0;
    return total;
}

typedef struct bitr {
    const uint8_t *buf;
    size_t len;     /* bytes in buf */
    uint64_t nbits; /* meaningful bits, <= 8*len */
    uint64_t pos;   /* next bit to read */
} bitr;

static inline void bitr_init(bitr *r, const uint8_t *buf, size_t len, uint64_t nbits) {
    r->buf = buf;
    r->len = len;
    r->nbits = nbits;
    r->pos = 0;
}

static inline uint64_t bitr_left(const bitr *r) {
    return r->nbits - r->pos;
}

/* 64 bits starting at byte b (zero past len). */
static inline uint64_t bitr_load64(const bitr *r, size_t b) {
    uint64_t v = 0;
    if (b + 8 <= r->len) {
        memcpy(&v, r->buf + b, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        v = __builtin_bswap64(v);
#endif
    } else {
        for (int k = 0; k < 8; k++)
            v = (v << 8) | (b + k < r->len ? r->buf[b + k] : 0);
    }
    return v;
}

/* Read len bits (1..32) into *val. Returns 0, or -1 (nothing consumed) past nbits. */
static inline int bitr_get(bitr *r, unsigned len, uint32_t *val) {
    if (len > r->nbits - r->pos)
        return -1;
    uint64_t w = bitr_load64(r, (size_t)(r->pos >> 3));
    w <<= (r->pos & 7);
    *val = (uint32_t)(w >> (64 - len));
    r->pos += len;
    return 0;
}
#endif
