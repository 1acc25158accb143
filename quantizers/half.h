/* half.h — scalar reference conversions between float32 and the two 16-bit float formats
 * of the fp16 and bf16 quantizers (quant_fp16.c, quant_bf16.c): IEEE-754 binary16 and
 * bfloat16, both rounded to nearest, ties to even, with finite values that would round to
 * infinity saturated to the largest finite value of the format (65504, 0x1.fep127). NaN and
 * infinite inputs are the caller's to refuse. The SIMD kernels must agree with these bit for
 * bit (tested in tests/test_quant_c1_cast.c). */
#ifndef QSGDSIM_HALF_H
#define QSGDSIM_HALF_H

#include <stdint.h>
#include <string.h>

#define HALF_MAX_BITS 0x7bffu /* 65504 */
#define BF16_MAX_BITS 0x7f7fu /* 0x1.fep127 */

static inline uint32_t half_f2u(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}
static inline float half_u2f(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* float -> binary16 bits, round to nearest even, saturating (f finite). */
static inline uint16_t half_from_float(float f) {
    uint32_t u = half_f2u(f);
    uint32_t sign = (u >> 16) & 0x8000u, a = u & 0x7fffffffu;
    if (a >= 0x477ff000u) /* >= 65520: rounds to infinity */
        return (uint16_t)(sign | HALF_MAX_BITS);
    if (a >= 0x38800000u) {           /* >= 2^-14: a normal half */
        uint32_t m = a - 0x38000000u; /* rebias the exponent from 127 to 15 */
        m += 0x0fffu + ((m >> 13) & 1u);
        return (uint16_t)(sign | (m >> 13));
    }
    /* a subnormal half (or zero, or 2^-14 after rounding): multiples of 2^-24. Adding 0.5
     * puts the unit 2^-24 at the last mantissa bit, so the float addition rounds to nearest
     * even exactly as wanted; the low bits are then the count of units. */
    float t = half_u2f(a) + 0.5f;
    return (uint16_t)(sign | (half_f2u(t) - 0x3f000000u));
}

/* binary16 bits -> float (exact); h must not be an infinity or NaN (exponent 31). */
static inline float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
    if (e == 0) { /* zero or subnormal: m * 2^-24, exact in float */
        float f = (float)m * 0x1p-24f;
        return half_u2f(half_f2u(f) | sign);
    }
    return half_u2f(sign | ((e + 112u) << 23) | (m << 13));
}

/* float -> bfloat16 bits, round to nearest even, saturating (f finite). */
static inline uint16_t bf16_from_float(float f) {
    uint32_t u = half_f2u(f);
    uint32_t h = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
    h -= (uint32_t)((h & 0x7fffu) == 0x7f80u); /* rounded to infinity: the largest finite */
    return (uint16_t)h;
}

static inline float bf16_to_float(uint16_t h) {
    return half_u2f((uint32_t)h << 16);
}

#endif
