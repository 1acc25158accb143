/* test_quant_c1_math.c — the math of natural, terngrad, signsgd and efsignsgd against
 * references written here from the papers (not from the implementations):
 *  natural:   each output is one of the two powers of two around v_i (0 or 2^-126 for a
 *             subnormal), unbiased (empirical mean over many contexts within a Bernstein
 *             bound from the exact variance 4^a m (1 - m)), the variance ratio <= 1/8 and
 *             equal to its exact value (1/8 exactly at |v| = 4/3 2^k), 9 bits per coordinate;
 *  terngrad:  outputs in {0, +-s}, s = max |v| per bucket, or min(max |v|, c sigma) with
 *             clipping (sigma computed here in double), |v_i| >= s sent as +-s; unbiased
 *             without clipping with variance sum |v_i| (s - |v_i|); equal to
 *             qsgd:s=1,norm=max bit for bit; 32 B + 2 n bits; invalid codes refused;
 *  signsgd:   +-1 by v_i >= 0 (-0.0 -> +1), n bits, every message valid;
 *  efsignsgd: p = g + e, s = ||p||_1 / d per bucket, decoded s sign(p), e' = p - decoded
 *             exactly; sum of decoded = sum of g - e_T; reset; feedback=0 keeps e = 0;
 *             32 B + n bits; gradient descent on a quadratic converges with feedback. */
#include "quant_test_util.h"

#define Z 6.0

/* Bernstein: |mean - mu| <= z sqrt(var/T) + z^2 range / (3T) (+ tol). */
static int mean_ok(double mean, double mu, double var, double range, size_t T, double tol) {
    return fabs(mean - mu) <= Z * sqrt(var / (double)T) + Z * Z * range / (3.0 * T) + tol;
}

static int encode_decode(quant *q, const float *v, quant_ctx ctx, float *out, uint64_t *nbits) {
    size_t cap = quant_max_bytes(q);
    uint8_t *buf = malloc(cap);
    qsgd_err err = {0};
    int rc = quant_encode(q, v, &ctx, buf, cap, nbits, &err);
    if (rc == QSGD_OK)
        rc = quant_decode(q, buf, cap, *nbits, out, &err);
    QT_CHECK(rc == QSGD_OK, "encode/decode: %s", err.msg);
    free(buf);
    return rc;
}

/* ---- natural ---------------------------------------------------------------------------- */
/* The two candidates of natural compression for x (double): lo <= |x| <= hi. */
static void natural_candidates(float x, double *lo, double *hi) {
    double a = fabs((double)x);
    if (a == 0) {
        *lo = *hi = 0;
    } else if (a < ldexp(1.0, -126)) {
        *lo = 0;
        *hi = ldexp(1.0, -126);
    } else {
        int e;
        frexp(a, &e); /* a in [2^(e-1), 2^e) */
        *lo = ldexp(1.0, e - 1);
        *hi = a == *lo ? *lo : ldexp(1.0, e);
        if (e - 1 >= 127)
            *hi = *lo; /* 2^128 is not a float: rounded down */
    }
}

static void test_natural_values(void) {
    gsl_rng *r = qt_rng(101);
    float v[1000], out[1000];
    for (int kind = 0; kind < QT_IN_COUNT; kind++) {
        quant *q = qt_alloc("natural", 1, 1000);
        if (!q)
            break;
        qt_fill(v, 1000, kind, r);
        v[0] = 3e38f; /* >= 2^127: rounds down */
        v[1] = -0.0f;
        v[2] = 0x1p-149f;
        uint64_t nb;
        if (encode_decode(q, v, qt_ctx(5, 1, (uint32_t)kind, 2), out, &nb) == QSGD_OK) {
            QT_CHECK(nb == 9000, "natural: %llu bits for 1000 values", (unsigned long long)nb);
            for (size_t i = 0; i < 1000; i++) {
                double lo, hi, a = fabs((double)out[i]);
                natural_candidates(v[i], &lo, &hi);
                if (!QT_CHECK((a == lo || a == hi) && !signbit(out[i]) == !signbit(v[i]),
                              "natural %s: v = %a -> %a, candidates %a, %a", qt_input_names[kind],
                              v[i], out[i], lo, hi))
                    break;
            }
        }
        quant_free(q);
    }
    gsl_rng_free(r);
}

/* Unbiased, with the exact per-coordinate variance, and the variance ratio <= 1/8. */
static void test_natural_unbiased_variance(void) {
    enum { N = 64, T = 20000 };
    float v[N], out[N];
    double sum[N] = {0}, var[N], vv = 0, exact = 0, sq = 0;
    for (size_t i = 0; i < N; i++) {
        static const float base[] = {1.5f, 4.0f / 3.0f, -0.3f, 1.0f, 7.9f, -1e-20f, 3e-39f, 1e30f};
        v[i] = base[i % 8] * (float)(1 + i / 8);
        double lo, hi, a = fabs((double)v[i]);
        natural_candidates(v[i], &lo, &hi);
        var[i] = (a - lo) * (hi - a); /* Bernoulli between lo and hi with mean a */
        exact += var[i];
        vv += a * a;
    }
    quant *q = qt_alloc("natural", 1, N);
    if (!q)
        return;
    for (uint32_t t = 0; t < T; t++) {
        quant_ctx ctx = qt_ctx(77, 0, t, 0);
        qsgd_err err;
        quant_quantize(q, v, &ctx, out, &err);
        for (size_t i = 0; i < N; i++) {
            sum[i] += out[i];
            double d = (double)out[i] - v[i];
            sq += d * d;
        }
    }
    for (size_t i = 0; i < N; i++) {
        double lo, hi;
        natural_candidates(v[i], &lo, &hi);
        QT_CHECK(mean_ok(sum[i] / T, v[i], var[i], hi - lo, T, 0),
                 "natural: mean of %d draws of v[%zu] = %g is %.9g (sd of the mean %g)", T, i, v[i],
                 sum[i] / T, sqrt(var[i] / T));
        /* the 1/8 bound holds for normal floats; a subnormal rounds to 0 or 2^-126 */
        if (fabs((double)v[i]) >= 0x1p-126)
            QT_CHECK(var[i] <= (double)v[i] * v[i] / 8 * (1 + 1e-12), "variance of %g above v^2/8",
                     v[i]);
        else
            QT_CHECK(var[i] <= fabs((double)v[i]) * 0x1p-126, "variance of subnormal %g", v[i]);
    }
    /* the empirical variance ratio against its exact value (the 1e30 terms dominate: tol
     * 5% of a quantity known to be <= 1/8) */
    double ratio = sq / T / vv, want = exact / vv;
    QT_CHECK(fabs(ratio - want) <= 0.05 * want && ratio <= 0.125 * 1.05,
             "natural: E||C(v)-v||^2/||v||^2 = %.5f, exact %.5f, bound 1/8", ratio, want);
    /* the bound is attained at 4/3 2^k: ratio exactly 1/8 */
    for (size_t i = 0; i < N; i++)
        v[i] = (i % 2 ? -4.0f : 4.0f) / 3.0f * (float)(1u << (i % 5));
    sq = vv = exact = 0;
    for (size_t i = 0; i < N; i++) {
        double lo, hi, a = fabs((double)v[i]);
        natural_candidates(v[i], &lo, &hi);
        exact += (a - lo) * (hi - a);
        vv += a * a;
    }
    for (uint32_t t = 0; t < T; t++) {
        quant_ctx ctx = qt_ctx(78, 0, t, 0);
        qsgd_err err;
        quant_quantize(q, v, &ctx, out, &err);
        for (size_t i = 0; i < N; i++)
            sq += ((double)out[i] - v[i]) * ((double)out[i] - v[i]);
    }
    QT_CHECK(fabs(exact / vv - 0.125) < 1e-6 && fabs(sq / T / vv - 0.125) < 0.005,
             "natural at 4/3: exact ratio %.6f, empirical %.6f, want 1/8", exact / vv, sq / T / vv);
    printf(" [ratio %.5f vs exact %.5f]", ratio, want);
    quant_free(q);
}

static void test_natural_decoder(void) {
    quant *q = qt_alloc("natural", 1, 9);
    if (!q)
        return;
    /* 9 exponent bytes, then 9 sign bits (2 bytes, 81 bits in all) */
    uint8_t msg[11] = {127, 128, 0, 1, 254, 126, 0, 130, 127, 0x40, 0x80};
    float out[9];
    qsgd_err err = {0};
    int rc = quant_decode(q, msg, 11, 81, out, &err);
    static const float want[9] = {1.0f, -2.0f, 0.0f, 0x1p-126f, 0x1p127f, 0.5f, 0.0f, 8.0f, -1.0f};
    QT_CHECK(rc == QSGD_OK, "natural: hand-made message refused: %s", err.msg);
    for (int i = 0; i < 9; i++)
        QT_CHECK(out[i] == want[i] && !signbit(out[i]) == !signbit(want[i]),
                 "natural: hand-made code %d decodes to %a, want %a", i, out[i], want[i]);
    msg[4] = 255;
    rc = quant_decode(q, msg, 11, 81, out, &err);
    QT_CHECK(rc == QSGD_ECORRUPT && err.bit == 32,
             "natural: exponent 255 at bit 32: rc %d bit %llu", rc, (unsigned long long)err.bit);
    quant_free(q);
}

/* ---- terngrad ---------------------------------------------------------------------------- */
/* Reference scale of a bucket: max |v|, clipped at c * sigma (population sd about the mean). */
static double ref_scale(const float *v, size_t len, double c) {
    double mx = 0, mean = 0, var = 0;
    for (size_t i = 0; i < len; i++) {
        mx = fmax(mx, fabs((double)v[i]));
        mean += v[i];
    }
    mean /= (double)len;
    for (size_t i = 0; i < len; i++)
        var += ((double)v[i] - mean) * ((double)v[i] - mean);
    double cs = c * sqrt(var / (double)len);
    return c > 0 && cs > 0 && cs < mx ? cs : mx;
}

static void test_terngrad_values(void) {
    static const struct {
        const char *spec;
        size_t d;
        double c;
    } cases[] = {{"terngrad", 0, 0},
                 {"terngrad:bucket=100", 100, 0},
                 {"terngrad:clip=2.5", 0, 2.5},
                 {"terngrad:clip=1,bucket=64", 64, 1}};
    gsl_rng *r = qt_rng(102);
    float v[1000], out[1000];
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        quant *q = qt_alloc(cases[k].spec, 1, 1000);
        if (!q)
            continue;
        size_t d = cases[k].d ? cases[k].d : 1000, B = (1000 + d - 1) / d;
        QT_CHECK(quant_max_bits(q) == 32 * B + 2000, "%s: max_bits %llu", cases[k].spec,
                 (unsigned long long)quant_max_bits(q));
        for (int kind = 0; kind < QT_IN_COUNT; kind++) {
            qt_fill(v, 1000, kind, r);
            uint64_t nb;
            if (encode_decode(q, v, qt_ctx(9, 0, (uint32_t)kind, 1), out, &nb) != QSGD_OK)
                continue;
            QT_CHECK(nb == 32 * B + 2000, "%s: %llu bits", cases[k].spec, (unsigned long long)nb);
            for (size_t b0 = 0; b0 < 1000; b0 += d) {
                size_t len = b0 + d <= 1000 ? d : 1000 - b0;
                double s = ref_scale(v + b0, len, cases[k].c);
                for (size_t i = b0; i < b0 + len; i++) {
                    double o = out[i], a = fabs((double)v[i]);
                    /* s as a float: relative 1e-6, or one subnormal unit */
                    double tol = 1e-6 * s + 0x1p-149;
                    int ok = o == 0 || fabs(fabs(o) - s) <= tol;
                    ok &= o == 0 || (o > 0) == (v[i] > 0);
                    if (a >= s + tol && s > 0) /* clipped: always sent */
                        ok &= fabs(fabs(o) - s) <= tol;
                    if (!QT_CHECK(ok, "%s %s: v[%zu] = %g -> %g, scale %g", cases[k].spec,
                                  qt_input_names[kind], i, v[i], o, s))
                        break;
                }
            }
        }
        quant_free(q);
    }
    gsl_rng_free(r);
}

/* Without clipping: the same draw as QSGD with one level and the max norm. */
static void test_terngrad_is_qsgd_s1_max(void) {
    gsl_rng *r = qt_rng(103);
    float v[1000], a[1000], b[1000];
    static const size_t ds[] = {0, 7, 128};
    for (size_t k = 0; k < 3; k++) {
        char st[64], sq[64];
        snprintf(st, sizeof st, "terngrad:bucket=%zu", ds[k]);
        snprintf(sq, sizeof sq, "qsgd:s=1,norm=max,bucket=%zu", ds[k]);
        quant *qt = qt_alloc(st, 1, 1000), *qq = qt_alloc(sq, 1, 1000);
        for (int kind = 0; qt && qq && kind < QT_IN_COUNT; kind++) {
            qt_fill(v, 1000, kind, r);
            quant_ctx ctx = qt_ctx(11, 2, (uint32_t)kind, 3);
            qsgd_err err;
            quant_quantize(qt, v, &ctx, a, &err);
            quant_quantize(qq, v, &ctx, b, &err);
            size_t i = qt_first_diff(a, b, 1000);
            QT_CHECK(i == 1000, "%s vs %s %s: differ at %zu (%g vs %g)", st, sq,
                     qt_input_names[kind], i, i < 1000 ? a[i] : 0.0, i < 1000 ? b[i] : 0.0);
        }
        quant_free(qt);
        quant_free(qq);
    }
    gsl_rng_free(r);
}

static void test_terngrad_unbiased(void) {
    enum { N = 50, T = 20000 };
    float v[N], out[N];
    double sum[N] = {0}, sq = 0, exact = 0;
    for (size_t i = 0; i < N; i++)
        v[i] = (float)(i % 3 == 0 ? -1.0 : 1.0) * (float)(i + 1) / (float)N;
    double s = 1.0; /* max |v| */
    for (size_t i = 0; i < N; i++)
        exact += fabs((double)v[i]) * (s - fabs((double)v[i]));
    quant *q = qt_alloc("terngrad", 1, N);
    if (!q)
        return;
    for (uint32_t t = 0; t < T; t++) {
        quant_ctx ctx = qt_ctx(5, 0, t, 0);
        qsgd_err err;
        quant_quantize(q, v, &ctx, out, &err);
        for (size_t i = 0; i < N; i++) {
            sum[i] += out[i];
            sq += ((double)out[i] - v[i]) * ((double)out[i] - v[i]);
        }
    }
    for (size_t i = 0; i < N; i++) {
        double a = fabs((double)v[i]);
        QT_CHECK(mean_ok(sum[i] / T, v[i], a * (s - a), s, T, 1e-6),
                 "terngrad: mean of v[%zu] = %g is %.6f", i, v[i], sum[i] / T);
    }
    double var = sq / T;
    QT_CHECK(fabs(var - exact) <= 0.03 * exact, "terngrad: E||C(v)-v||^2 = %.4f, exact %.4f", var,
             exact);
    printf(" [variance %.4f vs exact %.4f]", var, exact);
    quant_free(q);
}

static void test_terngrad_decoder_and_spec(void) {
    quant *q = qt_alloc("terngrad:bucket=4", 1, 8);
    if (!q)
        return;
    /* scales 2.0, 0.0; codes: +s, 0, -s, 0 | 0, 0, 0, 0 */
    uint8_t msg[10] = {0x40, 0, 0, 0, 0, 0, 0, 0, 0x4c, 0x00};
    float out[8];
    qsgd_err err = {0};
    int rc = quant_decode(q, msg, 10, 80, out, &err);
    QT_CHECK(rc == QSGD_OK && out[0] == 2.0f && out[1] == 0 && out[2] == -2.0f && out[4] == 0,
             "terngrad: hand-made message: rc %d (%s), %g %g %g", rc, err.msg, out[0], out[1],
             out[2]);
    msg[8] = 0x80; /* code 10 at coordinate 0 */
    rc = quant_decode(q, msg, 10, 80, out, &err);
    QT_CHECK(rc == QSGD_ECORRUPT && err.bit == 64, "terngrad: code 10: rc %d bit %llu", rc,
             (unsigned long long)err.bit);
    msg[8] = 0x4c;
    msg[9] = 0x10; /* +s in a bucket of scale 0 (coordinate 5) */
    rc = quant_decode(q, msg, 10, 80, out, &err);
    QT_CHECK(rc == QSGD_ECORRUPT && err.bit == 74,
             "terngrad: nonzero code with scale 0: rc %d "
             "bit %llu",
             rc, (unsigned long long)err.bit);
    msg[9] = 0;
    msg[0] = 0xc0; /* scale -2 */
    rc = quant_decode(q, msg, 10, 80, out, &err);
    QT_CHECK(rc == QSGD_ECORRUPT && err.bit == 0, "terngrad: negative scale: rc %d", rc);
    quant_free(q);

    char d[96];
    q = qt_alloc("terngrad:clip=2.50", 1, 10);
    if (q) {
        quant_describe(q, d, sizeof d);
        QT_CHECK(strcmp(d, "terngrad:bucket=10,clip=2.5") == 0, "describe '%s'", d);
    }
    quant_free(q);
    /* the clip value is rounded to its description: both instances draw the same */
    q = qt_alloc("terngrad:clip=0.123456789", 1, 10);
    quant *q2 = qt_alloc("terngrad:clip=0.123457", 1, 10);
    if (q && q2) {
        quant_describe(q, d, sizeof d);
        QT_CHECK(strcmp(d, "terngrad:bucket=10,clip=0.123457") == 0, "describe '%s'", d);
        float v[10] = {1, -2, 3, -4, 5, -6, 7, -8, 9, -10}, a[10], b2[10];
        quant_ctx ctx = qt_ctx(1, 0, 0, 0);
        quant_quantize(q, v, &ctx, a, &err);
        quant_quantize(q2, v, &ctx, b2, &err);
        QT_CHECK(qt_first_diff(a, b2, 10) == 10, "clip=0.123456789 differs from its description");
    }
    quant_free(q);
    quant_free(q2);
    q = qt_alloc("terngrad", 1, 10);
    if (q) {
        quant_describe(q, d, sizeof d);
        QT_CHECK(strcmp(d, "terngrad:bucket=10,clip=none") == 0, "describe '%s'", d);
    }
    quant_free(q);
    static const char *const bad[] = {"terngrad:clip=abc", "terngrad:clip=0", "terngrad:clip=-1",
                                      "terngrad:clip=", "terngrad:s=3"};
    for (size_t k = 0; k < 5; k++) {
        qsgd_err e = {0};
        quant *b = quant_alloc_spec(bad[k], 1, 10, &e);
        QT_CHECK(!b && e.code == QSGD_EINVAL && e.msg[0], "'%s' accepted", bad[k]);
        quant_free(b);
    }
    char l[64];
    QT_CHECK(quant_spec_label("terngrad:clip=2.5,d=64", 1, l, sizeof l) == 0 &&
                 strcmp(l, "TernGrad clip=2.5 d=64") == 0,
             "terngrad label '%s'", l);
}

/* ---- signsgd --------------------------------------------------------------------------- */
static void test_signsgd(void) {
    float v[37] = {0}, out[37];
    for (int i = 0; i < 37; i++)
        v[i] = (i % 3 == 0 ? -1.0f : 1.0f) * (float)i * 0.25f;
    v[1] = -0.0f;
    v[2] = 0x1p-149f;
    v[3] = -0x1p-149f;
    quant *q = qt_alloc("signsgd", 1, 37);
    if (!q)
        return;
    uint64_t nb;
    if (encode_decode(q, v, qt_ctx(1, 0, 0, 0), out, &nb) == QSGD_OK) {
        QT_CHECK(nb == 37, "signsgd: %llu bits", (unsigned long long)nb);
        for (int i = 0; i < 37; i++)
            QT_CHECK(out[i] == (v[i] >= 0 ? 1.0f : -1.0f), "signsgd: v[%d] = %g -> %g", i, v[i],
                     out[i]);
    }
    /* every 37-bit message decodes to +-1 */
    uint8_t msg[5];
    gsl_rng *r = qt_rng(104);
    for (int t = 0; t < 100; t++) {
        for (int k = 0; k < 5; k++)
            msg[k] = (uint8_t)gsl_rng_get(r);
        qsgd_err err;
        int rc = quant_decode(q, msg, 5, 37, out, &err);
        int ok = rc == QSGD_OK;
        for (int i = 0; ok && i < 37; i++)
            ok = out[i] == ((msg[i / 8] >> (7 - i % 8)) & 1 ? 1.0f : -1.0f);
        QT_CHECK(ok, "signsgd: random message: rc %d", rc);
    }
    gsl_rng_free(r);
    quant_free(q);
}

/* ---- efsignsgd ------------------------------------------------------------------------- */
static void test_efsignsgd_recursion(void) {
    static const struct {
        const char *spec;
        size_t rows, cols, d;
        int fb;
    } cases[] = {{"efsignsgd", 1, 1000, 0, 1},
                 {"efsignsgd:bucket=64", 1, 1000, 64, 1},
                 {"efsignsgd:bucket=7", 33, 17, 7, 1},
                 {"efsignsgd:feedback=0", 1, 100, 0, 0}};
    gsl_rng *r = qt_rng(105);
    static float g[1000], out[1000], e[1000], p[1000];
    static double sumg[1000], sumd[1000];
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        quant *q = qt_alloc(cases[k].spec, cases[k].rows, cases[k].cols);
        if (!q)
            continue;
        size_t n = q->n, d = cases[k].d ? cases[k].d : n, B = (n + d - 1) / d;
        memset(sumg, 0, sizeof sumg);
        memset(sumd, 0, sizeof sumd);
        QT_CHECK(quant_max_bits(q) == 32 * B + n, "%s: max_bits %llu", cases[k].spec,
                 (unsigned long long)quant_max_bits(q));
        for (uint32_t t = 0; t < 20; t++) {
            qt_fill(g, n, t % 5 == 4 ? QT_IN_SPARSE : QT_IN_GAUSS, r);
            memcpy(e, quant_residual(q), n * sizeof *e);
            for (size_t i = 0; i < n; i++)
                p[i] = g[i] + e[i];
            uint64_t nb;
            if (encode_decode(q, g, qt_ctx(3, 0, t, 0), out, &nb) != QSGD_OK)
                break;
            QT_CHECK(nb == 32 * B + n, "%s: %llu bits", cases[k].spec, (unsigned long long)nb);
            const float *e2 = quant_residual(q);
            int ok = 1;
            for (size_t b0 = 0; b0 < n && ok; b0 += d) {
                size_t len = b0 + d <= n ? d : n - b0;
                double l1 = 0;
                for (size_t i = b0; i < b0 + len; i++)
                    l1 += fabs((double)p[i]);
                double s = l1 / (double)len;
                for (size_t i = b0; i < b0 + len && ok; i++) {
                    double want = p[i] >= 0 ? s : -s;
                    ok = fabs(out[i] - want) <= 1e-6 * s + 1e-30;
                    ok &= (out[i] >= 0) == (p[i] >= 0) && fabsf(out[i]) == fabsf(out[b0]);
                    /* e' = p - decoded, exactly in float; 0 without feedback */
                    float we = cases[k].fb ? p[i] - out[i] : 0.0f;
                    ok &= qt_same_bits(e2[i], we);
                    QT_CHECK(ok, "%s step %u: i %zu: p %g, decoded %g (want %g), e' %g (want %g)",
                             cases[k].spec, t, i, p[i], out[i], want, e2[i], we);
                }
            }
            for (size_t i = 0; i < n; i++) {
                sumg[i] += g[i];
                sumd[i] += out[i];
            }
            if (!ok)
                break;
        }
        /* feedback identity: sum decoded = sum g - e_T */
        if (cases[k].fb) {
            const float *eT = quant_residual(q);
            double worst = 0;
            for (size_t i = 0; i < n; i++)
                worst = fmax(worst, fabs(sumd[i] - (sumg[i] - eT[i])));
            QT_CHECK(worst < 1e-4, "%s: |sum decoded - (sum g - e_T)| up to %g", cases[k].spec,
                     worst);
        }
        /* reset: the next step equals a fresh instance's */
        quant_reset(q);
        quant *f = qt_alloc(cases[k].spec, cases[k].rows, cases[k].cols);
        if (f) {
            float o2[1000];
            quant_ctx ctx = qt_ctx(3, 0, 99, 0);
            qsgd_err err;
            quant_quantize(q, g, &ctx, out, &err);
            quant_quantize(f, g, &ctx, o2, &err);
            QT_CHECK(qt_first_diff(out, o2, n) == n, "%s: reset does not restore a fresh state",
                     cases[k].spec);
        }
        quant_free(f);
        quant_free(q);
    }
    gsl_rng_free(r);
}

/* Minimise f(x) = 1/2 ||x - x*||^2 with x* of mixed magnitudes (10 and 0.01): gradient
 * descent on the decoded scaled sign with error feedback converges (Karimireddy et al.);
 * the distance without feedback is printed beside it. */
static void test_efsignsgd_converges(void) {
    enum { N = 64, STEPS = 3000 };
    float xs[N], x[N], g[N], dec[N];
    for (size_t i = 0; i < N; i++)
        xs[i] = (float)(i % 4 == 0 ? 10.0 : 0.01) * (i % 2 ? -1.0f : 1.0f);
    double dist[2];
    for (int fb = 0; fb < 2; fb++) {
        quant *q = qt_alloc(fb ? "efsignsgd" : "efsignsgd:feedback=0", 1, N);
        if (!q)
            return;
        memset(x, 0, sizeof x);
        for (uint32_t t = 0; t < STEPS; t++) {
            for (size_t i = 0; i < N; i++)
                g[i] = x[i] - xs[i];
            quant_ctx ctx = qt_ctx(1, 0, t, 0);
            qsgd_err err;
            quant_quantize(q, g, &ctx, dec, &err);
            for (size_t i = 0; i < N; i++)
                x[i] -= 0.05f * dec[i];
        }
        double d2 = 0, n2 = 0;
        for (size_t i = 0; i < N; i++) {
            d2 += ((double)x[i] - xs[i]) * ((double)x[i] - xs[i]);
            n2 += (double)xs[i] * xs[i];
        }
        dist[fb] = sqrt(d2 / n2);
        quant_free(q);
    }
    QT_CHECK(dist[1] < 1e-5, "efsignsgd: relative distance %g with feedback, %g without", dist[1],
             dist[0]);
    printf(" [distance %.2g with EF, %.2g without]", dist[1], dist[0]);
}

static void test_efsignsgd_decoder(void) {
    quant *q = qt_alloc("efsignsgd:bucket=4", 1, 6);
    if (!q)
        return;
    /* scales 0.5, 0.0 (-0.0 refused); bits 1 0 1 1 | 0 1 */
    uint8_t msg[9] = {0x3f, 0, 0, 0, 0, 0, 0, 0, 0xb4};
    float out[6];
    qsgd_err err = {0};
    int rc = quant_decode(q, msg, 9, 70, out, &err);
    QT_CHECK(rc == QSGD_OK && out[0] == 0.5f && out[1] == -0.5f && out[4] == 0 && signbit(out[4]) &&
                 out[5] == 0 && !signbit(out[5]),
             "efsignsgd: hand-made message rc %d: %g %g %g %g", rc, out[0], out[1], out[4], out[5]);
    msg[4] = 0x80; /* -0.0 */
    rc = quant_decode(q, msg, 9, 70, out, &err);
    QT_CHECK(rc == QSGD_ECORRUPT && err.bit == 32, "efsignsgd: scale -0.0: rc %d bit %llu", rc,
             (unsigned long long)err.bit);
    msg[4] = 0x7f;
    msg[5] = 0x80; /* +inf */
    rc = quant_decode(q, msg, 9, 70, out, &err);
    QT_CHECK(rc == QSGD_ECORRUPT && err.bit == 32, "efsignsgd: scale inf: rc %d", rc);
    quant_free(q);
    char l[64];
    QT_CHECK(quant_spec_label("efsignsgd:feedback=0,d=8", 1, l, sizeof l) == 0 &&
                 strcmp(l, "EF-signSGD no EF d=8") == 0,
             "efsignsgd label '%s'", l);
}

/* Non-finite input refused naming the index, by every type of this file, state unchanged. */
static void test_nonfinite(void) {
    static const char *const specs[] = {"natural", "terngrad",  "terngrad:clip=2.5,bucket=100",
                                        "signsgd", "efsignsgd", "efsignsgd:bucket=100"};
    static const float bads[] = {NAN, INFINITY, -INFINITY};
    float v[1000], out[1000], o2[1000];
    uint8_t buf[4200];
    for (size_t k = 0; k < sizeof specs / sizeof *specs; k++) {
        quant *q = qt_alloc(specs[k], 1, 1000), *f = qt_alloc(specs[k], 1, 1000);
        if (!q || !f) {
            quant_free(q);
            quant_free(f);
            continue;
        }
        for (int b = 0; b < 3; b++)
            for (size_t at = 3; at < 1000; at += 900) {
                for (size_t i = 0; i < 1000; i++)
                    v[i] = (float)i - 400.5f;
                v[at] = bads[b];
                char idx[24];
                snprintf(idx, sizeof idx, "index %zu", at);
                quant_ctx ctx = qt_ctx(1, 0, 0, 0);
                qsgd_err err = {0};
                uint64_t nb;
                int rc = quant_quantize(q, v, &ctx, out, &err);
                QT_CHECK(rc == QSGD_EINVAL && strstr(err.msg, idx),
                         "%s quantize v[%zu] = %g: %d '%s'", specs[k], at, v[at], rc, err.msg);
                rc = quant_encode(q, v, &ctx, buf, sizeof buf, &nb, &err);
                QT_CHECK(rc == QSGD_EINVAL && strstr(err.msg, idx),
                         "%s encode v[%zu] = %g: %d '%s'", specs[k], at, v[at], rc, err.msg);
            }
        for (size_t i = 0; i < 1000; i++)
            v[i] = (float)i - 400.5f;
        quant_ctx ctx = qt_ctx(1, 0, 1, 0);
        qsgd_err err;
        quant_quantize(q, v, &ctx, out, &err);
        quant_quantize(f, v, &ctx, o2, &err);
        QT_CHECK(qt_first_diff(out, o2, 1000) == 1000, "%s: a refused input changed the state",
                 specs[k]);
        quant_free(q);
        quant_free(f);
    }
}

int main(void) {
    double t0 = qt_now();
    static const qt_test tests[] = {
        {"natural: outputs are the neighbouring powers of two", test_natural_values},
        {"natural: unbiased, variance exact and <= ||v||^2/8", test_natural_unbiased_variance},
        {"natural: hand-made message, exponent 255 refused", test_natural_decoder},
        {"terngrad: {0, +-s}, s = max|v| or clipped at c sigma", test_terngrad_values},
        {"terngrad: = qsgd:s=1,norm=max without clipping", test_terngrad_is_qsgd_s1_max},
        {"terngrad: unbiased, variance sum |v|(s-|v|)", test_terngrad_unbiased},
        {"terngrad: decoder checks, clip option, label", test_terngrad_decoder_and_spec},
        {"signsgd: +-1, every message valid", test_signsgd},
        {"efsignsgd: scale, signs, e' = p - C(p), identity, reset", test_efsignsgd_recursion},
        {"efsignsgd: gradient descent converges with feedback", test_efsignsgd_converges},
        {"efsignsgd: decoder checks, label", test_efsignsgd_decoder},
        {"non-finite input refused, state unchanged", test_nonfinite},
        {NULL, NULL},
    };
    int rc = qt_run("quant_c1_math", tests);
    printf("quant_c1_math: %.1f s\n", qt_now() - t0);
    return rc;
}
