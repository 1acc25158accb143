/* test_cuda_models.c — the CUDA models (model.h, "Devices") against the CPU models: same
 * tensors and init, loss and gradient within rounding for leastsq, logreg (l2), softmax (l2),
 * mlp (hidden=64x32) and cnn (channels=4x8, fc=16, on 1x28x28 and 3x8x8 images) at batch
 * sizes 1, 3, 17 and max_batch, with random and consecutive rows; evaluate; bit-identical
 * results when a call is repeated and across model objects sharing the GPU; the dataset
 * cache; device selection and its errors. Skipped (exit 77) without a usable GPU.
 *
 * Tolerances. The two sides compute the same formulas in fp32 but sum in different orders
 * (cuBLAS's tiling vs OpenBLAS's; the CPU cnn works in chunks of 16 images, the GPU in
 * chunks of 256; bias gradients are summed in 128-row blocks) and expf may differ by an ulp.
 * A sum of K terms reordered moves by about sqrt(K) * 2^-24 * sum|terms|; the gradients here
 * are means of at most ~50k terms (cnn conv1: batch*28*28) with sum|terms| of the order of
 * the coordinate's own scale, so the expected relative deviation is ~1e-6..1e-5 and
 * coordinates near 0 (cancellation) deviate by ~1e-8 absolute. Per gradient coordinate we
 * require |gpu - cpu| <= 1e-5 + 1e-4 |cpu|: ten times above those estimates, far below any
 * real bug (a wrong index or a missed term moves coordinates by O(their size)). Losses are
 * sums of positive terms computed in double from fp32 scores: relative 1e-5.
 * Kinks: a ReLU or max-pool decision taken differently because of a 1-ulp difference would
 * move some gradient coordinates by O(1) and make such a comparison flaky, so for the mlp and
 * the cnn the inputs and weights are drawn on dyadic grids (x in {-2, -1.75, ..., 2}, weights
 * k * 2^-e with |k| <= 3 and 2^e ~ 2 sqrt(fan-in), biases k/16) on which every pre-activation
 * up to the logits is an exact fp32 sum in any order: both sides then take identical
 * decisions (ties included, which exercises the first-maximum rule of the pooling), and the
 * comparison measures the smooth arithmetic only. The convex models (no kinks) use plain
 * Gaussian data and parameters; the mlp and cnn also get one Gaussian case where only the
 * loss and evaluate (continuous across kinks) are compared.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_parity_util.h"
#include "gpu_device.h"

/* ---- the models -------------------------------------------------------------------------- */

static void test_leastsq(void) {
    dataset *d = mt_dense(R, 500, 300, 0, 0.0), *t = mt_dense(R, 123, 300, 0, 0.0);
    parity("leastsq", d, t, 45, 0, 0.1, 0);
    parity("leastsq:l2=0.05", d, t, 45, 0, 0.1, 0);
    mt_free(d);
    mt_free(t);
}

static void test_logreg(void) {
    dataset *d = mt_dense(R, 500, 300, 2, 0.0), *t = mt_dense(R, 123, 300, 2, 0.0);
    parity("logreg:l2=0.01", d, t, 45, 0, 0.1, 0);
    mt_free(d);
    mt_free(t);
}

static void test_softmax(void) {
    dataset *d = mt_dense(R, 500, 300, 10, 0.0), *t = mt_dense(R, 123, 300, 10, 0.0);
    parity("softmax:l2=0.01", d, t, 45, 0, 0.1, 0);
    mt_free(d);
    mt_free(t);
}

static void test_mlp(void) {
    dataset *d = mt_images(R, 200, 1, 28, 28, 10), *t = mt_images(R, 77, 1, 28, 28, 10);
    parity("mlp:hidden=64x32", d, t, 45, 0, 0.05, 1); /* Gaussian: loss/evaluate only */
    grid_data(d);
    grid_data(t);
    parity("mlp:hidden=64x32", d, t, 45, 1, 0, 0);
    parity("mlp:hidden=20", d, t, 17, 1, 0, 0);
    mt_free(d);
    mt_free(t);
}

static void test_cnn_28(void) {
    dataset *d = mt_images(R, 200, 1, 28, 28, 10), *t = mt_images(R, 77, 1, 28, 28, 10);
    parity("cnn:channels=4x8,fc=16", d, t, 45, 0, 0.1, 1); /* Gaussian: loss/evaluate only */
    grid_data(d);
    grid_data(t);
    parity("cnn:channels=4x8,fc=16", d, t, 45, 1, 0, 0);
    mt_free(d);
    mt_free(t);
}

static void test_cnn_small(void) {
    /* 3x8x8 with max_batch 300: the GPU works in two chunks (256 + 44) */
    dataset *d = mt_images(R, 700, 3, 8, 8, 10), *t = mt_images(R, 301, 3, 8, 8, 10);
    grid_data(d);
    grid_data(t);
    parity("cnn:channels=4x8,fc=16", d, t, 300, 1, 0, 0);
    parity("cnn:channels=4x8,fc=0", d, t, 45, 1, 0, 0);
    mt_free(d);
    mt_free(t);
    /* odd sizes: 7x9 images, pooling drops the last row/column */
    d = mt_images(R, 60, 2, 7, 9, 3);
    t = mt_images(R, 31, 2, 7, 9, 3);
    grid_data(d);
    grid_data(t);
    parity("cnn:channels=3,fc=5", d, t, 17, 1, 0, 0);
    mt_free(d);
    mt_free(t);
}

/* ---- shared GPU, cache, errors, device selection ------------------------------------------- */

/* K model objects used in turn (virtual workers) give exactly what one object gives. */
static void test_virtual_workers(void) {
    enum { K = 4, B = 32, STEPS = 3 };
    dataset *d = mt_images(R, 256, 1, 28, 28, 10);
    grid_data(d);
    model *w[K], *one = make("mlp:hidden=64x32", d, B, MODEL_DEVICE_CUDA);
    for (int k = 0; k < K; k++)
        w[k] = make("mlp:hidden=64x32", d, B, MODEL_DEVICE_CUDA);
    size_t n = one->nparams, idx[B];
    float *th = malloc(n * sizeof(float)), *ga = malloc(n * sizeof(float)),
          *gb = malloc(n * sizeof(float));
    one->type->init_params(one, th, 5);
    for (int s = 0; s < STEPS; s++)
        for (int k = 0; k < K; k++) {
            for (size_t i = 0; i < B; i++)
                idx[i] = gsl_rng_uniform_int(R, (unsigned long)d->n);
            double la, lb;
            CU_ASSERT_EQUAL_FATAL(lg(w[k], th, d, idx, B, &la, ga), QSGD_OK);
            CU_ASSERT_EQUAL_FATAL(lg(one, th, d, idx, B, &lb, gb), QSGD_OK);
            CU_ASSERT(memcmp(&la, &lb, sizeof la) == 0);
            CU_ASSERT(memcmp(ga, gb, n * sizeof(float)) == 0);
        }
    for (int k = 0; k < K; k++)
        model_free(w[k]);
    model_free(one);
    free(th);
    free(ga);
    free(gb);
    mt_free(d);
}

/* A dataset modified in place (at a sampled position) or replaced is seen afresh; more
 * datasets than the cache holds still work. */
static void test_cache(void) {
    dataset *ds[6];
    for (int k = 0; k < 6; k++)
        ds[k] = mt_dense(R, 50 + (size_t)k, 40, 10, 0.0);
    model *c = make("softmax", ds[0], 8, MODEL_DEVICE_CPU);
    model *g = make("softmax", ds[0], 8, MODEL_DEVICE_CUDA);
    float *th = malloc(c->nparams * sizeof(float)), *gc = malloc(c->nparams * sizeof(float)),
          *gg = malloc(c->nparams * sizeof(float));
    gauss_theta(c, th, 0.1);
    size_t idx[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    for (int round = 0; round < 3; round++)
        for (int k = 0; k < 6; k++) {
            if (round == 2) { /* in place: row 0, the first sampled value */
                ds[k]->x[0] += 1.0f;
                ds[k]->label[0] = (ds[k]->label[0] + 1) % 10;
            }
            double lc, lgp;
            CU_ASSERT_EQUAL_FATAL(lg(c, th, ds[k], idx, 8, &lc, gc), QSGD_OK);
            CU_ASSERT_EQUAL_FATAL(lg(g, th, ds[k], idx, 8, &lgp, gg), QSGD_OK);
            CU_ASSERT(loss_close(lc, lgp));
            CU_ASSERT(grad_close(c, gc, gg, "cache"));
        }
    for (int k = 0; k < 6; k++)
        mt_free(ds[k]);
    free(th);
    free(gc);
    free(gg);
    model_free(c);
    model_free(g);
}

static void test_errors(void) {
    dataset *d = mt_dense(R, 20, 30, 10, 0.0);
    model *g = make("softmax", d, 8, MODEL_DEVICE_CUDA);
    float *th = calloc(g->nparams, sizeof(float)), *gr = malloc(g->nparams * sizeof(float));
    size_t idx[9] = {0, 1, 2, 3, 4, 5, 6, 7, 8};
    double L;
    qsgd_err err = {0};
    CU_ASSERT_EQUAL(g->type->loss_grad(g, th, d, idx, 0, &L, gr, &err), QSGD_EINVAL);
    CU_ASSERT_EQUAL(g->type->loss_grad(g, th, d, idx, 9, &L, gr, &err), QSGD_EINVAL);
    idx[2] = 20; /* row out of range */
    CU_ASSERT_EQUAL(g->type->loss_grad(g, th, d, idx, 3, &L, gr, &err), QSGD_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "row index"));
    idx[2] = 2;
    d->label[1] = 10; /* bad label: the CPU's message */
    CU_ASSERT_EQUAL(g->type->loss_grad(g, th, d, idx, 3, &L, gr, &err), QSGD_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "has label 10"));
    double acc;
    CU_ASSERT_EQUAL(g->type->evaluate(g, th, d, &L, &acc, &err), QSGD_EINVAL);
    d->label[1] = 1;
    dataset *other = mt_dense(R, 20, 31, 10, 0.0); /* wrong dim */
    CU_ASSERT_EQUAL(g->type->loss_grad(g, th, other, idx, 3, &L, gr, &err), QSGD_EINVAL);
    /* CSR data: refused with a clear message by a CUDA model... */
    dataset *csr = mt_to_csr(d);
    CU_ASSERT_EQUAL(g->type->loss_grad(g, th, csr, idx, 3, &L, gr, &err), QSGD_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "CSR"));
    CU_ASSERT_EQUAL(g->type->evaluate(g, th, csr, &L, &acc, &err), QSGD_EINVAL);
    /* ...and by model_alloc_spec_for at allocation; auto picks the CPU for it */
    memset(&err, 0, sizeof err);
    CU_ASSERT_PTR_NULL(model_alloc_spec_for("softmax", csr, 8, MODEL_DEVICE_CUDA, &err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "CSR"));
    printf("\n  cuda + CSR: %s", err.msg);
    model *a = model_alloc_spec_for("softmax", csr, 8, MODEL_DEVICE_AUTO, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_EQUAL(a->on_gpu, 0);
    CU_ASSERT_EQUAL(a->type->loss_grad(a, th, csr, idx, 3, &L, gr, &err), QSGD_OK);
    model_free(a);
    a = model_alloc_spec_for("softmax", d, 8, MODEL_DEVICE_AUTO, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_EQUAL(a->on_gpu, 1);
    model_free(a);
    /* empty dataset: evaluate gives loss 0 (+ reg) and NaN accuracy, like the CPU */
    dataset *empty = mt_dense(R, 0, 30, 10, 0.0);
    CU_ASSERT_EQUAL(g->type->evaluate(g, th, empty, &L, &acc, &err), QSGD_OK);
    CU_ASSERT_EQUAL(L, 0.0);
    CU_ASSERT(isnan(acc));
    mt_free(empty);
    mt_free(csr);
    mt_free(other);
    mt_free(d);
    free(th);
    free(gr);
    model_free(g);
}

static void test_devices(void) {
    model_device dev = MODEL_DEVICE_CUDA;
    qsgd_err err = {0};
    CU_ASSERT_EQUAL(model_device_parse("auto", &dev, &err), QSGD_OK);
    CU_ASSERT_EQUAL(dev, MODEL_DEVICE_AUTO);
    CU_ASSERT_EQUAL(model_device_parse("cpu", &dev, &err), QSGD_OK);
    CU_ASSERT_EQUAL(dev, MODEL_DEVICE_CPU);
    CU_ASSERT_EQUAL(model_device_parse("cuda", &dev, &err), QSGD_OK);
    CU_ASSERT_EQUAL(dev, MODEL_DEVICE_CUDA);
    const char *bad[] = {"gpu", "", "CUDA", "cuda:0", NULL};
    for (int i = 0; i < 5; i++) {
        memset(&err, 0, sizeof err);
        CU_ASSERT_EQUAL(model_device_parse(bad[i], &dev, &err), QSGD_EINVAL);
        CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "auto, cpu, cuda"));
    }
    CU_ASSERT_STRING_EQUAL(model_device_name(MODEL_DEVICE_CUDA), "cuda");
    CU_ASSERT_STRING_EQUAL(model_device_name(MODEL_DEVICE_CPU), "cpu");
    CU_ASSERT_STRING_EQUAL(model_device_name(MODEL_DEVICE_AUTO), "auto");

    dataset *d = mt_images(R, 10, 1, 28, 28, 10);
    /* the profile model has no CUDA implementation */
    memset(&err, 0, sizeof err);
    CU_ASSERT_PTR_NULL(
        model_alloc_spec_on("profile:name=alexnet", &d->shape, 8, MODEL_DEVICE_CUDA, &err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "no CUDA implementation"));
    printf("\n  cuda + profile: %s", err.msg);
    /* the twins are the types whose table names a CUDA implementation (model_type.cuda), the
     * message lists them in registry order */
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "(CUDA models: leastsq, logreg, softmax, mlp, cnn)"));
    for (const model_type *const *t = model_types(); *t; t++)
        CU_ASSERT_EQUAL(model_has_cuda((*t)->name), (*t)->cuda != MODEL_CUDA_NONE);
    model *m = model_alloc_spec_on("profile:name=alexnet", &d->shape, 8, MODEL_DEVICE_AUTO, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    CU_ASSERT_EQUAL(m->on_gpu, 0);
    CU_ASSERT_STRING_EQUAL(model_device_desc(m), "cpu");
    model_free(m);
    /* auto picks the GPU; cpu and the old model_alloc_spec the CPU */
    m = model_alloc_spec_on("cnn", &d->shape, 8, MODEL_DEVICE_AUTO, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    CU_ASSERT_EQUAL(m->on_gpu, 1);
    /* the twin: the CPU table's name and properties, another table */
    CU_ASSERT_PTR_NOT_EQUAL(m->type, model_type_find("cnn"));
    CU_ASSERT_STRING_EQUAL(m->type->name, "cnn");
    CU_ASSERT_EQUAL(m->type->cuda, MODEL_CUDA_CNN);
    CU_ASSERT_EQUAL(m->type->timing_only, 0);
    printf("\n  auto: %s", model_device_desc(m));
    model_free(m);
    m = model_alloc_spec_on("cnn", &d->shape, 8, MODEL_DEVICE_CPU, &err);
    CU_ASSERT_EQUAL(m->on_gpu, 0);
    model_free(m);
    m = model_alloc_spec("cnn", &d->shape, 8, &err);
    CU_ASSERT_EQUAL(m->on_gpu, 0);
    CU_ASSERT_STRING_EQUAL(model_device_desc(m), "cpu");
    model_free(m);
    /* a bad spec or shape fails alike on the GPU */
    CU_ASSERT_PTR_NULL(model_alloc_spec_on("cnn:bogus=1", &d->shape, 8, MODEL_DEVICE_CUDA, &err));
    data_shape flat = {.dim = 30, .nclass = 10};
    memset(&err, 0, sizeof err);
    CU_ASSERT_PTR_NULL(model_alloc_spec_on("cnn", &flat, 8, MODEL_DEVICE_CUDA, &err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "image"));
    CU_ASSERT_PTR_NULL(model_alloc_spec_on("mlp", &d->shape, 8, (model_device)7, &err));
    mt_free(d);
}

int main(void) {
    char why[256] = "";
    if (gpu_device_count(why, sizeof why) <= 0) {
        printf("SKIP: no usable CUDA GPU: %s\n", why);
        return 77;
    }
    R = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(R, 20240611);
    static const mt_test tests[] = {
        {"device parsing and selection", test_devices},
        {"leastsq: gpu == cpu", test_leastsq},
        {"logreg l2: gpu == cpu", test_logreg},
        {"softmax l2: gpu == cpu", test_softmax},
        {"mlp: gpu == cpu", test_mlp},
        {"cnn 1x28x28: gpu == cpu", test_cnn_28},
        {"cnn 3x8x8, 2x7x9: gpu == cpu", test_cnn_small},
        {"K models share the GPU, bit-identical", test_virtual_workers},
        {"dataset cache", test_cache},
        {"errors, CSR, empty data", test_errors},
        {NULL, NULL},
    };
    int rc = mt_run("cuda_models", tests);
    gsl_rng_free(R);
    return rc;
}
