/* test_quant_elias.c — the Elias omega code (elias.h) pinned to its definition:
 *   omega(N): write 0; while N > 1 { prepend binary(N); N = bitlen(N) - 1 }
 * (Elias 1975, "Universal codeword sets and representations of the integers"), the bit
 * stream it travels in (bitstream.h), and theory_elias_omega_len. */
#include "quant_test_util.h"

#include "bitstream.h"
#include "elias.h"

/* The definition, written out independently of elias.h: returns the code as a string. */
static unsigned omega_ref(uint64_t k, char *out) {
    char tmp[256] = "0"; /* built right to left: prepend binary(k), then k = bitlen(k) - 1 */
    size_t len = 1;
    while (k > 1) {
        unsigned nb = qt_bitlen(k);
        memmove(tmp + nb, tmp, len + 1);
        for (unsigned i = 0; i < nb; i++)
            tmp[i] = (char)('0' + ((k >> (nb - 1 - i)) & 1));
        len += nb;
        k = nb - 1;
    }
    memcpy(out, tmp, len + 1);
    return (unsigned)len;
}

/* Values worked out by hand from the definition above. */
static const struct {
    uint64_t k;
    char code[16];
} pinned[] = {
    {1, "0"},       {2, "100"},          {3, "110"},          {4, "101000"},          {7, "101110"},
    {8, "1110000"}, {16, "10100100000"}, {17, "10100100010"}, {100, "1011011001000"},
};

static void test_pinned_codes(void) {
    for (size_t i = 0; i < sizeof pinned / sizeof *pinned; i++) {
        char got[64], ref[128];
        unsigned len = elias_omega_string(pinned[i].k, got);
        unsigned rlen = omega_ref(pinned[i].k, ref);
        QT_CHECK(strcmp(ref, pinned[i].code) == 0, "the test's own omega(%llu) = %s, pinned %s",
                 (unsigned long long)pinned[i].k, ref, pinned[i].code);
        QT_CHECK(strcmp(got, pinned[i].code) == 0 && len == strlen(pinned[i].code),
                 "elias_omega_string(%llu) = \"%s\" (len %u), want \"%s\"",
                 (unsigned long long)pinned[i].k, got, len, pinned[i].code);
        QT_CHECK(theory_elias_omega_len(pinned[i].k) == strlen(pinned[i].code) && rlen == len,
                 "theory_elias_omega_len(%llu) = %u, want %zu", (unsigned long long)pinned[i].k,
                 theory_elias_omega_len(pinned[i].k), strlen(pinned[i].code));
        unsigned clen;
        uint64_t code = elias_omega_code(pinned[i].k, &clen);
        uint64_t want = strtoull(pinned[i].code, NULL, 2);
        QT_CHECK(clen == len && code == want, "elias_omega_code(%llu) = 0x%llx/%u, want 0x%llx",
                 (unsigned long long)pinned[i].k, (unsigned long long)code, clen,
                 (unsigned long long)want);
    }
}

/* Every k up to 2^17, and random k up to 2^32 - 1, against the definition. */
static void test_codes_match_definition(void) {
    gsl_rng *r = qt_rng(21);
    for (uint64_t t = 0; t < (1u << 17) + 20000; t++) {
        uint64_t k = t < (1u << 17) ? t + 1
                     : t % 3        ? 1 + (uint64_t)gsl_rng_uniform_int(r, 0xFFFFFFFFul)
                             : (uint64_t)1 << (t % 32 + 1) >> (t % 2); /* powers of two, 2^31 */
        if (k == 0 || k > ELIAS_MAX)
            k = ELIAS_MAX;
        char got[64], ref[128];
        unsigned len = elias_omega_string(k, got);
        omega_ref(k, ref);
        if (!QT_CHECK(strcmp(got, ref) == 0 && len == theory_elias_omega_len(k) && len <= 43,
                      "omega(%llu): elias.h \"%s\", definition \"%s\", theory len %u",
                      (unsigned long long)k, got, ref, theory_elias_omega_len(k)))
            break;
    }
    /* the largest value: 2^32 - 1 */
    char ref[128], got[64];
    omega_ref(ELIAS_MAX, ref);
    elias_omega_string(ELIAS_MAX, got);
    QT_CHECK(strcmp(ref, got) == 0, "omega(2^32-1) = %s, want %s", got, ref);
    QT_CHECK(ELIAS_MAX == 0xFFFFFFFFull, "ELIAS_MAX = %llu", (unsigned long long)ELIAS_MAX);
    gsl_rng_free(r);
}

/* Write a stream of codes (with raw bits between them) and read it back exactly. */
static void test_stream_roundtrip(void) {
    enum { NCODES = 20000 };
    gsl_rng *r = qt_rng(22);
    uint64_t *ks = malloc(NCODES * sizeof *ks);
    uint32_t *raw = malloc(NCODES * sizeof *raw);
    unsigned *rawlen = malloc(NCODES * sizeof *rawlen);
    size_t cap = NCODES * (43 + 32) / 8 + 16;
    uint8_t *buf = calloc(1, cap);
    uint64_t total = 0;
    bitw w;
    bitw_init(&w, buf, cap);
    for (size_t i = 0; i < NCODES; i++) {
        /* log-uniform values in [1, 2^32 - 1] so that every code length occurs */
        unsigned nb = 1 + (unsigned)gsl_rng_uniform_int(r, 32);
        uint64_t k = ((uint64_t)1 << (nb - 1)) | (gsl_rng_get(r) & (((uint64_t)1 << (nb - 1)) - 1));
        if (i == 0)
            k = ELIAS_MAX;
        ks[i] = k;
        rawlen[i] = (unsigned)gsl_rng_uniform_int(r, 33); /* 0..32 raw bits */
        raw[i] = rawlen[i] ? (uint32_t)(gsl_rng_get(r) & (0xFFFFFFFFull >> (32 - rawlen[i]))) : 0;
        elias_omega_put(&w, k);
        if (rawlen[i])
            bitw_put(&w, raw[i], rawlen[i]);
        total += theory_elias_omega_len(k) + rawlen[i];
    }
    uint64_t nbits = bitw_finish(&w);
    CU_ASSERT_FALSE(w.overflow);
    QT_CHECK(nbits == total, "stream of %llu bits, codes and raw bits sum to %llu",
             (unsigned long long)nbits, (unsigned long long)total);
    bitr rd;
    bitr_init(&rd, buf, (size_t)((nbits + 7) / 8), nbits);
    for (size_t i = 0; i < NCODES; i++) {
        uint64_t k = 0;
        int e = elias_omega_get(&rd, ELIAS_MAX, &k);
        if (!QT_CHECK(e == ELIAS_OK && k == ks[i], "code %zu: got %llu (rc %d), want %llu", i,
                      (unsigned long long)k, e, (unsigned long long)ks[i]))
            break;
        uint32_t x = 0;
        if (rawlen[i] && !QT_CHECK(bitr_get(&rd, rawlen[i], &x) == 0 && x == raw[i],
                                   "raw field after code %zu", i))
            break;
    }
    QT_CHECK(rd.pos == nbits, "reader stopped at %llu of %llu bits", (unsigned long long)rd.pos,
             (unsigned long long)nbits);
    uint64_t k;
    QT_CHECK(elias_omega_get(&rd, ELIAS_MAX, &k) == ELIAS_TRUNCATED, "read past the end succeeded");
    free(ks);
    free(raw);
    free(rawlen);
    free(buf);
    gsl_rng_free(r);
}

/* A code cut anywhere is TRUNCATED, never a value; the reader never consumes past nbits. */
static void test_truncated_codes(void) {
    static const uint64_t ks[] = {1,  2,   3,    4,     7,     8,         16,
                                  17, 100, 1000, 65535, 65536, 123456789, 0xFFFFFFFFull};
    for (size_t a = 0; a < sizeof ks / sizeof *ks; a++) {
        uint8_t buf[16] = {0};
        bitw w;
        bitw_init(&w, buf, sizeof buf);
        elias_omega_put(&w, ks[a]);
        uint64_t nbits = bitw_finish(&w);
        for (uint64_t cut = 0; cut < nbits; cut++) {
            bitr rd;
            bitr_init(&rd, buf, sizeof buf, cut);
            uint64_t k = 0;
            int e = elias_omega_get(&rd, ELIAS_MAX, &k);
            QT_CHECK(e == ELIAS_TRUNCATED && rd.pos <= cut,
                     "omega(%llu) cut to %llu of %llu bits: rc %d, k %llu, pos %llu",
                     (unsigned long long)ks[a], (unsigned long long)cut, (unsigned long long)nbits,
                     e, (unsigned long long)k, (unsigned long long)rd.pos);
        }
    }
}

/* elias_omega_get(max) never returns a value above max (decoders use max to bound positions
 * and levels read from untrusted messages). Both reader paths: the bit-by-bit one (fewer
 * than 64 bits left) and the word-load one (64 or more bits left, trailing zeros added). */
static void test_get_respects_max(void) {
    for (int fast = 0; fast < 2; fast++) {
        unsigned bad = 0;
        uint64_t first_k = 0, first_max = 0, first_got = 0;
        int first_e = 0;
        for (uint64_t k = 1; k <= 600; k++)
            for (uint64_t max = 1; max <= 600; max++) {
                uint8_t buf[24] = {0};
                bitw w;
                bitw_init(&w, buf, sizeof buf);
                elias_omega_put(&w, k);
                uint64_t nbits = bitw_finish(&w);
                bitr rd;
                bitr_init(&rd, buf, sizeof buf, fast ? nbits + 64 : nbits);
                uint64_t got = 0;
                int e = elias_omega_get(&rd, max, &got);
                int ok = k <= max ? (e == ELIAS_OK && got == k && rd.pos == nbits)
                                  : (e == ELIAS_TOO_LARGE);
                if (!ok && bad++ == 0) {
                    first_k = k;
                    first_max = max;
                    first_got = got;
                    first_e = e;
                }
            }
        QT_CHECK(bad == 0,
                 "%s reader: %u (k, max) pairs mis-decoded; first: omega(%llu) read with max %llu "
                 "returned rc %d, k = %llu (want ELIAS_TOO_LARGE iff k > max)",
                 fast ? "word-load" : "bit-by-bit", bad, (unsigned long long)first_k,
                 (unsigned long long)first_max, first_e, (unsigned long long)first_got);
    }
}

/* The lookup tables of elias.c against the definition: elias_omega_small[k] = len << 24 |
 * code for k = 1..255; elias_omega_dec8[byte] = len << 8 | value when a code of at most 8
 * bits starts the byte, else 0; elias_omega_pair12 likewise for a code pair and a bit. */
static void test_tables(void) {
    for (uint64_t k = 1; k < 256; k++) {
        char ref[128];
        unsigned len = omega_ref(k, ref);
        uint32_t want = (uint32_t)len << 24 | (uint32_t)strtoul(ref, NULL, 2);
        if (!QT_CHECK(elias_omega_small[k] == want, "elias_omega_small[%llu] = 0x%08x, want 0x%08x",
                      (unsigned long long)k, elias_omega_small[k], want))
            break;
    }
    for (unsigned byte = 0; byte < 256; byte++) {
        uint16_t want = 0;
        for (uint64_t k = 1; k < 256 && !want; k++) {
            char ref[128];
            unsigned len = omega_ref(k, ref);
            if (len > 8)
                continue;
            unsigned code = (unsigned)strtoul(ref, NULL, 2);
            if ((byte >> (8 - len)) == code)
                want = (uint16_t)(len << 8 | k);
        }
        if (!QT_CHECK(elias_omega_dec8[byte] == want,
                      "elias_omega_dec8[0x%02x] = 0x%04x, want 0x%04x", byte,
                      elias_omega_dec8[byte], want))
            break;
    }
    /* elias_omega_pair12[x]: the first [omega(a)][bit][omega(b)], a, b <= 15, within 12 bits */
    for (unsigned x = 0; x < 4096; x++) {
        uint16_t want = 0;
        for (uint64_t a = 1; a <= 15 && !want; a++) {
            char ra[128], rb[128];
            unsigned la = omega_ref(a, ra);
            if (la + 2 > 12 || (x >> (12 - la)) != (unsigned)strtoul(ra, NULL, 2))
                continue;
            unsigned bit = x >> (11 - la) & 1;
            for (uint64_t b = 1; b <= 15 && !want; b++) {
                unsigned lb = omega_ref(b, rb);
                unsigned l = la + 1 + lb;
                if (l <= 12 && (x >> (12 - l) & ((1u << lb) - 1)) == strtoul(rb, NULL, 2))
                    want = (uint16_t)(l << 12 | bit << 8 | b << 4 | a);
            }
        }
        if (!QT_CHECK(elias_omega_pair12[x] == want,
                      "elias_omega_pair12[0x%03x] = 0x%04x, want 0x%04x", x, elias_omega_pair12[x],
                      want))
            break;
    }
}

/* Bit writer: MSB-first, zero padding, overflow flagged instead of written past cap. */
static void test_bitstream(void) {
    uint8_t buf[8];
    memset(buf, 0xEE, sizeof buf);
    bitw w;
    bitw_init(&w, buf, 3);
    bitw_put(&w, 0x5, 3);    /* 101 */
    bitw_put(&w, 0x1, 1);    /* 1 */
    bitw_put(&w, 0xABC, 12); /* 1010 1011 1100 */
    uint64_t nb = bitw_finish(&w);
    QT_CHECK(nb == 16 && !w.overflow && buf[0] == 0xBA && buf[1] == 0xBC && buf[2] == 0xEE,
             "bitw: %llu bits, bytes %02x %02x %02x", (unsigned long long)nb, buf[0], buf[1],
             buf[2]);
    memset(buf, 0xEE, sizeof buf);
    bitw_init(&w, buf, 3);
    bitw_put(&w, 0xFFFFFFFFu, 32); /* 4 bytes into a 3-byte buffer */
    bitw_put(&w, 1, 1);
    bitw_finish(&w);
    QT_CHECK(w.overflow && buf[3] == 0xEE, "bitw overflow: flag %d, byte past cap 0x%02x",
             w.overflow, buf[3]);
    memset(buf, 0xEE, sizeof buf);
    bitw_init(&w, buf, 2);
    bitw_put(&w, 0x7, 3);
    bitw_put(&w, 0x1FFF, 13); /* exactly 16 bits */
    bitw_finish(&w);
    QT_CHECK(!w.overflow && buf[0] == 0xFF && buf[1] == 0xFF && buf[2] == 0xEE,
             "bitw exact fit: overflow %d", w.overflow);
    /* reader: zero past len, fails past nbits without consuming */
    const uint8_t src[3] = {0x80, 0x01, 0xFF};
    bitr r;
    bitr_init(&r, src, 2, 16);
    uint32_t x;
    QT_CHECK(bitr_get(&r, 1, &x) == 0 && x == 1, "bitr first bit");
    QT_CHECK(bitr_get(&r, 15, &x) == 0 && x == 1, "bitr next 15 bits = %u", x);
    QT_CHECK(bitr_get(&r, 1, &x) == -1 && r.pos == 16, "bitr read past nbits");
}

int main(void) {
    static const qt_test tests[] = {
        {"pinned omega codes (1, 2, 3, 4, 7, 8, 16, 17, 100)", test_pinned_codes},
        {"omega codes == definition up to 2^32-1", test_codes_match_definition},
        {"stream round trip, random values up to 2^32-1", test_stream_roundtrip},
        {"truncated codes are errors", test_truncated_codes},
        {"elias_omega_get never exceeds max", test_get_respects_max},
        {"lookup tables == definition", test_tables},
        {"bit writer/reader", test_bitstream},
        {NULL, NULL},
    };
    return qt_run("quant_elias", tests);
}
