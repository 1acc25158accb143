/* model_leastsq.c — least squares f(x) = 1/(2m) sum_i (a_i.x - y_i)^2 + l2/2 ||x||^2 on dense
 * or CSR rows with real-valued targets (nclass == 0). One tensor "w" {dim}, zero init.
 * Dense scores use OpenBLAS gemv on the (gathered) rows; CSR rows accumulate in double. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn_ops.h"
#include "qsgd_opt.h"

typedef struct lsq {
    nn_glm g;
} lsq;

static int lsq_init(model *m, const data_shape *shape, size_t max_batch, qsgd_err *err) {
    if (shape->nclass != 0)
        return QSGD_FAIL(err, QSGD_EINVAL,
                         "model leastsq needs regression targets (nclass 0), data has nclass=%d",
                         shape->nclass);
    lsq *s = calloc(1, sizeof *s);
    if (!s)
        return QSGD_FAIL(err, QSGD_ENOMEM, "model leastsq: out of memory");
    m->impl = s;
    int rc = nn_tensors_begin(m, 1, err);
    if (rc)
        return rc;
    nn_tensor_add(m, "w", 1, shape->dim, 0, 0, 0);
    return nn_glm_init(&s->g, shape->dim, 1, max_batch, err);
}

static void lsq_fini(model *m) {
    lsq *s = m->impl;
    if (s)
        nn_glm_fini(&s->g);
    free(s);
    m->impl = NULL;
}

static void lsq_init_params(const model *m, float *theta, uint64_t seed) {
    (void)seed; /* convex: start at the origin */
    memset(theta, 0, m->nparams * sizeof(float));
}

/* Sum of 0.5 (z_i - y_i)^2; z becomes scale * (z - y). */
static double lsq_link(float *z, const float *y, size_t B, float scale) {
    double sum = 0.0;
    for (size_t i = 0; i < B; i++) {
        double r = (double)z[i] - y[i];
        sum += 0.5 * r * r;
        z[i] = scale * (float)r;
    }
    return sum;
}

static int lsq_loss_grad(model *m, const float *theta, const dataset *d, const size_t *idx,
                         size_t batch, double *loss, float *grad, qsgd_err *err) {
    lsq *s = m->impl;
    int rc = nn_check_data(m, d, 1, err);
    if (rc)
        return rc;
    if (batch == 0 || batch > m->max_batch)
        return QSGD_FAIL(err, QSGD_EINVAL, "model leastsq: batch %zu not in [1, %zu]", batch,
                         m->max_batch);
    for (size_t i = 0; i < batch; i++)
        s->g.tgt[i] = d->target[idx[i]];
    nn_glm_forward(&s->g, theta, NULL, d, idx, batch);
    double sum = lsq_link(s->g.z, s->g.tgt, batch, 1.0f / (float)batch);
    nn_glm_backward(&s->g, grad, NULL, d, idx, batch);
    double l2 = m->params.l2, reg = 0.0;
    if (l2 > 0) {
        reg = 0.5 * l2 * nn_sumsq(theta, m->nparams);
        for (size_t j = 0; j < m->nparams; j++)
            grad[j] += (float)l2 * theta[j];
    }
    *loss = sum / (double)batch + reg;
    return QSGD_OK;
}

static int lsq_evaluate(model *m, const float *theta, const dataset *d, double *loss,
                        double *accuracy, qsgd_err *err) {
    lsq *s = m->impl;
    int rc = nn_check_data(m, d, 1, err);
    if (rc)
        return rc;
    double sum = 0.0;
    for (size_t start = 0; start < d->n; start += m->max_batch) {
        size_t B = d->n - start < m->max_batch ? d->n - start : m->max_batch;
        nn_iota(s->g.idx, start, B);
        for (size_t i = 0; i < B; i++)
            s->g.tgt[i] = d->target[start + i];
        nn_glm_forward(&s->g, theta, NULL, d, s->g.idx, B);
        sum += lsq_link(s->g.z, s->g.tgt, B, 0.0f);
    }
    double reg = m->params.l2 > 0 ? 0.5 * m->params.l2 * nn_sumsq(theta, m->nparams) : 0.0;
    *loss = (d->n ? sum / (double)d->n : 0.0) + reg;
    if (accuracy)
        *accuracy = NAN;
    return QSGD_OK;
}

/* Forward 2*dim (dot) + 3 (residual, square, sum); backward 2*dim (axpy into the gradient)
 * + 1; dense-equivalent (for CSR data the true count is ~4*nnz per row). */
static double lsq_flops(const model *m) {
    return 4.0 * (double)m->shape.dim + 4.0;
}

static const qsgd_opt leastsq_opts[] = {
    {.name = "l2",
     .kind = QSGD_OPT_DOUBLE,
     .offset = offsetof(model_params, l2),
     .dmax = DBL_MAX,
     .def = "0",
     .meta = "LAMBDA",
     .help = "L2 regularization lambda in the loss"},
    {.name = NULL},
};

const model_type model_type_leastsq = {
    .name = "leastsq",
    .summary = "least squares 1/(2m) sum (a_i.x - y_i)^2 + l2/2 |x|^2; dense or CSR, targets",
    .init = lsq_init,
    .fini = lsq_fini,
    .init_params = lsq_init_params,
    .loss_grad = lsq_loss_grad,
    .evaluate = lsq_evaluate,
    .flops_per_sample = lsq_flops,
    .opts = leastsq_opts,
    .cuda = MODEL_CUDA_LEASTSQ,
};
