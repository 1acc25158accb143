/* qsgd_kernels.c — norms, stochastic levels (scalar reference + AVX2) and fixed-width
 * bit packing for the QSGD quantizer. See qsgd_kernels.h for the exact arithmetic. */
#include "qsgd_kernels.h"

#include <math.h>
#include <string.h>

#include "qrng.h"
#include "qsgd_err.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define QSGD_X86 1
#endif

float qsgd_norm_l2(const float *v, size_t len, int *finite) {
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    size_t i = 0;
    for (; i + 8 <= len; i += 8)
        for (int l = 0; l < 8; l++)
            acc[l] += (double)v[i + l] * (double)v[i + l];
    double tail = 0;
    for (; i < len; i++)
        tail += (double)v[i] * (double)v[i];
    double s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    s += tail;
    *finite = isfinite(s) ? 1 : 0;
    return (float)sqrt(s);
}

/* max |v_i| on the magnitudes' bit patterns: |x| as an int32 orders like |x| and is below
 * 0x7f800000 exactly when x is finite, so the maximum pattern is the maximum's bits, and
 * the loop (integer compare and select, eight lanes) vectorises on any x86-64, SSE2 included.
 * The result is exact, whatever the order. */
int qsgd_bucket_norm(const char *who, int norm_max, const float *v, size_t len, size_t b0, size_t b,
                     float *norm, qsgd_err *err) {
    int finite;
    *norm = norm_max ? qsgd_norm_max(v, len, &finite) : qsgd_norm_l2(v, len, &finite);
    if (finite && isfinite(*norm))
        return QSGD_OK;
    size_t i = 0;
    while (i < len && isfinite(v[i]))
        i++;
    if (i < len)
        return QSGD_FAIL_BIT(err, QSGD_EINVAL, 0, "%s: input value %g at index %zu is not finite",
                             who, (double)v[i], b0 + i);
    return QSGD_FAIL_BIT(err, QSGD_EINVAL, 0,
                         "%s: the norm of bucket %zu overflows float (values too large)", who, b);
}

float qsgd_norm_max(const float *v, size_t len, int *finite) {
    int32_t m[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    size_t i = 0;
    for (; i + 8 <= len; i += 8)
        for (int l = 0; l < 8; l++) {
            uint32_t u;
            memcpy(&u, &v[i + l], 4);
            int32_t a = (int32_t)(u & 0x7fffffffu);
            m[l] = a > m[l] ? a : m[l];
        }
    int32_t r = 0;
    for (int l = 0; l < 8; l++)
        r = m[l] > r ? m[l] : r;
    for (; i < len; i++) {
        uint32_t u;
        memcpy(&u, &v[i], 4);
        int32_t a = (int32_t)(u & 0x7fffffffu);
        r = a > r ? a : r;
    }
    *finite = r < 0x7f800000;
    uint32_t ur = (uint32_t)r;
    float f;
    memcpy(&f, &ur, 4);
    return f;
}

void qsgd_levels_ref(const float *v, const uint32_t *r, size_t len, float scale, uint32_t s,
                     unsigned w, uint16_t *codes) {
    const uint32_t signbit = 1u << (w - 1);
    for (size_t i = 0; i < len; i++) {
        float x = fabsf(v[i]) * scale;
        float fl = floorf(x);
        float p = x - fl;
        float u = qrng_uniform(r[i]);
        uint32_t level = (uint32_t)fl + (u < p ? 1u : 0u);
        if (level > s)
            level = s;
        uint32_t neg = (signbit * (uint32_t)(v[i] < 0.0f)) & (level ? ~0u : 0u);
        codes[i] = (uint16_t)(level | neg);
    }
}

#ifdef QSGD_X86
__attribute__((target("avx2"))) static void levels_avx2(const float *v, const uint32_t *r,
                                                        size_t len, float scale, uint32_t s,
                                                        unsigned w, uint16_t *codes) {
    const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    const __m256 vscale = _mm256_set1_ps(scale);
    const __m256 inv24 = _mm256_set1_ps(1.0f / 16777216.0f);
    const __m256i vs = _mm256_set1_epi32((int)s);
    const __m256i zero = _mm256_setzero_si256();
    const __m128i shift = _mm_cvtsi32_si128((int)(w - 1));
    size_t i = 0;
    for (; i + 16 <= len; i += 16) {
        __m256i c[2];
        for (int h = 0; h < 2; h++) {
            __m256 x0 = _mm256_loadu_ps(v + i + 8 * h);
            __m256 x = _mm256_mul_ps(_mm256_and_ps(x0, absmask), vscale);
            __m256 fl = _mm256_floor_ps(x);
            __m256 p = _mm256_sub_ps(x, fl);
            __m256i rr = _mm256_loadu_si256((const __m256i *)(r + i + 8 * h));
            __m256 u = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_srli_epi32(rr, 8)), inv24);
            __m256i up = _mm256_castps_si256(_mm256_cmp_ps(u, p, _CMP_LT_OQ)); /* -1 where u<p */
            __m256i level = _mm256_sub_epi32(_mm256_cvttps_epi32(fl), up);
            level = _mm256_min_epu32(level, vs);
            __m256i neg = _mm256_srli_epi32(_mm256_castps_si256(x0), 31); /* sign bit */
            __m256i nz = _mm256_cmpgt_epi32(level, zero);
            neg = _mm256_sll_epi32(_mm256_and_si256(neg, nz), shift);
            c[h] = _mm256_or_si256(level, neg);
        }
        __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(c[0], c[1]), 0xD8);
        _mm256_storeu_si256((__m256i *)(codes + i), packed);
    }
    if (i < len)
        qsgd_levels_ref(v + i, r + i, len - i, scale, s, w, codes + i);
}
#endif

#ifdef QSGD_X86
/* levels_avx2's arithmetic on 16 lanes (the same operations, so the same bits): the level
 * pass is a quarter of a dense 4-bit encode, and half its instructions go at 16 lanes. */
__attribute__((target("avx512f"))) static void levels_avx512(const float *v, const uint32_t *r,
                                                             size_t len, float scale, uint32_t s,
                                                             unsigned w, uint16_t *codes) {
    const __m512i absmask = _mm512_set1_epi32(0x7fffffff);
    const __m512 vscale = _mm512_set1_ps(scale);
    const __m512 inv24 = _mm512_set1_ps(1.0f / 16777216.0f);
    const __m512i vs = _mm512_set1_epi32((int)s);
    const __m512i one = _mm512_set1_epi32(1);
    const __m512i signbit = _mm512_set1_epi32((int)(1u << (w - 1)));
    size_t i = 0;
    for (; i + 16 <= len; i += 16) {
        __m512i x0 = _mm512_loadu_si512((const void *)(v + i));
        __m512 x = _mm512_mul_ps(_mm512_castsi512_ps(_mm512_and_si512(x0, absmask)), vscale);
        __m512 fl = _mm512_roundscale_ps(x, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
        __m512 p = _mm512_sub_ps(x, fl);
        __m512i rr = _mm512_loadu_si512((const void *)(r + i));
        __m512 u = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_srli_epi32(rr, 8)), inv24);
        __mmask16 up = _mm512_cmp_ps_mask(u, p, _CMP_LT_OQ);
        __m512i level = _mm512_cvttps_epi32(fl);
        level = _mm512_min_epu32(_mm512_mask_add_epi32(level, up, level, one), vs);
        /* the sign bit set (x0 < 0 as int32) and the level nonzero */
        __mmask16 neg = _mm512_mask_cmplt_epi32_mask(_mm512_test_epi32_mask(level, level), x0,
                                                     _mm512_setzero_si512());
        __m512i c = _mm512_mask_or_epi32(level, neg, level, signbit);
        _mm256_storeu_si256((__m256i *)(codes + i), _mm512_cvtepi32_epi16(c));
    }
    if (i < len)
        qsgd_levels_ref(v + i, r + i, len - i, scale, s, w, codes + i);
}
#endif

void qsgd_levels(const float *v, const uint32_t *r, size_t len, float scale, uint32_t s, unsigned w,
                 uint16_t *codes, int simd) {
#ifdef QSGD_X86
    if (simd >= 2) {
        levels_avx512(v, r, len, scale, s, w, codes);
        return;
    }
    if (simd) {
        levels_avx2(v, r, len, scale, s, w, codes);
        return;
    }
#endif
    qsgd_levels_ref(v, r, len, scale, s, w, codes);
}

void qsgd_pack(const uint16_t *codes, size_t len, unsigned w, uint8_t *dst) {
    size_t nbytes = (len * w + 7) / 8;
    switch (w) {
    case 8:
        for (size_t i = 0; i < len; i++)
            dst[i] = (uint8_t)codes[i];
        return;
    case 4: {
        size_t j = 0;
#ifdef __SSE2__
        /* 32 codes -> 16 bytes: each code pair as one 32-bit lane c0 | c1 << 16, whose low
         * byte after (x << 4 | x >> 16) & 0xff is c0 << 4 | c1 (codes < 16) */
        const __m128i lo8 = _mm_set1_epi32(0xff);
        for (; 2 * j + 32 <= len; j += 16) {
            __m128i b[4];
            for (int k = 0; k < 4; k++) {
                __m128i x = _mm_loadu_si128((const __m128i *)(codes + 2 * j + 8 * k));
                b[k] =
                    _mm_and_si128(_mm_or_si128(_mm_slli_epi32(x, 4), _mm_srli_epi32(x, 16)), lo8);
            }
            __m128i h = _mm_packus_epi16(_mm_packs_epi32(b[0], b[1]), _mm_packs_epi32(b[2], b[3]));
            _mm_storeu_si128((__m128i *)(dst + j), h);
        }
#endif
        for (; 2 * j + 1 < len; j++)
            dst[j] = (uint8_t)((codes[2 * j] << 4) | codes[2 * j + 1]);
        if (2 * j < len)
            dst[j] = (uint8_t)(codes[2 * j] << 4);
        return;
    }
    case 2: {
        size_t j = 0;
        for (; 4 * j + 3 < len; j++)
            dst[j] = (uint8_t)((codes[4 * j] << 6) | (codes[4 * j + 1] << 4) |
                               (codes[4 * j + 2] << 2) | codes[4 * j + 3]);
        if (4 * j < len) {
            uint8_t b = 0;
            for (size_t k = 4 * j; k < len; k++)
                b |= (uint8_t)(codes[k] << (6 - 2 * (k - 4 * j)));
            dst[j] = b;
        }
        return;
    }
    case 16:
        for (size_t i = 0; i < len; i++) {
            dst[2 * i] = (uint8_t)(codes[i] >> 8);
            dst[2 * i + 1] = (uint8_t)codes[i];
        }
        return;
    default: {
        uint64_t acc = 0;
        unsigned nacc = 0;
        size_t o = 0;
        for (size_t i = 0; i < len; i++) {
            acc = (acc << w) | codes[i];
            nacc += w;
            while (nacc >= 8) {
                nacc -= 8;
                dst[o++] = (uint8_t)(acc >> nacc);
            }
        }
        if (nacc)
            dst[o++] = (uint8_t)(acc << (8 - nacc));
        (void)nbytes;
        return;
    }
    }
}

void qsgd_unpack(const uint8_t *src, size_t srclen, uint64_t bit0, size_t len, unsigned w,
                 uint16_t *codes) {
    if ((bit0 & 7) == 0) {
        const uint8_t *p = src + (bit0 >> 3);
        switch (w) {
        case 8:
            for (size_t i = 0; i < len; i++)
                codes[i] = p[i];
            return;
        case 4:
            for (size_t i = 0; i < len; i++)
                codes[i] = (uint16_t)((p[i >> 1] >> ((i & 1) ? 0 : 4)) & 15);
            return;
        case 2:
            for (size_t i = 0; i < len; i++)
                codes[i] = (uint16_t)((p[i >> 2] >> (6 - 2 * (i & 3))) & 3);
            return;
        case 16:
            for (size_t i = 0; i < len; i++)
                codes[i] = (uint16_t)((p[2 * i] << 8) | p[2 * i + 1]);
            return;
        default:
            break;
        }
    }
    const uint32_t mask = (1u << w) - 1;
    for (size_t i = 0; i < len; i++) {
        uint64_t bit = bit0 + (uint64_t)i * w;
        size_t b = (size_t)(bit >> 3);
        uint32_t v = 0; /* 3 bytes cover any w <= 16 at any bit offset */
        for (int k = 0; k < 3; k++)
            v = (v << 8) | (b + (size_t)k < srclen ? src[b + (size_t)k] : 0);
        codes[i] = (uint16_t)((v >> (24 - (bit & 7) - w)) & mask);
    }
}
