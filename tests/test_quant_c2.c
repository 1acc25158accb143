/* test_quant_c2.c — the sparse compressors (topk, randomk), their index coder
 * (sparse_index.h) and nuqsgd against independent references: exact values on hand-made
 * vectors, selection against a sort, unbiasedness within confidence intervals derived from
 * the exact variance, the variance bounds, bits per coordinate against each format's formula,
 * and the error-feedback identities. */
#include "bitstream.h"
#include "elias.h"
#include "qrng.h"
#include "qsgd_kernels.h"
#include "quant_test_util.h"
#include "sparse_index.h"

static unsigned omega_len(uint64_t g) {
    unsigned l;
    (void)elias_omega_code(g, &l);
    return l;
}

/* ---- sparse_index ---------------------------------------------------------------------- */
static void test_sparse_index_exact(void) {
    const uint32_t idx[] = {0, 3, 4, 99};
    uint8_t buf[64];
    for (int code = 0; code < 2; code++) {
        uint64_t want = code ? omega_len(1) + omega_len(3) + omega_len(1) + omega_len(95) : 128;
        QT_CHECK(sparse_index_bits((sparse_index_code)code, idx, 4) == want,
                 "code %d: %llu bits, want %llu", code,
                 (unsigned long long)sparse_index_bits((sparse_index_code)code, idx, 4),
                 (unsigned long long)want);
        bitw w;
        bitw_init(&w, buf, sizeof buf);
        sparse_index_put(&w, (sparse_index_code)code, idx, 4);
        uint64_t nb = bitw_finish(&w);
        QT_CHECK(nb == want, "code %d: wrote %llu bits", code, (unsigned long long)nb);
        bitr r;
        uint32_t got[4];
        uint64_t bit;
        const char *why;
        bitr_init(&r, buf, sizeof buf, nb);
        QT_CHECK(sparse_index_get(&r, (sparse_index_code)code, 4, 100, got, &bit, &why) == 0 &&
                     memcmp(got, idx, sizeof idx) == 0 && r.pos == nb,
                 "code %d: read back", code);
        /* n = 99: index 99 is out of range */
        bitr_init(&r, buf, sizeof buf, nb);
        QT_CHECK(sparse_index_get(&r, (sparse_index_code)code, 4, 99, got, &bit, &why) != 0,
                 "code %d: index 99 of n = 99 accepted", code);
        /* a fifth index would need more bits: truncated */
        bitr_init(&r, buf, sizeof buf, nb);
        QT_CHECK(sparse_index_get(&r, (sparse_index_code)code, 5, 100, got, &bit, &why) != 0,
                 "code %d: 5 indices read from a 4-index code", code);
    }
    /* elias: the first gap codes i_0 + 1: "0" (omega(1)) is index 0; the raw code of
     * {5, 5} is not increasing */
    const uint32_t dup[] = {5, 5};
    bitw w;
    bitw_init(&w, buf, sizeof buf);
    sparse_index_put(&w, SPARSE_INDEX_RAW, dup, 2);
    uint64_t nb = bitw_finish(&w);
    bitr r;
    uint32_t got[2];
    uint64_t bit = 0;
    const char *why = "";
    bitr_init(&r, buf, sizeof buf, nb);
    QT_CHECK(sparse_index_get(&r, SPARSE_INDEX_RAW, 2, 10, got, &bit, &why) != 0 && bit == 32,
             "raw {5, 5}: accepted or wrong offset %llu (%s)", (unsigned long long)bit, why);
    /* elias: 3 indices of n = 4 but a first gap of 3 (index 2) leaves one position */
    bitw_init(&w, buf, sizeof buf);
    elias_omega_put(&w, 3);
    elias_omega_put(&w, 1);
    elias_omega_put(&w, 1);
    nb = bitw_finish(&w);
    uint32_t got3[3];
    bitr_init(&r, buf, sizeof buf, nb);
    QT_CHECK(sparse_index_get(&r, SPARSE_INDEX_ELIAS, 3, 4, got3, &bit, &why) != 0 && bit == 0,
             "elias: a gap leaving too few positions accepted (bit %llu)", (unsigned long long)bit);
}

/* max_bits bounds every k-subset of [0, n) (exhaustive for n <= 14), and is near the
 * equal-gap worst case. */
static void test_sparse_index_bound(void) {
    for (unsigned n = 1; n <= 14; n++)
        for (uint32_t m = 1; m < (1u << n); m++) {
            uint32_t idx[14];
            size_t k = 0;
            for (unsigned i = 0; i < n; i++)
                if (m >> i & 1)
                    idx[k++] = i;
            uint64_t b = sparse_index_bits(SPARSE_INDEX_ELIAS, idx, k),
                     bound = sparse_index_max_bits(SPARSE_INDEX_ELIAS, k, n);
            if (!QT_CHECK(b <= bound, "n=%u set %x: %llu bits > bound %llu", n, m,
                          (unsigned long long)b, (unsigned long long)bound))
                return;
        }
    /* large: equal gaps g = n / k, the bound within 3 bits per index of it */
    static const size_t ks[] = {1, 10, 1000, 10486};
    const uint64_t n = (uint64_t)1 << 20;
    static uint32_t idx[10486];
    for (size_t a = 0; a < 4; a++) {
        size_t k = ks[a];
        uint64_t g = n / k;
        for (size_t j = 0; j < k; j++)
            idx[j] = (uint32_t)(g * (j + 1) - 1);
        uint64_t b = sparse_index_bits(SPARSE_INDEX_ELIAS, idx, k),
                 bound = sparse_index_max_bits(SPARSE_INDEX_ELIAS, k, n);
        QT_CHECK(b <= bound && bound <= b + 3 * k + 1, "k=%zu: equal gaps %llu bits, bound %llu", k,
                 (unsigned long long)b, (unsigned long long)bound);
    }
}

/* ---- topk ------------------------------------------------------------------------------- */
static const float *cmp_base;
static int cmp_mag(const void *a, const void *b) { /* |v| descending, index ascending */
    uint32_t i = *(const uint32_t *)a, j = *(const uint32_t *)b;
    float x = fabsf(cmp_base[i]), y = fabsf(cmp_base[j]);
    if (x != y)
        return x > y ? -1 : 1;
    return i < j ? -1 : 1;
}
static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* the k indices a sort selects, increasing */
static void ref_topk(const float *v, size_t n, size_t k, uint32_t *perm, uint32_t *sel) {
    for (size_t i = 0; i < n; i++)
        perm[i] = (uint32_t)i;
    cmp_base = v;
    qsort(perm, n, sizeof *perm, cmp_mag);
    memcpy(sel, perm, k * sizeof *sel);
    qsort(sel, k, sizeof *sel, cmp_u32);
}

static void test_topk_hand(void) {
    static const float v[] = {0.5f, -3.0f, 2.0f, -2.0f, 0.0f, 1.0f};
    static const float want[] = {0.0f, -3.0f, 2.0f, -2.0f, 0.0f, 0.0f};
    quant *q = qt_alloc("topk:k=3,feedback=0", 1, 6);
    if (!q)
        return;
    float out[6];
    quant_ctx ctx = qt_ctx(1, 0, 0, 0);
    qsgd_err err;
    CU_ASSERT_EQUAL(quant_quantize(q, v, &ctx, out, &err), QSGD_OK);
    QT_CHECK(memcmp(out, want, sizeof want) == 0, "topk k=3 of {.5,-3,2,-2,0,1}: %g %g %g %g %g %g",
             out[0], out[1], out[2], out[3], out[4], out[5]);
    /* the message: indices 1, 2, 3 as 32-bit words, then the three floats */
    uint8_t buf[64];
    uint64_t nb;
    CU_ASSERT_EQUAL(quant_encode(q, v, &ctx, buf, sizeof buf, &nb, &err), QSGD_OK);
    QT_CHECK(nb == 6 * 32, "topk k=3 raw: %llu bits", (unsigned long long)nb);
    QT_CHECK(buf[3] == 1 && buf[7] == 2 && buf[11] == 3 && buf[12] == 0xC0 && buf[13] == 0x40,
             "topk raw message layout: %02x %02x %02x | %02x %02x", buf[3], buf[7], buf[11],
             buf[12], buf[13]);
    quant_free(q);
    /* ties: the lowest indices win, k stays exact */
    static const float t[] = {1.0f, -1.0f, 1.0f, 1.0f, -0.5f};
    q = qt_alloc("topk:k=2,feedback=0", 1, 5);
    if (!q)
        return;
    CU_ASSERT_EQUAL(quant_quantize(q, t, &ctx, out, &err), QSGD_OK);
    QT_CHECK(out[0] == 1.0f && out[1] == -1.0f && out[2] == 0 && out[3] == 0 && out[4] == 0,
             "topk ties: %g %g %g %g %g", out[0], out[1], out[2], out[3], out[4]);
    quant_free(q);
    /* k from ratio: max(1, floor(ratio n)) */
    static const struct {
        const char *spec;
        size_t n, k;
    } rk[] = {{"topk", 1000, 10},           {"topk", 50, 1},
              {"topk:ratio=0.29", 100, 29}, {"topk:k=7,ratio=0.5", 10, 7},
              {"topk:k=70", 10, 10},        {"topk:ratio=1", 33, 33}};
    for (size_t a = 0; a < sizeof rk / sizeof *rk; a++) {
        q = qt_alloc(rk[a].spec, 1, rk[a].n);
        if (q)
            QT_CHECK(quant_max_bits(q) == 64ull * rk[a].k, "%s n=%zu: max_bits %llu, k %zu",
                     rk[a].spec, rk[a].n, (unsigned long long)quant_max_bits(q), rk[a].k);
        quant_free(q);
    }
}

/* selection == a sort's on many vectors (ties, zeros, wide ranges), nbits == the formula */
static void test_topk_vs_sort(void) {
    static const size_t ns[] = {1, 2, 31, 1000, 4099, 65536};
    const size_t NM = 65536;
    float *v = malloc(NM * sizeof *v), *out = malloc(NM * sizeof *out);
    uint32_t *perm = malloc(NM * sizeof *perm), *sel = malloc(NM * sizeof *sel);
    uint8_t *buf = NULL;
    gsl_rng *r = qt_rng(71);
    for (size_t a = 0; a < sizeof ns / sizeof *ns; a++)
        for (int kind = 0; kind < QT_IN_COUNT + 1; kind++)
            for (int ki = 0; ki < 3; ki++) {
                size_t n = ns[a], k = ki == 0 ? 1 : ki == 1 ? (n + 99) / 100 : (n + 2) / 3;
                if (kind == QT_IN_COUNT) /* few distinct values: heavy ties */
                    for (size_t i = 0; i < n; i++)
                        v[i] = (float)((int)gsl_rng_uniform_int(r, 7) - 3);
                else
                    qt_fill(v, n, kind, r);
                for (int ix = 0; ix < 2; ix++) {
                    char spec[QT_SPEC_LEN];
                    snprintf(spec, sizeof spec, "topk:k=%zu,feedback=0,index=%s", k,
                             ix ? "elias" : "raw");
                    quant *q = qt_alloc(spec, 1, n);
                    if (!q)
                        continue;
                    size_t cap = quant_max_bytes(q);
                    buf = realloc(buf, cap);
                    quant_ctx ctx = qt_ctx(3, 0, 0, 0);
                    qsgd_err err;
                    uint64_t nb;
                    int rc = quant_encode(q, v, &ctx, buf, cap, &nb, &err);
                    rc |= quant_decode(q, buf, cap, nb, out, &err);
                    ref_topk(v, n, k, perm, sel);
                    size_t bad = n;
                    for (size_t j = 0, i = 0; i < n && bad == n; i++) {
                        int in = j < k && sel[j] == i;
                        float want = in ? v[i] : 0.0f;
                        if (!qt_same_bits(out[i], want) && !(in && v[i] == 0 && out[i] == 0))
                            bad = i;
                        j += in;
                    }
                    uint64_t want_bits =
                        32ull * k + sparse_index_bits((sparse_index_code)ix, sel, k);
                    QT_CHECK(rc == QSGD_OK && bad == n && nb == want_bits,
                             "%s n=%zu %s: rc %d, first difference from the sort at %zu, %llu "
                             "bits (want %llu)",
                             spec, n, kind < QT_IN_COUNT ? qt_input_names[kind] : "ties", rc, bad,
                             (unsigned long long)nb, (unsigned long long)want_bits);
                    quant_free(q);
                }
            }
    free(buf);
    free(v);
    free(out);
    free(perm);
    free(sel);
    gsl_rng_free(r);
}

/* Error feedback: out + e_new == fl(v + e_old) exactly, coordinate by coordinate; e is
 * zero on the selected set; feedback=0 keeps e = 0; reset clears it. Checked for topk and
 * randomk:scale=0. With feedback every coordinate is eventually sent: a constant input's
 * running sum of messages tracks t v within ||e||. */
static void check_feedback(const char *spec, int fb) {
    const size_t n = 500;
    quant *q = qt_alloc(spec, 1, n);
    if (!q)
        return;
    gsl_rng *r = qt_rng(72);
    float v[500], out[500], e0[500], sum[500] = {0}, cst[500];
    qt_fill(cst, n, QT_IN_GAUSS, r);
    for (uint32_t t = 0; t < 200; t++) {
        if (t < 20)
            qt_fill(v, n, QT_IN_GAUSS, r);
        else
            memcpy(v, cst, sizeof v);
        memcpy(e0, quant_residual(q), sizeof e0);
        quant_ctx ctx = qt_ctx(9, 1, t, 0);
        qsgd_err err;
        if (!QT_CHECK(quant_quantize(q, v, &ctx, out, &err) == QSGD_OK, "%s: %s", spec, err.msg))
            break;
        const float *e = quant_residual(q);
        size_t i = 0;
        if (fb) {
            for (; i < n; i++) {
                float g = v[i] + e0[i];
                if (!qt_same_bits(out[i] + e[i], g) && !(g == 0 && out[i] + e[i] == 0))
                    break;
                if (out[i] != 0 && e[i] != 0)
                    break;
            }
        } else {
            while (i < n && e[i] == 0 && e0[i] == 0)
                i++;
        }
        if (!QT_CHECK(i == n, "%s step %u: feedback identity fails at %zu (v %g e0 %g out %g e %g)",
                      spec, t, i, v[i < n ? i : 0], e0[i < n ? i : 0], out[i < n ? i : 0],
                      e[i < n ? i : 0]))
            break;
        if (t >= 20)
            for (i = 0; i < n; i++)
                sum[i] += out[i];
    }
    if (fb) { /* sum of 180 messages = 180 cst + e_20 - e_200: every coordinate was sent */
        double err = 0, ref = 0;
        for (size_t i = 0; i < n; i++) {
            err += fabs(sum[i] - 180.0 * cst[i]);
            ref += fabs(180.0 * cst[i]);
        }
        QT_CHECK(err < 0.2 * ref, "%s: messages track the input only to %g of %g", spec, err, ref);
    }
    quant_reset(q);
    const float *e = quant_residual(q);
    size_t i = 0;
    while (i < n && e[i] == 0)
        i++;
    QT_CHECK(i == n, "%s: reset leaves e[%zu] = %g", spec, i, e[i < n ? i : 0]);
    quant_free(q);
    gsl_rng_free(r);
}

static void test_feedback(void) {
    check_feedback("topk:ratio=0.05", 1);
    check_feedback("topk:ratio=0.05,feedback=0", 0);
    check_feedback("topk:k=10,index=elias", 1);
    check_feedback("randomk:ratio=0.05,scale=0", 1);
    check_feedback("randomk:ratio=0.05", 0);
}

/* ---- randomk ------------------------------------------------------------------------------ */
/* Unbiasedness and variance over M contexts, n = 1000, k = 10 (c = n/k = 100 exactly):
 * E Q(v)_i = v_i; per-coordinate sd(Q_i) = |v_i| sqrt(n/k - 1); E||Q - v||^2 = (n/k - 1)||v||^2.
 * Inclusion frequency of each index is k/n. The three index codes carry the same set. */
static void test_randomk_stats(void) {
    const size_t n = 1000, M = 20000;
    const double kn = 0.01;
    quant *q = qt_alloc("randomk:k=10", 1, n), *qr = qt_alloc("randomk:k=10,index=raw", 1, n),
          *qe = qt_alloc("randomk:k=10,index=elias", 1, n);
    if (!q || !qr || !qe)
        goto out;
    gsl_rng *r = qt_rng(73);
    float v[1000], o[1000], o2[1000];
    double mean[1000] = {0}, cnt[1000] = {0}, mse = 0, vv = 0;
    qt_fill(v, n, QT_IN_GAUSS, r);
    for (size_t i = 0; i < n; i++)
        vv += (double)v[i] * v[i];
    uint8_t buf[4096];
    for (uint32_t t = 0; t < M; t++) {
        quant_ctx ctx = qt_ctx(0xabcdef, t % 7, t, 3);
        qsgd_err err;
        uint64_t nb;
        if (!QT_CHECK(quant_quantize(q, v, &ctx, o, &err) == QSGD_OK, "%s", err.msg))
            break;
        size_t nz = 0;
        double se = 0;
        for (size_t i = 0; i < n; i++) {
            mean[i] += o[i];
            cnt[i] += o[i] != 0;
            nz += o[i] != 0;
            se += ((double)o[i] - v[i]) * ((double)o[i] - v[i]);
            if (o[i] != 0 && !qt_same_bits(o[i], v[i] * 100.0f))
                QT_FAIL("randomk: out[%zu] = %g, not 100 v = %g", i, o[i], 100.0 * v[i]);
        }
        mse += se;
        if (!QT_CHECK(nz == 10, "randomk step %u: %zu nonzeros, want 10", t, nz))
            break;
        if (t < 200) { /* the same set whichever index code */
            for (int c = 0; c < 2; c++) {
                quant *x = c ? qe : qr;
                int rc = quant_encode(x, v, &ctx, buf, sizeof buf, &nb, &err);
                rc |= quant_decode(x, buf, sizeof buf, nb, o2, &err);
                QT_CHECK(rc == QSGD_OK && qt_first_diff(o, o2, n) == n,
                         "randomk step %u: index=%s carries another set", t, c ? "elias" : "raw");
            }
            QT_CHECK(quant_encode(q, v, &ctx, buf, sizeof buf, &nb, &err) == QSGD_OK &&
                         nb == 64 + 32 * 10,
                     "randomk index=seed: %llu bits, want 384", (unsigned long long)nb);
        }
    }
    double zmax = 0, cmax = 0;
    for (size_t i = 0; i < n; i++) {
        double sd = fabs((double)v[i]) * sqrt(1 / kn - 1) / sqrt((double)M);
        double z = sd > 0 ? fabs(mean[i] / M - v[i]) / sd : 0;
        zmax = z > zmax ? z : zmax;
        double csd = sqrt(M * kn * (1 - kn)), cz = fabs(cnt[i] - M * kn) / csd;
        cmax = cz > cmax ? cz : cmax;
    }
    /* 1000 coordinates: |z| > 5 has probability ~6e-4 in all */
    QT_CHECK(zmax < 5, "randomk: a coordinate's mean is %g standard errors from v", zmax);
    QT_CHECK(cmax < 5, "randomk: an index's inclusion count is %g sd from M k/n", cmax);
    double ratio = mse / M / vv, want = 1 / kn - 1;
    /* the squared error's own spread: relative sd ~ sqrt(n/k * kurtosis / M) < 0.1 here */
    QT_CHECK(fabs(ratio - want) < 0.1 * want, "randomk: E||Q-v||^2/||v||^2 = %g, want n/k-1 = %g",
             ratio, want);
    printf(" [mean z max %.2f, count z max %.2f, variance ratio %.3f vs %.0f]", zmax, cmax, ratio,
           want);
    gsl_rng_free(r);
out:
    quant_free(q);
    quant_free(qr);
    quant_free(qe);
}

/* The set depends on every context field; k distinct increasing indices. */
static void test_randomk_ctx(void) {
    quant *q = qt_alloc("randomk:k=5,index=raw", 1, 100);
    if (!q)
        return;
    float v[100];
    for (int i = 0; i < 100; i++)
        v[i] = (float)(i + 1);
    uint8_t b0[64], b1[64];
    uint64_t n0, n1;
    qsgd_err err;
    quant_ctx base = qt_ctx(0x1234567890ull, 2, 3, 4), c[4] = {base, base, base, base};
    c[0].seed ^= 1ull << 36;
    c[1].worker++;
    c[2].step++;
    c[3].tensor++;
    CU_ASSERT_EQUAL(quant_encode(q, v, &base, b0, sizeof b0, &n0, &err), QSGD_OK);
    for (int a = 0; a < 4; a++) {
        CU_ASSERT_EQUAL(quant_encode(q, v, &c[a], b1, sizeof b1, &n1, &err), QSGD_OK);
        QT_CHECK(memcmp(b0, b1, 20) != 0, "randomk: ctx field %d does not change the set", a);
    }
    for (int j = 0; j + 1 < 5; j++) {
        uint32_t x = (uint32_t)b0[4 * j] << 24 | (uint32_t)b0[4 * j + 1] << 16 |
                     (uint32_t)b0[4 * j + 2] << 8 | b0[4 * j + 3];
        uint32_t y = (uint32_t)b0[4 * j + 4] << 24 | (uint32_t)b0[4 * j + 5] << 16 |
                     (uint32_t)b0[4 * j + 6] << 8 | b0[4 * j + 7];
        QT_CHECK(x < y && y < 100, "randomk raw indices not increasing: %u %u", x, y);
    }
    quant_free(q);
    /* k = n: every coordinate, times 1 */
    q = qt_alloc("randomk:ratio=1", 1, 37);
    if (q) {
        float o[37];
        CU_ASSERT_EQUAL(quant_quantize(q, v, &base, o, &err), QSGD_OK);
        QT_CHECK(qt_first_diff(o, v, 37) == 37, "randomk k=n is not the identity");
    }
    quant_free(q);
}

/* ---- nuqsgd ------------------------------------------------------------------------------- */
/* Reference in double: r = fl(|v|/N) clamped to 1; the level below r, p, u from qrng_word. */
static double ref_nuq(float vi, float N, unsigned s, uint32_t word, double *lo, double *hi,
                      double *p) {
    double rr = N > 0 ? (double)(fabsf(vi) / N) : 0;
    if (rr > 1)
        rr = 1;
    double l = 0, h = ldexp(1, 1 - (int)s);
    if (rr >= 1) {
        l = h = 1;
    } else if (rr >= h) {
        int e = (int)floor(log2(rr));
        l = ldexp(1, e);
        h = 2 * l;
    }
    *lo = l * N;
    *hi = h * N;
    *p = h > l ? (rr - l) / (h - l) : 0;
    double u = (double)(word >> 8) / 16777216.0;
    double val = (float)(u < *p ? h * N : l * N); /* exact in double, rounded once (subnormal) */
    return vi < 0 ? -val : val;
}

static void test_nuqsgd_exact(void) {
    static const unsigned ss[] = {1, 2, 3, 7, 15, 31};
    static const size_t bs[] = {0, 7, 128};
    gsl_rng *r = qt_rng(74);
    float v[1000], o[1000];
    for (size_t a = 0; a < 6; a++)
        for (size_t c = 0; c < 3; c++)
            for (int mx = 0; mx < 2; mx++)
                for (int kind = 0; kind < QT_IN_COUNT; kind++) {
                    char spec[QT_SPEC_LEN];
                    snprintf(spec, sizeof spec, "nuqsgd:s=%u,bucket=%zu,norm=%s", ss[a], bs[c],
                             mx ? "max" : "l2");
                    quant *q = qt_alloc(spec, 1, 1000);
                    if (!q)
                        continue;
                    qt_fill(v, 1000, kind, r);
                    quant_ctx ctx = qt_ctx(5, 1, (uint32_t)kind, 2);
                    qrng_stream st = qrng_make(5, 1, (uint32_t)kind, 2);
                    qsgd_err err;
                    int rc = quant_quantize(q, v, &ctx, o, &err);
                    size_t d = bs[c] ? bs[c] : 1000, bad = 1000;
                    double want = 0;
                    for (size_t b0 = 0; b0 < 1000 && rc == QSGD_OK; b0 += d) {
                        size_t len = b0 + d <= 1000 ? d : 1000 - b0;
                        int fin;
                        float N =
                            mx ? qsgd_norm_max(v + b0, len, &fin) : qsgd_norm_l2(v + b0, len, &fin);
                        for (size_t i = b0; i < b0 + len && bad == 1000; i++) {
                            double lo, hi, p;
                            want = ref_nuq(v[i], N, ss[a], qrng_word(&st, i), &lo, &hi, &p);
                            if ((double)o[i] != want)
                                bad = i;
                        }
                    }
                    QT_CHECK(rc == QSGD_OK && bad == 1000,
                             "%s %s: rc %d, out[%zu] = %.9g, reference %.9g", spec,
                             qt_input_names[kind], rc, bad, bad < 1000 ? o[bad] : 0.0, want);
                    /* bits: 32 per bucket + (1 + bitlen(s)) per coordinate */
                    uint64_t wb = 32ull * ((1000 + d - 1) / d) + 1000ull * (1 + qt_bitlen(ss[a]));
                    QT_CHECK(quant_max_bits(q) == wb, "%s: max_bits %llu, want %llu", spec,
                             (unsigned long long)quant_max_bits(q), (unsigned long long)wb);
                    quant_free(q);
                }
    gsl_rng_free(r);
    /* by hand: s = 3, levels {0, 1/4, 1/2, 1} of N = 5: v = (3, -4) -> r = .6, .8: 3 goes to
     * 2.5 or 5, -4 to -2.5 or -5 */
    quant *q = qt_alloc("nuqsgd:s=3", 1, 2);
    if (q) {
        float h[2] = {3, -4}, oo[2];
        int seen[4] = {0};
        for (uint32_t t = 0; t < 64; t++) {
            quant_ctx ctx = qt_ctx(1, 0, t, 0);
            qsgd_err err;
            quant_quantize(q, h, &ctx, oo, &err);
            QT_CHECK((oo[0] == 2.5f || oo[0] == 5.0f) && (oo[1] == -2.5f || oo[1] == -5.0f),
                     "nuqsgd s=3 of (3, -4): (%g, %g)", oo[0], oo[1]);
            seen[oo[0] == 5.0f] = 1;
            seen[2 + (oo[1] == -5.0f)] = 1;
        }
        QT_CHECK(seen[0] && seen[1] && seen[2] && seen[3], "nuqsgd s=3: a level never drawn");
    }
    quant_free(q);
}

/* Unbiased within a CI from the exact per-coordinate variance; the empirical squared error
 * equals the exact law's; the law is below the bound (1/8 + min(d 2^-2s, 2^(1-s) sqrt d)). */
static void test_nuqsgd_stats(void) {
    static const unsigned ss[] = {1, 3, 7};
    const size_t n = 512, M = 4000;
    gsl_rng *r = qt_rng(75);
    float v[512], o[512];
    for (size_t a = 0; a < 3; a++)
        for (int kind = 0; kind < 2; kind++) {
            char spec[QT_SPEC_LEN];
            snprintf(spec, sizeof spec, "nuqsgd:s=%u", ss[a]);
            quant *q = qt_alloc(spec, 1, n);
            if (!q)
                continue;
            qt_fill(v, n, kind ? QT_IN_UNIFORM : QT_IN_GAUSS, r);
            int fin;
            float N = qsgd_norm_l2(v, n, &fin);
            double var[512], law = 0, vv = 0;
            for (size_t i = 0; i < n; i++) {
                double lo, hi, p;
                ref_nuq(v[i], N, ss[a], 0, &lo, &hi, &p);
                var[i] = (hi - lo) * (hi - lo) * p * (1 - p);
                law += var[i];
                vv += (double)v[i] * v[i];
            }
            double mean[512] = {0}, mse = 0;
            for (uint32_t t = 0; t < M; t++) {
                quant_ctx ctx = qt_ctx(77, 0, t, 0);
                qsgd_err err;
                quant_quantize(q, v, &ctx, o, &err);
                for (size_t i = 0; i < n; i++) {
                    mean[i] += o[i];
                    mse += ((double)o[i] - v[i]) * ((double)o[i] - v[i]);
                }
            }
            double zmax = 0;
            for (size_t i = 0; i < n; i++) {
                double sd = sqrt(var[i] / M);
                /* a deterministic coordinate (p = 0) must be exact; the float r has 2^-24 */
                double z = sd > 0 ? fabs(mean[i] / M - v[i]) / sd
                           : fabs(mean[i] / M - v[i]) > 1e-6 * fabs(v[i]) ? 1e9
                                                                          : 0;
                zmax = z > zmax ? z : zmax;
            }
            double bound = 1.0 / 8 + fmin(n * ldexp(1, -2 * (int)ss[a]),
                                          ldexp(1, 1 - (int)ss[a]) * sqrt((double)n));
            QT_CHECK(zmax < 5, "%s %s: a mean is %g standard errors from v", spec,
                     kind ? "uniform" : "gauss", zmax);
            QT_CHECK(fabs(mse / M - law) < 0.1 * law + 1e-12,
                     "%s: empirical E||Q-v||^2 %g, exact law %g", spec, mse / M, law);
            QT_CHECK(law <= bound * vv, "%s: variance %g > bound %g ||v||^2", spec, law / vv,
                     bound);
            printf(" [s=%u %s: z max %.2f, var ratio %.4f (law %.4f, bound %.4f)]", ss[a],
                   kind ? "unif" : "gauss", zmax, mse / M / vv, law / vv, bound);
            quant_free(q);
        }
    gsl_rng_free(r);
}

int main(void) {
    static const qt_test tests[] = {
        {"sparse_index: exact codes, rejections", test_sparse_index_exact},
        {"sparse_index: elias max_bits bounds every set", test_sparse_index_bound},
        {"topk: hand-made vectors, ties, k from ratio", test_topk_hand},
        {"topk: selection == sort, nbits == formula", test_topk_vs_sort},
        {"topk, randomk: error-feedback identities", test_feedback},
        {"randomk: unbiased, variance n/k-1, uniform inclusion", test_randomk_stats},
        {"randomk: set from every ctx field", test_randomk_ctx},
        {"nuqsgd: == double reference, bits", test_nuqsgd_exact},
        {"nuqsgd: unbiased, variance law and bound", test_nuqsgd_stats},
        {NULL, NULL},
    };
    return qt_run("quant_c2", tests);
}
