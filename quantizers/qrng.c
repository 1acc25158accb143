/* qrng.c — Philox4x32-10 streams: scalar reference and an AVX2 kernel that computes
 * 8 blocks (32 coordinates) per iteration; see qrng.h for the stream layout. */
#include "qrng.h"

#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define QRNG_X86 1
#endif

uint32_t qrng_word(const qrng_stream *st, uint64_t i) {
    uint64_t g = i / QRNG_GROUP;
    unsigned r = (unsigned)(i % QRNG_GROUP);
    uint32_t ctr[4] = {(uint32_t)(8 * g + (r % 8)), st->ctr1, st->ctr2, st->ctr3};
    uint32_t out[4];
    qrng_philox4x32_10(ctr, st->key, out);
    return out[r / 8];
}

void qrng_fill_groups_ref(const qrng_stream *st, uint64_t g0, size_t ngroups, uint32_t *out) {
    for (size_t g = 0; g < ngroups; g++) {
        uint32_t *o = out + g * QRNG_GROUP;
        for (unsigned l = 0; l < 8; l++) {
            uint32_t ctr[4] = {(uint32_t)(8 * (g0 + g) + l), st->ctr1, st->ctr2, st->ctr3};
            uint32_t x[4];
            qrng_philox4x32_10(ctr, st->key, x);
            for (unsigned w = 0; w < 4; w++)
                o[8 * w + l] = x[w];
        }
    }
}

#ifdef QRNG_X86
/* hi and lo 32-bit halves of a * b for 8 unsigned lanes (a varies, b broadcast). */
__attribute__((target("avx2"))) static inline void mulhilo8(__m256i a, __m256i b, __m256i *hi,
                                                            __m256i *lo) {
    __m256i even = _mm256_mul_epu32(a, b);
    __m256i odd = _mm256_mul_epu32(_mm256_srli_epi64(a, 32), b);
    *lo = _mm256_blend_epi32(even, _mm256_slli_epi64(odd, 32), 0xAA);
    *hi = _mm256_blend_epi32(_mm256_srli_epi64(even, 32), odd, 0xAA);
}

__attribute__((target("avx2"))) static void fill_groups_avx2(const qrng_stream *st, uint64_t g0,
                                                             size_t ngroups, uint32_t *out) {
    const __m256i m0 = _mm256_set1_epi32((int)0xD2511F53u);
    const __m256i m1 = _mm256_set1_epi32((int)0xCD9E8D57u);
    __m256i k0[10], k1[10];
    uint32_t a = st->key[0], b = st->key[1];
    for (int r = 0; r < 10; r++) {
        k0[r] = _mm256_set1_epi32((int)a);
        k1[r] = _mm256_set1_epi32((int)b);
        a += 0x9E3779B9u;
        b += 0xBB67AE85u;
    }
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i c1i = _mm256_set1_epi32((int)st->ctr1);
    const __m256i c2i = _mm256_set1_epi32((int)st->ctr2);
    const __m256i c3i = _mm256_set1_epi32((int)st->ctr3);
    for (size_t g = 0; g < ngroups; g++) {
        __m256i c0 = _mm256_add_epi32(_mm256_set1_epi32((int)(uint32_t)(8 * (g0 + g))), lane);
        __m256i c1 = c1i, c2 = c2i, c3 = c3i;
        for (int r = 0; r < 10; r++) {
            __m256i hi0, lo0, hi1, lo1;
            mulhilo8(c0, m0, &hi0, &lo0);
            mulhilo8(c2, m1, &hi1, &lo1);
            c0 = _mm256_xor_si256(_mm256_xor_si256(hi1, c1), k0[r]);
            c2 = _mm256_xor_si256(_mm256_xor_si256(hi0, c3), k1[r]);
            c1 = lo1;
            c3 = lo0;
        }
        uint32_t *o = out + g * QRNG_GROUP;
        _mm256_storeu_si256((__m256i *)(o + 0), c0);
        _mm256_storeu_si256((__m256i *)(o + 8), c1);
        _mm256_storeu_si256((__m256i *)(o + 16), c2);
        _mm256_storeu_si256((__m256i *)(o + 24), c3);
    }
}

/* AVX-512: 16 blocks = two groups per iteration (counters 8g .. 8g+15 are contiguous), as
 * two vectors of 8 blocks, the even and the odd ones, each 32-bit word in the low half of a
 * 64-bit lane: _mm512_mul_epu32 then gives the whole product (lo = the lane's low half, hi =
 * one shift) and reads only the low halves, so the high halves may hold anything. A round
 * is 6 operations per 8 blocks instead of 8 with 32-bit lanes and blends; the words are
 * interleaved back into 32-bit lanes once, at the end. */
__attribute__((target("avx512f"))) static void
fill_groups_avx512(const qrng_stream *st, uint64_t g0, size_t ngroups, uint32_t *out) {
    const __m512i m0 = _mm512_set1_epi64(0xD2511F53u);
    const __m512i m1 = _mm512_set1_epi64(0xCD9E8D57u);
    __m512i k0[10], k1[10];
    uint32_t a = st->key[0], b = st->key[1];
    for (int r = 0; r < 10; r++) {
        k0[r] = _mm512_set1_epi64(a);
        k1[r] = _mm512_set1_epi64(b);
        a += 0x9E3779B9u;
        b += 0xBB67AE85u;
    }
    const __m512i even = _mm512_setr_epi64(0, 2, 4, 6, 8, 10, 12, 14);
    const __m512i c1i = _mm512_set1_epi64(st->ctr1);
    const __m512i c2i = _mm512_set1_epi64(st->ctr2);
    const __m512i c3i = _mm512_set1_epi64(st->ctr3);
    size_t g = 0;
    for (; g + 2 <= ngroups; g += 2) {
        __m512i base = _mm512_set1_epi64((uint32_t)(8 * (g0 + g)));
        __m512i c0[2] = {_mm512_add_epi64(base, even),
                         _mm512_add_epi64(base, _mm512_add_epi64(even, _mm512_set1_epi64(1)))};
        __m512i c1[2] = {c1i, c1i}, c2[2] = {c2i, c2i}, c3[2] = {c3i, c3i};
        for (int r = 0; r < 10; r++)
            for (int h = 0; h < 2; h++) {
                __m512i p0 = _mm512_mul_epu32(c0[h], m0);
                __m512i p1 = _mm512_mul_epu32(c2[h], m1);
                c0[h] = _mm512_ternarylogic_epi32(_mm512_srli_epi64(p1, 32), c1[h], k0[r], 0x96);
                c2[h] = _mm512_ternarylogic_epi32(_mm512_srli_epi64(p0, 32), c3[h], k1[r], 0x96);
                c1[h] = p1;
                c3[h] = p0;
            }
        uint32_t *o = out + g * QRNG_GROUP;
        __m512i x[4][2] = {{c0[0], c0[1]}, {c1[0], c1[1]}, {c2[0], c2[1]}, {c3[0], c3[1]}};
        for (int w = 0; w < 4; w++) {
            /* block 2i's word in 32-bit lane 2i, block 2i+1's in lane 2i+1 */
            __m512i v = _mm512_mask_blend_epi32(0xAAAA, x[w][0], _mm512_slli_epi64(x[w][1], 32));
            _mm256_storeu_si256((__m256i *)(o + 8 * w), _mm512_castsi512_si256(v));
            _mm256_storeu_si256((__m256i *)(o + QRNG_GROUP + 8 * w),
                                _mm512_extracti64x4_epi64(v, 1));
        }
    }
    if (g < ngroups)
        fill_groups_avx2(st, g0 + g, ngroups - g, out + g * QRNG_GROUP);
}
#endif

int qrng_simd_available(void) {
    const char *e = getenv("QSGDSIM_NO_SIMD");
    if (e && *e && strcmp(e, "0") != 0)
        return 0;
#ifdef QRNG_X86
    if (__builtin_cpu_supports("avx512f"))
        return 2;
    return __builtin_cpu_supports("avx2") ? 1 : 0;
#else
    return 0;
#endif
}

void qrng_fill_groups(const qrng_stream *st, uint64_t g0, size_t ngroups, uint32_t *out, int simd) {
#ifdef QRNG_X86
    if (simd >= 2) {
        fill_groups_avx512(st, g0, ngroups, out);
        return;
    }
    if (simd == 1) {
        fill_groups_avx2(st, g0, ngroups, out);
        return;
    }
#endif
    qrng_fill_groups_ref(st, g0, ngroups, out);
}
