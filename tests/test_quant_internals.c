/* test_quant_internals.c — internal building blocks of quantizers/ against independent
 * definitions (complements test_quant_kernels.c, which checks Philox known answers and
 * SIMD == scalar): the QSGD level rule written out from qsgd_kernels.h, every SIMD level
 * against it, byte-exact MSB-first packing and unpacking at arbitrary bit offsets, the
 * bucket norms, and a chi-square check of the random words. */
#include "quant_test_util.h"

#include "qrng.h"
#include "qsgd_kernels.h"

/* Uniform words: a chi-square test of the top 8 bits over 2^20 words of one stream, and
 * mean of the uniforms (a gross check that the counter layout does not repeat blocks). */
static void test_stream_uniformity(void) {
    enum { NW = 1 << 20 };
    uint32_t *w = malloc(NW * sizeof *w);
    qrng_stream st = qrng_make(2024, 1, 2, 3);
    qrng_fill_groups(&st, 0, NW / 32, w, qrng_simd_available());
    double cnt[256] = {0}, mean = 0;
    for (size_t i = 0; i < NW; i++) {
        cnt[w[i] >> 24]++;
        mean += qrng_uniform(w[i]);
    }
    double chi = 0, e = NW / 256.0;
    for (int k = 0; k < 256; k++)
        chi += (cnt[k] - e) * (cnt[k] - e) / e;
    /* 255 degrees of freedom: mean 255, sd 22.6; 6 sd */
    QT_CHECK(chi < 255 + 6 * 22.6, "top-byte chi-square %.1f (255 dof)", chi);
    mean /= NW;
    QT_CHECK(fabs(mean - 0.5) < 6 * sqrt(1.0 / 12 / NW), "mean uniform %.6f", mean);
    size_t dup = 0;
    for (size_t i = 32; i < NW; i++)
        dup += w[i] == w[i - 32] && w[i] == w[i - 8];
    QT_CHECK(dup == 0, "%zu repeated words at distance 8/32", dup);
    free(w);
}

/* level = min(floor(x) + (u < x - floor(x)), s), x = |v| * scale (in float), sign bit only
 * for a nonzero level of a negative value; AVX2 == scalar. */
static void test_levels_kernel(void) {
    static const unsigned ss[] = {1, 2, 3, 7, 127, 255, 1000, 32767};
    enum { L = 1000 };
    static float v[L];
    static uint32_t rw[L];
    static uint16_t c1[L], c2[L];
    gsl_rng *r = qt_rng(51);
    for (size_t a = 0; a < sizeof ss / sizeof *ss; a++) {
        unsigned s = ss[a], w = 1 + qt_bitlen(s);
        for (int kind = 0; kind < QT_IN_COUNT; kind++) {
            qt_fill(v, L, kind, r);
            v[3] = -0.0f;
            for (size_t i = 0; i < L; i++)
                rw[i] = (uint32_t)gsl_rng_get(r);
            rw[5] = 0;
            rw[6] = 0xFFFFFFFFu;
            double nrm = qt_norm(v, L, kind % 2);
            if (!(nrm > 0) || !isfinite((float)s / (float)nrm))
                continue;
            float scale = (float)s / (float)nrm;
            for (size_t len = 0; len <= L; len += len < 40 ? 1 : 191) {
                qsgd_levels_ref(v, rw, len, scale, s, w, c1);
                size_t i;
                for (i = 0; i < len; i++) {
                    float x = fabsf(v[i]) * scale, fl = floorf(x);
                    uint32_t lev = (uint32_t)fl + (qrng_uniform(rw[i]) < x - fl);
                    lev = lev > s ? s : lev;
                    uint32_t want = lev | ((v[i] < 0 && lev) ? 1u << (w - 1) : 0);
                    if (c1[i] != want)
                        break;
                }
                QT_CHECK(i == len,
                         "qsgd_levels_ref s=%u %s len %zu: code[%zu] = %u (v %.9g, u %.9g)", s,
                         qt_input_names[kind], len, i, i < len ? c1[i] : 0, i < len ? v[i] : 0.0,
                         i < len ? qrng_uniform(rw[i]) : 0.0);
                for (int lv = 0; lv <= qrng_simd_available(); lv++) {
                    memset(c2, 0xAB, sizeof c2);
                    qsgd_levels(v, rw, len, scale, s, w, c2, lv);
                    QT_CHECK(memcmp(c1, c2, len * sizeof *c1) == 0 &&
                                 (len == L || c2[len] == 0xABAB),
                             "qsgd_levels (simd level %d) s=%u %s len %zu differs from the "
                             "reference or writes past len",
                             lv, s, qt_input_names[kind], len);
                }
            }
        }
    }
    gsl_rng_free(r);
}

/* Fixed-width packing is MSB-first, zero-padded, and unpack inverts it at any bit offset. */
static void test_pack_unpack(void) {
    enum { L = 300 };
    static uint16_t codes[L], back[L];
    static uint8_t dst[L * 2 + 8], ref[L * 2 + 8], shifted[L * 2 + 16];
    gsl_rng *r = qt_rng(52);
    for (unsigned w = 1; w <= 16; w++)
        for (size_t len = 0; len <= L; len += len < 20 ? 1 : 53) {
            for (size_t i = 0; i < len; i++)
                codes[i] = (uint16_t)(gsl_rng_get(r) & ((1u << w) - 1));
            size_t nbytes = (len * w + 7) / 8;
            memset(dst, 0xEE, sizeof dst);
            qsgd_pack(codes, len, w, dst);
            memset(ref, 0, sizeof ref);
            for (size_t i = 0; i < len; i++)
                for (unsigned b = 0; b < w; b++)
                    if ((codes[i] >> (w - 1 - b)) & 1) {
                        size_t bit = i * w + b;
                        ref[bit / 8] |= (uint8_t)(0x80u >> (bit % 8));
                    }
            QT_CHECK(memcmp(dst, ref, nbytes) == 0 && dst[nbytes] == 0xEE,
                     "qsgd_pack w=%u len=%zu: bytes differ from MSB-first packing, or wrote past "
                     "%zu bytes",
                     w, len, nbytes);
            for (unsigned off = 0; off < 8; off += off < 1 ? 1 : 3) {
                /* the same bits starting at bit offset 8 + off */
                memset(shifted, 0, sizeof shifted);
                for (size_t bit = 0; bit < len * w; bit++)
                    if ((ref[bit / 8] >> (7 - bit % 8)) & 1) {
                        size_t at = bit + 8 + off;
                        shifted[at / 8] |= (uint8_t)(0x80u >> (at % 8));
                    }
                size_t slen = (len * w + 8 + off + 7) / 8;
                qsgd_unpack(shifted, slen, 8 + off, len, w, back);
                QT_CHECK(memcmp(back, codes, len * sizeof *codes) == 0,
                         "qsgd_unpack w=%u len=%zu offset %u does not invert packing", w, len,
                         8 + off);
            }
        }
    gsl_rng_free(r);
}

/* Bucket norms: l2 accumulated in double, max exact; non-finite input flagged. */
static void test_norms(void) {
    gsl_rng *r = qt_rng(53);
    static float v[1000];
    for (int kind = 0; kind < QT_IN_COUNT; kind++)
        for (size_t len = 1; len <= 1000; len += 37) {
            qt_fill(v, len, kind, r);
            int fin = 0;
            float l2 = qsgd_norm_l2(v, len, &fin);
            double want = qt_norm(v, len, 0);
            QT_CHECK(fin && fabs(l2 - want) <= 1e-6 * want + 1e-45,
                     "qsgd_norm_l2 %s len %zu: %.9g, want %.9g", qt_input_names[kind], len, l2,
                     want);
            float mx = qsgd_norm_max(v, len, &fin);
            QT_CHECK(fin && mx == (float)qt_norm(v, len, 1), "qsgd_norm_max %s len %zu: %.9g",
                     qt_input_names[kind], len, mx);
            v[len / 2] = NAN;
            qsgd_norm_l2(v, len, &fin);
            QT_CHECK(!fin, "qsgd_norm_l2 misses a NaN (len %zu)", len);
            qsgd_norm_max(v, len, &fin);
            QT_CHECK(!fin, "qsgd_norm_max misses a NaN (len %zu)", len);
            v[len / 2] = -INFINITY;
            qsgd_norm_max(v, len, &fin);
            QT_CHECK(!fin, "qsgd_norm_max misses -inf (len %zu)", len);
        }
    gsl_rng_free(r);
}

int main(void) {
    static const qt_test tests[] = {
        {"qrng uniformity (chi-square)", test_stream_uniformity},
        {"qsgd level kernel == its definition, all SIMD levels", test_levels_kernel},
        {"qsgd pack: exact MSB-first bytes; unpack at any offset", test_pack_unpack},
        {"qsgd bucket norms", test_norms},
        {NULL, NULL},
    };
    return qt_run("quant_internals", tests);
}
