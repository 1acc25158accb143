/* test_quant_c1_cast.c — the fp16 and bf16 casts against independent references: the
 * compiler's _Float16 conversion (libgcc, round to nearest even) for binary16 and a
 * nearest-of-two-candidates search in double for bfloat16, on ~1M float bit patterns spread
 * over the whole range plus the edge cases (ties, the largest finite value, the values that
 * would round to infinity and saturate, subnormals, -0.0); the SIMD (F16C) and scalar paths
 * give the same bits; every 16-bit code decodes to its exact value or, for exponent all
 * ones, is refused at its bit offset; non-finite inputs are refused naming the index. */
#include <float.h>

#include "quant_test_util.h"

#define NB 4096

static float u2f(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}
static uint32_t f2u(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

/* binary16 reference: the compiler's conversion, saturated at +-65504. */
static float ref_fp16(float x) {
#ifdef __FLT16_MAX__
    _Float16 h = (_Float16)x;
    float r = (float)h;
    if (isinf(r))
        r = copysignf(65504.0f, x);
    return r;
#else
    /* nearest multiple of the local spacing, in double (exact for these magnitudes) */
    double a = fabs((double)x), ulp;
    int e;
    frexp(a, &e); /* a = m 2^e, m in [0.5, 1) */
    ulp = ldexp(1.0, (e - 1 < -14 ? -14 : e - 1) - 10);
    double k = a / ulp, fl = floor(k),
           r = k - fl > 0.5       ? fl + 1
               : k - fl < 0.5     ? fl
               : fmod(fl, 2) == 0 ? fl
                                  : fl + 1;
    double v = r * ulp;
    if (v > 65504.0)
        v = 65504.0;
    return (float)copysign(v, (double)x);
#endif
}

/* bfloat16 reference: of the two bfloat16 neighbours of |x| (truncation and the next one up),
 * the nearer in double; a tie goes to the even one; beyond the largest finite, saturate. */
static float ref_bf16(float x) {
    uint32_t u = f2u(x), s = u & 0x80000000u, a = u & 0x7fffffffu;
    uint32_t lo = a & 0xffff0000u, hi = lo + 0x10000u;
    double dx = fabs((double)x), dlo = (double)u2f(lo);
    double dhi = hi >= 0x7f800000u ? ldexp(1.0, 128) : (double)u2f(hi);
    uint32_t pick;
    if (dx - dlo < dhi - dx)
        pick = lo;
    else if (dx - dlo > dhi - dx)
        pick = hi;
    else
        pick = (lo >> 16) & 1 ? hi : lo;
    if (pick >= 0x7f800000u)
        pick = 0x7f7f0000u;
    return u2f(s | pick);
}

typedef float (*ref_fn)(float);

/* Inputs: edge cases, then bit patterns k * stride (finite ones) spread over all floats. */
static size_t edge_inputs(float *v) {
    static const float e[] = {0.0f,
                              -0.0f,
                              1.0f,
                              -1.0f,
                              65504.0f,
                              65519.99f,
                              65520.0f,
                              -65520.0f,
                              65536.0f,
                              1e30f,
                              -1e30f,
                              FLT_MAX,
                              -FLT_MAX,
                              0x1.ffp127f,
                              0x1.fefffep127f,
                              0x1p-14f,
                              0x1.ff8p-15f,
                              0x1p-24f,
                              0x1p-25f,
                              0x1.000002p-25f,
                              0x1.8p-24f,
                              0x1.4p-23f,
                              FLT_MIN,
                              0x1p-149f,
                              -0x1p-149f,
                              1.0f + 0x1p-11f,
                              1.0f + 0x1.8p-11f,
                              1.0f + 0x1p-8f,
                              1.0f + 0x1.8p-8f,
                              1.0f + 0x1p-9f,
                              2049.0f,
                              2051.0f,
                              0.1f,
                              -3.14159f};
    memcpy(v, e, sizeof e);
    return sizeof e / sizeof *e;
}

/* Run n inputs through spec: quantize, encode, decode against ref; scalar path too. */
static void check_block(const char *spec, const float *v, size_t n, ref_fn ref) {
    quant *q = qt_alloc(spec, 1, n);
    setenv("QSGDSIM_NO_SIMD", "1", 1);
    quant *qs = qt_alloc(spec, 1, n);
    unsetenv("QSGDSIM_NO_SIMD");
    if (!q || !qs) {
        quant_free(q);
        quant_free(qs);
        return;
    }
    size_t cap = quant_max_bytes(q);
    uint8_t *b1 = malloc(cap), *b2 = malloc(cap);
    float *o1 = malloc(n * sizeof *o1), *o2 = malloc(n * sizeof *o2), *o3 = malloc(n * sizeof *o3);
    quant_ctx ctx = qt_ctx(1, 0, 0, 0);
    qsgd_err err;
    uint64_t n1 = 0, n2 = 0;
    QT_CHECK(quant_encode(q, v, &ctx, b1, cap, &n1, &err) == QSGD_OK, "%s: encode: %s", spec,
             err.msg);
    QT_CHECK(quant_encode(qs, v, &ctx, b2, cap, &n2, &err) == QSGD_OK, "%s: scalar encode: %s",
             spec, err.msg);
    QT_CHECK(n1 == 16ull * n && n2 == n1, "%s: %llu / %llu bits for n = %zu, want 16 n", spec,
             (unsigned long long)n1, (unsigned long long)n2, n);
    QT_CHECK(memcmp(b1, b2, 2 * n) == 0, "%s: F16C and scalar messages differ", spec);
    QT_CHECK(quant_quantize(q, v, &ctx, o1, &err) == QSGD_OK, "%s: quantize", spec);
    QT_CHECK(quant_decode(q, b1, cap, n1, o2, &err) == QSGD_OK, "%s: decode: %s", spec, err.msg);
    QT_CHECK(quant_decode(qs, b1, cap, n1, o3, &err) == QSGD_OK, "%s: scalar decode", spec);
    for (size_t i = 0; i < n; i++) {
        float r = ref(v[i]);
        if (!QT_CHECK(qt_same_bits(o1[i], r) && qt_same_bits(o2[i], r) && qt_same_bits(o3[i], r),
                      "%s: v = %a (0x%08x): quantize %a, decode %a, scalar decode %a, want %a",
                      spec, v[i], f2u(v[i]), o1[i], o2[i], o3[i], r))
            break;
        /* the code is the rounded value's bits: bf16 its high half, fp16 big endian */
        uint32_t code = (uint32_t)b1[2 * i] << 8 | b1[2 * i + 1];
        if (spec[0] == 'b' && !QT_CHECK(code == f2u(r) >> 16, "bf16: code 0x%04x for %a", code, r))
            break;
    }
    free(b1);
    free(b2);
    free(o1);
    free(o2);
    free(o3);
    quant_free(q);
    quant_free(qs);
}

static void run_sweep(const char *spec, ref_fn ref) {
    float *v = malloc(NB * sizeof *v);
    size_t k = edge_inputs(v), blocks = 0;
    /* ~1M patterns: stride 4093 (prime) over all 2^32 bit patterns, finite ones only */
    for (uint64_t p = 0; p < (1ull << 32); p += 4093) {
        float x = u2f((uint32_t)p);
        if (!isfinite(x))
            continue;
        v[k++] = x;
        if (k == NB) {
            check_block(spec, v, k, ref);
            blocks++;
            k = 0;
        }
    }
    if (k)
        check_block(spec, v, k, ref);
    /* every tie around 1 and 65504-ish: x = (h + 1/2) ulp for a range of halves */
    for (k = 0; k < NB; k++)
        v[k] = spec[0] == 'f' ? (float)((1024.0 + k / 2.0) * 0x1p-10) * (k % 3 ? 1 : 32)
                              : u2f(0x3f800000u + ((uint32_t)k << 15));
    check_block(spec, v, NB, ref);
    printf(" [%zu blocks]", blocks);
    free(v);
}

static void test_fp16_rounding(void) {
    run_sweep("fp16", ref_fp16);
}
static void test_bf16_rounding(void) {
    run_sweep("bf16", ref_bf16);
}

/* Every 16-bit code: exponent all ones refused at its bit offset, others decode exactly. */
static void check_all_codes(const char *spec) {
    quant *q = qt_alloc(spec, 1, 3);
    if (!q)
        return;
    const int fp16 = spec[0] == 'f';
    size_t bad = 0;
    for (uint32_t c = 0; c < 65536; c++) {
        uint8_t msg[6] = {0, 0, (uint8_t)(c >> 8), (uint8_t)c, 0x3c, 0x00}; /* 0, c, x */
        float out[3];
        qsgd_err err = {0};
        int rc = quant_decode(q, msg, 6, 48, out, &err);
        int special = fp16 ? (c & 0x7c00u) == 0x7c00u : (c & 0x7f80u) == 0x7f80u;
        if (special) {
            bad++;
            if (!QT_CHECK(rc == QSGD_ECORRUPT && err.bit == 16, "%s: code 0x%04x: rc %d bit %llu",
                          spec, c, rc, (unsigned long long)err.bit))
                break;
            continue;
        }
        double want;
        if (fp16) {
            unsigned e = (c >> 10) & 31, m = c & 1023;
            want = e ? ldexp(1024 + m, (int)e - 25) : ldexp(m, -24);
        } else {
            want = (double)u2f((c & 0x7fffu) << 16);
        }
        if (c & 0x8000u)
            want = -want;
        if (!QT_CHECK(rc == QSGD_OK && (double)out[1] == want && !signbit(out[1]) == !signbit(want),
                      "%s: code 0x%04x decodes to %a (rc %d), want %a", spec, c, out[1], rc, want))
            break;
        /* and encodes back to itself (every finite code can be produced) */
        uint8_t back[14];
        uint64_t nb;
        float in[3] = {0.0f, out[1], 0.0f};
        quant_ctx ctx = qt_ctx(1, 0, 0, 0);
        QT_CHECK(quant_encode(q, in, &ctx, back, sizeof back, &nb, &err) == QSGD_OK &&
                     back[2] == msg[2] && back[3] == msg[3],
                 "%s: code 0x%04x does not encode back to itself", spec, c);
    }
    QT_CHECK(bad == (fp16 ? 2048u : 256u), "%s: %zu codes refused", spec, bad);
    quant_free(q);
}

static void test_all_codes(void) {
    check_all_codes("fp16");
    check_all_codes("bf16");
}

static void test_nonfinite_and_sizes(void) {
    static const float bads[] = {NAN, INFINITY, -INFINITY};
    static const char *const specs[] = {"fp16", "bf16"};
    float v[1000], out[1000];
    uint8_t buf[2008];
    for (int s = 0; s < 2; s++) {
        quant *q = qt_alloc(specs[s], 1, 1000);
        if (!q)
            continue;
        QT_CHECK(quant_max_bits(q) == 16000 && !q->type->lossless && !q->type->stateful,
                 "%s: max_bits %llu, lossless %d", specs[s], (unsigned long long)quant_max_bits(q),
                 q->type->lossless);
        for (int b = 0; b < 3; b++)
            for (size_t at = 5; at < 1000; at += 990) {
                for (size_t i = 0; i < 1000; i++)
                    v[i] = (float)i - 500.0f;
                v[at] = bads[b];
                char idx[16];
                snprintf(idx, sizeof idx, "index %zu", at);
                quant_ctx ctx = qt_ctx(1, 0, 0, 0);
                qsgd_err err = {0};
                uint64_t nb;
                int rc = quant_quantize(q, v, &ctx, out, &err);
                QT_CHECK(rc == QSGD_EINVAL && strstr(err.msg, idx),
                         "%s quantize v[%zu]=%g: %d '%s'", specs[s], at, v[at], rc, err.msg);
                rc = quant_encode(q, v, &ctx, buf, sizeof buf, &nb, &err);
                QT_CHECK(rc == QSGD_EINVAL && strstr(err.msg, idx), "%s encode v[%zu]=%g: %d '%s'",
                         specs[s], at, v[at], rc, err.msg);
            }
        quant_ctx ctx = qt_ctx(1, 0, 0, 0);
        qsgd_err err = {0};
        uint64_t nb;
        QT_CHECK(quant_encode(q, v, &ctx, buf, 1999, &nb, &err) == QSGD_ENOSPC,
                 "%s: 1999-byte buffer accepted", specs[s]);
        quant_free(q);
    }
}

int main(void) {
    double t0 = qt_now();
    static const qt_test tests[] = {
        {"fp16: round to nearest even, saturating (vs _Float16)", test_fp16_rounding},
        {"bf16: round to nearest even, saturating (vs nearest in double)", test_bf16_rounding},
        {"every 16-bit code: decoded exactly or refused", test_all_codes},
        {"non-finite input refused, sizes, ENOSPC", test_nonfinite_and_sizes},
        {NULL, NULL},
    };
    int rc = qt_run("quant_c1_cast", tests);
    printf("quant_c1_cast: %.1f s\n", qt_now() - t0);
    return rc;
}
