/* test_quant_roundtrip.c — properties every registered quantizer must have, checked over
 * all of quant_types(), many parameter sets, shapes (vectors, matrices, n = 1, sizes not a
 * multiple of 32) and inputs: decode(encode(v)) == quantize(v) exactly, exact bit counts,
 * determinism in the context, agreement of formats and of SIMD and scalar paths, and
 * QSGD values lying on the levels of the paper's quantizer. */
#include "quant_test_util.h"

#define NMAX 1024 /* largest n among qt_shapes */
#define STEPS 3   /* steps run per case (stateful quantizers carry state across them) */

typedef struct rt_bufs {
    float v[NMAX], ref[NMAX], out[NMAX], out2[NMAX];
} rt_bufs;

/* One (spec, shape, input) case: A encodes, B (fresh, identical) quantizes, C (fresh)
 * encodes again; STEPS steps with fresh inputs and ctx.step = t. Returns 0 on failure. */
static int roundtrip_case(const char *spec, size_t rows, size_t cols, int kind, gsl_rng *r,
                          rt_bufs *b) {
    quant *A = qt_alloc(spec, rows, cols), *B = qt_alloc(spec, rows, cols),
          *C = qt_alloc(spec, rows, cols);
    uint8_t *buf = NULL, *buf2 = NULL;
    int ok = 0;
    if (!A || !B || !C)
        goto out;
    const size_t n = A->n, cap = quant_max_bytes(A);
    const uint64_t maxbits = quant_max_bits(A);
    buf = malloc(cap);
    buf2 = malloc(cap);
    if (!QT_CHECK(buf && buf2, "malloc"))
        goto out;
    for (uint32_t t = 0; t < STEPS; t++) {
        quant_ctx ctx = qt_ctx(0x5eed0000u + t, 3, 100 + t, 2);
        qsgd_err err = {0};
        uint64_t nbits = 0, nbits2 = 0;
        qt_fill(b->v, n, kind, r);
        memset(buf, 0xA5, cap); /* padding must be written as zeros, not left alone */
        int rc = quant_encode(A, b->v, &ctx, buf, cap, &nbits, &err);
        if (!QT_CHECK(rc == QSGD_OK, "%s %zux%zu %s step %u: encode rc %d: %s", spec, rows, cols,
                      qt_input_names[kind], t, rc, err.msg))
            goto out;
        rc = quant_quantize(B, b->v, &ctx, b->ref, &err);
        if (!QT_CHECK(rc == QSGD_OK, "%s %zux%zu %s: quantize rc %d: %s", spec, rows, cols,
                      qt_input_names[kind], rc, err.msg))
            goto out;
        if (!QT_CHECK(nbits <= 8 * (uint64_t)cap && nbits <= maxbits && nbits > 0,
                      "%s %zux%zu %s: nbits %llu, cap %zu bytes, max_bits %llu", spec, rows, cols,
                      qt_input_names[kind], (unsigned long long)nbits, cap,
                      (unsigned long long)maxbits))
            goto out;
        const size_t len = (size_t)((nbits + 7) / 8);
        if (nbits % 8)
            QT_CHECK(
                (buf[nbits / 8] & (0xFFu >> (nbits % 8))) == 0,
                "%s %zux%zu %s: padding bits of the last byte are not zero (0x%02x, %llu bits)",
                spec, rows, cols, qt_input_names[kind], buf[nbits / 8], (unsigned long long)nbits);

        /* decode with exactly the bytes of the message */
        uint8_t *exact = malloc(len ? len : 1);
        memcpy(exact, buf, len);
        rc = quant_decode(A, exact, len, nbits, b->out, &err);
        QT_CHECK(rc == QSGD_OK, "%s %zux%zu %s: decode rc %d at bit %llu: %s", spec, rows, cols,
                 qt_input_names[kind], rc, (unsigned long long)err.bit, err.msg);
        size_t i = qt_first_diff(b->out, b->ref, n);
        QT_CHECK(rc != QSGD_OK || i == n,
                 "%s %zux%zu %s step %u: decode(encode(v))[%zu] = %.9g != quantize(v)[%zu] = %.9g",
                 spec, rows, cols, qt_input_names[kind], t, i, i < n ? b->out[i] : 0.0, i,
                 i < n ? b->ref[i] : 0.0);
        for (i = 0; i < n && isfinite(b->out[i]); i++)
            ;
        QT_CHECK(rc != QSGD_OK || i == n, "%s %zux%zu %s: finite input decodes to %g at %zu", spec,
                 rows, cols, qt_input_names[kind], i < n ? b->out[i] : 0.0, i);
        /* the decoder must need every one of the nbits bits */
        rc = quant_decode(A, exact, len, nbits - 1, b->out2, &err);
        QT_CHECK(rc == QSGD_ECORRUPT,
                 "%s %zux%zu %s: decode with nbits-1 = %llu returned %d, want QSGD_ECORRUPT", spec,
                 rows, cols, qt_input_names[kind], (unsigned long long)(nbits - 1), rc);
        free(exact);
        /* a larger buffer than the message is fine */
        rc = quant_decode(A, buf, cap, nbits, b->out2, &err);
        QT_CHECK(rc == QSGD_OK && qt_first_diff(b->out2, b->ref, n) == n,
                 "%s %zux%zu %s: decode from a %zu-byte buffer: rc %d (%s)", spec, rows, cols,
                 qt_input_names[kind], cap, rc, err.msg);

        /* determinism: a fresh instance with the same history and ctx writes the same bytes */
        memset(buf2, 0x5A, cap);
        rc = quant_encode(C, b->v, &ctx, buf2, cap, &nbits2, &err);
        QT_CHECK(rc == QSGD_OK && nbits2 == nbits && memcmp(buf, buf2, len) == 0,
                 "%s %zux%zu %s step %u: a second encode with the same ctx differs (rc %d, %llu vs "
                 "%llu bits)",
                 spec, rows, cols, qt_input_names[kind], t, rc, (unsigned long long)nbits2,
                 (unsigned long long)nbits);
    }
    /* stateful quantizers: encode and quantize advanced the state identically */
    const float *ra = quant_residual(A), *rb = quant_residual(B);
    QT_CHECK((ra == NULL) == (rb == NULL) && (!ra || memcmp(ra, rb, A->n * sizeof *ra) == 0),
             "%s %zux%zu %s: residual after encode differs from residual after quantize", spec,
             rows, cols, qt_input_names[kind]);
    QT_CHECK(A->type->stateful || ra == NULL, "%s: stateless type returns a residual", spec);
    ok = 1;
out:
    free(buf);
    free(buf2);
    quant_free(A);
    quant_free(B);
    quant_free(C);
    return ok;
}

static void test_roundtrip_all_types(void) {
    static char specs[128][QT_SPEC_LEN];
    rt_bufs *b = malloc(sizeof *b);
    gsl_rng *r = qt_rng(1);
    size_t ncases = 0, ntypes = 0;
    for (const quant_type *const *t = quant_types(); *t; t++, ntypes++) {
        size_t ns = qt_specs_for(*t, specs, 128);
        for (size_t k = 0; k < ns; k++)
            for (size_t sh = 0; sh < QT_NSHAPES; sh++)
                for (int kind = 0; kind < QT_IN_COUNT; kind++, ncases++)
                    roundtrip_case(specs[k], qt_shapes[sh][0], qt_shapes[sh][1], kind, r, b);
    }
    CU_ASSERT(ntypes >= 3);
    CU_ASSERT(quant_type_find("fp32") && quant_type_find("qsgd") && quant_type_find("onebit"));
    printf(" [%zu types, %zu cases]", ntypes, ncases);
    gsl_rng_free(r);
    free(b);
}

/* Registry sanity: names unique, found by name, documented, all required hooks present. */
static void test_registry(void) {
    for (const quant_type *const *t = quant_types(); *t; t++) {
        const quant_type *T = *t;
        QT_CHECK(T->name && T->summary && T->init && T->fini && T->max_bits && T->quantize &&
                     T->encode && T->decode,
                 "type %s lacks a required field", T->name ? T->name : "(null)");
        QT_CHECK(quant_type_find(T->name) == T, "quant_type_find(\"%s\") does not find it",
                 T->name);
        QT_CHECK(!T->stateful || (T->reset && T->residual),
                 "stateful type %s has no reset/residual hook", T->name);
        for (const quant_type *const *u = t + 1; *u; u++)
            QT_CHECK(strcmp(T->name, (*u)->name) != 0, "duplicate type name %s", T->name);
    }
    CU_ASSERT_PTR_NULL(quant_type_find("nope"));
}

/* fp32: 32 bits per coordinate and the exact float bits back (-0.0, subnormals included). */
static void test_fp32_exact(void) {
    gsl_rng *r = qt_rng(2);
    float v[NMAX], out[NMAX];
    for (size_t sh = 0; sh < QT_NSHAPES; sh++) {
        quant *q = qt_alloc("fp32", qt_shapes[sh][0], qt_shapes[sh][1]);
        if (!q)
            continue;
        size_t n = q->n, cap = quant_max_bytes(q);
        uint8_t *buf = malloc(cap);
        for (int kind = 0; kind < QT_IN_COUNT; kind++) {
            qt_fill(v, n, kind, r);
            if (n > 1)
                v[n - 1] = -0.0f;
            quant_ctx ctx = qt_ctx(1, 0, 0, 0);
            uint64_t nbits;
            qsgd_err err;
            CU_ASSERT_EQUAL_FATAL(quant_encode(q, v, &ctx, buf, cap, &nbits, &err), QSGD_OK);
            QT_CHECK(nbits == 32ull * n, "fp32 n=%zu: nbits %llu != 32n", n,
                     (unsigned long long)nbits);
            CU_ASSERT_EQUAL(quant_decode(q, buf, cap, nbits, out, &err), QSGD_OK);
            size_t i = 0;
            while (i < n && qt_same_bits(out[i], v[i]))
                i++;
            QT_CHECK(i == n, "fp32 n=%zu %s: coordinate %zu not bit-exact", n, qt_input_names[kind],
                     i);
            /* big-endian IEEE bits, MSB first: the first coordinate's sign bit leads */
            uint32_t u;
            memcpy(&u, &v[0], 4);
            QT_CHECK(buf[0] == (u >> 24) && buf[3] == (u & 0xFF),
                     "fp32: first word not big-endian IEEE-754");
        }
        QT_CHECK(quant_max_bits(q) == 32ull * n, "fp32 max_bits");
        free(buf);
        quant_free(q);
    }
    gsl_rng_free(r);
}

/* qsgd dense: nbits == 32 * nbuckets + n * w, w = 1 + bitlen(s), for any input. */
static void test_qsgd_dense_nbits(void) {
    static const unsigned ss[] = {1, 2, 3, 7, 8, 15, 127, 128, 255, 1000};
    static const size_t bs[] = {0, 1, 7, 32, 128, 512, 5000};
    static const size_t ns[] = {1, 2, 31, 33, 1000, 1025, 4099};
    gsl_rng *r = qt_rng(3);
    float *v = malloc(4099 * sizeof *v);
    for (size_t a = 0; a < sizeof ss / sizeof *ss; a++)
        for (size_t c = 0; c < sizeof bs / sizeof *bs; c++)
            for (size_t e = 0; e < sizeof ns / sizeof *ns; e++) {
                char spec[QT_SPEC_LEN];
                snprintf(spec, sizeof spec, "qsgd:s=%u,bucket=%zu,format=dense", ss[a], bs[c]);
                quant *q = qt_alloc(spec, 1, ns[e]);
                if (!q)
                    continue;
                size_t n = q->n, d = bs[c] == 0 || bs[c] > n ? n : bs[c];
                uint64_t want = 32ull * ((n + d - 1) / d) + (uint64_t)n * (1 + qt_bitlen(ss[a]));
                QT_CHECK(quant_max_bits(q) == want, "%s n=%zu: max_bits %llu, want %llu", spec, n,
                         (unsigned long long)quant_max_bits(q), (unsigned long long)want);
                QT_CHECK(q->params.s == ss[a], "%s: resolved s = %u", spec, q->params.s);
                size_t cap = quant_max_bytes(q);
                uint8_t *buf = malloc(cap);
                for (int kind = 0; kind < 3; kind++) {
                    qt_fill(v, n, kind == 2 ? QT_IN_ZERO : QT_IN_GAUSS, r);
                    quant_ctx ctx = qt_ctx(7, 0, (uint32_t)kind, 0);
                    uint64_t nbits = 0;
                    qsgd_err err;
                    int rc = quant_encode(q, v, &ctx, buf, cap, &nbits, &err);
                    QT_CHECK(rc == QSGD_OK && nbits == want,
                             "%s n=%zu: rc %d nbits %llu, want %llu", spec, n, rc,
                             (unsigned long long)nbits, (unsigned long long)want);
                }
                free(buf);
                quant_free(q);
            }
    free(v);
    gsl_rng_free(r);
}

/* bits=b is s = 2^(b-1) - 1; the canonical description parses back to the same instance. */
static void test_bits_shorthand_and_describe(void) {
    static const struct {
        unsigned bits, s;
    } tab[] = {{2, 1}, {3, 3}, {4, 7}, {8, 127}, {16, 32767}};
    for (size_t k = 0; k < sizeof tab / sizeof *tab; k++) {
        char spec[64];
        snprintf(spec, sizeof spec, "qsgd:bits=%u,bucket=128", tab[k].bits);
        quant *q = qt_alloc(spec, 1, 1000);
        if (!q)
            continue;
        QT_CHECK(q->params.s == tab[k].s, "%s: s = %u, want %u", spec, q->params.s, tab[k].s);
        uint64_t want = 32ull * 8 + 1000ull * tab[k].bits; /* 8 buckets, bits per coordinate */
        QT_CHECK(quant_max_bits(q) == want, "%s: dense max_bits %llu, want %llu", spec,
                 (unsigned long long)quant_max_bits(q), (unsigned long long)want);
        quant_free(q);
    }
    /* s given explicitly wins over bits */
    quant *q = qt_alloc("qsgd:s=5,bits=8", 1, 10);
    if (q)
        QT_CHECK(q->params.s == 5, "s=5,bits=8 resolved to s=%u", q->params.s);
    quant_free(q);

    static const char *const specs[] = {"fp32", "qsgd:bits=4,bucket=512,norm=max,format=elias",
                                        "qsgd:s=3,d=100", "onebit", "onebit:feedback=0,bucket=64"};
    for (size_t k = 0; k < sizeof specs / sizeof *specs; k++) {
        quant *a = qt_alloc(specs[k], 4, 250);
        if (!a)
            continue;
        char d1[128], d2[128];
        CU_ASSERT_EQUAL(quant_describe(a, d1, sizeof d1), QSGD_OK);
        quant *b = qt_alloc(d1, 4, 250);
        if (b) {
            CU_ASSERT_EQUAL(quant_describe(b, d2, sizeof d2), QSGD_OK);
            QT_CHECK(strcmp(d1, d2) == 0, "describe not a fixed point: '%s' -> '%s'", d1, d2);
            QT_CHECK(quant_max_bits(a) == quant_max_bits(b), "'%s' vs '%s': max_bits differ",
                     specs[k], d1);
        }
        char tiny[4];
        QT_CHECK(quant_describe(a, tiny, sizeof tiny) != QSGD_OK,
                 "describe into 4 bytes must fail, wrote '%s'", tiny);
        quant_free(a);
        quant_free(b);
    }
    /* canonical descriptions are provenance and match reference values in experiment files:
     * pinned (byte-identical to the hand-written describe before the option tables) */
    static const char *const pinned[][2] = {
        {"fp32", "fp32"},
        {"qsgd:bits=4,bucket=512", "qsgd:s=7,bucket=512,norm=l2,format=dense"},
        {"qsgd:b=8,d=512,norm=inf,format=elias", "qsgd:s=127,bucket=512,norm=max,format=elias"},
        {"qsgd:levels=3", "qsgd:s=3,bucket=1000,norm=l2,format=dense"},
        {"onebit", "onebit:bucket=1000,feedback=1"},
        {"onebit:feedback=0,bucket=64", "onebit:bucket=64,feedback=0"},
    };
    for (size_t k = 0; k < sizeof pinned / sizeof *pinned; k++) {
        quant *a = qt_alloc(pinned[k][0], 1, 1000);
        char d[128] = "";
        if (a)
            quant_describe(a, d, sizeof d);
        QT_CHECK(strcmp(d, pinned[k][1]) == 0, "describe(%s) = '%s', want '%s'", pinned[k][0], d,
                 pinned[k][1]);
        quant_free(a);
    }
    q = qt_alloc("qsgd:bits=4,bucket=512,norm=max,format=elias", 1, 1000);
    if (q) {
        char d[128];
        quant_describe(q, d, sizeof d);
        QT_CHECK(strcmp(d, "qsgd:s=7,bucket=512,norm=max,format=elias") == 0,
                 "canonical description '%s'", d);
    }
    quant_free(q);
}

/* Encoding is a pure function of (v, ctx): every field of ctx matters for qsgd. */
static void test_qsgd_ctx_determinism(void) {
    static const unsigned ss[] = {1, 2, 7, 127};
    gsl_rng *r = qt_rng(4);
    float v[1000];
    qt_fill(v, 1000, QT_IN_GAUSS, r);
    for (size_t a = 0; a < 4; a++)
        for (int fmt = 0; fmt < 2; fmt++) {
            char spec[QT_SPEC_LEN];
            snprintf(spec, sizeof spec, "qsgd:s=%u,bucket=128,format=%s", ss[a],
                     fmt ? "elias" : "dense");
            quant *q1 = qt_alloc(spec, 1, 1000), *q2 = qt_alloc(spec, 1, 1000);
            if (!q1 || !q2) {
                quant_free(q1);
                quant_free(q2);
                continue;
            }
            size_t cap = quant_max_bytes(q1);
            uint8_t *b0 = calloc(1, cap), *b1 = calloc(1, cap);
            const quant_ctx base = qt_ctx(0x123456789abcdefull, 5, 77, 9);
            quant_ctx vars[5] = {base, base, base, base, base};
            vars[1].step++;
            vars[2].seed ^= 1ull << 40; /* high half of the seed */
            vars[3].worker++;
            vars[4].tensor++;
            static const char *field[5] = {"(same)", "step", "seed", "worker", "tensor"};
            uint64_t n0, n1;
            qsgd_err err;
            CU_ASSERT_EQUAL(quant_encode(q1, v, &base, b0, cap, &n0, &err), QSGD_OK);
            for (int k = 0; k < 5; k++) {
                memset(b1, 0, cap);
                CU_ASSERT_EQUAL(quant_encode(k % 2 ? q1 : q2, v, &vars[k], b1, cap, &n1, &err),
                                QSGD_OK);
                int same = n0 == n1 && memcmp(b0, b1, (n0 + 7) / 8) == 0;
                if (k == 0)
                    QT_CHECK(same, "%s: same ctx, different bytes", spec);
                else
                    QT_CHECK(!same, "%s: changing ctx.%s does not change the message", spec,
                             field[k]);
            }
            free(b0);
            free(b1);
            quant_free(q1);
            quant_free(q2);
        }
    gsl_rng_free(r);
}

/* dense and elias carry the same Q(v) for the same ctx; quantize agrees with both. */
static void test_qsgd_dense_equals_elias(void) {
    static const unsigned ss[] = {1, 2, 7, 127, 1000};
    static const size_t bs[] = {0, 7, 128, 512};
    gsl_rng *r = qt_rng(5);
    float v[NMAX], od[NMAX], oe[NMAX];
    for (size_t a = 0; a < 5; a++)
        for (size_t c = 0; c < 4; c++)
            for (int nm = 0; nm < 2; nm++)
                for (size_t sh = 0; sh < QT_NSHAPES; sh++) {
                    char sd[QT_SPEC_LEN], se[QT_SPEC_LEN];
                    const char *norm = nm ? "max" : "l2";
                    snprintf(sd, sizeof sd, "qsgd:s=%u,bucket=%zu,norm=%s,format=dense", ss[a],
                             bs[c], norm);
                    snprintf(se, sizeof se, "qsgd:s=%u,bucket=%zu,norm=%s,format=elias", ss[a],
                             bs[c], norm);
                    size_t rows = qt_shapes[sh][0], cols = qt_shapes[sh][1];
                    quant *qd = qt_alloc(sd, rows, cols), *qe = qt_alloc(se, rows, cols);
                    if (qd && qe) {
                        size_t n = qd->n, cd = quant_max_bytes(qd), ce = quant_max_bytes(qe);
                        uint8_t *bd = malloc(cd), *be = malloc(ce);
                        for (int kind = 0; kind < QT_IN_COUNT; kind++) {
                            qt_fill(v, n, kind, r);
                            quant_ctx ctx = qt_ctx(11, 1, (uint32_t)kind, 4);
                            uint64_t nd, ne;
                            qsgd_err err;
                            int r1 = quant_encode(qd, v, &ctx, bd, cd, &nd, &err);
                            int r2 = quant_encode(qe, v, &ctx, be, ce, &ne, &err);
                            int r3 = quant_decode(qd, bd, cd, nd, od, &err);
                            int r4 = quant_decode(qe, be, ce, ne, oe, &err);
                            size_t i = qt_first_diff(od, oe, n);
                            QT_CHECK(!r1 && !r2 && !r3 && !r4 && i == n,
                                     "%s vs elias, %zux%zu %s: rc %d %d %d %d, first diff at %zu "
                                     "(%.9g vs %.9g)",
                                     sd, rows, cols, qt_input_names[kind], r1, r2, r3, r4, i,
                                     i < n ? od[i] : 0.0, i < n ? oe[i] : 0.0);
                            /* the Elias message must at least carry one norm per bucket and a
                             * sign bit per nonzero */
                            size_t nnz = 0;
                            for (size_t j = 0; j < n; j++)
                                nnz += oe[j] != 0;
                            QT_CHECK(ne >= 32ull * qt_nbuckets(qe) + nnz,
                                     "%s: elias message of %llu bits for %zu nonzeros", se,
                                     (unsigned long long)ne, nnz);
                        }
                        free(bd);
                        free(be);
                    }
                    quant_free(qd);
                    quant_free(qe);
                }
    gsl_rng_free(r);
}

/* Every qsgd output is sgn(v_i) * level * norm_b / s with level in {floor, ceil} of
 * s |v_i| / norm_b (norm_b the l2 or max norm of i's bucket): the paper's quantizer, §3.1. */
static void test_qsgd_values_on_levels(void) {
    static const unsigned ss[] = {1, 2, 7, 127, 32767};
    static const size_t bs[] = {0, 7, 128};
    gsl_rng *r = qt_rng(6);
    static float v[NMAX], out[NMAX];
    static double unit[NMAX], lo[NMAX], p[NMAX];
    for (size_t a = 0; a < 5; a++)
        for (size_t c = 0; c < 3; c++)
            for (int nm = 0; nm < 2; nm++) {
                char spec[QT_SPEC_LEN];
                snprintf(spec, sizeof spec, "qsgd:s=%u,bucket=%zu,norm=%s", ss[a], bs[c],
                         nm ? "max" : "l2");
                quant *q = qt_alloc(spec, 1, 1000);
                if (!q)
                    continue;
                size_t n = q->n, d = qt_bucket(q);
                for (int kind = 0; kind < QT_IN_COUNT; kind++)
                    for (uint32_t t = 0; t < 4; t++) {
                        qt_fill(v, n, kind, r);
                        quant_ctx ctx = qt_ctx(3, 0, t, 0);
                        qsgd_err err;
                        if (!QT_CHECK(quant_quantize(q, v, &ctx, out, &err) == QSGD_OK,
                                      "%s %s: quantize failed: %s", spec, qt_input_names[kind],
                                      err.msg))
                            continue;
                        qt_qsgd_law(v, n, d, ss[a], nm, unit, lo, p);
                        for (size_t i = 0; i < n; i++) {
                            double x = lo[i] + p[i], o = out[i];
                            if (unit[i] == 0 || v[i] == 0) {
                                QT_CHECK(o == 0, "%s %s: v[%zu] = %g -> %g, want 0", spec,
                                         qt_input_names[kind], i, v[i], o);
                                continue;
                            }
                            /* a unit norm/s below FLT_MIN is a subnormal float with few
                             * significant bits; the wire carries level * fl(norm/s), so the
                             * level is recovered with the float unit there */
                            float uf = (float)(unit[i] * ss[a]) / (float)ss[a];
                            double ue = uf < 1.17549435e-38f ? (double)uf : unit[i];
                            double L = nearbyint(fabs(o) / ue);
                            double slack = 1e-5 * (x > 1 ? x : 1);
                            double tol = 2e-6 * L * ue + 1.5e-45 * (L + 1);
                            QT_CHECK(fabs(fabs(o) - L * ue) <= tol && L <= ss[a] &&
                                         L >= floor(x - slack) && L <= ceil(x + slack) &&
                                         (L == 0 || (o < 0) == (v[i] < 0)),
                                     "%s %s step %u: v[%zu] = %.9g -> %.9g, i.e. level %.6g of "
                                     "unit %.9g; want level floor/ceil of %.9g, sign of v",
                                     spec, qt_input_names[kind], t, i, v[i], o, fabs(o) / unit[i],
                                     unit[i], x);
                        }
                        /* max norm: the largest coordinate is sent at the top level */
                        if (nm && kind == QT_IN_GAUSS)
                            for (size_t b0 = 0; b0 < n; b0 += d) {
                                size_t im = b0, e = b0 + d < n ? b0 + d : n;
                                for (size_t i = b0; i < e; i++)
                                    if (fabsf(v[i]) > fabsf(v[im]))
                                        im = i;
                                QT_CHECK(fabs(fabs((double)out[im]) - fabs((double)v[im])) <=
                                             4e-7 * fabs((double)v[im]) * (ss[a] > 1 ? 2 : 1),
                                         "%s: max coordinate v[%zu] = %.9g sent as %.9g", spec, im,
                                         v[im], out[im]);
                            }
                    }
                quant_free(q);
            }
    gsl_rng_free(r);
}

/* The AVX2 kernels and the scalar reference produce identical messages
 * (QSGDSIM_NO_SIMD=1 is read by quant_alloc). */
static void test_qsgd_simd_matches_scalar(void) {
    static const unsigned ss[] = {1, 2, 7, 127, 255, 32767};
    static const size_t ns[] = {1, 15, 16, 17, 31, 33, 1000, 1024, 3001};
    gsl_rng *r = qt_rng(8);
    float *v = malloc(3001 * sizeof *v);
    const char *old = getenv("QSGDSIM_NO_SIMD");
    char *saved = old ? strdup(old) : NULL;
    for (size_t a = 0; a < sizeof ss / sizeof *ss; a++)
        for (size_t e = 0; e < sizeof ns / sizeof *ns; e++)
            for (int fmt = 0; fmt < 2; fmt++) {
                char spec[QT_SPEC_LEN];
                snprintf(spec, sizeof spec, "qsgd:s=%u,bucket=%d,format=%s", ss[a], e % 2 ? 0 : 100,
                         fmt ? "elias" : "dense");
                unsetenv("QSGDSIM_NO_SIMD");
                quant *qv = qt_alloc(spec, 1, ns[e]);
                setenv("QSGDSIM_NO_SIMD", "1", 1);
                quant *qs = qt_alloc(spec, 1, ns[e]);
                if (qv && qs) {
                    size_t cap = quant_max_bytes(qv);
                    uint8_t *b1 = calloc(1, cap), *b2 = calloc(1, cap);
                    for (int kind = 0; kind < QT_IN_COUNT; kind++) {
                        qt_fill(v, ns[e], kind, r);
                        quant_ctx ctx = qt_ctx(99, 2, (uint32_t)kind, 1);
                        uint64_t n1 = 0, n2 = 0;
                        qsgd_err err;
                        int r1 = quant_encode(qv, v, &ctx, b1, cap, &n1, &err);
                        int r2 = quant_encode(qs, v, &ctx, b2, cap, &n2, &err);
                        QT_CHECK(r1 == r2 && n1 == n2 && memcmp(b1, b2, (n1 + 7) / 8) == 0,
                                 "%s n=%zu %s: SIMD and scalar messages differ (%llu vs %llu bits)",
                                 spec, ns[e], qt_input_names[kind], (unsigned long long)n1,
                                 (unsigned long long)n2);
                    }
                    free(b1);
                    free(b2);
                }
                quant_free(qv);
                quant_free(qs);
            }
    if (saved)
        setenv("QSGDSIM_NO_SIMD", saved, 1);
    else
        unsetenv("QSGDSIM_NO_SIMD");
    free(saved);
    free(v);
    gsl_rng_free(r);
}

int main(void) {
    static const qt_test tests[] = {
        {"registry: names, hooks", test_registry},
        {"all types: decode(encode(v)) == quantize(v), exact nbits", test_roundtrip_all_types},
        {"fp32: 32 bits per coordinate, bit-exact", test_fp32_exact},
        {"qsgd dense: nbits == 32*buckets + n*(1+bitlen(s))", test_qsgd_dense_nbits},
        {"qsgd: bits shorthand, describe/parse fixed point", test_bits_shorthand_and_describe},
        {"qsgd: ctx determinism, every ctx field matters", test_qsgd_ctx_determinism},
        {"qsgd: dense and elias decode identically", test_qsgd_dense_equals_elias},
        {"qsgd: outputs lie on the two nearest levels", test_qsgd_values_on_levels},
        {"qsgd: SIMD == scalar, bit for bit", test_qsgd_simd_matches_scalar},
        {NULL, NULL},
    };
    return qt_run("quant_roundtrip", tests);
}
