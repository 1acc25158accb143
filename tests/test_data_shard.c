/* test_data_shard.c — sharding across K workers (disjoint, covering, balanced to within one
 * row, deterministic in the seed, different across seeds) and the per-worker minibatch
 * sampler (every epoch a permutation of the pool, same seed -> same batches, workers and
 * seeds independent, drop_last).
 */
#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data.h"

static void check_sharding(size_t n, unsigned K, uint64_t seed) {
    unsigned char *seen = calloc(n ? n : 1, 1);
    size_t total = 0, smin = (size_t)-1, smax = 0;
    qsgd_err err = {0};
    for (unsigned w = 0; w < K; w++) {
        size_t m = data_shard_size(n, K, w);
        size_t *idx = malloc((m ? m : 1) * sizeof *idx);
        size_t *again = malloc((m ? m : 1) * sizeof *idx);
        CU_ASSERT_EQUAL_FATAL(data_shard(n, K, w, seed, idx, &err), QSGD_OK);
        CU_ASSERT_EQUAL_FATAL(data_shard(n, K, w, seed, again, &err), QSGD_OK);
        CU_ASSERT_EQUAL(memcmp(idx, again, m * sizeof *idx), 0); /* deterministic */
        for (size_t i = 0; i < m; i++) {
            CU_ASSERT_FATAL(idx[i] < n);
            CU_ASSERT_EQUAL(seen[idx[i]], 0); /* disjoint */
            seen[idx[i]] = 1;
            if (i)
                CU_ASSERT(idx[i - 1] < idx[i]); /* sorted */
        }
        total += m;
        smin = m < smin ? m : smin;
        smax = m > smax ? m : smax;
        free(idx);
        free(again);
    }
    CU_ASSERT_EQUAL(total, n); /* covering */
    for (size_t i = 0; i < n; i++)
        CU_ASSERT_EQUAL(seen[i], 1);
    CU_ASSERT(smax - smin <= 1); /* balanced */
    free(seen);
}

static void test_shard_properties(void) {
    size_t ns[] = {0, 1, 7, 100, 1000, 60000, 10007};
    unsigned ks[] = {1, 2, 3, 7, 16, 64};
    for (size_t a = 0; a < sizeof ns / sizeof *ns; a++)
        for (size_t b = 0; b < sizeof ks / sizeof *ks; b++)
            check_sharding(ns[a], ks[b], 42 + a);
    qsgd_err err = {0};
    size_t x;
    CU_ASSERT_EQUAL(data_shard(10, 0, 0, 1, &x, &err), QSGD_EINVAL);
    CU_ASSERT_EQUAL(data_shard(10, 4, 4, 1, &x, &err), QSGD_EINVAL);
    CU_ASSERT_EQUAL(data_shard_size(10, 4, 4), 0);
}

static void test_shard_shuffled(void) {
    /* A shard is a random subset, not a block: with seed s1 != s2 they differ, and worker
     * 0 of 4 does not get rows 0..n/4-1. */
    enum { N = 1000, K = 4 };
    size_t a[N / K], b[N / K];
    qsgd_err err = {0};
    CU_ASSERT_EQUAL_FATAL(data_shard(N, K, 0, 1, a, &err), QSGD_OK);
    CU_ASSERT_EQUAL_FATAL(data_shard(N, K, 0, 2, b, &err), QSGD_OK);
    CU_ASSERT_NOT_EQUAL(memcmp(a, b, sizeof a), 0);
    CU_ASSERT(a[N / K - 1] > N / K + 100);
    /* Roughly uniform: about a quarter of the shard falls in each quarter of 0..N. */
    size_t q[4] = {0};
    for (size_t i = 0; i < N / K; i++)
        q[a[i] * 4 / N]++;
    for (int i = 0; i < 4; i++)
        CU_ASSERT(q[i] > 30 && q[i] < 95);
}

static void test_sampler_epochs(void) {
    enum { N = 103, B = 10 };
    size_t pool[N];
    for (size_t i = 0; i < N; i++)
        pool[i] = 1000 + 3 * i;
    qsgd_err err = {0};
    data_sampler *s = data_sampler_alloc(pool, N, B, 0, 7, 0, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_EQUAL(data_sampler_batches_per_epoch(s), 11);
    size_t idx[B];
    size_t first_epoch[N];
    for (int e = 0; e < 3; e++) {
        unsigned char seen[N] = {0};
        size_t got = 0;
        for (int b = 0; b < 11; b++) {
            size_t k = data_sampler_next(s, idx);
            CU_ASSERT_EQUAL(k, b < 10 ? B : N % B);
            for (size_t i = 0; i < k; i++) {
                size_t r = idx[i];
                size_t j = (r - 1000) / 3;
                CU_ASSERT_FATAL(r >= 1000 && (r - 1000) % 3 == 0 && j < N && got + i < N);
                if (j >= N || got + i >= N)
                    return;
                CU_ASSERT_EQUAL(seen[j], 0); /* without replacement */
                seen[j] = 1;
                if (e == 0)
                    first_epoch[got + i] = r;
            }
            got += k;
        }
        CU_ASSERT_EQUAL(got, N);
        CU_ASSERT_EQUAL(s->epoch, (size_t)e + 1);
    }
    /* Orders differ from epoch to epoch (and from the pool order). */
    CU_ASSERT_NOT_EQUAL(memcmp(first_epoch, pool, sizeof pool), 0);
    data_sampler_free(s);

    /* drop_last: every batch is full; the tail of each epoch is skipped. */
    s = data_sampler_alloc(NULL, N, B, 1, 7, 0, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_EQUAL(data_sampler_batches_per_epoch(s), 10);
    for (int b = 0; b < 35; b++) {
        CU_ASSERT_EQUAL(data_sampler_next(s, idx), B);
        CU_ASSERT_EQUAL(s->epoch, (size_t)b / 10 + 1);
    }
    data_sampler_free(s);
    CU_ASSERT_PTR_NULL(data_sampler_alloc(NULL, 5, 10, 1, 1, 0, &err));
    CU_ASSERT_EQUAL(err.code, QSGD_EINVAL);
    CU_ASSERT_PTR_NULL(data_sampler_alloc(NULL, 0, 10, 0, 1, 0, &err));
    data_sampler_free(NULL);
}

/* Run `steps` batches and write them all into out. */
static void draw(uint64_t seed, uint32_t worker, size_t *out, int steps) {
    enum { N = 500, B = 32 };
    qsgd_err err = {0};
    data_sampler *s = data_sampler_alloc(NULL, N, B, 1, seed, worker, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    for (int i = 0; i < steps; i++)
        data_sampler_next(s, out + (size_t)i * B);
    data_sampler_free(s);
}

static void test_sampler_determinism(void) {
    enum { STEPS = 40, B = 32 }; /* 40 steps > 2 epochs of 15 batches */
    static size_t a[STEPS * B], b[STEPS * B], c[STEPS * B], d[STEPS * B];
    draw(123, 0, a, STEPS);
    draw(123, 0, b, STEPS);
    draw(124, 0, c, STEPS);
    draw(123, 1, d, STEPS);
    CU_ASSERT_EQUAL(memcmp(a, b, sizeof a), 0);     /* same seed -> same batches */
    CU_ASSERT_NOT_EQUAL(memcmp(a, c, sizeof a), 0); /* other seed */
    CU_ASSERT_NOT_EQUAL(memcmp(a, d, sizeof a), 0); /* other worker */
    CU_ASSERT_NOT_EQUAL(data_rng_seed(1, 0, 0), data_rng_seed(1, 1, 0));
    CU_ASSERT_NOT_EQUAL(data_rng_seed(1, 0, 0), data_rng_seed(2, 0, 0));
    CU_ASSERT_NOT_EQUAL(data_rng_seed(1, 0, 0), data_rng_seed(1, 0, 1));
    CU_ASSERT_EQUAL(data_rng_seed(99, 3, 5), data_rng_seed(99, 3, 5));
}

static void test_sampler_on_shards(void) {
    /* K workers, each sampling its own shard: over one epoch together they visit every row
     * exactly once (the simulator's setting). */
    enum { N = 997, K = 5, B = 16 };
    unsigned char seen[N] = {0};
    qsgd_err err = {0};
    for (unsigned w = 0; w < K; w++) {
        size_t m = data_shard_size(N, K, w);
        size_t *shard = malloc(m * sizeof *shard);
        CU_ASSERT_EQUAL_FATAL(data_shard(N, K, w, 9, shard, &err), QSGD_OK);
        data_sampler *s = data_sampler_alloc(shard, m, B, 0, 9, w, &err);
        CU_ASSERT_PTR_NOT_NULL_FATAL(s);
        size_t idx[B], got = 0;
        while (got < m) {
            size_t k = data_sampler_next(s, idx);
            for (size_t i = 0; i < k; i++) {
                CU_ASSERT_EQUAL(seen[idx[i]], 0);
                seen[idx[i]] = 1;
            }
            got += k;
        }
        CU_ASSERT_EQUAL(got, m);
        data_sampler_free(s);
        free(shard);
    }
    for (size_t i = 0; i < N; i++)
        CU_ASSERT_EQUAL(seen[i], 1);
}

int main(void) {
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("data_shard", NULL, NULL);
    CU_add_test(s, "shards: disjoint, covering, balanced, deterministic", test_shard_properties);
    CU_add_test(s, "shards: shuffled by seed", test_shard_shuffled);
    CU_add_test(s, "sampler: epochs without replacement, drop_last", test_sampler_epochs);
    CU_add_test(s, "sampler: same seed -> same batches", test_sampler_determinism);
    CU_add_test(s, "sampler over shards covers the data once per epoch", test_sampler_on_shards);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned fails = CU_get_number_of_failures();
    CU_cleanup_registry();
    return fails ? 1 : 0;
}
