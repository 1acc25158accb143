/* test_quant_c3_mx.c — mxfp8 and mxfp4 (OCP Microscaling v1.0) against references written
 * here from the spec, not from mx.h:
 *  - hand-computed blocks: scale bytes, element codes on the wire and decoded values (ties
 *    to even, subnormals, saturation, the scale of a block, -0.0, a zero block);
 *  - every coordinate of random inputs (Gaussian, log-uniform over 1e-30..1e30, tiny) equal
 *    to a double reference: the element set enumerated from the spec's formula, the scale
 *    2^(floor(log2 max|v|) - emax) clamped to 2^-127, nearest with ties to the even code;
 *  - stochastic rounding: each output is one of the two neighbours, the empirical mean over
 *    many contexts is v within a Bernstein bound from the exact variance (hi-v)(v-lo), and
 *    saturation above max normal;
 *  - bits 8 ceil(n/32) + w n for partial blocks;
 *  - the decoder refuses the NaN scale, scales beyond float32, E4M3's NaN element and a
 *    block whose scale its elements could not have produced, with the bit offset. */
#include "quant_test_util.h"

#define Z 6.0

typedef struct ref_fmt {
    const char *name;
    int w, m, bias, emax;
} ref_fmt;
static const ref_fmt R8 = {"mxfp8", 8, 3, 7, 8}, R4 = {"mxfp4", 4, 1, 1, 2};

/* Element value of magnitude code c (spec, section 5.3: E4M3 without NaN, E2M1). */
static double ref_elem(const ref_fmt *f, unsigned c) {
    unsigned e = c >> f->m, mant = c & ((1u << f->m) - 1);
    if (e == 0)
        return ldexp((double)mant / (1 << f->m), 1 - f->bias);
    return ldexp(1.0 + (double)mant / (1 << f->m), (int)e - f->bias);
}
static unsigned ref_ncodes(const ref_fmt *f) {
    return f->w == 8 ? 127u : 8u; /* E4M3: 0x7F is NaN */
}

/* Scale exponent of a block (double). */
static int ref_scale(const ref_fmt *f, const float *v, size_t len) {
    double amax = 0;
    for (size_t k = 0; k < len; k++)
        amax = fmax(amax, fabs((double)v[k]));
    if (amax == 0)
        return -127;
    int e = (int)floor(log2(amax)) - f->emax;
    return e < -127 ? -127 : e;
}

/* Nearest element code to |p| (ties to even code), saturating. */
static unsigned ref_nearest(const ref_fmt *f, double a) {
    unsigned best = 0;
    for (unsigned c = 1; c < ref_ncodes(f); c++) {
        double d = fabs(ref_elem(f, c) - a), db = fabs(ref_elem(f, best) - a);
        if (d < db || (d == db && (c & 1) == 0))
            best = c;
    }
    return best;
}

static int run(quant *q, const float *v, quant_ctx ctx, float *out, uint8_t *buf, size_t cap,
               uint64_t *nb) {
    qsgd_err err = {0};
    int rc = quant_encode(q, v, &ctx, buf, cap, nb, &err);
    if (rc == QSGD_OK)
        rc = quant_decode(q, buf, cap, *nb, out, &err);
    QT_CHECK(rc == QSGD_OK, "%s encode/decode: %s", q->type->name, err.msg);
    return rc;
}

/* ---- hand-computed blocks ------------------------------------------------------------------ */
static void test_hand_mxfp8(void) {
    /* block 0: max 448 -> e = 8 - 8 = 0, X = 1 */
    float v[64] = {448.0f, 1.0f, -0.5f, 0x1p-9f, 0x1p-10f, 0x3p-10f, 17.0f, 19.0f, 3.3f, -0.0f};
    uint8_t c0[10] = {0x7E, 0x38, 0xB0, 0x01, 0x00, 0x02, 0x58, 0x5A, 0x45, 0x80};
    float d0[10] = {448, 1, -0.5f, 0x1p-9f, 0, 0x1p-8f, 16, 20, 3.25f, -0.0f};
    /* block 1: max 1000 -> floor(log2) = 9, e = 1, X = 2: 1000/2 = 500 saturates to 448 */
    v[32] = 1000.0f;
    v[33] = 3.0f;   /* 1.5 -> 1.5: 3 */
    v[34] = -480.f; /* -240 -> -240 (exact in E4M3: 1.875 * 2^7) */
    v[35] = 0.1f;   /* 0.05 -> 0.05078125 = 13 * 2^-8: 0.1015625 */
    quant *q = qt_alloc("mxfp8", 1, 64);
    if (!q)
        return;
    uint8_t buf[128];
    float out[64];
    uint64_t nb;
    if (run(q, v, qt_ctx(1, 0, 0, 0), out, buf, sizeof buf, &nb) == QSGD_OK) {
        QT_CHECK(nb == 2 * 8 + 64 * 8, "mxfp8: %llu bits", (unsigned long long)nb);
        QT_CHECK(buf[0] == 127 && buf[33] == 128, "mxfp8: scale bytes %u %u, want 127 128", buf[0],
                 buf[33]);
        for (int k = 0; k < 10; k++) {
            QT_CHECK(buf[1 + k] == c0[k], "mxfp8: code %d = 0x%02x, want 0x%02x", k, buf[1 + k],
                     c0[k]);
            QT_CHECK(qt_same_bits(out[k], d0[k]), "mxfp8: value %d = %a, want %a", k, out[k],
                     d0[k]);
        }
        QT_CHECK(out[32] == 896.0f && out[33] == 3.0f && out[34] == -480.0f &&
                     out[35] == 0.1015625f,
                 "mxfp8 block 1: %g %g %g %g", out[32], out[33], out[34], out[35]);
        QT_CHECK(buf[34] == 0x7E && buf[35] == 0x3C, "mxfp8 block 1 codes 0x%02x 0x%02x", buf[34],
                 buf[35]);
    }
    /* a zero block: scale byte 0, all codes 0 */
    memset(v, 0, sizeof v);
    if (run(q, v, qt_ctx(1, 0, 0, 0), out, buf, sizeof buf, &nb) == QSGD_OK)
        QT_CHECK(buf[0] == 0 && buf[1] == 0 && out[0] == 0.0f, "mxfp8 zeros: scale %u", buf[0]);
    quant_free(q);
}

static void test_hand_mxfp4(void) {
    /* block 0: max 6 -> e = 2 - 2 = 0 */
    float v[37] = {6, 5, -2.5f, 0.25f, 0.75f, 1.25f, 3.5f, 0.2f, -7.9f, 0.5f};
    unsigned c0[10] = {0x7, 0x6, 0xC, 0x0, 0x2, 0x2, 0x6, 0x0, 0xF, 0x1};
    float d0[10] = {6, 4, -2, 0, 1, 1, 4, 0, -6, 0.5f};
    /* block 1 (5 values, partial): max 1e-3 -> floor(log2) = -10, e = -12 */
    v[32] = 1e-3f;
    v[33] = -2.5e-4f; /* 1.024 -> 1 */
    v[34] = 0.0f;
    v[35] = 7e-4f; /* 2.8672 -> 3 */
    v[36] = 1e-4f; /* 0.4096 -> 0.5 */
    quant *q = qt_alloc("mxfp4", 1, 37);
    if (!q)
        return;
    uint8_t buf[64];
    float out[37];
    uint64_t nb;
    if (run(q, v, qt_ctx(1, 0, 0, 0), out, buf, sizeof buf, &nb) == QSGD_OK) {
        QT_CHECK(nb == 2 * 8 + 37 * 4, "mxfp4: %llu bits, want %d", (unsigned long long)nb,
                 2 * 8 + 37 * 4);
        QT_CHECK(buf[0] == 127 && buf[17] == 115, "mxfp4: scale bytes %u %u, want 127 115", buf[0],
                 buf[17]);
        for (int k = 0; k < 10; k++) {
            unsigned c = (buf[1 + k / 2] >> (k & 1 ? 0 : 4)) & 15u;
            QT_CHECK(c == c0[k], "mxfp4: code %d = 0x%x, want 0x%x", k, c, c0[k]);
            QT_CHECK(qt_same_bits(out[k], d0[k]), "mxfp4: value %d = %a, want %a", k, out[k],
                     d0[k]);
        }
        float X = 0x1p-12f;
        QT_CHECK(out[32] == 4 * X && out[33] == -1 * X && out[34] == 0 && out[35] == 3 * X &&
                     out[36] == 0.5f * X,
                 "mxfp4 block 1: %a %a %a %a %a", out[32], out[33], out[34], out[35], out[36]);
        /* codes 6 (4.096 -> 4), 0xA (-1), 0, 5 (3), 1 (0.5): bytes 0x6A 0x05 0x10, zero-padded */
        QT_CHECK(buf[18] == 0x6A && buf[19] == 0x05 && buf[20] == 0x10,
                 "mxfp4 block 1 bytes %02x %02x %02x", buf[18], buf[19], buf[20]);
    }
    quant_free(q);
}

/* ---- every coordinate against the double reference (nearest) ---------------------------- */
static void check_reference(const ref_fmt *f) {
    gsl_rng *r = qt_rng(303);
    const size_t n = 32 * 40 + 19;
    float *v = malloc(n * sizeof *v), *out = malloc(n * sizeof *out);
    int kinds[] = {QT_IN_GAUSS, QT_IN_WIDE, QT_IN_TINY, QT_IN_SPARSE, QT_IN_SINGLE};
    quant *q = qt_alloc(f->name, 1, n);
    for (size_t t = 0; q && t < sizeof kinds / sizeof *kinds; t++) {
        qt_fill(v, n, kinds[t], r);
        if (kinds[t] == QT_IN_GAUSS) /* a few blocks at the float32 extremes */
            for (size_t k = 0; k < 32; k++) {
                v[k] *= 1e38f / 8;
                v[32 + k] *= 1e-40f;
            }
        qsgd_err err = {0};
        quant_ctx ctx = qt_ctx(3, 0, 0, 0);
        if (!QT_CHECK(quant_quantize(q, v, &ctx, out, &err) == QSGD_OK, "%s: %s", f->name, err.msg))
            break;
        for (size_t b = 0; b * 32 < n; b++) {
            size_t len = n - 32 * b < 32 ? n - 32 * b : 32;
            int e = ref_scale(f, v + 32 * b, len);
            for (size_t k = 32 * b; k < 32 * b + len; k++) {
                double a = ldexp(fabs((double)v[k]), -e);
                double want = ldexp(ref_elem(f, ref_nearest(f, a)), e);
                if (signbit(v[k]))
                    want = -want;
                if (!QT_CHECK(out[k] == (float)want && !signbit(out[k]) == !signbit(v[k]),
                              "%s %s: v[%zu] = %a (e = %d) -> %a, want %a", f->name,
                              qt_input_names[kinds[t]], k, v[k], e, out[k], want))
                    goto done;
            }
        }
    }
done:
    quant_free(q);
    free(v);
    free(out);
    gsl_rng_free(r);
}
static void test_reference_mxfp8(void) {
    check_reference(&R8);
}
static void test_reference_mxfp4(void) {
    check_reference(&R4);
}

/* ---- stochastic rounding ------------------------------------------------------------------ */
static void check_stochastic(const ref_fmt *f) {
    enum { N = 64, T = 4000 };
    gsl_rng *r = qt_rng(404);
    float v[N], out[N];
    double sum[N] = {0};
    for (size_t i = 0; i < N; i++)
        v[i] = (float)gsl_ran_gaussian(r, 1.0);
    v[0] = 3.0f;   /* block 0 max: floor(log2 3) = 1 */
    v[1] = 2.9f;   /* within the top binade */
    v[2] = -1e-4f; /* subnormal element range */
    v[33] = 0.0f;  /* stays 0 */
    v[40] = 7.9f;  /* block 1 max: floor(log2) = 2; 7.9 / 2^(2-emax) above max normal */
    char spec[64];
    snprintf(spec, sizeof spec, "%s:rounding=stochastic", f->name);
    quant *q = qt_alloc(spec, 1, N);
    if (!q) {
        gsl_rng_free(r);
        return;
    }
    int e[2] = {ref_scale(f, v, 32), ref_scale(f, v + 32, 32)};
    double maxel = ref_elem(f, ref_ncodes(f) - 1);
    for (uint32_t t = 0; t < T; t++) {
        qsgd_err err = {0};
        quant_ctx ctx = qt_ctx(1234, t % 7, t, 3);
        if (!QT_CHECK(quant_quantize(q, v, &ctx, out, &err) == QSGD_OK, "%s", err.msg))
            break;
        for (size_t i = 0; i < N; i++) {
            double a = ldexp(fabs((double)v[i]), -e[i / 32]), lo = 0, hi = maxel;
            for (unsigned c = 0; c < ref_ncodes(f); c++) {
                double x = ref_elem(f, c);
                if (x <= a)
                    lo = fmax(lo, x);
                if (x >= a)
                    hi = fmin(hi, x);
            }
            if (a >= maxel)
                lo = hi = maxel;
            double o = fabs(ldexp((double)out[i], -e[i / 32]));
            if (!QT_CHECK((o == lo || o == hi) &&
                              (out[i] == 0 || !signbit(out[i]) == !signbit(v[i])),
                          "%s stochastic: v[%zu] = %a -> %a, neighbours %a %a", f->name, i, v[i],
                          out[i], ldexp(lo, e[i / 32]), ldexp(hi, e[i / 32])))
                goto done;
            sum[i] += out[i];
        }
    }
    for (size_t i = 0; i < N; i++) {
        double a = ldexp(fabs((double)v[i]), -e[i / 32]), lo = 0, hi = maxel;
        for (unsigned c = 0; c < ref_ncodes(f); c++) {
            double x = ref_elem(f, c);
            if (x <= a)
                lo = fmax(lo, x);
            if (x >= a)
                hi = fmin(hi, x);
        }
        double mean = sum[i] / T, want = v[i], X = ldexp(1.0, e[i / 32]);
        if (a >= maxel) { /* saturated: the expectation is max normal, no variance */
            want = copysign(maxel * X, v[i]);
            lo = hi = a = maxel;
        }
        double var = (hi - a) * (a - lo) * X * X;
        double bound = Z * sqrt(var / T) + Z * Z * (hi - lo) * X / (3.0 * T) + 1e-7 * fabs(want);
        QT_CHECK(fabs(mean - want) <= bound,
                 "%s stochastic: mean of v[%zu] = %.9g over %d draws, want %.9g (bound %.3g)",
                 f->name, i, mean, T, want, bound);
    }
done:
    quant_free(q);
    gsl_rng_free(r);
}
static void test_stochastic_mxfp8(void) {
    check_stochastic(&R8);
}
static void test_stochastic_mxfp4(void) {
    check_stochastic(&R4);
}

/* ---- bits ---------------------------------------------------------------------------------- */
static void test_bits(void) {
    const size_t ns[] = {1, 31, 32, 33, 64, 100, 1000};
    const char *specs[] = {"mxfp8", "mxfp4", "mxfp4:rounding=stochastic"};
    gsl_rng *r = qt_rng(5);
    for (size_t s = 0; s < 3; s++)
        for (size_t a = 0; a < sizeof ns / sizeof *ns; a++) {
            size_t n = ns[a];
            quant *q = qt_alloc(specs[s], 1, n);
            if (!q)
                continue;
            float *v = malloc(n * sizeof *v), *out = malloc(n * sizeof *out);
            size_t cap = quant_max_bytes(q);
            uint8_t *buf = malloc(cap);
            qt_fill(v, n, QT_IN_GAUSS, r);
            uint64_t nb = 0, w = s == 0 ? 8 : 4, want = 8 * ((n + 31) / 32) + w * n;
            if (run(q, v, qt_ctx(1, 0, 0, 0), out, buf, cap, &nb) == QSGD_OK)
                QT_CHECK(nb == want && quant_max_bits(q) == want,
                         "%s n = %zu: %llu bits (max %llu), want %llu", specs[s], n,
                         (unsigned long long)nb, (unsigned long long)quant_max_bits(q),
                         (unsigned long long)want);
            free(buf);
            free(out);
            free(v);
            quant_free(q);
        }
    gsl_rng_free(r);
}

/* ---- corrupt messages ---------------------------------------------------------------------- */
static void expect_corrupt(quant *q, const uint8_t *buf, size_t len, uint64_t nb, uint64_t bit,
                           const char *what) {
    float out[64];
    qsgd_err err = {0};
    int rc = quant_decode(q, buf, len, nb, out, &err);
    QT_CHECK(rc == QSGD_ECORRUPT && err.bit == bit,
             "%s %s: rc %d at bit %llu (want ECORRUPT at %llu): %s", q->type->name, what, rc,
             (unsigned long long)err.bit, (unsigned long long)bit, err.msg);
}

static void test_corrupt(void) {
    quant *q8 = qt_alloc("mxfp8", 1, 40), *q4 = qt_alloc("mxfp4", 1, 40);
    if (!q8 || !q4)
        goto done;
    float v[40], out[40];
    for (int i = 0; i < 40; i++)
        v[i] = (float)(i - 20) / 7.0f;
    uint8_t good8[64], good4[64], b[64];
    uint64_t nb8, nb4;
    if (run(q8, v, qt_ctx(1, 0, 0, 0), out, good8, sizeof good8, &nb8) ||
        run(q4, v, qt_ctx(1, 0, 0, 0), out, good4, sizeof good4, &nb4))
        goto done;
    /* mxfp8: block 1 starts at bit 8 + 256 */
    memcpy(b, good8, sizeof b);
    b[33] = 0xFF;
    expect_corrupt(q8, b, sizeof b, nb8, 264, "NaN scale");
    b[33] = 247; /* e = 120: 448 * 2^120 is beyond float32 */
    expect_corrupt(q8, b, sizeof b, nb8, 264, "scale 247");
    memcpy(b, good8, sizeof b);
    b[1 + 5] = 0xFF; /* -NaN */
    expect_corrupt(q8, b, sizeof b, nb8, 8 + 40, "NaN element");
    b[1 + 5] = 0x7F;
    expect_corrupt(q8, b, sizeof b, nb8, 8 + 40, "NaN element");
    memcpy(b, good8, sizeof b);
    b[0] = 130; /* scale 2^3 but every element 1.0: no element in the top binade */
    memset(b + 1, 0x38, 32);
    expect_corrupt(q8, b, sizeof b, nb8, 0, "no top binade");
    b[0] = 0; /* scale 0 (the clamped 2^-127): any element codes */
    QT_CHECK(quant_decode(q8, b, sizeof b, nb8, out, NULL) == QSGD_OK, "mxfp8: scale 0 refused");
    b[0] = 130;
    b[7] = 0xF8; /* -256: top binade */
    QT_CHECK(quant_decode(q8, b, sizeof b, nb8, out, NULL) == QSGD_OK && out[6] == -2048.0f,
             "mxfp8: a valid block refused or decoded to %g", out[6]);
    expect_corrupt(q8, good8, sizeof good8, nb8 - 1, nb8 - 1, "truncated");
    expect_corrupt(q8, good8, sizeof good8, nb8 + 8, nb8, "trailing");
    /* mxfp4 */
    memcpy(b, good4, sizeof b);
    b[17] = 0xFF;
    expect_corrupt(q4, b, sizeof b, nb4, 136, "NaN scale");
    b[17] = 253;
    expect_corrupt(q4, b, sizeof b, nb4, 136, "scale 253");
    memcpy(b, good4, sizeof b);
    b[17] = 130; /* block 1 (8 values): every element 1.0, no element in the top binade */
    memset(b + 18, 0x22, 4);
    expect_corrupt(q4, b, sizeof b, nb4, 136, "no top binade");
    b[21] = 0x26; /* the last element 4.0: valid */
    QT_CHECK(quant_decode(q4, b, sizeof b, nb4, out, NULL) == QSGD_OK && out[39] == 32.0f,
             "mxfp4: a valid block refused or decoded to %g", out[39]);
done:
    quant_free(q8);
    quant_free(q4);
}

int main(void) {
    static const qt_test tests[] = {
        {"hand_mxfp8", test_hand_mxfp8},
        {"hand_mxfp4", test_hand_mxfp4},
        {"reference_mxfp8", test_reference_mxfp8},
        {"reference_mxfp4", test_reference_mxfp4},
        {"stochastic_mxfp8", test_stochastic_mxfp8},
        {"stochastic_mxfp4", test_stochastic_mxfp4},
        {"bits", test_bits},
        {"corrupt", test_corrupt},
        {NULL, NULL},
    };
    return qt_run("quant_c3_mx", tests);
}
