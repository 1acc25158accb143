/* test_quant_onebit.c — 1-bit SGD with error feedback (Seide et al., Interspeech 2014; see
 * docs/theory.md): the feedback identity sum_t decoded_t = sum_t g_t - residual_T, the
 * reconstruction values (mean of the negative / non-negative entries of g + residual per
 * column of a matrix, per bucket of a vector), the message size, reset, no_feedback, and
 * gradient descent on a quadratic where error feedback is what makes it converge. */
#include "quant_test_util.h"

#define NMAX 4096

/* Shapes and specs: matrices (groups = columns, strided in row-major order) and vectors
 * (groups = buckets of d consecutive values, last bucket partial). */
static const struct {
    size_t rows, cols;
    const char *spec;
} cases[] = {
    {1, 1000, "onebit"},
    {1, 1000, "onebit:bucket=64"},
    {1, 1001, "onebit:bucket=7"},
    {33, 17, "onebit"},
    {7, 300, "onebit"},
    {64, 64, "onebit"},
    {1, 1, "onebit"},
    {5, 1, "onebit"},
    {1, 37, "onebit:bucket=128"},
};
#define NCASES (sizeof cases / sizeof *cases)

/* Group of coordinate i, number of groups. */
static size_t group_of(const quant *q, size_t i) {
    return q->rows > 1 ? i % q->cols : i / qt_bucket(q);
}
static size_t ngroups(const quant *q) {
    return q->rows > 1 ? q->cols : qt_nbuckets(q);
}

/* Reference reconstruction of u = g + residual: per group, mean of negative and of
 * non-negative entries (in double). */
static void ref_means(const quant *q, const float *u, double *m0, double *m1) {
    size_t G = ngroups(q);
    static double c0[NMAX], c1[NMAX];
    for (size_t b = 0; b < G; b++)
        m0[b] = m1[b] = c0[b] = c1[b] = 0;
    for (size_t i = 0; i < q->n; i++) {
        size_t b = group_of(q, i);
        if (u[i] < 0) {
            m0[b] += u[i];
            c0[b]++;
        } else {
            m1[b] += u[i];
            c1[b]++;
        }
    }
    for (size_t b = 0; b < G; b++) {
        m0[b] = c0[b] ? m0[b] / c0[b] : 0;
        m1[b] = c1[b] ? m1[b] / c1[b] : 0;
    }
}

/* Each step: decoded_i == mean of its group's side of u = g + residual, where the side is
 * u_i < 0 or u_i >= 0; residual' == u - decoded (feedback) or 0 (no feedback); the
 * message has 64 bits per group (two floats) plus one bit per value, and decodes to
 * quantize's values. */
static void test_reconstruction_values(void) {
    gsl_rng *r = qt_rng(31);
    static float g[NMAX], u[NMAX], res[NMAX], dec[NMAX], ref[NMAX];
    static double m0[NMAX], m1[NMAX];
    for (size_t c = 0; c < NCASES; c++)
        for (int fb = 1; fb >= 0; fb--) {
            char spec[QT_SPEC_LEN];
            snprintf(spec, sizeof spec, "%s%sfeedback=%d", cases[c].spec,
                     strchr(cases[c].spec, ':') ? "," : ":", fb);
            quant *q = qt_alloc(spec, cases[c].rows, cases[c].cols),
                  *qe = qt_alloc(spec, cases[c].rows, cases[c].cols);
            if (!q || !qe) {
                quant_free(q);
                quant_free(qe);
                continue;
            }
            size_t n = q->n, G = ngroups(q), cap = quant_max_bytes(q);
            uint8_t *buf = malloc(cap);
            QT_CHECK(quant_max_bits(q) == 64ull * G + n,
                     "%s %zux%zu: max_bits %llu, want 64*%zu + %zu", spec, q->rows, q->cols,
                     (unsigned long long)quant_max_bits(q), G, n);
            for (uint32_t t = 0; t < 30; t++) {
                /* columns with different scales and offsets, so that means differ */
                for (size_t i = 0; i < n; i++) {
                    double sc = 1 + (double)group_of(q, i) / 4;
                    g[i] = (float)(sc * gsl_ran_gaussian(r, 1.0) + (t % 3 == 0 ? 0.3 * sc : 0));
                }
                if (t == 5)
                    for (size_t i = 0; i < n; i++)
                        g[i] = fabsf(g[i]); /* groups with no negative entries */
                if (t == 6)
                    memset(g, 0, n * sizeof *g);
                const float *rp = quant_residual(q);
                for (size_t i = 0; i < n; i++) {
                    res[i] = rp ? rp[i] : 0;
                    u[i] = g[i] + res[i];
                }
                ref_means(q, u, m0, m1);
                quant_ctx ctx = qt_ctx(1, 0, t, 0);
                qsgd_err err;
                uint64_t nbits = 0;
                if (!QT_CHECK(quant_quantize(q, g, &ctx, dec, &err) == QSGD_OK &&
                                  quant_encode(qe, g, &ctx, buf, cap, &nbits, &err) == QSGD_OK &&
                                  quant_decode(qe, buf, cap, nbits, ref, &err) == QSGD_OK,
                              "%s: %s", spec, err.msg))
                    break;
                QT_CHECK(nbits == 64ull * G + n, "%s: nbits %llu, want %llu", spec,
                         (unsigned long long)nbits, (unsigned long long)(64ull * G + n));
                size_t i = qt_first_diff(dec, ref, n);
                QT_CHECK(i == n, "%s step %u: decode(encode) != quantize at %zu", spec, t, i);
                const float *rn = quant_residual(q);
                for (i = 0; i < n; i++) {
                    size_t b = group_of(q, i);
                    double want = u[i] < 0 ? m0[b] : m1[b];
                    double tol = 2e-7 * (fabs(m0[b]) + fabs(m1[b])) + 1e-30;
                    if (!QT_CHECK(fabs(dec[i] - want) <= tol,
                                  "%s %zux%zu step %u: decoded[%zu] = %.9g, mean of the %s entries "
                                  "of its %s %zu = %.9g",
                                  spec, q->rows, q->cols, t, i, dec[i],
                                  u[i] < 0 ? "negative" : "non-negative",
                                  q->rows > 1 ? "column" : "bucket", b, want))
                        break;
                    float want_r = fb ? u[i] - dec[i] : 0.0f;
                    if (!QT_CHECK(rn && rn[i] == want_r,
                                  "%s step %u: residual[%zu] = %.9g, want u - decoded = %.9g", spec,
                                  t, i, rn ? rn[i] : NAN, want_r))
                        break;
                }
                /* without feedback u = g: special inputs have known outputs */
                if (!fb && t == 5)
                    for (i = 0; i < n; i++)
                        if (!QT_CHECK(dec[i] >= 0, "%s: all-non-negative input decoded %g", spec,
                                      dec[i]))
                            break;
                if (!fb && t == 6)
                    for (i = 0; i < n; i++)
                        if (!QT_CHECK(qt_same_bits(dec[i], 0.0f), "%s: zero input decoded %g", spec,
                                      dec[i]))
                            break;
            }
            free(buf);
            quant_free(q);
            quant_free(qe);
        }
    gsl_rng_free(r);
}

/* sum_t decoded_t == sum_t g_t - residual_T up to float rounding of the residual updates
 * (each step rounds g + r and g + r - decoded once: <= 2^-24 relative each). */
static void test_feedback_identity(void) {
    gsl_rng *r = qt_rng(32);
    static float g[NMAX], dec[NMAX], prev[NMAX];
    static double sg[NMAX], sd[NMAX], mag[NMAX];
    const uint32_t T = 400;
    for (size_t c = 0; c < NCASES; c++) {
        quant *q = qt_alloc(cases[c].spec, cases[c].rows, cases[c].cols);
        if (!q)
            continue;
        size_t n = q->n, cap = quant_max_bytes(q);
        uint8_t *buf = malloc(cap);
        memset(sg, 0, n * sizeof *sg);
        memset(sd, 0, n * sizeof *sd);
        memset(mag, 0, n * sizeof *mag);
        memset(prev, 0, n * sizeof *prev);
        for (uint32_t t = 0; t < T; t++) {
            double scale = exp(gsl_ran_gaussian(r, 1.0)); /* steps of varying magnitude */
            for (size_t i = 0; i < n; i++)
                g[i] = (float)(scale * (gsl_ran_gaussian(r, 1.0) + 0.1 * (i % 5)));
            quant_ctx ctx = qt_ctx(2, 0, t, 0);
            qsgd_err err;
            uint64_t nbits;
            if (!QT_CHECK(quant_encode(q, g, &ctx, buf, cap, &nbits, &err) == QSGD_OK &&
                              quant_decode(q, buf, cap, nbits, dec, &err) == QSGD_OK,
                          "%s: %s", cases[c].spec, err.msg))
                break;
            const float *res = quant_residual(q);
            for (size_t i = 0; i < n; i++) {
                sg[i] += g[i];
                sd[i] += dec[i];
                mag[i] += fabs((double)g[i]) + fabs((double)prev[i]) + fabs((double)res[i]);
                prev[i] = res[i];
            }
        }
        const float *res = quant_residual(q);
        double worst = 0;
        size_t wi = 0;
        for (size_t i = 0; i < n; i++) {
            double e = fabs(sd[i] - (sg[i] - res[i])) / (mag[i] * 0x1p-23 + 1e-300);
            if (e > worst) {
                worst = e;
                wi = i;
            }
        }
        QT_CHECK(worst <= 1.0,
                 "%s %zux%zu: coordinate %zu: sum decoded %.12g, sum g - residual %.12g (error "
                 "%.3g x the rounding allowance)",
                 cases[c].spec, cases[c].rows, cases[c].cols, wi, sd[wi], sg[wi] - res[wi], worst);
        free(buf);
        quant_free(q);
    }
    gsl_rng_free(r);
}

/* feedback=0: the residual stays zero and each step quantizes g alone. */
static void test_no_feedback(void) {
    gsl_rng *r = qt_rng(33);
    static float g[NMAX], out[NMAX], out2[NMAX];
    for (size_t c = 0; c < NCASES; c++) {
        char spec[QT_SPEC_LEN];
        snprintf(spec, sizeof spec, "%s%sfeedback=0", cases[c].spec,
                 strchr(cases[c].spec, ':') ? "," : ":");
        quant *q = qt_alloc(spec, cases[c].rows, cases[c].cols);
        if (!q)
            continue;
        QT_CHECK(q->params.no_feedback == 1, "%s: no_feedback = %d", spec, q->params.no_feedback);
        for (uint32_t t = 0; t < 20; t++) {
            qt_fill(g, q->n, QT_IN_GAUSS, r);
            quant_ctx ctx = qt_ctx(3, 0, t, 0);
            qsgd_err err;
            CU_ASSERT_EQUAL(quant_quantize(q, g, &ctx, out, &err), QSGD_OK);
            const float *res = quant_residual(q);
            size_t i = 0;
            while (res && i < q->n && res[i] == 0)
                i++;
            if (!QT_CHECK(!res || i == q->n, "%s step %u: residual[%zu] = %g != 0", spec, t, i,
                          res && i < q->n ? res[i] : 0.0))
                break;
            /* same as a fresh instance: no hidden state */
            quant *f = qt_alloc(spec, cases[c].rows, cases[c].cols);
            if (f) {
                quant_quantize(f, g, &ctx, out2, &err);
                QT_CHECK(qt_first_diff(out, out2, q->n) == q->n, "%s: step %u depends on history",
                         spec, t);
            }
            quant_free(f);
        }
        quant_free(q);
    }
    gsl_rng_free(r);
}

/* quant_reset zeroes the residual: the next step equals a fresh instance's. */
static void test_reset(void) {
    gsl_rng *r = qt_rng(34);
    static float g[NMAX], a[NMAX], b[NMAX];
    quant *q = qt_alloc("onebit:bucket=100", 1, 1000), *f = qt_alloc("onebit:bucket=100", 1, 1000);
    if (q && f) {
        quant_ctx ctx = qt_ctx(4, 0, 0, 0);
        qsgd_err err;
        for (int t = 0; t < 5; t++) {
            qt_fill(g, 1000, QT_IN_GAUSS, r);
            quant_quantize(q, g, &ctx, a, &err);
        }
        const float *res = quant_residual(q);
        size_t nz = 0;
        for (size_t i = 0; i < 1000; i++)
            nz += res[i] != 0;
        QT_CHECK(nz > 0, "residual is zero after 5 steps with feedback");
        quant_reset(q);
        res = quant_residual(q);
        nz = 0;
        for (size_t i = 0; i < 1000; i++)
            nz += res[i] != 0;
        QT_CHECK(nz == 0, "%zu residual entries nonzero after quant_reset", nz);
        qt_fill(g, 1000, QT_IN_GAUSS, r);
        quant_quantize(q, g, &ctx, a, &err);
        quant_quantize(f, g, &ctx, b, &err);
        QT_CHECK(qt_first_diff(a, b, 1000) == 1000,
                 "after reset, a step differs from a fresh instance");
    }
    quant_free(q);
    quant_free(f);
    quant_reset(NULL); /* harmless */
    gsl_rng_free(r);
}

/* ---- convergence ----------------------------------------------------------------------------
 * f(x) = 0.5 sum_i a_i (x_i - c_i)^2, n = 1000, a_i in [1, 10], c_i of both signs and
 * magnitudes 0.5..1.5, held by K = 2 data-parallel workers: worker k has
 * f_k(x) = 0.5 sum_i a_ki (x_i - c_ki)^2 with a_1i + a_2i = a_i and a_1i c_1i + a_2i c_2i =
 * a_i c_i, so f_1 + f_2 = f + const; the workers' optima differ by up to +-1 per
 * coordinate (heterogeneous data). Each step every worker quantizes its gradient with its own
 * onebit instance (one bucket) and x -= eta * (decoded_1 + decoded_2).
 *
 * Why these separate the two: without feedback, near x* the sign pattern of worker k's
 * gradient is fixed by the nonzero g_k(x*) = -g_other(x*), and Q is the orthogonal
 * projection onto the span of the sign-group indicators, so the update becomes the
 * projection of grad f onto a 2-dimensional subspace: the other 998 directions of the error
 * are never corrected and f stalls at ~0.2 f(x0) forever (measured: 0.21 at T = 3000, flat
 * from step ~900 on). With feedback, sum_t decoded = sum_t g - residual_T per worker, so x_t = x~_t
 * + eta (r_1 + r_2) where x~_t is exact gradient descent (rate 1 - eta a_i): f falls to an O(eta^2
 * |r|^2) floor, measured ~2e-4 f(x0) at eta = 0.004, well below 1e-3 (it is ~1e-3 at eta = 0.008,
 * ~4e-2 at eta = 0.05 since |r| ~ n |g_k(x*)|). T = 3000 steps is ~3x the time the feedback run
 * needs to reach its floor (eta * a_min * t ~ 12).
 *
 * With a single worker (no heterogeneity), Q(g) is still a descent direction,
 * <Q(g), g> = ||Q(g)||^2 > 0, so plain 1-bit descends monotonically for eta < 2 / a_max:
 * that is checked too, so the separation above is attributable to the heterogeneity. */
#define CN 1000
typedef struct quad {
    double a[2][CN], c[2][CN], A[CN], C[CN];
} quad;

static void quad_make(quad *P, unsigned long seed) {
    gsl_rng *r = qt_rng(seed);
    for (size_t i = 0; i < CN; i++) {
        P->a[0][i] = 0.5 + 4.5 * gsl_rng_uniform(r);
        P->a[1][i] = 0.5 + 4.5 * gsl_rng_uniform(r);
        P->A[i] = P->a[0][i] + P->a[1][i];
        P->C[i] = (i % 3 == 0 ? -1 : 1) * (0.5 + gsl_rng_uniform(r));
        double d = 2 * gsl_rng_uniform(r) - 1; /* worker heterogeneity, +-1 */
        P->c[0][i] = P->C[i] + d;
        P->c[1][i] = P->C[i] - d * P->a[0][i] / P->a[1][i];
    }
    gsl_rng_free(r);
}

static double quad_f(const quad *P, const double *x) {
    double f = 0;
    for (size_t i = 0; i < CN; i++)
        f += 0.5 * P->A[i] * (x[i] - P->C[i]) * (x[i] - P->C[i]);
    return f;
}

/* Runs T steps; K = 1 uses the combined f on one worker. Returns f(x_T)/f(x_0); *monotone is
 * 0 if f ever rose by more than 1e-9 f(x0). */
static double quad_run(const quad *P, int K, int feedback, double eta, int T, int *monotone) {
    char spec[64];
    snprintf(spec, sizeof spec, "onebit:feedback=%d", feedback);
    quant *q[2] = {qt_alloc(spec, 1, CN), K > 1 ? qt_alloc(spec, 1, CN) : NULL};
    static double x[CN];
    static float g[CN], dec[CN];
    memset(x, 0, sizeof x);
    double f0 = quad_f(P, x), fprev = f0;
    *monotone = 1;
    if (!q[0] || (K > 1 && !q[1]))
        return NAN;
    for (int t = 0; t < T; t++) {
        for (int k = 0; k < K; k++) {
            for (size_t i = 0; i < CN; i++)
                g[i] =
                    (float)(K == 1 ? P->A[i] * (x[i] - P->C[i]) : P->a[k][i] * (x[i] - P->c[k][i]));
            quant_ctx ctx = qt_ctx(1, (uint32_t)k, (uint32_t)t, 0);
            qsgd_err err;
            if (!QT_CHECK(quant_quantize(q[k], g, &ctx, dec, &err) == QSGD_OK, "%s", err.msg))
                return NAN;
            for (size_t i = 0; i < CN; i++)
                x[i] -= eta * dec[i];
        }
        double f = quad_f(P, x);
        if (f > fprev + 1e-9 * f0)
            *monotone = 0;
        fprev = f;
    }
    quant_free(q[0]);
    quant_free(q[1]);
    return fprev / f0;
}

static void test_convergence_needs_feedback(void) {
    static quad P;
    quad_make(&P, 35);
    int mono;
    const double eta = 0.004;
    const int T = 3000;
    double ef = quad_run(&P, 2, 1, eta, T, &mono);
    double nf = quad_run(&P, 2, 0, eta, T, &mono);
    printf(" [K=2, eta=%g, T=%d: f/f0 = %.3g with feedback, %.3g without]", eta, T, ef, nf);
    QT_CHECK(ef < 1e-3, "with error feedback f(x_T)/f(x_0) = %.4g, want < 1e-3", ef);
    QT_CHECK(nf > 0.1, "without error feedback f(x_T)/f(x_0) = %.4g, want > 0.1 (stalled)", nf);
    /* one worker: both descend; feedback converges too */
    double e1 = quad_run(&P, 1, 1, 0.05, 2000, &mono);
    QT_CHECK(e1 < 1e-3, "one worker, feedback: f/f0 = %.4g", e1);
    double n1 = quad_run(&P, 1, 0, 0.05, 2000, &mono);
    printf(" [K=1, eta=0.05, T=2000: %.3g with feedback, %.3g without]", e1, n1);
    QT_CHECK(mono && n1 < 1.0,
             "one worker, no feedback: f must fall monotonically (final %.4g, monotone %d)", n1,
             mono);
}

int main(void) {
    double t0 = qt_now();
    static const qt_test tests[] = {
        {"reconstruction = per-column / per-bucket means of g + residual",
         test_reconstruction_values},
        {"sum decoded = sum g - residual", test_feedback_identity},
        {"feedback=0: residual stays zero, no hidden state", test_no_feedback},
        {"quant_reset", test_reset},
        {"quadratic: converges with feedback, stalls without", test_convergence_needs_feedback},
        {NULL, NULL},
    };
    int rc = qt_run("quant_onebit", tests);
    printf("quant_onebit: %.1f s\n", qt_now() - t0);
    return rc;
}
