/* test_data_synth.c — the synthetic generators: least squares has the requested Hessian
 * spectrum (L/mu = kappa, measured on the stored float data), an exact optimum (zero gradient
 * in double, f_opt = 0 without noise, f_opt ~ noise^2 (n-d)/(2n) with noise), is deterministic
 * in its seed, and its test split shares V, spectrum and x_planted; logreg labels follow the
 * planted w.
 */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data.h"

/* Full gradient (1/n) A^T (A x - y) and f(x) in double. */
static double lsq_f(const dataset *d, const double *x, double *grad) {
    size_t n = d->n, dim = d->shape.dim;
    double f = 0;
    if (grad)
        memset(grad, 0, dim * sizeof *grad);
    for (size_t i = 0; i < n; i++) {
        double r = -d->target[i];
        for (size_t j = 0; j < dim; j++)
            r += (double)d->x[i * dim + j] * x[j];
        f += 0.5 * r * r;
        if (grad)
            for (size_t j = 0; j < dim; j++)
                grad[j] += r * d->x[i * dim + j] / n;
    }
    return f / n;
}

static void test_leastsq_spectrum(void) {
    double kappas[] = {1, 10, 100, 1e4};
    for (int lin = 0; lin < 2; lin++)
        for (size_t k = 0; k < sizeof kappas / sizeof *kappas; k++) {
            data_synth_leastsq_opts o = {
                .n = 400, .dim = 30, .kappa = kappas[k], .linear_spread = lin, .seed = 5};
            dataset *d = NULL;
            data_synth_leastsq_info info;
            qsgd_err err = {0};
            CU_ASSERT_EQUAL_FATAL(data_synth_leastsq(&o, 0, &d, &info, &err), QSGD_OK);
            CU_ASSERT_EQUAL(d->n, 400);
            CU_ASSERT_EQUAL(d->shape.dim, 30);
            CU_ASSERT_EQUAL(d->shape.nclass, 0);
            CU_ASSERT_PTR_NOT_NULL(d->target);
            /* default mu = 1/kappa so L = 1; float rounding perturbs by ~1e-7 relative */
            CU_ASSERT(fabs(info.L - 1.0) < 1e-5);
            CU_ASSERT(fabs(info.mu * kappas[k] - 1.0) < 1e-5 * kappas[k]);
            CU_ASSERT(fabs(info.L / info.mu / kappas[k] - 1) < 1e-3);
            /* noiseless: optimum = planted (to float rounding), f_opt ~ 0, gradient 0 */
            double g[30];
            double f = lsq_f(d, info.x_opt, g);
            double gn = 0, dx = 0, xn = 0;
            for (int j = 0; j < 30; j++) {
                gn += g[j] * g[j];
                dx += (info.x_opt[j] - info.x_planted[j]) * (info.x_opt[j] - info.x_planted[j]);
                xn += info.x_planted[j] * info.x_planted[j];
            }
            CU_ASSERT(sqrt(gn) < 1e-10);
            CU_ASSERT(fabs(f - info.f_opt) < 1e-14);
            CU_ASSERT(info.f_opt < 1e-12);
            CU_ASSERT(sqrt(dx / xn) < 1e-5 * kappas[k]);
            data_synth_leastsq_info_free(&info);
            dataset_free(d);
        }
}

static void test_leastsq_noise(void) {
    data_synth_leastsq_opts o = {.n = 2000, .dim = 20, .kappa = 10, .noise = 0.5, .seed = 9};
    dataset *d = NULL;
    data_synth_leastsq_info info;
    qsgd_err err = {0};
    CU_ASSERT_EQUAL_FATAL(data_synth_leastsq(&o, 0, &d, &info, &err), QSGD_OK);
    double g[20];
    double f = lsq_f(d, info.x_opt, g), gn = 0;
    for (int j = 0; j < 20; j++)
        gn += g[j] * g[j];
    CU_ASSERT(sqrt(gn) < 1e-10);
    CU_ASSERT(fabs(f - info.f_opt) < 1e-12);
    /* E f_opt = noise^2 (n - d) / (2n) = 0.1225; chi^2 with 1980 dof: +-3% at 1 sigma */
    printf("\n  f_opt %.5f (expected about %.5f)\n", info.f_opt, 0.25 * 1980 / 4000.0);
    CU_ASSERT(fabs(info.f_opt / (0.25 * 1980 / 4000.0) - 1) < 0.15);
    /* any other point is worse */
    info.x_opt[3] += 1e-3;
    CU_ASSERT(lsq_f(d, info.x_opt, NULL) > info.f_opt);
    data_synth_leastsq_info_free(&info);
    dataset_free(d);
}

static void test_leastsq_determinism_splits(void) {
    data_synth_leastsq_opts o = {.n = 100, .dim = 10, .kappa = 50, .seed = 77};
    dataset *a = NULL, *b = NULL, *c = NULL, *t = NULL;
    data_synth_leastsq_info ia, it;
    qsgd_err err = {0};
    CU_ASSERT_EQUAL_FATAL(data_synth_leastsq(&o, 0, &a, &ia, &err), QSGD_OK);
    CU_ASSERT_EQUAL_FATAL(data_synth_leastsq(&o, 0, &b, NULL, &err), QSGD_OK);
    CU_ASSERT_EQUAL(memcmp(a->x, b->x, 100 * 10 * sizeof(float)), 0);
    CU_ASSERT_EQUAL(memcmp(a->target, b->target, 100 * sizeof(float)), 0);
    o.seed = 78;
    CU_ASSERT_EQUAL_FATAL(data_synth_leastsq(&o, 0, &c, NULL, &err), QSGD_OK);
    CU_ASSERT_NOT_EQUAL(memcmp(a->x, c->x, 100 * 10 * sizeof(float)), 0);
    o.seed = 77;
    o.n = 60;
    CU_ASSERT_EQUAL_FATAL(data_synth_leastsq(&o, 1, &t, &it, &err), QSGD_OK);
    CU_ASSERT_NOT_EQUAL(memcmp(a->x, t->x, 60 * 10 * sizeof(float)), 0);
    CU_ASSERT(fabs(it.L - ia.L) < 1e-5 && fabs(it.mu - ia.mu) < 1e-6);
    for (int j = 0; j < 10; j++) {
        CU_ASSERT_EQUAL(it.x_planted[j], ia.x_planted[j]);
        CU_ASSERT(fabs(it.x_opt[j] - ia.x_opt[j]) < 1e-3);
    }
    data_synth_leastsq_info_free(&ia);
    data_synth_leastsq_info_free(&it);
    dataset_free(a);
    dataset_free(b);
    dataset_free(c);
    dataset_free(t);
    o.n = 5;
    CU_ASSERT_EQUAL(data_synth_leastsq(&o, 0, &a, NULL, &err), QSGD_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "n=5"));
    o.n = 100;
    o.kappa = 0.5;
    CU_ASSERT_EQUAL(data_synth_leastsq(&o, 0, &a, NULL, &err), QSGD_EINVAL);
}

static void test_logreg(void) {
    enum { N = 4000, D = 20 };
    double w[D];
    data_synth_logreg_opts o = {.n = N, .dim = D, .hard = 1, .seed = 3};
    dataset *d = NULL;
    qsgd_err err = {0};
    CU_ASSERT_EQUAL_FATAL(data_synth_logreg(&o, 0, &d, w, &err), QSGD_OK);
    CU_ASSERT_EQUAL(d->shape.nclass, 2);
    size_t agree = 0, ones = 0;
    for (size_t i = 0; i < N; i++) {
        double z = 0;
        for (int j = 0; j < D; j++)
            z += w[j] * d->x[i * D + j];
        agree += (z > 0) == (d->label[i] == 1);
        ones += d->label[i];
    }
    CU_ASSERT_EQUAL(agree, N); /* hard labels: the planted w separates the data */
    CU_ASSERT(ones > N / 2 - 200 && ones < N / 2 + 200);
    dataset_free(d);
    /* Soft labels: the planted w's accuracy is E[max(p, 1-p)], well above 1/2 but < 1. */
    o.hard = 0;
    CU_ASSERT_EQUAL_FATAL(data_synth_logreg(&o, 0, &d, w, &err), QSGD_OK);
    agree = 0;
    for (size_t i = 0; i < N; i++) {
        double z = 0;
        for (int j = 0; j < D; j++)
            z += w[j] * d->x[i * D + j];
        agree += (z > 0) == (d->label[i] == 1);
    }
    printf("\n  planted-w accuracy on soft labels: %.3f\n", (double)agree / N);
    CU_ASSERT(agree > 0.80 * N && agree < 0.98 * N);
    dataset_free(d);
}

int main(void) {
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("data_synth", NULL, NULL);
    CU_add_test(s, "leastsq: spectrum, exact optimum", test_leastsq_spectrum);
    CU_add_test(s, "leastsq: with noise", test_leastsq_noise);
    CU_add_test(s, "leastsq: determinism, test split", test_leastsq_determinism_splits);
    CU_add_test(s, "logreg: planted w", test_logreg);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned fails = CU_get_number_of_failures();
    CU_cleanup_registry();
    return fails ? 1 : 0;
}
