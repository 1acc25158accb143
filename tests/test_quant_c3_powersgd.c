/* test_quant_c3_powersgd.c — powersgd against references written here:
 *  - one step equals the algorithm computed in double (P = M Q from the documented initial
 *    Q, Gram-Schmidt, Q' = M^T P, P Q'^T) within float rounding; P's columns orthonormal;
 *  - a rank-1 (rank-2) matrix is reproduced by rank 1 (2);
 *  - warm start: with feedback=0 on a fixed M, repeated steps converge to the best rank-r
 *    approximation (the error equals the trailing singular values from GSL's SVD);
 *  - error feedback: e' = (g + e) - C(g + e) bit for bit, so sum of outputs = sum of g - e_T;
 *    reset gives the fresh instance's first output; the initial Q is the same on every
 *    worker (outputs independent of ctx.worker) and differs between tensors;
 *  - bits 32 r (rows + cols), a vector sent as it is (32 n bits);
 *  - the decoder refuses non-finite values and entries of P above 1. */
#include <gsl/gsl_linalg.h>

#include "qrng.h"
#include "quant_test_util.h"

static int run(quant *q, const float *v, quant_ctx ctx, float *out, uint64_t *nb) {
    size_t cap = quant_max_bytes(q);
    uint8_t *buf = malloc(cap);
    qsgd_err err = {0};
    int rc = quant_encode(q, v, &ctx, buf, cap, nb, &err);
    if (rc == QSGD_OK)
        rc = quant_decode(q, buf, cap, *nb, out, &err);
    QT_CHECK(rc == QSGD_OK, "powersgd encode/decode: %s", err.msg);
    free(buf);
    return rc;
}

/* The first step in double: d = P Q'^T, p (rows x r) orthonormalised. */
static void ref_step(const float *m, size_t rows, size_t cols, size_t r, uint64_t seed,
                     uint32_t tensor, double *p, double *d) {
    qrng_stream st = qrng_make(seed, 0, 0, tensor);
    double *qm = malloc(cols * r * sizeof *qm), *qn = calloc(cols * r, sizeof *qn);
    for (size_t k = 0; k < r; k++)
        for (size_t j = 0; j < cols; j++)
            qm[j * r + k] = (double)(int32_t)qrng_word(&st, k * cols + j) / 2147483648.0;
    for (size_t i = 0; i < rows; i++)
        for (size_t k = 0; k < r; k++) {
            double s = 0;
            for (size_t j = 0; j < cols; j++)
                s += (double)m[i * cols + j] * qm[j * r + k];
            p[i * r + k] = s;
        }
    for (size_t k = 0; k < r; k++) {
        for (size_t l = 0; l < k; l++) {
            double dp = 0;
            for (size_t i = 0; i < rows; i++)
                dp += p[i * r + k] * p[i * r + l];
            for (size_t i = 0; i < rows; i++)
                p[i * r + k] -= dp * p[i * r + l];
        }
        double nn = 0;
        for (size_t i = 0; i < rows; i++)
            nn += p[i * r + k] * p[i * r + k];
        for (size_t i = 0; i < rows; i++)
            p[i * r + k] /= sqrt(nn);
    }
    for (size_t j = 0; j < cols; j++)
        for (size_t k = 0; k < r; k++)
            for (size_t i = 0; i < rows; i++)
                qn[j * r + k] += (double)m[i * cols + j] * p[i * r + k];
    for (size_t i = 0; i < rows; i++)
        for (size_t j = 0; j < cols; j++) {
            double s = 0;
            for (size_t k = 0; k < r; k++)
                s += p[i * r + k] * qn[j * r + k];
            d[i * cols + j] = s;
        }
    free(qm);
    free(qn);
}

static double fro(const float *x, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += (double)x[i] * x[i];
    return sqrt(s);
}

static void test_reference(void) {
    enum { ROWS = 16, COLS = 24, R = 3 };
    gsl_rng *g = qt_rng(11);
    float m[ROWS * COLS], out[ROWS * COLS];
    double p[ROWS * R], d[ROWS * COLS];
    qt_fill(m, ROWS * COLS, QT_IN_GAUSS, g);
    quant *q = qt_alloc("powersgd:rank=3", ROWS, COLS);
    uint64_t nb;
    if (q && run(q, m, qt_ctx(77, 2, 5, 4), out, &nb) == QSGD_OK) {
        ref_step(m, ROWS, COLS, R, 77, 4, p, d);
        double err = 0;
        for (size_t i = 0; i < ROWS * COLS; i++)
            err = fmax(err, fabs(out[i] - d[i]));
        QT_CHECK(err <= 1e-4 * fro(m, ROWS * COLS), "powersgd vs double: max |diff| %g", err);
        QT_CHECK(nb == 32ull * R * (ROWS + COLS), "powersgd: %llu bits, want %d",
                 (unsigned long long)nb, 32 * R * (ROWS + COLS));
        const float *e = quant_residual(q);
        size_t bad = 0;
        for (size_t i = 0; i < ROWS * COLS; i++)
            bad += !qt_same_bits(e[i], m[i] - out[i]);
        QT_CHECK(bad == 0, "powersgd: %zu residuals differ from M - C(M)", bad);
    }
    quant_free(q);
    gsl_rng_free(g);
}

static void test_low_rank_exact(void) {
    enum { ROWS = 9, COLS = 13 };
    float m[ROWS * COLS], out[ROWS * COLS];
    for (size_t rank = 1; rank <= 2; rank++) {
        for (size_t i = 0; i < ROWS; i++)
            for (size_t j = 0; j < COLS; j++)
                m[i * COLS + j] = (float)((i + 1.0) * (j - 6.5)) +
                                  (rank == 2 ? (float)((i % 3) * (j % 4 + 1.0)) : 0.0f);
        char spec[32];
        snprintf(spec, sizeof spec, "powersgd:rank=%zu", rank);
        quant *q = qt_alloc(spec, ROWS, COLS);
        uint64_t nb;
        if (q && run(q, m, qt_ctx(1, 0, 0, 0), out, &nb) == QSGD_OK) {
            double err = 0;
            for (size_t i = 0; i < ROWS * COLS; i++)
                err = fmax(err, fabs(out[i] - m[i]));
            QT_CHECK(err <= 1e-5 * fro(m, ROWS * COLS), "rank-%zu matrix: max |diff| %g", rank,
                     err);
        }
        quant_free(q);
    }
}

static void test_warm_start_svd(void) {
    enum { ROWS = 20, COLS = 12, R = 2, STEPS = 60 };
    gsl_rng *g = qt_rng(12);
    float m[ROWS * COLS], out[ROWS * COLS];
    qt_fill(m, ROWS * COLS, QT_IN_GAUSS, g);
    for (size_t j = 0; j < COLS; j++) /* a clear spectral gap after the second value */
        for (size_t i = 0; i < ROWS; i++)
            m[i * COLS + j] = (float)(0.2 * m[i * COLS + j] + 3.0 * sin(i + 1.0) * cos(j + 0.5) +
                                      2.0 * cos(2.0 * i) * sin(3.0 * j + 1.0));
    gsl_matrix *a = gsl_matrix_alloc(ROWS, COLS), *v = gsl_matrix_alloc(COLS, COLS);
    gsl_vector *s = gsl_vector_alloc(COLS), *w = gsl_vector_alloc(COLS);
    for (size_t i = 0; i < ROWS; i++)
        for (size_t j = 0; j < COLS; j++)
            gsl_matrix_set(a, i, j, m[i * COLS + j]);
    gsl_linalg_SV_decomp(a, v, s, w);
    double tail = 0;
    for (size_t k = R; k < COLS; k++)
        tail += gsl_vector_get(s, k) * gsl_vector_get(s, k);
    quant *q = qt_alloc("powersgd:rank=2,feedback=0", ROWS, COLS);
    uint64_t nb;
    double e2 = 0;
    for (uint32_t t = 0; q && t < STEPS; t++) {
        if (run(q, m, qt_ctx(3, 0, t, 1), out, &nb) != QSGD_OK)
            break;
        e2 = 0;
        for (size_t i = 0; i < ROWS * COLS; i++)
            e2 += ((double)m[i] - out[i]) * ((double)m[i] - out[i]);
    }
    QT_CHECK(fabs(e2 - tail) <= 1e-3 * tail + 1e-9,
             "warm start: ||M - C(M)||^2 = %.9g after %d steps, best rank-2 error %.9g", e2, STEPS,
             tail);
    quant_free(q);
    gsl_matrix_free(a);
    gsl_matrix_free(v);
    gsl_vector_free(s);
    gsl_vector_free(w);
    gsl_rng_free(g);
}

static void test_feedback_and_reset(void) {
    enum { ROWS = 8, COLS = 10, T = 20 };
    gsl_rng *g = qt_rng(13);
    float v[ROWS * COLS], out[ROWS * COLS], first[ROWS * COLS], other[ROWS * COLS];
    double sum_g[ROWS * COLS] = {0}, sum_o[ROWS * COLS] = {0};
    quant *q = qt_alloc("powersgd:rank=1", ROWS, COLS),
          *q2 = qt_alloc("powersgd:rank=1", ROWS, COLS);
    uint64_t nb;
    if (!q || !q2)
        goto done;
    for (uint32_t t = 0; t < T; t++) {
        qt_fill(v, ROWS * COLS, QT_IN_GAUSS, g);
        float m[ROWS * COLS];
        const float *e = quant_residual(q);
        for (size_t i = 0; i < ROWS * COLS; i++)
            m[i] = v[i] + e[i];
        if (run(q, v, qt_ctx(9, 1, t, 2), out, &nb) != QSGD_OK)
            goto done;
        if (t == 0)
            memcpy(first, out, sizeof out);
        size_t bad = 0;
        for (size_t i = 0; i < ROWS * COLS; i++) {
            bad += !qt_same_bits(e[i], m[i] - out[i]);
            sum_g[i] += v[i];
            sum_o[i] += out[i];
        }
        QT_CHECK(bad == 0, "step %u: %zu residuals differ from (g + e) - C(g + e)", t, bad);
    }
    const float *e = quant_residual(q);
    double worst = 0;
    for (size_t i = 0; i < ROWS * COLS; i++)
        worst = fmax(worst, fabs(sum_o[i] - (sum_g[i] - e[i])));
    QT_CHECK(worst <= 1e-4, "sum of outputs - (sum of g - e_T): %g", worst);
    /* reset: the first output again; another worker: the same (same Q); another tensor: not */
    gsl_rng_set(g, 13);
    qt_fill(v, ROWS * COLS, QT_IN_GAUSS, g);
    quant_reset(q);
    if (run(q, v, qt_ctx(9, 1, 0, 2), out, &nb) == QSGD_OK)
        QT_CHECK(qt_first_diff(out, first, ROWS * COLS) == ROWS * COLS,
                 "reset: first output differs");
    if (run(q2, v, qt_ctx(9, 5, 0, 2), other, &nb) == QSGD_OK)
        QT_CHECK(qt_first_diff(other, first, ROWS * COLS) == ROWS * COLS,
                 "worker 5: first output differs (Q must not depend on the worker)");
    quant_reset(q2);
    if (run(q2, v, qt_ctx(9, 1, 0, 3), other, &nb) == QSGD_OK)
        QT_CHECK(qt_first_diff(other, first, ROWS * COLS) < ROWS * COLS,
                 "tensor 3: the same output as tensor 2 (Q should differ)");
done:
    quant_free(q);
    quant_free(q2);
    gsl_rng_free(g);
}

static void test_vector_and_zero(void) {
    float v[37], out[37];
    for (int i = 0; i < 37; i++)
        v[i] = (float)(i - 18) * 0.37f;
    quant *q = qt_alloc("powersgd", 1, 37);
    uint64_t nb;
    if (q && run(q, v, qt_ctx(1, 0, 0, 0), out, &nb) == QSGD_OK)
        QT_CHECK(nb == 32 * 37 && qt_first_diff(out, v, 37) == 37, "vector: %llu bits",
                 (unsigned long long)nb);
    quant_free(q);
    /* a zero step, then a nonzero one: Q is drawn again, the matrix is not lost */
    float z[36] = {0}, m[36], o2[36];
    for (int i = 0; i < 36; i++)
        m[i] = (float)((i / 6 + 1) * (i % 6 - 2));
    q = qt_alloc("powersgd:rank=1,feedback=0", 6, 6);
    if (q && run(q, z, qt_ctx(1, 0, 0, 0), o2, &nb) == QSGD_OK &&
        run(q, m, qt_ctx(1, 0, 1, 0), o2, &nb) == QSGD_OK) {
        double err = 0;
        for (int i = 0; i < 36; i++)
            err = fmax(err, fabs(o2[i] - m[i]));
        QT_CHECK(err <= 1e-4, "after a zero step: max |diff| %g on a rank-1 matrix", err);
    }
    quant_free(q);
}

static void test_corrupt(void) {
    quant *q = qt_alloc("powersgd", 4, 5);
    float v[20], out[20];
    for (int i = 0; i < 20; i++)
        v[i] = (float)(i % 7) - 3.0f;
    size_t cap = q ? quant_max_bytes(q) : 0;
    uint8_t *good = malloc(cap + 1), *b = malloc(cap + 1);
    qsgd_err err = {0};
    quant_ctx ctx = qt_ctx(1, 0, 0, 0);
    uint64_t nb;
    if (!q || quant_encode(q, v, &ctx, good, cap, &nb, &err) != QSGD_OK) {
        QT_FAIL("encode: %s", err.msg);
        goto done;
    }
    struct {
        size_t at;
        uint32_t val;
        const char *what;
    } cases[] = {{3, 0x7fc00000u, "NaN in P"},
                 {0, 0x40000000u, "2.0 in P"},
                 {10, 0x7f800000u, "infinity in Q"},
                 {12, 0xff800000u, "-infinity in Q"}};
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        memcpy(b, good, cap);
        uint8_t *p = b + 4 * cases[c].at;
        p[0] = (uint8_t)(cases[c].val >> 24);
        p[1] = (uint8_t)(cases[c].val >> 16);
        p[2] = (uint8_t)(cases[c].val >> 8);
        p[3] = (uint8_t)cases[c].val;
        int rc = quant_decode(q, b, cap, nb, out, &err);
        QT_CHECK(rc == QSGD_ECORRUPT && err.bit == 32 * cases[c].at, "%s: rc %d at bit %llu: %s",
                 cases[c].what, rc, (unsigned long long)err.bit, err.msg);
    }
    memcpy(b, good, cap);                /* Q entries so large that P Q^T overflows */
    for (size_t at = 0; at < 18; at++) { /* P entries 1.0, Q entries 0x1.fep127 */
        b[4 * at] = at < 8 ? 0x3f : 0x7f;
        b[4 * at + 1] = at < 8 ? 0x80 : 0x7f;
        b[4 * at + 2] = b[4 * at + 3] = 0;
    }
    QT_CHECK(quant_decode(q, b, cap, nb, out, &err) == QSGD_ECORRUPT, "overflow accepted");
    QT_CHECK(quant_decode(q, good, cap, nb - 8, out, &err) == QSGD_ECORRUPT, "truncated accepted");
done:
    free(good);
    free(b);
    quant_free(q);
}

int main(void) {
    static const qt_test tests[] = {
        {"reference", test_reference},
        {"low_rank_exact", test_low_rank_exact},
        {"warm_start_svd", test_warm_start_svd},
        {"feedback_and_reset", test_feedback_and_reset},
        {"vector_and_zero", test_vector_and_zero},
        {"corrupt", test_corrupt},
        {NULL, NULL},
    };
    return qt_run("quant_c3_powersgd", tests);
}
