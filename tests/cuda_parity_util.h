/* cuda_parity_util.h — GPU-vs-CPU model parity checks shared by tests/test_cuda_models.c
 * (on a GPU) and tests/cuda_emu/test_cuda_models_emul_extra.c (on the CUDA emulation): the
 * tolerances, the dyadic grids that make ReLU/max-pool decisions exact, and parity(), which
 * compares one model's loss, gradient and evaluate on both devices (see test_cuda_models.c
 * for the reasoning behind the tolerances). Header-only; the including file defines nothing
 * of these names. */
#ifndef QSGDSIM_CUDA_PARITY_UTIL_H
#define QSGDSIM_CUDA_PARITY_UTIL_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_test_util.h"

MT_UNUSED static gsl_rng *R;

#define ATOL 1e-5
#define RTOL 1e-4
#define LOSS_RTOL 1e-5

/* ---- helpers -------------------------------------------------------------------------- */

MT_UNUSED static void poison(float *g, size_t n) {
    for (size_t i = 0; i < n; i++)
        g[i] = NAN;
}

MT_UNUSED static model *make(const char *spec, const dataset *d, size_t mb, model_device dev) {
    qsgd_err err = {0};
    model *m = model_alloc_spec_on(spec, &d->shape, mb, dev, &err);
    if (!m)
        fprintf(stderr, "\n  model_alloc_spec_on(%s, %s): %s\n", spec, model_device_name(dev),
                err.msg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    CU_ASSERT_EQUAL(m->on_gpu, dev == MODEL_DEVICE_CUDA);
    return m;
}

/* x on the grid {-2, -1.75, ..., 2} (mlp/cnn inputs). */
MT_UNUSED static void grid_data(dataset *d) {
    for (size_t i = 0; i < d->n * d->shape.dim; i++) {
        float v = roundf(d->x[i] * 4.0f) / 4.0f;
        d->x[i] = v > 2.0f ? 2.0f : v < -2.0f ? -2.0f : v;
    }
}

/* Weights k * 2^-e, |k| <= 3, 2^e ~ 2 sqrt(fan-in) (fan-in = numel / rows); biases k/16,
 * |k| <= 2. */
MT_UNUSED static void grid_theta(const model *m, float *theta) {
    for (size_t t = 0; t < m->ntensors; t++) {
        const model_tensor *T = &m->tensors[t];
        float *w = theta + T->offset;
        if (T->ndim == 1) {
            for (size_t i = 0; i < T->numel; i++)
                w[i] = (float)((int)gsl_rng_uniform_int(R, 5) - 2) / 16.0f;
            continue;
        }
        double fan = (double)T->numel / (double)T->shape[0];
        int e = (int)ceil(log2(sqrt(fan))) + 1;
        for (size_t i = 0; i < T->numel; i++)
            w[i] = ldexpf((float)((int)gsl_rng_uniform_int(R, 7) - 3), -e);
    }
}

MT_UNUSED static void gauss_theta(const model *m, float *theta, double sd) {
    for (size_t i = 0; i < m->nparams; i++)
        theta[i] = (float)gsl_ran_gaussian(R, sd);
}

/* Same tensor table, options and flops; init_params bit-identical. */
MT_UNUSED static void check_same_model(const model *c, const model *g) {
    CU_ASSERT_STRING_EQUAL(c->type->name, g->type->name);
    CU_ASSERT_EQUAL(c->nparams, g->nparams);
    CU_ASSERT_EQUAL_FATAL(c->ntensors, g->ntensors);
    for (size_t t = 0; t < c->ntensors; t++) {
        CU_ASSERT_STRING_EQUAL(c->tensors[t].name, g->tensors[t].name);
        CU_ASSERT_EQUAL(c->tensors[t].offset, g->tensors[t].offset);
        CU_ASSERT_EQUAL(c->tensors[t].numel, g->tensors[t].numel);
        CU_ASSERT_EQUAL(c->tensors[t].ndim, g->tensors[t].ndim);
        CU_ASSERT(memcmp(c->tensors[t].shape, g->tensors[t].shape, sizeof c->tensors[t].shape) ==
                  0);
    }
    char a[256], b[256];
    model_describe(c, a, sizeof a);
    model_describe(g, b, sizeof b);
    CU_ASSERT_STRING_EQUAL(a, b);
    CU_ASSERT_EQUAL(c->type->flops_per_sample(c), g->type->flops_per_sample(g));
    CU_ASSERT_STRING_EQUAL(model_device_desc(c), "cpu");
    CU_ASSERT(strncmp(model_device_desc(g), "cuda:0 ", 7) == 0);
    float *t1 = malloc(c->nparams * sizeof(float)), *t2 = malloc(c->nparams * sizeof(float));
    poison(t1, c->nparams);
    poison(t2, c->nparams);
    c->type->init_params(c, t1, 77);
    g->type->init_params(g, t2, 77);
    CU_ASSERT(memcmp(t1, t2, c->nparams * sizeof(float)) == 0);
    free(t1);
    free(t2);
}

/* |g - c| <= ATOL + RTOL |c| everywhere (NaN fails); prints the worst coordinate. */
MT_UNUSED static int grad_close(const model *m, const float *c, const float *g, const char *what) {
    size_t worst = 0, bad = 0;
    double wr = -1;
    for (size_t i = 0; i < m->nparams; i++) {
        double d = fabs((double)g[i] - c[i]), lim = ATOL + RTOL * fabs((double)c[i]);
        int ok = d <= lim; /* false for NaN */
        bad += !ok;
        double r = ok ? d / lim : INFINITY;
        if (r > wr) {
            wr = r;
            worst = i;
        }
    }
    if (bad) {
        const char *tn = "?";
        for (size_t t = 0; t < m->ntensors; t++)
            if (worst >= m->tensors[t].offset && worst < m->tensors[t].offset + m->tensors[t].numel)
                tn = m->tensors[t].name;
        fprintf(stderr, "\n  %s %s: %zu of %zu coordinates off; worst %s[%zu]: cpu %.9g gpu %.9g\n",
                m->type->name, what, bad, m->nparams, tn, worst, (double)c[worst],
                (double)g[worst]);
    }
    return bad == 0;
}

MT_UNUSED static int loss_close(double c, double g) {
    return fabs(g - c) <= LOSS_RTOL * fabs(c) + 1e-12;
}

MT_UNUSED static int lg(model *m, const float *theta, const dataset *d, const size_t *idx, size_t B,
                        double *loss, float *grad) {
    qsgd_err err = {0};
    *loss = NAN;
    poison(grad, m->nparams);
    int rc = m->type->loss_grad(m, theta, d, idx, B, loss, grad, &err);
    if (rc)
        fprintf(stderr, "\n  %s loss_grad (%s): %s\n", m->type->name, model_device_desc(m),
                err.msg);
    return rc;
}

MT_UNUSED static int ev(model *m, const float *theta, const dataset *d, double *loss, double *acc) {
    qsgd_err err = {0};
    *loss = *acc = -1;
    int rc = m->type->evaluate(m, theta, d, loss, acc, &err);
    if (rc)
        fprintf(stderr, "\n  %s evaluate (%s): %s\n", m->type->name, model_device_desc(m), err.msg);
    return rc;
}

/* The parity checks of one model on dataset d (and test set t): batches 1, 3, 17, mb with
 * random rows (with repeats) and consecutive rows; grads compared only when !loss_only. */
MT_UNUSED static void parity(const char *spec, dataset *d, dataset *t, size_t mb, int grid,
                             double sd, int loss_only) {
    model *c = make(spec, d, mb, MODEL_DEVICE_CPU);
    model *g = make(spec, d, mb, MODEL_DEVICE_CUDA);
    check_same_model(c, g);
    size_t n = c->nparams;
    float *theta = malloc(n * sizeof(float));
    float *gc = malloc(n * sizeof(float)), *gg = malloc(n * sizeof(float));
    float *g2 = malloc(n * sizeof(float));
    size_t *idx = malloc(mb * sizeof(size_t));
    if (grid)
        grid_theta(c, theta);
    else
        gauss_theta(c, theta, sd);
    size_t batches[4] = {1, 3, 17, mb};
    for (int bi = 0; bi < 4; bi++) {
        size_t B = batches[bi];
        if (B > mb)
            continue;
        for (int consecutive = 0; consecutive < 2; consecutive++) {
            size_t s0 = gsl_rng_uniform_int(R, (unsigned long)(d->n - B + 1));
            for (size_t i = 0; i < B; i++)
                idx[i] = consecutive ? s0 + i : gsl_rng_uniform_int(R, (unsigned long)d->n);
            double lc, lgp, l2;
            CU_ASSERT_EQUAL_FATAL(lg(c, theta, d, idx, B, &lc, gc), QSGD_OK);
            CU_ASSERT_EQUAL_FATAL(lg(g, theta, d, idx, B, &lgp, gg), QSGD_OK);
            char what[64];
            snprintf(what, sizeof what, "batch %zu%s", B, consecutive ? " (consecutive rows)" : "");
            if (!loss_close(lc, lgp))
                fprintf(stderr, "\n  %s %s: loss cpu %.12g gpu %.12g\n", spec, what, lc, lgp);
            CU_ASSERT(loss_close(lc, lgp));
            if (!loss_only)
                CU_ASSERT(grad_close(c, gc, gg, what));
            /* the same call again: bit-identical */
            CU_ASSERT_EQUAL_FATAL(lg(g, theta, d, idx, B, &l2, g2), QSGD_OK);
            CU_ASSERT(memcmp(&l2, &lgp, sizeof l2) == 0);
            CU_ASSERT(memcmp(gg, g2, n * sizeof(float)) == 0);
        }
    }
    /* evaluate on both datasets (the cache holds both), then the first again */
    dataset *sets[3] = {t, d, t};
    for (int k = 0; k < 3; k++) {
        double lc, ac, lgv, agv, l2, a2;
        CU_ASSERT_EQUAL_FATAL(ev(c, theta, sets[k], &lc, &ac), QSGD_OK);
        CU_ASSERT_EQUAL_FATAL(ev(g, theta, sets[k], &lgv, &agv), QSGD_OK);
        if (!loss_close(lc, lgv))
            fprintf(stderr, "\n  %s evaluate: loss cpu %.12g gpu %.12g\n", spec, lc, lgv);
        CU_ASSERT(loss_close(lc, lgv));
        if (isnan(ac)) {
            CU_ASSERT(isnan(agv));
        } else { /* one row may flip on a near-tie of the logits (not on the grids) */
            CU_ASSERT(fabs(ac - agv) <= 1.0 / (double)sets[k]->n + 1e-12);
        }
        CU_ASSERT_EQUAL_FATAL(ev(g, theta, sets[k], &l2, &a2), QSGD_OK);
        CU_ASSERT(memcmp(&l2, &lgv, sizeof l2) == 0);
        CU_ASSERT(isnan(agv) ? isnan(a2) : a2 == agv);
    }
    free(theta);
    free(gc);
    free(gg);
    free(g2);
    free(idx);
    model_free(c);
    model_free(g);
}

#endif
