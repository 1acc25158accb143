/* test_quant_kernels.c — the random stream and the SIMD kernels against their scalar
 * references: Philox4x32-10 known-answer vectors (Random123's kat_vectors), every SIMD
 * level available on this CPU producing the same words and the same QSGD levels, bit for
 * bit, and end-to-end messages identical with SIMD forced off (QSGDSIM_NO_SIMD). */
#include <CUnit/Basic.h>
#include <stdlib.h>
#include <string.h>

#include "qrng.h"
#include "qsgd_kernels.h"
#include "quant.h"

static void test_philox_kat(void) {
    /* Random123 kat_vectors: philox4x32 10 rounds */
    static const struct {
        uint32_t ctr[4], key[2], out[4];
    } kat[] = {
        {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
        {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
         {0xffffffff, 0xffffffff},
         {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
        {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
         {0xa4093822, 0x299f31d0},
         {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
    };
    for (size_t k = 0; k < sizeof kat / sizeof kat[0]; k++) {
        uint32_t out[4];
        qrng_philox4x32_10(kat[k].ctr, kat[k].key, out);
        CU_ASSERT_EQUAL(memcmp(out, kat[k].out, sizeof out), 0);
    }
}

static void test_stream_layout(void) {
    /* r_i = philox(ctr = {8*(i/32) + i%8, tensor, step, worker}, key = seed)[(i%32)/8] */
    qrng_stream st = qrng_make(0x1234567890abcdefull, 5, 77, 3);
    for (uint64_t i = 0; i < 200; i++) {
        uint32_t ctr[4] = {(uint32_t)(8 * (i / 32) + i % 8), 3, 77, 5}, out[4];
        qrng_philox4x32_10(ctr, st.key, out);
        CU_ASSERT_EQUAL(qrng_word(&st, i), out[(i % 32) / 8]);
    }
    CU_ASSERT_EQUAL(st.key[0], 0x90abcdefu);
    CU_ASSERT_EQUAL(st.key[1], 0x12345678u);
}

static void test_fill_all_levels(void) {
    enum { G = 37 }; /* odd: exercises the AVX-512 tail */
    static uint32_t ref[G * QRNG_GROUP], got[G * QRNG_GROUP];
    qrng_stream st = qrng_make(99, 1, 2, 3);
    qrng_fill_groups_ref(&st, 11, G, ref);
    for (size_t i = 0; i < G * QRNG_GROUP; i++)
        CU_ASSERT_EQUAL_FATAL(ref[i], qrng_word(&st, 11 * QRNG_GROUP + i));
    for (int level = 0; level <= qrng_simd_available(); level++) {
        memset(got, 0, sizeof got);
        qrng_fill_groups(&st, 11, G, got, level);
        CU_ASSERT_EQUAL(memcmp(ref, got, sizeof ref), 0);
    }
}

static void test_levels_simd_equals_ref(void) {
    enum { N = 4099 };
    static float v[N];
    static uint32_t r[N];
    static uint16_t a[N], b[N];
    srand(7);
    for (int i = 0; i < N; i++) {
        v[i] = (float)(rand() / (double)RAND_MAX - 0.5) * (i % 13 == 0 ? 100.0f : 1.0f);
        r[i] = (uint32_t)rand() ^ ((uint32_t)rand() << 16);
    }
    v[5] = -0.0f;
    v[6] = 0.0f;
    const unsigned s_list[] = {1, 2, 7, 127, 1000, 32767};
    for (size_t k = 0; k < sizeof s_list / sizeof s_list[0]; k++) {
        unsigned s = s_list[k], w = 1;
        while ((1u << (w - 1)) <= s)
            w++;
        int fin;
        float norm = qsgd_norm_l2(v, N, &fin);
        CU_ASSERT_TRUE(fin);
        qsgd_levels_ref(v, r, N, (float)s / norm, s, w, a);
        for (int lv = 1; lv <= qrng_simd_available(); lv++) { /* AVX2, AVX-512 */
            qsgd_levels(v, r, N, (float)s / norm, s, w, b, lv);
            CU_ASSERT_EQUAL(memcmp(a, b, sizeof a), 0);
        }
        for (int i = 0; i < N; i++)
            CU_ASSERT_TRUE_FATAL((a[i] & ((1u << (w - 1)) - 1)) <= s);
    }
}

static void test_pack_unpack(void) {
    enum { N = 1001 };
    static uint16_t c[N], d[N];
    static uint8_t buf[2 * N + 8];
    for (unsigned w = 1; w <= 16; w++) {
        for (int i = 0; i < N; i++)
            c[i] = (uint16_t)((i * 2654435761u >> 7) & ((1u << w) - 1));
        memset(buf, 0xff, sizeof buf);
        qsgd_pack(c, N, w, buf);
        size_t nbytes = ((size_t)N * w + 7) / 8;
        /* padding bits of the last byte are zero */
        unsigned pad = (unsigned)(nbytes * 8 - (size_t)N * w);
        CU_ASSERT_EQUAL(buf[nbytes - 1] & ((1u << pad) - 1), 0);
        CU_ASSERT_EQUAL(buf[nbytes], 0xff); /* nothing written past the end */
        qsgd_unpack(buf, nbytes, 0, N, w, d);
        CU_ASSERT_EQUAL(memcmp(c, d, sizeof c), 0);
        /* unaligned start: codes 3.. read from bit 3*w */
        qsgd_unpack(buf, nbytes, 3ull * w, N - 3, w, d);
        CU_ASSERT_EQUAL(memcmp(c + 3, d, (N - 3) * sizeof *c), 0);
    }
}

static void test_messages_same_without_simd(void) {
    if (qrng_simd_available() == 0) {
        CU_PASS("no SIMD on this CPU: nothing to compare");
        return;
    }
    enum { N = 70001 };
    static float v[N];
    for (int i = 0; i < N; i++)
        v[i] = (float)((i * 7919) % 1000) / 1000.0f - 0.37f;
    const char *specs[] = {"qsgd:bits=4,bucket=512", "qsgd:s=7,format=elias,bucket=1000",
                           "qsgd:bits=8,norm=max"};
    for (size_t k = 0; k < 3; k++) {
        qsgd_err e;
        quant *a = quant_alloc_spec(specs[k], 1, N, &e);
        setenv("QSGDSIM_NO_SIMD", "1", 1);
        quant *b = quant_alloc_spec(specs[k], 1, N, &e);
        unsetenv("QSGDSIM_NO_SIMD");
        CU_ASSERT_PTR_NOT_NULL_FATAL(a);
        CU_ASSERT_PTR_NOT_NULL_FATAL(b);
        size_t cap = quant_max_bytes(a);
        uint8_t *ba = calloc(cap, 1), *bb = calloc(cap, 1);
        uint64_t na, nb;
        quant_ctx ctx = {2024, 3, 17, 1};
        CU_ASSERT_EQUAL(quant_encode(a, v, &ctx, ba, cap, &na, &e), QSGD_OK);
        CU_ASSERT_EQUAL(quant_encode(b, v, &ctx, bb, cap, &nb, &e), QSGD_OK);
        CU_ASSERT_EQUAL(na, nb);
        CU_ASSERT_EQUAL(memcmp(ba, bb, (na + 7) / 8), 0);
        free(ba);
        free(bb);
        quant_free(a);
        quant_free(b);
    }
}

int main(void) {
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("quant_kernels", NULL, NULL);
    CU_add_test(s, "philox known answers", test_philox_kat);
    CU_add_test(s, "stream layout", test_stream_layout);
    CU_add_test(s, "fill: every SIMD level == reference", test_fill_all_levels);
    CU_add_test(s, "levels: SIMD == reference", test_levels_simd_equals_ref);
    CU_add_test(s, "pack/unpack all widths", test_pack_unpack);
    CU_add_test(s, "messages identical with SIMD off", test_messages_same_without_simd);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned fails = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    return fails ? 1 : 0;
}
