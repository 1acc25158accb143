/* test_model_grad.c — gradient checks of every registered model on small random problems,
 * with tolerances derived from float32 rounding, never tuned: the same on every machine,
 * build type and BLAS kernel.
 *
 * (A) Reference check: the analytic float32 gradient g of loss_grad against central
 *     differences fd, step H_REF, of a double-precision reference implementation of the same
 *     objective (model_test_util.h, written from the documented semantics), per coordinate
 *     (all coordinates of the tiny models, a random subset of the full-size mlp 784-256-128-10
 *     and cnn 16x32/fc128) and along random directions w. Bound, per coordinate j:
 *       |g_j - fd_j| <= gamma_K G_j               float32 error of g: running error analysis,
 *                                                 G_j and K from the reference (see
 *                                                 model_test_util.h), any summation order
 *                     + gamma_K64 Lambda / H_REF  double rounding of the two reference losses
 *                     + T (H_REF / H_SELF)^2      truncation h^2 |f'''| / 6, f''' estimated by
 *                                                 the largest kink-free T of (B)
 *     and along w the same with G.|w| for G_j (+ the double rounding of g.w).
 * (B) Self check: central differences fd32 of the loss that loss_grad itself returns (float32
 *     forward passes) at the float points theta_j +- H_SELF (or theta +- h_dir v). Bound:
 *       |fd32 - g_j| <= (gamma_F+ Lambda+ + gamma_F- Lambda-) / 2h   float32 loss rounding
 *                      + gamma_F64 (Lambda+ + Lambda-) / 2h          reference loss rounding
 *                      + T = |fd_ref(h) - fd_ref(H_REF)|              truncation, in double
 *                      + the bound of (A)
 *     where gamma_F Lambda bounds the float32 loss error at each point (absolute-value forward
 *     pass of the reference there). A step crossing a ReLU or max-pool kink makes a finite
 *     difference meaningless: coordinates/directions where the reference's activation pattern
 *     (every ReLU sign, every live pool argmax) differs between the two end points are skipped,
 *     in (A) as in (B), and counted. The pattern comes from the double reference, so the same
 *     ones are skipped on every machine.
 * Precondition (asserted): no ReLU/pool decision at theta lies within float32 error of its
 * kink ("near"), so the float32 passes take the reference's branches and G bounds them.
 * The bounds are first order in u = 2^-24 (gamma_K < 1e-3 here, so the second order is below
 * 1e-3 of them). Each case prints the largest error/bound ratio of each check; > 1 fails. */
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
} gcase;

#define H_SELF 1e-2 /* step of the self check (B) per coordinate */
#define H_REF 1e-6  /* step of the reference differences (A) */
#define H_ABS 1e-3  /* step of the G.|w| difference (a polynomial of low degree in the step) */

// clang-format off
static const gcase cases[] = {
    /* spec                      dim  C  H   W  ncl csr  n   B  ncoord ndir h_dir */
    {"leastsq:l2=0.1",             7, 0, 0,  0, 0,  0,  30, 12, 999,  8,  1e-2},
    {"leastsq:l2=0.1",             7, 0, 0,  0, 0,  1,  30, 12, 999,  8,  1e-2},
    {"logreg:l2=0.05",             6, 0, 0,  0, 2,  0,  30, 12, 999,  8,  1e-2},
    {"logreg:l2=0.05",             6, 0, 0,  0, 2,  1,  30, 12, 999,  8,  1e-2},
    {"softmax:l2=0.01",            5, 0, 0,  0, 4,  0,  30, 12, 999,  8,  1e-2},
    {"softmax:l2=0.01",            5, 0, 0,  0, 4,  1,  30, 12, 999,  8,  1e-2},
    {"mlp:hidden=5x4",             6, 0, 0,  0, 3,  0,  30, 10, 999,  8,  1e-3},
    {"mlp",                      784, 0, 0,  0, 10, 0,  16,  8, 120,  4,  1e-3},
    {"cnn:channels=3x4,fc=5",     72, 2, 6,  6, 3,  0,  30, 20, 999,  8,  1e-3},
    {"cnn:channels=2,fc=0",       20, 1, 5,  4, 3,  0,  30, 10, 999,  8,  1e-3},
    {"cnn",                      784, 1, 28, 28, 10, 0,  8,  4, 120,  4,  1e-3},
};
// clang-format on

/* The largest error/bound ratio of one check, and how many were checked and skipped. */
typedef struct gstat {
    double ratio;
    size_t n, skipped;
} gstat;

static void stat_add(gstat *s, double err, double bound) {
    s->ratio = fmax(s->ratio, err / bound);
    s->n++;
}

/* What the bounds of one case need: the problem, the reference's tape at theta, scratch. */
typedef struct gctx {
    model *m;
    const dataset *dd; /* dense rows (the reference's) */
    const size_t *idx;
    size_t B, P;
    mt_tape base, tmp; /* tape at theta (MT_ABS replays it); scratch tape at other points */
    double *ta, *scr;  /* [P] |theta|; a scratch point */
} gctx;

/* Reference loss at th, and Lambda and gamma_F there (float32 loss error <= gamma_F Lambda):
 * a RECORD and a ZPASS pass on the scratch tape; *pat: the activation pattern. */
static double ref_at(gctx *c, const double *th, uint64_t *pat, double *lambda, double *gamma_f) {
    c->tmp.mode = MT_RECORD;
    double L = mt_ref_loss_t(c->m, th, c->dd, c->idx, c->B, pat, &c->tmp);
    for (size_t j = 0; j < c->P; j++)
        c->scr[j] = fabs(th[j]);
    c->tmp.mode = MT_ZPASS;
    *lambda = mt_ref_loss_t(c->m, c->scr, c->dd, c->idx, c->B, NULL, &c->tmp);
    *gamma_f = c->tmp.gamma_f;
    return L;
}

/* G.|w| (w NULL: G_j): central difference of the MT_ABS network of theta along |w| or e_j
 * (exact along e_j: affine or quadratic there). */
static double gabs(gctx *c, const double *w, size_t j) {
    double s = w ? H_ABS : 1.0, L[2];
    for (int k = 0; k < 2; k++) {
        double sg = k ? -s : s;
        for (size_t i = 0; i < c->P; i++)
            c->scr[i] = c->ta[i] + (w ? sg * fabs(w[i]) : 0.0);
        if (!w)
            c->scr[j] += sg;
        c->base.mode = MT_ABS;
        L[k] = mt_ref_loss_t(c->m, c->scr, c->dd, c->idx, c->B, NULL, &c->base);
    }
    return (L[0] - L[1]) / (2 * s);
}

static void run_case(const gcase *cs, unsigned long seed) {
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, seed);
    dataset *d = cs->C ? mt_images(r, cs->n, cs->C, cs->H, cs->W, cs->nclass)
                       : mt_dense(r, cs->n, cs->dim, cs->nclass, cs->csr ? 0.4 : 0.0);
    dataset *dd = d; /* the reference reads dense rows */
    if (cs->csr)
        d = mt_to_csr(dd);
    qsgd_err err = {0};
    model *m = model_alloc_spec(cs->spec, &d->shape, cs->B, &err);
    if (!m)
        fprintf(stderr, "model_alloc_spec(%s): %s\n", cs->spec, err.msg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    size_t P = m->nparams;
    float *theta = malloc(P * sizeof(float)), *g = malloc(P * sizeof(float));
    float *gb = malloc(P * sizeof(float)), *tp = malloc(P * sizeof(float));
    float *tm = malloc(P * sizeof(float));
    double *th = malloc(P * sizeof(double)), *w = malloc(P * sizeof(double));
    double *fdr = malloc(P * sizeof(double)), *bA = malloc(P * sizeof(double));
    double *eB = malloc(P * sizeof(double)), *bB = malloc(P * sizeof(double));
    int *okA = malloc(P * sizeof(int)), *okB = malloc(P * sizeof(int));
    size_t *js = malloc(P * sizeof(size_t));
    size_t *idx = malloc(cs->B * sizeof(size_t));
    gctx c = {.m = m, .dd = dd, .idx = idx, .B = cs->B, .P = P};
    c.ta = malloc(P * sizeof(double));
    c.scr = malloc(P * sizeof(double));
    m->type->init_params(m, theta, seed);
    /* The convex models start at the origin: move to a random point. The nets keep their
     * He init (a random point already); only the zero biases get a small random value. */
    int convex = strncmp(cs->spec, "mlp", 3) != 0 && strncmp(cs->spec, "cnn", 3) != 0;
    for (size_t t = 0; t < m->ntensors; t++) {
        const model_tensor *Tn = &m->tensors[t];
        if (convex || Tn->ndim == 1)
            for (size_t j = 0; j < Tn->numel; j++)
                theta[Tn->offset + j] += (float)gsl_ran_gaussian(r, convex ? 0.3 : 0.05);
    }
    for (size_t j = 0; j < P; j++) {
        th[j] = theta[j];
        c.ta[j] = fabs(th[j]);
    }
    for (size_t i = 0; i < cs->B; i++)
        idx[i] = (i * 7 + 3) % cs->n; /* scattered rows: exercises the gather */

    /* the loss; the tape at theta and the constants of the bounds */
    double L = mt_loss(m, theta, d, idx, cs->B, g);
    c.base.mode = MT_RECORD;
    double Lref = mt_ref_loss_t(m, th, dd, idx, cs->B, NULL, &c.base);
    c.base.mode = MT_ZPASS;
    double Lam = mt_ref_loss_t(m, c.ta, dd, idx, cs->B, NULL, &c.base);
    const double gK = c.base.gamma, gF = c.base.gamma_f, gK64 = mt_gamma(c.base.K, MT_U64);
    const double round_ref = gK64 * Lam / H_REF; /* the double reference's differences */
    double loss_ratio = fabs(L - Lref) / ((gF + gK64) * Lam);

    size_t nc = cs->ncoord >= P ? P : cs->ncoord;
    for (size_t j = 0; j < P; j++)
        js[j] = j;
    if (nc < P)
        gsl_ran_shuffle(r, js, P, sizeof(size_t));
    gstat A = {0}, Bs = {0}, dA = {0}, dB = {0};
    double truncA = 0; /* T (H_REF/H_SELF)^2, the largest over kink-free coordinates */
    for (size_t t = 0; t < nc; t++) {
        size_t j = js[t];
        double keep = th[j], lam[2], gf[2], Lr[2];
        uint64_t pat[2];
        th[j] = keep + H_REF;
        double Lp = mt_ref_loss_t(m, th, dd, idx, cs->B, &pat[0], NULL);
        th[j] = keep - H_REF;
        double Lm = mt_ref_loss_t(m, th, dd, idx, cs->B, &pat[1], NULL);
        okA[t] = pat[0] == pat[1];
        fdr[t] = (Lp - Lm) / (2 * H_REF);
        bA[t] = gK * gabs(&c, NULL, j) + round_ref;
        /* self check at the float-rounded points theta_j +- h */
        float fk = theta[j];
        float up = (float)(fk + H_SELF), dn = (float)(fk - H_SELF);
        double span = (double)up - (double)dn;
        th[j] = up;
        Lr[0] = ref_at(&c, th, &pat[0], &lam[0], &gf[0]);
        th[j] = dn;
        Lr[1] = ref_at(&c, th, &pat[1], &lam[1], &gf[1]);
        th[j] = keep;
        okB[t] = pat[0] == pat[1];
        theta[j] = up;
        double Lup = mt_loss(m, theta, d, idx, cs->B, gb);
        theta[j] = dn;
        double Ldn = mt_loss(m, theta, d, idx, cs->B, gb);
        theta[j] = fk;
        double T = fabs((Lr[0] - Lr[1]) / span - fdr[t]);
        eB[t] = fabs((Lup - Ldn) / span - g[j]);
        bB[t] = ((gf[0] + gK64) * lam[0] + (gf[1] + gK64) * lam[1]) / span + T;
        if (okB[t])
            truncA = fmax(truncA, T * (H_REF / H_SELF) * (H_REF / H_SELF));
    }
    for (size_t t = 0; t < nc; t++) {
        double bound = bA[t] + truncA;
        if (okA[t])
            stat_add(&A, fabs(g[js[t]] - fdr[t]), bound);
        else
            A.skipped++;
        if (okA[t] && okB[t])
            stat_add(&Bs, eB[t], bB[t] + bound);
        else
            Bs.skipped++;
    }

    /* directions: v ~ N(0, I/P), every other one plus g/|g| so that g.v is not tiny; the
     * self check's float points theta +- h v define the direction w = (tp - tm) / 2h that
     * both checks use (so (B) needs no term for the rounding of its points) */
    double gn = 0;
    for (size_t j = 0; j < P; j++)
        gn += (double)g[j] * g[j];
    gn = sqrt(gn);
    for (size_t k = 0; k < cs->ndir; k++) {
        const double h = cs->h_dir;
        double gw = 0, gwabs = 0;
        for (size_t j = 0; j < P; j++) {
            double v = gsl_ran_gaussian(r, 1.0 / sqrt((double)P)) + (k % 2 == 0 ? g[j] / gn : 0.0);
            tp[j] = (float)(theta[j] + h * v);
            tm[j] = (float)(theta[j] - h * v);
            w[j] = ((double)tp[j] - (double)tm[j]) / (2 * h);
            gw += g[j] * w[j];
            gwabs += fabs(g[j] * w[j]);
        }
        uint64_t pat[2];
        for (size_t j = 0; j < P; j++)
            th[j] = theta[j] + H_REF * w[j];
        double Lp = mt_ref_loss_t(m, th, dd, idx, cs->B, &pat[0], NULL);
        for (size_t j = 0; j < P; j++)
            th[j] = theta[j] - H_REF * w[j];
        double Lm = mt_ref_loss_t(m, th, dd, idx, cs->B, &pat[1], NULL);
        if (pat[0] != pat[1]) {
            dA.skipped++;
            dB.skipped++;
            continue;
        }
        double dref = (Lp - Lm) / (2 * H_REF);
        double bound = gK * gabs(&c, w, 0) + round_ref + gK64 * gwabs;
        stat_add(&dA, fabs(gw - dref), bound);
        double lam[2], gf[2], Lr[2];
        for (size_t j = 0; j < P; j++)
            th[j] = tp[j];
        Lr[0] = ref_at(&c, th, &pat[0], &lam[0], &gf[0]);
        for (size_t j = 0; j < P; j++)
            th[j] = tm[j];
        Lr[1] = ref_at(&c, th, &pat[1], &lam[1], &gf[1]);
        if (pat[0] != pat[1]) {
            dB.skipped++;
            continue;
        }
        double fd32 =
            (mt_loss(m, tp, d, idx, cs->B, gb) - mt_loss(m, tm, d, idx, cs->B, gb)) / (2 * h);
        double T = fabs((Lr[0] - Lr[1]) / (2 * h) - dref);
        double bw = ((gf[0] + gK64) * lam[0] + (gf[1] + gK64) * lam[1]) / (2 * h) + T;
        stat_add(&dB, fabs(fd32 - gw), bw + bound);
    }
    printf("\n    %-22s %-5s P=%-6zu K=%-5.0f near=%zu | error/bound: loss %.1e | ref: %zu coords "
           "(%zu kinked) %.1e, %zu dirs (%zu kinked) %.1e | self h=%.0e: %zu coords (%zu "
           "kinked) %.1e, h=%.0e %zu dirs (%zu kinked) %.1e",
           cs->spec, cs->csr ? "csr" : "dense", P, c.base.K, c.base.near, loss_ratio, A.n,
           A.skipped, A.ratio, dA.n, dA.skipped, dA.ratio, H_SELF, Bs.n, Bs.skipped, Bs.ratio,
           cs->h_dir, dB.n, dB.skipped, dB.ratio);
    CU_ASSERT(c.base.near == 0);
    CU_ASSERT(loss_ratio <= 1);
    CU_ASSERT(A.ratio <= 1);
    CU_ASSERT(dA.ratio <= 1);
    CU_ASSERT(Bs.ratio <= 1);
    CU_ASSERT(dB.ratio <= 1);
    /* the checks must really have checked most coordinates and some directions */
    CU_ASSERT(A.n >= nc / 2);
    CU_ASSERT(dA.n >= 1);
    if (P < 1000)
        CU_ASSERT(Bs.n >= nc / 2);
    mt_tape_free(&c.base);
    mt_tape_free(&c.tmp);
    free(c.ta);
    free(c.scr);
    free(idx);
    free(theta);
    free(g);
    free(gb);
    free(tp);
    free(tm);
    free(th);
    free(w);
    free(fdr);
    free(bA);
    free(eB);
    free(bB);
    free(okA);
    free(okB);
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
        if ((*t)->timing_only)
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
