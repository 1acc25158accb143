/* test_cuda_models_emul_extra.c — the CUDA models (models/model_cuda.cu) on the strict host
 * emulation of the CUDA runtime and cuBLAS (tests/cuda_emu), beyond tests/test_cuda_models.c:
 * shapes that reach the code's limits and remainders (4 conv blocks, odd sizes at every level,
 * one channel, batches over the 256-image chunk, 8 hidden layers, width-1 layers that take the
 * gemv paths, dim 1, column sums over several 128-row blocks), every allocation failing in
 * turn (a clean QSGD_ENOMEM, nothing leaked), no GPU at all, and no device memory, stream or
 * cuBLAS handle left behind. Emulator-only (the hooks of cuda_emu.h): it tests the CUDA code's
 * logic, not GPU numerics.
 *
 * Parity as in test_cuda_models.c: |gpu - cpu| <= 1e-5 + 1e-4 |cpu| per gradient coordinate,
 * losses within 1e-5 relative; mlp and cnn inputs and weights on dyadic grids, so that every
 * ReLU and max-pool decision is exact on both sides. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_emu.h"
#include "cuda_parity_util.h"
#include "gpu_device.h"

/* ---- shapes -------------------------------------------------------------------------------- */

static void test_cnn_shapes(void) {
    /* 13x11 -> 6x5 -> 3x2 -> 1x1; max_batch 290 and 300 = one 256-image chunk + a remainder */
    dataset *d = mt_images(R, 600, 2, 13, 11, 4), *t = mt_images(R, 333, 2, 13, 11, 4);
    grid_data(d);
    grid_data(t);
    parity("cnn:channels=3x2x5,fc=1", d, t, 290, 1, 0.5, 0);
    parity("cnn:channels=1x1x1,fc=0", d, t, 7, 1, 0.5, 0);
    parity("cnn:channels=5,fc=3", d, t, 300, 1, 0.5, 0);
    mt_free(d);
    mt_free(t);
    /* four conv blocks (the most), one input channel: 17x16 -> 8x8 -> 4x4 -> 2x2 -> 1x1 */
    d = mt_images(R, 300, 1, 17, 16, 2);
    t = mt_images(R, 100, 1, 17, 16, 2);
    grid_data(d);
    grid_data(t);
    parity("cnn:channels=2x3x2x2,fc=4", d, t, 260, 1, 0.5, 0);
    mt_free(d);
    mt_free(t);
}

static void test_mlp_shapes(void) {
    /* width-1 layers (gemv forward and backward), eight hidden layers (the most), 2 classes */
    dataset *d = mt_images(R, 200, 1, 5, 7, 2), *t = mt_images(R, 61, 1, 5, 7, 2);
    grid_data(d);
    grid_data(t);
    parity("mlp:hidden=1", d, t, 19, 1, 0.5, 0);
    parity("mlp:hidden=3x1x4x2x5x6x2x3", d, t, 33, 1, 0.5, 0);
    parity("mlp:hidden=40", d, t, 200, 1, 0.5, 0); /* bias sums over two 128-row blocks */
    mt_free(d);
    mt_free(t);
}

static void test_glm_shapes(void) {
    /* dim 1; batches of 300 rows: column sums over three 128-row blocks; evaluate chunks */
    dataset *d = mt_dense(R, 700, 1, 0, 0.0), *t = mt_dense(R, 301, 1, 0, 0.0);
    parity("leastsq:l2=0.3", d, t, 300, 0, 0.5, 0);
    mt_free(d);
    mt_free(t);
    d = mt_dense(R, 700, 3, 2, 0.0);
    t = mt_dense(R, 301, 3, 2, 0.0);
    parity("logreg:l2=0.3", d, t, 300, 0, 0.5, 0);
    parity("softmax:l2=0.2", d, t, 300, 0, 0.5, 0);
    mt_free(d);
    mt_free(t);
}

/* ---- failures ------------------------------------------------------------------------------ */

static int no_leaks(const cuda_emu_stats *a, const cuda_emu_stats *b) {
    return a->device_allocs == b->device_allocs && a->pinned_allocs == b->pinned_allocs &&
           a->streams == b->streams && a->blas_handles == b->blas_handles;
}

/* Allocation k fails, for every k until the model fits: QSGD_ENOMEM and nothing left
 * behind; then the dataset upload fails in loss_grad and evaluate, and the model recovers. */
static void test_alloc_failures(void) {
    dataset *d = mt_images(R, 40, 1, 8, 8, 3);
    const char *specs[] = {"cnn:channels=2x2,fc=3", "mlp:hidden=5x4", "softmax", "leastsq"};
    for (int si = 0; si < 4; si++) {
        dataset *data = d;
        dataset *lsq = si == 3 ? mt_dense(R, 40, 64, 0, 0.0) : NULL;
        if (lsq)
            data = lsq;
        const cuda_emu_stats before = cuda_emu_get_stats();
        model *m = NULL;
        int k = 0;
        for (; k < 100 && !m; k++) {
            qsgd_err err = {0};
            cuda_emu_fail_allocs_after(k);
            m = model_alloc_spec_on(specs[si], &data->shape, 9, MODEL_DEVICE_CUDA, &err);
            cuda_emu_fail_allocs_after(-1);
            if (!m) {
                CU_ASSERT_EQUAL(err.code, QSGD_ENOMEM);
                CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "out of memory"));
                const cuda_emu_stats after = cuda_emu_get_stats();
                CU_ASSERT(no_leaks(&before, &after));
            }
        }
        CU_ASSERT_PTR_NOT_NULL_FATAL(m);
        CU_ASSERT(k > 5); /* several allocations did fail */
        float *th = malloc(m->nparams * sizeof(float)), *gr = malloc(m->nparams * sizeof(float));
        float *g0 = malloc(m->nparams * sizeof(float));
        m->type->init_params(m, th, 1);
        size_t idx[3] = {1, 5, 2};
        double L, L0, acc;
        qsgd_err err = {0};
        for (int f = 0; f < 2; f++) { /* the dataset's first or second buffer */
            cuda_emu_fail_allocs_after(f);
            CU_ASSERT_EQUAL(m->type->loss_grad(m, th, data, idx, 3, &L, gr, &err), QSGD_ENOMEM);
            CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "on the GPU"));
            CU_ASSERT_EQUAL(m->type->evaluate(m, th, data, &L, &acc, &err), QSGD_ENOMEM);
            cuda_emu_fail_allocs_after(-1);
        }
        CU_ASSERT_EQUAL(m->type->loss_grad(m, th, data, idx, 3, &L0, g0, &err), QSGD_OK);
        CU_ASSERT_EQUAL(m->type->evaluate(m, th, data, &L, &acc, &err), QSGD_OK);
        /* a fresh model gives the same bits */
        model *m2 = make(specs[si], data, 9, MODEL_DEVICE_CUDA);
        CU_ASSERT_EQUAL(m2->type->loss_grad(m2, th, data, idx, 3, &L, gr, &err), QSGD_OK);
        CU_ASSERT(memcmp(&L, &L0, sizeof L) == 0);
        CU_ASSERT(memcmp(gr, g0, m->nparams * sizeof(float)) == 0);
        model_free(m2);
        model_free(m);
        const cuda_emu_stats after = cuda_emu_get_stats();
        CU_ASSERT(no_leaks(&before, &after));
        free(th);
        free(gr);
        free(g0);
        mt_free(lsq);
    }
    mt_free(d);
}

/* Without a usable GPU: device cuda fails with the reason, auto takes the CPU. */
static void test_no_gpu(void) {
    dataset *d = mt_images(R, 10, 1, 8, 8, 3);
    cuda_emu_set_device_count(0);
    qsgd_err err = {0};
    CU_ASSERT_PTR_NULL(model_alloc_spec_on("cnn", &d->shape, 4, MODEL_DEVICE_CUDA, &err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "no usable CUDA GPU"));
    model *m = model_alloc_spec_on("cnn", &d->shape, 4, MODEL_DEVICE_AUTO, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    CU_ASSERT_EQUAL(m->on_gpu, 0);
    model_free(m);
    cuda_emu_set_device_count(1);
    mt_free(d);
}

static void test_nothing_left(void) {
    const cuda_emu_stats s = cuda_emu_get_stats();
    CU_ASSERT_EQUAL(s.device_allocs, 0);
    CU_ASSERT_EQUAL(s.pinned_allocs, 0);
    CU_ASSERT_EQUAL(s.streams, 0);
    CU_ASSERT_EQUAL(s.blas_handles, 0);
    CU_ASSERT(s.launches > 1000 && s.gemms > 100); /* the tests did run on the emulator */
}

int main(void) {
    char why[256] = "";
    if (gpu_device_count(why, sizeof why) <= 0) {
        printf("SKIP: %s\n", why);
        return 77;
    }
    R = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(R, 20261201);
    static const mt_test tests[] = {
        {"cnn: 4 blocks, odd sizes, 1 channel, chunk remainders", test_cnn_shapes},
        {"mlp: width-1 layers, 8 hidden layers", test_mlp_shapes},
        {"glm: dim 1, several column-sum blocks", test_glm_shapes},
        {"every allocation failing in turn", test_alloc_failures},
        {"no GPU", test_no_gpu},
        {"no device memory, stream or handle left", test_nothing_left},
        {NULL, NULL},
    };
    int rc = mt_run("cuda_models_emul_extra", tests);
    gsl_rng_free(R);
    return rc;
}
