/* model_mlp.c — fully connected ReLU network with softmax cross-entropy on dense rows:
 * dim -> hidden[0] -> ... -> hidden[n-1] -> nclass (option hidden=256x128, the default).
 * Tensors fc1.w {out,in}, fc1.b {out}, ..., fc<n+1>.w, fc<n+1>.b. Every matrix product is
 * one OpenBLAS sgemm over the whole minibatch; bias + ReLU are fused into one pass.
 * Init: He normal (std sqrt(2/in)) for the ReLU layers, LeCun normal (std sqrt(1/in)) for
 * the linear output layer, zero biases, from a GSL mt19937 seeded with the seed. */
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn_ops.h"
#include "qsgd_opt.h"

#define MLP_MAX_LAYERS 9

typedef struct mlp {
    int nl;                           /* linear layers = nhidden + 1 */
    size_t width[MLP_MAX_LAYERS + 1]; /* width[0] = dim, width[nl] = nclass */
    size_t woff[MLP_MAX_LAYERS], boff[MLP_MAX_LAYERS];
    float *xb;                   /* [max_batch][dim] gathered input rows */
    float *act[MLP_MAX_LAYERS];  /* [max_batch][width[l+1]] layer outputs (post-ReLU;
                                    the last is the logits, then d loss/d logits) */
    float *dact[MLP_MAX_LAYERS]; /* [max_batch][width[l+1]] gradients, l < nl-1 */
    int32_t *lab;                /* [max_batch] */
    size_t *idx;                 /* [max_batch] */
    const float *x;              /* input rows of the last forward */
} mlp;

static int mlp_init(model *m, const data_shape *shape, size_t max_batch, qsgd_err *err) {
    model_params *p = &m->params;
    if (p->nhidden == 0) {
        model_params def;
        model_params_default(&def);
        memcpy(p->hidden, def.hidden, sizeof p->hidden);
        p->nhidden = def.nhidden;
    }
    if (shape->nclass < 2)
        return QSGD_FAIL(err, QSGD_EINVAL,
                         "model mlp needs class labels (nclass >= 2), data has nclass=%d",
                         shape->nclass);
    if (p->nhidden < 0 || p->nhidden > 8)
        return QSGD_FAIL(err, QSGD_EINVAL, "model mlp: %d hidden layers, at most 8", p->nhidden);
    mlp *s = calloc(1, sizeof *s);
    if (!s)
        return QSGD_FAIL(err, QSGD_ENOMEM, "model mlp: out of memory");
    m->impl = s;
    s->nl = p->nhidden + 1;
    s->width[0] = shape->dim;
    for (int l = 0; l < p->nhidden; l++) {
        if (p->hidden[l] == 0)
            return QSGD_FAIL(err, QSGD_EINVAL, "model mlp: hidden layer %d has width 0", l + 1);
        s->width[l + 1] = p->hidden[l];
    }
    s->width[s->nl] = (size_t)shape->nclass;
    int rc = nn_tensors_begin(m, 2 * (size_t)s->nl, err);
    if (rc)
        return rc;
    for (int l = 0; l < s->nl; l++) {
        char name[32];
        snprintf(name, sizeof name, "fc%d.w", l + 1);
        s->woff[l] = nn_tensor_add(m, name, 2, s->width[l + 1], s->width[l], 0, 0);
        snprintf(name, sizeof name, "fc%d.b", l + 1);
        s->boff[l] = nn_tensor_add(m, name, 1, s->width[l + 1], 0, 0, 0);
    }
    s->xb = nn_falloc(max_batch * shape->dim);
    s->lab = nn_alloc(max_batch * sizeof *s->lab);
    s->idx = nn_alloc(max_batch * sizeof *s->idx);
    if (!s->xb || !s->lab || !s->idx)
        goto oom;
    for (int l = 0; l < s->nl; l++) {
        s->act[l] = nn_falloc(max_batch * s->width[l + 1]);
        if (!s->act[l])
            goto oom;
        if (l < s->nl - 1 && !(s->dact[l] = nn_falloc(max_batch * s->width[l + 1])))
            goto oom;
    }
    return QSGD_OK;
oom:
    return QSGD_FAIL(err, QSGD_ENOMEM, "model mlp: out of memory for batch %zu workspaces",
                     max_batch);
}

static void mlp_fini(model *m) {
    mlp *s = m->impl;
    if (!s)
        return;
    free(s->xb);
    free(s->lab);
    free(s->idx);
    for (int l = 0; l < MLP_MAX_LAYERS; l++) {
        free(s->act[l]);
        free(s->dact[l]);
    }
    free(s);
    m->impl = NULL;
}

static void mlp_init_params(const model *m, float *theta, uint64_t seed) {
    const mlp *s = m->impl;
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    if (!r) {
        fprintf(stderr, "%s:%d: model mlp: cannot allocate the GSL rng\n", __FILE__, __LINE__);
        abort();
    }
    gsl_rng_set(r, (unsigned long)seed);
    for (int l = 0; l < s->nl; l++) {
        size_t in = s->width[l], out = s->width[l + 1];
        double sd = l < s->nl - 1 ? sqrt(2.0 / (double)in) : sqrt(1.0 / (double)in);
        float *w = theta + s->woff[l];
        for (size_t i = 0; i < in * out; i++)
            w[i] = (float)gsl_ran_gaussian_ziggurat(r, sd);
        memset(theta + s->boff[l], 0, out * sizeof(float));
    }
    gsl_rng_free(r);
}

/* Logits of rows idx into s->act[nl-1]. */
static void mlp_forward(mlp *s, const float *theta, const dataset *d, const size_t *idx, size_t B) {
    s->x = nn_rows(d->x, s->width[0], idx, B, s->xb);
    const float *in = s->x;
    for (int l = 0; l < s->nl; l++) {
        nn_linear_forward(s->act[l], in, theta + s->woff[l], theta + s->boff[l], B, s->width[l],
                          s->width[l + 1], l < s->nl - 1);
        in = s->act[l];
    }
}

/* s->act[nl-1] holds d loss / d logits; writes grad. */
static void mlp_backward(mlp *s, const float *theta, float *grad, size_t B) {
    const float *dy = s->act[s->nl - 1];
    for (int l = s->nl - 1; l >= 0; l--) {
        const float *in = l > 0 ? s->act[l - 1] : s->x;
        float *dx = l > 0 ? s->dact[l - 1] : NULL;
        nn_linear_backward(grad + s->woff[l], grad + s->boff[l], dx, dy, in, theta + s->woff[l], B,
                           s->width[l], s->width[l + 1]);
        if (dx) {
            nn_relu_backward(dx, s->act[l - 1], B * s->width[l]);
            dy = dx;
        }
    }
}

static int mlp_loss_grad(model *m, const float *theta, const dataset *d, const size_t *idx,
                         size_t batch, double *loss, float *grad, qsgd_err *err) {
    mlp *s = m->impl;
    int rc = nn_check_data(m, d, 0, err);
    if (rc)
        return rc;
    if (batch == 0 || batch > m->max_batch)
        return QSGD_FAIL(err, QSGD_EINVAL, "model mlp: batch %zu not in [1, %zu]", batch,
                         m->max_batch);
    if ((rc = nn_gather_labels(s->lab, d, idx, batch, m->shape.nclass, err)))
        return rc;
    mlp_forward(s, theta, d, idx, batch);
    float *z = s->act[s->nl - 1];
    double sum = nn_softmax_xent(z, z, s->lab, batch, s->width[s->nl], 1.0f / (float)batch, NULL);
    mlp_backward(s, theta, grad, batch);
    *loss = sum / (double)batch;
    return QSGD_OK;
}

static int mlp_evaluate(model *m, const float *theta, const dataset *d, double *loss,
                        double *accuracy, qsgd_err *err) {
    mlp *s = m->impl;
    int rc = nn_check_data(m, d, 0, err);
    if (rc)
        return rc;
    double sum = 0.0;
    size_t correct = 0;
    for (size_t start = 0; start < d->n; start += m->max_batch) {
        size_t B = d->n - start < m->max_batch ? d->n - start : m->max_batch;
        nn_iota(s->idx, start, B);
        if ((rc = nn_gather_labels(s->lab, d, s->idx, B, m->shape.nclass, err)))
            return rc;
        mlp_forward(s, theta, d, s->idx, B);
        sum += nn_softmax_xent(NULL, s->act[s->nl - 1], s->lab, B, s->width[s->nl], 0.0f, &correct);
    }
    *loss = d->n ? sum / (double)d->n : 0.0;
    if (accuracy)
        *accuracy = d->n ? (double)correct / (double)d->n : NAN;
    return QSGD_OK;
}

/* FLOPs per sample, counted exactly as the kernels do them. For layer l (in -> out), with
 * G = 2*in*out the flops of its matrix product:
 *   forward  G + out (bias) + out (ReLU, hidden layers only)
 *   backward G (weight gradient) + G (input gradient, not for the first layer)
 *            + out (bias gradient) + out (ReLU mask, hidden layers only)
 * plus 6*nclass for softmax cross-entropy and its gradient. 784-256-128-10: 1,008,720. */
static double mlp_flops(const model *m) {
    const mlp *s = m->impl;
    double f = 6.0 * (double)s->width[s->nl];
    for (int l = 0; l < s->nl; l++) {
        double in = (double)s->width[l], out = (double)s->width[l + 1], g = 2.0 * in * out;
        f += 2.0 * g + (l > 0 ? g : 0.0) + 2.0 * out + (l < s->nl - 1 ? 2.0 * out : 0.0);
    }
    return f;
}

static const qsgd_opt mlp_opts[] = {
    {.name = "hidden",
     .kind = QSGD_OPT_SIZES,
     .offset = offsetof(model_params, hidden),
     .count_offset = offsetof(model_params, nhidden),
     .len = sizeof(((model_params *)0)->hidden) / sizeof(size_t),
     .min = 1,
     .max = 1u << 24,
     .def = "256x128",
     .help = "hidden layer widths, 1 to 8 layers"},
    {.name = NULL},
};

const model_type model_type_mlp = {
    .name = "mlp",
    .summary = "fully connected ReLU net, softmax cross-entropy; dense data",
    .init = mlp_init,
    .fini = mlp_fini,
    .init_params = mlp_init_params,
    .loss_grad = mlp_loss_grad,
    .evaluate = mlp_evaluate,
    .flops_per_sample = mlp_flops,
    .opts = mlp_opts,
    .cuda = MODEL_CUDA_MLP,
};
