/* test_train_leastsq.c — full-batch gradient descent (the leastsq model + optim_step with
 * step 1/L) on the synthetic least-squares problem converges to the known optimum at the
 * rate theory gives for its condition number kappa = L/mu:
 *     f(x_t) - f* <= (1 - 1/kappa)^t (f(x_0) - f*)            (bound, every t)
 * and, on a quadratic, the gap eventually contracts by (1 - mu/L)^2 per step (the slowest
 * eigendirection), which the measured contraction must match within 2%.
 */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data.h"
#include "model.h"
#include "optim.h"

/* Run T steps of GD with lr 1/L; gap[t] = f(x_t) - f*. Returns |x_T - x_opt| / |x_opt|. */
static double run_gd(double kappa, int T, double *gap, double *L_out, double *mu_out) {
    enum { N = 200, D = 20 };
    data_synth_leastsq_opts o = {.n = N, .dim = D, .kappa = kappa, .linear_spread = 1, .seed = 11};
    dataset *d = NULL;
    data_synth_leastsq_info info;
    qsgd_err de = {0};
    CU_ASSERT_EQUAL_FATAL(data_synth_leastsq(&o, 0, &d, &info, &de), QSGD_OK);
    qsgd_err me = {0};
    model *m = model_alloc_spec("leastsq", &d->shape, N, &me);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    CU_ASSERT_EQUAL_FATAL(m->nparams, D);
    float theta[D], grad[D];
    size_t idx[N];
    for (size_t i = 0; i < N; i++)
        idx[i] = i;
    m->type->init_params(m, theta, 1);
    optim_params op = {.lr = 1.0 / info.L};
    qsgd_err oe = {0};
    optim *opt = optim_alloc(D, &op, &oe);
    CU_ASSERT_PTR_NOT_NULL_FATAL(opt);
    for (int t = 0; t <= T; t++) {
        double loss;
        CU_ASSERT_EQUAL_FATAL(m->type->loss_grad(m, theta, d, idx, N, &loss, grad, &me), QSGD_OK);
        gap[t] = loss - info.f_opt;
        if (t < T)
            optim_step(opt, theta, grad, (size_t)t);
    }
    double e = 0, xn = 0;
    for (int j = 0; j < D; j++) {
        e += (theta[j] - info.x_opt[j]) * (theta[j] - info.x_opt[j]);
        xn += info.x_opt[j] * info.x_opt[j];
    }
    *L_out = info.L;
    *mu_out = info.mu;
    optim_free(opt);
    model_free(m);
    data_synth_leastsq_info_free(&info);
    dataset_free(d);
    return sqrt(e / xn);
}

/* check_asymptotic: also compare the measured contraction with (1-1/kappa)^2 (needs enough
 * steps above float resolution for the slowest direction to dominate; not so for kappa 5,
 * where the gap reaches 1e-9 of its start in ~30 steps). */
static void check_rate(double kappa, int T, int check_asymptotic) {
    double *gap = malloc((size_t)(T + 1) * sizeof *gap);
    double L, mu;
    double xerr = run_gd(kappa, T, gap, &L, &mu);
    double k = L / mu, q = 1.0 - 1.0 / k;
    /* The bound at every t, while the gap is above float resolution. */
    int last = 0, violations = 0;
    for (int t = 0; t <= T && gap[t] > 1e-9 * gap[0]; t++) {
        last = t;
        if (gap[t] > pow(q, t) * gap[0] * (1 + 1e-4) + 1e-12)
            violations++;
    }
    CU_ASSERT_EQUAL(violations, 0);
    /* Measured asymptotic contraction over the last stretch above resolution. */
    int a = last / 2, b = last;
    double measured = pow(gap[b] / gap[a], 1.0 / (b - a));
    printf("\n  kappa %.4g (measured L/mu %.4g): gap %.3g -> %.3g in %d steps; contraction/step "
           "%.5f, theory (1-1/kappa)^2 = %.5f, bound 1-1/kappa = %.5f; |x-x*|/|x*| = %.2g",
           kappa, k, gap[0], gap[last], last, measured, q * q, q, xerr);
    CU_ASSERT(measured <= q); /* at least the bound's rate */
    if (check_asymptotic)
        CU_ASSERT(fabs(log(measured) / log(q * q) - 1) < 0.02); /* and exactly the theory's */
    CU_ASSERT(xerr < 1e-3);                                     /* converged to x* */
    free(gap);
}

static void test_rates(void) {
    check_rate(5, 200, 0);
    check_rate(20, 700, 1);
    check_rate(100, 3000, 1);
    check_rate(1000, 20000, 1);
}

/* A harder problem is slower: after the same number of steps the relative gap is larger. */
static void test_kappa_ordering(void) {
    enum { T = 100 };
    double g1[T + 1], g2[T + 1], L, mu;
    run_gd(10, T, g1, &L, &mu);
    run_gd(100, T, g2, &L, &mu);
    CU_ASSERT(g1[T] / g1[0] < 1e-3 * g2[T] / g2[0]);
}

int main(void) {
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("train_leastsq", NULL, NULL);
    CU_add_test(s, "GD with step 1/L: bound (1-1/kappa)^t and measured rate", test_rates);
    CU_add_test(s, "larger kappa converges slower", test_kappa_ordering);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned fails = CU_get_number_of_failures();
    CU_cleanup_registry();
    return fails ? 1 : 0;
}
