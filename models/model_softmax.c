/* model_softmax.c — multinomial logistic regression on dense or CSR rows: logits
 * z = W a + b, mean softmax cross-entropy (log-sum-exp) + l2/2 ||W||^2. Tensors
 * "W" {nclass, dim} and "b" {nclass} (the bias is not regularized); zero init. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn_ops.h"
#include "qsgd_opt.h"

typedef struct softmax {
    nn_glm g;
} softmax;

static int sm_init(model *m, const data_shape *shape, size_t max_batch, qsgd_err *err) {
    if (shape->nclass < 2)
        return QSGD_FAIL(err, QSGD_EINVAL,
                         "model softmax needs class labels (nclass >= 2), data has nclass=%d",
                         shape->nclass);
    softmax *s = calloc(1, sizeof *s);
    if (!s)
        return QSGD_FAIL(err, QSGD_ENOMEM, "model softmax: out of memory");
    m->impl = s;
    size_t k = (size_t)shape->nclass;
    int rc = nn_tensors_begin(m, 2, err);
    if (rc)
        return rc;
    nn_tensor_add(m, "W", 2, k, shape->dim, 0, 0);
    nn_tensor_add(m, "b", 1, k, 0, 0, 0);
    return nn_glm_init(&s->g, shape->dim, k, max_batch, err);
}

static void sm_fini(model *m) {
    softmax *s = m->impl;
    if (s)
        nn_glm_fini(&s->g);
    free(s);
    m->impl = NULL;
}

static void sm_init_params(const model *m, float *theta, uint64_t seed) {
    (void)seed; /* convex: start at the origin */
    memset(theta, 0, m->nparams * sizeof(float));
}

static int sm_loss_grad(model *m, const float *theta, const dataset *d, const size_t *idx,
                        size_t batch, double *loss, float *grad, qsgd_err *err) {
    softmax *s = m->impl;
    const size_t nw = (size_t)m->shape.nclass * m->shape.dim;
    int rc = nn_check_data(m, d, 1, err);
    if (rc)
        return rc;
    if (batch == 0 || batch > m->max_batch)
        return QSGD_FAIL(err, QSGD_EINVAL, "model softmax: batch %zu not in [1, %zu]", batch,
                         m->max_batch);
    if ((rc = nn_gather_labels(s->g.lab, d, idx, batch, m->shape.nclass, err)))
        return rc;
    nn_glm_forward(&s->g, theta, theta + nw, d, idx, batch);
    double sum =
        nn_softmax_xent(s->g.z, s->g.z, s->g.lab, batch, s->g.out, 1.0f / (float)batch, NULL);
    nn_glm_backward(&s->g, grad, grad + nw, d, idx, batch);
    double l2 = m->params.l2, reg = 0.0;
    if (l2 > 0) {
        reg = 0.5 * l2 * nn_sumsq(theta, nw);
        for (size_t j = 0; j < nw; j++)
            grad[j] += (float)l2 * theta[j];
    }
    *loss = sum / (double)batch + reg;
    return QSGD_OK;
}

static int sm_evaluate(model *m, const float *theta, const dataset *d, double *loss,
                       double *accuracy, qsgd_err *err) {
    softmax *s = m->impl;
    const size_t nw = (size_t)m->shape.nclass * m->shape.dim;
    int rc = nn_check_data(m, d, 1, err);
    if (rc)
        return rc;
    double sum = 0.0;
    size_t correct = 0;
    for (size_t start = 0; start < d->n; start += m->max_batch) {
        size_t B = d->n - start < m->max_batch ? d->n - start : m->max_batch;
        nn_iota(s->g.idx, start, B);
        if ((rc = nn_gather_labels(s->g.lab, d, s->g.idx, B, m->shape.nclass, err)))
            return rc;
        nn_glm_forward(&s->g, theta, theta + nw, d, s->g.idx, B);
        sum += nn_softmax_xent(NULL, s->g.z, s->g.lab, B, s->g.out, 0.0f, &correct);
    }
    double reg = m->params.l2 > 0 ? 0.5 * m->params.l2 * nn_sumsq(theta, nw) : 0.0;
    *loss = (d->n ? sum / (double)d->n : 0.0) + reg;
    if (accuracy)
        *accuracy = d->n ? (double)correct / (double)d->n : NAN;
    return QSGD_OK;
}

/* Forward 2*dim*k (logits) + k (bias) + 5k (softmax: max, sub, exp, sum, log/scale);
 * backward 2*dim*k (weight gradient) + k (bias gradient); dense-equivalent. */
static double sm_flops(const model *m) {
    double k = m->shape.nclass, dim = m->shape.dim;
    return 4.0 * dim * k + 7.0 * k;
}

static const qsgd_opt softmax_opts[] = {
    {.name = "l2",
     .kind = QSGD_OPT_DOUBLE,
     .offset = offsetof(model_params, l2),
     .dmax = DBL_MAX,
     .def = "0",
     .meta = "LAMBDA",
     .help = "L2 regularization lambda of W in the loss"},
    {.name = NULL},
};

const model_type model_type_softmax = {
    .name = "softmax",
    .summary = "multinomial logistic regression W {nclass,dim} + b; dense or CSR",
    .init = sm_init,
    .fini = sm_fini,
    .init_params = sm_init_params,
    .loss_grad = sm_loss_grad,
    .evaluate = sm_evaluate,
    .flops_per_sample = sm_flops,
    .opts = softmax_opts,
    .cuda = MODEL_CUDA_SOFTMAX,
};
