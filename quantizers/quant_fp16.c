/* quant_fp16.c — the IEEE-754 binary16 cast: each coordinate rounded to the nearest half
 * (ties to even); a finite value beyond the half range (|v| >= 65520, which would round to
 * infinity) saturates to +-65504, NaN and infinite inputs are refused.
 * Wire format: n 16-bit codes, the half's bits MSB first (big endian). Exactly 16 n bits.
 * The decoder refuses codes with exponent 31 (infinities, NaNs: never encoded). */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "half.h"
#include "qrng.h"
#include "quant.h"

#if defined(__x86_64__) || defined(__i386__)
#define FP16_X86 1
#include <cpuid.h>
#include <immintrin.h>
#endif

/* No workspace: q->impl points at this marker when the F16C kernels are in use, else NULL. */
static const char fp16_f16c_marker;
static int fp16_simd(const quant *q) {
    return q->impl == &fp16_f16c_marker;
}

static int fp16_init(quant *q, qsgd_err *err) {
    q->impl = NULL;
#ifdef FP16_X86
    /* F16C from CPUID leaf 1 (ECX bit 29): clang's __builtin_cpu_supports has no "f16c" */
    unsigned a, b, c, d;
    if (qrng_simd_available() > 0 && __builtin_cpu_supports("avx2") &&
        __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C))
        q->impl = (void *)&fp16_f16c_marker;
#endif
    return QSGD_OK;
}

static void fp16_fini(quant *q) {}

static uint64_t fp16_max_bits(const quant *q) {
    return 16ull * q->n;
}

static int fp16_nonfinite(const quant *q, const float *v, qsgd_err *err) {
    size_t i = 0;
    while (i < q->n && isfinite(v[i]))
        i++;
    return QSGD_FAIL_BIT(err, QSGD_EINVAL, 0, "fp16: input value %g at index %zu is not finite",
                         (double)v[i < q->n ? i : 0], i);
}

/* The codes of v[0..n) into buf (big endian) and/or the decoded values into out (either may
 * be NULL). Returns 1 if some v[i] is not finite (outputs then unspecified). */
static int fp16_run_ref(const float *v, size_t n, uint8_t *buf, float *out) {
    uint32_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        bad |= (half_f2u(v[i]) & 0x7fffffffu) >= 0x7f800000u;
        uint16_t h = half_from_float(v[i]);
        if (buf) {
            buf[2 * i] = (uint8_t)(h >> 8);
            buf[2 * i + 1] = (uint8_t)h;
        }
        if (out)
            out[i] = half_to_float(h);
    }
    return bad != 0;
}

#ifdef FP16_X86
__attribute__((target("avx2,f16c"))) static int fp16_run_simd(const float *v, size_t n,
                                                              uint8_t *buf, float *out) {
    const __m256 hi = _mm256_set1_ps(65504.0f), lo = _mm256_set1_ps(-65504.0f);
    const __m256i absm = _mm256_set1_epi32(0x7fffffff), fmax = _mm256_set1_epi32(0x7f7fffff);
    const __m128i bswap = _mm_setr_epi8(1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14);
    __m256i bad = _mm256_setzero_si256();
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 x = _mm256_loadu_ps(v + i);
        bad = _mm256_or_si256(
            bad, _mm256_cmpgt_epi32(_mm256_and_si256(_mm256_castps_si256(x), absm), fmax));
        /* clamping to +-65504 is exact (both are halves) and maps exactly the values that
         * would round to infinity to 65504; -0.0 stays -0.0 */
        x = _mm256_min_ps(_mm256_max_ps(x, lo), hi);
        __m128i h = _mm256_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        if (buf)
            _mm_storeu_si128((__m128i *)(void *)(buf + 2 * i), _mm_shuffle_epi8(h, bswap));
        if (out)
            _mm256_storeu_ps(out + i, _mm256_cvtph_ps(h));
    }
    int rest = fp16_run_ref(v + i, n - i, buf ? buf + 2 * i : NULL, out ? out + i : NULL);
    return rest || !_mm256_testz_si256(bad, bad);
}

/* Decode: returns the index of the first code with exponent 31, or n. */
__attribute__((target("avx2,f16c"))) static size_t fp16_decode_simd(const uint8_t *buf, size_t n,
                                                                    float *out) {
    const __m128i bswap = _mm_setr_epi8(1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14);
    const __m128i em = _mm_set1_epi16(0x7c00);
    __m128i bad = _mm_setzero_si128();
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m128i h =
            _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)(buf + 2 * i)), bswap);
        bad = _mm_or_si128(bad, _mm_cmpeq_epi16(_mm_and_si128(h, em), em));
        _mm256_storeu_ps(out + i, _mm256_cvtph_ps(h));
    }
    size_t stop = _mm_testz_si128(bad, bad) ? i : 0; /* rescan from 0 to find the index */
    for (size_t k = stop; k < n; k++) {
        uint16_t h = (uint16_t)(buf[2 * k] << 8 | buf[2 * k + 1]);
        if ((h & 0x7c00u) == 0x7c00u)
            return k;
        out[k] = half_to_float(h);
    }
    return n;
}
#endif

static int fp16_run(const quant *q, const float *v, uint8_t *buf, float *out) {
#ifdef FP16_X86
    if (fp16_simd(q))
        return fp16_run_simd(v, q->n, buf, out);
#endif
    return fp16_run_ref(v, q->n, buf, out);
}

static int fp16_quantize(quant *q, const float *v, const quant_ctx *ctx, float *out,
                         qsgd_err *err) {
    if (fp16_run(q, v, NULL, out))
        return fp16_nonfinite(q, v, err);
    return QSGD_OK;
}

static int fp16_encode(quant *q, const float *v, const quant_ctx *ctx, uint8_t *buf, size_t cap,
                       uint64_t *nbits, qsgd_err *err) {
    if (cap / 2 < q->n)
        return QSGD_FAIL_BIT(err, QSGD_ENOSPC, 0, "fp16: buffer of %zu bytes, need %zu", cap,
                             2 * q->n);
    if (fp16_run(q, v, buf, NULL))
        return fp16_nonfinite(q, v, err);
    *nbits = 16ull * q->n;
    return QSGD_OK;
}

static int fp16_decode(const quant *q, const uint8_t *buf, size_t len, uint64_t nbits, float *out,
                       qsgd_err *err) {
    uint64_t want = 16ull * q->n;
    if (nbits != want)
        return QSGD_FAIL_BIT(err, QSGD_ECORRUPT, nbits < want ? nbits : want,
                             "fp16: message of %llu bits, expected exactly %llu (%s)",
                             (unsigned long long)nbits, (unsigned long long)want,
                             nbits < want ? "truncated" : "trailing bits");
    size_t bad = q->n;
#ifdef FP16_X86
    if (fp16_simd(q))
        bad = fp16_decode_simd(buf, q->n, out);
    else
#endif
        for (size_t k = 0; k < q->n; k++) {
            uint16_t h = (uint16_t)(buf[2 * k] << 8 | buf[2 * k + 1]);
            if ((h & 0x7c00u) == 0x7c00u) {
                bad = k;
                break;
            }
            out[k] = half_to_float(h);
        }
    if (bad < q->n)
        return QSGD_FAIL_BIT(err, QSGD_ECORRUPT, 16ull * bad,
                             "fp16: coordinate %zu is an infinity or NaN (0x%02x%02x) at bit %llu",
                             bad, buf[2 * bad], buf[2 * bad + 1], 16ull * bad);
    return QSGD_OK;
}

/* Claims checked by `qsgdsim stats`: biased (round to nearest); no variance bound holds for
 * every v (saturation at 65504, subnormals), so none is claimed. */
static int fp16_unbiased(const quant_params *p) {
    (void)p;
    return 0;
}

const quant_type quant_type_fp16 = {
    .name = "fp16",
    .summary = "IEEE half-precision cast (round to nearest even, saturating): 16 bits per "
               "coordinate",
    .opts = NULL,
    .stateful = 0,
    .lossless = 0,
    .init = fp16_init,
    .fini = fp16_fini,
    .max_bits = fp16_max_bits,
    .quantize = fp16_quantize,
    .encode = fp16_encode,
    .decode = fp16_decode,
    .unbiased = fp16_unbiased,
};
