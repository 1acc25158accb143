/* model_test_util.h — shared helpers of the model test programs (tests/test_model_*.c):
 * small datasets built in memory (dense, CSR, CHW images, separable blobs), a CUnit runner,
 * and the finite-difference gradient check. Header-only, all static. */
#ifndef QSGDSIM_MODEL_TEST_UTIL_H
#define QSGDSIM_MODEL_TEST_UTIL_H

#include <CUnit/Basic.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

/* Not every test program uses every helper. */
#define MT_UNUSED __attribute__((unused))

/* ---- datasets --------------------------------------------------------------------- */

MT_UNUSED static void mt_free(dataset *d) {
    if (!d)
        return;
    free(d->x);
    free(d->rowptr);
    free(d->col);
    free(d->val);
    free(d->label);
    free(d->target);
    free(d);
}

/* n dense rows of N(0,1) features, a fraction `zeros` of them set to exactly 0 (so the CSR
 * copy is really sparse); labels uniform in [0, nclass) or, for nclass == 0, targets
 * x.w* + 0.1 N(0,1) for a random w*. */
MT_UNUSED static dataset *mt_dense(gsl_rng *r, size_t n, size_t dim, int nclass, double zeros) {
    dataset *d = calloc(1, sizeof *d);
    d->shape.dim = dim;
    d->shape.nclass = nclass;
    d->n = n;
    d->layout = DATA_DENSE;
    d->x = malloc(n * dim * sizeof(float));
    for (size_t i = 0; i < n * dim; i++)
        d->x[i] = gsl_rng_uniform(r) < zeros ? 0.0f : (float)gsl_ran_gaussian(r, 1.0);
    if (nclass > 0) {
        d->label = malloc(n * sizeof(int32_t));
        for (size_t i = 0; i < n; i++)
            d->label[i] = (int32_t)gsl_rng_uniform_int(r, (unsigned long)nclass);
    } else {
        double *w = malloc(dim * sizeof(double));
        for (size_t j = 0; j < dim; j++)
            w[j] = gsl_ran_gaussian(r, 1.0);
        d->target = malloc(n * sizeof(float));
        for (size_t i = 0; i < n; i++) {
            double s = 0;
            for (size_t j = 0; j < dim; j++)
                s += w[j] * d->x[i * dim + j];
            d->target[i] = (float)(s + gsl_ran_gaussian(r, 0.1));
        }
        free(w);
    }
    snprintf(d->source, sizeof d->source, "mt_dense(%zu x %zu)", n, dim);
    return d;
}

/* CHW images: n x (C*H*W) N(0,1) pixels, labels uniform. */
MT_UNUSED static dataset *mt_images(gsl_rng *r, size_t n, size_t C, size_t H, size_t W,
                                    int nclass) {
    dataset *d = mt_dense(r, n, C * H * W, nclass, 0.0);
    d->shape.channels = C;
    d->shape.height = H;
    d->shape.width = W;
    snprintf(d->source, sizeof d->source, "mt_images(%zu x %zux%zux%zu)", n, C, H, W);
    return d;
}

/* The same rows in CSR layout (exact zeros dropped). */
MT_UNUSED static dataset *mt_to_csr(const dataset *s) {
    dataset *d = calloc(1, sizeof *d);
    *d = *s;
    d->x = NULL;
    d->layout = DATA_CSR;
    size_t nnz = 0;
    for (size_t i = 0; i < s->n * s->shape.dim; i++)
        nnz += s->x[i] != 0.0f;
    d->rowptr = malloc((s->n + 1) * sizeof(size_t));
    d->col = malloc((nnz ? nnz : 1) * sizeof(uint32_t));
    d->val = malloc((nnz ? nnz : 1) * sizeof(float));
    size_t k = 0;
    for (size_t i = 0; i < s->n; i++) {
        d->rowptr[i] = k;
        for (size_t j = 0; j < s->shape.dim; j++) {
            float v = s->x[i * s->shape.dim + j];
            if (v != 0.0f) {
                d->col[k] = (uint32_t)j;
                d->val[k++] = v;
            }
        }
    }
    d->rowptr[s->n] = k;
    d->label = NULL;
    d->target = NULL;
    if (s->label) {
        d->label = malloc(s->n * sizeof(int32_t));
        memcpy(d->label, s->label, s->n * sizeof(int32_t));
    }
    if (s->target) {
        d->target = malloc(s->n * sizeof(float));
        memcpy(d->target, s->target, s->n * sizeof(float));
    }
    snprintf(d->source, sizeof d->source, "csr of %.200s", s->source);
    return d;
}

/* Linearly separable classes: class k rows are N(mu_k, 0.3^2 I) with well separated
 * means mu_k = 3 * e_(k mod dim) (+ 3 e_((k+1) mod dim) for k >= dim). */
MT_UNUSED static dataset *mt_blobs(gsl_rng *r, size_t n, size_t dim, int nclass) {
    dataset *d = mt_dense(r, n, dim, nclass, 0.0);
    for (size_t i = 0; i < n; i++) {
        int k = (int)(i % (size_t)nclass);
        d->label[i] = k;
        for (size_t j = 0; j < dim; j++)
            d->x[i * dim + j] = (float)gsl_ran_gaussian(r, 0.3);
        d->x[i * dim + (size_t)k % dim] += 3.0f;
        if ((size_t)k >= dim)
            d->x[i * dim + ((size_t)k + 1) % dim] += 3.0f;
    }
    return d;
}

/* Loss (and gradient into gbuf) through loss_grad, asserting success. */
MT_UNUSED static double mt_loss(model *m, const float *theta, const dataset *d, const size_t *idx,
                                size_t B, float *gbuf) {
    double L = NAN;
    qsgd_err err = {0};
    int rc = m->type->loss_grad(m, theta, d, idx, B, &L, gbuf, &err);
    if (rc != QSGD_OK)
        fprintf(stderr, "loss_grad: %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, QSGD_OK);
    return L;
}

/* ---- double-precision reference objectives and float32 error bounds -------------------
 * Straightforward loops in double that follow the documented semantics of each model (the
 * tensor table gives the offsets): "the reference is the spec". mt_ref_loss returns the
 * minibatch-mean loss at th (double) for rows idx of a dense dataset.
 *
 * With a tape it also yields what the gradient check needs to DERIVE its tolerances from
 * float32 rounding (running error analysis; tests/test_model_grad.c states the bounds). The
 * rule used throughout: a float32 sum of n terms, in any order, blocked or not, with or
 * without FMA (any BLAS kernel), errs by at most gamma_n sum|terms|, gamma_n = n u / (1 - n u),
 * u = 2^-24 (Higham, Accuracy and Stability of Numerical Algorithms, 2nd ed., sec. 3.1); a
 * quantity that goes through nested sums of total length K errs by at most gamma_K times the
 * same expression with every term replaced by its absolute value (first order).
 *   MT_RECORD (at theta): the loss; on the tape every ReLU decision and max-pool argmax in
 *     evaluation order with its margin (distance to the kink), d loss_b / d z_bc of every
 *     sample's outputs with the sensitivity of that derivative to errors in z, and two sum
 *     lengths: F, the forward fan-ins (+ softmax) a pre-activation or the loss goes through,
 *     and K, all the sums a gradient entry goes through (F + the backward fan-outs + the
 *     batch x positions sum of a weight gradient + a few single roundings).
 *   MT_ZPASS (at |theta|, on |x|): the absolute-value forward pass: every pre-activation
 *     becomes |b| + sum |w||a| =: zabs, so |z_f32 - z| <= gamma_F zabs. A unit is propagated
 *     when alive or "near" its kink (margin <= 2 gamma_F zabs: float32 may decide it
 *     otherwise; ReLU and max are 1-Lipschitz, so the error passes on but does not grow); a
 *     pool passes the largest |.| of its window. Counts the near decisions (tape->near),
 *     records zerr_b = max_c zabs_bc and returns Lambda with |L_f32 - L| <= gamma_F Lambda.
 *   MT_ABS (at |theta| + a perturbation, on |x|, after MT_RECORD and MT_ZPASS at theta): the
 *     absolute-value network with the recorded decisions and a linear top
 *     sum_bc coef_bc z_bc / B, coef = |dl/dz| + (bound on its own error) / gamma_F. With the
 *     decisions frozen it is affine in each single parameter (quadratic in an l2-regularized
 *     one), so a central difference in theta_j gives exactly G_j, the absolute-value
 *     counterpart of dL/dtheta_j: |g_f32,j - dL/dtheta_j| <= gamma_K G_j, valid when no
 *     decision at theta is near (float32 then takes the same ReLU/pool branches). */

static const model_tensor *mt_tensor(const model *m, const char *name) {
    for (size_t t = 0; t < m->ntensors; t++)
        if (strcmp(m->tensors[t].name, name) == 0)
            return &m->tensors[t];
    return NULL;
}

#define MT_U32 (1.0 / 16777216.0)         /* unit roundoff of float32, 2^-24 */
#define MT_U64 (1.0 / 9007199254740992.0) /* unit roundoff of double, 2^-53 */
MT_UNUSED static double mt_gamma(double n, double u) {
    return n * u / (1 - n * u);
}

enum { MT_RECORD = 1, MT_ZPASS, MT_ABS };

typedef struct mt_tape {
    int mode;                /* MT_RECORD, MT_ZPASS or MT_ABS */
    size_t n, cap, pos;      /* decisions on the tape, capacity, replay cursor */
    unsigned char *dec;      /* [cap] ReLU: 1 alive, 0 dead; pool: argmax 0..3, +4 if alive */
    double *margin;          /* [cap] ReLU: |z|; pool: min(|max|, max - runner-up) */
    size_t B, kout;          /* samples, outputs per sample */
    double *dl, *dsens;      /* [B*kout] d loss_b/d z_bc; its error per unit of max_c |dz_bc| */
    double *dval;            /* [B*kout] magnitude of the terms d loss/d z is computed from */
    double *lsens;           /* [B] error of loss_b per unit of max_c |dz_bc| */
    double *lval;            /* [B] magnitude of the terms loss_b is computed from */
    double *zerr;            /* [B] ZPASS: max_c zabs_bc */
    double *coef;            /* [B*kout] ZPASS: |dl| + dsens zerr + dval */
    double kfwd, kbwd, kpos; /* RECORD: forward fan-ins, backward fan-outs, max positions */
    double K, gamma;         /* RECORD: sum length K of a gradient entry, gamma_K */
    double gamma_f;          /* RECORD: gamma_F of the forward pass (outputs, loss) */
    size_t near;             /* ZPASS: decisions within float32 error of their kink */
    int counting;            /* RECORD: reading the first sample (structure counted once) */
} mt_tape;

MT_UNUSED static void mt_tape_free(mt_tape *t) {
    free(t->dec);
    free(t->margin);
    free(t->dl);
    free(t->dsens);
    free(t->dval);
    free(t->lsens);
    free(t->lval);
    free(t->zerr);
    free(t->coef);
    memset(t, 0, sizeof *t);
}

/* Activation pattern hash: every ReLU decision and max-pool argmax of the reference pass is
 * folded in, so two points with the same hash lie (almost surely) in the same smooth piece. */
MT_UNUSED static void mt_pat(uint64_t *pat, uint64_t v) {
    if (pat)
        *pat = (*pat ^ v) * 0x100000001b3ull;
}

/* One decision with outcome `dec` (a ReLU: alive; a pool: argmax + 4 alive) at `margin`
 * from its kink: without a tape or in RECORD taken (and recorded), in ZPASS/ABS replayed.
 * *near (ZPASS) says the margin is within the float32 error 2 gamma_F abs of the values
 * compared (abs: the largest zabs among them). */
MT_UNUSED static unsigned mt_decide(mt_tape *t, unsigned dec, double margin, double abs,
                                    int *near) {
    *near = 0;
    if (!t || t->mode == MT_RECORD) {
        if (t) {
            if (t->n == t->cap) {
                t->cap = t->cap ? 2 * t->cap : 4096;
                t->dec = realloc(t->dec, t->cap);
                t->margin = realloc(t->margin, t->cap * sizeof(double));
                if (!t->dec || !t->margin)
                    abort();
            }
            t->dec[t->n] = (unsigned char)dec;
            t->margin[t->n++] = margin;
        }
        return dec;
    }
    if (t->pos >= t->n)
        abort(); /* replay of another network than the recorded one */
    *near = t->mode == MT_ZPASS && t->margin[t->pos] <= 2 * t->gamma_f * abs;
    t->near += (size_t)*near;
    return t->dec[t->pos++];
}

/* Counts an accumulation structure while RECORD reads the first sample. */
MT_UNUSED static void mt_count(mt_tape *t, double fwd, double bwd, double pos) {
    if (t && t->mode == MT_RECORD && t->counting) {
        t->kfwd += fwd;
        t->kbwd += bwd;
        t->kpos = fmax(t->kpos, pos);
    }
}

MT_UNUSED static double mt_xent(const double *z, size_t k, int y, mt_tape *t, size_t row) {
    double mx = z[0], s = 0;
    for (size_t c = 1; c < k; c++)
        mx = z[c] > mx ? z[c] : mx;
    for (size_t c = 0; c < k; c++)
        s += exp(z[c] - mx);
    if (t) { /* dl/dz_c = p_c - [c = y] with |dp_c| <= 2 p_c max|dz| */
        for (size_t c = 0; c < k; c++) {
            double p = exp(z[c] - mx) / s;
            t->dl[row * k + c] = p - (c == (size_t)y);
            t->dsens[row * k + c] = 2 * p;
            t->dval[row * k + c] = p + (c == (size_t)y);
        }
        t->lsens[row] = 2; /* log-sum-exp and z_y are each 1-Lipschitz in max|dz| */
        t->lval[row] = fabs(mx) + log(s) + fabs(z[y]);
    }
    return mx + log(s) - z[y];
}

/* out[o] = b[o] + sum_i W[o][i] in[i], ReLU if relu. */
MT_UNUSED static void mt_dense_layer(double *out, const double *in, const double *W,
                                     const double *b, size_t nin, size_t nout, int relu,
                                     uint64_t *pat, mt_tape *t) {
    for (size_t o = 0; o < nout; o++) {
        double s = b ? b[o] : 0.0;
        for (size_t i = 0; i < nin; i++)
            s += W[o * nin + i] * in[i];
        out[o] = s;
        if (relu) {
            int near;
            unsigned alive = mt_decide(t, s > 0, fabs(s), s, &near);
            mt_pat(pat, alive);
            out[o] = alive || near ? s : 0.0;
        }
    }
    /* forward: nin products + bias; backward into the input: nout terms + the mask */
    mt_count(t, (double)nin + 1, (double)nout + 1, 1);
}

/* The top of sample `row` in ZPASS/ABS for the tape's kout outputs z (`extra`: what the
 * output's rounding is relative to besides zabs, leastsq's |target|); returns what the
 * sample adds to the total. */
MT_UNUSED static double mt_top(mt_tape *t, const double *z, size_t row, double extra) {
    if (t->mode == MT_ZPASS) {
        double zr = 0;
        for (size_t c = 0; c < t->kout; c++)
            zr = fmax(zr, z[c] + extra);
        t->zerr[row] = zr;
        for (size_t c = 0; c < t->kout; c++) {
            size_t i = row * t->kout + c;
            t->coef[i] = fabs(t->dl[i]) + t->dsens[i] * zr + t->dval[i];
        }
        return t->lsens[row] * zr + t->lval[row];
    }
    double s = 0; /* MT_ABS */
    for (size_t c = 0; c < t->kout; c++)
        s += t->coef[row * t->kout + c] * z[c];
    return s;
}

/* Starts a RECORD tape for B samples of kout outputs. */
MT_UNUSED static void mt_tape_begin(mt_tape *t, size_t B, size_t kout) {
    mt_tape_free(t);
    t->mode = MT_RECORD;
    t->B = B;
    t->kout = kout;
    t->dl = calloc(B * kout, sizeof(double));
    t->dsens = calloc(B * kout, sizeof(double));
    t->dval = calloc(B * kout, sizeof(double));
    t->coef = calloc(B * kout, sizeof(double));
    t->lsens = calloc(B, sizeof(double));
    t->lval = calloc(B, sizeof(double));
    t->zerr = calloc(B, sizeof(double));
    if (!t->dl || !t->dsens || !t->dval || !t->coef || !t->lsens || !t->lval || !t->zerr)
        abort();
}

/* The loss at th (see the section comment for the tape modes; t may be NULL). */
MT_UNUSED static double mt_ref_loss_t(const model *m, const double *th, const dataset *d,
                                      const size_t *idx, size_t B, uint64_t *pat, mt_tape *t) {
    if (pat)
        *pat = 0xcbf29ce484222325ull;
    const char *name = m->type->name;
    const size_t dim = m->shape.dim;
    const int k = m->shape.nclass;
    const int absmode = t && t->mode != MT_RECORD;
    const int linear = strcmp(name, "leastsq") == 0 || strcmp(name, "logreg") == 0;
    if (t && t->mode == MT_RECORD)
        mt_tape_begin(t, B, linear ? 1 : (size_t)k);
    if (absmode) {
        t->pos = 0;
        t->near = 0;
    }
    double total = 0, reg = 0;
    double *a = malloc(4096 * sizeof(double)), *b = malloc(4096 * sizeof(double));
    double *img = malloc(65536 * sizeof(double)), *img2 = malloc(65536 * sizeof(double));
    for (size_t ii = 0; ii < B; ii++) {
        if (t)
            t->counting = ii == 0;
        const float *x = d->x + idx[ii] * dim;
        for (size_t j = 0; j < dim; j++)
            a[j] = absmode ? fabs(x[j]) : x[j];
        double zl = 0, tg = 0;  /* output of the linear models */
        const double *zo = &zl; /* the sample's outputs */
        if (strcmp(name, "leastsq") == 0) {
            for (size_t j = 0; j < dim; j++)
                zl += th[j] * a[j];
            tg = d->target[idx[ii]];
            mt_count(t, (double)dim + 2, 0, 1);
            double r = zl - tg;
            if (t && !absmode) { /* dl/dr = r; an error dr in r changes the loss by |r dr| */
                t->dl[ii] = r;
                t->dsens[ii] = 1;
                t->lsens[ii] = fabs(r);
                t->lval[ii] = 0.5 * r * r;
            }
            if (!absmode)
                total += 0.5 * r * r;
        } else if (strcmp(name, "logreg") == 0) {
            zl = th[dim];
            for (size_t j = 0; j < dim; j++)
                zl += th[j] * a[j];
            mt_count(t, (double)dim + 2, 0, 1);
            int y = d->label[idx[ii]];
            if (t && !absmode) { /* dl/dz = sigmoid(z) - y, sigmoid' <= 1/4, |dl/dz| <= 1 */
                t->dl[ii] = 1 / (1 + exp(-zl)) - y;
                t->dsens[ii] = 0.25;
                t->dval[ii] = 1;
                t->lsens[ii] = 1;
                t->lval[ii] = 1 + 2 * fabs(zl);
            }
            if (!absmode)
                total += log1p(exp(-fabs(zl))) + (zl > 0 ? zl : 0) - zl * y;
        } else if (strcmp(name, "softmax") == 0) {
            mt_dense_layer(b, a, th, th + (size_t)k * dim, dim, (size_t)k, 0, pat, t);
            zo = b;
        } else if (strcmp(name, "mlp") == 0) {
            size_t nin = dim;
            for (int l = 1;; l++) {
                char wn[32], bn[32];
                snprintf(wn, sizeof wn, "fc%d.w", l);
                snprintf(bn, sizeof bn, "fc%d.b", l);
                const model_tensor *W = mt_tensor(m, wn), *Bt = mt_tensor(m, bn);
                if (!W)
                    break;
                int last = mt_tensor(m, (snprintf(wn, sizeof wn, "fc%d.w", l + 1), wn)) == NULL;
                mt_dense_layer(b, a, th + W->offset, th + Bt->offset, nin, W->shape[0], !last, pat,
                               t);
                nin = W->shape[0];
                memcpy(a, b, nin * sizeof(double));
            }
            zo = a;
        } else if (strcmp(name, "cnn") == 0) {
            size_t C = m->shape.channels, H = m->shape.height, Wd = m->shape.width;
            for (size_t j = 0; j < dim; j++)
                img[j] = a[j]; /* CHW */
            for (int l = 1;; l++) {
                char wn[32], bn[32];
                snprintf(wn, sizeof wn, "conv%d.w", l);
                snprintf(bn, sizeof bn, "conv%d.b", l);
                const model_tensor *W = mt_tensor(m, wn), *Bt = mt_tensor(m, bn);
                if (!W)
                    break;
                size_t O = W->shape[0];
                const double *w = th + W->offset, *bias = th + Bt->offset;
                for (size_t o = 0; o < O; o++)
                    for (size_t y = 0; y < H; y++)
                        for (size_t xx = 0; xx < Wd; xx++) {
                            double s = bias[o];
                            for (size_t c = 0; c < C; c++)
                                for (int ky = 0; ky < 3; ky++)
                                    for (int kx = 0; kx < 3; kx++) {
                                        long yy = (long)y + ky - 1, xq = (long)xx + kx - 1;
                                        if (yy < 0 || xq < 0 || yy >= (long)H || xq >= (long)Wd)
                                            continue;
                                        s += w[((o * C + c) * 3 + (size_t)ky) * 3 + (size_t)kx] *
                                             img[(c * H + (size_t)yy) * Wd + (size_t)xq];
                                    }
                            img2[(o * H + y) * Wd + xx] = s; /* ReLU after the pool */
                        }
                /* forward 9C products + bias; backward 9 O terms into the input; the weight
                 * gradient sums over every position of every sample */
                mt_count(t, 9.0 * (double)C + 1, 9.0 * (double)O + 1, (double)(H * Wd));
                size_t OH = H / 2, OW = Wd / 2;
                for (size_t o = 0; o < O; o++)
                    for (size_t y = 0; y < OH; y++)
                        for (size_t xx = 0; xx < OW; xx++) {
                            double mx = -INFINITY, second = -INFINITY, wabs = 0, v4[4];
                            int am = 0;
                            for (int i = 0; i < 2; i++)
                                for (int j = 0; j < 2; j++) {
                                    double v =
                                        img2[(o * H + 2 * y + (size_t)i) * Wd + 2 * xx + (size_t)j];
                                    v4[2 * i + j] = v;
                                    wabs = fmax(wabs, fabs(v));
                                    if (v > mx) {
                                        second = mx;
                                        mx = v;
                                        am = 2 * i + j;
                                    } else if (v > second) {
                                        second = v;
                                    }
                                }
                            /* pool(relu(z)) = relu(pool(z)); the argmax matters only for a
                             * live output, so a dead one's margin is its distance to 0 */
                            double margin = mx > 0 ? fmin(mx, mx - second) : -mx;
                            int near;
                            unsigned dec = mt_decide(t, (unsigned)am + (mx > 0 ? 4u : 0u), margin,
                                                     wabs, &near);
                            mt_pat(pat, dec & 4 ? (uint64_t)(dec & 3) + 2 : 1);
                            double out = 0;
                            if (t && t->mode == MT_ZPASS)
                                out = (dec & 4) || near ? wabs : 0; /* any element may win */
                            else if (dec & 4)
                                out = v4[dec & 3];
                            img[(o * OH + y) * OW + xx] = out;
                        }
                C = O;
                H = OH;
                Wd = OW;
            }
            size_t feat = C * H * Wd; /* flatten in HWC order: (y*W + x)*C + c */
            for (size_t c = 0; c < C; c++)
                for (size_t p = 0; p < H * Wd; p++)
                    a[p * C + c] = img[c * H * Wd + p];
            const model_tensor *F = mt_tensor(m, "fc1.w"), *Fb = mt_tensor(m, "fc1.b");
            size_t nin = feat;
            if (F) {
                mt_dense_layer(b, a, th + F->offset, th + Fb->offset, feat, F->shape[0], 1, pat, t);
                nin = F->shape[0];
                memcpy(a, b, nin * sizeof(double));
            }
            const model_tensor *Ow = mt_tensor(m, "out.w"), *Ob = mt_tensor(m, "out.b");
            mt_dense_layer(b, a, th + Ow->offset, th + Ob->offset, nin, (size_t)k, 0, pat, t);
            zo = b;
        }
        if (absmode)
            total += mt_top(t, zo, ii, fabs(tg));
        else if (!linear)
            total += mt_xent(zo, (size_t)k, d->label[idx[ii]], t, ii);
    }
    if (m->params.l2 > 0 && strcmp(name, "mlp") != 0 && strcmp(name, "cnn") != 0) {
        size_t nw = strcmp(name, "softmax") == 0 ? (size_t)k * dim : dim;
        for (size_t j = 0; j < nw; j++)
            reg += th[j] * th[j];
        reg *= 0.5 * m->params.l2;
    }
    if (t && t->mode == MT_RECORD) {
        /* the batch x positions sum of a weight gradient, the softmax and its 1/B scale, the
         * l2 term (lambda rounded to float), the update of a few ulp each */
        t->K = t->kfwd + t->kbwd + (double)B * t->kpos + 2.0 * (double)t->kout + 16;
        t->gamma = mt_gamma(t->K, MT_U32);
        t->gamma_f = mt_gamma(t->kfwd + 2.0 * (double)t->kout + 16, MT_U32);
    }
    free(a);
    free(b);
    free(img);
    free(img2);
    /* ZPASS: Lambda = the loss terms' error scale + the regularizer (its own rounding) */
    return total / (double)B + reg;
}

MT_UNUSED static double mt_ref_loss(const model *m, const double *th, const dataset *d,
                                    const size_t *idx, size_t B, uint64_t *pat) {
    return mt_ref_loss_t(m, th, d, idx, B, pat, NULL);
}

/* ---- runner --------------------------------------------------------------------------- */
typedef struct mt_test {
    const char *name;
    void (*fn)(void);
} mt_test;

MT_UNUSED static int mt_run(const char *suite, const mt_test *tests) {
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 2;
    CU_pSuite s = CU_add_suite(suite, NULL, NULL);
    if (!s) {
        CU_cleanup_registry();
        return 2;
    }
    for (const mt_test *t = tests; t->name; t++)
        if (!CU_add_test(s, t->name, t->fn)) {
            CU_cleanup_registry();
            return 2;
        }
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned fails = CU_get_number_of_failures();
    unsigned failed_tests = CU_get_run_summary()->nTestsFailed;
    CU_cleanup_registry();
    return (fails || failed_tests) ? 1 : 0;
}

#endif
