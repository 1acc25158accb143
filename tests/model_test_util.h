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
    model_err err = {0};
    int rc = m->type->loss_grad(m, theta, d, idx, B, &L, gbuf, &err);
    if (rc != MODEL_OK)
        fprintf(stderr, "loss_grad: %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, MODEL_OK);
    return L;
}

/* ---- double-precision reference objectives ------------------------------------------
 * Straightforward loops in double that follow the documented semantics of each model (the
 * tensor table gives the offsets): "the reference is the spec". mt_ref_loss returns the
 * minibatch-mean loss at theta (double) for rows idx of a dense dataset. */

static const model_tensor *mt_tensor(const model *m, const char *name) {
    for (size_t t = 0; t < m->ntensors; t++)
        if (strcmp(m->tensors[t].name, name) == 0)
            return &m->tensors[t];
    return NULL;
}

/* Activation pattern hash: every ReLU decision and max-pool argmax of the reference pass is
 * folded in, so two points with the same hash lie (almost surely) in the same smooth piece. */
MT_UNUSED static void mt_pat(uint64_t *pat, uint64_t v) {
    if (pat)
        *pat = (*pat ^ v) * 0x100000001b3ull;
}

MT_UNUSED static double mt_xent(const double *z, size_t k, int y) {
    double mx = z[0], s = 0;
    for (size_t c = 1; c < k; c++)
        mx = z[c] > mx ? z[c] : mx;
    for (size_t c = 0; c < k; c++)
        s += exp(z[c] - mx);
    return mx + log(s) - z[y];
}

/* out[o] = b[o] + sum_i W[o][i] in[i], ReLU if relu. */
MT_UNUSED static void mt_dense_layer(double *out, const double *in, const double *W,
                                     const double *b, size_t nin, size_t nout, int relu,
                                     uint64_t *pat) {
    for (size_t o = 0; o < nout; o++) {
        double s = b ? b[o] : 0.0;
        for (size_t i = 0; i < nin; i++)
            s += W[o * nin + i] * in[i];
        if (relu)
            mt_pat(pat, s > 0);
        out[o] = relu && s < 0 ? 0.0 : s;
    }
}

MT_UNUSED static double mt_ref_loss(const model *m, const double *th, const dataset *d,
                                    const size_t *idx, size_t B, uint64_t *pat) {
    if (pat)
        *pat = 0xcbf29ce484222325ull;
    const char *name = m->type->name;
    const size_t dim = m->shape.dim;
    const int k = m->shape.nclass;
    double total = 0, reg = 0;
    double *a = malloc(4096 * sizeof(double)), *b = malloc(4096 * sizeof(double));
    double *img = malloc(65536 * sizeof(double)), *img2 = malloc(65536 * sizeof(double));
    for (size_t ii = 0; ii < B; ii++) {
        const float *x = d->x + idx[ii] * dim;
        for (size_t j = 0; j < dim; j++)
            a[j] = x[j];
        if (strcmp(name, "leastsq") == 0) {
            double z = 0;
            for (size_t j = 0; j < dim; j++)
                z += th[j] * a[j];
            double r = z - d->target[idx[ii]];
            total += 0.5 * r * r;
        } else if (strcmp(name, "logreg") == 0) {
            double z = th[dim];
            for (size_t j = 0; j < dim; j++)
                z += th[j] * a[j];
            total += log1p(exp(-fabs(z))) + (z > 0 ? z : 0) - z * d->label[idx[ii]];
        } else if (strcmp(name, "softmax") == 0) {
            mt_dense_layer(b, a, th, th + (size_t)k * dim, dim, (size_t)k, 0, pat);
            total += mt_xent(b, (size_t)k, d->label[idx[ii]]);
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
                mt_dense_layer(b, a, th + W->offset, th + Bt->offset, nin, W->shape[0], !last, pat);
                nin = W->shape[0];
                memcpy(a, b, nin * sizeof(double));
            }
            total += mt_xent(a, (size_t)k, d->label[idx[ii]]);
        } else if (strcmp(name, "cnn") == 0) {
            size_t C = m->shape.channels, H = m->shape.height, Wd = m->shape.width;
            for (size_t j = 0; j < dim; j++)
                img[j] = x[j]; /* CHW */
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
                size_t OH = H / 2, OW = Wd / 2;
                for (size_t o = 0; o < O; o++)
                    for (size_t y = 0; y < OH; y++)
                        for (size_t xx = 0; xx < OW; xx++) {
                            double mx = -INFINITY;
                            int am = 0;
                            for (int i = 0; i < 2; i++)
                                for (int j = 0; j < 2; j++) {
                                    double v =
                                        img2[(o * H + 2 * y + (size_t)i) * Wd + 2 * xx + (size_t)j];
                                    if (v > mx) {
                                        mx = v;
                                        am = 2 * i + j;
                                    }
                                }
                            /* pool(relu(z)) = relu(pool(z)); only the argmax of a live
                             * output matters */
                            mt_pat(pat, mx > 0 ? (uint64_t)am + 2 : 1);
                            img[(o * OH + y) * OW + xx] = mx > 0 ? mx : 0;
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
                mt_dense_layer(b, a, th + F->offset, th + Fb->offset, feat, F->shape[0], 1, pat);
                nin = F->shape[0];
                memcpy(a, b, nin * sizeof(double));
            }
            const model_tensor *Ow = mt_tensor(m, "out.w"), *Ob = mt_tensor(m, "out.b");
            mt_dense_layer(b, a, th + Ow->offset, th + Ob->offset, nin, (size_t)k, 0, pat);
            total += mt_xent(b, (size_t)k, d->label[idx[ii]]);
        }
    }
    if (m->params.l2 > 0 && strcmp(name, "mlp") != 0 && strcmp(name, "cnn") != 0) {
        size_t nw = strcmp(name, "softmax") == 0 ? (size_t)k * dim : dim;
        for (size_t j = 0; j < nw; j++)
            reg += th[j] * th[j];
        reg *= 0.5 * m->params.l2;
    }
    free(a);
    free(b);
    free(img);
    free(img2);
    return total / (double)B + reg;
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
