/* test_train_optim.c — the SGD optimizer on tiny vectors: plain, heavy-ball and Nesterov
 * momentum and weight decay against hand-computed values (exact in float), every
 * learning-rate schedule against its formula, determinism, spec parsing and errors.
 */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "optim.h"

static void test_plain(void) {
    optim_params p = {.lr = 0.5};
    qsgd_err err = {0};
    optim *o = optim_alloc(3, &p, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(o);
    CU_ASSERT_PTR_NULL(o->v); /* no momentum buffer without momentum */
    float th[3] = {1, 2, 3}, g[3] = {2, -4, 0.25f};
    CU_ASSERT_EQUAL(optim_step(o, th, g, 0), 0.5);
    CU_ASSERT_EQUAL(th[0], 0.0f);
    CU_ASSERT_EQUAL(th[1], 4.0f);
    CU_ASSERT_EQUAL(th[2], 2.875f);
    optim_free(o);
    /* weight decay: g' = g + wd * theta */
    p.weight_decay = 0.5;
    o = optim_alloc(1, &p, &err);
    float t1 = 2, g1 = 1;
    optim_step(o, &t1, &g1, 0); /* 2 - 0.5 * (1 + 1) = 1 */
    CU_ASSERT_EQUAL(t1, 1.0f);
    optim_free(o);
}

static void test_heavy_ball(void) {
    /* v1 = g1; v2 = mu v1 + g2; theta2 = theta0 - lr v1 - lr v2 (dyadic numbers: exact). */
    optim_params p = {.lr = 0.25, .momentum = 0.5};
    qsgd_err err = {0};
    optim *o = optim_alloc(2, &p, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(o);
    float th[2] = {1, -1};
    float g1[2] = {1, 2}, g2[2] = {-2, 0.5f}, g3[2] = {0, 0};
    optim_step(o, th, g1, 0);
    CU_ASSERT_EQUAL(o->v[0], 1.0f);
    CU_ASSERT_EQUAL(o->v[1], 2.0f);
    CU_ASSERT_EQUAL(th[0], 0.75f);
    CU_ASSERT_EQUAL(th[1], -1.5f);
    optim_step(o, th, g2, 1);
    CU_ASSERT_EQUAL(o->v[0], -1.5f); /* 0.5*1 - 2 */
    CU_ASSERT_EQUAL(o->v[1], 1.5f);  /* 0.5*2 + 0.5 */
    CU_ASSERT_EQUAL(th[0], 1.125f);  /* 0.75 + 0.375 */
    CU_ASSERT_EQUAL(th[1], -1.875f);
    /* zero gradient: momentum keeps moving, geometric in mu */
    optim_step(o, th, g3, 2);
    CU_ASSERT_EQUAL(o->v[0], -0.75f);
    CU_ASSERT_EQUAL(th[0], 1.3125f);
    optim_reset(o);
    CU_ASSERT_EQUAL(o->v[0], 0.0f);
    CU_ASSERT_EQUAL(o->v[1], 0.0f);
    optim_free(o);
}

static void test_nesterov_wd(void) {
    /* g' = g + wd th; v = mu v + g'; th -= lr (g' + mu v). */
    optim_params p = {.lr = 0.5, .momentum = 0.5, .nesterov = 1, .weight_decay = 0.25};
    qsgd_err err = {0};
    optim *o = optim_alloc(1, &p, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(o);
    float th = 4, g = 1;
    optim_step(o, &th, &g, 0); /* g' = 2, v = 2, d = 2 + 1 = 3, th = 4 - 1.5 = 2.5 */
    CU_ASSERT_EQUAL(o->v[0], 2.0f);
    CU_ASSERT_EQUAL(th, 2.5f);
    g = -1;
    optim_step(o, &th, &g, 1); /* g' = -1 + 0.625 = -0.375, v = 1 - 0.375 = 0.625,
                                   d = -0.375 + 0.3125 = -0.0625, th = 2.5 + 0.03125 */
    CU_ASSERT_EQUAL(o->v[0], 0.625f);
    CU_ASSERT_EQUAL(th, 2.53125f);
    optim_free(o);

    /* Against a double reference on a longer random run (rounding only). The tolerance is a
     * running error bound carried beside the reference (first order in u = 2^-24): a float32
     * operation errs by at most u |result|, and lr, wd, mu are rounded to float (u each):
     *   g' = g + wd x:        e_g = wd e_x + 3u (|g| + wd |x|)
     *   v  = mu v + g':       e_v = mu e_v + e_g + 3u (mu |v| + |g'|)
     *   x  = x - lr v:        e_x = e_x + lr e_v + 3u (|x| + lr |v|)
     * (3u: the constant, the product and the sum each round once; magnitudes from the
     * reference). Passes whatever order the compiler evaluates in; catches any error in the
     * update larger than rounding. */
    enum { N = 64, T = 50 };
    p = (optim_params){.lr = 0.1, .momentum = 0.9, .weight_decay = 1e-3};
    o = optim_alloc(N, &p, &err);
    float x[N];
    double xr[N], vr[N] = {0}, ex[N] = {0}, ev[N] = {0};
    const double u = 1.0 / 16777216.0;
    for (int i = 0; i < N; i++)
        x[i] = (float)(xr[i] = sin(i + 1.0));
    for (int t = 0; t < T; t++) {
        float gg[N];
        for (int i = 0; i < N; i++)
            gg[i] = (float)cos(0.3 * t + i);
        optim_step(o, x, gg, (size_t)t);
        for (int i = 0; i < N; i++) {
            double gp = (double)gg[i] + 1e-3 * xr[i];
            double eg = 1e-3 * ex[i] + 3 * u * (fabs((double)gg[i]) + 1e-3 * fabs(xr[i]));
            ev[i] = 0.9 * ev[i] + eg + 3 * u * (0.9 * fabs(vr[i]) + fabs(gp));
            vr[i] = 0.9 * vr[i] + gp;
            ex[i] += 0.1 * ev[i] + 3 * u * (fabs(xr[i]) + 0.1 * fabs(vr[i]));
            xr[i] -= 0.1 * vr[i];
        }
    }
    double ratio = 0;
    for (int i = 0; i < N; i++)
        ratio = fmax(ratio, fabs(x[i] - xr[i]) / ex[i]);
    printf("\n    momentum run vs double reference: error/bound %.2e ", ratio);
    CU_ASSERT(ratio <= 1);
    optim_free(o);
}

static void test_schedules(void) {
    optim_params p = {.lr = 0.1};
    CU_ASSERT_EQUAL(optim_lr(&p, 0), 0.1);
    CU_ASSERT_EQUAL(optim_lr(&p, 1000000), 0.1);
    p = (optim_params){.lr = 0.1, .schedule = OPTIM_LR_STEP, .gamma = 0.5, .step_size = 10};
    CU_ASSERT_EQUAL(optim_lr(&p, 9), 0.1);
    CU_ASSERT_EQUAL(optim_lr(&p, 10), 0.05);
    CU_ASSERT_EQUAL(optim_lr(&p, 25), 0.025);
    p = (optim_params){.lr = 1.0, .schedule = OPTIM_LR_COSINE, .total_steps = 100, .lr_min = 0.1};
    CU_ASSERT_DOUBLE_EQUAL(optim_lr(&p, 0), 1.0, 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(optim_lr(&p, 50), 0.55, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(optim_lr(&p, 100), 0.1, 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(optim_lr(&p, 500), 0.1, 1e-15);
    CU_ASSERT(optim_lr(&p, 30) > optim_lr(&p, 31));
    p = (optim_params){.lr = 1.0, .schedule = OPTIM_LR_INVSQRT, .t0 = 4};
    CU_ASSERT_DOUBLE_EQUAL(optim_lr(&p, 12), 0.5, 1e-15);
    p = (optim_params){.lr = 1.0, .schedule = OPTIM_LR_INVT, .t0 = 2};
    CU_ASSERT_DOUBLE_EQUAL(optim_lr(&p, 6), 0.25, 1e-15);
    p.t0 = 0; /* t0 = 1: lr / (1 + t) */
    CU_ASSERT_DOUBLE_EQUAL(optim_lr(&p, 9), 0.1, 1e-15);
    /* warmup: linear ramp, then the schedule starts at its t = 0 */
    p = (optim_params){.lr = 0.8, .schedule = OPTIM_LR_COSINE, .total_steps = 14, .warmup = 4};
    CU_ASSERT_DOUBLE_EQUAL(optim_lr(&p, 0), 0.2, 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(optim_lr(&p, 3), 0.8, 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(optim_lr(&p, 4), 0.8, 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(optim_lr(&p, 9), 0.4, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(optim_lr(&p, 14), 0.0, 1e-15);
    /* the step uses the schedule */
    optim_params q = {.lr = 1.0, .schedule = OPTIM_LR_STEP, .gamma = 0.5, .step_size = 1};
    qsgd_err err = {0};
    optim *o = optim_alloc(1, &q, &err);
    float th = 0, g = 1;
    CU_ASSERT_EQUAL(optim_step(o, &th, &g, 2), 0.25);
    CU_ASSERT_EQUAL(th, -0.25f);
    optim_free(o);
}

static void test_parse_describe(void) {
    optim_params p = {.lr = 0.01};
    qsgd_err err = {0};
    CU_ASSERT_EQUAL(optim_params_parse("sgd:lr=0.1,momentum=0.9,nesterov=1,wd=5e-4,"
                                       "schedule=cosine,total=1000,warmup=10,lr_min=0.001",
                                       &p, &err),
                    QSGD_OK);
    CU_ASSERT_EQUAL(p.lr, 0.1);
    CU_ASSERT_EQUAL(p.momentum, 0.9);
    CU_ASSERT_EQUAL(p.nesterov, 1);
    CU_ASSERT_EQUAL(p.weight_decay, 5e-4);
    CU_ASSERT_EQUAL(p.schedule, OPTIM_LR_COSINE);
    CU_ASSERT_EQUAL(p.total_steps, 1000);
    CU_ASSERT_EQUAL(p.warmup, 10);
    CU_ASSERT_EQUAL(optim_params_check(&p, &err), QSGD_OK);
    char buf[256];
    CU_ASSERT_EQUAL(optim_describe(&p, buf, sizeof buf), 0);
    CU_ASSERT_STRING_EQUAL(buf, "sgd:lr=0.1,schedule=cosine,total=1000,lr_min=0.001,warmup=10,"
                                "momentum=0.9,nesterov=1,wd=0.0005");
    /* the description parses back to the same parameters */
    optim_params r = {0};
    CU_ASSERT_EQUAL(optim_params_parse(buf, &r, &err), QSGD_OK);
    CU_ASSERT(r.lr == p.lr && r.schedule == p.schedule && r.total_steps == p.total_steps &&
              r.lr_min == p.lr_min && r.warmup == p.warmup && r.momentum == p.momentum &&
              r.nesterov == p.nesterov && r.weight_decay == p.weight_decay);

    CU_ASSERT_EQUAL(optim_params_parse("lr=x", &p, &err), QSGD_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "lr=x"));
    CU_ASSERT_EQUAL(optim_params_parse("schedule=linear", &p, &err), QSGD_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "cosine"));
    CU_ASSERT_EQUAL(optim_params_parse("beta=1", &p, &err), QSGD_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "beta"));
    optim_params bad = {.lr = 0.1, .momentum = 1.0};
    CU_ASSERT_PTR_NULL(optim_alloc(4, &bad, &err));
    CU_ASSERT_EQUAL(err.code, QSGD_EINVAL);
    bad = (optim_params){.lr = 0.1, .schedule = OPTIM_LR_STEP};
    CU_ASSERT_EQUAL(optim_params_check(&bad, &err), QSGD_EINVAL);
    bad = (optim_params){.lr = 0.1, .schedule = OPTIM_LR_COSINE};
    CU_ASSERT_EQUAL(optim_params_check(&bad, &err), QSGD_EINVAL);
    bad = (optim_params){.lr = -1};
    CU_ASSERT_EQUAL(optim_params_check(&bad, &err), QSGD_EINVAL);
    bad = (optim_params){.lr = 1, .nesterov = 1};
    CU_ASSERT_EQUAL(optim_params_check(&bad, &err), QSGD_EINVAL);
    optim_free(NULL);
}

int main(void) {
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("train_optim", NULL, NULL);
    CU_add_test(s, "plain SGD and weight decay", test_plain);
    CU_add_test(s, "heavy-ball momentum (exact)", test_heavy_ball);
    CU_add_test(s, "Nesterov + weight decay, double reference", test_nesterov_wd);
    CU_add_test(s, "learning-rate schedules and warmup", test_schedules);
    CU_add_test(s, "spec parse / describe round trip, errors", test_parse_describe);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned fails = CU_get_number_of_failures();
    CU_cleanup_registry();
    return fails ? 1 : 0;
}
