/* test_quant_errors.c — the quantizers' error paths, for every registered quantizer:
 * truncated, corrupted, oversized and over-long messages are rejected with QSGD_ECORRUPT,
 * a message and a bit offset, without touching memory outside buf[0..len) and out[0..n)
 * (buffers are exact-size heap blocks so that AddressSanitizer sees any overrun; output
 * arrays carry a canary); too-small output buffers give QSGD_ENOSPC without writing past
 * cap; bad specs and non-finite inputs are rejected with messages that say what is wrong. */
#include "quant_test_util.h"

#define CANARY 64 /* floats after out[n-1] that must stay untouched */
static const float canary_val = -12345.5f;

static float *out_alloc(size_t n) {
    float *o = malloc((n + CANARY) * sizeof *o);
    for (size_t i = 0; i < n + CANARY; i++)
        o[i] = canary_val;
    return o;
}
static int canary_ok(const float *o, size_t n) {
    for (size_t i = n; i < n + CANARY; i++)
        if (!qt_same_bits(o[i], canary_val))
            return 0;
    return 1;
}

/* Decode `nbits` bits from a heap copy of exactly `len` bytes of msg (zero-extended). */
static int decode_copy(const quant *q, const uint8_t *msg, size_t msglen, size_t len,
                       uint64_t nbits, float *out, qsgd_err *err) {
    uint8_t *b = malloc(len ? len : 1);
    memset(b, 0, len ? len : 1);
    memcpy(b, msg, msglen < len ? msglen : len);
    memset(err, 0, sizeof *err);
    int rc = quant_decode(q, b, len, nbits, out, err);
    free(b);
    return rc;
}

/* ECORRUPT with a message and a bit offset within the message. */
#define EXPECT_CORRUPT(rc, err, nbits, ...)                                                        \
    QT_CHECK((rc) == QSGD_ECORRUPT && (err).code == QSGD_ECORRUPT && (err).msg[0] &&               \
                 (err).bit <= (nbits),                                                             \
             __VA_ARGS__)

typedef struct msg {
    quant *q;
    float v[1024];
    uint8_t *buf;
    size_t cap, len;
    uint64_t nbits;
} msg;

static int make_msg(msg *m, const char *spec, size_t rows, size_t cols, int kind, gsl_rng *r,
                    uint32_t step) {
    m->q = qt_alloc(spec, rows, cols);
    m->buf = NULL;
    if (!m->q)
        return 0;
    m->cap = quant_max_bytes(m->q);
    m->buf = calloc(1, m->cap);
    qt_fill(m->v, m->q->n, kind, r);
    quant_ctx ctx = qt_ctx(17, 0, step, 0);
    qsgd_err err;
    int rc = quant_encode(m->q, m->v, &ctx, m->buf, m->cap, &m->nbits, &err);
    m->len = (size_t)((m->nbits + 7) / 8);
    return QT_CHECK(rc == QSGD_OK, "%s: encode: %s", spec, err.msg);
}
static void free_msg(msg *m) {
    free(m->buf);
    quant_free(m->q);
}

/* Iterate every registered quantizer's specs. */
#define FOR_EACH_SPEC(specvar)                                                                     \
    static char specs_[128][QT_SPEC_LEN];                                                          \
    for (const quant_type *const *t_ = quant_types(); *t_; t_++)                                   \
        for (size_t ns_ = qt_specs_for(*t_, specs_, 128), k_ = 0; k_ < ns_; k_++)                  \
            for (const char *specvar = specs_[k_]; specvar; specvar = NULL)

static const size_t small_shapes[][2] = {{1, 1}, {1, 37}, {3, 5}};

/* Every cut of small messages, sampled cuts of large ones: ECORRUPT. */
static void test_truncated(void) {
    gsl_rng *r = qt_rng(41);
    size_t ncuts = 0;
    FOR_EACH_SPEC(spec) {
        for (size_t sh = 0; sh < 4; sh++)
            for (int kind = 0; kind < QT_IN_COUNT; kind++) {
                size_t rows = sh < 3 ? small_shapes[sh][0] : 1,
                       cols = sh < 3 ? small_shapes[sh][1] : 1000;
                msg m;
                if (make_msg(&m, spec, rows, cols, kind, r, (uint32_t)kind)) {
                    float *out = out_alloc(m.q->n);
                    /* small messages: every cut; large: both ends and random cuts */
                    uint64_t ncut = sh < 3 ? m.nbits : 120;
                    for (uint64_t k = 0; k < ncut; k++) {
                        uint64_t cut = sh < 3 || k < 40 ? k
                                       : k < 80         ? m.nbits - (k - 39)
                                                : gsl_rng_uniform_int(r, (unsigned long)m.nbits);
                        if (cut >= m.nbits)
                            continue;
                        qsgd_err err;
                        int rc =
                            decode_copy(m.q, m.buf, m.len, (size_t)((cut + 7) / 8), cut, out, &err);
                        ncuts++;
                        if (!EXPECT_CORRUPT(rc, err, cut,
                                            "%s %zux%zu %s: message of %llu bits cut to %llu: rc "
                                            "%d, bit %llu, msg '%s'",
                                            spec, rows, cols, qt_input_names[kind],
                                            (unsigned long long)m.nbits, (unsigned long long)cut,
                                            rc, (unsigned long long)err.bit, err.msg))
                            break;
                        if (!QT_CHECK(canary_ok(out, m.q->n), "%s: decode wrote past out[n]", spec))
                            break;
                    }
                    free(out);
                }
                free_msg(&m);
            }
    }
    printf(" [%zu truncated messages]", ncuts);
    gsl_rng_free(r);
}

/* Trailing bits (zero or random) after a valid message; nbits > 8 * len; nbits = 2^64-1. */
static void test_oversized(void) {
    gsl_rng *r = qt_rng(42);
    FOR_EACH_SPEC(spec) {
        for (size_t sh = 0; sh < 4; sh++) {
            size_t rows = sh < 3 ? small_shapes[sh][0] : 33,
                   cols = sh < 3 ? small_shapes[sh][1] : 17;
            msg m;
            if (make_msg(&m, spec, rows, cols, QT_IN_GAUSS, r, 1)) {
                float *out = out_alloc(m.q->n);
                uint8_t *big = calloc(1, m.len + 8);
                memcpy(big, m.buf, m.len);
                for (unsigned extra = 1; extra <= 40; extra++) {
                    uint64_t nb = m.nbits + extra;
                    size_t len = (size_t)((nb + 7) / 8);
                    if (extra > 20) /* random trailing bits */
                        for (size_t i = m.len; i < len; i++)
                            big[i] = (uint8_t)gsl_rng_get(r);
                    qsgd_err err;
                    int rc = decode_copy(m.q, big, len, len, nb, out, &err);
                    if (!EXPECT_CORRUPT(rc, err, nb,
                                        "%s %zux%zu: %llu-bit message with %u trailing bits: rc %d "
                                        "bit %llu '%s'",
                                        spec, rows, cols, (unsigned long long)m.nbits, extra, rc,
                                        (unsigned long long)err.bit, err.msg))
                        break;
                }
                /* nbits beyond the buffer */
                qsgd_err err;
                for (uint64_t nb = 8 * (uint64_t)m.len + 1; nb < 8 * (uint64_t)m.len + 70;
                     nb += 7) {
                    int rc = decode_copy(m.q, m.buf, m.len, m.len, nb, out, &err);
                    EXPECT_CORRUPT(rc, err, nb, "%s: nbits %llu > 8 * len %zu: rc %d '%s'", spec,
                                   (unsigned long long)nb, m.len, rc, err.msg);
                }
                int rc = decode_copy(m.q, m.buf, m.len, m.len, UINT64_MAX, out, &err);
                EXPECT_CORRUPT(rc, err, UINT64_MAX, "%s: nbits = 2^64-1: rc %d", spec, rc);
                rc = decode_copy(m.q, m.buf, m.len, m.cap, UINT64_MAX, out, &err);
                EXPECT_CORRUPT(rc, err, UINT64_MAX, "%s: nbits = 2^64-1, len = cap: rc %d", spec,
                               rc);
                rc = decode_copy(m.q, m.buf, m.len, 0, m.nbits, out, &err);
                EXPECT_CORRUPT(rc, err, m.nbits, "%s: len = 0: rc %d", spec, rc);
                /* err may be NULL */
                uint8_t *b = malloc(m.len);
                memcpy(b, m.buf, m.len);
                QT_CHECK(quant_decode(m.q, b, m.len, m.nbits - 1, out, NULL) == QSGD_ECORRUPT,
                         "%s: decode with err = NULL", spec);
                free(b);
                QT_CHECK(canary_ok(out, m.q->n), "%s: decode wrote past out[n]", spec);
                free(big);
                free(out);
            }
            free_msg(&m);
        }
    }
    gsl_rng_free(r);
}

/* Random corruption: byte overwrites, bit flips, random bytes with random nbits. Any
 * outcome but a crash, an overrun, or an OK decode with non-finite values, or an
 * ECORRUPT without message/offset, is acceptable. */
static void test_corrupted(void) {
    gsl_rng *r = qt_rng(43);
    size_t nok = 0, ncorrupt = 0;
    FOR_EACH_SPEC(spec) {
        for (size_t sh = 0; sh < 3; sh++) {
            size_t rows = sh == 0 ? 1 : sh == 1 ? 33 : 1, cols = sh == 0 ? 37 : sh == 1 ? 17 : 1000;
            int kinds[3] = {QT_IN_GAUSS, QT_IN_SPARSE, QT_IN_SINGLE};
            for (int kk = 0; kk < 3; kk++) {
                msg m;
                if (!make_msg(&m, spec, rows, cols, kinds[kk], r, (uint32_t)kk)) {
                    free_msg(&m);
                    continue;
                }
                size_t n = m.q->n;
                float *out = out_alloc(n);
                /* fp32 messages are raw IEEE-754 words: every bit pattern, NaN included, is a
                 * valid message, so only the other types must decode to finite values */
                int raw = strcmp(m.q->type->name, "fp32") == 0;
                uint8_t *c = malloc(m.cap);
                for (int trial = 0; trial < 60; trial++) {
                    memcpy(c, m.buf, m.cap);
                    uint64_t nb = m.nbits;
                    size_t len = m.len;
                    int how = trial % 4;
                    if (how == 0) { /* overwrite 1..4 bytes */
                        int k = 1 + (int)gsl_rng_uniform_int(r, 4);
                        for (int j = 0; j < k; j++)
                            c[gsl_rng_uniform_int(r, len)] = (uint8_t)gsl_rng_get(r);
                    } else if (how == 1) { /* flip one bit inside the message */
                        uint64_t b = gsl_rng_uniform_int(r, (unsigned long)nb);
                        c[b / 8] ^= (uint8_t)(0x80u >> (b % 8));
                    } else if (how == 2) { /* all random bytes, random length */
                        for (size_t i = 0; i < len; i++)
                            c[i] = (uint8_t)gsl_rng_get(r);
                        nb = 1 + gsl_rng_uniform_int(r, (unsigned long)(8 * len));
                        len = (size_t)((nb + 7) / 8);
                    } else { /* the all-ones / all-zeros message of the right length */
                        memset(c, trial % 8 == 3 ? 0xFF : 0x00, len);
                    }
                    qsgd_err err;
                    int rc = decode_copy(m.q, c, len, len, nb, out, &err);
                    if (rc == QSGD_OK) {
                        nok++;
                        size_t i = 0;
                        while (i < n && isfinite(out[i]))
                            i++;
                        QT_CHECK(raw || i == n,
                                 "%s %zux%zu: corrupt message decoded OK to %g at %zu", spec, rows,
                                 cols, i < n ? out[i] : 0.0, i);
                    } else {
                        ncorrupt++;
                        EXPECT_CORRUPT(rc, err, nb,
                                       "%s %zux%zu: corrupt message: rc %d bit %llu of %llu, '%s'",
                                       spec, rows, cols, rc, (unsigned long long)err.bit,
                                       (unsigned long long)nb, err.msg);
                    }
                    if (!QT_CHECK(canary_ok(out, n),
                                  "%s %zux%zu: decode of a corrupt message wrote past out[n]", spec,
                                  rows, cols))
                        break;
                }
                free(c);
                free(out);
                free_msg(&m);
            }
        }
    }
    printf(" [%zu decoded OK, %zu rejected]", nok, ncorrupt);
    gsl_rng_free(r);
}

/* Encode into buffers that are too small: ENOSPC, nothing written past cap; with exactly
 * the message's bytes: OK (or ENOSPC) and never past cap. A failed encode leaves the
 * error-feedback state alone. */
static void test_enospc(void) {
    gsl_rng *r = qt_rng(44);
    FOR_EACH_SPEC(spec) {
        for (size_t sh = 0; sh < 3; sh++) {
            size_t rows = sh == 0 ? 1 : sh == 1 ? 33 : 1, cols = sh == 0 ? 37 : sh == 1 ? 17 : 1000;
            msg m;
            if (!make_msg(&m, spec, rows, cols, QT_IN_GAUSS, r, 2)) {
                free_msg(&m);
                continue;
            }
            size_t caps[8] = {0, 1, m.len / 2, m.len > 4 ? m.len - 4 : 0, m.len - 1, m.len, 3, 4};
            for (size_t k = 0; k < 8; k++) {
                size_t cap = caps[k];
                if (cap > m.len)
                    continue;
                uint8_t *b = malloc(cap + 32);
                memset(b, 0xC3, cap + 32);
                quant *q = qt_alloc(spec, rows, cols); /* fresh: same state as m.q had */
                quant_ctx ctx = qt_ctx(17, 0, 2, 0);
                qsgd_err err = {0};
                uint64_t nbits = 12345;
                int rc = quant_encode(q, m.v, &ctx, b, cap, &nbits, &err);
                size_t i = cap;
                while (i < cap + 32 && b[i] == 0xC3)
                    i++;
                QT_CHECK(i == cap + 32,
                         "%s %zux%zu: encode with cap %zu (message %zu bytes) wrote byte %zu", spec,
                         rows, cols, cap, m.len, i);
                if (cap < m.len)
                    QT_CHECK(rc == QSGD_ENOSPC && err.code == QSGD_ENOSPC && err.msg[0],
                             "%s %zux%zu: cap %zu < %zu bytes: rc %d, want QSGD_ENOSPC", spec, rows,
                             cols, cap, m.len, rc);
                else
                    QT_CHECK(rc == QSGD_ENOSPC ||
                                 (rc == QSGD_OK && nbits == m.nbits && memcmp(b, m.buf, cap) == 0),
                             "%s: cap == message length %zu: rc %d, %llu bits", spec, cap, rc,
                             (unsigned long long)nbits);
                /* after a failed encode, a retry with room gives the fresh instance's message */
                if (rc != QSGD_OK) {
                    uint8_t *b2 = calloc(1, m.cap);
                    uint64_t nb2;
                    rc = quant_encode(q, m.v, &ctx, b2, m.cap, &nb2, &err);
                    QT_CHECK(rc == QSGD_OK && nb2 == m.nbits && memcmp(b2, m.buf, m.len) == 0,
                             "%s: retry after ENOSPC differs from a first encode (state changed?)",
                             spec);
                    free(b2);
                }
                quant_free(q);
                free(b);
            }
            free_msg(&m);
        }
    }
    gsl_rng_free(r);
}

static int contains_all(const char *msg, const char *const *words) {
    for (; *words; words++)
        if (!strstr(msg, *words))
            return 0;
    return 1;
}

static void test_spec_parse(void) {
    static const struct {
        const char *spec;
        const char *words[5]; /* the message must name these (the valid choices) */
    } bad[] = {
        {"nope", {"nope", "fp32", "qsgd", "onebit", NULL}},
        {"nope:s=3", {"fp32", "qsgd", "onebit", NULL}},
        {"", {"fp32", "qsgd", "onebit", NULL}},
        {":s=3", {"fp32", "qsgd", "onebit", NULL}},
        {"qsgd:foo=1", {"foo", "bucket", "norm", "format", NULL}},
        {"qsgd:s=3,colour=red", {"colour", "bucket", NULL}},
        {"qsgd:s", {"bucket", NULL}},
        {"qsgd:norm=l3", {"l3", "l2", "max", NULL}},
        {"qsgd:format=zip", {"zip", "dense", "elias", NULL}},
        {"qsgd:s=abc", {"abc", NULL}},
        {"qsgd:s=-1", {"-1", NULL}},
        {"qsgd:s=", {"s", NULL}},
        {"qsgd:s=3x", {"3x", NULL}},
        {"qsgd:bucket=1e3", {"1e3", NULL}},
        {"qsgd:s=99999999999999999999999", {"s", NULL}},
        {"onebit:feedback=2", {"feedback", NULL}},
        {"onebit:feedback=yes", {"feedback", NULL}},
        {"onebit:bucket=-5", {"bucket", NULL}},
        /* each type accepts only its own table's keys; a key twice (or via an alias) is refused */
        {"fp32:bits=4", {"bits", "options: none", NULL}},
        {"onebit:s=3", {"'s'", "bucket=D", "feedback=1|0", NULL}},
        {"qsgd:feedback=0", {"feedback", "bits=B", NULL}},
        {"qsgd:s=3,levels=4", {"s given twice", "levels", NULL}},
        {"qsgd:bits=4,bits=8", {"bits given twice", NULL}},
        {"onebit:bucket=4,d=8", {"bucket given twice", NULL}},
    };
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        quant_spec s;
        qsgd_err err = {0};
        int rc = quant_spec_parse(bad[k].spec, &s, &err);
        QT_CHECK(rc == QSGD_EINVAL && err.code == QSGD_EINVAL &&
                     contains_all(err.msg, bad[k].words),
                 "quant_spec_parse(\"%s\"): rc %d, message '%s' (must name %s%s%s%s)", bad[k].spec,
                 rc, err.msg, bad[k].words[0], bad[k].words[1] ? ", " : "",
                 bad[k].words[1] ? bad[k].words[1] : "", bad[k].words[2] ? ", ..." : "");
        quant *q = quant_alloc_spec(bad[k].spec, 1, 10, &err);
        QT_CHECK(q == NULL && err.code == QSGD_EINVAL, "quant_alloc_spec(\"%s\") accepted",
                 bad[k].spec);
        quant_free(q);
    }
    QT_CHECK(quant_spec_parse(NULL, &(quant_spec){0}, NULL) == QSGD_EINVAL, "NULL spec");

    /* values the parser accepts but the quantizer rejects */
    static const char *const bad_params[] = {"qsgd:bits=1", "qsgd:bits=17", "qsgd:s=0,bits=0",
                                             "qsgd:bits=64"};
    for (size_t k = 0; k < sizeof bad_params / sizeof *bad_params; k++) {
        qsgd_err err = {0};
        quant *q = quant_alloc_spec(bad_params[k], 1, 10, &err);
        QT_CHECK(q == NULL && err.code == QSGD_EINVAL && err.msg[0],
                 "quant_alloc_spec(\"%s\") = %p, code %d", bad_params[k], (void *)q, err.code);
        quant_free(q);
    }
    /* bad shapes and names in quant_alloc */
    qsgd_err err = {0};
    quant_params p = {.s = 3};
    QT_CHECK(quant_alloc("qsgd", &p, 0, 10, &err) == NULL && err.code == QSGD_EINVAL, "rows = 0");
    QT_CHECK(quant_alloc("qsgd", &p, 10, 0, &err) == NULL && err.code == QSGD_EINVAL, "cols = 0");
    QT_CHECK(quant_alloc("zzz", &p, 1, 10, &err) == NULL && err.code == QSGD_EINVAL &&
                 strstr(err.msg, "qsgd") && strstr(err.msg, "fp32"),
             "quant_alloc(\"zzz\"): '%s'", err.msg);

    /* good specs parse to the documented fields */
    quant_spec s;
    CU_ASSERT_EQUAL_FATAL(
        quant_spec_parse("qsgd:bits=4,bucket=512,norm=max,format=elias", &s, &err), QSGD_OK);
    QT_CHECK(strcmp(s.name, "qsgd") == 0 && s.params.bits == 4 && s.params.s == 0 &&
                 s.params.bucket == 512 && s.params.norm == QUANT_NORM_MAX &&
                 s.params.format == QUANT_FMT_ELIAS,
             "parsed qsgd:bits=4,bucket=512,norm=max,format=elias wrongly");
    CU_ASSERT_EQUAL(quant_spec_parse("qsgd:s=7,d=64", &s, &err), QSGD_OK);
    QT_CHECK(s.params.s == 7 && s.params.bucket == 64 && s.params.norm == QUANT_NORM_L2 &&
                 s.params.format == QUANT_FMT_DENSE,
             "qsgd:s=7,d=64 -> s %u bucket %zu", s.params.s, s.params.bucket);
    CU_ASSERT_EQUAL(quant_spec_parse("onebit:feedback=0", &s, &err), QSGD_OK);
    QT_CHECK(s.params.no_feedback == 1, "feedback=0 -> no_feedback %d", s.params.no_feedback);
    CU_ASSERT_EQUAL(quant_spec_parse("onebit:feedback=1", &s, &err), QSGD_OK);
    QT_CHECK(s.params.no_feedback == 0, "feedback=1 -> no_feedback %d", s.params.no_feedback);
    CU_ASSERT_EQUAL(quant_spec_parse("fp32", &s, &err), QSGD_OK);
    QT_CHECK(strcmp(s.name, "fp32") == 0, "fp32 name '%s'", s.name);
}

/* Non-finite input: qsgd (and onebit) reject it with QSGD_EINVAL naming the index; finite
 * inputs whose l2 norm overflows float are rejected or quantized to finite values. */
/* What callers learn from the type tables instead of names: labels (aliases included),
 * lossless, fixed-size, the options given. */
static void test_spec_properties(void) {
    static const struct {
        const char *spec, *label0, *label1;
        int lossless, fixed;
    } tab[] = {
        {"fp32", "fp32", "fp32", 1, 1},
        {"qsgd:bits=4,bucket=512", "QSGD 4-bit", "QSGD 4-bit d=512", 0, 1},
        {"qsgd:b=4,d=512,norm=inf", "QSGD 4-bit max-norm", "QSGD 4-bit max-norm d=512", 0, 1},
        {"qsgd:levels=7,format=elias", "QSGD s=7 Elias", "QSGD s=7 Elias", 0, 0},
        {"qsgd:s=5,bits=8", "QSGD s=5", "QSGD s=5", 0, 1}, /* s wins, as in init */
        {"qsgd", "QSGD", "QSGD", 0, 1},
        {"onebit", "1-bit SGD", "1-bit SGD", 0, 1},
        {"onebit:feedback=0,d=64", "1-bit SGD no EF", "1-bit SGD no EF d=64", 0, 1},
        {"onebit:feedback=1", "1-bit SGD", "1-bit SGD", 0, 1},
    };
    for (size_t k = 0; k < sizeof tab / sizeof *tab; k++) {
        char l0[128], l1[128];
        quant_spec s;
        qsgd_err err = {0};
        CU_ASSERT_EQUAL_FATAL(quant_spec_parse(tab[k].spec, &s, &err), QSGD_OK);
        CU_ASSERT_EQUAL(quant_spec_label(tab[k].spec, 0, l0, sizeof l0), 0);
        CU_ASSERT_EQUAL(quant_spec_label(tab[k].spec, 1, l1, sizeof l1), 0);
        QT_CHECK(strcmp(l0, tab[k].label0) == 0 && strcmp(l1, tab[k].label1) == 0,
                 "%s: labels '%s' / '%s', want '%s' / '%s'", tab[k].spec, l0, l1, tab[k].label0,
                 tab[k].label1);
        QT_CHECK(quant_spec_lossless(&s) == tab[k].lossless &&
                     quant_spec_fixed_size(&s) == tab[k].fixed,
                 "%s: lossless %d fixed %d", tab[k].spec, quant_spec_lossless(&s),
                 quant_spec_fixed_size(&s));
    }
    char l[8];
    QT_CHECK(quant_spec_label("qsgd:nope=1", 0, l, sizeof l) == -1 && l[0] == '\0',
             "a spec that does not parse has no label");
    QT_CHECK(quant_spec_label("qsgd:bits=4", 0, l, sizeof l) == -1, "truncated label");
    quant_spec s;
    qsgd_err err = {0};
    CU_ASSERT_EQUAL(quant_spec_parse("qsgd:d=8,b=4", &s, &err), QSGD_OK);
    QT_CHECK(s.given == 6, "qsgd:d=8,b=4 given mask %llx, want rows bits and bucket",
             (unsigned long long)s.given);
}

static void test_nonfinite_input(void) {
    static const float bads[] = {NAN, INFINITY, -INFINITY};
    float v[1000], out[1000];
    gsl_rng *r = qt_rng(45);
    static char specs[128][QT_SPEC_LEN];
    const quant_type *types[2] = {quant_type_find("qsgd"), quant_type_find("onebit")};
    for (int ti = 0; ti < 2; ti++) {
        if (!QT_CHECK(types[ti] != NULL, "type missing"))
            continue;
        size_t ns = qt_specs_for(types[ti], specs, 128);
        for (size_t k = 0; k < ns; k++) {
            quant *q = qt_alloc(specs[k], 1, 1000);
            if (!q)
                continue;
            size_t cap = quant_max_bytes(q);
            uint8_t *buf = malloc(cap);
            for (size_t b = 0; b < 3; b++)
                for (size_t at = 37; at < 1000; at += 600) {
                    qt_fill(v, 1000, QT_IN_GAUSS, r);
                    v[at] = bads[b];
                    char idx[16];
                    snprintf(idx, sizeof idx, "%zu", at);
                    quant_ctx ctx = qt_ctx(1, 0, 0, 0);
                    qsgd_err err = {0};
                    int rc = quant_quantize(q, v, &ctx, out, &err);
                    QT_CHECK(rc == QSGD_EINVAL && strstr(err.msg, idx),
                             "%s: quantize with v[%zu] = %g: rc %d, '%s'", specs[k], at, v[at], rc,
                             err.msg);
                    uint64_t nbits;
                    memset(&err, 0, sizeof err);
                    rc = quant_encode(q, v, &ctx, buf, cap, &nbits, &err);
                    QT_CHECK(rc == QSGD_EINVAL && strstr(err.msg, idx),
                             "%s: encode with v[%zu] = %g: rc %d, '%s'", specs[k], at, v[at], rc,
                             err.msg);
                }
            /* state untouched by the failed calls: the next step equals a fresh instance */
            quant *f = qt_alloc(specs[k], 1, 1000);
            if (f) {
                float o2[1000];
                quant_ctx ctx = qt_ctx(1, 0, 1, 0);
                qsgd_err err;
                qt_fill(v, 1000, QT_IN_GAUSS, r);
                quant_quantize(q, v, &ctx, out, &err);
                quant_quantize(f, v, &ctx, o2, &err);
                QT_CHECK(qt_first_diff(out, o2, 1000) == 1000,
                         "%s: a rejected non-finite input changed the state", specs[k]);
            }
            quant_free(f);
            /* huge finite values: sum of squares overflows float */
            for (size_t i = 0; i < 1000; i++)
                v[i] = (i % 2 ? 3e38f : -2e38f);
            quant_ctx ctx = qt_ctx(1, 0, 2, 0);
            qsgd_err err = {0};
            int rc = quant_quantize(q, v, &ctx, out, &err);
            size_t i = 0;
            while (rc == QSGD_OK && i < 1000 && isfinite(out[i]))
                i++;
            QT_CHECK(rc == QSGD_EINVAL || (rc == QSGD_OK && i == 1000),
                     "%s: values near FLT_MAX: rc %d, out[%zu] = %g ('%s')", specs[k], rc, i,
                     i < 1000 ? out[i] : 0.0, err.msg);
            uint64_t nbits;
            rc = quant_encode(q, v, &ctx, buf, cap, &nbits, &err);
            if (rc == QSGD_OK) {
                rc = quant_decode(q, buf, cap, nbits, out, &err);
                for (i = 0; rc == QSGD_OK && i < 1000 && isfinite(out[i]); i++)
                    ;
                QT_CHECK(rc == QSGD_OK && i == 1000,
                         "%s: values near FLT_MAX: encode OK but decode rc %d / out[%zu] = %g",
                         specs[k], rc, i, i < 1000 ? out[i] : 0.0);
            } else {
                QT_CHECK(rc == QSGD_EINVAL, "%s: values near FLT_MAX: encode rc %d", specs[k], rc);
            }
            free(buf);
            quant_free(q);
        }
    }
    gsl_rng_free(r);
}

static void test_free_null(void) {
    quant_free(NULL);
    quant_reset(NULL);
    CU_PASS("quant_free(NULL) and quant_reset(NULL) returned");
    quant *q = qt_alloc("fp32", 1, 4);
    CU_ASSERT_PTR_NULL(quant_residual(q));
    quant_free(q);
}

int main(void) {
    double t0 = qt_now();
    static const qt_test tests[] = {
        {"truncated messages -> ECORRUPT", test_truncated},
        {"trailing bits, nbits > 8*len -> ECORRUPT", test_oversized},
        {"random corruption: no crash, no overrun", test_corrupted},
        {"too-small buffer -> ENOSPC, no overrun", test_enospc},
        {"spec parse errors name the valid choices", test_spec_parse},
        {"spec properties from the type tables: labels, lossless, fixed size",
         test_spec_properties},
        {"non-finite input -> EINVAL naming the index", test_nonfinite_input},
        {"quant_free(NULL)", test_free_null},
        {NULL, NULL},
    };
    int rc = qt_run("quant_errors", tests);
    printf("quant_errors: %.1f s\n", qt_now() - t0);
    return rc;
}
