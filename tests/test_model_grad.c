/* test_model_grad.c — gradient checks of every registered model on small random problems.
 *
 * (A) Reference check (tight): the analytic float32 gradient of loss_grad against central
 *     finite differences, step 1e-6, of a double-precision reference implementation of the
 *     same objective (model_test_util.h, written from the documented semantics), per
 *     coordinate (all coordinates of the tiny models, a random subset of the full-size
 *     mlp 784-256-128-10 and cnn 16x32/fc128) and along random directions. Also the loss
 *     itself against the reference.
 * (B) Self check: central differences (in double) of the loss that loss_grad itself returns
 *     (float forward passes), step h = 1e-2, per coordinate and along random directions.
 *     ReLU and max-pool kinks make finite differences meaningless where [theta-h, theta+h]
 *     crosses one, so such coordinates/directions are skipped: those where the reference's
 *     activation pattern (every ReLU sign, every live pool argmax) differs between the two
 *     end points. The number skipped is printed.
 *
 * Relative error of a coordinate: |g - fd| / max(|g|, |fd|, 1e-3 max_j |fd_j|). Achieved
 * errors are printed on every run; tolerances are set a few times above those measured
 * here (see the table). */
#include "model_test_util.h"

typedef struct gcase {
    const char *spec;
    size_t dim, C, H, W;
    int nclass;
    int csr;
    size_t n, B;
    size_t ncoord, ndir;
    double h_dir; /* step of the self check along directions (smaller for the nets: a step
                     along a dense direction crosses many more kinks) */
    double tol_ref, tol_self; /* max per-coordinate / per-direction relative error */
} gcase;

#define H_SELF 1e-2 /* step of the self check (B) per coordinate */
#define H_REF 1e-6  /* step of the reference differences (A) */
#define FLOOR 1e-3  /* per-coordinate floor, fraction of max |fd| */

// clang-format off
static const gcase cases[] = {
    /* spec                      dim  C  H   W  ncl csr  n   B  ncoord ndir h_dir tol_ref tol_self */
    {"leastsq:l2=0.1",             7, 0, 0,  0, 0,  0,  30, 12, 999,  8,  1e-2, 1e-5,   1e-4},
    {"leastsq:l2=0.1",             7, 0, 0,  0, 0,  1,  30, 12, 999,  8,  1e-2, 1e-5,   1e-4},
    {"logreg:l2=0.05",             6, 0, 0,  0, 2,  0,  30, 12, 999,  8,  1e-2, 1e-5,   1e-3},
    {"logreg:l2=0.05",             6, 0, 0,  0, 2,  1,  30, 12, 999,  8,  1e-2, 1e-5,   1e-3},
    {"softmax:l2=0.01",            5, 0, 0,  0, 4,  0,  30, 12, 999,  8,  1e-2, 1e-5,   1e-3},
    {"softmax:l2=0.01",            5, 0, 0,  0, 4,  1,  30, 12, 999,  8,  1e-2, 1e-5,   1e-3},
    {"mlp:hidden=5x4",             6, 0, 0,  0, 3,  0,  30, 10, 999,  8,  1e-3, 1e-4,   1e-2},
    {"mlp",                      784, 0, 0,  0, 10, 0,  16,  8, 120,  4,  1e-3, 1e-3,   3e-2},
    {"cnn:channels=3x4,fc=5",     72, 2, 6,  6, 3,  0,  30, 20, 999,  8,  1e-3, 1e-4,   1e-2},
    {"cnn:channels=2,fc=0",       20, 1, 5,  4, 3,  0,  30, 10, 999,  8,  1e-3, 1e-4,   1e-2},
    {"cnn",                      784, 1, 28, 28, 10, 0,  8,  4, 120,  4,  1e-3, 1e-3,   3e-2},
};
// clang-format on

typedef struct gstat {
    double max_rel, vec_rel;
    size_t n, skipped;
} gstat;

static void stat_add(gstat *s, double g, double fd, double scale, double *num, double *den) {
    double e = fabs(g - fd), sc = fmax(fmax(fabs(g), fabs(fd)), scale);
    if (sc > 0 && e / sc > s->max_rel)
        s->max_rel = e / sc;
    *num += e * e;
    *den += fd * fd;
    s->n++;
}

static void run_case(const gcase *c, unsigned long seed) {
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, seed);
    dataset *d = c->C ? mt_images(r, c->n, c->C, c->H, c->W, c->nclass)
                      : mt_dense(r, c->n, c->dim, c->nclass, c->csr ? 0.4 : 0.0);
    dataset *dd = d; /* the reference reads dense rows */
    if (c->csr)
        d = mt_to_csr(dd);
    model_err err = {0};
    model *m = model_alloc_spec(c->spec, &d->shape, c->B, &err);
    if (!m)
        fprintf(stderr, "model_alloc_spec(%s): %s\n", c->spec, err.msg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    size_t P = m->nparams;
    float *theta = malloc(P * sizeof(float)), *g = malloc(P * sizeof(float));
    float *gb = malloc(P * sizeof(float)), *tp = malloc(P * sizeof(float));
    float *tm = malloc(P * sizeof(float));
    double *th = malloc(P * sizeof(double)), *fdm = malloc(P * sizeof(double));
    double *fdr = malloc(P * sizeof(double));
    size_t *js = malloc(P * sizeof(size_t));
    m->type->init_params(m, theta, seed);
    /* The convex models start at the origin: move to a random point. The nets keep their
     * He init (a random point already); only the zero biases get a small random value. */
    int convex = strncmp(c->spec, "mlp", 3) != 0 && strncmp(c->spec, "cnn", 3) != 0;
    for (size_t t = 0; t < m->ntensors; t++) {
        const model_tensor *T = &m->tensors[t];
        if (convex || T->ndim == 1)
            for (size_t j = 0; j < T->numel; j++)
                theta[T->offset + j] += (float)gsl_ran_gaussian(r, convex ? 0.3 : 0.05);
    }
    for (size_t j = 0; j < P; j++)
        th[j] = theta[j];
    size_t *idx = malloc(c->B * sizeof(size_t));
    for (size_t i = 0; i < c->B; i++)
        idx[i] = (i * 7 + 3) % c->n; /* scattered rows: exercises the gather */

    double L = mt_loss(m, theta, d, idx, c->B, g);
    double Lref = mt_ref_loss(m, th, dd, idx, c->B, NULL);
    double loss_rel = fabs(L - Lref) / fabs(Lref);

    size_t nc = c->ncoord >= P ? P : c->ncoord;
    for (size_t j = 0; j < P; j++)
        js[j] = j;
    if (nc < P)
        gsl_ran_shuffle(r, js, P, sizeof(size_t));
    gstat A = {0}, Bs = {0};
    double maxr = 0, maxm = 0;
    int *ok = calloc(nc, sizeof(int));
    for (size_t t = 0; t < nc; t++) {
        size_t j = js[t];
        double keep = th[j];
        th[j] = keep + H_REF;
        double Lp = mt_ref_loss(m, th, dd, idx, c->B, NULL);
        th[j] = keep - H_REF;
        double Lm = mt_ref_loss(m, th, dd, idx, c->B, NULL);
        fdr[t] = (Lp - Lm) / (2 * H_REF);
        /* self check at the float-rounded points theta_j +- h */
        float fk = theta[j];
        float up = (float)(fk + H_SELF), dn = (float)(fk - H_SELF);
        uint64_t pp, pm;
        th[j] = up;
        mt_ref_loss(m, th, dd, idx, c->B, &pp);
        th[j] = dn;
        mt_ref_loss(m, th, dd, idx, c->B, &pm);
        th[j] = keep;
        ok[t] = pp == pm;
        theta[j] = up;
        double Lup = mt_loss(m, theta, d, idx, c->B, gb);
        theta[j] = dn;
        double Ldn = mt_loss(m, theta, d, idx, c->B, gb);
        theta[j] = fk;
        fdm[t] = (Lup - Ldn) / ((double)up - (double)dn);
        maxr = fmax(maxr, fabs(fdr[t]));
        if (ok[t])
            maxm = fmax(maxm, fabs(fdm[t]));
    }
    double na = 0, da = 0, nb = 0, db = 0;
    for (size_t t = 0; t < nc; t++) {
        stat_add(&A, g[js[t]], fdr[t], FLOOR * maxr, &na, &da);
        if (ok[t])
            stat_add(&Bs, g[js[t]], fdm[t], FLOOR * maxm, &nb, &db);
        else
            Bs.skipped++;
    }
    A.vec_rel = sqrt(na / da);
    Bs.vec_rel = db > 0 ? sqrt(nb / db) : 0;

    /* directions: v ~ N(0, I/P), every other one plus g/|g| so that g.v is not tiny */
    double gn = 0;
    for (size_t j = 0; j < P; j++)
        gn += (double)g[j] * g[j];
    gn = sqrt(gn);
    double dirA = 0, dirB = 0;
    size_t dirB_n = 0, dirB_skip = 0;
    double *v = malloc(P * sizeof(double));
    for (size_t k = 0; k < c->ndir; k++) {
        double gv = 0;
        for (size_t j = 0; j < P; j++) {
            v[j] = gsl_ran_gaussian(r, 1.0 / sqrt((double)P)) + (k % 2 == 0 ? g[j] / gn : 0.0);
            gv += g[j] * v[j];
        }
        for (size_t j = 0; j < P; j++)
            th[j] = theta[j] + H_REF * v[j];
        double Lp = mt_ref_loss(m, th, dd, idx, c->B, NULL);
        for (size_t j = 0; j < P; j++)
            th[j] = theta[j] - H_REF * v[j];
        double Lm = mt_ref_loss(m, th, dd, idx, c->B, NULL);
        double dref = (Lp - Lm) / (2 * H_REF);
        dirA = fmax(dirA, fabs(gv - dref) / fabs(dref));
        double pred = 0;
        for (size_t j = 0; j < P; j++) {
            tp[j] = (float)(theta[j] + c->h_dir * v[j]);
            tm[j] = (float)(theta[j] - c->h_dir * v[j]);
            pred += (double)g[j] * ((double)tp[j] - (double)tm[j]);
        }
        uint64_t pp, pm;
        for (size_t j = 0; j < P; j++)
            th[j] = tp[j];
        mt_ref_loss(m, th, dd, idx, c->B, &pp);
        for (size_t j = 0; j < P; j++)
            th[j] = tm[j];
        mt_ref_loss(m, th, dd, idx, c->B, &pm);
        if (pp != pm) {
            dirB_skip++;
            continue;
        }
        double dL = mt_loss(m, tp, d, idx, c->B, gb) - mt_loss(m, tm, d, idx, c->B, gb);
        dirB = fmax(dirB, fabs(pred - dL) / fabs(dL));
        dirB_n++;
    }
    printf("\n    %-22s %-5s P=%-6zu loss vs ref %.1e | ref: %zu coords max %.1e vec %.1e, "
           "%zu dirs max %.1e (tol %.0e) | self h=%.0e: %zu coords (%zu kinked) max %.1e vec "
           "%.1e, h=%.0e %zu dirs (%zu kinked) max %.1e (tol %.0e)",
           c->spec, c->csr ? "csr" : "dense", P, loss_rel, A.n, A.max_rel, A.vec_rel, c->ndir, dirA,
           c->tol_ref, H_SELF, Bs.n, Bs.skipped, Bs.max_rel, Bs.vec_rel, c->h_dir, dirB_n,
           dirB_skip, dirB, c->tol_self);
    CU_ASSERT(loss_rel < 1e-5);
    CU_ASSERT(A.max_rel < c->tol_ref);
    CU_ASSERT(A.vec_rel < 1e-5);
    CU_ASSERT(dirA < c->tol_ref);
    CU_ASSERT(Bs.max_rel < c->tol_self);
    CU_ASSERT(Bs.vec_rel < 1e-3);
    CU_ASSERT(dirB < c->tol_self);
    /* the self check must really have checked most of the tiny models */
    if (P < 1000)
        CU_ASSERT(Bs.n >= nc / 2);
    free(v);
    free(ok);
    free(idx);
    free(theta);
    free(g);
    free(gb);
    free(tp);
    free(tm);
    free(th);
    free(fdm);
    free(fdr);
    free(js);
    model_free(m);
    if (d != dd)
        mt_free(d);
    mt_free(dd);
    gsl_rng_free(r);
}

static void test_all_models(void) {
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run_case(&cases[i], 1000 + i);
    printf("\n");
}

/* Every registered model appears in the table above. */
static void test_registry_covered(void) {
    for (const model_type *const *t = model_types(); *t; t++) {
        if (strcmp((*t)->name, "profile") == 0)
            continue; /* timing stand-in with synthetic gradients: tests/test_model_profile.c */
        int found = 0;
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
            found |= strncmp(cases[i].spec, (*t)->name, strlen((*t)->name)) == 0;
        if (!found)
            fprintf(stderr, "model %s has no gradient check\n", (*t)->name);
        CU_ASSERT(found);
    }
}

int main(void) {
    static const mt_test tests[] = {
        {"every model: gradient vs finite differences", test_all_models},
        {"every registered model has a gradient check", test_registry_covered},
        {NULL, NULL},
    };
    return mt_run("model_grad", tests);
}
