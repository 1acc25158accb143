/* data_synth.c — synthetic convex problems with known answers: least squares with a chosen
 * Hessian spectrum (condition number kappa) and exact optimum, and logistic-regression data
 * with a planted weight vector. All randomness from GSL mt19937 seeded by (seed, split).
 */
#include "data.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_blas.h>
#include <gsl/gsl_eigen.h>
#include <gsl/gsl_linalg.h>
#include <gsl/gsl_matrix.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>

enum { STREAM_SHARED = 0x5117, STREAM_SPLIT = 0x5e11 };

static gsl_rng *rng_new(uint64_t seed, uint32_t worker, uint32_t stream) {
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    if (r)
        gsl_rng_set(r, data_rng_seed(seed, worker, stream));
    return r;
}

/* Q (rows x cols, orthonormal columns, rows >= cols) from the QR factorization of a
 * Gaussian matrix, signs fixed so that R has a positive diagonal (Haar distributed). */
static int random_orthonormal(gsl_rng *r, gsl_matrix *Q) {
    size_t m = Q->size1, n = Q->size2;
    gsl_matrix *G = gsl_matrix_alloc(m, n);
    gsl_vector *tau = gsl_vector_alloc(n);
    if (!G || !tau) {
        gsl_matrix_free(G);
        gsl_vector_free(tau);
        return -1;
    }
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < n; j++)
            gsl_matrix_set(G, i, j, gsl_ran_gaussian(r, 1.0));
    gsl_linalg_QR_decomp(G, tau);
    gsl_matrix_set_zero(Q);
    for (size_t j = 0; j < n; j++) { /* column j of Q = Q e_j */
        gsl_vector_view c = gsl_matrix_column(Q, j);
        gsl_vector_set(&c.vector, j, 1.0);
        gsl_linalg_QR_Qvec(G, tau, &c.vector);
    }
    for (size_t j = 0; j < n; j++)
        if (gsl_matrix_get(G, j, j) < 0) {
            gsl_vector_view c = gsl_matrix_column(Q, j);
            gsl_vector_scale(&c.vector, -1.0);
        }
    gsl_matrix_free(G);
    gsl_vector_free(tau);
    return 0;
}

void data_synth_leastsq_info_free(data_synth_leastsq_info *info) {
    if (!info)
        return;
    free(info->x_planted);
    free(info->x_opt);
    info->x_planted = info->x_opt = NULL;
}

int data_synth_leastsq(const data_synth_leastsq_opts *opts, int split, dataset **out,
                       data_synth_leastsq_info *info, qsgd_err *err) {
    *out = NULL;
    if (info)
        memset(info, 0, sizeof *info);
    data_synth_leastsq_opts o = {0};
    if (opts)
        o = *opts;
    if (o.n == 0)
        o.n = 1000;
    if (o.dim == 0)
        o.dim = 50;
    if (o.kappa == 0)
        o.kappa = 10;
    if (!(o.kappa >= 1) || !isfinite(o.kappa))
        return QSGD_FAIL(err, QSGD_EINVAL, "synth-leastsq: kappa=%g must be >= 1", o.kappa);
    if (o.mu == 0)
        o.mu = 1.0 / o.kappa;
    if (!(o.mu > 0) || !isfinite(o.mu) || !(o.noise >= 0))
        return QSGD_FAIL(err, QSGD_EINVAL, "synth-leastsq: mu=%g must be > 0 and noise=%g >= 0",
                         o.mu, o.noise);
    if (o.n < o.dim)
        return QSGD_FAIL(err, QSGD_EINVAL,
                         "synth-leastsq: n=%zu samples < dim=%zu: the "
                         "Hessian would be singular",
                         o.n, o.dim);
    if (o.dim > 20000 || o.n > 100000000 / o.dim)
        return QSGD_FAIL(err, QSGD_EINVAL,
                         "synth-leastsq: n*dim = %zu*%zu too large for the "
                         "dense generator",
                         o.n, o.dim);
    size_t n = o.n, d = o.dim;
    int rc = QSGD_OK;
    dataset *ds = NULL;
    gsl_rng *rv = rng_new(o.seed, 0, STREAM_SHARED),
            *ru = rng_new(o.seed, (uint32_t)split + 1, STREAM_SPLIT);
    gsl_matrix *V = gsl_matrix_alloc(d, d), *U = gsl_matrix_alloc(n, d),
               *A = gsl_matrix_alloc(n, d);
    gsl_matrix *H = gsl_matrix_alloc(d, d);
    gsl_vector *xp = gsl_vector_alloc(d), *y = gsl_vector_alloc(n), *xo = gsl_vector_alloc(d);
    gsl_vector *bvec = gsl_vector_alloc(d), *r = gsl_vector_alloc(n), *ev = gsl_vector_alloc(d);
    gsl_eigen_symm_workspace *ew = gsl_eigen_symm_alloc(d);
    if (!rv || !ru || !V || !U || !A || !H || !xp || !y || !xo || !bvec || !r || !ev || !ew) {
        rc = QSGD_FAIL(err, QSGD_ENOMEM, "synth-leastsq: out of memory for n=%zu dim=%zu", n, d);
        goto done;
    }
    /* Shared by all splits: V, the spectrum and x_planted. */
    if (random_orthonormal(rv, V)) {
        rc = QSGD_FAIL(err, QSGD_ENOMEM, "synth-leastsq: out of memory");
        goto done;
    }
    double L = o.mu * o.kappa;
    for (size_t i = 0; i < d; i++)
        gsl_vector_set(xp, i, gsl_ran_gaussian(rv, 1.0));
    /* Per split: U and noise. A = U diag(sqrt(n l_j)) V^T. */
    if (random_orthonormal(ru, U)) {
        rc = QSGD_FAIL(err, QSGD_ENOMEM, "synth-leastsq: out of memory");
        goto done;
    }
    for (size_t j = 0; j < d; j++) {
        double t = d > 1 ? (double)j / (double)(d - 1) : 0.0;
        double l = o.linear_spread ? L + (o.mu - L) * t : L * pow(o.mu / L, t);
        gsl_vector_view c = gsl_matrix_column(U, j);
        gsl_vector_scale(&c.vector, sqrt((double)n * l));
    }
    gsl_blas_dgemm(CblasNoTrans, CblasTrans, 1.0, U, V, 0.0, A);
    gsl_blas_dgemv(CblasNoTrans, 1.0, A, xp, 0.0, y);
    if (o.noise > 0)
        for (size_t i = 0; i < n; i++)
            *gsl_vector_ptr(y, i) += o.noise * gsl_ran_gaussian(ru, 1.0);

    data_shape shape = {.dim = d, .nclass = 0};
    if ((rc = dataset_alloc_dense(&shape, n, &ds, err)))
        goto done;
    /* Store as float, then describe the stored data exactly (in double). */
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < d; j++) {
            float v = (float)gsl_matrix_get(A, i, j);
            ds->x[i * d + j] = v;
            gsl_matrix_set(A, i, j, v);
        }
        ds->target[i] = (float)gsl_vector_get(y, i);
        gsl_vector_set(y, i, ds->target[i]);
    }
    snprintf(ds->source, sizeof ds->source,
             "synth-leastsq:n=%zu,dim=%zu,kappa=%g,mu=%g,noise=%g,spread=%s,seed=%llu,split=%d", n,
             d, o.kappa, o.mu, o.noise, o.linear_spread ? "linear" : "log",
             (unsigned long long)o.seed, split);
    if (info) {
        /* H = A^T A / n, b = A^T y / n, x_opt = H^-1 b (Cholesky), f_opt = |A x - y|^2/(2n). */
        gsl_blas_dsyrk(CblasLower, CblasTrans, 1.0 / (double)n, A, 0.0, H);
        for (size_t i = 0; i < d; i++)
            for (size_t j = i + 1; j < d; j++)
                gsl_matrix_set(H, i, j, gsl_matrix_get(H, j, i));
        gsl_blas_dgemv(CblasTrans, 1.0 / (double)n, A, y, 0.0, bvec);
        gsl_matrix *Hc = gsl_matrix_alloc(d, d);
        if (!Hc) {
            rc = QSGD_FAIL(err, QSGD_ENOMEM, "synth-leastsq: out of memory");
            goto done;
        }
        gsl_matrix_memcpy(Hc, H);
        gsl_eigen_symm(Hc, ev, ew); /* destroys Hc */
        info->L = gsl_vector_max(ev);
        info->mu = gsl_vector_min(ev);
        if (!(info->mu > 0)) {
            gsl_matrix_free(Hc);
            rc = QSGD_FAIL(err, QSGD_EINVAL,
                           "synth-leastsq: stored Hessian is singular "
                           "(kappa=%g too large for float data)",
                           o.kappa);
            goto done;
        }
        gsl_matrix_memcpy(Hc, H);
        gsl_linalg_cholesky_decomp1(Hc);
        gsl_linalg_cholesky_solve(Hc, bvec, xo);
        /* One step of iterative refinement: x += H^-1 (b - H x). */
        gsl_vector *res = gsl_vector_alloc(d), *dx = gsl_vector_alloc(d);
        if (res && dx) {
            gsl_vector_memcpy(res, bvec);
            gsl_blas_dgemv(CblasNoTrans, -1.0, H, xo, 1.0, res);
            gsl_linalg_cholesky_solve(Hc, res, dx);
            gsl_vector_add(xo, dx);
        }
        gsl_vector_free(res);
        gsl_vector_free(dx);
        gsl_matrix_free(Hc);
        gsl_vector_memcpy(r, y);
        gsl_blas_dgemv(CblasNoTrans, 1.0, A, xo, -1.0, r);
        double rr;
        gsl_blas_ddot(r, r, &rr);
        info->f_opt = rr / (2.0 * (double)n);
        info->dim = d;
        info->x_planted = malloc(d * sizeof(double));
        info->x_opt = malloc(d * sizeof(double));
        if (!info->x_planted || !info->x_opt) {
            data_synth_leastsq_info_free(info);
            rc = QSGD_FAIL(err, QSGD_ENOMEM, "synth-leastsq: out of memory");
            goto done;
        }
        for (size_t i = 0; i < d; i++) {
            info->x_planted[i] = gsl_vector_get(xp, i);
            info->x_opt[i] = gsl_vector_get(xo, i);
        }
    }
    *out = ds;
    ds = NULL;
done:
    dataset_free(ds);
    if (rv)
        gsl_rng_free(rv);
    if (ru)
        gsl_rng_free(ru);
    gsl_matrix_free(V);
    gsl_matrix_free(U);
    gsl_matrix_free(A);
    gsl_matrix_free(H);
    gsl_vector_free(xp);
    gsl_vector_free(y);
    gsl_vector_free(xo);
    gsl_vector_free(bvec);
    gsl_vector_free(r);
    gsl_vector_free(ev);
    if (ew)
        gsl_eigen_symm_free(ew);
    return rc;
}

int data_synth_logreg(const data_synth_logreg_opts *opts, int split, dataset **out,
                      double *w_planted, qsgd_err *err) {
    *out = NULL;
    data_synth_logreg_opts o = {0};
    if (opts)
        o = *opts;
    if (o.n == 0)
        o.n = 1000;
    if (o.dim == 0)
        o.dim = 20;
    if (o.scale == 0)
        o.scale = 5;
    if (!(o.scale > 0) || !isfinite(o.scale))
        return QSGD_FAIL(err, QSGD_EINVAL, "synth-logreg: scale=%g must be > 0", o.scale);
    if (o.dim > 1000000 || o.n > 200000000 / o.dim)
        return QSGD_FAIL(err, QSGD_EINVAL, "synth-logreg: n*dim = %zu*%zu too large", o.n, o.dim);
    size_t n = o.n, d = o.dim;
    double *w = malloc(d * sizeof *w);
    gsl_rng *rv = rng_new(o.seed, 0, STREAM_SHARED + 1);
    gsl_rng *ru = rng_new(o.seed, (uint32_t)split + 1, STREAM_SPLIT + 1);
    dataset *ds = NULL;
    int rc = QSGD_OK;
    if (!w || !rv || !ru) {
        rc = QSGD_FAIL(err, QSGD_ENOMEM, "synth-logreg: out of memory");
        goto done;
    }
    for (size_t j = 0; j < d; j++)
        w[j] = gsl_ran_gaussian(rv, o.scale / sqrt((double)d));
    data_shape shape = {.dim = d, .nclass = 2};
    if ((rc = dataset_alloc_dense(&shape, n, &ds, err)))
        goto done;
    for (size_t i = 0; i < n; i++) {
        double z = 0;
        for (size_t j = 0; j < d; j++) {
            float v = (float)gsl_ran_gaussian(ru, 1.0);
            ds->x[i * d + j] = v;
            z += w[j] * v;
        }
        if (o.hard)
            ds->label[i] = z > 0;
        else
            ds->label[i] = gsl_rng_uniform(ru) < 1.0 / (1.0 + exp(-z));
    }
    snprintf(ds->source, sizeof ds->source,
             "synth-logreg:n=%zu,dim=%zu,scale=%g,hard=%d,seed=%llu,split=%d", n, d, o.scale,
             o.hard, (unsigned long long)o.seed, split);
    if (w_planted)
        memcpy(w_planted, w, d * sizeof *w);
    *out = ds;
    ds = NULL;
done:
    dataset_free(ds);
    free(w);
    if (rv)
        gsl_rng_free(rv);
    if (ru)
        gsl_rng_free(ru);
    return rc;
}

/* ---- the synthetic data sources (specs "synth-leastsq[:...]", "synth-logreg[:...]") ----- */
struct leastsq_params {
    size_t n, dim;
    double kappa, mu, noise;
    int linear_spread;
    size_t ntest;
};
struct logreg_params {
    size_t n, dim;
    double scale;
    int hard;
    size_t ntest;
};
DATA_PARAMS_FITS(struct leastsq_params);
DATA_PARAMS_FITS(struct logreg_params);

static const qsgd_opt_choice spreads[] = {{"log", 0}, {"linear", 1}, {NULL, 0}};

#define COUNT(type, key, al, field, what)                                                          \
    {                                                                                              \
        .name = key, .aliases = al, .kind = QSGD_OPT_SIZE, .offset = offsetof(type, field),        \
        .max = DATA_MAX_COUNT, .def = "0", .meta = "N", .flags = QSGD_OPT_EXP, .help = what        \
    }
#define REAL(type, key, field, what)                                                               \
    {                                                                                              \
        .name = key, .kind = QSGD_OPT_DOUBLE, .offset = offsetof(type, field), .dmax = HUGE_VAL,   \
        .def = "0", .meta = "X", .help = what                                                      \
    }

static const qsgd_opt leastsq_opts[] = {
    COUNT(struct leastsq_params, "n", NULL, n, "training rows (0 = 1000)"),
    COUNT(struct leastsq_params, "dim", "d", dim, "features (0 = 50; needs n >= dim)"),
    REAL(struct leastsq_params, "kappa", kappa, "condition number L/mu >= 1 (0 = 10)"),
    REAL(struct leastsq_params, "mu", mu, "smallest Hessian eigenvalue (0 = 1/kappa, so L = 1)"),
    REAL(struct leastsq_params, "noise", noise, "std of the noise on y"),
    {.name = "spread",
     .kind = QSGD_OPT_ENUM,
     .offset = offsetof(struct leastsq_params, linear_spread),
     .choices = spreads,
     .def = "log",
     .help = "spacing of the eigenvalues"},
    COUNT(struct leastsq_params, "ntest", NULL, ntest, "test rows (0 = n)"),
    {.name = NULL},
};

static const qsgd_opt logreg_opts[] = {
    COUNT(struct logreg_params, "n", NULL, n, "training rows (0 = 1000)"),
    COUNT(struct logreg_params, "dim", "d", dim, "features (0 = 20)"),
    REAL(struct logreg_params, "scale", scale, "norm of the planted weights (0 = 5)"),
    {.name = "hard",
     .kind = QSGD_OPT_BOOL,
     .offset = offsetof(struct logreg_params, hard),
     .def = "0",
     .meta = "0|1",
     .help = "noiseless labels"},
    COUNT(struct logreg_params, "ntest", NULL, ntest, "test rows (0 = n)"),
    {.name = NULL},
};

static int leastsq_source_load(const data_source *src, const char *path, const void *params,
                               uint64_t seed, dataset **train, dataset **test, qsgd_err *err) {
    (void)src;
    (void)path;
    *train = *test = NULL;
    const struct leastsq_params *p = params;
    data_synth_leastsq_opts o = {.n = p->n,
                                 .dim = p->dim,
                                 .kappa = p->kappa,
                                 .mu = p->mu,
                                 .noise = p->noise,
                                 .linear_spread = p->linear_spread,
                                 .seed = seed};
    int rc;
    if ((rc = data_synth_leastsq(&o, 0, train, NULL, err)))
        return rc;
    data_synth_leastsq_opts t = o;
    t.n = p->ntest ? p->ntest : (o.n ? o.n : 1000);
    if ((rc = data_synth_leastsq(&t, 1, test, NULL, err))) {
        dataset_free(*train);
        *train = NULL;
    }
    return rc;
}

static int logreg_source_load(const data_source *src, const char *path, const void *params,
                              uint64_t seed, dataset **train, dataset **test, qsgd_err *err) {
    (void)src;
    (void)path;
    *train = *test = NULL;
    const struct logreg_params *p = params;
    data_synth_logreg_opts o = {
        .n = p->n, .dim = p->dim, .scale = p->scale, .hard = p->hard, .seed = seed};
    int rc;
    if ((rc = data_synth_logreg(&o, 0, train, NULL, err)))
        return rc;
    data_synth_logreg_opts t = o;
    t.n = p->ntest ? p->ntest : (o.n ? o.n : 1000);
    if ((rc = data_synth_logreg(&t, 1, test, NULL, err))) {
        dataset_free(*train);
        *train = NULL;
    }
    return rc;
}

const data_source data_source_synth_leastsq = {
    .name = "synth-leastsq",
    .summary = "least squares with a chosen Hessian spectrum and exact optimum",
    .opts = leastsq_opts,
    .params_size = sizeof(struct leastsq_params),
    .load = leastsq_source_load,
};

const data_source data_source_synth_logreg = {
    .name = "synth-logreg",
    .summary = "binary logistic data with a planted weight vector",
    .opts = logreg_opts,
    .params_size = sizeof(struct logreg_params),
    .load = logreg_source_load,
};
