/* elias.h — Elias' recursive (omega) code, the integer code of the QSGD sparse format.
 * omega(1) = "0"; for k > 1 the code is binary(k) preceded by omega-style codes of
 * (bit length - 1) down to 1, terminated by a 0 bit: 2 -> 10 0, 3 -> 11 0, 4 -> 10 100 0,
 * 16 -> 10 100 10000 0. |omega(k)| <= log2 k + 2 log2 log2 k + O(1). */
#ifndef QSGDSIM_ELIAS_H
#define QSGDSIM_ELIAS_H

#include <stddef.h>
#include <stdint.h>

#include "bitstream.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ELIAS_MAX ((uint64_t)0xFFFFFFFFu) /* largest value this module encodes */

/* Codes of 1..255: length << 24 | code (entry 0 unused). Generated from the definition
 * (elias_omega_code's loop) and checked against it by tests/test_quant_elias.c. */
extern const uint32_t elias_omega_small[256];
/* Decoding of codes of at most 8 bits (values 1..15) by their first 8 bits:
 * length << 8 | value, or 0 when the code is longer. */
extern const uint16_t elias_omega_dec8[256];
/* The same by the first 12 bits, for codes of at most 12 bits (values 1..63). */
extern const uint16_t elias_omega_dec12[4096];
/* Decoding of [omega(a)][one bit][omega(b)] (QSGD's gap, sign, level) by its first 12 bits,
 * when all three fit in them (a, b <= 15): length << 12 | bit << 8 | b << 4 | a, else 0. */
extern const uint16_t elias_omega_pair12[4096];

/* Code of k (1 <= k <= ELIAS_MAX) right-aligned in the result, its length (<= 43) in *len. */
static inline uint64_t elias_omega_code(uint64_t k, unsigned *len) {
    if (k < 256) {
        uint32_t e = elias_omega_small[k];
        *len = e >> 24;
        return e & 0xFFFFFFu;
    }
    uint64_t code = 0; /* the terminating 0 */
    unsigned n = 1;
    while (k > 1) {
        unsigned nb = 64u - (unsigned)__builtin_clzll(k);
        code |= k << n;
        n += nb;
        k = nb - 1;
    }
    *len = n;
    return code;
}

static inline void elias_omega_put(bitw *w, uint64_t k) {
    unsigned len;
    uint64_t code = elias_omega_code(k, &len);
    bitw_put64(w, code, len);
}

enum { ELIAS_OK = 0, ELIAS_TRUNCATED = -1, ELIAS_TOO_LARGE = -2 };

/* Read one code; fails with ELIAS_TOO_LARGE if the value exceeds max (as soon as it must,
 * and always before returning; max <= ELIAS_MAX), with ELIAS_TRUNCATED if the message ends
 * inside the code. */
static inline int elias_omega_get(bitr *r, uint64_t max, uint64_t *k) {
    uint64_t n = 1;
    if (r->nbits - r->pos >= 64) {
        /* fast path: a code of a value <= 2^32 - 1 is at most 43 bits, all within the 57
         * valid bits of one 64-bit load */
        uint64_t u = bitr_load64(r, (size_t)(r->pos >> 3)) << (r->pos & 7);
        uint32_t e = elias_omega_dec12[u >> 52];
        if (e) {
            if ((e & 0xFF) > max)
                return ELIAS_TOO_LARGE;
            r->pos += e >> 8;
            *k = e & 0xFF;
            return ELIAS_OK;
        }
        unsigned used = 0;
        for (;;) {
            unsigned b = (unsigned)(u >> 63);
            u <<= 1;
            used++;
            if (b == 0) {
                if (n > max)
                    return ELIAS_TOO_LARGE;
                r->pos += used;
                *k = n;
                return ELIAS_OK;
            }
            if (n >= 32 || ((uint64_t)1 << n) > max)
                return ELIAS_TOO_LARGE;
            uint64_t rest = u >> (64 - n);
            u <<= n;
            used += (unsigned)n;
            n = ((uint64_t)1 << n) | rest;
        }
    }
    for (;;) {
        uint32_t b;
        if (bitr_get(r, 1, &b) != 0)
            return ELIAS_TRUNCATED;
        if (b == 0) {
            if (n > max)
                return ELIAS_TOO_LARGE;
            *k = n;
            return ELIAS_OK;
        }
        /* the next group is the leading 1 just read plus n more bits: a value >= 2^n */
        if (n >= 32 || ((uint64_t)1 << n) > max)
            return ELIAS_TOO_LARGE;
        uint32_t rest;
        if (bitr_get(r, (unsigned)n, &rest) != 0)
            return ELIAS_TRUNCATED;
        n = ((uint64_t)1 << n) | rest;
    }
}

/* The code of k as a string of '0'/'1' (buf needs 44 bytes); returns its length. For tests
 * and documentation. */
unsigned elias_omega_string(uint64_t k, char *buf);

#ifdef __cplusplus
}
#endif
#endif
