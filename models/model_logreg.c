/* model_logreg.c — binary logistic regression on dense or CSR rows, labels in {0,1}
 * (nclass == 2): loss mean_i [log(1 + e^{z_i}) - y_i z_i] + l2/2 ||w||^2, z_i = a_i.w + b.
 * Tensors "w" {dim} and "b" {1} (the bias is not regularized); zero init. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn_ops.h"
#include "qsgd_opt.h"

typedef struct logreg {
    nn_glm g;
} logreg;

static int lr_init(model *m, const data_shape *shape, size_t max_batch, qsgd_err *err) {
    if (shape->nclass != 2)
        return QSGD_FAIL(err, QSGD_EINVAL,
                         "model logreg needs binary labels {0,1} (nclass 2), data has nclass=%d",
                         shape->nclass);
    logreg *s = calloc(1, sizeof *s);
    if (!s)
        return QSGD_FAIL(err, QSGD_ENOMEM, "model logreg: out of memory");
    m->impl = s;
    int rc = nn_tensors_begin(m, 2, err);
    if (rc)
        return rc;
    nn_tensor_add(m, "w", 1, shape->dim, 0, 0, 0);
    nn_tensor_add(m, "b", 1, 1, 0, 0, 0);
    return nn_glm_init(&s->g, shape->dim, 1, max_batch, err);
}

static void lr_fini(model *m) {
    logreg *s = m->impl;
    if (s)
        nn_glm_fini(&s->g);
    free(s);
    m->impl = NULL;
}

static void lr_init_params(const model *m, float *theta, uint64_t seed) {
    (void)seed; /* convex: start at the origin */
    memset(theta, 0, m->nparams * sizeof(float));
}

/* Sum of softplus(z) - y z (stable form); counts (z > 0) == y; z becomes
 * scale * (sigmoid(z) - y) when scale != 0. */
static double lr_link(float *z, const int32_t *y, size_t B, float scale, size_t *correct) {
    double sum = 0.0;
    size_t ok = 0;
    for (size_t i = 0; i < B; i++) {
        double zi = z[i], e = exp(-fabs(zi));
        sum += (zi > 0 ? zi : 0.0) - zi * y[i] + log1p(e);
        ok += (zi > 0) == (y[i] == 1);
        double p = zi >= 0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
        z[i] = scale * (float)(p - y[i]);
    }
    if (correct)
        *correct += ok;
    return sum;
}

static int lr_loss_grad(model *m, const float *theta, const dataset *d, const size_t *idx,
                        size_t batch, double *loss, float *grad, qsgd_err *err) {
    logreg *s = m->impl;
    const size_t dim = m->shape.dim;
    int rc = nn_check_data(m, d, 1, err);
    if (rc)
        return rc;
    if (batch == 0 || batch > m->max_batch)
        return QSGD_FAIL(err, QSGD_EINVAL, "model logreg: batch %zu not in [1, %zu]", batch,
                         m->max_batch);
    if ((rc = nn_gather_labels(s->g.lab, d, idx, batch, 2, err)))
        return rc;
    nn_glm_forward(&s->g, theta, theta + dim, d, idx, batch);
    double sum = lr_link(s->g.z, s->g.lab, batch, 1.0f / (float)batch, NULL);
    nn_glm_backward(&s->g, grad, grad + dim, d, idx, batch);
    double l2 = m->params.l2, reg = 0.0;
    if (l2 > 0) {
        reg = 0.5 * l2 * nn_sumsq(theta, dim);
        for (size_t j = 0; j < dim; j++)
            grad[j] += (float)l2 * theta[j];
    }
    *loss = sum / (double)batch + reg;
    return QSGD_OK;
}

static int lr_evaluate(model *m, const float *theta, const dataset *d, double *loss,
                       double *accuracy, qsgd_err *err) {
    logreg *s = m->impl;
    const size_t dim = m->shape.dim;
    int rc = nn_check_data(m, d, 1, err);
    if (rc)
        return rc;
    double sum = 0.0;
    size_t correct = 0;
    for (size_t start = 0; start < d->n; start += m->max_batch) {
        size_t B = d->n - start < m->max_batch ? d->n - start : m->max_batch;
        nn_iota(s->g.idx, start, B);
        if ((rc = nn_gather_labels(s->g.lab, d, s->g.idx, B, 2, err)))
            return rc;
        nn_glm_forward(&s->g, theta, theta + dim, d, s->g.idx, B);
        sum += lr_link(s->g.z, s->g.lab, B, 0.0f, &correct);
    }
    double reg = m->params.l2 > 0 ? 0.5 * m->params.l2 * nn_sumsq(theta, dim) : 0.0;
    *loss = (d->n ? sum / (double)d->n : 0.0) + reg;
    if (accuracy)
        *accuracy = d->n ? (double)correct / (double)d->n : NAN;
    return QSGD_OK;
}

/* Forward 2*dim + 1 (score) + ~6 (softplus); backward ~3 (sigmoid, residual) + 2*dim
 * (weight gradient) + 1 (bias); dense-equivalent (CSR: ~4*nnz per row). */
static double lr_flops(const model *m) {
    return 4.0 * (double)m->shape.dim + 11.0;
}

static const qsgd_opt logreg_opts[] = {
    {.name = "l2",
     .kind = QSGD_OPT_DOUBLE,
     .offset = offsetof(model_params, l2),
     .dmax = DBL_MAX,
     .def = "0",
     .meta = "LAMBDA",
     .help = "L2 regularization lambda of the weights in the loss"},
    {.name = NULL},
};

const model_type model_type_logreg = {
    .name = "logreg",
    .summary = "binary logistic regression, labels {0,1}, weights + bias; dense or CSR",
    .init = lr_init,
    .fini = lr_fini,
    .init_params = lr_init_params,
    .loss_grad = lr_loss_grad,
    .evaluate = lr_evaluate,
    .flops_per_sample = lr_flops,
    .opts = logreg_opts,
    .cuda = MODEL_CUDA_LOGREG,
};
